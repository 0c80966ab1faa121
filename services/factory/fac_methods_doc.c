/*  fac_methods_doc — the methods that read the shape of the whole
    document: text.profile (P00: is this a text we can analyse?) and
    text.sections (P01: headings, sections and chunks of a plan as
    `pdftotext -layout` extracts it), plus the accent folding that
    recommend.rules shares. Semantics: proto/methods.md.

    Neither method rewrites the document: every offset either reports is
    a byte offset into the text as submitted. */
#include "fac_methods.h"
#include "ff_utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The methods' entry points (registered in fac_method.c).
fac_method_check_fn fac_methods_profile_check;
fac_method_run_fn   fac_methods_profile_run;
fac_method_check_fn fac_methods_sections_check;
fac_method_run_fn   fac_methods_sections_run;

//  ---------------------------------------------------------------------
//  Bytes and characters

//  Second byte of a two-byte sequence C3 xx (U+00C0..U+00FF) folded to an
//  ASCII letter, or 0 when it has no plain-letter base (Æ, Ð, ×, Þ, ß, ...).
static const char s_latin1_base [64] = {
    'a', 'a', 'a', 'a', 'a', 'a', 0, 'c', 'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i',   // C0..CF
    0, 'n', 'o', 'o', 'o', 'o', 'o', 0, 'o', 'u', 'u', 'u', 'u', 'y', 0, 0,         // D0..DF
    'a', 'a', 'a', 'a', 'a', 'a', 0, 'c', 'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i',   // E0..EF
    0, 'n', 'o', 'o', 'o', 'o', 'o', 0, 'o', 'u', 'u', 'u', 'u', 'y', 0, 'y',       // F0..FF
};

size_t
fac_text_fold (const char *text, size_t size, char *out)
{
    const unsigned char *in = (const unsigned char *) text;
    size_t used = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char byte = in [i];
        if (byte >= 'A' && byte <= 'Z')
            out [used++] = (char) (byte + 32);
        else
        if (byte == 0xC3 && i + 1 < size && in [i + 1] >= 0x80 && in [i + 1] <= 0xBF) {
            unsigned char next = in [++i];
            char base = s_latin1_base [next - 0x80];
            if (base)
                out [used++] = base;
            else {
                //  Kept, lower-cased where it has a lower case (Æ -> æ).
                out [used++] = (char) 0xC3;
                out [used++] = (char) (next >= 0x80 && next <= 0x9E && next != 0x97? next + 32: next);
            }
        }
        else
            out [used++] = (char) byte;
    }
    return used;
}

//  The code point starting at text[at] (valid UTF-8); *length its bytes.
static uint32_t
s_decode (const unsigned char *text, size_t at, size_t size, size_t *length)
{
    unsigned char byte = text [at];
    size_t need = byte < 0x80? 1: byte < 0xE0? 2: byte < 0xF0? 3: 4;
    if (at + need > size)
        need = 1;
    uint32_t cp = need == 1? byte: need == 2? byte & 0x1Fu: need == 3? byte & 0x0Fu: byte & 0x07u;
    for (size_t i = 1; i < need; i++)
        cp = (cp << 6) | (text [at + i] & 0x3Fu);
    *length = need;
    return cp;
}

//  Word characters: ASCII letters, digits and '_'; in Latin-1 the letters
//  (and ª µ º, the superscripts ² ³ ¹ and the fractions ¼ ½ ¾, which are
//  Unicode numbers); beyond Latin-1 every code point but general
//  punctuation and spaces, currency signs, arrows and symbols
//  (U+2000..U+2BFF) and U+3000. As Unicode \w for every character a
//  Spanish plan uses.
static bool
s_is_word (uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')
            || cp == '_';
    if (cp <= 0xBF)
        return cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA
            || (cp >= 0xBC && cp <= 0xBE);
    if (cp <= 0xFF)
        return cp != 0xD7 && cp != 0xF7;
    if ((cp >= 0x2000 && cp <= 0x2BFF) || cp == 0x3000 || cp == 0xFFFD)
        return false;
    return true;
}

//  Horizontal space: space, tab, vertical tab, CR, U+00A0. Returns its
//  bytes at s[at] (0 when none).
static size_t
s_hspace (const unsigned char *s, size_t at, size_t size)
{
    unsigned char byte = s [at];
    if (byte == ' ' || byte == '\t' || byte == '\v' || byte == '\r')
        return 1;
    if (byte == 0xC2 && at + 1 < size && s [at + 1] == 0xA0)
        return 2;
    return 0;
}

//  ---------------------------------------------------------------------
//  text.profile

#define S_PROFILE_MIN_BYTES 1000
#define S_PROFILE_MIN_WORDS 200
#define S_PROFILE_SPANISH_MIN 0.15
#define S_PROFILE_LIMIT 1000000000LL
//  Longest stop word, bytes.
#define S_STOP_WORD_MAX 8

//  Common Spanish function words, sorted by bytes (strcmp): bsearch.
static const char *const s_stop_words [] = {
    "a", "al", "ante", "bajo", "cada", "como", "con", "cual", "cuales", "cuando", "de",
    "del", "desde", "donde", "durante", "e", "el", "ella", "ellos", "en", "entre", "es",
    "esa", "esas", "ese", "eso", "esos", "esta", "estas", "este", "esto", "estos", "está",
    "están", "fue", "ha", "han", "hasta", "hay", "la", "las", "le", "les", "lo", "los",
    "mediante", "muy", "más", "ni", "no", "nos", "o", "otra", "otras", "otro", "otros",
    "para", "pero", "por", "porque", "que", "se", "según", "ser", "si", "sin", "sobre",
    "son", "su", "sus", "también", "tanto", "todo", "todos", "tras", "u", "un", "una",
    "unas", "uno", "unos", "y", "ya",
};
#define S_STOP_WORD_COUNT (sizeof s_stop_words / sizeof s_stop_words [0])

typedef struct {
    long long min_bytes;
    long long min_words;
    double min_spanish_ratio;
} s_profile_t;

static int
s_profile_parse (const json_t *params, s_profile_t *cfg, char *err, size_t err_size)
{
    static const char *const known [] = { "min_bytes", "min_words", "min_spanish_ratio", NULL };
    if (fac_methods_check_keys (params, "text.profile", known, err, err_size)
    ||  fac_methods_get_int (params, "min_bytes", 0, S_PROFILE_LIMIT, S_PROFILE_MIN_BYTES,
                             &cfg->min_bytes, err, err_size)
    ||  fac_methods_get_int (params, "min_words", 0, S_PROFILE_LIMIT, S_PROFILE_MIN_WORDS,
                             &cfg->min_words, err, err_size)
    ||  fac_methods_get_number (params, "min_spanish_ratio", 0, 1, S_PROFILE_SPANISH_MIN,
                                &cfg->min_spanish_ratio, err, err_size))
        return -1;
    return 0;
}

int
fac_methods_profile_check (const json_t *params, const fac_contract_t *contract,
                           const fac_method_env_t *env, char *err, size_t err_size)
{
    s_profile_t cfg;
    return s_profile_parse (params, &cfg, err, err_size);
}

static int
s_compare_word (const void *key, const void *item)
{
    return strcmp ((const char *) key, *(const char *const *) item);
}

typedef struct {
    size_t lines, words, form_feeds, pages, digits, stop_words, replacement_chars;
} s_profile_counts_t;

static void
s_profile_scan (const unsigned char *text, size_t size, s_profile_counts_t *counts)
{
    memset (counts, 0, sizeof *counts);
    size_t last_form_feed = SIZE_MAX;
    size_t at = 0;
    while (at < size) {
        unsigned char byte = text [at];
        if (byte < 0x80 && !((byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z')
                             || (byte >= 'A' && byte <= 'Z') || byte == '_')) {
            if (byte == '\n')
                counts->lines++;
            else
            if (byte == '\f') {
                counts->form_feeds++;
                last_form_feed = at;
            }
            at++;
            continue;
        }
        size_t length;
        uint32_t cp = s_decode (text, at, size, &length);
        if (!s_is_word (cp)) {
            if (cp == 0xFFFD)
                counts->replacement_chars++;
            at += length;
            continue;
        }
        //  A word: to its end, lower-cased into a small buffer while it fits.
        char word [S_STOP_WORD_MAX + 1];
        size_t used = 0;
        bool fits = true;
        while (at < size) {
            cp = s_decode (text, at, size, &length);
            if (!s_is_word (cp))
                break;
            if (cp >= '0' && cp <= '9')
                counts->digits++;
            if (fits && used + length <= S_STOP_WORD_MAX) {
                for (size_t i = 0; i < length; i++)
                    word [used + i] = (char) text [at + i];
                if (cp >= 'A' && cp <= 'Z')
                    word [used] = (char) (cp + 32);
                else
                if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
                    word [used + 1] = (char) (text [at + 1] + 32);
                used += length;
            }
            else
                fits = false;
            at += length;
        }
        counts->words++;
        if (fits) {
            word [used] = '\0';
            if (bsearch (word, s_stop_words, S_STOP_WORD_COUNT, sizeof s_stop_words [0],
                         s_compare_word))
                counts->stop_words++;
        }
    }
    if (size > 0 && text [size - 1] != '\n')
        counts->lines++;
    //  Pages: what the form feeds separate, not counting an empty (blank)
    //  piece after the last one (pdftotext ends every page with one).
    if (size > 0) {
        counts->pages = counts->form_feeds + 1;
        if (last_form_feed != SIZE_MAX) {
            bool blank = true;
            for (size_t i = last_form_feed + 1; i < size && blank; i++)
                blank = text [i] == ' ' || text [i] == '\t' || text [i] == '\n' || text [i] == '\r';
            if (blank)
                counts->pages--;
        }
    }
}

int
fac_methods_profile_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "text.profile";
    s_profile_t cfg;
    char reason [200];
    if (s_profile_parse (params, &cfg, reason, sizeof reason))
        return fac_methods_fail (ctx, method, "%s", reason);
    if (!ctx->text)
        return fac_methods_fail (ctx, method, "no document (the contract must set inputs.document)");
    s_profile_counts_t counts;
    s_profile_scan ((const unsigned char *) ctx->text, ctx->text_size, &counts);
    double spanish = counts.words? (double) counts.stop_words / (double) counts.words: 0.0;

    json_t *warnings = json_array ();
    char line [200];
    if (warnings && counts.words && spanish < cfg.min_spanish_ratio) {
        snprintf (line, sizeof line, "the text does not look Spanish: %.1f%% of its words are "
                  "common Spanish words (expected at least %.1f%%)", 100.0 * spanish,
                  100.0 * cfg.min_spanish_ratio);
        json_array_append_new (warnings, json_string (line));
    }
    if (warnings && counts.replacement_chars) {
        snprintf (line, sizeof line, "%zu replacement characters (U+FFFD): the text extraction "
                  "lost characters", counts.replacement_chars);
        json_array_append_new (warnings, json_string (line));
    }
    if (warnings && ctx->text_size && counts.form_feeds == 0)
        json_array_append_new (warnings, json_string ("no page breaks (form feeds): the text is "
                                                      "counted as one page"));
    json_t *output = json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:o*, s:I, s:I}",
                                "bytes", (json_int_t) ctx->text_size,
                                "lines", (json_int_t) counts.lines,
                                "words", (json_int_t) counts.words,
                                "pages", (json_int_t) counts.pages,
                                "form_feeds", (json_int_t) counts.form_feeds,
                                "digits", (json_int_t) counts.digits,
                                "spanish_ratio", spanish,
                                "spanish_words", (json_int_t) counts.stop_words,
                                "replacement_chars", (json_int_t) counts.replacement_chars,
                                "warnings", warnings,
                                "min_bytes", (json_int_t) cfg.min_bytes,
                                "min_words", (json_int_t) cfg.min_words);
    //  The profile is kept even when the document is refused: it says why.
    if (fac_methods_output_set (ctx, method, output))
        return -1;
    if ((long long) ctx->text_size < cfg.min_bytes)
        return fac_methods_fail (ctx, method, "document too short: %zu bytes < %lld",
                                 ctx->text_size, cfg.min_bytes);
    if ((long long) counts.words < cfg.min_words)
        return fac_methods_fail (ctx, method, "document too short: %zu words < %lld",
                                 counts.words, cfg.min_words);
    ctx->ratio = 1.0;
    return 0;
}

//  ---------------------------------------------------------------------
//  text.sections

#define S_SECTIONS_MAX_DEFAULT 2000
#define S_SECTIONS_MAX 100000
#define S_CHUNK_DEFAULT 4000
#define S_CHUNK_MIN 200
#define S_CHUNK_MAX (16 * 1024 * 1024)
#define S_PATTERNS_MAX 64
#define S_PATTERN_BYTES_MAX 1000
#define S_LEVEL_MAX 9
//  Longest line (trimmed, bytes) the default rules read as a heading.
#define S_HEADING_LINE_MAX 200
//  Longest title, bytes (cut at a character boundary).
#define S_TITLE_MAX 200
//  Most lines one heading spans (a title broken over several lines).
#define S_HEADING_LINES_MAX 10
//  Lines of each page read for running headers (first) and footers (last).
#define S_RUNNING_HEAD 4
#define S_RUNNING_FOOT 3
//  Running lines listed in the output.
#define S_RUNNING_LISTED 20

typedef struct {
    pcre2_code **codes;         // one per heading pattern (owned); NULL = default rules
    int *levels;
    size_t count;
    long long max_sections;
    long long chunk_bytes;
} s_sections_t;

static void
s_sections_free (s_sections_t *cfg)
{
    for (size_t i = 0; cfg->codes && i < cfg->count; i++)
        pcre2_code_free (cfg->codes [i]);
    free (cfg->codes);
    free (cfg->levels);
    cfg->codes = NULL;
    cfg->levels = NULL;
    cfg->count = 0;
}

//  Parses (and compiles) the params; the caller frees with s_sections_free.
static int
s_sections_parse (const json_t *params, s_sections_t *cfg, char *err, size_t err_size)
{
    static const char *const known [] = { "heading_patterns", "max_sections", "chunk_bytes", NULL };
    memset (cfg, 0, sizeof *cfg);
    if (fac_methods_check_keys (params, "text.sections", known, err, err_size)
    ||  fac_methods_get_int (params, "max_sections", 1, S_SECTIONS_MAX, S_SECTIONS_MAX_DEFAULT,
                             &cfg->max_sections, err, err_size)
    ||  fac_methods_get_int (params, "chunk_bytes", S_CHUNK_MIN, S_CHUNK_MAX, S_CHUNK_DEFAULT,
                             &cfg->chunk_bytes, err, err_size))
        return -1;
    json_t *patterns = json_object_get (params, "heading_patterns");
    if (!patterns)
        return 0;
    size_t count = json_array_size (patterns);
    if (!json_is_array (patterns) || count == 0 || count > S_PATTERNS_MAX)
        return fac_methods_errf (err, err_size, "params.heading_patterns: must be an array of 1..%d "
                                 "{\"regex\": string, \"level\": 1..%d}", S_PATTERNS_MAX, S_LEVEL_MAX);
    cfg->codes = (pcre2_code **) calloc (count, sizeof (pcre2_code *));
    cfg->levels = (int *) calloc (count, sizeof (int));
    if (!cfg->codes || !cfg->levels)
        return fac_methods_errf (err, err_size, "text.sections: out of memory");
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (patterns, i);
        if (!json_is_object (item))
            return fac_methods_errf (err, err_size, "params.heading_patterns[%zu]: must be an object "
                                     "{\"regex\": string, \"level\": 1..%d}", i, S_LEVEL_MAX);
        const char *key;
        json_t *value;
        json_object_foreach (item, key, value)
            if (strcmp (key, "regex") && strcmp (key, "level"))
                return fac_methods_errf (err, err_size, "params.heading_patterns[%zu].%s: unknown key "
                                         "(regex, level)", i, key);
        json_t *regex = json_object_get (item, "regex");
        if (!json_is_string (regex) || json_string_length (regex) == 0
        ||  json_string_length (regex) > S_PATTERN_BYTES_MAX
        ||  strlen (json_string_value (regex)) != json_string_length (regex))
            return fac_methods_errf (err, err_size, "params.heading_patterns[%zu].regex: must be a "
                                     "non-empty string of at most %d bytes without NUL", i,
                                     S_PATTERN_BYTES_MAX);
        json_t *level = json_object_get (item, "level");
        if (!json_is_integer (level) || json_integer_value (level) < 1
        ||  json_integer_value (level) > S_LEVEL_MAX)
            return fac_methods_errf (err, err_size, "params.heading_patterns[%zu].level: must be an "
                                     "integer in 1..%d", i, S_LEVEL_MAX);
        int code;
        PCRE2_SIZE offset;
        cfg->codes [i] = pcre2_compile ((PCRE2_SPTR) json_string_value (regex),
                                        json_string_length (regex), PCRE2_UTF | PCRE2_UCP,
                                        &code, &offset, NULL);
        if (!cfg->codes [i]) {
            PCRE2_UCHAR message [160];
            pcre2_get_error_message (code, message, sizeof message);
            return fac_methods_errf (err, err_size, "params.heading_patterns[%zu].regex: %s at "
                                     "offset %zu", i, (const char *) message, (size_t) offset);
        }
        pcre2_jit_compile (cfg->codes [i], PCRE2_JIT_COMPLETE);
        cfg->levels [i] = (int) json_integer_value (level);
        cfg->count++;
    }
    return 0;
}

int
fac_methods_sections_check (const json_t *params, const fac_contract_t *contract,
                            const fac_method_env_t *env, char *err, size_t err_size)
{
    s_sections_t cfg;
    int rc = s_sections_parse (params, &cfg, err, err_size);
    s_sections_free (&cfg);
    return rc;
}

//  One line of the text, ended by '\n' or '\f' (a form feed also starts a
//  new page), without its terminator.
typedef struct {
    size_t start, end;          // bytes of the line
    size_t first, last;         // trimmed of horizontal space: [first, last)
    uint32_t page;              // 1-based
    bool running;               // a running header or footer
} s_line_t;

typedef struct {
    size_t form_feeds;
    size_t hyphenated_breaks;
    size_t whitespace_runs;
    size_t control_chars;
} s_normalization_t;

//  Splits the text into lines and counts what a normaliser would change.
//  Returns the line array (caller frees) and *count; NULL when out of memory.
static s_line_t *
s_lines_scan (const unsigned char *text, size_t size, size_t *count, s_normalization_t *norm)
{
    memset (norm, 0, sizeof *norm);
    size_t capacity = 1;
    for (size_t i = 0; i < size; i++)
        capacity += text [i] == '\n' || text [i] == '\f';
    s_line_t *lines = (s_line_t *) calloc (capacity, sizeof (s_line_t));
    if (!lines)
        return NULL;
    size_t used = 0;
    uint32_t page = 1;
    size_t start = 0;
    size_t space_run = 0;
    for (size_t at = 0; at <= size; at++) {
        unsigned char byte = at < size? text [at]: '\n';
        //  Runs of 2+ horizontal spaces (space, tab, U+00A0).
        size_t space = at < size? s_hspace (text, at, size): 0;
        if (space && byte != '\r' && byte != '\v') {
            space_run++;
            if (space_run == 2)
                norm->whitespace_runs++;
            at += space - 1;
            continue;
        }
        space_run = 0;
        if (at < size) {
            if (byte == '\f')
                norm->form_feeds++;
            else
            if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7F
            ||  (byte == 0xC2 && at + 1 < size && text [at + 1] >= 0x80 && text [at + 1] <= 0x9F))
                norm->control_chars++;
            //  "desarro-\n  llo": a letter, '-', the line's end, a lower-case letter.
            if (byte == '-' && at > 0 && at + 1 < size && text [at + 1] == '\n') {
                size_t before;
                uint32_t previous = 0;
                size_t back = at - 1;
                while (back > 0 && (text [back] & 0xC0) == 0x80)
                    back--;
                previous = s_decode (text, back, size, &before);
                size_t next = at + 2;
                while (next < size && (text [next] == ' ' || text [next] == '\t' || text [next] == '\f'))
                    next++;
                bool lower = next < size && ((text [next] >= 'a' && text [next] <= 'z')
                             || (text [next] == 0xC3 && next + 1 < size && text [next + 1] >= 0x9F));
                if (s_is_word (previous) && !(previous >= '0' && previous <= '9') && lower)
                    norm->hyphenated_breaks++;
            }
        }
        if (byte != '\n' && byte != '\f')
            continue;
        s_line_t *line = &lines [used++];
        line->start = start;
        line->end = at < size? at: size;
        line->page = page;
        line->first = line->start;
        size_t width;
        while (line->first < line->end && (width = s_hspace (text, line->first, line->end)))
            line->first += width;
        line->last = line->end;
        while (line->last > line->first) {
            if (text [line->last - 1] == ' ' || text [line->last - 1] == '\t'
            ||  text [line->last - 1] == '\r' || text [line->last - 1] == '\v')
                line->last--;
            else
            if (line->last - line->first >= 2 && text [line->last - 2] == 0xC2
            &&  text [line->last - 1] == 0xA0)
                line->last -= 2;
            else
                break;
        }
        if (at < size && byte == '\f')
            page++;
        start = at + 1;
    }
    *count = used;
    return lines;
}

static uint64_t
s_hash (const unsigned char *s, size_t n)
{
    uint64_t hash = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        hash ^= s [i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

//  A trimmed line seen in a page's head or foot.
typedef struct {
    uint64_t hash;
    size_t line;                // index into the lines
    uint32_t page;
} s_edge_t;

//  Orders edges by text (hash, length, bytes).
static int
s_compare_edge_text (const s_edge_t *x, const s_edge_t *y, const unsigned char *text,
                     const s_line_t *lines)
{
    if (x->hash != y->hash)
        return x->hash < y->hash? -1: 1;
    const s_line_t *a = &lines [x->line], *b = &lines [y->line];
    size_t na = a->last - a->first, nb = b->last - b->first;
    if (na != nb)
        return na < nb? -1: 1;
    return memcmp (text + a->first, text + b->first, na);
}

typedef struct {
    s_edge_t edge;
    const unsigned char *text;
    const s_line_t *lines;
} s_edge_sort_t;

static int
s_compare_edges (const void *a, const void *b)
{
    const s_edge_sort_t *x = (const s_edge_sort_t *) a, *y = (const s_edge_sort_t *) b;
    int order = s_compare_edge_text (&x->edge, &y->edge, x->text, x->lines);
    if (order)
        return order;
    return x->edge.page < y->edge.page? -1: x->edge.page > y->edge.page? 1: 0;
}

//  Marks the running headers and footers: a trimmed line among the first
//  S_RUNNING_HEAD or last S_RUNNING_FOOT non-blank lines of at least
//  max (3, pages / 5) pages (pages that have text) is running wherever it
//  occurs. Returns the number of distinct running lines, -1 when out of
//  memory. *listed gets up to S_RUNNING_LISTED of them (line indexes).
static long
s_running_mark (const unsigned char *text, s_line_t *lines, size_t line_count,
                size_t *listed, size_t *listed_count)
{
    *listed_count = 0;
    size_t capacity = 0;
    uint32_t pages = line_count? lines [line_count - 1].page: 0;
    capacity = (size_t) pages * (S_RUNNING_HEAD + S_RUNNING_FOOT);
    if (capacity == 0)
        return 0;
    s_edge_sort_t *edges = (s_edge_sort_t *) calloc (capacity, sizeof (s_edge_sort_t));
    if (!edges)
        return -1;
    size_t used = 0;
    size_t pages_with_text = 0;
    size_t i = 0;
    while (i < line_count) {
        size_t page_start = i;
        uint32_t page = lines [i].page;
        while (i < line_count && lines [i].page == page)
            i++;
        //  First and last non-blank lines of lines [page_start, i).
        size_t head = 0, foot = 0;
        for (size_t k = page_start; k < i && head < S_RUNNING_HEAD; k++)
            if (lines [k].last > lines [k].first) {
                edges [used++] = (s_edge_sort_t) { { s_hash (text + lines [k].first,
                    lines [k].last - lines [k].first), k, page }, text, lines };
                head++;
            }
        if (head)
            pages_with_text++;
        size_t k = i;
        while (k > page_start && foot < S_RUNNING_FOOT) {
            k--;
            if (lines [k].last <= lines [k].first)
                continue;
            //  Not again when the page is so short its head already has it.
            bool in_head = false;
            size_t seen = 0;
            for (size_t h = page_start; h < i && seen < S_RUNNING_HEAD && !in_head; h++)
                if (lines [h].last > lines [h].first) {
                    in_head = h == k;
                    seen++;
                }
            if (!in_head)
                edges [used++] = (s_edge_sort_t) { { s_hash (text + lines [k].first,
                    lines [k].last - lines [k].first), k, page }, text, lines };
            foot++;
        }
    }
    size_t threshold = pages_with_text / 5;
    if (threshold < 3)
        threshold = 3;
    qsort (edges, used, sizeof edges [0], s_compare_edges);
    //  Groups of the same text: distinct pages.
    s_edge_t *running = (s_edge_t *) calloc (used + 1, sizeof (s_edge_t));
    size_t running_count = 0;
    if (!running) {
        free (edges);
        return -1;
    }
    size_t g = 0;
    while (g < used) {
        size_t end = g + 1;
        size_t distinct = 1;
        while (end < used && s_compare_edge_text (&edges [g].edge, &edges [end].edge, text, lines) == 0) {
            if (edges [end].edge.page != edges [end - 1].edge.page)
                distinct++;
            end++;
        }
        if (distinct >= threshold)
            running [running_count++] = edges [g].edge;
        g = end;
    }
    free (edges);
    //  Every occurrence of a running text (running is sorted by hash).
    for (size_t l = 0; l < line_count && running_count; l++) {
        size_t n = lines [l].last - lines [l].first;
        if (n == 0)
            continue;
        uint64_t hash = s_hash (text + lines [l].first, n);
        for (size_t r = 0; r < running_count; r++) {
            const s_line_t *model = &lines [running [r].line];
            if (running [r].hash == hash && model->last - model->first == n
            &&  memcmp (text + model->first, text + lines [l].first, n) == 0) {
                lines [l].running = true;
                break;
            }
        }
    }
    for (size_t r = 0; r < running_count && *listed_count < S_RUNNING_LISTED; r++)
        listed [(*listed_count)++] = running [r].line;
    free (running);
    return (long) running_count;
}

//  A page number line: a digit, at most 24 bytes, and no letters but
//  those of "página", "pág.", "p.", "page", "de", "of".
static bool
s_is_page_number (const unsigned char *s, size_t n)
{
    if (n == 0 || n > 24)
        return false;
    char folded [32];
    size_t m = fac_text_fold ((const char *) s, n, folded);
    char letters [32];
    size_t count = 0;
    bool digit = false;
    for (size_t i = 0; i < m; i++) {
        char c = folded [i];
        if (c >= '0' && c <= '9')
            digit = true;
        else
        if (c >= 'a' && c <= 'z')
            letters [count++] = c;
        else
        if ((unsigned char) c >= 0x80)
            return false;
    }
    letters [count] = '\0';
    if (!digit)
        return false;
    static const char *const allowed [] = {
        "", "p", "pg", "pag", "pagina", "pagde", "paginade", "page", "pageof", "de", NULL
    };
    for (size_t i = 0; allowed [i]; i++)
        if (strcmp (letters, allowed [i]) == 0)
            return true;
    return false;
}

//  Words of the default rules: keywords that start a heading.
typedef enum {
    S_KEY_NUMBERED,             // any case, followed by a numeral: "Capítulo 2", "TITULO II"
    S_KEY_UPPER,                // written in upper case, or any case followed by a numeral
} s_key_form_t;

typedef struct {
    const char *folded;         // fac_text_fold form, words separated by one space
    int level;
    s_key_form_t form;
} s_key_t;

static const s_key_t s_keys [] = {
    { "titulo", 1, S_KEY_NUMBERED },
    { "capitulo", 1, S_KEY_NUMBERED },
    { "parte", 1, S_KEY_NUMBERED },
    { "articulo", 2, S_KEY_NUMBERED },
    { "linea estrategica", 2, S_KEY_UPPER },
    { "eje", 2, S_KEY_UPPER },
    { "dimension", 2, S_KEY_UPPER },
    { "pilar", 2, S_KEY_UPPER },
    { "programa", 3, S_KEY_UPPER },
    { "componente", 3, S_KEY_UPPER },
    { "diagnostico", 3, S_KEY_UPPER },
    { "subprograma", 4, S_KEY_UPPER },
};
#define S_KEY_COUNT (sizeof s_keys / sizeof s_keys [0])

//  Ordinals read as numerals ("CAPÍTULO PRIMERO", "PRIMERA PARTE").
static const char *const s_ordinals [] = {
    "primero", "segundo", "tercero", "cuarto", "quinto", "sexto", "septimo", "octavo",
    "noveno", "decimo", "unico", "primera", "segunda", "tercera", "cuarta", "quinta", "sexta",
    "septima", "octava", "novena", "decima", "unica", "preliminar", NULL
};

//  Single upper-case words that are headings by themselves.
static const char *const s_single_headings [] = {
    "acuerda", "anexos", "antecedentes", "bibliografia", "conclusiones", "considerando",
    "decreta", "diagnostico", "estrategias", "glosario", "indicadores", "introduccion",
    "justificacion", "metas", "metodologia", "mision", "objetivos", "presentacion",
    "programas", "resuelve", "vision", NULL
};

static bool
s_is_letter (char c)
{
    return (c >= 'a' && c <= 'z') || (unsigned char) c >= 0x80;
}

//  The folded word at f[at] equals one of list (whole word).
static bool
s_word_in (const char *f, size_t m, size_t at, const char *const *list, size_t *end)
{
    size_t stop = at;
    while (stop < m && s_is_letter (f [stop]))
        stop++;
    for (size_t i = 0; list [i]; i++)
        if (strlen (list [i]) == stop - at && memcmp (f + at, list [i], stop - at) == 0) {
            if (end)
                *end = stop;
            return true;
        }
    return false;
}

//  A numeral at folded f[at]: digits, a roman numeral (i v x l c d m) or
//  an ordinal word, ended by a non-letter.
static bool
s_numeral_at (const char *f, size_t m, size_t at)
{
    if (at >= m)
        return false;
    if (f [at] >= '0' && f [at] <= '9')
        return true;
    size_t stop = at;
    while (stop < m && strchr ("ivxlcdm", f [stop]) && f [stop])
        stop++;
    if (stop > at && stop - at <= 7 && (stop == m || !s_is_letter (f [stop])))
        return true;
    return s_word_in (f, m, at, s_ordinals, NULL);
}

static size_t
s_skip_blanks (const char *f, size_t m, size_t at)
{
    while (at < m && (f [at] == ' ' || f [at] == '\t'))
        at++;
    return at;
}

//  What the default rules see in a line.
typedef struct {
    int level;                  // 0 = not a heading
    bool upper_like;            // an upper-case line (may continue a heading's title)
    bool structural;            // a keyword, numbered or roman heading (never a continuation)
} s_verdict_t;

//  What the rules read of a line, in one pass.
typedef struct {
    size_t upper, lower;        // letters (ASCII and Latin-1) by case
    size_t digits;              // ASCII digits
    size_t nonspace;            // bytes other than space and tab
    size_t words;               // runs of non-space bytes
    bool space_run;             // 3+ horizontal spaces in a row: a table row
                                //   or a justified line in -layout output
    bool quoted;                // a quotation mark: " “ ” « »
} s_stats_t;

static void
s_stats (const unsigned char *s, size_t n, s_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    size_t run = 0;
    bool in_word = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char byte = s [i];
        size_t width = byte <= ' ' || byte == 0xC2? s_hspace (s, i, n): 0;
        if (width) {
            if (++run >= 3)
                stats->space_run = true;
            in_word = false;
            i += width - 1;
            continue;
        }
        run = 0;
        stats->nonspace++;
        if (!in_word)
            stats->words++;
        in_word = true;
        if (byte >= 'A' && byte <= 'Z')
            stats->upper++;
        else
        if (byte >= 'a' && byte <= 'z')
            stats->lower++;
        else
        if (byte >= '0' && byte <= '9')
            stats->digits++;
        else
        if (byte == '"')
            stats->quoted = true;
        else
        if (byte == 0xC3 && i + 1 < n) {
            unsigned char next = s [i + 1];
            if (next >= 0x80 && next <= 0x9E && next != 0x97)
                stats->upper++;
            else
            if (next >= 0x9F && next != 0xB7)
                stats->lower++;
        }
        else
        if ((byte == 0xE2 && i + 2 < n && s [i + 1] == 0x80 && (s [i + 2] == 0x9C || s [i + 2] == 0x9D))
        ||  (byte == 0xC2 && i + 1 < n && (s [i + 1] == 0xAB || s [i + 1] == 0xBB)))
            stats->quoted = true;
    }
}

static bool
s_mostly_upper (const s_stats_t *stats, double share)
{
    size_t letters = stats->upper + stats->lower;
    return letters > 0 && (double) stats->upper >= share * (double) letters;
}

//  True when s starts with an upper-case letter (ASCII or Latin-1).
static bool
s_starts_upper (const unsigned char *s, size_t n)
{
    if (n == 0)
        return false;
    if (s [0] >= 'A' && s [0] <= 'Z')
        return true;
    return n >= 2 && s [0] == 0xC3 && s [1] >= 0x80 && s [1] <= 0x9E && s [1] != 0x97;
}

//  "1.", "1.2", "1.2.3." then a space: section numbering (first part 1-3
//  digits, the others 1-2). *depth = parts; *end after the number and
//  its '.' or ')'; *closed when a '.' or ')' ends it.
static bool
s_section_number (const unsigned char *s, size_t n, size_t *depth, size_t *end, bool *closed)
{
    size_t i = 0, parts = 0;
    *closed = false;
    while (true) {
        size_t start = i;
        while (i < n && s [i] >= '0' && s [i] <= '9')
            i++;
        size_t digits = i - start;
        if (digits == 0 || digits > (parts? 2u: 3u))
            return false;
        parts++;
        if (i < n && s [i] == '.' && i + 1 < n && s [i + 1] >= '0' && s [i + 1] <= '9') {
            i++;
            continue;
        }
        break;
    }
    if (i < n && (s [i] == '.' || s [i] == ')')) {
        *closed = true;
        i++;
    }
    if (i >= n || (s [i] != ' ' && s [i] != '\t'))
        return false;
    *depth = parts;
    *end = i;
    return parts <= 6;
}

//  A roman numeral in upper case then '.', ')' or " -", then a space.
static bool
s_roman_number (const unsigned char *s, size_t n, size_t *end)
{
    size_t i = 0;
    while (i < n && s [i] && strchr ("IVXLC", s [i]))
        i++;
    if (i == 0 || i > 7 || i >= n)
        return false;
    if (s [i] == '.' || s [i] == ')')
        i++;
    else
    if (s [i] == ' ' && i + 1 < n && s [i + 1] == '-')
        i += 2;
    else
        return false;
    if (i >= n || s [i] != ' ')
        return false;
    *end = i;
    return true;
}

//  Words that cannot end a heading: a title that ends with one is cut
//  (a table cell, a line broken mid-phrase).
static const char *const s_connectors [] = {
    "a", "al", "con", "de", "del", "e", "el", "en", "la", "las", "lo", "los", "o", "para",
    "por", "que", "sobre", "u", "un", "una", "y", NULL
};

//  True when the folded text f[0..m) ends with a connector word.
static bool
s_ends_with_connector (const char *f, size_t m)
{
    while (m > 0 && (f [m - 1] == ' ' || f [m - 1] == ','))
        m--;
    size_t start = m;
    while (start > 0 && s_is_letter (f [start - 1]))
        start--;
    if (start == m)
        return false;
    return s_word_in (f, m, start, s_connectors, NULL);
}

//  Bytes of a line folded for the keyword rules (the longest keyword and
//  its numeral fit).
#define S_FOLD_PREFIX 48

//  The default rules (proto/methods.md, text.sections) on one trimmed
//  line, which must start with a digit or an upper-case letter.
static s_verdict_t
s_default_rules (const unsigned char *s, size_t n)
{
    s_verdict_t verdict = { 0, false, false };
    if (n == 0 || n > S_HEADING_LINE_MAX || !((s [0] >= '0' && s [0] <= '9') || s_starts_upper (s, n)))
        return verdict;
    s_stats_t stats;
    s_stats (s, n, &stats);
    char f [S_FOLD_PREFIX + 1];
    size_t m = fac_text_fold ((const char *) s, n < S_FOLD_PREFIX? n: S_FOLD_PREFIX, f);
    f [m] = '\0';
    size_t letters = stats.upper + stats.lower;
    verdict.upper_like = s_mostly_upper (&stats, 0.85) && letters >= 2 && !stats.space_run
                       && !stats.quoted && stats.digits * 4 <= stats.nonspace;

    //  "PRIMERA PARTE"
    size_t after;
    if (s_word_in (f, m, 0, s_ordinals, &after)) {
        size_t at = s_skip_blanks (f, m, after);
        if (m - at >= 5 && memcmp (f + at, "parte", 5) == 0 && (at + 5 == m || !s_is_letter (f [at + 5]))) {
            verdict.level = 1;
            verdict.structural = true;
            return verdict;
        }
    }
    for (size_t k = 0; k < S_KEY_COUNT; k++) {
        const s_key_t *key = &s_keys [k];
        size_t length = strlen (key->folded);
        if (m < length || memcmp (f, key->folded, length) != 0 || (m > length && s_is_letter (f [length])))
            continue;
        size_t at = s_skip_blanks (f, m, length);
        while (at < m && (f [at] == ':' || f [at] == '.' || f [at] == '-'))
            at = s_skip_blanks (f, m, at + 1);
        bool numeral = s_numeral_at (f, m, at);
        bool heading = false;
        if (key->form == S_KEY_NUMBERED)
            heading = numeral;
        else
        if (!stats.space_run) {
            //  Upper case as written: no lower-case letter in the keyword's words.
            size_t words = 1;
            for (size_t c = 0; key->folded [c]; c++)
                words += key->folded [c] == ' ';
            size_t i = 0, seen = 0;
            while (i < n && seen < words) {
                while (i < n && s [i] != ' ')
                    i++;
                seen++;
                while (i < n && s [i] == ' ')
                    i++;
            }
            s_stats_t key_stats;
            s_stats (s, i, &key_stats);
            heading = key_stats.lower == 0 || numeral
                   || (strcmp (key->folded, "diagnostico") == 0 && at >= m && n <= S_FOLD_PREFIX);
        }
        if (heading) {
            verdict.level = key->level;
            verdict.structural = true;
            return verdict;
        }
    }
    if (stats.space_run || stats.quoted)
        return verdict;
    size_t depth, end;
    bool closed;
    if (s_section_number (s, n, &depth, &end, &closed)) {
        while (end < n && (s [end] == ' ' || s [end] == '\t'))
            end++;
        const unsigned char *title = s + end;
        size_t title_size = n - end;
        s_stats_t title_stats;
        s_stats (title, title_size, &title_stats);
        bool ok = s_starts_upper (title, title_size) && title_size <= 150
               && title_stats.digits * 4 <= title_stats.nonspace;
        //  "1. TITLE": upper case, and the number closed by '.' or ')'
        //  (a bare "12 NAME" is a table row); "1.2 Title" may be mixed.
        if (ok && depth == 1)
            ok = closed && s_mostly_upper (&title_stats, 0.70) && title_stats.upper >= 3;
        if (ok && depth >= 2) {
            unsigned char tail = title [title_size - 1];
            ok = tail != ',' && tail != ';' && title_stats.words <= 15;
        }
        if (ok) {
            verdict.level = (int) (depth + 1 < S_LEVEL_MAX? depth + 1: S_LEVEL_MAX);
            verdict.structural = true;
        }
        return verdict;
    }
    if (s_roman_number (s, n, &end)) {
        while (end < n && s [end] == ' ')
            end++;
        s_stats_t title_stats;
        s_stats (s + end, n - end, &title_stats);
        if (s_mostly_upper (&title_stats, 0.85) && title_stats.upper >= 3) {
            verdict.level = 2;
            verdict.structural = true;
        }
        return verdict;
    }
    if (verdict.upper_like && letters >= 4 && n <= 150) {
        bool single = stats.words < 2;
        bool label = s [n - 1] == ':';
        if (!single || label || s_word_in (f, m, 0, s_single_headings, NULL))
            verdict.level = 4;
    }
    return verdict;
}

//  A heading found: its lines and level.
typedef struct {
    size_t first_line, last_line;       // indexes into the lines
    int level;
    bool structural;                    // keyword, numbered or roman (default rules)
} s_heading_t;

//  Finds the headings with the default rules or cfg's patterns. Returns
//  the array (caller frees) and *count, NULL with ctx->error set.
static s_heading_t *
s_headings_find (fac_context_t *ctx, const s_sections_t *cfg, const s_line_t *lines,
                 size_t line_count, size_t *count)
{
    static const char *method = "text.sections";
    const unsigned char *text = (const unsigned char *) ctx->text;
    s_heading_t *headings = (s_heading_t *) calloc (line_count + 1, sizeof (s_heading_t));
    pcre2_match_data *match_data = cfg->count? pcre2_match_data_create (1, NULL): NULL;
    if (!headings || (cfg->count && !match_data)) {
        free (headings);
        pcre2_match_data_free (match_data);
        fac_methods_fail (ctx, method, "out of memory");
        return NULL;
    }
    size_t used = 0;
    for (size_t i = 0; i < line_count; i++) {
        const s_line_t *line = &lines [i];
        const unsigned char *s = text + line->first;
        size_t n = line->last - line->first;
        if (n == 0 || line->running || s_is_page_number (s, n))
            continue;
        if (cfg->count) {
            for (size_t p = 0; p < cfg->count; p++) {
                int rc = pcre2_match (cfg->codes [p], s, n, 0, PCRE2_NO_UTF_CHECK, match_data, NULL);
                if (rc >= 0) {
                    headings [used++] = (s_heading_t) { i, i, cfg->levels [p], true };
                    break;
                }
                if (rc != PCRE2_ERROR_NOMATCH) {
                    PCRE2_UCHAR message [120];
                    pcre2_get_error_message (rc, message, sizeof message);
                    fac_methods_fail (ctx, method, "heading_patterns[%zu]: matching the line at "
                                      "byte %zu: %s", p, line->first, (const char *) message);
                    free (headings);
                    pcre2_match_data_free (match_data);
                    return NULL;
                }
            }
            continue;
        }
        s_verdict_t verdict = s_default_rules (s, n);
        //  A title broken over lines: an upper-case line right after a
        //  heading's last line (same page, not a label ending in ':')
        //  continues it, unless the heading ended with ':' or '.'.
        if (used && verdict.upper_like && !verdict.structural) {
            s_heading_t *previous = &headings [used - 1];
            const s_line_t *last = &lines [previous->last_line];
            unsigned char tail = text [last->last - 1];
            if (previous->last_line + 1 == i && last->page == line->page
            &&  previous->last_line - previous->first_line + 1 < S_HEADING_LINES_MAX
            &&  tail != ':' && tail != '.' && s [n - 1] != ':') {
                previous->last_line = i;
                continue;
            }
        }
        if (verdict.level)
            headings [used++] = (s_heading_t) { i, i, verdict.level, verdict.structural };
    }
    pcre2_match_data_free (match_data);
    //  An upper-case heading whose title ends with a connector ("... DE")
    //  is a cut phrase (a table cell), not a heading.
    size_t kept = 0;
    for (size_t h = 0; h < used; h++) {
        const s_line_t *last = &lines [headings [h].last_line];
        if (!cfg->count && !headings [h].structural) {
            size_t tail = last->last - last->first > S_FOLD_PREFIX? last->last - S_FOLD_PREFIX: last->first;
            while (tail < last->last && (text [tail] & 0xC0) == 0x80)
                tail++;
            char f [S_FOLD_PREFIX + 1];
            size_t m = fac_text_fold ((const char *) text + tail, last->last - tail, f);
            if (s_ends_with_connector (f, m))
                continue;
        }
        headings [kept++] = headings [h];
    }
    *count = kept;
    return headings;
}

//  The title of a heading: its lines, whitespace runs (line breaks too)
//  collapsed to one space, cut to S_TITLE_MAX bytes at a character
//  boundary. Writes into out (S_TITLE_MAX + 1 bytes); returns the length.
static size_t
s_title (const unsigned char *text, const s_line_t *first, const s_line_t *last, char *out)
{
    size_t used = 0;
    bool space = false;
    size_t at = first->first;
    while (at < last->last && used < S_TITLE_MAX) {
        size_t width = s_hspace (text, at, last->last);
        unsigned char byte = text [at];
        if (width || byte == '\n' || byte == '\f') {
            space = used > 0;
            at += width? width: 1;
            continue;
        }
        if (space) {
            out [used++] = ' ';
            space = false;
            if (used >= S_TITLE_MAX)
                break;
        }
        size_t length;
        s_decode (text, at, last->last, &length);
        if (used + length > S_TITLE_MAX)
            break;
        memcpy (out + used, text + at, length);
        used += length;
        at += length;
    }
    while (used > 0 && out [used - 1] == ' ')
        used--;
    out [used] = '\0';
    return used;
}

//  The end of the chunk that starts at `start` in a section ending at
//  `end`: `end` when it fits, else the last paragraph start (a non-blank
//  line after a blank one or a page break) within chunk_bytes, else the
//  last line start, else the last character boundary.
static size_t
s_chunk_end (const unsigned char *text, const s_line_t *lines, size_t line_count, size_t start,
             size_t end, size_t chunk)
{
    if (end - start <= chunk)
        return end;
    size_t limit = start + chunk;
    //  The last line starting at or before limit.
    size_t low = 0, high = line_count;
    while (low < high) {
        size_t mid = (low + high) / 2;
        if (lines [mid].start <= limit)
            low = mid + 1;
        else
            high = mid;
    }
    size_t line_cut = 0;
    for (size_t i = low; i-- > 0;) {
        if (lines [i].start <= start)
            break;
        if (!line_cut)
            line_cut = lines [i].start;
        bool blank_before = i > 0 && (lines [i - 1].last <= lines [i - 1].first
                                      || lines [i - 1].page != lines [i].page);
        if (lines [i].last > lines [i].first && blank_before)
            return lines [i].start;
    }
    if (line_cut)
        return line_cut;
    size_t cut = limit;
    while (cut > start && (text [cut] & 0xC0) == 0x80)
        cut--;
    return cut > start? cut: end;
}

//  A section being built: where it starts, and its heading.
typedef struct {
    size_t offset;
    size_t heading;             // index into the headings
    bool untitled;              // the text before the first heading
} s_slot_t;

int
fac_methods_sections_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "text.sections";
    s_sections_t cfg;
    char reason [200];
    s_line_t *lines = NULL;
    s_heading_t *headings = NULL;
    s_slot_t *slots = NULL;
    json_t *sections = NULL, *chunks = NULL, *running_list = NULL;
    int rc = -1;
    if (s_sections_parse (params, &cfg, reason, sizeof reason)) {
        fac_methods_fail (ctx, method, "%s", reason);
        goto done;
    }
    if (!ctx->text) {
        fac_methods_fail (ctx, method, "no document (the contract must set inputs.document)");
        goto done;
    }
    const unsigned char *text = (const unsigned char *) ctx->text;
    size_t size = ctx->text_size;
    size_t line_count = 0;
    s_normalization_t norm;
    lines = s_lines_scan (text, size, &line_count, &norm);
    size_t listed [S_RUNNING_LISTED];
    size_t listed_count = 0;
    long running = lines? s_running_mark (text, lines, line_count, listed, &listed_count): -1;
    if (!lines || running < 0) {
        fac_methods_fail (ctx, method, "out of memory");
        goto done;
    }
    size_t heading_count = 0;
    headings = s_headings_find (ctx, &cfg, lines, line_count, &heading_count);
    if (!headings)
        goto done;

    //  Sections: text before the first heading (unless blank) is an
    //  untitled section of level 0; then one per heading, from its line's
    //  start to the next one's (the first from 0).
    sections = json_array ();
    chunks = json_array ();
    running_list = json_array ();
    slots = (s_slot_t *) calloc (heading_count + 2, sizeof (s_slot_t));
    if (!sections || !chunks || !running_list || !slots) {
        fac_methods_fail (ctx, method, "out of memory");
        goto done;
    }
    size_t section_count = 0, dropped = 0, titled = 0;
    size_t first_start = heading_count? lines [headings [0].first_line].start: size;
    bool leading_blank = true;
    for (size_t i = 0; i < first_start && leading_blank; i++)
        leading_blank = text [i] == ' ' || text [i] == '\t' || text [i] == '\n' || text [i] == '\r'
                     || text [i] == '\f';
    if (size > 0 && (!leading_blank || heading_count == 0))
        slots [section_count++] = (s_slot_t) { 0, 0, true };
    for (size_t h = 0; h < heading_count; h++) {
        if (section_count >= (size_t) cfg.max_sections) {
            dropped = heading_count - h;
            break;
        }
        size_t offset = section_count? lines [headings [h].first_line].start: 0;
        slots [section_count++] = (s_slot_t) { offset, h, false };
    }
    for (size_t k = 0; k < section_count; k++) {
        size_t offset = slots [k].offset;
        size_t end = k + 1 < section_count? slots [k + 1].offset: size;
        char title [S_TITLE_MAX + 1] = "";
        size_t title_size = 0;
        int level = 0;
        uint32_t page = 1;
        if (!slots [k].untitled) {
            const s_heading_t *heading = &headings [slots [k].heading];
            title_size = s_title (text, &lines [heading->first_line], &lines [heading->last_line], title);
            level = heading->level;
            page = lines [heading->first_line].page;
            titled++;
        }
        json_t *item = json_pack ("{s:s%, s:I, s:I, s:i, s:I}", "title", title, title_size,
                                  "offset", (json_int_t) offset, "length", (json_int_t) (end - offset),
                                  "level", level, "page", (json_int_t) page);
        if (!item || json_array_append_new (sections, item)) {
            fac_methods_fail (ctx, method, "out of memory building the output");
            goto done;
        }
        //  Chunks of this section.
        size_t at = offset;
        while (at < end) {
            size_t cut = s_chunk_end (text, lines, line_count, at, end, (size_t) cfg.chunk_bytes);
            json_t *chunk = json_pack ("{s:I, s:I, s:I}", "offset", (json_int_t) at,
                                       "length", (json_int_t) (cut - at), "section", (json_int_t) k);
            if (!chunk || json_array_append_new (chunks, chunk)) {
                fac_methods_fail (ctx, method, "out of memory building the output");
                goto done;
            }
            at = cut;
        }
    }
    for (size_t r = 0; r < listed_count; r++) {
        const s_line_t *line = &lines [listed [r]];
        json_array_append_new (running_list, json_stringn (ctx->text + line->first, line->last - line->first));
    }
    json_t *output = json_pack ("{s:O, s:O, s:I, s:I, s:I, s:O, s:s, s:I, s:{s:I, s:I, s:I, s:I}}",
                                "sections", sections,
                                "chunks", chunks,
                                "headings", (json_int_t) titled,
                                "sections_dropped", (json_int_t) dropped,
                                "running_count", (json_int_t) running,
                                "running_lines", running_list,
                                "rules", cfg.count? "heading_patterns": "default",
                                "chunk_bytes", (json_int_t) cfg.chunk_bytes,
                                "normalization",
                                    "form_feeds", (json_int_t) norm.form_feeds,
                                    "hyphenated_breaks", (json_int_t) norm.hyphenated_breaks,
                                    "whitespace_runs", (json_int_t) norm.whitespace_runs,
                                    "control_chars", (json_int_t) norm.control_chars);
    rc = fac_methods_output_set (ctx, method, output);
done:
    json_decref (sections);
    json_decref (chunks);
    json_decref (running_list);
    free (slots);
    free (headings);
    free (lines);
    s_sections_free (&cfg);
    return rc;
}
