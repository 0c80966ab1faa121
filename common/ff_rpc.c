#include "ff_rpc.h"
#include "ff_clock.h"
#include "ff_log.h"

#include <stdarg.h>

//  Message types get their own label in farfan_requests_total up to this
//  number; anything above (only garbage or future types) is "UNKNOWN", so a
//  hostile peer cannot grow the registry.
#define S_TYPE_LABEL_MAX 1024

struct ff_rpc {
    zsock_t *sock;                      // served socket, borrowed
    char *socket_name;                  // metric label / log context
    const ff_rpc_route_t *routes;       // handler table, borrowed
    const ff_service_info_t *info;      // PONG content, borrowed
    ff_metrics_t *metrics;              // borrowed
    void *service;                      // handlers' context, borrowed
    ff_msg_t *request;                  // reused for every request
    ff_histogram_t *duration;           // handler time
    ff_counter_t *dropped;              // replies the socket refused
    ff_counter_t *unknown_type;         // requests with an unlisted type
    ff_counter_t *ignored;              // unsolicited replies, dropped unanswered
    ff_counter_t *by_type [S_TYPE_LABEL_MAX + 1];   // farfan_requests_total per type, lazily
};

ff_rpc_t *
ff_rpc_new (zsock_t *sock, const char *socket_name, const ff_rpc_route_t *routes,
            const ff_service_info_t *info, ff_metrics_t *metrics, void *service)
{
    ff_rpc_t *self = (ff_rpc_t *) zmalloc (sizeof (ff_rpc_t));
    self->sock = sock;
    self->socket_name = strdup (socket_name);
    self->routes = routes;
    self->info = info;
    self->metrics = metrics;
    self->service = service;
    self->request = ff_msg_new ();
    char labels [128];
    snprintf (labels, sizeof labels, "socket=\"%s\"", socket_name);
    self->duration = ff_metrics_histogram (metrics, "farfan_request_duration_seconds",
                                           "Time spent handling a request, seconds", labels);
    self->dropped = ff_metrics_counter (metrics, "farfan_replies_dropped_total",
                                        "Replies the socket refused (peer gone or saturated)", labels);
    self->ignored = ff_metrics_counter (metrics, "farfan_requests_ignored_total",
                                        "Unsolicited replies received on a request socket, not answered",
                                        labels);
    snprintf (labels, sizeof labels, "socket=\"%s\",type=\"UNKNOWN\"", socket_name);
    self->unknown_type = ff_metrics_counter (metrics, "farfan_requests_total",
                                             "Requests received, by message type", labels);
    return self;
}

void
ff_rpc_destroy (ff_rpc_t **self_p)
{
    if (self_p && *self_p) {
        ff_rpc_t *self = *self_p;
        ff_msg_destroy (&self->request);
        free (self->socket_name);
        free (self);
        *self_p = NULL;
    }
}

static void
s_count_request (ff_rpc_t *self, uint32_t type)
{
    const char *name = ff_msg_type_name (type);
    if (type > S_TYPE_LABEL_MAX || strcmp (name, "UNKNOWN") == 0) {
        ff_counter_inc (self->unknown_type);
        return;
    }
    if (!self->by_type [type]) {
        char labels [160];
        snprintf (labels, sizeof labels, "socket=\"%s\",type=\"%s\"", self->socket_name, name);
        self->by_type [type] = ff_metrics_counter (self->metrics, "farfan_requests_total",
                                                   "Requests received, by message type", labels);
    }
    ff_counter_inc (self->by_type [type]);
}

static void
s_count_error (ff_rpc_t *self, uint32_t code)
{
    char labels [160];
    snprintf (labels, sizeof labels, "socket=\"%s\",code=\"%s\"", self->socket_name,
              ff_msg_code_name (code));
    ff_counter_inc (ff_metrics_counter (self->metrics, "farfan_request_errors_total",
                                        "Error replies sent, by error code", labels));
}

static int
s_send (ff_rpc_t *self, const ff_msg_t *request, const ff_msg_header_t *header,
        const ProtobufCMessage *body)
{
    if (ff_msg_send (self->sock, ff_msg_routing_id (request), ff_msg_has_delimiter (request),
                     header, body) == 0)
        return 0;
    ff_counter_inc (self->dropped);
    ff_log (FF_LOG_DEBUG, ff_msg_peer (request), ff_msg_correlation_id (request),
            "%s: reply %s dropped: %s", self->socket_name, ff_msg_type_name (header->type),
            strerror (errno));
    return -1;
}

int
ff_rpc_reply (ff_rpc_t *self, const ff_msg_t *request, uint32_t type,
              const ProtobufCMessage *body)
{
    ff_msg_header_t header = {
        .type = type,
        .correlation_id = ff_msg_correlation_id (request),
        .sender_id = self->info->instance_id,
    };
    return s_send (self, request, &header, body);
}

int
ff_rpc_reply_error (ff_rpc_t *self, const ff_msg_t *request, uint32_t code,
                    const char *format, ...)
{
    char message [512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);

    s_count_error (self, code);
    ff_log (FF_LOG_DEBUG, ff_msg_peer (request), ff_msg_correlation_id (request),
            "%s: %s %s: %s", self->socket_name, ff_msg_type_name (ff_msg_type (request)),
            ff_msg_code_name (code), message);
    Farfan__ErrorReply body = FARFAN__ERROR_REPLY__INIT;
    body.request_type = (Farfan__MessageType) ff_msg_type (request);
    ff_msg_header_t header = {
        .type = FARFAN__MESSAGE_TYPE__ERROR,
        .correlation_id = ff_msg_correlation_id (request),
        .sender_id = self->info->instance_id,
        .status_code = code,
        .status_message = message,
    };
    return s_send (self, request, &header, &body.base);
}

static void
s_handle_ping (ff_rpc_t *self, const ff_msg_t *request)
{
    Farfan__Ping *ping = farfan__ping__unpack (NULL, ff_msg_body_size (request),
                                               ff_msg_body_data (request));
    if (!ping) {
        ff_rpc_reply_error (self, request, FARFAN__ERROR_CODE__MALFORMED,
                            "PING body is not a valid Ping message");
        return;
    }
    Farfan__Pong pong = FARFAN__PONG__INIT;
    pong.service = (char *) self->info->service;
    pong.version = (char *) self->info->version;
    pong.instance_id = (char *) self->info->instance_id;
    pong.uptime_ms = (ff_clock_mono_us () - self->info->started_us) / 1000;
    pong.echo_sent_at_us = ping->sent_at_us;
    pong.protocol_version = FF_PROTOCOL_VERSION;
    farfan__ping__free_unpacked (ping, NULL);
    ff_rpc_reply (self, request, FARFAN__MESSAGE_TYPE__PONG, &pong.base);
}

static ff_rpc_handler_fn *
s_lookup (const ff_rpc_t *self, uint32_t type)
{
    for (const ff_rpc_route_t *route = self->routes; route && route->handler; route++)
        if (route->type == type)
            return route->handler;
    return NULL;
}

int
ff_rpc_dispatch (ff_rpc_t *self)
{
    ff_msg_t *request = self->request;
    int rc = ff_msg_recv (request, self->sock);
    if (rc == -1)
        return -1;
    uint64_t started = ff_clock_mono_us ();
    uint32_t type = ff_msg_type (request);
    s_count_request (self, type);
    if (type == FARFAN__MESSAGE_TYPE__ERROR || ff_msg_status_code (request) != 0) {
        //  A reply is never answered, so two peers can never bounce errors
        //  at each other; it has no business on a request socket: counted.
        ff_counter_inc (self->ignored);
        ff_log (FF_LOG_DEBUG, ff_msg_peer (request), ff_msg_correlation_id (request),
                "%s: unsolicited reply %s ignored", self->socket_name, ff_msg_type_name (type));
    }
    else
    if (rc == -2)
        ff_rpc_reply_error (self, request, ff_msg_error_code (request), "%s",
                            ff_msg_error (request));
    else {
        ff_rpc_handler_fn *handler = s_lookup (self, type);
        if (handler)
            handler (self, request, self->service);
        else
        if (type == FARFAN__MESSAGE_TYPE__PING)
            s_handle_ping (self, request);
        else
            ff_rpc_reply_error (self, request, FARFAN__ERROR_CODE__UNSUPPORTED,
                                "message type %u (%s) is not handled on the %s socket of %s",
                                type, ff_msg_type_name (type), self->socket_name,
                                self->info->service);
    }
    ff_histogram_observe (self->duration, (double) (ff_clock_mono_us () - started) / 1e6);
    return 0;
}

zsock_t *
ff_rpc_socket (ff_rpc_t *self)
{
    return self->sock;
}
