/*  fac_exec — runs an external program for the `exec` method, driven by
    the factory's event loop (no thread waits on it).

    The program gets a JSON document on stdin and must print one JSON
    object on stdout (the program's side of the contract, with limits and
    exit codes, is proto/exec-protocol.md; fac_exec_input_new builds the
    document). Every way it can go wrong ends in exactly one completion
    callback with a reason, never in a factory crash, a hang or a leaked
    process:
      - cannot start (not found, not executable, no exec format),
      - exits non-zero or is killed by a signal,
      - prints more than output_cap bytes (its process group is killed at
        once: SIGKILL),
      - prints something that is not one JSON object, or an object whose
        known keys (score, confidence, ratio, output) are out of range,
      - runs past timeout_ms (its process group gets SIGTERM, then SIGKILL
        after kill_grace_ms),
      - never reads stdin: writes never block the loop; the program is
        judged like any other (it usually ends at the timeout). A program
        that closes stdin early or exits without reading it all is not a
        failure by itself: its exit status and output decide.
    Failure reasons are one line of valid UTF-8 and quote the last line of
    the program's stderr (of which the last 4 KiB are kept) when there is
    one.

    The process: started with posix_spawn in a process group of its own,
    stdin/stdout/stderr on pipes, no other file descriptor, signal mask
    empty and every signal at its default action, environment exactly
    PATH=/usr/bin:/bin and LANG=C.UTF-8, working directory inherited. It is
    watched with a pidfd and reaped in every case. Completion comes once
    the program has exited and stdout/stderr reached end of file; a
    descendant still holding them open gets kill_grace_ms, then the pipes
    are closed. When the callback comes, the process group has been sent
    SIGKILL: no descendant outlives its program (one that leaves the group
    with setsid escapes; run the factory in its own cgroup, e.g. systemd
    KillMode=control-group, to cover that).

    Process requirements: SIGCHLD must not be ignored (SIG_IGN or
    SA_NOCLDWAIT would reap the program before us), and nothing else in
    the process may wait for arbitrary children (waitpid(-1)). SIGPIPE
    needs no setup: writes to a closed stdin block SIGPIPE in the calling
    thread around the write and consume the one they raise, so the module
    is never killed by it whatever the process's signal setup.

    Not thread-safe: call from the loop's thread. Several loops on several
    threads may each run executions.
*/
#ifndef FAC_EXEC_H_INCLUDED
#define FAC_EXEC_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fac_exec fac_exec_t;
struct fac_context;

typedef enum {
    FAC_EXEC_OK = 0,            // exited 0 and printed one valid JSON object
    FAC_EXEC_FAILED,            // could not start, non-zero exit, signal, bad output, over the cap
    FAC_EXEC_TIMEOUT,           // killed at timeout_ms
} fac_exec_status_t;

//  Called once per fac_exec_start that returned non-NULL (and was not
//  cancelled), from the loop, after the process is reaped. output (on
//  FAC_EXEC_OK) is the program's object, owned by the callee; NULL
//  otherwise. reason is a one-line explanation (NULL on FAC_EXEC_OK),
//  borrowed for the call. duration_us runs from fac_exec_start to the
//  callback. The fac_exec_t is freed right after the callback returns:
//  forget the handle here. The callback may start and cancel other
//  executions; cancelling its own handle is a no-op.
typedef void (fac_exec_done_fn) (void *arg, fac_exec_status_t status, json_t *output,
                                 const char *reason, uint64_t duration_us);

typedef struct {
    const char *const *argv;    // program (absolute path) and arguments, NULL-terminated
    const char *input;          // written to stdin (copied), then stdin is closed; NULL = none
    size_t input_size;
    uint32_t timeout_ms;        // > 0
    size_t output_cap;          // most bytes accepted on stdout, 1..SIZE_MAX/2 (stderr keeps its last 4 KiB)
    uint32_t kill_grace_ms;     // SIGTERM -> SIGKILL delay at timeout, and the drain allowed
                                //   after exit (0 = 200)
    bool raw_output;            // stdout is any UTF-8 text, handed back as a JSON string
                                //   (for converters such as pdftotext), not one JSON object
} fac_exec_options_t;

//  Starts the program. Returns a handle, or NULL when the options are
//  invalid (no argv, relative path, timeout 0, cap out of range) or the
//  loop cannot take it (out of file descriptors or memory, pidfd_open
//  unsupported); then no callback comes, nothing is left running, and
//  err says why. A program that cannot be executed (not found, not
//  executable) still returns a handle and completes with FAC_EXEC_FAILED
//  on the loop's next turn.
fac_exec_t *
    fac_exec_start (zloop_t *loop, const fac_exec_options_t *options,
                    fac_exec_done_fn *done, void *arg, char *err, size_t err_size);

//  Kills the process group (SIGKILL), reaps the program (blocking for
//  the moment SIGKILL takes), closes everything, frees; no callback.
//  Nulls *self_p. For shutdown and cancelled work: cancel every handle
//  before destroying its loop (it unregisters from the loop). Works
//  whether the loop is running, stopped, or never started.
void
    fac_exec_cancel (fac_exec_t **self_p);

//  Handles started and not yet completed or cancelled, all threads.
size_t
    fac_exec_running (void);

//  The document a program reads on stdin (proto/exec-protocol.md,
//  "farfan-exec/1") for the exec step whose params are step_params, run
//  over ctx (fac_method.h: contract, text, inputs, request params,
//  evidence and the result so far). Returns compact UTF-8 JSON (caller
//  frees) with its length in *size, or NULL with the reason in err.
char *
    fac_exec_input_new (const struct fac_context *ctx, const json_t *step_params,
                        size_t *size, char *err, size_t err_size);

#endif
