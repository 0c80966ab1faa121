/*  fac_plan — see fac_plan.h. */
#include "fac_plan.h"
#include "fac_method.h"

#include <czmq.h>
#include <math.h>

//  Below this share of measured estimates a plan says it is a guess.
#define S_LOW_CONFIDENCE 0.5

typedef struct {
    const char *id;
    double estimate_s;
    bool waiting;
} s_item_t;

static int
s_longest_first (const void *a, const void *b)
{
    double x = ((const s_item_t *) a)->estimate_s;
    double y = ((const s_item_t *) b)->estimate_s;
    return x < y ? 1 : x > y ? -1 : strcmp (((const s_item_t *) a)->id, ((const s_item_t *) b)->id);
}

bool
fac_plan_is_waiting (const fac_contract_t *contract)
{
    for (size_t i = 0; i < contract->step_count; i++) {
        const fac_method_t *method = fac_method_lookup (contract->steps [i].method);
        if (method && method->kind == FAC_METHOD_WAIT)
            return true;
    }
    return false;
}

uint32_t
fac_plan_batch_size (fac_durations_t *durations, size_t workers, double target_ms)
{
    double mean_us = fac_durations_mean_us (durations);
    double size = mean_us > 0 ? target_ms * 1000.0 * (double) workers / mean_us : 1000;
    if (!(size >= 1))
        return 1;
    return size > 1000 ? 1000 : (uint32_t) lround (size);
}

//  Longest-processing-time makespan of the CPU items over `slots` slots;
//  waiting items run alongside, so the plan lasts at least the longest.
static double
s_makespan (const s_item_t *items, size_t count, size_t slots)
{
    double *load = (double *) calloc (slots ? slots : 1, sizeof (double));
    double longest_wait = 0;
    for (size_t i = 0; load && i < count; i++) {
        if (items [i].waiting) {
            longest_wait = fmax (longest_wait, items [i].estimate_s);
            continue;
        }
        size_t least = 0;
        for (size_t s = 1; s < slots; s++)
            if (load [s] < load [least])
                least = s;
        load [least] += items [i].estimate_s;
    }
    double makespan = longest_wait;
    for (size_t s = 0; load && s < slots; s++)
        makespan = fmax (makespan, load [s]);
    free (load);
    return makespan;
}

static void
s_warn (Farfan__ExecutionPlan *plan, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_warn (Farfan__ExecutionPlan *plan, const char *format, ...)
{
    char text [512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    char **grown = (char **) realloc (plan->warnings, (plan->n_warnings + 1) * sizeof (char *));
    if (!grown)
        return;
    plan->warnings = grown;
    plan->warnings [plan->n_warnings++] = strdup (text);
}

void
fac_plan_build (fac_contract_set_t *contracts, fac_durations_t *durations,
                const char *const *ids, size_t count, uint32_t max_parallel,
                double time_budget_s, const fac_plan_limits_t *limits,
                Farfan__ExecutionPlan *plan)
{
    s_item_t *items = (s_item_t *) calloc (count ? count : 1, sizeof (s_item_t));
    plan->estimates = (Farfan__ContractEstimate **) calloc (count ? count : 1,
                                                            sizeof (Farfan__ContractEstimate *));
    size_t known = 0, measured = 0;
    size_t unknown = 0;
    char unknown_list [256] = "";
    for (size_t i = 0; items && plan->estimates && i < count; i++) {
        fac_contract_t *contract = fac_contract_set_lookup (contracts, ids [i]);
        if (!contract) {
            if (unknown++ < 5)
                snprintf (unknown_list + strlen (unknown_list),
                          sizeof unknown_list - strlen (unknown_list), "%s%s",
                          unknown > 1 ? ", " : "", ids [i]);
            continue;
        }
        fac_estimate_source_t source;
        double estimate_us = fac_durations_estimate (durations, contract->id, contract->type, &source);
        if (source == FAC_ESTIMATE_MEASURED)
            measured++;
        s_item_t *item = &items [known++];
        item->id = contract->id;
        item->estimate_s = estimate_us / 1e6;
        item->waiting = fac_plan_is_waiting (contract);
        Farfan__ContractEstimate *estimate = (Farfan__ContractEstimate *)
            zmalloc (sizeof (Farfan__ContractEstimate));
        farfan__contract_estimate__init (estimate);
        estimate->contract_id = strdup (contract->id);
        estimate->estimated_s = item->estimate_s;
        estimate->source = strdup (fac_estimate_source_name (source));
        plan->estimates [plan->n_estimates++] = estimate;
    }
    if (unknown)
        s_warn (plan, "%zu unknown contract id%s: %s%s", unknown, unknown == 1 ? "" : "s",
                unknown_list, unknown > 5 ? ", ..." : "");

    bool parallel = limits->parallel && known >= limits->batch_threshold;
    size_t slots = parallel ? limits->workers : 1;
    if (max_parallel && max_parallel < slots)
        slots = max_parallel;
    plan->strategy = strdup (parallel ? "parallel_batch" : "inline");
    plan->parallelism = (uint32_t) slots;

    qsort (items, known, sizeof (s_item_t), s_longest_first);
    size_t batch_size = limits->batch_size ? limits->batch_size : 1;
    size_t batches = (known + batch_size - 1) / batch_size;
    plan->batches = (Farfan__PlannedBatch **) calloc (batches ? batches : 1,
                                                      sizeof (Farfan__PlannedBatch *));
    for (size_t b = 0; plan->batches && b < batches; b++) {
        size_t first = b * batch_size;
        size_t size = known - first < batch_size ? known - first : batch_size;
        Farfan__PlannedBatch *batch = (Farfan__PlannedBatch *) zmalloc (sizeof (Farfan__PlannedBatch));
        farfan__planned_batch__init (batch);
        batch->contract_ids = limits->estimates_only ? NULL
                            : (char **) calloc (size, sizeof (char *));
        for (size_t i = 0; batch->contract_ids && i < size; i++)
            batch->contract_ids [batch->n_contract_ids++] = strdup (items [first + i].id);
        batch->estimated_s = s_makespan (items + first, size, slots);
        plan->batches [plan->n_batches++] = batch;
    }
    plan->estimated_duration_s = s_makespan (items, known, slots);
    plan->confidence = known ? (double) measured / (double) known : 0;
    if (time_budget_s > 0 && plan->estimated_duration_s > time_budget_s)
        s_warn (plan, "estimated %.3f s exceeds the time budget of %.3f s",
                plan->estimated_duration_s, time_budget_s);
    if (known && plan->confidence < S_LOW_CONFIDENCE)
        s_warn (plan, "low-confidence estimate: %zu of %zu contracts measured, the rest by "
                "type or default", measured, known);
    free (items);
}

void
fac_plan_free (Farfan__ExecutionPlan *plan)
{
    for (size_t b = 0; b < plan->n_batches; b++) {
        for (size_t i = 0; i < plan->batches [b]->n_contract_ids; i++)
            free (plan->batches [b]->contract_ids [i]);
        free (plan->batches [b]->contract_ids);
        free (plan->batches [b]);
    }
    free (plan->batches);
    for (size_t i = 0; i < plan->n_estimates; i++) {
        free (plan->estimates [i]->contract_id);
        free (plan->estimates [i]->source);
        free (plan->estimates [i]);
    }
    free (plan->estimates);
    for (size_t i = 0; i < plan->n_warnings; i++)
        free (plan->warnings [i]);
    free (plan->warnings);
    free (plan->strategy);
    plan->batches = NULL;
    plan->estimates = NULL;
    plan->warnings = NULL;
    plan->strategy = NULL;
}
