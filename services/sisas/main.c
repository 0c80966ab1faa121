/*  farfan-sisas: see sis_server.h. */
#include "sis_server.h"
#include "ff_daemon.h"

static void *
s_server_new (const void *config, char *err, size_t err_size)
{
    return sis_server_new ((const sis_config_t *) config, err, err_size);
}

int
main (int argc, char **argv)
{
    ff_daemon_t daemon = {
        .schema = &sis_config_schema,
        .config_size = sizeof (sis_config_t),
        .common_offset = offsetof (sis_config_t, service),
        .server_new = s_server_new,
        .actor = sis_server_actor,
    };
    return ff_daemon_main (&daemon, argc, argv);
}
