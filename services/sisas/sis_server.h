/*  sis_server — the farfan-sisas daemon: the signal bus.

    Sockets (DESIGN.md §1):
      ingest    SUB,    default @tcp://0.0.0.0:5570   publishers PUB-connect here
      publish   XPUB,   default @tcp://0.0.0.0:5571   subscribers SUB-connect here
      control   ROUTER, default @tcp://0.0.0.0:5572   control API, vehicles
    plus HTTP /metrics and /healthz on port 9570.

    Every signal received on ingest is decoded and validated
    (proto/signal-schema.md): a valid one is handed to the publish socket
    as it came, an invalid one is counted by reason and never delivered.
    Between messages, received = delivered + rejected + shed exactly
    (farfan_signals_*_total). A subscriber slower than its high-water mark
    loses messages inside the publish socket (libzmq PUB semantics).

    Actor: sis_server_new binds everything, sis_server_actor runs it and
    owns it from then on; it answers the ff_service pipe commands
    (ENDPOINT ingest|publish|control, HTTP_PORT, $TERM).
*/
#ifndef SIS_SERVER_H_INCLUDED
#define SIS_SERVER_H_INCLUDED

#include <czmq.h>

#include "ff_config.h"
#include "ff_service.h"

typedef struct {
    ff_service_config_t service;    // settings every service has
    char *ingest_endpoint;          // SUB publishers connect to
    char *publish_endpoint;         // XPUB subscribers connect to
    char *control_endpoint;         // control API (ROUTER)
} sis_config_t;

extern const ff_config_schema_t sis_config_schema;

typedef struct sis_server sis_server_t;

//  NULL with the reason in err.
sis_server_t *
    sis_server_new (const sis_config_t *config, char *err, size_t err_size);

//  Idempotent; nulls *self_p.
void
    sis_server_destroy (sis_server_t **self_p);

//  zactor function; args is a sis_server_t * owned by the actor from now.
void
    sis_server_actor (zsock_t *pipe, void *args);

#endif
