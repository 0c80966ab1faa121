/*  orc_engine — see orc_engine.h.

    State lives in three places: the store (what is durable: runs, phases,
    documents, results), the runs in memory (the active ones: queue of
    contracts to dispatch, attempts, alignment, watchers), and the
    requests in flight to factories, keyed by correlation id. A request
    names its run by id, never by pointer, so a run can end (and be freed)
    while factories still answer it.
*/
#include "orc_engine.h"
#include "orc_report.h"
#include "orc_sets.h"
#include "factory.pb-c.h"
#include "ff_clock.h"
#include "ff_log.h"
#include "ff_pbwire.h"
#include "ff_signal.h"

#include <jansson.h>
#include <math.h>
#include <msgpack.h>

//  A run lists at most this many warnings / failures / conflicts in its status.
#define S_NOTES_MAX 64

typedef enum {
    S_REQ_SYNC,
    S_REQ_PUT_CONTRACTS,                //  in alignment (SYNC follows)
    S_REQ_SHIP,                         //  PUT_CONTRACTS before re-sending a refused EXECUTE
    S_REQ_PLAN,
    S_REQ_DOCUMENT,
    S_REQ_EXECUTE,
} s_req_kind_t;

//  A worker: a registered factory, as the engine sees it.
typedef struct {
    char *id;                   // instance id
    uint32_t in_flight;         // contracts out there now
    uint32_t cap;               // in-flight cap from the last SYNC (0 = not aligned yet)
    uint32_t batch_size;        // recommended contracts per EXECUTE
    zhashx_t *documents;        // digests the factory was sent
    char set_digest [72];       // its contract set, as its last SYNC_REPLY said ("" = unknown,
                                //   or changed since by PUT_CONTRACTS)
} s_worker_t;

//  A committed result, as later phases need it (aggregation inputs).
typedef struct {
    int status;
    double score;
    double confidence;
    char *quality;
    char **missing;             // expected elements not satisfied
    size_t missing_count;
    Farfan__ContractResult *result;     // the whole result (owned copy): evidence,
                                        //   ratio, outputs for the contracts that read it
} s_done_t;

typedef struct {
    Farfan__RunConflict conflict;   // strings owned
} s_conflict_t;

typedef struct s_run s_run_t;

struct s_run {
    orc_engine_t *engine;
    char id [40];
    char *name;
    Farfan__RunState state;
    char *error;
    char digest [72];                   // the document's
    orc_set_t *set;                     // its contract set (a reference); NULL until loaded
    fac_contract_set_t *contracts;      // the set's contracts (borrowed from set)
    char *set_location;                 // where the set was loaded from ("" = the default set)
    char set_digest [72];               // the set's, as recorded at submission
    char *text;                         // the document; NULL until converted
    size_t text_size;
    orc_document_t *conversion;         // running PDF conversion
    char *conversion_arg;               // its callback's argument (freed by the callback,
                                        //   or here when the conversion is cancelled)
    int first_phase, last_phase;
    int phase;                          // current, -1 before the first
    double deadline_s;
    bool strict_deadline;
    uint32_t worker_budget;
    char *params_json;
    uint64_t submitted_at_us;           // wall
    uint64_t ended_at_us;               // wall, 0 until the run ends
    uint64_t started_mono_us;
    orc_store_phase_t phases [ORC_STORE_PHASES];
    zlistx_t *ran_on [ORC_STORE_PHASES]; // char * factories that committed results, by phase
    zhashx_t *committed;                // contract id -> s_done_t
    //  the current phase
    zlistx_t *queue;                    // char * contract ids to dispatch, longest first
    size_t share;                       // per factory in this dispatch pass (s_dispatch)
    zhashx_t *attempts;                 // contract id -> (uintptr_t) attempts so far
    zhashx_t *avoid;                    // contract id -> factory id that failed it (char *)
    zhashx_t *inflight;                 // contract id -> factory id (char *)
    zhashx_t *estimates;                // contract id -> double * (µs) from the plans
    zlistx_t *aligned;                  // factory ids ready for the phase (char *)
    size_t aligning;                    // alignment requests outstanding
    int64_t align_timer;                // -1 = none
    zlistx_t *failures;                 // char *
    zlistx_t *warnings;                 // char *
    zlistx_t *conflicts;                // s_conflict_t *
    zlistx_t *watchers;                 // ff_reply_t *
    uint64_t progress_sent_us;
    int64_t progress_timer;             // -1 = none
    uint32_t total;                     // contracts of every phase in range
    uint32_t done;
    double phase_estimate_s;
};

typedef struct {
    char correlation_id [96];
    s_req_kind_t kind;
    char run_id [40];
    int phase;
    char *factory_id;
    char **ids;                         // EXECUTE: contract ids sent; PUT_CONTRACTS: shipped
    size_t id_count;
    bool *reported;                     // EXECUTE: a result came for ids[i]
    uint32_t round;                     // SYNC: 1st or 2nd after shipping; EXECUTE: 2nd after
                                        //   shipping the definitions it was refused for
    bool by_digest;                     // SYNC: named the set instead of listing the contracts
} s_request_t;

//  A result waiting for the group commit.
typedef struct {
    char run_id [40];
    char *contract_id;
    int phase;
    int status;
    uint32_t attempts;
    char *factory_id;
    uint8_t *packed;
    size_t size;
    s_done_t done;                      // what later phases need
    double confidence;
} s_pending_t;

struct orc_engine {
    orc_engine_options_t options;
    zloop_t *loop;
    orc_store_t *store;
    orc_sets_t *sets;                   // the contract sets runs hold
    ff_publisher_t *publisher;
    ff_metrics_t *metrics;
    zhashx_t *runs;                     // run id -> s_run_t (active)
    zlistx_t *order;                    // s_run_t * in submission order (for dispatch fairness)
    zhashx_t *workers;                  // factory id -> s_worker_t
    zhashx_t *requests;                 // correlation id -> s_request_t
    zlistx_t *pending;                  // s_pending_t * waiting for the group commit
    int64_t commit_timer;               // -1 = none
    zhashx_t *unrecorded;               // run id -> s_unrecorded_t: ended runs whose end
                                        //   the store refused (a full disk), retried
    int64_t unrecorded_timer;           // the retry, every S_UNRECORDED_RETRY_MS; -1 = none
    zhashx_t *timers;                   // live timer id -> run id (char *)
    zhashx_t *submissions;              // request key -> run id (char *): resent SUBMITs
    zlistx_t *submission_keys;          // char * keys, oldest first (bounds the map)
    struct s_converted *converted;      // during orc_engine_submit's orc_document_start:
                                        //   where a synchronous conversion lands
    uint64_t sequence;
    char boot [9];                      // random per process: correlation ids of a restarted
                                        //   orchestrator (same instance id) never match its
                                        //   predecessor's, whose late replies may still come
    ff_counter_t *runs_ended [6];       // by RunState
    ff_counter_t *dispatched;
    ff_counter_t *submissions_repeated;
    ff_counter_t *committed;
    ff_counter_t *duplicates;
    ff_counter_t *unknown_replies;
    ff_counter_t *malformed_replies;
    ff_counter_t *redispatched_lost;
    ff_counter_t *retried;
    ff_counter_t *redispatched_stale;
    ff_histogram_t *commit_duration;
};

static void s_phase_start (s_run_t *run);
static void s_dispatch (orc_engine_t *self);
static void s_run_end (s_run_t *run, Farfan__RunState state, const char *error);
static void s_progress (s_run_t *run, bool force);

//  ---------------------------------------------------------------------
//  Small helpers

static const char *
s_phase_name (int phase)
{
    static const char *names [] = { "P00", "P01", "P02", "P03", "P04", "P05", "P06", "P07",
                                    "P08", "P09" };
    return phase >= 0 && phase < 10 ? names [phase] : "P??";
}

static void
s_note (zlistx_t *list, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_note (zlistx_t *list, const char *format, ...)
{
    if (zlistx_size (list) >= S_NOTES_MAX)
        return;
    char text [512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    zlistx_add_end (list, strdup (text));
}

static void
s_free_string (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_done_fini (s_done_t *done)
{
    free (done->quality);
    for (size_t i = 0; i < done->missing_count; i++)
        free (done->missing [i]);
    free (done->missing);
    if (done->result)
        farfan__contract_result__free_unpacked (done->result, NULL);
    memset (done, 0, sizeof *done);
}

static void
s_done_free (void **item)
{
    if (*item) {
        s_done_fini ((s_done_t *) *item);
        free (*item);
        *item = NULL;
    }
}

//  What later phases need from a result: its figures and the expected
//  elements it found missing (text.count_elements' output).
static void
s_done_from_result (s_done_t *done, const Farfan__ContractResult *result)
{
    memset (done, 0, sizeof *done);
    done->status = (int) result->status;
    done->score = result->score;
    done->confidence = result->confidence;
    done->quality = strdup (result->quality);
    json_t *output = *result->output_json ? json_loads (result->output_json, 0, NULL) : NULL;
    //  Micro contracts count their elements; scoring contracts take them
    //  over from their input (score.from_input).
    json_t *missing = json_object_get (json_object_get (output, "text.count_elements"),
                                       "missing_elements");
    if (json_array_size (missing) == 0)
        missing = json_object_get (json_object_get (output, "score.from_input"),
                                   "missing_elements");
    size_t count = json_array_size (missing);
    if (count) {
        done->missing = (char **) calloc (count, sizeof (char *));
        for (size_t i = 0; done->missing && i < count; i++) {
            const char *type = json_string_value (json_array_get (missing, i));
            if (type)
                done->missing [done->missing_count++] = strdup (type);
        }
    }
    json_decref (output);
    //  A private copy (the result is borrowed): pack and unpack.
    size_t size = farfan__contract_result__get_packed_size (result);
    uint8_t *packed = (uint8_t *) malloc (size ? size : 1);
    if (packed) {
        farfan__contract_result__pack (result, packed);
        done->result = farfan__contract_result__unpack (NULL, size, packed);
        free (packed);
    }
}

static s_worker_t *
s_worker (orc_engine_t *self, const char *factory_id)
{
    return (s_worker_t *) zhashx_lookup (self->workers, factory_id);
}

static void
s_worker_free (void **item)
{
    s_worker_t *worker = (s_worker_t *) *item;
    if (worker) {
        zhashx_destroy (&worker->documents);
        free (worker->id);
        free (worker);
        *item = NULL;
    }
}

static void
s_request_free (void **item)
{
    s_request_t *request = (s_request_t *) *item;
    if (!request)
        return;
    for (size_t i = 0; i < request->id_count; i++)
        free (request->ids [i]);
    free (request->ids);
    free (request->reported);
    free (request->factory_id);
    free (request);
    *item = NULL;
}

//  Sends a request to a factory and remembers it. Returns the request, or
//  NULL when the send was refused (nothing remembered).
static s_request_t *
s_request (orc_engine_t *self, s_req_kind_t kind, s_run_t *run, const char *factory_id,
           uint32_t type, const ProtobufCMessage *body)
{
    s_request_t *request = (s_request_t *) zmalloc (sizeof (s_request_t));
    snprintf (request->correlation_id, sizeof request->correlation_id, "%.48s-%s-%llu",
              self->options.instance_id, self->boot, (unsigned long long) ++self->sequence);
    request->kind = kind;
    if (run) {
        snprintf (request->run_id, sizeof request->run_id, "%s", run->id);
        request->phase = run->phase;
    }
    request->factory_id = strdup (factory_id);
    if (self->options.send (self->options.send_arg, factory_id, type, request->correlation_id,
                            body) != 0) {
        void *item = request;
        s_request_free (&item);
        return NULL;
    }
    zhashx_insert (self->requests, request->correlation_id, request);
    return request;
}

static s_run_t *
s_run (orc_engine_t *self, const char *run_id)
{
    return (s_run_t *) zhashx_lookup (self->runs, run_id);
}

//  ---------------------------------------------------------------------
//  Timers (through a registry of live ids: CZMQ 4.2's zloop still fires a
//  timer cancelled earlier in the same loop pass)

static size_t
s_id_hash (const void *key)
{
    return (size_t) (uintptr_t) key;
}

static int
s_id_compare (const void *a, const void *b)
{
    return (uintptr_t) a < (uintptr_t) b ? -1 : (uintptr_t) a > (uintptr_t) b;
}

static int64_t
s_timer_add (orc_engine_t *self, size_t delay_ms, zloop_timer_fn *handler, const char *run_id)
{
    int id = zloop_timer (self->loop, delay_ms, 1, handler, self);
    if (id >= 0)
        zhashx_insert (self->timers, (void *) (uintptr_t) (unsigned) id, strdup (run_id ? run_id : ""));
    return id;
}

static void
s_timer_end (orc_engine_t *self, int64_t *timer_id)
{
    if (*timer_id < 0)
        return;
    zloop_timer_end (self->loop, (int) *timer_id);
    zhashx_delete (self->timers, (void *) (uintptr_t) (unsigned) *timer_id);
    *timer_id = -1;
}

//  The run id a firing timer was set for (caller frees), or NULL when the
//  timer was cancelled.
static char *
s_timer_fired (orc_engine_t *self, int timer_id)
{
    void *key = (void *) (uintptr_t) (unsigned) timer_id;
    char *run_id = (char *) zhashx_lookup (self->timers, key);
    if (!run_id)
        return NULL;
    char *copy = strdup (run_id);
    zhashx_delete (self->timers, key);
    return copy;
}

//  ---------------------------------------------------------------------
//  Signals to SISAS (never blocking, never failing a run)

//  A msgpack map {key: unsigned, ...} for signal payloads. count pairs.
static size_t
s_payload (uint8_t *buffer, size_t size, size_t count, const char *const *keys,
           const uint64_t *values)
{
    msgpack_sbuffer sbuffer;
    msgpack_sbuffer_init (&sbuffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &sbuffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, count);
    for (size_t i = 0; i < count; i++) {
        msgpack_pack_str_with_body (&packer, keys [i], strlen (keys [i]));
        msgpack_pack_uint64 (&packer, values [i]);
    }
    size_t used = sbuffer.size <= size ? sbuffer.size : 0;
    if (used)
        memcpy (buffer, sbuffer.data, used);
    msgpack_sbuffer_destroy (&sbuffer);
    return used;
}

static void
s_signal (orc_engine_t *self, const char *type, const char *subject, int phase,
          double confidence, const uint8_t *payload, size_t payload_size)
{
    if (!self->publisher)
        return;
    ff_signal_t signal;
    ff_signal_init (&signal);
    snprintf (signal.type, sizeof signal.type, "%s", type);
    snprintf (signal.subject, sizeof signal.subject, "%s", subject);
    signal.phase = phase;
    if (isfinite (confidence))
        signal.confidence = confidence < 0 ? 0 : confidence > 1 ? 1 : confidence;
    signal.payload = payload_size ? payload : NULL;
    signal.payload_size = payload_size;
    ff_publisher_send (self->publisher, &signal);     //  a drop is counted there
}

//  ---------------------------------------------------------------------
//  Runs in memory

static s_run_t *
s_run_new (orc_engine_t *self, const orc_store_run_t *record)
{
    s_run_t *run = (s_run_t *) zmalloc (sizeof (s_run_t));
    run->engine = self;
    snprintf (run->id, sizeof run->id, "%s", record->id);
    run->name = strdup (record->name ? record->name : "");
    run->state = record->state;
    run->error = strdup (record->error ? record->error : "");
    snprintf (run->digest, sizeof run->digest, "%s", record->document_digest ? record->document_digest : "");
    run->set_location = strdup (record->contract_set ? record->contract_set : "");
    snprintf (run->set_digest, sizeof run->set_digest, "%s",
              record->contract_set_digest ? record->contract_set_digest : "");
    run->first_phase = (int) record->first_phase;
    run->last_phase = (int) record->last_phase;
    run->phase = -1;
    run->deadline_s = record->deadline_s;
    run->strict_deadline = record->strict_deadline;
    run->worker_budget = record->worker_budget;
    run->params_json = strdup (record->params_json ? record->params_json : "");
    run->submitted_at_us = record->submitted_at_us;
    run->started_mono_us = ff_clock_mono_us ();
    for (int p = 0; p < ORC_STORE_PHASES; p++) {
        run->phases [p].phase = (uint32_t) p;
        run->phases [p].state = FARFAN__PHASE_STATE__PHASE_PENDING;
    }
    run->committed = zhashx_new ();
    zhashx_set_destructor (run->committed, s_done_free);
    run->queue = zlistx_new ();
    zlistx_set_destructor (run->queue, s_free_string);
    run->attempts = zhashx_new ();
    run->avoid = zhashx_new ();
    zhashx_set_destructor (run->avoid, s_free_string);
    run->inflight = zhashx_new ();
    zhashx_set_destructor (run->inflight, s_free_string);
    run->estimates = zhashx_new ();
    zhashx_set_destructor (run->estimates, s_free_string);
    run->aligned = zlistx_new ();
    zlistx_set_destructor (run->aligned, s_free_string);
    zlistx_set_comparator (run->aligned, (zlistx_comparator_fn *) strcmp);
    run->failures = zlistx_new ();
    zlistx_set_destructor (run->failures, s_free_string);
    run->warnings = zlistx_new ();
    zlistx_set_destructor (run->warnings, s_free_string);
    run->conflicts = zlistx_new ();
    run->watchers = zlistx_new ();
    for (int p = 0; p < ORC_STORE_PHASES; p++) {
        run->ran_on [p] = zlistx_new ();
        zlistx_set_destructor (run->ran_on [p], s_free_string);
        zlistx_set_comparator (run->ran_on [p], (zlistx_comparator_fn *) strcmp);
    }
    run->align_timer = -1;
    run->progress_timer = -1;
    zhashx_insert (self->runs, run->id, run);
    zlistx_add_end (self->order, run);
    return run;
}

static void
s_conflicts_free (zlistx_t *conflicts)
{
    s_conflict_t *item;
    while ((item = (s_conflict_t *) zlistx_first (conflicts))) {
        zlistx_delete (conflicts, zlistx_cursor (conflicts));
        free (item->conflict.factory);
        free (item->conflict.phase);
        free (item->conflict.kind);
        free (item->conflict.detail);
        free (item);
    }
}

//  Forgets a run (it ended, or the engine stops). Watchers get nothing more.
static void
s_run_free (s_run_t *run)
{
    orc_engine_t *self = run->engine;
    s_timer_end (self, &run->align_timer);
    s_timer_end (self, &run->progress_timer);
    if (run->conversion) {
        orc_document_cancel (&run->conversion);
        free (run->conversion_arg);
        run->conversion_arg = NULL;
    }
    ff_reply_t *reply;
    while ((reply = (ff_reply_t *) zlistx_first (run->watchers))) {
        zlistx_delete (run->watchers, zlistx_cursor (run->watchers));
        ff_reply_destroy (&reply);
    }
    zlistx_destroy (&run->watchers);
    for (int p = 0; p < ORC_STORE_PHASES; p++)
        zlistx_destroy (&run->ran_on [p]);
    s_conflicts_free (run->conflicts);
    zlistx_destroy (&run->conflicts);
    zlistx_destroy (&run->warnings);
    zlistx_destroy (&run->failures);
    zlistx_destroy (&run->aligned);
    zhashx_destroy (&run->estimates);
    zhashx_destroy (&run->inflight);
    zhashx_destroy (&run->avoid);
    zhashx_destroy (&run->attempts);
    zlistx_destroy (&run->queue);
    zhashx_destroy (&run->committed);
    void *handle = zlistx_find (self->order, run);
    if (handle)
        zlistx_delete (self->order, handle);
    zhashx_delete (self->runs, run->id);
    orc_sets_release (self->sets, &run->set);
    free (run->set_location);
    free (run->params_json);
    free (run->error);
    free (run->name);
    free (run->text);
    free (run);
}

static void
s_run_persist_phase (s_run_t *run, int phase)
{
    if (orc_store_phase_put (run->engine->store, run->id, &run->phases [phase]) != 0)
        ff_log_warn ("run %s: cannot record phase %s: %s", run->id, s_phase_name (phase),
                     orc_store_error (run->engine->store));
}

//  ---------------------------------------------------------------------
//  Status

//  A run that ended while the store could not record it (a full disk):
//  what clients were told, kept until the store takes it, so that STATUS,
//  WATCH and LIST never show the run as still running (the store's
//  record) once it has ended. Until then a restart resumes it.
typedef struct {
    Farfan__RunState state;
    char *error;
    uint64_t ended_at_us;
    bool has_phase;                     // the phase the end closed, to record too
    orc_store_phase_t phase;
} s_unrecorded_t;


static void
s_status_fill (s_run_t *run, Farfan__RunStatus *status, bool with_phases)
{
    farfan__run_status__init (status);
    status->run_id = strdup (run->id);
    status->name = strdup (run->name);
    status->state = run->state;
    status->error = strdup (run->error);
    status->current_phase = strdup (run->phase >= 0 ? s_phase_name (run->phase) : "");
    status->submitted_at_us = run->submitted_at_us;
    status->ended_at_us = run->ended_at_us;
    status->document_digest = strdup (run->digest);
    status->contract_set_digest = strdup (run->set_digest);
    status->total = run->total;
    status->done = run->done;
    if (run->phase >= 0 && run->phase_estimate_s > 0) {
        orc_store_phase_t *phase = &run->phases [run->phase];
        double left = phase->total ? 1.0 - (double) phase->done / phase->total : 0;
        status->eta_s = run->phase_estimate_s * left;
    }
    if (with_phases) {
        int count = run->last_phase - run->first_phase + 1;
        status->phases = (Farfan__PhaseStatus **) calloc ((size_t) count, sizeof (Farfan__PhaseStatus *));
        for (int p = run->first_phase; status->phases && p <= run->last_phase; p++) {
            const orc_store_phase_t *record = &run->phases [p];
            Farfan__PhaseStatus *phase = (Farfan__PhaseStatus *) zmalloc (sizeof (Farfan__PhaseStatus));
            farfan__phase_status__init (phase);
            phase->phase = strdup (s_phase_name (p));
            phase->state = record->state;
            phase->total = record->total;
            phase->done = record->done;
            phase->failed = record->failed;
            phase->from_cache = record->from_cache;
            phase->started_at_us = record->started_at_us;
            phase->ended_at_us = record->ended_at_us;
            phase->estimated_s = record->estimated_s;
            //  The running phase: the factories aligned for it; an ended
            //  one: those that ran its contracts (this process's memory).
            zlistx_t *factories = p == run->phase && record->state != FARFAN__PHASE_STATE__PHASE_SUCCEEDED
                                ? run->aligned : run->ran_on [p];
            if (factories && zlistx_size (factories)) {
                phase->factories = (char **) calloc (zlistx_size (factories) + 1, sizeof (char *));
                for (char *id = (char *) zlistx_first (factories); id && phase->factories;
                     id = (char *) zlistx_next (factories))
                    phase->factories [phase->n_factories++] = strdup (id);
            }
            status->phases [status->n_phases++] = phase;
        }
    }
    status->warnings = (char **) calloc (zlistx_size (run->warnings) + 1, sizeof (char *));
    for (char *text = (char *) zlistx_first (run->warnings); text && status->warnings;
         text = (char *) zlistx_next (run->warnings))
        status->warnings [status->n_warnings++] = strdup (text);
    status->failures = (char **) calloc (zlistx_size (run->failures) + 1, sizeof (char *));
    for (char *text = (char *) zlistx_first (run->failures); text && status->failures;
         text = (char *) zlistx_next (run->failures))
        status->failures [status->n_failures++] = strdup (text);
    status->conflicts = (Farfan__RunConflict **) calloc (zlistx_size (run->conflicts) + 1,
                                                         sizeof (Farfan__RunConflict *));
    for (s_conflict_t *item = (s_conflict_t *) zlistx_first (run->conflicts);
         item && status->conflicts; item = (s_conflict_t *) zlistx_next (run->conflicts)) {
        Farfan__RunConflict *copy = (Farfan__RunConflict *) zmalloc (sizeof (Farfan__RunConflict));
        farfan__run_conflict__init (copy);
        copy->factory = strdup (item->conflict.factory);
        copy->phase = strdup (item->conflict.phase);
        copy->kind = strdup (item->conflict.kind);
        copy->detail = strdup (item->conflict.detail);
        copy->resolved = item->conflict.resolved;
        status->conflicts [status->n_conflicts++] = copy;
    }
}

void
orc_engine_status_free (Farfan__RunStatus *status)
{
    free (status->run_id);
    free (status->name);
    free (status->error);
    free (status->current_phase);
    free (status->document_digest);
    free (status->contract_set_digest);
    for (size_t i = 0; i < status->n_phases; i++) {
        Farfan__PhaseStatus *phase = status->phases [i];
        free (phase->phase);
        for (size_t f = 0; f < phase->n_factories; f++)
            free (phase->factories [f]);
        free (phase->factories);
        free (phase);
    }
    free (status->phases);
    for (size_t i = 0; i < status->n_warnings; i++)
        free (status->warnings [i]);
    free (status->warnings);
    for (size_t i = 0; i < status->n_failures; i++)
        free (status->failures [i]);
    free (status->failures);
    for (size_t i = 0; i < status->n_conflicts; i++) {
        Farfan__RunConflict *conflict = status->conflicts [i];
        free (conflict->factory);
        free (conflict->phase);
        free (conflict->kind);
        free (conflict->detail);
        free (conflict);
    }
    free (status->conflicts);
    memset (status, 0, sizeof *status);
}

//  A run not in memory (ended before, or before a restart), from the store.
static int
s_status_from_store (orc_engine_t *self, const char *run_id, Farfan__RunStatus *status,
                     bool with_phases)
{
    orc_store_run_t *record = NULL;
    if (orc_store_run_get (self->store, run_id, &record) != 1)
        return -1;
    s_run_t run;
    memset (&run, 0, sizeof run);
    run.engine = self;
    snprintf (run.id, sizeof run.id, "%s", record->id);
    run.name = (char *) record->name;
    run.state = record->state;
    run.error = (char *) record->error;
    snprintf (run.digest, sizeof run.digest, "%s", record->document_digest);
    snprintf (run.set_digest, sizeof run.set_digest, "%s", record->contract_set_digest);
    run.first_phase = (int) record->first_phase;
    run.last_phase = (int) record->last_phase;
    run.phase = -1;
    run.submitted_at_us = record->submitted_at_us;
    for (int p = 0; p < ORC_STORE_PHASES; p++) {
        run.phases [p].phase = (uint32_t) p;
        run.phases [p].state = FARFAN__PHASE_STATE__PHASE_PENDING;
    }
    orc_store_phase_t phases [ORC_STORE_PHASES];
    int count = orc_store_phase_list (self->store, run_id, phases);
    for (int i = 0; i < count; i++) {
        run.phases [phases [i].phase] = phases [i];
        run.total += phases [i].total;
        run.done += phases [i].done;
    }
    //  An end the store has not taken yet is what clients were told.
    s_unrecorded_t *unrecorded = (s_unrecorded_t *) zhashx_lookup (self->unrecorded, run_id);
    uint64_t ended_at_us = record->ended_at_us;
    if (unrecorded) {
        run.state = unrecorded->state;
        run.error = unrecorded->error;
        ended_at_us = unrecorded->ended_at_us;
        if (unrecorded->has_phase)
            run.phases [unrecorded->phase.phase] = unrecorded->phase;
    }
    zlistx_t *empty = zlistx_new ();
    run.aligned = run.warnings = run.failures = run.conflicts = empty;
    s_status_fill (&run, status, with_phases);
    status->ended_at_us = ended_at_us;
    zlistx_destroy (&empty);
    orc_store_run_destroy (&record);
    return 0;
}

int
orc_engine_status (orc_engine_t *self, const char *run_id, Farfan__RunStatus *status)
{
    s_run_t *run = s_run (self, run_id);
    if (run) {
        s_status_fill (run, status, true);
        return 0;
    }
    return s_status_from_store (self, run_id, status, true);
}

//  ---------------------------------------------------------------------
//  Progress to watchers

static void
s_progress_send (s_run_t *run)
{
    if (zlistx_size (run->watchers) == 0)
        return;
    Farfan__RunStatus status;
    s_status_fill (run, &status, true);
    bool final = run->state == FARFAN__RUN_STATE__RUN_SUCCEEDED
              || run->state == FARFAN__RUN_STATE__RUN_FAILED
              || run->state == FARFAN__RUN_STATE__RUN_CANCELLED;
    for (ff_reply_t *reply = (ff_reply_t *) zlistx_first (run->watchers); reply;
         reply = (ff_reply_t *) zlistx_next (run->watchers))
        ff_reply_send (reply, FARFAN__MESSAGE_TYPE__PROGRESS, &status.base);
    orc_engine_status_free (&status);
    run->progress_sent_us = ff_clock_mono_us ();
    if (final) {
        ff_reply_t *reply;
        while ((reply = (ff_reply_t *) zlistx_first (run->watchers))) {
            zlistx_delete (run->watchers, zlistx_cursor (run->watchers));
            ff_reply_destroy (&reply);      //  what waits is still sent
        }
    }
}

static int
s_progress_fired (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    orc_engine_t *self = (orc_engine_t *) arg;
    char *run_id = s_timer_fired (self, timer_id);
    s_run_t *run = run_id ? s_run (self, run_id) : NULL;
    free (run_id);
    if (run) {
        run->progress_timer = -1;
        s_progress_send (run);
    }
    return 0;
}

//  Sends progress now when forced or when the interval has passed since
//  the last; otherwise once the interval is over.
static void
s_progress (s_run_t *run, bool force)
{
    if (zlistx_size (run->watchers) == 0)
        return;
    orc_engine_t *self = run->engine;
    uint64_t interval_us = (uint64_t) self->options.watch_interval_ms * 1000;
    uint64_t since = ff_clock_mono_us () - run->progress_sent_us;
    if (force || since >= interval_us) {
        s_timer_end (self, &run->progress_timer);
        s_progress_send (run);
    }
    else
    if (run->progress_timer < 0)
        run->progress_timer = s_timer_add (self, (interval_us - since) / 1000 + 1,
                                           s_progress_fired, run->id);
}

//  ---------------------------------------------------------------------
//  Ends the store refused

//  How often an end the store refused is written again (ms).
#define S_UNRECORDED_RETRY_MS 1000

static void
s_unrecorded_free (void **item)
{
    s_unrecorded_t *unrecorded = (s_unrecorded_t *) *item;
    if (unrecorded) {
        free (unrecorded->error);
        free (unrecorded);
        *item = NULL;
    }
}

//  Writes what the store can take now; forgets what it took.
static void
s_unrecorded_retry (orc_engine_t *self)
{
    zlistx_t *ids = zhashx_keys (self->unrecorded);
    for (const char *id = (const char *) zlistx_first (ids); id;
         id = (const char *) zlistx_next (ids)) {
        s_unrecorded_t *unrecorded = (s_unrecorded_t *) zhashx_lookup (self->unrecorded, id);
        if (unrecorded->has_phase
        &&  orc_store_phase_put (self->store, id, &unrecorded->phase) == 0)
            unrecorded->has_phase = false;
        if (!unrecorded->has_phase
        &&  orc_store_run_set_state (self->store, id, unrecorded->state, unrecorded->error,
                                     unrecorded->ended_at_us) == 0) {
            ff_log_info ("run %s: its end is recorded now", id);
            zhashx_delete (self->unrecorded, id);
        }
    }
    zlistx_destroy (&ids);
}

static int
s_unrecorded_fired (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    orc_engine_t *self = (orc_engine_t *) arg;
    char *tag = s_timer_fired (self, timer_id);
    if (tag) {
        free (tag);
        self->unrecorded_timer = -1;
        s_unrecorded_retry (self);
        if (zhashx_size (self->unrecorded) > 0)
            self->unrecorded_timer = s_timer_add (self, S_UNRECORDED_RETRY_MS,
                                                  s_unrecorded_fired, "");
    }
    return 0;
}

//  Keeps the end of run (state, error, time, and the phase it closed when
//  phase ≥ 0) to record later.
static void
s_unrecorded_add (s_run_t *run, int phase)
{
    orc_engine_t *self = run->engine;
    s_unrecorded_t *unrecorded = (s_unrecorded_t *) zmalloc (sizeof (s_unrecorded_t));
    unrecorded->state = run->state;
    unrecorded->error = strdup (run->error);
    unrecorded->ended_at_us = run->ended_at_us;
    if (phase >= 0) {
        unrecorded->has_phase = true;
        unrecorded->phase = run->phases [phase];
    }
    zhashx_update (self->unrecorded, run->id, unrecorded);
    if (self->unrecorded_timer < 0)
        self->unrecorded_timer = s_timer_add (self, S_UNRECORDED_RETRY_MS, s_unrecorded_fired, "");
}

//  ---------------------------------------------------------------------
//  Ending runs and phases

static void
s_run_end (s_run_t *run, Farfan__RunState state, const char *error)
{
    orc_engine_t *self = run->engine;
    run->state = state;
    free (run->error);
    run->error = strdup (error ? error : "");
    uint64_t now = ff_clock_wall_us ();
    run->ended_at_us = now;
    //  The phase first: once the run's end is recorded, nothing of it may
    //  still say running.
    int closed = -1;
    bool phase_recorded = true;
    if (run->phase >= 0 && (run->phases [run->phase].state == FARFAN__PHASE_STATE__PHASE_RUNNING
                         || run->phases [run->phase].state == FARFAN__PHASE_STATE__PHASE_ALIGNING)) {
        run->phases [run->phase].state = state == FARFAN__RUN_STATE__RUN_CANCELLED
                                       ? FARFAN__PHASE_STATE__PHASE_CANCELLED
                                       : FARFAN__PHASE_STATE__PHASE_FAILED;
        run->phases [run->phase].ended_at_us = now;
        closed = run->phase;
        phase_recorded = orc_store_phase_put (self->store, run->id, &run->phases [closed]) == 0;
    }
    if (!phase_recorded
    ||  orc_store_run_set_state (self->store, run->id, state, run->error, now) != 0) {
        //  A full disk: kept, answered from memory, recorded when it can be.
        ff_log_error ("run %s: cannot record its end (retried every %d ms): %s", run->id,
                      S_UNRECORDED_RETRY_MS, orc_store_error (self->store));
        s_unrecorded_add (run, phase_recorded ? -1 : closed);
    }
    if ((size_t) state < sizeof self->runs_ended / sizeof self->runs_ended [0])
        ff_counter_inc (self->runs_ended [state]);
    const char *type = state == FARFAN__RUN_STATE__RUN_SUCCEEDED ? "run.completed" : "run.failed";
    s_signal (self, type, run->id, -1, NAN, NULL, 0);
    ff_log_info ("run %s %s%s%s", run->id,
                 state == FARFAN__RUN_STATE__RUN_SUCCEEDED ? "succeeded"
                 : state == FARFAN__RUN_STATE__RUN_CANCELLED ? "cancelled" : "failed",
                 *run->error ? ": " : "", run->error);
    s_progress_send (run);
    s_run_free (run);
}

static void
s_phase_end (s_run_t *run)
{
    orc_engine_t *self = run->engine;
    orc_store_phase_t *phase = &run->phases [run->phase];
    phase->ended_at_us = ff_clock_wall_us ();
    s_timer_end (self, &run->align_timer);
    const char *keys [] = { "contracts", "failed" };
    uint64_t values [] = { phase->total, phase->failed };
    uint8_t payload [128];
    size_t payload_size = s_payload (payload, sizeof payload, 2, keys, values);
    if (phase->failed > 0) {
        phase->state = FARFAN__PHASE_STATE__PHASE_FAILED;
        s_run_persist_phase (run, run->phase);
        s_signal (self, "phase.failed", run->id, run->phase, NAN, payload, payload_size);
        char error [512];
        snprintf (error, sizeof error, "phase %s: %u of %u contracts failed (see failures)",
                  s_phase_name (run->phase), phase->failed, phase->total);
        s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
        return;
    }
    phase->state = FARFAN__PHASE_STATE__PHASE_SUCCEEDED;
    s_run_persist_phase (run, run->phase);
    s_signal (self, "phase.completed", run->id, run->phase, NAN, payload, payload_size);
    ff_log_info ("run %s: phase %s done, %u contracts", run->id, s_phase_name (run->phase),
                 phase->total);
    if (run->phase >= run->last_phase) {
        s_run_end (run, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL);
        return;
    }
    run->phase++;
    s_phase_start (run);
}

//  ---------------------------------------------------------------------
//  Alignment (SYNC, PUT_CONTRACTS, PLAN, PUT_DOCUMENT)

//  The ACTIVE contracts of phase, sorted by id (borrowed). Caller frees
//  the array.
static fac_contract_t **
s_phase_contracts (s_run_t *run, int phase, size_t *count)
{
    size_t total = 0;
    fac_contract_t **all = run->contracts ? fac_contract_set_all (run->contracts, &total) : NULL;
    fac_contract_t **list = (fac_contract_t **) calloc (total ? total : 1, sizeof (fac_contract_t *));
    *count = 0;
    for (size_t i = 0; list && i < total; i++)
        if (all [i]->status == FAC_CONTRACT_ACTIVE && fac_contract_in_phase (all [i], phase))
            list [(*count)++] = all [i];
    return list;
}

static bool
s_phase_needs_document (s_run_t *run, int phase)
{
    size_t count = 0;
    fac_contract_t **list = s_phase_contracts (run, phase, &count);
    bool needs = false;
    for (size_t i = 0; i < count && !needs; i++)
        needs = list [i]->uses_document;
    free (list);
    return needs;
}

static void
s_conflict_add (s_run_t *run, const char *factory_id, const char *kind, const char *detail,
                bool resolved)
{
    if (zlistx_size (run->conflicts) >= S_NOTES_MAX)
        return;
    s_conflict_t *item = (s_conflict_t *) zmalloc (sizeof (s_conflict_t));
    farfan__run_conflict__init (&item->conflict);
    item->conflict.factory = strdup (factory_id);
    item->conflict.phase = strdup (s_phase_name (run->phase));
    item->conflict.kind = strdup (kind);
    item->conflict.detail = strdup (detail);
    item->conflict.resolved = resolved;
    zlistx_add_end (run->conflicts, item);
    //  Signal alignment.conflict, subject "<run>/<factory>", payload
    //  {kind, resolved}.
    msgpack_sbuffer sbuffer;
    msgpack_sbuffer_init (&sbuffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &sbuffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    msgpack_pack_str_with_body (&packer, "kind", 4);
    msgpack_pack_str_with_body (&packer, kind, strlen (kind));
    msgpack_pack_str_with_body (&packer, "resolved", 8);
    if (resolved)
        msgpack_pack_true (&packer);
    else
        msgpack_pack_false (&packer);
    char subject [256];
    snprintf (subject, sizeof subject, "%s/%s", run->id, factory_id);
    s_signal (run->engine, "alignment.conflict", subject, run->phase, NAN,
              (const uint8_t *) sbuffer.data, sbuffer.size);
    msgpack_sbuffer_destroy (&sbuffer);
}

static void s_alignment_answered (s_run_t *run);

//  True when the factory's last SYNC_REPLY named the run's very set.
static bool
s_holds_run_set (s_run_t *run, s_worker_t *worker)
{
    return *run->set_digest && streq (worker->set_digest, run->set_digest);
}

//  SYNC of the run's phase with one factory. A factory known to hold the
//  run's very set (its last SYNC_REPLY named that digest) gets the digest
//  alone (by_digest), not the phase's contracts one by one. (The worker is
//  passed in, never looked up: callers iterate self->workers, and a
//  zhashx lookup would move that iteration's cursor.)
static void
s_send_sync (s_run_t *run, s_worker_t *worker, uint32_t round)
{
    orc_engine_t *self = run->engine;
    const char *factory_id = worker->id;
    bool by_digest = s_holds_run_set (run, worker);
    size_t count = 0;
    fac_contract_t **list = by_digest ? NULL : s_phase_contracts (run, run->phase, &count);
    Farfan__ContractRef *refs = (Farfan__ContractRef *) calloc (count ? count : 1, sizeof (Farfan__ContractRef));
    Farfan__ContractRef **pointers = (Farfan__ContractRef **) calloc (count ? count : 1, sizeof (void *));
    for (size_t i = 0; refs && pointers && i < count; i++) {
        farfan__contract_ref__init (&refs [i]);
        refs [i].id = list [i]->id;
        refs [i].digest = list [i]->digest;
        pointers [i] = &refs [i];
    }
    Farfan__SyncRequest sync = FARFAN__SYNC_REQUEST__INIT;
    sync.run_id = run->id;
    sync.phase = (char *) s_phase_name (run->phase);
    sync.contracts = pointers;
    sync.n_contracts = refs && pointers ? count : 0;
    sync.contract_set_digest = run->set_digest;
    sync.worker_budget = run->worker_budget;
    sync.by_digest = by_digest;
    s_request_t *request = s_request (self, S_REQ_SYNC, run, factory_id,
                                      FARFAN__MESSAGE_TYPE__SYNC, &sync.base);
    if (request) {
        request->round = round;
        request->by_digest = by_digest;
        run->aligning++;
    }
    free (pointers);
    free (refs);
    free (list);
}

//  Ships the named contracts' definitions (the run's) to a factory; kind
//  S_REQ_PUT_CONTRACTS in alignment (counted in run->aligning), S_REQ_SHIP
//  at dispatch.
static bool
s_ship_contracts (s_run_t *run, s_worker_t *worker, char **ids, size_t id_count,
                  s_req_kind_t kind)
{
    orc_engine_t *self = run->engine;
    char **texts = (char **) calloc (id_count ? id_count : 1, sizeof (char *));
    size_t count = 0;
    for (size_t i = 0; texts && i < id_count; i++) {
        fac_contract_t *contract = fac_contract_set_lookup (run->contracts, ids [i]);
        if (contract)
            texts [count++] = contract->canonical;
    }
    if (count == 0) {
        free (texts);
        return false;
    }
    //  Its set changes: the next SYNC lists the contracts again.
    const char *factory_id = worker->id;
    *worker->set_digest = 0;
    Farfan__PutContracts put = FARFAN__PUT_CONTRACTS__INIT;
    put.contracts_json = texts;
    put.n_contracts_json = count;
    s_request_t *request = s_request (self, kind, run, factory_id,
                                      FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &put.base);
    free (texts);
    if (!request)
        return false;
    request->ids = (char **) calloc (id_count, sizeof (char *));
    for (size_t i = 0; request->ids && i < id_count; i++)
        request->ids [request->id_count++] = strdup (ids [i]);
    if (kind == S_REQ_PUT_CONTRACTS)
        run->aligning++;
    return true;
}

//  PLAN of the queued contracts: only their estimates are used. A whole
//  phase still queued, on a factory holding the run's set, is named by
//  its phase (`all`) instead of id by id.
static void
s_send_plan (s_run_t *run, s_worker_t *worker)
{
    orc_engine_t *self = run->engine;
    const char *factory_id = worker->id;
    size_t count = zlistx_size (run->queue);
    bool whole_phase = count > 0 && s_holds_run_set (run, worker)
                    && count == run->phases [run->phase].total;
    char **ids = whole_phase ? NULL : (char **) calloc (count ? count : 1, sizeof (char *));
    size_t n = 0;
    for (char *id = (char *) zlistx_first (run->queue); ids && id; id = (char *) zlistx_next (run->queue))
        ids [n++] = id;
    Farfan__PlanRequest plan = FARFAN__PLAN_REQUEST__INIT;
    plan.contract_ids = ids;
    plan.n_contract_ids = n;
    plan.all = whole_phase;
    plan.phase = whole_phase ? (char *) s_phase_name (run->phase) : (char *) "";
    plan.time_budget_s = run->deadline_s;
    plan.estimates_only = true;
    if (s_request (self, S_REQ_PLAN, run, factory_id, FARFAN__MESSAGE_TYPE__PLAN, &plan.base))
        run->aligning++;
    free (ids);
}

static void
s_send_document (s_run_t *run, s_worker_t *worker)
{
    orc_engine_t *self = run->engine;
    if (!run->text || zhashx_lookup (worker->documents, run->digest))
        return;
    Farfan__PutDocument put = FARFAN__PUT_DOCUMENT__INIT;
    put.content.data = (uint8_t *) run->text;
    put.content.len = run->text_size;
    put.name = run->name;
    //  Sent before the work on the same connection, so it arrives first;
    //  its answer is only checked for errors.
    if (s_request (self, S_REQ_DOCUMENT, run, worker->id, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, &put.base))
        zhashx_insert (worker->documents, run->digest, (void *) 1);
}

//  Starts aligning one factory with the run's current phase.
static void
s_align (s_run_t *run, s_worker_t *worker)
{
    if (zlistx_find (run->aligned, worker->id))
        return;
    if (s_phase_needs_document (run, run->phase))
        s_send_document (run, worker);
    s_send_sync (run, worker, 1);
}

static int
s_align_timeout (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    orc_engine_t *self = (orc_engine_t *) arg;
    char *run_id = s_timer_fired (self, timer_id);
    s_run_t *run = run_id ? s_run (self, run_id) : NULL;
    free (run_id);
    if (run) {
        run->align_timer = -1;
        if (run->phases [run->phase].state == FARFAN__PHASE_STATE__PHASE_ALIGNING) {
            s_note (run->warnings, "phase %s: %zu alignment answers missing after %u ms; "
                    "starting with the factories that answered", s_phase_name (run->phase),
                    run->aligning, self->options.align_timeout_ms);
            run->aligning = 0;
            s_alignment_answered (run);
        }
    }
    return 0;
}

//  Called as alignment answers come in: once none is outstanding, the
//  phase starts with the aligned factories.
//  A queued contract ranked for dispatch: longest estimate first.
typedef struct {
    char *id;
    double estimate;
    size_t position;            // in the queue before sorting (stable ties)
} s_ranked_t;

static int
s_ranked_compare (const void *a, const void *b)
{
    const s_ranked_t *x = (const s_ranked_t *) a, *y = (const s_ranked_t *) b;
    if (x->estimate != y->estimate)
        return x->estimate > y->estimate ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

static void
s_alignment_answered (s_run_t *run)
{
    orc_engine_t *self = run->engine;
    orc_store_phase_t *phase = &run->phases [run->phase];
    if (phase->state != FARFAN__PHASE_STATE__PHASE_ALIGNING || run->aligning > 0)
        return;
    s_timer_end (self, &run->align_timer);
    if (zlistx_size (run->aligned) == 0) {
        if (zhashx_size (self->workers) == 0)
            return;             //  waiting for a factory to register (it triggers alignment)
        char error [512];
        snprintf (error, sizeof error, "phase %s: no factory can run it (see conflicts)",
                  s_phase_name (run->phase));
        s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
        return;
    }
    //  Longest first, by the plans' estimates (ties keep the queue's order).
    size_t count = zlistx_size (run->queue);
    s_ranked_t *ranked = (s_ranked_t *) calloc (count ? count : 1, sizeof (s_ranked_t));
    size_t n = 0;
    double work_us = 0, longest_us = 0;
    for (char *id = (char *) zlistx_first (run->queue); ranked && id;
         id = (char *) zlistx_next (run->queue)) {
        double *estimate = (double *) zhashx_lookup (run->estimates, id);
        ranked [n] = (s_ranked_t) { .id = strdup (id), .estimate = estimate ? *estimate : 0,
                                    .position = n };
        work_us += ranked [n].estimate;
        longest_us = fmax (longest_us, ranked [n].estimate);
        n++;
    }
    if (ranked) {
        qsort (ranked, n, sizeof (s_ranked_t), s_ranked_compare);
        zlistx_purge (run->queue);
        for (size_t i = 0; i < n; i++)
            zlistx_add_end (run->queue, ranked [i].id);
    }
    free (ranked);
    //  The factories' parallel slots, for the ETA.
    double slots = 0;
    for (char *id = (char *) zlistx_first (run->aligned); id; id = (char *) zlistx_next (run->aligned)) {
        s_worker_t *worker = s_worker (self, id);
        slots += worker && worker->cap ? (double) worker->cap / 2.0 : 1.0;
    }
    run->phase_estimate_s = fmax (longest_us, work_us / fmax (slots, 1)) / 1e6;
    phase->estimated_s = run->phase_estimate_s;
    if (run->deadline_s > 0) {
        double elapsed = (double) (ff_clock_mono_us () - run->started_mono_us) / 1e6;
        if (elapsed + run->phase_estimate_s > run->deadline_s) {
            char text [256];
            snprintf (text, sizeof text, "phase %s is estimated at %.3f s; with %.3f s elapsed "
                      "the run would end after its deadline of %.3f s", s_phase_name (run->phase),
                      run->phase_estimate_s, elapsed, run->deadline_s);
            if (run->strict_deadline) {
                s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, text);
                return;
            }
            s_note (run->warnings, "%s", text);
        }
    }
    phase->state = FARFAN__PHASE_STATE__PHASE_RUNNING;
    s_run_persist_phase (run, run->phase);
    s_progress (run, true);
    s_dispatch (self);
}

//  ---------------------------------------------------------------------
//  Phases

static void
s_phase_start (s_run_t *run)
{
    orc_engine_t *self = run->engine;
    orc_store_phase_t *phase = &run->phases [run->phase];
    zlistx_purge (run->queue);
    zhashx_purge (run->attempts);
    zhashx_purge (run->avoid);
    zhashx_purge (run->inflight);
    zhashx_purge (run->estimates);
    zlistx_purge (run->aligned);
    run->aligning = 0;
    run->phase_estimate_s = 0;
    size_t count = 0;
    fac_contract_t **list = s_phase_contracts (run, run->phase, &count);
    uint32_t done = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        s_done_t *committed = (s_done_t *) zhashx_lookup (run->committed, list [i]->id);
        if (committed) {
            done++;
            if (committed->status == FARFAN__RESULT_STATUS__RESULT_FAILED
            ||  committed->status == FARFAN__RESULT_STATUS__RESULT_TIMEOUT)
                failed++;
        }
        else
            zlistx_add_end (run->queue, strdup (list [i]->id));
    }
    free (list);
    phase->total = (uint32_t) count;
    phase->done = done;
    phase->failed = failed;
    if (!phase->started_at_us)
        phase->started_at_us = ff_clock_wall_us ();
    if (count == 0) {
        phase->state = FARFAN__PHASE_STATE__PHASE_SKIPPED;
        phase->ended_at_us = phase->started_at_us;
        s_run_persist_phase (run, run->phase);
        if (run->phase >= run->last_phase)
            s_run_end (run, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL);
        else {
            run->phase++;
            s_phase_start (run);
        }
        return;
    }
    const char *keys [] = { "contracts" };
    uint64_t values [] = { count };
    uint8_t payload [64];
    size_t payload_size = s_payload (payload, sizeof payload, 1, keys, values);
    s_signal (self, "phase.started", run->id, run->phase, NAN, payload, payload_size);
    ff_log_info ("run %s: phase %s, %zu contracts (%u already committed)", run->id,
                 s_phase_name (run->phase), count, done);
    if (zlistx_size (run->queue) == 0) {
        //  Everything committed before a restart: the phase is decided.
        phase->state = FARFAN__PHASE_STATE__PHASE_RUNNING;
        s_phase_end (run);
        return;
    }
    phase->state = FARFAN__PHASE_STATE__PHASE_ALIGNING;
    s_run_persist_phase (run, run->phase);
    if (zhashx_size (self->workers) == 0)
        s_note (run->warnings, "phase %s: waiting for a factory to register", s_phase_name (run->phase));
    for (s_worker_t *worker = (s_worker_t *) zhashx_first (self->workers); worker;
         worker = (s_worker_t *) zhashx_next (self->workers))
        s_align (run, worker);
    if (run->aligning > 0)
        run->align_timer = s_timer_add (self, self->options.align_timeout_ms, s_align_timeout, run->id);
    s_progress (run, true);
}

//  Starts the run's first phase (after its document is ready).
static void
s_run_start (s_run_t *run)
{
    orc_engine_t *self = run->engine;
    run->state = FARFAN__RUN_STATE__RUN_RUNNING;
    orc_store_run_set_state (self->store, run->id, run->state, "", 0);
    //  Resume: the first phase not finished.
    int phase = run->first_phase;
    while (phase <= run->last_phase
           && (run->phases [phase].state == FARFAN__PHASE_STATE__PHASE_SUCCEEDED
            || run->phases [phase].state == FARFAN__PHASE_STATE__PHASE_SKIPPED))
        phase++;
    //  The run's size: every contract of its phases.
    run->total = 0;
    run->done = (uint32_t) zhashx_size (run->committed);
    for (int p = run->first_phase; p <= run->last_phase; p++) {
        size_t count = 0;
        free (s_phase_contracts (run, p, &count));
        run->total += (uint32_t) count;
    }
    s_signal (self, "run.started", run->id, -1, NAN, NULL, 0);
    if (phase > run->last_phase) {
        s_run_end (run, FARFAN__RUN_STATE__RUN_SUCCEEDED, NULL);
        return;
    }
    run->phase = phase;
    s_phase_start (run);
}

//  ---------------------------------------------------------------------
//  Dispatch

//  The committed results a batch's aggregation contracts read.
static Farfan__InputResult **
s_batch_inputs (s_run_t *run, char **ids, size_t count, size_t *input_count)
{
    zhashx_t *seen = zhashx_new ();
    size_t capacity = 16, used = 0;
    Farfan__InputResult **inputs = (Farfan__InputResult **) calloc (capacity, sizeof (void *));
    for (size_t i = 0; inputs && i < count; i++) {
        fac_contract_t *contract = fac_contract_set_lookup (run->contracts, ids [i]);
        for (size_t k = 0; contract && k < contract->input_count; k++) {
            const char *input_id = contract->input_contracts [k];
            s_done_t *done = (s_done_t *) zhashx_lookup (run->committed, input_id);
            if (!done || zhashx_lookup (seen, input_id))
                continue;
            zhashx_insert (seen, input_id, (void *) 1);
            if (used == capacity) {
                Farfan__InputResult **grown = (Farfan__InputResult **)
                    realloc (inputs, 2 * capacity * sizeof (void *));
                if (!grown)
                    break;
                inputs = grown;
                capacity *= 2;
            }
            Farfan__InputResult *input = (Farfan__InputResult *) zmalloc (sizeof (Farfan__InputResult));
            farfan__input_result__init (input);
            input->contract_id = (char *) input_id;
            input->status = (Farfan__ResultStatus) done->status;
            input->score = done->score;
            input->quality = done->quality ? done->quality : "";
            input->confidence = done->confidence;
            input->missing_elements = done->missing;
            input->n_missing_elements = done->missing_count;
            //  Everything else a contract may read of it: evidence, ratio,
            //  outputs (borrowed from the committed copy), and what the
            //  set says of the input contract.
            if (done->result) {
                input->ratio = done->result->ratio;
                input->evidence = done->result->evidence;
                input->n_evidence = done->result->n_evidence;
                input->output_json = done->result->output_json;
            }
            fac_contract_t *source = fac_contract_set_lookup (run->contracts, input_id);
            if (source) {
                input->contract_type = source->type;
                input->title = source->title;
                input->base_question = source->base_question;
                input->policy_area = source->policy_area;
                input->dimension = source->dimension;
                input->cluster = source->cluster;
            }
            inputs [used++] = input;
        }
    }
    zhashx_destroy (&seen);
    *input_count = used;
    return inputs;
}

//  Takes up to `room` contracts for worker from the run's queue, skipping
//  those that failed on this worker when another worker can take them.
static size_t
s_take (s_run_t *run, s_worker_t *worker, size_t room, char **ids)
{
    bool alone = zlistx_size (run->aligned) <= 1;
    size_t taken = 0;
    char *id = (char *) zlistx_first (run->queue);
    while (id && taken < room) {
        void *handle = zlistx_cursor (run->queue);
        char *next = (char *) zlistx_next (run->queue);
        const char *avoid = (const char *) zhashx_lookup (run->avoid, id);
        if (alone || !avoid || strcmp (avoid, worker->id) != 0) {
            ids [taken++] = (char *) zlistx_detach (run->queue, handle);
        }
        id = next;
    }
    return taken;
}

//  Sends ids (taken: owned by the request from now, or back to the queue
//  when the send is refused) to worker. Each contract names the digest of
//  the run's definition: a factory holding another one (a run with a set
//  defining the same id differently shipped it there) refuses the batch
//  instead of running the wrong one. round 2: the definitions were just
//  shipped for a refused batch.
static void
s_send_batch (s_run_t *run, s_worker_t *worker, char **ids, size_t count, uint32_t round)
{
    orc_engine_t *self = run->engine;
    bool document = false;
    const char **digests = (const char **) calloc (count ? count : 1, sizeof (char *));
    for (size_t i = 0; i < count; i++) {
        fac_contract_t *contract = fac_contract_set_lookup (run->contracts, ids [i]);
        document |= contract && contract->uses_document;
        if (digests)
            digests [i] = contract ? contract->digest : "";
    }
    if (document)
        s_send_document (run, worker);
    size_t input_count = 0;
    Farfan__InputResult **inputs = s_batch_inputs (run, ids, count, &input_count);
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = count;
    execute.input_digest = document ? run->digest : "";
    execute.inputs = inputs;
    execute.n_inputs = input_count;
    execute.params_json = run->params_json;
    execute.run_id = run->id;
    execute.contract_digests = (char **) digests;
    execute.n_contract_digests = digests ? count : 0;
    execute.batch_results = true;
    s_request_t *request = s_request (self, S_REQ_EXECUTE, run, worker->id,
                                      FARFAN__MESSAGE_TYPE__EXECUTE, &execute.base);
    for (size_t i = 0; i < input_count; i++)
        free (inputs [i]);
    free (inputs);
    free (digests);
    if (!request) {
        //  Refused (the factory is saturated or gone): back to the queue.
        for (size_t i = count; i-- > 0; )
            zlistx_add_start (run->queue, ids [i]);
        free (ids);
        return;
    }
    request->ids = ids;         //  the request owns them now
    request->id_count = count;
    request->round = round;
    request->reported = (bool *) calloc (count, sizeof (bool));
    for (size_t i = 0; i < count; i++) {
        uintptr_t attempts = (uintptr_t) zhashx_lookup (run->attempts, ids [i]);
        zhashx_update (run->attempts, ids [i], (void *) (attempts + 1));
        zhashx_update (run->inflight, ids [i], strdup (worker->id));
    }
    worker->in_flight += (uint32_t) count;
    ff_counter_add (self->dispatched, count);
}

static void
s_dispatch (orc_engine_t *self)
{
    //  Each pass splits what is queued evenly between the run's factories;
    //  a factory that returns its credits sooner takes more in later passes.
    for (s_run_t *run = (s_run_t *) zlistx_first (self->order); run;
         run = (s_run_t *) zlistx_next (self->order)) {
        size_t factories = zlistx_size (run->aligned) ? zlistx_size (run->aligned) : 1;
        run->share = (zlistx_size (run->queue) + factories - 1) / factories;
    }
    for (s_worker_t *worker = (s_worker_t *) zhashx_first (self->workers); worker;
         worker = (s_worker_t *) zhashx_next (self->workers)) {
        //  zhashx's cursor is shared: collect the runs first.
        for (s_run_t *run = (s_run_t *) zlistx_first (self->order); run;
             run = (s_run_t *) zlistx_next (self->order)) {
            if (run->state != FARFAN__RUN_STATE__RUN_RUNNING || run->phase < 0
            ||  run->phases [run->phase].state != FARFAN__PHASE_STATE__PHASE_RUNNING
            ||  !zlistx_find (run->aligned, worker->id))
                continue;
            size_t batch = worker->batch_size ? worker->batch_size : self->options.default_batch_size;
            //  A credit freed by one result is not spent on a one-contract
            //  EXECUTE while others are in flight: dispatch waits until a
            //  batch's worth (at most half the cap) is free or the queue fits.
            size_t want = batch < ((size_t) worker->cap + 1) / 2 ? batch : ((size_t) worker->cap + 1) / 2;
            size_t allowance = run->share;
            while (worker->cap > worker->in_flight && zlistx_size (run->queue) > 0 && allowance > 0) {
                size_t room = worker->cap - worker->in_flight;
                if (room < want && room < zlistx_size (run->queue) && worker->in_flight > 0)
                    break;
                if (room > batch)
                    room = batch;
                if (room > allowance)
                    room = allowance;
                char **ids = (char **) calloc (room, sizeof (char *));
                size_t taken = ids ? s_take (run, worker, room, ids) : 0;
                if (taken == 0) {
                    free (ids);
                    break;
                }
                allowance -= taken;
                s_send_batch (run, worker, ids, taken, 1);
            }
        }
    }
}

//  ---------------------------------------------------------------------
//  Results and the group commit

static void
s_pending_free (s_pending_t *pending)
{
    free (pending->contract_id);
    free (pending->factory_id);
    free (pending->packed);
    s_done_fini (&pending->done);
    free (pending);
}

//  Applies a committed result to its run (counts, inputs for later phases,
//  signals). Takes pending's done record.
static void
s_apply (orc_engine_t *self, s_pending_t *pending, bool duplicate)
{
    s_run_t *run = s_run (self, pending->run_id);
    if (!run || duplicate)
        return;
    s_done_t *done = (s_done_t *) zmalloc (sizeof (s_done_t));
    *done = pending->done;
    memset (&pending->done, 0, sizeof pending->done);
    zhashx_update (run->committed, pending->contract_id, done);
    orc_store_phase_t *phase = &run->phases [pending->phase];
    phase->done++;
    run->done++;
    if (pending->status == FARFAN__RESULT_STATUS__RESULT_FAILED
    ||  pending->status == FARFAN__RESULT_STATUS__RESULT_TIMEOUT)
        phase->failed++;
    if (done->result && done->result->from_cache)
        phase->from_cache++;
    zlistx_t *ran_on = run->ran_on [pending->phase];
    if (pending->factory_id && ran_on && !zlistx_find (ran_on, pending->factory_id)) {
        char *id = strdup (pending->factory_id);
        if (id)
            zlistx_add_end (ran_on, id);
    }
    fac_contract_t *contract = fac_contract_set_lookup (run->contracts, pending->contract_id);
    char subject [256];
    if (contract && *contract->policy_area && *contract->dimension && *contract->base_question)
        snprintf (subject, sizeof subject, "%s/%s/%s", contract->policy_area, contract->dimension,
                  contract->base_question);
    else
        snprintf (subject, sizeof subject, "%s", pending->contract_id);
    const char *keys [] = { "status" };
    uint64_t values [] = { (uint64_t) pending->status };
    uint8_t payload [64];
    size_t payload_size = s_payload (payload, sizeof payload, 1, keys, values);
    s_signal (self, "contract.result", subject, pending->phase, pending->confidence,
              payload, payload_size);
}

//  Commits every pending result in one transaction, then acts on them.
static void
s_commit (orc_engine_t *self)
{
    if (zlistx_size (self->pending) == 0)
        return;
    uint64_t started = ff_clock_mono_us ();
    size_t count = zlistx_size (self->pending);
    int *outcomes = (int *) calloc (count, sizeof (int));
    bool ok = outcomes && orc_store_begin (self->store) == 0;
    size_t i = 0;
    for (s_pending_t *pending = (s_pending_t *) zlistx_first (self->pending); ok && pending;
         pending = (s_pending_t *) zlistx_next (self->pending), i++) {
        outcomes [i] = orc_store_result_put (self->store, pending->run_id, pending->contract_id,
                                             (uint32_t) pending->phase,
                                             (Farfan__ResultStatus) pending->status,
                                             pending->attempts, pending->factory_id,
                                             pending->packed, pending->size);
        ok = outcomes [i] >= 0;
    }
    if (ok)
        ok = orc_store_commit (self->store) == 0;
    else
    if (orc_store_in_transaction (self->store))
        orc_store_rollback (self->store);
    ff_histogram_observe (self->commit_duration, (double) (ff_clock_mono_us () - started) / 1e6);
    if (!ok) {
        //  Nothing of the group is durable: the runs concerned fail, saying
        //  why; nothing is counted done.
        char error [512];
        snprintf (error, sizeof error, "cannot commit results: %s", orc_store_error (self->store));
        ff_log_error ("%s", error);
        s_pending_t *pending;
        while ((pending = (s_pending_t *) zlistx_first (self->pending))) {
            zlistx_delete (self->pending, zlistx_cursor (self->pending));
            s_run_t *run = s_run (self, pending->run_id);
            if (run)
                s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
            s_pending_free (pending);
        }
        free (outcomes);
        return;
    }
    zlistx_t *touched = zlistx_new ();
    i = 0;
    s_pending_t *pending;
    while ((pending = (s_pending_t *) zlistx_first (self->pending))) {
        zlistx_delete (self->pending, zlistx_cursor (self->pending));
        bool duplicate = outcomes [i++] == 1;
        ff_counter_inc (duplicate ? self->duplicates : self->committed);
        s_apply (self, pending, duplicate);
        s_run_t *run = s_run (self, pending->run_id);
        if (run && !zlistx_find (touched, run))
            zlistx_add_end (touched, run);
        s_pending_free (pending);
    }
    free (outcomes);
    //  Phase counters go to the store with the next change; decide phases.
    s_run_t *run;
    while ((run = (s_run_t *) zlistx_first (touched))) {
        zlistx_delete (touched, zlistx_cursor (touched));
        orc_store_phase_t *phase = &run->phases [run->phase];
        s_run_persist_phase (run, run->phase);
        if (phase->done >= phase->total && zhashx_size (run->inflight) == 0)
            s_phase_end (run);          //  may free the run
        else
            s_progress (run, false);
    }
    zlistx_destroy (&touched);
    s_dispatch (self);
}

static int
s_commit_fired (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    orc_engine_t *self = (orc_engine_t *) arg;
    char *tag = s_timer_fired (self, timer_id);
    if (tag) {
        free (tag);
        self->commit_timer = -1;
        s_commit (self);
    }
    return 0;
}

//  Queues a result for the group commit at the end of this loop turn.
static void
s_pending_add (orc_engine_t *self, s_pending_t *pending)
{
    zlistx_add_end (self->pending, pending);
    if (self->commit_timer < 0)
        self->commit_timer = s_timer_add (self, 0, s_commit_fired, "");
}

//  A contract of a batch will not come back from that factory: requeue it
//  (front of the queue) unless it has used its attempts, then record it
//  failed with reason.
static void
s_contract_lost (s_run_t *run, const char *contract_id, const char *factory_id,
                 const char *reason, bool counts_as_failure, const uint8_t *packed, size_t size,
                 int status)
{
    orc_engine_t *self = run->engine;
    zhashx_delete (run->inflight, contract_id);
    uintptr_t attempts = (uintptr_t) zhashx_lookup (run->attempts, contract_id);
    if (attempts <= self->options.retries || !counts_as_failure) {
        zhashx_update (run->avoid, contract_id, strdup (factory_id));
        zlistx_add_start (run->queue, strdup (contract_id));
        ff_counter_inc (counts_as_failure ? self->retried : self->redispatched_lost);
        return;
    }
    //  Out of attempts: a failed result, committed like any other.
    s_pending_t *pending = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    snprintf (pending->run_id, sizeof pending->run_id, "%s", run->id);
    pending->contract_id = strdup (contract_id);
    pending->phase = run->phase;
    pending->status = status;
    pending->attempts = (uint32_t) attempts;
    pending->factory_id = strdup (factory_id);
    if (packed && size) {
        pending->packed = (uint8_t *) malloc (size);
        if (pending->packed) {
            memcpy (pending->packed, packed, size);
            pending->size = size;
        }
    }
    else {
        Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
        result.contract_id = (char *) contract_id;
        result.status = (Farfan__ResultStatus) status;
        result.error = (char *) reason;
        pending->size = farfan__contract_result__get_packed_size (&result);
        pending->packed = (uint8_t *) malloc (pending->size ? pending->size : 1);
        if (pending->packed)
            farfan__contract_result__pack (&result, pending->packed);
    }
    pending->done.status = status;
    pending->done.quality = strdup ("");
    s_note (run->failures, "%s: %s (after %u attempt%s)", contract_id, reason,
            (unsigned) attempts, attempts == 1 ? "" : "s");
    s_pending_add (self, pending);
}

static void
s_on_result (orc_engine_t *self, s_worker_t *worker, s_request_t *request, const uint8_t *packed,
             size_t packed_size)
{
    Farfan__ContractResult *result = farfan__contract_result__unpack (NULL, packed_size, packed);
    if (!result) {
        //  Its contract stays unreported: back to the queue at BATCH_DONE.
        ff_counter_inc (self->malformed_replies);
        ff_log_warn ("factory %s: a RESULT that does not decode", worker->id);
        return;
    }
    //  Which contract of the batch: by index, checked by id.
    size_t index = result->index;
    if (index >= request->id_count || strcmp (request->ids [index], result->contract_id) != 0) {
        for (index = 0; index < request->id_count; index++)
            if (strcmp (request->ids [index], result->contract_id) == 0 && !request->reported [index])
                break;
    }
    if (index >= request->id_count || request->reported [index]) {
        //  A contract this batch does not hold, or a second result for one
        //  it does: counted, dropped.
        ff_counter_inc (index >= request->id_count ? self->unknown_replies : self->duplicates);
        ff_log_debug ("factory %s: %s result for %s in %s, dropped", worker->id,
                      index >= request->id_count ? "a stray" : "a second", result->contract_id,
                      request->correlation_id);
        farfan__contract_result__free_unpacked (result, NULL);
        return;
    }
    request->reported [index] = true;
    if (worker->in_flight > 0)
        worker->in_flight--;
    s_run_t *run = s_run (self, request->run_id);
    if (!run || run->state != FARFAN__RUN_STATE__RUN_RUNNING || run->phase != request->phase) {
        farfan__contract_result__free_unpacked (result, NULL);
        return;             //  the run ended or moved on: nothing to do with it
    }
    const char *id = result->contract_id;
    if (zhashx_lookup (run->committed, id)) {
        ff_counter_inc (self->duplicates);
        zhashx_delete (run->inflight, id);
        farfan__contract_result__free_unpacked (result, NULL);
        return;
    }
    if (result->status == FARFAN__RESULT_STATUS__RESULT_FAILED
    ||  result->status == FARFAN__RESULT_STATUS__RESULT_TIMEOUT) {
        s_contract_lost (run, id, worker->id, *result->error ? result->error : "failed", true,
                         packed, packed_size, (int) result->status);
        farfan__contract_result__free_unpacked (result, NULL);
        return;
    }
    zhashx_delete (run->inflight, id);
    s_pending_t *pending = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    snprintf (pending->run_id, sizeof pending->run_id, "%s", run->id);
    pending->contract_id = strdup (id);
    pending->phase = run->phase;
    pending->status = (int) result->status;
    pending->attempts = (uint32_t) (uintptr_t) zhashx_lookup (run->attempts, id);
    pending->factory_id = strdup (worker->id);
    pending->size = packed_size;
    pending->packed = (uint8_t *) malloc (pending->size ? pending->size : 1);
    if (pending->packed)
        memcpy (pending->packed, packed, pending->size);
    pending->confidence = result->confidence;
    s_done_from_result (&pending->done, result);
    farfan__contract_result__free_unpacked (result, NULL);
    s_pending_add (self, pending);
}

//  RESULT_BATCH: each ContractResults entry as a RESULT. Where the framing
//  breaks, the entries after it are lost like an undecodable RESULT
//  (counted; their contracts go back to the queue at BATCH_DONE).
typedef struct {
    orc_engine_t *engine;
    s_worker_t *worker;
    s_request_t *request;
} s_batch_reply_t;

static void
s_on_batch_entry (const uint8_t *data, size_t size, void *arg)
{
    s_batch_reply_t *reply = (s_batch_reply_t *) arg;
    s_on_result (reply->engine, reply->worker, reply->request, data, size);
}

static void
s_on_result_batch (orc_engine_t *self, s_worker_t *worker, s_request_t *request,
                   const ff_msg_t *msg)
{
    s_batch_reply_t reply = { self, worker, request };
    if (ff_pbwire_each (ff_msg_body_data (msg), ff_msg_body_size (msg), 1, s_on_batch_entry,
                        &reply) < 0) {
        ff_counter_inc (self->malformed_replies);
        ff_log_warn ("factory %s: a RESULT_BATCH that does not decode", worker->id);
    }
}

//  Contracts of a request that never got a result go back to the queue.
static void
s_request_abandon (orc_engine_t *self, s_request_t *request, const char *reason, bool failure)
{
    s_run_t *run = s_run (self, request->run_id);
    s_worker_t *worker = s_worker (self, request->factory_id);
    for (size_t i = 0; i < request->id_count; i++) {
        if (request->reported [i])
            continue;
        request->reported [i] = true;
        if (worker && worker->in_flight > 0)
            worker->in_flight--;
        if (run && run->state == FARFAN__RUN_STATE__RUN_RUNNING && run->phase == request->phase
        &&  !zhashx_lookup (run->committed, request->ids [i]))
            s_contract_lost (run, request->ids [i], request->factory_id, reason, failure, NULL, 0,
                             FARFAN__RESULT_STATUS__RESULT_FAILED);
    }
}

//  ---------------------------------------------------------------------
//  Replies from factories

static void
s_on_sync_reply (s_run_t *run, s_request_t *request, const ff_msg_t *msg)
{
    orc_engine_t *self = run->engine;
    s_worker_t *worker = s_worker (self, request->factory_id);
    Farfan__SyncReply *reply = farfan__sync_reply__unpack (NULL, ff_msg_body_size (msg),
                                                           ff_msg_body_data (msg));
    if (!reply || !worker) {
        if (reply)
            farfan__sync_reply__free_unpacked (reply, NULL);
        else
            ff_counter_inc (self->malformed_replies);
        s_conflict_add (run, request->factory_id, "excluded", "SYNC reply does not decode", false);
        return;
    }
    snprintf (worker->set_digest, sizeof worker->set_digest, "%s", reply->contract_set_digest);
    if (request->by_digest && !reply->success
    &&  !streq (reply->contract_set_digest, run->set_digest)) {
        //  It holds another set now: the same SYNC with the contracts listed.
        farfan__sync_reply__free_unpacked (reply, NULL);
        s_send_sync (run, worker, request->round);
        return;
    }
    //  Conflicts the orchestrator can fix: ship the definitions, sync again.
    char **ship = NULL;
    size_t ship_count = 0;
    bool blocking = false;
    bool deferred = false;
    for (size_t i = 0; i < reply->n_conflicts; i++) {
        const Farfan__Conflict *conflict = reply->conflicts [i];
        bool fixable = strcmp (conflict->kind, "missing_contracts") == 0
                    || strcmp (conflict->kind, "stale_contracts") == 0;
        if (strcmp (conflict->kind, "digest_mismatch") == 0)
            continue;       //  informational
        if (fixable && request->round > 1) {
            //  The factory accepted what was shipped (a rejection excludes
            //  it before this SYNC), yet holds other definitions now:
            //  another run's set defines these ids differently and shipped
            //  its own meanwhile. Each EXECUTE names its definitions'
            //  digests, so they are shipped again with the work.
            char detail [400];
            snprintf (detail, sizeof detail, "%s; replaced by another run's definitions since "
                      "shipping them: shipped again with each batch", conflict->detail);
            s_conflict_add (run, worker->id, conflict->kind, detail, true);
            deferred = true;
        }
        else
        if (fixable) {
            char **grown = (char **) realloc (ship, (ship_count + conflict->n_ids) * sizeof (char *));
            if (grown) {
                ship = grown;
                for (size_t k = 0; k < conflict->n_ids; k++)
                    ship [ship_count++] = conflict->ids [k];
            }
            s_conflict_add (run, worker->id, conflict->kind, conflict->detail, true);
        }
        else {
            blocking = true;
            s_conflict_add (run, worker->id, conflict->kind, conflict->detail, false);
        }
    }
    if (!blocking && ship_count > 0
    &&  s_ship_contracts (run, worker, ship, ship_count, S_REQ_PUT_CONTRACTS)) {
        free (ship);
        farfan__sync_reply__free_unpacked (reply, NULL);
        return;             //  SYNC again when PUT_CONTRACTS answers
    }
    free (ship);
    if (blocking || ship_count > 0 || (!reply->success && !deferred)) {
        char detail [256];
        snprintf (detail, sizeof detail, "left out of phase %s: %s", s_phase_name (run->phase),
                  blocking ? "a conflict the orchestrator cannot resolve"
                           : "contracts still missing after shipping them");
        s_conflict_add (run, worker->id, "excluded", detail, false);
        ff_log_warn ("run %s: factory %s %s", run->id, worker->id, detail);
        farfan__sync_reply__free_unpacked (reply, NULL);
        return;
    }
    worker->cap = reply->in_flight_cap ? reply->in_flight_cap : 1;
    if (run->worker_budget && run->worker_budget < worker->cap)
        worker->cap = run->worker_budget;
    worker->batch_size = reply->batch_size;
    farfan__sync_reply__free_unpacked (reply, NULL);
    s_send_plan (run, worker);
}

static void
s_on_plan_reply (s_run_t *run, s_request_t *request, const ff_msg_t *msg)
{
    Farfan__ExecutionPlan *plan = farfan__execution_plan__unpack (NULL, ff_msg_body_size (msg),
                                                                  ff_msg_body_data (msg));
    //  A plan is advice: without one the phase starts with no estimates.
    if (!plan)
        ff_counter_inc (run->engine->malformed_replies);
    if (plan) {
        //  Several factories' estimates of a contract: the smaller one
        //  (the work goes to whoever is free first).
        for (size_t i = 0; i < plan->n_estimates; i++) {
            const Farfan__ContractEstimate *estimate = plan->estimates [i];
            double *known = (double *) zhashx_lookup (run->estimates, estimate->contract_id);
            double value = estimate->estimated_s * 1e6;
            if (!known) {
                known = (double *) malloc (sizeof (double));
                if (!known)
                    continue;
                *known = value;
                zhashx_insert (run->estimates, estimate->contract_id, known);
            }
            else
            if (value < *known)
                *known = value;
        }
        //  A plan's warnings qualify its estimate, which only a deadline
        //  is judged by: without one they would only be noise.
        for (size_t i = 0; run->deadline_s > 0 && i < plan->n_warnings; i++)
            s_note (run->warnings, "factory %s plan: %s", request->factory_id, plan->warnings [i]);
        farfan__execution_plan__free_unpacked (plan, NULL);
    }
    if (!zlistx_find (run->aligned, request->factory_id))
        zlistx_add_end (run->aligned, strdup (request->factory_id));
    if (run->phases [run->phase].state == FARFAN__PHASE_STATE__PHASE_RUNNING)
        s_dispatch (run->engine);       //  a latecomer joins the running phase
}

//  True when a PUT_CONTRACTS_REPLY rejected definitions (or does not
//  decode), with what the factory said in reason.
static bool
s_put_rejected (const ff_msg_t *msg, char *reason, size_t reason_size)
{
    Farfan__PutContractsReply *reply = farfan__put_contracts_reply__unpack (
        NULL, ff_msg_body_size (msg), ff_msg_body_data (msg));
    if (!reply) {
        snprintf (reason, reason_size, "PUT_CONTRACTS reply does not decode");
        return true;
    }
    bool rejected = reply->rejected > 0;
    if (rejected) {
        const Farfan__LoadError *first = reply->n_errors ? reply->errors [0] : NULL;
        snprintf (reason, reason_size, "PUT_CONTRACTS: %u definition%s rejected%s%s%s%s%s%s",
                  reply->rejected, reply->rejected == 1 ? "" : "s", first ? "; first: " : "",
                  first ? first->contract_id : "", first && *first->field ? ": " : "",
                  first ? first->field : "", first ? ": " : "", first ? first->reason : "");
    }
    farfan__put_contracts_reply__free_unpacked (reply, NULL);
    return rejected;
}

//  A factory refused a batch (ERROR NOT_FOUND): it does not hold the
//  definitions the batch named, typically because another run's set
//  defines the same ids differently and shipped its own there. Ship the
//  run's definitions and send the same contracts again at once, on the
//  same connection: the factory serves them in order, so the batch finds
//  what was shipped (a second refusal is a failure, retried elsewhere).
//  Not an attempt: the contracts never ran.
static void
s_resend_refused (s_run_t *run, s_worker_t *worker, s_request_t *request, const char *reason)
{
    orc_engine_t *self = run->engine;
    char **ids = (char **) calloc (request->id_count ? request->id_count : 1, sizeof (char *));
    size_t count = 0;
    for (size_t i = 0; ids && i < request->id_count; i++) {
        if (request->reported [i])
            continue;
        request->reported [i] = true;
        if (worker->in_flight > 0)
            worker->in_flight--;
        const char *id = request->ids [i];
        zhashx_delete (run->inflight, id);
        if (zhashx_lookup (run->committed, id))
            continue;
        uintptr_t attempts = (uintptr_t) zhashx_lookup (run->attempts, id);
        if (attempts > 1)
            zhashx_update (run->attempts, id, (void *) (attempts - 1));
        else
            zhashx_delete (run->attempts, id);
        ids [count++] = strdup (id);
    }
    ff_log_debug ("run %s: factory %s refused %zu contracts (%s): shipping them", run->id,
                  worker->id, count, reason);
    if (count == 0) {
        free (ids);
        return;
    }
    ff_counter_add (self->redispatched_stale, count);
    if (!s_ship_contracts (run, worker, ids, count, S_REQ_SHIP)) {
        for (size_t i = count; i-- > 0; )
            zlistx_add_start (run->queue, ids [i]);
        free (ids);
        return;
    }
    s_send_batch (run, worker, ids, count, 2);
}

void
orc_engine_reply (orc_engine_t *self, const char *factory_id, const ff_msg_t *msg)
{
    s_request_t *request = (s_request_t *) zhashx_lookup (self->requests, ff_msg_correlation_id (msg));
    s_worker_t *worker = s_worker (self, factory_id);
    if (!request || !worker || strcmp (request->factory_id, factory_id) != 0) {
        ff_counter_inc (self->unknown_replies);
        ff_log_debug ("factory %s: reply %s to no request of ours", factory_id,
                      ff_msg_type_name (ff_msg_type (msg)));
        return;
    }
    uint32_t type = ff_msg_type (msg);
    s_run_t *run = s_run (self, request->run_id);
    bool finished = true;
    switch (request->kind) {
        case S_REQ_EXECUTE:
            if (type == FARFAN__MESSAGE_TYPE__RESULT) {
                s_on_result (self, worker, request, ff_msg_body_data (msg), ff_msg_body_size (msg));
                finished = false;
            }
            else
            if (type == FARFAN__MESSAGE_TYPE__RESULT_BATCH) {
                s_on_result_batch (self, worker, request, msg);
                finished = false;
            }
            else
            if (type == FARFAN__MESSAGE_TYPE__ERROR
            &&  ff_msg_status_code (msg) == FARFAN__ERROR_CODE__NOT_FOUND && request->round == 1
            &&  run && run->state == FARFAN__RUN_STATE__RUN_RUNNING && run->phase == request->phase)
                s_resend_refused (run, worker, request, ff_msg_status_message (msg));
            else
            if (type == FARFAN__MESSAGE_TYPE__NEED_DOCUMENT && run && run->text) {
                //  The factory lost the document (evicted): send it, then
                //  the contracts go back to the queue for a new batch.
                zhashx_delete (worker->documents, run->digest);
                s_send_document (run, worker);
                s_request_abandon (self, request, "the factory needed the document again", false);
            }
            else {
                char reason [320];
                snprintf (reason, sizeof reason, "%s%s%s", type == FARFAN__MESSAGE_TYPE__ERROR
                          ? ff_msg_code_name (ff_msg_status_code (msg)) : "no result",
                          type == FARFAN__MESSAGE_TYPE__ERROR ? ": " : "",
                          ff_msg_status_message (msg));
                //  BATCH_DONE with results missing, or an error: the rest is lost.
                s_request_abandon (self, request, reason, type == FARFAN__MESSAGE_TYPE__ERROR);
            }
            break;
        case S_REQ_SYNC:
            if (run && run->phase == request->phase) {
                run->aligning--;
                if (type == FARFAN__MESSAGE_TYPE__SYNC_REPLY)
                    s_on_sync_reply (run, request, msg);
                else
                    s_conflict_add (run, factory_id, "excluded", ff_msg_status_message (msg), false);
            }
            break;
        case S_REQ_PUT_CONTRACTS:
            if (run && run->phase == request->phase) {
                run->aligning--;
                char rejected [512] = "";
                if (type != FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY
                ||  s_put_rejected (msg, rejected, sizeof rejected))
                    s_conflict_add (run, factory_id, "excluded",
                                    *rejected ? rejected : ff_msg_status_message (msg), false);
                else
                    s_send_sync (run, worker, 2);
            }
            break;
        case S_REQ_SHIP: {
            //  The EXECUTE sent right after it says whether it worked.
            char rejected [512] = "";
            if (type != FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY
            ||  s_put_rejected (msg, rejected, sizeof rejected))
                ff_log_warn ("run %s: factory %s: %s", request->run_id, factory_id,
                             *rejected ? rejected : ff_msg_status_message (msg));
            break;
        }
        case S_REQ_PLAN:
            if (run && run->phase == request->phase) {
                run->aligning--;
                s_on_plan_reply (run, request, msg);
            }
            break;
        case S_REQ_DOCUMENT:
            if (type != FARFAN__MESSAGE_TYPE__DOCUMENT_STORED) {
                ff_log_warn ("factory %s refused the document of run %s: %s", factory_id,
                             request->run_id, ff_msg_status_message (msg));
                zhashx_delete (worker->documents, run ? run->digest : "");
            }
            break;
    }
    bool alignment = request->kind == S_REQ_SYNC || request->kind == S_REQ_PUT_CONTRACTS
                  || request->kind == S_REQ_PLAN;
    char run_id [40];
    snprintf (run_id, sizeof run_id, "%s", request->run_id);
    if (finished) {
        char key [96];
        snprintf (key, sizeof key, "%s", request->correlation_id);
        zhashx_delete (self->requests, key);
    }
    //  Alignment may be complete now (the run may end in there).
    run = s_run (self, run_id);
    if (alignment && run && run->phase >= 0)
        s_alignment_answered (run);
    s_dispatch (self);
}

//  ---------------------------------------------------------------------
//  Factories coming and going

void
orc_engine_factory_ready (orc_engine_t *self, const char *factory_id)
{
    s_worker_t *worker = s_worker (self, factory_id);
    if (!worker) {
        worker = (s_worker_t *) zmalloc (sizeof (s_worker_t));
        worker->id = strdup (factory_id);
        worker->documents = zhashx_new ();
        zhashx_insert (self->workers, factory_id, worker);
    }
    else {
        //  Re-registered: it may have restarted and lost its documents
        //  (and may hold another set).
        zhashx_purge (worker->documents);
        *worker->set_digest = 0;
    }
    //  Every run in a phase aligns it now.
    for (s_run_t *run = (s_run_t *) zlistx_first (self->order); run;
         run = (s_run_t *) zlistx_next (self->order)) {
        if (run->state != FARFAN__RUN_STATE__RUN_RUNNING || run->phase < 0)
            continue;
        int state = run->phases [run->phase].state;
        if (state != FARFAN__PHASE_STATE__PHASE_ALIGNING && state != FARFAN__PHASE_STATE__PHASE_RUNNING)
            continue;
        bool first = run->aligning == 0 && state == FARFAN__PHASE_STATE__PHASE_ALIGNING;
        s_align (run, worker);
        if (first && run->aligning > 0 && run->align_timer < 0)
            run->align_timer = s_timer_add (self, self->options.align_timeout_ms, s_align_timeout, run->id);
    }
}

void
orc_engine_factory_gone (orc_engine_t *self, const char *factory_id, const char *reason)
{
    char why [256];
    snprintf (why, sizeof why, "factory %s %s", factory_id, reason ? reason : "is gone");
    //  Its requests: contracts in flight go back to the queues; alignment
    //  answers it owed are no longer waited for.
    zlistx_t *gone = zlistx_new ();
    for (s_request_t *request = (s_request_t *) zhashx_first (self->requests); request;
         request = (s_request_t *) zhashx_next (self->requests))
        if (strcmp (request->factory_id, factory_id) == 0)
            zlistx_add_end (gone, request);
    zlistx_t *runs = zlistx_new ();
    for (s_request_t *request = (s_request_t *) zlistx_first (gone); request;
         request = (s_request_t *) zlistx_next (gone)) {
        s_run_t *run = s_run (self, request->run_id);
        if (request->kind == S_REQ_EXECUTE)
            s_request_abandon (self, request, why, false);
        else
        if (run && run->phase == request->phase && run->aligning > 0
        &&  (request->kind == S_REQ_SYNC || request->kind == S_REQ_PUT_CONTRACTS
         ||  request->kind == S_REQ_PLAN)) {
            run->aligning--;
            if (!zlistx_find (runs, run))
                zlistx_add_end (runs, run);
        }
        char key [96];
        snprintf (key, sizeof key, "%s", request->correlation_id);
        zhashx_delete (self->requests, key);
    }
    zlistx_destroy (&gone);
    for (s_run_t *run = (s_run_t *) zlistx_first (self->order); run;
         run = (s_run_t *) zlistx_next (self->order)) {
        void *handle = zlistx_find (run->aligned, (void *) factory_id);
        if (handle)
            zlistx_delete (run->aligned, handle);
    }
    zhashx_delete (self->workers, factory_id);
    ff_log_info ("%s: its contracts in flight are dispatched again", why);
    s_run_t *run;
    while ((run = (s_run_t *) zlistx_first (runs))) {
        zlistx_delete (runs, zlistx_cursor (runs));
        if (s_run (self, run->id) == run)
            s_alignment_answered (run);
    }
    zlistx_destroy (&runs);
    s_dispatch (self);
}

void
orc_engine_factory_load (orc_engine_t *self, const char *factory_id, uint32_t *in_flight,
                         uint32_t *in_flight_cap)
{
    s_worker_t *worker = s_worker (self, factory_id);
    *in_flight = worker ? worker->in_flight : 0;
    *in_flight_cap = worker ? worker->cap : 0;
}

//  ---------------------------------------------------------------------
//  Submitting

//  What a synchronous orc_document_start gave (text documents).
typedef struct s_converted {
    bool called;
    char *text;                         // NULL: failed, reason says why
    size_t size;
    char digest [72];
    char reason [320];
} s_converted_t;

static void
s_document_ready (void *arg, char *text, size_t size, const char *digest, const char *reason)
{
    //  arg is the run id (copied): the run may have been cancelled.
    char *run_id = (char *) arg;
    orc_engine_t *self = NULL;
    s_run_t *run = NULL;
    //  The run id is prefixed by the engine pointer (see orc_engine_submit).
    memcpy (&self, run_id, sizeof self);
    if (self->converted) {
        //  Text, converted inside orc_document_start: orc_engine_submit
        //  stores it before it records the run.
        s_converted_t *converted = self->converted;
        converted->called = true;
        converted->text = text;
        converted->size = size;
        snprintf (converted->digest, sizeof converted->digest, "%s", digest ? digest : "");
        snprintf (converted->reason, sizeof converted->reason, "%s", reason ? reason : "");
        free (run_id);
        return;
    }
    run = s_run (self, run_id + sizeof self);
    free (run_id);
    if (!run) {
        free (text);
        return;
    }
    run->conversion = NULL;
    run->conversion_arg = NULL;         //  freed above
    if (!text) {
        char error [400];
        snprintf (error, sizeof error, "phase P00: %s", reason);
        s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
        return;
    }
    if (orc_store_document_put (self->store, digest, (const uint8_t *) text, size) < 0) {
        char error [400];
        snprintf (error, sizeof error, "cannot store the document: %s", orc_store_error (self->store));
        free (text);
        s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
        return;
    }
    //  The run's record names its document from now on: a resumed run
    //  finds it there.
    if (orc_store_run_set_document (self->store, run->id, digest) != 0) {
        char error [400];
        snprintf (error, sizeof error, "cannot record the document: %s", orc_store_error (self->store));
        free (text);
        s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
        return;
    }
    snprintf (run->digest, sizeof run->digest, "%s", digest);
    run->text = text;
    run->text_size = size;
    s_run_start (run);
}

//  Parses "P00".."P09"; fallback when empty; -1 when not a phase.
static int
s_phase_arg (const char *text, int fallback)
{
    if (!text || !*text)
        return fallback;
    return fac_phase_parse (text);
}

//  Answers a SUBMIT already accepted under key with its run. Returns
//  true when it did (reply taken).
static bool
s_submission_repeated (orc_engine_t *self, const char *key, ff_reply_t *reply)
{
    if (!key)
        return false;
    const char *run_id = (const char *) zhashx_lookup (self->submissions, key);
    //  Not in memory: the first attempt may have reached an orchestrator
    //  that died before the client heard SUBMITTED; the store knows.
    char stored [64];
    if (!run_id && orc_store_run_by_submission (self->store, key, stored, sizeof stored) == 1)
        run_id = stored;
    if (!run_id)
        return false;
    Farfan__Submitted submitted = FARFAN__SUBMITTED__INIT;
    submitted.run_id = (char *) run_id;
    s_run_t *run = s_run (self, run_id);
    orc_store_run_t *record = NULL;
    if (run)
        submitted.state = run->state;
    else
    if (orc_store_run_get (self->store, run_id, &record) > 0 && record)
        submitted.state = (Farfan__RunState) record->state;
    orc_store_run_destroy (&record);
    ff_reply_send (reply, FARFAN__MESSAGE_TYPE__SUBMITTED, &submitted.base);
    ff_reply_destroy (&reply);
    ff_counter_inc (self->submissions_repeated);
    ff_log_info ("run %s: SUBMIT resent, answered with the run it started", run_id);
    return true;
}

static void
s_submission_remember (orc_engine_t *self, const char *key, const char *run_id)
{
    if (!key)
        return;
    while (zlistx_size (self->submission_keys) >= ORC_SUBMISSIONS_REMEMBERED) {
        char *oldest = (char *) zlistx_first (self->submission_keys);
        zhashx_delete (self->submissions, oldest);
        zlistx_delete (self->submission_keys, zlistx_cursor (self->submission_keys));
    }
    char *value = strdup (run_id);
    char *copy = strdup (key);
    if (!value || !copy || zhashx_insert (self->submissions, key, value) != 0) {
        free (value);
        free (copy);
        return;
    }
    zlistx_add_end (self->submission_keys, copy);
}

void
orc_engine_submit (orc_engine_t *self, const Farfan__SubmitRun *submit, const char *key,
                   ff_reply_t *reply)
{
    if (s_submission_repeated (self, key, reply))
        return;
    int first = s_phase_arg (submit->first_phase, 0);
    int last = s_phase_arg (submit->last_phase, 9);
    if (first < 0 || last < 0 || first > last) {
        ff_reply_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                        "phase range \"%s\"..\"%s\" is not P00..P09 in order",
                        submit->first_phase, submit->last_phase);
        ff_reply_destroy (&reply);
        return;
    }
    if (!(submit->deadline_s >= 0) || !isfinite (submit->deadline_s)) {
        ff_reply_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "deadline_s must be ≥ 0");
        ff_reply_destroy (&reply);
        return;
    }
    if (*submit->params_json) {
        json_t *params = json_loads (submit->params_json, 0, NULL);
        bool object = json_is_object (params);
        json_decref (params);
        if (!object) {
            ff_reply_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "params_json is not a JSON object");
            ff_reply_destroy (&reply);
            return;
        }
    }
    if (submit->document.len == 0 && !*submit->document_path) {
        ff_reply_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                        "no document: send its bytes or a path the orchestrator can read");
        ff_reply_destroy (&reply);
        return;
    }
    //  The run's contract set, loaded (or shared) now: a set that cannot
    //  be used refuses the submission, nothing stored.
    char location [1024];
    char set_err [768];
    orc_set_t *set = NULL;
    if (orc_sets_resolve (self->sets, submit->contract_set, location, sizeof location,
                          set_err, sizeof set_err) != 0
    ||  !(set = orc_sets_acquire (self->sets, location, set_err, sizeof set_err))) {
        ff_reply_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "%s", set_err);
        ff_reply_destroy (&reply);
        return;
    }
    zuuid_t *uuid = zuuid_new ();
    char run_id [40];
    snprintf (run_id, sizeof run_id, "run-%.12s", zuuid_str_canonical (uuid) + 24);
    zuuid_destroy (&uuid);

    //  The document first. Text is converted now (the callback lands in
    //  converted) and stored before the run is recorded: a run in the
    //  store always finds its document when it resumes, and a client that
    //  resends the SUBMIT after a crash gets a run that can go on. A PDF
    //  converts in the background (the callback gets the engine and the
    //  run id, the run may be gone by then) and is stored when done.
    char *arg = (char *) malloc (sizeof self + sizeof ((s_run_t *) NULL)->id);
    if (!arg) {
        ff_reply_error (reply, FARFAN__ERROR_CODE__UNAVAILABLE, "out of memory");
        ff_reply_destroy (&reply);
        orc_sets_release (self->sets, &set);
        return;
    }
    memset (arg, 0, sizeof self + sizeof ((s_run_t *) NULL)->id);
    memcpy (arg, &self, sizeof self);
    memcpy (arg + sizeof self, run_id, strlen (run_id) + 1);
    char err [320] = "";
    orc_document_t *handle = NULL;
    s_converted_t converted = { .called = false };
    self->converted = &converted;
    int rc = orc_document_start (self->loop, &self->options.document, submit->document.data,
                                 submit->document.len, submit->document_path, submit->media_type,
                                 s_document_ready, arg, &handle, err, sizeof err);
    self->converted = NULL;
    if (rc == -1)
        free (arg);
    char failure [400] = "";            //  why the document fails the run ("" = it does not)
    if (rc == -1)
        snprintf (failure, sizeof failure, "phase P00: %s", err);
    else
    if (converted.called && !converted.text)
        snprintf (failure, sizeof failure, "phase P00: %s", converted.reason);
    if (converted.text
    &&  orc_store_document_put (self->store, converted.digest, (const uint8_t *) converted.text,
                                converted.size) < 0) {
        ff_reply_error (reply, FARFAN__ERROR_CODE__UNAVAILABLE, "cannot store the document: %s",
                        orc_store_error (self->store));
        ff_reply_destroy (&reply);
        free (converted.text);
        orc_sets_release (self->sets, &set);
        return;
    }

    const char *name = *submit->name ? submit->name
                     : *submit->document_path ? submit->document_path : "run";
    const char *slash = *submit->name ? NULL : strrchr (name, '/');
    orc_store_run_t record = {
        .id = run_id,
        .name = slash ? slash + 1 : name,
        .state = FARFAN__RUN_STATE__RUN_QUEUED,
        .error = "",
        .document_digest = converted.text ? converted.digest : "",
        .contract_set_digest = orc_set_digest (set),
        .first_phase = (uint32_t) first,
        .last_phase = (uint32_t) last,
        .deadline_s = submit->deadline_s,
        .strict_deadline = submit->strict_deadline,
        .worker_budget = submit->worker_budget,
        .params_json = submit->params_json,
        .submitted_at_us = ff_clock_wall_us (),
        .contract_set = location,
        .submission_key = key,
    };
    if (orc_store_run_insert (self->store, &record) != 0) {
        ff_reply_error (reply, FARFAN__ERROR_CODE__UNAVAILABLE, "cannot record the run: %s",
                        orc_store_error (self->store));
        ff_reply_destroy (&reply);
        free (converted.text);
        if (handle) {
            orc_document_cancel (&handle);  //  no callback comes: its argument is ours
            free (arg);
        }
        orc_sets_release (self->sets, &set);
        return;
    }
    s_submission_remember (self, key, run_id);
    s_run_t *run = s_run_new (self, &record);
    run->set = set;
    run->contracts = orc_set_contracts (set);
    run->conversion = handle;
    run->conversion_arg = handle ? arg : NULL;
    ff_log_info ("run %s submitted: %s, phases %s..%s, contract set %s (%s)", run->id, run->name,
                 s_phase_name (first), s_phase_name (last), *location ? location : "default",
                 run->set_digest);
    if (*failure)
        s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, failure);
    else
    if (converted.text) {
        run->text = converted.text;
        run->text_size = converted.size;
        s_run_start (run);
    }
    //  Answered once the run (and a text document) is in the store.
    run = s_run (self, run_id);         //  s_run_end frees a run that ended
    Farfan__Submitted submitted = FARFAN__SUBMITTED__INIT;
    submitted.run_id = run_id;
    submitted.state = run ? run->state : FARFAN__RUN_STATE__RUN_FAILED;
    orc_store_run_t *stored = NULL;
    if (!run && orc_store_run_get (self->store, run_id, &stored) > 0 && stored)
        submitted.state = stored->state;
    orc_store_run_destroy (&stored);
    ff_reply_send (reply, FARFAN__MESSAGE_TYPE__SUBMITTED, &submitted.base);
    ff_reply_destroy (&reply);
}

//  ---------------------------------------------------------------------
//  Watching, cancelling, listing

void
orc_engine_watch (orc_engine_t *self, const char *run_id, ff_reply_t *reply)
{
    s_run_t *run = s_run (self, run_id);
    if (run) {
        zlistx_add_end (run->watchers, reply);
        s_progress (run, true);
        return;
    }
    Farfan__RunStatus status;
    if (s_status_from_store (self, run_id, &status, true) == 0) {
        ff_reply_send (reply, FARFAN__MESSAGE_TYPE__PROGRESS, &status.base);
        orc_engine_status_free (&status);
    }
    else
        ff_reply_error (reply, FARFAN__ERROR_CODE__NOT_FOUND, "no run %s", run_id);
    ff_reply_destroy (&reply);
}

int
orc_engine_cancel (orc_engine_t *self, const char *run_id)
{
    s_run_t *run = s_run (self, run_id);
    if (run) {
        s_run_end (run, FARFAN__RUN_STATE__RUN_CANCELLED, "cancelled by a client");
        return 0;
    }
    orc_store_run_t *record = NULL;
    int found = orc_store_run_get (self->store, run_id, &record);
    orc_store_run_destroy (&record);
    return found == 1 ? 1 : -1;
}

typedef struct {
    orc_engine_t *engine;
    Farfan__RunList *list;
    size_t capacity;
} s_list_t;

static int
s_list_one (const orc_store_run_t *record, void *arg)
{
    s_list_t *context = (s_list_t *) arg;
    if (context->list->n_runs == context->capacity)
        return 1;
    Farfan__RunStatus *status = (Farfan__RunStatus *) zmalloc (sizeof (Farfan__RunStatus));
    s_run_t *run = s_run (context->engine, record->id);
    if (run)
        s_status_fill (run, status, false);
    else
    if (s_status_from_store (context->engine, record->id, status, false) != 0) {
        free (status);
        return 0;
    }
    context->list->runs [context->list->n_runs++] = status;
    return 0;
}

void
orc_engine_list (orc_engine_t *self, uint32_t limit, Farfan__RunList *list)
{
    farfan__run_list__init (list);
    if (limit == 0)
        limit = 100;
    if (limit > ORC_LIST_MAX)
        limit = ORC_LIST_MAX;
    list->runs = (Farfan__RunStatus **) calloc (limit, sizeof (Farfan__RunStatus *));
    s_list_t context = { self, list, list->runs ? limit : 0 };
    orc_store_run_list (self->store, limit, s_list_one, &context);
}

void
orc_engine_list_free (Farfan__RunList *list)
{
    for (size_t i = 0; i < list->n_runs; i++) {
        orc_engine_status_free (list->runs [i]);
        free (list->runs [i]);
    }
    free (list->runs);
    list->runs = NULL;
    list->n_runs = 0;
}

//  ---------------------------------------------------------------------
//  Results and reports

typedef struct {
    Farfan__ContractResult **results;
    int *phases;
    size_t count;
    size_t capacity;
} s_results_t;

static int
s_collect_result (const orc_store_result_t *stored, void *arg)
{
    s_results_t *list = (s_results_t *) arg;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? 2 * list->capacity : 64;
        Farfan__ContractResult **results = (Farfan__ContractResult **)
            realloc (list->results, capacity * sizeof (void *));
        int *phases = (int *) realloc (list->phases, capacity * sizeof (int));
        if (results)
            list->results = results;
        if (phases)
            list->phases = phases;
        if (!results || !phases)
            return 1;
        list->capacity = capacity;
    }
    Farfan__ContractResult *result = farfan__contract_result__unpack (NULL, stored->size, stored->packed);
    if (!result)
        return 0;
    list->results [list->count] = result;
    list->phases [list->count] = (int) stored->phase;
    list->count++;
    return 0;
}

static void
s_results_free (s_results_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        farfan__contract_result__free_unpacked (list->results [i], NULL);
    free (list->results);
    free (list->phases);
}

void
orc_engine_results (orc_engine_t *self, const Farfan__ResultsRequest *request, ff_rpc_t *rpc,
                    const ff_msg_t *msg)
{
    Farfan__RunStatus status;
    if (orc_engine_status (self, request->run_id, &status) != 0) {
        ff_rpc_reply_error (rpc, msg, FARFAN__ERROR_CODE__NOT_FOUND, "no run %s", request->run_id);
        return;
    }
    orc_engine_status_free (&status);
    int phase = -1;
    if (*request->phase && (phase = fac_phase_parse (request->phase)) < 0) {
        ff_rpc_reply_error (rpc, msg, FARFAN__ERROR_CODE__INVALID_ARGUMENT,
                            "phase \"%s\" is not P00..P09", request->phase);
        return;
    }
    s_results_t list = { 0 };
    if (orc_store_result_each (self->store, request->run_id, phase,
                               *request->contract_id ? request->contract_id : NULL,
                               s_collect_result, &list) < 0) {
        ff_rpc_reply_error (rpc, msg, FARFAN__ERROR_CODE__INTERNAL, "%s", orc_store_error (self->store));
        s_results_free (&list);
        return;
    }
    Farfan__RunResults reply = FARFAN__RUN_RESULTS__INIT;
    reply.run_id = request->run_id;
    reply.results = list.results;
    reply.n_results = list.count;
    ff_rpc_reply (rpc, msg, FARFAN__MESSAGE_TYPE__RUN_RESULTS, &reply.base);
    s_results_free (&list);
}

void
orc_engine_report (orc_engine_t *self, const Farfan__ReportRequest *request, ff_rpc_t *rpc,
                   const ff_msg_t *msg)
{
    Farfan__RunStatus status;
    if (orc_engine_status (self, request->run_id, &status) != 0) {
        ff_rpc_reply_error (rpc, msg, FARFAN__ERROR_CODE__NOT_FOUND, "no run %s", request->run_id);
        return;
    }
    s_results_t list = { 0 };
    orc_store_result_each (self->store, request->run_id, -1, NULL, s_collect_result, &list);
    const char *media_type = "";
    size_t size = 0;
    char err [256];
    char *content = orc_report_render (&status, list.results, list.phases, list.count,
                                       request->format, &media_type, &size, err, sizeof err);
    if (!content)
        ff_rpc_reply_error (rpc, msg, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "%s", err);
    else {
        Farfan__RunReport reply = FARFAN__RUN_REPORT__INIT;
        reply.run_id = request->run_id;
        reply.format = (char *) (*request->format ? request->format : "json");
        reply.media_type = (char *) media_type;
        reply.content.data = (uint8_t *) content;
        reply.content.len = size;
        ff_rpc_reply (rpc, msg, FARFAN__MESSAGE_TYPE__RUN_REPORT, &reply.base);
        free (content);
    }
    s_results_free (&list);
    orc_engine_status_free (&status);
}

//  ---------------------------------------------------------------------
//  Construction, resume

static int
s_resume_one (const orc_store_run_t *record, void *arg)
{
    orc_engine_t *self = (orc_engine_t *) arg;
    s_run_t *run = s_run_new (self, record);
    orc_store_phase_t phases [ORC_STORE_PHASES];
    int count = orc_store_phase_list (self->store, run->id, phases);
    for (int i = 0; i < count; i++)
        run->phases [phases [i].phase] = phases [i];
    return 0;
}

//  What later phases of a resumed run need of its committed results.
static int
s_resume_result (const orc_store_result_t *stored, void *arg)
{
    s_run_t *run = (s_run_t *) arg;
    Farfan__ContractResult *result = farfan__contract_result__unpack (NULL, stored->size, stored->packed);
    s_done_t *done = (s_done_t *) zmalloc (sizeof (s_done_t));
    if (result)
        s_done_from_result (done, result);
    else {
        done->status = (int) stored->status;
        done->quality = strdup ("");
    }
    farfan__contract_result__free_unpacked (result, NULL);
    zhashx_update (run->committed, stored->contract_id, done);
    return 0;
}

orc_engine_t *
orc_engine_new (const orc_engine_options_t *options, zloop_t *loop, orc_store_t *store,
                orc_sets_t *sets, ff_publisher_t *publisher, ff_metrics_t *metrics,
                char *err, size_t err_size)
{
    orc_engine_t *self = (orc_engine_t *) zmalloc (sizeof (orc_engine_t));
    self->options = *options;
    self->loop = loop;
    self->store = store;
    self->sets = sets;
    self->publisher = publisher;
    self->metrics = metrics;
    zuuid_t *uuid = zuuid_new ();
    snprintf (self->boot, sizeof self->boot, "%.8s", uuid ? zuuid_str (uuid) : "00000000");
    zuuid_destroy (&uuid);
    self->runs = zhashx_new ();
    self->order = zlistx_new ();
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->requests = zhashx_new ();
    zhashx_set_destructor (self->requests, s_request_free);
    self->pending = zlistx_new ();
    self->commit_timer = -1;
    self->unrecorded = zhashx_new ();
    zhashx_set_destructor (self->unrecorded, s_unrecorded_free);
    self->unrecorded_timer = -1;
    self->timers = zhashx_new ();
    zhashx_set_key_hasher (self->timers, s_id_hash);
    zhashx_set_key_comparator (self->timers, s_id_compare);
    zhashx_set_key_duplicator (self->timers, NULL);
    zhashx_set_key_destructor (self->timers, NULL);
    zhashx_set_destructor (self->timers, s_free_string);
    self->submissions = zhashx_new ();
    zhashx_set_destructor (self->submissions, s_free_string);
    self->submission_keys = zlistx_new ();
    zlistx_set_destructor (self->submission_keys, s_free_string);
    static const char *states [] = { "unspecified", "queued", "running", "succeeded", "failed", "cancelled" };
    for (int i = 3; i < 6; i++) {
        char labels [32];
        snprintf (labels, sizeof labels, "state=\"%s\"", states [i]);
        self->runs_ended [i] = ff_metrics_counter (metrics, "farfan_runs_total", "Runs ended, by final state", labels);
    }
    self->dispatched = ff_metrics_counter (metrics, "farfan_contracts_dispatched_total",
        "Contracts sent to factories (retries and re-dispatches included)", NULL);
    self->submissions_repeated = ff_metrics_counter (metrics, "farfan_submissions_repeated_total",
        "SUBMITs resent by a client, answered with the run they had started", NULL);
    self->committed = ff_metrics_counter (metrics, "farfan_results_committed_total",
        "Contract results committed to the store", NULL);
    self->duplicates = ff_metrics_counter (metrics, "farfan_results_duplicate_total",
        "Results that arrived for a contract already answered or committed (the first is kept)",
        NULL);
    self->unknown_replies = ff_metrics_counter (metrics, "farfan_worker_replies_unknown_total",
        "Replies from factories to no request of this orchestrator (late, or from before a restart)",
        NULL);
    self->malformed_replies = ff_metrics_counter (metrics, "farfan_worker_replies_malformed_total",
        "Replies from factories whose body does not decode (dropped; the request goes on as if "
        "unanswered)", NULL);
    self->redispatched_lost = ff_metrics_counter (metrics, "farfan_contracts_redispatched_total",
        "Contracts dispatched again, by why", "reason=\"lost\"");
    self->retried = ff_metrics_counter (metrics, "farfan_contracts_redispatched_total",
        "Contracts dispatched again, by why", "reason=\"failed\"");
    self->redispatched_stale = ff_metrics_counter (metrics, "farfan_contracts_redispatched_total",
        "Contracts dispatched again, by why", "reason=\"stale_definition\"");
    self->commit_duration = ff_metrics_histogram (metrics, "farfan_commit_duration_seconds",
        "Time to commit a group of results, seconds", NULL);

    //  Resume what a previous orchestrator left unfinished.
    if (orc_store_run_unfinished (store, s_resume_one, self) < 0) {
        snprintf (err, err_size, "cannot read unfinished runs: %s", orc_store_error (store));
        orc_engine_destroy (&self);
        return NULL;
    }
    zlistx_t *resumed = zlistx_dup (self->order);
    for (s_run_t *run = (s_run_t *) zlistx_first (resumed); run; run = (s_run_t *) zlistx_next (resumed)) {
        //  Its contract set again, from where it was loaded, and exactly
        //  the definitions it started with: a run never goes on with
        //  other contracts.
        char set_err [768];
        char error [1200];
        run->set = orc_sets_acquire (sets, run->set_location, set_err, sizeof set_err);
        if (!run->set) {
            snprintf (error, sizeof error, "resumed after a restart, but its contract set cannot "
                      "be loaded again: %s", set_err);
            s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
            continue;
        }
        if (*run->set_digest && !streq (orc_set_digest (run->set), run->set_digest)) {
            snprintf (error, sizeof error, "resumed after a restart, but its contract set (%s) "
                      "changed since it was submitted: it was %s, it is %s now; the run does "
                      "not go on with other contracts",
                      *run->set_location ? run->set_location : "the orchestrator's contracts_dir",
                      run->set_digest, orc_set_digest (run->set));
            s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED, error);
            continue;
        }
        run->contracts = orc_set_contracts (run->set);
        orc_store_result_each (store, run->id, -1, NULL, s_resume_result, run);
        uint8_t *text = NULL;
        size_t size = 0;
        if (orc_store_document_get (store, run->digest, &text, &size) != 1) {
            s_run_end (run, FARFAN__RUN_STATE__RUN_FAILED,
                       "resumed after a restart, but its document was never stored");
            continue;
        }
        run->text = (char *) text;
        run->text_size = size;
        ff_log_info ("run %s resumes: %zu results already committed", run->id,
                     zhashx_size (run->committed));
        s_run_start (run);
    }
    zlistx_destroy (&resumed);
    return self;
}

void
orc_engine_destroy (orc_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    orc_engine_t *self = *self_p;
    //  Results received but not committed are dropped: the factories' work
    //  for them is redone after a restart (nothing was counted done).
    s_pending_t *pending;
    while (self->pending && (pending = (s_pending_t *) zlistx_first (self->pending))) {
        zlistx_delete (self->pending, zlistx_cursor (self->pending));
        s_pending_free (pending);
    }
    zlistx_destroy (&self->pending);
    s_timer_end (self, &self->commit_timer);
    s_timer_end (self, &self->unrecorded_timer);
    //  Ends not recorded are lost with the process: a restart resumes
    //  those runs (a last attempt first).
    if (self->unrecorded && zhashx_size (self->unrecorded) > 0)
        s_unrecorded_retry (self);
    zhashx_destroy (&self->unrecorded);
    s_run_t *run;
    while (self->order && (run = (s_run_t *) zlistx_first (self->order)))
        s_run_free (run);
    zlistx_destroy (&self->order);
    zhashx_destroy (&self->runs);
    zhashx_destroy (&self->requests);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->timers);
    zhashx_destroy (&self->submissions);
    zlistx_destroy (&self->submission_keys);
    free (self);
    *self_p = NULL;
}
