/*  fac_json — JSON text as Python's json.dumps (value, sort_keys=True,
    ensure_ascii=False) writes it, byte for byte: keys sorted by their
    UTF-8 bytes, strings with only '"', '\\' and U+0000..U+001F escaped
    (\b \f \n \r \t by name, the others \u00xx), reals in their shortest
    round-trip form laid out as Python's repr(). Used for the canonical
    form of a contract (compact; its digest is taken over these bytes)
    and for the set files farfanctl writes (indented). */
#ifndef FAC_JSON_H_INCLUDED
#define FAC_JSON_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The text of value. indent < 0: compact (separators "," and ":");
//  indent >= 0: a newline and indent spaces per level before each member
//  or element, separators "," and ": " (empty objects and arrays stay
//  "{}" and "[]"). No final newline. Sets *size_p (when not NULL) to the
//  text's length. Caller frees; NULL on out of memory.
char *
    fac_json_dumps (const json_t *value, int indent, size_t *size_p);

#ifdef __cplusplus
}
#endif

#endif
