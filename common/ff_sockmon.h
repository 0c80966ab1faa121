/*  ff_sockmon — what libzmq says about a service's connections, counted.

    One monitor per service watches every socket the service opens
    (libzmq allows a single monitor per socket: this module is the only
    caller of zmq_socket_monitor in farfan). From libzmq's socket events
    it keeps, per socket name:

      farfan_peer_connections_total{socket}  connections made: accepted on
                                             a bound endpoint or
                                             established by a connect
      farfan_peer_disconnects_total{socket}  connections lost: the peer
                                             closed or vanished, its
                                             handshake failed, or it sent
                                             a message larger than
                                             max_msg_size (libzmq drops
                                             such a peer and reports the
                                             drop only as a disconnect)
      farfan_auth_failures_total{socket, reason}
                                             CURVE/ZAP handshakes refused:
                                             reason "auth" (ZAP refused the
                                             certificate), "protocol" (no
                                             CURVE, wrong server key,
                                             garbage) or "other"

    Events are read by one thread (started at the first watch) and counted
    as they arrive: a count may trail the event that causes it by the time
    that thread takes to be scheduled. libzmq sends an event from the I/O
    thread that saw it and waits when 1,000 are queued unread (its monitor
    queue is bounded and its send blocks), so that thread never stops
    reading while a socket is watched; and a watched socket must be
    unwatched (ff_sockmon_unwatch, or ff_sockmon_destroy for all) before
    it is closed: an event sent after its reader has gone would wait for
    ever, and with it every socket served by that I/O thread.
*/
#ifndef FF_SOCKMON_H_INCLUDED
#define FF_SOCKMON_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "ff_metrics.h"

typedef struct ff_sockmon ff_sockmon_t;

//  metrics may be NULL (counts kept only for ff_sockmon_count). With
//  secured true, the auth-failure counters of every watched socket are
//  visible at zero from the start (a service with CURVE on).
ff_sockmon_t *
    ff_sockmon_new (ff_metrics_t *metrics, bool secured);

//  Unwatches every socket still watched (each must still be open), then
//  stops the monitor thread. Destroy it BEFORE closing the sockets it
//  watches. Idempotent; nulls *self_p.
void
    ff_sockmon_destroy (ff_sockmon_t **self_p);

//  Starts watching sock under `name` (copied), before or after it is bound
//  or connected; events of connections made from now on are counted. A
//  socket watched twice is watched once. No-op when self is NULL. Returns
//  0, or -1 (with a warning logged) when libzmq refuses the monitor.
int
    ff_sockmon_watch (ff_sockmon_t *self, zsock_t *sock, const char *name);

//  Stops watching sock, which must still be open: call it before closing a
//  watched socket while the ff_sockmon lives on. No-op when self is NULL
//  or sock is not watched.
void
    ff_sockmon_unwatch (ff_sockmon_t *self, zsock_t *sock);

//  Sockets watched now (watched and not unwatched). For tests and tools.
size_t
    ff_sockmon_watched (ff_sockmon_t *self);

typedef enum {
    FF_SOCKMON_CONNECTIONS,
    FF_SOCKMON_DISCONNECTS,
    FF_SOCKMON_AUTH_FAILURES,
} ff_sockmon_count_t;

//  Events of one kind counted so far on every watched socket; 0 when self
//  is NULL. For tests and tools.
uint64_t
    ff_sockmon_count (ff_sockmon_t *self, ff_sockmon_count_t kind);

//  Waits until at least at_least events of that kind have been counted, or
//  timeout_ms has passed; returns the count then. For tests and tools.
uint64_t
    ff_sockmon_wait (ff_sockmon_t *self, ff_sockmon_count_t kind, uint64_t at_least,
                     int timeout_ms);

#endif
