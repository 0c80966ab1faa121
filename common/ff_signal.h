/*  ff_signal — the msgpack signal of the data plane (schema v1,
    proto/signal-schema.md).

    On the wire a signal is two frames: [topic = signal type][msgpack map].
    The map has the keys id, type, source, subject, phase, confidence, ts,
    seq, payload; unknown keys are kept and passed through unchanged.

    Decoding is zero-allocation: the fixed fields are copied into the
    struct (bounded lengths, see FF_SIGNAL_*_MAX), while payload and the
    unknown keys are borrowed byte ranges of the input buffer, valid only
    while that buffer lives. Nothing in the input can crash the decoder:
    truncated data, trailing bytes, wrong types, deep nesting and huge
    declared lengths are reported as errors. Every byte is validated,
    payload and unknown values included (structure and depth; strings
    inside them are opaque bytes, their UTF-8 is not checked). The fixed
    string fields must be valid UTF-8 without NUL bytes.

    Unknown keys: when their key/value pairs are adjacent in the input map
    (the usual case: all of them before or after the known keys) `extra`
    borrows that range. When known keys sit between them, the decoder
    concatenates them into the struct's own extra_copy buffer and `extra`
    points there; then they may take at most FF_SIGNAL_EXTRA_COPY_MAX bytes
    (more is rejected as field_value). Either way extra is one contiguous
    run of extra_count pairs in input order, and a struct copied by value
    may still point into the original's buffer: re-decode or deep-copy.
*/
#ifndef FF_SIGNAL_H_INCLUDED
#define FF_SIGNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FF_SIGNAL_SCHEMA_VERSION 1

//  Longest accepted string field, in bytes (UTF-8).
#define FF_SIGNAL_ID_MAX        128
#define FF_SIGNAL_TYPE_MAX      128
#define FF_SIGNAL_SOURCE_MAX    256
#define FF_SIGNAL_SUBJECT_MAX   256
//  Deepest nesting of arrays/maps accepted inside payload or unknown keys
//  (a scalar payload has depth 0, {"a": 1} depth 1, {"a": [1]} depth 2).
#define FF_SIGNAL_DEPTH_MAX     32
//  Largest total size of unknown key/value pairs that are not adjacent in
//  the input map (see above; adjacent ones have no limit of their own).
#define FF_SIGNAL_EXTRA_COPY_MAX 1024

//  Why a signal was rejected. The names (ff_signal_error_name) are stable:
//  they are the `reason` label of rejection counters.
typedef enum {
    FF_SIGNAL_OK = 0,
    FF_SIGNAL_ERR_FRAMES,       // "frames": not exactly [topic][map]
    FF_SIGNAL_ERR_MSGPACK,      // "msgpack": not one complete, valid msgpack object (truncated, garbage, trailing bytes, too deep)
    FF_SIGNAL_ERR_NOT_MAP,      // "not_map": top-level object is not a map
    FF_SIGNAL_ERR_MISSING,      // "missing_field": a required key is absent
    FF_SIGNAL_ERR_TYPE,         // "field_type": a known key has the wrong msgpack type, or a key is not a string
    FF_SIGNAL_ERR_VALUE,        // "field_value": out of range, empty, too long, bad phase, duplicate key, string not UTF-8 or with NUL, type starting with '$', too many non-adjacent extras
    FF_SIGNAL_ERR_VERSION,      // "version": key "v" present and not FF_SIGNAL_SCHEMA_VERSION
    FF_SIGNAL_ERR_TOPIC,        // "topic": topic frame differs from the type field
    FF_SIGNAL_ERR__COUNT
} ff_signal_error_t;

typedef struct {
    char id [FF_SIGNAL_ID_MAX + 1];             // unique per signal (required, non-empty)
    char type [FF_SIGNAL_TYPE_MAX + 1];         // signal type = topic (required, non-empty)
    char source [FF_SIGNAL_SOURCE_MAX + 1];     // publisher or file (required, non-empty)
    char subject [FF_SIGNAL_SUBJECT_MAX + 1];   // correlation key, e.g. "PA01/DIM01/Q001" (optional, "" when absent)
    int phase;                                  // 0..9 for "P00".."P09"; -1 when absent
    double confidence;                          // 0..1 (optional, 1.0 when absent)
    uint64_t ts_us;                             // µs since the epoch (required)
    uint64_t seq;                               // per-source sequence number (required)
    const uint8_t *payload;                     // raw msgpack of the payload value, borrowed; NULL when absent
    size_t payload_size;                        // bytes at payload
    const uint8_t *extra;                       // raw msgpack key/value pairs of unknown keys, borrowed (or extra_copy); NULL when none
    size_t extra_size;                          // bytes at extra
    uint32_t extra_count;                       // number of key/value pairs at extra
    uint8_t extra_copy [FF_SIGNAL_EXTRA_COPY_MAX]; // decoder's private store for non-adjacent unknown pairs
} ff_signal_t;

//  Sets every field to its "absent" value: strings "", phase -1,
//  confidence 1.0, numbers 0, no payload, no extras.
void
    ff_signal_init (ff_signal_t *self);

//  Decodes and validates one signal map. On success returns FF_SIGNAL_OK
//  and fills self; otherwise returns the reason and, when detail is not
//  NULL, a one-line explanation naming the field (e.g. "confidence: 1.7 is
//  outside 0..1"). self is unspecified after a failure.
//  When several things are wrong, the first of these wins: msgpack /
//  not_map (structure) > version > a non-string key, duplicate key or
//  oversized non-adjacent extras (in map order) > missing_field >
//  field_type / field_value (fields checked in the order id, type,
//  source, subject, phase, confidence, ts, seq).
ff_signal_error_t
    ff_signal_decode (ff_signal_t *self, const void *data, size_t size,
                      char *detail, size_t detail_size);

//  As ff_signal_decode, then checks the topic frame equals the type field.
ff_signal_error_t
    ff_signal_decode_frames (ff_signal_t *self,
                             const void *topic, size_t topic_size,
                             const void *data, size_t size,
                             char *detail, size_t detail_size);

//  Encodes self as a msgpack map into buf. Returns the number of bytes the
//  encoding takes; when that exceeds buf_size nothing useful was written
//  and the caller retries with a larger buffer (snprintf style). Encodes
//  absent optional fields by omitting them; payload and extras are copied
//  verbatim. The result decodes back to an equal signal.
//  Key order: v (always 1), id, type, source, subject, phase, confidence
//  (always), ts, seq, payload, then the extras. Integers take their
//  shortest form, confidence is a float64. Encoding does not validate:
//  a signal the decoder would reject (empty id, '$' type, extras naming a
//  known key...) encodes into bytes SISAS rejects; decode the result to
//  check it (ff_publisher does).
size_t
    ff_signal_encode (const ff_signal_t *self, uint8_t *buf, size_t buf_size);

//  The stable name of an error (see ff_signal_error_t), "ok" for
//  FF_SIGNAL_OK, "unknown" out of range.
const char *
    ff_signal_error_name (ff_signal_error_t error);

//  "P00".."P09" for 0..9, "" otherwise.
const char *
    ff_signal_phase_name (int phase);

#endif
