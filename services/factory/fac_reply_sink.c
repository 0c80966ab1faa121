/*  fac_reply_sink — see fac_reply_sink.h. */
#include "fac_reply_sink.h"

#include "envelope.pb-c.h"
#include "ff_log.h"
#include "ff_pbwire.h"

struct fac_reply_flusher {
    zloop_t *loop;                  // borrowed
    zlistx_t *dirty;                // s_sink_t * holding pending results
    int timer_id;                   // armed while dirty is not empty, else -1
};

typedef struct {
    fac_sink_t base;                // first: the engine holds &base
    ff_reply_t *reply;
    fac_reply_flusher_t *flusher;   // borrowed; NULL when unbatched
    uint8_t *pending;               // ContractResults being built
    size_t used;
    size_t capacity;
    bool dirty;                     // in the flusher's list
} s_sink_t;

//  Sends what is pending as one RESULT_BATCH.
static void
s_flush (s_sink_t *self)
{
    if (self->used == 0)
        return;
    ff_reply_send_packed (self->reply, FARFAN__MESSAGE_TYPE__RESULT_BATCH, self->pending,
                          self->used);
    self->used = 0;
}

static int
s_turn_end (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    fac_reply_flusher_t *self = (fac_reply_flusher_t *) arg;
    self->timer_id = -1;            //  a one-shot timer: gone after this call
    s_sink_t *sink;
    while ((sink = (s_sink_t *) zlistx_first (self->dirty))) {
        zlistx_delete (self->dirty, zlistx_cursor (self->dirty));
        sink->dirty = false;
        s_flush (sink);
    }
    return 0;
}

//  The sink has pending results: flushed at the start of the next turn.
static void
s_mark_dirty (s_sink_t *self)
{
    fac_reply_flusher_t *flusher = self->flusher;
    if (!self->dirty) {
        zlistx_add_end (flusher->dirty, self);
        self->dirty = true;
    }
    if (flusher->timer_id < 0) {
        flusher->timer_id = zloop_timer (flusher->loop, 0, 1, s_turn_end, flusher);
        if (flusher->timer_id < 0) {
            ff_log_warn ("cannot arm the result flush: results sent as they come");
            s_turn_end (flusher->loop, -1, flusher);
        }
    }
}

static void
s_mark_clean (s_sink_t *self)
{
    if (!self->dirty)
        return;
    self->dirty = false;
    void *handle = zlistx_find (self->flusher->dirty, self);
    if (handle)
        zlistx_delete (self->flusher->dirty, handle);
}

fac_reply_flusher_t *
fac_reply_flusher_new (zloop_t *loop)
{
    fac_reply_flusher_t *self = (fac_reply_flusher_t *) zmalloc (sizeof (fac_reply_flusher_t));
    self->loop = loop;
    self->dirty = zlistx_new ();
    self->timer_id = -1;
    return self;
}

void
fac_reply_flusher_destroy (fac_reply_flusher_t **self_p)
{
    fac_reply_flusher_t *self = *self_p;
    if (!self)
        return;
    if (self->timer_id >= 0)
        zloop_timer_end (self->loop, self->timer_id);
    zlistx_destroy (&self->dirty);
    free (self);
    *self_p = NULL;
}

//  Appends one result to the pending batch; false when out of memory.
static bool
s_append (s_sink_t *self, const uint8_t *data, size_t size)
{
    size_t needed = self->used + FF_PBWIRE_HEADER_MAX + size;
    if (needed > self->capacity) {
        size_t capacity = self->capacity ? self->capacity : 4096;
        while (capacity < needed)
            capacity *= 2;
        uint8_t *grown = (uint8_t *) realloc (self->pending, capacity);
        if (!grown)
            return false;
        self->pending = grown;
        self->capacity = capacity;
    }
    ff_pbwire_put_length (self->pending, &self->used, 1, size);
    memcpy (self->pending + self->used, data, size);
    self->used += size;
    return true;
}

static void
s_result (fac_sink_t *sink, const uint8_t *data, size_t size)
{
    s_sink_t *self = (s_sink_t *) sink;
    if (!self->flusher) {
        ff_reply_send_packed (self->reply, FARFAN__MESSAGE_TYPE__RESULT, data, size);
        return;
    }
    if (!s_append (self, data, size)) {
        //  No memory to batch it: what is pending goes first, then this
        //  one alone, so the order holds.
        s_flush (self);
        ff_reply_send_packed (self->reply, FARFAN__MESSAGE_TYPE__RESULT, data, size);
        return;
    }
    if (self->used >= FAC_REPLY_SINK_BATCH_BYTES)
        s_flush (self);
    else
        s_mark_dirty (self);
}

static void
s_free (s_sink_t *self)
{
    s_mark_clean (self);
    ff_reply_destroy (&self->reply);
    free (self->pending);
    free (self);
}

static void
s_done (fac_sink_t *sink, const Farfan__BatchDone *done)
{
    s_sink_t *self = (s_sink_t *) sink;
    s_flush (self);
    ff_reply_send (self->reply, FARFAN__MESSAGE_TYPE__BATCH_DONE, &done->base);
    s_free (self);
}

static void
s_abandon (fac_sink_t *sink)
{
    s_free ((s_sink_t *) sink);
}

fac_sink_t *
fac_reply_sink_new (ff_reply_t *reply, fac_reply_flusher_t *flusher)
{
    s_sink_t *self = (s_sink_t *) zmalloc (sizeof (s_sink_t));
    self->base.result = s_result;
    self->base.done = s_done;
    self->base.abandon = s_abandon;
    self->reply = reply;
    self->flusher = flusher;
    return &self->base;
}

ff_reply_t *
fac_reply_sink_reply (fac_sink_t *sink)
{
    return ((s_sink_t *) sink)->reply;
}

void
fac_reply_sink_destroy (fac_sink_t **sink_p)
{
    if (*sink_p)
        s_free ((s_sink_t *) *sink_p);
    *sink_p = NULL;
}
