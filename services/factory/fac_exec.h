/*  fac_exec — runs an external program for the `exec` method, driven by
    the factory's event loop (no thread waits on it).

    The program gets a JSON document on stdin and must print one JSON
    object on stdout (protocol in proto/contracts.md, "exec"). Every way it
    can go wrong ends in exactly one completion callback with a reason,
    never in a factory crash, a hang or a leaked process:
      - cannot start (not found, not executable, fork failure),
      - exits non-zero or is killed by a signal (stderr's last line quoted),
      - prints more than output_cap bytes (killed),
      - prints something that is not one JSON object,
      - runs past timeout_ms (its whole process group is killed: SIGTERM,
        then SIGKILL after a grace period),
      - closes stdin early or never reads it.
    The process is reaped in every case (pidfd); stdout/stderr are read as
    they come, stdin written without blocking.

    Not thread-safe: call from the loop's thread.
*/
#ifndef FAC_EXEC_H_INCLUDED
#define FAC_EXEC_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fac_exec fac_exec_t;

typedef enum {
    FAC_EXEC_OK = 0,            // exited 0 and printed one JSON object
    FAC_EXEC_FAILED,            // could not start, non-zero exit, signal, bad output, over the cap
    FAC_EXEC_TIMEOUT,           // killed at timeout_ms
} fac_exec_status_t;

//  Called once per fac_exec_start that returned non-NULL, from the loop,
//  after the process is gone. output (on FAC_EXEC_OK) is owned by the
//  callee; reason is a one-line explanation otherwise. The fac_exec_t is
//  freed right after the callback returns.
typedef void (fac_exec_done_fn) (void *arg, fac_exec_status_t status, json_t *output,
                                 const char *reason, uint64_t duration_us);

typedef struct {
    const char *const *argv;    // program (absolute path) and arguments, NULL-terminated
    const char *input;          // written to stdin, then stdin is closed
    size_t input_size;
    uint32_t timeout_ms;        // > 0
    size_t output_cap;          // most bytes accepted on stdout (stderr keeps its last 4 KiB)
    uint32_t kill_grace_ms;     // SIGTERM -> SIGKILL delay at timeout (0 = 200)
} fac_exec_options_t;

//  Starts the program. Returns a handle, or NULL when the loop cannot take
//  it (then no callback comes; err says why). A program that cannot be
//  executed still returns a handle and completes with FAC_EXEC_FAILED.
fac_exec_t *
    fac_exec_start (zloop_t *loop, const fac_exec_options_t *options,
                    fac_exec_done_fn *done, void *arg, char *err, size_t err_size);

//  Kills the process group, reaps it, frees; no callback. Nulls *self_p.
//  For shutdown and cancelled work.
void
    fac_exec_cancel (fac_exec_t **self_p);

//  Programs running now.
size_t
    fac_exec_running (void);

#endif
