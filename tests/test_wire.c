/*  test_wire — hostile traffic on every bound socket of every service.

    A factory, an orchestrator and SISAS run in-process on ephemeral
    loopback ports with a small max_msg_size. Each bound socket gets a
    deterministic stream (fixed seed) of random and mutated multipart
    messages: valid envelopes with corrupted bodies, bit-flipped envelopes,
    wrong frame counts, empty frames, random frames; and messages larger
    than max_msg_size, which libzmq answers by dropping the connection
    (counted in farfan_peer_disconnects_total of that socket).

    Then, for each service: it still answers PING; every message that
    reached a request socket is counted (farfan_requests_total), every one
    that cannot be a request (wrong frame count, no envelope) is counted
    as rejected (an error reply MALFORMED / UNSUPPORTED, or an unsolicited
    reply ignored), and every error reply was either received or counted
    as dropped; on SISAS's ingest socket every message is counted received
    and the invalid ones rejected; the delivery socket's subscription
    gauge is not moved by messages that are not subscriptions. Under ASan,
    FF_TEST fails the test if anything leaked. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.pb-c.h"
#include "ff_msg.h"
#include "ff_test.h"

//  Messages per socket, and the max_msg_size the services get.
#define S_MESSAGES      2000
#define S_MAX_MSG       65536
//  Messages sent between two drains of the replies (below every HWM).
#define S_BATCH         200

//  xorshift64*: the same stream on every run.
static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint64_t
s_random (void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ull;
}

static size_t
s_below (size_t bound)
{
    return bound ? (size_t) (s_random () % bound) : 0;
}

static void
s_fill (uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        data [i] = (uint8_t) s_random ();
}

//  A random value of farfan.MessageType, or now and then any number.
static uint32_t
s_any_type (void)
{
    const ProtobufCEnumDescriptor *types = &farfan__message_type__descriptor;
    if (s_below (10) == 0)
        return (uint32_t) s_random ();
    return (uint32_t) types->values [s_below (types->n_values)].value;
}

static size_t
s_envelope (uint8_t *out, uint32_t type)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = FF_PROTOCOL_VERSION;
    envelope.type = (Farfan__MessageType) type;
    envelope.correlation_id = "wire";
    envelope.sender_id = "test_wire";
    return farfan__envelope__pack (&envelope, out);
}

//  One hostile message for a request socket (sent on a DEALER, so the
//  service sees [routing id] + these frames). Returns true when it can
//  never be a request: the service must reject it.
static bool
s_hostile (zmsg_t *msg)
{
    uint8_t envelope [256], body [512];
    size_t envelope_size = s_envelope (envelope, s_any_type ());
    size_t body_size = s_below (sizeof body);
    s_fill (body, body_size);
    switch (s_below (7)) {
        case 0:                 //  a valid envelope, a corrupted body
            zmsg_addmem (msg, envelope, envelope_size);
            zmsg_addmem (msg, body, body_size);
            return false;
        case 1:                 //  a bit-flipped envelope
            envelope [s_below (envelope_size)] ^= (uint8_t) (1u << s_below (8));
            zmsg_addmem (msg, envelope, envelope_size);
            zmsg_addmem (msg, body, body_size);
            return false;
        case 2: {               //  too many frames: envelope, body, then more
            zmsg_addmem (msg, envelope, envelope_size);
            size_t extra = 2 + s_below (4);
            for (size_t i = 0; i < extra; i++)
                zmsg_addmem (msg, body, s_below (body_size + 1));
            return true;
        }
        case 3: {               //  empty frames only (a delimiter, then nothing)
            size_t count = 1 + s_below (3);
            for (size_t i = 0; i < count; i++)
                zmsg_addmem (msg, NULL, 0);
            return true;
        }
        case 4:                 //  delimiter, empty envelope, body
            zmsg_addmem (msg, NULL, 0);
            zmsg_addmem (msg, NULL, 0);
            zmsg_addmem (msg, body, body_size);
            return true;
        case 5:                 //  one random frame (as the envelope)
            zmsg_addmem (msg, body, body_size ? body_size : 1);
            return false;
        default:                //  delimiter, a valid envelope, a corrupted body
            zmsg_addmem (msg, NULL, 0);
            zmsg_addmem (msg, envelope, envelope_size);
            zmsg_addmem (msg, body, body_size);
            return false;
    }
}

//  Sends a PING on dealer and reads everything until its PONG; counts the
//  ERROR replies that came before it.
static void
s_drain (zsock_t *dealer, size_t *errors)
{
    static unsigned sequence;
    char correlation [32];
    snprintf (correlation, sizeof correlation, "drain-%u", ++sequence);
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__PING, .correlation_id = correlation };
    Farfan__Ping ping = FARFAN__PING__INIT;
    cr_assert_eq (ff_msg_send (dealer, NULL, false, &header, &ping.base), 0);
    ff_msg_t *reply = ff_msg_new ();
    while (true) {
        int rc = ff_msg_recv (reply, dealer);
        cr_assert_neq (rc, -1, "no PONG within %d ms: the service stopped answering",
                       FF_TEST_TIMEOUT_MS);
        if (rc != 0)
            continue;
        if (ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__PONG
        &&  !strcmp (ff_msg_correlation_id (reply), correlation))
            break;
        if (ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__ERROR)
            (*errors)++;
    }
    ff_msg_destroy (&reply);
}

//  Whether the label set at [start, end) contains label (NULL: yes).
static bool
s_has_label (const char *start, const char *end, const char *label)
{
    return !label || memmem (start, (size_t) (end - start), label, strlen (label)) != NULL;
}

//  Sum of every sample of metric `name` whose label set contains `label`
//  and `label2` (e.g. socket="direct"; NULL = any).
static double
s_metric_sum (const char *page, const char *name, const char *label, const char *label2)
{
    double sum = 0;
    size_t length = strlen (name);
    for (const char *line = page; line && *line; ) {
        const char *end = strchr (line, '\n');
        if (strncmp (line, name, length) == 0 && line [length] == '{') {
            const char *value = strchr (line, '}');
            bool match = value && s_has_label (line, value, label)
                      && s_has_label (line, value, label2);
            if (match && value && value [1] == ' ')
                sum += strtod (value + 2, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    return sum;
}

static char *
s_metrics (ff_test_service_t *service)
{
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (service), "/metrics", &status);
    cr_assert_not_null (page);
    cr_assert_eq (status, 200);
    return page;
}

//  A message larger than max_msg_size on a connection of its own, from a
//  socket of `type` (DEALER, or XPUB for a SUB: it waits for the
//  subscription first, or the message would never leave): libzmq drops
//  that connection, which the sender's monitor sees.
static void
s_oversized (const char *endpoint, int type)
{
    zsock_t *dealer = zsock_new (type);
    zsock_set_sndtimeo (dealer, FF_TEST_TIMEOUT_MS);
    zsock_set_rcvtimeo (dealer, FF_TEST_TIMEOUT_MS);
    zsock_set_linger (dealer, 0);
    zactor_t *monitor = zactor_new (zmonitor, dealer);
    zstr_sendx (monitor, "LISTEN", "DISCONNECTED", NULL);
    zstr_send (monitor, "START");
    zsock_wait (monitor);
    zsock_set_rcvtimeo (monitor, FF_TEST_TIMEOUT_MS);
    cr_assert_eq (zsock_connect (dealer, "%s", endpoint), 0);
    if (type == ZMQ_XPUB) {
        zframe_t *subscription = zframe_recv (dealer);
        cr_assert_not_null (subscription, "%s did not subscribe", endpoint);
        zframe_destroy (&subscription);
    }
    size_t size = S_MAX_MSG + 1 + s_below (S_MAX_MSG);
    uint8_t *big = (uint8_t *) malloc (size);
    s_fill (big, size);
    zmsg_t *msg = zmsg_new ();
    uint8_t envelope [256];
    size_t envelope_size = s_envelope (envelope, FARFAN__MESSAGE_TYPE__PING);
    zmsg_addmem (msg, envelope, envelope_size);
    zmsg_addmem (msg, big, size);
    cr_assert_eq (zmsg_send (&msg, dealer), 0);
    free (big);
    char *event = zstr_recv (monitor);
    cr_assert (event && streq (event, "DISCONNECTED"),
               "a message of %zu bytes (max_msg_size %d) did not cost its connection", size,
               S_MAX_MSG);
    zstr_free (&event);
    zmsg_t *rest = zmsg_recv (monitor);         //  the event's value and endpoint
    zmsg_destroy (&rest);
    zactor_destroy (&monitor);
    zsock_destroy (&dealer);
}

//  farfan_peer_disconnects_total on one socket of the service (label
//  socket="..."), read until it is at least `at_least` (bounded: the
//  service's socket monitor counts on a thread of its own, so the count
//  may trail the drop by a scheduling delay). Returns the last reading.
static double
s_disconnects (ff_test_service_t *service, const char *label, double at_least)
{
    double disconnects = 0;
    for (int attempt = 0; attempt < 1000; attempt++) {
        char *page = s_metrics (service);
        disconnects = s_metric_sum (page, "farfan_peer_disconnects_total", label, NULL);
        free (page);
        if (disconnects >= at_least)
            break;
    }
    return disconnects;
}

//  The whole stream on one request socket, then its accounting.
static void
s_attack_request_socket (ff_test_service_t *service, const char *socket_name)
{
    const char *endpoint = ff_test_service_endpoint (service, socket_name);
    char label [64];
    snprintf (label, sizeof label, "socket=\"%s\"", socket_name);
    char *before = s_metrics (service);
    double requests_before = s_metric_sum (before, "farfan_requests_total", label, NULL);
    double disconnects_before = s_metric_sum (before, "farfan_peer_disconnects_total", label, NULL);
    free (before);

    s_oversized (endpoint, ZMQ_DEALER);
    zsock_t *dealer = ff_test_dealer (endpoint);
    zsock_set_sndtimeo (dealer, FF_TEST_TIMEOUT_MS);
    size_t must_reject = 0, pings = 0, errors_received = 0;
    for (size_t i = 0; i < S_MESSAGES; i++) {
        zmsg_t *msg = zmsg_new ();
        must_reject += s_hostile (msg);
        cr_assert_eq (zmsg_send (&msg, dealer), 0);
        if ((i + 1) % S_BATCH == 0) {
            s_drain (dealer, &errors_received);
            pings++;
        }
    }
    s_oversized (endpoint, ZMQ_DEALER);
    s_drain (dealer, &errors_received);
    pings++;
    ff_test_assert_pings (dealer);
    pings++;

    char *page = s_metrics (service);
    //  Every message that reached the socket counted, by type.
    double requests = s_metric_sum (page, "farfan_requests_total", label, NULL) - requests_before;
    cr_assert_eq (requests, (double) (S_MESSAGES + pings), "%s: %.0f requests counted, %zu sent",
                  socket_name, requests, (size_t) S_MESSAGES + pings);
    //  Every message that cannot be a request rejected, and counted so.
    double malformed = s_metric_sum (page, "farfan_request_errors_total", label,
                                    "code=\"MALFORMED\"");
    double unsupported = s_metric_sum (page, "farfan_request_errors_total", label,
                                       "code=\"UNSUPPORTED\"");
    double ignored = s_metric_sum (page, "farfan_requests_ignored_total", label, NULL);
    double rejected = malformed + unsupported + ignored;
    cr_assert_gt (malformed, 0, "%s: no MALFORMED counted", socket_name);
    cr_assert_geq (rejected, (double) must_reject, "%s: %.0f rejections counted, %zu malformed sent",
                   socket_name, rejected, must_reject);
    //  Every error reply sent was received here or counted as dropped.
    double errors = s_metric_sum (page, "farfan_request_errors_total", label, NULL);
    double dropped = s_metric_sum (page, "farfan_replies_dropped_total", label, NULL);
    cr_assert_leq ((double) errors_received, errors, "%s: %zu ERROR replies received, %.0f counted",
                   socket_name, errors_received, errors);
    cr_assert_geq ((double) errors_received + dropped, errors,
                   "%s: %.0f errors counted, %zu received, %.0f dropped", socket_name, errors,
                   errors_received, dropped);
    free (page);
    //  Both oversized messages cost their connections, and were counted.
    double disconnects = s_disconnects (service, label, disconnects_before + 2) - disconnects_before;
    cr_assert_geq (disconnects, 2, "%s: %.0f lost connections counted after 2 oversized messages",
                   socket_name, disconnects);
    zsock_destroy (&dealer);
}

FF_TEST_OPTS (wire, hostile_frames_on_every_socket, .timeout = 120)
{
    char max [32];
    snprintf (max, sizeof max, "%d", S_MAX_MSG);
    ff_test_service_t *factory = ff_test_service_start ("factory", "--max-msg-size", max, NULL);
    ff_test_service_t *orchestrator = ff_test_service_start ("orchestrator", "--max-msg-size", max,
                                                             NULL);
    ff_test_service_t *sisas = ff_test_service_start ("sisas", "--max-msg-size", max, NULL);

    s_attack_request_socket (factory, "direct");
    s_attack_request_socket (orchestrator, "client");
    s_attack_request_socket (orchestrator, "worker");
    s_attack_request_socket (sisas, "control");

    //  SISAS ingest (SUB): an XPUB sees SISAS's subscription, so nothing
    //  is sent before the connection is up.
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    zsock_set_rcvtimeo (xpub, FF_TEST_TIMEOUT_MS);
    zsock_set_sndtimeo (xpub, FF_TEST_TIMEOUT_MS);
    zsock_set_sndhwm (xpub, 0);
    cr_assert_eq (zsock_connect (xpub, "%s", ff_test_service_endpoint (sisas, "ingest")), 0);
    zframe_t *subscription = zframe_recv (xpub);
    cr_assert_not_null (subscription, "SISAS's ingest did not subscribe");
    zframe_destroy (&subscription);
    char *page = s_metrics (sisas);
    double received_before = ff_test_metric (page, "farfan_signals_received_total");
    double rejected_before = s_metric_sum (page, "farfan_signals_rejected_total", NULL, NULL);
    free (page);
    size_t invalid = 0;
    for (size_t i = 0; i < S_MESSAGES; i++) {
        zmsg_t *msg = zmsg_new ();
        uint8_t data [256];
        size_t size = 1 + s_below (sizeof data - 1);
        s_fill (data, size);
        switch (s_below (4)) {
            case 0:             //  one frame
                zmsg_addmem (msg, "t", 1);
                invalid++;
                break;
            case 1:             //  three frames
                zmsg_addmem (msg, "t", 1);
                zmsg_addmem (msg, data, size);
                zmsg_addmem (msg, data, size);
                invalid++;
                break;
            case 2:             //  not msgpack: the never-used byte first
                data [0] = 0xc1;
                zmsg_addmem (msg, "t", 1);
                zmsg_addmem (msg, data, size);
                invalid++;
                break;
            default:            //  random bytes (a random map now and then)
                if (s_below (2))
                    data [0] = (uint8_t) (0x80 | s_below (16));
                zmsg_addmem (msg, "t", 1);
                zmsg_addmem (msg, data, size);
                break;
        }
        cr_assert_eq (zmsg_send (&msg, xpub), 0);
    }
    //  SISAS's control socket answers after it has read everything sent
    //  before (one loop, ingest drained in bursts): poll its counter.
    zsock_t *control = ff_test_dealer (ff_test_service_endpoint (sisas, "control"));
    double received = 0;
    for (int attempt = 0; attempt < 1000 && received < S_MESSAGES; attempt++) {
        ff_test_assert_pings (control);
        page = s_metrics (sisas);
        received = ff_test_metric (page, "farfan_signals_received_total") - received_before;
        free (page);
    }
    cr_assert_eq (received, (double) S_MESSAGES, "ingest: %.0f counted received, %d sent",
                  received, S_MESSAGES);
    page = s_metrics (sisas);
    double rejected = s_metric_sum (page, "farfan_signals_rejected_total", NULL, NULL)
                    - rejected_before;
    cr_assert_geq (rejected, (double) invalid, "ingest: %.0f rejected, %zu invalid sent", rejected,
                   invalid);
    double disconnects_before = s_metric_sum (page, "farfan_peer_disconnects_total",
                                              "socket=\"ingest\"", NULL);
    free (page);
    zsock_destroy (&xpub);
    //  An oversized signal costs its publisher the connection, counted.
    s_oversized (ff_test_service_endpoint (sisas, "ingest"), ZMQ_XPUB);
    double disconnects = s_disconnects (sisas, "socket=\"ingest\"", disconnects_before + 1)
                       - disconnects_before;
    cr_assert_geq (disconnects, 1, "ingest: %.0f lost connections counted after an oversized "
                   "signal", disconnects);

    //  SISAS delivery (XPUB): an XSUB peer's messages that are not
    //  subscriptions (first byte neither 0 nor 1), multipart ones
    //  included, leave the gauge alone.
    zsock_t *xsub = zsock_new (ZMQ_XSUB);
    zsock_set_sndtimeo (xsub, FF_TEST_TIMEOUT_MS);
    cr_assert_eq (zsock_connect (xsub, "%s", ff_test_service_endpoint (sisas, "publish")), 0);
    cr_assert_eq (zsock_send (xsub, "b", "\x01wire", (size_t) 5), 0);
    for (size_t i = 0; i < S_MESSAGES / 4; i++) {
        uint8_t data [64];
        size_t size = 1 + s_below (sizeof data - 1);
        s_fill (data, size);
        data [0] = (uint8_t) (2 + s_below (250));
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, data, size);
        if (s_below (2))
            zmsg_addmem (msg, data, size);      //  multipart
        cr_assert_eq (zmsg_send (&msg, xsub), 0);
    }
    //  One subscription: the gauge reaches 1 once SISAS has read it all
    //  (its subscription arrives in order with the rest).
    double topics = NAN;
    cr_assert_eq (zsock_send (xsub, "b", "\x01zz-last", (size_t) 8), 0);
    for (int attempt = 0; attempt < 1000; attempt++) {
        ff_test_assert_pings (control);
        page = s_metrics (sisas);
        topics = ff_test_metric (page, "farfan_sisas_subscribed_topics");
        free (page);
        if (topics >= 2)
            break;
    }
    cr_assert_eq (topics, 2, "subscribed topics: %.0f, 2 subscribed", topics);
    zsock_destroy (&xsub);
    zsock_destroy (&control);

    //  Every service still answers on every request socket.
    const char *sockets [][2] = { { "direct", NULL }, { "client", "worker" }, { "control", NULL } };
    ff_test_service_t *services [] = { factory, orchestrator, sisas };
    for (size_t s = 0; s < 3; s++)
        for (size_t k = 0; k < 2 && sockets [s][k]; k++) {
            zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (services [s],
                                                                        sockets [s][k]));
            ff_test_assert_pings (dealer);
            zsock_destroy (&dealer);
        }
    ff_test_service_stop (&sisas);
    ff_test_service_stop (&orchestrator);
    ff_test_service_stop (&factory);
}
