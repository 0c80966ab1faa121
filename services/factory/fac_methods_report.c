/*  fac_methods_report — report.assemble (phase P09): the report a person
    reads, built from the results of a run's earlier contracts, as JSON,
    Markdown and one self-contained HTML page. Semantics: proto/methods.md.

    The report is assembled in two steps: a model (every input classified
    by its type and identity, indexed by cluster, policy area, dimension
    and question; strings made valid UTF-8 and capped), then the formats
    over that model: a JSON writer, and one walk of the sections for
    Markdown and HTML, which differ only in their markup (s_format_t).
    Every number printed comes from an input; an input that is missing,
    failed, timed out or was skipped is shown as such, never as a 0.
    Names (of clusters, policy areas, dimensions, questions) come from the
    inputs' titles; the C knows only generic labels and the contract id
    conventions of a FARFAN set (used only for inputs that arrive without
    type or identity, i.e. missing ones). */
#include "fac_methods.h"
#include "ff_utf8.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The method's entry points (registered in fac_method.c).
fac_method_check_fn fac_methods_report_check;
fac_method_run_fn   fac_methods_report_run;

#define S_METHOD "report.assemble"
//  RESULT_OK of Farfan__ResultStatus (proto/factory.proto).
#define S_RESULT_OK 1
//  Most evidence quotes per question (params.evidence_per_question).
#define S_EVIDENCE_PER_QUESTION_MAX 20
#define S_EVIDENCE_PER_QUESTION_DEFAULT 3
//  Longest report title, bytes (as a contract's title).
#define S_TITLE_MAX 2048
//  Longest string of an input kept in the report, bytes (longer: cut at a
//  character boundary, "…" appended): identity codes, element types,
//  titles, recommendation texts, section titles.
#define S_CODE_MAX 64
#define S_NAME_MAX 2048
#define S_TEXT_MAX 4096
#define S_SECTION_TITLE_MAX 300
//  Most plan sections and recommendations listed (the rest counted).
#define S_SECTIONS_SHOWN_MAX 2000
#define S_RECOMMENDATIONS_SHOWN_MAX 2000
//  Largest report produced, bytes: the formats together, as the result's
//  output_json will carry them (JSON-escaped). The result travels in one
//  message and max_msg_size defaults to 16 MiB; the rest of the result
//  needs the remainder.
#define S_OUTPUT_MAX (12u * 1024 * 1024)
//  Deepest nesting of the JSON writer (s_newline_indent has its spaces).
#define S_JSON_DEPTH 16

//  ---------------------------------------------------------------------
//  Parameters

enum { S_FORMAT_JSON = 1, S_FORMAT_MARKDOWN = 2, S_FORMAT_HTML = 4 };

typedef struct {
    const char *title;          // NULL: the contract's title, else a generic one
    unsigned formats;           // S_FORMAT_* bits
    size_t evidence_per_question;
} s_params_t;

static int
s_params_parse (const json_t *params, const fac_contract_t *contract, s_params_t *cfg,
                char *err, size_t err_size)
{
    static const char *const known [] = { "title", "formats", "evidence_per_question", NULL };
    memset (cfg, 0, sizeof *cfg);
    if (fac_methods_check_keys (params, S_METHOD, known, err, err_size))
        return -1;
    if (contract && contract->input_count == 0)
        return fac_methods_errf (err, err_size, "inputs.contracts: %s builds the report from input "
                                 "contracts, the contract names none", S_METHOD);
    json_t *title = json_object_get (params, "title");
    if (title) {
        if (!json_is_string (title) || json_string_length (title) == 0
        ||  json_string_length (title) > S_TITLE_MAX
        ||  strlen (json_string_value (title)) != json_string_length (title))
            return fac_methods_errf (err, err_size, "params.title: must be a non-empty string of at "
                                     "most %d bytes without NUL", S_TITLE_MAX);
        cfg->title = json_string_value (title);
    }
    json_t *formats = json_object_get (params, "formats");
    if (formats) {
        if (!json_is_array (formats) || json_array_size (formats) == 0)
            return fac_methods_errf (err, err_size, "params.formats: must be a non-empty array of "
                                     "\"json\", \"markdown\", \"html\"");
        size_t index;
        json_t *item;
        json_array_foreach (formats, index, item) {
            const char *name = json_string_value (item);
            unsigned bit = !name? 0
                         : strcmp (name, "json") == 0? S_FORMAT_JSON
                         : strcmp (name, "markdown") == 0? S_FORMAT_MARKDOWN
                         : strcmp (name, "html") == 0? S_FORMAT_HTML: 0;
            if (!bit)
                return fac_methods_errf (err, err_size, "params.formats[%zu]: %s%.40s%s is not a format "
                                         "(json, markdown, html)", index, name? "\"": "",
                                         name? name: "not a string", name? "\"": "");
            if (cfg->formats & bit)
                return fac_methods_errf (err, err_size, "params.formats[%zu]: \"%s\" is given twice",
                                         index, name);
            cfg->formats |= bit;
        }
    }
    else
        cfg->formats = S_FORMAT_JSON | S_FORMAT_MARKDOWN | S_FORMAT_HTML;
    long long evidence;
    if (fac_methods_get_int (params, "evidence_per_question", 0, S_EVIDENCE_PER_QUESTION_MAX,
                             S_EVIDENCE_PER_QUESTION_DEFAULT, &evidence, err, err_size))
        return -1;
    cfg->evidence_per_question = (size_t) evidence;
    return 0;
}

int
fac_methods_report_check (const json_t *params, const fac_contract_t *contract,
                          const fac_method_env_t *env, char *err, size_t err_size)
{
    s_params_t cfg;
    return s_params_parse (params, contract, &cfg, err, err_size);
}

//  ---------------------------------------------------------------------
//  A growing buffer; an allocation failure sticks (checked at the end).

typedef struct {
    char *data;
    size_t size;
    size_t capacity;
    bool failed;
} s_buf_t;

//  Makes room for more bytes (and the NUL). false once an allocation failed.
static bool
s_buf_reserve (s_buf_t *buf, size_t more)
{
    if (buf->failed)
        return false;
    if (buf->size + more + 1 <= buf->capacity)
        return true;
    size_t capacity = buf->capacity? buf->capacity: 64 * 1024;
    while (capacity < buf->size + more + 1)
        capacity *= 2;
    char *grown = (char *) realloc (buf->data, capacity);
    if (!grown) {
        buf->failed = true;
        return false;
    }
    buf->data = grown;
    buf->capacity = capacity;
    return true;
}

static void
s_buf_addn (s_buf_t *buf, const char *text, size_t length)
{
    if (!s_buf_reserve (buf, length))
        return;
    memcpy (buf->data + buf->size, text, length);
    buf->size += length;
    buf->data [buf->size] = '\0';
}

static void
s_buf_add (s_buf_t *buf, const char *text)
{
    s_buf_addn (buf, text, strlen (text));
}

//  A string literal, its length known at compile time.
#define s_buf_lit(buf, literal) s_buf_addn ((buf), "" literal, sizeof (literal) - 1)

static void
s_buf_printf (s_buf_t *buf, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_buf_printf (s_buf_t *buf, const char *format, ...)
{
    char local [256];
    va_list args;
    va_start (args, format);
    int needed = vsnprintf (local, sizeof local, format, args);
    va_end (args);
    if (needed < 0)
        return;
    if ((size_t) needed < sizeof local) {
        s_buf_addn (buf, local, (size_t) needed);
        return;
    }
    if (!s_buf_reserve (buf, (size_t) needed))
        return;
    va_start (args, format);
    vsnprintf (buf->data + buf->size, (size_t) needed + 1, format, args);
    va_end (args);
    buf->size += (size_t) needed;
}

//  What a character of text becomes (NULL: itself); c points into text.
typedef const char *(s_replace_fn) (const char *text, const char *c);

//  text with each character replace () names replaced.
static inline void
s_escape (s_buf_t *buf, const char *text, s_replace_fn *replace)
{
    const char *run = text;
    for (const char *c = text; *c; c++) {
        const char *replacement = replace (text, c);
        if (!replacement)
            continue;
        s_buf_addn (buf, run, (size_t) (c - run));
        s_buf_add (buf, replacement);
        run = c + 1;
    }
    s_buf_add (buf, run);
}

//  Both formats: HTML's markup characters as entities (Markdown passes
//  raw HTML through), control characters as spaces.
static inline const char *
s_markup_replacement (char c)
{
    switch (c) {
        case '<': return "&lt;";
        case '>': return "&gt;";
        case '&': return "&amp;";
        default:
            return (unsigned char) c < 0x20 || c == 0x7f? " ": NULL;
    }
}

//  HTML content or a quoted attribute: the markup characters, and ':' and
//  '=' too, so that nothing a plan says can look like a URL scheme or an
//  attribute to a reader or a filter (the page renders the same).
static const char *
s_html_replacement (const char *text, const char *c)
{
    switch (*c) {
        case '"': return "&quot;";
        case '\'': return "&#39;";
        case ':': return "&#58;";
        case '=': return "&#61;";
        default: return s_markup_replacement (*c);
    }
}

static void
s_html (s_buf_t *buf, const char *text)
{
    s_escape (buf, text, s_html_replacement);
}

//  A byte of a word for CommonMark's emphasis rules: letters, digits and
//  any byte of a non-ASCII character.
static bool
s_md_word (char c)
{
    unsigned char byte = (unsigned char) c;
    return byte >= 0x80 || (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z')
        || (byte >= 'A' && byte <= 'Z');
}

//  A Markdown table cell: the markup characters, Markdown's own escaped
//  with a backslash (no emphasis, code, links or cell breaks from plan
//  text), line breaks as spaces.
static const char *
s_md_replacement (const char *text, const char *c)
{
    switch (*c) {
        case '\\': return "\\\\";
        case '|': return "\\|";
        case '`': return "\\`";
        case '*': return "\\*";
        case '_':
            //  Inside a word (AGG_MACRO, metas_cuantificadas) an
            //  underscore is never emphasis (CommonMark): left as is.
            return c > text && s_md_word (c [-1]) && s_md_word (c [1])? NULL: "\\_";
        case '[': return "\\[";
        case ']': return "\\]";
        case '#': return "\\#";
        default: return s_markup_replacement (*c);
    }
}

static void
s_md (s_buf_t *buf, const char *text)
{
    s_escape (buf, text, s_md_replacement);
}

//  A JSON string literal (text is valid UTF-8, written as is).
static void
s_json_string (s_buf_t *buf, const char *text)
{
    s_buf_lit (buf, "\"");
    const char *run = text;
    for (const char *c = text; *c; c++) {
        unsigned char byte = (unsigned char) *c;
        if (byte >= 0x20 && byte != '"' && byte != '\\')
            continue;
        s_buf_addn (buf, run, (size_t) (c - run));
        switch (byte) {
            case '"': s_buf_lit (buf, "\\\""); break;
            case '\\': s_buf_lit (buf, "\\\\"); break;
            case '\n': s_buf_lit (buf, "\\n"); break;
            case '\r': s_buf_lit (buf, "\\r"); break;
            case '\t': s_buf_lit (buf, "\\t"); break;
            default: s_buf_printf (buf, "\\u%04x", byte); break;
        }
        run = c + 1;
    }
    s_buf_add (buf, run);
    s_buf_lit (buf, "\"");
}

//  A decimal form that reads back as the same double: the 15 significant
//  digits every double has, else 16, else 17 (always exact).
static void
s_number (char *out, size_t size, double value)
{
    for (int precision = 15; precision <= 17; precision++) {
        snprintf (out, size, "%.*g", precision, value);
        if (strtod (out, NULL) == value)
            return;
    }
}

//  Bytes text takes inside a JSON string (jansson's escaping, without
//  JSON_ENSURE_ASCII): what the result's output_json will carry. (Plain
//  bytes dominate, so the branches predict well: faster than branch-free.)
static size_t
s_json_escaped_size (const char *text, size_t size)
{
    size_t extra = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char byte = (unsigned char) text [i];
        if (byte == '"' || byte == '\\' || byte == '\n' || byte == '\r' || byte == '\t'
        ||  byte == '\b' || byte == '\f')
            extra += 1;
        else
        if (byte < 0x20)
            extra += 5;
    }
    return size + extra + 2;
}

//  ---------------------------------------------------------------------
//  Strings from the inputs: valid UTF-8, capped. Most are already both and
//  are borrowed; the others are repaired into copies the model owns.

typedef struct {
    char **copies;
    size_t count;
    size_t capacity;
    bool failed;
} s_arena_t;

static void
s_arena_free (s_arena_t *arena)
{
    for (size_t i = 0; i < arena->count; i++)
        free (arena->copies [i]);
    free (arena->copies);
    memset (arena, 0, sizeof *arena);
}

static char *
s_arena_keep (s_arena_t *arena, char *copy)
{
    if (!copy) {
        arena->failed = true;
        return NULL;
    }
    if (arena->count == arena->capacity) {
        size_t capacity = arena->capacity? arena->capacity * 2: 64;
        char **grown = (char **) realloc (arena->copies, capacity * sizeof (char *));
        if (!grown) {
            free (copy);
            arena->failed = true;
            return NULL;
        }
        arena->copies = grown;
        arena->capacity = capacity;
    }
    arena->copies [arena->count++] = copy;
    return copy;
}

//  Length of the valid UTF-8 character at text (size bytes left), or 0.
static size_t
s_utf8_char (const unsigned char *text, size_t size)
{
    size_t length = size < 4? size: 4;
    for (size_t n = 1; n <= length; n++)
        if (ff_utf8_check (text, n, false) == 0)
            return n;
    return 0;
}

//  True when text[0..size) is valid UTF-8: ASCII runs 8 bytes at a time,
//  the rest a character at a time (ff_utf8_check's rules).
static bool
s_utf8_valid (const char *text, size_t size)
{
    const unsigned char *at = (const unsigned char *) text, *end = at + size;
    while (at < end) {
        while (end - at >= 8) {
            uint64_t word;
            memcpy (&word, at, sizeof word);
            if (word & 0x8080808080808080ull)
                break;
            at += 8;
        }
        if (at == end)
            break;
        if (*at < 0x80) {
            at++;
            continue;
        }
        size_t length = s_utf8_char (at, (size_t) (end - at));
        if (!length)
            return false;
        at += length;
    }
    return true;
}

//  text as valid UTF-8 (each bad byte replaced by U+FFFD) of at most max
//  bytes (cut at a character boundary, "…" appended). Never NULL ("" for
//  NULL or when out of memory, which the arena records).
static const char *
s_clean (s_arena_t *arena, const char *text, size_t max)
{
    if (!text || !*text)
        return "";
    size_t size = strlen (text);
    if (size <= max && ff_utf8_check ((const uint8_t *) text, size, false) == 0)
        return text;
    s_buf_t repaired = { 0 };
    const unsigned char *cursor = (const unsigned char *) text;
    const unsigned char *end = cursor + size;
    while (cursor < end) {
        size_t length = s_utf8_char (cursor, (size_t) (end - cursor));
        if (length) {
            s_buf_addn (&repaired, (const char *) cursor, length);
            cursor += length;
        }
        else {
            s_buf_lit (&repaired, "\xef\xbf\xbd");
            cursor++;
        }
    }
    if (repaired.failed) {
        free (repaired.data);
        arena->failed = true;
        return "";
    }
    if (repaired.size > max) {
        repaired.size = ff_utf8_prefix (repaired.data, repaired.size, max);
        repaired.data [repaired.size] = '\0';
        s_buf_lit (&repaired, "\xe2\x80\xa6");
        if (repaired.failed) {
            free (repaired.data);
            arena->failed = true;
            return "";
        }
    }
    const char *kept = s_arena_keep (arena, repaired.data);
    return kept? kept: "";
}

//  ---------------------------------------------------------------------
//  The model

typedef enum {
    S_ROLE_OTHER,               // not placed anywhere else: listed as is
    S_ROLE_MACRO,
    S_ROLE_CLUSTER,
    S_ROLE_AREA,
    S_ROLE_CELL,                // dimension × policy area
    S_ROLE_QUESTION,
    S_ROLE_PROFILE,             // text.profile
    S_ROLE_SECTIONS,            // text.sections
    S_ROLE_RECOMMEND,           // recommend.rules
} s_role_t;

typedef struct {
    const char *element;
    uint64_t offset;
    uint32_t length;
    const char *text;
    const char *pattern;
} s_ref_t;

typedef struct {
    const char *type;
    uint32_t count;
    uint32_t minimum;
    bool required;
    bool satisfied;
} s_element_t;

typedef struct {
    const char *id;             // the contract's id
    const fac_input_t *input;   // NULL: the request did not carry it
    int status;                 // Farfan__ResultStatus; 0 when not carried
    double score, ratio, confidence;    // NAN when unset or not OK
    const char *quality;        // "" when unset or not OK
    const char *type;
    const char *title;
    const char *question, *area, *dimension, *cluster;     // identity codes ("" unknown)
    s_role_t role;
    json_t *output;             // output_json parsed (OK inputs); owned, NULL when none
    //  Questions
    const char *modality;
    s_ref_t *refs;              // quoted evidence (into the model's refs)
    size_t ref_count;
    s_element_t *elements;      // every element of its evidence
    size_t element_count;
    const char **missing;       // missing elements
    size_t missing_count;
    uint64_t match_total;       // matches counted over its elements
    char parsed [4][S_CODE_MAX];    // codes read from the id (question, area, dimension, cluster)
} s_item_t;

typedef struct {
    const char *code;
    s_item_t *item;             // its aggregation; NULL when no input is one
    const char *title;
    const char *cluster;        // areas: the cluster code ("" unknown)
    size_t first, count;        // areas: their questions in the sorted list
} s_group_t;

typedef struct {
    const char *title;
    long long offset, length, level;
    long long page;             // -1 when the input gives none
} s_section_t;

typedef struct {
    const char *rule, *contract, *question, *area, *dimension, *quality, *element;
    const char *priority, *text, *section;
    long long section_offset;   // -1: no section
    long long section_page;     // -1 when the input gives none
    double score;               // NAN when not a number
} s_recommendation_t;

typedef struct {
    const s_params_t *cfg;
    const char *title;
    s_arena_t arena;
    s_item_t *items;            // one per contract input, in the contract's order
    size_t item_count;
    size_t ok_count;
    s_item_t *macro, *profile, *sections_item, *recommend_item;
    s_group_t *clusters;
    size_t cluster_count;
    s_group_t *areas;
    size_t area_count;
    s_group_t *dimensions;
    size_t dimension_count;
    s_item_t **cells;           // [area × dimension]; NULL where none
    s_item_t **questions;       // sorted by area, question, id
    size_t question_count;
    s_item_t **others;
    size_t other_count;
    s_ref_t *refs;
    s_element_t *elements;
    const char **missing;
    s_section_t *sections;
    size_t section_count;       // listed
    size_t section_total;       // in the input
    size_t section_malformed;
    s_recommendation_t *recommendations;
    size_t recommendation_count;        // listed
    size_t recommendation_total;        // in the input
    size_t recommendation_malformed;
} s_model_t;

static const char *
s_status_name (int status)
{
    switch (status) {
        case 1: return "ok";
        case 2: return "failed";
        case 3: return "timeout";
        case 4: return "skipped";
        default: return "missing";
    }
}

//  Why an input gave nothing to show, as the end of a sentence.
static const char *
s_status_phrase (int status)
{
    switch (status) {
        case 1: return "gave no usable output";
        case 2: return "failed";
        case 3: return "timed out";
        case 4: return "was skipped";
        default: return "is missing from the results";
    }
}

//  What a table shows instead of a score; NULL when the score is shown.
static const char *
s_state (const s_item_t *item)
{
    if (!item)
        return "not an input";
    switch (item->status) {
        case 1: return isfinite (item->score)? NULL: "no score";
        case 2: return "failed";
        case 3: return "timed out";
        case 4: return "skipped";
        default: return "missing";
    }
}

//  The CSS class of a score band (the quality level of the score).
static const char *
s_band (const s_item_t *item)
{
    if (s_state (item))
        return "qm";
    const char *level = fac_quality_level (item->score);
    return strcmp (level, "EXCELENTE") == 0? "qe"
         : strcmp (level, "BUENO") == 0? "qb"
         : strcmp (level, "ACEPTABLE") == 0? "qa": "qi";
}

static bool
s_has_prefix (const char *text, const char *prefix, const char **rest)
{
    size_t length = strlen (prefix);
    if (strncmp (text, prefix, length) != 0)
        return false;
    *rest = text + length;
    return true;
}

//  "<letters><digits>" of exactly that many digits at text; its length or 0.
static size_t
s_code_at (const char *text, const char *letters, int digits)
{
    size_t length = strlen (letters);
    if (strncmp (text, letters, length) != 0)
        return 0;
    for (int i = 0; i < digits; i++)
        if (text [length + (size_t) i] < '0' || text [length + (size_t) i] > '9')
            return 0;
    return length + (size_t) digits;
}

static void
s_code_copy (char *out, const char *text, size_t length)
{
    memcpy (out, text, length);
    out [length] = '\0';
}

//  Whether text is exactly a code (letters then digits); copies it to out.
static bool
s_code_is (const char *text, const char *letters, int digits, char *out)
{
    size_t n = s_code_at (text, letters, digits);
    if (!n || text [n])
        return false;
    s_code_copy (out, text, n);
    return true;
}

//  Whether text is exactly <code>_PAxx (the code: letters then digits);
//  copies the code to out and the policy area to area.
static bool
s_code_pair (const char *text, const char *letters, int digits, char *out, char *area)
{
    size_t n = s_code_at (text, letters, digits);
    if (!n || text [n] != '_' || !s_code_is (text + n + 1, "PA", 2, area))
        return false;
    s_code_copy (out, text, n);
    return true;
}

//  The role and identity a FARFAN set's id conventions give (design of
//  issue #6): AGG_MACRO, AGG_CLzz, AGG_PAxx, AGG_DIMyy_PAxx,
//  [SCORE_]Qnnn_PAxx, VALIDATE_DOCUMENT, INGEST, RECOMMEND. Used for inputs
//  that carry neither type nor identity (not carried by the request).
static s_role_t
s_role_from_id (s_item_t *item)
{
    const char *id = item->id, *rest;
    if (strcmp (id, "AGG_MACRO") == 0)
        return S_ROLE_MACRO;
    if (strcmp (id, "VALIDATE_DOCUMENT") == 0)
        return S_ROLE_PROFILE;
    if (strcmp (id, "INGEST") == 0)
        return S_ROLE_SECTIONS;
    if (strcmp (id, "RECOMMEND") == 0)
        return S_ROLE_RECOMMEND;
    if (s_has_prefix (id, "AGG_", &rest)) {
        if (s_code_is (rest, "CL", 2, item->parsed [3]))
            return S_ROLE_CLUSTER;
        if (s_code_is (rest, "PA", 2, item->parsed [1]))
            return S_ROLE_AREA;
        if (s_code_pair (rest, "DIM", 2, item->parsed [2], item->parsed [1]))
            return S_ROLE_CELL;
        return S_ROLE_OTHER;
    }
    if (!s_has_prefix (id, "SCORE_", &rest))
        rest = id;
    if (s_code_pair (rest, "Q", 3, item->parsed [0], item->parsed [1]))
        return S_ROLE_QUESTION;
    return S_ROLE_OTHER;
}

//  The first method object of an item's output holding key, or NULL.
static json_t *
s_output_member (const s_item_t *item, const char *key)
{
    const char *method;
    json_t *value;
    json_object_foreach (item->output, method, value) {
        json_t *member = json_object_get (value, key);
        if (member)
            return member;
    }
    return NULL;
}

//  True when an aggregation's output lists id among its inputs (used,
//  missing or weighted).
static bool
s_output_lists (const s_item_t *item, const char *id)
{
    static const char *const lists [] = { "used", "missing" };
    if (!item || !item->output || !*id)
        return false;
    const char *method;
    json_t *value;
    json_object_foreach (item->output, method, value) {
        for (size_t l = 0; l < 2; l++) {
            size_t index;
            json_t *entry;
            json_array_foreach (json_object_get (value, lists [l]), index, entry)
                if (json_is_string (entry) && strcmp (json_string_value (entry), id) == 0)
                    return true;
        }
        if (json_object_get (json_object_get (value, "weights"), id))
            return true;
    }
    return false;
}

static double
s_finite_or_nan (double value)
{
    return isfinite (value)? value: NAN;
}

//  Fills item from its input (or marks it not carried).
static void
s_item_init (s_model_t *model, s_item_t *item, const char *id, const fac_input_t *input)
{
    s_arena_t *arena = &model->arena;
    memset (item, 0, sizeof *item);
    item->id = s_clean (arena, id, S_CODE_MAX);
    item->input = input;
    item->status = input? input->status: 0;
    bool ok = item->status == S_RESULT_OK;
    item->score = ok? s_finite_or_nan (input->score): NAN;
    item->ratio = ok? s_finite_or_nan (input->ratio): NAN;
    item->confidence = ok? s_finite_or_nan (input->confidence): NAN;
    item->quality = ok? s_clean (arena, input->quality, S_CODE_MAX): "";
    item->type = input? s_clean (arena, input->type, S_CODE_MAX): "";
    item->title = input? s_clean (arena, input->title, S_NAME_MAX): "";
    item->question = input? s_clean (arena, input->base_question, S_CODE_MAX): "";
    item->area = input? s_clean (arena, input->policy_area, S_CODE_MAX): "";
    item->dimension = input? s_clean (arena, input->dimension, S_CODE_MAX): "";
    item->cluster = input? s_clean (arena, input->cluster, S_CODE_MAX): "";
    item->modality = "";
    //  Outputs of inputs that are not OK are read too (a refused document
    //  still has its profile, which says why); their scores are not.
    if (input && input->output_json && *input->output_json) {
        item->output = json_loads (input->output_json, 0, NULL);
        if (!json_is_object (item->output)) {
            json_decref (item->output);
            item->output = NULL;
        }
    }
    //  The role: what the output holds, else the type and identity, else
    //  the id's conventions.
    s_role_t by_id = s_role_from_id (item);
    const char **identity [4] = { &item->question, &item->area, &item->dimension, &item->cluster };
    for (size_t i = 0; i < 4; i++)
        if (!**identity [i])
            *identity [i] = item->parsed [i];
    const char *type = item->type;
    if (item->output && json_object_get (item->output, "text.profile"))
        item->role = S_ROLE_PROFILE;
    else
    if (item->output && json_object_get (item->output, "text.sections"))
        item->role = S_ROLE_SECTIONS;
    else
    if (item->output && json_object_get (item->output, "recommend.rules"))
        item->role = S_ROLE_RECOMMEND;
    else
    if (strcmp (type, "scoring") == 0 || strcmp (type, "micro") == 0)
        item->role = S_ROLE_QUESTION;
    else
    if (strcmp (type, "aggregation") == 0)
        item->role = *item->question? S_ROLE_OTHER
                   : *item->area && *item->dimension? S_ROLE_CELL
                   : *item->area? S_ROLE_AREA
                   : *item->dimension? S_ROLE_OTHER
                   : *item->cluster? S_ROLE_CLUSTER: S_ROLE_MACRO;
    else
    if (strcmp (type, "task") == 0)
        item->role = S_ROLE_PROFILE;
    else
    if (strcmp (type, "ingestion") == 0)
        item->role = S_ROLE_SECTIONS;
    else
    if (strcmp (type, "recommendation") == 0)
        item->role = S_ROLE_RECOMMEND;
    else
    if (!*type)
        item->role = by_id;
    else
        item->role = S_ROLE_OTHER;
    //  A place needs its codes.
    if ((item->role == S_ROLE_QUESTION && !*item->area)
    ||  (item->role == S_ROLE_CELL && (!*item->area || !*item->dimension))
    ||  (item->role == S_ROLE_AREA && !*item->area)
    ||  (item->role == S_ROLE_CLUSTER && !*item->cluster))
        item->role = S_ROLE_OTHER;
    if (item->role == S_ROLE_QUESTION) {
        json_t *modality = item->output
                         ? json_object_get (json_object_get (item->output, "score.modality"), "modality")
                         : NULL;
        item->modality = s_clean (arena, json_string_value (modality), S_CODE_MAX);
    }
}

static int
s_compare_text (const char *a, const char *b)
{
    //  Unknown ("") last.
    if (!*a || !*b)
        return (!*a) - (!*b);
    return strcmp (a, b);
}

static int
s_compare_questions (const void *x, const void *y)
{
    const s_item_t *a = *(s_item_t *const *) x, *b = *(s_item_t *const *) y;
    int order = s_compare_text (a->area, b->area);
    if (!order)
        order = s_compare_text (a->question, b->question);
    if (!order)
        order = strcmp (a->id, b->id);
    return order;
}

static int
s_compare_groups (const void *x, const void *y)
{
    const s_group_t *a = (const s_group_t *) x, *b = (const s_group_t *) y;
    return s_compare_text (a->code, b->code);
}

//  The group of code in groups, added when new (groups has room for one
//  per input, and every group stems from a different input). NULL when
//  code is "".
static s_group_t *
s_group (s_group_t *groups, size_t *count, const char *code)
{
    if (!*code)
        return NULL;
    for (size_t i = 0; i < *count; i++)
        if (strcmp (groups [i].code, code) == 0)
            return &groups [i];
    s_group_t *group = &groups [(*count)++];
    memset (group, 0, sizeof *group);
    group->code = code;
    group->title = "";
    group->cluster = "";
    return group;
}

static s_group_t *
s_group_find (s_group_t *groups, size_t count, const char *code)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (groups [i].code, code) == 0)
            return &groups [i];
    return NULL;
}

//  Evidence of a question: its elements, missing elements and up to
//  cfg->evidence_per_question quotes taken in turn from each element
//  (so every element with matches is quoted before any is quoted twice).
static void
s_question_evidence (s_model_t *model, s_item_t *item, size_t *ref_next, size_t *element_next,
                     size_t *missing_next)
{
    const fac_input_t *input = item->input;
    s_arena_t *arena = &model->arena;
    if (!input || item->status != S_RESULT_OK)
        return;
    item->elements = model->elements + *element_next;
    for (size_t e = 0; input->evidence && e < input->evidence_count; e++) {
        const fac_input_evidence_t *source = &input->evidence [e];
        s_element_t *element = &item->elements [item->element_count++];
        element->type = s_clean (arena, source->element_type, S_CODE_MAX);
        element->count = source->count;
        element->minimum = source->minimum;
        element->required = source->required;
        element->satisfied = source->satisfied;
        item->match_total += source->count;
    }
    *element_next += item->element_count;
    item->missing = model->missing + *missing_next;
    for (size_t m = 0; input->missing_elements && m < input->missing_count; m++)
        item->missing [item->missing_count++] = s_clean (arena, input->missing_elements [m], S_CODE_MAX);
    *missing_next += item->missing_count;
    item->refs = model->refs + *ref_next;
    size_t cap = model->cfg->evidence_per_question;
    for (size_t round = 0; item->ref_count < cap; round++) {
        bool more = false;
        for (size_t e = 0; input->evidence && e < input->evidence_count && item->ref_count < cap; e++) {
            const fac_input_evidence_t *source = &input->evidence [e];
            if (!source->matches || round >= source->match_count)
                continue;
            more = true;
            const fac_input_match_t *match = &source->matches [round];
            s_ref_t *ref = &item->refs [item->ref_count++];
            ref->element = item->elements [e].type;
            ref->offset = match->offset;
            ref->length = match->length;
            ref->text = s_clean (arena, match->text, FAC_EVIDENCE_SNIPPET_MAX);
            ref->pattern = s_clean (arena, match->pattern_id, S_CODE_MAX);
        }
        if (!more)
            break;
    }
    *ref_next += item->ref_count;
}

static const char *
s_json_text (s_arena_t *arena, const json_t *object, const char *key, size_t max)
{
    return s_clean (arena, json_string_value (json_object_get (object, key)), max);
}

static void
s_sections_read (s_model_t *model)
{
    const s_item_t *item = model->sections_item;
    json_t *list = item && item->output
                 ? json_object_get (json_object_get (item->output, "text.sections"), "sections"): NULL;
    if (!json_is_array (list))
        return;
    model->section_total = json_array_size (list);
    size_t shown = model->section_total < S_SECTIONS_SHOWN_MAX? model->section_total: S_SECTIONS_SHOWN_MAX;
    model->sections = (s_section_t *) calloc (shown? shown: 1, sizeof (s_section_t));
    if (!model->sections) {
        model->arena.failed = true;
        return;
    }
    for (size_t i = 0; i < model->section_total; i++) {
        json_t *entry = json_array_get (list, i);
        json_t *offset = json_object_get (entry, "offset");
        json_t *length = json_object_get (entry, "length");
        json_t *level = json_object_get (entry, "level");
        if (!json_is_string (json_object_get (entry, "title")) || !json_is_integer (offset)
        ||  json_integer_value (offset) < 0) {
            model->section_malformed++;
            continue;
        }
        if (model->section_count == shown)
            continue;
        s_section_t *section = &model->sections [model->section_count++];
        section->title = s_json_text (&model->arena, entry, "title", S_SECTION_TITLE_MAX);
        section->offset = (long long) json_integer_value (offset);
        section->length = json_is_integer (length)? (long long) json_integer_value (length): -1;
        section->level = json_is_integer (level)? (long long) json_integer_value (level): -1;
        json_t *page = json_object_get (entry, "page");
        section->page = json_is_integer (page) && json_integer_value (page) > 0
                      ? (long long) json_integer_value (page): -1;
    }
}

//  recommend.rules' output, read defensively: an entry that is not an
//  object or has no text is counted as malformed; a field of the wrong
//  type is shown as absent.
static void
s_recommendations_read (s_model_t *model)
{
    const s_item_t *item = model->recommend_item;
    json_t *list = item && item->output
                 ? json_object_get (json_object_get (item->output, "recommend.rules"), "recommendations")
                 : NULL;
    if (!json_is_array (list))
        return;
    model->recommendation_total = json_array_size (list);
    size_t shown = model->recommendation_total < S_RECOMMENDATIONS_SHOWN_MAX
                 ? model->recommendation_total: S_RECOMMENDATIONS_SHOWN_MAX;
    model->recommendations = (s_recommendation_t *) calloc (shown? shown: 1, sizeof (s_recommendation_t));
    if (!model->recommendations) {
        model->arena.failed = true;
        return;
    }
    s_arena_t *arena = &model->arena;
    for (size_t i = 0; i < model->recommendation_total; i++) {
        json_t *entry = json_array_get (list, i);
        if (!json_is_object (entry) || !json_is_string (json_object_get (entry, "text"))) {
            model->recommendation_malformed++;
            continue;
        }
        if (model->recommendation_count == shown)
            continue;
        s_recommendation_t *out = &model->recommendations [model->recommendation_count++];
        out->rule = s_json_text (arena, entry, "rule", S_CODE_MAX);
        out->contract = s_json_text (arena, entry, "contract", S_CODE_MAX);
        out->question = s_json_text (arena, entry, "base_question", S_CODE_MAX);
        out->area = s_json_text (arena, entry, "policy_area", S_CODE_MAX);
        out->dimension = s_json_text (arena, entry, "dimension", S_CODE_MAX);
        out->quality = s_json_text (arena, entry, "quality", S_CODE_MAX);
        out->element = s_json_text (arena, entry, "element", S_CODE_MAX);
        out->priority = s_json_text (arena, entry, "priority", S_CODE_MAX);
        out->text = s_json_text (arena, entry, "text", S_TEXT_MAX);
        json_t *score = json_object_get (entry, "score");
        out->score = json_is_number (score)? s_finite_or_nan (json_number_value (score)): NAN;
        json_t *section = json_object_get (entry, "section");
        json_t *offset = json_object_get (section, "offset");
        out->section = s_json_text (arena, section, "title", S_SECTION_TITLE_MAX);
        out->section_offset = json_is_integer (offset) && json_integer_value (offset) >= 0
                            ? (long long) json_integer_value (offset): -1;
        if (!json_is_object (section))
            out->section_offset = -1;
        json_t *page = json_object_get (section, "page");
        out->section_page = json_is_integer (page) && json_integer_value (page) > 0
                          ? (long long) json_integer_value (page): -1;
    }
}

static void
s_model_free (s_model_t *model)
{
    for (size_t i = 0; model->items && i < model->item_count; i++)
        json_decref (model->items [i].output);
    free (model->items);
    free (model->clusters);
    free (model->areas);
    free (model->dimensions);
    free (model->cells);
    free (model->questions);
    free (model->others);
    free (model->refs);
    free (model->elements);
    free (model->missing);
    free (model->sections);
    free (model->recommendations);
    s_arena_free (&model->arena);
    memset (model, 0, sizeof *model);
}

//  The dimension's name: the part of a dimension × area aggregation's
//  title before " — " (titles read "<dimension> — <policy area>").
static const char *
s_dimension_title (s_model_t *model, const char *title)
{
    const char *separator = strstr (title, " \xe2\x80\x94 ");
    if (!separator || separator == title)
        return "";
    size_t length = (size_t) (separator - title);
    char *copy = (char *) malloc (length + 1);
    if (!copy) {
        model->arena.failed = true;
        return "";
    }
    memcpy (copy, title, length);
    copy [length] = '\0';
    const char *kept = s_arena_keep (&model->arena, copy);
    return kept? kept: "";
}

//  The groups of an item's policy area and dimension (created if new).
static void
s_area_dimension (s_model_t *model, const s_item_t *item)
{
    s_group (model->areas, &model->area_count, item->area);
    s_group (model->dimensions, &model->dimension_count, item->dimension);
}

//  Puts item in slot unless an earlier input took it (the first wins).
static bool
s_place_once (s_item_t **slot, s_item_t *item)
{
    if (*slot)
        return false;
    *slot = item;
    return true;
}

//  Builds the model of ctx's inputs. 0, or -1 when out of memory.
static int
s_model_build (s_model_t *model, const fac_context_t *ctx, const s_params_t *cfg)
{
    const fac_contract_t *contract = ctx->compiled? ctx->compiled->contract: NULL;
    memset (model, 0, sizeof *model);
    model->cfg = cfg;
    model->title = cfg->title? cfg->title
                 : contract && contract->title && *contract->title
                 ? s_clean (&model->arena, contract->title, S_TITLE_MAX): "FARFAN report";
    //  The contract's inputs in its order, matched to what the request
    //  carried (the engine passes them in that order already).
    size_t count = contract? contract->input_count: ctx->input_count;
    model->items = (s_item_t *) calloc (count? count: 1, sizeof (s_item_t));
    model->others = (s_item_t **) calloc (count? count: 1, sizeof (s_item_t *));
    model->questions = (s_item_t **) calloc (count? count: 1, sizeof (s_item_t *));
    model->clusters = (s_group_t *) calloc (count? count: 1, sizeof (s_group_t));
    model->areas = (s_group_t *) calloc (count? count: 1, sizeof (s_group_t));
    model->dimensions = (s_group_t *) calloc (count? count: 1, sizeof (s_group_t));
    if (!model->items || !model->others || !model->questions || !model->clusters
    ||  !model->areas || !model->dimensions)
        return -1;
    model->item_count = count;
    size_t ref_total = 0, element_total = 0, missing_total = 0;
    for (size_t i = 0; i < count; i++) {
        const char *id = contract? contract->input_contracts [i]: ctx->inputs [i].contract_id;
        const fac_input_t *input = NULL;
        if (i < ctx->input_count && ctx->inputs [i].contract_id && id
        &&  strcmp (ctx->inputs [i].contract_id, id) == 0)
            input = &ctx->inputs [i];
        for (size_t j = 0; !input && id && j < ctx->input_count; j++)
            if (ctx->inputs [j].contract_id && strcmp (ctx->inputs [j].contract_id, id) == 0)
                input = &ctx->inputs [j];
        s_item_t *item = &model->items [i];
        s_item_init (model, item, id, input);
        if (item->status == S_RESULT_OK)
            model->ok_count++;
        if (item->role == S_ROLE_QUESTION && input && item->status == S_RESULT_OK) {
            element_total += input->evidence_count;
            missing_total += input->missing_count;
            ref_total += cfg->evidence_per_question;
        }
    }
    model->refs = (s_ref_t *) calloc (ref_total? ref_total: 1, sizeof (s_ref_t));
    model->elements = (s_element_t *) calloc (element_total? element_total: 1, sizeof (s_element_t));
    model->missing = (const char **) calloc (missing_total? missing_total: 1, sizeof (char *));
    if (!model->refs || !model->elements || !model->missing)
        return -1;

    //  Place every item; a second macro, cluster, policy area (or, below,
    //  dimension score) for the same place is listed among the others.
    size_t ref_next = 0, element_next = 0, missing_next = 0;
    for (size_t i = 0; i < count; i++) {
        s_item_t *item = &model->items [i];
        s_group_t *group = NULL;
        bool placed = false;
        switch (item->role) {
            case S_ROLE_MACRO:
                placed = s_place_once (&model->macro, item);
                break;
            case S_ROLE_PROFILE:
                placed = s_place_once (&model->profile, item);
                break;
            case S_ROLE_SECTIONS:
                placed = s_place_once (&model->sections_item, item);
                break;
            case S_ROLE_RECOMMEND:
                placed = s_place_once (&model->recommend_item, item);
                break;
            case S_ROLE_CLUSTER:
                group = s_group (model->clusters, &model->cluster_count, item->cluster);
                placed = group && s_place_once (&group->item, item);
                break;
            case S_ROLE_AREA:
                group = s_group (model->areas, &model->area_count, item->area);
                placed = group && s_place_once (&group->item, item);
                break;
            case S_ROLE_CELL:
                s_area_dimension (model, item);
                placed = true;          // duplicates found below, with the table
                break;
            case S_ROLE_QUESTION:
                s_area_dimension (model, item);
                model->questions [model->question_count++] = item;
                s_question_evidence (model, item, &ref_next, &element_next, &missing_next);
                placed = true;
                break;
            case S_ROLE_OTHER:
                break;
        }
        if (!placed)
            model->others [model->other_count++] = item;
    }
    qsort (model->areas, model->area_count, sizeof (s_group_t), s_compare_groups);
    qsort (model->dimensions, model->dimension_count, sizeof (s_group_t), s_compare_groups);
    qsort (model->questions, model->question_count, sizeof (s_item_t *), s_compare_questions);

    //  The dimension × area table.
    size_t cells = model->area_count * model->dimension_count;
    model->cells = (s_item_t **) calloc (cells? cells: 1, sizeof (s_item_t *));
    if (!model->cells)
        return -1;
    for (size_t i = 0; i < count; i++) {
        s_item_t *item = &model->items [i];
        if (item->role != S_ROLE_CELL)
            continue;
        size_t a = (size_t) (s_group_find (model->areas, model->area_count, item->area) - model->areas);
        size_t d = (size_t) (s_group_find (model->dimensions, model->dimension_count, item->dimension)
                           - model->dimensions);
        s_item_t **cell = &model->cells [a * model->dimension_count + d];
        if (*cell)
            model->others [model->other_count++] = item;
        else
            *cell = item;
        if (!*model->dimensions [d].title)
            model->dimensions [d].title = s_dimension_title (model, item->title);
    }
    //  A question without a dimension: the one of the cell listing it.
    for (size_t q = 0; q < model->question_count; q++) {
        s_item_t *item = model->questions [q];
        if (*item->dimension)
            continue;
        s_group_t *area = s_group_find (model->areas, model->area_count, item->area);
        size_t a = area? (size_t) (area - model->areas): 0;
        for (size_t d = 0; area && d < model->dimension_count; d++)
            if (s_output_lists (model->cells [a * model->dimension_count + d], item->id)) {
                item->dimension = model->dimensions [d].code;
                break;
            }
    }
    //  Areas: title, cluster (its own identity, else the cluster
    //  aggregation listing it, else its questions' or cells'), questions.
    for (size_t a = 0; a < model->area_count; a++) {
        s_group_t *area = &model->areas [a];
        if (area->item) {
            area->title = area->item->title;
            area->cluster = area->item->cluster;
        }
        for (size_t c = 0; !*area->cluster && area->item && c < model->cluster_count; c++)
            if (s_output_lists (model->clusters [c].item, area->item->id))
                area->cluster = model->clusters [c].code;
        for (size_t i = 0; !*area->cluster && i < count; i++) {
            const s_item_t *item = &model->items [i];
            if ((item->role == S_ROLE_QUESTION || item->role == S_ROLE_CELL)
            &&  strcmp (item->area, area->code) == 0 && *item->cluster)
                area->cluster = item->cluster;
        }
        s_group (model->clusters, &model->cluster_count, area->cluster);
    }
    qsort (model->clusters, model->cluster_count, sizeof (s_group_t), s_compare_groups);
    for (size_t c = 0; c < model->cluster_count; c++)
        if (model->clusters [c].item)
            model->clusters [c].title = model->clusters [c].item->title;
    size_t q = 0;
    for (size_t a = 0; a < model->area_count; a++) {
        s_group_t *area = &model->areas [a];
        area->first = q;
        while (q < model->question_count && strcmp (model->questions [q]->area, area->code) == 0)
            q++;
        area->count = q - area->first;
    }
    s_sections_read (model);
    s_recommendations_read (model);
    return model->arena.failed? -1: 0;
}

//  ---------------------------------------------------------------------
//  JSON: every level, every score with its evidence references

typedef struct {
    s_buf_t *buf;
    int depth;
    bool first [S_JSON_DEPTH];
    bool compact [S_JSON_DEPTH];        // container written on one line
} s_jw_t;

//  A newline and the indentation of every depth (2 spaces a level).
static const char s_newline_indent [] = "\n                                ";

static void
s_jw_key (s_jw_t *w, const char *key)
{
    if (!w->first [w->depth])
        s_buf_add (w->buf, w->compact [w->depth]? ", ": ",");
    if (!w->compact [w->depth] && w->depth > 0)
        s_buf_addn (w->buf, s_newline_indent, 1 + 2 * (size_t) w->depth);
    w->first [w->depth] = false;
    if (key) {
        s_json_string (w->buf, key);
        s_buf_lit (w->buf, ": ");
    }
}

static void
s_jw_open (s_jw_t *w, const char *key, const char *bracket, bool compact)
{
    s_jw_key (w, key);
    s_buf_add (w->buf, bracket);
    assert (w->depth + 1 < S_JSON_DEPTH);      // the renderer nests at most 5 deep
    w->depth++;
    w->first [w->depth] = true;
    w->compact [w->depth] = compact || w->compact [w->depth - 1];
}

static void
s_jw_close (s_jw_t *w, const char *bracket)
{
    bool was_empty = w->first [w->depth];
    bool compact = w->compact [w->depth];
    w->depth--;
    if (!compact && !was_empty)
        s_buf_addn (w->buf, s_newline_indent, 1 + 2 * (size_t) w->depth);
    s_buf_add (w->buf, bracket);
}

static void
s_jw_str (s_jw_t *w, const char *key, const char *value)
{
    s_jw_key (w, key);
    if (value)
        s_json_string (w->buf, value);
    else
        s_buf_lit (w->buf, "null");
}

//  A code or title; "" (unknown) as null.
static void
s_jw_text (s_jw_t *w, const char *key, const char *value)
{
    s_jw_str (w, key, value && *value? value: NULL);
}

static void
s_jw_num (s_jw_t *w, const char *key, double value)
{
    s_jw_key (w, key);
    if (isfinite (value)) {
        char number [40];
        s_number (number, sizeof number, value);
        s_buf_add (w->buf, number);
    }
    else
        s_buf_lit (w->buf, "null");
}

static void
s_jw_int (s_jw_t *w, const char *key, long long value)
{
    s_jw_key (w, key);
    s_buf_printf (w->buf, "%lld", value);
}

static void
s_jw_bool (s_jw_t *w, const char *key, bool value)
{
    s_jw_key (w, key);
    s_buf_add (w->buf, value? "true": "false");
}

//  A JSON value from an input, on one line, numbers as s_number writes
//  them; null when absent. Deeper than the writer nests: jansson's dump.
static void
s_jw_value (s_jw_t *w, const char *key, const json_t *value)
{
    if (value && (json_is_object (value) || json_is_array (value)) && w->depth + 2 >= S_JSON_DEPTH) {
        s_jw_key (w, key);
        char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            w->buf->failed = true;
        s_buf_add (w->buf, text? text: "null");
        free (text);
        return;
    }
    switch (value? json_typeof (value): JSON_NULL) {
        case JSON_OBJECT: {
            const char *member;
            json_t *entry;
            s_jw_open (w, key, "{", true);
            json_object_foreach ((json_t *) value, member, entry)
                s_jw_value (w, member, entry);
            s_jw_close (w, "}");
            break;
        }
        case JSON_ARRAY: {
            size_t index;
            json_t *entry;
            s_jw_open (w, key, "[", true);
            json_array_foreach ((json_t *) value, index, entry)
                s_jw_value (w, NULL, entry);
            s_jw_close (w, "]");
            break;
        }
        case JSON_STRING:
            s_jw_str (w, key, json_string_value (value));
            break;
        case JSON_INTEGER:
            s_jw_int (w, key, (long long) json_integer_value (value));
            break;
        case JSON_REAL:
            s_jw_num (w, key, json_real_value (value));
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            s_jw_bool (w, key, json_is_true (value));
            break;
        default:
            s_jw_key (w, key);
            s_buf_lit (w->buf, "null");
            break;
    }
}

//  The members every scored input has.
static void
s_jw_result (s_jw_t *w, const s_item_t *item)
{
    s_jw_text (w, "contract", item? item->id: NULL);
    s_jw_str (w, "status", item? s_status_name (item->status): "missing");
    s_jw_num (w, "score", item? item->score: NAN);
    s_jw_text (w, "quality", item? item->quality: NULL);
    s_jw_num (w, "ratio", item? item->ratio: NAN);
    s_jw_num (w, "confidence", item? item->confidence: NAN);
}

//  An aggregation: the result, and its method's output (inputs used and
//  missing, weights, dispersion, coherence): the references of its score.
static void
s_jw_aggregate (s_jw_t *w, const s_item_t *item)
{
    s_jw_result (w, item);
    s_jw_value (w, "output", item? item->output: NULL);
}

//  {"contract", "status", "count", "listed", "malformed", "items": [ of
//  what one input found (plan sections, recommendations); the caller
//  writes the items and closes both.
static void
s_jw_listing_open (s_jw_t *w, const char *key, const s_item_t *item, size_t total, size_t listed,
                   size_t malformed)
{
    s_jw_open (w, key, "{", false);
    s_jw_str (w, "contract", item->id);
    s_jw_str (w, "status", s_status_name (item->status));
    s_jw_int (w, "count", (long long) total);
    s_jw_int (w, "listed", (long long) listed);
    s_jw_int (w, "malformed", (long long) malformed);
    s_jw_open (w, "items", "[", false);
}

static void
s_render_json (s_buf_t *buf, const s_model_t *model)
{
    s_jw_t writer = { .buf = buf };
    s_jw_t *w = &writer;
    writer.first [0] = true;
    s_jw_open (w, NULL, "{", false);
    s_jw_str (w, "format", "farfan-report/1");
    s_jw_str (w, "title", model->title);

    s_jw_open (w, "inputs", "{", false);
    s_jw_int (w, "total", (long long) model->item_count);
    s_jw_int (w, "ok", (long long) model->ok_count);
    s_jw_num (w, "ratio", model->item_count? (double) model->ok_count / (double) model->item_count: 0);
    s_jw_open (w, "not_ok", "[", false);
    for (size_t i = 0; i < model->item_count; i++) {
        const s_item_t *item = &model->items [i];
        if (item->status == S_RESULT_OK)
            continue;
        s_jw_open (w, NULL, "{", true);
        s_jw_str (w, "contract", item->id);
        s_jw_text (w, "type", item->type);
        s_jw_str (w, "status", s_status_name (item->status));
        s_jw_close (w, "}");
    }
    s_jw_close (w, "]");
    s_jw_close (w, "}");

    if (model->profile) {
        s_jw_open (w, "document", "{", false);
        s_jw_str (w, "contract", model->profile->id);
        s_jw_str (w, "status", s_status_name (model->profile->status));
        s_jw_value (w, "profile", model->profile->output
                             ? json_object_get (model->profile->output, "text.profile"): NULL);
        s_jw_close (w, "}");
    }
    else
        s_jw_value (w, "document", NULL);

    if (model->sections_item) {
        s_jw_listing_open (w, "sections", model->sections_item, model->section_total,
                           model->section_count, model->section_malformed);
        for (size_t i = 0; i < model->section_count; i++) {
            const s_section_t *section = &model->sections [i];
            s_jw_open (w, NULL, "{", true);
            s_jw_str (w, "title", section->title);
            s_jw_int (w, "offset", section->offset);
            s_jw_int (w, "length", section->length);
            s_jw_int (w, "level", section->level);
            if (section->page > 0)
                s_jw_int (w, "page", section->page);
            s_jw_close (w, "}");
        }
        s_jw_close (w, "]");
        s_jw_close (w, "}");
    }
    else
        s_jw_value (w, "sections", NULL);

    if (model->macro) {
        s_jw_open (w, "macro", "{", false);
        s_jw_text (w, "title", model->macro->title);
        s_jw_aggregate (w, model->macro);
        s_jw_close (w, "}");
    }
    else
        s_jw_value (w, "macro", NULL);

    s_jw_open (w, "clusters", "[", false);
    for (size_t c = 0; c < model->cluster_count; c++) {
        const s_group_t *cluster = &model->clusters [c];
        s_jw_open (w, NULL, "{", false);
        s_jw_str (w, "code", cluster->code);
        s_jw_text (w, "title", cluster->title);
        s_jw_open (w, "policy_areas", "[", true);
        for (size_t a = 0; a < model->area_count; a++)
            if (strcmp (model->areas [a].cluster, cluster->code) == 0)
                s_jw_str (w, NULL, model->areas [a].code);
        s_jw_close (w, "]");
        s_jw_aggregate (w, cluster->item);
        s_jw_close (w, "}");
    }
    s_jw_close (w, "]");

    s_jw_open (w, "dimensions", "[", false);
    for (size_t d = 0; d < model->dimension_count; d++) {
        s_jw_open (w, NULL, "{", true);
        s_jw_str (w, "code", model->dimensions [d].code);
        s_jw_text (w, "title", model->dimensions [d].title);
        s_jw_close (w, "}");
    }
    s_jw_close (w, "]");

    s_jw_open (w, "policy_areas", "[", false);
    for (size_t a = 0; a < model->area_count; a++) {
        const s_group_t *area = &model->areas [a];
        s_jw_open (w, NULL, "{", false);
        s_jw_str (w, "code", area->code);
        s_jw_text (w, "title", area->title);
        s_jw_text (w, "cluster", area->cluster);
        s_jw_aggregate (w, area->item);
        s_jw_open (w, "dimensions", "[", false);
        for (size_t d = 0; d < model->dimension_count; d++) {
            const s_item_t *cell = model->cells [a * model->dimension_count + d];
            if (!cell)
                continue;
            s_jw_open (w, NULL, "{", false);
            s_jw_str (w, "dimension", model->dimensions [d].code);
            s_jw_text (w, "title", cell->title);
            s_jw_aggregate (w, cell);
            s_jw_close (w, "}");
        }
        s_jw_close (w, "]");
        s_jw_open (w, "questions", "[", true);
        for (size_t q = area->first; q < area->first + area->count; q++)
            s_jw_str (w, NULL, model->questions [q]->id);
        s_jw_close (w, "]");
        s_jw_close (w, "}");
    }
    s_jw_close (w, "]");

    s_jw_open (w, "questions", "[", false);
    for (size_t q = 0; q < model->question_count; q++) {
        const s_item_t *item = model->questions [q];
        s_jw_open (w, NULL, "{", false);
        s_jw_text (w, "base_question", item->question);
        s_jw_text (w, "policy_area", item->area);
        s_jw_text (w, "dimension", item->dimension);
        s_jw_text (w, "cluster", item->cluster);
        s_jw_text (w, "title", item->title);
        s_jw_result (w, item);
        s_jw_text (w, "modality", item->modality);
        s_jw_open (w, "missing_elements", "[", true);
        for (size_t m = 0; m < item->missing_count; m++)
            s_jw_str (w, NULL, item->missing [m]);
        s_jw_close (w, "]");
        s_jw_open (w, "elements", "[", false);
        for (size_t e = 0; e < item->element_count; e++) {
            const s_element_t *element = &item->elements [e];
            s_jw_open (w, NULL, "{", true);
            s_jw_str (w, "element_type", element->type);
            s_jw_int (w, "count", element->count);
            s_jw_int (w, "minimum", element->minimum);
            s_jw_bool (w, "required", element->required);
            s_jw_bool (w, "satisfied", element->satisfied);
            s_jw_close (w, "}");
        }
        s_jw_close (w, "]");
        s_jw_int (w, "matches", (long long) item->match_total);
        s_jw_open (w, "evidence", "[", false);
        for (size_t r = 0; r < item->ref_count; r++) {
            const s_ref_t *ref = &item->refs [r];
            s_jw_open (w, NULL, "{", true);
            s_jw_str (w, "contract", item->id);
            s_jw_str (w, "element_type", ref->element);
            s_jw_int (w, "offset", (long long) ref->offset);
            s_jw_int (w, "length", ref->length);
            s_jw_str (w, "text", ref->text);
            s_jw_text (w, "pattern", ref->pattern);
            s_jw_close (w, "}");
        }
        s_jw_close (w, "]");
        s_jw_close (w, "}");
    }
    s_jw_close (w, "]");

    if (model->recommend_item) {
        s_jw_listing_open (w, "recommendations", model->recommend_item, model->recommendation_total,
                           model->recommendation_count, model->recommendation_malformed);
        for (size_t r = 0; r < model->recommendation_count; r++) {
            const s_recommendation_t *rec = &model->recommendations [r];
            s_jw_open (w, NULL, "{", true);
            s_jw_text (w, "priority", rec->priority);
            s_jw_text (w, "rule", rec->rule);
            s_jw_text (w, "contract", rec->contract);
            s_jw_text (w, "base_question", rec->question);
            s_jw_text (w, "policy_area", rec->area);
            s_jw_text (w, "dimension", rec->dimension);
            s_jw_num (w, "score", rec->score);
            s_jw_text (w, "quality", rec->quality);
            s_jw_text (w, "element", rec->element);
            if (rec->section_offset >= 0) {
                s_jw_open (w, "section", "{", true);
                s_jw_str (w, "title", rec->section);
                s_jw_int (w, "offset", rec->section_offset);
                if (rec->section_page > 0)
                    s_jw_int (w, "page", rec->section_page);
                s_jw_close (w, "}");
            }
            else
                s_jw_value (w, "section", NULL);
            s_jw_str (w, "text", rec->text);
            s_jw_close (w, "}");
        }
        s_jw_close (w, "]");
        s_jw_close (w, "}");
    }
    else
        s_jw_value (w, "recommendations", NULL);

    s_jw_open (w, "other_inputs", "[", false);
    for (size_t o = 0; o < model->other_count; o++) {
        const s_item_t *item = model->others [o];
        s_jw_open (w, NULL, "{", true);
        s_jw_text (w, "type", item->type);
        s_jw_text (w, "title", item->title);
        s_jw_result (w, item);
        s_jw_close (w, "}");
    }
    s_jw_close (w, "]");
    s_jw_close (w, "}");
    s_buf_lit (buf, "\n");
}

//  ---------------------------------------------------------------------
//  Markdown and HTML: one walk over the model (s_render_text); a format
//  (s_markdown, s_html_page) gives the markup

//  The score as shown: "2.35", or what stands for it (missing, failed...).
static const char *
s_score_text (const s_item_t *item, char *out, size_t size)
{
    const char *state = s_state (item);
    if (state)
        return state;
    snprintf (out, size, "%.2f", item->score);
    return out;
}

//  A 0..1 figure with two decimals; "—" when unset.
static const char *
s_fixed (double value, char *out, size_t size)
{
    if (!isfinite (value))
        return "\xe2\x80\x94";
    snprintf (out, size, "%.2f", value);
    return out;
}

//  A page number; "—" when unknown.
static const char *
s_page_text (long long page, char *out, size_t size)
{
    if (page <= 0)
        return "\xe2\x80\x94";
    snprintf (out, size, "%lld", page);
    return out;
}

static const char *
s_or_dash (const char *text)
{
    return text && *text? text: "\xe2\x80\x94";
}

//  What an aggregation's method reports beside its score: the dispersion
//  penalty and the coherence adjustment. "" when neither.
static void
s_aggregate_note (const s_item_t *item, char *out, size_t size)
{
    out [0] = '\0';
    if (!item || !item->output)
        return;
    json_t *dispersion = s_output_member (item, "dispersion");
    json_t *coherence = s_output_member (item, "coherence");
    size_t used = 0;
    json_t *stddev = json_object_get (dispersion, "stddev");
    json_t *penalty = json_object_get (dispersion, "penalty");
    if (json_is_number (stddev) && json_is_number (penalty)) {
        int n = snprintf (out, size, "\xcf\x83 %.2f, penalty %.2f", json_number_value (stddev),
                          json_number_value (penalty));
        used = n > 0 && (size_t) n < size? (size_t) n: 0;
    }
    json_t *index = json_object_get (coherence, "index");
    json_t *factor = json_object_get (coherence, "factor");
    if (json_is_number (index) && json_is_number (factor))
        snprintf (out + used, size - used, "%scoherence %.2f, factor %.2f", used? "; ": "",
                  json_number_value (index), json_number_value (factor));
}

//  A profile value as plain text (numbers as given, arrays joined).
static void
s_value_text (s_buf_t *out, const json_t *value)
{
    char number [40];
    switch (json_typeof (value)) {
        case JSON_STRING:
            s_buf_add (out, json_string_value (value));
            break;
        case JSON_INTEGER:
            s_buf_printf (out, "%lld", (long long) json_integer_value (value));
            break;
        case JSON_REAL:
            s_number (number, sizeof number, json_real_value (value));
            s_buf_add (out, number);
            break;
        case JSON_TRUE:
            s_buf_lit (out, "yes");
            break;
        case JSON_FALSE:
            s_buf_lit (out, "no");
            break;
        case JSON_ARRAY: {
            size_t index;
            json_t *entry;
            json_array_foreach ((json_t *) value, index, entry) {
                if (index)
                    s_buf_lit (out, "; ");
                s_value_text (out, entry);
            }
            if (json_array_size (value) == 0)
                s_buf_lit (out, "none");
            break;
        }
        case JSON_OBJECT: {
            char *text = json_dumps (value, JSON_COMPACT);
            s_buf_add (out, text? text: "");
            free (text);
            break;
        }
        default:
            s_buf_lit (out, "\xe2\x80\x94");
            break;
    }
}

//  The report's first sentences: how many inputs it has, how to read it.
static void
s_lead (s_buf_t *buf, const s_model_t *model)
{
    s_buf_printf (buf, "%zu of %zu inputs present and OK (%.1f %%). Scores are on the 0\xe2\x80\x93"
                  "3 scale; each names the contract that produced it, and each quote gives its "
                  "byte offset and length in the submitted text.", model->ok_count, model->item_count,
                  model->item_count? 100.0 * (double) model->ok_count / (double) model->item_count: 0.0);
}

//  The codes of a cluster's policy areas into codes (room for every area).
static size_t
s_cluster_areas (const s_model_t *model, const char *cluster, const char **codes)
{
    size_t count = 0;
    for (size_t a = 0; a < model->area_count; a++)
        if (strcmp (model->areas [a].cluster, cluster) == 0)
            codes [count++] = model->areas [a].code;
    return count;
}

typedef void (s_escape_fn) (s_buf_t *buf, const char *text);

//  A bar of a chart: what it stands for, and its result (NULL: missing).
typedef struct {
    const char *code;
    const char *name;
    const s_item_t *item;
} s_bar_t;

//  A column of a table: its heading, and whether it holds figures
//  (right-aligned).
typedef struct {
    const char *name;
    bool figure;
} s_column_t;

//  The table heading of a list of columns.
#define S_COLUMNS(...) (const s_column_t []) { __VA_ARGS__ }, \
    sizeof ((const s_column_t []) { __VA_ARGS__ }) / sizeof (s_column_t)

//  What the human formats differ in. Every piece of text written through
//  it comes escaped by the format; a NULL hook writes nothing.
typedef struct {
    s_escape_fn *escape;
    //  The page before the first section (title, lead) and after the last.
    void (*begin) (s_buf_t *buf, const s_model_t *model);
    void (*end) (s_buf_t *buf, const s_model_t *model);
    //  A section's heading (id: an anchor) and its end.
    void (*section_open) (s_buf_t *buf, const char *id, const char *title);
    const char *section_close;
    //  A table's heading row, and its end once a heading was written.
    void (*table_open) (s_buf_t *buf, const s_column_t *columns, size_t count);
    const char *table_close;
    //  After a count line whose table has no row (no heading written).
    const char *no_table;
    //  One cell of escaped text ("—" for ""); class_name (HTML; "n": a
    //  figure) may be NULL.
    void (*cell) (s_buf_t *buf, const char *class_name, const char *text);
    //  The score cell of a result; NULL item: missing.
    void (*score_cell) (s_buf_t *buf, const s_item_t *item);
    //  The opening of a plan section's title cell (indented by level).
    void (*section_title_open) (s_buf_t *buf, long long level);
    //  The quotes of a question's evidence, in its cell.
    void (*evidence) (s_buf_t *buf, const s_item_t *item);
    //  The charts (HTML): bars of clusters and areas, of one area's questions.
    void (*hbars) (s_buf_t *buf, const char *caption, const s_bar_t *bars, size_t count);
    void (*vbars) (s_buf_t *buf, const char *caption, const s_bar_t *bars, size_t count);
    //  Before the overall table: the score at a glance (HTML).
    void (*overall_lead) (s_buf_t *buf, const s_item_t *macro);
    //  Around the dimension table: heading row, and after it (the names of
    //  the dimensions, where the heading has no room for them).
    void (*matrix_open) (s_buf_t *buf, const s_model_t *model);
    void (*matrix_close) (s_buf_t *buf, const s_model_t *model);
    const char *row_open, *row_close;           // a table's row
    const char *cell_open, *cell_close;         // a cell written in pieces
    const char *figure_open;                    // a cell of a figure
    const char *line_open, *line_close;         // a line of text, its full stop
    const char *note_open, *note_close;         // a remark (nothing to show)
    const char *aside_open, *aside_close;       // a figure's detail (offsets)
    const char *muted_open, *muted_close;       // a placeholder
    const char *area_open, *area_close;         // the heading of an area's questions
    const char *code_open, *code_close;         // a contract id in a remark
    const char *head_open, *head_close;         // the first cell of a row of the
    const char *small_open, *small_close;       // dimension table: code, small name
    const char *others_heading;                 // of the inputs that fit nowhere
} s_format_t;

//  A remark where there is nothing to show.
static void
s_note (s_buf_t *buf, const s_format_t *f, const char *text)
{
    s_buf_add (buf, f->note_open);
    s_buf_add (buf, text);
    s_buf_add (buf, f->note_close);
}

//  "No <what>": no input provides it, or the one that does is not OK.
static void
s_missing_note (s_buf_t *buf, const s_format_t *f, const char *what, const s_item_t *item)
{
    s_buf_add (buf, f->note_open);
    if (!item)
        s_buf_printf (buf, "No input of this report provides the %s.", what);
    else {
        s_buf_printf (buf, "No %s: %s", what, f->code_open);
        f->escape (buf, item->id);
        s_buf_printf (buf, "%s %s.", f->code_close, s_status_phrase (item->status));
    }
    s_buf_add (buf, f->note_close);
}

//  Before what an input that is not OK reported: that it is not.
static void
s_status_note (s_buf_t *buf, const s_format_t *f, const s_item_t *item)
{
    if (item->status == S_RESULT_OK)
        return;
    s_buf_add (buf, f->note_open);
    s_buf_add (buf, f->code_open);
    f->escape (buf, item->id);
    s_buf_printf (buf, "%s %s; what it reported:", f->code_close, s_status_phrase (item->status));
    s_buf_add (buf, f->note_close);
}

//  The heading of a section listing what one input found (recommendations,
//  plan sections): false, with a note, when there is nothing to list.
static bool
s_listing_open (s_buf_t *buf, const s_format_t *f, const char *id, const char *title,
                const char *missing_what, const s_item_t *item, bool present, const char *what,
                size_t total, size_t malformed, size_t listed)
{
    f->section_open (buf, id, title);
    if (!item || !present) {
        s_missing_note (buf, f, missing_what, item);
        s_buf_add (buf, f->section_close);
        return false;
    }
    s_status_note (buf, f, item);
    s_buf_printf (buf, "%s%zu %s", f->line_open, total - malformed, what);
    if (malformed)
        s_buf_printf (buf, " (%zu malformed entries left out)", malformed);
    if (listed + malformed < total)
        s_buf_printf (buf, ", the first %zu listed", listed);
    s_buf_add (buf, f->line_close);
    return true;
}

//  The score, quality and confidence cells of an aggregation (NULL: missing).
static void
s_result_cells (s_buf_t *buf, const s_format_t *f, const s_item_t *item)
{
    char figure [32];
    f->score_cell (buf, item);
    f->cell (buf, NULL, item? item->quality: "");
    f->cell (buf, "n", s_fixed (item? item->confidence: NAN, figure, sizeof figure));
}

//  One bar per group (clusters, policy areas) into bars (when charted).
static void
s_group_bars (s_bar_t *bars, const s_group_t *groups, size_t count)
{
    for (size_t g = 0; bars && g < count; g++)
        bars [g] = (s_bar_t) { groups [g].code, groups [g].title, groups [g].item };
}

//  A cell listing texts, ", " between them; "—" for none.
static void
s_list_cell (s_buf_t *buf, const s_format_t *f, const char *const *texts, size_t count)
{
    s_buf_add (buf, f->cell_open);
    for (size_t i = 0; i < count; i++) {
        s_buf_add (buf, i? ", ": "");
        f->escape (buf, texts [i]);
    }
    if (!count)
        s_buf_lit (buf, "\xe2\x80\x94");
    s_buf_add (buf, f->cell_close);
}

static void
s_text_overall (s_buf_t *buf, const s_format_t *f, const s_model_t *model)
{
    char figure [32], note [160];
    f->section_open (buf, "overall", "Overall");
    const s_item_t *macro = model->macro;
    if (macro) {
        if (f->overall_lead)
            f->overall_lead (buf, macro);
        f->table_open (buf, S_COLUMNS ({ "Contract", false }, { "Title", false }, { "Score", true },
                                       { "Quality", false }, { "Confidence", true },
                                       { "Adjustment", false }));
        s_buf_add (buf, f->row_open);
        s_aggregate_note (macro, note, sizeof note);
        f->cell (buf, NULL, macro->id);
        f->cell (buf, NULL, macro->title);
        f->score_cell (buf, macro);
        f->cell (buf, NULL, macro->quality);
        f->cell (buf, "n", s_fixed (macro->confidence, figure, sizeof figure));
        f->cell (buf, NULL, note);
        s_buf_add (buf, f->row_close);
        s_buf_add (buf, f->table_close);
    }
    else
        s_missing_note (buf, f, "overall score", NULL);
    s_buf_add (buf, f->section_close);
}

//  Each member of the text.profile object as a row (measure, value).
static void
s_text_document (s_buf_t *buf, const s_format_t *f, const s_model_t *model)
{
    f->section_open (buf, "document", "Document");
    json_t *profile = model->profile && model->profile->output
                    ? json_object_get (model->profile->output, "text.profile"): NULL;
    if (!json_is_object (profile)) {
        s_missing_note (buf, f, "document profile", model->profile);
        s_buf_add (buf, f->section_close);
        return;
    }
    s_status_note (buf, f, model->profile);
    f->table_open (buf, S_COLUMNS ({ "Measure", false }, { "Value", false }));
    const char *key;
    json_t *value;
    s_buf_t text = { 0 };
    json_object_foreach (profile, key, value) {
        text.size = 0;
        s_value_text (&text, value);
        if (text.failed) {
            buf->failed = true;
            break;
        }
        s_buf_add (buf, f->row_open);
        s_buf_add (buf, f->cell_open);
        f->escape (buf, key);
        s_buf_add (buf, f->cell_close);
        s_buf_add (buf, f->cell_open);
        s_arena_t arena = { 0 };
        f->escape (buf, s_clean (&arena, text.size? text.data: "", S_TEXT_MAX));
        buf->failed |= arena.failed;
        s_arena_free (&arena);
        s_buf_add (buf, f->cell_close);
        s_buf_add (buf, f->row_close);
    }
    free (text.data);
    s_buf_add (buf, f->table_close);
    s_buf_add (buf, f->section_close);
}

//  After a group's code and name: the rest of its row. codes: room for
//  the code of every policy area.
typedef void (s_group_row_fn) (s_buf_t *buf, const s_format_t *f, const s_model_t *model,
                               const s_group_t *group, const char **codes);

//  A cluster: its policy areas, its result, the aggregation's adjustment.
static void
s_cluster_row (s_buf_t *buf, const s_format_t *f, const s_model_t *model, const s_group_t *cluster,
               const char **codes)
{
    char note [160];
    s_list_cell (buf, f, codes, s_cluster_areas (model, cluster->code, codes));
    s_aggregate_note (cluster->item, note, sizeof note);
    s_result_cells (buf, f, cluster->item);
    f->cell (buf, NULL, note);
    f->cell (buf, NULL, cluster->item? cluster->item->id: "");
}

//  A policy area: its cluster and its result.
static void
s_area_row (s_buf_t *buf, const s_format_t *f, const s_model_t *model, const s_group_t *area,
            const char **codes)
{
    f->cell (buf, NULL, area->cluster);
    s_result_cells (buf, f, area->item);
    f->cell (buf, NULL, area->item? area->item->id: "");
}

//  A section of groups (clusters, policy areas): a chart of their scores
//  and a row each, or the remark empty when there are none.
static void
s_group_section (s_buf_t *buf, const s_format_t *f, const s_model_t *model, s_bar_t *bars,
                 const char **codes, const char *id, const char *title, const s_group_t *groups,
                 size_t count, const char *caption, const s_column_t *columns, size_t column_count,
                 s_group_row_fn *row, const char *empty)
{
    f->section_open (buf, id, title);
    if (count) {
        s_group_bars (bars, groups, count);
        if (f->hbars)
            f->hbars (buf, caption, bars, count);
        f->table_open (buf, columns, column_count);
        for (size_t g = 0; g < count; g++) {
            s_buf_add (buf, f->row_open);
            f->cell (buf, NULL, groups [g].code);
            f->cell (buf, NULL, groups [g].title);
            row (buf, f, model, &groups [g], codes);
            s_buf_add (buf, f->row_close);
        }
        s_buf_add (buf, f->table_close);
    }
    else
        s_note (buf, f, empty);
    s_buf_add (buf, f->section_close);
}

//  Clusters and policy areas, then the dimension × policy area table.
static void
s_text_groups (s_buf_t *buf, const s_format_t *f, const s_model_t *model, s_bar_t *bars,
               const char **codes)
{
    s_group_section (buf, f, model, bars, codes, "clusters", "Clusters", model->clusters,
                     model->cluster_count, "Cluster scores (0-3)",
                     S_COLUMNS ({ "Cluster", false }, { "Name", false }, { "Policy areas", false },
                                { "Score", true }, { "Quality", false }, { "Confidence", true },
                                { "Adjustment", false }, { "Contract", false }),
                     s_cluster_row, "No cluster scores among the inputs.");
    s_group_section (buf, f, model, bars, codes, "areas", "Policy areas", model->areas,
                     model->area_count, "Policy area scores (0-3)",
                     S_COLUMNS ({ "Policy area", false }, { "Name", false }, { "Cluster", false },
                                { "Score", true }, { "Quality", false }, { "Confidence", true },
                                { "Contract", false }),
                     s_area_row, "No policy area scores among the inputs.");

    f->section_open (buf, "matrix", "Dimensions \xc3\x97 policy areas");
    if (model->area_count && model->dimension_count) {
        f->matrix_open (buf, model);
        for (size_t a = 0; a < model->area_count; a++) {
            s_buf_add (buf, f->head_open);
            f->escape (buf, model->areas [a].code);
            if (*model->areas [a].title) {
                s_buf_add (buf, f->small_open);
                f->escape (buf, model->areas [a].title);
                s_buf_add (buf, f->small_close);
            }
            s_buf_add (buf, f->head_close);
            for (size_t d = 0; d < model->dimension_count; d++)
                f->score_cell (buf, model->cells [a * model->dimension_count + d]);
            s_buf_add (buf, f->row_close);
        }
        f->matrix_close (buf, model);
    }
    else
        s_note (buf, f, "No dimension scores among the inputs.");
    s_buf_add (buf, f->section_close);
}

//  The questions, by policy area: a chart and a row each.
static void
s_text_questions (s_buf_t *buf, const s_format_t *f, const s_model_t *model, s_bar_t *bars)
{
    f->section_open (buf, "questions", "Questions");
    if (!model->question_count)
        s_note (buf, f, "No question scores among the inputs.");
    //  Every question has a policy area (s_item_init), so is in one group.
    for (size_t a = 0; a < model->area_count; a++) {
        const s_group_t *area = &model->areas [a];
        s_buf_add (buf, f->area_open);
        f->escape (buf, area->code);
        if (*area->title) {
            s_buf_lit (buf, " \xe2\x80\x94 ");
            f->escape (buf, area->title);
        }
        s_buf_add (buf, f->area_close);
        if (!area->count) {
            s_note (buf, f, "No question scores of this policy area among the inputs.");
            continue;
        }
        if (f->vbars) {
            for (size_t q = 0; q < area->count; q++) {
                const s_item_t *item = model->questions [area->first + q];
                bars [q] = (s_bar_t) { *item->question? item->question: item->id, item->title, item };
            }
            s_buf_t caption = { 0 };
            s_buf_lit (&caption, "Question scores (0-3) of ");
            s_buf_add (&caption, area->code);
            f->vbars (buf, caption.failed? "Question scores (0-3)": caption.data, bars, area->count);
            free (caption.data);
        }
        f->table_open (buf, S_COLUMNS ({ "Question", false }, { "Dimension", false },
                                       { "Title", false }, { "Score", true }, { "Quality", false },
                                       { "Evidence quoted (byte offset, length)", false },
                                       { "Missing elements", false }));
        for (size_t q = area->first; q < area->first + area->count; q++) {
            const s_item_t *item = model->questions [q];
            s_buf_add (buf, f->row_open);
            f->cell (buf, NULL, *item->question? item->question: item->id);
            f->cell (buf, NULL, item->dimension);
            f->cell (buf, NULL, item->title);
            f->score_cell (buf, item);
            f->cell (buf, NULL, item->quality);
            s_buf_add (buf, f->cell_open);
            f->evidence (buf, item);
            s_buf_add (buf, f->cell_close);
            s_list_cell (buf, f, item->missing, item->missing_count);
            s_buf_add (buf, f->row_close);
        }
        s_buf_add (buf, f->table_close);
    }
    s_buf_add (buf, f->section_close);
}

static void
s_text_recommendations (s_buf_t *buf, const s_format_t *f, const s_model_t *model)
{
    char figure [32];
    if (!s_listing_open (buf, f, "recommendations", "Recommendations", "recommendations",
                         model->recommend_item, model->recommendations != NULL, "recommendations",
                         model->recommendation_total, model->recommendation_malformed,
                         model->recommendation_count))
        return;
    if (model->recommendation_count)
        f->table_open (buf, S_COLUMNS ({ "#", true }, { "Priority", false }, { "Question", false },
                                       { "Score", true }, { "Element", false },
                                       { "Section of the plan", false },
                                       { "Recommendation", false }));
    for (size_t r = 0; r < model->recommendation_count; r++) {
        const s_recommendation_t *rec = &model->recommendations [r];
        s_buf_printf (buf, "%s%s%zu%s", f->row_open, f->figure_open, r + 1, f->cell_close);
        f->cell (buf, NULL, rec->priority);
        s_buf_add (buf, f->cell_open);
        f->escape (buf, *rec->question? rec->question: s_or_dash (rec->contract));
        if (*rec->area) {
            s_buf_lit (buf, " \xc2\xb7 ");
            f->escape (buf, rec->area);
        }
        s_buf_add (buf, f->cell_close);
        f->cell (buf, "n", s_fixed (rec->score, figure, sizeof figure));
        f->cell (buf, NULL, rec->element);
        s_buf_add (buf, f->cell_open);
        if (rec->section_offset >= 0) {
            f->escape (buf, s_or_dash (rec->section));
            if (rec->section_page > 0)
                s_buf_printf (buf, "%sp. %lld, @%lld%s", f->aside_open, rec->section_page,
                              rec->section_offset, f->aside_close);
            else
                s_buf_printf (buf, "%s@%lld%s", f->aside_open, rec->section_offset, f->aside_close);
        }
        else
            s_buf_printf (buf, "%sno section found%s", f->muted_open, f->muted_close);
        s_buf_add (buf, f->cell_close);
        f->cell (buf, NULL, rec->text);
        s_buf_add (buf, f->row_close);
    }
    s_buf_add (buf, model->recommendation_count? f->table_close: f->no_table);
    s_buf_add (buf, f->section_close);
}

static void
s_text_sections (s_buf_t *buf, const s_format_t *f, const s_model_t *model)
{
    char figure [32];
    if (!s_listing_open (buf, f, "sections", "Plan sections", "list of plan sections",
                         model->sections_item, model->sections != NULL, "sections found",
                         model->section_total, model->section_malformed, model->section_count))
        return;
    if (model->section_count)
        f->table_open (buf, S_COLUMNS ({ "Level", true }, { "Title", false }, { "Page", true },
                                       { "Byte offset", true }, { "Length", true }));
    for (size_t i = 0; i < model->section_count; i++) {
        const s_section_t *section = &model->sections [i];
        s_buf_printf (buf, "%s%s%lld%s", f->row_open, f->figure_open, section->level, f->cell_close);
        f->section_title_open (buf, section->level);
        f->escape (buf, s_or_dash (section->title));
        s_buf_add (buf, f->cell_close);
        f->cell (buf, "n", s_page_text (section->page, figure, sizeof figure));
        s_buf_printf (buf, "%s%lld%s%s%lld%s%s", f->figure_open, section->offset, f->cell_close,
                      f->figure_open, section->length, f->cell_close, f->row_close);
    }
    s_buf_add (buf, model->section_count? f->table_close: f->no_table);
    s_buf_add (buf, f->section_close);
}

static void
s_text_inputs (s_buf_t *buf, const s_format_t *f, const s_model_t *model)
{
    f->section_open (buf, "inputs", "Inputs missing or failed");
    if (model->ok_count == model->item_count) {
        s_buf_add (buf, f->line_open);
        s_buf_lit (buf, "None: every input is present and OK");
        s_buf_add (buf, f->line_close);
    }
    else {
        f->table_open (buf, S_COLUMNS ({ "Contract", false }, { "Type", false }, { "Status", false }));
        for (size_t i = 0; i < model->item_count; i++) {
            const s_item_t *item = &model->items [i];
            if (item->status == S_RESULT_OK)
                continue;
            s_buf_add (buf, f->row_open);
            f->cell (buf, NULL, item->id);
            f->cell (buf, NULL, item->type);
            f->cell (buf, "qm", s_status_name (item->status));
            s_buf_add (buf, f->row_close);
        }
        s_buf_add (buf, f->table_close);
    }
    if (model->other_count) {
        s_buf_add (buf, f->others_heading);
        f->table_open (buf, S_COLUMNS ({ "Contract", false }, { "Type", false }, { "Title", false },
                                       { "Status", false }, { "Score", true }));
        for (size_t o = 0; o < model->other_count; o++) {
            const s_item_t *item = model->others [o];
            s_buf_add (buf, f->row_open);
            f->cell (buf, NULL, item->id);
            f->cell (buf, NULL, item->type);
            f->cell (buf, NULL, item->title);
            f->cell (buf, NULL, s_status_name (item->status));
            f->score_cell (buf, item);
            s_buf_add (buf, f->row_close);
        }
        s_buf_add (buf, f->table_close);
    }
    s_buf_add (buf, f->section_close);
}

//  The report in a human format: every section in order.
static void
s_render_text (s_buf_t *buf, const s_model_t *model, const s_format_t *f)
{
    //  Bars: of the clusters, the areas or one area's questions at a time.
    s_bar_t *bars = f->hbars || f->vbars
                  ? (s_bar_t *) calloc (model->item_count + model->area_count + model->cluster_count + 1,
                                        sizeof (s_bar_t))
                  : NULL;
    const char **codes = (const char **) calloc (model->area_count + 1, sizeof (char *));
    if (!codes || ((f->hbars || f->vbars) && !bars)) {
        buf->failed = true;
        goto done;
    }
    f->begin (buf, model);
    s_text_overall (buf, f, model);
    s_text_document (buf, f, model);
    s_text_groups (buf, f, model, bars, codes);
    s_text_questions (buf, f, model, bars);
    s_text_recommendations (buf, f, model);
    s_text_sections (buf, f, model);
    s_text_inputs (buf, f, model);
    if (f->end)
        f->end (buf, model);
done:
    free (bars);
    free (codes);
}

//  ---------------------------------------------------------------------
//  Markdown: the same content, in tables

static void
s_md_cell (s_buf_t *buf, const char *text)
{
    s_buf_lit (buf, " ");
    s_md (buf, s_or_dash (text));
    s_buf_lit (buf, " |");
}

static void
s_md_class_cell (s_buf_t *buf, const char *class_name, const char *text)
{
    s_md_cell (buf, text);
}

static void
s_md_score_cell (s_buf_t *buf, const s_item_t *item)
{
    char score [32];
    s_md_cell (buf, s_score_text (item, score, sizeof score));
}

static void
s_md_begin (s_buf_t *buf, const s_model_t *model)
{
    s_buf_lit (buf, "# ");
    s_md (buf, model->title);
    s_buf_lit (buf, "\n\n");
    s_lead (buf, model);
    s_buf_lit (buf, "\n\n");
}

static void
s_md_section_open (s_buf_t *buf, const char *id, const char *title)
{
    s_buf_printf (buf, "## %s\n\n", title);
}

static void
s_md_table_open (s_buf_t *buf, const s_column_t *columns, size_t count)
{
    s_buf_lit (buf, "|");
    for (size_t i = 0; i < count; i++)
        s_buf_printf (buf, " %s |", columns [i].name);
    s_buf_lit (buf, "\n|");
    for (size_t i = 0; i < count; i++)
        s_buf_add (buf, columns [i].figure? " ---: |": " --- |");
    s_buf_lit (buf, "\n");
}

static void
s_md_section_title_open (s_buf_t *buf, long long level)
{
    s_buf_lit (buf, " ");
}

//  «quote» (element, @offset, length B) · ...
static void
s_md_evidence (s_buf_t *buf, const s_item_t *item)
{
    for (size_t r = 0; r < item->ref_count; r++) {
        const s_ref_t *ref = &item->refs [r];
        s_buf_add (buf, r? " \xc2\xb7 \xc2\xab": "\xc2\xab");
        s_md (buf, *ref->text? ref->text: "(text not quoted)");
        s_buf_lit (buf, "\xc2\xbb (");
        s_md (buf, ref->element);
        s_buf_printf (buf, ", @%" PRIu64 ", %" PRIu32 " B)", ref->offset, ref->length);
    }
    if (item->ref_count < item->match_total)
        s_buf_printf (buf, "%s%zu of %" PRIu64 " matches quoted", item->ref_count? " \xc2\xb7 ": "",
                      item->ref_count, item->match_total);
    else
    if (!item->ref_count)
        s_buf_lit (buf, "\xe2\x80\x94");
}

//  The dimensions' codes head the columns; their names follow the table.
static void
s_md_matrix_open (s_buf_t *buf, const s_model_t *model)
{
    s_buf_lit (buf, "| Policy area |");
    for (size_t d = 0; d < model->dimension_count; d++)
        s_md_cell (buf, model->dimensions [d].code);
    s_buf_lit (buf, "\n| --- |");
    for (size_t d = 0; d < model->dimension_count; d++)
        s_buf_lit (buf, " ---: |");
    s_buf_lit (buf, "\n");
}

static void
s_md_matrix_close (s_buf_t *buf, const s_model_t *model)
{
    s_buf_lit (buf, "\nDimensions:");
    for (size_t d = 0; d < model->dimension_count; d++) {
        s_buf_add (buf, d? "; ": " ");
        s_md (buf, model->dimensions [d].code);
        s_buf_lit (buf, " ");
        s_md (buf, s_or_dash (model->dimensions [d].title));
    }
    s_buf_lit (buf, ".\n\n");
}

static const s_format_t s_markdown = {
    .escape = s_md,
    .begin = s_md_begin,
    .section_open = s_md_section_open,
    .section_close = "",
    .table_open = s_md_table_open,
    .table_close = "\n",
    .no_table = "\n",
    .cell = s_md_class_cell,
    .score_cell = s_md_score_cell,
    .section_title_open = s_md_section_title_open,
    .evidence = s_md_evidence,
    .matrix_open = s_md_matrix_open,
    .matrix_close = s_md_matrix_close,
    .row_open = "|", .row_close = "\n",
    .cell_open = " ", .cell_close = " |",
    .figure_open = " ",
    .line_open = "", .line_close = ".\n\n",
    .note_open = "", .note_close = "\n\n",
    .aside_open = " (", .aside_close = ")",
    .muted_open = "", .muted_close = "",
    .area_open = "### ", .area_close = "\n\n",
    .code_open = "`", .code_close = "`",
    .head_open = "| ", .head_close = " |",
    .small_open = " ", .small_close = "",
    .others_heading = "## Other inputs\n\n",
};

//  ---------------------------------------------------------------------
//  HTML: one self-contained page (inline CSS and SVG; no script, no
//  external resource), every input string escaped

static const char s_css [] =
    ":root{--qe:#1a9850;--qb:#91cf60;--qa:#fee08b;--qi:#d73027}"
    "*{box-sizing:border-box}"
    "body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,sans-serif;color:#1f2933;"
    "max-width:1180px;margin:0 auto;padding:1.5rem}"
    "h1{font-size:1.8rem;margin:.2rem 0}"
    "h2{font-size:1.35rem;border-bottom:2px solid #d9dee4;padding-bottom:.25rem;margin-top:2.4rem}"
    "h3{font-size:1.1rem;margin-top:1.8rem}"
    ".lead,.muted{color:#616e7c}"
    "nav a{margin-right:.9rem}"
    "table{border-collapse:collapse;width:100%;margin:.7rem 0 1.2rem;font-size:.9rem}"
    "th,td{border:1px solid #d9dee4;padding:.3rem .45rem;text-align:left;vertical-align:top}"
    "th{background:#f3f5f7;font-weight:600}"
    "td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}"
    ".qe{background:var(--qe);color:#fff}.qb{background:var(--qb)}.qa{background:var(--qa)}"
    ".qi{background:var(--qi);color:#fff}"
    ".qm{background:repeating-linear-gradient(135deg,#f5f6f7 0 6px,#e4e7eb 6px 12px);color:#52606d;"
    "font-style:italic}"
    "rect.qe{fill:var(--qe)}rect.qb{fill:var(--qb)}rect.qa{fill:var(--qa)}rect.qi{fill:var(--qi)}"
    "rect.qm{fill:#f5f6f7;stroke:#9aa5b1;stroke-dasharray:4 3}"
    "svg{max-width:100%;height:auto;display:block;margin:.6rem 0}"
    "svg text{font-size:12px;fill:#1f2933}svg text.tick{font-size:11px;fill:#7b8794}"
    "svg text.state{font-style:italic;fill:#52606d}svg line{stroke:#d9dee4}"
    ".big{display:inline-block;font-size:2.4rem;font-weight:700;padding:.1rem .7rem;border-radius:.4rem}"
    ".legend span{display:inline-block;padding:.05rem .5rem;margin-right:.3rem;border-radius:.2rem}"
    "ul.ev{margin:0;padding-left:1.1rem}ul.ev li{margin:.15rem 0}"
    "q{font-style:italic}.off{color:#616e7c;font-size:.8rem;white-space:nowrap}"
    "footer{margin-top:3rem;color:#7b8794;font-size:.85rem}"
    "@media print{nav{display:none}h2,h3{break-after:avoid}tr{break-inside:avoid}}";

//  Escaped text of at most max characters ("…" appended when cut).
static void
s_html_prefix (s_buf_t *buf, const char *text, size_t max)
{
    size_t characters = 0, at = 0;
    while (text [at] && characters < max) {
        at++;
        while (((unsigned char) text [at] & 0xc0) == 0x80)
            at++;
        characters++;
    }
    if (!text [at]) {
        s_html (buf, text);
        return;
    }
    char *prefix = strndup (text, at);
    if (!prefix) {
        buf->failed = true;
        return;
    }
    s_html (buf, prefix);
    s_buf_lit (buf, "\xe2\x80\xa6");
    free (prefix);
}

//  <td class="...">text</td>, escaped; "—" for "".
static void
s_html_td (s_buf_t *buf, const char *class_name, const char *text)
{
    if (class_name && *class_name)
        s_buf_printf (buf, "<td class=\"%s\">", class_name);
    else
        s_buf_lit (buf, "<td>");
    s_html (buf, s_or_dash (text));
    s_buf_lit (buf, "</td>");
}

//  The score cell of a result: the score coloured by its band, or what
//  stands for it, with the contract and quality as a tooltip.
static void
s_html_score_td (s_buf_t *buf, const s_item_t *item)
{
    char score [32];
    s_buf_printf (buf, "<td class=\"n %s\"", s_band (item));
    if (item) {
        s_buf_lit (buf, " title=\"");
        s_html (buf, item->id);
        if (*item->quality) {
            s_buf_lit (buf, " \xc2\xb7 ");
            s_html (buf, item->quality);
        }
        s_buf_lit (buf, "\"");
    }
    s_buf_lit (buf, ">");
    s_html (buf, s_score_text (item, score, sizeof score));
    s_buf_lit (buf, "</td>");
}

//  Pixels of a bar of full pixels at 3 (scores outside 0..3 drawn at the end).
static int
s_bar_length (const s_item_t *item, int full)
{
    double score = item->score < 0? 0: item->score > 3? 3: item->score;
    return (int) lround (score / 3.0 * full);
}

//  The tooltip of a bar: code, name, score or state, contract.
static void
s_bar_title (s_buf_t *buf, const s_bar_t *bar)
{
    char score [32];
    s_buf_lit (buf, "<title>");
    s_html (buf, bar->code);
    if (*bar->name) {
        s_buf_lit (buf, " ");
        s_html (buf, bar->name);
    }
    s_buf_lit (buf, ": ");
    s_html (buf, s_score_text (bar->item, score, sizeof score));
    if (bar->item) {
        if (*bar->item->quality) {
            s_buf_lit (buf, " ");
            s_html (buf, bar->item->quality);
        }
        s_buf_lit (buf, " (");
        s_html (buf, bar->item->id);
        s_buf_lit (buf, ")");
    }
    s_buf_lit (buf, "</title>");
}

static void
s_svg_open (s_buf_t *buf, int width, int height, const char *caption)
{
    s_buf_printf (buf, "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"",
                  width, height, width, height);
    s_html (buf, caption);
    s_buf_lit (buf, "\"><title>");
    s_html (buf, caption);
    s_buf_lit (buf, "</title>\n");
}

//  Horizontal bars on the 0-3 scale, one per row, labelled with code and
//  name; an input missing or failed is a dashed outline saying so.
static void
s_svg_hbars (s_buf_t *buf, const char *caption, const s_bar_t *bars, size_t count)
{
    const int label = 300, full = 380, row = 24, top = 22;
    int height = top + (int) count * row + 6;
    s_svg_open (buf, label + full + 60, height, caption);
    for (int tick = 0; tick <= 3; tick++) {
        int x = label + tick * full / 3;
        s_buf_printf (buf, "<line x1=\"%d\" y1=\"16\" x2=\"%d\" y2=\"%d\"/>"
                      "<text class=\"tick\" x=\"%d\" y=\"12\" text-anchor=\"middle\">%d</text>\n",
                      x, x, height - 4, x, tick);
    }
    char score [32];
    for (size_t i = 0; i < count; i++) {
        const s_bar_t *bar = &bars [i];
        int y = top + (int) i * row;
        s_buf_lit (buf, "<g>");
        s_bar_title (buf, bar);
        s_buf_printf (buf, "<text x=\"0\" y=\"%d\">", y + 14);
        s_html (buf, bar->code);
        if (*bar->name) {
            s_buf_lit (buf, " ");
            s_html_prefix (buf, bar->name, 36);
        }
        s_buf_lit (buf, "</text>");
        const char *state = s_state (bar->item);
        if (state)
            s_buf_printf (buf, "<rect class=\"qm\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\"/>"
                          "<text class=\"state\" x=\"%d\" y=\"%d\">%s</text>",
                          label, y + 2, full, label + 8, y + 14, state);
        else {
            int length = s_bar_length (bar->item, full);
            s_buf_printf (buf, "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\" rx=\"2\"/>"
                          "<text x=\"%d\" y=\"%d\">%s</text>", s_band (bar->item), label, y + 2,
                          length, label + length + 6, y + 14,
                          s_score_text (bar->item, score, sizeof score));
        }
        s_buf_lit (buf, "</g>\n");
    }
    s_buf_lit (buf, "</svg>\n");
}

//  Vertical bars on the 0-3 scale (the questions of a policy area).
static void
s_svg_vbars (s_buf_t *buf, const char *caption, const s_bar_t *bars, size_t count)
{
    const int left = 28, step = 24, plot = 120, top = 8, bottom = 48;
    int width = left + (int) count * step + 8;
    int height = top + plot + bottom;
    s_svg_open (buf, width < 200? 200: width, height, caption);
    for (int tick = 0; tick <= 3; tick++) {
        int y = top + plot - tick * plot / 3;
        s_buf_printf (buf, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                      "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>\n",
                      left, y, width - 4, y, left - 6, y + 4, tick);
    }
    for (size_t i = 0; i < count; i++) {
        const s_bar_t *bar = &bars [i];
        int x = left + (int) i * step + 3;
        s_buf_lit (buf, "<g>");
        s_bar_title (buf, bar);
        if (s_state (bar->item))
            s_buf_printf (buf, "<rect class=\"qm\" x=\"%d\" y=\"%d\" width=\"18\" height=\"%d\"/>",
                          x, top, plot);
        else {
            int length = s_bar_length (bar->item, plot);
            s_buf_printf (buf, "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"18\" height=\"%d\"/>",
                          s_band (bar->item), x, top + plot - length, length);
        }
        s_buf_printf (buf, "<text class=\"tick\" transform=\"rotate(-60 %d %d)\" x=\"%d\" y=\"%d\" "
                      "text-anchor=\"end\">", x + 12, top + plot + 12, x + 12, top + plot + 12);
        s_html (buf, bar->code);
        s_buf_lit (buf, "</text></g>\n");
    }
    s_buf_lit (buf, "</svg>\n");
}

static void
s_html_begin (s_buf_t *buf, const s_model_t *model)
{
    s_buf_lit (buf, "<!DOCTYPE html>\n<html lang=\"es\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    s_html (buf, model->title);
    s_buf_lit (buf, "</title>\n<style>");
    s_buf_add (buf, s_css);
    s_buf_lit (buf, "</style>\n</head>\n<body>\n<header>\n<h1>");
    s_html (buf, model->title);
    s_buf_lit (buf, "</h1>\n<p class=\"lead\">");
    s_lead (buf, model);
    s_buf_lit (buf, "</p>\n");
    s_buf_lit (buf, "<p class=\"legend\"><span class=\"qe\">EXCELENTE</span><span class=\"qb\">BUENO</span>"
                    "<span class=\"qa\">ACEPTABLE</span><span class=\"qi\">INSUFICIENTE</span>"
                    "<span class=\"qm\">missing or failed</span></p>\n"
                    "<nav><a href=\"#overall\">Overall</a><a href=\"#document\">Document</a>"
                    "<a href=\"#clusters\">Clusters</a><a href=\"#areas\">Policy areas</a>"
                    "<a href=\"#matrix\">Dimensions</a><a href=\"#questions\">Questions</a>"
                    "<a href=\"#recommendations\">Recommendations</a><a href=\"#sections\">Plan sections</a>"
                    "<a href=\"#inputs\">Inputs</a></nav>\n</header>\n");
}

static void
s_html_end (s_buf_t *buf, const s_model_t *model)
{
    s_buf_printf (buf, "<footer>Assembled by report.assemble from %zu inputs. Offsets are byte "
                  "offsets into the submitted text (UTF-8).</footer>\n</body>\n</html>\n",
                  model->item_count);
}

static void
s_html_section_open (s_buf_t *buf, const char *id, const char *title)
{
    s_buf_printf (buf, "<section id=\"%s\">\n<h2>%s</h2>\n", id, title);
}

static void
s_html_table_open (s_buf_t *buf, const s_column_t *columns, size_t count)
{
    s_buf_lit (buf, "<table><tr>");
    for (size_t i = 0; i < count; i++)
        s_buf_printf (buf, "%s%s</th>", columns [i].figure? "<th class=\"n\">": "<th>", columns [i].name);
    s_buf_lit (buf, "</tr>\n");
}

//  Levels 1..6 indented 1..6 em.
static void
s_html_section_title_open (s_buf_t *buf, long long level)
{
    long long indent = level < 1? 0: level > 6? 5: level - 1;
    s_buf_printf (buf, "<td style=\"padding-left:%lldem\">", indent + 1);
}

//  A list of the quotes, each with its element and byte range.
static void
s_html_evidence (s_buf_t *buf, const s_item_t *item)
{
    if (item->ref_count) {
        s_buf_lit (buf, "<ul class=\"ev\">");
        for (size_t r = 0; r < item->ref_count; r++) {
            const s_ref_t *ref = &item->refs [r];
            if (*ref->text) {
                s_buf_lit (buf, "<li><q>");
                s_html (buf, ref->text);
                s_buf_lit (buf, "</q> <span class=\"off\">");
            }
            else
                s_buf_lit (buf, "<li><span class=\"muted\">(text not quoted)</span> <span class=\"off\">");
            s_html (buf, ref->element);
            s_buf_printf (buf, " \xc2\xb7 @%" PRIu64 ", %" PRIu32 " B</span></li>",
                          ref->offset, ref->length);
        }
        s_buf_lit (buf, "</ul>");
    }
    if (item->ref_count < item->match_total)
        s_buf_printf (buf, "<span class=\"muted\">%zu of %" PRIu64 " matches quoted</span>",
                      item->ref_count, item->match_total);
    else
    if (!item->ref_count)
        s_buf_lit (buf, "\xe2\x80\x94");
}

//  The overall score, large and coloured by its band.
static void
s_html_overall_lead (s_buf_t *buf, const s_item_t *macro)
{
    char score [32];
    s_buf_printf (buf, "<p><span class=\"big %s\">", s_band (macro));
    s_html (buf, s_score_text (macro, score, sizeof score));
    s_buf_lit (buf, "</span> ");
    s_html (buf, macro->quality);
    s_buf_lit (buf, "</p>\n");
}

//  The dimensions' codes and names head the columns.
static void
s_html_matrix_open (s_buf_t *buf, const s_model_t *model)
{
    s_buf_lit (buf, "<table><tr><th>Policy area</th>");
    for (size_t d = 0; d < model->dimension_count; d++) {
        s_buf_lit (buf, "<th class=\"n\">");
        s_html (buf, model->dimensions [d].code);
        if (*model->dimensions [d].title) {
            s_buf_lit (buf, "<br><small>");
            s_html (buf, model->dimensions [d].title);
            s_buf_lit (buf, "</small>");
        }
        s_buf_lit (buf, "</th>");
    }
    s_buf_lit (buf, "</tr>\n");
}

static void
s_html_matrix_close (s_buf_t *buf, const s_model_t *model)
{
    s_buf_lit (buf, "</table>\n");
}

static const s_format_t s_html_page = {
    .escape = s_html,
    .begin = s_html_begin,
    .end = s_html_end,
    .section_open = s_html_section_open,
    .section_close = "</section>\n",
    .table_open = s_html_table_open,
    .table_close = "</table>\n",
    .no_table = "",
    .cell = s_html_td,
    .score_cell = s_html_score_td,
    .section_title_open = s_html_section_title_open,
    .evidence = s_html_evidence,
    .hbars = s_svg_hbars,
    .vbars = s_svg_vbars,
    .overall_lead = s_html_overall_lead,
    .matrix_open = s_html_matrix_open,
    .matrix_close = s_html_matrix_close,
    .row_open = "<tr>", .row_close = "</tr>\n",
    .cell_open = "<td>", .cell_close = "</td>",
    .figure_open = "<td class=\"n\">",
    .line_open = "<p>", .line_close = ".</p>\n",
    .note_open = "<p class=\"muted\">", .note_close = "</p>\n",
    .aside_open = " <span class=\"off\">", .aside_close = "</span>",
    .muted_open = "<span class=\"muted\">", .muted_close = "</span>",
    .area_open = "<h3>", .area_close = "</h3>\n",
    .code_open = "<code>", .code_close = "</code>",
    .head_open = "<tr><th>", .head_close = "</th>",
    .small_open = " <small>", .small_close = "</small>",
    .others_heading = "<h3>Other inputs</h3>\n",
};

//  ---------------------------------------------------------------------
//  The method

static json_t *
s_summary (const s_model_t *model, const s_params_t *cfg, const s_buf_t *bufs)
{
    size_t cells = 0, questions_ok = 0, quoted = 0;
    for (size_t i = 0; i < model->area_count * model->dimension_count; i++)
        cells += model->cells [i] != NULL;
    json_t *levels = json_object ();
    for (size_t q = 0; levels && q < model->question_count; q++) {
        const s_item_t *item = model->questions [q];
        quoted += item->ref_count;
        if (item->status != S_RESULT_OK)
            continue;
        questions_ok++;
        if (!*item->quality)
            continue;
        json_int_t count = json_integer_value (json_object_get (levels, item->quality));
        json_object_set_new (levels, item->quality, json_integer (count + 1));
    }
    json_t *formats = json_array ();
    json_t *bytes = json_object ();
    static const char *const names [] = { "json", "markdown", "html" };
    for (size_t f = 0; formats && bytes && f < 3; f++)
        if (cfg->formats & (1u << f)) {
            json_array_append_new (formats, json_string (names [f]));
            json_object_set_new (bytes, names [f], json_integer ((json_int_t) bufs [f].size));
        }
    json_t *macro = model->macro && model->macro->status == S_RESULT_OK && isfinite (model->macro->score)
                  ? json_pack ("{s:s, s:f, s:s}", "contract", model->macro->id,
                               "score", model->macro->score, "quality", model->macro->quality)
                  : json_null ();
    return json_pack ("{s:s, s:I, s:I, s:f, s:o*, s:I, s:I, s:I, s:I, s:I, s:o*, s:I, s:I, s:I, s:I, s:o*, s:o*}",
                      "title", model->title,
                      "inputs", (json_int_t) model->item_count,
                      "ok", (json_int_t) model->ok_count,
                      "ratio", model->item_count? (double) model->ok_count / (double) model->item_count: 0.0,
                      "macro", macro,
                      "clusters", (json_int_t) model->cluster_count,
                      "policy_areas", (json_int_t) model->area_count,
                      "dimension_scores", (json_int_t) cells,
                      "questions", (json_int_t) model->question_count,
                      "questions_ok", (json_int_t) questions_ok,
                      "quality_levels", levels,
                      "evidence_quoted", (json_int_t) quoted,
                      "recommendations", (json_int_t) (model->recommendation_total
                                                       - model->recommendation_malformed),
                      "sections", (json_int_t) (model->section_total - model->section_malformed),
                      "other_inputs", (json_int_t) model->other_count,
                      "formats", formats,
                      "bytes", bytes);
}

//  A generous estimate of one format's size, bytes (at most S_OUTPUT_MAX).
static size_t
s_size_estimate (const s_model_t *model)
{
    size_t estimate = 64 * 1024 + model->item_count * 2048 + model->section_count * 256
                    + model->recommendation_count * 1024;
    for (size_t q = 0; q < model->question_count; q++)
        estimate += model->questions [q]->ref_count * (2 * FAC_EVIDENCE_SNIPPET_MAX + 128);
    return estimate < S_OUTPUT_MAX? estimate: S_OUTPUT_MAX;
}

int
fac_methods_report_run (fac_context_t *ctx, const json_t *params)
{
    s_params_t cfg;
    s_model_t model;
    s_buf_t bufs [3];
    memset (&model, 0, sizeof model);
    memset (bufs, 0, sizeof bufs);
    int rc = -1;
    char reason [256];
    if (s_params_parse (params, ctx->compiled? ctx->compiled->contract: NULL, &cfg, reason, sizeof reason)) {
        fac_methods_fail (ctx, S_METHOD, "%s", reason);
        goto done;
    }
    if (s_model_build (&model, ctx, &cfg)) {
        fac_methods_fail (ctx, S_METHOD, "out of memory reading the inputs");
        goto done;
    }
    //  Room for the whole of each format at once: a buffer grown by
    //  copies touches twice the memory, and fresh pages are what a large
    //  report costs most (pages reserved but not written cost nothing).
    size_t estimate = s_size_estimate (&model);
    for (size_t f = 0; f < 3; f++)
        if (cfg.formats & (1u << f))
            s_buf_reserve (&bufs [f], estimate);
    if (cfg.formats & S_FORMAT_JSON)
        s_render_json (&bufs [0], &model);
    if (cfg.formats & S_FORMAT_MARKDOWN)
        s_render_text (&bufs [1], &model, &s_markdown);
    if (cfg.formats & S_FORMAT_HTML)
        s_render_text (&bufs [2], &model, &s_html_page);
    //  What the result will carry: a byte takes at most 6 once escaped
    //  (\u00XX), so below S_OUTPUT_MAX / 6 the exact count is not needed.
    size_t raw = 0, carried = 0;
    for (size_t f = 0; f < 3; f++) {
        if (bufs [f].failed) {
            fac_methods_fail (ctx, S_METHOD, "out of memory rendering the report");
            goto done;
        }
        raw += bufs [f].size + 2;
    }
    for (size_t f = 0; raw > S_OUTPUT_MAX / 6 && f < 3; f++)
        carried += s_json_escaped_size (bufs [f].data? bufs [f].data: "", bufs [f].size);
    if (carried > S_OUTPUT_MAX) {
        fac_methods_fail (ctx, S_METHOD, "the report takes %zu bytes, more than the %u a result "
                          "may carry: lower params.evidence_per_question (%zu) or ask for fewer formats",
                          carried, S_OUTPUT_MAX, cfg.evidence_per_question);
        goto done;
    }
    //  Every string that went in was valid UTF-8 (s_clean) and cut on
    //  character boundaries; checked again here, faster than jansson would.
    static const char *const names [] = { "json", "markdown", "html" };
    for (size_t f = 0; f < 3; f++)
        if (bufs [f].size && !s_utf8_valid (bufs [f].data, bufs [f].size)) {
            fac_methods_fail (ctx, S_METHOD, "the %s report is not valid UTF-8 (a bug)", names [f]);
            goto done;
        }
    json_t *report = json_object ();
    for (size_t f = 0; report && f < 3; f++)
        if ((cfg.formats & (1u << f))
        &&  json_object_set_new (report, names [f],
                                 json_stringn_nocheck (bufs [f].data? bufs [f].data: "", bufs [f].size))) {
            json_decref (report);
            report = NULL;
        }
    json_t *summary = s_summary (&model, &cfg, bufs);
    if (!report || !summary) {
        json_decref (report);
        json_decref (summary);
        fac_methods_fail (ctx, S_METHOD, "out of memory building the output");
        goto done;
    }
    json_t *output = json_pack ("{s:o, s:o}", "report", report, "summary", summary);
    ctx->ratio = model.item_count? (double) model.ok_count / (double) model.item_count: 0.0;
    rc = fac_methods_output_set (ctx, S_METHOD, output);
done:
    for (size_t f = 0; f < 3; f++)
        free (bufs [f].data);
    s_model_free (&model);
    return rc;
}
