/*  fac_link — the factory's side of the worker protocol: registration
    with the orchestrator and heartbeats over the DEALER link
    (proto/PROTOCOL.md, "Worker API"; Paranoid Pirate / Majordomo).

    States:
      unregistered   READY (capabilities, heartbeat_ms) goes out at once and
                     is retried with exponential backoff (reconnect_ms
                     doubling up to reconnect_max_ms) until WELCOME arrives.
      registered     HEARTBEAT (in_flight) goes out every interval; any
                     message from the orchestrator counts as its heartbeat.
                     The interval and liveness are the ones WELCOME names
                     (both sides then expect traffic that often). Back to
                     unregistered when the orchestrator has been silent for
                     interval × liveness (READY at once), answers
                     UNKNOWN_WORKER (READY at once) or sends DISCONNECT
                     (READY after the backoff delay).
    HEARTBEAT from the orchestrator is never answered. Requests the
    orchestrator sends over the link (SYNC, EXECUTE...) are left to the
    link's rpc, which serves them with the factory's routes in any state.

    The link socket is given to fac_link_new unattached: the reconnect
    interval (ZMQ_RECONNECT_IVL / _MAX = reconnect_ms / reconnect_max_ms)
    and ZMQ_IMMEDIATE=1 (nothing is queued towards an orchestrator that is
    not connected; such sends fail and are counted) only apply to
    connections made after they are set, so fac_link_new sets them and
    then attaches the socket to its endpoints.

    Everything runs in the service's loop thread: the link observes the
    rpc (ff_rpc_set_observer) and keeps one zloop timer.

    Metrics:
      farfan_orchestrator_link_state             0 unregistered, 1 registered
      farfan_orchestrator_registrations_total    WELCOMEs that registered the factory
      farfan_orchestrator_link_lost_total        registered -> unregistered transitions
      farfan_orchestrator_link_sends_refused_total
                                                 READY / HEARTBEAT / DISCONNECT the
                                                 socket refused (no connection)
    Logs at info: registration, loss of the orchestrator (and why),
    re-registration; nothing per heartbeat.
*/
#ifndef FAC_LINK_H_INCLUDED
#define FAC_LINK_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "factory.pb-c.h"
#include "ff_rpc.h"
#include "ff_service.h"

typedef struct fac_link fac_link_t;

typedef enum {
    FAC_LINK_UNREGISTERED = 0,
    FAC_LINK_REGISTERED = 1,
} fac_link_state_t;

//  Fills caps (initialized by the callee) for a READY.
typedef void (fac_link_capabilities_fn) (Farfan__Capabilities *caps, void *arg);
//  Frees what fac_link_capabilities_fn put in caps (not caps itself).
typedef void (fac_link_capabilities_free_fn) (Farfan__Capabilities *caps, void *arg);
//  Contracts the factory is running now (HEARTBEAT.in_flight).
typedef uint32_t (fac_link_in_flight_fn) (void *arg);

typedef struct {
    uint64_t heartbeat_ms;          // interval before WELCOME names one (> 0)
    uint32_t liveness;              // missed intervals before the orchestrator is given up (≥ 1)
    uint64_t reconnect_ms;          // first READY retry / ZMQ reconnect delay (> 0)
    uint64_t reconnect_max_ms;      // cap of both (≥ reconnect_ms)
    fac_link_capabilities_fn *capabilities;             // required
    fac_link_capabilities_free_fn *capabilities_free;   // NULL = nothing to free
    fac_link_in_flight_fn *in_flight;   // NULL: the value given to fac_link_set_in_flight
    void *arg;                      // passed to the three callbacks
} fac_link_options_t;

//  Sets the link options on the socket rpc serves (a DEALER, not yet
//  attached), attaches it to endpoints (CZMQ syntax; no prefix =
//  connect), observes rpc and schedules the first READY for when the
//  service's loop runs. service, rpc and the callbacks' arg are borrowed
//  and must outlive the link. Returns NULL with the reason in err (bad
//  options, an endpoint that cannot be attached).
fac_link_t *
    fac_link_new (ff_service_t *service, ff_rpc_t *rpc, const char *endpoints,
                  const fac_link_options_t *options, char *err, size_t err_size);

//  Sends DISCONNECT (best effort: never blocks; the socket is given one
//  heartbeat interval of linger to deliver it), stops observing the rpc
//  and frees the link; nulls *self_p. Idempotent. Call once the service's
//  loop has stopped for good: the link's timer is left to the loop, which
//  must be destroyed after the link without running again.
void
    fac_link_destroy (fac_link_t **self_p);

fac_link_state_t
    fac_link_state (fac_link_t *self);

//  Instance id of the orchestrator that welcomed the factory last; ""
//  before any WELCOME. Borrowed.
const char *
    fac_link_orchestrator_id (fac_link_t *self);

//  The in-flight count heartbeats report when options.in_flight is NULL.
void
    fac_link_set_in_flight (fac_link_t *self, uint32_t in_flight);

#endif
