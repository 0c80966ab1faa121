/*  test_publisher — the signal publisher against a real SUB on loopback.

    The SUB plays SISAS's ingest socket: bound on an ephemeral port,
    subscribed to everything. Waits are receive timeouts and
    ff_publisher_wait_connected, never sleeps.
*/
#include <arpa/inet.h>
#include <criterion/criterion.h>

#include "ff_test.h"
#include <czmq.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ff_clock.h"
#include "ff_metrics.h"
#include "ff_publisher.h"
#include "ff_signal.h"

#define WAIT_MS 5000

//  A SUB bound like SISAS's ingest on `bind` (e.g. "tcp://127.0.0.1:*");
//  *endpoint receives what a publisher connects to.
static zsock_t *
s_ingest_new (const char *bind, int rcvhwm, char *endpoint, size_t endpoint_size)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    cr_assert (sub);
    zsock_set_rcvhwm (sub, rcvhwm);
    zsock_set_linger (sub, 0);
    zsock_set_subscribe (sub, "");
    if (zsock_bind (sub, "%s", bind) == -1) {
        zsock_destroy (&sub);
        return NULL;
    }
    char *last = zsock_last_endpoint (sub);
    cr_assert (last);
    snprintf (endpoint, endpoint_size, ">%s", last);
    zstr_free (&last);
    return sub;
}

//  A loopback port nobody listens on (bound then closed at once, without
//  libzmq's asynchronous close).
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert_geq (fd, 0);
    struct sockaddr_in address;
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (fd, (struct sockaddr *) &address, sizeof address), 0);
    socklen_t length = sizeof address;
    cr_assert_eq (getsockname (fd, (struct sockaddr *) &address, &length), 0);
    close (fd);
    return ntohs (address.sin_port);
}

static ff_publisher_t *
s_publisher_new (const char *endpoint, int sndhwm, double rate, double burst,
                 ff_metrics_t *metrics)
{
    ff_publisher_options_t options = {
        .endpoint = endpoint,
        .source = "test-source",
        .sndhwm = sndhwm,
        .max_msg_size = 64 * 1024,
        .rate = rate,
        .burst = burst,
    };
    char err [256] = "";
    ff_publisher_t *publisher = ff_publisher_new (&options, metrics, err, sizeof err);
    cr_assert (publisher, "ff_publisher_new: %s", err);
    return publisher;
}

//  Waits until the publisher sees sub's subscription. A bound SUB attaches
//  a new connection (and sends it its subscriptions) only when its owner
//  calls into it, as SISAS's poll loop does: zsock_events plays that part.
static void
s_connect (ff_publisher_t *publisher, zsock_t *sub)
{
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (zclock_mono () < deadline) {
        zsock_events (sub);
        if (ff_publisher_wait_connected (publisher, 10))
            return;
    }
    cr_assert_fail ("the publisher did not see the subscription");
}

static void
s_signal (ff_signal_t *signal, const char *type)
{
    ff_signal_init (signal);
    snprintf (signal->type, sizeof signal->type, "%s", type);
    strcpy (signal->subject, "PA01/DIM01/Q001");
    signal->phase = 2;
    signal->confidence = 0.5;
}

//  Receives one signal within timeout_ms; false on timeout. The fixed
//  fields only: payload and extras are not kept past the message.
static bool
s_receive (zsock_t *sub, ff_signal_t *signal, int timeout_ms)
{
    zsock_set_rcvtimeo (sub, timeout_ms);
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return false;
    cr_assert_eq (zmsg_size (msg), 2);
    zframe_t *topic = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    char detail [200] = "";
    cr_assert_eq (ff_signal_decode_frames (signal, zframe_data (topic), zframe_size (topic),
                                           zframe_data (body), zframe_size (body),
                                           detail, sizeof detail),
                  FF_SIGNAL_OK, "%s", detail);
    signal->payload = NULL;
    signal->payload_size = 0;
    signal->extra = NULL;
    signal->extra_size = 0;
    zmsg_destroy (&msg);
    return true;
}

static uint64_t
s_drops (const ff_publisher_stats_t *stats)
{
    return stats->dropped_no_peer + stats->dropped_hwm + stats->dropped_paced
         + stats->dropped_encode;
}

FF_TEST (publisher, delivers_stamped_signals_in_order)
{
    char endpoint [128];
    zsock_t *sub = s_ingest_new ("tcp://127.0.0.1:*", 1000, endpoint, sizeof endpoint);
    ff_publisher_t *publisher = s_publisher_new (endpoint, 1000, 0, 0, NULL);
    s_connect (publisher, sub);
    cr_expect (ff_publisher_connected (publisher));

    uint64_t before = ff_clock_wall_us ();
    for (int index = 0; index < 20; index++) {
        ff_signal_t signal;
        s_signal (&signal, "contract.result");
        cr_expect_eq (ff_publisher_next_seq (publisher), (uint64_t) index);
        cr_assert_eq (ff_publisher_send (publisher, &signal), 0);
        //  The caller sees the stamped values.
        cr_expect_eq (signal.seq, (uint64_t) index);
        cr_expect_str_eq (signal.source, "test-source");
        char id [64];
        snprintf (id, sizeof id, "test-source:%d", index);
        cr_expect_str_eq (signal.id, id);
        cr_expect_geq (signal.ts_us, before);
    }
    uint64_t after = ff_clock_wall_us ();
    for (int index = 0; index < 20; index++) {
        ff_signal_t received;
        cr_assert (s_receive (sub, &received, WAIT_MS), "signal %d", index);
        cr_expect_eq (received.seq, (uint64_t) index);
        cr_expect_str_eq (received.source, "test-source");
        cr_expect_str_eq (received.type, "contract.result");
        cr_expect_str_eq (received.subject, "PA01/DIM01/Q001");
        cr_expect_eq (received.phase, 2);
        cr_expect_eq (received.confidence, 0.5);
        cr_expect (received.ts_us >= before && received.ts_us <= after);
    }
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (stats.sent, 20);
    cr_expect_eq (s_drops (&stats), 0);
    ff_publisher_destroy (&publisher);
    cr_expect_null (publisher);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
}

FF_TEST (publisher, keeps_the_callers_id_ts_and_payload)
{
    char endpoint [128];
    zsock_t *sub = s_ingest_new ("tcp://127.0.0.1:*", 1000, endpoint, sizeof endpoint);
    ff_publisher_t *publisher = s_publisher_new (endpoint, 1000, 0, 0, NULL);
    s_connect (publisher, sub);
    ff_signal_t signal;
    s_signal (&signal, "run.started");
    strcpy (signal.id, "run-7");
    strcpy (signal.source, "overwritten");
    signal.ts_us = 123;
    static const uint8_t payload [] = { 0x81, 0xa3, 'r', 'u', 'n', 0x07 };
    signal.payload = payload;
    signal.payload_size = sizeof payload;
    cr_assert_eq (ff_publisher_send (publisher, &signal), 0);

    zsock_set_rcvtimeo (sub, WAIT_MS);
    zmsg_t *msg = zmsg_recv (sub);
    cr_assert (msg);
    char *topic = zmsg_popstr (msg);
    zframe_t *body = zmsg_pop (msg);
    cr_expect_str_eq (topic, "run.started");
    ff_signal_t received;
    cr_assert_eq (ff_signal_decode (&received, zframe_data (body), zframe_size (body), NULL, 0),
                  FF_SIGNAL_OK);
    cr_expect_str_eq (received.id, "run-7");
    cr_expect_str_eq (received.source, "test-source");
    cr_expect_eq (received.ts_us, 123);
    cr_assert_eq (received.payload_size, sizeof payload);
    cr_expect (memcmp (received.payload, payload, sizeof payload) == 0);
    zstr_free (&topic);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
}

FF_TEST (publisher, no_peer_drops_until_sisas_subscribes)
{
    //  Nothing listens on the port yet.
    char endpoint [128], bind [128];
    int port = s_free_port ();
    snprintf (endpoint, sizeof endpoint, ">tcp://127.0.0.1:%d", port);
    snprintf (bind, sizeof bind, "tcp://127.0.0.1:%d", port);
    ff_publisher_t *publisher = s_publisher_new (endpoint, 100, 0, 0, NULL);
    cr_expect_not (ff_publisher_connected (publisher));
    cr_expect_not (ff_publisher_wait_connected (publisher, 50));
    for (int index = 0; index < 5; index++) {
        ff_signal_t signal;
        s_signal (&signal, "phase.started");
        cr_expect_eq (ff_publisher_send (publisher, &signal), -1);
        cr_expect_eq (signal.seq, (uint64_t) index);
    }
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (stats.dropped_no_peer, 5);
    cr_expect_eq (stats.sent, 0);
    cr_expect_eq (ff_publisher_next_seq (publisher), 5);

    //  SISAS starts: the drops show as a gap of 5 before the first signal.
    char ignored [128];
    zsock_t *sub = s_ingest_new (bind, 1000, ignored, sizeof ignored);
    cr_assert (sub);
    s_connect (publisher, sub);
    ff_signal_t signal;
    s_signal (&signal, "phase.started");
    cr_assert_eq (ff_publisher_send (publisher, &signal), 0);
    ff_signal_t received;
    cr_assert (s_receive (sub, &received, WAIT_MS));
    cr_expect_eq (received.seq, 5);
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (received.seq - 0, s_drops (&stats));
    cr_expect_eq (stats.sent + s_drops (&stats), 6);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
}

FF_TEST (publisher, paced_drops_and_wait)
{
    char endpoint [128];
    zsock_t *sub = s_ingest_new ("tcp://127.0.0.1:*", 1000, endpoint, sizeof endpoint);
    //  1 signal/s with a burst of 3: a tight loop gets 3 through.
    ff_publisher_t *publisher = s_publisher_new (endpoint, 1000, 1, 3, NULL);
    s_connect (publisher, sub);
    cr_expect_eq (ff_publisher_wait_us (publisher), 0);
    int sent = 0;
    for (int index = 0; index < 10; index++) {
        ff_signal_t signal;
        s_signal (&signal, "contract.result");
        if (ff_publisher_send (publisher, &signal) == 0)
            sent++;
    }
    cr_expect_eq (sent, 3);
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (stats.dropped_paced, 7);
    uint64_t wait = ff_publisher_wait_us (publisher);
    cr_expect (wait > 0 && wait <= 1000000, "wait %llu", (unsigned long long) wait);

    //  Unpaced: everything goes, no wait.
    ff_publisher_set_rate (publisher, 0, 0);
    cr_expect_eq (ff_publisher_wait_us (publisher), 0);
    for (int index = 0; index < 10; index++) {
        ff_signal_t signal;
        s_signal (&signal, "contract.result");
        cr_expect_eq (ff_publisher_send (publisher, &signal), 0);
    }
    //  Paced again, with a new burst.
    ff_publisher_set_rate (publisher, 1, 2);
    for (int index = 0; index < 5; index++) {
        ff_signal_t signal;
        s_signal (&signal, "contract.result");
        cr_expect_eq (ff_publisher_send (publisher, &signal), index < 2 ? 0 : -1);
    }
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (stats.sent, 15);
    cr_expect_eq (stats.dropped_paced, 10);
    cr_expect_eq (stats.sent + s_drops (&stats), 25);

    //  The receiver sees 0 1 2, then 10..19, then 20 21: gaps = drops.
    uint64_t expected = 0, gaps = 0;
    for (int index = 0; index < 15; index++) {
        ff_signal_t received;
        cr_assert (s_receive (sub, &received, WAIT_MS));
        cr_assert_geq (received.seq, expected);
        gaps += received.seq - expected;
        expected = received.seq + 1;
    }
    gaps += ff_publisher_next_seq (publisher) - expected;    // trailing drops
    cr_expect_eq (gaps, stats.dropped_paced);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
}

FF_TEST (publisher, hwm_drops_when_sisas_does_not_read)
{
    char endpoint [128];
    zsock_t *sub = s_ingest_new ("tcp://127.0.0.1:*", 10, endpoint, sizeof endpoint);
    ff_publisher_t *publisher = s_publisher_new (endpoint, 10, 0, 0, NULL);
    s_connect (publisher, sub);

    //  16 KB payloads fill the queues and the kernel's buffers quickly.
    size_t payload_size = 3 + 16 * 1024;
    uint8_t *payload = malloc (payload_size);
    payload [0] = 0xc5;
    payload [1] = (uint8_t) ((payload_size - 3) >> 8);
    payload [2] = (uint8_t) (payload_size - 3);
    memset (payload + 3, 'p', payload_size - 3);

    uint64_t attempts = 0;
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    int64_t deadline = zclock_mono () + 20000;
    while (stats.dropped_hwm < 50 && attempts < 1000000 && zclock_mono () < deadline) {
        ff_signal_t signal;
        s_signal (&signal, "contract.result");
        signal.payload = payload;
        signal.payload_size = payload_size;
        ff_publisher_send (publisher, &signal);
        attempts++;
        ff_publisher_stats (publisher, &stats);
    }
    cr_assert_geq (stats.dropped_hwm, 50, "no hwm drop after %llu attempts",
                   (unsigned long long) attempts);
    cr_expect_eq (stats.sent + s_drops (&stats), attempts);
    cr_expect_eq (stats.dropped_no_peer + stats.dropped_paced + stats.dropped_encode, 0);

    //  Now SISAS reads. A marker, retried until the queue takes it, ends
    //  the stream; every retry that fails is one more counted drop.
    bool marker_sent = false;
    uint64_t expected = 0, gaps = 0, received_count = 0;
    while (true) {
        if (!marker_sent) {
            ff_signal_t marker;
            s_signal (&marker, "marker");
            marker_sent = ff_publisher_send (publisher, &marker) == 0;
            attempts++;
        }
        ff_signal_t received;
        cr_assert (s_receive (sub, &received, WAIT_MS), "stream stalled after %llu",
                   (unsigned long long) received_count);
        received_count++;
        cr_assert_geq (received.seq, expected);
        gaps += received.seq - expected;
        expected = received.seq + 1;
        if (strcmp (received.type, "marker") == 0)
            break;
    }
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (expected, ff_publisher_next_seq (publisher));
    cr_expect_eq (received_count, stats.sent);
    cr_expect_eq (gaps, s_drops (&stats));
    cr_expect_eq (gaps, stats.dropped_hwm);
    cr_expect_eq (stats.sent + s_drops (&stats), attempts);
    free (payload);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
}

FF_TEST (publisher, encode_drops)
{
    char endpoint [128];
    zsock_t *sub = s_ingest_new ("tcp://127.0.0.1:*", 1000, endpoint, sizeof endpoint);
    ff_publisher_options_t options = {
        .endpoint = endpoint, .source = "small", .sndhwm = 100,
        .max_msg_size = 300, .rate = 0, .burst = 0,
    };
    char err [256] = "";
    ff_publisher_t *publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_assert (publisher, "%s", err);
    s_connect (publisher, sub);

    static uint8_t big [400] = { 0xc5, 0x01, 0x80 };    // bin16 of 384 bytes
    ff_signal_t signal;
    s_signal (&signal, "big");
    signal.payload = big;
    signal.payload_size = 3 + 384;
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);

    //  Signals SISAS would reject are not sent either.
    s_signal (&signal, "$sisas.control");
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);
    s_signal (&signal, "");
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);
    s_signal (&signal, "nan");
    signal.confidence = NAN;
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);
    s_signal (&signal, "phase");
    signal.phase = 12;
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);
    static const uint8_t known_in_extra [] = { 0xa2, 'i', 'd', 0xa1, 'x' };
    s_signal (&signal, "extra");
    signal.extra = known_in_extra;
    signal.extra_size = sizeof known_in_extra;
    signal.extra_count = 1;
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);

    s_signal (&signal, "fine");
    cr_expect_eq (ff_publisher_send (publisher, &signal), 0);
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (stats.dropped_encode, 6);
    cr_expect_eq (stats.sent, 1);
    ff_signal_t received;
    cr_assert (s_receive (sub, &received, WAIT_MS));
    cr_expect_str_eq (received.type, "fine");
    cr_expect_eq (received.seq, 6);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
}

FF_TEST (publisher, sisas_going_away_and_coming_back)
{
    char endpoint [128];
    zsock_t *sub = s_ingest_new ("tcp://127.0.0.1:*", 1000, endpoint, sizeof endpoint);
    ff_publisher_t *publisher = s_publisher_new (endpoint, 100, 0, 0, NULL);
    s_connect (publisher, sub);
    ff_signal_t signal;
    s_signal (&signal, "a");
    cr_assert_eq (ff_publisher_send (publisher, &signal), 0);
    ff_signal_t received;
    cr_assert (s_receive (sub, &received, WAIT_MS));
    zsock_destroy (&sub);

    //  The unsubscription arrives once libzmq has seen the connection end.
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (ff_publisher_connected (publisher) && zclock_mono () < deadline)
        ;
    cr_assert_not (ff_publisher_connected (publisher));
    s_signal (&signal, "b");
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    cr_expect_eq (stats.dropped_no_peer, 1);

    //  A new SISAS on the same port: signals flow again, after a gap.
    char bind [128], ignored [128];
    snprintf (bind, sizeof bind, "%s", endpoint + 1);
    deadline = zclock_mono () + WAIT_MS;
    while (!(sub = s_ingest_new (bind, 1000, ignored, sizeof ignored))
           && zclock_mono () < deadline)
        ;
    cr_assert (sub, "cannot bind %s again", bind);
    s_connect (publisher, sub);
    s_signal (&signal, "c");
    cr_assert_eq (ff_publisher_send (publisher, &signal), 0);
    cr_assert (s_receive (sub, &received, WAIT_MS));
    cr_expect_str_eq (received.type, "c");
    cr_expect_eq (received.seq, 2);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
}

FF_TEST (publisher, bad_options)
{
    char err [256];
    ff_publisher_options_t good = {
        .endpoint = ">tcp://127.0.0.1:5570", .source = "src", .sndhwm = 10,
        .max_msg_size = 1024, .rate = 0, .burst = 0,
    };
    ff_publisher_options_t options;
    char long_source [200];
    memset (long_source, 's', sizeof long_source - 1);
    long_source [sizeof long_source - 1] = '\0';

    options = good; options.endpoint = NULL;
    err [0] = '\0';
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    cr_expect_neq (err [0], '\0');
    options = good; options.source = "";
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    options = good; options.source = long_source;
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    options = good; options.source = "bad\xff";
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    cr_expect (strstr (err, "source"), "%s", err);
    options = good; options.sndhwm = 0;
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    options = good; options.max_msg_size = 0;
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    options = good; options.max_msg_size = 20;
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    options = good; options.rate = -1;
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    options = good; options.endpoint = ">nonsense://x";
    cr_expect_null (ff_publisher_new (&options, NULL, err, sizeof err));
    cr_expect (strstr (err, "connect"), "%s", err);

    //  The longest source that still leaves room for "<source>:<seq>" ids.
    memset (long_source, 's', sizeof long_source);
    long_source [FF_SIGNAL_ID_MAX - 21] = '\0';
    options = good; options.source = long_source;
    ff_publisher_t *publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_expect (publisher, "%s", err);
    ff_publisher_destroy (&publisher);
    //  A plain endpoint connects.
    options = good; options.endpoint = "tcp://127.0.0.1:5570";
    publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_expect (publisher, "%s", err);
    ff_publisher_destroy (&publisher);
}

FF_TEST (publisher, metrics)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    cr_assert (metrics);
    char endpoint [128];
    zsock_t *sub = s_ingest_new ("tcp://127.0.0.1:*", 1000, endpoint, sizeof endpoint);
    ff_publisher_t *publisher = s_publisher_new (endpoint, 1000, 1, 1, metrics);
    ff_signal_t signal;
    //  Whether this first one is a no_peer drop depends on timing; wait
    //  first so that the counts are exact.
    s_connect (publisher, sub);
    s_signal (&signal, "m");
    cr_expect_eq (ff_publisher_send (publisher, &signal), 0);
    s_signal (&signal, "m");
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);      // paced
    s_signal (&signal, "");
    ff_publisher_set_rate (publisher, 0, 0);
    cr_expect_eq (ff_publisher_send (publisher, &signal), -1);      // encode

    char *text = ff_metrics_render (metrics);
    cr_assert (text);
    cr_expect (strstr (text, "farfan_signals_published_total 1"), "%s", text);
    cr_expect (strstr (text, "farfan_signals_publish_dropped_total{reason=\"paced\"} 1"), "%s", text);
    cr_expect (strstr (text, "farfan_signals_publish_dropped_total{reason=\"encode\"} 1"), "%s", text);
    cr_expect (strstr (text, "farfan_signals_publish_dropped_total{reason=\"no_peer\"} 0"), "%s", text);
    cr_expect (strstr (text, "farfan_signals_publish_dropped_total{reason=\"hwm\"} 0"), "%s", text);
    free (text);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&sub);
    ff_metrics_destroy (&metrics);
}
