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
#include "ff_service.h"

typedef struct {
    ff_service_config_t service;    // settings every service has
    char *endpoint;                 // direct API (ROUTER)
    char *orchestrator_endpoint;    // worker link to the orchestrator; "" = standalone
    char *sisas_endpoint;           // SISAS ingest for signals; "" = off
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

#endif
