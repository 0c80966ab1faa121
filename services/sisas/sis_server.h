/*  sis_server — the farfan-sisas daemon: the signal bus (DESIGN.md §5,
    proto/sisas.md).

    Sockets (DESIGN.md §1):
      ingest    SUB,    default @tcp://0.0.0.0:5570   publishers PUB-connect here
      publish   XPUB,   default @tcp://0.0.0.0:5571   subscribers SUB-connect here
      control   ROUTER, default @tcp://0.0.0.0:5572   control API, vehicles
    plus HTTP /metrics and /healthz on port 9570.

    Every signal read on ingest goes through one pipeline (sis_ingest):
    validation (an invalid one is counted by reason and never delivered),
    per-source sequence check, storm protection, fusion, routing with the
    pending bound, delivery on publish. Control signals (THROTTLE,
    BACKPRESSURE) and FUSED updates go out on publish too. The control
    socket answers HEALTH, STATS, PREDICT, ROUTE, VEHICLES, CONFIGURE and
    PING, and speaks the vehicle protocol (sis_control). After every
    message, received = delivered + absorbed + shed + rejected + in flight
    exactly (sis_accounting).

    Every feature is enabled and tuned by the settings below (flags,
    FARFAN_SISAS_* environment, config file: ff_config), and at run time
    by CONFIGURE (sis_settings says which keys may change).

    Actor: sis_server_new binds everything, sis_server_actor runs it and
    owns it from then on; it answers the ff_service pipe commands
    (ENDPOINT ingest|publish|control, HTTP_PORT, $TERM).
*/
#ifndef SIS_SERVER_H_INCLUDED
#define SIS_SERVER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "ff_config.h"
#include "ff_daemon.h"
#include "ff_service.h"

typedef struct {
    ff_service_config_t service;    // settings every service has
    char *ingest_endpoint;          // SUB publishers connect to
    char *publish_endpoint;         // XPUB subscribers connect to
    char *control_endpoint;         // control API (ROUTER)
    int64_t ingest_burst;           // signals handled per wake-up at most
    int64_t tick_ms;                // housekeeping period
    int64_t control_interval_ms;    // THROTTLE / BACKPRESSURE repeated this often while on
    int64_t max_sources;            // sources tracked at most
    int64_t source_idle_ms;         // a source idle this long may be evicted for a new one
    bool fusion_enabled;
    int64_t fusion_window_ms;
    char *fusion_method;            // "max" or "corroborate"
    int64_t fusion_max_groups;
    int64_t fusion_initial_groups;
    bool storm_enabled;
    double rate_limit;              // signals/s
    double source_rate_limit;       // signals/s per source, excess shed ("source_rate"); 0 = off
    double storm_exit_ratio;
    int64_t storm_hold_ms;
    int64_t storm_burst_ms;
    bool backpressure_enabled;
    int64_t backpressure_threshold;
    double backpressure_exit_ratio;
    int64_t max_pending;
    bool routing_enabled;
    int64_t max_vehicles;
    int64_t vehicle_heartbeat_ms;
    int64_t vehicle_liveness;
    double success_floor;
    int64_t quarantine_ms;
    int64_t min_samples;
    double routing_alpha;
    double latency_ref_ms;
    int64_t max_attempts;
    bool prediction_enabled;
    double prediction_alpha;
    int64_t prediction_max_runs;
} sis_config_t;

extern const ff_config_schema_t sis_config_schema;

typedef struct sis_server sis_server_t;

//  NULL with the reason in err.
sis_server_t *
    sis_server_new (const sis_config_t *config, char *err, size_t err_size);

//  Idempotent; nulls *self_p.
void
    sis_server_destroy (sis_server_t **self_p);

//  zactor function; args is a sis_server_t * owned by the actor from now.
void
    sis_server_actor (zsock_t *pipe, void *args);

//  The daemon: settings, server and actor, for ff_daemon_main (main.c) and
//  for whatever runs the service in-process (tests, fuzzers).
extern const ff_daemon_t sis_daemon;

#endif
