/*  sis_predict — see sis_predict.h.

    Open observations are a small array scanned linearly (max_open is a
    few dozen: runs in flight at once). The per-phase signal counters run
    for every valid signal with a phase; an observation remembers the
    counter at its start.
*/
#include "sis_predict.h"
#include "ff_msgpack_reader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool in_use;
    char run [FF_SIGNAL_SUBJECT_MAX + 1];
    int phase;
    uint64_t started_us;
    uint64_t counter_at_start;
} s_open_t;

typedef struct {
    uint64_t runs;
    double ewma;
    double duration_ewma_ms;
    uint64_t history [SIS_PREDICT_HISTORY];
    size_t history_size;
    double error_sum;                   // Σ |a − p| / a over checks
    uint64_t checked;
    double last_predicted;
    uint64_t last_actual;
} s_phase_t;

struct sis_predict {
    bool enabled;
    double alpha;
    s_open_t *open;
    size_t max_open;
    size_t open_count;
    uint64_t refused;
    uint64_t counters [SIS_PREDICT_PHASES];     // valid signals per phase
    s_phase_t phases [SIS_PREDICT_PHASES];
    sis_predict_start_fn *on_start;
    void *arg;
};

sis_predict_t *
sis_predict_new (double alpha, size_t max_open, sis_predict_start_fn *on_start, void *arg)
{
    sis_predict_t *self = (sis_predict_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->enabled = true;
    self->alpha = alpha;
    self->max_open = max_open ? max_open : 1;
    self->open = (s_open_t *) calloc (self->max_open, sizeof (s_open_t));
    self->on_start = on_start;
    self->arg = arg;
    if (!self->open)
        sis_predict_destroy (&self);
    return self;
}

void
sis_predict_destroy (sis_predict_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->open);
        free (*self_p);
        *self_p = NULL;
    }
}

//  The "signals" entry of a payload map, when it is an unsigned integer.
static bool
s_payload_signals (const ff_signal_t *signal, uint64_t *count)
{
    if (!signal->payload)
        return false;
    ff_msgpack_reader_t reader;
    ff_msgpack_reader_init (&reader, signal->payload, signal->payload_size);
    ff_msgpack_item_t item;
    if (ff_msgpack_reader_next (&reader, &item) != FF_MSGPACK_OK || item.type != FF_MSGPACK_MAP)
        return false;
    for (uint32_t pair = 0; pair < item.count; pair++) {
        ff_msgpack_item_t key;
        if (ff_msgpack_reader_next (&reader, &key) != FF_MSGPACK_OK)
            return false;
        if (key.type == FF_MSGPACK_STR && key.size == 7 && memcmp (key.data, "signals", 7) == 0) {
            ff_msgpack_item_t value;
            if (ff_msgpack_reader_next (&reader, &value) != FF_MSGPACK_OK)
                return false;
            if (value.type == FF_MSGPACK_UINT) {
                *count = value.u;
                return true;
            }
            if (value.type == FF_MSGPACK_INT && value.i >= 0) {
                *count = (uint64_t) value.i;
                return true;
            }
            return false;
        }
        if (ff_msgpack_reader_skip (&reader, FF_SIGNAL_DEPTH_MAX) != FF_MSGPACK_OK)
            return false;
    }
    return false;
}

static s_open_t *
s_find (sis_predict_t *self, const char *run, int phase)
{
    for (size_t i = 0; i < self->max_open; i++) {
        s_open_t *open = &self->open [i];
        if (open->in_use && (phase < 0 || open->phase == phase) && strcmp (open->run, run) == 0)
            return open;
    }
    return NULL;
}

static void
s_close (sis_predict_t *self, s_open_t *open)
{
    open->in_use = false;
    self->open_count--;
}

static void
s_learn (sis_predict_t *self, int phase_number, uint64_t actual, double duration_ms)
{
    s_phase_t *phase = &self->phases [phase_number];
    if (phase->runs > 0) {
        double predicted = phase->ewma;
        double error = actual > 0 ? fabs ((double) actual - predicted) / (double) actual
                                  : (predicted == 0 ? 0 : 1);
        phase->error_sum += error;
        phase->checked++;
        phase->last_predicted = predicted;
        phase->ewma += self->alpha * ((double) actual - phase->ewma);
        phase->duration_ewma_ms += self->alpha * (duration_ms - phase->duration_ewma_ms);
    }
    else {
        phase->ewma = (double) actual;
        phase->duration_ewma_ms = duration_ms;
    }
    phase->last_actual = actual;
    phase->runs++;
    if (phase->history_size == SIS_PREDICT_HISTORY) {
        memmove (phase->history, phase->history + 1, (SIS_PREDICT_HISTORY - 1) * sizeof (uint64_t));
        phase->history_size--;
    }
    phase->history [phase->history_size++] = actual;
}

void
sis_predict_observe (sis_predict_t *self, const ff_signal_t *signal, uint64_t now_us)
{
    if (!self->enabled)
        return;
    const char *type = signal->type;
    //  Run and phase signals start with "run." or "phase.": one test for the rest.
    if (type [0] != 'p' && type [0] != 'r') {
        if (signal->phase >= 0)
            self->counters [signal->phase]++;
        return;
    }
    bool lifecycle = true;
    if (strcmp (type, "phase.started") == 0) {
        if (signal->phase < 0 || !signal->subject [0])
            return;
        s_open_t *open = s_find (self, signal->subject, signal->phase);
        if (!open) {
            for (size_t i = 0; i < self->max_open && !open; i++)
                if (!self->open [i].in_use)
                    open = &self->open [i];
            if (!open) {
                self->refused++;
                return;
            }
            open->in_use = true;
            self->open_count++;
            snprintf (open->run, sizeof open->run, "%s", signal->subject);
            open->phase = signal->phase;
        }
        open->started_us = now_us;
        open->counter_at_start = self->counters [signal->phase];
        if (self->on_start) {
            sis_prediction_t prediction;
            sis_predict_get (self, signal->phase, &prediction);
            self->on_start (signal->phase, &prediction, self->arg);
        }
    }
    else
    if (strcmp (type, "phase.completed") == 0) {
        if (signal->phase < 0 || !signal->subject [0])
            return;
        s_open_t *open = s_find (self, signal->subject, signal->phase);
        uint64_t count;
        bool reported = s_payload_signals (signal, &count);
        if (!open && !reported)
            return;
        if (!reported)
            count = self->counters [signal->phase] - open->counter_at_start;
        double duration_ms = open ? (double) (now_us - open->started_us) / 1000.0 : 0;
        s_learn (self, signal->phase, count, duration_ms);
        if (open)
            s_close (self, open);
    }
    else
    if (strcmp (type, "phase.failed") == 0) {
        s_open_t *open = signal->subject [0] ? s_find (self, signal->subject, signal->phase) : NULL;
        if (open && signal->phase >= 0)
            s_close (self, open);
    }
    else
    if (strcmp (type, "run.completed") == 0 || strcmp (type, "run.failed") == 0) {
        s_open_t *open;
        while (signal->subject [0] && (open = s_find (self, signal->subject, -1)))
            s_close (self, open);
    }
    else
        lifecycle = false;
    if (!lifecycle && signal->phase >= 0)
        self->counters [signal->phase]++;
}

void
sis_predict_get (const sis_predict_t *self, int phase_number, sis_prediction_t *out)
{
    memset (out, 0, sizeof *out);
    out->phase = phase_number;
    if (phase_number < 0 || phase_number >= SIS_PREDICT_PHASES)
        return;
    const s_phase_t *phase = &self->phases [phase_number];
    out->runs = phase->runs;
    out->predicted = phase->runs ? phase->ewma : 0;
    out->confidence = phase->runs >= 10 ? 1.0 : (double) phase->runs / 10.0;
    out->predicted_duration_ms = phase->duration_ewma_ms;
    memcpy (out->history, phase->history, phase->history_size * sizeof (uint64_t));
    out->history_size = phase->history_size;
    out->mape = phase->checked ? 100.0 * phase->error_sum / (double) phase->checked : 0;
    out->checked = phase->checked;
    out->last_predicted = phase->last_predicted;
    out->last_actual = phase->last_actual;
}

double
sis_predict_mape (const sis_predict_t *self, uint64_t *checked)
{
    double sum = 0;
    uint64_t count = 0;
    for (int phase = 0; phase < SIS_PREDICT_PHASES; phase++) {
        sum += self->phases [phase].error_sum;
        count += self->phases [phase].checked;
    }
    if (checked)
        *checked = count;
    return count ? 100.0 * sum / (double) count : 0;
}

size_t
sis_predict_open (const sis_predict_t *self)
{
    return self->open_count;
}

uint64_t
sis_predict_refused (const sis_predict_t *self)
{
    return self->refused;
}

void
sis_predict_set_alpha (sis_predict_t *self, double alpha)
{
    self->alpha = alpha;
}

void
sis_predict_set_enabled (sis_predict_t *self, bool enabled)
{
    self->enabled = enabled;
}

bool
sis_predict_enabled (const sis_predict_t *self)
{
    return self->enabled;
}
