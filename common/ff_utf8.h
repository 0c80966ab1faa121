/*  ff_utf8 — UTF-8 checks for text that crosses the wire. */
#ifndef FF_UTF8_H_INCLUDED
#define FF_UTF8_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  0 when data[0..size) is valid UTF-8 (RFC 3629: shortest form, no
//  surrogates, at most U+10FFFF; NUL only when allow_nul); otherwise the
//  offset of the first bad byte + 1.
size_t
    ff_utf8_check (const uint8_t *data, size_t size, bool allow_nul);

//  The longest length ≤ max of text[0..size) (valid UTF-8) that ends on a
//  character boundary: for cutting quotes without splitting a character.
size_t
    ff_utf8_prefix (const char *text, size_t size, size_t max);

#endif
