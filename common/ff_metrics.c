/*  ff_metrics — counters, gauges and histograms, rendered for Prometheus.

    The registry is a list of families (one per name, in registration
    order), each a list of series (one per label set). Both only grow, and
    every series is its own allocation, so the pointers handed out stay
    valid until ff_metrics_destroy. The registry mutex guards the lists;
    values are C11 atomics and never need it.
*/
#include "ff_metrics.h"
#include "ff_log.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Histogram layout. Bucket 0 holds zeros; the others are log-scaled with
//  S_SUB_BUCKETS per power of two from 2^S_MIN_EXP (≈ 9.3e-10) to
//  2^S_MAX_EXP (≈ 1.07e9). Adjacent bounds differ by 2^(1/16) ≈ 4.4 %,
//  which bounds the relative error of a quantile read inside its bucket.
//  Values outside the range are clamped into the end buckets (and the
//  quantile is then clamped to the observed min and max).
enum {
    S_SUB_BUCKETS = 16,
    S_MIN_EXP = -30,
    S_MAX_EXP = 30,
    S_LOG_BUCKETS = (S_MAX_EXP - S_MIN_EXP) * S_SUB_BUCKETS,
    S_BUCKETS = S_LOG_BUCKETS + 1
};

//  The quantiles a histogram renders as a Prometheus summary.
static const struct {
    double q;                   //  Quantile
    const char *label;          //  Its quantile="..." label value
} s_summary_quantiles [] = {
    { 0.5, "0.5" }, { 0.95, "0.95" }, { 0.99, "0.99" }
};

typedef enum {
    S_COUNTER,
    S_GAUGE,
    S_HISTOGRAM
} s_type_t;

static const char *s_type_names [] = { "counter", "gauge", "histogram" };
static const char *s_type_rendered [] = { "counter", "gauge", "summary" };

typedef struct s_family s_family_t;

//  What every series starts with; the typed structs below embed it first.
typedef struct {
    s_family_t *family;         //  The name it belongs to
    char *labels;               //  Canonical label list (sorted), "" if none
} s_series_t;

struct s_family {
    char *name;                 //  Metric name
    char *help;                 //  HELP text as registered (unescaped)
    s_type_t type;              //  Every series of a name has one type
    s_series_t **series;        //  Series in registration order
    size_t series_count;        //  Series in use
    size_t series_max;          //  Allocated slots in series
};

struct ff_counter {
    s_series_t base;            //  Name and labels
    _Atomic uint64_t value;     //  Current count
};

//  A gauge callback binding. Replacing a callback installs a new binding;
//  old ones stay allocated until the registry is destroyed because a
//  reader may still be using one (no reclamation on the lock-free path).
typedef struct s_binding s_binding_t;
struct s_binding {
    ff_gauge_fn *fn;            //  Computes the value
    void *arg;                  //  Its argument
    s_binding_t *previous;      //  Binding it replaced, or NULL
};

struct ff_gauge {
    s_series_t base;            //  Name and labels
    _Atomic uint64_t bits;      //  Value set/added, as a double's bits
    _Atomic (s_binding_t *) binding;    //  Callback, NULL for a plain gauge
};

struct ff_histogram {
    s_series_t base;            //  Name and labels
    _Atomic uint64_t count;     //  Observations
    _Atomic uint64_t sum_bits;  //  Sum of observations, a double's bits
    _Atomic uint64_t min_bits;  //  Smallest observation (+Inf when none)
    _Atomic uint64_t max_bits;  //  Largest observation (-Inf when none)
    _Atomic uint64_t buckets [S_BUCKETS];   //  Observations per bucket
};

struct ff_metrics {
    pthread_mutex_t lock;       //  Guards the family and series lists
    s_family_t **families;      //  Families in registration order
    size_t family_count;        //  Families in use
    size_t family_max;          //  Allocated slots in families
};

//  A label parsed out of a label list; points into the caller's string.
typedef struct {
    const char *name;           //  Label name
    size_t name_size;           //  Its length
    const char *value;          //  Label value, still escaped, no quotes
    size_t value_size;          //  Its length
} s_label_t;

//  The rendering buffer: grows by doubling, remembers allocation failure.
typedef struct {
    char *data;                 //  NUL-terminated text so far
    size_t size;                //  Bytes used, excluding the NUL
    size_t max;                 //  Bytes allocated
    bool failed;                //  An allocation failed; data is partial
} s_buffer_t;


//  --------------------------------------------------------------------------
//  Doubles kept in atomic uint64s

static uint64_t
s_bits_of (double value)
{
    uint64_t bits;
    memcpy (&bits, &value, sizeof bits);
    return bits;
}

static double
s_double_of (uint64_t bits)
{
    double value;
    memcpy (&value, &bits, sizeof value);
    return value;
}

static void
s_atomic_add_double (_Atomic uint64_t *bits, double delta)
{
    uint64_t old_bits = atomic_load_explicit (bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit (
               bits, &old_bits, s_bits_of (s_double_of (old_bits) + delta),
               memory_order_relaxed, memory_order_relaxed))
        ;
}

//  Lowers (or, when raise is true, raises) *bits to value if that extends it.
static void
s_atomic_extend_double (_Atomic uint64_t *bits, double value, bool raise)
{
    uint64_t old_bits = atomic_load_explicit (bits, memory_order_relaxed);
    while (raise ? value > s_double_of (old_bits) : value < s_double_of (old_bits)) {
        if (atomic_compare_exchange_weak_explicit (
                bits, &old_bits, s_bits_of (value),
                memory_order_relaxed, memory_order_relaxed))
            break;
    }
}


//  --------------------------------------------------------------------------
//  Validation of names and label lists

static bool
s_name_char (char c, bool first, bool colon_ok)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (c == ':')
        return colon_ok;
    return !first && c >= '0' && c <= '9';
}

//  True when name matches [a-zA-Z_:][a-zA-Z0-9_:]*.
static bool
s_metric_name_valid (const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *c = name; *c; c++)
        if (!s_name_char (*c, c == name, true))
            return false;
    return true;
}

static int
s_label_compare (const void *a, const void *b)
{
    const s_label_t *left = a;
    const s_label_t *right = b;
    size_t common = left->name_size < right->name_size ? left->name_size : right->name_size;
    int order = memcmp (left->name, right->name, common);
    if (order)
        return order;
    return (left->name_size > right->name_size) - (left->name_size < right->name_size);
}

//  Parses labels (`k="v",k2="v2"`, values escaped with \\ \" \n only) and
//  returns them in canonical form: sorted by name, so two spellings of one
//  label set name one series. NULL or "" give "". Returns NULL and sets
//  *reason when the list is invalid (or, with reason "out of memory",
//  when allocation fails). The caller frees the result.
static char *
s_labels_canonical (const char *labels, s_type_t type, const char **reason)
{
    char *canonical = NULL;
    s_label_t *list = NULL;
    size_t count = 0;
    size_t max = 0;
    *reason = NULL;

    const char *c = labels ? labels : "";
    while (*c) {
        s_label_t label;
        label.name = c;
        while (s_name_char (*c, c == label.name, false))
            c++;
        label.name_size = (size_t) (c - label.name);
        if (label.name_size == 0) {
            *reason = "expected a label name";
            goto cleanup;
        }
        if (label.name_size >= 2 && label.name [0] == '_' && label.name [1] == '_') {
            *reason = "label names starting with __ are reserved";
            goto cleanup;
        }
        if (type == S_HISTOGRAM && label.name_size == 8
        &&  memcmp (label.name, "quantile", 8) == 0) {
            *reason = "a histogram cannot have a quantile label";
            goto cleanup;
        }
        if (*c++ != '=' || *c++ != '"') {
            *reason = "expected =\" after a label name";
            goto cleanup;
        }
        label.value = c;
        while (*c && *c != '"') {
            if (*c == '\n') {
                *reason = "raw newline in a label value (escape it)";
                goto cleanup;
            }
            if (*c == '\\') {
                c++;
                if (*c != '\\' && *c != '"' && *c != 'n') {
                    *reason = "invalid escape in a label value";
                    goto cleanup;
                }
            }
            c++;
        }
        if (*c != '"') {
            *reason = "unterminated label value";
            goto cleanup;
        }
        label.value_size = (size_t) (c - label.value);
        c++;
        if (*c == ',') {
            c++;
            if (!*c) {
                *reason = "trailing comma";
                goto cleanup;
            }
        }
        else
        if (*c) {
            *reason = "expected , between labels";
            goto cleanup;
        }
        if (count == max) {
            size_t new_max = max ? max * 2 : 4;
            s_label_t *new_list = realloc (list, new_max * sizeof *list);
            if (!new_list) {
                *reason = "out of memory";
                goto cleanup;
            }
            list = new_list;
            max = new_max;
        }
        list [count++] = label;
    }
    if (count > 1)
        qsort (list, count, sizeof *list, s_label_compare);
    for (size_t i = 1; i < count; i++)
        if (s_label_compare (&list [i - 1], &list [i]) == 0) {
            *reason = "duplicate label name";
            goto cleanup;
        }

    //  Canonical text is at most as long as the input (same labels, same commas).
    canonical = malloc (strlen (labels ? labels : "") + 1);
    if (!canonical) {
        *reason = "out of memory";
        goto cleanup;
    }
    char *out = canonical;
    for (size_t i = 0; i < count; i++) {
        if (i)
            *out++ = ',';
        memcpy (out, list [i].name, list [i].name_size);
        out += list [i].name_size;
        *out++ = '=';
        *out++ = '"';
        memcpy (out, list [i].value, list [i].value_size);
        out += list [i].value_size;
        *out++ = '"';
    }
    *out = '\0';

cleanup:
    free (list);
    return canonical;
}


//  --------------------------------------------------------------------------
//  Registry

ff_metrics_t *
ff_metrics_new (void)
{
    ff_metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (pthread_mutex_init (&self->lock, NULL)) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_series_destroy (s_series_t *series, s_type_t type)
{
    if (type == S_GAUGE) {
        ff_gauge_t *gauge = (ff_gauge_t *) series;
        s_binding_t *binding = atomic_load (&gauge->binding);
        while (binding) {
            s_binding_t *previous = binding->previous;
            free (binding);
            binding = previous;
        }
    }
    free (series->labels);
    free (series);
}

void
ff_metrics_destroy (ff_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_metrics_t *self = *self_p;
    for (size_t i = 0; i < self->family_count; i++) {
        s_family_t *family = self->families [i];
        for (size_t j = 0; j < family->series_count; j++)
            s_series_destroy (family->series [j], family->type);
        free (family->series);
        free (family->name);
        free (family->help);
        free (family);
    }
    free (self->families);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  Caller holds the lock.
static s_family_t *
s_family_find (ff_metrics_t *self, const char *name, size_t name_size)
{
    for (size_t i = 0; i < self->family_count; i++) {
        s_family_t *family = self->families [i];
        if (strlen (family->name) == name_size
        &&  memcmp (family->name, name, name_size) == 0)
            return family;
    }
    return NULL;
}

//  Returns the name of an existing metric whose rendered lines would
//  collide with a new family: a summary "x" renders x_sum and x_count.
//  Caller holds the lock.
static const char *
s_family_collision (ff_metrics_t *self, const char *name, s_type_t type)
{
    static const char *suffixes [] = { "_sum", "_count" };
    size_t name_size = strlen (name);
    for (size_t i = 0; i < 2; i++) {
        size_t suffix_size = strlen (suffixes [i]);
        //  A new histogram must not shadow x_sum / x_count ...
        if (type == S_HISTOGRAM) {
            for (size_t f = 0; f < self->family_count; f++) {
                const char *other = self->families [f]->name;
                if (strlen (other) == name_size + suffix_size
                &&  strncmp (other, name, name_size) == 0
                &&  strcmp (other + name_size, suffixes [i]) == 0)
                    return other;
            }
        }
        //  ... and a new x_sum / x_count must not be shadowed by histogram x.
        if (name_size > suffix_size
        &&  strcmp (name + name_size - suffix_size, suffixes [i]) == 0) {
            s_family_t *base = s_family_find (self, name, name_size - suffix_size);
            if (base && base->type == S_HISTOGRAM)
                return base->name;
        }
    }
    return NULL;
}

//  Appends series to family. Returns 0, or -1 when out of memory (nothing
//  changed).
static int
s_family_push (s_family_t *family, s_series_t *series)
{
    if (family->series_count == family->series_max) {
        size_t new_max = family->series_max ? family->series_max * 2 : 4;
        s_series_t **new_series = realloc (family->series, new_max * sizeof *new_series);
        if (!new_series)
            return -1;
        family->series = new_series;
        family->series_max = new_max;
    }
    family->series [family->series_count++] = series;
    return 0;
}

//  Appends family to the registry. Returns 0, or -1 when out of memory.
static int
s_metrics_push (ff_metrics_t *self, s_family_t *family)
{
    if (self->family_count == self->family_max) {
        size_t new_max = self->family_max ? self->family_max * 2 : 16;
        s_family_t **new_families = realloc (self->families, new_max * sizeof *new_families);
        if (!new_families)
            return -1;
        self->families = new_families;
        self->family_max = new_max;
    }
    self->families [self->family_count++] = family;
    return 0;
}

static s_series_t *
s_series_new (s_type_t type)
{
    size_t size = type == S_COUNTER ? sizeof (ff_counter_t)
                : type == S_GAUGE ? sizeof (ff_gauge_t)
                : sizeof (ff_histogram_t);
    s_series_t *series = calloc (1, size);
    if (!series)
        return NULL;
    if (type == S_COUNTER)
        atomic_init (&((ff_counter_t *) series)->value, 0);
    else
    if (type == S_GAUGE) {
        ff_gauge_t *gauge = (ff_gauge_t *) series;
        atomic_init (&gauge->bits, s_bits_of (0.0));
        atomic_init (&gauge->binding, NULL);
    }
    else {
        ff_histogram_t *histogram = (ff_histogram_t *) series;
        atomic_init (&histogram->count, 0);
        atomic_init (&histogram->sum_bits, s_bits_of (0.0));
        atomic_init (&histogram->min_bits, s_bits_of (INFINITY));
        atomic_init (&histogram->max_bits, s_bits_of (-INFINITY));
        for (size_t i = 0; i < S_BUCKETS; i++)
            atomic_init (&histogram->buckets [i], 0);
    }
    return series;
}

//  Finds or creates the series name{labels} of the given type. On success
//  returns it with the registry still locked (the caller may finish its
//  setup, then unlocks); on failure logs why, unlocks, returns NULL.
static s_series_t *
s_register_locked (ff_metrics_t *self, s_type_t type, const char *name,
                   const char *help, const char *labels)
{
    if (!self) {
        ff_log_error ("metrics: registering %.100s in a NULL registry",
                      name ? name : "(null)");
        return NULL;
    }
    if (!s_metric_name_valid (name)) {
        ff_log_error ("metrics: invalid metric name \"%.100s\"", name ? name : "(null)");
        return NULL;
    }
    const char *reason;
    char *canonical = s_labels_canonical (labels, type, &reason);
    if (!canonical) {
        ff_log_error ("metrics: %.100s{%.200s}: %s", name, labels ? labels : "", reason);
        return NULL;
    }
    s_family_t *new_family = NULL;
    s_series_t *series = NULL;

    pthread_mutex_lock (&self->lock);
    s_family_t *family = s_family_find (self, name, strlen (name));
    if (family) {
        if (family->type != type) {
            ff_log_error ("metrics: %.100s is a %s, cannot register it as a %s",
                          name, s_type_names [family->type], s_type_names [type]);
            goto failed;
        }
        for (size_t i = 0; i < family->series_count; i++)
            if (strcmp (family->series [i]->labels, canonical) == 0) {
                free (canonical);
                return family->series [i];
            }
    }
    else {
        const char *other = s_family_collision (self, name, type);
        if (other) {
            ff_log_error ("metrics: %.100s would collide with the lines of %.100s",
                          name, other);
            goto failed;
        }
        new_family = calloc (1, sizeof *new_family);
        if (!new_family)
            goto out_of_memory;
        new_family->type = type;
        new_family->name = strdup (name);
        new_family->help = strdup (help ? help : "");
        if (!new_family->name || !new_family->help)
            goto out_of_memory;
        family = new_family;
    }
    series = s_series_new (type);
    if (!series)
        goto out_of_memory;
    if (s_family_push (family, series))
        goto out_of_memory;
    if (new_family && s_metrics_push (self, new_family)) {
        family->series_count--;
        goto out_of_memory;
    }
    series->family = family;
    series->labels = canonical;
    return series;

out_of_memory:
    ff_log_error ("metrics: out of memory registering %.100s", name);
failed:
    pthread_mutex_unlock (&self->lock);
    free (series);
    if (new_family) {
        free (new_family->series);
        free (new_family->name);
        free (new_family->help);
        free (new_family);
    }
    free (canonical);
    return NULL;
}

ff_counter_t *
ff_metrics_counter (ff_metrics_t *self, const char *name,
                    const char *help, const char *labels)
{
    s_series_t *series = s_register_locked (self, S_COUNTER, name, help, labels);
    if (series)
        pthread_mutex_unlock (&self->lock);
    return (ff_counter_t *) series;
}

ff_gauge_t *
ff_metrics_gauge (ff_metrics_t *self, const char *name,
                  const char *help, const char *labels)
{
    s_series_t *series = s_register_locked (self, S_GAUGE, name, help, labels);
    if (series)
        pthread_mutex_unlock (&self->lock);
    return (ff_gauge_t *) series;
}

ff_gauge_t *
ff_metrics_gauge_fn (ff_metrics_t *self, const char *name,
                     const char *help, const char *labels,
                     ff_gauge_fn *fn, void *arg)
{
    if (!fn) {
        ff_log_error ("metrics: gauge %.100s registered without a callback",
                      name ? name : "(null)");
        return NULL;
    }
    s_binding_t *binding = malloc (sizeof *binding);
    if (!binding) {
        ff_log_error ("metrics: out of memory registering %.100s",
                      name ? name : "(null)");
        return NULL;
    }
    ff_gauge_t *gauge = (ff_gauge_t *) s_register_locked (self, S_GAUGE, name, help, labels);
    if (!gauge) {
        free (binding);
        return NULL;
    }
    //  Under the lock, so concurrent replacements chain every binding.
    binding->fn = fn;
    binding->arg = arg;
    binding->previous = atomic_load_explicit (&gauge->binding, memory_order_relaxed);
    atomic_store_explicit (&gauge->binding, binding, memory_order_release);
    pthread_mutex_unlock (&self->lock);
    return gauge;
}

ff_histogram_t *
ff_metrics_histogram (ff_metrics_t *self, const char *name,
                      const char *help, const char *labels)
{
    s_series_t *series = s_register_locked (self, S_HISTOGRAM, name, help, labels);
    if (series)
        pthread_mutex_unlock (&self->lock);
    return (ff_histogram_t *) series;
}


//  --------------------------------------------------------------------------
//  Counters and gauges

void
ff_counter_inc (ff_counter_t *self)
{
    if (self)
        atomic_fetch_add_explicit (&self->value, 1, memory_order_relaxed);
}

void
ff_counter_add (ff_counter_t *self, uint64_t amount)
{
    if (self)
        atomic_fetch_add_explicit (&self->value, amount, memory_order_relaxed);
}

uint64_t
ff_counter_value (const ff_counter_t *self)
{
    return self ? atomic_load_explicit (&self->value, memory_order_relaxed) : 0;
}

void
ff_gauge_set (ff_gauge_t *self, double value)
{
    if (self)
        atomic_store_explicit (&self->bits, s_bits_of (value), memory_order_relaxed);
}

void
ff_gauge_add (ff_gauge_t *self, double delta)
{
    if (self)
        s_atomic_add_double (&self->bits, delta);
}

double
ff_gauge_value (const ff_gauge_t *self)
{
    if (!self)
        return NAN;
    s_binding_t *binding = atomic_load_explicit (&self->binding, memory_order_acquire);
    if (binding)
        return binding->fn (binding->arg);
    return s_double_of (atomic_load_explicit (&self->bits, memory_order_relaxed));
}


//  --------------------------------------------------------------------------
//  Histograms

//  Bucket of a sanitized (non-negative, non-NaN) value.
static size_t
s_bucket_of (double value)
{
    if (value == 0)
        return 0;
    //  Compare as double before converting: log2 of +Inf or a denormal
    //  is out of int range.
    double step = floor (log2 (value) * S_SUB_BUCKETS);
    double lowest = (double) S_MIN_EXP * S_SUB_BUCKETS;
    double highest = (double) S_MAX_EXP * S_SUB_BUCKETS - 1;
    if (step < lowest)
        step = lowest;
    else
    if (step > highest)
        step = highest;
    return 1 + (size_t) (step - lowest);
}

//  Lower bound of log bucket i (i ≥ 1); its upper bound is that of i + 1.
static double
s_bucket_floor (size_t bucket)
{
    return exp2 ((double) ((long) bucket - 1 + S_MIN_EXP * S_SUB_BUCKETS)
                 / S_SUB_BUCKETS);
}

void
ff_histogram_observe (ff_histogram_t *self, double value)
{
    if (!self)
        return;
    if (!(value >= 0))          //  Negative or NaN
        value = 0;
    s_atomic_extend_double (&self->min_bits, value, false);
    s_atomic_extend_double (&self->max_bits, value, true);
    atomic_fetch_add_explicit (&self->buckets [s_bucket_of (value)], 1, memory_order_relaxed);
    s_atomic_add_double (&self->sum_bits, value);
    atomic_fetch_add_explicit (&self->count, 1, memory_order_relaxed);
}

//  Copies the bucket counts into counts; returns their total.
static uint64_t
s_histogram_snapshot (const ff_histogram_t *self, uint64_t *counts)
{
    uint64_t total = 0;
    for (size_t i = 0; i < S_BUCKETS; i++) {
        counts [i] = atomic_load_explicit (&self->buckets [i], memory_order_relaxed);
        total += counts [i];
    }
    return total;
}

//  The q-quantile of a snapshot: the bucket holding rank q × total, with
//  the value interpolated geometrically inside it, then clamped to the
//  observed [min, max] (so exact at q = 0 and q = 1, and for a histogram
//  holding a single value).
static double
s_snapshot_quantile (const ff_histogram_t *self, const uint64_t *counts,
                     uint64_t total, double q)
{
    if (total == 0)
        return NAN;
    if (!(q >= 0))
        q = 0;
    if (q > 1)
        q = 1;
    double rank = q * (double) total;
    double value = 0;
    double min = s_double_of (atomic_load_explicit (&self->min_bits, memory_order_relaxed));
    double max = s_double_of (atomic_load_explicit (&self->max_bits, memory_order_relaxed));
    uint64_t cumulative = 0;
    for (size_t i = 0; i < S_BUCKETS; i++) {
        if (counts [i] == 0)
            continue;
        if ((double) (cumulative + counts [i]) >= rank) {
            if (i > 0) {
                double lower = s_bucket_floor (i);
                double upper = s_bucket_floor (i + 1);
                //  The end buckets also hold the clamped values beyond them.
                if (i == 1 && min < lower)
                    lower = min;
                if (i == S_BUCKETS - 1 && max > upper)
                    upper = max;
                double fraction = (rank - (double) cumulative) / (double) counts [i];
                value = fraction <= 0 ? lower
                      : fraction >= 1 ? upper
                      : lower * pow (upper / lower, fraction);
            }
            break;
        }
        cumulative += counts [i];
    }
    if (min <= max) {           //  Else an observation is still being recorded
        if (value < min)
            value = min;
        if (value > max)
            value = max;
    }
    return value;
}

double
ff_histogram_quantile (const ff_histogram_t *self, double q)
{
    if (!self)
        return NAN;
    uint64_t counts [S_BUCKETS];
    uint64_t total = s_histogram_snapshot (self, counts);
    return s_snapshot_quantile (self, counts, total, q);
}

uint64_t
ff_histogram_count (const ff_histogram_t *self)
{
    return self ? atomic_load_explicit (&self->count, memory_order_relaxed) : 0;
}

double
ff_histogram_sum (const ff_histogram_t *self)
{
    return self ? s_double_of (atomic_load_explicit (&self->sum_bits, memory_order_relaxed)) : 0;
}


//  --------------------------------------------------------------------------
//  Rendering

static void
s_buffer_reserve (s_buffer_t *self, size_t extra)
{
    if (self->failed || self->size + extra + 1 <= self->max)
        return;
    size_t new_max = self->max ? self->max : 4096;
    while (new_max < self->size + extra + 1)
        new_max *= 2;
    char *new_data = realloc (self->data, new_max);
    if (!new_data) {
        self->failed = true;
        return;
    }
    self->data = new_data;
    self->max = new_max;
}

static void
s_buffer_append (s_buffer_t *self, const char *text, size_t size)
{
    s_buffer_reserve (self, size);
    if (self->failed)
        return;
    memcpy (self->data + self->size, text, size);
    self->size += size;
    self->data [self->size] = '\0';
}

static void
s_buffer_puts (s_buffer_t *self, const char *text)
{
    s_buffer_append (self, text, strlen (text));
}

//  HELP text escapes backslash and newline (not quotes).
static void
s_buffer_put_help (s_buffer_t *self, const char *help)
{
    for (const char *c = help; *c; c++) {
        if (*c == '\\')
            s_buffer_append (self, "\\\\", 2);
        else
        if (*c == '\n')
            s_buffer_append (self, "\\n", 2);
        else
            s_buffer_append (self, c, 1);
    }
}

//  A float as Prometheus parses it: NaN, +Inf, -Inf, else the shortest
//  of %.15g / %.17g that reads back to the same double.
static void
s_format_double (double value, char *out, size_t out_size)
{
    if (isnan (value))
        snprintf (out, out_size, "NaN");
    else
    if (isinf (value))
        snprintf (out, out_size, value > 0 ? "+Inf" : "-Inf");
    else {
        snprintf (out, out_size, "%.15g", value);
        if (strtod (out, NULL) != value)
            snprintf (out, out_size, "%.17g", value);
    }
}

//  One sample line: name[suffix]{labels[,extra]} value
static void
s_buffer_put_sample (s_buffer_t *self, const s_series_t *series, const char *suffix,
                     const char *extra_label, const char *value)
{
    s_buffer_puts (self, series->family->name);
    s_buffer_puts (self, suffix);
    bool has_labels = *series->labels != '\0';
    if (has_labels || extra_label) {
        s_buffer_puts (self, "{");
        s_buffer_puts (self, series->labels);
        if (has_labels && extra_label)
            s_buffer_puts (self, ",");
        if (extra_label)
            s_buffer_puts (self, extra_label);
        s_buffer_puts (self, "}");
    }
    s_buffer_puts (self, " ");
    s_buffer_puts (self, value);
    s_buffer_puts (self, "\n");
}

static void
s_render_histogram (s_buffer_t *buffer, const ff_histogram_t *histogram, uint64_t *counts)
{
    char value [64];
    char label [64];
    //  Read count and sum before the buckets, so the quantiles cover at
    //  least the observations _count says.
    uint64_t count = ff_histogram_count (histogram);
    double sum = ff_histogram_sum (histogram);
    uint64_t total = s_histogram_snapshot (histogram, counts);
    for (size_t i = 0; i < sizeof s_summary_quantiles / sizeof s_summary_quantiles [0]; i++) {
        s_format_double (s_snapshot_quantile (histogram, counts, total, s_summary_quantiles [i].q),
                         value, sizeof value);
        snprintf (label, sizeof label, "quantile=\"%s\"", s_summary_quantiles [i].label);
        s_buffer_put_sample (buffer, &histogram->base, "", label, value);
    }
    s_format_double (sum, value, sizeof value);
    s_buffer_put_sample (buffer, &histogram->base, "_sum", NULL, value);
    snprintf (value, sizeof value, "%" PRIu64, count);
    s_buffer_put_sample (buffer, &histogram->base, "_count", NULL, value);
}

char *
ff_metrics_render (ff_metrics_t *self)
{
    if (!self)
        return NULL;
    s_buffer_t buffer = { NULL, 0, 0, false };
    uint64_t *counts = malloc (S_BUCKETS * sizeof *counts);
    if (!counts)
        return NULL;
    s_buffer_reserve (&buffer, 0);      //  An empty registry renders ""
    if (!buffer.failed)
        buffer.data [0] = '\0';

    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->family_count && !buffer.failed; i++) {
        const s_family_t *family = self->families [i];
        s_buffer_puts (&buffer, "# HELP ");
        s_buffer_puts (&buffer, family->name);
        if (*family->help) {
            s_buffer_puts (&buffer, " ");
            s_buffer_put_help (&buffer, family->help);
        }
        s_buffer_puts (&buffer, "\n# TYPE ");
        s_buffer_puts (&buffer, family->name);
        s_buffer_puts (&buffer, " ");
        s_buffer_puts (&buffer, s_type_rendered [family->type]);
        s_buffer_puts (&buffer, "\n");
        for (size_t j = 0; j < family->series_count; j++) {
            const s_series_t *series = family->series [j];
            char value [64];
            if (family->type == S_COUNTER) {
                snprintf (value, sizeof value, "%" PRIu64,
                          ff_counter_value ((const ff_counter_t *) series));
                s_buffer_put_sample (&buffer, series, "", NULL, value);
            }
            else
            if (family->type == S_GAUGE) {
                s_format_double (ff_gauge_value ((const ff_gauge_t *) series),
                                 value, sizeof value);
                s_buffer_put_sample (&buffer, series, "", NULL, value);
            }
            else
                s_render_histogram (&buffer, (const ff_histogram_t *) series, counts);
        }
    }
    pthread_mutex_unlock (&self->lock);

    free (counts);
    if (buffer.failed) {
        free (buffer.data);
        return NULL;
    }
    return buffer.data;
}

char *
ff_metrics_label_escape (const char *value, char *out, size_t out_size)
{
    if (!out || out_size == 0)
        return out;
    size_t size = 0;
    for (const char *c = value ? value : ""; *c; c++) {
        const char *escaped = *c == '\\' ? "\\\\"
                            : *c == '"' ? "\\\""
                            : *c == '\n' ? "\\n"
                            : NULL;
        size_t needed = escaped ? 2 : 1;
        if (size + needed > out_size - 1)
            break;
        if (escaped)
            memcpy (out + size, escaped, 2);
        else
            out [size] = *c;
        size += needed;
    }
    out [size] = '\0';
    return out;
}
