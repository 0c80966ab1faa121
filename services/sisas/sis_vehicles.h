/*  sis_vehicles — the vehicle registry and performance-based routing
    (DESIGN.md §5, proto/sisas.md §7).

    A vehicle is a signal carrier: a DEALER on SISAS's control socket that
    registered a name, source-file glob patterns, signal-type globs and a
    capacity (deliveries it may hold unacknowledged). A signal whose
    source matches a vehicle's patterns and whose type matches its types
    (no patterns / no types = any) is routable; it is delivered to the
    best live candidate with free capacity, else queued until one frees.
    The vehicle acknowledges each delivery (ok / failed, latency).

    Scores: per vehicle, an EWMA (weight alpha) of ack outcomes
    (success_rate, ok = 1, failed = 0; starts at 1) and of the delivery →
    ack time (latency_ms, starts at 0); score = success_rate × latency_ref
    / (latency_ref + latency_ms). Candidates are tried in score order
    (ties: fewer in flight, then registration slot).

    Quarantine: once a vehicle has min_samples acks (since it registered
    or left quarantine) and its success rate is under success_floor, it is
    quarantined: no deliveries for quarantine_us; then the next routable
    signal it matches is sent to it as a probe (one at a time). An ok
    probe ends the quarantine (its success rate restarts at 1); a failed
    one starts another quarantine period.

    Failure handling: a failed ack sends the signal to another candidate
    (not the ones tried) until max_attempts deliveries were made; a
    vehicle that dies (no heartbeat or ack for heartbeat_ms × liveness),
    unregisters or registers again has its unacknowledged deliveries
    re-routed, first in the queue. A signal that cannot be delivered any
    more (no matching vehicle left, attempts used up, routing disabled)
    ends as unroutable. Every routed signal ends exactly once, reported
    through the done callback (ok, failed, unroutable).

    The queue is served in order, at most 256 entries per pass (a pass
    runs after every acknowledgement, registration, heartbeat of a blocked
    vehicle and tick), so a long queue for a saturated vehicle can delay
    signals for another vehicle behind it by a pass or more.

    Bounds: max_vehicles ≤ 64 (candidate sets are bitmasks), pending
    (queued + unacknowledged) ≤ max_pending, enforced by the caller
    (sis_backpressure) before sis_vehicles_route. A pending signal is
    copied (inline up to 448 bytes, larger ones on the heap).

    Deliveries go out on the control socket (ROUTER, borrowed) without
    blocking; a vehicle whose queue is full is skipped until it is heard
    again; one that is gone (EHOSTUNREACH) is removed. Not thread-safe.
*/
#ifndef SIS_VEHICLES_H_INCLUDED
#define SIS_VEHICLES_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sisas.pb-c.h"
#include "sis_sources.h"

#define SIS_VEHICLES_MAX 64
#define SIS_VEHICLE_NAME_MAX 128
#define SIS_VEHICLE_GLOBS_MAX 32
#define SIS_VEHICLE_GLOB_MAX 256
#define SIS_VEHICLE_CAPACITY_MAX 10000

typedef struct {
    bool enabled;               // route at all
    double success_floor;       // quarantine below (0..1)
    uint64_t quarantine_us;     // quarantine period
    uint32_t min_samples;       // acks before the floor applies
    double alpha;               // EWMA weight of the newest ack (0..1]
    double latency_ref_ms;      // score's latency scale (> 0)
    uint32_t max_attempts;      // deliveries per signal at most (≥ 1)
} sis_vehicles_config_t;

typedef enum {
    SIS_ROUTE_OK,               // a vehicle acknowledged it ok
    SIS_ROUTE_FAILED,           // the last attempt's vehicle failed it
    SIS_ROUTE_UNROUTABLE,       // no vehicle could take it any more
} sis_route_outcome_t;

//  A routed signal ended (exactly once per signal routed).
typedef void (sis_vehicles_done_fn) (sis_route_outcome_t outcome, void *arg);

typedef struct {
    const char *name;
    char *const *patterns;
    size_t pattern_count;
    char *const *types;
    size_t type_count;
    uint32_t capacity;
    uint32_t in_flight;
    const char *state;          // "live", "quarantined", "probing"
    double success_rate;
    double latency_ms;
    double score;               // 0 while quarantined
    uint64_t delivered;
    uint64_t acked_ok;
    uint64_t acked_failed;
    uint64_t rerouted_away;
    uint64_t heard_ms_ago;
    uint64_t quarantines;
} sis_vehicle_view_t;

typedef struct {
    size_t vehicles;            // registered and live (not expired)
    size_t pending;             // queued + unacknowledged
    size_t queued;              // waiting for a vehicle
    uint64_t routed;            // deliveries sent
    uint64_t acked_ok;
    uint64_t acked_failed;
    uint64_t rerouted;          // deliveries re-queued (dead vehicle, failed ack)
    uint64_t unroutable;
    uint64_t stale_acks;        // acks naming no delivery of that vehicle (late, duplicate, forged)
} sis_vehicles_stats_t;

typedef struct sis_vehicles sis_vehicles_t;

//  sock (the control ROUTER) is borrowed. heartbeat_ms × liveness is the
//  silence after which a vehicle is dead. NULL when out of memory.
sis_vehicles_t *
    sis_vehicles_new (const sis_vehicles_config_t *config, size_t max_vehicles,
                      size_t max_pending, uint32_t heartbeat_ms, uint32_t liveness,
                      zsock_t *sock, const char *sender_id,
                      sis_vehicles_done_fn *done, void *arg);

//  Frees every pending signal without reporting it. Idempotent.
void
    sis_vehicles_destroy (sis_vehicles_t **self_p);

//  The candidate set (bitmask of vehicle slots) for a signal of source
//  (its table entry; name is the signal's source) and type; 0 = not
//  routable. Cached per source and per type until the vehicle set changes.
uint64_t
    sis_vehicles_candidates (sis_vehicles_t *self, sis_source_t *source,
                             const char *name, const char *type);

//  Takes a copy of the signal ([topic][data]) and delivers or queues it.
//  Returns 0 (it is pending now and will end through the done callback),
//  or -1 when no pending slot could be had (out of memory, or
//  max_pending reached: the caller checks the bound first).
int
    sis_vehicles_route (sis_vehicles_t *self, uint64_t candidates,
                        const void *topic, size_t topic_size,
                        const void *data, size_t size, uint64_t now_us);

//  Queued + unacknowledged signals.
size_t
    sis_vehicles_pending (const sis_vehicles_t *self);

//  Control messages. Each returns a Farfan__ErrorCode (0 = OK) and, when
//  not OK, the reason in err. routing_id is the sender's. Register and
//  unregister leave re-routed signals queued: the caller replies first,
//  then calls sis_vehicles_dispatch (a vehicle hears its registration
//  before any delivery).
uint32_t
    sis_vehicles_register (sis_vehicles_t *self, zframe_t *routing_id,
                           const Farfan__VehicleRegister *request, uint64_t now_us,
                           uint32_t *rerouted, char *err, size_t err_size);
uint32_t
    sis_vehicles_heartbeat (sis_vehicles_t *self, zframe_t *routing_id,
                            const char *name, uint64_t now_us, uint32_t *in_flight,
                            char *err, size_t err_size);
uint32_t
    sis_vehicles_unregister (sis_vehicles_t *self, zframe_t *routing_id,
                             const char *name, uint64_t now_us, uint32_t *rerouted,
                             char *err, size_t err_size);

//  Applies acknowledgements from routing_id (one-way: no reply).
void
    sis_vehicles_ack (sis_vehicles_t *self, zframe_t *routing_id,
                      const Farfan__VehicleAck *ack, uint64_t now_us);

//  Dispatches queued signals to vehicles with room.
void
    sis_vehicles_dispatch (sis_vehicles_t *self, uint64_t now_us);

//  Expires dead vehicles, starts probes, dispatches the queue.
void
    sis_vehicles_tick (sis_vehicles_t *self, uint64_t now_us);

//  Vehicles best first into out (at most max); source NULL = every
//  vehicle, else the ones matching source and type (type NULL or "" =
//  any). Views borrow from the registry until the next call that
//  changes it. Returns the count.
size_t
    sis_vehicles_list (sis_vehicles_t *self, uint64_t now_us, const char *source,
                       const char *type, sis_vehicle_view_t *out, size_t max);

void
    sis_vehicles_stats (const sis_vehicles_t *self, sis_vehicles_stats_t *stats);

const sis_vehicles_config_t *
    sis_vehicles_config (const sis_vehicles_t *self);

//  New settings. Disabling ends every queued signal as unroutable
//  (deliveries already at vehicles still wait for their acks).
void
    sis_vehicles_configure (sis_vehicles_t *self, const sis_vehicles_config_t *config,
                            uint64_t now_us);

//  Raises or lowers the pending bound the pool may grow to.
void
    sis_vehicles_set_max_pending (sis_vehicles_t *self, size_t max_pending);

#endif
