/*  fac_durations — how long contracts take: an EWMA of measured durations
    per contract and per contract type, the basis of execution plans and of
    the recommended batch size (DESIGN.md §3 "Execution plan").

    An estimate comes from the contract's own measurements when it has
    any, else from its type's, else from the default — and says which.
    Each contract's CPU time per run is kept beside its wall time (the
    engine runs contracts measured instant inline).
    Bounded: at most max_keys keys (contracts + "type:<t>"); beyond that,
    new keys are not tracked (and estimates fall back). Single-threaded.
*/
#ifndef FAC_DURATIONS_H_INCLUDED
#define FAC_DURATIONS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fac_durations fac_durations_t;

typedef enum {
    FAC_ESTIMATE_MEASURED = 0,  // this contract's EWMA
    FAC_ESTIMATE_TYPE,          // its type's EWMA
    FAC_ESTIMATE_DEFAULT,       // nothing measured
} fac_estimate_source_t;

//  alpha: EWMA weight of a new sample (0 < alpha ≤ 1); default_us: the
//  estimate when nothing is known.
fac_durations_t *
    fac_durations_new (double alpha, double default_us, size_t max_keys);
void
    fac_durations_destroy (fac_durations_t **self_p);

//  One measured execution (not a cache hit) of contract_id of `type`: its
//  wall time, and its CPU time (cpu_us < 0: not measured, e.g. a waiting
//  contract's run).
void
    fac_durations_record (fac_durations_t *self, const char *contract_id, const char *type,
                          uint64_t duration_us, int64_t cpu_us);

//  The estimated duration in µs, and where it came from.
double
    fac_durations_estimate (fac_durations_t *self, const char *contract_id, const char *type,
                            fac_estimate_source_t *source);

//  The EWMA of the contract's measured CPU time per run (µs) in *cpu_us;
//  false when none was measured.
bool
    fac_durations_cpu (fac_durations_t *self, const char *contract_id, double *cpu_us);

//  "measured", "type", "default".
const char *
    fac_estimate_source_name (fac_estimate_source_t source);

//  Mean of the per-contract EWMAs (µs), or the default when none.
double
    fac_durations_mean_us (fac_durations_t *self);

//  Visits every key ("<contract id>" or "type:<type>") with its EWMA and
//  sample count (for snapshots).
typedef void (fac_durations_fn) (const char *key, double ewma_us, uint64_t samples, void *arg);
void
    fac_durations_foreach (fac_durations_t *self, fac_durations_fn *fn, void *arg);

//  Sets a key's EWMA and sample count (restore). Returns 0, or -1 when the
//  table is full or the values are not finite / negative.
int
    fac_durations_load (fac_durations_t *self, const char *key, double ewma_us, uint64_t samples);

size_t
    fac_durations_size (fac_durations_t *self);

#endif
