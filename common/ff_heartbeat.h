/*  ff_heartbeat — peer liveness bookkeeping (Paranoid Pirate / Majordomo).

    ff_heartbeat_t tracks one peer: any traffic from it counts as a
    heartbeat; it has expired when nothing was heard for interval ×
    liveness; a heartbeat to it is due every interval. ff_backoff_t is the
    reconnect delay: doubles from `initial` up to `max`, reset on success.
    ff_peers_t is a table of live peers keyed by their id (instance id, not
    address), which the orchestrator's factory registry and SISAS's vehicle
    registry build on.

    Time is always passed in (µs, monotonic clock) so expiry is exact and
    testable without sleeping. Instants compare with ≥: a heartbeat is due
    at exactly sent + interval, a peer expired at exactly heard + interval
    × liveness, so a poll that wakes at the deadline always finds work.
    Sums saturate instead of wrapping.
*/
#ifndef FF_HEARTBEAT_H_INCLUDED
#define FF_HEARTBEAT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t interval_us;   // heartbeat period
    uint32_t liveness;      // missed periods before expiry (≥ 1)
    uint64_t heard_us;      // last time anything arrived from the peer
    uint64_t sent_us;       // last time we sent it anything
} ff_heartbeat_t;

//  Starts as if the peer was just heard and sent to. liveness 0 is taken
//  as 1.
void
    ff_heartbeat_init (ff_heartbeat_t *self, uint64_t interval_ms,
                       uint32_t liveness, uint64_t now_us);
//  Anything received from the peer.
void
    ff_heartbeat_heard (ff_heartbeat_t *self, uint64_t now_us);
//  Anything sent to the peer (a sent message is as good as a heartbeat).
void
    ff_heartbeat_sent (ff_heartbeat_t *self, uint64_t now_us);
//  True when a heartbeat should be sent now.
bool
    ff_heartbeat_send_due (const ff_heartbeat_t *self, uint64_t now_us);
//  True when nothing was heard for interval × liveness.
bool
    ff_heartbeat_expired (const ff_heartbeat_t *self, uint64_t now_us);
//  The earliest time something must happen: the next heartbeat to send or
//  the expiry, whichever comes first (for poll timeouts).
uint64_t
    ff_heartbeat_deadline_us (const ff_heartbeat_t *self);

typedef struct {
    uint64_t initial_ms;    // first delay
    uint64_t max_ms;        // cap
    uint64_t next_ms;       // delay the next call returns
} ff_backoff_t;

//  A max_ms below initial_ms caps the first delay too.
void
    ff_backoff_init (ff_backoff_t *self, uint64_t initial_ms, uint64_t max_ms);
//  Returns the delay to wait now and doubles the next one (capped).
uint64_t
    ff_backoff_next_ms (ff_backoff_t *self);
//  After a success: back to initial.
void
    ff_backoff_reset (ff_backoff_t *self);

//  ---------------------------------------------------------------------
//  A table of live peers keyed by id.

typedef struct ff_peers ff_peers_t;

typedef struct {
    const char *id;             // peer's identity (owned by the table)
    void *routing_id;           // zframe_t * ROUTER routing id (owned by the table), NULL if none
    ff_heartbeat_t heartbeat;   // liveness of this peer
    void *user;                 // the caller's per-peer data (not owned)
} ff_peer_t;

//  Visits one peer (ff_peers_foreach), or one expired peer just before it
//  is removed (ff_peers_expire: the callback must free peer->user itself if
//  needed).
typedef void (ff_peers_fn) (ff_peer_t *peer, void *arg);

//  interval_ms and liveness apply to every peer added.
ff_peers_t *
    ff_peers_new (uint64_t interval_ms, uint32_t liveness);
void
    ff_peers_destroy (ff_peers_t **self_p);
//  Adds the peer (or, if id is known, updates its routing id and marks it
//  heard). routing_id (a zframe_t *) is copied; may be NULL (for a known
//  peer, NULL clears its routing id). Returns the table's entry, valid
//  until the peer is removed; NULL when out of memory.
ff_peer_t *
    ff_peers_upsert (ff_peers_t *self, const char *id, const void *routing_id,
                     uint64_t now_us);
//  NULL when unknown.
ff_peer_t *
    ff_peers_lookup (ff_peers_t *self, const char *id);
//  Removes the peer; returns 0, or -1 when unknown.
int
    ff_peers_remove (ff_peers_t *self, const char *id);
size_t
    ff_peers_size (ff_peers_t *self);
//  Removes every peer expired at now_us, calling fn (may be NULL) for each
//  first; fn must not add or remove peers. Returns how many were removed.
size_t
    ff_peers_expire (ff_peers_t *self, uint64_t now_us,
                     ff_peers_fn *fn, void *arg);
//  Calls fn for every peer (any order). fn must not add or remove peers.
void
    ff_peers_foreach (ff_peers_t *self, ff_peers_fn *fn, void *arg);
//  Earliest deadline over all peers (UINT64_MAX when empty).
uint64_t
    ff_peers_deadline_us (ff_peers_t *self);

#endif
