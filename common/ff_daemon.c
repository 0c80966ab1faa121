#include "ff_daemon.h"
#include "ff_log.h"
#include "ff_service.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

//  How long libzmq's own shutdown may take once the service has stopped.
#define S_ZMQ_SHUTDOWN_GRACE_S 3

//  Blocks SIGINT, SIGTERM and SIGPIPE in this thread and every thread it
//  starts later; returns a signalfd for SIGINT and SIGTERM, or -1.
static int
s_take_signals (void)
{
    sigset_t blocked;
    sigemptyset (&blocked);
    sigaddset (&blocked, SIGINT);
    sigaddset (&blocked, SIGTERM);
    sigaddset (&blocked, SIGPIPE);
    if (pthread_sigmask (SIG_BLOCK, &blocked, NULL) != 0)
        return -1;
    sigdelset (&blocked, SIGPIPE);
    return signalfd (-1, &blocked, SFD_CLOEXEC);
}

//  Watchdog of libzmq's shutdown: ends the process when it is still
//  running S_ZMQ_SHUTDOWN_GRACE_S seconds after the service stopped.
static void *
s_shutdown_watchdog (void *arg)
{
    int exit_code = (int) (intptr_t) arg;
    sleep (S_ZMQ_SHUTDOWN_GRACE_S);
    ff_log_warn ("libzmq did not shut down within %d s (an I/O thread blocked, e.g. in a DNS "
                 "lookup of a peer that is gone); exiting anyway: the service had stopped",
                 S_ZMQ_SHUTDOWN_GRACE_S);
    _exit (exit_code);
    return NULL;
}

//  Ends libzmq (CZMQ's zsys_shutdown: every context terminated), bounded
//  in time: its I/O threads resolve endpoint host names with blocking
//  lookups, and zmq_ctx_term waits for them, so a peer whose name stopped
//  resolving (a container that went away) could otherwise hold the exit
//  for the resolver's whole timeout. Called once everything of the
//  service is closed, so nothing is lost by not waiting longer.
static void
s_zmq_shutdown (int exit_code)
{
    pthread_t watchdog;
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create (&watchdog, &attr, s_shutdown_watchdog, (void *) (intptr_t) exit_code) != 0)
        ff_log_warn ("cannot start the shutdown watchdog: libzmq's shutdown is not bounded");
    pthread_attr_destroy (&attr);
    zsys_shutdown ();
}

int
ff_daemon_main (const ff_daemon_t *daemon, int argc, char **argv)
{
    const ff_config_schema_t *schema = daemon->schema;
    //  Before CZMQ initialises: it would install its own SIGINT/SIGTERM handler.
    zsys_handler_set (NULL);
    int signal_fd = s_take_signals ();
    if (signal_fd < 0) {
        fprintf (stderr, "%s: cannot take signals: %s\n", schema->program, strerror (errno));
        return 1;
    }
    void *config = zmalloc (daemon->config_size);
    char err [512] = "";
    int exit_code = 0;
    zactor_t *actor = NULL;

    ff_config_result_t loaded = ff_config_load (schema, config, argc, argv, stdout,
                                                err, sizeof err);
    if (loaded == FF_CONFIG_EXIT)
        goto cleanup;
    if (loaded == FF_CONFIG_ERROR) {
        fprintf (stderr, "%s: %s\n", schema->program, err);
        exit_code = 2;
        goto cleanup;
    }
    const ff_service_config_t *common =
        (const ff_service_config_t *) ((const char *) config + daemon->common_offset);
    ff_log_init (schema->service, (ff_log_level_t) common->log_level);
    ff_config_log (schema, config);
    if (ff_heap_retain (common->heap_retain_mb) != 0)
        ff_log_info ("heap_retain_mb %" PRId64 ": the allocator in use has no such setting "
                     "(a sanitizer's?); it runs as it is", common->heap_retain_mb);

    void *server = daemon->server_new (config, err, sizeof err);
    if (!server) {
        ff_log_error ("cannot start: %s", err);
        exit_code = 1;
        goto cleanup;
    }
    actor = zactor_new (daemon->actor, server);
    if (!actor) {
        ff_log_error ("cannot start the server thread");
        exit_code = 1;
        goto cleanup;
    }
    ff_log_info ("%s running (pid %d)", schema->program, (int) getpid ());

    zmq_pollitem_t items [] = {
        { zsock_resolve (actor), 0, ZMQ_POLLIN, 0 },
        { NULL, signal_fd, ZMQ_POLLIN, 0 },
    };
    while (true) {
        if (zmq_poll (items, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            ff_log_error ("poll: %s", zmq_strerror (errno));
            exit_code = 1;
            break;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            if (read (signal_fd, &info, sizeof info) == (ssize_t) sizeof info)
                ff_log_info ("received %s, stopping", strsignal ((int) info.ssi_signo));
            break;
        }
        if (items [0].revents & ZMQ_POLLIN) {
            //  The actor only speaks when it ended on its own: a fault.
            ff_log_error ("server stopped unexpectedly");
            exit_code = 1;
            break;
        }
    }

cleanup:
    zactor_destroy (&actor);
    ff_config_free (schema, config);
    free (config);
    close (signal_fd);
    if (exit_code == 0 && loaded == FF_CONFIG_LOADED)
        ff_log_info ("stopped");
    s_zmq_shutdown (exit_code);
    return exit_code;
}
