/*  fac_json — JSON text as Python's json.dumps (sort_keys=True,
    ensure_ascii=False) writes it. See fac_json.h. */
#include "fac_json.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A growing text buffer; `failed` once an allocation failed (what is
//  added after that is dropped).
typedef struct {
    char *data;
    size_t size;
    size_t capacity;
    bool failed;                    // an allocation failed
} s_text_t;

static void
s_put (s_text_t *text, const char *bytes, size_t length)
{
    if (text->failed)
        return;
    if (text->size + length + 1 > text->capacity) {
        size_t capacity = text->capacity ? text->capacity : 1024;
        while (text->size + length + 1 > capacity)
            capacity *= 2;
        char *data = (char *) realloc (text->data, capacity);
        if (!data) {
            text->failed = true;
            return;
        }
        text->data = data;
        text->capacity = capacity;
    }
    memcpy (text->data + text->size, bytes, length);
    text->size += length;
    text->data [text->size] = '\0';
}

static void
s_puts (s_text_t *text, const char *string)
{
    s_put (text, string, strlen (string));
}

//  A JSON string: UTF-8 as is; '"', '\\' and control characters escaped
//  (\b \f \n \r \t, others \u00xx in lower-case hex).
static void
s_put_string (s_text_t *text, const char *string, size_t length)
{
    s_put (text, "\"", 1);
    size_t run = 0;                 // bytes copied as they are, pending
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) string [i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        s_put (text, string + i - run, run);
        run = 0;
        char escape [8];
        switch (c) {
            case '"':  s_puts (text, "\\\""); break;
            case '\\': s_puts (text, "\\\\"); break;
            case '\b': s_puts (text, "\\b"); break;
            case '\f': s_puts (text, "\\f"); break;
            case '\n': s_puts (text, "\\n"); break;
            case '\r': s_puts (text, "\\r"); break;
            case '\t': s_puts (text, "\\t"); break;
            default:
                snprintf (escape, sizeof escape, "\\u%04x", c);
                s_puts (text, escape);
        }
    }
    s_put (text, string + length - run, run);
    s_put (text, "\"", 1);
}

//  A real as Python's repr(): the fewest significant digits (1..17) that
//  read back as the same double; positional when the decimal exponent is
//  in -4..15 (".0" when integral), else d[.ddd]e±XX.
static void
s_put_real (s_text_t *text, double value)
{
    if (!isfinite (value)) {
        //  JSON has no such numbers (jansson holds none); Python would
        //  write NaN / Infinity.
        s_puts (text, isnan (value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char scientific [40];
    for (int precision = 0; precision <= 16; precision++) {
        snprintf (scientific, sizeof scientific, "%.*e", precision, value);
        if (strtod (scientific, NULL) == value)
            break;
    }
    //  scientific = [-]d[<point>ddd]e(+|-)XX
    const char *cursor = scientific;
    bool negative = *cursor == '-';
    if (negative)
        cursor++;
    char digits [24];
    size_t count = 0;
    for (; *cursor && *cursor != 'e'; cursor++)
        if (isdigit ((unsigned char) *cursor) && count < sizeof digits - 1)
            digits [count++] = *cursor;
    while (count > 1 && digits [count - 1] == '0')
        count--;
    int exponent = *cursor == 'e' ? atoi (cursor + 1) : 0;
    char out [64];
    size_t used = 0;
    if (negative)
        out [used++] = '-';
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out [used++] = '0';
            out [used++] = '.';
            for (int i = -1; i > exponent; i--)
                out [used++] = '0';
            for (size_t i = 0; i < count; i++)
                out [used++] = digits [i];
        }
        else {
            for (int i = 0; i <= exponent; i++)
                out [used++] = (size_t) i < count ? digits [i] : '0';
            out [used++] = '.';
            if ((size_t) exponent + 1 < count)
                for (size_t i = (size_t) exponent + 1; i < count; i++)
                    out [used++] = digits [i];
            else
                out [used++] = '0';
        }
        out [used] = '\0';
    }
    else {
        out [used++] = digits [0];
        if (count > 1) {
            out [used++] = '.';
            for (size_t i = 1; i < count; i++)
                out [used++] = digits [i];
        }
        snprintf (out + used, sizeof out - used, "e%c%02d", exponent < 0 ? '-' : '+',
                  exponent < 0 ? -exponent : exponent);
    }
    s_puts (text, out);
}

static int
s_compare_keys (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  Before a member or element at depth: nothing when compact, else a
//  newline and depth × indent spaces.
static void
s_put_indent (s_text_t *text, int indent, int depth)
{
    if (indent < 0)
        return;
    s_put (text, "\n", 1);
    for (int i = 0; i < depth * indent; i++)
        s_put (text, " ", 1);
}

static void
s_put_value (s_text_t *text, const json_t *value, int indent, int depth)
{
    char number [32];
    switch (json_typeof (value)) {
        case JSON_OBJECT: {
            size_t count = json_object_size (value);
            if (count == 0) {
                s_puts (text, "{}");
                break;
            }
            const char **keys = (const char **) malloc (count * sizeof (char *));
            if (!keys) {
                text->failed = true;
                return;
            }
            size_t i = 0;
            const char *key;
            json_t *member;
            json_object_foreach ((json_t *) value, key, member)
                keys [i++] = key;
            qsort (keys, count, sizeof (char *), s_compare_keys);
            s_put (text, "{", 1);
            for (i = 0; i < count; i++) {
                if (i)
                    s_put (text, ",", 1);
                s_put_indent (text, indent, depth + 1);
                s_put_string (text, keys [i], strlen (keys [i]));
                s_puts (text, indent < 0 ? ":" : ": ");
                s_put_value (text, json_object_get (value, keys [i]), indent, depth + 1);
            }
            s_put_indent (text, indent, depth);
            s_put (text, "}", 1);
            free (keys);
            break;
        }
        case JSON_ARRAY:
            if (json_array_size (value) == 0) {
                s_puts (text, "[]");
                break;
            }
            s_put (text, "[", 1);
            for (size_t i = 0; i < json_array_size (value); i++) {
                if (i)
                    s_put (text, ",", 1);
                s_put_indent (text, indent, depth + 1);
                s_put_value (text, json_array_get (value, i), indent, depth + 1);
            }
            s_put_indent (text, indent, depth);
            s_put (text, "]", 1);
            break;
        case JSON_STRING:
            s_put_string (text, json_string_value (value), json_string_length (value));
            break;
        case JSON_INTEGER:
            snprintf (number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
            s_puts (text, number);
            break;
        case JSON_REAL:
            s_put_real (text, json_real_value (value));
            break;
        case JSON_TRUE:
            s_puts (text, "true");
            break;
        case JSON_FALSE:
            s_puts (text, "false");
            break;
        case JSON_NULL:
            s_puts (text, "null");
            break;
    }
}

char *
fac_json_dumps (const json_t *value, int indent, size_t *size_p)
{
    s_text_t text = { NULL, 0, 0, false };
    s_put_value (&text, value, indent, 0);
    //  A value always writes at least one byte; this guards a NULL data.
    s_put (&text, "", 0);
    if (text.failed) {
        free (text.data);
        return NULL;
    }
    if (size_p)
        *size_p = text.size;
    return text.data;
}
