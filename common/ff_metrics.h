/*  ff_metrics — a thread-safe registry of counters, gauges and histograms,
    rendered in the Prometheus text exposition format (version 0.0.4).

    Registration takes a mutex; every update (inc, add, set, observe) is
    lock-free (C11 atomics) and safe from any thread. A metric is identified
    by its name plus its label set; registering the same pair twice returns
    the same metric, so modules may look metrics up by name instead of
    passing pointers around.

    Histograms keep log-scaled buckets (16 per power of two: relative error
    of a quantile ≤ 4.4 %) over every observation since registration and
    are rendered as a Prometheus `summary`: name{quantile="0.5"|"0.95"|
    "0.99"}, name_sum, name_count. Quantiles are also readable directly
    (STATS, CAPABILITIES). The buckets span 2^-30 .. 2^30 (≈ 1e-9 .. 1e9);
    values beyond fall into the end buckets, and every quantile is clamped
    to the observed minimum and maximum (so q = 0 and q = 1 are exact).
    Each histogram takes about 8 KB.

    Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); `labels` is
    NULL / "" (none) or a label list without braces, e.g.
    `socket="client",code="MALFORMED"` — label values must already be
    escaped (use ff_metrics_label_escape for values from the network).
    Label names follow [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__",
    each at most once; no spaces, no trailing comma. A label set is kept
    sorted by label name, so `b="2",a="1"` and `a="1",b="2"` are one series
    (rendered sorted). A histogram may not have a `quantile` label, and a
    histogram `x` excludes metrics named `x_sum` / `x_count` (and the other
    way round): their rendered lines would collide. The first
    registration's help text is kept.

    Every update and read accepts a NULL metric (a failed registration,
    already logged): updates do nothing, reads return 0, or NAN for
    ff_gauge_value and ff_histogram_quantile.
*/
#ifndef FF_METRICS_H_INCLUDED
#define FF_METRICS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct ff_metrics ff_metrics_t;
typedef struct ff_counter ff_counter_t;
typedef struct ff_gauge ff_gauge_t;
typedef struct ff_histogram ff_histogram_t;

//  Computes a gauge's value at render time. Called from the rendering
//  thread (the HTTP server's) with the registry locked: must be
//  thread-safe, must not block, and must not register metrics (reading
//  other metrics is fine). Also called by ff_gauge_value, unlocked.
typedef double (ff_gauge_fn) (void *arg);

//  Creates an empty registry. NULL on allocation failure.
ff_metrics_t *
    ff_metrics_new (void);

//  Destroys the registry and every metric in it; nulls *self_p. Metric
//  pointers obtained from it are invalid afterwards. Idempotent.
void
    ff_metrics_destroy (ff_metrics_t **self_p);

//  Registers (or finds) a counter. Returns NULL when name or labels are
//  invalid, or when name is already registered with another type — a
//  programmer error, which is also logged. The metric belongs to the
//  registry.
ff_counter_t *
    ff_metrics_counter (ff_metrics_t *self, const char *name,
                        const char *help, const char *labels);

//  Same rules as ff_metrics_counter.
ff_gauge_t *
    ff_metrics_gauge (ff_metrics_t *self, const char *name,
                      const char *help, const char *labels);

//  A gauge whose value is fn(arg), evaluated at each render and by
//  ff_gauge_value. Same rules as ff_metrics_counter; fn NULL is invalid.
//  Registering an existing name+labels (a plain gauge too) replaces fn
//  and arg; ff_gauge_set/add on a callback gauge do not change its value.
ff_gauge_t *
    ff_metrics_gauge_fn (ff_metrics_t *self, const char *name,
                         const char *help, const char *labels,
                         ff_gauge_fn *fn, void *arg);

//  Same rules as ff_metrics_counter.
ff_histogram_t *
    ff_metrics_histogram (ff_metrics_t *self, const char *name,
                          const char *help, const char *labels);

void
    ff_counter_inc (ff_counter_t *self);
void
    ff_counter_add (ff_counter_t *self, uint64_t amount);
uint64_t
    ff_counter_value (const ff_counter_t *self);

void
    ff_gauge_set (ff_gauge_t *self, double value);
void
    ff_gauge_add (ff_gauge_t *self, double delta);
double
    ff_gauge_value (const ff_gauge_t *self);

//  Records one observation. Negative values and NaN are counted in
//  _count/_sum as 0 (a latency is never negative; a bug must not corrupt
//  the quantiles).
void
    ff_histogram_observe (ff_histogram_t *self, double value);
//  The q-quantile (0 ≤ q ≤ 1) of all observations; NAN when there are none.
double
    ff_histogram_quantile (const ff_histogram_t *self, double q);
uint64_t
    ff_histogram_count (const ff_histogram_t *self);
double
    ff_histogram_sum (const ff_histogram_t *self);

//  Renders every metric, grouped by name with one # HELP and # TYPE line
//  per name, in registration order. Floats print as Prometheus reads
//  them (NaN, +Inf, -Inf, else round-trip exact). Returns a NUL-terminated
//  string the caller frees ("" for an empty registry); NULL on allocation
//  failure or when self is NULL.
char *
    ff_metrics_render (ff_metrics_t *self);

//  Escapes a label value (\\, \" and \n) into out; returns out, truncated
//  to out_size - 1 bytes (never inside an escape sequence). value NULL
//  gives ""; out_size 0 leaves out untouched.
char *
    ff_metrics_label_escape (const char *value, char *out, size_t out_size);

#endif
