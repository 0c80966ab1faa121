/*  fac_methods_text — the methods that read the document:
    text.match_patterns, text.count_elements, text.extract_numbers,
    text.keyword_density. Semantics: proto/methods.md. */
#include "fac_methods.h"
#include "ff_utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Most matches quoted per element type / samples per category.
#define S_QUOTE_MAX 1000
//  Bounds of text.keyword_density's keywords.
#define S_KEYWORDS_MAX 256
#define S_KEYWORD_BYTES_MAX 200

static uint32_t
s_saturate (uint64_t value)
{
    return value > UINT32_MAX? UINT32_MAX: (uint32_t) value;
}

//  ---------------------------------------------------------------------
//  Pattern matching, Python re.finditer style

//  One pattern walking the text: its current match and where to go next.
typedef struct {
    const pcre2_code *code;
    size_t pattern;             // index in the contract
    bool jit;                   // JIT-compiled: pcre2_jit_match
    bool done;                  // no more matches
    PCRE2_SIZE start, end;      // the current match
    PCRE2_SIZE next;            // where the next search starts
    uint32_t options;           // PCRE2_NOTEMPTY_ATSTART after an empty match
    uint64_t count;             // matches so far
} s_cursor_t;

static void
s_cursor_init (s_cursor_t *cursor, const pcre2_code *code, size_t pattern)
{
    memset (cursor, 0, sizeof *cursor);
    cursor->code = code;
    cursor->pattern = pattern;
    size_t jit_size = 0;
    cursor->jit = pcre2_pattern_info (code, PCRE2_INFO_JITSIZE, &jit_size) == 0 && jit_size > 0;
}

//  Finds the cursor's next match. re.finditer semantics: the search
//  resumes at the end of the previous match; after an empty match it
//  resumes at the same offset but may not match empty there again
//  (PCRE2_NOTEMPTY_ATSTART), which is what CPython's scanner does
//  (must_advance), so an empty match moves on by one character and a
//  non-empty one may start where the empty one was. 0, or -1 with err.
static int
s_cursor_next (s_cursor_t *cursor, PCRE2_SPTR text, size_t size, pcre2_match_data *match_data,
               char *err, size_t err_size)
{
    if (cursor->done)
        return 0;
    if (cursor->next > size) {
        cursor->done = true;
        return 0;
    }
    int rc;
    if (cursor->jit) {
        rc = pcre2_jit_match (cursor->code, text, size, cursor->next, cursor->options,
                              match_data, NULL);
        //  The JIT's default stack (32 KiB) is too small for some
        //  patterns on some texts; the interpreter keeps its own on the heap.
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match (cursor->code, text, size, cursor->next,
                              cursor->options | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                              match_data, NULL);
    }
    else
        rc = pcre2_match (cursor->code, text, size, cursor->next,
                          cursor->options | PCRE2_NO_UTF_CHECK, match_data, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) {
        cursor->done = true;
        return 0;
    }
    //  0 = matched, the ovector (one pair) too small for the groups.
    if (rc < 0) {
        PCRE2_UCHAR message [120];
        pcre2_get_error_message (rc, message, sizeof message);
        return fac_methods_errf (err, err_size, "matching from byte %zu: %s",
                                 (size_t) cursor->next, (const char *) message);
    }
    PCRE2_SIZE *ovector = pcre2_get_ovector_pointer (match_data);
    cursor->start = ovector [0];
    //  \K in a lookahead can end a match before its start; quote nothing.
    cursor->end = ovector [1] < ovector [0]? ovector [0]: ovector [1];
    cursor->next = cursor->end;
    cursor->options = cursor->end == cursor->start? PCRE2_NOTEMPTY_ATSTART: 0;
    cursor->count++;
    return 0;
}

static const char *
s_pattern_type (const fac_pattern_t *pattern)
{
    return pattern->element_type? pattern->element_type: "";
}

static int
s_match_patterns_parse (const json_t *params, const fac_contract_t *contract,
                        long long *max_matches, char *err, size_t err_size)
{
    static const char *const known [] = { "max_matches", NULL };
    if (fac_methods_check_keys (params, "text.match_patterns", known, err, err_size)
    ||  fac_methods_get_int (params, "max_matches", 0, S_QUOTE_MAX, FAC_EVIDENCE_MATCHES_DEFAULT,
                             max_matches, err, err_size))
        return -1;
    if (contract->pattern_count == 0)
        return fac_methods_errf (err, err_size, "patterns: text.match_patterns needs at least one pattern");
    return 0;
}

int
fac_methods_match_patterns_check (const json_t *params, const fac_contract_t *contract,
                                  const fac_method_env_t *env, char *err, size_t err_size)
{
    long long max_matches;
    return s_match_patterns_parse (params, contract, &max_matches, err, err_size);
}

//  Runs the patterns of one element type (indexes in group) together,
//  merging their matches in document order: the count is the number of
//  distinct start offsets, the quoted match at an offset is the longest
//  one there (the lowest pattern index on a tie).
static int
s_match_group (fac_context_t *ctx, fac_evidence_t *evidence, s_cursor_t *cursors, size_t group_size,
               uint32_t cap, pcre2_match_data *match_data)
{
    PCRE2_SPTR text = (PCRE2_SPTR) (ctx->text? ctx->text: "");
    size_t size = ctx->text_size;
    const fac_contract_t *contract = ctx->compiled->contract;
    char reason [200];
    for (size_t i = 0; i < group_size; i++)
        if (s_cursor_next (&cursors [i], text, size, match_data, reason, sizeof reason))
            return fac_methods_fail (ctx, "text.match_patterns", "pattern %s: %s",
                                     contract->patterns [cursors [i].pattern].id, reason);
    if (cap > 0) {
        evidence->matches = (fac_match_t *) calloc (cap, sizeof (fac_match_t));
        if (!evidence->matches)
            return fac_methods_fail (ctx, "text.match_patterns", "out of memory");
    }
    uint64_t count = 0;
    while (true) {
        s_cursor_t *first = NULL;
        for (size_t i = 0; i < group_size; i++) {
            s_cursor_t *cursor = &cursors [i];
            if (cursor->done)
                continue;
            if (!first || cursor->start < first->start
            ||  (cursor->start == first->start && cursor->end - cursor->start > first->end - first->start))
                first = cursor;
        }
        if (!first)
            break;
        count++;
        if (evidence->match_count < cap) {
            fac_match_t *match = &evidence->matches [evidence->match_count++];
            match->offset = first->start;
            match->length = s_saturate (first->end - first->start);
            match->pattern = (uint32_t) first->pattern;
        }
        PCRE2_SIZE offset = first->start;
        for (size_t i = 0; i < group_size; i++) {
            s_cursor_t *cursor = &cursors [i];
            if (!cursor->done && cursor->start == offset
            &&  s_cursor_next (cursor, text, size, match_data, reason, sizeof reason))
                return fac_methods_fail (ctx, "text.match_patterns", "pattern %s: %s",
                                         contract->patterns [cursor->pattern].id, reason);
        }
    }
    evidence->count = s_saturate (count);
    return 0;
}

int
fac_methods_match_patterns_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "text.match_patterns";
    const fac_contract_t *contract = ctx->compiled->contract;
    long long max_matches;
    char reason [200];
    if (s_match_patterns_parse (params, contract, &max_matches, reason, sizeof reason))
        return fac_methods_fail (ctx, method, "%s", reason);
    if (!ctx->text)
        return fac_methods_fail (ctx, method, "no document (the contract must set inputs.document)");

    size_t patterns = contract->pattern_count;
    int rc = -1;
    s_cursor_t *cursors = (s_cursor_t *) calloc (patterns, sizeof (s_cursor_t));
    uint64_t *counts = (uint64_t *) calloc (patterns, sizeof (uint64_t));
    //  Only the whole match is read: one pair, whatever the groups.
    pcre2_match_data *match_data = pcre2_match_data_create (1, NULL);
    //  Element types: the expected ones, then those only patterns name.
    fac_evidence_t *evidence = (fac_evidence_t *) calloc (contract->expected_count + patterns,
                                                          sizeof (fac_evidence_t));
    size_t evidence_count = 0;
    if (!cursors || !counts || !match_data || !evidence) {
        fac_methods_fail (ctx, method, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < contract->expected_count; i++) {
        fac_evidence_t *entry = &evidence [evidence_count++];
        entry->element_type = contract->expected [i].type;
        entry->minimum = contract->expected [i].minimum;
        entry->required = contract->expected [i].required;
        entry->expected = true;
    }
    for (size_t i = 0; i < patterns; i++) {
        const char *type = s_pattern_type (&contract->patterns [i]);
        bool known = false;
        for (size_t j = 0; j < evidence_count && !known; j++)
            known = strcmp (evidence [j].element_type, type) == 0;
        if (!known)
            evidence [evidence_count++].element_type = type;
    }
    for (size_t e = 0; e < evidence_count; e++) {
        size_t group_size = 0;
        for (size_t i = 0; i < patterns; i++)
            if (strcmp (s_pattern_type (&contract->patterns [i]), evidence [e].element_type) == 0)
                s_cursor_init (&cursors [group_size++], ctx->compiled->codes [i], i);
        if (group_size == 0)
            continue;
        if (s_match_group (ctx, &evidence [e], cursors, group_size, (uint32_t) max_matches,
                           match_data))
            goto done;
        for (size_t i = 0; i < group_size; i++)
            counts [cursors [i].pattern] = cursors [i].count;
    }
    //  Confidence: mean weight of the patterns that matched (0 if none).
    double weight_sum = 0;
    size_t matched = 0;
    uint64_t total = 0;
    json_t *per_pattern = json_object ();
    for (size_t i = 0; i < patterns; i++) {
        if (counts [i] > 0) {
            weight_sum += contract->patterns [i].weight;
            matched++;
        }
        total += counts [i];
        if (per_pattern)
            json_object_set_new (per_pattern, contract->patterns [i].id,
                                 json_integer ((json_int_t) counts [i]));
    }
    fac_methods_evidence_free (ctx);
    ctx->evidence = evidence;
    ctx->evidence_count = evidence_count;
    evidence = NULL;
    ctx->confidence = matched? weight_sum / (double) matched: 0.0;
    json_t *output = json_pack ("{s:o*, s:I, s:I, s:I, s:f}",
                                "patterns", per_pattern,
                                "pattern_count", (json_int_t) patterns,
                                "matched_patterns", (json_int_t) matched,
                                "total_matches", (json_int_t) total,
                                "confidence", ctx->confidence);
    rc = fac_methods_output_set (ctx, method, output);
done:
    if (evidence) {
        for (size_t e = 0; e < evidence_count; e++)
            free (evidence [e].matches);
        free (evidence);
    }
    pcre2_match_data_free (match_data);
    free (counts);
    free (cursors);
    return rc;
}

//  ---------------------------------------------------------------------
//  text.count_elements

//  Weight of each expected element (1 unless params.weights says).
static int
s_count_elements_parse (const json_t *params, const fac_contract_t *contract, double *weights,
                        char *err, size_t err_size)
{
    static const char *const known [] = { "weights", NULL };
    if (fac_methods_check_keys (params, "text.count_elements", known, err, err_size))
        return -1;
    if (contract->expected_count == 0)
        return fac_methods_errf (err, err_size, "expected_elements: text.count_elements needs at "
                                 "least one expected element");
    for (size_t i = 0; weights && i < contract->expected_count; i++)
        weights [i] = 1.0;
    json_t *given = json_object_get (params, "weights");
    if (!given)
        return 0;
    if (!json_is_object (given))
        return fac_methods_errf (err, err_size, "params.weights: must be an object "
                                 "{\"<element type>\": w >= 0, ...}");
    const char *type;
    json_t *value;
    json_object_foreach (given, type, value) {
        if (!fac_methods_expected (contract, type))
            return fac_methods_errf (err, err_size, "params.weights.%s: not an expected element "
                                     "of this contract", type);
        if (!json_is_number (value) || !isfinite (json_number_value (value))
        ||  json_number_value (value) < 0)
            return fac_methods_errf (err, err_size, "params.weights.%s: must be a number >= 0", type);
    }
    double sum = 0;
    for (size_t i = 0; i < contract->expected_count; i++) {
        json_t *value_i = json_object_get (given, contract->expected [i].type);
        double weight = value_i? json_number_value (value_i): 1.0;
        if (weights)
            weights [i] = weight;
        sum += weight;
    }
    if (sum <= 0)
        return fac_methods_errf (err, err_size, "params.weights: at least one expected element "
                                 "must weigh more than 0");
    return 0;
}

int
fac_methods_count_elements_check (const json_t *params, const fac_contract_t *contract,
                                  const fac_method_env_t *env, char *err, size_t err_size)
{
    return s_count_elements_parse (params, contract, NULL, err, err_size);
}

int
fac_methods_count_elements_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "text.count_elements";
    const fac_contract_t *contract = ctx->compiled->contract;
    char reason [200];
    double *weights = (double *) calloc (contract->expected_count + 1, sizeof (double));
    if (!weights)
        return fac_methods_fail (ctx, method, "out of memory");
    if (s_count_elements_parse (params, contract, weights, reason, sizeof reason)) {
        free (weights);
        return fac_methods_fail (ctx, method, "%s", reason);
    }
    if (!ctx->evidence) {
        free (weights);
        return fac_methods_fail (ctx, method, "no evidence to count (text.match_patterns, or "
                                 "text.extract_numbers with as_elements, fills it)");
    }
    json_t *elements = json_array ();
    json_t *missing = json_array ();
    double sum = 0, weight_sum = 0;
    for (size_t i = 0; i < contract->expected_count; i++) {
        const fac_evidence_t *evidence = fac_methods_evidence_find (ctx, contract->expected [i].type);
        double satisfaction = evidence? fac_methods_satisfaction (evidence): 0.0;
        sum += weights [i] * satisfaction;
        weight_sum += weights [i];
        if (satisfaction < 1.0 && missing)
            json_array_append_new (missing, json_string (contract->expected [i].type));
        if (elements)
            json_array_append_new (elements, json_pack ("{s:s, s:I, s:I, s:b, s:f, s:f}",
                "type", contract->expected [i].type,
                "count", (json_int_t) (evidence? evidence->count: 0),
                "minimum", (json_int_t) contract->expected [i].minimum,
                "required", contract->expected [i].required,
                "satisfaction", satisfaction,
                "weight", weights [i]));
    }
    free (weights);
    ctx->ratio = weight_sum > 0? sum / weight_sum: 0.0;
    json_t *output = json_pack ("{s:o*, s:o*, s:f}", "elements", elements,
                                "missing_elements", missing, "ratio", ctx->ratio);
    return fac_methods_output_set (ctx, method, output);
}

//  ---------------------------------------------------------------------
//  text.extract_numbers

typedef enum {
    S_NUMBERS,
    S_PERCENTAGES,
    S_CURRENCY,
    S_YEARS,
    S_CATEGORY_COUNT
} s_category_t;

static const char *s_category_names [S_CATEGORY_COUNT] = {
    "numbers", "percentages", "currency", "years"
};

typedef struct {
    size_t offset, length;      // bytes in the document
    double value;
} s_token_t;

typedef struct {
    uint64_t count;
    s_token_t *samples;         // the first `cap`
    size_t sample_count;
} s_found_t;

//  The code point starting at text[at] (valid UTF-8); *size its bytes.
static uint32_t
s_decode (const unsigned char *text, size_t at, size_t size, size_t *length)
{
    unsigned char byte = text [at];
    size_t need = byte < 0x80? 1: byte < 0xE0? 2: byte < 0xF0? 3: 4;
    if (at + need > size)
        need = 1;
    uint32_t cp = need == 1? byte: need == 2? byte & 0x1F: need == 3? byte & 0x0F: byte & 0x07;
    for (size_t i = 1; i < need; i++)
        cp = (cp << 6) | (text [at + i] & 0x3F);
    *length = need;
    return cp;
}

//  The code point ending just before text[at]; 0 at the start.
static uint32_t
s_decode_before (const unsigned char *text, size_t at, size_t size)
{
    if (at == 0)
        return 0;
    size_t start = at - 1;
    while (start > 0 && at - start < 4 && (text [start] & 0xC0) == 0x80)
        start--;
    size_t length;
    return s_decode (text, start, size, &length);
}

//  Word characters for the number boundaries: ASCII letters, digits and
//  '_', and every non-ASCII letter-like code point (everything except the
//  Latin-1 punctuation and signs, general punctuation and spaces, currency
//  signs), so "1º", "x2" or "año2012" are not numbers.
static bool
s_is_word (uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')
            || cp == '_';
    if (cp >= 0x80 && cp <= 0xBF)
        return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
    if (cp == 0xD7 || cp == 0xF7)
        return false;
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x20A0 && cp <= 0x20CF) || cp == 0x3000
    ||  (cp >= 0x2190 && cp <= 0x2BFF))
        return false;
    return true;
}

//  Horizontal space allowed between a number and its sign or unit: space,
//  tab, no-break space U+00A0, narrow no-break space U+202F. Returns the
//  bytes skipped (at most `most` spaces).
static size_t
s_skip_spaces (const unsigned char *text, size_t at, size_t size, int most)
{
    size_t start = at;
    for (int n = 0; n < most && at < size; n++) {
        if (text [at] == ' ' || text [at] == '\t')
            at++;
        else
        if (at + 1 < size && text [at] == 0xC2 && text [at + 1] == 0xA0)
            at += 2;
        else
        if (at + 2 < size && text [at] == 0xE2 && text [at + 1] == 0x80 && text [at + 2] == 0xAF)
            at += 3;
        else
            break;
    }
    return at - start;
}

//  Lowercase of one byte for the unit words: ASCII, and the second byte
//  of Latin-1 capitals (U+00C0..U+00DE, "Ó" -> "ó").
static unsigned char
s_lower_byte (const unsigned char *text, size_t at)
{
    unsigned char byte = text [at];
    if (byte >= 'A' && byte <= 'Z')
        return (unsigned char) (byte + 32);
    if (at > 0 && text [at - 1] == 0xC3 && byte >= 0x80 && byte <= 0x9E && byte != 0x97)
        return (unsigned char) (byte + 32);
    return byte;
}

//  Bytes of `word` (lowercase) at text[at], case-insensitively, as a whole
//  word; 0 when it is not there.
static size_t
s_word_at (const unsigned char *text, size_t at, size_t size, const char *word)
{
    size_t length = strlen (word);
    if (at + length > size)
        return 0;
    for (size_t i = 0; i < length; i++)
        if (s_lower_byte (text, at + i) != (unsigned char) word [i])
            return 0;
    size_t next_length;
    if (at + length < size && s_is_word (s_decode (text, at + length, size, &next_length)))
        return 0;
    return length;
}

//  A number at text[at] (an ASCII digit not preceded by a word character):
//  Spanish formats "1.234.567", "1.234.567,50", "3,5", "12", and "3.5"
//  (one dot not followed by exactly three digits). *end is where the run
//  of digits and separators ends; returns false (skip to *end) when the run
//  is no number (a section number "1.2.3", English "1,234.5", or a word
//  character right after it).
static bool
s_number_at (const unsigned char *text, size_t at, size_t size, size_t *end, double *value,
             bool *plain_integer, size_t *digits)
{
    //  The run: digits, and separators each followed by a digit.
    size_t groups [64], group_count = 0;        // digits per group
    char seps [64];
    size_t i = at;
    bool overflow = false;
    while (true) {
        size_t start = i;
        while (i < size && text [i] >= '0' && text [i] <= '9')
            i++;
        if (group_count < 64)
            groups [group_count] = i - start;
        else
            overflow = true;
        group_count++;
        if (i + 1 < size && (text [i] == '.' || text [i] == ',')
        &&  text [i + 1] >= '0' && text [i + 1] <= '9') {
            if (group_count - 1 < 64)
                seps [group_count - 1] = (char) text [i];
            i++;
            continue;
        }
        break;
    }
    *end = i;
    size_t next_length;
    if (overflow || (i < size && s_is_word (s_decode (text, i, size, &next_length))))
        return false;
    size_t separators = group_count - 1;
    size_t dots = 0, commas = 0;
    for (size_t k = 0; k < separators; k++) {
        if (seps [k] == '.')
            dots++;
        else
            commas++;
    }
    //  Which separator is the decimal mark, if any.
    size_t integer_groups = group_count;        // groups before the decimal mark
    if (commas > 1 || (commas == 1 && seps [separators - 1] != ','))
        return false;
    if (commas == 1)
        integer_groups = group_count - 1;
    else
    if (dots == 1 && groups [1] != 3)
        integer_groups = 1;                     // "3.5": dot decimal
    //  Thousands groups: 1-3 digits, then exactly 3 each.
    if (integer_groups > 1) {
        if (groups [0] > 3)
            return false;
        for (size_t k = 1; k < integer_groups; k++)
            if (groups [k] != 3)
                return false;
    }
    double number = 0;
    size_t group = 0;
    double scale = 0.1;
    *digits = 0;
    for (size_t k = at; k < i; k++) {
        if (text [k] == '.' || text [k] == ',') {
            group++;
            continue;
        }
        if (group < integer_groups) {
            number = number * 10 + (text [k] - '0');
            (*digits)++;
        }
        else {
            number += (text [k] - '0') * scale;
            scale /= 10;
        }
    }
    *value = number;
    *plain_integer = separators == 0;
    return true;
}

//  Currency multiplier words after a number ("1.200 millones de pesos").
typedef struct {
    const char *word;
    double factor;
} s_multiplier_t;

static const s_multiplier_t s_multipliers [] = {
    { "mil millones", 1e9 }, { "miles de millones", 1e9 },
    { "millones", 1e6 }, { "millón", 1e6 }, { "millon", 1e6 },
    { "billones", 1e12 }, { "billón", 1e12 }, { "billon", 1e12 },
    { "mil", 1e3 },
};

//  After a number at text[at]: a Colombian currency unit? Matches
//  [multiplier] [de] (pesos | COP). Returns bytes consumed (0 = none) and
//  the multiplier; with `signed_amount` (a "$" before the number) the
//  multiplier alone is enough ("$ 1.200 millones").
static size_t
s_currency_after (const unsigned char *text, size_t at, size_t size, bool signed_amount,
                  double *factor)
{
    *factor = 1;
    size_t i = at + s_skip_spaces (text, at, size, 2);
    size_t length = 0;
    double multiplier = 1;
    for (size_t m = 0; m < sizeof s_multipliers / sizeof s_multipliers [0] && !length; m++)
        if ((length = s_word_at (text, i, size, s_multipliers [m].word)))
            multiplier = s_multipliers [m].factor;
    size_t after_multiplier = length? i + length: at;
    size_t j = length? after_multiplier + s_skip_spaces (text, after_multiplier, size, 2): i;
    size_t de = s_word_at (text, j, size, "de");
    size_t k = de? j + de + s_skip_spaces (text, j + de, size, 2): j;
    size_t unit = s_word_at (text, k, size, "pesos");
    if (!unit && k + 3 <= size && memcmp (text + k, "COP", 3) == 0
    &&  s_word_at (text, k, size, "cop"))
        unit = 3;
    if (unit && (length || !de)) {
        *factor = multiplier;
        return k + unit - at;
    }
    if (length && signed_amount) {
        *factor = multiplier;
        return after_multiplier - at;
    }
    return 0;
}

static int
s_extract_parse (const json_t *params, const fac_contract_t *contract, long long *max_samples,
                 const char **as_elements, char *err, size_t err_size)
{
    static const char *const known [] = { "max_samples", "as_elements", NULL };
    if (fac_methods_check_keys (params, "text.extract_numbers", known, err, err_size)
    ||  fac_methods_get_int (params, "max_samples", 0, S_QUOTE_MAX, FAC_EVIDENCE_MATCHES_DEFAULT,
                             max_samples, err, err_size))
        return -1;
    for (int c = 0; c < S_CATEGORY_COUNT; c++)
        as_elements [c] = NULL;
    json_t *map = json_object_get (params, "as_elements");
    if (!map)
        return 0;
    if (!json_is_object (map))
        return fac_methods_errf (err, err_size, "params.as_elements: must be an object "
                                 "{\"<category>\": \"<expected element type>\"}");
    const char *category;
    json_t *type;
    json_object_foreach (map, category, type) {
        int c = 0;
        while (c < S_CATEGORY_COUNT && strcmp (s_category_names [c], category))
            c++;
        if (c == S_CATEGORY_COUNT)
            return fac_methods_errf (err, err_size, "params.as_elements.%s: unknown category "
                                     "(numbers, percentages, currency, years)", category);
        if (!json_is_string (type))
            return fac_methods_errf (err, err_size, "params.as_elements.%s: must be an element type "
                                     "(a string)", category);
        if (!fac_methods_expected (contract, json_string_value (type)))
            return fac_methods_errf (err, err_size, "params.as_elements.%s: \"%s\" is not an expected "
                                     "element of this contract", category, json_string_value (type));
        as_elements [c] = json_string_value (type);
    }
    return 0;
}

int
fac_methods_extract_numbers_check (const json_t *params, const fac_contract_t *contract,
                                   const fac_method_env_t *env, char *err, size_t err_size)
{
    long long max_samples;
    const char *as_elements [S_CATEGORY_COUNT];
    return s_extract_parse (params, contract, &max_samples, as_elements, err, err_size);
}

static void
s_found_add (s_found_t *found, size_t cap, size_t offset, size_t length, double value)
{
    found->count++;
    if (found->sample_count < cap) {
        s_token_t *token = &found->samples [found->sample_count++];
        token->offset = offset;
        token->length = length;
        token->value = value;
    }
}

//  Scans the text once; every number is counted in "numbers" and at most
//  one of percentages, currency, years.
static void
s_extract_scan (const unsigned char *text, size_t size, size_t cap, s_found_t *found)
{
    size_t at = 0;
    while (at < size) {
        unsigned char byte = text [at];
        if (byte < '0' || byte > '9') {
            at++;
            continue;
        }
        size_t end;
        double value;
        bool plain;
        size_t digits;
        bool word_before = s_is_word (s_decode_before (text, at, size));
        if (word_before || !s_number_at (text, at, size, &end, &value, &plain, &digits)) {
            //  Skip the whole run so no number starts inside it.
            if (word_before) {
                end = at;
                while (end < size && ((text [end] >= '0' && text [end] <= '9')
                       || ((text [end] == '.' || text [end] == ',') && end + 1 < size
                           && text [end + 1] >= '0' && text [end + 1] <= '9')))
                    end++;
            }
            at = end > at? end: at + 1;
            continue;
        }
        s_found_add (&found [S_NUMBERS], cap, at, end - at, value);
        //  "$ 1.234" / "COP 1.234" before it (not "US$").
        size_t start = at;
        bool signed_amount = false;
        size_t back = at;
        while (back > 0 && (text [back - 1] == ' ' || text [back - 1] == '\t'
                            || (back >= 2 && text [back - 2] == 0xC2 && text [back - 1] == 0xA0))
               && at - back < 4)
            back -= text [back - 1] == 0xA0? 2: 1;
        if (back > 0 && text [back - 1] == '$'
        &&  !(back >= 3 && (text [back - 2] == 'S' || text [back - 2] == 's')
              && (text [back - 3] == 'U' || text [back - 3] == 'u'))) {
            signed_amount = true;
            start = back - 1;
        }
        else
        if (back >= 3 && memcmp (text + back - 3, "COP", 3) == 0 && back < at
        &&  !s_is_word (s_decode_before (text, back - 3, size))) {
            signed_amount = true;
            start = back - 3;
        }
        size_t spaces = s_skip_spaces (text, end, size, 1);
        double factor;
        size_t unit;
        if (end + spaces < size && text [end + spaces] == '%')
            s_found_add (&found [S_PERCENTAGES], cap, at, end + spaces + 1 - at, value);
        else
        if ((unit = s_word_at (text, end + s_skip_spaces (text, end, size, 2), size, "por ciento")))
            s_found_add (&found [S_PERCENTAGES], cap, at,
                         end + s_skip_spaces (text, end, size, 2) + unit - at, value);
        else
        if ((unit = s_currency_after (text, end, size, signed_amount, &factor)) || signed_amount)
            s_found_add (&found [S_CURRENCY], cap, start, end + unit - start, value * factor);
        else
        if (plain && digits == 4 && value >= 1900 && value <= 2099)
            s_found_add (&found [S_YEARS], cap, at, end - at, value);
        at = end;
    }
}

//  Adds the category's samples to an element's evidence (see as_elements
//  in proto/methods.md): count += found; matches merged in document order,
//  as many kept as the longer of the two lists.
static int
s_evidence_add (fac_evidence_t *evidence, const s_found_t *found)
{
    evidence->count = s_saturate ((uint64_t) evidence->count + found->count);
    size_t keep = evidence->match_count > found->sample_count
                ? evidence->match_count: found->sample_count;
    if (keep == 0)
        return 0;
    fac_match_t *merged = (fac_match_t *) calloc (keep, sizeof (fac_match_t));
    if (!merged)
        return -1;
    size_t a = 0, b = 0, n = 0;
    while (n < keep && (a < evidence->match_count || b < found->sample_count)) {
        bool take_found = a >= evidence->match_count
                       || (b < found->sample_count
                           && found->samples [b].offset < evidence->matches [a].offset);
        if (take_found) {
            //  A pattern already quoted this offset: keep one quote.
            if (a < evidence->match_count && evidence->matches [a].offset == found->samples [b].offset) {
                b++;
                continue;
            }
            merged [n].offset = found->samples [b].offset;
            merged [n].length = s_saturate (found->samples [b].length);
            merged [n].pattern = FAC_MATCH_EXTRACTED;
            n++;
            b++;
        }
        else {
            if (b < found->sample_count && evidence->matches [a].offset == found->samples [b].offset)
                b++;
            merged [n++] = evidence->matches [a++];
        }
    }
    free (evidence->matches);
    evidence->matches = merged;
    evidence->match_count = (uint32_t) n;
    return 0;
}

int
fac_methods_extract_numbers_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "text.extract_numbers";
    const fac_contract_t *contract = ctx->compiled->contract;
    long long max_samples;
    const char *as_elements [S_CATEGORY_COUNT];
    char reason [200];
    if (s_extract_parse (params, contract, &max_samples, as_elements, reason, sizeof reason))
        return fac_methods_fail (ctx, method, "%s", reason);
    if (!ctx->text)
        return fac_methods_fail (ctx, method, "no document (the contract must set inputs.document)");
    int rc = -1;
    s_found_t found [S_CATEGORY_COUNT];
    memset (found, 0, sizeof found);
    for (int c = 0; c < S_CATEGORY_COUNT; c++)
        if (max_samples > 0
        &&  !(found [c].samples = (s_token_t *) calloc ((size_t) max_samples, sizeof (s_token_t)))) {
            fac_methods_fail (ctx, method, "out of memory");
            goto done;
        }
    s_extract_scan ((const unsigned char *) ctx->text, ctx->text_size, (size_t) max_samples, found);

    for (int c = 0; c < S_CATEGORY_COUNT; c++) {
        if (!as_elements [c])
            continue;
        if (fac_methods_evidence_ensure (ctx, method))
            goto done;
        fac_evidence_t *evidence = fac_methods_evidence_find (ctx, as_elements [c]);
        if (!evidence) {
            fac_methods_fail (ctx, method, "as_elements.%s: no evidence entry for %s",
                              s_category_names [c], as_elements [c]);
            goto done;
        }
        if (s_evidence_add (evidence, &found [c])) {
            fac_methods_fail (ctx, method, "out of memory");
            goto done;
        }
    }
    json_t *counts = json_object ();
    json_t *samples = json_object ();
    for (int c = 0; c < S_CATEGORY_COUNT; c++) {
        if (counts)
            json_object_set_new (counts, s_category_names [c], json_integer ((json_int_t) found [c].count));
        json_t *list = json_array ();
        for (size_t s = 0; list && s < found [c].sample_count; s++) {
            const s_token_t *token = &found [c].samples [s];
            size_t quoted = ff_utf8_prefix (ctx->text + token->offset, token->length,
                                            FAC_EVIDENCE_SNIPPET_MAX);
            json_array_append_new (list, json_pack ("{s:I, s:I, s:s%, s:f}",
                "offset", (json_int_t) token->offset,
                "length", (json_int_t) token->length,
                "text", ctx->text + token->offset, quoted,
                "value", token->value));
        }
        if (samples && list)
            json_object_set_new (samples, s_category_names [c], list);
        else
            json_decref (list);
    }
    json_t *output = json_pack ("{s:o*, s:o*}", "counts", counts, "samples", samples);
    rc = fac_methods_output_set (ctx, method, output);
done:
    for (int c = 0; c < S_CATEGORY_COUNT; c++)
        free (found [c].samples);
    return rc;
}

//  ---------------------------------------------------------------------
//  text.keyword_density

static int
s_keyword_parse (const json_t *params, bool *whole_words, char *err, size_t err_size)
{
    static const char *const known [] = { "keywords", "whole_words", NULL };
    if (fac_methods_check_keys (params, "text.keyword_density", known, err, err_size))
        return -1;
    json_t *keywords = json_object_get (params, "keywords");
    size_t count = json_array_size (keywords);
    if (!json_is_array (keywords) || count == 0 || count > S_KEYWORDS_MAX)
        return fac_methods_errf (err, err_size, "params.keywords: must be an array of 1..%d strings",
                                 S_KEYWORDS_MAX);
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (keywords, i);
        if (!json_is_string (item) || json_string_length (item) == 0
        ||  json_string_length (item) > S_KEYWORD_BYTES_MAX
        ||  strlen (json_string_value (item)) != json_string_length (item))
            return fac_methods_errf (err, err_size, "params.keywords[%zu]: must be a non-empty string "
                                     "of at most %d bytes without NUL", i, S_KEYWORD_BYTES_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp (json_string_value (json_array_get (keywords, j)), json_string_value (item)) == 0)
                return fac_methods_errf (err, err_size, "params.keywords[%zu]: \"%s\" repeats "
                                         "keywords[%zu]", i, json_string_value (item), j);
    }
    json_t *whole = json_object_get (params, "whole_words");
    if (whole && !json_is_boolean (whole))
        return fac_methods_errf (err, err_size, "params.whole_words: must be true or false");
    *whole_words = whole? json_is_true (whole): true;
    return 0;
}

int
fac_methods_keyword_density_check (const json_t *params, const fac_contract_t *contract,
                                   const fac_method_env_t *env, char *err, size_t err_size)
{
    bool whole_words;
    return s_keyword_parse (params, &whole_words, err, err_size);
}

//  Compiles a regex for the counting (UTF, UCP, optionally caseless, JIT
//  when available). NULL when PCRE2 refuses it.
static pcre2_code *
s_regex (const char *source, size_t length, bool caseless)
{
    int error_code;
    PCRE2_SIZE error_offset;
    pcre2_code *code = pcre2_compile ((PCRE2_SPTR) source, length,
                                      PCRE2_UTF | PCRE2_UCP | (caseless? PCRE2_CASELESS: 0),
                                      &error_code, &error_offset, NULL);
    if (code)
        pcre2_jit_compile (code, PCRE2_JIT_COMPLETE);
    return code;
}

//  Matches of code over the text, re.finditer style. -1 with err.
static int64_t
s_count_matches (const pcre2_code *code, const char *text, size_t size,
                 pcre2_match_data *match_data, char *err, size_t err_size)
{
    s_cursor_t cursor;
    s_cursor_init (&cursor, code, 0);
    while (!cursor.done)
        if (s_cursor_next (&cursor, (PCRE2_SPTR) text, size, match_data, err, err_size))
            return -1;
    return (int64_t) cursor.count;
}

int
fac_methods_keyword_density_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "text.keyword_density";
    bool whole_words;
    char reason [200];
    if (s_keyword_parse (params, &whole_words, reason, sizeof reason))
        return fac_methods_fail (ctx, method, "%s", reason);
    if (!ctx->text)
        return fac_methods_fail (ctx, method, "no document (the contract must set inputs.document)");
    int rc = -1;
    pcre2_match_data *match_data = pcre2_match_data_create (1, NULL);
    pcre2_code *words_code = s_regex ("\\w+", 3, false);
    json_t *per_keyword = json_array ();
    //  Escaped keyword: every ASCII non-alphanumeric gets a backslash
    //  (always a literal in PCRE2), 2 bytes per byte at most, plus the
    //  lookarounds.
    char *source = (char *) malloc (2 * S_KEYWORD_BYTES_MAX + 32);
    if (!match_data || !words_code || !per_keyword || !source) {
        fac_methods_fail (ctx, method, "out of memory");
        goto done;
    }
    int64_t words = s_count_matches (words_code, ctx->text, ctx->text_size, match_data,
                                     reason, sizeof reason);
    if (words < 0) {
        fac_methods_fail (ctx, method, "counting words: %s", reason);
        goto done;
    }
    json_t *keywords = json_object_get (params, "keywords");
    uint64_t total = 0;
    for (size_t i = 0; i < json_array_size (keywords); i++) {
        const char *keyword = json_string_value (json_array_get (keywords, i));
        size_t length = 0;
        if (whole_words)
            length += (size_t) sprintf (source, "(?<!\\w)");
        for (const char *c = keyword; *c; c++) {
            unsigned char byte = (unsigned char) *c;
            if (byte < 0x80 && !((byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z')
                                 || (byte >= 'A' && byte <= 'Z')))
                source [length++] = '\\';
            source [length++] = *c;
        }
        if (whole_words)
            length += (size_t) sprintf (source + length, "(?!\\w)");
        pcre2_code *code = s_regex (source, length, true);
        if (!code) {
            fac_methods_fail (ctx, method, "keywords[%zu]: cannot compile \"%s\"", i, keyword);
            goto done;
        }
        int64_t count = s_count_matches (code, ctx->text, ctx->text_size, match_data,
                                         reason, sizeof reason);
        pcre2_code_free (code);
        if (count < 0) {
            fac_methods_fail (ctx, method, "keywords[%zu]: %s", i, reason);
            goto done;
        }
        total += (uint64_t) count;
        json_array_append_new (per_keyword, json_pack ("{s:s, s:I, s:f}", "keyword", keyword,
            "count", (json_int_t) count,
            "density_per_1000", words? (double) count * 1000.0 / (double) words: 0.0));
    }
    json_t *output = json_pack ("{s:I, s:I, s:f, s:b, s:O}",
                                "words", (json_int_t) words,
                                "occurrences", (json_int_t) total,
                                "density_per_1000", words? (double) total * 1000.0 / (double) words: 0.0,
                                "whole_words", whole_words,
                                "keywords", per_keyword);
    rc = fac_methods_output_set (ctx, method, output);
done:
    free (source);
    json_decref (per_keyword);
    pcre2_code_free (words_code);
    pcre2_match_data_free (match_data);
    return rc;
}
