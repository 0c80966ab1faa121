/*  The factory service end to end on loopback: documents, EXECUTE with its
    stream of results, inline vs pool, the result cache, timeouts, waiting
    methods, exec, and the alignment messages (CAPABILITIES, SYNC, PLAN,
    SNAPSHOT/RESTORE, PUT_CONTRACTS, METRICS, OPTIMIZE_CACHES). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <unistd.h>

#include "fac_reply_sink.h"
#include "fac_server.h"
#include "factory.pb-c.h"
#include "ff_config.h"
#include "ff_pbwire.h"
#include "ff_test.h"

//  ---------------------------------------------------------------------
//  Contracts written for these tests

#define S_MICRO(id, extra) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"micro\"," \
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true}," \
    "\"patterns\":[{\"id\":\"src\",\"regex\":\"\\\\b(DANE|Medicina Legal)\\\\b\"," \
    "\"flags\":[\"IGNORECASE\"],\"element_type\":\"fuentes\"}," \
    "{\"id\":\"year\",\"regex\":\"\\\\b20\\\\d{2}\\\\b\",\"element_type\":\"años\"}]," \
    "\"expected_elements\":[{\"type\":\"fuentes\",\"minimum\":2},{\"type\":\"años\",\"minimum\":2}]," \
    "\"methods\":[{\"method\":\"text.match_patterns\"},{\"method\":\"text.count_elements\"}," \
    "{\"method\":\"score.modality\"}],\"scoring\":{\"modality\":\"TYPE_A\"}" extra "}"

#define S_WAIT(id, ms, timeout) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"task\"," \
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":false}," \
    "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":" #ms "}}],\"timeout_ms\":" #timeout "}"

static const char *s_text =
    "Diagnóstico: según el DANE (2019) y Medicina Legal (2020), la tasa de violencia "
    "aumentó en la zona rural. El dane confirma la tendencia de 2021.";

//  A directory of contracts, removed by s_dir_remove.
static char *
s_contracts_dir (const char *const *contracts, size_t count)
{
    char *dir = strdup ("/tmp/farfan-factory-test-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    for (size_t i = 0; i < count; i++) {
        char path [256];
        snprintf (path, sizeof path, "%s/c%03zu.json", dir, i);
        FILE *file = fopen (path, "w");
        cr_assert_not_null (file);
        fputs (contracts [i], file);
        fclose (file);
    }
    return dir;
}

static void
s_dir_remove (char **dir_p)
{
    DIR *dir = opendir (*dir_p);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char path [512];
        snprintf (path, sizeof path, "%s/%s", *dir_p, entry->d_name);
        unlink (path);
    }
    if (dir)
        closedir (dir);
    rmdir (*dir_p);
    free (*dir_p);
    *dir_p = NULL;
}

//  A factory with these contracts; extra settings follow (NULL-terminated).
typedef struct {
    ff_test_service_t *service;
    zsock_t *dealer;
    char *dir;
} s_factory_t;

static s_factory_t
s_factory (const char *const *contracts, size_t count, const char *a, const char *b,
           const char *c, const char *d)
{
    s_factory_t factory = { NULL, NULL, s_contracts_dir (contracts, count) };
    factory.service = ff_test_service_start ("factory", "--contracts-dir", factory.dir,
                                             "--max-workers", "2", a, b, c, d, NULL);
    factory.dealer = ff_test_dealer (ff_test_service_endpoint (factory.service, "direct"));
    return factory;
}

static void
s_factory_stop (s_factory_t *factory)
{
    zsock_destroy (&factory->dealer);
    ff_test_service_stop (&factory->service);
    s_dir_remove (&factory->dir);
}

//  Everything an EXECUTE produced.
typedef struct {
    Farfan__ContractResult **results;   // by arrival
    size_t count;
    Farfan__BatchDone *done;
    size_t result_messages;             // RESULT messages
    size_t batch_messages;              // RESULT_BATCH messages
    size_t largest_batch;               // bytes of the largest RESULT_BATCH body
    uint32_t other_type;                // a reply that was neither (NEED_DOCUMENT, ERROR)
    char other_message [256];
} s_outcome_t;

static void
s_outcome_add (s_outcome_t *outcome, const uint8_t *data, size_t size)
{
    outcome->results = (Farfan__ContractResult **) realloc (outcome->results,
        (outcome->count + 1) * sizeof (Farfan__ContractResult *));
    outcome->results [outcome->count] = farfan__contract_result__unpack (NULL, size, data);
    cr_assert_not_null (outcome->results [outcome->count]);
    outcome->count++;
}

static void
s_outcome_add_entry (const uint8_t *data, size_t size, void *arg)
{
    s_outcome_add ((s_outcome_t *) arg, data, size);
}

static s_outcome_t
s_execute (zsock_t *dealer, Farfan__Execute *execute)
{
    static unsigned sequence = 0;
    char correlation_id [32];
    snprintf (correlation_id, sizeof correlation_id, "exec-%u", ++sequence);
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__EXECUTE,
                               .correlation_id = correlation_id };
    cr_assert_eq (ff_msg_send (dealer, NULL, false, &header, &execute->base), 0);
    s_outcome_t outcome = { 0 };
    ff_msg_t *reply = ff_msg_new ();
    while (true) {
        cr_assert_eq (ff_msg_recv (reply, dealer), 0, "no reply within the timeout");
        cr_assert_str_eq (ff_msg_correlation_id (reply), correlation_id);
        uint32_t type = ff_msg_type (reply);
        if (type == FARFAN__MESSAGE_TYPE__RESULT) {
            s_outcome_add (&outcome, ff_msg_body_data (reply), ff_msg_body_size (reply));
            outcome.result_messages++;
            continue;
        }
        if (type == FARFAN__MESSAGE_TYPE__RESULT_BATCH) {
            //  ContractResults: field 1, one entry per result.
            cr_assert_gt (ff_pbwire_each (ff_msg_body_data (reply), ff_msg_body_size (reply), 1,
                                          s_outcome_add_entry, &outcome), 0,
                          "an empty RESULT_BATCH, or one that does not parse");
            outcome.batch_messages++;
            if (ff_msg_body_size (reply) > outcome.largest_batch)
                outcome.largest_batch = ff_msg_body_size (reply);
            continue;
        }
        if (type == FARFAN__MESSAGE_TYPE__BATCH_DONE)
            outcome.done = farfan__batch_done__unpack (NULL, ff_msg_body_size (reply),
                                                       ff_msg_body_data (reply));
        else {
            outcome.other_type = type;
            snprintf (outcome.other_message, sizeof outcome.other_message, "%s",
                      ff_msg_status_message (reply));
        }
        break;
    }
    ff_msg_destroy (&reply);
    return outcome;
}

static void
s_outcome_free (s_outcome_t *outcome)
{
    for (size_t i = 0; i < outcome->count; i++)
        farfan__contract_result__free_unpacked (outcome->results [i], NULL);
    free (outcome->results);
    if (outcome->done)
        farfan__batch_done__free_unpacked (outcome->done, NULL);
    memset (outcome, 0, sizeof *outcome);
}

//  The result with request index i.
static Farfan__ContractResult *
s_result (s_outcome_t *outcome, uint32_t index)
{
    for (size_t i = 0; i < outcome->count; i++)
        if (outcome->results [i]->index == index)
            return outcome->results [i];
    cr_assert_fail ("no result with index %u", index);
    return NULL;
}

//  Asserts every index 0..n-1 arrived exactly once, then BatchDone.
static void
s_assert_complete (s_outcome_t *outcome, size_t n)
{
    cr_assert_not_null (outcome->done, "no BATCH_DONE (got type %u: %s)", outcome->other_type,
                        outcome->other_message);
    cr_assert_eq (outcome->count, n, "%zu results for %zu contracts", outcome->count, n);
    cr_assert_eq (outcome->done->total, n);
    bool *seen = (bool *) calloc (n, sizeof (bool));
    for (size_t i = 0; i < outcome->count; i++) {
        uint32_t index = outcome->results [i]->index;
        cr_assert_lt (index, n);
        cr_assert_not (seen [index], "index %u twice", index);
        seen [index] = true;
    }
    free (seen);
    cr_assert_eq (outcome->done->ok + outcome->done->failed + outcome->done->timed_out
                  + outcome->done->skipped, n, "the summary adds up");
}

//  ---------------------------------------------------------------------
//  Documents

FF_TEST (factory, documents_are_content_addressed)
{
    s_factory_t factory = s_factory (NULL, 0, NULL, NULL, NULL, NULL);
    bool already = true;
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), &already);
    cr_assert_not (already);
    cr_assert_eq (strncmp (digest, "sha256:", 7), 0);
    cr_assert_eq (strlen (digest), 7 + 64);
    char *again = ff_test_put_document (factory.dealer, s_text, strlen (s_text), &already);
    cr_assert (already, "the same content is stored once");
    cr_assert_str_eq (digest, again);
    free (again);
    free (digest);

    Farfan__PutDocument bad = FARFAN__PUT_DOCUMENT__INIT;
    bad.content.data = (uint8_t *) "ok \xc3\x28 broken";
    bad.content.len = 12;
    ff_msg_t *reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, &bad.base);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert (strstr (ff_msg_status_message (reply), "UTF-8"), "%s", ff_msg_status_message (reply));
    ff_msg_destroy (&reply);
    s_factory_stop (&factory);
}

FF_TEST (factory, documents_over_the_limit_are_refused)
{
    s_factory_t factory = s_factory (NULL, 0, "--document-max-bytes", "16", NULL, NULL);
    Farfan__PutDocument put = FARFAN__PUT_DOCUMENT__INIT;
    put.content.data = (uint8_t *) s_text;
    put.content.len = strlen (s_text);
    ff_msg_t *reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, &put.base);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert (strstr (ff_msg_status_message (reply), "document_max_bytes"));
    ff_msg_destroy (&reply);
    s_factory_stop (&factory);
}

FF_TEST (factory, execute_with_an_unknown_document_needs_it)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01", "") };
    s_factory_t factory = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "Q001_PA01" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    execute.input_digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    cr_assert_eq (outcome.other_type, FARFAN__MESSAGE_TYPE__NEED_DOCUMENT);
    cr_assert_eq (outcome.count, 0, "nothing runs without the document");
    s_outcome_free (&outcome);
    s_factory_stop (&factory);
}

//  ---------------------------------------------------------------------
//  Execution

FF_TEST (factory, a_micro_contract_scores_its_evidence)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01", "") };
    s_factory_t factory = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "Q001_PA01" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    execute.input_digest = digest;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 1);
    Farfan__ContractResult *result = s_result (&outcome, 0);
    cr_assert_eq (result->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s", result->error);
    cr_assert_str_eq (result->contract_id, "Q001_PA01");
    cr_assert_not (result->from_cache);
    cr_assert_eq (result->n_evidence, 2);
    //  DANE, Medicina Legal, dane (IGNORECASE): 3 sources; 2019, 2020, 2021: 3 years.
    for (size_t i = 0; i < result->n_evidence; i++) {
        Farfan__Evidence *evidence = result->evidence [i];
        cr_assert_eq (evidence->count, 3, "%s: %u", evidence->element_type, evidence->count);
        cr_assert (evidence->satisfied);
        cr_assert_gt (evidence->n_matches, 0);
        for (size_t m = 0; m < evidence->n_matches; m++) {
            Farfan__Match *match = evidence->matches [m];
            cr_assert_eq (strncmp (s_text + match->offset, match->text, match->length), 0,
                          "evidence quotes the text at its offset");
        }
    }
    cr_assert_eq (result->ratio, 1.0);
    cr_assert_gt (result->score, 0);
    cr_assert_leq (result->score, 3.0);
    cr_assert_str_eq (result->quality, "EXCELENTE");
    cr_assert_str_neq (result->contract_digest, "");
    s_outcome_free (&outcome);
    free (digest);
    s_factory_stop (&factory);
}

FF_TEST (factory, unknown_and_inactive_contracts_get_their_own_results)
{
    const char *contracts [] = {
        S_MICRO ("Q001_PA01", ""),
        S_MICRO ("Q002_PA01", ",\"status\":\"INACTIVE\""),
    };
    s_factory_t factory = s_factory (contracts, 2, NULL, NULL, NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "Q001_PA01", "NOPE", "Q002_PA01" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 3;
    execute.input_digest = digest;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 3);
    cr_assert_eq (s_result (&outcome, 0)->status, FARFAN__RESULT_STATUS__RESULT_OK);
    cr_assert_eq (s_result (&outcome, 1)->status, FARFAN__RESULT_STATUS__RESULT_FAILED);
    cr_assert (strstr (s_result (&outcome, 1)->error, "unknown contract"));
    cr_assert_eq (s_result (&outcome, 2)->status, FARFAN__RESULT_STATUS__RESULT_SKIPPED);
    cr_assert_eq (outcome.done->ok, 1);
    cr_assert_eq (outcome.done->failed, 1);
    cr_assert_eq (outcome.done->skipped, 1);
    s_outcome_free (&outcome);

    //  A micro contract without a document: failed, with the reason.
    Farfan__Execute no_document = FARFAN__EXECUTE__INIT;
    no_document.contract_ids = ids;
    no_document.n_contract_ids = 1;
    outcome = s_execute (factory.dealer, &no_document);
    s_assert_complete (&outcome, 1);
    cr_assert (strstr (s_result (&outcome, 0)->error, "input_digest"));
    s_outcome_free (&outcome);
    free (digest);
    s_factory_stop (&factory);
}

FF_TEST (factory, small_batches_run_inline_large_ones_on_the_pool)
{
    const char *contracts [] = {
        S_MICRO ("A", ""), S_MICRO ("B", ""), S_MICRO ("C", ""), S_MICRO ("D", ""),
    };
    s_factory_t factory = s_factory (contracts, 4, "--batch-execution-threshold", "3", NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "A", "B", "C", "D" };
    execute.contract_ids = ids;
    execute.input_digest = digest;
    execute.no_cache = true;
    execute.n_contract_ids = 2;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 2);
    cr_assert_str_eq (outcome.done->strategy, "inline");
    for (size_t i = 0; i < outcome.count; i++)
        cr_assert_str_eq (outcome.results [i]->executed_by, "inline");
    s_outcome_free (&outcome);

    execute.n_contract_ids = 4;
    outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 4);
    cr_assert_str_eq (outcome.done->strategy, "parallel");
    for (size_t i = 0; i < outcome.count; i++)
        cr_assert_str_eq (outcome.results [i]->executed_by, "pool");
    s_outcome_free (&outcome);

    ff_msg_t *reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__METRICS, NULL);
    Farfan__FactoryMetrics *metrics = farfan__factory_metrics__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_not_null (metrics);
    cr_assert_eq (metrics->inline_executions, 2);
    cr_assert_eq (metrics->parallel_executions, 4);
    cr_assert_eq (metrics->executed, 6);
    farfan__factory_metrics__free_unpacked (metrics, NULL);
    ff_msg_destroy (&reply);
    free (digest);
    s_factory_stop (&factory);
}


#define S_NOOP(id) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"task\"," \
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":false}," \
    "\"methods\":[{\"method\":\"core.noop\"}]}"

//  Runs ids [0..count) with no_cache; asserts every result ran where `where` says.
static void
s_assert_ran (zsock_t *dealer, char **ids, size_t count, const char *digest, const char *where)
{
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = count;
    execute.input_digest = (char *) (digest ? digest : "");
    execute.no_cache = true;
    s_outcome_t outcome = s_execute (dealer, &execute);
    s_assert_complete (&outcome, count);
    cr_assert_str_eq (outcome.done->strategy, "parallel");
    for (size_t i = 0; i < outcome.count; i++) {
        cr_assert_eq (outcome.results [i]->status, FARFAN__RESULT_STATUS__RESULT_OK);
        cr_assert_str_eq (outcome.results [i]->executed_by, where, "%s ran %s, expected %s",
                          outcome.results [i]->contract_id, outcome.results [i]->executed_by, where);
    }
    s_outcome_free (&outcome);
}

FF_TEST (factory, contracts_measured_instant_skip_the_pool_unless_they_read_the_document)
{
    const char *contracts [] = {
        S_NOOP ("N1"), S_NOOP ("N2"), S_NOOP ("N3"), S_NOOP ("N4"),
        S_MICRO ("A", ""), S_MICRO ("B", ""), S_MICRO ("C", ""), S_MICRO ("D", ""),
    };
    //  Every measured time is "instant" at this bound: what decides is
    //  whether a contract was measured and whether it reads the document.
    s_factory_t factory = s_factory (contracts, 8, "--batch-execution-threshold", "2",
                                     "--inline-below-us", "1000000");
    char *noop [] = { "N1", "N2", "N3", "N4" };
    s_assert_ran (factory.dealer, noop, 4, NULL, "pool");       //  not measured yet
    s_assert_ran (factory.dealer, noop, 4, NULL, "inline");     //  measured: instant

    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    char *micro [] = { "A", "B", "C", "D" };
    s_assert_ran (factory.dealer, micro, 4, digest, "pool");
    s_assert_ran (factory.dealer, micro, 4, digest, "pool");    //  reads the document: always
    free (digest);
    s_factory_stop (&factory);

    //  0 turns it off.
    factory = s_factory (contracts, 8, "--batch-execution-threshold", "2", "--inline-below-us", "0");
    s_assert_ran (factory.dealer, noop, 4, NULL, "pool");
    s_assert_ran (factory.dealer, noop, 4, NULL, "pool");
    s_factory_stop (&factory);
}
//  Execute.batch_results (what the orchestrator asks for): the results
//  finished in one loop turn travel as one RESULT_BATCH, none as RESULT,
//  a batch past FAC_REPLY_SINK_BATCH_BYTES goes at once, and every result
//  still arrives exactly once before BATCH_DONE.
FF_TEST (factory, batched_results_arrive_once_in_few_messages)
{
    enum { S_COUNT = 1500 };
    char **texts = (char **) calloc (S_COUNT, sizeof (char *));
    char **ids = (char **) calloc (S_COUNT, sizeof (char *));
    for (size_t i = 0; i < S_COUNT; i++) {
        char id [16];
        snprintf (id, sizeof id, "N%04zu", i);
        ids [i] = strdup (id);
        texts [i] = (char *) malloc (256);
        cr_assert_gt (snprintf (texts [i], 256,
            "{\"format\":\"farfan-contract/1\",\"id\":\"%s\",\"version\":\"1\","
            "\"type\":\"task\",\"applicable_phases\":[\"P02\"],"
            "\"inputs\":{\"document\":false},\"methods\":[{\"method\":\"core.noop\"}]}",
            id), 0);
    }
    s_factory_t factory = s_factory ((const char *const *) texts, S_COUNT,
                                     "--batch-execution-threshold", "2", NULL, NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.no_cache = true;
    execute.batch_results = true;
    //  Small, on the pool: results come as the workers finish them.
    execute.n_contract_ids = 40;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 40);
    cr_assert_eq (outcome.result_messages, 0, "%zu RESULT messages", outcome.result_messages);
    cr_assert_geq (outcome.batch_messages, 1);
    cr_assert_leq (outcome.batch_messages, 40);
    s_outcome_free (&outcome);

    //  Every contract: on the pool first (not measured yet), then, measured
    //  instant, inline in one turn: more bytes than one batch may hold.
    execute.n_contract_ids = S_COUNT;
    outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, S_COUNT);
    cr_assert_eq (outcome.result_messages, 0);
    cr_assert_leq (outcome.batch_messages, S_COUNT);
    s_outcome_free (&outcome);
    outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, S_COUNT);
    cr_assert_str_eq (outcome.results [0]->executed_by, "inline");
    cr_assert_eq (outcome.result_messages, 0);
    cr_assert_geq (outcome.batch_messages, 2, "%zu results in %zu RESULT_BATCH", outcome.count,
                   outcome.batch_messages);
    cr_assert_lt (outcome.batch_messages, S_COUNT / 10, "%zu RESULT_BATCH for %zu results",
                  outcome.batch_messages, outcome.count);
    //  Flushed once past the bound: it holds at most one result more.
    cr_assert_lt (outcome.largest_batch, FAC_REPLY_SINK_BATCH_BYTES + 1024);
    s_outcome_free (&outcome);

    //  Without the flag: one RESULT each, as before.
    execute.batch_results = false;
    execute.n_contract_ids = 40;
    outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 40);
    cr_assert_eq (outcome.result_messages, 40);
    cr_assert_eq (outcome.batch_messages, 0);
    s_outcome_free (&outcome);

    for (size_t i = 0; i < S_COUNT; i++) {
        free (texts [i]);
        free (ids [i]);
    }
    free (texts);
    free (ids);
    s_factory_stop (&factory);
}

FF_TEST (factory, parallel_execution_off_runs_everything_inline)
{
    const char *contracts [] = { S_MICRO ("A", ""), S_MICRO ("B", "") };
    s_factory_t factory = s_factory (contracts, 2, "--batch-execution-threshold", "1",
                                     "--no-enable-parallel-execution", NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "A", "B" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 2;
    execute.input_digest = digest;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 2);
    cr_assert_str_eq (outcome.done->strategy, "inline");
    s_outcome_free (&outcome);
    free (digest);
    s_factory_stop (&factory);
}

FF_TEST (factory, repeated_execution_is_answered_from_the_cache)
{
    const char *contracts [] = { S_MICRO ("A", ""), S_MICRO ("B", "") };
    s_factory_t factory = s_factory (contracts, 2, NULL, NULL, NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "A", "B" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 2;
    execute.input_digest = digest;
    s_outcome_t first = s_execute (factory.dealer, &execute);
    s_assert_complete (&first, 2);
    cr_assert_eq (first.done->from_cache, 0);
    s_outcome_t second = s_execute (factory.dealer, &execute);
    s_assert_complete (&second, 2);
    cr_assert_eq (second.done->from_cache, 2);
    for (uint32_t i = 0; i < 2; i++) {
        Farfan__ContractResult *a = s_result (&first, i), *b = s_result (&second, i);
        cr_assert (b->from_cache);
        cr_assert_eq (b->index, i, "the cached result carries this request's index");
        cr_assert_eq (a->score, b->score);
        cr_assert_str_eq (a->quality, b->quality);
        cr_assert_eq (a->n_evidence, b->n_evidence);
    }
    //  Other params are another cache key; no_cache bypasses the cache.
    execute.params_json = "{\"max_matches\": 1}";
    s_outcome_t third = s_execute (factory.dealer, &execute);
    cr_assert_eq (third.done->from_cache, 0);
    execute.params_json = "";
    execute.no_cache = true;
    s_outcome_t fourth = s_execute (factory.dealer, &execute);
    cr_assert_eq (fourth.done->from_cache, 0);
    s_outcome_free (&first);
    s_outcome_free (&second);
    s_outcome_free (&third);
    s_outcome_free (&fourth);

    execute.params_json = "[1, 2]";
    s_outcome_t bad = s_execute (factory.dealer, &execute);
    cr_assert_eq (bad.other_type, FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert (strstr (bad.other_message, "params_json"), "%s", bad.other_message);
    s_outcome_free (&bad);
    free (digest);
    s_factory_stop (&factory);
}

FF_TEST (factory, waiting_contracts_do_not_hold_workers)
{
    //  200 contracts of 300 ms each on 2 workers: they wait together.
    enum { S_COUNT = 200 };
    const char *contracts [] = { S_WAIT ("W", 300, 5000) };
    s_factory_t factory = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    char *ids [S_COUNT];
    for (size_t i = 0; i < S_COUNT; i++)
        ids [i] = "W";
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = S_COUNT;
    execute.no_cache = true;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, S_COUNT);
    cr_assert_eq (outcome.done->ok, S_COUNT);
    //  Sequential would be 60 s, two at a time 30 s: far below either.
    cr_assert_lt (outcome.done->wall_us, 15 * 1000000ull, "wall %llu us",
                  (unsigned long long) outcome.done->wall_us);
    s_outcome_free (&outcome);
    s_factory_stop (&factory);
}

FF_TEST (factory, a_contract_over_its_timeout_is_reported_as_such)
{
    const char *contracts [] = { S_WAIT ("SLOW", 10000, 100), S_WAIT ("FAST", 1, 5000) };
    s_factory_t factory = s_factory (contracts, 2, NULL, NULL, NULL, NULL);
    char *ids [] = { "SLOW", "FAST" };
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = 2;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 2);
    cr_assert_eq (s_result (&outcome, 0)->status, FARFAN__RESULT_STATUS__RESULT_TIMEOUT);
    cr_assert (strstr (s_result (&outcome, 0)->error, "100 ms"));
    cr_assert_eq (s_result (&outcome, 1)->status, FARFAN__RESULT_STATUS__RESULT_OK);
    //  The fast one is not held back by the slow one.
    cr_assert_eq (outcome.results [0]->index, 1, "results stream as they finish");
    cr_assert_eq (outcome.done->timed_out, 1);
    s_outcome_free (&outcome);
    s_factory_stop (&factory);
}

FF_TEST (factory, exec_runs_an_allowed_program_and_fails_cleanly_otherwise)
{
    char program [512], allowed [600];
    snprintf (program, sizeof program, "%s/tests/data/factory/score.sh", FF_TEST_SOURCE_ROOT);
    snprintf (allowed, sizeof allowed, "%s/tests/data/factory/", FF_TEST_SOURCE_ROOT);
    char contract [2048];
    snprintf (contract, sizeof contract,
              "{\"format\":\"farfan-contract/1\",\"id\":\"X\",\"version\":\"1\",\"type\":\"task\","
              "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
              "\"methods\":[{\"method\":\"exec\",\"params\":{\"argv\":[\"%s\",\"ok\"]}}]}", program);
    char failing [2048];
    snprintf (failing, sizeof failing,
              "{\"format\":\"farfan-contract/1\",\"id\":\"Y\",\"version\":\"1\",\"type\":\"task\","
              "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
              "\"methods\":[{\"method\":\"exec\",\"params\":{\"argv\":[\"%s\",\"fail\"]}}]}", program);
    const char *contracts [] = { contract, failing };
    s_factory_t factory = s_factory (contracts, 2, "--exec-allowed", allowed, NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    char *ids [] = { "X", "Y" };
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = 2;
    execute.input_digest = digest;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 2);
    Farfan__ContractResult *ok = s_result (&outcome, 0);
    cr_assert_eq (ok->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s", ok->error);
    cr_assert_eq (ok->score, 2.5, "the program set the score");
    cr_assert (strstr (ok->output_json, "\"bytes\""), "%s", ok->output_json);
    Farfan__ContractResult *failed = s_result (&outcome, 1);
    cr_assert_eq (failed->status, FARFAN__RESULT_STATUS__RESULT_FAILED);
    cr_assert (strstr (failed->error, "exit") || strstr (failed->error, "status"), "%s", failed->error);
    s_outcome_free (&outcome);
    free (digest);
    s_factory_stop (&factory);
}

//  ---------------------------------------------------------------------
//  Contracts, capabilities, alignment

static Farfan__Capabilities *
s_capabilities (zsock_t *dealer)
{
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__CAPABILITIES, NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__CAPABILITIES_REPLY);
    Farfan__Capabilities *caps = farfan__capabilities__unpack (NULL, ff_msg_body_size (reply),
                                                               ff_msg_body_data (reply));
    cr_assert_not_null (caps);
    ff_msg_destroy (&reply);
    return caps;
}

FF_TEST (factory, capabilities_describe_the_factory_and_its_invalid_contracts)
{
    const char *contracts [] = {
        S_MICRO ("A", ""), S_MICRO ("B", ",\"status\":\"INACTIVE\""),
        "{\"format\":\"farfan-contract/1\",\"id\":\"BAD\",\"methods\":[{\"method\":\"no.such\"}]}",
    };
    s_factory_t factory = s_factory (contracts, 3, NULL, NULL, NULL, NULL);
    Farfan__Capabilities *caps = s_capabilities (factory.dealer);
    cr_assert_eq (caps->total_contracts, 2);
    cr_assert_eq (caps->active_contracts, 1);
    cr_assert_eq (caps->n_per_phase, 1);
    cr_assert_str_eq (caps->per_phase [0]->phase, "P02");
    cr_assert_eq (caps->per_phase [0]->contracts, 1);
    cr_assert_eq (caps->max_workers, 2);
    cr_assert (caps->parallel_enabled);
    cr_assert_gt (caps->n_methods, 8);
    cr_assert_str_eq (caps->health, "degraded");
    cr_assert_gt (caps->invalid_contracts, 0);
    cr_assert_gt (caps->n_load_errors, 0);
    cr_assert (strstr (caps->load_errors [0]->file, "c002.json"), "%s", caps->load_errors [0]->file);
    cr_assert_gt (caps->recommended_batch_size, 0);
    cr_assert_eq (strncmp (caps->contract_set_digest, "sha256:", 7), 0);
    farfan__capabilities__free_unpacked (caps, NULL);
    s_factory_stop (&factory);
}

FF_TEST (factory, strict_refuses_to_start_with_an_invalid_contract)
{
    const char *contracts [] = { "{\"format\":\"farfan-contract/1\",\"id\":\"BAD\"}" };
    char *dir = s_contracts_dir (contracts, 1);
    fac_config_t config;
    memset (&config, 0, sizeof config);
    char *argv [] = { "factory", "--contracts-dir", dir, "--strict", "--endpoint", "@tcp://127.0.0.1:*",
                      "--orchestrator-endpoint", "", "--sisas-endpoint", "", "--http-port", "0" };
    char err [512];
    cr_assert_eq (ff_config_load (&fac_config_schema, &config, 12, argv, stdout, err, sizeof err),
                  FF_CONFIG_LOADED, "%s", err);
    fac_server_t *server = fac_server_new (&config, err, sizeof err);
    cr_assert_null (server);
    cr_assert (strstr (err, "--strict") && strstr (err, "c000.json"), "%s", err);
    ff_config_free (&fac_config_schema, &config);
    s_dir_remove (&dir);
}

static Farfan__SyncReply *
s_sync (zsock_t *dealer, Farfan__ContractRef **refs, size_t count, uint32_t budget)
{
    Farfan__SyncRequest sync = FARFAN__SYNC_REQUEST__INIT;
    sync.run_id = "run-1";
    sync.phase = "P02";
    sync.contracts = refs;
    sync.n_contracts = count;
    sync.worker_budget = budget;
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__SYNC, &sync.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SYNC_REPLY, "%s",
                  ff_msg_status_message (reply));
    Farfan__SyncReply *out = farfan__sync_reply__unpack (NULL, ff_msg_body_size (reply),
                                                         ff_msg_body_data (reply));
    cr_assert_not_null (out);
    ff_msg_destroy (&reply);
    return out;
}

static const Farfan__Conflict *
s_conflict (const Farfan__SyncReply *reply, const char *kind)
{
    for (size_t i = 0; i < reply->n_conflicts; i++)
        if (streq (reply->conflicts [i]->kind, kind))
            return reply->conflicts [i];
    return NULL;
}

FF_TEST (factory, sync_reports_conflicts_until_contracts_are_shipped)
{
    const char *contracts [] = { S_MICRO ("A", "") };
    s_factory_t factory = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    Farfan__ContractRef a = FARFAN__CONTRACT_REF__INIT, b = FARFAN__CONTRACT_REF__INIT;
    a.id = "A";
    a.digest = "sha256:stale";
    b.id = "B";
    Farfan__ContractRef *refs [] = { &a, &b };
    Farfan__SyncReply *reply = s_sync (factory.dealer, refs, 2, 100);
    cr_assert_not (reply->success);
    const Farfan__Conflict *missing = s_conflict (reply, "missing_contracts");
    cr_assert_not_null (missing);
    cr_assert_eq (missing->n_ids, 1);
    cr_assert_str_eq (missing->ids [0], "B");
    const Farfan__Conflict *stale = s_conflict (reply, "stale_contracts");
    cr_assert_not_null (stale);
    cr_assert_str_eq (stale->ids [0], "A");
    //  A budget beyond what 2 workers can use is capped, and said so: two
    //  per worker, or two batches of the recommended size when larger (no
    //  contract of the phase waits).
    cr_assert_gt (reply->batch_size, 0);
    uint32_t expected_cap = 2 * reply->batch_size > 4 ? 2 * reply->batch_size : 4;
    cr_assert_eq (reply->in_flight_cap, expected_cap, "cap %u, batch %u", reply->in_flight_cap,
                  reply->batch_size);
    cr_assert_lt (reply->in_flight_cap, 100);
    bool capped = false;
    for (size_t i = 0; i < reply->n_adjustments; i++)
        capped |= streq (reply->adjustments [i]->kind, "in_flight_cap");
    cr_assert (capped);
    farfan__sync_reply__free_unpacked (reply, NULL);

    //  Ship B (PUT_CONTRACTS), expect A's digest as loaded: success.
    Farfan__PutContracts put = FARFAN__PUT_CONTRACTS__INIT;
    char *json [] = { S_MICRO ("B", "") };
    put.contracts_json = json;
    put.n_contracts_json = 1;
    ff_msg_t *put_reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &put.base);
    Farfan__PutContractsReply *stored = farfan__put_contracts_reply__unpack (
        NULL, ff_msg_body_size (put_reply), ff_msg_body_data (put_reply));
    cr_assert_not_null (stored);
    cr_assert_eq (stored->accepted, 1);
    cr_assert_eq (stored->rejected, 0);
    cr_assert_eq (stored->total_contracts, 2);
    farfan__put_contracts_reply__free_unpacked (stored, NULL);
    ff_msg_destroy (&put_reply);

    a.digest = "";
    reply = s_sync (factory.dealer, refs, 2, 1);
    cr_assert (reply->success, "%zu conflicts, first %s", reply->n_conflicts,
               reply->n_conflicts ? reply->conflicts [0]->kind : "");
    cr_assert_eq (reply->in_flight_cap, 1, "a smaller budget is respected");
    cr_assert_gt (reply->batch_size, 0);
    farfan__sync_reply__free_unpacked (reply, NULL);

    //  Invalid definitions are rejected with their errors.
    char *bad [] = { "{\"format\":\"farfan-contract/1\",\"id\":\"C\",\"methods\":[]}" };
    put.contracts_json = bad;
    put_reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &put.base);
    stored = farfan__put_contracts_reply__unpack (NULL, ff_msg_body_size (put_reply),
                                                  ff_msg_body_data (put_reply));
    cr_assert_eq (stored->accepted, 0);
    cr_assert_eq (stored->rejected, 1);
    cr_assert_gt (stored->n_errors, 0);
    cr_assert_str_eq (stored->errors [0]->file, "put_contracts[0]");
    farfan__put_contracts_reply__free_unpacked (stored, NULL);
    ff_msg_destroy (&put_reply);
    s_factory_stop (&factory);
}

//  SYNC by_digest: the set's digest instead of the list. The factory's own
//  set: success, with the phase's contracts prewarmed; another set:
//  success = false and digest_mismatch (the orchestrator then lists them);
//  a phase that is not one: INVALID_ARGUMENT.
FF_TEST (factory, sync_by_digest_checks_the_whole_set)
{
    const char *contracts [] = { S_MICRO ("A", ""), S_MICRO ("B", "") };
    s_factory_t factory = s_factory (contracts, 2, NULL, NULL, NULL, NULL);
    Farfan__SyncReply *first = s_sync (factory.dealer, NULL, 0, 0);
    char *digest = strdup (first->contract_set_digest);
    cr_assert (strncmp (digest, "sha256:", 7) == 0, "%s", digest);
    farfan__sync_reply__free_unpacked (first, NULL);

    Farfan__SyncRequest sync = FARFAN__SYNC_REQUEST__INIT;
    sync.run_id = "run-1";
    sync.phase = "P02";
    sync.by_digest = true;
    sync.contract_set_digest = digest;
    Farfan__SyncReply *reply = (Farfan__SyncReply *) ff_test_call_decoded (
        factory.dealer, FARFAN__MESSAGE_TYPE__SYNC, &sync.base, FARFAN__MESSAGE_TYPE__SYNC_REPLY,
        &farfan__sync_reply__descriptor);
    cr_assert (reply->success, "%zu conflicts", reply->n_conflicts);
    cr_assert_eq (reply->n_conflicts, 0);
    cr_assert_eq (reply->prewarmed, 2, "both P02 contracts of the set prewarmed");
    cr_assert_gt (reply->in_flight_cap, 0);
    farfan__sync_reply__free_unpacked (reply, NULL);

    sync.contract_set_digest = "sha256:another";
    reply = (Farfan__SyncReply *) ff_test_call_decoded (
        factory.dealer, FARFAN__MESSAGE_TYPE__SYNC, &sync.base, FARFAN__MESSAGE_TYPE__SYNC_REPLY,
        &farfan__sync_reply__descriptor);
    cr_assert_not (reply->success);
    cr_assert_not_null (s_conflict (reply, "digest_mismatch"));
    cr_assert_str_eq (reply->contract_set_digest, digest);
    farfan__sync_reply__free_unpacked (reply, NULL);

    sync.contract_set_digest = digest;
    sync.phase = "P42";
    ff_msg_t *refused = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__SYNC, &sync.base);
    cr_assert_eq (ff_msg_type (refused), FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_eq (ff_msg_status_code (refused), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    ff_msg_destroy (&refused);

    //  PLAN of the whole phase, estimates only: every contract estimated,
    //  batches with their estimate and no ids.
    Farfan__PlanRequest plan_request = FARFAN__PLAN_REQUEST__INIT;
    plan_request.all = true;
    plan_request.phase = "P02";
    plan_request.estimates_only = true;
    Farfan__ExecutionPlan *plan = (Farfan__ExecutionPlan *) ff_test_call_decoded (
        factory.dealer, FARFAN__MESSAGE_TYPE__PLAN, &plan_request.base,
        FARFAN__MESSAGE_TYPE__PLAN_REPLY, &farfan__execution_plan__descriptor);
    cr_assert_eq (plan->n_estimates, 2);
    cr_assert_gt (plan->n_batches, 0);
    for (size_t i = 0; i < plan->n_batches; i++) {
        cr_assert_eq (plan->batches [i]->n_contract_ids, 0);
        cr_assert_gt (plan->batches [i]->estimated_s, 0);
    }
    cr_assert_gt (plan->estimated_duration_s, 0);
    farfan__execution_plan__free_unpacked (plan, NULL);
    free (digest);
    s_factory_stop (&factory);
}

static Farfan__ExecutionPlan *
s_plan (zsock_t *dealer, char **ids, size_t count, double budget)
{
    Farfan__PlanRequest request = FARFAN__PLAN_REQUEST__INIT;
    request.contract_ids = ids;
    request.n_contract_ids = count;
    request.time_budget_s = budget;
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__PLAN, &request.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PLAN_REPLY);
    Farfan__ExecutionPlan *plan = farfan__execution_plan__unpack (NULL, ff_msg_body_size (reply),
                                                                  ff_msg_body_data (reply));
    cr_assert_not_null (plan);
    ff_msg_destroy (&reply);
    return plan;
}

static bool
s_has_warning (const Farfan__ExecutionPlan *plan, const char *text)
{
    for (size_t i = 0; i < plan->n_warnings; i++)
        if (strstr (plan->warnings [i], text))
            return true;
    return false;
}

FF_TEST (factory, plans_use_measured_durations_longest_first)
{
    const char *contracts [] = { S_WAIT ("SHORT", 20, 5000), S_WAIT ("LONG", 200, 5000) };
    s_factory_t factory = s_factory (contracts, 2, NULL, NULL, NULL, NULL);
    char *ids [] = { "SHORT", "LONG", "GHOST" };
    Farfan__ExecutionPlan *plan = s_plan (factory.dealer, ids, 3, 0);
    cr_assert (s_has_warning (plan, "unknown contract id: GHOST"));
    cr_assert (s_has_warning (plan, "low-confidence"));
    cr_assert_eq (plan->confidence, 0);
    for (size_t i = 0; i < plan->n_estimates; i++)
        cr_assert_str_eq (plan->estimates [i]->source, "default");
    farfan__execution_plan__free_unpacked (plan, NULL);

    //  Measure both, then plan again.
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = 2;
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 2);
    s_outcome_free (&outcome);
    plan = s_plan (factory.dealer, ids, 2, 0.001);
    cr_assert_eq (plan->confidence, 1);
    cr_assert_eq (plan->n_estimates, 2);
    for (size_t i = 0; i < plan->n_estimates; i++)
        cr_assert_str_eq (plan->estimates [i]->source, "measured");
    cr_assert_geq (plan->n_batches, 1);
    cr_assert_str_eq (plan->batches [0]->contract_ids [0], "LONG", "longest first");
    cr_assert_geq (plan->estimated_duration_s, 0.19, "LONG waits 200 ms (timers have ms resolution)");
    cr_assert (s_has_warning (plan, "exceeds the time budget"));
    cr_assert_str_neq (plan->plan_id, "");

    //  Executing the plan feeds plan accuracy.
    execute.plan_id = plan->plan_id;
    execute.no_cache = true;
    outcome = s_execute (factory.dealer, &execute);
    s_outcome_free (&outcome);
    ff_msg_t *reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__METRICS, NULL);
    Farfan__FactoryMetrics *metrics = farfan__factory_metrics__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_eq (metrics->plans_checked, 1);
    cr_assert_gt (metrics->plan_accuracy_percent, 0);
    farfan__factory_metrics__free_unpacked (metrics, NULL);
    ff_msg_destroy (&reply);
    farfan__execution_plan__free_unpacked (plan, NULL);
    s_factory_stop (&factory);
}

FF_TEST (factory, a_snapshot_restores_the_duration_model_elsewhere)
{
    const char *contracts [] = { S_WAIT ("W", 50, 5000) };
    s_factory_t first = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    char *ids [] = { "W" };
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    s_outcome_t outcome = s_execute (first.dealer, &execute);
    s_outcome_free (&outcome);
    ff_msg_t *reply = ff_test_request (first.dealer, FARFAN__MESSAGE_TYPE__SNAPSHOT, NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SNAPSHOT_REPLY);
    Farfan__Snapshot *snapshot = farfan__snapshot__unpack (NULL, ff_msg_body_size (reply),
                                                           ff_msg_body_data (reply));
    cr_assert_not_null (snapshot);
    cr_assert_gt (snapshot->n_durations, 0);
    cr_assert_not_null (snapshot->capabilities);
    cr_assert_not_null (snapshot->metrics);
    cr_assert_eq (snapshot->metrics->executed, 1);

    s_factory_t second = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    Farfan__ExecutionPlan *before = s_plan (second.dealer, ids, 1, 0);
    cr_assert_str_eq (before->estimates [0]->source, "default");
    farfan__execution_plan__free_unpacked (before, NULL);
    ff_msg_t *restored = ff_test_request (second.dealer, FARFAN__MESSAGE_TYPE__RESTORE, &snapshot->base);
    cr_assert_eq (ff_msg_type (restored), FARFAN__MESSAGE_TYPE__RESTORE_REPLY);
    Farfan__RestoreReply *restore = farfan__restore_reply__unpack (
        NULL, ff_msg_body_size (restored), ff_msg_body_data (restored));
    cr_assert_eq (restore->durations_restored, snapshot->n_durations);
    farfan__restore_reply__free_unpacked (restore, NULL);
    Farfan__ExecutionPlan *after = s_plan (second.dealer, ids, 1, 0);
    cr_assert_str_eq (after->estimates [0]->source, "measured");
    cr_assert_gt (after->estimates [0]->estimated_s, 0.04);
    farfan__execution_plan__free_unpacked (after, NULL);
    ff_msg_destroy (&restored);
    farfan__snapshot__free_unpacked (snapshot, NULL);
    ff_msg_destroy (&reply);
    s_factory_stop (&second);
    s_factory_stop (&first);
}

FF_TEST (factory, optimize_caches_answers_with_figures)
{
    const char *contracts [] = { S_MICRO ("A", "") };
    s_factory_t factory = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "A" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    execute.input_digest = digest;
    for (int i = 0; i < 5; i++) {
        s_outcome_t outcome = s_execute (factory.dealer, &execute);
        s_outcome_free (&outcome);
    }
    Farfan__OptimizeCaches optimize = FARFAN__OPTIMIZE_CACHES__INIT;
    optimize.apply = true;
    ff_msg_t *reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES, &optimize.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES_REPLY);
    Farfan__CacheOptimization *result = farfan__cache_optimization__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_not_null (result);
    cr_assert (result->applied);
    cr_assert_eq (result->n_caches, 3);
    Farfan__CacheStats *results = NULL;
    for (size_t i = 0; i < result->n_caches; i++)
        if (streq (result->caches [i]->name, "results"))
            results = result->caches [i];
    cr_assert_not_null (results);
    cr_assert_eq (results->hits, 4, "four of five executions hit the result cache");
    cr_assert_eq (results->misses, 1);
    farfan__cache_optimization__free_unpacked (result, NULL);
    ff_msg_destroy (&reply);
    free (digest);
    s_factory_stop (&factory);
}

FF_TEST (factory, malformed_bodies_are_refused_and_the_factory_keeps_serving)
{
    s_factory_t factory = s_factory (NULL, 0, NULL, NULL, NULL, NULL);
    const uint32_t types [] = {
        FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, FARFAN__MESSAGE_TYPE__EXECUTE, FARFAN__MESSAGE_TYPE__SYNC,
        FARFAN__MESSAGE_TYPE__PLAN, FARFAN__MESSAGE_TYPE__RESTORE, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS,
        FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES,
    };
    for (size_t i = 0; i < sizeof types / sizeof types [0]; i++) {
        ff_msg_header_t header = { .type = types [i], .correlation_id = "bad" };
        cr_assert_eq (ff_msg_send_packed (factory.dealer, NULL, false, &header, "\x0a\xff", 2), 0);
        ff_msg_t *reply = ff_msg_new ();
        cr_assert_eq (ff_msg_recv (reply, factory.dealer), 0);
        cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__MALFORMED, "%s: %s",
                      ff_msg_type_name (types [i]), ff_msg_status_message (reply));
        ff_msg_destroy (&reply);
    }
    ff_test_assert_pings (factory.dealer);
    s_factory_stop (&factory);
}

FF_TEST (factory, metrics_page_carries_execution_and_cache_figures)
{
    const char *contracts [] = { S_MICRO ("A", "") };
    s_factory_t factory = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "A" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    execute.input_digest = digest;
    for (int i = 0; i < 2; i++) {
        s_outcome_t outcome = s_execute (factory.dealer, &execute);
        s_outcome_free (&outcome);
    }
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (factory.service), "/metrics", &status);
    cr_assert_eq (status, 200);
    cr_assert_eq (ff_test_metric (page, "farfan_contracts_total{status=\"ok\"}"), 2, "%s", page);
    cr_assert_eq (ff_test_metric (page, "farfan_contracts_from_cache_total"), 1);
    cr_assert_eq (ff_test_metric (page, "farfan_contract_executions_total{mode=\"inline\"}"), 1);
    cr_assert_eq (ff_test_metric (page, "farfan_cache_hits_total{cache=\"results\"}"), 1);
    cr_assert_eq (ff_test_metric (page, "farfan_cache_misses_total{cache=\"results\"}"), 1);
    cr_assert_eq (ff_test_metric (page, "farfan_factory_workers"), 2);
    cr_assert_eq (ff_test_metric (page, "farfan_factory_pending"), 0);
    cr_assert_eq (ff_test_metric (page, "farfan_contracts_loaded"), 1);
    cr_assert (!isnan (ff_test_metric (page, "farfan_contract_duration_seconds_count")));
    free (page);
    free (digest);
    s_factory_stop (&factory);
}

FF_TEST (factory, a_large_stream_waits_for_a_slow_reader_instead_of_dropping)
{
    //  3,000 results through queues of 100 messages: the factory must hold
    //  what the socket cannot take and send it as the reader catches up.
    enum { S_COUNT = 3000 };
    const char *contracts [] = {
        "{\"format\":\"farfan-contract/1\",\"id\":\"N\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P02\"],\"methods\":[{\"method\":\"core.noop\"}]}",
    };
    s_factory_t factory = s_factory (contracts, 1, "--hwm", "100", NULL, NULL);
    zsock_set_rcvhwm (factory.dealer, 100);
    char *ids [S_COUNT];
    for (size_t i = 0; i < S_COUNT; i++)
        ids [i] = "N";
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = S_COUNT;
    for (int pass = 0; pass < 2; pass++) {
        //  The second pass is answered from the cache: all at once.
        s_outcome_t outcome = s_execute (factory.dealer, &execute);
        s_assert_complete (&outcome, S_COUNT);
        cr_assert_eq (outcome.done->ok, S_COUNT);
        if (pass == 1)
            cr_assert_eq (outcome.done->from_cache, S_COUNT);
        s_outcome_free (&outcome);
    }
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (factory.service), "/metrics", &status);
    cr_assert_eq (ff_test_metric (page, "farfan_replies_dropped_total{socket=\"direct\"}"), 0);
    free (page);
    s_factory_stop (&factory);
}

//  Execute.contract_digests: a factory runs exactly the definition the
//  requester names, or refuses the batch (ERROR NOT_FOUND, nothing runs)
//  so the requester ships it: two orchestrator runs whose sets define an
//  id differently never get each other's definition.
FF_TEST (factory, execute_runs_only_the_definition_its_digest_names)
{
    const char *contracts [] = { S_MICRO ("A", "") };
    s_factory_t factory = s_factory (contracts, 1, NULL, NULL, NULL, NULL);
    char *digest = ff_test_put_document (factory.dealer, s_text, strlen (s_text), NULL);
    char *ids [] = { "A" };
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    execute.input_digest = digest;
    execute.no_cache = true;

    //  What is loaded, without digests: its digest is in the result.
    s_outcome_t outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 1);
    char *loaded = strdup (s_result (&outcome, 0)->contract_digest);
    cr_assert_eq (strncmp (loaded, "sha256:", 7), 0);
    s_outcome_free (&outcome);

    //  Naming the loaded digest: runs.
    char *digests [] = { loaded };
    execute.contract_digests = digests;
    execute.n_contract_digests = 1;
    outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 1);
    cr_assert_str_eq (s_result (&outcome, 0)->contract_digest, loaded);
    s_outcome_free (&outcome);

    //  Another definition of A: refused, naming it, and nothing ran.
    Farfan__FactoryMetrics *before = NULL;
    {
        Farfan__MetricsRequest request = FARFAN__METRICS_REQUEST__INIT;
        ff_msg_t *reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__METRICS, &request.base);
        before = farfan__factory_metrics__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
        cr_assert_not_null (before);
        ff_msg_destroy (&reply);
    }
    char *other_json [] = { S_MICRO ("A", ",\"title\":\"the other run's A\"") };
    fac_contract_set_t *scratch = fac_contract_set_new (NULL);
    cr_assert_eq (fac_contract_set_add_json (scratch, other_json [0], strlen (other_json [0]), "t", NULL), 1);
    char *other = strdup (fac_contract_set_lookup (scratch, "A")->digest);
    fac_contract_set_destroy (&scratch);
    cr_assert_str_neq (other, loaded);
    digests [0] = other;
    outcome = s_execute (factory.dealer, &execute);
    cr_assert_eq (outcome.count, 0, "nothing runs");
    cr_assert_null (outcome.done);
    cr_assert_eq (outcome.other_type, FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_not_null (strstr (outcome.other_message, "1 contract definition not held: A (holds"),
                        "%s", outcome.other_message);
    cr_assert_not_null (strstr (outcome.other_message, "PUT_CONTRACTS"), "%s", outcome.other_message);
    s_outcome_free (&outcome);
    {
        Farfan__MetricsRequest request = FARFAN__METRICS_REQUEST__INIT;
        ff_msg_t *reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__METRICS, &request.base);
        Farfan__FactoryMetrics *after = farfan__factory_metrics__unpack (NULL, ff_msg_body_size (reply),
                                                                         ff_msg_body_data (reply));
        cr_assert_not_null (after);
        cr_assert_eq (after->executed, before->executed, "the refused batch executed nothing");
        farfan__factory_metrics__free_unpacked (after, NULL);
        ff_msg_destroy (&reply);
    }
    farfan__factory_metrics__free_unpacked (before, NULL);

    //  Shipped (PUT_CONTRACTS), then the same EXECUTE: runs the other one;
    //  the first definition is now the one refused.
    Farfan__PutContracts put = FARFAN__PUT_CONTRACTS__INIT;
    put.contracts_json = other_json;
    put.n_contracts_json = 1;
    ff_msg_t *put_reply = ff_test_request (factory.dealer, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &put.base);
    cr_assert_eq (ff_msg_type (put_reply), FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY);
    ff_msg_destroy (&put_reply);
    outcome = s_execute (factory.dealer, &execute);
    s_assert_complete (&outcome, 1);
    cr_assert_str_eq (s_result (&outcome, 0)->contract_digest, other);
    s_outcome_free (&outcome);
    digests [0] = loaded;
    outcome = s_execute (factory.dealer, &execute);
    cr_assert_eq (outcome.other_type, FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_not_null (strstr (outcome.other_message, "not held: A"), "%s", outcome.other_message);
    s_outcome_free (&outcome);

    //  An unknown id named with a digest: refused as not loaded. A digest
    //  count that does not match the ids, or digests with `all`: invalid.
    char *unknown_ids [] = { "A", "Z" };
    char *two [] = { other, "sha256:00" };
    execute.contract_ids = unknown_ids;
    execute.n_contract_ids = 2;
    execute.contract_digests = two;
    execute.n_contract_digests = 2;
    outcome = s_execute (factory.dealer, &execute);
    cr_assert_eq (outcome.other_type, FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_not_null (strstr (outcome.other_message, "Z (not loaded)"), "%s", outcome.other_message);
    s_outcome_free (&outcome);
    execute.n_contract_digests = 1;
    outcome = s_execute (factory.dealer, &execute);
    cr_assert_eq (outcome.other_type, FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_not_null (strstr (outcome.other_message, "1 digests for 2 contract_ids"), "%s",
                        outcome.other_message);
    s_outcome_free (&outcome);
    execute.n_contract_ids = 0;
    execute.all = true;
    outcome = s_execute (factory.dealer, &execute);
    cr_assert_eq (outcome.other_type, FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_not_null (strstr (outcome.other_message, "all: not allowed"), "%s", outcome.other_message);
    s_outcome_free (&outcome);

    free (other);
    free (loaded);
    free (digest);
    s_factory_stop (&factory);
}
