/*  fac_engine — executes contracts: documents, caches, the worker pool,
    waiting methods, timeouts, and the stream of results (DESIGN.md §3
    "Execution").

    A batch (one EXECUTE) becomes one task per contract. Each task runs its
    contract's method pipeline over a fac_context_t: consecutive CPU steps
    run inline on the actor thread (small batches) or on the pool (batches
    of at least batch_threshold contracts, when parallel execution is on);
    a waiting step (io.wait: a timer; exec: an external program) is driven
    by the actor's zloop without holding a thread, then the pipeline goes
    on. Every task ends in exactly one result — ok, failed (with the
    reason), timeout or skipped — handed to the batch's sink as soon as it
    is known, and the batch ends with one BatchDone.

    Results are cached, keyed by contract digest + document digest +
    canonical params + the inputs of aggregations: a repeated contract on
    the same input is answered from the cache without running. Compiled
    contracts are cached too (and prefetched from the cache's successor
    model while workers are idle); documents live in a byte-bounded LRU.

    Everything runs on the actor thread except the CPU steps themselves.
*/
#ifndef FAC_ENGINE_H_INCLUDED
#define FAC_ENGINE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "factory.pb-c.h"
#include "fac_contract.h"
#include "fac_durations.h"
#include "ff_cache.h"
#include "ff_metrics.h"

typedef struct fac_engine fac_engine_t;

typedef struct {
    size_t max_workers;             // pool threads (≥ 1)
    bool parallel;                  // false: every batch runs inline
    size_t batch_threshold;         // batches of at least this many contracts use the pool
    uint32_t inline_below_us;       // in such a batch, a contract reading no document whose
                                    // measured CPU time is below this runs inline (0 = never)
    size_t max_pending;             // tasks accepted and unfinished, all batches (OVERLOADED beyond)
    size_t compiled_cache_size;     // compiled contracts kept
    uint64_t compiled_cache_ttl_ms; // 0 = none
    size_t result_cache_size;       // results kept
    size_t result_cache_bytes;      // bytes of results kept
    uint64_t result_cache_ttl_ms;   // 0 = none
    size_t document_cache_count;    // documents kept
    size_t document_cache_bytes;    // bytes of documents kept
    size_t document_max_bytes;      // largest document accepted
    uint32_t evidence_matches;      // matches quoted per element type
    double default_estimate_ms;     // duration estimate with nothing measured
    const fac_method_env_t *env;    // exec allow-list, borrowed
} fac_engine_options_t;

//  Where a batch's output goes. result() gets each ContractResult packed
//  (protobuf bytes, borrowed for the call) as soon as it is known; done()
//  comes once, last, and is where the sink may free itself.
typedef struct fac_sink fac_sink_t;
struct fac_sink {
    void (*result) (fac_sink_t *sink, const uint8_t *data, size_t size);
    void (*done) (fac_sink_t *sink, const Farfan__BatchDone *done);
    //  Called instead of done() when the engine is destroyed with the batch
    //  unfinished: free the sink, send nothing.
    void (*abandon) (fac_sink_t *sink);
};

//  What to execute (borrowed for the call).
typedef struct {
    const char *const *contract_ids;    // in order; results carry their index here
    size_t contract_count;
    const char *input_digest;           // "" or NULL when no document
    Farfan__InputResult *const *inputs; // for aggregation contracts
    size_t input_count;
    const char *params_json;            // "" or NULL = {}
    bool no_cache;
    uint32_t max_parallel;              // 0 = max_workers
    const char *plan_id;                // "" or NULL = none
} fac_batch_request_t;

//  NULL with the reason in err. loop and metrics are borrowed.
fac_engine_t *
    fac_engine_new (const fac_engine_options_t *options, zloop_t *loop,
                    ff_metrics_t *metrics, char *err, size_t err_size);

//  Cancels waiting work (kills exec'd programs), stops the pool, abandons
//  unfinished batches (sink->abandon). Nulls *self_p.
void
    fac_engine_destroy (fac_engine_t **self_p);

//  The contract set batches run against (borrowed; the engine takes
//  references on the contracts it runs, so the set may change any time).
void
    fac_engine_set_contracts (fac_engine_t *self, fac_contract_set_t *contracts);

//  Stores a document (UTF-8 text). Returns 0 with its digest
//  ("sha256:<hex>") in digest and whether it was there already, or -1 with
//  the reason in err (too large, not UTF-8).
int
    fac_engine_put_document (fac_engine_t *self, const void *data, size_t size,
                             char *digest, size_t digest_size, bool *already_present,
                             char *err, size_t err_size);

bool
    fac_engine_has_document (fac_engine_t *self, const char *digest);

//  Starts a batch. Returns 0 (the sink will get every result, then done),
//  -1 when refused (err: params not a JSON object, too many pending
//  tasks...; *code set to a Farfan__ErrorCode), or -2 when the document is
//  unknown (nothing started: answer NEED_DOCUMENT).
int
    fac_engine_execute (fac_engine_t *self, const fac_batch_request_t *request,
                        fac_sink_t *sink, uint32_t *code, char *err, size_t err_size);

//  Compiles these contracts ahead of use (on the pool while it has room,
//  else inline): the first of them the compiled cache can hold (its
//  max_size), in the order given. Returns how many were started (already
//  compiled or unknown ids are skipped).
size_t
    fac_engine_prewarm (fac_engine_t *self, const char *const *contract_ids, size_t count);

fac_durations_t *
    fac_engine_durations (fac_engine_t *self);

//  Duration a planned batch was estimated to take, for plan accuracy:
//  remembered by plan id until a batch names it.
void
    fac_engine_remember_plan (fac_engine_t *self, const char *plan_id, double estimated_s);

//  Fills the metrics message (caches included). Strings and arrays it
//  allocates are freed by fac_engine_metrics_free.
void
    fac_engine_metrics (fac_engine_t *self, Farfan__FactoryMetrics *metrics);
void
    fac_engine_metrics_free (Farfan__FactoryMetrics *metrics);

//  Recommendations for every cache, applied when apply is true (preload
//  compiles the hot contracts). Free with
//  fac_engine_optimization_free.
void
    fac_engine_optimize_caches (fac_engine_t *self, bool apply, Farfan__CacheOptimization *reply);
void
    fac_engine_optimization_free (Farfan__CacheOptimization *reply);

//  Up to n contract ids that are hot in the compiled cache (borrowed until
//  the next engine call).
size_t
    fac_engine_hot_contracts (fac_engine_t *self, const char **ids, size_t n);

//  Now: workers, busy, queued on the pool, tasks in io.wait/exec, tasks
//  accepted and unfinished.
size_t
    fac_engine_workers (fac_engine_t *self);
size_t
    fac_engine_busy (fac_engine_t *self);
size_t
    fac_engine_queued (fac_engine_t *self);
size_t
    fac_engine_waiting (fac_engine_t *self);
size_t
    fac_engine_pending (fac_engine_t *self);

#endif
