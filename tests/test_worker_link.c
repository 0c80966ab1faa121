/*  The worker protocol between factories and the orchestrator (issue #4,
    "Factories as workers"; proto/PROTOCOL.md "Worker API"): registration,
    heartbeats both ways, expiry, re-registration after an orchestrator
    restart, replacement of a reconnecting instance id, UNKNOWN_WORKER,
    DISCONNECT, malformed input, heartbeats during long contracts.

    Peers are in-process actors (the real services), a harness that runs
    the registry with callbacks reporting to the test, or bare sockets
    playing one side where that shows the protocol best. Waits are
    receive timeouts, or /metrics polled in a bounded loop with a
    poll-based pause between tries; never sleeps. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fac_server.h"
#include "factory.pb-c.h"
#include "ff_clock.h"
#include "ff_config.h"
#include "ff_log.h"
#include "ff_service.h"
#include "ff_test.h"
#include "orc_registry.h"
#include "orchestrator.pb-c.h"

//  Heartbeat interval of most tests, ms, and the liveness that goes with it.
#define S_INTERVAL_MS 50
#define S_INTERVAL "50"
#define S_LIVENESS 3

//  ---------------------------------------------------------------------
//  Waiting

//  Waits ms on nothing (a poller over a socket nobody writes to): the
//  pause between two looks at /metrics.
static void
s_pause (int ms)
{
    zsock_t *idle = zsock_new (ZMQ_PULL);
    zpoller_t *poller = zpoller_new (idle, NULL);
    zpoller_wait (poller, ms);
    zpoller_destroy (&poller);
    zsock_destroy (&idle);
}

//  The value of series in the /metrics page on port (NAN when absent).
static double
s_metric (int port, const char *series)
{
    int status = 0;
    char *page = ff_test_http_get (port, "/metrics", &status);
    cr_assert_not_null (page, "no /metrics answer on port %d", port);
    cr_assert_eq (status, 200);
    double value = ff_test_metric (page, series);
    free (page);
    return value;
}

//  Polls series until it equals value, for up to FF_TEST_TIMEOUT_MS.
//  Returns the last value seen.
static double
s_wait_metric (int port, const char *series, double value)
{
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    double seen = s_metric (port, series);
    while (seen != value && zclock_mono () < deadline) {
        s_pause (10);
        seen = s_metric (port, series);
    }
    return seen;
}

//  Polls series until it is at least value.
static double
s_wait_metric_at_least (int port, const char *series, double value)
{
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    double seen = s_metric (port, series);
    while (!(seen >= value) && zclock_mono () < deadline) {
        s_pause (10);
        seen = s_metric (port, series);
    }
    return seen;
}

static void
s_assert_metric (int port, const char *series, double value)
{
    double seen = s_wait_metric (port, series, value);
    cr_assert_eq (seen, value, "%s: %g, expected %g", series, seen, value);
}

//  ---------------------------------------------------------------------
//  Services

//  An orchestrator with the test interval (and extra settings).
static ff_test_service_t *
s_orchestrator (const char *a, const char *b, const char *c, const char *d)
{
    return ff_test_service_start ("orchestrator", "--heartbeat-ms", S_INTERVAL, "--instance-id",
                                  "orc-1", a, b, c, d, NULL);
}

//  "><endpoint>" for --orchestrator-endpoint.
static char *
s_connect_to (const char *endpoint)
{
    return zsys_sprintf (">%s", endpoint);
}

//  A factory registering at endpoint as instance id (extra settings after).
static ff_test_service_t *
s_factory (const char *endpoint, const char *id, const char *a, const char *b,
           const char *c, const char *d)
{
    char *link = s_connect_to (endpoint);
    ff_test_service_t *factory = ff_test_service_start ("factory", "--orchestrator-endpoint", link,
        "--heartbeat-ms", S_INTERVAL, "--reconnect-ms", "10", "--reconnect-max-ms", "100",
        "--instance-id", id, a, b, c, d, NULL);
    zstr_free (&link);
    return factory;
}

//  ---------------------------------------------------------------------
//  Bare sockets speaking the worker protocol

static void
s_send (zsock_t *sock, const zframe_t *routing_id, uint32_t type, const char *correlation_id,
        const char *sender_id, const ProtobufCMessage *body)
{
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id,
                               .sender_id = sender_id };
    cr_assert_eq (ff_msg_send (sock, routing_id, false, &header, body), 0,
                  "send %s: %s", ff_msg_type_name (type), strerror (errno));
}

//  The next message that is not a HEARTBEAT (those are counted in
//  *heartbeats when not NULL); fails the test after the receive timeout.
static ff_msg_t *
s_recv_skipping_heartbeats (zsock_t *sock, size_t *heartbeats)
{
    ff_msg_t *msg = ff_msg_new ();
    while (true) {
        int rc = ff_msg_recv (msg, sock);
        cr_assert_eq (rc, 0, "nothing received (rc %d: %s)", rc, ff_msg_error (msg));
        if (ff_msg_type (msg) != FARFAN__MESSAGE_TYPE__HEARTBEAT)
            return msg;
        if (heartbeats)
            (*heartbeats)++;
    }
}

static zsock_t *
s_dealer (const char *endpoint)
{
    return ff_test_dealer (endpoint);
}

//  Capabilities as a factory would send them (strings borrowed).
static Farfan__Capabilities
s_caps (const char *id)
{
    Farfan__Capabilities caps = FARFAN__CAPABILITIES__INIT;
    caps.factory_id = (char *) id;
    caps.version = "test";
    caps.max_workers = 2;
    caps.health = "idle";
    return caps;
}

//  READY for id from dealer; returns the answer (WELCOME or ERROR).
static ff_msg_t *
s_ready (zsock_t *dealer, const char *id, const char *sender_id)
{
    Farfan__Capabilities caps = s_caps (id);
    Farfan__Ready ready = FARFAN__READY__INIT;
    ready.capabilities = &caps;
    ready.heartbeat_ms = S_INTERVAL_MS;
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__READY, "ready-test", sender_id, &ready.base);
    return s_recv_skipping_heartbeats (dealer, NULL);
}

static void
s_expect_welcome (zsock_t *dealer, const char *id)
{
    ff_msg_t *reply = s_ready (dealer, id, id);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__WELCOME, "got %s: %s",
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    ff_msg_destroy (&reply);
}

static void
s_expect_error_reply (ff_msg_t *reply, uint32_t code, const char *why)
{
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR, "got %s",
                  ff_msg_type_name (ff_msg_type (reply)));
    cr_assert_eq (ff_msg_status_code (reply), code, "got %s: %s",
                  ff_msg_code_name (ff_msg_status_code (reply)), ff_msg_status_message (reply));
    cr_assert (strstr (ff_msg_status_message (reply), why), "\"%s\" lacks \"%s\"",
               ff_msg_status_message (reply), why);
}

//  PING -> PONG on dealer, skipping heartbeats: the peer still answers,
//  and whatever it had to say before is said.
static void
s_expect_pong (zsock_t *dealer)
{
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__PING, "ping-barrier", "test", NULL);
    ff_msg_t *reply = s_recv_skipping_heartbeats (dealer, NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PONG, "got %s: %s",
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    cr_assert_str_eq (ff_msg_correlation_id (reply), "ping-barrier");
    ff_msg_destroy (&reply);
}

//  ---------------------------------------------------------------------
//  A harness: the registry on a worker socket, with callbacks that tell
//  the test what happened ("READY <id>", "EXPIRED <id> <reason>",
//  "REPLY <id> <type> <correlation id>") over an inproc PUSH.

typedef struct {
    ff_service_t *service;
    orc_registry_t *registry;
    zsock_t *events;                // PUSH to the test
    bool snapshot_follows;          // what the callback answers
    bool ask_capabilities;          // on_ready sends CAPABILITIES to the factory
} s_harness_t;

typedef struct {
    zactor_t *actor;
    zsock_t *events;                // PULL
    char *worker_endpoint;
    int http_port;
} s_harness_handle_t;

static const ff_rpc_route_t s_no_routes [] = { { 0, NULL } };

static void
s_harness_ready (orc_registry_t *registry, orc_factory_t *factory, void *arg)
{
    s_harness_t *self = (s_harness_t *) arg;
    const Farfan__Capabilities *caps = orc_factory_capabilities (factory);
    zstr_sendf (self->events, "READY %s workers=%u heartbeat=%u registered=%d", orc_factory_id (factory),
                caps->max_workers, orc_factory_heartbeat_ms (factory),
                orc_factory_registered_at_us (factory) > 0 && orc_factory_last_heard_us (factory) > 0);
    if (self->ask_capabilities) {
        char correlation_id [300];
        snprintf (correlation_id, sizeof correlation_id, "caps-%s", orc_factory_id (factory));
        Farfan__CapabilitiesRequest request = FARFAN__CAPABILITIES_REQUEST__INIT;
        int rc = orc_registry_send (registry, factory, FARFAN__MESSAGE_TYPE__CAPABILITIES,
                                    correlation_id, &request.base);
        if (rc != 0)
            zstr_sendf (self->events, "SEND-FAILED %s", orc_factory_id (factory));
    }
}

static void
s_harness_expired (orc_registry_t *registry, orc_factory_t *factory, orc_factory_end_t reason,
                   void *arg)
{
    s_harness_t *self = (s_harness_t *) arg;
    //  Already out of the table when told.
    bool listed = orc_registry_lookup (registry, orc_factory_id (factory)) == factory;
    zstr_sendf (self->events, "EXPIRED %s %s%s", orc_factory_id (factory),
                orc_factory_end_name (reason), listed ? " still-listed" : "");
}

static void
s_harness_reply (orc_registry_t *registry, orc_factory_t *factory, const ff_msg_t *msg, void *arg)
{
    (void) registry;
    s_harness_t *self = (s_harness_t *) arg;
    zstr_sendf (self->events, "REPLY %s %s %s", orc_factory_id (factory),
                ff_msg_type_name (ff_msg_type (msg)), ff_msg_correlation_id (msg));
}

static bool
s_harness_snapshot (orc_registry_t *registry, orc_factory_t *factory, void *arg)
{
    (void) registry;
    (void) factory;
    return ((s_harness_t *) arg)->snapshot_follows;
}

static void
s_harness_actor (zsock_t *pipe, void *args)
{
    s_harness_t *self = (s_harness_t *) args;
    ff_service_run (self->service, pipe);
    orc_registry_destroy (&self->registry);
    ff_service_destroy (&self->service);
    zsock_destroy (&self->events);
    free (self);
}

static s_harness_handle_t
s_harness_start (uint32_t liveness, bool snapshot_follows, bool ask_capabilities)
{
    static int sequence = 0;
    s_harness_handle_t handle = { 0 };
    char events_endpoint [64];
    snprintf (events_endpoint, sizeof events_endpoint, "inproc://harness-events-%d", ++sequence);
    handle.events = zsock_new_pull (events_endpoint);       //  binds
    cr_assert_not_null (handle.events);
    zsock_set_rcvtimeo (handle.events, FF_TEST_TIMEOUT_MS);

    ff_log_init ("orchestrator", FF_LOG_WARN);
    s_harness_t *self = (s_harness_t *) zmalloc (sizeof (s_harness_t));
    self->snapshot_follows = snapshot_follows;
    self->ask_capabilities = ask_capabilities;
    self->events = zsock_new_push (events_endpoint);        //  connects
    zsock_set_sndtimeo (self->events, 0);
    zsock_set_linger (self->events, 0);
    ff_service_config_t config = {
        .log_level = FF_LOG_WARN, .instance_id = "harness", .http_address = "127.0.0.1",
        .http_port = -1, .hwm = 1000, .max_msg_size = 1 << 24, .reply_stall_ms = 30000,
    };
    char err [256] = "";
    self->service = ff_service_new ("orchestrator", &config, err, sizeof err);
    cr_assert_not_null (self->service, "%s", err);
    zsock_t *worker = ff_service_socket (self->service, "worker", ZMQ_ROUTER,
                                         "@tcp://127.0.0.1:*", true, err, sizeof err);
    cr_assert_not_null (worker, "%s", err);
    ff_rpc_t *rpc = ff_service_serve (self->service, worker, "worker", s_no_routes, NULL);
    cr_assert_not_null (rpc);
    orc_registry_options_t options = { .heartbeat_ms = S_INTERVAL_MS, .liveness = liveness,
                                       .max_factories = 16 };
    orc_registry_callbacks_t callbacks = {
        .on_ready = s_harness_ready, .on_expired = s_harness_expired,
        .on_reply = s_harness_reply, .snapshot_follows = s_harness_snapshot, .arg = self,
    };
    self->registry = orc_registry_new (self->service, rpc, &options, &callbacks, err, sizeof err);
    cr_assert_not_null (self->registry, "%s", err);
    handle.actor = zactor_new (s_harness_actor, self);
    cr_assert_not_null (handle.actor);
    zstr_sendx (handle.actor, "ENDPOINT", "worker", NULL);
    handle.worker_endpoint = zstr_recv (handle.actor);
    cr_assert (handle.worker_endpoint && *handle.worker_endpoint);
    zstr_send (handle.actor, "HTTP_PORT");
    char *port = zstr_recv (handle.actor);
    handle.http_port = atoi (port);
    zstr_free (&port);
    return handle;
}

static void
s_harness_stop (s_harness_handle_t *handle)
{
    zactor_destroy (&handle->actor);
    zsock_destroy (&handle->events);
    zstr_free (&handle->worker_endpoint);
}

//  The next event; fails the test when none comes within the timeout.
static char *
s_event (s_harness_handle_t *handle)
{
    char *event = zstr_recv (handle->events);
    cr_assert_not_null (event, "no event within %d ms", FF_TEST_TIMEOUT_MS);
    return event;
}

static void
s_expect_event (s_harness_handle_t *handle, const char *expected)
{
    char *event = s_event (handle);
    cr_assert_str_eq (event, expected);
    zstr_free (&event);
}

//  Asserts no event is waiting now.
static void
s_expect_no_event (s_harness_handle_t *handle)
{
    zpoller_t *poller = zpoller_new (handle->events, NULL);
    void *which = zpoller_wait (poller, 0);
    zpoller_destroy (&poller);
    if (which) {
        char *event = zstr_recv (handle->events);
        cr_assert_fail ("unexpected event: %s", event ? event : "(none)");
    }
}

//  ---------------------------------------------------------------------
//  Registration

FF_TEST (worker_link, factory_registers_with_the_orchestrator)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    ff_test_service_t *factory = s_factory (ff_test_service_endpoint (orchestrator, "worker"),
                                            "fac-a", NULL, NULL, NULL, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    int fac_port = ff_test_service_http_port (factory);
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    s_assert_metric (fac_port, "farfan_orchestrator_link_state", 1);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_registrations_total"), 1);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_registrations_total"), 1);
    ff_test_service_stop (&factory);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, registry_keeps_the_capabilities_and_calls_on_ready_once)
{
    s_harness_handle_t harness = s_harness_start (S_LIVENESS, false, false);
    ff_test_service_t *factory = s_factory (harness.worker_endpoint, "fac-caps",
                                            "--max-workers", "3", NULL, NULL);
    s_expect_event (&harness, "READY fac-caps workers=3 heartbeat=" S_INTERVAL " registered=1");
    //  Heartbeats over several expiry periods: no second registration.
    s_assert_metric (harness.http_port, "farfan_factories_registered", 1);
    cr_assert_geq (s_wait_metric_at_least (harness.http_port,
                   "farfan_requests_total{socket=\"worker\",type=\"HEARTBEAT\"}", 2 * S_LIVENESS),
                   2 * S_LIVENESS);
    s_expect_no_event (&harness);
    ff_test_service_stop (&factory);
    //  Its DISCONNECT ends the session.
    s_expect_event (&harness, "EXPIRED fac-caps disconnected");
    s_harness_stop (&harness);
}

FF_TEST (worker_link, welcome_names_the_orchestrator_and_its_timing)
{
    ff_test_service_t *orchestrator = s_orchestrator ("--liveness", "4", NULL, NULL);
    zsock_t *dealer = s_dealer (ff_test_service_endpoint (orchestrator, "worker"));
    ff_msg_t *reply = s_ready (dealer, "fac-w", "fac-w");
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__WELCOME, "%s",
                  ff_msg_status_message (reply));
    cr_assert_str_eq (ff_msg_correlation_id (reply), "ready-test");
    cr_assert_str_eq (ff_msg_sender_id (reply), "orc-1");
    Farfan__Welcome *welcome = farfan__welcome__unpack (NULL, ff_msg_body_size (reply),
                                                        ff_msg_body_data (reply));
    cr_assert_not_null (welcome);
    cr_assert_str_eq (welcome->orchestrator_id, "orc-1");
    cr_assert_eq (welcome->heartbeat_ms, S_INTERVAL_MS);
    cr_assert_eq (welcome->liveness, 4);
    cr_assert_not (welcome->snapshot_follows, "no engine promised a snapshot");
    farfan__welcome__free_unpacked (welcome, NULL);
    ff_msg_destroy (&reply);

    //  The orchestrator heartbeats the factory, from its instance id.
    ff_msg_t *heartbeat = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (heartbeat, dealer), 0, "no HEARTBEAT from the orchestrator");
    cr_assert_eq (ff_msg_type (heartbeat), FARFAN__MESSAGE_TYPE__HEARTBEAT);
    cr_assert_str_eq (ff_msg_sender_id (heartbeat), "orc-1");
    ff_msg_destroy (&heartbeat);
    zsock_destroy (&dealer);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, welcome_says_when_a_snapshot_follows)
{
    s_harness_handle_t harness = s_harness_start (S_LIVENESS, true, false);
    zsock_t *dealer = s_dealer (harness.worker_endpoint);
    ff_msg_t *reply = s_ready (dealer, "fac-s", "");
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__WELCOME, "%s",
                  ff_msg_status_message (reply));
    Farfan__Welcome *welcome = farfan__welcome__unpack (NULL, ff_msg_body_size (reply),
                                                        ff_msg_body_data (reply));
    cr_assert_not_null (welcome);
    cr_assert (welcome->snapshot_follows);
    farfan__welcome__free_unpacked (welcome, NULL);
    ff_msg_destroy (&reply);
    s_expect_event (&harness, "READY fac-s workers=2 heartbeat=" S_INTERVAL " registered=1");
    zsock_destroy (&dealer);
    s_harness_stop (&harness);
}

FF_TEST (worker_link, two_factories_with_different_ids_are_both_registered)
{
    s_harness_handle_t harness = s_harness_start (S_LIVENESS, false, false);
    ff_test_service_t *one = s_factory (harness.worker_endpoint, "fac-1", NULL, NULL, NULL, NULL);
    ff_test_service_t *two = s_factory (harness.worker_endpoint, "fac-2", NULL, NULL, NULL, NULL);
    char *first = s_event (&harness);
    char *second = s_event (&harness);
    bool in_order = strstr (first, "fac-1") != NULL;
    cr_assert_str_eq (in_order ? first : second, "READY fac-1 workers=4 heartbeat=" S_INTERVAL " registered=1");
    cr_assert_str_eq (in_order ? second : first, "READY fac-2 workers=4 heartbeat=" S_INTERVAL " registered=1");
    zstr_free (&first);
    zstr_free (&second);
    s_assert_metric (harness.http_port, "farfan_factories_registered", 2);
    cr_assert_eq (s_metric (harness.http_port, "farfan_factory_registrations_total"), 2);
    ff_test_service_stop (&one);
    ff_test_service_stop (&two);
    s_harness_stop (&harness);
}

//  ---------------------------------------------------------------------
//  Heartbeats

FF_TEST (worker_link, heartbeats_flow_both_ways)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    ff_test_service_t *factory = s_factory (ff_test_service_endpoint (orchestrator, "worker"),
                                            "fac-hb", NULL, NULL, NULL, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    int fac_port = ff_test_service_http_port (factory);
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    //  Over several expiry periods, both sides hear the other's heartbeats
    //  and neither gives up on the other.
    double beats = 3 * S_LIVENESS;
    cr_assert_geq (s_wait_metric_at_least (orc_port,
                   "farfan_requests_total{socket=\"worker\",type=\"HEARTBEAT\"}", beats), beats);
    cr_assert_geq (s_wait_metric_at_least (fac_port,
                   "farfan_requests_total{socket=\"orchestrator\",type=\"HEARTBEAT\"}", beats), beats);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_registrations_total"), 1);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_expirations_total"), 0);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_registrations_total"), 1);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_link_lost_total"), 0);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_link_state"), 1);
    //  Nobody answered a heartbeat (no error, no unknown worker).
    cr_assert (isnan (s_metric (fac_port,
               "farfan_request_errors_total{code=\"UNSUPPORTED\",socket=\"orchestrator\"}")));
    cr_assert_eq (s_metric (orc_port, "farfan_worker_unknown_total"), 0);
    ff_test_service_stop (&factory);
    ff_test_service_stop (&orchestrator);
}

//  A bare ROUTER plays the orchestrator: the factory's side step by step.
FF_TEST (worker_link, factory_link_follows_the_protocol)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_rcvtimeo (router, FF_TEST_TIMEOUT_MS);
    zsock_set_linger (router, 0);
    cr_assert_neq (zsock_bind (router, "tcp://127.0.0.1:*"), -1);
    char *endpoint = zsock_last_endpoint (router);
    //  READY retries a second apart: every READY below answers the step
    //  that caused it, not a retry racing our WELCOME.
    ff_test_service_t *factory = s_factory (endpoint, "fac-x", "--reconnect-ms", "1000",
                                            "--reconnect-max-ms", "1000");
    int fac_port = ff_test_service_http_port (factory);

    //  READY with the factory's capabilities and interval.
    ff_msg_t *msg = s_recv_skipping_heartbeats (router, NULL);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__READY);
    cr_assert_str_eq (ff_msg_sender_id (msg), "fac-x");
    cr_assert (strncmp (ff_msg_correlation_id (msg), "ready-", 6) == 0);
    Farfan__Ready *ready = farfan__ready__unpack (NULL, ff_msg_body_size (msg), ff_msg_body_data (msg));
    cr_assert_not_null (ready);
    cr_assert_not_null (ready->capabilities);
    cr_assert_str_eq (ready->capabilities->factory_id, "fac-x");
    cr_assert_gt (ready->capabilities->n_methods, 0);
    cr_assert_eq (ready->heartbeat_ms, S_INTERVAL_MS);
    farfan__ready__free_unpacked (ready, NULL);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_link_state"), 0);

    //  WELCOME with a longer interval: the factory adopts it.
    zframe_t *factory_id = zframe_dup (ff_msg_routing_id (msg));
    Farfan__Welcome welcome = FARFAN__WELCOME__INIT;
    welcome.orchestrator_id = "bare";
    welcome.heartbeat_ms = 2 * S_INTERVAL_MS;
    welcome.liveness = S_LIVENESS;
    s_send (router, factory_id, FARFAN__MESSAGE_TYPE__WELCOME, ff_msg_correlation_id (msg), "bare",
            &welcome.base);
    s_assert_metric (fac_port, "farfan_orchestrator_link_state", 1);

    //  Heartbeats, carrying in_flight; and requests over the same link
    //  are served: a 5-interval io.wait contract is not one here, so
    //  EXECUTE names an unknown contract and gets its RESULT + BATCH_DONE
    //  back with the correlation id.
    for (int i = 0; i < 2; i++) {
        cr_assert_eq (ff_msg_recv (msg, router), 0, "no HEARTBEAT");
        cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__HEARTBEAT, "got %s",
                      ff_msg_type_name (ff_msg_type (msg)));
        Farfan__Heartbeat *heartbeat = farfan__heartbeat__unpack (NULL, ff_msg_body_size (msg),
                                                                  ff_msg_body_data (msg));
        cr_assert_not_null (heartbeat);
        cr_assert_eq (heartbeat->in_flight, 0);
        farfan__heartbeat__free_unpacked (heartbeat, NULL);
        //  Ours, never answered.
        s_send (router, factory_id, FARFAN__MESSAGE_TYPE__HEARTBEAT, NULL, "bare", NULL);
    }
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "NO_SUCH_CONTRACT" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    s_send (router, factory_id, FARFAN__MESSAGE_TYPE__EXECUTE, "exec-over-link", "bare", &execute.base);
    ff_msg_destroy (&msg);
    msg = s_recv_skipping_heartbeats (router, NULL);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__RESULT, "got %s: %s",
                  ff_msg_type_name (ff_msg_type (msg)), ff_msg_status_message (msg));
    cr_assert_str_eq (ff_msg_correlation_id (msg), "exec-over-link");
    ff_msg_destroy (&msg);
    msg = s_recv_skipping_heartbeats (router, NULL);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__BATCH_DONE);
    cr_assert_str_eq (ff_msg_correlation_id (msg), "exec-over-link");
    ff_msg_destroy (&msg);

    //  UNKNOWN_WORKER: READY again at once.
    Farfan__UnknownWorker unknown = FARFAN__UNKNOWN_WORKER__INIT;
    unknown.reason = "test";
    s_send (router, factory_id, FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER, NULL, "bare", &unknown.base);
    msg = s_recv_skipping_heartbeats (router, NULL);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__READY, "got %s",
                  ff_msg_type_name (ff_msg_type (msg)));
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_link_state"), 0);
    s_send (router, factory_id, FARFAN__MESSAGE_TYPE__WELCOME, ff_msg_correlation_id (msg), "bare",
            &welcome.base);
    s_assert_metric (fac_port, "farfan_orchestrator_registrations_total", 2);
    ff_msg_destroy (&msg);

    //  Silence: after interval × liveness the factory gives up on us and
    //  sends READY; its heartbeats go on until then.
    size_t heartbeats = 0;
    msg = s_recv_skipping_heartbeats (router, &heartbeats);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__READY, "got %s",
                  ff_msg_type_name (ff_msg_type (msg)));
    cr_assert_geq (heartbeats, 1, "heartbeats stopped before the orchestrator was given up on");
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_link_lost_total"), 2);
    s_send (router, factory_id, FARFAN__MESSAGE_TYPE__WELCOME, ff_msg_correlation_id (msg), "bare",
            &welcome.base);
    s_assert_metric (fac_port, "farfan_orchestrator_registrations_total", 3);
    ff_msg_destroy (&msg);

    //  DISCONNECT from the orchestrator: unregistered, READY after the
    //  backoff delay.
    Farfan__Disconnect disconnect = FARFAN__DISCONNECT__INIT;
    disconnect.reason = "test leaving";
    s_send (router, factory_id, FARFAN__MESSAGE_TYPE__DISCONNECT, NULL, "bare", &disconnect.base);
    msg = s_recv_skipping_heartbeats (router, NULL);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__READY);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_link_lost_total"), 3);
    ff_msg_destroy (&msg);

    //  A factory does not answer a heartbeat or a worker message.
    cr_assert (isnan (s_metric (fac_port,
               "farfan_request_errors_total{code=\"UNSUPPORTED\",socket=\"orchestrator\"}")));

    //  Shutdown: DISCONNECT.
    ff_test_service_stop (&factory);
    msg = s_recv_skipping_heartbeats (router, NULL);
    while (ff_msg_type (msg) == FARFAN__MESSAGE_TYPE__READY) {
        ff_msg_destroy (&msg);
        msg = s_recv_skipping_heartbeats (router, NULL);
    }
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__DISCONNECT);
    cr_assert_str_eq (ff_msg_sender_id (msg), "fac-x");
    ff_msg_destroy (&msg);
    zframe_destroy (&factory_id);
    zstr_free (&endpoint);
    zsock_destroy (&router);
}

FF_TEST (worker_link, factory_retries_ready_until_welcomed)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_rcvtimeo (router, FF_TEST_TIMEOUT_MS);
    zsock_set_linger (router, 0);
    cr_assert_neq (zsock_bind (router, "tcp://127.0.0.1:*"), -1);
    char *endpoint = zsock_last_endpoint (router);
    ff_test_service_t *factory = s_factory (endpoint, "fac-r", NULL, NULL, NULL, NULL);
    //  Nobody answers: READY comes again and again, numbered, nothing else.
    ff_msg_t *msg = ff_msg_new ();
    char previous [64] = "";
    for (int i = 0; i < 4; i++) {
        cr_assert_eq (ff_msg_recv (msg, router), 0, "READY %d not retried", i);
        cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__READY, "got %s",
                      ff_msg_type_name (ff_msg_type (msg)));
        cr_assert_str_neq (ff_msg_correlation_id (msg), previous);
        snprintf (previous, sizeof previous, "%s", ff_msg_correlation_id (msg));
    }
    //  An ERROR answer (registry full...) does not stop the retries.
    zframe_t *factory_id = zframe_dup (ff_msg_routing_id (msg));
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__ERROR, .correlation_id = previous,
                               .sender_id = "bare", .status_code = FARFAN__ERROR_CODE__OVERLOADED,
                               .status_message = "registry full" };
    Farfan__ErrorReply error = FARFAN__ERROR_REPLY__INIT;
    cr_assert_eq (ff_msg_send (router, factory_id, false, &header, &error.base), 0);
    cr_assert_eq (ff_msg_recv (msg, router), 0);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__READY);
    ff_msg_destroy (&msg);
    zframe_destroy (&factory_id);
    ff_test_service_stop (&factory);
    zstr_free (&endpoint);
    zsock_destroy (&router);
}

//  ---------------------------------------------------------------------
//  Expiry, unknown peers, replacement, disconnect

FF_TEST (worker_link, silent_factory_expires_and_the_callback_runs_once)
{
    s_harness_handle_t harness = s_harness_start (S_LIVENESS, false, false);
    zsock_t *dealer = s_dealer (harness.worker_endpoint);
    int64_t started = zclock_mono ();
    s_expect_welcome (dealer, "fac-gone");
    s_expect_event (&harness, "READY fac-gone workers=2 heartbeat=" S_INTERVAL " registered=1");
    //  Gone without a word (as after kill -9).
    zsock_destroy (&dealer);
    s_expect_event (&harness, "EXPIRED fac-gone expired");
    int64_t elapsed = zclock_mono () - started;
    //  Never before interval × liveness of silence.
    cr_assert_geq (elapsed, S_INTERVAL_MS * S_LIVENESS, "expired after %lld ms",
                   (long long) elapsed);
    cr_assert_eq (s_metric (harness.http_port, "farfan_factories_registered"), 0);
    cr_assert_eq (s_metric (harness.http_port, "farfan_factory_expirations_total"), 1);
    //  Once: nothing more over the next expiry periods.
    zsock_set_rcvtimeo (harness.events, 3 * S_INTERVAL_MS * S_LIVENESS);
    char *event = zstr_recv (harness.events);
    cr_assert_null (event, "a second event: %s", event);
    s_harness_stop (&harness);
}

FF_TEST (worker_link, expired_factory_is_told_it_is_unknown_and_registers_again)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    zsock_t *dealer = s_dealer (ff_test_service_endpoint (orchestrator, "worker"));
    s_expect_welcome (dealer, "fac-late");
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    //  Connected but silent: expired.
    s_assert_metric (orc_port, "farfan_factory_expirations_total", 1);
    cr_assert_eq (s_metric (orc_port, "farfan_factories_registered"), 0);
    Farfan__Heartbeat heartbeat = FARFAN__HEARTBEAT__INIT;
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__HEARTBEAT, "late-beat", "fac-late", &heartbeat.base);
    ff_msg_t *reply = s_recv_skipping_heartbeats (dealer, NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER, "got %s",
                  ff_msg_type_name (ff_msg_type (reply)));
    cr_assert_str_eq (ff_msg_correlation_id (reply), "late-beat");
    ff_msg_destroy (&reply);
    s_expect_welcome (dealer, "fac-late");
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_registrations_total"), 2);
    zsock_destroy (&dealer);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, unknown_peer_gets_unknown_worker)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    zsock_t *dealer = s_dealer (ff_test_service_endpoint (orchestrator, "worker"));
    uint32_t types [] = { FARFAN__MESSAGE_TYPE__HEARTBEAT, FARFAN__MESSAGE_TYPE__RESULT,
                          FARFAN__MESSAGE_TYPE__SYNC_REPLY };
    for (size_t i = 0; i < sizeof types / sizeof types [0]; i++) {
        char correlation_id [32];
        snprintf (correlation_id, sizeof correlation_id, "stranger-%zu", i);
        s_send (dealer, NULL, types [i], correlation_id, "stranger", NULL);
        ff_msg_t *reply = s_recv_skipping_heartbeats (dealer, NULL);
        cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER, "%s got %s",
                      ff_msg_type_name (types [i]), ff_msg_type_name (ff_msg_type (reply)));
        cr_assert_str_eq (ff_msg_correlation_id (reply), correlation_id);
        Farfan__UnknownWorker *unknown = farfan__unknown_worker__unpack (
            NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
        cr_assert_not_null (unknown);
        cr_assert (strstr (unknown->reason, "READY"), "%s", unknown->reason);
        farfan__unknown_worker__free_unpacked (unknown, NULL);
        ff_msg_destroy (&reply);
    }
    //  An ERROR reply from a stranger: a factory that lost its session.
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__ERROR, .correlation_id = "stranger-err",
                               .sender_id = "stranger", .status_code = FARFAN__ERROR_CODE__INTERNAL,
                               .status_message = "late failure" };
    cr_assert_eq (ff_msg_send (dealer, NULL, false, &header, NULL), 0);
    ff_msg_t *reply = s_recv_skipping_heartbeats (dealer, NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER);
    ff_msg_destroy (&reply);
    //  What no factory sends here (a client on the wrong socket) is
    //  UNSUPPORTED, not "unknown worker".
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__SUBMIT, "client-here", "stranger", NULL);
    reply = s_recv_skipping_heartbeats (dealer, NULL);
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__UNSUPPORTED, "SUBMIT");
    ff_msg_destroy (&reply);
    //  DISCONNECT from a stranger is not answered; PING is, with PONG.
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__DISCONNECT, "bye", "stranger", NULL);
    s_expect_pong (dealer);
    cr_assert_eq (s_metric (orc_port, "farfan_worker_unknown_total"), 4);
    cr_assert_eq (s_metric (orc_port, "farfan_factories_registered"), 0);
    zsock_destroy (&dealer);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, same_instance_id_reconnecting_replaces_the_old_entry)
{
    s_harness_handle_t harness = s_harness_start (S_LIVENESS, false, false);
    zsock_t *old_link = s_dealer (harness.worker_endpoint);
    zsock_t *new_link = s_dealer (harness.worker_endpoint);
    s_expect_welcome (old_link, "fac-same");
    s_expect_event (&harness, "READY fac-same workers=2 heartbeat=" S_INTERVAL " registered=1");
    s_expect_welcome (new_link, "fac-same");
    //  The old session ends (out of the table when told), a new one starts.
    s_expect_event (&harness, "EXPIRED fac-same replaced");
    s_expect_event (&harness, "READY fac-same workers=2 heartbeat=" S_INTERVAL " registered=1");
    cr_assert_eq (s_metric (harness.http_port, "farfan_factories_registered"), 1);
    cr_assert_eq (s_metric (harness.http_port, "farfan_factory_registrations_total"), 2);

    //  The old connection is unknown now; the new one is the factory.
    Farfan__Heartbeat heartbeat = FARFAN__HEARTBEAT__INIT;
    s_send (old_link, NULL, FARFAN__MESSAGE_TYPE__HEARTBEAT, "old-beat", "fac-same", &heartbeat.base);
    ff_msg_t *reply = s_recv_skipping_heartbeats (old_link, NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__UNKNOWN_WORKER);
    ff_msg_destroy (&reply);
    s_send (new_link, NULL, FARFAN__MESSAGE_TYPE__HEARTBEAT, "new-beat", "fac-same", &heartbeat.base);
    s_expect_pong (new_link);

    //  READY retried on the same connection: WELCOME again, same session.
    s_expect_welcome (new_link, "fac-same");
    s_expect_pong (new_link);
    s_expect_no_event (&harness);
    cr_assert_eq (s_metric (harness.http_port, "farfan_factory_registrations_total"), 2);
    zsock_destroy (&old_link);
    zsock_destroy (&new_link);
    s_harness_stop (&harness);
}

FF_TEST (worker_link, disconnect_on_factory_shutdown_removes_it_at_once)
{
    //  Expiry would take 30 s here: only DISCONNECT can remove it in time.
    ff_test_service_t *orchestrator = ff_test_service_start ("orchestrator", "--heartbeat-ms", "1000",
                                                             "--liveness", "30", NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    ff_test_service_t *factory = s_factory (ff_test_service_endpoint (orchestrator, "worker"),
                                            "fac-bye", NULL, NULL, NULL, NULL);
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    ff_test_service_stop (&factory);
    s_assert_metric (orc_port, "farfan_factories_registered", 0);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_disconnects_total"), 1);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_expirations_total"), 0);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, orchestrator_shutdown_disconnects_its_factories)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    zsock_t *dealer = s_dealer (ff_test_service_endpoint (orchestrator, "worker"));
    s_expect_welcome (dealer, "fac-left");
    ff_test_service_stop (&orchestrator);
    ff_msg_t *msg = s_recv_skipping_heartbeats (dealer, NULL);
    cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__DISCONNECT, "got %s",
                  ff_msg_type_name (ff_msg_type (msg)));
    cr_assert_str_eq (ff_msg_sender_id (msg), "orc-1");
    ff_msg_destroy (&msg);
    zsock_destroy (&dealer);
}

//  True when nothing listens on 127.0.0.1:port any more.
static bool
s_port_free (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (fd >= 0);
    int on = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool free_now = bind (fd, (struct sockaddr *) &address, sizeof address) == 0;
    close (fd);
    return free_now;
}

FF_TEST (worker_link, factory_registers_again_after_the_orchestrator_restarts)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    char *worker = strdup (ff_test_service_endpoint (orchestrator, "worker"));
    ff_test_service_t *factory = s_factory (worker, "fac-stay", NULL, NULL, NULL, NULL);
    int fac_port = ff_test_service_http_port (factory);
    s_assert_metric (ff_test_service_http_port (orchestrator), "farfan_factories_registered", 1);
    s_assert_metric (fac_port, "farfan_orchestrator_link_state", 1);

    ff_test_service_stop (&orchestrator);
    //  A new orchestrator on the same port (once the old one let it go).
    int port = atoi (strrchr (worker, ':') + 1);
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while (!s_port_free (port) && zclock_mono () < deadline)
        s_pause (10);
    char *bind = zsys_sprintf ("@tcp://127.0.0.1:%d", port);
    orchestrator = ff_test_service_start ("orchestrator", "--heartbeat-ms", S_INTERVAL,
                                          "--instance-id", "orc-2", "--worker-endpoint", bind, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    s_assert_metric (fac_port, "farfan_orchestrator_link_state", 1);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_registrations_total"), 2);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_registrations_total"), 1);
    ff_test_service_stop (&factory);
    ff_test_service_stop (&orchestrator);
    zstr_free (&bind);
    free (worker);
}

//  ---------------------------------------------------------------------
//  Requests over the link, malformed input, bounds, settings

FF_TEST (worker_link, replies_to_the_orchestrators_requests_reach_on_reply)
{
    s_harness_handle_t harness = s_harness_start (S_LIVENESS, false, true);
    ff_test_service_t *factory = s_factory (harness.worker_endpoint, "fac-q", NULL, NULL, NULL, NULL);
    s_expect_event (&harness, "READY fac-q workers=4 heartbeat=" S_INTERVAL " registered=1");
    s_expect_event (&harness, "REPLY fac-q CAPABILITIES_REPLY caps-fac-q");
    ff_test_service_stop (&factory);
    s_expect_event (&harness, "EXPIRED fac-q disconnected");
    s_harness_stop (&harness);
}

FF_TEST (worker_link, replies_to_no_request_are_counted)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    zsock_t *dealer = s_dealer (ff_test_service_endpoint (orchestrator, "worker"));
    s_expect_welcome (dealer, "fac-u");
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__RESULT, "nobody-asked", "fac-u", NULL);
    s_expect_pong (dealer);
    //  The run engine claims every reply; this one answers nothing it asked.
    cr_assert_eq (s_metric (orc_port, "farfan_worker_replies_unknown_total"), 1);
    zsock_destroy (&dealer);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, malformed_worker_input_gets_errors_and_nothing_breaks)
{
    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    const char *worker = ff_test_service_endpoint (orchestrator, "worker");
    ff_test_service_t *factory = s_factory (worker, "fac-ok", NULL, NULL, NULL, NULL);
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    zsock_t *dealer = s_dealer (worker);

    //  Frames that are not an envelope.
    zmsg_t *garbage = zmsg_new ();
    zmsg_addmem (garbage, "\xff\xfe\xfd garbage", 12);
    cr_assert_eq (zmsg_send (&garbage, dealer), 0);
    ff_msg_t *reply = s_recv_skipping_heartbeats (dealer, NULL);
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__MALFORMED, "not a valid protobuf");
    ff_msg_destroy (&reply);

    //  READY whose body is not a Ready.
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__READY, .correlation_id = "bad-ready" };
    cr_assert_eq (ff_msg_send_packed (dealer, NULL, false, &header, "\xff\xff\xff", 3), 0);
    reply = s_recv_skipping_heartbeats (dealer, NULL);
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__MALFORMED, "READY body");
    ff_msg_destroy (&reply);

    //  READY without capabilities, with an empty id, with an id other
    //  than the sender's, with an id too long.
    Farfan__Ready ready = FARFAN__READY__INIT;
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__READY, "no-caps", "x", &ready.base);
    reply = s_recv_skipping_heartbeats (dealer, NULL);
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "no capabilities");
    ff_msg_destroy (&reply);
    reply = s_ready (dealer, "", "");
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "factory_id is empty");
    ff_msg_destroy (&reply);
    reply = s_ready (dealer, "fac-one", "fac-other");
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "differs");
    ff_msg_destroy (&reply);
    char long_id [FF_MSG_ID_MAX + 2];
    memset (long_id, 'a', sizeof long_id - 1);
    long_id [sizeof long_id - 1] = '\0';
    reply = s_ready (dealer, long_id, "");
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "longer than");
    ff_msg_destroy (&reply);
    cr_assert_eq (s_metric (orc_port, "farfan_factories_registered"), 1, "nothing registered");

    //  Registered: a HEARTBEAT that does not decode, a request type the
    //  worker socket does not serve.
    s_expect_welcome (dealer, "fac-test");
    header.type = FARFAN__MESSAGE_TYPE__HEARTBEAT;
    header.correlation_id = "bad-beat";
    cr_assert_eq (ff_msg_send_packed (dealer, NULL, false, &header, "\xff\xff\xff", 3), 0);
    reply = s_recv_skipping_heartbeats (dealer, NULL);
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__MALFORMED, "HEARTBEAT body");
    ff_msg_destroy (&reply);
    s_send (dealer, NULL, FARFAN__MESSAGE_TYPE__SUBMIT, "wrong-socket", "fac-test", NULL);
    reply = s_recv_skipping_heartbeats (dealer, NULL);
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__UNSUPPORTED, "not handled on the worker socket");
    ff_msg_destroy (&reply);

    //  Everything still works: pings, registrations, the real factory.
    s_expect_pong (dealer);
    cr_assert_eq (s_metric (orc_port, "farfan_factories_registered"), 2);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_registrations_total"), 2);
    cr_assert_eq (s_metric (orc_port, "farfan_request_errors_total{code=\"MALFORMED\",socket=\"worker\"}"), 3);
    cr_assert_eq (s_metric (orc_port, "farfan_request_errors_total{code=\"INVALID_ARGUMENT\",socket=\"worker\"}"), 4);
    cr_assert_eq (s_metric (ff_test_service_http_port (factory), "farfan_orchestrator_registrations_total"), 1);
    zsock_destroy (&dealer);
    ff_test_service_stop (&factory);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, registry_is_bounded)
{
    ff_test_service_t *orchestrator = s_orchestrator ("--max-factories", "1", NULL, NULL);
    const char *worker = ff_test_service_endpoint (orchestrator, "worker");
    zsock_t *first = s_dealer (worker);
    zsock_t *second = s_dealer (worker);
    s_expect_welcome (first, "fac-first");
    ff_msg_t *reply = s_ready (second, "fac-second", "fac-second");
    s_expect_error_reply (reply, FARFAN__ERROR_CODE__OVERLOADED, "max_factories 1");
    ff_msg_destroy (&reply);
    //  The same factory again (reconnected) still fits.
    s_expect_welcome (second, "fac-first");
    cr_assert_eq (s_metric (ff_test_service_http_port (orchestrator), "farfan_factories_registered"), 1);
    zsock_destroy (&first);
    zsock_destroy (&second);
    ff_test_service_stop (&orchestrator);
}

FF_TEST (worker_link, factory_refuses_bad_link_settings)
{
    const char *argv [] = { "factory", "--endpoint", "@tcp://127.0.0.1:*", "--http-port", "0",
                            "--sisas-endpoint", "", "--orchestrator-endpoint", ">tcp://127.0.0.1:1",
                            "--reconnect-ms", "500", "--reconnect-max-ms", "100" };
    fac_config_t config = { 0 };
    char err [512] = "";
    cr_assert_eq (ff_config_load (&fac_config_schema, &config, sizeof argv / sizeof argv [0],
                                  (char **) argv, stdout, err, sizeof err), FF_CONFIG_LOADED, "%s", err);
    fac_server_t *server = fac_server_new (&config, err, sizeof err);
    cr_assert_null (server);
    cr_assert (strstr (err, "reconnect_max_ms 100 is below reconnect_ms 500"), "%s", err);
    //  And a heartbeat of 0 is refused by the settings table.
    ff_config_free (&fac_config_schema, &config);
    const char *zero [] = { "factory", "--heartbeat-ms", "0" };
    fac_config_t config2 = { 0 };
    cr_assert_eq (ff_config_load (&fac_config_schema, &config2, 3, (char **) zero, stdout, err,
                                  sizeof err), FF_CONFIG_ERROR);
    cr_assert (strstr (err, "heartbeat_ms"), "%s", err);
    ff_config_free (&fac_config_schema, &config2);
}

//  ---------------------------------------------------------------------
//  Long contracts do not stop heartbeats

#define S_WAIT_CONTRACT(id, ms) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"task\"," \
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":false}," \
    "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":" #ms "}}],\"timeout_ms\":10000}"

FF_TEST (worker_link, heartbeats_continue_while_a_long_contract_runs)
{
    //  5 intervals of io.wait: longer than interval × liveness.
    char dir [] = "/tmp/farfan-worker-link-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char path [128];
    snprintf (path, sizeof path, "%s/wait.json", dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fputs (S_WAIT_CONTRACT ("WAIT_LONG", 250), file);
    fclose (file);

    ff_test_service_t *orchestrator = s_orchestrator (NULL, NULL, NULL, NULL);
    int orc_port = ff_test_service_http_port (orchestrator);
    ff_test_service_t *factory = s_factory (ff_test_service_endpoint (orchestrator, "worker"),
                                            "fac-long", "--contracts-dir", dir, NULL, NULL);
    int fac_port = ff_test_service_http_port (factory);
    s_assert_metric (orc_port, "farfan_factories_registered", 1);
    double beats_before = s_metric (orc_port, "farfan_requests_total{socket=\"worker\",type=\"HEARTBEAT\"}");
    if (isnan (beats_before))
        beats_before = 0;

    zsock_t *client = ff_test_dealer (ff_test_service_endpoint (factory, "direct"));
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "WAIT_LONG" };
    execute.contract_ids = ids;
    execute.n_contract_ids = 1;
    execute.no_cache = true;
    s_send (client, NULL, FARFAN__MESSAGE_TYPE__EXECUTE, "long-1", "test", &execute.base);
    ff_msg_t *reply = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (reply, client), 0, "no RESULT");
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__RESULT, "got %s: %s",
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    Farfan__ContractResult *result = farfan__contract_result__unpack (NULL, ff_msg_body_size (reply),
                                                                      ff_msg_body_data (reply));
    cr_assert_not_null (result);
    cr_assert_eq (result->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s", result->error);
    //  Waited on the loop: the thread that also sends the heartbeats.
    cr_assert_str_eq (result->executed_by, "loop");
    farfan__contract_result__free_unpacked (result, NULL);
    cr_assert_eq (ff_msg_recv (reply, client), 0, "no BATCH_DONE");
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__BATCH_DONE);
    ff_msg_destroy (&reply);

    //  Registered throughout: never expired, never lost, one registration
    //  each side; and the factory kept beating while the contract waited.
    double beats_after = s_metric (orc_port, "farfan_requests_total{socket=\"worker\",type=\"HEARTBEAT\"}");
    cr_assert_geq (beats_after - beats_before, 2, "%g heartbeats during the contract",
                   beats_after - beats_before);
    cr_assert_eq (s_metric (orc_port, "farfan_factories_registered"), 1);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_expirations_total"), 0);
    cr_assert_eq (s_metric (orc_port, "farfan_factory_registrations_total"), 1);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_link_lost_total"), 0);
    cr_assert_eq (s_metric (fac_port, "farfan_orchestrator_registrations_total"), 1);

    zsock_destroy (&client);
    ff_test_service_stop (&factory);
    ff_test_service_stop (&orchestrator);
    unlink (path);
    rmdir (dir);
}
