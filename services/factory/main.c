/*  farfan-factory: see fac_server.h. */
#include "fac_server.h"
#include "ff_daemon.h"

int
main (int argc, char **argv)
{
    return ff_daemon_main (&fac_daemon, argc, argv);
}
