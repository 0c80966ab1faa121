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
#include "ff_service.h"

typedef struct {
    ff_service_config_t service;    // settings every service has
    char *client_endpoint;          // client API (ROUTER)
    char *worker_endpoint;          // factories' API (ROUTER)
    char *sisas_endpoint;           // SISAS ingest for signals; "" = off
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

#endif
