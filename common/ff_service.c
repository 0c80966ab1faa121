#include "ff_service.h"
#include "ff_clock.h"
#include "ff_http.h"
#include "ff_log.h"
#include "ff_socket.h"
#include "farfan_build.h"

#include <pthread.h>
#include <unistd.h>

typedef struct {
    char *name;                 // ENDPOINT command key
    zsock_t *sock;              // owned
} s_named_socket_t;

struct ff_service {
    ff_service_info_t info;             // identity; strings below
    char *name;                         // service name
    char *instance_id;                  // configured or generated
    ff_service_config_t config;         // copy; strings borrowed from the caller's config
    ff_metrics_t *metrics;              // owned
    ff_http_t *http;                    // owned, NULL when off
    zloop_t *loop;                      // owned
    zlist_t *sockets;                   // s_named_socket_t *, owned
    zlist_t *rpcs;                      // ff_rpc_t *, owned
    ff_publisher_t *publisher;          // signals to SISAS, owned; NULL when none
    ff_curve_t *curve;                  // CURVE on tcp:// endpoints, owned; NULL when off
    ff_sockmon_t *sockmon;              // counts every socket's connections, owned
    pthread_mutex_t health_lock;        // guards health and health_reason
    ff_health_t health;
    char health_reason [256];
    ff_gauge_t *health_gauge;           // farfan_health_state
};

const char *
ff_service_health_name (ff_health_t health)
{
    switch (health) {
        case FF_HEALTH_STARTING:  return "starting";
        case FF_HEALTH_HEALTHY:   return "healthy";
        case FF_HEALTH_DEGRADED:  return "degraded";
        case FF_HEALTH_UNHEALTHY: return "unhealthy";
        case FF_HEALTH_STOPPING:  return "stopping";
    }
    return "unknown";
}

static bool
s_http_health (void *arg, char *reason, size_t reason_size)
{
    ff_service_t *self = (ff_service_t *) arg;
    pthread_mutex_lock (&self->health_lock);
    ff_health_t health = self->health;
    snprintf (reason, reason_size, "%s%s%s", ff_service_health_name (health),
              *self->health_reason ? ": " : "", self->health_reason);
    pthread_mutex_unlock (&self->health_lock);
    return health == FF_HEALTH_HEALTHY || health == FF_HEALTH_DEGRADED;
}

static double
s_uptime_seconds (void *arg)
{
    ff_service_t *self = (ff_service_t *) arg;
    return (double) (ff_clock_mono_us () - self->info.started_us) / 1e6;
}

//  <hostname>-<8 hex digits from the kernel's random source>.
static char *
s_generate_instance_id (void)
{
    char host [128] = "farfan";
    gethostname (host, sizeof host - 1);
    host [sizeof host - 1] = '\0';
    zuuid_t *uuid = zuuid_new ();
    char *id = zsys_sprintf ("%s-%.8s", host, uuid ? zuuid_str_canonical (uuid) : "00000000");
    zuuid_destroy (&uuid);
    return id;
}

ff_service_t *
ff_service_new (const char *name, const ff_service_config_t *config,
                char *err, size_t err_size)
{
    ff_service_t *self = (ff_service_t *) zmalloc (sizeof (ff_service_t));
    pthread_mutex_init (&self->health_lock, NULL);
    self->name = strdup (name);
    self->config = *config;
    self->instance_id = config->instance_id && *config->instance_id
                      ? strdup (config->instance_id) : s_generate_instance_id ();
    self->info.service = self->name;
    self->info.version = FARFAN_VERSION;
    self->info.instance_id = self->instance_id;
    self->info.started_us = ff_clock_mono_us ();
    self->sockets = zlist_new ();
    self->rpcs = zlist_new ();
    self->loop = zloop_new ();
    //  Only $TERM stops a service: the daemon's main thread owns the
    //  signals (ff_daemon disables CZMQ's handler), so zsys_interrupted
    //  never stops this loop behind the owner's back.
    self->metrics = ff_metrics_new ();
    if (!self->metrics || !self->loop) {
        snprintf (err, err_size, "%s: out of memory", name);
        ff_service_destroy (&self);
        return NULL;
    }

    char labels [256];
    snprintf (labels, sizeof labels, "service=\"%s\",version=\"%s\"", name, FARFAN_VERSION);
    ff_gauge_set (ff_metrics_gauge (self->metrics, "farfan_build_info",
                                    "Always 1; labels name the service and version", labels), 1);
    ff_metrics_gauge_fn (self->metrics, "farfan_uptime_seconds",
                         "Seconds since the service started", NULL, s_uptime_seconds, self);
    self->health_gauge = ff_metrics_gauge (self->metrics, "farfan_health_state",
        "0 starting, 1 healthy, 2 degraded, 3 unhealthy, 4 stopping", NULL);

    if (config->curve_cert && *config->curve_cert
    &&  !(config->curve_allowed_dir && *config->curve_allowed_dir)) {
        snprintf (err, err_size, "curve_allowed_dir is required with curve_cert %s: the "
                  "directory of the client certificates let in", config->curve_cert);
        ff_service_destroy (&self);
        return NULL;
    }
    self->curve = ff_curve_new (config->curve_cert, config->curve_allowed_dir,
                                config->curve_server_cert, "curve_", err, err_size);
    if (!self->curve && *err) {
        ff_service_destroy (&self);
        return NULL;
    }
    if (self->curve)
        ff_log_info ("CURVE on every tcp:// endpoint: public key %s, allowed clients in %s",
                     ff_curve_public_key (self->curve),
                     config->curve_allowed_dir && *config->curve_allowed_dir
                     ? config->curve_allowed_dir : "(none: connects only)");
    self->sockmon = ff_sockmon_new (self->metrics, self->curve != NULL);

    if (config->http_port != 0) {
        int port = config->http_port < 0 ? 0 : (int) config->http_port;
        self->http = ff_http_new (config->http_address, port, self->metrics,
                                  s_http_health, self, err, err_size);
        if (!self->http) {
            ff_service_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
ff_service_destroy (ff_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_service_t *self = *self_p;
    //  HTTP first: its thread reads the metrics and the health state.
    ff_http_destroy (&self->http);
    if (self->rpcs) {
        ff_rpc_t *rpc;
        while ((rpc = (ff_rpc_t *) zlist_pop (self->rpcs)))
            ff_rpc_destroy (&rpc);
        zlist_destroy (&self->rpcs);
    }
    zloop_destroy (&self->loop);
    //  The publisher unwatches its own sockets; the monitor then unwatches
    //  the rest before any is closed (ff_sockmon).
    ff_publisher_destroy (&self->publisher);
    ff_sockmon_destroy (&self->sockmon);
    if (self->sockets) {
        s_named_socket_t *entry;
        while ((entry = (s_named_socket_t *) zlist_pop (self->sockets))) {
            zsock_destroy (&entry->sock);
            free (entry->name);
            free (entry);
        }
        zlist_destroy (&self->sockets);
    }
    //  After the sockets it secures.
    ff_curve_destroy (&self->curve);
    ff_metrics_destroy (&self->metrics);
    pthread_mutex_destroy (&self->health_lock);
    free (self->instance_id);
    free (self->name);
    free (self);
    *self_p = NULL;
}

zsock_t *
ff_service_socket (ff_service_t *self, const char *name, int type,
                   const char *endpoints, bool default_bind, char *err, size_t err_size)
{
    ff_socket_limits_t limits = {
        .hwm = (int) self->config.hwm,
        .max_msg_size = self->config.max_msg_size,
        .curve = self->curve,
        .monitor = self->sockmon,
        .name = name,
    };
    char reason [256];
    zsock_t *sock = ff_socket_new (type, endpoints, default_bind, &limits, reason, sizeof reason);
    if (!sock) {
        snprintf (err, err_size, "%s socket: %s", name, reason);
        return NULL;
    }
    s_named_socket_t *entry = (s_named_socket_t *) zmalloc (sizeof (s_named_socket_t));
    entry->name = strdup (name);
    entry->sock = sock;
    zlist_append (self->sockets, entry);
    return sock;
}

ff_publisher_t *
ff_service_publisher (ff_service_t *self, const char *endpoint, const char *control_endpoint,
                      char *err, size_t err_size)
{
    if (self->publisher)
        return self->publisher;
    char source [300];
    snprintf (source, sizeof source, "%s/%s", self->name, self->instance_id);
    ff_publisher_options_t options = {
        .endpoint = endpoint,
        .source = source,
        .sndhwm = (int) self->config.hwm,
        .max_msg_size = (size_t) self->config.max_msg_size,
        .control_endpoint = control_endpoint,
        .curve = self->curve,
        .monitor = self->sockmon,
    };
    char reason [256];
    self->publisher = ff_publisher_new (&options, self->metrics, reason, sizeof reason);
    if (!self->publisher)
        snprintf (err, err_size, "signal publisher: %s", reason);
    return self->publisher;
}

//  Requests handled per wake-up before the loop polls again: draining a
//  burst saves a poll per message, the bound keeps the other sockets and
//  timers served under a flood.
#define S_DISPATCH_BURST 64

static int
s_rpc_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    int handled = 0;
    do
        if (ff_rpc_dispatch ((ff_rpc_t *) arg) != 0)
            break;
    while (++handled < S_DISPATCH_BURST && (zsock_events (reader) & ZMQ_POLLIN));
    return 0;
}

ff_rpc_t *
ff_service_serve (ff_service_t *self, zsock_t *sock, const char *name,
                  const ff_rpc_route_t *routes, void *service)
{
    ff_rpc_t *rpc = ff_rpc_new (sock, name, routes, &self->info, self->metrics, service);
    if (!rpc)
        return NULL;
    if (zloop_reader (self->loop, sock, s_rpc_readable, rpc) != 0) {
        ff_rpc_destroy (&rpc);
        return NULL;
    }
    //  Retried every millisecond while a reader is slow; nothing otherwise.
    ff_rpc_set_backlog (rpc, self->loop, 1, (uint64_t) self->config.reply_stall_ms);
    zlist_append (self->rpcs, rpc);
    return rpc;
}

ff_curve_t *
ff_service_curve (ff_service_t *self)
{
    return self->curve;
}

zloop_t *
ff_service_loop (ff_service_t *self)
{
    return self->loop;
}

ff_metrics_t *
ff_service_metrics (ff_service_t *self)
{
    return self->metrics;
}

const ff_service_info_t *
ff_service_info (ff_service_t *self)
{
    return &self->info;
}

void
ff_service_set_health (ff_service_t *self, ff_health_t health, const char *reason)
{
    pthread_mutex_lock (&self->health_lock);
    bool changed = self->health != health;
    self->health = health;
    snprintf (self->health_reason, sizeof self->health_reason, "%s", reason ? reason : "");
    pthread_mutex_unlock (&self->health_lock);
    ff_gauge_set (self->health_gauge, (double) health);
    if (changed)
        ff_log (health == FF_HEALTH_UNHEALTHY ? FF_LOG_WARN : FF_LOG_INFO, NULL, NULL,
                "health: %s%s%s", ff_service_health_name (health), reason ? ": " : "",
                reason ? reason : "");
}

ff_health_t
ff_service_health (ff_service_t *self)
{
    pthread_mutex_lock (&self->health_lock);
    ff_health_t health = self->health;
    pthread_mutex_unlock (&self->health_lock);
    return health;
}

int
ff_service_http_port (ff_service_t *self)
{
    return self->http ? ff_http_port (self->http) : 0;
}

static zsock_t *
s_socket_named (ff_service_t *self, const char *name)
{
    for (s_named_socket_t *entry = (s_named_socket_t *) zlist_first (self->sockets);
         entry; entry = (s_named_socket_t *) zlist_next (self->sockets))
        if (streq (entry->name, name))
            return entry->sock;
    return NULL;
}

static int
s_pipe_readable (zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void) loop;
    ff_service_t *self = (ff_service_t *) arg;
    zmsg_t *msg = zmsg_recv (pipe);
    if (!msg)
        return -1;
    char *command = zmsg_popstr (msg);
    int rc = 0;
    if (!command || streq (command, "$TERM"))
        rc = -1;
    else
    if (streq (command, "ENDPOINT")) {
        char *name = zmsg_popstr (msg);
        zsock_t *sock = name ? s_socket_named (self, name) : NULL;
        char *endpoint = sock ? zsock_last_endpoint (sock) : NULL;
        zstr_send (pipe, endpoint ? endpoint : "");
        free (endpoint);
        free (name);
    }
    else
    if (streq (command, "HTTP_PORT"))
        zstr_sendf (pipe, "%d", ff_service_http_port (self));
    else
        ff_log_error ("actor pipe: unknown command %s", command);
    free (command);
    zmsg_destroy (&msg);
    return rc;
}

//  One line with the identity and every endpoint, for operators.
static void
s_log_endpoints (ff_service_t *self)
{
    char line [1024];
    size_t used = (size_t) snprintf (line, sizeof line, "%s %s instance %s:",
                                     self->name, self->info.version, self->instance_id);
    for (s_named_socket_t *entry = (s_named_socket_t *) zlist_first (self->sockets);
         entry && used < sizeof line; entry = (s_named_socket_t *) zlist_next (self->sockets)) {
        char *endpoint = zsock_last_endpoint (entry->sock);
        used += (size_t) snprintf (line + used, sizeof line - used, " %s=%s", entry->name,
                                   endpoint ? endpoint : "?");
        free (endpoint);
    }
    if (used < sizeof line)
        snprintf (line + used, sizeof line - used, " http=%d", ff_service_http_port (self));
    ff_log_info ("%s", line);
}

int
ff_service_run (ff_service_t *self, zsock_t *pipe)
{
    s_log_endpoints (self);
    zloop_reader (self->loop, pipe, s_pipe_readable, self);
    zsock_signal (pipe, 0);
    ff_service_set_health (self, FF_HEALTH_HEALTHY, NULL);
    //  zloop_start returns -1 when a handler stopped it ($TERM or a
    //  fault), and 0 when its poll failed — also when a signal handled
    //  somewhere in the process merely interrupted it (EINTR: libFuzzer's
    //  timer, a debugger, a host program's SIGCHLD handler). The service
    //  goes on then: it stops only when told to.
    int rc;
    while ((rc = zloop_start (self->loop)) == 0 && zmq_errno () == EINTR && !zsys_interrupted)
        ff_log_debug ("service loop interrupted by a signal: resumed");
    ff_service_set_health (self, FF_HEALTH_STOPPING, NULL);
    zloop_reader_end (self->loop, pipe);
    return rc == -1 ? 0 : rc;
}
