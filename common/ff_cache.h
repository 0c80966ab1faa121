/*  ff_cache — the adaptive cache: LRU + TTL, with the counters, hot keys
    and successor model that let it tune itself (DESIGN.md §3).

    One class, used by the factory twice (compiled contracts; results keyed
    by contract digest + input digest + parameters) and for its document
    store. Keys are strings (copied); values are opaque pointers owned by
    the cache once put, released with the free function given at creation
    when they are evicted, expired, replaced, removed or the cache is
    destroyed. Values that other threads may still be using must therefore
    be reference-counted by their owner (the free function drops the
    cache's reference). The free function must not call into the cache.

    Bounds: at most max_size entries and, when max_bytes > 0, at most
    max_bytes of values (each put says its value's size). Inserting beyond
    a bound evicts least-recently-used entries first. TTL counts from
    insertion (a get does not extend it; replacing a key is a new
    insertion); an expired entry is never returned: it is dropped when a
    get touches it, by ff_cache_expire, and by every put before it evicts
    anything (an expired entry never pushes out a live one).

    Counters (true by construction, on the hot path): hits, misses,
    insertions, evictions (bounds), expirations (TTL), hot_expirations
    (expired entries whose access count was at least hot_threshold),
    prefetched (entries put with ff_cache_put_prefetched) and
    prefetch_hits (prefetched entries later hit for the first time).
    insertions counts every accepted put, replacements included; a put
    refused or failed counts nothing (its -1 tells the caller).

    Access counts per entry make the hot keys. The successor model counts,
    for each key, which keys were requested right after it (bounded: a few
    successors per key, a bounded number of keys, least-recently-updated
    forgotten first), so ff_cache_predict can say what will be asked next;
    the factory compiles those contracts while its workers are idle.
    Bounds: 4 successors per key; 4 × max_size keys, at most 65536.

    Not thread-safe: one owner thread. The clock is passed in (ms,
    monotonic) so expiry is exact and testable; the cache keeps the latest
    time it was given, and a call with an earlier time is taken as made at
    that latest time.

    A NULL key is never a key: get and peek return NULL and count nothing,
    put frees the value and returns -1, remove returns -1, predict 0. The
    empty string is a key like any other.

    When a metrics registry is given, the cache keeps there, with label
    cache="<name>": farfan_cache_hits_total, farfan_cache_misses_total,
    farfan_cache_evictions_total, farfan_cache_expirations_total,
    farfan_cache_entries, farfan_cache_bytes, farfan_cache_efficiency_percent.
*/
#ifndef FF_CACHE_H_INCLUDED
#define FF_CACHE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_metrics.h"

typedef struct ff_cache ff_cache_t;

//  Releases a value the cache owned.
typedef void (ff_cache_free_fn) (void *value);

typedef struct {
    size_t max_size;            // most entries (> 0)
    size_t max_bytes;           // most bytes of values; 0 = no byte bound
    uint64_t ttl_ms;            // lifetime from insertion; 0 = none
    uint32_t hot_threshold;     // accesses that make a key hot (0 = 3)
    size_t max_size_limit;      // the most a recommendation may grow max_size to (0 = 16 × max_size)
    ff_cache_free_fn *free_fn;  // may be NULL (values not owned)
} ff_cache_options_t;

typedef struct {
    uint64_t hits;
    uint64_t misses;
    uint64_t insertions;
    uint64_t evictions;
    uint64_t expirations;
    uint64_t hot_expirations;
    uint64_t prefetched;
    uint64_t prefetch_hits;
    size_t size;                // entries now
    size_t bytes;               // bytes now
    size_t max_size;
    size_t max_bytes;
    uint64_t ttl_ms;
    double efficiency_percent;  // hits / (hits + misses) × 100; 0 before any get
} ff_cache_stats_t;

//  A recommendation from the counters (see ff_cache_recommend).
typedef struct {
    char action [16];           // "grow", "shrink", "extend_ttl", "preload"
    char reason [256];          // the figures behind it, one line
    double current;             // max_size or ttl_ms now
    double proposed;            // what applying sets
    char **keys;                // preload: hot keys to load ahead (owned by the recommendation)
    size_t key_count;
} ff_cache_recommendation_t;

//  NULL on allocation failure or invalid options (logged): no name or an
//  empty one, options NULL, max_size 0, or a max_size_limit (when given)
//  below max_size. The name labels the metrics (escaped).
ff_cache_t *
    ff_cache_new (const char *name, const ff_cache_options_t *options,
                  ff_metrics_t *metrics);

//  Frees every value, nulls *self_p. Idempotent.
void
    ff_cache_destroy (ff_cache_t **self_p);

//  The value for key, or NULL (missing or expired). Counts a hit or a
//  miss, the entry's access count, recency, and the successor model (the
//  key requested before this one, by any get, is followed by this one).
//  The value stays owned by the cache: valid until the next call that can
//  evict or replace it.
void *
    ff_cache_get (ff_cache_t *self, const char *key, uint64_t now_ms);

//  Like ff_cache_get without counting anything or touching recency (or
//  the successor model); an expired entry is not returned, nor dropped.
void *
    ff_cache_peek (ff_cache_t *self, const char *key, uint64_t now_ms);

//  Inserts or replaces key with value (the cache owns it from now, even on
//  failure, when it is freed). Evicts LRU entries to stay within the
//  bounds; a single value larger than max_bytes is refused, and then the
//  entry the key had is removed too (it must not be served as current).
//  A replacement frees the old value (unless it is the very pointer put
//  again) and starts afresh: insertion time now, access count 0. A NULL
//  value is refused (nothing to free). Returns 0, or -1 when refused or
//  out of memory.
int
    ff_cache_put (ff_cache_t *self, const char *key, void *value, size_t bytes,
                  uint64_t now_ms);

//  ff_cache_put for a value loaded ahead of use by prediction; counted as
//  prefetched, and its first hit as a prefetch hit.
int
    ff_cache_put_prefetched (ff_cache_t *self, const char *key, void *value,
                             size_t bytes, uint64_t now_ms);

//  Removes key (freeing its value; counts nothing). Returns 0, or -1 when
//  absent (an expired entry not dropped yet is present).
int
    ff_cache_remove (ff_cache_t *self, const char *key);

//  Drops every expired entry. Returns how many.
size_t
    ff_cache_expire (ff_cache_t *self, uint64_t now_ms);

//  Removes every entry (counts nothing).
void
    ff_cache_clear (ff_cache_t *self);

size_t
    ff_cache_size (const ff_cache_t *self);

void
    ff_cache_stats (const ff_cache_t *self, ff_cache_stats_t *stats);

//  Up to n hot keys, most accessed first (equal counts in key order),
//  among live entries (not expired at the latest time given) whose access
//  count reached hot_threshold. Writes borrowed key pointers (valid until
//  the next mutation) to keys; returns how many. O(size × log n).
size_t
    ff_cache_hot_keys (const ff_cache_t *self, const char **keys, size_t n);

//  Up to n keys most often requested right after key, most frequent
//  first (equal counts in a stable order), whether or not they are
//  in the cache now. Counts are exact until a key has had more than 4
//  distinct successors; then a newcomer replaces the least counted one
//  and starts at its count + 1 (space-saving), so a successor that
//  follows key in more than a quarter of its requests is always kept.
//  A key the model has forgotten (least recently updated) drops out of
//  every successor list.
//  Borrowed pointers (valid until the next get/put); returns how many.
size_t
    ff_cache_predict (const ff_cache_t *self, const char *key, const char **keys, size_t n);

//  Fills up to n recommendations computed from the counters since the last
//  recommend (or creation); returns how many. Rules (documented with their
//  thresholds in the implementation and the factory docs):
//    - many evictions and a low hit rate      -> grow (max_size × 2, capped)
//    - hot keys expiring                      -> extend_ttl (ttl × 2)
//    - hot keys present                       -> preload (their keys)
//    - low occupancy for a long time, no evictions -> shrink
//  Thresholds: grow when evictions forced by max_size exceed 10 % of the
//  insertions, the hit rate is under 50 % and at least 10 % of the misses
//  were of keys the cache had evicted (a stream of one-off keys gains
//  nothing from growing), over at least 100 gets (never past
//  max_size_limit); extend_ttl when at least one hot entry
//  expired (TTL capped at 24 h); shrink (max_size / 2, at least 16) when
//  the peak entry count stayed under 25 % of max_size with no eviction,
//  over at least 100 gets and 5 minutes; preload lists up to 32 hot keys
//  (current = proposed = their count). Each reason gives the figures.
//  Filled in that order: grow or shrink, extend_ttl, preload; the first n
//  are returned, and a new window starts (n = 0: nothing, the window goes
//  on). Free each with ff_cache_recommendation_free.
size_t
    ff_cache_recommend (ff_cache_t *self, ff_cache_recommendation_t *recommendations, size_t n,
                        uint64_t now_ms);

//  Applies grow / shrink / extend_ttl (preload is the owner's job: it knows
//  how to load values). grow never goes past max_size_limit nor shrinks,
//  shrink never grows, extend_ttl never past 24 h nor shortens. Returns
//  0, or -1 for an action it does not apply (preload, unknown) or a
//  proposed value that is not a finite number ≥ 1.
int
    ff_cache_apply (ff_cache_t *self, const ff_cache_recommendation_t *recommendation);

void
    ff_cache_recommendation_free (ff_cache_recommendation_t *recommendation);

//  Changes the bounds / TTL now (shrinking evicts immediately, counted as
//  evictions; max_size 0 is ignored). A new TTL applies to the entries
//  present too, from their insertion.
void
    ff_cache_set_max_size (ff_cache_t *self, size_t max_size);
void
    ff_cache_set_ttl (ff_cache_t *self, uint64_t ttl_ms);

#endif
