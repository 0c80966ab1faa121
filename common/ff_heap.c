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
    //  mallopt returns 1 on success.
    if (mallopt (M_TRIM_THRESHOLD, bytes) != 1 || mallopt (M_TOP_PAD, bytes / 4) != 1)
        return -1;
    return 0;
}
