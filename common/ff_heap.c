#include "ff_heap.h"

#include <malloc.h>

int
ff_heap_retain (int64_t megabytes)
{
    if (megabytes < 0 || megabytes > FF_HEAP_RETAIN_MAX_MB)
        return -1;
    if (megabytes == 0)
        return 0;
    int bytes = (int) (megabytes * 1024 * 1024);
    //  glibc's mallopt returns 1; an allocator standing in for it (a
    //  sanitizer's) takes the call and returns 0.
    if (mallopt (M_TRIM_THRESHOLD, bytes) != 1 || mallopt (M_TOP_PAD, bytes / 4) != 1)
        return 1;
    return 0;
}
