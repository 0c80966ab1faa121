/*  ff_msgpack_reader — a zero-allocation, bounds-checked msgpack cursor.

    Reads msgpack (https://github.com/msgpack/msgpack/blob/master/spec.md)
    straight from a caller's buffer, one object header at a time, never
    reading past the end and never allocating. Strings, binaries and ext
    data are returned as borrowed byte ranges of that buffer.

    ff_msgpack_reader_next returns one object's header: for str, bin and
    ext the data too (the cursor moves past it); for arrays and maps only
    the element count — the caller then reads the elements (count, or
    2 × count for maps, key then value). ff_msgpack_reader_skip validates
    and steps over one complete object, nested contents included, with a
    nesting limit. Errors leave the cursor where the failing object began.

    Used by ff_signal on SISAS's ingest hot path: keep it branch-light.
*/
#ifndef FF_MSGPACK_READER_H_INCLUDED
#define FF_MSGPACK_READER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FF_MSGPACK_NIL,
    FF_MSGPACK_BOOL,        // boolean
    FF_MSGPACK_UINT,        // positive fixint, uint 8/16/32/64: value in u
    FF_MSGPACK_INT,         // negative fixint, int 8/16/32/64: value in i (may be ≥ 0)
    FF_MSGPACK_FLOAT32,     // value in f (widened)
    FF_MSGPACK_FLOAT64,     // value in f
    FF_MSGPACK_STR,         // bytes at data, size (UTF-8 not checked)
    FF_MSGPACK_BIN,         // bytes at data, size
    FF_MSGPACK_EXT,         // ext_type, bytes at data, size (fixext too)
    FF_MSGPACK_ARRAY,       // count elements follow
    FF_MSGPACK_MAP,         // count key/value pairs follow
} ff_msgpack_type_t;

typedef struct {
    ff_msgpack_type_t type;     // what was read
    bool boolean;               // BOOL
    uint64_t u;                 // UINT
    int64_t i;                  // INT
    double f;                   // FLOAT32, FLOAT64
    const uint8_t *data;        // STR, BIN, EXT: borrowed from the input
    uint32_t size;              // STR, BIN, EXT: bytes at data
    uint32_t count;             // ARRAY: elements; MAP: pairs
    int8_t ext_type;            // EXT: application type
} ff_msgpack_item_t;

//  Results of next/skip.
#define FF_MSGPACK_OK          0
#define FF_MSGPACK_TRUNCATED  -1    // the object runs past the end of the input
#define FF_MSGPACK_INVALID    -2    // the never-used byte 0xc1
#define FF_MSGPACK_TOO_DEEP   -3    // skip: nesting deeper than max_depth

typedef struct {
    const uint8_t *pos;         // next byte to read
    const uint8_t *end;         // one past the last byte of the input
} ff_msgpack_reader_t;

//  Starts reading size bytes at data (data may be NULL when size is 0).
void
    ff_msgpack_reader_init (ff_msgpack_reader_t *self, const void *data,
                            size_t size);

//  Reads one object header into item (see above). Returns FF_MSGPACK_OK or
//  a negative error; on error the cursor does not move.
int
    ff_msgpack_reader_next (ff_msgpack_reader_t *self, ff_msgpack_item_t *item);

//  Validates and skips one complete object, whose arrays and maps may nest
//  at most max_depth levels (a scalar has depth 0, [1] depth 1, [[1]] 2).
//  Returns FF_MSGPACK_OK or a negative error; on error the cursor is at the
//  start of the object. Recursion is bounded by max_depth.
int
    ff_msgpack_reader_skip (ff_msgpack_reader_t *self, int max_depth);

//  Bytes not yet read.
size_t
    ff_msgpack_reader_remaining (const ff_msgpack_reader_t *self);

//  A short name of an item type ("nil", "bool", "uint", "int", "float32",
//  "float64", "str", "bin", "ext", "array", "map"), for error messages.
const char *
    ff_msgpack_type_name (ff_msgpack_type_t type);

#endif
