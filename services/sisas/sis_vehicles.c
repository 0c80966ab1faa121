/*  sis_vehicles — see sis_vehicles.h.

    Pending signals live in a pool (an array grown by doubling up to
    max_pending, addressed by index). A pending entry is either in the
    queue (a FIFO through next/prev) or in its vehicle's in-flight list
    (same links). Delivery ids are (entry generation << 32 | index), the
    generation bumped at every delivery, so an ack for an earlier delivery
    (or an entry re-used since) is recognised as stale.

    Liveness uses ff_peers (keyed by vehicle name; it owns the routing
    id); the peer's user pointer is the vehicle's slot. The vehicle set
    has a generation number, bumped whenever a vehicle comes or goes or
    changes its globs; candidate sets cached per source and per type, and
    stored with each pending signal, are recomputed when it moved on.
*/
#include "sis_vehicles.h"
#include "sis_hash.h"
#include "ff_clock.h"
#include "ff_heartbeat.h"
#include "ff_log.h"
#include "ff_msg.h"
#include "ff_signal.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_NONE UINT32_MAX
//  Signal bytes (topic + data) kept inside a pending entry; more go to the heap.
#define S_INLINE 448
//  Entries looked at per queue pass: bounds the work of one wake-up.
#define S_QUEUE_SCAN 256
//  Types whose candidate sets are cached (direct-mapped by hash).
#define S_TYPE_CACHE 256
#define S_POOL_INITIAL 64

typedef enum { S_LIVE, S_QUARANTINED, S_PROBING } s_state_t;

static const char *s_state_names [] = { "live", "quarantined", "probing" };

typedef struct {
    bool in_use;
    char name [SIS_VEHICLE_NAME_MAX + 1];
    char **patterns;                    // owned; pattern_count entries
    size_t pattern_count;
    char **types;                       // owned
    size_t type_count;
    uint32_t capacity;
    uint32_t in_flight;
    ff_peer_t *peer;                    // liveness and routing id (owned by the peers table)
    double success;                     // EWMA of ok = 1 / failed = 0
    double latency_ms;                  // EWMA of delivery -> ack
    uint32_t samples;                   // acks since registration or last quarantine
    s_state_t state;
    uint64_t quarantine_until_us;
    bool blocked;                       // its send queue was full; skip until heard
    uint32_t head;                      // in-flight list
    uint64_t delivered, acked_ok, acked_failed, rerouted_away, quarantines;
} s_vehicle_t;

typedef struct {
    uint32_t generation;                // bumped at every delivery
    bool in_use;
    bool probe;                         // sent as a probe
    bool failed;                        // its last delivery was acked failed
    int16_t vehicle;                    // holder, -1 while queued
    uint32_t attempt;                   // deliveries made
    uint64_t tried;                     // vehicles that had it
    uint64_t candidates;                // vehicles that match it ...
    uint64_t candidates_generation;     // ... in this vehicle-set generation
    uint64_t sent_us;                   // last delivery
    uint32_t next, prev;                // queue or in-flight list
    uint32_t topic_size;
    uint32_t size;                      // signal bytes after the topic
    uint8_t *heap;                      // when topic + signal exceed S_INLINE
    uint8_t inline_data [S_INLINE];
} s_pending_t;

typedef struct {
    uint64_t generation;                // vehicle set it was computed for (0 = empty)
    uint64_t hash;
    uint64_t mask;
    char type [FF_SIGNAL_TYPE_MAX + 1];
} s_type_entry_t;

struct sis_vehicles {
    sis_vehicles_config_t config;
    size_t max_vehicles;
    s_vehicle_t vehicles [SIS_VEHICLES_MAX];
    size_t vehicle_count;
    ff_peers_t *peers;                  // name -> peer (user = s_vehicle_t *)
    uint64_t generation;                // of the vehicle set
    s_pending_t *pool;                  // pending entries
    size_t pool_size;
    size_t max_pending;
    uint32_t free_top;                  // free entries (stack through next)
    size_t pending;                     // entries in use
    uint32_t queue_head, queue_tail;    // FIFO of queued entries
    size_t queued;
    zsock_t *sock;                      // control ROUTER, borrowed
    char *sender_id;
    sis_vehicles_done_fn *done;
    void *done_arg;
    s_type_entry_t type_cache [S_TYPE_CACHE];
    ff_signal_t scratch;                // to re-read a pending signal's source and type
    sis_vehicles_stats_t stats;         // counters
    uint32_t dying [SIS_VEHICLES_MAX];  // vehicles expiring this tick
    size_t dying_count;
};

static inline uint8_t *
s_data (s_pending_t *entry)
{
    return entry->heap ? entry->heap : entry->inline_data;
}

static inline uint64_t
s_bit (size_t vehicle)
{
    return (uint64_t) 1 << vehicle;
}

static void
s_strings_free (char ***strings_p, size_t *count_p)
{
    for (size_t i = 0; i < *count_p; i++)
        free ((*strings_p) [i]);
    free (*strings_p);
    *strings_p = NULL;
    *count_p = 0;
}

sis_vehicles_t *
sis_vehicles_new (const sis_vehicles_config_t *config, size_t max_vehicles,
                  size_t max_pending, uint32_t heartbeat_ms, uint32_t liveness,
                  zsock_t *sock, const char *sender_id,
                  sis_vehicles_done_fn *done, void *arg)
{
    sis_vehicles_t *self = (sis_vehicles_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->max_vehicles = max_vehicles < 1 ? 1
                       : max_vehicles > SIS_VEHICLES_MAX ? SIS_VEHICLES_MAX : max_vehicles;
    self->max_pending = max_pending;
    self->generation = 1;
    self->free_top = self->queue_head = self->queue_tail = S_NONE;
    self->sock = sock;
    self->sender_id = strdup (sender_id ? sender_id : "");
    self->done = done;
    self->done_arg = arg;
    self->peers = ff_peers_new (heartbeat_ms, liveness);
    if (!self->peers || !self->sender_id) {
        sis_vehicles_destroy (&self);
        return NULL;
    }
    return self;
}

void
sis_vehicles_destroy (sis_vehicles_t **self_p)
{
    if (self_p && *self_p) {
        sis_vehicles_t *self = *self_p;
        for (size_t i = 0; i < self->pool_size; i++)
            free (self->pool [i].heap);
        free (self->pool);
        for (size_t i = 0; i < SIS_VEHICLES_MAX; i++) {
            s_strings_free (&self->vehicles [i].patterns, &self->vehicles [i].pattern_count);
            s_strings_free (&self->vehicles [i].types, &self->vehicles [i].type_count);
        }
        ff_peers_destroy (&self->peers);
        free (self->sender_id);
        free (self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Matching

static bool
s_globs_match (char *const *globs, size_t count, const char *text)
{
    if (count == 0)
        return true;
    for (size_t i = 0; i < count; i++)
        if (fnmatch (globs [i], text, 0) == 0)
            return true;
    return false;
}

static uint64_t
s_source_mask (sis_vehicles_t *self, const char *source)
{
    uint64_t mask = 0;
    for (size_t v = 0; v < self->max_vehicles; v++)
        if (self->vehicles [v].in_use
        &&  s_globs_match (self->vehicles [v].patterns, self->vehicles [v].pattern_count, source))
            mask |= s_bit (v);
    return mask;
}

static uint64_t
s_type_mask (sis_vehicles_t *self, const char *type)
{
    size_t size = strlen (type);
    uint64_t hash = sis_hash_bytes (type, size, 0);
    s_type_entry_t *entry = &self->type_cache [hash % S_TYPE_CACHE];
    if (entry->generation == self->generation && entry->hash == hash
    &&  strcmp (entry->type, type) == 0)
        return entry->mask;
    uint64_t mask = 0;
    for (size_t v = 0; v < self->max_vehicles; v++)
        if (self->vehicles [v].in_use
        &&  s_globs_match (self->vehicles [v].types, self->vehicles [v].type_count, type))
            mask |= s_bit (v);
    entry->generation = self->generation;
    entry->hash = hash;
    entry->mask = mask;
    memcpy (entry->type, type, size + 1);
    return mask;
}

uint64_t
sis_vehicles_candidates (sis_vehicles_t *self, sis_source_t *source,
                         const char *name, const char *type)
{
    if (!self->config.enabled || self->vehicle_count == 0)
        return 0;
    uint64_t source_mask;
    if (source && source->tracked) {
        if (source->route_generation != self->generation) {
            source->route_mask = s_source_mask (self, source->name);
            source->route_generation = self->generation;
        }
        source_mask = source->route_mask;
    }
    else
        source_mask = s_source_mask (self, name);
    if (!source_mask)
        return 0;
    return source_mask & s_type_mask (self, type);
}

//  ---------------------------------------------------------------------
//  Pending entries: lists

static void
s_queue_push (sis_vehicles_t *self, uint32_t index, bool front)
{
    s_pending_t *entry = &self->pool [index];
    entry->vehicle = -1;
    if (front) {
        entry->prev = S_NONE;
        entry->next = self->queue_head;
        if (self->queue_head != S_NONE)
            self->pool [self->queue_head].prev = index;
        else
            self->queue_tail = index;
        self->queue_head = index;
    }
    else {
        entry->next = S_NONE;
        entry->prev = self->queue_tail;
        if (self->queue_tail != S_NONE)
            self->pool [self->queue_tail].next = index;
        else
            self->queue_head = index;
        self->queue_tail = index;
    }
    self->queued++;
}

//  Unlinks an entry from the queue or its vehicle's list.
static void
s_unlink (sis_vehicles_t *self, uint32_t index)
{
    s_pending_t *entry = &self->pool [index];
    uint32_t *head = entry->vehicle < 0 ? &self->queue_head
                                        : &self->vehicles [entry->vehicle].head;
    if (entry->prev != S_NONE)
        self->pool [entry->prev].next = entry->next;
    else
        *head = entry->next;
    if (entry->next != S_NONE)
        self->pool [entry->next].prev = entry->prev;
    else
    if (entry->vehicle < 0)
        self->queue_tail = entry->prev;
    if (entry->vehicle < 0)
        self->queued--;
    else
        self->vehicles [entry->vehicle].in_flight--;
    entry->next = entry->prev = S_NONE;
}

static void
s_vehicle_push (sis_vehicles_t *self, uint32_t index, size_t vehicle)
{
    s_pending_t *entry = &self->pool [index];
    s_vehicle_t *carrier = &self->vehicles [vehicle];
    entry->vehicle = (int16_t) vehicle;
    entry->prev = S_NONE;
    entry->next = carrier->head;
    if (carrier->head != S_NONE)
        self->pool [carrier->head].prev = index;
    carrier->head = index;
    carrier->in_flight++;
}

//  Ends a pending signal (it is unlinked already): frees its entry and
//  reports the outcome.
static void
s_finish (sis_vehicles_t *self, uint32_t index, sis_route_outcome_t outcome)
{
    s_pending_t *entry = &self->pool [index];
    free (entry->heap);
    entry->heap = NULL;
    entry->in_use = false;
    entry->next = self->free_top;
    self->free_top = index;
    self->pending--;
    if (outcome == SIS_ROUTE_UNROUTABLE)
        self->stats.unroutable++;
    if (self->done)
        self->done (outcome, self->done_arg);
}

static int
s_pool_grow (sis_vehicles_t *self)
{
    size_t size = self->pool_size ? self->pool_size * 2 : S_POOL_INITIAL;
    if (size > self->max_pending)
        size = self->max_pending;
    if (size <= self->pool_size)
        return -1;
    s_pending_t *pool = (s_pending_t *) realloc (self->pool, size * sizeof (s_pending_t));
    if (!pool)
        return -1;
    for (size_t i = size; i-- > self->pool_size; ) {
        memset (&pool [i], 0, offsetof (s_pending_t, inline_data));
        pool [i].next = self->free_top;
        self->free_top = (uint32_t) i;
    }
    self->pool = pool;
    self->pool_size = size;
    return 0;
}

//  ---------------------------------------------------------------------
//  Dispatch

static double
s_score (const s_vehicle_t *vehicle, double latency_ref_ms)
{
    if (vehicle->state != S_LIVE)
        return 0;
    return vehicle->success * latency_ref_ms / (latency_ref_ms + vehicle->latency_ms);
}

//  The candidates of a pending signal in the current vehicle set: the
//  stored set, or recomputed from its bytes when the set changed.
static uint64_t
s_entry_candidates (sis_vehicles_t *self, s_pending_t *entry)
{
    if (entry->candidates_generation != self->generation) {
        uint8_t *data = s_data (entry);
        if (ff_signal_decode (&self->scratch, data + entry->topic_size, entry->size, NULL, 0)
            == FF_SIGNAL_OK)
            entry->candidates = sis_vehicles_candidates (self, NULL, self->scratch.source,
                                                         self->scratch.type);
        else
            entry->candidates = 0;
        entry->candidates_generation = self->generation;
    }
    return entry->candidates;
}

//  Removes a vehicle whose connection is gone or which left; its
//  deliveries go back to the front of the queue.
static void s_vehicle_remove (sis_vehicles_t *self, size_t vehicle, bool remove_peer);

//  Sends the entry to vehicle. 0, or -1 (not sent: queue full or gone).
static int
s_send (sis_vehicles_t *self, uint32_t index, size_t vehicle, bool probe, uint64_t now_us)
{
    s_pending_t *entry = &self->pool [index];
    s_vehicle_t *carrier = &self->vehicles [vehicle];
    uint8_t *data = s_data (entry);
    //  Every delivery gets its own id: an ack for an earlier one is stale.
    entry->generation++;
    uint64_t delivery_id = ((uint64_t) entry->generation << 32) | index;
    char correlation_id [32];
    snprintf (correlation_id, sizeof correlation_id, "d-%" PRIu64, delivery_id);
    char topic [FF_SIGNAL_TYPE_MAX + 1];
    size_t topic_size = entry->topic_size < FF_SIGNAL_TYPE_MAX ? entry->topic_size : FF_SIGNAL_TYPE_MAX;
    memcpy (topic, data, topic_size);
    topic [topic_size] = '\0';
    Farfan__VehicleDeliver body = FARFAN__VEHICLE_DELIVER__INIT;
    body.delivery_id = delivery_id;
    body.topic = topic;
    body.signal.data = data + entry->topic_size;
    body.signal.len = entry->size;
    body.attempt = entry->attempt + 1;
    body.probe = probe;
    ff_msg_header_t header = {
        .type = FARFAN__MESSAGE_TYPE__VEHICLE_DELIVER,
        .correlation_id = correlation_id,
        .sender_id = self->sender_id,
    };
    if (ff_msg_send (self->sock, (zframe_t *) carrier->peer->routing_id, false,
                     &header, &body.base) != 0) {
        if (errno == EHOSTUNREACH) {
            ff_log_info ("vehicle %s is gone (unreachable): removed", carrier->name);
            s_vehicle_remove (self, vehicle, true);
        }
        else
            carrier->blocked = true;
        return -1;
    }
    ff_heartbeat_sent (&carrier->peer->heartbeat, now_us);
    entry->attempt++;
    entry->tried |= s_bit (vehicle);
    entry->probe = probe;
    entry->sent_us = now_us;
    carrier->delivered++;
    if (probe)
        carrier->state = S_PROBING;
    self->stats.routed++;
    return 0;
}

typedef enum { S_SENT, S_WAIT, S_ENDED } s_dispatch_t;

//  Tries to hand a queued entry to a vehicle: a quarantined candidate due
//  for its probe first, else the best live candidate with room. The
//  entry stays queued (S_WAIT) when none has room, ends (S_ENDED) when
//  no candidate is left or its attempts are used up.
static s_dispatch_t
s_dispatch (sis_vehicles_t *self, uint32_t index, uint64_t now_us)
{
    s_pending_t *entry = &self->pool [index];
    if (!self->config.enabled) {
        s_unlink (self, index);
        s_finish (self, index, SIS_ROUTE_UNROUTABLE);
        return S_ENDED;
    }
    while (true) {
        uint64_t candidates = s_entry_candidates (self, entry);
        uint64_t untried = candidates & ~entry->tried;
        if (candidates == 0 || untried == 0 || entry->attempt >= self->config.max_attempts) {
            s_unlink (self, index);
            s_finish (self, index, entry->failed ? SIS_ROUTE_FAILED : SIS_ROUTE_UNROUTABLE);
            return S_ENDED;
        }
        int best = -1;
        bool probe = false;
        double best_score = -1;
        for (size_t v = 0; v < self->max_vehicles; v++) {
            if (!(untried & s_bit (v)))
                continue;
            s_vehicle_t *carrier = &self->vehicles [v];
            if (carrier->blocked || carrier->in_flight >= carrier->capacity)
                continue;
            if (carrier->state == S_QUARANTINED && now_us >= carrier->quarantine_until_us) {
                best = (int) v;
                probe = true;
                break;
            }
            if (carrier->state != S_LIVE)
                continue;
            double score = s_score (carrier, self->config.latency_ref_ms);
            if (score > best_score
            ||  (score == best_score && carrier->in_flight < self->vehicles [best].in_flight)) {
                best = (int) v;
                best_score = score;
            }
        }
        if (best < 0)
            return S_WAIT;
        if (s_send (self, index, (size_t) best, probe, now_us) == 0) {
            s_unlink (self, index);
            s_vehicle_push (self, index, (size_t) best);
            return S_SENT;
        }
        //  Not sent: that vehicle is blocked or removed now; try the next.
    }
}

//  Dispatches queued signals in order, looking at S_QUEUE_SCAN at most.
static void
s_dispatch_queue (sis_vehicles_t *self, uint64_t now_us)
{
    size_t looked = 0;
    uint32_t index = self->queue_head;
    while (index != S_NONE && looked++ < S_QUEUE_SCAN) {
        uint32_t next = self->pool [index].next;
        s_dispatch (self, index, now_us);
        //  A removed vehicle may have pushed entries to the front: they are
        //  picked up by the next pass.
        index = next;
    }
}

int
sis_vehicles_route (sis_vehicles_t *self, uint64_t candidates,
                    const void *topic, size_t topic_size,
                    const void *data, size_t size, uint64_t now_us)
{
    if (self->pending >= self->max_pending)
        return -1;
    if (self->free_top == S_NONE && s_pool_grow (self) != 0)
        return -1;
    uint32_t index = self->free_top;
    s_pending_t *entry = &self->pool [index];
    uint8_t *heap = NULL;
    if (topic_size + size > S_INLINE) {
        heap = (uint8_t *) malloc (topic_size + size);
        if (!heap)
            return -1;
    }
    self->free_top = entry->next;
    entry->in_use = true;
    entry->probe = false;
    entry->failed = false;
    entry->attempt = 0;
    entry->tried = 0;
    entry->candidates = candidates;
    entry->candidates_generation = self->generation;
    entry->heap = heap;
    entry->topic_size = (uint32_t) topic_size;
    entry->size = (uint32_t) size;
    uint8_t *bytes = s_data (entry);
    memcpy (bytes, topic, topic_size);
    memcpy (bytes + topic_size, data, size);
    self->pending++;
    bool was_empty = self->queue_head == S_NONE;
    s_queue_push (self, index, false);
    if (was_empty)
        s_dispatch (self, index, now_us);
    else
        s_dispatch_queue (self, now_us);
    return 0;
}

size_t
sis_vehicles_pending (const sis_vehicles_t *self)
{
    return self->pending;
}

//  ---------------------------------------------------------------------
//  Registry

//  Puts every delivery held by vehicle back at the front of the queue.
//  They were lost, not failed: the vehicle does not count as tried.
static uint32_t
s_requeue_all (sis_vehicles_t *self, size_t vehicle)
{
    s_vehicle_t *carrier = &self->vehicles [vehicle];
    uint32_t count = 0;
    while (carrier->head != S_NONE) {
        uint32_t index = carrier->head;
        s_unlink (self, index);
        s_pending_t *entry = &self->pool [index];
        entry->tried &= ~s_bit (vehicle);
        entry->failed = false;
        s_queue_push (self, index, true);
        count++;
    }
    carrier->rerouted_away += count;
    self->stats.rerouted += count;
    return count;
}

static void
s_vehicle_remove (sis_vehicles_t *self, size_t vehicle, bool remove_peer)
{
    s_vehicle_t *carrier = &self->vehicles [vehicle];
    s_requeue_all (self, vehicle);
    //  The slot may carry another vehicle later: it has tried nothing.
    for (size_t i = 0; i < self->pool_size; i++)
        self->pool [i].tried &= ~s_bit (vehicle);
    if (remove_peer)
        ff_peers_remove (self->peers, carrier->name);
    s_strings_free (&carrier->patterns, &carrier->pattern_count);
    s_strings_free (&carrier->types, &carrier->type_count);
    memset (carrier, 0, sizeof *carrier);
    carrier->head = S_NONE;
    self->vehicle_count--;
    self->generation++;
}

//  Copies n globs, each 1..SIS_VEHICLE_GLOB_MAX bytes. 0 or -1 (err set).
static int
s_globs_copy (char **source, size_t n, const char *what, char ***out, size_t *count,
              char *err, size_t err_size)
{
    if (n > SIS_VEHICLE_GLOBS_MAX) {
        snprintf (err, err_size, "%zu %s: at most %d", n, what, SIS_VEHICLE_GLOBS_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t size = strlen (source [i]);
        if (size == 0 || size > SIS_VEHICLE_GLOB_MAX) {
            snprintf (err, err_size, "%s[%zu]: must be 1..%d bytes", what, i, SIS_VEHICLE_GLOB_MAX);
            return -1;
        }
    }
    *out = n ? (char **) calloc (n, sizeof (char *)) : NULL;
    if (n && !*out) {
        snprintf (err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!((*out) [i] = strdup (source [i]))) {
            *count = i;
            s_strings_free (out, count);
            snprintf (err, err_size, "out of memory");
            return -1;
        }
    *count = n;
    return 0;
}

static bool
s_name_valid (const char *name)
{
    size_t size = strlen (name);
    if (size == 0 || size > SIS_VEHICLE_NAME_MAX)
        return false;
    for (size_t i = 0; i < size; i++)
        if ((unsigned char) name [i] < 0x20 || name [i] == 0x7f)
            return false;
    return true;
}

//  The vehicle registered as name from routing_id, or NULL.
static s_vehicle_t *
s_lookup (sis_vehicles_t *self, const char *name, zframe_t *routing_id)
{
    ff_peer_t *peer = ff_peers_lookup (self->peers, name);
    if (!peer || !peer->user)
        return NULL;
    if (routing_id && peer->routing_id && !zframe_eq ((zframe_t *) peer->routing_id, routing_id))
        return NULL;
    return (s_vehicle_t *) peer->user;
}

uint32_t
sis_vehicles_register (sis_vehicles_t *self, zframe_t *routing_id,
                       const Farfan__VehicleRegister *request, uint64_t now_us,
                       uint32_t *rerouted, char *err, size_t err_size)
{
    *rerouted = 0;
    if (!s_name_valid (request->name)) {
        snprintf (err, err_size, "name: must be 1..%d printable bytes", SIS_VEHICLE_NAME_MAX);
        return FARFAN__ERROR_CODE__INVALID_ARGUMENT;
    }
    if (request->capacity < 1 || request->capacity > SIS_VEHICLE_CAPACITY_MAX) {
        snprintf (err, err_size, "capacity: %u is outside 1..%d", request->capacity,
                  SIS_VEHICLE_CAPACITY_MAX);
        return FARFAN__ERROR_CODE__INVALID_ARGUMENT;
    }
    char **patterns = NULL, **types = NULL;
    size_t pattern_count = 0, type_count = 0;
    if (s_globs_copy (request->patterns, request->n_patterns, "patterns", &patterns,
                      &pattern_count, err, err_size) != 0)
        return FARFAN__ERROR_CODE__INVALID_ARGUMENT;
    if (s_globs_copy (request->types, request->n_types, "types", &types, &type_count,
                      err, err_size) != 0) {
        s_strings_free (&patterns, &pattern_count);
        return FARFAN__ERROR_CODE__INVALID_ARGUMENT;
    }
    ff_peer_t *peer = ff_peers_lookup (self->peers, request->name);
    s_vehicle_t *carrier = peer ? (s_vehicle_t *) peer->user : NULL;
    size_t vehicle;
    if (carrier) {
        //  The same carrier starting afresh: what it held is re-routed;
        //  its record (scores, quarantine) stays, so re-registering
        //  launders nothing.
        vehicle = (size_t) (carrier - self->vehicles);
        *rerouted = s_requeue_all (self, vehicle);
        s_strings_free (&carrier->patterns, &carrier->pattern_count);
        s_strings_free (&carrier->types, &carrier->type_count);
        carrier->blocked = false;
    }
    else {
        for (vehicle = 0; vehicle < self->max_vehicles && self->vehicles [vehicle].in_use; vehicle++)
            ;
        if (vehicle == self->max_vehicles) {
            s_strings_free (&patterns, &pattern_count);
            s_strings_free (&types, &type_count);
            snprintf (err, err_size, "the vehicle table is full (max_vehicles %zu)",
                      self->max_vehicles);
            return FARFAN__ERROR_CODE__OVERLOADED;
        }
        carrier = &self->vehicles [vehicle];
        memset (carrier, 0, sizeof *carrier);
        carrier->head = S_NONE;
        snprintf (carrier->name, sizeof carrier->name, "%s", request->name);
        carrier->success = 1.0;
        carrier->state = S_LIVE;
    }
    peer = ff_peers_upsert (self->peers, request->name, routing_id, now_us);
    if (!peer) {
        if (!carrier->in_use) {
            s_strings_free (&patterns, &pattern_count);
            s_strings_free (&types, &type_count);
            snprintf (err, err_size, "out of memory");
            return FARFAN__ERROR_CODE__INTERNAL;
        }
        //  A known vehicle keeps its entry: only its routing id is stale.
    }
    else {
        peer->user = carrier;
        carrier->peer = peer;
    }
    if (!carrier->in_use) {
        carrier->in_use = true;
        self->vehicle_count++;
    }
    carrier->patterns = patterns;
    carrier->pattern_count = pattern_count;
    carrier->types = types;
    carrier->type_count = type_count;
    carrier->capacity = request->capacity;
    self->generation++;
    return FARFAN__ERROR_CODE__OK;
}

uint32_t
sis_vehicles_heartbeat (sis_vehicles_t *self, zframe_t *routing_id,
                        const char *name, uint64_t now_us, uint32_t *in_flight,
                        char *err, size_t err_size)
{
    s_vehicle_t *carrier = s_lookup (self, name, routing_id);
    if (!carrier) {
        snprintf (err, err_size, "vehicle \"%s\" is not registered from this connection: "
                  "register again", name);
        return FARFAN__ERROR_CODE__NOT_FOUND;
    }
    ff_heartbeat_heard (&carrier->peer->heartbeat, now_us);
    ff_heartbeat_sent (&carrier->peer->heartbeat, now_us);
    *in_flight = carrier->in_flight;
    if (carrier->blocked) {
        carrier->blocked = false;
        s_dispatch_queue (self, now_us);
    }
    return FARFAN__ERROR_CODE__OK;
}

uint32_t
sis_vehicles_unregister (sis_vehicles_t *self, zframe_t *routing_id,
                         const char *name, uint64_t now_us, uint32_t *rerouted,
                         char *err, size_t err_size)
{
    s_vehicle_t *carrier = s_lookup (self, name, routing_id);
    if (!carrier) {
        snprintf (err, err_size, "vehicle \"%s\" is not registered from this connection", name);
        return FARFAN__ERROR_CODE__NOT_FOUND;
    }
    *rerouted = carrier->in_flight;
    s_vehicle_remove (self, (size_t) (carrier - self->vehicles), true);
    return FARFAN__ERROR_CODE__OK;
}

static void
s_quarantine (sis_vehicles_t *self, s_vehicle_t *carrier, uint64_t now_us)
{
    carrier->state = S_QUARANTINED;
    carrier->quarantine_until_us = now_us + self->config.quarantine_us;
    carrier->quarantines++;
    ff_log_info ("vehicle %s quarantined for %" PRIu64 " ms (success rate %.2f)",
                 carrier->name, self->config.quarantine_us / 1000, carrier->success);
}

void
sis_vehicles_ack (sis_vehicles_t *self, zframe_t *routing_id,
                  const Farfan__VehicleAck *ack, uint64_t now_us)
{
    for (size_t i = 0; i < ack->n_acks; i++) {
        const Farfan__VehicleAckItem *item = ack->acks [i];
        uint32_t index = (uint32_t) (item->delivery_id & 0xffffffffu);
        uint32_t generation = (uint32_t) (item->delivery_id >> 32);
        s_pending_t *entry = index < self->pool_size ? &self->pool [index] : NULL;
        if (!entry || !entry->in_use || entry->generation != generation || entry->vehicle < 0
        ||  !zframe_eq ((zframe_t *) self->vehicles [entry->vehicle].peer->routing_id,
                        routing_id)) {
            self->stats.stale_acks++;
            continue;
        }
        size_t vehicle = (size_t) entry->vehicle;
        s_vehicle_t *carrier = &self->vehicles [vehicle];
        ff_heartbeat_heard (&carrier->peer->heartbeat, now_us);
        carrier->blocked = false;
        double alpha = self->config.alpha;
        double latency_ms = (double) (now_us - entry->sent_us) / 1000.0;
        carrier->success += alpha * ((item->ok ? 1.0 : 0.0) - carrier->success);
        carrier->latency_ms += alpha * (latency_ms - carrier->latency_ms);
        carrier->samples++;
        if (item->ok) {
            carrier->acked_ok++;
            self->stats.acked_ok++;
        }
        else {
            carrier->acked_failed++;
            self->stats.acked_failed++;
        }
        if (entry->probe) {
            if (item->ok) {
                carrier->state = S_LIVE;
                carrier->success = 1.0;
                carrier->samples = 0;
                ff_log_info ("vehicle %s passed its probe: back in service", carrier->name);
            }
            else
                s_quarantine (self, carrier, now_us);
        }
        else
        if (carrier->state == S_LIVE && carrier->samples >= self->config.min_samples
        &&  carrier->success < self->config.success_floor)
            s_quarantine (self, carrier, now_us);
        s_unlink (self, index);
        if (item->ok)
            s_finish (self, index, SIS_ROUTE_OK);
        else {
            //  Another vehicle may handle it: back to the front.
            entry->failed = true;
            s_queue_push (self, index, true);
            self->stats.rerouted++;
        }
    }
    s_dispatch_queue (self, now_us);
}

static void
s_collect_dead (ff_peer_t *peer, void *arg)
{
    sis_vehicles_t *self = (sis_vehicles_t *) arg;
    s_vehicle_t *carrier = (s_vehicle_t *) peer->user;
    if (carrier && self->dying_count < SIS_VEHICLES_MAX)
        self->dying [self->dying_count++] = (uint32_t) (carrier - self->vehicles);
}

void
sis_vehicles_dispatch (sis_vehicles_t *self, uint64_t now_us)
{
    s_dispatch_queue (self, now_us);
}

void
sis_vehicles_tick (sis_vehicles_t *self, uint64_t now_us)
{
    self->dying_count = 0;
    ff_peers_expire (self->peers, now_us, s_collect_dead, self);
    for (size_t i = 0; i < self->dying_count; i++) {
        s_vehicle_t *carrier = &self->vehicles [self->dying [i]];
        ff_log_info ("vehicle %s is dead (silent): %u deliveries re-routed", carrier->name,
                     carrier->in_flight);
        carrier->peer = NULL;
        s_vehicle_remove (self, self->dying [i], false);
    }
    s_dispatch_queue (self, now_us);
}

//  ---------------------------------------------------------------------
//  Views

static void
s_view (const sis_vehicles_t *self, const s_vehicle_t *carrier, uint64_t now_us,
        sis_vehicle_view_t *view)
{
    view->name = carrier->name;
    view->patterns = carrier->patterns;
    view->pattern_count = carrier->pattern_count;
    view->types = carrier->types;
    view->type_count = carrier->type_count;
    view->capacity = carrier->capacity;
    view->in_flight = carrier->in_flight;
    view->state = s_state_names [carrier->state];
    view->success_rate = carrier->success;
    view->latency_ms = carrier->latency_ms;
    view->score = s_score (carrier, self->config.latency_ref_ms);
    view->delivered = carrier->delivered;
    view->acked_ok = carrier->acked_ok;
    view->acked_failed = carrier->acked_failed;
    view->rerouted_away = carrier->rerouted_away;
    uint64_t heard = carrier->peer ? carrier->peer->heartbeat.heard_us : now_us;
    view->heard_ms_ago = now_us > heard ? (now_us - heard) / 1000 : 0;
    view->quarantines = carrier->quarantines;
}

static int
s_compare_views (const void *a, const void *b)
{
    const sis_vehicle_view_t *x = (const sis_vehicle_view_t *) a;
    const sis_vehicle_view_t *y = (const sis_vehicle_view_t *) b;
    bool x_live = strcmp (x->state, "live") == 0, y_live = strcmp (y->state, "live") == 0;
    if (x_live != y_live)
        return x_live ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->in_flight != y->in_flight)
        return x->in_flight < y->in_flight ? -1 : 1;
    return strcmp (x->name, y->name);
}

size_t
sis_vehicles_list (sis_vehicles_t *self, uint64_t now_us, const char *source,
                   const char *type, sis_vehicle_view_t *out, size_t max)
{
    size_t count = 0;
    for (size_t v = 0; v < self->max_vehicles && count < max; v++) {
        s_vehicle_t *carrier = &self->vehicles [v];
        if (!carrier->in_use)
            continue;
        if (source && !s_globs_match (carrier->patterns, carrier->pattern_count, source))
            continue;
        if (source && type && *type && !s_globs_match (carrier->types, carrier->type_count, type))
            continue;
        s_view (self, carrier, now_us, &out [count++]);
    }
    qsort (out, count, sizeof *out, s_compare_views);
    return count;
}

void
sis_vehicles_stats (const sis_vehicles_t *self, sis_vehicles_stats_t *stats)
{
    *stats = self->stats;
    stats->vehicles = self->vehicle_count;
    stats->pending = self->pending;
    stats->queued = self->queued;
}

const sis_vehicles_config_t *
sis_vehicles_config (const sis_vehicles_t *self)
{
    return &self->config;
}

void
sis_vehicles_configure (sis_vehicles_t *self, const sis_vehicles_config_t *config,
                        uint64_t now_us)
{
    self->config = *config;
    if (!config->enabled)
        while (self->queue_head != S_NONE) {
            uint32_t index = self->queue_head;
            s_unlink (self, index);
            s_finish (self, index, SIS_ROUTE_UNROUTABLE);
        }
    else
        s_dispatch_queue (self, now_us);
}

void
sis_vehicles_set_max_pending (sis_vehicles_t *self, size_t max_pending)
{
    self->max_pending = max_pending;
}
