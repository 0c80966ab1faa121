/*  fac_exec — see fac_exec.h; the program's side is proto/exec-protocol.md.

    One execution holds four descriptors, each a zloop poller while it is
    open: the pidfd (readable when the program exits), stdout and stderr
    (read ends) and stdin (write end, polled for POLLOUT while input is
    left). Timers: the timeout, the SIGTERM -> SIGKILL grace, the drain
    after exit, and a zero-delay one that reports a failed start.

    zloop (4.2.1) still fires, later in the same turn, a timer that an
    earlier handler of that turn cancelled, with the arg of a handle that
    may be freed by then (our own completion from a timer, or the engine
    cancelling from one); older CZMQ did the same with pollers removed by
    a timer. Every handler therefore looks its arg up in the thread's
    registry of live handles and checks that the timer id or descriptor is
    still that handle's; descriptors are non-blocking and the pidfd's
    readiness is confirmed with waitid, so a stale readiness is harmless.
*/
#include "fac_exec.h"
#include "fac_method.h"
#include "ff_clock.h"
#include "ff_utf8.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  Bytes of stderr kept (its tail), for the reason's quote.
#define S_STDERR_TAIL       4096
//  Longest quote of stderr (or of a program's "error") in a reason, bytes.
#define S_QUOTE_MAX         200
//  Default SIGTERM -> SIGKILL delay and drain after exit, ms.
#define S_GRACE_DEFAULT_MS  200
//  Bytes per read() or write() call.
#define S_IO_CHUNK          65536
//  Bytes moved per descriptor per loop turn, so one chatty program cannot
//  starve the loop (the poll is level-triggered: the rest comes next turn).
#define S_IO_BUDGET         (1024 * 1024)

typedef enum {
    S_VERDICT_NONE = 0,         // judged by exit status and output
    S_VERDICT_TIMEOUT,          // ran past timeout_ms
    S_VERDICT_OVER_CAP,         // printed more than output_cap
    S_VERDICT_NO_MEMORY,        // its stdout could not be stored
} s_verdict_t;

struct fac_exec {
    zloop_t *loop;                  // borrowed
    fac_exec_done_fn *done;         // completion callback
    void *arg;                      // its argument
    char *program;                  // argv[0], for reasons
    pid_t pid;                      // the program (its process group too); 0 = did not start
    int pidfd;                      // -1 once reaped
    int in_fd;                      // our end of stdin; -1 once closed
    int out_fd;                     // our end of stdout; -1 once closed
    int err_fd;                     // our end of stderr; -1 once closed
    bool pidfd_polled;              // pidfd is a poller (until exit is seen)
    bool raw_output;                // stdout is text, not a JSON object
    char *input;                    // copy of the input; NULL once stdin is closed
    size_t input_size;
    size_t input_sent;              // bytes written so far
    char *out;                      // stdout so far (at most output_cap + 1 bytes)
    size_t out_size;
    size_t out_alloc;
    size_t output_cap;
    char err_tail [S_STDERR_TAIL];  // the last bytes of stderr
    size_t err_size;
    uint32_t timeout_ms;
    uint32_t grace_ms;
    int timeout_timer;              // timer ids, -1 when not set
    int kill_timer;
    int drain_timer;
    int start_failed_timer;
    int start_errno;                // posix_spawn's error when it did not start
    bool exited;                    // the program exited (reaped or not)
    bool sigkill_sent;              // the grace ran out at timeout
    bool completing;                // in the callback: cancel is a no-op
    s_verdict_t verdict;
    uint64_t started_us;
    char reason [640];
};

static atomic_size_t s_running;
//  Live handles of this thread (keys and values are the handles).
static _Thread_local zhashx_t *s_live;

//  ---------------------------------------------------------------------
//  The registry of live handles

static size_t
s_pointer_hash (const void *key)
{
    uintptr_t value = (uintptr_t) key;
    return (size_t) (value >> 4) ^ (size_t) (value >> 16);
}

static int
s_pointer_compare (const void *a, const void *b)
{
    return a == b ? 0 : ((uintptr_t) a < (uintptr_t) b ? -1 : 1);
}

static int
s_live_add (fac_exec_t *self)
{
    if (!s_live) {
        s_live = zhashx_new ();
        if (!s_live)
            return -1;
        zhashx_set_key_hasher (s_live, s_pointer_hash);
        zhashx_set_key_comparator (s_live, s_pointer_compare);
        zhashx_set_key_duplicator (s_live, NULL);
        zhashx_set_key_destructor (s_live, NULL);
    }
    return zhashx_insert (s_live, self, self);
}

static void
s_live_remove (fac_exec_t *self)
{
    if (!s_live)
        return;
    zhashx_delete (s_live, self);
    if (zhashx_size (s_live) == 0)
        zhashx_destroy (&s_live);
}

//  The live handle arg points to, or NULL when it is gone.
static fac_exec_t *
s_live_find (void *arg)
{
    return s_live ? (fac_exec_t *) zhashx_lookup (s_live, arg) : NULL;
}

//  ---------------------------------------------------------------------
//  Descriptors, timers, signals

static void
s_poller_end (fac_exec_t *self, int fd)
{
    zmq_pollitem_t item = { NULL, fd, 0, 0 };
    zloop_poller_end (self->loop, &item);
}

static int
s_poller_add (fac_exec_t *self, int fd, short events, zloop_fn *handler)
{
    zmq_pollitem_t item = { NULL, fd, events, 0 };
    if (zloop_poller (self->loop, &item, handler, self) != 0)
        return -1;
    //  A pipe's hang-up shows as ZMQ_POLLERR: the handler deals with it.
    zloop_poller_set_tolerant (self->loop, &item);
    return 0;
}

//  Unregisters and closes *fd_p (a poller) when open.
static void
s_close_polled (fac_exec_t *self, int *fd_p)
{
    if (*fd_p >= 0) {
        s_poller_end (self, *fd_p);
        close (*fd_p);
        *fd_p = -1;
    }
}

static void
s_timer_end (fac_exec_t *self, int *timer_p)
{
    if (*timer_p != -1) {
        zloop_timer_end (self->loop, *timer_p);
        *timer_p = -1;
    }
}

//  Signals the program's process group while the program is unreaped (a
//  zombie leader keeps the group id from being reused).
static void
s_signal_group (fac_exec_t *self, int signal_number)
{
    if (self->pid > 0 && self->pidfd >= 0)
        kill (-self->pid, signal_number);
}

static void
s_close_stdin (fac_exec_t *self)
{
    s_close_polled (self, &self->in_fd);
    free (self->input);
    self->input = NULL;
}

//  Stops watching everything on the loop (descriptors stay open).
static void
s_detach (fac_exec_t *self)
{
    if (self->pidfd_polled) {
        s_poller_end (self, self->pidfd);
        self->pidfd_polled = false;
    }
    s_close_stdin (self);
    s_close_polled (self, &self->out_fd);
    s_close_polled (self, &self->err_fd);
    s_timer_end (self, &self->timeout_timer);
    s_timer_end (self, &self->kill_timer);
    s_timer_end (self, &self->drain_timer);
    s_timer_end (self, &self->start_failed_timer);
}

//  waitid on the program: by pidfd, or by pid on kernels before 5.4
//  (pidfd_open but no P_PIDFD; the pid is ours until we reap it).
static int
s_waitid (fac_exec_t *self, siginfo_t *info, int options)
{
    memset (info, 0, sizeof *info);
    int rc;
    do
        rc = waitid ((idtype_t) P_PIDFD, (id_t) self->pidfd, info, options);
    while (rc == -1 && errno == EINTR);
    if (rc == -1 && errno == EINVAL) {
        do
            rc = waitid (P_PID, (id_t) self->pid, info, options);
        while (rc == -1 && errno == EINTR);
    }
    return rc;
}

//  Reaps the program (it has exited or was sent SIGKILL) and closes its
//  pidfd. Fills info; -1 when the status is not available (errno ECHILD:
//  something else reaped it).
static int
s_reap (fac_exec_t *self, siginfo_t *info)
{
    int rc = s_waitid (self, info, WEXITED);
    int saved = errno;
    close (self->pidfd);
    self->pidfd = -1;
    errno = saved;
    return rc;
}

static void
s_free (fac_exec_t *self)
{
    s_live_remove (self);
    free (self->input);
    free (self->out);
    free (self->program);
    free (self);
}

//  write() that never raises SIGPIPE in the process: SIGPIPE is blocked
//  in this thread for the call, and the one the call raises (only when
//  none was pending already) is consumed before the mask is restored.
static ssize_t
s_write_nosigpipe (int fd, const void *data, size_t size)
{
    sigset_t pipe_set, old_mask, pending;
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    sigemptyset (&pending);
    sigpending (&pending);
    bool was_pending = sigismember (&pending, SIGPIPE) == 1;
    pthread_sigmask (SIG_BLOCK, &pipe_set, &old_mask);
    ssize_t written = write (fd, data, size);
    int saved = errno;
    if (written == -1 && saved == EPIPE && !was_pending) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait (&pipe_set, NULL, &zero) == -1 && errno == EINTR)
            ;
    }
    pthread_sigmask (SIG_SETMASK, &old_mask, NULL);
    errno = saved;
    return written;
}

//  ---------------------------------------------------------------------
//  The reason

//  Makes text one line of valid UTF-8: invalid bytes become '?', control
//  characters spaces.
static void
s_sanitize (char *text)
{
    size_t size = strlen (text);
    size_t at = 0;
    while (at < size) {
        size_t bad = ff_utf8_check ((const uint8_t *) text + at, size - at, false);
        if (bad == 0)
            break;
        text [at + bad - 1] = '?';
        at += bad;
    }
    for (size_t i = 0; i < size; i++)
        if ((unsigned char) text [i] < 0x20 || text [i] == 0x7f)
            text [i] = ' ';
}

//  Copies the last non-blank line of data[0..size) into quote (sanitized,
//  at most S_QUOTE_MAX bytes, cut on a character boundary); "" if none.
static void
s_last_line (const char *data, size_t size, char *quote, size_t quote_size)
{
    while (size > 0 && strchr (" \t\r\n", data [size - 1]) && data [size - 1] != '\0')
        size--;
    size_t start = size;
    while (start > 0 && data [start - 1] != '\n')
        start--;
    char line [S_QUOTE_MAX * 2 + 1];
    size_t length = size - start;
    if (length > sizeof line - 1)
        length = sizeof line - 1;
    memcpy (line, data + start, length);
    line [length] = '\0';
    //  A NUL inside the line ends it: what follows is not quotable.
    s_sanitize (line);
    length = ff_utf8_prefix (line, strlen (line), S_QUOTE_MAX);
    if (length >= quote_size)
        length = ff_utf8_prefix (line, length, quote_size - 1);
    memcpy (quote, line, length);
    quote [length] = '\0';
}

static void
s_reasonf (fac_exec_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_reasonf (fac_exec_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->reason, sizeof self->reason, format, args);
    va_end (args);
}

//  Appends "; stderr: <its last line>" when stderr had one, and makes the
//  reason one line of valid UTF-8.
static void
s_reason_finish (fac_exec_t *self)
{
    char quote [S_QUOTE_MAX + 1];
    s_last_line (self->err_tail, self->err_size, quote, sizeof quote);
    if (*quote) {
        size_t used = strlen (self->reason);
        snprintf (self->reason + used, sizeof self->reason - used, "; stderr: %s", quote);
    }
    //  snprintf may have cut a character in two: the sanitizer marks it.
    s_sanitize (self->reason);
}

//  Kills the group for a verdict reached while reading: stdout and stdin
//  are closed, the rest (exit, stderr) is awaited.
static void
s_abort (fac_exec_t *self, s_verdict_t verdict)
{
    if (self->verdict == S_VERDICT_NONE)
        self->verdict = verdict;
    s_signal_group (self, SIGKILL);
    s_close_stdin (self);
    s_close_polled (self, &self->out_fd);
}

//  The value at key is absent or a number in min..max.
static int
s_check_number (fac_exec_t *self, const json_t *object, const char *key, double min,
                double max)
{
    const json_t *value = json_object_get (object, key);
    if (!value)
        return 0;
    if (json_is_number (value)) {
        double number = json_number_value (value);
        if (number >= min && number <= max)
            return 0;
        s_reasonf (self, "program output: \"%s\" must be in %g..%g, got %g", key, min, max,
                   number);
        return -1;
    }
    s_reasonf (self, "program output: \"%s\" must be a number in %g..%g", key, min, max);
    return -1;
}

static const char *
s_json_type_name (const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT:   return "an object";
        case JSON_ARRAY:    return "an array";
        case JSON_STRING:   return "a string";
        case JSON_INTEGER:
        case JSON_REAL:     return "a number";
        case JSON_TRUE:
        case JSON_FALSE:    return "a boolean";
        default:            return "null";
    }
}

//  Judges stdout of a program that exited 0. Returns its object, or NULL
//  with the reason set.
static json_t *
s_parse_output (fac_exec_t *self)
{
    if (self->raw_output) {
        json_t *text = json_stringn (self->out ? self->out : "", self->out_size);
        if (!text)
            s_reasonf (self, "program printed text that is not valid UTF-8");
        return text;
    }
    size_t at = 0;
    while (at < self->out_size && strchr (" \t\r\n", self->out [at]) && self->out [at])
        at++;
    if (at == self->out_size) {
        s_reasonf (self, "program printed invalid JSON: nothing on stdout");
        return NULL;
    }
    json_error_t error;
    json_t *output = json_loadb (self->out, self->out_size, JSON_REJECT_DUPLICATES, &error);
    if (!output) {
        s_reasonf (self, "program printed invalid JSON: %s (line %d, column %d)", error.text,
                   error.line, error.column);
        return NULL;
    }
    if (!json_is_object (output)) {
        s_reasonf (self, "program printed invalid JSON: %s, not an object",
                   s_json_type_name (output));
        json_decref (output);
        return NULL;
    }
    const json_t *free_form = json_object_get (output, "output");
    if (s_check_number (self, output, "score", 0, 3)
    ||  s_check_number (self, output, "confidence", 0, 1)
    ||  s_check_number (self, output, "ratio", 0, 1)) {
        json_decref (output);
        return NULL;
    }
    if (free_form && !json_is_object (free_form)) {
        s_reasonf (self, "program output: \"output\" must be an object, got %s",
                   s_json_type_name (free_form));
        json_decref (output);
        return NULL;
    }
    return output;
}

//  The "error" string of a failing program's stdout object, quoted into
//  quote ("" when none).
static void
s_program_error (fac_exec_t *self, char *quote, size_t quote_size)
{
    *quote = '\0';
    json_t *object = json_loadb (self->out, self->out_size, 0, NULL);
    const char *text = json_string_value (json_object_get (object, "error"));
    if (text)
        s_last_line (text, strlen (text), quote, quote_size);
    json_decref (object);
}

//  ---------------------------------------------------------------------
//  Completion

//  The program exited and its pipes are done (or the drain ran out), or it
//  never started: reap, judge, call back, free.
static void
s_finish (fac_exec_t *self)
{
    s_detach (self);
    fac_exec_status_t status = FAC_EXEC_FAILED;
    json_t *output = NULL;
    siginfo_t info;
    int reaped = 0;
    int reap_errno = 0;
    if (self->pid > 0) {
        //  Descendants left in the group die with their program.
        s_signal_group (self, SIGKILL);
        reaped = s_reap (self, &info);
        reap_errno = errno;
    }
    if (self->pid == 0)
        s_reasonf (self, "cannot run %s: %s", self->program, strerror (self->start_errno));
    else
    if (self->verdict == S_VERDICT_OVER_CAP)
        s_reasonf (self, "output exceeds %zu bytes", self->output_cap);
    else
    if (self->verdict == S_VERDICT_NO_MEMORY)
        s_reasonf (self, "out of memory storing the program's output (%zu bytes so far)",
                   self->out_size);
    else
    if (self->verdict == S_VERDICT_TIMEOUT) {
        status = FAC_EXEC_TIMEOUT;
        if (self->sigkill_sent)
            s_reasonf (self, "program timed out after %u ms (killed with SIGKILL: still running "
                       "%u ms after SIGTERM)", self->timeout_ms, self->grace_ms);
        else
            s_reasonf (self, "program timed out after %u ms (stopped with SIGTERM)",
                       self->timeout_ms);
    }
    else
    if (reaped == -1)
        s_reasonf (self, "program exit status unavailable: %s (is SIGCHLD ignored?)",
                   strerror (reap_errno));
    else
    if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
        const char *name = sigabbrev_np (info.si_status);
        s_reasonf (self, "program killed by signal %d (SIG%s)", info.si_status,
                   name ? name : "?");
    }
    else
    if (info.si_status != 0) {
        char quote [S_QUOTE_MAX + 1];
        s_program_error (self, quote, sizeof quote);
        s_reasonf (self, "program exited with status %d%s%s", info.si_status,
                   *quote ? ": " : "", quote);
    }
    else {
        output = s_parse_output (self);
        if (output)
            status = FAC_EXEC_OK;
    }
    if (status != FAC_EXEC_OK)
        s_reason_finish (self);
    uint64_t duration_us = ff_clock_mono_us () - self->started_us;
    atomic_fetch_sub (&s_running, 1);
    self->completing = true;
    self->done (self->arg, status, output, status == FAC_EXEC_OK ? NULL : self->reason,
                duration_us);
    s_free (self);
}

static void
s_maybe_finish (fac_exec_t *self)
{
    if (self->exited && self->out_fd < 0 && self->err_fd < 0)
        s_finish (self);
}

//  ---------------------------------------------------------------------
//  Loop handlers

static int
s_on_drain (zloop_t *loop, int timer_id, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || self->drain_timer != timer_id)
        return 0;
    self->drain_timer = -1;
    s_finish (self);
    return 0;
}

static int
s_on_exit (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || !self->pidfd_polled || item->fd != self->pidfd)
        return 0;
    siginfo_t info;
    if (s_waitid (self, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0)
        return 0;                   //  stale readiness: still running
    self->pidfd_polled = false;
    s_poller_end (self, self->pidfd);
    self->exited = true;
    s_close_stdin (self);
    if (self->out_fd >= 0 || self->err_fd >= 0) {
        self->drain_timer = zloop_timer (loop, self->grace_ms, 1, s_on_drain, self);
        if (self->drain_timer == -1) {
            s_finish (self);        //  cannot wait: judge what came
            return 0;
        }
    }
    s_maybe_finish (self);
    return 0;
}

static int
s_on_stdout (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || item->fd != self->out_fd)
        return 0;
    size_t moved = 0;
    while (moved < S_IO_BUDGET) {
        size_t room = self->output_cap + 1 - self->out_size;
        size_t want = room < S_IO_CHUNK ? room : S_IO_CHUNK;
        if (self->out_alloc < self->out_size + want) {
            size_t alloc = self->out_alloc ? self->out_alloc * 2 : S_IO_CHUNK;
            if (alloc < self->out_size + want)
                alloc = self->out_size + want;
            if (alloc > self->output_cap + 1)
                alloc = self->output_cap + 1;
            char *grown = (char *) realloc (self->out, alloc);
            if (!grown) {
                s_abort (self, S_VERDICT_NO_MEMORY);
                s_maybe_finish (self);
                return 0;
            }
            self->out = grown;
            self->out_alloc = alloc;
        }
        ssize_t got = read (self->out_fd, self->out + self->out_size, want);
        if (got > 0) {
            self->out_size += (size_t) got;
            moved += (size_t) got;
            if (self->out_size > self->output_cap) {
                s_abort (self, S_VERDICT_OVER_CAP);
                s_maybe_finish (self);
                return 0;
            }
            continue;
        }
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        //  End of file (or a read error, which ends the stream too).
        s_close_polled (self, &self->out_fd);
        s_maybe_finish (self);
        return 0;
    }
    return 0;
}

static void
s_err_append (fac_exec_t *self, const char *data, size_t size)
{
    if (size >= S_STDERR_TAIL) {
        memcpy (self->err_tail, data + size - S_STDERR_TAIL, S_STDERR_TAIL);
        self->err_size = S_STDERR_TAIL;
        return;
    }
    if (self->err_size + size > S_STDERR_TAIL) {
        size_t drop = self->err_size + size - S_STDERR_TAIL;
        memmove (self->err_tail, self->err_tail + drop, self->err_size - drop);
        self->err_size -= drop;
    }
    memcpy (self->err_tail + self->err_size, data, size);
    self->err_size += size;
}

static int
s_on_stderr (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || item->fd != self->err_fd)
        return 0;
    char chunk [S_STDERR_TAIL];
    size_t moved = 0;
    while (moved < S_IO_BUDGET) {
        ssize_t got = read (self->err_fd, chunk, sizeof chunk);
        if (got > 0) {
            s_err_append (self, chunk, (size_t) got);
            moved += (size_t) got;
            continue;
        }
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        s_close_polled (self, &self->err_fd);
        s_maybe_finish (self);
        return 0;
    }
    return 0;
}

static int
s_on_stdin (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || item->fd != self->in_fd)
        return 0;
    size_t moved = 0;
    while (self->input_sent < self->input_size) {
        if (moved >= S_IO_BUDGET)
            return 0;               //  the rest next turn
        size_t left = self->input_size - self->input_sent;
        ssize_t wrote = s_write_nosigpipe (self->in_fd, self->input + self->input_sent,
                                           left < S_IO_CHUNK ? left : S_IO_CHUNK);
        if (wrote > 0) {
            self->input_sent += (size_t) wrote;
            moved += (size_t) wrote;
            continue;
        }
        if (wrote == -1 && errno == EINTR)
            continue;
        if (wrote == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        //  EPIPE: the program closed stdin; it is judged by its exit.
        break;
    }
    s_close_stdin (self);
    return 0;
}

static int
s_on_kill (zloop_t *loop, int timer_id, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || self->kill_timer != timer_id)
        return 0;
    self->kill_timer = -1;
    if (!self->exited) {
        s_signal_group (self, SIGKILL);
        self->sigkill_sent = true;
    }
    return 0;
}

static int
s_on_timeout (zloop_t *loop, int timer_id, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || self->timeout_timer != timer_id)
        return 0;
    self->timeout_timer = -1;
    if (self->exited || self->verdict != S_VERDICT_NONE)
        return 0;                   //  draining, or already killed (over the cap)
    self->verdict = S_VERDICT_TIMEOUT;
    s_close_stdin (self);
    s_signal_group (self, SIGTERM);
    self->kill_timer = zloop_timer (loop, self->grace_ms, 1, s_on_kill, self);
    if (self->kill_timer == -1) {
        s_signal_group (self, SIGKILL);
        self->sigkill_sent = true;
    }
    return 0;
}

static int
s_on_start_failed (zloop_t *loop, int timer_id, void *arg)
{
    fac_exec_t *self = s_live_find (arg);
    if (!self || self->start_failed_timer != timer_id)
        return 0;
    self->start_failed_timer = -1;
    s_finish (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Starting

static int
s_err (char *err, size_t err_size, const char *format, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_err (char *err, size_t err_size, const char *format, ...)
{
    if (err && err_size) {
        va_list args;
        va_start (args, format);
        vsnprintf (err, err_size, format, args);
        va_end (args);
    }
    return -1;
}

//  Moves *fd_p to a descriptor ≥ 3 (close-on-exec), so that the child's
//  dup2 onto 0..2 cannot clobber another of its pipe ends.
static int
s_above_stdio (int *fd_p)
{
    if (*fd_p > 2)
        return 0;
    int moved = fcntl (*fd_p, F_DUPFD_CLOEXEC, 3);
    if (moved == -1)
        return -1;
    close (*fd_p);
    *fd_p = moved;
    return 0;
}

static void
s_close_fd (int *fd_p)
{
    if (*fd_p >= 0) {
        close (*fd_p);
        *fd_p = -1;
    }
}

//  Creates the three pipes: child[i] are the child's ends (close-on-exec,
//  dup2'd onto 0..2 in the child), ours[i] our non-blocking ends.
static int
s_pipes (int child [3], int ours [3], char *err, size_t err_size)
{
    for (int i = 0; i < 3; i++) {
        int fds [2];
        if (pipe2 (fds, O_CLOEXEC) == -1)
            return s_err (err, err_size, "pipe: %s", strerror (errno));
        child [i] = i == 0 ? fds [0] : fds [1];
        ours [i] = i == 0 ? fds [1] : fds [0];
        if (s_above_stdio (&child [i]) == -1
        ||  fcntl (ours [i], F_SETFL, O_NONBLOCK) == -1)
            return s_err (err, err_size, "pipe: %s", strerror (errno));
    }
    return 0;
}

//  posix_spawn with the process setup of fac_exec.h. Returns 0 with *pid,
//  or the error number.
static int
s_spawn (const fac_exec_options_t *options, const int child [3], pid_t *pid)
{
    static char *const environment [] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL };
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init (&actions);
    if (rc)
        return rc;
    rc = posix_spawnattr_init (&attr);
    if (rc) {
        posix_spawn_file_actions_destroy (&actions);
        return rc;
    }
    sigset_t none, all;
    sigemptyset (&none);
    sigfillset (&all);
    sigdelset (&all, SIGKILL);
    sigdelset (&all, SIGSTOP);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = posix_spawn_file_actions_adddup2 (&actions, child [i], i);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np (&actions, 3);
    if (rc == 0)
        rc = posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                              | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup (&attr, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask (&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault (&attr, &all);
    if (rc == 0)
        rc = posix_spawn (pid, options->argv [0], &actions, &attr,
                          (char *const *) options->argv, environment);
    posix_spawnattr_destroy (&attr);
    posix_spawn_file_actions_destroy (&actions);
    return rc;
}

static int
s_check_options (const fac_exec_options_t *options, char *err, size_t err_size)
{
    if (!options || !options->argv || !options->argv [0])
        return s_err (err, err_size, "exec: no program given");
    if (options->argv [0][0] != '/')
        return s_err (err, err_size, "exec: program must be an absolute path, got \"%s\"",
                      options->argv [0]);
    if (options->timeout_ms == 0)
        return s_err (err, err_size, "exec: timeout_ms must be > 0");
    if (options->output_cap == 0 || options->output_cap > SIZE_MAX / 2)
        return s_err (err, err_size, "exec: output_cap must be in 1..%zu", SIZE_MAX / 2);
    if (options->input_size && !options->input)
        return s_err (err, err_size, "exec: input_size %zu with no input", options->input_size);
    return 0;
}

fac_exec_t *
fac_exec_start (zloop_t *loop, const fac_exec_options_t *options,
                fac_exec_done_fn *done, void *arg, char *err, size_t err_size)
{
    assert (loop);
    assert (done);
    if (s_check_options (options, err, err_size))
        return NULL;
    int child [3] = { -1, -1, -1 };
    int ours [3] = { -1, -1, -1 };
    fac_exec_t *self = (fac_exec_t *) calloc (1, sizeof (fac_exec_t));
    if (!self) {
        s_err (err, err_size, "exec: out of memory");
        return NULL;
    }
    self->loop = loop;
    self->done = done;
    self->arg = arg;
    self->pidfd = self->in_fd = self->out_fd = self->err_fd = -1;
    self->timeout_timer = self->kill_timer = self->drain_timer = self->start_failed_timer = -1;
    self->output_cap = options->output_cap;
    self->raw_output = options->raw_output;
    self->timeout_ms = options->timeout_ms;
    self->grace_ms = options->kill_grace_ms ? options->kill_grace_ms : S_GRACE_DEFAULT_MS;
    self->started_us = ff_clock_mono_us ();
    self->program = strdup (options->argv [0]);
    self->input_size = options->input_size;
    if (self->input_size) {
        self->input = (char *) malloc (self->input_size);
        if (self->input)
            memcpy (self->input, options->input, self->input_size);
    }
    if (!self->program || (self->input_size && !self->input)
    ||  s_live_add (self) != 0) {
        s_err (err, err_size, "exec: out of memory");
        goto failed;
    }
    if (s_pipes (child, ours, err, err_size))
        goto failed;

    int rc = s_spawn (options, child, &self->pid);
    for (int i = 0; i < 3; i++)
        s_close_fd (&child [i]);
    if (rc) {
        //  Could not run it (posix_spawn reports exec's error and reaps
        //  the child): a FAILED completion on the next turn.
        self->pid = 0;
        self->start_errno = rc;
        for (int i = 0; i < 3; i++)
            s_close_fd (&ours [i]);
        self->start_failed_timer = zloop_timer (loop, 0, 1, s_on_start_failed, self);
        if (self->start_failed_timer == -1) {
            s_err (err, err_size, "exec: cannot set a timer");
            goto failed;
        }
        atomic_fetch_add (&s_running, 1);
        return self;
    }
    self->pidfd = pidfd_open (self->pid, 0);
    if (self->pidfd == -1) {
        s_err (err, err_size, "exec: pidfd_open: %s", strerror (errno));
        goto failed_running;
    }
    self->in_fd = ours [0];
    self->out_fd = ours [1];
    self->err_fd = ours [2];
    ours [0] = ours [1] = ours [2] = -1;
    if (self->input_size == 0)
        s_close_fd (&self->in_fd);
    if (s_poller_add (self, self->pidfd, ZMQ_POLLIN, s_on_exit))
        goto failed_registering;
    self->pidfd_polled = true;
    if (s_poller_add (self, self->out_fd, ZMQ_POLLIN, s_on_stdout)
    ||  s_poller_add (self, self->err_fd, ZMQ_POLLIN, s_on_stderr)
    ||  (self->in_fd >= 0 && s_poller_add (self, self->in_fd, ZMQ_POLLOUT, s_on_stdin)))
        goto failed_registering;
    self->timeout_timer = zloop_timer (loop, self->timeout_ms, 1, s_on_timeout, self);
    if (self->timeout_timer == -1)
        goto failed_registering;
    atomic_fetch_add (&s_running, 1);
    return self;

failed_registering:
    s_err (err, err_size, "exec: cannot register with the loop");
failed_running:
    //  Started but cannot be watched: it must not outlive this call.
    kill (-self->pid, SIGKILL);
    while (waitpid (self->pid, NULL, 0) == -1 && errno == EINTR)
        ;
    self->pid = 0;
    s_close_fd (&self->pidfd);      //  before s_detach: no group signal now
failed:
    s_detach (self);
    s_close_fd (&self->pidfd);
    for (int i = 0; i < 3; i++) {
        s_close_fd (&child [i]);
        s_close_fd (&ours [i]);
    }
    s_free (self);
    return NULL;
}

void
fac_exec_cancel (fac_exec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fac_exec_t *self = *self_p;
    *self_p = NULL;
    if (self->completing)
        return;                     //  its own callback: freed when that returns
    s_detach (self);
    if (self->pid > 0 && self->pidfd >= 0) {
        s_signal_group (self, SIGKILL);
        siginfo_t info;
        s_reap (self, &info);
    }
    atomic_fetch_sub (&s_running, 1);
    s_free (self);
}

size_t
fac_exec_running (void)
{
    return atomic_load (&s_running);
}

//  ---------------------------------------------------------------------
//  The input document

//  Farfan__ResultStatus values (proto/factory.proto) by name.
static const char *
s_result_status_name (int status)
{
    static const char *names [] = { "UNSPECIFIED", "OK", "FAILED", "TIMEOUT", "SKIPPED" };
    if (status >= 0 && status < (int) (sizeof names / sizeof names [0]))
        return names [status];
    return "UNSPECIFIED";
}

//  A number, or null for NAN (not set yet).
static json_t *
s_number_or_null (double value)
{
    return isfinite (value) ? json_real (value) : json_null ();
}

//  json_string of a possibly NULL C string ("" then).
static json_t *
s_string (const char *text)
{
    return json_string (text ? text : "");
}

static json_t *
s_contract_json (const fac_contract_t *contract, const json_t *step_params)
{
    json_t *params = step_params ? json_deep_copy (step_params) : json_object ();
    return json_pack ("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
                      "id", s_string (contract->id),
                      "version", s_string (contract->version),
                      "digest", contract->digest,
                      "type", s_string (contract->type),
                      "base_question", s_string (contract->base_question),
                      "policy_area", s_string (contract->policy_area),
                      "dimension", s_string (contract->dimension),
                      "cluster", s_string (contract->cluster),
                      "params", params);
}

static json_t *
s_inputs_json (const fac_context_t *ctx)
{
    json_t *inputs = json_array ();
    for (size_t i = 0; inputs && i < ctx->input_count; i++) {
        const fac_input_t *input = &ctx->inputs [i];
        json_t *missing = json_array ();
        for (size_t m = 0; missing && m < input->missing_count; m++)
            if (json_array_append_new (missing, s_string (input->missing_elements [m]))) {
                json_decref (missing);
                missing = NULL;
            }
        json_t *entry = json_pack ("{s:o, s:s, s:o, s:o, s:o, s:o}",
                                   "contract_id", s_string (input->contract_id),
                                   "status", s_result_status_name (input->status),
                                   "score", s_number_or_null (input->score),
                                   "quality", input->quality ? s_string (input->quality)
                                                             : json_null (),
                                   "confidence", s_number_or_null (input->confidence),
                                   "missing_elements", missing);
        if (!entry || json_array_append_new (inputs, entry)) {
            json_decref (inputs);
            return NULL;
        }
    }
    return inputs;
}

static json_t *
s_match_json (const fac_context_t *ctx, const fac_match_t *match)
{
    const fac_contract_t *contract = ctx->compiled->contract;
    const char *pattern = match->pattern < contract->pattern_count
                        ? contract->patterns [match->pattern].id : NULL;
    json_t *text = NULL;
    if (ctx->text && match->offset <= ctx->text_size
    &&  match->length <= ctx->text_size - match->offset) {
        const char *start = ctx->text + match->offset;
        text = json_stringn (start, ff_utf8_prefix (start, match->length,
                                                    FAC_EVIDENCE_SNIPPET_MAX));
    }
    return json_pack ("{s:I, s:I, s:s, s:o}",
                      "offset", (json_int_t) match->offset,
                      "length", (json_int_t) match->length,
                      "pattern", pattern ? pattern : "",
                      "text", text ? text : json_null ());
}

static json_t *
s_evidence_json (const fac_context_t *ctx)
{
    json_t *evidence = json_object ();
    for (size_t i = 0; evidence && i < ctx->evidence_count; i++) {
        const fac_evidence_t *entry = &ctx->evidence [i];
        json_t *matches = json_array ();
        for (uint32_t m = 0; matches && m < entry->match_count; m++)
            if (json_array_append_new (matches, s_match_json (ctx, &entry->matches [m]))) {
                json_decref (matches);
                matches = NULL;
            }
        json_t *value = json_pack ("{s:I, s:I, s:b, s:b, s:o}",
                                   "count", (json_int_t) entry->count,
                                   "minimum", (json_int_t) entry->minimum,
                                   "required", entry->required,
                                   "expected", entry->expected,
                                   "matches", matches);
        const char *type = entry->element_type ? entry->element_type : "";
        if (json_object_set_new (evidence, type, value)) {
            json_decref (evidence);
            evidence = NULL;
        }
    }
    return evidence;
}

char *
fac_exec_input_new (const struct fac_context *ctx, const json_t *step_params,
                    size_t *size, char *err, size_t err_size)
{
    assert (ctx);
    assert (size);
    *size = 0;
    const fac_contract_t *contract = ctx->compiled ? ctx->compiled->contract : NULL;
    if (!contract) {
        s_err (err, err_size, "exec input: the context has no contract");
        return NULL;
    }
    char *result = NULL;
    json_t *text = json_null ();
    if (ctx->text) {
        json_decref (text);
        text = json_stringn (ctx->text, ctx->text_size);
        if (!text) {
            s_err (err, err_size, "exec input: the document is not valid UTF-8");
            goto cleanup;
        }
    }
    json_t *so_far = ctx->output ? json_deep_copy (ctx->output) : json_object ();
    json_t *document = json_pack ("{s:s, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o, s:o}}",
        "format", "farfan-exec/1",
        "contract", s_contract_json (contract, step_params),
        "params", ctx->params ? json_deep_copy (ctx->params) : json_object (),
        "text", text,
        "inputs", s_inputs_json (ctx),
        "evidence", s_evidence_json (ctx),
        "result",
            "ratio", s_number_or_null (ctx->ratio),
            "score", s_number_or_null (ctx->score),
            "quality", ctx->quality ? json_string (ctx->quality) : json_null (),
            "confidence", s_number_or_null (ctx->confidence),
            "output", so_far);
    text = NULL;                    //  json_pack's "o" stole it, even on failure
    if (!document) {
        s_err (err, err_size, "exec input: out of memory");
        goto cleanup;
    }
    result = json_dumps (document, JSON_COMPACT);
    json_decref (document);
    if (!result) {
        s_err (err, err_size, "exec input: out of memory");
        goto cleanup;
    }
    *size = strlen (result);
cleanup:
    json_decref (text);
    return result;
}
