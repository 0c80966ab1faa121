/*  bench_ping_support — see bench_ping_support.h. */
#include "bench_ping_support.h"

#include <stdio.h>

#define S_ARGS_MAX 32

zactor_t *
ff_bench_factory_start (const char *program, fac_config_t *config,
                        const char *const *extra, size_t count,
                        char *endpoint, size_t endpoint_size)
{
    char *argv [S_ARGS_MAX] = { "bench", "--endpoint", "@tcp://127.0.0.1:*",
                                "--orchestrator-endpoint", "", "--sisas-endpoint", "",
                                "--http-port", "0", "--hwm", "10000" };
    int argc = 11;
    for (size_t i = 0; i < count && argc < S_ARGS_MAX; i++)
        argv [argc++] = (char *) extra [i];
    char err [512] = "";
    if (count > (size_t) (S_ARGS_MAX - 11)) {
        fprintf (stderr, "%s: too many factory settings\n", program);
        return NULL;
    }
    if (ff_config_load (&fac_config_schema, config, argc, argv, stdout, err, sizeof err)
        != FF_CONFIG_LOADED) {
        fprintf (stderr, "%s: config: %s\n", program, err);
        return NULL;
    }
    fac_server_t *server = fac_server_new (config, err, sizeof err);
    if (!server) {
        fprintf (stderr, "%s: factory: %s\n", program, err);
        return NULL;
    }
    zactor_t *actor = zactor_new (fac_server_actor, server);
    zstr_sendx (actor, "ENDPOINT", "direct", NULL);
    char *bound = zstr_recv (actor);
    snprintf (endpoint, endpoint_size, "%s", bound ? bound : "");
    zstr_free (&bound);
    return actor;
}

int
ff_bench_ping_send (zsock_t *dealer, uint64_t sequence)
{
    char correlation_id [32];
    snprintf (correlation_id, sizeof correlation_id, "b-%llu", (unsigned long long) sequence);
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__PING,
                               .correlation_id = correlation_id, .sender_id = "bench" };
    Farfan__Ping ping = FARFAN__PING__INIT;
    return ff_msg_send (dealer, NULL, false, &header, &ping.base);
}

int
ff_bench_pong_recv (zsock_t *dealer, ff_msg_t *reply)
{
    if (ff_msg_recv (reply, dealer) != 0 || ff_msg_type (reply) != FARFAN__MESSAGE_TYPE__PONG)
        return -1;
    return 0;
}
