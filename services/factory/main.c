/*  farfan-factory: see fac_server.h. */
#include "fac_server.h"
#include "ff_daemon.h"

static void *
s_server_new (const void *config, char *err, size_t err_size)
{
    return fac_server_new ((const fac_config_t *) config, err, err_size);
}

int
main (int argc, char **argv)
{
    ff_daemon_t daemon = {
        .schema = &fac_config_schema,
        .config_size = sizeof (fac_config_t),
        .common_offset = offsetof (fac_config_t, service),
        .server_new = s_server_new,
        .actor = fac_server_actor,
    };
    return ff_daemon_main (&daemon, argc, argv);
}
