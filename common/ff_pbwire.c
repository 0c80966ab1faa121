/*  ff_pbwire — see ff_pbwire.h. */
#include "ff_pbwire.h"

static void
s_put (uint8_t *buffer, size_t *used, uint64_t value)
{
    do {
        buffer [(*used)++] = (uint8_t) ((value & 0x7f) | (value > 0x7f ? 0x80 : 0));
        value >>= 7;
    } while (value);
}

//  A varint at [*at, end); -1 when truncated or longer than 10 bytes.
static int
s_get (const uint8_t **at, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (unsigned shift = 0; shift < 70 && *at < end; shift += 7) {
        uint8_t byte = *(*at)++;
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return 0;
    }
    return -1;
}

void
ff_pbwire_put_varint (uint8_t *buffer, size_t *used, uint32_t field, uint64_t value)
{
    s_put (buffer, used, (uint64_t) field << 3);
    s_put (buffer, used, value);
}

void
ff_pbwire_put_length (uint8_t *buffer, size_t *used, uint32_t field, size_t size)
{
    s_put (buffer, used, (uint64_t) field << 3 | 2);
    s_put (buffer, used, size);
}

int
ff_pbwire_next_length (const uint8_t **at, const uint8_t *end, uint32_t *field,
                       const uint8_t **data, size_t *size)
{
    if (*at >= end)
        return 0;
    uint64_t key, length;
    if (s_get (at, end, &key) != 0 || (key & 7) != 2 || key >> 3 == 0 || key >> 3 > UINT32_MAX
    ||  s_get (at, end, &length) != 0 || length > (uint64_t) (end - *at))
        return -1;
    *field = (uint32_t) (key >> 3);
    *data = *at;
    *size = (size_t) length;
    *at += length;
    return 1;
}

long
ff_pbwire_each (const uint8_t *packed, size_t packed_size, uint32_t field,
                ff_pbwire_entry_fn *fn, void *arg)
{
    const uint8_t *at = packed;
    const uint8_t *end = packed + packed_size;
    uint32_t found;
    const uint8_t *data;
    size_t size;
    long count = 0;
    int rc;
    while ((rc = ff_pbwire_next_length (&at, end, &found, &data, &size)) == 1)
        if (found == field) {
            fn (data, size, arg);
            count++;
        }
    return rc < 0 ? -1 : count;
}
