/*  farfanctl run | status | results | report | cancel | runs | factories

    The orchestrator's client API (proto/orchestrator.proto) from the
    command line: submit a document and watch its run through the phases,
    look at runs, their results and reports, cancel them, and list the
    registered factories.

      run FILE    SUBMIT the file's bytes ("-": stdin; media type from
                  the content: "%PDF-" is application/pdf, anything else
                  must be UTF-8 text), or with --path the path itself
                  (made absolute) for the orchestrator to read. Prints the
                  run id; with --wait (the default when stdout is a
                  terminal; --no-wait to detach) WATCHes the run to its end.
      status RUN  STATUS: state, phases, conflicts, warnings, failures;
                  --wait watches it to its end, like run --wait.
      results RUN, report RUN, cancel RUN, runs, factories: one request each.

    --contracts SET: the run's own contract set (SubmitRun.contract_set),
    resolved by the orchestrator: a name is a subdirectory of its
    contract_sets_dir, an absolute path a directory it reads. A relative
    path that is a directory here is made absolute first (the
    orchestrator's working directory is not ours); anything else goes as
    a name. Without it the run uses the orchestrator's contracts_dir.
    Every run's status names its set's digest.

    Exit codes:
      0  run (detached): submitted; run --wait / status --wait: the run
         SUCCEEDED; status (no --wait): the run exists, whatever its state
         (the state is printed); cancel: the run is cancelled (now or
         before); others: answered.
      1  an error reply (no such run...); a run watched to its end that
         FAILED (its error on stderr) or was CANCELLED; cancel of a run
         that had already ended otherwise.
      2  usage error (and local files that cannot be read or written).
      3  no answer: the orchestrator is unreachable or stopped answering.
      130  interrupted (Ctrl-C) while watching: the run goes on.

    Requests that only read, and CANCEL (cancelling twice is harmless),
    use Lazy Pirate: three attempts of --timeout each. SUBMIT is sent once:
    a retry could start the run twice (on no answer the message says to
    check `farfanctl runs`).

    Watching: WATCH is answered by a stream of PROGRESS (each a RunStatus)
    on its own DEALER, the last one final. --timeout is the longest silence
    tolerated (a phase of long contracts can be silent for a while): after
    it farfanctl asks for STATUS on the same socket. No answer within
    --timeout means the orchestrator is gone (exit 3; the run resumes when
    it restarts: `status RUN --wait` watches it again). A final state in
    the answer ends the watch with it (the stream's last PROGRESS was lost);
    otherwise the run is alive and the display is refreshed from it. A
    watch lives on one connection: when the connection drops and comes
    back (the orchestrator restarted), WATCH is sent again.

    Display: on a terminal, one progress bar per phase of the run's range,
    redrawn in place (ANSI cursor movement, no colours; '#' and '.' when
    the locale is not UTF-8); elsewhere, one plain line per phase change,
    at most one per --interval per phase for the counts (state changes
    always). A running phase's ETA is its measured pace once any of its
    contracts is done, the orchestrator's estimate before. Then the
    summary: a phase table (state, done/total, failed, cached, duration,
    factories), the run's state, error, warnings, conflicts and failures.
    --json prints the replies instead, one JSON object per line
    (ctl_output.h): run --wait prints SUBMITTED's then each PROGRESS; the
    last line is the final status.
*/
#include "ctl_command.h"
#include "ctl_output.h"
#include "ctl_table.h"
#include "ff_client.h"
#include "ff_clock.h"
#include "ff_utf8.h"
#include "orchestrator.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  Attempts of a request that may be repeated (Lazy Pirate).
#define S_ATTEMPTS 3
//  Default wait per attempt, and silence tolerated while watching, ms.
#define S_DEFAULT_TIMEOUT_MS 1000
//  Default least time between two progress lines of a phase off a terminal.
#define S_DEFAULT_INTERVAL_MS 1000
//  Requests above this are dropped by an orchestrator with the default
//  max_msg_size: said when such a SUBMIT goes unanswered.
#define S_DEFAULT_MAX_MSG_SIZE (16u * 1024 * 1024)
//  Failures listed by the human summary; --json has them all.
#define S_FAILURES_SHOWN 20
//  Exit code of a watch interrupted by Ctrl-C (shell convention 128 + 2).
#define S_EXIT_INTERRUPTED 130

//  ---------------------------------------------------------------------
//  Options and commands

enum {
    S_OPT_ENDPOINT = 1 << 0,
    S_OPT_TIMEOUT = 1 << 1,
    S_OPT_JSON = 1 << 2,
    S_OPT_PHASES = 1 << 3,
    S_OPT_DEADLINE = 1 << 4,
    S_OPT_STRICT = 1 << 5,
    S_OPT_BUDGET = 1 << 6,
    S_OPT_PARAMS = 1 << 7,
    S_OPT_NAME = 1 << 8,
    S_OPT_WAIT = 1 << 9,
    S_OPT_NO_WAIT = 1 << 10,
    S_OPT_PATH = 1 << 11,
    S_OPT_INTERVAL = 1 << 12,
    S_OPT_PHASE = 1 << 13,
    S_OPT_CONTRACT = 1 << 14,
    S_OPT_FORMAT = 1 << 15,
    S_OPT_OUT = 1 << 16,
    S_OPT_LIMIT = 1 << 17,
    S_OPT_CONTRACTS = 1 << 18,     //  the run's contract set
};
#define S_OPT_COMMON (S_OPT_ENDPOINT | S_OPT_TIMEOUT | S_OPT_JSON)
#define S_OPT_WATCH (S_OPT_WAIT | S_OPT_INTERVAL)

typedef struct {
    const char *name;           // on the command line
    unsigned flag;              // S_OPT_*
    bool takes_value;
} s_option_t;

static const s_option_t s_options [] = {
    { "--endpoint", S_OPT_ENDPOINT, true },
    { "--timeout", S_OPT_TIMEOUT, true },
    { "--json", S_OPT_JSON, false },
    { "--phases", S_OPT_PHASES, true },
    { "--deadline", S_OPT_DEADLINE, true },
    { "--strict-deadline", S_OPT_STRICT, false },
    { "--budget", S_OPT_BUDGET, true },
    { "--params", S_OPT_PARAMS, true },
    { "--name", S_OPT_NAME, true },
    { "--wait", S_OPT_WAIT, false },
    { "--no-wait", S_OPT_NO_WAIT, false },
    { "--path", S_OPT_PATH, false },
    { "--interval", S_OPT_INTERVAL, true },
    { "--phase", S_OPT_PHASE, true },
    { "--contract", S_OPT_CONTRACT, true },
    { "--format", S_OPT_FORMAT, true },
    { "--out", S_OPT_OUT, true },
    { "--limit", S_OPT_LIMIT, true },
    { "--contracts", S_OPT_CONTRACTS, true },
};
#define S_OPTION_COUNT (sizeof s_options / sizeof s_options [0])

typedef struct s_ctx s_ctx_t;

typedef struct {
    const char *name;           // farfanctl NAME
    unsigned options;           // S_OPT_* it accepts beyond the common ones
    size_t min_args;            // positional arguments
    size_t max_args;
    const char *usage;          // arguments and options, one line
    const char *help;           // what it does and prints, indented lines
    int (*run) (s_ctx_t *ctx);
} s_command_t;

//  Everything parsed from the command line, plus the client.
struct s_ctx {
    const s_command_t *command;
    char prefix [48];           // "farfanctl run", for messages
    const char *endpoint;
    int timeout_ms;
    bool json;
    unsigned seen;              // S_OPT_* given
    const char *seen_name [32]; // the spelling of each, by bit
    char first_phase [4];       // --phases, "" = the orchestrator's default
    char last_phase [4];
    double deadline_s;
    bool strict_deadline;
    uint32_t budget;
    const char *params;
    const char *name;
    bool wait;                  // --wait
    bool no_wait;               // --no-wait
    bool path;                  // --path: FILE is the orchestrator's path
    int interval_ms;
    const char *phase;
    const char *contract;
    const char *format;
    const char *out;
    uint32_t limit;
    const char *contracts;      // --contracts: a set name or directory, NULL = the default
    char **args;                // positional, borrowed from argv
    size_t arg_count;
    ff_client_t *client;
};

static int s_run_run (s_ctx_t *ctx);
static int s_run_status (s_ctx_t *ctx);
static int s_run_results (s_ctx_t *ctx);
static int s_run_report (s_ctx_t *ctx);
static int s_run_cancel (s_ctx_t *ctx);
static int s_run_runs (s_ctx_t *ctx);
static int s_run_factories (s_ctx_t *ctx);

static const s_command_t s_commands [] = {
    { "run", S_OPT_PHASES | S_OPT_DEADLINE | S_OPT_STRICT | S_OPT_BUDGET | S_OPT_PARAMS
             | S_OPT_NAME | S_OPT_WATCH | S_OPT_NO_WAIT | S_OPT_PATH | S_OPT_CONTRACTS, 1, 1,
      "FILE [--contracts SET] [--phases P02-P03]\n"
      "          [--deadline S [--strict-deadline]] [--budget N] [--params JSON]\n"
      "          [--name NAME] [--path] [--wait | --no-wait] [--interval MS]",
      "      submits FILE (UTF-8 text or PDF; - reads stdin) and prints the run id. --path\n"
      "      sends the path instead, for the orchestrator to read (relative paths are made\n"
      "      absolute here). --contracts: the run's contract set: a name (a subdirectory\n"
      "      of the orchestrator's contract_sets_dir) or a directory (absolute, or relative\n"
      "      and present here: made absolute), read by the orchestrator; default its\n"
      "      contracts_dir. A set that cannot be read, holds an invalid contract or none is\n"
      "      refused (exit 1). --phases: one phase or a range (default P00-P09); --deadline:\n"
      "      seconds, an estimate beyond it is a warning (a failure with --strict-deadline);\n"
      "      --budget: contracts in flight per factory; --params: a JSON object given to\n"
      "      every contract; --name: shown in lists (default the file's name).\n"
      "      --wait (the default when stdout is a terminal; --no-wait detaches) watches the\n"
      "      run: a progress bar per phase on a terminal, a line per change elsewhere (at\n"
      "      most one per --interval MS per phase, default 1000, 0 = every change), then\n"
      "      the summary; the status names the run's contract set digest. Exit 0 only when\n"
      "      the run succeeded\n",
      s_run_run },
    { "status", S_OPT_WATCH, 1, 1, "RUN [--wait [--interval MS]]",
      "      the run's state, phases (done/total, failed, cached, duration, factories),\n"
      "      error, warnings, conflicts and failures. Exit 0 when the run exists, whatever\n"
      "      its state; --wait watches it to its end as run --wait does (exit 0 only when\n"
      "      it succeeded)\n",
      s_run_status },
    { "results", S_OPT_PHASE | S_OPT_CONTRACT, 1, 1, "RUN [--phase P02] [--contract ID]",
      "      the run's committed contract results: status, score, quality, evidence,\n"
      "      duration, cache, error\n",
      s_run_results },
    { "report", S_OPT_FORMAT | S_OPT_OUT, 1, 1, "RUN [--format json|markdown|html] [--out FILE]",
      "      the run's report (default json) on stdout, or written to FILE. --json: the\n"
      "      RunReport object, its content as a string\n",
      s_run_report },
    { "cancel", 0, 1, 1, "RUN",
      "      cancels the run: nothing more is dispatched. Exit 0 when it is cancelled (now\n"
      "      or before), 1 when it had already ended otherwise\n",
      s_run_cancel },
    { "runs", S_OPT_LIMIT, 0, 0, "[--limit N]",
      "      the most recent runs first (default 100): state, phase, progress, times\n",
      s_run_runs },
    { "factories", 0, 0, 0, "",
      "      the factories registered with the orchestrator: health, contract set, workers,\n"
      "      contracts in flight and the cap agreed, executions, latency, last heard\n",
      s_run_factories },
};
#define S_COMMAND_COUNT (sizeof s_commands / sizeof s_commands [0])

static void
s_help (const s_command_t *command, FILE *out)
{
    fprintf (out, "Usage: farfanctl %s%s%s\n\n%s\n",
             command->name, *command->usage ? " " : "", command->usage, command->help);
    fprintf (out,
        "Options of every orchestrator command:\n"
        "  --endpoint E   the orchestrator's client API (default: $FARFAN_CTL_ORCHESTRATOR,\n"
        "                 else tcp://127.0.0.1:5550)\n"
        "  --timeout MS   wait per request attempt (3 attempts, SUBMIT 1); watching: the\n"
        "                 silence tolerated before checking the orchestrator is still\n"
        "                 there (default %d)\n"
        "  --json         the replies as JSON, one object per line\n\n"
        "Exit codes: 0 ok (a watched run succeeded), 1 error reply or the watched run\n"
        "failed or was cancelled, 2 usage error, 3 no answer, 130 interrupted while\n"
        "watching (the run goes on).\n", S_DEFAULT_TIMEOUT_MS);
}

//  ---------------------------------------------------------------------
//  Parsing

static int
s_usage_error (s_ctx_t *ctx, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_usage_error (s_ctx_t *ctx, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "%s: ", ctx->prefix);
    vfprintf (stderr, format, args);
    fprintf (stderr, " (see %s --help)\n", ctx->prefix);
    va_end (args);
    return CTL_EXIT_USAGE;
}

//  An integer in [min, max], or -1.
static long long
s_integer (const char *text, long long min, long long max)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (!*text || *end || errno || value < min || value > max)
        return -1;
    return value;
}

static bool
s_phase_valid (const char *phase)
{
    return strlen (phase) == 3 && phase [0] == 'P' && phase [1] == '0'
        && phase [2] >= '0' && phase [2] <= '9';
}

//  "P02-P03" or "P04" into ctx->first_phase / last_phase.
static int
s_take_phases (s_ctx_t *ctx, const char *value)
{
    const char *dash = strchr (value, '-');
    char first [8] = "", last [8] = "";
    if (dash && strlen (value) <= 7) {
        snprintf (first, sizeof first, "%.*s", (int) (dash - value), value);
        snprintf (last, sizeof last, "%s", dash + 1);
    }
    else
    if (strlen (value) <= 3) {
        snprintf (first, sizeof first, "%s", value);
        snprintf (last, sizeof last, "%s", value);
    }
    if (!s_phase_valid (first) || !s_phase_valid (last))
        return s_usage_error (ctx, "--phases takes a phase or a range, P04 or P02-P03, not \"%s\"",
                              value);
    if (strcmp (first, last) > 0)
        return s_usage_error (ctx, "--phases %s: the range ends before it starts", value);
    memcpy (ctx->first_phase, first, 4);
    memcpy (ctx->last_phase, last, 4);
    return CTL_EXIT_OK;
}

static int
s_take_value (s_ctx_t *ctx, const s_option_t *option, const char *value)
{
    long long number;
    switch (option->flag) {
        case S_OPT_ENDPOINT:
            if (!*value)
                return s_usage_error (ctx, "--endpoint takes an endpoint, not \"\"");
            ctx->endpoint = value;
            break;
        case S_OPT_TIMEOUT:
            if ((number = s_integer (value, 1, INT_MAX)) < 0)
                return s_usage_error (ctx, "--timeout takes milliseconds > 0, not \"%s\"", value);
            ctx->timeout_ms = (int) number;
            break;
        case S_OPT_PHASES:
            return s_take_phases (ctx, value);
        case S_OPT_DEADLINE: {
            char *end = NULL;
            errno = 0;
            double seconds = strtod (value, &end);
            if (!*value || *end || errno || !isfinite (seconds) || seconds <= 0)
                return s_usage_error (ctx, "--deadline takes seconds > 0, not \"%s\"", value);
            ctx->deadline_s = seconds;
            break;
        }
        case S_OPT_BUDGET:
            if ((number = s_integer (value, 1, UINT32_MAX)) < 0)
                return s_usage_error (ctx, "--budget takes a count of contracts > 0, not \"%s\"",
                                      value);
            ctx->budget = (uint32_t) number;
            break;
        case S_OPT_PARAMS: {
            json_error_t error;
            json_t *params = json_loads (value, 0, &error);
            bool object = params && json_is_object (params);
            json_decref (params);
            if (!object)
                return s_usage_error (ctx, "--params takes a JSON object, not \"%s\"%s%s", value,
                                      params ? "" : ": ", params ? "" : error.text);
            ctx->params = value;
            break;
        }
        case S_OPT_NAME:
            if (!*value)
                return s_usage_error (ctx, "--name takes a name, not \"\"");
            ctx->name = value;
            break;
        case S_OPT_INTERVAL:
            if ((number = s_integer (value, 0, INT_MAX)) < 0)
                return s_usage_error (ctx, "--interval takes milliseconds ≥ 0, not \"%s\"", value);
            ctx->interval_ms = (int) number;
            break;
        case S_OPT_PHASE:
            if (!s_phase_valid (value))
                return s_usage_error (ctx, "--phase takes P00..P09, not \"%s\"", value);
            ctx->phase = value;
            break;
        case S_OPT_CONTRACT:
            if (!*value)
                return s_usage_error (ctx, "--contract takes a contract id, not \"\"");
            ctx->contract = value;
            break;
        case S_OPT_FORMAT:
            if (strcmp (value, "json") && strcmp (value, "markdown") && strcmp (value, "html"))
                return s_usage_error (ctx, "--format takes json, markdown or html, not \"%s\"",
                                      value);
            ctx->format = value;
            break;
        case S_OPT_OUT:
            if (!*value)
                return s_usage_error (ctx, "--out takes a file name, not \"\"");
            ctx->out = value;
            break;
        case S_OPT_LIMIT:
            if ((number = s_integer (value, 1, UINT32_MAX)) < 0)
                return s_usage_error (ctx, "--limit takes a count > 0, not \"%s\"", value);
            ctx->limit = (uint32_t) number;
            break;
        case S_OPT_CONTRACTS:
            if (!*value)
                return s_usage_error (ctx, "--contracts takes a set name or a directory, not \"\"");
            ctx->contracts = value;
            break;
    }
    return CTL_EXIT_OK;
}

static void
s_take_flag (s_ctx_t *ctx, unsigned flag)
{
    if (flag == S_OPT_JSON)
        ctx->json = true;
    else
    if (flag == S_OPT_STRICT)
        ctx->strict_deadline = true;
    else
    if (flag == S_OPT_WAIT)
        ctx->wait = true;
    else
    if (flag == S_OPT_NO_WAIT)
        ctx->no_wait = true;
    else
    if (flag == S_OPT_PATH)
        ctx->path = true;
}

//  Fills ctx from argv (argv[0] the command). Returns CTL_EXIT_OK,
//  CTL_EXIT_USAGE (said why), or -1 when help was asked for.
static int
s_parse (s_ctx_t *ctx, int argc, char **argv)
{
    ctx->args = (char **) calloc ((size_t) argc + 1, sizeof (char *));
    assert (ctx->args);
    bool help = false, options_end = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (!options_end && (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)) {
            help = true;
            continue;
        }
        if (!options_end && strcmp (arg, "--") == 0) {
            options_end = true;
            continue;
        }
        //  "-" alone is a positional argument (stdin for run).
        if (!options_end && *arg == '-' && arg [1]) {
            const s_option_t *option = NULL;
            for (size_t o = 0; o < S_OPTION_COUNT; o++)
                if (strcmp (s_options [o].name, arg) == 0)
                    option = &s_options [o];
            if (!option)
                return s_usage_error (ctx, "unknown option \"%s\"", arg);
            if (!(option->flag & (ctx->command->options | S_OPT_COMMON)))
                return s_usage_error (ctx, "%s is not an option of %s", arg, ctx->command->name);
            ctx->seen |= option->flag;
            ctx->seen_name [__builtin_ctz (option->flag)] = option->name;
            if (!option->takes_value) {
                s_take_flag (ctx, option->flag);
                continue;
            }
            if (i + 1 >= argc)
                return s_usage_error (ctx, "%s needs a value", arg);
            int rc = s_take_value (ctx, option, argv [++i]);
            if (rc != CTL_EXIT_OK)
                return rc;
            continue;
        }
        ctx->args [ctx->arg_count++] = argv [i];
    }
    if (help)
        return -1;
    if (ctx->arg_count < ctx->command->min_args)
        return s_usage_error (ctx, "takes %s", ctx->command->usage);
    if (ctx->arg_count > ctx->command->max_args)
        return s_usage_error (ctx, "unexpected argument \"%s\"",
                              ctx->args [ctx->command->max_args]);
    for (size_t i = 0; i < ctx->arg_count; i++)
        if (!*ctx->args [i])
            return s_usage_error (ctx, "an empty argument");
    if (ctx->wait && ctx->no_wait)
        return s_usage_error (ctx, "--wait and --no-wait exclude each other");
    if (ctx->strict_deadline && !(ctx->seen & S_OPT_DEADLINE))
        return s_usage_error (ctx, "--strict-deadline needs a --deadline");
    //  run waits by default (on a terminal); status only with --wait.
    if ((ctx->seen & S_OPT_INTERVAL)
    &&  (ctx->no_wait || (!ctx->wait && strcmp (ctx->command->name, "run") != 0)))
        return s_usage_error (ctx, "--interval paces the progress of --wait");
    if (ctx->path && strcmp (ctx->args [0], "-") == 0)
        return s_usage_error (ctx, "--path sends a path for the orchestrator to read: not \"-\"");
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  Requests

//  Prints why an ERROR reply (or a reply with a non-OK status) failed.
static void
s_print_error_reply (s_ctx_t *ctx, const ff_msg_t *reply)
{
    Farfan__ErrorReply *error = farfan__error_reply__unpack (NULL, ff_msg_body_size (reply),
                                                             ff_msg_body_data (reply));
    fprintf (stderr, "%s: %s answered %s %s: %s", ctx->prefix, ctx->endpoint,
             ff_msg_type_name (ff_msg_type (reply)), ff_msg_code_name (ff_msg_status_code (reply)),
             ff_msg_status_message (reply));
    if (error && error->retry_after_ms)
        fprintf (stderr, " (retry after %u ms)", error->retry_after_ms);
    fprintf (stderr, "\n");
    if (error)
        farfan__error_reply__free_unpacked (error, NULL);
}

//  Checks a reply is `expected` and decodes it. Returns CTL_EXIT_OK with
//  *body_p (free with protobuf_c_message_free_unpacked), or the exit code
//  after saying what came instead.
static int
s_decode (s_ctx_t *ctx, const ff_msg_t *reply, uint32_t expected,
          const ProtobufCMessageDescriptor *descriptor, ProtobufCMessage **body_p)
{
    uint32_t type = ff_msg_type (reply);
    if (type == FARFAN__MESSAGE_TYPE__ERROR || ff_msg_status_code (reply) != 0) {
        s_print_error_reply (ctx, reply);
        return CTL_EXIT_ERROR_REPLY;
    }
    if (type != expected) {
        fprintf (stderr, "%s: %s answered %s, not %s: is it an orchestrator?\n", ctx->prefix,
                 ctx->endpoint, ff_msg_type_name (type), ff_msg_type_name (expected));
        return CTL_EXIT_ERROR_REPLY;
    }
    *body_p = protobuf_c_message_unpack (descriptor, NULL, ff_msg_body_size (reply),
                                         ff_msg_body_data (reply));
    if (!*body_p) {
        fprintf (stderr, "%s: %s answered a %s that does not decode\n", ctx->prefix,
                 ctx->endpoint, ff_msg_type_name (type));
        return CTL_EXIT_ERROR_REPLY;
    }
    return CTL_EXIT_OK;
}

//  One request, `attempts` tries of --timeout. Returns CTL_EXIT_OK with
//  the decoded reply in *body_p, otherwise the exit code, having said why.
static int
s_call (s_ctx_t *ctx, uint32_t type, const ProtobufCMessage *body, int attempts,
        uint32_t expected, const ProtobufCMessageDescriptor *descriptor,
        ProtobufCMessage **body_p)
{
    char err [512] = "";
    ff_msg_t *reply = NULL;
    int rc = ff_client_request (ctx->client, type, body, ctx->timeout_ms, attempts, &reply,
                                err, sizeof err);
    if (rc == -1) {
        size_t size = body ? protobuf_c_message_get_packed_size (body) : 0;
        fprintf (stderr, "%s: %s\n", ctx->prefix, err);
        if (type == FARFAN__MESSAGE_TYPE__SUBMIT) {
            if (size > S_DEFAULT_MAX_MSG_SIZE)
                fprintf (stderr, "%s: the request was %zu bytes: an orchestrator drops messages "
                         "over its max_msg_size (%u by default); send the document with --path\n",
                         ctx->prefix, size, S_DEFAULT_MAX_MSG_SIZE);
            fprintf (stderr, "%s: SUBMIT is sent once: if it arrived the run exists (see "
                     "farfanctl runs)\n", ctx->prefix);
        }
        return CTL_EXIT_UNREACHABLE;
    }
    if (rc == -2) {
        fprintf (stderr, "%s: %s\n", ctx->prefix, err);
        return CTL_EXIT_ERROR_REPLY;
    }
    int code = s_decode (ctx, reply, expected, descriptor, body_p);
    ff_msg_destroy (&reply);
    return code;
}

//  Prints a message as one JSON line.
static void
s_print_json (const ProtobufCMessage *message)
{
    json_t *json = ctl_output_json (message);
    ctl_output_json_line (stdout, json);
    json_decref (json);
}

//  ---------------------------------------------------------------------
//  Formatting helpers (human output)

//  Seconds, readable: "850us", "12.3ms", "3.2s", "2m05s", "1h02m".
//  Returns buffer.
static const char *
s_seconds (double seconds, char *buffer, size_t size)
{
    if (!(seconds >= 0) || !isfinite (seconds))
        seconds = 0;
    if (seconds < 1e-3)
        snprintf (buffer, size, "%.0fus", seconds * 1e6);
    else
    if (seconds < 1)
        snprintf (buffer, size, "%.1fms", seconds * 1e3);
    else
    if (seconds < 60)
        snprintf (buffer, size, "%.1fs", seconds);
    else
    if (seconds < 3600) {
        unsigned whole = (unsigned) seconds;
        snprintf (buffer, size, "%um%02us", whole / 60, whole % 60);
    }
    else {
        unsigned minutes = (unsigned) (seconds / 60);
        snprintf (buffer, size, "%uh%02um", minutes / 60, minutes % 60);
    }
    return buffer;
}

//  A wall-clock time (µs since the epoch) as local "YYYY-MM-DD HH:MM:SS";
//  "-" for 0. Returns buffer.
static const char *
s_local_time (uint64_t wall_us, char *buffer, size_t size)
{
    if (wall_us == 0) {
        snprintf (buffer, size, "-");
        return buffer;
    }
    time_t seconds = (time_t) (wall_us / 1000000);
    struct tm local;
    if (!localtime_r (&seconds, &local) || !strftime (buffer, size, "%Y-%m-%d %H:%M:%S", &local))
        snprintf (buffer, size, "%" PRIu64, wall_us);
    return buffer;
}

//  Time between two wall-clock stamps; to now when end is 0. "-" when
//  start is 0. Returns buffer.
static const char *
s_span (uint64_t start_us, uint64_t end_us, char *buffer, size_t size)
{
    if (start_us == 0) {
        snprintf (buffer, size, "-");
        return buffer;
    }
    if (end_us == 0)
        end_us = ff_clock_wall_us ();
    return s_seconds (end_us > start_us ? (double) (end_us - start_us) / 1e6 : 0, buffer, size);
}

static const char *
s_plural (uint64_t count)
{
    return count == 1 ? "" : "s";
}

static const char *
s_run_state_name (int state)
{
    switch (state) {
        case FARFAN__RUN_STATE__RUN_QUEUED: return "queued";
        case FARFAN__RUN_STATE__RUN_RUNNING: return "running";
        case FARFAN__RUN_STATE__RUN_SUCCEEDED: return "succeeded";
        case FARFAN__RUN_STATE__RUN_FAILED: return "failed";
        case FARFAN__RUN_STATE__RUN_CANCELLED: return "cancelled";
    }
    return "unknown";
}

static const char *
s_phase_state_name (int state)
{
    switch (state) {
        case FARFAN__PHASE_STATE__PHASE_PENDING: return "pending";
        case FARFAN__PHASE_STATE__PHASE_ALIGNING: return "aligning";
        case FARFAN__PHASE_STATE__PHASE_RUNNING: return "running";
        case FARFAN__PHASE_STATE__PHASE_SUCCEEDED: return "succeeded";
        case FARFAN__PHASE_STATE__PHASE_FAILED: return "failed";
        case FARFAN__PHASE_STATE__PHASE_SKIPPED: return "skipped";
        case FARFAN__PHASE_STATE__PHASE_CANCELLED: return "cancelled";
    }
    return "unknown";
}

static const char *
s_result_status_name (int status)
{
    switch (status) {
        case FARFAN__RESULT_STATUS__RESULT_OK: return "ok";
        case FARFAN__RESULT_STATUS__RESULT_FAILED: return "failed";
        case FARFAN__RESULT_STATUS__RESULT_TIMEOUT: return "timeout";
        case FARFAN__RESULT_STATUS__RESULT_SKIPPED: return "skipped";
    }
    return "unknown";
}

//  Contracts done and in all of a status: the sums of its phases when it
//  has them (the figures each bar shows), else the run's own fields.
static void
s_run_counts (const Farfan__RunStatus *status, uint32_t *done, uint32_t *total)
{
    *done = status->done;
    *total = status->total;
    if (status->n_phases == 0)
        return;
    *done = *total = 0;
    for (size_t i = 0; i < status->n_phases; i++) {
        *done += status->phases [i]->done;
        *total += status->phases [i]->total;
    }
}

static bool
s_run_final (int state)
{
    return state == FARFAN__RUN_STATE__RUN_SUCCEEDED || state == FARFAN__RUN_STATE__RUN_FAILED
        || state == FARFAN__RUN_STATE__RUN_CANCELLED;
}

static bool
s_phase_ended (int state)
{
    return state == FARFAN__PHASE_STATE__PHASE_SUCCEEDED
        || state == FARFAN__PHASE_STATE__PHASE_FAILED
        || state == FARFAN__PHASE_STATE__PHASE_SKIPPED
        || state == FARFAN__PHASE_STATE__PHASE_CANCELLED;
}

//  items joined with ", " ("" for none). Caller frees.
static char *
s_join (char *const *items, size_t count)
{
    size_t length = 1;
    for (size_t i = 0; i < count; i++)
        length += strlen (items [i]) + 2;
    char *text = (char *) malloc (length);
    assert (text);
    *text = '\0';
    for (size_t i = 0; i < count; i++) {
        if (i)
            strcat (text, ", ");
        strcat (text, items [i]);
    }
    return text;
}

//  Seconds left in a running phase: the pace measured so far once any of
//  its contracts is done (the plans' estimates can be far off, as for
//  contracts never measured), before that the orchestrator's estimate;
//  < 0 when unknown.
static double
s_phase_eta (const Farfan__RunStatus *status, const Farfan__PhaseStatus *phase)
{
    if (phase->state != FARFAN__PHASE_STATE__PHASE_RUNNING || phase->done >= phase->total)
        return -1;
    uint64_t now = ff_clock_wall_us ();
    if (phase->done > 0 && phase->started_at_us && now > phase->started_at_us) {
        double elapsed = (double) (now - phase->started_at_us) / 1e6;
        return elapsed / phase->done * (phase->total - phase->done);
    }
    if (status->eta_s > 0 && strcmp (phase->phase, status->current_phase) == 0)
        return status->eta_s;
    return -1;
}

//  ---------------------------------------------------------------------
//  The summary of a run (status, and the end of a watch)

static void
s_print_phases (const Farfan__RunStatus *status, int indent)
{
    ctl_table_t *table = ctl_table_new ("PHASE|STATE|>DONE/TOTAL|>FAILED|>CACHED|>DURATION"
                                        "|>ESTIMATED|FACTORIES");
    for (size_t i = 0; i < status->n_phases; i++) {
        const Farfan__PhaseStatus *phase = status->phases [i];
        char span [32], estimate [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%s", phase->phase);
        ctl_table_cell (table, "%s", s_phase_state_name (phase->state));
        ctl_table_cell (table, "%u/%u", phase->done, phase->total);
        ctl_table_cell (table, "%u", phase->failed);
        ctl_table_cell (table, "%u", phase->from_cache);
        if (phase->state == FARFAN__PHASE_STATE__PHASE_SKIPPED)
            ctl_table_cell (table, "-");
        else
            ctl_table_cell (table, "%s", s_span (phase->started_at_us,
                                                 s_phase_ended (phase->state) && !phase->ended_at_us
                                                 ? phase->started_at_us : phase->ended_at_us,
                                                 span, sizeof span));
        ctl_table_cell (table, "%s", phase->estimated_s > 0
                                     ? s_seconds (phase->estimated_s, estimate, sizeof estimate)
                                     : "-");
        char *factories = s_join (phase->factories, phase->n_factories);
        ctl_table_cell (table, "%s", *factories ? factories : "-");
        free (factories);
    }
    ctl_table_print (table, stdout, indent);
    ctl_table_destroy (&table);
}

//  Warnings, conflicts and failures, each under a heading when any.
static void
s_print_notes (const Farfan__RunStatus *status)
{
    if (status->n_warnings) {
        printf ("warnings (%zu):\n", status->n_warnings);
        for (size_t i = 0; i < status->n_warnings; i++)
            printf ("  - %s\n", status->warnings [i]);
    }
    if (status->n_conflicts) {
        printf ("conflicts (%zu):\n", status->n_conflicts);
        ctl_table_t *table = ctl_table_new ("FACTORY|PHASE|KIND|RESOLVED|DETAIL");
        for (size_t i = 0; i < status->n_conflicts; i++) {
            const Farfan__RunConflict *conflict = status->conflicts [i];
            ctl_table_row (table);
            ctl_table_cell (table, "%s", conflict->factory);
            ctl_table_cell (table, "%s", conflict->phase);
            ctl_table_cell (table, "%s", conflict->kind);
            ctl_table_cell (table, "%s", conflict->resolved ? "yes" : "no");
            ctl_table_cell (table, "%s", conflict->detail);
        }
        ctl_table_print (table, stdout, 2);
        ctl_table_destroy (&table);
    }
    if (status->n_failures) {
        printf ("failures (%zu):\n", status->n_failures);
        size_t shown = status->n_failures < S_FAILURES_SHOWN ? status->n_failures
                                                             : S_FAILURES_SHOWN;
        for (size_t i = 0; i < shown; i++)
            printf ("  - %s\n", status->failures [i]);
        if (shown < status->n_failures)
            printf ("  ... and %zu more (farfanctl status %s --json lists them all)\n",
                    status->n_failures - shown, status->run_id);
    }
}

static void
s_print_status (const Farfan__RunStatus *status)
{
    char buffer [64];
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_row (table);
    ctl_table_cell (table, "run");
    ctl_table_cell (table, "%s (%s)", status->run_id, status->name);
    ctl_table_row (table);
    ctl_table_cell (table, "state");
    if (status->state == FARFAN__RUN_STATE__RUN_RUNNING && *status->current_phase)
        ctl_table_cell (table, "running, phase %s%s%s", status->current_phase,
                        status->eta_s > 0 ? ", eta " : "",
                        status->eta_s > 0 ? s_seconds (status->eta_s, buffer, sizeof buffer) : "");
    else
        ctl_table_cell (table, "%s", s_run_state_name (status->state));
    if (*status->error) {
        ctl_table_row (table);
        ctl_table_cell (table, "error");
        ctl_table_cell (table, "%s", status->error);
    }
    uint32_t done, total;
    s_run_counts (status, &done, &total);
    ctl_table_row (table);
    ctl_table_cell (table, "contracts");
    ctl_table_cell (table, "%u/%u done", done, total);
    ctl_table_row (table);
    ctl_table_cell (table, "submitted");
    ctl_table_cell (table, "%s", s_local_time (status->submitted_at_us, buffer, sizeof buffer));
    ctl_table_row (table);
    ctl_table_cell (table, s_run_final (status->state) ? "took" : "running for");
    ctl_table_cell (table, "%s", s_span (status->submitted_at_us, status->ended_at_us,
                                         buffer, sizeof buffer));
    ctl_table_row (table);
    ctl_table_cell (table, "document");
    ctl_table_cell (table, "%s", *status->document_digest ? status->document_digest : "-");
    ctl_table_row (table);
    ctl_table_cell (table, "contract set");
    ctl_table_cell (table, "%s", *status->contract_set_digest ? status->contract_set_digest : "-");
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    printf ("\n");
    s_print_phases (status, 0);
    s_print_notes (status);
}

//  ---------------------------------------------------------------------
//  Watching a run: the live display

typedef struct {
    int state;                  // Farfan__PhaseState last printed
    uint32_t done;
    uint32_t failed;
    uint64_t printed_us;        // monotonic, when last printed
} s_phase_seen_t;

typedef struct {
    s_ctx_t *ctx;
    const char *run_id;
    bool tty;                   // a live block on a terminal
    bool utf8;                  // the locale can show the bar's blocks
    int block_lines;            // lines of the live block on screen now
    size_t warnings_shown;      // notes already printed
    size_t conflicts_shown;
    int run_state_shown;        // off a terminal: the run state last printed
    s_phase_seen_t seen [10];   // off a terminal, by phase number
    Farfan__RunStatus *status;  // the latest (owned)
} s_display_t;

static int
s_terminal_width (void)
{
    struct winsize size;
    if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

//  Prints line cut to width characters (UTF-8 aware) and a newline: a
//  line that wraps would throw the cursor movement off.
static void
s_print_cut (const char *line, int width)
{
    int characters = 0;
    const char *end = line;
    while (*end && characters < width) {
        end++;
        while ((*end & 0xC0) == 0x80)
            end++;
        characters++;
    }
    printf ("%.*s\n", (int) (end - line), line);
}

//  The bar of a phase, `cells` wide, into buffer. Returns buffer.
static const char *
s_bar (const s_display_t *display, const Farfan__PhaseStatus *phase, int cells,
       char *buffer, size_t size)
{
    double fraction = phase->total ? (double) phase->done / phase->total
                    : phase->state == FARFAN__PHASE_STATE__PHASE_SUCCEEDED ? 1 : 0;
    if (fraction > 1)
        fraction = 1;
    int full = (int) (fraction * cells);
    size_t used = 0;
    for (int i = 0; i < cells && used + 4 < size; i++) {
        const char *cell = display->utf8 ? (i < full ? "█" : "░") : (i < full ? "#" : ".");
        size_t length = strlen (cell);
        memcpy (buffer + used, cell, length);
        used += length;
    }
    buffer [used] = '\0';
    return buffer;
}

//  "180/300 ok 175 failed 5 eta 3.2s" and the like, after the bar.
static void
s_phase_counts (const Farfan__RunStatus *status, const Farfan__PhaseStatus *phase,
                char *buffer, size_t size)
{
    char time [32];
    int state = phase->state;
    if (state == FARFAN__PHASE_STATE__PHASE_PENDING || state == FARFAN__PHASE_STATE__PHASE_SKIPPED) {
        snprintf (buffer, size, "%s", s_phase_state_name (state));
        return;
    }
    int used = snprintf (buffer, size, "%u/%u ok %u failed %u", phase->done, phase->total,
                         phase->done - (phase->failed < phase->done ? phase->failed : phase->done),
                         phase->failed);
    if (used < 0 || (size_t) used >= size)
        return;
    if (state == FARFAN__PHASE_STATE__PHASE_ALIGNING)
        snprintf (buffer + used, size - (size_t) used, " aligning");
    else
    if (state == FARFAN__PHASE_STATE__PHASE_RUNNING) {
        double eta = s_phase_eta (status, phase);
        if (eta >= 0)
            snprintf (buffer + used, size - (size_t) used, " eta %s",
                      s_seconds (eta, time, sizeof time));
    }
    else
        snprintf (buffer + used, size - (size_t) used, ", %s in %s", s_phase_state_name (state),
                  s_span (phase->started_at_us, phase->ended_at_us ? phase->ended_at_us
                                                                    : phase->started_at_us,
                          time, sizeof time));
}

//  The number (0..9) of a phase name, or -1.
static int
s_phase_number (const char *phase)
{
    return s_phase_valid (phase) ? phase [2] - '0' : -1;
}

//  New warnings and conflicts, as lines.
static void
s_display_notes (s_display_t *display, const Farfan__RunStatus *status)
{
    for (size_t i = display->warnings_shown; i < status->n_warnings; i++)
        printf ("warning: %s\n", status->warnings [i]);
    if (status->n_warnings > display->warnings_shown)
        display->warnings_shown = status->n_warnings;
    for (size_t i = display->conflicts_shown; i < status->n_conflicts; i++) {
        const Farfan__RunConflict *conflict = status->conflicts [i];
        printf ("conflict: %s %s %s%s: %s\n", conflict->factory, conflict->phase, conflict->kind,
                conflict->resolved ? " (resolved)" : "", conflict->detail);
    }
    if (status->n_conflicts > display->conflicts_shown)
        display->conflicts_shown = status->n_conflicts;
}

//  On a terminal: redraws the block (a header and a bar per phase) in
//  place, new notes above it.
static void
s_display_tty (s_display_t *display, const Farfan__RunStatus *status)
{
    int width = s_terminal_width () - 1;
    if (display->block_lines)
        printf ("\r\033[%dA\033[J", display->block_lines);
    s_display_notes (display, status);
    char line [512], time [32];
    uint32_t done, total;
    s_run_counts (status, &done, &total);
    if (status->state == FARFAN__RUN_STATE__RUN_RUNNING && *status->current_phase)
        snprintf (line, sizeof line, "%s (%s): running %s, %u/%u contracts, %s", status->run_id,
                  status->name, status->current_phase, done, total,
                  s_span (status->submitted_at_us, 0, time, sizeof time));
    else
        snprintf (line, sizeof line, "%s (%s): %s, %u/%u contracts, %s", status->run_id,
                  status->name, s_run_state_name (status->state), done, total,
                  s_span (status->submitted_at_us, status->ended_at_us, time, sizeof time));
    s_print_cut (line, width);
    int cells = width - 48 < 10 ? 10 : width - 48 > 30 ? 30 : width - 48;
    for (size_t i = 0; i < status->n_phases; i++) {
        char bar [160], counts [160];
        s_phase_counts (status, status->phases [i], counts, sizeof counts);
        snprintf (line, sizeof line, "%s %s %s", status->phases [i]->phase,
                  s_bar (display, status->phases [i], cells, bar, sizeof bar), counts);
        s_print_cut (line, width);
    }
    display->block_lines = 1 + (int) status->n_phases;
    fflush (stdout);
}

//  Off a terminal: a line per phase that changed (counts at most once per
//  --interval), the run's state when it changed, new notes.
static void
s_display_lines (s_display_t *display, const Farfan__RunStatus *status)
{
    s_display_notes (display, status);
    //  The run's state: before its phases, or after them when it ended.
    bool final = s_run_final (status->state);
    if (!final && display->run_state_shown != (int) status->state) {
        printf ("%s %s\n", status->run_id, s_run_state_name (status->state));
        display->run_state_shown = status->state;
    }
    uint64_t now = ff_clock_mono_us ();
    uint64_t interval_us = (uint64_t) display->ctx->interval_ms * 1000;
    for (size_t i = 0; i < status->n_phases; i++) {
        const Farfan__PhaseStatus *phase = status->phases [i];
        int number = s_phase_number (phase->phase);
        if (number < 0)
            continue;
        s_phase_seen_t *seen = &display->seen [number];
        bool state_changed = seen->state != (int) phase->state;
        bool counts_changed = seen->done != phase->done || seen->failed != phase->failed;
        if (!state_changed && !(counts_changed && now - seen->printed_us >= interval_us))
            continue;
        //  A phase still pending is not news.
        if (state_changed && seen->state == 0 && phase->state == FARFAN__PHASE_STATE__PHASE_PENDING) {
            seen->state = phase->state;
            continue;
        }
        char counts [160];
        s_phase_counts (status, phase, counts, sizeof counts);
        if (phase->state == FARFAN__PHASE_STATE__PHASE_RUNNING)
            printf ("%s running %s\n", phase->phase, counts);
        else
            printf ("%s %s\n", phase->phase, counts);
        seen->state = phase->state;
        seen->done = phase->done;
        seen->failed = phase->failed;
        seen->printed_us = now;
    }
    if (final && display->run_state_shown != (int) status->state) {
        printf ("%s %s%s%s\n", status->run_id, s_run_state_name (status->state),
                *status->error ? ": " : "", status->error);
        display->run_state_shown = status->state;
    }
    fflush (stdout);
}

//  Takes a status: keeps it as the latest and shows it.
static void
s_display_update (s_display_t *display, Farfan__RunStatus *status)
{
    if (display->status)
        farfan__run_status__free_unpacked (display->status, NULL);
    display->status = status;
    if (display->ctx->json)
        return;
    if (display->tty)
        s_display_tty (display, status);
    else
        s_display_lines (display, status);
}

//  ---------------------------------------------------------------------
//  Watching a run: the stream

static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_interrupt (int signal_number)
{
    (void) signal_number;
    s_interrupted = 1;
}

typedef struct {
    s_ctx_t *ctx;
    const char *run_id;
    zsock_t *sock;              // DEALER: WATCH and the silence checks
    zsock_t *monitor;           // PAIR: the DEALER's connect/disconnect events
    char sender [48];
    char watch_id [96];         // correlation id of the current WATCH
    char probe_id [96];         // of the STATUS check in flight, "" = none
    unsigned watches;
    unsigned probes;
    bool disconnected;          // the connection dropped since the last WATCH
} s_stream_t;

static int
s_stream_send (s_stream_t *stream, uint32_t type, const char *correlation_id)
{
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = (char *) stream->run_id;
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id,
                               .sender_id = stream->sender };
    return ff_msg_send (stream->sock, NULL, false, &header, &ref.base);
}

static int
s_stream_watch (s_stream_t *stream)
{
    snprintf (stream->watch_id, sizeof stream->watch_id, "%s-watch-%u", stream->sender,
              ++stream->watches);
    *stream->probe_id = '\0';
    stream->disconnected = false;
    return s_stream_send (stream, FARFAN__MESSAGE_TYPE__WATCH, stream->watch_id);
}

//  Reads one monitor event: true when the DEALER connected again after a
//  disconnection (WATCH must be sent again: the old one died with it).
static bool
s_stream_reconnected (s_stream_t *stream)
{
    zmsg_t *event = zmsg_recv (stream->monitor);
    zframe_t *frame = event ? zmsg_first (event) : NULL;
    bool reconnected = false;
    if (frame && zframe_size (frame) >= 2) {
        uint16_t number;
        memcpy (&number, zframe_data (frame), sizeof number);
        if (number == ZMQ_EVENT_DISCONNECTED)
            stream->disconnected = true;
        else
        if (number == ZMQ_EVENT_CONNECTED && stream->disconnected)
            reconnected = true;
    }
    zmsg_destroy (&event);
    return reconnected;
}

//  Decodes a RunStatus reply of `type`; NULL after saying why (*code_p).
static Farfan__RunStatus *
s_stream_status (s_ctx_t *ctx, const ff_msg_t *reply, uint32_t type, int *code_p)
{
    ProtobufCMessage *body = NULL;
    *code_p = s_decode (ctx, reply, type, &farfan__run_status__descriptor, &body);
    return (Farfan__RunStatus *) body;
}

//  Watches run_id to its end on its own DEALER, showing progress. Returns
//  CTL_EXIT_OK with the final status in display->status, or the exit code
//  having said why.
static int
s_watch (s_ctx_t *ctx, const char *run_id, s_display_t *display)
{
    s_stream_t stream = { .ctx = ctx, .run_id = run_id };
    snprintf (stream.sender, sizeof stream.sender, "farfanctl-%d", (int) getpid ());
    int code = CTL_EXIT_OK;
    ff_msg_t *reply = ff_msg_new ();
    struct sigaction previous, action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_interrupt;
    sigemptyset (&action.sa_mask);
    //  No SA_RESTART: the poll returns EINTR and the watch ends cleanly.
    sigaction (SIGINT, &action, &previous);

    stream.sock = zsock_new (ZMQ_DEALER);
    assert (stream.sock);
    zsock_set_linger (stream.sock, 0);
    char monitor_endpoint [64];
    snprintf (monitor_endpoint, sizeof monitor_endpoint, "inproc://farfanctl-watch-%p",
              (void *) &stream);
    int rc = zmq_socket_monitor (zsock_resolve (stream.sock), monitor_endpoint,
                                 ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED);
    assert (rc == 0);
    stream.monitor = zsock_new (ZMQ_PAIR);
    assert (stream.monitor);
    rc = zsock_connect (stream.monitor, "%s", monitor_endpoint);
    assert (rc == 0);
    const char *endpoint = *ctx->endpoint == '>' ? ctx->endpoint + 1 : ctx->endpoint;
    char reason [512];
    if (ff_curve_attach (ff_curve_client_default (), stream.sock, endpoint, false,
                         reason, sizeof reason) != 0) {
        fprintf (stderr, "%s: %s\n", ctx->prefix, reason);
        code = CTL_EXIT_USAGE;
        goto cleanup;
    }
    if (s_stream_watch (&stream) != 0) {
        fprintf (stderr, "%s: cannot send WATCH to %s: %s\n", ctx->prefix, ctx->endpoint,
                 strerror (errno));
        code = CTL_EXIT_UNREACHABLE;
        goto cleanup;
    }
    uint64_t heard_us = ff_clock_mono_us ();
    bool heard_any = false;     //  any reply yet
    while (true) {
        uint64_t now = ff_clock_mono_us ();
        uint64_t silence_us = now - heard_us;
        uint64_t limit_us = (uint64_t) ctx->timeout_ms * 1000;
        if (silence_us >= limit_us) {
            if (*stream.probe_id && !heard_any) {
                fprintf (stderr, "%s: no reply from %s to WATCH nor to STATUS (%d ms each)\n",
                         ctx->prefix, ctx->endpoint, ctx->timeout_ms);
                code = CTL_EXIT_UNREACHABLE;
                break;
            }
            if (*stream.probe_id) {
                fprintf (stderr, "%s: %s stopped answering: nothing for %d ms, then no answer to "
                         "a check within %d ms. The run goes on if the orchestrator comes back: "
                         "farfanctl status %s --wait watches it again\n", ctx->prefix,
                         ctx->endpoint, ctx->timeout_ms, ctx->timeout_ms, run_id);
                code = CTL_EXIT_UNREACHABLE;
                break;
            }
            //  Silence: is the orchestrator still there, and the run?
            snprintf (stream.probe_id, sizeof stream.probe_id, "%s-check-%u", stream.sender,
                      ++stream.probes);
            s_stream_send (&stream, FARFAN__MESSAGE_TYPE__STATUS, stream.probe_id);
            heard_us = now;
            continue;
        }
        zmq_pollitem_t items [] = {
            { zsock_resolve (stream.sock), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (stream.monitor), 0, ZMQ_POLLIN, 0 },
        };
        int ready = zmq_poll (items, 2, (long) ((limit_us - silence_us) / 1000) + 1);
        if (ready < 0 || s_interrupted) {
            if (display->block_lines)
                printf ("\n");
            fflush (stdout);
            fprintf (stderr, "%s: interrupted; run %s goes on (farfanctl status %s --wait "
                     "watches it again, farfanctl cancel %s stops it)\n", ctx->prefix, run_id,
                     run_id, run_id);
            code = S_EXIT_INTERRUPTED;
            break;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            if (s_stream_reconnected (&stream) && s_stream_watch (&stream) != 0) {
                fprintf (stderr, "%s: cannot send WATCH to %s again: %s\n", ctx->prefix,
                         ctx->endpoint, strerror (errno));
                code = CTL_EXIT_UNREACHABLE;
                break;
            }
            continue;
        }
        if (!(items [0].revents & ZMQ_POLLIN))
            continue;
        rc = ff_msg_recv (reply, stream.sock);
        if (rc == -1)
            continue;
        if (rc == -2) {
            fprintf (stderr, "%s: %s answered with an invalid message: %s\n", ctx->prefix,
                     ctx->endpoint, ff_msg_error (reply));
            code = CTL_EXIT_ERROR_REPLY;
            break;
        }
        const char *id = ff_msg_correlation_id (reply);
        bool probe = *stream.probe_id && strcmp (id, stream.probe_id) == 0;
        if (!probe && strcmp (id, stream.watch_id) != 0)
            continue;           //  an earlier WATCH's or check's late reply
        heard_us = ff_clock_mono_us ();
        heard_any = true;
        Farfan__RunStatus *status = s_stream_status (
            ctx, reply, probe ? FARFAN__MESSAGE_TYPE__RUN_STATUS : FARFAN__MESSAGE_TYPE__PROGRESS,
            &code);
        if (!status)
            break;
        //  Any answer shows the orchestrator is there: a check still out
        //  is moot (its late answer is ignored).
        *stream.probe_id = '\0';
        bool final = s_run_final (status->state);
        //  --json: every PROGRESS; a check's answer only when it ends it.
        if (ctx->json && (!probe || final))
            s_print_json (&status->base);
        s_display_update (display, status);
        if (final)
            break;
    }

cleanup:
    sigaction (SIGINT, &previous, NULL);
    ff_msg_destroy (&reply);
    zsock_destroy (&stream.sock);
    zsock_destroy (&stream.monitor);
    return code;
}

//  After a watch that ended: the summary and the exit code by the state.
static int
s_watch_end (s_ctx_t *ctx, s_display_t *display)
{
    const Farfan__RunStatus *status = display->status;
    if (!ctx->json) {
        printf ("\n");
        s_print_phases (status, 0);
        s_print_notes (status);
        char took [32];
        uint32_t done, total;
        s_run_counts (status, &done, &total);
        printf ("%s %s: %u/%u contracts, %s\n", status->run_id, s_run_state_name (status->state),
                done, total, s_span (status->submitted_at_us, status->ended_at_us, took,
                                     sizeof took));
        fflush (stdout);
    }
    if (status->state == FARFAN__RUN_STATE__RUN_SUCCEEDED)
        return CTL_EXIT_OK;
    if (status->state == FARFAN__RUN_STATE__RUN_FAILED)
        fprintf (stderr, "%s: run %s failed: %s\n", ctx->prefix, status->run_id,
                 *status->error ? status->error : "(no reason given)");
    else
        fprintf (stderr, "%s: run %s was cancelled%s%s\n", ctx->prefix, status->run_id,
                 *status->error ? ": " : "", status->error);
    return CTL_EXIT_ERROR_REPLY;
}

//  Watches run_id and ends with the summary. Returns the exit code.
static int
s_watch_run (s_ctx_t *ctx, const char *run_id)
{
    s_display_t display = { .ctx = ctx, .run_id = run_id, .tty = isatty (STDOUT_FILENO) == 1 };
    if (display.tty) {
        setlocale (LC_CTYPE, "");
        display.utf8 = strcmp (nl_langinfo (CODESET), "UTF-8") == 0;
    }
    int code = s_watch (ctx, run_id, &display);
    if (code == CTL_EXIT_OK)
        code = s_watch_end (ctx, &display);
    if (display.status)
        farfan__run_status__free_unpacked (display.status, NULL);
    return code;
}

//  ---------------------------------------------------------------------
//  run

//  Reads a whole file ("-": stdin). Returns its bytes (caller frees) or
//  NULL after saying why.
static uint8_t *
s_read_document (s_ctx_t *ctx, const char *path, size_t *size)
{
    bool stdin_ = strcmp (path, "-") == 0;
    FILE *file = stdin_ ? stdin : fopen (path, "rb");
    struct stat info;
    uint8_t *data = NULL;
    if (!file || fstat (fileno (file), &info) != 0) {
        fprintf (stderr, "%s: %s: %s\n", ctx->prefix, path, strerror (errno));
        goto done;
    }
    if (S_ISDIR (info.st_mode)) {
        fprintf (stderr, "%s: %s is a directory\n", ctx->prefix, path);
        goto done;
    }
    size_t capacity = S_ISREG (info.st_mode) ? (size_t) info.st_size + 1 : 65536;
    data = (uint8_t *) malloc (capacity);
    assert (data);
    *size = 0;
    //  Until end of file: on a terminal, fread would read on after ^D.
    while (!feof (file) && !ferror (file)) {
        *size += fread (data + *size, 1, capacity - *size, file);
        if (*size == capacity) {
            capacity *= 2;
            data = (uint8_t *) realloc (data, capacity);
            assert (data);
        }
    }
    if (ferror (file)) {
        fprintf (stderr, "%s: %s: %s\n", ctx->prefix, path, strerror (errno));
        free (data);
        data = NULL;
    }
done:
    if (file && !stdin_)
        fclose (file);
    return data;
}

static int
s_run_run (s_ctx_t *ctx)
{
    const char *file = ctx->args [0];
    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    uint8_t *data = NULL;
    char *absolute = NULL;
    char *contracts = NULL;
    ProtobufCMessage *body = NULL;
    int code = CTL_EXIT_OK;
    if (ctx->path) {
        //  The orchestrator's working directory is not ours.
        if (*file != '/') {
            char cwd [PATH_MAX];
            if (!getcwd (cwd, sizeof cwd)) {
                fprintf (stderr, "%s: --path %s is relative and the working directory cannot be "
                         "read: %s\n", ctx->prefix, file, strerror (errno));
                return CTL_EXIT_USAGE;
            }
            absolute = zsys_sprintf ("%s/%s", cwd, file);
        }
        submit.document_path = absolute ? absolute : (char *) file;
    }
    else {
        size_t size = 0;
        data = s_read_document (ctx, file, &size);
        if (!data)
            return CTL_EXIT_USAGE;
        if (size == 0) {
            fprintf (stderr, "%s: %s is empty\n", ctx->prefix, file);
            code = CTL_EXIT_USAGE;
            goto cleanup;
        }
        bool pdf = size >= 5 && memcmp (data, "%PDF-", 5) == 0;
        size_t bad = pdf ? 0 : ff_utf8_check (data, size, false);
        if (bad) {
            fprintf (stderr, "%s: %s is neither a PDF nor UTF-8 text: invalid UTF-8 at byte "
                     "offset %zu (convert it first, e.g. iconv -f latin1 -t utf-8)\n",
                     ctx->prefix, file, bad - 1);
            code = CTL_EXIT_USAGE;
            goto cleanup;
        }
        submit.document.data = data;
        submit.document.len = size;
        submit.media_type = pdf ? "application/pdf" : "text/plain";
    }
    //  The default name is the file's, as the orchestrator does for paths.
    const char *slash = strrchr (file, '/');
    submit.name = (char *) (ctx->name ? ctx->name
                          : strcmp (file, "-") == 0 ? "stdin" : slash ? slash + 1 : file);
    submit.first_phase = ctx->first_phase;
    submit.last_phase = ctx->last_phase;
    submit.deadline_s = ctx->deadline_s;
    submit.strict_deadline = ctx->strict_deadline;
    submit.worker_budget = ctx->budget;
    submit.params_json = (char *) (ctx->params ? ctx->params : "");
    //  The orchestrator resolves the set: a relative directory of ours is
    //  made absolute, anything else goes as it is (a name, or a path).
    struct stat info;
    if (ctx->contracts && *ctx->contracts != '/' && stat (ctx->contracts, &info) == 0
    &&  S_ISDIR (info.st_mode)) {
        char cwd [PATH_MAX];
        if (!getcwd (cwd, sizeof cwd)) {
            fprintf (stderr, "%s: --contracts %s is a relative directory and the working "
                     "directory cannot be read: %s\n", ctx->prefix, ctx->contracts, strerror (errno));
            code = CTL_EXIT_USAGE;
            goto cleanup;
        }
        contracts = zsys_sprintf ("%s/%s", cwd, ctx->contracts);
    }
    submit.contract_set = contracts ? contracts : (char *) (ctx->contracts ? ctx->contracts : "");
    code = s_call (ctx, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base, 1,
                   FARFAN__MESSAGE_TYPE__SUBMITTED, &farfan__submitted__descriptor, &body);
    if (code != CTL_EXIT_OK)
        goto cleanup;
    Farfan__Submitted *submitted = (Farfan__Submitted *) body;
    if (!*submitted->run_id) {
        fprintf (stderr, "%s: %s answered SUBMITTED without a run id\n", ctx->prefix,
                 ctx->endpoint);
        code = CTL_EXIT_ERROR_REPLY;
        goto cleanup;
    }
    if (ctx->json)
        s_print_json (body);
    bool wait = ctx->wait || (!ctx->no_wait && isatty (STDOUT_FILENO) == 1);
    if (!wait) {
        if (!ctx->json)
            printf ("%s\n", submitted->run_id);
        goto cleanup;
    }
    //  Free what the watch does not need: the document can be large.
    free (data);
    data = NULL;
    code = s_watch_run (ctx, submitted->run_id);

cleanup:
    if (body)
        protobuf_c_message_free_unpacked (body, NULL);
    free (absolute);
    free (contracts);
    free (data);
    return code;
}

//  ---------------------------------------------------------------------
//  status

static int
s_run_status (s_ctx_t *ctx)
{
    if (ctx->wait)
        return s_watch_run (ctx, ctx->args [0]);
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = ctx->args [0];
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__STATUS, &ref.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__RUN_STATUS, &farfan__run_status__descriptor, &body);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_status ((Farfan__RunStatus *) body);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  results

//  "fuentes 3/2, años 2/2": evidence found / needed per element type.
//  Caller frees.
static char *
s_evidence_text (const Farfan__ContractResult *result)
{
    char **items = (char **) calloc (result->n_evidence + 1, sizeof (char *));
    assert (items);
    for (size_t i = 0; i < result->n_evidence; i++) {
        const Farfan__Evidence *evidence = result->evidence [i];
        uint32_t needed = evidence->minimum;
        if (evidence->required && needed < 1)
            needed = 1;
        items [i] = needed ? zsys_sprintf ("%s %u/%u", evidence->element_type, evidence->count, needed)
                           : zsys_sprintf ("%s %u", evidence->element_type, evidence->count);
    }
    char *text = s_join (items, result->n_evidence);
    for (size_t i = 0; i < result->n_evidence; i++)
        zstr_free (&items [i]);
    free (items);
    return text;
}

static void
s_print_results (const Farfan__RunResults *results)
{
    if (results->n_results == 0) {
        printf ("no results\n");
        return;
    }
    ctl_table_t *table = ctl_table_new ("CONTRACT|STATUS|>SCORE|QUALITY|EVIDENCE (FOUND/NEEDED)"
                                        "|>DURATION|CACHE|ERROR");
    uint32_t counts [5] = { 0 }, cached = 0;
    for (size_t i = 0; i < results->n_results; i++) {
        const Farfan__ContractResult *result = results->results [i];
        char duration [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%s", result->contract_id);
        ctl_table_cell (table, "%s", s_result_status_name (result->status));
        if (result->status == FARFAN__RESULT_STATUS__RESULT_OK)
            ctl_table_cell (table, "%.2f", result->score);
        else
            ctl_table_cell (table, "-");
        ctl_table_cell (table, "%s", *result->quality ? result->quality : "-");
        char *evidence = s_evidence_text (result);
        ctl_table_cell (table, "%s", *evidence ? evidence : "-");
        free (evidence);
        ctl_table_cell (table, "%s", s_seconds ((double) result->duration_us / 1e6, duration,
                                                sizeof duration));
        ctl_table_cell (table, "%s", result->from_cache ? "yes" : "no");
        ctl_table_cell (table, "%s", result->error);
        if ((unsigned) result->status < 5)
            counts [result->status]++;
        cached += result->from_cache;
    }
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    printf ("%zu result%s: %u ok, %u failed, %u timed out, %u skipped; %u from cache\n",
            results->n_results, s_plural (results->n_results),
            counts [FARFAN__RESULT_STATUS__RESULT_OK], counts [FARFAN__RESULT_STATUS__RESULT_FAILED],
            counts [FARFAN__RESULT_STATUS__RESULT_TIMEOUT],
            counts [FARFAN__RESULT_STATUS__RESULT_SKIPPED], cached);
}

static int
s_run_results (s_ctx_t *ctx)
{
    Farfan__ResultsRequest request = FARFAN__RESULTS_REQUEST__INIT;
    request.run_id = ctx->args [0];
    request.phase = (char *) (ctx->phase ? ctx->phase : "");
    request.contract_id = (char *) (ctx->contract ? ctx->contract : "");
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__RESULTS, &request.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__RUN_RESULTS, &farfan__run_results__descriptor, &body);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_results ((Farfan__RunResults *) body);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  report

static int
s_run_report (s_ctx_t *ctx)
{
    Farfan__ReportRequest request = FARFAN__REPORT_REQUEST__INIT;
    request.run_id = ctx->args [0];
    request.format = (char *) (ctx->format ? ctx->format : "json");
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__REPORT, &request.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__RUN_REPORT, &farfan__run_report__descriptor, &body);
    if (code != CTL_EXIT_OK)
        return code;
    const Farfan__RunReport *report = (Farfan__RunReport *) body;
    if (ctx->out)
        code = ctl_output_write_file (ctx->prefix, ctx->out, report->content.data, report->content.len)
             ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    if (code == CTL_EXIT_OK && ctx->json) {
        json_t *json = ctl_output_json (body);
        if (ctx->out) {
            //  The content is in the file: say where instead.
            json_object_del (json, "content");
            json_object_set_new (json, "out", ctl_output_string (ctx->out));
            json_object_set_new (json, "size", json_integer ((json_int_t) report->content.len));
        }
        else {
            //  Every format is text: the content as a string, not base64.
            char *text = (char *) malloc (report->content.len + 1);
            assert (text);
            if (report->content.len)
                memcpy (text, report->content.data, report->content.len);
            text [report->content.len] = '\0';
            json_object_set_new (json, "content", ctl_output_string (text));
            free (text);
        }
        ctl_output_json_line (stdout, json);
        json_decref (json);
    }
    else
    if (code == CTL_EXIT_OK && ctx->out)
        printf ("wrote the %s report of %s to %s (%zu bytes, %s)\n", report->format,
                report->run_id, ctx->out, report->content.len, report->media_type);
    else
    if (code == CTL_EXIT_OK) {
        bool ends_line = report->content.len && report->content.data [report->content.len - 1] == '\n';
        if (fwrite (report->content.data, 1, report->content.len, stdout) != report->content.len
        ||  (!ends_line && isatty (STDOUT_FILENO) == 1 && putchar ('\n') == EOF)
        ||  fflush (stdout) != 0) {
            fprintf (stderr, "%s: cannot write the report: %s\n", ctx->prefix, strerror (errno));
            code = CTL_EXIT_USAGE;
        }
    }
    protobuf_c_message_free_unpacked (body, NULL);
    return code;
}

//  ---------------------------------------------------------------------
//  cancel

static int
s_run_cancel (s_ctx_t *ctx)
{
    Farfan__RunRef ref = FARFAN__RUN_REF__INIT;
    ref.run_id = ctx->args [0];
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__CANCEL, &ref.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__CANCELLED, &farfan__run_status__descriptor, &body);
    if (code != CTL_EXIT_OK)
        return code;
    const Farfan__RunStatus *status = (Farfan__RunStatus *) body;
    bool cancelled = status->state == FARFAN__RUN_STATE__RUN_CANCELLED;
    if (ctx->json)
        s_print_json (body);
    else
    if (cancelled) {
        uint32_t done, total;
        s_run_counts (status, &done, &total);
        printf ("%s cancelled: %u/%u contracts done\n", status->run_id, done, total);
    }
    if (!cancelled) {
        fprintf (stderr, "%s: run %s had already ended (%s): nothing to cancel\n", ctx->prefix,
                 status->run_id, s_run_state_name (status->state));
        code = CTL_EXIT_ERROR_REPLY;
    }
    protobuf_c_message_free_unpacked (body, NULL);
    return code;
}

//  ---------------------------------------------------------------------
//  runs

static void
s_print_runs (const Farfan__RunList *list)
{
    if (list->n_runs == 0) {
        printf ("no runs\n");
        return;
    }
    ctl_table_t *table = ctl_table_new ("RUN|NAME|STATE|PHASE|>DONE/TOTAL|SUBMITTED|>DURATION|ERROR");
    for (size_t i = 0; i < list->n_runs; i++) {
        const Farfan__RunStatus *run = list->runs [i];
        char submitted [32], took [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%s", run->run_id);
        ctl_table_cell (table, "%s", run->name);
        ctl_table_cell (table, "%s", s_run_state_name (run->state));
        ctl_table_cell (table, "%s", *run->current_phase ? run->current_phase : "-");
        ctl_table_cell (table, "%u/%u", run->done, run->total);
        ctl_table_cell (table, "%s", s_local_time (run->submitted_at_us, submitted,
                                                   sizeof submitted));
        ctl_table_cell (table, "%s", s_span (run->submitted_at_us, run->ended_at_us, took,
                                             sizeof took));
        ctl_table_cell (table, "%s", run->error);
    }
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
}

static int
s_run_runs (s_ctx_t *ctx)
{
    Farfan__ListRequest request = FARFAN__LIST_REQUEST__INIT;
    request.limit = ctx->limit;
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__LIST, &request.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__RUN_LIST, &farfan__run_list__descriptor, &body);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_runs ((Farfan__RunList *) body);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  factories

static void
s_print_factories (const Farfan__FactoryList *list)
{
    if (list->n_factories == 0) {
        printf ("no factory registered\n");
        return;
    }
    ctl_table_t *table = ctl_table_new ("FACTORY|HEALTH|CONTRACT SET|>CONTRACTS|>WORKERS"
                                        "|>IN FLIGHT/CAP|>EXECUTED|>FAILED|>P50|REGISTERED"
                                        "|>LAST HEARD");
    uint64_t now = ff_clock_wall_us ();
    for (size_t i = 0; i < list->n_factories; i++) {
        const Farfan__FactoryInfo *info = list->factories [i];
        const Farfan__Capabilities *caps = info->capabilities;
        const Farfan__FactoryMetrics *metrics = info->metrics;
        char registered [32], heard [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%s", info->instance_id);
        ctl_table_cell (table, "%s", caps && *caps->health ? caps->health : "-");
        //  "sha256:" and 12 hex digits tell sets apart; --json has it whole.
        if (caps && *caps->contract_set_digest)
            ctl_table_cell (table, "%.19s", caps->contract_set_digest);
        else
            ctl_table_cell (table, "-");
        if (caps)
            ctl_table_cell (table, "%u/%u", caps->active_contracts, caps->total_contracts);
        else
            ctl_table_cell (table, "-");
        if (caps)
            ctl_table_cell (table, "%u", caps->max_workers);
        else
            ctl_table_cell (table, "-");
        ctl_table_cell (table, "%u/%u", info->in_flight, info->in_flight_cap);
        if (metrics) {
            ctl_table_cell (table, "%" PRIu64, metrics->executed);
            ctl_table_cell (table, "%" PRIu64, metrics->failed + metrics->timed_out);
            ctl_table_cell (table, "%.1f ms", metrics->latency_p50_ms);
        }
        else {
            ctl_table_cell (table, "-");
            ctl_table_cell (table, "-");
            ctl_table_cell (table, "-");
        }
        ctl_table_cell (table, "%s", s_local_time (info->registered_at_us, registered,
                                                   sizeof registered));
        if (info->last_heard_us)
            ctl_table_cell (table, "%s ago", s_seconds (now > info->last_heard_us
                                                        ? (double) (now - info->last_heard_us) / 1e6
                                                        : 0, heard, sizeof heard));
        else
            ctl_table_cell (table, "-");
    }
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    for (size_t i = 0; i < list->n_factories; i++) {
        const Farfan__Capabilities *caps = list->factories [i]->capabilities;
        if (!caps || !caps->n_health_reasons)
            continue;
        char *reasons = s_join (caps->health_reasons, caps->n_health_reasons);
        printf ("%s is %s: %s\n", list->factories [i]->instance_id, caps->health, reasons);
        free (reasons);
    }
}

static int
s_run_factories (s_ctx_t *ctx)
{
    Farfan__FactoriesRequest request = FARFAN__FACTORIES_REQUEST__INIT;
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__FACTORIES, &request.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__FACTORY_LIST, &farfan__factory_list__descriptor,
                       &body);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_factories ((Farfan__FactoryList *) body);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------

//  Runs the command `name` (one of s_commands; argv[0] is its name).
static int
s_main (const char *name, int argc, char **argv)
{
    const s_command_t *command = NULL;
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        if (strcmp (s_commands [i].name, name) == 0)
            command = &s_commands [i];
    assert (command);
    s_ctx_t ctx = { .command = command, .timeout_ms = S_DEFAULT_TIMEOUT_MS,
                    .interval_ms = S_DEFAULT_INTERVAL_MS };
    snprintf (ctx.prefix, sizeof ctx.prefix, "farfanctl %s", command->name);
    int code = s_parse (&ctx, argc, argv);
    if (code == -1) {
        s_help (command, stdout);
        code = CTL_EXIT_OK;
        goto cleanup;
    }
    if (code != CTL_EXIT_OK)
        goto cleanup;
    if (!ctx.endpoint)
        ctx.endpoint = ctl_default_endpoint ("orchestrator");
    char err [512] = "";
    ctx.client = ff_client_new (ctx.endpoint, NULL, err, sizeof err);
    if (!ctx.client) {
        fprintf (stderr, "%s: --endpoint %s: %s\n", ctx.prefix, ctx.endpoint, err);
        code = CTL_EXIT_USAGE;
        goto cleanup;
    }
    code = command->run (&ctx);

cleanup:
    ff_client_destroy (&ctx.client);
    free (ctx.args);
    return code;
}

int
ctl_run (int argc, char **argv)
{
    return s_main ("run", argc, argv);
}

int
ctl_status (int argc, char **argv)
{
    return s_main ("status", argc, argv);
}

int
ctl_results (int argc, char **argv)
{
    return s_main ("results", argc, argv);
}

int
ctl_report (int argc, char **argv)
{
    return s_main ("report", argc, argv);
}

int
ctl_cancel (int argc, char **argv)
{
    return s_main ("cancel", argc, argv);
}

int
ctl_runs (int argc, char **argv)
{
    return s_main ("runs", argc, argv);
}

int
ctl_factories (int argc, char **argv)
{
    return s_main ("factories", argc, argv);
}
