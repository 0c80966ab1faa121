/*  ff_pbwire — the few protobuf wire-format operations done by hand, where
    packing or unpacking a whole message would copy what is already
    packed: appending a field to packed bytes, and walking the
    length-delimited entries of a repeated field (RESULT_BATCH).
*/
#ifndef FF_PBWIRE_H_INCLUDED
#define FF_PBWIRE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  Room a key + varint (or key + length prefix) can take.
#define FF_PBWIRE_HEADER_MAX 15

//  Appends `field` as a varint (wire type 0) at buffer + *used, which must
//  have FF_PBWIRE_HEADER_MAX bytes of room; advances *used. Protobuf keeps
//  the last value of a scalar field, so this overrides a packed one.
void
    ff_pbwire_put_varint (uint8_t *buffer, size_t *used, uint32_t field, uint64_t value);

//  Appends the key and length prefix of a length-delimited `field` (wire
//  type 2) of `size` bytes at buffer + *used (FF_PBWIRE_HEADER_MAX bytes
//  of room); the caller appends the bytes.
void
    ff_pbwire_put_length (uint8_t *buffer, size_t *used, uint32_t field, size_t size);

//  The next field of packed bytes [*at, end) when it is length-delimited:
//  sets *field, *data and *size (borrowed) and advances *at. Returns 1,
//  0 at the end, -1 when the bytes are not a message of length-delimited
//  fields (a bad key, another wire type, a length beyond the end).
int
    ff_pbwire_next_length (const uint8_t **at, const uint8_t *end, uint32_t *field,
                           const uint8_t **data, size_t *size);

//  Calls fn with each entry of the length-delimited `field` of packed
//  bytes, in order (entries of other length-delimited fields are skipped).
//  Returns how many there were, or -1 where the framing breaks (the
//  entries before it were called).
typedef void (ff_pbwire_entry_fn) (const uint8_t *data, size_t size, void *arg);
long
    ff_pbwire_each (const uint8_t *packed, size_t packed_size, uint32_t field,
                    ff_pbwire_entry_fn *fn, void *arg);

#endif
