/*  ff_sockmon on real loopback sockets: connections and disconnects are
    counted per socket and named in the metrics, a peer over max_msg_size
    is counted as a lost connection, an unwatched socket is no longer
    counted, a monitor that goes away before its sockets' peers do leaves
    the process's I/O thread working (libzmq's monitor send blocks for
    ever once its reader has gone), and every socket closed by farfan's
    code (a failed bind, a destroyed publisher) leaves the monitor first. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <string.h>

#include "ff_metrics.h"
#include "ff_publisher.h"
#include "ff_socket.h"
#include "ff_sockmon.h"
#include "ff_test.h"

//  A ROUTER bound on an ephemeral loopback port, watched as `name`.
static zsock_t *
s_router (ff_sockmon_t *sockmon, const char *name, int64_t max_msg_size, char **endpoint)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (router);
    zsock_set_linger (router, 0);
    zsock_set_rcvtimeo (router, FF_TEST_TIMEOUT_MS);
    zmq_setsockopt (zsock_resolve (router), ZMQ_MAXMSGSIZE, &max_msg_size, sizeof max_msg_size);
    cr_assert_eq (ff_sockmon_watch (sockmon, router, name), 0);
    cr_assert_gt (zsock_bind (router, "tcp://127.0.0.1:*"), 0);
    *endpoint = zsock_last_endpoint (router);
    return router;
}

//  A DEALER connected to endpoint whose first message the router got: the
//  connection is up on both sides.
static zsock_t *
s_connected_dealer (zsock_t *router, const char *endpoint)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    zsock_set_sndtimeo (dealer, FF_TEST_TIMEOUT_MS);
    cr_assert_eq (zsock_connect (dealer, "%s", endpoint), 0);
    cr_assert_eq (zstr_send (dealer, "hello"), 0);
    zmsg_t *msg = zmsg_recv (router);
    cr_assert_not_null (msg, "the router got nothing from %s", endpoint);
    zmsg_destroy (&msg);
    return dealer;
}

static double
s_metric (ff_metrics_t *metrics, const char *sample)
{
    char *page = ff_metrics_render (metrics);
    double value = ff_test_metric (page, sample);
    free (page);
    return value;
}

FF_TEST (sockmon, connections_and_disconnects_are_counted_per_socket)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_sockmon_t *sockmon = ff_sockmon_new (metrics, false);
    char *endpoint = NULL;
    zsock_t *router = s_router (sockmon, "front", 1 << 20, &endpoint);
    zsock_t *dealers [3];
    for (size_t i = 0; i < 3; i++)
        dealers [i] = s_connected_dealer (router, endpoint);
    cr_assert_eq (ff_sockmon_wait (sockmon, FF_SOCKMON_CONNECTIONS, 3, FF_TEST_TIMEOUT_MS), 3);
    for (size_t i = 0; i < 3; i++)
        zsock_destroy (&dealers [i]);
    cr_assert_eq (ff_sockmon_wait (sockmon, FF_SOCKMON_DISCONNECTS, 3, FF_TEST_TIMEOUT_MS), 3);
    cr_assert_eq (s_metric (metrics, "farfan_peer_connections_total{socket=\"front\"}"), 3);
    cr_assert_eq (s_metric (metrics, "farfan_peer_disconnects_total{socket=\"front\"}"), 3);
    //  No CURVE: no handshake can be refused, no zero counters shown.
    cr_assert_eq (ff_sockmon_count (sockmon, FF_SOCKMON_AUTH_FAILURES), 0);
    char *page = ff_metrics_render (metrics);
    cr_assert_null (strstr (page, "farfan_auth_failures_total{"), "%s", page);
    free (page);

    ff_sockmon_destroy (&sockmon);
    cr_assert_null (sockmon);
    ff_sockmon_destroy (&sockmon);          //  idempotent
    zsock_destroy (&router);
    zstr_free (&endpoint);
    ff_metrics_destroy (&metrics);
}

FF_TEST (sockmon, an_oversized_message_costs_a_counted_connection)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_sockmon_t *sockmon = ff_sockmon_new (metrics, true);
    char *endpoint = NULL;
    zsock_t *router = s_router (sockmon, "small", 1024, &endpoint);
    //  CURVE services show their refusal counters at zero from the start.
    cr_assert_eq (s_metric (metrics,
                            "farfan_auth_failures_total{reason=\"auth\",socket=\"small\"}"), 0);
    zsock_t *dealer = s_connected_dealer (router, endpoint);
    cr_assert_eq (ff_sockmon_wait (sockmon, FF_SOCKMON_CONNECTIONS, 1, FF_TEST_TIMEOUT_MS), 1);
    char big [4096];
    memset (big, 'x', sizeof big);
    cr_assert_eq (zsock_send (dealer, "b", big, sizeof big), 0);
    uint64_t lost = ff_sockmon_wait (sockmon, FF_SOCKMON_DISCONNECTS, 1, FF_TEST_TIMEOUT_MS);
    cr_assert_eq (lost, 1, "a message over max_msg_size: %" PRIu64 " lost connections counted",
                  lost);
    cr_assert_eq (s_metric (metrics, "farfan_peer_disconnects_total{socket=\"small\"}"), 1);
    //  The router never saw it; the dealer reconnects and is served.
    cr_assert_eq (zstr_send (dealer, "small"), 0);
    char *text = zstr_recv (router);      //  routing id first
    zstr_free (&text);
    text = zstr_recv (router);
    cr_assert_str_eq (text ? text : "", "small");
    zstr_free (&text);
    zsock_destroy (&dealer);
    ff_sockmon_destroy (&sockmon);
    zsock_destroy (&router);
    zstr_free (&endpoint);
    ff_metrics_destroy (&metrics);
}

FF_TEST (sockmon, an_unwatched_socket_is_no_longer_counted)
{
    ff_sockmon_t *sockmon = ff_sockmon_new (NULL, false);
    char *endpoint = NULL;
    zsock_t *router = s_router (sockmon, "gone", 1 << 20, &endpoint);
    zsock_t *dealer = s_connected_dealer (router, endpoint);
    cr_assert_eq (ff_sockmon_wait (sockmon, FF_SOCKMON_CONNECTIONS, 1, FF_TEST_TIMEOUT_MS), 1);
    cr_assert_eq (ff_sockmon_watched (sockmon), 1);
    ff_sockmon_unwatch (sockmon, router);
    ff_sockmon_unwatch (sockmon, router);   //  twice: harmless
    cr_assert_eq (ff_sockmon_watched (sockmon), 0);
    ff_sockmon_unwatch (NULL, router);
    zsock_t *second = s_connected_dealer (router, endpoint);
    zsock_destroy (&dealer);
    zsock_destroy (&second);
    //  A watched socket's connection, made after both, orders the events:
    //  once it is counted, anything the unwatched one reported would be.
    char *other_endpoint = NULL;
    zsock_t *other = s_router (sockmon, "other", 1 << 20, &other_endpoint);
    zsock_t *third = s_connected_dealer (other, other_endpoint);
    cr_assert_eq (ff_sockmon_wait (sockmon, FF_SOCKMON_CONNECTIONS, 2, FF_TEST_TIMEOUT_MS), 2);
    cr_assert_eq (ff_sockmon_count (sockmon, FF_SOCKMON_CONNECTIONS), 2,
                  "the unwatched socket's second connection was counted");
    zsock_destroy (&third);
    ff_sockmon_destroy (&sockmon);
    zsock_destroy (&other);
    zsock_destroy (&router);
    zstr_free (&endpoint);
    zstr_free (&other_endpoint);
}

//  The monitor goes first (as a service's does), its socket's peer leaves
//  afterwards: the socket's disconnect must not be sent to a monitor that
//  has no reader, or the I/O thread waits for ever and a fresh pair of
//  sockets cannot talk.
FF_TEST_OPTS (sockmon, a_monitor_gone_before_the_peers_leaves_the_io_thread_working,
              .timeout = 60)
{
    for (int round = 0; round < 10; round++) {
        ff_sockmon_t *sockmon = ff_sockmon_new (NULL, false);
        char *endpoint = NULL;
        zsock_t *router = s_router (sockmon, "first", 1 << 20, &endpoint);
        zsock_t *dealer = s_connected_dealer (router, endpoint);
        ff_sockmon_destroy (&sockmon);
        zsock_destroy (&dealer);            //  the router's side disconnects now

        zsock_t *fresh = zsock_new (ZMQ_ROUTER);
        zsock_set_linger (fresh, 0);
        zsock_set_rcvtimeo (fresh, FF_TEST_TIMEOUT_MS);
        cr_assert_gt (zsock_bind (fresh, "tcp://127.0.0.1:*"), 0);
        char *fresh_endpoint = zsock_last_endpoint (fresh);
        zsock_t *peer = s_connected_dealer (fresh, fresh_endpoint);
        zsock_destroy (&peer);
        zsock_destroy (&fresh);
        zstr_free (&fresh_endpoint);
        zsock_destroy (&router);
        zstr_free (&endpoint);
    }
}

//  A socket whose bind fails is closed by ff_socket_new: it must leave the
//  monitor first, or the monitor would later stop a monitor on a socket
//  already freed, or lose its reader while libzmq still reports to it.
FF_TEST_OPTS (sockmon, a_socket_that_failed_to_bind_leaves_the_monitor_clean, .timeout = 60)
{
    zsock_t *holder = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (holder, 0);
    zsock_set_rcvtimeo (holder, FF_TEST_TIMEOUT_MS);
    int port = zsock_bind (holder, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);
    char taken [64];
    snprintf (taken, sizeof taken, "tcp://127.0.0.1:%d", port);
    for (int round = 0; round < 20; round++) {
        ff_sockmon_t *sockmon = ff_sockmon_new (NULL, false);
        ff_socket_limits_t limits = { .hwm = 100, .max_msg_size = 1 << 20,
                                      .monitor = sockmon, .name = "taken" };
        char err [256] = "";
        zsock_t *sock = ff_socket_new (ZMQ_ROUTER, taken, true, &limits, err, sizeof err);
        cr_assert_null (sock);
        cr_assert (strstr (err, "Address already in use"), "%s", err);
        cr_assert_eq (ff_sockmon_watched (sockmon), 0, "the closed socket is still watched");
        //  A good one is watched until unwatched.
        sock = ff_socket_new (ZMQ_ROUTER, "tcp://127.0.0.1:*", true, &limits, err, sizeof err);
        cr_assert_not_null (sock, "%s", err);
        cr_assert_eq (ff_sockmon_watched (sockmon), 1);
        ff_sockmon_unwatch (sockmon, sock);
        cr_assert_eq (ff_sockmon_watched (sockmon), 0);
        zsock_destroy (&sock);
        ff_sockmon_destroy (&sockmon);
    }
    //  The I/O thread still serves a fresh pair of sockets.
    char *endpoint = zsock_last_endpoint (holder);
    zsock_t *peer = s_connected_dealer (holder, endpoint);
    zsock_destroy (&peer);
    zstr_free (&endpoint);
    zsock_destroy (&holder);
}

//  A publisher given the monitor watches both its sockets and leaves the
//  monitor when destroyed — also when its creation fails half-way.
FF_TEST (sockmon, a_publisher_leaves_the_monitor_when_destroyed)
{
    ff_sockmon_t *sockmon = ff_sockmon_new (NULL, false);
    ff_publisher_options_t options = {
        .endpoint = "@tcp://127.0.0.1:*", .source = "sockmon-test", .sndhwm = 100,
        .max_msg_size = 65536, .control_endpoint = ">tcp://127.0.0.1:9", .monitor = sockmon,
    };
    char err [256] = "";
    ff_publisher_t *publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_assert_not_null (publisher, "%s", err);
    cr_assert_eq (ff_sockmon_watched (sockmon), 2);
    ff_publisher_destroy (&publisher);
    cr_assert_eq (ff_sockmon_watched (sockmon), 0);
    //  An endpoint it cannot bind: created, watched, refused, unwatched.
    options.endpoint = "@tcp://no-such-interface:1";
    cr_assert_null (ff_publisher_new (&options, NULL, err, sizeof err));
    cr_assert_eq (ff_sockmon_watched (sockmon), 0, "%s", err);
    ff_sockmon_destroy (&sockmon);
}
