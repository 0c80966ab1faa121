/*  test_sisas_control — SISAS's control API: HEALTH and STATS answers,
    CONFIGURE (atomic, checked, every key), malformed bodies, PING, and
    the one-way VEHICLE_ACK. */
#include "test_sisas_support.c"

#include "sis_server.h"
#include "sis_settings.h"

//  Sends type with the raw body bytes; returns the reply.
static ff_msg_t *
s_raw_request (zsock_t *dealer, uint32_t type, const void *body, size_t size)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = 1;
    envelope.type = (Farfan__MessageType) type;
    envelope.correlation_id = "raw";
    uint8_t packed [128];
    size_t packed_size = farfan__envelope__pack (&envelope, packed);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, packed, packed_size);
    zmsg_addmem (msg, body, size);
    cr_assert_eq (zmsg_send (&msg, dealer), 0);
    ff_msg_t *reply = ff_msg_new ();
    if (ff_msg_recv (reply, dealer) != 0)
        ff_msg_destroy (&reply);
    return reply;
}

static const char *
s_setting (Farfan__SisasSettings *settings, const char *key)
{
    for (size_t i = 0; i < settings->n_settings; i++)
        if (strcmp (settings->settings [i]->key, key) == 0)
            return settings->settings [i]->value;
    cr_assert_fail ("no setting %s", key);
    return NULL;
}

static Farfan__SisasSettings *
s_settings (ff_msg_t *reply)
{
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE_REPLY, "%s: %s",
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    Farfan__SisasSettings *settings = farfan__sisas_settings__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_not_null (settings);
    return settings;
}

static void
s_expect_invalid (ff_msg_t *reply, const char *fragment)
{
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT, "%s",
                  ff_msg_status_message (reply));
    cr_assert (strstr (ff_msg_status_message (reply), fragment), "%s",
               ff_msg_status_message (reply));
    ff_msg_destroy (&reply);
}

FF_TEST (sisas_control, health_reports_every_feature)
{
    s_bus_t bus;
    s_bus_start (&bus, "x", "--rate-limit", "5000", "--backpressure-threshold", "7",
                 "--max-pending", "70", "--fusion-window-ms", "250", NULL);
    Farfan__SisasHealth *health = s_health (bus.dealer);
    cr_assert_str_eq (health->state, "healthy");
    cr_assert_eq (health->n_reasons, 0);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->received, bus.base);
    cr_assert_eq (health->stats->n_shed_by_reason, 4);
    cr_assert_eq (s_count (health->stats->shed_by_reason, 4, "storm"), 0);
    cr_assert_eq (s_count (health->stats->shed_by_reason, 4, "overload"), 0);
    cr_assert_eq (s_count (health->stats->shed_by_reason, 4, "publish"), 0);
    cr_assert_eq (s_count (health->stats->shed_by_reason, 4, "source_rate"), 0);
    cr_assert_gt (health->stats->received_rate, 0, "probes just arrived");
    cr_assert (health->fusion->enabled);
    cr_assert_eq (health->fusion->window_ms, 250);
    cr_assert_str_eq (health->fusion->method, "max");
    cr_assert_eq (health->fusion->max_groups, 16384);
    cr_assert (health->storm->enabled);
    cr_assert_not (health->storm->active);
    cr_assert_float_eq (health->storm->rate_limit, 5000, 1e-9);
    cr_assert_float_eq (health->storm->exit_ratio, 0.8, 1e-12);
    cr_assert (health->backpressure->enabled);
    cr_assert_eq (health->backpressure->threshold, 7);
    cr_assert_eq (health->backpressure->max_pending, 70);
    cr_assert_float_eq (health->backpressure->utilization, 0, 1e-12);
    cr_assert (health->routing->enabled);
    cr_assert_eq (health->routing->vehicles, 0);
    cr_assert (health->prediction->enabled);
    cr_assert_eq (health->prediction->n_phases, 0);
    s_health_free (&health);

    Farfan__SisasStatsRequest request = FARFAN__SISAS_STATS_REQUEST__INIT;
    ff_msg_t *reply = ff_test_request (bus.dealer, FARFAN__MESSAGE_TYPE__SISAS_STATS, &request.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SISAS_STATS_REPLY);
    Farfan__SisasStats *stats = farfan__sisas_stats__unpack (NULL, ff_msg_body_size (reply),
                                                             ff_msg_body_data (reply));
    s_assert_identity (stats);
    cr_assert_eq (stats->n_rejected_by_reason, 8);
    farfan__sisas_stats__free_unpacked (stats, NULL);
    ff_msg_destroy (&reply);
    ff_test_assert_pings (bus.dealer);
    s_bus_stop (&bus);
}

FF_TEST (sisas_control, configure_changes_settings_atomically)
{
    s_bus_t bus;
    s_bus_start (&bus, "x", NULL);
    //  Reading: no settings.
    ff_msg_t *reply = s_configure (bus.dealer, NULL);
    Farfan__SisasSettings *settings = s_settings (reply);
    cr_assert_eq (settings->n_settings, sis_settings_count ());
    cr_assert_str_eq (s_setting (settings, "fusion_window_ms"), "1000");
    cr_assert_str_eq (s_setting (settings, "fusion_method"), "max");
    cr_assert_str_eq (s_setting (settings, "storm_enabled"), "true");
    cr_assert_str_eq (s_setting (settings, "rate_limit"), "100000");
    farfan__sisas_settings__free_unpacked (settings, NULL);
    ff_msg_destroy (&reply);

    reply = s_configure (bus.dealer, "fusion_window_ms", "200", "fusion_method", "corroborate",
                         "rate_limit", "2500.5", "storm_enabled", "off",
                         "backpressure_threshold", "50", "max_pending", "60",
                         "prediction_alpha", "0.5", NULL);
    settings = s_settings (reply);
    cr_assert_str_eq (s_setting (settings, "fusion_window_ms"), "200");
    cr_assert_str_eq (s_setting (settings, "fusion_method"), "corroborate");
    cr_assert_str_eq (s_setting (settings, "rate_limit"), "2500.5");
    cr_assert_str_eq (s_setting (settings, "storm_enabled"), "false");
    farfan__sisas_settings__free_unpacked (settings, NULL);
    ff_msg_destroy (&reply);
    Farfan__SisasHealth *health = s_health (bus.dealer);
    cr_assert_eq (health->fusion->window_ms, 200);
    cr_assert_str_eq (health->fusion->method, "corroborate");
    cr_assert_not (health->storm->enabled);
    cr_assert_eq (health->backpressure->threshold, 50);
    cr_assert_eq (health->backpressure->max_pending, 60);
    s_health_free (&health);

    //  Each bad one is refused, naming the key, and nothing changes.
    s_expect_invalid (s_configure (bus.dealer, "fusion_window_ms", "300", "bogus_key", "1", NULL),
                      "bogus_key: unknown setting");
    s_expect_invalid (s_configure (bus.dealer, "fusion_window_ms", "0", NULL),
                      "fusion_window_ms: \"0\" is outside 1..60000");
    s_expect_invalid (s_configure (bus.dealer, "fusion_window_ms", "12x", NULL), "not an integer");
    s_expect_invalid (s_configure (bus.dealer, "rate_limit", "fast", NULL), "not a number");
    s_expect_invalid (s_configure (bus.dealer, "rate_limit", "nan", NULL), "not a number");
    s_expect_invalid (s_configure (bus.dealer, "storm_enabled", "maybe", NULL), "not a boolean");
    s_expect_invalid (s_configure (bus.dealer, "fusion_method", "average", NULL), "not a method");
    s_expect_invalid (s_configure (bus.dealer, "max_sources", "10", NULL), "fixed at start");
    s_expect_invalid (s_configure (bus.dealer, "ingest_endpoint", "@tcp://*:1", NULL),
                      "fixed at start");
    s_expect_invalid (s_configure (bus.dealer, "backpressure_threshold", "100", NULL),
                      "exceeds max_pending 60");
    s_expect_invalid (s_configure (bus.dealer, "success_floor", "1.5", NULL), "outside 0..1");
    reply = s_configure (bus.dealer, NULL);
    settings = s_settings (reply);
    cr_assert_str_eq (s_setting (settings, "fusion_window_ms"), "200", "unchanged");
    cr_assert_str_eq (s_setting (settings, "backpressure_threshold"), "50");
    farfan__sisas_settings__free_unpacked (settings, NULL);
    ff_msg_destroy (&reply);
    //  Both together pass the cross-key rule.
    reply = s_configure (bus.dealer, "max_pending", "500", "backpressure_threshold", "100", NULL);
    settings = s_settings (reply);
    cr_assert_str_eq (s_setting (settings, "backpressure_threshold"), "100");
    farfan__sisas_settings__free_unpacked (settings, NULL);
    ff_msg_destroy (&reply);
    s_bus_stop (&bus);
}

//  Every run-time key is a real setting, and accepts its own value back.
FF_TEST (sisas_control, every_runtime_key_round_trips)
{
    s_bus_t bus;
    s_bus_start (&bus, "x", NULL);
    ff_msg_t *reply = s_configure (bus.dealer, NULL);
    Farfan__SisasSettings *settings = s_settings (reply);
    Farfan__SisasSetting *pointers [64];
    for (size_t i = 0; i < settings->n_settings; i++)
        pointers [i] = settings->settings [i];
    Farfan__SisasConfigure request = FARFAN__SISAS_CONFIGURE__INIT;
    request.settings = pointers;
    request.n_settings = settings->n_settings;
    ff_msg_t *again = ff_test_request (bus.dealer, FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE, &request.base);
    Farfan__SisasSettings *after = s_settings (again);
    cr_assert_eq (after->n_settings, settings->n_settings);
    for (size_t i = 0; i < after->n_settings; i++)
        cr_assert_str_eq (after->settings [i]->value, settings->settings [i]->value, "%s",
                          after->settings [i]->key);
    farfan__sisas_settings__free_unpacked (after, NULL);
    farfan__sisas_settings__free_unpacked (settings, NULL);
    ff_msg_destroy (&again);
    ff_msg_destroy (&reply);
    s_bus_stop (&bus);
}

FF_TEST (sisas_control, malformed_bodies_are_answered_and_acks_never_are)
{
    s_bus_t bus;
    s_bus_start (&bus, "x", NULL);
    uint32_t types [] = {
        FARFAN__MESSAGE_TYPE__SISAS_HEALTH, FARFAN__MESSAGE_TYPE__SISAS_STATS,
        FARFAN__MESSAGE_TYPE__SISAS_PREDICT, FARFAN__MESSAGE_TYPE__SISAS_ROUTE,
        FARFAN__MESSAGE_TYPE__SISAS_VEHICLES, FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE,
        FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT,
        FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTER,
    };
    for (size_t i = 0; i < sizeof types / sizeof types [0]; i++) {
        ff_msg_t *reply = s_raw_request (bus.dealer, types [i], "\xff\xff\xff", 3);
        cr_assert_not_null (reply, "%s not answered", ff_msg_type_name (types [i]));
        cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR);
        cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__MALFORMED, "%s: %s",
                      ff_msg_type_name (types [i]), ff_msg_status_message (reply));
        ff_msg_destroy (&reply);
    }
    //  A malformed ack gets no answer; an unknown type gets UNSUPPORTED.
    zsock_set_rcvtimeo (bus.dealer, 200);
    ff_msg_t *reply = s_raw_request (bus.dealer, FARFAN__MESSAGE_TYPE__VEHICLE_ACK, "\xff\xff\xff", 3);
    cr_assert_null (reply, "VEHICLE_ACK is never answered");
    zsock_set_rcvtimeo (bus.dealer, FF_TEST_TIMEOUT_MS);
    reply = s_raw_request (bus.dealer, 399, "", 0);
    cr_assert_not_null (reply);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__UNSUPPORTED);
    ff_msg_destroy (&reply);
    //  A reply type sent as a request is not handled here either.
    reply = s_raw_request (bus.dealer, FARFAN__MESSAGE_TYPE__SISAS_HEALTH_REPLY, "", 0);
    cr_assert_not_null (reply);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__UNSUPPORTED);
    ff_msg_destroy (&reply);
    Farfan__SisasPredictRequest predict = FARFAN__SISAS_PREDICT_REQUEST__INIT;
    predict.phase = "P10";
    reply = ff_test_request (bus.dealer, FARFAN__MESSAGE_TYPE__SISAS_PREDICT, &predict.base);
    s_expect_invalid (reply, "P10");
    Farfan__SisasHealth *health = s_health (bus.dealer);
    cr_assert_eq (health->routing->acks_malformed, 1);
    s_health_free (&health);
    ff_test_assert_pings (bus.dealer);
    s_bus_stop (&bus);
}

//  The settings table: every key has a FARFAN_SISAS_* variable and a
//  cross-key rule refuses a threshold above the bound at start.
FF_TEST (sisas_control, bad_settings_stop_the_start)
{
    sis_config_t config;
    memset (&config, 0, sizeof config);
    char *argv [] = { "sisas", "--backpressure-threshold", "500", "--max-pending", "100",
                      "--ingest-endpoint", "@tcp://127.0.0.1:*", "--publish-endpoint",
                      "@tcp://127.0.0.1:*", "--control-endpoint", "@tcp://127.0.0.1:*",
                      "--http-port", "0" };
    char err [256] = "";
    cr_assert_eq (ff_config_load (&sis_config_schema, &config, 13, argv, stdout, err, sizeof err),
                  FF_CONFIG_LOADED, "%s", err);
    sis_server_t *server = sis_server_new (&config, err, sizeof err);
    cr_assert_null (server);
    cr_assert (strstr (err, "backpressure_threshold: 500 exceeds max_pending 100"), "%s", err);
    ff_config_free (&sis_config_schema, &config);

    memset (&config, 0, sizeof config);
    char *method [] = { "sisas", "--fusion-method", "median" };
    cr_assert_eq (ff_config_load (&sis_config_schema, &config, 3, method, stdout, err, sizeof err),
                  FF_CONFIG_LOADED);
    cr_assert_null (sis_server_new (&config, err, sizeof err));
    cr_assert (strstr (err, "fusion_method"), "%s", err);
    ff_config_free (&sis_config_schema, &config);

    memset (&config, 0, sizeof config);
    setenv ("FARFAN_SISAS_RATE_LIMIT", "-3", 1);
    char *plain [] = { "sisas" };
    cr_assert_eq (ff_config_load (&sis_config_schema, &config, 1, plain, stdout, err, sizeof err),
                  FF_CONFIG_ERROR);
    cr_assert (strstr (err, "rate_limit") && strstr (err, "FARFAN_SISAS_RATE_LIMIT"), "%s", err);
    unsetenv ("FARFAN_SISAS_RATE_LIMIT");
    ff_config_free (&sis_config_schema, &config);
}

//  The daemon itself: a bad combination ends with exit 2 and the key named.
FF_TEST (sisas_control, the_daemon_refuses_bad_combinations_with_exit_2)
{
    char program [512];
    ff_test_build_path ("services/farfan-sisas", program, sizeof program);
    char *argv [] = { program, "--backpressure-threshold", "20000", "--http-port", "0", NULL };
    ff_test_process_t *process = ff_test_spawn (program, argv, NULL);
    cr_assert_eq (ff_test_process_wait_exit (process, 10000), 2);
    cr_assert (strstr (ff_test_process_stderr (process),
                       "backpressure_threshold: 20000 exceeds max_pending 10000"), "%s",
               ff_test_process_stderr (process));
    ff_test_process_destroy (&process);
    char *method [] = { program, "--fusion-method", "median", NULL };
    process = ff_test_spawn (program, method, NULL);
    cr_assert_eq (ff_test_process_wait_exit (process, 10000), 2);
    cr_assert (strstr (ff_test_process_stderr (process), "fusion_method"));
    ff_test_process_destroy (&process);
}
