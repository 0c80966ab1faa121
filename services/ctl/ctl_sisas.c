/*  farfanctl sisas [--endpoint E] [--timeout MS] [--json] SUBCOMMAND ...

    SISAS's control API (proto/sisas.proto, proto/sisas.md §9) from the
    command line:
      health                 every feature's state and figures
      stats                  the accounting (received = delivered + absorbed
                             + shed + rejected + in flight), rates, losses
      predict PHASE          the load model of a phase (P00..P09)
      route SOURCE [--type T]  the vehicles a signal of SOURCE would go to,
                             best first, with their scores
      vehicles               every registered vehicle, best first
      configure [KEY=VALUE...]  change run-time settings (all or none);
                             without arguments, list them
    Every request is read-only or idempotent (configure sets values), so
    each is sent Lazy Pirate style: up to three attempts of --timeout
    (default 1000 ms). Human output is aligned tables; --json prints the
    reply itself as one JSON object (ctl_output.h). Exit codes: 0 ok, 1
    error reply (or not SISAS), 2 usage, 3 no answer.
*/
#include "ctl_command.h"
#include "ctl_output.h"
#include "ctl_table.h"
#include "ff_client.h"
#include "sisas.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ATTEMPTS 3
#define S_DEFAULT_TIMEOUT_MS 1000
#define S_PREFIX "farfanctl sisas"

typedef struct {
    const char *endpoint;
    int timeout_ms;
    bool json;
    const char *type;           // route --type
    const char *sub;            // subcommand
    char **args;                // its positional arguments (borrowed)
    int arg_count;
    ff_client_t *client;
} s_ctx_t;

static int
s_usage (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_usage (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, S_PREFIX ": ");
    vfprintf (stderr, format, args);
    fprintf (stderr, " (see farfanctl sisas --help)\n");
    va_end (args);
    return CTL_EXIT_USAGE;
}

static void
s_help (FILE *out)
{
    fprintf (out,
        "Usage: farfanctl sisas [--endpoint E] [--timeout MS] [--json] SUBCOMMAND\n"
        "  health                    every feature's state and figures\n"
        "  stats                     accounting, rates, rejections and sheds by reason\n"
        "  predict PHASE             the load prediction of a phase (P00..P09)\n"
        "  route SOURCE [--type T]   vehicles a signal of SOURCE (and type T) goes to, best first\n"
        "  vehicles                  every registered vehicle with its score\n"
        "  configure [KEY=VALUE...]  set run-time settings atomically; none: list them\n"
        "Endpoint: --endpoint, else FARFAN_CTL_SISAS, else tcp://127.0.0.1:5572.\n"
        "Exit codes: 0 ok, 1 error reply, 2 usage error, 3 no answer.\n");
}

//  Sends one request and decodes the expected reply into *body_p.
static int
s_call (s_ctx_t *ctx, uint32_t type, const ProtobufCMessage *body, uint32_t expected,
        const ProtobufCMessageDescriptor *descriptor, ProtobufCMessage **body_p)
{
    char err [512] = "";
    ff_msg_t *reply = NULL;
    int rc = ff_client_request (ctx->client, type, body, ctx->timeout_ms, S_ATTEMPTS, &reply,
                                err, sizeof err);
    if (rc == -1) {
        fprintf (stderr, S_PREFIX " %s: %s\n", ctx->sub, err);
        return CTL_EXIT_UNREACHABLE;
    }
    if (rc == -2) {
        fprintf (stderr, S_PREFIX " %s: %s\n", ctx->sub, err);
        return CTL_EXIT_ERROR_REPLY;
    }
    int exit_code = CTL_EXIT_OK;
    uint32_t got = ff_msg_type (reply);
    if (got == FARFAN__MESSAGE_TYPE__ERROR || ff_msg_status_code (reply) != 0) {
        fprintf (stderr, S_PREFIX " %s: %s answered %s: %s\n", ctx->sub, ctx->endpoint,
                 ff_msg_code_name (ff_msg_status_code (reply)), ff_msg_status_message (reply));
        exit_code = CTL_EXIT_ERROR_REPLY;
    }
    else
    if (got != expected) {
        fprintf (stderr, S_PREFIX " %s: %s answered %s, not %s: is it SISAS?\n", ctx->sub,
                 ctx->endpoint, ff_msg_type_name (got), ff_msg_type_name (expected));
        exit_code = CTL_EXIT_ERROR_REPLY;
    }
    else {
        *body_p = protobuf_c_message_unpack (descriptor, NULL, ff_msg_body_size (reply),
                                             ff_msg_body_data (reply));
        if (!*body_p) {
            fprintf (stderr, S_PREFIX " %s: %s answered a %s that does not decode\n", ctx->sub,
                     ctx->endpoint, ff_msg_type_name (got));
            exit_code = CTL_EXIT_ERROR_REPLY;
        }
    }
    ff_msg_destroy (&reply);
    return exit_code;
}

//  Prints the reply as JSON (--json) or through human; frees it.
static int
s_print (s_ctx_t *ctx, ProtobufCMessage *body, void (*human) (ProtobufCMessage *body))
{
    if (ctx->json) {
        json_t *value = ctl_output_json (body);
        int rc = ctl_output_json_line (stdout, value);
        json_decref (value);
        protobuf_c_message_free_unpacked (body, NULL);
        return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR_REPLY;
    }
    human (body);
    protobuf_c_message_free_unpacked (body, NULL);
    return CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  Human output

static void
s_print_stats (const Farfan__SisasStats *stats)
{
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_cell (table, "received");
    ctl_table_cell (table, "%" PRIu64, stats->received);
    const char *names [] = { "delivered", "absorbed", "shed", "rejected", "in flight" };
    uint64_t values [] = { stats->delivered, stats->absorbed, stats->shed, stats->rejected,
                           stats->in_flight };
    for (size_t i = 0; i < 5; i++) {
        ctl_table_row (table);
        ctl_table_cell (table, "%s", names [i]);
        ctl_table_cell (table, "%" PRIu64, values [i]);
    }
    ctl_table_row (table);
    ctl_table_cell (table, "identity");
    ctl_table_cell (table, "%s", stats->identity_holds
        ? "holds (received = delivered + absorbed + shed + rejected + in flight)" : "BROKEN");
    ctl_table_row (table);
    ctl_table_cell (table, "rates");
    ctl_table_cell (table, "%.0f received/s, %.0f delivered/s", stats->received_rate,
                    stats->delivered_rate);
    ctl_table_row (table);
    ctl_table_cell (table, "redundancy reduction");
    ctl_table_cell (table, "%.2f %%", 100.0 * stats->redundancy_reduction);
    ctl_table_row (table);
    ctl_table_cell (table, "upstream lost");
    ctl_table_cell (table, "%" PRIu64 " (seq gaps), %" PRIu64 " source restarts",
                    stats->upstream_lost, stats->source_restarts);
    ctl_table_row (table);
    ctl_table_cell (table, "sources");
    ctl_table_cell (table, "%" PRIu64 " tracked, %" PRIu64 " signals untracked", stats->sources,
                    stats->sources_untracked);
    ctl_table_row (table);
    ctl_table_cell (table, "emitted");
    ctl_table_cell (table, "%" PRIu64 " FUSED, %" PRIu64 " control", stats->fused_emitted,
                    stats->control_emitted);
    ctl_table_print (table, stdout, 2);
    ctl_table_destroy (&table);

    ctl_table_t *reasons = ctl_table_new ("DROPPED|REASON|>COUNT");
    for (size_t i = 0; i < stats->n_rejected_by_reason; i++)
        if (stats->rejected_by_reason [i]->count) {
            ctl_table_row (reasons);
            ctl_table_cell (reasons, "rejected");
            ctl_table_cell (reasons, "%s", stats->rejected_by_reason [i]->name);
            ctl_table_cell (reasons, "%" PRIu64, stats->rejected_by_reason [i]->count);
        }
    for (size_t i = 0; i < stats->n_shed_by_reason; i++)
        if (stats->shed_by_reason [i]->count) {
            ctl_table_row (reasons);
            ctl_table_cell (reasons, "shed");
            ctl_table_cell (reasons, "%s", stats->shed_by_reason [i]->name);
            ctl_table_cell (reasons, "%" PRIu64, stats->shed_by_reason [i]->count);
        }
    if (ctl_table_rows (reasons)) {
        printf ("\n");
        ctl_table_print (reasons, stdout, 2);
    }
    ctl_table_destroy (&reasons);
}

static void
s_human_stats (ProtobufCMessage *body)
{
    Farfan__SisasStats *stats = (Farfan__SisasStats *) body;
    printf ("SISAS signals (uptime %.1fs)\n", (double) stats->uptime_ms / 1000.0);
    s_print_stats (stats);
}

//  "a, b, c" of up to count strings into out ("*" when none).
static const char *
s_join (char **items, size_t count, char *out, size_t size)
{
    if (count == 0)
        return "*";
    size_t used = 0;
    out [0] = '\0';
    for (size_t i = 0; i < count && used < size; i++)
        used += (size_t) snprintf (out + used, size - used, "%s%s", i ? "," : "", items [i]);
    return out;
}

static void
s_print_vehicles (Farfan__SisasVehicle **vehicles, size_t count, bool globs)
{
    if (count == 0) {
        printf ("  (no vehicle)\n");
        return;
    }
    ctl_table_t *table = ctl_table_new (globs
        ? "VEHICLE|STATE|>SCORE|>SUCCESS|>LATENCY_MS|>IN_FLIGHT|>CAPACITY|>OK|>FAILED|PATTERNS|TYPES"
        : "VEHICLE|STATE|>SCORE|>SUCCESS|>LATENCY_MS|>IN_FLIGHT|>CAPACITY");
    for (size_t i = 0; i < count; i++) {
        Farfan__SisasVehicle *vehicle = vehicles [i];
        ctl_table_row (table);
        ctl_table_cell (table, "%s", vehicle->name);
        ctl_table_cell (table, "%s", vehicle->state);
        ctl_table_cell (table, "%.3f", vehicle->score);
        ctl_table_cell (table, "%.3f", vehicle->success_rate);
        ctl_table_cell (table, "%.2f", vehicle->latency_ms);
        ctl_table_cell (table, "%u", vehicle->in_flight);
        ctl_table_cell (table, "%u", vehicle->capacity);
        if (globs) {
            char patterns [512], types [512];
            ctl_table_cell (table, "%" PRIu64, vehicle->acked_ok);
            ctl_table_cell (table, "%" PRIu64, vehicle->acked_failed);
            ctl_table_cell (table, "%s", s_join (vehicle->patterns, vehicle->n_patterns,
                                                 patterns, sizeof patterns));
            ctl_table_cell (table, "%s", s_join (vehicle->types, vehicle->n_types, types,
                                                 sizeof types));
        }
    }
    ctl_table_print (table, stdout, 2);
    ctl_table_destroy (&table);
}

static void
s_human_health (ProtobufCMessage *body)
{
    Farfan__SisasHealth *health = (Farfan__SisasHealth *) body;
    printf ("SISAS %s", health->state);
    for (size_t i = 0; i < health->n_reasons; i++)
        printf ("%s%s", i ? ", " : " (", health->reasons [i]);
    printf ("%s (uptime %.1fs)\n\nsignals\n", health->n_reasons ? ")" : "",
            health->stats ? (double) health->stats->uptime_ms / 1000.0 : 0.0);
    if (health->stats)
        s_print_stats (health->stats);

    ctl_table_t *table = ctl_table_new ("FEATURE|STATE|FIGURES");
    const Farfan__SisasFusionState *fusion = health->fusion;
    if (fusion) {
        ctl_table_row (table);
        ctl_table_cell (table, "fusion");
        ctl_table_cell (table, "%s", fusion->enabled ? "on" : "off");
        ctl_table_cell (table, "window %u ms, %s; %" PRIu64 " open / %" PRIu64 " capacity / %"
                        PRIu64 " max; absorbed %" PRIu64 ", fused %" PRIu64 ", evicted %" PRIu64
                        "; reduction %.2f %%%s%s", fusion->window_ms, fusion->method,
                        fusion->open_groups, fusion->capacity, fusion->max_groups,
                        fusion->absorbed, fusion->fused_emitted, fusion->evicted,
                        100.0 * fusion->reduction, *fusion->presized_for ? "; sized for " : "",
                        fusion->presized_for);
    }
    const Farfan__SisasStormState *storm = health->storm;
    if (storm) {
        ctl_table_row (table);
        ctl_table_cell (table, "storm");
        ctl_table_cell (table, "%s", !storm->enabled ? "off" : storm->active ? "STORM" : "calm");
        ctl_table_cell (table, "%.0f/s of %.0f/s (ends below %.0f %% for %u ms); level %.0f/s; "
                        "%" PRIu64 " storms, %" PRIu64 " shed", storm->rate, storm->rate_limit,
                        100.0 * storm->exit_ratio, storm->hold_ms, storm->level, storm->storms,
                        storm->shed);
    }
    const Farfan__SisasBackpressureState *backpressure = health->backpressure;
    if (backpressure) {
        ctl_table_row (table);
        ctl_table_cell (table, "backpressure");
        ctl_table_cell (table, "%s", !backpressure->enabled ? "off"
                                     : backpressure->active ? "ON" : "clear");
        ctl_table_cell (table, "pending %" PRIu64 " (threshold %" PRIu64 ", bound %" PRIu64
                        "), utilization %.1f %%; %" PRIu64 " episodes, %" PRIu64 " shed",
                        backpressure->pending, backpressure->threshold, backpressure->max_pending,
                        backpressure->utilization, backpressure->episodes, backpressure->shed);
    }
    const Farfan__SisasRoutingState *routing = health->routing;
    if (routing) {
        ctl_table_row (table);
        ctl_table_cell (table, "routing");
        ctl_table_cell (table, "%s", routing->enabled ? "on" : "off");
        ctl_table_cell (table, "%" PRIu64 " vehicles; routed %" PRIu64 ", ok %" PRIu64
                        ", failed %" PRIu64 ", re-routed %" PRIu64 ", unroutable %" PRIu64
                        ", queued %" PRIu64, routing->vehicles, routing->routed, routing->acked_ok,
                        routing->acked_failed, routing->rerouted, routing->unroutable,
                        routing->queued);
    }
    const Farfan__SisasPredictionState *prediction = health->prediction;
    if (prediction) {
        ctl_table_row (table);
        ctl_table_cell (table, "prediction");
        ctl_table_cell (table, "%s", prediction->enabled ? "on" : "off");
        ctl_table_cell (table, "MAPE %.2f %% over %" PRIu64 " predictions; %zu phases learned; "
                        "%" PRIu64 " runs in a phase", prediction->mape,
                        prediction->predictions_checked, prediction->n_phases,
                        prediction->active_runs);
    }
    printf ("\n");
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
    if (storm && storm->n_noisiest) {
        printf ("\nsources, busiest first\n");
        ctl_table_t *sources = ctl_table_new ("SOURCE|>RATE/S|>SHED|>LOST");
        for (size_t i = 0; i < storm->n_noisiest; i++) {
            ctl_table_row (sources);
            ctl_table_cell (sources, "%s", storm->noisiest [i]->source);
            ctl_table_cell (sources, "%.0f", storm->noisiest [i]->rate);
            ctl_table_cell (sources, "%" PRIu64, storm->noisiest [i]->shed);
            ctl_table_cell (sources, "%" PRIu64, storm->noisiest [i]->lost);
        }
        ctl_table_print (sources, stdout, 2);
        ctl_table_destroy (&sources);
    }
    if (routing && routing->n_vehicle_list) {
        printf ("\nvehicles\n");
        s_print_vehicles (routing->vehicle_list, routing->n_vehicle_list, false);
    }
}

static void
s_human_prediction (ProtobufCMessage *body)
{
    Farfan__SisasPhasePrediction *prediction = (Farfan__SisasPhasePrediction *) body;
    ctl_table_t *table = ctl_table_new ("|");
    ctl_table_cell (table, "phase");
    ctl_table_cell (table, "%s", prediction->phase);
    ctl_table_row (table);
    ctl_table_cell (table, "runs learned");
    ctl_table_cell (table, "%" PRIu64, prediction->runs);
    ctl_table_row (table);
    ctl_table_cell (table, "predicted signals");
    ctl_table_cell (table, "%.1f (confidence %.2f)", prediction->predicted_signals,
                    prediction->confidence);
    ctl_table_row (table);
    ctl_table_cell (table, "predicted duration");
    ctl_table_cell (table, "%.1f ms", prediction->predicted_duration_ms);
    ctl_table_row (table);
    ctl_table_cell (table, "MAPE");
    ctl_table_cell (table, "%.2f %% over %" PRIu64 " predictions", prediction->mape,
                    prediction->predictions_checked);
    ctl_table_row (table);
    ctl_table_cell (table, "last");
    ctl_table_cell (table, "predicted %.1f, actual %" PRIu64, prediction->last_predicted,
                    prediction->last_actual);
    ctl_table_row (table);
    ctl_table_cell (table, "fusion groups reserved");
    ctl_table_cell (table, "%" PRIu64, prediction->presize_groups);
    char history [1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < prediction->n_history && used < sizeof history; i++)
        used += (size_t) snprintf (history + used, sizeof history - used, "%s%" PRIu64,
                                   i ? " " : "", prediction->history [i]);
    ctl_table_row (table);
    ctl_table_cell (table, "history (oldest first)");
    ctl_table_cell (table, "%s", prediction->n_history ? history : "none");
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
}

static void
s_human_vehicles (ProtobufCMessage *body)
{
    Farfan__SisasVehicleList *list = (Farfan__SisasVehicleList *) body;
    s_print_vehicles (list->vehicles, list->n_vehicles, true);
}

static void
s_human_settings (ProtobufCMessage *body)
{
    Farfan__SisasSettings *settings = (Farfan__SisasSettings *) body;
    ctl_table_t *table = ctl_table_new ("SETTING|VALUE");
    for (size_t i = 0; i < settings->n_settings; i++) {
        ctl_table_row (table);
        ctl_table_cell (table, "%s", settings->settings [i]->key);
        ctl_table_cell (table, "%s", settings->settings [i]->value);
    }
    ctl_table_print (table, stdout, 0);
    ctl_table_destroy (&table);
}

//  ---------------------------------------------------------------------
//  Subcommands

static int
s_health (s_ctx_t *ctx)
{
    Farfan__SisasHealthRequest request = FARFAN__SISAS_HEALTH_REQUEST__INIT;
    ProtobufCMessage *body = NULL;
    int rc = s_call (ctx, FARFAN__MESSAGE_TYPE__SISAS_HEALTH, &request.base,
                     FARFAN__MESSAGE_TYPE__SISAS_HEALTH_REPLY, &farfan__sisas_health__descriptor,
                     &body);
    return rc == CTL_EXIT_OK ? s_print (ctx, body, s_human_health) : rc;
}

static int
s_stats (s_ctx_t *ctx)
{
    Farfan__SisasStatsRequest request = FARFAN__SISAS_STATS_REQUEST__INIT;
    ProtobufCMessage *body = NULL;
    int rc = s_call (ctx, FARFAN__MESSAGE_TYPE__SISAS_STATS, &request.base,
                     FARFAN__MESSAGE_TYPE__SISAS_STATS_REPLY, &farfan__sisas_stats__descriptor,
                     &body);
    return rc == CTL_EXIT_OK ? s_print (ctx, body, s_human_stats) : rc;
}

static int
s_predict (s_ctx_t *ctx)
{
    const char *phase = ctx->args [0];
    if (strlen (phase) != 3 || phase [0] != 'P' || phase [1] != '0' || phase [2] < '0'
    ||  phase [2] > '9')
        return s_usage ("predict takes a phase P00..P09, not \"%s\"", phase);
    Farfan__SisasPredictRequest request = FARFAN__SISAS_PREDICT_REQUEST__INIT;
    request.phase = (char *) phase;
    ProtobufCMessage *body = NULL;
    int rc = s_call (ctx, FARFAN__MESSAGE_TYPE__SISAS_PREDICT, &request.base,
                     FARFAN__MESSAGE_TYPE__SISAS_PREDICT_REPLY,
                     &farfan__sisas_phase_prediction__descriptor, &body);
    return rc == CTL_EXIT_OK ? s_print (ctx, body, s_human_prediction) : rc;
}

static void
s_human_route (ProtobufCMessage *body)
{
    Farfan__SisasVehicleList *list = (Farfan__SisasVehicleList *) body;
    s_print_vehicles (list->vehicles, list->n_vehicles, false);
}

static int
s_route (s_ctx_t *ctx)
{
    Farfan__SisasRouteRequest request = FARFAN__SISAS_ROUTE_REQUEST__INIT;
    request.source = ctx->args [0];
    request.type = (char *) (ctx->type ? ctx->type : "");
    ProtobufCMessage *body = NULL;
    int rc = s_call (ctx, FARFAN__MESSAGE_TYPE__SISAS_ROUTE, &request.base,
                     FARFAN__MESSAGE_TYPE__SISAS_ROUTE_REPLY,
                     &farfan__sisas_vehicle_list__descriptor, &body);
    return rc == CTL_EXIT_OK ? s_print (ctx, body, s_human_route) : rc;
}

static int
s_vehicles (s_ctx_t *ctx)
{
    Farfan__SisasVehiclesRequest request = FARFAN__SISAS_VEHICLES_REQUEST__INIT;
    ProtobufCMessage *body = NULL;
    int rc = s_call (ctx, FARFAN__MESSAGE_TYPE__SISAS_VEHICLES, &request.base,
                     FARFAN__MESSAGE_TYPE__SISAS_VEHICLES_REPLY,
                     &farfan__sisas_vehicle_list__descriptor, &body);
    return rc == CTL_EXIT_OK ? s_print (ctx, body, s_human_vehicles) : rc;
}

static int
s_configure (s_ctx_t *ctx)
{
    size_t count = (size_t) ctx->arg_count;
    Farfan__SisasSetting *settings = count ? calloc (count, sizeof *settings) : NULL;
    Farfan__SisasSetting **pointers = count ? calloc (count, sizeof *pointers) : NULL;
    char **keys = count ? calloc (count, sizeof *keys) : NULL;
    int rc = CTL_EXIT_OK;
    if (count && (!settings || !pointers || !keys)) {
        fprintf (stderr, S_PREFIX " configure: out of memory\n");
        rc = CTL_EXIT_ERROR_REPLY;
        goto cleanup;
    }
    for (size_t i = 0; i < count; i++) {
        const char *arg = ctx->args [i];
        const char *equals = strchr (arg, '=');
        if (!equals || equals == arg) {
            rc = s_usage ("configure takes KEY=VALUE, not \"%s\"", arg);
            goto cleanup;
        }
        keys [i] = strndup (arg, (size_t) (equals - arg));
        farfan__sisas_setting__init (&settings [i]);
        settings [i].key = keys [i];
        settings [i].value = (char *) equals + 1;
        pointers [i] = &settings [i];
    }
    Farfan__SisasConfigure request = FARFAN__SISAS_CONFIGURE__INIT;
    request.settings = pointers;
    request.n_settings = count;
    ProtobufCMessage *body = NULL;
    rc = s_call (ctx, FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE, &request.base,
                 FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE_REPLY, &farfan__sisas_settings__descriptor,
                 &body);
    if (rc == CTL_EXIT_OK)
        rc = s_print (ctx, body, s_human_settings);

cleanup:
    for (size_t i = 0; keys && i < count; i++)
        free (keys [i]);
    free (keys);
    free (settings);
    free (pointers);
    return rc;
}

typedef struct {
    const char *name;
    int min_args;
    int max_args;
    int (*run) (s_ctx_t *ctx);
} s_subcommand_t;

static const s_subcommand_t s_subcommands [] = {
    { "health", 0, 0, s_health },
    { "stats", 0, 0, s_stats },
    { "predict", 1, 1, s_predict },
    { "route", 1, 1, s_route },
    { "vehicles", 0, 0, s_vehicles },
    { "configure", 0, INT_MAX, s_configure },
};

int
ctl_sisas (int argc, char **argv)
{
    s_ctx_t ctx = { .timeout_ms = S_DEFAULT_TIMEOUT_MS };
    ctx.args = (char **) calloc ((size_t) argc, sizeof (char *));
    if (!ctx.args)
        return CTL_EXIT_ERROR_REPLY;
    const s_subcommand_t *sub = NULL;
    int rc = CTL_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool has_value = i + 1 < argc;
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_help (stdout);
            goto cleanup;
        }
        if (strcmp (arg, "--json") == 0)
            ctx.json = true;
        else
        if (strcmp (arg, "--endpoint") == 0 && has_value)
            ctx.endpoint = argv [++i];
        else
        if (strcmp (arg, "--type") == 0 && has_value)
            ctx.type = argv [++i];
        else
        if (strcmp (arg, "--timeout") == 0 && has_value) {
            char *end = NULL;
            errno = 0;
            long value = strtol (argv [++i], &end, 10);
            if (!*argv [i] || *end || errno || value <= 0 || value > INT_MAX) {
                rc = s_usage ("--timeout takes milliseconds > 0, not \"%s\"", argv [i]);
                goto cleanup;
            }
            ctx.timeout_ms = (int) value;
        }
        else
        if (*arg == '-' && !(sub && strcmp (sub->name, "configure") == 0 && strchr (arg, '='))) {
            rc = s_usage ("unknown option \"%s\"%s", arg, has_value ? "" : " (or missing value)");
            goto cleanup;
        }
        else
        if (!sub) {
            for (size_t s = 0; s < sizeof s_subcommands / sizeof s_subcommands [0]; s++)
                if (strcmp (s_subcommands [s].name, arg) == 0)
                    sub = &s_subcommands [s];
            if (!sub) {
                rc = s_usage ("unknown subcommand \"%s\"", arg);
                goto cleanup;
            }
            ctx.sub = sub->name;
        }
        else
            ctx.args [ctx.arg_count++] = argv [i];
    }
    if (!sub) {
        rc = s_usage ("name a subcommand: health, stats, predict, route, vehicles or configure");
        goto cleanup;
    }
    if (ctx.arg_count < sub->min_args || ctx.arg_count > sub->max_args) {
        rc = s_usage ("%s takes %s", sub->name,
                      strcmp (sub->name, "predict") == 0 ? "one phase (P00..P09)"
                      : strcmp (sub->name, "route") == 0 ? "one source (a file or publisher)"
                      : "no argument");
        goto cleanup;
    }
    if (ctx.type && strcmp (sub->name, "route") != 0) {
        rc = s_usage ("--type is an option of route");
        goto cleanup;
    }
    if (!ctx.endpoint)
        ctx.endpoint = ctl_default_endpoint ("sisas");
    char err [512] = "";
    ctx.client = ff_client_new (ctx.endpoint, NULL, err, sizeof err);
    if (!ctx.client) {
        rc = s_usage ("%s", err);
        goto cleanup;
    }
    rc = sub->run (&ctx);

cleanup:
    ff_client_destroy (&ctx.client);
    free (ctx.args);
    return rc;
}
