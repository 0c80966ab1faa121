/*  fac_pool — the factory's worker threads for CPU-bound work.

    A fixed set of pthreads takes items from one bounded FIFO queue, runs
    the work function on each, and hands the item back on a done list; the
    first item of a burst wakes the owner through an inproc socket
    (fac_pool_done_socket), which then takes the whole list at once, so the
    owner's event loop learns of completions without polling and without a
    message per item. Items are opaque pointers; the pool never frees them.

    The owner (the factory actor) is the only thread that submits and reads
    completions. Workers touch nothing but the item they run.
*/
#ifndef FAC_POOL_H_INCLUDED
#define FAC_POOL_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fac_pool fac_pool_t;

//  Runs on a worker thread.
typedef void (fac_pool_work_fn) (void *item);

//  Starts `workers` threads (≥ 1) with a queue of at most queue_capacity
//  items (≥ 1). NULL with the reason in err.
fac_pool_t *
    fac_pool_new (size_t workers, size_t queue_capacity, fac_pool_work_fn *work,
                  char *err, size_t err_size);

//  Stops the workers: each finishes the item it runs (which is then
//  reported done), queued items are not run. Items still queued or not yet
//  taken from the done socket are handed to `leftover` (may be NULL) so
//  the owner can free them. Nulls *self_p.
void
    fac_pool_destroy (fac_pool_t **self_p, void (*leftover) (void *item));

//  Queues an item. Returns 0, or -1 when the queue is full.
int
    fac_pool_submit (fac_pool_t *self, void *item);

//  Queues count items at once (one lock, one wake-up of the workers).
//  Returns how many were queued (fewer when the queue filled up).
size_t
    fac_pool_submit_many (fac_pool_t *self, void *const *items, size_t count);

//  The socket that becomes readable when items are done (for zloop).
zsock_t *
    fac_pool_done_socket (fac_pool_t *self);

//  The next done item, or NULL when none is waiting (never blocks).
void *
    fac_pool_take_done (fac_pool_t *self);

size_t
    fac_pool_workers (const fac_pool_t *self);
//  Items queued, not yet taken by a worker.
size_t
    fac_pool_queued (fac_pool_t *self);
//  Workers running an item now.
size_t
    fac_pool_busy (const fac_pool_t *self);
//  Total µs workers spent running items.
uint64_t
    fac_pool_busy_us (const fac_pool_t *self);

#endif
