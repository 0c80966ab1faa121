/*  test_signal — the msgpack signal codec (common/ff_signal.h), schema v1.

    Inputs are built with msgpack-c (an independent encoder) or as raw
    bytes, so the decoder is checked against the format, not against
    ff_signal_encode alone.
*/
#include <criterion/criterion.h>

#include "ff_test.h"
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ff_msgpack_reader.h"
#include "ff_signal.h"

//  ---------------------------------------------------------------------
//  Helpers

static void
s_sample (ff_signal_t *signal)
{
    ff_signal_init (signal);
    strcpy (signal->id, "orchestrator:42");
    strcpy (signal->type, "contract.result");
    strcpy (signal->source, "orchestrator");
    strcpy (signal->subject, "PA01/DIM01/Q001");
    signal->phase = 2;
    signal->confidence = 0.75;
    signal->ts_us = 1732684270123456ull;
    signal->seq = 42;
}

static void
s_expect_equal (const ff_signal_t *a, const ff_signal_t *b)
{
    cr_expect_str_eq (a->id, b->id);
    cr_expect_str_eq (a->type, b->type);
    cr_expect_str_eq (a->source, b->source);
    cr_expect_str_eq (a->subject, b->subject);
    cr_expect_eq (a->phase, b->phase);
    cr_expect_eq (a->confidence, b->confidence);
    cr_expect_eq (a->ts_us, b->ts_us);
    cr_expect_eq (a->seq, b->seq);
    cr_expect_eq (a->payload_size, b->payload_size);
    if (a->payload_size && a->payload_size == b->payload_size)
        cr_expect (memcmp (a->payload, b->payload, a->payload_size) == 0);
    cr_expect_eq (a->extra_count, b->extra_count);
    cr_expect_eq (a->extra_size, b->extra_size);
    if (a->extra_size && a->extra_size == b->extra_size)
        cr_expect (memcmp (a->extra, b->extra, a->extra_size) == 0);
}

//  Encodes into a fresh heap buffer (exact size, so ASan sees overruns).
static uint8_t *
s_encode (const ff_signal_t *signal, size_t *size)
{
    *size = ff_signal_encode (signal, NULL, 0);
    uint8_t *buf = malloc (*size);
    cr_assert (buf);
    cr_assert_eq (ff_signal_encode (signal, buf, *size), *size);
    return buf;
}

//  Decodes data from an exact-size heap copy, so that ASan catches any
//  read past the end. The signal borrows from the copy: the last 8 copies
//  are kept, older ones freed.
static ff_signal_error_t
s_decode (ff_signal_t *signal, const void *data, size_t size, char *detail,
          size_t detail_size)
{
    static void *copies [8];
    static size_t next;
    free (copies [next]);
    void *copy = malloc (size ? size : 1);
    cr_assert (copy);
    copies [next] = copy;
    next = (next + 1) % 8;
    if (size)
        memcpy (copy, data, size);
    return ff_signal_decode (signal, copy, size, detail, detail_size);
}

static void
s_pack_cstr (msgpack_packer *pk, const char *text)
{
    msgpack_pack_str (pk, strlen (text));
    msgpack_pack_str_body (pk, text, strlen (text));
}

//  A valid signal map built by msgpack-c, with one key's value replaced
//  by `fn` (or the key left out when fn is NULL), and optional raw extra
//  pairs appended.
typedef void (s_pack_fn) (msgpack_packer *pk);

static void s_v1 (msgpack_packer *pk) { msgpack_pack_uint8 (pk, 1); }
static void s_id (msgpack_packer *pk) { s_pack_cstr (pk, "sig-1"); }
static void s_type (msgpack_packer *pk) { s_pack_cstr (pk, "run.started"); }
static void s_source (msgpack_packer *pk) { s_pack_cstr (pk, "orchestrator"); }
static void s_subject (msgpack_packer *pk) { s_pack_cstr (pk, "PA02/DIM03/Q004"); }
static void s_phase (msgpack_packer *pk) { s_pack_cstr (pk, "P07"); }
static void s_confidence (msgpack_packer *pk) { msgpack_pack_double (pk, 0.5); }
static void s_ts (msgpack_packer *pk) { msgpack_pack_uint64 (pk, 1700000000000000ull); }
static void s_seq (msgpack_packer *pk) { msgpack_pack_uint32 (pk, 7); }
static void s_payload (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    s_pack_cstr (pk, "score");
    msgpack_pack_int (pk, 3);
}

typedef struct {
    const char *key;
    s_pack_fn *fn;
} s_field_t;

static const s_field_t s_fields [] = {
    { "v", s_v1 }, { "id", s_id }, { "type", s_type }, { "source", s_source },
    { "subject", s_subject }, { "phase", s_phase }, { "confidence", s_confidence },
    { "ts", s_ts }, { "seq", s_seq }, { "payload", s_payload },
};
#define S_FIELDS (sizeof s_fields / sizeof s_fields [0])

static void
s_build (msgpack_sbuffer *sb, const char *key, s_pack_fn *fn)
{
    msgpack_sbuffer_init (sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sb, msgpack_sbuffer_write);
    size_t count = 0;
    for (size_t index = 0; index < S_FIELDS; index++)
        if (!key || strcmp (key, s_fields [index].key) != 0 || fn)
            count++;
    msgpack_pack_map (&pk, count);
    for (size_t index = 0; index < S_FIELDS; index++) {
        bool replaced = key && strcmp (key, s_fields [index].key) == 0;
        if (replaced && !fn)
            continue;
        s_pack_cstr (&pk, s_fields [index].key);
        (replaced ? fn : s_fields [index].fn) (&pk);
    }
}

static ff_signal_error_t
s_decode_built (const char *key, s_pack_fn *fn, char *detail, size_t detail_size)
{
    msgpack_sbuffer sb;
    s_build (&sb, key, fn);
    ff_signal_t signal;
    ff_signal_error_t error = s_decode (&signal, sb.data, sb.size, detail, detail_size);
    msgpack_sbuffer_destroy (&sb);
    return error;
}

//  Tiny deterministic PRNG (xorshift64*).
static uint64_t
s_rand (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

//  ---------------------------------------------------------------------
//  Round trips

FF_TEST (signal, round_trip_all_fields)
{
    ff_signal_t signal, decoded;
    s_sample (&signal);
    static const uint8_t payload [] = { 0x82, 0xa5, 's', 'c', 'o', 'r', 'e', 0x02,
                                        0xa2, 'o', 'k', 0xc3 };
    signal.payload = payload;
    signal.payload_size = sizeof payload;
    size_t size;
    uint8_t *buf = s_encode (&signal, &size);
    char detail [200] = "";
    cr_assert_eq (s_decode (&decoded, buf, size, detail, sizeof detail), FF_SIGNAL_OK,
                  "%s", detail);
    s_expect_equal (&signal, &decoded);

    //  An independent decoder sees a map of 10 pairs (v + 9 keys).
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t offset = 0;
    cr_assert_eq (msgpack_unpack_next (&result, (const char *) buf, size, &offset),
                  MSGPACK_UNPACK_SUCCESS);
    cr_expect_eq (offset, size);
    cr_assert_eq (result.data.type, MSGPACK_OBJECT_MAP);
    cr_expect_eq (result.data.via.map.size, 10);
    msgpack_unpacked_destroy (&result);
    free (buf);
}

FF_TEST (signal, round_trip_minimal)
{
    ff_signal_t signal, decoded;
    ff_signal_init (&signal);
    strcpy (signal.id, "x");
    strcpy (signal.type, "t");
    strcpy (signal.source, "s");
    size_t size;
    uint8_t *buf = s_encode (&signal, &size);
    cr_assert_eq (s_decode (&decoded, buf, size, NULL, 0), FF_SIGNAL_OK);
    s_expect_equal (&signal, &decoded);
    cr_expect_str_eq (decoded.subject, "");
    cr_expect_eq (decoded.phase, -1);
    cr_expect_eq (decoded.confidence, 1.0);
    cr_expect_null (decoded.payload);
    cr_expect_null (decoded.extra);
    cr_expect_eq (decoded.extra_count, 0);
    free (buf);
}

FF_TEST (signal, round_trip_extreme_integers_and_strings)
{
    ff_signal_t signal, decoded;
    s_sample (&signal);
    signal.ts_us = UINT64_MAX;
    signal.seq = 0;
    signal.confidence = 0.0;
    signal.phase = 9;
    memset (signal.id, 'i', FF_SIGNAL_ID_MAX);
    signal.id [FF_SIGNAL_ID_MAX] = '\0';
    memset (signal.source, 's', FF_SIGNAL_SOURCE_MAX);
    signal.source [FF_SIGNAL_SOURCE_MAX] = '\0';
    strcpy (signal.subject, "PA01/Ñandú/\xe2\x82\xac/\xf0\x9f\x98\x80");
    size_t size;
    uint8_t *buf = s_encode (&signal, &size);
    char detail [200] = "";
    cr_assert_eq (s_decode (&decoded, buf, size, detail, sizeof detail), FF_SIGNAL_OK,
                  "%s", detail);
    s_expect_equal (&signal, &decoded);
    free (buf);

    for (uint64_t value = 1; value; value <<= 1) {
        signal.seq = value - 1;
        signal.ts_us = value;
        buf = s_encode (&signal, &size);
        cr_assert_eq (s_decode (&decoded, buf, size, NULL, 0), FF_SIGNAL_OK);
        cr_expect_eq (decoded.seq, value - 1);
        cr_expect_eq (decoded.ts_us, value);
        free (buf);
    }
}

FF_TEST (signal, payload_of_every_msgpack_type)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 4);
    s_pack_cstr (&pk, "list");
    msgpack_pack_array (&pk, 9);
    msgpack_pack_nil (&pk);
    msgpack_pack_true (&pk);
    msgpack_pack_int64 (&pk, -123456789012ll);
    msgpack_pack_uint64 (&pk, UINT64_MAX);
    msgpack_pack_float (&pk, 1.5f);
    msgpack_pack_double (&pk, -2.25);
    msgpack_pack_bin (&pk, 3);
    msgpack_pack_bin_body (&pk, "\x00\x01\x02", 3);
    msgpack_pack_ext (&pk, 4, 7);
    msgpack_pack_ext_body (&pk, "abcd", 4);
    msgpack_pack_ext (&pk, 300, -3);
    char big [300];
    memset (big, 'e', sizeof big);
    msgpack_pack_ext_body (&pk, big, sizeof big);
    s_pack_cstr (&pk, "nested");
    msgpack_pack_map (&pk, 1);
    msgpack_pack_int (&pk, 5);                  // non-string keys are fine in payload
    msgpack_pack_array (&pk, 1);
    msgpack_pack_map (&pk, 0);
    s_pack_cstr (&pk, "text");
    msgpack_pack_str (&pk, 300);
    msgpack_pack_str_body (&pk, big, sizeof big);
    s_pack_cstr (&pk, "empty");
    msgpack_pack_array (&pk, 0);

    ff_signal_t signal, decoded, again;
    s_sample (&signal);
    signal.payload = (const uint8_t *) sb.data;
    signal.payload_size = sb.size;
    size_t size;
    uint8_t *buf = s_encode (&signal, &size);
    char detail [200] = "";
    cr_assert_eq (s_decode (&decoded, buf, size, detail, sizeof detail), FF_SIGNAL_OK,
                  "%s", detail);
    s_expect_equal (&signal, &decoded);

    //  Re-encoding the decoded signal gives the same bytes.
    size_t size2;
    uint8_t *buf2 = s_encode (&decoded, &size2);
    cr_expect_eq (size2, size);
    cr_expect (memcmp (buf, buf2, size) == 0);
    cr_assert_eq (s_decode (&again, buf2, size2, NULL, 0), FF_SIGNAL_OK);
    s_expect_equal (&signal, &again);
    free (buf);
    free (buf2);
    msgpack_sbuffer_destroy (&sb);
}

FF_TEST (signal, scalar_payloads)
{
    static const uint8_t scalars [][3] = {
        { 1, 0xc0 }, { 1, 0x05 }, { 1, 0xe0 }, { 1, 0xc2 }, { 2, 0xa1, 'x' },
    };
    for (size_t index = 0; index < sizeof scalars / sizeof scalars [0]; index++) {
        ff_signal_t signal, decoded;
        s_sample (&signal);
        signal.payload = scalars [index] + 1;
        signal.payload_size = scalars [index][0];
        size_t size;
        uint8_t *buf = s_encode (&signal, &size);
        cr_assert_eq (s_decode (&decoded, buf, size, NULL, 0), FF_SIGNAL_OK);
        s_expect_equal (&signal, &decoded);
        free (buf);
    }
}

FF_TEST (signal, accepts_other_encoders_choices)
{
    //  Keys in another order, confidence as float32, integers in wider
    //  or signed encodings, no v.
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 7);
    s_pack_cstr (&pk, "seq");
    msgpack_pack_int64 (&pk, 5);                // d3 with a positive value
    s_pack_cstr (&pk, "confidence");
    msgpack_pack_float (&pk, 0.25f);
    s_pack_cstr (&pk, "ts");
    msgpack_pack_uint64 (&pk, 10);              // msgpack-c picks the shortest form
    s_pack_cstr (&pk, "source");
    s_pack_cstr (&pk, "factory-2");
    s_pack_cstr (&pk, "phase");
    s_pack_cstr (&pk, "P00");
    s_pack_cstr (&pk, "type");
    s_pack_cstr (&pk, "phase.started");
    s_pack_cstr (&pk, "id");
    s_pack_cstr (&pk, "f2:5");
    ff_signal_t signal;
    char detail [200] = "";
    cr_assert_eq (s_decode (&signal, sb.data, sb.size, detail, sizeof detail),
                  FF_SIGNAL_OK, "%s", detail);
    cr_expect_eq (signal.seq, 5);
    cr_expect_eq (signal.ts_us, 10);
    cr_expect_eq (signal.confidence, 0.25);
    cr_expect_eq (signal.phase, 0);
    cr_expect_str_eq (signal.source, "factory-2");
    msgpack_sbuffer_destroy (&sb);

    //  Raw wide encodings: seq as uint64 0xcf, ts as int32 0xd2,
    //  confidence as integer 1 (uint8 0xcc) and 0 (int8 0xd0).
    static const uint8_t raw [] = {
        0x86,
        0xa2, 'i', 'd', 0xa1, 'a',
        0xa4, 't', 'y', 'p', 'e', 0xa1, 't',
        0xa6, 's', 'o', 'u', 'r', 'c', 'e', 0xa1, 's',
        0xa2, 't', 's', 0xd2, 0x00, 0x00, 0x01, 0x00,
        0xa3, 's', 'e', 'q', 0xcf, 0, 0, 0, 0, 0, 0, 0, 9,
        0xaa, 'c', 'o', 'n', 'f', 'i', 'd', 'e', 'n', 'c', 'e', 0xcc, 0x01,
    };
    cr_assert_eq (s_decode (&signal, raw, sizeof raw, detail, sizeof detail),
                  FF_SIGNAL_OK, "%s", detail);
    cr_expect_eq (signal.ts_us, 256);
    cr_expect_eq (signal.seq, 9);
    cr_expect_eq (signal.confidence, 1.0);
    uint8_t zero [sizeof raw];
    memcpy (zero, raw, sizeof raw);
    zero [sizeof raw - 2] = 0xd0;
    zero [sizeof raw - 1] = 0x00;
    cr_assert_eq (s_decode (&signal, zero, sizeof zero, NULL, 0), FF_SIGNAL_OK);
    cr_expect_eq (signal.confidence, 0.0);
}

//  ---------------------------------------------------------------------
//  Unknown keys

//  A signal with unknown pairs placed as `layout` says: 'K' a known key,
//  'U' an unknown one (keys "x0", "x1"... with a [n, "text"] value).
static void
s_build_layout (msgpack_sbuffer *sb, const char *layout, size_t value_size)
{
    static const char *known [] = { "id", "type", "source", "ts", "seq" };
    msgpack_sbuffer_init (sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, strlen (layout));
    size_t known_index = 0, unknown_index = 0;
    char *text = malloc (value_size + 1);
    cr_assert (text);
    memset (text, 'u', value_size);
    for (const char *c = layout; *c; c++) {
        if (*c == 'K') {
            const char *key = known [known_index++];
            s_pack_cstr (&pk, key);
            if (key [0] == 't' && key [1] == 's')
                msgpack_pack_uint64 (&pk, 1000);
            else
            if (strcmp (key, "seq") == 0)
                msgpack_pack_uint64 (&pk, 1);
            else
                s_pack_cstr (&pk, key);
        }
        else {
            char key [16];
            snprintf (key, sizeof key, "x%zu", unknown_index);
            s_pack_cstr (&pk, key);
            msgpack_pack_array (&pk, 2);
            msgpack_pack_uint64 (&pk, unknown_index++);
            msgpack_pack_str (&pk, value_size);
            msgpack_pack_str_body (&pk, text, value_size);
        }
    }
    free (text);
}

//  Checks extra holds the pairs x0, x1... in order, as msgpack-c reads them.
static void
s_expect_extras (const ff_signal_t *signal, uint32_t count)
{
    cr_assert_eq (signal->extra_count, count);
    size_t offset = 0;
    for (uint32_t index = 0; index < count; index++) {
        msgpack_unpacked key, value;
        msgpack_unpacked_init (&key);
        msgpack_unpacked_init (&value);
        cr_assert_eq (msgpack_unpack_next (&key, (const char *) signal->extra,
                                           signal->extra_size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
        cr_assert_eq (msgpack_unpack_next (&value, (const char *) signal->extra,
                                           signal->extra_size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
        char expected [16];
        snprintf (expected, sizeof expected, "x%u", (unsigned) index);
        cr_assert_eq (key.data.type, MSGPACK_OBJECT_STR);
        cr_expect_eq (key.data.via.str.size, strlen (expected));
        cr_expect (memcmp (key.data.via.str.ptr, expected, strlen (expected)) == 0);
        cr_assert_eq (value.data.type, MSGPACK_OBJECT_ARRAY);
        cr_expect_eq (value.data.via.array.ptr [0].via.u64, index);
        msgpack_unpacked_destroy (&key);
        msgpack_unpacked_destroy (&value);
    }
    cr_expect_eq (offset, signal->extra_size);
}

static void
s_expect_pass_through (const ff_signal_t *signal)
{
    size_t size;
    uint8_t *buf = s_encode (signal, &size);
    ff_signal_t again;
    cr_assert_eq (s_decode (&again, buf, size, NULL, 0), FF_SIGNAL_OK);
    s_expect_equal (signal, &again);
    free (buf);
}

FF_TEST (signal, unknown_keys_adjacent_are_borrowed)
{
    static const char *layouts [] = { "KKKKKUUU", "UUUKKKKK", "KKUUUKKK", "KKKKKU" };
    for (size_t index = 0; index < 4; index++) {
        msgpack_sbuffer sb;
        s_build_layout (&sb, layouts [index], 5000);     // big: no copy limit
        ff_signal_t signal;
        char detail [200] = "";
        cr_assert_eq (ff_signal_decode (&signal, sb.data, sb.size, detail, sizeof detail),
                      FF_SIGNAL_OK, "%s: %s", layouts [index], detail);
        //  Borrowed from the input buffer.
        cr_expect ((const char *) signal.extra >= sb.data
                && (const char *) signal.extra + signal.extra_size <= sb.data + sb.size);
        s_expect_extras (&signal, (uint32_t) (strchr (layouts [index], 'U')
                                               ? strlen (layouts [index]) - 5 : 0));
        s_expect_pass_through (&signal);
        msgpack_sbuffer_destroy (&sb);
    }
}

FF_TEST (signal, unknown_keys_interleaved_are_gathered)
{
    msgpack_sbuffer sb;
    s_build_layout (&sb, "UKUKUKKUKU", 10);
    ff_signal_t signal;
    char detail [200] = "";
    cr_assert_eq (ff_signal_decode (&signal, sb.data, sb.size, detail, sizeof detail),
                  FF_SIGNAL_OK, "%s", detail);
    cr_expect_eq (signal.extra, signal.extra_copy);
    s_expect_extras (&signal, 5);
    s_expect_pass_through (&signal);
    msgpack_sbuffer_destroy (&sb);
}

FF_TEST (signal, unknown_keys_interleaved_beyond_copy_limit)
{
    //  Two pairs of ~600 bytes apart: more than FF_SIGNAL_EXTRA_COPY_MAX.
    msgpack_sbuffer sb;
    s_build_layout (&sb, "UKKKKKU", 600);
    ff_signal_t signal;
    char detail [200] = "";
    cr_expect_eq (ff_signal_decode (&signal, sb.data, sb.size, detail, sizeof detail),
                  FF_SIGNAL_ERR_VALUE);
    cr_expect (strstr (detail, "unknown keys"), "%s", detail);
    msgpack_sbuffer_destroy (&sb);

    //  The same pairs adjacent are fine.
    s_build_layout (&sb, "KKKKKUU", 600);
    cr_expect_eq (ff_signal_decode (&signal, sb.data, sb.size, NULL, 0), FF_SIGNAL_OK);
    msgpack_sbuffer_destroy (&sb);
}

FF_TEST (signal, unknown_keys_may_repeat_and_be_empty)
{
    static const uint8_t raw [] = {
        0x87,
        0xa2, 'i', 'd', 0xa1, 'a',
        0xa4, 't', 'y', 'p', 'e', 0xa1, 't',
        0xa6, 's', 'o', 'u', 'r', 'c', 'e', 0xa1, 's',
        0xa2, 't', 's', 0x01,
        0xa3, 's', 'e', 'q', 0x02,
        0xa0, 0xc0,                 // "" : nil
        0xa0, 0xc3,                 // "" : true (repeated unknown key)
    };
    ff_signal_t signal;
    cr_assert_eq (s_decode (&signal, raw, sizeof raw, NULL, 0), FF_SIGNAL_OK);
    cr_expect_eq (signal.extra_count, 2);
    cr_expect_eq (signal.extra_size, 4);
    s_expect_pass_through (&signal);
}

//  ---------------------------------------------------------------------
//  Rejections

FF_TEST (signal, truncated_at_every_length)
{
    ff_signal_t signal;
    s_sample (&signal);
    uint8_t payload [] = { 0x92, 0xc4, 0x02, 0xff, 0x00, 0x81, 0xa1, 'k', 0xd4, 0x01, 0x02 };
    signal.payload = payload;
    signal.payload_size = sizeof payload;
    static const uint8_t extra [] = { 0xa3, 'x', 't', 'r', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0 };
    signal.extra = extra;
    signal.extra_size = sizeof extra;
    signal.extra_count = 1;
    size_t size;
    uint8_t *buf = s_encode (&signal, &size);
    ff_signal_t decoded;
    cr_assert_eq (s_decode (&decoded, buf, size, NULL, 0), FF_SIGNAL_OK);
    for (size_t length = 0; length < size; length++) {
        char detail [200] = "";
        cr_expect_eq (s_decode (&decoded, buf, length, detail, sizeof detail),
                      FF_SIGNAL_ERR_MSGPACK, "prefix of %zu bytes: %s", length, detail);
    }
    free (buf);
}

FF_TEST (signal, trailing_bytes)
{
    ff_signal_t signal, decoded;
    s_sample (&signal);
    size_t size;
    uint8_t *buf = s_encode (&signal, &size);
    uint8_t *longer = malloc (size + 1);
    memcpy (longer, buf, size);
    longer [size] = 0xc0;
    char detail [200] = "";
    cr_expect_eq (s_decode (&decoded, longer, size + 1, detail, sizeof detail),
                  FF_SIGNAL_ERR_MSGPACK);
    cr_expect (strstr (detail, "trailing"), "%s", detail);
    free (buf);
    free (longer);
}

FF_TEST (signal, not_a_map)
{
    static const struct { uint8_t bytes [4]; size_t size; ff_signal_error_t error; } cases [] = {
        { { 0x01 }, 1, FF_SIGNAL_ERR_NOT_MAP },
        { { 0x91, 0x01 }, 2, FF_SIGNAL_ERR_NOT_MAP },
        { { 0xa2, 'h', 'i' }, 3, FF_SIGNAL_ERR_NOT_MAP },
        { { 0xc0 }, 1, FF_SIGNAL_ERR_NOT_MAP },
        { { 0x01, 0x02 }, 2, FF_SIGNAL_ERR_MSGPACK },       // trailing
        { { 0xc1 }, 1, FF_SIGNAL_ERR_MSGPACK },             // never-used byte
        { { 0x92, 0x01 }, 2, FF_SIGNAL_ERR_MSGPACK },       // truncated array
        { { 0 }, 0, FF_SIGNAL_ERR_MSGPACK },                // empty
        { { 0x80 }, 1, FF_SIGNAL_ERR_MISSING },             // an empty map
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        ff_signal_t signal;
        cr_expect_eq (s_decode (&signal, cases [index].bytes, cases [index].size, NULL, 0),
                      cases [index].error, "case %zu", index);
    }
    ff_signal_t signal;
    cr_expect_eq (ff_signal_decode (&signal, NULL, 0, NULL, 0), FF_SIGNAL_ERR_MSGPACK);
}

static void s_nil (msgpack_packer *pk) { msgpack_pack_nil (pk); }
static void s_true (msgpack_packer *pk) { msgpack_pack_true (pk); }
static void s_int_neg (msgpack_packer *pk) { msgpack_pack_int64 (pk, -5); }
static void s_int_big_neg (msgpack_packer *pk) { msgpack_pack_int64 (pk, INT64_MIN); }
static void s_uint (msgpack_packer *pk) { msgpack_pack_uint64 (pk, 3); }
static void s_double (msgpack_packer *pk) { msgpack_pack_double (pk, 0.5); }
static void s_str (msgpack_packer *pk) { s_pack_cstr (pk, "1"); }
static void s_bin (msgpack_packer *pk) { msgpack_pack_bin (pk, 1); msgpack_pack_bin_body (pk, "a", 1); }
static void s_array (msgpack_packer *pk) { msgpack_pack_array (pk, 1); s_pack_cstr (pk, "a"); }
static void s_map (msgpack_packer *pk) { msgpack_pack_map (pk, 0); }
static void s_ext (msgpack_packer *pk) { msgpack_pack_ext (pk, 1, 1); msgpack_pack_ext_body (pk, "a", 1); }

FF_TEST (signal, wrong_type_per_field)
{
    static const struct { const char *key; s_pack_fn *fn; } cases [] = {
        { "id", s_uint }, { "id", s_bin }, { "id", s_nil }, { "id", s_array },
        { "type", s_map }, { "type", s_true },
        { "source", s_double }, { "source", s_ext },
        { "subject", s_uint }, { "subject", s_nil },
        { "phase", s_uint }, { "phase", s_nil }, { "phase", s_bin },
        { "confidence", s_str }, { "confidence", s_true }, { "confidence", s_nil },
        { "confidence", s_array },
        { "ts", s_int_neg }, { "ts", s_int_big_neg }, { "ts", s_double },
        { "ts", s_str }, { "ts", s_nil },
        { "seq", s_int_neg }, { "seq", s_double }, { "seq", s_true }, { "seq", s_map },
        { "v", s_str }, { "v", s_double }, { "v", s_nil },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        char detail [200] = "";
        cr_expect_eq (s_decode_built (cases [index].key, cases [index].fn,
                                      detail, sizeof detail),
                      FF_SIGNAL_ERR_TYPE, "case %zu (%s): %s", index,
                      cases [index].key, detail);
        cr_expect (strncmp (detail, cases [index].key, strlen (cases [index].key)) == 0,
                   "detail names the field: %s", detail);
    }
    //  The builder itself is valid.
    cr_expect_eq (s_decode_built (NULL, NULL, NULL, 0), FF_SIGNAL_OK);
}

FF_TEST (signal, missing_each_required_field)
{
    static const char *required [] = { "id", "type", "source", "ts", "seq" };
    for (size_t index = 0; index < 5; index++) {
        char detail [200] = "";
        cr_expect_eq (s_decode_built (required [index], NULL, detail, sizeof detail),
                      FF_SIGNAL_ERR_MISSING, "%s", required [index]);
        cr_expect (strstr (detail, required [index]), "%s", detail);
    }
    static const char *optional [] = { "v", "subject", "phase", "confidence", "payload" };
    for (size_t index = 0; index < 5; index++)
        cr_expect_eq (s_decode_built (optional [index], NULL, NULL, 0), FF_SIGNAL_OK,
                      "%s", optional [index]);
}

static void s_conf_high (msgpack_packer *pk) { msgpack_pack_double (pk, 1.7); }
static void s_conf_low (msgpack_packer *pk) { msgpack_pack_double (pk, -0.1); }
static void s_conf_nan (msgpack_packer *pk) { msgpack_pack_double (pk, NAN); }
static void s_conf_nan32 (msgpack_packer *pk) { msgpack_pack_float (pk, NAN); }
static void s_conf_inf (msgpack_packer *pk) { msgpack_pack_double (pk, INFINITY); }
static void s_conf_neg_inf (msgpack_packer *pk) { msgpack_pack_float (pk, -INFINITY); }
static void s_conf_two (msgpack_packer *pk) { msgpack_pack_uint8 (pk, 2); }
static void s_conf_minus_one (msgpack_packer *pk) { msgpack_pack_int8 (pk, -1); }
static void s_conf_huge (msgpack_packer *pk) { msgpack_pack_uint64 (pk, UINT64_MAX); }
static void s_conf_one (msgpack_packer *pk) { msgpack_pack_uint8 (pk, 1); }
static void s_conf_zero (msgpack_packer *pk) { msgpack_pack_int8 (pk, 0); }
static void s_conf_edge (msgpack_packer *pk) { msgpack_pack_double (pk, 1.0); }
static void s_conf_half32 (msgpack_packer *pk) { msgpack_pack_float (pk, 0.5f); }

FF_TEST (signal, confidence_range)
{
    s_pack_fn *bad [] = { s_conf_high, s_conf_low, s_conf_nan, s_conf_nan32, s_conf_inf,
                          s_conf_neg_inf, s_conf_two, s_conf_minus_one, s_conf_huge };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        char detail [200] = "";
        cr_expect_eq (s_decode_built ("confidence", bad [index], detail, sizeof detail),
                      FF_SIGNAL_ERR_VALUE, "case %zu: %s", index, detail);
        cr_expect (strstr (detail, "confidence"), "%s", detail);
    }
    s_pack_fn *good [] = { s_conf_one, s_conf_zero, s_conf_edge, s_conf_half32 };
    for (size_t index = 0; index < sizeof good / sizeof good [0]; index++)
        cr_expect_eq (s_decode_built ("confidence", good [index], NULL, 0),
                      FF_SIGNAL_OK, "case %zu", index);
}

static const char *s_phase_text;
static void s_phase_custom (msgpack_packer *pk) { s_pack_cstr (pk, s_phase_text); }

FF_TEST (signal, phases)
{
    static const char *bad [] = { "P10", "P1", "p01", "P001", "", "P0a", "PO1", "P-1", "Q01", "P0" };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        s_phase_text = bad [index];
        cr_expect_eq (s_decode_built ("phase", s_phase_custom, NULL, 0),
                      FF_SIGNAL_ERR_VALUE, "\"%s\"", bad [index]);
    }
    for (int phase = 0; phase <= 9; phase++) {
        s_phase_text = ff_signal_phase_name (phase);
        msgpack_sbuffer sb;
        s_build (&sb, "phase", s_phase_custom);
        ff_signal_t signal;
        cr_expect_eq (s_decode (&signal, sb.data, sb.size, NULL, 0), FF_SIGNAL_OK);
        cr_expect_eq (signal.phase, phase);
        msgpack_sbuffer_destroy (&sb);
    }
}

static const char *s_text;
static size_t s_text_size;
static void s_text_custom (msgpack_packer *pk)
{
    msgpack_pack_str (pk, s_text_size);
    msgpack_pack_str_body (pk, s_text, s_text_size);
}

FF_TEST (signal, string_fields)
{
    static const struct { const char *key; size_t max; } fields [] = {
        { "id", FF_SIGNAL_ID_MAX }, { "type", FF_SIGNAL_TYPE_MAX },
        { "source", FF_SIGNAL_SOURCE_MAX }, { "subject", FF_SIGNAL_SUBJECT_MAX },
    };
    char *text = malloc (FF_SIGNAL_SOURCE_MAX + 2);
    memset (text, 'a', FF_SIGNAL_SOURCE_MAX + 1);
    s_text = text;
    for (size_t index = 0; index < 4; index++) {
        char detail [200] = "";
        s_text_size = fields [index].max;
        cr_expect_eq (s_decode_built (fields [index].key, s_text_custom, detail, sizeof detail),
                      FF_SIGNAL_OK, "%s at max: %s", fields [index].key, detail);
        s_text_size = fields [index].max + 1;
        cr_expect_eq (s_decode_built (fields [index].key, s_text_custom, detail, sizeof detail),
                      FF_SIGNAL_ERR_VALUE, "%s over max", fields [index].key);
        cr_expect (strstr (detail, "longer"), "%s", detail);
        s_text_size = 0;
        cr_expect_eq (s_decode_built (fields [index].key, s_text_custom, NULL, 0),
                      strcmp (fields [index].key, "subject") == 0
                      ? FF_SIGNAL_OK : FF_SIGNAL_ERR_VALUE,
                      "%s empty", fields [index].key);
    }
    free (text);

    static const struct { const char *bytes; size_t size; bool ok; } utf8 [] = {
        { "a\0b", 3, false },                   // embedded NUL
        { "\xff", 1, false },
        { "\xc0\x80", 2, false },               // overlong NUL
        { "\xc3", 1, false },                   // cut short
        { "\xe2\x82", 2, false },
        { "\xed\xa0\x80", 3, false },           // surrogate
        { "\xf4\x90\x80\x80", 4, false },       // > U+10FFFF
        { "\xf0\x8f\xbf\xbf", 4, false },       // overlong
        { "\x80", 1, false },                   // lone continuation
        { "\xc3\xb1", 2, true },                // ñ
        { "\xe2\x82\xac", 3, true },            // €
        { "\xf0\x9f\x98\x80", 4, true },        // 😀
        { "\xf4\x8f\xbf\xbf", 4, true },        // U+10FFFF
    };
    static const char *keys [] = { "id", "type", "source", "subject" };
    for (size_t index = 0; index < sizeof utf8 / sizeof utf8 [0]; index++)
        for (size_t key = 0; key < 4; key++) {
            s_text = utf8 [index].bytes;
            s_text_size = utf8 [index].size;
            cr_expect_eq (s_decode_built (keys [key], s_text_custom, NULL, 0),
                          utf8 [index].ok ? FF_SIGNAL_OK : FF_SIGNAL_ERR_VALUE,
                          "utf8 case %zu in %s", index, keys [key]);
        }
}

FF_TEST (signal, type_reserved_dollar)
{
    s_text = "$sisas.control";
    s_text_size = strlen (s_text);
    char detail [200] = "";
    cr_expect_eq (s_decode_built ("type", s_text_custom, detail, sizeof detail),
                  FF_SIGNAL_ERR_VALUE);
    cr_expect (strstr (detail, "$"), "%s", detail);
    s_text = "a$b";
    s_text_size = 3;
    cr_expect_eq (s_decode_built ("type", s_text_custom, NULL, 0), FF_SIGNAL_OK);
}

//  A payload of `depth` nested arrays around a 1.
static size_t
s_nested (uint8_t *buf, int depth, uint8_t opener)
{
    size_t size = 0;
    for (int level = 0; level < depth; level++) {
        buf [size++] = opener;
        if (opener == 0x81)
            buf [size++] = 0x01;    // map key, then the nested value
    }
    buf [size++] = 0x01;
    return size;
}

FF_TEST (signal, nesting_depth)
{
    uint8_t nested [2 * FF_SIGNAL_DEPTH_MAX + 8];
    static const uint8_t openers [] = { 0x91, 0x81 };
    for (size_t kind = 0; kind < 2; kind++) {
        for (int depth = FF_SIGNAL_DEPTH_MAX - 1; depth <= FF_SIGNAL_DEPTH_MAX + 1; depth++) {
            ff_signal_t signal, decoded;
            s_sample (&signal);
            signal.payload = nested;
            signal.payload_size = s_nested (nested, depth, openers [kind]);
            size_t size;
            uint8_t *buf = s_encode (&signal, &size);
            char detail [200] = "";
            ff_signal_error_t expected = depth <= FF_SIGNAL_DEPTH_MAX
                                       ? FF_SIGNAL_OK : FF_SIGNAL_ERR_MSGPACK;
            cr_expect_eq (s_decode (&decoded, buf, size, detail, sizeof detail),
                          expected, "payload depth %d", depth);
            if (expected != FF_SIGNAL_OK)
                cr_expect (strstr (detail, "deeper"), "%s", detail);
            free (buf);

            //  The same value under an unknown key.
            uint8_t extra [2 * FF_SIGNAL_DEPTH_MAX + 12];
            extra [0] = 0xa1;
            extra [1] = 'x';
            size_t extra_size = 2 + s_nested (extra + 2, depth, openers [kind]);
            s_sample (&signal);
            signal.extra = extra;
            signal.extra_size = extra_size;
            signal.extra_count = 1;
            buf = s_encode (&signal, &size);
            cr_expect_eq (s_decode (&decoded, buf, size, NULL, 0), expected,
                          "extra depth %d", depth);
            free (buf);
        }
    }
    //  Deep nesting inside a known scalar field: still msgpack first.
    uint8_t raw [8 + FF_SIGNAL_DEPTH_MAX + 4] = { 0x81, 0xa2, 'i', 'd' };
    size_t size = 4 + s_nested (raw + 4, FF_SIGNAL_DEPTH_MAX + 1, 0x91);
    ff_signal_t signal;
    cr_expect_eq (s_decode (&signal, raw, size, NULL, 0), FF_SIGNAL_ERR_MSGPACK);
}

FF_TEST (signal, duplicate_known_keys)
{
    for (size_t field = 0; field < S_FIELDS; field++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init (&sb);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map (&pk, S_FIELDS + 1);
        for (size_t index = 0; index < S_FIELDS; index++) {
            s_pack_cstr (&pk, s_fields [index].key);
            s_fields [index].fn (&pk);
        }
        s_pack_cstr (&pk, s_fields [field].key);
        s_fields [field].fn (&pk);
        ff_signal_t signal;
        char detail [200] = "";
        cr_expect_eq (s_decode (&signal, sb.data, sb.size, detail, sizeof detail),
                      FF_SIGNAL_ERR_VALUE, "duplicate %s", s_fields [field].key);
        cr_expect (strstr (detail, "duplicate"), "%s", detail);
        msgpack_sbuffer_destroy (&sb);
    }
}

static void s_v2 (msgpack_packer *pk) { msgpack_pack_uint8 (pk, 2); }
static void s_v0 (msgpack_packer *pk) { msgpack_pack_int8 (pk, 0); }
static void s_v_neg (msgpack_packer *pk) { msgpack_pack_int8 (pk, -1); }
static void s_v1_wide (msgpack_packer *pk) { msgpack_pack_int64 (pk, 1); }

FF_TEST (signal, version)
{
    cr_expect_eq (s_decode_built ("v", s_v2, NULL, 0), FF_SIGNAL_ERR_VERSION);
    cr_expect_eq (s_decode_built ("v", s_v0, NULL, 0), FF_SIGNAL_ERR_VERSION);
    cr_expect_eq (s_decode_built ("v", s_v_neg, NULL, 0), FF_SIGNAL_ERR_VERSION);
    cr_expect_eq (s_decode_built ("v", s_v1_wide, NULL, 0), FF_SIGNAL_OK);
    cr_expect_eq (s_decode_built ("v", NULL, NULL, 0), FF_SIGNAL_OK);

    //  A v2 signal that breaks v1 rules is still reported as "version".
    static const uint8_t raw [] = { 0x82, 0xa1, 'v', 0x02, 0xa2, 'i', 'd', 0x05 };
    ff_signal_t signal;
    char detail [200] = "";
    cr_expect_eq (s_decode (&signal, raw, sizeof raw, detail, sizeof detail),
                  FF_SIGNAL_ERR_VERSION);
    cr_expect (strstr (detail, "version 2"), "%s", detail);
}

FF_TEST (signal, non_string_keys)
{
    static const uint8_t raw [] = {
        0x87,
        0xa2, 'i', 'd', 0xa1, 'a',
        0xa4, 't', 'y', 'p', 'e', 0xa1, 't',
        0xa6, 's', 'o', 'u', 'r', 'c', 'e', 0xa1, 's',
        0xa2, 't', 's', 0x01,
        0xa3, 's', 'e', 'q', 0x02,
        0x91, 0x01, 0xc0,           // [1] : nil
        0xc4, 0x01, 'x', 0xc0,      // bin "x" : nil
    };
    ff_signal_t signal;
    char detail [200] = "";
    cr_expect_eq (s_decode (&signal, raw, sizeof raw, detail, sizeof detail),
                  FF_SIGNAL_ERR_TYPE);
    cr_expect (strstr (detail, "key #5"), "%s", detail);
}

FF_TEST (signal, huge_declared_lengths)
{
    static const struct { uint8_t bytes [16]; size_t size; } cases [] = {
        { { 0xdf, 0xff, 0xff, 0xff, 0xff }, 5 },                  // map32 of 4G pairs
        { { 0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff }, 8 }, // array32 of 4G
        { { 0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff }, 8 }, // str32 of 4G
        { { 0x81, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xff }, 8 }, // bin32
        { { 0x81, 0xa1, 'x', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01 }, 9 }, // ext32
        { { 0x81, 0xa1, 'x', 0xde, 0xff, 0xff }, 6 },             // map16 of 65535
        { { 0x81, 0xdb, 0xff, 0xff, 0xff, 0xf0, 0xc0 }, 7 },      // a key str32
        { { 0x81, 0xa1, 'x', 0xd8, 0x01, 0x00 }, 6 },             // fixext16 cut short
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        ff_signal_t signal;
        cr_expect_eq (s_decode (&signal, cases [index].bytes, cases [index].size, NULL, 0),
                      FF_SIGNAL_ERR_MSGPACK, "case %zu", index);
    }
}

FF_TEST (signal, garbage_never_crashes)
{
    uint64_t state = 0x9e3779b97f4a7c15ull;
    uint8_t buf [256];
    ff_signal_t signal;
    size_t accepted = 0;
    for (int round = 0; round < 200000; round++) {
        size_t size = s_rand (&state) % sizeof buf;
        for (size_t index = 0; index < size; index++)
            buf [index] = (uint8_t) s_rand (&state);
        //  Half of the inputs start as a map, to get past the first byte.
        if (size && round % 2)
            buf [0] = (uint8_t) (0x80 | (buf [0] & 0x0f));
        char detail [64];
        ff_signal_error_t error = s_decode (&signal, buf, size, detail, sizeof detail);
        cr_assert (error >= FF_SIGNAL_OK && error < FF_SIGNAL_ERR__COUNT);
        if (error == FF_SIGNAL_OK)
            accepted++;
    }
    cr_expect_eq (accepted, 0);
}

FF_TEST (signal, mutations_never_crash)
{
    ff_signal_t signal;
    s_sample (&signal);
    static const uint8_t payload [] = { 0x93, 0x01, 0xa2, 'h', 'i', 0x81, 0xc2, 0xc0 };
    signal.payload = payload;
    signal.payload_size = sizeof payload;
    static const uint8_t extra [] = { 0xa1, 'z', 0x92, 0xcc, 0xff, 0xd6, 0x05, 1, 2, 3, 4 };
    signal.extra = extra;
    signal.extra_size = sizeof extra;
    signal.extra_count = 1;
    size_t size;
    uint8_t *good = s_encode (&signal, &size);
    uint8_t *buf = malloc (size);
    uint64_t state = 12345;
    for (size_t position = 0; position < size; position++)
        for (int trial = 0; trial < 64; trial++) {
            memcpy (buf, good, size);
            buf [position] = trial < 8 ? (uint8_t) (buf [position] ^ (1u << trial))
                                       : (uint8_t) s_rand (&state);
            ff_signal_t decoded;
            ff_signal_error_t error = ff_signal_decode (&decoded, buf, size, NULL, 0);
            cr_assert (error >= FF_SIGNAL_OK && error < FF_SIGNAL_ERR__COUNT);
            if (error == FF_SIGNAL_OK) {
                //  Whatever was accepted re-encodes into something accepted.
                size_t size2;
                uint8_t *again = s_encode (&decoded, &size2);
                ff_signal_t decoded2;
                cr_expect_eq (s_decode (&decoded2, again, size2, NULL, 0), FF_SIGNAL_OK);
                s_expect_equal (&decoded, &decoded2);
                free (again);
            }
        }
    free (buf);
    free (good);
}

//  ---------------------------------------------------------------------
//  Frames, encode buffer, names

FF_TEST (signal, topic_frame)
{
    ff_signal_t signal, decoded;
    s_sample (&signal);
    size_t size;
    uint8_t *buf = s_encode (&signal, &size);
    cr_expect_eq (ff_signal_decode_frames (&decoded, "contract.result", 15, buf, size, NULL, 0),
                  FF_SIGNAL_OK);
    cr_expect_eq (ff_signal_decode_frames (&decoded, "contract.resul", 14, buf, size, NULL, 0),
                  FF_SIGNAL_ERR_TOPIC);
    cr_expect_eq (ff_signal_decode_frames (&decoded, "contract.result!", 16, buf, size, NULL, 0),
                  FF_SIGNAL_ERR_TOPIC);
    cr_expect_eq (ff_signal_decode_frames (&decoded, "", 0, buf, size, NULL, 0),
                  FF_SIGNAL_ERR_TOPIC);
    cr_expect_eq (ff_signal_decode_frames (&decoded, NULL, 0, buf, size, NULL, 0),
                  FF_SIGNAL_ERR_FRAMES);
    //  A broken map is reported as such, whatever the topic.
    cr_expect_eq (ff_signal_decode_frames (&decoded, "x", 1, buf, size - 1, NULL, 0),
                  FF_SIGNAL_ERR_MSGPACK);
    free (buf);
}

FF_TEST (signal, encode_into_small_buffer)
{
    ff_signal_t signal;
    s_sample (&signal);
    size_t needed = ff_signal_encode (&signal, NULL, 0);
    cr_assert_gt (needed, 50);
    uint8_t *full = malloc (needed);
    cr_assert_eq (ff_signal_encode (&signal, full, needed), needed);
    for (size_t cap = 0; cap < needed; cap++) {
        uint8_t *buf = malloc (cap + 8);
        memset (buf, 0xee, cap + 8);
        cr_expect_eq (ff_signal_encode (&signal, buf, cap), needed);
        for (size_t index = cap; index < cap + 8; index++)
            cr_expect_eq (buf [index], 0xee, "wrote past %zu bytes", cap);
        free (buf);
    }
    free (full);
}

FF_TEST (signal, names)
{
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_OK), "ok");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_FRAMES), "frames");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_MSGPACK), "msgpack");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_NOT_MAP), "not_map");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_MISSING), "missing_field");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_TYPE), "field_type");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_VALUE), "field_value");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_VERSION), "version");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR_TOPIC), "topic");
    cr_expect_str_eq (ff_signal_error_name (FF_SIGNAL_ERR__COUNT), "unknown");
    cr_expect_str_eq (ff_signal_error_name ((ff_signal_error_t) -1), "unknown");
    cr_expect_str_eq (ff_signal_phase_name (0), "P00");
    cr_expect_str_eq (ff_signal_phase_name (9), "P09");
    cr_expect_str_eq (ff_signal_phase_name (10), "");
    cr_expect_str_eq (ff_signal_phase_name (-1), "");
}

FF_TEST (signal, init_sets_absent_values)
{
    ff_signal_t signal;
    memset (&signal, 0x5a, sizeof signal);
    ff_signal_init (&signal);
    cr_expect_str_eq (signal.id, "");
    cr_expect_str_eq (signal.type, "");
    cr_expect_str_eq (signal.source, "");
    cr_expect_str_eq (signal.subject, "");
    cr_expect_eq (signal.phase, -1);
    cr_expect_eq (signal.confidence, 1.0);
    cr_expect_eq (signal.ts_us, 0);
    cr_expect_eq (signal.seq, 0);
    cr_expect_null (signal.payload);
    cr_expect_eq (signal.payload_size, 0);
    cr_expect_null (signal.extra);
    cr_expect_eq (signal.extra_size, 0);
    cr_expect_eq (signal.extra_count, 0);
}

//  The reader on its own: the corner the signal tests reach only through
//  the decoder.
FF_TEST (signal, msgpack_reader_items)
{
    static const uint8_t data [] = {
        0xd4, 0x07, 0xaa,                   // fixext1 type 7
        0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, // 1.5
        0xd1, 0xff, 0xfe,                   // int16 -2
        0xe0,                               // -32
        0xc4, 0x00,                         // empty bin
    };
    ff_msgpack_reader_t reader;
    ff_msgpack_item_t item;
    ff_msgpack_reader_init (&reader, data, sizeof data);
    cr_assert_eq (ff_msgpack_reader_next (&reader, &item), FF_MSGPACK_OK);
    cr_expect_eq (item.type, FF_MSGPACK_EXT);
    cr_expect_eq (item.ext_type, 7);
    cr_expect_eq (item.size, 1);
    cr_expect_eq (item.data [0], 0xaa);
    cr_assert_eq (ff_msgpack_reader_next (&reader, &item), FF_MSGPACK_OK);
    cr_expect_eq (item.type, FF_MSGPACK_FLOAT64);
    cr_expect_eq (item.f, 1.5);
    cr_assert_eq (ff_msgpack_reader_next (&reader, &item), FF_MSGPACK_OK);
    cr_expect_eq (item.type, FF_MSGPACK_INT);
    cr_expect_eq (item.i, -2);
    cr_assert_eq (ff_msgpack_reader_next (&reader, &item), FF_MSGPACK_OK);
    cr_expect_eq (item.i, -32);
    cr_assert_eq (ff_msgpack_reader_next (&reader, &item), FF_MSGPACK_OK);
    cr_expect_eq (item.type, FF_MSGPACK_BIN);
    cr_expect_eq (item.size, 0);
    cr_expect_eq (ff_msgpack_reader_remaining (&reader), 0);
    cr_expect_eq (ff_msgpack_reader_next (&reader, &item), FF_MSGPACK_TRUNCATED);
    cr_expect_str_eq (ff_msgpack_type_name (FF_MSGPACK_MAP), "map");
}
