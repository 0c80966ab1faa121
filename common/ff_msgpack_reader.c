/*  ff_msgpack_reader — see ff_msgpack_reader.h. */
#include "ff_msgpack_reader.h"

#include <string.h>

static inline uint16_t
s_be16 (const uint8_t *p)
{
    return (uint16_t) ((uint16_t) p [0] << 8 | p [1]);
}

static inline uint32_t
s_be32 (const uint8_t *p)
{
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16
         | (uint32_t) p [2] << 8 | (uint32_t) p [3];
}

static inline uint64_t
s_be64 (const uint8_t *p)
{
    return (uint64_t) s_be32 (p) << 32 | s_be32 (p + 4);
}

void
ff_msgpack_reader_init (ff_msgpack_reader_t *self, const void *data, size_t size)
{
    static const uint8_t s_empty [1] = { 0 };
    self->pos = data ? (const uint8_t *) data : s_empty;
    self->end = data ? self->pos + size : s_empty;
}

size_t
ff_msgpack_reader_remaining (const ff_msgpack_reader_t *self)
{
    return (size_t) (self->end - self->pos);
}

//  Reads a length-prefixed body: `head` header bytes (the first is the
//  type byte) followed by `size` data bytes.
static inline int
s_body (ff_msgpack_reader_t *self, ff_msgpack_item_t *item,
        size_t head, uint32_t size)
{
    size_t avail = (size_t) (self->end - self->pos);
    if (avail < head || avail - head < size)
        return FF_MSGPACK_TRUNCATED;
    item->data = self->pos + head;
    item->size = size;
    self->pos += head + size;
    return FF_MSGPACK_OK;
}

int
ff_msgpack_reader_next (ff_msgpack_reader_t *self, ff_msgpack_item_t *item)
{
    const uint8_t *p = self->pos;
    size_t avail = (size_t) (self->end - p);
    if (avail == 0)
        return FF_MSGPACK_TRUNCATED;
    uint8_t b = p [0];

    if (b <= 0x7f) {
        item->type = FF_MSGPACK_UINT;
        item->u = b;
        self->pos++;
        return FF_MSGPACK_OK;
    }
    if (b >= 0xe0) {
        item->type = FF_MSGPACK_INT;
        item->i = (int8_t) b;
        self->pos++;
        return FF_MSGPACK_OK;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        item->type = FF_MSGPACK_STR;
        return s_body (self, item, 1, b & 0x1fu);
    }
    if (b <= 0x8f) {
        item->type = FF_MSGPACK_MAP;
        item->count = b & 0x0fu;
        self->pos++;
        return FF_MSGPACK_OK;
    }
    if (b <= 0x9f) {
        item->type = FF_MSGPACK_ARRAY;
        item->count = b & 0x0fu;
        self->pos++;
        return FF_MSGPACK_OK;
    }

    //  0xc0 .. 0xdf: fixed-size heads; need[] is the head size in bytes.
    static const uint8_t need [32] = {
        1, 1, 1, 1,         // c0 nil, c1 never used, c2 false, c3 true
        2, 3, 5,            // c4..c6 bin 8/16/32
        3, 4, 6,            // c7..c9 ext 8/16/32 (length, type)
        5, 9,               // ca float32, cb float64
        2, 3, 5, 9,         // cc..cf uint 8/16/32/64
        2, 3, 5, 9,         // d0..d3 int 8/16/32/64
        2, 2, 2, 2, 2,      // d4..d8 fixext 1/2/4/8/16 (type)
        2, 3, 5,            // d9..db str 8/16/32
        3, 5,               // dc, dd array 16/32
        3, 5,               // de, df map 16/32
    };
    size_t head = need [b - 0xc0];
    if (avail < head)
        return FF_MSGPACK_TRUNCATED;

    switch (b) {
        case 0xc0:
            item->type = FF_MSGPACK_NIL;
            break;
        case 0xc1:
            return FF_MSGPACK_INVALID;
        case 0xc2:
        case 0xc3:
            item->type = FF_MSGPACK_BOOL;
            item->boolean = b == 0xc3;
            break;
        case 0xc4:
            item->type = FF_MSGPACK_BIN;
            return s_body (self, item, head, p [1]);
        case 0xc5:
            item->type = FF_MSGPACK_BIN;
            return s_body (self, item, head, s_be16 (p + 1));
        case 0xc6:
            item->type = FF_MSGPACK_BIN;
            return s_body (self, item, head, s_be32 (p + 1));
        case 0xc7:
            item->type = FF_MSGPACK_EXT;
            item->ext_type = (int8_t) p [2];
            return s_body (self, item, head, p [1]);
        case 0xc8:
            item->type = FF_MSGPACK_EXT;
            item->ext_type = (int8_t) p [3];
            return s_body (self, item, head, s_be16 (p + 1));
        case 0xc9:
            item->type = FF_MSGPACK_EXT;
            item->ext_type = (int8_t) p [5];
            return s_body (self, item, head, s_be32 (p + 1));
        case 0xca: {
            uint32_t bits = s_be32 (p + 1);
            float value;
            memcpy (&value, &bits, sizeof value);
            item->type = FF_MSGPACK_FLOAT32;
            item->f = value;
            break;
        }
        case 0xcb: {
            uint64_t bits = s_be64 (p + 1);
            double value;
            memcpy (&value, &bits, sizeof value);
            item->type = FF_MSGPACK_FLOAT64;
            item->f = value;
            break;
        }
        case 0xcc:
            item->type = FF_MSGPACK_UINT;
            item->u = p [1];
            break;
        case 0xcd:
            item->type = FF_MSGPACK_UINT;
            item->u = s_be16 (p + 1);
            break;
        case 0xce:
            item->type = FF_MSGPACK_UINT;
            item->u = s_be32 (p + 1);
            break;
        case 0xcf:
            item->type = FF_MSGPACK_UINT;
            item->u = s_be64 (p + 1);
            break;
        case 0xd0:
            item->type = FF_MSGPACK_INT;
            item->i = (int8_t) p [1];
            break;
        case 0xd1:
            item->type = FF_MSGPACK_INT;
            item->i = (int16_t) s_be16 (p + 1);
            break;
        case 0xd2:
            item->type = FF_MSGPACK_INT;
            item->i = (int32_t) s_be32 (p + 1);
            break;
        case 0xd3:
            item->type = FF_MSGPACK_INT;
            item->i = (int64_t) s_be64 (p + 1);
            break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            item->type = FF_MSGPACK_EXT;
            item->ext_type = (int8_t) p [1];
            return s_body (self, item, head, 1u << (b - 0xd4));
        case 0xd9:
            item->type = FF_MSGPACK_STR;
            return s_body (self, item, head, p [1]);
        case 0xda:
            item->type = FF_MSGPACK_STR;
            return s_body (self, item, head, s_be16 (p + 1));
        case 0xdb:
            item->type = FF_MSGPACK_STR;
            return s_body (self, item, head, s_be32 (p + 1));
        case 0xdc:
            item->type = FF_MSGPACK_ARRAY;
            item->count = s_be16 (p + 1);
            break;
        case 0xdd:
            item->type = FF_MSGPACK_ARRAY;
            item->count = s_be32 (p + 1);
            break;
        case 0xde:
            item->type = FF_MSGPACK_MAP;
            item->count = s_be16 (p + 1);
            break;
        default:    // 0xdf
            item->type = FF_MSGPACK_MAP;
            item->count = s_be32 (p + 1);
            break;
    }
    self->pos += head;
    return FF_MSGPACK_OK;
}

//  Skips one object; depth_left is how many container levels may still
//  open. Leaves the cursor anywhere on error (the caller restores it).
static int
s_skip (ff_msgpack_reader_t *self, int depth_left)
{
    ff_msgpack_item_t item;
    int rc = ff_msgpack_reader_next (self, &item);
    if (rc != FF_MSGPACK_OK)
        return rc;
    if (item.type != FF_MSGPACK_ARRAY && item.type != FF_MSGPACK_MAP)
        return FF_MSGPACK_OK;
    if (depth_left <= 0)
        return FF_MSGPACK_TOO_DEEP;

    //  Every element takes at least one byte: a count larger than what is
    //  left is truncated, and this bounds the loop by the input size.
    uint64_t elements = item.type == FF_MSGPACK_MAP
                      ? 2 * (uint64_t) item.count : item.count;
    if (elements > (uint64_t) (self->end - self->pos))
        return FF_MSGPACK_TRUNCATED;
    for (uint64_t index = 0; index < elements; index++) {
        const uint8_t *p = self->pos;
        //  Scalars inline: the common case needs no recursion.
        if (p < self->end && (*p <= 0x7f || *p >= 0xe0)) {
            self->pos++;
            continue;
        }
        rc = s_skip (self, depth_left - 1);
        if (rc != FF_MSGPACK_OK)
            return rc;
    }
    return FF_MSGPACK_OK;
}

int
ff_msgpack_reader_skip (ff_msgpack_reader_t *self, int max_depth)
{
    const uint8_t *start = self->pos;
    int rc = s_skip (self, max_depth);
    if (rc != FF_MSGPACK_OK)
        self->pos = start;
    return rc;
}

const char *
ff_msgpack_type_name (ff_msgpack_type_t type)
{
    static const char *names [] = {
        "nil", "bool", "uint", "int", "float32", "float64",
        "str", "bin", "ext", "array", "map",
    };
    if ((unsigned) type < sizeof names / sizeof names [0])
        return names [type];
    return "unknown";
}
