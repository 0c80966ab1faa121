/*  ctl_table — aligned text tables for farfanctl's human output.

    A table is a header spec plus rows of cells added left to right;
    ctl_table_print pads every column to its widest cell (counted in UTF-8
    characters, so "años" is four wide) and separates columns with two
    spaces. The last column is never padded (no trailing blanks). Control
    characters in cells (a newline in a server's error message) are shown
    as spaces so a row stays one line. The same output on a TTY and off it.

    Header spec: column titles separated by '|'; a title starting with '>'
    is right-aligned (numbers). When every title is empty ("|" = two
    columns) no header line is printed: a key/value listing.

        ctl_table_t *table = ctl_table_new ("CONTRACT|STATUS|>SCORE");
        ctl_table_row (table);
        ctl_table_cell (table, "%s", id);
        ...
        ctl_table_print (table, stdout, 0);
        ctl_table_destroy (&table);
*/
#ifndef CTL_TABLE_H_INCLUDED
#define CTL_TABLE_H_INCLUDED

#include <stddef.h>
#include <stdio.h>

typedef struct ctl_table ctl_table_t;

//  A table with the columns of spec (see above). Never NULL (aborts on
//  out of memory, as CZMQ does).
ctl_table_t *
    ctl_table_new (const char *spec);

//  Idempotent; nulls *self_p.
void
    ctl_table_destroy (ctl_table_t **self_p);

//  Starts a new row; cells not filled stay empty.
void
    ctl_table_row (ctl_table_t *self);

//  Appends a formatted cell to the current row (starting one when there
//  is none). Cells past the last column are ignored: a programming error
//  the table does not make worse.
void
    ctl_table_cell (ctl_table_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Rows added so far.
size_t
    ctl_table_rows (const ctl_table_t *self);

//  Prints header (when titled) and rows, each line indented by indent
//  spaces.
void
    ctl_table_print (const ctl_table_t *self, FILE *out, int indent);

#endif
