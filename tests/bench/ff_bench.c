/*  ff_bench — the benchmark harness: timing, latency samples, a results table.
    The contracts are in ff_bench.h.
*/
#include "ff_bench.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_DEFAULT_TIMEOUT_MS 5000       //  default of FF_BENCH_TIMEOUT_MS
#define S_DEFAULT_SAMPLES    1024       //  initial capacity of a sample set
#define S_DEFAULT_ROUNDS     5          //  default of FF_BENCH_ROUNDS

//  --------------------------------------------------------------------------
//  Clock

uint64_t
ff_bench_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

//  --------------------------------------------------------------------------
//  Latency samples

struct _ff_bench_samples_t {
    uint64_t *values;                   //  durations in ns
    size_t count;                       //  samples held
    size_t capacity;                    //  room in values
    bool sorted;                        //  values sorted since the last add
};

ff_bench_samples_t *
ff_bench_samples_new (size_t capacity)
{
    ff_bench_samples_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = capacity ? capacity : S_DEFAULT_SAMPLES;
    self->values = malloc (self->capacity * sizeof *self->values);
    if (!self->values) {
        free (self);
        return NULL;
    }
    self->sorted = true;
    return self;
}

void
ff_bench_samples_destroy (ff_bench_samples_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->values);
    free (*self_p);
    *self_p = NULL;
}

int
ff_bench_samples_add (ff_bench_samples_t *self, uint64_t ns)
{
    if (self->count == self->capacity) {
        size_t capacity = self->capacity * 2;
        uint64_t *values = realloc (self->values, capacity * sizeof *values);
        if (!values)
            return -1;
        self->values = values;
        self->capacity = capacity;
    }
    self->values [self->count++] = ns;
    self->sorted = false;
    return 0;
}

void
ff_bench_samples_reset (ff_bench_samples_t *self)
{
    self->count = 0;
    self->sorted = true;
}

size_t
ff_bench_samples_count (ff_bench_samples_t *self)
{
    return self->count;
}

static int
s_compare_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a;
    uint64_t y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static void
s_samples_sort (ff_bench_samples_t *self)
{
    if (!self->sorted) {
        qsort (self->values, self->count, sizeof *self->values, s_compare_u64);
        self->sorted = true;
    }
}

uint64_t
ff_bench_samples_percentile (ff_bench_samples_t *self, double p)
{
    if (self->count == 0)
        return 0;
    s_samples_sort (self);
    //  Nearest rank: the ceil (p/100 * n)-th smallest, 1-based. p * n
    //  first: exact for integer p, so an exact rank is not rounded up.
    double rank = ceil (p * (double) self->count / 100.0);
    if (rank < 1)
        rank = 1;
    if (rank > (double) self->count)
        rank = (double) self->count;
    return self->values [(size_t) rank - 1];
}

uint64_t
ff_bench_samples_min (ff_bench_samples_t *self)
{
    if (self->count == 0)
        return 0;
    s_samples_sort (self);
    return self->values [0];
}

double
ff_bench_samples_mean (ff_bench_samples_t *self)
{
    if (self->count == 0)
        return 0;
    double sum = 0;
    for (size_t index = 0; index < self->count; index++)
        sum += (double) self->values [index];
    return sum / (double) self->count;
}

//  --------------------------------------------------------------------------
//  Results table

typedef struct {
    char *name;                         //  unique in the table
    double value;                       //  the measurement
    char *unit;                         //  e.g. "us", "msg/s"
    char *baseline;                     //  name of the baseline row, or NULL
    double ratio;                       //  value / baseline value, or NAN
    bool lower_is_better;               //  from the unit: a time
    char *note;                         //  free-text context, or NULL
} s_row_t;

struct _ff_bench_t {
    char *suite;                        //  benchmark program, e.g. "baseline"
    double scale;                       //  iteration multiplier, > 0
    int timeout_ms;                     //  bound on every harness receive
    int rounds;                         //  rounds of a throughput measurement
    char *output;                       //  file the rows are appended to
    ff_bench_format_t format;           //  format of output
    s_row_t *rows;                      //  measurements, in recording order
    size_t size;                        //  rows used
    size_t capacity;                    //  rows allocated
    size_t failures;                    //  failed measurements and rows
};

static ff_bench_format_t
s_format_from_path (const char *path)
{
    const char *dot = strrchr (path, '.');
    if (dot && (strcmp (dot, ".jsonl") == 0 || strcmp (dot, ".json") == 0))
        return FF_BENCH_FORMAT_JSONL;
    return FF_BENCH_FORMAT_TSV;
}

static int
s_parse_format (const char *text, ff_bench_format_t *format)
{
    if (strcmp (text, "tsv") == 0)
        *format = FF_BENCH_FORMAT_TSV;
    else
    if (strcmp (text, "jsonl") == 0 || strcmp (text, "json") == 0)
        *format = FF_BENCH_FORMAT_JSONL;
    else
        return -1;
    return 0;
}

static int
s_parse_double (const char *text, double *value)
{
    char *end;
    errno = 0;
    double parsed = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (parsed))
        return -1;
    *value = parsed;
    return 0;
}

static int
s_parse_int (const char *text, int *value)
{
    char *end;
    errno = 0;
    long parsed = strtol (text, &end, 10);
    if (errno || end == text || *end || parsed < 0 || parsed > 3600000)
        return -1;
    *value = (int) parsed;
    return 0;
}

ff_bench_t *
ff_bench_new (const char *suite)
{
    ff_bench_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->suite = strdup (suite ? suite : "bench");
    if (!self->suite) {
        free (self);
        return NULL;
    }
    self->scale = 1.0;
    self->timeout_ms = S_DEFAULT_TIMEOUT_MS;
    self->rounds = S_DEFAULT_ROUNDS;
    self->format = FF_BENCH_FORMAT_TSV;

    const char *text = getenv ("FF_BENCH_SCALE");
    double scale;
    if (text && *text) {
        if (s_parse_double (text, &scale) || ff_bench_set_scale (self, scale))
            fprintf (stderr, "bench %s: ignoring FF_BENCH_SCALE='%s' "
                     "(want a number > 0), using 1.0\n", self->suite, text);
    }
    text = getenv ("FF_BENCH_TIMEOUT_MS");
    int timeout_ms;
    if (text && *text) {
        if (s_parse_int (text, &timeout_ms)
        ||  ff_bench_set_timeout_ms (self, timeout_ms))
            fprintf (stderr, "bench %s: ignoring FF_BENCH_TIMEOUT_MS='%s' "
                     "(want ms > 0), using %d\n",
                     self->suite, text, S_DEFAULT_TIMEOUT_MS);
    }
    text = getenv ("FF_BENCH_ROUNDS");
    int rounds;
    if (text && *text) {
        if (s_parse_int (text, &rounds) || ff_bench_set_rounds (self, rounds))
            fprintf (stderr, "bench %s: ignoring FF_BENCH_ROUNDS='%s' "
                     "(want a count >= 1), using %d\n",
                     self->suite, text, S_DEFAULT_ROUNDS);
    }
    text = getenv ("FF_BENCH_OUTPUT");
    if (text && *text) {
        ff_bench_format_t format = s_format_from_path (text);
        const char *format_text = getenv ("FF_BENCH_FORMAT");
        if (format_text && *format_text
        &&  s_parse_format (format_text, &format))
            fprintf (stderr, "bench %s: ignoring FF_BENCH_FORMAT='%s' "
                     "(want tsv or jsonl)\n", self->suite, format_text);
        if (ff_bench_set_output (self, text, format)) {
            ff_bench_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
ff_bench_destroy (ff_bench_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_bench_t *self = *self_p;
    for (size_t index = 0; index < self->size; index++) {
        free (self->rows [index].name);
        free (self->rows [index].unit);
        free (self->rows [index].baseline);
        free (self->rows [index].note);
    }
    free (self->rows);
    free (self->output);
    free (self->suite);
    free (self);
    *self_p = NULL;
}

static void
s_usage (ff_bench_t *self, FILE *out)
{
    fprintf (out,
        "usage: bench_%s [--scale X] [--output PATH] [--format tsv|jsonl]"
        " [--timeout MS] [--rounds N]\n"
        "  --scale X       multiply iteration counts by X"
        " (env FF_BENCH_SCALE, now %g)\n"
        "  --output PATH   also append the rows to PATH"
        " (env FF_BENCH_OUTPUT)\n"
        "  --format F      tsv or jsonl (env FF_BENCH_FORMAT;"
        " default from PATH's extension)\n"
        "  --timeout MS    bound on every receive"
        " (env FF_BENCH_TIMEOUT_MS, now %d)\n"
        "  --rounds N      rounds per throughput, median reported"
        " (env FF_BENCH_ROUNDS, now %d)\n",
        self->suite, self->scale, self->timeout_ms, self->rounds);
}

int
ff_bench_args (ff_bench_t *self, int argc, char **argv)
{
    const char *output = NULL;
    const char *format_text = NULL;
    for (int index = 1; index < argc; index++) {
        const char *flag = argv [index];
        if (strcmp (flag, "--help") == 0 || strcmp (flag, "-h") == 0) {
            s_usage (self, stdout);
            return 1;
        }
        const char *value = index + 1 < argc? argv [index + 1]: NULL;
        bool known = strcmp (flag, "--scale") == 0
                  || strcmp (flag, "--output") == 0
                  || strcmp (flag, "--format") == 0
                  || strcmp (flag, "--timeout") == 0
                  || strcmp (flag, "--rounds") == 0;
        if (!known) {
            fprintf (stderr, "bench %s: unknown argument '%s'\n",
                     self->suite, flag);
            s_usage (self, stderr);
            return -1;
        }
        if (!value) {
            fprintf (stderr, "bench %s: %s needs a value\n", self->suite, flag);
            return -1;
        }
        index++;
        if (strcmp (flag, "--scale") == 0) {
            double scale;
            if (s_parse_double (value, &scale)
            ||  ff_bench_set_scale (self, scale)) {
                fprintf (stderr, "bench %s: --scale wants a number > 0, "
                         "not '%s'\n", self->suite, value);
                return -1;
            }
        }
        else
        if (strcmp (flag, "--timeout") == 0) {
            int timeout_ms;
            if (s_parse_int (value, &timeout_ms)
            ||  ff_bench_set_timeout_ms (self, timeout_ms)) {
                fprintf (stderr, "bench %s: --timeout wants ms > 0, "
                         "not '%s'\n", self->suite, value);
                return -1;
            }
        }
        else
        if (strcmp (flag, "--rounds") == 0) {
            int rounds;
            if (s_parse_int (value, &rounds)
            ||  ff_bench_set_rounds (self, rounds)) {
                fprintf (stderr, "bench %s: --rounds wants a count >= 1, "
                         "not '%s'\n", self->suite, value);
                return -1;
            }
        }
        else
        if (strcmp (flag, "--output") == 0)
            output = value;
        else
            format_text = value;
    }
    ff_bench_format_t format = output? s_format_from_path (output)
                                     : self->format;
    if (format_text && s_parse_format (format_text, &format)) {
        fprintf (stderr, "bench %s: --format wants tsv or jsonl, not '%s'\n",
                 self->suite, format_text);
        return -1;
    }
    if (output || format_text) {
        const char *path = output? output: self->output;
        if (!path) {
            fprintf (stderr, "bench %s: --format needs --output "
                     "or FF_BENCH_OUTPUT\n", self->suite);
            return -1;
        }
        //  path may be self->output itself: copy before replacing it
        char *copy = strdup (path);
        int rc = copy? ff_bench_set_output (self, copy, format): -1;
        free (copy);
        if (rc)
            return -1;
    }
    return 0;
}

double
ff_bench_scale (ff_bench_t *self)
{
    return self->scale;
}

int
ff_bench_set_scale (ff_bench_t *self, double scale)
{
    if (!(scale > 0) || !isfinite (scale))
        return -1;
    self->scale = scale;
    return 0;
}

size_t
ff_bench_scaled (ff_bench_t *self, size_t count, size_t minimum)
{
    double scaled = round ((double) count * self->scale);
    if (scaled < (double) minimum)
        return minimum;
    if (scaled > (double) (SIZE_MAX / 2))
        return SIZE_MAX / 2;
    return (size_t) scaled;
}

int
ff_bench_timeout_ms (ff_bench_t *self)
{
    return self->timeout_ms;
}

int
ff_bench_set_timeout_ms (ff_bench_t *self, int timeout_ms)
{
    if (timeout_ms <= 0)
        return -1;
    self->timeout_ms = timeout_ms;
    return 0;
}

int
ff_bench_rounds (ff_bench_t *self)
{
    return self->rounds;
}

int
ff_bench_set_rounds (ff_bench_t *self, int rounds)
{
    if (rounds < 1)
        return -1;
    self->rounds = rounds;
    return 0;
}

int
ff_bench_set_output (ff_bench_t *self, const char *path,
                     ff_bench_format_t format)
{
    char *copy = NULL;
    if (path && !(copy = strdup (path)))
        return -1;
    free (self->output);
    self->output = copy;
    self->format = format;
    return 0;
}

static s_row_t *
s_find (ff_bench_t *self, const char *name)
{
    for (size_t index = 0; index < self->size; index++)
        if (strcmp (self->rows [index].name, name) == 0)
            return &self->rows [index];
    return NULL;
}

static bool
s_unit_is_time (const char *unit)
{
    return strcmp (unit, "ns") == 0 || strcmp (unit, "us") == 0
        || strcmp (unit, "ms") == 0 || strcmp (unit, "s") == 0;
}

int
ff_bench_record (ff_bench_t *self, const char *name, double value,
                 const char *unit, const char *baseline, const char *note)
{
    if (!name || !unit) {
        self->failures++;
        return -1;
    }
    if (s_find (self, name)) {
        fprintf (stderr, "bench %s: row '%s' recorded twice; second refused\n",
                 self->suite, name);
        self->failures++;
        return -1;
    }
    if (self->size == self->capacity) {
        size_t capacity = self->capacity? self->capacity * 2: 32;
        s_row_t *rows = realloc (self->rows, capacity * sizeof *rows);
        if (!rows) {
            self->failures++;
            return -1;
        }
        self->rows = rows;
        self->capacity = capacity;
    }
    s_row_t row = {
        .name = strdup (name),
        .value = value,
        .unit = strdup (unit),
        .baseline = baseline? strdup (baseline): NULL,
        .ratio = NAN,
        .lower_is_better = s_unit_is_time (unit),
        .note = note? strdup (note): NULL
    };
    if (!row.name || !row.unit || (baseline && !row.baseline)
    || (note && !row.note)) {
        free (row.name);
        free (row.unit);
        free (row.baseline);
        free (row.note);
        self->failures++;
        return -1;
    }
    int rc = 0;
    if (baseline) {
        s_row_t *base = s_find (self, baseline);
        if (base && base->value != 0 && isfinite (base->value))
            row.ratio = value / base->value;
        else {
            fprintf (stderr, "bench %s: row '%s': baseline '%s' %s\n",
                     self->suite, name, baseline,
                     base? "is 0": "was not measured in this run");
            self->failures++;
            rc = -1;
        }
    }
    self->rows [self->size++] = row;
    return rc;
}

int
ff_bench_recordf (ff_bench_t *self, const char *name, double value,
                  const char *unit, const char *baseline,
                  const char *note_format, ...)
{
    char note [256];
    va_list args;
    va_start (args, note_format);
    vsnprintf (note, sizeof note, note_format, args);
    va_end (args);
    return ff_bench_record (self, name, value, unit, baseline, note);
}

int
ff_bench_record_latency (ff_bench_t *self, const char *name,
                         ff_bench_samples_t *samples, const char *baseline)
{
    if (ff_bench_samples_count (samples) == 0) {
        ff_bench_fail (self, "%s: no latency samples", name);
        return -1;
    }
    static const double percentiles [] = { 50, 95, 99 };
    int rc = 0;
    for (size_t index = 0; index < 3; index++) {
        char row_name [200];
        char base_name [200];
        int p = (int) percentiles [index];
        snprintf (row_name, sizeof row_name, "%s.p%d", name, p);
        if (baseline)
            snprintf (base_name, sizeof base_name, "%s.p%d", baseline, p);
        double value = (double) ff_bench_samples_percentile (
            samples, percentiles [index]) / 1000.0;
        if (ff_bench_recordf (self, row_name, value, "us",
                              baseline? base_name: NULL,
                              "n=%zu mean=%.1fus min=%.1fus",
                              ff_bench_samples_count (samples),
                              ff_bench_samples_mean (samples) / 1000.0,
                              (double) ff_bench_samples_min (samples) / 1000.0))
            rc = -1;
    }
    return rc;
}

int
ff_bench_record_rate (ff_bench_t *self, const char *name,
                      uint64_t operations, uint64_t elapsed_ns,
                      const char *unit, const char *baseline)
{
    if (elapsed_ns == 0) {
        ff_bench_fail (self, "%s: zero elapsed time", name);
        return -1;
    }
    double rate = (double) operations * 1e9 / (double) elapsed_ns;
    return ff_bench_recordf (self, name, rate, unit, baseline,
                             "n=%" PRIu64 " in %.3fs", operations,
                             (double) elapsed_ns / 1e9);
}

int
ff_bench_record_rounds (ff_bench_t *self, const char *name,
                        uint64_t operations, ff_bench_samples_t *rounds,
                        const char *unit, const char *baseline,
                        const char *context)
{
    size_t count = ff_bench_samples_count (rounds);
    double median = (double) ff_bench_samples_percentile (rounds, 50);
    if (count > 0 && count % 2 == 0)    //  sorted now: mean of the middle two
        median = ((double) rounds->values [count / 2 - 1]
                + (double) rounds->values [count / 2]) / 2;
    if (count == 0 || median == 0 || operations == 0) {
        ff_bench_fail (self, "%s: no rounds measured", name);
        return -1;
    }
    double ops = (double) operations;
    double slowest = ops * 1e9 / (double) ff_bench_samples_percentile (rounds,
                                                                       100);
    double fastest = ops * 1e9 / (double) ff_bench_samples_min (rounds);
    return ff_bench_recordf (self, name, ops * 1e9 / median, unit,
                             baseline, "%s%smedian of %zu rounds of %" PRIu64
                             ", range %.0f-%.0f", context? context: "",
                             context? " ": "", count, operations,
                             slowest, fastest);
}

double
ff_bench_value (ff_bench_t *self, const char *name)
{
    s_row_t *row = s_find (self, name);
    return row? row->value: NAN;
}

size_t
ff_bench_size (ff_bench_t *self)
{
    return self->size;
}

//  Formats a value with a precision that suits its magnitude.
static void
s_format_value (char *buffer, size_t size, double value)
{
    double magnitude = fabs (value);
    if (magnitude >= 1000)
        snprintf (buffer, size, "%.0f", value);
    else
    if (magnitude >= 10)
        snprintf (buffer, size, "%.1f", value);
    else
        snprintf (buffer, size, "%.2f", value);
}

void
ff_bench_print (ff_bench_t *self, FILE *out)
{
    fprintf (out, "\n== bench %s  (scale %g, %ld CPUs online; "
             "ratio = value / baseline, measured in this run)\n",
             self->suite, self->scale, sysconf (_SC_NPROCESSORS_ONLN));
    fprintf (out, "%-28s %12s %-6s  %-22s %8s  %s\n",
             "name", "value", "unit", "baseline", "ratio", "note");
    for (size_t index = 0; index < self->size; index++) {
        s_row_t *row = &self->rows [index];
        char value [32];
        s_format_value (value, sizeof value, row->value);
        char ratio [48];
        if (!row->baseline)
            snprintf (ratio, sizeof ratio, "-");
        else
        if (isnan (row->ratio))
            snprintf (ratio, sizeof ratio, "MISSING");
        else
            snprintf (ratio, sizeof ratio, "%.2fx", row->ratio);
        fprintf (out, "%-28s %12s %-6s  %-22s %8s  %s\n",
                 row->name, value, row->unit,
                 row->baseline? row->baseline: "-", ratio,
                 row->note? row->note: "");
    }
    if (self->failures)
        fprintf (out, "!! %zu failure(s) in bench %s: see stderr\n",
                 self->failures, self->suite);
    fflush (out);
}

//  Writes `text` as a TSV field: tabs and newlines become spaces.
static void
s_write_tsv_text (FILE *file, const char *text)
{
    for (; text && *text; text++)
        fputc (*text == '\t' || *text == '\n' || *text == '\r'? ' ': *text,
               file);
}

//  Writes `text` as a JSON string, or null.
static void
s_write_json_text (FILE *file, const char *text)
{
    if (!text) {
        fputs ("null", file);
        return;
    }
    fputc ('"', file);
    for (; *text; text++) {
        unsigned char c = (unsigned char) *text;
        if (c == '"' || c == '\\')
            fprintf (file, "\\%c", c);
        else
        if (c < 0x20)
            fprintf (file, "\\u%04x", c);
        else
            fputc (c, file);
    }
    fputc ('"', file);
}

//  Writes a double as JSON (null when not finite).
static void
s_write_json_number (FILE *file, double value)
{
    if (isfinite (value))
        fprintf (file, "%.10g", value);
    else
        fputs ("null", file);
}

int
ff_bench_write (ff_bench_t *self, const char *path, ff_bench_format_t format)
{
    FILE *file = fopen (path, "a");
    if (!file) {
        fprintf (stderr, "bench %s: cannot open %s: %s\n",
                 self->suite, path, strerror (errno));
        return -1;
    }
    struct stat status;
    bool empty = fstat (fileno (file), &status) == 0 && status.st_size == 0;
    if (format == FF_BENCH_FORMAT_TSV && empty)
        fputs ("suite\tname\tvalue\tunit\tbaseline\tratio\tbetter\tscale\t"
               "note\n", file);
    for (size_t index = 0; index < self->size; index++) {
        s_row_t *row = &self->rows [index];
        const char *better = row->lower_is_better? "lower": "higher";
        if (format == FF_BENCH_FORMAT_TSV) {
            s_write_tsv_text (file, self->suite);
            fputc ('\t', file);
            s_write_tsv_text (file, row->name);
            fprintf (file, "\t%.10g\t", row->value);
            s_write_tsv_text (file, row->unit);
            fputc ('\t', file);
            s_write_tsv_text (file, row->baseline);
            fputc ('\t', file);
            if (row->baseline && !isnan (row->ratio))
                fprintf (file, "%.4f", row->ratio);
            fprintf (file, "\t%s\t%g\t", better, self->scale);
            s_write_tsv_text (file, row->note);
            fputc ('\n', file);
        }
        else {
            fputs ("{\"suite\":", file);
            s_write_json_text (file, self->suite);
            fputs (",\"name\":", file);
            s_write_json_text (file, row->name);
            fputs (",\"value\":", file);
            s_write_json_number (file, row->value);
            fputs (",\"unit\":", file);
            s_write_json_text (file, row->unit);
            fputs (",\"baseline\":", file);
            s_write_json_text (file, row->baseline);
            fputs (",\"ratio\":", file);
            s_write_json_number (file, row->ratio);
            fprintf (file, ",\"better\":\"%s\",\"scale\":", better);
            s_write_json_number (file, self->scale);
            fputs (",\"note\":", file);
            s_write_json_text (file, row->note);
            fputs ("}\n", file);
        }
    }
    int rc = 0;
    if (ferror (file)) {
        fprintf (stderr, "bench %s: write error on %s\n", self->suite, path);
        rc = -1;
    }
    if (fclose (file)) {
        fprintf (stderr, "bench %s: cannot close %s: %s\n",
                 self->suite, path, strerror (errno));
        rc = -1;
    }
    return rc;
}

int
ff_bench_finish (ff_bench_t *self)
{
    ff_bench_print (self, stdout);
    int rc = self->failures? -1: 0;
    if (self->output && ff_bench_write (self, self->output, self->format))
        rc = -1;
    return rc;
}

void
ff_bench_fail (ff_bench_t *self, const char *format, ...)
{
    fprintf (stderr, "bench %s: ", self->suite);
    va_list args;
    va_start (args, format);
    vfprintf (stderr, format, args);
    va_end (args);
    fputc ('\n', stderr);
    self->failures++;
}

size_t
ff_bench_failures (ff_bench_t *self)
{
    return self->failures;
}
