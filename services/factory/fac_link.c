/*  fac_link — see fac_link.h.

    One zloop timer drives the link, re-armed for the next thing due:
    unregistered, the next READY retry (backoff); registered, the earlier
    of the next HEARTBEAT and the orchestrator's expiry. The rpc's
    observer sees every message first: it takes the worker-protocol
    messages (WELCOME, HEARTBEAT, UNKNOWN_WORKER, DISCONNECT) and lets the
    rest through to the factory's routes, counting any of them as the
    orchestrator's heartbeat.
*/
#include "fac_link.h"
#include "orchestrator.pb-c.h"
#include "ff_clock.h"
#include "ff_heartbeat.h"
#include "ff_log.h"

#include <errno.h>

struct fac_link {
    zloop_t *loop;                  // the service's, borrowed
    ff_rpc_t *rpc;                  // serves the link socket, borrowed
    zsock_t *sock;                  // the DEALER link, borrowed (the service's)
    const char *instance_id;        // sender id of what the link sends, borrowed
    fac_link_options_t options;     // as given
    fac_link_state_t state;
    ff_heartbeat_t heartbeat;       // liveness of the orchestrator while registered
    ff_backoff_t backoff;           // READY retries
    int timer_id;                   // the one pending timer, -1 = none
    uint64_t ready_sequence;        // numbers READY correlation ids
    uint64_t lost_at_us;            // when the link last became unregistered (0 = never registered)
    bool error_logged;              // an ERROR answer to READY was logged this period
    uint32_t in_flight;             // fac_link_set_in_flight's value
    char orchestrator_id [FF_MSG_ID_MAX + 1];   // last WELCOME's sender
    ff_gauge_t *state_gauge;        // farfan_orchestrator_link_state
    ff_counter_t *registrations;    // farfan_orchestrator_registrations_total
    ff_counter_t *lost;             // farfan_orchestrator_link_lost_total
    ff_counter_t *refused;          // farfan_orchestrator_link_sends_refused_total
};

static int s_on_timer (zloop_t *loop, int timer_id, void *arg);

//  Replaces the pending timer by one firing in delay_us (rounded up to
//  the loop's millisecond resolution). Only from loop handlers or before
//  the loop first runs: an ended timer is reaped by the running loop.
static void
s_arm (fac_link_t *self, uint64_t delay_us)
{
    if (self->timer_id >= 0)
        zloop_timer_end (self->loop, self->timer_id);
    size_t delay_ms = (size_t) ((delay_us + 999) / 1000);
    self->timer_id = zloop_timer (self->loop, delay_ms, 1, s_on_timer, self);
    if (self->timer_id < 0)
        ff_log_error ("orchestrator link: cannot create a timer: the link stops");
}

//  Sends one worker-protocol message. Returns 0, or -1 when the socket
//  refused it (not connected, or its queue is full): counted.
static int
s_send (fac_link_t *self, uint32_t type, const char *correlation_id,
        const ProtobufCMessage *body)
{
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id,
                               .sender_id = self->instance_id };
    if (ff_msg_send (self->sock, NULL, false, &header, body) == 0)
        return 0;
    ff_counter_inc (self->refused);
    ff_log_debug ("orchestrator link: %s not sent: %s", ff_msg_type_name (type),
                  strerror (errno));
    return -1;
}

static void
s_send_ready (fac_link_t *self)
{
    Farfan__Capabilities caps;
    self->options.capabilities (&caps, self->options.arg);
    Farfan__Ready ready = FARFAN__READY__INIT;
    ready.capabilities = &caps;
    ready.heartbeat_ms = (uint32_t) self->options.heartbeat_ms;
    char correlation_id [32];
    snprintf (correlation_id, sizeof correlation_id, "ready-%llu",
              (unsigned long long) ++self->ready_sequence);
    s_send (self, FARFAN__MESSAGE_TYPE__READY, correlation_id, &ready.base);
    if (self->options.capabilities_free)
        self->options.capabilities_free (&caps, self->options.arg);
}

static uint32_t
s_in_flight (fac_link_t *self)
{
    return self->options.in_flight ? self->options.in_flight (self->options.arg)
                                   : self->in_flight;
}

//  Registered -> unregistered. ready_now: READY goes out at once (the
//  orchestrator is there and does not know us); otherwise after the
//  backoff delay (it is going away).
static void
s_unregister (fac_link_t *self, uint64_t now_us, bool ready_now, const char *why)
{
    ff_log_info ("orchestrator %s: %s: registering again", self->orchestrator_id, why);
    self->state = FAC_LINK_UNREGISTERED;
    self->lost_at_us = now_us;
    self->error_logged = false;
    ff_gauge_set (self->state_gauge, FAC_LINK_UNREGISTERED);
    ff_counter_inc (self->lost);
    if (ready_now)
        s_send_ready (self);
    s_arm (self, ff_backoff_next_ms (&self->backoff) * 1000);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    fac_link_t *self = (fac_link_t *) arg;
    if (timer_id != self->timer_id)
        return 0;                   //  ended earlier in this loop pass (zloop still fires it)
    self->timer_id = -1;            //  a one-shot: the loop frees it after this call
    uint64_t now_us = ff_clock_mono_us ();
    if (self->state == FAC_LINK_UNREGISTERED) {
        s_send_ready (self);
        s_arm (self, ff_backoff_next_ms (&self->backoff) * 1000);
        return 0;
    }
    if (ff_heartbeat_expired (&self->heartbeat, now_us)) {
        char why [96];
        snprintf (why, sizeof why, "silent for %llu ms",
                  (unsigned long long) ((now_us - self->heartbeat.heard_us) / 1000));
        s_unregister (self, now_us, true, why);
        return 0;
    }
    if (ff_heartbeat_send_due (&self->heartbeat, now_us)) {
        Farfan__Heartbeat heartbeat = FARFAN__HEARTBEAT__INIT;
        heartbeat.in_flight = s_in_flight (self);
        s_send (self, FARFAN__MESSAGE_TYPE__HEARTBEAT, NULL, &heartbeat.base);
        //  Sent or refused, the next try is an interval away: a dead link
        //  must not spin the loop.
        ff_heartbeat_sent (&self->heartbeat, now_us);
    }
    uint64_t deadline = ff_heartbeat_deadline_us (&self->heartbeat);
    s_arm (self, deadline > now_us ? deadline - now_us : 0);
    return 0;
}

static void
s_on_welcome (fac_link_t *self, const ff_msg_t *msg, uint64_t now_us)
{
    Farfan__Welcome *welcome = farfan__welcome__unpack (NULL, ff_msg_body_size (msg),
                                                        ff_msg_body_data (msg));
    if (!welcome) {
        //  Not registered by a WELCOME we cannot read: READY is retried.
        ff_log_warn ("orchestrator link: WELCOME from %s does not decode: ignored",
                     ff_msg_sender_id (msg));
        return;
    }
    uint64_t interval_ms = welcome->heartbeat_ms ? welcome->heartbeat_ms
                                                 : self->options.heartbeat_ms;
    uint32_t liveness = welcome->liveness ? welcome->liveness : self->options.liveness;
    bool changed_orchestrator = !streq (self->orchestrator_id, ff_msg_sender_id (msg));
    snprintf (self->orchestrator_id, sizeof self->orchestrator_id, "%s", ff_msg_sender_id (msg));
    if (self->state == FAC_LINK_REGISTERED) {
        //  The answer to a READY retried before the first WELCOME came:
        //  only the timing may have changed.
        ff_heartbeat_init (&self->heartbeat, interval_ms, liveness, now_us);
        farfan__welcome__free_unpacked (welcome, NULL);
        s_arm (self, self->heartbeat.interval_us);
        return;
    }
    self->state = FAC_LINK_REGISTERED;
    ff_gauge_set (self->state_gauge, FAC_LINK_REGISTERED);
    ff_counter_inc (self->registrations);
    ff_backoff_reset (&self->backoff);
    ff_heartbeat_init (&self->heartbeat, interval_ms, liveness, now_us);
    if (self->lost_at_us == 0 || changed_orchestrator)
        ff_log_info ("registered with orchestrator %s (heartbeat %llu ms, liveness %u%s)",
                     self->orchestrator_id, (unsigned long long) interval_ms, liveness,
                     welcome->snapshot_follows ? ", snapshot follows" : "");
    else
        ff_log_info ("registered again with orchestrator %s after %llu ms (heartbeat %llu ms, "
                     "liveness %u%s)", self->orchestrator_id,
                     (unsigned long long) ((now_us - self->lost_at_us) / 1000),
                     (unsigned long long) interval_ms, liveness,
                     welcome->snapshot_follows ? ", snapshot follows" : "");
    farfan__welcome__free_unpacked (welcome, NULL);
    s_arm (self, self->heartbeat.interval_us);
}

//  Every message on the link, before the rpc dispatches it. Returns true
//  for the worker-protocol messages (taken here, never answered).
static bool
s_observe (ff_rpc_t *rpc, const ff_msg_t *msg, int decode_rc, void *arg)
{
    (void) rpc;
    fac_link_t *self = (fac_link_t *) arg;
    uint64_t now_us = ff_clock_mono_us ();
    if (self->state == FAC_LINK_REGISTERED)
        ff_heartbeat_heard (&self->heartbeat, now_us);
    if (decode_rc != 0)
        return false;               //  the rpc answers MALFORMED / UNSUPPORTED
    switch (ff_msg_type (msg)) {
        case FARFAN__MESSAGE_TYPE__WELCOME:
            s_on_welcome (self, msg, now_us);
            return true;
        case FARFAN__MESSAGE_TYPE__HEARTBEAT:
            return true;
        case FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER:
            if (self->state == FAC_LINK_REGISTERED)
                s_unregister (self, now_us, true, "it does not know this factory");
            return true;
        case FARFAN__MESSAGE_TYPE__DISCONNECT:
            if (self->state == FAC_LINK_REGISTERED)
                s_unregister (self, now_us, false, "it disconnected");
            return true;
        case FARFAN__MESSAGE_TYPE__ERROR:
            //  A READY refused (registry full, invalid capabilities): READY
            //  keeps being retried; said once per unregistered period.
            if (self->state == FAC_LINK_UNREGISTERED && !self->error_logged
            &&  strncmp (ff_msg_correlation_id (msg), "ready-", 6) == 0) {
                ff_log_warn ("orchestrator %s refused READY: %s: %s (retrying)",
                             ff_msg_sender_id (msg), ff_msg_code_name (ff_msg_status_code (msg)),
                             ff_msg_status_message (msg));
                self->error_logged = true;
            }
            return false;           //  counted by the rpc as an ignored reply
        default:
            return false;
    }
}

//  Attaches sock to a comma-separated endpoint list ('@' binds, '>' or
//  no prefix connects), with the service's CURVE (NULL = none) on tcp://.
//  0, or -1 with the reason in err.
static int
s_attach (zsock_t *sock, ff_curve_t *curve, const char *endpoints, char *err, size_t err_size)
{
    char *list = strdup (endpoints);
    if (!list) {
        snprintf (err, err_size, "out of memory");
        return -1;
    }
    int rc = 0;
    char *saveptr = NULL;
    char reason [512];
    for (char *item = strtok_r (list, ",", &saveptr); item && rc == 0;
         item = strtok_r (NULL, ",", &saveptr)) {
        bool bind = *item == '@';
        const char *endpoint = *item == '@' || *item == '>' ? item + 1 : item;
        rc = ff_curve_attach (curve, sock, endpoint, bind, reason, sizeof reason);
        if (rc != 0)
            snprintf (err, err_size, "orchestrator link: %s", reason);
    }
    free (list);
    return rc;
}

fac_link_t *
fac_link_new (ff_service_t *service, ff_rpc_t *rpc, const char *endpoints,
              const fac_link_options_t *options, char *err, size_t err_size)
{
    assert (service);
    assert (rpc);
    assert (options && options->capabilities);
    if (!endpoints || !*endpoints) {
        snprintf (err, err_size, "orchestrator link: no endpoint");
        return NULL;
    }
    if (options->heartbeat_ms == 0 || options->heartbeat_ms > INT32_MAX
    ||  options->liveness == 0 || options->reconnect_ms == 0
    ||  options->reconnect_max_ms > INT32_MAX) {
        snprintf (err, err_size, "orchestrator link: heartbeat_ms, liveness and reconnect_ms "
                  "must be positive, heartbeat_ms and reconnect_max_ms at most %d", INT32_MAX);
        return NULL;
    }
    if (options->reconnect_max_ms < options->reconnect_ms) {
        snprintf (err, err_size, "orchestrator link: reconnect_max_ms %llu is below "
                  "reconnect_ms %llu", (unsigned long long) options->reconnect_max_ms,
                  (unsigned long long) options->reconnect_ms);
        return NULL;
    }
    fac_link_t *self = (fac_link_t *) zmalloc (sizeof (fac_link_t));
    self->loop = ff_service_loop (service);
    self->rpc = rpc;
    self->sock = ff_rpc_socket (rpc);
    self->instance_id = ff_service_info (service)->instance_id;
    self->options = *options;
    self->state = FAC_LINK_UNREGISTERED;
    self->timer_id = -1;
    ff_backoff_init (&self->backoff, options->reconnect_ms, options->reconnect_max_ms);

    zsock_set_reconnect_ivl (self->sock, (int) options->reconnect_ms);
    zsock_set_reconnect_ivl_max (self->sock, (int) options->reconnect_max_ms);
    zsock_set_immediate (self->sock, 1);
    if (s_attach (self->sock, ff_service_curve (service), endpoints, err, err_size) != 0) {
        free (self);
        return NULL;
    }

    ff_metrics_t *metrics = ff_service_metrics (service);
    self->state_gauge = ff_metrics_gauge (metrics, "farfan_orchestrator_link_state",
        "Registration with the orchestrator: 0 unregistered, 1 registered", NULL);
    self->registrations = ff_metrics_counter (metrics, "farfan_orchestrator_registrations_total",
        "Times the orchestrator welcomed this factory", NULL);
    self->lost = ff_metrics_counter (metrics, "farfan_orchestrator_link_lost_total",
        "Times the registration was lost (orchestrator silent, unknown worker, disconnect)", NULL);
    self->refused = ff_metrics_counter (metrics, "farfan_orchestrator_link_sends_refused_total",
        "READY, HEARTBEAT or DISCONNECT messages the link socket refused (not connected)", NULL);
    ff_gauge_set (self->state_gauge, FAC_LINK_UNREGISTERED);

    ff_rpc_set_observer (rpc, s_observe, self);
    //  The first READY as soon as the loop runs.
    s_arm (self, 0);
    if (self->timer_id < 0) {
        ff_rpc_set_observer (rpc, NULL, NULL);
        snprintf (err, err_size, "orchestrator link: cannot create a timer");
        free (self);
        return NULL;
    }
    return self;
}

void
fac_link_destroy (fac_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fac_link_t *self = *self_p;
    Farfan__Disconnect disconnect = FARFAN__DISCONNECT__INIT;
    disconnect.reason = "factory shutting down";
    //  With ZMQ_IMMEDIATE nothing is queued without a connection, so the
    //  linger only ever waits on an orchestrator that is there.
    uint64_t linger_ms = self->state == FAC_LINK_REGISTERED
                       ? self->heartbeat.interval_us / 1000 : self->options.heartbeat_ms;
    zsock_set_linger (self->sock, (int) (linger_ms < INT32_MAX ? linger_ms : INT32_MAX));
    s_send (self, FARFAN__MESSAGE_TYPE__DISCONNECT, NULL, &disconnect.base);
    ff_rpc_set_observer (self->rpc, NULL, NULL);
    free (self);
    *self_p = NULL;
}

fac_link_state_t
fac_link_state (fac_link_t *self)
{
    assert (self);
    return self->state;
}

const char *
fac_link_orchestrator_id (fac_link_t *self)
{
    assert (self);
    return self->orchestrator_id;
}

void
fac_link_set_in_flight (fac_link_t *self, uint32_t in_flight)
{
    assert (self);
    self->in_flight = in_flight;
}
