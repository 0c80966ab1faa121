/*  orc_engine — runs: a document through phases P00–P09 across the
    registered factories (DESIGN.md §4).

    A run moves through its phases in order. Each phase's work is the
    ACTIVE contracts that name it in applicable_phases (the orchestrator
    holds no domain logic). Before a phase, every registered factory is
    aligned: SYNC with the contracts the phase needs and their digests;
    missing or stale definitions are shipped (PUT_CONTRACTS) and SYNC is
    repeated; a factory that still conflicts is left out of the phase, the
    run's status saying which and why. The aligned factories' PLANs give
    the estimates: contracts are queued longest first, the ETA and a
    deadline check (a warning, or a failure with strict_deadline) come
    before the work starts. Dispatch is credit-based and by pull: a factory
    with room (in flight < the cap agreed in SYNC) takes the next batch
    (at most its recommended batch size) from the head of the queue, so
    work is split by the factories' measured capacity. Aggregation
    contracts get their inputs' committed results.

    Every result is committed to the store (grouped per loop turn) before
    it counts as done; a result arriving twice is stored once. A failed or
    timed-out contract is retried up to `retries` times, on another factory
    when there is one; a contract lost with a factory (expired, gone) is
    dispatched again. A phase fails when any of its contracts failed after
    its retries (the run then ends failed, naming them). After a restart,
    unfinished runs resume from the store without re-running what is
    committed.

    Everything runs on the orchestrator actor's thread. Talking to a
    factory goes through a send function (the worker registry's); the
    registry's callbacks come in through orc_engine_factory_ready,
    orc_engine_factory_gone and orc_engine_reply.
*/
#ifndef ORC_ENGINE_H_INCLUDED
#define ORC_ENGINE_H_INCLUDED

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fac_contract.h"
#include "ff_metrics.h"
#include "ff_msg.h"
#include "ff_publisher.h"
#include "ff_rpc.h"
#include "orc_document.h"
#include "orc_sets.h"
#include "orc_store.h"
#include "orchestrator.pb-c.h"

typedef struct orc_engine orc_engine_t;

//  Sends a request to a registered factory (non-blocking). 0, or -1 when
//  refused (the factory is gone or saturated).
typedef int (orc_send_fn) (void *arg, const char *factory_id, uint32_t type,
                           const char *correlation_id, const ProtobufCMessage *body);

typedef struct {
    uint32_t retries;               // extra attempts of a failed contract
    uint32_t align_timeout_ms;      // SYNC/PLAN answers waited for before a phase starts without them
    uint32_t watch_interval_ms;     // least time between PROGRESS messages of a run
    uint32_t default_batch_size;    // when a factory's SYNC named none
    orc_document_options_t document;
    const char *instance_id;        // this orchestrator, in correlation ids and signals
    orc_send_fn *send;              // to factories
    void *send_arg;
} orc_engine_options_t;

//  store, sets, publisher (may be NULL) and metrics are borrowed and must
//  outlive the engine. Each run holds its own contract set (from sets:
//  SubmitRun.contract_set). Resumes the store's unfinished runs (their
//  phases wait for factories to register), each with its set reloaded from
//  where it was loaded: a set that cannot be loaded, or whose digest is not
//  the one recorded at submission, fails the run. NULL with the reason in
//  err.
orc_engine_t *
    orc_engine_new (const orc_engine_options_t *options, zloop_t *loop, orc_store_t *store,
                    orc_sets_t *sets, ff_publisher_t *publisher,
                    ff_metrics_t *metrics, char *err, size_t err_size);

//  Stops everything (watchers are told nothing more; runs stay as the
//  store has them, to resume). Nulls *self_p.
void
    orc_engine_destroy (orc_engine_t **self_p);

//  ---------------------------------------------------------------------
//  Client API (the server's handlers call these)

//  SUBMIT keys remembered in memory; older ones are looked up in the store.
#define ORC_SUBMISSIONS_REMEMBERED 4096

//  Accepts a run: answers SUBMITTED through reply (taking it) once the run
//  is recorded and, for a text document, the document stored (a PDF is
//  stored when its conversion ends: an orchestrator killed before that
//  resumes the run as FAILED, "its document was never stored"), and goes
//  on in the background. On a refused submission (no document, bad phase
//  range, a contract set that cannot be resolved or loaded, holds an
//  invalid contract or none...) answers ERROR INVALID_ARGUMENT instead,
//  storing nothing; UNAVAILABLE when the store cannot record the run (a
//  full disk). key (NULL = none) identifies the request across a client's
//  resends (sender id and correlation id) and is stored with the run: a
//  SUBMIT whose key started a run still in the store, before a restart
//  too, is answered with that run, and nothing new starts (the last
//  ORC_SUBMISSIONS_REMEMBERED keys from memory, the others from the
//  store).
void
    orc_engine_submit (orc_engine_t *self, const Farfan__SubmitRun *submit, const char *key,
                       ff_reply_t *reply);

//  Fills status for run_id (from memory, or from the store for older
//  runs). Returns 0, or -1 when there is no such run. Free with
//  orc_engine_status_free.
int
    orc_engine_status (orc_engine_t *self, const char *run_id, Farfan__RunStatus *status);
void
    orc_engine_status_free (Farfan__RunStatus *status);

//  Streams PROGRESS to reply until the run ends (the last one final);
//  takes reply. An unknown run gets ERROR NOT_FOUND; a run already ended
//  gets its final PROGRESS at once.
void
    orc_engine_watch (orc_engine_t *self, const char *run_id, ff_reply_t *reply);

//  Cancels a run: no more dispatch, what is in flight is ignored. Returns
//  0, 1 when it had ended already, -1 when unknown.
int
    orc_engine_cancel (orc_engine_t *self, const char *run_id);

//  Answers RESULTS (RUN_RESULTS) and REPORT (RUN_REPORT), or the error.
void
    orc_engine_results (orc_engine_t *self, const Farfan__ResultsRequest *request, ff_rpc_t *rpc,
                        const ff_msg_t *msg);
void
    orc_engine_report (orc_engine_t *self, const Farfan__ReportRequest *request, ff_rpc_t *rpc,
                       const ff_msg_t *msg);

//  The most recent runs (RUN_LIST): `limit` of them (0 = 100; at most
//  ORC_LIST_MAX, a larger limit is taken as ORC_LIST_MAX). Free with
//  orc_engine_list_free.
#define ORC_LIST_MAX 10000
void
    orc_engine_list (orc_engine_t *self, uint32_t limit, Farfan__RunList *list);
void
    orc_engine_list_free (Farfan__RunList *list);

//  What the engine has out on a factory now, and the cap agreed with it.
void
    orc_engine_factory_load (orc_engine_t *self, const char *factory_id, uint32_t *in_flight,
                             uint32_t *in_flight_cap);

//  ---------------------------------------------------------------------
//  From the worker registry

//  A factory registered (or re-registered): it joins running phases.
void
    orc_engine_factory_ready (orc_engine_t *self, const char *factory_id);

//  A factory expired or left: its contracts in flight go back to the queue.
void
    orc_engine_factory_gone (orc_engine_t *self, const char *factory_id, const char *reason);

//  A reply from a factory to one of the engine's requests.
void
    orc_engine_reply (orc_engine_t *self, const char *factory_id, const ff_msg_t *msg);

#endif
