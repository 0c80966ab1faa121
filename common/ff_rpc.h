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

//  The socket this rpc serves. Borrowed.
zsock_t *
    ff_rpc_socket (ff_rpc_t *self);

#endif
