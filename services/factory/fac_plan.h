/*  fac_plan — execution plans (DESIGN.md §3 "Execution plan").

    For a list of contracts and constraints, says how the factory would run
    them: strategy (inline below the batch threshold, else parallel_batch),
    batches of the recommended size with the longest estimated contracts
    first, the estimated duration (longest-processing-time schedule of the
    estimates over the parallel slots; waiting contracts overlap freely),
    each estimate with its source (measured / type / default), and
    warnings: unknown ids, time budget exceeded, low-confidence estimate.
*/
#ifndef FAC_PLAN_H_INCLUDED
#define FAC_PLAN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "factory.pb-c.h"
#include "fac_contract.h"
#include "fac_durations.h"

typedef struct {
    size_t workers;             // parallel slots available
    bool parallel;              // parallel execution enabled
    size_t batch_threshold;     // inline below this many contracts
    size_t batch_size;          // contracts per planned batch (≥ 1)
    bool estimates_only;        // batches get their estimate, not their contract ids
} fac_plan_limits_t;

//  Fills plan (plan_id left to the caller). Allocations are freed by
//  fac_plan_free.
void
    fac_plan_build (fac_contract_set_t *contracts, fac_durations_t *durations,
                    const char *const *ids, size_t count, uint32_t max_parallel,
                    double time_budget_s, const fac_plan_limits_t *limits,
                    Farfan__ExecutionPlan *plan);

void
    fac_plan_free (Farfan__ExecutionPlan *plan);

//  Contracts per EXECUTE so that a batch takes about target_ms on
//  `workers` workers, from the mean measured duration; 1..1000.
uint32_t
    fac_plan_batch_size (fac_durations_t *durations, size_t workers, double target_ms);

//  True when the contract's pipeline has a waiting step (io.wait, exec):
//  its time overlaps with everything else instead of holding a worker.
bool
    fac_plan_is_waiting (const fac_contract_t *contract);

#endif
