/*  fuzz_rpc — libFuzzer target: the control plane's request path, end to
    end, in one process: frames -> ff_msg_decode (envelope) -> ff_rpc
    dispatch -> every handler of the factory's direct socket, the
    orchestrator's client and worker sockets (with the worker registry's
    observer) and SISAS's control socket -> each handler's body decode and
    its reply.

    The three services run as their real actors (fac_server_actor,
    orc_server_actor, sis_server_actor), bound on inproc:// endpoints, with
    no links between them (a factory without orchestrator, an orchestrator
    without factories, no signal publishers). The harness holds one DEALER
    per socket. For every input it sends one message, then a PING on the
    same socket, and waits for that PING's PONG (skipping whatever else
    comes back): the message has been handled when the PONG arrives, and a
    service that stops answering is a failure (abort after
    S_SYNC_TIMEOUT_MS + S_STALL_MS, which libFuzzer reports with the
    input; a PONG later than S_SYNC_TIMEOUT_MS is logged as a STALL).

    Input (see README.md):
      byte 0        selector: bits 0-1 the socket (0 factory direct,
                    1 orchestrator client, 2 orchestrator worker, 3 SISAS
                    control); bit 2 the mode
      mode 0 typed  byte 1: message type, an index into every value of
                    farfan.MessageType; byte 2: envelope variations (bit 0
                    no correlation id, bit 1 a status code, bit 2 protocol
                    version 0 — sent as raw frames); the rest is the body
      mode 1 raw    the rest is frames, each [length: 2 bytes LE][bytes]
                    (a length beyond the input takes what is left), at most
                    S_FRAMES_MAX frames; none = one empty frame

    The services are restarted every FARFAN_FUZZ_RPC_RESTART inputs
    (default 20000) so their state (runs, documents, vehicles) stays
    bounded in long runs; each restart also checks everything they held is
    freed (LeakSanitizer at the end, libFuzzer's -detect_leaks meanwhile).
*/
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.pb-c.h"
#include "fac_server.h"
#include "ff_clock.h"
#include "ff_config.h"
#include "ff_log.h"
#include "ff_msg.h"
#include "orc_server.h"
#include "sis_server.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_SOCKETS           4
#define S_FRAMES_MAX        8
#define S_SYNC_TIMEOUT_MS   15000
//  After S_SYNC_TIMEOUT_MS without a PONG: "STALL" on stderr, and this much
//  longer before the service is taken for stuck (abort). run.sh gives
//  libFuzzer a -timeout above the sum.
#define S_STALL_MS          45000

static const struct {
    const char *name;
    const ff_daemon_t *daemon;
} s_kinds [3] = {
    { "factory", &fac_daemon },
    { "orchestrator", &orc_daemon },
    { "sisas", &sis_daemon },
};

//  The sockets fuzzed: which service, its inproc endpoint (followed by
//  "-<generation>": a restart binds new names, because libzmq releases an
//  inproc name only when the closed socket has been reaped, asynchronously).
static const struct {
    int kind;
    const char *endpoint;
} s_targets [S_SOCKETS] = {
    { 0, "inproc://fuzz-factory-direct" },
    { 1, "inproc://fuzz-orchestrator-client" },
    { 1, "inproc://fuzz-orchestrator-worker" },
    { 2, "inproc://fuzz-sisas-control" },
};

static struct {
    zactor_t *actors [3];
    void *configs [3];
    zsock_t *dealers [S_SOCKETS];
    char data_dir [256];
    uint64_t inputs;                // since the services started
    unsigned generation;            // services started so far
    uint64_t restart_every;
    uint64_t sync_sequence;
} s_state;

static void
s_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "fuzz_rpc: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    abort ();
}

static void
s_remove_dir (const char *path)
{
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (!strcmp (entry->d_name, ".") || !strcmp (entry->d_name, ".."))
            continue;
        char child [512];
        snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
        unlink (child);
    }
    if (dir)
        closedir (dir);
    rmdir (path);
}

static void
s_services_start (void)
{
    //  The orchestrator's store in FARFAN_FUZZ_SCRATCH (run.sh: its own
    //  directory, removed after, even when the target aborted), else on
    //  tmpfs when there is one: its commits are fsynced, and a disk would
    //  make them the bottleneck.
    const char *scratch = getenv ("FARFAN_FUZZ_SCRATCH");
    if (!scratch || !*scratch)
        scratch = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf (s_state.data_dir, sizeof s_state.data_dir, "%s/farfan-fuzz-rpc-XXXXXX", scratch);
    if (!mkdtemp (s_state.data_dir))
        s_fail ("cannot create %s", s_state.data_dir);
    const char *contracts = FF_FUZZ_SOURCE_ROOT "/tests/data/contracts/valid";
    unsigned generation = ++s_state.generation;
    char binds [6][96];
    const char *names [6] = { "fuzz-factory-direct", "fuzz-orchestrator-client",
                              "fuzz-orchestrator-worker", "fuzz-sisas-ingest",
                              "fuzz-sisas-publish", "fuzz-sisas-control" };
    for (int i = 0; i < 6; i++)
        snprintf (binds [i], sizeof binds [i], "@inproc://%s-%u", names [i], generation);
    char *const args [3][24] = {
        { "factory", "--endpoint", binds [0],
          "--orchestrator-endpoint", "", "--sisas-endpoint", "", "--http-port", "0",
          "--log-level", "error", "--contracts-dir", (char *) contracts, "--max-workers", "1",
          NULL },
        { "orchestrator", "--client-endpoint", binds [1],
          "--worker-endpoint", binds [2], "--sisas-endpoint", "",
          "--http-port", "0", "--log-level", "error", "--data-dir", s_state.data_dir,
          "--pdftotext", "/bin/false", "--snapshot-interval-ms", "0", NULL },
        { "sisas", "--ingest-endpoint", binds [3],
          "--publish-endpoint", binds [4],
          "--control-endpoint", binds [5], "--http-port", "0",
          "--log-level", "error", NULL },
    };
    for (int k = 0; k < 3; k++) {
        int argc = 0;
        while (args [k][argc])
            argc++;
        s_state.configs [k] = zmalloc (s_kinds [k].daemon->config_size);
        char err [512] = "";
        if (ff_config_load (s_kinds [k].daemon->schema, s_state.configs [k], argc, (char **) args [k],
                            stdout, err, sizeof err) != FF_CONFIG_LOADED)
            s_fail ("config: %s", err);
        void *server = s_kinds [k].daemon->server_new (s_state.configs [k], err, sizeof err);
        if (!server)
            s_fail ("cannot start: %s", err);
        s_state.actors [k] = zactor_new (s_kinds [k].daemon->actor, server);
        if (!s_state.actors [k])
            s_fail ("cannot start the %s actor", s_kinds [k].name);
    }
    for (int s = 0; s < S_SOCKETS; s++) {
        s_state.dealers [s] = zsock_new (ZMQ_DEALER);
        zsock_set_rcvtimeo (s_state.dealers [s], S_SYNC_TIMEOUT_MS);
        zsock_set_sndtimeo (s_state.dealers [s], S_SYNC_TIMEOUT_MS);
        zsock_set_linger (s_state.dealers [s], 0);
        if (zsock_connect (s_state.dealers [s], "%s-%u", s_targets [s].endpoint, generation) != 0)
            s_fail ("cannot connect to %s-%u", s_targets [s].endpoint, generation);
    }
    s_state.inputs = 0;
}

static void
s_services_stop (void)
{
    for (int s = 0; s < S_SOCKETS; s++)
        zsock_destroy (&s_state.dealers [s]);
    for (int k = 2; k >= 0; k--) {
        zactor_destroy (&s_state.actors [k]);
        if (s_state.configs [k]) {
            ff_config_free (s_kinds [k].daemon->schema, s_state.configs [k]);
            free (s_state.configs [k]);
            s_state.configs [k] = NULL;
        }
    }
    if (*s_state.data_dir)
        s_remove_dir (s_state.data_dir);
    *s_state.data_dir = 0;
}

static void
s_at_exit (void)
{
    s_services_stop ();
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    //  libFuzzer handles SIGINT / SIGTERM itself.
    zsys_handler_set (NULL);
    zsys_set_logsystem (false);
    ff_log_init ("fuzz_rpc", FF_LOG_ERROR);
    const char *every = getenv ("FARFAN_FUZZ_RPC_RESTART");
    s_state.restart_every = every && atoll (every) > 0 ? (uint64_t) atoll (every) : 20000;
    s_services_start ();
    atexit (s_at_exit);
    return 0;
}

//  Prints every thread's stack (gdb, when installed) to stderr: what a
//  service that stopped answering was doing.
static void
s_dump_threads (void)
{
    if (access ("/usr/bin/gdb", X_OK) != 0)
        return;
    char command [128];
    snprintf (command, sizeof command,
              "/usr/bin/gdb -p %d -batch -ex 'thread apply all bt' >&2 2>/dev/null",
              (int) getpid ());
    fprintf (stderr, "fuzz_rpc: the threads' stacks:\n");
    if (system (command) != 0)
        fprintf (stderr, "fuzz_rpc: gdb could not attach\n");
}

//  Sends every frame of the message (true), or none (false: the socket did
//  not take the first within its send timeout). libFuzzer's timer signal
//  interrupting a frame is retried, so a message is never left half sent
//  (a half-sent one would swallow the next message's frames). Destroys
//  the message.
static bool
s_send_whole (zsock_t *dealer, zmsg_t **msg_p)
{
    void *handle = zsock_resolve (dealer);
    size_t count = zmsg_size (*msg_p);
    size_t sent = 0;
    for (zframe_t *frame = zmsg_first (*msg_p); frame; frame = zmsg_next (*msg_p), sent++) {
        int flags = sent + 1 < count ? ZMQ_SNDMORE : 0;
        int rc;
        while ((rc = zmq_send (handle, zframe_data (frame), zframe_size (frame), flags)) == -1
           &&  zmq_errno () == EINTR)
            ;
        if (rc == -1 && sent == 0)
            break;
    }
    zmsg_destroy (msg_p);
    return sent > 0;
}

//  Queues a PING on the socket. A service that does not take it within
//  S_SYNC_TIMEOUT_MS is reported (STALL, with the threads' stacks) and
//  given S_STALL_MS more; then the harness fails. What came back meanwhile
//  (replies to earlier messages) is dropped.
static void
s_send_ping (zsock_t *dealer, const char *correlation)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = FF_PROTOCOL_VERSION;
    envelope.type = FARFAN__MESSAGE_TYPE__PING;
    envelope.correlation_id = (char *) correlation;
    uint8_t packed [128];
    size_t size = farfan__envelope__pack (&envelope, packed);
    uint64_t started = ff_clock_mono_us ();
    bool late = false;
    while (true) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, packed, size);
        zmsg_addmem (msg, NULL, 0);
        if (s_send_whole (dealer, &msg))
            break;
        zmsg_t *pending;
        while ((pending = zmsg_recv_nowait (dealer)))
            zmsg_destroy (&pending);
        uint64_t waited_ms = (ff_clock_mono_us () - started) / 1000;
        if (!late && waited_ms >= S_SYNC_TIMEOUT_MS) {
            fprintf (stderr, "fuzz_rpc: STALL: the service took no PING within %d ms (%s): %s; "
                     "waiting %d ms more\n", S_SYNC_TIMEOUT_MS, correlation,
                     zmq_strerror (zmq_errno ()), S_STALL_MS);
            s_dump_threads ();
            late = true;
        }
        if (waited_ms >= S_SYNC_TIMEOUT_MS + S_STALL_MS)
            s_fail ("the service took no PING within %d ms (%s): it stopped reading",
                    S_SYNC_TIMEOUT_MS + S_STALL_MS, correlation);
    }
    if (late)
        fprintf (stderr, "fuzz_rpc: STALL: the PING was taken after %.1f s\n",
                 (double) (ff_clock_mono_us () - started) / 1e6);
}

//  Sends a PING on the socket and waits for its PONG; everything else that
//  comes back (replies to the fuzzed message, streams, WELCOME...) is
//  dropped.
static void
s_sync (zsock_t *dealer)
{
    char correlation [32];
    snprintf (correlation, sizeof correlation, "sync-%llu",
              (unsigned long long) ++s_state.sync_sequence);
    s_send_ping (dealer, correlation);
    ff_msg_t *reply = ff_msg_new ();
    uint64_t started = ff_clock_mono_us ();
    bool late = false;
    while (true) {
        int rc = ff_msg_recv (reply, dealer);
        uint64_t waited_ms = (ff_clock_mono_us () - started) / 1000;
        if (rc == -1 && zmq_errno () == EINTR
        &&  waited_ms < (uint64_t) (late ? S_SYNC_TIMEOUT_MS + S_STALL_MS : S_SYNC_TIMEOUT_MS))
            continue;               //  libFuzzer's timer signal (SIGALRM): not a timeout
        if (rc == -1 && !late) {
            //  Slow, or stuck? Wait as long again, then say which.
            fprintf (stderr, "fuzz_rpc: STALL: no PONG within %d ms (%s), waiting %d ms more\n",
                     S_SYNC_TIMEOUT_MS, correlation, S_STALL_MS);
            s_dump_threads ();
            zsock_set_rcvtimeo (dealer, S_STALL_MS);
            late = true;
            continue;
        }
        if (rc == -1)
            s_fail ("no PONG within %d ms (%s): the service stopped answering",
                    S_SYNC_TIMEOUT_MS + S_STALL_MS, correlation);
        if (rc == 0 && ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__PONG
        &&  !strcmp (ff_msg_correlation_id (reply), correlation))
            break;
    }
    if (late) {
        fprintf (stderr, "fuzz_rpc: STALL: the PONG came after %.1f s\n",
                 (double) (ff_clock_mono_us () - started) / 1e6);
        zsock_set_rcvtimeo (dealer, S_SYNC_TIMEOUT_MS);
    }
    ff_msg_destroy (&reply);
}

//  The value of farfan.MessageType number `index` (mod their count).
static uint32_t
s_type (uint8_t index)
{
    const ProtobufCEnumDescriptor *types = &farfan__message_type__descriptor;
    return (uint32_t) types->values [index % types->n_values].value;
}

static void
s_send_typed (zsock_t *dealer, const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    uint32_t type = s_type (data [0]);
    uint8_t variant = data [1];
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    Farfan__Status status = FARFAN__STATUS__INIT;
    envelope.version = variant & 4 ? 0 : FF_PROTOCOL_VERSION;
    envelope.type = (Farfan__MessageType) type;
    envelope.correlation_id = variant & 1 ? "" : "fuzz";
    envelope.sender_id = "fuzz";
    if (variant & 2) {
        status.code = FARFAN__ERROR_CODE__MALFORMED;
        status.message = "fuzz";
        envelope.status = &status;
    }
    uint8_t packed [256];
    size_t packed_size = farfan__envelope__pack (&envelope, packed);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, packed, packed_size);
    zmsg_addmem (msg, data + 2, size - 2);
    s_send_whole (dealer, &msg);
}

static void
s_send_raw (zsock_t *dealer, const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    size_t at = 0;
    while (at + 2 <= size && zmsg_size (msg) < S_FRAMES_MAX) {
        size_t length = (size_t) data [at] | (size_t) data [at + 1] << 8;
        at += 2;
        if (length > size - at)
            length = size - at;
        zmsg_addmem (msg, data + at, length);
        at += length;
    }
    if (zmsg_size (msg) == 0)
        zmsg_addmem (msg, NULL, 0);
    s_send_whole (dealer, &msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (s_state.inputs >= s_state.restart_every) {
        s_services_stop ();
        s_services_start ();
    }
    s_state.inputs++;
    zsock_t *dealer = s_state.dealers [data [0] & 3];
    if (data [0] & 4)
        s_send_raw (dealer, data + 1, size - 1);
    else
        s_send_typed (dealer, data + 1, size - 1);
    s_sync (dealer);
    return 0;
}
