/*  test_sisas_routing — vehicles and performance-based routing through a
    running SISAS: registration rules, order by score, quarantine and
    probe, re-routing from a dead vehicle, ROUTE and VEHICLES answers.
    Vehicles are DEALERs driven by the test; every wait is a receive
    timeout. */
#include "test_sisas_support.c"

//  The next VEHICLE_DELIVER on vehicle, skipping replies (heartbeat
//  replies share the socket); heartbeats `name` every heartbeat_ms
//  while waiting when name is not NULL. NULL on timeout.
static Farfan__VehicleDeliver *
s_next_delivery (zsock_t *vehicle, int timeout_ms, const char *name, int heartbeat_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return NULL;
        if (name) {
            Farfan__VehicleHeartbeat beat = FARFAN__VEHICLE_HEARTBEAT__INIT;
            beat.name = (char *) name;
            ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT,
                                       .correlation_id = "hb", .sender_id = name };
            cr_assert_eq (ff_msg_send (vehicle, NULL, false, &header, &beat.base), 0);
        }
        int wait = name && heartbeat_ms < left ? heartbeat_ms : (int) left;
        zsock_set_rcvtimeo (vehicle, wait);
        ff_msg_t *msg = ff_msg_new ();
        Farfan__VehicleDeliver *deliver = NULL;
        while (!deliver && ff_msg_recv (msg, vehicle) == 0) {
            uint32_t type = ff_msg_type (msg);
            if (type == FARFAN__MESSAGE_TYPE__VEHICLE_DELIVER) {
                deliver = farfan__vehicle_deliver__unpack (NULL, ff_msg_body_size (msg),
                                                           ff_msg_body_data (msg));
                cr_assert_not_null (deliver);
            }
            else
                cr_assert_eq (type, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT_REPLY, "got %s: %s",
                              ff_msg_type_name (type), ff_msg_status_message (msg));
        }
        ff_msg_destroy (&msg);
        if (deliver) {
            zsock_set_rcvtimeo (vehicle, FF_TEST_TIMEOUT_MS);
            return deliver;
        }
    }
}

static Farfan__SisasVehicleList *
s_list (zsock_t *dealer, uint32_t type, const ProtobufCMessage *body, uint32_t reply_type)
{
    ff_msg_t *reply = ff_test_request (dealer, type, body);
    cr_assert_eq (ff_msg_type (reply), reply_type, "%s: %s", ff_msg_type_name (ff_msg_type (reply)),
                  ff_msg_status_message (reply));
    Farfan__SisasVehicleList *list = farfan__sisas_vehicle_list__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_not_null (list);
    ff_msg_destroy (&reply);
    return list;
}

static Farfan__SisasVehicleList *
s_route (zsock_t *dealer, const char *source, const char *type)
{
    Farfan__SisasRouteRequest request = FARFAN__SISAS_ROUTE_REQUEST__INIT;
    request.source = (char *) source;
    request.type = (char *) type;
    return s_list (dealer, FARFAN__MESSAGE_TYPE__SISAS_ROUTE, &request.base,
                   FARFAN__MESSAGE_TYPE__SISAS_ROUTE_REPLY);
}

static Farfan__SisasVehicleList *
s_vehicles (zsock_t *dealer)
{
    Farfan__SisasVehiclesRequest request = FARFAN__SISAS_VEHICLES_REQUEST__INIT;
    return s_list (dealer, FARFAN__MESSAGE_TYPE__SISAS_VEHICLES, &request.base,
                   FARFAN__MESSAGE_TYPE__SISAS_VEHICLES_REPLY);
}

static void
s_expect_error (ff_msg_t *reply, uint32_t code, const char *fragment)
{
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_eq (ff_msg_status_code (reply), code, "code %s: %s",
                  ff_msg_code_name (ff_msg_status_code (reply)), ff_msg_status_message (reply));
    cr_assert (strstr (ff_msg_status_message (reply), fragment), "%s",
               ff_msg_status_message (reply));
}

FF_TEST (sisas_routing, registration_is_checked)
{
    s_bus_t bus;
    s_bus_start (&bus, "x", "--max-vehicles", "1", NULL);
    ff_msg_t *reply = s_register (bus.dealer, "", 1, NULL, NULL);
    s_expect_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "name");
    ff_msg_destroy (&reply);
    reply = s_register (bus.dealer, "v", 0, NULL, NULL);
    s_expect_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "capacity");
    ff_msg_destroy (&reply);
    reply = s_register (bus.dealer, "v", 10001, NULL, NULL);
    s_expect_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "capacity");
    ff_msg_destroy (&reply);
    reply = s_register (bus.dealer, "bad\nname", 1, NULL, NULL);
    s_expect_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "name");
    ff_msg_destroy (&reply);
    Farfan__VehicleRegister many = FARFAN__VEHICLE_REGISTER__INIT;
    char *patterns [33];
    for (int i = 0; i < 33; i++)
        patterns [i] = "*.pdf";
    many.name = "v";
    many.capacity = 1;
    many.patterns = patterns;
    many.n_patterns = 33;
    reply = ff_test_request (bus.dealer, FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER, &many.base);
    s_expect_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "patterns");
    ff_msg_destroy (&reply);
    //  A body that is not a VehicleRegister.
    zmsg_t *raw = zmsg_new ();
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = 1;
    envelope.type = FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER;
    envelope.correlation_id = "garbage";
    uint8_t packed [128];
    size_t packed_size = farfan__envelope__pack (&envelope, packed);
    zmsg_addmem (raw, packed, packed_size);
    zmsg_addmem (raw, "\xff\xff\xff", 3);
    cr_assert_eq (zmsg_send (&raw, bus.dealer), 0);
    ff_msg_t *malformed = ff_msg_new ();
    cr_assert_eq (ff_msg_recv (malformed, bus.dealer), 0);
    s_expect_error (malformed, FARFAN__ERROR_CODE__MALFORMED, "VehicleRegister");
    ff_msg_destroy (&malformed);

    zsock_t *first = s_vehicle (&bus, "first", 4, "*.pdf", NULL);
    zsock_t *second = ff_test_dealer (ff_test_service_endpoint (bus.service, "control"));
    reply = s_register (second, "second", 4, NULL, NULL);
    s_expect_error (reply, FARFAN__ERROR_CODE__OVERLOADED, "max_vehicles");
    ff_msg_destroy (&reply);
    //  Heartbeat and unregister need the registration's connection.
    Farfan__VehicleHeartbeat beat = FARFAN__VEHICLE_HEARTBEAT__INIT;
    beat.name = "first";
    reply = ff_test_request (second, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT, &beat.base);
    s_expect_error (reply, FARFAN__ERROR_CODE__NOT_FOUND, "register again");
    ff_msg_destroy (&reply);
    beat.name = "nobody";
    reply = ff_test_request (first, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT, &beat.base);
    s_expect_error (reply, FARFAN__ERROR_CODE__NOT_FOUND, "nobody");
    ff_msg_destroy (&reply);
    beat.name = "first";
    reply = ff_test_request (first, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT, &beat.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT_REPLY);
    ff_msg_destroy (&reply);
    Farfan__VehicleUnregister leave = FARFAN__VEHICLE_UNREGISTER__INIT;
    leave.name = "first";
    reply = ff_test_request (second, FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTER, &leave.base);
    s_expect_error (reply, FARFAN__ERROR_CODE__NOT_FOUND, "first");
    ff_msg_destroy (&reply);
    reply = ff_test_request (first, FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTER, &leave.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTERED);
    ff_msg_destroy (&reply);
    //  The slot is free again.
    reply = s_register (second, "second", 4, NULL, NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__VEHICLE_REGISTERED);
    Farfan__VehicleRegistered *registered = farfan__vehicle_registered__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_eq (registered->heartbeat_ms, 1000);
    cr_assert_eq (registered->liveness, 3);
    cr_assert_eq (registered->capacity, 4);
    farfan__vehicle_registered__free_unpacked (registered, NULL);
    ff_msg_destroy (&reply);
    zsock_destroy (&first);
    zsock_destroy (&second);
    s_bus_stop (&bus);
}

FF_TEST (sisas_routing, candidates_are_ordered_by_score_and_matched_by_globs)
{
    s_bus_t bus;
    s_bus_start (&bus, "contract.", "--routing-alpha", "0.5", NULL);
    zsock_t *a = s_vehicle (&bus, "alpha", 8, "*.pdf", NULL);
    zsock_t *b = s_vehicle (&bus, "beta", 8, "plans/*.pdf", "contract.*");
    zsock_t *c = s_vehicle (&bus, "gamma", 8, "*.txt", NULL);
    //  ROUTE before any traffic: alpha and beta match, equal scores, by name.
    Farfan__SisasVehicleList *list = s_route (bus.dealer, "plans/bogota.pdf", "contract.result");
    cr_assert_eq (list->n_vehicles, 2);
    cr_assert_str_eq (list->vehicles [0]->name, "alpha");
    cr_assert_str_eq (list->vehicles [1]->name, "beta");
    cr_assert_float_eq (list->vehicles [0]->score, 1.0, 1e-12);
    farfan__sisas_vehicle_list__free_unpacked (list, NULL);
    list = s_route (bus.dealer, "plans/bogota.pdf", "phase.started");
    cr_assert_eq (list->n_vehicles, 1, "beta takes contract.* only");
    farfan__sisas_vehicle_list__free_unpacked (list, NULL);

    //  First signal: alpha (tie, lower slot). alpha fails it: it goes to
    //  beta, which acknowledges it.
    s_send (bus.pub, "contract.result", "plans/bogota.pdf", "Q1", 2, 0.5, 0, 0);
    Farfan__VehicleDeliver *deliver = s_delivery (a, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (deliver);
    cr_assert_eq (deliver->attempt, 1);
    cr_assert_str_eq (deliver->topic, "contract.result");
    ff_signal_t signal;
    cr_assert_eq (ff_signal_decode (&signal, deliver->signal.data, deliver->signal.len, NULL, 0),
                  FF_SIGNAL_OK, "the vehicle gets the signal as received");
    cr_assert_str_eq (signal.subject, "Q1");
    s_ack (a, deliver->delivery_id, false);
    farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    deliver = s_delivery (b, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (deliver);
    cr_assert_eq (deliver->attempt, 2);
    s_ack (b, deliver->delivery_id, true);
    //  The same ack again is stale.
    s_ack (b, deliver->delivery_id, true);
    farfan__vehicle_deliver__free_unpacked (deliver, NULL);

    //  Now beta scores higher: the next signal goes to beta.
    s_send (bus.pub, "contract.result", "plans/bogota.pdf", "Q2", 2, 0.5, 0, 1);
    deliver = s_delivery (b, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (deliver);
    s_ack (b, deliver->delivery_id, true);
    farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    //  A source no vehicle matches is not routed (delivered at once).
    s_send (bus.pub, "contract.result", "notes.md", "Q3", 2, 0.5, 0, 0);

    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 3);
    while (health->stats->in_flight > 0 || health->routing->stale_acks < 1) {
        s_health_free (&health);
        health = s_health (bus.dealer);
    }
    s_assert_identity (health->stats);
    cr_assert_eq (health->routing->routed, 3);
    cr_assert_eq (health->routing->acked_ok, 2);
    cr_assert_eq (health->routing->acked_failed, 1);
    cr_assert_eq (health->routing->rerouted, 1);
    cr_assert_eq (health->routing->stale_acks, 1);
    cr_assert_eq (health->routing->vehicles, 3);
    s_health_free (&health);

    list = s_route (bus.dealer, "plans/bogota.pdf", "contract.result");
    cr_assert_eq (list->n_vehicles, 2);
    cr_assert_str_eq (list->vehicles [0]->name, "beta", "ordered by score");
    cr_assert_str_eq (list->vehicles [1]->name, "alpha");
    cr_assert_gt (list->vehicles [0]->score, list->vehicles [1]->score);
    cr_assert_float_eq (list->vehicles [1]->success_rate, 0.5, 1e-12, "one failure at alpha 0.5");
    cr_assert_eq (list->vehicles [0]->acked_ok, 2);
    cr_assert_str_eq (list->vehicles [0]->state, "live");
    farfan__sisas_vehicle_list__free_unpacked (list, NULL);
    list = s_route (bus.dealer, "notes.md", "");
    cr_assert_eq (list->n_vehicles, 0);
    farfan__sisas_vehicle_list__free_unpacked (list, NULL);
    list = s_vehicles (bus.dealer);
    cr_assert_eq (list->n_vehicles, 3);
    cr_assert_not_null (s_find_vehicle (list->vehicles, list->n_vehicles, "gamma"));
    farfan__sisas_vehicle_list__free_unpacked (list, NULL);
    Farfan__SisasRouteRequest empty = FARFAN__SISAS_ROUTE_REQUEST__INIT;
    ff_msg_t *reply = ff_test_request (bus.dealer, FARFAN__MESSAGE_TYPE__SISAS_ROUTE, &empty.base);
    s_expect_error (reply, FARFAN__ERROR_CODE__INVALID_ARGUMENT, "source");
    ff_msg_destroy (&reply);
    zsock_destroy (&a);
    zsock_destroy (&b);
    zsock_destroy (&c);
    s_bus_stop (&bus);
}

FF_TEST (sisas_routing, a_failing_vehicle_is_quarantined_then_probed)
{
    s_bus_t bus;
    s_bus_start (&bus, "job", "--routing-alpha", "0.5", "--min-samples", "2",
                 "--success-floor", "0.5", "--quarantine-ms", "300", NULL);
    zsock_t *bad = s_vehicle (&bus, "bad", 8, NULL, NULL);
    //  Two failures: 0.5, then 0.25 < 0.5 with 2 samples: quarantined.
    for (uint64_t seq = 0; seq < 2; seq++) {
        char subject [8];
        snprintf (subject, sizeof subject, "s%" PRIu64, seq);
        s_send (bus.pub, "job", "file.pdf", subject, -1, 0.5, 0, seq);
        Farfan__VehicleDeliver *deliver = s_delivery (bad, FF_TEST_TIMEOUT_MS);
        cr_assert_not_null (deliver);
        s_ack (bad, deliver->delivery_id, false);
        farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    }
    Farfan__SisasVehicleList *list = s_vehicles (bus.dealer);
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while (strcmp (list->vehicles [0]->state, "quarantined") != 0 && zclock_mono () < deadline) {
        farfan__sisas_vehicle_list__free_unpacked (list, NULL);
        list = s_vehicles (bus.dealer);
    }
    cr_assert_str_eq (list->vehicles [0]->state, "quarantined");
    cr_assert_float_eq (list->vehicles [0]->score, 0, 1e-12);
    cr_assert_eq (list->vehicles [0]->quarantines, 1);
    farfan__sisas_vehicle_list__free_unpacked (list, NULL);
    //  Its failed signals had nowhere else to go: they ended failed.
    Farfan__SisasHealth *health = s_health (bus.dealer);
    cr_assert_eq (health->stats->in_flight, 0);
    s_assert_identity (health->stats);
    s_health_free (&health);

    //  A good vehicle takes the traffic meanwhile; once the quarantine is
    //  over, one signal goes to bad as a probe.
    zsock_t *good = s_vehicle (&bus, "good", 8, NULL, NULL);
    zpoller_t *poller = zpoller_new (good, bad, NULL);
    bool probed = false;
    uint64_t seq = 2, normal = 0;
    deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while (!probed && zclock_mono () < deadline) {
        char subject [16];
        snprintf (subject, sizeof subject, "x%" PRIu64, seq);
        s_send (bus.pub, "job", "file.pdf", subject, -1, 0.5, 0, seq++);
        zsock_t *which = (zsock_t *) zpoller_wait (poller, 100);
        if (!which)
            continue;
        Farfan__VehicleDeliver *deliver = s_delivery (which, 100);
        cr_assert_not_null (deliver);
        if (which == bad) {
            cr_assert (deliver->probe, "a quarantined vehicle gets probes only");
            probed = true;
            s_ack (bad, deliver->delivery_id, true);
        }
        else {
            cr_assert_not (deliver->probe);
            normal++;
            s_ack (good, deliver->delivery_id, true);
        }
        farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    }
    cr_assert (probed, "no probe within the timeout");
    cr_assert_gt (normal, 0);
    //  The ok probe ends the quarantine.
    list = s_vehicles (bus.dealer);
    Farfan__SisasVehicle *back = s_find_vehicle (list->vehicles, list->n_vehicles, "bad");
    deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while (strcmp (back->state, "live") != 0 && zclock_mono () < deadline) {
        farfan__sisas_vehicle_list__free_unpacked (list, NULL);
        list = s_vehicles (bus.dealer);
        back = s_find_vehicle (list->vehicles, list->n_vehicles, "bad");
    }
    cr_assert_str_eq (back->state, "live");
    cr_assert_float_eq (back->success_rate, 1.0, 1e-12);
    farfan__sisas_vehicle_list__free_unpacked (list, NULL);
    zpoller_destroy (&poller);
    //  Drain: deliveries still in flight at good are acknowledged.
    Farfan__VehicleDeliver *late;
    while ((late = s_delivery (good, 200))) {
        s_ack (good, late->delivery_id, true);
        farfan__vehicle_deliver__free_unpacked (late, NULL);
    }
    health = s_health (bus.dealer);
    s_assert_identity (health->stats);
    s_health_free (&health);
    zsock_destroy (&good);
    zsock_destroy (&bad);
    s_bus_stop (&bus);
}

FF_TEST (sisas_routing, a_dead_vehicles_deliveries_are_rerouted)
{
    s_bus_t bus;
    s_bus_start (&bus, "job", "--vehicle-heartbeat-ms", "100", "--vehicle-liveness", "2", NULL);
    zsock_t *silent = s_vehicle (&bus, "silent", 8, NULL, NULL);
    for (uint64_t seq = 0; seq < 3; seq++) {
        char subject [8];
        snprintf (subject, sizeof subject, "s%" PRIu64, seq);
        s_send (bus.pub, "job", "file.pdf", subject, -1, 0.5, 0, seq);
        Farfan__VehicleDeliver *deliver = s_delivery (silent, FF_TEST_TIMEOUT_MS);
        cr_assert_not_null (deliver);
        farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    }
    //  A live vehicle arrives and keeps its heartbeat; silent says nothing.
    zsock_t *alive = s_vehicle (&bus, "alive", 8, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        Farfan__VehicleDeliver *deliver = s_next_delivery (alive, FF_TEST_TIMEOUT_MS, "alive", 50);
        cr_assert_not_null (deliver, "delivery %d not re-routed", i);
        cr_assert_eq (deliver->attempt, 2);
        s_ack (alive, deliver->delivery_id, true);
        farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    }
    Farfan__SisasHealth *health = s_health (bus.dealer);
    while (health->stats->in_flight > 0) {
        s_health_free (&health);
        health = s_health (bus.dealer);
    }
    s_assert_identity (health->stats);
    cr_assert_eq (health->routing->rerouted, 3);
    cr_assert_eq (health->routing->acked_ok, 3);
    cr_assert_eq (health->routing->vehicles, 1, "silent is gone");
    s_health_free (&health);
    //  The dead vehicle is told to register again.
    Farfan__VehicleHeartbeat beat = FARFAN__VEHICLE_HEARTBEAT__INIT;
    beat.name = "silent";
    ff_msg_t *reply = ff_test_request (silent, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT, &beat.base);
    s_expect_error (reply, FARFAN__ERROR_CODE__NOT_FOUND, "register again");
    ff_msg_destroy (&reply);
    zsock_destroy (&silent);
    zsock_destroy (&alive);
    s_bus_stop (&bus);
}

FF_TEST (sisas_routing, registering_again_or_leaving_reroutes_what_was_held)
{
    s_bus_t bus;
    s_bus_start (&bus, "job", NULL);
    zsock_t *vehicle = s_vehicle (&bus, "v", 8, NULL, NULL);
    s_send (bus.pub, "job", "f", "s0", -1, 0.5, 0, 0);
    Farfan__VehicleDeliver *deliver = s_delivery (vehicle, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (deliver);
    uint64_t first_id = deliver->delivery_id;
    farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    //  The vehicle restarts: what it held comes again.
    ff_msg_t *reply = s_register (vehicle, "v", 8, NULL, NULL);
    Farfan__VehicleRegistered *registered = farfan__vehicle_registered__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_eq (registered->rerouted, 1);
    farfan__vehicle_registered__free_unpacked (registered, NULL);
    ff_msg_destroy (&reply);
    deliver = s_delivery (vehicle, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (deliver);
    cr_assert_eq (deliver->attempt, 2);
    //  The old delivery id is no longer acknowledged; the new one is held.
    s_ack (vehicle, first_id, true);
    farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    Farfan__VehicleUnregister leave = FARFAN__VEHICLE_UNREGISTER__INIT;
    leave.name = "v";
    reply = ff_test_request (vehicle, FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTER, &leave.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTERED);
    Farfan__VehicleUnregistered *left = farfan__vehicle_unregistered__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_eq (left->rerouted, 1);
    farfan__vehicle_unregistered__free_unpacked (left, NULL);
    ff_msg_destroy (&reply);
    //  No vehicle is left: the signal ends unroutable (it was published).
    Farfan__SisasHealth *health = s_health (bus.dealer);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->in_flight, 0);
    cr_assert_eq (health->routing->unroutable, 1);
    cr_assert_eq (health->routing->stale_acks, 1);
    s_health_free (&health);
    zsock_destroy (&vehicle);
    s_bus_stop (&bus);
}

FF_TEST (sisas_routing, disabling_routing_ends_queued_signals)
{
    s_bus_t bus;
    s_bus_start (&bus, "job", NULL);
    zsock_t *vehicle = s_vehicle (&bus, "v", 1, NULL, NULL);
    for (uint64_t seq = 0; seq < 3; seq++)
        s_send (bus.pub, "job", "f", "s", -1, 0.5, 0, seq);
    //  One subject: the first is routed, the others absorbed by fusion.
    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 3);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->absorbed, 2, "same subject: fused");
    cr_assert_eq (health->stats->in_flight, 1);
    s_health_free (&health);
    for (uint64_t seq = 3; seq < 5; seq++) {
        char subject [8];
        snprintf (subject, sizeof subject, "s%" PRIu64, seq);
        s_send (bus.pub, "job", "f", subject, -1, 0.5, 0, seq);
    }
    //  Capacity 1: those two wait in the queue.
    health = s_health_after (bus.dealer, bus.base + 5);
    cr_assert_eq (health->stats->in_flight, 3);
    cr_assert_eq (health->routing->queued, 2);
    s_health_free (&health);
    ff_msg_t *reply = s_configure (bus.dealer, "routing_enabled", "false", NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE_REPLY);
    ff_msg_destroy (&reply);
    health = s_health (bus.dealer);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->in_flight, 1, "the delivery at the vehicle still waits");
    cr_assert_eq (health->routing->unroutable, 2);
    s_health_free (&health);
    Farfan__VehicleDeliver *deliver = s_delivery (vehicle, FF_TEST_TIMEOUT_MS);
    s_ack (vehicle, deliver->delivery_id, true);
    farfan__vehicle_deliver__free_unpacked (deliver, NULL);
    //  New signals are no longer routed.
    s_send (bus.pub, "job", "f", "s9", -1, 0.5, 0, 9);
    health = s_health_after (bus.dealer, bus.base + 6);
    while (health->stats->in_flight > 0) {
        s_health_free (&health);
        health = s_health (bus.dealer);
    }
    s_assert_identity (health->stats);
    cr_assert_eq (health->routing->routed, 1);
    s_health_free (&health);
    cr_assert_null (s_delivery (vehicle, 100), "nothing more is routed");
    zsock_destroy (&vehicle);
    s_bus_stop (&bus);
}
