/*  bench_cache — what the adaptive cache (ff_cache) costs over a bare hash
    table, on one core.

    Keys have the shape of the factory's result keys (contract digest,
    input digest, parameters: 96 characters), 10 000 of them, requested in
    a fixed pseudo-random order. Each figure is measured in rounds
    interleaved with its baseline, a plain CZMQ zhashx doing the same work
    on the same keys in the same order, so a burst from a neighbour hits
    both:
      cache.get_hit     ff_cache_get, every key cached: hash, LRU move,
                        counters, successor model   vs zhashx.lookup
      cache.peek        ff_cache_peek (the table alone)  vs zhashx.lookup
      cache.put_evict   ff_cache_put of a key not cached into a full cache
                        (5 000 entries): one entry allocated, the LRU one
                        evicted                     vs zhashx.insert_delete
                        (insert the key, delete the one inserted 5 000
                        before: the same table size, one strdup and one
                        free per operation, as the cache's entry)
    Every operation is checked (hits must hit, puts must succeed), so a
    broken cache cannot post a figure.

    Usage: bench_cache [--scale X] [--output PATH] [--format tsv|jsonl]
                       [--rounds N]
*/
#include "ff_bench.h"

#include "ff_cache.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

#define S_KEYS 10000
#define S_EVICT_SIZE (S_KEYS / 2)
#define S_KEY_LENGTH 96
#define S_NOW_MS 1000000ull

static volatile uintptr_t s_sink;       //  keeps lookups from being optimized out

static uint64_t
s_random (uint64_t *state)
{
    //  splitmix64: deterministic, so every run requests the same order.
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

//  "<64 hex contract digest>:<16 hex input digest>:p=<n>", padded to 96.
static void
s_make_keys (char keys [][S_KEY_LENGTH + 1], size_t *order, size_t count)
{
    uint64_t state = 42;
    for (size_t index = 0; index < count; index++) {
        char *key = keys [index];
        int at = 0;
        for (int word = 0; word < 5; word++)
            at += snprintf (key + at, (size_t) (S_KEY_LENGTH + 1 - at), "%016llx",
                            (unsigned long long) s_random (&state));
        at += snprintf (key + at, (size_t) (S_KEY_LENGTH + 1 - at), ":p=%zu", index);
        while (at < S_KEY_LENGTH)
            key [at++] = '-';
        key [S_KEY_LENGTH] = 0;
        //  Insert the 64-hex / 16-hex separator.
        key [64] = ':';
    }
    for (size_t index = 0; index < count; index++)
        order [index] = index;
    for (size_t index = count - 1; index > 0; index--) {
        size_t other = (size_t) (s_random (&state) % (index + 1));
        size_t swap = order [index];
        order [index] = order [other];
        order [other] = swap;
    }
}

typedef struct {
    char (*keys) [S_KEY_LENGTH + 1];
    size_t *order;
    size_t per_round;               //  operations per round
    int value;                      //  every value points here (not owned)
} s_work_t;

static const char *
s_key (const s_work_t *work, size_t operation)
{
    return work->keys [work->order [operation % S_KEYS]];
}

//  Each returns the round's duration in ns, or 0 when an operation failed.

static uint64_t
s_zhashx_lookup (s_work_t *work, zhashx_t *table)
{
    size_t found = 0;
    uintptr_t sum = 0;
    uint64_t t0 = ff_bench_now_ns ();
    for (size_t operation = 0; operation < work->per_round; operation++) {
        void *item = zhashx_lookup (table, s_key (work, operation));
        sum += (uintptr_t) item;
        found += item != NULL;
    }
    uint64_t elapsed = ff_bench_now_ns () - t0;
    s_sink = sum;
    return found == work->per_round? elapsed: 0;
}

static uint64_t
s_cache_get (s_work_t *work, ff_cache_t *cache)
{
    size_t found = 0;
    uintptr_t sum = 0;
    uint64_t t0 = ff_bench_now_ns ();
    for (size_t operation = 0; operation < work->per_round; operation++) {
        void *item = ff_cache_get (cache, s_key (work, operation), S_NOW_MS);
        sum += (uintptr_t) item;
        found += item != NULL;
    }
    uint64_t elapsed = ff_bench_now_ns () - t0;
    s_sink = sum;
    return found == work->per_round? elapsed: 0;
}

static uint64_t
s_cache_peek (s_work_t *work, ff_cache_t *cache)
{
    size_t found = 0;
    uintptr_t sum = 0;
    uint64_t t0 = ff_bench_now_ns ();
    for (size_t operation = 0; operation < work->per_round; operation++) {
        void *item = ff_cache_peek (cache, s_key (work, operation), S_NOW_MS);
        sum += (uintptr_t) item;
        found += item != NULL;
    }
    uint64_t elapsed = ff_bench_now_ns () - t0;
    s_sink = sum;
    return found == work->per_round? elapsed: 0;
}

//  The key stream cycles over S_KEYS keys through S_EVICT_SIZE places, so
//  the next key is never present: each put inserts and evicts one. *next
//  carries the stream position across rounds.
static uint64_t
s_cache_put_evict (s_work_t *work, ff_cache_t *cache, size_t *next)
{
    size_t failed = 0;
    uint64_t t0 = ff_bench_now_ns ();
    for (size_t operation = 0; operation < work->per_round; operation++, (*next)++)
        failed += ff_cache_put (cache, work->keys [*next % S_KEYS], &work->value, 1,
                                S_NOW_MS) != 0;
    uint64_t elapsed = ff_bench_now_ns () - t0;
    return failed == 0 && ff_cache_size (cache) == S_EVICT_SIZE? elapsed: 0;
}

static uint64_t
s_zhashx_insert_delete (s_work_t *work, zhashx_t *table, size_t *next)
{
    size_t failed = 0;
    uint64_t t0 = ff_bench_now_ns ();
    for (size_t operation = 0; operation < work->per_round; operation++, (*next)++) {
        failed += zhashx_insert (table, work->keys [*next % S_KEYS], &work->value) != 0;
        zhashx_delete (table, work->keys [(*next - S_EVICT_SIZE) % S_KEYS]);
    }
    uint64_t elapsed = ff_bench_now_ns () - t0;
    return failed == 0 && zhashx_size (table) == S_EVICT_SIZE? elapsed: 0;
}

int
main (int argc, char **argv)
{
    ff_bench_t *bench = ff_bench_new ("cache");
    if (!bench)
        return 1;
    int rc = ff_bench_args (bench, argc, argv);
    if (rc) {
        ff_bench_destroy (&bench);
        return rc == 1? 0: 2;
    }
    int rounds = ff_bench_rounds (bench);
    s_work_t work = {
        .keys = calloc (S_KEYS, sizeof *work.keys),
        .order = calloc (S_KEYS, sizeof *work.order),
    };
    work.per_round = ff_bench_scaled (bench, 2000000, 20000 * (size_t) rounds) / (size_t) rounds;
    printf ("bench cache: %d keys of %d chars, %zu operations per round, %d rounds, scale %g\n",
            S_KEYS, S_KEY_LENGTH, work.per_round, rounds, ff_bench_scale (bench));
    fflush (stdout);

    ff_cache_options_t options = { .max_size = S_KEYS };
    ff_cache_t *cache = ff_cache_new ("bench", &options, NULL);
    ff_cache_options_t evict_options = { .max_size = S_EVICT_SIZE };
    ff_cache_t *evicting = ff_cache_new ("bench-evict", &evict_options, NULL);
    zhashx_t *table = zhashx_new ();
    zhashx_t *fifo = zhashx_new ();
    ff_bench_samples_t *lookup_rounds = ff_bench_samples_new (0);
    ff_bench_samples_t *get_rounds = ff_bench_samples_new (0);
    ff_bench_samples_t *peek_rounds = ff_bench_samples_new (0);
    ff_bench_samples_t *insert_rounds = ff_bench_samples_new (0);
    ff_bench_samples_t *put_rounds = ff_bench_samples_new (0);
    if (!work.keys || !work.order || !cache || !evicting || !table || !fifo
    ||  !lookup_rounds || !get_rounds || !peek_rounds || !insert_rounds || !put_rounds) {
        ff_bench_fail (bench, "out of memory");
        goto cleanup;
    }
    s_make_keys (work.keys, work.order, S_KEYS);
    for (size_t index = 0; index < S_KEYS; index++) {
        if (zhashx_insert (table, work.keys [index], &work.value) != 0
        ||  ff_cache_put (cache, work.keys [index], &work.value, 1, S_NOW_MS) != 0) {
            ff_bench_fail (bench, "filling the tables failed at key %zu", index);
            goto cleanup;
        }
    }
    //  Fill the evicting pair to their bound; the streams go on from there.
    size_t cache_next = 0, fifo_next = 0;
    for (; cache_next < S_EVICT_SIZE; cache_next++, fifo_next++) {
        if (ff_cache_put (evicting, work.keys [cache_next], &work.value, 1, S_NOW_MS) != 0
        ||  zhashx_insert (fifo, work.keys [fifo_next], &work.value) != 0) {
            ff_bench_fail (bench, "filling the evicting tables failed");
            goto cleanup;
        }
    }

    //  One untimed round of each warms caches and the successor model.
    bool ok = s_zhashx_lookup (&work, table) && s_cache_get (&work, cache)
           && s_cache_peek (&work, cache)
           && s_zhashx_insert_delete (&work, fifo, &fifo_next)
           && s_cache_put_evict (&work, evicting, &cache_next);
    for (int round = 0; ok && round < rounds; round++) {
        uint64_t durations [5] = {
            s_zhashx_lookup (&work, table),
            s_cache_get (&work, cache),
            s_cache_peek (&work, cache),
            s_zhashx_insert_delete (&work, fifo, &fifo_next),
            s_cache_put_evict (&work, evicting, &cache_next),
        };
        for (int index = 0; index < 5; index++)
            ok = ok && durations [index] > 0;
        if (ok) {
            ff_bench_samples_add (lookup_rounds, durations [0]);
            ff_bench_samples_add (get_rounds, durations [1]);
            ff_bench_samples_add (peek_rounds, durations [2]);
            ff_bench_samples_add (insert_rounds, durations [3]);
            ff_bench_samples_add (put_rounds, durations [4]);
        }
    }
    if (!ok) {
        ff_bench_fail (bench, "an operation failed (a miss where a hit was due, or a put refused)");
        goto cleanup;
    }
    ff_cache_stats_t stats;
    ff_cache_stats (cache, &stats);
    if (stats.misses != 0 || stats.hits != (uint64_t) work.per_round * (uint64_t) (rounds + 1)) {
        ff_bench_fail (bench, "cache counters wrong: %llu hits, %llu misses",
                       (unsigned long long) stats.hits, (unsigned long long) stats.misses);
        goto cleanup;
    }
    ff_bench_record_rounds (bench, "zhashx.lookup", work.per_round, lookup_rounds, "op/s",
                            NULL, "czmq zhashx, 10000 keys, hits;");
    ff_bench_record_rounds (bench, "cache.get_hit", work.per_round, get_rounds, "op/s",
                            "zhashx.lookup", "LRU + counters + successor model;");
    ff_bench_record_rounds (bench, "cache.peek", work.per_round, peek_rounds, "op/s",
                            "zhashx.lookup", "lookup only;");
    ff_bench_record_rounds (bench, "zhashx.insert_delete", work.per_round, insert_rounds, "op/s",
                            NULL, "5000 entries: insert one, delete the oldest;");
    ff_bench_record_rounds (bench, "cache.put_evict", work.per_round, put_rounds, "op/s",
                            "zhashx.insert_delete", "5000 entries full: put one, LRU evicted;");

cleanup:
    rc = ff_bench_finish (bench);
    ff_bench_samples_destroy (&lookup_rounds);
    ff_bench_samples_destroy (&get_rounds);
    ff_bench_samples_destroy (&peek_rounds);
    ff_bench_samples_destroy (&insert_rounds);
    ff_bench_samples_destroy (&put_rounds);
    zhashx_destroy (&table);
    zhashx_destroy (&fifo);
    ff_cache_destroy (&cache);
    ff_cache_destroy (&evicting);
    free (work.keys);
    free (work.order);
    ff_bench_destroy (&bench);
    return rc? 1: 0;
}
