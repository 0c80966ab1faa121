/*  ff_heap — how much freed memory the process keeps for reuse.

    glibc returns the free memory at the top of a heap to the kernel as
    soon as it exceeds 128 KiB (M_TRIM_THRESHOLD) and pads each growth by
    128 KiB only (M_TOP_PAD). libzmq's I/O threads allocate the receive
    buffers that service threads free, burst after burst, so with those
    defaults every burst gives pages back and faults them in again (on a
    virtual machine a fault is dear): measured with bench_sisas, a
    forwarding broker moved 0.59 M msg/s with the defaults and 1.0-1.1 M
    with 64 MiB kept; SISAS 0.36-0.42 M and 0.48-0.55 M.

    ff_heap_retain (megabytes) keeps up to that much free memory at the
    top of each heap (M_TRIM_THRESHOLD) and grows heaps by a quarter of it
    (M_TOP_PAD). Resident memory then stays near its high-water mark
    instead of following every burst down; it is still bounded by what the
    process's bounded queues ever hold at once. 0 leaves glibc's defaults.
    Every daemon applies its `heap_retain_mb` setting at start; benchmarks
    apply the default so that they measure what the daemons run.
*/
#ifndef FF_HEAP_H_INCLUDED
#define FF_HEAP_H_INCLUDED

#include <stdint.h>

//  The daemons' default, in MiB (the `heap_retain_mb` setting).
#define FF_HEAP_RETAIN_DEFAULT_MB 64
#define FF_HEAP_RETAIN_MAX_MB     1024
//  The same, as configuration text.
#define FF_HEAP_TEXT_(value) #value
#define FF_HEAP_TEXT(value) FF_HEAP_TEXT_ (value)

//  Returns 0 when applied (or megabytes is 0), 1 when the allocator in use
//  has no such settings (AddressSanitizer's: nothing changes), -1 when
//  megabytes is out of 0..FF_HEAP_RETAIN_MAX_MB.
int
    ff_heap_retain (int64_t megabytes);

#endif
