#include "ff_test.h"
#include "fac_server.h"
#include "orc_server.h"
#include "sis_server.h"
#include "ff_config.h"
#include "ff_log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined (__SANITIZE_ADDRESS__)
#   include <sanitizer/lsan_interface.h>
#endif

void
ff_test_assert_no_leaks (void)
{
#if defined (__SANITIZE_ADDRESS__)
    cr_assert_eq (__lsan_do_recoverable_leak_check (), 0,
                  "memory leaked: see the LeakSanitizer report on stderr");
#endif
}

#define S_ARGS_MAX 64
#define S_SOCKETS_MAX 4

struct ff_test_service {
    zactor_t *actor;                        // the service
    char *data_dir;                         // orchestrator: its own store, removed at stop
    const ff_config_schema_t *schema;       // to free config
    void *config;                           // loaded settings
    char *endpoints [S_SOCKETS_MAX];        // connectable forms, by socket
    const char *socket_names [S_SOCKETS_MAX];
};

typedef struct {
    const char *name;
    const ff_daemon_t *daemon;              // settings, server, actor
    const char *sockets [S_SOCKETS_MAX];    // name of each bound socket
    const char *request_socket;             // what farfanctl pings
    const char *loopback_args [16];         // settings binding everything on loopback
} s_kind_t;

static const s_kind_t s_kinds [] = {
    { "factory", &fac_daemon, { "direct", NULL }, "direct",
      { "--endpoint", "@tcp://127.0.0.1:*", "--orchestrator-endpoint", "",
        "--sisas-endpoint", "", NULL } },
    { "orchestrator", &orc_daemon, { "client", "worker", NULL }, "client",
      { "--client-endpoint", "@tcp://127.0.0.1:*", "--worker-endpoint", "@tcp://127.0.0.1:*",
        "--sisas-endpoint", "", NULL } },
    { "sisas", &sis_daemon, { "ingest", "publish", "control", NULL }, "control",
      { "--ingest-endpoint", "@tcp://127.0.0.1:*", "--publish-endpoint", "@tcp://127.0.0.1:*",
        "--control-endpoint", "@tcp://127.0.0.1:*", NULL } },
};

static const s_kind_t *
s_kind (const char *name)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds [0]; i++)
        if (streq (s_kinds [i].name, name))
            return &s_kinds [i];
    cr_assert_fail ("unknown service %s", name);
    return NULL;
}

const char *
ff_test_service_request_socket (const char *name)
{
    return s_kind (name)->request_socket;
}

ff_test_service_t *
ff_test_service_start (const char *name, ...)
{
    const s_kind_t *kind = s_kind (name);
    char *argv [S_ARGS_MAX];
    int argc = 0;
    argv [argc++] = (char *) kind->name;
    for (size_t i = 0; kind->loopback_args [i]; i++)
        argv [argc++] = (char *) kind->loopback_args [i];
    argv [argc++] = "--http-address";
    argv [argc++] = "127.0.0.1";
    argv [argc++] = "--http-port";
    argv [argc++] = "-1";
    argv [argc++] = "--log-level";
    argv [argc++] = "warn";
    char *data_dir = NULL;
    if (streq (name, "orchestrator")) {
        //  Its own store, unless the test names one.
        data_dir = strdup ("/tmp/farfan-orchestrator-test-XXXXXX");
        cr_assert_not_null (mkdtemp (data_dir));
        argv [argc++] = "--data-dir";
        argv [argc++] = data_dir;
    }
    va_list args;
    va_start (args, name);
    const char *extra;
    while ((extra = va_arg (args, const char *)) && argc < S_ARGS_MAX)
        argv [argc++] = (char *) extra;
    va_end (args);

    ff_log_init (name, FF_LOG_WARN);
    ff_test_service_t *self = (ff_test_service_t *) zmalloc (sizeof (ff_test_service_t));
    self->data_dir = data_dir;
    self->schema = kind->daemon->schema;
    self->config = zmalloc (kind->daemon->config_size);
    char err [512] = "";
    cr_assert_eq (ff_config_load (kind->daemon->schema, self->config, argc, argv, stdout, err, sizeof err),
                  FF_CONFIG_LOADED, "config: %s", err);
    void *server = kind->daemon->server_new (self->config, err, sizeof err);
    cr_assert_not_null (server, "%s: %s", name, err);
    self->actor = zactor_new (kind->daemon->actor, server);
    cr_assert_not_null (self->actor);

    for (size_t i = 0; i < S_SOCKETS_MAX && kind->sockets [i]; i++) {
        zstr_sendx (self->actor, "ENDPOINT", kind->sockets [i], NULL);
        char *endpoint = zstr_recv (self->actor);
        cr_assert (endpoint && *endpoint, "%s has no %s endpoint", name, kind->sockets [i]);
        self->socket_names [i] = kind->sockets [i];
        self->endpoints [i] = endpoint;
    }
    return self;
}

void
ff_test_service_stop (ff_test_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_test_service_t *self = *self_p;
    zactor_destroy (&self->actor);
    for (size_t i = 0; i < S_SOCKETS_MAX; i++)
        zstr_free (&self->endpoints [i]);
    ff_config_free (self->schema, self->config);
    free (self->config);
    if (self->data_dir) {
        ff_test_remove_dir (self->data_dir);
        free (self->data_dir);
    }
    free (self);
    *self_p = NULL;
}

void
ff_test_remove_dir (const char *path)
{
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
            continue;
        char child [1024];
        snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
        struct stat info;
        if (lstat (child, &info) == 0 && S_ISDIR (info.st_mode))
            ff_test_remove_dir (child);
        else
            unlink (child);
    }
    if (dir)
        closedir (dir);
    rmdir (path);
}

const char *
ff_test_service_endpoint (ff_test_service_t *self, const char *socket_name)
{
    for (size_t i = 0; i < S_SOCKETS_MAX; i++)
        if (self->socket_names [i] && streq (self->socket_names [i], socket_name))
            return self->endpoints [i];
    cr_assert_fail ("no socket named %s", socket_name);
    return NULL;
}

int
ff_test_service_http_port (ff_test_service_t *self)
{
    zstr_send (self->actor, "HTTP_PORT");
    char *port = zstr_recv (self->actor);
    cr_assert_not_null (port);
    int value = atoi (port);
    zstr_free (&port);
    return value;
}

zsock_t *
ff_test_dealer (const char *endpoint)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    cr_assert_not_null (dealer);
    zsock_set_rcvtimeo (dealer, FF_TEST_TIMEOUT_MS);
    zsock_set_sndtimeo (dealer, FF_TEST_TIMEOUT_MS);
    zsock_set_linger (dealer, 0);
    cr_assert_eq (zsock_connect (dealer, "%s", endpoint), 0, "connect %s", endpoint);
    return dealer;
}

ff_msg_t *
ff_test_request (zsock_t *dealer, uint32_t type, const ProtobufCMessage *body)
{
    static unsigned sequence = 0;
    char correlation_id [32];
    snprintf (correlation_id, sizeof correlation_id, "test-%u", ++sequence);
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id,
                               .sender_id = "test" };
    cr_assert_eq (ff_msg_send (dealer, NULL, false, &header, body), 0);
    ff_msg_t *reply = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (reply, dealer), 0, "no valid reply to %s: %s",
                  ff_msg_type_name (type), ff_msg_error (reply));
    cr_assert_str_eq (ff_msg_correlation_id (reply), correlation_id);
    return reply;
}

void
ff_test_assert_pings (zsock_t *dealer)
{
    Farfan__Ping ping = FARFAN__PING__INIT;
    ping.sent_at_us = 42;
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__PING, &ping.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PONG, "got %s: %s",
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    Farfan__Pong *pong = farfan__pong__unpack (NULL, ff_msg_body_size (reply),
                                               ff_msg_body_data (reply));
    cr_assert_not_null (pong);
    cr_assert_eq (pong->echo_sent_at_us, 42);
    farfan__pong__free_unpacked (pong, NULL);
    ff_msg_destroy (&reply);
}

char *
ff_test_http_get (int port, const char *path, int *status)
{
    *status = 0;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (fd >= 0);
    struct timeval timeout = { FF_TEST_TIMEOUT_MS / 1000, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    char *response = NULL;
    if (connect (fd, (struct sockaddr *) &address, sizeof address) != 0)
        goto done;
    char request [256];
    int length = snprintf (request, sizeof request,
                           "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write (fd, request, (size_t) length) != length)
        goto done;
    size_t size = 0, capacity = 4096;
    response = (char *) malloc (capacity);
    ssize_t got;
    while ((got = read (fd, response + size, capacity - size - 1)) > 0) {
        size += (size_t) got;
        if (capacity - size < 1024)
            response = (char *) realloc (response, capacity *= 2);
    }
    response [size] = '\0';
    char *body = strstr (response, "\r\n\r\n");
    if (sscanf (response, "HTTP/1.%*d %d", status) != 1 || !body) {
        free (response);
        response = NULL;
        goto done;
    }
    memmove (response, body + 4, strlen (body + 4) + 1);
done:
    close (fd);
    return response;
}

double
ff_test_metric (const char *page, const char *series)
{
    size_t length = strlen (series);
    for (const char *line = page; line && *line; ) {
        if (strncmp (line, series, length) == 0 && line [length] == ' ')
            return strtod (line + length + 1, NULL);
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return NAN;
}

const char *
ff_test_build_path (const char *relative, char *out, size_t out_size)
{
    snprintf (out, out_size, "%s/%s", FF_TEST_BUILD_ROOT, relative);
    return out;
}

//  ---------------------------------------------------------------------
//  Processes

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

typedef struct {
    int fd;                 // read end; -1 at EOF
    char *text;             // everything read, NUL-terminated
    size_t size;
    size_t scanned;         // bytes already searched for lines
} s_stream_t;

struct ff_test_process {
    pid_t pid;
    bool reaped;
    int exit_code;
    s_stream_t streams [2];     // stdout, stderr
    char line [4096];           // last line returned by wait_line
};

//  The child dies with the test process: Criterion kills a timed-out test
//  worker with SIGKILL, which would otherwise orphan the daemons it runs.
//  Everything the child needs (environment, pipes) is prepared before fork;
//  between fork and execve the child makes only async-signal-safe calls
//  and reports a failure with exit code 127.
ff_test_process_t *
ff_test_spawn (const char *program, char *const argv [], char *const env [])
{
    ff_test_process_t *self = (ff_test_process_t *) zmalloc (sizeof (ff_test_process_t));
    int pipes [2][2];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq (pipe2 (pipes [i], O_CLOEXEC), 0);
        self->streams [i].text = (char *) zmalloc (1);
    }
    //  The parent's environment plus the extra entries.
    size_t count = 0;
    while (environ [count])
        count++;
    size_t extra = 0;
    while (env && env [extra])
        extra++;
    char **envp = (char **) zmalloc ((count + extra + 1) * sizeof (char *));
    memcpy (envp, environ, count * sizeof (char *));
    for (size_t i = 0; i < extra; i++)
        envp [count + i] = env [i];
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  dup2 clears O_CLOEXEC on the copies; the originals close at execve.
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent
            || dup2 (pipes [0][1], STDOUT_FILENO) < 0 || dup2 (pipes [1][1], STDERR_FILENO) < 0)
            _exit (127);
        execve (program, argv, envp);
        _exit (127);
    }
    int error = pid < 0 ? errno : 0;
    self->pid = pid;
    free (envp);
    for (int i = 0; i < 2; i++) {
        close (pipes [i][1]);
        self->streams [i].fd = pipes [i][0];
    }
    cr_assert_eq (error, 0, "spawn %s: %s", program, strerror (error));
    return self;
}

static uint64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
}

//  Reads whatever is available within timeout_ms; returns false when both
//  streams are at EOF.
static bool
s_read_some (ff_test_process_t *self, int timeout_ms)
{
    struct pollfd fds [2];
    int watched = 0;
    int which [2];
    for (int i = 0; i < 2; i++)
        if (self->streams [i].fd >= 0) {
            fds [watched].fd = self->streams [i].fd;
            fds [watched].events = POLLIN;
            which [watched++] = i;
        }
    if (watched == 0)
        return false;
    if (poll (fds, (nfds_t) watched, timeout_ms) <= 0)
        return true;
    for (int w = 0; w < watched; w++) {
        if (!(fds [w].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        s_stream_t *stream = &self->streams [which [w]];
        char buffer [4096];
        ssize_t got = read (stream->fd, buffer, sizeof buffer);
        if (got <= 0) {
            close (stream->fd);
            stream->fd = -1;
            continue;
        }
        stream->text = (char *) realloc (stream->text, stream->size + (size_t) got + 1);
        memcpy (stream->text + stream->size, buffer, (size_t) got);
        stream->size += (size_t) got;
        stream->text [stream->size] = '\0';
    }
    return true;
}

const char *
ff_test_process_wait_line (ff_test_process_t *self, const char *needle, int timeout_ms)
{
    uint64_t deadline = s_now_ms () + (uint64_t) timeout_ms;
    while (true) {
        for (int i = 0; i < 2; i++) {
            s_stream_t *stream = &self->streams [i];
            char *newline;
            while ((newline = memchr (stream->text + stream->scanned, '\n',
                                      stream->size - stream->scanned))) {
                size_t length = (size_t) (newline - (stream->text + stream->scanned));
                if (length >= sizeof self->line)
                    length = sizeof self->line - 1;
                memcpy (self->line, stream->text + stream->scanned, length);
                self->line [length] = '\0';
                stream->scanned = (size_t) (newline - stream->text) + 1;
                if (strstr (self->line, needle))
                    return self->line;
            }
        }
        uint64_t now = s_now_ms ();
        if (now >= deadline || !s_read_some (self, (int) (deadline - now)))
            return NULL;
    }
}

void
ff_test_process_signal (ff_test_process_t *self, int signal_number)
{
    if (!self->reaped)
        kill (self->pid, signal_number);
}

int
ff_test_process_wait_exit (ff_test_process_t *self, int timeout_ms)
{
    uint64_t deadline = s_now_ms () + (uint64_t) timeout_ms;
    while (!self->reaped) {
        int status;
        pid_t done = waitpid (self->pid, &status, WNOHANG);
        if (done == self->pid) {
            self->reaped = true;
            self->exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
            break;
        }
        uint64_t now = s_now_ms ();
        if (now >= deadline) {
            kill (self->pid, SIGKILL);
            return -1;
        }
        //  Output pipes close when the process exits: this waits on them,
        //  in slices so a child that leaked its pipes to a grandchild
        //  cannot stall us.
        if (!s_read_some (self, (int) (deadline - now < 50 ? deadline - now : 50))) {
            waitpid (self->pid, &status, 0);
            self->reaped = true;
            self->exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        }
    }
    //  Collect the last output; bounded, in case a grandchild holds a pipe.
    for (int i = 0; i < 64 && (self->streams [0].fd >= 0 || self->streams [1].fd >= 0); i++)
        s_read_some (self, 10);
    return self->exit_code;
}

const char *
ff_test_process_stdout (ff_test_process_t *self)
{
    return self->streams [0].text;
}

const char *
ff_test_process_stderr (ff_test_process_t *self)
{
    return self->streams [1].text;
}

void
ff_test_process_destroy (ff_test_process_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_test_process_t *self = *self_p;
    if (!self->reaped) {
        kill (self->pid, SIGKILL);
        waitpid (self->pid, NULL, 0);
    }
    for (int i = 0; i < 2; i++) {
        if (self->streams [i].fd >= 0)
            close (self->streams [i].fd);
        free (self->streams [i].text);
    }
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Files, JSON, Python

char *
ff_test_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long length = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *data = (char *) malloc ((size_t) length + 1);
    cr_assert_not_null (data);
    cr_assert_eq (fread (data, 1, (size_t) length, file), (size_t) length);
    data [length] = '\0';
    fclose (file);
    if (size)
        *size = (size_t) length;
    return data;
}

json_t *
ff_test_json (const char *text)
{
    json_error_t error;
    json_t *value = json_loads (text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    cr_assert_not_null (value, "bad JSON in the test: %s: %s", text, error.text);
    return value;
}

json_t *
ff_test_python_json (const char *script, const json_t *spec)
{
    char spec_path [] = "/tmp/ff_test_spec_XXXXXX";
    char out_path [] = "/tmp/ff_test_out_XXXXXX";
    int spec_fd = mkstemp (spec_path);
    int out_fd = mkstemp (out_path);
    cr_assert (spec_fd >= 0 && out_fd >= 0);
    close (out_fd);
    FILE *file = fdopen (spec_fd, "w");
    cr_assert_eq (json_dumpf (spec, file, 0), 0);
    fclose (file);
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        execl ("/usr/bin/python3", "/usr/bin/python3", "-c", script, spec_path, out_path, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "python3 failed (status %d)", status);
    json_error_t error;
    json_t *result = json_load_file (out_path, 0, &error);
    cr_assert_not_null (result, "python output: %s", error.text);
    unlink (spec_path);
    unlink (out_path);
    return result;
}

//  ---------------------------------------------------------------------
//  Methods over contracts built by hand

static char *
s_strdup (const char *text)
{
    char *copy = strdup (text ? text : "");
    cr_assert_not_null (copy);
    return copy;
}

fac_contract_t *
ff_test_contract_new (const ff_test_contract_spec_t *spec)
{
    fac_contract_t *contract = (fac_contract_t *) calloc (1, sizeof (fac_contract_t));
    cr_assert_not_null (contract);
    contract->id = s_strdup (spec->id);
    contract->version = s_strdup ("1");
    contract->type = s_strdup (spec->type);
    contract->title = spec->title ? s_strdup (spec->title) : NULL;
    contract->base_question = s_strdup (spec->base_question ? spec->base_question : "Q001");
    contract->policy_area = s_strdup (spec->policy_area ? spec->policy_area : "PA01");
    contract->dimension = s_strdup (spec->dimension ? spec->dimension : "DIM01");
    contract->cluster = s_strdup (spec->cluster ? spec->cluster : "CL02");
    contract->uses_document = spec->document;
    contract->patterns = (fac_pattern_t *) calloc (spec->pattern_count + 1, sizeof (fac_pattern_t));
    cr_assert_not_null (contract->patterns);
    for (size_t i = 0; i < spec->pattern_count; i++) {
        char id [32];
        snprintf (id, sizeof id, "P%zu", i);
        contract->patterns [i].id = s_strdup (id);
        contract->patterns [i].regex = s_strdup (spec->patterns [i].regex);
        contract->patterns [i].flags = spec->patterns [i].flags;
        contract->patterns [i].element_type = s_strdup (spec->patterns [i].type);
        contract->patterns [i].weight = spec->patterns [i].weight;
    }
    contract->pattern_count = spec->pattern_count;
    contract->expected = (fac_expected_t *) calloc (spec->expected_count + 1, sizeof (fac_expected_t));
    cr_assert_not_null (contract->expected);
    for (size_t i = 0; i < spec->expected_count; i++) {
        contract->expected [i].type = s_strdup (spec->expected [i].type);
        contract->expected [i].minimum = spec->expected [i].minimum;
        contract->expected [i].required = spec->expected [i].required;
    }
    contract->expected_count = spec->expected_count;
    contract->input_contracts = (char **) calloc (spec->input_count + 1, sizeof (char *));
    cr_assert_not_null (contract->input_contracts);
    for (size_t i = 0; i < spec->input_count; i++)
        contract->input_contracts [i] = s_strdup (spec->inputs [i]);
    contract->input_count = spec->input_count;
    contract->modality = s_strdup (spec->modality);
    contract->scoring = spec->scoring_json ? json_loads (spec->scoring_json, 0, NULL) : json_object ();
    cr_assert_not_null (contract->scoring);
    contract->timeout_ms = 1000;
    contract->source = s_strdup ("test");
    contract->canonical = s_strdup ("{}");
    atomic_init (&contract->refs, 1);
    return contract;
}

void
ff_test_contract_free (fac_contract_t *contract)
{
    for (size_t i = 0; i < contract->pattern_count; i++) {
        free (contract->patterns [i].id);
        free (contract->patterns [i].regex);
        free (contract->patterns [i].element_type);
    }
    free (contract->patterns);
    for (size_t i = 0; i < contract->expected_count; i++)
        free (contract->expected [i].type);
    free (contract->expected);
    for (size_t i = 0; i < contract->input_count; i++)
        free (contract->input_contracts [i]);
    free (contract->input_contracts);
    free (contract->id);
    free (contract->version);
    free (contract->type);
    free (contract->title);
    free (contract->base_question);
    free (contract->policy_area);
    free (contract->dimension);
    free (contract->cluster);
    free (contract->modality);
    json_decref (contract->scoring);
    free (contract->source);
    free (contract->canonical);
    free (contract);
}

fac_compiled_t *
ff_test_compile (fac_contract_t *contract)
{
    fac_compiled_t *compiled = (fac_compiled_t *) calloc (1, sizeof (fac_compiled_t));
    cr_assert_not_null (compiled);
    compiled->contract = contract;
    compiled->codes = (pcre2_code **) calloc (contract->pattern_count + 1, sizeof (pcre2_code *));
    cr_assert_not_null (compiled->codes);
    for (size_t i = 0; i < contract->pattern_count; i++) {
        char err [256];
        int rc = fac_pattern_compile (&contract->patterns [i], &compiled->codes [i], err, sizeof err);
        cr_assert_eq (rc, 0, "pattern %zu (%s): %s", i, contract->patterns [i].regex, err);
    }
    atomic_init (&compiled->refs, 1);
    return compiled;
}

void
ff_test_compiled_free (fac_compiled_t *compiled)
{
    for (size_t i = 0; i < compiled->contract->pattern_count; i++)
        pcre2_code_free (compiled->codes [i]);
    free (compiled->codes);
    ff_test_contract_free (compiled->contract);
    free (compiled);
}

int
ff_test_step (fac_context_t *ctx, const char *method_name, const char *params_json)
{
    const fac_method_t *method = fac_method_lookup (method_name);
    cr_assert_not_null (method, "%s not registered", method_name);
    cr_assert_not_null (method->run);
    json_t *params = ff_test_json (params_json);
    char err [256] = "";
    int rc = method->check (params, ctx->compiled->contract, NULL, err, sizeof err);
    cr_assert_eq (rc, 0, "%s %s refused: %s", method_name, params_json, err);
    ctx->error [0] = '\0';
    rc = method->run (ctx, params);
    json_decref (params);
    return rc;
}

void
ff_test_step_ok (fac_context_t *ctx, const char *method_name, const char *params_json)
{
    int rc = ff_test_step (ctx, method_name, params_json);
    cr_assert_eq (rc, 0, "%s failed: %s", method_name, ctx->error);
}

json_t *
ff_test_output (const fac_context_t *ctx, const char *method_name)
{
    json_t *output = json_object_get (ctx->output, method_name);
    cr_assert_not_null (output, "no output of %s", method_name);
    return output;
}

//  ---------------------------------------------------------------------
//  A factory's direct socket

char *
ff_test_put_document (zsock_t *dealer, const char *text, size_t size, bool *already)
{
    Farfan__PutDocument put = FARFAN__PUT_DOCUMENT__INIT;
    put.content.data = (uint8_t *) text;
    put.content.len = size;
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, &put.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__DOCUMENT_STORED, "%s",
                  ff_msg_status_message (reply));
    Farfan__DocumentStored *stored = farfan__document_stored__unpack (NULL, ff_msg_body_size (reply),
                                                                      ff_msg_body_data (reply));
    cr_assert_not_null (stored);
    char *digest = strdup (stored->digest);
    cr_assert_not_null (digest);
    if (already)
        *already = stored->already_present;
    cr_assert_eq (stored->size, size);
    farfan__document_stored__free_unpacked (stored, NULL);
    ff_msg_destroy (&reply);
    return digest;
}

//  ---------------------------------------------------------------------
//  An orchestrator's client socket

ff_msg_t *
ff_test_call (zsock_t *client, uint32_t type, const ProtobufCMessage *body, int timeout_ms)
{
    return ff_msg_call (client, type, body, "test", timeout_ms);
}

ff_msg_t *
ff_test_call_ok (zsock_t *client, uint32_t type, const ProtobufCMessage *body, uint32_t expected)
{
    ff_msg_t *reply = ff_test_call (client, type, body, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (reply, "no answer to %s", ff_msg_type_name (type));
    cr_assert_eq (ff_msg_type (reply), expected, "%s answered %s: %s %s", ff_msg_type_name (type),
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_code_name (ff_msg_status_code (reply)),
                  ff_msg_status_message (reply));
    return reply;
}

ProtobufCMessage *
ff_test_call_decoded (zsock_t *client, uint32_t type, const ProtobufCMessage *body,
                      uint32_t expected, const ProtobufCMessageDescriptor *descriptor)
{
    ff_msg_t *reply = ff_test_call_ok (client, type, body, expected);
    ProtobufCMessage *decoded = protobuf_c_message_unpack (descriptor, NULL, ff_msg_body_size (reply),
                                                           ff_msg_body_data (reply));
    ff_msg_destroy (&reply);
    cr_assert_not_null (decoded, "%s answered an undecodable %s", ff_msg_type_name (type),
                        descriptor->name);
    return decoded;
}

char *
ff_test_submit (zsock_t *client, const char *name, const char *document, const char *first,
                const char *last, uint32_t budget)
{
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) document;
    submit.document.len = strlen (document);
    submit.name = (char *) name;
    submit.first_phase = (char *) (first ? first : "");
    submit.last_phase = (char *) (last ? last : "");
    submit.worker_budget = budget;
    Farfan__Submitted *submitted = (Farfan__Submitted *) ff_test_call_decoded (
        client, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base, FARFAN__MESSAGE_TYPE__SUBMITTED,
        &farfan__submitted__descriptor);
    char *run_id = strdup (submitted->run_id);
    cr_assert_not_null (run_id);
    farfan__submitted__free_unpacked (submitted, NULL);
    return run_id;
}

bool
ff_test_run_final (Farfan__RunState state)
{
    return state == FARFAN__RUN_STATE__RUN_SUCCEEDED || state == FARFAN__RUN_STATE__RUN_FAILED
        || state == FARFAN__RUN_STATE__RUN_CANCELLED;
}

Farfan__RunStatus *
ff_test_run_status (zsock_t *client, const char *run_id)
{
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = (char *) run_id;
    return (Farfan__RunStatus *) ff_test_call_decoded (client, FARFAN__MESSAGE_TYPE__STATUS, &ref.base,
                                                       FARFAN__MESSAGE_TYPE__RUN_STATUS,
                                                       &farfan__run_status__descriptor);
}

void
ff_test_watch_send (zsock_t *client, const char *run_id)
{
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = (char *) run_id;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__WATCH, .correlation_id = "watch" };
    cr_assert_eq (ff_msg_send (client, NULL, false, &header, &ref.base), 0);
}

bool
ff_test_progress_take (ff_msg_t *msg, Farfan__RunStatus **status_p)
{
    if (!streq (ff_msg_correlation_id (msg), "watch"))
        return false;
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__PROGRESS, "%s", ff_msg_status_message (msg));
    if (*status_p)
        farfan__run_status__free_unpacked (*status_p, NULL);
    *status_p = farfan__run_status__unpack (NULL, ff_msg_body_size (msg), ff_msg_body_data (msg));
    cr_assert_not_null (*status_p);
    return true;
}

Farfan__RunStatus *
ff_test_watch (zsock_t *client, const char *run_id, int deadline_ms, size_t *progress_count)
{
    ff_test_watch_send (client, run_id);
    int64_t deadline = zclock_mono () + deadline_ms;
    ff_msg_t *reply = ff_msg_new ();
    Farfan__RunStatus *status = NULL;
    size_t count = 0;
    while (!status || !ff_test_run_final (status->state)) {
        cr_assert_lt (zclock_mono (), deadline, "run %s has not ended after %d ms", run_id,
                      deadline_ms);
        cr_assert_eq (ff_msg_recv (reply, client), 0, "no PROGRESS of %s within %d ms", run_id,
                      FF_TEST_TIMEOUT_MS);
        if (ff_test_progress_take (reply, &status))
            count++;
    }
    ff_msg_destroy (&reply);
    if (progress_count)
        *progress_count = count;
    return status;
}

Farfan__RunResults *
ff_test_results (zsock_t *client, const char *run_id, const char *phase)
{
    Farfan__ResultsRequest request = FARFAN__RESULTS_REQUEST__INIT;
    request.run_id = (char *) run_id;
    request.phase = (char *) (phase ? phase : "");
    return (Farfan__RunResults *) ff_test_call_decoded (
        client, FARFAN__MESSAGE_TYPE__RESULTS, &request.base, FARFAN__MESSAGE_TYPE__RUN_RESULTS,
        &farfan__run_results__descriptor);
}

const Farfan__ContractResult *
ff_test_result_find (const Farfan__RunResults *results, const char *id)
{
    const Farfan__ContractResult *found = NULL;
    for (size_t i = 0; i < results->n_results; i++)
        if (streq (results->results [i]->contract_id, id)) {
            cr_assert_null (found, "%s stored twice", id);
            found = results->results [i];
        }
    return found;
}

Farfan__FactoryList *
ff_test_factories (zsock_t *client)
{
    Farfan__FactoriesRequest request = FARFAN__FACTORIES_REQUEST__INIT;
    return (Farfan__FactoryList *) ff_test_call_decoded (
        client, FARFAN__MESSAGE_TYPE__FACTORIES, &request.base, FARFAN__MESSAGE_TYPE__FACTORY_LIST,
        &farfan__factory_list__descriptor);
}

size_t
ff_test_factory_count (zsock_t *client)
{
    Farfan__FactoryList *list = ff_test_factories (client);
    size_t count = list->n_factories;
    farfan__factory_list__free_unpacked (list, NULL);
    return count;
}
