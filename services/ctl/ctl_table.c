/*  ctl_table — see ctl_table.h. */
#include "ctl_table.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ctl_table {
    size_t columns;             // from the spec
    char **titles;              // per column, without the '>'
    bool *right;                // per column: right-aligned
    bool titled;                // any title non-empty: print the header
    char **cells;               // rows * columns, NULL = empty
    size_t rows;
    size_t capacity;            // rows allocated
    size_t filled;              // cells filled in the current row
};

ctl_table_t *
ctl_table_new (const char *spec)
{
    ctl_table_t *self = (ctl_table_t *) zmalloc (sizeof (ctl_table_t));
    self->columns = 1;
    for (const char *c = spec; *c; c++)
        if (*c == '|')
            self->columns++;
    self->titles = (char **) zmalloc (self->columns * sizeof (char *));
    self->right = (bool *) zmalloc (self->columns * sizeof (bool));
    const char *start = spec;
    for (size_t column = 0; column < self->columns; column++) {
        size_t length = strcspn (start, "|");
        if (length > 0 && *start == '>') {
            self->right [column] = true;
            start++;
            length--;
        }
        self->titles [column] = strndup (start, length);
        assert (self->titles [column]);
        if (length > 0)
            self->titled = true;
        start += length + (start [length] == '|');
    }
    return self;
}

void
ctl_table_destroy (ctl_table_t **self_p)
{
    if (self_p && *self_p) {
        ctl_table_t *self = *self_p;
        for (size_t i = 0; i < self->rows * self->columns; i++)
            free (self->cells [i]);
        free (self->cells);
        for (size_t column = 0; column < self->columns; column++)
            free (self->titles [column]);
        free (self->titles);
        free (self->right);
        free (self);
        *self_p = NULL;
    }
}

void
ctl_table_row (ctl_table_t *self)
{
    if (self->rows == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 16;
        self->cells = (char **) realloc (self->cells,
                                         self->capacity * self->columns * sizeof (char *));
        assert (self->cells);
    }
    memset (self->cells + self->rows * self->columns, 0, self->columns * sizeof (char *));
    self->rows++;
    self->filled = 0;
}

void
ctl_table_cell (ctl_table_t *self, const char *format, ...)
{
    if (self->rows == 0)
        ctl_table_row (self);
    if (self->filled == self->columns)
        return;
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    assert (text);
    for (char *c = text; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = ' ';
    self->cells [(self->rows - 1) * self->columns + self->filled++] = text;
}

size_t
ctl_table_rows (const ctl_table_t *self)
{
    return self->rows;
}

//  Characters in a UTF-8 string: bytes that do not continue a sequence.
static size_t
s_width (const char *text)
{
    size_t width = 0;
    for (const unsigned char *c = (const unsigned char *) text; c && *c; c++)
        if ((*c & 0xC0) != 0x80)
            width++;
    return width;
}

static void
s_print_line (const ctl_table_t *self, char *const *cells, const size_t *widths,
              FILE *out, int indent)
{
    //  Trailing empty cells are not printed, so no line ends in blanks.
    size_t last = self->columns;
    while (last > 0 && (!cells [last - 1] || !*cells [last - 1]))
        last--;
    fprintf (out, "%*s", indent, "");
    for (size_t column = 0; column < last; column++) {
        const char *text = cells [column] ? cells [column] : "";
        size_t pad = widths [column] - s_width (text);
        if (column > 0)
            fputs ("  ", out);
        if (self->right [column])
            fprintf (out, "%*s%s", (int) pad, "", text);
        else
        if (column + 1 < last)
            fprintf (out, "%s%*s", text, (int) pad, "");
        else
            fputs (text, out);
    }
    fputc ('\n', out);
}

void
ctl_table_print (const ctl_table_t *self, FILE *out, int indent)
{
    size_t *widths = (size_t *) zmalloc (self->columns * sizeof (size_t));
    for (size_t column = 0; column < self->columns; column++) {
        if (self->titled)
            widths [column] = s_width (self->titles [column]);
        for (size_t row = 0; row < self->rows; row++) {
            size_t width = s_width (self->cells [row * self->columns + column]);
            if (width > widths [column])
                widths [column] = width;
        }
    }
    if (self->titled)
        s_print_line (self, self->titles, widths, out, indent);
    for (size_t row = 0; row < self->rows; row++)
        s_print_line (self, self->cells + row * self->columns, widths, out, indent);
    free (widths);
}
