/*  fac_pool — see fac_pool.h. */
#include "fac_pool.h"
#include "ff_clock.h"

#include <pthread.h>
#include <stdatomic.h>

//  How many items a worker takes at once: enough for about S_GRAB_US of
//  work by the items' measured cost (a grab costs a lock and, on a virtual
//  machine, tens of µs of wake-ups, worth amortising over tiny items), at
//  most its share of the queue (so the last items still spread over every
//  worker) and at most S_GRAB_MAX. Items of a millisecond or more go one by
//  one.
#define S_GRAB_US    200
#define S_GRAB_MAX   64

typedef struct {
    fac_pool_t *pool;           // back pointer
    pthread_t thread;
    bool started;
} s_worker_t;

struct fac_pool {
    fac_pool_work_fn *work;     // what workers run
    pthread_mutex_t lock;       // guards the queue, stopping and the done list
    pthread_cond_t wake;        // signalled when items arrive or on stop
    void **queue;               // ring of queue_capacity items
    size_t queue_capacity;
    size_t head;                // next item to take
    size_t count;               // items queued
    bool stopping;
    s_worker_t *workers;
    size_t worker_count;
    //  Every item is in one place: queued, running, done or taken, so
    //  queue_capacity + workers bounds each list and they never grow.
    void **done_items;          // finished, not yet taken (shared, under lock)
    size_t done_count;
    void **taken;               // moved to the owner side, handed out one by one
    size_t taken_count;
    size_t taken_next;
    char endpoint [64];         // inproc endpoint of the done socket
    zsock_t *done;              // PULL, owned by the owner thread: a byte per wake-up
    atomic_size_t busy;         // workers running an item
    atomic_uint_fast64_t busy_us;
    atomic_uint_fast64_t item_us;   // smoothed µs per item (sizes grabs)
};

static void *
s_worker_main (void *arg)
{
    s_worker_t *worker = (s_worker_t *) arg;
    fac_pool_t *self = worker->pool;
    zsock_t *push = zsock_new (ZMQ_PUSH);
    if (push) {
        //  A wake-up is sent only when the done list goes from empty to
        //  not empty, so at most one per worker is ever unread.
        zsock_set_sndhwm (push, 16);
        zsock_set_linger (push, 0);
        if (zsock_connect (push, "%s", self->endpoint) != 0)
            zsock_destroy (&push);
    }
    void *batch [S_GRAB_MAX];
    while (true) {
        pthread_mutex_lock (&self->lock);
        while (!self->stopping && self->count == 0)
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->stopping || !push) {
            pthread_mutex_unlock (&self->lock);
            break;
        }
        size_t grab = self->count / self->worker_count;
        uint64_t item_us = atomic_load (&self->item_us);
        size_t by_cost = item_us ? S_GRAB_US / item_us : S_GRAB_MAX;
        if (grab > by_cost)
            grab = by_cost;
        grab = grab < 1 ? 1 : grab > S_GRAB_MAX ? S_GRAB_MAX : grab;
        for (size_t i = 0; i < grab; i++) {
            batch [i] = self->queue [self->head];
            self->head = (self->head + 1) % self->queue_capacity;
        }
        self->count -= grab;
        atomic_fetch_add (&self->busy, 1);
        pthread_mutex_unlock (&self->lock);

        uint64_t started = ff_clock_mono_us ();
        for (size_t i = 0; i < grab; i++)
            self->work (batch [i]);
        uint64_t spent = ff_clock_mono_us () - started;
        atomic_fetch_add (&self->busy_us, spent);
        //  Cost per item, smoothed (racing updates from workers are fine:
        //  it only sizes grabs).
        uint64_t previous = atomic_load (&self->item_us);
        atomic_store (&self->item_us, (previous * 3 + spent / grab) / 4);
        atomic_fetch_sub (&self->busy, 1);

        //  Hand the items back; only the first of a burst wakes the owner,
        //  who takes the whole list at once.
        pthread_mutex_lock (&self->lock);
        bool wake = self->done_count == 0;
        for (size_t i = 0; i < grab; i++)
            self->done_items [self->done_count++] = batch [i];
        pthread_mutex_unlock (&self->lock);
        if (wake)
            zmq_send (zsock_resolve (push), "", 1, 0);
    }
    zsock_destroy (&push);
    return NULL;
}

fac_pool_t *
fac_pool_new (size_t workers, size_t queue_capacity, fac_pool_work_fn *work,
              char *err, size_t err_size)
{
    if (workers == 0 || queue_capacity == 0) {
        snprintf (err, err_size, "pool: workers and queue capacity must be > 0");
        return NULL;
    }
    fac_pool_t *self = (fac_pool_t *) zmalloc (sizeof (fac_pool_t));
    self->work = work;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    self->queue_capacity = queue_capacity;
    self->queue = (void **) calloc (queue_capacity, sizeof (void *));
    self->workers = (s_worker_t *) calloc (workers, sizeof (s_worker_t));
    self->done_items = (void **) calloc (queue_capacity + workers, sizeof (void *));
    self->taken = (void **) calloc (queue_capacity + workers, sizeof (void *));
    self->worker_count = workers;
    snprintf (self->endpoint, sizeof self->endpoint, "inproc://fac-pool-%p", (void *) self);
    self->done = zsock_new (ZMQ_PULL);
    if (!self->queue || !self->workers || !self->done || !self->done_items || !self->taken) {
        snprintf (err, err_size, "pool: out of memory");
        goto failed;
    }
    zsock_set_rcvhwm (self->done, (int) (16 * workers));
    zsock_set_linger (self->done, 0);
    if (zsock_bind (self->done, "%s", self->endpoint) != 0) {
        snprintf (err, err_size, "pool: bind %s: %s", self->endpoint, zmq_strerror (zmq_errno ()));
        goto failed;
    }
    for (size_t i = 0; i < workers; i++) {
        self->workers [i].pool = self;
        int rc = pthread_create (&self->workers [i].thread, NULL, s_worker_main, &self->workers [i]);
        if (rc != 0) {
            snprintf (err, err_size, "pool: cannot start worker %zu: %s", i, strerror (rc));
            goto failed;
        }
        self->workers [i].started = true;
    }
    return self;

failed:
    fac_pool_destroy (&self, NULL);
    return NULL;
}

void
fac_pool_destroy (fac_pool_t **self_p, void (*leftover) (void *item))
{
    if (!self_p || !*self_p)
        return;
    fac_pool_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; self->workers && i < self->worker_count; i++)
        if (self->workers [i].started)
            pthread_join (self->workers [i].thread, NULL);
    //  Workers are gone: what is queued or reported but unread is the owner's.
    if (leftover) {
        for (size_t i = 0; i < self->count; i++)
            leftover (self->queue [(self->head + i) % self->queue_capacity]);
        void *item;
        while (self->done && (item = fac_pool_take_done (self)))
            leftover (item);
    }
    free (self->done_items);
    free (self->taken);
    zsock_destroy (&self->done);
    free (self->queue);
    free (self->workers);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
fac_pool_submit (fac_pool_t *self, void *item)
{
    pthread_mutex_lock (&self->lock);
    if (self->count == self->queue_capacity || self->stopping) {
        pthread_mutex_unlock (&self->lock);
        return -1;
    }
    self->queue [(self->head + self->count) % self->queue_capacity] = item;
    self->count++;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

size_t
fac_pool_submit_many (fac_pool_t *self, void *const *items, size_t count)
{
    pthread_mutex_lock (&self->lock);
    size_t queued = 0;
    while (queued < count && self->count < self->queue_capacity && !self->stopping) {
        self->queue [(self->head + self->count) % self->queue_capacity] = items [queued++];
        self->count++;
    }
    if (queued > 1)
        pthread_cond_broadcast (&self->wake);
    else
    if (queued == 1)
        pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return queued;
}

zsock_t *
fac_pool_done_socket (fac_pool_t *self)
{
    return self->done;
}

void *
fac_pool_take_done (fac_pool_t *self)
{
    if (self->taken_next < self->taken_count)
        return self->taken [self->taken_next++];
    //  Wake-ups first, then the list: a worker that adds an item after
    //  the swap below sends a new wake-up, so nothing is missed.
    char token;
    while (zmq_recv (zsock_resolve (self->done), &token, 1, ZMQ_DONTWAIT) >= 0)
        ;
    pthread_mutex_lock (&self->lock);
    void **items = self->done_items;
    size_t count = self->done_count;
    self->done_items = self->taken;
    self->done_count = 0;
    pthread_mutex_unlock (&self->lock);
    self->taken = items;
    self->taken_count = count;
    self->taken_next = 0;
    return self->taken_next < self->taken_count ? self->taken [self->taken_next++] : NULL;
}

size_t
fac_pool_workers (const fac_pool_t *self)
{
    return self->worker_count;
}

size_t
fac_pool_queued (fac_pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t count = self->count;
    pthread_mutex_unlock (&self->lock);
    return count;
}

size_t
fac_pool_busy (const fac_pool_t *self)
{
    return atomic_load (&((fac_pool_t *) self)->busy);
}

uint64_t
fac_pool_busy_us (const fac_pool_t *self)
{
    return atomic_load (&((fac_pool_t *) self)->busy_us);
}
