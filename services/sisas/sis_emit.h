/*  sis_emit — the signals SISAS itself publishes on its delivery socket
    (proto/sisas.md §3): FUSED updates and the control stream.

    Both are schema-v1 maps with SISAS's own source ("sisas/<instance
    id>") and its own sequence (one seq for everything SISAS emits), so a
    subscriber can check them for gaps like any source:
      - FUSED: topic and type = the group's type, subject and phase of the
        group, confidence = the fused confidence, ts = the group's anchor,
        no payload, and one extra key "fused" = {"group": first signal's
        id, "members", "sources": [...], "more_sources", "method",
        "first_confidence", "window_ms", "early"}.
      - control: topic and type "$sisas.control" (reserved: no publisher
        can forge it), payload {"kind": "THROTTLE" | "BACKPRESSURE", ...}
        (bodies in sisas.md §3.2).
    Sends never block; a refused send is counted (dropped). Not
    thread-safe.
*/
#ifndef SIS_EMIT_H_INCLUDED
#define SIS_EMIT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sis_fusion.h"
#include "sis_sources.h"

#define SIS_CONTROL_TOPIC "$sisas.control"
//  Sources named in one THROTTLE at most (the noisiest).
#define SIS_EMIT_THROTTLE_TARGETS 64

typedef struct sis_emit sis_emit_t;

typedef struct {
    bool active;                // storm on
    double rate_limit;
    double rate;                // signals/s now
    double level;               // per-source fair rate (0 when not active)
    sis_source_t *const *targets;   // sources cut to level, noisiest first
    size_t target_count;
} sis_emit_throttle_t;

typedef struct {
    bool active;
    double utilization;         // percent of max_pending
    uint64_t pending;
    uint64_t threshold;
    uint64_t max_pending;
} sis_emit_backpressure_t;

//  sock (the delivery XPUB) and sources are borrowed. NULL when out of
//  memory.
sis_emit_t *
    sis_emit_new (zsock_t *sock, const char *instance_id, sis_sources_t *sources);

void
    sis_emit_destroy (sis_emit_t **self_p);

//  Publishes a FUSED update for group. 0, or -1 when the socket refused it.
int
    sis_emit_fused (sis_emit_t *self, const sis_fusion_group_t *group);

int
    sis_emit_throttle (sis_emit_t *self, const sis_emit_throttle_t *throttle);

int
    sis_emit_backpressure (sis_emit_t *self, const sis_emit_backpressure_t *backpressure);

//  Counts: FUSED sent, control sent, sends refused.
uint64_t
    sis_emit_fused_count (const sis_emit_t *self);
uint64_t
    sis_emit_control_count (const sis_emit_t *self);
uint64_t
    sis_emit_dropped (const sis_emit_t *self);

//  The source SISAS stamps on what it emits.
const char *
    sis_emit_source (const sis_emit_t *self);

#endif
