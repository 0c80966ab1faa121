/*  sis_storm — event-storm detection and per-source fairness
    (DESIGN.md §5, proto/sisas.md §5).

    The rate is the valid signals received over a sliding 1 s window
    (sis_rate: 100 ms steps), counted before any shedding. A storm begins
    as soon as the rate exceeds rate_limit, and ends once it has stayed
    below rate_limit × exit_ratio for hold_us (hysteresis: a rate hovering
    at the limit does not flap).

    During a storm every source is held to the fair level L, the
    max-min fair share of rate_limit over the sources' offered rates
    (their rates over the last second, shed signals included): L is such
    that Σ min(rᵢ, L) = rate_limit. A source offering less than L passes
    untouched; the noisiest sources are cut to L, so the excess of the
    noisiest goes first and a quiet source keeps flowing. Each source's
    token bucket runs at L with a burst of L × burst_us (at least 1
    signal). L is recomputed at every tick. Not thread-safe.
*/
#ifndef SIS_STORM_H_INCLUDED
#define SIS_STORM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sis_rate.h"
#include "sis_sources.h"

typedef struct {
    bool enabled;
    double rate_limit;          // signals/s over 1 s that start a storm (> 0)
    double exit_ratio;          // a storm ends below rate_limit × exit_ratio ...
    uint64_t hold_us;           // ... held that long
    uint64_t burst_us;          // per-source bucket burst, in time at level L
} sis_storm_config_t;

typedef struct {
    bool active;
    double rate;                // signals/s, last second
    double level;               // L while active, else 0
    uint64_t storms;            // storms begun
    uint64_t shed;              // signals shed by the buckets
} sis_storm_stats_t;

typedef struct sis_storm sis_storm_t;

//  sources is borrowed (to compute L over every source). NULL when out of
//  memory.
sis_storm_t *
    sis_storm_new (const sis_storm_config_t *config, sis_sources_t *sources, uint64_t now_us);

void
    sis_storm_destroy (sis_storm_t **self_p);

//  Counts one valid signal of source at now_us and says whether it may
//  pass: false = shed (a storm is on and the source is over its share).
//  Disabled: counts, always true. A storm may begin here.
bool
    sis_storm_admit (sis_storm_t *self, sis_source_t *source, uint64_t now_us);

//  Re-evaluates: ends a storm that has calmed down, recomputes L. Returns
//  true when the state or L changed enough (by more than 10 %) that a
//  THROTTLE should go out now.
bool
    sis_storm_tick (sis_storm_t *self, uint64_t now_us);

//  True once after the storm state changed in admit (then a THROTTLE
//  should go out); clears the flag.
bool
    sis_storm_take_change (sis_storm_t *self);

void
    sis_storm_stats (sis_storm_t *self, uint64_t now_us, sis_storm_stats_t *stats);

const sis_storm_config_t *
    sis_storm_config (const sis_storm_t *self);

//  New settings. Disabling ends a storm at once.
void
    sis_storm_configure (sis_storm_t *self, const sis_storm_config_t *config, uint64_t now_us);

//  Up to max sources whose offered rate exceeds L (the ones being cut),
//  noisiest first, into out; returns how many. None when no storm.
size_t
    sis_storm_throttled (sis_storm_t *self, uint64_t now_us, sis_source_t **out, size_t max);

//  Up to max sources by offered rate, highest first (HEALTH).
size_t
    sis_storm_noisiest (sis_storm_t *self, uint64_t now_us, sis_source_t **out, size_t max);

#endif
