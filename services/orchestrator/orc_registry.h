/*  orc_registry — the orchestrator's side of the worker protocol: the
    registry of factories on the worker socket (proto/PROTOCOL.md,
    "Worker API"; Majordomo / Paranoid Pirate).

    Factories are keyed by their instance id (Capabilities.factory_id),
    never by address: `docker compose --scale factory=N` replicas are
    interchangeable. Each registration is a session bound to one
    connection (ROUTER routing id):
      READY from a new instance id      registers it: WELCOME, on_ready.
      READY from a registered id, same connection
                                        a retried READY: capabilities
                                        refreshed, WELCOME again, no callback.
      READY from a registered id, another connection
                                        the factory reconnected (or restarted
                                        with the same id): the old session
                                        ends (on_expired, REPLACED), a new one
                                        starts (WELCOME, on_ready). One entry.
      any message from a registered connection
                                        marks the factory heard.
      HEARTBEAT                         keeps its in_flight figure; no reply.
      DISCONNECT                        the session ends at once
                                        (on_expired, DISCONNECTED).
      silence for interval × liveness   the session ends (on_expired, EXPIRED).
      replies (RESULT, BATCH_DONE, SYNC_REPLY, PLAN_REPLY, DOCUMENT_STORED,
      NEED_DOCUMENT, PUT_CONTRACTS_REPLY, SNAPSHOT_REPLY, RESTORE_REPLY,
      CAPABILITIES_REPLY, METRICS_REPLY, OPTIMIZE_CACHES_REPLY, PONG,
      ERROR)                            go to on_reply.
      HEARTBEAT, a reply (but PONG) or ERROR from an unknown connection
                                        is answered UNKNOWN_WORKER (a factory
                                        the registry does not know: it sends
                                        READY again); DISCONNECT from one is
                                        dropped unanswered.
    PING is answered PONG by the rpc; malformed input gets the rpc's
    MALFORMED / UNSUPPORTED replies and counters; any other type (from a
    registered factory or not) goes on to the rpc's routes, which answer
    UNSUPPORTED for what the worker socket does not serve.

    The registry sends HEARTBEAT to every factory it has sent nothing to
    for an interval. Everything runs in the service's loop thread (the
    rpc's observer and one zloop timer); callbacks run there too, may send
    (orc_registry_send), look up and iterate, and must not destroy the
    registry. A factory passed to on_expired is already out of the table
    (lookups and iteration no longer find it) and is freed when the
    callback returns.

    Metrics:
      farfan_factories_registered              gauge
      farfan_factory_registrations_total       sessions started (first and re-registrations)
      farfan_factory_expirations_total         sessions ended by silence
      farfan_factory_disconnects_total         sessions ended by DISCONNECT
      farfan_worker_unknown_total              UNKNOWN_WORKER replies sent
      farfan_worker_replies_unclaimed_total    replies with no on_reply to take them
      farfan_worker_sends_refused_total        messages to factories the socket refused
    Logs at info: registration, re-registration, expiry (with how long the
    factory was silent), disconnect; nothing per heartbeat.
*/
#ifndef ORC_REGISTRY_H_INCLUDED
#define ORC_REGISTRY_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "factory.pb-c.h"
#include "ff_msg.h"
#include "ff_rpc.h"
#include "ff_service.h"

typedef struct orc_registry orc_registry_t;
typedef struct orc_factory orc_factory_t;

//  Why a session ended.
typedef enum {
    ORC_FACTORY_EXPIRED = 0,        // silent for interval × liveness
    ORC_FACTORY_DISCONNECTED = 1,   // it sent DISCONNECT
    ORC_FACTORY_REPLACED = 2,       // READY with its id came from another connection
    ORC_FACTORY_SHUTDOWN = 3,       // the registry is being destroyed
} orc_factory_end_t;

typedef struct {
    //  A session started; WELCOME is already sent.
    void (*on_ready) (orc_registry_t *registry, orc_factory_t *factory, void *arg);
    //  A session ended: re-dispatch its in-flight work, free its user data.
    void (*on_expired) (orc_registry_t *registry, orc_factory_t *factory,
                        orc_factory_end_t reason, void *arg);
    //  A reply from a registered factory (msg borrowed for the call).
    void (*on_reply) (orc_registry_t *registry, orc_factory_t *factory,
                      const ff_msg_t *msg, void *arg);
    //  Asked before each WELCOME of a new session: true when a RESTORE
    //  with the factory's last snapshot will follow (WELCOME says so).
    bool (*snapshot_follows) (orc_registry_t *registry, orc_factory_t *factory, void *arg);
    void *arg;
} orc_registry_callbacks_t;

typedef struct {
    uint64_t heartbeat_ms;          // interval both sides expect traffic at (> 0)
    uint32_t liveness;              // missed intervals before a factory expires (≥ 1)
    size_t max_factories;           // READY beyond this is refused OVERLOADED (> 0)
} orc_registry_options_t;

//  Observes rpc (the worker socket's, served by the service) and keeps one
//  timer in the service's loop. callbacks may be NULL, and any of its
//  functions may be NULL (an unclaimed reply is counted and dropped).
//  service and rpc are borrowed and must outlive the registry. NULL with
//  the reason in err when the options are invalid.
orc_registry_t *
    orc_registry_new (ff_service_t *service, ff_rpc_t *rpc,
                      const orc_registry_options_t *options,
                      const orc_registry_callbacks_t *callbacks,
                      char *err, size_t err_size);

//  Sends DISCONNECT to every factory (best effort, never blocks), ends
//  every session (on_expired, SHUTDOWN), stops observing the rpc; nulls
//  *self_p. Idempotent. Call once the loop has stopped for good: the
//  registry's timer is left to the loop, which must be destroyed after it
//  without running again.
void
    orc_registry_destroy (orc_registry_t **self_p);

//  Replaces the callbacks (NULL = none).
void
    orc_registry_set_callbacks (orc_registry_t *self, const orc_registry_callbacks_t *callbacks);

//  Sends a message of `type` with body (NULL = empty) to the factory,
//  without blocking; sender id is the orchestrator's instance id.
//  Returns 0 (sent: counts as a heartbeat to that factory), or -1 when the
//  socket refused it (gone, or its queue is full: counted).
int
    orc_registry_send (orc_registry_t *self, orc_factory_t *factory, uint32_t type,
                       const char *correlation_id, const ProtobufCMessage *body);

//  The registered factory with this instance id, or NULL.
orc_factory_t *
    orc_registry_lookup (orc_registry_t *self, const char *instance_id);

//  Registered factories.
size_t
    orc_registry_size (orc_registry_t *self);

//  Calls fn for every registered factory (any order). fn may send but
//  must not make a factory end.
typedef void (orc_registry_fn) (orc_factory_t *factory, void *arg);
void
    orc_registry_foreach (orc_registry_t *self, orc_registry_fn *fn, void *arg);

uint64_t
    orc_registry_heartbeat_ms (orc_registry_t *self);
uint32_t
    orc_registry_liveness (orc_registry_t *self);

//  "expired", "disconnected", "replaced", "shutdown".
const char *
    orc_factory_end_name (orc_factory_end_t reason);

//  ---------------------------------------------------------------------
//  One registered factory (valid while registered; see on_expired).

//  Instance id. Borrowed.
const char *
    orc_factory_id (const orc_factory_t *self);
//  As its last READY said them. Borrowed.
const Farfan__Capabilities *
    orc_factory_capabilities (const orc_factory_t *self);
//  Replaces the capabilities (e.g. from a CAPABILITIES_REPLY): takes
//  ownership of *capabilities_p (unpacked with the default allocator)
//  and nulls it.
void
    orc_factory_set_capabilities (orc_factory_t *self, Farfan__Capabilities **capabilities_p);
//  The factory's own heartbeat interval (READY), for information.
uint32_t
    orc_factory_heartbeat_ms (const orc_factory_t *self);
//  Contracts the factory said it runs, in its last HEARTBEAT (or READY).
uint32_t
    orc_factory_reported_in_flight (const orc_factory_t *self);
//  Contracts the orchestrator has out there: kept by the engine.
uint32_t
    orc_factory_in_flight (const orc_factory_t *self);
void
    orc_factory_set_in_flight (orc_factory_t *self, uint32_t in_flight);
//  Most the engine may have out there (agreed in SYNC); 0 until set.
uint32_t
    orc_factory_in_flight_cap (const orc_factory_t *self);
void
    orc_factory_set_in_flight_cap (orc_factory_t *self, uint32_t cap);
//  Wall clock, µs since the epoch.
uint64_t
    orc_factory_registered_at_us (const orc_factory_t *self);
uint64_t
    orc_factory_last_heard_us (const orc_factory_t *self);
//  The engine's per-factory data (not owned).
void *
    orc_factory_user (const orc_factory_t *self);
void
    orc_factory_set_user (orc_factory_t *self, void *user);
//  Printable routing id of its connection (logs). Borrowed.
const char *
    orc_factory_peer (const orc_factory_t *self);

#endif
