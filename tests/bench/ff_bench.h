/*  ff_bench — the benchmark harness: timing, latency samples, a results table.

    This machine is noisy (2 shared cores), so a farfan benchmark never stands
    on an absolute figure alone: every row may name a BASELINE, another row of
    the same table measured earlier in the same process, and the table prints
    the ratio value / baseline-value beside it. Absolute figures are context.

    Typical use (see bench_baseline.c, and README.md in this directory):

        ff_bench_t *bench = ff_bench_new ("factory");
        int rc = ff_bench_args (bench, argc, argv);
        if (rc)                                 // --help, or a bad flag
            return rc == 1? 0: 2;
        //  raw libzmq, same process (ff_bench_zmq.h; better: interleave)
        ff_bench_zmq_rtt (bench, FF_BENCH_ZMQ_RTT, 1, 0, NULL);
        ff_bench_samples_t *samples = ff_bench_samples_new (0);
        ... for each request: t0 = ff_bench_now_ns (); ...;
            ff_bench_samples_add (samples, ff_bench_now_ns () - t0);
        ff_bench_record_latency (bench, "factory.rtt", samples, "zmq.rtt");
        rc = ff_bench_finish (bench);           // print table, write file
        ff_bench_samples_destroy (&samples);
        ff_bench_destroy (&bench);

    Settings, each with an environment variable and a flag (flag wins):

        FF_BENCH_SCALE       --scale X     multiply iteration counts (default
                                           1.0; CI uses e.g. 0.1)
        FF_BENCH_OUTPUT      --output PATH append the rows to PATH as well
        FF_BENCH_FORMAT      --format F    tsv | jsonl (default: from PATH's
                                           extension, .jsonl/.json = jsonl,
                                           anything else tsv)
        FF_BENCH_TIMEOUT_MS  --timeout MS  bound on every receive in the
                                           harness' own measurements (5000)
        FF_BENCH_ROUNDS      --rounds N    rounds a throughput is split into,
                                           the median one reported (5)

    Units are free text, but the harness knows which way is better from the
    unit: time units ("ns", "us", "ms", "s") are lower-is-better, everything
    else (msg/s, req/s, MB/s, ...) higher-is-better. The ratio is always
    value / baseline; the "better" column says how to read it.
*/
#ifndef FF_BENCH_H_INCLUDED
#define FF_BENCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct _ff_bench_t ff_bench_t;
typedef struct _ff_bench_samples_t ff_bench_samples_t;

typedef enum {
    FF_BENCH_FORMAT_TSV,                //  header line, then one row per line
    FF_BENCH_FORMAT_JSONL               //  one JSON object per row
} ff_bench_format_t;

//  --------------------------------------------------------------------------
//  Clock

//  Nanoseconds on CLOCK_MONOTONIC (arbitrary origin; for intervals only).
uint64_t ff_bench_now_ns (void);

//  --------------------------------------------------------------------------
//  Latency samples: a growable array of durations in ns. Percentiles are
//  exact: the samples are sorted and the nearest-rank value is returned
//  (the smallest sample with at least p% of the samples <= it), so every
//  reported percentile is a duration that was actually measured.

//  Creates an empty sample set with room for `capacity` samples (0 = a
//  small default; it grows as needed). Returns NULL when out of memory.
ff_bench_samples_t *ff_bench_samples_new (size_t capacity);

//  Destroys the set and nulls *self_p; does nothing if either is NULL.
void ff_bench_samples_destroy (ff_bench_samples_t **self_p);

//  Appends one duration. Returns 0, or -1 when out of memory (the sample is
//  lost, the set unchanged).
int ff_bench_samples_add (ff_bench_samples_t *self, uint64_t ns);

//  Forgets every sample (keeps the memory), e.g. after a warm-up.
void ff_bench_samples_reset (ff_bench_samples_t *self);

//  Number of samples held.
size_t ff_bench_samples_count (ff_bench_samples_t *self);

//  The nearest-rank p-th percentile in ns, 0 < p <= 100 (p = 50 is the
//  median, 100 the maximum). Sorts the samples in place on first use after
//  an add. Returns 0 when the set is empty.
uint64_t ff_bench_samples_percentile (ff_bench_samples_t *self, double p);

//  Smallest sample in ns (0 when empty).
uint64_t ff_bench_samples_min (ff_bench_samples_t *self);

//  Arithmetic mean in ns (0 when empty).
double ff_bench_samples_mean (ff_bench_samples_t *self);

//  --------------------------------------------------------------------------
//  Results table

//  Creates a table for the benchmark program `suite` (e.g. "baseline",
//  "factory"; printed and written in every row). Reads the FF_BENCH_*
//  environment variables; a malformed one is reported on stderr and its
//  default used. Returns NULL when out of memory.
ff_bench_t *ff_bench_new (const char *suite);

//  Destroys the table and nulls *self_p; does nothing if either is NULL.
void ff_bench_destroy (ff_bench_t **self_p);

//  Applies the common flags (--scale, --output, --format, --timeout,
//  --rounds, --help)
//  from argv, overriding the environment. Returns 0; 1 when --help was given
//  (usage printed to stdout; the caller should exit 0); -1 on an unknown or
//  malformed flag (message and usage on stderr; the caller should exit 2).
int ff_bench_args (ff_bench_t *self, int argc, char **argv);

//  The iteration scale (FF_BENCH_SCALE / --scale; > 0, default 1.0).
double ff_bench_scale (ff_bench_t *self);

//  Sets the scale; a value <= 0 or not finite is ignored (returns -1).
int ff_bench_set_scale (ff_bench_t *self, double scale);

//  `count` multiplied by the scale, rounded, and never below `minimum`:
//  the way every benchmark sizes its loops.
size_t ff_bench_scaled (ff_bench_t *self, size_t count, size_t minimum);

//  Receive timeout in ms for harness measurements (default 5000).
int ff_bench_timeout_ms (ff_bench_t *self);

//  Sets the receive timeout; a value <= 0 is ignored (returns -1).
int ff_bench_set_timeout_ms (ff_bench_t *self, int timeout_ms);

//  Rounds a throughput measurement is split into (default 5; see
//  ff_bench_record_rounds).
int ff_bench_rounds (ff_bench_t *self);

//  Sets the rounds; a value < 1 is ignored (returns -1).
int ff_bench_set_rounds (ff_bench_t *self, int rounds);

//  Sets (or with NULL clears) the file the rows are appended to by
//  ff_bench_finish, in the given format. Returns 0, -1 when out of memory.
int ff_bench_set_output (ff_bench_t *self, const char *path,
                         ff_bench_format_t format);

//  Records one measurement. `name` must be unique in the table (a second row
//  with the same name is refused); `baseline`, if not NULL, names an earlier
//  row of this table, and the row's ratio is value / that row's value.
//  `note` (may be NULL) is free-text context such as "n=20000 size=100B".
//  Returns 0; -1 when the row is refused (duplicate name, NULL name/unit, no
//  memory) or the baseline row does not exist or is 0 -- in that last case
//  the row IS recorded, with no ratio, and the table prints "baseline
//  missing" so a failed baseline cannot go unnoticed.
int ff_bench_record (ff_bench_t *self, const char *name, double value,
                     const char *unit, const char *baseline, const char *note);

//  Like ff_bench_record, with a printf-style note.
int ff_bench_recordf (ff_bench_t *self, const char *name, double value,
                      const char *unit, const char *baseline,
                      const char *note_format, ...)
    __attribute__ ((format (printf, 6, 7)));

//  Records the latency percentiles of `samples` as three rows in µs:
//  "<name>.p50", "<name>.p95", "<name>.p99", each against "<baseline>.p50"
//  etc. when `baseline` is not NULL (e.g. a row set made by ff_bench_zmq_rtt
//  or by an earlier ff_bench_record_latency). The note gives the sample
//  count and the mean. Returns 0, or -1 if any row was refused or its
//  baseline missing (see ff_bench_record), or the set is empty.
int ff_bench_record_latency (ff_bench_t *self, const char *name,
                             ff_bench_samples_t *samples,
                             const char *baseline);

//  Records `operations` completed in `elapsed_ns` as a rate row in
//  "<unit>" (e.g. "msg/s"). Returns as ff_bench_record; -1 also when
//  elapsed_ns is 0.
int ff_bench_record_rate (ff_bench_t *self, const char *name,
                          uint64_t operations, uint64_t elapsed_ns,
                          const char *unit, const char *baseline);

//  Records a throughput measured in rounds of `operations` each, whose
//  durations (ns) are the samples in `rounds`: value = operations / median
//  round duration (for an even count, the mean of the middle two), in
//  "<unit>" (e.g. "msg/s"). The median round shrugs off
//  a burst from a noisy neighbour that would drag down a single long run;
//  the note gives `context` (may be NULL; e.g. "window=100") and the
//  range over rounds, which shows how noisy the machine was.
//  Returns as ff_bench_record; -1 also when `rounds` is empty.
int ff_bench_record_rounds (ff_bench_t *self, const char *name,
                            uint64_t operations, ff_bench_samples_t *rounds,
                            const char *unit, const char *baseline,
                            const char *context);

//  The value of row `name`, or NAN when there is no such row.
double ff_bench_value (ff_bench_t *self, const char *name);

//  Number of rows recorded.
size_t ff_bench_size (ff_bench_t *self);

//  Prints the table (one row per measurement: name, value, unit, baseline,
//  ratio) to `out`, with a header naming the suite, scale and CPU count.
void ff_bench_print (ff_bench_t *self, FILE *out);

//  Appends every row to `path` in `format`. A TSV header line is written
//  first only when the file is new or empty, so several benchmark programs
//  can append to one file. Returns 0, or -1 on an I/O error (reported on
//  stderr).
int ff_bench_write (ff_bench_t *self, const char *path,
                    ff_bench_format_t format);

//  Ends a benchmark program: prints the table to stdout and, when an output
//  file is set, appends the rows to it. Returns 0, or -1 when writing failed
//  or some row's baseline was missing (so main can `return ff_bench_finish
//  (bench) ? 1 : 0`).
int ff_bench_finish (ff_bench_t *self);

//  Counts a failed measurement (e.g. a baseline that timed out) so that
//  ff_bench_finish reports failure; prints the printf-style message on
//  stderr, prefixed with the suite.
void ff_bench_fail (ff_bench_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Number of failures counted so far (ff_bench_fail, missing baselines,
//  refused rows).
size_t ff_bench_failures (ff_bench_t *self);

#endif
