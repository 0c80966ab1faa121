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
    ff_rpc_observer_fn *observer;       // sees every message first; NULL = none
    void *observer_arg;
    zloop_t *loop;                      // for the backlog timer, borrowed; NULL = no backlog
    zlistx_t *backlog;                  // ff_reply_t * with replies waiting on a full peer queue
    int backlog_timer;                  // zloop timer id, -1 = none
    int retry_ms;                       // how often the backlog is retried
    uint64_t stall_us;                  // a peer not reading this long is given up on
};

static void s_backlog_free (ff_rpc_t *self);

ff_rpc_t *
ff_rpc_new (zsock_t *sock, const char *socket_name, const ff_rpc_route_t *routes,
            const ff_service_info_t *info, ff_metrics_t *metrics, void *service)
{
    ff_rpc_t *self = (ff_rpc_t *) zmalloc (sizeof (ff_rpc_t));
    self->backlog = zlistx_new ();
    self->backlog_timer = -1;
    self->retry_ms = 1;
    self->stall_us = 30 * 1000000ull;
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
        s_backlog_free (self);
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

ProtobufCMessage *
ff_rpc_unpack (ff_rpc_t *self, const ff_msg_t *request, const ProtobufCMessageDescriptor *descriptor)
{
    ProtobufCMessage *body = protobuf_c_message_unpack (descriptor, NULL, ff_msg_body_size (request),
                                                        ff_msg_body_data (request));
    if (!body)
        ff_rpc_reply_error (self, request, FARFAN__ERROR_CODE__MALFORMED,
                            "%s body is not a valid %s message",
                            ff_msg_type_name (ff_msg_type (request)), descriptor->short_name);
    return body;
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
    if (self->observer && self->observer (self, request, rc, self->observer_arg)) {
        ff_histogram_observe (self->duration, (double) (ff_clock_mono_us () - started) / 1e6);
        return 0;
    }
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

//  A reply the socket could not take yet (the peer's queue is full).
typedef struct {
    uint32_t type;
    uint32_t status_code;
    char *status_message;               // owned, NULL when none
    size_t size;
    uint8_t body [];                    // packed body
} s_pending_t;

struct ff_reply {
    ff_rpc_t *rpc;                      // the socket and counters, borrowed
    zframe_t *routing_id;               // copy, NULL for DEALER sockets
    bool delimiter;                     // mirror the request's
    uint32_t request_type;              // for ERROR bodies
    char correlation_id [FF_MSG_ID_MAX + 1];
    char peer [65];                     // for logs
    zlistx_t *outbox;                   // s_pending_t *, in order; NULL when empty
    uint64_t progress_us;               // last time the outbox moved
    bool closing;                       // destroyed by its owner: free once flushed
};

ff_reply_t *
ff_rpc_defer (ff_rpc_t *self, const ff_msg_t *request)
{
    ff_reply_t *reply = (ff_reply_t *) zmalloc (sizeof (ff_reply_t));
    reply->rpc = self;
    zframe_t *routing_id = ff_msg_routing_id (request);
    reply->routing_id = routing_id ? zframe_dup (routing_id) : NULL;
    reply->delimiter = ff_msg_has_delimiter (request);
    reply->request_type = ff_msg_type (request);
    snprintf (reply->correlation_id, sizeof reply->correlation_id, "%s",
              ff_msg_correlation_id (request));
    snprintf (reply->peer, sizeof reply->peer, "%s", ff_msg_peer (request));
    return reply;
}

static void
s_pending_free (s_pending_t **pending_p)
{
    free ((*pending_p)->status_message);
    free (*pending_p);
    *pending_p = NULL;
}

static void
s_reply_free (ff_reply_t *self)
{
    s_pending_t *pending;
    while (self->outbox && (pending = (s_pending_t *) zlistx_first (self->outbox))) {
        zlistx_delete (self->outbox, zlistx_cursor (self->outbox));
        s_pending_free (&pending);
    }
    zlistx_destroy (&self->outbox);
    zframe_destroy (&self->routing_id);
    free (self);
}

//  Sends one message now. 0 sent, 1 the peer's queue is full (try later),
//  -1 refused for good (peer gone: counted as dropped).
static int
s_reply_try (ff_reply_t *self, uint32_t type, uint32_t status_code, const char *status_message,
             const void *body, size_t size)
{
    ff_msg_header_t header = { .type = type, .correlation_id = self->correlation_id,
                               .sender_id = self->rpc->info->instance_id,
                               .status_code = status_code, .status_message = status_message };
    if (ff_msg_send_packed (self->rpc->sock, self->routing_id, self->delimiter, &header,
                            body, size) == 0)
        return 0;
    if (errno == EAGAIN)
        return 1;
    ff_counter_inc (self->rpc->dropped);
    ff_log (FF_LOG_DEBUG, self->peer, self->correlation_id, "%s: reply %s dropped: %s",
            self->rpc->socket_name, ff_msg_type_name (type), strerror (errno));
    return -1;
}

static void s_backlog_add (ff_rpc_t *rpc, ff_reply_t *reply);

//  Sends, or queues behind what is already waiting. Returns 0 (sent or
//  queued), -1 when refused for good.
static int
s_reply_send (ff_reply_t *self, uint32_t type, uint32_t status_code, const char *status_message,
              const void *body, size_t size)
{
    if (!self->outbox || zlistx_size (self->outbox) == 0) {
        int rc = s_reply_try (self, type, status_code, status_message, body, size);
        if (rc <= 0)
            return rc;
        if (!self->rpc->loop) {
            //  No loop to retry from: the full queue drops it.
            ff_counter_inc (self->rpc->dropped);
            return -1;
        }
    }
    s_pending_t *pending = (s_pending_t *) malloc (sizeof (s_pending_t) + size);
    if (!pending) {
        ff_counter_inc (self->rpc->dropped);
        return -1;
    }
    pending->type = type;
    pending->status_code = status_code;
    pending->status_message = status_message ? strdup (status_message) : NULL;
    pending->size = size;
    if (size)
        memcpy (pending->body, body, size);
    if (!self->outbox) {
        self->outbox = zlistx_new ();
        self->progress_us = ff_clock_mono_us ();
    }
    zlistx_add_end (self->outbox, pending);
    s_backlog_add (self->rpc, self);
    return 0;
}

//  Drops everything the outbox holds (counted, logged).
static void
s_reply_drop_outbox (ff_reply_t *self, const char *why)
{
    size_t dropped = zlistx_size (self->outbox);
    if (dropped == 0)
        return;
    ff_counter_add (self->rpc->dropped, dropped);
    ff_log (FF_LOG_WARN, self->peer, self->correlation_id, "%s: %zu replies dropped: %s",
            self->rpc->socket_name, dropped, why);
    s_pending_t *pending;
    while ((pending = (s_pending_t *) zlistx_first (self->outbox))) {
        zlistx_delete (self->outbox, zlistx_cursor (self->outbox));
        s_pending_free (&pending);
    }
}

//  Sends what the outbox holds, in order, until the peer's queue is full.
//  Returns true when the reply is finished with (flushed and closing): the
//  caller frees it.
static bool
s_reply_flush (ff_reply_t *self, uint64_t now_us)
{
    s_pending_t *pending;
    while ((pending = (s_pending_t *) zlistx_first (self->outbox))) {
        int rc = s_reply_try (self, pending->type, pending->status_code, pending->status_message,
                              pending->body, pending->size);
        if (rc == 1)
            break;
        zlistx_delete (self->outbox, zlistx_cursor (self->outbox));
        s_pending_free (&pending);
        if (rc < 0) {
            s_reply_drop_outbox (self, "the peer is gone");
            break;
        }
        self->progress_us = now_us;
    }
    if (zlistx_size (self->outbox) > 0 && now_us - self->progress_us > self->rpc->stall_us)
        s_reply_drop_outbox (self, "the peer stopped reading");
    return zlistx_size (self->outbox) == 0 && self->closing;
}

int
ff_reply_send (ff_reply_t *self, uint32_t type, const ProtobufCMessage *body)
{
    size_t size = body ? protobuf_c_message_get_packed_size (body) : 0;
    uint8_t stack [1024] = { 0 };
    uint8_t *packed = size <= sizeof stack ? stack : (uint8_t *) malloc (size);
    if (!packed) {
        ff_counter_inc (self->rpc->dropped);
        return -1;
    }
    if (body)
        protobuf_c_message_pack (body, packed);
    int rc = s_reply_send (self, type, 0, NULL, packed, size);
    if (packed != stack)
        free (packed);
    return rc;
}

int
ff_reply_send_packed (ff_reply_t *self, uint32_t type, const void *body, size_t size)
{
    return s_reply_send (self, type, 0, NULL, body, size);
}

int
ff_reply_error (ff_reply_t *self, uint32_t code, const char *format, ...)
{
    char message [512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    s_count_error (self->rpc, code);
    Farfan__ErrorReply body = FARFAN__ERROR_REPLY__INIT;
    body.request_type = (Farfan__MessageType) self->request_type;
    uint8_t packed [64];
    size_t size = farfan__error_reply__pack (&body, packed);
    return s_reply_send (self, FARFAN__MESSAGE_TYPE__ERROR, code, message, packed, size);
}

const char *
ff_reply_correlation_id (const ff_reply_t *self)
{
    return self->correlation_id;
}

void
ff_reply_destroy (ff_reply_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_reply_t *self = *self_p;
    *self_p = NULL;
    if (self->outbox && zlistx_size (self->outbox) > 0)
        self->closing = true;       //  the rpc frees it once flushed
    else
        s_reply_free (self);
}

//  ---------------------------------------------------------------------
//  Replies waiting on slow peers: one timer per rpc flushes them all.

static int
s_backlog_timer (zloop_t *loop, int timer_id, void *arg)
{
    ff_rpc_t *self = (ff_rpc_t *) arg;
    uint64_t now_us = ff_clock_mono_us ();
    ff_reply_t *reply = (ff_reply_t *) zlistx_first (self->backlog);
    while (reply) {
        void *handle = zlistx_cursor (self->backlog);
        bool finished = s_reply_flush (reply, now_us);
        bool empty = zlistx_size (reply->outbox) == 0;
        ff_reply_t *next = (ff_reply_t *) zlistx_next (self->backlog);
        if (empty)
            zlistx_delete (self->backlog, handle);
        if (finished)
            s_reply_free (reply);
        reply = next;
    }
    if (zlistx_size (self->backlog) == 0) {
        zloop_timer_end (loop, timer_id);
        self->backlog_timer = -1;
    }
    return 0;
}

static void
s_backlog_add (ff_rpc_t *self, ff_reply_t *reply)
{
    if (!zlistx_find (self->backlog, reply))
        zlistx_add_end (self->backlog, reply);
    if (self->backlog_timer < 0 && self->loop)
        self->backlog_timer = zloop_timer (self->loop, self->retry_ms, 0, s_backlog_timer, self);
}

//  At destroy: closing replies are the rpc's to free; open ones belong to
//  their owners, who destroy them (nothing is sent after).
static void
s_backlog_free (ff_rpc_t *self)
{
    ff_reply_t *reply;
    while ((reply = (ff_reply_t *) zlistx_first (self->backlog))) {
        zlistx_delete (self->backlog, zlistx_cursor (self->backlog));
        if (reply->closing)
            s_reply_free (reply);
    }
    zlistx_destroy (&self->backlog);
    if (self->backlog_timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->backlog_timer);
}

size_t
ff_rpc_backlog (ff_rpc_t *self)
{
    size_t pending = 0;
    for (ff_reply_t *reply = (ff_reply_t *) zlistx_first (self->backlog); reply;
         reply = (ff_reply_t *) zlistx_next (self->backlog))
        pending += zlistx_size (reply->outbox);
    return pending;
}

zsock_t *
ff_rpc_socket (ff_rpc_t *self)
{
    return self->sock;
}

void
ff_rpc_set_observer (ff_rpc_t *self, ff_rpc_observer_fn *observer, void *arg)
{
    self->observer = observer;
    self->observer_arg = arg;
}

void
ff_rpc_set_backlog (ff_rpc_t *self, zloop_t *loop, int retry_ms, uint64_t stall_ms)
{
    self->loop = loop;
    self->retry_ms = retry_ms > 0 ? retry_ms : 1;
    self->stall_us = stall_ms * 1000;
}
