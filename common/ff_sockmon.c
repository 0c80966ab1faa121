#include "ff_sockmon.h"
#include "ff_log.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define S_EVENTS (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED \
                | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL \
                | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_MONITOR_STOPPED)

//  Auth failure reasons, in the order of s_watch_t.auth_failures.
static const char *const s_reasons [] = { "auth", "protocol", "other" };

//  One watched socket; the counters are NULL without metrics.
typedef struct {
    void *handle;               // the libzmq socket; NULL once unwatched
    char *name;
    ff_counter_t *connections;
    ff_counter_t *disconnects;
    ff_counter_t *auth_failures [3];
} s_watch_t;

struct ff_sockmon {
    ff_metrics_t *metrics;      // borrowed, may be NULL
    bool secured;
    zactor_t *actor;            // reads the events; started at the first watch
    zlist_t *watches;           // s_watch_t *, owned
    unsigned instance;          // this monitor among the process's
    unsigned sequence;          // numbers its inproc event endpoints
    pthread_mutex_t lock;       // guards totals; counted signals changed
    pthread_cond_t changed;
    uint64_t totals [3];        // by ff_sockmon_count_t
};

//  Tells the monitors of different services in one process apart.
static pthread_mutex_t s_instances_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned s_instances;

ff_sockmon_t *
ff_sockmon_new (ff_metrics_t *metrics, bool secured)
{
    ff_sockmon_t *self = (ff_sockmon_t *) zmalloc (sizeof (ff_sockmon_t));
    self->metrics = metrics;
    self->secured = secured;
    self->watches = zlist_new ();
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init (&attributes);
    pthread_condattr_setclock (&attributes, CLOCK_MONOTONIC);
    pthread_cond_init (&self->changed, &attributes);
    pthread_condattr_destroy (&attributes);
    return self;
}

//  Stops libzmq's monitor of the watched socket: once this returns, no
//  event of it is sent (libzmq sends under the lock this takes), and its
//  reader gets MONITOR_STOPPED.
static void
s_unwatch (s_watch_t *watch)
{
    if (watch->handle)
        zmq_socket_monitor (watch->handle, NULL, 0);
    watch->handle = NULL;
}

void
ff_sockmon_destroy (ff_sockmon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_sockmon_t *self = *self_p;
    //  No event may be sent once the reader is gone: libzmq's send would
    //  wait for it for ever, in an I/O thread every socket needs.
    for (s_watch_t *watch = (s_watch_t *) zlist_first (self->watches); watch;
         watch = (s_watch_t *) zlist_next (self->watches))
        s_unwatch (watch);
    zactor_destroy (&self->actor);
    s_watch_t *watch;
    while (self->watches && (watch = (s_watch_t *) zlist_pop (self->watches))) {
        free (watch->name);
        free (watch);
    }
    zlist_destroy (&self->watches);
    pthread_cond_destroy (&self->changed);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static ff_counter_t *
s_counter (ff_sockmon_t *self, const char *metric, const char *help, const char *labels)
{
    return self->metrics ? ff_metrics_counter (self->metrics, metric, help, labels) : NULL;
}

//  Written by the watching thread before the actor hears of the watch, or
//  by the actor afterwards, never both.
static ff_counter_t *
s_auth_counter (ff_sockmon_t *self, s_watch_t *watch, size_t reason)
{
    char labels [160];
    snprintf (labels, sizeof labels, "reason=\"%s\",socket=\"%s\"", s_reasons [reason],
              watch->name);
    return s_counter (self, "farfan_auth_failures_total",
                      "Connections refused by CURVE/ZAP, by socket and reason", labels);
}

//  After the metric: a waiter woken by the total sees the metric too.
static void
s_total (ff_sockmon_t *self, ff_sockmon_count_t kind)
{
    pthread_mutex_lock (&self->lock);
    self->totals [kind]++;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
}

static void
s_count (ff_sockmon_t *self, s_watch_t *watch, uint16_t event)
{
    switch (event) {
        case ZMQ_EVENT_ACCEPTED:
        case ZMQ_EVENT_CONNECTED:
            if (watch->connections)
                ff_counter_inc (watch->connections);
            s_total (self, FF_SOCKMON_CONNECTIONS);
            break;
        case ZMQ_EVENT_DISCONNECTED:
            if (watch->disconnects)
                ff_counter_inc (watch->disconnects);
            s_total (self, FF_SOCKMON_DISCONNECTS);
            ff_log_debug ("%s socket: a peer disconnected", watch->name);
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: {
            size_t reason = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? 0
                          : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? 1 : 2;
            if (!watch->auth_failures [reason])
                watch->auth_failures [reason] = s_auth_counter (self, watch, reason);
            if (watch->auth_failures [reason])
                ff_counter_inc (watch->auth_failures [reason]);
            s_total (self, FF_SOCKMON_AUTH_FAILURES);
            ff_log_debug ("%s socket: handshake refused (%s)", watch->name, s_reasons [reason]);
            break;
        }
        default:
            break;
    }
}

//  The event reader. Pipe commands: WATCH <inproc endpoint> <s_watch_t *>
//  (signals 0 when connected to the endpoint, 1 when not), $TERM. Each
//  watched socket's events arrive on a PAIR of its own; libzmq ends them
//  with MONITOR_STOPPED when the socket is unwatched (or closes).
typedef struct {
    zsock_t *pair;
    s_watch_t *watch;           // the ff_sockmon's
} s_reader_t;

static void
s_reader_destroy (s_reader_t **reader_p)
{
    zsock_destroy (&(*reader_p)->pair);
    free (*reader_p);
    *reader_p = NULL;
}

//  Answers one pipe command; false when the actor must stop.
static bool
s_command (zsock_t *pipe, zpoller_t *poller, zlist_t *readers)
{
    char *command = NULL, *endpoint = NULL;
    void *watch = NULL;
    if (zsock_recv (pipe, "ssp", &command, &endpoint, &watch) != 0 || !command)
        return false;
    bool stop = streq (command, "$TERM");
    if (streq (command, "WATCH") && endpoint && watch) {
        zsock_t *pair = zsock_new (ZMQ_PAIR);
        int rc = pair ? zsock_connect (pair, "%s", endpoint) : -1;
        if (rc == 0) {
            s_reader_t *reader = (s_reader_t *) zmalloc (sizeof (s_reader_t));
            reader->pair = pair;
            reader->watch = (s_watch_t *) watch;
            zlist_append (readers, reader);
            zpoller_add (poller, pair);
        }
        else
            zsock_destroy (&pair);
        zsock_signal (pipe, rc == 0 ? 0 : 1);
    }
    zstr_free (&command);
    zstr_free (&endpoint);
    return !stop;
}

static void
s_actor (zsock_t *pipe, void *args)
{
    ff_sockmon_t *self = (ff_sockmon_t *) args;
    zpoller_t *poller = zpoller_new (pipe, NULL);
    zlist_t *readers = zlist_new ();
    zsock_signal (pipe, 0);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (!which && zmq_errno () == EINTR && !zsys_interrupted)
            continue;       //  a signal handled elsewhere interrupted the wait
        if (!which)
            break;
        if (which == pipe) {
            if (!s_command (pipe, poller, readers))
                break;
            continue;
        }
        s_reader_t *reader = (s_reader_t *) zlist_first (readers);
        while (reader && reader->pair != which)
            reader = (s_reader_t *) zlist_next (readers);
        zmsg_t *msg = zmsg_recv (which);
        zframe_t *head = msg ? zmsg_first (msg) : NULL;
        if (reader && head && zframe_size (head) >= 6) {
            uint16_t event;
            memcpy (&event, zframe_data (head), sizeof event);
            if (event == ZMQ_EVENT_MONITOR_STOPPED) {
                zpoller_remove (poller, reader->pair);
                zlist_remove (readers, reader);
                s_reader_destroy (&reader);
            }
            else
                s_count (self, reader->watch, event);
        }
        zmsg_destroy (&msg);
    }
    s_reader_t *reader;
    while ((reader = (s_reader_t *) zlist_pop (readers)))
        s_reader_destroy (&reader);
    zlist_destroy (&readers);
    zpoller_destroy (&poller);
}

int
ff_sockmon_watch (ff_sockmon_t *self, zsock_t *sock, const char *name)
{
    if (!self)
        return 0;
    if (!self->actor) {
        self->actor = zactor_new (s_actor, self);
        if (!self->actor) {
            ff_log_warn ("cannot start the socket monitor: connections go uncounted");
            return -1;
        }
    }
    s_watch_t *watch = (s_watch_t *) zmalloc (sizeof (s_watch_t));
    watch->name = strdup (name ? name : "unnamed");
    char labels [160];
    snprintf (labels, sizeof labels, "socket=\"%s\"", watch->name);
    watch->connections = s_counter (self, "farfan_peer_connections_total",
        "Connections made on each socket (accepted or established)", labels);
    watch->disconnects = s_counter (self, "farfan_peer_disconnects_total",
        "Connections lost on each socket: peer gone, handshake refused, or a message over "
        "max_msg_size", labels);
    //  With CURVE on, visible at zero; otherwise registered by the first
    //  failure (a peer speaking garbage).
    for (size_t i = 0; self->secured && i < 3; i++)
        watch->auth_failures [i] = s_auth_counter (self, watch, i);
    zlist_append (self->watches, watch);

    char endpoint [96];
    if (self->sequence == 0) {
        pthread_mutex_lock (&s_instances_lock);
        self->instance = ++s_instances;
        pthread_mutex_unlock (&s_instances_lock);
    }
    snprintf (endpoint, sizeof endpoint, "inproc://ff-sockmon-%u-%u", self->instance,
              self->sequence++);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint, S_EVENTS) != 0) {
        ff_log_warn ("cannot monitor the %s socket: %s", watch->name,
                     zmq_strerror (zmq_errno ()));
        return -1;
    }
    watch->handle = zsock_resolve (sock);
    zsock_send (self->actor, "ssp", "WATCH", endpoint, watch);
    if (zsock_wait (self->actor) != 0) {
        ff_log_warn ("cannot read the %s socket's events: connections go uncounted",
                     watch->name);
        s_unwatch (watch);
        return -1;
    }
    return 0;
}

void
ff_sockmon_unwatch (ff_sockmon_t *self, zsock_t *sock)
{
    void *handle = self && sock ? zsock_resolve (sock) : NULL;
    for (s_watch_t *watch = handle ? (s_watch_t *) zlist_first (self->watches) : NULL; watch;
         watch = (s_watch_t *) zlist_next (self->watches))
        if (watch->handle == handle)
            s_unwatch (watch);
}

size_t
ff_sockmon_watched (ff_sockmon_t *self)
{
    size_t watched = 0;
    for (s_watch_t *watch = self ? (s_watch_t *) zlist_first (self->watches) : NULL; watch;
         watch = (s_watch_t *) zlist_next (self->watches))
        watched += watch->handle != NULL;
    return watched;
}

uint64_t
ff_sockmon_count (ff_sockmon_t *self, ff_sockmon_count_t kind)
{
    return ff_sockmon_wait (self, kind, 0, 0);
}

uint64_t
ff_sockmon_wait (ff_sockmon_t *self, ff_sockmon_count_t kind, uint64_t at_least,
                 int timeout_ms)
{
    if (!self || kind > FF_SOCKMON_AUTH_FAILURES)
        return 0;
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (self->totals [kind] < at_least && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait (&self->changed, &self->lock, &deadline);
    uint64_t count = self->totals [kind];
    pthread_mutex_unlock (&self->lock);
    return count;
}
