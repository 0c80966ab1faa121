/*  ff_signal — msgpack signal codec, schema v1 (proto/signal-schema.md).

    The decoder makes one pass over the map with ff_msgpack_reader: every
    value is validated (structure, nesting depth), known keys keep their
    scalar item, unknown key/value pairs are gathered into one contiguous
    run. Semantic checks run after the pass, so that a structural fault
    anywhere wins over a field fault and the version check comes before
    the field checks (a v2 signal is reported as "version", not as
    whatever v1 field rule it happens to break).
*/
#include "ff_signal.h"
#include "ff_utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ff_msgpack_reader.h"

//  Known keys, in the order the encoder writes them.
typedef enum {
    K_V, K_ID, K_TYPE, K_SOURCE, K_SUBJECT, K_PHASE, K_CONFIDENCE, K_TS,
    K_SEQ, K_PAYLOAD, K__COUNT
} s_key_t;

static const char *s_key_names [K__COUNT] = {
    "v", "id", "type", "source", "subject", "phase", "confidence", "ts",
    "seq", "payload",
};

#define S_STR(x) #x
#define S_XSTR(x) S_STR (x)

#define S_REQUIRED ((1u << K_ID) | (1u << K_TYPE) | (1u << K_SOURCE) \
                  | (1u << K_TS) | (1u << K_SEQ))

//  Which known key the string key[0..size) is, or -1.
static inline int
s_key_index (const uint8_t *key, uint32_t size)
{
    switch (size) {
        case 1:
            return key [0] == 'v' ? K_V : -1;
        case 2:
            if (key [0] == 'i' && key [1] == 'd')
                return K_ID;
            if (key [0] == 't' && key [1] == 's')
                return K_TS;
            return -1;
        case 3:
            return memcmp (key, "seq", 3) == 0 ? K_SEQ : -1;
        case 4:
            return memcmp (key, "type", 4) == 0 ? K_TYPE : -1;
        case 5:
            return memcmp (key, "phase", 5) == 0 ? K_PHASE : -1;
        case 6:
            return memcmp (key, "source", 6) == 0 ? K_SOURCE : -1;
        case 7:
            if (memcmp (key, "subject", 7) == 0)
                return K_SUBJECT;
            if (memcmp (key, "payload", 7) == 0)
                return K_PAYLOAD;
            return -1;
        case 10:
            return memcmp (key, "confidence", 10) == 0 ? K_CONFIDENCE : -1;
        default:
            return -1;
    }
}

//  Formats detail (when wanted) and returns error: the one exit of every
//  rejection, so the success path never pays for formatting.
static ff_signal_error_t
    s_fail (ff_signal_error_t error, char *detail, size_t detail_size,
            const char *format, ...) __attribute__ ((format (printf, 4, 5)));

static ff_signal_error_t
s_fail (ff_signal_error_t error, char *detail, size_t detail_size,
        const char *format, ...)
{
    if (detail && detail_size > 0) {
        va_list args;
        va_start (args, format);
        vsnprintf (detail, detail_size, format, args);
        va_end (args);
    }
    return error;
}

static const char *
s_reader_error (int rc)
{
    switch (rc) {
        case FF_MSGPACK_TRUNCATED:
            return "truncated";
        case FF_MSGPACK_INVALID:
            return "invalid byte 0xc1";
        case FF_MSGPACK_TOO_DEEP:
            return "nested deeper than " S_XSTR (FF_SIGNAL_DEPTH_MAX);
        default:
            return "malformed";
    }
}


//  Copies a string field into out (max bytes + NUL) after checking it.
static ff_signal_error_t
s_take_string (char *out, size_t max, const ff_msgpack_item_t *item,
               const char *name, bool allow_empty,
               char *detail, size_t detail_size)
{
    if (item->type != FF_MSGPACK_STR)
        return s_fail (FF_SIGNAL_ERR_TYPE, detail, detail_size,
                       "%s: expected str, got %s", name,
                       ff_msgpack_type_name (item->type));
    if (item->size > max)
        return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                       "%s: %u bytes, longer than %zu", name,
                       (unsigned) item->size, max);
    if (item->size == 0 && !allow_empty)
        return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                       "%s: empty", name);
    size_t bad = ff_utf8_check (item->data, item->size, false);
    if (bad)
        return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                       "%s: %s at byte %zu", name,
                       item->data [bad - 1] ? "invalid UTF-8" : "NUL",
                       bad - 1);
    memcpy (out, item->data, item->size);
    out [item->size] = '\0';
    return FF_SIGNAL_OK;
}

//  A non-negative integer in any msgpack integer encoding.
static ff_signal_error_t
s_take_uint (uint64_t *out, const ff_msgpack_item_t *item, const char *name,
             char *detail, size_t detail_size)
{
    if (item->type == FF_MSGPACK_UINT) {
        *out = item->u;
        return FF_SIGNAL_OK;
    }
    if (item->type == FF_MSGPACK_INT && item->i >= 0) {
        *out = (uint64_t) item->i;
        return FF_SIGNAL_OK;
    }
    if (item->type == FF_MSGPACK_INT)
        return s_fail (FF_SIGNAL_ERR_TYPE, detail, detail_size,
                       "%s: expected unsigned integer, got %lld", name,
                       (long long) item->i);
    return s_fail (FF_SIGNAL_ERR_TYPE, detail, detail_size,
                   "%s: expected unsigned integer, got %s", name,
                   ff_msgpack_type_name (item->type));
}

void
ff_signal_init (ff_signal_t *self)
{
    self->id [0] = '\0';
    self->type [0] = '\0';
    self->source [0] = '\0';
    self->subject [0] = '\0';
    self->phase = -1;
    self->confidence = 1.0;
    self->ts_us = 0;
    self->seq = 0;
    self->payload = NULL;
    self->payload_size = 0;
    self->extra = NULL;
    self->extra_size = 0;
    self->extra_count = 0;
}

ff_signal_error_t
ff_signal_decode (ff_signal_t *self, const void *data, size_t size,
                  char *detail, size_t detail_size)
{
    ff_msgpack_reader_t reader;
    ff_msgpack_item_t item;
    ff_msgpack_reader_init (&reader, data, size);
    const uint8_t *start = reader.pos;

    int rc = ff_msgpack_reader_next (&reader, &item);
    if (rc != FF_MSGPACK_OK)
        return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                       "%s at byte 0", s_reader_error (rc));
    if (item.type != FF_MSGPACK_MAP) {
        reader.pos = start;
        rc = ff_msgpack_reader_skip (&reader, FF_SIGNAL_DEPTH_MAX);
        if (rc != FF_MSGPACK_OK)
            return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                           "%s", s_reader_error (rc));
        if (reader.pos != reader.end)
            return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                           "%zu trailing bytes", ff_msgpack_reader_remaining (&reader));
        return s_fail (FF_SIGNAL_ERR_NOT_MAP, detail, detail_size,
                       "top-level object is %s, not map",
                       ff_msgpack_type_name (item.type));
    }
    uint32_t pairs = item.count;
    if (2 * (uint64_t) pairs > ff_msgpack_reader_remaining (&reader))
        return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                       "truncated: map of %u pairs in %zu bytes",
                       (unsigned) pairs, size);

    ff_msgpack_item_t fields [K__COUNT];    // valid where `seen` has the bit
    uint32_t seen = 0;
    const uint8_t *payload_start = NULL;
    const uint8_t *payload_end = NULL;
    const uint8_t *extra_start = NULL;      // the borrowed run of unknown pairs
    const uint8_t *extra_end = NULL;
    uint32_t extra_count = 0;
    bool extra_copied = false;              // the run lives in extra_copy
    size_t extra_copied_size = 0;

    //  The first key-level fault, reported after the structure and the
    //  version have been checked.
    ff_signal_error_t key_error = FF_SIGNAL_OK;
    enum { KEY_NOT_STR, KEY_DUPLICATE, KEY_EXTRA_OVERFLOW } key_fault = KEY_NOT_STR;
    uint32_t key_fault_pair = 0;
    ff_msgpack_type_t key_fault_type = FF_MSGPACK_NIL;
    int key_fault_index = 0;

    for (uint32_t pair = 0; pair < pairs; pair++) {
        const uint8_t *key_start = reader.pos;
        rc = ff_msgpack_reader_next (&reader, &item);
        if (rc != FF_MSGPACK_OK)
            return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                           "key #%u: %s at byte %zu", (unsigned) pair,
                           s_reader_error (rc), (size_t) (reader.pos - start));
        int index = -1;
        if (item.type != FF_MSGPACK_STR) {
            //  Any object can be a msgpack key: step over all of it.
            reader.pos = key_start;
            rc = ff_msgpack_reader_skip (&reader, FF_SIGNAL_DEPTH_MAX);
            if (rc != FF_MSGPACK_OK)
                return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                               "key #%u: %s at byte %zu", (unsigned) pair,
                               s_reader_error (rc), (size_t) (reader.pos - start));
            if (key_error == FF_SIGNAL_OK) {
                key_error = FF_SIGNAL_ERR_TYPE;
                key_fault = KEY_NOT_STR;
                key_fault_pair = pair;
                key_fault_type = item.type;
            }
        }
        else
            index = s_key_index (item.data, item.size);

        const uint8_t *value_start = reader.pos;
        if (index >= 0 && index != K_PAYLOAD) {
            //  A scalar field: keep its item. A container is a type
            //  fault, but must still be valid msgpack.
            rc = ff_msgpack_reader_next (&reader, &fields [index]);
            if (rc == FF_MSGPACK_OK
            && (fields [index].type == FF_MSGPACK_ARRAY
            ||  fields [index].type == FF_MSGPACK_MAP)) {
                reader.pos = value_start;
                rc = ff_msgpack_reader_skip (&reader, FF_SIGNAL_DEPTH_MAX);
            }
        }
        else
            rc = ff_msgpack_reader_skip (&reader, FF_SIGNAL_DEPTH_MAX);
        if (rc != FF_MSGPACK_OK)
            return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                           "value of %s: %s at byte %zu",
                           index >= 0 ? s_key_names [index] : "an unknown key",
                           s_reader_error (rc), (size_t) (reader.pos - start));

        if (index >= 0) {
            if ((seen & (1u << index)) && key_error == FF_SIGNAL_OK) {
                key_error = FF_SIGNAL_ERR_VALUE;
                key_fault = KEY_DUPLICATE;
                key_fault_index = index;
            }
            seen |= 1u << index;
            if (index == K_PAYLOAD) {
                payload_start = value_start;
                payload_end = reader.pos;
            }
        }
        else
        if (item.type == FF_MSGPACK_STR) {
            //  An unknown pair [key_start, reader.pos): extend the run, or
            //  gather the runs into extra_copy when they are apart.
            if (extra_count == 0) {
                extra_start = key_start;
                extra_end = reader.pos;
            }
            else
            if (!extra_copied && key_start == extra_end)
                extra_end = reader.pos;
            else {
                size_t pair_size = (size_t) (reader.pos - key_start);
                if (!extra_copied) {
                    extra_copied = true;
                    extra_copied_size = (size_t) (extra_end - extra_start);
                    if (extra_copied_size <= FF_SIGNAL_EXTRA_COPY_MAX)
                        memcpy (self->extra_copy, extra_start, extra_copied_size);
                }
                if (extra_copied_size <= FF_SIGNAL_EXTRA_COPY_MAX
                &&  pair_size <= FF_SIGNAL_EXTRA_COPY_MAX - extra_copied_size)
                    memcpy (self->extra_copy + extra_copied_size, key_start, pair_size);
                else
                if (key_error == FF_SIGNAL_OK) {
                    key_error = FF_SIGNAL_ERR_VALUE;
                    key_fault = KEY_EXTRA_OVERFLOW;
                }
                extra_copied_size += pair_size;
            }
            extra_count++;
        }
    }
    if (reader.pos != reader.end)
        return s_fail (FF_SIGNAL_ERR_MSGPACK, detail, detail_size,
                       "%zu trailing bytes after the map",
                       ff_msgpack_reader_remaining (&reader));

    //  The structure is sound; now what it says.
    if (seen & (1u << K_V)) {
        const ff_msgpack_item_t *v = &fields [K_V];
        if (v->type == FF_MSGPACK_UINT) {
            if (v->u != FF_SIGNAL_SCHEMA_VERSION)
                return s_fail (FF_SIGNAL_ERR_VERSION, detail, detail_size,
                               "v: version %llu, this decoder reads %d",
                               (unsigned long long) v->u, FF_SIGNAL_SCHEMA_VERSION);
        }
        else
        if (v->type == FF_MSGPACK_INT) {
            if (v->i != FF_SIGNAL_SCHEMA_VERSION)
                return s_fail (FF_SIGNAL_ERR_VERSION, detail, detail_size,
                               "v: version %lld, this decoder reads %d",
                               (long long) v->i, FF_SIGNAL_SCHEMA_VERSION);
        }
        else
            return s_fail (FF_SIGNAL_ERR_TYPE, detail, detail_size,
                           "v: expected integer, got %s",
                           ff_msgpack_type_name (v->type));
    }
    if (key_error != FF_SIGNAL_OK) {
        if (key_fault == KEY_NOT_STR)
            return s_fail (key_error, detail, detail_size,
                           "key #%u is %s, not str", (unsigned) key_fault_pair,
                           ff_msgpack_type_name (key_fault_type));
        if (key_fault == KEY_DUPLICATE)
            return s_fail (key_error, detail, detail_size,
                           "%s: duplicate key", s_key_names [key_fault_index]);
        return s_fail (key_error, detail, detail_size,
                       "unknown keys: %zu bytes not adjacent in the map, more than %d",
                       extra_copied_size, FF_SIGNAL_EXTRA_COPY_MAX);
    }
    if ((seen & S_REQUIRED) != S_REQUIRED) {
        for (int index = 0; index < K__COUNT; index++)
            if ((S_REQUIRED & (1u << index)) && !(seen & (1u << index)))
                return s_fail (FF_SIGNAL_ERR_MISSING, detail, detail_size,
                               "%s: missing", s_key_names [index]);
    }

    ff_signal_error_t error;
    error = s_take_string (self->id, FF_SIGNAL_ID_MAX, &fields [K_ID], "id",
                           false, detail, detail_size);
    if (error)
        return error;
    error = s_take_string (self->type, FF_SIGNAL_TYPE_MAX, &fields [K_TYPE],
                           "type", false, detail, detail_size);
    if (error)
        return error;
    if (self->type [0] == '$')
        return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                       "type: topics starting with '$' are reserved for SISAS");
    error = s_take_string (self->source, FF_SIGNAL_SOURCE_MAX, &fields [K_SOURCE],
                           "source", false, detail, detail_size);
    if (error)
        return error;
    self->subject [0] = '\0';
    if (seen & (1u << K_SUBJECT)) {
        error = s_take_string (self->subject, FF_SIGNAL_SUBJECT_MAX,
                               &fields [K_SUBJECT], "subject", true,
                               detail, detail_size);
        if (error)
            return error;
    }
    self->phase = -1;
    if (seen & (1u << K_PHASE)) {
        const ff_msgpack_item_t *phase = &fields [K_PHASE];
        if (phase->type != FF_MSGPACK_STR)
            return s_fail (FF_SIGNAL_ERR_TYPE, detail, detail_size,
                           "phase: expected str, got %s",
                           ff_msgpack_type_name (phase->type));
        if (phase->size != 3 || phase->data [0] != 'P' || phase->data [1] != '0'
        ||  phase->data [2] < '0' || phase->data [2] > '9')
            return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                           "phase: not one of P00..P09");
        self->phase = phase->data [2] - '0';
    }
    self->confidence = 1.0;
    if (seen & (1u << K_CONFIDENCE)) {
        const ff_msgpack_item_t *confidence = &fields [K_CONFIDENCE];
        double value;
        if (confidence->type == FF_MSGPACK_FLOAT32
        ||  confidence->type == FF_MSGPACK_FLOAT64)
            value = confidence->f;
        else
        if (confidence->type == FF_MSGPACK_UINT)
            value = confidence->u <= 1 ? (double) confidence->u : 2.0;
        else
        if (confidence->type == FF_MSGPACK_INT)
            value = confidence->i == 0 || confidence->i == 1
                  ? (double) confidence->i : -1.0;
        else
            return s_fail (FF_SIGNAL_ERR_TYPE, detail, detail_size,
                           "confidence: expected float, got %s",
                           ff_msgpack_type_name (confidence->type));
        //  NaN fails both comparisons.
        if (!(value >= 0.0 && value <= 1.0)) {
            if (confidence->type == FF_MSGPACK_UINT)
                return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                               "confidence: %llu is outside 0..1",
                               (unsigned long long) confidence->u);
            if (confidence->type == FF_MSGPACK_INT)
                return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                               "confidence: %lld is outside 0..1",
                               (long long) confidence->i);
            return s_fail (FF_SIGNAL_ERR_VALUE, detail, detail_size,
                           "confidence: %g is outside 0..1", value);
        }
        self->confidence = value;
    }
    error = s_take_uint (&self->ts_us, &fields [K_TS], "ts", detail, detail_size);
    if (error)
        return error;
    error = s_take_uint (&self->seq, &fields [K_SEQ], "seq", detail, detail_size);
    if (error)
        return error;

    self->payload = payload_start;
    self->payload_size = payload_start ? (size_t) (payload_end - payload_start) : 0;
    if (extra_count == 0) {
        self->extra = NULL;
        self->extra_size = 0;
    }
    else
    if (extra_copied) {
        self->extra = self->extra_copy;
        self->extra_size = extra_copied_size;
    }
    else {
        self->extra = extra_start;
        self->extra_size = (size_t) (extra_end - extra_start);
    }
    self->extra_count = extra_count;
    return FF_SIGNAL_OK;
}

ff_signal_error_t
ff_signal_decode_frames (ff_signal_t *self,
                         const void *topic, size_t topic_size,
                         const void *data, size_t size,
                         char *detail, size_t detail_size)
{
    if (topic == NULL)
        return s_fail (FF_SIGNAL_ERR_FRAMES, detail, detail_size,
                       "no topic frame");
    ff_signal_error_t error = ff_signal_decode (self, data, size, detail, detail_size);
    if (error != FF_SIGNAL_OK)
        return error;
    size_t type_size = strlen (self->type);
    if (topic_size != type_size || memcmp (topic, self->type, type_size) != 0)
        return s_fail (FF_SIGNAL_ERR_TOPIC, detail, detail_size,
                       "topic frame (%zu bytes) differs from type \"%s\"",
                       topic_size, self->type);
    return FF_SIGNAL_OK;
}

//  ---------------------------------------------------------------------
//  Encoding: a writer that counts every byte and stores those that fit.

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
} s_writer_t;

static inline void
s_put (s_writer_t *w, const void *data, size_t size)
{
    if (size > 0 && size <= w->cap && w->len <= w->cap - size)
        memcpy (w->buf + w->len, data, size);
    w->len += size;
}

static inline void
s_put_head (s_writer_t *w, uint8_t code, uint64_t value, int bytes)
{
    uint8_t head [9];
    head [0] = code;
    for (int index = 0; index < bytes; index++)
        head [1 + index] = (uint8_t) (value >> (8 * (bytes - 1 - index)));
    s_put (w, head, 1 + (size_t) bytes);
}

static void
s_put_uint (s_writer_t *w, uint64_t value)
{
    if (value <= 0x7f)
        s_put_head (w, (uint8_t) value, 0, 0);
    else
    if (value <= UINT8_MAX)
        s_put_head (w, 0xcc, value, 1);
    else
    if (value <= UINT16_MAX)
        s_put_head (w, 0xcd, value, 2);
    else
    if (value <= UINT32_MAX)
        s_put_head (w, 0xce, value, 4);
    else
        s_put_head (w, 0xcf, value, 8);
}

static void
s_put_str (s_writer_t *w, const char *text, size_t size)
{
    if (size <= 31)
        s_put_head (w, (uint8_t) (0xa0 | size), 0, 0);
    else
    if (size <= UINT8_MAX)
        s_put_head (w, 0xd9, size, 1);
    else
    if (size <= UINT16_MAX)
        s_put_head (w, 0xda, size, 2);
    else
        s_put_head (w, 0xdb, size, 4);
    s_put (w, text, size);
}

//  A key of the fixed set: all shorter than 32 bytes.
static void
s_put_key (s_writer_t *w, s_key_t key)
{
    s_put_str (w, s_key_names [key], strlen (s_key_names [key]));
}

size_t
ff_signal_encode (const ff_signal_t *self, uint8_t *buf, size_t buf_size)
{
    s_writer_t writer = { buf, buf ? buf_size : 0, 0 };
    s_writer_t *w = &writer;
    bool has_subject = self->subject [0] != '\0';
    bool has_phase = self->phase != -1;
    bool has_payload = self->payload && self->payload_size > 0;
    bool has_extra = self->extra && self->extra_size > 0;

    uint64_t pairs = 1 + 3 + has_subject + has_phase + 1 + 2 + has_payload
                   + (has_extra ? self->extra_count : 0);
    if (pairs <= 15)
        s_put_head (w, (uint8_t) (0x80 | pairs), 0, 0);
    else
    if (pairs <= UINT16_MAX)
        s_put_head (w, 0xde, pairs, 2);
    else
        s_put_head (w, 0xdf, pairs, 4);

    s_put_key (w, K_V);
    s_put_uint (w, FF_SIGNAL_SCHEMA_VERSION);
    //  strnlen: an unterminated field encodes as too long, and is rejected.
    s_put_key (w, K_ID);
    s_put_str (w, self->id, strnlen (self->id, sizeof self->id));
    s_put_key (w, K_TYPE);
    s_put_str (w, self->type, strnlen (self->type, sizeof self->type));
    s_put_key (w, K_SOURCE);
    s_put_str (w, self->source, strnlen (self->source, sizeof self->source));
    if (has_subject) {
        s_put_key (w, K_SUBJECT);
        s_put_str (w, self->subject, strnlen (self->subject, sizeof self->subject));
    }
    if (has_phase) {
        const char *phase = ff_signal_phase_name (self->phase);
        s_put_key (w, K_PHASE);
        s_put_str (w, phase, strlen (phase));
    }
    s_put_key (w, K_CONFIDENCE);
    uint64_t bits;
    memcpy (&bits, &self->confidence, sizeof bits);
    s_put_head (w, 0xcb, bits, 8);
    s_put_key (w, K_TS);
    s_put_uint (w, self->ts_us);
    s_put_key (w, K_SEQ);
    s_put_uint (w, self->seq);
    if (has_payload) {
        s_put_key (w, K_PAYLOAD);
        s_put (w, self->payload, self->payload_size);
    }
    if (has_extra)
        s_put (w, self->extra, self->extra_size);
    return writer.len;
}

const char *
ff_signal_error_name (ff_signal_error_t error)
{
    static const char *names [FF_SIGNAL_ERR__COUNT] = {
        "ok", "frames", "msgpack", "not_map", "missing_field", "field_type",
        "field_value", "version", "topic",
    };
    if ((unsigned) error < FF_SIGNAL_ERR__COUNT)
        return names [error];
    return "unknown";
}

const char *
ff_signal_phase_name (int phase)
{
    static const char *names [10] = {
        "P00", "P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09",
    };
    if (phase >= 0 && phase <= 9)
        return names [phase];
    return "";
}
