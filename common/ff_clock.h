/*  ff_clock — the two clocks farfan uses.

    Monotonic time measures intervals (timeouts, heartbeats, latencies,
    token buckets); wall time stamps signals and logs. Both in µs.
*/
#ifndef FF_CLOCK_H_INCLUDED
#define FF_CLOCK_H_INCLUDED

#include <stdint.h>

//  Microseconds on a monotonic clock with an arbitrary origin.
uint64_t ff_clock_mono_us (void);

//  Microseconds since the Unix epoch (wall clock; may jump).
uint64_t ff_clock_wall_us (void);

#endif
