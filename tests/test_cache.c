/*  test_cache — the adaptive cache: LRU and byte bounds, TTL with an
    injected clock, ownership (every value freed exactly once), exact
    counters, hot keys, the successor model and its memory bound, prefetch
    counters, recommendations and their application, metrics.
*/
#include "ff_cache.h"

#include <criterion/criterion.h>

#include "ff_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1000000000ull        // an arbitrary start, far from 0
#define MAX_VALUES 4096

//  --------------------------------------------------------------------------
//  Values are malloc'ed ints holding an id; the free function counts each
//  id's releases, so a test can check "exactly once" for every value.

static int s_freed [MAX_VALUES];
static int s_free_calls;
static int s_next_id;

static void *
s_value (void)
{
    cr_assert_lt (s_next_id, MAX_VALUES);
    int *value = malloc (sizeof *value);
    cr_assert_not_null (value);
    *value = s_next_id++;
    return value;
}

static int
s_id (const void *value)
{
    return value? *(const int *) value: -1;
}

static void
s_free_value (void *value)
{
    int id = *(int *) value;
    cr_assert (id >= 0 && id < s_next_id, "freeing a value the test never made: %d", id);
    s_freed [id]++;
    s_free_calls++;
    free (value);
}

//  Every value made so far was freed exactly once.
static void
s_assert_all_freed_once (void)
{
    for (int id = 0; id < s_next_id; id++)
        cr_assert_eq (s_freed [id], 1, "value %d freed %d times", id, s_freed [id]);
}

static ff_cache_t *
s_cache (size_t max_size, size_t max_bytes, uint64_t ttl_ms)
{
    ff_cache_options_t options = {
        .max_size = max_size,
        .max_bytes = max_bytes,
        .ttl_ms = ttl_ms,
        .free_fn = s_free_value,
    };
    ff_cache_t *cache = ff_cache_new ("test", &options, NULL);
    cr_assert_not_null (cache);
    return cache;
}

//  Puts a new value under key; returns its id.
static int
s_put (ff_cache_t *cache, const char *key, size_t bytes, uint64_t now)
{
    void *value = s_value ();
    int id = s_id (value);
    cr_assert_eq (ff_cache_put (cache, key, value, bytes, now), 0, "put %s", key);
    return id;
}

static ff_cache_stats_t
s_stats (ff_cache_t *cache)
{
    ff_cache_stats_t stats;
    ff_cache_stats (cache, &stats);
    return stats;
}

//  --------------------------------------------------------------------------

FF_TEST (cache, new_rejects_invalid_options)
{
    ff_cache_options_t options = { .max_size = 10 };
    cr_expect_null (ff_cache_new ("c", NULL, NULL));
    cr_expect_null (ff_cache_new (NULL, &options, NULL));
    cr_expect_null (ff_cache_new ("", &options, NULL));
    options.max_size = 0;
    cr_expect_null (ff_cache_new ("c", &options, NULL));
    options.max_size = 10;
    options.max_size_limit = 9;
    cr_expect_null (ff_cache_new ("c", &options, NULL));
    options.max_size_limit = 10;
    ff_cache_t *cache = ff_cache_new ("c", &options, NULL);
    cr_assert_not_null (cache);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.max_size, 10);
    cr_expect_eq (stats.size, 0);
    cr_expect_eq (stats.efficiency_percent, 0);
    ff_cache_destroy (&cache);
}

FF_TEST (cache, destroy_is_idempotent)
{
    ff_cache_t *cache = s_cache (4, 0, 0);
    s_put (cache, "a", 1, T0);
    ff_cache_destroy (&cache);
    cr_expect_null (cache);
    ff_cache_destroy (&cache);
    ff_cache_destroy (NULL);
    s_assert_all_freed_once ();
}

FF_TEST (cache, lru_order_and_eviction_by_count)
{
    ff_cache_t *cache = s_cache (3, 0, 0);
    int a = s_put (cache, "a", 1, T0);
    int b = s_put (cache, "b", 1, T0);
    int c = s_put (cache, "c", 1, T0);
    //  a becomes the most recently used; peek does not change the order.
    cr_assert_eq (s_id (ff_cache_get (cache, "a", T0)), a);
    cr_assert_eq (s_id (ff_cache_peek (cache, "b", T0)), b);
    int d = s_put (cache, "d", 1, T0);
    cr_expect_eq (s_freed [b], 1, "b, least recently used, evicted");
    cr_expect_null (ff_cache_peek (cache, "b", T0));
    cr_expect_eq (ff_cache_size (cache), 3);
    //  Now c is the oldest use.
    int e = s_put (cache, "e", 1, T0);
    cr_expect_eq (s_freed [c], 1);
    cr_expect_eq (s_freed [a] + s_freed [d] + s_freed [e], 0);
    cr_expect_eq (s_id (ff_cache_peek (cache, "a", T0)), a);
    cr_expect_eq (s_id (ff_cache_peek (cache, "d", T0)), d);
    cr_expect_eq (s_id (ff_cache_peek (cache, "e", T0)), e);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.evictions, 2);
    cr_expect_eq (stats.insertions, 5);
    cr_expect_eq (stats.hits, 1);
    cr_expect_eq (stats.misses, 0);
    cr_expect_eq (stats.size, 3);
    cr_expect_eq (stats.bytes, 3);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, eviction_by_bytes_and_refusal)
{
    ff_cache_t *cache = s_cache (100, 100, 0);
    int a = s_put (cache, "a", 40, T0);
    int b = s_put (cache, "b", 40, T0);
    int c = s_put (cache, "c", 40, T0);
    cr_expect_eq (s_freed [a], 1, "a evicted to fit c");
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.bytes, 80);
    cr_expect_eq (stats.size, 2);
    cr_expect_eq (stats.evictions, 1);
    //  Exactly max_bytes fits, evicting everything else.
    int d = s_put (cache, "d", 100, T0);
    cr_expect_eq (s_freed [b] + s_freed [c], 2);
    stats = s_stats (cache);
    cr_expect_eq (stats.bytes, 100);
    cr_expect_eq (stats.size, 1);
    cr_expect_eq (stats.evictions, 3);
    //  One byte more is refused, and the value freed.
    void *big = s_value ();
    cr_expect_eq (ff_cache_put (cache, "e", big, 101, T0), -1);
    cr_expect_eq (s_freed [s_next_id - 1], 1);
    cr_expect_null (ff_cache_peek (cache, "e", T0));
    stats = s_stats (cache);
    cr_expect_eq (stats.insertions, 4, "a refused put is no insertion");
    cr_expect_eq (stats.evictions, 3, "nothing evicted for it");
    cr_expect_eq (s_id (ff_cache_peek (cache, "d", T0)), d);
    //  Replacing a key with a value too large drops the old one as well.
    big = s_value ();
    cr_expect_eq (ff_cache_put (cache, "d", big, 101, T0), -1);
    cr_expect_eq (s_freed [d], 1);
    cr_expect_eq (s_freed [s_next_id - 1], 1);
    cr_expect_null (ff_cache_peek (cache, "d", T0));
    stats = s_stats (cache);
    cr_expect_eq (stats.size, 0);
    cr_expect_eq (stats.bytes, 0);
    //  The very value put again with a size too large: freed once.
    int same = s_put (cache, "s", 10, T0);
    cr_expect_eq (ff_cache_put (cache, "s", ff_cache_peek (cache, "s", T0), 101, T0), -1);
    cr_expect_eq (s_freed [same], 1);
    cr_expect_null (ff_cache_peek (cache, "s", T0));
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, ttl_expiry_is_exact)
{
    ff_cache_t *cache = s_cache (10, 0, 1000);
    int a = s_put (cache, "a", 1, T0);
    cr_expect_eq (s_id (ff_cache_get (cache, "a", T0 + 999)), a, "alive at ttl - 1 ms");
    cr_expect_eq (s_id (ff_cache_peek (cache, "a", T0 + 999)), a);
    cr_expect_null (ff_cache_peek (cache, "a", T0 + 1000), "peek: expired at ttl");
    cr_expect_eq (s_freed [a], 0, "peek drops nothing");
    cr_expect_null (ff_cache_get (cache, "a", T0 + 1000), "expired at ttl");
    cr_expect_eq (s_freed [a], 1, "dropped when touched");
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.hits, 1);
    cr_expect_eq (stats.misses, 1);
    cr_expect_eq (stats.expirations, 1);
    cr_expect_eq (stats.evictions, 0);
    cr_expect_eq (stats.size, 0);
    //  A get does not extend the TTL.
    int b = s_put (cache, "b", 1, T0 + 2000);
    for (uint64_t t = T0 + 2000; t < T0 + 3000; t += 100)
        cr_expect_eq (s_id (ff_cache_get (cache, "b", t)), b);
    cr_expect_null (ff_cache_get (cache, "b", T0 + 3000));
    //  Replacement restarts the TTL.
    s_put (cache, "c", 1, T0 + 4000);
    int c2 = s_put (cache, "c", 1, T0 + 4500);
    cr_expect_eq (s_id (ff_cache_get (cache, "c", T0 + 5499)), c2);
    cr_expect_null (ff_cache_get (cache, "c", T0 + 5500));
    //  A clock going backwards does not revive anything: the cache keeps
    //  the latest time it was given.
    int d = s_put (cache, "d", 1, T0 + 6000);
    cr_expect_null (ff_cache_get (cache, "other", T0 + 7000));
    cr_expect_eq (s_freed [d], 0);
    cr_expect_null (ff_cache_get (cache, "d", T0 + 6500));
    cr_expect_eq (s_freed [d], 1);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, expire_drops_exactly_the_expired)
{
    ff_cache_t *cache = s_cache (10, 0, 1000);
    int a = s_put (cache, "a", 1, T0);
    int b = s_put (cache, "b", 1, T0 + 1);
    int c = s_put (cache, "c", 1, T0 + 500);
    cr_expect_eq (ff_cache_expire (cache, T0 + 999), 0);
    cr_expect_eq (ff_cache_expire (cache, T0 + 1000), 1);
    cr_expect_eq (s_freed [a], 1);
    cr_expect_eq (ff_cache_expire (cache, T0 + 1001), 1);
    cr_expect_eq (s_freed [b], 1);
    cr_expect_eq (s_freed [c], 0);
    cr_expect_eq (ff_cache_size (cache), 1);
    //  Using an entry does not change its expiry.
    cr_expect_not_null (ff_cache_get (cache, "c", T0 + 1400));
    cr_expect_eq (ff_cache_expire (cache, T0 + 1500), 1);
    cr_expect_eq (ff_cache_expire (cache, T0 + 99999), 0);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.expirations, 3);
    cr_expect_eq (stats.size, 0);
    cr_expect_eq (stats.bytes, 0);
    //  No TTL: nothing ever expires.
    ff_cache_t *forever = s_cache (10, 0, 0);
    s_put (forever, "x", 1, T0);
    cr_expect_eq (ff_cache_expire (forever, UINT64_MAX), 0);
    cr_expect_not_null (ff_cache_get (forever, "x", UINT64_MAX));
    ff_cache_destroy (&forever);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, put_drops_expired_entries_before_evicting)
{
    ff_cache_t *cache = s_cache (2, 0, 1000);
    s_put (cache, "a", 1, T0);
    s_put (cache, "b", 1, T0 + 10);
    //  a expired: c takes its place, b stays.
    s_put (cache, "c", 1, T0 + 1000);
    cr_expect_null (ff_cache_peek (cache, "a", T0 + 1000));
    cr_expect_not_null (ff_cache_peek (cache, "b", T0 + 1000));
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.expirations, 1);
    cr_expect_eq (stats.evictions, 0);
    cr_expect_eq (stats.size, 2);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, replacement_frees_the_old_value)
{
    ff_cache_t *cache = s_cache (4, 100, 0);
    int old = s_put (cache, "k", 30, T0);
    cr_expect_not_null (ff_cache_get (cache, "k", T0));
    int new = s_put (cache, "k", 50, T0);
    cr_expect_eq (s_freed [old], 1);
    cr_expect_eq (s_freed [new], 0);
    cr_expect_eq (s_id (ff_cache_peek (cache, "k", T0)), new);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.size, 1);
    cr_expect_eq (stats.bytes, 50);
    cr_expect_eq (stats.insertions, 2);
    cr_expect_eq (stats.evictions, 0);
    //  The very value put again is not freed: it is still the value.
    void *same = ff_cache_peek (cache, "k", T0);
    cr_expect_eq (ff_cache_put (cache, "k", same, 20, T0), 0);
    cr_expect_eq (s_freed [new], 0);
    cr_expect_eq (s_stats (cache).bytes, 20);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, free_fn_called_exactly_once_on_every_path)
{
    ff_cache_t *cache = s_cache (3, 1000, 1000);
    s_put (cache, "evicted-by-count-1", 1, T0);
    s_put (cache, "evicted-by-count-2", 1, T0);
    s_put (cache, "x1", 1, T0);
    s_put (cache, "x2", 1, T0);
    s_put (cache, "x3", 1, T0);                        // two evicted by count
    s_put (cache, "big", 999, T0);                     // x1, x2 evicted by bytes
    s_put (cache, "big", 10, T0);                      // replaced
    s_put (cache, "removed", 1, T0);
    cr_expect_eq (ff_cache_remove (cache, "removed"), 0);
    cr_expect_eq (ff_cache_remove (cache, "removed"), -1);
    s_put (cache, "expired-by-get", 1, T0 + 100);
    cr_expect_null (ff_cache_get (cache, "expired-by-get", T0 + 1100));
    s_put (cache, "expired-by-expire", 1, T0 + 1200);  // drops x3 and big (T0)
    cr_expect_eq (ff_cache_expire (cache, T0 + 2200), 1);
    s_put (cache, "expired-by-put", 1, T0 + 3000);
    s_put (cache, "after", 1, T0 + 4000);             // drops expired-by-put
    cr_expect_eq (ff_cache_put (cache, "refused", s_value (), 1001, T0 + 4000), -1);
    cr_expect_eq (ff_cache_put (cache, NULL, s_value (), 1, T0 + 4000), -1);
    cr_expect_eq (ff_cache_put (cache, NULL, NULL, 1, T0 + 4000), -1);
    cr_expect_eq (ff_cache_put (cache, "null-value", NULL, 1, T0 + 4000), -1);
    s_put (cache, "cleared", 1, T0 + 4000);
    ff_cache_clear (cache);
    cr_expect_eq (ff_cache_size (cache), 0);
    s_put (cache, "shrunk-1", 1, T0 + 4000);
    s_put (cache, "shrunk-2", 1, T0 + 4000);
    s_put (cache, "destroyed", 1, T0 + 4000);
    ff_cache_set_max_size (cache, 1);
    cr_expect_eq (ff_cache_size (cache), 1);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
    cr_expect_eq (s_free_calls, s_next_id);
}

FF_TEST (cache, values_not_owned_without_free_fn)
{
    ff_cache_options_t options = { .max_size = 1 };
    ff_cache_t *cache = ff_cache_new ("borrowed", &options, NULL);
    cr_assert_not_null (cache);
    static int first = 1, second = 2;
    cr_expect_eq (ff_cache_put (cache, "a", &first, sizeof first, T0), 0);
    cr_expect_eq (ff_cache_put (cache, "b", &second, sizeof second, T0), 0);
    cr_expect_eq (ff_cache_get (cache, "b", T0), &second);
    ff_cache_destroy (&cache);
}

FF_TEST (cache, null_and_empty_keys)
{
    ff_cache_t *cache = s_cache (4, 0, 0);
    cr_expect_null (ff_cache_get (cache, NULL, T0));
    cr_expect_null (ff_cache_peek (cache, NULL, T0));
    cr_expect_eq (ff_cache_remove (cache, NULL), -1);
    const char *keys [4];
    cr_expect_eq (ff_cache_predict (cache, NULL, keys, 4), 0);
    void *value = s_value ();
    int id = s_id (value);
    cr_expect_eq (ff_cache_put (cache, NULL, value, 1, T0), -1);
    cr_expect_eq (s_freed [id], 1);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.hits + stats.misses + stats.insertions, 0, "a NULL key counts nothing");
    //  The empty string is a key.
    int empty = s_put (cache, "", 1, T0);
    cr_expect_eq (s_id (ff_cache_get (cache, "", T0)), empty);
    cr_expect_null (ff_cache_get (cache, "x", T0));
    stats = s_stats (cache);
    cr_expect_eq (stats.hits, 1);
    cr_expect_eq (stats.misses, 1);
    cr_expect_eq (ff_cache_remove (cache, ""), 0);
    cr_expect_eq (ff_cache_size (cache), 0);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, counters_exact_in_a_script)
{
    ff_cache_options_t options = {
        .max_size = 3, .ttl_ms = 1000, .hot_threshold = 2, .free_fn = s_free_value,
    };
    ff_cache_t *cache = ff_cache_new ("script", &options, NULL);
    cr_assert_not_null (cache);
    s_put (cache, "a", 10, T0);                        // ins 1
    s_put (cache, "b", 20, T0);                        // ins 2
    cr_expect_not_null (ff_cache_get (cache, "a", T0 + 1));        // hit 1
    cr_expect_not_null (ff_cache_get (cache, "a", T0 + 2));        // hit 2 (a hot)
    cr_expect_null (ff_cache_get (cache, "z", T0 + 3));            // miss 1
    s_put (cache, "c", 30, T0 + 4);                    // ins 3
    s_put (cache, "d", 40, T0 + 5);                    // ins 4, evicts b
    cr_expect_null (ff_cache_get (cache, "b", T0 + 6));            // miss 2
    cr_assert_eq (ff_cache_put_prefetched (cache, "e", s_value (), 5, T0 + 7), 0);
                                                       // ins 5, prefetched 1, evicts a
    cr_expect_not_null (ff_cache_get (cache, "e", T0 + 8));        // hit 3, prefetch hit 1
    cr_expect_not_null (ff_cache_get (cache, "e", T0 + 9));        // hit 4 (e hot)
    cr_expect_null (ff_cache_get (cache, "c", T0 + 1004));         // expired (not hot), miss 3
    cr_expect_eq (ff_cache_expire (cache, T0 + 1007), 2);           // d, e (e hot)
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.hits, 4);
    cr_expect_eq (stats.misses, 3);
    cr_expect_eq (stats.insertions, 5);
    cr_expect_eq (stats.evictions, 2);
    cr_expect_eq (stats.expirations, 3);
    cr_expect_eq (stats.hot_expirations, 1);
    cr_expect_eq (stats.prefetched, 1);
    cr_expect_eq (stats.prefetch_hits, 1);
    cr_expect_eq (stats.size, 0);
    cr_expect_eq (stats.bytes, 0);
    cr_expect_eq (stats.max_size, 3);
    cr_expect_eq (stats.ttl_ms, 1000);
    cr_expect_float_eq (stats.efficiency_percent, 400.0 / 7, 1e-9);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, hot_keys_most_accessed_first)
{
    ff_cache_options_t options = {
        .max_size = 10, .ttl_ms = 1000, .hot_threshold = 2, .free_fn = s_free_value,
    };
    ff_cache_t *cache = ff_cache_new ("hot", &options, NULL);
    cr_assert_not_null (cache);
    const char *names [] = { "d", "c", "b", "a", "e" };
    int gets [] = { 1, 3, 3, 5, 4 };
    for (int index = 0; index < 5; index++)
        s_put (cache, names [index], 1, index == 4? T0 + 500: T0);
    for (int index = 0; index < 5; index++)
        for (int get = 0; get < gets [index]; get++)
            cr_assert_not_null (ff_cache_get (cache, names [index], T0 + 600));
    const char *keys [10];
    size_t count = ff_cache_hot_keys (cache, keys, 10);
    cr_assert_eq (count, 4, "d (1 access) is not hot");
    cr_expect_str_eq (keys [0], "a");
    cr_expect_str_eq (keys [1], "e");
    cr_expect_str_eq (keys [2], "b", "equal counts in key order");
    cr_expect_str_eq (keys [3], "c");
    cr_assert_eq (ff_cache_hot_keys (cache, keys, 2), 2);
    cr_expect_str_eq (keys [0], "a");
    cr_expect_str_eq (keys [1], "e");
    cr_expect_eq (ff_cache_hot_keys (cache, keys, 0), 0);
    //  Once the clock passes their TTL, the entries inserted at T0 are no
    //  longer live, even before they are dropped.
    cr_expect_null (ff_cache_get (cache, "zz", T0 + 1000));
    count = ff_cache_hot_keys (cache, keys, 10);
    cr_assert_eq (count, 1);
    cr_expect_str_eq (keys [0], "e");
    //  Replacing a key starts its count again.
    s_put (cache, "e", 1, T0 + 1001);
    cr_expect_eq (ff_cache_hot_keys (cache, keys, 10), 0);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, hot_expirations_count_only_hot_entries)
{
    ff_cache_t *cache = s_cache (10, 0, 1000);   // hot_threshold 0 = 3
    s_put (cache, "hot", 1, T0);
    s_put (cache, "warm", 1, T0);
    s_put (cache, "cold", 1, T0);
    for (int get = 0; get < 3; get++)
        cr_assert_not_null (ff_cache_get (cache, "hot", T0 + 1));
    for (int get = 0; get < 2; get++)
        cr_assert_not_null (ff_cache_get (cache, "warm", T0 + 1));
    cr_expect_eq (ff_cache_expire (cache, T0 + 1000), 3);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.expirations, 3);
    cr_expect_eq (stats.hot_expirations, 1);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, predict_learns_a_repeated_sequence)
{
    ff_cache_t *cache = s_cache (10, 0, 0);
    const char *keys [4];
    cr_expect_eq (ff_cache_predict (cache, "A", keys, 4), 0, "nothing learned yet");
    for (int round = 0; round < 10; round++) {
        ff_cache_get (cache, "A", T0);
        ff_cache_get (cache, "B", T0);
        ff_cache_get (cache, "C", T0);
    }
    //  A -> B, B -> C, C -> A, whether cached or not (nothing is).
    cr_assert_eq (ff_cache_predict (cache, "A", keys, 4), 1);
    cr_expect_str_eq (keys [0], "B");
    cr_assert_eq (ff_cache_predict (cache, "B", keys, 4), 1);
    cr_expect_str_eq (keys [0], "C");
    cr_assert_eq (ff_cache_predict (cache, "C", keys, 4), 1);
    cr_expect_str_eq (keys [0], "A");
    cr_expect_eq (ff_cache_predict (cache, "D", keys, 4), 0);
    //  Noise: after A, sometimes D; B stays first.
    ff_cache_get (cache, "A", T0);
    ff_cache_get (cache, "D", T0);
    ff_cache_get (cache, "A", T0);
    ff_cache_get (cache, "D", T0);
    cr_assert_eq (ff_cache_predict (cache, "A", keys, 4), 2);
    cr_expect_str_eq (keys [0], "B");
    cr_expect_str_eq (keys [1], "D");
    cr_assert_eq (ff_cache_predict (cache, "A", keys, 1), 1);
    cr_expect_str_eq (keys [0], "B");
    //  peek and put teach nothing.
    s_put (cache, "A", 1, T0);
    ff_cache_peek (cache, "A", T0);
    ff_cache_peek (cache, "E", T0);
    cr_expect_eq (ff_cache_predict (cache, "E", keys, 4), 0);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, predict_keeps_frequent_successors)
{
    ff_cache_t *cache = s_cache (10, 0, 0);
    //  A followed by B ×5, C ×3, D ×1, E ×2: four slots, full.
    const char *followers [] = { "B", "B", "B", "B", "B", "C", "C", "C", "D", "E", "E" };
    for (size_t index = 0; index < sizeof followers / sizeof followers [0]; index++) {
        ff_cache_get (cache, "A", T0);
        ff_cache_get (cache, followers [index], T0);
    }
    const char *keys [4];
    cr_assert_eq (ff_cache_predict (cache, "A", keys, 4), 4);
    cr_expect_str_eq (keys [0], "B");
    cr_expect_str_eq (keys [1], "C");
    cr_expect_str_eq (keys [2], "E");
    cr_expect_str_eq (keys [3], "D");
    //  A fifth successor replaces the least counted (D, in the third
    //  slot), starting at its count + 1 = 2: level with E, and ranked
    //  before it (equal counts in slot order).
    ff_cache_get (cache, "A", T0);
    ff_cache_get (cache, "F", T0);
    cr_assert_eq (ff_cache_predict (cache, "A", keys, 4), 4);
    cr_expect_str_eq (keys [0], "B");
    cr_expect_str_eq (keys [1], "C");
    cr_expect_str_eq (keys [2], "F");
    cr_expect_str_eq (keys [3], "E");
    //  A stream of one-off successors never pushes out B.
    char key [32];
    for (int index = 0; index < 200; index++) {
        ff_cache_get (cache, "A", T0);
        snprintf (key, sizeof key, "noise-%d", index);
        ff_cache_get (cache, key, T0);
        if (index % 2 == 0) {
            ff_cache_get (cache, "A", T0);
            ff_cache_get (cache, "B", T0);
        }
    }
    cr_assert_geq (ff_cache_predict (cache, "A", keys, 4), 1);
    cr_expect_str_eq (keys [0], "B");
    ff_cache_destroy (&cache);
}

//  The model tracks at most 4 × max_size keys: the last 40 keys requested
//  here, exactly, after 100 000 distinct ones.
FF_TEST (cache, model_memory_is_bounded)
{
    ff_cache_t *cache = s_cache (10, 0, 0);
    const int total = 100000;
    const int tracked = 4 * 10;
    char key [32], next [32];
    for (int index = 0; index < total; index++) {
        snprintf (key, sizeof key, "key-%d", index);
        ff_cache_get (cache, key, T0);
    }
    const char *keys [4];
    //  The oldest tracked key still knows its successor...
    snprintf (key, sizeof key, "key-%d", total - tracked);
    snprintf (next, sizeof next, "key-%d", total - tracked + 1);
    cr_assert_eq (ff_cache_predict (cache, key, keys, 4), 1);
    cr_expect_str_eq (keys [0], next);
    //  ...the one before it is forgotten, and so is every older one.
    for (int index = 0; index < total - tracked; index += 997) {
        snprintf (key, sizeof key, "key-%d", index);
        cr_expect_eq (ff_cache_predict (cache, key, keys, 4), 0, "%s remembered", key);
    }
    snprintf (key, sizeof key, "key-%d", total - tracked - 1);
    cr_expect_eq (ff_cache_predict (cache, key, keys, 4), 0);
    //  One more key forgets the oldest tracked one; its successor slot in
    //  the next key's table is not a dangling reference.
    ff_cache_get (cache, "one-more", T0);
    snprintf (key, sizeof key, "key-%d", total - tracked);
    cr_expect_eq (ff_cache_predict (cache, key, keys, 4), 0);
    snprintf (key, sizeof key, "key-%d", total - 1);
    cr_assert_eq (ff_cache_predict (cache, key, keys, 4), 1);
    cr_expect_str_eq (keys [0], "one-more");
    //  A recurring key among the noise keeps being tracked while it is
    //  requested at least once per 40 keys.
    for (int index = 0; index < 10000; index++) {
        snprintf (key, sizeof key, "late-%d", index);
        ff_cache_get (cache, key, T0);
        if (index % 20 == 0) {
            ff_cache_get (cache, "X", T0);
            ff_cache_get (cache, "Y", T0);
        }
    }
    cr_assert_eq (ff_cache_predict (cache, "X", keys, 4), 1);
    cr_expect_str_eq (keys [0], "Y");
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.misses, (uint64_t) total + 1 + 10000 + 2 * 500);
    ff_cache_destroy (&cache);
}

//  Shrinking max_size shrinks the model's bound with it.
FF_TEST (cache, model_bound_follows_max_size)
{
    ff_cache_t *cache = s_cache (100, 0, 0);
    char key [32];
    for (int index = 0; index < 400; index++) {
        snprintf (key, sizeof key, "key-%d", index);
        ff_cache_get (cache, key, T0);
    }
    const char *keys [4];
    cr_expect_eq (ff_cache_predict (cache, "key-0", keys, 4), 1, "400 keys tracked");
    ff_cache_set_max_size (cache, 10);
    ff_cache_get (cache, "new", T0);
    //  Now 40: key-0 .. key-360 forgotten, key-361 .. key-399 and new kept.
    cr_expect_eq (ff_cache_predict (cache, "key-360", keys, 4), 0);
    cr_expect_eq (ff_cache_predict (cache, "key-361", keys, 4), 1);
    ff_cache_destroy (&cache);
}

FF_TEST (cache, prefetch_counters)
{
    ff_cache_t *cache = s_cache (2, 0, 0);
    cr_assert_eq (ff_cache_put_prefetched (cache, "p1", s_value (), 1, T0), 0);
    cr_assert_eq (ff_cache_put_prefetched (cache, "p2", s_value (), 1, T0), 0);
    cr_expect_not_null (ff_cache_get (cache, "p1", T0));
    cr_expect_not_null (ff_cache_get (cache, "p1", T0));    // not a second prefetch hit
    s_put (cache, "plain", 1, T0);                          // evicts p2, never used
    cr_expect_not_null (ff_cache_get (cache, "plain", T0));
    //  A plain put over a prefetched entry is no longer prefetched.
    cr_assert_eq (ff_cache_put_prefetched (cache, "p3", s_value (), 1, T0), 0);
    s_put (cache, "p3", 1, T0);
    cr_expect_not_null (ff_cache_get (cache, "p3", T0));
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.prefetched, 3);
    cr_expect_eq (stats.prefetch_hits, 1);
    cr_expect_eq (stats.insertions, 5);
    cr_expect_eq (stats.hits, 4);
    //  A refused prefetch counts nothing.
    ff_cache_destroy (&cache);
    cache = s_cache (2, 10, 0);
    cr_expect_eq (ff_cache_put_prefetched (cache, "huge", s_value (), 11, T0), -1);
    cr_expect_eq (s_stats (cache).prefetched, 0);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

//  --------------------------------------------------------------------------
//  Recommendations

//  Finds the recommendation with action among count, or NULL.
static ff_cache_recommendation_t *
s_find (ff_cache_recommendation_t *recommendations, size_t count, const char *action)
{
    for (size_t index = 0; index < count; index++)
        if (strcmp (recommendations [index].action, action) == 0)
            return &recommendations [index];
    return NULL;
}

static void
s_free_all (ff_cache_recommendation_t *recommendations, size_t count)
{
    for (size_t index = 0; index < count; index++)
        ff_cache_recommendation_free (&recommendations [index]);
}

//  A working set of `keys` keys cycled through `gets` times, each miss
//  followed by a put (the owner computing the value).
static void
s_cycle (ff_cache_t *cache, int keys, int gets, uint64_t now)
{
    char key [32];
    for (int index = 0; index < gets; index++) {
        snprintf (key, sizeof key, "w-%d", index % keys);
        if (!ff_cache_get (cache, key, now))
            s_put (cache, key, 1, now);
    }
}

FF_TEST (cache, recommend_grow_then_apply)
{
    ff_cache_options_t options = {
        .max_size = 10, .max_size_limit = 30, .free_fn = s_free_value,
    };
    ff_cache_t *cache = ff_cache_new ("grow", &options, NULL);
    cr_assert_not_null (cache);
    //  40 keys through 10 places: every get misses, every put evicts.
    s_cycle (cache, 40, 200, T0);
    ff_cache_recommendation_t recommendations [4];
    size_t count = ff_cache_recommend (cache, recommendations, 4, T0 + 1000);
    cr_assert_eq (count, 1);
    ff_cache_recommendation_t *grow = s_find (recommendations, count, "grow");
    cr_assert_not_null (grow);
    cr_expect_eq (grow->current, 10);
    cr_expect_eq (grow->proposed, 20);
    cr_expect_null (grow->keys);
    cr_expect_not_null (strstr (grow->reason, "190 evictions at max_size for 200 insertions"),
                        "%s", grow->reason);
    cr_expect_not_null (strstr (grow->reason, "hit rate 0.0%"), "%s", grow->reason);
    cr_expect_not_null (strstr (grow->reason, "160 of 200 misses on evicted keys"), "%s",
                        grow->reason);
    cr_expect_not_null (strstr (grow->reason, "200 gets"), "%s", grow->reason);
    cr_expect_not_null (strstr (grow->reason, "max_size 10 -> 20"), "%s", grow->reason);
    cr_expect_null (strchr (grow->reason, '\n'));
    cr_assert_eq (ff_cache_apply (cache, grow), 0);
    cr_expect_eq (s_stats (cache).max_size, 20);
    s_free_all (recommendations, count);
    //  A new window: the figures start again.
    cr_expect_eq (ff_cache_recommend (cache, recommendations, 4, T0 + 1001), 0);
    //  Still too small: grows to the limit, not beyond.
    s_cycle (cache, 40, 200, T0 + 2000);
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 3000);
    grow = s_find (recommendations, count, "grow");
    cr_assert_not_null (grow);
    cr_expect_eq (grow->proposed, 30);
    cr_assert_eq (ff_cache_apply (cache, grow), 0);
    cr_expect_eq (s_stats (cache).max_size, 30);
    s_free_all (recommendations, count);
    s_cycle (cache, 40, 200, T0 + 4000);
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 5000);
    cr_expect_null (s_find (recommendations, count, "grow"), "at the limit");
    s_free_all (recommendations, count);
    //  Applying a grow beyond the limit stops at the limit.
    ff_cache_recommendation_t crafted = { .action = "grow", .current = 30, .proposed = 1e9 };
    cr_expect_eq (ff_cache_apply (cache, &crafted), 0);
    cr_expect_eq (s_stats (cache).max_size, 30);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, no_grow_below_the_thresholds)
{
    ff_cache_t *cache = s_cache (10, 0, 0);
    ff_cache_recommendation_t recommendations [4];
    //  Too few gets to judge.
    s_cycle (cache, 40, 99, T0);
    cr_expect_eq (ff_cache_recommend (cache, recommendations, 4, T0), 0);
    //  A working set that fits: hit rate high, nothing evicted.
    s_cycle (cache, 10, 1000, T0);
    size_t count = ff_cache_recommend (cache, recommendations, 4, T0);
    cr_expect_null (s_find (recommendations, count, "grow"));
    s_free_all (recommendations, count);
    //  A stream of one-off keys: evictions and misses, but no regret.
    char key [32];
    for (int index = 0; index < 500; index++) {
        snprintf (key, sizeof key, "once-%d", index);
        cr_assert_null (ff_cache_get (cache, key, T0));
        s_put (cache, key, 1, T0);
    }
    count = ff_cache_recommend (cache, recommendations, 4, T0);
    cr_expect_null (s_find (recommendations, count, "grow"));
    s_free_all (recommendations, count);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, recommend_extend_ttl_then_apply)
{
    ff_cache_t *cache = s_cache (10, 0, 1000);
    s_put (cache, "hot", 1, T0);
    s_put (cache, "cold", 1, T0);
    for (int get = 0; get < 3; get++)
        cr_assert_not_null (ff_cache_get (cache, "hot", T0 + 10));
    ff_cache_recommendation_t recommendations [4];
    //  Hot but not expired yet: preload only.
    size_t count = ff_cache_recommend (cache, recommendations, 4, T0 + 20);
    cr_expect_null (s_find (recommendations, count, "extend_ttl"));
    s_free_all (recommendations, count);
    cr_expect_null (ff_cache_get (cache, "hot", T0 + 1000));
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 1000);
    cr_assert_eq (count, 1);
    ff_cache_recommendation_t *extend = s_find (recommendations, count, "extend_ttl");
    cr_assert_not_null (extend);
    cr_expect_eq (extend->current, 1000);
    cr_expect_eq (extend->proposed, 2000);
    cr_expect_not_null (strstr (extend->reason, "1 hot entries (>= 3 accesses) of 1 expired"),
                        "%s", extend->reason);
    cr_expect_not_null (strstr (extend->reason, "ttl 1000 ms -> 2000 ms"), "%s", extend->reason);
    cr_assert_eq (ff_cache_apply (cache, extend), 0);
    cr_expect_eq (s_stats (cache).ttl_ms, 2000);
    s_free_all (recommendations, count);
    //  The new TTL applies to entries present: cold (T0) lives until T0 + 2000.
    cr_expect_not_null (ff_cache_get (cache, "cold", T0 + 1999));
    cr_expect_null (ff_cache_get (cache, "cold", T0 + 2000));
    //  Capped at 24 h.
    ff_cache_set_ttl (cache, 20ull * 3600 * 1000);
    s_put (cache, "hot2", 1, T0 + 3000);
    for (int get = 0; get < 3; get++)
        cr_assert_not_null (ff_cache_get (cache, "hot2", T0 + 3000));
    uint64_t later = T0 + 3000 + 20ull * 3600 * 1000;
    cr_expect_eq (ff_cache_expire (cache, later), 1);
    count = ff_cache_recommend (cache, recommendations, 4, later);
    extend = s_find (recommendations, count, "extend_ttl");
    cr_assert_not_null (extend);
    cr_expect_eq (extend->proposed, 24.0 * 3600 * 1000);
    cr_assert_eq (ff_cache_apply (cache, extend), 0);
    cr_expect_eq (s_stats (cache).ttl_ms, 24ull * 3600 * 1000);
    s_free_all (recommendations, count);
    ff_cache_recommendation_t crafted = { .action = "extend_ttl", .proposed = 1e12 };
    cr_expect_eq (ff_cache_apply (cache, &crafted), 0);
    cr_expect_eq (s_stats (cache).ttl_ms, 24ull * 3600 * 1000);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, recommend_preload_lists_hot_keys)
{
    ff_cache_t *cache = s_cache (100, 0, 0);
    char key [32];
    for (int index = 0; index < 40; index++) {
        snprintf (key, sizeof key, "k%02d", index);
        s_put (cache, key, 1, T0);
        //  k00..k34 hot (3 + index accesses), k35..k39 not.
        for (int get = 0; index < 35 && get < 3 + index; get++)
            cr_assert_not_null (ff_cache_get (cache, key, T0));
    }
    ff_cache_recommendation_t recommendations [4];
    size_t count = ff_cache_recommend (cache, recommendations, 4, T0);
    cr_assert_eq (count, 1);
    ff_cache_recommendation_t *preload = s_find (recommendations, count, "preload");
    cr_assert_not_null (preload);
    cr_assert_eq (preload->key_count, 32, "at most 32");
    cr_expect_eq (preload->current, 32);
    cr_expect_eq (preload->proposed, 32);
    for (int index = 0; index < 32; index++) {
        snprintf (key, sizeof key, "k%02d", 34 - index);
        cr_expect_str_eq (preload->keys [index], key);
    }
    cr_expect_not_null (strstr (preload->reason, "32 hot keys (>= 3 accesses)"), "%s",
                        preload->reason);
    cr_expect_not_null (strstr (preload->reason, "37 accesses"), "%s", preload->reason);
    cr_expect_eq (ff_cache_apply (cache, preload), -1, "preload is the owner's job");
    //  The keys are the recommendation's own: they outlive the entries.
    ff_cache_clear (cache);
    cr_expect_str_eq (preload->keys [0], "k34");
    s_free_all (recommendations, count);
    cr_expect_null (recommendations [0].keys);
    cr_expect_eq (recommendations [0].key_count, 0);
    ff_cache_recommendation_free (&recommendations [0]);    // twice: harmless
    ff_cache_recommendation_free (NULL);
    //  n limits the recommendations; n = 0 returns none.
    cr_expect_eq (ff_cache_recommend (cache, recommendations, 0, T0), 0);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, recommend_shrink_then_apply)
{
    ff_cache_t *cache = s_cache (100, 0, 0);
    char key [32];
    //  A busy start: 60 entries, then 50 of them removed.
    for (int index = 0; index < 50; index++) {
        snprintf (key, sizeof key, "tmp-%d", index);
        s_put (cache, key, 1, T0);
    }
    s_cycle (cache, 10, 200, T0);       // 10 more, all hits after the first
    for (int index = 0; index < 50; index++) {
        snprintf (key, sizeof key, "tmp-%d", index);
        cr_assert_eq (ff_cache_remove (cache, key), 0);
    }
    ff_cache_recommendation_t recommendations [4];
    //  A minute is too short a window (and its peak was 60 %).
    size_t count = ff_cache_recommend (cache, recommendations, 4, T0 + 60000);
    cr_expect_null (s_find (recommendations, count, "shrink"));
    s_free_all (recommendations, count);
    //  The next window starts at the present 10 entries.
    s_cycle (cache, 10, 200, T0 + 60000);
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 60000 + 300000);
    ff_cache_recommendation_t *shrink = s_find (recommendations, count, "shrink");
    cr_assert_not_null (shrink);
    cr_expect_eq (shrink->current, 100);
    cr_expect_eq (shrink->proposed, 50);
    cr_expect_not_null (strstr (shrink->reason, "peak occupancy 10 of 100 entries (10.0% < 25%)"),
                        "%s", shrink->reason);
    cr_expect_not_null (strstr (shrink->reason, "200 gets in 300.0 s"), "%s", shrink->reason);
    cr_expect_not_null (strstr (shrink->reason, "max_size 100 -> 50"), "%s", shrink->reason);
    //  Hot keys are there too (every w-* key was hit 39 times).
    cr_expect_not_null (s_find (recommendations, count, "preload"));
    cr_assert_eq (ff_cache_apply (cache, shrink), 0);
    cr_expect_eq (s_stats (cache).max_size, 50);
    cr_expect_eq (s_stats (cache).size, 10, "shrinking never evicts here");
    s_free_all (recommendations, count);
    //  Occupancy that rose during the window, even briefly, prevents a
    //  shrink: 30 of 50.
    for (int index = 0; index < 20; index++) {
        snprintf (key, sizeof key, "burst-%d", index);
        s_put (cache, key, 1, T0 + 400000);
    }
    for (int index = 0; index < 20; index++) {
        snprintf (key, sizeof key, "burst-%d", index);
        cr_assert_eq (ff_cache_remove (cache, key), 0);
    }
    s_cycle (cache, 10, 200, T0 + 400000);
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 800000);
    cr_expect_null (s_find (recommendations, count, "shrink"));
    s_free_all (recommendations, count);
    //  An eviction in the window prevents a shrink.
    ff_cache_set_max_size (cache, 10);
    s_put (cache, "extra", 1, T0 + 900000);
    ff_cache_set_max_size (cache, 100);
    s_cycle (cache, 10, 200, T0 + 900000);
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 1300000);
    cr_expect_null (s_find (recommendations, count, "shrink"));
    s_free_all (recommendations, count);
    //  Never below 16 entries: 2 of 16 is low, but 16 is the floor.
    ff_cache_set_max_size (cache, 16);
    ff_cache_clear (cache);
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 1300001);
    s_free_all (recommendations, count);
    s_cycle (cache, 2, 200, T0 + 1400000);
    count = ff_cache_recommend (cache, recommendations, 4, T0 + 1800000);
    cr_expect_null (s_find (recommendations, count, "shrink"));
    s_free_all (recommendations, count);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, apply_refuses_what_it_does_not_do)
{
    ff_cache_t *cache = s_cache (10, 0, 1000);
    ff_cache_recommendation_t unknown = { .action = "defragment", .proposed = 5 };
    cr_expect_eq (ff_cache_apply (cache, &unknown), -1);
    ff_cache_recommendation_t preload = { .action = "preload", .proposed = 1 };
    cr_expect_eq (ff_cache_apply (cache, &preload), -1);
    ff_cache_recommendation_t nan = { .action = "grow", .proposed = NAN };
    cr_expect_eq (ff_cache_apply (cache, &nan), -1);
    ff_cache_recommendation_t zero = { .action = "shrink", .proposed = 0 };
    cr_expect_eq (ff_cache_apply (cache, &zero), -1);
    cr_expect_eq (ff_cache_apply (cache, NULL), -1);
    //  A grow proposing less, or a shrink proposing more, changes nothing.
    ff_cache_recommendation_t grow = { .action = "grow", .proposed = 5 };
    cr_expect_eq (ff_cache_apply (cache, &grow), 0);
    ff_cache_recommendation_t shrink = { .action = "shrink", .proposed = 50 };
    cr_expect_eq (ff_cache_apply (cache, &shrink), 0);
    ff_cache_recommendation_t shorten = { .action = "extend_ttl", .proposed = 10 };
    cr_expect_eq (ff_cache_apply (cache, &shorten), 0);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.max_size, 10);
    cr_expect_eq (stats.ttl_ms, 1000);
    ff_cache_destroy (&cache);
}

FF_TEST (cache, set_max_size_evicts_now)
{
    ff_cache_t *cache = s_cache (5, 0, 0);
    int ids [5];
    char key [8];
    for (int index = 0; index < 5; index++) {
        snprintf (key, sizeof key, "k%d", index);
        ids [index] = s_put (cache, key, 1, T0);
    }
    ff_cache_set_max_size (cache, 0);
    cr_expect_eq (s_stats (cache).max_size, 5, "0 is ignored");
    ff_cache_set_max_size (cache, 2);
    cr_expect_eq (ff_cache_size (cache), 2);
    for (int index = 0; index < 3; index++)
        cr_expect_eq (s_freed [ids [index]], 1, "k%d (oldest) evicted", index);
    ff_cache_stats_t stats = s_stats (cache);
    cr_expect_eq (stats.evictions, 3);
    cr_expect_eq (stats.max_size, 2);
    ff_cache_destroy (&cache);
    s_assert_all_freed_once ();
}

FF_TEST (cache, metrics_rendered)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    cr_assert_not_null (metrics);
    ff_cache_options_t options = { .max_size = 2, .ttl_ms = 1000, .free_fn = s_free_value };
    ff_cache_t *cache = ff_cache_new ("results", &options, metrics);
    cr_assert_not_null (cache);
    s_put (cache, "a", 100, T0);
    s_put (cache, "b", 200, T0);
    s_put (cache, "c", 300, T0);                         // evicts a
    cr_expect_not_null (ff_cache_get (cache, "b", T0));
    cr_expect_not_null (ff_cache_get (cache, "c", T0));
    cr_expect_not_null (ff_cache_get (cache, "c", T0));
    cr_expect_null (ff_cache_get (cache, "a", T0));
    cr_expect_eq (ff_cache_expire (cache, T0 + 1000), 2);
    s_put (cache, "d", 50, T0 + 1000);

    char *page = ff_metrics_render (metrics);
    cr_assert_not_null (page);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_hits_total{cache=\"results\"}"), 3);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_misses_total{cache=\"results\"}"), 1);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_evictions_total{cache=\"results\"}"), 1);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_expirations_total{cache=\"results\"}"), 2);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_entries{cache=\"results\"}"), 1);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_bytes{cache=\"results\"}"), 50);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_efficiency_percent{cache=\"results\"}"), 75);
    cr_expect_not_null (strstr (page, "# TYPE farfan_cache_hits_total counter"));
    cr_expect_not_null (strstr (page, "# TYPE farfan_cache_entries gauge"));
    free (page);
    //  Gone: no entries.
    ff_cache_destroy (&cache);
    page = ff_metrics_render (metrics);
    cr_assert_not_null (page);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_entries{cache=\"results\"}"), 0);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_bytes{cache=\"results\"}"), 0);
    free (page);
    //  A name that needs escaping is escaped.
    ff_cache_t *odd = ff_cache_new ("a\"b", &options, metrics);
    cr_assert_not_null (odd);
    cr_expect_null (ff_cache_get (odd, "x", T0));
    page = ff_metrics_render (metrics);
    cr_expect_eq (ff_test_metric (page, "farfan_cache_misses_total{cache=\"a\\\"b\"}"), 1);
    free (page);
    ff_cache_destroy (&odd);
    ff_metrics_destroy (&metrics);
    s_assert_all_freed_once ();
}
