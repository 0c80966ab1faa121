/*  Crash recovery and hostile peers (issue #4, "Durability and recovery"):
    kill -9 of the orchestrator mid-run and a restart on the same data dir
    and endpoints; kill -9 of a factory mid-batch while another one is
    registered; duplicate and stray results from a fake factory; malformed
    client and worker messages the orchestrator answers or counts, and
    keeps serving after.

    Where a process must die it is a real one (build/services/farfan-*,
    spawned with ff_test_spawn, killed with SIGKILL); the rest runs
    in-process. Contracts run tests/data/recovery/record.sh, which appends
    a line per execution to a log of the test: the log says how often each
    contract really ran. Every wait is bounded: receive timeouts, or a
    condition (STATUS, /metrics) asked again until a deadline, with a
    poll-based pause between two looks; never a sleep. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "factory.pb-c.h"
#include "ff_test.h"
#include "orc_store.h"
#include "orchestrator.pb-c.h"

//  Longest any scenario waits for a condition (a run to end, a factory
//  to register...): generous for a loaded CI machine under ASan.
#define S_DEADLINE_MS 30000

static const char *s_text =
    "Diagnóstico: según el DANE (2019) y Medicina Legal (2020), la tasa de violencia "
    "aumentó en la zona rural. El dane confirma la tendencia de 2021.";

//  ---------------------------------------------------------------------
//  Waiting and small helpers

//  Waits ms on nothing (a poller over a socket nobody writes to): the
//  pause between two looks at a condition.
static void
s_pause (int ms)
{
    zsock_t *idle = zsock_new (ZMQ_PULL);
    zpoller_t *poller = zpoller_new (idle, NULL);
    zpoller_wait (poller, ms);
    zpoller_destroy (&poller);
    zsock_destroy (&idle);
}

//  A loopback TCP port nothing listens on now, for a process that must
//  bind the same port again after a restart.
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (fd >= 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (fd, (struct sockaddr *) &address, sizeof address), 0);
    socklen_t size = sizeof address;
    cr_assert_eq (getsockname (fd, (struct sockaddr *) &address, &size), 0);
    close (fd);
    return ntohs (address.sin_port);
}

//  A scratch directory (caller frees the path; ff_test_remove_dir empties it).
static char *
s_scratch (void)
{
    char *dir = strdup ("/tmp/farfan-recovery-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    return dir;
}

static void
s_write (const char *dir, const char *name, const char *text)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file, "%s: %s", path, strerror (errno));
    fputs (text, file);
    fclose (file);
}

//  The value of series on /metrics at port; NAN when absent or when the
//  page cannot be had.
static double
s_metric (int port, const char *series)
{
    int status = 0;
    char *page = ff_test_http_get (port, "/metrics", &status);
    if (!page)
        return NAN;
    double value = status == 200 ? ff_test_metric (page, series) : NAN;
    free (page);
    return value;
}

//  Asks /metrics until series is at least value or the deadline passes;
//  returns the last value seen (NAN counts as below).
static double
s_wait_metric_at_least (int port, const char *series, double value, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    double seen = s_metric (port, series);
    while (!(seen >= value) && zclock_mono () < deadline) {
        s_pause (5);
        seen = s_metric (port, series);
    }
    return seen;
}

//  The end of a test's in-process orchestrator: its client, itself, and
//  its contracts directory (the path freed).
static void
s_orchestrator_end (zsock_t **client_p, ff_test_service_t **orchestrator_p, char *contracts)
{
    zsock_destroy (client_p);
    ff_test_service_stop (orchestrator_p);
    ff_test_remove_dir (contracts);
    free (contracts);
}

//  ---------------------------------------------------------------------
//  Client requests

//  Asks STATUS until the run has at least `done` results committed (or
//  has ended); returns the last status.
static Farfan__RunStatus *
s_wait_done (zsock_t *client, const char *run_id, uint32_t done)
{
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    while (true) {
        Farfan__RunStatus *status = ff_test_run_status (client, run_id);
        if (status->done >= done || ff_test_run_final (status->state))
            return status;
        cr_assert_lt (zclock_mono (), deadline, "run %s: %u of %u done after %d ms", run_id,
                      status->done, done, S_DEADLINE_MS);
        farfan__run_status__free_unpacked (status, NULL);
        s_pause (5);
    }
}

//  The result of contract id, asserting there is exactly one.
static const Farfan__ContractResult *
s_find (const Farfan__RunResults *results, const char *id)
{
    const Farfan__ContractResult *found = ff_test_result_find (results, id);
    cr_assert_not_null (found, "no result for %s", id);
    return found;
}

static void
s_wait_factories (zsock_t *client, size_t count)
{
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    size_t registered;
    while ((registered = ff_test_factory_count (client)) < count) {
        cr_assert_lt (zclock_mono (), deadline, "%zu of %zu factories registered", registered, count);
        s_pause (5);
    }
}

typedef struct s_daemon s_daemon_t;
static const char *s_output (s_daemon_t *daemon);

//  As s_wait_factories for factory processes: their output says why when
//  one does not register.
static void
s_wait_daemons (zsock_t *client, s_daemon_t **daemons, size_t count)
{
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    size_t registered;
    while ((registered = ff_test_factory_count (client)) < count) {
        if (zclock_mono () >= deadline)
            for (size_t i = 0; i < count; i++)
                fprintf (stderr, "factory %zu output:\n%s\n", i, s_output (daemons [i]));
        cr_assert_lt (zclock_mono (), deadline, "%zu of %zu factories registered", registered, count);
        s_pause (5);
    }
}

//  The orchestrator's in-flight count for factory id (0 when not listed);
//  *listed says whether FACTORIES lists it.
static uint32_t
s_in_flight (zsock_t *client, const char *id, bool *listed)
{
    Farfan__FactoryList *list = ff_test_factories (client);
    uint32_t in_flight = 0;
    *listed = false;
    for (size_t i = 0; i < list->n_factories; i++)
        if (streq (list->factories [i]->instance_id, id)) {
            in_flight = list->factories [i]->in_flight;
            *listed = true;
        }
    farfan__factory_list__free_unpacked (list, NULL);
    return in_flight;
}

//  ---------------------------------------------------------------------
//  Contracts that leave a trace (tests/data/recovery/record.sh)

//  A P02 task that runs record.sh: one log line per execution, `ms` of
//  work, a result scored `score` (written as given).
static char *
s_recorded (const char *id, const char *log, const char *score, int ms)
{
    return zsys_sprintf (
        "{\"format\":\"farfan-contract/1\",\"id\":\"%s\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
        "\"methods\":[{\"method\":\"exec\",\"params\":{\"argv\":[\"%s/tests/data/recovery/record.sh\","
        "\"%s\",\"%s\",\"%s\",\"%d\"]}}],\"timeout_ms\":20000}",
        id, FF_TEST_SOURCE_ROOT, log, id, score, ms);
}

//  Writes `count` recorded contracts prefix00.. into dir (scores 0, 0.75,
//  1.5, 2.25 in turn) and, when aggregate, a P04 aggregation "AGG" over
//  them all with unequal weights.
static void
s_write_recorded (const char *dir, const char *log, const char *prefix, size_t count, int ms,
                  bool aggregate)
{
    static const char *scores [] = { "0", "0.75", "1.5", "2.25" };
    char *ids = strdup ("");
    char *weights = strdup ("");
    for (size_t i = 0; i < count; i++) {
        char id [32], name [48];
        snprintf (id, sizeof id, "%s%02zu", prefix, i);
        snprintf (name, sizeof name, "%s.json", id);
        char *contract = s_recorded (id, log, scores [i % 4], ms);
        s_write (dir, name, contract);
        zstr_free (&contract);
        char *more_ids = zsys_sprintf ("%s%s\"%s\"", ids, i ? "," : "", id);
        char *more_weights = zsys_sprintf ("%s%s\"%s\":%zu", weights, i ? "," : "", id, 1 + i % 3);
        zstr_free (&ids);
        zstr_free (&weights);
        ids = more_ids;
        weights = more_weights;
    }
    if (aggregate) {
        char *contract = zsys_sprintf (
            "{\"format\":\"farfan-contract/1\",\"id\":\"AGG\",\"version\":\"1\",\"type\":\"aggregation\","
            "\"applicable_phases\":[\"P04\"],\"inputs\":{\"contracts\":[%s]},"
            "\"methods\":[{\"method\":\"aggregate.weighted_mean\",\"params\":{\"weights\":{%s}}}]}",
            ids, weights);
        s_write (dir, "AGG.json", contract);
        zstr_free (&contract);
    }
    zstr_free (&ids);
    zstr_free (&weights);
}

//  Executions per contract id in the log, from line `skip` on: a hash of
//  id -> (uintptr_t) count (caller destroys). *lines gets the line count
//  (all of them) when not NULL.
static zhashx_t *
s_log_counts (const char *log, size_t skip, size_t *lines)
{
    zhashx_t *counts = zhashx_new ();
    FILE *file = fopen (log, "r");
    size_t line_number = 0;
    char line [128];
    while (file && fgets (line, sizeof line, file)) {
        line [strcspn (line, "\n")] = '\0';
        if (line_number++ < skip || !*line)
            continue;
        uintptr_t count = (uintptr_t) zhashx_lookup (counts, line);
        zhashx_update (counts, line, (void *) (count + 1));
    }
    if (file)
        fclose (file);
    if (lines)
        *lines = line_number;
    return counts;
}

static size_t
s_count_of (zhashx_t *counts, const char *id)
{
    return (size_t) (uintptr_t) zhashx_lookup (counts, id);
}

//  ---------------------------------------------------------------------
//  Real processes

struct s_daemon {
    ff_test_process_t *process;
    int http_port;                  // announced when it serves, 0 before
    char id [32];
};

//  What the process wrote so far on stdout and stderr (read now; until
//  the next call). For failure messages.
static const char *
s_output (s_daemon_t *daemon)
{
    static char text [16384];
    //  A line that never comes: reads what is there for up to 100 ms.
    ff_test_process_wait_line (daemon->process, "\x01", 100);
    snprintf (text, sizeof text, "%s%s", ff_test_process_stdout (daemon->process),
              ff_test_process_stderr (daemon->process));
    return text;
}

//  Waits for the line a daemon logs once it serves ("<service> <version>
//  instance <id>: <socket>=<endpoint>... http=<port>") and keeps its
//  HTTP port (an ephemeral one: --http-port -1).
static void
s_wait_serving (s_daemon_t *daemon)
{
    const char *line = ff_test_process_wait_line (daemon->process, " http=", S_DEADLINE_MS);
    cr_assert_not_null (line, "%s does not serve; output:\n%s", daemon->id, s_output (daemon));
    daemon->http_port = atoi (strstr (line, " http=") + strlen (" http="));
    cr_assert_gt (daemon->http_port, 0, "%s", line);
}

//  An orchestrator process on fixed loopback ports (so that a restart
//  binds the same ones), its store in data_dir.
static void
s_orchestrator_spawn (s_daemon_t *daemon, int client_port, int worker_port, const char *data_dir,
                      const char *contracts_dir)
{
    char program [512], client [64], worker [64];
    snprintf (client, sizeof client, "@tcp://127.0.0.1:%d", client_port);
    snprintf (worker, sizeof worker, "@tcp://127.0.0.1:%d", worker_port);
    daemon->http_port = 0;
    char *argv [] = {
        "farfan-orchestrator", "--client-endpoint", client, "--worker-endpoint", worker,
        "--http-address", "127.0.0.1", "--http-port", "-1", "--data-dir", (char *) data_dir,
        "--contracts-dir", (char *) contracts_dir, "--sisas-endpoint", "",
        "--instance-id", daemon->id, "--heartbeat-ms", "100", "--liveness", "5",
        "--align-timeout-ms", "5000", "--watch-interval-ms", "20", "--log-level", "info", NULL
    };
    daemon->process = ff_test_spawn (ff_test_build_path ("services/farfan-orchestrator", program,
                                                         sizeof program), argv, NULL);
}

//  A factory process registering at worker_port, once it serves; exec
//  may run the recovery programs; results never fit its 1 KiB result
//  cache. (Info level: a few lines per registration, nothing per
//  contract.)
static void
s_factory_spawn (s_daemon_t *daemon, int worker_port)
{
    char program [512], link [64], allowed [512];
    snprintf (link, sizeof link, ">tcp://127.0.0.1:%d", worker_port);
    snprintf (allowed, sizeof allowed, "%s/tests/data/recovery/", FF_TEST_SOURCE_ROOT);
    char *argv [] = {
        "farfan-factory", "--endpoint", "@tcp://127.0.0.1:*", "--orchestrator-endpoint", link,
        "--http-address", "127.0.0.1", "--http-port", "-1", "--sisas-endpoint", "",
        "--instance-id", daemon->id, "--heartbeat-ms", "100", "--reconnect-ms", "20",
        "--reconnect-max-ms", "100", "--exec-allowed", allowed, "--result-cache-bytes", "1024",
        "--max-workers", "2", "--log-level", "info", NULL
    };
    daemon->process = ff_test_spawn (ff_test_build_path ("services/farfan-factory", program,
                                                         sizeof program), argv, NULL);
    s_wait_serving (daemon);
}

//  kill -9, and the exit reaped.
static void
s_kill (s_daemon_t *daemon)
{
    ff_test_process_signal (daemon->process, SIGKILL);
    int code = ff_test_process_wait_exit (daemon->process, FF_TEST_TIMEOUT_MS);
    cr_assert_eq (code, 128 + SIGKILL, "%s exited %d, not killed; output:\n%s", daemon->id, code,
                  s_output (daemon));
    ff_test_process_destroy (&daemon->process);
}

//  SIGTERM, and a clean exit (code 0).
static void
s_stop (s_daemon_t *daemon)
{
    if (!daemon->process)
        return;
    ff_test_process_signal (daemon->process, SIGTERM);
    int code = ff_test_process_wait_exit (daemon->process, FF_TEST_TIMEOUT_MS);
    cr_assert_eq (code, 0, "%s exited %d; output:\n%s", daemon->id, code, s_output (daemon));
    ff_test_process_destroy (&daemon->process);
}

//  A client DEALER on the orchestrator's client port that answers PING
//  (the process serves).
static zsock_t *
s_client_of (int client_port, s_daemon_t *daemon)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", client_port);
    if (!daemon->http_port)
        s_wait_serving (daemon);
    zsock_t *client = ff_test_dealer (endpoint);
    ff_msg_t *pong = ff_test_call (client, FARFAN__MESSAGE_TYPE__PING, NULL, S_DEADLINE_MS);
    cr_assert_not_null (pong, "%s does not answer PING; output:\n%s", daemon->id, s_output (daemon));
    cr_assert_eq (ff_msg_type (pong), FARFAN__MESSAGE_TYPE__PONG);
    ff_msg_destroy (&pong);
    return client;
}

//  ---------------------------------------------------------------------
//  1. kill -9 of the orchestrator mid-run, restart on the same data dir

enum { S_RESUME_COUNT = 24 };

//  Asserts two runs' results are the same work: the same contract ids,
//  each once, with the same status, scores and outputs.
static void
s_assert_same_results (const Farfan__RunResults *expected, const Farfan__RunResults *actual)
{
    cr_assert_eq (actual->n_results, expected->n_results, "%zu results, expected %zu",
                  actual->n_results, expected->n_results);
    for (size_t i = 0; i < expected->n_results; i++) {
        const Farfan__ContractResult *want = expected->results [i];
        const Farfan__ContractResult *got = s_find (actual, want->contract_id);
        cr_assert_eq (got->status, want->status, "%s", want->contract_id);
        cr_assert_eq (got->score, want->score, "%s: score %g, expected %g", want->contract_id,
                      got->score, want->score);
        cr_assert_eq (got->confidence, want->confidence, "%s", want->contract_id);
        cr_assert_str_eq (got->quality, want->quality, "%s", want->contract_id);
        cr_assert_str_eq (got->output_json, want->output_json, "%s", want->contract_id);
        cr_assert_str_eq (got->contract_digest, want->contract_digest, "%s", want->contract_id);
        cr_assert_str_eq (got->error, want->error, "%s", want->contract_id);
    }
}

FF_TEST_OPTS (recovery, orchestrator_killed_mid_run_resumes_from_its_journal, .timeout = 120)
{
    char *dir = s_scratch ();
    char contracts [512], data [512], log [512];
    snprintf (contracts, sizeof contracts, "%s/contracts", dir);
    snprintf (data, sizeof data, "%s/data", dir);
    snprintf (log, sizeof log, "%s/executions.log", dir);
    cr_assert_eq (mkdir (contracts, 0700), 0);
    //  24 contracts of 150 ms in P02, their aggregation in P04 (P03 has
    //  none): 2 factories with 2 contracts in flight each take ~1 s.
    s_write_recorded (contracts, log, "R", S_RESUME_COUNT, 150, true);
    int client_port = s_free_port (), worker_port = s_free_port ();
    s_daemon_t orchestrator = { .id = "orc-recovery" };
    s_daemon_t factories [2] = { { .id = "fac-r1" }, { .id = "fac-r2" } };
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    zsock_t *client = s_client_of (client_port, &orchestrator);
    for (int f = 0; f < 2; f++)
        s_factory_spawn (&factories [f], worker_port);
    s_daemon_t *both [] = { &factories [0], &factories [1] };
    s_wait_daemons (client, both, 2);

    //  The reference: the same contracts, uninterrupted.
    char *reference_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P04", 2);
    Farfan__RunStatus *status = ff_test_watch (client, reference_id, S_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    size_t reference_lines = 0;
    zhashx_t *counts = s_log_counts (log, 0, &reference_lines);
    cr_assert_eq (reference_lines, S_RESUME_COUNT, "the reference ran each contract once");
    zhashx_destroy (&counts);

    //  The same again, killed once a quarter of it is committed.
    char *run_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P04", 2);
    status = s_wait_done (client, run_id, S_RESUME_COUNT / 4);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_RUNNING, "the run ended before the kill");
    farfan__run_status__free_unpacked (status, NULL);
    zsock_destroy (&client);
    s_kill (&orchestrator);

    //  What the journal holds at the kill: those results must never run again.
    char path [600];
    snprintf (path, sizeof path, "%s/orchestrator.db", data);
    char err [512] = "";
    orc_store_t *store = orc_store_open (path, err, sizeof err);
    cr_assert_not_null (store, "%s", err);
    zhashx_t *committed = orc_store_result_ids (store, run_id, -1);
    cr_assert_not_null (committed, "%s", orc_store_error (store));
    orc_store_run_t *record = NULL;
    cr_assert_eq (orc_store_run_get (store, run_id, &record), 1);
    cr_assert_eq (record->state, FARFAN__RUN_STATE__RUN_RUNNING);
    orc_store_run_destroy (&record);
    orc_store_close (&store);
    size_t committed_count = zhashx_size (committed);
    cr_assert_geq (committed_count, S_RESUME_COUNT / 4, "the STATUS said so before the kill");
    cr_assert_lt (committed_count, S_RESUME_COUNT, "the kill came mid-run");

    //  Restart: same data dir, same endpoints; the factories come back.
    int64_t restarted = zclock_usecs ();
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    s_wait_serving (&orchestrator);
    int64_t serving = zclock_usecs ();
    double registered = s_wait_metric_at_least (orchestrator.http_port, "farfan_factories_registered",
                                                1, S_DEADLINE_MS);
    int64_t first_registered = zclock_usecs ();
    double dispatched = s_wait_metric_at_least (orchestrator.http_port,
                                                "farfan_contracts_dispatched_total", 1, S_DEADLINE_MS);
    int64_t first_dispatch = zclock_usecs ();
    cr_assert_geq (registered, 1, "no factory registered again; output:\n%s", s_output (&orchestrator));
    cr_assert_geq (dispatched, 1, "the resumed run dispatched nothing; output:\n%s",
                   s_output (&orchestrator));
    fprintf (stderr, "recovery: orchestrator restart -> serving %.1f ms, -> first factory registered "
             "%.1f ms, -> first contract dispatched %.1f ms (%zu of %d results committed before the "
             "kill)\n", (double) (serving - restarted) / 1000.0,
             (double) (first_registered - restarted) / 1000.0,
             (double) (first_dispatch - restarted) / 1000.0, committed_count, S_RESUME_COUNT);

    client = s_client_of (client_port, &orchestrator);
    //  Resumed, not restarted: what was committed counts as done.
    status = ff_test_run_status (client, run_id);
    cr_assert_geq (status->done, committed_count);
    cr_assert_eq (status->total, S_RESUME_COUNT + 1);
    farfan__run_status__free_unpacked (status, NULL);
    status = ff_test_watch (client, run_id, S_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    cr_assert_eq (status->done, S_RESUME_COUNT + 1);
    farfan__run_status__free_unpacked (status, NULL);

    //  The final results are the uninterrupted run's: the same contract
    //  ids, each once, the same outputs (the aggregation included, whose
    //  inputs were partly read back from the journal).
    Farfan__RunResults *expected = ff_test_results (client, reference_id, NULL);
    Farfan__RunResults *actual = ff_test_results (client, run_id, NULL);
    cr_assert_eq (expected->n_results, S_RESUME_COUNT + 1);
    s_assert_same_results (expected, actual);
    bool aggregation_from_cache = s_find (actual, "AGG")->from_cache;
    farfan__run_results__free_unpacked (expected, NULL);
    farfan__run_results__free_unpacked (actual, NULL);

    //  Committed work never ran again; the rest ran at least once (more
    //  when it was in flight at the kill and dispatched again).
    counts = s_log_counts (log, reference_lines, NULL);
    for (size_t i = 0; i < S_RESUME_COUNT; i++) {
        char id [8];
        snprintf (id, sizeof id, "R%02zu", i);
        size_t runs = s_count_of (counts, id);
        if (zhashx_lookup (committed, id))
            cr_assert_eq (runs, 1, "%s was committed before the kill, yet ran %zu times", id, runs);
        else
            cr_assert_geq (runs, 1, "%s never ran", id);
    }
    zhashx_destroy (&counts);
    //  No factory answered a recorded contract from its result cache
    //  (which would have hidden a repeated dispatch from the log): the
    //  only cache hit there may be is the aggregation, whose inputs are
    //  the reference's.
    double hits = 0;
    for (int f = 0; f < 2; f++)
        hits += s_metric (factories [f].http_port, "farfan_contracts_from_cache_total");
    cr_assert_eq (hits, aggregation_from_cache ? 1 : 0, "%g cache hits", hits);

    zhashx_destroy (&committed);
    zsock_destroy (&client);
    s_stop (&orchestrator);
    for (int f = 0; f < 2; f++)
        s_stop (&factories [f]);
    free (run_id);
    free (reference_id);
    ff_test_remove_dir (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  2. kill -9 of a factory mid-batch while another one is registered

enum { S_LOST_COUNT = 16 };

FF_TEST_OPTS (recovery, factory_killed_mid_batch_has_its_contracts_dispatched_again, .timeout = 120)
{
    char *dir = s_scratch ();
    char contracts [512], log [512];
    snprintf (contracts, sizeof contracts, "%s/contracts", dir);
    snprintf (log, sizeof log, "%s/executions.log", dir);
    cr_assert_eq (mkdir (contracts, 0700), 0);
    //  16 contracts of 1 s; 4 in flight per factory: the kill comes while
    //  the first batch of the doomed factory runs.
    s_write_recorded (contracts, log, "L", S_LOST_COUNT, 1000, false);
    char data [512];
    snprintf (data, sizeof data, "%s/data", dir);
    ff_test_service_t *orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir", contracts,
        "--data-dir", data, "--heartbeat-ms", "100", "--liveness", "5", "--align-timeout-ms", "5000",
        "--watch-interval-ms", "20", NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    const char *worker = ff_test_service_endpoint (orchestrator, "worker");
    int worker_port = atoi (strrchr (worker, ':') + 1);
    zsock_t *client = ff_test_dealer (ff_test_service_endpoint (orchestrator, "client"));
    s_daemon_t keeper = { .id = "fac-keeper" };
    s_daemon_t doomed = { .id = "fac-doomed" };
    s_factory_spawn (&keeper, worker_port);
    s_factory_spawn (&doomed, worker_port);
    s_daemon_t *both [] = { &keeper, &doomed };
    s_wait_daemons (client, both, 2);

    char *run_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P02", 4);
    //  Mid-batch: the doomed factory has contracts in flight.
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    uint32_t in_flight;
    bool listed;
    while ((in_flight = s_in_flight (client, doomed.id, &listed)) == 0) {
        cr_assert_lt (zclock_mono (), deadline, "%s never got work", doomed.id);
        s_pause (5);
    }
    cr_assert_eq (s_metric (orc_port, "farfan_contracts_redispatched_total{reason=\"lost\"}"), 0);
    int64_t killed = zclock_usecs ();
    s_kill (&doomed);
    //  Given up on after heartbeat × liveness; what it had in flight goes
    //  to the factory left.
    double redispatched = s_wait_metric_at_least (orc_port,
        "farfan_contracts_redispatched_total{reason=\"lost\"}", 1, S_DEADLINE_MS);
    int64_t redispatch = zclock_usecs ();
    cr_assert_geq (redispatched, 1, "nothing dispatched again after the kill");
    cr_assert_geq (s_metric (orc_port, "farfan_factory_expirations_total"), 1,
                   "dispatched again because the factory expired");
    s_in_flight (client, doomed.id, &listed);
    cr_assert_not (listed, "%s is listed no more", doomed.id);
    fprintf (stderr, "recovery: factory kill -> its contracts dispatched again %.1f ms "
             "(heartbeat 100 ms x liveness 5; %u in flight there)\n",
             (double) (redispatch - killed) / 1000.0, in_flight);

    Farfan__RunStatus *status = ff_test_watch (client, run_id, S_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    cr_assert_eq (status->done, S_LOST_COUNT);
    farfan__run_status__free_unpacked (status, NULL);
    //  Every result exactly once, every contract ran; an execution more
    //  than one per contract only for a dispatch again (lost: nothing
    //  here fails).
    Farfan__RunResults *results = ff_test_results (client, run_id, NULL);
    cr_assert_eq (results->n_results, S_LOST_COUNT);
    size_t executions = 0;
    zhashx_t *counts = s_log_counts (log, 0, &executions);
    for (size_t i = 0; i < S_LOST_COUNT; i++) {
        char id [8];
        snprintf (id, sizeof id, "L%02zu", i);
        const Farfan__ContractResult *result = s_find (results, id);
        cr_assert_eq (result->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s: %s", id, result->error);
        cr_assert_geq (s_count_of (counts, id), 1, "%s never ran", id);
    }
    double lost = s_metric (orc_port, "farfan_contracts_redispatched_total{reason=\"lost\"}");
    cr_assert_eq (s_metric (orc_port, "farfan_contracts_dispatched_total"), S_LOST_COUNT + lost);
    cr_assert_leq ((double) executions, S_LOST_COUNT + lost, "%zu executions", executions);
    cr_assert_eq (s_metric (orc_port, "farfan_results_committed_total"), S_LOST_COUNT);
    zhashx_destroy (&counts);
    farfan__run_results__free_unpacked (results, NULL);

    free (run_id);
    zsock_destroy (&client);
    s_stop (&keeper);
    ff_test_service_stop (&orchestrator);
    ff_test_remove_dir (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  A fake factory: a DEALER in the test speaking the worker protocol

typedef struct s_fake s_fake_t;

//  Answers one EXECUTE (the request's correlation id, its decoded body).
typedef void (s_fake_execute_fn) (s_fake_t *fake, const char *correlation_id,
                                  const Farfan__Execute *execute);

struct s_fake {
    zsock_t *dealer;
    const char *id;
    s_fake_execute_fn *on_execute;
    bool sync_garbage;          // answer SYNC with a body that does not decode
    bool plan_garbage;          // answer PLAN with a body that does not decode
    size_t welcomes;            // WELCOMEs received
    size_t unknown_worker;      // UNKNOWN_WORKERs received
    size_t executes;            // EXECUTEs answered
    size_t bad_plans;           // PLANs answered with plan_garbage
    char kept [96];             // a correlation id an on_execute kept
    size_t errors;              // ERRORs received
    int64_t last_sent;          // monotonic ms, for our heartbeats
};

static void
s_fake_send_packed (s_fake_t *fake, uint32_t type, const char *correlation_id, const void *body,
                    size_t size)
{
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id, .sender_id = fake->id };
    //  Refused only while the DEALER reconnects (after an oversized
    //  message): the protocol's next heartbeat covers it.
    ff_msg_send_packed (fake->dealer, NULL, false, &header, body, size);
    fake->last_sent = zclock_mono ();
}

static void
s_fake_send (s_fake_t *fake, uint32_t type, const char *correlation_id, const ProtobufCMessage *body)
{
    size_t size = body ? protobuf_c_message_get_packed_size (body) : 0;
    uint8_t *packed = (uint8_t *) malloc (size ? size : 1);
    cr_assert_not_null (packed);
    if (body)
        protobuf_c_message_pack (body, packed);
    s_fake_send_packed (fake, type, correlation_id, packed, size);
    free (packed);
}

static void
s_fake_ready (s_fake_t *fake)
{
    Farfan__Capabilities caps = FARFAN__CAPABILITIES__INIT;
    caps.factory_id = (char *) fake->id;
    caps.version = "fake";
    caps.max_workers = 2;
    caps.health = "idle";
    Farfan__Ready ready = FARFAN__READY__INIT;
    ready.capabilities = &caps;
    ready.heartbeat_ms = 100;
    s_fake_send (fake, FARFAN__MESSAGE_TYPE__READY, "ready-fake", &ready.base);
}

static s_fake_t *
s_fake_new (const char *endpoint, const char *id, s_fake_execute_fn *on_execute)
{
    s_fake_t *fake = (s_fake_t *) zmalloc (sizeof (s_fake_t));
    fake->dealer = ff_test_dealer (endpoint);
    fake->id = id;
    fake->on_execute = on_execute;
    s_fake_ready (fake);
    return fake;
}

static void
s_fake_destroy (s_fake_t **fake_p)
{
    zsock_destroy (&(*fake_p)->dealer);
    free (*fake_p);
    *fake_p = NULL;
}

//  One RESULT of an EXECUTE: contract id at index, OK, scored.
static void
s_fake_result (s_fake_t *fake, const char *correlation_id, const char *contract_id, uint32_t index,
               double score)
{
    Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
    result.contract_id = (char *) contract_id;
    result.status = FARFAN__RESULT_STATUS__RESULT_OK;
    result.score = score;
    result.index = index;
    result.output_json = "{\"fake\":true}";
    result.executed_by = "inline";
    s_fake_send (fake, FARFAN__MESSAGE_TYPE__RESULT, correlation_id, &result.base);
}

static void
s_fake_batch_done (s_fake_t *fake, const char *correlation_id, uint32_t total)
{
    Farfan__BatchDone done = FARFAN__BATCH_DONE__INIT;
    done.total = total;
    done.ok = total;
    done.strategy = "inline";
    s_fake_send (fake, FARFAN__MESSAGE_TYPE__BATCH_DONE, correlation_id, &done.base);
}

//  Answers what the orchestrator sends, as a factory would.
static void
s_fake_handle (s_fake_t *fake, const ff_msg_t *msg)
{
    const char *cid = ff_msg_correlation_id (msg);
    switch (ff_msg_type (msg)) {
        case FARFAN__MESSAGE_TYPE__WELCOME:
            fake->welcomes++;
            break;
        case FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER:
            fake->unknown_worker++;
            s_fake_ready (fake);
            break;
        case FARFAN__MESSAGE_TYPE__ERROR:
            fake->errors++;
            break;
        case FARFAN__MESSAGE_TYPE__SYNC: {
            if (fake->sync_garbage) {
                s_fake_send_packed (fake, FARFAN__MESSAGE_TYPE__SYNC_REPLY, cid, "\xff\xff\xff", 3);
                break;
            }
            Farfan__SyncReply reply = FARFAN__SYNC_REPLY__INIT;
            reply.success = true;
            reply.in_flight_cap = 8;
            reply.batch_size = 8;
            s_fake_send (fake, FARFAN__MESSAGE_TYPE__SYNC_REPLY, cid, &reply.base);
            break;
        }
        case FARFAN__MESSAGE_TYPE__PLAN: {
            if (fake->plan_garbage) {
                fake->bad_plans++;
                s_fake_send_packed (fake, FARFAN__MESSAGE_TYPE__PLAN_REPLY, cid, "\xff\xff\xff", 3);
                break;
            }
            Farfan__ExecutionPlan plan = FARFAN__EXECUTION_PLAN__INIT;
            plan.strategy = "inline";
            s_fake_send (fake, FARFAN__MESSAGE_TYPE__PLAN_REPLY, cid, &plan.base);
            break;
        }
        case FARFAN__MESSAGE_TYPE__PUT_DOCUMENT: {
            Farfan__DocumentStored stored = FARFAN__DOCUMENT_STORED__INIT;
            stored.digest = "sha256:fake";
            s_fake_send (fake, FARFAN__MESSAGE_TYPE__DOCUMENT_STORED, cid, &stored.base);
            break;
        }
        case FARFAN__MESSAGE_TYPE__EXECUTE: {
            Farfan__Execute *execute = farfan__execute__unpack (NULL, ff_msg_body_size (msg),
                                                                ff_msg_body_data (msg));
            cr_assert_not_null (execute);
            fake->executes++;
            fake->on_execute (fake, cid, execute);
            farfan__execute__free_unpacked (execute, NULL);
            break;
        }
        default:
            break;          //  HEARTBEAT, RESTORE, SNAPSHOT...: nothing to say
    }
}

//  Serves the orchestrator as the fake factory until run_id ends
//  (WATCHed on client); returns its last status.
static Farfan__RunStatus *
s_fake_serve (s_fake_t *fake, zsock_t *client, const char *run_id)
{
    ff_test_watch_send (client, run_id);
    zpoller_t *poller = zpoller_new (fake->dealer, client, NULL);
    ff_msg_t *msg = ff_msg_new ();
    Farfan__RunStatus *status = NULL;
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    while (!status || !ff_test_run_final (status->state)) {
        cr_assert_lt (zclock_mono (), deadline, "run %s has not ended after %d ms", run_id,
                      S_DEADLINE_MS);
        //  Heard every 50 ms at least: never expired while it serves.
        if (zclock_mono () - fake->last_sent >= 50)
            s_fake_send (fake, FARFAN__MESSAGE_TYPE__HEARTBEAT, NULL, NULL);
        void *which = zpoller_wait (poller, 50);
        if (which == fake->dealer) {
            if (ff_msg_recv (msg, fake->dealer) == 0)
                s_fake_handle (fake, msg);
        }
        else
        if (which == client) {
            cr_assert_eq (ff_msg_recv (msg, client), 0);
            ff_test_progress_take (msg, &status);
        }
    }
    ff_msg_destroy (&msg);
    zpoller_destroy (&poller);
    return status;
}

//  Serves the orchestrator as the fake factory for ms.
static void
s_fake_pump (s_fake_t *fake, int ms)
{
    zpoller_t *poller = zpoller_new (fake->dealer, NULL);
    ff_msg_t *msg = ff_msg_new ();
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until) {
        if (zclock_mono () - fake->last_sent >= 50)
            s_fake_send (fake, FARFAN__MESSAGE_TYPE__HEARTBEAT, NULL, NULL);
        if (zpoller_wait (poller, 10) && ff_msg_recv (msg, fake->dealer) == 0)
            s_fake_handle (fake, msg);
    }
    ff_msg_destroy (&msg);
    zpoller_destroy (&poller);
}

//  Task contracts the fake runs: D0, D1... (no document).
static char *
s_fake_contracts (size_t count)
{
    char *dir = s_scratch ();
    for (size_t i = 0; i < count; i++) {
        char name [32], *contract = zsys_sprintf (
            "{\"format\":\"farfan-contract/1\",\"id\":\"D%zu\",\"version\":\"1\",\"type\":\"task\","
            "\"applicable_phases\":[\"P02\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":1}}]}",
            i);
        snprintf (name, sizeof name, "D%zu.json", i);
        s_write (dir, name, contract);
        zstr_free (&contract);
    }
    return dir;
}

//  ---------------------------------------------------------------------
//  3. Duplicate and stray results

//  Every result twice, a result for a contract the batch does not hold,
//  BATCH_DONE, then one more after it and one under a made-up id.
static void
s_execute_with_duplicates (s_fake_t *fake, const char *correlation_id, const Farfan__Execute *execute)
{
    for (size_t i = 0; i < execute->n_contract_ids; i++) {
        s_fake_result (fake, correlation_id, execute->contract_ids [i], (uint32_t) i, 1.5);
        s_fake_result (fake, correlation_id, execute->contract_ids [i], (uint32_t) i, 0.25);
    }
    s_fake_result (fake, correlation_id, "NEVER_DISPATCHED", 0, 3);
    s_fake_batch_done (fake, correlation_id, (uint32_t) execute->n_contract_ids);
    s_fake_result (fake, correlation_id, execute->contract_ids [0], 0, 0.5);
    s_fake_result (fake, "made-up-correlation-id", execute->contract_ids [0], 0, 0.5);
}

FF_TEST (recovery, duplicate_and_stray_results_are_counted_and_stored_once)
{
    char *contracts = s_fake_contracts (3);
    ff_test_service_t *orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir", contracts,
        "--align-timeout-ms", "5000", "--watch-interval-ms", "20", NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    zsock_t *client = ff_test_dealer (ff_test_service_endpoint (orchestrator, "client"));
    s_fake_t *fake = s_fake_new (ff_test_service_endpoint (orchestrator, "worker"), "fac-fake",
                                 s_execute_with_duplicates);
    s_wait_factories (client, 1);
    char *run_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = s_fake_serve (fake, client, run_id);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    cr_assert_eq (status->done, 3);
    farfan__run_status__free_unpacked (status, NULL);
    cr_assert_eq (fake->executes, 1, "one batch of the three");

    //  Each contract's result once: the first that came.
    Farfan__RunResults *results = ff_test_results (client, run_id, NULL);
    cr_assert_eq (results->n_results, 3);
    for (size_t i = 0; i < 3; i++) {
        char id [8];
        snprintf (id, sizeof id, "D%zu", i);
        cr_assert_eq (s_find (results, id)->score, 1.5, "%s: the first result is the one kept", id);
    }
    farfan__run_results__free_unpacked (results, NULL);

    //  Counted: the three second copies as duplicates; the stray result,
    //  the one after BATCH_DONE and the made-up one as replies to nothing
    //  the orchestrator asked.
    cr_assert_eq (s_metric (orc_port, "farfan_results_committed_total"), 3);
    cr_assert_eq (s_metric (orc_port, "farfan_results_duplicate_total"), 3);
    cr_assert_eq (s_metric (orc_port, "farfan_worker_replies_unknown_total"), 3);
    cr_assert_eq (fake->errors, 0, "results are replies: never answered");

    //  The fake is still registered and the orchestrator serves.
    cr_assert_eq (ff_test_factory_count (client), 1);
    ff_test_assert_pings (client);
    s_fake_destroy (&fake);
    free (run_id);
    s_orchestrator_end (&client, &orchestrator, contracts);
}

//  ---------------------------------------------------------------------
//  4. Malformed client and worker messages

//  Sends type with a body that is not protobuf; expects ERROR code whose
//  message contains `why`.
static void
s_expect_error (zsock_t *dealer, uint32_t type, const void *body, size_t size, uint32_t code,
                const char *why)
{
    ff_msg_header_t header = { .type = type, .correlation_id = "bad", .sender_id = "test" };
    cr_assert_eq (ff_msg_send_packed (dealer, NULL, false, &header, body, size), 0);
    ff_msg_t *reply = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (reply, dealer), 0, "no answer to a bad %s", ff_msg_type_name (type));
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR, "a bad %s answered %s",
                  ff_msg_type_name (type), ff_msg_type_name (ff_msg_type (reply)));
    cr_assert_eq (ff_msg_status_code (reply), code, "a bad %s: %s: %s", ff_msg_type_name (type),
                  ff_msg_code_name (ff_msg_status_code (reply)), ff_msg_status_message (reply));
    cr_assert (strstr (ff_msg_status_message (reply), why), "a bad %s: \"%s\" lacks \"%s\"",
               ff_msg_type_name (type), ff_msg_status_message (reply), why);
    cr_assert_str_eq (ff_msg_correlation_id (reply), "bad");
    ff_msg_destroy (&reply);
}

//  As s_expect_error with a decodable body.
static void
s_expect_refused (zsock_t *dealer, uint32_t type, const ProtobufCMessage *body, uint32_t code,
                  const char *why)
{
    size_t size = protobuf_c_message_get_packed_size (body);
    uint8_t *packed = (uint8_t *) malloc (size ? size : 1);
    protobuf_c_message_pack (body, packed);
    s_expect_error (dealer, type, packed, size, code, why);
    free (packed);
}

FF_TEST (recovery, malformed_client_requests_get_errors_and_runs_go_on)
{
    const char *contract =
        "{\"format\":\"farfan-contract/1\",\"id\":\"W\",\"version\":\"1\",\"type\":\"task\","
        "\"applicable_phases\":[\"P02\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":1}}]}";
    char *contracts = s_scratch ();
    s_write (contracts, "W.json", contract);
    ff_test_service_t *orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir", contracts,
        "--max-msg-size", "65536", "--heartbeat-ms", "100", "--watch-interval-ms", "20", NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    const char *endpoint = ff_test_service_endpoint (orchestrator, "client");
    zsock_t *client = ff_test_dealer (endpoint);

    //  Every client request whose body does not decode: MALFORMED, naming
    //  the message it should have been. (SUBMIT: test_orchestrator.c.)
    static const struct { uint32_t type; const char *body; } bodies [] = {
        { FARFAN__MESSAGE_TYPE__STATUS, "RunRef" },
        { FARFAN__MESSAGE_TYPE__WATCH, "RunRef" },
        { FARFAN__MESSAGE_TYPE__RESULTS, "ResultsRequest" },
        { FARFAN__MESSAGE_TYPE__REPORT, "ReportRequest" },
        { FARFAN__MESSAGE_TYPE__CANCEL, "RunRef" },
        { FARFAN__MESSAGE_TYPE__LIST, "ListRequest" },
        { FARFAN__MESSAGE_TYPE__FACTORIES, "FactoriesRequest" },
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies [0]; i++)
        s_expect_error (client, bodies [i].type, "\x0a\xff", 2, FARFAN__ERROR_CODE__MALFORMED,
                        bodies [i].body);

    //  Worker messages on the client socket, and a type nobody knows.
    s_expect_error (client, FARFAN__MESSAGE_TYPE__READY, NULL, 0, FARFAN__ERROR_CODE__UNSUPPORTED, "READY");
    s_expect_error (client, FARFAN__MESSAGE_TYPE__EXECUTE, NULL, 0, FARFAN__ERROR_CODE__UNSUPPORTED,
                    "EXECUTE");
    s_expect_error (client, 299, NULL, 0, FARFAN__ERROR_CODE__UNSUPPORTED, "299");

    //  Bodies that decode, with values the orchestrator cannot take.
    Farfan__RunRef unknown = FARFAN__RUN_REF__INIT;
    unknown.run_id = "run-nope";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__WATCH, &unknown.base, FARFAN__ERROR_CODE__NOT_FOUND,
                      "run-nope");
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__CANCEL, &unknown.base, FARFAN__ERROR_CODE__NOT_FOUND,
                      "run-nope");
    Farfan__ResultsRequest results_request = FARFAN__RESULTS_REQUEST__INIT;
    results_request.run_id = "run-nope";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__RESULTS, &results_request.base,
                      FARFAN__ERROR_CODE__NOT_FOUND, "run-nope");
    Farfan__ReportRequest report_request = FARFAN__REPORT_REQUEST__INIT;
    report_request.run_id = "run-nope";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__REPORT, &report_request.base,
                      FARFAN__ERROR_CODE__NOT_FOUND, "run-nope");
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) s_text;
    submit.document.len = strlen (s_text);
    submit.deadline_s = -1;
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base,
                      FARFAN__ERROR_CODE__INVALID_ARGUMENT, "deadline_s");
    submit.deadline_s = NAN;
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base,
                      FARFAN__ERROR_CODE__INVALID_ARGUMENT, "deadline_s");
    submit.deadline_s = 0;
    submit.params_json = "[1, 2]";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base,
                      FARFAN__ERROR_CODE__INVALID_ARGUMENT, "params_json");
    submit.params_json = "{\"unterminated\": ";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base,
                      FARFAN__ERROR_CODE__INVALID_ARGUMENT, "params_json");
    submit.params_json = "";
    submit.first_phase = "P10";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base,
                      FARFAN__ERROR_CODE__INVALID_ARGUMENT, "phase range");

    //  An ERROR sent to the client socket is a reply: never answered,
    //  counted. (The PING that follows is what comes back.)
    ff_msg_header_t error = { .type = FARFAN__MESSAGE_TYPE__ERROR, .correlation_id = "e1",
                              .status_code = FARFAN__ERROR_CODE__INTERNAL, .status_message = "x" };
    cr_assert_eq (ff_msg_send (client, NULL, false, &error, NULL), 0);
    ff_test_assert_pings (client);
    cr_assert_eq (s_metric (orc_port, "farfan_requests_ignored_total{socket=\"client\"}"), 1);

    //  A SUBMIT over max_msg_size: libzmq drops the connection before the
    //  orchestrator sees it; no run starts.
    zsock_t *big = ff_test_dealer (endpoint);
    zsock_set_rcvtimeo (big, 300);
    size_t big_size = 100000;
    char *big_text = (char *) malloc (big_size);
    memset (big_text, 'a', big_size);
    Farfan__SubmitRun oversized = FARFAN__SUBMIT_RUN__INIT;
    oversized.document.data = (uint8_t *) big_text;
    oversized.document.len = big_size;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__SUBMIT, .correlation_id = "big" };
    cr_assert_eq (ff_msg_send (big, NULL, false, &header, &oversized.base), 0);
    zmsg_t *nothing = zmsg_recv (big);
    cr_assert_null (nothing, "an oversized SUBMIT must not be processed");
    free (big_text);
    zsock_destroy (&big);

    //  The orchestrator serves on: nothing was submitted by all that, and
    //  a run with a factory goes through.
    Farfan__ListRequest list_request = FARFAN__LIST_REQUEST__INIT;
    ff_msg_t *reply = ff_test_call_ok (client, FARFAN__MESSAGE_TYPE__LIST, &list_request.base,
                                       FARFAN__MESSAGE_TYPE__RUN_LIST);
    Farfan__RunList *list = farfan__run_list__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_not_null (list);
    cr_assert_eq (list->n_runs, 0);
    farfan__run_list__free_unpacked (list, NULL);
    ff_msg_destroy (&reply);
    char link [128];
    snprintf (link, sizeof link, ">%s", ff_test_service_endpoint (orchestrator, "worker"));
    ff_test_service_t *factory = ff_test_service_start ("factory", "--orchestrator-endpoint", link,
        "--instance-id", "fac-1", "--heartbeat-ms", "100", NULL);
    s_wait_factories (client, 1);
    char *run_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = ff_test_watch (client, run_id, S_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    //  Values the run's requests refuse, now that it exists.
    results_request.run_id = run_id;
    results_request.phase = "P10";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__RESULTS, &results_request.base,
                      FARFAN__ERROR_CODE__INVALID_ARGUMENT, "P10");
    report_request.run_id = run_id;
    report_request.format = "pdf";
    s_expect_refused (client, FARFAN__MESSAGE_TYPE__REPORT, &report_request.base,
                      FARFAN__ERROR_CODE__INVALID_ARGUMENT, "pdf");
    ff_test_assert_pings (client);
    free (run_id);
    ff_test_service_stop (&factory);
    s_orchestrator_end (&client, &orchestrator, contracts);
}

//  First EXECUTE: the first result does not decode, the rest are fine.
//  Second: the first result is over max_msg_size (libzmq drops the
//  connection). Then: every result, as a factory would.
static void
s_execute_badly (s_fake_t *fake, const char *correlation_id, const Farfan__Execute *execute)
{
    size_t first = 0;
    if (fake->executes == 1) {
        s_fake_send_packed (fake, FARFAN__MESSAGE_TYPE__RESULT, correlation_id, "\x0a\xff\xff", 3);
        first = 1;
    }
    else
    if (fake->executes == 2) {
        char *padding = (char *) malloc (100000);
        memset (padding, 'e', 99999);
        padding [99999] = '\0';
        Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
        result.contract_id = execute->contract_ids [0];
        result.status = FARFAN__RESULT_STATUS__RESULT_OK;
        result.error = padding;
        s_fake_send (fake, FARFAN__MESSAGE_TYPE__RESULT, correlation_id, &result.base);
        free (padding);
        return;             //  the connection is gone: nothing more of this batch
    }
    for (size_t i = first; i < execute->n_contract_ids; i++)
        s_fake_result (fake, correlation_id, execute->contract_ids [i], (uint32_t) i, 2);
    s_fake_batch_done (fake, correlation_id, (uint32_t) execute->n_contract_ids);
}

FF_TEST (recovery, malformed_worker_replies_are_counted_and_runs_go_on)
{
    char *contracts = s_fake_contracts (3);
    ff_test_service_t *orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir", contracts,
        "--max-msg-size", "65536", "--heartbeat-ms", "100", "--align-timeout-ms", "5000",
        "--watch-interval-ms", "20", NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    zsock_t *client = ff_test_dealer (ff_test_service_endpoint (orchestrator, "client"));
    s_fake_t *fake = s_fake_new (ff_test_service_endpoint (orchestrator, "worker"), "fac-bad",
                                 s_execute_badly);
    s_wait_factories (client, 1);

    //  A message type the worker socket does not know, from a registered
    //  factory: UNSUPPORTED, and it stays registered.
    s_fake_send (fake, 4242, "odd", NULL);
    ff_msg_t *reply = ff_msg_new ();
    while (true) {
        cr_assert_eq (ff_msg_recv (reply, fake->dealer), 0, "no answer to type 4242");
        if (ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__ERROR)
            break;
        s_fake_handle (fake, reply);        //  its WELCOME, heartbeats
    }
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__UNSUPPORTED, "%s",
                  ff_msg_status_message (reply));
    cr_assert (strstr (ff_msg_status_message (reply), "4242"), "%s", ff_msg_status_message (reply));
    ff_msg_destroy (&reply);

    //  A SYNC answer that does not decode: the factory is left out of the
    //  phase, saying why, and with no other factory the run fails.
    fake->sync_garbage = true;
    char *run_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P02", 0);
    Farfan__RunStatus *status = s_fake_serve (fake, client, run_id);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED);
    cr_assert (strstr (status->error, "no factory can run"), "%s", status->error);
    bool said = false;
    for (size_t i = 0; i < status->n_conflicts; i++)
        said |= streq (status->conflicts [i]->factory, "fac-bad")
             && strstr (status->conflicts [i]->detail, "SYNC reply does not decode");
    cr_assert (said, "the status says which factory and why");
    farfan__run_status__free_unpacked (status, NULL);
    free (run_id);

    //  A PLAN answer that does not decode (plans are advice: the phase
    //  starts without one); a RESULT that does not decode (its contract
    //  goes back to the queue when the batch ends); a RESULT over
    //  max_msg_size (the connection is dropped: the factory is told it is
    //  unknown, registers again, gets the work again). The run succeeds,
    //  every result once.
    fake->sync_garbage = false;
    fake->plan_garbage = true;
    run_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P02", 0);
    status = s_fake_serve (fake, client, run_id);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    cr_assert_geq (fake->executes, 3);
    cr_assert_geq (fake->unknown_worker, 1, "told it was unknown after the drop");
    cr_assert_geq (fake->welcomes, 2, "registered again");
    Farfan__RunResults *results = ff_test_results (client, run_id, NULL);
    cr_assert_eq (results->n_results, 3);
    for (size_t i = 0; i < 3; i++) {
        char id [8];
        snprintf (id, sizeof id, "D%zu", i);
        cr_assert_eq (s_find (results, id)->status, FARFAN__RESULT_STATUS__RESULT_OK);
    }
    farfan__run_results__free_unpacked (results, NULL);
    //  Every undecodable answer is counted: the SYNC, the PLANs (one per
    //  registration), the RESULT.
    cr_assert_geq (fake->bad_plans, 2);
    cr_assert_eq (s_metric (orc_port, "farfan_worker_replies_malformed_total"), 2 + fake->bad_plans);
    cr_assert_geq (s_metric (orc_port, "farfan_contracts_redispatched_total{reason=\"lost\"}"), 2);
    cr_assert_eq (s_metric (orc_port, "farfan_results_committed_total"), 3);
    ff_test_assert_pings (client);
    s_fake_destroy (&fake);
    free (run_id);
    s_orchestrator_end (&client, &orchestrator, contracts);
}

//  ---------------------------------------------------------------------
//  3b. A reply to the orchestrator that was killed never answers the one
//  that replaced it

//  Before the kill: the first contract only; the batch's correlation id
//  is kept (the rest stays in flight).
static void
s_execute_first_only (s_fake_t *fake, const char *correlation_id, const Farfan__Execute *execute)
{
    snprintf (fake->kept, sizeof fake->kept, "%s", correlation_id);
    s_fake_result (fake, correlation_id, execute->contract_ids [0], 0, 1);
}

//  After the restart: first a late result of the killed orchestrator's
//  batch, then the real answers.
static void
s_execute_after_a_stale_one (s_fake_t *fake, const char *correlation_id, const Farfan__Execute *execute)
{
    Farfan__ContractResult stale = FARFAN__CONTRACT_RESULT__INIT;
    stale.contract_id = execute->contract_ids [0];
    stale.status = FARFAN__RESULT_STATUS__RESULT_OK;
    stale.score = 0.125;
    stale.output_json = "{\"stale\":true}";
    s_fake_send (fake, FARFAN__MESSAGE_TYPE__RESULT, fake->kept, &stale.base);
    for (size_t i = 0; i < execute->n_contract_ids; i++)
        s_fake_result (fake, correlation_id, execute->contract_ids [i], (uint32_t) i, 2);
    s_fake_batch_done (fake, correlation_id, (uint32_t) execute->n_contract_ids);
}

FF_TEST_OPTS (recovery, late_replies_to_a_killed_orchestrator_do_not_answer_its_successor, .timeout = 120)
{
    char *dir = s_scratch ();
    char *contracts = s_fake_contracts (3);
    char data [512];
    snprintf (data, sizeof data, "%s/data", dir);
    int client_port = s_free_port (), worker_port = s_free_port ();
    s_daemon_t orchestrator = { .id = "orc-same-id" };
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    zsock_t *client = s_client_of (client_port, &orchestrator);
    char worker [64];
    snprintf (worker, sizeof worker, "tcp://127.0.0.1:%d", worker_port);
    s_fake_t *fake = s_fake_new (worker, "fac-fake", s_execute_first_only);
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    while (ff_test_factory_count (client) < 1) {
        cr_assert_lt (zclock_mono (), deadline, "the fake did not register");
        s_fake_pump (fake, 10);
    }
    //  One result committed, two in flight when the orchestrator dies.
    char *run_id = ff_test_submit (client, "recovery plan", s_text, "P02", "P02", 0);
    uint32_t done = 0;
    while (done < 1) {
        cr_assert_lt (zclock_mono (), deadline, "no result committed");
        s_fake_pump (fake, 10);
        Farfan__RunStatus *status = ff_test_run_status (client, run_id);
        done = status->done;
        farfan__run_status__free_unpacked (status, NULL);
    }
    cr_assert_eq (fake->executes, 1);
    cr_assert (*fake->kept);
    zsock_destroy (&client);
    s_kill (&orchestrator);

    //  The same instance id, data dir and endpoints: the successor
    //  resumes the run and dispatches what is left; the fake answers with
    //  a late result of the killed one's batch first.
    fake->on_execute = s_execute_after_a_stale_one;
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    client = s_client_of (client_port, &orchestrator);
    Farfan__RunStatus *status = s_fake_serve (fake, client, run_id);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    cr_assert_eq (fake->executes, 2);
    cr_assert_geq (fake->unknown_worker, 1, "the successor did not know the fake at first");
    Farfan__RunResults *results = ff_test_results (client, run_id, NULL);
    cr_assert_eq (results->n_results, 3);
    cr_assert_eq (s_find (results, "D0")->score, 1, "committed before the kill");
    for (size_t i = 1; i < 3; i++) {
        char id [8];
        snprintf (id, sizeof id, "D%zu", i);
        const Farfan__ContractResult *result = s_find (results, id);
        cr_assert_eq (result->score, 2, "%s: %g, %s: a reply to the killed orchestrator was taken",
                      id, result->score, result->output_json);
    }
    farfan__run_results__free_unpacked (results, NULL);
    cr_assert_eq (s_metric (orchestrator.http_port, "farfan_worker_replies_unknown_total"), 1);

    s_fake_destroy (&fake);
    free (run_id);
    zsock_destroy (&client);
    s_stop (&orchestrator);
    ff_test_remove_dir (contracts);
    free (contracts);
    ff_test_remove_dir (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  A SUBMIT resent across an orchestrator restart (found by the chaos
//  test, tests/chaos/): the first attempt started a run, the orchestrator
//  died before the client heard SUBMITTED, the client resent the same
//  request (same sender id, same correlation id) to its successor. That
//  must answer with the run the first attempt started, which resumes with
//  its document, rather than start a second run of the same submission.

//  SUBMITs document over P02..P04 as sender / correlation_id (a resend
//  keeps both) and returns the SUBMITTED run id (caller frees).
static char *
s_submit_as (zsock_t *client, const char *sender, const char *correlation_id,
             const char *document)
{
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) document;
    submit.document.len = strlen (document);
    submit.name = "resent plan";
    submit.first_phase = "P02";
    submit.last_phase = "P04";
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__SUBMIT,
                               .correlation_id = correlation_id, .sender_id = sender };
    cr_assert_eq (ff_msg_send (client, NULL, false, &header, &submit.base), 0);
    zpoller_t *poller = zpoller_new (client, NULL);
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    ff_msg_t *reply = ff_msg_new ();
    bool answered = false;
    while (!answered && zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ())))
            break;
        answered = ff_msg_recv (reply, client) == 0
                && streq (ff_msg_correlation_id (reply), correlation_id);
    }
    zpoller_destroy (&poller);
    cr_assert (answered, "no answer to SUBMIT %s", correlation_id);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SUBMITTED, "SUBMIT answered %s: %s",
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    Farfan__Submitted *submitted = farfan__submitted__unpack (NULL, ff_msg_body_size (reply),
                                                              ff_msg_body_data (reply));
    cr_assert_not_null (submitted);
    char *run_id = strdup (submitted->run_id);
    farfan__submitted__free_unpacked (submitted, NULL);
    ff_msg_destroy (&reply);
    return run_id;
}

FF_TEST_OPTS (recovery, a_submit_resent_after_a_restart_is_answered_with_the_run_it_started,
              .timeout = 120)
{
    char *dir = s_scratch ();
    char contracts [512], data [512], log [512];
    snprintf (contracts, sizeof contracts, "%s/contracts", dir);
    snprintf (data, sizeof data, "%s/data", dir);
    snprintf (log, sizeof log, "%s/executions.log", dir);
    cr_assert_eq (mkdir (contracts, 0700), 0);
    s_write_recorded (contracts, log, "S", 4, 10, true);
    int client_port = s_free_port (), worker_port = s_free_port ();
    s_daemon_t orchestrator = { .id = "orc-resend" };
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    zsock_t *client = s_client_of (client_port, &orchestrator);

    //  No factory yet: the run waits for one. The client "does not hear"
    //  the answer: the orchestrator is killed right after it.
    char *run_id = s_submit_as (client, "chaos-client", "submit-1", s_text);
    zsock_destroy (&client);
    s_kill (&orchestrator);

    //  SUBMITTED came once the run and its document were in the store.
    char path [600];
    snprintf (path, sizeof path, "%s/orchestrator.db", data);
    char err [512] = "";
    orc_store_t *store = orc_store_open (path, err, sizeof err);
    cr_assert_not_null (store, "%s", err);
    orc_store_run_t *record = NULL;
    cr_assert_eq (orc_store_run_get (store, run_id, &record), 1, "%s", orc_store_error (store));
    cr_assert_str_eq (record->submission_key, "chaos-client\x1f" "submit-1");
    uint8_t *text = NULL;
    size_t size = 0;
    cr_assert_eq (orc_store_document_get (store, record->document_digest, &text, &size), 1,
                  "the run's document (%s) is not in the store", record->document_digest);
    cr_assert_eq (size, strlen (s_text));
    free (text);
    orc_store_run_destroy (&record);
    orc_store_close (&store);

    //  The successor answers the resend with the same run, not a new one.
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    client = s_client_of (client_port, &orchestrator);
    char *again = s_submit_as (client, "chaos-client", "submit-1", s_text);
    cr_assert_str_eq (again, run_id, "the resent SUBMIT started run %s instead of answering %s",
                      again, run_id);
    double repeated = s_wait_metric_at_least (orchestrator.http_port,
                                              "farfan_submissions_repeated_total", 1, S_DEADLINE_MS);
    cr_assert_eq (repeated, 1, "farfan_submissions_repeated_total %g", repeated);
    //  A new correlation id is a new submission; another sender's same
    //  correlation id too.
    char *second = s_submit_as (client, "chaos-client", "submit-2", s_text);
    char *other = s_submit_as (client, "another-client", "submit-1", s_text);
    cr_assert_str_neq (second, run_id);
    cr_assert_str_neq (other, run_id);
    cr_assert_str_neq (other, second);

    //  The resumed run goes on with its document once a factory comes.
    s_daemon_t factory = { .id = "fac-resend" };
    s_factory_spawn (&factory, worker_port);
    s_daemon_t *one [] = { &factory };
    s_wait_daemons (client, one, 1);
    const char *runs [] = { run_id, second, other };
    for (size_t i = 0; i < 3; i++) {
        //  STATUS, not WATCH: three runs aligning at once keep a watch
        //  silent for up to the alignment timeout.
        Farfan__RunStatus *status = s_wait_done (client, runs [i], UINT32_MAX);
        cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s: %s", runs [i],
                      status->error);
        farfan__run_status__free_unpacked (status, NULL);
    }
    Farfan__RunList *list = (Farfan__RunList *) ff_test_call_decoded (
        client, FARFAN__MESSAGE_TYPE__LIST, NULL, FARFAN__MESSAGE_TYPE__RUN_LIST,
        &farfan__run_list__descriptor);
    cr_assert_eq (list->n_runs, 3, "%zu runs: a resend started one more", list->n_runs);
    farfan__run_list__free_unpacked (list, NULL);

    zsock_destroy (&client);
    s_stop (&orchestrator);
    s_stop (&factory);
    free (other);
    free (second);
    free (again);
    free (run_id);
    ff_test_remove_dir (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  The disk fills up under a run (found by the disk test, tests/chaos/):
//  the run fails, saying so, but the store refuses the failure too. It
//  must not show as RUNNING (the store's last word) to anyone who asks
//  after, and its end must reach the store once there is room, so that a
//  restart does not resume a run its clients were told had failed.

//  Fills the file system of dir (a file "filler" until ENOSPC).
static void
s_fill (const char *dir)
{
    char path [600];
    snprintf (path, sizeof path, "%s/filler", dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file, "%s: %s", path, strerror (errno));
    setvbuf (file, NULL, _IONBF, 0);
    static char block [4096];
    while (fwrite (block, 1, sizeof block, file) == sizeof block)
        ;
    while (fwrite (block, 1, 1, file) == 1)
        ;
    fclose (file);
}

//  The tmpfs of the test, unmounted by the fini even when it fails.
static char s_disk [512];

static void
s_unmount_disk (void)
{
    if (*s_disk)
        umount2 (s_disk, MNT_DETACH);
    *s_disk = '\0';
}

FF_TEST_OPTS (recovery, a_run_failed_by_a_full_disk_stays_failed, .timeout = 120,
              .fini = s_unmount_disk)
{
    char *dir = s_scratch ();
    char contracts [512], disk [512], data [600], log [512], filler [600];
    snprintf (contracts, sizeof contracts, "%s/contracts", dir);
    snprintf (disk, sizeof disk, "%s/disk", dir);
    snprintf (data, sizeof data, "%s/data", disk);
    snprintf (log, sizeof log, "%s/executions.log", dir);
    snprintf (filler, sizeof filler, "%s/filler", disk);
    cr_assert_eq (mkdir (contracts, 0700), 0);
    cr_assert_eq (mkdir (disk, 0700), 0);
    if (mount ("tmpfs", disk, "tmpfs", 0, "size=4m,mode=0700") != 0) {
        int error = errno;
        ff_test_remove_dir (dir);
        free (dir);
        cr_skip_test ("cannot mount a tmpfs (%s): needs root or CAP_SYS_ADMIN", strerror (error));
    }
    snprintf (s_disk, sizeof s_disk, "%s", disk);
    s_write_recorded (contracts, log, "F", 8, 10, true);
    int client_port = s_free_port (), worker_port = s_free_port ();
    s_daemon_t orchestrator = { .id = "orc-full" };
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    zsock_t *client = s_client_of (client_port, &orchestrator);

    //  Submitted with room (no factory yet: it waits), then the disk fills
    //  up; the first results the factory brings cannot be committed.
    char *run_id = ff_test_submit (client, "full disk", s_text, "P02", "P04", 2);
    s_fill (disk);
    s_daemon_t factory = { .id = "fac-full" };
    s_factory_spawn (&factory, worker_port);
    Farfan__RunStatus *status = ff_test_watch (client, run_id, S_DEADLINE_MS, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED, "%d: %s", status->state,
                  status->error);
    cr_assert_not_null (strstr (status->error, "database or disk is full"), "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    //  Asked again (from the store now, which could not take the end).
    status = ff_test_run_status (client, run_id);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED,
                  "the run failed, yet STATUS says %d", status->state);
    cr_assert_not_null (strstr (status->error, "database or disk is full"), "%s", status->error);
    cr_assert_gt (status->ended_at_us, 0);
    for (size_t p = 0; p < status->n_phases; p++)
        cr_assert_neq (status->phases [p]->state, FARFAN__PHASE_STATE__PHASE_RUNNING,
                       "phase %s still running", status->phases [p]->phase);
    farfan__run_status__free_unpacked (status, NULL);
    Farfan__RunList *list = (Farfan__RunList *) ff_test_call_decoded (
        client, FARFAN__MESSAGE_TYPE__LIST, NULL, FARFAN__MESSAGE_TYPE__RUN_LIST,
        &farfan__run_list__descriptor);
    cr_assert_eq (list->n_runs, 1);
    cr_assert_eq (list->runs [0]->state, FARFAN__RUN_STATE__RUN_FAILED);
    farfan__run_list__free_unpacked (list, NULL);

    //  Room again: the end reaches the store without a restart...
    cr_assert_eq (unlink (filler), 0);
    int64_t deadline = zclock_mono () + S_DEADLINE_MS;
    while (!strstr (s_output (&orchestrator), "its end is recorded now")) {
        cr_assert_lt (zclock_mono (), deadline, "the end was never recorded; output:\n%s",
                      s_output (&orchestrator));
        s_pause (50);
    }
    //  ...so that a crash and a restart leave the run failed.
    zsock_destroy (&client);
    s_kill (&orchestrator);
    char path [700];
    snprintf (path, sizeof path, "%s/orchestrator.db", data);
    char err [512] = "";
    orc_store_t *store = orc_store_open (path, err, sizeof err);
    cr_assert_not_null (store, "%s", err);
    orc_store_run_t *record = NULL;
    cr_assert_eq (orc_store_run_get (store, run_id, &record), 1, "%s", orc_store_error (store));
    cr_assert_eq (record->state, FARFAN__RUN_STATE__RUN_FAILED, "the store says %d", record->state);
    cr_assert_not_null (strstr (record->error, "database or disk is full"), "%s", record->error);
    orc_store_run_destroy (&record);
    orc_store_phase_t phases [ORC_STORE_PHASES];
    int count = orc_store_phase_list (store, run_id, phases);
    for (int p = 0; p < count; p++)
        cr_assert_neq (phases [p].state, FARFAN__PHASE_STATE__PHASE_RUNNING,
                       "the store has phase %u still running", phases [p].phase);
    orc_store_close (&store);
    s_orchestrator_spawn (&orchestrator, client_port, worker_port, data, contracts);
    client = s_client_of (client_port, &orchestrator);
    status = ff_test_run_status (client, run_id);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_FAILED, "resumed after the restart");
    farfan__run_status__free_unpacked (status, NULL);

    zsock_destroy (&client);
    s_stop (&orchestrator);
    s_stop (&factory);
    free (run_id);
    cr_assert_eq (umount2 (disk, MNT_DETACH), 0, "umount %s: %s", disk, strerror (errno));
    *s_disk = '\0';
    ff_test_remove_dir (dir);
    free (dir);
}
