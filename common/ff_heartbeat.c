/*  ff_heartbeat — see ff_heartbeat.h.

    Instants are compared with ≥: a heartbeat is due at exactly sent +
    interval and a peer has expired at exactly heard + interval × liveness,
    so a poll that wakes at ff_heartbeat_deadline_us always finds work.
    Sums saturate at UINT64_MAX (an absurd interval never wraps around).
*/
#include "ff_heartbeat.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t
s_add (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static inline uint64_t
s_mul (uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

//  Liveness 0 would mean "expired as soon as created": taken as 1.
void
ff_heartbeat_init (ff_heartbeat_t *self, uint64_t interval_ms,
                   uint32_t liveness, uint64_t now_us)
{
    self->interval_us = s_mul (interval_ms, 1000);
    self->liveness = liveness ? liveness : 1;
    self->heard_us = now_us;
    self->sent_us = now_us;
}

void
ff_heartbeat_heard (ff_heartbeat_t *self, uint64_t now_us)
{
    if (now_us > self->heard_us)
        self->heard_us = now_us;
}

void
ff_heartbeat_sent (ff_heartbeat_t *self, uint64_t now_us)
{
    if (now_us > self->sent_us)
        self->sent_us = now_us;
}

bool
ff_heartbeat_send_due (const ff_heartbeat_t *self, uint64_t now_us)
{
    return now_us >= s_add (self->sent_us, self->interval_us);
}

static uint64_t
s_expiry_us (const ff_heartbeat_t *self)
{
    return s_add (self->heard_us, s_mul (self->interval_us, self->liveness));
}

bool
ff_heartbeat_expired (const ff_heartbeat_t *self, uint64_t now_us)
{
    return now_us >= s_expiry_us (self);
}

uint64_t
ff_heartbeat_deadline_us (const ff_heartbeat_t *self)
{
    uint64_t send_at = s_add (self->sent_us, self->interval_us);
    uint64_t expire_at = s_expiry_us (self);
    return send_at < expire_at ? send_at : expire_at;
}

//  ---------------------------------------------------------------------
//  Backoff. A max below initial caps initial too.

void
ff_backoff_init (ff_backoff_t *self, uint64_t initial_ms, uint64_t max_ms)
{
    self->initial_ms = initial_ms;
    self->max_ms = max_ms;
    ff_backoff_reset (self);
}

uint64_t
ff_backoff_next_ms (ff_backoff_t *self)
{
    uint64_t delay = self->next_ms;
    uint64_t doubled = s_mul (delay, 2);
    self->next_ms = doubled < self->max_ms ? doubled : self->max_ms;
    return delay;
}

void
ff_backoff_reset (ff_backoff_t *self)
{
    self->next_ms = self->initial_ms < self->max_ms
                  ? self->initial_ms : self->max_ms;
}

//  ---------------------------------------------------------------------
//  Peers: a zhashx from id (the table's own copy of the key) to an
//  ff_peer_t that owns a second copy of the id and the routing frame.

struct ff_peers {
    zhashx_t *peers;            // id → ff_peer_t *, destroyed with the table
    uint64_t interval_ms;       // heartbeat period of every peer
    uint32_t liveness;          // missed periods before a peer expires
};

static void
s_peer_destroy (void **item_p)
{
    ff_peer_t *peer = (ff_peer_t *) *item_p;
    if (peer) {
        free ((char *) peer->id);
        zframe_t *routing_id = (zframe_t *) peer->routing_id;
        zframe_destroy (&routing_id);
        free (peer);
        *item_p = NULL;
    }
}

ff_peers_t *
ff_peers_new (uint64_t interval_ms, uint32_t liveness)
{
    ff_peers_t *self = (ff_peers_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->peers = zhashx_new ();
    if (!self->peers) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->peers, s_peer_destroy);
    self->interval_ms = interval_ms;
    self->liveness = liveness;
    return self;
}

void
ff_peers_destroy (ff_peers_t **self_p)
{
    if (self_p && *self_p) {
        ff_peers_t *self = *self_p;
        zhashx_destroy (&self->peers);
        free (self);
        *self_p = NULL;
    }
}

//  Replaces peer's routing id by a copy of routing_id (NULL clears it);
//  an equal frame is kept as is. 0, or -1 when out of memory (unchanged).
static int
s_peer_set_routing_id (ff_peer_t *peer, const void *routing_id)
{
    zframe_t *current = (zframe_t *) peer->routing_id;
    zframe_t *wanted = (zframe_t *) routing_id;
    if (current && wanted && zframe_eq (current, wanted))
        return 0;
    zframe_t *copy = NULL;
    if (wanted) {
        copy = zframe_dup (wanted);
        if (!copy)
            return -1;
    }
    zframe_destroy (&current);
    peer->routing_id = copy;
    return 0;
}

ff_peer_t *
ff_peers_upsert (ff_peers_t *self, const char *id, const void *routing_id,
                 uint64_t now_us)
{
    assert (self);
    assert (id);
    ff_peer_t *peer = (ff_peer_t *) zhashx_lookup (self->peers, id);
    if (peer) {
        ff_heartbeat_heard (&peer->heartbeat, now_us);
        if (s_peer_set_routing_id (peer, routing_id) != 0)
            return NULL;
        return peer;
    }
    peer = (ff_peer_t *) calloc (1, sizeof *peer);
    if (!peer)
        goto failed;
    peer->id = strdup (id);
    if (!peer->id)
        goto failed;
    if (s_peer_set_routing_id (peer, routing_id) != 0)
        goto failed;
    ff_heartbeat_init (&peer->heartbeat, self->interval_ms, self->liveness, now_us);
    if (zhashx_insert (self->peers, id, peer) != 0)
        goto failed;
    return peer;

failed:
    {
        void *item = peer;
        s_peer_destroy (&item);
    }
    return NULL;
}

ff_peer_t *
ff_peers_lookup (ff_peers_t *self, const char *id)
{
    assert (self);
    return id ? (ff_peer_t *) zhashx_lookup (self->peers, id) : NULL;
}

int
ff_peers_remove (ff_peers_t *self, const char *id)
{
    assert (self);
    if (!id || !zhashx_lookup (self->peers, id))
        return -1;
    zhashx_delete (self->peers, id);
    return 0;
}

size_t
ff_peers_size (ff_peers_t *self)
{
    assert (self);
    return zhashx_size (self->peers);
}

//  The table must not change while zhashx iterates: collect a batch of
//  expired peers, then call back and delete them, and scan again while
//  batches come back full. No allocation.
size_t
ff_peers_expire (ff_peers_t *self, uint64_t now_us, ff_peers_fn *fn, void *arg)
{
    assert (self);
    size_t removed = 0;
    while (true) {
        ff_peer_t *batch [64];
        size_t count = 0;
        for (ff_peer_t *peer = (ff_peer_t *) zhashx_first (self->peers);
             peer && count < sizeof batch / sizeof batch [0];
             peer = (ff_peer_t *) zhashx_next (self->peers))
            if (ff_heartbeat_expired (&peer->heartbeat, now_us))
                batch [count++] = peer;
        for (size_t index = 0; index < count; index++) {
            if (fn)
                fn (batch [index], arg);
            zhashx_delete (self->peers, batch [index]->id);
        }
        removed += count;
        if (count < sizeof batch / sizeof batch [0])
            break;
    }
    return removed;
}

void
ff_peers_foreach (ff_peers_t *self, ff_peers_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    for (ff_peer_t *peer = (ff_peer_t *) zhashx_first (self->peers);
         peer;
         peer = (ff_peer_t *) zhashx_next (self->peers))
        fn (peer, arg);
}

uint64_t
ff_peers_deadline_us (ff_peers_t *self)
{
    assert (self);
    uint64_t deadline = UINT64_MAX;
    for (ff_peer_t *peer = (ff_peer_t *) zhashx_first (self->peers);
         peer;
         peer = (ff_peer_t *) zhashx_next (self->peers)) {
        uint64_t at = ff_heartbeat_deadline_us (&peer->heartbeat);
        if (at < deadline)
            deadline = at;
    }
    return deadline;
}
