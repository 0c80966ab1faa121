/*  bench_support — helpers the benchmarks of farfan services share:
    scratch directories, contract id lists, the services' /metrics pages,
    and the start of a benchmark's main ().

    Plain libc (no CZMQ, no Criterion), so any bench_* program can compile
    it in: list bench_support.c next to the program's source in the
    `benches` table of tests/bench/meson.build. (tests/ff_test.c has
    similar helpers, but it is built on Criterion and fails the running
    test on error; a benchmark reports failures with ff_bench_fail.)
*/
#ifndef BENCH_SUPPORT_H_INCLUDED
#define BENCH_SUPPORT_H_INCLUDED

#include "ff_bench.h"

#include <stddef.h>
#include <sys/types.h>

//  main ()'s common start: applies the daemons' heap policy (ff_heap;
//  FF_BENCH_HEAP_RETAIN_MB overrides its size, 0 = the C library's),
//  creates the bench for `suite` and parses the standard arguments.
//  Returns the bench, or NULL with the exit status the program must
//  return in *exit_code (0 after --help, 2 on a bad argument or
//  FF_BENCH_HEAP_RETAIN_MB, 1 when out of memory).
ff_bench_t *
    ff_bench_start (const char *suite, int argc, char **argv, int *exit_code);

//  Creates a fresh directory /tmp/farfan-bench-<what>-XXXXXX. Returns its
//  path (free with ff_bench_dir_destroy), or NULL with errno set.
char *
    ff_bench_dir_new (const char *what);

//  Removes the directory and everything under it, frees the path and nulls
//  *dir_p. Does nothing when *dir_p is NULL.
void
    ff_bench_dir_destroy (char **dir_p);

//  `count` contract ids "PREFIX_nnn", the number zero-padded to `digits`.
//  Returns the array (free with ff_bench_ids_destroy), or NULL when out of
//  memory.
char **
    ff_bench_ids_new (const char *prefix, size_t count, int digits);

void
    ff_bench_ids_destroy (char **ids, size_t count);

//  HTTP/1.0 GET of http://127.0.0.1:port/path, every socket operation
//  bounded by timeout_ms. Returns the body of a 200 answer (caller frees),
//  or NULL (no answer, another status, out of memory).
char *
    ff_bench_http_get (int port, const char *path, int timeout_ms);

//  The value of one sample on a Prometheus text page, the series written
//  exactly as rendered ("name" or "name{labels}"); NAN when absent.
double
    ff_bench_metric (const char *page, const char *series);

//  The sum of every sample of family `name` whose label set contains
//  `labels` (e.g. "type=\"EXECUTE\""); 0 when none does.
double
    ff_bench_metric_sum (const char *page, const char *name, const char *labels);

//  One series from the /metrics page of the service on port; NAN when the
//  page or the series is missing.
double
    ff_bench_metric_get (int port, const char *series, int timeout_ms);

//  CPU time (user + system) of this whole process so far, in ns.
uint64_t
    ff_bench_cpu_ns (void);

//  The threads of this process: up to `max` thread ids into tids. Returns
//  how many, -1 when /proc/self/task cannot be read. Two snapshots around
//  the start of an in-process service name the threads it started.
int
    ff_bench_threads (pid_t *tids, size_t max);

//  Time on CPU of the threads of this process whose ids are in tids (from
//  /proc/self/task/TID/schedstat, ns resolution); a thread that has ended
//  counts 0.
uint64_t
    ff_bench_threads_cpu_ns (const pid_t *tids, size_t count);

#endif
