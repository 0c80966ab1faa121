/*  fac_durations — see fac_durations.h. */
#include "fac_durations.h"

#include <czmq.h>
#include <math.h>

typedef struct {
    double ewma_us;
    uint64_t samples;
    double cpu_ewma_us;             // contracts only
    uint64_t cpu_samples;
} s_entry_t;

struct fac_durations {
    zhashx_t *entries;          // key -> s_entry_t (owned)
    double alpha;
    double default_us;
    size_t max_keys;
};

static void
s_entry_free (void **item)
{
    free (*item);
    *item = NULL;
}

fac_durations_t *
fac_durations_new (double alpha, double default_us, size_t max_keys)
{
    fac_durations_t *self = (fac_durations_t *) zmalloc (sizeof (fac_durations_t));
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_free);
    self->alpha = alpha > 0 && alpha <= 1 ? alpha : 0.3;
    self->default_us = default_us;
    self->max_keys = max_keys;
    return self;
}

void
fac_durations_destroy (fac_durations_t **self_p)
{
    if (self_p && *self_p) {
        zhashx_destroy (&(*self_p)->entries);
        free (*self_p);
        *self_p = NULL;
    }
}

static s_entry_t *
s_entry (fac_durations_t *self, const char *key, bool create)
{
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, key);
    if (!entry && create && zhashx_size (self->entries) < self->max_keys) {
        entry = (s_entry_t *) zmalloc (sizeof (s_entry_t));
        zhashx_insert (self->entries, key, entry);
    }
    return entry;
}

static void
s_add_sample (fac_durations_t *self, double *ewma_us, uint64_t *samples, double value)
{
    *ewma_us = *samples == 0 ? value : self->alpha * value + (1 - self->alpha) * *ewma_us;
    (*samples)++;
}

void
fac_durations_record (fac_durations_t *self, const char *contract_id, const char *type,
                      uint64_t duration_us, int64_t cpu_us)
{
    s_entry_t *entry = s_entry (self, contract_id, true);
    if (entry) {
        s_add_sample (self, &entry->ewma_us, &entry->samples, (double) duration_us);
        if (cpu_us >= 0)
            s_add_sample (self, &entry->cpu_ewma_us, &entry->cpu_samples, (double) cpu_us);
    }
    char type_key [160];
    snprintf (type_key, sizeof type_key, "type:%s", type ? type : "");
    entry = s_entry (self, type_key, true);
    if (entry)
        s_add_sample (self, &entry->ewma_us, &entry->samples, (double) duration_us);
}

bool
fac_durations_cpu (fac_durations_t *self, const char *contract_id, double *cpu_us)
{
    s_entry_t *entry = s_entry (self, contract_id, false);
    if (!entry || entry->cpu_samples == 0)
        return false;
    *cpu_us = entry->cpu_ewma_us;
    return true;
}

double
fac_durations_estimate (fac_durations_t *self, const char *contract_id, const char *type,
                        fac_estimate_source_t *source)
{
    s_entry_t *entry = contract_id ? s_entry (self, contract_id, false) : NULL;
    if (entry && entry->samples > 0) {
        *source = FAC_ESTIMATE_MEASURED;
        return entry->ewma_us;
    }
    char type_key [160];
    snprintf (type_key, sizeof type_key, "type:%s", type ? type : "");
    entry = s_entry (self, type_key, false);
    if (entry && entry->samples > 0) {
        *source = FAC_ESTIMATE_TYPE;
        return entry->ewma_us;
    }
    *source = FAC_ESTIMATE_DEFAULT;
    return self->default_us;
}

const char *
fac_estimate_source_name (fac_estimate_source_t source)
{
    switch (source) {
        case FAC_ESTIMATE_MEASURED: return "measured";
        case FAC_ESTIMATE_TYPE:     return "type";
        case FAC_ESTIMATE_DEFAULT:  return "default";
    }
    return "default";
}

double
fac_durations_mean_us (fac_durations_t *self)
{
    double sum = 0;
    size_t count = 0;
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->entries); entry;
         entry = (s_entry_t *) zhashx_next (self->entries)) {
        const char *key = (const char *) zhashx_cursor (self->entries);
        if (strncmp (key, "type:", 5) == 0 || entry->samples == 0)
            continue;
        sum += entry->ewma_us;
        count++;
    }
    return count ? sum / (double) count : self->default_us;
}

void
fac_durations_foreach (fac_durations_t *self, fac_durations_fn *fn, void *arg)
{
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->entries); entry;
         entry = (s_entry_t *) zhashx_next (self->entries))
        fn ((const char *) zhashx_cursor (self->entries), entry->ewma_us, entry->samples, arg);
}

int
fac_durations_load (fac_durations_t *self, const char *key, double ewma_us, uint64_t samples)
{
    if (!isfinite (ewma_us) || ewma_us < 0 || !key || !*key)
        return -1;
    s_entry_t *entry = s_entry (self, key, true);
    if (!entry)
        return -1;
    entry->ewma_us = ewma_us;
    entry->samples = samples;
    return 0;
}

size_t
fac_durations_size (fac_durations_t *self)
{
    return zhashx_size (self->entries);
}
