/*  ff_socket — every ZeroMQ socket farfan opens, with bounded queues.

    Each socket gets the send and receive high-water marks and the
    maximum inbound message size from configuration (a peer that sends a
    larger message is disconnected by libzmq), linger 0 (unsent messages
    are discarded at close, so shutdown never waits on a dead peer) and,
    for ROUTER sockets, ZMQ_ROUTER_MANDATORY so that a reply to a vanished
    or saturated peer fails visibly (and is counted) instead of vanishing.
    With limits->curve set, every tcp:// endpoint is secured with CURVE
    (see ff_curve): bound ones as servers, connected ones as clients.
    With limits->monitor set, the socket's connections are counted under
    limits->name from before its first bind or connect (see ff_sockmon:
    it must unwatch the socket before the socket is closed).
*/
#ifndef FF_SOCKET_H_INCLUDED
#define FF_SOCKET_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_curve.h"
#include "ff_sockmon.h"

typedef struct {
    int hwm;                    // send and receive high-water mark, messages (> 0)
    int64_t max_msg_size;       // largest inbound message, bytes (> 0)
    ff_curve_t *curve;          // CURVE on tcp:// endpoints; NULL = none (borrowed)
    ff_sockmon_t *monitor;      // counts the socket's connections; NULL = none (borrowed)
    const char *name;           // names the socket in those counts; NULL = "unnamed"
} ff_socket_limits_t;

//  Creates a socket of ZeroMQ type `type` and attaches it to `endpoints`,
//  a comma-separated list in CZMQ syntax: '@' binds, '>' connects, an
//  endpoint without prefix binds when default_bind is true and connects
//  otherwise. Returns NULL on failure with the reason in err, e.g.
//  "bind tcp://*:5550: Address already in use".
zsock_t *
    ff_socket_new (int type, const char *endpoints, bool default_bind,
                   const ff_socket_limits_t *limits, char *err, size_t err_size);

#endif
