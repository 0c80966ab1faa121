/*  sis_server — see sis_server.h. The wiring: settings table, creation of
    the modules and sockets, the housekeeping timer, and the control
    signals (THROTTLE, BACKPRESSURE) SISAS publishes. */
#include "sis_server.h"
#include "sis_control.h"
#include "sis_core.h"
#include "sis_ingest.h"
#include "sis_settings.h"
#include "ff_clock.h"
#include "ff_log.h"
#include "ff_signal.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>

#define S_KEY(name, type, field, value, min, max, help) \
    { name, type, offsetof (sis_config_t, field), value, min, max, help }

static const ff_config_key_t s_keys [] = {
    FF_SERVICE_CONFIG_KEYS (sis_config_t, service, "9570"),
    S_KEY ("ingest_endpoint", FF_CONFIG_ENDPOINT, ingest_endpoint, "@tcp://*:5570", 1, 0,
           "signal ingest (SUB) publishers connect to"),
    S_KEY ("publish_endpoint", FF_CONFIG_ENDPOINT, publish_endpoint, "@tcp://*:5571", 1, 0,
           "signal delivery (XPUB) subscribers connect to"),
    S_KEY ("control_endpoint", FF_CONFIG_ENDPOINT, control_endpoint, "@tcp://*:5572", 1, 0,
           "control API (ROUTER) for farfanctl and vehicles"),
    S_KEY ("ingest_burst", FF_CONFIG_INT, ingest_burst, "256", 1, 65536,
           "signals handled per wake-up at most (then the other sockets are served)"),
    S_KEY ("tick_ms", FF_CONFIG_INT, tick_ms, "10", 1, 1000,
           "housekeeping period: fusion windows, storm and backpressure state, vehicle liveness"),
    S_KEY ("control_interval_ms", FF_CONFIG_INT, control_interval_ms, "500", 10, 60000,
           "THROTTLE / BACKPRESSURE are repeated this often while on"),
    S_KEY ("max_sources", FF_CONFIG_INT, max_sources, "4096", 1, 1000000,
           "sources tracked (seq, rate, bucket) at most; more share one untracked entry"),
    S_KEY ("source_idle_ms", FF_CONFIG_INT, source_idle_ms, "60000", 1000, 86400000,
           "a source idle this long may make room for a new one (at least 2 fusion windows)"),
    S_KEY ("fusion_enabled", FF_CONFIG_BOOL, fusion_enabled, "true", 0, 0,
           "fuse signals of one type and subject inside a window"),
    S_KEY ("fusion_window_ms", FF_CONFIG_INT, fusion_window_ms, "1000", 1, 60000,
           "fusion window, from a group's first signal"),
    S_KEY ("fusion_method", FF_CONFIG_STRING, fusion_method, "max", 1, 0,
           "fused confidence: max, or corroborate = 1 - prod(1 - c)"),
    S_KEY ("fusion_max_groups", FF_CONFIG_INT, fusion_max_groups, "16384", 1, 4194304,
           "open fusion groups at most (the oldest closes early for a new one)"),
    S_KEY ("fusion_initial_groups", FF_CONFIG_INT, fusion_initial_groups, "1024", 1, 4194304,
           "fusion table size at start (grows, and is pre-sized from load predictions)"),
    S_KEY ("storm_enabled", FF_CONFIG_BOOL, storm_enabled, "true", 0, 0,
           "detect event storms and shed the noisiest sources' excess"),
    S_KEY ("rate_limit", FF_CONFIG_DOUBLE, rate_limit, "100000", 1, 1e9,
           "signals/s over a sliding second above which a storm begins"),
    S_KEY ("source_rate_limit", FF_CONFIG_DOUBLE, source_rate_limit, "0", 0, 1e9,
           "signals/s each source may send (burst: one second's worth); excess shed as source_rate; 0 = off"),
    S_KEY ("storm_exit_ratio", FF_CONFIG_DOUBLE, storm_exit_ratio, "0.8", 0.01, 1,
           "a storm ends below rate_limit x this ..."),
    S_KEY ("storm_hold_ms", FF_CONFIG_INT, storm_hold_ms, "1000", 0, 600000,
           "... sustained this long"),
    S_KEY ("storm_burst_ms", FF_CONFIG_INT, storm_burst_ms, "100", 1, 10000,
           "per-source bucket burst during a storm, in ms of the fair rate"),
    S_KEY ("backpressure_enabled", FF_CONFIG_BOOL, backpressure_enabled, "true", 0, 0,
           "publish BACKPRESSURE when pending signals pass the threshold"),
    S_KEY ("backpressure_threshold", FF_CONFIG_INT, backpressure_threshold, "1000", 1, 10000000,
           "pending signals at which BACKPRESSURE goes on"),
    S_KEY ("backpressure_exit_ratio", FF_CONFIG_DOUBLE, backpressure_exit_ratio, "0.5", 0.01, 1,
           "BACKPRESSURE goes off below threshold x this"),
    S_KEY ("max_pending", FF_CONFIG_INT, max_pending, "10000", 1, 10000000,
           "hard bound of pending signals: routed signals beyond are shed"),
    S_KEY ("routing_enabled", FF_CONFIG_BOOL, routing_enabled, "true", 0, 0,
           "route signals to registered vehicles"),
    S_KEY ("max_vehicles", FF_CONFIG_INT, max_vehicles, "64", 1, 64,
           "registered vehicles at most"),
    S_KEY ("vehicle_heartbeat_ms", FF_CONFIG_INT, vehicle_heartbeat_ms, "1000", 10, 600000,
           "vehicles send VEHICLE_HEARTBEAT this often"),
    S_KEY ("vehicle_liveness", FF_CONFIG_INT, vehicle_liveness, "3", 1, 100,
           "heartbeats missed before a vehicle is dead"),
    S_KEY ("success_floor", FF_CONFIG_DOUBLE, success_floor, "0.5", 0, 1,
           "a vehicle whose success rate falls below is quarantined"),
    S_KEY ("quarantine_ms", FF_CONFIG_INT, quarantine_ms, "5000", 1, 3600000,
           "quarantine before a vehicle is probed"),
    S_KEY ("min_samples", FF_CONFIG_INT, min_samples, "5", 1, 100000,
           "acknowledgements before the success floor applies"),
    S_KEY ("routing_alpha", FF_CONFIG_DOUBLE, routing_alpha, "0.2", 0.001, 1,
           "EWMA weight of the newest acknowledgement (success rate, latency)"),
    S_KEY ("latency_ref_ms", FF_CONFIG_DOUBLE, latency_ref_ms, "10", 0.001, 1e6,
           "score = success x ref / (ref + latency)"),
    S_KEY ("max_attempts", FF_CONFIG_INT, max_attempts, "3", 1, 64,
           "deliveries of one signal at most (failed acks are retried elsewhere)"),
    S_KEY ("prediction_enabled", FF_CONFIG_BOOL, prediction_enabled, "true", 0, 0,
           "learn per-phase signal counts from phase signals and pre-size fusion"),
    S_KEY ("prediction_alpha", FF_CONFIG_DOUBLE, prediction_alpha, "0.3", 0.001, 1,
           "EWMA weight of the newest run's count"),
    S_KEY ("prediction_max_runs", FF_CONFIG_INT, prediction_max_runs, "64", 1, 100000,
           "(run, phase) pairs observed at once at most"),
};

const ff_config_schema_t sis_config_schema = {
    .program = "farfan-sisas",
    .service = "sisas",
    .summary = "The FARFAN signal bus: validation, fusion, storm protection, backpressure, "
               "routing, load prediction.",
    .keys = s_keys,
    .key_count = sizeof s_keys / sizeof s_keys [0],
};

//  Margin on the predicted concurrent groups when pre-sizing fusion.
#define S_PRESIZE_MARGIN 1.25

//  ---------------------------------------------------------------------
//  Callbacks from the modules

static void
s_fused (const sis_fusion_group_t *group, void *arg)
{
    sis_server_t *self = (sis_server_t *) arg;
    sis_emit_fused (self->emit, group);
}

static void
s_routed (sis_route_outcome_t outcome, void *arg)
{
    (void) outcome;
    sis_server_t *self = (sis_server_t *) arg;
    sis_accounting_delivered (&self->accounting, ff_clock_mono_us ());
    ff_gauge_set (self->accounting.in_flight, (double) sis_vehicles_pending (self->vehicles));
}

//  A phase starts: make room in the fusion table for the groups its
//  predicted load keeps open at once (signals per window, from the
//  predicted count and duration), so the table does not grow mid-phase.
static void
s_phase_started (int phase, const sis_prediction_t *prediction, void *arg)
{
    sis_server_t *self = (sis_server_t *) arg;
    if (prediction->runs == 0 || !self->config.fusion_enabled)
        return;
    double groups = prediction->predicted;
    double window_ms = (double) self->config.fusion_window_ms;
    if (prediction->predicted_duration_ms > window_ms)
        groups *= window_ms / prediction->predicted_duration_ms;
    groups *= S_PRESIZE_MARGIN;
    if (!(groups >= 1))
        groups = 1;
    if (groups > (double) self->config.fusion_max_groups)
        groups = (double) self->config.fusion_max_groups;
    sis_fusion_reserve (self->fusion, (size_t) ceil (groups));
    snprintf (self->presized_for, sizeof self->presized_for, "%s", ff_signal_phase_name (phase));
    self->presized_groups = (uint64_t) ceil (groups);
}

//  ---------------------------------------------------------------------
//  Control signals

void
sis_server_publish_throttle (sis_server_t *self, uint64_t now_us)
{
    sis_storm_stats_t stats;
    sis_storm_stats (self->storm, now_us, &stats);
    sis_source_t *targets [SIS_EMIT_THROTTLE_TARGETS];
    size_t count = sis_storm_throttled (self->storm, now_us, targets, SIS_EMIT_THROTTLE_TARGETS);
    sis_emit_throttle_t throttle = {
        .active = stats.active,
        .rate_limit = self->config.rate_limit,
        .rate = stats.rate,
        .level = stats.level,
        .targets = targets,
        .target_count = count,
    };
    sis_emit_throttle (self->emit, &throttle);
    self->throttle_sent_us = now_us;
    //  Info when a storm begins or ends; the refreshes in between at debug.
    ff_log_level_t level = stats.active != self->storm_logged ? FF_LOG_INFO : FF_LOG_DEBUG;
    self->storm_logged = stats.active;
    if (stats.active)
        ff_log (level, NULL, NULL, "storm: %.0f signals/s over a limit of %.0f: %zu sources "
                "held to %.0f/s", stats.rate, self->config.rate_limit, count, stats.level);
    else
        ff_log (level, NULL, NULL, "storm over: %.0f signals/s", stats.rate);
}

void
sis_server_publish_backpressure (sis_server_t *self, uint64_t now_us)
{
    uint64_t pending = sis_vehicles_pending (self->vehicles);
    sis_emit_backpressure_t backpressure = {
        .active = self->backpressure.active,
        .utilization = sis_backpressure_utilization (&self->backpressure, pending),
        .pending = pending,
        .threshold = (uint64_t) self->config.backpressure_threshold,
        .max_pending = (uint64_t) self->config.max_pending,
    };
    sis_emit_backpressure (self->emit, &backpressure);
    self->backpressure_sent_us = now_us;
}

void
sis_server_check_backpressure (sis_server_t *self, uint64_t now_us)
{
    uint64_t pending = sis_vehicles_pending (self->vehicles);
    if (sis_backpressure_update (&self->backpressure, pending)) {
        sis_server_publish_backpressure (self, now_us);
        ff_log_info ("backpressure %s: %" PRIu64 " pending (threshold %" PRId64 ")",
                     self->backpressure.active ? "on" : "off", pending,
                     self->config.backpressure_threshold);
    }
}

//  Health for /healthz and farfan_health_state: degraded during a storm
//  or backpressure.
static void
s_update_health (sis_server_t *self, uint64_t now_us)
{
    sis_storm_stats_t storm;
    sis_storm_stats (self->storm, now_us, &storm);
    const char *reason = storm.active && self->backpressure.active ? "storm, backpressure"
                       : storm.active ? "storm"
                       : self->backpressure.active ? "backpressure" : NULL;
    ff_health_t wanted = reason ? FF_HEALTH_DEGRADED : FF_HEALTH_HEALTHY;
    ff_health_t current = ff_service_health (self->service);
    if ((current == FF_HEALTH_HEALTHY || current == FF_HEALTH_DEGRADED) && current != wanted)
        ff_service_set_health (self->service, wanted, reason);
}

//  The figures /metrics shows beyond the counters, set from this thread
//  (the HTTP thread reads them atomically).
static void
s_update_gauges (sis_server_t *self, uint64_t now_us)
{
    sis_storm_stats_t storm;
    sis_storm_stats (self->storm, now_us, &storm);
    ff_gauge_set (self->storm_active, storm.active ? 1 : 0);
    ff_gauge_set (self->storm_level, storm.level);
    ff_gauge_set (self->utilization, sis_backpressure_utilization (&self->backpressure,
                  sis_vehicles_pending (self->vehicles)));
    sis_vehicles_stats_t routing;
    sis_vehicles_stats (self->vehicles, &routing);
    ff_gauge_set (self->vehicles_gauge, (double) routing.vehicles);
    sis_fusion_stats_t fusion;
    sis_fusion_stats (self->fusion, &fusion);
    ff_gauge_set (self->open_groups, (double) fusion.open_groups);
    ff_gauge_set (self->mape, sis_predict_mape (self->predict, NULL));
}

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    sis_server_t *self = (sis_server_t *) arg;
    uint64_t now_us = ff_clock_mono_us ();
    sis_fusion_expire (self->fusion, now_us);
    uint64_t interval_us = (uint64_t) self->config.control_interval_ms * 1000;
    bool storm_changed = sis_storm_tick (self->storm, now_us);
    storm_changed = sis_storm_take_change (self->storm) || storm_changed;
    sis_storm_stats_t storm;
    sis_storm_stats (self->storm, now_us, &storm);
    if (storm_changed || (storm.active && now_us - self->throttle_sent_us >= interval_us))
        sis_server_publish_throttle (self, now_us);
    sis_vehicles_tick (self->vehicles, now_us);
    ff_gauge_set (self->accounting.in_flight, (double) sis_vehicles_pending (self->vehicles));
    sis_server_check_backpressure (self, now_us);
    if (self->backpressure.active && now_us - self->backpressure_sent_us >= interval_us)
        sis_server_publish_backpressure (self, now_us);
    s_update_health (self, now_us);
    s_update_gauges (self, now_us);
    return 0;
}

//  Subscriptions arrive on the XPUB as [1|0][topic prefix]; reading them
//  keeps that queue empty and the gauge true.
static int
s_publish_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    sis_server_t *self = (sis_server_t *) arg;
    zframe_t *frame = zframe_recv (reader);
    if (frame && zframe_size (frame) > 0) {
        uint8_t kind = zframe_data (frame) [0];
        if (kind == 1)
            ff_gauge_add (self->subscriptions, 1);
        else
        if (kind == 0)
            ff_gauge_add (self->subscriptions, -1);
    }
    zframe_destroy (&frame);
    return 0;
}

//  ---------------------------------------------------------------------
//  Prometheus gauges computed at scrape time from figures the actor
//  writes (plain loads of aligned words: a scrape may see a figure one
//  update old, never a torn one).

static double
s_reduction (void *arg)
{
    sis_accounting_t *accounting = (sis_accounting_t *) arg;
    uint64_t received = ff_counter_value (accounting->received);
    return received ? (double) ff_counter_value (accounting->absorbed) / (double) received : 0;
}

sis_server_t *
sis_server_new (const sis_config_t *config, char *err, size_t err_size)
{
    if (sis_settings_check (config, err, err_size) != 0)
        return NULL;
    sis_server_t *self = (sis_server_t *) zmalloc (sizeof (sis_server_t));
    self->service = ff_service_new ("sisas", &config->service, err, err_size);
    if (!self->service)
        goto failed;
    ff_service_t *service = self->service;
    ff_metrics_t *metrics = ff_service_metrics (service);
    uint64_t now_us = ff_clock_mono_us ();
    sis_accounting_init (&self->accounting, metrics, now_us);
    self->subscriptions = ff_metrics_gauge (metrics, "farfan_sisas_subscribed_topics",
        "Topic prefixes subscribed on the publish socket", NULL);
    self->acks_malformed = ff_metrics_counter (metrics, "farfan_sisas_acks_malformed_total",
        "VEHICLE_ACK bodies that did not decode (never answered)", NULL);
    self->mape = ff_metrics_gauge (metrics, "farfan_sisas_prediction_mape",
        "Mean absolute percentage error of the per-phase load predictions, percent", NULL);
    self->storm_active = ff_metrics_gauge (metrics, "farfan_sisas_storm_active",
        "1 during an event storm", NULL);
    self->storm_level = ff_metrics_gauge (metrics, "farfan_sisas_storm_level",
        "Fair per-source rate during a storm, signals/s (0 otherwise)", NULL);
    self->utilization = ff_metrics_gauge (metrics, "farfan_sisas_backpressure_utilization",
        "Pending signals / max_pending, percent", NULL);
    self->vehicles_gauge = ff_metrics_gauge (metrics, "farfan_sisas_vehicles",
        "Registered live vehicles", NULL);
    self->open_groups = ff_metrics_gauge (metrics, "farfan_sisas_fusion_open_groups",
        "Fusion groups whose window is open", NULL);
    ff_metrics_gauge_fn (metrics, "farfan_sisas_redundancy_reduction",
        "Signals absorbed by fusion / signals received", NULL, s_reduction, &self->accounting);

    self->ingest = ff_service_socket (service, "ingest", ZMQ_SUB, config->ingest_endpoint,
                                      true, err, err_size);
    if (!self->ingest)
        goto failed;
    zsock_set_subscribe (self->ingest, "");
    self->publish = ff_service_socket (service, "publish", ZMQ_XPUB, config->publish_endpoint,
                                       true, err, err_size);
    if (!self->publish)
        goto failed;
    self->control = ff_service_socket (service, "control", ZMQ_ROUTER,
                                       config->control_endpoint, true, err, err_size);
    if (!self->control)
        goto failed;

    const char *instance_id = ff_service_info (service)->instance_id;
    self->sources = sis_sources_new ((size_t) config->max_sources,
                                     (uint64_t) config->source_idle_ms * 1000);
    if (self->sources)
        sis_sources_set_rate_limit (self->sources, config->source_rate_limit, now_us);
    sis_fusion_method_t method = SIS_FUSION_MAX;
    sis_fusion_method_parse (config->fusion_method, &method);
    self->fusion = sis_fusion_new ((size_t) config->fusion_initial_groups,
                                   (size_t) config->fusion_max_groups,
                                   (uint64_t) config->fusion_window_ms * 1000, method,
                                   s_fused, self);
    sis_storm_config_t storm = { .enabled = false };
    self->storm = self->sources ? sis_storm_new (&storm, self->sources, now_us) : NULL;
    sis_backpressure_config_t backpressure = { .threshold = 1, .max_pending = 1 };
    sis_backpressure_init (&self->backpressure, &backpressure);
    sis_vehicles_config_t routing = { .enabled = false };
    self->vehicles = sis_vehicles_new (&routing, (size_t) config->max_vehicles,
                                       (size_t) config->max_pending,
                                       (uint32_t) config->vehicle_heartbeat_ms,
                                       (uint32_t) config->vehicle_liveness,
                                       self->control, instance_id, s_routed, self);
    self->predict = sis_predict_new (config->prediction_alpha,
                                     (size_t) config->prediction_max_runs,
                                     s_phase_started, self);
    self->emit = self->sources ? sis_emit_new (self->publish, instance_id, self->sources) : NULL;
    if (!self->sources || !self->fusion || !self->storm || !self->vehicles || !self->predict
    ||  !self->emit) {
        snprintf (err, err_size, "sisas: out of memory");
        goto failed;
    }
    sis_settings_apply (self, config, now_us);

    if (!ff_service_serve (service, self->control, "control", sis_control_routes, self)) {
        snprintf (err, err_size, "cannot serve the control socket");
        goto failed;
    }
    zloop_t *loop = ff_service_loop (service);
    self->tick_timer = zloop_timer (loop, (size_t) config->tick_ms, 0, s_tick, self);
    if (zloop_reader (loop, self->ingest, sis_ingest_readable, self) != 0
    ||  zloop_reader (loop, self->publish, s_publish_readable, self) != 0
    ||  self->tick_timer < 0) {
        snprintf (err, err_size, "cannot watch the signal sockets");
        goto failed;
    }
    return self;

failed:
    sis_server_destroy (&self);
    return NULL;
}

void
sis_server_destroy (sis_server_t **self_p)
{
    if (self_p && *self_p) {
        sis_server_t *self = *self_p;
        //  The service first: its HTTP thread reads the metrics, and its
        //  loop holds callbacks into the modules.
        ff_service_destroy (&self->service);
        sis_emit_destroy (&self->emit);
        sis_predict_destroy (&self->predict);
        sis_vehicles_destroy (&self->vehicles);
        sis_storm_destroy (&self->storm);
        sis_fusion_destroy (&self->fusion);
        sis_sources_destroy (&self->sources);
        free (self);
        *self_p = NULL;
    }
}

void
sis_server_actor (zsock_t *pipe, void *args)
{
    sis_server_t *self = (sis_server_t *) args;
    ff_service_run (self->service, pipe);
    sis_server_destroy (&self);
}

static void *
s_daemon_server_new (const void *config, char *err, size_t err_size)
{
    return sis_server_new ((const sis_config_t *) config, err, err_size);
}

const ff_daemon_t sis_daemon = {
    .schema = &sis_config_schema,
    .config_size = sizeof (sis_config_t),
    .common_offset = offsetof (sis_config_t, service),
    .server_new = s_daemon_server_new,
    .actor = sis_server_actor,
};
