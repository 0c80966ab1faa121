/*  ff_rpc — request dispatch on one control socket through a handler table.

    ff_rpc_dispatch reads one message and either calls the handler its type
    maps to, answers PING itself (every request socket answers PING), or
    sends the error reply: MALFORMED for an undecodable message,
    UNSUPPORTED for an unknown type or protocol version. Every request
    gets exactly one reply; a handler must send it (now or later) with
    ff_rpc_reply / ff_rpc_reply_error.

    Metrics kept (labels socket="<name>"):
      farfan_requests_total{socket,type}          requests by message type
      farfan_request_errors_total{socket,code}    error replies by code
      farfan_request_duration_seconds{socket}     handler time (summary)
      farfan_replies_dropped_total{socket}        replies the socket refused
                                                   (peer gone or saturated)
      farfan_requests_ignored_total{socket}       replies (ERROR, or any
                                                   message with a status)
                                                   received here: a reply is
                                                   never answered
*/
#ifndef FF_RPC_H_INCLUDED
#define FF_RPC_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "ff_metrics.h"
#include "ff_msg.h"

typedef struct ff_rpc ff_rpc_t;

//  Handles one decoded request. `service` is the pointer given to
//  ff_rpc_new. The request is borrowed for the duration of the call.
typedef void (ff_rpc_handler_fn) (ff_rpc_t *rpc, const ff_msg_t *request, void *service);

typedef struct {
    uint32_t type;                  // Farfan__MessageType handled
    ff_rpc_handler_fn *handler;
} ff_rpc_route_t;

//  Who answers: used in PONG and as the sender id of every reply.
typedef struct {
    const char *service;            // "factory"
    const char *version;            // software version
    const char *instance_id;        // unique per process
    uint64_t started_us;            // monotonic clock at start
} ff_service_info_t;

//  sock, routes, info and metrics are borrowed and must outlive the rpc.
//  routes ends with an entry whose handler is NULL. socket_name labels the
//  metrics and logs ("client", "worker", "control"...).
ff_rpc_t *
    ff_rpc_new (zsock_t *sock, const char *socket_name, const ff_rpc_route_t *routes,
                const ff_service_info_t *info, ff_metrics_t *metrics, void *service);

void
    ff_rpc_destroy (ff_rpc_t **self_p);

//  Receives and dispatches one message. Returns 0, or -1 when interrupted
//  (nothing was received).
int
    ff_rpc_dispatch (ff_rpc_t *self);

//  Replies to request with a message of `type` and `body` (NULL = empty).
//  Returns 0, or -1 when the socket refused it (counted as dropped).
int
    ff_rpc_reply (ff_rpc_t *self, const ff_msg_t *request, uint32_t type,
                  const ProtobufCMessage *body);

//  Replies ERROR with `code` (Farfan__ErrorCode) and a formatted one-line
//  message; logs it at debug level with the peer and correlation id.
int
    ff_rpc_reply_error (ff_rpc_t *self, const ff_msg_t *request, uint32_t code,
                        const char *format, ...) __attribute__ ((format (printf, 4, 5)));

//  Decodes the request's body as `descriptor`. NULL, after replying
//  MALFORMED with the message type and descriptor name, when it does not
//  decode. Free with protobuf_c_message_free_unpacked.
ProtobufCMessage *
    ff_rpc_unpack (ff_rpc_t *self, const ff_msg_t *request,
                   const ProtobufCMessageDescriptor *descriptor);

//  A reply sent later, or several (a stream): keeps what addressing the
//  request needs after the handler returns (the request object itself is
//  reused for the next message). A stream is never cut by a full peer
//  queue: what the socket cannot take now waits in the reply's outbox, in
//  order, and goes out as the peer reads (see ff_rpc_set_backlog); only a
//  peer that is gone, or stops reading for the stall time, loses what
//  waits (counted as dropped, logged). Every function returns 0 (sent or
//  queued), or -1 when refused for good.
typedef struct ff_reply ff_reply_t;

//  A handle for replying to request later. Never NULL (aborts on OOM).
ff_reply_t *
    ff_rpc_defer (ff_rpc_t *self, const ff_msg_t *request);
int
    ff_reply_send (ff_reply_t *self, uint32_t type, const ProtobufCMessage *body);
int
    ff_reply_send_packed (ff_reply_t *self, uint32_t type, const void *body, size_t size);
int
    ff_reply_error (ff_reply_t *self, uint32_t code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
const char *
    ff_reply_correlation_id (const ff_reply_t *self);
//  Idempotent; nulls *self_p. What waits in the outbox is still sent (the
//  rpc frees the reply after). The rpc must outlive its replies.
void
    ff_reply_destroy (ff_reply_t **self_p);

//  Lets deferred replies wait for slow peers: a timer of `loop` retries
//  every retry_ms; a peer that takes nothing for stall_ms loses what
//  waits. Without it, a full peer queue drops the reply (counted).
void
    ff_rpc_set_backlog (ff_rpc_t *self, zloop_t *loop, int retry_ms, uint64_t stall_ms);

//  Replies waiting in outboxes now.
size_t
    ff_rpc_backlog (ff_rpc_t *self);

//  Sees every message the rpc receives before it is dispatched: decode_rc
//  is ff_msg_recv's (0 decoded, -2 malformed). Returns true when it took
//  the message (the rpc then neither dispatches nor answers it). Used where
//  a socket carries replies as well as requests (the worker link) and to
//  count any traffic as a heartbeat.
typedef bool (ff_rpc_observer_fn) (ff_rpc_t *rpc, const ff_msg_t *msg, int decode_rc, void *arg);

void
    ff_rpc_set_observer (ff_rpc_t *self, ff_rpc_observer_fn *observer, void *arg);

//  The socket this rpc serves. Borrowed.
zsock_t *
    ff_rpc_socket (ff_rpc_t *self);

#endif
