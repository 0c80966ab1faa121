/*  sis_accounting — see sis_accounting.h. */
#include "sis_accounting.h"

#include <stdio.h>

static const char *s_shed_names [SIS_SHED__COUNT] = { "storm", "overload", "publish",
                                                        "source_rate" };

const char *
sis_accounting_shed_name (sis_shed_reason_t reason)
{
    return reason < SIS_SHED__COUNT ? s_shed_names [reason] : "unknown";
}

void
sis_accounting_init (sis_accounting_t *self, ff_metrics_t *metrics, uint64_t now_us)
{
    self->received = ff_metrics_counter (metrics, "farfan_signals_received_total",
        "Messages read from the ingest socket", NULL);
    self->delivered = ff_metrics_counter (metrics, "farfan_signals_delivered_total",
        "Signals published on the delivery socket (routed ones once their routing ended)", NULL);
    self->absorbed = ff_metrics_counter (metrics, "farfan_signals_absorbed_total",
        "Signals fused into an earlier signal of their group", NULL);
    char labels [64];
    for (int reason = FF_SIGNAL_ERR_FRAMES; reason < FF_SIGNAL_ERR__COUNT; reason++) {
        snprintf (labels, sizeof labels, "reason=\"%s\"",
                  ff_signal_error_name ((ff_signal_error_t) reason));
        self->rejected [reason] = ff_metrics_counter (metrics, "farfan_signals_rejected_total",
            "Signals rejected by validation, never delivered, by reason", labels);
    }
    self->rejected [FF_SIGNAL_OK] = NULL;
    for (int reason = 0; reason < SIS_SHED__COUNT; reason++) {
        snprintf (labels, sizeof labels, "reason=\"%s\"", s_shed_names [reason]);
        self->shed [reason] = ff_metrics_counter (metrics, "farfan_signals_shed_total",
            "Valid signals dropped by SISAS, by reason", labels);
    }
    self->lost = ff_metrics_counter (metrics, "farfan_signals_upstream_lost_total",
        "Signals lost before reaching SISAS (per-source seq gaps)", NULL);
    self->restarts = ff_metrics_counter (metrics, "farfan_signals_source_restarts_total",
        "Times a source's seq went backwards (the source restarted)", NULL);
    self->in_flight = ff_metrics_gauge (metrics, "farfan_signals_in_flight",
        "Signals accepted, routed, not yet acknowledged", NULL);
    sis_rate_init (&self->received_rate, now_us);
    sis_rate_init (&self->delivered_rate, now_us);
}

void
sis_accounting_snapshot (const sis_accounting_t *self, uint64_t in_flight,
                         sis_accounting_snapshot_t *out)
{
    out->received = ff_counter_value (self->received);
    out->delivered = ff_counter_value (self->delivered);
    out->absorbed = ff_counter_value (self->absorbed);
    out->rejected = 0;
    out->rejected_by [FF_SIGNAL_OK] = 0;
    for (int reason = FF_SIGNAL_ERR_FRAMES; reason < FF_SIGNAL_ERR__COUNT; reason++) {
        out->rejected_by [reason] = ff_counter_value (self->rejected [reason]);
        out->rejected += out->rejected_by [reason];
    }
    out->shed = 0;
    for (int reason = 0; reason < SIS_SHED__COUNT; reason++) {
        out->shed_by [reason] = ff_counter_value (self->shed [reason]);
        out->shed += out->shed_by [reason];
    }
    out->lost = ff_counter_value (self->lost);
    out->restarts = ff_counter_value (self->restarts);
    out->in_flight = in_flight;
    out->identity_holds = out->received
        == out->delivered + out->absorbed + out->shed + out->rejected + out->in_flight;
}
