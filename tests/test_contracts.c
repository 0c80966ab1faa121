/*  fac_contract: the farfan-contract/1 format, validation errors (file,
    field, reason), the canonical form and digests, contract sets, load_dir,
    lifetimes. Fixtures: tests/data/contracts/ (valid/, invalid/ with one
    file per kind of error, canonical/ with the expected canonical text and
    digest of valid/Q001_PA01.json, computed outside this code). */
#include <criterion/criterion.h>

#include "ff_test.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fac_contract.h"
#include "fac_method.h"

#define S_DATA FF_TEST_SOURCE_ROOT "/tests/data/contracts"
#define S_EMPTY_DIGEST "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

//  Reads a whole file (caller frees); asserts it exists.
static char *
s_slurp (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    cr_assert (file, "cannot open %s", path);
    fseek (file, 0, SEEK_END);
    long length = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = (char *) malloc ((size_t) length + 1);
    cr_assert (text);
    cr_assert_eq (fread (text, 1, (size_t) length, file), (size_t) length);
    text [length] = '\0';
    fclose (file);
    if (size)
        *size = (size_t) length;
    return text;
}

static void
s_print_report (const fac_load_report_t *report)
{
    size_t stored = report->count < report->capacity ? report->count : report->capacity;
    for (size_t i = 0; i < stored; i++)
        fprintf (stderr, "  [%zu] %s | %s | %s | %s\n", i, report->errors [i].file,
                 report->errors [i].field, report->errors [i].contract_id,
                 report->errors [i].reason);
}

//  The stored error whose file ends with file_suffix, whose field is field
//  and whose reason contains reason; NULL when none.
static const fac_load_error_t *
s_find (const fac_load_report_t *report, const char *file_suffix, const char *field,
        const char *reason)
{
    size_t stored = report->count < report->capacity ? report->count : report->capacity;
    for (size_t i = 0; i < stored; i++) {
        const fac_load_error_t *error = &report->errors [i];
        size_t file_length = strlen (error->file), suffix_length = strlen (file_suffix);
        if (file_length >= suffix_length
        &&  strcmp (error->file + file_length - suffix_length, file_suffix) == 0
        &&  strcmp (error->field, field) == 0
        &&  strstr (error->reason, reason))
            return error;
    }
    return NULL;
}

static void
s_assert_error (const fac_load_report_t *report, const char *file_suffix, const char *field,
                const char *reason, const char *contract_id)
{
    const fac_load_error_t *error = s_find (report, file_suffix, field, reason);
    if (!error)
        s_print_report (report);
    cr_assert (error, "no error for %s at \"%s\" with \"%s\"", file_suffix, field, reason);
    if (contract_id)
        cr_assert_str_eq (error->contract_id, contract_id);
}

//  Adds one JSON text to a fresh set; returns the set (the caller destroys).
static fac_contract_set_t *
s_set_of (const char *text, fac_load_report_t *report, int expected_added)
{
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    cr_assert (set);
    int added = fac_contract_set_add_json (set, text, strlen (text), "put_contracts[0]", report);
    if (added != expected_added && report)
        s_print_report (report);
    cr_assert_eq (added, expected_added);
    return set;
}

//  The digest of one contract text that must be valid (static buffer).
static const char *
s_digest_of (const char *text)
{
    static char digest [72];
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = s_set_of (text, &report, 1);
    size_t count;
    fac_contract_t **all = fac_contract_set_all (set, &count);
    cr_assert_eq (count, 1);
    snprintf (digest, sizeof digest, "%s", all [0]->digest);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
    return digest;
}

//  A small valid micro contract.
static const char *s_micro =
    "{\"format\": \"farfan-contract/1\", \"id\": \"M1\", \"version\": \"1.0.0\", \"type\": \"micro\","
    " \"applicable_phases\": [\"P02\"], \"inputs\": {\"document\": true},"
    " \"patterns\": [{\"id\": \"P1\", \"regex\": \"fuentes? oficiales?\", \"flags\": [\"IGNORECASE\"],"
    "   \"element_type\": \"fuentes_oficiales\"}],"
    " \"expected_elements\": [{\"type\": \"fuentes_oficiales\", \"minimum\": 1}],"
    " \"methods\": [{\"method\": \"text.match_patterns\"}, {\"method\": \"text.count_elements\"}]}";

//  ---------------------------------------------------------------------

FF_TEST (contracts, valid_dir_loads_every_field)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 32);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    int added = fac_contract_set_load_dir (set, S_DATA "/valid", &report);
    if (report.count)
        s_print_report (&report);
    cr_assert_eq (report.count, 0);
    cr_assert_eq (added, 5);
    cr_assert_eq (fac_contract_set_size (set), 5);

    fac_contract_t *micro = fac_contract_set_lookup (set, "Q001_PA01");
    cr_assert (micro);
    cr_assert_str_eq (micro->id, "Q001_PA01");
    cr_assert_str_eq (micro->version, "1.0.0");
    cr_assert_eq (micro->status, FAC_CONTRACT_ACTIVE);
    cr_assert_str_eq (micro->type, "micro");
    cr_assert_str_eq (micro->base_question, "Q001");
    cr_assert_str_eq (micro->policy_area, "PA01");
    cr_assert_str_eq (micro->dimension, "DIM01");
    cr_assert_str_eq (micro->cluster, "CL02");
    cr_assert_eq (micro->phases, 1u << 2);
    cr_assert (micro->uses_document);
    cr_assert_eq (micro->input_count, 0);
    cr_assert_eq (micro->pattern_count, 3);
    cr_assert_str_eq (micro->patterns [0].id, "PAT-0112");
    cr_assert_str_eq (micro->patterns [0].regex,
                      "\\b(DANE|Medicina Legal|Observatorio de G[eé]nero)\\b");
    cr_assert_eq (micro->patterns [0].flags, FAC_PATTERN_IGNORECASE | FAC_PATTERN_MULTILINE);
    cr_assert_str_eq (micro->patterns [0].element_type, "fuentes_oficiales");
    cr_assert_float_eq (micro->patterns [0].weight, 0.85, 1e-12);
    cr_assert_eq (micro->patterns [1].flags, 0);
    cr_assert_str_eq (micro->patterns [1].element_type, "series_temporales_años");
    cr_assert_float_eq (micro->patterns [1].weight, 1.0, 1e-12);       // default
    cr_assert_eq (micro->patterns [2].flags, FAC_PATTERN_IGNORECASE);
    cr_assert_eq (micro->expected_count, 3);
    cr_assert_str_eq (micro->expected [0].type, "cobertura_territorial_especificada");
    cr_assert (micro->expected [0].required);
    cr_assert_eq (micro->expected [0].minimum, 0);
    cr_assert_eq (micro->expected [1].minimum, 2);
    cr_assert_not (micro->expected [1].required);
    cr_assert_eq (micro->step_count, 3);
    cr_assert_str_eq (micro->steps [0].method, "text.match_patterns");
    cr_assert_eq (json_integer_value (json_object_get (micro->steps [0].params, "max_matches")), 3);
    cr_assert_str_eq (micro->steps [1].method, "text.count_elements");
    cr_assert (json_is_object (micro->steps [1].params));
    cr_assert_eq (json_object_size (micro->steps [1].params), 0);      // {} when absent
    cr_assert_str_eq (micro->steps [2].method, "score.modality");
    cr_assert_str_eq (micro->modality, "TYPE_A");
    cr_assert_float_eq (json_real_value (json_object_get (micro->scoring, "threshold")), 0.7, 1e-12);
    cr_assert_eq (micro->timeout_ms, 5000);
    cr_assert_str_eq (micro->source, S_DATA "/valid/Q001_PA01.json");
    cr_assert (micro->canonical);
    cr_assert_eq (strncmp (micro->digest, "sha256:", 7), 0);
    cr_assert_eq (strlen (micro->digest), 71);
    cr_assert_eq (atomic_load (&micro->refs), 1);

    fac_contract_t *aggregation = fac_contract_set_lookup (set, "AGG_DIM01_PA01");
    cr_assert (aggregation);
    cr_assert_str_eq (aggregation->type, "aggregation");
    cr_assert_eq (aggregation->phases, 1u << 4);
    cr_assert_not (aggregation->uses_document);
    cr_assert_eq (aggregation->input_count, 5);
    cr_assert_str_eq (aggregation->input_contracts [0], "Q001_PA01");
    cr_assert_str_eq (aggregation->input_contracts [4], "Q005_PA01");
    cr_assert_eq (aggregation->pattern_count, 0);
    cr_assert_eq (aggregation->expected_count, 0);
    cr_assert_str_eq (aggregation->base_question, "");                 // n/a
    cr_assert_str_eq (aggregation->cluster, "");
    cr_assert_str_eq (aggregation->modality, "");
    cr_assert_eq (json_object_size (aggregation->scoring), 0);
    cr_assert_eq (aggregation->status, FAC_CONTRACT_ACTIVE);            // default
    cr_assert_eq (aggregation->timeout_ms, 30000);                      // default

    //  The set file's contracts: format optional inside a set, defaults.
    fac_contract_t *inactive = fac_contract_set_lookup (set, "Q002_PA02");
    cr_assert (inactive);
    cr_assert_eq (inactive->status, FAC_CONTRACT_INACTIVE);
    cr_assert_str_eq (inactive->version, "0.9.1-draft");
    cr_assert_eq (inactive->phases, (1u << 2) | (1u << 3));
    cr_assert (fac_contract_in_phase (inactive, 2));
    cr_assert (fac_contract_in_phase (inactive, 3));
    cr_assert_not (fac_contract_in_phase (inactive, 4));
    cr_assert_not (fac_contract_in_phase (inactive, -1));
    cr_assert_not (fac_contract_in_phase (inactive, 10));
    cr_assert_eq (inactive->patterns [0].flags, FAC_PATTERN_MULTILINE | FAC_PATTERN_DOTALL);
    cr_assert_eq (inactive->timeout_ms, 120000);
    cr_assert_str_eq (inactive->source, S_DATA "/valid/set_PA02.json");
    fac_contract_t *choquet = fac_contract_set_lookup (set, "AGG_PA02");
    cr_assert (choquet);
    cr_assert_eq (choquet->input_count, 2);
    cr_assert_str_eq (choquet->steps [0].method, "aggregate.choquet");
    cr_assert_null (fac_contract_set_lookup (set, "Q999_PA01"));
    cr_assert_null (fac_contract_set_lookup (set, NULL));

    //  Every contract, sorted by id.
    size_t count = 0;
    fac_contract_t **all = fac_contract_set_all (set, &count);
    cr_assert_eq (count, 5);
    const char *sorted [] = { "AGG_DIM01_PA01", "AGG_PA02", "Q001_PA01", "Q001_PA02", "Q002_PA02" };
    for (size_t i = 0; i < count; i++)
        cr_assert_str_eq (all [i]->id, sorted [i]);
    fac_contract_set_destroy (&set);
    cr_assert_null (set);
    fac_contract_set_destroy (&set);                                     // idempotent
    fac_load_report_free (&report);
}

//  Every file of invalid/ has one kind of error; the good contracts of a
//  set file with a bad one still load, and nothing else is reported.
FF_TEST (contracts, invalid_dir_reports_file_field_reason)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 64);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    int added = fac_contract_set_load_dir (set, S_DATA "/invalid", &report);
    struct {
        const char *file;
        const char *field;
        const char *reason;
        const char *contract_id;
    } expected [] = {
        { "/invalid/aggregation_without_inputs.json", "inputs.contracts", "required field missing",
          "BAD_AGG" },
        { "/invalid/bad_flag.json", "patterns[0].flags[1]", "unknown flag \"VERBOSE\"", "BAD_FLAG" },
        { "/invalid/bad_identity.json", "identity.policy_area", "\"PA11\" is not in PA01..PA10",
          "BAD_IDENTITY" },
        { "/invalid/bad_json.json", "", "invalid JSON at line 5, column", "" },
        { "/invalid/bad_params.json", "methods[0].params.max_matches", "-1 is out of range",
          "BAD_PARAMS" },
        { "/invalid/bad_phase.json", "applicable_phases[1]", "\"P12\" is not a phase", "BAD_PHASE" },
        { "/invalid/bad_regex.json", "patterns[0].regex",
          "does not compile: missing closing parenthesis at offset 18", "BAD_REGEX" },
        { "/invalid/bad_status.json", "status", "\"RETIRED\" is not a status", "BAD_STATUS" },
        { "/invalid/duplicate_pattern.json", "patterns[1].id",
          "duplicate pattern id \"P1\" (also patterns[0])", "BAD_DUP_PATTERN" },
        { "/invalid/empty.json", "", "empty file", "" },
        { "/invalid/missing_field.json", "version", "required field missing", "BAD_MISSING" },
        { "/invalid/missing_field.json", "methods", "required field missing", "BAD_MISSING" },
        { "/invalid/not_an_object.json", "", "the document is an array", "" },
        { "/invalid/out_of_range.json", "timeout_ms", "7200000 is out of range 1..3600000",
          "BAD_RANGE" },
        { "/invalid/out_of_range.json", "patterns[0].weight", "1.5 is out of range 0..1",
          "BAD_RANGE" },
        { "/invalid/set_mixed.json", "contracts[1].patterns[0].regex", "does not compile",
          "SET_BAD" },
        { "/invalid/text_without_document.json", "inputs.document",
          "must be true: methods[0] (text.match_patterns) reads the document", "BAD_NO_DOCUMENT" },
        { "/invalid/unknown_field.json", "timout_ms", "unknown field (did you mean \"timeout_ms\"?",
          "BAD_FIELD" },
        { "/invalid/unknown_format.json", "format", "unknown format \"farfan-contract/2\"",
          "BAD_FORMAT" },
        { "/invalid/unknown_method.json", "methods[1].method",
          "unknown method \"text.count_element\" (known: text.match_patterns", "BAD_METHOD" },
        { "/invalid/wrong_type.json", "applicable_phases", "must be an array, not a string",
          "BAD_TYPE" },
        { "/invalid/wrong_type.json", "timeout_ms", "must be an integer, not a string", "BAD_TYPE" },
        { "/invalid/zz_duplicate_id.json", "id", "duplicate contract id \"SET_GOOD_1\" (first "
          "defined in contracts[0] of " S_DATA "/invalid/set_mixed.json)", "SET_GOOD_1" },
    };
    size_t expected_count = sizeof expected / sizeof expected [0];
    for (size_t i = 0; i < expected_count; i++)
        s_assert_error (&report, expected [i].file, expected [i].field, expected [i].reason,
                        expected [i].contract_id);
    if (report.count != expected_count)
        s_print_report (&report);
    cr_assert_eq (report.count, expected_count, "%zu errors, expected %zu", report.count,
                  expected_count);
    //  Errors come in file-name order.
    cr_assert (strstr (report.errors [0].file, "aggregation_without_inputs.json"));
    cr_assert (strstr (report.errors [report.count - 1].file, "zz_duplicate_id.json"));

    //  The rest still loads; the first definition of a duplicate stays.
    cr_assert_eq (added, 2);
    cr_assert_eq (fac_contract_set_size (set), 2);
    fac_contract_t *first = fac_contract_set_lookup (set, "SET_GOOD_1");
    cr_assert (first);
    cr_assert_str_eq (first->version, "1.0.0");
    cr_assert (fac_contract_set_lookup (set, "SET_GOOD_2"));
    cr_assert_null (fac_contract_set_lookup (set, "SET_BAD"));
    cr_assert_null (fac_contract_set_lookup (set, "BAD_REGEX"));
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

FF_TEST (contracts, report_capacity_is_bounded_count_keeps_growing)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 3);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_load_dir (set, S_DATA "/invalid", &report), 2);
    cr_assert_eq (report.capacity, 3);
    cr_assert_gt (report.count, 20);
    cr_assert (strstr (report.errors [0].file, "aggregation_without_inputs.json"));
    cr_assert (strstr (report.errors [2].file, "bad_identity.json"));
    fac_load_report_free (&report);
    cr_assert_eq (report.count, 0);
    cr_assert_null (report.errors);

    //  Capacity 0 stores nothing and still counts; a NULL report is allowed.
    fac_load_report_init (&report, 0);
    fac_contract_set_t *other = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_load_dir (other, S_DATA "/invalid", &report), 2);
    cr_assert_gt (report.count, 20);
    cr_assert_null (report.errors);
    fac_load_report_free (&report);
    fac_contract_set_t *third = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_load_dir (third, S_DATA "/invalid", NULL), 2);
    fac_contract_set_destroy (&set);
    fac_contract_set_destroy (&other);
    fac_contract_set_destroy (&third);
}

//  One contract with several problems: every one is reported, at its path.
FF_TEST (contracts, every_problem_of_a_contract_is_reported)
{
    const char *text =
        "{\"format\": \"farfan-contract/1\", \"id\": \"bad id!\", \"type\": \"macro\","
        " \"applicable_phases\": [], \"identity\": {\"dimension\": \"DIM07\", \"sector\": \"x\"},"
        " \"inputs\": {\"document\": \"yes\"},"
        " \"patterns\": [{\"id\": \"P1\", \"regex\": \"\", \"element_type\": \"e\", \"wieght\": 1},"
        "                \"not an object\"],"
        " \"expected_elements\": [{\"type\": \"e\", \"minimum\": -2}, {\"type\": \"e\"}],"
        " \"methods\": [], \"scoring\": {\"modality\": \"TYPE_Z\"}, \"x-note\": 1}";
    fac_load_report_t report;
    fac_load_report_init (&report, 32);
    fac_contract_set_t *set = s_set_of (text, &report, 0);
    const char *file = "put_contracts[0]";
    s_assert_error (&report, file, "id", "\"bad id!\" is not an id", "bad id!");
    s_assert_error (&report, file, "version", "required field missing", NULL);
    s_assert_error (&report, file, "type", "\"macro\" is not a type", NULL);
    s_assert_error (&report, file, "applicable_phases", "at least one phase", NULL);
    s_assert_error (&report, file, "identity.dimension", "\"DIM07\" is not in DIM01..DIM06", NULL);
    s_assert_error (&report, file, "identity.sector", "unknown field", NULL);
    s_assert_error (&report, file, "inputs.document", "must be a boolean, not a string", NULL);
    s_assert_error (&report, file, "patterns[0].regex", "must not be empty", NULL);
    s_assert_error (&report, file, "patterns[0].wieght", "did you mean \"weight\"", NULL);
    s_assert_error (&report, file, "patterns[1]", "must be an object, not a string", NULL);
    s_assert_error (&report, file, "expected_elements[0].minimum", "-2 is out of range", NULL);
    s_assert_error (&report, file, "expected_elements[1].type", "expected twice", NULL);
    s_assert_error (&report, file, "methods", "at least one method", NULL);
    s_assert_error (&report, file, "scoring.modality", "\"TYPE_Z\" is not a modality", NULL);
    if (report.count != 14)
        s_print_report (&report);
    cr_assert_eq (report.count, 14);
    cr_assert_eq (fac_contract_set_size (set), 0);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

FF_TEST (contracts, parse_requires_format_and_rejects_sets)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    json_t *object = json_loads (s_micro, 0, NULL);
    cr_assert (object);
    fac_contract_t *contract = fac_contract_parse (object, "direct", NULL, &report);
    cr_assert (contract);
    cr_assert_eq (report.count, 0);
    cr_assert_str_eq (contract->source, "direct");
    fac_contract_unref (&contract);
    cr_assert_null (contract);
    fac_contract_unref (&contract);                                      // idempotent

    json_object_del (object, "format");
    cr_assert_null (fac_contract_parse (object, "direct", NULL, &report));
    s_assert_error (&report, "direct", "format", "required field missing", "M1");

    json_object_set_new (object, "format", json_string ("farfan-contract-set/1"));
    cr_assert_null (fac_contract_parse (object, "direct", NULL, &report));
    s_assert_error (&report, "direct", "format", "must be \"farfan-contract/1\"", "M1");
    cr_assert_eq (report.count, 2);

    json_t *array = json_array ();
    cr_assert_null (fac_contract_parse (array, "direct", NULL, NULL));
    json_decref (array);
    json_decref (object);
    fac_load_report_free (&report);
}

//  Key order, whitespace and spelled-out defaults do not change the digest.
FF_TEST (contracts, digest_stable_across_key_order_whitespace_defaults)
{
    const char *base =
        "{\"format\":\"farfan-contract/1\",\"id\":\"A1\",\"version\":\"1.0.0\",\"type\":\"aggregation\","
        "\"applicable_phases\":[\"P05\",\"P04\"],\"inputs\":{\"contracts\":[\"Q001_PA01\",\"Q002_PA01\"]},"
        "\"methods\":[{\"method\":\"aggregate.weighted_mean\",\"params\":{\"on_missing\":\"zero\","
        "\"weights\":{\"Q001_PA01\":0.5,\"Q002_PA01\":0.5}}}],\"x-owner\":\"team b\"}";
    const char *reordered =
        "{\n  \"x-owner\" : \"team b\",\n  \"methods\": [ { \"params\": { \"weights\": {\"Q002_PA01\": 0.5,"
        " \"Q001_PA01\": 0.5}, \"on_missing\": \"zero\" }, \"method\": \"aggregate.weighted_mean\" } ],\n"
        "\t\"inputs\": {\"contracts\": [\"Q001_PA01\", \"Q002_PA01\"]},\r\n"
        "  \"applicable_phases\": [\"P04\", \"P05\"], \"type\": \"aggregation\", \"version\": \"1.0.0\","
        "  \"id\": \"A1\", \"format\": \"farfan-contract/1\"\n}\n";
    const char *defaults =
        "{\"format\":\"farfan-contract/1\",\"id\":\"A1\",\"version\":\"1.0.0\",\"status\":\"ACTIVE\","
        "\"type\":\"aggregation\",\"identity\":{},\"applicable_phases\":[\"P04\",\"P05\"],"
        "\"inputs\":{\"document\":false,\"contracts\":[\"Q001_PA01\",\"Q002_PA01\"]},\"patterns\":[],"
        "\"expected_elements\":[],\"methods\":[{\"method\":\"aggregate.weighted_mean\",\"params\":"
        "{\"on_missing\":\"zero\",\"weights\":{\"Q001_PA01\":0.5,\"Q002_PA01\":0.5}}}],\"scoring\":{},"
        "\"timeout_ms\":30000,\"x-owner\":\"team b\"}";
    char digest [72];
    snprintf (digest, sizeof digest, "%s", s_digest_of (base));
    cr_assert_str_eq (s_digest_of (reordered), digest);
    cr_assert_str_eq (s_digest_of (defaults), digest);
    //  A byte-order mark is skipped.
    char *bom = zsys_sprintf ("\xEF\xBB\xBF%s", base);
    cr_assert_str_eq (s_digest_of (bom), digest);
    zstr_free (&bom);

    //  Pattern defaults and spellings: weight 1 = 1.0 = absent, flags in any order.
    const char *pattern_a =
        "{\"format\":\"farfan-contract/1\",\"id\":\"M\",\"version\":\"1\",\"type\":\"micro\","
        "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},\"patterns\":[{\"id\":\"P\","
        "\"regex\":\"x\",\"element_type\":\"e\",\"flags\":[\"MULTILINE\",\"IGNORECASE\"]}],"
        "\"expected_elements\":[{\"type\":\"e\"}],\"methods\":[{\"method\":\"text.match_patterns\"}]}";
    const char *pattern_b =
        "{\"format\":\"farfan-contract/1\",\"id\":\"M\",\"version\":\"1\",\"type\":\"micro\","
        "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},\"patterns\":[{\"id\":\"P\","
        "\"regex\":\"x\",\"element_type\":\"e\",\"flags\":[\"IGNORECASE\",\"MULTILINE\"],\"weight\":1}],"
        "\"expected_elements\":[{\"type\":\"e\",\"minimum\":0,\"required\":false}],"
        "\"methods\":[{\"method\":\"text.match_patterns\",\"params\":{}}]}";
    const char *pattern_c =
        "{\"format\":\"farfan-contract/1\",\"id\":\"M\",\"version\":\"1\",\"type\":\"micro\","
        "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},\"patterns\":[{\"id\":\"P\","
        "\"regex\":\"x\",\"element_type\":\"e\",\"flags\":[\"IGNORECASE\",\"MULTILINE\"],\"weight\":1.0}],"
        "\"expected_elements\":[{\"type\":\"e\"}],\"methods\":[{\"method\":\"text.match_patterns\"}]}";
    snprintf (digest, sizeof digest, "%s", s_digest_of (pattern_a));
    cr_assert_str_eq (s_digest_of (pattern_b), digest);
    cr_assert_str_eq (s_digest_of (pattern_c), digest);
}

//  The canonical form is itself a valid contract with the same canonical
//  form, and matches the text and digest computed outside this code
//  (proto/contracts.md's Python recipe, sha256sum).
FF_TEST (contracts, canonical_form_matches_spec_and_reparses)
{
    size_t size;
    char *text = s_slurp (S_DATA "/valid/Q001_PA01.json", &size);
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_add_json (set, text, size, "Q001_PA01.json", &report), 1);
    fac_contract_t *contract = fac_contract_set_lookup (set, "Q001_PA01");
    char *canonical = s_slurp (S_DATA "/canonical/Q001_PA01.canonical.json", NULL);
    char *digest = s_slurp (S_DATA "/canonical/Q001_PA01.digest", NULL);
    digest [strcspn (digest, "\n")] = '\0';
    cr_assert_str_eq (contract->canonical, canonical);
    cr_assert_str_eq (contract->digest, digest);

    //  Re-parsing the canonical form gives the same form.
    fac_contract_set_t *again = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_add_json (again, contract->canonical,
                                             strlen (contract->canonical), "canonical", &report), 1);
    fac_contract_t *reparsed = fac_contract_set_lookup (again, "Q001_PA01");
    cr_assert_str_eq (reparsed->canonical, contract->canonical);
    cr_assert_str_eq (reparsed->digest, contract->digest);
    cr_assert_eq (report.count, 0);
    fac_contract_set_destroy (&again);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
    free (canonical);
    free (digest);
    free (text);
}

//  Reals are written shortest-round-trip (Python repr), strings escaped
//  only where JSON needs it, UTF-8 as is.
FF_TEST (contracts, canonical_numbers_and_strings)
{
    const char *text =
        "{\"format\":\"farfan-contract/1\",\"id\":\"N\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P08\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":5}}],"
        "\"x-n\":[0.1,1e16,1e-05,0.0001,-0.0,100.0,123456789012345678,2.5e-300,1.7976931348623157e308,"
        "0.30000000000000004,1E2],"
        "\"_s\":\"tab\\t quote\\\" back\\\\ nl\\n bell\\u0007 del\\u007f é ✓ slash/ \\ud83d\\ude00\"}";
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = s_set_of (text, &report, 1);
    fac_contract_t *contract = fac_contract_set_lookup (set, "N");
    const char *expected =
        "{\"_s\":\"tab\\t quote\\\" back\\\\ nl\\n bell\\u0007 del\x7f é ✓ slash/ \xF0\x9F\x98\x80\","
        "\"applicable_phases\":[\"P08\"],\"expected_elements\":[],\"format\":\"farfan-contract/1\","
        "\"id\":\"N\",\"identity\":{},\"inputs\":{\"contracts\":[],\"document\":false},"
        "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":5}}],\"patterns\":[],\"scoring\":{},"
        "\"status\":\"ACTIVE\",\"timeout_ms\":30000,\"type\":\"task\",\"version\":\"1\","
        "\"x-n\":[0.1,1e+16,1e-05,0.0001,-0.0,100.0,123456789012345678,2.5e-300,"
        "1.7976931348623157e+308,0.30000000000000004,100.0]}";
    cr_assert_str_eq (contract->canonical, expected);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  Any semantic change gives another digest (and all differ).
FF_TEST (contracts, digest_changes_with_every_semantic_change)
{
    const char *base = S_DATA "/valid/Q001_PA01.json";
    char *text = s_slurp (base, NULL);
    //  Each mutation: a JSON pointer-like path and the new value (JSON).
    struct {
        const char *path;
        const char *value;
    } mutations [] = {
        { "version", "\"1.0.1\"" },
        { "status", "\"INACTIVE\"" },
        { "type", "\"task\"" },
        { "identity.cluster", "\"CL01\"" },
        { "applicable_phases", "[\"P02\",\"P03\"]" },
        { "timeout_ms", "5001" },
        { "patterns.0.regex", "\"\\\\b(DANE|Medicina Legal)\\\\b\"" },
        { "patterns.0.flags", "[\"IGNORECASE\"]" },
        { "patterns.0.weight", "0.86" },
        { "patterns.0.element_type", "\"fuentes\"" },
        { "patterns.0.id", "\"PAT-0999\"" },
        { "expected_elements.1.minimum", "3" },
        { "expected_elements.1.required", "true" },
        { "methods.0.params", "{\"max_matches\":4}" },
        { "scoring.threshold", "0.75" },
        { "_comment", "\"otra nota\"" },
        { "x-new", "1" },
    };
    size_t count = sizeof mutations / sizeof mutations [0];
    char digests [32][72];
    snprintf (digests [0], sizeof digests [0], "%s", s_digest_of (text));
    for (size_t i = 0; i < count; i++) {
        json_t *document = json_loads (text, 0, NULL);
        cr_assert (document);
        //  Walk to the parent of the last component.
        char path [96];
        snprintf (path, sizeof path, "%s", mutations [i].path);
        json_t *parent = document;
        char *component = path, *dot;
        while ((dot = strchr (component, '.'))) {
            *dot = '\0';
            parent = json_is_array (parent) ? json_array_get (parent, (size_t) atoi (component))
                                            : json_object_get (parent, component);
            cr_assert (parent, "%s", mutations [i].path);
            component = dot + 1;
        }
        json_t *value = json_loads (mutations [i].value, JSON_DECODE_ANY, NULL);
        cr_assert (value, "%s", mutations [i].value);
        json_object_set_new (parent, component, value);
        char *changed = json_dumps (document, 0);
        snprintf (digests [i + 1], sizeof digests [0], "%s", s_digest_of (changed));
        free (changed);
        json_decref (document);
        for (size_t j = 0; j <= i; j++)
            cr_assert_str_neq (digests [i + 1], digests [j], "%s changed nothing (or like %zu)",
                               mutations [i].path, j);
    }
    //  Order of patterns, of inputs and of methods is semantic too.
    json_t *document = json_loads (text, 0, NULL);
    json_t *patterns = json_object_get (document, "patterns");
    json_t *first = json_incref (json_array_get (patterns, 0));
    json_array_remove (patterns, 0);
    json_array_append_new (patterns, first);
    char *changed = json_dumps (document, 0);
    cr_assert_str_neq (s_digest_of (changed), digests [0]);
    free (changed);
    json_decref (document);
    free (text);
}

FF_TEST (contracts, set_digest_is_order_independent_and_tracks_changes)
{
    const char *texts [3] = {
        "{\"format\":\"farfan-contract/1\",\"id\":\"T1\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P08\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":1}}]}",
        "{\"format\":\"farfan-contract/1\",\"id\":\"T2\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P08\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":2}}]}",
        "{\"format\":\"farfan-contract/1\",\"id\":\"T3\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P08\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":3}}]}",
    };
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *forward = fac_contract_set_new (NULL);
    fac_contract_set_t *backward = fac_contract_set_new (NULL);
    cr_assert_str_eq (fac_contract_set_digest (forward), S_EMPTY_DIGEST);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (fac_contract_set_add_json (forward, texts [i], strlen (texts [i]), "f", &report), 1);
        cr_assert_eq (fac_contract_set_add_json (backward, texts [2 - i], strlen (texts [2 - i]),
                                                 "b", &report), 1);
    }
    char digest [72];
    snprintf (digest, sizeof digest, "%s", fac_contract_set_digest (forward));
    cr_assert_str_eq (fac_contract_set_digest (backward), digest);
    cr_assert_str_neq (digest, S_EMPTY_DIGEST);

    //  The documented definition: SHA-256 over sorted "<id> <digest>\n".
    char lines [512] = "";
    size_t count;
    fac_contract_t **all = fac_contract_set_all (forward, &count);
    for (size_t i = 0; i < count; i++)
        snprintf (lines + strlen (lines), sizeof lines - strlen (lines), "%s %s\n",
                  all [i]->id, all [i]->digest);
    unsigned char hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const unsigned char *) lines, strlen (lines));
    char expected [72] = "sha256:";
    sodium_bin2hex (expected + 7, sizeof expected - 7, hash, sizeof hash);
    cr_assert_str_eq (digest, expected);

    //  A set file with the same contracts: the same digest.
    char *set_text = zsys_sprintf ("{\"format\":\"farfan-contract-set/1\",\"contracts\":[%s,%s,%s]}",
                                   texts [1], texts [2], texts [0]);
    fac_contract_set_t *from_file = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_add_json (from_file, set_text, strlen (set_text), "s", &report), 3);
    cr_assert_str_eq (fac_contract_set_digest (from_file), digest);
    zstr_free (&set_text);

    //  Replacing one contract changes it; putting it back restores it.
    const char *changed =
        "{\"format\":\"farfan-contract/1\",\"id\":\"T2\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P08\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":20}}]}";
    cr_assert_eq (fac_contract_set_add_json (forward, changed, strlen (changed), "c", &report), 1);
    cr_assert_str_neq (fac_contract_set_digest (forward), digest);
    cr_assert_eq (fac_contract_set_add_json (forward, texts [1], strlen (texts [1]), "c", &report), 1);
    cr_assert_str_eq (fac_contract_set_digest (forward), digest);
    cr_assert_eq (report.count, 0);
    fac_contract_set_destroy (&forward);
    fac_contract_set_destroy (&backward);
    fac_contract_set_destroy (&from_file);
    fac_load_report_free (&report);
}

//  add_json replaces by id; a holder of the old contract keeps it intact.
FF_TEST (contracts, add_json_replaces_by_id_and_old_reference_survives)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = s_set_of (s_micro, &report, 1);
    fac_contract_t *old = fac_contract_ref (fac_contract_set_lookup (set, "M1"));
    cr_assert_eq (atomic_load (&old->refs), 2);
    char old_digest [72];
    snprintf (old_digest, sizeof old_digest, "%s", old->digest);
    size_t count;
    fac_contract_t **before = fac_contract_set_all (set, &count);
    cr_assert_eq (count, 1);
    cr_assert_eq (before [0], old);

    json_t *document = json_loads (s_micro, 0, NULL);
    json_object_set_new (document, "version", json_string ("2.0.0"));
    char *text = json_dumps (document, 0);
    cr_assert_eq (fac_contract_set_add_json (set, text, strlen (text), "put_contracts[1]", &report), 1);
    cr_assert_eq (report.count, 0);
    cr_assert_eq (fac_contract_set_size (set), 1);
    fac_contract_t *current = fac_contract_set_lookup (set, "M1");
    cr_assert_neq (current, old);
    cr_assert_str_eq (current->version, "2.0.0");
    cr_assert_str_eq (current->source, "put_contracts[1]");
    cr_assert_str_neq (current->digest, old_digest);
    fac_contract_t **after = fac_contract_set_all (set, &count);
    cr_assert_eq (count, 1);
    cr_assert_eq (after [0], current);

    //  The old one: the set dropped its reference, ours keeps it alive.
    cr_assert_eq (atomic_load (&old->refs), 1);
    cr_assert_str_eq (old->version, "1.0.0");
    cr_assert_str_eq (old->digest, old_digest);
    cr_assert_str_eq (old->patterns [0].regex, "fuentes? oficiales?");
    fac_contract_unref (&old);

    //  An invalid replacement leaves the current one in place.
    json_object_set_new (document, "version", json_string ("3.0.0"));
    json_object_set_new (document, "timeout_ms", json_integer (0));
    free (text);
    text = json_dumps (document, 0);
    cr_assert_eq (fac_contract_set_add_json (set, text, strlen (text), "put_contracts[2]", &report), 0);
    s_assert_error (&report, "put_contracts[2]", "timeout_ms", "0 is out of range", "M1");
    cr_assert_str_eq (fac_contract_set_lookup (set, "M1")->version, "2.0.0");
    free (text);
    json_decref (document);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  A contract and its compiled form outlive the set that loaded them.
FF_TEST (contracts, references_outlive_the_set)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_load_dir (set, S_DATA "/valid", &report), 5);
    fac_contract_t *held = fac_contract_ref (fac_contract_set_lookup (set, "Q001_PA01"));
    char err [256];
    fac_compiled_t *compiled = fac_compiled_new (fac_contract_set_lookup (set, "Q001_PA01"),
                                                 err, sizeof err);
    cr_assert (compiled, "%s", err);
    cr_assert_eq (atomic_load (&held->refs), 3);
    fac_compiled_t *second = fac_compiled_ref (compiled);
    fac_contract_set_destroy (&set);
    cr_assert_eq (atomic_load (&held->refs), 2);
    cr_assert_str_eq (compiled->contract->id, "Q001_PA01");
    cr_assert_eq (compiled->contract->pattern_count, 3);

    //  The compiled pattern works after the set is gone.
    pcre2_match_data *match = pcre2_match_data_create_from_pattern (compiled->codes [0], NULL);
    const char *subject = "Según el dane, la tasa ...";
    cr_assert_gt (pcre2_match (compiled->codes [0], (PCRE2_SPTR) subject, strlen (subject), 0, 0,
                               match, NULL), 0);
    pcre2_match_data_free (match);
    fac_compiled_unref (&compiled);
    fac_compiled_unref (&second);
    cr_assert_null (second);
    cr_assert_eq (atomic_load (&held->refs), 1);
    cr_assert_str_eq (held->modality, "TYPE_A");
    fac_contract_unref (&held);
    fac_load_report_free (&report);
}

//  Refcounts are atomic: threads taking and dropping references while the
//  owner lets go of the set end with the contract freed exactly once
//  (ASan reports a double free or a leak otherwise).
static void *
s_ref_worker (void *arg)
{
    fac_contract_t *contract = (fac_contract_t *) arg;
    for (int i = 0; i < 20000; i++) {
        fac_contract_t *extra = fac_contract_ref (contract);
        fac_contract_unref (&extra);
    }
    fac_contract_unref (&contract);
    return NULL;
}

FF_TEST (contracts, refcounts_are_thread_safe)
{
    fac_contract_set_t *set = s_set_of (s_micro, NULL, 1);
    fac_contract_t *contract = fac_contract_set_lookup (set, "M1");
    pthread_t threads [4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq (pthread_create (&threads [i], NULL, s_ref_worker,
                                      fac_contract_ref (contract)), 0);
    fac_contract_set_destroy (&set);
    for (int i = 0; i < 4; i++)
        pthread_join (threads [i], NULL);
}

FF_TEST (contracts, phase_parse_spellings)
{
    struct {
        const char *text;
        int phase;
    } cases [] = {
        { "P00", 0 }, { "P02", 2 }, { "P09", 9 }, { "p2", 2 }, { "P2", 2 }, { "p09", 9 },
        { "phase_02", 2 }, { "Phase_02", 2 }, { "PHASE_7", 7 }, { "2", 2 }, { "09", 9 }, { "0", 0 },
        { "P10", -1 }, { "P-1", -1 }, { "", -1 }, { "P", -1 }, { "phase_", -1 }, { "phase_10", -1 },
        { "Q02", -1 }, { "P 2", -1 }, { " P02", -1 }, { "P02 ", -1 }, { "P002", -1 }, { "10", -1 },
        { "phase-02", -1 }, { "P2a", -1 }, { "P+2", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        cr_assert_eq (fac_phase_parse (cases [i].text), cases [i].phase, "\"%s\"", cases [i].text);
    cr_assert_eq (fac_phase_parse (NULL), -1);

    //  Contracts spell phases canonically; another spelling gets a hint.
    const char *text =
        "{\"format\":\"farfan-contract/1\",\"id\":\"T\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"phase_08\",\"P08\",\"P08\",7],"
        "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":1}}]}";
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = s_set_of (text, &report, 0);
    s_assert_error (&report, "put_contracts[0]", "applicable_phases[0]", "write \"P08\"", "T");
    s_assert_error (&report, "put_contracts[0]", "applicable_phases[2]", "listed twice", "T");
    s_assert_error (&report, "put_contracts[0]", "applicable_phases[3]", "must be a string", "T");
    cr_assert_eq (report.count, 3);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

FF_TEST (contracts, load_dir_missing_directory)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 4);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    const char *dir = S_DATA "/no-such-directory";
    cr_assert_eq (fac_contract_set_load_dir (set, dir, &report), -1);
    cr_assert_eq (report.count, 1);
    cr_assert_str_eq (report.errors [0].file, dir);
    cr_assert_str_eq (report.errors [0].field, "");
    cr_assert (strstr (report.errors [0].reason, "No such file or directory"),
               "%s", report.errors [0].reason);
    cr_assert_eq (fac_contract_set_size (set), 0);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  Unreadable entries are reported, hidden and non-.json files skipped,
//  the rest loads; a second load of the same directory is all duplicates.
FF_TEST (contracts, load_dir_unreadable_entries_and_reload)
{
    char dir [] = "/tmp/farfan-contracts-XXXXXX";
    cr_assert (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/a_good.json", dir);
    FILE *file = fopen (path, "w");
    fputs (s_micro, file);
    fclose (file);
    snprintf (path, sizeof path, "%s/.hidden.json", dir);
    file = fopen (path, "w");
    fputs ("not json", file);
    fclose (file);
    snprintf (path, sizeof path, "%s/notes.txt", dir);
    file = fopen (path, "w");
    fputs ("not json", file);
    fclose (file);
    char target [256];
    snprintf (target, sizeof target, "%s/missing-target", dir);
    snprintf (path, sizeof path, "%s/b_broken.json", dir);
    cr_assert_eq (symlink (target, path), 0);
    snprintf (path, sizeof path, "%s/c_directory.json", dir);
    cr_assert_eq (mkdir (path, 0700), 0);

    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_load_dir (set, dir, &report), 1);
    s_assert_error (&report, "/b_broken.json", "", "cannot read: No such file or directory", "");
    s_assert_error (&report, "/c_directory.json", "", "not a regular file", "");
    cr_assert_eq (report.count, 2);
    cr_assert (fac_contract_set_lookup (set, "M1"));

    //  Loading again into the same set: the id is already there.
    fac_load_report_free (&report);
    fac_load_report_init (&report, 8);
    cr_assert_eq (fac_contract_set_load_dir (set, dir, &report), 0);
    s_assert_error (&report, "/a_good.json", "id", "duplicate contract id \"M1\" (already loaded "
                    "from ", "M1");
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);

    char *command = zsys_sprintf ("rm -rf '%s'", dir);
    cr_assert_eq (system (command), 0);
    zstr_free (&command);
}

FF_TEST (contracts, add_json_bad_documents)
{
    fac_load_report_t report;
    fac_load_report_init (&report, 16);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    const char *bad = "{\"format\": \"farfan-contract/1\",\n \"id\": \"X\",,\n}";
    cr_assert_eq (fac_contract_set_add_json (set, bad, strlen (bad), "put_contracts[0]", &report), 0);
    s_assert_error (&report, "put_contracts[0]", "", "invalid JSON at line 2, column", "");
    cr_assert_eq (fac_contract_set_add_json (set, "", 0, "put_contracts[1]", &report), 0);
    s_assert_error (&report, "put_contracts[1]", "", "empty document", "");
    cr_assert_eq (fac_contract_set_add_json (set, NULL, 0, "put_contracts[2]", &report), 0);
    const char *duplicate_keys = "{\"format\": \"farfan-contract/1\", \"id\": \"X\", \"id\": \"Y\"}";
    cr_assert_eq (fac_contract_set_add_json (set, duplicate_keys, strlen (duplicate_keys),
                                             "put_contracts[3]", &report), 0);
    s_assert_error (&report, "put_contracts[3]", "", "duplicate object key", "");
    const char *set_errors =
        "{\"format\": \"farfan-contract-set/1\", \"contract\": [], \"x-ok\": 1}";
    cr_assert_eq (fac_contract_set_add_json (set, set_errors, strlen (set_errors),
                                             "put_contracts[4]", &report), 0);
    s_assert_error (&report, "put_contracts[4]", "contract", "did you mean \"contracts\"", "");
    s_assert_error (&report, "put_contracts[4]", "contracts", "required field missing", "");
    //  A set whose element is not an object, and an id defined twice.
    char *set_text = zsys_sprintf ("{\"format\": \"farfan-contract-set/1\", \"contracts\": "
                                   "[%s, 42, %s]}", s_micro, s_micro);
    cr_assert_eq (fac_contract_set_add_json (set, set_text, strlen (set_text), "put_contracts[5]",
                                             &report), 1);
    s_assert_error (&report, "put_contracts[5]", "contracts[1]", "must be a JSON object, not an "
                    "integer", "");
    s_assert_error (&report, "put_contracts[5]", "contracts[2].id", "duplicate contract id \"M1\" "
                    "(first defined in contracts[0] of put_contracts[5])", "M1");
    zstr_free (&set_text);
    if (report.count != 8)
        s_print_report (&report);
    cr_assert_eq (report.count, 8);
    cr_assert_eq (fac_contract_set_size (set), 1);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  exec is validated against the factory's allow list.
FF_TEST (contracts, exec_step_disabled_or_allowed_by_env)
{
    const char *text =
        "{\"format\":\"farfan-contract/1\",\"id\":\"E1\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P08\"],"
        "\"methods\":[{\"method\":\"exec\",\"params\":{\"argv\":[\"/bin/cat\",\"-\"]}}]}";
    fac_load_report_t report;
    fac_load_report_init (&report, 8);

    fac_contract_set_t *disabled = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_add_json (disabled, text, strlen (text), "put", &report), 0);
    s_assert_error (&report, "put", "methods[0].params.argv[0]", "exec is disabled", "E1");
    fac_contract_set_destroy (&disabled);

    const char *none [] = { NULL };
    fac_method_env_t empty = { none, 0 };
    fac_contract_set_t *empty_set = fac_contract_set_new (&empty);
    cr_assert_eq (fac_contract_set_add_json (empty_set, text, strlen (text), "put", &report), 0);
    cr_assert_eq (report.count, 2);
    fac_contract_set_destroy (&empty_set);

    const char *elsewhere_list [] = { "/usr/local/bin/" };
    fac_method_env_t elsewhere = { elsewhere_list, 1 };
    fac_contract_set_t *other = fac_contract_set_new (&elsewhere);
    cr_assert_eq (fac_contract_set_add_json (other, text, strlen (text), "put", &report), 0);
    s_assert_error (&report, "put", "methods[0].params.argv[0]", "not allowed", "E1");
    fac_contract_set_destroy (&other);

    const char *allowed_list [] = { "/usr/local/bin/", "/bin/" };
    fac_method_env_t allowed = { allowed_list, 2 };
    fac_contract_set_t *set = fac_contract_set_new (&allowed);
    size_t before = report.count;
    cr_assert_eq (fac_contract_set_add_json (set, text, strlen (text), "put", &report), 1);
    cr_assert_eq (report.count, before);
    fac_contract_t *contract = fac_contract_set_lookup (set, "E1");
    cr_assert_str_eq (contract->steps [0].method, "exec");
    fac_contract_set_destroy (&set);

    const char *exact_list [] = { "/bin/cat" };
    fac_method_env_t exact = { exact_list, 1 };
    set = fac_contract_set_new (&exact);
    cr_assert_eq (fac_contract_set_add_json (set, text, strlen (text), "put", &report), 1);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  A LITERAL pattern (93 of upstream's 1,747, with IGNORECASE and
//  MULTILINE) loads and matches its text literally.
FF_TEST (contracts, literal_pattern_loads_and_matches_literally)
{
    const char *text =
        "{\"format\":\"farfan-contract/1\",\"id\":\"L1\",\"version\":\"1\",\"type\":\"micro\","
        "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
        "\"patterns\":[{\"id\":\"P\",\"regex\":\"(?:19|20)\\\\d{2}|serie histórica\","
        "\"flags\":[\"IGNORECASE\",\"MULTILINE\",\"LITERAL\"],\"element_type\":\"e\"}],"
        "\"methods\":[{\"method\":\"text.match_patterns\"}]}";
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = s_set_of (text, &report, 1);
    fac_contract_t *contract = fac_contract_set_lookup (set, "L1");
    cr_assert_eq (contract->patterns [0].flags,
                  FAC_PATTERN_IGNORECASE | FAC_PATTERN_MULTILINE | FAC_PATTERN_LITERAL);
    cr_assert (strstr (contract->canonical,
                       "\"flags\":[\"IGNORECASE\",\"MULTILINE\",\"LITERAL\"]"));
    char err [256];
    fac_compiled_t *compiled = fac_compiled_new (contract, err, sizeof err);
    cr_assert (compiled, "%s", err);
    pcre2_match_data *match = pcre2_match_data_create_from_pattern (compiled->codes [0], NULL);
    const char *literal = "la (?:19|20)\\D{2}|SERIE HISTÓRICA aquí";
    const char *year = "en 2015";
    cr_assert_gt (pcre2_match (compiled->codes [0], (PCRE2_SPTR) literal, strlen (literal), 0, 0,
                               match, NULL), 0);
    cr_assert_eq (pcre2_match (compiled->codes [0], (PCRE2_SPTR) year, strlen (year), 0, 0,
                               match, NULL), PCRE2_ERROR_NOMATCH);
    pcre2_match_data_free (match);
    fac_compiled_unref (&compiled);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  The registry's parameter checks are reported at the parameter's path;
//  a check that only sees the consequence of an earlier error is not.
FF_TEST (contracts, method_param_errors_name_the_parameter)
{
    const char *text =
        "{\"format\":\"farfan-contract/1\",\"id\":\"AGG\",\"version\":\"1\",\"type\":\"aggregation\","
        "\"applicable_phases\":[\"P04\"],\"inputs\":{\"contracts\":[\"A\",\"B\"]},"
        "\"methods\":[{\"method\":\"aggregate.weighted_mean\",\"params\":{\"weights\":{\"A\":1,\"C\":1}}},"
        "{\"method\":\"io.wait\",\"params\":{\"seconds\":1}}]}";
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    fac_contract_set_t *set = s_set_of (text, &report, 0);
    s_assert_error (&report, "put_contracts[0]", "methods[0].params.weights.C",
                    "not an input of this contract", "AGG");
    s_assert_error (&report, "put_contracts[0]", "methods[1].params.seconds", "unknown parameter",
                    "AGG");
    cr_assert_eq (report.count, 2);
    fac_contract_set_destroy (&set);

    //  Every pattern invalid: text.match_patterns's "needs a pattern" is a
    //  consequence, not reported again.
    const char *patterns =
        "{\"format\":\"farfan-contract/1\",\"id\":\"M\",\"version\":\"1\",\"type\":\"micro\","
        "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
        "\"patterns\":[{\"id\":\"P\",\"regex\":\"(\",\"element_type\":\"e\"}],"
        "\"methods\":[{\"method\":\"text.match_patterns\"}]}";
    fac_load_report_free (&report);
    fac_load_report_init (&report, 8);
    set = s_set_of (patterns, &report, 0);
    s_assert_error (&report, "put_contracts[0]", "patterns[0].regex", "does not compile", "M");
    cr_assert_eq (report.count, 1);
    fac_contract_set_destroy (&set);

    //  No patterns at all: then it is the problem, named by the method.
    const char *no_patterns =
        "{\"format\":\"farfan-contract/1\",\"id\":\"M\",\"version\":\"1\",\"type\":\"micro\","
        "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
        "\"methods\":[{\"method\":\"text.match_patterns\"}]}";
    fac_load_report_free (&report);
    fac_load_report_init (&report, 8);
    set = s_set_of (no_patterns, &report, 0);
    s_assert_error (&report, "put_contracts[0]", "patterns",
                    "methods[0] (text.match_patterns): text.match_patterns needs at least one "
                    "pattern", "M");
    cr_assert_eq (report.count, 1);
    fac_contract_set_destroy (&set);
    fac_load_report_free (&report);
}

//  Failing jansson's n-th allocation, for every n, while a parsed document
//  is validated and canonicalised: each attempt gives the reference
//  contract (same digest) or a rejection with an error; never a wrong
//  digest, a crash or a leak (ASan). (Not while jansson parses text: its
//  lexer drops a byte when its buffer cannot grow, akheron/jansson#362.)
static long s_allocations_left;

static void *
s_failing_malloc (size_t size)
{
    if (s_allocations_left-- == 0)
        return NULL;
    return malloc (size);
}

FF_TEST (contracts, allocation_failures_never_corrupt_a_contract)
{
    size_t size;
    char *text = s_slurp (S_DATA "/valid/Q001_PA01.json", &size);
    char reference [72];
    snprintf (reference, sizeof reference, "%s", s_digest_of (text));
    json_t *document = json_loads (text, 0, NULL);
    cr_assert (document);
    s_allocations_left = -1;
    json_set_alloc_funcs (s_failing_malloc, free);
    bool completed = false;
    long failures = 0;
    for (long n = 0; n < 100000 && !completed; n++) {
        fac_load_report_t report;
        fac_load_report_init (&report, 4);
        s_allocations_left = n;
        fac_contract_t *contract = fac_contract_parse (document, "oom", NULL, &report);
        completed = s_allocations_left >= 0;     // no failure was injected
        s_allocations_left = -1;                  // and none from here on
        if (contract) {
            cr_assert_str_eq (contract->digest, reference,
                              "allocation %ld failed and the digest changed", n);
            cr_assert_eq (report.count, 0);
        }
        else {
            cr_assert_geq (report.count, 1, "allocation %ld failed silently", n);
            failures++;
        }
        fac_contract_unref (&contract);
        fac_load_report_free (&report);
    }
    json_set_alloc_funcs (malloc, free);
    cr_assert (completed);
    cr_assert_gt (failures, 50);
    json_decref (document);
    free (text);
}
