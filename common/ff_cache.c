/*  ff_cache — see ff_cache.h.

    Entries: one allocation each (the key is stored inline), found through
    a chained hash table (power-of-two buckets, grown at load factor 1,
    never shrunk) and linked into two intrusive lists:
      - recency (LRU): head = most recently used, tail = next to evict;
      - age: in insertion order. With one TTL for every entry, the list is
        also in expiry order, so dropping expired entries costs only the
        entries dropped (the cache's clock never goes backwards, see
        s_clock, which keeps the list sorted).
    A hit moves the entry to the recency head and updates counters:
    nothing is allocated.

    The successor model is a second table of "nodes", one per key recently
    requested (by get), each with S_SUCCESSORS slots naming the keys seen
    right after it with a count. Nodes live in one array and are named by
    index; a slot holds (index, generation) so that forgetting a node
    (bumping its generation) invalidates every slot pointing at it without
    searching for them. The number of nodes is bounded (s_model_bound);
    when a new key needs one, the least recently updated node is forgotten
    and reused, its key buffer too when big enough. A get of a key already
    tracked allocates nothing.

    When a node's slots are full, a new successor replaces the least
    counted one and starts at that count + 1 (the "space-saving" heavy
    hitters algorithm of Metwally et al.): a successor that follows a key
    in more than 1/S_SUCCESSORS of its requests can never be pushed out by
    noise, at the price of counts that may overestimate newcomers.
*/
#include "ff_cache.h"
#include "ff_log.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

//  Successors kept per key: enough for the branches of a contract plan
//  (a key is usually followed by one or two others), small enough that a
//  node stays within two cache lines.
#define S_SUCCESSORS 4

//  Keys the successor model tracks: S_MODEL_KEYS_PER_ENTRY × max_size, at
//  most S_MODEL_KEYS_MAX. Four per entry lets the model remember keys that
//  were requested but are not (or no longer) cached; the absolute cap
//  keeps a large document store's model within a few MB.
#define S_MODEL_KEYS_PER_ENTRY 4
#define S_MODEL_KEYS_MAX 65536

#define S_HOT_THRESHOLD_DEFAULT 3
#define S_LIMIT_FACTOR_DEFAULT 16       // max_size_limit = 16 × max_size
#define S_BUCKETS_INITIAL 16
#define S_NONE UINT32_MAX

//  Recommendation thresholds. Each rule looks at the window since the
//  previous ff_cache_recommend (or creation).
//
//  Fewer gets than this in a window say nothing about a hit rate or a
//  workload: grow and shrink need at least this many.
#define S_RECOMMEND_MIN_GETS 100
//  grow: evictions forced by the entry bound above 10 % of insertions mean
//  entries are pushed out before they could be reused, and a hit rate
//  under 50 % says the cache is not holding the working set. A stream of
//  one-off keys shows both and would not gain from growing, so grow also
//  needs regret: at least 10 % of the misses were of keys the cache had
//  evicted (remembered by the successor model, which tracks 4 × max_size
//  keys: a miss a cache up to that size would have turned into a hit).
#define S_GROW_EVICTION_PERCENT 10.0
#define S_GROW_HIT_RATE_PERCENT 50.0
#define S_GROW_REGRET_PERCENT 10.0
//  shrink: the peak occupancy of the whole window under 25 % of max_size,
//  with no eviction at all, over at least 5 minutes: shorter windows
//  mistake a lull (between two phases of a run) for a trend. Halving then
//  leaves the peak under 50 %: never evicts. Never below S_SHRINK_FLOOR
//  entries, where the bound costs nothing worth reclaiming.
#define S_SHRINK_OCCUPANCY_PERCENT 25.0
#define S_SHRINK_WINDOW_MS (5 * 60 * 1000)
#define S_SHRINK_FLOOR 16
//  extend_ttl: any hot entry expiring in the window means a value still in
//  demand was dropped and will be recomputed. Doubling is capped at 24 h:
//  beyond that, entries should be invalidated by their owner, not by age.
#define S_TTL_CAP_MS (24ull * 60 * 60 * 1000)
//  preload: the hot keys live now, the most accessed first, at most this
//  many (a preload list is a hint, not a copy of the cache).
#define S_PRELOAD_KEYS_MAX 32

typedef struct s_entry s_entry_t;
struct s_entry {
    s_entry_t *hash_next;           // next in the bucket chain
    s_entry_t *recent_prev;         // used more recently (NULL at the head)
    s_entry_t *recent_next;         // used less recently (NULL at the tail)
    s_entry_t *age_prev;            // inserted earlier
    s_entry_t *age_next;            // inserted later
    void *value;                    // owned (freed with free_fn)
    size_t bytes;                   // the value's size, as put
    uint64_t hash;                  // of the key
    uint64_t inserted_ms;           // cache clock at insertion
    uint64_t accesses;              // hits since insertion
    size_t key_length;              // strlen (key)
    bool prefetched;                // put ahead of use, not hit yet
    char key [];                    // NUL-terminated copy
};

typedef struct {
    uint64_t hits;
    uint64_t misses;
    uint64_t insertions;
    uint64_t evictions;
    uint64_t size_evictions;        // evictions forced by max_size (not max_bytes)
    uint64_t regrets;               // misses of keys evicted earlier
    uint64_t expirations;
    uint64_t hot_expirations;
    uint64_t prefetched;
    uint64_t prefetch_hits;
} s_counters_t;

typedef struct {
    uint32_t node;                  // index of the successor's node
    uint32_t generation;            // that node's generation when learned
    uint32_t count;                 // times seen (0 = empty slot)
} s_successor_t;

typedef struct {
    char *key;                      // buffer, reused when the node is
    size_t key_capacity;            //   reused; NULL until first use
    size_t key_length;
    uint64_t hash;
    uint32_t generation;            // bumped when the node is forgotten
    uint32_t hash_next;             // bucket chain; free list when untracked
    uint32_t recent_prev;           // updated more recently
    uint32_t recent_next;           // updated less recently
    bool tracked;                   // holds a key now
    bool evicted;                   // the key's entry was evicted since its last get
    s_successor_t successors [S_SUCCESSORS];
} s_node_t;

typedef struct {
    s_node_t *nodes;
    uint32_t capacity;              // nodes allocated
    uint32_t used;                  // nodes ever handed out (≤ capacity)
    uint32_t count;                 // nodes tracking a key
    uint32_t free_head;             // untracked nodes below `used`
    uint32_t *buckets;              // heads of the chains (S_NONE = empty)
    uint32_t bucket_count;          // power of two, or 0 before first use
    uint32_t recent_head;           // most recently updated
    uint32_t recent_tail;           // next to be forgotten
    uint32_t previous;              // node of the key requested last
    uint32_t previous_generation;
} s_model_t;

struct ff_cache {
    char *name;                     // for logs and the metric label
    ff_cache_free_fn *free_fn;      // may be NULL
    size_t max_size;
    size_t max_bytes;               // 0 = none
    size_t max_size_limit;          // ceiling of grow recommendations
    uint64_t ttl_ms;                // 0 = none
    uint32_t hot_threshold;
    uint64_t seed;                  // of the key hash
    s_entry_t **buckets;
    size_t bucket_count;            // power of two
    s_entry_t *recent_head;
    s_entry_t *recent_tail;
    s_entry_t *age_head;            // oldest insertion
    s_entry_t *age_tail;
    size_t size;                    // entries
    size_t bytes;                   // sum of their bytes
    bool clock_started;             // a time was given
    uint64_t now_ms;                // latest time given
    s_counters_t counters;          // since creation
    s_counters_t window;            // counters at the start of the window
    uint64_t window_start_ms;       // recommend window start
    size_t window_peak_size;        // most entries during the window
    s_model_t model;
    ff_counter_t *hits_metric;      // NULL without a registry
    ff_counter_t *misses_metric;
    ff_counter_t *evictions_metric;
    ff_counter_t *expirations_metric;
    ff_gauge_t *entries_metric;
    ff_gauge_t *bytes_metric;
    ff_gauge_t *efficiency_metric;
};

//  --------------------------------------------------------------------------
//  Hashing: 8 bytes per step with a multiply-xorshift mix (the splitmix64
//  constants), then the murmur3 finalizer. Seeded per cache so that key
//  sets colliding in one process do not collide in another.

static inline uint64_t
s_fmix (uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t
s_hash (const char *key, size_t length, uint64_t seed)
{
    uint64_t h = seed ^ (length * 0x9e3779b97f4a7c15ull);
    const unsigned char *bytes = (const unsigned char *) key;
    while (length >= 8) {
        uint64_t word;
        memcpy (&word, bytes, 8);
        h ^= word;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        bytes += 8;
        length -= 8;
    }
    uint64_t tail = 0;
    for (size_t index = 0; index < length; index++)
        tail |= (uint64_t) bytes [index] << (8 * index);
    h ^= tail;
    h *= 0x94d049bb133111ebull;
    return s_fmix (h);
}

static uint64_t
s_new_seed (const void *salt)
{
    uint64_t seed;
    if (getrandom (&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t) sizeof seed)
        return seed;
    //  No entropy yet (early boot): a weaker seed still varies by process.
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return s_fmix ((uint64_t) (uintptr_t) salt ^ (uint64_t) now.tv_nsec
                   ^ ((uint64_t) now.tv_sec << 32));
}

//  --------------------------------------------------------------------------
//  The cache's clock: the latest time given. A time earlier than one given
//  before is taken as that one, so insertion order is expiry order.

static inline void
s_clock (ff_cache_t *self, uint64_t now_ms)
{
    if (!self->clock_started) {
        self->clock_started = true;
        self->now_ms = now_ms;
        self->window_start_ms = now_ms;
    }
    else
    if (now_ms > self->now_ms)
        self->now_ms = now_ms;
}

static inline bool
s_expired (const ff_cache_t *self, const s_entry_t *entry, uint64_t now_ms)
{
    return self->ttl_ms > 0 && now_ms >= entry->inserted_ms
        && now_ms - entry->inserted_ms >= self->ttl_ms;
}

//  --------------------------------------------------------------------------
//  Entry table and lists

static s_entry_t *
s_find (const ff_cache_t *self, const char *key, size_t length, uint64_t hash)
{
    s_entry_t *entry = self->buckets [hash & (self->bucket_count - 1)];
    while (entry) {
        if (entry->hash == hash && entry->key_length == length
        &&  memcmp (entry->key, key, length) == 0)
            return entry;
        entry = entry->hash_next;
    }
    return NULL;
}

//  Doubles the bucket array. On allocation failure the table keeps working
//  with longer chains.
static void
s_grow_buckets (ff_cache_t *self)
{
    size_t count = self->bucket_count * 2;
    s_entry_t **buckets = calloc (count, sizeof *buckets);
    if (!buckets)
        return;
    for (s_entry_t *entry = self->recent_head; entry; entry = entry->recent_next) {
        size_t index = entry->hash & (count - 1);
        entry->hash_next = buckets [index];
        buckets [index] = entry;
    }
    free (self->buckets);
    self->buckets = buckets;
    self->bucket_count = count;
}

static void
s_hash_unlink (ff_cache_t *self, s_entry_t *entry)
{
    s_entry_t **link = &self->buckets [entry->hash & (self->bucket_count - 1)];
    while (*link != entry)
        link = &(*link)->hash_next;
    *link = entry->hash_next;
}

static void
s_recent_unlink (ff_cache_t *self, s_entry_t *entry)
{
    if (entry->recent_prev)
        entry->recent_prev->recent_next = entry->recent_next;
    else
        self->recent_head = entry->recent_next;
    if (entry->recent_next)
        entry->recent_next->recent_prev = entry->recent_prev;
    else
        self->recent_tail = entry->recent_prev;
}

static void
s_recent_push (ff_cache_t *self, s_entry_t *entry)
{
    entry->recent_prev = NULL;
    entry->recent_next = self->recent_head;
    if (self->recent_head)
        self->recent_head->recent_prev = entry;
    else
        self->recent_tail = entry;
    self->recent_head = entry;
}

static void
s_age_unlink (ff_cache_t *self, s_entry_t *entry)
{
    if (entry->age_prev)
        entry->age_prev->age_next = entry->age_next;
    else
        self->age_head = entry->age_next;
    if (entry->age_next)
        entry->age_next->age_prev = entry->age_prev;
    else
        self->age_tail = entry->age_prev;
}

static void
s_age_append (ff_cache_t *self, s_entry_t *entry)
{
    entry->age_next = NULL;
    entry->age_prev = self->age_tail;
    if (self->age_tail)
        self->age_tail->age_next = entry;
    else
        self->age_head = entry;
    self->age_tail = entry;
}

static void
s_update_gauges (ff_cache_t *self)
{
    ff_gauge_set (self->entries_metric, (double) self->size);
    ff_gauge_set (self->bytes_metric, (double) self->bytes);
}

static void
s_free_value (ff_cache_t *self, void *value)
{
    if (self->free_fn && value)
        self->free_fn (value);
}

//  Unlinks the entry everywhere and frees it with its value; counts nothing.
static void
s_drop (ff_cache_t *self, s_entry_t *entry)
{
    s_hash_unlink (self, entry);
    s_recent_unlink (self, entry);
    s_age_unlink (self, entry);
    self->size--;
    self->bytes -= entry->bytes;
    s_free_value (self, entry->value);
    free (entry);
}

static void
s_drop_expired (ff_cache_t *self, s_entry_t *entry)
{
    self->counters.expirations++;
    if (entry->accesses >= self->hot_threshold)
        self->counters.hot_expirations++;
    ff_counter_inc (self->expirations_metric);
    s_drop (self, entry);
}

//  Drops the expired entries (the oldest insertions). Returns how many.
static size_t
s_expire (ff_cache_t *self, uint64_t now_ms)
{
    size_t dropped = 0;
    while (self->age_head && s_expired (self, self->age_head, now_ms)) {
        s_drop_expired (self, self->age_head);
        dropped++;
    }
    return dropped;
}

//  --------------------------------------------------------------------------
//  Successor model

static size_t
s_model_bound (const ff_cache_t *self)
{
    if (self->max_size >= S_MODEL_KEYS_MAX / S_MODEL_KEYS_PER_ENTRY)
        return S_MODEL_KEYS_MAX;
    return self->max_size * S_MODEL_KEYS_PER_ENTRY;
}

static void
s_model_destroy (s_model_t *model)
{
    for (uint32_t index = 0; index < model->used; index++)
        free (model->nodes [index].key);
    free (model->nodes);
    free (model->buckets);
    memset (model, 0, sizeof *model);
}

static void
s_model_init (s_model_t *model)
{
    memset (model, 0, sizeof *model);
    model->free_head = S_NONE;
    model->recent_head = S_NONE;
    model->recent_tail = S_NONE;
    model->previous = S_NONE;
}

static uint32_t
s_model_find (const s_model_t *model, const char *key, size_t length, uint64_t hash)
{
    if (model->bucket_count == 0)
        return S_NONE;
    uint32_t index = model->buckets [hash & (model->bucket_count - 1)];
    while (index != S_NONE) {
        const s_node_t *node = &model->nodes [index];
        if (node->hash == hash && node->key_length == length
        &&  memcmp (node->key, key, length) == 0)
            return index;
        index = node->hash_next;
    }
    return S_NONE;
}

static void
s_model_recent_unlink (s_model_t *model, uint32_t index)
{
    s_node_t *node = &model->nodes [index];
    if (node->recent_prev != S_NONE)
        model->nodes [node->recent_prev].recent_next = node->recent_next;
    else
        model->recent_head = node->recent_next;
    if (node->recent_next != S_NONE)
        model->nodes [node->recent_next].recent_prev = node->recent_prev;
    else
        model->recent_tail = node->recent_prev;
}

static void
s_model_recent_push (s_model_t *model, uint32_t index)
{
    s_node_t *node = &model->nodes [index];
    node->recent_prev = S_NONE;
    node->recent_next = model->recent_head;
    if (model->recent_head != S_NONE)
        model->nodes [model->recent_head].recent_prev = index;
    else
        model->recent_tail = index;
    model->recent_head = index;
}

static void
s_model_touch (s_model_t *model, uint32_t index)
{
    if (model->recent_head != index) {
        s_model_recent_unlink (model, index);
        s_model_recent_push (model, index);
    }
}

static void
s_model_hash_link (s_model_t *model, uint32_t index)
{
    s_node_t *node = &model->nodes [index];
    uint32_t bucket = (uint32_t) (node->hash & (model->bucket_count - 1));
    node->hash_next = model->buckets [bucket];
    model->buckets [bucket] = index;
}

//  Forgets the least recently updated node: every slot naming it is stale
//  from now (generation). Its key buffer stays for reuse.
static void
s_model_forget_oldest (s_model_t *model)
{
    uint32_t index = model->recent_tail;
    s_node_t *node = &model->nodes [index];
    uint32_t *link = &model->buckets [node->hash & (model->bucket_count - 1)];
    while (*link != index)
        link = &model->nodes [*link].hash_next;
    *link = node->hash_next;
    s_model_recent_unlink (model, index);
    node->tracked = false;
    node->generation++;
    node->hash_next = model->free_head;
    model->free_head = index;
    model->count--;
}

//  Doubles the node buckets up to one per node; keeps working on failure.
static void
s_model_grow_buckets (s_model_t *model)
{
    uint32_t count = model->bucket_count? model->bucket_count * 2: S_BUCKETS_INITIAL;
    uint32_t *buckets = malloc (count * sizeof *buckets);
    if (!buckets)
        return;
    for (uint32_t bucket = 0; bucket < count; bucket++)
        buckets [bucket] = S_NONE;
    free (model->buckets);
    model->buckets = buckets;
    model->bucket_count = count;
    for (uint32_t index = 0; index < model->used; index++)
        if (model->nodes [index].tracked)
            s_model_hash_link (model, index);
}

//  A node for a key not tracked yet; S_NONE when out of memory.
static uint32_t
s_model_add (s_model_t *model, size_t bound, const char *key, size_t length,
             uint64_t hash)
{
    while (model->count >= bound)
        s_model_forget_oldest (model);
    if (model->count + 1 > model->bucket_count)
        s_model_grow_buckets (model);   // on failure, longer chains
    if (model->bucket_count == 0)
        return S_NONE;

    uint32_t index;
    if (model->free_head != S_NONE) {
        index = model->free_head;
        model->free_head = model->nodes [index].hash_next;
    }
    else {
        if (model->used == model->capacity) {
            size_t capacity = model->capacity? (size_t) model->capacity * 2: S_BUCKETS_INITIAL;
            if (capacity > bound)
                capacity = bound;
            if (capacity <= model->used)
                return S_NONE;      // cannot happen: count < bound
            s_node_t *nodes = realloc (model->nodes, capacity * sizeof *nodes);
            if (!nodes)
                return S_NONE;
            model->nodes = nodes;
            model->capacity = (uint32_t) capacity;
        }
        index = model->used++;
        memset (&model->nodes [index], 0, sizeof (s_node_t));
    }
    s_node_t *node = &model->nodes [index];
    //  Reuse the buffer unless too small, or far too big for this key (a
    //  long key once seen should not pin its memory forever).
    if (!node->key || node->key_capacity < length + 1
    ||  node->key_capacity > 2 * (length + 1) + 64) {
        char *buffer = malloc (length + 1);
        if (!buffer) {
            node->hash_next = model->free_head;
            model->free_head = index;
            return S_NONE;
        }
        free (node->key);
        node->key = buffer;
        node->key_capacity = length + 1;
    }
    memcpy (node->key, key, length + 1);
    node->key_length = length;
    node->hash = hash;
    node->tracked = true;
    node->evicted = false;
    memset (node->successors, 0, sizeof node->successors);
    s_model_hash_link (model, index);
    s_model_recent_push (model, index);
    model->count++;
    return index;
}

static inline bool
s_slot_live (const s_model_t *model, const s_successor_t *slot)
{
    return slot->count > 0 && model->nodes [slot->node].generation == slot->generation;
}

//  Counts "after `from` came `to`".
static void
s_model_learn (s_model_t *model, uint32_t from, uint32_t to)
{
    s_node_t *node = &model->nodes [from];
    uint32_t generation = model->nodes [to].generation;
    s_successor_t *empty = NULL;
    s_successor_t *weakest = NULL;
    for (int index = 0; index < S_SUCCESSORS; index++) {
        s_successor_t *slot = &node->successors [index];
        if (!s_slot_live (model, slot)) {
            if (!empty)
                empty = slot;
        }
        else
        if (slot->node == to && slot->generation == generation) {
            if (slot->count < UINT32_MAX)
                slot->count++;
            return;
        }
        else
        if (!weakest || slot->count < weakest->count)
            weakest = slot;
    }
    if (empty)
        *empty = (s_successor_t) { .node = to, .generation = generation, .count = 1 };
    else {
        uint32_t count = weakest->count < UINT32_MAX? weakest->count + 1: UINT32_MAX;
        *weakest = (s_successor_t) { .node = to, .generation = generation, .count = count };
    }
}

//  A get of key: learns previous -> key and makes key the previous; counts
//  a miss of a key evicted earlier as a regret.
static void
s_model_request (ff_cache_t *self, const char *key, size_t length, uint64_t hash, bool hit)
{
    s_model_t *model = &self->model;
    uint32_t index = s_model_find (model, key, length, hash);
    if (index != S_NONE && model->nodes [index].evicted) {
        model->nodes [index].evicted = false;
        if (!hit)
            self->counters.regrets++;
    }
    if (index == S_NONE)
        index = s_model_add (model, s_model_bound (self), key, length, hash);
    if (index == S_NONE) {
        model->previous = S_NONE;   // out of memory: this transition is lost
        return;
    }
    uint32_t previous = model->previous;
    if (previous != S_NONE && model->nodes [previous].generation == model->previous_generation) {
        //  previous needs no touch: it was the most recent before index.
        s_model_learn (model, previous, index);
    }
    s_model_touch (model, index);
    model->previous = index;
    model->previous_generation = model->nodes [index].generation;
}

//  --------------------------------------------------------------------------
//  Eviction

//  Evicts least recently used entries until within the bounds, keeping
//  `keep` (the entry just put: it fits on its own). Marks the evicted keys
//  the model tracks, so that a later miss on one counts as a regret.
static void
s_evict (ff_cache_t *self, const s_entry_t *keep)
{
    while (self->recent_tail && self->recent_tail != keep) {
        bool over_size = self->size > self->max_size;
        bool over_bytes = self->max_bytes > 0 && self->bytes > self->max_bytes;
        if (!over_size && !over_bytes)
            break;
        self->counters.evictions++;
        if (over_size)
            self->counters.size_evictions++;
        ff_counter_inc (self->evictions_metric);
        s_entry_t *entry = self->recent_tail;
        uint32_t node = s_model_find (&self->model, entry->key, entry->key_length, entry->hash);
        if (node != S_NONE)
            self->model.nodes [node].evicted = true;
        s_drop (self, entry);
    }
}

//  --------------------------------------------------------------------------
//  Life cycle

ff_cache_t *
ff_cache_new (const char *name, const ff_cache_options_t *options, ff_metrics_t *metrics)
{
    if (!name || !*name || !options || options->max_size == 0
    ||  (options->max_size_limit && options->max_size_limit < options->max_size)) {
        ff_log_error ("cache %s: invalid options (%s)", name && *name? name: "(unnamed)",
                      !name || !*name? "no name":
                      !options? "none given":
                      options->max_size == 0? "max_size 0": "max_size_limit below max_size");
        return NULL;
    }
    ff_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->name = strdup (name);
    self->bucket_count = S_BUCKETS_INITIAL;
    self->buckets = calloc (self->bucket_count, sizeof *self->buckets);
    if (!self->name || !self->buckets) {
        free (self->name);
        free (self->buckets);
        free (self);
        return NULL;
    }
    self->free_fn = options->free_fn;
    self->max_size = options->max_size;
    self->max_bytes = options->max_bytes;
    self->ttl_ms = options->ttl_ms;
    self->hot_threshold = options->hot_threshold? options->hot_threshold: S_HOT_THRESHOLD_DEFAULT;
    if (options->max_size_limit)
        self->max_size_limit = options->max_size_limit;
    else
    if (options->max_size > SIZE_MAX / S_LIMIT_FACTOR_DEFAULT)
        self->max_size_limit = SIZE_MAX;
    else
        self->max_size_limit = options->max_size * S_LIMIT_FACTOR_DEFAULT;
    self->seed = s_new_seed (self);
    s_model_init (&self->model);

    if (metrics) {
        char escaped [128];
        char labels [160];
        ff_metrics_label_escape (name, escaped, sizeof escaped);
        snprintf (labels, sizeof labels, "cache=\"%s\"", escaped);
        self->hits_metric = ff_metrics_counter (metrics, "farfan_cache_hits_total",
            "Cache gets that found a live entry", labels);
        self->misses_metric = ff_metrics_counter (metrics, "farfan_cache_misses_total",
            "Cache gets that found no live entry", labels);
        self->evictions_metric = ff_metrics_counter (metrics, "farfan_cache_evictions_total",
            "Entries evicted to stay within the cache's bounds", labels);
        self->expirations_metric = ff_metrics_counter (metrics, "farfan_cache_expirations_total",
            "Entries dropped because their TTL ran out", labels);
        self->entries_metric = ff_metrics_gauge (metrics, "farfan_cache_entries",
            "Entries in the cache", labels);
        self->bytes_metric = ff_metrics_gauge (metrics, "farfan_cache_bytes",
            "Bytes of values in the cache", labels);
        self->efficiency_metric = ff_metrics_gauge (metrics, "farfan_cache_efficiency_percent",
            "Hits / (hits + misses) x 100 since the cache was created", labels);
        s_update_gauges (self);
        ff_gauge_set (self->efficiency_metric, 0);
    }
    return self;
}

void
ff_cache_destroy (ff_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_cache_t *self = *self_p;
    ff_cache_clear (self);
    s_model_destroy (&self->model);
    free (self->buckets);
    free (self->name);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Gets and puts

void *
ff_cache_get (ff_cache_t *self, const char *key, uint64_t now_ms)
{
    assert (self);
    if (!key)
        return NULL;
    s_clock (self, now_ms);
    size_t length = strlen (key);
    uint64_t hash = s_hash (key, length, self->seed);
    s_entry_t *entry = s_find (self, key, length, hash);
    if (entry && s_expired (self, entry, self->now_ms)) {
        s_drop_expired (self, entry);
        s_update_gauges (self);
        entry = NULL;
    }
    void *value = NULL;
    if (entry) {
        self->counters.hits++;
        ff_counter_inc (self->hits_metric);
        entry->accesses++;
        if (entry->prefetched) {
            entry->prefetched = false;
            self->counters.prefetch_hits++;
        }
        if (self->recent_head != entry) {
            s_recent_unlink (self, entry);
            s_recent_push (self, entry);
        }
        value = entry->value;
    }
    else {
        self->counters.misses++;
        ff_counter_inc (self->misses_metric);
    }
    if (self->efficiency_metric)
        ff_gauge_set (self->efficiency_metric, 100.0 * (double) self->counters.hits
                      / (double) (self->counters.hits + self->counters.misses));
    s_model_request (self, key, length, hash, value != NULL);
    return value;
}

void *
ff_cache_peek (ff_cache_t *self, const char *key, uint64_t now_ms)
{
    assert (self);
    if (!key)
        return NULL;
    size_t length = strlen (key);
    s_entry_t *entry = s_find (self, key, length, s_hash (key, length, self->seed));
    uint64_t now = self->clock_started && self->now_ms > now_ms? self->now_ms: now_ms;
    if (!entry || s_expired (self, entry, now))
        return NULL;
    return entry->value;
}

static int
s_put (ff_cache_t *self, const char *key, void *value, size_t bytes, uint64_t now_ms,
       bool prefetched)
{
    assert (self);
    if (!value)
        return -1;
    if (!key) {
        s_free_value (self, value);
        return -1;
    }
    s_clock (self, now_ms);
    s_expire (self, self->now_ms);
    size_t length = strlen (key);
    uint64_t hash = s_hash (key, length, self->seed);
    s_entry_t *entry = s_find (self, key, length, hash);

    if (self->max_bytes > 0 && bytes > self->max_bytes) {
        //  Refused; the value the key had must not be served any longer.
        if (entry) {
            if (entry->value == value)
                entry->value = NULL;    // the same value: freed once, below
            s_drop (self, entry);
        }
        s_free_value (self, value);
        s_update_gauges (self);
        return -1;
    }
    if (entry) {
        if (entry->value != value)
            s_free_value (self, entry->value);
        self->bytes -= entry->bytes;
        s_recent_unlink (self, entry);
        s_age_unlink (self, entry);
    }
    else {
        entry = malloc (sizeof (s_entry_t) + length + 1);
        if (!entry) {
            s_free_value (self, value);
            return -1;
        }
        memcpy (entry->key, key, length + 1);
        entry->key_length = length;
        entry->hash = hash;
        if (self->size + 1 > self->bucket_count)
            s_grow_buckets (self);
        size_t bucket = hash & (self->bucket_count - 1);
        entry->hash_next = self->buckets [bucket];
        self->buckets [bucket] = entry;
        self->size++;
    }
    entry->value = value;
    entry->bytes = bytes;
    entry->inserted_ms = self->now_ms;
    entry->accesses = 0;
    entry->prefetched = prefetched;
    self->bytes += bytes;
    s_recent_push (self, entry);
    s_age_append (self, entry);
    self->counters.insertions++;
    if (prefetched)
        self->counters.prefetched++;
    s_evict (self, entry);
    if (self->size > self->window_peak_size)
        self->window_peak_size = self->size;
    s_update_gauges (self);
    return 0;
}

int
ff_cache_put (ff_cache_t *self, const char *key, void *value, size_t bytes, uint64_t now_ms)
{
    return s_put (self, key, value, bytes, now_ms, false);
}

int
ff_cache_put_prefetched (ff_cache_t *self, const char *key, void *value, size_t bytes,
                         uint64_t now_ms)
{
    return s_put (self, key, value, bytes, now_ms, true);
}

int
ff_cache_remove (ff_cache_t *self, const char *key)
{
    assert (self);
    if (!key)
        return -1;
    size_t length = strlen (key);
    s_entry_t *entry = s_find (self, key, length, s_hash (key, length, self->seed));
    if (!entry)
        return -1;
    s_drop (self, entry);
    s_update_gauges (self);
    return 0;
}

size_t
ff_cache_expire (ff_cache_t *self, uint64_t now_ms)
{
    assert (self);
    s_clock (self, now_ms);
    size_t dropped = s_expire (self, self->now_ms);
    if (dropped)
        s_update_gauges (self);
    return dropped;
}

void
ff_cache_clear (ff_cache_t *self)
{
    assert (self);
    while (self->recent_head)
        s_drop (self, self->recent_head);
    s_update_gauges (self);
}

size_t
ff_cache_size (const ff_cache_t *self)
{
    assert (self);
    return self->size;
}

void
ff_cache_stats (const ff_cache_t *self, ff_cache_stats_t *stats)
{
    assert (self);
    assert (stats);
    const s_counters_t *counters = &self->counters;
    uint64_t gets = counters->hits + counters->misses;
    *stats = (ff_cache_stats_t) {
        .hits = counters->hits,
        .misses = counters->misses,
        .insertions = counters->insertions,
        .evictions = counters->evictions,
        .expirations = counters->expirations,
        .hot_expirations = counters->hot_expirations,
        .prefetched = counters->prefetched,
        .prefetch_hits = counters->prefetch_hits,
        .size = self->size,
        .bytes = self->bytes,
        .max_size = self->max_size,
        .max_bytes = self->max_bytes,
        .ttl_ms = self->ttl_ms,
        .efficiency_percent = gets? 100.0 * (double) counters->hits / (double) gets: 0,
    };
}

//  --------------------------------------------------------------------------
//  Hot keys and predictions

static inline const s_entry_t *
s_entry_of (const char *key)
{
    return (const s_entry_t *) (const void *) (key - offsetof (s_entry_t, key));
}

//  True when a ranks before b: more accesses, then key order (so the
//  ranking does not depend on the hash seed).
static bool
s_hotter (const s_entry_t *a, const s_entry_t *b)
{
    if (a->accesses != b->accesses)
        return a->accesses > b->accesses;
    return strcmp (a->key, b->key) < 0;
}

//  Restores the heap (least hot at the root) below index.
static void
s_heap_down (const char **heap, size_t count, size_t index)
{
    while (true) {
        size_t least = index;
        size_t left = 2 * index + 1;
        size_t right = left + 1;
        if (left < count && s_hotter (s_entry_of (heap [least]), s_entry_of (heap [left])))
            least = left;
        if (right < count && s_hotter (s_entry_of (heap [least]), s_entry_of (heap [right])))
            least = right;
        if (least == index)
            return;
        const char *swap = heap [index];
        heap [index] = heap [least];
        heap [least] = swap;
        index = least;
    }
}

static int
s_compare_hot (const void *a, const void *b)
{
    const s_entry_t *first = s_entry_of (*(const char *const *) a);
    const s_entry_t *second = s_entry_of (*(const char *const *) b);
    return s_hotter (first, second)? -1: s_hotter (second, first)? 1: 0;
}

//  Keeps the n hottest in a min-heap over keys (O(size × log n)), then
//  sorts them.
size_t
ff_cache_hot_keys (const ff_cache_t *self, const char **keys, size_t n)
{
    assert (self);
    if (n == 0)
        return 0;
    assert (keys);
    size_t count = 0;
    for (const s_entry_t *entry = self->recent_head; entry; entry = entry->recent_next) {
        if (entry->accesses < self->hot_threshold || s_expired (self, entry, self->now_ms))
            continue;
        if (count < n) {
            //  Sift up the new leaf.
            size_t index = count++;
            keys [index] = entry->key;
            while (index > 0) {
                size_t parent = (index - 1) / 2;
                if (!s_hotter (s_entry_of (keys [parent]), entry))
                    break;
                keys [index] = keys [parent];
                keys [parent] = entry->key;
                index = parent;
            }
        }
        else
        if (s_hotter (entry, s_entry_of (keys [0]))) {
            keys [0] = entry->key;
            s_heap_down (keys, count, 0);
        }
    }
    qsort (keys, count, sizeof *keys, s_compare_hot);
    return count;
}

size_t
ff_cache_predict (const ff_cache_t *self, const char *key, const char **keys, size_t n)
{
    assert (self);
    if (!key || n == 0)
        return 0;
    assert (keys);
    const s_model_t *model = &self->model;
    size_t length = strlen (key);
    uint32_t index = s_model_find (model, key, length, s_hash (key, length, self->seed));
    if (index == S_NONE)
        return 0;
    //  Insertion sort of the live slots, most counted first (stable: at a
    //  tie, the slot learned first).
    const s_successor_t *ranked [S_SUCCESSORS];
    size_t count = 0;
    for (int slot = 0; slot < S_SUCCESSORS; slot++) {
        const s_successor_t *successor = &model->nodes [index].successors [slot];
        if (!s_slot_live (model, successor))
            continue;
        size_t at = count++;
        while (at > 0 && ranked [at - 1]->count < successor->count) {
            ranked [at] = ranked [at - 1];
            at--;
        }
        ranked [at] = successor;
    }
    if (count > n)
        count = n;
    for (size_t at = 0; at < count; at++)
        keys [at] = model->nodes [ranked [at]->node].key;
    return count;
}

//  --------------------------------------------------------------------------
//  Recommendations

static double
s_percent (uint64_t part, uint64_t whole)
{
    return whole? 100.0 * (double) part / (double) whole: 0;
}

static ff_cache_recommendation_t *
s_recommendation (ff_cache_recommendation_t *recommendations, size_t n, size_t *count,
                  const char *action, double current, double proposed)
{
    if (*count >= n)
        return NULL;
    ff_cache_recommendation_t *recommendation = &recommendations [(*count)++];
    memset (recommendation, 0, sizeof *recommendation);
    snprintf (recommendation->action, sizeof recommendation->action, "%s", action);
    recommendation->current = current;
    recommendation->proposed = proposed;
    return recommendation;
}

size_t
ff_cache_recommend (ff_cache_t *self, ff_cache_recommendation_t *recommendations, size_t n,
                    uint64_t now_ms)
{
    assert (self);
    if (n == 0)
        return 0;
    assert (recommendations);
    s_clock (self, now_ms);
    const s_counters_t *now = &self->counters;
    const s_counters_t *then = &self->window;
    uint64_t hits = now->hits - then->hits;
    uint64_t gets = hits + now->misses - then->misses;
    uint64_t insertions = now->insertions - then->insertions;
    uint64_t evictions = now->evictions - then->evictions;
    uint64_t size_evictions = now->size_evictions - then->size_evictions;
    uint64_t hot_expirations = now->hot_expirations - then->hot_expirations;
    uint64_t window_ms = self->now_ms - self->window_start_ms;
    double window_s = (double) window_ms / 1000.0;
    size_t count = 0;
    ff_cache_recommendation_t *recommendation;

    uint64_t misses = gets - hits;
    uint64_t regrets = now->regrets - then->regrets;
    double eviction_percent = s_percent (size_evictions, insertions);
    double hit_percent = s_percent (hits, gets);
    double regret_percent = s_percent (regrets, misses);
    if (gets >= S_RECOMMEND_MIN_GETS && insertions > 0
    &&  eviction_percent > S_GROW_EVICTION_PERCENT && hit_percent < S_GROW_HIT_RATE_PERCENT
    &&  regret_percent >= S_GROW_REGRET_PERCENT && self->max_size < self->max_size_limit) {
        size_t proposed = self->max_size <= self->max_size_limit / 2
                        ? self->max_size * 2: self->max_size_limit;
        recommendation = s_recommendation (recommendations, n, &count, "grow",
                                           (double) self->max_size, (double) proposed);
        if (recommendation)
            snprintf (recommendation->reason, sizeof recommendation->reason,
                      "%" PRIu64 " evictions at max_size for %" PRIu64 " insertions (%.1f%% > %.0f%%),"
                      " hit rate %.1f%% (< %.0f%%), %" PRIu64 " of %" PRIu64 " misses on evicted keys"
                      " (%.1f%% >= %.0f%%) over %" PRIu64 " gets in %.1f s;"
                      " max_size %zu -> %zu (limit %zu)",
                      size_evictions, insertions, eviction_percent, S_GROW_EVICTION_PERCENT,
                      hit_percent, S_GROW_HIT_RATE_PERCENT, regrets, misses, regret_percent,
                      S_GROW_REGRET_PERCENT, gets, window_s,
                      self->max_size, proposed, self->max_size_limit);
    }
    double peak_percent = s_percent (self->window_peak_size, self->max_size);
    size_t shrunk = self->max_size / 2 > S_SHRINK_FLOOR? self->max_size / 2: S_SHRINK_FLOOR;
    if (gets >= S_RECOMMEND_MIN_GETS && window_ms >= S_SHRINK_WINDOW_MS && evictions == 0
    &&  peak_percent < S_SHRINK_OCCUPANCY_PERCENT && shrunk < self->max_size) {
        recommendation = s_recommendation (recommendations, n, &count, "shrink",
                                           (double) self->max_size, (double) shrunk);
        if (recommendation)
            snprintf (recommendation->reason, sizeof recommendation->reason,
                      "peak occupancy %zu of %zu entries (%.1f%% < %.0f%%) and no evictions"
                      " over %" PRIu64 " gets in %.1f s (>= %d s); max_size %zu -> %zu",
                      self->window_peak_size, self->max_size, peak_percent,
                      S_SHRINK_OCCUPANCY_PERCENT, gets, window_s, S_SHRINK_WINDOW_MS / 1000,
                      self->max_size, shrunk);
    }
    if (hot_expirations > 0 && self->ttl_ms > 0 && self->ttl_ms < S_TTL_CAP_MS) {
        uint64_t proposed = self->ttl_ms <= S_TTL_CAP_MS / 2? self->ttl_ms * 2: S_TTL_CAP_MS;
        recommendation = s_recommendation (recommendations, n, &count, "extend_ttl",
                                           (double) self->ttl_ms, (double) proposed);
        if (recommendation)
            snprintf (recommendation->reason, sizeof recommendation->reason,
                      "%" PRIu64 " hot entries (>= %" PRIu32 " accesses) of %" PRIu64
                      " expired in %.1f s; ttl %" PRIu64 " ms -> %" PRIu64 " ms (cap %" PRIu64 ")",
                      hot_expirations, self->hot_threshold,
                      now->expirations - then->expirations, window_s,
                      self->ttl_ms, proposed, (uint64_t) S_TTL_CAP_MS);
    }
    if (count < n) {
        const char *hot [S_PRELOAD_KEYS_MAX];
        size_t hot_count = ff_cache_hot_keys (self, hot, S_PRELOAD_KEYS_MAX);
        char **keys = hot_count? calloc (hot_count, sizeof *keys): NULL;
        size_t copied = 0;
        while (keys && copied < hot_count && (keys [copied] = strdup (hot [copied])))
            copied++;
        if (hot_count && copied < hot_count) {
            //  Out of memory: no partial list.
            while (copied > 0)
                free (keys [--copied]);
            free (keys);
        }
        else
        if (hot_count) {
            recommendation = s_recommendation (recommendations, n, &count, "preload",
                                               (double) hot_count, (double) hot_count);
            recommendation->keys = keys;
            recommendation->key_count = hot_count;
            snprintf (recommendation->reason, sizeof recommendation->reason,
                      "%zu hot keys (>= %" PRIu32 " accesses) live now, the hottest"
                      " with %" PRIu64 " accesses",
                      hot_count, self->hot_threshold, s_entry_of (hot [0])->accesses);
        }
    }
    //  A new window.
    self->window = self->counters;
    self->window_start_ms = self->now_ms;
    self->window_peak_size = self->size;
    return count;
}

int
ff_cache_apply (ff_cache_t *self, const ff_cache_recommendation_t *recommendation)
{
    assert (self);
    if (!recommendation || !(recommendation->proposed >= 1)
    ||  !isfinite (recommendation->proposed))
        return -1;
    double proposed = recommendation->proposed;
    if (strcmp (recommendation->action, "grow") == 0) {
        size_t limit = self->max_size_limit;
        size_t size = proposed >= (double) limit? limit: (size_t) proposed;
        if (size > self->max_size)
            ff_cache_set_max_size (self, size);
        return 0;
    }
    if (strcmp (recommendation->action, "shrink") == 0) {
        size_t size = (size_t) proposed;
        if (size < self->max_size)
            ff_cache_set_max_size (self, size);
        return 0;
    }
    if (strcmp (recommendation->action, "extend_ttl") == 0) {
        uint64_t ttl = proposed >= (double) S_TTL_CAP_MS? S_TTL_CAP_MS: (uint64_t) proposed;
        if (ttl > self->ttl_ms)
            ff_cache_set_ttl (self, ttl);
        return 0;
    }
    return -1;
}

void
ff_cache_recommendation_free (ff_cache_recommendation_t *recommendation)
{
    if (!recommendation)
        return;
    for (size_t index = 0; index < recommendation->key_count; index++)
        free (recommendation->keys [index]);
    free (recommendation->keys);
    recommendation->keys = NULL;
    recommendation->key_count = 0;
}

void
ff_cache_set_max_size (ff_cache_t *self, size_t max_size)
{
    assert (self);
    if (max_size == 0)
        return;
    self->max_size = max_size;
    if (self->size > max_size) {
        s_evict (self, NULL);
        s_update_gauges (self);
    }
}

void
ff_cache_set_ttl (ff_cache_t *self, uint64_t ttl_ms)
{
    assert (self);
    self->ttl_ms = ttl_ms;
}
