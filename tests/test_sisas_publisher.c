/*  test_sisas_publisher — the common publisher obeys SISAS's THROTTLE and
    BACKPRESSURE: first against SISAS's own control-signal encoder on a
    stand-in delivery socket (each message's effect, exactly), then end to
    end: a real SISAS whose vehicle falls behind slows a real publisher
    down, and its storm protection holds one to the fair rate. */
#include "test_sisas_support.c"

#include "ff_publisher.h"
#include "sis_emit.h"
#include "sis_sources.h"
#include <math.h>

//  A stand-in for SISAS: an ingest SUB and a delivery XPUB on loopback,
//  the control encoder on the XPUB.
typedef struct {
    zsock_t *ingest;
    zsock_t *delivery;
    char ingest_endpoint [128];
    char delivery_endpoint [128];
    sis_sources_t *sources;
    sis_emit_t *emit;
} s_fake_t;

static void
s_fake_start (s_fake_t *fake)
{
    fake->ingest = zsock_new_sub ("@tcp://127.0.0.1:*", "");
    fake->delivery = zsock_new (ZMQ_XPUB);
    cr_assert (fake->ingest && fake->delivery);
    //  Every subscription is passed up, also a second one to the topic.
    zsock_set_xpub_verbose (fake->delivery, 1);
    cr_assert_neq (zsock_bind (fake->delivery, "tcp://127.0.0.1:*"), -1);
    char *endpoint = zsock_last_endpoint (fake->ingest);
    snprintf (fake->ingest_endpoint, sizeof fake->ingest_endpoint, ">%s", endpoint);
    zstr_free (&endpoint);
    endpoint = zsock_last_endpoint (fake->delivery);
    snprintf (fake->delivery_endpoint, sizeof fake->delivery_endpoint, ">%s", endpoint);
    zstr_free (&endpoint);
    fake->sources = sis_sources_new (8, 1000000);
    fake->emit = sis_emit_new (fake->delivery, "fake", fake->sources);
}

static void
s_fake_stop (s_fake_t *fake)
{
    sis_emit_destroy (&fake->emit);
    sis_sources_destroy (&fake->sources);
    zsock_destroy (&fake->ingest);
    zsock_destroy (&fake->delivery);
}

static ff_publisher_t *
s_publisher (s_fake_t *fake, const char *source, double rate)
{
    ff_publisher_options_t options = {
        .endpoint = fake->ingest_endpoint,
        .source = source,
        .sndhwm = 1000,
        .max_msg_size = 65536,
        .rate = rate,
        .burst = rate > 0 ? rate : 0,
        .control_endpoint = fake->delivery_endpoint,
    };
    char err [256] = "";
    ff_publisher_t *publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_assert_not_null (publisher, "%s", err);
    //  The delivery XPUB hears the control subscription: then messages flow.
    //  (An earlier publisher's unsubscription may come first.)
    zsock_set_rcvtimeo (fake->delivery, FF_TEST_TIMEOUT_MS);
    bool subscribed = false;
    while (!subscribed) {
        char *subscription = zstr_recv (fake->delivery);
        cr_assert_not_null (subscription, "no control subscription");
        subscribed = strcmp (subscription, "\x01$sisas.control") == 0;
        zstr_free (&subscription);
    }
    //  And the publisher joins the ingest.
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while (!ff_publisher_connected (publisher) && zclock_mono () < deadline)
        zsock_events (fake->ingest);
    cr_assert (ff_publisher_connected (publisher));
    return publisher;
}

//  Polls the publisher's control socket until `messages` control
//  messages were handled in all (applied or refused).
static void
s_heard (ff_publisher_t *publisher, uint64_t messages)
{
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    ff_publisher_pacing_t pacing;
    do {
        ff_publisher_poll_control (publisher);
        ff_publisher_pacing (publisher, &pacing);
    } while (pacing.control_messages + pacing.control_invalid < messages
          && zclock_mono () < deadline);
    cr_assert_eq (pacing.control_messages + pacing.control_invalid, messages);
}

static void
s_throttle (s_fake_t *fake, bool active, double level, const char *target)
{
    sis_source_t *targets [1];
    size_t count = 0;
    if (target)
        targets [count++] = sis_sources_lookup (fake->sources, target, strlen (target), 0);
    sis_emit_throttle_t throttle = { .active = active, .rate_limit = 1000, .rate = 2000,
                                     .level = level, .targets = targets, .target_count = count };
    cr_assert_eq (sis_emit_throttle (fake->emit, &throttle), 0);
}

static void
s_backpressure (s_fake_t *fake, bool active)
{
    sis_emit_backpressure_t backpressure = { .active = active, .utilization = 60, .pending = 600,
                                             .threshold = 500, .max_pending = 1000 };
    cr_assert_eq (sis_emit_backpressure (fake->emit, &backpressure), 0);
}

FF_TEST (sisas_publisher, throttle_sets_the_pace_and_its_end_restores_it)
{
    s_fake_t fake;
    s_fake_start (&fake);
    ff_publisher_t *publisher = s_publisher (&fake, "factory/one", 0);
    ff_publisher_pacing_t pacing;
    //  Named: its own target.
    sis_source_t *targets [2] = {
        sis_sources_lookup (fake.sources, "factory/two", 11, 0),
        sis_sources_lookup (fake.sources, "factory/one", 11, 0),
    };
    sis_emit_throttle_t throttle = { .active = true, .rate_limit = 1000, .rate = 5000,
                                     .level = 50, .targets = targets, .target_count = 2 };
    cr_assert_eq (sis_emit_throttle (fake.emit, &throttle), 0);
    s_heard (publisher, 1);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert (pacing.throttled);
    cr_assert_float_eq (pacing.throttle_rate, 50, 1e-9);
    cr_assert_float_eq (pacing.rate, 50, 1e-9);
    //  A burst of a tenth of a second: 5 go out at once, the 6th waits.
    for (int i = 0; i < 6; i++) {
        ff_signal_t signal;
        ff_signal_init (&signal);
        strcpy (signal.type, "t");
        cr_assert_eq (ff_publisher_send (publisher, &signal), i < 5 ? 0 : -1, "signal %d", i);
    }
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    cr_assert_eq (stats.dropped_paced, 1);
    cr_assert_gt (ff_publisher_wait_us (publisher), 0);
    //  Not named: the fair level applies to everyone.
    s_throttle (&fake, true, 80, "factory/two");
    s_heard (publisher, 2);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_float_eq (pacing.rate, 80, 1e-9);
    //  The caller's own lower rate still wins.
    ff_publisher_set_rate (publisher, 20, 2);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_float_eq (pacing.rate, 20, 1e-9);
    cr_assert_float_eq (pacing.caller_rate, 20, 1e-9);
    ff_publisher_set_rate (publisher, 0, 0);
    //  Storm over: unpaced again.
    s_throttle (&fake, false, 0, NULL);
    s_heard (publisher, 3);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_not (pacing.throttled);
    cr_assert_float_eq (pacing.rate, 0, 1e-12);
    cr_assert_eq (ff_publisher_wait_us (publisher), 0);
    cr_assert_eq (pacing.control_invalid, 0);
    ff_publisher_destroy (&publisher);
    s_fake_stop (&fake);
}

FF_TEST (sisas_publisher, backpressure_halves_the_pace_until_it_ends)
{
    s_fake_t fake;
    s_fake_start (&fake);
    ff_publisher_t *publisher = s_publisher (&fake, "factory/one", 1000);
    s_backpressure (&fake, true);
    s_heard (publisher, 1);
    ff_publisher_pacing_t pacing;
    ff_publisher_pacing (publisher, &pacing);
    cr_assert (pacing.backpressure);
    cr_assert_float_eq (pacing.rate, 500, 1e-9);
    //  Repeated while pending stays high: halves again.
    s_backpressure (&fake, true);
    s_heard (publisher, 2);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_float_eq (pacing.rate, 250, 1e-9);
    s_backpressure (&fake, false);
    s_heard (publisher, 3);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_not (pacing.backpressure);
    cr_assert_float_eq (pacing.rate, 1000, 1e-9, "the caller's rate is back");
    ff_publisher_destroy (&publisher);

    //  Unpaced: the pace halved is what it sent over the last second.
    publisher = s_publisher (&fake, "factory/two", 0);
    for (int i = 0; i < 40; i++) {
        ff_signal_t signal;
        ff_signal_init (&signal);
        strcpy (signal.type, "t");
        cr_assert_eq (ff_publisher_send (publisher, &signal), 0);
    }
    s_backpressure (&fake, true);
    s_heard (publisher, 1);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_float_eq (pacing.rate, 20, 1e-9);
    //  Never below one signal a second.
    for (int i = 0; i < 6; i++)
        s_backpressure (&fake, true);
    s_heard (publisher, 7);
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_float_eq (pacing.rate, 1, 1e-9);
    ff_publisher_destroy (&publisher);
    s_fake_stop (&fake);
}

FF_TEST (sisas_publisher, malformed_control_messages_are_counted_and_ignored)
{
    s_fake_t fake;
    s_fake_start (&fake);
    ff_publisher_t *publisher = s_publisher (&fake, "factory/one", 100);
    zsock_t *delivery = fake.delivery;
    zstr_sendm (delivery, "$sisas.control");
    zstr_send (delivery, "garbage");
    zstr_send (delivery, "$sisas.control");              //  one frame
    zstr_sendm (delivery, "$sisas.control");
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "\x81\xa7payload\x81\xa4kind\xa4" "ELSE", 20);  // unknown kind
    zsock_send (delivery, "m", msg);
    zmsg_destroy (&msg);
    s_heard (publisher, 3);
    ff_publisher_pacing_t pacing;
    ff_publisher_pacing (publisher, &pacing);
    cr_assert_eq (pacing.control_invalid, 3);
    cr_assert_eq (pacing.control_messages, 0);
    cr_assert_float_eq (pacing.rate, 100, 1e-9, "nothing changed");
    ff_publisher_destroy (&publisher);
    s_fake_stop (&fake);
}

FF_TEST (sisas_publisher, bad_feedback_options_are_refused)
{
    ff_publisher_options_t options = { .endpoint = ">tcp://127.0.0.1:9", .source = "s",
                                       .sndhwm = 10, .max_msg_size = 1024,
                                       .backpressure_factor = 1.5 };
    char err [256] = "";
    cr_assert_null (ff_publisher_new (&options, NULL, err, sizeof err));
    cr_assert (strstr (err, "backpressure_factor"), "%s", err);
    options.backpressure_factor = 0.25;
    options.linger_ms = -1;
    cr_assert_null (ff_publisher_new (&options, NULL, err, sizeof err));
    cr_assert (strstr (err, "linger_ms"), "%s", err);
    options.linger_ms = 0;
    options.control_endpoint = "not an endpoint";
    cr_assert_null (ff_publisher_new (&options, NULL, err, sizeof err));
    cr_assert (strstr (err, "connect"), "%s", err);
}

//  End to end: a vehicle that does not keep up raises pending over the
//  threshold; the publisher hears BACKPRESSURE and slows down (its
//  excess is dropped as "paced" before it reaches SISAS); when the
//  vehicle catches up, the publisher gets its pace back.
FF_TEST (sisas_publisher, a_real_publisher_slows_down_under_backpressure)
{
    s_bus_t bus;
    s_bus_start (&bus, "work", "--backpressure-threshold", "5", "--max-pending", "1000",
                 "--control-interval-ms", "50", NULL);
    zsock_t *vehicle = s_vehicle (&bus, "slow", 1000, NULL, "work");
    char ingest [128], control [128];
    snprintf (ingest, sizeof ingest, ">%s", ff_test_service_endpoint (bus.service, "ingest"));
    snprintf (control, sizeof control, ">%s", ff_test_service_endpoint (bus.service, "publish"));
    ff_publisher_options_t options = {
        .endpoint = ingest, .source = "pub-e2e", .sndhwm = 1000, .max_msg_size = 65536,
        .control_endpoint = control,
    };
    char err [256];
    ff_publisher_t *publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_assert_not_null (publisher, "%s", err);
    cr_assert (ff_publisher_wait_connected (publisher, FF_TEST_TIMEOUT_MS));
    //  Publish until the publisher has heard BACKPRESSURE.
    ff_publisher_pacing_t pacing;
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    uint64_t count = 0;
    do {
        ff_signal_t signal;
        ff_signal_init (&signal);
        strcpy (signal.type, "work");
        snprintf (signal.subject, sizeof signal.subject, "s%" PRIu64, count++);
        ff_publisher_send (publisher, &signal);
        ff_publisher_poll_control (publisher);
        ff_publisher_pacing (publisher, &pacing);
    } while (!pacing.backpressure && zclock_mono () < deadline);
    cr_assert (pacing.backpressure, "the publisher never heard BACKPRESSURE");
    cr_assert_gt (pacing.rate, 0);
    cr_assert_lt (pacing.rate, (double) count, "paced below what it sent");
    //  Now it drops what goes over its pace instead of sending it: at most
    //  its burst (0.1 s of the rate) plus the rate times the time taken.
    ff_publisher_stats_t before, after;
    ff_publisher_stats (publisher, &before);
    double rate = pacing.rate;
    int64_t started = zclock_usecs ();
    for (int i = 0; i < 200; i++) {
        ff_signal_t signal;
        ff_signal_init (&signal);
        strcpy (signal.type, "work");
        snprintf (signal.subject, sizeof signal.subject, "s%" PRIu64, count++);
        ff_publisher_send (publisher, &signal);
    }
    double elapsed_s = (double) (zclock_usecs () - started) / 1e6;
    ff_publisher_stats (publisher, &after);
    double allowed = fmax (1, 0.1 * rate) + rate * elapsed_s + 1;
    uint64_t sent = after.sent - before.sent;
    cr_assert_leq ((double) sent, allowed, "sent %" PRIu64 " of 200 at %.1f/s in %.3f s",
                   sent, rate, elapsed_s);
    cr_assert_eq (sent + (after.dropped_paced - before.dropped_paced), 200);
    if (allowed < 200)
        cr_assert_gt (after.dropped_paced - before.dropped_paced, 0, "it slowed down");
    //  The vehicle catches up; BACKPRESSURE ends; the pace comes back.
    Farfan__VehicleDeliver *deliver;
    deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    do {
        while ((deliver = s_delivery (vehicle, 50))) {
            s_ack (vehicle, deliver->delivery_id, true);
            farfan__vehicle_deliver__free_unpacked (deliver, NULL);
        }
        ff_publisher_poll_control (publisher);
        ff_publisher_pacing (publisher, &pacing);
    } while (pacing.backpressure && zclock_mono () < deadline);
    cr_assert_not (pacing.backpressure);
    cr_assert_float_eq (pacing.rate, 0, 1e-12, "unpaced again");
    //  The next signal goes through and shows the paced drops as a gap
    //  (when there were any: on a slow machine the 200 sends may all fit
    //  the pace, see above).
    ff_signal_t last;
    ff_signal_init (&last);
    strcpy (last.type, "work");
    strcpy (last.subject, "last");
    cr_assert_eq (ff_publisher_send (publisher, &last), 0);
    Farfan__SisasHealth *health = s_health (bus.dealer);
    deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    bool dropped = after.dropped_paced > 0;
    while (dropped && health->stats->upstream_lost == 0 && zclock_mono () < deadline) {
        s_health_free (&health);
        health = s_health (bus.dealer);
    }
    s_assert_identity (health->stats);
    if (dropped)
        cr_assert_gt (health->stats->upstream_lost, 0, "the paced drops show as seq gaps");
    s_health_free (&health);
    ff_publisher_destroy (&publisher);
    zsock_destroy (&vehicle);
    s_bus_stop (&bus);
}

//  End to end: during a storm a publisher that listens is held to the
//  fair level SISAS computes.
FF_TEST (sisas_publisher, a_real_publisher_follows_throttle)
{
    s_bus_t bus;
    s_bus_start (&bus, "x", "--rate-limit", "200", "--control-interval-ms", "50", NULL);
    char ingest [128], control [128];
    snprintf (ingest, sizeof ingest, ">%s", ff_test_service_endpoint (bus.service, "ingest"));
    snprintf (control, sizeof control, ">%s", ff_test_service_endpoint (bus.service, "publish"));
    ff_publisher_options_t options = {
        .endpoint = ingest, .source = "obedient", .sndhwm = 1000, .max_msg_size = 65536,
        .control_endpoint = control,
    };
    char err [256];
    ff_publisher_t *publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_assert_not_null (publisher, "%s", err);
    cr_assert (ff_publisher_wait_connected (publisher, FF_TEST_TIMEOUT_MS));
    ff_publisher_pacing_t pacing;
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    uint64_t seq = 0;
    do {
        //  A raw source floods; the obedient one listens.
        for (int i = 0; i < 50; i++) {
            char subject [24];
            snprintf (subject, sizeof subject, "n%" PRIu64, seq);
            s_send (bus.pub, "noise", "flood", subject, -1, 0.5, 0, seq++);
        }
        ff_signal_t signal;
        ff_signal_init (&signal);
        strcpy (signal.type, "x");
        ff_publisher_send (publisher, &signal);
        ff_publisher_poll_control (publisher);
        ff_publisher_pacing (publisher, &pacing);
    } while (!pacing.throttled && zclock_mono () < deadline);
    cr_assert (pacing.throttled, "the publisher never heard THROTTLE");
    cr_assert_gt (pacing.throttle_rate, 0);
    cr_assert_leq (pacing.throttle_rate, 200);
    cr_assert_float_eq (pacing.rate, pacing.throttle_rate, 1e-9);
    ff_publisher_destroy (&publisher);
    s_bus_stop (&bus);
}
