/*  sis_predict — per-phase load prediction from the orchestrator's run
    and phase signals (DESIGN.md §5, proto/sisas.md §8).

    SISAS watches every valid signal. A `phase.started` signal (subject =
    run id, phase = Pnn) opens a (run, phase) observation; the matching
    `phase.completed` closes it with the phase's signal count: the
    payload's "signals" (an unsigned integer) when the orchestrator sent
    one, else what SISAS itself counted — the valid signals carrying that
    phase received between the two (exact when one run at a time is in
    that phase). `phase.failed` and `run.completed` / `run.failed` drop
    the run's open observations without learning from them.

    Per phase the model keeps the last 32 counts, their EWMA (weight
    alpha; the first count seeds it) and the EWMA of the phase's duration.
    Prediction = that EWMA, confidence = min(n / 10, 1) for n completed
    runs. Before a completed count updates the model, the prediction made
    for it is scored: |actual − predicted| / actual (actual 0 scores 0 when
    predicted 0, else 1); MAPE = the mean of those, per phase and overall,
    in percent. Bounded: at most max_open observations (more are counted
    and ignored). Not thread-safe.
*/
#ifndef SIS_PREDICT_H_INCLUDED
#define SIS_PREDICT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_signal.h"

#define SIS_PREDICT_PHASES 10
#define SIS_PREDICT_HISTORY 32

typedef struct {
    int phase;                          // 0..9
    uint64_t runs;                      // counts learned
    double predicted;                   // EWMA of counts (0 without history)
    double confidence;                  // min(runs / 10, 1)
    double predicted_duration_ms;       // EWMA of durations
    uint64_t history [SIS_PREDICT_HISTORY];  // oldest first
    size_t history_size;
    double mape;                        // percent; 0 before any check
    uint64_t checked;                   // predictions scored
    double last_predicted;
    uint64_t last_actual;
} sis_prediction_t;

//  What a phase start means for fusion: how many groups to make room for.
typedef void (sis_predict_start_fn) (int phase, const sis_prediction_t *prediction, void *arg);

typedef struct sis_predict sis_predict_t;

//  on_start (may be NULL) is called at every phase.started with the
//  phase's prediction (runs = 0 when there is none yet). NULL when out of
//  memory.
sis_predict_t *
    sis_predict_new (double alpha, size_t max_open, sis_predict_start_fn *on_start, void *arg);

void
    sis_predict_destroy (sis_predict_t **self_p);

//  Watches one valid signal received at now_us (monotonic).
void
    sis_predict_observe (sis_predict_t *self, const ff_signal_t *signal, uint64_t now_us);

//  The model of phase (0..9).
void
    sis_predict_get (const sis_predict_t *self, int phase, sis_prediction_t *out);

//  Overall MAPE (percent) and the number of predictions scored.
double
    sis_predict_mape (const sis_predict_t *self, uint64_t *checked);

//  (run, phase) observations open now; observations refused (table full).
size_t
    sis_predict_open (const sis_predict_t *self);
uint64_t
    sis_predict_refused (const sis_predict_t *self);

void
    sis_predict_set_alpha (sis_predict_t *self, double alpha);

//  Enables or disables watching (disabled: signals are ignored; the
//  model is kept).
void
    sis_predict_set_enabled (sis_predict_t *self, bool enabled);

bool
    sis_predict_enabled (const sis_predict_t *self);

#endif
