/*  ff_token_bucket — see ff_token_bucket.h.

    Tokens are a double refilled lazily at each call from the time elapsed
    since last_us. A clock that goes backwards refills nothing and keeps
    last_us, so time never runs twice. Comparisons allow a tolerance of
    1e-9 token: after waiting exactly wait_us the take succeeds despite
    rounding.
*/
#include "ff_token_bucket.h"

#include <math.h>

#define S_EPSILON 1e-9

static void
s_refill (ff_token_bucket_t *self, uint64_t now_us)
{
    if (now_us <= self->last_us)
        return;
    if (self->rate > 0) {
        self->tokens += (double) (now_us - self->last_us) * self->rate / 1e6;
        if (self->tokens > self->burst)
            self->tokens = self->burst;
    }
    self->last_us = now_us;
}

void
ff_token_bucket_init (ff_token_bucket_t *self, double rate, double burst,
                      uint64_t now_us)
{
    if (!(rate > 0))
        rate = 0;               // negative or NaN: unlimited
    if (rate > 0 && !(burst >= 1))
        burst = 1;
    self->rate = rate;
    self->burst = burst;
    self->tokens = burst;
    self->last_us = now_us;
}

//  From unlimited to limited the bucket starts full: an unlimited bucket
//  had every token available.
void
ff_token_bucket_set_rate (ff_token_bucket_t *self, double rate, double burst,
                          uint64_t now_us)
{
    s_refill (self, now_us);
    bool was_unlimited = self->rate == 0;
    if (!(rate > 0))
        rate = 0;
    if (rate > 0 && !(burst >= 1))
        burst = 1;
    self->rate = rate;
    self->burst = burst;
    if (was_unlimited || self->tokens > burst)
        self->tokens = burst;
    if (now_us > self->last_us)
        self->last_us = now_us;
}

bool
ff_token_bucket_take (ff_token_bucket_t *self, double n, uint64_t now_us)
{
    if (self->rate == 0)
        return true;
    s_refill (self, now_us);
    if (self->tokens + S_EPSILON < n)
        return false;
    self->tokens -= n;
    if (self->tokens < 0)
        self->tokens = 0;
    return true;
}

uint64_t
ff_token_bucket_wait_us (ff_token_bucket_t *self, double n, uint64_t now_us)
{
    if (self->rate == 0)
        return 0;
    if (n > self->burst + S_EPSILON)
        return UINT64_MAX;
    s_refill (self, now_us);
    double missing = n - self->tokens;
    if (missing <= S_EPSILON)
        return 0;
    double wait = ceil (missing * 1e6 / self->rate);
    if (!(wait < 1.8e19))       // beyond uint64_t (a vanishing rate)
        return UINT64_MAX - 1;
    return (uint64_t) wait;
}
