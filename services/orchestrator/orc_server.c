#include "orc_server.h"

#include <stddef.h>

static const ff_config_key_t s_keys [] = {
    FF_SERVICE_CONFIG_KEYS (orc_config_t, service, "9550"),
    { "client_endpoint", FF_CONFIG_ENDPOINT, offsetof (orc_config_t, client_endpoint),
      "@tcp://*:5550", 1, 0, "client API (ROUTER) for farfanctl and other services" },
    { "worker_endpoint", FF_CONFIG_ENDPOINT, offsetof (orc_config_t, worker_endpoint),
      "@tcp://*:5551", 1, 0, "worker API (ROUTER) factories connect and register to" },
    { "sisas_endpoint", FF_CONFIG_ENDPOINT, offsetof (orc_config_t, sisas_endpoint),
      ">tcp://127.0.0.1:5570", 0, 0, "SISAS ingest to publish signals to (empty = off)" },
};

const ff_config_schema_t orc_config_schema = {
    .program = "farfan-orchestrator",
    .service = "orchestrator",
    .summary = "Runs documents through FARFAN phases P00-P09 across factories.",
    .keys = s_keys,
    .key_count = sizeof s_keys / sizeof s_keys [0],
};

struct orc_server {
    ff_service_t *service;          // identity, metrics, HTTP, loop, sockets
    ff_publisher_t *publisher;      // signals to SISAS (the service's); NULL when off
};

//  Client API message types beyond PING (answered by ff_rpc).
static const ff_rpc_route_t s_client_routes [] = {
    { 0, NULL },
};

//  Worker API message types beyond PING.
static const ff_rpc_route_t s_worker_routes [] = {
    { 0, NULL },
};

orc_server_t *
orc_server_new (const orc_config_t *config, char *err, size_t err_size)
{
    orc_server_t *self = (orc_server_t *) zmalloc (sizeof (orc_server_t));
    self->service = ff_service_new ("orchestrator", &config->service, err, err_size);
    if (!self->service)
        goto failed;
    zsock_t *client = ff_service_socket (self->service, "client", ZMQ_ROUTER,
                                         config->client_endpoint, true, err, err_size);
    if (!client || !ff_service_serve (self->service, client, "client", s_client_routes, self))
        goto failed;
    zsock_t *worker = ff_service_socket (self->service, "worker", ZMQ_ROUTER,
                                         config->worker_endpoint, true, err, err_size);
    if (!worker || !ff_service_serve (self->service, worker, "worker", s_worker_routes, self))
        goto failed;
    if (*config->sisas_endpoint) {
        self->publisher = ff_service_publisher (self->service, config->sisas_endpoint,
                                                err, err_size);
        if (!self->publisher)
            goto failed;
    }
    return self;

failed:
    orc_server_destroy (&self);
    return NULL;
}

void
orc_server_destroy (orc_server_t **self_p)
{
    if (self_p && *self_p) {
        orc_server_t *self = *self_p;
        ff_service_destroy (&self->service);
        free (self);
        *self_p = NULL;
    }
}

void
orc_server_actor (zsock_t *pipe, void *args)
{
    orc_server_t *self = (orc_server_t *) args;
    ff_service_run (self->service, pipe);
    orc_server_destroy (&self);
}
