/*  test_token_bucket — rate limiting with an injected clock (µs). */
#include <criterion/criterion.h>

#include "ff_test.h"
#include <stdint.h>

#include "ff_token_bucket.h"

#define T0 1000000000ull    // an arbitrary start, far from 0

FF_TEST (token_bucket, starts_full_and_empties)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 10, 5, T0);
    for (int index = 0; index < 5; index++)
        cr_expect (ff_token_bucket_take (&bucket, 1, T0), "take %d", index);
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0));
    //  A refused take takes nothing.
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0));
}

FF_TEST (token_bucket, refills_continuously)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 10, 5, T0);
    cr_assert (ff_token_bucket_take (&bucket, 5, T0));
    //  10/s: one token every 100 ms.
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0 + 99999));
    cr_expect (ff_token_bucket_take (&bucket, 1, T0 + 100000));
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0 + 100000));
    //  Partial tokens accumulate across calls.
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0 + 150000));
    cr_expect (ff_token_bucket_take (&bucket, 1, T0 + 200000));
    //  Fractional takes.
    cr_expect (ff_token_bucket_take (&bucket, 0.5, T0 + 250000));
    cr_expect_not (ff_token_bucket_take (&bucket, 0.5, T0 + 250000));
}

FF_TEST (token_bucket, burst_caps_the_refill)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 10, 5, T0);
    cr_assert (ff_token_bucket_take (&bucket, 5, T0));
    uint64_t later = T0 + 3600ull * 1000000;      // an hour idle
    for (int index = 0; index < 5; index++)
        cr_expect (ff_token_bucket_take (&bucket, 1, later));
    cr_expect_not (ff_token_bucket_take (&bucket, 1, later));
    //  More than the burst at once: never.
    cr_expect_not (ff_token_bucket_take (&bucket, 6, later + 3600ull * 1000000));
}

FF_TEST (token_bucket, wait_us)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 4, 2, T0);
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 1, T0), 0);
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 2, T0), 0);
    cr_assert (ff_token_bucket_take (&bucket, 2, T0));
    //  4/s: a token every 250 ms.
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 1, T0), 250000);
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 2, T0), 500000);
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 1, T0 + 100000), 150000);
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 3, T0), UINT64_MAX);
    //  Waiting exactly that long is enough, at odd rates too.
    ff_token_bucket_init (&bucket, 3, 1, T0);
    cr_assert (ff_token_bucket_take (&bucket, 1, T0));
    uint64_t now = T0;
    for (int index = 0; index < 100; index++) {
        uint64_t wait = ff_token_bucket_wait_us (&bucket, 1, now);
        cr_assert_gt (wait, 0);
        cr_assert_not (ff_token_bucket_take (&bucket, 1, now + wait - 1), "early at %d", index);
        now += wait;
        cr_assert (ff_token_bucket_take (&bucket, 1, now), "on time at %d", index);
    }
    //  100 tokens at 3/s took 33.3 s, not more.
    cr_expect_leq (now - T0, 33333400);
}

FF_TEST (token_bucket, unlimited)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 0, 0, T0);
    for (int index = 0; index < 100000; index++)
        cr_assert (ff_token_bucket_take (&bucket, 1, T0));
    cr_expect (ff_token_bucket_take (&bucket, 1e12, T0));
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 1e12, T0), 0);
}

FF_TEST (token_bucket, burst_below_one_is_raised)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 5, 0, T0);
    cr_expect_eq (bucket.burst, 1);
    cr_expect (ff_token_bucket_take (&bucket, 1, T0));
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0));
    cr_expect_neq (ff_token_bucket_wait_us (&bucket, 1, T0), UINT64_MAX);
}

FF_TEST (token_bucket, set_rate_keeps_earned_tokens)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 10, 10, T0);
    cr_assert (ff_token_bucket_take (&bucket, 10, T0));
    //  300 ms at 10/s earned 3 tokens; the new rate applies from now on.
    ff_token_bucket_set_rate (&bucket, 100, 10, T0 + 300000);
    cr_expect (ff_token_bucket_take (&bucket, 3, T0 + 300000));
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0 + 300000));
    cr_expect (ff_token_bucket_take (&bucket, 1, T0 + 310000));

    //  Tokens are capped at a smaller burst.
    ff_token_bucket_init (&bucket, 10, 10, T0);
    ff_token_bucket_set_rate (&bucket, 10, 2, T0);
    cr_expect (ff_token_bucket_take (&bucket, 2, T0));
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0));
}

FF_TEST (token_bucket, set_rate_to_and_from_unlimited)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 1, 1, T0);
    cr_assert (ff_token_bucket_take (&bucket, 1, T0));
    cr_assert_not (ff_token_bucket_take (&bucket, 1, T0));
    ff_token_bucket_set_rate (&bucket, 0, 0, T0);
    for (int index = 0; index < 1000; index++)
        cr_assert (ff_token_bucket_take (&bucket, 1, T0));
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 1, T0), 0);
    //  Back to limited: starts full at the new burst.
    ff_token_bucket_set_rate (&bucket, 2, 3, T0);
    cr_expect (ff_token_bucket_take (&bucket, 3, T0));
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0));
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 1, T0), 500000);
}

FF_TEST (token_bucket, clock_going_backwards)
{
    ff_token_bucket_t bucket;
    ff_token_bucket_init (&bucket, 10, 1, T0);
    cr_assert (ff_token_bucket_take (&bucket, 1, T0));
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0 - 500000));
    //  Time that ran backwards is not earned twice.
    cr_expect_not (ff_token_bucket_take (&bucket, 1, T0 + 50000));
    cr_expect (ff_token_bucket_take (&bucket, 1, T0 + 100000));
    cr_expect_eq (ff_token_bucket_wait_us (&bucket, 1, 0), 100000);
}
