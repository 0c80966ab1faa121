/*  test_exec — the exec method's driver (services/factory/fac_exec.h),
    with real programs from tests/data/exec on a real zloop.

    Each test runs its loop until the completion callbacks end it (a
    deadline fails the test instead of hanging it) and ends with s_end:
    no execution running, no child process left (not even a zombie), as
    many open descriptors as at the start.
*/
#include <criterion/criterion.h>

#include "ff_test.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fac_exec.h"
#include "fac_method.h"
#include "ff_clock.h"
#include "ff_utf8.h"

#define S_DATA FF_TEST_SOURCE_ROOT "/tests/data/exec/"
//  Longest a test's loop may run before the test fails.
#define S_DEADLINE_MS 20000
//  Generous limits for programs that should simply succeed.
#define S_TIMEOUT_MS 20000
#define S_CAP 65536

//  ---------------------------------------------------------------------
//  Helpers

typedef struct {
    bool done;                  // the callback came
    int calls;                  // how many times (must be 1)
    fac_exec_status_t status;
    json_t *output;             // owned
    char reason [1024];         // "" when none
    bool reason_null;           // the callback's reason was NULL
    uint64_t duration_us;
    int order;                  // completion rank among the test's executions
    int *pending;               // executions left; the loop ends at 0
    int *completed;             // completions so far (for order)
    zloop_t *loop;
    fac_exec_t *handle;         // cleared by the callback
} s_run_t;

static int
s_end_loop (zloop_t *loop, int timer_id, void *arg)
{
    return -1;
}

static void
s_done (void *arg, fac_exec_status_t status, json_t *output, const char *reason,
        uint64_t duration_us)
{
    s_run_t *run = (s_run_t *) arg;
    run->calls++;
    run->done = true;
    run->status = status;
    run->output = output;
    run->reason_null = reason == NULL;
    snprintf (run->reason, sizeof run->reason, "%s", reason ? reason : "");
    run->duration_us = duration_us;
    run->handle = NULL;
    if (run->completed)
        run->order = ++*run->completed;
    if (run->pending && --*run->pending == 0)
        zloop_timer (run->loop, 0, 1, s_end_loop, NULL);
}

static int
s_deadline (zloop_t *loop, int timer_id, void *arg)
{
    *(bool *) arg = true;
    return -1;
}

//  Runs loop until a handler ends it; fails the test at the deadline.
static void
s_loop_run (zloop_t *loop)
{
    bool expired = false;
    int timer = zloop_timer (loop, S_DEADLINE_MS, 1, s_deadline, &expired);
    cr_assert_neq (timer, -1);
    zloop_start (loop);
    if (!expired)
        zloop_timer_end (loop, timer);
    cr_assert_not (expired, "the loop was still waiting after %d ms", S_DEADLINE_MS);
}

static void
s_run_reset (s_run_t *run, zloop_t *loop, int *pending, int *completed)
{
    memset (run, 0, sizeof *run);
    run->loop = loop;
    run->pending = pending;
    run->completed = completed;
}

static fac_exec_t *
s_start (zloop_t *loop, s_run_t *run, const char *const *argv, const char *input,
         size_t input_size, uint32_t timeout_ms, size_t output_cap, uint32_t grace_ms)
{
    fac_exec_options_t options = {
        .argv = argv, .input = input, .input_size = input_size,
        .timeout_ms = timeout_ms, .output_cap = output_cap, .kill_grace_ms = grace_ms,
    };
    char err [256] = "";
    run->handle = fac_exec_start (loop, &options, s_done, run, err, sizeof err);
    cr_assert_not_null (run->handle, "fac_exec_start (%s): %s", argv [0], err);
    cr_assert_not (run->done, "the callback came inside fac_exec_start");
    return run->handle;
}

//  Runs one program to completion on a loop of its own.
static void
s_exec (s_run_t *run, const char *const *argv, const char *input, size_t input_size,
        uint32_t timeout_ms, size_t output_cap, uint32_t grace_ms)
{
    zloop_t *loop = zloop_new ();
    cr_assert_not_null (loop);
    int pending = 1;
    s_run_reset (run, loop, &pending, NULL);
    s_start (loop, run, argv, input, input_size, timeout_ms, output_cap, grace_ms);
    s_loop_run (loop);
    cr_assert (run->done);
    cr_assert_eq (run->calls, 1, "%d callbacks", run->calls);
    zloop_destroy (&loop);
}

static void
s_run_free (s_run_t *run)
{
    json_decref (run->output);
    run->output = NULL;
}

static int
s_fd_count (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    cr_assert_not_null (dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (entry->d_name [0] != '.')
            count++;
    closedir (dir);
    return count;
}

static int
s_begin (void)
{
    cr_assert_eq (fac_exec_running (), 0);
    return s_fd_count ();
}

static void
s_end (int fds_before)
{
    cr_expect_eq (fac_exec_running (), 0, "%zu executions still running", fac_exec_running ());
    errno = 0;
    pid_t child = waitpid (-1, NULL, WNOHANG);
    cr_expect (child == -1 && errno == ECHILD, "a child process is left (waitpid: %d, %s)",
               (int) child, strerror (errno));
    cr_expect_eq (s_fd_count (), fds_before, "descriptors: %d before, %d after", fds_before,
                  s_fd_count ());
}

//  A failure reason as a user sees it: one line of valid UTF-8.
static void
s_expect_one_line (const char *reason)
{
    size_t size = strlen (reason);
    cr_expect_gt (size, 0);
    cr_expect_eq (ff_utf8_check ((const uint8_t *) reason, size, false), 0,
                  "reason is not valid UTF-8: %s", reason);
    for (size_t i = 0; i < size; i++)
        cr_expect ((unsigned char) reason [i] >= 0x20 && reason [i] != 0x7f,
                   "control character in reason: %s", reason);
}

static void
s_expect_failure (s_run_t *run, fac_exec_status_t status, const char *needle)
{
    cr_expect_eq (run->status, status, "status %d (reason: %s)", run->status, run->reason);
    cr_expect_null (run->output);
    cr_expect_not (run->reason_null);
    cr_expect (strstr (run->reason, needle), "reason \"%s\" lacks \"%s\"", run->reason, needle);
    s_expect_one_line (run->reason);
}

static json_t *
s_path (json_t *root, const char *path)
{
    //  "a.b.0.c": objects by key, arrays by index.
    char copy [256];
    snprintf (copy, sizeof copy, "%s", path);
    json_t *node = root;
    char *saved = NULL;
    for (char *key = strtok_r (copy, ".", &saved); key && node; key = strtok_r (NULL, ".", &saved))
        node = json_is_array (node) ? json_array_get (node, strtoul (key, NULL, 10))
                                    : json_object_get (node, key);
    return node;
}

//  Processes whose arguments include token: pids into pids (up to max),
//  returns how many; *alive counts those not yet exited (state not Z/X).
static int
s_find_processes (const char *token, pid_t *pids, int max, int *alive)
{
    DIR *proc = opendir ("/proc");
    cr_assert_not_null (proc);
    int found = 0;
    *alive = 0;
    struct dirent *entry;
    while ((entry = readdir (proc))) {
        if (!isdigit ((unsigned char) entry->d_name [0]))
            continue;
        char path [300];
        snprintf (path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        FILE *file = fopen (path, "re");
        if (!file)
            continue;
        char cmdline [4096];
        size_t size = fread (cmdline, 1, sizeof cmdline - 1, file);
        fclose (file);
        cmdline [size] = '\0';
        bool match = false;
        for (size_t at = 0; at < size; at += strlen (cmdline + at) + 1)
            if (strcmp (cmdline + at, token) == 0)
                match = true;
        if (!match)
            continue;
        snprintf (path, sizeof path, "/proc/%s/stat", entry->d_name);
        file = fopen (path, "re");
        char stat [512] = "";
        if (file) {
            size = fread (stat, 1, sizeof stat - 1, file);
            stat [size] = '\0';
            fclose (file);
        }
        const char *close_paren = strrchr (stat, ')');
        char state = close_paren && close_paren [1] ? close_paren [2] : 'X';
        if (state != 'Z' && state != 'X')
            (*alive)++;
        if (found < max)
            pids [found] = (pid_t) atoi (entry->d_name);
        found++;
    }
    closedir (proc);
    return found;
}

//  Waits (without sleeping: pidfd readiness) until pid has exited.
static void
s_expect_exits (pid_t pid)
{
    int fd = pidfd_open (pid, 0);
    if (fd == -1) {
        cr_expect_eq (errno, ESRCH, "pidfd_open (%d): %s", (int) pid, strerror (errno));
        return;
    }
    struct pollfd item = { .fd = fd, .events = POLLIN };
    int rc = poll (&item, 1, FF_TEST_TIMEOUT_MS);
    close (fd);
    cr_expect_eq (rc, 1, "process %d still runs", (int) pid);
}

//  ---------------------------------------------------------------------
//  Success

FF_TEST (exec, success_parses_output_and_measures_duration)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "echo_input.py", NULL };
    const char *input = "{\"hello\": \"world\"}";
    s_run_t run;
    uint64_t before = ff_clock_mono_us ();
    s_exec (&run, argv, input, strlen (input), S_TIMEOUT_MS, S_CAP, 0);
    uint64_t elapsed = ff_clock_mono_us () - before;
    cr_assert_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    cr_expect (run.reason_null);
    cr_assert (json_is_object (run.output));
    cr_expect_eq (json_real_value (json_object_get (run.output, "score")), 2.5);
    cr_expect_eq (json_real_value (json_object_get (run.output, "confidence")), 0.75);
    cr_expect_eq (json_real_value (json_object_get (run.output, "ratio")), 0.8);
    cr_expect_eq (json_integer_value (s_path (run.output, "output.bytes")),
                  (json_int_t) strlen (input));
    cr_expect_str_eq (json_string_value (s_path (run.output, "output.document.hello")), "world");
    cr_expect_gt (run.duration_us, 0);
    cr_expect_leq (run.duration_us, elapsed);
    s_run_free (&run);
    s_end (fds);
}

FF_TEST (exec, trailing_whitespace_and_exact_cap_are_accepted)
{
    int fds = s_begin ();
    //  A 100-byte object followed by whitespace, with a cap of its size.
    char text [128];
    int frame = (int) strlen ("{\"output\": {\"pad\": \"\"}}");
    snprintf (text, sizeof text, "{\"output\": {\"pad\": \"%0*d\"}}", 100 - frame, 0);
    cr_assert_eq (strlen (text), 100);
    strcat (text, "\n \t\n");
    const char *argv [] = { S_DATA "print.sh", text, NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, strlen (text), 0);
    cr_expect_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    s_run_free (&run);
    //  One byte less of cap: over it.
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, strlen (text) - 1, 0);
    char needle [64];
    snprintf (needle, sizeof needle, "output exceeds %zu bytes", strlen (text) - 1);
    s_expect_failure (&run, FAC_EXEC_FAILED, needle);
    s_run_free (&run);
    s_end (fds);
}

//  ---------------------------------------------------------------------
//  The input document

FF_TEST (exec, input_document_reaches_the_program)
{
    int fds = s_begin ();
    fac_pattern_t patterns [] = {
        { .id = "P_OTHER", .regex = "x", .element_type = "otro" },
        { .id = "P_DANE", .regex = "DANE", .element_type = "fuentes_oficiales" },
    };
    fac_contract_t contract = {
        .id = "Q001_PA01", .version = "1.2", .type = "micro", .base_question = "Q001",
        .policy_area = "PA01", .dimension = "DIM01", .cluster = "CL02",
        .patterns = patterns, .pattern_count = 2,
    };
    snprintf (contract.digest, sizeof contract.digest, "sha256:%064d", 7);
    fac_compiled_t compiled = { .contract = &contract };
    const char *text = "Según el DANE, la población creció. Año ñandú.";
    const char *dane = strstr (text, "DANE");
    fac_match_t matches [] = { { .offset = (uint64_t) (dane - text), .length = 4, .pattern = 1 } };
    fac_evidence_t evidence [] = {
        { .element_type = "fuentes_oficiales", .count = 3, .minimum = 2, .required = true,
          .expected = true, .matches = matches, .match_count = 1 },
    };
    const char *missing [] = { "cobertura", "metas" };
    fac_input_t inputs [] = {
        { .contract_id = "Q002_PA01", .status = 1, .score = 2.0, .quality = "BUENO",
          .confidence = 0.9, .missing_elements = missing, .missing_count = 2 },
    };
    json_t *params = json_pack ("{s:s}", "mode", "strict");
    json_t *so_far = json_pack ("{s:{s:i}}", "text.match_patterns", "matched", 3);
    json_t *step_params = json_pack ("{s:[s, s], s:i}", "argv", "/usr/bin/true", "-v",
                                     "timeout_ms", 2000);
    fac_context_t ctx = {
        .compiled = &compiled, .text = text, .text_size = strlen (text),
        .inputs = inputs, .input_count = 1, .params = params,
        .evidence = evidence, .evidence_count = 1,
        .ratio = NAN, .score = 1.5, .quality = "ACEPTABLE", .confidence = NAN,
        .output = so_far,
    };
    size_t size = 0;
    char err [256] = "";
    char *document = fac_exec_input_new (&ctx, step_params, &size, err, sizeof err);
    cr_assert_not_null (document, "%s", err);
    cr_assert_eq (size, strlen (document));

    const char *argv [] = { S_DATA "echo_input.py", NULL };
    s_run_t run;
    s_exec (&run, argv, document, size, S_TIMEOUT_MS, S_CAP, 0);
    cr_assert_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    cr_expect_eq (json_integer_value (s_path (run.output, "output.bytes")), (json_int_t) size);
    json_t *doc = s_path (run.output, "output.document");
    cr_assert (json_is_object (doc));
    cr_expect_str_eq (json_string_value (s_path (doc, "format")), "farfan-exec/1");
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.id")), "Q001_PA01");
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.version")), "1.2");
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.digest")), contract.digest);
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.type")), "micro");
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.policy_area")), "PA01");
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.dimension")), "DIM01");
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.params.argv.0")), "/usr/bin/true");
    cr_expect_str_eq (json_string_value (s_path (doc, "contract.params.argv.1")), "-v");
    cr_expect_eq (json_integer_value (s_path (doc, "contract.params.timeout_ms")), 2000);
    cr_expect_str_eq (json_string_value (s_path (doc, "params.mode")), "strict");
    cr_expect_str_eq (json_string_value (s_path (doc, "text")), text);
    cr_expect_str_eq (json_string_value (s_path (doc, "inputs.0.contract_id")), "Q002_PA01");
    cr_expect_str_eq (json_string_value (s_path (doc, "inputs.0.status")), "OK");
    cr_expect_eq (json_number_value (s_path (doc, "inputs.0.score")), 2.0);
    cr_expect_str_eq (json_string_value (s_path (doc, "inputs.0.quality")), "BUENO");
    cr_expect_eq (json_number_value (s_path (doc, "inputs.0.confidence")), 0.9);
    cr_expect_str_eq (json_string_value (s_path (doc, "inputs.0.missing_elements.1")), "metas");
    json_t *fuentes = s_path (doc, "evidence.fuentes_oficiales");
    cr_expect_eq (json_integer_value (s_path (fuentes, "count")), 3);
    cr_expect_eq (json_integer_value (s_path (fuentes, "minimum")), 2);
    cr_expect (json_is_true (s_path (fuentes, "required")));
    cr_expect (json_is_true (s_path (fuentes, "expected")));
    cr_expect_eq (json_integer_value (s_path (fuentes, "matches.0.offset")), dane - text);
    cr_expect_eq (json_integer_value (s_path (fuentes, "matches.0.length")), 4);
    cr_expect_str_eq (json_string_value (s_path (fuentes, "matches.0.pattern")), "P_DANE");
    cr_expect_str_eq (json_string_value (s_path (fuentes, "matches.0.text")), "DANE");
    cr_expect (json_is_null (s_path (doc, "result.ratio")));
    cr_expect_eq (json_number_value (s_path (doc, "result.score")), 1.5);
    cr_expect_str_eq (json_string_value (s_path (doc, "result.quality")), "ACEPTABLE");
    cr_expect (json_is_null (s_path (doc, "result.confidence")));
    json_t *earlier = json_object_get (s_path (doc, "result.output"), "text.match_patterns");
    cr_expect_eq (json_integer_value (json_object_get (earlier, "matched")), 3);
    s_run_free (&run);
    free (document);

    //  No document: "text" is null; a contract-less context is refused;
    //  a document that is not UTF-8 is refused with the reason.
    ctx.text = NULL;
    ctx.text_size = 0;
    document = fac_exec_input_new (&ctx, NULL, &size, err, sizeof err);
    cr_assert_not_null (document, "%s", err);
    json_t *parsed = json_loads (document, 0, NULL);
    cr_expect (json_is_null (json_object_get (parsed, "text")));
    cr_expect_eq (json_object_size (s_path (parsed, "contract.params")), 0);
    json_decref (parsed);
    free (document);
    ctx.text = "bad \xff byte";
    ctx.text_size = strlen (ctx.text);
    cr_expect_null (fac_exec_input_new (&ctx, step_params, &size, err, sizeof err));
    cr_expect (strstr (err, "not valid UTF-8"), "err: %s", err);
    ctx.compiled = NULL;
    cr_expect_null (fac_exec_input_new (&ctx, step_params, &size, err, sizeof err));
    cr_expect (strstr (err, "no contract"), "err: %s", err);

    json_decref (params);
    json_decref (so_far);
    json_decref (step_params);
    s_end (fds);
}

//  ---------------------------------------------------------------------
//  Failures

FF_TEST (exec, nonzero_exit_fails_quoting_stderr)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "print.sh", "{\"score\": 1}", "3", "the last complaint", NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    s_expect_failure (&run, FAC_EXEC_FAILED, "program exited with status 3; stderr: the last complaint");
    s_run_free (&run);

    //  A failing program's {"error": ...} is the reason.
    const char *error_argv [] = { S_DATA "print.sh", "{\"error\": \"params.k: must be > 0\"}", "2", NULL };
    s_exec (&run, error_argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    s_expect_failure (&run, FAC_EXEC_FAILED, "program exited with status 2: params.k: must be > 0");
    cr_expect_null (strstr (run.reason, "stderr"), "no stderr to quote: %s", run.reason);
    s_run_free (&run);
    s_end (fds);
}

FF_TEST (exec, killed_by_a_signal_fails)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "signal.sh", NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    s_expect_failure (&run, FAC_EXEC_FAILED, "program killed by signal 10 (SIGUSR1); stderr: about to die");
    s_run_free (&run);
    s_end (fds);
}

FF_TEST (exec, output_that_is_not_one_valid_object_fails)
{
    int fds = s_begin ();
    static const struct { const char *stdout_text; const char *needle; } cases [] = {
        { "this is not json", "program printed invalid JSON: '[' or '{' expected near 'this'" },
        { "{\"a\": 1} {\"b\": 2}", "program printed invalid JSON: end of file expected" },
        { "{\"a\": 1", "program printed invalid JSON: " },
        { "[1, 2, 3]", "program printed invalid JSON: an array, not an object" },
        { "42", "program printed invalid JSON: '[' or '{' expected" },
        { "", "program printed invalid JSON: nothing on stdout" },
        { " \n\t\n", "program printed invalid JSON: nothing on stdout" },
        { "{\"a\": 1, \"a\": 2}", "program printed invalid JSON: duplicate object key" },
        { "{\"a\": \"\xff\"}", "program printed invalid JSON: unable to decode byte 0xff" },
        { "{\"score\": 7}", "program output: \"score\" must be in 0..3, got 7" },
        { "{\"score\": -0.5}", "program output: \"score\" must be in 0..3, got -0.5" },
        { "{\"confidence\": \"high\"}", "program output: \"confidence\" must be a number in 0..1" },
        { "{\"ratio\": 1.5}", "program output: \"ratio\" must be in 0..1, got 1.5" },
        { "{\"output\": [1]}", "program output: \"output\" must be an object, got an array" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const char *argv [] = { S_DATA "print.sh", cases [i].stdout_text, NULL };
        s_run_t run;
        s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
        s_expect_failure (&run, FAC_EXEC_FAILED, cases [i].needle);
        s_run_free (&run);
    }
    s_end (fds);
}

FF_TEST (exec, endless_output_is_cut_at_the_cap)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "flood.sh", NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, 4096, 0);
    s_expect_failure (&run, FAC_EXEC_FAILED, "output exceeds 4096 bytes");
    //  Killed at the cap, not at the timeout.
    cr_expect_lt (run.duration_us, (uint64_t) S_TIMEOUT_MS * 1000);
    s_run_free (&run);
    s_end (fds);
}

FF_TEST (exec, stderr_keeps_its_tail_and_quotes_it_safely)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "stderr_flood.sh", NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    s_expect_failure (&run, FAC_EXEC_FAILED, "program exited with status 1; stderr: the final complaint");
    s_run_free (&run);

    //  A long last line is cut (on a character boundary); control
    //  characters and invalid UTF-8 do not reach the reason.
    char line [2048];
    size_t at = 0;
    while (at + 2 < 1500) {
        memcpy (line + at, "\xc3\xb1", 2);     // ñ
        at += 2;
    }
    line [at] = '\0';
    const char *long_argv [] = { S_DATA "print.sh", "", "1", line, NULL };
    s_exec (&run, long_argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    s_expect_failure (&run, FAC_EXEC_FAILED, "stderr: \xc3\xb1\xc3\xb1");
    cr_expect_lt (strlen (run.reason), 300, "reason of %zu bytes", strlen (run.reason));
    s_run_free (&run);

    const char *dirty_argv [] = { S_DATA "print.sh", "", "1", "bad\x01\x1b[31m\xff\xfe byte", NULL };
    s_exec (&run, dirty_argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    s_expect_failure (&run, FAC_EXEC_FAILED, "stderr: bad  [31m?? byte");
    s_run_free (&run);
    s_end (fds);
}

FF_TEST (exec, hanging_program_times_out_with_sigterm)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "hang.sh", NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, 200, S_CAP, 5000);
    s_expect_failure (&run, FAC_EXEC_TIMEOUT, "program timed out after 200 ms (stopped with SIGTERM)");
    cr_expect_geq (run.duration_us, 200 * 1000);
    s_run_free (&run);
    s_end (fds);
}

FF_TEST (exec, program_ignoring_sigterm_gets_sigkill)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "ignore_term.sh", NULL };
    s_run_t run;
    //  (500 ms: time for the shell to ignore SIGTERM before it comes.)
    s_exec (&run, argv, NULL, 0, 500, S_CAP, 100);
    s_expect_failure (&run, FAC_EXEC_TIMEOUT,
                      "program timed out after 500 ms (killed with SIGKILL: still running 100 ms "
                      "after SIGTERM)");
    cr_expect_geq (run.duration_us, 600 * 1000);
    s_run_free (&run);
    s_end (fds);
}

FF_TEST (exec, descendant_holding_stdout_does_not_hold_completion)
{
    int fds = s_begin ();
    const char *argv [] = { S_DATA "grandchild.sh", NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 100);
    cr_assert_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    //  Completed after the drain, long before the grandchild's 60 s or
    //  the timeout; and the grandchild is gone with its program.
    cr_expect_lt (run.duration_us, (uint64_t) S_TIMEOUT_MS * 1000);
    json_int_t grandchild = json_integer_value (s_path (run.output, "output.grandchild"));
    cr_assert_gt (grandchild, 1);
    s_expect_exits ((pid_t) grandchild);
    s_run_free (&run);
    s_end (fds);
}

//  ---------------------------------------------------------------------
//  Input

static char *
s_big_input (size_t size, uint32_t *sum)
{
    char *data = malloc (size);
    cr_assert_not_null (data);
    *sum = 0;
    for (size_t i = 0; i < size; i++) {
        data [i] = (char) ('a' + (i * 7) % 26);
        *sum += (uint8_t) data [i];
    }
    return data;
}

FF_TEST (exec, large_input_is_written_whole)
{
    int fds = s_begin ();
    size_t size = 1024 * 1024;
    uint32_t sum;
    char *input = s_big_input (size, &sum);
    const char *argv [] = { S_DATA "echo_input.py", NULL };
    s_run_t run;
    s_exec (&run, argv, input, size, S_TIMEOUT_MS, S_CAP, 0);
    cr_assert_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    cr_expect_eq (json_integer_value (s_path (run.output, "output.bytes")), (json_int_t) size);
    cr_expect_eq (json_integer_value (s_path (run.output, "output.sum")), (json_int_t) sum);
    s_run_free (&run);
    free (input);
    s_end (fds);
}

FF_TEST (exec, program_not_reading_its_input_is_judged_by_its_exit)
{
    int fds = s_begin ();
    //  Default SIGPIPE disposition, unblocked: a write to the closed pipe
    //  must not kill this process.
    signal (SIGPIPE, SIG_DFL);
    sigset_t pipe_set;
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    pthread_sigmask (SIG_UNBLOCK, &pipe_set, NULL);
    size_t size = 1024 * 1024;
    uint32_t sum;
    char *input = s_big_input (size, &sum);

    const char *argv [] = { S_DATA "never_read.sh", NULL };
    s_run_t run;
    s_exec (&run, argv, input, size, S_TIMEOUT_MS, S_CAP, 0);
    cr_expect_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    cr_expect (json_is_false (s_path (run.output, "output.read")));
    s_run_free (&run);

    const char *close_argv [] = { S_DATA "close_stdin.sh", NULL };
    s_exec (&run, close_argv, input, size, S_TIMEOUT_MS, S_CAP, 0);
    cr_expect_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    cr_expect (json_is_true (s_path (run.output, "output.closed")));
    s_run_free (&run);

    sigset_t pending;
    sigpending (&pending);
    cr_expect_not (sigismember (&pending, SIGPIPE), "a SIGPIPE was left pending");
    free (input);
    s_end (fds);
}

FF_TEST (exec, program_never_reading_does_not_block_the_loop)
{
    int fds = s_begin ();
    size_t size = 1024 * 1024;
    uint32_t sum;
    char *input = s_big_input (size, &sum);
    zloop_t *loop = zloop_new ();
    int pending = 2, completed = 0;
    s_run_t stuck, quick;
    s_run_reset (&stuck, loop, &pending, &completed);
    s_run_reset (&quick, loop, &pending, &completed);
    const char *stuck_argv [] = { S_DATA "never_read_hang.sh", NULL };
    const char *quick_argv [] = { S_DATA "ok.sh", NULL };
    s_start (loop, &stuck, stuck_argv, input, size, 1500, S_CAP, 100);
    s_start (loop, &quick, quick_argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    s_loop_run (loop);
    //  The other program completed while 1 MB waited on a full pipe.
    cr_expect_eq (quick.status, FAC_EXEC_OK, "reason: %s", quick.reason);
    cr_expect_eq (quick.order, 1);
    s_expect_failure (&stuck, FAC_EXEC_TIMEOUT, "program timed out after 1500 ms");
    cr_expect_eq (stuck.order, 2);
    s_run_free (&stuck);
    s_run_free (&quick);
    zloop_destroy (&loop);
    free (input);
    s_end (fds);
}

//  ---------------------------------------------------------------------
//  Starting

FF_TEST (exec, program_that_cannot_run_fails_on_the_next_turn)
{
    int fds = s_begin ();
    static const struct { const char *program; const char *needle; } cases [] = {
        { S_DATA "does_not_exist", "cannot run " S_DATA "does_not_exist: No such file or directory" },
        { S_DATA "not_executable.sh", "cannot run " S_DATA "not_executable.sh: Permission denied" },
        { S_DATA "no_interpreter", "cannot run " S_DATA "no_interpreter: Exec format error" },
        { S_DATA, "cannot run " S_DATA ": Permission denied" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const char *argv [] = { cases [i].program, NULL };
        s_run_t run;
        //  s_exec checks the callback does not come inside fac_exec_start.
        s_exec (&run, argv, "{}", 2, S_TIMEOUT_MS, S_CAP, 0);
        s_expect_failure (&run, FAC_EXEC_FAILED, cases [i].needle);
        s_run_free (&run);
    }
    s_end (fds);
}

FF_TEST (exec, invalid_options_are_refused)
{
    int fds = s_begin ();
    zloop_t *loop = zloop_new ();
    const char *relative [] = { "tests/data/exec/ok.sh", NULL };
    const char *empty [] = { NULL };
    const char *good [] = { S_DATA "ok.sh", NULL };
    static const char *needles [] = {
        "no program given", "no program given", "must be an absolute path",
        "timeout_ms must be > 0", "output_cap must be in 1..", "output_cap must be in 1..",
        "input_size 5 with no input",
    };
    fac_exec_options_t cases [] = {
        { .argv = NULL, .timeout_ms = 1000, .output_cap = 100 },
        { .argv = empty, .timeout_ms = 1000, .output_cap = 100 },
        { .argv = relative, .timeout_ms = 1000, .output_cap = 100 },
        { .argv = good, .timeout_ms = 0, .output_cap = 100 },
        { .argv = good, .timeout_ms = 1000, .output_cap = 0 },
        { .argv = good, .timeout_ms = 1000, .output_cap = SIZE_MAX },
        { .argv = good, .timeout_ms = 1000, .output_cap = 100, .input = NULL, .input_size = 5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char err [256] = "";
        s_run_t run;
        s_run_reset (&run, loop, NULL, NULL);
        fac_exec_t *exec = fac_exec_start (loop, &cases [i], s_done, &run, err, sizeof err);
        cr_expect_null (exec, "case %zu accepted", i);
        cr_expect (strstr (err, needles [i]), "case %zu: err \"%s\" lacks \"%s\"", i, err,
                   needles [i]);
        cr_expect_eq (fac_exec_running (), 0);
    }
    cr_expect_null (fac_exec_start (loop, NULL, s_done, NULL, NULL, 0));
    zloop_destroy (&loop);
    s_end (fds);
}

FF_TEST (exec, program_starts_clean)
{
    int fds = s_begin ();
    //  This process: a secret in the environment, signals blocked and
    //  ignored, a descriptor without close-on-exec. None may reach the
    //  program.
    setenv ("FARFAN_TEST_SECRET", "leaked", 1);
    sigset_t blocked;
    sigemptyset (&blocked);
    sigaddset (&blocked, SIGTERM);
    sigaddset (&blocked, SIGUSR1);
    sigset_t old_mask;
    pthread_sigmask (SIG_BLOCK, &blocked, &old_mask);
    void (*old_int) (int) = signal (SIGINT, SIG_IGN);
    void (*old_pipe) (int) = signal (SIGPIPE, SIG_IGN);
    int inherited = open ("/dev/null", O_RDONLY);       //  no O_CLOEXEC on purpose
    cr_assert_geq (inherited, 0);

    const char *argv [] = { S_DATA "env.sh", "two words", "", "x", NULL };
    s_run_t run;
    s_exec (&run, argv, NULL, 0, S_TIMEOUT_MS, S_CAP, 0);
    cr_assert_eq (run.status, FAC_EXEC_OK, "reason: %s", run.reason);
    json_t *report = json_object_get (run.output, "output");
    cr_expect_str_eq (json_string_value (json_object_get (report, "sigblk")), "0000000000000000");
    //  Signals 1..31 (glibc keeps its internal real-time signals as they
    //  were; they are no business of the program).
    const char *ignored = json_string_value (json_object_get (report, "sigign"));
    cr_assert_not_null (ignored);
    cr_expect_eq (strtoull (ignored, NULL, 16) & 0x7fffffffull, 0, "ignored signals: %s", ignored);
    json_t *args = json_object_get (report, "args");
    cr_expect_eq (json_array_size (args), 3);
    cr_expect_str_eq (json_string_value (json_array_get (args, 0)), "two words");
    cr_expect_str_eq (json_string_value (json_array_get (args, 1)), "");
    cr_expect_str_eq (json_string_value (json_array_get (args, 2)), "x");
    json_t *env = json_object_get (report, "env");
    cr_expect_str_eq (json_string_value (json_object_get (env, "PATH")), "/usr/bin:/bin");
    cr_expect_str_eq (json_string_value (json_object_get (env, "LANG")), "C.UTF-8");
    cr_expect_null (json_object_get (env, "FARFAN_TEST_SECRET"));
    const char *key;
    json_t *value;
    json_object_foreach (env, key, value) {
        //  The shell exports PWD itself; nothing else beyond the two.
        cr_expect (strcmp (key, "PATH") == 0 || strcmp (key, "LANG") == 0
                   || strcmp (key, "PWD") == 0, "unexpected environment variable %s", key);
    }
    //  0, 1, 2 and the descriptor the listing itself used.
    json_t *fd_list = json_object_get (report, "fds");
    cr_expect_eq (json_array_size (fd_list), 4, "%zu descriptors open in the program",
                  json_array_size (fd_list));
    for (size_t i = 0; i < 3; i++)
        cr_expect_eq (json_integer_value (json_array_get (fd_list, i)), (json_int_t) i);
    cr_expect (json_is_true (json_object_get (report, "own_group")));
    cr_expect (json_is_true (json_object_get (report, "stdin_fifo")));
    cr_expect (json_is_true (json_object_get (report, "stdout_fifo")));
    cr_expect (json_is_true (json_object_get (report, "stderr_fifo")));
    s_run_free (&run);

    close (inherited);
    signal (SIGINT, old_int);
    signal (SIGPIPE, old_pipe);
    pthread_sigmask (SIG_SETMASK, &old_mask, NULL);
    unsetenv ("FARFAN_TEST_SECRET");
    s_end (fds);
}

//  ---------------------------------------------------------------------
//  Many at once

#define S_CONCURRENT 200

FF_TEST (exec, many_concurrent_programs_all_complete)
{
    int fds = s_begin ();
    zloop_t *loop = zloop_new ();
    s_run_t *runs = calloc (S_CONCURRENT, sizeof (s_run_t));
    cr_assert_not_null (runs);
    int pending = S_CONCURRENT, completed = 0;
    const char *argv [] = { S_DATA "ok.sh", NULL };
    uint64_t started = ff_clock_mono_us ();
    for (int i = 0; i < S_CONCURRENT; i++) {
        s_run_reset (&runs [i], loop, &pending, &completed);
        s_start (loop, &runs [i], argv, "{}", 2, S_TIMEOUT_MS, S_CAP, 0);
    }
    cr_expect_eq (fac_exec_running (), S_CONCURRENT);
    uint64_t spawned = ff_clock_mono_us ();
    s_loop_run (loop);
    uint64_t finished = ff_clock_mono_us ();
    for (int i = 0; i < S_CONCURRENT; i++) {
        cr_expect_eq (runs [i].calls, 1);
        cr_expect_eq (runs [i].status, FAC_EXEC_OK, "%d: %s", i, runs [i].reason);
        cr_expect (json_is_true (s_path (runs [i].output, "output.ok")));
        s_run_free (&runs [i]);
    }
    cr_expect_eq (completed, S_CONCURRENT);

    //  Context, not an assertion (timing belongs to benchmarks): the same
    //  programs started bare (posix_spawn, no pipes, waitpid), same run.
    pid_t *pids = calloc (S_CONCURRENT, sizeof (pid_t));
    cr_assert_not_null (pids);
    posix_spawn_file_actions_t to_null;
    posix_spawn_file_actions_init (&to_null);
    posix_spawn_file_actions_addopen (&to_null, 1, "/dev/null", O_WRONLY, 0);
    uint64_t bare_started = ff_clock_mono_us ();
    for (int i = 0; i < S_CONCURRENT; i++)
        cr_assert_eq (posix_spawn (&pids [i], argv [0], &to_null, NULL, (char *const *) argv,
                                   (char *const []) { "PATH=/usr/bin:/bin", NULL }), 0);
    for (int i = 0; i < S_CONCURRENT; i++)
        cr_assert_eq (waitpid (pids [i], NULL, 0), pids [i]);
    uint64_t bare_us = ff_clock_mono_us () - bare_started;
    posix_spawn_file_actions_destroy (&to_null);
    free (pids);
    //  On stderr: shown when the suite runs without --tap.
    fprintf (stderr, "exec: %d concurrent /bin/sh programs: %.1f ms end to end "
             "(starting them %.1f ms), %.3f ms each; bare posix_spawn + waitpid of the same: "
             "%.1f ms (ratio %.2f)\n", S_CONCURRENT,
             (double) (finished - started) / 1000.0, (double) (spawned - started) / 1000.0,
             (double) (finished - started) / 1000.0 / S_CONCURRENT, (double) bare_us / 1000.0,
             (double) (finished - started) / (double) bare_us);
    free (runs);
    zloop_destroy (&loop);
    s_end (fds);
}

//  ---------------------------------------------------------------------
//  Cancelling

typedef struct {
    const char *token;
    int wanted;                 // processes to see alive before ending the loop
    bool seen;
} s_watch_t;

static int
s_watch_tick (zloop_t *loop, int timer_id, void *arg)
{
    s_watch_t *watch = (s_watch_t *) arg;
    pid_t pids [64];
    int alive;
    s_find_processes (watch->token, pids, 64, &alive);
    if (alive >= watch->wanted) {
        watch->seen = true;
        return -1;
    }
    return 0;
}

//  Checks that no process carrying token outlives the test.
static void
s_expect_token_gone (const char *token)
{
    pid_t pids [64];
    int alive;
    int found = s_find_processes (token, pids, 64, &alive);
    for (int i = 0; i < found && i < 64; i++)
        s_expect_exits (pids [i]);
}

FF_TEST (exec, loop_shutdown_cancels_running_programs)
{
    int fds = s_begin ();
    char token [64];
    snprintf (token, sizeof token, "farfan-exec-test-%d-shutdown", (int) getpid ());
    zloop_t *loop = zloop_new ();
    const char *argv [] = { S_DATA "family.py", token, NULL };
    s_run_t runs [3];
    for (int i = 0; i < 3; i++) {
        s_run_reset (&runs [i], loop, NULL, NULL);
        s_start (loop, &runs [i], argv, NULL, 0, 60000, S_CAP, 0);
    }
    //  Run until the three programs and their three children are up.
    s_watch_t watch = { .token = token, .wanted = 6 };
    int tick = zloop_timer (loop, 5, 0, s_watch_tick, &watch);
    s_loop_run (loop);
    zloop_timer_end (loop, tick);
    cr_assert (watch.seen);
    cr_expect_eq (fac_exec_running (), 3);
    //  The engine's shutdown: cancel every execution, then destroy the loop.
    for (int i = 0; i < 3; i++) {
        fac_exec_cancel (&runs [i].handle);
        cr_expect_null (runs [i].handle);
        cr_expect_not (runs [i].done, "a cancelled execution called back");
    }
    fac_exec_cancel (&runs [0].handle);         //  NULL: no-op
    zloop_destroy (&loop);
    s_expect_token_gone (token);
    s_end (fds);
}

FF_TEST (exec, cancel_before_the_loop_ever_runs)
{
    int fds = s_begin ();
    zloop_t *loop = zloop_new ();
    const char *argv [] = { S_DATA "hang.sh", NULL };
    const char *missing [] = { S_DATA "does_not_exist", NULL };
    s_run_t runs [3];
    for (int i = 0; i < 3; i++) {
        s_run_reset (&runs [i], loop, NULL, NULL);
        s_start (loop, &runs [i], i == 2 ? missing : argv, "{}", 2, 60000, S_CAP, 0);
    }
    for (int i = 0; i < 3; i++)
        fac_exec_cancel (&runs [i].handle);
    zloop_destroy (&loop);
    for (int i = 0; i < 3; i++)
        cr_expect_not (runs [i].done);
    s_end (fds);
}

//  A callback that cancels another execution (and, harmlessly, its own).
typedef struct {
    s_run_t run;
    fac_exec_t **victim;
    fac_exec_t *self_copy;
} s_canceller_t;

static void
s_done_cancelling (void *arg, fac_exec_status_t status, json_t *output, const char *reason,
                   uint64_t duration_us)
{
    s_canceller_t *canceller = (s_canceller_t *) arg;
    fac_exec_cancel (canceller->victim);
    fac_exec_cancel (&canceller->self_copy);    //  its own handle: a no-op
    s_done (&canceller->run, status, output, reason, duration_us);
}

FF_TEST (exec, callback_may_cancel_another_execution)
{
    int fds = s_begin ();
    zloop_t *loop = zloop_new ();
    int pending = 1;
    s_run_t victim;
    s_run_reset (&victim, loop, NULL, NULL);
    const char *hang [] = { S_DATA "hang.sh", NULL };
    s_start (loop, &victim, hang, NULL, 0, 60000, S_CAP, 0);
    s_canceller_t canceller;
    s_run_reset (&canceller.run, loop, &pending, NULL);
    canceller.victim = &victim.handle;
    const char *ok [] = { S_DATA "ok.sh", NULL };
    fac_exec_options_t options = { .argv = ok, .timeout_ms = S_TIMEOUT_MS, .output_cap = S_CAP };
    char err [256];
    canceller.self_copy = canceller.run.handle =
        fac_exec_start (loop, &options, s_done_cancelling, &canceller, err, sizeof err);
    cr_assert_not_null (canceller.self_copy, "%s", err);
    s_loop_run (loop);
    cr_expect_eq (canceller.run.status, FAC_EXEC_OK, "reason: %s", canceller.run.reason);
    cr_expect_null (victim.handle);
    cr_expect_not (victim.done);
    s_run_free (&canceller.run);
    zloop_destroy (&loop);
    s_end (fds);
}

//  A timer that cancels executions whose stderr is always readable, so
//  their pollers are ready in the turn that frees them (ASan catches any
//  use of the freed handles).
typedef struct {
    s_run_t *runs;
    int count;
} s_cancel_all_t;

static int
s_cancel_all (zloop_t *loop, int timer_id, void *arg)
{
    s_cancel_all_t *all = (s_cancel_all_t *) arg;
    for (int i = 0; i < all->count; i++)
        fac_exec_cancel (&all->runs [i].handle);
    //  Ends the loop on the next turn, after the stale pollers' turn.
    zloop_timer (loop, 0, 1, s_end_loop, NULL);
    return 0;
}

FF_TEST (exec, cancel_from_a_timer_while_output_is_pending)
{
    int fds = s_begin ();
    zloop_t *loop = zloop_new ();
    s_run_t runs [8];
    const char *argv [] = { S_DATA "stderr_endless.sh", NULL };
    for (int i = 0; i < 8; i++) {
        s_run_reset (&runs [i], loop, NULL, NULL);
        s_start (loop, &runs [i], argv, NULL, 0, 60000, S_CAP, 0);
    }
    s_cancel_all_t all = { runs, 8 };
    zloop_timer (loop, 100, 1, s_cancel_all, &all);
    s_loop_run (loop);
    for (int i = 0; i < 8; i++) {
        cr_expect_not (runs [i].done);
        cr_expect_null (runs [i].handle);
    }
    zloop_destroy (&loop);
    s_end (fds);
}

//  A timer that cancels an execution whose own timeout timer is due in the
//  same turn: zloop still fires timers cancelled earlier in the turn, with
//  the freed handle as their arg (ASan catches any use of it).
static int
s_cancel_one (zloop_t *loop, int timer_id, void *arg)
{
    fac_exec_cancel ((fac_exec_t **) arg);
    zloop_timer (loop, 0, 1, s_end_loop, NULL);
    return 0;
}

FF_TEST (exec, cancel_from_a_timer_while_its_timeout_is_due)
{
    int fds = s_begin ();
    zloop_t *loop = zloop_new ();
    s_run_t run;
    s_run_reset (&run, loop, NULL, NULL);
    //  The cancelling timer first in zloop's list, then the execution's
    //  timeout; both 1 ms.
    zloop_timer (loop, 1, 1, s_cancel_one, &run.handle);
    const char *argv [] = { S_DATA "hang.sh", NULL };
    s_start (loop, &run, argv, NULL, 0, 1, S_CAP, 0);
    //  Not a wait for an event: both timers must be overdue when the loop
    //  first looks, so that they fire in the same turn.
    uint64_t due = ff_clock_mono_us () + 5000;
    while (ff_clock_mono_us () < due)
        ;
    s_loop_run (loop);
    cr_expect_not (run.done);
    cr_expect_null (run.handle);
    zloop_destroy (&loop);
    s_end (fds);
}
