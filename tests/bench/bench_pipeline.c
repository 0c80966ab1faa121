/*  bench_pipeline — the main job (issue #6): the full pipeline P00-P09 on
    the real 78-page plan (../shared/farfan-upstream/plans/Plan_1.pdf and
    Plan_1.txt, 182 KB of text), with the default contract set
    (contracts/default) and with the upstream questionnaire imported by
    `farfanctl contracts import` (into a scratch directory, timed).

    The services are real processes, as deployed: the build's
    services/farfan-orchestrator and two services/farfan-factory (default
    settings: 4 workers each, the orchestrator ships the set to them), on
    free loopback ports, SISAS and HTTP off, logs in the scratch directory.
    For each set:

      services A (fresh):  txt.cold   Plan_1.txt, the first run
                           txt.cache  the same text again (result cache)
      services B (fresh):  pdf.cold   Plan_1.pdf (bytes), converted by the
                                      orchestrator with pdftotext

    A run's wall time is SUBMIT -> its final PROGRESS (WATCH), at the
    client; the per-phase times are the run's own (RunStatus: ended -
    started of each phase, so alignment is in them); `convert` is the
    time from submission to P00's start (the PDF's conversion, queueing).
    A phase's note gives the sum of its results' duration_us (each the
    elapsed time of one contract in a factory, from its first step to its
    result: with 8 worker threads on 2 cores, preemption included, so the
    sum exceeds the phase) and the slowest contract. `cpu` is the CPU time
    (utime + stime, /proc/PID/stat) the three services used during the
    run: unlike wall times, it does not grow when a neighbour loads the
    machine. Then the time to
    fetch every result (RESULTS per phase) and the JSON report (REPORT).
    Peak RSS of each service: VmHWM of /proc/PID/status just before it is
    stopped (after its runs).

    Baselines, measured in this process in the same run (there is no
    Python figure to compare with on this machine):
      <set>.baseline.p02  the 300 micro contracts' own pipelines
                          (text.match_patterns + text.count_elements, the
                          code P02 runs) over the same text, in-process,
                          one thread, patterns compiled beforehand: the
                          bare computation of the dominant phase. The
                          run's wall and its P02 are reported against it.
      pdftotext           one conversion of Plan_1.pdf by
                          /usr/bin/pdftotext -layout -enc UTF-8 (what the
                          orchestrator runs): the `convert` row's baseline.
    Target: a run's wall <= 2 s on the 2-core machine, both sets; the
    note of each wall row says met or missed.

    Smoke (--scale < 0.1, the test command): the default set, txt.cold
    only, one baseline repetition.

    Usage: bench_pipeline [--scale X] [--output PATH] [--format tsv|jsonl]
                          [--timeout MS] [--rounds N]
    FF_BENCH_PIPELINE_SETS=default|imported|both (default both).
    Needs ../shared/farfan-upstream; without it, says so and exits 0 with
    no rows.
*/
#include "ff_bench.h"
#include "bench_support.h"

#include "fac_contract.h"
#include "fac_method.h"
#include "factory.pb-c.h"
#include "ff_msg.h"
#include "orchestrator.pb-c.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_UPSTREAM FF_BENCH_SOURCE_ROOT "/../shared/farfan-upstream"
#define S_PLAN_TXT S_UPSTREAM "/plans/Plan_1.txt"
#define S_PLAN_PDF S_UPSTREAM "/plans/Plan_1.pdf"
#define S_DEFAULT_SET FF_BENCH_SOURCE_ROOT "/contracts/default"
#define S_SOURCE FF_BENCH_SOURCE_ROOT "/contracts/src"
#define S_PDFTOTEXT "/usr/bin/pdftotext"
#define S_TARGET_MS 2000.0
//  Bounds: a run, a service's start, a reply (a debug build under load
//  takes ~15 s for a cold run).
#define S_RUN_MS 300000
#define S_START_MS 30000
#define S_REPLY_MS 60000

//  ---------------------------------------------------------------------
//  Processes

typedef struct {
    pid_t pid;
    char name [32];
    char log [512];
} s_proc_t;

//  Starts program argv... with stdout and stderr to log; it dies with us.
static int
s_spawn (s_proc_t *proc, const char *name, const char *program, char *const argv [],
         const char *log)
{
    memset (proc, 0, sizeof *proc);
    snprintf (proc->name, sizeof proc->name, "%s", name);
    snprintf (proc->log, sizeof proc->log, "%s", log);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
        }
        execv (program, argv);
        _exit (127);
    }
    proc->pid = pid;
    return 0;
}

//  Waits on nothing for ms (a poller over a socket nobody writes to).
static void
s_pause (int ms)
{
    zsock_t *idle = zsock_new (ZMQ_PULL);
    zpoller_t *poller = zpoller_new (idle, NULL);
    zpoller_wait (poller, ms);
    zpoller_destroy (&poller);
    zsock_destroy (&idle);
}

//  Waits up to timeout_ms for the process to end; its exit code, 128 +
//  signal, or -1 when it still runs.
static int
s_wait_exit (pid_t pid, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int status = 0;
        pid_t done = waitpid (pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        if (done < 0 || zclock_mono () >= deadline)
            return -1;
        s_pause (5);
    }
}

//  Peak resident set of the process in MB (VmHWM); NAN when unreadable.
static double
s_peak_rss_mb (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    double mb = NAN;
    while (file && fgets (line, sizeof line, file)) {
        long kb;
        if (sscanf (line, "VmHWM: %ld kB", &kb) == 1)
            mb = (double) kb / 1024.0;
    }
    if (file)
        fclose (file);
    return mb;
}

//  CPU time (user + system) the process used so far, in ms; NAN when
//  unreadable. Clock-tick resolution (10 ms).
static double
s_cpu_ms (pid_t pid)
{
    char path [64], line [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return NAN;
    double ms = NAN;
    if (fgets (line, sizeof line, file)) {
        //  After the command's closing parenthesis: field 3 onwards;
        //  utime and stime are fields 14 and 15.
        const char *rest = strrchr (line, ')');
        unsigned long utime = 0, stime = 0;
        if (rest && sscanf (rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                            &utime, &stime) == 2)
            ms = (double) (utime + stime) * 1000.0 / (double) sysconf (_SC_CLK_TCK);
    }
    fclose (file);
    return ms;
}

//  SIGTERM and a clean exit (SIGKILL after 10 s). Returns 0 when it
//  exited 0.
static int
s_stop (s_proc_t *proc)
{
    if (proc->pid <= 0)
        return 0;
    kill (proc->pid, SIGTERM);
    int code = s_wait_exit (proc->pid, 10000);
    if (code == -1) {
        kill (proc->pid, SIGKILL);
        code = s_wait_exit (proc->pid, 5000);
    }
    proc->pid = 0;
    return code == 0 ? 0 : -1;
}

//  Runs program argv... to completion within timeout_ms, its output to
//  log. Returns the elapsed ns, 0 when it failed.
static uint64_t
s_run_program (const char *program, char *const argv [], const char *log, int timeout_ms)
{
    s_proc_t proc;
    uint64_t start = ff_bench_now_ns ();
    if (s_spawn (&proc, argv [0], program, argv, log))
        return 0;
    int code = s_wait_exit (proc.pid, timeout_ms);
    uint64_t elapsed = ff_bench_now_ns () - start;
    if (code == -1) {
        kill (proc.pid, SIGKILL);
        s_wait_exit (proc.pid, 5000);
    }
    return code == 0 ? elapsed : 0;
}

//  A loopback TCP port nothing listens on now.
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &address, sizeof address) == 0
    &&  getsockname (fd, (struct sockaddr *) &address, &size) == 0)
        port = ntohs (address.sin_port);
    close (fd);
    return port;
}

static char *
s_read (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *data = NULL;
    if (fseek (file, 0, SEEK_END) == 0) {
        long length = ftell (file);
        rewind (file);
        data = length >= 0 ? (char *) malloc ((size_t) length + 1) : NULL;
        if (data) {
            *size = fread (data, 1, (size_t) length, file);
            data [*size] = '\0';
        }
    }
    fclose (file);
    return data;
}

//  ---------------------------------------------------------------------
//  The services and the client API

typedef struct {
    s_proc_t orchestrator;
    s_proc_t factories [2];
    zsock_t *client;
    char endpoint [64];
} s_system_t;

//  Sends a request and waits for its reply (others skipped) up to
//  timeout_ms; NULL when none came. Caller destroys.
static ff_msg_t *
s_call (zsock_t *client, uint32_t type, const ProtobufCMessage *body, int timeout_ms)
{
    return ff_msg_call (client, type, body, "bench-pipeline", timeout_ms);
}

static int
s_factory_count (zsock_t *client)
{
    Farfan__FactoriesRequest request = FARFAN__FACTORIES_REQUEST__INIT;
    ff_msg_t *reply = s_call (client, FARFAN__MESSAGE_TYPE__FACTORIES, &request.base, S_REPLY_MS);
    if (!reply || ff_msg_type (reply) != FARFAN__MESSAGE_TYPE__FACTORY_LIST) {
        ff_msg_destroy (&reply);
        return -1;
    }
    Farfan__FactoryList *list = farfan__factory_list__unpack (NULL, ff_msg_body_size (reply),
                                                             ff_msg_body_data (reply));
    int count = list ? (int) list->n_factories : -1;
    if (list)
        farfan__factory_list__free_unpacked (list, NULL);
    ff_msg_destroy (&reply);
    return count;
}

//  Starts the orchestrator on contracts_dir and two factories, logs in
//  dir/<tag>-*.log; waits until both factories are registered. 0, or -1
//  with the reason in err (the services started are stopped).
static void s_system_stop (s_system_t *system, double *rss);

static int
s_system_start (s_system_t *system, const char *contracts_dir, const char *dir, const char *tag,
                char *err, size_t err_size)
{
    memset (system, 0, sizeof *system);
    char program [512], log [512], data [512], client [64], worker [64], link [64];
    int client_port = s_free_port (), worker_port = s_free_port ();
    snprintf (client, sizeof client, "@tcp://127.0.0.1:%d", client_port);
    snprintf (worker, sizeof worker, "@tcp://127.0.0.1:%d", worker_port);
    snprintf (link, sizeof link, ">tcp://127.0.0.1:%d", worker_port);
    snprintf (system->endpoint, sizeof system->endpoint, "tcp://127.0.0.1:%d", client_port);
    snprintf (data, sizeof data, "%s/%s-data", dir, tag);
    snprintf (program, sizeof program, "%s/services/farfan-orchestrator", FF_BENCH_BUILD_ROOT);
    snprintf (log, sizeof log, "%s/%s-orchestrator.log", dir, tag);
    char *orc_argv [] = {
        "farfan-orchestrator", "--client-endpoint", client, "--worker-endpoint", worker,
        "--http-port", "0", "--data-dir", data, "--contracts-dir", (char *) contracts_dir,
        "--sisas-endpoint", "", "--sisas-control-endpoint", "", "--log-level", "info", NULL
    };
    if (s_spawn (&system->orchestrator, "orchestrator", program, orc_argv, log)) {
        snprintf (err, err_size, "cannot start %.200s: %s", program, strerror (errno));
        return -1;
    }
    snprintf (program, sizeof program, "%s/services/farfan-factory", FF_BENCH_BUILD_ROOT);
    for (int f = 0; f < 2; f++) {
        char name [32];
        snprintf (name, sizeof name, "factory%d", f + 1);
        snprintf (log, sizeof log, "%s/%s-%s.log", dir, tag, name);
        char *fac_argv [] = {
            "farfan-factory", "--endpoint", "@tcp://127.0.0.1:*", "--orchestrator-endpoint", link,
            "--http-port", "0", "--sisas-endpoint", "", "--sisas-control-endpoint", "",
            "--log-level", "info", NULL
        };
        if (s_spawn (&system->factories [f], name, program, fac_argv, log)) {
            snprintf (err, err_size, "cannot start %.200s: %s", program, strerror (errno));
            s_system_stop (system, NULL);
            return -1;
        }
    }
    system->client = zsock_new (ZMQ_DEALER);
    zsock_set_linger (system->client, 0);
    zsock_set_rcvhwm (system->client, 0);
    if (!system->client || zsock_connect (system->client, "%s", system->endpoint)) {
        snprintf (err, err_size, "cannot connect to %s", system->endpoint);
        s_system_stop (system, NULL);
        return -1;
    }
    int64_t deadline = zclock_mono () + S_START_MS;
    int registered = -1;
    while ((registered = s_factory_count (system->client)) < 2 && zclock_mono () < deadline)
        s_pause (10);
    if (registered < 2) {
        snprintf (err, err_size, "%d of 2 factories registered within %d ms (logs: %s/%s-*.log)",
                  registered, S_START_MS, dir, tag);
        s_system_stop (system, NULL);
        return -1;
    }
    return 0;
}

//  Stops the services; rss (3 entries, may be NULL) gets each one's peak.
static void
s_system_stop (s_system_t *system, double *rss)
{
    zsock_destroy (&system->client);
    s_proc_t *procs [] = { &system->orchestrator, &system->factories [0], &system->factories [1] };
    for (size_t i = 0; i < 3; i++) {
        if (rss)
            rss [i] = procs [i]->pid > 0 ? s_peak_rss_mb (procs [i]->pid) : NAN;
        if (procs [i]->pid > 0 && s_stop (procs [i]))
            fprintf (stderr, "bench_pipeline: %s did not stop cleanly (log %s)\n", procs [i]->name,
                     procs [i]->log);
    }
}

//  ---------------------------------------------------------------------
//  One run

typedef struct {
    uint64_t wall_ns;                   // SUBMIT -> final PROGRESS
    double server_ms;                   // ended - submitted, the orchestrator's clocks
    double convert_ms;                  // submitted -> P00 started
    double phase_ms [10];
    double work_ms [10];                // sum of the results' duration_us (elapsed)
    double slowest_ms [10];
    char slowest [10][64];
    size_t results;
    size_t from_cache;
    uint64_t results_ns;                // fetching every result
    uint64_t report_ns;                 // fetching the JSON report
    size_t report_bytes;
    double cpu_ms [3];                  // CPU time of orchestrator, factory 1, 2 in the run
} s_run_t;

static const char *s_phase_names [10] = { "P00", "P01", "P02", "P03", "P04",
                                          "P05", "P06", "P07", "P08", "P09" };

//  Submits document, watches the run to its end, fetches its results and
//  report. 0, or -1 with the reason in err.
static int
s_run (s_system_t *system, const char *data, size_t size, const char *name, s_run_t *run,
       char *err, size_t err_size)
{
    memset (run, 0, sizeof *run);
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) data;
    submit.document.len = size;
    submit.name = (char *) name;
    s_proc_t *procs [] = { &system->orchestrator, &system->factories [0], &system->factories [1] };
    for (size_t i = 0; i < 3; i++)
        run->cpu_ms [i] = s_cpu_ms (procs [i]->pid);
    uint64_t start = ff_bench_now_ns ();
    ff_msg_t *reply = s_call (system->client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base, S_REPLY_MS);
    if (!reply || ff_msg_type (reply) != FARFAN__MESSAGE_TYPE__SUBMITTED) {
        snprintf (err, err_size, "SUBMIT: %s", reply ? ff_msg_status_message (reply) : "no reply");
        ff_msg_destroy (&reply);
        return -1;
    }
    Farfan__Submitted *submitted = farfan__submitted__unpack (NULL, ff_msg_body_size (reply),
                                                             ff_msg_body_data (reply));
    ff_msg_destroy (&reply);
    if (!submitted) {
        snprintf (err, err_size, "SUBMITTED does not decode");
        return -1;
    }
    char *run_id = strdup (submitted->run_id);
    farfan__submitted__free_unpacked (submitted, NULL);

    //  WATCH to the final PROGRESS.
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = run_id;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__WATCH, .correlation_id = "watch",
                               .sender_id = "bench-pipeline" };
    int rc = ff_msg_send (system->client, NULL, false, &header, &ref.base);
    Farfan__RunStatus *status = NULL;
    zpoller_t *poller = zpoller_new (system->client, NULL);
    int64_t deadline = zclock_mono () + S_RUN_MS;
    ff_msg_t *message = ff_msg_new ();
    while (rc == 0) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left)) {
            snprintf (err, err_size, "run %s did not end within %d ms", run_id, S_RUN_MS);
            rc = -1;
            break;
        }
        if (ff_msg_recv (message, system->client) != 0
        ||  !streq (ff_msg_correlation_id (message), "watch"))
            continue;
        if (ff_msg_type (message) != FARFAN__MESSAGE_TYPE__PROGRESS) {
            snprintf (err, err_size, "WATCH: %s", ff_msg_status_message (message));
            rc = -1;
            break;
        }
        if (status)
            farfan__run_status__free_unpacked (status, NULL);
        status = farfan__run_status__unpack (NULL, ff_msg_body_size (message),
                                             ff_msg_body_data (message));
        if (!status) {
            snprintf (err, err_size, "PROGRESS does not decode");
            rc = -1;
            break;
        }
        if (status->state == FARFAN__RUN_STATE__RUN_SUCCEEDED)
            break;
        if (status->state == FARFAN__RUN_STATE__RUN_FAILED
        ||  status->state == FARFAN__RUN_STATE__RUN_CANCELLED) {
            snprintf (err, err_size, "run %s ended in state %d: %s", run_id, status->state,
                      status->error);
            rc = -1;
            break;
        }
    }
    run->wall_ns = ff_bench_now_ns () - start;
    for (size_t i = 0; i < 3; i++)
        run->cpu_ms [i] = s_cpu_ms (procs [i]->pid) - run->cpu_ms [i];
    ff_msg_destroy (&message);
    zpoller_destroy (&poller);
    if (rc == 0 && (status->done != 679 || status->n_phases != 10)) {
        snprintf (err, err_size, "run %s: %u of 679 contracts, %zu phases", run_id, status->done,
                  status->n_phases);
        rc = -1;
    }
    if (rc == 0) {
        //  A live run's final PROGRESS may leave ended_at_us 0: its last
        //  phase's end is the run's.
        uint64_t ended = status->ended_at_us ? status->ended_at_us
                                             : status->phases [9]->ended_at_us;
        run->server_ms = (double) (ended - status->submitted_at_us) / 1000.0;
        run->convert_ms = (double) (status->phases [0]->started_at_us - status->submitted_at_us) / 1000.0;
        for (size_t p = 0; p < 10; p++)
            run->phase_ms [p] = (double) (status->phases [p]->ended_at_us
                                          - status->phases [p]->started_at_us) / 1000.0;
    }
    if (status)
        farfan__run_status__free_unpacked (status, NULL);

    //  Every result, phase by phase: where the factories' time went.
    uint64_t fetch = ff_bench_now_ns ();
    for (size_t p = 0; rc == 0 && p < 10; p++) {
        Farfan__ResultsRequest request = FARFAN__RESULTS_REQUEST__INIT;
        request.run_id = run_id;
        request.phase = (char *) s_phase_names [p];
        reply = s_call (system->client, FARFAN__MESSAGE_TYPE__RESULTS, &request.base, S_REPLY_MS);
        Farfan__RunResults *results = reply && ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__RUN_RESULTS
            ? farfan__run_results__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply))
            : NULL;
        if (!results) {
            snprintf (err, err_size, "RESULTS %s: %s", s_phase_names [p],
                      reply ? ff_msg_status_message (reply) : "no reply");
            rc = -1;
        }
        for (size_t i = 0; results && i < results->n_results; i++) {
            const Farfan__ContractResult *result = results->results [i];
            double ms = (double) result->duration_us / 1000.0;
            run->work_ms [p] += ms;
            if (ms > run->slowest_ms [p]) {
                run->slowest_ms [p] = ms;
                snprintf (run->slowest [p], sizeof run->slowest [p], "%s", result->contract_id);
            }
            if (result->status != FARFAN__RESULT_STATUS__RESULT_OK) {
                snprintf (err, err_size, "%s: status %d", result->contract_id, result->status);
                rc = -1;
            }
            run->from_cache += result->from_cache;
            run->results++;
        }
        if (results)
            farfan__run_results__free_unpacked (results, NULL);
        ff_msg_destroy (&reply);
    }
    run->results_ns = ff_bench_now_ns () - fetch;
    if (rc == 0) {
        Farfan__ReportRequest request = FARFAN__REPORT_REQUEST__INIT;
        request.run_id = run_id;
        request.format = "json";
        fetch = ff_bench_now_ns ();
        reply = s_call (system->client, FARFAN__MESSAGE_TYPE__REPORT, &request.base, S_REPLY_MS);
        run->report_ns = ff_bench_now_ns () - fetch;
        Farfan__RunReport *report = reply && ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__RUN_REPORT
            ? farfan__run_report__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply))
            : NULL;
        if (report && report->content.len > 0)
            run->report_bytes = report->content.len;
        else {
            snprintf (err, err_size, "REPORT: %s", reply ? ff_msg_status_message (reply) : "no reply");
            rc = -1;
        }
        if (report)
            farfan__run_report__free_unpacked (report, NULL);
        ff_msg_destroy (&reply);
    }
    if (rc == 0 && run->results != 679) {
        snprintf (err, err_size, "%zu results, not 679", run->results);
        rc = -1;
    }
    free (run_id);
    return rc;
}

//  Records a run's rows as <prefix>.*; the wall and P02 against
//  baseline_p02, the conversion against pdftotext when asked.
static void
s_record_run (ff_bench_t *bench, const char *prefix, const s_run_t *run, const char *baseline_p02,
              const char *cpu_baseline, const char *wall_baseline, bool converted)
{
    char name [128];
    double wall_ms = (double) run->wall_ns / 1e6;
    snprintf (name, sizeof name, "%s.wall", prefix);
    ff_bench_recordf (bench, name, wall_ms, "ms", wall_baseline ? wall_baseline : baseline_p02,
                      "target <= %.0f ms %s; server %.1f ms; %zu results, %zu from cache",
                      S_TARGET_MS, wall_ms <= S_TARGET_MS ? "met" : "MISSED", run->server_ms,
                      run->results, run->from_cache);
    //  CPU time does not grow when a neighbour loads the machine.
    snprintf (name, sizeof name, "%s.cpu", prefix);
    ff_bench_recordf (bench, name, run->cpu_ms [0] + run->cpu_ms [1] + run->cpu_ms [2], "ms",
                      wall_baseline ? NULL : cpu_baseline,
                      "CPU of the services in the run: orchestrator %.0f, factories %.0f + %.0f ms",
                      run->cpu_ms [0], run->cpu_ms [1], run->cpu_ms [2]);
    if (converted) {
        snprintf (name, sizeof name, "%s.convert", prefix);
        ff_bench_recordf (bench, name, run->convert_ms, "ms", "pdftotext",
                          "submitted -> P00 started (pdftotext in the orchestrator)");
    }
    for (size_t p = 0; p < 10; p++) {
        snprintf (name, sizeof name, "%s.%s", prefix, s_phase_names [p]);
        ff_bench_recordf (bench, name, run->phase_ms [p], "ms", p == 2 ? baseline_p02 : NULL,
                          "sum of duration_us %.1f ms, slowest %s %.1f ms", run->work_ms [p],
                          run->slowest [p], run->slowest_ms [p]);
    }
    snprintf (name, sizeof name, "%s.fetch_results", prefix);
    ff_bench_recordf (bench, name, (double) run->results_ns / 1e6, "ms", NULL,
                      "RESULTS of the 10 phases, 679 results");
    snprintf (name, sizeof name, "%s.fetch_report", prefix);
    ff_bench_recordf (bench, name, (double) run->report_ns / 1e6, "ms", NULL,
                      "REPORT json, %zu bytes", run->report_bytes);
}

//  ---------------------------------------------------------------------
//  Baselines

//  The 300 micro contracts of the set in contracts_dir, run in-process on
//  one thread over text, patterns compiled beforehand: median of reps
//  passes, in ns; 0 (and err) on failure. *compile_ns: compiling them;
//  *cpu_ns: CPU time of the passes.
static uint64_t
s_baseline_p02 (const char *contracts_dir, const char *text, size_t size, size_t reps,
                uint64_t *compile_ns, uint64_t *cpu_ns, char *err, size_t err_size)
{
    uint64_t result = 0;
    fac_method_env_t env = { NULL, 0 };
    fac_contract_set_t *set = fac_contract_set_new (&env);
    fac_load_report_t report;
    fac_load_report_init (&report, 4);
    fac_compiled_t **compiled = NULL;
    size_t micro = 0;
    ff_bench_samples_t *samples = ff_bench_samples_new (reps);
    json_t *params = json_object ();
    if (!set || !samples || !params
    ||  fac_contract_set_load_dir (set, contracts_dir, &report) < 0 || report.count) {
        snprintf (err, err_size, "cannot load %s: %s", contracts_dir,
                  report.count && report.capacity ? report.errors [0].reason : "");
        goto cleanup;
    }
    size_t count = 0;
    fac_contract_t **all = fac_contract_set_all (set, &count);
    compiled = (fac_compiled_t **) calloc (count, sizeof (fac_compiled_t *));
    uint64_t start = ff_bench_now_ns ();
    for (size_t i = 0; compiled && i < count; i++)
        if (fac_contract_in_phase (all [i], 2)) {
            compiled [micro] = fac_compiled_new (all [i], err, err_size);
            if (!compiled [micro])
                goto cleanup;
            micro++;
        }
    *compile_ns = ff_bench_now_ns () - start;
    if (micro != 300) {
        snprintf (err, err_size, "%zu micro contracts in %s, not 300", micro, contracts_dir);
        goto cleanup;
    }
    uint64_t cpu = ff_bench_cpu_ns ();
    for (size_t r = 0; r < reps; r++) {
        start = ff_bench_now_ns ();
        for (size_t i = 0; i < micro; i++) {
            const fac_contract_t *contract = compiled [i]->contract;
            fac_context_t ctx;
            fac_context_init (&ctx, compiled [i], text, size, NULL, 0, params);
            for (size_t s = 0; s < contract->step_count; s++) {
                const fac_method_t *method = fac_method_lookup (contract->steps [s].method);
                if (!method || !method->run || method->run (&ctx, contract->steps [s].params)) {
                    snprintf (err, err_size, "%s: step %zu (%s): %s", contract->id, s,
                              contract->steps [s].method, ctx.error);
                    fac_context_fini (&ctx);
                    goto cleanup;
                }
            }
            fac_context_fini (&ctx);
        }
        ff_bench_samples_add (samples, ff_bench_now_ns () - start);
    }
    *cpu_ns = ff_bench_cpu_ns () - cpu;
    result = ff_bench_samples_percentile (samples, 50);
cleanup:
    for (size_t i = 0; compiled && i < micro; i++)
        fac_compiled_unref (&compiled [i]);
    free (compiled);
    json_decref (params);
    ff_bench_samples_destroy (&samples);
    fac_load_report_free (&report);
    fac_contract_set_destroy (&set);
    return result;
}

//  ---------------------------------------------------------------------

typedef struct {
    const char *name;           // "default", "imported"
    const char *dir;            // its contracts
} s_set_t;

//  The runs of one set. Returns 0, or -1 after ff_bench_fail.
static int
s_bench_set (ff_bench_t *bench, const s_set_t *set, const char *dir, const char *text,
             size_t text_size, const char *pdf, size_t pdf_size, bool smoke, size_t reps)
{
    char err [512] = "", name [128], baseline [128], prefix [128];
    uint64_t compile_ns = 0, cpu_ns = 0;
    uint64_t p02_ns = s_baseline_p02 (set->dir, text, text_size, reps, &compile_ns, &cpu_ns, err,
                                      sizeof err);
    if (!p02_ns) {
        ff_bench_fail (bench, "%s: baseline: %s", set->name, err);
        return -1;
    }
    snprintf (baseline, sizeof baseline, "%s.baseline.p02", set->name);
    ff_bench_recordf (bench, baseline, (double) p02_ns / 1e6, "ms", NULL,
                      "300 micro pipelines in-process, 1 thread, median of %zu; compiling "
                      "them took %.1f ms", reps, (double) compile_ns / 1e6);
    //  The same as CPU time per pass.
    char cpu_baseline [128];
    snprintf (cpu_baseline, sizeof cpu_baseline, "%s.baseline.p02.cpu", set->name);
    ff_bench_recordf (bench, cpu_baseline, (double) cpu_ns / 1e6 / (double) reps, "ms", NULL,
                      "CPU time of the %zu passes / %zu", reps, reps);

    const char *rss_names [3] = { "orchestrator", "factory1", "factory2" };
    double rss [3];
    s_system_t system;
    s_run_t run;
    if (s_system_start (&system, set->dir, dir, set->name, err, sizeof err)) {
        ff_bench_fail (bench, "%s: %s", set->name, err);
        return -1;
    }
    int rc = s_run (&system, text, text_size, "Plan_1.txt", &run, err, sizeof err);
    if (rc == 0) {
        snprintf (prefix, sizeof prefix, "%s.txt.cold", set->name);
        s_record_run (bench, prefix, &run, baseline, cpu_baseline, NULL, false);
    }
    if (rc == 0 && !smoke) {
        rc = s_run (&system, text, text_size, "Plan_1.txt", &run, err, sizeof err);
        if (rc == 0) {
            char cold [128];
            snprintf (cold, sizeof cold, "%s.txt.cold.wall", set->name);
            snprintf (prefix, sizeof prefix, "%s.txt.cache", set->name);
            s_record_run (bench, prefix, &run, baseline, cpu_baseline, cold, false);
        }
    }
    s_system_stop (&system, rss);
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        snprintf (name, sizeof name, "%s.txt.rss.%s", set->name, rss_names [i]);
        ff_bench_recordf (bench, name, rss [i], "MB", NULL, "VmHWM after the runs");
    }
    if (rc) {
        ff_bench_fail (bench, "%s: %s", set->name, err);
        return -1;
    }
    if (smoke || !pdf)
        return 0;

    //  Fresh services, the PDF.
    char tag [64];
    snprintf (tag, sizeof tag, "%s-pdf", set->name);
    if (s_system_start (&system, set->dir, dir, tag, err, sizeof err)) {
        ff_bench_fail (bench, "%s: %s", set->name, err);
        return -1;
    }
    rc = s_run (&system, pdf, pdf_size, "Plan_1.pdf", &run, err, sizeof err);
    s_system_stop (&system, rss);
    if (rc) {
        ff_bench_fail (bench, "%s: pdf: %s", set->name, err);
        return -1;
    }
    snprintf (prefix, sizeof prefix, "%s.pdf.cold", set->name);
    s_record_run (bench, prefix, &run, baseline, cpu_baseline, NULL, true);
    for (size_t i = 0; i < 3; i++) {
        snprintf (name, sizeof name, "%s.pdf.rss.%s", set->name, rss_names [i]);
        ff_bench_recordf (bench, name, rss [i], "MB", NULL, "VmHWM after the run");
    }
    return 0;
}

int
main (int argc, char **argv)
{
    int exit_code = 0;
    ff_bench_t *bench = ff_bench_start ("pipeline", argc, argv, &exit_code);
    if (!bench)
        return exit_code;
    zsys_init ();
    zsys_set_logstream (NULL);
    size_t text_size = 0, pdf_size = 0;
    char *text = s_read (S_PLAN_TXT, &text_size);
    if (!text) {
        printf ("bench_pipeline: %s absent: nothing measured\n", S_PLAN_TXT);
        ff_bench_destroy (&bench);
        return 0;
    }
    bool smoke = ff_bench_scale (bench) < 0.1;
    size_t reps = ff_bench_scaled (bench, 5, 1);
    const char *which = getenv ("FF_BENCH_PIPELINE_SETS");
    if (!which || !*which)
        which = "both";
    char *pdf = (!smoke && access (S_PDFTOTEXT, X_OK) == 0) ? s_read (S_PLAN_PDF, &pdf_size) : NULL;
    char *dir = ff_bench_dir_new ("pipeline");
    char loadavg [64] = "";
    FILE *file = fopen ("/proc/loadavg", "r");
    if (file) {
        if (!fgets (loadavg, sizeof loadavg, file))
            *loadavg = '\0';
        loadavg [strcspn (loadavg, "\n")] = '\0';
        fclose (file);
    }
    if (!dir)
        ff_bench_fail (bench, "no scratch directory: %s", strerror (errno));

    //  pdftotext, the conversion's reference.
    if (dir && pdf) {
        ff_bench_samples_t *samples = ff_bench_samples_new (reps);
        char out [600], log [600];
        snprintf (out, sizeof out, "%s/pdftotext.txt", dir);
        snprintf (log, sizeof log, "%s/pdftotext.log", dir);
        char *pdf_argv [] = { "pdftotext", "-layout", "-enc", "UTF-8", S_PLAN_PDF, out, NULL };
        for (size_t r = 0; r < reps; r++) {
            uint64_t ns = s_run_program (S_PDFTOTEXT, pdf_argv, log, S_REPLY_MS);
            if (!ns) {
                ff_bench_fail (bench, "pdftotext failed (%s)", log);
                break;
            }
            ff_bench_samples_add (samples, ns);
        }
        if (ff_bench_samples_count (samples) == reps)
            ff_bench_recordf (bench, "pdftotext", (double) ff_bench_samples_percentile (samples, 50) / 1e6,
                              "ms", NULL, "Plan_1.pdf, 78 pages, -layout; median of %zu; load %s",
                              reps, loadavg);
        ff_bench_samples_destroy (&samples);
    }

    s_set_t sets [2] = { { "default", S_DEFAULT_SET }, { "imported", NULL } };
    char imported [600] = "";
    if (dir && !smoke && (streq (which, "both") || streq (which, "imported"))) {
        snprintf (imported, sizeof imported, "%s/imported-set", dir);
        char program [512], log [600];
        snprintf (program, sizeof program, "%s/services/farfanctl", FF_BENCH_BUILD_ROOT);
        snprintf (log, sizeof log, "%s/import.log", dir);
        char *import_argv [] = { "farfanctl", "contracts", "import", "--farfan", S_UPSTREAM,
                                 "--out", imported, "--source", S_SOURCE, NULL };
        uint64_t ns = s_run_program (program, import_argv, log, S_RUN_MS);
        if (ns) {
            ff_bench_recordf (bench, "imported.import", (double) ns / 1e6, "ms", NULL,
                              "farfanctl contracts import of the upstream questionnaire");
            sets [1].dir = imported;
        }
        else
            ff_bench_fail (bench, "farfanctl contracts import failed (%s)", log);
    }
    for (size_t s = 0; dir && s < 2; s++) {
        if (!sets [s].dir || !(streq (which, "both") || streq (which, sets [s].name)))
            continue;
        s_bench_set (bench, &sets [s], dir, text, text_size, pdf, pdf_size, smoke, reps);
    }
    int rc = ff_bench_finish (bench);
    if (rc)
        fprintf (stderr, "bench_pipeline: service logs kept in %s\n", dir);
    else
        ff_bench_dir_destroy (&dir);
    free (dir);
    free (text);
    free (pdf);
    ff_bench_destroy (&bench);
    return rc ? 1 : 0;
}
