/*  test_sisas_predict — load prediction per phase: sis_predict on its own
    (exact EWMA, confidence, MAPE), then runs published through a running
    SISAS: PREDICT answers and the fusion table pre-sized at phase start. */
#include "test_sisas_support.c"

#include "sis_predict.h"

#define MS 1000ULL

static ff_signal_t
s_lifecycle (const char *type, const char *run, int phase)
{
    ff_signal_t signal;
    ff_signal_init (&signal);
    snprintf (signal.type, sizeof signal.type, "%s", type);
    snprintf (signal.subject, sizeof signal.subject, "%s", run);
    signal.phase = phase;
    return signal;
}

//  One run of phase: started, `count` signals of that phase, completed.
static void
s_run (sis_predict_t *predict, const char *run, int phase, uint64_t count, uint64_t *now)
{
    ff_signal_t started = s_lifecycle ("phase.started", run, phase);
    sis_predict_observe (predict, &started, *now);
    ff_signal_t work = s_lifecycle ("contract.result", "PA01/DIM01/Q001", phase);
    for (uint64_t i = 0; i < count; i++)
        sis_predict_observe (predict, &work, *now);
    *now += 200 * MS;
    ff_signal_t completed = s_lifecycle ("phase.completed", run, phase);
    sis_predict_observe (predict, &completed, *now);
}

typedef struct {
    int calls;
    int phase;
    sis_prediction_t prediction;
} s_started_t;

static void
s_on_start (int phase, const sis_prediction_t *prediction, void *arg)
{
    s_started_t *started = (s_started_t *) arg;
    started->calls++;
    started->phase = phase;
    started->prediction = *prediction;
}

FF_TEST (sisas_predict, ewma_confidence_and_mape_over_runs)
{
    s_started_t started = { 0 };
    sis_predict_t *predict = sis_predict_new (0.5, 8, s_on_start, &started);
    uint64_t now = 1000 * MS;
    sis_prediction_t model;
    sis_predict_get (predict, 2, &model);
    cr_assert_eq (model.runs, 0);
    cr_assert_float_eq (model.predicted, 0, 1e-12);
    cr_assert_float_eq (model.confidence, 0, 1e-12);

    s_run (predict, "r1", 2, 100, &now);
    cr_assert_eq (started.calls, 1);
    cr_assert_eq (started.prediction.runs, 0, "no history at the first start");
    sis_predict_get (predict, 2, &model);
    cr_assert_eq (model.runs, 1);
    cr_assert_float_eq (model.predicted, 100, 1e-9, "the first count seeds the EWMA");
    cr_assert_float_eq (model.confidence, 0.1, 1e-12);
    cr_assert_float_eq (model.predicted_duration_ms, 200, 1e-9);
    cr_assert_eq (model.checked, 0);

    s_run (predict, "r2", 2, 120, &now);
    cr_assert_float_eq (started.prediction.predicted, 100, 1e-9, "start sees the prediction");
    sis_predict_get (predict, 2, &model);
    cr_assert_float_eq (model.predicted, 110, 1e-9, "100 + 0.5 (120 - 100)");
    cr_assert_float_eq (model.mape, 100.0 * 20.0 / 120.0, 1e-9);
    cr_assert_float_eq (model.last_predicted, 100, 1e-9);
    cr_assert_eq (model.last_actual, 120);
    s_run (predict, "r3", 2, 110, &now);
    sis_predict_get (predict, 2, &model);
    cr_assert_float_eq (model.predicted, 110, 1e-9);
    cr_assert_float_eq (model.mape, 100.0 * (20.0 / 120.0 + 0.0) / 2.0, 1e-9);
    cr_assert_eq (model.history_size, 3);
    cr_assert_eq (model.history [0], 100);
    cr_assert_eq (model.history [2], 110);
    for (int run = 4; run <= 12; run++) {
        char name [8];
        snprintf (name, sizeof name, "r%d", run);
        s_run (predict, name, 2, 110, &now);
    }
    sis_predict_get (predict, 2, &model);
    cr_assert_eq (model.runs, 12);
    cr_assert_float_eq (model.confidence, 1.0, 1e-12, "min(n / 10, 1)");
    uint64_t checked;
    double mape = sis_predict_mape (predict, &checked);
    cr_assert_eq (checked, 11);
    cr_assert_float_eq (mape, 100.0 * (20.0 / 120.0) / 11.0, 1e-9);
    //  Another phase has its own model; signals of P02 do not count there.
    sis_predict_get (predict, 3, &model);
    cr_assert_eq (model.runs, 0);
    sis_predict_destroy (&predict);
}

FF_TEST (sisas_predict, reported_counts_failures_and_bounds)
{
    sis_predict_t *predict = sis_predict_new (0.3, 2, NULL, NULL);
    uint64_t now = 0;
    //  The orchestrator's own count wins over what SISAS saw.
    ff_signal_t started = s_lifecycle ("phase.started", "r1", 4);
    sis_predict_observe (predict, &started, now);
    ff_signal_t completed = s_lifecycle ("phase.completed", "r1", 4);
    static const uint8_t payload [] = { 0x82, 0xa5, 'p', 'h', 'a', 's', 'e', 0xa3, 'P', '0', '4',
                                        0xa7, 's', 'i', 'g', 'n', 'a', 'l', 's', 0xcd, 0x01, 0x2c };
    completed.payload = payload;
    completed.payload_size = sizeof payload;
    sis_predict_observe (predict, &completed, now);
    sis_prediction_t model;
    sis_predict_get (predict, 4, &model);
    cr_assert_eq (model.runs, 1);
    cr_assert_eq (model.last_actual, 300);
    //  A failed phase teaches nothing.
    started = s_lifecycle ("phase.started", "r2", 4);
    sis_predict_observe (predict, &started, now);
    cr_assert_eq (sis_predict_open (predict), 1);
    ff_signal_t failed = s_lifecycle ("phase.failed", "r2", 4);
    sis_predict_observe (predict, &failed, now);
    cr_assert_eq (sis_predict_open (predict), 0);
    completed = s_lifecycle ("phase.completed", "r2", 4);
    sis_predict_observe (predict, &completed, now);
    sis_predict_get (predict, 4, &model);
    cr_assert_eq (model.runs, 1, "a completion without a start or a count is ignored");
    //  A run's end closes all its phases; the table is bounded.
    ff_signal_t a = s_lifecycle ("phase.started", "r3", 1);
    ff_signal_t b = s_lifecycle ("phase.started", "r3", 2);
    ff_signal_t c = s_lifecycle ("phase.started", "r4", 2);
    sis_predict_observe (predict, &a, now);
    sis_predict_observe (predict, &b, now);
    sis_predict_observe (predict, &c, now);
    cr_assert_eq (sis_predict_open (predict), 2);
    cr_assert_eq (sis_predict_refused (predict), 1);
    ff_signal_t done = s_lifecycle ("run.completed", "r3", -1);
    sis_predict_observe (predict, &done, now);
    cr_assert_eq (sis_predict_open (predict), 0);
    //  Disabled: nothing is watched.
    sis_predict_set_enabled (predict, false);
    sis_predict_observe (predict, &a, now);
    cr_assert_eq (sis_predict_open (predict), 0);
    sis_predict_destroy (&predict);
}

FF_TEST (sisas_predict, service_learns_from_phase_signals_and_presizes_fusion)
{
    s_bus_t bus;
    s_bus_start (&bus, "phase.", "--prediction-alpha", "0.5", "--fusion-initial-groups", "16",
                 NULL);
    uint64_t counts [] = { 400, 500, 450 };
    uint64_t seq = 0;
    for (int run = 0; run < 3; run++) {
        char id [8];
        snprintf (id, sizeof id, "run-%d", run);
        s_send (bus.pub, "phase.started", "orchestrator", id, 2, 1.0, 0, seq++);
        for (uint64_t i = 0; i < counts [run]; i++) {
            char subject [32];
            snprintf (subject, sizeof subject, "r%d/Q%03" PRIu64, run, i);
            s_send (bus.pub, "contract.result", "factory", subject, 2, 0.8, 0, i + 1000 * (uint64_t) run);
        }
        s_send (bus.pub, "phase.completed", "orchestrator", id, 2, 1.0, 0, seq++);
        //  Each run completes before the next starts.
        s_delivered_t delivered;
        cr_assert (s_receive_topic (bus.sub, "phase.completed", &delivered, FF_TEST_TIMEOUT_MS));
        s_delivered_free (&delivered);
    }
    //  A fourth start: the table is sized for the prediction.
    s_send (bus.pub, "phase.started", "orchestrator", "run-3", 2, 1.0, 0, seq++);
    s_delivered_t delivered;
    cr_assert (s_receive_topic (bus.sub, "phase.started", &delivered, FF_TEST_TIMEOUT_MS));
    s_delivered_free (&delivered);

    Farfan__SisasPredictRequest request = FARFAN__SISAS_PREDICT_REQUEST__INIT;
    request.phase = "P02";
    ff_msg_t *reply = ff_test_request (bus.dealer, FARFAN__MESSAGE_TYPE__SISAS_PREDICT, &request.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SISAS_PREDICT_REPLY);
    Farfan__SisasPhasePrediction *prediction = farfan__sisas_phase_prediction__unpack (
        NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    cr_assert_str_eq (prediction->phase, "P02");
    cr_assert_eq (prediction->runs, 3);
    cr_assert_eq (prediction->n_history, 3);
    for (int run = 0; run < 3; run++)
        cr_assert_eq (prediction->history [run], counts [run], "run %d counted exactly", run);
    //  400 -> 450 -> 450.
    cr_assert_float_eq (prediction->predicted_signals, 450, 1e-9);
    cr_assert_float_eq (prediction->confidence, 0.3, 1e-12);
    cr_assert_eq (prediction->predictions_checked, 2);
    cr_assert_float_eq (prediction->mape, 100.0 * (100.0 / 500.0 + 0.0) / 2.0, 1e-9);
    cr_assert_gt (prediction->presize_groups, 0);
    uint64_t presized = prediction->presize_groups;
    farfan__sisas_phase_prediction__free_unpacked (prediction, NULL);
    ff_msg_destroy (&reply);

    Farfan__SisasHealth *health = s_health (bus.dealer);
    cr_assert_str_eq (health->fusion->presized_for, "P02");
    cr_assert_geq (health->fusion->capacity, presized);
    cr_assert_eq (health->prediction->n_phases, 1);
    cr_assert_float_eq (health->prediction->mape, 10.0, 1e-9);
    cr_assert_eq (health->prediction->active_runs, 1, "run-3 is in P02");
    s_assert_identity (health->stats);
    s_health_free (&health);
    //  The error is a metric too (refreshed every tick).
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    double mape = NAN;
    while (!(fabs (mape - 10.0) < 1e-9) && zclock_mono () < deadline) {
        int status = 0;
        char *page = ff_test_http_get (ff_test_service_http_port (bus.service), "/metrics", &status);
        mape = ff_test_metric (page, "farfan_sisas_prediction_mape");
        free (page);
    }
    cr_assert_float_eq (mape, 10.0, 1e-9);
    //  A phase without history answers with zero confidence.
    request.phase = "P07";
    reply = ff_test_request (bus.dealer, FARFAN__MESSAGE_TYPE__SISAS_PREDICT, &request.base);
    prediction = farfan__sisas_phase_prediction__unpack (NULL, ff_msg_body_size (reply),
                                                         ff_msg_body_data (reply));
    cr_assert_eq (prediction->runs, 0);
    cr_assert_float_eq (prediction->confidence, 0, 1e-12);
    farfan__sisas_phase_prediction__free_unpacked (prediction, NULL);
    ff_msg_destroy (&reply);
    s_bus_stop (&bus);
}
