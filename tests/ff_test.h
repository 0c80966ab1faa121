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
#include "fac_method.h"
#include "factory.pb-c.h"
#include "orchestrator.pb-c.h"

#include <jansson.h>

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

//  ---------------------------------------------------------------------
//  Files, JSON, Python

//  The whole of a file (NUL-terminated; caller frees), its length in
//  *size (when not NULL); NULL when it cannot be opened.
char *
    ff_test_read_file (const char *path, size_t *size);

//  JSON text written by the test (any value, NUL allowed in strings),
//  parsed; fails the test when it is not JSON. Caller decrefs.
json_t *
    ff_test_json (const char *text);

//  Runs `python3 -c script SPEC OUT` with spec written to SPEC and returns
//  the JSON the script wrote to OUT (caller decrefs); fails the test when
//  python3 fails or writes no JSON.
json_t *
    ff_test_python_json (const char *script, const json_t *spec);

//  ---------------------------------------------------------------------
//  Methods (fac_method.h) over contracts built by hand, as the parser
//  would build them

typedef struct {
    const char *regex;
    uint32_t flags;                     // FAC_PATTERN_*
    const char *type;                   // element type
    double weight;
} ff_test_pattern_t;

typedef struct {
    const char *type;
    uint32_t minimum;
    bool required;
} ff_test_expected_t;

typedef struct {
    const char *id;
    const char *type;
    const char *title;                  // NULL: none
    bool document;                      // inputs.document
    const ff_test_pattern_t *patterns;  // ids P0, P1...
    size_t pattern_count;
    const ff_test_expected_t *expected;
    size_t expected_count;
    const char *const *inputs;          // input contract ids
    size_t input_count;
    const char *modality;               // NULL: ""
    const char *scoring_json;           // NULL: {}
    //  Identity; NULL: Q001, PA01, DIM01, CL02.
    const char *base_question, *policy_area, *dimension, *cluster;
} ff_test_contract_spec_t;

//  A contract of version 1, timeout 1000 ms, as spec says (caller frees
//  with ff_test_contract_free).
fac_contract_t *
    ff_test_contract_new (const ff_test_contract_spec_t *spec);

void
    ff_test_contract_free (fac_contract_t *contract);

//  The contract compiled (its patterns by fac_pattern_compile, failing the
//  test when one does not compile); takes ownership of contract. Caller
//  frees with ff_test_compiled_free.
fac_compiled_t *
    ff_test_compile (fac_contract_t *contract);

//  Frees the compiled contract and its contract.
void
    ff_test_compiled_free (fac_compiled_t *compiled);

//  Checks then runs one step of method_name as the engine does; returns
//  the run's rc. A refused check fails the test.
int
    ff_test_step (fac_context_t *ctx, const char *method_name, const char *params_json);

//  As ff_test_step, failing the test when the run fails.
void
    ff_test_step_ok (fac_context_t *ctx, const char *method_name, const char *params_json);

//  The output a method left in ctx; fails the test when there is none.
//  Borrowed from ctx.
json_t *
    ff_test_output (const fac_context_t *ctx, const char *method_name);

//  ---------------------------------------------------------------------
//  A factory's direct socket (a DEALER, ff_test_dealer)

//  PUT_DOCUMENT of size bytes of text; fails the test unless it is stored
//  whole. Returns its digest (caller frees); *already (when not NULL) says
//  whether the factory had it.
char *
    ff_test_put_document (zsock_t *dealer, const char *text, size_t size, bool *already);

//  ---------------------------------------------------------------------
//  An orchestrator's client socket (a DEALER, ff_test_dealer)

//  Sends a request and returns its reply (replies to other correlation
//  ids are skipped), or NULL when none came within timeout_ms.
ff_msg_t *
    ff_test_call (zsock_t *client, uint32_t type, const ProtobufCMessage *body, int timeout_ms);

//  As ff_test_call with FF_TEST_TIMEOUT_MS, failing the test when no reply
//  comes or it is not of type `expected`.
ff_msg_t *
    ff_test_call_ok (zsock_t *client, uint32_t type, const ProtobufCMessage *body,
                     uint32_t expected);

//  As ff_test_call_ok, returning the reply's body decoded as descriptor
//  says (caller frees with protobuf_c_message_free_unpacked or the type's
//  free_unpacked); fails the test when it does not decode.
ProtobufCMessage *
    ff_test_call_decoded (zsock_t *client, uint32_t type, const ProtobufCMessage *body,
                          uint32_t expected, const ProtobufCMessageDescriptor *descriptor);

//  SUBMITs document as a run named name over phases first..last (NULL:
//  the set's first / last) with worker_budget budget; returns the run id
//  (caller frees).
char *
    ff_test_submit (zsock_t *client, const char *name, const char *document, const char *first,
                    const char *last, uint32_t budget);

//  Whether a run in state has ended (succeeded, failed or cancelled).
bool
    ff_test_run_final (Farfan__RunState state);

//  The run's STATUS (caller frees with farfan__run_status__free_unpacked).
Farfan__RunStatus *
    ff_test_run_status (zsock_t *client, const char *run_id);

//  Sends WATCH of run_id (correlation id "watch"); the PROGRESS messages
//  follow on client (ff_test_progress_take).
void
    ff_test_watch_send (zsock_t *client, const char *run_id);

//  When msg answers a WATCH (correlation id "watch"): asserts it is a
//  PROGRESS and replaces *status_p (freed; NULL at first) with the status
//  it carries; true. false for any other message.
bool
    ff_test_progress_take (ff_msg_t *msg, Farfan__RunStatus **status_p);

//  WATCHes the run until a final PROGRESS and returns it (caller frees
//  with farfan__run_status__free_unpacked). Fails the test when no
//  PROGRESS comes within FF_TEST_TIMEOUT_MS or the run has not ended
//  within deadline_ms. Counts the PROGRESS messages in *progress_count
//  (when not NULL).
Farfan__RunStatus *
    ff_test_watch (zsock_t *client, const char *run_id, int deadline_ms, size_t *progress_count);

//  The run's RESULTS, of one phase (NULL: all). Caller frees with
//  farfan__run_results__free_unpacked.
Farfan__RunResults *
    ff_test_results (zsock_t *client, const char *run_id, const char *phase);

//  The result of contract id (borrowed from results), NULL when none;
//  fails the test when there are two.
const Farfan__ContractResult *
    ff_test_result_find (const Farfan__RunResults *results, const char *id);

//  The factories the orchestrator lists now (caller frees with
//  farfan__factory_list__free_unpacked).
Farfan__FactoryList *
    ff_test_factories (zsock_t *client);

//  How many factories the orchestrator lists now.
size_t
    ff_test_factory_count (zsock_t *client);

#endif
