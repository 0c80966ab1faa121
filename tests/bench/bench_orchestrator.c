/*  bench_orchestrator — the orchestrator's benchmarks (issue #4), each
    against a baseline measured in this same run:

    1. wait:     N contracts of io.wait 1000 ms through the orchestrator with
                 one factory (max_workers 8): wall time from SUBMIT to the
                 run's final PROGRESS; target <= 1.25 s (said met or not).
                 Baselines: the same N contracts sent straight to a factory
                 of the same size (direct API, one EXECUTE), and the ideal
                 1 s (every wait at once; arithmetic).
    2. noop:     10,000 core.noop contracts per run through the orchestrator
                 to 2 factories and back, one run per round: contracts/s
                 (target >= 50,000/s, said met or not) against raw libzmq's
                 2-hop path (client -> relay -> echo -> relay -> client)
                 pipelined with the same window: the in-flight caps the
                 factories agreed in SYNC, summed; rounds interleaved. Where
                 the wall goes: SUBMIT -> the phase RUNNING (alignment:
                 SYNC, PLAN, scheduling) and RUNNING -> final PROGRESS; CPU
                 time of this process (client, orchestrator, factories) per
                 contract against the raw path's CPU time per round trip
                 (CPU time does not grow when a neighbour loads the machine).
       rtt:      runs of one no-op contract, SUBMIT to the run's final
                 PROGRESS: p50/p95/p99 against raw libzmq 2-hop round trips,
                 interleaved round by round.
    3. recovery: real processes (the build's services/farfan-orchestrator and
                 farfan-factory, fork/exec) on fixed free loopback ports,
                 heartbeat 1000 ms (the default; 250 ms below scale 0.1, to
                 keep the smoke run short) and liveness 3 (the default), on
                 io.wait contracts of staggered lengths (so a run is always
                 mid-way at the kill):
                 (a) kill -9 of the orchestrator mid-run and a restart on the
                 same data dir: the restart (just before fork) -> the
                 resumed run's first dispatched contract (the first
                 /metrics page of the new process, polled every ms, with
                 farfan_contracts_dispatched_total >= 1); target < 1 s,
                 next to the heartbeat interval (a factory notices the new
                 orchestrator at its next beat);
                 (b) kill -9 of a factory with contracts in flight (another
                 factory registered): the kill -> their re-dispatch
                 (farfan_contracts_redispatched_total{reason="lost"} >= 1),
                 next to the configured expiry heartbeat_ms x liveness.
                 Both check that the run then ends with every result once.

    Parts 1 and 2 run the orchestrator and factories in this process (their
    actors), SISAS off, on ephemeral loopback ports.

    Usage: bench_orchestrator [--scale X] [--output PATH] [--format tsv|jsonl]
                              [--timeout MS] [--rounds N]
    FF_BENCH_ORC_ONLY=wait|noop|rtt|recovery runs one part.
    FF_BENCH_ORC_WORKERS=N: max_workers of the noop/rtt factories (default
    4, the factory's default).
    FF_BENCH_ORC_LOG=info|debug: the in-process services' log level
    (default error), on stderr with ms timestamps.
*/
#include "ff_bench.h"
#include "ff_bench_zmq.h"
#include "bench_support.h"

#include "fac_server.h"
#include "factory.pb-c.h"
#include "ff_config.h"
#include "ff_log.h"
#include "ff_msg.h"
#include "orc_server.h"
#include "orchestrator.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_WAIT_CONTRACTS    300     //  part 1, at scale 1
#define S_WAIT_MS           1000
#define S_WAIT_WORKERS      "8"
#define S_WAIT_TARGET_S     1.25
#define S_NOOP_CONTRACTS    10000   //  part 2, per run at scale 1
#define S_NOOP_TARGET       50000   //  contracts/s
#define S_RTT_RUNS          400     //  part 2, single-contract runs at scale 1
#define S_RECOVERY_TRIALS   3       //  part 3, each scenario, at scale 1
#define S_RECOVERY_WORKERS  "2"
#define S_RESTART_TARGET_MS 1000
#define S_HEARTBEAT_MS      1000    //  the default, said explicitly
#define S_HEARTBEAT_SMOKE   250     //  below scale 0.1
#define S_LIVENESS          3       //  the default
#define S_FACTORIES_MAX     2
#define S_ARGS_MAX          40
#define S_THREADS_MAX       256
#define S_HTTP_TIMEOUT_MS   2000

//  A small text document: runs need one, no-op and waiting contracts
//  do not read it.
static const char *s_document = "Plan de desarrollo municipal: documento de prueba del benchmark.";

//  ---------------------------------------------------------------------
//  Contract sets

//  io.wait lengths of a set: contract i waits base_ms + i x step_ms.
typedef struct {
    int base_ms;
    int step_ms;
} s_wait_t;

//  Writes dir/set.json: `count` contracts of phase P02 named PREFIX_nnnnn,
//  each running io.wait as `wait` says, or core.noop when wait is NULL.
//  Returns 0, -1 on an I/O error.
static int
s_write_set (const char *dir, const char *prefix, size_t count, const s_wait_t *wait)
{
    char path [512];
    snprintf (path, sizeof path, "%s/set.json", dir);
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    fputs ("{\"format\":\"farfan-contract-set/1\",\"contracts\":[", file);
    for (size_t i = 0; i < count; i++) {
        fprintf (file, "%s{\"id\":\"%s_%05zu\",\"version\":\"1\",\"type\":\"task\","
                 "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":false},",
                 i ? "," : "", prefix, i);
        if (wait)
            fprintf (file, "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":%zu}}],",
                     (size_t) wait->base_ms + i * (size_t) wait->step_ms);
        else
            fputs ("\"methods\":[{\"method\":\"core.noop\"}],", file);
        fputs ("\"timeout_ms\":30000}", file);
    }
    fputs ("]}", file);
    return fclose (file) == 0 ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  HTTP /metrics (the services' own counters)

//  Polls series on port (1 ms pacing) until it is >= threshold; returns
//  ff_bench_now_ns () of the first page that showed it, 0 at the deadline
//  (zclock_mono ms).
static uint64_t
s_await_metric (int port, const char *series, double threshold, int64_t deadline)
{
    while (zclock_mono () < deadline) {
        double value = ff_bench_metric_get (port, series, S_HTTP_TIMEOUT_MS);
        uint64_t seen = ff_bench_now_ns ();
        if (value >= threshold)
            return seen;
        zclock_sleep (1);           //  re-ask pacing
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The client side of the orchestrator's API

static uint64_t s_sequence = 0;

//  Sends a request; its correlation id goes to cid. Returns 0, -1 when the
//  socket refused it.
static int
s_send (zsock_t *sock, uint32_t type, const ProtobufCMessage *body, char *cid, size_t cid_size)
{
    snprintf (cid, cid_size, "bench-%llu", (unsigned long long) ++s_sequence);
    ff_msg_header_t header = { .type = type, .correlation_id = cid, .sender_id = "bench" };
    return ff_msg_send (sock, NULL, false, &header, body);
}

//  Receives the next message carrying cid (others are late answers to
//  abandoned requests: dropped) until deadline (zclock_mono ms). Returns
//  0, -1 at the deadline.
static int
s_recv (zsock_t *sock, ff_msg_t *reply, const char *cid, int64_t deadline)
{
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return -1;
        zsock_set_rcvtimeo (sock, (int) (left > INT32_MAX ? INT32_MAX : left));
        int rc = ff_msg_recv (reply, sock);
        if (rc == -1)
            return -1;
        if (rc == 0 && streq (ff_msg_correlation_id (reply), cid))
            return 0;
    }
}

//  One request and its reply of type `expected`; the body decoded with
//  `descriptor`. Returns the body (free with protobuf_c_message_free_unpacked),
//  or NULL with the reason in err.
static ProtobufCMessage *
s_call (zsock_t *sock, uint32_t type, const ProtobufCMessage *body, uint32_t expected,
        const ProtobufCMessageDescriptor *descriptor, int timeout_ms, char *err, size_t err_size)
{
    char cid [32];
    if (s_send (sock, type, body, cid, sizeof cid) != 0) {
        snprintf (err, err_size, "%s not sent: %s", ff_msg_type_name (type), strerror (errno));
        return NULL;
    }
    ff_msg_t *reply = ff_msg_new ();
    ProtobufCMessage *decoded = NULL;
    if (s_recv (sock, reply, cid, zclock_mono () + timeout_ms) != 0)
        snprintf (err, err_size, "no answer to %s within %d ms", ff_msg_type_name (type), timeout_ms);
    else
    if (ff_msg_type (reply) != expected)
        snprintf (err, err_size, "%s answered %s: %s", ff_msg_type_name (type),
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    else
    if (!(decoded = protobuf_c_message_unpack (descriptor, NULL, ff_msg_body_size (reply),
                                               ff_msg_body_data (reply))))
        snprintf (err, err_size, "%s: the answer does not decode", ff_msg_type_name (type));
    ff_msg_destroy (&reply);
    return decoded;
}

static zsock_t *
s_dealer (const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_sndhwm (sock, 100000);
    zsock_set_rcvhwm (sock, 100000);
    zsock_set_linger (sock, 0);
    if (zsock_connect (sock, "%s", endpoint) != 0)
        zsock_destroy (&sock);
    return sock;
}

//  The registered factories (FACTORIES), or NULL with the reason in err.
static Farfan__FactoryList *
s_factories (zsock_t *client, int timeout_ms, char *err, size_t err_size)
{
    Farfan__FactoriesRequest request = FARFAN__FACTORIES_REQUEST__INIT;
    return (Farfan__FactoryList *) s_call (client, FARFAN__MESSAGE_TYPE__FACTORIES, &request.base,
                                           FARFAN__MESSAGE_TYPE__FACTORY_LIST,
                                           &farfan__factory_list__descriptor, timeout_ms, err, err_size);
}

//  Waits until the orchestrator lists `count` factories. Returns 0, or -1
//  with the reason in err at the deadline.
static int
s_await_factories (zsock_t *client, size_t count, int64_t deadline, char *err, size_t err_size)
{
    size_t registered = 0;
    while (zclock_mono () < deadline) {
        Farfan__FactoryList *list = s_factories (client, (int) (deadline - zclock_mono () + 1),
                                                 err, err_size);
        if (!list)
            return -1;
        registered = list->n_factories;
        farfan__factory_list__free_unpacked (list, NULL);
        if (registered >= count)
            return 0;
        zclock_sleep (5);           //  re-ask pacing (registration is asynchronous)
    }
    snprintf (err, err_size, "%zu of %zu factories registered in time", registered, count);
    return -1;
}

//  The in-flight caps agreed with every factory, summed.
static uint32_t
s_caps (zsock_t *client, int timeout_ms, char *err, size_t err_size)
{
    Farfan__FactoryList *list = s_factories (client, timeout_ms, err, err_size);
    uint32_t caps = 0;
    for (size_t i = 0; list && i < list->n_factories; i++)
        caps += list->factories [i]->in_flight_cap;
    if (list)
        farfan__factory_list__free_unpacked (list, NULL);
    return caps;
}

//  SUBMITs a run of phase P02 (params: a JSON object text or ""). Returns
//  its id (caller frees), or NULL with the reason in err.
static char *
s_submit (zsock_t *client, const char *params, int timeout_ms, char *err, size_t err_size)
{
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) s_document;
    submit.document.len = strlen (s_document);
    submit.media_type = "text/plain";
    submit.name = "bench";
    submit.first_phase = "P02";
    submit.last_phase = "P02";
    submit.params_json = (char *) params;
    Farfan__Submitted *submitted = (Farfan__Submitted *) s_call (client, FARFAN__MESSAGE_TYPE__SUBMIT,
        &submit.base, FARFAN__MESSAGE_TYPE__SUBMITTED, &farfan__submitted__descriptor, timeout_ms,
        err, err_size);
    if (!submitted)
        return NULL;
    char *run_id = strdup (submitted->run_id);
    farfan__submitted__free_unpacked (submitted, NULL);
    return run_id;
}

static bool
s_final (Farfan__RunState state)
{
    return state == FARFAN__RUN_STATE__RUN_SUCCEEDED || state == FARFAN__RUN_STATE__RUN_FAILED
        || state == FARFAN__RUN_STATE__RUN_CANCELLED;
}

//  True when status shows a phase running or done (alignment is over).
static bool
s_running (const Farfan__RunStatus *status)
{
    for (size_t i = 0; i < status->n_phases; i++)
        if (status->phases [i]->state == FARFAN__PHASE_STATE__PHASE_RUNNING
        ||  status->phases [i]->done > 0)
            return true;
    return s_final (status->state);
}

//  WATCHes run_id until its final PROGRESS, at most until deadline
//  (zclock_mono ms). Returns that status (free with
//  farfan__run_status__free_unpacked), or NULL with the reason in err.
//  *running_at (optional) gets ff_bench_now_ns () at the first PROGRESS
//  that showed a phase running (the orchestrator forces one when
//  alignment ends).
static Farfan__RunStatus *
s_watch (zsock_t *client, const char *run_id, int64_t deadline, uint64_t *running_at,
         char *err, size_t err_size)
{
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = (char *) run_id;
    char cid [32];
    if (s_send (client, FARFAN__MESSAGE_TYPE__WATCH, &ref.base, cid, sizeof cid) != 0) {
        snprintf (err, err_size, "WATCH not sent: %s", strerror (errno));
        return NULL;
    }
    ff_msg_t *reply = ff_msg_new ();
    Farfan__RunStatus *status = NULL;
    if (running_at)
        *running_at = 0;
    while (true) {
        if (s_recv (client, reply, cid, deadline) != 0) {
            snprintf (err, err_size, "run %s did not end in time (last state %d, %u of %u done)",
                      run_id, status ? (int) status->state : 0, status ? status->done : 0,
                      status ? status->total : 0);
            break;
        }
        if (ff_msg_type (reply) != FARFAN__MESSAGE_TYPE__PROGRESS) {
            snprintf (err, err_size, "WATCH answered %s: %s", ff_msg_type_name (ff_msg_type (reply)),
                      ff_msg_status_message (reply));
            break;
        }
        if (status)
            farfan__run_status__free_unpacked (status, NULL);
        status = farfan__run_status__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
        if (!status) {
            snprintf (err, err_size, "a PROGRESS does not decode");
            break;
        }
        if (running_at && !*running_at && s_running (status))
            *running_at = ff_bench_now_ns ();
        if (s_final (status->state)) {
            ff_msg_destroy (&reply);
            return status;
        }
    }
    if (status)
        farfan__run_status__free_unpacked (status, NULL);
    ff_msg_destroy (&reply);
    return NULL;
}

//  One run from SUBMIT to its final PROGRESS, which must say SUCCEEDED
//  with `expected` contracts done. Returns the wall time in ns (from
//  before the SUBMIT is sent to the final PROGRESS received), or 0 with
//  the reason in err. *align_ns (optional) gets the part of it up to the
//  first PROGRESS that showed the phase running.
static uint64_t
s_run (zsock_t *client, const char *params, size_t expected, int64_t deadline, int timeout_ms,
       uint64_t *align_ns, char *err, size_t err_size)
{
    uint64_t started = ff_bench_now_ns ();
    char *run_id = s_submit (client, params, timeout_ms, err, err_size);
    if (!run_id)
        return 0;
    uint64_t running_at = 0;
    Farfan__RunStatus *status = s_watch (client, run_id, deadline, &running_at, err, err_size);
    uint64_t wall = ff_bench_now_ns () - started;
    if (align_ns)
        *align_ns = running_at ? running_at - started : 0;
    if (!status)
        wall = 0;
    else
    if (status->state != FARFAN__RUN_STATE__RUN_SUCCEEDED || status->done != expected) {
        snprintf (err, err_size, "run %s ended in state %d with %u of %zu contracts done: %s",
                  run_id, (int) status->state, status->done, expected, status->error);
        wall = 0;
    }
    if (status)
        farfan__run_status__free_unpacked (status, NULL);
    free (run_id);
    return wall;
}

//  ---------------------------------------------------------------------
//  Services in this process (their actors, as the daemons run them)

typedef struct {
    zactor_t *actor;
    const ff_config_schema_t *schema;
    void *config;
} s_service_t;

//  Starts a service from command-line settings (argv [0] is a name).
//  Returns 0, or -1 with the reason in err.
static int
s_service_start (s_service_t *service, bool orchestrator, int argc, char **argv, char *err,
                 size_t err_size)
{
    memset (service, 0, sizeof *service);
    const ff_daemon_t *daemon = orchestrator ? &orc_daemon : &fac_daemon;
    service->schema = daemon->schema;
    service->config = zmalloc (daemon->config_size);
    char why [400] = "";
    void *server = NULL;
    if (ff_config_load (service->schema, service->config, argc, argv, stdout, why, sizeof why)
        == FF_CONFIG_LOADED)
        server = daemon->server_new (service->config, why, sizeof why);
    if (!server) {
        snprintf (err, err_size, "%s: %s", service->schema->service, why);
        ff_config_free (service->schema, service->config);
        free (service->config);
        service->config = NULL;
        return -1;
    }
    service->actor = zactor_new (daemon->actor, server);
    return 0;
}

static void
s_service_stop (s_service_t *service)
{
    zactor_destroy (&service->actor);
    if (service->config) {
        ff_config_free (service->schema, service->config);
        free (service->config);
        service->config = NULL;
    }
}

//  Asks the service's actor (ENDPOINT name / HTTP_PORT); caller frees.
static char *
s_service_ask (s_service_t *service, const char *command, const char *arg)
{
    if (arg)
        zstr_sendx (service->actor, command, arg, NULL);
    else
        zstr_sendx (service->actor, command, NULL);
    return zstr_recv (service->actor);
}

//  A factory in this process; orchestrator_endpoint "" = standalone.
static int
s_factory_start (s_service_t *factory, const char *contracts_dir, const char *workers,
                 const char *instance_id, const char *orchestrator_endpoint, char *err,
                 size_t err_size)
{
    char *argv [] = { "bench-factory", "--endpoint", "@tcp://127.0.0.1:*",
                      "--orchestrator-endpoint", (char *) orchestrator_endpoint,
                      "--sisas-endpoint", "", "--http-address", "127.0.0.1", "--http-port", "-1",
                      "--contracts-dir", (char *) contracts_dir, "--max-workers", (char *) workers,
                      "--instance-id", (char *) instance_id, "--log-level", "error" };
    return s_service_start (factory, false, (int) (sizeof argv / sizeof argv [0]), argv, err, err_size);
}

//  An orchestrator, its factories and a client, all in this process.
typedef struct {
    char *data_dir;
    s_service_t orchestrator;
    s_service_t factories [S_FACTORIES_MAX];
    size_t factory_count;
    int http_port;                  //  the orchestrator's
    int factory_ports [S_FACTORIES_MAX];
    zsock_t *client;
    //  The threads each side started (its actor, HTTP server, the
    //  factories' worker pools), for CPU time per component.
    pid_t orchestrator_threads [S_THREADS_MAX];
    size_t orchestrator_thread_count;
    pid_t factory_threads [S_THREADS_MAX];
    size_t factory_thread_count;
} s_cluster_t;

//  Appends to `out` the threads running now that are not in `known`
//  (those started since `known` was listed), then lists every thread into
//  `known`. Returns how many were appended.
static size_t
s_threads_started (pid_t *known, size_t *known_count, pid_t *out, size_t *out_count)
{
    pid_t now [S_THREADS_MAX];
    int count = ff_bench_threads (now, S_THREADS_MAX);
    size_t added = 0;
    for (int i = 0; i < count; i++) {
        bool seen = false;
        for (size_t k = 0; k < *known_count && !seen; k++)
            seen = known [k] == now [i];
        if (!seen && *out_count < S_THREADS_MAX) {
            out [(*out_count)++] = now [i];
            added++;
        }
    }
    memcpy (known, now, (size_t) (count > 0 ? count : 0) * sizeof (pid_t));
    *known_count = count > 0 ? (size_t) count : 0;
    return added;
}

static void
s_cluster_stop (s_cluster_t *cluster)
{
    zsock_destroy (&cluster->client);
    for (size_t i = 0; i < cluster->factory_count; i++)
        s_service_stop (&cluster->factories [i]);
    s_service_stop (&cluster->orchestrator);
    ff_bench_dir_destroy (&cluster->data_dir);
    memset (cluster, 0, sizeof *cluster);
}

//  Starts the orchestrator on contracts_dir, `factories` factories of
//  `workers` workers linked to it, a client, and waits until every factory
//  registered. Returns 0, or -1 (reported; nothing left running).
static int
s_cluster_start (ff_bench_t *bench, s_cluster_t *cluster, const char *what,
                 const char *contracts_dir, size_t factories, const char *workers)
{
    memset (cluster, 0, sizeof *cluster);
    char err [512] = "";
    cluster->data_dir = ff_bench_dir_new ("orc");
    if (!cluster->data_dir) {
        ff_bench_fail (bench, "%s: no scratch directory: %s", what, strerror (errno));
        return -1;
    }
    //  libzmq starts its I/O thread with the process' first socket: start
    //  it now, so that the threads listed below are the services' own.
    zsock_t *probe = zsock_new (ZMQ_PAIR);
    zsock_destroy (&probe);
    pid_t known [S_THREADS_MAX];
    int listed = ff_bench_threads (known, S_THREADS_MAX);
    size_t known_count = listed > 0 ? (size_t) listed : 0;
    char *argv [] = { "bench-orchestrator", "--client-endpoint", "@tcp://127.0.0.1:*",
                      "--worker-endpoint", "@tcp://127.0.0.1:*", "--sisas-endpoint", "",
                      "--http-address", "127.0.0.1", "--http-port", "-1",
                      "--data-dir", cluster->data_dir, "--contracts-dir", (char *) contracts_dir,
                      "--log-level", "error" };
    if (s_service_start (&cluster->orchestrator, true, (int) (sizeof argv / sizeof argv [0]), argv,
                         err, sizeof err) != 0) {
        ff_bench_fail (bench, "%s: %s", what, err);
        s_cluster_stop (cluster);
        return -1;
    }
    char *client = s_service_ask (&cluster->orchestrator, "ENDPOINT", "client");
    char *worker = s_service_ask (&cluster->orchestrator, "ENDPOINT", "worker");
    char *port = s_service_ask (&cluster->orchestrator, "HTTP_PORT", NULL);
    cluster->http_port = port ? atoi (port) : 0;
    s_threads_started (known, &known_count, cluster->orchestrator_threads,
                       &cluster->orchestrator_thread_count);
    char link [160];
    snprintf (link, sizeof link, ">%s", worker ? worker : "");
    int rc = client && worker ? 0 : -1;
    if (rc)
        snprintf (err, sizeof err, "the orchestrator names no client/worker endpoint");
    for (size_t i = 0; rc == 0 && i < factories && i < S_FACTORIES_MAX; i++) {
        char id [32];
        snprintf (id, sizeof id, "bench-fac-%zu", i + 1);
        rc = s_factory_start (&cluster->factories [i], contracts_dir, workers, id, link,
                              err, sizeof err);
        if (rc == 0) {
            cluster->factory_count++;
            char *factory_port = s_service_ask (&cluster->factories [i], "HTTP_PORT", NULL);
            cluster->factory_ports [i] = factory_port ? atoi (factory_port) : 0;
            zstr_free (&factory_port);
            s_threads_started (known, &known_count, cluster->factory_threads,
                               &cluster->factory_thread_count);
        }
    }
    if (rc == 0 && !(cluster->client = s_dealer (client))) {
        snprintf (err, sizeof err, "cannot connect a client to %s", client);
        rc = -1;
    }
    if (rc == 0)
        rc = s_await_factories (cluster->client, factories, zclock_mono () + 10000, err, sizeof err);
    zstr_free (&client);
    zstr_free (&worker);
    zstr_free (&port);
    if (rc) {
        ff_bench_fail (bench, "%s: %s", what, err);
        s_cluster_stop (cluster);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  1. Waiting contracts

//  Sends one EXECUTE of `count` contracts (result cache off) on a factory's
//  direct API and waits for its BATCH_DONE. Returns the wall time in ns, 0
//  with the reason in err; *ok gets the OK results.
static uint64_t
s_execute (zsock_t *dealer, char **ids, size_t count, int64_t deadline, uint32_t *ok,
           char *err, size_t err_size)
{
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = count;
    execute.input_digest = "";
    execute.no_cache = true;
    uint64_t started = ff_bench_now_ns ();
    char cid [32];
    if (s_send (dealer, FARFAN__MESSAGE_TYPE__EXECUTE, &execute.base, cid, sizeof cid) != 0) {
        snprintf (err, err_size, "EXECUTE not sent");
        return 0;
    }
    ff_msg_t *reply = ff_msg_new ();
    uint64_t wall = 0;
    *ok = 0;
    while (true) {
        if (s_recv (dealer, reply, cid, deadline) != 0) {
            snprintf (err, err_size, "no BATCH_DONE in time");
            break;
        }
        uint32_t type = ff_msg_type (reply);
        if (type == FARFAN__MESSAGE_TYPE__RESULT)
            continue;
        if (type != FARFAN__MESSAGE_TYPE__BATCH_DONE) {
            snprintf (err, err_size, "EXECUTE answered %s: %s", ff_msg_type_name (type),
                      ff_msg_status_message (reply));
            break;
        }
        wall = ff_bench_now_ns () - started;
        Farfan__BatchDone *done = farfan__batch_done__unpack (NULL, ff_msg_body_size (reply),
                                                              ff_msg_body_data (reply));
        if (done) {
            *ok = done->ok;
            farfan__batch_done__free_unpacked (done, NULL);
        }
        break;
    }
    ff_msg_destroy (&reply);
    return wall;
}

static void
s_bench_wait (ff_bench_t *bench, size_t count)
{
    s_wait_t wait = { S_WAIT_MS, 0 };
    char *dir = ff_bench_dir_new ("orc");
    if (!dir || s_write_set (dir, "WAIT", count, &wait) != 0) {
        ff_bench_fail (bench, "wait: cannot write the contracts");
        ff_bench_dir_destroy (&dir);
        return;
    }
    //  Each run is bounded: 10 s plus the time the waits take 4 at a time.
    int64_t bound_ms = 10000 + (int64_t) count * S_WAIT_MS / 4;
    char err [512] = "";
    ff_bench_recordf (bench, "ideal.wait", S_WAIT_MS / 1000.0, "s", NULL,
                      "every wait at once: arithmetic, not measured");

    //  Baseline: the same contracts straight to a factory of the same size.
    s_service_t factory;
    if (s_factory_start (&factory, dir, S_WAIT_WORKERS, "bench-direct", "", err, sizeof err) == 0) {
        char *endpoint = s_service_ask (&factory, "ENDPOINT", "direct");
        zsock_t *dealer = endpoint ? s_dealer (endpoint) : NULL;
        char **ids = ff_bench_ids_new ("WAIT", count, 5);
        uint32_t ok = 0;
        uint64_t wall = dealer && ids ? s_execute (dealer, ids, count, zclock_mono () + bound_ms,
                                                   &ok, err, sizeof err) : 0;
        if (wall && ok == count)
            ff_bench_recordf (bench, "factory.direct.wait", (double) wall / 1e9, "s", "ideal.wait",
                              "%zu x io.wait %d ms in one EXECUTE on the factory's direct API, "
                              "max_workers %s", count, S_WAIT_MS, S_WAIT_WORKERS);
        else
            ff_bench_fail (bench, "wait: direct baseline: %s (%u of %zu ok)",
                           wall ? "results missing" : err, ok, count);
        ff_bench_ids_destroy (ids, count);
        zsock_destroy (&dealer);
        zstr_free (&endpoint);
        s_service_stop (&factory);
    }
    else
        ff_bench_fail (bench, "wait: direct baseline: %s", err);

    //  Through the orchestrator: a fresh cluster, one factory.
    s_cluster_t cluster;
    if (s_cluster_start (bench, &cluster, "wait", dir, 1, S_WAIT_WORKERS) == 0) {
        int timeout_ms = ff_bench_timeout_ms (bench);
        uint64_t wall = s_run (cluster.client, "", count, zclock_mono () + bound_ms, timeout_ms,
                               NULL, err, sizeof err);
        uint32_t cap = s_caps (cluster.client, timeout_ms, err, sizeof err);
        if (wall) {
            double seconds = (double) wall / 1e9;
            const char *verdict = seconds <= S_WAIT_TARGET_S ? "met" : "MISSED";
            ff_bench_recordf (bench, "orc.wait", seconds, "s", "factory.direct.wait",
                              "%zu x io.wait %d ms, SUBMIT -> final PROGRESS, 1 factory "
                              "max_workers %s, in-flight cap agreed in SYNC %u", count, S_WAIT_MS,
                              S_WAIT_WORKERS, cap);
            ff_bench_recordf (bench, "orc.wait.vs_ideal", seconds, "s", "ideal.wait",
                              "the same run; target <= %.2f s: %s", S_WAIT_TARGET_S, verdict);
            printf ("target: orc.wait %.3f s, target <= %.2f s: %s\n", seconds, S_WAIT_TARGET_S,
                    verdict);
        }
        else
            ff_bench_fail (bench, "wait: %s", err);
        s_cluster_stop (&cluster);
    }
    ff_bench_dir_destroy (&dir);
}

//  ---------------------------------------------------------------------
//  2. No-op contracts: throughput, and single-contract round trips

//  The orchestrator's own accounting of a stretch of work, from /metrics.
typedef struct {
    double commit_seconds;          //  farfan_commit_duration_seconds_sum
    double commits;                 //  _count: group commits
    double committed;               //  farfan_results_committed_total
    double dispatched;              //  farfan_contracts_dispatched_total
    double executes;                //  the factories' EXECUTE requests
} s_accounting_t;

static int
s_accounting (s_cluster_t *cluster, s_accounting_t *accounting)
{
    accounting->executes = 0;
    for (size_t i = 0; i < cluster->factory_count; i++) {
        char *page = ff_bench_http_get (cluster->factory_ports [i], "/metrics", S_HTTP_TIMEOUT_MS);
        if (!page)
            return -1;
        accounting->executes += ff_bench_metric_sum (page, "farfan_requests_total", "type=\"EXECUTE\"");
        free (page);
    }
    char *page = ff_bench_http_get (cluster->http_port, "/metrics", S_HTTP_TIMEOUT_MS);
    if (!page)
        return -1;
    accounting->commit_seconds = ff_bench_metric (page, "farfan_commit_duration_seconds_sum");
    accounting->commits = ff_bench_metric (page, "farfan_commit_duration_seconds_count");
    accounting->committed = ff_bench_metric (page, "farfan_results_committed_total");
    accounting->dispatched = ff_bench_metric (page, "farfan_contracts_dispatched_total");
    free (page);
    return isfinite (accounting->commit_seconds) && isfinite (accounting->commits)
        && isfinite (accounting->committed) && isfinite (accounting->dispatched) ? 0 : -1;
}

//  CPU time so far of the orchestrator's threads (or the factories').
static uint64_t
s_cluster_cpu_ns (s_cluster_t *cluster, bool orchestrator)
{
    return orchestrator
        ? ff_bench_threads_cpu_ns (cluster->orchestrator_threads, cluster->orchestrator_thread_count)
        : ff_bench_threads_cpu_ns (cluster->factory_threads, cluster->factory_thread_count);
}

static const char *
s_workers (void)
{
    const char *workers = getenv ("FF_BENCH_ORC_WORKERS");
    return workers && atoi (workers) > 0 ? workers : "4";
}

static void
s_bench_noop (ff_bench_t *bench, size_t count)
{
    char *dir = ff_bench_dir_new ("orc");
    if (!dir || s_write_set (dir, "NOOP", count, NULL) != 0) {
        ff_bench_fail (bench, "noop: cannot write the contracts");
        ff_bench_dir_destroy (&dir);
        return;
    }
    const char *workers = s_workers ();
    s_cluster_t cluster;
    if (s_cluster_start (bench, &cluster, "noop", dir, 2, workers) != 0) {
        ff_bench_dir_destroy (&dir);
        return;
    }
    int timeout_ms = ff_bench_timeout_ms (bench);
    //  A run is bounded by 30 s plus 1 ms a contract (1000/s at least).
    int64_t bound_ms = 30000 + (int64_t) count;
    char err [512] = "";
    //  Warm-up: connections, compiled contracts, the factories' duration
    //  models; the SYNC it starts with sets the in-flight caps.
    uint64_t warm = s_run (cluster.client, "{\"warmup\":true}", count, zclock_mono () + bound_ms,
                           timeout_ms, NULL, err, sizeof err);
    uint32_t window = warm ? s_caps (cluster.client, timeout_ms, err, sizeof err) : 0;
    if (!warm || !window) {
        ff_bench_fail (bench, "noop: warm-up run: %s", err);
        s_cluster_stop (&cluster);
        ff_bench_dir_destroy (&dir);
        return;
    }
    ff_bench_zmq_path_t *path = ff_bench_zmq_path_new (bench, 2);
    uint64_t elapsed = 0;
    if (path && ff_bench_zmq_path_pipelined (path, count / 10 + 1, window, &elapsed) != 0)
        ff_bench_zmq_path_destroy (&path);
    s_accounting_t before, after;
    bool accounted = s_accounting (&cluster, &before) == 0;
    int rounds = ff_bench_rounds (bench);
    ff_bench_samples_t *raw = ff_bench_samples_new (0);
    ff_bench_samples_t *runs = ff_bench_samples_new (0);
    ff_bench_samples_t *aligns = ff_bench_samples_new (0);
    ff_bench_samples_t *executes = ff_bench_samples_new (0);
    uint64_t total_ns = 0, raw_cpu_ns = 0, run_cpu_ns = 0, orc_cpu_ns = 0, fac_cpu_ns = 0;
    for (int r = 0; path && r < rounds; r++) {
        //  Interleaved: both sides of the ratio see the same load.
        uint64_t cpu = ff_bench_cpu_ns ();
        if (ff_bench_zmq_path_pipelined (path, count, window, &elapsed) != 0)
            break;
        raw_cpu_ns += ff_bench_cpu_ns () - cpu;
        ff_bench_samples_add (raw, elapsed);
        //  Fresh params each round: no result comes from a factory's cache.
        char params [32];
        snprintf (params, sizeof params, "{\"round\":%d}", r);
        uint64_t align = 0;
        cpu = ff_bench_cpu_ns ();
        uint64_t orc_cpu = s_cluster_cpu_ns (&cluster, true);
        uint64_t fac_cpu = s_cluster_cpu_ns (&cluster, false);
        uint64_t wall = s_run (cluster.client, params, count, zclock_mono () + bound_ms, timeout_ms,
                               &align, err, sizeof err);
        run_cpu_ns += ff_bench_cpu_ns () - cpu;
        orc_cpu_ns += s_cluster_cpu_ns (&cluster, true) - orc_cpu;
        fac_cpu_ns += s_cluster_cpu_ns (&cluster, false) - fac_cpu;
        if (!wall) {
            ff_bench_fail (bench, "noop: round %d: %s", r, err);
            break;
        }
        ff_bench_samples_add (runs, wall);
        if (align) {
            ff_bench_samples_add (aligns, align);
            ff_bench_samples_add (executes, wall - align);
        }
        total_ns += wall;
    }
    accounted = accounted && s_accounting (&cluster, &after) == 0;
    if (ff_bench_samples_count (runs) == (size_t) rounds
    &&  ff_bench_samples_count (raw) == (size_t) rounds) {
        char base [64], context [200];
        snprintf (base, sizeof base, "zmq.2hop.pipe%u", window);
        snprintf (context, sizeof context, "window=%u (the factories' in-flight caps) hops=2", window);
        ff_bench_record_rounds (bench, base, count, raw, "msg/s", NULL, context);
        double rate = (double) count * 1e9 / (double) ff_bench_samples_percentile (runs, 50);
        const char *verdict = rate >= S_NOOP_TARGET ? "met" : "MISSED";
        snprintf (context, sizeof context, "%zu core.noop per run, SUBMIT -> final PROGRESS, "
                  "2 factories max_workers %s, caps %u; target >= %d/s: %s", count, workers,
                  window, S_NOOP_TARGET, verdict);
        ff_bench_record_rounds (bench, "orc.noop", count, runs, "contracts/s", base, context);
        printf ("target: orc.noop %.0f contracts/s, target >= %d/s: %s\n", rate, S_NOOP_TARGET,
                verdict);
        //  Where the wall goes.
        if (ff_bench_samples_count (aligns) == (size_t) rounds) {
            ff_bench_recordf (bench, "orc.noop.align",
                              (double) ff_bench_samples_percentile (aligns, 50) / 1e6, "ms", NULL,
                              "SUBMIT -> first PROGRESS with the phase running (SYNC, PLAN, "
                              "scheduling %zu contracts); median of %d runs", count, rounds);
            ff_bench_record_rounds (bench, "orc.noop.dispatch", count, executes, "contracts/s", base,
                                    "the same runs from the phase running to the final PROGRESS "
                                    "(dispatch, execution, results, commits)");
        }
        //  CPU time per contract: this process runs the client, the
        //  orchestrator and both factories; the raw path's threads too.
        long cpus = sysconf (_SC_NPROCESSORS_ONLN);
        double raw_cpu_us = (double) raw_cpu_ns / 1e3 / ((double) count * rounds);
        double run_cpu_us = (double) run_cpu_ns / 1e3 / ((double) count * rounds);
        char cpu_base [80];
        snprintf (cpu_base, sizeof cpu_base, "%s.cpu", base);
        ff_bench_recordf (bench, cpu_base, raw_cpu_us, "us", NULL,
                          "CPU time (user+sys, every thread) per round trip of %s", base);
        ff_bench_recordf (bench, "orc.noop.cpu", run_cpu_us, "us", cpu_base,
                          "CPU time (user+sys) of client, orchestrator and 2 factories per "
                          "contract, over the %d timed runs", rounds);
        double contracts = (double) count * rounds;
        double orc_cpu_us = (double) orc_cpu_ns / 1e3 / contracts;
        double fac_cpu_us = (double) fac_cpu_ns / 1e3 / contracts;
        ff_bench_recordf (bench, "orc.noop.cpu.orchestrator", orc_cpu_us, "us", cpu_base,
                          "of it: the orchestrator's %zu threads (engine actor, HTTP); the engine "
                          "is one thread", cluster.orchestrator_thread_count);
        ff_bench_recordf (bench, "orc.noop.cpu.factories", fac_cpu_us, "us", cpu_base,
                          "of it: the 2 factories' %zu threads (actors, worker pools, HTTP)",
                          cluster.factory_thread_count);
        ff_bench_recordf (bench, "orc.noop.cpu.rest", run_cpu_us - orc_cpu_us - fac_cpu_us, "us",
                          cpu_base, "of it: the rest (the client, libzmq's I/O thread)");
        if (run_cpu_us > 0)
            ff_bench_recordf (bench, "orc.noop.cpu_bound", 1e6 * (double) (cpus > 0 ? cpus : 1)
                              / run_cpu_us, "contracts/s", NULL,
                              "arithmetic: %ld CPUs / orc.noop.cpu, the rate with every CPU "
                              "busy and no neighbour", cpus);
        if (accounted && after.commits > before.commits) {
            double commits = after.commits - before.commits;
            ff_bench_recordf (bench, "orc.noop.commit_share",
                              100.0 * (after.commit_seconds - before.commit_seconds) * 1e9
                              / (double) total_ns, "%", NULL,
                              "share of the runs' wall time in the result group commits "
                              "(farfan_commit_duration_seconds), %.0f commits", commits);
            ff_bench_recordf (bench, "orc.noop.commit_group",
                              (after.committed - before.committed) / commits, "results", NULL,
                              "results per group commit (farfan_results_committed_total / commits)");
        }
        if (accounted && after.executes > before.executes)
            ff_bench_recordf (bench, "orc.noop.batch", (after.dispatched - before.dispatched)
                              / (after.executes - before.executes), "contracts", NULL,
                              "contracts per EXECUTE (farfan_contracts_dispatched_total / "
                              "the factories' EXECUTE requests)");
    }
    ff_bench_samples_destroy (&raw);
    ff_bench_samples_destroy (&runs);
    ff_bench_samples_destroy (&aligns);
    ff_bench_samples_destroy (&executes);
    ff_bench_zmq_path_destroy (&path);
    s_cluster_stop (&cluster);
    ff_bench_dir_destroy (&dir);
}

static void
s_bench_rtt (ff_bench_t *bench, size_t count)
{
    char *dir = ff_bench_dir_new ("orc");
    if (!dir || s_write_set (dir, "ONE", 1, NULL) != 0) {
        ff_bench_fail (bench, "rtt: cannot write the contract");
        ff_bench_dir_destroy (&dir);
        return;
    }
    const char *workers = s_workers ();
    s_cluster_t cluster;
    if (s_cluster_start (bench, &cluster, "rtt", dir, 2, workers) != 0) {
        ff_bench_dir_destroy (&dir);
        return;
    }
    int timeout_ms = ff_bench_timeout_ms (bench);
    char err [512] = "";
    ff_bench_zmq_path_t *path = ff_bench_zmq_path_new (bench, 2);
    ff_bench_samples_t *raw = ff_bench_samples_new (0);
    ff_bench_samples_t *runs = ff_bench_samples_new (0);
    uint64_t sequence = 0;
    bool ok = path != NULL;
    //  Warm-up, untimed: a tenth, at least 10 runs and 100 raw round trips.
    size_t warmup = count / 10 > 10 ? count / 10 : 10;
    ok = ok && ff_bench_zmq_path_rtt (path, warmup > 100 ? warmup : 100, raw) == 0;
    for (size_t i = 0; ok && i < warmup; i++) {
        char params [32];
        snprintf (params, sizeof params, "{\"n\":%llu}", (unsigned long long) ++sequence);
        if (!s_run (cluster.client, params, 1, zclock_mono () + timeout_ms, timeout_ms, NULL,
                    err, sizeof err)) {
            ff_bench_fail (bench, "rtt: warm-up run: %s", err);
            ok = false;
        }
    }
    ff_bench_samples_reset (raw);
    int rounds = ff_bench_rounds (bench);
    size_t per_round = count / (size_t) rounds ? count / (size_t) rounds : 1;
    for (int r = 0; ok && r < rounds; r++) {
        ok = ff_bench_zmq_path_rtt (path, per_round, raw) == 0;
        for (size_t i = 0; ok && i < per_round; i++) {
            //  Fresh params: the contract really runs, never from a cache.
            char params [32];
            snprintf (params, sizeof params, "{\"n\":%llu}", (unsigned long long) ++sequence);
            uint64_t wall = s_run (cluster.client, params, 1, zclock_mono () + timeout_ms,
                                   timeout_ms, NULL, err, sizeof err);
            if (!wall) {
                ff_bench_fail (bench, "rtt: %s", err);
                ok = false;
            }
            else
                ff_bench_samples_add (runs, wall);
        }
    }
    if (ok) {
        ff_bench_record_latency (bench, FF_BENCH_ZMQ_2HOP_RTT, raw, NULL);
        ff_bench_record_latency (bench, "orc.run1", runs, FF_BENCH_ZMQ_2HOP_RTT);
    }
    ff_bench_samples_destroy (&raw);
    ff_bench_samples_destroy (&runs);
    ff_bench_zmq_path_destroy (&path);
    s_cluster_stop (&cluster);
    ff_bench_dir_destroy (&dir);
}

//  ---------------------------------------------------------------------
//  3. Recovery, with real processes

typedef struct {
    char *argv [S_ARGS_MAX];        //  owned strings, NULL-terminated
    char log [512];                 //  stdout and stderr go here
    pid_t pid;                      //  0 = not running
} s_process_t;

static void
s_process_args (s_process_t *process, const char *log, ...)
{
    memset (process, 0, sizeof *process);
    snprintf (process->log, sizeof process->log, "%s", log);
    va_list args;
    va_start (args, log);
    const char *arg;
    size_t count = 0;
    while ((arg = va_arg (args, const char *)) && count < S_ARGS_MAX - 1)
        process->argv [count++] = strdup (arg);
    va_end (args);
}

//  fork/exec; the child dies with this process (PR_SET_PDEATHSIG), so a
//  benchmark killed by its timeout leaves no daemon behind. Returns 0, -1.
static int
s_process_start (s_process_t *process)
{
    int fd = open (process->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  Only async-signal-safe calls until exec.
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        dup2 (fd, STDOUT_FILENO);
        dup2 (fd, STDERR_FILENO);
        int null = open ("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2 (null, STDIN_FILENO);
        execv (process->argv [0], process->argv);
        _exit (127);
    }
    close (fd);
    if (pid < 0)
        return -1;
    process->pid = pid;
    return 0;
}

static void
s_process_kill (s_process_t *process)
{
    if (process->pid > 0) {
        kill (process->pid, SIGKILL);
        waitpid (process->pid, NULL, 0);
        process->pid = 0;
    }
}

//  Kills the process (its clean shutdown is not measured; its scratch
//  directory is removed after) and frees its arguments.
static void
s_process_free (s_process_t *process)
{
    s_process_kill (process);
    for (size_t i = 0; i < S_ARGS_MAX && process->argv [i]; i++)
        free (process->argv [i]);
    memset (process, 0, sizeof *process);
}

//  The last lines of a process' log, to stderr (after a failure).
static void
s_process_tail (const s_process_t *process)
{
    FILE *file = fopen (process->log, "r");
    if (!file)
        return;
    char lines [8][512];
    size_t count = 0;
    char line [512];
    while (fgets (line, sizeof line, file))
        snprintf (lines [count++ % 8], sizeof lines [0], "%s", line);
    fclose (file);
    fprintf (stderr, "bench_orchestrator: last lines of %s:\n", process->log);
    for (size_t i = count > 8 ? count - 8 : 0; i < count; i++)
        fprintf (stderr, "  %s", lines [i % 8]);
}

//  `count` distinct free loopback ports (bound together, then released).
static int
s_free_ports (int *ports, size_t count)
{
    int fds [8];
    int rc = 0;
    for (size_t i = 0; i < count && i < 8; i++) {
        fds [i] = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
        address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (fds [i] < 0 || bind (fds [i], (struct sockaddr *) &address, sizeof address) != 0
        ||  getsockname (fds [i], (struct sockaddr *) &address, &length) != 0)
            rc = -1;
        ports [i] = ntohs (address.sin_port);
    }
    for (size_t i = 0; i < count && i < 8; i++)
        if (fds [i] >= 0)
            close (fds [i]);
    return rc;
}

//  An orchestrator daemon and two factory daemons on fixed ports, with a
//  run under way.
typedef struct {
    char *root;                     //  scratch: contracts/, data/, logs
    int client_port, worker_port, http_port;
    int heartbeat_ms;               //  configured on every daemon
    char client_endpoint [64];
    s_process_t orchestrator;
    s_process_t factories [2];
    zsock_t *client;
    size_t contracts;
    char *run_id;                   //  the run under way
} s_real_t;

static void
s_real_stop (s_real_t *real)
{
    zsock_destroy (&real->client);
    for (size_t i = 0; i < 2; i++)
        s_process_free (&real->factories [i]);
    s_process_free (&real->orchestrator);
    ff_bench_dir_destroy (&real->root);
    free (real->run_id);
    real->run_id = NULL;
}

//  Starts the daemons (heartbeat_ms, liveness S_LIVENESS) on `count`
//  io.wait contracts of staggered lengths (heartbeat / 5 + i x heartbeat /
//  10), waits until both factories registered, SUBMITs a run and waits
//  for its first committed result: the run is then mid-way, some results
//  committed, most contracts in flight. Returns 0, or -1 with the reason
//  in err (everything stopped).
static int
s_real_start (s_real_t *real, size_t count, int heartbeat_ms, int timeout_ms, char *err,
              size_t err_size)
{
    memset (real, 0, sizeof *real);
    real->contracts = count;
    real->heartbeat_ms = heartbeat_ms;
    real->root = ff_bench_dir_new ("orc");
    char contracts [512], data [512], log [512];
    int ports [3];
    if (!real->root || s_free_ports (ports, 3) != 0) {
        snprintf (err, err_size, "no scratch directory or free ports");
        s_real_stop (real);
        return -1;
    }
    real->client_port = ports [0];
    real->worker_port = ports [1];
    real->http_port = ports [2];
    snprintf (contracts, sizeof contracts, "%s/contracts", real->root);
    snprintf (data, sizeof data, "%s/data", real->root);
    s_wait_t wait = { heartbeat_ms / 5, heartbeat_ms / 10 };
    if (mkdir (contracts, 0750) != 0 || s_write_set (contracts, "REC", count, &wait) != 0) {
        snprintf (err, err_size, "cannot write the contracts");
        s_real_stop (real);
        return -1;
    }
    char client [64], worker [64], link [64], http [16], heartbeat [16], liveness [16];
    snprintf (client, sizeof client, "@tcp://127.0.0.1:%d", real->client_port);
    snprintf (worker, sizeof worker, "@tcp://127.0.0.1:%d", real->worker_port);
    snprintf (link, sizeof link, ">tcp://127.0.0.1:%d", real->worker_port);
    snprintf (real->client_endpoint, sizeof real->client_endpoint, "tcp://127.0.0.1:%d",
              real->client_port);
    snprintf (http, sizeof http, "%d", real->http_port);
    snprintf (heartbeat, sizeof heartbeat, "%d", heartbeat_ms);
    snprintf (liveness, sizeof liveness, "%d", S_LIVENESS);
    snprintf (log, sizeof log, "%s/orchestrator.log", real->root);
    s_process_args (&real->orchestrator, log, FF_BENCH_BUILD_ROOT "/services/farfan-orchestrator",
                    "--client-endpoint", client, "--worker-endpoint", worker,
                    "--http-address", "127.0.0.1", "--http-port", http, "--data-dir", data,
                    "--contracts-dir", contracts, "--sisas-endpoint", "", "--heartbeat-ms", heartbeat,
                    "--liveness", liveness, "--log-level", "info", NULL);
    for (size_t i = 0; i < 2; i++) {
        char id [32];
        snprintf (id, sizeof id, "bench-fac-%c", (int) ('a' + i));
        snprintf (log, sizeof log, "%s/%s.log", real->root, id);
        s_process_args (&real->factories [i], log, FF_BENCH_BUILD_ROOT "/services/farfan-factory",
                        "--endpoint", "@tcp://127.0.0.1:*", "--orchestrator-endpoint", link,
                        "--sisas-endpoint", "", "--http-port", "0", "--contracts-dir", contracts,
                        "--max-workers", S_RECOVERY_WORKERS, "--instance-id", id,
                        "--heartbeat-ms", heartbeat, "--liveness", liveness,
                        "--log-level", "info", NULL);
    }
    int64_t deadline = zclock_mono () + 15000;
    if (s_process_start (&real->orchestrator) != 0
    ||  s_await_metric (real->http_port, "farfan_factories_registered", 0, deadline) == 0) {
        snprintf (err, err_size, "farfan-orchestrator did not start (log: %.300s)", real->orchestrator.log);
        s_process_tail (&real->orchestrator);
        s_real_stop (real);
        return -1;
    }
    if (s_process_start (&real->factories [0]) != 0 || s_process_start (&real->factories [1]) != 0
    ||  s_await_metric (real->http_port, "farfan_factories_registered", 2, deadline) == 0) {
        snprintf (err, err_size, "the factories did not register (logs in %.300s)", real->root);
        s_process_tail (&real->factories [0]);
        s_real_stop (real);
        return -1;
    }
    real->client = s_dealer (real->client_endpoint);
    if (!real->client) {
        snprintf (err, err_size, "cannot connect a client");
        s_real_stop (real);
        return -1;
    }
    real->run_id = s_submit (real->client, "", timeout_ms, err, err_size);
    if (!real->run_id) {
        s_real_stop (real);
        return -1;
    }
    if (!s_await_metric (real->http_port, "farfan_results_committed_total", 1,
                         zclock_mono () + 10000)) {
        snprintf (err, err_size, "no result committed within 10 s");
        s_process_tail (&real->orchestrator);
        s_real_stop (real);
        return -1;
    }
    return 0;
}

//  After the measurement: the run must end SUCCEEDED with every contract's
//  result exactly once. Returns 0, or -1 with the reason in err.
static int
s_real_check (s_real_t *real, int timeout_ms, char *err, size_t err_size)
{
    const char *run_id = real->run_id;
    Farfan__RunStatus *status = s_watch (real->client, run_id, zclock_mono () + 30000, NULL,
                                         err, err_size);
    if (!status)
        return -1;
    int rc = 0;
    if (status->state != FARFAN__RUN_STATE__RUN_SUCCEEDED) {
        snprintf (err, err_size, "run %s ended in state %d: %s", run_id, (int) status->state,
                  status->error);
        rc = -1;
    }
    farfan__run_status__free_unpacked (status, NULL);
    if (rc)
        return rc;
    Farfan__ResultsRequest request = FARFAN__RESULTS_REQUEST__INIT;
    request.run_id = (char *) run_id;
    Farfan__RunResults *results = (Farfan__RunResults *) s_call (real->client,
        FARFAN__MESSAGE_TYPE__RESULTS, &request.base, FARFAN__MESSAGE_TYPE__RUN_RESULTS,
        &farfan__run_results__descriptor, timeout_ms, err, err_size);
    if (!results)
        return -1;
    zhashx_t *seen = zhashx_new ();
    for (size_t i = 0; i < results->n_results; i++)
        zhashx_insert (seen, results->results [i]->contract_id, (void *) 1);
    if (results->n_results != real->contracts || zhashx_size (seen) != real->contracts) {
        snprintf (err, err_size, "run %s has %zu results for %zu contracts (%zu distinct)", run_id,
                  results->n_results, real->contracts, zhashx_size (seen));
        rc = -1;
    }
    zhashx_destroy (&seen);
    farfan__run_results__free_unpacked (results, NULL);
    return rc;
}

//  (a) One orchestrator restart. Sets the times from the restart (ns) to:
//  /metrics answering, a factory registered, the first dispatch (0 = not
//  seen). Returns 0, or -1 when any was not seen or the run did not then
//  end with every result once (reported).
static int
s_trial_restart (ff_bench_t *bench, size_t contracts, int heartbeat_ms, uint64_t *up,
                 uint64_t *registered, uint64_t *dispatched)
{
    int timeout_ms = ff_bench_timeout_ms (bench);
    char err [512] = "";
    s_real_t real;
    *up = *registered = *dispatched = 0;
    if (s_real_start (&real, contracts, heartbeat_ms, timeout_ms, err, sizeof err) != 0) {
        ff_bench_fail (bench, "recovery (restart): %s", err);
        return -1;
    }
    int rc = -1;
    double committed = ff_bench_metric_get (real.http_port, "farfan_results_committed_total",
                                            S_HTTP_TIMEOUT_MS);
    s_process_kill (&real.orchestrator);
    if (!(committed < (double) real.contracts)) {
        snprintf (err, sizeof err, "the run had ended before the kill (%.0f committed)", committed);
        goto done;
    }
    zsock_destroy (&real.client);
    uint64_t restarted = ff_bench_now_ns ();
    if (s_process_start (&real.orchestrator) != 0) {
        snprintf (err, sizeof err, "cannot restart farfan-orchestrator");
        goto done;
    }
    int64_t deadline = zclock_mono () + 15000;
    while (!*dispatched && zclock_mono () < deadline) {
        char *page = ff_bench_http_get (real.http_port, "/metrics", S_HTTP_TIMEOUT_MS);
        uint64_t now = ff_bench_now_ns ();
        if (page) {
            if (!*up)
                *up = now - restarted;
            if (!*registered && ff_bench_metric (page, "farfan_factories_registered") >= 1)
                *registered = now - restarted;
            if (ff_bench_metric (page, "farfan_contracts_dispatched_total") >= 1)
                *dispatched = now - restarted;
            free (page);
        }
        if (!*dispatched)
            zclock_sleep (1);       //  re-ask pacing
    }
    if (!*dispatched) {
        snprintf (err, sizeof err, "no contract dispatched within 15 s of the restart "
                  "(up: %s, a factory registered: %s)", *up ? "yes" : "no", *registered ? "yes" : "no");
        goto done;
    }
    real.client = s_dealer (real.client_endpoint);
    if (!real.client || s_real_check (&real, timeout_ms, err, sizeof err) != 0)
        goto done;
    rc = 0;
done:
    if (rc) {
        ff_bench_fail (bench, "recovery (restart): %s", err);
        s_process_tail (&real.orchestrator);
    }
    s_real_stop (&real);
    return rc;
}

//  (b) One factory kill. Sets the time from the kill to the re-dispatch of
//  its contracts (ns; 0 = not seen). Returns 0, or -1 when it was not seen
//  or the run did not then end with every result once (reported).
static int
s_trial_factory_kill (ff_bench_t *bench, size_t contracts, int heartbeat_ms,
                      uint64_t *redispatched)
{
    int timeout_ms = ff_bench_timeout_ms (bench);
    char err [512] = "";
    s_real_t real;
    *redispatched = 0;
    if (s_real_start (&real, contracts, heartbeat_ms, timeout_ms, err, sizeof err) != 0) {
        ff_bench_fail (bench, "recovery (factory kill): %s", err);
        return -1;
    }
    int rc = -1;
    //  The victim: a factory with contracts in flight.
    Farfan__FactoryList *list = s_factories (real.client, timeout_ms, err, sizeof err);
    int victim = -1;
    uint32_t in_flight = 0;
    for (size_t i = 0; list && i < list->n_factories && victim < 0; i++) {
        const char *id = list->factories [i]->instance_id;
        if (list->factories [i]->in_flight > 0 && strncmp (id, "bench-fac-", 10) == 0
        &&  (id [10] == 'a' || id [10] == 'b')) {
            victim = id [10] - 'a';
            in_flight = list->factories [i]->in_flight;
        }
    }
    if (list)
        farfan__factory_list__free_unpacked (list, NULL);
    if (victim < 0) {
        snprintf (err, sizeof err, "no factory had contracts in flight");
        goto done;
    }
    uint64_t killed = ff_bench_now_ns ();
    s_process_kill (&real.factories [victim]);
    int64_t deadline = zclock_mono () + 3 * heartbeat_ms * S_LIVENESS + 5000;
    uint64_t seen = s_await_metric (real.http_port, "farfan_contracts_redispatched_total{reason=\"lost\"}",
                                    1, deadline);
    if (!seen) {
        snprintf (err, sizeof err, "the %u contracts in flight on the killed factory were not "
                  "dispatched again in time", in_flight);
        goto done;
    }
    *redispatched = seen - killed;
    if (s_real_check (&real, timeout_ms, err, sizeof err) != 0)
        goto done;
    rc = 0;
done:
    if (rc) {
        ff_bench_fail (bench, "recovery (factory kill): %s", err);
        s_process_tail (&real.orchestrator);
    }
    s_real_stop (&real);
    return rc;
}

//  Records the median of trials (ns) in ms, with every trial in the note.
static void
s_record_trials (ff_bench_t *bench, const char *name, ff_bench_samples_t *trials,
                 const char *baseline, const char *what)
{
    size_t count = ff_bench_samples_count (trials);
    if (count == 0)
        return;
    char note [512];
    double min = (double) ff_bench_samples_min (trials) / 1e6;
    double max = (double) ff_bench_samples_percentile (trials, 100) / 1e6;
    snprintf (note, sizeof note, "%s; median of %zu trial%s (range %.1f-%.1f ms)", what, count,
              count == 1 ? "" : "s", min, max);
    ff_bench_record (bench, name, (double) ff_bench_samples_percentile (trials, 50) / 1e6, "ms",
                     baseline, note);
}

static void
s_bench_recovery (ff_bench_t *bench, size_t trials)
{
    if (access (FF_BENCH_BUILD_ROOT "/services/farfan-orchestrator", X_OK) != 0
    ||  access (FF_BENCH_BUILD_ROOT "/services/farfan-factory", X_OK) != 0) {
        ff_bench_fail (bench, "recovery: the daemons are not built in %s/services", FF_BENCH_BUILD_ROOT);
        return;
    }
    //  The default heartbeat; the smoke run (scale < 0.1) a shorter one
    //  and fewer contracts.
    bool smoke = ff_bench_scale (bench) < 0.1;
    int heartbeat_ms = smoke ? S_HEARTBEAT_SMOKE : S_HEARTBEAT_MS;
    size_t restart_contracts = smoke ? 12 : 40;
    size_t kill_contracts = smoke ? 12 : 32;
    ff_bench_recordf (bench, "config.heartbeat", heartbeat_ms, "ms", NULL,
                      "heartbeat_ms configured (%s): not measured",
                      smoke ? "shortened below scale 0.1" : "the default");
    ff_bench_recordf (bench, "config.expiry", heartbeat_ms * S_LIVENESS, "ms", NULL,
                      "heartbeat_ms x liveness configured (%d x %d): not measured",
                      heartbeat_ms, S_LIVENESS);
    ff_bench_samples_t *up = ff_bench_samples_new (0);
    ff_bench_samples_t *registered = ff_bench_samples_new (0);
    ff_bench_samples_t *dispatched = ff_bench_samples_new (0);
    ff_bench_samples_t *redispatched = ff_bench_samples_new (0);
    //  A trial that fails stops the scenario (the next would fail the same
    //  way, each after its full bound); what it did measure is kept.
    bool failed = false;
    for (size_t i = 0; i < trials && !failed; i++) {
        uint64_t a = 0, b = 0, c = 0;
        failed = s_trial_restart (bench, restart_contracts, heartbeat_ms, &a, &b, &c) != 0;
        if (a)
            ff_bench_samples_add (up, a);
        if (b)
            ff_bench_samples_add (registered, b);
        if (c)
            ff_bench_samples_add (dispatched, c);
    }
    s_record_trials (bench, "orc.restart.up", up, NULL,
                     "kill -9 mid-run, restart on the same data dir -> its /metrics answers");
    s_record_trials (bench, "orc.restart.registered", registered, "config.heartbeat",
                     "restart -> a factory registered again");
    if (ff_bench_samples_count (dispatched) > 0) {
        double median_ms = (double) ff_bench_samples_percentile (dispatched, 50) / 1e6;
        const char *verdict = median_ms < S_RESTART_TARGET_MS ? "met" : "MISSED";
        char what [200];
        snprintf (what, sizeof what, "restart -> the resumed run's first dispatched contract; "
                  "target < %d ms: %s", S_RESTART_TARGET_MS, verdict);
        s_record_trials (bench, "orc.restart.first_dispatch", dispatched, "config.heartbeat", what);
        printf ("target: orc.restart.first_dispatch %.1f ms (median), target < %d ms: %s\n",
                median_ms, S_RESTART_TARGET_MS, verdict);
    }
    failed = false;
    for (size_t i = 0; i < trials && !failed; i++) {
        uint64_t ns = 0;
        failed = s_trial_factory_kill (bench, kill_contracts, heartbeat_ms, &ns) != 0;
        if (ns)
            ff_bench_samples_add (redispatched, ns);
    }
    s_record_trials (bench, "orc.factory_kill.redispatch", redispatched, "config.expiry",
                     "kill -9 of a factory with contracts in flight -> their re-dispatch "
                     "(another factory registered); expected about the expiry");
    if (ff_bench_samples_count (redispatched) > 0)
        printf ("target: orc.factory_kill.redispatch %.1f ms (median), configured expiry %d ms\n",
                (double) ff_bench_samples_percentile (redispatched, 50) / 1e6,
                heartbeat_ms * S_LIVENESS);
    ff_bench_samples_destroy (&up);
    ff_bench_samples_destroy (&registered);
    ff_bench_samples_destroy (&dispatched);
    ff_bench_samples_destroy (&redispatched);
}

//  ---------------------------------------------------------------------

int
main (int argc, char **argv)
{
    int rc = 0;
    ff_bench_t *bench = ff_bench_start ("orchestrator", argc, argv, &rc);
    if (!bench)
        return rc;
    const char *only = getenv ("FF_BENCH_ORC_ONLY");
    if (only && !streq (only, "wait") && !streq (only, "noop") && !streq (only, "rtt")
    &&  !streq (only, "recovery")) {
        fprintf (stderr, "bench_orchestrator: FF_BENCH_ORC_ONLY=%s: expected wait, noop, rtt "
                 "or recovery\n", only);
        ff_bench_destroy (&bench);
        return 2;
    }
    //  The services in this process log through this process' logger.
    const char *log = getenv ("FF_BENCH_ORC_LOG");
    ff_log_init ("bench", log && streq (log, "debug") ? FF_LOG_DEBUG
                        : log && streq (log, "info") ? FF_LOG_INFO : FF_LOG_ERROR);
    signal (SIGPIPE, SIG_IGN);
    size_t wait_count = ff_bench_scaled (bench, S_WAIT_CONTRACTS, 8);
    size_t noop_count = ff_bench_scaled (bench, S_NOOP_CONTRACTS, 50);
    size_t rtt_count = ff_bench_scaled (bench, S_RTT_RUNS, 10);
    size_t trials = ff_bench_scaled (bench, S_RECOVERY_TRIALS, 1);
    printf ("bench orchestrator: scale %g: %zu waiting contracts, %zu no-op contracts a run, "
            "%zu single-contract runs, %zu recovery trial%s\n", ff_bench_scale (bench), wait_count,
            noop_count, rtt_count, trials, trials == 1 ? "" : "s");
    fflush (stdout);

    if (!only || streq (only, "wait"))
        s_bench_wait (bench, wait_count);
    if (!only || streq (only, "noop"))
        s_bench_noop (bench, noop_count);
    if (!only || streq (only, "rtt"))
        s_bench_rtt (bench, rtt_count);
    if (!only || streq (only, "recovery"))
        s_bench_recovery (bench, trials);

    rc = ff_bench_finish (bench);
    ff_bench_destroy (&bench);
    return rc ? 1 : 0;
}
