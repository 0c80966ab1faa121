/*  fac_server — the farfan-factory daemon: executes contracts.

    Sockets (DESIGN.md §1):
      direct         ROUTER, default @tcp://0.0.0.0:5560   farfanctl and direct clients
      orchestrator   DEALER, default >tcp://127.0.0.1:5551 (empty = standalone)
      sisas          signal publisher, default >tcp://127.0.0.1:5570 (empty = off)
    plus HTTP /metrics and /healthz on port 9560.

    Actor: fac_server_new binds everything (errors are reported before the
    actor starts), fac_server_actor runs it and owns it from then on. The
    actor answers the ff_service pipe commands (ENDPOINT direct|orchestrator,
    HTTP_PORT, $TERM).
*/
#ifndef FAC_SERVER_H_INCLUDED
#define FAC_SERVER_H_INCLUDED

#include <czmq.h>

#include "ff_config.h"
#include "ff_daemon.h"
#include "ff_service.h"

typedef struct {
    ff_service_config_t service;    // settings every service has
    char *endpoint;                 // direct API (ROUTER)
    char *orchestrator_endpoint;    // worker link to the orchestrator; "" = standalone
    int64_t heartbeat_ms;           // link heartbeat interval until WELCOME names one
    int64_t liveness;               // missed intervals before the orchestrator is taken for gone
    int64_t reconnect_ms;           // first READY retry / reconnect delay (doubles)
    int64_t reconnect_max_ms;       // longest READY retry / reconnect delay
    char *sisas_endpoint;           // SISAS ingest for signals; "" = off
    char *sisas_control_endpoint;   // SISAS delivery, for THROTTLE / BACKPRESSURE; "" = ignore
    char *contracts_dir;            // contracts loaded at start; "" = none
    bool strict;                    // refuse to start when a contract is invalid
    int64_t max_workers;            // worker threads for CPU-bound methods
    bool enable_parallel_execution; // false: everything inline
    int64_t batch_execution_threshold;  // batches this large or larger go to the pool
    int64_t inline_below_us;            // instant contracts run inline in parallel batches (0 = never)
    int64_t max_pending;            // contracts accepted and unfinished (OVERLOADED beyond)
    int64_t max_contracts_per_request;  // EXECUTE / PUT_CONTRACTS naming more: INVALID_ARGUMENT
    int64_t compiled_cache_size;    // compiled contracts kept
    int64_t compiled_cache_ttl_ms;
    int64_t result_cache_size;      // results kept
    int64_t result_cache_bytes;
    int64_t result_cache_ttl_ms;
    int64_t document_cache_count;   // documents kept
    int64_t document_cache_bytes;
    int64_t document_max_bytes;     // largest document accepted
    double default_estimate_ms;     // plan estimate when nothing was measured
    double target_batch_ms;         // the recommended batch size aims at batches this long
    char *exec_allowed;             // programs `exec` may run (comma-separated); "" = exec disabled
} fac_config_t;

extern const ff_config_schema_t fac_config_schema;

typedef struct fac_server fac_server_t;

//  Builds the factory from config (copied where kept). NULL with the
//  reason in err.
fac_server_t *
    fac_server_new (const fac_config_t *config, char *err, size_t err_size);

//  Idempotent; nulls *self_p.
void
    fac_server_destroy (fac_server_t **self_p);

//  zactor function; args is a fac_server_t * whose ownership passes to the
//  actor.
void
    fac_server_actor (zsock_t *pipe, void *args);

//  The daemon: settings, server and actor, for ff_daemon_main (main.c) and
//  for whatever runs the service in-process (tests, fuzzers).
extern const ff_daemon_t fac_daemon;

#endif
