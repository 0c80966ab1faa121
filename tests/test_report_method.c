/*  report.assemble (fac_methods_report.c): the report of a run from its
    inputs. A small FARFAN-shaped structure is built by hand (2 clusters,
    3 policy areas, 2 dimensions, 12 questions, their 6 dimension × area
    scores, a macro, the document profile, the plan's sections and the
    recommendations), and the JSON, Markdown and HTML are checked against
    the inputs: every level, every number equal to its input, evidence
    references, missing and failed inputs shown as such, hostile plan text
    escaped, parameters checked at load, the size of a full report. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fac_method.h"
#include "ff_test.h"

#define S_AREAS 3
#define S_DIMENSIONS 2
#define S_SLOTS 4                       // questions per area: Q001, Q002 (DIM01), Q003, Q004 (DIM02)
#define S_ELEMENTS 2
#define S_MATCHES 3
#define S_INPUTS_MAX 512

//  ---------------------------------------------------------------------
//  The fixture: inputs as the factory hands them to a method

typedef struct {
    fac_input_t inputs [S_INPUTS_MAX];
    size_t count;
    char *strings [8 * S_INPUTS_MAX * 8];   // everything allocated, freed at the end
    size_t string_count;
    fac_input_evidence_t *evidence [S_INPUTS_MAX];
    fac_input_match_t *matches [S_INPUTS_MAX];
    const char **missing [S_INPUTS_MAX];
    fac_contract_t *contract;
    fac_compiled_t *compiled;
    fac_context_t ctx;
    json_t *request;
    json_t *report;             // report.json, parsed (after t_run)
    const char *markdown;       // borrowed from ctx.output
    const char *html;
} t_fixture_t;

static char *
t_keep (t_fixture_t *t, char *text)
{
    cr_assert_not_null (text);
    cr_assert_lt (t->string_count, sizeof t->strings / sizeof t->strings [0]);
    t->strings [t->string_count++] = text;
    return text;
}

static char *
t_format (t_fixture_t *t, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static char *
t_format (t_fixture_t *t, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    int rc = vasprintf (&text, format, args);
    va_end (args);
    cr_assert_geq (rc, 0);
    return t_keep (t, text);
}

//  A new input, OK, every string "" (as the factory fills absent ones).
static fac_input_t *
t_input (t_fixture_t *t, const char *id, const char *type, double score)
{
    cr_assert_lt (t->count, S_INPUTS_MAX);
    fac_input_t *input = &t->inputs [t->count++];
    *input = (fac_input_t) {
        .contract_id = t_format (t, "%s", id), .status = 1, .score = score,
        .quality = fac_quality_level (score), .confidence = 0.75, .ratio = score / 3.0,
        .output_json = "", .type = type, .title = "", .base_question = "", .policy_area = "",
        .dimension = "", .cluster = "",
    };
    return input;
}

static fac_input_t *
t_find (t_fixture_t *t, const char *id)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp (t->inputs [i].contract_id, id) == 0)
            return &t->inputs [i];
    cr_assert_fail ("no input %s", id);
    return NULL;
}

//  The score of question slot q (1..) of area a (1..): fractions with no
//  short decimal form, so the JSON must carry the exact double; never
//  0.00 when printed (a missing score shown as 0 would be caught).
static double
t_question_score (int q, int a)
{
    return (double) (1 + (q * 7 + a * 3) % 13) / 4.7;
}

static double
t_cell_score (int d, int a)
{
    return 0.1 + (double) (d + 2 * a) / 3.7;
}

static const char *
t_cluster_of (int a)
{
    return a <= 2? "CL01": "CL02";
}

//  Evidence: element 0 "fuentes_oficiales" with S_MATCHES quotes (count
//  S_MATCHES + 2), element 1 "indicadores" with one. Offsets encode
//  question, area, element and match.
static void
t_question_evidence (t_fixture_t *t, fac_input_t *input, int q, int a, size_t snippet_bytes,
                     char fill)
{
    size_t index = (size_t) (input - t->inputs);
    fac_input_evidence_t *evidence = (fac_input_evidence_t *) calloc (S_ELEMENTS, sizeof *evidence);
    fac_input_match_t *matches = (fac_input_match_t *) calloc (S_ELEMENTS * S_MATCHES, sizeof *matches);
    cr_assert (evidence && matches);
    t->evidence [index] = evidence;
    t->matches [index] = matches;
    static const char *const types [] = { "fuentes_oficiales", "indicadores" };
    for (int e = 0; e < S_ELEMENTS; e++) {
        int quoted = e == 0? S_MATCHES: 1;
        for (int m = 0; m < quoted; m++) {
            fac_input_match_t *match = &matches [e * S_MATCHES + m];
            char *text;
            if (snippet_bytes) {
                text = t_keep (t, (char *) malloc (snippet_bytes + 1));
                memset (text, fill, snippet_bytes);
                text [snippet_bytes] = '\0';
            }
            else
                text = t_format (t, "según el DANE %d-%d-%d-%d", q, a, e, m);
            *match = (fac_input_match_t) {
                .offset = (uint64_t) (100000 * a + 1000 * q + 100 * e + m), .length = (uint32_t) strlen (text),
                .text = text, .pattern_id = t_format (t, "P%d", e),
            };
        }
        evidence [e] = (fac_input_evidence_t) {
            .element_type = types [e], .count = (uint32_t) (e == 0? S_MATCHES + 2: 1),
            .minimum = 1, .required = e == 0, .satisfied = true,
            .matches = &matches [e * S_MATCHES], .match_count = (size_t) quoted,
        };
    }
    input->evidence = evidence;
    input->evidence_count = S_ELEMENTS;
}

static void
t_question (t_fixture_t *t, int q, int a, int slots_per_dimension, size_t snippet_bytes, char fill)
{
    char id [32];
    snprintf (id, sizeof id, "SCORE_Q%03d_PA%02d", q, a);
    fac_input_t *input = t_input (t, id, "scoring", t_question_score (q, a));
    input->title = t_format (t, "¿El plan presenta la pregunta %d del área %d?", q, a);
    input->base_question = t_format (t, "Q%03d", q);
    input->policy_area = t_format (t, "PA%02d", a);
    input->dimension = t_format (t, "DIM%02d", (q - 1) / slots_per_dimension + 1);
    input->cluster = t_cluster_of (a);
    input->output_json = t_format (t, "{\"score.from_input\": {\"input\": \"Q%03d_PA%02d\"}, "
                                   "\"score.modality\": {\"modality\": \"TYPE_A\", \"score\": %.17g}}",
                                   q, a, input->score);
    t_question_evidence (t, input, q, a, snippet_bytes, fill);
    if (q % 2 == 0) {
        const char **missing = (const char **) calloc (1, sizeof (char *));
        cr_assert_not_null (missing);
        missing [0] = "metas_cuantificadas";
        t->missing [input - t->inputs] = missing;
        input->missing_elements = missing;
        input->missing_count = 1;
    }
}

static void
t_structure (t_fixture_t *t, int areas, int dimensions, int slots, size_t snippet_bytes, char fill)
{
    static const char *const dimension_names [] = {
        "Diagnóstico y recursos", "Diseño de la intervención", "Productos", "Resultados",
        "Impactos", "Causalidad",
    };
    int per_dimension = slots / dimensions;
    for (int a = 1; a <= areas; a++)
        for (int q = 1; q <= slots; q++)
            t_question (t, q, a, per_dimension, snippet_bytes, fill);
    for (int a = 1; a <= areas; a++)
        for (int d = 1; d <= dimensions; d++) {
            char id [32];
            snprintf (id, sizeof id, "AGG_DIM%02d_PA%02d", d, a);
            fac_input_t *input = t_input (t, id, "aggregation", t_cell_score (d, a));
            input->title = t_format (t, "%s — Área número %d", dimension_names [(d - 1) % 6], a);
            input->policy_area = t_format (t, "PA%02d", a);
            input->dimension = t_format (t, "DIM%02d", d);
            char used [4096] = "";
            for (int q = (d - 1) * per_dimension + 1; q <= d * per_dimension; q++)
                snprintf (used + strlen (used), sizeof used - strlen (used), "%s\"SCORE_Q%03d_PA%02d\"",
                          *used? ", ": "", q, a);
            input->output_json = t_format (t, "{\"aggregate.choquet\": {\"used\": [%s], \"missing\": []}}",
                                           used);
        }
    for (int a = 1; a <= areas; a++) {
        char id [32];
        snprintf (id, sizeof id, "AGG_PA%02d", a);
        fac_input_t *input = t_input (t, id, "aggregation", 0.2 + (double) a / 2.9);
        input->title = t_format (t, "Área número %d", a);
        input->policy_area = t_format (t, "PA%02d", a);
        input->output_json = "{\"aggregate.weighted_mean\": {\"used\": [], \"missing\": []}}";
    }
    for (int c = 1; c <= (areas > 2? 2: 1); c++) {
        char id [32];
        snprintf (id, sizeof id, "AGG_CL%02d", c);
        fac_input_t *input = t_input (t, id, "aggregation", 1.0 + (double) c / 7.0);
        input->title = t_format (t, "Grupo de políticas %d", c);
        input->cluster = t_format (t, "CL%02d", c);
        input->output_json = c == 1
            ? "{\"aggregate.weighted_mean\": {\"used\": [\"AGG_PA01\", \"AGG_PA02\"], \"missing\": [], "
              "\"dispersion\": {\"stddev\": 0.25, \"penalty\": 0.05}}}"
            : "{\"aggregate.weighted_mean\": {\"used\": [\"AGG_PA03\"], \"missing\": []}}";
    }
    fac_input_t *macro = t_input (t, "AGG_MACRO", "aggregation", 1.0 + 1.0 / 3.0);
    macro->title = "Índice global del plan";
    macro->output_json = "{\"aggregate.weighted_mean\": {\"used\": [\"AGG_CL01\", \"AGG_CL02\"], "
                         "\"coherence\": {\"index\": 0.9, \"factor\": 0.97}}}";
    fac_input_t *profile = t_input (t, "VALIDATE_DOCUMENT", "task", NAN);
    profile->quality = "";
    profile->title = "Validación del documento";
    profile->output_json = "{\"text.profile\": {\"bytes\": 123456, \"digits\": 812, \"lines\": 2040, "
                           "\"pages\": 12, \"spanish_ratio\": 0.4125, \"warnings\": [], \"words\": 20101}}";
    fac_input_t *sections = t_input (t, "INGEST", "ingestion", NAN);
    sections->quality = "";
    sections->output_json = "{\"text.sections\": {\"sections\": ["
        "{\"title\": \"1. DIAGNÓSTICO\", \"offset\": 0, \"length\": 5000, \"level\": 1, \"page\": 1},"
        "{\"title\": \"1.1. Población\", \"offset\": 120, \"length\": 800, \"level\": 2, \"page\": 2},"
        "{\"title\": \"2. PLAN DE INVERSIONES\", \"offset\": 5000, \"length\": 7000, \"level\": 1}],"
        "\"chunks\": []}}";
    fac_input_t *recommend = t_input (t, "RECOMMEND", "recommendation", NAN);
    recommend->quality = "";
    recommend->ratio = 0.5;
    recommend->output_json = "{\"recommend.rules\": {\"recommendations\": ["
        "{\"rule\": \"R1\", \"contract\": \"SCORE_Q002_PA01\", \"base_question\": \"Q002\", "
        "\"policy_area\": \"PA01\", \"dimension\": \"DIM01\", \"score\": 0.5, \"quality\": \"INSUFICIENTE\", "
        "\"element\": \"metas_cuantificadas\", \"section\": {\"title\": \"2. PLAN DE INVERSIONES\", "
        "\"offset\": 5000, \"page\": 5}, \"priority\": \"alta\", \"text\": \"Incluya metas cuantificadas en el plan.\"},"
        "{\"rule\": \"R2\", \"contract\": \"SCORE_Q004_PA03\", \"base_question\": \"Q004\", "
        "\"policy_area\": \"PA03\", \"dimension\": \"DIM02\", \"score\": 1.25, \"quality\": \"INSUFICIENTE\", "
        "\"element\": null, \"section\": null, \"priority\": \"media\", \"text\": \"Revise la pregunta.\"}"
        "], \"counts\": {\"alta\": 1, \"media\": 1}}}";
}

//  The report contract, naming every input of the fixture (plus extra ids
//  the request does not carry).
static void
t_contract (t_fixture_t *t, const char *const *extra, size_t extra_count)
{
    const char *ids [S_INPUTS_MAX + 8];
    cr_assert_leq (t->count + extra_count, sizeof ids / sizeof ids [0]);
    for (size_t i = 0; i < t->count; i++)
        ids [i] = t->inputs [i].contract_id;
    for (size_t i = 0; i < extra_count; i++)
        ids [t->count + i] = extra [i];
    ff_test_contract_spec_t spec = {
        .id = "REPORT", .type = "report", .title = "Informe del plan de desarrollo",
        .inputs = ids, .input_count = t->count + extra_count, .modality = "",
        .base_question = "", .policy_area = "", .dimension = "", .cluster = "",
    };
    t->compiled = ff_test_compile (ff_test_contract_new (&spec));
    t->contract = t->compiled->contract;
}

static t_fixture_t *
t_new (void)
{
    t_fixture_t *t = (t_fixture_t *) calloc (1, sizeof (t_fixture_t));
    cr_assert_not_null (t);
    t->request = json_object ();
    return t;
}

static void
t_destroy (t_fixture_t *t)
{
    fac_context_fini (&t->ctx);
    json_decref (t->report);
    json_decref (t->request);
    if (t->compiled)
        ff_test_compiled_free (t->compiled);
    for (size_t i = 0; i < S_INPUTS_MAX; i++) {
        free (t->evidence [i]);
        free (t->matches [i]);
        free (t->missing [i]);
    }
    for (size_t i = 0; i < t->string_count; i++)
        free (t->strings [i]);
    free (t);
}

static json_t *
t_json (const char *text)
{
    json_error_t error;
    json_t *value = json_loads (text, 0, &error);
    cr_assert_not_null (value, "bad JSON: %s (line %d)", error.text, error.line);
    return value;
}

//  Checks and runs report.assemble over the fixture's inputs in ctx_inputs
//  (the first ctx_count of them; the contract names them all); returns the
//  run's rc. On success t->report, markdown and html are set (those asked for).
static int
t_run_some (t_fixture_t *t, const char *params_json, size_t ctx_count)
{
    const fac_method_t *method = fac_method_lookup ("report.assemble");
    cr_assert_not_null (method);
    cr_assert_eq (method->kind, FAC_METHOD_CPU);
    json_t *params = t_json (params_json);
    char err [256] = "";
    cr_assert_eq (method->check (params, t->contract, NULL, err, sizeof err), 0,
                  "%s refused: %s", params_json, err);
    fac_context_init (&t->ctx, t->compiled, NULL, 0, t->inputs, ctx_count, t->request);
    int rc = method->run (&t->ctx, params);
    json_decref (params);
    if (rc)
        return rc;
    json_t *output = json_object_get (t->ctx.output, "report.assemble");
    cr_assert (json_is_object (output));
    json_t *report = json_object_get (output, "report");
    cr_assert (json_is_object (report));
    const char *text = json_string_value (json_object_get (report, "json"));
    if (text)
        t->report = t_json (text);
    t->markdown = json_string_value (json_object_get (report, "markdown"));
    t->html = json_string_value (json_object_get (report, "html"));
    return 0;
}

static void
t_run (t_fixture_t *t, const char *params_json)
{
    int rc = t_run_some (t, params_json, t->count);
    cr_assert_eq (rc, 0, "report.assemble failed: %s", t->ctx.error);
}

static json_t *
t_summary (t_fixture_t *t)
{
    json_t *summary = json_object_get (json_object_get (t->ctx.output, "report.assemble"), "summary");
    cr_assert (json_is_object (summary));
    return summary;
}

//  The element of a JSON array whose member key equals value.
static json_t *
t_entry (const json_t *array, const char *key, const char *value)
{
    size_t index;
    json_t *entry;
    json_array_foreach ((json_t *) array, index, entry)
        if (json_is_string (json_object_get (entry, key))
        &&  strcmp (json_string_value (json_object_get (entry, key)), value) == 0)
            return entry;
    cr_assert_fail ("no entry with %s = %s", key, value);
    return NULL;
}

static const char *
t_str (const json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    cr_assert_not_null (value, "%s is not a string", key);
    return value;
}

static size_t
t_occurrences (const char *text, const char *needle)
{
    size_t count = 0;
    for (const char *at = strstr (text, needle); at; at = strstr (at + 1, needle))
        count++;
    return count;
}

//  Asserts a JSON score equals the input's exactly (a number), or is null
//  for an input that is not OK.
static void
t_assert_result (const json_t *entry, const fac_input_t *input)
{
    cr_assert_str_eq (t_str (entry, "contract"), input->contract_id);
    json_t *score = json_object_get (entry, "score");
    if (input->status == 1) {
        cr_assert_str_eq (t_str (entry, "status"), "ok");
        cr_assert (json_is_number (score), "%s: score is not a number", input->contract_id);
        cr_assert (json_number_value (score) == input->score, "%s: score %.17g != input %.17g",
                   input->contract_id, json_number_value (score), input->score);
        cr_assert_str_eq (t_str (entry, "quality"), input->quality);
        cr_assert (json_number_value (json_object_get (entry, "confidence")) == input->confidence);
    }
    else {
        cr_assert (json_is_null (score), "%s: a score for an input that is not OK", input->contract_id);
        cr_assert (json_is_null (json_object_get (entry, "quality")));
    }
}

//  ---------------------------------------------------------------------
//  The tests

FF_TEST (report_method, is_registered_as_a_cpu_method)
{
    const fac_method_t *method = fac_method_lookup ("report.assemble");
    cr_assert_not_null (method);
    cr_assert_eq (method->kind, FAC_METHOD_CPU);
    cr_assert_not_null (method->check);
    cr_assert_not_null (method->run);
    cr_assert_gt (strlen (method->summary), 10);
}

FF_TEST (report_method, json_has_every_level_with_the_inputs_numbers)
{
    t_fixture_t *t = t_new ();
    t_structure (t, S_AREAS, S_DIMENSIONS, S_SLOTS, 0, 0);
    t_contract (t, NULL, 0);
    t_run (t, "{}");
    json_t *report = t->report;
    cr_assert_str_eq (t_str (report, "format"), "farfan-report/1");
    //  No title param: the contract's.
    cr_assert_str_eq (t_str (report, "title"), "Informe del plan de desarrollo");
    //  Every input present and OK: the result's ratio is 1.
    json_t *inputs = json_object_get (report, "inputs");
    cr_assert_eq (json_integer_value (json_object_get (inputs, "total")), (json_int_t) t->count);
    cr_assert_eq (json_integer_value (json_object_get (inputs, "ok")), (json_int_t) t->count);
    cr_assert_eq (json_array_size (json_object_get (inputs, "not_ok")), 0);
    cr_assert (t->ctx.ratio == 1.0);

    //  Macro, with its method's coherence.
    json_t *macro = json_object_get (report, "macro");
    t_assert_result (macro, t_find (t, "AGG_MACRO"));
    cr_assert_str_eq (t_str (macro, "title"), "Índice global del plan");
    cr_assert (json_real_value (json_object_get (json_object_get (json_object_get (
        json_object_get (macro, "output"), "aggregate.weighted_mean"), "coherence"), "index")) == 0.9);

    //  Clusters, sorted, with their policy areas (CL01 from the aggregation's
    //  "used" list, since policy-area contracts carry no cluster).
    json_t *clusters = json_object_get (report, "clusters");
    cr_assert_eq (json_array_size (clusters), 2);
    cr_assert_str_eq (t_str (json_array_get (clusters, 0), "code"), "CL01");
    cr_assert_str_eq (t_str (json_array_get (clusters, 1), "code"), "CL02");
    t_assert_result (json_array_get (clusters, 0), t_find (t, "AGG_CL01"));
    t_assert_result (json_array_get (clusters, 1), t_find (t, "AGG_CL02"));
    cr_assert_str_eq (t_str (json_array_get (clusters, 0), "title"), "Grupo de políticas 1");
    json_t *members = json_object_get (json_array_get (clusters, 0), "policy_areas");
    cr_assert_eq (json_array_size (members), 2);
    cr_assert_str_eq (json_string_value (json_array_get (members, 0)), "PA01");
    cr_assert_str_eq (json_string_value (json_array_get (members, 1)), "PA02");
    members = json_object_get (json_array_get (clusters, 1), "policy_areas");
    cr_assert_eq (json_array_size (members), 1);
    cr_assert_str_eq (json_string_value (json_array_get (members, 0)), "PA03");

    //  Dimensions, named from the dimension × area titles.
    json_t *dimensions = json_object_get (report, "dimensions");
    cr_assert_eq (json_array_size (dimensions), S_DIMENSIONS);
    cr_assert_str_eq (t_str (json_array_get (dimensions, 0), "code"), "DIM01");
    cr_assert_str_eq (t_str (json_array_get (dimensions, 0), "title"), "Diagnóstico y recursos");
    cr_assert_str_eq (t_str (json_array_get (dimensions, 1), "title"), "Diseño de la intervención");

    //  Policy areas with their dimension scores and questions.
    json_t *areas = json_object_get (report, "policy_areas");
    cr_assert_eq (json_array_size (areas), S_AREAS);
    for (int a = 1; a <= S_AREAS; a++) {
        char code [8], id [32];
        snprintf (code, sizeof code, "PA%02d", a);
        snprintf (id, sizeof id, "AGG_PA%02d", a);
        json_t *area = json_array_get (areas, (size_t) a - 1);
        cr_assert_str_eq (t_str (area, "code"), code);
        cr_assert_str_eq (t_str (area, "cluster"), t_cluster_of (a));
        t_assert_result (area, t_find (t, id));
        char title [64];
        snprintf (title, sizeof title, "Área número %d", a);
        cr_assert_str_eq (t_str (area, "title"), title);
        json_t *cells = json_object_get (area, "dimensions");
        cr_assert_eq (json_array_size (cells), S_DIMENSIONS);
        for (int d = 1; d <= S_DIMENSIONS; d++) {
            snprintf (id, sizeof id, "AGG_DIM%02d_PA%02d", d, a);
            json_t *cell = json_array_get (cells, (size_t) d - 1);
            t_assert_result (cell, t_find (t, id));
            cr_assert (json_number_value (json_object_get (cell, "score")) == t_cell_score (d, a));
            cr_assert_eq (json_array_size (json_object_get (json_object_get (json_object_get (cell, "output"),
                          "aggregate.choquet"), "used")), S_SLOTS / S_DIMENSIONS);
        }
        cr_assert_eq (json_array_size (json_object_get (area, "questions")), S_SLOTS);
    }

    //  Questions: every one, its number, title, identity, evidence.
    json_t *questions = json_object_get (report, "questions");
    cr_assert_eq (json_array_size (questions), S_AREAS * S_SLOTS);
    for (int a = 1; a <= S_AREAS; a++)
        for (int q = 1; q <= S_SLOTS; q++) {
            char id [32];
            snprintf (id, sizeof id, "SCORE_Q%03d_PA%02d", q, a);
            const fac_input_t *input = t_find (t, id);
            json_t *entry = json_array_get (questions, (size_t) ((a - 1) * S_SLOTS + q - 1));
            t_assert_result (entry, input);
            cr_assert (json_number_value (json_object_get (entry, "score")) == t_question_score (q, a));
            cr_assert_str_eq (t_str (entry, "title"), input->title);
            cr_assert_str_eq (t_str (entry, "base_question"), input->base_question);
            cr_assert_str_eq (t_str (entry, "policy_area"), input->policy_area);
            cr_assert_str_eq (t_str (entry, "dimension"), input->dimension);
            cr_assert_str_eq (t_str (entry, "modality"), "TYPE_A");
            cr_assert_eq (json_integer_value (json_object_get (entry, "matches")), S_MATCHES + 2 + 1);
            json_t *elements = json_object_get (entry, "elements");
            cr_assert_eq (json_array_size (elements), S_ELEMENTS);
            cr_assert_str_eq (t_str (json_array_get (elements, 0), "element_type"), "fuentes_oficiales");
            cr_assert_eq (json_integer_value (json_object_get (json_array_get (elements, 0), "count")),
                          S_MATCHES + 2);
            //  3 quotes (the default), each element in turn: fuentes 0,
            //  indicadores 0, fuentes 1.
            json_t *evidence = json_object_get (entry, "evidence");
            cr_assert_eq (json_array_size (evidence), 3);
            static const int order [3][2] = { { 0, 0 }, { 1, 0 }, { 0, 1 } };
            for (size_t r = 0; r < 3; r++) {
                json_t *ref = json_array_get (evidence, r);
                const fac_input_match_t *match = &input->evidence [order [r][0]].matches [order [r][1]];
                cr_assert_str_eq (t_str (ref, "contract"), id);
                cr_assert_str_eq (t_str (ref, "element_type"), input->evidence [order [r][0]].element_type);
                cr_assert_eq ((uint64_t) json_integer_value (json_object_get (ref, "offset")), match->offset);
                cr_assert_eq ((uint32_t) json_integer_value (json_object_get (ref, "length")), match->length);
                cr_assert_str_eq (t_str (ref, "text"), match->text);
                cr_assert_str_eq (t_str (ref, "pattern"), match->pattern_id);
            }
            json_t *missing = json_object_get (entry, "missing_elements");
            cr_assert_eq (json_array_size (missing), q % 2 == 0? 1: 0);
            if (q % 2 == 0)
                cr_assert_str_eq (json_string_value (json_array_get (missing, 0)), "metas_cuantificadas");
        }

    //  Document profile (as the input gave it), sections, recommendations.
    json_t *document = json_object_get (report, "document");
    cr_assert_str_eq (t_str (document, "contract"), "VALIDATE_DOCUMENT");
    json_t *profile = json_object_get (document, "profile");
    cr_assert_eq (json_integer_value (json_object_get (profile, "words")), 20101);
    cr_assert_eq (json_integer_value (json_object_get (profile, "pages")), 12);
    cr_assert (json_real_value (json_object_get (profile, "spanish_ratio")) == 0.4125);
    json_t *sections = json_object_get (report, "sections");
    cr_assert_eq (json_integer_value (json_object_get (sections, "count")), 3);
    json_t *section = json_array_get (json_object_get (sections, "items"), 1);
    cr_assert_str_eq (t_str (section, "title"), "1.1. Población");
    cr_assert_eq (json_integer_value (json_object_get (section, "offset")), 120);
    cr_assert_eq (json_integer_value (json_object_get (section, "length")), 800);
    cr_assert_eq (json_integer_value (json_object_get (section, "level")), 2);
    cr_assert_eq (json_integer_value (json_object_get (section, "page")), 2);
    cr_assert_null (json_object_get (json_array_get (json_object_get (sections, "items"), 2), "page"));
    json_t *recommendations = json_object_get (report, "recommendations");
    cr_assert_eq (json_integer_value (json_object_get (recommendations, "count")), 2);
    cr_assert_eq (json_integer_value (json_object_get (recommendations, "malformed")), 0);
    json_t *items = json_object_get (recommendations, "items");
    json_t *first = t_entry (items, "rule", "R1");
    cr_assert_str_eq (t_str (first, "contract"), "SCORE_Q002_PA01");
    cr_assert_str_eq (t_str (first, "priority"), "alta");
    cr_assert_str_eq (t_str (first, "element"), "metas_cuantificadas");
    cr_assert (json_number_value (json_object_get (first, "score")) == 0.5);
    cr_assert_str_eq (t_str (json_object_get (first, "section"), "title"), "2. PLAN DE INVERSIONES");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (first, "section"), "offset")), 5000);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (first, "section"), "page")), 5);
    json_t *second = t_entry (items, "rule", "R2");
    cr_assert (json_is_null (json_object_get (second, "section")));
    cr_assert (json_is_null (json_object_get (second, "element")));
    cr_assert_eq (json_array_size (json_object_get (report, "other_inputs")), 0);

    //  The summary beside the report.
    json_t *summary = t_summary (t);
    cr_assert_eq (json_integer_value (json_object_get (summary, "inputs")), (json_int_t) t->count);
    cr_assert_eq (json_integer_value (json_object_get (summary, "questions")), S_AREAS * S_SLOTS);
    cr_assert_eq (json_integer_value (json_object_get (summary, "questions_ok")), S_AREAS * S_SLOTS);
    cr_assert_eq (json_integer_value (json_object_get (summary, "dimension_scores")), S_AREAS * S_DIMENSIONS);
    cr_assert_eq (json_integer_value (json_object_get (summary, "policy_areas")), S_AREAS);
    cr_assert_eq (json_integer_value (json_object_get (summary, "clusters")), 2);
    cr_assert_eq (json_integer_value (json_object_get (summary, "recommendations")), 2);
    cr_assert_eq (json_integer_value (json_object_get (summary, "evidence_quoted")), S_AREAS * S_SLOTS * 3);
    cr_assert (json_number_value (json_object_get (json_object_get (summary, "macro"), "score"))
               == t_find (t, "AGG_MACRO")->score);
    cr_assert_eq (json_array_size (json_object_get (summary, "formats")), 3);
    cr_assert_eq ((size_t) json_integer_value (json_object_get (json_object_get (summary, "bytes"), "html")),
                  strlen (t->html));
    //  The report is not a score: the result carries only its ratio.
    cr_assert (isnan (t->ctx.score));
    t_destroy (t);
}

FF_TEST (report_method, evidence_per_question_caps_the_quotes)
{
    for (int cap = 0; cap <= 5; cap += 5) {
        t_fixture_t *t = t_new ();
        t_structure (t, 1, S_DIMENSIONS, S_SLOTS, 0, 0);
        t_contract (t, NULL, 0);
        char params [64];
        snprintf (params, sizeof params, "{\"evidence_per_question\": %d}", cap);
        t_run (t, params);
        //  5 asked: the 4 quoted matches there are (3 + 1), in turn.
        size_t expected = cap == 0? 0: 4;
        json_t *questions = json_object_get (t->report, "questions");
        size_t index;
        json_t *entry;
        json_array_foreach (questions, index, entry) {
            json_t *evidence = json_object_get (entry, "evidence");
            cr_assert_eq (json_array_size (evidence), expected);
            //  The references to what was not quoted: the counts stay.
            cr_assert_eq (json_integer_value (json_object_get (entry, "matches")), 6);
        }
        if (cap == 0) {
            cr_assert_eq (t_occurrences (t->html, "<q>"), 0);
            cr_assert_geq (t_occurrences (t->html, "0 of 6 matches quoted"), S_SLOTS);
        }
        else {
            cr_assert_str_eq (t_str (json_array_get (json_object_get (json_array_get (questions, 0), "evidence"), 3),
                                     "element_type"), "fuentes_oficiales");
            cr_assert_eq (t_occurrences (t->html, "<q>"), S_SLOTS * 4);
            cr_assert_geq (t_occurrences (t->html, "4 of 6 matches quoted"), S_SLOTS);
            cr_assert_geq (t_occurrences (t->markdown, "4 of 6 matches quoted"), S_SLOTS);
        }
        t_destroy (t);
    }
}

FF_TEST (report_method, html_is_one_self_contained_page)
{
    t_fixture_t *t = t_new ();
    t_structure (t, S_AREAS, S_DIMENSIONS, S_SLOTS, 0, 0);
    t_contract (t, NULL, 0);
    t_run (t, "{\"title\": \"Informe de prueba\"}");
    const char *html = t->html;
    cr_assert_not_null (html);
    cr_assert (strncmp (html, "<!DOCTYPE html>", 15) == 0);
    cr_assert_not_null (strstr (html, "<meta charset=\"utf-8\">"));
    cr_assert_not_null (strstr (html, "<title>Informe de prueba</title>"));
    cr_assert_not_null (strstr (html, "<style>"));
    cr_assert_not_null (strstr (html, "</html>\n"));
    //  Nothing fetched, nothing run.
    static const char *const forbidden [] = {
        "http:", "https:", "src=", "<script", "<link", "@import", "url(", "<iframe", "<img",
        "javascript", "<object", "<embed",
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden [0]; i++)
        cr_assert_null (strstr (html, forbidden [i]), "the page has %s", forbidden [i]);
    //  A bar chart per level: clusters, policy areas, the questions of each area.
    cr_assert_eq (t_occurrences (html, "<svg "), 2 + S_AREAS);
    cr_assert_eq (t_occurrences (html, "</svg>"), 2 + S_AREAS);
    cr_assert_not_null (strstr (html, "aria-label=\"Cluster scores (0-3)\""));
    cr_assert_not_null (strstr (html, "aria-label=\"Policy area scores (0-3)\""));
    //  The heat table: one score cell per dimension × area, with its contract.
    char cell [128], score [16];
    snprintf (score, sizeof score, "%.2f", t_cell_score (2, 3));
    snprintf (cell, sizeof cell, "title=\"AGG_DIM02_PA03 \xc2\xb7 %s\">%s</td>",
              fac_quality_level (t_cell_score (2, 3)), score);
    cr_assert_not_null (strstr (html, cell), "no cell %s", cell);
    //  Evidence quoted with offsets, and the recommendations.
    const fac_input_match_t *match = &t_find (t, "SCORE_Q003_PA02")->evidence [0].matches [1];
    char quote [256];
    snprintf (quote, sizeof quote, "<q>%s</q> <span class=\"off\">fuentes_oficiales \xc2\xb7 @%llu, %u B</span>",
              match->text, (unsigned long long) match->offset, match->length);
    cr_assert_not_null (strstr (html, quote), "no quote %s", quote);
    cr_assert_not_null (strstr (html, "Incluya metas cuantificadas en el plan."));
    cr_assert_not_null (strstr (html, "2. PLAN DE INVERSIONES <span class=\"off\">p. 5, @5000</span>"));
    cr_assert_not_null (strstr (html, "<td style=\"padding-left:2em\">1.1. Población</td><td class=\"n\">2</td><td class=\"n\">120</td>"));
    cr_assert_not_null (strstr (html, "no section found"));
    //  Every question's score, as the input has it (2 decimals).
    for (int a = 1; a <= S_AREAS; a++)
        for (int q = 1; q <= S_SLOTS; q++) {
            char id [32], text [96];
            snprintf (id, sizeof id, "SCORE_Q%03d_PA%02d", q, a);
            snprintf (text, sizeof text, "title=\"%s \xc2\xb7 %s\">%.2f</td>", id,
                      fac_quality_level (t_question_score (q, a)), t_question_score (q, a));
            cr_assert_not_null (strstr (html, text), "no score cell %s", text);
        }
    //  The document profile, every member.
    cr_assert_not_null (strstr (html, "<tr><td>words</td><td>20101</td></tr>"));
    cr_assert_not_null (strstr (html, "<tr><td>spanish_ratio</td><td>0.4125</td></tr>"));
    cr_assert_not_null (strstr (html, "<tr><td>warnings</td><td>none</td></tr>"));
    t_destroy (t);
}

FF_TEST (report_method, hostile_plan_text_is_escaped)
{
    t_fixture_t *t = t_new ();
    t_structure (t, 1, S_DIMENSIONS, S_SLOTS, 0, 0);
    fac_input_t *question = t_find (t, "SCORE_Q001_PA01");
    question->title = "<script>alert('t')</script> | *negrita* [enlace](javascript:alert(1)) _cursiva_";
    fac_input_match_t *match = (fac_input_match_t *) &question->evidence [0].matches [0];
    match->text = "\"><img src=x onerror=alert(1)> http://evil.example/a.js <script>x</script>";
    t_find (t, "AGG_PA01")->title = "Área <b>uno</b> & \"dos\"";
    fac_input_t *recommend = t_find (t, "RECOMMEND");
    recommend->output_json = "{\"recommend.rules\": {\"recommendations\": [{\"rule\": \"<script>\", "
                             "\"priority\": \"alta\", \"section\": {\"title\": \"<iframe src=x>\", \"offset\": 3}, "
                             "\"text\": \"<script src=\\\"http://evil.example\\\"></script>\"}]}}";
    t_contract (t, NULL, 0);
    t_run (t, "{\"title\": \"<script>document.title</script>\"}");
    const char *html = t->html;
    //  No markup from the plan; in HTML not even text a filter could take
    //  for an attribute or a URL.
    static const char *const forbidden [] = {
        "<script", "<img", "<iframe", "<b>uno", "src=", "http:", "javascript:", "onerror=",
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden [0]; i++) {
        cr_assert_null (strstr (html, forbidden [i]), "HTML has %s", forbidden [i]);
        if (i < 4)
            cr_assert_null (strstr (t->markdown, forbidden [i]), "Markdown has %s", forbidden [i]);
    }
    //  Markdown: no link, emphasis or cell break from plan text either
    //  (the escaped form is checked below).
    cr_assert_null (strstr (t->markdown, " *negrita*"));
    //  Shown, escaped.
    cr_assert_not_null (strstr (html, "<title>&lt;script&gt;document.title&lt;/script&gt;</title>"));
    cr_assert_not_null (strstr (html, "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"));
    cr_assert_not_null (strstr (html, "&quot;&gt;&lt;img src&#61;x onerror&#61;alert(1)&gt; http&#58;//evil.example"));
    cr_assert_not_null (strstr (html, "Área &lt;b&gt;uno&lt;/b&gt; &amp; &quot;dos&quot;"));
    cr_assert_not_null (strstr (t->markdown, "&lt;script&gt;alert('t')&lt;/script&gt; \\| \\*negrita\\* "
                                             "\\[enlace\\](javascript:alert(1)) \\_cursiva\\_"));
    //  The JSON is data: the text as it is.
    json_t *entry = t_entry (json_object_get (t->report, "questions"), "contract", "SCORE_Q001_PA01");
    cr_assert_str_eq (t_str (entry, "title"), question->title);
    cr_assert_str_eq (t_str (json_array_get (json_object_get (entry, "evidence"), 0), "text"), match->text);
    cr_assert_str_eq (t_str (t->report, "title"), "<script>document.title</script>");
    t_destroy (t);
}

FF_TEST (report_method, markdown_has_the_same_content_in_tables)
{
    t_fixture_t *t = t_new ();
    t_structure (t, S_AREAS, S_DIMENSIONS, S_SLOTS, 0, 0);
    t_find (t, "SCORE_Q002_PA02")->title = "¿Hay metas | indicadores?";
    t_contract (t, NULL, 0);
    t_run (t, "{\"formats\": [\"markdown\", \"json\"], \"title\": \"Informe\"}");
    const char *md = t->markdown;
    cr_assert_not_null (md);
    cr_assert_null (t->html);
    cr_assert (strncmp (md, "# Informe\n\n", 11) == 0);
    static const char *const headings [] = {
        "\n## Overall\n", "\n## Document\n", "\n## Clusters\n", "\n## Policy areas\n",
        "\n## Dimensions \xc3\x97 policy areas\n", "\n## Questions\n", "\n### PA01 \xe2\x80\x94 Área número 1\n",
        "\n## Recommendations\n", "\n## Plan sections\n", "\n## Inputs missing or failed\n",
        "| Cluster | Name | Policy areas | Score | Quality | Confidence | Adjustment | Contract |\n"
        "| --- | --- | --- | ---: | --- | ---: | --- | --- |\n",
        "| Policy area | DIM01 | DIM02 |\n| --- | ---: | ---: |\n",
        "| Level | Title | Page | Byte offset | Length |\n",
    };
    for (size_t i = 0; i < sizeof headings / sizeof headings [0]; i++)
        cr_assert_not_null (strstr (md, headings [i]), "no %s", headings [i]);
    char row [256];
    snprintf (row, sizeof row, "| CL01 | Grupo de políticas 1 | PA01, PA02 | %.2f | %s | 0.75 | "
              "\xcf\x83 0.25, penalty 0.05 | AGG_CL01 |\n", t_find (t, "AGG_CL01")->score,
              t_find (t, "AGG_CL01")->quality);
    cr_assert_not_null (strstr (md, row), "no row %s", row);
    snprintf (row, sizeof row, "| PA03 Área número 3 | %.2f | %.2f |\n", t_cell_score (1, 3), t_cell_score (2, 3));
    cr_assert_not_null (strstr (md, row), "no row %s", row);
    snprintf (row, sizeof row, "| Q002 | DIM01 | ¿Hay metas \\| indicadores? | %.2f | %s | ",
              t_question_score (2, 2), fac_quality_level (t_question_score (2, 2)));
    cr_assert_not_null (strstr (md, row), "no row %s", row);
    cr_assert_not_null (strstr (md, "| metas_cuantificadas |\n"));
    cr_assert_not_null (strstr (md, "| 2 | 1.1. Población | 2 | 120 | 800 |\n"));
    cr_assert_not_null (strstr (md, "| words | 20101 |\n"));
    cr_assert_not_null (strstr (md, "| 1 | alta | Q002 \xc2\xb7 PA01 | 0.50 | metas_cuantificadas | "
                                    "2. PLAN DE INVERSIONES (p. 5, @5000) | Incluya metas cuantificadas en el plan. |\n"));
    cr_assert_not_null (strstr (md, "None: every input is present and OK."));
    //  Every table row has as many cells as its header: no stray pipe.
    const char *line = md;
    size_t columns = 0;
    while (*line) {
        const char *end = strchr (line, '\n');
        size_t length = end? (size_t) (end - line): strlen (line);
        if (length && line [0] == '|') {
            size_t pipes = 0;
            for (size_t i = 0; i < length; i++)
                if (line [i] == '|' && (i == 0 || line [i - 1] != '\\'))
                    pipes++;
            if (columns == 0)
                columns = pipes;
            cr_assert_eq (pipes, columns, "row with %zu cells, header %zu: %.*s", pipes - 1, columns - 1,
                          (int) length, line);
        }
        else
            columns = 0;
        line += length + (end? 1: 0);
    }
    json_t *summary = t_summary (t);
    cr_assert_eq (json_array_size (json_object_get (summary, "formats")), 2);
    cr_assert_null (json_object_get (json_object_get (summary, "bytes"), "html"));
    cr_assert_null (json_object_get (json_object_get (json_object_get (t->ctx.output, "report.assemble"),
                                                      "report"), "html"));
    t_destroy (t);
}

FF_TEST (report_method, missing_and_failed_inputs_are_shown_as_such)
{
    t_fixture_t *t = t_new ();
    t_structure (t, S_AREAS, S_DIMENSIONS, S_SLOTS, 0, 0);
    //  A question failed, the macro timed out, a cluster was skipped, the
    //  profile failed; two contracts (a dimension score and a question)
    //  are not carried by the request at all (named by the contract only).
    fac_input_t *failed = t_find (t, "SCORE_Q002_PA01");
    failed->status = 2;
    t_find (t, "AGG_MACRO")->status = 3;
    t_find (t, "AGG_CL02")->status = 4;
    t_find (t, "VALIDATE_DOCUMENT")->status = 2;
    t_find (t, "RECOMMEND")->status = 2;
    t_find (t, "RECOMMEND")->output_json = "";
    static const char *const absent [] = { "AGG_DIM02_PA03", "SCORE_Q004_PA03" };
    //  Take them out of the fixture (swap with the last ones).
    for (size_t k = 0; k < 2; k++) {
        fac_input_t *input = t_find (t, absent [k]);
        size_t index = (size_t) (input - t->inputs);
        fac_input_t last = t->inputs [t->count - 1];
        t->inputs [t->count - 1] = *input;
        *input = last;
        //  The evidence bookkeeping follows the inputs.
        fac_input_evidence_t *evidence = t->evidence [index];
        t->evidence [index] = t->evidence [t->count - 1];
        t->evidence [t->count - 1] = evidence;
        fac_input_match_t *matches = t->matches [index];
        t->matches [index] = t->matches [t->count - 1];
        t->matches [t->count - 1] = matches;
        const char **missing = t->missing [index];
        t->missing [index] = t->missing [t->count - 1];
        t->missing [t->count - 1] = missing;
        t->count--;
    }
    t_contract (t, absent, 2);
    t_run (t, "{}");
    size_t total = t->count + 2;
    cr_assert (t->ctx.ratio == (double) (t->count - 5) / (double) total, "ratio %g", t->ctx.ratio);

    json_t *report = t->report;
    json_t *not_ok = json_object_get (json_object_get (report, "inputs"), "not_ok");
    cr_assert_eq (json_array_size (not_ok), 7);
    cr_assert_str_eq (t_str (t_entry (not_ok, "contract", "SCORE_Q002_PA01"), "status"), "failed");
    cr_assert_str_eq (t_str (t_entry (not_ok, "contract", "AGG_MACRO"), "status"), "timeout");
    cr_assert_str_eq (t_str (t_entry (not_ok, "contract", "AGG_CL02"), "status"), "skipped");
    cr_assert_str_eq (t_str (t_entry (not_ok, "contract", "AGG_DIM02_PA03"), "status"), "missing");
    //  Each in its place, without a score.
    json_t *macro = json_object_get (report, "macro");
    cr_assert_str_eq (t_str (macro, "status"), "timeout");
    cr_assert (json_is_null (json_object_get (macro, "score")));
    json_t *question = t_entry (json_object_get (report, "questions"), "contract", "SCORE_Q002_PA01");
    t_assert_result (question, failed);
    cr_assert_str_eq (t_str (question, "status"), "failed");
    cr_assert_eq (json_array_size (json_object_get (question, "evidence")), 0);
    //  Not carried: placed by its id, area and question read from it.
    question = t_entry (json_object_get (report, "questions"), "contract", "SCORE_Q004_PA03");
    cr_assert_str_eq (t_str (question, "status"), "missing");
    cr_assert (json_is_null (json_object_get (question, "score")));
    cr_assert_str_eq (t_str (question, "policy_area"), "PA03");
    cr_assert_str_eq (t_str (question, "base_question"), "Q004");
    json_t *area = json_array_get (json_object_get (report, "policy_areas"), 2);
    json_t *cell = t_entry (json_object_get (area, "dimensions"), "dimension", "DIM02");
    cr_assert_str_eq (t_str (cell, "contract"), "AGG_DIM02_PA03");
    cr_assert_str_eq (t_str (cell, "status"), "missing");
    cr_assert (json_is_null (json_object_get (cell, "score")));
    json_t *cluster = t_entry (json_object_get (report, "clusters"), "code", "CL02");
    cr_assert_str_eq (t_str (cluster, "status"), "skipped");
    cr_assert (json_is_null (json_object_get (cluster, "score")));
    //  A document refused still has its profile, which says why: shown,
    //  with its status.
    cr_assert_str_eq (t_str (json_object_get (report, "document"), "status"), "failed");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (json_object_get (report, "document"),
                                                                         "profile"), "words")), 20101);
    cr_assert_str_eq (t_str (json_object_get (report, "recommendations"), "status"), "failed");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (report, "recommendations"), "count")), 0);
    cr_assert (json_is_null (json_object_get (t_summary (t), "macro")));

    //  HTML and Markdown say so where the score would be, never 0.
    const char *html = t->html, *md = t->markdown;
    cr_assert_not_null (strstr (html, "<td class=\"n qm\" title=\"SCORE_Q002_PA01\">failed</td>"));
    cr_assert_not_null (strstr (html, "<td class=\"n qm\" title=\"AGG_DIM02_PA03\">missing</td>"));
    cr_assert_not_null (strstr (html, "<span class=\"big qm\">timed out</span>"));
    cr_assert_not_null (strstr (html, "<text class=\"state\""));
    cr_assert_not_null (strstr (html, "<p class=\"muted\"><code>VALIDATE_DOCUMENT</code> failed; what it reported:</p>"));
    cr_assert_not_null (strstr (md, "`VALIDATE_DOCUMENT` failed; what it reported:\n\n| Measure | Value |"));
    cr_assert_not_null (strstr (html, "No recommendations: <code>RECOMMEND</code> failed."));
    cr_assert_not_null (strstr (md, "No recommendations: `RECOMMEND` failed."));
    cr_assert_not_null (strstr (html, "<tr><td>AGG_CL02</td><td>aggregation</td><td class=\"qm\">skipped</td></tr>"));
    cr_assert_not_null (strstr (md, "| Q002 | DIM01 | ¿El plan presenta la pregunta 2 del área 1? | failed | \xe2\x80\x94 |"));
    cr_assert_not_null (strstr (md, "| Q004 | \xe2\x80\x94 | \xe2\x80\x94 | missing |"));
    char row [128];
    snprintf (row, sizeof row, "| PA03 Área número 3 | %.2f | missing |\n", t_cell_score (1, 3));
    cr_assert_not_null (strstr (md, row), "no row %s", row);
    cr_assert_not_null (strstr (md, "| AGG_MACRO | Índice global del plan | timed out | \xe2\x80\x94 | \xe2\x80\x94 |"));
    cr_assert_not_null (strstr (md, "| AGG_DIM02_PA03 | \xe2\x80\x94 | missing |\n"));
    cr_assert_null (strstr (md, "| 0.00 |"));
    cr_assert_null (strstr (html, ">0.00<"));
    t_destroy (t);
}

FF_TEST (report_method, nothing_but_missing_inputs_is_still_a_report)
{
    t_fixture_t *t = t_new ();
    static const char *const ids [] = {
        "VALIDATE_DOCUMENT", "INGEST", "SCORE_Q001_PA01", "AGG_DIM01_PA01", "AGG_PA01", "AGG_CL02",
        "AGG_MACRO", "RECOMMEND", "SOMETHING_ELSE",
    };
    t_contract (t, ids, sizeof ids / sizeof ids [0]);
    t_run (t, "{}");
    cr_assert (t->ctx.ratio == 0.0);
    json_t *report = t->report;
    cr_assert_str_eq (t_str (json_object_get (report, "macro"), "status"), "missing");
    cr_assert_str_eq (t_str (json_array_get (json_object_get (report, "clusters"), 0), "code"), "CL02");
    cr_assert_str_eq (t_str (json_array_get (json_object_get (report, "policy_areas"), 0), "contract"), "AGG_PA01");
    cr_assert_str_eq (t_str (json_object_get (report, "recommendations"), "status"), "missing");
    cr_assert_str_eq (t_str (json_object_get (report, "sections"), "status"), "missing");
    json_t *other = json_object_get (report, "other_inputs");
    cr_assert_eq (json_array_size (other), 1);
    cr_assert_str_eq (t_str (json_array_get (other, 0), "contract"), "SOMETHING_ELSE");
    cr_assert_not_null (strstr (t->html, "No recommendations: <code>RECOMMEND</code> is missing from the results."));
    cr_assert_not_null (strstr (t->markdown, "No list of plan sections: `INGEST` is missing from the results."));
    cr_assert_not_null (strstr (t->markdown, "| RECOMMEND | \xe2\x80\x94 | missing |\n"));
    cr_assert_not_null (strstr (t->markdown, "| SOMETHING_ELSE | \xe2\x80\x94 | \xe2\x80\x94 | missing | missing |\n"));
    t_destroy (t);
}

FF_TEST (report_method, inputs_that_fit_nowhere_are_listed_not_misplaced)
{
    t_fixture_t *t = t_new ();
    t_structure (t, 1, S_DIMENSIONS, S_SLOTS, 0, 0);
    //  An aggregation of a dimension alone, a second macro, a type the
    //  report does not know, and a dimension score that arrives without
    //  type and with half its identity (the id supplies the rest).
    fac_input_t *odd = t_input (t, "AGG_DIM01", "aggregation", 1.25);
    odd->dimension = "DIM01";
    t_input (t, "AGG_MACRO_2", "aggregation", 2.5)->title = "Otro índice";
    t_input (t, "CUSTOM", "custom", 0.5);
    fac_input_t *cell = t_find (t, "AGG_DIM02_PA01");
    cell->type = "";
    cell->dimension = "";
    t_contract (t, NULL, 0);
    t_run (t, "{}");
    json_t *other = json_object_get (t->report, "other_inputs");
    cr_assert_eq (json_array_size (other), 3);
    t_assert_result (t_entry (other, "contract", "AGG_DIM01"), odd);
    t_assert_result (t_entry (other, "contract", "AGG_MACRO_2"), t_find (t, "AGG_MACRO_2"));
    cr_assert_str_eq (t_str (t_entry (other, "contract", "CUSTOM"), "type"), "custom");
    cr_assert_str_eq (t_str (json_object_get (t->report, "macro"), "contract"), "AGG_MACRO");
    json_t *cells = json_object_get (json_array_get (json_object_get (t->report, "policy_areas"), 0), "dimensions");
    t_assert_result (t_entry (cells, "dimension", "DIM02"), cell);
    cr_assert_not_null (strstr (t->html, "<h3>Other inputs</h3>"));
    cr_assert_not_null (strstr (t->markdown, "## Other inputs\n"));
    cr_assert_eq (json_integer_value (json_object_get (t_summary (t), "other_inputs")), 3);
    t_destroy (t);
}

FF_TEST (report_method, malformed_outputs_are_counted_not_trusted)
{
    t_fixture_t *t = t_new ();
    t_structure (t, 1, S_DIMENSIONS, S_SLOTS, 0, 0);
    t_find (t, "RECOMMEND")->output_json = "{\"recommend.rules\": {\"recommendations\": ["
        "42, {\"rule\": 7, \"text\": \"Sin regla.\", \"score\": \"alto\", \"section\": \"no\"}, "
        "{\"rule\": \"R3\"}, \"texto\"]}}";
    t_find (t, "INGEST")->output_json = "{\"text.sections\": {\"sections\": [{\"title\": 1}, "
        "{\"title\": \"Bien\", \"offset\": 10, \"level\": \"x\"}, {\"offset\": -3, \"title\": \"Mal\"}]}}";
    t_find (t, "VALIDATE_DOCUMENT")->output_json = "not JSON at all";
    //  Not valid UTF-8: a lone continuation byte and a truncated sequence.
    t_find (t, "AGG_PA01")->title = "Área \x80 uno \xc3";
    t_contract (t, NULL, 0);
    t_run (t, "{}");
    json_t *recommendations = json_object_get (t->report, "recommendations");
    cr_assert_eq (json_integer_value (json_object_get (recommendations, "count")), 4);
    cr_assert_eq (json_integer_value (json_object_get (recommendations, "malformed")), 3);
    json_t *item = json_array_get (json_object_get (recommendations, "items"), 0);
    cr_assert_str_eq (t_str (item, "text"), "Sin regla.");
    cr_assert (json_is_null (json_object_get (item, "rule")));
    cr_assert (json_is_null (json_object_get (item, "score")));
    cr_assert (json_is_null (json_object_get (item, "section")));
    json_t *sections = json_object_get (t->report, "sections");
    cr_assert_eq (json_integer_value (json_object_get (sections, "malformed")), 2);
    json_t *section = json_array_get (json_object_get (sections, "items"), 0);
    cr_assert_str_eq (t_str (section, "title"), "Bien");
    cr_assert_eq (json_integer_value (json_object_get (section, "level")), -1);
    cr_assert_not_null (strstr (t->markdown, "1 recommendations (3 malformed entries left out)"));
    //  The profile's output is not JSON: no profile, said so.
    cr_assert (json_is_null (json_object_get (json_object_get (t->report, "document"), "profile")));
    cr_assert_not_null (strstr (t->html, "No document profile: <code>VALIDATE_DOCUMENT</code> gave no usable output."));
    //  The bad bytes became U+FFFD; the report parsed (t_json) so it is valid.
    cr_assert_str_eq (t_str (json_array_get (json_object_get (t->report, "policy_areas"), 0), "title"),
                      "Área \xef\xbf\xbd uno \xef\xbf\xbd");
    t_destroy (t);
}

FF_TEST (report_method, params_are_checked_at_load)
{
    t_fixture_t *t = t_new ();
    t_structure (t, 1, S_DIMENSIONS, S_SLOTS, 0, 0);
    t_contract (t, NULL, 0);
    const fac_method_t *method = fac_method_lookup ("report.assemble");
    static const struct { const char *params; const char *error; } cases [] = {
        { "{}", NULL },
        { "{\"title\": \"Informe\", \"formats\": [\"html\"], \"evidence_per_question\": 0}", NULL },
        { "{\"formats\": [\"json\", \"markdown\", \"html\"], \"evidence_per_question\": 20}", NULL },
        { "{\"titel\": \"x\"}", "params.titel: unknown parameter of report.assemble (known: title, formats, "
                                "evidence_per_question)" },
        { "{\"title\": 3}", "params.title: must be a non-empty string" },
        { "{\"title\": \"\"}", "params.title: must be a non-empty string" },
        { "{\"formats\": \"html\"}", "params.formats: must be a non-empty array of \"json\", \"markdown\", \"html\"" },
        { "{\"formats\": []}", "params.formats: must be a non-empty array" },
        { "{\"formats\": [\"pdf\"]}", "params.formats[0]: \"pdf\" is not a format (json, markdown, html)" },
        { "{\"formats\": [\"html\", 1]}", "params.formats[1]: not a string is not a format" },
        { "{\"formats\": [\"html\", \"json\", \"html\"]}", "params.formats[2]: \"html\" is given twice" },
        { "{\"evidence_per_question\": -1}", "params.evidence_per_question: -1 is out of range 0..20" },
        { "{\"evidence_per_question\": 21}", "params.evidence_per_question: 21 is out of range 0..20" },
        { "{\"evidence_per_question\": 1.5}", "params.evidence_per_question: must be an integer in 0..20" },
        { "{\"evidence_per_question\": \"3\"}", "params.evidence_per_question: must be an integer" },
        { "[]", "params: report.assemble takes an object" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *params = t_json (cases [i].params);
        char err [256] = "";
        int rc = method->check (params, t->contract, NULL, err, sizeof err);
        if (cases [i].error) {
            cr_assert_eq (rc, -1, "%s accepted", cases [i].params);
            cr_assert_not_null (strstr (err, cases [i].error), "%s: \"%s\" lacks \"%s\"", cases [i].params,
                                err, cases [i].error);
            //  The run reads them with the same code and fails the same way.
            fac_context_t ctx;
            fac_context_init (&ctx, t->compiled, NULL, 0, t->inputs, t->count, t->request);
            cr_assert_eq (method->run (&ctx, params), -1);
            cr_assert_not_null (strstr (ctx.error, "report.assemble: "));
            cr_assert_not_null (strstr (ctx.error, cases [i].error), "%s", ctx.error);
            fac_context_fini (&ctx);
        }
        else
            cr_assert_eq (rc, 0, "%s refused: %s", cases [i].params, err);
        json_decref (params);
    }
    //  A contract with no inputs has nothing to report.
    size_t count = t->contract->input_count;
    t->contract->input_count = 0;
    json_t *params = json_object ();
    char err [256] = "";
    cr_assert_eq (method->check (params, t->contract, NULL, err, sizeof err), -1);
    cr_assert_not_null (strstr (err, "inputs.contracts: report.assemble builds the report from input "
                                     "contracts, the contract names none"), "%s", err);
    t->contract->input_count = count;
    json_decref (params);
    t_destroy (t);
}

//  The real size: 300 questions × 4 elements × 5 quoted matches of 200
//  bytes, 60 + 10 + 4 + 1 aggregations, profile, sections, recommendations.
static void
t_full_structure (t_fixture_t *t, char fill)
{
    for (int a = 1; a <= 10; a++)
        for (int q = 1; q <= 30; q++) {
            char id [32];
            snprintf (id, sizeof id, "SCORE_Q%03d_PA%02d", q, a);
            fac_input_t *input = t_input (t, id, "scoring", t_question_score (q, a));
            input->title = t_format (t, "¿La pregunta %d del área %d tiene un texto largo como las del "
                                     "cuestionario, con sus líneas base, metas y fuentes oficiales?", q, a);
            input->base_question = t_format (t, "Q%03d", q);
            input->policy_area = t_format (t, "PA%02d", a);
            input->dimension = t_format (t, "DIM%02d", (q - 1) / 5 + 1);
            input->cluster = t_cluster_of (a);
            size_t index = (size_t) (input - t->inputs);
            fac_input_evidence_t *evidence = (fac_input_evidence_t *) calloc (4, sizeof *evidence);
            fac_input_match_t *matches = (fac_input_match_t *) calloc (20, sizeof *matches);
            cr_assert (evidence && matches);
            t->evidence [index] = evidence;
            t->matches [index] = matches;
            char *snippet = t_keep (t, (char *) malloc (FAC_EVIDENCE_SNIPPET_MAX + 1));
            memset (snippet, fill, FAC_EVIDENCE_SNIPPET_MAX);
            snippet [FAC_EVIDENCE_SNIPPET_MAX] = '\0';
            for (int e = 0; e < 4; e++) {
                for (int m = 0; m < 5; m++)
                    matches [e * 5 + m] = (fac_input_match_t) {
                        .offset = (uint64_t) (a * 100000 + q * 1000 + e * 10 + m),
                        .length = FAC_EVIDENCE_SNIPPET_MAX, .text = snippet, .pattern_id = "P1",
                    };
                evidence [e] = (fac_input_evidence_t) {
                    .element_type = e == 0? "fuentes_oficiales": e == 1? "lineas_base": e == 2? "metas": "indicadores",
                    .count = 9, .minimum = 2, .required = true, .satisfied = true,
                    .matches = &matches [e * 5], .match_count = 5,
                };
            }
            input->evidence = evidence;
            input->evidence_count = 4;
        }
    for (int a = 1; a <= 10; a++)
        for (int d = 1; d <= 6; d++) {
            char id [32];
            snprintf (id, sizeof id, "AGG_DIM%02d_PA%02d", d, a);
            fac_input_t *input = t_input (t, id, "aggregation", t_cell_score (d, a));
            input->title = t_format (t, "Dimensión %d — Área %d", d, a);
            input->policy_area = t_format (t, "PA%02d", a);
            input->dimension = t_format (t, "DIM%02d", d);
        }
    for (int a = 1; a <= 10; a++) {
        char id [32];
        snprintf (id, sizeof id, "AGG_PA%02d", a);
        t_input (t, id, "aggregation", 1.5)->policy_area = t_format (t, "PA%02d", a);
    }
    for (int c = 1; c <= 4; c++) {
        char id [32];
        snprintf (id, sizeof id, "AGG_CL%02d", c);
        t_input (t, id, "aggregation", 1.5)->cluster = t_format (t, "CL%02d", c);
    }
    t_input (t, "AGG_MACRO", "aggregation", 1.5);
    t_input (t, "VALIDATE_DOCUMENT", "task", NAN)->output_json = "{\"text.profile\": {\"words\": 40000}}";
    t_input (t, "INGEST", "ingestion", NAN)->output_json = "{\"text.sections\": {\"sections\": []}}";
    t_input (t, "RECOMMEND", "recommendation", NAN)->output_json =
        "{\"recommend.rules\": {\"recommendations\": []}}";
}

FF_TEST (report_method, a_full_report_fits_a_message)
{
    //  16 MiB: the factory's default max_msg_size; the whole result
    //  (output_json with every format) must fit in one message.
    const size_t message_max = 16u * 1024 * 1024;
    t_fixture_t *t = t_new ();
    t_full_structure (t, 'a');
    t_contract (t, NULL, 0);
    t_run (t, "{}");
    json_t *summary = t_summary (t);
    cr_assert_eq (json_integer_value (json_object_get (summary, "inputs")), 378);
    cr_assert_eq (json_integer_value (json_object_get (summary, "questions")), 300);
    cr_assert_eq (json_integer_value (json_object_get (summary, "dimension_scores")), 60);
    cr_assert_eq (json_integer_value (json_object_get (summary, "evidence_quoted")), 900);
    char *output = json_dumps (t->ctx.output, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_not_null (output);
    cr_assert_lt (strlen (output), message_max / 4, "output_json is %zu bytes", strlen (output));
    free (output);
    cr_assert_eq (t_occurrences (t->html, "<svg "), 2 + 10);
    t_destroy (t);

    //  The most quotes of the most escaped text: refused with the reason
    //  rather than sent too big.
    t = t_new ();
    t_full_structure (t, '"');
    t_contract (t, NULL, 0);
    int rc = t_run_some (t, "{\"evidence_per_question\": 20}", t->count);
    cr_assert_eq (rc, -1);
    cr_assert_not_null (strstr (t->ctx.error, "report.assemble: the report takes "), "%s", t->ctx.error);
    cr_assert_not_null (strstr (t->ctx.error, "lower params.evidence_per_question (20)"), "%s", t->ctx.error);
    t_destroy (t);
    //  The same with the default 3 fits.
    t = t_new ();
    t_full_structure (t, '"');
    t_contract (t, NULL, 0);
    t_run (t, "{}");
    output = json_dumps (t->ctx.output, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_not_null (output);
    cr_assert_lt (strlen (output), message_max);
    free (output);
    t_destroy (t);
}
