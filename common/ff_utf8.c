/*  ff_utf8 — see ff_utf8.h. */
#include "ff_utf8.h"

size_t
ff_utf8_check (const uint8_t *data, size_t size, bool allow_nul)
{
    size_t index = 0;
    while (index < size) {
        uint8_t c = data [index];
        if (c >= 0x01 && c <= 0x7f) {
            index++;
            continue;
        }
        if (c == 0) {
            if (!allow_nul)
                return index + 1;
            index++;
            continue;
        }
        size_t length;
        uint8_t low = 0x80, high = 0xbf;    // range of the second byte
        if (c >= 0xc2 && c <= 0xdf)
            length = 2;
        else
        if (c >= 0xe0 && c <= 0xef) {
            length = 3;
            if (c == 0xe0)
                low = 0xa0;                 // overlong
            else
            if (c == 0xed)
                high = 0x9f;                // surrogates
        }
        else
        if (c >= 0xf0 && c <= 0xf4) {
            length = 4;
            if (c == 0xf0)
                low = 0x90;                 // overlong
            else
            if (c == 0xf4)
                high = 0x8f;                // > U+10FFFF
        }
        else
            return index + 1;
        if (size - index < length)
            return index + 1;
        if (data [index + 1] < low || data [index + 1] > high)
            return index + 2;
        for (size_t next = 2; next < length; next++)
            if ((data [index + next] & 0xc0) != 0x80)
                return index + next + 1;
        index += length;
    }
    return 0;
}

size_t
ff_utf8_prefix (const char *text, size_t size, size_t max)
{
    if (size <= max)
        return size;
    size_t cut = max;
    //  Back off continuation bytes to the start of the cut character.
    while (cut > 0 && ((uint8_t) text [cut] & 0xc0) == 0x80)
        cut--;
    return cut;
}
