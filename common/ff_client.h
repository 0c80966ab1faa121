/*  ff_client — a request/reply client for the farfan control APIs
    (Lazy Pirate: timeout, reconnect, retry, give up).

    One DEALER socket connected to one service. A request is sent with a
    fresh correlation id; the reply carrying that id is returned. Replies to
    earlier, abandoned requests are discarded. When no reply comes within
    the timeout the socket is closed and reopened (dropping anything queued
    for a dead peer) and the same request — same correlation id, so the
    server can recognise a duplicate — is sent again. Not thread-safe.
*/
#ifndef FF_CLIENT_H_INCLUDED
#define FF_CLIENT_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_curve.h"
#include "ff_msg.h"

typedef struct ff_client ff_client_t;

//  endpoint: "tcp://host:port" (a leading '>' is accepted). sender_id
//  names this client in envelopes (NULL = "client-<pid>"). Connecting is
//  asynchronous: a wrong address — or a CURVE handshake the server
//  refuses — shows up as a request timing out. NULL with the reason in
//  err when the endpoint is invalid. Uses the process's default CURVE
//  client setup (ff_curve_client_default) on tcp:// endpoints.
ff_client_t *
    ff_client_new (const char *endpoint, const char *sender_id,
                   char *err, size_t err_size);

//  The same with an explicit CURVE setup (borrowed, must outlive the
//  client; NULL = no CURVE). NULL with the reason in err also when CURVE
//  is on without the server's public key.
ff_client_t *
    ff_client_new_secure (const char *endpoint, const char *sender_id, ff_curve_t *curve,
                          char *err, size_t err_size);

//  Idempotent; nulls *self_p.
void
    ff_client_destroy (ff_client_t **self_p);

//  Sends a request of `type` with `body` (NULL = empty) and waits up to
//  timeout_ms per attempt, `attempts` attempts in all (≥ 1). Returns
//    0   *reply_p holds the reply (caller destroys): a normal reply or an
//        ERROR (check ff_msg_type / ff_msg_status_code);
//   -1   no reply after every attempt (err says so);
//   -2   the peer answered something that is not a valid farfan reply.
int
    ff_client_request (ff_client_t *self, uint32_t type, const ProtobufCMessage *body,
                       int timeout_ms, int attempts, ff_msg_t **reply_p,
                       char *err, size_t err_size);

//  The correlation id of the last request sent. Borrowed.
const char *
    ff_client_last_correlation_id (const ff_client_t *self);

#endif
