/*  farfan-orchestrator: see orc_server.h. */
#include "orc_server.h"
#include "ff_daemon.h"

int
main (int argc, char **argv)
{
    return ff_daemon_main (&orc_daemon, argc, argv);
}
