/*  sis_accounting — where every message read from the ingest socket ends
    up (proto/sisas.md §2).

    Each received message ends in exactly one of: rejected (invalid, by
    reason), shed (valid, dropped: by reason), absorbed (fused into an
    earlier signal), delivered (published, and when routed, its routing
    ended), or is still in flight (routed, not yet acknowledged). So at
    any instant between two messages
        received = delivered + absorbed + shed + rejected + in flight
    exactly; in_flight is the pending count the caller passes in.

    The counters are the Prometheus ones of the service's registry
    (farfan_signals_*_total), written by the SISAS actor only; /metrics
    reads them from the HTTP thread, so a scrape under load may catch the
    terms between two updates, while HEALTH and STATS (answered by the
    actor) always see them consistent. Also kept: upstream loss (seq
    gaps), source restarts, and received / delivered rates over the last
    second.
*/
#ifndef SIS_ACCOUNTING_H_INCLUDED
#define SIS_ACCOUNTING_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "ff_metrics.h"
#include "ff_signal.h"
#include "sis_rate.h"

typedef enum {
    SIS_SHED_STORM = 0,         // storm protection: over the source's fair share
    SIS_SHED_OVERLOAD,          // pending at its hard bound (max_pending)
    SIS_SHED_PUBLISH,           // the delivery socket refused it
    SIS_SHED_SOURCE_RATE,       // over source_rate_limit (signals/s of its source)
    SIS_SHED__COUNT
} sis_shed_reason_t;

typedef struct {
    ff_counter_t *received;
    ff_counter_t *delivered;
    ff_counter_t *absorbed;
    ff_counter_t *rejected [FF_SIGNAL_ERR__COUNT];
    ff_counter_t *shed [SIS_SHED__COUNT];
    ff_counter_t *lost;                 // upstream (seq gaps)
    ff_counter_t *restarts;
    ff_gauge_t *in_flight;
    sis_rate_t received_rate;           // valid signals
    sis_rate_t delivered_rate;
} sis_accounting_t;

typedef struct {
    uint64_t received;
    uint64_t delivered;
    uint64_t absorbed;
    uint64_t shed;
    uint64_t rejected;
    uint64_t in_flight;
    uint64_t rejected_by [FF_SIGNAL_ERR__COUNT];
    uint64_t shed_by [SIS_SHED__COUNT];
    uint64_t lost;
    uint64_t restarts;
    bool identity_holds;
} sis_accounting_snapshot_t;

//  Registers the counters in metrics (borrowed).
void
    sis_accounting_init (sis_accounting_t *self, ff_metrics_t *metrics, uint64_t now_us);

//  "storm", "overload", "publish".
const char *
    sis_accounting_shed_name (sis_shed_reason_t reason);

static inline void
sis_accounting_received (sis_accounting_t *self)
{
    ff_counter_inc (self->received);
}

static inline void
sis_accounting_rejected (sis_accounting_t *self, ff_signal_error_t reason)
{
    ff_counter_inc (self->rejected [reason]);
}

static inline void
sis_accounting_delivered (sis_accounting_t *self, uint64_t now_us)
{
    ff_counter_inc (self->delivered);
    sis_rate_add (&self->delivered_rate, now_us, 1);
}

static inline void
sis_accounting_absorbed (sis_accounting_t *self)
{
    ff_counter_inc (self->absorbed);
}

static inline void
sis_accounting_shed (sis_accounting_t *self, sis_shed_reason_t reason)
{
    ff_counter_inc (self->shed [reason]);
}

//  Current values; in_flight is the caller's pending count.
void
    sis_accounting_snapshot (const sis_accounting_t *self, uint64_t in_flight,
                             sis_accounting_snapshot_t *out);

#endif
