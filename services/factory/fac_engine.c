/*  fac_engine — see fac_engine.h.

    Task life: READY -> (QUEUED -> RUNNING on a worker | inline) -> [WAITING
    in the loop -> ...] -> DONE. Only the actor thread changes a task's
    state; a worker touches the task's context and step position while the
    task is RUNNING and nothing else, and hands it back through the pool's
    done socket. A task that times out on a worker is reported at once and
    freed when the worker hands it back (`abandoned`).
*/
#include "fac_engine.h"
#include "envelope.pb-c.h"
#include "fac_exec.h"
#include "fac_method.h"
#include "fac_pool.h"
#include "ff_clock.h"
#include "ff_log.h"
#include "ff_pbwire.h"
#include "ff_utf8.h"

#include <math.h>
#include <sodium.h>
#include <stdatomic.h>

//  Hot contracts listed, keys predicted per request, and how many
//  remembered plans wait for their batch.
#define S_HOT_MAX           32
#define S_PREDICT_MAX       2
#define S_PLANS_MAX         256
//  exec: most bytes read from a program when its params name no cap.
#define S_EXEC_OUTPUT_CAP   (1024 * 1024)

typedef enum { S_ITEM_TASK, S_ITEM_COMPILE } s_item_kind_t;

typedef enum {
    S_TASK_READY,               // created, nothing run yet
    S_TASK_BACKLOG,             // waiting for a pool slot of its batch
    S_TASK_QUEUED,              // on the pool (queued or running)
    S_TASK_WAITING,             // io.wait timer or exec in the loop
    S_TASK_DONE,                // result reported
} s_task_state_t;

typedef struct {
    atomic_int refs;
    size_t size;
    char digest [72];
    char text [];               // size bytes + NUL
} s_document_t;

typedef struct {
    size_t size;
    uint8_t data [];
} s_blob_t;

typedef struct s_batch s_batch_t;

typedef struct {
    s_item_kind_t kind;         // S_ITEM_TASK (first: the pool's items share it)
    s_batch_t *batch;
    uint32_t index;             // position in the request
    char *contract_id;          // as requested
    fac_contract_t *contract;   // reference; NULL when unknown
    fac_compiled_t *compiled;   // reference; NULL until compiled
    bool compiled_here;         // compiled by this task: give it to the cache
    fac_input_t *inputs;        // aggregation inputs in the contract's order (owned array)
    fac_context_t ctx;
    size_t step;                // next pipeline step
    int failed;                 // a CPU step failed (ctx.error says why)
    atomic_bool cancelled;      // timed out: a worker must not start more steps
    s_task_state_t state;
    bool abandoned;             // reported while on a worker: free when it returns
    bool on_pool;               // ran (a segment) on the pool
    bool ran_cpu;               // ran a CPU segment inline
    bool waited;                // ran a waiting step in the loop
    uint64_t started_us;        // first step began
    uint64_t cpu_us;            // time spent running CPU segments (worker or inline)
    int64_t timeout_timer;      // zloop timer id, -1 = none
    int64_t wait_timer;         // io.wait timer id, -1 = none
    fac_exec_t *exec;           // running program, NULL = none
    char cache_key [65];        // "" = not cacheable
} s_task_t;

typedef struct {
    s_item_kind_t kind;         // S_ITEM_COMPILE
    fac_contract_t *contract;   // reference
    fac_compiled_t *compiled;   // result, NULL on failure
    char error [256];
} s_compile_t;

struct s_batch {
    fac_engine_t *engine;
    fac_sink_t *sink;
    s_document_t *document;     // reference or NULL
    json_t *params;             // owned object
    char *params_canonical;     // owned, for cache keys
    fac_input_t *inputs;        // the request's inputs (owned array; strings borrowed from input_messages)
    Farfan__InputResult **input_messages;   // private copies of the request's inputs (owned)
    fac_input_evidence_t **input_evidence;  // per input: its evidence array (owned)
    fac_input_match_t **input_matches;      // per input: every quoted match (owned)
    char (*input_digests) [65]; // per input: BLAKE2b of its packed form, for cache keys
    size_t input_count;
    s_task_t **tasks;           // every task (owned until reported and returned)
    size_t total;
    size_t finished;            // results reported
    size_t live;                // tasks not yet freed
    Farfan__BatchDone counts;   // ok, failed... filled as results go out
    bool parallel;              // CPU segments on the pool
    uint32_t max_parallel;      // pool slots this batch may hold
    uint32_t on_pool;           // slots held now
    zlistx_t *backlog;          // s_task_t * waiting for a slot
    uint64_t started_us;
    char *plan_id;              // NULL = none
    bool done_sent;
};

typedef struct {
    char *plan_id;
    double estimated_s;
} s_plan_t;

struct fac_engine {
    fac_engine_options_t options;
    zloop_t *loop;                      // borrowed
    ff_metrics_t *metrics;              // borrowed
    fac_contract_set_t *contracts;      // borrowed
    fac_pool_t *pool;
    ff_cache_t *compiled;               // contract id -> fac_compiled_t
    ff_cache_t *results;                // cache key -> s_blob_t
    ff_cache_t *documents;              // digest -> s_document_t
    fac_durations_t *durations;
    zlistx_t *batches;                  // s_batch_t * unfinished
    zhashx_t *timers;                   // live timer id -> s_task_t * (see s_timer_add)
    s_task_t **to_submit;               // tasks for the pool, queued at the end of the turn
    size_t to_submit_count;
    size_t to_submit_capacity;
    atomic_size_t pending;              // tasks not yet reported, all batches
    atomic_size_t waiting;              // tasks in io.wait / exec (atomic: /metrics reads them)
    zlistx_t *plans;                    // s_plan_t *, most recent last
    double plan_error_sum;              // Σ |actual - estimate| / actual
    uint64_t plans_checked;
    uint64_t started_us;
    //  metrics
    ff_counter_t *by_status [5];        // indexed by Farfan__ResultStatus
    ff_counter_t *from_cache;
    ff_counter_t *inline_runs;
    ff_counter_t *pool_runs;
    ff_histogram_t *duration;
};

//  ---------------------------------------------------------------------
//  Documents and blobs

static s_document_t *
s_document_ref (s_document_t *self)
{
    atomic_fetch_add (&self->refs, 1);
    return self;
}

static void
s_document_unref (s_document_t **self_p)
{
    if (*self_p && atomic_fetch_sub (&(*self_p)->refs, 1) == 1)
        free (*self_p);
    *self_p = NULL;
}

static void
s_document_free (void *value)
{
    s_document_t *document = (s_document_t *) value;
    s_document_unref (&document);
}

static void
s_compiled_free (void *value)
{
    fac_compiled_t *compiled = (fac_compiled_t *) value;
    fac_compiled_unref (&compiled);
}

static void
s_digest_hex (const uint8_t *hash, size_t size, char *out)
{
    static const char hex [] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out [2 * i] = hex [hash [i] >> 4];
        out [2 * i + 1] = hex [hash [i] & 15];
    }
    out [2 * size] = '\0';
}

//  ---------------------------------------------------------------------
//  Results

static void s_batch_task_reported (s_batch_t *batch, s_task_t *task);
static void s_batch_release (s_batch_t *batch);
static void s_task_free (s_task_t *task);
static void s_task_run (s_task_t *task);
static void s_timer_end (fac_engine_t *engine, int64_t *timer_id);
static void s_submit_flush (fac_engine_t *self);

static void
s_count_result (s_batch_t *batch, int status, bool from_cache)
{
    fac_engine_t *engine = batch->engine;
    switch (status) {
        case FARFAN__RESULT_STATUS__RESULT_OK:      batch->counts.ok++; break;
        case FARFAN__RESULT_STATUS__RESULT_FAILED:  batch->counts.failed++; break;
        case FARFAN__RESULT_STATUS__RESULT_TIMEOUT: batch->counts.timed_out++; break;
        case FARFAN__RESULT_STATUS__RESULT_SKIPPED: batch->counts.skipped++; break;
        default: break;
    }
    if (status >= 0 && status < 5)
        ff_counter_inc (engine->by_status [status]);
    if (from_cache) {
        batch->counts.from_cache++;
        ff_counter_inc (engine->from_cache);
    }
}

//  Builds and sends the result of a task; stores OK results in the cache.
//  A task still on a worker (timed out) is reported without touching its
//  context, which the worker may be writing.
static void
s_task_report (s_task_t *task, int status, const char *error, bool on_worker)
{
    s_batch_t *batch = task->batch;
    fac_engine_t *engine = batch->engine;
    fac_context_t empty;
    memset (&empty, 0, sizeof empty);
    empty.score = empty.ratio = empty.confidence = NAN;
    fac_context_t *ctx = on_worker ? &empty : &task->ctx;
    const fac_contract_t *contract = task->contract;
    uint64_t duration_us = task->started_us ? ff_clock_mono_us () - task->started_us : 0;

    Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
    result.contract_id = task->contract_id;
    result.status = (Farfan__ResultStatus) status;
    result.duration_us = duration_us;
    result.contract_digest = contract ? (char *) contract->digest : "";
    result.executed_by = task->on_pool ? "pool" : task->ran_cpu ? "inline" : task->waited ? "loop" : "";
    result.error = (char *) (error ? error : "");
    bool ok = status == FARFAN__RESULT_STATUS__RESULT_OK;
    result.score = ok && isfinite (ctx->score) ? ctx->score : 0;
    result.ratio = ok && isfinite (ctx->ratio) ? ctx->ratio : 0;
    result.confidence = ok && isfinite (ctx->confidence) ? ctx->confidence : 0;
    result.quality = (char *) (ok && ctx->quality ? ctx->quality : "");

    //  Evidence: every element with its first matches, quoted from the text.
    Farfan__Evidence *evidence = NULL;
    Farfan__Evidence **evidence_list = NULL;
    Farfan__Match *matches = NULL;
    Farfan__Match **match_list = NULL;
    char *snippets = NULL;
    char *output = NULL;
    size_t match_total = 0;
    for (size_t i = 0; i < ctx->evidence_count; i++)
        match_total += ctx->evidence [i].match_count;
    if (ctx->evidence_count) {
        evidence = (Farfan__Evidence *) calloc (ctx->evidence_count, sizeof (Farfan__Evidence));
        evidence_list = (Farfan__Evidence **) calloc (ctx->evidence_count, sizeof (Farfan__Evidence *));
    }
    if (match_total) {
        matches = (Farfan__Match *) calloc (match_total, sizeof (Farfan__Match));
        match_list = (Farfan__Match **) calloc (match_total, sizeof (Farfan__Match *));
        snippets = (char *) malloc (match_total * (FAC_EVIDENCE_SNIPPET_MAX + 1));
    }
    size_t next_match = 0;
    if ((ctx->evidence_count && (!evidence || !evidence_list))
    ||  (match_total && (!matches || !match_list || !snippets)))
        goto cleanup;
    for (size_t i = 0; i < ctx->evidence_count; i++) {
        const fac_evidence_t *source = &ctx->evidence [i];
        Farfan__Evidence *item = &evidence [i];
        farfan__evidence__init (item);
        item->element_type = (char *) source->element_type;
        item->count = source->count;
        item->minimum = source->minimum;
        item->required = source->required;
        uint32_t needed = source->minimum > (source->required ? 1u : 0u)
                        ? source->minimum : (source->required ? 1u : 0u);
        item->satisfied = source->expected ? source->count >= needed : source->count > 0;
        item->matches = match_list + next_match;
        for (uint32_t m = 0; m < source->match_count; m++) {
            const fac_match_t *match = &source->matches [m];
            Farfan__Match *out = &matches [next_match];
            farfan__match__init (out);
            out->offset = match->offset;
            out->length = match->length;
            if (contract && match->pattern < contract->pattern_count)
                out->pattern_id = contract->patterns [match->pattern].id;
            else
            if (match->pattern == FAC_MATCH_COPIED && match->copied_pattern_id)
                out->pattern_id = (char *) match->copied_pattern_id;
            char *snippet = snippets + next_match * (FAC_EVIDENCE_SNIPPET_MAX + 1);
            size_t length = 0;
            if (ctx->text && match->offset + match->length <= ctx->text_size) {
                length = ff_utf8_prefix (ctx->text + match->offset, match->length,
                                         FAC_EVIDENCE_SNIPPET_MAX);
                memcpy (snippet, ctx->text + match->offset, length);
            }
            else
            if (match->pattern == FAC_MATCH_COPIED && match->copied_text) {
                size_t copied = strlen (match->copied_text);
                length = ff_utf8_prefix (match->copied_text, copied, FAC_EVIDENCE_SNIPPET_MAX);
                memcpy (snippet, match->copied_text, length);
            }
            snippet [length] = '\0';
            out->text = snippet;
            match_list [next_match++] = out;
            item->n_matches++;
        }
        evidence_list [i] = item;
    }
    result.evidence = evidence_list;
    result.n_evidence = ctx->evidence_count;
    if (ctx->output && json_object_size (ctx->output) > 0) {
        output = json_dumps (ctx->output, JSON_COMPACT | JSON_SORT_KEYS);
        result.output_json = output ? output : "";
    }

    //  Packed once, without index: that is what the cache keeps. What is
    //  sent has this request's index appended (protobuf: the last value of
    //  a field wins), as a cache hit has index and from_cache appended.
    result.index = 0;
    size_t size = farfan__contract_result__get_packed_size (&result);
    s_blob_t *blob = (s_blob_t *) malloc (sizeof (s_blob_t) + size + 16);
    if (blob) {
        blob->size = farfan__contract_result__pack (&result, blob->data);
        size_t sent = blob->size;
        ff_pbwire_put_varint (blob->data, &sent, 12, task->index);
        batch->sink->result (batch->sink, blob->data, sent);
        if (ok && *task->cache_key) {
            ff_cache_put (engine->results, task->cache_key, blob, sizeof (s_blob_t) + blob->size,
                          ff_clock_mono_us () / 1000);
        }
        else
            free (blob);
    }
    else
        ff_log_error ("out of memory packing the result of %s", task->contract_id);

cleanup:
    free (output);
    free (snippets);
    free (match_list);
    free (matches);
    free (evidence_list);
    free (evidence);
    if (task->started_us) {
        if (ok) {
            fac_durations_record (engine->durations, task->contract_id,
                                  contract ? contract->type : "", duration_us,
                                  task->on_pool || task->ran_cpu ? (int64_t) task->cpu_us : -1);
            ff_histogram_observe (engine->duration, (double) duration_us / 1e6);
        }
        ff_counter_inc (task->on_pool ? engine->pool_runs : engine->inline_runs);
    }
    s_count_result (batch, status, false);
}

//  Ends a task that has not been reported: stops its timers and program,
//  reports, and frees it unless a worker still holds it.
static void
s_task_finish (s_task_t *task, int status, const char *error)
{
    fac_engine_t *engine = task->batch->engine;
    if (task->state == S_TASK_DONE)
        return;
    s_timer_end (engine, &task->timeout_timer);
    s_timer_end (engine, &task->wait_timer);
    if (task->state == S_TASK_WAITING)
        engine->waiting--;
    if (task->exec)
        fac_exec_cancel (&task->exec);
    bool on_worker = task->state == S_TASK_QUEUED;
    if (task->state == S_TASK_BACKLOG) {
        void *handle = zlistx_find (task->batch->backlog, task);
        if (handle)
            zlistx_delete (task->batch->backlog, handle);
    }
    s_task_report (task, status, error, on_worker);
    task->state = S_TASK_DONE;
    s_batch_t *batch = task->batch;
    if (on_worker) {
        atomic_store (&task->cancelled, true);
        task->abandoned = true;
        s_batch_task_reported (batch, task);
    }
    else {
        s_batch_task_reported (batch, task);
        s_task_free (task);
    }
}

//  ---------------------------------------------------------------------
//  Running steps

//  Runs CPU steps from task->step until the end, a WAIT step or a
//  failure, compiling the contract first when needed; adds the time the
//  steps took (not the compilation: that happens once) to task->cpu_us.
//  Thread-safe: touches only the task's context, step and times.
static void
s_task_run_cpu (s_task_t *task)
{
    const fac_contract_t *contract = task->contract;
    if (!task->compiled) {
        char err [256];
        task->compiled = fac_compiled_new (task->contract, err, sizeof err);
        if (!task->compiled) {
            snprintf (task->ctx.error, sizeof task->ctx.error, "%s", err);
            task->failed = -1;
            return;
        }
        task->compiled_here = true;
        task->ctx.compiled = task->compiled;
    }
    uint64_t began_us = ff_clock_mono_us ();
    while (task->step < contract->step_count && !atomic_load (&task->cancelled)) {
        const fac_step_t *step = &contract->steps [task->step];
        const fac_method_t *method = fac_method_lookup (step->method);
        if (!method) {
            snprintf (task->ctx.error, sizeof task->ctx.error, "method %s is not available",
                      step->method);
            task->failed = -1;
            break;
        }
        if (method->kind != FAC_METHOD_CPU)
            break;
        if (method->run (&task->ctx, step->params) != 0) {
            if (!task->ctx.error [0])
                snprintf (task->ctx.error, sizeof task->ctx.error, "%s failed", step->method);
            task->failed = -1;
            break;
        }
        task->step++;
    }
    task->cpu_us += ff_clock_mono_us () - began_us;
}

static void
s_pool_work (void *item)
{
    s_item_kind_t kind = *(s_item_kind_t *) item;
    if (kind == S_ITEM_TASK) {
        s_task_t *task = (s_task_t *) item;
        if (!atomic_load (&task->cancelled))
            s_task_run_cpu (task);
    }
    else {
        s_compile_t *job = (s_compile_t *) item;
        job->compiled = fac_compiled_new (job->contract, job->error, sizeof job->error);
    }
}

//  Task timers go through a registry of live timer ids: CZMQ 4.2's zloop
//  still fires, in the same loop pass, a timer that an earlier handler
//  cancelled, with its original argument. A handler therefore looks its
//  task up by timer id and ignores ids no longer registered.
static size_t
s_timer_hash (const void *key)
{
    return (size_t) (uintptr_t) key;
}

static int
s_timer_compare (const void *a, const void *b)
{
    return (uintptr_t) a < (uintptr_t) b ? -1 : (uintptr_t) a > (uintptr_t) b;
}

static int64_t
s_timer_add (fac_engine_t *engine, size_t delay_ms, zloop_timer_fn *handler, s_task_t *task)
{
    int id = zloop_timer (engine->loop, delay_ms, 1, handler, engine);
    if (id >= 0)
        zhashx_insert (engine->timers, (void *) (uintptr_t) (unsigned) id, task);
    return id;
}

static void
s_timer_end (fac_engine_t *engine, int64_t *timer_id)
{
    if (*timer_id < 0)
        return;
    zloop_timer_end (engine->loop, (int) *timer_id);
    zhashx_delete (engine->timers, (void *) (uintptr_t) (unsigned) *timer_id);
    *timer_id = -1;
}

//  The task a firing timer belongs to (its registration removed: timers
//  are one-shot), or NULL for a cancelled timer.
static s_task_t *
s_timer_fired (fac_engine_t *engine, int timer_id)
{
    void *key = (void *) (uintptr_t) (unsigned) timer_id;
    s_task_t *task = (s_task_t *) zhashx_lookup (engine->timers, key);
    if (task)
        zhashx_delete (engine->timers, key);
    return task;
}

static int
s_timeout_fired (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    s_task_t *task = s_timer_fired ((fac_engine_t *) arg, timer_id);
    if (!task)
        return 0;
    task->timeout_timer = -1;           //  a one-shot timer ends itself
    char reason [96];
    snprintf (reason, sizeof reason, "timed out after %u ms", task->contract->timeout_ms);
    s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_TIMEOUT, reason);
    return 0;
}

static void
s_task_start_clock (s_task_t *task)
{
    if (task->started_us)
        return;
    fac_engine_t *engine = task->batch->engine;
    task->started_us = ff_clock_mono_us ();
    task->timeout_timer = s_timer_add (engine, task->contract->timeout_ms, s_timeout_fired, task);
}

static int
s_wait_fired (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    s_task_t *task = s_timer_fired ((fac_engine_t *) arg, timer_id);
    if (!task)
        return 0;
    task->wait_timer = -1;
    fac_engine_t *engine = task->batch->engine;
    engine->waiting--;
    task->state = S_TASK_READY;
    task->step++;
    s_task_run (task);
    s_submit_flush (engine);
    return 0;
}

static void
s_exec_done (void *arg, fac_exec_status_t status, json_t *output, const char *reason,
             uint64_t duration_us)
{
    (void) duration_us;
    s_task_t *task = (s_task_t *) arg;
    fac_engine_t *engine = task->batch->engine;
    task->exec = NULL;                  //  freed by fac_exec after this call
    engine->waiting--;
    task->state = S_TASK_READY;
    if (status != FAC_EXEC_OK) {
        json_decref (output);
        s_task_finish (task, status == FAC_EXEC_TIMEOUT ? FARFAN__RESULT_STATUS__RESULT_TIMEOUT
                                                        : FARFAN__RESULT_STATUS__RESULT_FAILED,
                       reason);
        return;
    }
    //  The program may set the result's figures; anything else is output.
    json_t *score = json_object_get (output, "score");
    if (json_is_number (score)) {
        task->ctx.score = json_number_value (score);
        task->ctx.quality = fac_quality_level (task->ctx.score);
    }
    json_t *confidence = json_object_get (output, "confidence");
    if (json_is_number (confidence))
        task->ctx.confidence = json_number_value (confidence);
    json_t *ratio = json_object_get (output, "ratio");
    if (json_is_number (ratio))
        task->ctx.ratio = json_number_value (ratio);
    json_t *extra = json_object_get (output, "output");
    json_object_set (task->ctx.output, "exec", extra ? extra : output);
    json_decref (output);
    task->step++;
    s_task_run (task);
    s_submit_flush (engine);
}

//  Starts the WAIT step at task->step.
static void
s_task_wait (s_task_t *task)
{
    fac_engine_t *engine = task->batch->engine;
    const fac_step_t *step = &task->contract->steps [task->step];
    task->state = S_TASK_WAITING;
    task->waited = true;
    engine->waiting++;
    if (streq (step->method, "io.wait")) {
        json_int_t ms = json_integer_value (json_object_get (step->params, "ms"));
        task->wait_timer = s_timer_add (engine, ms > 0 ? (size_t) ms : 0, s_wait_fired, task);
        if (task->wait_timer < 0)
            s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_FAILED, "cannot start a timer");
        return;
    }
    //  exec
    json_t *argv_json = json_object_get (step->params, "argv");
    size_t argc = json_array_size (argv_json);
    const char **argv = (const char **) calloc (argc + 1, sizeof (char *));
    for (size_t i = 0; argv && i < argc; i++)
        argv [i] = json_string_value (json_array_get (argv_json, i));
    size_t input_size = 0;
    char err [256] = "";
    char *input = fac_exec_input_new (&task->ctx, step->params, &input_size, err, sizeof err);
    json_int_t timeout = json_integer_value (json_object_get (step->params, "timeout_ms"));
    json_int_t cap = json_integer_value (json_object_get (step->params, "output_cap"));
    fac_exec_options_t options = {
        .argv = argv,
        .input = input,
        .input_size = input_size,
        .timeout_ms = timeout > 0 ? (uint32_t) timeout : task->contract->timeout_ms,
        .output_cap = cap > 0 ? (size_t) cap : S_EXEC_OUTPUT_CAP,
    };
    if (argv && input)
        task->exec = fac_exec_start (engine->loop, &options, s_exec_done, task, err, sizeof err);
    else
    if (!*err)
        snprintf (err, sizeof err, "out of memory");
    free (input);
    free (argv);
    if (!task->exec)
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_FAILED, err);
}

//  Puts the task on the pool if its batch has a slot, else on the backlog.
static void
s_task_enqueue (s_task_t *task)
{
    s_batch_t *batch = task->batch;
    if (batch->on_pool >= batch->max_parallel) {
        task->state = S_TASK_BACKLOG;
        zlistx_add_end (batch->backlog, task);
        return;
    }
    s_task_start_clock (task);
    task->state = S_TASK_QUEUED;
    task->on_pool = true;
    batch->on_pool++;
    //  Handed to the pool together with the others of this turn
    //  (s_submit_flush): one lock and one wake-up for a whole batch.
    fac_engine_t *engine = batch->engine;
    if (engine->to_submit_count == engine->to_submit_capacity) {
        size_t capacity = engine->to_submit_capacity ? 2 * engine->to_submit_capacity : 256;
        s_task_t **grown = (s_task_t **) realloc (engine->to_submit, capacity * sizeof (s_task_t *));
        if (!grown) {
            batch->on_pool--;
            task->state = S_TASK_READY;
            s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_FAILED, "out of memory queueing");
            return;
        }
        engine->to_submit = grown;
        engine->to_submit_capacity = capacity;
    }
    engine->to_submit [engine->to_submit_count++] = task;
}

//  Hands the tasks queued this turn to the pool. Every entry point into the
//  engine calls it before returning to the loop.
static void
s_submit_flush (fac_engine_t *self)
{
    size_t count = self->to_submit_count;
    self->to_submit_count = 0;
    size_t queued = fac_pool_submit_many (self->pool, (void *const *) self->to_submit, count);
    //  The pool's queue holds max_pending items: only a bug gets here.
    for (size_t i = queued; i < count; i++) {
        s_task_t *task = self->to_submit [i];
        task->batch->on_pool--;
        task->state = S_TASK_READY;
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_FAILED, "worker queue full");
    }
}

//  After a CPU segment (inline or back from the pool): done, failed, or on
//  to the next waiting step.
static void
s_task_continue (s_task_t *task)
{
    fac_engine_t *engine = task->batch->engine;
    if (task->compiled_here) {
        task->compiled_here = false;
        ff_cache_put (engine->compiled, task->contract->id, fac_compiled_ref (task->compiled),
                      1, ff_clock_mono_us () / 1000);
    }
    if (task->failed)
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_FAILED, task->ctx.error);
    else
    if (task->step >= task->contract->step_count)
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_OK, NULL);
    else
        s_task_wait (task);
}

//  True when handing the task to a worker would cost more than running it
//  here: its contract reads no document (so its cost does not grow with
//  one) and its measured CPU time is below inline_below_us.
static bool
s_task_runs_instantly (s_task_t *task)
{
    fac_engine_t *engine = task->batch->engine;
    if (engine->options.inline_below_us == 0 || task->contract->uses_document)
        return false;
    double cpu_us;
    return fac_durations_cpu (engine->durations, task->contract_id, &cpu_us)
        && cpu_us < (double) engine->options.inline_below_us;
}

//  Runs the task from its current step: a CPU segment inline or on the
//  pool, or a waiting step.
static void
s_task_run (s_task_t *task)
{
    if (task->step >= task->contract->step_count) {
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_OK, NULL);
        return;
    }
    const fac_step_t *step = &task->contract->steps [task->step];
    const fac_method_t *method = fac_method_lookup (step->method);
    if (method && method->kind == FAC_METHOD_WAIT) {
        s_task_start_clock (task);
        s_task_wait (task);
        return;
    }
    if (task->batch->parallel && !s_task_runs_instantly (task)) {
        s_task_enqueue (task);
        return;
    }
    s_task_start_clock (task);
    task->ran_cpu = true;
    s_task_run_cpu (task);
    s_task_continue (task);
}

//  A task is back from a worker.
static void
s_task_returned (s_task_t *task)
{
    s_batch_t *batch = task->batch;
    batch->on_pool--;
    //  A slot opened: the next backlogged task of this batch takes it. First,
    //  while this task keeps the batch alive.
    void *next = batch->on_pool < batch->max_parallel ? zlistx_first (batch->backlog) : NULL;
    if (next) {
        zlistx_delete (batch->backlog, zlistx_cursor (batch->backlog));
        s_task_enqueue ((s_task_t *) next);
    }
    if (task->abandoned) {
        if (task->compiled_here) {
            task->compiled_here = false;
            ff_cache_put (batch->engine->compiled, task->contract->id,
                          fac_compiled_ref (task->compiled), 1, ff_clock_mono_us () / 1000);
        }
        s_task_free (task);
    }
    else {
        task->state = S_TASK_READY;
        s_task_continue (task);
    }
    //  The batch may have ended with this task (and been freed): nothing after.
}

static void
s_compile_returned (fac_engine_t *self, s_compile_t *job)
{
    if (job->compiled)
        ff_cache_put_prefetched (self->compiled, job->contract->id, job->compiled, 1,
                                 ff_clock_mono_us () / 1000);
    else
        ff_log_warn ("prefetch of %s failed: %s", job->contract->id, job->error);
    fac_contract_unref (&job->contract);
    free (job);
}

static int
s_pool_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    fac_engine_t *self = (fac_engine_t *) arg;
    void *item;
    while ((item = fac_pool_take_done (self->pool))) {
        if (*(s_item_kind_t *) item == S_ITEM_TASK)
            s_task_returned ((s_task_t *) item);
        else
            s_compile_returned (self, (s_compile_t *) item);
    }
    s_submit_flush (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Batches

static void
s_task_free (s_task_t *task)
{
    s_batch_t *batch = task->batch;
    fac_context_fini (&task->ctx);
    fac_compiled_unref (&task->compiled);
    fac_contract_unref (&task->contract);
    free (task->inputs);
    free (task->contract_id);
    if (task->index < batch->total && batch->tasks [task->index] == task)
        batch->tasks [task->index] = NULL;
    free (task);
    batch->live--;
    s_batch_release (batch);
}

//  Frees the batch once its BatchDone is out and no task is left.
static void
    s_batch_inputs_free (s_batch_t *batch);

static void
s_batch_release (s_batch_t *batch)
{
    if (batch->live == 0 && batch->done_sent) {
        s_document_unref (&batch->document);
        json_decref (batch->params);
        free (batch->params_canonical);
        s_batch_inputs_free (batch);
        free (batch->tasks);
        zlistx_destroy (&batch->backlog);
        free (batch->plan_id);
        free (batch);
    }
}

static void
s_plan_check (fac_engine_t *self, s_batch_t *batch, uint64_t wall_us)
{
    if (!batch->plan_id)
        return;
    for (s_plan_t *plan = (s_plan_t *) zlistx_first (self->plans); plan;
         plan = (s_plan_t *) zlistx_next (self->plans)) {
        if (!streq (plan->plan_id, batch->plan_id))
            continue;
        double actual_s = (double) wall_us / 1e6;
        if (actual_s > 0) {
            self->plan_error_sum += fabs (actual_s - plan->estimated_s) / actual_s;
            self->plans_checked++;
        }
        free (plan->plan_id);
        free (plan);
        zlistx_delete (self->plans, zlistx_cursor (self->plans));
        return;
    }
}

//  Sends BatchDone once every task is reported.
static void
s_batch_maybe_done (s_batch_t *batch)
{
    fac_engine_t *engine = batch->engine;
    if (batch->finished < batch->total || batch->done_sent)
        return;
    batch->counts.total = (uint32_t) batch->total;
    batch->counts.wall_us = ff_clock_mono_us () - batch->started_us;
    batch->counts.strategy = batch->parallel ? "parallel" : "inline";
    s_plan_check (engine, batch, batch->counts.wall_us);
    batch->done_sent = true;
    void *handle = zlistx_find (engine->batches, batch);
    if (handle)
        zlistx_delete (engine->batches, handle);
    batch->sink->done (batch->sink, &batch->counts);
    batch->sink = NULL;
}

//  Called once per reported task.
static void
s_batch_task_reported (s_batch_t *batch, s_task_t *task)
{
    (void) task;
    batch->finished++;
    batch->engine->pending--;
    s_batch_maybe_done (batch);
}

//  Canonical params: jansson with sorted keys (part of the cache key).
static int
s_batch_params (s_batch_t *batch, const char *params_json, char *err, size_t err_size)
{
    if (!params_json || !*params_json)
        batch->params = json_object ();
    else {
        json_error_t error;
        batch->params = json_loads (params_json, 0, &error);
        if (!batch->params || !json_is_object (batch->params)) {
            snprintf (err, err_size, "params_json is not a JSON object: %s",
                      batch->params ? "not an object" : error.text);
            return -1;
        }
    }
    batch->params_canonical = json_dumps (batch->params, JSON_COMPACT | JSON_SORT_KEYS);
    return batch->params_canonical ? 0 : -1;
}

//  Frees what s_batch_inputs made.
static void
s_batch_inputs_free (s_batch_t *batch)
{
    for (size_t i = 0; i < batch->input_count; i++) {
        if (batch->input_messages)
            farfan__input_result__free_unpacked (batch->input_messages [i], NULL);
        if (batch->input_evidence)
            free (batch->input_evidence [i]);
        if (batch->input_matches)
            free (batch->input_matches [i]);
    }
    free (batch->input_messages);
    free (batch->input_evidence);
    free (batch->input_matches);
    free (batch->input_digests);
    free (batch->inputs);
    batch->input_messages = NULL;
    batch->input_evidence = NULL;
    batch->input_matches = NULL;
    batch->input_digests = NULL;
    batch->inputs = NULL;
    batch->input_count = 0;
}

//  Copies one request input (borrowed for the call only) into slot i: a
//  private unpacked copy the fac_input_t points into, and the digest of
//  its packed form. Returns 0, or -1 when out of memory.
static int
s_batch_input (s_batch_t *batch, size_t i, const Farfan__InputResult *source)
{
    size_t size = farfan__input_result__get_packed_size (source);
    uint8_t *packed = (uint8_t *) malloc (size ? size : 1);
    if (!packed)
        return -1;
    farfan__input_result__pack (source, packed);
    uint8_t hash [32];
    crypto_generichash (hash, sizeof hash, packed, size, NULL, 0);
    s_digest_hex (hash, sizeof hash, batch->input_digests [i]);
    Farfan__InputResult *copy = farfan__input_result__unpack (NULL, size, packed);
    free (packed);
    if (!copy)
        return -1;
    batch->input_messages [i] = copy;
    size_t match_total = 0;
    for (size_t e = 0; e < copy->n_evidence; e++)
        match_total += copy->evidence [e]->n_matches;
    fac_input_evidence_t *evidence = (fac_input_evidence_t *)
        calloc (copy->n_evidence ? copy->n_evidence : 1, sizeof (fac_input_evidence_t));
    fac_input_match_t *matches = (fac_input_match_t *)
        calloc (match_total ? match_total : 1, sizeof (fac_input_match_t));
    batch->input_evidence [i] = evidence;
    batch->input_matches [i] = matches;
    if (!evidence || !matches)
        return -1;
    size_t used = 0;
    for (size_t e = 0; e < copy->n_evidence; e++) {
        const Farfan__Evidence *item = copy->evidence [e];
        evidence [e] = (fac_input_evidence_t) {
            .element_type = item->element_type, .count = item->count, .minimum = item->minimum,
            .required = item->required, .satisfied = item->satisfied,
            .matches = matches + used, .match_count = item->n_matches,
        };
        for (size_t m = 0; m < item->n_matches; m++)
            matches [used++] = (fac_input_match_t) {
                .offset = item->matches [m]->offset, .length = item->matches [m]->length,
                .text = item->matches [m]->text, .pattern_id = item->matches [m]->pattern_id,
            };
    }
    batch->inputs [i] = (fac_input_t) {
        .contract_id = copy->contract_id, .status = (int) copy->status, .score = copy->score,
        .quality = copy->quality, .confidence = copy->confidence,
        .missing_elements = (const char *const *) copy->missing_elements,
        .missing_count = copy->n_missing_elements,
        .ratio = copy->ratio, .evidence = evidence, .evidence_count = copy->n_evidence,
        .output_json = copy->output_json, .type = copy->contract_type, .title = copy->title,
        .base_question = copy->base_question, .policy_area = copy->policy_area,
        .dimension = copy->dimension, .cluster = copy->cluster,
    };
    return 0;
}

//  Copies the request's inputs (borrowed for the call only). Returns 0, or
//  -1 when out of memory (nothing kept).
static int
s_batch_inputs (s_batch_t *batch, Farfan__InputResult *const *inputs, size_t count)
{
    if (count == 0)
        return 0;
    batch->input_count = count;
    batch->inputs = (fac_input_t *) calloc (count, sizeof (fac_input_t));
    batch->input_messages = (Farfan__InputResult **) calloc (count, sizeof (void *));
    batch->input_evidence = (fac_input_evidence_t **) calloc (count, sizeof (void *));
    batch->input_matches = (fac_input_match_t **) calloc (count, sizeof (void *));
    batch->input_digests = (char (*) [65]) calloc (count, 65);
    bool ok = batch->inputs && batch->input_messages && batch->input_evidence
           && batch->input_matches && batch->input_digests;
    for (size_t i = 0; ok && i < count; i++)
        ok = s_batch_input (batch, i, inputs [i]) == 0;
    if (!ok)
        s_batch_inputs_free (batch);
    return ok ? 0 : -1;
}

//  The cache key of a task: BLAKE2b-256 over everything its result
//  depends on. "" when the task cannot be cached.
static void
s_task_cache_key (s_task_t *task)
{
    s_batch_t *batch = task->batch;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    const char *contract_digest = task->contract->digest;
    crypto_generichash_update (&state, (const uint8_t *) contract_digest, strlen (contract_digest) + 1);
    const char *document = task->contract->uses_document && batch->document
                         ? batch->document->digest : "";
    crypto_generichash_update (&state, (const uint8_t *) document, strlen (document) + 1);
    crypto_generichash_update (&state, (const uint8_t *) batch->params_canonical,
                               strlen (batch->params_canonical) + 1);
    //  Each input by the digest of everything the request carried for it
    //  (an input the request did not carry: its id alone).
    for (size_t i = 0; i < task->ctx.input_count; i++) {
        const fac_input_t *input = &task->ctx.inputs [i];
        const char *digest = "absent";
        for (size_t j = 0; j < batch->input_count; j++)
            if (batch->inputs [j].contract_id == input->contract_id)
                digest = batch->input_digests [j];
        crypto_generichash_update (&state, (const uint8_t *) input->contract_id,
                                   strlen (input->contract_id) + 1);
        crypto_generichash_update (&state, (const uint8_t *) digest, strlen (digest) + 1);
    }
    uint8_t hash [32];
    crypto_generichash_final (&state, hash, sizeof hash);
    s_digest_hex (hash, sizeof hash, task->cache_key);
}

//  Answers a task from the result cache; true when it did.
static bool
s_task_from_cache (s_task_t *task)
{
    fac_engine_t *engine = task->batch->engine;
    s_blob_t *blob = (s_blob_t *) ff_cache_get (engine->results, task->cache_key,
                                                ff_clock_mono_us () / 1000);
    if (!blob)
        return false;
    //  index and from_cache appended: protobuf keeps the last value.
    uint8_t *reply = (uint8_t *) malloc (blob->size + 16);
    if (!reply)
        return false;
    memcpy (reply, blob->data, blob->size);
    size_t used = blob->size;
    ff_pbwire_put_varint (reply, &used, 12, task->index);
    ff_pbwire_put_varint (reply, &used, 9, 1);
    task->batch->sink->result (task->batch->sink, reply, used);
    free (reply);
    s_count_result (task->batch, FARFAN__RESULT_STATUS__RESULT_OK, true);
    return true;
}

//  Looks the task's contract up in the compiled cache, and prefetches the
//  contracts that usually follow it while workers are idle.
static void
s_task_compiled (fac_engine_t *self, s_task_t *task)
{
    uint64_t now_ms = ff_clock_mono_us () / 1000;
    fac_compiled_t *compiled = (fac_compiled_t *) ff_cache_get (self->compiled, task->contract->id, now_ms);
    if (compiled && compiled->contract == task->contract)
        task->compiled = fac_compiled_ref (compiled);
    else
    if (task->contract->pattern_count == 0) {
        //  Nothing to compile: no reason to defer it to a worker.
        char err [256];
        task->compiled = fac_compiled_new (task->contract, err, sizeof err);
        if (task->compiled)
            task->compiled_here = true;
    }
    const char *next [S_PREDICT_MAX];
    size_t predicted = ff_cache_predict (self->compiled, task->contract->id, next, S_PREDICT_MAX);
    for (size_t i = 0; i < predicted; i++) {
        if (fac_pool_busy (self->pool) + fac_pool_queued (self->pool) >= fac_pool_workers (self->pool))
            break;
        if (ff_cache_peek (self->compiled, next [i], now_ms))
            continue;
        fac_contract_t *contract = self->contracts ? fac_contract_set_lookup (self->contracts, next [i]) : NULL;
        if (!contract || contract->pattern_count == 0)
            continue;
        s_compile_t *job = (s_compile_t *) zmalloc (sizeof (s_compile_t));
        job->kind = S_ITEM_COMPILE;
        job->contract = fac_contract_ref (contract);
        if (fac_pool_submit (self->pool, job) != 0) {
            fac_contract_unref (&job->contract);
            free (job);
        }
    }
}

//  Builds task i of the batch; reports at once what cannot run.
static s_task_t *
s_task_new (s_batch_t *batch, uint32_t index, const char *contract_id)
{
    fac_engine_t *engine = batch->engine;
    s_task_t *task = (s_task_t *) zmalloc (sizeof (s_task_t));
    task->kind = S_ITEM_TASK;
    task->batch = batch;
    task->index = index;
    task->contract_id = strdup (contract_id ? contract_id : "");
    task->timeout_timer = -1;
    task->wait_timer = -1;
    atomic_init (&task->cancelled, false);
    fac_contract_t *contract = engine->contracts && contract_id
                             ? fac_contract_set_lookup (engine->contracts, contract_id) : NULL;
    if (contract)
        task->contract = fac_contract_ref (contract);
    batch->live++;
    return task;
}

//  Prepares and starts (or answers) one task.
static void
s_task_begin (s_task_t *task, bool no_cache)
{
    s_batch_t *batch = task->batch;
    fac_engine_t *engine = batch->engine;
    fac_contract_t *contract = task->contract;
    if (!contract) {
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_FAILED, "unknown contract");
        return;
    }
    if (contract->status == FAC_CONTRACT_INACTIVE) {
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_SKIPPED, "contract is INACTIVE");
        return;
    }
    if (contract->uses_document && !batch->document) {
        s_task_finish (task, FARFAN__RESULT_STATUS__RESULT_FAILED,
                       "the contract reads the document but the request names none (input_digest)");
        return;
    }
    //  Aggregation inputs in the contract's order; absent ones marked.
    if (contract->input_count) {
        task->inputs = (fac_input_t *) calloc (contract->input_count, sizeof (fac_input_t));
        for (size_t i = 0; task->inputs && i < contract->input_count; i++) {
            fac_input_t *input = &task->inputs [i];
            *input = (fac_input_t) {
                .contract_id = contract->input_contracts [i],
                .status = FARFAN__RESULT_STATUS__RESULT_STATUS_UNSPECIFIED,
                .score = NAN, .confidence = NAN, .ratio = NAN,
                .quality = "", .output_json = "", .type = "", .title = "",
                .base_question = "", .policy_area = "", .dimension = "", .cluster = "",
            };
            for (size_t j = 0; j < batch->input_count; j++)
                if (streq (batch->inputs [j].contract_id, contract->input_contracts [i])) {
                    *input = batch->inputs [j];
                    break;
                }
        }
    }
    fac_context_init (&task->ctx, NULL, contract->uses_document ? batch->document->text : NULL,
                      contract->uses_document ? batch->document->size : 0,
                      task->inputs, task->inputs ? contract->input_count : 0, batch->params);
    s_task_cache_key (task);
    if (!no_cache && s_task_from_cache (task)) {
        task->state = S_TASK_DONE;
        s_batch_task_reported (batch, task);
        s_task_free (task);
        return;
    }
    s_task_compiled (engine, task);
    task->ctx.compiled = task->compiled;
    s_task_run (task);
}

//  ---------------------------------------------------------------------
//  Gauges read by the HTTP thread (thread-safe reads only)

//  Stands in for the gauges once the engine is gone (the registry, and the
//  HTTP thread reading it, outlive the engine).
static double
s_gauge_gone (void *arg)
{
    (void) arg;
    return 0;
}

static const char *s_gauge_names [] = {
    "farfan_factory_queue_depth", "farfan_factory_busy_workers", "farfan_factory_workers",
    "farfan_factory_utilization", "farfan_factory_waiting", "farfan_factory_pending",
};

static double
s_gauge_queued (void *arg)
{
    return (double) fac_pool_queued (((fac_engine_t *) arg)->pool);
}

static double
s_gauge_busy (void *arg)
{
    return (double) fac_pool_busy (((fac_engine_t *) arg)->pool);
}

static double
s_gauge_workers (void *arg)
{
    return (double) fac_pool_workers (((fac_engine_t *) arg)->pool);
}

static double
s_gauge_utilization (void *arg)
{
    fac_engine_t *self = (fac_engine_t *) arg;
    double wall = (double) (ff_clock_mono_us () - self->started_us);
    double workers = (double) fac_pool_workers (self->pool);
    return wall > 0 ? (double) fac_pool_busy_us (self->pool) / (wall * workers) : 0;
}

static double
s_gauge_waiting (void *arg)
{
    return (double) atomic_load (&((fac_engine_t *) arg)->waiting);
}

static double
s_gauge_pending (void *arg)
{
    return (double) atomic_load (&((fac_engine_t *) arg)->pending);
}

//  ---------------------------------------------------------------------
//  Public API

fac_engine_t *
fac_engine_new (const fac_engine_options_t *options, zloop_t *loop, ff_metrics_t *metrics,
                char *err, size_t err_size)
{
    if (sodium_init () < 0) {
        snprintf (err, err_size, "libsodium failed to initialise");
        return NULL;
    }
    fac_engine_t *self = (fac_engine_t *) zmalloc (sizeof (fac_engine_t));
    self->options = *options;
    self->loop = loop;
    self->metrics = metrics;
    self->started_us = ff_clock_mono_us ();
    self->batches = zlistx_new ();
    self->plans = zlistx_new ();
    self->timers = zhashx_new ();
    zhashx_set_key_hasher (self->timers, s_timer_hash);
    zhashx_set_key_comparator (self->timers, s_timer_compare);
    zhashx_set_key_duplicator (self->timers, NULL);
    zhashx_set_key_destructor (self->timers, NULL);
    self->durations = fac_durations_new (0.3, options->default_estimate_ms * 1000.0, 100000);
    self->pool = fac_pool_new (options->max_workers, options->max_pending + 64, s_pool_work,
                               err, err_size);
    if (!self->pool)
        goto failed;
    ff_cache_options_t compiled = {
        .max_size = options->compiled_cache_size, .ttl_ms = options->compiled_cache_ttl_ms,
        .free_fn = s_compiled_free,
    };
    ff_cache_options_t results = {
        .max_size = options->result_cache_size, .max_bytes = options->result_cache_bytes,
        .ttl_ms = options->result_cache_ttl_ms, .free_fn = free,
    };
    ff_cache_options_t documents = {
        .max_size = options->document_cache_count, .max_bytes = options->document_cache_bytes,
        .free_fn = s_document_free,
    };
    self->compiled = ff_cache_new ("compiled", &compiled, metrics);
    self->results = ff_cache_new ("results", &results, metrics);
    self->documents = ff_cache_new ("documents", &documents, metrics);
    if (!self->compiled || !self->results || !self->documents) {
        snprintf (err, err_size, "cannot create the caches (sizes must be > 0)");
        goto failed;
    }
    if (zloop_reader (loop, fac_pool_done_socket (self->pool), s_pool_readable, self) != 0) {
        snprintf (err, err_size, "cannot watch the worker pool");
        goto failed;
    }
    static const char *statuses [] = { "unspecified", "ok", "failed", "timeout", "skipped" };
    for (int i = 1; i < 5; i++) {
        char labels [32];
        snprintf (labels, sizeof labels, "status=\"%s\"", statuses [i]);
        self->by_status [i] = ff_metrics_counter (metrics, "farfan_contracts_total",
            "Contracts finished, by result status (cache hits included)", labels);
    }
    self->from_cache = ff_metrics_counter (metrics, "farfan_contracts_from_cache_total",
        "Contracts answered from the result cache", NULL);
    self->inline_runs = ff_metrics_counter (metrics, "farfan_contract_executions_total",
        "Contracts executed (not from cache), by where they ran", "mode=\"inline\"");
    self->pool_runs = ff_metrics_counter (metrics, "farfan_contract_executions_total",
        "Contracts executed (not from cache), by where they ran", "mode=\"parallel\"");
    self->duration = ff_metrics_histogram (metrics, "farfan_contract_duration_seconds",
        "Execution time of a contract (not from cache), seconds", NULL);
    ff_metrics_gauge_fn (metrics, "farfan_factory_queue_depth",
        "Contract segments queued for a worker", NULL, s_gauge_queued, self);
    ff_metrics_gauge_fn (metrics, "farfan_factory_busy_workers",
        "Workers running a contract now", NULL, s_gauge_busy, self);
    ff_metrics_gauge_fn (metrics, "farfan_factory_workers",
        "Worker threads (max_workers)", NULL, s_gauge_workers, self);
    ff_metrics_gauge_fn (metrics, "farfan_factory_utilization",
        "Worker busy time / (workers x time since start), 0..1", NULL, s_gauge_utilization, self);
    ff_metrics_gauge_fn (metrics, "farfan_factory_waiting",
        "Contracts in io.wait or exec now (no thread held)", NULL, s_gauge_waiting, self);
    ff_metrics_gauge_fn (metrics, "farfan_factory_pending",
        "Contracts accepted and not yet reported", NULL, s_gauge_pending, self);
    return self;

failed:
    fac_engine_destroy (&self);
    return NULL;
}

//  Items the stopped pool hands back. Tasks still owned by an unfinished
//  batch are freed with it; abandoned ones (already reported) are freed
//  here.
static void
s_leftover (void *item)
{
    if (*(s_item_kind_t *) item == S_ITEM_COMPILE) {
        s_compile_t *job = (s_compile_t *) item;
        fac_compiled_unref (&job->compiled);
        fac_contract_unref (&job->contract);
        free (job);
        return;
    }
    s_task_t *task = (s_task_t *) item;
    if (task->abandoned)
        s_task_free (task);
}

void
fac_engine_destroy (fac_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fac_engine_t *self = *self_p;
    for (size_t i = 0; self->metrics && self->pool && i < sizeof s_gauge_names / sizeof s_gauge_names [0]; i++)
        ff_metrics_gauge_fn (self->metrics, s_gauge_names [i], "", NULL, s_gauge_gone, NULL);
    if (self->pool) {
        zloop_reader_end (self->loop, fac_pool_done_socket (self->pool));
        fac_pool_destroy (&self->pool, s_leftover);
    }
    //  No worker runs any more: every task can be freed.
    s_batch_t *batch;
    while (self->batches && (batch = (s_batch_t *) zlistx_first (self->batches))) {
        zlistx_delete (self->batches, zlistx_cursor (self->batches));
        if (batch->sink)
            batch->sink->abandon (batch->sink);
        batch->sink = NULL;
        batch->done_sent = true;
        //  The batch goes with its last task: count them first, and never
        //  read the batch after that one.
        size_t live = 0;
        for (size_t i = 0; i < batch->total; i++)
            live += batch->tasks [i] != NULL;
        for (size_t i = 0; live > 0; i++) {
            s_task_t *task = batch->tasks [i];
            if (!task)
                continue;
            s_timer_end (self, &task->timeout_timer);
            s_timer_end (self, &task->wait_timer);
            if (task->exec)
                fac_exec_cancel (&task->exec);
            live--;
            s_task_free (task);
        }
    }
    zlistx_destroy (&self->batches);
    zhashx_destroy (&self->timers);
    free (self->to_submit);
    s_plan_t *plan;
    while (self->plans && (plan = (s_plan_t *) zlistx_first (self->plans))) {
        zlistx_delete (self->plans, zlistx_cursor (self->plans));
        free (plan->plan_id);
        free (plan);
    }
    zlistx_destroy (&self->plans);
    ff_cache_destroy (&self->compiled);
    ff_cache_destroy (&self->results);
    ff_cache_destroy (&self->documents);
    fac_durations_destroy (&self->durations);
    free (self);
    *self_p = NULL;
}

void
fac_engine_set_contracts (fac_engine_t *self, fac_contract_set_t *contracts)
{
    self->contracts = contracts;
}

int
fac_engine_put_document (fac_engine_t *self, const void *data, size_t size,
                         char *digest, size_t digest_size, bool *already_present,
                         char *err, size_t err_size)
{
    if (size > self->options.document_max_bytes) {
        snprintf (err, err_size, "document of %zu bytes exceeds document_max_bytes (%zu)",
                  size, self->options.document_max_bytes);
        return -1;
    }
    size_t bad = ff_utf8_check ((const uint8_t *) data, size, true);
    if (bad) {
        snprintf (err, err_size, "document is not valid UTF-8 (byte %zu)", bad - 1);
        return -1;
    }
    uint8_t hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const uint8_t *) data, size);
    char key [72] = "sha256:";
    s_digest_hex (hash, sizeof hash, key + 7);
    snprintf (digest, digest_size, "%s", key);
    uint64_t now_ms = ff_clock_mono_us () / 1000;
    *already_present = ff_cache_peek (self->documents, key, now_ms) != NULL;
    if (*already_present) {
        ff_cache_get (self->documents, key, now_ms);     //  recency
        return 0;
    }
    s_document_t *document = (s_document_t *) malloc (sizeof (s_document_t) + size + 1);
    if (!document) {
        snprintf (err, err_size, "out of memory storing a document of %zu bytes", size);
        return -1;
    }
    atomic_init (&document->refs, 1);
    document->size = size;
    snprintf (document->digest, sizeof document->digest, "%s", key);
    if (size > 0)                   //  an empty document's data may be NULL
        memcpy (document->text, data, size);
    document->text [size] = '\0';
    if (ff_cache_put (self->documents, key, document, sizeof (s_document_t) + size, now_ms) != 0) {
        snprintf (err, err_size, "document of %zu bytes does not fit the document store "
                  "(document_cache_bytes)", size);
        return -1;
    }
    return 0;
}

bool
fac_engine_has_document (fac_engine_t *self, const char *digest)
{
    return ff_cache_peek (self->documents, digest, ff_clock_mono_us () / 1000) != NULL;
}

int
fac_engine_execute (fac_engine_t *self, const fac_batch_request_t *request,
                    fac_sink_t *sink, uint32_t *code, char *err, size_t err_size)
{
    *code = FARFAN__ERROR_CODE__INVALID_ARGUMENT;
    if (self->pending + request->contract_count > self->options.max_pending) {
        *code = FARFAN__ERROR_CODE__OVERLOADED;
        snprintf (err, err_size, "%zu contracts pending, %zu more would exceed max_pending (%zu)",
                  self->pending, request->contract_count, self->options.max_pending);
        return -1;
    }
    s_document_t *document = NULL;
    if (request->input_digest && *request->input_digest) {
        document = (s_document_t *) ff_cache_get (self->documents, request->input_digest,
                                                  ff_clock_mono_us () / 1000);
        if (!document)
            return -2;
    }
    s_batch_t *batch = (s_batch_t *) zmalloc (sizeof (s_batch_t));
    batch->engine = self;
    batch->started_us = ff_clock_mono_us ();
    if (s_batch_params (batch, request->params_json, err, err_size) != 0) {
        json_decref (batch->params);
        free (batch);
        return -1;
    }
    if (s_batch_inputs (batch, request->inputs, request->input_count) != 0) {
        *code = FARFAN__ERROR_CODE__INTERNAL;
        snprintf (err, err_size, "out of memory copying %zu inputs", request->input_count);
        json_decref (batch->params);
        free (batch->params_canonical);
        free (batch);
        return -1;
    }
    batch->document = document ? s_document_ref (document) : NULL;
    batch->sink = sink;
    batch->backlog = zlistx_new ();
    batch->total = request->contract_count;
    batch->tasks = (s_task_t **) calloc (batch->total ? batch->total : 1, sizeof (s_task_t *));
    batch->parallel = self->options.parallel && batch->total >= self->options.batch_threshold;
    uint32_t workers = (uint32_t) self->options.max_workers;
    batch->max_parallel = request->max_parallel && request->max_parallel < workers
                        ? request->max_parallel : workers;
    if (request->plan_id && *request->plan_id)
        batch->plan_id = strdup (request->plan_id);
    farfan__batch_done__init (&batch->counts);
    zlistx_add_end (self->batches, batch);
    self->pending += batch->total;

    for (size_t i = 0; i < batch->total; i++)
        batch->tasks [i] = s_task_new (batch, (uint32_t) i, request->contract_ids [i]);
    //  Hold the batch open while tasks start: an early task finishing
    //  must not end (and free) it before the others are started.
    batch->live++;
    for (size_t i = 0; i < batch->total; i++)
        if (batch->tasks [i])
            s_task_begin (batch->tasks [i], request->no_cache);
    s_batch_maybe_done (batch);         //  an empty batch ends at once
    //  Release the hold (frees the batch if everything already ended).
    batch->live--;
    s_batch_release (batch);
    s_submit_flush (self);
    return 0;
}

size_t
fac_engine_prewarm (fac_engine_t *self, const char *const *contract_ids, size_t count)
{
    //  No more than the compiled cache holds: beyond, each compilation
    //  would evict an earlier one before its first use.
    ff_cache_stats_t stats;
    ff_cache_stats (self->compiled, &stats);
    if (count > stats.max_size)
        count = stats.max_size;
    size_t started = 0;
    uint64_t now_ms = ff_clock_mono_us () / 1000;
    for (size_t i = 0; i < count && self->contracts; i++) {
        fac_contract_t *contract = fac_contract_set_lookup (self->contracts, contract_ids [i]);
        if (!contract)
            continue;
        fac_compiled_t *compiled = (fac_compiled_t *) ff_cache_peek (self->compiled, contract->id, now_ms);
        if (compiled && compiled->contract == contract)
            continue;
        s_compile_t *job = (s_compile_t *) zmalloc (sizeof (s_compile_t));
        job->kind = S_ITEM_COMPILE;
        job->contract = fac_contract_ref (contract);
        if (fac_pool_submit (self->pool, job) != 0) {
            //  Pool full: compile here rather than not at all.
            job->compiled = fac_compiled_new (job->contract, job->error, sizeof job->error);
            s_compile_returned (self, job);
        }
        started++;
    }
    return started;
}

fac_durations_t *
fac_engine_durations (fac_engine_t *self)
{
    return self->durations;
}

void
fac_engine_remember_plan (fac_engine_t *self, const char *plan_id, double estimated_s)
{
    if (zlistx_size (self->plans) >= S_PLANS_MAX) {
        s_plan_t *oldest = (s_plan_t *) zlistx_first (self->plans);
        zlistx_delete (self->plans, zlistx_cursor (self->plans));
        free (oldest->plan_id);
        free (oldest);
    }
    s_plan_t *plan = (s_plan_t *) zmalloc (sizeof (s_plan_t));
    plan->plan_id = strdup (plan_id);
    plan->estimated_s = estimated_s;
    zlistx_add_end (self->plans, plan);
}

//  Fills a CacheStats message; hot keys copied (freed by s_cache_stats_free).
static Farfan__CacheStats *
s_cache_stats (const char *name, ff_cache_t *cache)
{
    Farfan__CacheStats *out = (Farfan__CacheStats *) zmalloc (sizeof (Farfan__CacheStats));
    farfan__cache_stats__init (out);
    ff_cache_stats_t stats;
    ff_cache_stats (cache, &stats);
    out->name = strdup (name);
    out->hits = stats.hits;
    out->misses = stats.misses;
    out->evictions = stats.evictions;
    out->expirations = stats.expirations;
    out->hot_expirations = stats.hot_expirations;
    out->size = stats.size;
    out->max_size = stats.max_size;
    out->ttl_ms = stats.ttl_ms;
    out->efficiency_percent = stats.efficiency_percent;
    out->bytes = stats.bytes;
    out->max_bytes = stats.max_bytes;
    out->prefetched = stats.prefetched;
    out->prefetch_hits = stats.prefetch_hits;
    const char *hot [S_HOT_MAX];
    size_t count = ff_cache_hot_keys (cache, hot, S_HOT_MAX);
    out->hot_keys = (char **) calloc (count ? count : 1, sizeof (char *));
    for (size_t i = 0; i < count; i++)
        out->hot_keys [i] = strdup (hot [i]);
    out->n_hot_keys = count;
    return out;
}

static void
s_cache_stats_free (Farfan__CacheStats *stats)
{
    for (size_t i = 0; i < stats->n_hot_keys; i++)
        free (stats->hot_keys [i]);
    free (stats->hot_keys);
    free (stats->name);
    free (stats);
}

static Farfan__CacheStats **
s_all_cache_stats (fac_engine_t *self, size_t *count)
{
    Farfan__CacheStats **caches = (Farfan__CacheStats **) calloc (3, sizeof (Farfan__CacheStats *));
    caches [0] = s_cache_stats ("compiled", self->compiled);
    caches [1] = s_cache_stats ("results", self->results);
    caches [2] = s_cache_stats ("documents", self->documents);
    *count = 3;
    return caches;
}

void
fac_engine_metrics (fac_engine_t *self, Farfan__FactoryMetrics *metrics)
{
    farfan__factory_metrics__init (metrics);
    for (int status = 1; status < 5; status++)
        metrics->executed += ff_counter_value (self->by_status [status]);
    metrics->failed = ff_counter_value (self->by_status [FARFAN__RESULT_STATUS__RESULT_FAILED]);
    metrics->timed_out = ff_counter_value (self->by_status [FARFAN__RESULT_STATUS__RESULT_TIMEOUT]);
    metrics->skipped = ff_counter_value (self->by_status [FARFAN__RESULT_STATUS__RESULT_SKIPPED]);
    metrics->from_cache = ff_counter_value (self->from_cache);
    metrics->parallel_executions = ff_counter_value (self->pool_runs);
    metrics->inline_executions = ff_counter_value (self->inline_runs);
    if (ff_histogram_count (self->duration) > 0) {
        metrics->latency_p50_ms = ff_histogram_quantile (self->duration, 0.50) * 1000;
        metrics->latency_p95_ms = ff_histogram_quantile (self->duration, 0.95) * 1000;
        metrics->latency_p99_ms = ff_histogram_quantile (self->duration, 0.99) * 1000;
    }
    metrics->queue_depth = (uint32_t) fac_pool_queued (self->pool);
    metrics->busy_workers = (uint32_t) fac_pool_busy (self->pool);
    metrics->max_workers = (uint32_t) fac_pool_workers (self->pool);
    metrics->utilization = s_gauge_utilization (self);
    metrics->waiting = (uint32_t) self->waiting;
    metrics->plans_checked = self->plans_checked;
    if (self->plans_checked > 0) {
        double accuracy = 100.0 * (1.0 - self->plan_error_sum / (double) self->plans_checked);
        metrics->plan_accuracy_percent = accuracy > 0 ? accuracy : 0;
    }
    metrics->caches = s_all_cache_stats (self, &metrics->n_caches);
}

void
fac_engine_metrics_free (Farfan__FactoryMetrics *metrics)
{
    for (size_t i = 0; i < metrics->n_caches; i++)
        s_cache_stats_free (metrics->caches [i]);
    free (metrics->caches);
    metrics->caches = NULL;
    metrics->n_caches = 0;
}

void
fac_engine_optimize_caches (fac_engine_t *self, bool apply, Farfan__CacheOptimization *reply)
{
    farfan__cache_optimization__init (reply);
    struct { const char *name; ff_cache_t *cache; } caches [] = {
        { "compiled", self->compiled }, { "results", self->results }, { "documents", self->documents },
    };
    enum { S_PER_CACHE = 8 };
    reply->recommendations = (Farfan__CacheRecommendation **)
        calloc (3 * S_PER_CACHE, sizeof (Farfan__CacheRecommendation *));
    uint64_t now_ms = ff_clock_mono_us () / 1000;
    for (size_t c = 0; c < 3; c++) {
        ff_cache_recommendation_t found [S_PER_CACHE];
        size_t count = ff_cache_recommend (caches [c].cache, found, S_PER_CACHE, now_ms);
        for (size_t i = 0; i < count; i++) {
            Farfan__CacheRecommendation *out = (Farfan__CacheRecommendation *)
                zmalloc (sizeof (Farfan__CacheRecommendation));
            farfan__cache_recommendation__init (out);
            out->cache = strdup (caches [c].name);
            out->action = strdup (found [i].action);
            out->reason = strdup (found [i].reason);
            out->current = found [i].current;
            out->proposed = found [i].proposed;
            out->keys = (char **) calloc (found [i].key_count ? found [i].key_count : 1, sizeof (char *));
            for (size_t k = 0; k < found [i].key_count; k++)
                out->keys [k] = strdup (found [i].keys [k]);
            out->n_keys = found [i].key_count;
            reply->recommendations [reply->n_recommendations++] = out;
            if (apply) {
                if (streq (found [i].action, "preload") && caches [c].cache == self->compiled)
                    fac_engine_prewarm (self, (const char *const *) found [i].keys, found [i].key_count);
                else
                    ff_cache_apply (caches [c].cache, &found [i]);
            }
            ff_cache_recommendation_free (&found [i]);
        }
    }
    reply->applied = apply;
    reply->caches = s_all_cache_stats (self, &reply->n_caches);
}

void
fac_engine_optimization_free (Farfan__CacheOptimization *reply)
{
    for (size_t i = 0; i < reply->n_recommendations; i++) {
        Farfan__CacheRecommendation *item = reply->recommendations [i];
        for (size_t k = 0; k < item->n_keys; k++)
            free (item->keys [k]);
        free (item->keys);
        free (item->cache);
        free (item->action);
        free (item->reason);
        free (item);
    }
    free (reply->recommendations);
    for (size_t i = 0; i < reply->n_caches; i++)
        s_cache_stats_free (reply->caches [i]);
    free (reply->caches);
}

size_t
fac_engine_hot_contracts (fac_engine_t *self, const char **ids, size_t n)
{
    return ff_cache_hot_keys (self->compiled, ids, n);
}

size_t
fac_engine_workers (fac_engine_t *self)
{
    return fac_pool_workers (self->pool);
}

size_t
fac_engine_busy (fac_engine_t *self)
{
    return fac_pool_busy (self->pool);
}

size_t
fac_engine_queued (fac_engine_t *self)
{
    return fac_pool_queued (self->pool);
}

size_t
fac_engine_waiting (fac_engine_t *self)
{
    return self->waiting;
}

size_t
fac_engine_pending (fac_engine_t *self)
{
    return self->pending;
}
