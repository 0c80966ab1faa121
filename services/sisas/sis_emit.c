/*  sis_emit — see sis_emit.h.

    A minimal msgpack writer builds the "fused" extra and the control
    payloads into a fixed buffer (their size is bounded: at most
    SIS_EMIT_THROTTLE_TARGETS sources of at most 256 bytes); the map
    itself is ff_signal_encode's, so both are canonical schema-v1 maps.
*/
#include "sis_emit.h"
#include "ff_clock.h"
#include "ff_signal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

//  Payload / extras: 64 targets × (≤ 259 + 9) bytes + headers.
#define S_PART_MAX (SIS_EMIT_THROTTLE_TARGETS * 280 + 1024)
#define S_BUF_MAX (S_PART_MAX + 2048)

typedef struct {
    uint8_t *data;
    size_t size;
    size_t used;
    bool overflow;
} s_writer_t;

static void
s_put (s_writer_t *w, const void *data, size_t size)
{
    if (w->used + size > w->size) {
        w->overflow = true;
        return;
    }
    memcpy (w->data + w->used, data, size);
    w->used += size;
}

static void
s_put_byte (s_writer_t *w, uint8_t byte)
{
    s_put (w, &byte, 1);
}

static void
s_put_be (s_writer_t *w, uint64_t value, int bytes)
{
    uint8_t out [8];
    for (int i = 0; i < bytes; i++)
        out [i] = (uint8_t) (value >> (8 * (bytes - 1 - i)));
    s_put (w, out, (size_t) bytes);
}

static void
s_put_map (s_writer_t *w, uint32_t count)
{
    if (count < 16)
        s_put_byte (w, (uint8_t) (0x80 | count));
    else {
        s_put_byte (w, 0xde);
        s_put_be (w, count, 2);
    }
}

static void
s_put_array (s_writer_t *w, uint32_t count)
{
    if (count < 16)
        s_put_byte (w, (uint8_t) (0x90 | count));
    else {
        s_put_byte (w, 0xdc);
        s_put_be (w, count, 2);
    }
}

static void
s_put_str (s_writer_t *w, const char *text)
{
    size_t size = strlen (text);
    if (size < 32)
        s_put_byte (w, (uint8_t) (0xa0 | size));
    else
    if (size < 256) {
        s_put_byte (w, 0xd9);
        s_put_be (w, size, 1);
    }
    else {
        s_put_byte (w, 0xda);
        s_put_be (w, size, 2);
    }
    s_put (w, text, size);
}

static void
s_put_uint (s_writer_t *w, uint64_t value)
{
    if (value < 128)
        s_put_byte (w, (uint8_t) value);
    else
    if (value <= UINT32_MAX) {
        s_put_byte (w, 0xce);
        s_put_be (w, value, 4);
    }
    else {
        s_put_byte (w, 0xcf);
        s_put_be (w, value, 8);
    }
}

static void
s_put_double (s_writer_t *w, double value)
{
    uint64_t bits;
    memcpy (&bits, &value, sizeof bits);
    s_put_byte (w, 0xcb);
    s_put_be (w, bits, 8);
}

static void
s_put_bool (s_writer_t *w, bool value)
{
    s_put_byte (w, value ? 0xc3 : 0xc2);
}

struct sis_emit {
    zsock_t *sock;                      // delivery XPUB, borrowed
    sis_sources_t *sources;             // for source names, borrowed
    char source [FF_SIGNAL_SOURCE_MAX + 1];
    uint64_t seq;                       // of the next signal emitted
    ff_signal_t signal;                 // scratch
    uint8_t part [S_PART_MAX];          // payload or extras
    uint8_t buf [S_BUF_MAX];            // the encoded map
    uint64_t fused;
    uint64_t control;
    uint64_t dropped;
};

sis_emit_t *
sis_emit_new (zsock_t *sock, const char *instance_id, sis_sources_t *sources)
{
    sis_emit_t *self = (sis_emit_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = sock;
    self->sources = sources;
    snprintf (self->source, sizeof self->source, "sisas/%s", instance_id);
    return self;
}

void
sis_emit_destroy (sis_emit_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  Stamps and sends self->signal. 0, or -1 when refused or too large.
static int
s_send (sis_emit_t *self, const char *topic)
{
    ff_signal_t *signal = &self->signal;
    uint64_t seq = self->seq++;
    snprintf (signal->source, sizeof signal->source, "%s", self->source);
    snprintf (signal->id, sizeof signal->id, "%.100s:%" PRIu64, self->source, seq);
    signal->seq = seq;
    if (signal->ts_us == 0)
        signal->ts_us = ff_clock_wall_us ();
    size_t size = ff_signal_encode (signal, self->buf, sizeof self->buf);
    void *handle = zsock_resolve (self->sock);
    if (size > sizeof self->buf
    ||  zmq_send (handle, topic, strlen (topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        self->dropped++;
        return -1;
    }
    zmq_send (handle, self->buf, size, ZMQ_DONTWAIT);
    return 0;
}

int
sis_emit_fused (sis_emit_t *self, const sis_fusion_group_t *group)
{
    ff_signal_t *signal = &self->signal;
    ff_signal_init (signal);
    snprintf (signal->type, sizeof signal->type, "%s", group->type);
    snprintf (signal->subject, sizeof signal->subject, "%s", group->subject);
    signal->phase = group->phase;
    signal->confidence = group->confidence;
    signal->ts_us = group->anchor_ts_us;

    s_writer_t w = { self->part, sizeof self->part, 0, false };
    s_put_str (&w, "fused");
    s_put_map (&w, 8);
    s_put_str (&w, "group");
    s_put_str (&w, group->first_id);
    s_put_str (&w, "members");
    s_put_uint (&w, group->members);
    s_put_str (&w, "sources");
    s_put_array (&w, group->source_count);
    for (uint32_t i = 0; i < group->source_count; i++) {
        sis_source_t *source = sis_sources_at (self->sources, group->sources [i]);
        s_put_str (&w, source ? source->name : "");
    }
    s_put_str (&w, "more_sources");
    s_put_bool (&w, group->more_sources);
    s_put_str (&w, "method");
    s_put_str (&w, sis_fusion_method_name (group->method));
    s_put_str (&w, "first_confidence");
    s_put_double (&w, group->first_confidence);
    s_put_str (&w, "window_ms");
    s_put_uint (&w, group->window_us / 1000);
    s_put_str (&w, "early");
    s_put_bool (&w, group->early);
    if (w.overflow) {
        self->dropped++;
        return -1;
    }
    signal->extra = self->part;
    signal->extra_size = w.used;
    signal->extra_count = 1;
    if (s_send (self, group->type) != 0)
        return -1;
    self->fused++;
    return 0;
}

int
sis_emit_throttle (sis_emit_t *self, const sis_emit_throttle_t *throttle)
{
    ff_signal_t *signal = &self->signal;
    ff_signal_init (signal);
    strcpy (signal->type, SIS_CONTROL_TOPIC);
    s_writer_t w = { self->part, sizeof self->part, 0, false };
    s_put_map (&w, 6);
    s_put_str (&w, "kind");
    s_put_str (&w, "THROTTLE");
    s_put_str (&w, "active");
    s_put_bool (&w, throttle->active);
    s_put_str (&w, "rate_limit");
    s_put_double (&w, throttle->rate_limit);
    s_put_str (&w, "rate");
    s_put_double (&w, throttle->rate);
    s_put_str (&w, "level");
    s_put_double (&w, throttle->level);
    s_put_str (&w, "targets");
    size_t count = throttle->target_count < SIS_EMIT_THROTTLE_TARGETS
                 ? throttle->target_count : SIS_EMIT_THROTTLE_TARGETS;
    s_put_map (&w, (uint32_t) count);
    for (size_t i = 0; i < count; i++) {
        s_put_str (&w, throttle->targets [i]->name);
        s_put_double (&w, throttle->level);
    }
    if (w.overflow) {
        self->dropped++;
        return -1;
    }
    signal->payload = self->part;
    signal->payload_size = w.used;
    if (s_send (self, SIS_CONTROL_TOPIC) != 0)
        return -1;
    self->control++;
    return 0;
}

int
sis_emit_backpressure (sis_emit_t *self, const sis_emit_backpressure_t *backpressure)
{
    ff_signal_t *signal = &self->signal;
    ff_signal_init (signal);
    strcpy (signal->type, SIS_CONTROL_TOPIC);
    s_writer_t w = { self->part, sizeof self->part, 0, false };
    s_put_map (&w, 6);
    s_put_str (&w, "kind");
    s_put_str (&w, "BACKPRESSURE");
    s_put_str (&w, "active");
    s_put_bool (&w, backpressure->active);
    s_put_str (&w, "utilization");
    s_put_double (&w, backpressure->utilization);
    s_put_str (&w, "pending");
    s_put_uint (&w, backpressure->pending);
    s_put_str (&w, "threshold");
    s_put_uint (&w, backpressure->threshold);
    s_put_str (&w, "max_pending");
    s_put_uint (&w, backpressure->max_pending);
    signal->payload = self->part;
    signal->payload_size = w.used;
    if (s_send (self, SIS_CONTROL_TOPIC) != 0)
        return -1;
    self->control++;
    return 0;
}

uint64_t
sis_emit_fused_count (const sis_emit_t *self)
{
    return self->fused;
}

uint64_t
sis_emit_control_count (const sis_emit_t *self)
{
    return self->control;
}

uint64_t
sis_emit_dropped (const sis_emit_t *self)
{
    return self->dropped;
}

const char *
sis_emit_source (const sis_emit_t *self)
{
    return self->source;
}
