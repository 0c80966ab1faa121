/*  The project's default contract set (contracts/default) and its
    generator (contracts/src, ctl_set_structure, farfanctl contracts):
    the shipped set is the generator's output byte for byte, it loads on a
    factory without an error, its structure links P00..P09 as
    contracts/README.md says, every weight is a valid capacity or mean, a
    bad source is refused with the file, the JSON path and why, and on the
    real plan the 300 micro contracts find evidence for most questions,
    with the same counts as Python's re. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_set_structure.h"
#include "fac_contract.h"
#include "factory.pb-c.h"
#include "ff_test.h"

#define S_SOURCE FF_TEST_SOURCE_ROOT "/contracts/src"
#define S_DEFAULT FF_TEST_SOURCE_ROOT "/contracts/default"
#define S_UPSTREAM FF_TEST_SOURCE_ROOT "/../shared/farfan-upstream"
#define S_PLAN S_UPSTREAM "/plans/Plan_1.txt"
#define S_PYTHON "/usr/bin/python3"

//  ---------------------------------------------------------------------
//  Helpers

static char *
s_temp_dir (void)
{
    char *dir = strdup ("/tmp/farfan-contract-set-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    return dir;
}

//  The sorted names of dir's P??-*.json files, as one "\n"-joined string.
static char *
s_set_files (const char *path)
{
    DIR *dir = opendir (path);
    cr_assert_not_null (dir, "cannot open %s", path);
    char *names [64];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name [0] == 'P' && length > 9 && entry->d_name [3] == '-'
        &&  strcmp (entry->d_name + length - 5, ".json") == 0) {
            cr_assert_lt (count, 64);
            names [count++] = strdup (entry->d_name);
        }
    }
    closedir (dir);
    for (size_t i = 1; i < count; i++)
        for (size_t j = i; j > 0 && strcmp (names [j - 1], names [j]) > 0; j--) {
            char *swap = names [j];
            names [j] = names [j - 1];
            names [j - 1] = swap;
        }
    char *joined = (char *) calloc (1, 64 * 64);
    for (size_t i = 0; i < count; i++) {
        strcat (joined, names [i]);
        strcat (joined, "\n");
        free (names [i]);
    }
    return joined;
}

//  A copy of the default source in a scratch directory, to break.
static char *
s_copy_source (void)
{
    char *dir = s_temp_dir ();
    const char *names [] = { "structure.json", "questions.json" };
    for (size_t i = 0; i < 2; i++) {
        char from [512], to [512];
        snprintf (from, sizeof from, "%s/%s", S_SOURCE, names [i]);
        snprintf (to, sizeof to, "%s/%s", dir, names [i]);
        size_t size;
        char *data = ff_test_read_file (from, &size);
        cr_assert_not_null (data, "cannot read %s", from);
        FILE *file = fopen (to, "wb");
        cr_assert_not_null (file);
        cr_assert_eq (fwrite (data, 1, size, file), size);
        fclose (file);
        free (data);
    }
    return dir;
}

static json_t *
s_load (const char *dir, const char *name)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    json_error_t error;
    json_t *document = json_load_file (path, 0, &error);
    cr_assert_not_null (document, "%s: %s", path, error.text);
    return document;
}

static void
s_save (const char *dir, const char *name, json_t *document)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq (json_dump_file (document, path, JSON_INDENT (1)), 0);
    json_decref (document);
}

//  Generates from source (no output) and asserts it fails with a reason
//  containing every expected fragment.
static void
s_assert_refused (const char *source, const char *const *fragments, size_t count, const char *what)
{
    char err [1024] = "";
    json_t *set = NULL;
    cr_assert_neq (ctl_contracts_generate (source, NULL, &set, NULL, err, sizeof err), 0,
                   "%s: accepted", what);
    cr_assert_null (set);
    for (size_t i = 0; i < count; i++)
        cr_assert_not_null (strstr (err, fragments [i]), "%s: \"%s\" not in \"%s\"", what,
                            fragments [i], err);
}

//  The default set loaded as a factory loads it.
static fac_contract_set_t *
s_default_set (fac_load_report_t *report)
{
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    fac_load_report_init (report, 32);
    int added = fac_contract_set_load_dir (set, S_DEFAULT, report);
    cr_assert_geq (added, 0, "cannot open %s", S_DEFAULT);
    return set;
}

static const json_t *
s_params (const fac_contract_t *contract, const char *method)
{
    cr_assert_eq (contract->step_count, 1, "%s has %zu steps", contract->id, contract->step_count);
    cr_assert_str_eq (contract->steps [0].method, method, "%s", contract->id);
    return contract->steps [0].params;
}

//  ---------------------------------------------------------------------
//  The shipped set is the generator's output

FF_TEST (contract_set, shipped_set_is_the_generators_output)
{
    char *out = s_temp_dir ();
    char err [1024] = "";
    ctl_generate_report_t report;
    cr_assert_eq (ctl_contracts_generate (S_SOURCE, out, NULL, &report, err, sizeof err), 0, "%s", err);
    cr_assert_eq (report.files, 10);
    cr_assert_eq (report.contracts, 679);

    //  The same files, byte for byte: a changed source without a
    //  regenerated set (or a hand-edited set) fails here.
    char *shipped = s_set_files (S_DEFAULT);
    char *generated = s_set_files (out);
    cr_assert_str_eq (shipped, generated, "contracts/default holds other set files than the generator "
                      "writes: run farfanctl contracts generate");
    for (int phase = 0; phase < 10; phase++) {
        char a [512], b [512];
        snprintf (a, sizeof a, "%s/%s", S_DEFAULT, ctl_set_file_name (phase));
        snprintf (b, sizeof b, "%s/%s", out, ctl_set_file_name (phase));
        size_t size_a, size_b;
        char *data_a = ff_test_read_file (a, &size_a);
        char *data_b = ff_test_read_file (b, &size_b);
        cr_assert_not_null (data_a, "%s missing", a);
        cr_assert_not_null (data_b, "%s missing", b);
        cr_assert (size_a == size_b && memcmp (data_a, data_b, size_a) == 0,
                   "%s differs from the generator's output (run farfanctl contracts generate)", a);
        free (data_a);
        free (data_b);
    }
    //  Regenerating over an existing set changes nothing and leaves no
    //  temporary file behind.
    json_t *first = NULL;
    cr_assert_eq (ctl_contracts_generate (S_SOURCE, out, &first, NULL, err, sizeof err), 0, "%s", err);
    char *again = s_set_files (out);
    cr_assert_str_eq (again, generated);
    DIR *dir = opendir (out);
    struct dirent *entry;
    size_t entries = 0;
    while ((entry = readdir (dir)))
        entries += entry->d_name [0] != '.' || strstr (entry->d_name, ".tmp");
    closedir (dir);
    cr_assert_eq (entries, 10);
    json_decref (first);
    free (again);
    free (shipped);
    free (generated);
    ff_test_remove_dir (out);
    free (out);
}

//  The layout is Python's json.dumps (indent=2, sort_keys=True,
//  ensure_ascii=False) plus a newline, so any tool can regenerate or diff it.
FF_TEST_OPTS (contract_set, set_files_are_laid_out_as_python_writes_them, .timeout = 120)
{
    if (access (S_PYTHON, X_OK) != 0)
        cr_skip_test ("%s not installed: the layout is not compared", S_PYTHON);
    const char *script =
        "import json, sys\n"
        "for path in sys.argv[1:]:\n"
        "    text = open(path, encoding='utf-8').read()\n"
        "    again = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + '\\n'\n"
        "    print(path, 'same' if again == text else 'different')\n";
    char *argv [16] = { S_PYTHON, "-c", (char *) script };
    char paths [10][512];
    for (int phase = 0; phase < 10; phase++) {
        snprintf (paths [phase], sizeof paths [phase], "%s/%s", S_DEFAULT, ctl_set_file_name (phase));
        argv [3 + phase] = paths [phase];
    }
    ff_test_process_t *python = ff_test_spawn (S_PYTHON, argv, NULL);
    cr_assert_eq (ff_test_process_wait_exit (python, 100000), 0, "%s", ff_test_process_stderr (python));
    const char *output = ff_test_process_stdout (python);
    for (int phase = 0; phase < 10; phase++) {
        char line [600];
        snprintf (line, sizeof line, "%.500s same\n", paths [phase]);
        cr_assert_not_null (strstr (output, line), "%s is not laid out as Python writes it:\n%s",
                            paths [phase], output);
    }
    ff_test_process_destroy (&python);
}

//  ---------------------------------------------------------------------
//  Loading and structure

FF_TEST (contract_set, default_set_loads_without_errors)
{
    fac_load_report_t report;
    fac_contract_set_t *set = s_default_set (&report);
    for (size_t i = 0; i < report.count && i < report.capacity; i++)
        cr_log_error ("%s: %s (%s): %s", report.errors [i].file, report.errors [i].field,
                      report.errors [i].contract_id, report.errors [i].reason);
    cr_assert_eq (report.count, 0, "%zu load errors (see the log); the methods the set names "
                  "must all be registered", report.count);
    //  One phase per contract; the counts of contracts/README.md.
    static const size_t expected [10] = { 1, 1, 300, 300, 60, 10, 4, 1, 1, 1 };
    size_t per_phase [10] = { 0 };
    size_t count;
    fac_contract_t **all = fac_contract_set_all (set, &count);
    cr_assert_eq (count, 679);
    for (size_t i = 0; i < count; i++) {
        int phases = 0;
        for (int p = 0; p < 10; p++)
            if (fac_contract_in_phase (all [i], p)) {
                per_phase [p]++;
                phases++;
            }
        cr_assert_eq (phases, 1, "%s is in %d phases", all [i]->id, phases);
        cr_assert (*all [i]->title, "%s has no title", all [i]->id);
    }
    for (int p = 0; p < 10; p++)
        cr_assert_eq (per_phase [p], expected [p], "P%02d: %zu contracts, expected %zu", p,
                      per_phase [p], expected [p]);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

FF_TEST (contract_set, structure_links_every_phase)
{
    fac_load_report_t report;
    fac_contract_set_t *set = s_default_set (&report);
    static const char *const clusters [4][4] = {
        { "PA02", "PA03", "PA07", NULL }, { "PA01", "PA05", "PA06", NULL },
        { "PA04", "PA08", NULL }, { "PA09", "PA10", NULL },
    };
    char id [64], input [64];
    for (int a = 1; a <= 10; a++) {
        char area [8];
        snprintf (area, sizeof area, "PA%02d", a);
        for (int s = 1; s <= 30; s++) {
            char slot [8], dimension [8];
            snprintf (slot, sizeof slot, "Q%03d", s);
            snprintf (dimension, sizeof dimension, "DIM%02d", (s - 1) / 5 + 1);
            snprintf (id, sizeof id, "Q%03d_PA%02d", s, a);
            fac_contract_t *micro = fac_contract_set_lookup (set, id);
            cr_assert_not_null (micro, "%s missing", id);
            cr_assert_str_eq (micro->type, "micro");
            cr_assert_str_eq (micro->base_question, slot);
            cr_assert_str_eq (micro->policy_area, area);
            cr_assert_str_eq (micro->dimension, dimension);
            cr_assert (micro->uses_document && micro->pattern_count > 0 && micro->expected_count > 0);
            //  The area's own keywords make each area's contracts differ.
            if (a > 1) {
                char other [16];
                snprintf (other, sizeof other, "Q%03d_PA01", s);
                fac_contract_t *first = fac_contract_set_lookup (set, other);
                cr_assert_neq (strcmp (first->digest, micro->digest), 0);
            }
            snprintf (id, sizeof id, "SCORE_Q%03d_PA%02d", s, a);
            fac_contract_t *score = fac_contract_set_lookup (set, id);
            cr_assert_not_null (score, "%s missing", id);
            cr_assert_eq (score->input_count, 1);
            cr_assert_str_eq (score->input_contracts [0], micro->id);
            cr_assert_str_eq (score->title, micro->title);
            cr_assert_str_eq (score->modality, micro->modality);
            cr_assert_str_eq (score->dimension, micro->dimension);
            cr_assert_str_eq (score->cluster, micro->cluster);
            cr_assert_eq (score->expected_count, micro->expected_count);
        }
        for (int d = 1; d <= 6; d++) {
            snprintf (id, sizeof id, "AGG_DIM%02d_PA%02d", d, a);
            fac_contract_t *dimension = fac_contract_set_lookup (set, id);
            cr_assert_not_null (dimension, "%s missing", id);
            cr_assert_eq (dimension->input_count, 5);
            for (int s = 0; s < 5; s++) {
                snprintf (input, sizeof input, "SCORE_Q%03d_PA%02d", (d - 1) * 5 + s + 1, a);
                cr_assert_str_eq (dimension->input_contracts [s], input);
            }
        }
        snprintf (id, sizeof id, "AGG_PA%02d", a);
        fac_contract_t *policy_area = fac_contract_set_lookup (set, id);
        cr_assert_not_null (policy_area);
        cr_assert_eq (policy_area->input_count, 6);
        for (int d = 0; d < 6; d++) {
            snprintf (input, sizeof input, "AGG_DIM%02d_PA%02d", d + 1, a);
            cr_assert_str_eq (policy_area->input_contracts [d], input);
        }
    }
    for (int c = 0; c < 4; c++) {
        snprintf (id, sizeof id, "AGG_CL%02d", c + 1);
        fac_contract_t *cluster = fac_contract_set_lookup (set, id);
        cr_assert_not_null (cluster);
        size_t members = 0;
        while (clusters [c][members])
            members++;
        cr_assert_eq (cluster->input_count, members, "%s", id);
        for (size_t i = 0; i < members; i++) {
            snprintf (input, sizeof input, "AGG_%s", clusters [c][i]);
            cr_assert_str_eq (cluster->input_contracts [i], input);
            //  The micro contracts of its areas name it as their cluster.
            snprintf (input, sizeof input, "Q001_%s", clusters [c][i]);
            cr_assert_str_eq (fac_contract_set_lookup (set, input)->cluster, id + 4);
        }
    }
    fac_contract_t *macro = fac_contract_set_lookup (set, "AGG_MACRO");
    cr_assert_eq (macro->input_count, 4);
    //  P00 and P01 read the document; P08 INGEST + 300 scores; P09 everything.
    cr_assert (fac_contract_set_lookup (set, "VALIDATE_DOCUMENT")->uses_document);
    cr_assert (fac_contract_set_lookup (set, "INGEST")->uses_document);
    fac_contract_t *recommend = fac_contract_set_lookup (set, "RECOMMEND");
    cr_assert_eq (recommend->input_count, 301);
    cr_assert_str_eq (recommend->input_contracts [0], "INGEST");
    const char *sections_from = json_string_value (json_object_get (s_params (recommend, "recommend.rules"),
                                                                    "sections_from"));
    cr_assert_str_eq (sections_from ? sections_from : "(none)", "INGEST");
    fac_contract_t *report_contract = fac_contract_set_lookup (set, "REPORT");
    cr_assert_eq (report_contract->input_count, 2 + 300 + 60 + 10 + 4 + 1 + 1);
    for (size_t i = 0; i < report_contract->input_count; i++)
        cr_assert_not_null (fac_contract_set_lookup (set, report_contract->input_contracts [i]),
                            "REPORT reads %s, which is not in the set", report_contract->input_contracts [i]);
    cr_assert_str_eq (report_contract->input_contracts [report_contract->input_count - 1], "RECOMMEND");
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  Every Choquet capacity normalised and monotone, every weighted mean's
//  weights a distribution, the penalty and coherence factors in 0..1:
//  recomputed here from the shipped contracts, independently of the
//  generator's and the factory's checks.
FF_TEST (contract_set, every_weight_is_valid)
{
    fac_load_report_t report;
    fac_contract_set_t *set = s_default_set (&report);
    size_t count, choquets = 0, means = 0;
    fac_contract_t **all = fac_contract_set_all (set, &count);
    for (size_t i = 0; i < count; i++) {
        const fac_contract_t *contract = all [i];
        if (strcmp (contract->type, "aggregation") != 0)
            continue;
        const json_t *params = contract->steps [0].params;
        const json_t *weights = json_object_get (params, "weights");
        cr_assert_eq (json_object_size (weights), contract->input_count, "%s", contract->id);
        double sum = 0, negative [8] = { 0 };
        for (size_t k = 0; k < contract->input_count; k++) {
            const json_t *weight = json_object_get (weights, contract->input_contracts [k]);
            cr_assert (json_is_number (weight), "%s: no weight for %s", contract->id,
                       contract->input_contracts [k]);
            cr_assert_geq (json_number_value (weight), 0);
            sum += json_number_value (weight);
        }
        if (fac_contract_in_phase (contract, 4)) {
            s_params (contract, "aggregate.choquet");
            choquets++;
            size_t k;
            json_t *pair;
            json_array_foreach (json_object_get (params, "interactions"), k, pair) {
                double value = json_number_value (json_object_get (pair, "value"));
                sum += value;
                for (size_t m = 0; m < contract->input_count && value < 0; m++)
                    if (strcmp (contract->input_contracts [m], json_string_value (json_object_get (pair, "a"))) == 0
                    ||  strcmp (contract->input_contracts [m], json_string_value (json_object_get (pair, "b"))) == 0)
                        negative [m] += value;
            }
            for (size_t m = 0; m < contract->input_count; m++)
                cr_assert_geq (json_number_value (json_object_get (weights, contract->input_contracts [m]))
                               + negative [m], -1e-9, "%s: not monotone at %s", contract->id,
                               contract->input_contracts [m]);
        }
        else {
            s_params (contract, "aggregate.weighted_mean");
            means++;
            const char *factor = fac_contract_in_phase (contract, 6) ? "dispersion_penalty"
                               : fac_contract_in_phase (contract, 7) ? "coherence" : NULL;
            if (factor) {
                const json_t *value = json_object_get (params, factor);
                cr_assert (json_is_number (value), "%s: no %s", contract->id, factor);
                cr_assert (json_number_value (value) >= 0 && json_number_value (value) <= 1);
            }
        }
        cr_assert (fabs (sum - 1) < 1e-9, "%s: weights sum to %.12g", contract->id, sum);
    }
    cr_assert_eq (choquets, 60);
    cr_assert_eq (means, 15);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  ---------------------------------------------------------------------
//  Bad sources

FF_TEST (contract_set, bad_structure_source_is_refused)
{
    struct {
        const char *what;
        const char *edit;           // JSON pointer-ish: applied below
        const char *fragments [3];
    } cases [] = {
        { "a Choquet weight breaking normalisation", "dim-weight",
          { "structure.json: dimensions[1].choquet: ", "sum to 1.05", "needs 1" } },
        { "a negative interaction larger than a weight", "monotone",
          { "dimensions[3].choquet: ", "not monotone: Q020" } },
        { "an interaction across dimensions", "cross-pair",
          { "dimensions[0].choquet.interactions[0].b: ", "\"Q006\" is not a question of DIM01" } },
        { "a cluster naming an unknown area", "unknown-area",
          { "structure.json: clusters[0].policy_areas[1]: ", "unknown policy area \"PA11\"" } },
        { "an area in two clusters", "two-clusters",
          { "clusters[1].policy_areas[0]: ", "PA02 is already in CL01" } },
        { "cluster weights not summing to 1", "cluster-weights",
          { "clusters[2].weights: ", "sum to 1.1" } },
        { "a dimension weight for an unknown dimension", "unknown-dimension",
          { "policy_areas[4].dimension_weights.DIM07: ", "not aggregated by PA05" } },
        { "a typo in a field name", "typo",
          { "macro.coherense: ", "unknown field" } },
        { "a dispersion penalty out of range", "penalty",
          { "clusters[3].dispersion_penalty: ", "1.5 is out of range 0..1" } },
        { "dimensions out of order", "order",
          { "dimensions[0].id: ", "\"DIM02\" where \"DIM01\" was expected" } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        char *dir = s_copy_source ();
        json_t *structure = s_load (dir, "structure.json");
        json_t *dimensions = json_object_get (structure, "dimensions");
        json_t *clusters = json_object_get (structure, "clusters");
        const char *edit = cases [c].edit;
        if (strcmp (edit, "dim-weight") == 0)
            json_object_set_new (json_object_get (json_object_get (json_array_get (dimensions, 1),
                "choquet"), "weights"), "Q007", json_real (0.3));
        else
        if (strcmp (edit, "monotone") == 0) {
            //  Q020 weighs 0.1 and interacts with -0.05: give it 0.04 and
            //  Q016 0.06 more, so the sum still holds.
            json_t *weights = json_object_get (json_object_get (json_array_get (dimensions, 3), "choquet"),
                                               "weights");
            json_object_set_new (weights, "Q020", json_real (0.04));
            json_object_set_new (weights, "Q016", json_real (0.31));
        }
        else
        if (strcmp (edit, "cross-pair") == 0)
            json_object_set_new (json_array_get (json_object_get (json_object_get (
                json_array_get (dimensions, 0), "choquet"), "interactions"), 0), "b", json_string ("Q006"));
        else
        if (strcmp (edit, "unknown-area") == 0)
            json_array_set_new (json_object_get (json_array_get (clusters, 0), "policy_areas"), 1,
                                json_string ("PA11"));
        else
        if (strcmp (edit, "two-clusters") == 0)
            json_array_set_new (json_object_get (json_array_get (clusters, 1), "policy_areas"), 0,
                                json_string ("PA02"));
        else
        if (strcmp (edit, "cluster-weights") == 0)
            json_object_set_new (json_object_get (json_array_get (clusters, 2), "weights"), "PA04",
                                 json_real (0.6));
        else
        if (strcmp (edit, "unknown-dimension") == 0)
            json_object_set_new (json_object_get (json_array_get (json_object_get (structure, "policy_areas"), 4),
                                                  "dimension_weights"), "DIM07", json_real (0));
        else
        if (strcmp (edit, "typo") == 0)
            json_object_set_new (json_object_get (structure, "macro"), "coherense", json_real (0.2));
        else
        if (strcmp (edit, "penalty") == 0)
            json_object_set_new (json_array_get (clusters, 3), "dispersion_penalty", json_real (1.5));
        else
        if (strcmp (edit, "order") == 0) {
            json_t *first = json_incref (json_array_get (dimensions, 0));
            json_array_remove (dimensions, 0);
            json_array_append_new (dimensions, first);
        }
        s_save (dir, "structure.json", structure);
        size_t fragments = 0;
        while (fragments < 3 && cases [c].fragments [fragments])
            fragments++;
        s_assert_refused (dir, cases [c].fragments, fragments, cases [c].what);
        ff_test_remove_dir (dir);
        free (dir);
    }
    //  Not JSON, and no source at all.
    char *dir = s_copy_source ();
    char path [512];
    snprintf (path, sizeof path, "%s/structure.json", dir);
    FILE *file = fopen (path, "w");
    fputs ("{\"format\": \"farfan-structure-source/1\",\n  \"version\": }\n", file);
    fclose (file);
    const char *bad_json [] = { "structure.json: invalid JSON at line 2" };
    s_assert_refused (dir, bad_json, 1, "bad JSON");
    unlink (path);
    const char *missing [] = { "structure.json: cannot read: No such file or directory" };
    s_assert_refused (dir, missing, 1, "no structure.json");
    ff_test_remove_dir (dir);
    free (dir);
}

FF_TEST (contract_set, bad_question_source_is_refused)
{
    const char *cases [][3] = {
        { "missing-slot", "questions.json: questions: slot Q017 is missing", NULL },
        { "duplicate-slot", "questions[17].slot: Q017 is given twice", NULL },
        { "wrong-dimension", "questions[0].dimension: \"DIM02\": Q001 belongs to DIM01", NULL },
        { "unknown-element", "questions[2].expected[0].type: ", "unknown element type \"presupuestos\"" },
        { "bad-regex", "elements.cifras.regex[1]: does not compile: ", "missing closing parenthesis" },
        { "bad-keyword", "area_keywords.PA03[0]: does not compile: ", NULL },
        { "no-keywords", "area_keywords: PA09 has no keywords", NULL },
        { "placeholder", "questions[4].text: unknown placeholder \"{areas}\"", NULL },
        { "scope", "questions[5].expected[1].scope: \"everywhere\" is not \"area\"", NULL },
        { "no-minimum", "questions[6].expected[0]: give \"minimum\"", NULL },
        { "modality", "questions[7].modality: \"TYPE_Z\" is not a micro question modality", NULL },
        { "duplicate-pattern-id", "elements.anios_referencia.id: pattern id \"CIF\" is also the id of element cifras", NULL },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        char *dir = s_copy_source ();
        json_t *questions = s_load (dir, "questions.json");
        json_t *list = json_object_get (questions, "questions");
        json_t *elements = json_object_get (questions, "elements");
        const char *edit = cases [c][0];
        if (strcmp (edit, "missing-slot") == 0)
            json_array_remove (list, 16);
        else
        if (strcmp (edit, "duplicate-slot") == 0)
            json_object_set_new (json_array_get (list, 17), "slot", json_string ("Q017"));
        else
        if (strcmp (edit, "wrong-dimension") == 0)
            json_object_set_new (json_array_get (list, 0), "dimension", json_string ("DIM02"));
        else
        if (strcmp (edit, "unknown-element") == 0)
            json_object_set_new (json_array_get (json_object_get (json_array_get (list, 2), "expected"), 0),
                                 "type", json_string ("presupuestos"));
        else
        if (strcmp (edit, "bad-regex") == 0)
            json_array_set_new (json_object_get (json_object_get (elements, "cifras"), "regex"), 1,
                                json_string ("\\btasas?\\s+(de"));
        else
        if (strcmp (edit, "bad-keyword") == 0)
            json_array_set_new (json_object_get (json_object_get (questions, "area_keywords"), "PA03"), 0,
                                json_string ("ambientales?)"));
        else
        if (strcmp (edit, "no-keywords") == 0)
            json_object_del (json_object_get (questions, "area_keywords"), "PA09");
        else
        if (strcmp (edit, "placeholder") == 0)
            json_object_set_new (json_array_get (list, 4), "text", json_string ("¿Y {areas}?"));
        else
        if (strcmp (edit, "scope") == 0)
            json_object_set_new (json_array_get (json_object_get (json_array_get (list, 5), "expected"), 1),
                                 "scope", json_string ("everywhere"));
        else
        if (strcmp (edit, "no-minimum") == 0) {
            json_t *item = json_array_get (json_object_get (json_array_get (list, 6), "expected"), 0);
            json_object_del (item, "minimum");
            json_object_del (item, "required");
        }
        else
        if (strcmp (edit, "modality") == 0)
            json_object_set_new (json_array_get (list, 7), "modality", json_string ("TYPE_Z"));
        else
        if (strcmp (edit, "duplicate-pattern-id") == 0)
            json_object_set_new (json_object_get (elements, "anios_referencia"), "id", json_string ("CIF"));
        s_save (dir, "questions.json", questions);
        s_assert_refused (dir, &cases [c][1], cases [c][2] ? 2 : 1, edit);
        ff_test_remove_dir (dir);
        free (dir);
    }
}

//  The importer hands ctl_structure_build micro contracts of its own: all
//  300 must be there, each once, with an identity that matches its id.
FF_TEST (contract_set, bad_micro_contracts_are_refused)
{
    char err [1024] = "";
    ctl_structure_t *structure = ctl_structure_load (S_SOURCE, err, sizeof err);
    cr_assert_not_null (structure, "%s", err);
    json_t *micro = ctl_structure_questions (structure, S_SOURCE, err, sizeof err);
    cr_assert_not_null (micro, "%s", err);
    cr_assert_eq (json_array_size (micro), 300);
    json_t *set = ctl_structure_build (structure, micro, err, sizeof err);
    cr_assert_not_null (set, "%s", err);
    cr_assert_null (json_object_get (set, "P02"), "the micro contracts are the caller's");
    cr_assert_eq (json_array_size (json_object_get (set, "P03")), 300);
    json_decref (set);
    cr_assert_str_eq (ctl_structure_cluster_of (structure, "PA01"), "CL02");
    cr_assert_str_eq (ctl_structure_cluster_of (structure, "PA10"), "CL04");
    cr_assert_null (ctl_structure_cluster_of (structure, "PA11"));
    cr_assert_str_eq (ctl_structure_name (structure, "DIM06"), "Causalidad y teoría de cambio");
    cr_assert_str_eq (ctl_structure_slot_dimension (26), "DIM06");
    cr_assert_null (ctl_structure_slot_dimension (31));

    struct {
        const char *what;
        const char *fragment;
    } cases [] = {
        { "missing", "micro contracts: no contract for Q005_PA03" },
        { "twice", "micro[1].id: Q001_PA01 is given twice (also micro[0])" },
        { "bad id", "micro[0].id: \"Q031_PA01\" is not a micro contract id" },
        { "identity", "micro[0].identity.cluster: \"CL01\" disagrees with Q001_PA01: expected \"CL02\"" },
        { "dimension", "micro[5].identity.dimension: \"DIM01\" disagrees with Q006_PA01: expected \"DIM02\"" },
        { "modality", "micro[0].scoring.modality: required" },
        { "not an array", "micro contracts: must be an array of micro contracts, not an object" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        json_t *copy = json_deep_copy (micro);
        const char *what = cases [c].what;
        if (strcmp (what, "missing") == 0)
            json_array_remove (copy, 2 * 30 + 4);
        else
        if (strcmp (what, "twice") == 0)
            json_object_set_new (json_array_get (copy, 1), "id", json_string ("Q001_PA01"));
        else
        if (strcmp (what, "bad id") == 0)
            json_object_set_new (json_array_get (copy, 0), "id", json_string ("Q031_PA01"));
        else
        if (strcmp (what, "identity") == 0)
            json_object_set_new (json_object_get (json_array_get (copy, 0), "identity"), "cluster",
                                 json_string ("CL01"));
        else
        if (strcmp (what, "dimension") == 0)
            json_object_set_new (json_object_get (json_array_get (copy, 5), "identity"), "dimension",
                                 json_string ("DIM01"));
        else
        if (strcmp (what, "modality") == 0)
            json_object_del (json_object_get (json_array_get (copy, 0), "scoring"), "modality");
        else {
            json_decref (copy);
            copy = json_object ();
        }
        err [0] = '\0';
        cr_assert_null (ctl_structure_build (structure, copy, err, sizeof err), "%s: accepted", what);
        cr_assert_not_null (strstr (err, cases [c].fragment), "%s: \"%s\" not in \"%s\"", what,
                            cases [c].fragment, err);
        json_decref (copy);
    }
    json_decref (micro);
    ctl_structure_destroy (&structure);
    ctl_structure_destroy (&structure);     // idempotent
}

FF_TEST (contract_set, set_write_refuses_what_it_cannot_write)
{
    char err [512] = "";
    json_t *bad = json_pack ("{s[]}", "P12");
    cr_assert_eq (ctl_set_write ("/tmp", bad, err, sizeof err), -1);
    cr_assert_not_null (strstr (err, "P12: not a phase"), "%s", err);
    json_decref (bad);
    bad = json_pack ("{so}", "P02", json_object ());
    cr_assert_eq (ctl_set_write ("/tmp", bad, err, sizeof err), -1);
    cr_assert_not_null (strstr (err, "P02: not a phase with an array"), "%s", err);
    json_decref (bad);
    //  A file where the directory should be.
    char *dir = s_temp_dir ();
    char path [512];
    snprintf (path, sizeof path, "%s/file", dir);
    FILE *file = fopen (path, "w");
    fclose (file);
    json_t *set = json_pack ("{s[] ss}", "P00", "x-note", "kept");
    cr_assert_eq (ctl_set_write (path, set, err, sizeof err), -1);
    cr_assert_not_null (strstr (err, "cannot create the directory"), "%s", err);
    //  Nested directories are created; extensions reach every file.
    snprintf (path, sizeof path, "%s/a/b", dir);
    cr_assert_eq (ctl_set_write (path, set, err, sizeof err), 0, "%s", err);
    char *written = ff_test_read_file (strcat (path, "/P00-validate.json"), NULL);
    cr_assert_str_eq (written, "{\n  \"contracts\": [],\n  \"format\": \"farfan-contract-set/1\",\n"
                      "  \"x-note\": \"kept\"\n}\n");
    free (written);
    json_decref (set);
    //  The layout of values: Python's.
    json_t *value = json_pack ("{sf sf sf sf sI ss so so}", "a", 0.1, "b", 1.0, "c", 1e-5, "d", 1e16,
                               "e", (json_int_t) 3, "f", "ñ \"q\" \\ \t\x01", "g", json_array (),
                               "h", json_object ());
    char *text = ctl_set_dumps (value);
    cr_assert_str_eq (text, "{\n  \"a\": 0.1,\n  \"b\": 1.0,\n  \"c\": 1e-05,\n  \"d\": 1e+16,\n  \"e\": 3,\n"
                      "  \"f\": \"ñ \\\"q\\\" \\\\ \\t\\u0001\",\n  \"g\": [],\n  \"h\": {}\n}\n");
    free (text);
    json_decref (value);
    ff_test_remove_dir (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  farfanctl contracts

//  Runs farfanctl with args; returns its exit code, stdout/stderr kept.
static int
s_farfanctl (ff_test_process_t **process, char *const *args)
{
    char program [512];
    ff_test_build_path ("services/farfanctl", program, sizeof program);
    char *argv [16] = { program };
    for (size_t i = 0; args [i]; i++)
        argv [i + 1] = args [i];
    *process = ff_test_spawn (program, argv, NULL);
    return ff_test_process_wait_exit (*process, 60000);
}

FF_TEST_OPTS (contract_set, farfanctl_generates_and_checks_sets, .timeout = 120)
{
    char *dir = s_temp_dir ();
    char out [512];
    snprintf (out, sizeof out, "%s/set", dir);
    ff_test_process_t *process;
    char *generate [] = { "contracts", "generate", "--source", S_SOURCE, "--out", out, "--json", NULL };
    cr_assert_eq (s_farfanctl (&process, generate), 0, "%s", ff_test_process_stderr (process));
    json_error_t error;
    json_t *answer = json_loads (ff_test_process_stdout (process), 0, &error);
    cr_assert_not_null (answer, "not JSON: %s", ff_test_process_stdout (process));
    cr_assert (json_is_true (json_object_get (answer, "written")));
    cr_assert_eq (json_integer_value (json_object_get (answer, "contracts")), 679);
    cr_assert_eq (json_integer_value (json_object_get (answer, "error_count")), 0);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (answer, "per_phase"), "P04")), 60);
    cr_assert_eq (json_integer_value (json_object_get (answer, "files")), 10);
    json_decref (answer);
    ff_test_process_destroy (&process);

    //  check: what a factory would load, with the set digest.
    char *check [] = { "contracts", "check", out, NULL };
    cr_assert_eq (s_farfanctl (&process, check), 0, "%s", ff_test_process_stderr (process));
    cr_assert_not_null (strstr (ff_test_process_stdout (process), "679 contracts"));
    cr_assert_not_null (strstr (ff_test_process_stdout (process), "no load errors"));
    cr_assert_not_null (strstr (ff_test_process_stdout (process), "set digest sha256:"));
    ff_test_process_destroy (&process);

    //  A broken contract: exit 1, the error named, the rest counted.
    char path [640];
    snprintf (path, sizeof path, "%s/extra.json", out);
    FILE *file = fopen (path, "w");
    fputs ("{\"format\": \"farfan-contract/1\", \"id\": \"X\", \"version\": \"1\", \"type\": \"task\","
           " \"applicable_phases\": [\"P02\"], \"methods\": [{\"method\": \"core.nop\"}]}", file);
    fclose (file);
    char *check_json [] = { "contracts", "check", out, "--json", NULL };
    cr_assert_eq (s_farfanctl (&process, check_json), 1);
    answer = json_loads (ff_test_process_stdout (process), 0, &error);
    cr_assert_not_null (answer, "not JSON: %s", ff_test_process_stdout (process));
    cr_assert_eq (json_integer_value (json_object_get (answer, "contracts")), 679);
    cr_assert_eq (json_integer_value (json_object_get (answer, "error_count")), 1);
    json_t *first = json_array_get (json_object_get (answer, "errors"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (first, "field")), "methods[0].method");
    cr_assert_str_eq (json_string_value (json_object_get (first, "contract_id")), "X");
    json_decref (answer);
    ff_test_process_destroy (&process);

    //  A bad source: exit 1 with the reason, nothing written.
    char *source = s_copy_source ();
    json_t *structure = s_load (source, "structure.json");
    json_object_set_new (json_object_get (structure, "macro"), "coherence", json_real (-0.5));
    s_save (source, "structure.json", structure);
    char elsewhere [512];
    snprintf (elsewhere, sizeof elsewhere, "%s/never", dir);
    char *bad [] = { "contracts", "generate", "--source", source, "--out", elsewhere, NULL };
    cr_assert_eq (s_farfanctl (&process, bad), 1);
    cr_assert_not_null (strstr (ff_test_process_stderr (process),
                                "structure.json: macro.coherence: -0.5 is out of range 0..1"),
                        "%s", ff_test_process_stderr (process));
    cr_assert_neq (access (elsewhere, F_OK), 0, "written although the source is bad");
    ff_test_process_destroy (&process);

    //  Usage errors.
    char *usage [][4] = {
        { "contracts", NULL }, { "contracts", "frobnicate", NULL }, { "contracts", "check", NULL },
        { "contracts", "generate", "--colour", NULL }, { "contracts", "check", "a", "b" },
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage [0]; i++) {
        char *args [6] = { usage [i][0], usage [i][1], usage [i][2], i == 4 ? usage [i][3] : NULL, NULL };
        cr_assert_eq (s_farfanctl (&process, args), 2, "case %zu", i);
        cr_assert_not_null (strstr (ff_test_process_stderr (process), "farfanctl contracts"));
        ff_test_process_destroy (&process);
    }
    char *help [] = { "contracts", "--help", NULL };
    cr_assert_eq (s_farfanctl (&process, help), 0);
    cr_assert_not_null (strstr (ff_test_process_stdout (process), "generate [--source DIR]"));
    ff_test_process_destroy (&process);

    ff_test_remove_dir (source);
    free (source);
    ff_test_remove_dir (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  On the real plan

typedef struct {
    Farfan__ContractResult *results [300];
    size_t count;
    char *text;
    size_t size;
} s_plan_run_t;

//  Runs the 300 micro contracts of the default set over Plan_1 on a
//  factory started in-process (the same contracts directory a deployment
//  uses). Skips when the upstream data is absent.
static void
s_run_plan (s_plan_run_t *run)
{
    memset (run, 0, sizeof *run);
    run->text = ff_test_read_file (S_PLAN, &run->size);
    if (!run->text)
        cr_skip_test ("%s absent: the default set is not run on the real plan", S_PLAN);
    ff_test_service_t *factory = ff_test_service_start ("factory", "--contracts-dir", S_DEFAULT,
                                                        "--max-workers", "2", NULL);
    zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (factory, "direct"));
    char *digest = ff_test_put_document (dealer, run->text, run->size, NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.input_digest = digest;
    execute.all = true;
    execute.phase = "P02";
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__EXECUTE, .correlation_id = "plan" };
    cr_assert_eq (ff_msg_send (dealer, NULL, false, &header, &execute.base), 0);
    ff_msg_t *message = ff_msg_new ();
    while (true) {
        cr_assert_eq (ff_msg_recv (message, dealer), 0, "no reply within the timeout");
        uint32_t type = ff_msg_type (message);
        if (type == FARFAN__MESSAGE_TYPE__BATCH_DONE)
            break;
        cr_assert_eq (type, FARFAN__MESSAGE_TYPE__RESULT, "%s", ff_msg_status_message (message));
        cr_assert_lt (run->count, 300, "more than 300 results");
        run->results [run->count] = farfan__contract_result__unpack (NULL, ff_msg_body_size (message),
                                                                    ff_msg_body_data (message));
        cr_assert_not_null (run->results [run->count]);
        run->count++;
    }
    cr_assert_eq (run->count, 300);
    ff_msg_destroy (&message);
    free (digest);
    zsock_destroy (&dealer);
    ff_test_service_stop (&factory);
}

static void
s_plan_run_free (s_plan_run_t *run)
{
    for (size_t i = 0; i < run->count; i++)
        farfan__contract_result__free_unpacked (run->results [i], NULL);
    free (run->text);
}

//  Measured on Plan_1 (Timbiquí 2012–2015): 255 of the 300 questions find
//  evidence; the 45 that do not are mostly PA09 (persons deprived of
//  liberty) and PA10 (migration), which this 2012 plan does not address
//  (one mention of a municipal jail, none of migrants): 14 of 30 each.
//  The bounds leave room for pattern tuning without letting the set
//  drift into finding nothing or matching everything.
FF_TEST_OPTS (contract_set, micro_contracts_find_evidence_in_the_real_plan, .timeout = 240)
{
    s_plan_run_t run;
    s_run_plan (&run);
    size_t with_evidence = 0, per_area [10] = { 0 };
    for (size_t i = 0; i < run.count; i++) {
        const Farfan__ContractResult *result = run.results [i];
        cr_assert_eq (result->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s: %s", result->contract_id,
                      result->error);
        cr_assert (result->ratio >= 0 && result->ratio <= 1, "%s: ratio %g", result->contract_id,
                   result->ratio);
        bool any = false;
        for (size_t e = 0; e < result->n_evidence; e++) {
            const Farfan__Evidence *evidence = result->evidence [e];
            //  No pattern matches absurdly often: at most one match per
            //  KB of plan for any element (measured: at most 93 in 182 KB,
            //  the laws and articles the plan cites).
            cr_assert_leq (evidence->count, run.size / 1000, "%s: %s matched %u times",
                           result->contract_id, evidence->element_type, evidence->count);
            any = any || evidence->count > 0;
            //  Every quoted match is the text at its offset.
            for (size_t m = 0; m < evidence->n_matches; m++) {
                const Farfan__Match *match = evidence->matches [m];
                cr_assert_leq (match->offset + match->length, run.size);
                cr_assert_eq (memcmp (run.text + match->offset, match->text, strlen (match->text)), 0,
                              "%s: \"%s\" is not at offset %llu", result->contract_id, match->text,
                              (unsigned long long) match->offset);
            }
        }
        //  Evidence and ratio go together: no ratio without a match.
        cr_assert (any || result->ratio == 0, "%s: ratio %g without evidence", result->contract_id,
                   result->ratio);
        if (any) {
            with_evidence++;
            per_area [atoi (result->contract_id + 7) - 1]++;
        }
    }
    cr_log_info ("evidence for %zu of 300 questions on Plan_1", with_evidence);
    cr_assert_geq (with_evidence, 230, "only %zu of 300 questions find evidence", with_evidence);
    cr_assert_leq (with_evidence, 285, "%zu of 300 questions find evidence: the patterns match "
                   "topics the plan does not treat", with_evidence);
    //  Areas the plan treats find evidence for most questions; the two it
    //  does not, for far fewer.
    for (int a = 0; a < 8; a++)
        cr_assert_geq (per_area [a], 22, "PA%02d: evidence for %zu of 30", a + 1, per_area [a]);
    cr_assert_leq (per_area [8], 20, "PA09: evidence for %zu of 30", per_area [8]);
    cr_assert_leq (per_area [9], 20, "PA10: evidence for %zu of 30", per_area [9]);
    s_plan_run_free (&run);
}

//  The default set's patterns are Python re patterns: the counts the
//  factory reports (distinct start offsets per element type) are those of
//  Debian's python3 over the same text.
FF_TEST_OPTS (contract_set, micro_counts_agree_with_python, .timeout = 280)
{
    if (access (S_PYTHON, X_OK) != 0)
        cr_skip_test ("%s not installed: Python re agreement not checked", S_PYTHON);
    s_plan_run_t run;
    s_run_plan (&run);
    const char *script =
        "import json, re, sys\n"
        "text = open(sys.argv[2], encoding='utf-8').read()\n"
        "for c in json.load(open(sys.argv[1], encoding='utf-8'))['contracts']:\n"
        "    starts = {}\n"
        "    for p in c['patterns']:\n"
        "        s = starts.setdefault(p['element_type'], set())\n"
        "        s.update(m.start() for m in re.finditer(p['regex'], text, re.I))\n"
        "    print(c['id'], ' '.join('%s=%d' % (k, len(v)) for k, v in sorted(starts.items())))\n";
    char micro [512];
    snprintf (micro, sizeof micro, "%s/%s", S_DEFAULT, ctl_set_file_name (2));
    char *argv [] = { S_PYTHON, "-c", (char *) script, micro, S_PLAN, NULL };
    ff_test_process_t *python = ff_test_spawn (S_PYTHON, argv, NULL);
    cr_assert_eq (ff_test_process_wait_exit (python, 250000), 0, "%s", ff_test_process_stderr (python));
    const char *output = ff_test_process_stdout (python);
    for (size_t i = 0; i < run.count; i++) {
        const Farfan__ContractResult *result = run.results [i];
        //  The same line, built from the factory's evidence.
        char line [2048];
        size_t used = (size_t) snprintf (line, sizeof line, "\n%s", result->contract_id);
        const Farfan__Evidence *sorted [16];
        size_t n = result->n_evidence < 16 ? result->n_evidence : 16;
        for (size_t e = 0; e < n; e++)
            sorted [e] = result->evidence [e];
        for (size_t e = 1; e < n; e++)
            for (size_t k = e; k > 0 && strcmp (sorted [k - 1]->element_type, sorted [k]->element_type) > 0; k--) {
                const Farfan__Evidence *swap = sorted [k];
                sorted [k] = sorted [k - 1];
                sorted [k - 1] = swap;
            }
        for (size_t e = 0; e < n; e++)
            used += (size_t) snprintf (line + used, sizeof line - used, "%s%s=%u", e ? " " : " ",
                                       sorted [e]->element_type, sorted [e]->count);
        snprintf (line + used, sizeof line - used, "\n");
        char *found = strstr (output, line + 1) == output ? (char *) output : strstr (output, line);
        cr_assert_not_null (found, "factory and Python disagree on %s: the factory says%s",
                            result->contract_id, line);
    }
    ff_test_process_destroy (&python);
    s_plan_run_free (&run);
}
