/*  orc_registry — see orc_registry.h.

    Two indexes over the same factories: ff_peers_t by instance id (which
    also keeps each one's liveness and routing id) and a hash by routing
    id (hex of the whole frame) for the messages arriving. One zloop
    timer, re-armed for the earliest deadline over all factories (the next
    HEARTBEAT due or the next expiry): none while the registry is empty.
*/
#include "orc_registry.h"
#include "orchestrator.pb-c.h"
#include "ff_clock.h"
#include "ff_heartbeat.h"
#include "ff_log.h"

#include <errno.h>

//  Hex of a routing id (at most 255 bytes) plus NUL.
#define S_ROUTE_KEY_MAX 512

struct orc_factory {
    char *id;                       // instance id, owned
    char *route_key;                // hex of the routing id (by_route key), owned
    char peer [65];                 // printable routing id, for logs
    ff_peer_t *entry;               // the peers table's entry; NULL once the session ended
    uint64_t heard_us;              // last heard (monotonic), kept when the session ends
    bool delimiter;                 // its messages carry the REQ delimiter: ours do too
    Farfan__Capabilities *capabilities;     // owned (unpacked)
    uint32_t heartbeat_ms;          // the factory's own interval (READY)
    uint32_t reported_in_flight;    // its last HEARTBEAT's in_flight
    uint32_t in_flight;             // the engine's count
    uint32_t in_flight_cap;         // the engine's cap (SYNC)
    uint64_t registered_at_us;      // wall clock
    void *user;                     // the engine's, not owned
};

struct orc_registry {
    zloop_t *loop;                  // the service's, borrowed
    ff_rpc_t *rpc;                  // serves the worker socket, borrowed
    zsock_t *sock;                  // the worker ROUTER, borrowed
    const char *instance_id;        // our sender id, borrowed
    orc_registry_options_t options;
    orc_registry_callbacks_t callbacks;
    ff_peers_t *peers;              // instance id -> entry (user = orc_factory_t *)
    zhashx_t *by_route;             // route key -> orc_factory_t * (not owned)
    int timer_id;                   // the pending timer, -1 = none
    ff_gauge_t *registered;         // farfan_factories_registered
    ff_counter_t *registrations;    // farfan_factory_registrations_total
    ff_counter_t *expirations;      // farfan_factory_expirations_total
    ff_counter_t *disconnects;      // farfan_factory_disconnects_total
    ff_counter_t *unknown;          // farfan_worker_unknown_total
    ff_counter_t *unclaimed;        // farfan_worker_replies_unclaimed_total
    ff_counter_t *refused;          // farfan_worker_sends_refused_total
};

static int s_on_timer (zloop_t *loop, int timer_id, void *arg);

const char *
orc_factory_end_name (orc_factory_end_t reason)
{
    switch (reason) {
        case ORC_FACTORY_EXPIRED: return "expired";
        case ORC_FACTORY_DISCONNECTED: return "disconnected";
        case ORC_FACTORY_REPLACED: return "replaced";
        case ORC_FACTORY_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}

//  Hex of the whole routing id into key ("" when there is none).
static void
s_route_key (const zframe_t *routing_id, char key [S_ROUTE_KEY_MAX])
{
    key [0] = '\0';
    if (!routing_id)
        return;
    const byte *data = zframe_data ((zframe_t *) routing_id);
    size_t size = zframe_size ((zframe_t *) routing_id);
    static const char hex [] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < size && 2 * i + 2 < S_ROUTE_KEY_MAX; i++) {
        key [2 * i] = hex [data [i] >> 4];
        key [2 * i + 1] = hex [data [i] & 15];
    }
    key [2 * i] = '\0';
}

static void
s_factory_free (orc_factory_t **self_p)
{
    orc_factory_t *self = *self_p;
    if (!self)
        return;
    if (self->capabilities)
        farfan__capabilities__free_unpacked (self->capabilities, NULL);
    free (self->route_key);
    free (self->id);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Timer

//  Re-arms the one timer for the earliest deadline; none when empty.
//  Only from loop handlers (an ended timer is reaped by the running loop).
static void
s_rearm (orc_registry_t *self, uint64_t now_us)
{
    if (self->timer_id >= 0) {
        zloop_timer_end (self->loop, self->timer_id);
        self->timer_id = -1;
    }
    uint64_t deadline = ff_peers_deadline_us (self->peers);
    if (deadline == UINT64_MAX)
        return;
    uint64_t delay_us = deadline > now_us ? deadline - now_us : 0;
    self->timer_id = zloop_timer (self->loop, (size_t) ((delay_us + 999) / 1000), 1,
                                  s_on_timer, self);
    if (self->timer_id < 0)
        ff_log_error ("worker registry: cannot create a timer: heartbeats stop");
}

//  ---------------------------------------------------------------------
//  Sessions

static int
s_send (orc_registry_t *self, orc_factory_t *factory, uint32_t type,
        const char *correlation_id, const ProtobufCMessage *body)
{
    if (!factory->entry)
        return -1;
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id,
                               .sender_id = self->instance_id };
    if (ff_msg_send (self->sock, (const zframe_t *) factory->entry->routing_id,
                     factory->delimiter, &header, body) == 0)
        return 0;
    ff_counter_inc (self->refused);
    ff_log (FF_LOG_DEBUG, factory->peer, correlation_id, "worker: %s to factory %s not sent: %s",
            ff_msg_type_name (type), factory->id, strerror (errno));
    return -1;
}

//  Ends a session: out of both indexes first (so the callback sees the
//  registry without it), counted, logged, on_expired, freed.
static void
s_end (orc_registry_t *self, orc_factory_t *factory, orc_factory_end_t reason,
       const char *detail, uint64_t now_us)
{
    factory->heard_us = factory->entry->heartbeat.heard_us;
    zhashx_delete (self->by_route, factory->route_key);
    ff_peers_remove (self->peers, factory->id);
    factory->entry = NULL;
    ff_gauge_set (self->registered, (double) ff_peers_size (self->peers));
    unsigned long long silent_ms = (unsigned long long) ((now_us - factory->heard_us) / 1000);
    switch (reason) {
        case ORC_FACTORY_EXPIRED:
            ff_counter_inc (self->expirations);
            ff_log (FF_LOG_INFO, factory->peer, NULL, "factory %s expired: silent for %llu ms "
                    "(heartbeat %llu ms × liveness %u)", factory->id, silent_ms,
                    (unsigned long long) self->options.heartbeat_ms, self->options.liveness);
            break;
        case ORC_FACTORY_DISCONNECTED:
            ff_counter_inc (self->disconnects);
            ff_log (FF_LOG_INFO, factory->peer, NULL, "factory %s disconnected: %s",
                    factory->id, detail);
            break;
        case ORC_FACTORY_REPLACED:
            ff_log (FF_LOG_INFO, factory->peer, NULL, "factory %s: %s; its old connection was "
                    "last heard %llu ms ago", factory->id, detail, silent_ms);
            break;
        case ORC_FACTORY_SHUTDOWN:
            ff_log (FF_LOG_DEBUG, factory->peer, NULL, "factory %s: session closed (shutdown)",
                    factory->id);
            break;
    }
    if (self->callbacks.on_expired)
        self->callbacks.on_expired (self, factory, reason, self->callbacks.arg);
    s_factory_free (&factory);
}

typedef struct {
    orc_factory_t **items;
    size_t count;
    size_t capacity;
    uint64_t now_us;
    bool expired_only;
} s_collect_t;

static void
s_collect (ff_peer_t *peer, void *arg)
{
    s_collect_t *collect = (s_collect_t *) arg;
    if (collect->expired_only && !ff_heartbeat_expired (&peer->heartbeat, collect->now_us))
        return;
    if (collect->count < collect->capacity)
        collect->items [collect->count++] = (orc_factory_t *) peer->user;
}

//  Every factory (or every expired one), collected so that sessions can
//  end while nothing iterates the table. Caller frees the array.
static orc_factory_t **
s_collect_factories (orc_registry_t *self, bool expired_only, uint64_t now_us, size_t *count)
{
    s_collect_t collect = { .capacity = ff_peers_size (self->peers), .now_us = now_us,
                            .expired_only = expired_only };
    collect.items = (orc_factory_t **) calloc (collect.capacity ? collect.capacity : 1,
                                               sizeof (orc_factory_t *));
    if (collect.items)
        ff_peers_foreach (self->peers, s_collect, &collect);
    *count = collect.count;
    return collect.items;
}

static void
s_heartbeat_due (ff_peer_t *peer, void *arg)
{
    orc_registry_t *self = (orc_registry_t *) arg;
    uint64_t now_us = ff_clock_mono_us ();
    if (!ff_heartbeat_send_due (&peer->heartbeat, now_us))
        return;
    s_send (self, (orc_factory_t *) peer->user, FARFAN__MESSAGE_TYPE__HEARTBEAT, NULL, NULL);
    //  Sent or refused, the next try is an interval away: a vanished peer
    //  must not spin the loop until it expires.
    ff_heartbeat_sent (&peer->heartbeat, now_us);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    orc_registry_t *self = (orc_registry_t *) arg;
    if (timer_id != self->timer_id)
        return 0;                   //  ended earlier in this loop pass (zloop still fires it)
    self->timer_id = -1;            //  a one-shot: the loop frees it after this call
    uint64_t now_us = ff_clock_mono_us ();
    size_t count = 0;
    orc_factory_t **expired = s_collect_factories (self, true, now_us, &count);
    for (size_t i = 0; i < count; i++)
        s_end (self, expired [i], ORC_FACTORY_EXPIRED, NULL, now_us);
    free (expired);
    ff_peers_foreach (self->peers, s_heartbeat_due, self);
    s_rearm (self, now_us);
    return 0;
}

//  ---------------------------------------------------------------------
//  Messages

static void
s_welcome (orc_registry_t *self, orc_factory_t *factory, const ff_msg_t *msg,
           bool snapshot_follows, uint64_t now_us)
{
    Farfan__Welcome welcome = FARFAN__WELCOME__INIT;
    welcome.orchestrator_id = (char *) self->instance_id;
    welcome.heartbeat_ms = (uint32_t) self->options.heartbeat_ms;
    welcome.liveness = self->options.liveness;
    welcome.snapshot_follows = snapshot_follows;
    if (ff_rpc_reply (self->rpc, msg, FARFAN__MESSAGE_TYPE__WELCOME, &welcome.base) == 0)
        ff_heartbeat_sent (&factory->entry->heartbeat, now_us);
}

//  Checks a READY; replies the error and returns false when it cannot
//  register anything.
static bool
s_ready_valid (orc_registry_t *self, const ff_msg_t *msg, const Farfan__Ready *ready,
               const char *route_key)
{
    const char *sender = ff_msg_sender_id (msg);
    const char *id = ready->capabilities ? ready->capabilities->factory_id : "";
    uint32_t code = FARFAN__ERROR_CODE__INVALID_ARGUMENT;
    if (!ready->capabilities)
        ff_rpc_reply_error (self->rpc, msg, code, "READY carries no capabilities");
    else
    if (!*id)
        ff_rpc_reply_error (self->rpc, msg, code, "READY capabilities.factory_id is empty: "
                            "a factory registers under its instance id");
    else
    if (strlen (id) > FF_MSG_ID_MAX)
        ff_rpc_reply_error (self->rpc, msg, code, "READY capabilities.factory_id is %zu bytes, "
                            "longer than %d", strlen (id), FF_MSG_ID_MAX);
    else
    if (*sender && !streq (sender, id))
        ff_rpc_reply_error (self->rpc, msg, code, "READY capabilities.factory_id \"%s\" differs "
                            "from the envelope's sender_id \"%s\"", id, sender);
    else
    if (!*route_key)
        ff_rpc_reply_error (self->rpc, msg, code, "READY without a routing id");
    else
        return true;
    return false;
}

static void
s_on_ready (orc_registry_t *self, const ff_msg_t *msg, const char *route_key, uint64_t now_us)
{
    Farfan__Ready *ready = farfan__ready__unpack (NULL, ff_msg_body_size (msg),
                                                  ff_msg_body_data (msg));
    if (!ready) {
        ff_rpc_reply_error (self->rpc, msg, FARFAN__ERROR_CODE__MALFORMED,
                            "READY body is not a valid Ready message");
        return;
    }
    if (!s_ready_valid (self, msg, ready, route_key)) {
        farfan__ready__free_unpacked (ready, NULL);
        return;
    }
    //  The capabilities are kept: taken out of the READY before it is
    //  freed (a submessage is its own allocation).
    Farfan__Capabilities *capabilities = ready->capabilities;
    ready->capabilities = NULL;
    uint32_t heartbeat_ms = ready->heartbeat_ms;
    farfan__ready__free_unpacked (ready, NULL);
    const char *id = capabilities->factory_id;
    orc_factory_t *existing = orc_registry_lookup (self, id);
    orc_factory_t *on_route = (orc_factory_t *) zhashx_lookup (self->by_route, route_key);

    if (existing && existing == on_route) {
        //  A retried READY on the same connection: same session.
        farfan__capabilities__free_unpacked (existing->capabilities, NULL);
        existing->capabilities = capabilities;
        existing->heartbeat_ms = heartbeat_ms;
        existing->reported_in_flight = capabilities->in_flight;
        ff_log (FF_LOG_DEBUG, existing->peer, ff_msg_correlation_id (msg),
                "factory %s: READY again on the same connection", existing->id);
        s_welcome (self, existing, msg, false, now_us);
        return;
    }
    if (!existing && ff_peers_size (self->peers) >= self->options.max_factories
    &&  !on_route) {
        ff_rpc_reply_error (self->rpc, msg, FARFAN__ERROR_CODE__OVERLOADED,
                            "the registry is full (max_factories %zu)", self->options.max_factories);
        farfan__capabilities__free_unpacked (capabilities, NULL);
        return;
    }
    char detail [192];
    if (on_route) {
        //  This connection was registered under another id.
        snprintf (detail, sizeof detail, "its connection registered again as %.64s", id);
        s_end (self, on_route, ORC_FACTORY_REPLACED, detail, now_us);
    }
    bool replaced = existing != NULL;
    if (existing) {
        snprintf (detail, sizeof detail, "re-registered from a new connection (%.20s -> %.20s)",
                  existing->peer, ff_msg_peer (msg));
        s_end (self, existing, ORC_FACTORY_REPLACED, detail, now_us);
    }

    orc_factory_t *factory = (orc_factory_t *) zmalloc (sizeof (orc_factory_t));
    factory->id = strdup (id);
    factory->route_key = strdup (route_key);
    snprintf (factory->peer, sizeof factory->peer, "%s", ff_msg_peer (msg));
    factory->delimiter = ff_msg_has_delimiter (msg);
    factory->capabilities = capabilities;
    factory->heartbeat_ms = heartbeat_ms;
    factory->reported_in_flight = capabilities->in_flight;
    factory->registered_at_us = ff_clock_wall_us ();
    factory->entry = factory->id && factory->route_key
                   ? ff_peers_upsert (self->peers, id, ff_msg_routing_id (msg), now_us) : NULL;
    if (!factory->entry || zhashx_insert (self->by_route, route_key, factory) != 0) {
        if (factory->entry)
            ff_peers_remove (self->peers, id);
        s_factory_free (&factory);
        ff_rpc_reply_error (self->rpc, msg, FARFAN__ERROR_CODE__INTERNAL,
                            "out of memory registering factory");
        return;
    }
    factory->entry->user = factory;
    factory->heard_us = now_us;
    ff_counter_inc (self->registrations);
    ff_gauge_set (self->registered, (double) ff_peers_size (self->peers));
    ff_log (FF_LOG_INFO, factory->peer, ff_msg_correlation_id (msg),
            "factory %s %s: %u/%u contracts active, %u workers, health %s, heartbeat %u ms",
            factory->id, replaced ? "registered again" : "registered",
            capabilities->active_contracts, capabilities->total_contracts,
            capabilities->max_workers, *capabilities->health ? capabilities->health : "?",
            heartbeat_ms);
    bool snapshot_follows = self->callbacks.snapshot_follows
                          && self->callbacks.snapshot_follows (self, factory, self->callbacks.arg);
    s_welcome (self, factory, msg, snapshot_follows, now_us);
    if (self->callbacks.on_ready)
        self->callbacks.on_ready (self, factory, self->callbacks.arg);
    s_rearm (self, now_us);
}

//  Types that answer a request of the orchestrator's: handed to on_reply.
static bool
s_is_reply (uint32_t type)
{
    switch (type) {
        case FARFAN__MESSAGE_TYPE__PONG:
        case FARFAN__MESSAGE_TYPE__ERROR:
        case FARFAN__MESSAGE_TYPE__DOCUMENT_STORED:
        case FARFAN__MESSAGE_TYPE__RESULT:
        case FARFAN__MESSAGE_TYPE__RESULT_BATCH:
        case FARFAN__MESSAGE_TYPE__BATCH_DONE:
        case FARFAN__MESSAGE_TYPE__NEED_DOCUMENT:
        case FARFAN__MESSAGE_TYPE__CAPABILITIES_REPLY:
        case FARFAN__MESSAGE_TYPE__METRICS_REPLY:
        case FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES_REPLY:
        case FARFAN__MESSAGE_TYPE__SYNC_REPLY:
        case FARFAN__MESSAGE_TYPE__PLAN_REPLY:
        case FARFAN__MESSAGE_TYPE__SNAPSHOT_REPLY:
        case FARFAN__MESSAGE_TYPE__RESTORE_REPLY:
        case FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY:
            return true;
        default:
            return false;
    }
}

static void
s_on_heartbeat (orc_registry_t *self, orc_factory_t *factory, const ff_msg_t *msg)
{
    Farfan__Heartbeat *heartbeat = farfan__heartbeat__unpack (NULL, ff_msg_body_size (msg),
                                                              ff_msg_body_data (msg));
    if (!heartbeat) {
        ff_rpc_reply_error (self->rpc, msg, FARFAN__ERROR_CODE__MALFORMED,
                            "HEARTBEAT body is not a valid Heartbeat message");
        return;
    }
    factory->reported_in_flight = heartbeat->in_flight;
    farfan__heartbeat__free_unpacked (heartbeat, NULL);
}

static void
s_on_disconnect (orc_registry_t *self, orc_factory_t *factory, const ff_msg_t *msg,
                 uint64_t now_us)
{
    Farfan__Disconnect *disconnect = farfan__disconnect__unpack (NULL, ff_msg_body_size (msg),
                                                                 ff_msg_body_data (msg));
    char reason [160];
    snprintf (reason, sizeof reason, "%s", !disconnect ? "(undecodable reason)"
                                         : *disconnect->reason ? disconnect->reason
                                         : "no reason given");
    if (disconnect)
        farfan__disconnect__free_unpacked (disconnect, NULL);
    s_end (self, factory, ORC_FACTORY_DISCONNECTED, reason, now_us);
    s_rearm (self, now_us);
}

//  Every message on the worker socket, before the rpc dispatches it.
//  Returns true for what the registry takes (the rpc then neither
//  dispatches nor answers it).
static bool
s_observe (ff_rpc_t *rpc, const ff_msg_t *msg, int decode_rc, void *arg)
{
    (void) rpc;
    orc_registry_t *self = (orc_registry_t *) arg;
    uint64_t now_us = ff_clock_mono_us ();
    char route_key [S_ROUTE_KEY_MAX];
    s_route_key (ff_msg_routing_id (msg), route_key);
    orc_factory_t *factory = *route_key
                           ? (orc_factory_t *) zhashx_lookup (self->by_route, route_key) : NULL;
    if (factory)
        ff_heartbeat_heard (&factory->entry->heartbeat, now_us);
    if (decode_rc != 0)
        return false;               //  the rpc answers MALFORMED / UNSUPPORTED
    uint32_t type = ff_msg_type (msg);
    if (type == FARFAN__MESSAGE_TYPE__READY) {
        s_on_ready (self, msg, route_key, now_us);
        return true;
    }
    if (type == FARFAN__MESSAGE_TYPE__PING)
        return false;
    if (!factory) {
        if (type == FARFAN__MESSAGE_TYPE__DISCONNECT)
            return true;            //  leaving anyway: nothing to say
        //  Only what a factory sends here says "a factory we do not know";
        //  anything else (a client on the wrong socket) gets the rpc's
        //  UNSUPPORTED, which says more.
        bool from_a_factory = type == FARFAN__MESSAGE_TYPE__HEARTBEAT
                           || (s_is_reply (type) && type != FARFAN__MESSAGE_TYPE__PONG)
                           || ff_msg_status_code (msg) != 0;
        if (!from_a_factory)
            return false;
        Farfan__UnknownWorker unknown = FARFAN__UNKNOWN_WORKER__INIT;
        unknown.reason = "this orchestrator has no registration for this connection: send READY";
        ff_counter_inc (self->unknown);
        ff_log (FF_LOG_DEBUG, ff_msg_peer (msg), ff_msg_correlation_id (msg),
                "worker: %s from an unregistered peer (sender %s): UNKNOWN_WORKER",
                ff_msg_type_name (type), ff_msg_sender_id (msg));
        ff_rpc_reply (self->rpc, msg, FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER, &unknown.base);
        return true;
    }
    if (type == FARFAN__MESSAGE_TYPE__HEARTBEAT) {
        s_on_heartbeat (self, factory, msg);
        return true;
    }
    if (type == FARFAN__MESSAGE_TYPE__DISCONNECT) {
        s_on_disconnect (self, factory, msg, now_us);
        return true;
    }
    if (s_is_reply (type) || ff_msg_status_code (msg) != 0) {
        if (self->callbacks.on_reply)
            self->callbacks.on_reply (self, factory, msg, self->callbacks.arg);
        else {
            ff_counter_inc (self->unclaimed);
            ff_log (FF_LOG_DEBUG, factory->peer, ff_msg_correlation_id (msg),
                    "worker: %s from factory %s: nobody waits for it, dropped",
                    ff_msg_type_name (type), factory->id);
        }
        return true;
    }
    return false;                   //  a request: the rpc's routes, or UNSUPPORTED
}

//  ---------------------------------------------------------------------
//  Construction

orc_registry_t *
orc_registry_new (ff_service_t *service, ff_rpc_t *rpc, const orc_registry_options_t *options,
                  const orc_registry_callbacks_t *callbacks, char *err, size_t err_size)
{
    assert (service);
    assert (rpc);
    assert (options);
    if (options->heartbeat_ms == 0 || options->heartbeat_ms > UINT32_MAX
    ||  options->liveness == 0 || options->max_factories == 0) {
        snprintf (err, err_size, "worker registry: heartbeat_ms (1..%u), liveness and "
                  "max_factories must be positive", UINT32_MAX);
        return NULL;
    }
    orc_registry_t *self = (orc_registry_t *) zmalloc (sizeof (orc_registry_t));
    self->loop = ff_service_loop (service);
    self->rpc = rpc;
    self->sock = ff_rpc_socket (rpc);
    self->instance_id = ff_service_info (service)->instance_id;
    self->options = *options;
    orc_registry_set_callbacks (self, callbacks);
    self->timer_id = -1;
    self->peers = ff_peers_new (options->heartbeat_ms, options->liveness);
    self->by_route = zhashx_new ();
    if (!self->peers || !self->by_route) {
        snprintf (err, err_size, "worker registry: out of memory");
        orc_registry_destroy (&self);
        return NULL;
    }
    ff_metrics_t *metrics = ff_service_metrics (service);
    self->registered = ff_metrics_gauge (metrics, "farfan_factories_registered",
        "Factories registered on the worker socket now", NULL);
    self->registrations = ff_metrics_counter (metrics, "farfan_factory_registrations_total",
        "Factory sessions started (first registrations and re-registrations)", NULL);
    self->expirations = ff_metrics_counter (metrics, "farfan_factory_expirations_total",
        "Factory sessions ended because the factory fell silent", NULL);
    self->disconnects = ff_metrics_counter (metrics, "farfan_factory_disconnects_total",
        "Factory sessions ended by the factory's DISCONNECT", NULL);
    self->unknown = ff_metrics_counter (metrics, "farfan_worker_unknown_total",
        "UNKNOWN_WORKER replies sent to unregistered peers", NULL);
    self->unclaimed = ff_metrics_counter (metrics, "farfan_worker_replies_unclaimed_total",
        "Replies from factories nobody was waiting for, dropped", NULL);
    self->refused = ff_metrics_counter (metrics, "farfan_worker_sends_refused_total",
        "Messages to factories the worker socket refused (peer gone or saturated)", NULL);
    ff_gauge_set (self->registered, 0);
    ff_rpc_set_observer (rpc, s_observe, self);
    return self;
}

void
orc_registry_destroy (orc_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    orc_registry_t *self = *self_p;
    if (self->peers) {
        uint64_t now_us = ff_clock_mono_us ();
        size_t count = 0;
        orc_factory_t **all = s_collect_factories (self, false, now_us, &count);
        if (count > 0) {
            //  The DISCONNECTs get one interval to leave (never more than
            //  that: the socket's linger).
            zsock_set_linger (self->sock, (int) (self->options.heartbeat_ms < INT32_MAX
                                                 ? self->options.heartbeat_ms : INT32_MAX));
        }
        Farfan__Disconnect disconnect = FARFAN__DISCONNECT__INIT;
        disconnect.reason = "orchestrator shutting down";
        for (size_t i = 0; i < count; i++) {
            s_send (self, all [i], FARFAN__MESSAGE_TYPE__DISCONNECT, NULL, &disconnect.base);
            s_end (self, all [i], ORC_FACTORY_SHUTDOWN, NULL, now_us);
        }
        free (all);
    }
    ff_rpc_set_observer (self->rpc, NULL, NULL);
    zhashx_destroy (&self->by_route);
    ff_peers_destroy (&self->peers);
    free (self);
    *self_p = NULL;
}

void
orc_registry_set_callbacks (orc_registry_t *self, const orc_registry_callbacks_t *callbacks)
{
    assert (self);
    if (callbacks)
        self->callbacks = *callbacks;
    else
        memset (&self->callbacks, 0, sizeof self->callbacks);
}

int
orc_registry_send (orc_registry_t *self, orc_factory_t *factory, uint32_t type,
                   const char *correlation_id, const ProtobufCMessage *body)
{
    assert (self);
    assert (factory);
    if (s_send (self, factory, type, correlation_id, body) != 0)
        return -1;
    ff_heartbeat_sent (&factory->entry->heartbeat, ff_clock_mono_us ());
    return 0;
}

orc_factory_t *
orc_registry_lookup (orc_registry_t *self, const char *instance_id)
{
    assert (self);
    ff_peer_t *entry = ff_peers_lookup (self->peers, instance_id);
    return entry ? (orc_factory_t *) entry->user : NULL;
}

size_t
orc_registry_size (orc_registry_t *self)
{
    assert (self);
    return ff_peers_size (self->peers);
}

typedef struct {
    orc_registry_fn *fn;
    void *arg;
} s_foreach_t;

static void
s_foreach (ff_peer_t *peer, void *arg)
{
    s_foreach_t *foreach = (s_foreach_t *) arg;
    foreach->fn ((orc_factory_t *) peer->user, foreach->arg);
}

void
orc_registry_foreach (orc_registry_t *self, orc_registry_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    s_foreach_t foreach = { fn, arg };
    ff_peers_foreach (self->peers, s_foreach, &foreach);
}

uint64_t
orc_registry_heartbeat_ms (orc_registry_t *self)
{
    assert (self);
    return self->options.heartbeat_ms;
}

uint32_t
orc_registry_liveness (orc_registry_t *self)
{
    assert (self);
    return self->options.liveness;
}

//  ---------------------------------------------------------------------
//  Factory accessors

const char *
orc_factory_id (const orc_factory_t *self)
{
    return self->id;
}

const Farfan__Capabilities *
orc_factory_capabilities (const orc_factory_t *self)
{
    return self->capabilities;
}

void
orc_factory_set_capabilities (orc_factory_t *self, Farfan__Capabilities **capabilities_p)
{
    assert (capabilities_p && *capabilities_p);
    if (self->capabilities)
        farfan__capabilities__free_unpacked (self->capabilities, NULL);
    self->capabilities = *capabilities_p;
    *capabilities_p = NULL;
}

uint32_t
orc_factory_heartbeat_ms (const orc_factory_t *self)
{
    return self->heartbeat_ms;
}

uint32_t
orc_factory_reported_in_flight (const orc_factory_t *self)
{
    return self->reported_in_flight;
}

uint32_t
orc_factory_in_flight (const orc_factory_t *self)
{
    return self->in_flight;
}

void
orc_factory_set_in_flight (orc_factory_t *self, uint32_t in_flight)
{
    self->in_flight = in_flight;
}

uint32_t
orc_factory_in_flight_cap (const orc_factory_t *self)
{
    return self->in_flight_cap;
}

void
orc_factory_set_in_flight_cap (orc_factory_t *self, uint32_t cap)
{
    self->in_flight_cap = cap;
}

uint64_t
orc_factory_registered_at_us (const orc_factory_t *self)
{
    return self->registered_at_us;
}

uint64_t
orc_factory_last_heard_us (const orc_factory_t *self)
{
    uint64_t heard = self->entry ? self->entry->heartbeat.heard_us : self->heard_us;
    uint64_t now_mono = ff_clock_mono_us ();
    uint64_t ago = now_mono > heard ? now_mono - heard : 0;
    return ff_clock_wall_us () - ago;
}

void *
orc_factory_user (const orc_factory_t *self)
{
    return self->user;
}

void
orc_factory_set_user (orc_factory_t *self, void *user)
{
    self->user = user;
}

const char *
orc_factory_peer (const orc_factory_t *self)
{
    return self->peer;
}
