/*  fac_server — the farfan-factory daemon: see fac_server.h.

    This file wires the service (sockets, HTTP, metrics), loads the
    contracts, and answers the factory's message types; execution is
    fac_engine's, plans fac_plan's.
*/
#include "fac_server.h"
#include "fac_contract.h"
#include "fac_engine.h"
#include "fac_link.h"
#include "fac_method.h"
#include "fac_plan.h"
#include "fac_reply_sink.h"
#include "ff_clock.h"
#include "ff_log.h"

#include <math.h>
#include <stddef.h>

static const ff_config_key_t s_keys [] = {
    FF_SERVICE_CONFIG_KEYS (fac_config_t, service, "9560"),
    { "endpoint", FF_CONFIG_ENDPOINT, offsetof (fac_config_t, endpoint),
      "@tcp://*:5560", 1, 0, "direct API (ROUTER) for farfanctl and direct clients" },
    { "orchestrator_endpoint", FF_CONFIG_ENDPOINT, offsetof (fac_config_t, orchestrator_endpoint),
      ">tcp://127.0.0.1:5551", 0, 0, "orchestrator worker API to register with (empty = standalone)" },
    { "heartbeat_ms", FF_CONFIG_INT, offsetof (fac_config_t, heartbeat_ms),
      "1000", 10, 3600000, "heartbeat interval to the orchestrator until its WELCOME names one" },
    { "liveness", FF_CONFIG_INT, offsetof (fac_config_t, liveness),
      "3", 1, 1000, "missed intervals before the orchestrator is taken for gone (until WELCOME names it)" },
    { "reconnect_ms", FF_CONFIG_INT, offsetof (fac_config_t, reconnect_ms),
      "100", 1, 3600000, "first delay of READY retries and reconnects to the orchestrator (doubles)" },
    { "reconnect_max_ms", FF_CONFIG_INT, offsetof (fac_config_t, reconnect_max_ms),
      "5000", 1, 3600000, "longest delay between READY retries and reconnects to the orchestrator" },
    { "sisas_endpoint", FF_CONFIG_ENDPOINT, offsetof (fac_config_t, sisas_endpoint),
      ">tcp://127.0.0.1:5570", 0, 0, "SISAS ingest to publish signals to (empty = off)" },
    { "sisas_control_endpoint", FF_CONFIG_ENDPOINT, offsetof (fac_config_t, sisas_control_endpoint),
      ">tcp://127.0.0.1:5571", 0, 0, "SISAS delivery socket whose THROTTLE / BACKPRESSURE the "
      "signal publisher obeys (empty = ignore them)" },
    { "contracts_dir", FF_CONFIG_STRING, offsetof (fac_config_t, contracts_dir),
      "", 0, 0, "directory of contract JSON files loaded at start (empty = none)" },
    { "strict", FF_CONFIG_BOOL, offsetof (fac_config_t, strict),
      "false", 0, 0, "refuse to start when any contract is invalid" },
    { "max_workers", FF_CONFIG_INT, offsetof (fac_config_t, max_workers),
      "4", 1, 256, "worker threads for CPU-bound methods" },
    { "enable_parallel_execution", FF_CONFIG_BOOL, offsetof (fac_config_t, enable_parallel_execution),
      "true", 0, 0, "run large batches on the worker pool (false: everything inline)" },
    { "batch_execution_threshold", FF_CONFIG_INT, offsetof (fac_config_t, batch_execution_threshold),
      "4", 1, 1000000, "batches of at least this many contracts run on the pool, smaller ones inline" },
    { "inline_below_us", FF_CONFIG_INT, offsetof (fac_config_t, inline_below_us),
      "20", 0, 1000000, "in a pooled batch, contracts that read no document and measured under this many µs of CPU run inline (0 = never)" },
    { "max_pending", FF_CONFIG_INT, offsetof (fac_config_t, max_pending),
      "100000", 1, 10000000, "contracts accepted and unfinished before EXECUTE is refused (OVERLOADED)" },
    { "max_contracts_per_request", FF_CONFIG_INT, offsetof (fac_config_t, max_contracts_per_request),
      "100000", 1, 10000000, "contracts one EXECUTE (ids, or all of a phase) or PUT_CONTRACTS may name; more: INVALID_ARGUMENT" },
    { "compiled_cache_size", FF_CONFIG_INT, offsetof (fac_config_t, compiled_cache_size),
      "1024", 1, 10000000, "compiled contracts kept" },
    { "compiled_cache_ttl_ms", FF_CONFIG_INT, offsetof (fac_config_t, compiled_cache_ttl_ms),
      "0", 0, 86400000, "lifetime of a compiled contract (0 = until evicted)" },
    { "result_cache_size", FF_CONFIG_INT, offsetof (fac_config_t, result_cache_size),
      "100000", 1, 100000000, "contract results kept" },
    { "result_cache_bytes", FF_CONFIG_INT, offsetof (fac_config_t, result_cache_bytes),
      "268435456", 1024, 1099511627776.0, "bytes of contract results kept" },
    { "result_cache_ttl_ms", FF_CONFIG_INT, offsetof (fac_config_t, result_cache_ttl_ms),
      "3600000", 0, 604800000, "lifetime of a cached result (0 = until evicted)" },
    { "document_cache_count", FF_CONFIG_INT, offsetof (fac_config_t, document_cache_count),
      "64", 1, 1000000, "documents kept" },
    { "document_cache_bytes", FF_CONFIG_INT, offsetof (fac_config_t, document_cache_bytes),
      "268435456", 1024, 1099511627776.0, "bytes of documents kept" },
    { "document_max_bytes", FF_CONFIG_INT, offsetof (fac_config_t, document_max_bytes),
      "67108864", 1, 1099511627776.0, "largest document accepted, bytes" },
    { "default_estimate_ms", FF_CONFIG_DOUBLE, offsetof (fac_config_t, default_estimate_ms),
      "10", 0, 3600000, "duration assumed for a contract nothing was measured of" },
    { "target_batch_ms", FF_CONFIG_DOUBLE, offsetof (fac_config_t, target_batch_ms),
      "100", 1, 3600000, "the recommended batch size aims at batches this long" },
    { "exec_allowed", FF_CONFIG_STRING, offsetof (fac_config_t, exec_allowed),
      "", 0, 0, "programs the exec method may run: absolute paths or directories ending in /, "
      "comma-separated (empty = exec disabled)" },
};

const ff_config_schema_t fac_config_schema = {
    .program = "farfan-factory",
    .service = "factory",
    .summary = "Executes FARFAN contracts: caches, thread pool, batch and async execution.",
    .keys = s_keys,
    .key_count = sizeof s_keys / sizeof s_keys [0],
};

//  Load errors kept for CAPABILITIES.
#define S_LOAD_ERRORS_KEPT 256
//  Health is re-evaluated this often (ms) for /healthz.
#define S_HEALTH_INTERVAL_MS 1000
//  Pending contracts above this share of max_pending: degraded.
#define S_PENDING_DEGRADED 0.8

struct fac_server {
    ff_service_t *service;          // identity, metrics, HTTP, loop, sockets
    ff_publisher_t *publisher;      // signals to SISAS (the service's); NULL when off
    fac_engine_t *engine;
    fac_contract_set_t *contracts;
    fac_load_report_t report;       // load errors so far
    char **exec_allowed;            // parsed exec_allowed
    size_t exec_allowed_count;
    fac_method_env_t env;           // what contracts are validated against
    size_t max_workers;
    bool parallel;
    size_t batch_threshold;
    size_t max_pending;
    size_t max_contracts_per_request;   // larger EXECUTE / PUT_CONTRACTS refused
    double target_batch_ms;
    uint64_t plan_sequence;         // makes plan ids unique
    ff_gauge_t *invalid_gauge;      // farfan_contracts_invalid
    ff_gauge_t *loaded_gauge;       // farfan_contracts_loaded
    fac_link_t *link;               // registration with the orchestrator; NULL standalone
    fac_reply_flusher_t *flusher;   // turn-end flush of batched EXECUTE results
};

//  ---------------------------------------------------------------------
//  Helpers

//  Every ACTIVE contract (of phase, when ≥ 0), sorted by id. Borrowed ids;
//  caller frees the array.
static const char **
s_active_ids (fac_server_t *self, int phase, size_t *count)
{
    size_t total = 0;
    fac_contract_t **all = fac_contract_set_all (self->contracts, &total);
    const char **ids = (const char **) calloc (total ? total : 1, sizeof (char *));
    *count = 0;
    for (size_t i = 0; ids && i < total; i++)
        if (all [i]->status == FAC_CONTRACT_ACTIVE
        &&  (phase < 0 || fac_contract_in_phase (all [i], phase)))
            ids [(*count)++] = all [i]->id;
    return ids;
}

static uint32_t
s_batch_size (fac_server_t *self)
{
    return fac_plan_batch_size (fac_engine_durations (self->engine), self->max_workers,
                                self->target_batch_ms);
}

//  Factory health (DESIGN.md §3) and its reasons; mirrors it into the
//  service's health for /healthz. Returns a static name.
static const char *
s_health (fac_server_t *self, char reasons [][160], size_t *reason_count)
{
    *reason_count = 0;
    const char *health = fac_engine_pending (self->engine) > 0 ? "healthy" : "idle";
    if (self->report.count > 0 && fac_contract_set_size (self->contracts) == 0) {
        snprintf (reasons [(*reason_count)++], 160, "no valid contract: all %zu definitions "
                  "were rejected (see load_errors)", self->report.count);
        ff_service_set_health (self->service, FF_HEALTH_UNHEALTHY, reasons [0]);
        return "unhealthy";
    }
    if (self->report.count > 0)
        snprintf (reasons [(*reason_count)++], 160, "%zu invalid contract definition%s "
                  "(see load_errors)", self->report.count, self->report.count == 1 ? "" : "s");
    double pending = (double) fac_engine_pending (self->engine);
    if (pending >= S_PENDING_DEGRADED * (double) self->max_pending)
        snprintf (reasons [(*reason_count)++], 160, "%.0f contracts pending of max_pending %zu",
                  pending, self->max_pending);
    if (*reason_count > 0)
        health = "degraded";
    if (*reason_count > 0)
        ff_service_set_health (self->service, FF_HEALTH_DEGRADED, reasons [0]);
    else
    if (ff_service_health (self->service) != FF_HEALTH_STOPPING)
        ff_service_set_health (self->service, FF_HEALTH_HEALTHY, NULL);
    return health;
}

static int
s_health_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    char reasons [4][160];
    size_t count;
    s_health ((fac_server_t *) arg, reasons, &count);
    return 0;
}

static Farfan__LoadError **
s_load_errors (const fac_load_report_t *report, size_t *count)
{
    size_t stored = report->count < report->capacity ? report->count : report->capacity;
    Farfan__LoadError **errors = (Farfan__LoadError **) calloc (stored ? stored : 1,
                                                                sizeof (Farfan__LoadError *));
    *count = 0;
    for (size_t i = 0; errors && i < stored; i++) {
        Farfan__LoadError *error = (Farfan__LoadError *) zmalloc (sizeof (Farfan__LoadError));
        farfan__load_error__init (error);
        error->file = report->errors [i].file;
        error->field = report->errors [i].field;
        error->reason = report->errors [i].reason;
        error->contract_id = report->errors [i].contract_id;
        errors [(*count)++] = error;
    }
    return errors;
}

static void
s_load_errors_free (Farfan__LoadError **errors, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (errors [i]);
    free (errors);
}

//  Fills caps; free with s_capabilities_free.
static void
s_capabilities (fac_server_t *self, Farfan__Capabilities *caps)
{
    farfan__capabilities__init (caps);
    const ff_service_info_t *info = ff_service_info (self->service);
    caps->factory_id = (char *) info->instance_id;
    caps->version = (char *) info->version;
    caps->contract_set_digest = (char *) fac_contract_set_digest (self->contracts);
    size_t total = 0, active = 0;
    fac_contract_t **all = fac_contract_set_all (self->contracts, &total);
    uint32_t per_phase [FAC_PHASE_COUNT] = { 0 };
    for (size_t i = 0; i < total; i++) {
        if (all [i]->status != FAC_CONTRACT_ACTIVE)
            continue;
        active++;
        for (int phase = 0; phase < FAC_PHASE_COUNT; phase++)
            if (fac_contract_in_phase (all [i], phase))
                per_phase [phase]++;
    }
    caps->total_contracts = (uint32_t) total;
    caps->active_contracts = (uint32_t) active;
    caps->per_phase = (Farfan__PhaseCount **) calloc (FAC_PHASE_COUNT, sizeof (Farfan__PhaseCount *));
    for (int phase = 0; caps->per_phase && phase < FAC_PHASE_COUNT; phase++) {
        if (!per_phase [phase])
            continue;
        Farfan__PhaseCount *count = (Farfan__PhaseCount *) zmalloc (sizeof (Farfan__PhaseCount));
        farfan__phase_count__init (count);
        count->phase = zsys_sprintf ("P%02d", phase);
        count->contracts = per_phase [phase];
        caps->per_phase [caps->n_per_phase++] = count;
    }
    size_t method_count = 0;
    const fac_method_t *methods = fac_method_all (&method_count);
    caps->methods = (char **) calloc (method_count ? method_count : 1, sizeof (char *));
    for (size_t i = 0; caps->methods && i < method_count; i++)
        caps->methods [caps->n_methods++] = (char *) methods [i].name;
    caps->max_workers = (uint32_t) self->max_workers;
    size_t busy = fac_engine_busy (self->engine);
    caps->idle_workers = (uint32_t) (busy < self->max_workers ? self->max_workers - busy : 0);
    caps->queue_depth = (uint32_t) fac_engine_queued (self->engine);
    caps->parallel_enabled = self->parallel;
    caps->batch_threshold = (uint32_t) self->batch_threshold;
    caps->recommended_batch_size = s_batch_size (self);
    char reasons [4][160];
    size_t reason_count = 0;
    caps->health = (char *) s_health (self, reasons, &reason_count);
    caps->health_reasons = (char **) calloc (reason_count ? reason_count : 1, sizeof (char *));
    for (size_t i = 0; caps->health_reasons && i < reason_count; i++)
        caps->health_reasons [caps->n_health_reasons++] = strdup (reasons [i]);
    caps->invalid_contracts = (uint32_t) self->report.count;
    caps->load_errors = s_load_errors (&self->report, &caps->n_load_errors);
    caps->in_flight = (uint32_t) fac_engine_pending (self->engine);
}

static void
s_capabilities_free (Farfan__Capabilities *caps)
{
    for (size_t i = 0; i < caps->n_per_phase; i++) {
        free (caps->per_phase [i]->phase);
        free (caps->per_phase [i]);
    }
    free (caps->per_phase);
    free (caps->methods);
    for (size_t i = 0; i < caps->n_health_reasons; i++)
        free (caps->health_reasons [i]);
    free (caps->health_reasons);
    s_load_errors_free (caps->load_errors, caps->n_load_errors);
}

//  ---------------------------------------------------------------------
//  Handlers

static void
s_handle_put_document (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__PutDocument *put = (Farfan__PutDocument *)
        ff_rpc_unpack (rpc, request, &farfan__put_document__descriptor);
    if (!put)
        return;
    char digest [80], err [256];
    bool already = false;
    if (fac_engine_put_document (self->engine, put->content.data, put->content.len,
                                 digest, sizeof digest, &already, err, sizeof err) != 0)
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "%s", err);
    else {
        Farfan__DocumentStored stored = FARFAN__DOCUMENT_STORED__INIT;
        stored.digest = digest;
        stored.size = put->content.len;
        stored.already_present = already;
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__DOCUMENT_STORED, &stored.base);
    }
    farfan__put_document__free_unpacked (put, NULL);
}

//  Execute.contract_digests: every contract must run the definition the
//  requester names. One this factory does not hold (not loaded, or loaded
//  with another digest: another requester's PUT_CONTRACTS replaced it)
//  answers ERROR NOT_FOUND naming them, and nothing runs: the requester
//  ships the definitions and sends the EXECUTE again. (Checked here, before
//  the engine takes its references: messages are served in order, so a
//  PUT_CONTRACTS sent just before this EXECUTE is what it finds.) Returns 0
//  when the batch may run, -1 when answered.
static int
s_check_digests (fac_server_t *self, ff_rpc_t *rpc, const ff_msg_t *request,
                 const Farfan__Execute *execute)
{
    if (execute->n_contract_digests == 0)
        return 0;
    if (execute->all || execute->n_contract_digests != execute->n_contract_ids) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "contract_digests names %zu digests for %zu contract_ids%s",
                            execute->n_contract_digests, execute->n_contract_ids,
                            execute->all ? " (all: not allowed)" : "");
        return -1;
    }
    char text [768] = "";
    size_t used = 0, count = 0;
    for (size_t i = 0; i < execute->n_contract_ids; i++) {
        const char *expected = execute->contract_digests [i];
        if (!*expected)
            continue;
        fac_contract_t *contract = fac_contract_set_lookup (self->contracts, execute->contract_ids [i]);
        if (contract && streq (contract->digest, expected))
            continue;
        if (count++ < 8 && used < sizeof text) {
            int n = contract
                  ? snprintf (text + used, sizeof text - used, "%s%s (holds %.19s…, expected %.19s…)",
                              used ? ", " : "", execute->contract_ids [i], contract->digest, expected)
                  : snprintf (text + used, sizeof text - used, "%s%s (not loaded)",
                              used ? ", " : "", execute->contract_ids [i]);
            used += n > 0 ? (size_t) n : 0;
        }
    }
    if (count == 0)
        return 0;
    ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__NOT_FOUND,
                        "%zu contract definition%s not held: %s%s; PUT_CONTRACTS and EXECUTE again",
                        count, count == 1 ? "" : "s", text, count > 8 ? ", …" : "");
    return -1;
}

static void
s_handle_execute (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__Execute *execute = (Farfan__Execute *) ff_rpc_unpack (rpc, request, &farfan__execute__descriptor);
    if (!execute)
        return;
    const char **ids = NULL;
    size_t count = execute->n_contract_ids;
    if (execute->all) {
        int phase = -1;
        if (*execute->phase && (phase = fac_phase_parse (execute->phase)) < 0) {
            ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                                "phase \"%s\" is not P00..P09", execute->phase);
            goto cleanup;
        }
        ids = s_active_ids (self, phase, &count);
    }
    if (count > self->max_contracts_per_request) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "EXECUTE names %zu contracts: more than max_contracts_per_request "
                            "(%zu); split the batch", count, self->max_contracts_per_request);
        goto cleanup;
    }
    if (s_check_digests (self, rpc, request, execute) != 0)
        goto cleanup;
    fac_batch_request_t batch = {
        .contract_ids = ids ? ids : (const char *const *) execute->contract_ids,
        .contract_count = count,
        .input_digest = execute->input_digest,
        .inputs = execute->inputs,
        .input_count = execute->n_inputs,
        .params_json = execute->params_json,
        .no_cache = execute->no_cache,
        .max_parallel = execute->max_parallel,
        .plan_id = execute->plan_id,
    };
    fac_sink_t *sink = fac_reply_sink_new (ff_rpc_defer (rpc, request),
                                           execute->batch_results ? self->flusher : NULL);
    uint32_t code = 0;
    char err [256];
    int rc = fac_engine_execute (self->engine, &batch, sink, &code, err, sizeof err);
    if (rc == -2) {
        Farfan__NeedDocument need = FARFAN__NEED_DOCUMENT__INIT;
        need.digest = execute->input_digest;
        ff_reply_send (fac_reply_sink_reply (sink), FARFAN__MESSAGE_TYPE__NEED_DOCUMENT, &need.base);
        fac_reply_sink_destroy (&sink);
    }
    else
    if (rc == -1) {
        ff_reply_error (fac_reply_sink_reply (sink), code, "%s", err);
        fac_reply_sink_destroy (&sink);
    }

cleanup:
    free (ids);
    farfan__execute__free_unpacked (execute, NULL);
}

static void
s_handle_capabilities (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    Farfan__Capabilities caps;
    s_capabilities ((fac_server_t *) service, &caps);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__CAPABILITIES_REPLY, &caps.base);
    s_capabilities_free (&caps);
}

static void
s_handle_metrics (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    Farfan__FactoryMetrics metrics;
    fac_engine_metrics (((fac_server_t *) service)->engine, &metrics);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__METRICS_REPLY, &metrics.base);
    fac_engine_metrics_free (&metrics);
}

static void
s_handle_optimize_caches (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__OptimizeCaches *optimize = (Farfan__OptimizeCaches *)
        ff_rpc_unpack (rpc, request, &farfan__optimize_caches__descriptor);
    if (!optimize)
        return;
    Farfan__CacheOptimization reply;
    fac_engine_optimize_caches (self->engine, optimize->apply, &reply);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES_REPLY, &reply.base);
    fac_engine_optimization_free (&reply);
    farfan__optimize_caches__free_unpacked (optimize, NULL);
}

//  Reason a contract id was rejected at load, or NULL.
static const char *
s_invalid_reason (fac_server_t *self, const char *id)
{
    size_t stored = self->report.count < self->report.capacity ? self->report.count
                                                               : self->report.capacity;
    for (size_t i = stored; i-- > 0; )
        if (streq (self->report.errors [i].contract_id, id))
            return self->report.errors [i].reason;
    return NULL;
}

static void
s_conflict_add (Farfan__SyncReply *reply, const char *kind, const char *detail,
                char **ids, size_t id_count)
{
    Farfan__Conflict *conflict = (Farfan__Conflict *) zmalloc (sizeof (Farfan__Conflict));
    farfan__conflict__init (conflict);
    conflict->kind = strdup (kind);
    conflict->detail = strdup (detail);
    conflict->ids = ids;
    conflict->n_ids = id_count;
    reply->conflicts = (Farfan__Conflict **) realloc (reply->conflicts,
                                                      (reply->n_conflicts + 1) * sizeof (Farfan__Conflict *));
    reply->conflicts [reply->n_conflicts++] = conflict;
}

static void
s_adjustment_add (Farfan__SyncReply *reply, const char *kind, uint32_t value, const char *detail)
{
    Farfan__Adjustment *adjustment = (Farfan__Adjustment *) zmalloc (sizeof (Farfan__Adjustment));
    farfan__adjustment__init (adjustment);
    adjustment->kind = strdup (kind);
    adjustment->detail = strdup (detail);
    adjustment->value = value;
    reply->adjustments = (Farfan__Adjustment **) realloc (reply->adjustments,
                                                          (reply->n_adjustments + 1) * sizeof (Farfan__Adjustment *));
    reply->adjustments [reply->n_adjustments++] = adjustment;
}

static void
s_sync_reply_free (Farfan__SyncReply *reply)
{
    for (size_t i = 0; i < reply->n_conflicts; i++) {
        Farfan__Conflict *conflict = reply->conflicts [i];
        for (size_t j = 0; j < conflict->n_ids; j++)
            free (conflict->ids [j]);
        free (conflict->ids);
        free (conflict->kind);
        free (conflict->detail);
        free (conflict);
    }
    free (reply->conflicts);
    for (size_t i = 0; i < reply->n_adjustments; i++) {
        free (reply->adjustments [i]->kind);
        free (reply->adjustments [i]->detail);
        free (reply->adjustments [i]);
    }
    free (reply->adjustments);
}

//  Appends an id to a growing list.
static void
s_id_add (char ***ids, size_t *count, const char *id)
{
    *ids = (char **) realloc (*ids, (*count + 1) * sizeof (char *));
    (*ids) [(*count)++] = strdup (id);
}

static void
s_handle_sync (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__SyncRequest *sync = (Farfan__SyncRequest *)
        ff_rpc_unpack (rpc, request, &farfan__sync_request__descriptor);
    if (!sync)
        return;
    Farfan__SyncReply reply = FARFAN__SYNC_REPLY__INIT;
    const char *our_digest = fac_contract_set_digest (self->contracts);
    reply.contract_set_digest = (char *) our_digest;
    char detail [256];
    if (sync->by_digest && !streq (sync->contract_set_digest, our_digest)) {
        //  No list to check against: the orchestrator sends it next.
        snprintf (detail, sizeof detail, "expected set %.24s…, this factory has %.24s…: "
                  "SYNC with the contracts list", sync->contract_set_digest, our_digest);
        s_conflict_add (&reply, "digest_mismatch", detail, NULL, 0);
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SYNC_REPLY, &reply.base);
        s_sync_reply_free (&reply);
        farfan__sync_request__free_unpacked (sync, NULL);
        return;
    }
    int by_digest_phase = -1;
    if (sync->by_digest && (by_digest_phase = fac_phase_parse (sync->phase)) < 0) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "phase \"%s\" is not P00..P09", sync->phase);
        farfan__sync_request__free_unpacked (sync, NULL);
        return;
    }
    char **missing = NULL, **stale = NULL, **unsupported = NULL;
    size_t missing_count = 0, stale_count = 0, unsupported_count = 0;
    const char **present = NULL;
    size_t present_count = 0;
    if (sync->by_digest)
        present = s_active_ids (self, by_digest_phase, &present_count);
    else
        present = (const char **) calloc (sync->n_contracts + 1, sizeof (char *));
    for (size_t i = 0; i < sync->n_contracts && !sync->by_digest; i++) {
        const Farfan__ContractRef *ref = sync->contracts [i];
        fac_contract_t *contract = fac_contract_set_lookup (self->contracts, ref->id);
        if (!contract) {
            const char *reason = s_invalid_reason (self, ref->id);
            if (reason && strstr (reason, "unknown method"))
                s_id_add (&unsupported, &unsupported_count, ref->id);
            else
                s_id_add (&missing, &missing_count, ref->id);
        }
        else
        if (*ref->digest && !streq (ref->digest, contract->digest))
            s_id_add (&stale, &stale_count, ref->id);
        else
            present [present_count++] = contract->id;
    }
    if (missing_count) {
        snprintf (detail, sizeof detail, "%zu contract%s of phase %s not loaded here",
                  missing_count, missing_count == 1 ? "" : "s", sync->phase);
        s_conflict_add (&reply, "missing_contracts", detail, missing, missing_count);
    }
    if (stale_count) {
        snprintf (detail, sizeof detail, "%zu contract%s loaded here differ from the expected definition",
                  stale_count, stale_count == 1 ? "" : "s");
        s_conflict_add (&reply, "stale_contracts", detail, stale, stale_count);
    }
    if (unsupported_count) {
        snprintf (detail, sizeof detail, "%zu contract%s use methods this factory does not have",
                  unsupported_count, unsupported_count == 1 ? "" : "s");
        s_conflict_add (&reply, "unsupported_methods", detail, unsupported, unsupported_count);
    }
    char reasons [4][160];
    size_t reason_count;
    const char *health = s_health (self, reasons, &reason_count);
    if (streq (health, "unhealthy"))
        s_conflict_add (&reply, "unhealthy", reason_count ? reasons [0] : "unhealthy", NULL, 0);
    //  Informational: the sets differ, yet every contract the phase needs
    //  may match (this factory can hold more). Not blocking on its own.
    bool blocking = reply.n_conflicts > 0;
    if (*sync->contract_set_digest && !streq (sync->contract_set_digest, our_digest)) {
        snprintf (detail, sizeof detail, "expected set %.24s…, this factory has %.24s…",
                  sync->contract_set_digest, our_digest);
        s_conflict_add (&reply, "digest_mismatch", detail, NULL, 0);
    }
    reply.success = !blocking;

    //  Adjustments: in-flight cap from our capacity, batch size, prewarm.
    //  The cap keeps the pool busy without queueing more than about two
    //  batches of CPU work (two per worker at least), plus every waiting
    //  contract of the phase: those hold no thread, only a timer or a child.
    reply.batch_size = s_batch_size (self);
    size_t waiting = 0;
    for (size_t i = 0; i < present_count; i++) {
        fac_contract_t *contract = fac_contract_set_lookup (self->contracts, present [i]);
        if (contract && fac_plan_is_waiting (contract))
            waiting++;
    }
    size_t cpu_capacity = 2 * self->max_workers;
    if (cpu_capacity < 2 * (size_t) reply.batch_size)
        cpu_capacity = 2 * (size_t) reply.batch_size;
    size_t limit = self->max_pending ? self->max_pending : 1;
    size_t total = cpu_capacity + waiting;
    uint32_t capacity = (uint32_t) (total < limit ? total : limit);
    uint32_t cap = capacity;
    if (sync->worker_budget && sync->worker_budget < capacity)
        cap = sync->worker_budget;
    if (sync->worker_budget != cap) {
        snprintf (detail, sizeof detail, "worker budget %u, this factory runs %zu workers "
                  "(batches of %u) and %zu of the phase's contracts wait: in-flight cap %u",
                  sync->worker_budget, self->max_workers, reply.batch_size, waiting, cap);
        s_adjustment_add (&reply, "in_flight_cap", cap, detail);
    }
    reply.in_flight_cap = cap;
    snprintf (detail, sizeof detail, "batches of %u contracts take about %.0f ms here",
              reply.batch_size, self->target_batch_ms);
    s_adjustment_add (&reply, "batch_size", reply.batch_size, detail);
    reply.prewarmed = (uint32_t) fac_engine_prewarm (self->engine, present, present_count);
    if (reply.prewarmed) {
        snprintf (detail, sizeof detail, "compiling %u contracts of phase %s ahead",
                  reply.prewarmed, sync->phase);
        s_adjustment_add (&reply, "prewarm", reply.prewarmed, detail);
    }
    ff_log (FF_LOG_DEBUG, ff_msg_peer (request), ff_msg_correlation_id (request),
            "sync %s %s: %zu conflicts, cap %u, batch %u", sync->run_id, sync->phase,
            reply.n_conflicts, reply.in_flight_cap, reply.batch_size);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SYNC_REPLY, &reply.base);
    free (present);
    s_sync_reply_free (&reply);
    farfan__sync_request__free_unpacked (sync, NULL);
}

static void
s_handle_plan (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__PlanRequest *plan_request = (Farfan__PlanRequest *)
        ff_rpc_unpack (rpc, request, &farfan__plan_request__descriptor);
    if (!plan_request)
        return;
    const char **ids = NULL;
    size_t count = plan_request->n_contract_ids;
    if (plan_request->all) {
        int phase = -1;
        if (*plan_request->phase && (phase = fac_phase_parse (plan_request->phase)) < 0) {
            ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                                "phase \"%s\" is not P00..P09", plan_request->phase);
            farfan__plan_request__free_unpacked (plan_request, NULL);
            return;
        }
        ids = s_active_ids (self, phase, &count);
    }
    fac_plan_limits_t limits = {
        .workers = self->max_workers, .parallel = self->parallel,
        .batch_threshold = self->batch_threshold, .batch_size = s_batch_size (self),
        .estimates_only = plan_request->estimates_only,
    };
    Farfan__ExecutionPlan plan = FARFAN__EXECUTION_PLAN__INIT;
    fac_plan_build (self->contracts, fac_engine_durations (self->engine),
                    ids ? ids : (const char *const *) plan_request->contract_ids, count,
                    plan_request->max_parallel, plan_request->time_budget_s, &limits, &plan);
    char plan_id [96];
    snprintf (plan_id, sizeof plan_id, "%s-plan-%llu", ff_service_info (self->service)->instance_id,
              (unsigned long long) ++self->plan_sequence);
    plan.plan_id = plan_id;
    fac_engine_remember_plan (self->engine, plan_id, plan.estimated_duration_s);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__PLAN_REPLY, &plan.base);
    plan.plan_id = NULL;
    fac_plan_free (&plan);
    free (ids);
    farfan__plan_request__free_unpacked (plan_request, NULL);
}

typedef struct {
    Farfan__DurationEstimate **items;
    size_t count;
    size_t capacity;
} s_durations_t;

static void
s_collect_duration (const char *key, double ewma_us, uint64_t samples, void *arg)
{
    s_durations_t *list = (s_durations_t *) arg;
    if (list->count == list->capacity)
        return;
    Farfan__DurationEstimate *item = (Farfan__DurationEstimate *) zmalloc (sizeof (Farfan__DurationEstimate));
    farfan__duration_estimate__init (item);
    item->key = strdup (key);
    item->ewma_us = ewma_us;
    item->samples = samples;
    list->items [list->count++] = item;
}

static void
s_handle_snapshot (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__Snapshot snapshot = FARFAN__SNAPSHOT__INIT;
    Farfan__FactoryMetrics metrics;
    Farfan__Capabilities caps;
    fac_engine_metrics (self->engine, &metrics);
    s_capabilities (self, &caps);
    snapshot.taken_at_us = ff_clock_wall_us ();
    snapshot.factory_id = caps.factory_id;
    snapshot.contract_set_digest = caps.contract_set_digest;
    snapshot.metrics = &metrics;
    snapshot.capabilities = &caps;
    const char *hot [64];
    snapshot.n_hot_contracts = fac_engine_hot_contracts (self->engine, hot, 64);
    snapshot.hot_contracts = (char **) hot;
    fac_durations_t *durations = fac_engine_durations (self->engine);
    s_durations_t list = { .capacity = fac_durations_size (durations) };
    list.items = (Farfan__DurationEstimate **) calloc (list.capacity ? list.capacity : 1,
                                                       sizeof (Farfan__DurationEstimate *));
    if (list.items)
        fac_durations_foreach (durations, s_collect_duration, &list);
    snapshot.durations = list.items;
    snapshot.n_durations = list.count;
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__SNAPSHOT_REPLY, &snapshot.base);
    for (size_t i = 0; i < list.count; i++) {
        free (list.items [i]->key);
        free (list.items [i]);
    }
    free (list.items);
    s_capabilities_free (&caps);
    fac_engine_metrics_free (&metrics);
}

static void
s_handle_restore (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__Snapshot *snapshot = (Farfan__Snapshot *) ff_rpc_unpack (rpc, request, &farfan__snapshot__descriptor);
    if (!snapshot)
        return;
    Farfan__RestoreReply reply = FARFAN__RESTORE_REPLY__INIT;
    char *warnings [3];
    char warning [256];
    fac_durations_t *durations = fac_engine_durations (self->engine);
    size_t refused = 0;
    for (size_t i = 0; i < snapshot->n_durations; i++) {
        const Farfan__DurationEstimate *item = snapshot->durations [i];
        if (fac_durations_load (durations, item->key, item->ewma_us, item->samples) == 0)
            reply.durations_restored++;
        else
            refused++;
    }
    reply.prewarmed = (uint32_t) fac_engine_prewarm (self->engine,
        (const char *const *) snapshot->hot_contracts, snapshot->n_hot_contracts);
    const char *digest = fac_contract_set_digest (self->contracts);
    if (*snapshot->contract_set_digest && !streq (snapshot->contract_set_digest, digest)) {
        snprintf (warning, sizeof warning, "the snapshot was taken with contract set %.24s…, "
                  "this factory has %.24s…: durations of changed contracts may be off",
                  snapshot->contract_set_digest, digest);
        warnings [reply.n_warnings++] = strdup (warning);
    }
    if (refused) {
        snprintf (warning, sizeof warning, "%zu duration entries refused (invalid or table full)",
                  refused);
        warnings [reply.n_warnings++] = strdup (warning);
    }
    reply.warnings = warnings;
    ff_log_info ("restored %u durations, prewarming %u contracts from a snapshot of %s",
                 reply.durations_restored, reply.prewarmed, snapshot->factory_id);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__RESTORE_REPLY, &reply.base);
    for (size_t i = 0; i < reply.n_warnings; i++)
        free (warnings [i]);
    farfan__snapshot__free_unpacked (snapshot, NULL);
}

static void
s_update_contract_gauges (fac_server_t *self)
{
    ff_gauge_set (self->loaded_gauge, (double) fac_contract_set_size (self->contracts));
    ff_gauge_set (self->invalid_gauge, (double) self->report.count);
}

static void
s_handle_put_contracts (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    fac_server_t *self = (fac_server_t *) service;
    Farfan__PutContracts *put = (Farfan__PutContracts *)
        ff_rpc_unpack (rpc, request, &farfan__put_contracts__descriptor);
    if (!put)
        return;
    if (put->n_contracts_json > self->max_contracts_per_request) {
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "PUT_CONTRACTS carries %zu contracts: more than "
                            "max_contracts_per_request (%zu); send them in parts",
                            put->n_contracts_json, self->max_contracts_per_request);
        farfan__put_contracts__free_unpacked (put, NULL);
        return;
    }
    Farfan__PutContractsReply reply = FARFAN__PUT_CONTRACTS_REPLY__INIT;
    fac_load_report_t report;
    fac_load_report_init (&report, S_LOAD_ERRORS_KEPT);
    for (size_t i = 0; i < put->n_contracts_json; i++) {
        char source [48];
        snprintf (source, sizeof source, "put_contracts[%zu]", i);
        size_t errors_before = report.count;
        int added = fac_contract_set_add_json (self->contracts, put->contracts_json [i],
                                               strlen (put->contracts_json [i]), source, &report);
        reply.accepted += added > 0 ? (uint32_t) added : 0;
        reply.rejected += report.count > errors_before ? 1 : 0;
    }
    reply.errors = s_load_errors (&report, &reply.n_errors);
    reply.contract_set_digest = (char *) fac_contract_set_digest (self->contracts);
    reply.total_contracts = (uint32_t) fac_contract_set_size (self->contracts);
    s_update_contract_gauges (self);
    ff_log_info ("put_contracts: %u accepted, %u rejected, set %s", reply.accepted,
                 reply.rejected, reply.contract_set_digest);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY, &reply.base);
    s_load_errors_free (reply.errors, reply.n_errors);
    fac_load_report_free (&report);
    farfan__put_contracts__free_unpacked (put, NULL);
}

//  Message types the factory handles beyond PING (answered by ff_rpc).
static const ff_rpc_route_t s_routes [] = {
    { FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, s_handle_put_document },
    { FARFAN__MESSAGE_TYPE__EXECUTE, s_handle_execute },
    { FARFAN__MESSAGE_TYPE__CAPABILITIES, s_handle_capabilities },
    { FARFAN__MESSAGE_TYPE__METRICS, s_handle_metrics },
    { FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES, s_handle_optimize_caches },
    { FARFAN__MESSAGE_TYPE__SYNC, s_handle_sync },
    { FARFAN__MESSAGE_TYPE__PLAN, s_handle_plan },
    { FARFAN__MESSAGE_TYPE__SNAPSHOT, s_handle_snapshot },
    { FARFAN__MESSAGE_TYPE__RESTORE, s_handle_restore },
    { FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, s_handle_put_contracts },
    { 0, NULL },
};

//  ---------------------------------------------------------------------
//  Construction

//  Splits exec_allowed into the method environment.
static void
s_parse_exec_allowed (fac_server_t *self, const char *list)
{
    char *copy = strdup (list ? list : "");
    char *saveptr = NULL;
    for (char *item = strtok_r (copy, ",", &saveptr); item; item = strtok_r (NULL, ",", &saveptr)) {
        while (*item == ' ')
            item++;
        if (!*item)
            continue;
        self->exec_allowed = (char **) realloc (self->exec_allowed,
                                                (self->exec_allowed_count + 1) * sizeof (char *));
        self->exec_allowed [self->exec_allowed_count++] = strdup (item);
    }
    free (copy);
    self->env.exec_allowed = (const char *const *) self->exec_allowed;
    self->env.exec_allowed_count = self->exec_allowed_count;
}

//  Loads contracts_dir; logs every error. Returns -1 when strict and any
//  contract is invalid (or the directory is unreadable).
static int
s_load_contracts (fac_server_t *self, const fac_config_t *config, char *err, size_t err_size)
{
    if (!*config->contracts_dir)
        return 0;
    int added = fac_contract_set_load_dir (self->contracts, config->contracts_dir, &self->report);
    if (added < 0) {
        snprintf (err, err_size, "contracts_dir %s cannot be read", config->contracts_dir);
        return -1;
    }
    size_t stored = self->report.count < self->report.capacity ? self->report.count
                                                               : self->report.capacity;
    for (size_t i = 0; i < stored; i++) {
        const fac_load_error_t *error = &self->report.errors [i];
        ff_log_warn ("invalid contract %s%s%s: %s: %s", error->file,
                     *error->contract_id ? " " : "", error->contract_id,
                     *error->field ? error->field : "(document)", error->reason);
    }
    ff_log_info ("loaded %d contracts from %s (%zu invalid), set %s", added,
                 config->contracts_dir, self->report.count,
                 fac_contract_set_digest (self->contracts));
    if (config->strict && self->report.count > 0) {
        snprintf (err, err_size, "--strict: %zu invalid contract definition%s in %s "
                  "(first: %s: %s)", self->report.count, self->report.count == 1 ? "" : "s",
                  config->contracts_dir, self->report.errors [0].file, self->report.errors [0].reason);
        return -1;
    }
    return 0;
}

//  The orchestrator link's view of the factory (fac_link callbacks).
static void
s_link_capabilities (Farfan__Capabilities *caps, void *arg)
{
    s_capabilities ((fac_server_t *) arg, caps);
}

static void
s_link_capabilities_free (Farfan__Capabilities *caps, void *arg)
{
    (void) arg;
    s_capabilities_free (caps);
}

static uint32_t
s_link_in_flight (void *arg)
{
    return (uint32_t) fac_engine_pending (((fac_server_t *) arg)->engine);
}

fac_server_t *
fac_server_new (const fac_config_t *config, char *err, size_t err_size)
{
    fac_server_t *self = (fac_server_t *) zmalloc (sizeof (fac_server_t));
    fac_load_report_init (&self->report, S_LOAD_ERRORS_KEPT);
    self->max_workers = (size_t) config->max_workers;
    self->parallel = config->enable_parallel_execution;
    self->batch_threshold = (size_t) config->batch_execution_threshold;
    self->max_pending = (size_t) config->max_pending;
    self->max_contracts_per_request = (size_t) config->max_contracts_per_request;
    self->target_batch_ms = config->target_batch_ms;
    s_parse_exec_allowed (self, config->exec_allowed);
    self->service = ff_service_new ("factory", &config->service, err, err_size);
    if (!self->service)
        goto failed;
    ff_metrics_t *metrics = ff_service_metrics (self->service);
    self->loaded_gauge = ff_metrics_gauge (metrics, "farfan_contracts_loaded",
        "Valid contract definitions loaded", NULL);
    self->invalid_gauge = ff_metrics_gauge (metrics, "farfan_contracts_invalid",
        "Contract definitions rejected at load or by PUT_CONTRACTS", NULL);
    self->contracts = fac_contract_set_new (&self->env);
    if (!self->contracts || s_load_contracts (self, config, err, err_size) != 0)
        goto failed;
    s_update_contract_gauges (self);

    fac_engine_options_t options = {
        .max_workers = self->max_workers,
        .parallel = self->parallel,
        .batch_threshold = self->batch_threshold,
        .inline_below_us = (uint32_t) config->inline_below_us,
        .max_pending = self->max_pending,
        .compiled_cache_size = (size_t) config->compiled_cache_size,
        .compiled_cache_ttl_ms = (uint64_t) config->compiled_cache_ttl_ms,
        .result_cache_size = (size_t) config->result_cache_size,
        .result_cache_bytes = (size_t) config->result_cache_bytes,
        .result_cache_ttl_ms = (uint64_t) config->result_cache_ttl_ms,
        .document_cache_count = (size_t) config->document_cache_count,
        .document_cache_bytes = (size_t) config->document_cache_bytes,
        .document_max_bytes = (size_t) config->document_max_bytes,
        .default_estimate_ms = config->default_estimate_ms,
        .env = &self->env,
    };
    self->engine = fac_engine_new (&options, ff_service_loop (self->service),
                                   metrics, err, err_size);
    if (!self->engine)
        goto failed;
    fac_engine_set_contracts (self->engine, self->contracts);
    self->flusher = fac_reply_flusher_new (ff_service_loop (self->service));

    zsock_t *direct = ff_service_socket (self->service, "direct", ZMQ_ROUTER,
                                         config->endpoint, true, err, err_size);
    if (!direct || !ff_service_serve (self->service, direct, "direct", s_routes, self))
        goto failed;
    if (*config->orchestrator_endpoint) {
        //  Created unattached: fac_link sets the reconnect options (which
        //  only apply to later connections), then connects.
        zsock_t *link = ff_service_socket (self->service, "orchestrator", ZMQ_DEALER,
                                           "", false, err, err_size);
        ff_rpc_t *link_rpc = link ? ff_service_serve (self->service, link, "orchestrator",
                                                      s_routes, self) : NULL;
        if (!link_rpc)
            goto failed;
        fac_link_options_t link_options = {
            .heartbeat_ms = (uint64_t) config->heartbeat_ms,
            .liveness = (uint32_t) config->liveness,
            .reconnect_ms = (uint64_t) config->reconnect_ms,
            .reconnect_max_ms = (uint64_t) config->reconnect_max_ms,
            .capabilities = s_link_capabilities,
            .capabilities_free = s_link_capabilities_free,
            .in_flight = s_link_in_flight,
            .arg = self,
        };
        self->link = fac_link_new (self->service, link_rpc, config->orchestrator_endpoint,
                                   &link_options, err, err_size);
        if (!self->link)
            goto failed;
    }
    if (*config->sisas_endpoint) {
        self->publisher = ff_service_publisher (self->service, config->sisas_endpoint,
                                                config->sisas_control_endpoint, err, err_size);
        if (!self->publisher)
            goto failed;
    }
    zloop_timer (ff_service_loop (self->service), S_HEALTH_INTERVAL_MS, 0, s_health_timer, self);
    return self;

failed:
    fac_server_destroy (&self);
    return NULL;
}

void
fac_server_destroy (fac_server_t **self_p)
{
    if (self_p && *self_p) {
        fac_server_t *self = *self_p;
        //  The link first: its DISCONNECT needs the socket.
        fac_link_destroy (&self->link);
        //  The engine first: it cancels timers and programs in the
        //  service's loop, which must still exist.
        fac_engine_destroy (&self->engine);
        fac_reply_flusher_destroy (&self->flusher);
        ff_service_destroy (&self->service);
        fac_contract_set_destroy (&self->contracts);
        fac_load_report_free (&self->report);
        for (size_t i = 0; i < self->exec_allowed_count; i++)
            free (self->exec_allowed [i]);
        free (self->exec_allowed);
        free (self);
        *self_p = NULL;
    }
}

void
fac_server_actor (zsock_t *pipe, void *args)
{
    fac_server_t *self = (fac_server_t *) args;
    ff_service_run (self->service, pipe);
    fac_server_destroy (&self);
}

static void *
s_daemon_server_new (const void *config, char *err, size_t err_size)
{
    return fac_server_new ((const fac_config_t *) config, err, err_size);
}

const ff_daemon_t fac_daemon = {
    .schema = &fac_config_schema,
    .config_size = sizeof (fac_config_t),
    .common_offset = offsetof (fac_config_t, service),
    .server_new = s_daemon_server_new,
    .actor = fac_server_actor,
};
