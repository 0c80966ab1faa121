/*  ff_publisher — publishes signals to SISAS's ingest socket.

    Owns one socket connected to the ingest endpoint and stamps every signal
    with this publisher's source, a per-source sequence number and, when
    unset, its id ("<source>:<seq>") and timestamp. Sending never blocks:
    a signal that cannot go out now is dropped and counted by reason, and
    its sequence number is consumed, so SISAS sees the loss as a sequence
    gap. Reasons, checked in this order:
      - "no_peer": SISAS is not connected (has not subscribed) yet, or its
                   connection ended;
      - "paced":   the pacing token bucket is empty;
      - "encode":  the signal does not fit max_msg_size, or is one SISAS
                   would reject (empty id/type, '$' type, bad phase or
                   confidence, extras naming a known key...: the encoding
                   is decoded back before it is sent; the first such
                   signal is logged at warn level);
      - "hwm":     the bounded send queue is full (SISAS slow or gone).
    So attempts = sent + every drop, and the drops between two signals SISAS
    receives equal the gap between their seq.

    The socket is an XPUB connected to SISAS's bound SUB (ZMQ_XPUB_NODROP,
    ZMQ_IMMEDIATE): SISAS's subscription tells the publisher it is there,
    and its end (SISAS gone) tells it it is not. SISAS's SUB sends that
    subscription when its own loop services the socket, as any poll loop
    does. Destroying the publisher closes the socket with a linger of
    100 ms (option linger_ms): what is still queued by then is lost (and
    shows no gap).

    Pacing is the hook SISAS's THROTTLE / BACKPRESSURE drive: set_rate
    changes the token bucket; a caller that prefers waiting to dropping asks
    wait_us first. Not thread-safe: one publisher per thread.

    Feedback from SISAS (option control_endpoint, off when NULL or ""):
    the publisher also subscribes to SISAS's delivery socket, topic
    "$sisas.control" (proto/sisas.md §3.2), and paces itself by what it
    hears there. It reads that socket at most once a millisecond, from
    send / connected / wait_connected / poll_control, never blocking. The
    rate it sends at is the lowest of:
      - the caller's rate (options.rate, set_rate; 0 = unpaced);
      - THROTTLE, while active: the target named for this source, else
        the message's "level" (the fair per-source rate);
      - BACKPRESSURE, while active: each BACKPRESSURE message that says
        active multiplies the pace by backpressure_factor (default 0.5;
        the pace being the rate in force, or, unpaced, the rate sent over
        the last second), never below 1 signal/s. SISAS repeats the message
        while pending stays high, so the pace keeps falling until it
        drains; "active": false restores the caller's rate.
    A rate imposed by SISAS has a burst of a tenth of a second (at least
    1). Signals beyond it are dropped as "paced", as with the caller's
    own rate. Malformed control messages are counted and ignored.
*/
#ifndef FF_PUBLISHER_H_INCLUDED
#define FF_PUBLISHER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_curve.h"
#include "ff_metrics.h"
#include "ff_signal.h"
#include "ff_sockmon.h"

typedef struct ff_publisher ff_publisher_t;

typedef struct {
    const char *endpoint;       // SISAS ingest, CZMQ syntax; ">tcp://127.0.0.1:5570"
    const char *source;         // signal.source of everything published here: 1..107 bytes of UTF-8 (room for ":<seq>" in ids)
    int sndhwm;                 // send queue bound, in messages (> 0)
    size_t max_msg_size;        // largest encoded signal accepted, bytes (> 0)
    double rate;                // pacing, signals per second; 0 = unpaced (< 0 is refused)
    double burst;               // pacing burst (≥ 1 when rate > 0)
    const char *control_endpoint; // SISAS delivery socket to hear THROTTLE / BACKPRESSURE on; NULL or "" = off
    double backpressure_factor; // pace multiplier per active BACKPRESSURE, 0 < f < 1; 0 = 0.5
    int linger_ms;              // time queued signals may take to leave at destroy; 0 = 100 ms
    ff_curve_t *curve;          // CURVE client on tcp:// endpoints (both sockets); NULL = none (borrowed, outlives the publisher)
    ff_sockmon_t *monitor;      // counts both sockets' connections ("publisher", "publisher control"); NULL = none (borrowed, outlives the publisher, which unwatches them when destroyed)
} ff_publisher_options_t;

//  How the publisher paces itself now (ff_publisher_pacing).
typedef struct {
    double rate;                // in force, signals/s; 0 = unpaced
    double caller_rate;         // options.rate / set_rate
    double throttle_rate;       // imposed by THROTTLE; 0 = none
    double backpressure_rate;   // imposed by BACKPRESSURE; 0 = none
    bool backpressure;          // BACKPRESSURE active
    bool throttled;             // THROTTLE active
    uint64_t control_messages;  // control messages applied
    uint64_t control_invalid;   // control messages ignored as malformed
} ff_publisher_pacing_t;

typedef struct {
    uint64_t sent;              // handed to the socket
    uint64_t dropped_no_peer;   // see the reasons above
    uint64_t dropped_hwm;
    uint64_t dropped_paced;
    uint64_t dropped_encode;
} ff_publisher_stats_t;

//  Creates the publisher and starts connecting (endpoint: '>' or no
//  prefix connects, '@' binds). metrics may be NULL; when given,
//  farfan_signals_published_total and
//  farfan_signals_publish_dropped_total{reason} are kept there (shared by
//  every publisher on that registry). NULL on failure (bad options,
//  endpoint refused) with the reason in err.
ff_publisher_t *
    ff_publisher_new (const ff_publisher_options_t *options,
                      ff_metrics_t *metrics, char *err, size_t err_size);

void
    ff_publisher_destroy (ff_publisher_t **self_p);

//  Stamps signal (source, seq; id and ts_us when empty/0; ts_us from the
//  wall clock) — the caller sees the stamped values, also when the signal
//  is dropped — and sends [type][map] without blocking. Returns 0 when
//  sent, -1 when dropped (counted). payload and extra are only read.
int
    ff_publisher_send (ff_publisher_t *self, ff_signal_t *signal);

//  True once SISAS has subscribed (signals can flow), false again after
//  its connection ended. Never blocks.
bool
    ff_publisher_connected (ff_publisher_t *self);

//  Waits up to timeout_ms for SISAS to subscribe. Returns true if connected.
bool
    ff_publisher_wait_connected (ff_publisher_t *self, int timeout_ms);

//  The pacing hook: publish at most `rate` signals per second with bursts
//  of `burst`. rate 0 = unpaced. This is the caller's rate: SISAS's
//  feedback may hold the publisher below it (see above).
void
    ff_publisher_set_rate (ff_publisher_t *self, double rate, double burst);

//  Reads SISAS's control messages now (when control_endpoint is set),
//  without blocking. Returns how many were applied.
int
    ff_publisher_poll_control (ff_publisher_t *self);

//  The pacing in force and why.
void
    ff_publisher_pacing (ff_publisher_t *self, ff_publisher_pacing_t *pacing);

//  µs until the next signal may be sent under the current pacing (0 = now).
uint64_t
    ff_publisher_wait_us (ff_publisher_t *self);

//  The sequence number the next signal will get.
uint64_t
    ff_publisher_next_seq (const ff_publisher_t *self);

void
    ff_publisher_stats (const ff_publisher_t *self, ff_publisher_stats_t *stats);

#endif
