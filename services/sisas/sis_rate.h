/*  sis_rate — an event rate over a sliding 1 s window, in 100 ms steps.

    A plain value type (embedded per source, no allocation). Ten slots of
    100 ms count events; the rate is the sum of the slots that cover the
    last second, the current (partial) slot included, so it reads between
    0.9 and 1.0 s of history: a steady stream of R events/s reads R (± one
    slot's worth). Time is passed in (µs, monotonic clock). A clock that
    goes backwards counts into the current slot.
*/
#ifndef SIS_RATE_H_INCLUDED
#define SIS_RATE_H_INCLUDED

#include <stdint.h>
#include <string.h>

#define SIS_RATE_SLOTS      10
#define SIS_RATE_SLOT_US    100000

typedef struct {
    uint32_t slots [SIS_RATE_SLOTS];    // events per 100 ms slot
    uint64_t epoch;                     // slot number (now / 100 ms) of slots' newest
    uint64_t next_us;                   // start of the slot after epoch (fast path)
    uint64_t sum;                       // sum of slots
} sis_rate_t;

static inline void
sis_rate_init (sis_rate_t *self, uint64_t now_us)
{
    memset (self, 0, sizeof *self);
    self->epoch = now_us / SIS_RATE_SLOT_US;
    self->next_us = (self->epoch + 1) * SIS_RATE_SLOT_US;
}

//  Moves the window to now, forgetting slots older than one second.
static inline void
sis_rate_advance (sis_rate_t *self, uint64_t now_us)
{
    if (now_us < self->next_us)
        return;             //  still in the newest slot (or the clock went back)
    uint64_t slot = now_us / SIS_RATE_SLOT_US;
    if (slot <= self->epoch)
        return;
    if (slot - self->epoch >= SIS_RATE_SLOTS) {
        memset (self->slots, 0, sizeof self->slots);
        self->sum = 0;
    }
    else
        for (uint64_t next = self->epoch + 1; next <= slot; next++) {
            self->sum -= self->slots [next % SIS_RATE_SLOTS];
            self->slots [next % SIS_RATE_SLOTS] = 0;
        }
    self->epoch = slot;
    self->next_us = (slot + 1) * SIS_RATE_SLOT_US;
}

static inline void
sis_rate_add (sis_rate_t *self, uint64_t now_us, uint32_t count)
{
    sis_rate_advance (self, now_us);
    self->slots [self->epoch % SIS_RATE_SLOTS] += count;
    self->sum += count;
}

//  Events in the last second (events/s).
static inline uint64_t
sis_rate_get (sis_rate_t *self, uint64_t now_us)
{
    sis_rate_advance (self, now_us);
    return self->sum;
}

#endif
