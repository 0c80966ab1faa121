/*  farfanctl run | status | results | report | cancel | runs | factories:
    the real binary against a real orchestrator and factory started
    in-process (contracts written by each test to a temporary directory),
    and against a scripted orchestrator where a real one cannot be made to
    misbehave on cue (a silent WATCH stream, a lost final PROGRESS, a
    restart mid-watch, an orchestrator that stops answering). Human output
    off a terminal and on one (a pseudo-terminal), --json, every exit code. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "factory.pb-c.h"
#include "ff_msg.h"
#include "ff_test.h"
#include "orchestrator.pb-c.h"

extern char **environ;

//  ---------------------------------------------------------------------
//  Files

static const char *s_text =
    "Diagnóstico: según el DANE (2019) y Medicina Legal (2020), la tasa de violencia "
    "aumentó en la zona rural. El dane confirma la tendencia de 2021.\n";

//  A new temporary directory; removed with s_dir_remove.
static char *
s_dir_new (void)
{
    char *dir = strdup ("/tmp/farfan-ctl-run-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    return dir;
}

//  Writes dir/name; returns the path (caller frees).
static char *
s_write (const char *dir, const char *name, const void *data, size_t size)
{
    char *path = zsys_sprintf ("%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file, "%s", path);
    cr_assert_eq (fwrite (data, 1, size, file), size);
    fclose (file);
    return path;
}

//  Removes dir and everything in it (one level of subdirectories).
static void
s_dir_remove (char **dir_p)
{
    DIR *dir = opendir (*dir_p);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
            continue;
        char *path = zsys_sprintf ("%s/%s", *dir_p, entry->d_name);
        struct stat info;
        if (stat (path, &info) == 0 && S_ISDIR (info.st_mode))
            s_dir_remove (&path);
        else {
            unlink (path);
            zstr_free (&path);
        }
    }
    if (dir)
        closedir (dir);
    rmdir (*dir_p);
    free (*dir_p);
    *dir_p = NULL;
}

//  ---------------------------------------------------------------------
//  farfanctl

//  Starts farfanctl ARGS... (NULL-terminated) without waiting for it.
static ff_test_process_t *
s_ctl_start (const char *first, ...)
{
    va_list args;
    va_start (args, first);
    //  first is argv[1]: put it back in front.
    char *argv [48];
    int argc = 0;
    argv [argc++] = "farfanctl";
    argv [argc++] = (char *) first;
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 47)
        argv [argc++] = arg;
    argv [argc] = NULL;
    va_end (args);
    char program [512];
    return ff_test_spawn (ff_test_build_path ("services/farfanctl", program, sizeof program),
                          argv, NULL);
}

//  Runs farfanctl ARGS... (NULL-terminated) to completion.
static ff_test_process_t *
s_ctl (const char *first, ...)
{
    va_list args;
    va_start (args, first);
    char *argv [48];
    int argc = 0;
    argv [argc++] = "farfanctl";
    argv [argc++] = (char *) first;
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 47)
        argv [argc++] = arg;
    argv [argc] = NULL;
    va_end (args);
    char program [512];
    ff_test_process_t *process = ff_test_spawn (ff_test_build_path ("services/farfanctl",
                                                                    program, sizeof program),
                                                argv, NULL);
    cr_assert_neq (ff_test_process_wait_exit (process, 60000), -1, "farfanctl did not finish");
    return process;
}

#define S_OUT(process) ff_test_process_stdout (process)
#define S_ERR(process) ff_test_process_stderr (process)

//  Waits for the process and asserts its exit code, showing the output
//  when it is not the one expected.
#define S_ASSERT_EXIT(process, expected) do { \
        int s_exit_ = ff_test_process_wait_exit ((process), 60000); \
        cr_assert_eq (s_exit_, (expected), "exit %d, not %d\nstdout:\n%s\nstderr:\n%s", \
                      s_exit_, (expected), S_OUT (process), S_ERR (process)); \
    } while (0)

#define S_ASSERT_HAS(text, needle) \
    cr_assert (strstr ((text), (needle)), "no \"%s\" in:\n%s", (needle), (text))
#define S_ASSERT_HAS_NOT(text, needle) \
    cr_assert (!strstr ((text), (needle)), "\"%s\" in:\n%s", (needle), (text))

//  The process's stdout as one JSON value.
static json_t *
s_json (ff_test_process_t *process)
{
    json_error_t error;
    json_t *json = json_loads (S_OUT (process), 0, &error);
    cr_assert_not_null (json, "stdout is not JSON (%s):\n%s", error.text, S_OUT (process));
    return json;
}

//  Every line of stdout as JSON, in an array.
static json_t *
s_json_lines (ff_test_process_t *process)
{
    json_t *lines = json_array ();
    const char *start = S_OUT (process);
    while (*start) {
        const char *end = strchr (start, '\n');
        cr_assert_not_null (end, "an unterminated line: %s", start);
        json_error_t error;
        json_t *line = json_loadb (start, (size_t) (end - start), 0, &error);
        cr_assert_not_null (line, "not a JSON line (%s): %.*s", error.text, (int) (end - start),
                            start);
        json_array_append_new (lines, line);
        start = end + 1;
    }
    return lines;
}

static const char *
s_string (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    cr_assert (json_is_string (value), "\"%s\" is not a string", key);
    return json_string_value (value);
}

static json_int_t
s_integer (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    cr_assert (json_is_integer (value), "\"%s\" is not an integer", key);
    return json_integer_value (value);
}

//  Lines of text containing needle.
static int
s_count_lines (const char *text, const char *needle)
{
    int count = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen (line);
        char *copy = strndup (line, length);
        if (strstr (copy, needle))
            count++;
        free (copy);
        if (!end)
            break;
        line = end + 1;
    }
    return count;
}

//  An endpoint nothing listens on, and nothing else can take while *fd
//  stays open: a TCP socket bound to the port without listening (and
//  without SO_REUSEADDR, so no other bind shares it) refuses connections.
//  Close *fd when done.
static char *
s_unused_endpoint (int *fd)
{
    *fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq (*fd, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (*fd, (struct sockaddr *) &address, sizeof address), 0);
    socklen_t length = sizeof address;
    cr_assert_eq (getsockname (*fd, (struct sockaddr *) &address, &length), 0);
    return zsys_sprintf ("tcp://127.0.0.1:%d", ntohs (address.sin_port));
}

//  ---------------------------------------------------------------------
//  farfanctl on a pseudo-terminal

typedef struct {
    pid_t pid;
    int master;                 // the terminal's other side
    char *output;               // everything written so far
    size_t size;
    int code;                   // exit code once reaped, -1 before
} s_tty_t;

//  Starts farfanctl ARGS... (NULL-terminated) on a new pseudo-terminal
//  (100 columns) with LANG=lang.
static s_tty_t *
s_tty_start (const char *lang, ...)
{
    s_tty_t *self = (s_tty_t *) zmalloc (sizeof (s_tty_t));
    self->output = (char *) zmalloc (1);
    self->code = -1;
    char *argv [48];
    int argc = 0;
    argv [argc++] = "farfanctl";
    va_list args;
    va_start (args, lang);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 47)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    char program [512];
    ff_test_build_path ("services/farfanctl", program, sizeof program);
    //  The environment is built before the fork: the child only execs.
    size_t count = 0;
    while (environ [count])
        count++;
    char **envp = (char **) zmalloc ((count + 3) * sizeof (char *));
    size_t kept = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp (environ [i], "LANG=", 5) && strncmp (environ [i], "LC_", 3))
            envp [kept++] = environ [i];
    char *lang_entry = zsys_sprintf ("LANG=%s", lang);
    envp [kept++] = lang_entry;
    struct winsize size = { .ws_row = 40, .ws_col = 100 };
    pid_t parent = getpid ();
    self->pid = forkpty (&self->master, NULL, NULL, &size);
    cr_assert_neq (self->pid, -1, "forkpty: %s", strerror (errno));
    if (self->pid == 0) {
        //  Dies with the test process (Criterion SIGKILLs a timed-out one).
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
            _exit (127);
        execve (program, argv, envp);
        _exit (127);
    }
    free (envp);
    zstr_free (&lang_entry);
    return self;
}

//  Reads what the terminal shows until the process ends (up to 30 s).
//  Returns the exit code.
static int
s_tty_wait (s_tty_t *self)
{
    int64_t deadline = zclock_mono () + 30000;
    while (zclock_mono () < deadline) {
        struct pollfd item = { self->master, POLLIN, 0 };
        if (poll (&item, 1, 100) > 0) {
            char buffer [4096];
            ssize_t got = read (self->master, buffer, sizeof buffer);
            if (got <= 0)
                break;          //  EIO: the terminal's last user is gone
            self->output = (char *) realloc (self->output, self->size + (size_t) got + 1);
            memcpy (self->output + self->size, buffer, (size_t) got);
            self->size += (size_t) got;
            self->output [self->size] = '\0';
        }
    }
    int status = 0;
    cr_assert_eq (waitpid (self->pid, &status, 0), self->pid);
    self->code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    return self->code;
}

static void
s_tty_destroy (s_tty_t **self_p)
{
    s_tty_t *self = *self_p;
    if (self->code == -1) {
        kill (self->pid, SIGKILL);
        waitpid (self->pid, NULL, 0);
    }
    close (self->master);
    free (self->output);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  A scripted orchestrator: the test plays the client API's ROUTER

typedef struct {
    zsock_t *router;
    char *endpoint;             // connectable
} s_fake_t;

//  Binds a ROUTER on 127.0.0.1 (port 0 = ephemeral).
static s_fake_t *
s_fake_new (int port)
{
    s_fake_t *self = (s_fake_t *) zmalloc (sizeof (s_fake_t));
    self->router = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (self->router);
    zsock_set_linger (self->router, 0);
    int bound = port ? zsock_bind (self->router, "tcp://127.0.0.1:%d", port)
                     : zsock_bind (self->router, "tcp://127.0.0.1:*");
    //  The same port again: the last ROUTER's listener closes in the
    //  background (zmq_close is asynchronous); try until it has.
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while (bound < 0 && port && zmq_errno () == EADDRINUSE && zclock_mono () < deadline) {
        zsock_t *idle = zsock_new (ZMQ_PULL);
        zpoller_t *poller = zpoller_new (idle, NULL);
        zpoller_wait (poller, 10);
        zpoller_destroy (&poller);
        zsock_destroy (&idle);
        bound = zsock_bind (self->router, "tcp://127.0.0.1:%d", port);
    }
    cr_assert_gt (bound, 0, "bind: %s", zmq_strerror (zmq_errno ()));
    self->endpoint = zsys_sprintf ("tcp://127.0.0.1:%d", bound);
    return self;
}

static int
s_fake_port (s_fake_t *self)
{
    return atoi (strrchr (self->endpoint, ':') + 1);
}

static void
s_fake_destroy (s_fake_t **self_p)
{
    s_fake_t *self = *self_p;
    zsock_destroy (&self->router);
    zstr_free (&self->endpoint);
    free (self);
    *self_p = NULL;
}

//  The next orchestrator client request within ms, or NULL. Anything
//  else is dropped: suites run in parallel, and a client of another
//  suite retrying an endpoint it found free (a port since given to this
//  ROUTER by the kernel) may knock here with factory or SISAS requests.
static ff_msg_t *
s_fake_next (s_fake_t *self, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    ff_msg_t *request = ff_msg_new ();
    while (zclock_mono () < deadline) {
        zsock_set_rcvtimeo (self->router, (int) (deadline - zclock_mono ()) + 1);
        int rc = ff_msg_recv (request, self->router);
        if (rc == -1)
            break;              //  timed out
        uint32_t type = rc == 0 ? ff_msg_type (request) : 0;
        if (type >= FARFAN__MESSAGE_TYPE__SUBMIT && type < FARFAN__MESSAGE_TYPE__READY)
            return request;
    }
    ff_msg_destroy (&request);
    return NULL;
}

//  The next request; asserts it comes within the test timeout and is of
//  `type`. Caller destroys.
static ff_msg_t *
s_fake_expect (s_fake_t *self, uint32_t type)
{
    ff_msg_t *request = s_fake_next (self, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (request, "no %s came", ff_msg_type_name (type));
    cr_assert_eq (ff_msg_type (request), type, "%s came, not %s",
                  ff_msg_type_name (ff_msg_type (request)), ff_msg_type_name (type));
    return request;
}

//  True when no request comes within ms.
static bool
s_fake_quiet (s_fake_t *self, int ms)
{
    ff_msg_t *request = s_fake_next (self, ms);
    bool quiet = request == NULL;
    ff_msg_destroy (&request);
    return quiet;
}

static void
s_fake_reply (s_fake_t *self, const ff_msg_t *request, uint32_t type,
              const ProtobufCMessage *body)
{
    ff_msg_header_t header = { .type = type, .correlation_id = ff_msg_correlation_id (request),
                               .sender_id = "scripted-orchestrator" };
    cr_assert_eq (ff_msg_send (self->router, ff_msg_routing_id (request),
                               ff_msg_has_delimiter (request), &header, body), 0);
}

static void
s_fake_error (s_fake_t *self, const ff_msg_t *request, uint32_t code, const char *message)
{
    Farfan__ErrorReply error = FARFAN__ERROR_REPLY__INIT;
    error.request_type = (Farfan__MessageType) ff_msg_type (request);
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__ERROR,
                               .correlation_id = ff_msg_correlation_id (request),
                               .sender_id = "scripted-orchestrator",
                               .status_code = code, .status_message = message };
    cr_assert_eq (ff_msg_send (self->router, ff_msg_routing_id (request),
                               ff_msg_has_delimiter (request), &header, &error.base), 0);
}

//  The request's body as a SubmitRun (caller frees).
static Farfan__SubmitRun *
s_submit_body (const ff_msg_t *request)
{
    Farfan__SubmitRun *submit = farfan__submit_run__unpack (NULL, ff_msg_body_size (request),
                                                            ff_msg_body_data (request));
    cr_assert_not_null (submit);
    return submit;
}

static void
s_fake_submitted (s_fake_t *self, const ff_msg_t *request, const char *run_id)
{
    Farfan__Submitted submitted = FARFAN__SUBMITTED__INIT;
    submitted.run_id = (char *) run_id;
    submitted.state = FARFAN__RUN_STATE__RUN_QUEUED;
    s_fake_reply (self, request, FARFAN__MESSAGE_TYPE__SUBMITTED, &submitted.base);
}

//  One phase of a scripted status.
typedef struct {
    const char *phase;
    Farfan__PhaseState state;
    uint32_t total;
    uint32_t done;
    uint32_t failed;
} s_phase_t;

//  Sends a RunStatus (PROGRESS, RUN_STATUS or CANCELLED) for run-1 with
//  `phases` (count), the run's state and error.
static void
s_fake_status (s_fake_t *self, const ff_msg_t *request, uint32_t type, Farfan__RunState state,
               const char *error, const s_phase_t *phases, size_t count)
{
    Farfan__RunStatus status = FARFAN__RUN_STATUS__INIT;
    status.run_id = "run-1";
    status.name = "plan.txt";
    status.state = state;
    status.error = (char *) (error ? error : "");
    Farfan__PhaseStatus items [10], *pointers [10];
    uint64_t now = (uint64_t) zclock_time () * 1000;
    status.submitted_at_us = now - 2000000;
    if (state == FARFAN__RUN_STATE__RUN_SUCCEEDED || state == FARFAN__RUN_STATE__RUN_FAILED
    ||  state == FARFAN__RUN_STATE__RUN_CANCELLED)
        status.ended_at_us = now;
    for (size_t i = 0; i < count; i++) {
        farfan__phase_status__init (&items [i]);
        items [i].phase = (char *) phases [i].phase;
        items [i].state = phases [i].state;
        items [i].total = phases [i].total;
        items [i].done = phases [i].done;
        items [i].failed = phases [i].failed;
        if (phases [i].state != FARFAN__PHASE_STATE__PHASE_PENDING)
            items [i].started_at_us = now - 1000000;
        if (phases [i].state == FARFAN__PHASE_STATE__PHASE_SUCCEEDED
        ||  phases [i].state == FARFAN__PHASE_STATE__PHASE_FAILED)
            items [i].ended_at_us = now;
        if (phases [i].state == FARFAN__PHASE_STATE__PHASE_RUNNING)
            status.current_phase = (char *) phases [i].phase;
        status.total += phases [i].total;
        status.done += phases [i].done;
        pointers [i] = &items [i];
    }
    status.phases = pointers;
    status.n_phases = count;
    s_fake_reply (self, request, type, &status.base);
}

//  Runs `farfanctl run FILE --endpoint E --wait ARGS...` against fake and
//  answers its SUBMIT with run-1. Returns the process and the WATCH.
static ff_test_process_t *
s_fake_run (s_fake_t *fake, const char *file, ff_msg_t **watch_p, ...)
{
    char *argv [40];
    int argc = 0;
    argv [argc++] = "run";
    argv [argc++] = (char *) file;
    argv [argc++] = "--endpoint";
    argv [argc++] = fake->endpoint;
    argv [argc++] = "--wait";
    va_list args;
    va_start (args, watch_p);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 38)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    ff_test_process_t *process = s_ctl_start (argv [0], argv [1], argv [2], argv [3], argv [4],
                                              argc > 5 ? argv [5] : NULL,
                                              argc > 6 ? argv [6] : NULL,
                                              argc > 7 ? argv [7] : NULL,
                                              argc > 8 ? argv [8] : NULL,
                                              argc > 9 ? argv [9] : NULL, NULL);
    cr_assert_leq (argc, 10);
    ff_msg_t *submit = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    s_fake_submitted (fake, submit, "run-1");
    ff_msg_destroy (&submit);
    *watch_p = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__WATCH);
    Farfan__RunRef *ref = farfan__run_ref__unpack (NULL, ff_msg_body_size (*watch_p),
                                                   ff_msg_body_data (*watch_p));
    cr_assert_not_null (ref);
    cr_assert_str_eq (ref->run_id, "run-1");
    farfan__run_ref__free_unpacked (ref, NULL);
    return process;
}

#define S_RUNNING FARFAN__PHASE_STATE__PHASE_RUNNING
#define S_PENDING FARFAN__PHASE_STATE__PHASE_PENDING
#define S_SUCCEEDED FARFAN__PHASE_STATE__PHASE_SUCCEEDED
#define S_SKIPPED FARFAN__PHASE_STATE__PHASE_SKIPPED
#define S_PHASE_FAILED FARFAN__PHASE_STATE__PHASE_FAILED
#define S_PROGRESS FARFAN__MESSAGE_TYPE__PROGRESS

//  ---------------------------------------------------------------------
//  Usage and unreachable

FF_TEST (ctl_run, help_names_every_command_and_option)
{
    ff_test_process_t *ctl = s_ctl ("--help", NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *commands [] = { "run FILE", "status RUN", "results RUN", "report RUN",
                                "cancel RUN", "runs ", "factories " };
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++)
        S_ASSERT_HAS (S_OUT (ctl), commands [i]);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("run", "--help", NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *options [] = { "--phases", "--deadline", "--strict-deadline", "--budget",
                               "--params", "--name", "--path", "--wait", "--no-wait",
                               "--interval", "--endpoint", "--timeout", "--json",
                               "--contracts SET", "contract_sets_dir", "Exit codes" };
    for (size_t i = 0; i < sizeof options / sizeof options [0]; i++)
        S_ASSERT_HAS (S_OUT (ctl), options [i]);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("status", "--help", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "Exit 0 when the run exists, whatever");
    ff_test_process_destroy (&ctl);
}

FF_TEST (ctl_run, bad_options_exit_2_saying_why)
{
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    char *empty = s_write (dir, "empty.txt", "", 0);
    char *latin1 = s_write (dir, "latin1.txt", "Diagn\xffstico\n", 12);
    char *missing = zsys_sprintf ("%s/missing.txt", dir);
    struct {
        const char *argv [8];
        const char *says;
    } cases [] = {
        { { "run", NULL }, "takes FILE" },
        { { "run", text, "extra", NULL }, "unexpected argument \"extra\"" },
        { { "run", text, "--phases", "P2", NULL }, "P04 or P02-P03, not \"P2\"" },
        { { "run", text, "--phases", "P03-P02", NULL }, "ends before it starts" },
        { { "run", text, "--phases", "P02-P10", NULL }, "not \"P02-P10\"" },
        { { "run", text, "--contracts", "", NULL }, "--contracts takes a set name or a directory" },
        { { "run", text, "--contracts", NULL }, "--contracts needs a value" },
        { { "run", text, "--deadline", "-1", NULL }, "--deadline takes seconds > 0" },
        { { "run", text, "--deadline", "soon", NULL }, "--deadline takes seconds > 0" },
        { { "run", text, "--strict-deadline", NULL }, "--strict-deadline needs a --deadline" },
        { { "run", text, "--budget", "0", NULL }, "--budget takes a count" },
        { { "run", text, "--params", "[1]", NULL }, "--params takes a JSON object" },
        { { "run", text, "--params", "{", NULL }, "--params takes a JSON object" },
        { { "run", text, "--wait", "--no-wait", NULL }, "exclude each other" },
        { { "run", text, "--no-wait", "--interval", "10", NULL }, "--interval paces" },
        { { "run", text, "--timeout", "0", NULL }, "--timeout takes milliseconds" },
        { { "run", text, "--phase", "P02", NULL }, "--phase is not an option of run" },
        { { "run", text, "--bogus", NULL }, "unknown option \"--bogus\"" },
        { { "run", text, "--name", NULL }, "--name needs a value" },
        { { "run", "-", "--path", NULL }, "--path sends a path" },
        { { "run", missing, NULL }, "No such file or directory" },
        { { "run", dir, NULL }, "is a directory" },
        { { "run", empty, NULL }, "is empty" },
        { { "run", latin1, NULL }, "neither a PDF nor UTF-8 text: invalid UTF-8 at byte offset 5" },
        { { "status", NULL }, "takes RUN" },
        { { "status", "run-1", "--interval", "5", NULL }, "--interval paces" },
        { { "status", "", NULL }, "an empty argument" },
        { { "results", "run-1", "--phase", "P10", NULL }, "--phase takes P00..P09" },
        { { "results", "run-1", "--contract", "", NULL }, "--contract takes a contract id" },
        { { "report", "run-1", "--format", "pdf", NULL }, "json, markdown or html, not \"pdf\"" },
        { { "report", "run-1", "--out", "", NULL }, "--out takes a file name" },
        { { "cancel", NULL }, "takes RUN" },
        { { "cancel", "run-1", "--wait", NULL }, "--wait is not an option of cancel" },
        { { "runs", "--limit", "0", NULL }, "--limit takes a count > 0" },
        { { "runs", "extra", NULL }, "unexpected argument" },
        { { "factories", "--limit", "3", NULL }, "--limit is not an option of factories" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const char **argv = cases [i].argv;
        ff_test_process_t *ctl = s_ctl (argv [0], argv [1], argv [2], argv [3], argv [4],
                                        argv [5], argv [6], NULL);
        S_ASSERT_EXIT (ctl, 2);
        S_ASSERT_HAS (S_ERR (ctl), cases [i].says);
        cr_assert_str_empty (S_OUT (ctl), "case %zu printed on stdout: %s", i, S_OUT (ctl));
        ff_test_process_destroy (&ctl);
    }
    zstr_free (&text);
    zstr_free (&empty);
    zstr_free (&latin1);
    zstr_free (&missing);
    s_dir_remove (&dir);
}

FF_TEST (ctl_run, an_unreachable_orchestrator_exits_3)
{
    int held = -1;
    char *endpoint = s_unused_endpoint (&held);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    const char *commands [][3] = {
        { "run", text, "--no-wait" }, { "run", text, "--wait" }, { "status", "run-1", NULL },
        { "status", "run-1", "--wait" }, { "results", "run-1", NULL }, { "report", "run-1", NULL },
        { "cancel", "run-1", NULL }, { "runs", NULL, NULL }, { "factories", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++) {
        const char *argv [8] = { NULL };
        size_t argc = 0;
        for (size_t a = 0; a < 3 && commands [i][a]; a++)
            argv [argc++] = commands [i][a];
        argv [argc++] = "--endpoint";
        argv [argc++] = endpoint;
        argv [argc++] = "--timeout";
        argv [argc++] = "100";
        ff_test_process_t *ctl = s_ctl (argv [0], argv [1], argv [2], argv [3], argv [4],
                                        argv [5], argv [6], NULL);
        S_ASSERT_EXIT (ctl, 3);
        S_ASSERT_HAS (S_ERR (ctl), "no reply");
        ff_test_process_destroy (&ctl);
    }
    zstr_free (&text);
    s_dir_remove (&dir);
    zstr_free (&endpoint);
    close (held);
}

//  ---------------------------------------------------------------------
//  Against a scripted orchestrator: what is sent, and the stream

FF_TEST (ctl_run, submit_sends_the_document_and_every_option)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_test_process_t *ctl = s_ctl_start ("run", text, "--endpoint", fake->endpoint, "--no-wait",
                                          "--phases", "P02-P03", "--deadline", "2.5",
                                          "--strict-deadline", "--budget", "7", "--params",
                                          "{\"lang\":\"es\"}", NULL);
    ff_msg_t *request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    Farfan__SubmitRun *submit = s_submit_body (request);
    cr_assert_eq (submit->document.len, strlen (s_text));
    cr_assert_eq (memcmp (submit->document.data, s_text, strlen (s_text)), 0);
    cr_assert_str_empty (submit->document_path);
    cr_assert_str_eq (submit->media_type, "text/plain");
    cr_assert_str_eq (submit->name, "plan.txt");
    cr_assert_str_eq (submit->first_phase, "P02");
    cr_assert_str_eq (submit->last_phase, "P03");
    cr_assert_float_eq (submit->deadline_s, 2.5, 1e-9);
    cr_assert (submit->strict_deadline);
    cr_assert_eq (submit->worker_budget, 7);
    cr_assert_str_eq (submit->params_json, "{\"lang\":\"es\"}");
    farfan__submit_run__free_unpacked (submit, NULL);
    s_fake_submitted (fake, request, "run-1");
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 0);
    //  Detached: the run id alone, for scripts; no WATCH.
    cr_assert_str_eq (S_OUT (ctl), "run-1\n");
    cr_assert (s_fake_quiet (fake, 100));
    ff_test_process_destroy (&ctl);

    //  A PDF by its content; one phase; a name.
    char *pdf = s_write (dir, "plan.bin", "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 15);
    ctl = s_ctl_start ("run", pdf, "--endpoint", fake->endpoint, "--no-wait", "--phases", "P04",
                       "--name", "Plan de desarrollo", "--json", NULL);
    request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    submit = s_submit_body (request);
    cr_assert_str_eq (submit->media_type, "application/pdf");
    cr_assert_eq (submit->document.len, 15);
    cr_assert_str_eq (submit->name, "Plan de desarrollo");
    cr_assert_str_eq (submit->first_phase, "P04");
    cr_assert_str_eq (submit->last_phase, "P04");
    cr_assert_eq (submit->deadline_s, 0);
    cr_assert_not (submit->strict_deadline);
    farfan__submit_run__free_unpacked (submit, NULL);
    s_fake_submitted (fake, request, "run-2");
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 0);
    json_t *json = s_json (ctl);
    cr_assert_str_eq (s_string (json, "run_id"), "run-2");
    cr_assert_str_eq (s_string (json, "state"), "RUN_QUEUED");
    json_decref (json);
    ff_test_process_destroy (&ctl);

    //  --path: the path, made absolute, and no bytes (the file need not
    //  exist here: the orchestrator reads it).
    ctl = s_ctl_start ("run", "docs/plan.pdf", "--path", "--endpoint", fake->endpoint,
                       "--no-wait", NULL);
    request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    submit = s_submit_body (request);
    char cwd [1024];
    cr_assert_not_null (getcwd (cwd, sizeof cwd));
    char *expected = zsys_sprintf ("%s/docs/plan.pdf", cwd);
    cr_assert_str_eq (submit->document_path, expected);
    cr_assert_eq (submit->document.len, 0);
    cr_assert_str_eq (submit->name, "plan.pdf");
    zstr_free (&expected);
    farfan__submit_run__free_unpacked (submit, NULL);
    s_fake_submitted (fake, request, "run-3");
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 0);
    ff_test_process_destroy (&ctl);

    zstr_free (&pdf);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, submit_is_sent_once_and_a_refusal_exits_1)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    //  Unanswered: one SUBMIT (a retry could start the run twice), exit 3.
    ff_test_process_t *ctl = s_ctl_start ("run", text, "--endpoint", fake->endpoint,
                                          "--timeout", "200", "--no-wait", NULL);
    ff_msg_t *request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 3);
    S_ASSERT_HAS (S_ERR (ctl), "SUBMIT is sent once");
    cr_assert (s_fake_quiet (fake, 100), "SUBMIT was sent again");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl_start ("run", text, "--endpoint", fake->endpoint, "--wait", NULL);
    request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    s_fake_error (fake, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                  "phase range \"P05\"..\"P02\" is not P00..P09 in order");
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "ERROR INVALID_ARGUMENT: phase range");
    ff_test_process_destroy (&ctl);

    //  Something that is not an orchestrator.
    ctl = s_ctl_start ("run", text, "--endpoint", fake->endpoint, "--wait", NULL);
    request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    Farfan__Pong pong = FARFAN__PONG__INIT;
    s_fake_reply (fake, request, FARFAN__MESSAGE_TYPE__PONG, &pong.base);
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "answered PONG, not SUBMITTED: is it an orchestrator?");
    ff_test_process_destroy (&ctl);

    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, watch_prints_a_line_per_change_then_the_summary)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--interval", "0", NULL);
    s_phase_t phases [] = {
        { "P02", S_RUNNING, 4, 0, 0 }, { "P03", S_PENDING, 0, 0, 0 },
    };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 2);
    phases [0].done = 1;
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 2);
    phases [0].done = 3;
    phases [0].failed = 1;
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 2);
    phases [0] = (s_phase_t) { "P02", S_SUCCEEDED, 4, 4, 1 };
    phases [1] = (s_phase_t) { "P03", S_SKIPPED, 0, 0, 0 };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL, phases, 2);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 0);
    const char *out = S_OUT (ctl);
    S_ASSERT_HAS (out, "run-1 running\n");
    S_ASSERT_HAS (out, "P02 running 0/4 ok 0 failed 0\n");
    S_ASSERT_HAS (out, "P02 running 1/4 ok 1 failed 0");
    S_ASSERT_HAS (out, "P02 running 3/4 ok 2 failed 1");
    S_ASSERT_HAS (out, "P02 4/4 ok 3 failed 1, succeeded in 1.0s\n");
    S_ASSERT_HAS (out, "P03 skipped\n");
    S_ASSERT_HAS (out, "run-1 succeeded\n");
    //  A phase still pending is not news; no terminal control off a terminal.
    S_ASSERT_HAS_NOT (out, "P03 pending");
    S_ASSERT_HAS_NOT (out, "\033[");
    //  The summary: every phase of the range in the table.
    S_ASSERT_HAS (out, "PHASE  STATE      DONE/TOTAL  FAILED  CACHED  DURATION");
    cr_assert_eq (s_count_lines (out, "P02    succeeded"), 1, "%s", out);
    cr_assert_eq (s_count_lines (out, "P03    skipped"), 1, "%s", out);
    S_ASSERT_HAS (out, "run-1 succeeded: 4/4 contracts");
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, progress_lines_are_paced_by_interval_but_state_changes_always_show)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--interval", "60000", NULL);
    s_phase_t phases [] = { { "P02", S_RUNNING, 50, 0, 0 } };
    for (uint32_t done = 0; done < 50; done += 5) {
        phases [0].done = done;
        s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 1);
    }
    phases [0] = (s_phase_t) { "P02", S_SUCCEEDED, 50, 50, 0 };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL, phases, 1);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 0);
    //  Ten changes of the counts within the interval: the first line only
    //  (the phase started); then the end (a state change).
    cr_assert_eq (s_count_lines (S_OUT (ctl), "P02 running"), 1, "%s", S_OUT (ctl));
    S_ASSERT_HAS (S_OUT (ctl), "P02 50/50 ok 50 failed 0, succeeded");
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, a_failed_or_cancelled_run_exits_1_with_its_error)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, NULL);
    s_phase_t phases [] = { { "P02", S_PHASE_FAILED, 2, 2, 2 }, { "P03", S_PENDING, 0, 0, 0 } };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_FAILED,
                   "phase P02 failed: 2 contracts failed (Q001: timeout, Q002: timeout)",
                   phases, 2);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "run run-1 failed: phase P02 failed: 2 contracts failed");
    S_ASSERT_HAS (S_OUT (ctl), "P02    failed");
    S_ASSERT_HAS (S_OUT (ctl), "P03    pending");
    S_ASSERT_HAS (S_OUT (ctl), "run-1 failed: phase P02 failed");
    ff_test_process_destroy (&ctl);

    ctl = s_fake_run (fake, text, &watch, NULL);
    phases [0] = (s_phase_t) { "P02", FARFAN__PHASE_STATE__PHASE_CANCELLED, 2, 1, 0 };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_CANCELLED,
                   "cancelled by a client", phases, 2);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "run run-1 was cancelled: cancelled by a client");
    S_ASSERT_HAS (S_OUT (ctl), "P02    cancelled");
    ff_test_process_destroy (&ctl);

    //  A WATCH refused (the run is unknown).
    ctl = s_fake_run (fake, text, &watch, NULL);
    s_fake_error (fake, watch, FARFAN__ERROR_CODE__NOT_FOUND, "no run run-1");
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "ERROR NOT_FOUND: no run run-1");
    ff_test_process_destroy (&ctl);

    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, a_silent_stream_is_checked_with_status_and_waited_on)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--timeout", "200",
                                         "--interval", "0", NULL);
    s_phase_t phases [] = { { "P02", S_RUNNING, 3, 1, 0 } };
    //  Long contracts: nothing for a while, so farfanctl asks for STATUS
    //  on the same connection; the run is alive. Twice.
    for (int i = 0; i < 2; i++) {
        ff_msg_t *check = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__STATUS);
        Farfan__RunRef *ref = farfan__run_ref__unpack (NULL, ff_msg_body_size (check),
                                                       ff_msg_body_data (check));
        cr_assert_str_eq (ref->run_id, "run-1");
        farfan__run_ref__free_unpacked (ref, NULL);
        cr_assert_str_neq (ff_msg_correlation_id (check), ff_msg_correlation_id (watch));
        phases [0].done = 1 + (uint32_t) i;
        s_fake_status (fake, check, FARFAN__MESSAGE_TYPE__RUN_STATUS,
                       FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 1);
        ff_msg_destroy (&check);
    }
    phases [0] = (s_phase_t) { "P02", S_SUCCEEDED, 3, 3, 0 };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL, phases, 1);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 0);
    //  The checks' answers refresh the display.
    S_ASSERT_HAS (S_OUT (ctl), "P02 running 2/3 ok 2 failed 0");
    S_ASSERT_HAS (S_OUT (ctl), "run-1 succeeded");
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, a_lost_final_progress_is_found_by_the_check)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--timeout", "200", "--json", NULL);
    //  The stream's last PROGRESS never comes; the check's answer is final.
    ff_msg_t *check = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__STATUS);
    s_phase_t phases [] = { { "P02", S_SUCCEEDED, 3, 3, 0 } };
    s_fake_status (fake, check, FARFAN__MESSAGE_TYPE__RUN_STATUS, FARFAN__RUN_STATE__RUN_SUCCEEDED,
                   NULL, phases, 1);
    ff_msg_destroy (&check);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 0);
    //  --json: SUBMITTED's line, then the final status.
    json_t *lines = s_json_lines (ctl);
    cr_assert_eq (json_array_size (lines), 2, "%s", S_OUT (ctl));
    cr_assert_str_eq (s_string (json_array_get (lines, 0), "run_id"), "run-1");
    json_t *last = json_array_get (lines, 1);
    cr_assert_str_eq (s_string (last, "state"), "RUN_SUCCEEDED");
    json_decref (lines);
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, an_orchestrator_that_stops_answering_exits_3)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--timeout", "200", NULL);
    s_phase_t phases [] = { { "P02", S_RUNNING, 3, 1, 0 } };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 1);
    ff_msg_t *check = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__STATUS);
    ff_msg_destroy (&check);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 3);
    S_ASSERT_HAS (S_ERR (ctl), "stopped answering: nothing for 200 ms, then no answer to a "
                               "check within 200 ms");
    S_ASSERT_HAS (S_ERR (ctl), "farfanctl status run-1 --wait watches it again");
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, a_restarted_orchestrator_is_watched_again)
{
    s_fake_t *fake = s_fake_new (0);
    int port = s_fake_port (fake);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--timeout", "10000", NULL);
    s_phase_t phases [] = { { "P02", S_RUNNING, 3, 1, 0 } };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 1);
    char *first_id = strdup (ff_msg_correlation_id (watch));
    ff_msg_destroy (&watch);
    //  The orchestrator goes and comes back on the same port: its watchers
    //  are gone, farfanctl sends WATCH again (well before its timeout).
    s_fake_destroy (&fake);
    fake = s_fake_new (port);
    watch = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__WATCH);
    cr_assert_str_neq (ff_msg_correlation_id (watch), first_id);
    phases [0] = (s_phase_t) { "P02", S_SUCCEEDED, 3, 3, 0 };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL, phases, 1);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "run-1 succeeded");
    free (first_id);
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, ctrl_c_detaches_and_the_run_goes_on)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--timeout", "10000", NULL);
    s_phase_t phases [] = { { "P02", S_RUNNING, 3, 1, 0 } };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 1);
    cr_assert_not_null (ff_test_process_wait_line (ctl, "P02 running", FF_TEST_TIMEOUT_MS));
    ff_test_process_signal (ctl, SIGINT);
    S_ASSERT_EXIT (ctl, 130);
    S_ASSERT_HAS (S_ERR (ctl), "interrupted; run run-1 goes on (farfanctl status run-1 --wait");
    S_ASSERT_HAS (S_ERR (ctl), "farfanctl cancel run-1 stops it");
    //  No CANCEL was sent.
    cr_assert (s_fake_quiet (fake, 100));
    ff_msg_destroy (&watch);
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, json_watch_prints_every_progress_and_ends_with_the_final_status)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_msg_t *watch = NULL;
    ff_test_process_t *ctl = s_fake_run (fake, text, &watch, "--json", NULL);
    s_phase_t phases [] = { { "P02", S_RUNNING, 2, 0, 0 } };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 1);
    phases [0].done = 1;
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 1);
    phases [0] = (s_phase_t) { "P02", S_SUCCEEDED, 2, 2, 0 };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL, phases, 1);
    ff_msg_destroy (&watch);
    S_ASSERT_EXIT (ctl, 0);
    json_t *lines = s_json_lines (ctl);
    cr_assert_eq (json_array_size (lines), 4, "%s", S_OUT (ctl));
    cr_assert_str_eq (s_string (json_array_get (lines, 0), "state"), "RUN_QUEUED");
    for (size_t i = 1; i < 4; i++) {
        json_t *line = json_array_get (lines, i);
        cr_assert_str_eq (s_string (line, "run_id"), "run-1");
        json_t *phase = json_array_get (json_object_get (line, "phases"), 0);
        cr_assert_eq (s_integer (phase, "done"), (json_int_t) (i == 3 ? 2 : i - 1));
    }
    cr_assert_str_eq (s_string (json_array_get (lines, 3), "state"), "RUN_SUCCEEDED");
    json_decref (lines);
    ff_test_process_destroy (&ctl);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

//  ---------------------------------------------------------------------
//  On a terminal

//  Plays a run of P02 (2 of 4, then 4 of 4) and P03 for a farfanctl on a
//  terminal; returns what the terminal showed (caller frees) and the exit.
static char *
s_tty_run (const char *lang, bool explicit_wait, int *code)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    //  On a terminal, run watches without being asked.
    s_tty_t *tty = explicit_wait
                 ? s_tty_start (lang, "run", text, "--endpoint", fake->endpoint, "--wait", NULL)
                 : s_tty_start (lang, "run", text, "--endpoint", fake->endpoint, NULL);
    ff_msg_t *submit = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    s_fake_submitted (fake, submit, "run-1");
    ff_msg_destroy (&submit);
    ff_msg_t *watch = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__WATCH);
    s_phase_t phases [] = { { "P02", S_RUNNING, 4, 2, 0 }, { "P03", S_PENDING, 0, 0, 0 } };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 2);
    phases [0].done = 3;
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_RUNNING, NULL, phases, 2);
    phases [0] = (s_phase_t) { "P02", S_SUCCEEDED, 4, 4, 0 };
    phases [1] = (s_phase_t) { "P03", S_SKIPPED, 0, 0, 0 };
    s_fake_status (fake, watch, S_PROGRESS, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL, phases, 2);
    ff_msg_destroy (&watch);
    *code = s_tty_wait (tty);
    char *output = strdup (tty->output);
    s_tty_destroy (&tty);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
    return output;
}

FF_TEST (ctl_run, on_a_terminal_bars_are_redrawn_in_place)
{
    int code;
    char *output = s_tty_run ("C.UTF-8", false, &code);
    cr_assert_eq (code, 0, "%s", output);
    //  Header + one bar per phase, redrawn: up three lines, clear below.
    S_ASSERT_HAS (output, "\033[3A\033[J");
    S_ASSERT_HAS (output, "run-1 (plan.txt): running P02, 2/4 contracts");
    S_ASSERT_HAS (output, "P02 ███████████████░░░░░░░░░░░░░░░ 2/4 ok 2 failed 0");
    S_ASSERT_HAS (output, "P02 ██████████████████████░░░░░░░░ 3/4 ok 3 failed 0 eta");
    S_ASSERT_HAS (output, "P02 ██████████████████████████████ 4/4 ok 4 failed 0, succeeded in");
    S_ASSERT_HAS (output, "P03 ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░ pending");
    S_ASSERT_HAS (output, "P03 ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░ skipped");
    //  Then the summary table.
    S_ASSERT_HAS (output, "P02    succeeded");
    S_ASSERT_HAS (output, "run-1 succeeded: 4/4 contracts");
    free (output);
}

FF_TEST (ctl_run, on_a_terminal_without_utf8_bars_are_ascii)
{
    int code;
    char *output = s_tty_run ("C", true, &code);
    cr_assert_eq (code, 0, "%s", output);
    S_ASSERT_HAS (output, "P02 ###############............... 2/4 ok 2 failed 0");
    S_ASSERT_HAS_NOT (output, "█");
    free (output);
}

FF_TEST (ctl_run, on_a_terminal_no_wait_prints_the_run_id)
{
    s_fake_t *fake = s_fake_new (0);
    char *dir = s_dir_new ();
    char *text = s_write (dir, "plan.txt", s_text, strlen (s_text));
    s_tty_t *tty = s_tty_start ("C.UTF-8", "run", text, "--endpoint", fake->endpoint,
                                "--no-wait", NULL);
    ff_msg_t *submit = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    s_fake_submitted (fake, submit, "run-1");
    ff_msg_destroy (&submit);
    cr_assert_eq (s_tty_wait (tty), 0);
    cr_assert_str_eq (tty->output, "run-1\r\n");
    cr_assert (s_fake_quiet (fake, 100), "WATCH was sent");
    s_tty_destroy (&tty);
    zstr_free (&text);
    s_dir_remove (&dir);
    s_fake_destroy (&fake);
}

FF_TEST (ctl_run, run_dash_reads_the_document_from_stdin)
{
    s_fake_t *fake = s_fake_new (0);
    s_tty_t *tty = s_tty_start ("C.UTF-8", "run", "-", "--endpoint", fake->endpoint,
                                "--no-wait", NULL);
    //  Typed on the terminal, then end of input (^D).
    char *typed = zsys_sprintf ("%s\x04", s_text);
    cr_assert_eq (write (tty->master, typed, strlen (typed)), (ssize_t) strlen (typed));
    ff_msg_t *request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__SUBMIT);
    Farfan__SubmitRun *submit = s_submit_body (request);
    cr_assert_eq (submit->document.len, strlen (s_text));
    cr_assert_eq (memcmp (submit->document.data, s_text, strlen (s_text)), 0);
    cr_assert_str_eq (submit->name, "stdin");
    cr_assert_str_eq (submit->media_type, "text/plain");
    farfan__submit_run__free_unpacked (submit, NULL);
    s_fake_submitted (fake, request, "run-1");
    ff_msg_destroy (&request);
    cr_assert_eq (s_tty_wait (tty), 0, "%s", tty->output);
    S_ASSERT_HAS (tty->output, "run-1\r\n");
    zstr_free (&typed);
    s_tty_destroy (&tty);
    s_fake_destroy (&fake);
}

//  ---------------------------------------------------------------------
//  cancel against a scripted orchestrator: the reply's state decides

FF_TEST (ctl_run, cancel_exits_0_when_cancelled_and_1_when_it_had_ended)
{
    s_fake_t *fake = s_fake_new (0);
    s_phase_t phases [] = { { "P02", FARFAN__PHASE_STATE__PHASE_CANCELLED, 3, 1, 0 } };
    ff_test_process_t *ctl = s_ctl_start ("cancel", "run-1", "--endpoint", fake->endpoint, NULL);
    ff_msg_t *request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__CANCEL);
    s_fake_status (fake, request, FARFAN__MESSAGE_TYPE__CANCELLED,
                   FARFAN__RUN_STATE__RUN_CANCELLED, "cancelled by a client", phases, 1);
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "run-1 cancelled: 1/3 contracts done");
    ff_test_process_destroy (&ctl);

    phases [0] = (s_phase_t) { "P02", S_SUCCEEDED, 3, 3, 0 };
    ctl = s_ctl_start ("cancel", "run-1", "--endpoint", fake->endpoint, "--json", NULL);
    request = s_fake_expect (fake, FARFAN__MESSAGE_TYPE__CANCEL);
    s_fake_status (fake, request, FARFAN__MESSAGE_TYPE__CANCELLED,
                   FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL, phases, 1);
    ff_msg_destroy (&request);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "run run-1 had already ended (succeeded): nothing to cancel");
    json_t *json = s_json (ctl);
    cr_assert_str_eq (s_string (json, "state"), "RUN_SUCCEEDED");
    json_decref (json);
    ff_test_process_destroy (&ctl);
    s_fake_destroy (&fake);
}

//  ---------------------------------------------------------------------
//  Against a real orchestrator and factory

//  Micro contracts on the Spanish text: fast, evidence-bearing.
#define S_MICRO(id, phase) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"micro\"," \
    "\"applicable_phases\":[\"" phase "\"],\"inputs\":{\"document\":true}," \
    "\"patterns\":[{\"id\":\"src\",\"regex\":\"\\\\b(DANE|Medicina Legal)\\\\b\"," \
    "\"flags\":[\"IGNORECASE\"],\"element_type\":\"fuentes\"}," \
    "{\"id\":\"year\",\"regex\":\"\\\\b20\\\\d{2}\\\\b\",\"element_type\":\"años\"}]," \
    "\"expected_elements\":[{\"type\":\"fuentes\",\"minimum\":2},{\"type\":\"años\",\"minimum\":2}]," \
    "\"methods\":[{\"method\":\"text.match_patterns\"},{\"method\":\"text.count_elements\"}," \
    "{\"method\":\"score.modality\"}],\"scoring\":{\"modality\":\"TYPE_A\"}}"

//  A task that waits ms, given timeout ms to do it.
#define S_WAIT(id, phase, ms, timeout) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"task\"," \
    "\"applicable_phases\":[\"" phase "\"],\"inputs\":{\"document\":false}," \
    "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":" #ms "}}],\"timeout_ms\":" #timeout "}"

typedef struct {
    ff_test_service_t *orchestrator;
    ff_test_service_t *factory;
    char *contracts;            // the orchestrator's contracts_dir
    char *work;                 // documents and files written by farfanctl
    char *plan;                 // work/plan.txt, the Spanish text
    const char *endpoint;       // client API
} s_system_t;

//  An orchestrator running contracts[] (NULL-terminated) with `retries`,
//  and one factory registered with it (it gets the contracts shipped).
static s_system_t
s_system (const char *const *contracts, const char *retries)
{
    s_system_t system = { .contracts = s_dir_new (), .work = s_dir_new () };
    for (size_t i = 0; contracts [i]; i++) {
        char name [32];
        snprintf (name, sizeof name, "c%02zu.json", i);
        char *path = s_write (system.contracts, name, contracts [i], strlen (contracts [i]));
        zstr_free (&path);
    }
    system.plan = s_write (system.work, "plan.txt", s_text, strlen (s_text));
    system.orchestrator = ff_test_service_start ("orchestrator", "--contracts-dir",
                                                 system.contracts, "--retries", retries,
                                                 "--watch-interval-ms", "20", NULL);
    system.endpoint = ff_test_service_endpoint (system.orchestrator, "client");
    char *link = zsys_sprintf (">%s", ff_test_service_endpoint (system.orchestrator, "worker"));
    system.factory = ff_test_service_start ("factory", "--orchestrator-endpoint", link,
                                            "--max-workers", "4", NULL);
    zstr_free (&link);
    return system;
}

static void
s_system_stop (s_system_t *system)
{
    ff_test_service_stop (&system->factory);
    ff_test_service_stop (&system->orchestrator);
    zstr_free (&system->plan);
    s_dir_remove (&system->contracts);
    s_dir_remove (&system->work);
}

//  Waits until the factory is registered (FACTORIES lists one).
static void
s_system_wait_factory (s_system_t *system)
{
    zsock_t *dealer = ff_test_dealer (system->endpoint);
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    size_t count = 0;
    while (count == 0 && zclock_mono () < deadline) {
        Farfan__FactoriesRequest request = FARFAN__FACTORIES_REQUEST__INIT;
        ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__FACTORIES, &request.base);
        Farfan__FactoryList *list = farfan__factory_list__unpack (NULL, ff_msg_body_size (reply),
                                                                  ff_msg_body_data (reply));
        cr_assert_not_null (list);
        count = list->n_factories;
        farfan__factory_list__free_unpacked (list, NULL);
        ff_msg_destroy (&reply);
        if (count == 0) {
            zpoller_t *poller = zpoller_new (dealer, NULL);
            zpoller_wait (poller, 10);
            zpoller_destroy (&poller);
        }
    }
    zsock_destroy (&dealer);
    cr_assert_eq (count, 1, "the factory did not register");
}

//  The run id `run --no-wait` printed (caller frees).
static char *
s_run_id (ff_test_process_t *ctl)
{
    const char *out = S_OUT (ctl);
    cr_assert (strncmp (out, "run-", 4) == 0, "not a run id: %s", out);
    return strndup (out, strcspn (out, "\n"));
}

//  Reads a whole file (caller frees); NULL when it cannot be read.
static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *data = (char *) zmalloc (1 << 20);
    size_t size = fread (data, 1, (1 << 20) - 1, file);
    data [size] = '\0';
    fclose (file);
    return data;
}

FF_TEST (ctl_run, run_wait_on_a_text_file_succeeds_and_shows_every_phase)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01", "P02"), S_MICRO ("Q002_PA01", "P02"),
                                 S_MICRO ("Q003_PA01", "P02"), S_WAIT ("W001", "P03", 50, 5000),
                                 NULL };
    s_system_t system = s_system (contracts, "2");
    ff_test_process_t *ctl = s_ctl ("run", system.plan, "--endpoint", system.endpoint, "--wait",
                                    "--interval", "0", NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *out = S_OUT (ctl);
    //  The live lines: each phase that ran, from start to end.
    S_ASSERT_HAS (out, "P02 3/3 ok 3 failed 0, succeeded in");
    S_ASSERT_HAS (out, "P03 1/1 ok 1 failed 0, succeeded in");
    S_ASSERT_HAS (out, "P00 skipped\n");
    //  The summary table: every phase of the range, once.
    const char *rows [] = { "P00    skipped", "P01    skipped", "P02    succeeded",
                            "P03    succeeded", "P04    skipped", "P05    skipped",
                            "P06    skipped", "P07    skipped", "P08    skipped",
                            "P09    skipped" };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++)
        cr_assert_eq (s_count_lines (out, rows [i]), 1, "%s:\n%s", rows [i], out);
    S_ASSERT_HAS (out, " succeeded: 4/4 contracts");
    //  The factory was given the contracts it lacked: a resolved conflict.
    S_ASSERT_HAS (out, "missing_contracts (resolved)");
    ff_test_process_destroy (&ctl);

    //  --json: SUBMITTED, then PROGRESS lines, the last one final.
    ctl = s_ctl ("run", system.plan, "--endpoint", system.endpoint, "--wait", "--json",
                 "--phases", "P02-P03", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *lines = s_json_lines (ctl);
    cr_assert_geq (json_array_size (lines), 2, "%s", S_OUT (ctl));
    const char *run_id = s_string (json_array_get (lines, 0), "run_id");
    json_t *last = json_array_get (lines, json_array_size (lines) - 1);
    cr_assert_str_eq (s_string (last, "run_id"), run_id);
    cr_assert_str_eq (s_string (last, "state"), "RUN_SUCCEEDED");
    json_t *phases = json_object_get (last, "phases");
    cr_assert_eq (json_array_size (phases), 2);
    cr_assert_str_eq (s_string (json_array_get (phases, 0), "phase"), "P02");
    cr_assert_eq (s_integer (json_array_get (phases, 0), "done"), 3);
    cr_assert_str_eq (s_string (json_array_get (phases, 1), "state"), "PHASE_SUCCEEDED");
    for (size_t i = 1; i + 1 < json_array_size (lines); i++)
        cr_assert_str_neq (s_string (json_array_get (lines, i), "state"), "RUN_SUCCEEDED");
    json_decref (lines);
    ff_test_process_destroy (&ctl);

    //  --path: the orchestrator reads the file itself.
    ctl = s_ctl ("run", system.plan, "--path", "--endpoint", system.endpoint, "--wait",
                 "--phases", "P02", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), " succeeded: 3/3 contracts");
    ff_test_process_destroy (&ctl);
    s_system_stop (&system);
}

FF_TEST (ctl_run, status_results_report_runs_and_factories_of_a_run)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01", "P02"), S_MICRO ("Q002_PA01", "P02"),
                                 S_WAIT ("W001", "P03", 20, 5000), NULL };
    s_system_t system = s_system (contracts, "2");
    const char *endpoint = system.endpoint;
    ff_test_process_t *ctl = s_ctl ("run", system.plan, "--endpoint", endpoint, "--no-wait",
                                    "--name", "Plan de prueba", NULL);
    S_ASSERT_EXIT (ctl, 0);
    char *run_id = s_run_id (ctl);
    ff_test_process_destroy (&ctl);

    //  Watch it to its end after the fact.
    ctl = s_ctl ("status", run_id, "--endpoint", endpoint, "--wait", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), " succeeded: 3/3 contracts");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("status", run_id, "--endpoint", endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    char *expected = zsys_sprintf ("%s (Plan de prueba)", run_id);
    S_ASSERT_HAS (S_OUT (ctl), expected);
    zstr_free (&expected);
    S_ASSERT_HAS (S_OUT (ctl), "state         succeeded\n");
    S_ASSERT_HAS (S_OUT (ctl), "contracts     3/3 done\n");
    S_ASSERT_HAS (S_OUT (ctl), "contract set  sha256:");
    S_ASSERT_HAS (S_OUT (ctl), "P02    succeeded         2/2");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("status", run_id, "--endpoint", endpoint, "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *json = s_json (ctl);
    cr_assert_str_eq (s_string (json, "run_id"), run_id);
    cr_assert_str_eq (s_string (json, "name"), "Plan de prueba");
    cr_assert_str_eq (s_string (json, "state"), "RUN_SUCCEEDED");
    cr_assert_eq (json_array_size (json_object_get (json, "phases")), 10);
    json_decref (json);
    ff_test_process_destroy (&ctl);

    //  results: every contract, then filtered by phase and by contract.
    ctl = s_ctl ("results", run_id, "--endpoint", endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "CONTRACT   STATUS  SCORE  QUALITY    EVIDENCE (FOUND/NEEDED)");
    S_ASSERT_HAS (S_OUT (ctl), "Q001_PA01  ok       3.00  EXCELENTE  fuentes 3/2, años 3/2");
    S_ASSERT_HAS (S_OUT (ctl), "W001");
    S_ASSERT_HAS (S_OUT (ctl), "3 results: 3 ok, 0 failed, 0 timed out, 0 skipped");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("results", run_id, "--endpoint", endpoint, "--phase", "P03", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    json_t *results = json_object_get (json, "results");
    cr_assert_eq (json_array_size (results), 1, "%s", S_OUT (ctl));
    cr_assert_str_eq (s_string (json_array_get (results, 0), "contract_id"), "W001");
    cr_assert_str_eq (s_string (json_array_get (results, 0), "status"), "RESULT_OK");
    json_decref (json);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("results", run_id, "--endpoint", endpoint, "--contract", "Q002_PA01", "--json",
                 NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    results = json_object_get (json, "results");
    cr_assert_eq (json_array_size (results), 1, "%s", S_OUT (ctl));
    cr_assert_str_eq (s_string (json_array_get (results, 0), "contract_id"), "Q002_PA01");
    json_t *evidence = json_object_get (json_array_get (results, 0), "evidence");
    cr_assert_eq (json_array_size (evidence), 2);
    json_decref (json);
    ff_test_process_destroy (&ctl);

    //  report: JSON by default on stdout, then each format.
    ctl = s_ctl ("report", run_id, "--endpoint", endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    cr_assert_str_eq (s_string (json, "run_id"), run_id);
    json_decref (json);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("report", run_id, "--endpoint", endpoint, "--format", "markdown", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "# FARFAN report");
    S_ASSERT_HAS (S_OUT (ctl), "Q001_PA01");
    ff_test_process_destroy (&ctl);

    char *out = zsys_sprintf ("%s/report.html", system.work);
    ctl = s_ctl ("report", run_id, "--endpoint", endpoint, "--format", "html", "--out", out, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "wrote the html report of");
    S_ASSERT_HAS (S_OUT (ctl), "text/html");
    char *html = s_read (out);
    cr_assert_not_null (html, "%s was not written", out);
    S_ASSERT_HAS (html, "<html");
    S_ASSERT_HAS (html, "Q001_PA01");
    free (html);
    ff_test_process_destroy (&ctl);

    //  --json with --out: where it went; without: the content as a string.
    ctl = s_ctl ("report", run_id, "--endpoint", endpoint, "--format", "markdown", "--out", out,
                 "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    cr_assert_str_eq (s_string (json, "out"), out);
    cr_assert_str_eq (s_string (json, "format"), "markdown");
    cr_assert_null (json_object_get (json, "content"));
    char *markdown = s_read (out);
    cr_assert_eq ((size_t) s_integer (json, "size"), strlen (markdown));
    S_ASSERT_HAS (markdown, "# FARFAN report");
    free (markdown);
    json_decref (json);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl ("report", run_id, "--endpoint", endpoint, "--format", "html", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    S_ASSERT_HAS (s_string (json, "content"), "<html");
    cr_assert_str_eq (s_string (json, "media_type"), "text/html; charset=utf-8");
    json_decref (json);
    ff_test_process_destroy (&ctl);

    //  --out somewhere it cannot be written.
    char *bad = zsys_sprintf ("%s/missing/report.md", system.work);
    ctl = s_ctl ("report", run_id, "--endpoint", endpoint, "--out", bad, NULL);
    S_ASSERT_EXIT (ctl, 2);
    S_ASSERT_HAS (S_ERR (ctl), "No such file or directory");
    ff_test_process_destroy (&ctl);
    zstr_free (&bad);
    zstr_free (&out);

    //  runs: the run is listed, most recent first.
    ctl = s_ctl ("run", system.plan, "--endpoint", endpoint, "--no-wait", "--phases", "P03", NULL);
    S_ASSERT_EXIT (ctl, 0);
    char *second = s_run_id (ctl);
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("runs", "--endpoint", endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "RUN  ");
    S_ASSERT_HAS (S_OUT (ctl), run_id);
    S_ASSERT_HAS (S_OUT (ctl), "Plan de prueba");
    cr_assert_lt (strstr (S_OUT (ctl), second) - S_OUT (ctl), strstr (S_OUT (ctl), run_id) - S_OUT (ctl));
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("runs", "--endpoint", endpoint, "--limit", "1", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    json_t *runs = json_object_get (json, "runs");
    cr_assert_eq (json_array_size (runs), 1);
    cr_assert_str_eq (s_string (json_array_get (runs, 0), "run_id"), second);
    json_decref (json);
    ff_test_process_destroy (&ctl);
    free (second);

    //  factories: the one registered.
    s_system_wait_factory (&system);
    ctl = s_ctl ("factories", "--endpoint", endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "FACTORY  ");
    S_ASSERT_HAS (S_OUT (ctl), "IN FLIGHT/CAP");
    S_ASSERT_HAS (S_OUT (ctl), "sha256:");
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("factories", "--endpoint", endpoint, "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    json_t *factories = json_object_get (json, "factories");
    cr_assert_eq (json_array_size (factories), 1);
    json_t *factory = json_array_get (factories, 0);
    cr_assert_str_neq (s_string (factory, "instance_id"), "");
    S_ASSERT_HAS (S_OUT (ctl), s_string (factory, "instance_id"));
    cr_assert (json_is_object (json_object_get (factory, "capabilities")));
    json_decref (json);
    ff_test_process_destroy (&ctl);

    free (run_id);
    s_system_stop (&system);
}

FF_TEST (ctl_run, a_run_unknown_to_the_orchestrator_exits_1)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01", "P02"), NULL };
    s_system_t system = s_system (contracts, "2");
    const char *commands [][2] = { { "status", NULL }, { "status", "--wait" }, { "results", NULL },
                                   { "report", NULL }, { "cancel", NULL } };
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++) {
        ff_test_process_t *ctl = s_ctl (commands [i][0], "run-nope", "--endpoint", system.endpoint,
                                        commands [i][1], NULL);
        S_ASSERT_EXIT (ctl, 1);
        S_ASSERT_HAS (S_ERR (ctl), "NOT_FOUND");
        S_ASSERT_HAS (S_ERR (ctl), "run-nope");
        ff_test_process_destroy (&ctl);
    }
    s_system_stop (&system);
}

FF_TEST (ctl_run, a_cancelled_run_stops_its_watchers_with_exit_1)
{
    //  Slow contracts: the run is surely still in its phase when it is cancelled.
    const char *contracts [] = { S_WAIT ("SLOW1", "P02", 30000, 60000),
                                 S_WAIT ("SLOW2", "P02", 30000, 60000),
                                 S_WAIT ("SLOW3", "P02", 30000, 60000), NULL };
    s_system_t system = s_system (contracts, "0");
    const char *endpoint = system.endpoint;
    ff_test_process_t *watcher = s_ctl_start ("run", system.plan, "--endpoint", endpoint,
                                              "--wait", "--interval", "0", NULL);
    const char *line = ff_test_process_wait_line (watcher, " running", FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (line, "no run started:\n%s\n%s", S_OUT (watcher), S_ERR (watcher));
    char *run_id = strndup (line, strcspn (line, " "));
    cr_assert_not_null (ff_test_process_wait_line (watcher, "P02 running", FF_TEST_TIMEOUT_MS),
                        "P02 did not start:\n%s", S_OUT (watcher));

    ff_test_process_t *ctl = s_ctl ("cancel", run_id, "--endpoint", endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    char *expected = zsys_sprintf ("%s cancelled: 0/3 contracts done", run_id);
    S_ASSERT_HAS (S_OUT (ctl), expected);
    zstr_free (&expected);
    ff_test_process_destroy (&ctl);

    //  The watching run --wait ends at once, exit 1.
    S_ASSERT_EXIT (watcher, 1);
    expected = zsys_sprintf ("run %s was cancelled", run_id);
    S_ASSERT_HAS (S_ERR (watcher), expected);
    zstr_free (&expected);
    S_ASSERT_HAS (S_OUT (watcher), "P02    cancelled");
    ff_test_process_destroy (&watcher);

    //  status: exit 0, the state printed; --wait: exit 1; cancel again: 0.
    ctl = s_ctl ("status", run_id, "--endpoint", endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "state         cancelled\n");
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("status", run_id, "--endpoint", endpoint, "--wait", NULL);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "was cancelled");
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("cancel", run_id, "--endpoint", endpoint, "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *json = s_json (ctl);
    cr_assert_str_eq (s_string (json, "state"), "RUN_CANCELLED");
    json_decref (json);
    ff_test_process_destroy (&ctl);
    free (run_id);
    //  The factory still waits on the cancelled contracts: stopping it
    //  with work in flight must be clean.
    s_system_stop (&system);
}

FF_TEST (ctl_run, a_failed_run_exits_1_with_its_error_and_failures)
{
    //  A contract that cannot finish within its timeout, no retries.
    const char *contracts [] = { S_WAIT ("LATE", "P02", 5000, 50), S_MICRO ("Q001_PA01", "P02"),
                                 S_MICRO ("Q002_PA01", "P03"), NULL };
    s_system_t system = s_system (contracts, "0");
    ff_test_process_t *ctl = s_ctl ("run", system.plan, "--endpoint", system.endpoint, "--wait",
                                    NULL);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "failed: ");
    S_ASSERT_HAS (S_ERR (ctl), "P02");
    S_ASSERT_HAS (S_OUT (ctl), "P02    failed");
    S_ASSERT_HAS (S_OUT (ctl), "failures (1):\n  - LATE");
    //  Nothing after the failed phase ran.
    S_ASSERT_HAS_NOT (S_OUT (ctl), "P03    succeeded");
    ff_test_process_destroy (&ctl);

    //  status of it: exit 0, with the error.
    ctl = s_ctl ("runs", "--endpoint", system.endpoint, "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *json = s_json (ctl);
    char *run_id = strdup (s_string (json_array_get (json_object_get (json, "runs"), 0), "run_id"));
    cr_assert_str_eq (s_string (json_array_get (json_object_get (json, "runs"), 0), "state"),
                      "RUN_FAILED");
    json_decref (json);
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("status", run_id, "--endpoint", system.endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "state         failed\n");
    S_ASSERT_HAS (S_OUT (ctl), "error         ");
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("results", run_id, "--endpoint", system.endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "LATE");
    S_ASSERT_HAS (S_OUT (ctl), "timeout");
    ff_test_process_destroy (&ctl);
    free (run_id);
    s_system_stop (&system);
}

//  --contracts SET: the run's own set. A relative directory of ours is
//  made absolute (the orchestrator resolves paths); anything else goes as
//  a name, resolved (or refused) by the orchestrator.
FF_TEST_OPTS (ctl_run, run_with_contracts_uses_that_set_and_status_names_it, .timeout = 60)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01", "P02"), NULL };
    s_system_t system = s_system (contracts, "2");
    //  Another set, in our working directory: same id, one more contract.
    const char *other [] = { S_MICRO ("Q001_PA01", "P02"), S_MICRO ("Q002_PA01", "P02"),
                             S_WAIT ("W001", "P03", 1, 5000) };
    char *set_dir = zsys_sprintf ("%s/myset", system.work);
    cr_assert_eq (mkdir (set_dir, 0700), 0);
    for (size_t i = 0; i < 3; i++) {
        char name [32];
        snprintf (name, sizeof name, "c%02zu.json", i);
        char *path = s_write (set_dir, name, other [i], strlen (other [i]));
        zstr_free (&path);
    }
    cr_assert_eq (chdir (system.work), 0);
    ff_test_process_t *ctl = s_ctl ("run", system.plan, "--contracts", "myset", "--endpoint",
                                    system.endpoint, "--wait", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *lines = s_json_lines (ctl);
    json_t *last = json_array_get (lines, json_array_size (lines) - 1);
    cr_assert_str_eq (s_string (last, "state"), "RUN_SUCCEEDED");
    cr_assert_eq (s_integer (last, "total"), 3, "the run's own set: 3 contracts");
    char *run_id = strdup (s_string (last, "run_id"));
    char *digest = strdup (s_string (last, "contract_set_digest"));
    cr_assert_eq (strncmp (digest, "sha256:", 7), 0, "%s", digest);
    json_decref (lines);
    ff_test_process_destroy (&ctl);

    //  status shows the run's set digest (not the orchestrator's default).
    ctl = s_ctl ("status", run_id, "--endpoint", system.endpoint, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "contract set");
    S_ASSERT_HAS (S_OUT (ctl), digest);
    ff_test_process_destroy (&ctl);
    ctl = s_ctl ("run", system.plan, "--endpoint", system.endpoint, "--wait", "--json",
                 "--phases", "P02", NULL);
    S_ASSERT_EXIT (ctl, 0);
    lines = s_json_lines (ctl);
    last = json_array_get (lines, json_array_size (lines) - 1);
    cr_assert_eq (s_integer (last, "total"), 1, "the default set: 1 contract");
    cr_assert_str_neq (s_string (last, "contract_set_digest"), digest);
    json_decref (lines);
    ff_test_process_destroy (&ctl);

    //  Not a directory here: sent as a name, which this orchestrator (no
    //  contract_sets_dir) refuses, saying why; exit 1, nothing started.
    ctl = s_ctl ("run", system.plan, "--contracts", "nosuchset", "--endpoint", system.endpoint,
                 "--no-wait", NULL);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "contract_sets_dir");
    ff_test_process_destroy (&ctl);
    //  A directory here: sent made absolute (the orchestrator names it),
    //  refused for holding no contracts.
    char *empty = zsys_sprintf ("%s/emptyset", system.work);
    cr_assert_eq (mkdir (empty, 0700), 0);
    ctl = s_ctl ("run", system.plan, "--contracts", "emptyset", "--endpoint", system.endpoint,
                 "--no-wait", NULL);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), empty);
    S_ASSERT_HAS (S_ERR (ctl), "holds no contracts");
    ff_test_process_destroy (&ctl);
    free (run_id);
    free (digest);
    for (size_t i = 0; i < 3; i++) {
        char *gone = zsys_sprintf ("%s/c%02zu.json", set_dir, i);
        unlink (gone);
        zstr_free (&gone);
    }
    rmdir (set_dir);
    rmdir (empty);
    zstr_free (&empty);
    free (set_dir);
    s_system_stop (&system);
}
