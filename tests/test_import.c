/*  farfanctl contracts import (services/ctl/ctl_contracts_import.c): the
    importer of upstream FARFAN's questionnaire, run as a user runs it (the
    built farfanctl), on the real upstream data in ../shared/farfan-upstream
    when it is there and on small upstream layouts written by the tests.

    What is checked: the import figures on the real data (a checked
    summary), every written set loading with zero errors as a factory loads
    it, the Python re -> PCRE2 translation case by case, match counts of the
    imported patterns against Debian's /usr/bin/python3 re (on the real plan
    for a sample of questions, and on a fixture text for the translation
    cases), and clear errors and exit codes for bad input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fac_method.h"
#include "ff_test.h"

#define S_UPSTREAM FF_TEST_SOURCE_ROOT "/../shared/farfan-upstream"
#define S_SOURCE FF_TEST_SOURCE_ROOT "/contracts/src"
#define S_PYTHON "/usr/bin/python3"
#define S_RUN_TIMEOUT_MS 120000

//  ---------------------------------------------------------------------
//  Running farfanctl

typedef struct {
    int rc;
    char *out;                  // stdout
    char *err;                  // stderr
    json_t *report;             // stdout as JSON (--json), or NULL
} s_result_t;

static void
s_result_fini (s_result_t *result)
{
    free (result->out);
    free (result->err);
    json_decref (result->report);
    memset (result, 0, sizeof *result);
}

//  Runs farfanctl with the arguments (NULL-terminated after "contracts").
static s_result_t
s_farfanctl (const char *first, ...)
{
    char program [1024];
    ff_test_build_path ("services/farfanctl", program, sizeof program);
    char *argv [32] = { (char *) "farfanctl", (char *) "contracts" };
    size_t argc = 2;
    va_list args;
    va_start (args, first);
    for (const char *arg = first; arg && argc < 31; arg = va_arg (args, const char *))
        argv [argc++] = (char *) arg;
    va_end (args);
    argv [argc] = NULL;
    ff_test_process_t *process = ff_test_spawn (program, argv, NULL);
    s_result_t result = { 0 };
    result.rc = ff_test_process_wait_exit (process, S_RUN_TIMEOUT_MS);
    result.out = strdup (ff_test_process_stdout (process));
    result.err = strdup (ff_test_process_stderr (process));
    ff_test_process_destroy (&process);
    cr_assert_neq (result.rc, -1, "farfanctl did not finish in %d ms", S_RUN_TIMEOUT_MS);
    json_error_t error;
    result.report = json_loads (result.out, 0, &error);
    return result;
}

static char *
s_temp_dir (void)
{
    char *path = strdup ("/tmp/ff_import_XXXXXX");
    cr_assert_not_null (mkdtemp (path));
    return path;
}

static json_int_t
s_int (const json_t *report, const char *path)
{
    json_t *value = json_object_get (report, path);
    return json_integer_value (value);
}

static json_int_t
s_int2 (const json_t *report, const char *object, const char *key)
{
    return json_integer_value (json_object_get (json_object_get (report, object), key));
}

//  The micro contract `id` of the set written in dir (a new reference).
static json_t *
s_micro (const char *dir, const char *id)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/P02-micro.json", dir);
    json_error_t error;
    json_t *set = json_load_file (path, 0, &error);
    cr_assert_not_null (set, "%s: %s", path, error.text);
    json_t *found = NULL;
    size_t index;
    json_t *contract;
    json_array_foreach (json_object_get (set, "contracts"), index, contract)
        if (strcmp (json_string_value (json_object_get (contract, "id")), id) == 0)
            found = json_incref (contract);
    json_decref (set);
    return found;
}

//  The pattern `id` of a contract (borrowed), or NULL.
static json_t *
s_pattern (const json_t *contract, const char *id)
{
    size_t index;
    json_t *pattern;
    json_array_foreach (json_object_get (contract, "patterns"), index, pattern)
        if (strcmp (json_string_value (json_object_get (pattern, "id")), id) == 0)
            return pattern;
    return NULL;
}

//  Loads dir as a factory loads its contracts directory: every contract
//  must load. Returns the number loaded.
static int
s_load_all (const char *dir)
{
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    fac_load_report_t report;
    fac_load_report_init (&report, 5);
    int loaded = fac_contract_set_load_dir (set, dir, &report);
    for (size_t e = 0; e < report.count && e < report.capacity; e++)
        cr_log_error ("%s: %s: %s", report.errors [e].file, report.errors [e].field,
                      report.errors [e].reason);
    cr_assert_eq (report.count, 0, "%zu load errors in %s", report.count, dir);
    fac_load_report_free (&report);
    fac_contract_set_destroy (&set);
    return loaded;
}

//  ---------------------------------------------------------------------
//  Match counts against Python's re

//  For each pattern {id, upstream, type, flags}: Python's intent of the
//  upstream text, per contracts/README.md (written here independently of
//  the C importer): LITERAL without "|" or "\" is the text itself,
//  everything else a regex with doubled escapes ("\\d" from a JSON round
//  trip) read as single ones; then the count of re.finditer over the text.
static const char *s_python_script =
    "import json, re, sys\n"
    "spec = json.load(open(sys.argv[1], encoding='utf-8'))\n"
    "with open(spec['text'], encoding='utf-8', newline='') as f:\n"
    "    text = f.read()\n"
    "DOUBLED = 'dDwWsSbB.$()[]{}|+*?^'\n"
    "def repair(p):\n"
    "    out, i = [], 0\n"
    "    while i < len(p):\n"
    "        if p[i] == '\\\\' and i + 1 < len(p):\n"
    "            if p[i + 1] == '\\\\' and i + 2 < len(p) and p[i + 2] in DOUBLED:\n"
    "                out.append('\\\\' + p[i + 2]); i += 3; continue\n"
    "            out.append(p[i:i + 2]); i += 2; continue\n"
    "        out.append(p[i]); i += 1\n"
    "    return ''.join(out)\n"
    "FLAGS = {'IGNORECASE': re.I, 'MULTILINE': re.M, 'DOTALL': re.S}\n"
    "counts = {}\n"
    "for p in spec['patterns']:\n"
    "    rx = p['upstream']\n"
    "    if p['type'] == 'LITERAL' and '|' not in rx and '\\\\' not in rx:\n"
    "        rx = re.escape(rx)\n"
    "    else:\n"
    "        rx = repair(rx)\n"
    "    flags = 0\n"
    "    for f in p['flags']:\n"
    "        flags |= FLAGS.get(f, 0)\n"
    "    counts[p['key']] = sum(1 for _ in re.finditer(rx, text, flags))\n"
    "json.dump(counts, open(sys.argv[2], 'w'))\n";

//  Runs text.match_patterns of each listed contract of the set in dir
//  over text_path (the factory's own code) and compares every pattern's
//  count with Python's. Returns the patterns compared.
static size_t
s_agree_with_python (const char *dir, const char *const *ids, size_t id_count,
                     const char *text_path)
{
    size_t size;
    char *text = ff_test_read_file (text_path, &size);
    cr_assert_not_null (text, "cannot read %s", text_path);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    fac_load_report_t report;
    fac_load_report_init (&report, 5);
    fac_contract_set_load_dir (set, dir, &report);
    cr_assert_eq (report.count, 0);
    fac_load_report_free (&report);

    json_t *spec = json_pack ("{s:s, s:[]}", "text", text_path, "patterns");
    json_t *ours = json_object ();
    const fac_method_t *match = fac_method_lookup ("text.match_patterns");
    json_t *params = json_pack ("{s:i}", "max_matches", 0);
    json_t *request = json_object ();
    char path [1024];
    snprintf (path, sizeof path, "%s/P02-micro.json", dir);
    json_error_t error;
    json_t *micro = json_load_file (path, 0, &error);
    cr_assert_not_null (micro, "%s: %s", path, error.text);
    json_t *by_id = json_object ();
    size_t index;
    json_t *written;
    json_array_foreach (json_object_get (micro, "contracts"), index, written)
        json_object_set (by_id, json_string_value (json_object_get (written, "id")), written);
    json_decref (micro);
    for (size_t i = 0; i < id_count; i++) {
        written = json_object_get (by_id, ids [i]);
        cr_assert_not_null (written, "%s not written", ids [i]);
        fac_contract_t *contract = fac_contract_set_lookup (set, ids [i]);
        cr_assert_not_null (contract);
        char err [256];
        fac_compiled_t *compiled = fac_compiled_new (contract, err, sizeof err);
        cr_assert_not_null (compiled, "%s", err);
        fac_context_t ctx;
        fac_context_init (&ctx, compiled, text, size, NULL, 0, request);
        cr_assert_eq (match->run (&ctx, params), 0, "%s: %s", ids [i], ctx.error);
        json_t *counts = json_object_get (json_object_get (ctx.output, "text.match_patterns"),
                                          "patterns");
        json_t *pattern;
        json_array_foreach (json_object_get (written, "patterns"), index, pattern) {
            const char *id = json_string_value (json_object_get (pattern, "id"));
            json_t *upstream = json_object_get (pattern, "x-upstream");
            json_t *original = json_object_get (upstream, "regex");
            char key [160];
            snprintf (key, sizeof key, "%s/%s", ids [i], id);
            json_t *flags = json_array ();
            size_t f;
            json_t *flag;
            json_array_foreach (json_object_get (pattern, "flags"), f, flag)
                if (strcmp (json_string_value (flag), "LITERAL") != 0)
                    json_array_append (flags, flag);
            json_array_append_new (json_object_get (spec, "patterns"), json_pack (
                "{s:s, s:O, s:O, s:o}", "key", key,
                "upstream", original ? original : json_object_get (pattern, "regex"),
                "type", json_object_get (upstream, "type"), "flags", flags));
            json_object_set (ours, key, json_object_get (counts, id));
        }
        fac_context_fini (&ctx);
        fac_compiled_unref (&compiled);
    }
    json_decref (by_id);
    json_t *python = ff_test_python_json (s_python_script, spec);
    size_t compared = 0, mismatches = 0;
    const char *key;
    json_t *count;
    json_object_foreach (ours, key, count) {
        json_t *expected = json_object_get (python, key);
        cr_assert_not_null (expected, "%s: no Python count", key);
        compared++;
        if (json_integer_value (count) != json_integer_value (expected) && mismatches++ < 10)
            cr_log_error ("%s: PCRE2 %lld matches, Python re %lld", key,
                          (long long) json_integer_value (count),
                          (long long) json_integer_value (expected));
    }
    cr_assert_eq (mismatches, 0, "%zu of %zu patterns disagree with Python re", mismatches, compared);
    json_decref (python);
    json_decref (spec);
    json_decref (ours);
    json_decref (params);
    json_decref (request);
    fac_contract_set_destroy (&set);
    free (text);
    return compared;
}

//  ---------------------------------------------------------------------
//  The real upstream data

//  The figures of the real upstream data (commit af5ff55a), measured with
//  `farfanctl contracts import --farfan ../shared/farfan-upstream --out DIR
//  --json` and cross-checked against the data with python3: the 300
//  questions carry 2,066 pattern_refs; 1,609 are registry keys; of the 457
//  that are not (the upstream README's figure), 150 are some pattern's
//  legacy_ids, 228 are PAT-Q001-001, which no legacy_ids lists but
//  contracts_v4/Q001_PA01_contract_v4.json declares as {"id":
//  "PAT-Q001-001", "pattern_ref": "PAT-0067"}, and 79 name nothing
//  (PAT-Q011-000 30, PAT-Q006-003 20, PAT-Q063-002 15, PAT-Q026-001 14).
//  They name 1,613 distinct registry patterns, all compiled: 44 changed
//  (33 LITERAL alternations read as regexes, 13 with doubled escapes, 2 of
//  them both), 44 LITERAL ones matched literally, 19 NER_OR_REGEX read as
//  regexes. The element map gives 320 of the 1,987 pattern entries their
//  element type by category, 1,446 by cue, and leaves 221 unmapped; 175
//  expected element types of 125 questions get no pattern.
FF_TEST_OPTS (import, the_real_upstream_questionnaire, .timeout = 300)
{
    if (access (S_UPSTREAM "/patterns/MASTER_INDEX.json", R_OK) != 0)
        cr_skip_test ("%s absent: the importer is not run on the real upstream data", S_UPSTREAM);
    char *out = s_temp_dir ();
    s_result_t run = s_farfanctl ("import", "--farfan", S_UPSTREAM, "--out", out,
                                  "--source", S_SOURCE, "--json", NULL);
    cr_assert_eq (run.rc, 0, "exit %d: %s", run.rc, run.err);
    json_t *report = run.report;
    cr_assert_not_null (report, "not JSON: %s", run.out);
    cr_assert (json_is_true (json_object_get (report, "ok")));
    cr_assert_eq (json_array_size (json_object_get (report, "errors")), 0);

    //  Contracts: 300 micro + the structure.
    json_t *contracts = json_object_get (report, "contracts");
    cr_assert_eq (s_int2 (report, "contracts", "micro"), 300);
    cr_assert_eq (s_int2 (report, "contracts", "micro_inactive"), 0);
    static const struct { const char *phase; json_int_t count; } phases [] = {
        { "P00", 1 }, { "P01", 1 }, { "P02", 300 }, { "P03", 300 }, { "P04", 60 },
        { "P05", 10 }, { "P06", 4 }, { "P07", 1 }, { "P08", 1 }, { "P09", 1 },
    };
    json_t *by_phase = json_object_get (contracts, "by_phase");
    cr_assert_eq (json_object_size (by_phase), 10);
    for (size_t i = 0; i < sizeof phases / sizeof phases [0]; i++)
        cr_assert_eq (json_integer_value (json_object_get (by_phase, phases [i].phase)),
                      phases [i].count, "%s", phases [i].phase);
    cr_assert_eq (s_int2 (report, "contracts", "written"), 679);

    //  References.
    json_t *refs = json_object_get (report, "references");
    cr_assert_eq (s_int (refs, "total"), 2066);
    cr_assert_eq (s_int (refs, "registry"), 1609);
    cr_assert_eq (s_int (refs, "legacy_ids"), 150);
    cr_assert_eq (s_int (refs, "contracts_v4"), 228);
    cr_assert_eq (s_int (refs, "unresolved"), 79);
    cr_assert_eq (s_int (refs, "merged"), 0);
    cr_assert_eq (s_int (refs, "legacy_ids") + s_int (refs, "contracts_v4") + s_int (refs, "unresolved"),
                  457, "the non-keys of the upstream README");
    static const struct { const char *ref; json_int_t count; } unresolved [] = {
        { "PAT-Q006-003", 20 }, { "PAT-Q011-000", 30 }, { "PAT-Q026-001", 14 }, { "PAT-Q063-002", 15 },
    };
    json_t *list = json_object_get (refs, "unresolved_refs");
    cr_assert_eq (json_array_size (list), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *entry = json_array_get (list, i);
        cr_assert_str_eq (json_string_value (json_object_get (entry, "ref")), unresolved [i].ref);
        cr_assert_eq (s_int (entry, "count"), unresolved [i].count, "%s", unresolved [i].ref);
        cr_assert_eq (json_array_size (json_object_get (entry, "contracts")), (size_t) unresolved [i].count);
    }

    //  Patterns.
    json_t *patterns = json_object_get (report, "patterns");
    cr_assert_eq (s_int (patterns, "registry"), 1747);
    cr_assert_eq (s_int (patterns, "referenced"), 1613);
    cr_assert_eq (s_int (patterns, "compiled"), 1613);
    cr_assert_eq (json_array_size (json_object_get (patterns, "untranslatable")), 0);
    cr_assert_eq (s_int (patterns, "translated"), 44);
    cr_assert_eq (json_array_size (json_object_get (patterns, "translations")), 44);
    cr_assert_eq (s_int (patterns, "literal"), 44);
    cr_assert_eq (s_int (patterns, "ner_or_regex"), 19);
    cr_assert_eq (s_int (patterns, "written"), 1987);
    size_t doubled = 0, literal_as_regex = 0, index;
    json_t *entry;
    json_array_foreach (json_object_get (patterns, "translations"), index, entry) {
        char *notes = json_dumps (json_object_get (entry, "notes"), 0);
        doubled += strstr (notes, "doubled escape") != NULL;
        literal_as_regex += strstr (notes, "LITERAL read as a regex") != NULL;
        free (notes);
    }
    cr_assert_eq (doubled, 13);
    cr_assert_eq (literal_as_regex, 33);

    //  The element map and what it leaves uncovered.
    json_t *map = json_object_get (report, "element_map");
    cr_assert_eq (s_int (map, "category"), 320);
    cr_assert_eq (s_int (map, "cue"), 1446);
    cr_assert_eq (s_int (map, "unmapped"), 221);
    cr_assert_eq (s_int (map, "category") + s_int (map, "cue") + s_int (map, "unmapped"),
                  s_int (patterns, "written"));
    json_t *missing = json_object_get (report, "missing_element_types");
    cr_assert_eq (s_int (missing, "types"), 175);
    cr_assert_eq (s_int (missing, "contracts"), 125);
    cr_assert_eq (json_array_size (json_object_get (missing, "by_contract")), 125);

    //  The set loads as a factory loads it, and the report says so.
    cr_assert_eq (s_load_all (out), 679);
    cr_assert_eq (s_int2 (report, "load", "contracts"), 679);
    cr_assert_eq (s_int2 (report, "load", "errors"), 0);

    //  Upstream Q031 is PA02 slot 1.
    json_t *q031 = s_micro (out, "Q001_PA02");
    cr_assert_not_null (q031);
    cr_assert_str_eq (json_string_value (json_object_get (q031, "x-upstream-id")), "Q031");
    json_error_t error;
    json_t *upstream = json_load_file (S_UPSTREAM "/questions/Q031.json", 0, &error);
    cr_assert_not_null (upstream);
    cr_assert_str_eq (json_string_value (json_object_get (q031, "title")),
                      json_string_value (json_object_get (json_object_get (upstream, "text"), "es")));
    json_t *identity = json_object_get (q031, "identity");
    cr_assert_str_eq (json_string_value (json_object_get (identity, "base_question")), "Q001");
    cr_assert_str_eq (json_string_value (json_object_get (identity, "policy_area")), "PA02");
    cr_assert_str_eq (json_string_value (json_object_get (identity, "dimension")), "DIM01");
    cr_assert_str_eq (json_string_value (json_object_get (identity, "cluster")), "CL01");
    cr_assert (json_equal (json_object_get (q031, "expected_elements"),
                           json_object_get (upstream, "expected_elements")),
               "expected elements as upstream gives them");
    json_t *scoring = json_object_get (q031, "scoring");
    cr_assert_str_eq (json_string_value (json_object_get (scoring, "modality")), "TYPE_A");
    cr_assert_float_eq (json_number_value (json_object_get (scoring, "threshold")), 0.7, 1e-12);
    //  PAT-Q001-001 resolved through contracts_v4 to PAT-0067.
    json_t *alias = s_pattern (q031, "PAT-0067");
    cr_assert_not_null (alias);
    json_t *alias_upstream = json_object_get (alias, "x-upstream");
    cr_assert_str_eq (json_string_value (json_object_get (alias_upstream, "ref")), "PAT-Q001-001");
    cr_assert_str_eq (json_string_value (json_object_get (alias_upstream, "resolved_through")),
                      "contracts_v4");
    json_decref (upstream);
    json_decref (q031);

    //  A second import writes the same set (same digest).
    char *again = s_temp_dir ();
    s_result_t second = s_farfanctl ("import", "--farfan", S_UPSTREAM, "--out", again,
                                     "--source", S_SOURCE, "--json", NULL);
    cr_assert_eq (second.rc, 0);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (second.report, "load"), "digest")),
                      json_string_value (json_object_get (json_object_get (report, "load"), "digest")));
    s_result_fini (&second);
    ff_test_remove_dir (again);
    free (again);

    //  The text report says the same.
    s_result_t text = s_farfanctl ("import", "--farfan", S_UPSTREAM, "--out", out,
                                   "--source", S_SOURCE, NULL);
    cr_assert_eq (text.rc, 0);
    cr_assert (strstr (text.out, "679 written: 300 micro"), "%s", text.out);
    cr_assert (strstr (text.out, "2066: 1609 registry keys, 150 through legacy_ids, 228 through "
                                 "contracts_v4 aliases, 79 unresolved"), "%s", text.out);
    cr_assert (strstr (text.out, "PAT-Q011-000 (30): Q011_PA01 Q016_PA01 Q022_PA01"), "%s", text.out);
    cr_assert (strstr (text.out, "Patterns that could not be translated (0): none"));
    cr_assert (strstr (text.out, "Q006_PA01 (upstream Q006): columna_costo, columna_cronograma"));
    s_result_fini (&text);

    s_result_fini (&run);
    ff_test_remove_dir (out);
    free (out);
}

//  Imported patterns count the same matches in the real plan as Python's
//  re does with upstream's patterns: every 5th question and every question
//  holding a translated pattern.
FF_TEST_OPTS (import, imported_patterns_agree_with_python_on_the_plan, .timeout = 300)
{
    if (access (S_UPSTREAM "/patterns/MASTER_INDEX.json", R_OK) != 0
    ||  access (S_UPSTREAM "/plans/Plan_1.txt", R_OK) != 0)
        cr_skip_test ("%s absent: agreement on the real plan not checked", S_UPSTREAM);
    if (access (S_PYTHON, X_OK) != 0)
        cr_skip_test ("%s not installed: Python re agreement not checked", S_PYTHON);
    char *out = s_temp_dir ();
    s_result_t run = s_farfanctl ("import", "--farfan", S_UPSTREAM, "--out", out,
                                  "--source", S_SOURCE, "--json", NULL);
    cr_assert_eq (run.rc, 0, "%s", run.err);
    //  The sample.
    json_t *translated = json_object ();
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (json_object_get (run.report, "patterns"), "translations"),
                        index, entry)
        json_object_set_new (translated, json_string_value (json_object_get (entry, "id")), json_true ());
    char path [1024];
    snprintf (path, sizeof path, "%s/P02-micro.json", out);
    json_error_t error;
    json_t *set = json_load_file (path, 0, &error);
    cr_assert_not_null (set);
    const char **ids = (const char **) calloc (300, sizeof (char *));
    size_t count = 0, with_translation = 0;
    json_t *contract;
    json_array_foreach (json_object_get (set, "contracts"), index, contract) {
        bool has = false;
        size_t k;
        json_t *pattern;
        json_array_foreach (json_object_get (contract, "patterns"), k, pattern)
            has |= json_object_get (translated, json_string_value (json_object_get (pattern, "id"))) != NULL;
        with_translation += has;
        if (has || index % 5 == 0)
            ids [count++] = json_string_value (json_object_get (contract, "id"));
    }
    cr_assert_gt (with_translation, 0);
    size_t compared = s_agree_with_python (out, ids, count, S_UPSTREAM "/plans/Plan_1.txt");
    cr_log_info ("%zu patterns of %zu imported questions agree with Python re on Plan_1", compared,
                 count);
    cr_assert_gt (compared, 500);
    free (ids);
    json_decref (set);
    json_decref (translated);
    s_result_fini (&run);
    ff_test_remove_dir (out);
    free (out);
}

//  ---------------------------------------------------------------------
//  A small upstream layout

//  Policy area -> cluster, as the design (and the manifest) has it.
static const char *s_clusters [10] = {
    "CL02", "CL01", "CL01", "CL03", "CL02", "CL02", "CL01", "CL03", "CL04", "CL04",
};

static void
s_write_json (const char *dir, const char *relative, json_t *value)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, relative);
    cr_assert_eq (json_dump_file (value, path, JSON_INDENT (1)), 0, "cannot write %s", path);
    json_decref (value);
}

static void
s_write_text (const char *dir, const char *relative, const char *text)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, relative);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file, "cannot write %s", path);
    fputs (text, file);
    fclose (file);
}

static json_t *
s_registry_pattern (const char *type, const char *pattern, const char *category,
                    const char *legacy)
{
    return json_pack ("{s:{s:s, s:s, s:[s, s]}, s:{s:s, s:f}, s:[s]}",
        "pattern_spec", "type", type, "pattern", pattern, "flags", "IGNORECASE", "MULTILINE",
        "classification", "category", category, "confidence_weight", 0.85,
        "legacy_ids", legacy);
}

//  The translation cases: registry key, upstream type, upstream text (as
//  the string JSON decodes to), and the regex we must write (NULL: the
//  pattern cannot be translated and `why` is part of the reason).
typedef struct {
    const char *key;
    const char *type;
    const char *upstream;
    const char *written;
    bool literal;               // written with the LITERAL flag
    const char *why;
} s_case_t;

static const s_case_t s_cases [] = {
    { "PAT-T01", "REGEX", "xa{,3}b", "xa{0,3}b", false, NULL },
    { "PAT-T02", "REGEX", "fin\\Z", "fin\\z", false, NULL },
    { "PAT-T03", "REGEX", "\\\\d{4}\\\\s+a\\\\w+s", "\\d{4}\\s+a\\w+s", false, NULL },
    { "PAT-T04", "LITERAL", "$ 1.234 (COP)", "$ 1.234 (COP)", true, NULL },
    { "PAT-T05", "LITERAL", "Línea Base:|LB:", "Línea Base:|LB:", false, NULL },
    { "PAT-T06", "REGEX", "[[:alpha:]]+", "[\\[:alpha:]]+", false, NULL },
    { "PAT-T07", "REGEX", "ni\\u00f1os", "ni\\x{00f1}os", false, NULL },
    { "PAT-T08", "REGEX", "(?u)poblaci[oó]n", "poblaci[oó]n", false, NULL },
    { "PAT-T09", "NER_OR_REGEX", "DANE|SISBEN", "DANE|SISBEN", false, NULL },
    { "PAT-T10", "REGEX", "a\\vb|meta{2,}", "a\\x0bb|meta{2,}", false, NULL },
    { "PAT-T11", "LITERAL", "Meta\\\\s+20\\\\d{2}:", "Meta\\s+20\\d{2}:", false, NULL },
    { "PAT-T12", "REGEX", "[]a]+|x{,}y", "[\\]a]+|x{0,}y", false, NULL },
    { "PAT-X01", "REGEX", "\\p{L}+", NULL, false, "bad escape \\p" },
    { "PAT-X02", "REGEX", "(?a)\\w+", NULL, false, "ASCII" },
    { "PAT-X03", "REGEX", "(abc", NULL, false, "does not compile: missing closing parenthesis" },
    { "PAT-X04", "REGEX", "\\N{LATIN SMALL LETTER N WITH TILDE}", NULL, false, "\\N{...}" },
    { "PAT-X05", "FUZZY", "abc", NULL, false, "not REGEX, LITERAL or NER_OR_REGEX" },
};
#define S_CASES (sizeof s_cases / sizeof s_cases [0])

//  Writes a complete upstream layout into dir: 300 questions (slot k of
//  area a is question (a - 1) x 30 + k), each with two expected elements
//  and the pattern PAT-BASE; question 1 (Q001_PA01) also references every
//  translation case, question 2 a legacy id, an alias and an unknown id,
//  question 3 only unknown ids.
static void
s_fixture (const char *dir)
{
    const char *subdirs [] = { "questions", "patterns", "contracts_v4", "policy_areas" };
    for (size_t i = 0; i < 4; i++) {
        char path [1024];
        snprintf (path, sizeof path, "%s/%s", dir, subdirs [i]);
        cr_assert_eq (mkdir (path, 0755), 0);
    }
    json_t *items = json_array ();
    for (int area = 1; area <= 10; area++) {
        char id [8];
        snprintf (id, sizeof id, "PA%02d", area);
        json_array_append_new (items, json_pack ("{s:s, s:s}", "id", id, "cluster", s_clusters [area - 1]));
        char folder [64];
        snprintf (folder, sizeof folder, "policy_areas/%s_area", id);
        char path [1024];
        snprintf (path, sizeof path, "%s/%s", dir, folder);
        cr_assert_eq (mkdir (path, 0755), 0);
        snprintf (folder, sizeof folder, "policy_areas/%s_area/metadata.json", id);
        s_write_json (dir, folder, json_pack ("{s:s, s:s, s:s}", "policy_area_id", id,
                                              "cluster_id", s_clusters [area - 1], "name", id));
    }
    s_write_json (dir, "modular_manifest.json",
                  json_pack ("{s:{s:{s:o}}}", "structure", "policy_areas", "items", items));
    s_write_json (dir, "scoring_system.json", json_pack ("{s:{s:{s:f}, s:{s:f}}}", "modalities",
                  "TYPE_A", "threshold", 0.7, "TYPE_B", "threshold", 0.65));
    json_t *registry = json_object ();
    json_object_set_new (registry, "PAT-BASE",
                         s_registry_pattern ("REGEX", "DANE|fuente", "FUENTE_OFICIAL", "PAT-BASE"));
    json_object_set_new (registry, "PAT-LEG",
                         s_registry_pattern ("REGEX", "tasa de \\w+", "INDICADOR", "OLD-7"));
    for (size_t i = 0; i < S_CASES; i++)
        json_object_set_new (registry, s_cases [i].key,
                             s_registry_pattern (s_cases [i].type, s_cases [i].upstream, "GENERAL",
                                                 s_cases [i].key));
    s_write_json (dir, "patterns/MASTER_INDEX.json", json_pack ("{s:o}", "patterns", registry));
    s_write_json (dir, "contracts_v4/Q001_PA01_contract_v4.json", json_pack (
        "{s:{s:[{s:s, s:s}]}}", "question_context", "patterns", "id", "ALIAS-9",
        "pattern_ref", "PAT-T09"));
    for (int n = 1; n <= 300; n++) {
        int area = (n - 1) / 30 + 1, slot = (n - 1) % 30 + 1;
        char id [8], pa [8], dim [8], text [64], relative [64];
        snprintf (id, sizeof id, "Q%03d", n);
        snprintf (pa, sizeof pa, "PA%02d", area);
        snprintf (dim, sizeof dim, "DIM%02d", (slot - 1) / 5 + 1);
        snprintf (text, sizeof text, "¿Pregunta %d del área %s?", n, pa);
        json_t *refs = json_array ();
        if (n != 3)
            json_array_append_new (refs, json_string ("PAT-BASE"));
        if (n == 1)
            for (size_t i = 0; i < S_CASES; i++)
                json_array_append_new (refs, json_string (s_cases [i].key));
        if (n == 2) {
            json_array_append_new (refs, json_string ("OLD-7"));
            json_array_append_new (refs, json_string ("ALIAS-9"));
            json_array_append_new (refs, json_string ("PAT-NOPE"));
            json_array_append_new (refs, json_string ("PAT-BASE"));     // merged
        }
        if (n == 3) {
            json_array_append_new (refs, json_string ("PAT-NOPE"));
            json_array_append_new (refs, json_string ("PAT-GONE"));
        }
        json_t *question = json_pack (
            "{s:s, s:s, s:s, s:s, s:{s:s}, s:[{s:s, s:i}, {s:s, s:b, s:s}],"
            " s:{s:o}, s:{s:s, s:f, s:{s:f}}, s:{s:s}}",
            "question_id", id, "dimension_id", dim, "policy_area_id", pa,
            "cluster_id", s_clusters [area - 1], "text", "es", text,
            "expected_elements", "type", "fuentes_oficiales", "minimum", 2,
            "type", "indicadores_cuantitativos", "required", true, "description", "cifras",
            "references", "pattern_refs", refs,
            "scoring", "modality", n % 2 ? "TYPE_A" : "TYPE_B", "threshold", 0.6,
            "weights", "expected_elements", 1.0,
            "metadata", "version", "2.0.0");
        snprintf (relative, sizeof relative, "questions/%s.json", id);
        s_write_json (dir, relative, question);
    }
}

//  The fixture text: each case has text that tells Python's reading from
//  a wrong one (a{,3} literal, \Z before a final newline, ...).
static const char *s_fixture_text =
    "Según el DANE la fuente oficial.\n"
    "xaab xb xaaab xa{,3}b xaaaab\n"
    "En 2015  años y 2016 anos; 2017 \\d\n"
    "Valor $ 1.234 (COP) y $ 1.234 COP.\n"
    "Línea Base: 12; LB: 14; Línea Base:|LB:\n"
    "alpha]] [[:alpha:]] hala:\n"
    "niños NIÑOS ninos\n"
    "Población poblacion POBLACIÓN\n"
    "DANE y SISBEN, dane.\n"
    "a\x0b" "b meta metaa metaaa\n"
    "Meta 2023: 10; Meta  2024: 12; Meta\\s+20\\d{2}:\n"
    "]]a]] xxy y\n"
    "tasa de homicidios\n"
    "al fin\n";

FF_TEST_OPTS (import, translation_resolution_and_report, .timeout = 120)
{
    char *upstream = s_temp_dir ();
    char *out = s_temp_dir ();
    s_fixture (upstream);
    //  Upstream inconsistencies that do not stop the import are warnings.
    s_write_text (upstream, "questions/Q301.json", "{}");
    s_write_json (upstream, "policy_areas/PA05_area/metadata.json", json_pack ("{s:s, s:s}",
                  "policy_area_id", "PA05", "cluster_id", "CL04"));
    s_result_t run = s_farfanctl ("import", "--farfan", upstream, "--out", out,
                                  "--source", S_SOURCE, "--json", NULL);
    cr_assert_eq (run.rc, 0, "exit %d: %s", run.rc, run.err);
    json_t *report = run.report;
    cr_assert_not_null (report);
    char *warnings = json_dumps (json_object_get (report, "warnings"), 0);
    cr_assert (strstr (warnings, "questions/Q301.json: not one of Q001.json..Q300.json: not imported"),
               "%s", warnings);
    cr_assert (strstr (warnings, "PA05_area/metadata.json: cluster_id CL04, the manifest says CL02"),
               "%s", warnings);
    free (warnings);

    //  Each case as written.
    json_t *q1 = s_micro (out, "Q001_PA01");
    cr_assert_not_null (q1);
    for (size_t i = 0; i < S_CASES; i++) {
        json_t *pattern = s_pattern (q1, s_cases [i].key);
        if (!s_cases [i].written) {
            cr_assert_null (pattern, "%s must be left out", s_cases [i].key);
            continue;
        }
        cr_assert_not_null (pattern, "%s missing", s_cases [i].key);
        cr_assert_str_eq (json_string_value (json_object_get (pattern, "regex")), s_cases [i].written,
                          "%s", s_cases [i].key);
        char *flags = json_dumps (json_object_get (pattern, "flags"), 0);
        cr_assert_eq (strstr (flags, "LITERAL") != NULL, s_cases [i].literal, "%s: %s",
                      s_cases [i].key, flags);
        free (flags);
        json_t *x_upstream = json_object_get (pattern, "x-upstream");
        cr_assert_str_eq (json_string_value (json_object_get (x_upstream, "type")), s_cases [i].type);
        json_t *original = json_object_get (x_upstream, "regex");
        if (strcmp (s_cases [i].upstream, s_cases [i].written) != 0)
            cr_assert_str_eq (json_string_value (original), s_cases [i].upstream, "%s", s_cases [i].key);
        else
            cr_assert_null (original, "%s unchanged: no x-upstream.regex", s_cases [i].key);
        cr_assert_float_eq (json_number_value (json_object_get (pattern, "weight")), 0.85, 1e-12);
    }
    //  Untranslatable patterns: reported with why and where.
    json_t *patterns = json_object_get (report, "patterns");
    json_t *untranslatable = json_object_get (patterns, "untranslatable");
    size_t expected_untranslatable = 0;
    for (size_t i = 0; i < S_CASES; i++) {
        if (s_cases [i].written)
            continue;
        json_t *entry = json_array_get (untranslatable, expected_untranslatable++);
        cr_assert_str_eq (json_string_value (json_object_get (entry, "id")), s_cases [i].key);
        cr_assert (strstr (json_string_value (json_object_get (entry, "why")), s_cases [i].why),
                   "%s: %s", s_cases [i].key, json_string_value (json_object_get (entry, "why")));
        json_t *where = json_object_get (entry, "contracts");
        cr_assert_eq (json_array_size (where), 1);
        cr_assert_str_eq (json_string_value (json_array_get (where, 0)), "Q001_PA01");
    }
    cr_assert_eq (json_array_size (untranslatable), expected_untranslatable);
    cr_assert_eq (s_int (patterns, "compiled"), 2 + S_CASES - expected_untranslatable);

    //  References: legacy id, contracts_v4 alias, unknown ids, a merge.
    json_t *refs = json_object_get (report, "references");
    cr_assert_eq (s_int (refs, "total"), 299 + S_CASES + 4 + 2);
    cr_assert_eq (s_int (refs, "legacy_ids"), 1);
    cr_assert_eq (s_int (refs, "contracts_v4"), 1);
    cr_assert_eq (s_int (refs, "unresolved"), 3);
    cr_assert_eq (s_int (refs, "merged"), 1);
    json_t *unresolved = json_object_get (refs, "unresolved_refs");
    cr_assert_eq (json_array_size (unresolved), 2);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (unresolved, 0), "ref")),
                      "PAT-GONE");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (unresolved, 1), "ref")),
                      "PAT-NOPE");
    cr_assert_eq (s_int (json_array_get (unresolved, 1), "count"), 2);
    json_t *q2 = s_micro (out, "Q002_PA01");
    json_t *legacy = s_pattern (q2, "PAT-LEG");
    cr_assert_not_null (legacy);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (legacy, "x-upstream"), "ref")),
                      "OLD-7");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (legacy, "x-upstream"),
                                                          "resolved_through")), "legacy_ids");
    //  The element map: INDICADOR -> indicadores_cuantitativos (category);
    //  FUENTE_OFICIAL -> fuentes_oficiales.
    cr_assert_str_eq (json_string_value (json_object_get (legacy, "element_type")),
                      "indicadores_cuantitativos");
    cr_assert_str_eq (json_string_value (json_object_get (s_pattern (q2, "PAT-BASE"), "element_type")),
                      "fuentes_oficiales");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (s_pattern (q2, "PAT-BASE"),
                                         "x-upstream"), "element_map")), "category");
    cr_assert_not_null (s_pattern (q2, "PAT-T09"), "alias ALIAS-9 -> PAT-T09");
    json_t *unresolved_refs = json_object_get (q2, "x-upstream-unresolved-refs");
    cr_assert_eq (json_array_size (unresolved_refs), 1);
    cr_assert_str_eq (json_string_value (json_array_get (unresolved_refs, 0)), "PAT-NOPE");

    //  Question 3 has no usable pattern: INACTIVE, reported.
    json_t *q3 = s_micro (out, "Q003_PA01");
    cr_assert_str_eq (json_string_value (json_object_get (q3, "status")), "INACTIVE");
    cr_assert_null (json_object_get (q3, "patterns"));
    json_t *inactive = json_object_get (json_object_get (report, "contracts"), "inactive");
    cr_assert_eq (json_array_size (inactive), 1);
    cr_assert_str_eq (json_string_value (json_array_get (inactive, 0)), "Q003_PA01");

    //  Expected elements as upstream gives them, other keys kept aside.
    json_t *elements = json_object_get (q2, "expected_elements");
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (elements, 0), "minimum")), 2);
    cr_assert (json_is_true (json_object_get (json_array_get (elements, 1), "required")));
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (json_array_get (elements, 1),
                      "x-upstream"), "description")), "cifras");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (q2, "scoring"), "modality")),
                      "TYPE_B");
    //  Every contract loads.
    cr_assert_eq (s_load_all (out), 679);
    cr_assert_eq (s_int2 (report, "load", "errors"), 0);

    //  Python agreement of every translated case on the fixture text.
    if (access (S_PYTHON, X_OK) == 0) {
        char text_path [1024];
        snprintf (text_path, sizeof text_path, "%s/text.txt", upstream);
        s_write_text (upstream, "text.txt", s_fixture_text);
        const char *ids [] = { "Q001_PA01", "Q002_PA01" };
        size_t compared = s_agree_with_python (out, ids, 2, text_path);
        cr_assert_eq (compared, (1 + S_CASES - expected_untranslatable) + 3);
    }
    json_decref (q1);
    json_decref (q2);
    json_decref (q3);
    s_result_fini (&run);
    ff_test_remove_dir (upstream);
    ff_test_remove_dir (out);
    free (upstream);
    free (out);
}

//  ---------------------------------------------------------------------
//  Bad input

//  Runs the import of upstream into a fresh directory: it must fail with
//  exit code 1, `needle` on stderr, and nothing written.
static void
s_import_fails (const char *upstream, const char *source, const char *needle)
{
    char *out = s_temp_dir ();
    char target [1024];
    snprintf (target, sizeof target, "%s/set", out);
    s_result_t run = s_farfanctl ("import", "--farfan", upstream, "--out", target,
                                  "--source", source, NULL);
    cr_assert_eq (run.rc, 1, "exit %d, stderr: %s", run.rc, run.err);
    cr_assert (strstr (run.err, needle), "\"%s\" not in: %s", needle, run.err);
    cr_assert (strstr (run.err, "the set was not written"), "%s", run.err);
    cr_assert_eq (access (target, F_OK), -1, "%s must not be created", target);
    s_result_fini (&run);
    //  --json: the same, as a report.
    run = s_farfanctl ("import", "--farfan", upstream, "--out", target, "--source", source,
                       "--json", NULL);
    cr_assert_eq (run.rc, 1);
    cr_assert_not_null (run.report, "--json must print a report: %s", run.out);
    cr_assert (json_is_false (json_object_get (run.report, "ok")));
    char *errors = json_dumps (json_object_get (run.report, "errors"), 0);
    cr_assert (strstr (errors, needle) || strstr (run.err, needle), "%s", errors);
    free (errors);
    s_result_fini (&run);
    ff_test_remove_dir (out);
    free (out);
}

FF_TEST_OPTS (import, bad_upstream_directories, .timeout = 120)
{
    s_import_fails ("/nonexistent/farfan", S_SOURCE,
                    "/nonexistent/farfan: cannot read the upstream directory: No such file or directory");
    char *upstream = s_temp_dir ();
    s_fixture (upstream);
    char path [1024];

    //  A missing registry.
    snprintf (path, sizeof path, "%s/patterns/MASTER_INDEX.json", upstream);
    char saved [1024];
    snprintf (saved, sizeof saved, "%s/saved.json", upstream);
    cr_assert_eq (rename (path, saved), 0);
    s_import_fails (upstream, S_SOURCE, "patterns/MASTER_INDEX.json: cannot read: No such file or directory");
    cr_assert_eq (rename (saved, path), 0);

    //  Malformed JSON in a question, and a question missing.
    snprintf (path, sizeof path, "%s/questions/Q017.json", upstream);
    cr_assert_eq (rename (path, saved), 0);
    s_write_text (upstream, "questions/Q017.json", "{\"question_id\": \"Q017\",\n  \"text\": }\n");
    s_import_fails (upstream, S_SOURCE, "questions/Q017.json: invalid JSON at line 2, column");
    unlink (path);
    s_import_fails (upstream, S_SOURCE, "questions/Q017.json: cannot read: No such file or directory");
    cr_assert_eq (rename (saved, path), 0);

    //  A question whose ids disagree with its number.
    snprintf (path, sizeof path, "%s/questions/Q031.json", upstream);
    json_error_t error;
    json_t *original = json_load_file (path, 0, &error);
    cr_assert_not_null (original);
    json_t *question = json_deep_copy (original);
    json_object_set_new (question, "policy_area_id", json_string ("PA03"));
    json_object_set_new (json_object_get (question, "scoring"), "modality", json_string ("TYPE_Z"));
    cr_assert_eq (json_dump_file (question, path, 0), 0);
    json_decref (question);
    //  Every problem is reported, not just the first.
    s_import_fails (upstream, S_SOURCE, "questions/Q031.json: policy_area_id: PA03, but Q031 is PA02 slot 1");
    s_import_fails (upstream, S_SOURCE,
                    "questions/Q031.json: scoring.modality: \"TYPE_Z\" is not a modality of scoring_system.json");
    cr_assert_eq (json_dump_file (original, path, 0), 0);
    json_decref (original);

    //  A scoring system without modalities; a manifest that is not an object.
    s_write_text (upstream, "scoring_system.json", "{\"micro_levels\": []}");
    s_import_fails (upstream, S_SOURCE, "scoring_system.json: modalities: must be an object");
    s_write_json (upstream, "scoring_system.json", json_pack ("{s:{s:{s:f}, s:{s:f}}}", "modalities",
                  "TYPE_A", "threshold", 0.7, "TYPE_B", "threshold", 0.65));
    s_write_text (upstream, "modular_manifest.json", "[1, 2]");
    s_import_fails (upstream, S_SOURCE, "modular_manifest.json: must be a JSON object");
    ff_test_remove_dir (upstream);
    free (upstream);
}

FF_TEST_OPTS (import, bad_element_map_and_usage, .timeout = 120)
{
    char *upstream = s_temp_dir ();
    s_fixture (upstream);
    //  A source directory with the structure but a broken element map.
    char *source = s_temp_dir ();
    size_t size;
    char *structure = ff_test_read_file (S_SOURCE "/structure.json", &size);
    cr_assert_not_null (structure);
    s_write_text (source, "structure.json", structure);
    free (structure);
    s_write_text (source, "upstream-element-map.json",
                  "{\"format\": \"farfan-upstream-element-map/1\", \"unmapped\": \"u:{category}\",\n"
                  " \"categories\": {\"GENERAL\": [\"a\", 3]}, \"cues\": {\"a\": \"b\"}, \"colour\": 1}\n");
    s_import_fails (upstream, source, "colour: unknown field");
    s_import_fails (upstream, source, "categories.GENERAL[1]: must be a non-empty string");
    s_import_fails (upstream, source, "cues.a: must be an array of strings");
    s_write_text (source, "upstream-element-map.json", "{\"format\": ");
    s_import_fails (upstream, source, "upstream-element-map.json: invalid JSON at line 1");
    char map [1024];
    snprintf (map, sizeof map, "%s/upstream-element-map.json", source);
    unlink (map);
    s_import_fails (upstream, source, "upstream-element-map.json: cannot read: No such file or directory");

    //  A directory that holds other contracts too: written, but a factory
    //  would load the extra contract with the set, so the import fails.
    char *out = s_temp_dir ();
    s_write_text (out, "extra.json",
                  "{\"format\": \"farfan-contract/1\", \"id\": \"EXTRA\", \"version\": \"1\", "
                  "\"type\": \"task\", \"applicable_phases\": [\"P00\"], "
                  "\"methods\": [{\"method\": \"core.noop\"}]}");
    s_result_t run = s_farfanctl ("import", "--farfan", upstream, "--out", out, "--source", S_SOURCE,
                                  NULL);
    cr_assert_eq (run.rc, 1, "%s", run.err);
    cr_assert (strstr (run.err, "holds 680 contracts, 679 were written"), "%s", run.err);
    cr_assert (strstr (run.err, "written but does not load"), "%s", run.err);
    s_result_fini (&run);

    //  Usage errors: exit 2, and a pointer to --help.
    static const char *const usage [][4] = {
        { "import", NULL },
        { "import", "--farfan", NULL },
        { "import", "--farfan", "x", NULL },
        { "import", "--out", "x", NULL },
        { "import", "--farfan", "x", "--bogus" },
        { "import", "extra", NULL },
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage [0]; i++) {
        run = s_farfanctl (usage [i][0], usage [i][1], usage [i][2], usage [i][3], NULL);
        cr_assert_eq (run.rc, 2, "case %zu: exit %d", i, run.rc);
        cr_assert (strstr (run.err, "see farfanctl contracts import --help"), "%s", run.err);
        s_result_fini (&run);
    }
    run = s_farfanctl ("import", "--help", NULL);
    cr_assert_eq (run.rc, 0);
    cr_assert (strstr (run.out, "Usage: farfanctl contracts import --farfan DIR --out DIR"));
    s_result_fini (&run);

    ff_test_remove_dir (out);
    ff_test_remove_dir (source);
    ff_test_remove_dir (upstream);
    free (out);
    free (source);
    free (upstream);
}
