/*  sis_core — the state of one SISAS instance, shared by its modules'
    wiring: sis_server (creation, timers, the actor), sis_ingest (the
    per-signal pipeline), sis_control (the control API) and sis_settings
    (configuration at start and at run time). Private to services/sisas.
    Everything here belongs to the SISAS actor's thread.
*/
#ifndef SIS_CORE_H_INCLUDED
#define SIS_CORE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "ff_service.h"
#include "sis_accounting.h"
#include "sis_backpressure.h"
#include "sis_emit.h"
#include "sis_fusion.h"
#include "sis_predict.h"
#include "sis_server.h"
#include "sis_sources.h"
#include "sis_storm.h"
#include "sis_vehicles.h"

struct sis_server {
    ff_service_t *service;          // identity, metrics, HTTP, loop, sockets
    sis_config_t config;            // effective settings (strings borrowed or static)
    zsock_t *ingest;                // SUB, borrowed from service
    zsock_t *publish;               // XPUB, borrowed from service
    zsock_t *control;               // ROUTER, borrowed from service
    sis_accounting_t accounting;    // where every received message ended
    sis_sources_t *sources;         // per-source seq, rate, bucket
    sis_fusion_t *fusion;           // open groups
    sis_storm_t *storm;             // rate, storm state, fair level
    sis_backpressure_t backpressure;// pending bound and BACKPRESSURE state
    sis_vehicles_t *vehicles;       // registry, routing, pending signals
    sis_predict_t *predict;         // per-phase load model
    sis_emit_t *emit;               // FUSED and control signals
    int tick_timer;                 // zloop timer id
    uint64_t throttle_sent_us;      // last THROTTLE (0 = never)
    uint64_t backpressure_sent_us;  // last BACKPRESSURE
    bool storm_logged;              // the storm state last logged at info
    char presized_for [4];          // phase that last sized the fusion table
    uint64_t presized_groups;       // groups it reserved
    ff_gauge_t *subscriptions;      // topic prefixes subscribed on publish
    ff_counter_t *acks_malformed;   // VEHICLE_ACK bodies that did not decode
    ff_gauge_t *mape;               // prediction error, percent (set every tick)
    ff_gauge_t *storm_active;       // 1 during a storm
    ff_gauge_t *storm_level;        // fair per-source rate during a storm
    ff_gauge_t *utilization;        // pending / max_pending, percent
    ff_gauge_t *vehicles_gauge;     // live vehicles
    ff_gauge_t *open_groups;        // open fusion groups
};

//  Publishes THROTTLE / BACKPRESSURE with the current state (sis_server.c).
void
    sis_server_publish_throttle (sis_server_t *self, uint64_t now_us);
void
    sis_server_publish_backpressure (sis_server_t *self, uint64_t now_us);

//  Re-evaluates BACKPRESSURE for the current pending count; publishes on
//  a change (sis_server.c).
void
    sis_server_check_backpressure (sis_server_t *self, uint64_t now_us);

#endif
