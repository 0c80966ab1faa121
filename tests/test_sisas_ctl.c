/*  test_sisas_ctl — farfanctl sisas ... and farfanctl signals ... (the
    real binary) against a SISAS running in this process: outputs, JSON,
    exit codes. */
#include "test_sisas_support.c"

#include <jansson.h>

typedef struct {
    int code;
    char *out;
    char *err;
} s_result_t;

//  Runs farfanctl with args (NULL-terminated) and the SISAS endpoints in
//  its environment; waits up to 20 s.
static s_result_t
s_farfanctl (s_bus_t *bus, ...)
{
    char program [512];
    ff_test_build_path ("services/farfanctl", program, sizeof program);
    char *argv [32] = { program };
    int argc = 1;
    va_list args;
    va_start (args, bus);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 31)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    char control [256], ingest [256], publish [256];
    snprintf (control, sizeof control, "FARFAN_CTL_SISAS=%s",
              ff_test_service_endpoint (bus->service, "control"));
    snprintf (ingest, sizeof ingest, "FARFAN_CTL_SISAS_INGEST=%s",
              ff_test_service_endpoint (bus->service, "ingest"));
    snprintf (publish, sizeof publish, "FARFAN_CTL_SISAS_PUBLISH=%s",
              ff_test_service_endpoint (bus->service, "publish"));
    char *env [] = { control, ingest, publish, NULL };
    ff_test_process_t *process = ff_test_spawn (program, argv, env);
    s_result_t result;
    result.code = ff_test_process_wait_exit (process, 20000);
    result.out = strdup (ff_test_process_stdout (process));
    result.err = strdup (ff_test_process_stderr (process));
    ff_test_process_destroy (&process);
    return result;
}

static void
s_result_free (s_result_t *result)
{
    free (result->out);
    free (result->err);
}

static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *value = json_loads (text, 0, &error);
    cr_assert_not_null (value, "not JSON (%s): %s", error.text, text);
    return value;
}

FF_TEST (sisas_ctl, health_stats_and_settings)
{
    s_bus_t bus;
    s_bus_start (&bus, "x", NULL);
    s_result_t result = s_farfanctl (&bus, "sisas", "health", NULL);
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert (strstr (result.out, "SISAS healthy"), "%s", result.out);
    cr_assert (strstr (result.out, "identity              holds"), "%s", result.out);
    cr_assert (strstr (result.out, "FEATURE       STATE  FIGURES"), "aligned table:\n%s", result.out);
    cr_assert (strstr (result.out, "fusion        on     window 1000 ms, max"), "%s", result.out);
    s_result_free (&result);

    result = s_farfanctl (&bus, "sisas", "health", "--json", NULL);
    cr_assert_eq (result.code, 0, "%s", result.err);
    json_t *health = s_json (result.out);
    cr_assert_str_eq (json_string_value (json_object_get (health, "state")), "healthy");
    json_t *stats = json_object_get (health, "stats");
    cr_assert (json_is_true (json_object_get (stats, "identity_holds")));
    cr_assert_eq (json_integer_value (json_object_get (stats, "received")), (json_int_t) bus.base);
    cr_assert (json_is_object (json_object_get (health, "storm")));
    json_decref (health);
    s_result_free (&result);

    result = s_farfanctl (&bus, "sisas", "stats", "--json", NULL);
    cr_assert_eq (result.code, 0);
    json_t *reply = s_json (result.out);
    cr_assert_eq (json_array_size (json_object_get (reply, "rejected_by_reason")), 8);
    json_decref (reply);
    s_result_free (&result);

    result = s_farfanctl (&bus, "sisas", "configure", "rate_limit=5000", "fusion_method=corroborate",
                          NULL);
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert (strstr (result.out, "SETTING"), "%s", result.out);
    cr_assert (strstr (result.out, "fusion_method            corroborate"), "%s", result.out);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "configure", "--json", NULL);
    reply = s_json (result.out);
    json_t *settings = json_object_get (reply, "settings");
    bool found = false;
    for (size_t i = 0; i < json_array_size (settings); i++) {
        json_t *setting = json_array_get (settings, i);
        if (strcmp (json_string_value (json_object_get (setting, "key")), "rate_limit") == 0) {
            cr_assert_str_eq (json_string_value (json_object_get (setting, "value")), "5000");
            found = true;
        }
    }
    cr_assert (found);
    json_decref (reply);
    s_result_free (&result);

    //  Errors: the service's (1), usage (2), nobody there (3).
    result = s_farfanctl (&bus, "sisas", "configure", "rate_limit=0", NULL);
    cr_assert_eq (result.code, 1);
    cr_assert (strstr (result.err, "INVALID_ARGUMENT: rate_limit"), "%s", result.err);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "configure", "rate_limit", NULL);
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "fly", NULL);
    cr_assert_eq (result.code, 2);
    cr_assert (strstr (result.err, "unknown subcommand"), "%s", result.err);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "predict", NULL);
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "predict", "P1", NULL);
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "health", "--endpoint", "tcp://127.0.0.1:1",
                          "--timeout", "100", NULL);
    cr_assert_eq (result.code, 3);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "--help", NULL);
    cr_assert_eq (result.code, 0);
    cr_assert (strstr (result.out, "configure [KEY=VALUE...]"));
    s_result_free (&result);
    s_bus_stop (&bus);
}

FF_TEST (sisas_ctl, predict_route_and_vehicles)
{
    s_bus_t bus;
    s_bus_start (&bus, "phase.", NULL);
    s_send (bus.pub, "phase.started", "orchestrator", "run-1", 2, 1.0, 0, 0);
    for (uint64_t i = 0; i < 30; i++) {
        char subject [16];
        snprintf (subject, sizeof subject, "Q%03" PRIu64, i);
        s_send (bus.pub, "contract.result", "factory", subject, 2, 0.5, 0, i);
    }
    s_send (bus.pub, "phase.completed", "orchestrator", "run-1", 2, 1.0, 0, 1);
    s_delivered_t delivered;
    cr_assert (s_receive_topic (bus.sub, "phase.completed", &delivered, FF_TEST_TIMEOUT_MS));
    s_delivered_free (&delivered);
    s_result_t result = s_farfanctl (&bus, "sisas", "predict", "P02", NULL);
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert (strstr (result.out, "predicted signals       30.0 (confidence 0.10)"), "%s",
               result.out);
    cr_assert (strstr (result.out, "history (oldest first)  30"), "%s", result.out);
    s_result_free (&result);

    zsock_t *vehicle = s_vehicle (&bus, "pdf-reader", 4, "*.pdf", NULL);
    result = s_farfanctl (&bus, "sisas", "route", "plans/bogota.pdf", NULL);
    cr_assert_eq (result.code, 0, "%s", result.err);
    cr_assert (strstr (result.out, "VEHICLE     STATE  SCORE"), "%s", result.out);
    cr_assert (strstr (result.out, "pdf-reader  live   1.000"), "%s", result.out);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "route", "notes.txt", "--json", NULL);
    cr_assert_eq (result.code, 0);
    json_t *reply = s_json (result.out);
    cr_assert_eq (json_array_size (json_object_get (reply, "vehicles")), 0);
    json_decref (reply);
    s_result_free (&result);
    result = s_farfanctl (&bus, "sisas", "vehicles", NULL);
    cr_assert_eq (result.code, 0);
    cr_assert (strstr (result.out, "*.pdf"), "%s", result.out);
    s_result_free (&result);
    zsock_destroy (&vehicle);
    s_bus_stop (&bus);
}

FF_TEST (sisas_ctl, signals_publish_and_tail)
{
    s_bus_t bus;
    s_bus_start (&bus, "ctl.", NULL);
    s_result_t result = s_farfanctl (&bus, "signals", "publish", "--type", "ctl.test", "--subject",
                                     "PA01/DIM01/Q001", "--confidence", "0.25", "--phase", "P03",
                                     "--count", "5", "--rate", "500", NULL);
    cr_assert_eq (result.code, 0, "%s %s", result.out, result.err);
    cr_assert (strstr (result.out, "published 5 of 5 signals"), "%s", result.out);
    s_result_free (&result);
    //  One subject: the first is delivered, the rest absorbed.
    s_delivered_t delivered;
    cr_assert (s_receive_topic (bus.sub, "ctl.test", &delivered, FF_TEST_TIMEOUT_MS));
    cr_assert_eq (delivered.error, FF_SIGNAL_OK);
    cr_assert_str_eq (delivered.signal.subject, "PA01/DIM01/Q001");
    cr_assert_eq (delivered.signal.phase, 3);
    cr_assert_float_eq (delivered.signal.confidence, 0.25, 1e-12);
    cr_assert (strncmp (delivered.signal.source, "farfanctl/", 10) == 0);
    s_delivered_free (&delivered);
    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 5);
    cr_assert_eq (health->stats->absorbed, 4);
    s_assert_identity (health->stats);
    s_health_free (&health);

    result = s_farfanctl (&bus, "signals", "publish", "--type", "ctl.json", "--source", "me",
                          "--json", NULL);
    cr_assert_eq (result.code, 0, "%s", result.err);
    json_t *reply = s_json (result.out);
    cr_assert_eq (json_integer_value (json_object_get (reply, "sent")), 1);
    cr_assert_str_eq (json_string_value (json_object_get (reply, "source")), "me");
    json_decref (reply);
    s_result_free (&result);
    //  Usage errors and an absent SISAS.
    result = s_farfanctl (&bus, "signals", "publish", "--subject", "x", NULL);
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    result = s_farfanctl (&bus, "signals", "publish", "--type", "$sisas.control", NULL);
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    result = s_farfanctl (&bus, "signals", "publish", "--type", "t", "--confidence", "2", NULL);
    cr_assert_eq (result.code, 2);
    s_result_free (&result);
    result = s_farfanctl (&bus, "signals", "publish", "--type", "t", "--endpoint",
                          "tcp://127.0.0.1:1", "--timeout", "200", NULL);
    cr_assert_eq (result.code, 3);
    s_result_free (&result);

    //  tail: a process watching the stream while this test publishes.
    char program [512];
    ff_test_build_path ("services/farfanctl", program, sizeof program);
    char endpoint [256];
    snprintf (endpoint, sizeof endpoint, "%s", ff_test_service_endpoint (bus.service, "publish"));
    char *argv [] = { program, "signals", "tail", "--topic", "ctl.tail", "--endpoint", endpoint,
                      "--count", "3", "--timeout", "10000", "--json", NULL };
    ff_test_process_t *tail = ff_test_spawn (program, argv, NULL);
    //  Publish until tail has joined (its first line), then two more.
    const char *line = NULL;
    uint64_t seq = 0;
    while (!line && seq < 500) {
        char subject [16];
        snprintf (subject, sizeof subject, "s%" PRIu64, seq);
        s_send (bus.pub, "ctl.tail", "tester", subject, 1, 0.5, 0, seq++);
        line = ff_test_process_wait_line (tail, "ctl.tail", 20);
    }
    cr_assert_not_null (line, "tail printed nothing");
    for (int i = 0; i < 2; i++) {
        char subject [16];
        snprintf (subject, sizeof subject, "s%" PRIu64, seq);
        s_send (bus.pub, "ctl.tail", "tester", subject, 1, 0.5, 0, seq++);
    }
    int code = ff_test_process_wait_exit (tail, 10000);
    cr_assert_eq (code, 0, "%s", ff_test_process_stderr (tail));
    //  Three JSON lines, each the signal as sent.
    const char *out = ff_test_process_stdout (tail);
    int lines = 0;
    for (line = out; line && *line; lines++) {
        const char *end = strchr (line, '\n');
        cr_assert_not_null (end);
        char *text = strndup (line, (size_t) (end - line));
        json_t *message = s_json (text);
        cr_assert_str_eq (json_string_value (json_object_get (message, "topic")), "ctl.tail");
        json_t *signal = json_object_get (message, "signal");
        cr_assert_str_eq (json_string_value (json_object_get (signal, "source")), "tester");
        cr_assert_str_eq (json_string_value (json_object_get (signal, "phase")), "P01");
        json_decref (message);
        free (text);
        line = end + 1;
    }
    cr_assert_eq (lines, 3);
    ff_test_process_destroy (&tail);
    s_bus_stop (&bus);
}
