#include "fac_server.h"
#include "ff_log.h"

#include <stddef.h>

static const ff_config_key_t s_keys [] = {
    FF_SERVICE_CONFIG_KEYS (fac_config_t, service, "9560"),
    { "endpoint", FF_CONFIG_ENDPOINT, offsetof (fac_config_t, endpoint),
      "@tcp://*:5560", 1, 0, "direct API (ROUTER) for farfanctl and direct clients" },
    { "orchestrator_endpoint", FF_CONFIG_ENDPOINT, offsetof (fac_config_t, orchestrator_endpoint),
      ">tcp://127.0.0.1:5551", 0, 0, "orchestrator worker API to register with (empty = standalone)" },
    { "sisas_endpoint", FF_CONFIG_ENDPOINT, offsetof (fac_config_t, sisas_endpoint),
      ">tcp://127.0.0.1:5570", 0, 0, "SISAS ingest to publish signals to (empty = off)" },
};

const ff_config_schema_t fac_config_schema = {
    .program = "farfan-factory",
    .service = "factory",
    .summary = "Executes FARFAN contracts: caches, thread pool, batch and async execution.",
    .keys = s_keys,
    .key_count = sizeof s_keys / sizeof s_keys [0],
};

struct fac_server {
    ff_service_t *service;          // identity, metrics, HTTP, loop, sockets
    ff_publisher_t *publisher;      // signals to SISAS (the service's); NULL when off
};

//  Message types the factory handles beyond PING (answered by ff_rpc).
static const ff_rpc_route_t s_direct_routes [] = {
    { 0, NULL },
};

fac_server_t *
fac_server_new (const fac_config_t *config, char *err, size_t err_size)
{
    fac_server_t *self = (fac_server_t *) zmalloc (sizeof (fac_server_t));
    self->service = ff_service_new ("factory", &config->service, err, err_size);
    if (!self->service)
        goto failed;
    zsock_t *direct = ff_service_socket (self->service, "direct", ZMQ_ROUTER,
                                         config->endpoint, true, err, err_size);
    if (!direct || !ff_service_serve (self->service, direct, "direct", s_direct_routes, self))
        goto failed;
    if (*config->orchestrator_endpoint) {
        zsock_t *link = ff_service_socket (self->service, "orchestrator", ZMQ_DEALER,
                                           config->orchestrator_endpoint, false, err, err_size);
        if (!link || !ff_service_serve (self->service, link, "orchestrator", s_direct_routes, self))
            goto failed;
    }
    if (*config->sisas_endpoint) {
        self->publisher = ff_service_publisher (self->service, config->sisas_endpoint,
                                                err, err_size);
        if (!self->publisher)
            goto failed;
    }
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
        ff_service_destroy (&self->service);
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
