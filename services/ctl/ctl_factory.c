/*  farfanctl factory [--endpoint E] [--timeout MS] [--json] SUBCOMMAND ...

    The factory's direct API (proto/factory.proto) from the command line:
    introspection (capabilities, metrics), cache tuning, snapshots, plans,
    alignment (sync), contract shipping, and execution of contracts over a
    document with the results streamed as they finish.

    Requests that only read (capabilities, metrics, plan, snapshot, sync,
    optimize-caches without --apply) and those that are harmless to repeat
    (put-contracts replaces by id, restore reloads the same estimates,
    PUT_DOCUMENT is content-addressed) use Lazy Pirate with three attempts
    of --timeout each; optimize-caches --apply is sent once, as applying
    twice could grow a cache twice.

    EXECUTE answers with a stream (RESULT per contract, then BATCH_DONE) on
    its own DEALER. --timeout is the longest silence tolerated between two
    replies; after it, farfanctl asks the factory for its CAPABILITIES on
    the same socket: no answer within --timeout means the factory is gone
    (exit 3); an answer with contracts still in flight means the batch is
    still running (long contracts: keep waiting); an answer with nothing in
    flight while BATCH_DONE never came means replies were dropped (exit 1).
    Replies on one connection arrive in order, so a BATCH_DONE sent before
    that answer would have arrived before it.

    Human output is aligned tables; --json prints the replies themselves
    (ctl_output.h), one JSON object per line.
*/
#include "ctl_command.h"
#include "ctl_output.h"
#include "ctl_table.h"
#include "factory.pb-c.h"
#include "ff_client.h"
#include "ff_clock.h"
#include "ff_utf8.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  Attempts of a request that may be repeated (Lazy Pirate).
#define S_ATTEMPTS 3
//  Default wait per attempt, and silence tolerated in a stream, ms.
#define S_DEFAULT_TIMEOUT_MS 1000
//  Receive queue of the EXECUTE stream, messages: one batch's results at
//  most under the factory's default max_pending, so a burst of cached
//  results is not dropped while this side prints.
#define S_STREAM_RCVHWM 100000
//  Requests above this size are dropped by a factory with the default
//  max_msg_size: said when such a request goes unanswered.
#define S_DEFAULT_MAX_MSG_SIZE (16u * 1024 * 1024)

//  ---------------------------------------------------------------------
//  Options and subcommands

enum {
    S_OPT_IDS = 1 << 0,
    S_OPT_ALL = 1 << 1,
    S_OPT_PHASE = 1 << 2,
    S_OPT_MAX_PARALLEL = 1 << 3,
    S_OPT_BUDGET = 1 << 4,
    S_OPT_DIGEST = 1 << 5,
    S_OPT_APPLY = 1 << 6,
    S_OPT_OUT = 1 << 7,
    S_OPT_INPUT = 1 << 8,
    S_OPT_PARAMS = 1 << 9,
    S_OPT_NO_CACHE = 1 << 10,
    //  Common to every subcommand.
    S_OPT_ENDPOINT = 1 << 11,
    S_OPT_TIMEOUT = 1 << 12,
    S_OPT_JSON = 1 << 13,
    S_OPT_PLAN_ID = 1 << 14,
};
#define S_OPT_COMMON (S_OPT_ENDPOINT | S_OPT_TIMEOUT | S_OPT_JSON)

typedef struct {
    const char *name;           // on the command line
    unsigned flag;              // S_OPT_*
    bool takes_value;
} s_option_t;

static const s_option_t s_options [] = {
    { "--endpoint", S_OPT_ENDPOINT, true },
    { "--timeout", S_OPT_TIMEOUT, true },
    { "--json", S_OPT_JSON, false },
    { "--ids", S_OPT_IDS, true },
    { "--all", S_OPT_ALL, false },
    { "--phase", S_OPT_PHASE, true },
    { "--max-parallel", S_OPT_MAX_PARALLEL, true },
    { "--budget", S_OPT_BUDGET, true },
    { "--digest", S_OPT_DIGEST, true },
    { "--apply", S_OPT_APPLY, false },
    { "--out", S_OPT_OUT, true },
    { "--input", S_OPT_INPUT, true },
    { "--params", S_OPT_PARAMS, true },
    { "--no-cache", S_OPT_NO_CACHE, false },
    { "--plan-id", S_OPT_PLAN_ID, true },
};

typedef struct s_ctx s_ctx_t;

typedef struct {
    const char *name;
    unsigned options;           // S_OPT_* it accepts beyond the common ones
    size_t min_args;            // positional arguments
    size_t max_args;
    const char *usage;          // arguments and options, one line
    const char *help;           // what it does and prints, indented lines
    int (*run) (s_ctx_t *ctx);
} s_subcommand_t;

//  Everything parsed from the command line, plus the client.
struct s_ctx {
    const s_subcommand_t *sub;
    char prefix [64];           // "farfanctl factory plan", for messages
    const char *endpoint;
    int timeout_ms;
    bool json;
    unsigned seen;              // S_OPT_* given
    const char *seen_name [16]; // the spelling of each, by bit
    char **ids;                 // --ids, split and owned
    size_t id_count;
    bool all;
    const char *phase;
    uint32_t max_parallel;
    const char *budget;         // parsed per subcommand
    const char *digest;
    bool apply;
    const char *out;
    const char *input;
    const char *params;
    const char *plan_id;        // --plan-id: the PLAN this batch follows
    bool no_cache;
    char **args;                // positional, borrowed from argv
    size_t arg_count;
    ff_client_t *client;
};

static int s_run_capabilities (s_ctx_t *ctx);
static int s_run_metrics (s_ctx_t *ctx);
static int s_run_optimize (s_ctx_t *ctx);
static int s_run_snapshot (s_ctx_t *ctx);
static int s_run_restore (s_ctx_t *ctx);
static int s_run_plan (s_ctx_t *ctx);
static int s_run_sync (s_ctx_t *ctx);
static int s_run_put_contracts (s_ctx_t *ctx);
static int s_run_execute (s_ctx_t *ctx);

static const s_subcommand_t s_subcommands [] = {
    { "capabilities", 0, 0, 0, "",
      "      identity, version, health and why, the contract set (digest, totals, per phase),\n"
      "      methods, workers, queue, batching, and every invalid contract with its error\n",
      s_run_capabilities },
    { "metrics", 0, 0, 0, "",
      "      contracts executed / failed / timed out / skipped / from cache, inline vs pool,\n"
      "      latency p50/p95/p99, queue, workers, utilization, plan accuracy, and each cache\n",
      s_run_metrics },
    { "optimize-caches", S_OPT_APPLY, 0, 0, "[--apply]",
      "      the factory's cache recommendations (grow, shrink, extend_ttl, preload);\n"
      "      --apply acts on them (sent once, never retried)\n",
      s_run_optimize },
    { "snapshot", S_OPT_OUT, 0, 0, "[--out FILE]",
      "      metrics, capabilities, hot contracts and the duration model in one reply;\n"
      "      --out FILE writes the Snapshot protobuf there, for `restore FILE`\n",
      s_run_snapshot },
    { "restore", 0, 1, 1, "FILE",
      "      sends a snapshot written by `snapshot --out`: reloads the duration model\n"
      "      and prewarms the hot contracts\n",
      s_run_restore },
    { "plan", S_OPT_IDS | S_OPT_ALL | S_OPT_PHASE | S_OPT_MAX_PARALLEL | S_OPT_BUDGET, 0, 0,
      "(--ids ID,... | --all [--phase P02]) [--max-parallel N] [--budget SECONDS]",
      "      how the factory would run these contracts: strategy, parallelism, batches\n"
      "      (longest first) and per-contract estimates with their source\n",
      s_run_plan },
    { "sync", S_OPT_PHASE | S_OPT_IDS | S_OPT_DIGEST | S_OPT_BUDGET, 0, 0,
      "--phase P02 [--ids ID[@DIGEST],...] [--digest SETDIGEST] [--budget N]",
      "      alignment check for a phase: conflicts (missing, stale, unsupported...) and\n"
      "      adjustments (in-flight cap, batch size, prewarm); ID@DIGEST expects that\n"
      "      definition, --budget is the contracts the caller wants in flight here.\n"
      "      Exit 1 when the factory reports a blocking conflict\n",
      s_run_sync },
    { "put-contracts", 0, 1, SIZE_MAX, "FILE|DIR...",
      "      ships contract files (a contract or a set, JSON; DIR: its *.json files) with\n"
      "      PUT_CONTRACTS; prints accepted, rejected and every error. Exit 1 when any\n"
      "      definition was rejected\n",
      s_run_put_contracts },
    { "execute", S_OPT_INPUT | S_OPT_IDS | S_OPT_ALL | S_OPT_PHASE | S_OPT_PARAMS
                 | S_OPT_NO_CACHE | S_OPT_MAX_PARALLEL | S_OPT_PLAN_ID, 0, 0,
      "--input FILE (--ids ID,... | --all [--phase P02])\n"
      "          [--params JSON] [--no-cache] [--max-parallel N] [--plan-id ID]",
      "      sends the document (UTF-8 text; omit --input only when no contract reads one)\n"
      "      and runs the contracts; a line per result as it arrives, then a table and the\n"
      "      batch summary. --json: one object per result (status ok, failed, timeout or\n"
      "      skipped), then the BatchDone object. Exit 4 when any contract failed or\n"
      "      timed out\n",
      s_run_execute },
};
#define S_SUBCOMMAND_COUNT (sizeof s_subcommands / sizeof s_subcommands [0])

static void
s_help (FILE *out)
{
    fprintf (out,
        "Usage: farfanctl factory [--endpoint E] [--timeout MS] [--json] SUBCOMMAND [OPTIONS]\n\n"
        "Options of every subcommand (before or after it):\n"
        "  --endpoint E   the factory's direct API (default: $FARFAN_CTL_FACTORY,\n"
        "                 else tcp://127.0.0.1:5560)\n"
        "  --timeout MS   wait per request attempt (3 attempts for repeatable requests);\n"
        "                 execute: silence tolerated between two replies before checking\n"
        "                 the factory is still there (default %d)\n"
        "  --json         the replies as JSON, one object per line\n\n"
        "Subcommands:\n", S_DEFAULT_TIMEOUT_MS);
    for (size_t i = 0; i < S_SUBCOMMAND_COUNT; i++)
        fprintf (out, "  %s%s%s\n%s", s_subcommands [i].name, *s_subcommands [i].usage ? " " : "",
                 s_subcommands [i].usage, s_subcommands [i].help);
    fprintf (out, "\nExit codes: 0 ok, 1 error reply (or rejected / not aligned), 2 usage error,\n"
                  "3 no answer, 4 execute ran but some contracts failed or timed out.\n");
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
    fprintf (stderr, " (see farfanctl factory --help)\n");
    va_end (args);
    return CTL_EXIT_USAGE;
}

//  A positive integer ≤ max, or -1.
static long long
s_positive (const char *text, long long max)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (!*text || *end || errno || value <= 0 || value > max)
        return -1;
    return value;
}

static bool
s_phase_valid (const char *phase)
{
    return strlen (phase) == 3 && phase [0] == 'P' && phase [1] == '0'
        && phase [2] >= '0' && phase [2] <= '9';
}

//  Splits a comma-separated --ids value into ctx->ids.
static int
s_add_ids (s_ctx_t *ctx, const char *option, const char *value)
{
    const char *start = value;
    while (true) {
        size_t length = strcspn (start, ",");
        if (length == 0)
            return s_usage_error (ctx, "%s: empty id in \"%s\"", option, value);
        ctx->ids = (char **) realloc (ctx->ids, (ctx->id_count + 1) * sizeof (char *));
        assert (ctx->ids);
        ctx->ids [ctx->id_count++] = strndup (start, length);
        if (!start [length])
            break;
        start += length + 1;
    }
    return CTL_EXIT_OK;
}

static int
s_take_value (s_ctx_t *ctx, const s_option_t *option, const char *value)
{
    long long number;
    switch (option->flag) {
        case S_OPT_ENDPOINT:
            ctx->endpoint = value;
            break;
        case S_OPT_TIMEOUT:
            if ((number = s_positive (value, INT_MAX)) < 0)
                return s_usage_error (ctx, "--timeout takes milliseconds > 0, not \"%s\"", value);
            ctx->timeout_ms = (int) number;
            break;
        case S_OPT_IDS:
            return s_add_ids (ctx, option->name, value);
        case S_OPT_PHASE:
            if (!s_phase_valid (value))
                return s_usage_error (ctx, "--phase takes P00..P09, not \"%s\"", value);
            ctx->phase = value;
            break;
        case S_OPT_MAX_PARALLEL:
            if ((number = s_positive (value, UINT32_MAX)) < 0)
                return s_usage_error (ctx, "--max-parallel takes a count > 0, not \"%s\"", value);
            ctx->max_parallel = (uint32_t) number;
            break;
        case S_OPT_BUDGET:
            ctx->budget = value;
            break;
        case S_OPT_DIGEST:
            if (!*value)
                return s_usage_error (ctx, "--digest takes a contract set digest, not \"\"");
            ctx->digest = value;
            break;
        case S_OPT_OUT:
            ctx->out = value;
            break;
        case S_OPT_INPUT:
            ctx->input = value;
            break;
        case S_OPT_PLAN_ID:
            ctx->plan_id = value;
            break;
        case S_OPT_PARAMS:
            ctx->params = value;
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
    if (flag == S_OPT_ALL)
        ctx->all = true;
    else
    if (flag == S_OPT_APPLY)
        ctx->apply = true;
    else
    if (flag == S_OPT_NO_CACHE)
        ctx->no_cache = true;
}

static const s_subcommand_t *
s_subcommand (const char *name)
{
    for (size_t i = 0; i < S_SUBCOMMAND_COUNT; i++)
        if (strcmp (s_subcommands [i].name, name) == 0)
            return &s_subcommands [i];
    return NULL;
}

//  Fills ctx from argv. Returns CTL_EXIT_OK, CTL_EXIT_USAGE (said why), or
//  -1 when help was asked for.
static int
s_parse (s_ctx_t *ctx, int argc, char **argv)
{
    ctx->args = (char **) calloc ((size_t) argc, sizeof (char *));
    assert (ctx->args);
    bool help = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            help = true;
            continue;
        }
        if (*arg == '-') {
            const s_option_t *option = NULL;
            for (size_t o = 0; o < sizeof s_options / sizeof s_options [0]; o++)
                if (strcmp (s_options [o].name, arg) == 0)
                    option = &s_options [o];
            if (!option)
                return s_usage_error (ctx, "unknown option \"%s\"", arg);
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
        if (!ctx->sub) {
            ctx->sub = s_subcommand (arg);
            if (!ctx->sub)
                return s_usage_error (ctx, "unknown subcommand \"%s\"", arg);
            snprintf (ctx->prefix, sizeof ctx->prefix, "farfanctl factory %s", ctx->sub->name);
            continue;
        }
        ctx->args [ctx->arg_count++] = argv [i];
    }
    if (help)
        return -1;
    if (!ctx->sub)
        return s_usage_error (ctx, "name a subcommand: capabilities, metrics, optimize-caches, "
                              "snapshot, restore, plan, sync, put-contracts or execute");
    unsigned foreign = ctx->seen & ~(ctx->sub->options | S_OPT_COMMON);
    if (foreign)
        return s_usage_error (ctx, "%s is not an option of %s",
                              ctx->seen_name [__builtin_ctz (foreign)], ctx->sub->name);
    if (ctx->arg_count < ctx->sub->min_args)
        return s_usage_error (ctx, "%s takes %s", ctx->sub->name, ctx->sub->usage);
    if (ctx->arg_count > ctx->sub->max_args)
        return s_usage_error (ctx, "unexpected argument \"%s\"", ctx->args [ctx->sub->max_args]);
    return CTL_EXIT_OK;
}

//  plan and execute: exactly one of --ids and --all; --phase with --all.
static int
s_check_selection (s_ctx_t *ctx)
{
    if (ctx->all && ctx->id_count)
        return s_usage_error (ctx, "--ids and --all exclude each other");
    if (!ctx->all && !ctx->id_count)
        return s_usage_error (ctx, "say which contracts: --ids ID,... or --all");
    if (ctx->phase && !ctx->all)
        return s_usage_error (ctx, "--phase selects with --all (--ids names the contracts)");
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  Requests

//  Checks a reply is `expected` and decodes it. Returns CTL_EXIT_OK with
//  *body_p (free with protobuf_c_message_free_unpacked), or the exit code
//  after saying what came instead.
static int
s_decode (s_ctx_t *ctx, const ff_msg_t *reply, uint32_t expected,
          const ProtobufCMessageDescriptor *descriptor, ProtobufCMessage **body_p)
{
    uint32_t type = ff_msg_type (reply);
    if (type == FARFAN__MESSAGE_TYPE__ERROR || ff_msg_status_code (reply) != 0) {
        Farfan__ErrorReply *error = farfan__error_reply__unpack (NULL, ff_msg_body_size (reply),
                                                                 ff_msg_body_data (reply));
        fprintf (stderr, "%s: %s answered %s %s: %s", ctx->prefix, ctx->endpoint,
                 ff_msg_type_name (type), ff_msg_code_name (ff_msg_status_code (reply)),
                 ff_msg_status_message (reply));
        if (error && error->retry_after_ms)
            fprintf (stderr, " (retry after %u ms)", error->retry_after_ms);
        fprintf (stderr, "\n");
        if (error)
            farfan__error_reply__free_unpacked (error, NULL);
        return CTL_EXIT_ERROR_REPLY;
    }
    if (type != expected) {
        fprintf (stderr, "%s: %s answered %s, not %s: is it a factory?\n", ctx->prefix,
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
//  the decoded reply in *body_p and, when reply_p is given, the raw reply
//  (caller destroys); otherwise the exit code, having said why.
static int
s_call (s_ctx_t *ctx, uint32_t type, const ProtobufCMessage *body, int attempts,
        uint32_t expected, const ProtobufCMessageDescriptor *descriptor,
        ProtobufCMessage **body_p, ff_msg_t **reply_p)
{
    char err [512] = "";
    ff_msg_t *reply = NULL;
    int rc = ff_client_request (ctx->client, type, body, ctx->timeout_ms, attempts, &reply,
                                err, sizeof err);
    if (rc == -1) {
        size_t size = body ? protobuf_c_message_get_packed_size (body) : 0;
        if (size > S_DEFAULT_MAX_MSG_SIZE)
            fprintf (stderr, "%s: %s (the request was %zu bytes: a factory drops messages over "
                     "its max_msg_size, %u by default)\n", ctx->prefix, err, size,
                     S_DEFAULT_MAX_MSG_SIZE);
        else
            fprintf (stderr, "%s: %s\n", ctx->prefix, err);
        return CTL_EXIT_UNREACHABLE;
    }
    if (rc == -2) {
        fprintf (stderr, "%s: %s\n", ctx->prefix, err);
        return CTL_EXIT_ERROR_REPLY;
    }
    int code = s_decode (ctx, reply, expected, descriptor, body_p);
    if (code == CTL_EXIT_OK && reply_p)
        *reply_p = reply;
    else
        ff_msg_destroy (&reply);
    return code;
}

//  Prints a reply as one JSON line.
static void
s_print_json (const ProtobufCMessage *message)
{
    json_t *json = ctl_output_json (message);
    ctl_output_json_line (stdout, json);
    json_decref (json);
}

//  ---------------------------------------------------------------------
//  Formatting helpers (human output)

//  A duration, readable: "850 us", "12.3 ms", "4.56 s", "2.5 min",
//  "1.0 h". Returns buffer.
static const char *
s_duration_us (double us, char *buffer, size_t size)
{
    if (us < 1000)
        snprintf (buffer, size, "%.0f us", us);
    else
    if (us < 1e6)
        snprintf (buffer, size, "%.1f ms", us / 1000);
    else
    if (us < 60e6)
        snprintf (buffer, size, "%.2f s", us / 1e6);
    else
    if (us < 3600e6)
        snprintf (buffer, size, "%.1f min", us / 60e6);
    else
        snprintf (buffer, size, "%.1f h", us / 3600e6);
    return buffer;
}

static const char *
s_plural (uint64_t count)
{
    return count == 1 ? "" : "s";
}

//  items joined with ", " (the empty list gives `empty`). Caller frees.
static char *
s_join (char *const *items, size_t count, const char *empty)
{
    size_t length = 1;
    for (size_t i = 0; i < count; i++)
        length += strlen (items [i]) + 2;
    char *text = (char *) malloc (length + strlen (empty));
    assert (text);
    *text = '\0';
    if (count == 0)
        strcpy (text, empty);
    for (size_t i = 0; i < count; i++) {
        if (i)
            strcat (text, ", ");
        strcat (text, items [i]);
    }
    return text;
}

static const char *
s_yes_no (bool value)
{
    return value ? "yes" : "no";
}

static void
s_cache_table (Farfan__CacheStats *const *caches, size_t count, int indent)
{
    ctl_table_t *table = ctl_table_new ("CACHE|>SIZE/MAX|>HITS|>MISSES|>EFFICIENCY|>EVICTIONS"
                                        "|>EXPIRATIONS|>TTL|>PREFETCHED|>HOT KEYS");
    for (size_t i = 0; i < count; i++) {
        const Farfan__CacheStats *cache = caches [i];
        char ttl [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%s", cache->name);
        ctl_table_cell (table, "%" PRIu64 "/%" PRIu64, cache->size, cache->max_size);
        ctl_table_cell (table, "%" PRIu64, cache->hits);
        ctl_table_cell (table, "%" PRIu64, cache->misses);
        ctl_table_cell (table, "%.1f%%", cache->efficiency_percent);
        ctl_table_cell (table, "%" PRIu64, cache->evictions);
        ctl_table_cell (table, "%" PRIu64, cache->expirations);
        ctl_table_cell (table, "%s", cache->ttl_ms ? s_duration_us ((double) cache->ttl_ms * 1000,
                                                                   ttl, sizeof ttl) : "none");
        ctl_table_cell (table, "%" PRIu64 " (%" PRIu64 " used)", cache->prefetched,
                        cache->prefetch_hits);
        ctl_table_cell (table, "%zu", cache->n_hot_keys);
    }
    ctl_table_print (table, stdout, indent);
    ctl_table_destroy (&table);
    for (size_t i = 0; i < count; i++) {
        if (!caches [i]->n_hot_keys)
            continue;
        char *keys = s_join (caches [i]->hot_keys, caches [i]->n_hot_keys, "");
        printf ("%*shot keys of %s: %s\n", indent, "", caches [i]->name, keys);
        free (keys);
    }
}

static void
s_load_errors_table (Farfan__LoadError *const *errors, size_t count, char *const *paths,
                     size_t path_count, int indent);

//  ---------------------------------------------------------------------
//  capabilities

static void
s_print_capabilities (const Farfan__Capabilities *caps)
{
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_row (table);
    ctl_table_cell (table, "factory");
    ctl_table_cell (table, "%s", caps->factory_id);
    ctl_table_row (table);
    ctl_table_cell (table, "version");
    ctl_table_cell (table, "%s", caps->version);
    ctl_table_row (table);
    ctl_table_cell (table, "health");
    ctl_table_cell (table, "%s", caps->health);
    for (size_t i = 0; i < caps->n_health_reasons; i++) {
        ctl_table_row (table);
        ctl_table_cell (table, "%s", "");
        ctl_table_cell (table, "- %s", caps->health_reasons [i]);
    }
    ctl_table_row (table);
    ctl_table_cell (table, "contract set");
    ctl_table_cell (table, "%s", caps->contract_set_digest);
    ctl_table_row (table);
    ctl_table_cell (table, "contracts");
    ctl_table_cell (table, "%u total, %u active, %u invalid", caps->total_contracts,
                    caps->active_contracts, caps->invalid_contracts);
    char **phases = (char **) calloc (caps->n_per_phase + 1, sizeof (char *));
    assert (phases);
    for (size_t i = 0; i < caps->n_per_phase; i++)
        phases [i] = zsys_sprintf ("%s %u", caps->per_phase [i]->phase, caps->per_phase [i]->contracts);
    char *per_phase = s_join (phases, caps->n_per_phase, "none");
    for (size_t i = 0; i < caps->n_per_phase; i++)
        zstr_free (&phases [i]);
    free (phases);
    ctl_table_row (table);
    ctl_table_cell (table, "per phase");
    ctl_table_cell (table, "%s", per_phase);
    free (per_phase);
    char *methods = s_join (caps->methods, caps->n_methods, "none");
    ctl_table_row (table);
    ctl_table_cell (table, "methods");
    ctl_table_cell (table, "%zu: %s", caps->n_methods, methods);
    free (methods);
    ctl_table_row (table);
    ctl_table_cell (table, "workers");
    ctl_table_cell (table, "%u max, %u idle", caps->max_workers, caps->idle_workers);
    ctl_table_row (table);
    ctl_table_cell (table, "queue");
    ctl_table_cell (table, "%u queued, %u in flight", caps->queue_depth, caps->in_flight);
    ctl_table_row (table);
    ctl_table_cell (table, "parallel");
    ctl_table_cell (table, "%s, batches of %u or more contracts on the pool",
                    caps->parallel_enabled ? "on" : "off", caps->batch_threshold);
    ctl_table_row (table);
    ctl_table_cell (table, "batch size");
    ctl_table_cell (table, "%u contract%s recommended", caps->recommended_batch_size,
                    s_plural (caps->recommended_batch_size));
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    if (caps->invalid_contracts) {
        printf ("\ninvalid contracts (%u):\n", caps->invalid_contracts);
        s_load_errors_table (caps->load_errors, caps->n_load_errors, NULL, 0, 2);
        if (caps->invalid_contracts > caps->n_load_errors)
            printf ("  (%zu more not kept by the factory)\n",
                    (size_t) caps->invalid_contracts - caps->n_load_errors);
    }
}

static int
s_run_capabilities (s_ctx_t *ctx)
{
    Farfan__CapabilitiesRequest request = FARFAN__CAPABILITIES_REQUEST__INIT;
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__CAPABILITIES, &request.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__CAPABILITIES_REPLY,
                       &farfan__capabilities__descriptor, &body, NULL);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_capabilities ((Farfan__Capabilities *) body);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  metrics

static void
s_print_metrics (const Farfan__FactoryMetrics *metrics, int indent)
{
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_row (table);
    ctl_table_cell (table, "executed");
    ctl_table_cell (table, "%" PRIu64 " contracts: %" PRIu64 " failed, %" PRIu64 " timed out, %"
                    PRIu64 " skipped, %" PRIu64 " from cache", metrics->executed, metrics->failed,
                    metrics->timed_out, metrics->skipped, metrics->from_cache);
    ctl_table_row (table);
    ctl_table_cell (table, "ran");
    ctl_table_cell (table, "%" PRIu64 " inline, %" PRIu64 " on the pool",
                    metrics->inline_executions, metrics->parallel_executions);
    ctl_table_row (table);
    ctl_table_cell (table, "latency");
    ctl_table_cell (table, "p50 %.3f ms, p95 %.3f ms, p99 %.3f ms", metrics->latency_p50_ms,
                    metrics->latency_p95_ms, metrics->latency_p99_ms);
    ctl_table_row (table);
    ctl_table_cell (table, "workers");
    ctl_table_cell (table, "%u busy of %u, utilization %.1f%%", metrics->busy_workers,
                    metrics->max_workers, metrics->utilization * 100);
    ctl_table_row (table);
    ctl_table_cell (table, "queue");
    ctl_table_cell (table, "%u queued, %u waiting (io.wait, exec)", metrics->queue_depth,
                    metrics->waiting);
    ctl_table_row (table);
    ctl_table_cell (table, "plan accuracy");
    if (metrics->plans_checked)
        ctl_table_cell (table, "%.1f%% over %" PRIu64 " plan%s", metrics->plan_accuracy_percent,
                        metrics->plans_checked, metrics->plans_checked == 1 ? "" : "s");
    else
        ctl_table_cell (table, "no plan checked yet");
    ctl_table_print (table, stdout, indent);
    ctl_table_destroy (&table);
    printf ("%*scaches:\n", indent, "");
    s_cache_table (metrics->caches, metrics->n_caches, indent + 2);
}

static int
s_run_metrics (s_ctx_t *ctx)
{
    Farfan__MetricsRequest request = FARFAN__METRICS_REQUEST__INIT;
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__METRICS, &request.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__METRICS_REPLY,
                       &farfan__factory_metrics__descriptor, &body, NULL);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_metrics ((Farfan__FactoryMetrics *) body, 0);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  optimize-caches

static void
s_print_optimization (const Farfan__CacheOptimization *reply, bool asked_to_apply)
{
    if (reply->n_recommendations == 0)
        printf ("no recommendations: the cache counters call for no change\n");
    else {
        printf ("recommendations (%zu):\n", reply->n_recommendations);
        ctl_table_t *table = ctl_table_new ("CACHE|ACTION|>CURRENT|>PROPOSED|>KEYS|REASON");
        for (size_t i = 0; i < reply->n_recommendations; i++) {
            const Farfan__CacheRecommendation *item = reply->recommendations [i];
            ctl_table_row (table);
            ctl_table_cell (table, "%s", item->cache);
            ctl_table_cell (table, "%s", item->action);
            ctl_table_cell (table, "%g", item->current);
            ctl_table_cell (table, "%g", item->proposed);
            ctl_table_cell (table, "%zu", item->n_keys);
            ctl_table_cell (table, "%s", item->reason);
        }
        ctl_table_print (table, stdout, 2);
        ctl_table_destroy (&table);
        for (size_t i = 0; i < reply->n_recommendations; i++) {
            const Farfan__CacheRecommendation *item = reply->recommendations [i];
            if (!item->n_keys)
                continue;
            char *keys = s_join (item->keys, item->n_keys, "");
            printf ("  %s %s keys: %s\n", item->action, item->cache, keys);
            free (keys);
        }
    }
    printf ("applied: %s%s\n", s_yes_no (reply->applied),
            asked_to_apply ? "" : " (run with --apply to act on them)");
    printf ("caches%s:\n", reply->applied ? " after applying" : "");
    s_cache_table (reply->caches, reply->n_caches, 2);
}

static int
s_run_optimize (s_ctx_t *ctx)
{
    Farfan__OptimizeCaches request = FARFAN__OPTIMIZE_CACHES__INIT;
    request.apply = ctx->apply;
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES, &request.base,
                       ctx->apply ? 1 : S_ATTEMPTS, FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES_REPLY,
                       &farfan__cache_optimization__descriptor, &body, NULL);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_optimization ((Farfan__CacheOptimization *) body, ctx->apply);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  snapshot / restore

static void
s_print_snapshot (const Farfan__Snapshot *snapshot)
{
    time_t seconds = (time_t) (snapshot->taken_at_us / 1000000);
    struct tm utc;
    char taken [40] = "?";
    if (gmtime_r (&seconds, &utc))
        strftime (taken, sizeof taken, "%Y-%m-%dT%H:%M:%SZ", &utc);
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_row (table);
    ctl_table_cell (table, "snapshot of");
    ctl_table_cell (table, "%s", snapshot->factory_id);
    ctl_table_row (table);
    ctl_table_cell (table, "taken at");
    ctl_table_cell (table, "%s (%" PRIu64 " us)", taken, snapshot->taken_at_us);
    ctl_table_row (table);
    ctl_table_cell (table, "contract set");
    ctl_table_cell (table, "%s", snapshot->contract_set_digest);
    if (snapshot->capabilities) {
        ctl_table_row (table);
        ctl_table_cell (table, "contracts");
        ctl_table_cell (table, "%u total, %u active, %u invalid",
                        snapshot->capabilities->total_contracts,
                        snapshot->capabilities->active_contracts,
                        snapshot->capabilities->invalid_contracts);
        ctl_table_row (table);
        ctl_table_cell (table, "health");
        ctl_table_cell (table, "%s", snapshot->capabilities->health);
    }
    char *hot = s_join (snapshot->hot_contracts, snapshot->n_hot_contracts, "none");
    ctl_table_row (table);
    ctl_table_cell (table, "hot contracts");
    ctl_table_cell (table, "%zu: %s", snapshot->n_hot_contracts, hot);
    free (hot);
    ctl_table_row (table);
    ctl_table_cell (table, "durations");
    ctl_table_cell (table, "%zu estimates", snapshot->n_durations);
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    if (snapshot->n_durations) {
        ctl_table_t *durations = ctl_table_new ("KEY|>EWMA|>SAMPLES");
        for (size_t i = 0; i < snapshot->n_durations; i++) {
            char ewma [32];
            ctl_table_row (durations);
            ctl_table_cell (durations, "%s", snapshot->durations [i]->key);
            ctl_table_cell (durations, "%s", s_duration_us (snapshot->durations [i]->ewma_us,
                                                            ewma, sizeof ewma));
            ctl_table_cell (durations, "%" PRIu64, snapshot->durations [i]->samples);
        }
        ctl_table_print (durations, stdout, 2);
        ctl_table_destroy (&durations);
    }
    if (snapshot->metrics) {
        printf ("metrics:\n");
        s_print_metrics (snapshot->metrics, 2);
    }
}

static int
s_run_snapshot (s_ctx_t *ctx)
{
    Farfan__SnapshotRequest request = FARFAN__SNAPSHOT_REQUEST__INIT;
    ProtobufCMessage *body = NULL;
    ff_msg_t *reply = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__SNAPSHOT, &request.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__SNAPSHOT_REPLY, &farfan__snapshot__descriptor,
                       &body, &reply);
    if (code != CTL_EXIT_OK)
        return code;
    //  The file holds the reply's bytes as sent: `restore` sends them back.
    if (ctx->out)
        code = ctl_output_write_file (ctx->prefix, ctx->out, ff_msg_body_data (reply),
                                      ff_msg_body_size (reply)) ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    if (code == CTL_EXIT_OK) {
        if (ctx->json)
            s_print_json (body);
        else {
            s_print_snapshot ((Farfan__Snapshot *) body);
            if (ctx->out)
                printf ("wrote %zu bytes to %s\n", ff_msg_body_size (reply), ctx->out);
        }
    }
    protobuf_c_message_free_unpacked (body, NULL);
    ff_msg_destroy (&reply);
    return code;
}

//  Reads a whole file. Returns its bytes (caller frees; NUL-terminated
//  beyond size) or NULL after saying why.
static char *
s_read_file (s_ctx_t *ctx, const char *what, const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    struct stat info;
    char *data = NULL;
    if (!file || fstat (fileno (file), &info) != 0) {
        fprintf (stderr, "%s: %s%s: %s\n", ctx->prefix, what, path, strerror (errno));
        goto done;
    }
    if (!S_ISREG (info.st_mode)) {
        fprintf (stderr, "%s: %s%s: not a regular file\n", ctx->prefix, what, path);
        goto done;
    }
    data = (char *) malloc ((size_t) info.st_size + 1);
    assert (data);
    *size = fread (data, 1, (size_t) info.st_size, file);
    if (ferror (file) || *size != (size_t) info.st_size) {
        fprintf (stderr, "%s: %s%s: %s\n", ctx->prefix, what, path,
                 ferror (file) ? strerror (errno) : "changed while read");
        free (data);
        data = NULL;
        goto done;
    }
    data [*size] = '\0';
done:
    if (file)
        fclose (file);
    return data;
}

static int
s_run_restore (s_ctx_t *ctx)
{
    const char *path = ctx->args [0];
    size_t size = 0;
    char *data = s_read_file (ctx, "", path, &size);
    if (!data)
        return CTL_EXIT_USAGE;
    //  An empty input decodes as an empty Snapshot: insist on what every
    //  factory snapshot carries.
    Farfan__Snapshot *snapshot = farfan__snapshot__unpack (NULL, size, (const uint8_t *) data);
    free (data);
    if (!snapshot || !*snapshot->factory_id || !snapshot->taken_at_us) {
        fprintf (stderr, "%s: %s is not a factory snapshot (write one with "
                 "`farfanctl factory snapshot --out FILE`)\n", ctx->prefix, path);
        if (snapshot)
            farfan__snapshot__free_unpacked (snapshot, NULL);
        return CTL_EXIT_USAGE;
    }
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__RESTORE, &snapshot->base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__RESTORE_REPLY, &farfan__restore_reply__descriptor,
                       &body, NULL);
    if (code == CTL_EXIT_OK) {
        Farfan__RestoreReply *reply = (Farfan__RestoreReply *) body;
        if (ctx->json)
            s_print_json (body);
        else {
            printf ("restored %u duration estimate%s of %zu from %s (snapshot of %s); "
                    "prewarming %u contract%s\n", reply->durations_restored,
                    reply->durations_restored == 1 ? "" : "s", snapshot->n_durations, path,
                    snapshot->factory_id, reply->prewarmed, reply->prewarmed == 1 ? "" : "s");
            for (size_t i = 0; i < reply->n_warnings; i++)
                printf ("warning: %s\n", reply->warnings [i]);
        }
        protobuf_c_message_free_unpacked (body, NULL);
    }
    farfan__snapshot__free_unpacked (snapshot, NULL);
    return code;
}

//  ---------------------------------------------------------------------
//  plan

static void
s_print_plan (const Farfan__ExecutionPlan *plan)
{
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_row (table);
    ctl_table_cell (table, "plan");
    ctl_table_cell (table, "%s", plan->plan_id);
    ctl_table_row (table);
    ctl_table_cell (table, "strategy");
    ctl_table_cell (table, "%s", plan->strategy);
    ctl_table_row (table);
    ctl_table_cell (table, "parallelism");
    ctl_table_cell (table, "%u", plan->parallelism);
    ctl_table_row (table);
    ctl_table_cell (table, "estimated");
    char estimated [32];
    ctl_table_cell (table, "%s, confidence %.0f%% (share of measured estimates)",
                    s_duration_us (plan->estimated_duration_s * 1e6, estimated, sizeof estimated),
                    plan->confidence * 100);
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    for (size_t i = 0; i < plan->n_warnings; i++)
        printf ("warning: %s\n", plan->warnings [i]);
    printf ("batches (%zu, longest first):\n", plan->n_batches);
    table = ctl_table_new (">#|>CONTRACTS|>ESTIMATE|IDS");
    for (size_t i = 0; i < plan->n_batches; i++) {
        const Farfan__PlannedBatch *batch = plan->batches [i];
        char *ids = s_join (batch->contract_ids, batch->n_contract_ids, "");
        char estimate [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%zu", i + 1);
        ctl_table_cell (table, "%zu", batch->n_contract_ids);
        ctl_table_cell (table, "%s", s_duration_us (batch->estimated_s * 1e6, estimate,
                                                    sizeof estimate));
        ctl_table_cell (table, "%s", ids);
        free (ids);
    }
    ctl_table_print (table, stdout, 2);
    ctl_table_destroy (&table);
    printf ("estimates (%zu):\n", plan->n_estimates);
    table = ctl_table_new ("CONTRACT|>ESTIMATE|SOURCE");
    for (size_t i = 0; i < plan->n_estimates; i++) {
        char estimate [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%s", plan->estimates [i]->contract_id);
        ctl_table_cell (table, "%s", s_duration_us (plan->estimates [i]->estimated_s * 1e6,
                                                    estimate, sizeof estimate));
        ctl_table_cell (table, "%s", plan->estimates [i]->source);
    }
    ctl_table_print (table, stdout, 2);
    ctl_table_destroy (&table);
}

static int
s_run_plan (s_ctx_t *ctx)
{
    int code = s_check_selection (ctx);
    if (code != CTL_EXIT_OK)
        return code;
    Farfan__PlanRequest request = FARFAN__PLAN_REQUEST__INIT;
    if (ctx->budget) {
        char *end = NULL;
        errno = 0;
        request.time_budget_s = strtod (ctx->budget, &end);
        if (!*ctx->budget || *end || errno || !isfinite (request.time_budget_s)
        ||  request.time_budget_s <= 0)
            return s_usage_error (ctx, "--budget takes seconds > 0, not \"%s\"", ctx->budget);
    }
    request.contract_ids = ctx->ids;
    request.n_contract_ids = ctx->id_count;
    request.all = ctx->all;
    request.phase = (char *) (ctx->phase ? ctx->phase : "");
    request.max_parallel = ctx->max_parallel;
    ProtobufCMessage *body = NULL;
    code = s_call (ctx, FARFAN__MESSAGE_TYPE__PLAN, &request.base, S_ATTEMPTS,
                   FARFAN__MESSAGE_TYPE__PLAN_REPLY, &farfan__execution_plan__descriptor,
                   &body, NULL);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_plan ((Farfan__ExecutionPlan *) body);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  sync

static void
s_print_sync (const Farfan__SyncReply *reply)
{
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_row (table);
    ctl_table_cell (table, "aligned");
    ctl_table_cell (table, "%s", reply->success ? "yes" : "no: blocking conflicts below");
    ctl_table_row (table);
    ctl_table_cell (table, "contract set");
    ctl_table_cell (table, "%s", reply->contract_set_digest);
    ctl_table_row (table);
    ctl_table_cell (table, "in-flight cap");
    ctl_table_cell (table, "%u contract%s", reply->in_flight_cap, s_plural (reply->in_flight_cap));
    ctl_table_row (table);
    ctl_table_cell (table, "batch size");
    ctl_table_cell (table, "%u contract%s", reply->batch_size, s_plural (reply->batch_size));
    ctl_table_row (table);
    ctl_table_cell (table, "prewarmed");
    ctl_table_cell (table, "%u contract%s", reply->prewarmed, s_plural (reply->prewarmed));
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    printf ("conflicts (%zu):\n", reply->n_conflicts);
    table = ctl_table_new ("KIND|DETAIL|IDS");
    for (size_t i = 0; i < reply->n_conflicts; i++) {
        char *ids = s_join (reply->conflicts [i]->ids, reply->conflicts [i]->n_ids, "");
        ctl_table_row (table);
        ctl_table_cell (table, "%s", reply->conflicts [i]->kind);
        ctl_table_cell (table, "%s", reply->conflicts [i]->detail);
        ctl_table_cell (table, "%s", ids);
        free (ids);
    }
    if (reply->n_conflicts)
        ctl_table_print (table, stdout, 2);
    ctl_table_destroy (&table);
    printf ("adjustments (%zu):\n", reply->n_adjustments);
    table = ctl_table_new ("KIND|>VALUE|DETAIL");
    for (size_t i = 0; i < reply->n_adjustments; i++) {
        ctl_table_row (table);
        ctl_table_cell (table, "%s", reply->adjustments [i]->kind);
        ctl_table_cell (table, "%u", reply->adjustments [i]->value);
        ctl_table_cell (table, "%s", reply->adjustments [i]->detail);
    }
    if (reply->n_adjustments)
        ctl_table_print (table, stdout, 2);
    ctl_table_destroy (&table);
}

static int
s_run_sync (s_ctx_t *ctx)
{
    if (!ctx->phase)
        return s_usage_error (ctx, "--phase P00..P09 is required");
    Farfan__SyncRequest request = FARFAN__SYNC_REQUEST__INIT;
    if (ctx->budget) {
        long long budget = s_positive (ctx->budget, UINT32_MAX);
        if (budget < 0)
            return s_usage_error (ctx, "--budget takes a count of contracts > 0, not \"%s\"",
                                  ctx->budget);
        request.worker_budget = (uint32_t) budget;
    }
    char run_id [48];
    snprintf (run_id, sizeof run_id, "farfanctl-%d", (int) getpid ());
    request.run_id = run_id;
    request.phase = (char *) ctx->phase;
    request.contract_set_digest = (char *) (ctx->digest ? ctx->digest : "");
    //  ID@DIGEST: the definition the caller expects.
    Farfan__ContractRef *refs = (Farfan__ContractRef *) calloc (ctx->id_count + 1,
                                                                sizeof (Farfan__ContractRef));
    Farfan__ContractRef **ref_list = (Farfan__ContractRef **) calloc (ctx->id_count + 1,
                                                                     sizeof (Farfan__ContractRef *));
    assert (refs && ref_list);
    int code = CTL_EXIT_OK;
    for (size_t i = 0; i < ctx->id_count; i++) {
        farfan__contract_ref__init (&refs [i]);
        char *at = strchr (ctx->ids [i], '@');
        if (at) {
            *at = '\0';
            if (!*ctx->ids [i] || !at [1]) {
                code = s_usage_error (ctx, "--ids: \"%s@%s\" is not ID@DIGEST", ctx->ids [i], at + 1);
                goto cleanup;
            }
        }
        refs [i].id = ctx->ids [i];
        refs [i].digest = at ? at + 1 : "";
        ref_list [i] = &refs [i];
    }
    request.contracts = ref_list;
    request.n_contracts = ctx->id_count;
    ProtobufCMessage *body = NULL;
    code = s_call (ctx, FARFAN__MESSAGE_TYPE__SYNC, &request.base, S_ATTEMPTS,
                   FARFAN__MESSAGE_TYPE__SYNC_REPLY, &farfan__sync_reply__descriptor, &body, NULL);
    if (code != CTL_EXIT_OK)
        goto cleanup;
    Farfan__SyncReply *reply = (Farfan__SyncReply *) body;
    if (ctx->json)
        s_print_json (body);
    else
        s_print_sync (reply);
    if (!reply->success) {
        fprintf (stderr, "%s: not aligned for %s: %zu conflict%s\n", ctx->prefix, ctx->phase,
                 reply->n_conflicts, reply->n_conflicts == 1 ? "" : "s");
        code = CTL_EXIT_ERROR_REPLY;
    }
    protobuf_c_message_free_unpacked (body, NULL);
cleanup:
    free (ref_list);
    free (refs);
    return code;
}

//  ---------------------------------------------------------------------
//  put-contracts

//  The local file a "put_contracts[<i>]..." error names, else NULL.
static const char *
s_error_path (const char *file, char *const *paths, size_t path_count)
{
    size_t index;
    int consumed = 0;
    if (!paths || sscanf (file, "put_contracts[%zu]%n", &index, &consumed) != 1 || !consumed)
        return NULL;
    return index < path_count ? paths [index] : NULL;
}

static void
s_load_errors_table (Farfan__LoadError *const *errors, size_t count, char *const *paths,
                     size_t path_count, int indent)
{
    ctl_table_t *table = ctl_table_new ("FILE|CONTRACT|FIELD|REASON");
    for (size_t i = 0; i < count; i++) {
        const char *path = s_error_path (errors [i]->file, paths, path_count);
        ctl_table_row (table);
        ctl_table_cell (table, "%s", path ? path : errors [i]->file);
        ctl_table_cell (table, "%s", errors [i]->contract_id);
        ctl_table_cell (table, "%s", *errors [i]->field ? errors [i]->field : "(document)");
        ctl_table_cell (table, "%s", errors [i]->reason);
    }
    ctl_table_print (table, stdout, indent);
    ctl_table_destroy (&table);
}

static int
s_json_suffix (const struct dirent *entry)
{
    size_t length = strlen (entry->d_name);
    return entry->d_name [0] != '.' && length > 5
        && strcmp (entry->d_name + length - 5, ".json") == 0;
}

//  Appends path (a file) or the *.json files of path (a directory, in
//  name order) to the list. Returns CTL_EXIT_OK or the usage error.
static int
s_collect (s_ctx_t *ctx, const char *path, char ***paths, size_t *count)
{
    struct stat info;
    if (stat (path, &info) != 0) {
        fprintf (stderr, "%s: %s: %s\n", ctx->prefix, path, strerror (errno));
        return CTL_EXIT_USAGE;
    }
    if (!S_ISDIR (info.st_mode)) {
        *paths = (char **) realloc (*paths, (*count + 1) * sizeof (char *));
        assert (*paths);
        (*paths) [(*count)++] = strdup (path);
        return CTL_EXIT_OK;
    }
    struct dirent **entries = NULL;
    int found = scandir (path, &entries, s_json_suffix, alphasort);
    if (found < 0) {
        fprintf (stderr, "%s: %s: %s\n", ctx->prefix, path, strerror (errno));
        return CTL_EXIT_USAGE;
    }
    size_t before = *count;
    for (int i = 0; i < found; i++) {
        char *file = zsys_sprintf ("%s/%s", path, entries [i]->d_name);
        struct stat entry_info;
        if (file && stat (file, &entry_info) == 0 && S_ISREG (entry_info.st_mode)) {
            *paths = (char **) realloc (*paths, (*count + 1) * sizeof (char *));
            assert (*paths);
            (*paths) [(*count)++] = file;
        }
        else
            zstr_free (&file);
        free (entries [i]);
    }
    free (entries);
    if (*count == before) {
        fprintf (stderr, "%s: %s has no .json file\n", ctx->prefix, path);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

//  The reply as JSON, each error with the local file it came from.
static void
s_print_put_json (const Farfan__PutContractsReply *reply, char *const *paths, size_t count)
{
    json_t *json = ctl_output_json (&reply->base);
    json_t *errors = json_object_get (json, "errors");
    for (size_t i = 0; i < reply->n_errors; i++) {
        const char *path = s_error_path (reply->errors [i]->file, paths, count);
        json_object_set_new (json_array_get (errors, i), "path",
                             path ? ctl_output_string (path) : json_null ());
    }
    ctl_output_json_line (stdout, json);
    json_decref (json);
}

static int
s_run_put_contracts (s_ctx_t *ctx)
{
    char **paths = NULL;
    size_t count = 0;
    char **texts = NULL;
    ProtobufCMessage *body = NULL;
    int code = CTL_EXIT_OK;
    for (size_t i = 0; i < ctx->arg_count && code == CTL_EXIT_OK; i++)
        code = s_collect (ctx, ctx->args [i], &paths, &count);
    if (code != CTL_EXIT_OK)
        goto cleanup;
    texts = (char **) calloc (count, sizeof (char *));
    assert (texts);
    for (size_t i = 0; i < count; i++) {
        size_t size = 0;
        texts [i] = s_read_file (ctx, "", paths [i], &size);
        if (!texts [i]) {
            code = CTL_EXIT_USAGE;
            goto cleanup;
        }
        //  Sent as a protobuf string: text, whole (a NUL would cut it).
        size_t bad = ff_utf8_check ((const uint8_t *) texts [i], size, false);
        if (bad) {
            fprintf (stderr, "%s: %s is not UTF-8 text: invalid UTF-8 at byte offset %zu\n",
                     ctx->prefix, paths [i], bad - 1);
            code = CTL_EXIT_USAGE;
            goto cleanup;
        }
    }
    Farfan__PutContracts request = FARFAN__PUT_CONTRACTS__INIT;
    request.contracts_json = texts;
    request.n_contracts_json = count;
    code = s_call (ctx, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &request.base, S_ATTEMPTS,
                   FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY,
                   &farfan__put_contracts_reply__descriptor, &body, NULL);
    if (code != CTL_EXIT_OK)
        goto cleanup;
    Farfan__PutContractsReply *reply = (Farfan__PutContractsReply *) body;
    if (ctx->json)
        s_print_put_json (reply, paths, count);
    else {
        printf ("sent %zu file%s: %u contract%s accepted, %u definition%s rejected\n", count,
                count == 1 ? "" : "s", reply->accepted, reply->accepted == 1 ? "" : "s",
                reply->rejected, reply->rejected == 1 ? "" : "s");
        printf ("the factory now has %u contract%s, set %s\n", reply->total_contracts,
                reply->total_contracts == 1 ? "" : "s", reply->contract_set_digest);
        if (reply->n_errors) {
            printf ("errors (%zu):\n", reply->n_errors);
            s_load_errors_table (reply->errors, reply->n_errors, paths, count, 2);
        }
    }
    if (reply->rejected || reply->n_errors) {
        fprintf (stderr, "%s: %u definition%s rejected\n", ctx->prefix, reply->rejected,
                 reply->rejected == 1 ? "" : "s");
        code = CTL_EXIT_ERROR_REPLY;
    }
cleanup:
    if (body)
        protobuf_c_message_free_unpacked (body, NULL);
    for (size_t i = 0; i < count; i++) {
        free (paths [i]);
        if (texts)
            free (texts [i]);
    }
    free (paths);
    free (texts);
    return code;
}

//  ---------------------------------------------------------------------
//  execute

//  What the final table shows of one result.
typedef struct {
    uint32_t index;
    char *contract_id;
    int status;                 // Farfan__ResultStatus
    double score;
    char *quality;
    char *evidence;             // "type count/needed, ..."
    uint64_t duration_us;
    bool from_cache;
    char *error;
} s_row_t;

//  One EXECUTE's stream as received.
typedef struct {
    s_row_t *rows;
    size_t count;
    size_t capacity;
    size_t expected;            // contracts asked for; 0 = --all (known at BATCH_DONE)
    Farfan__BatchDone *done;
    char *need_digest;          // NEED_DOCUMENT came instead
} s_stream_t;

static const char *
s_status_name (int status)
{
    switch (status) {
        case FARFAN__RESULT_STATUS__RESULT_OK:      return "ok";
        case FARFAN__RESULT_STATUS__RESULT_FAILED:  return "failed";
        case FARFAN__RESULT_STATUS__RESULT_TIMEOUT: return "timeout";
        case FARFAN__RESULT_STATUS__RESULT_SKIPPED: return "skipped";
        default:                                    return "unspecified";
    }
}

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
    char *text = s_join (items, result->n_evidence, "");
    for (size_t i = 0; i < result->n_evidence; i++)
        zstr_free (&items [i]);
    free (items);
    return text;
}

static void
s_stream_reset (s_stream_t *stream)
{
    for (size_t i = 0; i < stream->count; i++) {
        free (stream->rows [i].contract_id);
        free (stream->rows [i].quality);
        free (stream->rows [i].evidence);
        free (stream->rows [i].error);
    }
    free (stream->rows);
    if (stream->done)
        farfan__batch_done__free_unpacked (stream->done, NULL);
    free (stream->need_digest);
    size_t expected = stream->expected;
    memset (stream, 0, sizeof *stream);
    stream->expected = expected;
}

static void
s_print_live (const s_stream_t *stream, const s_row_t *row, const char *executed_by)
{
    char counter [48], duration [32];
    if (stream->expected)
        snprintf (counter, sizeof counter, "[%zu/%zu]", stream->count, stream->expected);
    else
        snprintf (counter, sizeof counter, "[%zu]", stream->count);
    printf ("%s %s %s", counter, row->contract_id, s_status_name (row->status));
    if (row->status == FARFAN__RESULT_STATUS__RESULT_OK)
        printf (", score %.2f%s%s", row->score, *row->quality ? " " : "", row->quality);
    printf (", %s%s%s%s", s_duration_us ((double) row->duration_us, duration, sizeof duration),
            *executed_by ? " " : "", executed_by, row->from_cache ? ", from cache" : "");
    if (*row->error)
        printf (": %s", row->error);
    printf ("\n");
    fflush (stdout);
}

//  Takes one RESULT: prints it (JSON line or live line) and keeps a row.
static int
s_stream_result (s_ctx_t *ctx, s_stream_t *stream, const ff_msg_t *reply)
{
    Farfan__ContractResult *result = farfan__contract_result__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    if (!result) {
        fprintf (stderr, "%s: %s sent a RESULT that does not decode\n", ctx->prefix, ctx->endpoint);
        return CTL_EXIT_ERROR_REPLY;
    }
    if (stream->count == stream->capacity) {
        stream->capacity = stream->capacity ? stream->capacity * 2 : 64;
        stream->rows = (s_row_t *) realloc (stream->rows, stream->capacity * sizeof (s_row_t));
        assert (stream->rows);
    }
    s_row_t *row = &stream->rows [stream->count++];
    row->index = result->index;
    row->contract_id = strdup (result->contract_id);
    row->status = result->status;
    row->score = result->score;
    row->quality = strdup (result->quality);
    row->evidence = s_evidence_text (result);
    row->duration_us = result->duration_us;
    row->from_cache = result->from_cache;
    row->error = strdup (result->error);
    if (ctx->json) {
        json_t *json = ctl_output_json (&result->base);
        json_object_set_new (json, "status", json_string (s_status_name (result->status)));
        ctl_output_json_line (stdout, json);
        json_decref (json);
    }
    else
        s_print_live (stream, row, result->executed_by);
    farfan__contract_result__free_unpacked (result, NULL);
    return CTL_EXIT_OK;
}

//  A probe's answer: CTL_EXIT_OK to keep waiting, else the exit code.
static int
s_stream_probe_answer (s_ctx_t *ctx, const s_stream_t *stream, const ff_msg_t *reply)
{
    if (ff_msg_type (reply) != FARFAN__MESSAGE_TYPE__CAPABILITIES_REPLY)
        return CTL_EXIT_OK;     //  it answered: alive
    Farfan__Capabilities *caps = farfan__capabilities__unpack (NULL, ff_msg_body_size (reply),
                                                               ff_msg_body_data (reply));
    int code = CTL_EXIT_OK;
    if (caps && caps->in_flight == 0) {
        fprintf (stderr, "%s: %s has no contract in flight, yet this batch's BATCH_DONE never "
                 "came (%zu result%s received): its replies were dropped, most likely by a "
                 "send queue smaller than the batch (FARFAN_FACTORY_HWM): run smaller batches "
                 "or raise it\n", ctx->prefix, ctx->endpoint, stream->count,
                 stream->count == 1 ? "" : "s");
        code = CTL_EXIT_ERROR_REPLY;
    }
    if (caps)
        farfan__capabilities__free_unpacked (caps, NULL);
    return code;
}

//  Sends EXECUTE on sock and receives its stream into *stream until
//  BATCH_DONE or NEED_DOCUMENT (stream->need_digest). Returns the exit
//  code, having said why when not OK.
static int
s_stream_execute (s_ctx_t *ctx, zsock_t *sock, const Farfan__Execute *execute,
                  s_stream_t *stream, unsigned attempt)
{
    char sender [48], correlation_id [96], probe_id [96] = "";
    snprintf (sender, sizeof sender, "farfanctl-%d", (int) getpid ());
    snprintf (correlation_id, sizeof correlation_id, "%s-execute-%u", sender, attempt);
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__EXECUTE,
                               .correlation_id = correlation_id, .sender_id = sender };
    if (ff_msg_send (sock, NULL, false, &header, &execute->base) != 0) {
        fprintf (stderr, "%s: cannot send EXECUTE to %s: %s\n", ctx->prefix, ctx->endpoint,
                 strerror (errno));
        return CTL_EXIT_UNREACHABLE;
    }
    unsigned probes = 0;
    int code = CTL_EXIT_OK;
    ff_msg_t *reply = ff_msg_new ();
    while (true) {
        zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
        int ready = zmq_poll (&item, 1, ctx->timeout_ms);
        if (ready < 0) {
            fprintf (stderr, "%s: interrupted\n", ctx->prefix);
            code = CTL_EXIT_UNREACHABLE;
            break;
        }
        if (ready == 0) {
            if (*probe_id) {
                fprintf (stderr, "%s: %s stopped answering: nothing for %d ms, then no answer to "
                         "a check within %d ms (%zu result%s received)\n", ctx->prefix,
                         ctx->endpoint, ctx->timeout_ms, ctx->timeout_ms, stream->count,
                         stream->count == 1 ? "" : "s");
                code = CTL_EXIT_UNREACHABLE;
                break;
            }
            //  Silence: is the factory still there, and still running it?
            snprintf (probe_id, sizeof probe_id, "%s-check-%u-%u", sender, attempt, ++probes);
            Farfan__CapabilitiesRequest request = FARFAN__CAPABILITIES_REQUEST__INIT;
            ff_msg_header_t probe = { .type = FARFAN__MESSAGE_TYPE__CAPABILITIES,
                                      .correlation_id = probe_id, .sender_id = sender };
            ff_msg_send (sock, NULL, false, &probe, &request.base);
            continue;
        }
        int rc = ff_msg_recv (reply, sock);
        if (rc == -1)
            continue;
        if (rc == -2) {
            fprintf (stderr, "%s: %s answered with an invalid message: %s\n", ctx->prefix,
                     ctx->endpoint, ff_msg_error (reply));
            code = CTL_EXIT_ERROR_REPLY;
            break;
        }
        const char *id = ff_msg_correlation_id (reply);
        if (*probe_id && strcmp (id, probe_id) == 0) {
            *probe_id = '\0';
            if ((code = s_stream_probe_answer (ctx, stream, reply)) != CTL_EXIT_OK)
                break;
            continue;
        }
        if (strcmp (id, correlation_id) != 0)
            continue;           //  an earlier attempt's or check's late reply
        uint32_t type = ff_msg_type (reply);
        if (type == FARFAN__MESSAGE_TYPE__RESULT && ff_msg_status_code (reply) == 0) {
            if ((code = s_stream_result (ctx, stream, reply)) != CTL_EXIT_OK)
                break;
            continue;
        }
        if (type == FARFAN__MESSAGE_TYPE__NEED_DOCUMENT && ff_msg_status_code (reply) == 0) {
            Farfan__NeedDocument *need = farfan__need_document__unpack (
                NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
            stream->need_digest = strdup (need ? need->digest : "");
            if (need)
                farfan__need_document__free_unpacked (need, NULL);
            break;
        }
        ProtobufCMessage *done = NULL;
        code = s_decode (ctx, reply, FARFAN__MESSAGE_TYPE__BATCH_DONE,
                         &farfan__batch_done__descriptor, &done);
        stream->done = (Farfan__BatchDone *) done;
        break;
    }
    ff_msg_destroy (&reply);
    return code;
}

static int
s_row_compare (const void *a, const void *b)
{
    uint32_t left = ((const s_row_t *) a)->index, right = ((const s_row_t *) b)->index;
    return left < right ? -1 : left > right;
}

static void
s_print_results (s_stream_t *stream)
{
    qsort (stream->rows, stream->count, sizeof (s_row_t), s_row_compare);
    ctl_table_t *table = ctl_table_new (">#|CONTRACT|STATUS|>SCORE|QUALITY|EVIDENCE (FOUND/NEEDED)"
                                        "|>DURATION|CACHE|ERROR");
    for (size_t i = 0; i < stream->count; i++) {
        const s_row_t *row = &stream->rows [i];
        bool ok = row->status == FARFAN__RESULT_STATUS__RESULT_OK;
        char duration [32];
        ctl_table_row (table);
        ctl_table_cell (table, "%u", row->index);
        ctl_table_cell (table, "%s", row->contract_id);
        ctl_table_cell (table, "%s", s_status_name (row->status));
        if (ok)
            ctl_table_cell (table, "%.2f", row->score);
        else
            ctl_table_cell (table, "-");
        ctl_table_cell (table, "%s", *row->quality ? row->quality : "-");
        ctl_table_cell (table, "%s", *row->evidence ? row->evidence : "-");
        ctl_table_cell (table, "%s", s_duration_us ((double) row->duration_us, duration,
                                                    sizeof duration));
        ctl_table_cell (table, "%s", row->from_cache ? "yes" : "no");
        ctl_table_cell (table, "%s", row->error);
    }
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    const Farfan__BatchDone *done = stream->done;
    char wall [32];
    printf ("%u contract%s: %u ok, %u failed, %u timed out, %u skipped; %u from cache; "
            "%s, %s wall\n", done->total, done->total == 1 ? "" : "s", done->ok, done->failed,
            done->timed_out, done->skipped, done->from_cache, done->strategy,
            s_duration_us ((double) done->wall_us, wall, sizeof wall));
}

//  PUT_DOCUMENT of the --input text. Returns CTL_EXIT_OK with *digest_p
//  (caller frees) or the exit code.
static int
s_put_document (s_ctx_t *ctx, const char *text, size_t size, char **digest_p)
{
    Farfan__PutDocument put = FARFAN__PUT_DOCUMENT__INIT;
    put.content.data = (uint8_t *) text;
    put.content.len = size;
    put.name = (char *) ctx->input;
    ProtobufCMessage *body = NULL;
    int code = s_call (ctx, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, &put.base, S_ATTEMPTS,
                       FARFAN__MESSAGE_TYPE__DOCUMENT_STORED,
                       &farfan__document_stored__descriptor, &body, NULL);
    if (code != CTL_EXIT_OK)
        return code;
    *digest_p = strdup (((Farfan__DocumentStored *) body)->digest);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

static int
s_run_execute (s_ctx_t *ctx)
{
    int code = s_check_selection (ctx);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctx->params) {
        json_error_t error;
        json_t *params = json_loads (ctx->params, 0, &error);
        bool object = params && json_is_object (params);
        json_decref (params);
        if (!object)
            return s_usage_error (ctx, "--params takes a JSON object, not \"%s\"%s%s", ctx->params,
                                  params ? "" : ": ", params ? "" : error.text);
    }
    char *text = NULL, *digest = NULL;
    size_t size = 0;
    zsock_t *sock = NULL;
    s_stream_t stream = { .expected = ctx->id_count };
    if (ctx->input) {
        text = s_read_file (ctx, "--input ", ctx->input, &size);
        if (!text)
            return CTL_EXIT_USAGE;
        size_t bad = ff_utf8_check ((const uint8_t *) text, size, true);
        if (bad) {
            fprintf (stderr, "%s: --input %s is not UTF-8 text: invalid UTF-8 at byte offset %zu "
                     "(convert it first, e.g. iconv -f latin1 -t utf-8)\n", ctx->prefix,
                     ctx->input, bad - 1);
            code = CTL_EXIT_USAGE;
            goto cleanup;
        }
        if ((code = s_put_document (ctx, text, size, &digest)) != CTL_EXIT_OK)
            goto cleanup;
    }
    char run_id [48];
    snprintf (run_id, sizeof run_id, "farfanctl-%d", (int) getpid ());
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ctx->ids;
    execute.n_contract_ids = ctx->id_count;
    execute.input_digest = digest ? digest : "";
    execute.params_json = (char *) (ctx->params ? ctx->params : "");
    execute.all = ctx->all;
    execute.phase = (char *) (ctx->phase ? ctx->phase : "");
    execute.no_cache = ctx->no_cache;
    execute.max_parallel = ctx->max_parallel;
    execute.plan_id = (char *) (ctx->plan_id ? ctx->plan_id : "");
    execute.run_id = run_id;

    sock = zsock_new (ZMQ_DEALER);
    assert (sock);
    zsock_set_linger (sock, 0);
    zsock_set_rcvhwm (sock, S_STREAM_RCVHWM);
    const char *endpoint = *ctx->endpoint == '>' ? ctx->endpoint + 1 : ctx->endpoint;
    char reason [512];
    if (ff_curve_attach (ff_curve_client_default (), sock, endpoint, false,
                         reason, sizeof reason) != 0) {
        fprintf (stderr, "%s: %s\n", ctx->prefix, reason);
        code = CTL_EXIT_USAGE;
        goto cleanup;
    }
    code = s_stream_execute (ctx, sock, &execute, &stream, 1);
    //  The document left the factory's cache between PUT and EXECUTE (or
    //  the factory restarted): send it once more.
    if (code == CTL_EXIT_OK && stream.need_digest) {
        if (!text) {
            fprintf (stderr, "%s: the factory needs document %s: give it with --input FILE\n",
                     ctx->prefix, stream.need_digest);
            code = CTL_EXIT_ERROR_REPLY;
            goto cleanup;
        }
        free (digest);
        digest = NULL;
        s_stream_reset (&stream);
        if ((code = s_put_document (ctx, text, size, &digest)) != CTL_EXIT_OK)
            goto cleanup;
        execute.input_digest = digest;
        code = s_stream_execute (ctx, sock, &execute, &stream, 2);
        if (code == CTL_EXIT_OK && stream.need_digest) {
            fprintf (stderr, "%s: the factory asked for document %s again right after it was "
                     "re-sent: its document cache cannot keep it (document_cache_count / "
                     "document_cache_bytes)\n", ctx->prefix, stream.need_digest);
            code = CTL_EXIT_ERROR_REPLY;
            goto cleanup;
        }
    }
    if (code != CTL_EXIT_OK)
        goto cleanup;
    if (ctx->json)
        s_print_json (&stream.done->base);
    else
        s_print_results (&stream);
    if (stream.count != stream.done->total) {
        fprintf (stderr, "%s: the batch had %u contracts but %zu results arrived: the rest were "
                 "dropped on the way\n", ctx->prefix, stream.done->total, stream.count);
        code = CTL_EXIT_ERROR_REPLY;
    }
    else
    if (stream.done->failed || stream.done->timed_out)
        code = CTL_EXIT_SOME_FAILED;

cleanup:
    s_stream_reset (&stream);
    zsock_destroy (&sock);
    free (digest);
    free (text);
    return code;
}

//  ---------------------------------------------------------------------

int
ctl_factory (int argc, char **argv)
{
    s_ctx_t ctx = { .timeout_ms = S_DEFAULT_TIMEOUT_MS };
    snprintf (ctx.prefix, sizeof ctx.prefix, "farfanctl factory");
    int code = s_parse (&ctx, argc, argv);
    if (code == -1) {
        s_help (stdout);
        code = CTL_EXIT_OK;
        goto cleanup;
    }
    if (code != CTL_EXIT_OK)
        goto cleanup;
    if (!ctx.endpoint)
        ctx.endpoint = ctl_default_endpoint ("factory");
    char err [512] = "";
    ctx.client = ff_client_new (ctx.endpoint, NULL, err, sizeof err);
    if (!ctx.client) {
        fprintf (stderr, "%s: --endpoint %s: %s\n", ctx.prefix, ctx.endpoint, err);
        code = CTL_EXIT_USAGE;
        goto cleanup;
    }
    code = ctx.sub->run (&ctx);

cleanup:
    ff_client_destroy (&ctx.client);
    for (size_t i = 0; i < ctx.id_count; i++)
        free (ctx.ids [i]);
    free (ctx.ids);
    free (ctx.args);
    return code;
}
