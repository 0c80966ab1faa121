/*  The main job end to end (issue #6): the full pipeline P00-P09 on the
    real plan (../shared/farfan-upstream/plans/Plan_1.txt, and Plan_1.pdf
    through pdftotext), an orchestrator and two factories started
    in-process on loopback, the contract set the orchestrator loads from a
    directory: the shipped default set (contracts/default) and the upstream
    questionnaire imported with `farfanctl contracts import`. Skipped, with
    the reason, when the upstream data is absent.

    Everything is asked through the orchestrator's client API (SUBMIT,
    WATCH, RESULTS per phase, REPORT) and checked against the text that was
    submitted and against the other results of the same run:

    - the run succeeds with every phase: 1, 1, 300, 300, 60, 10, 4, 1, 1, 1
      contracts, every result OK and in its phase;
    - every score in 0-3 and every quality level the one of its score
      (proto/methods.md: EXCELENTE n >= 0.85, BUENO >= 0.70, ACEPTABLE >=
      0.55 of the maximum 3, else INSUFICIENTE);
    - every quoted match is the submitted text at its byte offset and
      length, byte-exact, capped at FAC_EVIDENCE_SNIPPET_MAX bytes cut at a
      UTF-8 boundary; every nonzero question score has such a match;
    - the aggregations read the inputs the design fixes (5 questions, 6
      dimensions, the cluster's areas, the 4 clusters) and their numbers
      follow from those inputs (Choquet between min and max; the weighted
      means, dispersion penalty and coherence recomputed);
    - RECOMMEND fires once per missing element of every question below
      EXCELENTE, each naming the question, the element and a section of
      the plan (one INGEST found) or "no section";
    - the JSON report (REPORT's result and the REPORT request) lists every
      level with the very scores of the results. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fac_method.h"
#include "ff_test.h"
#include "orchestrator.pb-c.h"

#define S_UPSTREAM FF_TEST_SOURCE_ROOT "/../shared/farfan-upstream"
#define S_PLAN_TXT S_UPSTREAM "/plans/Plan_1.txt"
#define S_PLAN_PDF S_UPSTREAM "/plans/Plan_1.pdf"
#define S_DEFAULT_SET FF_TEST_SOURCE_ROOT "/contracts/default"
#define S_SOURCE FF_TEST_SOURCE_ROOT "/contracts/src"
#define S_PDFTOTEXT "/usr/bin/pdftotext"

//  A whole run, and any one reply (a RESULTS of 300 contracts with their
//  evidence, the report), under AddressSanitizer on a loaded 2-core
//  machine: generous bounds, never waited out on success.
#define S_RUN_MS 180000
#define S_REPLY_MS 60000
#define S_EPSILON 1e-9

//  ---------------------------------------------------------------------
//  Files and processes

static char *
s_temp_dir (void)
{
    char *path = strdup ("/tmp/farfan-pipeline-XXXXXX");
    cr_assert_not_null (mkdtemp (path));
    return path;
}

//  Runs program argv... to completion within timeout_ms; asserts exit 0.
static void
s_run_program (const char *program, char *const argv [], int timeout_ms)
{
    ff_test_process_t *process = ff_test_spawn (program, argv, NULL);
    int code = ff_test_process_wait_exit (process, timeout_ms);
    cr_assert_eq (code, 0, "%s exited %d\nstdout:\n%.2000s\nstderr:\n%.2000s", argv [0], code,
                  ff_test_process_stdout (process), ff_test_process_stderr (process));
    ff_test_process_destroy (&process);
}

//  The imported upstream set, written to a new directory (caller removes).
static char *
s_import_upstream (void)
{
    char *out = s_temp_dir ();
    char program [512];
    ff_test_build_path ("services/farfanctl", program, sizeof program);
    char *argv [] = { "farfanctl", "contracts", "import", "--farfan", S_UPSTREAM, "--out", out,
                      "--source", S_SOURCE, NULL };
    s_run_program (program, argv, S_REPLY_MS);
    return out;
}

//  "sha256:<hex>" of data, as the orchestrator names a document.
static void
s_digest (const char *data, size_t size, char *digest)
{
    static const char hex [] = "0123456789abcdef";
    unsigned char hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const unsigned char *) data, size);
    memcpy (digest, "sha256:", 7);
    for (size_t i = 0; i < sizeof hash; i++) {
        digest [7 + 2 * i] = hex [hash [i] >> 4];
        digest [8 + 2 * i] = hex [hash [i] & 15];
    }
    digest [7 + 2 * sizeof hash] = '\0';
}

//  ---------------------------------------------------------------------
//  The system: an orchestrator, two factories registered to it

typedef struct {
    ff_test_service_t *orchestrator;
    ff_test_service_t *factories [2];
    zsock_t *client;                    // DEALER on the client API
} s_system_t;

//  ff_test_call_ok with the pipeline's reply bound (S_REPLY_MS: SUBMIT of
//  a PDF, RESULTS and REPORT of the whole upstream set take longer than
//  FF_TEST_TIMEOUT_MS under ASan).
static ff_msg_t *
s_call (zsock_t *client, uint32_t type, const ProtobufCMessage *body, uint32_t expected)
{
    ff_msg_t *reply = ff_test_call (client, type, body, S_REPLY_MS);
    cr_assert_not_null (reply, "no answer to %s within %d ms", ff_msg_type_name (type), S_REPLY_MS);
    cr_assert_eq (ff_msg_type (reply), expected, "%s answered %s: %s %s", ff_msg_type_name (type),
                  ff_msg_type_name (ff_msg_type (reply)),
                  ff_msg_code_name (ff_msg_status_code (reply)), ff_msg_status_message (reply));
    return reply;
}

//  Starts the orchestrator on contracts_dir and two factories (no
//  contracts of their own: the orchestrator ships the set), and waits
//  until both are registered.
static s_system_t
s_system_start (const char *contracts_dir)
{
    s_system_t system = { NULL };
    system.orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir", contracts_dir,
                                                 "--watch-interval-ms", "50", NULL);
    char *link = zsys_sprintf (">%s", ff_test_service_endpoint (system.orchestrator, "worker"));
    for (size_t i = 0; i < 2; i++)
        system.factories [i] = ff_test_service_start ("factory", "--orchestrator-endpoint", link,
                                                      "--max-workers", "2", NULL);
    zstr_free (&link);
    system.client = ff_test_dealer (ff_test_service_endpoint (system.orchestrator, "client"));
    int64_t deadline = zclock_mono () + S_REPLY_MS;
    size_t registered;
    while ((registered = ff_test_factory_count (system.client)) < 2) {
        cr_assert_lt (zclock_mono (), deadline, "%zu of 2 factories registered", registered);
        zpoller_t *poller = zpoller_new (system.client, NULL);
        zpoller_wait (poller, 10);         //  nothing comes: a pause between looks
        zpoller_destroy (&poller);
    }
    return system;
}

static void
s_system_stop (s_system_t *system)
{
    zsock_destroy (&system->client);
    for (size_t i = 0; i < 2; i++)
        ff_test_service_stop (&system->factories [i]);
    ff_test_service_stop (&system->orchestrator);
}

//  SUBMITs the document (text or PDF bytes); returns the run id.
static char *
s_submit (s_system_t *system, const char *data, size_t size, const char *name)
{
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) data;
    submit.document.len = size;
    submit.name = (char *) name;
    ff_msg_t *reply = s_call (system->client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base,
                              FARFAN__MESSAGE_TYPE__SUBMITTED);
    Farfan__Submitted *submitted = farfan__submitted__unpack (NULL, ff_msg_body_size (reply),
                                                             ff_msg_body_data (reply));
    cr_assert_not_null (submitted);
    char *run_id = strdup (submitted->run_id);
    farfan__submitted__free_unpacked (submitted, NULL);
    ff_msg_destroy (&reply);
    return run_id;
}

//  WATCHes the run to its final PROGRESS (S_RUN_MS in all); returns it.
static Farfan__RunStatus *
s_watch (s_system_t *system, const char *run_id)
{
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = (char *) run_id;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__WATCH, .correlation_id = "watch" };
    cr_assert_eq (ff_msg_send (system->client, NULL, false, &header, &ref.base), 0);
    zpoller_t *poller = zpoller_new (system->client, NULL);
    int64_t deadline = zclock_mono () + S_RUN_MS;
    ff_msg_t *reply = ff_msg_new ();
    Farfan__RunStatus *status = NULL;
    while (!status || !ff_test_run_final (status->state)) {
        int64_t left = deadline - zclock_mono ();
        cr_assert (left > 0 && zpoller_wait (poller, (int) left), "run %s has not ended after %d ms",
                   run_id, S_RUN_MS);
        if (ff_msg_recv (reply, system->client) != 0
        ||  !streq (ff_msg_correlation_id (reply), "watch"))
            continue;
        cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PROGRESS, "%s %s",
                      ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
        if (status)
            farfan__run_status__free_unpacked (status, NULL);
        status = farfan__run_status__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
        cr_assert_not_null (status);
    }
    ff_msg_destroy (&reply);
    zpoller_destroy (&poller);
    return status;
}

static Farfan__RunResults *
s_results (s_system_t *system, const char *run_id, const char *phase)
{
    Farfan__ResultsRequest request = FARFAN__RESULTS_REQUEST__INIT;
    request.run_id = (char *) run_id;
    request.phase = (char *) phase;
    ff_msg_t *reply = s_call (system->client, FARFAN__MESSAGE_TYPE__RESULTS, &request.base,
                              FARFAN__MESSAGE_TYPE__RUN_RESULTS);
    Farfan__RunResults *results = farfan__run_results__unpack (NULL, ff_msg_body_size (reply),
                                                               ff_msg_body_data (reply));
    cr_assert_not_null (results);
    ff_msg_destroy (&reply);
    return results;
}

static Farfan__RunReport *
s_report (s_system_t *system, const char *run_id, const char *format)
{
    Farfan__ReportRequest request = FARFAN__REPORT_REQUEST__INIT;
    request.run_id = (char *) run_id;
    request.format = (char *) format;
    ff_msg_t *reply = s_call (system->client, FARFAN__MESSAGE_TYPE__REPORT, &request.base,
                              FARFAN__MESSAGE_TYPE__RUN_REPORT);
    Farfan__RunReport *report = farfan__run_report__unpack (NULL, ff_msg_body_size (reply),
                                                            ff_msg_body_data (reply));
    cr_assert_not_null (report);
    ff_msg_destroy (&reply);
    return report;
}

//  ---------------------------------------------------------------------
//  One run's results, by contract id

static const struct {
    const char *phase;
    size_t count;
} s_phases [] = {
    { "P00", 1 }, { "P01", 1 }, { "P02", 300 }, { "P03", 300 }, { "P04", 60 },
    { "P05", 10 }, { "P06", 4 }, { "P07", 1 }, { "P08", 1 }, { "P09", 1 },
};
#define S_PHASES (sizeof s_phases / sizeof s_phases [0])

//  The clusters of a FARFAN set (issue6-design.md), policy areas by number.
static const int s_clusters [4][4] = { { 2, 3, 7, 0 }, { 1, 5, 6, 0 }, { 4, 8, 0 }, { 9, 10, 0 } };

typedef struct {
    const char *text;                   // the submitted text
    size_t size;
    Farfan__RunResults *phases [S_PHASES];
    zhashx_t *by_id;                    // contract id -> Farfan__ContractResult (borrowed)
    zhashx_t *outputs;                  // contract id -> json_t output (owned)
} s_run_t;

static void
s_output_free (void **item)
{
    json_decref ((json_t *) *item);
    *item = NULL;
}

//  Fetches every phase's results and checks each phase holds its
//  contracts, each once, all OK.
static void
s_run_load (s_run_t *run, s_system_t *system, const char *run_id, const char *text, size_t size)
{
    memset (run, 0, sizeof *run);
    run->text = text;
    run->size = size;
    run->by_id = zhashx_new ();
    run->outputs = zhashx_new ();
    zhashx_set_destructor (run->outputs, s_output_free);
    for (size_t p = 0; p < S_PHASES; p++) {
        Farfan__RunResults *results = s_results (system, run_id, s_phases [p].phase);
        run->phases [p] = results;
        cr_assert_eq (results->n_results, s_phases [p].count, "%s: %zu results, not %zu",
                      s_phases [p].phase, results->n_results, s_phases [p].count);
        for (size_t i = 0; i < results->n_results; i++) {
            Farfan__ContractResult *result = results->results [i];
            cr_assert_eq (zhashx_insert (run->by_id, result->contract_id, result), 0,
                          "%s listed twice", result->contract_id);
            cr_assert_eq (result->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s: status %d: %s",
                          result->contract_id, result->status, result->error);
            json_error_t error;
            json_t *output = json_loads (result->output_json, 0, &error);
            cr_assert (json_is_object (output), "%s: output is not a JSON object: %s",
                       result->contract_id, error.text);
            zhashx_insert (run->outputs, result->contract_id, output);
        }
    }
}

static void
s_run_free (s_run_t *run)
{
    zhashx_destroy (&run->by_id);
    zhashx_destroy (&run->outputs);
    for (size_t p = 0; p < S_PHASES; p++)
        if (run->phases [p])
            farfan__run_results__free_unpacked (run->phases [p], NULL);
}

static const Farfan__ContractResult *
s_result (s_run_t *run, const char *id)
{
    const Farfan__ContractResult *result = zhashx_lookup (run->by_id, id);
    cr_assert_not_null (result, "no result for %s", id);
    return result;
}

//  The output of method `method` in contract id's output.
static json_t *
s_output (s_run_t *run, const char *id, const char *method)
{
    json_t *output = json_object_get (zhashx_lookup (run->outputs, id), method);
    cr_assert (json_is_object (output), "%s: no %s output", id, method);
    return output;
}

//  ---------------------------------------------------------------------
//  Checks

//  The quality level of a score on 0-3 (proto/methods.md): a score within
//  S_EPSILON of a boundary reaches it.
static const char *
s_level (double score)
{
    if (score >= 3 * 0.85 - S_EPSILON)
        return "EXCELENTE";
    if (score >= 3 * 0.70 - S_EPSILON)
        return "BUENO";
    if (score >= 3 * 0.55 - S_EPSILON)
        return "ACEPTABLE";
    return "INSUFICIENTE";
}

static void
s_assert_scored (const Farfan__ContractResult *result)
{
    cr_assert (isfinite (result->score) && result->score >= 0 && result->score <= 3,
               "%s: score %.17g is not in 0..3", result->contract_id, result->score);
    cr_assert_str_eq (result->quality, s_level (result->score), "%s: score %.17g is %s, not %s",
                      result->contract_id, result->score, s_level (result->score), result->quality);
    cr_assert (isfinite (result->ratio) && result->ratio >= 0 && result->ratio <= 1,
               "%s: ratio %.17g", result->contract_id, result->ratio);
}

//  Asserts a quoted match is the text at its offset: byte-exact, cut at
//  the last UTF-8 boundary within FAC_EVIDENCE_SNIPPET_MAX bytes when the
//  match is longer. An empty quote (a result that carries offsets only)
//  is checked for its bounds. Returns whether the text was quoted.
static bool
s_assert_match (s_run_t *run, const char *id, const Farfan__Match *match)
{
    cr_assert_leq (match->offset + match->length, run->size,
                   "%s: match at %llu + %u beyond the %zu bytes of the text", id,
                   (unsigned long long) match->offset, match->length, run->size);
    size_t quoted = strlen (match->text);
    if (quoted == 0)
        return false;
    const char *at = run->text + match->offset;
    size_t cap = match->length < FAC_EVIDENCE_SNIPPET_MAX ? match->length : FAC_EVIDENCE_SNIPPET_MAX;
    cr_assert_leq (quoted, cap, "%s: %zu bytes quoted of a %u-byte match", id, quoted, match->length);
    cr_assert_eq (memcmp (at, match->text, quoted), 0, "%s: \"%s\" is not the text at %llu", id,
                  match->text, (unsigned long long) match->offset);
    //  Cut no earlier than the last character boundary within the cap:
    //  every byte between the cut and the cap continues a character.
    for (size_t j = quoted; j < cap; j++)
        cr_assert_eq ((unsigned char) at [j] & 0xC0, 0x80,
                      "%s: the quote at %llu stops at byte %zu of %u, a character boundary "
                      "before the cap", id, (unsigned long long) match->offset, quoted, match->length);
    if (cap < match->length || quoted < cap)
        cr_assert_neq ((unsigned char) at [quoted] & 0xC0, 0x80,
                       "%s: the quote at %llu ends inside a character", id,
                       (unsigned long long) match->offset);
    return true;
}

//  Checks a result's evidence (counts, satisfaction, every match);
//  returns how many matches were quoted.
static size_t
s_assert_evidence (s_run_t *run, const Farfan__ContractResult *result)
{
    size_t quoted = 0;
    for (size_t e = 0; e < result->n_evidence; e++) {
        const Farfan__Evidence *evidence = result->evidence [e];
        cr_assert_leq (evidence->n_matches, evidence->count, "%s: %s: %zu matches quoted of %u",
                       result->contract_id, evidence->element_type, evidence->n_matches,
                       evidence->count);
        //  Satisfied: the count reaches max(minimum, required ? 1 : 0);
        //  an element found but not expected is satisfied when found
        //  (fac_engine.c), which the result does not tell apart from an
        //  expected one that needs nothing.
        uint32_t needed = evidence->minimum > 0 ? evidence->minimum : evidence->required ? 1 : 0;
        if (needed > 0 || evidence->count > 0)
            cr_assert_eq (evidence->satisfied, evidence->count >= needed,
                          "%s: %s: %u of %u, satisfied %d", result->contract_id,
                          evidence->element_type, evidence->count, needed, evidence->satisfied);
        for (size_t m = 0; m < evidence->n_matches; m++)
            quoted += s_assert_match (run, result->contract_id, evidence->matches [m]);
    }
    return quoted;
}

//  The evidence entry of type in result, or NULL.
static const Farfan__Evidence *
s_evidence_of (const Farfan__ContractResult *result, const char *type)
{
    for (size_t e = 0; e < result->n_evidence; e++)
        if (streq (result->evidence [e]->element_type, type))
            return result->evidence [e];
    return NULL;
}

//  P00-P03: the document's profile, its sections, the 300 questions and
//  their scores.
static void
s_check_questions (s_run_t *run)
{
    json_t *profile = s_output (run, "VALIDATE_DOCUMENT", "text.profile");
    cr_assert_eq (json_integer_value (json_object_get (profile, "bytes")), (json_int_t) run->size);
    json_t *sections = json_object_get (s_output (run, "INGEST", "text.sections"), "sections");
    cr_assert_gt (json_array_size (sections), 10, "the plan has sections");

    size_t scored = 0, with_evidence = 0;
    for (int area = 1; area <= 10; area++)
        for (int slot = 1; slot <= 30; slot++) {
            char id [32], score_id [40];
            snprintf (id, sizeof id, "Q%03d_PA%02d", slot, area);
            snprintf (score_id, sizeof score_id, "SCORE_%s", id);
            const Farfan__ContractResult *micro = s_result (run, id);
            const Farfan__ContractResult *score = s_result (run, score_id);
            cr_assert (isfinite (micro->ratio) && micro->ratio >= 0 && micro->ratio <= 1,
                       "%s: ratio %.17g", id, micro->ratio);
            size_t quoted = s_assert_evidence (run, micro);
            s_assert_evidence (run, score);
            s_assert_scored (score);
            //  The score is the micro contract's evidence, copied.
            cr_assert_eq (score->ratio, micro->ratio, "%s: ratio %.17g, its question's %.17g",
                          score_id, score->ratio, micro->ratio);
            for (size_t e = 0; e < score->n_evidence; e++) {
                const Farfan__Evidence *mine = score->evidence [e];
                const Farfan__Evidence *source = s_evidence_of (micro, mine->element_type);
                cr_assert_eq (mine->count, source ? source->count : 0, "%s: %s counts differ",
                              score_id, mine->element_type);
                for (size_t m = 0; m < mine->n_matches; m++) {
                    cr_assert (source && m < source->n_matches, "%s: %s: a match %s lacks",
                               score_id, mine->element_type, id);
                    cr_assert_eq (mine->matches [m]->offset, source->matches [m]->offset);
                    cr_assert_eq (mine->matches [m]->length, source->matches [m]->length);
                }
            }
            if (score->score > 0) {
                cr_assert_gt (quoted, 0, "%s scores %.3f with no match quoted in the text",
                              score_id, score->score);
                scored++;
            }
            with_evidence += quoted > 0;
        }
    cr_log_info ("%zu of 300 questions score above 0, %zu quote evidence", scored, with_evidence);
    //  A real plan answers many questions and not all of them perfectly.
    cr_assert_gt (scored, 30, "only %zu questions score above 0", scored);
}

//  m, σ and the score of a weighted mean from the inputs' own scores and
//  the normalised weights its output reports; asserts they agree.
static void
s_check_weighted_mean (s_run_t *run, const char *id, const char *const *inputs, size_t count)
{
    const Farfan__ContractResult *result = s_result (run, id);
    s_assert_scored (result);
    json_t *output = s_output (run, id, "aggregate.weighted_mean");
    json_t *used = json_object_get (output, "used");
    json_t *weights = json_object_get (output, "weights");
    cr_assert_eq (json_array_size (used), count, "%s uses %zu inputs, not %zu", id,
                  json_array_size (used), count);
    double weighted = 0, weight_sum = 0, plain = 0, scores [16];
    for (size_t i = 0; i < count; i++) {
        cr_assert_str_eq (json_string_value (json_array_get (used, i)), inputs [i], "%s", id);
        json_t *weight = json_object_get (weights, inputs [i]);
        cr_assert (json_is_number (weight), "%s: no weight for %s", id, inputs [i]);
        scores [i] = s_result (run, inputs [i])->score;
        weighted += json_number_value (weight) * scores [i];
        weight_sum += json_number_value (weight);
        plain += scores [i];
    }
    cr_assert_gt (weight_sum, 0, "%s", id);
    double mean = weighted / weight_sum;
    plain /= (double) count;
    double variance = 0;
    for (size_t i = 0; i < count; i++)
        variance += (scores [i] - plain) * (scores [i] - plain);
    double sigma = sqrt (variance / (double) count);
    json_t *dispersion = json_object_get (output, "dispersion");
    json_t *coherence = json_object_get (output, "coherence");
    double k = json_number_value (json_object_get (dispersion, "k"));
    double c = json_number_value (json_object_get (coherence, "c"));
    double expected = fmax (0, mean - k * sigma) * (1 - c * sigma / 1.5);
    cr_assert_float_eq (json_number_value (json_object_get (output, "mean")), mean, S_EPSILON,
                        "%s: mean", id);
    cr_assert_float_eq (json_number_value (json_object_get (dispersion, "stddev")), sigma, S_EPSILON,
                        "%s: stddev", id);
    cr_assert_float_eq (result->score, expected, S_EPSILON,
                        "%s: score %.17g, its inputs give %.17g (m %.6f, σ %.6f, k %g, c %g)", id,
                        result->score, expected, mean, sigma, k, c);
    cr_assert_float_eq (result->ratio, result->score / 3, S_EPSILON, "%s", id);
}

//  P04-P07: every aggregation reads the inputs the structure fixes and
//  its score follows from theirs.
static void
s_check_aggregations (s_run_t *run)
{
    char names [16][40];
    const char *inputs [16];
    for (size_t i = 0; i < 16; i++)
        inputs [i] = names [i];
    for (int area = 1; area <= 10; area++) {
        for (int dim = 1; dim <= 6; dim++) {
            char id [32];
            snprintf (id, sizeof id, "AGG_DIM%02d_PA%02d", dim, area);
            const Farfan__ContractResult *result = s_result (run, id);
            s_assert_scored (result);
            cr_assert_float_eq (result->ratio, result->score / 3, S_EPSILON, "%s", id);
            json_t *used = json_object_get (s_output (run, id, "aggregate.choquet"), "used");
            cr_assert_eq (json_array_size (used), 5, "%s", id);
            double low = 3, high = 0;
            for (int q = 0; q < 5; q++) {
                snprintf (names [q], sizeof names [q], "SCORE_Q%03d_PA%02d", (dim - 1) * 5 + q + 1, area);
                cr_assert_str_eq (json_string_value (json_array_get (used, (size_t) q)), names [q]);
                double score = s_result (run, names [q])->score;
                low = fmin (low, score);
                high = fmax (high, score);
            }
            //  A Choquet integral over a normalised monotone capacity is
            //  an average: between the smallest and largest input.
            cr_assert (result->score >= low - S_EPSILON && result->score <= high + S_EPSILON,
                       "%s: %.17g outside its inputs' [%g, %g]", id, result->score, low, high);
        }
        char id [32];
        snprintf (id, sizeof id, "AGG_PA%02d", area);
        for (int dim = 1; dim <= 6; dim++)
            snprintf (names [dim - 1], sizeof names [0], "AGG_DIM%02d_PA%02d", dim, area);
        s_check_weighted_mean (run, id, inputs, 6);
    }
    for (int cluster = 0; cluster < 4; cluster++) {
        size_t count = 0;
        for (; s_clusters [cluster][count]; count++)
            snprintf (names [count], sizeof names [0], "AGG_PA%02d", s_clusters [cluster][count]);
        char id [32];
        snprintf (id, sizeof id, "AGG_CL%02d", cluster + 1);
        s_check_weighted_mean (run, id, inputs, count);
    }
    for (int cluster = 0; cluster < 4; cluster++)
        snprintf (names [cluster], sizeof names [0], "AGG_CL%02d", cluster + 1);
    s_check_weighted_mean (run, "AGG_MACRO", inputs, 4);
}

//  The missing elements of a scored question, as recommend.rules reads
//  them: score.from_input's, then text.count_elements', each once.
static json_t *
s_missing (s_run_t *run, const char *score_id)
{
    json_t *missing = json_array ();
    json_t *output = zhashx_lookup (run->outputs, score_id);
    const char *methods [] = { "score.from_input", "text.count_elements" };
    for (size_t k = 0; k < 2; k++) {
        size_t index;
        json_t *element;
        json_array_foreach (json_object_get (json_object_get (output, methods [k]),
                                             "missing_elements"), index, element) {
            bool seen = false;
            size_t i;
            json_t *other;
            json_array_foreach (missing, i, other)
                seen = seen || json_equal (other, element);
            if (!seen)
                json_array_append (missing, element);
        }
    }
    return missing;
}

//  P08: one recommendation per missing element of every question below
//  EXCELENTE (the set's rules), each naming its question, element and a
//  section INGEST found (or none).
static void
s_check_recommendations (s_run_t *run)
{
    json_t *output = s_output (run, "RECOMMEND", "recommend.rules");
    json_t *list = json_object_get (output, "recommendations");
    json_t *sections = json_object_get (s_output (run, "INGEST", "text.sections"), "sections");
    size_t expected = 0;
    for (int area = 1; area <= 10; area++)
        for (int slot = 1; slot <= 30; slot++) {
            char id [40];
            snprintf (id, sizeof id, "SCORE_Q%03d_PA%02d", slot, area);
            if (!streq (s_result (run, id)->quality, "EXCELENTE")) {
                json_t *missing = s_missing (run, id);
                expected += json_array_size (missing);
                json_decref (missing);
            }
        }
    cr_assert_gt (json_array_size (list), 0, "no recommendation");
    cr_assert_eq (json_array_size (list), expected, "%zu recommendations, %zu missing elements "
                  "of questions below EXCELENTE", json_array_size (list), expected);
    size_t index, placed = 0;
    json_t *item;
    json_array_foreach (list, index, item) {
        const char *contract = json_string_value (json_object_get (item, "contract"));
        cr_assert (contract && strncmp (contract, "SCORE_Q", 7) == 0, "recommendation %zu: %s",
                   index, contract);
        const Farfan__ContractResult *score = s_result (run, contract);
        const char *question = json_string_value (json_object_get (item, "base_question"));
        cr_assert (question && strncmp (contract + 6, question, 4) == 0 && strlen (question) == 4,
                   "%s recommended as question %s", contract, question);
        cr_assert_str_eq (json_string_value (json_object_get (item, "policy_area")), contract + 11);
        cr_assert_eq (json_number_value (json_object_get (item, "score")), score->score, "%s", contract);
        cr_assert_str_eq (json_string_value (json_object_get (item, "quality")), score->quality);
        const char *element = json_string_value (json_object_get (item, "element"));
        cr_assert (element && *element, "%s: a recommendation names no element", contract);
        json_t *missing = s_missing (run, contract);
        bool is_missing = false;
        size_t i;
        json_t *name;
        json_array_foreach (missing, i, name)
            is_missing = is_missing || streq (json_string_value (name), element);
        json_decref (missing);
        cr_assert (is_missing, "%s: %s is not one of its missing elements", contract, element);
        const char *text = json_string_value (json_object_get (item, "text"));
        cr_assert (text && strstr (text, question) && strstr (text, element),
                   "%s: the text names neither question nor element: %s", contract, text);
        json_t *section = json_object_get (item, "section");
        if (json_is_null (section))
            continue;
        const char *title = json_string_value (json_object_get (section, "title"));
        json_int_t offset = json_integer_value (json_object_get (section, "offset"));
        bool found = false;
        json_t *candidate;
        json_array_foreach (sections, i, candidate)
            found = found || (json_integer_value (json_object_get (candidate, "offset")) == offset
                              && title && json_equal (json_object_get (candidate, "title"),
                                                      json_object_get (section, "title")));
        cr_assert (found, "%s: section \"%s\" at %lld is not one of the plan's", contract, title,
                   (long long) offset);
        cr_assert (strstr (text, title), "%s: the text does not name its section: %s", contract, text);
        placed++;
    }
    cr_log_info ("%zu recommendations, %zu placed in a section of the plan",
                 json_array_size (list), placed);
    cr_assert_gt (placed, json_array_size (list) / 2, "only %zu of %zu recommendations placed",
                  placed, json_array_size (list));
}

//  A report entry's score against its result: the same double.
static void
s_assert_same_score (s_run_t *run, json_t *entry, const char *id)
{
    const Farfan__ContractResult *result = s_result (run, id);
    cr_assert_str_eq (json_string_value (json_object_get (entry, "contract")), id);
    cr_assert_str_eq (json_string_value (json_object_get (entry, "status")), "ok", "%s", id);
    json_t *score = json_object_get (entry, "score");
    cr_assert (json_is_number (score), "%s: the report has no score", id);
    cr_assert_eq (json_number_value (score), result->score, "%s: report %.17g, result %.17g", id,
                  json_number_value (score), result->score);
    cr_assert_str_eq (json_string_value (json_object_get (entry, "quality")), result->quality, "%s", id);
}

//  P09: the JSON report lists every level with the results' own scores,
//  and the orchestrator's REPORT gives that same report.
static void
s_check_report (s_run_t *run, s_system_t *system, const char *run_id)
{
    json_t *assembled = json_object_get (s_output (run, "REPORT", "report.assemble"), "report");
    const char *document = json_string_value (json_object_get (assembled, "json"));
    cr_assert_not_null (document, "REPORT produced no JSON report");
    Farfan__RunReport *fetched = s_report (system, run_id, "json");
    cr_assert_str_eq (fetched->media_type, "application/json");
    cr_assert_eq (fetched->content.len, strlen (document), "REPORT gives %zu bytes, P09 made %zu",
                  fetched->content.len, strlen (document));
    cr_assert_eq (memcmp (fetched->content.data, document, fetched->content.len), 0);
    farfan__run_report__free_unpacked (fetched, NULL);
    const char *formats [][2] = { { "markdown", "text/markdown" }, { "html", "text/html" } };
    for (size_t f = 0; f < 2; f++) {
        fetched = s_report (system, run_id, formats [f][0]);
        cr_assert (strncmp (fetched->media_type, formats [f][1], strlen (formats [f][1])) == 0,
                   "%s: %s", formats [f][0], fetched->media_type);
        const char *expected = json_string_value (json_object_get (assembled, formats [f][0]));
        cr_assert (expected && fetched->content.len == strlen (expected)
                   && memcmp (fetched->content.data, expected, fetched->content.len) == 0,
                   "the %s report is not P09's", formats [f][0]);
        cr_assert (strstr (expected, "AGG_MACRO") || strstr (expected, "SCORE_Q001_PA01"),
                   "the %s report names no contract", formats [f][0]);
        farfan__run_report__free_unpacked (fetched, NULL);
    }

    json_error_t error;
    json_t *report = json_loads (document, 0, &error);
    cr_assert_not_null (report, "the JSON report does not parse: %s", error.text);
    cr_assert_str_eq (json_string_value (json_object_get (report, "format")), "farfan-report/1");
    json_t *inputs = json_object_get (report, "inputs");
    cr_assert_eq (json_integer_value (json_object_get (inputs, "total")), 378);
    cr_assert_eq (json_integer_value (json_object_get (inputs, "ok")), 378);
    s_assert_same_score (run, json_object_get (report, "macro"), "AGG_MACRO");

    json_t *clusters = json_object_get (report, "clusters");
    cr_assert_eq (json_array_size (clusters), 4);
    for (size_t c = 0; c < 4; c++) {
        char id [32];
        snprintf (id, sizeof id, "AGG_CL%02zu", c + 1);
        s_assert_same_score (run, json_array_get (clusters, c), id);
    }
    json_t *areas = json_object_get (report, "policy_areas");
    cr_assert_eq (json_array_size (areas), 10);
    for (size_t a = 0; a < 10; a++) {
        json_t *area = json_array_get (areas, a);
        char id [32];
        snprintf (id, sizeof id, "AGG_PA%02zu", a + 1);
        s_assert_same_score (run, area, id);
        json_t *dimensions = json_object_get (area, "dimensions");
        cr_assert_eq (json_array_size (dimensions), 6, "%s", id);
        for (size_t d = 0; d < 6; d++) {
            snprintf (id, sizeof id, "AGG_DIM%02zu_PA%02zu", d + 1, a + 1);
            s_assert_same_score (run, json_array_get (dimensions, d), id);
        }
    }
    json_t *questions = json_object_get (report, "questions");
    cr_assert_eq (json_array_size (questions), 300);
    size_t index;
    json_t *question;
    json_array_foreach (questions, index, question) {
        const char *id = json_string_value (json_object_get (question, "contract"));
        cr_assert_not_null (id, "question %zu names no contract", index);
        s_assert_same_score (run, question, id);
        const Farfan__ContractResult *result = s_result (run, id);
        json_int_t matches = 0;
        for (size_t e = 0; e < result->n_evidence; e++)
            matches += result->evidence [e]->count;
        cr_assert_eq (json_integer_value (json_object_get (question, "matches")), matches,
                      "%s: the report counts %lld matches, the result %lld", id,
                      (long long) json_integer_value (json_object_get (question, "matches")),
                      (long long) matches);
        cr_assert_eq (json_array_size (json_object_get (question, "elements")), result->n_evidence,
                      "%s", id);
        json_t *missing = s_missing (run, id);
        json_t *listed = json_object_get (question, "missing_elements");
        bool same = json_equal (listed, missing);
        char have [512] = "", want [512] = "";
        if (!same) {
            json_dumpb (listed, have, sizeof have - 1, 0);
            json_dumpb (missing, want, sizeof want - 1, 0);
        }
        json_decref (missing);
        cr_assert (same, "%s: the report lists missing elements %s, the result %s", id, have, want);
        //  Every quote is the text at its offset.
        size_t i;
        json_t *quote;
        json_array_foreach (json_object_get (question, "evidence"), i, quote) {
            Farfan__Match match = FARFAN__MATCH__INIT;
            match.offset = (uint64_t) json_integer_value (json_object_get (quote, "offset"));
            match.length = (uint32_t) json_integer_value (json_object_get (quote, "length"));
            match.text = (char *) json_string_value (json_object_get (quote, "text"));
            cr_assert_not_null (match.text, "%s: a quote without text", id);
            cr_assert (s_assert_match (run, id, &match), "%s: an empty quote", id);
        }
        if (result->score > 0)
            cr_assert_gt (json_array_size (json_object_get (question, "evidence")), 0,
                          "%s scores %.3f and the report quotes nothing", id, result->score);
    }
    json_t *recommendations = json_object_get (report, "recommendations");
    json_t *made = json_object_get (s_output (run, "RECOMMEND", "recommend.rules"), "recommendations");
    cr_assert_eq ((size_t) json_integer_value (json_object_get (recommendations, "count")),
                  json_array_size (made));
    json_decref (report);
}

//  The run of text (or of the PDF whose text it is) ended: it succeeded
//  with every phase, and its results and report check out.
static void
s_check_run (s_system_t *system, const char *run_id, const char *text, size_t size)
{
    Farfan__RunStatus *status = s_watch (system, run_id);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "run %s: state %d: %s", run_id,
                  status->state, status->error);
    cr_assert_eq (status->total, 679);
    cr_assert_eq (status->done, 679);
    cr_assert_eq (status->n_failures, 0);
    char digest [80];
    s_digest (text, size, digest);
    cr_assert_str_eq (status->document_digest, digest, "the run analysed another text");
    cr_assert_eq (status->n_phases, S_PHASES);
    for (size_t p = 0; p < S_PHASES; p++) {
        const Farfan__PhaseStatus *phase = status->phases [p];
        cr_assert_str_eq (phase->phase, s_phases [p].phase);
        cr_assert_eq (phase->state, FARFAN__PHASE_STATE__PHASE_SUCCEEDED, "%s: state %d",
                      phase->phase, phase->state);
        cr_assert_eq (phase->total, s_phases [p].count, "%s", phase->phase);
        cr_assert_eq (phase->done, s_phases [p].count, "%s", phase->phase);
        cr_assert_eq (phase->failed, 0, "%s", phase->phase);
    }
    farfan__run_status__free_unpacked (status, NULL);

    s_run_t run;
    s_run_load (&run, system, run_id, text, size);
    s_check_questions (&run);
    s_check_aggregations (&run);
    s_check_recommendations (&run);
    s_check_report (&run, system, run_id);
    s_run_free (&run);
}

//  Runs Plan_1.txt through the set in contracts_dir and checks it all.
static void
s_pipeline_on_text (const char *contracts_dir)
{
    size_t size = 0;
    char *text = ff_test_read_file (S_PLAN_TXT, &size);
    cr_assert_not_null (text, "%s: %s", S_PLAN_TXT, strerror (errno));
    s_system_t system = s_system_start (contracts_dir);
    char *run_id = s_submit (&system, text, size, "Plan_1.txt");
    s_check_run (&system, run_id, text, size);
    free (run_id);
    s_system_stop (&system);
    free (text);
}

//  ---------------------------------------------------------------------

FF_TEST_OPTS (pipeline, the_default_set_on_the_real_plan, .timeout = 240)
{
    if (access (S_PLAN_TXT, R_OK) != 0)
        cr_skip_test ("%s absent: the pipeline is not run on the real plan", S_PLAN_TXT);
    s_pipeline_on_text (S_DEFAULT_SET);
}

//  The PDF, converted by the orchestrator: the run's document is exactly
//  what `pdftotext -layout -enc UTF-8` makes of it (its digest), and every
//  offset is checked against that text.
FF_TEST_OPTS (pipeline, the_default_set_on_the_real_plan_as_pdf, .timeout = 240)
{
    if (access (S_PLAN_PDF, R_OK) != 0)
        cr_skip_test ("%s absent: the pipeline is not run on the real PDF", S_PLAN_PDF);
    if (access (S_PDFTOTEXT, X_OK) != 0)
        cr_skip_test ("%s not installed: the PDF cannot be converted", S_PDFTOTEXT);
    char *dir = s_temp_dir ();
    char *converted = zsys_sprintf ("%s/Plan_1.txt", dir);
    char *argv [] = { "pdftotext", "-layout", "-enc", "UTF-8", S_PLAN_PDF, converted, NULL };
    s_run_program (S_PDFTOTEXT, argv, S_REPLY_MS);
    size_t size = 0, pdf_size = 0;
    char *text = ff_test_read_file (converted, &size);
    char *pdf = ff_test_read_file (S_PLAN_PDF, &pdf_size);
    cr_assert (text && pdf);
    s_system_t system = s_system_start (S_DEFAULT_SET);
    char *run_id = s_submit (&system, pdf, pdf_size, "Plan_1.pdf");
    s_check_run (&system, run_id, text, size);
    free (run_id);
    s_system_stop (&system);
    free (text);
    free (pdf);
    zstr_free (&converted);
    ff_test_remove_dir (dir);
    free (dir);
}

FF_TEST_OPTS (pipeline, the_imported_upstream_set_on_the_real_plan, .timeout = 240)
{
    if (access (S_PLAN_TXT, R_OK) != 0 || access (S_UPSTREAM "/patterns/MASTER_INDEX.json", R_OK) != 0)
        cr_skip_test ("%s absent: the imported set is not run on the real plan", S_UPSTREAM);
    char *set = s_import_upstream ();
    s_pipeline_on_text (set);
    ff_test_remove_dir (set);
    free (set);
}
