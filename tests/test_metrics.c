/*  test_metrics — the metrics registry: registration rules, values,
    histogram accuracy, concurrency, and the Prometheus text it renders
    (read back with a small parser of the exposition format).
*/
#include "ff_metrics.h"

#include <criterion/criterion.h>

#include "ff_test.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  A small parser of the Prometheus text format 0.0.4, strict enough to
//  catch what a real scraper would reject.

#define MAX_SAMPLES 4096
#define MAX_FAMILIES 128
#define MAX_LABELS 4
#define MAX_TEXT 160

typedef struct {
    char name [MAX_TEXT];
    int label_count;
    char label_names [MAX_LABELS][MAX_TEXT];
    char label_values [MAX_LABELS][MAX_TEXT];     //  Unescaped
    double value;
} sample_t;

typedef struct {
    char name [MAX_TEXT];
    char help [MAX_TEXT];                           //  Unescaped
    char type [MAX_TEXT];
    int help_count;
    int type_count;
} family_t;

typedef struct {
    sample_t samples [MAX_SAMPLES];
    int sample_count;
    family_t families [MAX_FAMILIES];
    int family_count;
    char error [512];                               //  Why parsing failed
} exposition_t;

static bool
s_name_char (char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
        || (!first && c >= '0' && c <= '9');
}

//  Reads a metric name at *p into out; false if there is none.
static bool
s_read_name (const char **p, char *out)
{
    size_t size = 0;
    while (s_name_char (**p, size == 0) && size < MAX_TEXT - 1)
        out [size++] = *(*p)++;
    out [size] = '\0';
    return size > 0;
}

static bool
s_read_value (const char *text, double *value)
{
    if (strcmp (text, "NaN") == 0)
        *value = NAN;
    else
    if (strcmp (text, "+Inf") == 0)
        *value = INFINITY;
    else
    if (strcmp (text, "-Inf") == 0)
        *value = -INFINITY;
    else {
        char *end;
        *value = strtod (text, &end);
        if (end == text || *end || strchr (text, 'n') || strchr (text, 'N')
        ||  strchr (text, 'i') || strchr (text, 'I'))
            return false;       //  strtod also reads "nan", "inf", hex...
    }
    return true;
}

static family_t *
s_family (exposition_t *self, const char *name)
{
    for (int i = 0; i < self->family_count; i++)
        if (strcmp (self->families [i].name, name) == 0)
            return &self->families [i];
    return NULL;
}

static family_t *
s_family_add (exposition_t *self, const char *name)
{
    family_t *family = s_family (self, name);
    if (!family && self->family_count < MAX_FAMILIES) {
        family = &self->families [self->family_count++];
        snprintf (family->name, sizeof family->name, "%s", name);
    }
    return family;
}

static bool
s_parse_comment (exposition_t *self, const char *line)
{
    bool help = strncmp (line, "# HELP ", 7) == 0;
    bool type = strncmp (line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return true;            //  Other comments are allowed
    const char *p = line + 7;
    char name [MAX_TEXT];
    if (!s_read_name (&p, name)) {
        snprintf (self->error, sizeof self->error, "no name in: %.400s", line);
        return false;
    }
    family_t *family = s_family_add (self, name);
    if (help) {
        family->help_count++;
        if (*p == ' ')
            p++;
        else
        if (*p) {
            snprintf (self->error, sizeof self->error, "bad HELP: %.400s", line);
            return false;
        }
        size_t size = 0;
        for (; *p && size < MAX_TEXT - 1; p++) {
            if (*p == '\\') {
                p++;
                if (*p == 'n')
                    family->help [size++] = '\n';
                else
                if (*p == '\\')
                    family->help [size++] = '\\';
                else {
                    snprintf (self->error, sizeof self->error, "bad HELP escape: %.400s", line);
                    return false;
                }
            }
            else
                family->help [size++] = *p;
        }
        family->help [size] = '\0';
    }
    else {
        family->type_count++;
        if (*p++ != ' ') {
            snprintf (self->error, sizeof self->error, "bad TYPE: %.400s", line);
            return false;
        }
        snprintf (family->type, sizeof family->type, "%s", p);
        if (strcmp (p, "counter") && strcmp (p, "gauge") && strcmp (p, "summary")
        &&  strcmp (p, "histogram") && strcmp (p, "untyped")) {
            snprintf (self->error, sizeof self->error, "bad TYPE: %.400s", line);
            return false;
        }
    }
    return true;
}

//  The family a sample belongs to: its name, or for a summary name_sum /
//  name_count.
static family_t *
s_sample_family (exposition_t *self, const char *name)
{
    family_t *family = s_family (self, name);
    if (family)
        return family;
    static const char *suffixes [] = { "_sum", "_count" };
    for (int i = 0; i < 2; i++) {
        size_t size = strlen (name), suffix = strlen (suffixes [i]);
        if (size > suffix && strcmp (name + size - suffix, suffixes [i]) == 0) {
            char base [MAX_TEXT];
            snprintf (base, sizeof base, "%.*s", (int) (size - suffix), name);
            family = s_family (self, base);
            if (family && strcmp (family->type, "summary") == 0)
                return family;
        }
    }
    return NULL;
}

static bool
s_parse_sample (exposition_t *self, const char *line)
{
    if (self->sample_count == MAX_SAMPLES) {
        snprintf (self->error, sizeof self->error, "too many samples");
        return false;
    }
    sample_t *sample = &self->samples [self->sample_count];
    memset (sample, 0, sizeof *sample);
    const char *p = line;
    if (!s_read_name (&p, sample->name))
        goto bad;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (sample->label_count == MAX_LABELS)
                goto bad;
            int i = sample->label_count++;
            if (!s_read_name (&p, sample->label_names [i]) || strchr (sample->label_names [i], ':'))
                goto bad;
            if (*p++ != '=' || *p++ != '"')
                goto bad;
            size_t size = 0;
            while (*p != '"') {
                if (!*p || size == MAX_TEXT - 1)
                    goto bad;
                if (*p == '\\') {
                    p++;
                    if (*p == 'n')
                        sample->label_values [i][size++] = '\n';
                    else
                    if (*p == '\\' || *p == '"')
                        sample->label_values [i][size++] = *p;
                    else
                        goto bad;
                    p++;
                }
                else
                    sample->label_values [i][size++] = *p++;
            }
            p++;
            if (*p == ',')
                p++;
            else
            if (*p != '}')
                goto bad;
        }
        p++;
    }
    if (*p++ != ' ')
        goto bad;
    if (!s_read_value (p, &sample->value))
        goto bad;
    family_t *family = s_sample_family (self, sample->name);
    if (!family || family->type_count == 0) {
        snprintf (self->error, sizeof self->error, "sample before its TYPE: %.400s", line);
        return false;
    }
    self->sample_count++;
    return true;
bad:
    snprintf (self->error, sizeof self->error, "bad sample line: %.400s", line);
    return false;
}

//  Parses text into self. Returns false with the reason in self->error.
static bool
s_parse (exposition_t *self, const char *text)
{
    memset (self, 0, sizeof *self);
    size_t length = strlen (text);
    if (length > 0 && text [length - 1] != '\n') {
        snprintf (self->error, sizeof self->error, "text does not end with a newline");
        return false;
    }
    const char *start = text;
    while (*start) {
        const char *end = strchr (start, '\n');
        char line [2048];
        snprintf (line, sizeof line, "%.*s", (int) (end - start), start);
        bool ok = line [0] == '#' ? s_parse_comment (self, line)
                : line [0] ? s_parse_sample (self, line)
                : true;
        if (!ok)
            return false;
        start = end + 1;
    }
    for (int i = 0; i < self->family_count; i++)
        if (self->families [i].help_count != 1 || self->families [i].type_count != 1) {
            snprintf (self->error, sizeof self->error, "%s has %d HELP and %d TYPE lines",
                      self->families [i].name, self->families [i].help_count,
                      self->families [i].type_count);
            return false;
        }
    return true;
}

//  Finds the sample name{labels}, labels given as "k=v,k2=v2" (values
//  unescaped, in rendered order); NULL if absent.
static sample_t *
s_sample (exposition_t *self, const char *name, const char *labels)
{
    for (int i = 0; i < self->sample_count; i++) {
        sample_t *sample = &self->samples [i];
        if (strcmp (sample->name, name))
            continue;
        char key [MAX_LABELS * 2 * MAX_TEXT] = "";
        for (int j = 0; j < sample->label_count; j++) {
            size_t used = strlen (key);
            snprintf (key + used, sizeof key - used, "%s%s=%s", j ? "," : "",
                      sample->label_names [j], sample->label_values [j]);
        }
        if (strcmp (key, labels ? labels : "") == 0)
            return sample;
    }
    return NULL;
}

static exposition_t *
s_render_and_parse (ff_metrics_t *metrics)
{
    char *text = ff_metrics_render (metrics);
    cr_assert_not_null (text);
    exposition_t *exposition = calloc (1, sizeof *exposition);
    cr_assert_not_null (exposition);
    bool ok = s_parse (exposition, text);
    cr_assert (ok, "%s\n--- rendered:\n%s", exposition->error, text);
    free (text);
    return exposition;
}

static void
s_assert_near (double estimate, double exact, double tolerance, const char *what)
{
    double error = fabs (estimate - exact) / fabs (exact);
    cr_assert (error <= tolerance, "%s: estimate %.9g, exact %.9g, error %.2f %%",
               what, estimate, exact, error * 100);
}

//  xorshift64*: deterministic pseudo-random doubles in (0, 1).
static double
s_random (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    uint64_t bits = (*state * 2685821657736338717ULL) >> 11;
    return ((double) bits + 0.5) / 9007199254740992.0;
}

static int
s_compare_doubles (const void *a, const void *b)
{
    double left = *(const double *) a;
    double right = *(const double *) b;
    return (left > right) - (left < right);
}

//  Observes every value and checks the histogram's quantiles against the
//  exact (nearest-rank) quantiles of the same data.
static void
s_check_quantiles (double *values, size_t count, const char *what)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_histogram_t *histogram = ff_metrics_histogram (metrics, "data", "", NULL);
    cr_assert_not_null (histogram);
    for (size_t i = 0; i < count; i++)
        ff_histogram_observe (histogram, values [i]);
    qsort (values, count, sizeof *values, s_compare_doubles);

    static const double quantiles [] = {
        0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1
    };
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles [0]; i++) {
        double q = quantiles [i];
        size_t rank = (size_t) ceil (q * (double) count);
        double exact = values [rank > 0 ? rank - 1 : 0];
        char label [128];
        snprintf (label, sizeof label, "%s q=%g", what, q);
        s_assert_near (ff_histogram_quantile (histogram, q), exact, 0.05, label);
    }
    cr_assert_eq (ff_histogram_count (histogram), count);
    ff_metrics_destroy (&metrics);
}


//  A gauge callback: the double arg points to.
static double
s_read_double (void *arg)
{
    return *(double *) arg;
}


//  --------------------------------------------------------------------------
//  Registration

FF_TEST (metrics, same_name_and_labels_return_same_metric)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    cr_assert_not_null (metrics);
    ff_counter_t *a = ff_metrics_counter (metrics, "requests_total", "Requests.", "socket=\"client\"");
    ff_counter_t *b = ff_metrics_counter (metrics, "requests_total", "Other help.", "socket=\"client\"");
    ff_counter_t *c = ff_metrics_counter (metrics, "requests_total", "Requests.", "socket=\"worker\"");
    ff_counter_t *d = ff_metrics_counter (metrics, "requests_total", "Requests.", NULL);
    ff_counter_t *e = ff_metrics_counter (metrics, "requests_total", "Requests.", "");
    cr_assert_not_null (a);
    cr_assert_eq (a, b);
    cr_assert_not_null (c);
    cr_assert_neq (a, c);
    cr_assert_not_null (d);
    cr_assert_eq (d, e, "NULL and \"\" are both the empty label set");
    cr_assert_neq (d, a);

    ff_gauge_t *g1 = ff_metrics_gauge (metrics, "depth", "", "a=\"1\"");
    cr_assert_eq (g1, ff_metrics_gauge (metrics, "depth", "", "a=\"1\""));
    ff_histogram_t *h1 = ff_metrics_histogram (metrics, "latency_seconds", "", NULL);
    cr_assert_eq (h1, ff_metrics_histogram (metrics, "latency_seconds", "", NULL));
    ff_metrics_destroy (&metrics);
    cr_assert_null (metrics);
    ff_metrics_destroy (&metrics);              //  Idempotent
}

FF_TEST (metrics, label_order_does_not_make_a_new_series)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_counter_t *a = ff_metrics_counter (metrics, "x_total", "", "b=\"2\",a=\"1\"");
    ff_counter_t *b = ff_metrics_counter (metrics, "x_total", "", "a=\"1\",b=\"2\"");
    cr_assert_not_null (a);
    cr_assert_eq (a, b);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, registering_another_type_returns_null)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    cr_assert_not_null (ff_metrics_counter (metrics, "thing", "", NULL));
    cr_assert_null (ff_metrics_gauge (metrics, "thing", "", NULL));
    cr_assert_null (ff_metrics_gauge (metrics, "thing", "", "other=\"labels\""));
    cr_assert_null (ff_metrics_histogram (metrics, "thing", "", NULL));
    double source = 1;
    cr_assert_null (ff_metrics_gauge_fn (metrics, "thing", "", NULL, s_read_double, &source));

    cr_assert_not_null (ff_metrics_histogram (metrics, "latency", "", NULL));
    cr_assert_null (ff_metrics_counter (metrics, "latency", "", NULL));
    //  A summary renders latency_sum and latency_count: those names are taken.
    cr_assert_null (ff_metrics_counter (metrics, "latency_count", "", NULL));
    cr_assert_null (ff_metrics_gauge (metrics, "latency_sum", "", NULL));
    cr_assert_not_null (ff_metrics_gauge (metrics, "queue_sum", "", NULL));
    cr_assert_null (ff_metrics_histogram (metrics, "queue", "", NULL));
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, invalid_names_return_null)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    const char *bad [] = { "", "1abc", "a-b", "a b", "a.b", "é", "a\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        cr_assert_null (ff_metrics_counter (metrics, bad [i], "", NULL), "name \"%s\"", bad [i]);
        cr_assert_null (ff_metrics_gauge (metrics, bad [i], "", NULL), "name \"%s\"", bad [i]);
        cr_assert_null (ff_metrics_histogram (metrics, bad [i], "", NULL), "name \"%s\"", bad [i]);
    }
    cr_assert_null (ff_metrics_counter (metrics, NULL, "", NULL));
    cr_assert_null (ff_metrics_counter (NULL, "ok_name", "", NULL));
    const char *good [] = { "a", "_a", ":a", "a:b_c9", "farfan_http_requests_total" };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++)
        cr_assert_not_null (ff_metrics_counter (metrics, good [i], "", NULL), "name \"%s\"", good [i]);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, invalid_labels_return_null)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    const char *bad [] = {
        "a=1", "a=\"1\"b", "a=\"1\",", ",a=\"1\"", "1a=\"x\"", "a=\"x\",a=\"y\"",
        "__a=\"x\"", "a=\"x\\q\"", "a=\"x", "a=\"x\ny\"", "{a=\"x\"}", "a =\"x\"",
        "a=\"x\", b=\"y\"", "a:b=\"x\"", "a=\"x\\\"", "=\"x\""
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        cr_assert_null (ff_metrics_counter (metrics, "c_total", "", bad [i]), "labels %s", bad [i]);
    cr_assert_null (ff_metrics_histogram (metrics, "h", "", "quantile=\"0.5\""));
    cr_assert_not_null (ff_metrics_gauge (metrics, "g", "", "quantile=\"0.5\""),
                        "only a summary reserves quantile");
    const char *good [] = {
        "a=\"\"", "a=\"x\\\\y\"", "a=\"x\\\"y\"", "a=\"x\\ny\"", "a=\"1\",b=\"2\",c_3=\"é,}{=\""
    };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++)
        cr_assert_not_null (ff_metrics_counter (metrics, "c_total", "", good [i]), "labels %s", good [i]);
    ff_metrics_destroy (&metrics);
}


//  --------------------------------------------------------------------------
//  Values

FF_TEST (metrics, counter_counts)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_counter_t *counter = ff_metrics_counter (metrics, "c_total", "", NULL);
    cr_assert_eq (ff_counter_value (counter), 0);
    ff_counter_inc (counter);
    ff_counter_inc (counter);
    ff_counter_add (counter, 40);
    cr_assert_eq (ff_counter_value (counter), 42);
    ff_counter_add (counter, UINT64_C (1) << 40);
    cr_assert_eq (ff_counter_value (counter), (UINT64_C (1) << 40) + 42);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, gauge_sets_and_adds)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_gauge_t *gauge = ff_metrics_gauge (metrics, "g", "", NULL);
    cr_assert_eq (ff_gauge_value (gauge), 0.0);
    ff_gauge_set (gauge, 2.5);
    cr_assert_eq (ff_gauge_value (gauge), 2.5);
    ff_gauge_add (gauge, -4);
    cr_assert_eq (ff_gauge_value (gauge), -1.5);
    ff_gauge_add (gauge, 0.25);
    cr_assert_eq (ff_gauge_value (gauge), -1.25);
    ff_gauge_set (gauge, 1e300);
    cr_assert_eq (ff_gauge_value (gauge), 1e300);
    ff_metrics_destroy (&metrics);
}

static double
s_twice (void *arg)
{
    return 2 * *(double *) arg;
}

FF_TEST (metrics, gauge_fn_is_evaluated_on_read)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    double source = 7;
    ff_gauge_t *gauge = ff_metrics_gauge_fn (metrics, "busy_workers", "", NULL, s_read_double, &source);
    cr_assert_not_null (gauge);
    cr_assert_eq (ff_gauge_value (gauge), 7);
    source = 9;
    cr_assert_eq (ff_gauge_value (gauge), 9);

    exposition_t *exposition = s_render_and_parse (metrics);
    sample_t *sample = s_sample (exposition, "busy_workers", NULL);
    cr_assert_not_null (sample);
    cr_assert_eq (sample->value, 9);
    free (exposition);

    //  Registering it again replaces the callback, same gauge.
    cr_assert_eq (ff_metrics_gauge_fn (metrics, "busy_workers", "", NULL, s_twice, &source), gauge);
    cr_assert_eq (ff_gauge_value (gauge), 18);
    cr_assert_null (ff_metrics_gauge_fn (metrics, "busy_workers", "", NULL, NULL, NULL));
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, updates_on_a_failed_registration_are_harmless)
{
    ff_counter_inc (NULL);
    ff_counter_add (NULL, 3);
    ff_gauge_set (NULL, 1);
    ff_gauge_add (NULL, 1);
    ff_histogram_observe (NULL, 1);
    cr_assert_eq (ff_counter_value (NULL), 0);
    cr_assert (isnan (ff_gauge_value (NULL)));
    cr_assert (isnan (ff_histogram_quantile (NULL, 0.5)));
    cr_assert_eq (ff_histogram_count (NULL), 0);
    cr_assert_null (ff_metrics_render (NULL));
}


//  --------------------------------------------------------------------------
//  Histograms

FF_TEST (metrics, empty_histogram)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_histogram_t *histogram = ff_metrics_histogram (metrics, "h", "", NULL);
    cr_assert (isnan (ff_histogram_quantile (histogram, 0.5)));
    cr_assert_eq (ff_histogram_count (histogram), 0);
    cr_assert_eq (ff_histogram_sum (histogram), 0);

    exposition_t *exposition = s_render_and_parse (metrics);
    cr_assert (isnan (s_sample (exposition, "h", "quantile=0.5")->value));
    cr_assert (isnan (s_sample (exposition, "h", "quantile=0.99")->value));
    cr_assert_eq (s_sample (exposition, "h_sum", NULL)->value, 0);
    cr_assert_eq (s_sample (exposition, "h_count", NULL)->value, 0);
    free (exposition);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, histogram_quantiles_uniform)
{
    size_t count = 100000;
    double *values = malloc (count * sizeof *values);
    //  Integers 1..count, shuffled.
    uint64_t state = 42;
    for (size_t i = 0; i < count; i++)
        values [i] = (double) (i + 1);
    for (size_t i = count - 1; i > 0; i--) {
        size_t j = (size_t) (s_random (&state) * (double) (i + 1));
        double swap = values [i];
        values [i] = values [j];
        values [j] = swap;
    }
    s_check_quantiles (values, count, "uniform 1..1e5");

    //  Continuous uniform over [2 ms, 50 ms], in seconds.
    for (size_t i = 0; i < count; i++)
        values [i] = 0.002 + 0.048 * s_random (&state);
    s_check_quantiles (values, count, "uniform 2..50 ms");
    free (values);
}

FF_TEST (metrics, histogram_quantiles_exponential)
{
    size_t count = 200000;
    double *values = malloc (count * sizeof *values);
    uint64_t state = 7;
    //  Latencies with a mean of 10 ms and a long tail.
    for (size_t i = 0; i < count; i++)
        values [i] = -log (s_random (&state)) * 0.010;
    s_check_quantiles (values, count, "exponential mean 10 ms");

    //  Log-uniform over 12 decades (1 µs .. 1e6 s).
    for (size_t i = 0; i < count; i++)
        values [i] = pow (10, -6 + 12 * s_random (&state));
    s_check_quantiles (values, count, "log-uniform 1e-6..1e6");
    free (values);
}

FF_TEST (metrics, histogram_count_sum_and_odd_values)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_histogram_t *histogram = ff_metrics_histogram (metrics, "h", "", NULL);
    ff_histogram_observe (histogram, 1.5);
    ff_histogram_observe (histogram, 2.5);
    cr_assert_eq (ff_histogram_count (histogram), 2);
    cr_assert_eq (ff_histogram_sum (histogram), 4);

    //  Negative and NaN count as zero observations.
    ff_histogram_observe (histogram, -3);
    ff_histogram_observe (histogram, NAN);
    ff_histogram_observe (histogram, 0);
    cr_assert_eq (ff_histogram_count (histogram), 5);
    cr_assert_eq (ff_histogram_sum (histogram), 4);
    cr_assert_eq (ff_histogram_quantile (histogram, 0.5), 0);
    cr_assert_eq (ff_histogram_quantile (histogram, 0), 0);
    cr_assert_eq (ff_histogram_quantile (histogram, 1), 2.5, "q=1 is the maximum");

    //  Beyond the bucket range: still exact at the extremes.
    ff_histogram_t *wide = ff_metrics_histogram (metrics, "wide", "", NULL);
    ff_histogram_observe (wide, 1e-12);
    ff_histogram_observe (wide, 5e12);
    cr_assert_eq (ff_histogram_quantile (wide, 0), 1e-12);
    cr_assert_eq (ff_histogram_quantile (wide, 1), 5e12);
    ff_histogram_observe (wide, INFINITY);
    cr_assert_eq (ff_histogram_count (wide), 3);
    cr_assert (isinf (ff_histogram_quantile (wide, 1)));
    cr_assert_eq (ff_histogram_quantile (wide, 0), 1e-12);

    //  A single value is reported exactly (clamped to min = max).
    ff_histogram_t *single = ff_metrics_histogram (metrics, "single", "", NULL);
    ff_histogram_observe (single, 0.123);
    cr_assert_eq (ff_histogram_quantile (single, 0.5), 0.123);
    cr_assert_eq (ff_histogram_quantile (single, 0.99), 0.123);
    ff_metrics_destroy (&metrics);
}


//  --------------------------------------------------------------------------
//  Concurrency

#define THREADS 8
#define ITERATIONS 50000

typedef struct {
    ff_counter_t *counter;
    ff_gauge_t *gauge;
    ff_histogram_t *histogram;
} shared_t;

static void *
s_hammer (void *arg)
{
    shared_t *shared = arg;
    for (int i = 0; i < ITERATIONS; i++) {
        ff_counter_inc (shared->counter);
        ff_gauge_add (shared->gauge, 1.0);
        ff_histogram_observe (shared->histogram, (double) (i % 100 + 1));
    }
    return NULL;
}

FF_TEST (metrics, concurrent_updates_are_exact)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    shared_t shared = {
        ff_metrics_counter (metrics, "ops_total", "", NULL),
        ff_metrics_gauge (metrics, "level", "", NULL),
        ff_metrics_histogram (metrics, "size", "", NULL)
    };
    pthread_t threads [THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq (pthread_create (&threads [i], NULL, s_hammer, &shared), 0);
    //  Render while they run: must not disturb anything.
    for (int i = 0; i < 20; i++) {
        char *text = ff_metrics_render (metrics);
        cr_assert_not_null (text);
        free (text);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join (threads [i], NULL);

    uint64_t total = (uint64_t) THREADS * ITERATIONS;
    cr_assert_eq (ff_counter_value (shared.counter), total);
    cr_assert_eq (ff_gauge_value (shared.gauge), (double) total);
    cr_assert_eq (ff_histogram_count (shared.histogram), total);
    //  Each thread observes 1..100 five hundred times: 500 × 5050.
    cr_assert_eq (ff_histogram_sum (shared.histogram), (double) THREADS * 500 * 5050);
    s_assert_near (ff_histogram_quantile (shared.histogram, 0.5), 50, 0.05, "median");
    s_assert_near (ff_histogram_quantile (shared.histogram, 0.99), 99, 0.05, "p99");
    ff_metrics_destroy (&metrics);
}

typedef struct {
    ff_metrics_t *metrics;
    int id;
} registrar_t;

static void *
s_register_many (void *arg)
{
    registrar_t *registrar = arg;
    for (int i = 0; i < 100; i++) {
        char labels [64];
        snprintf (labels, sizeof labels, "thread=\"%d\",n=\"%d\"", registrar->id, i);
        ff_counter_inc (ff_metrics_counter (registrar->metrics, "registered_total", "", labels));
        ff_histogram_observe (ff_metrics_histogram (registrar->metrics, "registered_seconds", "", labels), 1);
    }
    return NULL;
}

FF_TEST (metrics, concurrent_registration_and_render)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    pthread_t threads [4];
    registrar_t registrars [4];
    for (int i = 0; i < 4; i++) {
        registrars [i] = (registrar_t) { metrics, i };
        cr_assert_eq (pthread_create (&threads [i], NULL, s_register_many, &registrars [i]), 0);
    }
    for (int i = 0; i < 20; i++) {
        char *text = ff_metrics_render (metrics);
        cr_assert_not_null (text);
        free (text);
    }
    for (int i = 0; i < 4; i++)
        pthread_join (threads [i], NULL);
    exposition_t *exposition = s_render_and_parse (metrics);
    //  400 counters + 400 summaries × 5 lines.
    cr_assert_eq (exposition->sample_count, 400 + 400 * 5);
    cr_assert_eq (s_sample (exposition, "registered_total", "n=99,thread=3")->value, 1);
    free (exposition);
    ff_metrics_destroy (&metrics);
}


//  --------------------------------------------------------------------------
//  Rendering

FF_TEST (metrics, render_parses_back)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_counter_add (ff_metrics_counter (metrics, "farfan_msgs_total", "Messages received.",
                                        "socket=\"client\""), 12);
    ff_counter_add (ff_metrics_counter (metrics, "farfan_msgs_total", "Messages received.",
                                        "socket=\"worker\""), 34);
    ff_counter_inc (ff_metrics_counter (metrics, "farfan_errors_total", "Errors.", NULL));
    ff_gauge_set (ff_metrics_gauge (metrics, "farfan_queue_depth", "Queued contracts.", NULL), 17);
    ff_gauge_set (ff_metrics_gauge (metrics, "farfan_ratio", "A ratio.", "kind=\"a\""), 0.1);
    ff_gauge_set (ff_metrics_gauge (metrics, "farfan_tiny", "Tiny.", NULL), 1.0 / 3e15);
    ff_histogram_t *latency = ff_metrics_histogram (metrics, "farfan_latency_seconds",
                                                    "Latency.", "socket=\"a\"");
    for (int i = 1; i <= 1000; i++)
        ff_histogram_observe (latency, i / 1000.0);
    ff_metrics_histogram (metrics, "farfan_latency_seconds", "Latency.", "socket=\"b\"");
    ff_metrics_histogram (metrics, "farfan_unlabelled_seconds", "No labels.", NULL);

    exposition_t *exposition = s_render_and_parse (metrics);
    cr_assert_eq (exposition->family_count, 7);
    cr_assert_str_eq (s_family (exposition, "farfan_msgs_total")->type, "counter");
    cr_assert_str_eq (s_family (exposition, "farfan_msgs_total")->help, "Messages received.");
    cr_assert_str_eq (s_family (exposition, "farfan_queue_depth")->type, "gauge");
    cr_assert_str_eq (s_family (exposition, "farfan_latency_seconds")->type, "summary");

    cr_assert_eq (s_sample (exposition, "farfan_msgs_total", "socket=client")->value, 12);
    cr_assert_eq (s_sample (exposition, "farfan_msgs_total", "socket=worker")->value, 34);
    cr_assert_eq (s_sample (exposition, "farfan_errors_total", NULL)->value, 1);
    cr_assert_eq (s_sample (exposition, "farfan_queue_depth", NULL)->value, 17);
    cr_assert_eq (s_sample (exposition, "farfan_ratio", "kind=a")->value, 0.1);
    cr_assert_eq (s_sample (exposition, "farfan_tiny", NULL)->value, 1.0 / 3e15,
                  "floats read back exactly");

    sample_t *median = s_sample (exposition, "farfan_latency_seconds", "socket=a,quantile=0.5");
    cr_assert_not_null (median);
    s_assert_near (median->value, 0.5, 0.05, "rendered median");
    s_assert_near (s_sample (exposition, "farfan_latency_seconds", "socket=a,quantile=0.95")->value,
                   0.95, 0.05, "rendered p95");
    s_assert_near (s_sample (exposition, "farfan_latency_seconds", "socket=a,quantile=0.99")->value,
                   0.99, 0.05, "rendered p99");
    s_assert_near (s_sample (exposition, "farfan_latency_seconds_sum", "socket=a")->value,
                   500.5, 1e-9, "rendered sum");
    cr_assert_eq (s_sample (exposition, "farfan_latency_seconds_count", "socket=a")->value, 1000);
    cr_assert_eq (s_sample (exposition, "farfan_latency_seconds_count", "socket=b")->value, 0);
    cr_assert_not_null (s_sample (exposition, "farfan_unlabelled_seconds", "quantile=0.99"));
    cr_assert_not_null (s_sample (exposition, "farfan_unlabelled_seconds_count", NULL));
    //  2 + 1 + 1 + 1 + 1 counters/gauges, 3 summaries × 5 lines.
    cr_assert_eq (exposition->sample_count, 6 + 15);
    free (exposition);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, render_keeps_registration_order)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_metrics_gauge (metrics, "zeta", "", NULL);
    ff_metrics_counter (metrics, "alpha_total", "", NULL);
    ff_metrics_gauge (metrics, "mid", "", NULL);
    ff_metrics_gauge (metrics, "zeta", "", "x=\"1\"");
    char *text = ff_metrics_render (metrics);
    const char *zeta = strstr (text, "# HELP zeta");
    const char *alpha = strstr (text, "# HELP alpha_total");
    const char *mid = strstr (text, "# HELP mid");
    cr_assert (zeta && alpha && mid && zeta < alpha && alpha < mid, "%s", text);
    cr_assert (strstr (text, "zeta 0\nzeta{x=\"1\"} 0\n"), "series grouped under one HELP:\n%s", text);
    free (text);
    ff_metrics_destroy (&metrics);

    metrics = ff_metrics_new ();
    text = ff_metrics_render (metrics);
    cr_assert_str_eq (text, "", "an empty registry renders nothing");
    free (text);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, render_special_floats)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_gauge_set (ff_metrics_gauge (metrics, "g", "", "v=\"nan\""), NAN);
    ff_gauge_set (ff_metrics_gauge (metrics, "g", "", "v=\"pinf\""), INFINITY);
    ff_gauge_set (ff_metrics_gauge (metrics, "g", "", "v=\"ninf\""), -INFINITY);
    ff_gauge_set (ff_metrics_gauge (metrics, "g", "", "v=\"big\""), -1.7976931348623157e308);
    ff_gauge_set (ff_metrics_gauge (metrics, "g", "", "v=\"third\""), 1.0 / 3);
    char *text = ff_metrics_render (metrics);
    cr_assert (strstr (text, "g{v=\"nan\"} NaN\n"), "%s", text);
    cr_assert (strstr (text, "g{v=\"pinf\"} +Inf\n"), "%s", text);
    cr_assert (strstr (text, "g{v=\"ninf\"} -Inf\n"), "%s", text);
    free (text);
    exposition_t *exposition = s_render_and_parse (metrics);
    cr_assert_eq (s_sample (exposition, "g", "v=big")->value, -1.7976931348623157e308);
    cr_assert_eq (s_sample (exposition, "g", "v=third")->value, 1.0 / 3);
    free (exposition);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, help_is_escaped)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_metrics_counter (metrics, "c_total", "Line one\nline two \\ \"quoted\"", NULL);
    char *text = ff_metrics_render (metrics);
    cr_assert (strstr (text, "# HELP c_total Line one\\nline two \\\\ \"quoted\"\n"), "%s", text);
    free (text);
    exposition_t *exposition = s_render_and_parse (metrics);
    cr_assert_str_eq (s_family (exposition, "c_total")->help, "Line one\nline two \\ \"quoted\"");
    free (exposition);
    ff_metrics_destroy (&metrics);
}

FF_TEST (metrics, label_values_are_escaped)
{
    char out [64];
    cr_assert_str_eq (ff_metrics_label_escape ("plain", out, sizeof out), "plain");
    cr_assert_str_eq (ff_metrics_label_escape ("a\"b\\c\nd", out, sizeof out), "a\\\"b\\\\c\\nd");
    cr_assert_str_eq (ff_metrics_label_escape (NULL, out, sizeof out), "");
    //  Truncation never splits an escape sequence.
    cr_assert_str_eq (ff_metrics_label_escape ("ab\"c", out, 4), "ab");
    cr_assert_str_eq (ff_metrics_label_escape ("ab\"c", out, 5), "ab\\\"");
    cr_assert_str_eq (ff_metrics_label_escape ("abc", out, 1), "");
    cr_assert_eq (ff_metrics_label_escape ("abc", out, 0), out);

    //  A hostile value from the network goes through escape and comes back.
    const char *hostile = "x\",evil=\"1\"}\n# TYPE injected counter\\";
    char escaped [128];
    ff_metrics_label_escape (hostile, escaped, sizeof escaped);
    char labels [160];
    snprintf (labels, sizeof labels, "peer=\"%s\"", escaped);
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_counter_t *counter = ff_metrics_counter (metrics, "peer_msgs_total", "", labels);
    cr_assert_not_null (counter);
    ff_counter_add (counter, 5);
    cr_assert_null (ff_metrics_counter (metrics, "peer_msgs_total", "", "peer=\"x\",evil=\"1\"}"),
                    "an unescaped value is rejected");
    exposition_t *exposition = s_render_and_parse (metrics);
    cr_assert_eq (exposition->family_count, 1);
    cr_assert_eq (exposition->sample_count, 1);
    cr_assert_str_eq (exposition->samples [0].label_values [0], hostile);
    cr_assert_eq (exposition->samples [0].value, 5);
    free (exposition);
    ff_metrics_destroy (&metrics);
}
