/*  ff_token_bucket — rate limiting by token bucket.

    A plain value type (embedded per source in maps, so no allocation).
    Time is passed in by the caller (µs on the monotonic clock), which makes
    the bucket exact and testable. Tokens refill continuously at `rate` per
    second up to `burst`. A rate of 0 means unlimited: take always succeeds
    (a negative or NaN rate is taken as 0). A clock that goes backwards
    refills nothing (time is never earned twice).
*/
#ifndef FF_TOKEN_BUCKET_H_INCLUDED
#define FF_TOKEN_BUCKET_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double rate;            // tokens per second; 0 = unlimited
    double burst;           // bucket capacity (≥ 1 when rate > 0)
    double tokens;          // tokens available at last_us
    uint64_t last_us;       // time of the last refill
} ff_token_bucket_t;

//  Starts full. burst < 1 is raised to 1 when rate > 0.
void
    ff_token_bucket_init (ff_token_bucket_t *self, double rate, double burst,
                          uint64_t now_us);

//  Changes rate and burst, keeping the tokens earned so far (capped at the
//  new burst). From unlimited (rate 0) to limited the bucket starts full.
void
    ff_token_bucket_set_rate (ff_token_bucket_t *self, double rate, double burst,
                              uint64_t now_us);

//  Takes n tokens if available and returns true; otherwise takes nothing
//  and returns false.
bool
    ff_token_bucket_take (ff_token_bucket_t *self, double n, uint64_t now_us);

//  µs until n tokens will be available (0 = now): a take of n at now +
//  wait_us succeeds. UINT64_MAX when n exceeds the burst (never).
uint64_t
    ff_token_bucket_wait_us (ff_token_bucket_t *self, double n, uint64_t now_us);

#endif
