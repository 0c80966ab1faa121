/*  sis_storm — see sis_storm.h.

    L is computed by water filling: sort the offered rates ascending;
    walk them with the capacity left; the first source whose rate exceeds
    an equal split of what is left sets L to that split. Buckets follow L
    lazily: a generation number changes with L, and a source's bucket is
    re-rated the next time one of its signals is admitted.
*/
#include "sis_storm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sis_storm {
    sis_storm_config_t config;
    sis_sources_t *sources;             // borrowed
    sis_rate_t rate;                    // every valid signal
    bool active;
    bool changed;                       // state changed in admit, THROTTLE due
    double level;                       // L
    double published_level;             // L at the last THROTTLE
    uint64_t generation;                // changes with L
    uint64_t calm_since_us;             // rate below the exit line since (0 = not calm)
    uint64_t storms;
    uint64_t shed;
    double *scratch;                    // rates, one per source slot
    sis_source_t **order;               // sources, one per slot
};

sis_storm_t *
sis_storm_new (const sis_storm_config_t *config, sis_sources_t *sources, uint64_t now_us)
{
    sis_storm_t *self = (sis_storm_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->sources = sources;
    self->generation = 1;
    sis_rate_init (&self->rate, now_us);
    size_t slots = sis_sources_slots (sources);
    self->scratch = (double *) calloc (slots, sizeof (double));
    self->order = (sis_source_t **) calloc (slots, sizeof (sis_source_t *));
    if (!self->scratch || !self->order)
        sis_storm_destroy (&self);
    return self;
}

void
sis_storm_destroy (sis_storm_t **self_p)
{
    if (self_p && *self_p) {
        sis_storm_t *self = *self_p;
        free (self->scratch);
        free (self->order);
        free (self);
        *self_p = NULL;
    }
}

static int
s_compare_rates (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  The max-min fair level over the sources' offered rates.
static double
s_fair_level (sis_storm_t *self, uint64_t now_us)
{
    size_t count = 0;
    size_t slots = sis_sources_slots (self->sources);
    for (size_t index = 0; index < slots; index++) {
        sis_source_t *source = sis_sources_at (self->sources, index);
        if (!source)
            continue;
        double rate = (double) sis_rate_get (&source->rate, now_us);
        if (rate > 0)
            self->scratch [count++] = rate;
    }
    if (count == 0)
        return self->config.rate_limit;
    qsort (self->scratch, count, sizeof (double), s_compare_rates);
    double left = self->config.rate_limit;
    for (size_t i = 0; i < count; i++) {
        double share = left / (double) (count - i);
        if (self->scratch [i] > share)
            return share;
        left -= self->scratch [i];
    }
    //  Everyone fits: the noisiest source's rate plus what is left.
    return self->scratch [count - 1] + left;
}

static void
s_set_level (sis_storm_t *self, double level)
{
    self->level = level;
    self->generation++;
}

static void
s_begin (sis_storm_t *self, uint64_t now_us)
{
    self->active = true;
    self->changed = true;
    self->storms++;
    self->calm_since_us = 0;
    s_set_level (self, s_fair_level (self, now_us));
}

static void
s_end (sis_storm_t *self)
{
    self->active = false;
    self->changed = true;
    self->calm_since_us = 0;
    s_set_level (self, 0);
}

bool
sis_storm_admit (sis_storm_t *self, sis_source_t *source, uint64_t now_us)
{
    sis_rate_add (&self->rate, now_us, 1);
    sis_rate_add (&source->rate, now_us, 1);
    if (!self->config.enabled)
        return true;
    if (!self->active) {
        if ((double) self->rate.sum <= self->config.rate_limit)
            return true;
        s_begin (self, now_us);
    }
    if (source->bucket_generation != self->generation) {
        double burst = self->level * (double) self->config.burst_us / 1e6;
        if (source->bucket_generation == 0 || source->bucket.rate == 0)
            ff_token_bucket_init (&source->bucket, self->level, burst, now_us);
        else
            ff_token_bucket_set_rate (&source->bucket, self->level, burst, now_us);
        source->bucket_generation = self->generation;
    }
    if (ff_token_bucket_take (&source->bucket, 1, now_us))
        return true;
    source->shed++;
    self->shed++;
    return false;
}

bool
sis_storm_tick (sis_storm_t *self, uint64_t now_us)
{
    if (!self->active)
        return false;
    double rate = (double) sis_rate_get (&self->rate, now_us);
    if (rate < self->config.rate_limit * self->config.exit_ratio) {
        if (self->calm_since_us == 0)
            self->calm_since_us = now_us;
        if (now_us - self->calm_since_us >= self->config.hold_us) {
            s_end (self);
            self->changed = false;
            self->published_level = 0;
            return true;
        }
    }
    else
        self->calm_since_us = 0;
    double level = s_fair_level (self, now_us);
    if (fabs (level - self->level) > self->level * 1e-3)
        s_set_level (self, level);
    if (fabs (level - self->published_level) > self->published_level * 0.1) {
        self->published_level = level;
        return true;
    }
    return false;
}

bool
sis_storm_take_change (sis_storm_t *self)
{
    bool changed = self->changed;
    self->changed = false;
    if (changed)
        self->published_level = self->level;
    return changed;
}

void
sis_storm_stats (sis_storm_t *self, uint64_t now_us, sis_storm_stats_t *stats)
{
    stats->active = self->active;
    stats->rate = (double) sis_rate_get (&self->rate, now_us);
    stats->level = self->active ? self->level : 0;
    stats->storms = self->storms;
    stats->shed = self->shed;
}

const sis_storm_config_t *
sis_storm_config (const sis_storm_t *self)
{
    return &self->config;
}

void
sis_storm_configure (sis_storm_t *self, const sis_storm_config_t *config, uint64_t now_us)
{
    self->config = *config;
    if (self->active && !config->enabled)
        s_end (self);
    else
    if (self->active)
        s_set_level (self, s_fair_level (self, now_us));
}

static int
s_compare_sources (const void *a, const void *b)
{
    const sis_source_t *x = *(sis_source_t *const *) a;
    const sis_source_t *y = *(sis_source_t *const *) b;
    //  Rates were just brought up to date by the caller.
    return x->rate.sum > y->rate.sum ? -1 : x->rate.sum < y->rate.sum;
}

//  Sources with an offered rate above floor, sorted noisiest first.
static size_t
s_sorted (sis_storm_t *self, uint64_t now_us, double floor, sis_source_t **out, size_t max)
{
    size_t count = 0;
    size_t slots = sis_sources_slots (self->sources);
    for (size_t index = 0; index < slots; index++) {
        sis_source_t *source = sis_sources_at (self->sources, index);
        if (source && (double) sis_rate_get (&source->rate, now_us) > floor)
            self->order [count++] = source;
    }
    qsort (self->order, count, sizeof (sis_source_t *), s_compare_sources);
    if (count > max)
        count = max;
    memcpy (out, self->order, count * sizeof (sis_source_t *));
    return count;
}

size_t
sis_storm_throttled (sis_storm_t *self, uint64_t now_us, sis_source_t **out, size_t max)
{
    if (!self->active)
        return 0;
    return s_sorted (self, now_us, self->level, out, max);
}

size_t
sis_storm_noisiest (sis_storm_t *self, uint64_t now_us, sis_source_t **out, size_t max)
{
    return s_sorted (self, now_us, 0, out, max);
}
