/*  The orchestrator end to end, in-process, on loopback: runs through
    phases across one or two factories, alignment (shipping contracts,
    leaving a factory out), plan-based dispatch, retries, cancel, results,
    reports, and malformed client input. (Process kills: test_recovery.c.) */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "factory.pb-c.h"
#include "ff_test.h"
#include "orchestrator.pb-c.h"

//  ---------------------------------------------------------------------
//  Contracts for these runs

#define S_MICRO(id, pa, dim, q) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"micro\"," \
    "\"identity\":{\"policy_area\":\"" pa "\",\"dimension\":\"" dim "\",\"base_question\":\"" q "\"}," \
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true}," \
    "\"patterns\":[{\"id\":\"src\",\"regex\":\"\\\\b(DANE|Medicina Legal)\\\\b\"," \
    "\"flags\":[\"IGNORECASE\"],\"element_type\":\"fuentes\"}," \
    "{\"id\":\"year\",\"regex\":\"\\\\b20\\\\d{2}\\\\b\",\"element_type\":\"años\"}]," \
    "\"expected_elements\":[{\"type\":\"fuentes\",\"minimum\":2},{\"type\":\"años\",\"minimum\":4}]," \
    "\"methods\":[{\"method\":\"text.match_patterns\"},{\"method\":\"text.count_elements\"}," \
    "{\"method\":\"score.modality\"}],\"scoring\":{\"modality\":\"TYPE_A\"}}"

#define S_AGGREGATE \
    "{\"format\":\"farfan-contract/1\",\"id\":\"AGG\",\"version\":\"1\",\"type\":\"aggregation\"," \
    "\"applicable_phases\":[\"P04\"],\"inputs\":{\"contracts\":[\"Q1\",\"Q2\",\"Q3\"]}," \
    "\"methods\":[{\"method\":\"aggregate.weighted_mean\",\"params\":{\"weights\":" \
    "{\"Q1\":0.5,\"Q2\":0.25,\"Q3\":0.25}}}]}"

#define S_WAIT(id, phase, ms) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"task\"," \
    "\"applicable_phases\":[\"" phase "\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":" #ms "}}]," \
    "\"timeout_ms\":10000}"

//  How long a run may take before the test fails (a loaded machine, ASan).
#define S_RUN_DEADLINE_MS 60000

static const char *s_text =
    "Diagnóstico: según el DANE (2019) y Medicina Legal (2020), la tasa de violencia "
    "aumentó en la zona rural. El dane confirma la tendencia de 2021.";

static char *
s_dir_with (const char *const *contracts, size_t count)
{
    char *dir = strdup ("/tmp/farfan-orc-test-XXXXXX");
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

//  ---------------------------------------------------------------------
//  A cluster: one orchestrator, its factories, a client

typedef struct {
    ff_test_service_t *orchestrator;
    ff_test_service_t *factories [2];
    size_t factory_count;
    char *dir;
    zsock_t *client;
} s_cluster_t;

//  Starts a factory linked to the cluster's orchestrator (extra settings
//  follow, NULL-terminated, at most two pairs).
static void
s_add_factory (s_cluster_t *cluster, const char *instance_id, const char *a, const char *b,
               const char *c, const char *d)
{
    char link [128];
    snprintf (link, sizeof link, ">%s", ff_test_service_endpoint (cluster->orchestrator, "worker"));
    cluster->factories [cluster->factory_count++] = ff_test_service_start ("factory",
        "--orchestrator-endpoint", link, "--instance-id", instance_id, "--max-workers", "2",
        "--heartbeat-ms", "100", a, b, c, d, NULL);
}

//  Returns once the orchestrator lists `count` registered factories. The
//  registration is asynchronous (READY over the worker link), so this asks
//  again until it is true or the deadline passes.
static void
s_wait_factories (s_cluster_t *cluster, size_t count)
{
    int64_t deadline = zclock_mono () + 10000;
    while (true) {
        size_t registered = ff_test_factory_count (cluster->client);
        if (registered >= count)
            return;
        cr_assert_lt (zclock_mono (), deadline, "%zu of %zu factories registered", registered, count);
        zclock_sleep (10);          //  re-ask pacing, not a timing assumption
    }
}

static s_cluster_t
s_cluster (const char *const *contracts, size_t count)
{
    s_cluster_t cluster = { 0 };
    cluster.dir = s_dir_with (contracts, count);
    cluster.orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir", cluster.dir,
                                                  "--heartbeat-ms", "100", "--align-timeout-ms", "3000",
                                                  "--watch-interval-ms", "20", NULL);
    cluster.client = ff_test_dealer (ff_test_service_endpoint (cluster.orchestrator, "client"));
    return cluster;
}

static void
s_cluster_stop (s_cluster_t *cluster)
{
    zsock_destroy (&cluster->client);
    for (size_t i = 0; i < cluster->factory_count; i++)
        ff_test_service_stop (&cluster->factories [i]);
    ff_test_service_stop (&cluster->orchestrator);
    ff_test_remove_dir (cluster->dir);
    free (cluster->dir);
}

//  The runs the orchestrator LISTs (caller frees with
//  farfan__run_list__free_unpacked).
static Farfan__RunList *
s_runs (zsock_t *client)
{
    Farfan__ListRequest request = FARFAN__LIST_REQUEST__INIT;
    return (Farfan__RunList *) ff_test_call_decoded (client, FARFAN__MESSAGE_TYPE__LIST, &request.base,
                                                     FARFAN__MESSAGE_TYPE__RUN_LIST,
                                                     &farfan__run_list__descriptor);
}

static const Farfan__PhaseStatus *
s_phase (const Farfan__RunStatus *status, const char *name)
{
    for (size_t i = 0; i < status->n_phases; i++)
        if (streq (status->phases [i]->phase, name))
            return status->phases [i];
    cr_assert_fail ("no phase %s", name);
    return NULL;
}

//  ---------------------------------------------------------------------

FF_TEST (orchestrator, a_run_goes_through_its_phases_with_one_factory)
{
    const char *contracts [] = {
        S_MICRO ("Q1", "PA01", "DIM01", "Q001"), S_MICRO ("Q2", "PA01", "DIM01", "Q002"),
        S_MICRO ("Q3", "PA01", "DIM01", "Q003"), S_AGGREGATE,
    };
    s_cluster_t cluster = s_cluster (contracts, 4);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, NULL, NULL, 0);
    size_t progress = 0;
    Farfan__RunStatus *status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, &progress);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    cr_assert_gt (progress, 1, "progress streamed");
    cr_assert_eq (status->n_phases, 10);
    cr_assert_eq (s_phase (status, "P00")->state, FARFAN__PHASE_STATE__PHASE_SKIPPED);
    const Farfan__PhaseStatus *p02 = s_phase (status, "P02");
    cr_assert_eq (p02->state, FARFAN__PHASE_STATE__PHASE_SUCCEEDED);
    cr_assert_eq (p02->total, 3);
    cr_assert_eq (p02->done, 3);
    cr_assert_eq (s_phase (status, "P04")->state, FARFAN__PHASE_STATE__PHASE_SUCCEEDED);
    cr_assert_eq (status->total, 4);
    cr_assert_eq (status->done, 4);
    cr_assert_eq (strncmp (status->document_digest, "sha256:", 7), 0);

    Farfan__RunResults *results = ff_test_results (cluster.client, run_id, NULL);
    cr_assert_eq (results->n_results, 4, "every contract exactly once");
    const Farfan__ContractResult *q1 = ff_test_result_find (results, "Q1");
    cr_assert_eq (q1->status, FARFAN__RESULT_STATUS__RESULT_OK);
    //  3 sources of 2 needed, 3 years of 4: (1 + 0.75) / 2 = 0.875.
    cr_assert_float_eq (q1->ratio, 0.875, 1e-9);
    const Farfan__ContractResult *aggregate = ff_test_result_find (results, "AGG");
    cr_assert_eq (aggregate->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s", aggregate->error);
    //  Three equal inputs: their weighted mean is their score.
    cr_assert_float_eq (aggregate->score, q1->score, 1e-9);
    farfan__run_results__free_unpacked (results, NULL);

    Farfan__RunResults *p04 = ff_test_results (cluster.client, run_id, "P04");
    cr_assert_eq (p04->n_results, 1);
    farfan__run_results__free_unpacked (p04, NULL);
    farfan__run_status__free_unpacked (status, NULL);
    free (run_id);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, reports_in_every_format_quote_the_evidence)
{
    const char *contracts [] = { S_MICRO ("Q1", "PA01", "DIM01", "Q001") };
    s_cluster_t cluster = s_cluster (contracts, 1);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    const char *formats [] = { "json", "markdown", "html" };
    const char *media [] = { "application/json", "text/markdown", "text/html" };
    for (size_t i = 0; i < 3; i++) {
        Farfan__ReportRequest request = FARFAN__REPORT_REQUEST__INIT;
        request.run_id = run_id;
        request.format = (char *) formats [i];
        ff_msg_t *reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__REPORT, &request.base);
        cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__RUN_REPORT);
        Farfan__RunReport *report = farfan__run_report__unpack (NULL, ff_msg_body_size (reply),
                                                                ff_msg_body_data (reply));
        cr_assert_not_null (report);
        cr_assert_eq (strncmp (report->media_type, media [i], strlen (media [i])), 0);
        char *content = strndup ((const char *) report->content.data, report->content.len);
        cr_assert (strstr (content, "Q1"), "%s", content);
        cr_assert (strstr (content, "DANE"), "the evidence is quoted: %s", content);
        free (content);
        farfan__run_report__free_unpacked (report, NULL);
        ff_msg_destroy (&reply);
    }
    Farfan__ReportRequest bad = FARFAN__REPORT_REQUEST__INIT;
    bad.run_id = run_id;
    bad.format = "pdf";
    ff_msg_t *reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__REPORT, &bad.base);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    ff_msg_destroy (&reply);
    free (run_id);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, missing_contracts_are_shipped_to_the_factory)
{
    //  The factory starts with no contract: alignment ships them.
    const char *contracts [] = { S_MICRO ("Q1", "PA01", "DIM01", "Q001"), S_MICRO ("Q2", "PA01", "DIM01", "Q002") };
    s_cluster_t cluster = s_cluster (contracts, 2);
    s_add_factory (&cluster, "fac-empty", NULL, NULL, NULL, NULL);
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    bool shipped = false;
    for (size_t i = 0; i < status->n_conflicts; i++)
        if (streq (status->conflicts [i]->kind, "missing_contracts") && status->conflicts [i]->resolved
        &&  streq (status->conflicts [i]->factory, "fac-empty"))
            shipped = true;
    cr_assert (shipped, "the status says what was resolved");
    farfan__run_status__free_unpacked (status, NULL);
    free (run_id);
    s_cluster_stop (&cluster);
}

//  A factory known to hold the run's set is aligned by the set's digest
//  (SYNC by_digest); one whose set changed since answers digest_mismatch
//  and is aligned with the list instead: the run does not notice.
FF_TEST (orchestrator, a_factory_whose_set_changed_is_aligned_with_the_list)
{
    const char *contracts [] = { S_MICRO ("Q1", "PA01", "DIM01", "Q001"), S_MICRO ("Q2", "PA01", "DIM01", "Q002") };
    s_cluster_t cluster = s_cluster (contracts, 2);
    s_add_factory (&cluster, "fac-changing", NULL, NULL, NULL, NULL);
    for (int round = 0; round < 3; round++) {
        if (round == 2) {
            //  Behind the orchestrator's back: one more contract.
            zsock_t *direct = ff_test_dealer (ff_test_service_endpoint (cluster.factories [0], "direct"));
            Farfan__PutContracts put = FARFAN__PUT_CONTRACTS__INIT;
            char *json [] = { S_MICRO ("EXTRA", "PA02", "DIM01", "Q031") };
            put.contracts_json = json;
            put.n_contracts_json = 1;
            Farfan__PutContractsReply *stored = (Farfan__PutContractsReply *) ff_test_call_decoded (
                direct, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &put.base,
                FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY, &farfan__put_contracts_reply__descriptor);
            cr_assert_eq (stored->accepted, 1);
            farfan__put_contracts_reply__free_unpacked (stored, NULL);
            zsock_destroy (&direct);
        }
        char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
        Farfan__RunStatus *status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
        cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "run %d: %s", round,
                      status->error);
        cr_assert_eq (status->done, 2);
        bool shipped = false, excluded = false;
        for (size_t i = 0; i < status->n_conflicts; i++) {
            shipped |= streq (status->conflicts [i]->kind, "missing_contracts");
            excluded |= streq (status->conflicts [i]->kind, "excluded");
        }
        //  Shipped once, on the first run only; never left out.
        cr_assert_eq (shipped, round == 0, "run %d: missing contracts %s", round,
                      shipped ? "shipped" : "not shipped");
        cr_assert_not (excluded, "run %d: the factory was left out", round);
        farfan__run_status__free_unpacked (status, NULL);
        free (run_id);
    }
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, a_factory_that_cannot_run_a_phase_is_left_out_with_the_reason)
{
    //  X runs a program through exec: one factory allows it, the other has
    //  exec disabled and refuses the definition when it is shipped, so it is
    //  left out of the phase, and the status says which and why.
    char contract [1024];
    snprintf (contract, sizeof contract,
              "{\"format\":\"farfan-contract/1\",\"id\":\"X\",\"version\":\"1\",\"type\":\"task\","
              "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
              "\"methods\":[{\"method\":\"exec\",\"params\":{\"argv\":[\"%s/tests/data/factory/score.sh\",\"ok\"]}}]}",
              FF_TEST_SOURCE_ROOT);
    const char *contracts [] = { contract };
    s_cluster_t cluster = s_cluster (contracts, 1);
    s_add_factory (&cluster, "fac-plain", NULL, NULL, NULL, NULL);
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED, "the only factory cannot run X");
    cr_assert (strstr (status->error, "no factory can run"), "%s", status->error);
    bool excluded = false;
    for (size_t i = 0; i < status->n_conflicts; i++)
        excluded |= streq (status->conflicts [i]->factory, "fac-plain")
                 && streq (status->conflicts [i]->kind, "excluded");
    cr_assert (excluded, "the status names the factory left out");
    farfan__run_status__free_unpacked (status, NULL);
    free (run_id);

    char allowed [512];
    snprintf (allowed, sizeof allowed, "%s/tests/data/factory/", FF_TEST_SOURCE_ROOT);
    s_add_factory (&cluster, "fac-exec", "--exec-allowed", allowed, NULL, NULL);
    s_wait_factories (&cluster, 2);
    run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    excluded = false;
    for (size_t i = 0; i < status->n_conflicts; i++)
        excluded |= streq (status->conflicts [i]->factory, "fac-plain")
                 && streq (status->conflicts [i]->kind, "excluded");
    cr_assert (excluded, "fac-plain left out again, fac-exec ran it");
    cr_assert_eq (s_phase (status, "P02")->n_factories, 1);
    cr_assert_str_eq (s_phase (status, "P02")->factories [0], "fac-exec");
    farfan__run_status__free_unpacked (status, NULL);
    free (run_id);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, work_is_split_across_two_factories)
{
    enum { S_COUNT = 40 };
    char *contracts [S_COUNT];
    for (size_t i = 0; i < S_COUNT; i++) {
        contracts [i] = (char *) malloc (512);
        snprintf (contracts [i], 512, "{\"format\":\"farfan-contract/1\",\"id\":\"W%02zu\",\"version\":\"1\","
                  "\"type\":\"task\",\"applicable_phases\":[\"P02\"],\"methods\":[{\"method\":\"io.wait\","
                  "\"params\":{\"ms\":50}}],\"timeout_ms\":5000}", i);
    }
    s_cluster_t cluster = s_cluster ((const char *const *) contracts, S_COUNT);
    s_add_factory (&cluster, "fac-a", NULL, NULL, NULL, NULL);
    s_add_factory (&cluster, "fac-b", NULL, NULL, NULL, NULL);
    s_wait_factories (&cluster, 2);
    //  A budget of 4 in flight per factory: neither can take everything.
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 4);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    cr_assert_eq (s_phase (status, "P02")->done, S_COUNT);
    //  The final status names the factories that ran the phase.
    const Farfan__PhaseStatus *p02 = s_phase (status, "P02");
    cr_assert_eq (p02->n_factories, 2);
    cr_assert_neq (strcmp (p02->factories [0], p02->factories [1]), 0);
    for (size_t f = 0; f < 2; f++)
        cr_assert (strcmp (p02->factories [f], "fac-a") == 0 || strcmp (p02->factories [f], "fac-b") == 0,
                   "%s", p02->factories [f]);
    farfan__run_status__free_unpacked (status, NULL);
    //  Both factories executed some of the work.
    for (size_t f = 0; f < 2; f++) {
        int status_code = 0;
        char *page = ff_test_http_get (ff_test_service_http_port (cluster.factories [f]), "/metrics", &status_code);
        double executed = ff_test_metric (page, "farfan_contracts_total{status=\"ok\"}");
        cr_assert_gt (executed, 0, "factory %zu ran nothing:\n%s", f, page);
        free (page);
    }
    Farfan__RunResults *results = ff_test_results (cluster.client, run_id, NULL);
    cr_assert_eq (results->n_results, S_COUNT);
    farfan__run_results__free_unpacked (results, NULL);
    free (run_id);
    for (size_t i = 0; i < S_COUNT; i++)
        free (contracts [i]);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, a_failing_contract_is_retried_then_recorded_failed)
{
    //  A timeout shorter than the wait: it fails every time.
    const char *contracts [] = {
        "{\"format\":\"farfan-contract/1\",\"id\":\"SLOW\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P02\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":5000}}],"
        "\"timeout_ms\":30}",
        S_WAIT ("FAST", "P02", 1),
    };
    s_cluster_t cluster = s_cluster (contracts, 2);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED);
    cr_assert (strstr (status->error, "P02"), "%s", status->error);
    cr_assert_eq (status->n_failures, 1);
    cr_assert (strstr (status->failures [0], "SLOW") && strstr (status->failures [0], "3 attempts"),
               "%s", status->failures [0]);
    farfan__run_status__free_unpacked (status, NULL);
    Farfan__RunResults *results = ff_test_results (cluster.client, run_id, NULL);
    cr_assert_eq (results->n_results, 2);
    cr_assert_eq (ff_test_result_find (results, "SLOW")->status, FARFAN__RESULT_STATUS__RESULT_TIMEOUT);
    cr_assert_eq (ff_test_result_find (results, "FAST")->status, FARFAN__RESULT_STATUS__RESULT_OK);
    farfan__run_results__free_unpacked (results, NULL);
    int code = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (cluster.orchestrator), "/metrics", &code);
    cr_assert_eq (ff_test_metric (page, "farfan_contracts_redispatched_total{reason=\"failed\"}"), 2);
    free (page);
    free (run_id);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, a_cancelled_run_stops)
{
    const char *contracts [] = { S_WAIT ("LONG", "P02", 3000) };
    s_cluster_t cluster = s_cluster (contracts, 1);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = run_id;
    ff_msg_t *reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__CANCEL, &ref.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__CANCELLED, "%s", ff_msg_status_message (reply));
    Farfan__RunStatus *status = farfan__run_status__unpack (NULL, ff_msg_body_size (reply),
                                                            ff_msg_body_data (reply));
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_CANCELLED);
    farfan__run_status__free_unpacked (status, NULL);
    ff_msg_destroy (&reply);
    status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_CANCELLED);
    farfan__run_status__free_unpacked (status, NULL);
    free (run_id);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, a_run_waits_for_a_factory_to_register)
{
    const char *contracts [] = { S_WAIT ("W", "P02", 1) };
    s_cluster_t cluster = s_cluster (contracts, 1);
    char *run_id = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = run_id;
    ff_msg_t *reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__STATUS, &ref.base);
    Farfan__RunStatus *status = farfan__run_status__unpack (NULL, ff_msg_body_size (reply),
                                                            ff_msg_body_data (reply));
    cr_assert_not_null (status);
    cr_assert (status->state == FARFAN__RUN_STATE__RUN_RUNNING || status->state == FARFAN__RUN_STATE__RUN_QUEUED);
    farfan__run_status__free_unpacked (status, NULL);
    ff_msg_destroy (&reply);
    s_add_factory (&cluster, "fac-late", NULL, NULL, NULL, NULL);
    status = ff_test_watch (cluster.client, run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    free (run_id);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, list_and_factories_describe_what_is_there)
{
    const char *contracts [] = { S_WAIT ("W", "P02", 1) };
    s_cluster_t cluster = s_cluster (contracts, 1);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    char *first = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, first, S_RUN_DEADLINE_MS, NULL);
    farfan__run_status__free_unpacked (status, NULL);
    char *second = ff_test_submit (cluster.client, "test plan", s_text, "P02", "P02", 0);
    status = ff_test_watch (cluster.client, second, S_RUN_DEADLINE_MS, NULL);
    farfan__run_status__free_unpacked (status, NULL);
    Farfan__RunList *list = s_runs (cluster.client);
    cr_assert_eq (list->n_runs, 2);
    cr_assert_str_eq (list->runs [0]->run_id, second, "most recent first");
    cr_assert_eq (list->runs [1]->state, FARFAN__RUN_STATE__RUN_SUCCEEDED);
    farfan__run_list__free_unpacked (list, NULL);
    Farfan__FactoryList *factories = ff_test_factories (cluster.client);
    cr_assert_eq (factories->n_factories, 1);
    cr_assert_str_eq (factories->factories [0]->instance_id, "fac-1");
    cr_assert_not_null (factories->factories [0]->capabilities);
    cr_assert_eq (factories->factories [0]->capabilities->max_workers, 2);
    cr_assert_gt (factories->factories [0]->in_flight_cap, 0);
    farfan__factory_list__free_unpacked (factories, NULL);
    free (first);
    free (second);
    s_cluster_stop (&cluster);
}

//  The run id a SUBMITTED reply names (caller frees); destroys *reply_p.
static char *
s_run_id_take (ff_msg_t **reply_p)
{
    Farfan__Submitted *submitted = farfan__submitted__unpack (NULL, ff_msg_body_size (*reply_p),
                                                             ff_msg_body_data (*reply_p));
    cr_assert_not_null (submitted);
    char *run_id = strdup (submitted->run_id);
    cr_assert_not_null (run_id);
    farfan__submitted__free_unpacked (submitted, NULL);
    ff_msg_destroy (reply_p);
    return run_id;
}

//  Sends SUBMIT with the given sender and correlation ids on sock; returns
//  the run id SUBMITTED names (caller frees).
static char *
s_submit_as (zsock_t *sock, const char *sender_id, const char *correlation_id)
{
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) s_text;
    submit.document.len = strlen (s_text);
    submit.first_phase = "P02";
    submit.last_phase = "P02";
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__SUBMIT,
                               .correlation_id = correlation_id, .sender_id = sender_id };
    cr_assert_eq (ff_msg_send (sock, NULL, false, &header, &submit.base), 0);
    ff_msg_t *reply = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (reply, sock), 0, "no SUBMITTED within the timeout");
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SUBMITTED, "%s",
                  ff_msg_status_message (reply));
    cr_assert_str_eq (ff_msg_correlation_id (reply), correlation_id);
    return s_run_id_take (&reply);
}

FF_TEST (orchestrator, a_resent_submit_answers_the_run_it_started)
{
    const char *contracts [] = { S_WAIT ("W", "P02", 1) };
    s_cluster_t cluster = s_cluster (contracts, 1);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    //  A Lazy Pirate resend: the same ids on a fresh socket.
    zsock_t *again = ff_test_dealer (ff_test_service_endpoint (cluster.orchestrator, "client"));
    char *first = s_submit_as (cluster.client, "client-a", "submit-1");
    char *resent = s_submit_as (again, "client-a", "submit-1");
    cr_assert_str_eq (resent, first);
    //  Another request id, or another client with the same one: new runs.
    char *other = s_submit_as (again, "client-a", "submit-2");
    char *stranger = s_submit_as (cluster.client, "client-b", "submit-1");
    cr_assert_str_neq (other, first);
    cr_assert_str_neq (stranger, first);
    cr_assert_str_neq (stranger, other);
    const char *runs [] = { first, other, stranger };
    for (size_t i = 0; i < 3; i++) {
        Farfan__RunStatus *status = ff_test_watch (cluster.client, runs [i], S_RUN_DEADLINE_MS, NULL);
        cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
        farfan__run_status__free_unpacked (status, NULL);
    }
    //  After the run ended, the resend still names it (its final state).
    char *late = s_submit_as (again, "client-a", "submit-1");
    cr_assert_str_eq (late, first);
    Farfan__RunList *list = s_runs (cluster.client);
    cr_assert_eq (list->n_runs, 3, "a resent SUBMIT started another run");
    farfan__run_list__free_unpacked (list, NULL);
    free (first);
    free (resent);
    free (other);
    free (stranger);
    free (late);
    zsock_destroy (&again);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, bad_submissions_and_unknown_runs_get_errors)
{
    const char *contracts [] = { S_WAIT ("W", "P02", 1) };
    s_cluster_t cluster = s_cluster (contracts, 1);
    Farfan__SubmitRun empty = FARFAN__SUBMIT_RUN__INIT;
    ff_msg_t *reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__SUBMIT, &empty.base);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert (strstr (ff_msg_status_message (reply), "no document"));
    ff_msg_destroy (&reply);
    Farfan__SubmitRun backwards = FARFAN__SUBMIT_RUN__INIT;
    backwards.document.data = (uint8_t *) "x";
    backwards.document.len = 1;
    backwards.first_phase = "P05";
    backwards.last_phase = "P02";
    reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__SUBMIT, &backwards.base);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    ff_msg_destroy (&reply);
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = "run-nope";
    reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__STATUS, &ref.base);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__NOT_FOUND);
    ff_msg_destroy (&reply);
    //  Not UTF-8 and not a PDF: the run fails in P00, saying why.
    Farfan__SubmitRun binary = FARFAN__SUBMIT_RUN__INIT;
    binary.document.data = (uint8_t *) "\xff\xfe\x00\x01";
    binary.document.len = 4;
    reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__SUBMIT, &binary.base);
    Farfan__Submitted *submitted = farfan__submitted__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_not_null (submitted);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, submitted->run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED);
    cr_assert (strstr (status->error, "UTF-8"), "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    farfan__submitted__free_unpacked (submitted, NULL);
    ff_msg_destroy (&reply);
    //  Malformed bodies.
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__SUBMIT, .correlation_id = "bad" };
    cr_assert_eq (ff_msg_send_packed (cluster.client, NULL, false, &header, "\x0a\xff", 2), 0);
    reply = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (reply, cluster.client), 0);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__MALFORMED);
    ff_msg_destroy (&reply);
    ff_test_assert_pings (cluster.client);
    s_cluster_stop (&cluster);
}

FF_TEST (orchestrator, a_pdf_is_converted_with_pdftotext)
{
    const char *pdf = FF_TEST_SOURCE_ROOT "/../shared/farfan-upstream/plans/Plan_1.pdf";
    if (access (pdf, R_OK) != 0 || access ("/usr/bin/pdftotext", X_OK) != 0) {
        cr_log_warn ("skipped: %s or /usr/bin/pdftotext absent", pdf);
        return;
    }
    const char *contracts [] = { S_MICRO ("Q1", "PA01", "DIM01", "Q001") };
    s_cluster_t cluster = s_cluster (contracts, 1);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document_path = (char *) pdf;
    submit.first_phase = "P02";
    submit.last_phase = "P02";
    ff_msg_t *reply = ff_test_request (cluster.client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base);
    Farfan__Submitted *submitted = farfan__submitted__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_not_null (submitted);
    Farfan__RunStatus *status = ff_test_watch (cluster.client, submitted->run_id, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    cr_assert_str_eq (status->name, "Plan_1.pdf");
    Farfan__RunResults *results = ff_test_results (cluster.client, submitted->run_id, NULL);
    const Farfan__ContractResult *q1 = ff_test_result_find (results, "Q1");
    cr_assert_eq (q1->status, FARFAN__RESULT_STATUS__RESULT_OK);
    cr_assert_gt (q1->evidence [0]->count, 0, "the plan's text was matched");
    farfan__run_results__free_unpacked (results, NULL);
    farfan__run_status__free_unpacked (status, NULL);
    farfan__submitted__free_unpacked (submitted, NULL);
    ff_msg_destroy (&reply);
    s_cluster_stop (&cluster);
}

//  ---------------------------------------------------------------------
//  Runs with their own contract sets (SubmitRun.contract_set)

//  A P02 micro contract counting one element: the same ids with another
//  pattern are another definition, with other results.
#define S_SET_MICRO(id, regex, element) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"micro\"," \
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true}," \
    "\"patterns\":[{\"id\":\"p\",\"regex\":\"" regex "\",\"flags\":[\"IGNORECASE\"]," \
    "\"element_type\":\"" element "\"}],\"expected_elements\":[{\"type\":\"" element "\"," \
    "\"minimum\":1}],\"methods\":[{\"method\":\"text.match_patterns\"}," \
    "{\"method\":\"text.count_elements\"},{\"method\":\"score.modality\"}]," \
    "\"scoring\":{\"modality\":\"TYPE_A\"}}"
#define S_SOURCES(id) S_SET_MICRO (id, "\\\\b(DANE|Medicina Legal)\\\\b", "fuentes")
#define S_YEARS(id) S_SET_MICRO (id, "\\\\b20\\\\d{2}\\\\b", "años")

//  Writes contracts as dir/name/cNNN.json (creating dir/name).
static void
s_write_set (const char *dir, const char *name, const char *const *contracts, size_t count)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    cr_assert (mkdir (path, 0700) == 0 || errno == EEXIST, "mkdir %s", path);
    for (size_t i = 0; i < count; i++) {
        char file_path [600];
        snprintf (file_path, sizeof file_path, "%s/c%03zu.json", path, i);
        FILE *file = fopen (file_path, "w");
        cr_assert_not_null (file);
        fputs (contracts [i], file);
        fclose (file);
    }
}

//  An orchestrator with a default set and contract_sets_dir = sets_dir
//  ("" = none), its store in data_dir (NULL = its own).
static s_cluster_t
s_cluster_sets (const char *const *contracts, size_t count, const char *sets_dir,
                const char *data_dir)
{
    s_cluster_t cluster = { 0 };
    cluster.dir = s_dir_with (contracts, count);
    cluster.orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir", cluster.dir,
                                                  "--contract-sets-dir", sets_dir,
                                                  "--heartbeat-ms", "100", "--align-timeout-ms", "3000",
                                                  "--watch-interval-ms", "20",
                                                  data_dir ? "--data-dir" : NULL, data_dir, NULL);
    cluster.client = ff_test_dealer (ff_test_service_endpoint (cluster.orchestrator, "client"));
    return cluster;
}

//  SUBMIT of phase P02 with contract_set; the reply (caller destroys).
static ff_msg_t *
s_submit_set_reply (zsock_t *client, const char *contract_set)
{
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) s_text;
    submit.document.len = strlen (s_text);
    submit.first_phase = "P02";
    submit.last_phase = "P02";
    submit.contract_set = (char *) contract_set;
    return ff_test_request (client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base);
}

static char *
s_submit_set (zsock_t *client, const char *contract_set)
{
    ff_msg_t *reply = s_submit_set_reply (client, contract_set);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SUBMITTED, "%s: %s", contract_set,
                  ff_msg_status_message (reply));
    return s_run_id_take (&reply);
}

//  A refused SUBMIT: INVALID_ARGUMENT whose message holds each needle.
static void
s_assert_set_refused (zsock_t *client, const char *contract_set, const char *needle,
                      const char *needle2)
{
    ff_msg_t *reply = s_submit_set_reply (client, contract_set);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR, "%s accepted", contract_set);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    const char *message = ff_msg_status_message (reply);
    cr_assert (strstr (message, needle), "%s: \"%s\" lacks \"%s\"", contract_set, message, needle);
    cr_assert (!needle2 || strstr (message, needle2), "%s: \"%s\" lacks \"%s\"", contract_set,
               message, needle2);
    ff_msg_destroy (&reply);
}

//  Every result of the run counted element_type (its set's pattern), and
//  none other; count results. Returns the digest of Q1's definition.
static char *
s_assert_results_of (zsock_t *client, const char *run_id, const char *element_type, size_t count)
{
    Farfan__RunResults *results = ff_test_results (client, run_id, NULL);
    cr_assert_eq (results->n_results, count, "run %s: %zu results", run_id, results->n_results);
    char *digest = NULL;
    for (size_t i = 0; i < results->n_results; i++) {
        const Farfan__ContractResult *result = results->results [i];
        cr_assert_eq (result->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s: %s", result->contract_id,
                      result->error);
        cr_assert_eq (result->n_evidence, 1, "%s: one expected element", result->contract_id);
        cr_assert_str_eq (result->evidence [0]->element_type, element_type,
                          "run %s, %s ran another set's definition", run_id, result->contract_id);
        cr_assert_eq (result->evidence [0]->count, 3, "%s: three matches in the text",
                      result->contract_id);
        if (streq (result->contract_id, "Q1"))
            digest = strdup (result->contract_digest);
    }
    cr_assert_not_null (digest);
    farfan__run_results__free_unpacked (results, NULL);
    return digest;
}

FF_TEST_OPTS (orchestrator, concurrent_runs_with_their_own_sets_each_get_their_results,
              .timeout = 60)
{
    //  Sets a and b define the same ids differently (sources vs years).
    char *sets = s_dir_with (NULL, 0);
    const char *a [] = { S_SOURCES ("Q1"), S_SOURCES ("Q2"), S_SOURCES ("Q3"),
                         S_SOURCES ("Q4"), S_SOURCES ("Q5"), S_SOURCES ("Q6") };
    const char *b [] = { S_YEARS ("Q1"), S_YEARS ("Q2"), S_YEARS ("Q3"),
                         S_YEARS ("Q4"), S_YEARS ("Q5"), S_YEARS ("Q6") };
    s_write_set (sets, "a", a, 6);
    s_write_set (sets, "b", b, 6);
    const char *fallback [] = { S_WAIT ("W", "P02", 1) };
    s_cluster_t cluster = s_cluster_sets (fallback, 1, sets, NULL);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    s_add_factory (&cluster, "fac-2", NULL, NULL, NULL, NULL);
    s_wait_factories (&cluster, 2);

    //  Submitted back to back: their phases run at the same time on the
    //  same factories. a by name, b by name, a again by absolute path.
    char path_a [600];
    snprintf (path_a, sizeof path_a, "%s/a", sets);
    const char *specs [] = { "a", "b", path_a, "b", "" };
    char *runs [5];
    for (size_t i = 0; i < 5; i++)
        runs [i] = s_submit_set (cluster.client, specs [i]);
    Farfan__RunStatus *statuses [5];
    for (size_t i = 0; i < 5; i++) {
        statuses [i] = ff_test_watch (cluster.client, runs [i], S_RUN_DEADLINE_MS, NULL);
        cr_assert_eq (statuses [i]->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "run %zu (%s): %s", i,
                      specs [i], statuses [i]->error);
        cr_assert_eq (strncmp (statuses [i]->contract_set_digest, "sha256:", 7), 0);
    }
    //  Each run reports its own set; identical definitions, one digest.
    cr_assert_str_eq (statuses [0]->contract_set_digest, statuses [2]->contract_set_digest);
    cr_assert_str_eq (statuses [1]->contract_set_digest, statuses [3]->contract_set_digest);
    cr_assert_str_neq (statuses [0]->contract_set_digest, statuses [1]->contract_set_digest);
    cr_assert_str_neq (statuses [4]->contract_set_digest, statuses [0]->contract_set_digest);
    cr_assert_str_neq (statuses [4]->contract_set_digest, statuses [1]->contract_set_digest);
    //  Each result is its own set's: a counts sources, b counts years.
    char *digest_a = s_assert_results_of (cluster.client, runs [0], "fuentes", 6);
    char *digest_b = s_assert_results_of (cluster.client, runs [1], "años", 6);
    char *digest_a2 = s_assert_results_of (cluster.client, runs [2], "fuentes", 6);
    char *digest_b2 = s_assert_results_of (cluster.client, runs [3], "años", 6);
    cr_assert_str_eq (digest_a, digest_a2);
    cr_assert_str_eq (digest_b, digest_b2);
    cr_assert_str_neq (digest_a, digest_b);
    //  The default set's run ran the default set (its one contract).
    Farfan__RunResults *fallback_results = ff_test_results (cluster.client, runs [4], NULL);
    cr_assert_eq (fallback_results->n_results, 1);
    cr_assert_str_eq (fallback_results->results [0]->contract_id, "W");
    farfan__run_results__free_unpacked (fallback_results, NULL);
    //  STATUS (not only PROGRESS) names the set too.
    Farfan__RunStatus *status = ff_test_run_status (cluster.client, runs [1]);
    cr_assert_str_eq (status->contract_set_digest, statuses [1]->contract_set_digest);
    farfan__run_status__free_unpacked (status, NULL);

    free (digest_a);
    free (digest_b);
    free (digest_a2);
    free (digest_b2);
    for (size_t i = 0; i < 5; i++) {
        farfan__run_status__free_unpacked (statuses [i], NULL);
        free (runs [i]);
    }
    s_cluster_stop (&cluster);
    ff_test_remove_dir (sets);
    free (sets);
}

FF_TEST (orchestrator, a_set_that_cannot_be_used_refuses_the_submission)
{
    char *sets = s_dir_with (NULL, 0);
    const char *good [] = { S_SOURCES ("Q1") };
    const char *bad [] = { S_SOURCES ("Q1"), S_SET_MICRO ("Q2", "(unclosed", "fuentes") };
    s_write_set (sets, "good", good, 1);
    s_write_set (sets, "bad", bad, 2);
    s_write_set (sets, "empty", NULL, 0);
    char not_json [600];
    snprintf (not_json, sizeof not_json, "%s/broken", sets);
    s_write_set (sets, "broken", NULL, 0);
    snprintf (not_json, sizeof not_json, "%s/broken/c000.json", sets);
    FILE *file = fopen (not_json, "w");
    cr_assert_not_null (file);
    fputs ("{ not json", file);
    fclose (file);
    const char *fallback [] = { S_WAIT ("W", "P02", 1) };
    s_cluster_t cluster = s_cluster_sets (fallback, 1, sets, NULL);

    s_assert_set_refused (cluster.client, "nope", "cannot be read", "/nope");
    s_assert_set_refused (cluster.client, "..", "neither a name", NULL);
    s_assert_set_refused (cluster.client, ".", "neither a name", NULL);
    s_assert_set_refused (cluster.client, "good/../bad", "neither a name", NULL);
    s_assert_set_refused (cluster.client, "sets/good", "neither a name", NULL);
    s_assert_set_refused (cluster.client, "bad", "1 invalid contract definition", "c001.json");
    s_assert_set_refused (cluster.client, "bad", "regex", NULL);
    s_assert_set_refused (cluster.client, "broken", "invalid contract definition", "c000.json");
    s_assert_set_refused (cluster.client, "empty", "holds no contracts", NULL);
    s_assert_set_refused (cluster.client, "/nonexistent/farfan-set", "cannot be read", NULL);
    //  Nothing was stored: no run is listed.
    Farfan__RunList *list = s_runs (cluster.client);
    cr_assert_eq (list->n_runs, 0, "refused submissions store nothing");
    farfan__run_list__free_unpacked (list, NULL);
    //  A good one is accepted.
    free (s_submit_set (cluster.client, "good"));
    s_cluster_stop (&cluster);

    //  Without contract_sets_dir, names are refused, saying why; an
    //  absolute path still works.
    cluster = s_cluster_sets (fallback, 1, "", NULL);
    s_assert_set_refused (cluster.client, "good", "contract_sets_dir", "not configured");
    char path [600];
    snprintf (path, sizeof path, "%s/good", sets);
    free (s_submit_set (cluster.client, path));
    s_cluster_stop (&cluster);
    ff_test_remove_dir (sets);
    free (sets);
}

//  WATCHes the run (on a socket of its own) until it is in state.
static void
s_wait_state (const char *endpoint, const char *run_id, Farfan__RunState state)
{
    zsock_t *watcher = ff_test_dealer (endpoint);
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = (char *) run_id;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__WATCH, .correlation_id = "state" };
    cr_assert_eq (ff_msg_send (watcher, NULL, false, &header, &ref.base), 0);
    ff_msg_t *reply = ff_msg_new ();
    Farfan__RunState seen = FARFAN__RUN_STATE__RUN_STATE_UNSPECIFIED;
    while (seen != state) {
        cr_assert_eq (ff_msg_recv (reply, watcher), 0, "run %s never reached state %d", run_id, state);
        cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PROGRESS);
        Farfan__RunStatus *status = farfan__run_status__unpack (NULL, ff_msg_body_size (reply),
                                                                ff_msg_body_data (reply));
        cr_assert_not_null (status);
        seen = status->state;
        farfan__run_status__free_unpacked (status, NULL);
    }
    ff_msg_destroy (&reply);
    zsock_destroy (&watcher);
}

FF_TEST_OPTS (orchestrator, a_resumed_run_reloads_its_set_and_fails_when_it_changed,
              .timeout = 60)
{
    char *sets = s_dir_with (NULL, 0);
    char *data = s_dir_with (NULL, 0);
    const char *a [] = { S_SOURCES ("Q1"), S_SOURCES ("Q2") };
    const char *b [] = { S_YEARS ("Q1"), S_YEARS ("Q2") };
    s_write_set (sets, "a", a, 2);
    s_write_set (sets, "b", b, 2);
    s_write_set (sets, "c", b, 2);
    char path_c [600];
    snprintf (path_c, sizeof path_c, "%s/c", sets);
    const char *fallback [] = { S_WAIT ("W", "P02", 1) };

    //  Three runs, no factory: they wait in P02 when the orchestrator stops.
    s_cluster_t cluster = s_cluster_sets (fallback, 1, sets, data);
    char *run_a = s_submit_set (cluster.client, "a");
    char *run_b = s_submit_set (cluster.client, "b");
    char *run_c = s_submit_set (cluster.client, path_c);
    const char *endpoint = ff_test_service_endpoint (cluster.orchestrator, "client");
    s_wait_state (endpoint, run_a, FARFAN__RUN_STATE__RUN_RUNNING);
    s_wait_state (endpoint, run_b, FARFAN__RUN_STATE__RUN_RUNNING);
    s_wait_state (endpoint, run_c, FARFAN__RUN_STATE__RUN_RUNNING);
    Farfan__RunStatus *before = ff_test_run_status (cluster.client, run_a);
    char *digest_a = strdup (before->contract_set_digest);
    farfan__run_status__free_unpacked (before, NULL);
    s_cluster_stop (&cluster);

    //  While it is down: b changes (a pattern more), c disappears.
    s_write_set (sets, "b", a, 1);
    char gone [700];
    snprintf (gone, sizeof gone, "%s/c000.json", path_c);
    cr_assert_eq (unlink (gone), 0);
    snprintf (gone, sizeof gone, "%s/c001.json", path_c);
    cr_assert_eq (unlink (gone), 0);
    cr_assert_eq (rmdir (path_c), 0);

    //  Restarted on the same store: b and c fail saying why, a resumes
    //  with its own set and completes once a factory registers.
    cluster = s_cluster_sets (fallback, 1, sets, data);
    Farfan__RunStatus *status = ff_test_run_status (cluster.client, run_b);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED);
    cr_assert (strstr (status->error, "contract set") && strstr (status->error, "changed since it was submitted"),
               "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    status = ff_test_run_status (cluster.client, run_c);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED);
    cr_assert (strstr (status->error, "cannot be loaded again") && strstr (status->error, path_c),
               "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    s_add_factory (&cluster, "fac-1", NULL, NULL, NULL, NULL);
    status = ff_test_watch (cluster.client, run_a, S_RUN_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    cr_assert_str_eq (status->contract_set_digest, digest_a);
    farfan__run_status__free_unpacked (status, NULL);
    free (s_assert_results_of (cluster.client, run_a, "fuentes", 2));
    //  Nothing of b or c ran.
    Farfan__RunResults *results = ff_test_results (cluster.client, run_b, NULL);
    cr_assert_eq (results->n_results, 0);
    farfan__run_results__free_unpacked (results, NULL);
    s_cluster_stop (&cluster);

    free (digest_a);
    free (run_a);
    free (run_b);
    free (run_c);
    ff_test_remove_dir (sets);
    free (sets);
    ff_test_remove_dir (data);
    free (data);
}
