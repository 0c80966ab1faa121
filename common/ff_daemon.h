/*  ff_daemon — the main() every farfan daemon shares.

    Loads the configuration (exit 0 after --help/--version, exit 2 on a bad
    setting, naming it), sets up logging, creates the server in the main
    thread (so a port already in use is reported before anything runs,
    exit 1), runs it as an actor, and waits for SIGTERM or SIGINT. Signals
    are blocked in every thread and read through a signalfd here, so no
    library thread can swallow them; CZMQ's own handler is disabled. On a
    signal the actor gets $TERM, closes its sockets with linger 0 and the
    process exits 0 — well within a second.

    The actor may end on its own (fatal error): main then exits 1.
*/
#ifndef FF_DAEMON_H_INCLUDED
#define FF_DAEMON_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

#include "ff_config.h"

//  Creates the server from the loaded config; NULL with the reason in err.
typedef void *(ff_daemon_new_fn) (const void *config, char *err, size_t err_size);

typedef struct {
    const ff_config_schema_t *schema;   // settings table
    size_t config_size;                 // sizeof the config struct
    size_t common_offset;               // offsetof its ff_service_config_t member
    ff_daemon_new_fn *server_new;       // builds the server (binds sockets)
    zactor_fn *actor;                   // runs it; takes ownership of the server
} ff_daemon_t;

//  Runs the daemon; returns the process exit code.
int
    ff_daemon_main (const ff_daemon_t *daemon, int argc, char **argv);

#endif
