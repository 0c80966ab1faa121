/*  orc_server — the farfan-orchestrator daemon: runs documents through
    phases P00–P09 across the registered factories.

    Sockets (DESIGN.md §1):
      client   ROUTER, default @tcp://0.0.0.0:5550   client API (farfanctl, services)
      worker   ROUTER, default @tcp://0.0.0.0:5551   factories register here (DEALER)
      sisas    signal publisher, default >tcp://127.0.0.1:5570 (empty = off)
    plus HTTP /metrics and /healthz on port 9550.

    Actor: orc_server_new binds everything, orc_server_actor runs it and
    owns it from then on; it answers the ff_service pipe commands
    (ENDPOINT client|worker, HTTP_PORT, $TERM).
*/
#ifndef ORC_SERVER_H_INCLUDED
#define ORC_SERVER_H_INCLUDED

#include <czmq.h>

#include "ff_config.h"
#include "ff_daemon.h"
#include "ff_service.h"

typedef struct {
    ff_service_config_t service;    // settings every service has
    char *client_endpoint;          // client API (ROUTER)
    char *worker_endpoint;          // factories' API (ROUTER)
    char *sisas_endpoint;           // SISAS ingest for signals; "" = off
    int64_t heartbeat_ms;           // worker API heartbeat interval, both ways
    int64_t liveness;               // missed intervals before a factory expires
    int64_t max_factories;          // registry bound
    char *sisas_control_endpoint;   // SISAS delivery, for THROTTLE / BACKPRESSURE; "" = ignore
    char *data_dir;                 // the store (orchestrator.db) lives here
    char *contracts_dir;            // the default contract set (runs that name none)
    char *contract_sets_dir;        // where the sets runs name are ("" = names refused)
    int64_t contract_set_cache;     // sets no run holds kept loaded
    int64_t retries;                // extra attempts of a failed contract
    int64_t align_timeout_ms;       // SYNC/PLAN answers waited for before a phase starts
    int64_t watch_interval_ms;      // least time between PROGRESS messages
    int64_t default_batch_size;     // when a factory's SYNC names none
    char *pdftotext;                // PDF converter
    int64_t convert_timeout_ms;     // conversion time limit
    int64_t document_max_bytes;     // largest document accepted
    int64_t snapshot_interval_ms;   // how often each factory's snapshot is taken (0 = never)
} orc_config_t;

extern const ff_config_schema_t orc_config_schema;

typedef struct orc_server orc_server_t;

//  NULL with the reason in err.
orc_server_t *
    orc_server_new (const orc_config_t *config, char *err, size_t err_size);

//  Idempotent; nulls *self_p.
void
    orc_server_destroy (orc_server_t **self_p);

//  zactor function; args is an orc_server_t * owned by the actor from now.
void
    orc_server_actor (zsock_t *pipe, void *args);

//  The daemon: settings, server and actor, for ff_daemon_main (main.c) and
//  for whatever runs the service in-process (tests, fuzzers).
extern const ff_daemon_t orc_daemon;

#endif
