/*  ff_publisher — see ff_publisher.h.

    The socket is an XPUB, not a PUB: an XPUB hands its application the
    subscriptions that arrive from peers, which is how the publisher knows
    SISAS is there ("\x01topic" on subscribe, "\x00topic" when SISAS goes
    away), and with ZMQ_XPUB_NODROP a full send queue makes a non-blocking
    send fail with EAGAIN instead of losing the message silently, so every
    loss is counted. ZMQ_IMMEDIATE keeps no queue towards a SISAS that is
    not connected: its pipe, and its subscriptions, end with the
    connection, and signals sent meanwhile are "no_peer" drops rather than
    a backlog replayed to the next SISAS. XPUB_VERBOSE stays off: then
    exactly one subscribe arrives per distinct topic and one unsubscribe
    when its last subscriber leaves, so a counter of live topics is exact.
*/
#include "ff_publisher.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ff_clock.h"
#include "ff_log.h"
#include "ff_msgpack_reader.h"
#include "ff_token_bucket.h"

typedef enum {
    S_DROP_NO_PEER, S_DROP_HWM, S_DROP_PACED, S_DROP_ENCODE, S_DROP__COUNT
} s_drop_t;

static const char *s_drop_labels [S_DROP__COUNT] = {
    "reason=\"no_peer\"", "reason=\"hwm\"", "reason=\"paced\"", "reason=\"encode\"",
};

//  How long signals still queued at destroy may take to leave, unless the
//  caller says otherwise (linger_ms): bounded,
//  so shutdown (zmq_ctx_term at exit) never hangs on a dead SISAS.
static const int s_linger_ms = 100;

//  First size of the encoding buffer; it grows to the largest signal sent
//  (at most max_msg_size), so memory follows the signals, not the limit.
#define S_BUF_INITIAL 4096

//  Longest decimal uint64_t: the ":<seq>" suffix of default ids.
#define S_SEQ_DIGITS 20

//  SISAS's control topic (proto/sisas.md §3.2).
#define S_CONTROL_TOPIC "$sisas.control"
//  The control socket is read at most this often, µs.
#define S_CONTROL_POLL_US 1000
//  Rates imposed by SISAS: burst in seconds of the rate, and the floor.
#define S_IMPOSED_BURST_S 0.1
#define S_IMPOSED_MIN_RATE 1.0
#define S_BACKPRESSURE_FACTOR 0.5
//  Sent-rate window: 10 slots of 100 ms.
#define S_SENT_SLOTS 10
#define S_SENT_SLOT_US 100000

struct ff_publisher {
    zsock_t *sock;                          // XPUB attached to the ingest endpoint
    ff_sockmon_t *monitor;                  // watches sock and control (borrowed), may be NULL
    void *handle;                           // its libzmq socket
    char source [FF_SIGNAL_ID_MAX - S_SEQ_DIGITS]; // stamped on every signal; short enough for "<source>:<seq>" ids
    size_t max_msg_size;                    // largest encoding sent
    uint8_t *buf;                           // encoding buffer, grown on demand
    size_t buf_size;                        // bytes at buf (≤ max_msg_size)
    ff_signal_t check;                      // the encoding decoded back, to validate it
    uint64_t next_seq;                      // seq of the next signal
    int64_t topics;                         // topics SISAS subscribes to; > 0 = connected
    ff_token_bucket_t pacing;               // rate limit (rate 0 = unpaced)
    ff_publisher_stats_t stats;             // counts since creation
    ff_counter_t *published;                // metrics, NULL when not kept
    ff_counter_t *dropped [S_DROP__COUNT];
    bool warned_invalid;                    // logged the first invalid signal
    zsock_t *control;                       // SUB to SISAS's "$sisas.control", NULL when off
    uint64_t control_polled_us;             // last read of control
    double caller_rate;                     // options.rate / set_rate
    double caller_burst;
    double throttle_rate;                   // imposed by THROTTLE, 0 = none
    double backpressure_rate;               // imposed by BACKPRESSURE, 0 = none
    double backpressure_factor;
    bool throttled;                         // THROTTLE active
    uint64_t control_messages;              // applied
    uint64_t control_invalid;               // ignored
    uint32_t sent_slots [S_SENT_SLOTS];     // signals sent per 100 ms ...
    uint64_t sent_epoch;                    // ... newest slot number
    uint64_t sent_sum;                      // ... over the last second
};

static void
s_err (char *err, size_t err_size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_err (char *err, size_t err_size, const char *format, ...)
{
    if (err && err_size > 0) {
        va_list args;
        va_start (args, format);
        vsnprintf (err, err_size, format, args);
        va_end (args);
    }
}

//  Reads every pending (un)subscription without blocking.
static void
s_drain (ff_publisher_t *self)
{
    while (true) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, self->handle, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&msg);
            break;
        }
        const uint8_t *data = (const uint8_t *) zmq_msg_data (&msg);
        //  A subscription is one frame starting 0 or 1; anything else an
        //  XPUB may pass up is not for us.
        if (zmq_msg_size (&msg) > 0 && !zmq_msg_more (&msg)) {
            if (data [0] == 1)
                self->topics++;
            else
            if (data [0] == 0 && self->topics > 0)
                self->topics--;
        }
        zmq_msg_close (&msg);
    }
}

//  Counts one signal sent into the last-second window.
static void
s_sent_rate_add (ff_publisher_t *self, uint64_t now_us, uint32_t count)
{
    uint64_t slot = now_us / S_SENT_SLOT_US;
    if (slot > self->sent_epoch) {
        if (slot - self->sent_epoch >= S_SENT_SLOTS) {
            memset (self->sent_slots, 0, sizeof self->sent_slots);
            self->sent_sum = 0;
        }
        else
            for (uint64_t next = self->sent_epoch + 1; next <= slot; next++) {
                self->sent_sum -= self->sent_slots [next % S_SENT_SLOTS];
                self->sent_slots [next % S_SENT_SLOTS] = 0;
            }
        self->sent_epoch = slot;
    }
    self->sent_slots [self->sent_epoch % S_SENT_SLOTS] += count;
    self->sent_sum += count;
}

//  The lowest of the rates in force (0 = unpaced).
static double
s_effective_rate (const ff_publisher_t *self)
{
    double rate = self->caller_rate;
    if (self->throttle_rate > 0 && (rate == 0 || self->throttle_rate < rate))
        rate = self->throttle_rate;
    if (self->backpressure_rate > 0 && (rate == 0 || self->backpressure_rate < rate))
        rate = self->backpressure_rate;
    return rate;
}

static void
s_apply_pacing (ff_publisher_t *self)
{
    double rate = s_effective_rate (self);
    double burst = self->caller_burst;
    if (rate != self->caller_rate) {
        burst = rate * S_IMPOSED_BURST_S;
        if (burst < 1)
            burst = 1;
    }
    ff_token_bucket_set_rate (&self->pacing, rate, burst, ff_clock_mono_us ());
}

//  What one control message says, read from its map.
typedef struct {
    bool throttle;              // kind THROTTLE (else BACKPRESSURE)
    bool active;
    double level;               // THROTTLE: fair level
    double target;              // THROTTLE: this source's target, 0 = not named
} s_control_t;

static bool
s_read_number (const ff_msgpack_item_t *item, double *value)
{
    switch (item->type) {
        case FF_MSGPACK_FLOAT32:
        case FF_MSGPACK_FLOAT64: *value = item->f; return true;
        case FF_MSGPACK_UINT:    *value = (double) item->u; return true;
        case FF_MSGPACK_INT:     *value = (double) item->i; return true;
        default:                 return false;
    }
}

static bool
s_key_is (const ff_msgpack_item_t *key, const char *name)
{
    size_t size = strlen (name);
    return key->type == FF_MSGPACK_STR && key->size == size && memcmp (key->data, name, size) == 0;
}

//  Reads the payload map of a control message. 0, or -1 when malformed.
static int
s_parse_payload (ff_publisher_t *self, ff_msgpack_reader_t *reader, s_control_t *control)
{
    ff_msgpack_item_t item;
    if (ff_msgpack_reader_next (reader, &item) != FF_MSGPACK_OK || item.type != FF_MSGPACK_MAP)
        return -1;
    bool has_kind = false, has_active = false;
    size_t source_size = strlen (self->source);
    for (uint32_t pair = 0; pair < item.count; pair++) {
        ff_msgpack_item_t key, value;
        if (ff_msgpack_reader_next (reader, &key) != FF_MSGPACK_OK)
            return -1;
        if (s_key_is (&key, "kind")) {
            if (ff_msgpack_reader_next (reader, &value) != FF_MSGPACK_OK
            ||  value.type != FF_MSGPACK_STR)
                return -1;
            if (value.size == 8 && memcmp (value.data, "THROTTLE", 8) == 0)
                control->throttle = true;
            else
            if (value.size == 12 && memcmp (value.data, "BACKPRESSURE", 12) == 0)
                control->throttle = false;
            else
                return -1;
            has_kind = true;
        }
        else
        if (s_key_is (&key, "active")) {
            if (ff_msgpack_reader_next (reader, &value) != FF_MSGPACK_OK
            ||  value.type != FF_MSGPACK_BOOL)
                return -1;
            control->active = value.boolean;
            has_active = true;
        }
        else
        if (s_key_is (&key, "level")) {
            if (ff_msgpack_reader_next (reader, &value) != FF_MSGPACK_OK
            ||  !s_read_number (&value, &control->level))
                return -1;
        }
        else
        if (s_key_is (&key, "targets")) {
            ff_msgpack_item_t targets;
            if (ff_msgpack_reader_next (reader, &targets) != FF_MSGPACK_OK
            ||  targets.type != FF_MSGPACK_MAP)
                return -1;
            for (uint32_t target = 0; target < targets.count; target++) {
                ff_msgpack_item_t name, rate;
                double number;
                if (ff_msgpack_reader_next (reader, &name) != FF_MSGPACK_OK
                ||  ff_msgpack_reader_next (reader, &rate) != FF_MSGPACK_OK
                ||  !s_read_number (&rate, &number))
                    return -1;
                if (name.type == FF_MSGPACK_STR && name.size == source_size
                &&  memcmp (name.data, self->source, source_size) == 0)
                    control->target = number;
            }
        }
        else
        if (ff_msgpack_reader_skip (reader, 32) != FF_MSGPACK_OK)
            return -1;
    }
    return has_kind && has_active ? 0 : -1;
}

//  Applies one control message [topic][map]. 0, or -1 when malformed.
static int
s_apply_control (ff_publisher_t *self, const uint8_t *data, size_t size)
{
    ff_msgpack_reader_t reader;
    ff_msgpack_reader_init (&reader, data, size);
    ff_msgpack_item_t item;
    if (ff_msgpack_reader_next (&reader, &item) != FF_MSGPACK_OK || item.type != FF_MSGPACK_MAP)
        return -1;
    s_control_t control = { .throttle = false };
    bool has_payload = false;
    for (uint32_t pair = 0; pair < item.count; pair++) {
        ff_msgpack_item_t key;
        if (ff_msgpack_reader_next (&reader, &key) != FF_MSGPACK_OK)
            return -1;
        if (s_key_is (&key, "payload")) {
            if (s_parse_payload (self, &reader, &control) != 0)
                return -1;
            has_payload = true;
        }
        else
        if (ff_msgpack_reader_skip (&reader, 32) != FF_MSGPACK_OK)
            return -1;
    }
    if (!has_payload)
        return -1;
    if (control.throttle) {
        double rate = control.target > 0 ? control.target : control.level;
        self->throttled = control.active;
        self->throttle_rate = control.active && rate > 0 ? rate : 0;
    }
    else
    if (control.active) {
        double pace = s_effective_rate (self);
        if (pace == 0)
            pace = (double) self->sent_sum;
        pace *= self->backpressure_factor;
        self->backpressure_rate = pace < S_IMPOSED_MIN_RATE ? S_IMPOSED_MIN_RATE : pace;
    }
    else
        self->backpressure_rate = 0;
    s_apply_pacing (self);
    return 0;
}

//  Reads every control message waiting, at most once per
//  S_CONTROL_POLL_US unless forced. Returns how many were applied.
static int
s_poll_control (ff_publisher_t *self, uint64_t now_us, bool force)
{
    if (!self->control || (!force && now_us - self->control_polled_us < S_CONTROL_POLL_US))
        return 0;
    self->control_polled_us = now_us;
    void *handle = zsock_resolve (self->control);
    int applied = 0;
    while (true) {
        zmq_msg_t topic, body;
        zmq_msg_init (&topic);
        if (zmq_msg_recv (&topic, handle, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&topic);
            break;
        }
        bool two = zmq_msg_more (&topic);
        zmq_msg_init (&body);
        if (two && zmq_msg_recv (&body, handle, 0) == -1)
            two = false;
        bool extra = two && zmq_msg_more (&body);
        //  Discard anything past two frames.
        while (extra) {
            zmq_msg_t rest;
            zmq_msg_init (&rest);
            extra = zmq_msg_recv (&rest, handle, 0) != -1 && zmq_msg_more (&rest);
            zmq_msg_close (&rest);
            two = false;
        }
        if (two && zmq_msg_size (&topic) == strlen (S_CONTROL_TOPIC)
        &&  memcmp (zmq_msg_data (&topic), S_CONTROL_TOPIC, strlen (S_CONTROL_TOPIC)) == 0
        &&  s_apply_control (self, (const uint8_t *) zmq_msg_data (&body), zmq_msg_size (&body)) == 0) {
            self->control_messages++;
            applied++;
        }
        else
            self->control_invalid++;
        zmq_msg_close (&topic);
        zmq_msg_close (&body);
    }
    return applied;
}

static int
s_drop (ff_publisher_t *self, s_drop_t reason)
{
    uint64_t *counters [S_DROP__COUNT] = {
        &self->stats.dropped_no_peer, &self->stats.dropped_hwm,
        &self->stats.dropped_paced, &self->stats.dropped_encode,
    };
    (*counters [reason])++;
    if (self->dropped [reason])
        ff_counter_inc (self->dropped [reason]);
    return -1;
}

//  Attaches to one endpoint: '>' or no prefix connects, '@' binds; with
//  CURVE on tcp:// when options.curve is set.
static int
s_attach (ff_publisher_t *self, ff_curve_t *curve, const char *endpoint,
          char *err, size_t err_size)
{
    bool bind = *endpoint == '@';
    if (*endpoint == '@' || *endpoint == '>')
        endpoint++;
    char reason [512];
    if (ff_curve_attach (curve, self->sock, endpoint, bind,
                         reason, sizeof reason) != 0) {
        s_err (err, err_size, "publisher: %s", reason);
        return -1;
    }
    return 0;
}

ff_publisher_t *
ff_publisher_new (const ff_publisher_options_t *options,
                  ff_metrics_t *metrics, char *err, size_t err_size)
{
    assert (options);
    ff_publisher_t *self = NULL;
    if (!options->endpoint || !*options->endpoint) {
        s_err (err, err_size, "publisher: no endpoint");
        goto failed;
    }
    size_t source_size = options->source ? strlen (options->source) : 0;
    if (source_size == 0 || source_size > FF_SIGNAL_ID_MAX - 1 - S_SEQ_DIGITS) {
        s_err (err, err_size, "publisher: source must be 1..%d bytes (it prefixes ids)",
               FF_SIGNAL_ID_MAX - 1 - S_SEQ_DIGITS);
        goto failed;
    }
    if (options->sndhwm <= 0 || options->max_msg_size == 0
    ||  !(options->rate >= 0)) {
        s_err (err, err_size, "publisher: sndhwm and max_msg_size must be > 0, rate ≥ 0");
        goto failed;
    }
    if (options->linger_ms < 0) {
        s_err (err, err_size, "publisher: linger_ms must be ≥ 0 (0 = default)");
        goto failed;
    }
    if (!(options->backpressure_factor >= 0 && options->backpressure_factor < 1)) {
        s_err (err, err_size, "publisher: backpressure_factor must be in 0..1 (0 = default)");
        goto failed;
    }
    self = (ff_publisher_t *) calloc (1, sizeof *self);
    if (!self) {
        s_err (err, err_size, "publisher: out of memory");
        goto failed;
    }
    memcpy (self->source, options->source, source_size + 1);
    self->max_msg_size = options->max_msg_size;
    self->buf_size = options->max_msg_size < S_BUF_INITIAL ? options->max_msg_size : S_BUF_INITIAL;
    self->buf = (uint8_t *) malloc (self->buf_size);
    if (!self->buf) {
        s_err (err, err_size, "publisher: out of memory");
        goto failed;
    }

    //  The source must survive the decoder's rules (UTF-8, no NUL...).
    ff_signal_t probe;
    ff_signal_init (&probe);
    strcpy (probe.id, "probe");
    strcpy (probe.type, "probe");
    memcpy (probe.source, self->source, source_size + 1);
    size_t probe_size = ff_signal_encode (&probe, self->buf, self->buf_size);
    char detail [160] = "";
    if (probe_size > self->buf_size) {
        s_err (err, err_size, "publisher: max_msg_size %zu cannot hold a signal",
               self->max_msg_size);
        goto failed;
    }
    if (ff_signal_decode (&self->check, self->buf, probe_size,
                          detail, sizeof detail) != FF_SIGNAL_OK) {
        s_err (err, err_size, "publisher: bad source: %s", detail);
        goto failed;
    }

    ff_token_bucket_init (&self->pacing, options->rate, options->burst,
                          ff_clock_mono_us ());
    self->caller_rate = self->pacing.rate;
    self->caller_burst = self->pacing.burst;
    self->backpressure_factor = options->backpressure_factor > 0
                              ? options->backpressure_factor : S_BACKPRESSURE_FACTOR;

    self->sock = zsock_new (ZMQ_XPUB);
    if (!self->sock) {
        s_err (err, err_size, "publisher: cannot create socket: %s",
               zmq_strerror (zmq_errno ()));
        goto failed;
    }
    self->handle = zsock_resolve (self->sock);
    self->monitor = options->monitor;
    ff_sockmon_watch (self->monitor, self->sock, "publisher");
    zsock_set_sndhwm (self->sock, options->sndhwm);
    zsock_set_rcvhwm (self->sock, options->sndhwm);
    zsock_set_linger (self->sock, options->linger_ms > 0 ? options->linger_ms : s_linger_ms);
    zsock_set_xpub_nodrop (self->sock, 1);
    zsock_set_immediate (self->sock, 1);
    //  Inbound is subscriptions only: 1 byte + a topic prefix.
    //  libzmq applies the limit to CURVE's handshake commands (WELCOME is
    //  168 bytes) and to each encrypted frame (33 bytes of box overhead)
    //  too: room for those when CURVE is on.
    int64_t max_inbound = 1 + FF_SIGNAL_TYPE_MAX + (options->curve ? 512 : 0);
    zmq_setsockopt (self->handle, ZMQ_MAXMSGSIZE, &max_inbound, sizeof max_inbound);
    if (s_attach (self, options->curve, options->endpoint, err, err_size) != 0)
        goto failed;

    if (options->control_endpoint && *options->control_endpoint) {
        const char *control = options->control_endpoint;
        if (*control == '>')
            control++;
        self->control = zsock_new (ZMQ_SUB);
        if (!self->control) {
            s_err (err, err_size, "publisher: cannot create the control socket");
            goto failed;
        }
        ff_sockmon_watch (self->monitor, self->control, "publisher control");
        zsock_set_rcvhwm (self->control, 100);
        zsock_set_linger (self->control, 0);
        //  Control messages are small: a peer sending more is cut off.
        int64_t max_control = 64 * 1024;
        zmq_setsockopt (zsock_resolve (self->control), ZMQ_MAXMSGSIZE, &max_control,
                        sizeof max_control);
        zsock_set_subscribe (self->control, S_CONTROL_TOPIC);
        char reason [512];
        if (ff_curve_attach (options->curve, self->control, control,
                             false, reason, sizeof reason) != 0) {
            s_err (err, err_size, "publisher: %s", reason);
            goto failed;
        }
    }

    if (metrics) {
        self->published = ff_metrics_counter (metrics,
            "farfan_signals_published_total",
            "Signals handed to the SISAS ingest socket", NULL);
        for (int reason = 0; reason < S_DROP__COUNT; reason++)
            self->dropped [reason] = ff_metrics_counter (metrics,
                "farfan_signals_publish_dropped_total",
                "Signals the publisher dropped, by reason", s_drop_labels [reason]);
    }
    return self;

failed:
    ff_publisher_destroy (&self);
    return NULL;
}

void
ff_publisher_destroy (ff_publisher_t **self_p)
{
    if (self_p && *self_p) {
        ff_publisher_t *self = *self_p;
        //  A watched socket is unwatched before it closes (ff_sockmon).
        ff_sockmon_unwatch (self->monitor, self->sock);
        ff_sockmon_unwatch (self->monitor, self->control);
        zsock_destroy (&self->sock);
        zsock_destroy (&self->control);
        free (self->buf);
        free (self);
        *self_p = NULL;
    }
}

int
ff_publisher_send (ff_publisher_t *self, ff_signal_t *signal)
{
    assert (self);
    assert (signal);
    uint64_t seq = self->next_seq++;
    strcpy (signal->source, self->source);
    signal->seq = seq;
    if (signal->id [0] == '\0')
        snprintf (signal->id, sizeof signal->id, "%s:%" PRIu64, self->source, seq);
    if (signal->ts_us == 0)
        signal->ts_us = ff_clock_wall_us ();

    s_drain (self);
    uint64_t now_us = ff_clock_mono_us ();
    s_poll_control (self, now_us, false);
    if (self->topics <= 0)
        return s_drop (self, S_DROP_NO_PEER);
    if (!ff_token_bucket_take (&self->pacing, 1, now_us))
        return s_drop (self, S_DROP_PACED);

    size_t size = ff_signal_encode (signal, self->buf, self->buf_size);
    if (size > self->buf_size) {
        uint8_t *grown = size <= self->max_msg_size ? (uint8_t *) realloc (self->buf, size) : NULL;
        if (!grown)
            return s_drop (self, S_DROP_ENCODE);
        self->buf = grown;
        self->buf_size = size;
        ff_signal_encode (signal, self->buf, self->buf_size);
    }
    //  Never put on the wire what SISAS would reject.
    char detail [160];
    if (ff_signal_decode (&self->check, self->buf, size, detail, sizeof detail)
        != FF_SIGNAL_OK) {
        if (!self->warned_invalid) {
            self->warned_invalid = true;
            ff_log_warn ("publisher %s: dropping invalid signals (first: %s)",
                         self->source, detail);
        }
        return s_drop (self, S_DROP_ENCODE);
    }

    //  With XPUB_NODROP the HWM is checked on the first frame only; once
    //  it is accepted the second cannot meet a full queue (the pipe
    //  counts whole messages), so the message is never left half-sent.
    if (zmq_send (self->handle, signal->type, strlen (signal->type),
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return s_drop (self, S_DROP_HWM);
    if (zmq_send (self->handle, self->buf, size, ZMQ_DONTWAIT) == -1) {
        ff_log_error ("publisher %s: second frame refused: %s", self->source,
                      zmq_strerror (zmq_errno ()));
        return s_drop (self, S_DROP_HWM);
    }
    self->stats.sent++;
    s_sent_rate_add (self, now_us, 1);
    if (self->published)
        ff_counter_inc (self->published);
    return 0;
}

bool
ff_publisher_connected (ff_publisher_t *self)
{
    assert (self);
    s_drain (self);
    s_poll_control (self, ff_clock_mono_us (), false);
    return self->topics > 0;
}

bool
ff_publisher_wait_connected (ff_publisher_t *self, int timeout_ms)
{
    assert (self);
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        s_drain (self);
        s_poll_control (self, ff_clock_mono_us (), false);
        if (self->topics > 0)
            return true;
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return false;
        zmq_pollitem_t item = { self->handle, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) left) == -1 && zmq_errno () != EINTR)
            return false;
    }
}

void
ff_publisher_set_rate (ff_publisher_t *self, double rate, double burst)
{
    assert (self);
    if (!(rate > 0))
        rate = 0;
    if (rate > 0 && !(burst >= 1))
        burst = 1;
    self->caller_rate = rate;
    self->caller_burst = burst;
    s_apply_pacing (self);
}

int
ff_publisher_poll_control (ff_publisher_t *self)
{
    assert (self);
    return s_poll_control (self, ff_clock_mono_us (), true);
}

void
ff_publisher_pacing (ff_publisher_t *self, ff_publisher_pacing_t *pacing)
{
    assert (self);
    assert (pacing);
    pacing->rate = self->pacing.rate;
    pacing->caller_rate = self->caller_rate;
    pacing->throttle_rate = self->throttle_rate;
    pacing->backpressure_rate = self->backpressure_rate;
    pacing->backpressure = self->backpressure_rate > 0;
    pacing->throttled = self->throttled;
    pacing->control_messages = self->control_messages;
    pacing->control_invalid = self->control_invalid;
}

uint64_t
ff_publisher_wait_us (ff_publisher_t *self)
{
    assert (self);
    return ff_token_bucket_wait_us (&self->pacing, 1, ff_clock_mono_us ());
}

uint64_t
ff_publisher_next_seq (const ff_publisher_t *self)
{
    assert (self);
    return self->next_seq;
}

void
ff_publisher_stats (const ff_publisher_t *self, ff_publisher_stats_t *stats)
{
    assert (self);
    assert (stats);
    *stats = self->stats;
}
