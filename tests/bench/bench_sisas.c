/*  bench_sisas — SISAS, the signal bus, against raw libzmq in the same run.

    SISAS runs in-process (its real actor, on the CZMQ context); the
    publishers and the subscriber are raw libzmq sockets on contexts of
    their own, as separate processes would be. Five measurements (issue
    #5), each with its baseline:

    1. sisas.throughput (msg/s): 2 publisher threads send 100-byte signals
       (distinct subjects, so every one is delivered) through SISAS with
       fusion, storm detection and routing on (a registered vehicle that
       matches none of these sources: the candidate lookup runs, nothing is
       routed) to one subscriber; counted at the subscriber, median of
       rounds INTERLEAVED with the raw feed of 2 publishers
       (zmq.pubsub2), so both see the same load. Also sisas.ingest: the
       same rounds counted at SISAS (received per second).
    2. sisas.latency (us, p50/p95/p99): one publisher paced at 10 000
       signals/s, each carrying its send time; publisher -> SISAS ->
       subscriber, against zmq.rtt (a DEALER -> ROUTER round trip: also
       two hops).
    3. sisas.redundancy: a replay (timestamps of a past day) of 3 000
       events with a known duplicate structure: 10 000 signals of which
       7 000 repeat an event inside its window; decoys differ from events
       by one byte of subject or type. The reduction SISAS reports must
       equal 0.7 exactly (ratio to sisas.redundancy.expected) and every
       event must come out exactly once (false merges = 0).
    4. sisas.storm: rate_limit 10 000/s; one source at 10x that for 10 s
       (scaled), one normal source at 1 000/s; HEALTH asked every 10 ms
       (p50/p99 vs zmq.rtt), peak RSS of the whole process (vs the RSS
       before the storm), the normal source's losses (must be 0) and the
       shed accounting (every noisy signal sent = delivered + shed).
    5. sisas.predict.mape (%): 10 runs of phase P02 with ±10 % noise on
       1 000 signals (deterministic generator), counted by SISAS from the
       signals themselves; against the 10 % target.

    Usage: bench_sisas [--scale X] [--output PATH] [--format tsv|jsonl]
                       [--timeout MS] [--rounds N]
    FF_BENCH_SISAS_ONLY=throughput,latency (names: storm, latency,
    redundancy, predict, throughput) runs only those, e.g. to profile.
*/
#include "ff_bench.h"
#include "ff_bench_zmq.h"
#include "bench_support.h"

#include "ff_clock.h"
#include "ff_log.h"
#include "ff_msg.h"
#include "ff_signal.h"
#include "sis_server.h"
#include "sisas.pb-c.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_SIGNAL_SIZE 100
#define S_PUBLISHERS 2
#define S_LATENCY_RATE 10000
#define S_STORM_LIMIT 10000
#define S_STORM_NORMAL_RATE 1000

//  ---------------------------------------------------------------------
//  SISAS in-process

typedef struct {
    zactor_t *actor;
    sis_config_t config;
    char ingest [128];
    char publish [128];
    char control [128];
    zsock_t *dealer;
    uint64_t sequence;
} s_sisas_t;

static char *
s_endpoint (zactor_t *actor, const char *name)
{
    zstr_sendx (actor, "ENDPOINT", name, NULL);
    return zstr_recv (actor);
}

//  Starts SISAS with the extra settings ("--key", "value", ..., NULL).
static int
s_sisas_start (s_sisas_t *self, ...)
{
    memset (self, 0, sizeof *self);
    char *argv [64] = { "bench", "--ingest-endpoint", "@tcp://127.0.0.1:*",
                        "--publish-endpoint", "@tcp://127.0.0.1:*",
                        "--control-endpoint", "@tcp://127.0.0.1:*", "--http-port", "0",
                        "--log-level", "error" };
    int argc = 11;
    va_list args;
    va_start (args, self);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 63)
        argv [argc++] = arg;
    va_end (args);
    char err [256] = "";
    if (ff_config_load (&sis_config_schema, &self->config, argc, argv, stdout, err, sizeof err)
        != FF_CONFIG_LOADED) {
        fprintf (stderr, "bench_sisas: config: %s\n", err);
        return -1;
    }
    sis_server_t *server = sis_server_new (&self->config, err, sizeof err);
    if (!server) {
        fprintf (stderr, "bench_sisas: sisas: %s\n", err);
        ff_config_free (&sis_config_schema, &self->config);
        return -1;
    }
    self->actor = zactor_new (sis_server_actor, server);
    const char *names [] = { "ingest", "publish", "control" };
    char *targets [] = { self->ingest, self->publish, self->control };
    for (int i = 0; i < 3; i++) {
        char *endpoint = s_endpoint (self->actor, names [i]);
        snprintf (targets [i], 128, "%s", endpoint ? endpoint : "");
        zstr_free (&endpoint);
    }
    self->dealer = zsock_new (ZMQ_DEALER);
    zsock_set_rcvtimeo (self->dealer, 5000);
    zsock_set_linger (self->dealer, 0);
    zsock_connect (self->dealer, "%s", self->control);
    return 0;
}

static void
s_sisas_stop (s_sisas_t *self)
{
    zsock_destroy (&self->dealer);
    zactor_destroy (&self->actor);
    ff_config_free (&sis_config_schema, &self->config);
}

//  One request on the control socket; the reply's body unpacked with
//  descriptor, NULL on failure.
static ProtobufCMessage *
s_request (s_sisas_t *self, uint32_t type, const ProtobufCMessage *body, uint32_t reply_type,
           const ProtobufCMessageDescriptor *descriptor)
{
    char correlation_id [32];
    snprintf (correlation_id, sizeof correlation_id, "b-%" PRIu64, ++self->sequence);
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id,
                               .sender_id = "bench" };
    if (ff_msg_send (self->dealer, NULL, false, &header, body) != 0)
        return NULL;
    ff_msg_t *reply = ff_msg_new ();
    ProtobufCMessage *out = NULL;
    while (ff_msg_recv (reply, self->dealer) == 0) {
        if (strcmp (ff_msg_correlation_id (reply), correlation_id) != 0)
            continue;
        if (ff_msg_type (reply) == reply_type)
            out = protobuf_c_message_unpack (descriptor, NULL, ff_msg_body_size (reply),
                                             ff_msg_body_data (reply));
        break;
    }
    ff_msg_destroy (&reply);
    return out;
}

static Farfan__SisasStats *
s_stats (s_sisas_t *self)
{
    Farfan__SisasStatsRequest request = FARFAN__SISAS_STATS_REQUEST__INIT;
    return (Farfan__SisasStats *) s_request (self, FARFAN__MESSAGE_TYPE__SISAS_STATS,
        &request.base, FARFAN__MESSAGE_TYPE__SISAS_STATS_REPLY, &farfan__sisas_stats__descriptor);
}

static Farfan__SisasHealth *
s_health (s_sisas_t *self)
{
    Farfan__SisasHealthRequest request = FARFAN__SISAS_HEALTH_REQUEST__INIT;
    return (Farfan__SisasHealth *) s_request (self, FARFAN__MESSAGE_TYPE__SISAS_HEALTH,
        &request.base, FARFAN__MESSAGE_TYPE__SISAS_HEALTH_REPLY, &farfan__sisas_health__descriptor);
}

static int
s_register_vehicle (s_sisas_t *self, zsock_t *vehicle, const char *name, const char *pattern)
{
    Farfan__VehicleRegister request = FARFAN__VEHICLE_REGISTER__INIT;
    request.name = (char *) name;
    request.capacity = 100;
    char *patterns [1] = { (char *) pattern };
    request.patterns = patterns;
    request.n_patterns = 1;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER,
                               .correlation_id = "register", .sender_id = name };
    if (ff_msg_send (vehicle, NULL, false, &header, &request.base) != 0)
        return -1;
    ff_msg_t *reply = ff_msg_new ();
    int rc = ff_msg_recv (reply, vehicle) == 0
          && ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__VEHICLE_REGISTERED ? 0 : -1;
    ff_msg_destroy (&reply);
    (void) self;
    return rc;
}

//  ---------------------------------------------------------------------
//  Signal templates: a hand-built schema-v1 map whose counters sit at
//  fixed offsets (uint64 as 0xcf + 8 bytes, decimal digits of fixed
//  width), so a publisher stamps each message with a memcpy and a few
//  stores. The decoder accepts any integer width (signal-schema.md §2.1).

typedef struct {
    uint8_t data [512];
    size_t size;
    char topic [32];
    size_t id_digits;           // offset of the 12 digits ending the id
    size_t subject_digits;      // offset of the 12 digits ending the subject
    size_t ts;                  // offset of ts's 8 bytes
    size_t seq;                 // offset of seq's 8 bytes
    size_t stamp;               // offset of the payload's 8 bytes (0 = no payload)
} s_template_t;

static void
s_put (s_template_t *t, const void *data, size_t size)
{
    memcpy (t->data + t->size, data, size);
    t->size += size;
}

static void
s_put_str (s_template_t *t, const char *text)
{
    size_t size = strlen (text);
    uint8_t head = (uint8_t) (0xa0 | size);
    if (size >= 32) {
        uint8_t long_head [2] = { 0xd9, (uint8_t) size };
        s_put (t, long_head, 2);
    }
    else
        s_put (t, &head, 1);
    s_put (t, text, size);
}

//  A template for source, type, subject prefix; padded so the whole
//  message body is `size` bytes when size > 0; with_stamp adds a uint64
//  payload (the send time).
static void
s_template (s_template_t *t, const char *source, const char *type, const char *subject_prefix,
            size_t size, bool with_stamp)
{
    char pad [128] = "";
    for (int attempt = 0; attempt < 2; attempt++) {
        memset (t, 0, sizeof *t);
        snprintf (t->topic, sizeof t->topic, "%s", type);
        uint8_t map = (uint8_t) (0x80 | (with_stamp ? 7 : 6));
        s_put (t, &map, 1);
        s_put_str (t, "id");
        char id [64];
        snprintf (id, sizeof id, "%s:000000000000", source);
        s_put_str (t, id);
        t->id_digits = t->size - 12;
        s_put_str (t, "type");
        s_put_str (t, type);
        s_put_str (t, "source");
        s_put_str (t, source);
        s_put_str (t, "subject");
        char subject [192];
        snprintf (subject, sizeof subject, "%s%s000000000000", subject_prefix, pad);
        s_put_str (t, subject);
        t->subject_digits = t->size - 12;
        uint8_t u64 [9] = { 0xcf };
        s_put_str (t, "ts");
        s_put (t, u64, 9);
        t->ts = t->size - 8;
        s_put_str (t, "seq");
        s_put (t, u64, 9);
        t->seq = t->size - 8;
        if (with_stamp) {
            s_put_str (t, "payload");
            s_put (t, u64, 9);
            t->stamp = t->size - 8;
        }
        if (size == 0 || t->size >= size)
            break;
        size_t missing = size - t->size;
        memset (pad, '_', missing);
        pad [missing] = '\0';
    }
}

//  Sends [topic][data] on a CZMQ socket.
static void
s_send_frames (zsock_t *sock, const char *topic, const void *data, size_t size)
{
    void *handle = zsock_resolve (sock);
    zmq_send (handle, topic, strlen (topic), ZMQ_SNDMORE);
    zmq_send (handle, data, size, 0);
}

static void
s_be64 (uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out [i] = (uint8_t) value;
        value >>= 8;
    }
}

static void
s_digits (uint8_t *out, uint64_t value)
{
    for (int i = 11; i >= 0; i--) {
        out [i] = (uint8_t) ('0' + value % 10);
        value /= 10;
    }
}

//  Sends one stamped copy of the template. 0, or -1.
static int
s_send_signal (void *sock, const s_template_t *t, uint64_t seq, uint64_t subject,
               uint64_t ts_us, uint64_t stamp)
{
    zmq_msg_t body;
    if (zmq_msg_init_size (&body, t->size) != 0)
        return -1;
    uint8_t *data = (uint8_t *) zmq_msg_data (&body);
    memcpy (data, t->data, t->size);
    s_digits (data + t->id_digits, seq);
    s_digits (data + t->subject_digits, subject);
    s_be64 (data + t->ts, ts_us);
    s_be64 (data + t->seq, seq);
    if (t->stamp)
        s_be64 (data + t->stamp, stamp);
    if (zmq_send (sock, t->topic, strlen (t->topic), ZMQ_SNDMORE) < 0
    ||  zmq_msg_send (&body, sock, 0) < 0) {
        zmq_msg_close (&body);
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Publisher threads: each owns a PUB on the shared publishers' context.
//  The main thread posts work (count, rate) and waits for it to be done.

typedef struct {
    void *ctx;                  // publishers' context (borrowed)
    char endpoint [128];
    int index;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int state;                  // 0 idle, 1 work posted, 2 quit
    uint64_t count;             // signals to send
    double rate;                // per second, 0 = as fast as possible
    bool probe;                 // send probes until probing is cleared
    atomic_bool probing;
    s_template_t signal;
    s_template_t probe_template;
    uint64_t seq;               // next seq
    uint64_t subject;           // next subject number
    uint64_t ts_us;             // stamped ts (replay) or 0 = now
    uint64_t sent;              // in the last work
    bool failed;
} s_publisher_t;

static void *
s_publisher_main (void *arg)
{
    s_publisher_t *self = (s_publisher_t *) arg;
    void *sock = zmq_socket (self->ctx, ZMQ_PUB);
    int hwm = 0;                // unbounded here: the benchmark counts every message
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    int linger = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (sock, self->endpoint) != 0)
        self->failed = true;
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (self->state == 0)
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->state == 2)
            break;
        pthread_mutex_unlock (&self->lock);
        if (self->probe) {
            uint64_t probe = 0;
            while (atomic_load (&self->probing)) {
                s_send_signal (sock, &self->probe_template, probe, probe, ff_clock_wall_us (), 0);
                probe++;
                struct timespec pause = { 0, 1000000 };
                nanosleep (&pause, NULL);
            }
        }
        else {
            //  Paced: send what is due by now, then sleep until the next
            //  one is due (at most 1 ms), never spin: a spinning thread
            //  would take a core from SISAS on a small machine.
            uint64_t started = ff_bench_now_ns ();
            double interval_ns = self->rate > 0 ? 1e9 / self->rate : 0;
            uint64_t ts = self->ts_us ? self->ts_us : ff_clock_wall_us ();
            self->sent = 0;
            uint64_t i = 0;
            while (i < self->count) {
                uint64_t due = self->count;
                if (interval_ns > 0) {
                    due = (uint64_t) ((double) (ff_bench_now_ns () - started) / interval_ns) + 1;
                    if (due > self->count)
                        due = self->count;
                    if (!self->ts_us)
                        ts = ff_clock_wall_us ();
                }
                for (; i < due; i++) {
                    if (s_send_signal (sock, &self->signal, self->seq, self->subject,
                                       ts, ff_bench_now_ns ()) == 0)
                        self->sent++;
                    self->seq++;
                    self->subject++;
                }
                if (i < self->count) {
                    uint64_t next = started + (uint64_t) (interval_ns * (double) i);
                    uint64_t now = ff_bench_now_ns ();
                    uint64_t wait = next > now ? next - now : 0;
                    if (wait > 1000000)
                        wait = 1000000;
                    struct timespec pause = { 0, (long) wait };
                    if (wait)
                        nanosleep (&pause, NULL);
                }
            }
        }
        pthread_mutex_lock (&self->lock);
        self->state = 0;
        pthread_cond_broadcast (&self->wake);
    }
    pthread_mutex_unlock (&self->lock);
    zmq_close (sock);
    return NULL;
}

static void
s_publisher_start (s_publisher_t *self, void *ctx, const char *endpoint, int index,
                   const char *source, const char *type, const char *subject_prefix,
                   size_t size, bool with_stamp)
{
    memset (self, 0, sizeof *self);
    self->ctx = ctx;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    self->index = index;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    s_template (&self->signal, source, type, subject_prefix, size, with_stamp);
    char probe_subject [32], probe_source [32];
    snprintf (probe_subject, sizeof probe_subject, "probe%d/", index);
    snprintf (probe_source, sizeof probe_source, "probe-%d", index);
    s_template (&self->probe_template, probe_source, "bench.probe", probe_subject, 0, false);
    pthread_create (&self->thread, NULL, s_publisher_main, self);
}

//  Posts work and, unless probing, waits until it is done.
static void
s_publisher_post (s_publisher_t *self, uint64_t count, double rate, bool probe)
{
    pthread_mutex_lock (&self->lock);
    self->count = count;
    self->rate = rate;
    self->probe = probe;
    if (probe)
        atomic_store (&self->probing, true);
    self->state = 1;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

static void
s_publisher_wait (s_publisher_t *self)
{
    pthread_mutex_lock (&self->lock);
    while (self->state == 1)
        pthread_cond_wait (&self->wake, &self->lock);
    pthread_mutex_unlock (&self->lock);
}

static void
s_publisher_stop (s_publisher_t *self)
{
    atomic_store (&self->probing, false);
    s_publisher_wait (self);
    pthread_mutex_lock (&self->lock);
    self->state = 2;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
}

//  ---------------------------------------------------------------------
//  The subscriber: a raw SUB on its own context.

typedef struct {
    void *ctx;
    void *sock;
} s_subscriber_t;

static int
s_subscriber_start (s_subscriber_t *self, const char *endpoint, const char *const *topics,
                    int timeout_ms)
{
    self->ctx = zmq_ctx_new ();
    self->sock = zmq_socket (self->ctx, ZMQ_SUB);
    int hwm = 0, linger = 0;
    zmq_setsockopt (self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    for (size_t i = 0; topics [i]; i++)
        zmq_setsockopt (self->sock, ZMQ_SUBSCRIBE, topics [i], strlen (topics [i]));
    return zmq_connect (self->sock, endpoint);
}

static void
s_subscriber_stop (s_subscriber_t *self)
{
    zmq_close (self->sock);
    zmq_ctx_term (self->ctx);
}

//  Receives one [topic][body] message. Returns the body size, -1 on timeout.
static int
s_subscriber_recv (s_subscriber_t *self, char *topic, size_t topic_size, zmq_msg_t *body)
{
    int size = zmq_recv (self->sock, topic, topic_size - 1, 0);
    if (size < 0)
        return -1;
    topic [size < (int) topic_size - 1 ? size : (int) topic_size - 1] = '\0';
    zmq_msg_init (body);
    if (zmq_msg_recv (body, self->sock, 0) < 0) {
        zmq_msg_close (body);
        return -1;
    }
    return (int) zmq_msg_size (body);
}

//  Waits until a probe of every publisher crossed SISAS, then stops the
//  probes and drains what is left of them.
static int
s_join (s_subscriber_t *sub, s_publisher_t *publishers, int count, int timeout_ms)
{
    for (int i = 0; i < count; i++)
        s_publisher_post (&publishers [i], 0, 0, true);
    bool seen [8] = { false };
    int joined = 0;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (joined < count && zclock_mono () < deadline) {
        char topic [64];
        zmq_msg_t body;
        if (s_subscriber_recv (sub, topic, sizeof topic, &body) < 0)
            continue;
        ff_signal_t signal;
        if (strcmp (topic, "bench.probe") == 0
        &&  ff_signal_decode (&signal, zmq_msg_data (&body), zmq_msg_size (&body), NULL, 0)
            == FF_SIGNAL_OK) {
            int index = signal.subject [5] - '0';
            if (index >= 0 && index < count && !seen [index]) {
                seen [index] = true;
                joined++;
            }
        }
        zmq_msg_close (&body);
    }
    for (int i = 0; i < count; i++) {
        atomic_store (&publishers [i].probing, false);
        s_publisher_wait (&publishers [i]);
    }
    //  Drain the probes in flight.
    int drain_ms = 100;
    zmq_setsockopt (sub->sock, ZMQ_RCVTIMEO, &drain_ms, sizeof drain_ms);
    char topic [64];
    zmq_msg_t body;
    while (s_subscriber_recv (sub, topic, sizeof topic, &body) >= 0)
        zmq_msg_close (&body);
    zmq_setsockopt (sub->sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    return joined == count ? 0 : -1;
}

static uint64_t
s_rss_kb (const char *field)
{
    FILE *file = fopen ("/proc/self/status", "r");
    if (!file)
        return 0;
    char line [256];
    uint64_t value = 0;
    size_t length = strlen (field);
    while (fgets (line, sizeof line, file))
        if (strncmp (line, field, length) == 0)
            value = strtoull (line + length, NULL, 10);
    fclose (file);
    return value;
}

//  ---------------------------------------------------------------------
//  1. Throughput, interleaved with the raw feed

//  One round through SISAS: the publishers send `messages` in all, the
//  subscriber counts them; *elapsed_ns from the go to the last one.
static int
s_sisas_round (ff_bench_t *bench, s_publisher_t *publishers, s_subscriber_t *sub,
               size_t messages, uint64_t *elapsed_ns)
{
    int rc = 0;
    uint64_t started = ff_bench_now_ns ();
    for (int i = 0; i < S_PUBLISHERS; i++)
        s_publisher_post (&publishers [i], messages / S_PUBLISHERS, 0, false);
    size_t received = 0;
    while (received < messages) {
        char topic [64];
        zmq_msg_t body;
        if (s_subscriber_recv (sub, topic, sizeof topic, &body) < 0) {
            ff_bench_fail (bench, "throughput: %zu of %zu signals arrived", received, messages);
            rc = -1;
            break;
        }
        zmq_msg_close (&body);
        received++;
    }
    *elapsed_ns = ff_bench_now_ns () - started;
    for (int i = 0; i < S_PUBLISHERS; i++)
        s_publisher_wait (&publishers [i]);
    return rc;
}

static int
s_throughput (ff_bench_t *bench)
{
    size_t rounds = (size_t) ff_bench_rounds (bench);
    size_t total = ff_bench_scaled (bench, FF_BENCH_ZMQ_PUBSUB_MESSAGES, 2000);
    size_t per_round = total / rounds;
    per_round -= per_round % S_PUBLISHERS;
    int timeout = ff_bench_timeout_ms (bench);
    char hwm [32];
    snprintf (hwm, sizeof hwm, "%zu", 2 * per_round + 10000);
    s_sisas_t sisas;
    //  Storm detection on with a limit above the rate (its cost is paid,
    //  it does not shed); the vehicle lives through the whole run.
    if (s_sisas_start (&sisas, "--hwm", hwm, "--rate-limit", "1000000000",
                       "--vehicle-heartbeat-ms", "600000", NULL) != 0) {
        ff_bench_fail (bench, "throughput: SISAS did not start");
        return -1;
    }
    //  Routing on, with a vehicle none of the bench sources match.
    zsock_t *vehicle = zsock_new (ZMQ_DEALER);
    zsock_set_rcvtimeo (vehicle, timeout);
    zsock_connect (vehicle, "%s", sisas.control);
    int rc = s_register_vehicle (&sisas, vehicle, "pdf-only", "*.pdf");
    //  Baselines: the raw one-hop feed (the issue's), and the same through
    //  a zmq_proxy broker (SISAS's two hops, without its work).
    ff_bench_zmq_feed_t *feed = ff_bench_zmq_feed_new (bench, S_PUBLISHERS, FF_BENCH_ZMQ_SIZE,
                                                        per_round, 1);
    ff_bench_zmq_feed_t *proxied = ff_bench_zmq_feed_new (bench, S_PUBLISHERS,
                                                           FF_BENCH_ZMQ_SIZE, per_round, 2);
    void *ctx = zmq_ctx_new ();
    s_publisher_t publishers [S_PUBLISHERS];
    for (int i = 0; i < S_PUBLISHERS; i++) {
        char source [16];
        snprintf (source, sizeof source, "bench-%d", i);
        char prefix [16];
        snprintf (prefix, sizeof prefix, "P%d/", i);
        s_publisher_start (&publishers [i], ctx, sisas.ingest, i, source, "bench.signal", prefix,
                           S_SIGNAL_SIZE, false);
    }
    s_subscriber_t sub;
    const char *topics [] = { "bench.", NULL };
    s_subscriber_start (&sub, sisas.publish, topics, timeout);
    if (rc != 0 || !feed || !proxied || s_join (&sub, publishers, S_PUBLISHERS, timeout) != 0) {
        ff_bench_fail (bench, "throughput: setup failed (vehicle %d, feeds %p %p)", rc,
                       (void *) feed, (void *) proxied);
        rc = -1;
        goto cleanup;
    }
    ff_bench_samples_t *raw = ff_bench_samples_new (rounds);
    ff_bench_samples_t *broker = ff_bench_samples_new (rounds);
    ff_bench_samples_t *mine = ff_bench_samples_new (rounds);
    Farfan__SisasStats *before = s_stats (&sisas);
    uint64_t received_before = before ? before->received : 0;
    if (before)
        farfan__sisas_stats__free_unpacked (before, NULL);
    //  A warm-up of a tenth each, then the rounds interleaved, each round
    //  starting one side later: raw, proxy, SISAS; proxy, SISAS, raw; ...
    uint64_t elapsed = 0;
    if (ff_bench_zmq_feed_round (feed, per_round / 10, &elapsed) != 0
    ||  ff_bench_zmq_feed_round (proxied, per_round / 10, &elapsed) != 0
    ||  s_sisas_round (bench, publishers, &sub, per_round / 10, &elapsed) != 0)
        rc = -1;
    ff_bench_samples_t *samples [3] = { raw, broker, mine };
    for (size_t round = 0; round < rounds && rc == 0; round++) {
        for (size_t turn = 0; turn < 3 && rc == 0; turn++) {
            size_t side = (round + turn) % 3;
            if (side == 2)
                rc = s_sisas_round (bench, publishers, &sub, per_round, &elapsed);
            else
                rc = ff_bench_zmq_feed_round (side == 0 ? feed : proxied, per_round, &elapsed);
            if (rc == 0)
                ff_bench_samples_add (samples [side], elapsed);
        }
    }
    if (rc == 0) {
        Farfan__SisasStats *after = s_stats (&sisas);
        ff_bench_record_rounds (bench, FF_BENCH_ZMQ_PUBSUB2, per_round, raw, "msg/s", NULL,
                                "raw libzmq, 2 publishers, 100 B");
        ff_bench_record_rounds (bench, FF_BENCH_ZMQ_PUBSUB2_PROXY, per_round, broker, "msg/s",
                                FF_BENCH_ZMQ_PUBSUB2, "raw libzmq, 2 publishers -> zmq_proxy "
                                "(XSUB/XPUB, own context) -> 1 subscriber, 100 B");
        ff_bench_record_rounds (bench, "sisas.throughput", per_round, mine, "msg/s",
                                FF_BENCH_ZMQ_PUBSUB2,
                                "2 publishers -> SISAS (fusion, storm, routing on) -> 1 subscriber, 100 B");
        ff_bench_record (bench, "sisas.throughput.vs_proxy",
                         ff_bench_value (bench, "sisas.throughput"), "msg/s",
                         FF_BENCH_ZMQ_PUBSUB2_PROXY,
                         "the same figure against the broker that only forwards");
        if (after) {
            ff_bench_recordf (bench, "sisas.throughput.identity", after->identity_holds ? 1 : 0,
                              "bool", NULL, "received %" PRIu64 " (%" PRIu64 " in the rounds), "
                              "delivered %" PRIu64 ", rejected %" PRIu64 ", shed %" PRIu64,
                              after->received, after->received - received_before,
                              after->delivered, after->rejected, after->shed);
            farfan__sisas_stats__free_unpacked (after, NULL);
        }
    }
    ff_bench_samples_destroy (&raw);
    ff_bench_samples_destroy (&broker);
    ff_bench_samples_destroy (&mine);

cleanup:
    for (int i = 0; i < S_PUBLISHERS; i++)
        s_publisher_stop (&publishers [i]);
    s_subscriber_stop (&sub);
    zmq_ctx_term (ctx);
    ff_bench_zmq_feed_destroy (&feed);
    ff_bench_zmq_feed_destroy (&proxied);
    zsock_destroy (&vehicle);
    s_sisas_stop (&sisas);
    return rc;
}

//  ---------------------------------------------------------------------
//  2. Latency at 10 000 signals/s

static int
s_latency (ff_bench_t *bench)
{
    int timeout = ff_bench_timeout_ms (bench);
    size_t count = ff_bench_scaled (bench, 2 * S_LATENCY_RATE, 200);
    s_sisas_t sisas;
    if (s_sisas_start (&sisas, "--hwm", "100000", NULL) != 0) {
        ff_bench_fail (bench, "latency: SISAS did not start");
        return -1;
    }
    void *ctx = zmq_ctx_new ();
    s_publisher_t publisher;
    s_publisher_start (&publisher, ctx, sisas.ingest, 0, "latency", "bench.latency", "L/", 0, true);
    s_subscriber_t sub;
    const char *topics [] = { "bench.", NULL };
    s_subscriber_start (&sub, sisas.publish, topics, timeout);
    int rc = s_join (&sub, &publisher, 1, timeout);
    ff_bench_samples_t *samples = ff_bench_samples_new (count);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        //  Pass 0 warms up with a tenth.
        size_t messages = pass == 0 ? count / 10 : count;
        s_publisher_post (&publisher, messages, S_LATENCY_RATE, false);
        for (size_t received = 0; received < messages; received++) {
            char topic [64];
            zmq_msg_t body;
            if (s_subscriber_recv (&sub, topic, sizeof topic, &body) < 0) {
                ff_bench_fail (bench, "latency: %zu of %zu signals arrived", received, messages);
                rc = -1;
                break;
            }
            uint64_t now = ff_bench_now_ns ();
            const uint8_t *data = (const uint8_t *) zmq_msg_data (&body);
            size_t size = zmq_msg_size (&body);
            uint64_t sent = 0;
            for (int i = 0; i < 8 && size >= 8; i++)
                sent = (sent << 8) | data [size - 8 + i];
            if (pass == 1)
                ff_bench_samples_add (samples, now - sent);
            zmq_msg_close (&body);
        }
        s_publisher_wait (&publisher);
    }
    if (rc == 0)
        ff_bench_record_latency (bench, "sisas.latency", samples, FF_BENCH_ZMQ_RTT);
    ff_bench_samples_destroy (&samples);
    s_publisher_stop (&publisher);
    s_subscriber_stop (&sub);
    zmq_ctx_term (ctx);
    s_sisas_stop (&sisas);
    return rc;
}

//  ---------------------------------------------------------------------
//  3. Redundancy: a replay with a known duplicate structure

//  A deterministic generator (xorshift64*), so every run replays the same.
static uint64_t
s_random (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dULL;
}

typedef struct {
    char type [32];
    char subject [48];
    uint32_t copies;            // signals of this event (first + repeats)
    uint32_t seen;              // delivered firsts at the subscriber
} s_event_t;

static int
s_redundancy (ff_bench_t *bench)
{
    const size_t events = 3000, total = 10000;      // 7 000 repeats: 70 %
    int timeout = ff_bench_timeout_ms (bench);
    s_sisas_t sisas;
    //  A 10 s window, so the replay's pace cannot split an event.
    if (s_sisas_start (&sisas, "--hwm", "100000", "--fusion-window-ms", "10000", NULL) != 0) {
        ff_bench_fail (bench, "redundancy: SISAS did not start");
        return -1;
    }
    s_event_t *table = (s_event_t *) calloc (events, sizeof (s_event_t));
    //  Decoys: events differ by one byte of subject (Q0001 / Q0010 / q0001)
    //  or by the type (contract.result / contract.results).
    for (size_t e = 0; e < events; e++) {
        snprintf (table [e].type, sizeof table [e].type, "%s",
                  e % 7 == 3 ? "contract.results" : "contract.result");
        snprintf (table [e].subject, sizeof table [e].subject, "%s%02zu/DIM%02zu/Q%04zu",
                  e % 11 == 5 ? "pa" : "PA", e % 10, e % 6, e / 10);
        table [e].copies = 1 + (e < 1000 ? 3 : 2);      // 1000 x 3 + 2000 x 2 repeats = 7000
    }
    //  The replay: every copy of every event, shuffled, one publisher,
    //  timestamps from a past day inside each event's window.
    uint32_t *order = (uint32_t *) malloc (total * sizeof (uint32_t));
    size_t filled = 0;
    for (size_t e = 0; e < events; e++)
        for (uint32_t c = 0; c < table [e].copies; c++)
            order [filled++] = (uint32_t) e;
    uint64_t state = 0x5eed5eed12345678ULL;
    for (size_t i = filled; i-- > 1; ) {
        size_t j = (size_t) (s_random (&state) % (i + 1));
        uint32_t swap = order [i];
        order [i] = order [j];
        order [j] = swap;
    }
    zsock_t *pub = zsock_new (ZMQ_PUB);
    zsock_set_sndhwm (pub, 0);
    zsock_connect (pub, "%s", sisas.ingest);
    s_subscriber_t sub;
    const char *topics [] = { "contract.", "probe", NULL };
    s_subscriber_start (&sub, sisas.publish, topics, timeout);
    //  Join: probes until one crosses.
    int rc = -1;
    for (int probe = 0; probe < 2000 && rc != 0; probe++) {
        ff_signal_t signal;
        ff_signal_init (&signal);
        strcpy (signal.type, "probe");
        strcpy (signal.source, "probe");
        snprintf (signal.id, sizeof signal.id, "probe:%d", probe);
        snprintf (signal.subject, sizeof signal.subject, "p%d", probe);
        signal.ts_us = ff_clock_wall_us ();
        signal.seq = (uint64_t) probe;
        uint8_t buffer [256];
        size_t size = ff_signal_encode (&signal, buffer, sizeof buffer);
        s_send_frames (pub, "probe", buffer, size);
        int wait = 5;
        zmq_setsockopt (sub.sock, ZMQ_RCVTIMEO, &wait, sizeof wait);
        char topic [64];
        zmq_msg_t body;
        if (s_subscriber_recv (&sub, topic, sizeof topic, &body) >= 0) {
            rc = 0;
            zmq_msg_close (&body);
        }
    }
    zmq_setsockopt (sub.sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    Farfan__SisasStats *before = rc == 0 ? s_stats (&sisas) : NULL;
    uint64_t anchor = 1735689600ULL * 1000000;      // 2025-01-01T00:00:00Z
    for (size_t i = 0; i < filled && rc == 0; i++) {
        s_event_t *event = &table [order [i]];
        ff_signal_t signal;
        ff_signal_init (&signal);
        snprintf (signal.type, sizeof signal.type, "%s", event->type);
        strcpy (signal.source, "replay");
        snprintf (signal.subject, sizeof signal.subject, "%s", event->subject);
        snprintf (signal.id, sizeof signal.id, "replay:%zu", i);
        signal.ts_us = anchor + (uint64_t) order [i] * 1000 + (uint64_t) (i % 997);
        signal.seq = i;
        signal.confidence = 0.5 + 0.4 * (double) (s_random (&state) % 1000) / 1000.0;
        uint8_t buffer [512];
        size_t size = ff_signal_encode (&signal, buffer, sizeof buffer);
        s_send_frames (pub, signal.type, buffer, size);
    }
    //  The firsts come out at once; count them until every event has
    //  been seen (a false merge would leave one missing).
    size_t firsts = 0, duplicates = 0, fused = 0, others = 0;
    int quiet_ms = 1000;
    zmq_setsockopt (sub.sock, ZMQ_RCVTIMEO, &quiet_ms, sizeof quiet_ms);
    while (rc == 0) {
        char topic [64];
        zmq_msg_t body;
        if (s_subscriber_recv (&sub, topic, sizeof topic, &body) < 0)
            break;
        ff_signal_t signal;
        if (strcmp (topic, "probe") != 0
        &&  ff_signal_decode (&signal, zmq_msg_data (&body), zmq_msg_size (&body), NULL, 0)
            == FF_SIGNAL_OK) {
            if (signal.extra_count > 0)
                fused++;            //  a FUSED update (the only signals with extras here)
            else {
                size_t e = 0;
                while (e < events && (strcmp (table [e].subject, signal.subject) != 0
                                  ||  strcmp (table [e].type, signal.type) != 0))
                    e++;
                if (e == events)
                    others++;
                else
                if (table [e].seen++ == 0)
                    firsts++;
                else
                    duplicates++;
            }
        }
        zmq_msg_close (&body);
        if (firsts == events)
            break;
    }
    Farfan__SisasStats *after = rc == 0 ? s_stats (&sisas) : NULL;
    if (before && after) {
        uint64_t received = after->received - before->received;
        uint64_t absorbed = after->absorbed - before->absorbed;
        size_t missing = events - firsts;
        ff_bench_recordf (bench, "sisas.redundancy.expected", (double) (total - events)
                          / (double) total, "ratio", NULL, "%zu events, %zu signals", events, total);
        ff_bench_recordf (bench, "sisas.redundancy.reduction", received ? (double) absorbed
                          / (double) received : 0, "ratio", "sisas.redundancy.expected",
                          "absorbed %" PRIu64 " / received %" PRIu64, absorbed, received);
        ff_bench_recordf (bench, "sisas.redundancy.false_merges", (double) (missing + duplicates
                          + others), "count", NULL, "events missing %zu, delivered twice %zu, "
                          "unknown %zu; FUSED updates %zu", missing, duplicates, others, fused);
    }
    else {
        ff_bench_fail (bench, "redundancy: SISAS did not answer STATS");
        rc = -1;
    }
    if (before)
        farfan__sisas_stats__free_unpacked (before, NULL);
    if (after)
        farfan__sisas_stats__free_unpacked (after, NULL);
    free (order);
    free (table);
    zsock_destroy (&pub);
    s_subscriber_stop (&sub);
    s_sisas_stop (&sisas);
    return rc;
}

//  ---------------------------------------------------------------------
//  4. Storm: 10 x rate_limit from one source, one normal source

static int
s_storm (ff_bench_t *bench)
{
    int timeout = ff_bench_timeout_ms (bench);
    double seconds = 10.0 * ff_bench_scale (bench);
    if (seconds < 0.2)
        seconds = 0.2;
    uint64_t noisy_count = (uint64_t) (10.0 * S_STORM_LIMIT * seconds);
    uint64_t normal_count = (uint64_t) (S_STORM_NORMAL_RATE * seconds);
    char limit [32];
    snprintf (limit, sizeof limit, "%d", S_STORM_LIMIT);
    s_sisas_t sisas;
    if (s_sisas_start (&sisas, "--hwm", "10000", "--rate-limit", limit, NULL) != 0) {
        ff_bench_fail (bench, "storm: SISAS did not start");
        return -1;
    }
    void *ctx = zmq_ctx_new ();
    s_publisher_t publishers [2];
    s_publisher_start (&publishers [0], ctx, sisas.ingest, 0, "noisy", "storm.noise", "N/",
                       S_SIGNAL_SIZE, false);
    s_publisher_start (&publishers [1], ctx, sisas.ingest, 1, "normal", "storm.normal", "M/",
                       S_SIGNAL_SIZE, false);
    s_subscriber_t sub;
    const char *topics [] = { "storm.", "bench.probe", NULL };
    s_subscriber_start (&sub, sisas.publish, topics, timeout);
    int rc = s_join (&sub, publishers, 2, timeout);
    //  Reset the peak (VmHWM) to now: earlier measurements do not count.
    FILE *clear = fopen ("/proc/self/clear_refs", "w");
    if (clear) {
        fputs ("5", clear);
        fclose (clear);
    }
    uint64_t rss_before = s_rss_kb ("VmRSS:");
    Farfan__SisasStats *before = rc == 0 ? s_stats (&sisas) : NULL;
    ff_bench_samples_t *health = ff_bench_samples_new (0);
    uint64_t noisy_seen = 0, normal_seen = 0, normal_gaps = 0, normal_next = 0;
    bool storm_seen = false;
    if (rc == 0) {
        s_publisher_post (&publishers [0], noisy_count, 10.0 * S_STORM_LIMIT, false);
        s_publisher_post (&publishers [1], normal_count, S_STORM_NORMAL_RATE, false);
        //  Every 10 ms: one HEALTH round trip; in between, drain the stream.
        uint64_t end = ff_bench_now_ns () + (uint64_t) (seconds * 1e9) + 500000000ULL;
        uint64_t next_health = 0;
        int slice = 2;
        zmq_setsockopt (sub.sock, ZMQ_RCVTIMEO, &slice, sizeof slice);
        while (ff_bench_now_ns () < end) {
            uint64_t now = ff_bench_now_ns ();
            if (now >= next_health) {
                next_health = now + 10000000ULL;
                uint64_t t0 = ff_bench_now_ns ();
                Farfan__SisasHealth *answer = s_health (&sisas);
                if (!answer) {
                    ff_bench_fail (bench, "storm: HEALTH not answered");
                    rc = -1;
                    break;
                }
                ff_bench_samples_add (health, ff_bench_now_ns () - t0);
                storm_seen |= answer->storm && answer->storm->active;
                farfan__sisas_health__free_unpacked (answer, NULL);
            }
            char topic [64];
            zmq_msg_t body;
            while (s_subscriber_recv (&sub, topic, sizeof topic, &body) >= 0) {
                if (strcmp (topic, "storm.normal") == 0) {
                    ff_signal_t signal;
                    if (ff_signal_decode (&signal, zmq_msg_data (&body), zmq_msg_size (&body),
                                          NULL, 0) == FF_SIGNAL_OK) {
                        if (signal.seq != normal_next)
                            normal_gaps += signal.seq - normal_next;
                        normal_next = signal.seq + 1;
                    }
                    normal_seen++;
                }
                else
                if (strcmp (topic, "storm.noise") == 0)
                    noisy_seen++;
                zmq_msg_close (&body);
                if (ff_bench_now_ns () >= next_health)
                    break;
            }
        }
        for (int i = 0; i < 2; i++)
            s_publisher_wait (&publishers [i]);
        //  What is still in flight.
        int drain = 300;
        zmq_setsockopt (sub.sock, ZMQ_RCVTIMEO, &drain, sizeof drain);
        char topic [64];
        zmq_msg_t body;
        while (s_subscriber_recv (&sub, topic, sizeof topic, &body) >= 0) {
            if (strcmp (topic, "storm.normal") == 0)
                normal_seen++;
            else
            if (strcmp (topic, "storm.noise") == 0)
                noisy_seen++;
            zmq_msg_close (&body);
        }
    }
    uint64_t rss_peak = s_rss_kb ("VmHWM:");
    Farfan__SisasStats *after = rc == 0 ? s_stats (&sisas) : NULL;
    if (before && after) {
        ff_bench_record_latency (bench, "sisas.storm.health", health, FF_BENCH_ZMQ_RTT);
        ff_bench_recordf (bench, "sisas.storm.rss_before", (double) rss_before / 1024.0, "MB",
                          NULL, "whole bench process, before the storm");
        ff_bench_recordf (bench, "sisas.storm.rss_peak", (double) rss_peak / 1024.0, "MB",
                          "sisas.storm.rss_before", "VmHWM of the whole process (SISAS, "
                          "publishers, subscriber)");
        uint64_t shed = after->shed - before->shed;
        ff_bench_recordf (bench, "sisas.storm.normal_lost", (double) (normal_count - normal_seen),
                          "signals", NULL, "normal source: %" PRIu64 " sent, %" PRIu64
                          " delivered, seq gaps %" PRIu64, normal_count, normal_seen, normal_gaps);
        ff_bench_recordf (bench, "sisas.storm.shed", (double) shed, "signals", NULL,
                          "noisy: %" PRIu64 " sent, %" PRIu64 " delivered; unaccounted %" PRId64
                          "; storm seen %s; identity %s", noisy_count, noisy_seen,
                          (int64_t) noisy_count - (int64_t) noisy_seen - (int64_t) shed,
                          storm_seen ? "yes" : "NO", after->identity_holds ? "holds" : "BROKEN");
    }
    else
    if (rc == 0) {
        ff_bench_fail (bench, "storm: SISAS did not answer STATS");
        rc = -1;
    }
    if (before)
        farfan__sisas_stats__free_unpacked (before, NULL);
    if (after)
        farfan__sisas_stats__free_unpacked (after, NULL);
    ff_bench_samples_destroy (&health);
    for (int i = 0; i < 2; i++)
        s_publisher_stop (&publishers [i]);
    s_subscriber_stop (&sub);
    zmq_ctx_term (ctx);
    s_sisas_stop (&sisas);
    return rc;
}

//  ---------------------------------------------------------------------
//  5. Prediction over 10 runs with ±10 % noise

static int
s_predict (ff_bench_t *bench)
{
    s_sisas_t sisas;
    if (s_sisas_start (&sisas, "--hwm", "100000", NULL) != 0) {
        ff_bench_fail (bench, "predict: SISAS did not start");
        return -1;
    }
    size_t nominal = ff_bench_scaled (bench, 1000, 100);
    zsock_t *pub = zsock_new (ZMQ_PUB);
    zsock_set_sndhwm (pub, 0);
    zsock_connect (pub, "%s", sisas.ingest);
    s_subscriber_t sub;
    const char *topics [] = { "phase.", NULL };
    s_subscriber_start (&sub, sisas.publish, topics, ff_bench_timeout_ms (bench));
    uint64_t state = 0x0123456789abcdefULL;
    uint64_t seq = 0;
    int rc = 0;
    //  Join: a phase.failed of a run nobody started changes nothing.
    bool joined = false;
    for (int probe = 0; probe < 2000 && !joined; probe++) {
        ff_signal_t signal;
        ff_signal_init (&signal);
        strcpy (signal.type, "phase.failed");
        strcpy (signal.source, "orchestrator");
        strcpy (signal.subject, "nobody");
        signal.phase = 9;
        snprintf (signal.id, sizeof signal.id, "o:%" PRIu64, seq);
        signal.ts_us = ff_clock_wall_us ();
        signal.seq = seq++;
        uint8_t buffer [256];
        size_t size = ff_signal_encode (&signal, buffer, sizeof buffer);
        s_send_frames (pub, signal.type, buffer, size);
        int wait = 5;
        zmq_setsockopt (sub.sock, ZMQ_RCVTIMEO, &wait, sizeof wait);
        char topic [64];
        zmq_msg_t body;
        if (s_subscriber_recv (&sub, topic, sizeof topic, &body) >= 0) {
            joined = true;
            zmq_msg_close (&body);
        }
    }
    int timeout = ff_bench_timeout_ms (bench);
    zmq_setsockopt (sub.sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    for (int run = 0; run < 10 && joined; run++) {
        //  count = nominal × (1 ± 10 %), uniform.
        double noise = ((double) (s_random (&state) % 20001) / 10000.0 - 1.0) * 0.10;
        size_t count = (size_t) llround ((double) nominal * (1.0 + noise));
        char run_id [16];
        snprintf (run_id, sizeof run_id, "run-%d", run);
        for (size_t i = 0; i < count + 2; i++) {
            ff_signal_t signal;
            ff_signal_init (&signal);
            bool first = i == 0, last = i == count + 1;
            strcpy (signal.type, first ? "phase.started" : last ? "phase.completed"
                                                                 : "contract.result");
            strcpy (signal.source, first || last ? "orchestrator" : "factory");
            if (first || last)
                snprintf (signal.subject, sizeof signal.subject, "%s", run_id);
            else
                snprintf (signal.subject, sizeof signal.subject, "%s/Q%05zu", run_id, i);
            signal.phase = 2;
            snprintf (signal.id, sizeof signal.id, "%s:%" PRIu64, signal.source, seq);
            signal.ts_us = ff_clock_wall_us ();
            signal.seq = seq++;
            uint8_t buffer [256];
            size_t size = ff_signal_encode (&signal, buffer, sizeof buffer);
            s_send_frames (pub, signal.type, buffer, size);
        }
        //  The run is over once its phase.completed is delivered.
        bool completed = false;
        while (!completed) {
            char topic [64];
            zmq_msg_t body;
            if (s_subscriber_recv (&sub, topic, sizeof topic, &body) < 0)
                break;
            completed = strcmp (topic, "phase.completed") == 0;
            zmq_msg_close (&body);
        }
        if (!completed) {
            ff_bench_fail (bench, "predict: run %d did not complete", run);
            rc = -1;
            break;
        }
    }
    if (!joined) {
        ff_bench_fail (bench, "predict: SISAS not reachable");
        rc = -1;
    }
    if (rc == 0) {
        Farfan__SisasPredictRequest request = FARFAN__SISAS_PREDICT_REQUEST__INIT;
        request.phase = "P02";
        Farfan__SisasPhasePrediction *prediction = (Farfan__SisasPhasePrediction *) s_request (
            &sisas, FARFAN__MESSAGE_TYPE__SISAS_PREDICT, &request.base,
            FARFAN__MESSAGE_TYPE__SISAS_PREDICT_REPLY, &farfan__sisas_phase_prediction__descriptor);
        if (prediction) {
            ff_bench_record (bench, "sisas.predict.target", 10.0, "%", NULL,
                             "issue #5: MAPE at most 10 %");
            ff_bench_recordf (bench, "sisas.predict.mape", prediction->mape, "%",
                              "sisas.predict.target", "%" PRIu64 " runs of ~%zu signals (±10 %%), "
                              "%" PRIu64 " predictions scored, last %.0f predicted / %" PRIu64
                              " actual, confidence %.2f", prediction->runs, nominal,
                              prediction->predictions_checked, prediction->last_predicted,
                              prediction->last_actual, prediction->confidence);
            farfan__sisas_phase_prediction__free_unpacked (prediction, NULL);
        }
        else {
            ff_bench_fail (bench, "predict: no PREDICT answer");
            rc = -1;
        }
    }
    zsock_destroy (&pub);
    s_subscriber_stop (&sub);
    s_sisas_stop (&sisas);
    return rc;
}

int
main (int argc, char **argv)
{
    int rc = 0;
    ff_bench_t *bench = ff_bench_start ("sisas", argc, argv, &rc);
    if (!bench)
        return rc;
    ff_log_init ("bench", FF_LOG_ERROR);
    printf ("bench sisas: the signal bus vs raw libzmq, tcp://127.0.0.1, scale %g\n",
            ff_bench_scale (bench));
    fflush (stdout);
    size_t requests = ff_bench_scaled (bench, FF_BENCH_ZMQ_RTT_REQUESTS, 100);
    int failed = 0;
    failed |= ff_bench_zmq_rtt (bench, FF_BENCH_ZMQ_RTT, 1, requests, NULL) != 0;
    //  FF_BENCH_SISAS_ONLY=storm,latency,... runs only those (profiling).
    const char *only = getenv ("FF_BENCH_SISAS_ONLY");
    struct {
        const char *name;
        int (*run) (ff_bench_t *bench);
    } parts [] = {
        { "storm", s_storm }, { "latency", s_latency }, { "redundancy", s_redundancy },
        { "predict", s_predict }, { "throughput", s_throughput },
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts [0]; i++)
        if (!only || strstr (only, parts [i].name))
            failed |= parts [i].run (bench) != 0;
    rc = ff_bench_finish (bench);
    ff_bench_destroy (&bench);
    return rc || failed ? 1 : 0;
}
