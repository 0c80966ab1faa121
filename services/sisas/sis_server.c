#include "sis_server.h"
#include "ff_log.h"
#include "ff_signal.h"

#include <stddef.h>

static const ff_config_key_t s_keys [] = {
    FF_SERVICE_CONFIG_KEYS (sis_config_t, service, "9570"),
    { "ingest_endpoint", FF_CONFIG_ENDPOINT, offsetof (sis_config_t, ingest_endpoint),
      "@tcp://*:5570", 1, 0, "signal ingest (SUB) publishers connect to" },
    { "publish_endpoint", FF_CONFIG_ENDPOINT, offsetof (sis_config_t, publish_endpoint),
      "@tcp://*:5571", 1, 0, "signal delivery (XPUB) subscribers connect to" },
    { "control_endpoint", FF_CONFIG_ENDPOINT, offsetof (sis_config_t, control_endpoint),
      "@tcp://*:5572", 1, 0, "control API (ROUTER) for farfanctl and vehicles" },
};

const ff_config_schema_t sis_config_schema = {
    .program = "farfan-sisas",
    .service = "sisas",
    .summary = "The FARFAN signal bus: validation, fusion, storm protection, routing.",
    .keys = s_keys,
    .key_count = sizeof s_keys / sizeof s_keys [0],
};

//  A signal has exactly two frames; reading stops one past that.
#define S_SIGNAL_FRAMES 2

struct sis_server {
    ff_service_t *service;          // identity, metrics, HTTP, loop, sockets
    zsock_t *ingest;                // SUB, borrowed from service
    zsock_t *publish;               // XPUB, borrowed from service
    ff_counter_t *received;         // every message read from ingest
    ff_counter_t *delivered;        // handed to the publish socket
    ff_counter_t *rejected [FF_SIGNAL_ERR__COUNT];  // by reason
    ff_counter_t *shed;             // valid, but the publish socket refused it
    ff_gauge_t *subscriptions;      // topic prefixes subscribed on publish
};

//  Control API message types beyond PING (answered by ff_rpc).
static const ff_rpc_route_t s_control_routes [] = {
    { 0, NULL },
};

//  Reads one multipart message into parts (at most S_SIGNAL_FRAMES + 1
//  kept, the rest discarded). Returns the number of frames read, or -1.
static int
s_recv_parts (void *handle, zmq_msg_t *parts)
{
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, handle, 0) < 0) {
            zmq_msg_close (&part);
            for (int i = 0; i < count && i <= S_SIGNAL_FRAMES; i++)
                zmq_msg_close (&parts [i]);
            return -1;
        }
        more = zmq_msg_more (&part);
        if (count <= S_SIGNAL_FRAMES)
            parts [count] = part;
        else
            zmq_msg_close (&part);
        count++;
    }
    return count;
}

static void
s_reject (sis_server_t *self, ff_signal_error_t reason, const char *detail)
{
    ff_counter_inc (self->rejected [reason]);
    ff_log (FF_LOG_DEBUG, NULL, NULL, "signal rejected (%s): %s",
            ff_signal_error_name (reason), detail);
}

static int
s_ingest_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    sis_server_t *self = (sis_server_t *) arg;
    zmq_msg_t parts [S_SIGNAL_FRAMES + 1];
    int count = s_recv_parts (zsock_resolve (reader), parts);
    if (count < 0)
        return 0;
    ff_counter_inc (self->received);
    int kept = count <= S_SIGNAL_FRAMES ? count : S_SIGNAL_FRAMES + 1;
    if (count != S_SIGNAL_FRAMES) {
        char detail [64];
        snprintf (detail, sizeof detail, "%d frames, expected [topic][signal]", count);
        s_reject (self, FF_SIGNAL_ERR_FRAMES, detail);
        goto cleanup;
    }
    ff_signal_t signal;
    char detail [160] = "";
    ff_signal_error_t error = ff_signal_decode_frames (&signal,
        zmq_msg_data (&parts [0]), zmq_msg_size (&parts [0]),
        zmq_msg_data (&parts [1]), zmq_msg_size (&parts [1]), detail, sizeof detail);
    if (error != FF_SIGNAL_OK) {
        s_reject (self, error, detail);
        goto cleanup;
    }
    void *publish = zsock_resolve (self->publish);
    if (zmq_msg_send (&parts [0], publish, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
        //  Sent parts belong to libzmq now; only the second is still ours.
        kept = 1;
        zmq_msg_send (&parts [1], publish, ZMQ_DONTWAIT);
        ff_counter_inc (self->delivered);
        return 0;
    }
    //  XPUB without NODROP does not refuse; should it ever, the loss is counted.
    ff_counter_inc (self->shed);

cleanup:
    for (int i = 0; i < kept; i++)
        zmq_msg_close (&parts [i]);
    return 0;
}

//  Subscriptions arrive on the XPUB as [1|0][topic prefix]; reading them
//  keeps that queue empty and the gauge true.
static int
s_publish_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    sis_server_t *self = (sis_server_t *) arg;
    zframe_t *frame = zframe_recv (reader);
    if (frame && zframe_size (frame) > 0) {
        uint8_t kind = zframe_data (frame) [0];
        if (kind == 1)
            ff_gauge_add (self->subscriptions, 1);
        else
        if (kind == 0)
            ff_gauge_add (self->subscriptions, -1);
    }
    zframe_destroy (&frame);
    return 0;
}

sis_server_t *
sis_server_new (const sis_config_t *config, char *err, size_t err_size)
{
    sis_server_t *self = (sis_server_t *) zmalloc (sizeof (sis_server_t));
    self->service = ff_service_new ("sisas", &config->service, err, err_size);
    if (!self->service)
        goto failed;
    ff_service_t *service = self->service;
    ff_metrics_t *metrics = ff_service_metrics (service);
    self->received = ff_metrics_counter (metrics, "farfan_signals_received_total",
        "Messages read from the ingest socket", NULL);
    self->delivered = ff_metrics_counter (metrics, "farfan_signals_delivered_total",
        "Signals handed to the publish socket", NULL);
    for (int reason = FF_SIGNAL_ERR_FRAMES; reason < FF_SIGNAL_ERR__COUNT; reason++) {
        char labels [64];
        snprintf (labels, sizeof labels, "reason=\"%s\"",
                  ff_signal_error_name ((ff_signal_error_t) reason));
        self->rejected [reason] = ff_metrics_counter (metrics, "farfan_signals_rejected_total",
            "Signals rejected by validation, never delivered, by reason", labels);
    }
    self->shed = ff_metrics_counter (metrics, "farfan_signals_shed_total",
        "Valid signals the publish socket refused", NULL);
    self->subscriptions = ff_metrics_gauge (metrics, "farfan_sisas_subscribed_topics",
        "Topic prefixes subscribed on the publish socket", NULL);

    self->ingest = ff_service_socket (service, "ingest", ZMQ_SUB, config->ingest_endpoint,
                                      true, err, err_size);
    if (!self->ingest)
        goto failed;
    zsock_set_subscribe (self->ingest, "");
    self->publish = ff_service_socket (service, "publish", ZMQ_XPUB, config->publish_endpoint,
                                       true, err, err_size);
    if (!self->publish)
        goto failed;
    zsock_t *control = ff_service_socket (service, "control", ZMQ_ROUTER,
                                          config->control_endpoint, true, err, err_size);
    if (!control || !ff_service_serve (service, control, "control", s_control_routes, self))
        goto failed;
    zloop_t *loop = ff_service_loop (service);
    if (zloop_reader (loop, self->ingest, s_ingest_readable, self) != 0
    ||  zloop_reader (loop, self->publish, s_publish_readable, self) != 0) {
        snprintf (err, err_size, "cannot watch the signal sockets");
        goto failed;
    }
    return self;

failed:
    sis_server_destroy (&self);
    return NULL;
}

void
sis_server_destroy (sis_server_t **self_p)
{
    if (self_p && *self_p) {
        sis_server_t *self = *self_p;
        ff_service_destroy (&self->service);
        free (self);
        *self_p = NULL;
    }
}

void
sis_server_actor (zsock_t *pipe, void *args)
{
    sis_server_t *self = (sis_server_t *) args;
    ff_service_run (self->service, pipe);
    sis_server_destroy (&self);
}
