/*  sis_backpressure — the pending bound and the BACKPRESSURE state
    (DESIGN.md §5, proto/sisas.md §6).

    Pending = signals accepted but not yet delivered or acknowledged: in
    SISAS that is the routed signals waiting for a vehicle or for its
    acknowledgement (everything else is delivered when it arrives). The
    caller passes the count in.

    BACKPRESSURE goes on when pending reaches threshold, and off when it
    falls below threshold × exit_ratio (hysteresis). Utilization is
    pending / max_pending in percent. The hard bound holds whether
    BACKPRESSURE is enabled or not (memory stays bounded): a signal that
    would add to pending when pending = max_pending is shed (policy:
    newest first — the signals already queued keep their place; signals
    that need no routing never count and keep flowing). Not thread-safe.
*/
#ifndef SIS_BACKPRESSURE_H_INCLUDED
#define SIS_BACKPRESSURE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    bool enabled;               // publish BACKPRESSURE
    uint64_t threshold;         // on at pending ≥ threshold (≥ 1)
    double exit_ratio;          // off below threshold × exit_ratio (0..1)
    uint64_t max_pending;       // hard bound (≥ threshold)
} sis_backpressure_config_t;

typedef struct {
    bool active;
    double utilization;         // percent
    uint64_t episodes;          // times it went on
    uint64_t shed;              // signals shed at the hard bound
} sis_backpressure_stats_t;

typedef struct {
    sis_backpressure_config_t config;
    bool active;
    uint64_t episodes;
    uint64_t shed;
} sis_backpressure_t;

void
    sis_backpressure_init (sis_backpressure_t *self, const sis_backpressure_config_t *config);

//  True when one more pending signal fits (pending < max_pending); false
//  counts one shed signal.
bool
    sis_backpressure_admit (sis_backpressure_t *self, uint64_t pending);

//  Re-evaluates the state for pending. Returns true when it changed (a
//  BACKPRESSURE should go out).
bool
    sis_backpressure_update (sis_backpressure_t *self, uint64_t pending);

double
    sis_backpressure_utilization (const sis_backpressure_t *self, uint64_t pending);

//  New settings; disabling turns the state off (returns true if it was on).
bool
    sis_backpressure_configure (sis_backpressure_t *self, const sis_backpressure_config_t *config);

#endif
