/*  sis_fusion — fusion of correlated signals (DESIGN.md §5, proto/sisas.md §4).

    A group is the signals with the same type and the same non-empty
    subject whose timestamps (signal.ts) fall inside the window of the
    group's first signal, the anchor: |ts − anchor| < window (signals
    arrive out of order, so a member may have happened just before the
    first one to arrive). The first signal of a group is delivered at once
    (the caller does that: fusion only says "not absorbed"); later members
    are absorbed. Anchoring is not transitive: a member never extends the
    window. A signal of the key outside the open group's window closes
    that group and opens the next one. Signals without a subject are never
    grouped.

    A group closes when SISAS's monotonic clock passes the first signal's
    arrival + window (so a replay with old timestamps fuses the same way as
    a live stream), when the table needs its room, or when fusion is
    disabled. Closing calls the emit callback iff the absorbed members
    raised the confidence: fused confidence > the first signal's, where
    fused = max(cᵢ) ("max") or 1 − ∏(1 − cᵢ) over every member
    ("corroborate"). The method in force at closing time applies.

    Bounds: at most max_groups open groups; the table starts at
    initial_capacity and grows (doubling, never beyond max_groups) when
    full; sis_fusion_reserve sizes it ahead (load prediction does, when a
    phase starts). When max_groups groups are open, opening one closes the
    oldest group first (counted as evicted; it emits if it rose). Memory:
    about 650 bytes per group ever open at once (entries are touched when
    first used; growing never moves or copies a group, so it pauses the
    caller for an index rebuild only). Not thread-safe.
*/
#ifndef SIS_FUSION_H_INCLUDED
#define SIS_FUSION_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_signal.h"

typedef enum {
    SIS_FUSION_MAX = 0,         // fused confidence = max(cᵢ)
    SIS_FUSION_CORROBORATE,     // fused confidence = 1 − ∏(1 − cᵢ)
} sis_fusion_method_t;

//  Distinct sources a group remembers by name (the rest are counted).
#define SIS_FUSION_SOURCES_MAX 8

//  A group being closed, as the emit callback sees it (borrowed for the
//  duration of the call).
typedef struct {
    const char *type;
    const char *subject;
    const char *first_id;               // id of the first signal: the group id
    int phase;                          // of the first signal, -1 when none
    uint64_t anchor_ts_us;              // ts of the first signal
    uint64_t window_us;                 // the group's window
    uint32_t members;                   // signals in the group, the first included
    double first_confidence;
    double confidence;                  // fused, by method
    sis_fusion_method_t method;
    const uint32_t *sources;            // source-table indices, distinct, first's first
    uint32_t source_count;              // at most SIS_FUSION_SOURCES_MAX
    bool more_sources;                  // members came from further sources too
    bool early;                         // closed before its window ended
} sis_fusion_group_t;

typedef void (sis_fusion_emit_fn) (const sis_fusion_group_t *group, void *arg);

typedef struct {
    size_t open_groups;                 // open now
    size_t capacity;                    // groups held without growing
    size_t max_groups;
    uint64_t opened;                    // groups opened
    uint64_t absorbed;                  // signals absorbed
    uint64_t emitted;                   // groups closed with a raised confidence
    uint64_t evicted;                   // groups closed early for room
    uint64_t resizes;                   // times the table grew
} sis_fusion_stats_t;

typedef struct sis_fusion sis_fusion_t;

//  emit (may be NULL) is called for every closing group that rose.
//  NULL when out of memory. initial_capacity is capped at max_groups.
sis_fusion_t *
    sis_fusion_new (size_t initial_capacity, size_t max_groups, uint64_t window_us,
                    sis_fusion_method_t method, sis_fusion_emit_fn *emit, void *arg);

//  Discards open groups without emitting. Idempotent; nulls *self_p.
void
    sis_fusion_destroy (sis_fusion_t **self_p);

//  The key hash of a signal, to pass to absorb and open.
uint64_t
    sis_fusion_hash (const ff_signal_t *signal);

//  True when signal joins an open group (it is absorbed: do not deliver
//  it). False when it starts a group or is not groupable: then, when an
//  open group of its key lies outside its window, that group has been
//  closed. source is the signal's source-table index.
bool
    sis_fusion_absorb (sis_fusion_t *self, const ff_signal_t *signal, uint64_t hash,
                       uint32_t source, uint64_t now_us);

//  Opens a group with signal as its first member (after absorb said
//  false). Does nothing for a signal without subject. Returns 0, or -1
//  when the table could not grow (out of memory: the signal is simply
//  not grouped).
int
    sis_fusion_open (sis_fusion_t *self, const ff_signal_t *signal, uint64_t hash,
                     uint32_t source, uint64_t now_us);

//  Closes every group whose window ended at now_us. Returns how many.
size_t
    sis_fusion_expire (sis_fusion_t *self, uint64_t now_us);

//  Closes every open group now (they are early; the risen ones emit).
void
    sis_fusion_close_all (sis_fusion_t *self);

//  The earliest time a group closes (UINT64_MAX when none is open).
uint64_t
    sis_fusion_next_close_us (const sis_fusion_t *self);

//  Settings at run time. The window applies to groups opened from now
//  on; the method to every group closed from now on. A max_groups below
//  the open count closes the oldest groups (early) down to it.
void
    sis_fusion_set_window (sis_fusion_t *self, uint64_t window_us);
void
    sis_fusion_set_method (sis_fusion_t *self, sis_fusion_method_t method);
void
    sis_fusion_set_max_groups (sis_fusion_t *self, size_t max_groups);

//  Grows the table to hold groups (capped at max_groups) without growing
//  again. Returns the capacity now (unchanged when out of memory).
size_t
    sis_fusion_reserve (sis_fusion_t *self, size_t groups);

void
    sis_fusion_stats (const sis_fusion_t *self, sis_fusion_stats_t *stats);

//  "max", "corroborate"; parse returns 0 or -1.
const char *
    sis_fusion_method_name (sis_fusion_method_t method);
int
    sis_fusion_method_parse (const char *text, sis_fusion_method_t *method);

#endif
