/*  test_sisas_backpressure — pending signals, BACKPRESSURE on and off,
    the hard bound and its shedding, through a running SISAS with a
    vehicle that holds its acknowledgements. */
#include "test_sisas_support.c"

#include "sis_backpressure.h"

FF_TEST (sisas_backpressure, state_has_hysteresis_and_a_hard_bound)
{
    sis_backpressure_t backpressure;
    sis_backpressure_config_t config = { .enabled = true, .threshold = 10, .exit_ratio = 0.5,
                                         .max_pending = 20 };
    sis_backpressure_init (&backpressure, &config);
    cr_assert_not (sis_backpressure_update (&backpressure, 9));
    cr_assert (sis_backpressure_update (&backpressure, 10), "on at the threshold");
    cr_assert (backpressure.active);
    cr_assert_not (sis_backpressure_update (&backpressure, 6), "still on above 5");
    cr_assert_not (sis_backpressure_update (&backpressure, 5));
    cr_assert (sis_backpressure_update (&backpressure, 4), "off below threshold x exit ratio");
    cr_assert_not (backpressure.active);
    cr_assert_eq (backpressure.episodes, 1);
    cr_assert (sis_backpressure_admit (&backpressure, 19));
    cr_assert_not (sis_backpressure_admit (&backpressure, 20), "the bound holds");
    cr_assert_eq (backpressure.shed, 1);
    cr_assert_float_eq (sis_backpressure_utilization (&backpressure, 5), 25.0, 1e-12);
    //  Disabled: no state changes, the bound still holds.
    config.enabled = false;
    cr_assert_not (sis_backpressure_configure (&backpressure, &config));
    cr_assert_not (sis_backpressure_update (&backpressure, 15));
    cr_assert_not (sis_backpressure_admit (&backpressure, 20));
    config.enabled = true;
    sis_backpressure_configure (&backpressure, &config);
    cr_assert (sis_backpressure_update (&backpressure, 15));
    config.enabled = false;
    cr_assert (sis_backpressure_configure (&backpressure, &config), "disabling turns it off");
    cr_assert_not (backpressure.active);
}

FF_TEST (sisas_backpressure, pending_over_threshold_publishes_and_the_bound_sheds)
{
    s_bus_t bus;
    s_bus_start (&bus, "work", "--backpressure-threshold", "5", "--max-pending", "10",
                 "--backpressure-exit-ratio", "0.5", NULL);
    zsock_t *vehicle = s_vehicle (&bus, "slow", 1000, "*.pdf", NULL);
    for (uint64_t seq = 0; seq < 20; seq++) {
        char subject [16];
        snprintf (subject, sizeof subject, "s%" PRIu64, seq);
        s_send (bus.pub, "work", "plan.pdf", subject, -1, 0.5, 0, seq);
    }
    //  Signals no vehicle takes are not pending: they flow at the bound.
    s_send (bus.pub, "work", "notes.txt", "free", -1, 0.5, 0, 0);
    //  The stream: BACKPRESSURE when pending reached the threshold, the
    //  10 routed signals and the free one (not the shed ones).
    s_delivered_t delivered;
    uint64_t work = 0;
    bool free_seen = false, on_seen = false;
    while ((work < 11 || !on_seen) && s_receive (bus.sub, &delivered, FF_TEST_TIMEOUT_MS)) {
        size_t size;
        const uint8_t *body = s_body (&delivered, &size);
        if (strcmp (delivered.topic, "work") == 0) {
            if (strcmp (delivered.signal.subject, "free") == 0)
                free_seen = true;
            else
                cr_assert_lt (delivered.signal.seq, 10, "the newest were shed");
            work++;
        }
        else
        if (strcmp (delivered.topic, "$sisas.control") == 0) {
            cr_assert (s_str_is (s_map_get (body, size, "payload.kind"), "BACKPRESSURE"));
            cr_assert (s_map_get (body, size, "payload.active").boolean);
            cr_assert_not (on_seen, "one BACKPRESSURE when it goes on");
            on_seen = true;
            cr_assert_float_eq (s_number (s_map_get (body, size, "payload.utilization")), 50.0,
                                1e-9, "on at pending = threshold = 5 of 10");
            cr_assert_eq (s_number (s_map_get (body, size, "payload.pending")), 5);
            cr_assert_eq (s_number (s_map_get (body, size, "payload.threshold")), 5);
            cr_assert_eq (s_number (s_map_get (body, size, "payload.max_pending")), 10);
        }
        s_delivered_free (&delivered);
    }
    cr_assert (on_seen);
    cr_assert_eq (work, 11);
    cr_assert (free_seen);

    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 21);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->in_flight, 10);
    cr_assert_eq (health->backpressure->pending, 10);
    cr_assert (health->backpressure->active);
    cr_assert_float_eq (health->backpressure->utilization, 100.0, 1e-9);
    cr_assert_eq (health->backpressure->shed, 10);
    cr_assert_eq (health->backpressure->episodes, 1);
    cr_assert_eq (s_count (health->stats->shed_by_reason, 3, "overload"), 10);
    cr_assert_str_eq (health->state, "degraded");
    cr_assert_str_eq (health->reasons [0], "backpressure");
    s_health_free (&health);

    //  The vehicle catches up: pending drains, BACKPRESSURE goes off.
    for (int i = 0; i < 10; i++) {
        Farfan__VehicleDeliver *deliver = s_delivery (vehicle, FF_TEST_TIMEOUT_MS);
        cr_assert_not_null (deliver);
        s_ack (vehicle, deliver->delivery_id, true);
        farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    }
    cr_assert (s_receive_control (bus.sub, "BACKPRESSURE", false, &delivered, FF_TEST_TIMEOUT_MS));
    size_t size;
    const uint8_t *body = s_body (&delivered, &size);
    cr_assert_lt (s_number (s_map_get (body, size, "payload.pending")), 2.5);
    s_delivered_free (&delivered);
    health = s_health (bus.dealer);
    while (health->stats->in_flight > 0) {
        s_health_free (&health);
        health = s_health (bus.dealer);
    }
    s_assert_identity (health->stats);
    cr_assert_not (health->backpressure->active);
    cr_assert_eq (health->stats->delivered, bus.base + 11);
    cr_assert_eq (health->stats->shed, 10);
    s_health_free (&health);
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (bus.service), "/metrics", &status);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_shed_total{reason=\"overload\"}"), 10);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_in_flight"), 0);
    free (page);
    zsock_destroy (&vehicle);
    s_bus_stop (&bus);
}

//  Memory stays bounded: far more routable signals than the bound, with
//  nobody acknowledging: pending never passes max_pending.
FF_TEST (sisas_backpressure, pending_never_exceeds_the_bound)
{
    s_bus_t bus;
    s_bus_start (&bus, "none", "--backpressure-threshold", "50", "--max-pending", "100",
                 "--fusion-enabled=false", NULL);
    zsock_t *vehicle = s_vehicle (&bus, "sink", 10000, NULL, NULL);
    for (uint64_t seq = 0; seq < 5000; seq++)
        s_send (bus.pub, "work", "any", "same", -1, 0.5, 0, seq);
    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 5000);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->in_flight, 100);
    cr_assert_eq (health->stats->shed, 4900);
    cr_assert_eq (health->routing->routed, 100);
    s_health_free (&health);
    zsock_destroy (&vehicle);
    s_bus_stop (&bus);
}
