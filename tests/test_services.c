/*  The three services in-process on ephemeral loopback ports: every
    request socket answers PING, refuses what it cannot handle with the
    right error, survives garbage, and serves /metrics and /healthz. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fac_server.h"
#include "ff_config.h"
#include "ff_signal.h"
#include "sis_server.h"
#include "farfan_build.h"
#include "ff_test.h"

static const char *s_services [] = { "factory", "orchestrator", "sisas" };
#define S_SERVICE_COUNT (sizeof s_services / sizeof s_services [0])

//  Every (service, request socket) pair.
static const struct { const char *service; const char *socket; } s_request_sockets [] = {
    { "factory", "direct" },
    { "orchestrator", "client" },
    { "orchestrator", "worker" },
    { "sisas", "control" },
};
#define S_REQUEST_SOCKET_COUNT (sizeof s_request_sockets / sizeof s_request_sockets [0])

FF_TEST (services, every_request_socket_answers_ping)
{
    for (size_t i = 0; i < S_REQUEST_SOCKET_COUNT; i++) {
        ff_test_service_t *service = ff_test_service_start (s_request_sockets [i].service, NULL);
        zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (service, s_request_sockets [i].socket));
        Farfan__Ping ping = FARFAN__PING__INIT;
        ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__PING, &ping.base);
        cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PONG);
        cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__OK);
        Farfan__Pong *pong = farfan__pong__unpack (NULL, ff_msg_body_size (reply),
                                                   ff_msg_body_data (reply));
        cr_assert_not_null (pong);
        cr_assert_str_eq (pong->service, s_request_sockets [i].service);
        cr_assert_str_eq (pong->version, FARFAN_VERSION);
        cr_assert_gt (strlen (pong->instance_id), 0);
        cr_assert_str_eq (ff_msg_sender_id (reply), pong->instance_id);
        cr_assert_eq (pong->protocol_version, FF_PROTOCOL_VERSION);
        farfan__pong__free_unpacked (pong, NULL);
        ff_msg_destroy (&reply);
        zsock_destroy (&dealer);
        ff_test_service_stop (&service);
    }
}

//  A signal caught somewhere in the process (a host program's handler,
//  libFuzzer's timer, a debugger) interrupts a service thread's poll with
//  EINTR: the service must go on serving, not end its loop. SIGUSR1 goes
//  to every other thread of the process (libzmq's own threads block it).
static volatile sig_atomic_t s_signals_caught;

static void
s_signal_other_threads (int signal_number)
{
    DIR *tasks = opendir ("/proc/self/task");
    cr_assert_not_null (tasks);
    pid_t self = (pid_t) syscall (SYS_gettid);
    struct dirent *entry;
    while ((entry = readdir (tasks))) {
        pid_t tid = (pid_t) atoi (entry->d_name);
        if (tid > 0 && tid != self)
            syscall (SYS_tgkill, getpid (), tid, signal_number);
    }
    closedir (tasks);
}

static void
s_count_signal (int signal_number)
{
    (void) signal_number;
    s_signals_caught++;
}

FF_TEST (services, a_caught_signal_does_not_stop_a_service)
{
    //  Installed for the rest of this test's process (Criterion runs each
    //  test in a process of its own): a signal still pending in some
    //  thread must never meet the default action, which ends the process.
    struct sigaction action = { 0 };
    action.sa_handler = s_count_signal;
    sigemptyset (&action.sa_mask);
    action.sa_flags = 0;            //  no SA_RESTART: poll fails with EINTR
    cr_assert_eq (sigaction (SIGUSR1, &action, NULL), 0);
    for (size_t i = 0; i < S_REQUEST_SOCKET_COUNT; i++) {
        ff_test_service_t *service = ff_test_service_start (s_request_sockets [i].service, NULL);
        zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (service, s_request_sockets [i].socket));
        ff_test_assert_pings (dealer);
        s_signals_caught = 0;
        for (int round = 0; round < 20; round++) {
            s_signal_other_threads (SIGUSR1);
            ff_test_assert_pings (dealer);
        }
        cr_assert_gt (s_signals_caught, 0, "%s: no thread took the signal",
                      s_request_sockets [i].service);
        zsock_destroy (&dealer);
        ff_test_service_stop (&service);
    }
}

FF_TEST (services, instance_id_from_settings_is_used)
{
    ff_test_service_t *service = ff_test_service_start ("factory", "--instance-id", "factory-7", NULL);
    zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (service, "direct"));
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__PING, NULL);
    cr_assert_str_eq (ff_msg_sender_id (reply), "factory-7");
    ff_msg_destroy (&reply);
    zsock_destroy (&dealer);
    ff_test_service_stop (&service);
}

FF_TEST (services, req_peers_get_their_delimiter_back)
{
    ff_test_service_t *service = ff_test_service_start ("orchestrator", NULL);
    zsock_t *req = zsock_new (ZMQ_REQ);
    zsock_set_rcvtimeo (req, FF_TEST_TIMEOUT_MS);
    zsock_set_linger (req, 0);
    cr_assert_eq (zsock_connect (req, "%s", ff_test_service_endpoint (service, "client")), 0);
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__PING, .correlation_id = "req-1" };
    //  A REQ socket adds the delimiter itself.
    cr_assert_eq (ff_msg_send (req, NULL, false, &header, NULL), 0);
    ff_msg_t *reply = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (reply, req), 0, "%s", ff_msg_error (reply));
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PONG);
    cr_assert_str_eq (ff_msg_correlation_id (reply), "req-1");
    ff_msg_destroy (&reply);
    zsock_destroy (&req);
    ff_test_service_stop (&service);
}

//  Sends raw frames and expects one ERROR reply with code; returns nothing.
static void
s_expect_error (zsock_t *dealer, zmsg_t *frames, uint32_t code, const char *why)
{
    cr_assert_eq (zmsg_send (&frames, dealer), 0);
    ff_msg_t *reply = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (reply, dealer), 0, "no reply: %s", ff_msg_error (reply));
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_eq (ff_msg_status_code (reply), code, "got %s: %s",
                  ff_msg_code_name (ff_msg_status_code (reply)), ff_msg_status_message (reply));
    cr_assert (strstr (ff_msg_status_message (reply), why), "\"%s\" lacks \"%s\"",
               ff_msg_status_message (reply), why);
    ff_msg_destroy (&reply);
}

static zmsg_t *
s_envelope_frames (uint32_t version, uint32_t type, const char *correlation_id)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = version;
    envelope.type = (Farfan__MessageType) type;
    envelope.correlation_id = (char *) correlation_id;
    uint8_t buffer [256];
    size_t size = farfan__envelope__pack (&envelope, buffer);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, buffer, size);
    return msg;
}

FF_TEST (services, malformed_requests_get_error_replies_and_service_keeps_answering)
{
    for (size_t i = 0; i < S_REQUEST_SOCKET_COUNT; i++) {
        ff_test_service_t *service = ff_test_service_start (s_request_sockets [i].service, NULL);
        zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (service, s_request_sockets [i].socket));

        zmsg_t *garbage = zmsg_new ();
        zmsg_addmem (garbage, "\xff\xfe\xfd garbage", 12);
        s_expect_error (dealer, garbage, FARFAN__ERROR_CODE__MALFORMED, "not a valid protobuf");

        zmsg_t *empty = zmsg_new ();
        zmsg_addmem (empty, "", 0);
        s_expect_error (dealer, empty, FARFAN__ERROR_CODE__MALFORMED, "no envelope");

        zmsg_t *truncated = s_envelope_frames (FF_PROTOCOL_VERSION, FARFAN__MESSAGE_TYPE__PING, "c1");
        zframe_t *whole = zmsg_pop (truncated);
        zmsg_addmem (truncated, zframe_data (whole), zframe_size (whole) - 1);
        zframe_destroy (&whole);
        s_expect_error (dealer, truncated, FARFAN__ERROR_CODE__MALFORMED, "");

        s_expect_error (dealer, s_envelope_frames (9, FARFAN__MESSAGE_TYPE__PING, "c2"),
                        FARFAN__ERROR_CODE__UNSUPPORTED, "version 9");
        s_expect_error (dealer, s_envelope_frames (FF_PROTOCOL_VERSION, 4242, "c3"),
                        FARFAN__ERROR_CODE__UNSUPPORTED, "4242");
        s_expect_error (dealer, s_envelope_frames (FF_PROTOCOL_VERSION, FARFAN__MESSAGE_TYPE__PONG, "c4"),
                        FARFAN__ERROR_CODE__UNSUPPORTED, "PONG");

        zmsg_t *bad_body = s_envelope_frames (FF_PROTOCOL_VERSION, FARFAN__MESSAGE_TYPE__PING, "c5");
        zmsg_addmem (bad_body, "\x08", 1);      //  a varint tag with no value
        s_expect_error (dealer, bad_body, FARFAN__ERROR_CODE__MALFORMED, "Ping");

        zmsg_t *three = s_envelope_frames (FF_PROTOCOL_VERSION, FARFAN__MESSAGE_TYPE__PING, "c6");
        zmsg_addmem (three, "", 0);
        zmsg_addmem (three, "", 0);
        s_expect_error (dealer, three, FARFAN__ERROR_CODE__MALFORMED, "3 frames");

        ff_test_assert_pings (dealer);
        zsock_destroy (&dealer);
        ff_test_service_stop (&service);
    }
}

FF_TEST (services, error_replies_are_never_answered)
{
    ff_test_service_t *service = ff_test_service_start ("factory", NULL);
    zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (service, "direct"));
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__ERROR, .correlation_id = "e1",
                               .status_code = FARFAN__ERROR_CODE__INTERNAL, .status_message = "x" };
    cr_assert_eq (ff_msg_send (dealer, NULL, false, &header, NULL), 0);
    //  The next reply on this socket is the PONG, not an answer to the ERROR.
    ff_test_assert_pings (dealer);
    int port = ff_test_service_http_port (service);
    int status = 0;
    char *page = ff_test_http_get (port, "/metrics", &status);
    cr_assert_eq (status, 200);
    cr_assert_eq (ff_test_metric (page, "farfan_requests_ignored_total{socket=\"direct\"}"), 1);
    free (page);
    zsock_destroy (&dealer);
    ff_test_service_stop (&service);
}

//  Deterministic random frames: 10,000 messages of 1..4 frames, some with a
//  valid envelope and a corrupted body, some pure noise.
static void
s_send_random_frames (zsock_t *dealer, unsigned count)
{
    uint32_t state = 2026;
    for (unsigned n = 0; n < count; n++) {
        zmsg_t *msg;
        if (n % 3 == 0)
            msg = s_envelope_frames (FF_PROTOCOL_VERSION, n % 7, "fuzz");
        else
            msg = zmsg_new ();
        size_t frames = 1 + (state = state * 1103515245u + 12345u) % 4;
        for (size_t f = 0; f < frames; f++) {
            uint8_t data [48];
            size_t size = (state = state * 1103515245u + 12345u) % sizeof data;
            for (size_t b = 0; b < size; b++)
                data [b] = (uint8_t) ((state = state * 1103515245u + 12345u) >> 16);
            zmsg_addmem (msg, data, size);
        }
        cr_assert_eq (zmsg_send (&msg, dealer), 0);
    }
}

FF_TEST (services, ten_thousand_random_frames_leave_every_service_answering)
{
    for (size_t i = 0; i < S_REQUEST_SOCKET_COUNT; i++) {
        ff_test_service_t *service = ff_test_service_start (s_request_sockets [i].service, NULL);
        const char *endpoint = ff_test_service_endpoint (service, s_request_sockets [i].socket);
        zsock_t *noise = ff_test_dealer (endpoint);
        //  Replies to the noise are not read: the socket's bounded queues
        //  and ROUTER_MANDATORY make the service drop (and count) them.
        zsock_set_rcvhwm (noise, 100);
        s_send_random_frames (noise, 10000);
        zsock_t *dealer = ff_test_dealer (endpoint);
        ff_test_assert_pings (dealer);
        zsock_destroy (&dealer);
        zsock_destroy (&noise);
        ff_test_service_stop (&service);
    }
}

FF_TEST (services, metrics_and_healthz_over_http)
{
    for (size_t i = 0; i < S_SERVICE_COUNT; i++) {
        ff_test_service_t *service = ff_test_service_start (s_services [i], NULL);
        const char *socket = ff_test_service_request_socket (s_services [i]);
        zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (service, socket));
        ff_test_assert_pings (dealer);
        ff_test_assert_pings (dealer);
        int port = ff_test_service_http_port (service);
        cr_assert_gt (port, 0);

        int status = 0;
        char *page = ff_test_http_get (port, "/metrics", &status);
        cr_assert_not_null (page);
        cr_assert_eq (status, 200);
        char series [256];
        snprintf (series, sizeof series, "farfan_requests_total{socket=\"%s\",type=\"PING\"}", socket);
        cr_assert_eq (ff_test_metric (page, series), 2, "%s in:\n%s", series, page);
        snprintf (series, sizeof series, "farfan_build_info{service=\"%s\",version=\"%s\"}",
                  s_services [i], FARFAN_VERSION);
        cr_assert_eq (ff_test_metric (page, series), 1);
        cr_assert_eq (ff_test_metric (page, "farfan_health_state"), 1);
        cr_assert (ff_test_metric (page, "farfan_uptime_seconds") >= 0);
        free (page);

        char *health = ff_test_http_get (port, "/healthz", &status);
        cr_assert_eq (status, 200);
        free (health);
        zsock_destroy (&dealer);
        ff_test_service_stop (&service);
    }
}

FF_TEST (services, http_port_taken_is_reported_at_start)
{
    ff_test_service_t *first = ff_test_service_start ("sisas", NULL);
    char port [16];
    snprintf (port, sizeof port, "%d", ff_test_service_http_port (first));
    sis_config_t config;
    memset (&config, 0, sizeof config);
    char *argv [] = { "sisas", "--ingest-endpoint", "@tcp://127.0.0.1:*",
                      "--publish-endpoint", "@tcp://127.0.0.1:*",
                      "--control-endpoint", "@tcp://127.0.0.1:*",
                      "--http-address", "127.0.0.1", "--http-port", port };
    char err [512] = "";
    cr_assert_eq (ff_config_load (&sis_config_schema, &config, 11, argv, stdout, err, sizeof err),
                  FF_CONFIG_LOADED, "%s", err);
    sis_server_t *second = sis_server_new (&config, err, sizeof err);
    cr_assert_null (second);
    cr_assert (strstr (err, port), "error names the port: %s", err);
    ff_config_free (&sis_config_schema, &config);
    ff_test_service_stop (&first);
}

FF_TEST (services, endpoint_taken_is_reported_at_start)
{
    ff_test_service_t *first = ff_test_service_start ("factory", NULL);
    const char *taken = ff_test_service_endpoint (first, "direct");
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "@%s", taken);
    fac_config_t config;
    memset (&config, 0, sizeof config);
    char *argv [] = { "factory", "--endpoint", endpoint, "--orchestrator-endpoint", "",
                      "--sisas-endpoint", "", "--http-port", "0" };
    char err [512] = "";
    cr_assert_eq (ff_config_load (&fac_config_schema, &config, 9, argv, stdout, err, sizeof err),
                  FF_CONFIG_LOADED, "%s", err);
    fac_server_t *second = fac_server_new (&config, err, sizeof err);
    cr_assert_null (second);
    cr_assert (strstr (err, "direct socket: bind") && strstr (err, taken), "%s", err);
    ff_config_free (&fac_config_schema, &config);
    ff_test_service_stop (&first);
}

//  SISAS delivers a valid signal to a subscriber and counts an invalid one.
FF_TEST (services, sisas_delivers_valid_signals_and_rejects_invalid_ones)
{
    ff_test_service_t *service = ff_test_service_start ("sisas", NULL);
    zsock_t *subscriber = zsock_new (ZMQ_SUB);
    zsock_set_rcvtimeo (subscriber, FF_TEST_TIMEOUT_MS);
    zsock_set_subscribe (subscriber, "");
    cr_assert_eq (zsock_connect (subscriber, "%s", ff_test_service_endpoint (service, "publish")), 0);
    zsock_t *publisher = zsock_new (ZMQ_PUB);
    cr_assert_eq (zsock_connect (publisher, "%s", ff_test_service_endpoint (service, "ingest")), 0);

    ff_signal_t signal;
    ff_signal_init (&signal);
    strcpy (signal.id, "s-1");
    strcpy (signal.type, "contract.result");
    strcpy (signal.source, "test");
    strcpy (signal.subject, "PA01/DIM01/Q001");
    signal.phase = 2;
    signal.confidence = 0.75;
    signal.ts_us = 1;
    uint8_t buffer [512];
    size_t size = ff_signal_encode (&signal, buffer, sizeof buffer);
    cr_assert_lt (size, sizeof buffer);

    //  PUB/SUB joins asynchronously: publish until the first copy arrives
    //  (each attempt a new seq), bounded by the receive timeout.
    zmsg_t *received = NULL;
    unsigned sent = 0;
    zsock_set_rcvtimeo (subscriber, 20);
    while (!received && sent < 500) {
        signal.seq = sent++;
        size = ff_signal_encode (&signal, buffer, sizeof buffer);
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, signal.type);
        zmsg_addmem (msg, buffer, size);
        zmsg_send (&msg, publisher);
        received = zmsg_recv (subscriber);
    }
    cr_assert_not_null (received, "no signal delivered");
    char *topic = zmsg_popstr (received);
    cr_assert_str_eq (topic, "contract.result");
    zframe_t *body = zmsg_pop (received);
    ff_signal_t delivered;
    cr_assert_eq (ff_signal_decode (&delivered, zframe_data (body), zframe_size (body), NULL, 0),
                  FF_SIGNAL_OK);
    cr_assert_str_eq (delivered.subject, "PA01/DIM01/Q001");
    cr_assert_float_eq (delivered.confidence, 0.75, 1e-12);
    zframe_destroy (&body);
    free (topic);
    zmsg_destroy (&received);

    //  Invalid: a topic that is not the type, and garbage. Then a valid
    //  marker signal, whose arrival proves the invalid ones were handled.
    zmsg_t *mismatch = zmsg_new ();
    zmsg_addstr (mismatch, "other.topic");
    zmsg_addmem (mismatch, buffer, size);
    zmsg_send (&mismatch, publisher);
    zmsg_t *garbage = zmsg_new ();
    zmsg_addstr (garbage, "x");
    zmsg_addmem (garbage, "\xc1\xc1", 2);
    zmsg_send (&garbage, publisher);
    strcpy (signal.type, "marker");
    size = ff_signal_encode (&signal, buffer, sizeof buffer);
    zmsg_t *marker = zmsg_new ();
    zmsg_addstr (marker, "marker");
    zmsg_addmem (marker, buffer, size);
    zmsg_send (&marker, publisher);
    zsock_set_rcvtimeo (subscriber, FF_TEST_TIMEOUT_MS);
    //  Copies of the first signal may still be in flight; skip them.
    char *next = NULL;
    do {
        zstr_free (&next);
        zmsg_t *msg = zmsg_recv (subscriber);
        cr_assert_not_null (msg, "marker not delivered");
        next = zmsg_popstr (msg);
        zmsg_destroy (&msg);
    } while (streq (next, "contract.result"));
    cr_assert_str_eq (next, "marker", "invalid signals are never delivered");
    zstr_free (&next);

    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (service), "/metrics", &status);
    cr_assert_eq (status, 200);
    double received_total = ff_test_metric (page, "farfan_signals_received_total");
    double delivered_total = ff_test_metric (page, "farfan_signals_delivered_total");
    cr_assert_eq (ff_test_metric (page, "farfan_signals_rejected_total{reason=\"topic\"}"), 1);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_rejected_total{reason=\"msgpack\"}"), 1);
    cr_assert_eq (received_total, delivered_total + 2, "received = delivered + rejected:\n%s", page);
    cr_assert_geq (delivered_total, 2);
    free (page);
    zsock_destroy (&publisher);
    zsock_destroy (&subscriber);
    ff_test_service_stop (&service);
}

FF_TEST (services, oversized_messages_are_refused_and_the_service_keeps_serving)
{
    ff_test_service_t *service = ff_test_service_start ("factory", "--max-msg-size", "4096", NULL);
    const char *endpoint = ff_test_service_endpoint (service, "direct");
    zsock_t *big = ff_test_dealer (endpoint);
    zsock_set_rcvtimeo (big, 300);
    Farfan__Ping ping = FARFAN__PING__INIT;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__PING, .correlation_id = "big" };
    char padding [8192];
    memset (padding, 'p', sizeof padding - 1);
    padding [sizeof padding - 1] = '\0';
    header.sender_id = padding;     //  an 8 KiB envelope: over the 4 KiB limit
    cr_assert_eq (ff_msg_send (big, NULL, false, &header, &ping.base), 0);
    //  libzmq drops the connection before the message reaches the service.
    zmsg_t *nothing = zmsg_recv (big);
    cr_assert_null (nothing, "an oversized message must not be processed");
    zsock_t *dealer = ff_test_dealer (endpoint);
    ff_test_assert_pings (dealer);
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (service), "/metrics", &status);
    cr_assert_eq (ff_test_metric (page, "farfan_requests_total{socket=\"direct\",type=\"PING\"}"), 1,
                  "only the normal PING was handled");
    free (page);
    zsock_destroy (&dealer);
    zsock_destroy (&big);
    ff_test_service_stop (&service);
}

//  A service stopped while peers are still connected to its sockets: the
//  connections end after the service has gone, and libzmq reports each
//  end to the socket monitor from the process's I/O thread. An event sent
//  to a monitor whose reader has gone blocks that thread for ever — and
//  with it every later socket of the process (ff_sockmon stops each
//  monitor before its socket closes). Five services in turn, each with a
//  peer on every socket when it stops; each next one must still answer.
FF_TEST (services, a_service_stopped_under_connected_peers_leaves_the_process_working)
{
    zlist_t *peers = zlist_new ();
    for (size_t round = 0; round < 5; round++)
        for (size_t i = 0; i < S_SERVICE_COUNT; i++) {
            ff_test_service_t *service = ff_test_service_start (s_services [i], NULL);
            for (size_t k = 0; k < S_REQUEST_SOCKET_COUNT; k++) {
                if (!streq (s_request_sockets [k].service, s_services [i]))
                    continue;
                zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (
                    service, s_request_sockets [k].socket));
                ff_test_assert_pings (dealer);         //  answered: connected, and alive
                zlist_append (peers, dealer);
            }
            ff_test_service_stop (&service);
            //  The connections end now, the service's sockets already closed.
            zsock_t *dealer;
            while ((dealer = (zsock_t *) zlist_pop (peers)))
                zsock_destroy (&dealer);
        }
    zlist_destroy (&peers);
}
