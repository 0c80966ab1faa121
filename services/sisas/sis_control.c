/*  sis_control — see sis_control.h.

    Replies are built in a scratch structure on the heap (the vehicle
    list alone holds 64 entries); every string in them is borrowed from
    the modules for the duration of the reply.
*/
#include "sis_control.h"
#include "sis_core.h"
#include "sis_settings.h"
#include "ff_clock.h"
#include "ff_log.h"

#include <stdlib.h>
#include <string.h>

#define S_NOISIEST 10
#define S_SETTING_TEXT 64

//  ---------------------------------------------------------------------
//  Scratch for one reply

typedef struct {
    Farfan__SisasStats stats;
    Farfan__SisasCount rejected [FF_SIGNAL_ERR__COUNT];
    Farfan__SisasCount *rejected_p [FF_SIGNAL_ERR__COUNT];
    Farfan__SisasCount shed [SIS_SHED__COUNT];
    Farfan__SisasCount *shed_p [SIS_SHED__COUNT];
    Farfan__SisasFusionState fusion;
    Farfan__SisasStormState storm;
    Farfan__SisasSourceRate noisy [S_NOISIEST];
    Farfan__SisasSourceRate *noisy_p [S_NOISIEST];
    Farfan__SisasBackpressureState backpressure;
    Farfan__SisasRoutingState routing;
    sis_vehicle_view_t views [SIS_VEHICLES_MAX];
    Farfan__SisasVehicle vehicles [SIS_VEHICLES_MAX];
    Farfan__SisasVehicle *vehicles_p [SIS_VEHICLES_MAX];
    Farfan__SisasPredictionState prediction;
    sis_prediction_t predictions [SIS_PREDICT_PHASES];
    Farfan__SisasPhasePrediction phases [SIS_PREDICT_PHASES];
    Farfan__SisasPhasePrediction *phases_p [SIS_PREDICT_PHASES];
    char phase_names [SIS_PREDICT_PHASES][4];
    char *reasons [4];
    Farfan__SisasHealth health;
    Farfan__SisasVehicleList list;
    Farfan__SisasSetting settings [64];
    Farfan__SisasSetting *settings_p [64];
    char setting_values [64][S_SETTING_TEXT];
    Farfan__SisasSettings settings_reply;
} s_scratch_t;

static s_scratch_t *
s_scratch_new (ff_rpc_t *rpc, const ff_msg_t *request)
{
    s_scratch_t *scratch = (s_scratch_t *) calloc (1, sizeof (s_scratch_t));
    if (!scratch)
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INTERNAL, "out of memory");
    return scratch;
}

static void
s_fill_stats (sis_server_t *self, uint64_t now_us, s_scratch_t *scratch)
{
    sis_accounting_snapshot_t snapshot;
    sis_accounting_snapshot (&self->accounting, sis_vehicles_pending (self->vehicles), &snapshot);
    Farfan__SisasStats *stats = &scratch->stats;
    farfan__sisas_stats__init (stats);
    stats->received = snapshot.received;
    stats->delivered = snapshot.delivered;
    stats->absorbed = snapshot.absorbed;
    stats->shed = snapshot.shed;
    stats->rejected = snapshot.rejected;
    stats->in_flight = snapshot.in_flight;
    stats->identity_holds = snapshot.identity_holds;
    size_t count = 0;
    for (int reason = FF_SIGNAL_ERR_FRAMES; reason < FF_SIGNAL_ERR__COUNT; reason++) {
        Farfan__SisasCount *entry = &scratch->rejected [count];
        farfan__sisas_count__init (entry);
        entry->name = (char *) ff_signal_error_name ((ff_signal_error_t) reason);
        entry->count = snapshot.rejected_by [reason];
        scratch->rejected_p [count++] = entry;
    }
    stats->rejected_by_reason = scratch->rejected_p;
    stats->n_rejected_by_reason = count;
    for (int reason = 0; reason < SIS_SHED__COUNT; reason++) {
        Farfan__SisasCount *entry = &scratch->shed [reason];
        farfan__sisas_count__init (entry);
        entry->name = (char *) sis_accounting_shed_name ((sis_shed_reason_t) reason);
        entry->count = snapshot.shed_by [reason];
        scratch->shed_p [reason] = entry;
    }
    stats->shed_by_reason = scratch->shed_p;
    stats->n_shed_by_reason = SIS_SHED__COUNT;
    stats->upstream_lost = snapshot.lost;
    stats->source_restarts = snapshot.restarts;
    stats->sources = sis_sources_size (self->sources);
    stats->sources_untracked = sis_sources_untracked (self->sources);
    stats->received_rate = (double) sis_rate_get (&self->accounting.received_rate, now_us);
    stats->delivered_rate = (double) sis_rate_get (&self->accounting.delivered_rate, now_us);
    stats->fused_emitted = sis_emit_fused_count (self->emit);
    stats->control_emitted = sis_emit_control_count (self->emit);
    stats->redundancy_reduction = snapshot.received
        ? (double) snapshot.absorbed / (double) snapshot.received : 0;
    const ff_service_info_t *info = ff_service_info (self->service);
    stats->uptime_ms = (ff_clock_mono_us () - info->started_us) / 1000;
}

static void
s_fill_vehicle (const sis_vehicle_view_t *view, Farfan__SisasVehicle *vehicle)
{
    farfan__sisas_vehicle__init (vehicle);
    vehicle->name = (char *) view->name;
    vehicle->patterns = (char **) view->patterns;
    vehicle->n_patterns = view->pattern_count;
    vehicle->types = (char **) view->types;
    vehicle->n_types = view->type_count;
    vehicle->capacity = view->capacity;
    vehicle->in_flight = view->in_flight;
    vehicle->state = (char *) view->state;
    vehicle->success_rate = view->success_rate;
    vehicle->latency_ms = view->latency_ms;
    vehicle->score = view->score;
    vehicle->delivered = view->delivered;
    vehicle->acked_ok = view->acked_ok;
    vehicle->acked_failed = view->acked_failed;
    vehicle->rerouted_away = view->rerouted_away;
    vehicle->heard_ms_ago = view->heard_ms_ago;
    vehicle->quarantines = view->quarantines;
}

//  The vehicles (all, or those matching source and type) into the list.
static void
s_fill_list (sis_server_t *self, uint64_t now_us, const char *source, const char *type,
             s_scratch_t *scratch)
{
    size_t count = sis_vehicles_list (self->vehicles, now_us, source, type, scratch->views,
                                      SIS_VEHICLES_MAX);
    for (size_t i = 0; i < count; i++) {
        s_fill_vehicle (&scratch->views [i], &scratch->vehicles [i]);
        scratch->vehicles_p [i] = &scratch->vehicles [i];
    }
    farfan__sisas_vehicle_list__init (&scratch->list);
    scratch->list.vehicles = scratch->vehicles_p;
    scratch->list.n_vehicles = count;
}

static void
s_fill_prediction (const sis_prediction_t *prediction, const char *presize_phase,
                   uint64_t presize_groups, char *name, Farfan__SisasPhasePrediction *out)
{
    farfan__sisas_phase_prediction__init (out);
    snprintf (name, 4, "%s", ff_signal_phase_name (prediction->phase));
    out->phase = name;
    out->runs = prediction->runs;
    out->predicted_signals = prediction->predicted;
    out->confidence = prediction->confidence;
    out->predicted_duration_ms = prediction->predicted_duration_ms;
    out->history = (uint64_t *) prediction->history;
    out->n_history = prediction->history_size;
    out->mape = prediction->mape;
    out->predictions_checked = prediction->checked;
    out->last_predicted = prediction->last_predicted;
    out->last_actual = prediction->last_actual;
    out->presize_groups = strcmp (presize_phase, name) == 0 ? presize_groups : 0;
}

static void
s_handle_health (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__SisasHealthRequest *body = farfan__sisas_health_request__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "SISAS_HEALTH body is not a SisasHealthRequest");
        return;
    }
    farfan__sisas_health_request__free_unpacked (body, NULL);
    s_scratch_t *scratch = s_scratch_new (rpc, request);
    if (!scratch)
        return;
    uint64_t now_us = ff_clock_mono_us ();
    s_fill_stats (self, now_us, scratch);

    sis_fusion_stats_t fusion;
    sis_fusion_stats (self->fusion, &fusion);
    Farfan__SisasFusionState *fusion_state = &scratch->fusion;
    farfan__sisas_fusion_state__init (fusion_state);
    fusion_state->enabled = self->config.fusion_enabled;
    fusion_state->window_ms = (uint32_t) self->config.fusion_window_ms;
    fusion_state->method = self->config.fusion_method;
    fusion_state->open_groups = fusion.open_groups;
    fusion_state->capacity = fusion.capacity;
    fusion_state->max_groups = fusion.max_groups;
    fusion_state->groups_opened = fusion.opened;
    fusion_state->absorbed = fusion.absorbed;
    fusion_state->fused_emitted = fusion.emitted;
    fusion_state->evicted = fusion.evicted;
    fusion_state->reduction = scratch->stats.redundancy_reduction;
    fusion_state->resizes = fusion.resizes;
    fusion_state->presized_for = self->presized_for;

    sis_storm_stats_t storm;
    sis_storm_stats (self->storm, now_us, &storm);
    Farfan__SisasStormState *storm_state = &scratch->storm;
    farfan__sisas_storm_state__init (storm_state);
    storm_state->enabled = self->config.storm_enabled;
    storm_state->active = storm.active;
    storm_state->rate = storm.rate;
    storm_state->rate_limit = self->config.rate_limit;
    storm_state->exit_ratio = self->config.storm_exit_ratio;
    storm_state->hold_ms = (uint32_t) self->config.storm_hold_ms;
    storm_state->level = storm.level;
    storm_state->storms = storm.storms;
    storm_state->shed = storm.shed;
    sis_source_t *noisiest [S_NOISIEST];
    size_t noisy = sis_storm_noisiest (self->storm, now_us, noisiest, S_NOISIEST);
    for (size_t i = 0; i < noisy; i++) {
        Farfan__SisasSourceRate *entry = &scratch->noisy [i];
        farfan__sisas_source_rate__init (entry);
        entry->source = noisiest [i]->name;
        entry->rate = (double) noisiest [i]->rate.sum;
        entry->shed = noisiest [i]->shed;
        entry->lost = noisiest [i]->lost;
        scratch->noisy_p [i] = entry;
    }
    storm_state->noisiest = scratch->noisy_p;
    storm_state->n_noisiest = noisy;

    uint64_t pending = sis_vehicles_pending (self->vehicles);
    Farfan__SisasBackpressureState *backpressure = &scratch->backpressure;
    farfan__sisas_backpressure_state__init (backpressure);
    backpressure->enabled = self->config.backpressure_enabled;
    backpressure->active = self->backpressure.active;
    backpressure->pending = pending;
    backpressure->threshold = (uint64_t) self->config.backpressure_threshold;
    backpressure->exit_ratio = self->config.backpressure_exit_ratio;
    backpressure->max_pending = (uint64_t) self->config.max_pending;
    backpressure->utilization = sis_backpressure_utilization (&self->backpressure, pending);
    backpressure->episodes = self->backpressure.episodes;
    backpressure->shed = self->backpressure.shed;

    sis_vehicles_stats_t routing;
    sis_vehicles_stats (self->vehicles, &routing);
    Farfan__SisasRoutingState *routing_state = &scratch->routing;
    farfan__sisas_routing_state__init (routing_state);
    routing_state->enabled = self->config.routing_enabled;
    routing_state->vehicles = routing.vehicles;
    routing_state->routed = routing.routed;
    routing_state->acked_ok = routing.acked_ok;
    routing_state->acked_failed = routing.acked_failed;
    routing_state->rerouted = routing.rerouted;
    routing_state->unroutable = routing.unroutable;
    routing_state->queued = routing.queued;
    routing_state->success_floor = self->config.success_floor;
    routing_state->quarantine_ms = (uint32_t) self->config.quarantine_ms;
    routing_state->stale_acks = routing.stale_acks;
    routing_state->acks_malformed = ff_counter_value (self->acks_malformed);
    s_fill_list (self, now_us, NULL, NULL, scratch);
    routing_state->vehicle_list = scratch->list.vehicles;
    routing_state->n_vehicle_list = scratch->list.n_vehicles;

    Farfan__SisasPredictionState *prediction = &scratch->prediction;
    farfan__sisas_prediction_state__init (prediction);
    prediction->enabled = self->config.prediction_enabled;
    prediction->mape = sis_predict_mape (self->predict, &prediction->predictions_checked);
    prediction->active_runs = sis_predict_open (self->predict);
    size_t phases = 0;
    for (int phase = 0; phase < SIS_PREDICT_PHASES; phase++) {
        sis_prediction_t *model = &scratch->predictions [phases];
        sis_predict_get (self->predict, phase, model);
        if (model->runs == 0)
            continue;
        s_fill_prediction (model, self->presized_for, self->presized_groups,
                           scratch->phase_names [phases], &scratch->phases [phases]);
        scratch->phases_p [phases] = &scratch->phases [phases];
        phases++;
    }
    prediction->phases = scratch->phases_p;
    prediction->n_phases = phases;

    Farfan__SisasHealth *health = &scratch->health;
    farfan__sisas_health__init (health);
    size_t reasons = 0;
    if (storm.active)
        scratch->reasons [reasons++] = "storm";
    if (self->backpressure.active)
        scratch->reasons [reasons++] = "backpressure";
    if (routing.queued > 0 && routing.vehicles == 0)
        scratch->reasons [reasons++] = "no live vehicle for queued signals";
    if (!scratch->stats.identity_holds)
        scratch->reasons [reasons++] = "accounting identity broken";
    health->state = reasons ? "degraded" : "healthy";
    health->reasons = scratch->reasons;
    health->n_reasons = reasons;
    health->stats = &scratch->stats;
    health->fusion = fusion_state;
    health->storm = storm_state;
    health->backpressure = backpressure;
    health->routing = routing_state;
    health->prediction = prediction;
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SISAS_HEALTH_REPLY, &health->base);
    free (scratch);
}

static void
s_handle_stats (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__SisasStatsRequest *body = farfan__sisas_stats_request__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "SISAS_STATS body is not a SisasStatsRequest");
        return;
    }
    farfan__sisas_stats_request__free_unpacked (body, NULL);
    s_scratch_t *scratch = s_scratch_new (rpc, request);
    if (!scratch)
        return;
    s_fill_stats (self, ff_clock_mono_us (), scratch);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SISAS_STATS_REPLY, &scratch->stats.base);
    free (scratch);
}

//  "P00".."P09" -> 0..9, else -1.
static int
s_phase_parse (const char *text)
{
    if (text && text [0] == 'P' && text [1] == '0' && text [2] >= '0' && text [2] <= '9'
    &&  text [3] == '\0')
        return text [2] - '0';
    return -1;
}

static void
s_handle_predict (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__SisasPredictRequest *body = farfan__sisas_predict_request__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "SISAS_PREDICT body is not a SisasPredictRequest");
        return;
    }
    int phase = s_phase_parse (body->phase);
    if (phase < 0) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "phase: \"%.16s\" is not a phase (P00..P09)", body->phase);
        farfan__sisas_predict_request__free_unpacked (body, NULL);
        return;
    }
    farfan__sisas_predict_request__free_unpacked (body, NULL);
    sis_prediction_t prediction;
    sis_predict_get (self->predict, phase, &prediction);
    char name [4];
    Farfan__SisasPhasePrediction reply;
    s_fill_prediction (&prediction, self->presized_for, self->presized_groups, name, &reply);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SISAS_PREDICT_REPLY, &reply.base);
}

static void
s_handle_route (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__SisasRouteRequest *body = farfan__sisas_route_request__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "SISAS_ROUTE body is not a SisasRouteRequest");
        return;
    }
    if (!*body->source || strlen (body->source) > FF_SIGNAL_SOURCE_MAX) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "source: must be 1..%d bytes", FF_SIGNAL_SOURCE_MAX);
        farfan__sisas_route_request__free_unpacked (body, NULL);
        return;
    }
    s_scratch_t *scratch = s_scratch_new (rpc, request);
    if (scratch) {
        s_fill_list (self, ff_clock_mono_us (), body->source, body->type, scratch);
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SISAS_ROUTE_REPLY, &scratch->list.base);
        free (scratch);
    }
    farfan__sisas_route_request__free_unpacked (body, NULL);
}

static void
s_handle_vehicles (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__SisasVehiclesRequest *body = farfan__sisas_vehicles_request__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "SISAS_VEHICLES body is not a SisasVehiclesRequest");
        return;
    }
    farfan__sisas_vehicles_request__free_unpacked (body, NULL);
    s_scratch_t *scratch = s_scratch_new (rpc, request);
    if (!scratch)
        return;
    s_fill_list (self, ff_clock_mono_us (), NULL, NULL, scratch);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SISAS_VEHICLES_REPLY, &scratch->list.base);
    free (scratch);
}

static void
s_handle_configure (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__SisasConfigure *body = farfan__sisas_configure__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "SISAS_CONFIGURE body is not a SisasConfigure");
        return;
    }
    s_scratch_t *scratch = NULL;
    char **keys = NULL, **values = NULL;
    if (body->n_settings > 0) {
        keys = (char **) calloc (body->n_settings, sizeof (char *));
        values = (char **) calloc (body->n_settings, sizeof (char *));
        if (!keys || !values) {
            ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INTERNAL, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < body->n_settings; i++) {
            keys [i] = body->settings [i]->key;
            values [i] = body->settings [i]->value;
        }
        char err [256];
        if (sis_settings_configure (self, keys, values, body->n_settings, ff_clock_mono_us (),
                                    err, sizeof err) != 0) {
            ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "%s", err);
            goto cleanup;
        }
        for (size_t i = 0; i < body->n_settings; i++)
            ff_log (FF_LOG_INFO, ff_msg_peer (request), ff_msg_correlation_id (request),
                    "configured %s = %s", keys [i], values [i]);
    }
    scratch = s_scratch_new (rpc, request);
    if (!scratch)
        goto cleanup;
    size_t count = sis_settings_count ();
    for (size_t i = 0; i < count && i < 64; i++) {
        Farfan__SisasSetting *setting = &scratch->settings [i];
        farfan__sisas_setting__init (setting);
        setting->key = (char *) sis_settings_key (i);
        sis_settings_format (&self->config, setting->key, scratch->setting_values [i],
                             S_SETTING_TEXT);
        setting->value = scratch->setting_values [i];
        scratch->settings_p [i] = setting;
    }
    farfan__sisas_settings__init (&scratch->settings_reply);
    scratch->settings_reply.settings = scratch->settings_p;
    scratch->settings_reply.n_settings = count < 64 ? count : 64;
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE_REPLY,
                  &scratch->settings_reply.base);

cleanup:
    free (scratch);
    free (keys);
    free (values);
    farfan__sisas_configure__free_unpacked (body, NULL);
}

//  ---------------------------------------------------------------------
//  Vehicles

static void
s_handle_register (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__VehicleRegister *body = farfan__vehicle_register__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "VEHICLE_REGISTER body is not a VehicleRegister");
        return;
    }
    uint64_t now_us = ff_clock_mono_us ();
    uint32_t rerouted = 0;
    char err [256];
    uint32_t code = sis_vehicles_register (self->vehicles, ff_msg_routing_id (request), body,
                                           now_us, &rerouted, err, sizeof err);
    if (code != FARFAN__ERROR_CODE__OK)
        ff_rpc_reply_error (rpc, request, code, "%s", err);
    else {
        Farfan__VehicleRegistered reply = FARFAN__VEHICLE_REGISTERED__INIT;
        reply.name = body->name;
        reply.heartbeat_ms = (uint32_t) self->config.vehicle_heartbeat_ms;
        reply.liveness = (uint32_t) self->config.vehicle_liveness;
        reply.capacity = body->capacity;
        reply.rerouted = rerouted;
        ff_log (FF_LOG_INFO, ff_msg_peer (request), ff_msg_correlation_id (request),
                "vehicle %s registered (capacity %u, %zu patterns, %zu types)", body->name,
                body->capacity, body->n_patterns, body->n_types);
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__VEHICLE_REGISTERED, &reply.base);
    }
    farfan__vehicle_register__free_unpacked (body, NULL);
    sis_vehicles_dispatch (self->vehicles, now_us);
    sis_server_check_backpressure (self, now_us);
}

static void
s_handle_heartbeat (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__VehicleHeartbeat *body = farfan__vehicle_heartbeat__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "VEHICLE_HEARTBEAT body is not a VehicleHeartbeat");
        return;
    }
    uint32_t in_flight = 0;
    char err [256];
    uint32_t code = sis_vehicles_heartbeat (self->vehicles, ff_msg_routing_id (request),
                                            body->name, ff_clock_mono_us (), &in_flight,
                                            err, sizeof err);
    if (code != FARFAN__ERROR_CODE__OK)
        ff_rpc_reply_error (rpc, request, code, "%s", err);
    else {
        Farfan__VehicleHeartbeatReply reply = FARFAN__VEHICLE_HEARTBEAT_REPLY__INIT;
        reply.in_flight = in_flight;
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT_REPLY, &reply.base);
    }
    farfan__vehicle_heartbeat__free_unpacked (body, NULL);
}

static void
s_handle_unregister (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    sis_server_t *self = (sis_server_t *) service;
    Farfan__VehicleUnregister *body = farfan__vehicle_unregister__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__MALFORMED,
                            "VEHICLE_UNREGISTER body is not a VehicleUnregister");
        return;
    }
    uint64_t now_us = ff_clock_mono_us ();
    uint32_t rerouted = 0;
    char err [256];
    uint32_t code = sis_vehicles_unregister (self->vehicles, ff_msg_routing_id (request),
                                             body->name, now_us, &rerouted, err, sizeof err);
    if (code != FARFAN__ERROR_CODE__OK)
        ff_rpc_reply_error (rpc, request, code, "%s", err);
    else {
        Farfan__VehicleUnregistered reply = FARFAN__VEHICLE_UNREGISTERED__INIT;
        reply.rerouted = rerouted;
        ff_log (FF_LOG_INFO, ff_msg_peer (request), ff_msg_correlation_id (request),
                "vehicle %s unregistered (%u deliveries re-routed)", body->name, rerouted);
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTERED, &reply.base);
    }
    farfan__vehicle_unregister__free_unpacked (body, NULL);
    sis_vehicles_dispatch (self->vehicles, now_us);
    sis_server_check_backpressure (self, now_us);
}

static void
s_handle_ack (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    (void) rpc;
    sis_server_t *self = (sis_server_t *) service;
    Farfan__VehicleAck *body = farfan__vehicle_ack__unpack (
        NULL, ff_msg_body_size (request), ff_msg_body_data (request));
    if (!body) {
        //  One-way: never answered; counted.
        ff_counter_inc (self->acks_malformed);
        ff_log (FF_LOG_DEBUG, ff_msg_peer (request), ff_msg_correlation_id (request),
                "malformed VEHICLE_ACK ignored");
        return;
    }
    uint64_t now_us = ff_clock_mono_us ();
    zframe_t *routing_id = ff_msg_routing_id (request);
    if (routing_id)
        sis_vehicles_ack (self->vehicles, routing_id, body, now_us);
    farfan__vehicle_ack__free_unpacked (body, NULL);
    sis_server_check_backpressure (self, now_us);
}

const ff_rpc_route_t sis_control_routes [] = {
    { FARFAN__MESSAGE_TYPE__SISAS_HEALTH, s_handle_health },
    { FARFAN__MESSAGE_TYPE__SISAS_STATS, s_handle_stats },
    { FARFAN__MESSAGE_TYPE__SISAS_PREDICT, s_handle_predict },
    { FARFAN__MESSAGE_TYPE__SISAS_ROUTE, s_handle_route },
    { FARFAN__MESSAGE_TYPE__SISAS_VEHICLES, s_handle_vehicles },
    { FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE, s_handle_configure },
    { FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER, s_handle_register },
    { FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT, s_handle_heartbeat },
    { FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTER, s_handle_unregister },
    { FARFAN__MESSAGE_TYPE__VEHICLE_ACK, s_handle_ack },
    { 0, NULL },
};
