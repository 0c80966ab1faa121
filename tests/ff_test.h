/*  ff_test — helpers shared by the Criterion suites.

    Services run in-process as actors on ephemeral loopback ports; requests
    and HTTP gets wait with receive timeouts, never with sleeps. Helpers
    fail the current test (cr_assert) when the environment is broken.
*/
#ifndef FF_TEST_H_INCLUDED
#define FF_TEST_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "ff_msg.h"

//  Every test is declared with FF_TEST (or FF_TEST_OPTS to pass Criterion
//  options): under AddressSanitizer it also fails the test when the test
//  leaked memory. Criterion's test processes end with _exit, so
//  LeakSanitizer's own check at exit never runs in them; this runs it at
//  the end of each test body instead. Other builds: a plain Test.
#define FF_TEST(suite, name) FF_TEST_OPTS (suite, name, .description = "")
#define FF_TEST_OPTS(suite, name, ...) \
    static void s_##suite##_##name##_body (void); \
    Test (suite, name, __VA_ARGS__) \
    { \
        s_##suite##_##name##_body (); \
        ff_test_assert_no_leaks (); \
    } \
    static void s_##suite##_##name##_body (void)

//  Fails the running test when LeakSanitizer finds unreachable memory
//  (its report is on stderr). A no-op without AddressSanitizer.
void
    ff_test_assert_no_leaks (void);

//  Receive timeout of test sockets: long enough for a loaded CI machine,
//  short enough that a missing reply fails the test instead of hanging it.
#define FF_TEST_TIMEOUT_MS 5000

typedef struct ff_test_service ff_test_service_t;

//  Starts "factory", "orchestrator" or "sisas" in-process on 127.0.0.1
//  with ephemeral ports (sockets and HTTP), no links to other services,
//  plus any extra settings ("--key", "value", ... NULL).
ff_test_service_t *
    ff_test_service_start (const char *name, ...);

//  Removes a directory and everything in it (test scratch space).
void
    ff_test_remove_dir (const char *path);

//  $TERM to the actor, waits for it; nulls *self_p.
void
    ff_test_service_stop (ff_test_service_t **self_p);

//  The endpoint of a named socket ("direct", "client", "control"...),
//  connectable ("tcp://127.0.0.1:PORT"). Borrowed from the service.
const char *
    ff_test_service_endpoint (ff_test_service_t *self, const char *socket_name);

int
    ff_test_service_http_port (ff_test_service_t *self);

//  The name of the request socket farfanctl pings for this service.
const char *
    ff_test_service_request_socket (const char *name);

//  A DEALER connected to endpoint with FF_TEST_TIMEOUT_MS receive timeout.
zsock_t *
    ff_test_dealer (const char *endpoint);

//  Sends a request of type with body (NULL = empty) on a DEALER and
//  returns the decoded reply; asserts that one arrives.
ff_msg_t *
    ff_test_request (zsock_t *dealer, uint32_t type, const ProtobufCMessage *body);

//  Asserts the service behind dealer answers PING with PONG.
void
    ff_test_assert_pings (zsock_t *dealer);

//  HTTP/1.0 GET of http://127.0.0.1:port/path. Returns the body (caller
//  frees) and the status code in *status; NULL when no answer came.
char *
    ff_test_http_get (int port, const char *path, int *status);

//  The value of the sample `series` (name plus label set exactly as
//  rendered, e.g. `farfan_requests_total{socket="direct",type="PING"}`) in
//  a Prometheus text page; NAN when absent.
double
    ff_test_metric (const char *page, const char *series);

//  Path of a built program, e.g. "services/farfan-factory".
const char *
    ff_test_build_path (const char *relative, char *out, size_t out_size);

//  ---------------------------------------------------------------------
//  Real processes (the daemons, farfanctl), their output captured.

typedef struct ff_test_process ff_test_process_t;

//  Starts program (a path) with argv (argv[0] first, NULL-terminated) and
//  extra environment entries ("KEY=value", NULL-terminated, may be NULL).
ff_test_process_t *
    ff_test_spawn (const char *program, char *const argv [], char *const env []);

//  Reads the process's stdout and stderr until a line containing needle
//  shows up on either, up to timeout_ms. Returns that line (borrowed,
//  valid until the next call) or NULL.
const char *
    ff_test_process_wait_line (ff_test_process_t *self, const char *needle, int timeout_ms);

//  Sends a signal to the process.
void
    ff_test_process_signal (ff_test_process_t *self, int signal_number);

//  Waits up to timeout_ms for the process to exit (reading its output).
//  Returns its exit code (128 + signal when killed), or -1 on timeout, in
//  which case it is killed.
int
    ff_test_process_wait_exit (ff_test_process_t *self, int timeout_ms);

//  Everything the process wrote so far on stdout / stderr. Borrowed.
const char *
    ff_test_process_stdout (ff_test_process_t *self);
const char *
    ff_test_process_stderr (ff_test_process_t *self);

//  Kills the process if it still runs, reaps it, frees; nulls *self_p.
void
    ff_test_process_destroy (ff_test_process_t **self_p);

#endif
