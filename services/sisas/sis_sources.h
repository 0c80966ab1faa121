/*  sis_sources — the bounded table of signal sources SISAS has seen.

    One entry per source (signal.source): its per-source sequence check
    (signal-schema.md §4), its rate over the last second, its storm token
    bucket and the routing candidates cached for it. The table holds at
    most max_sources entries, allocated once at creation: a new source
    when the table is full takes the place of the source seen least
    recently, if that one has been idle for at least idle_us; otherwise
    it shares the "untracked" entry (no sequence check; one rate and one
    bucket for all untracked sources), and each such signal is counted.
    Lookups cache the last entry found: consecutive signals of one source
    cost one comparison. Not thread-safe (the SISAS actor owns it).

    Sequence rule: for consecutive signals of a source, seq₂ − seq₁ − 1
    signals were lost upstream (counted); a seq that does not grow (lower
    or equal) means the source restarted (counted, not a loss).
*/
#ifndef SIS_SOURCES_H_INCLUDED
#define SIS_SOURCES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_signal.h"
#include "ff_token_bucket.h"
#include "sis_rate.h"

typedef struct {
    char name [FF_SIGNAL_SOURCE_MAX + 1];   // the source; "(untracked)" for the shared entry
    uint32_t name_size;                     // bytes in name
    uint32_t index;                         // position in the table (stable while the entry lives)
    uint64_t hash;                          // of name
    bool in_use;                            // holds a source
    bool tracked;                           // false: the shared untracked entry
    bool seq_seen;                          // last_seq is valid
    uint64_t last_seq;                      // seq of the last signal
    uint64_t last_seen_us;                  // monotonic time of the last signal
    uint64_t received;                      // valid signals from it
    uint64_t lost;                          // upstream losses (seq gaps)
    uint64_t restarts;                      // seq went backwards
    uint64_t shed;                          // shed by storm protection
    sis_rate_t rate;                        // signals/s, last second
    ff_token_bucket_t bucket;               // storm protection
    uint64_t bucket_generation;             // storm level generation the bucket follows
    uint64_t route_generation;              // vehicle-set generation of route_mask (0 = none)
    uint64_t route_mask;                    // vehicles whose source patterns match
    ff_token_bucket_t limit;                // source_rate_limit (rate 0 = off)
} sis_source_t;

typedef struct sis_sources sis_sources_t;

//  max_sources ≥ 1. NULL when out of memory.
sis_sources_t *
    sis_sources_new (size_t max_sources, uint64_t idle_us);

void
    sis_sources_destroy (sis_sources_t **self_p);

//  The entry of source name (size bytes), created when new (see above for
//  a full table). Never NULL. now_us stamps last_seen_us.
sis_source_t *
    sis_sources_lookup (sis_sources_t *self, const char *name, size_t size,
                        uint64_t now_us);

//  Applies the sequence rule to a signal of source with seq. Returns the
//  signals lost just before it (0 when none); *restarted tells a restart.
//  The untracked entry never reports loss or restarts.
uint64_t
    sis_sources_check_seq (sis_source_t *source, uint64_t seq, bool *restarted);

//  Sources tracked now (the untracked entry excluded).
size_t
    sis_sources_size (const sis_sources_t *self);

//  Signals that went to the untracked entry since creation.
uint64_t
    sis_sources_untracked (const sis_sources_t *self);

//  Idle sources evicted to make room since creation.
uint64_t
    sis_sources_evicted (const sis_sources_t *self);

//  The entry at index (0 .. max_sources, the last being the untracked
//  entry), or NULL when that slot holds no source. For iteration.
sis_source_t *
    sis_sources_at (sis_sources_t *self, size_t index);

//  max_sources + 1 (slots including the untracked entry).
size_t
    sis_sources_slots (const sis_sources_t *self);

//  Per-source rate limit: each source may send rate signals/s, with a
//  burst of one second's worth (at least 1); 0 = off. Applies to every
//  entry now and to new ones (the untracked entry is one source).
void
    sis_sources_set_rate_limit (sis_sources_t *self, double rate, uint64_t now_us);

//  Takes a token from source's limit bucket: false when the source is
//  over source_rate_limit (the caller drops the signal and counts it).
bool
    sis_sources_admit (sis_sources_t *self, sis_source_t *source, uint64_t now_us);

//  Sets the minimum idle time before a source may be evicted.
void
    sis_sources_set_idle (sis_sources_t *self, uint64_t idle_us);

#endif
