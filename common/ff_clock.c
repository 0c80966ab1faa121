#include "ff_clock.h"

#include <time.h>

static uint64_t
s_clock_us (clockid_t clock_id)
{
    struct timespec ts;
    clock_gettime (clock_id, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t
ff_clock_mono_us (void)
{
    return s_clock_us (CLOCK_MONOTONIC);
}

uint64_t
ff_clock_wall_us (void)
{
    return s_clock_us (CLOCK_REALTIME);
}
