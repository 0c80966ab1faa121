/*  farfan-orchestrator: see orc_server.h. */
#include "orc_server.h"
#include "ff_daemon.h"

static void *
s_server_new (const void *config, char *err, size_t err_size)
{
    return orc_server_new ((const orc_config_t *) config, err, err_size);
}

int
main (int argc, char **argv)
{
    ff_daemon_t daemon = {
        .schema = &orc_config_schema,
        .config_size = sizeof (orc_config_t),
        .common_offset = offsetof (orc_config_t, service),
        .server_new = s_server_new,
        .actor = orc_server_actor,
    };
    return ff_daemon_main (&daemon, argc, argv);
}
