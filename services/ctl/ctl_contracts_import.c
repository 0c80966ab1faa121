/*  farfanctl contracts import --farfan DIR --out DIR [--source DIR] [--json]

    Reads upstream FARFAN's questionnaire (questions/Q001..Q300.json, the
    pattern registry patterns/MASTER_INDEX.json, scoring_system.json,
    modular_manifest.json, policy_areas/, and, when present, the pattern
    aliases of contracts_v4/) and writes a contract set in our format
    (proto/contracts.md): the 300 questions as P02 micro contracts, then the
    structure contracts (P00, P01, P03-P09) from the shared structure code
    (ctl_set_structure.h), one set file per phase. The rules (numbering,
    reference resolution, the Python re -> PCRE2 translation, the element
    map) are documented in contracts/README.md, "Importing upstream FARFAN".

    Nothing is dropped silently: every reference that resolves to nothing,
    every pattern that cannot be translated or does not compile, every
    translation that changed a pattern, every expected element type left
    without a pattern and every upstream inconsistency is in the report
    (text, or one JSON object with --json). Nothing invalid is written:
    every micro contract is validated as the factory validates it before
    anything is written, and the written directory is loaded back exactly
    as a factory loads its contracts directory (fac_contract_set_load_dir).

    Exit codes: 0 the set was written (even with unresolved references,
    which are reported); 1 it could not be (unreadable or inconsistent
    input, a set that would not load); 2 usage error.
*/
#include "ctl_command.h"
#include "ctl_set_structure.h"
#include "fac_contract.h"
#include "ff_clock.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_PREFIX            "farfanctl contracts import"
#define S_MAP_FILE          "upstream-element-map.json"
#define S_MAP_FORMAT        "farfan-upstream-element-map/1"
#define S_AREAS             10          // PA01..PA10
#define S_SLOTS             30          // Q001..Q030 per policy area
#define S_QUESTIONS         (S_AREAS * S_SLOTS)
#define S_TITLE_MAX         2048        // contracts.md: title, bytes of UTF-8
#define S_TYPE_MAX          127         // contracts.md: element types, bytes
#define S_ERRORS_SHOWN      1000        // fatal problems listed (all are counted)

//  Bytes that may follow a doubled backslash in a pattern damaged by a JSON
//  round trip ("\\d" meaning "\d"): the escapes and metacharacters upstream's
//  patterns use. A real "\\" before anything else is kept.
#define S_DOUBLED_ESCAPES   "dDwWsSbB.$()[]{}|+*?^"

//  ASCII letters Python re accepts after a backslash, outside and inside a
//  character class (sre_parse); any other letter is "bad escape" there.
#define S_PY_ESCAPES        "AbBdDsSwWZafnrtvxuUN"
#define S_PY_CLASS_ESCAPES  "bdDsSwWafnrtvxuUN"

//  ---------------------------------------------------------------------
//  A growable string

typedef struct {
    char *data;
    size_t size;
    size_t capacity;
} s_buf_t;

static void
s_buf_add (s_buf_t *self, const char *bytes, size_t size)
{
    if (self->size + size + 1 > self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 64;
        while (capacity < self->size + size + 1)
            capacity *= 2;
        self->data = (char *) realloc (self->data, capacity);
        assert (self->data);            // out of memory
        self->capacity = capacity;
    }
    memcpy (self->data + self->size, bytes, size);
    self->size += size;
    self->data [self->size] = 0;
}

static void
s_buf_addf (s_buf_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_buf_addf (s_buf_t *self, const char *format, ...)
{
    char text [512];
    va_list args;
    va_start (args, format);
    int size = vsnprintf (text, sizeof text, format, args);
    va_end (args);
    s_buf_add (self, text, size < 0 ? 0 : (size_t) size < sizeof text ? (size_t) size : sizeof text - 1);
}

//  ---------------------------------------------------------------------
//  Python re -> PCRE2 10.42

//  Appends a note (what was changed) once.
static void
s_note (json_t *notes, const char *note)
{
    size_t index;
    json_t *value;
    json_array_foreach (notes, index, value)
        if (strcmp (json_string_value (value), note) == 0)
            return;
    json_array_append_new (notes, json_string (note));
}

static bool
s_hex_digits (const char *text, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isxdigit ((unsigned char) text [i]))
            return false;
    return true;
}

//  Translates one Python-re pattern (the syntax of upstream's registry)
//  into PCRE2 10.42 syntax with the same matches under the flags
//  fac_pattern_compile sets (UTF, UCP; Python's MULTILINE ^ is handled
//  there). Repairs doubled escapes. Returns a new string, with what
//  changed appended to notes; or NULL with the reason in why when the
//  pattern cannot be translated (it would mean something else, or Python
//  itself refuses it).
static char *
s_translate (const char *python, json_t *notes, char *why, size_t why_size)
{
    s_buf_t out = { NULL, 0, 0 };
    s_buf_add (&out, "", 0);
    size_t size = strlen (python);
    bool in_class = false;
    size_t i = 0;
    while (i < size) {
        char c = python [i];
        if (c == '\\') {
            if (i + 1 >= size) {
                snprintf (why, why_size, "ends with a lone backslash (Python re refuses it)");
                goto failed;
            }
            char e = python [i + 1];
            if (e == '\\' && i + 2 < size && strchr (S_DOUBLED_ESCAPES, python [i + 2])) {
                char fixed [3] = { '\\', python [i + 2], 0 };
                s_buf_add (&out, fixed, 2);
                char note [64];
                snprintf (note, sizeof note, "doubled escape \\\\%c read as \\%c (JSON round trip)",
                          python [i + 2], python [i + 2]);
                s_note (notes, note);
                i += 3;
                continue;
            }
            if (e == 'Z' && !in_class) {
                s_buf_add (&out, "\\z", 2);
                s_note (notes, "\\Z written \\z (end of text only, as in Python)");
                i += 2;
                continue;
            }
            if (e == 'v') {
                s_buf_add (&out, "\\x0b", 4);
                s_note (notes, "\\v written \\x0b (Python: the VT character; PCRE2: vertical space)");
                i += 2;
                continue;
            }
            if (e == 'u' || e == 'U') {
                size_t digits = e == 'u' ? 4 : 8;
                if (i + 2 + digits > size || !s_hex_digits (python + i + 2, digits)) {
                    snprintf (why, why_size, "\\%c needs %zu hex digits (Python re refuses it)", e, digits);
                    goto failed;
                }
                s_buf_addf (&out, "\\x{%.*s}", (int) digits, python + i + 2);
                s_note (notes, "\\u / \\U escapes written \\x{...}");
                i += 2 + digits;
                continue;
            }
            if (e == 'N') {
                snprintf (why, why_size, "\\N{...} (a character by name) is not translated");
                goto failed;
            }
            if (isalpha ((unsigned char) e)
            &&  !strchr (in_class ? S_PY_CLASS_ESCAPES : S_PY_ESCAPES, e)) {
                snprintf (why, why_size, "bad escape \\%c%s (Python re refuses it)", e,
                          in_class ? " in a character class" : "");
                goto failed;
            }
            s_buf_add (&out, python + i, 2);
            i += 2;
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = false;
            else
            if (c == '[') {
                //  Python reads [ in a class as itself; PCRE2 would read
                //  [: [. [= as a POSIX class.
                s_buf_add (&out, "\\[", 2);
                s_note (notes, "[ inside a character class escaped (PCRE2 would read [: as a POSIX class)");
                i++;
                continue;
            }
            s_buf_add (&out, &c, 1);
            i++;
            continue;
        }
        if (c == '[') {
            s_buf_add (&out, "[", 1);
            i++;
            if (i < size && python [i] == '^') {
                s_buf_add (&out, "^", 1);
                i++;
            }
            if (i < size && python [i] == ']') {
                s_buf_add (&out, "\\]", 2);     // a leading ] is a literal in both
                i++;
            }
            in_class = true;
            continue;
        }
        if (c == '{') {
            //  Python's quantifiers {m}, {m,}, {m,n}, {,n}, {,}; PCRE2 10.42
            //  reads the last two as literal text.
            size_t j = i + 1;
            size_t low_digits = 0, high_digits = 0;
            while (j < size && isdigit ((unsigned char) python [j])) {
                j++;
                low_digits++;
            }
            bool comma = j < size && python [j] == ',';
            size_t high_start = j + (comma ? 1 : 0);
            if (comma)
                for (j = high_start; j < size && isdigit ((unsigned char) python [j]); j++)
                    high_digits++;
            if (comma && low_digits == 0 && j < size && python [j] == '}') {
                s_buf_addf (&out, "{0,%.*s}", (int) high_digits, python + high_start);
                s_note (notes, "{,n} written {0,n} (PCRE2 10.42 reads {,n} literally)");
                i = j + 1;
                continue;
            }
            s_buf_add (&out, "{", 1);
            i++;
            continue;
        }
        if (c == '(' && i + 1 < size && python [i + 1] == '?') {
            //  Inline flags (?aiLmsux-imsx) or (?aiLmsux-imsx:...).
            size_t j = i + 2;
            while (j < size && strchr ("aiLmsux", python [j]) && python [j])
                j++;
            size_t on_end = j;
            if (j < size && python [j] == '-')
                for (j++; j < size && strchr ("imsx", python [j]) && python [j]; j++)
                    ;
            if (j > i + 2 && j < size && (python [j] == ')' || python [j] == ':')) {
                s_buf_t flags = { NULL, 0, 0 };
                s_buf_add (&flags, "", 0);
                for (size_t k = i + 2; k < j; k++) {
                    char flag = python [k];
                    if (flag == 'a' || flag == 'L') {
                        snprintf (why, why_size, "inline flag (?%c) (%s) has no PCRE2 10.42 equivalent",
                                  flag, flag == 'a' ? "ASCII" : "LOCALE");
                        free (flags.data);
                        goto failed;
                    }
                    if (flag == 'x' && k < on_end) {
                        snprintf (why, why_size, "inline flag (?x) (VERBOSE) is not translated");
                        free (flags.data);
                        goto failed;
                    }
                    if (flag == 'u') {
                        s_note (notes, "inline flag u dropped (Unicode is the default)");
                        continue;
                    }
                    s_buf_add (&flags, &flag, 1);
                }
                bool scoped = python [j] == ':';
                if (flags.size == 0 || strcmp (flags.data, "-") == 0)
                    s_buf_add (&out, scoped ? "(?:" : "", scoped ? 3 : 0);
                else {
                    s_buf_add (&out, "(?", 2);
                    s_buf_add (&out, flags.data, flags.size);
                    s_buf_add (&out, scoped ? ":" : ")", 1);
                }
                free (flags.data);
                i = j + 1;
                continue;
            }
        }
        s_buf_add (&out, &c, 1);
        i++;
    }
    return out.data;

failed:
    free (out.data);
    return NULL;
}

//  Lower case with the Spanish accents folded (á -> a, ñ -> n, ...): how cues
//  and pattern texts are compared. A new string.
static char *
s_fold (const char *text)
{
    static const char *const from [] = {
        "á", "é", "í", "ó", "ú", "ü", "ñ", "Á", "É", "Í", "Ó", "Ú", "Ü", "Ñ",
        "à", "è", "ì", "ò", "ù", "À", "È", "Ì", "Ò", "Ù",
    };
    static const char to [] = "aeiouunaeiouunaeiouaeiou";
    s_buf_t out = { NULL, 0, 0 };
    s_buf_add (&out, "", 0);
    for (size_t i = 0; text [i]; ) {
        size_t k = 0;
        while (k < sizeof from / sizeof from [0] && strncmp (text + i, from [k], 2) != 0)
            k++;
        if (k < sizeof from / sizeof from [0]) {
            s_buf_add (&out, &to [k], 1);
            i += 2;
        }
        else {
            char c = (char) tolower ((unsigned char) text [i]);
            s_buf_add (&out, &c, 1);
            i++;
        }
    }
    return out.data;
}

//  ---------------------------------------------------------------------
//  The import

typedef struct {
    //  Command line
    const char *farfan;         // upstream directory
    const char *out;            // set directory to write
    const char *source;         // contracts source directory (map, structure)
    bool json;                  // report as JSON
    //  Inputs
    json_t *map;                // the element map file
    json_t *cues;               // {element type: [folded cues]}
    const char *unmapped;       // element type template for unmapped patterns
    ctl_structure_t *structure;
    json_t *index;              // MASTER_INDEX.json
    json_t *registry;           // its "patterns" (borrowed)
    json_t *legacy;             // {legacy id: registry key}
    json_t *aliases;            // {contracts_v4 pattern id: pattern_ref}
    json_t *modalities;         // scoring_system.json "modalities" (borrowed from scoring)
    json_t *scoring;            // scoring_system.json
    json_t *manifest;           // modular_manifest.json
    char area_cluster [S_AREAS][8];     // PA01..PA10 -> CLxx, from the manifest
    //  Work
    json_t *prepared;           // {registry key: translated pattern, or {"why"}}
    json_t *micro;              // the micro contracts, in id order
    json_t *by_phase;           // {"P00": [...], ...}
    //  Report
    json_t *errors;             // fatal problems (strings); the set is not written
    size_t error_count;
    json_t *warnings;           // upstream inconsistencies that did not stop the import
    json_t *unresolved;         // {ref: [contract ids]}
    json_t *untranslatable;     // {registry key: {"why", "contracts": [...]}}
    json_t *missing_types;      // [{"contract", "upstream_id", "types": [...]}]
    json_t *inactive;           // [contract ids] written INACTIVE (no usable pattern)
    json_t *element_notes;      // [strings]: expected elements left out, and why
    size_t refs_total, refs_registry, refs_legacy, refs_alias, refs_unresolved, refs_merged;
    size_t mapped_category, mapped_cue, mapped_none;
    size_t pattern_entries;     // patterns written in micro contracts
    int64_t started_us;
} s_import_t;

static void
s_error (s_import_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  A fatal problem: reported, and the set is not written.
static void
s_error (s_import_t *self, const char *format, ...)
{
    self->error_count++;
    if (json_array_size (self->errors) >= S_ERRORS_SHOWN)
        return;
    char text [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    json_array_append_new (self->errors, json_string (text));
}

static void
s_warning (s_import_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_warning (s_import_t *self, const char *format, ...)
{
    char text [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    json_array_append_new (self->warnings, json_string (text));
}

//  Loads the JSON object dir/relative. NULL, reported as an error, when it
//  cannot be read or parsed or is not an object.
static json_t *
s_load_json (s_import_t *self, const char *dir, const char *relative)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, relative);
    struct stat info;
    if (stat (path, &info) != 0) {
        s_error (self, "%s: cannot read: %s", path, strerror (errno));
        return NULL;
    }
    if (!S_ISREG (info.st_mode)) {
        s_error (self, "%s: cannot read: not a regular file", path);
        return NULL;
    }
    json_error_t error;
    json_t *document = json_load_file (path, 0, &error);
    if (!document) {
        if (error.line > 0)
            s_error (self, "%s: invalid JSON at line %d, column %d: %s", path, error.line,
                     error.column, error.text);
        else
            s_error (self, "%s: cannot read: %s", path, error.text);
        return NULL;
    }
    if (!json_is_object (document)) {
        s_error (self, "%s: must be a JSON object", path);
        json_decref (document);
        return NULL;
    }
    return document;
}

static const char *
s_string (const json_t *object, const char *key)
{
    return json_string_value (json_object_get (object, key));
}

//  "PA07" -> 7 for a code of prefix + exactly two digits in 1..max; else 0.
static int
s_code (const char *text, const char *prefix, int max)
{
    size_t length = strlen (prefix);
    if (!text || strncmp (text, prefix, length) != 0 || strlen (text) != length + 2
    ||  !isdigit ((unsigned char) text [length]) || !isdigit ((unsigned char) text [length + 1]))
        return 0;
    int value = atoi (text + length);
    return value >= 1 && value <= max ? value : 0;
}

//  ---------------------------------------------------------------------
//  The element map

static int
s_map_load (s_import_t *self)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", self->source, S_MAP_FILE);
    self->map = s_load_json (self, self->source, S_MAP_FILE);
    if (!self->map)
        return -1;
    size_t errors = self->error_count;
    const char *key;
    json_t *value;
    json_object_foreach (self->map, key, value) {
        if (strcmp (key, "format") && strcmp (key, "unmapped") && strcmp (key, "categories")
        &&  strcmp (key, "cues") && key [0] != '_' && strncmp (key, "x-", 2) != 0)
            s_error (self, "%s: %s: unknown field (format, unmapped, categories, cues; "
                     "comments start with \"_\")", path, key);
    }
    const char *format = s_string (self->map, "format");
    if (!format || strcmp (format, S_MAP_FORMAT) != 0)
        s_error (self, "%s: format: must be \"%s\"", path, S_MAP_FORMAT);
    self->unmapped = s_string (self->map, "unmapped");
    if (!self->unmapped || !*self->unmapped || strlen (self->unmapped) > 64)
        s_error (self, "%s: unmapped: must be a non-empty string (at most 64 bytes; "
                 "{category} is replaced by the pattern's category)", path);
    json_t *categories = json_object_get (self->map, "categories");
    json_t *cues = json_object_get (self->map, "cues");
    if (!json_is_object (categories))
        s_error (self, "%s: categories: must be an object {category: [element type, ...]}", path);
    if (!json_is_object (cues))
        s_error (self, "%s: cues: must be an object {element type: [cue, ...]}", path);
    json_object_foreach (categories, key, value) {
        size_t index;
        json_t *type;
        if (!json_is_array (value))
            s_error (self, "%s: categories.%s: must be an array of element types", path, key);
        json_array_foreach (value, index, type)
            if (!json_is_string (type) || !*json_string_value (type))
                s_error (self, "%s: categories.%s[%zu]: must be a non-empty string", path, key, index);
    }
    self->cues = json_object ();
    json_object_foreach (cues, key, value) {
        size_t index;
        json_t *cue;
        if (!json_is_array (value)) {
            s_error (self, "%s: cues.%s: must be an array of strings", path, key);
            continue;
        }
        json_t *folded = json_array ();
        json_array_foreach (value, index, cue) {
            if (!json_is_string (cue) || !*json_string_value (cue)) {
                s_error (self, "%s: cues.%s[%zu]: must be a non-empty string", path, key, index);
                continue;
            }
            char *text = s_fold (json_string_value (cue));
            json_array_append_new (folded, json_string (text));
            free (text);
        }
        json_object_set_new (self->cues, key, folded);
    }
    return self->error_count > errors ? -1 : 0;
}

//  How many of the type's cues the folded pattern text contains.
static size_t
s_cue_hits (s_import_t *self, const char *type, const char *folded)
{
    size_t hits = 0, index;
    json_t *cue;
    json_array_foreach (json_object_get (self->cues, type), index, cue)
        if (strstr (folded, json_string_value (cue)))
            hits++;
    return hits;
}

static bool
s_expects (const json_t *types, const char *type)
{
    size_t index;
    json_t *value;
    json_array_foreach (types, index, value)
        if (strcmp (json_string_value (value), type) == 0)
            return true;
    return false;
}

//  The element type of a pattern in a question expecting `types` (array of
//  strings), by the map's rules; *how is "category", "cue" or "unmapped".
//  Returns a new string.
static char *
s_map_element (s_import_t *self, const char *category, const char *pattern_text,
               const json_t *types, const char **how)
{
    char *folded = s_fold (pattern_text);
    const char *best = NULL;
    size_t best_hits = 0, index;
    json_t *type;
    //  1. The category's listed types the question expects: most cues, then list order.
    json_array_foreach (json_object_get (json_object_get (self->map, "categories"), category),
                        index, type) {
        const char *name = json_string_value (type);
        if (!s_expects (types, name))
            continue;
        size_t hits = s_cue_hits (self, name, folded);
        if (!best || hits > best_hits) {
            best = name;
            best_hits = hits;
        }
    }
    *how = "category";
    //  2. Cues among every expected type: most cues, then the question's order.
    if (!best) {
        json_array_foreach (types, index, type) {
            size_t hits = s_cue_hits (self, json_string_value (type), folded);
            if (hits > best_hits) {
                best = json_string_value (type);
                best_hits = hits;
            }
        }
        *how = "cue";
    }
    free (folded);
    if (best)
        return strdup (best);
    //  3. Unmapped: the template with the category.
    *how = "unmapped";
    s_buf_t out = { NULL, 0, 0 };
    s_buf_add (&out, "", 0);
    const char *at = self->unmapped;
    const char *hole;
    while ((hole = strstr (at, "{category}"))) {
        s_buf_add (&out, at, (size_t) (hole - at));
        s_buf_add (&out, category, strlen (category));
        at = hole + strlen ("{category}");
    }
    s_buf_add (&out, at, strlen (at));
    return out.data;
}

//  ---------------------------------------------------------------------
//  Upstream: manifest, scoring, policy areas, registry, aliases

static int
s_manifest_load (s_import_t *self)
{
    self->manifest = s_load_json (self, self->farfan, "modular_manifest.json");
    if (!self->manifest)
        return -1;
    json_t *items = json_object_get (json_object_get (json_object_get (self->manifest, "structure"),
                                                      "policy_areas"), "items");
    size_t errors = self->error_count, index;
    json_t *item;
    if (!json_is_array (items)) {
        s_error (self, "%s/modular_manifest.json: structure.policy_areas.items: must be an array "
                 "of {id, cluster}", self->farfan);
        return -1;
    }
    json_array_foreach (items, index, item) {
        int area = s_code (s_string (item, "id"), "PA", S_AREAS);
        const char *cluster = s_string (item, "cluster");
        if (!area || !s_code (cluster, "CL", 4)) {
            s_error (self, "%s/modular_manifest.json: structure.policy_areas.items[%zu]: needs an id "
                     "PA01..PA10 and a cluster CL01..CL04", self->farfan, index);
            continue;
        }
        if (self->area_cluster [area - 1][0])
            s_error (self, "%s/modular_manifest.json: structure.policy_areas.items[%zu]: %s listed "
                     "twice", self->farfan, index, s_string (item, "id"));
        snprintf (self->area_cluster [area - 1], sizeof self->area_cluster [0], "%s", cluster);
    }
    for (int area = 1; area <= S_AREAS; area++)
        if (!self->area_cluster [area - 1][0])
            s_error (self, "%s/modular_manifest.json: structure.policy_areas.items: PA%02d is missing",
                     self->farfan, area);
    return self->error_count > errors ? -1 : 0;
}

static int
s_scoring_load (s_import_t *self)
{
    self->scoring = s_load_json (self, self->farfan, "scoring_system.json");
    if (!self->scoring)
        return -1;
    self->modalities = json_object_get (self->scoring, "modalities");
    if (!json_is_object (self->modalities)) {
        s_error (self, "%s/scoring_system.json: modalities: must be an object {TYPE_A: {...}, ...}",
                 self->farfan);
        return -1;
    }
    return 0;
}

//  policy_areas/PAxx_*/metadata.json: only cross-checked against the
//  manifest (the structure source names the areas); differences are warnings.
static void
s_policy_areas_check (s_import_t *self)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/policy_areas", self->farfan);
    DIR *dir = opendir (path);
    if (!dir) {
        s_warning (self, "%s: cannot read (%s): clusters are taken from the manifest alone", path,
                   strerror (errno));
        return;
    }
    bool seen [S_AREAS] = { false };
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char full [PATH_MAX];
        int length = snprintf (full, sizeof full, "%s/%s/metadata.json", path, entry->d_name);
        struct stat info;
        if (length < 0 || (size_t) length >= sizeof full || stat (full, &info) != 0)
            continue;                   // not an area folder
        json_error_t error;
        json_t *metadata = json_load_file (full, 0, &error);
        if (!metadata) {
            s_warning (self, "%s: unreadable (%s at line %d), not cross-checked", full, error.text,
                       error.line);
            continue;
        }
        const char *id = s_string (metadata, "policy_area_id");
        const char *cluster = s_string (metadata, "cluster_id");
        int area = s_code (id, "PA", S_AREAS);
        if (!area)
            s_warning (self, "%s: policy_area_id %s%s%s is not PA01..PA10", full, id ? "\"" : "",
                       id ? id : "missing", id ? "\"" : "");
        else {
            seen [area - 1] = true;
            if (!cluster || strcmp (cluster, self->area_cluster [area - 1]) != 0)
                s_warning (self, "%s: cluster_id %s, the manifest says %s (the manifest is used)",
                           full, cluster ? cluster : "missing", self->area_cluster [area - 1]);
        }
        json_decref (metadata);
    }
    closedir (dir);
    for (int area = 1; area <= S_AREAS; area++)
        if (!seen [area - 1])
            s_warning (self, "%s: no folder with metadata.json for PA%02d", path, area);
}

static int
s_registry_load (s_import_t *self)
{
    self->index = s_load_json (self, self->farfan, "patterns/MASTER_INDEX.json");
    if (!self->index)
        return -1;
    self->registry = json_object_get (self->index, "patterns");
    if (!json_is_object (self->registry)) {
        s_error (self, "%s/patterns/MASTER_INDEX.json: patterns: must be an object {id: pattern}",
                 self->farfan);
        return -1;
    }
    self->legacy = json_object ();
    const char *key;
    json_t *pattern;
    json_object_foreach (self->registry, key, pattern) {
        size_t index;
        json_t *legacy;
        json_array_foreach (json_object_get (pattern, "legacy_ids"), index, legacy) {
            const char *id = json_string_value (legacy);
            if (!id || strcmp (id, key) == 0 || json_object_get (self->registry, id))
                continue;               // a registry key resolves to itself
            const char *owner = s_string (self->legacy, id);
            if (owner)
                s_warning (self, "legacy id %s is listed by %s and %s (%s is used)", id, owner, key,
                           owner);
            else
                json_object_set_new (self->legacy, id, json_string (key));
        }
    }
    return 0;
}

//  Collects {"id": X, "pattern_ref": Y} objects anywhere in a document.
static void
s_aliases_walk (s_import_t *self, const json_t *value, const char *file)
{
    if (json_is_object (value)) {
        const char *id = s_string (value, "id");
        const char *target = s_string (value, "pattern_ref");
        if (id && target) {
            const char *known = s_string (self->aliases, id);
            if (known && strcmp (known, target) != 0)
                s_warning (self, "%s: %s refers to %s, another contract says %s (%s is used)", file,
                           id, target, known, known);
            else
            if (!known)
                json_object_set_new (self->aliases, id, json_string (target));
        }
        const char *key;
        json_t *member;
        json_object_foreach ((json_t *) value, key, member)
            s_aliases_walk (self, member, file);
    }
    else
    if (json_is_array (value)) {
        size_t index;
        json_t *member;
        json_array_foreach (value, index, member)
            s_aliases_walk (self, member, file);
    }
}

//  contracts_v4/*.json (optional): pattern ids an upstream contract declares
//  as a reference to a registry pattern ({"id": "PAT-Q001-001",
//  "pattern_ref": "PAT-0067"}).
static void
s_aliases_load (s_import_t *self)
{
    self->aliases = json_object ();
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/contracts_v4", self->farfan);
    DIR *dir = opendir (path);
    if (!dir)
        return;                         // optional
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name [0] == '.' || length < 6 || strcmp (entry->d_name + length - 5, ".json"))
            continue;
        char file [PATH_MAX];
        int file_length = snprintf (file, sizeof file, "%s/%s", path, entry->d_name);
        if (file_length < 0 || (size_t) file_length >= sizeof file)
            continue;
        json_error_t error;
        json_t *contract = json_load_file (file, 0, &error);
        if (!contract) {
            s_warning (self, "%s: unreadable (%s at line %d): its pattern aliases are not used", file,
                       error.text, error.line);
            continue;
        }
        s_aliases_walk (self, contract, file);
        json_decref (contract);
    }
    closedir (dir);
}

//  The registry key a reference names, or NULL; *via says how.
static const char *
s_resolve (s_import_t *self, const char *ref, const char **via)
{
    if (json_object_get (self->registry, ref)) {
        *via = "registry";
        return json_object_iter_key (json_object_iter_at (self->registry, ref));
    }
    const char *key = s_string (self->legacy, ref);
    if (key) {
        *via = "legacy_ids";
        return key;
    }
    const char *target = s_string (self->aliases, ref);
    if (target) {
        *via = "contracts_v4";
        if (json_object_get (self->registry, target))
            return json_object_iter_key (json_object_iter_at (self->registry, target));
        return s_string (self->legacy, target);
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  Patterns: read, translate, compile (once per registry pattern)

//  Adds the flag bit of an upstream flag name; -1 when it has no meaning here.
static int
s_flag_bit (const char *name, uint32_t *flags, json_t *notes)
{
    if (!strcmp (name, "IGNORECASE") || !strcmp (name, "I") || !strcmp (name, "i"))
        *flags |= FAC_PATTERN_IGNORECASE;
    else
    if (!strcmp (name, "MULTILINE") || !strcmp (name, "M") || !strcmp (name, "m"))
        *flags |= FAC_PATTERN_MULTILINE;
    else
    if (!strcmp (name, "DOTALL") || !strcmp (name, "S") || !strcmp (name, "s"))
        *flags |= FAC_PATTERN_DOTALL;
    else
    if (!strcmp (name, "UNICODE") || !strcmp (name, "U") || !strcmp (name, "u"))
        s_note (notes, "flag UNICODE dropped (the default)");
    else
        return -1;
    return 0;
}

//  The pattern a registry key names, ready to write: {"regex", "flags",
//  "category", "type", "weight", "upstream_regex", "notes"}, or {"why"}
//  when it cannot be used. Borrowed from self->prepared.
static json_t *
s_pattern_prepare (s_import_t *self, const char *key)
{
    json_t *done = json_object_get (self->prepared, key);
    if (done)
        return done;
    json_t *result = json_object ();
    json_t *notes = json_array ();
    char why [512] = "";
    char *regex = NULL;
    json_t *source = json_object_get (self->registry, key);
    json_t *spec = json_object_get (source, "pattern_spec");
    const char *text = s_string (spec, "pattern");
    const char *type = s_string (spec, "type");
    json_t *classification = json_object_get (source, "classification");
    const char *category = s_string (classification, "category");
    if (!text || !*text) {
        snprintf (why, sizeof why, "pattern_spec.pattern: missing or empty");
        goto done;
    }
    if (!type) {
        type = "REGEX";
        s_note (notes, "pattern_spec.type missing: read as REGEX");
    }
    if (!category || !*category) {
        category = "UNCLASSIFIED";
        s_note (notes, "classification.category missing: UNCLASSIFIED");
    }
    uint32_t flags = 0;
    size_t index;
    json_t *flag;
    json_array_foreach (json_object_get (spec, "flags"), index, flag) {
        const char *name = json_string_value (flag);
        if (!name) {
            snprintf (why, sizeof why, "pattern_spec.flags[%zu]: not a string", index);
            goto done;
        }
        if (s_flag_bit (name, &flags, notes) != 0) {
            snprintf (why, sizeof why, "flag %s is not translated (IGNORECASE, MULTILINE, DOTALL "
                      "and UNICODE are)", name);
            goto done;
        }
    }
    bool literal = false;
    if (strcmp (type, "LITERAL") == 0) {
        //  Upstream marks alternations such as "Línea Base:|LB:" LITERAL:
        //  those are read as the regexes they are written as.
        if (strchr (text, '|') || strchr (text, '\\')) {
            char note [96];
            snprintf (note, sizeof note, "LITERAL read as a regex: the text contains \"%s\"",
                      strchr (text, '|') ? "|" : "\\");
            s_note (notes, note);
        }
        else
            literal = true;
    }
    else
    if (strcmp (type, "REGEX") != 0 && strcmp (type, "NER_OR_REGEX") != 0) {
        snprintf (why, sizeof why, "pattern_spec.type %s is not REGEX, LITERAL or NER_OR_REGEX", type);
        goto done;
    }
    if (literal) {
        regex = strdup (text);
        flags |= FAC_PATTERN_LITERAL;
    }
    else {
        regex = s_translate (text, notes, why, sizeof why);
        if (!regex)
            goto done;
    }
    //  Compiles exactly as the factory will.
    fac_pattern_t pattern = { .id = (char *) key, .regex = regex, .flags = flags,
                              .element_type = (char *) "x", .weight = 1 };
    char reason [256];
    if (fac_pattern_check (&pattern, reason, sizeof reason) != 0) {
        snprintf (why, sizeof why, "does not compile: %s (as written: %s)", reason, regex);
        goto done;
    }
    double weight = 1.0;
    json_t *confidence = json_object_get (classification, "confidence_weight");
    if (json_is_number (confidence) && json_number_value (confidence) >= 0
    &&  json_number_value (confidence) <= 1)
        weight = json_number_value (confidence);
    else
        s_note (notes, "classification.confidence_weight missing or not in 0..1: weight 1");
    json_t *flag_names = json_array ();
    if (flags & FAC_PATTERN_IGNORECASE)
        json_array_append_new (flag_names, json_string ("IGNORECASE"));
    if (flags & FAC_PATTERN_MULTILINE)
        json_array_append_new (flag_names, json_string ("MULTILINE"));
    if (flags & FAC_PATTERN_DOTALL)
        json_array_append_new (flag_names, json_string ("DOTALL"));
    if (flags & FAC_PATTERN_LITERAL)
        json_array_append_new (flag_names, json_string ("LITERAL"));
    json_object_set_new (result, "regex", json_string (regex));
    json_object_set_new (result, "flags", flag_names);
    json_object_set_new (result, "weight", json_real (weight));
    json_object_set_new (result, "upstream_regex", json_string (text));

done:
    json_object_set_new (result, "category", json_string (category ? category : "UNCLASSIFIED"));
    json_object_set_new (result, "type", json_string (type ? type : "REGEX"));
    json_object_set_new (result, "notes", notes);
    if (*why)
        json_object_set_new (result, "why", json_string (why));
    free (regex);
    json_object_set_new (self->prepared, key, result);
    return result;
}

//  ---------------------------------------------------------------------
//  Questions -> micro contracts

static bool
s_version_valid (const char *text)
{
    size_t length = text ? strlen (text) : 0;
    if (length < 1 || length > 63)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!isalnum ((unsigned char) text [i]) && !strchr ("_.+-", text [i]))
            return false;
    return true;
}

//  The question's Spanish text as a contract title: control characters
//  become spaces, cut at S_TITLE_MAX bytes on a character boundary.
static char *
s_title (s_import_t *self, const char *text, const char *file)
{
    s_buf_t out = { NULL, 0, 0 };
    s_buf_add (&out, "", 0);
    bool replaced = false;
    for (size_t i = 0; text [i]; i++) {
        unsigned char c = (unsigned char) text [i];
        bool control = c < 0x20 || c == 0x7F;
        s_buf_add (&out, control ? " " : text + i, 1);
        replaced |= control;
    }
    if (replaced)
        s_warning (self, "%s: text.es: control characters replaced by spaces in the title", file);
    if (out.size > S_TITLE_MAX) {
        size_t cut = S_TITLE_MAX;
        while (cut > 0 && ((unsigned char) out.data [cut] & 0xC0) == 0x80)
            cut--;
        out.data [cut] = 0;
        s_warning (self, "%s: text.es: %zu bytes, the title keeps the first %zu", file, out.size, cut);
    }
    return out.data;
}

//  Upstream's expected elements as ours: {type, minimum?, required?} and the
//  other upstream keys under "x-upstream". A malformed element is left out
//  and listed in the report. Returns the array; types the type names.
static json_t *
s_expected_elements (s_import_t *self, const json_t *elements, const char *contract_id,
                     const char *file, json_t *types)
{
    json_t *result = json_array ();
    size_t index;
    json_t *element;
    json_array_foreach (elements, index, element) {
        const char *type = s_string (element, "type");
        char problem [256] = "";
        json_t *minimum = json_object_get (element, "minimum");
        json_t *required = json_object_get (element, "required");
        if (!type || !*type)
            snprintf (problem, sizeof problem, "type missing or empty");
        else
        if (strlen (type) > S_TYPE_MAX)
            snprintf (problem, sizeof problem, "type longer than %d bytes", S_TYPE_MAX);
        else
        if (s_expects (types, type))
            snprintf (problem, sizeof problem, "type \"%s\" expected twice", type);
        else
        if (minimum && (!json_is_integer (minimum) || json_integer_value (minimum) < 0
                    ||  json_integer_value (minimum) > (json_int_t) UINT32_MAX))
            snprintf (problem, sizeof problem, "minimum must be an integer 0..4294967295");
        else
        if (required && !json_is_boolean (required))
            snprintf (problem, sizeof problem, "required must be true or false");
        for (size_t i = 0; type && !*problem && type [i]; i++)
            if ((unsigned char) type [i] < 0x20 || type [i] == 0x7F)
                snprintf (problem, sizeof problem, "type contains a control character");
        if (*problem) {
            json_array_append_new (self->element_notes, json_sprintf (
                "%s (%s): expected_elements[%zu] left out: %s", contract_id, file, index, problem));
            continue;
        }
        json_t *ours = json_pack ("{s:s}", "type", type);
        if (minimum)
            json_object_set (ours, "minimum", minimum);
        if (required)
            json_object_set (ours, "required", required);
        json_t *extra = json_object ();
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *) element, key, value)
            if (strcmp (key, "type") && strcmp (key, "minimum") && strcmp (key, "required"))
                json_object_set (extra, key, value);
        if (json_object_size (extra))
            json_object_set (ours, "x-upstream", extra);
        json_decref (extra);
        json_array_append_new (result, ours);
        json_array_append_new (types, json_string (type));
    }
    return result;
}

//  Reads question number n (1..300) and appends its micro contract; fatal
//  problems are reported as errors.
static void
s_question_import (s_import_t *self, int n)
{
    char relative [64], file [PATH_MAX];
    snprintf (relative, sizeof relative, "questions/Q%03d.json", n);
    snprintf (file, sizeof file, "%s/%s", self->farfan, relative);
    json_t *question = s_load_json (self, self->farfan, relative);
    json_t *contract = NULL, *types = json_array (), *patterns = json_array ();
    json_t *unresolved = json_array ();
    char *title = NULL;
    if (!question)
        goto cleanup;
    int area = (n - 1) / S_SLOTS + 1;
    int slot = (n - 1) % S_SLOTS + 1;
    char upstream_id [16], contract_id [32], base [16], pa [16], dim [16];
    snprintf (upstream_id, sizeof upstream_id, "Q%03d", n);
    snprintf (base, sizeof base, "Q%03d", slot);
    snprintf (pa, sizeof pa, "PA%02d", area);
    snprintf (dim, sizeof dim, "DIM%02d", (slot - 1) / 5 + 1);
    snprintf (contract_id, sizeof contract_id, "%s_%s", base, pa);

    //  Identity: the upstream ids, which must agree with the numbering.
    size_t errors = self->error_count;
    const char *id = s_string (question, "question_id");
    if (!id || strcmp (id, upstream_id) != 0)
        s_error (self, "%s: question_id: %s%s%s, expected \"%s\"", file, id ? "\"" : "",
                 id ? id : "missing", id ? "\"" : "", upstream_id);
    const char *area_id = s_string (question, "policy_area_id");
    const char *dimension_id = s_string (question, "dimension_id");
    const char *cluster_id = s_string (question, "cluster_id");
    if (!area_id || strcmp (area_id, pa) != 0)
        s_error (self, "%s: policy_area_id: %s, but %s is %s slot %d ((PA - 1) x 30 + slot)", file,
                 area_id ? area_id : "missing", upstream_id, pa, slot);
    if (!dimension_id || strcmp (dimension_id, dim) != 0)
        s_error (self, "%s: dimension_id: %s, but slot %d is in %s", file,
                 dimension_id ? dimension_id : "missing", slot, dim);
    if (!cluster_id || strcmp (cluster_id, self->area_cluster [area - 1]) != 0)
        s_error (self, "%s: cluster_id: %s, but the manifest puts %s in %s", file,
                 cluster_id ? cluster_id : "missing", pa, self->area_cluster [area - 1]);
    const char *text = s_string (json_object_get (question, "text"), "es");
    if (!text || !*text)
        s_error (self, "%s: text.es: missing or empty (the question's text is the contract's title)",
                 file);

    //  Scoring.
    json_t *scoring = json_object_get (question, "scoring");
    const char *modality = s_string (scoring, "modality");
    json_t *modality_spec = modality ? json_object_get (self->modalities, modality) : NULL;
    json_t *threshold = json_object_get (scoring, "threshold");
    if (!modality)
        s_error (self, "%s: scoring.modality: missing", file);
    else
    if (!modality_spec)
        s_error (self, "%s: scoring.modality: \"%s\" is not a modality of scoring_system.json", file,
                 modality);
    if (!threshold && modality_spec)
        threshold = json_object_get (modality_spec, "threshold");
    if (modality && (!json_is_number (threshold) || json_number_value (threshold) < 0
                 ||  json_number_value (threshold) > 1))
        s_error (self, "%s: scoring.threshold: must be a number 0..1 (or come from the modality in "
                 "scoring_system.json)", file);

    //  Expected elements.
    json_t *elements = json_object_get (question, "expected_elements");
    json_t *expected = NULL;
    if (!json_is_array (elements))
        s_error (self, "%s: expected_elements: must be an array", file);
    else {
        expected = s_expected_elements (self, elements, contract_id, file, types);
        if (json_array_size (expected) == 0)
            s_error (self, "%s: expected_elements: no usable element (see the notes above)", file);
    }
    json_t *refs = json_object_get (json_object_get (question, "references"), "pattern_refs");
    if (!json_is_array (refs))
        s_error (self, "%s: references.pattern_refs: must be an array of pattern ids", file);
    if (self->error_count > errors) {
        json_decref (expected);
        goto cleanup;
    }

    //  Patterns.
    size_t index;
    json_t *ref_value;
    json_array_foreach (refs, index, ref_value) {
        const char *ref = json_string_value (ref_value);
        self->refs_total++;
        if (!ref) {
            json_array_append_new (self->element_notes, json_sprintf (
                "%s (%s): references.pattern_refs[%zu] is not a string", contract_id, file, index));
            self->refs_unresolved++;
            continue;
        }
        const char *via = NULL;
        const char *key = s_resolve (self, ref, &via);
        if (!key) {
            self->refs_unresolved++;
            json_t *where = json_object_get (self->unresolved, ref);
            if (!where) {
                where = json_array ();
                json_object_set_new (self->unresolved, ref, where);
            }
            json_array_append_new (where, json_string (contract_id));
            json_array_append_new (unresolved, json_string (ref));
            continue;
        }
        if (!strcmp (via, "registry"))
            self->refs_registry++;
        else
        if (!strcmp (via, "legacy_ids"))
            self->refs_legacy++;
        else
            self->refs_alias++;
        bool duplicate = false;
        size_t k;
        json_t *written;
        json_array_foreach (patterns, k, written)
            duplicate |= strcmp (s_string (written, "id"), key) == 0;
        if (duplicate) {
            self->refs_merged++;
            continue;
        }
        json_t *prepared = s_pattern_prepare (self, key);
        if (json_object_get (prepared, "why")) {
            json_t *entry = json_object_get (self->untranslatable, key);
            if (!entry) {
                entry = json_pack ("{s:O, s:[]}", "why", json_object_get (prepared, "why"),
                                   "contracts");
                json_object_set_new (self->untranslatable, key, entry);
            }
            json_array_append_new (json_object_get (entry, "contracts"), json_string (contract_id));
            continue;
        }
        const char *how = NULL;
        char *element = s_map_element (self, s_string (prepared, "category"),
                                       s_string (prepared, "upstream_regex"), types, &how);
        if (!strcmp (how, "category"))
            self->mapped_category++;
        else
        if (!strcmp (how, "cue"))
            self->mapped_cue++;
        else
            self->mapped_none++;
        json_t *upstream = json_pack ("{s:O, s:O, s:s}", "type", json_object_get (prepared, "type"),
                                      "category", json_object_get (prepared, "category"),
                                      "element_map", how);
        if (strcmp (ref, key) != 0) {
            json_object_set_new (upstream, "ref", json_string (ref));
            json_object_set_new (upstream, "resolved_through", json_string (via));
        }
        if (strcmp (s_string (prepared, "regex"), s_string (prepared, "upstream_regex")) != 0)
            json_object_set (upstream, "regex", json_object_get (prepared, "upstream_regex"));
        if (json_array_size (json_object_get (prepared, "notes")))
            json_object_set (upstream, "translation", json_object_get (prepared, "notes"));
        json_array_append_new (patterns, json_pack ("{s:s, s:O, s:O, s:s, s:O, s:o}",
            "id", key, "regex", json_object_get (prepared, "regex"),
            "flags", json_object_get (prepared, "flags"), "element_type", element,
            "weight", json_object_get (prepared, "weight"), "x-upstream", upstream));
        free (element);
    }

    //  Expected element types no pattern is evidence of.
    json_t *missing = json_array ();
    json_t *type;
    json_array_foreach (types, index, type) {
        bool covered = false;
        size_t k;
        json_t *pattern;
        json_array_foreach (patterns, k, pattern)
            covered |= strcmp (s_string (pattern, "element_type"), json_string_value (type)) == 0;
        if (!covered)
            json_array_append (missing, type);
    }
    if (json_array_size (missing))
        json_array_append_new (self->missing_types, json_pack ("{s:s, s:s, s:o}",
            "contract", contract_id, "upstream_id", upstream_id, "types", missing));
    else
        json_decref (missing);

    //  The contract.
    title = s_title (self, text, file);
    const char *version = s_string (json_object_get (question, "metadata"), "version");
    if (!s_version_valid (version))
        version = s_string (question, "_schema_version");
    if (!s_version_valid (version))
        version = "1.0.0";
    contract = json_pack ("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:[s], s:o, s:{s:s, s:O}, s:s}",
        "id", contract_id, "version", version, "type", "micro", "title", title,
        "identity", "base_question", base, "policy_area", area_id, "dimension", dimension_id,
        "cluster", cluster_id,
        "applicable_phases", "P02",
        "expected_elements", expected,
        "scoring", "modality", modality, "threshold", threshold,
        "x-upstream-id", upstream_id);
    if (!json_is_real (json_object_get (json_object_get (contract, "scoring"), "threshold")))
        json_object_set_new (json_object_get (contract, "scoring"), "threshold",
                             json_real (json_number_value (threshold)));
    json_t *weights = json_object_get (scoring, "weights");
    if (weights)
        json_object_set (contract, "x-upstream-scoring-weights", weights);
    if (json_array_size (unresolved))
        json_object_set (contract, "x-upstream-unresolved-refs", unresolved);
    if (json_array_size (patterns)) {
        self->pattern_entries += json_array_size (patterns);
        json_object_set (contract, "patterns", patterns);
        json_object_set_new (contract, "inputs", json_pack ("{s:b}", "document", true));
        json_object_set_new (contract, "methods", json_pack ("[{s:s}, {s:s}]",
            "method", "text.match_patterns", "method", "text.count_elements"));
    }
    else {
        //  No usable pattern: nothing to evaluate the question with. It is
        //  written INACTIVE (it loads, is never run: its result is SKIPPED)
        //  so the structure still has every question, and it is reported.
        json_object_set_new (contract, "status", json_string ("INACTIVE"));
        json_object_set_new (contract, "methods", json_pack ("[{s:s}]", "method", "core.noop"));
        json_object_set_new (contract, "x-upstream-note", json_string (
            "no usable pattern: every reference is unresolved or could not be translated"));
        json_array_append_new (self->inactive, json_string (contract_id));
    }
    json_array_append (self->micro, contract);

cleanup:
    free (title);
    json_decref (contract);
    json_decref (types);
    json_decref (patterns);
    json_decref (unresolved);
    json_decref (question);
}

//  Files of questions/ that are not Q001..Q300.json are not imported: say so.
static void
s_questions_extra (s_import_t *self)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/questions", self->farfan);
    DIR *dir = opendir (path);
    if (!dir)
        return;                         // each question reported it
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        const char *name = entry->d_name;
        if (name [0] == '.')
            continue;
        int n = 0;
        char tail [8] = "";
        bool question = strlen (name) == 9 && sscanf (name, "Q%3d%7s", &n, tail) == 2
                     && isdigit ((unsigned char) name [1]) && strcmp (tail, ".json") == 0
                     && n >= 1 && n <= S_QUESTIONS;
        if (!question)
            s_warning (self, "%s/%s: not one of Q001.json..Q300.json: not imported", path, name);
    }
    closedir (dir);
}

//  Validates every contract of a list as the factory will, before anything
//  is written.
static void
s_validate (s_import_t *self, const json_t *contracts)
{
    size_t index;
    json_t *contract;
    json_array_foreach (contracts, index, contract) {
        json_t *document = json_deep_copy (contract);
        json_object_set_new (document, "format", json_string ("farfan-contract/1"));
        fac_load_report_t report;
        fac_load_report_init (&report, 8);
        fac_contract_t *parsed = fac_contract_parse (document, s_string (contract, "id"), NULL, &report);
        if (!parsed)
            for (size_t e = 0; e < report.count && e < report.capacity; e++)
                s_error (self, "%s: %s: %s (not written: a factory would refuse it)",
                         report.errors [e].contract_id, report.errors [e].field,
                         report.errors [e].reason);
        fac_contract_unref (&parsed);
        fac_load_report_free (&report);
        json_decref (document);
    }
}

//  ---------------------------------------------------------------------
//  Report

static int
s_compare_keys (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  The keys of an object in byte order (a new array of borrowed strings,
//  *count set): the report lists by id, whatever the order things were met.
static const char **
s_sorted_keys (const json_t *object, size_t *count)
{
    const char **keys = (const char **) calloc (json_object_size (object) + 1, sizeof (char *));
    assert (keys);
    size_t n = 0;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value)
        keys [n++] = key;
    qsort (keys, n, sizeof (char *), s_compare_keys);
    *count = n;
    return keys;
}

static json_t *
s_report_json (s_import_t *self, int loaded, const char *digest, size_t load_errors)
{
    json_t *phases = json_object ();
    size_t written = 0, count, k;
    const char **keys = s_sorted_keys (self->by_phase, &count);
    for (k = 0; k < count; k++) {
        json_t *list = json_object_get (self->by_phase, keys [k]);
        if (!json_is_array (list))
            continue;                   // "x-generated-by"
        json_object_set_new (phases, keys [k], json_integer ((json_int_t) json_array_size (list)));
        written += json_array_size (list);
    }
    free (keys);
    size_t compiled = 0, translated_count = 0, ner = 0, literal = 0;
    json_t *translated = json_array ();
    keys = s_sorted_keys (self->prepared, &count);
    for (k = 0; k < count; k++) {
        const char *key = keys [k];
        json_t *prepared = json_object_get (self->prepared, key);
        if (json_object_get (prepared, "why"))
            continue;
        compiled++;
        ner += strcmp (s_string (prepared, "type"), "NER_OR_REGEX") == 0;
        literal += s_expects (json_object_get (prepared, "flags"), "LITERAL");
        if (json_array_size (json_object_get (prepared, "notes"))) {
            translated_count++;
            json_array_append_new (translated, json_pack ("{s:s, s:O, s:O, s:O}", "id", key,
                "upstream", json_object_get (prepared, "upstream_regex"),
                "regex", json_object_get (prepared, "regex"),
                "notes", json_object_get (prepared, "notes")));
        }
    }
    free (keys);
    json_t *unresolved = json_array ();
    keys = s_sorted_keys (self->unresolved, &count);
    for (k = 0; k < count; k++) {
        json_t *where = json_object_get (self->unresolved, keys [k]);
        json_array_append_new (unresolved, json_pack ("{s:s, s:I, s:O}", "ref", keys [k],
            "count", (json_int_t) json_array_size (where), "contracts", where));
    }
    free (keys);
    json_t *untranslatable = json_array ();
    keys = s_sorted_keys (self->untranslatable, &count);
    for (k = 0; k < count; k++) {
        json_t *entry = json_object_get (self->untranslatable, keys [k]);
        json_array_append_new (untranslatable, json_pack ("{s:s, s:O, s:O}", "id", keys [k],
            "why", json_object_get (entry, "why"), "contracts", json_object_get (entry, "contracts")));
    }
    free (keys);
    json_t *entry;
    size_t missing_total = 0, index;
    json_array_foreach (self->missing_types, index, entry)
        missing_total += json_array_size (json_object_get (entry, "types"));
    return json_pack ("{s:b, s:s, s:s, s:s, s:O, s:I,"
                      " s:{s:I, s:I, s:I, s:o, s:O},"
                      " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:o},"
                      " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o},"
                      " s:{s:s, s:I, s:I, s:I},"
                      " s:{s:I, s:I, s:O},"
                      " s:O, s:O,"
                      " s:{s:i, s:I, s:s?},"
                      " s:I}",
        "ok", self->error_count == 0 && load_errors == 0,
        "farfan", self->farfan, "out", self->out, "source", self->source,
        "errors", self->errors, "error_count", (json_int_t) self->error_count,
        "contracts",
            "written", (json_int_t) written,
            "micro", (json_int_t) json_array_size (self->micro),
            "micro_inactive", (json_int_t) json_array_size (self->inactive),
            "by_phase", phases,
            "inactive", self->inactive,
        "references",
            "total", (json_int_t) self->refs_total,
            "registry", (json_int_t) self->refs_registry,
            "legacy_ids", (json_int_t) self->refs_legacy,
            "contracts_v4", (json_int_t) self->refs_alias,
            "unresolved", (json_int_t) self->refs_unresolved,
            "merged", (json_int_t) self->refs_merged,
            "unresolved_refs", unresolved,
        "patterns",
            "registry", (json_int_t) json_object_size (self->registry),
            "referenced", (json_int_t) json_object_size (self->prepared),
            "compiled", (json_int_t) compiled,
            "translated", (json_int_t) translated_count,
            "literal", (json_int_t) literal,
            "ner_or_regex", (json_int_t) ner,
            "written", (json_int_t) self->pattern_entries,
            "translations", translated,
            "untranslatable", untranslatable,
        "element_map",
            "file", S_MAP_FILE,
            "category", (json_int_t) self->mapped_category,
            "cue", (json_int_t) self->mapped_cue,
            "unmapped", (json_int_t) self->mapped_none,
        "missing_element_types",
            "contracts", (json_int_t) json_array_size (self->missing_types),
            "types", (json_int_t) missing_total,
            "by_contract", self->missing_types,
        "element_notes", self->element_notes,
        "warnings", self->warnings,
        "load",
            "contracts", loaded, "errors", (json_int_t) load_errors, "digest", digest,
        "elapsed_ms", (json_int_t) ((ff_clock_mono_us () - self->started_us) / 1000));
}

static void
s_report_print (json_t *report, FILE *out)
{
    json_t *contracts = json_object_get (report, "contracts");
    json_t *refs = json_object_get (report, "references");
    json_t *patterns = json_object_get (report, "patterns");
    json_t *map = json_object_get (report, "element_map");
    json_t *missing = json_object_get (report, "missing_element_types");
    json_t *load = json_object_get (report, "load");
#define S_INT(object, key) ((long long) json_integer_value (json_object_get (object, key)))
    fprintf (out, "%s: %s -> %s\n", S_PREFIX, s_string (report, "farfan"), s_string (report, "out"));
    fprintf (out, "  contracts     %lld written: %lld micro (%lld inactive: no usable pattern)",
             S_INT (contracts, "written"), S_INT (contracts, "micro"),
             S_INT (contracts, "micro_inactive"));
    const char *phase;
    json_t *value;
    const char *separator = "; by phase ";
    json_object_foreach (json_object_get (contracts, "by_phase"), phase, value) {
        fprintf (out, "%s%s %lld", separator, phase, (long long) json_integer_value (value));
        separator = ", ";
    }
    fprintf (out, "\n  references    %lld: %lld registry keys, %lld through legacy_ids, %lld through "
             "contracts_v4 aliases, %lld unresolved, %lld merged (same pattern twice)\n",
             S_INT (refs, "total"), S_INT (refs, "registry"), S_INT (refs, "legacy_ids"),
             S_INT (refs, "contracts_v4"), S_INT (refs, "unresolved"), S_INT (refs, "merged"));
    fprintf (out, "  patterns      %lld in the registry, %lld referenced, %lld compiled (%lld translated; "
             "%lld matched literally, %lld NER_OR_REGEX as regexes), %lld could not be translated; "
             "%lld written in micro contracts\n",
             S_INT (patterns, "registry"), S_INT (patterns, "referenced"), S_INT (patterns, "compiled"),
             S_INT (patterns, "translated"), S_INT (patterns, "literal"), S_INT (patterns, "ner_or_regex"),
             (long long) json_array_size (json_object_get (patterns, "untranslatable")),
             S_INT (patterns, "written"));
    fprintf (out, "  element map   %s: %lld by category, %lld by cue, %lld unmapped\n",
             s_string (map, "file"), S_INT (map, "category"), S_INT (map, "cue"), S_INT (map, "unmapped"));
    fprintf (out, "  load check    %lld contracts, %lld errors%s%s\n", S_INT (load, "contracts"),
             S_INT (load, "errors"), s_string (load, "digest") ? ", set digest " : "",
             s_string (load, "digest") ? s_string (load, "digest") : "");
    fprintf (out, "  time          %lld ms\n", S_INT (report, "elapsed_ms"));

    size_t index;
    json_t *entry;
    json_t *list = json_object_get (refs, "unresolved_refs");
    fprintf (out, "\nUnresolved references (%lld, %zu ids):%s\n", S_INT (refs, "unresolved"),
             json_array_size (list), json_array_size (list) ? "" : " none");
    json_array_foreach (list, index, entry) {
        fprintf (out, "  %s (%lld):", s_string (entry, "ref"), S_INT (entry, "count"));
        size_t k;
        json_array_foreach (json_object_get (entry, "contracts"), k, value)
            fprintf (out, " %s", json_string_value (value));
        fprintf (out, "\n");
    }
    list = json_object_get (patterns, "untranslatable");
    fprintf (out, "\nPatterns that could not be translated (%zu):%s\n", json_array_size (list),
             json_array_size (list) ? "" : " none");
    json_array_foreach (list, index, entry) {
        fprintf (out, "  %s: %s; left out of", s_string (entry, "id"), s_string (entry, "why"));
        size_t k;
        json_array_foreach (json_object_get (entry, "contracts"), k, value)
            fprintf (out, " %s", json_string_value (value));
        fprintf (out, "\n");
    }
    list = json_object_get (patterns, "translations");
    fprintf (out, "\nTranslated patterns (%zu):%s\n", json_array_size (list),
             json_array_size (list) ? "" : " none");
    json_array_foreach (list, index, entry) {
        fprintf (out, "  %s:", s_string (entry, "id"));
        size_t k;
        const char *join = " ";
        json_array_foreach (json_object_get (entry, "notes"), k, value) {
            fprintf (out, "%s%s", join, json_string_value (value));
            join = "; ";
        }
        fprintf (out, "\n");
    }
    list = json_object_get (missing, "by_contract");
    fprintf (out, "\nExpected element types without a mapped pattern (%lld in %lld contracts):%s\n",
             S_INT (missing, "types"), S_INT (missing, "contracts"), json_array_size (list) ? "" : " none");
    json_array_foreach (list, index, entry) {
        fprintf (out, "  %s (upstream %s):", s_string (entry, "contract"), s_string (entry, "upstream_id"));
        size_t k;
        const char *join = " ";
        json_array_foreach (json_object_get (entry, "types"), k, value) {
            fprintf (out, "%s%s", join, json_string_value (value));
            join = ", ";
        }
        fprintf (out, "\n");
    }
    list = json_object_get (contracts, "inactive");
    if (json_array_size (list)) {
        fprintf (out, "\nMicro contracts written INACTIVE (no usable pattern):");
        json_array_foreach (list, index, value)
            fprintf (out, " %s", json_string_value (value));
        fprintf (out, "\n");
    }
    list = json_object_get (report, "element_notes");
    if (json_array_size (list)) {
        fprintf (out, "\nUpstream entries left out (%zu):\n", json_array_size (list));
        json_array_foreach (list, index, value)
            fprintf (out, "  %s\n", json_string_value (value));
    }
    list = json_object_get (report, "warnings");
    if (json_array_size (list)) {
        fprintf (out, "\nWarnings (%zu):\n", json_array_size (list));
        json_array_foreach (list, index, value)
            fprintf (out, "  %s\n", json_string_value (value));
    }
#undef S_INT
}

//  ---------------------------------------------------------------------
//  The command

static void
s_help (FILE *out)
{
    fprintf (out,
        "Usage: farfanctl contracts import --farfan DIR --out DIR [--source DIR] [--json]\n\n"
        "Writes a contract set from upstream FARFAN's questionnaire: the 300 questions as\n"
        "P02 micro contracts (upstream Q031 = PA02 slot 1 -> Q001_PA02), pattern references\n"
        "resolved (registry keys, legacy_ids, contracts_v4 aliases), Python re patterns\n"
        "translated for PCRE2, each pattern's element type from the element map, then the\n"
        "structure contracts P00, P01, P03-P09. Every written contract is loaded back as a\n"
        "factory loads it. See contracts/README.md, \"Importing upstream FARFAN\".\n\n"
        "  --farfan DIR   the upstream layout (questions/, patterns/MASTER_INDEX.json,\n"
        "                 scoring_system.json, modular_manifest.json, policy_areas/)\n"
        "  --out DIR      the set directory to write (created; its phase set files replaced)\n"
        "  --source DIR   contracts source: the element map (%s) and the\n"
        "                 structure (structure.json); default %s\n"
        "  --json         the report as one JSON object\n\n"
        "Exit codes: 0 written (unresolved references are reported, not fatal), 1 could not\n"
        "be written (unreadable or inconsistent input), 2 usage error.\n",
        S_MAP_FILE, FF_CONTRACTS_SOURCE_DIR);
}

static int
s_usage_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_usage_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "%s: ", S_PREFIX);
    vfprintf (stderr, format, args);
    fprintf (stderr, " (see farfanctl contracts import --help)\n");
    va_end (args);
    return CTL_EXIT_USAGE;
}

//  Loads the written directory as a factory does; *digest is set (static
//  storage) when every contract loaded.
static int
s_load_check (s_import_t *self, size_t *errors, char *digest, size_t digest_size)
{
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    fac_load_report_t report;
    fac_load_report_init (&report, 20);
    int loaded = fac_contract_set_load_dir (set, self->out, &report);
    *errors = report.count;
    for (size_t e = 0; e < report.count && e < report.capacity; e++)
        s_error (self, "load check: %s: %s%s%s", report.errors [e].file, report.errors [e].field,
                 *report.errors [e].field ? ": " : "", report.errors [e].reason);
    if (report.count > report.capacity)
        s_error (self, "load check: %zu more errors", report.count - report.capacity);
    snprintf (digest, digest_size, "%s", fac_contract_set_digest (set));
    fac_load_report_free (&report);
    fac_contract_set_destroy (&set);
    return loaded;
}


//  The collections an import fills in (errors, warnings, the contracts it
//  prepares...), empty.
static void
s_import_collections_new (s_import_t *self)
{
    self->errors = json_array ();
    self->warnings = json_array ();
    self->unresolved = json_object ();
    self->untranslatable = json_object ();
    self->missing_types = json_array ();
    self->inactive = json_array ();
    self->element_notes = json_array ();
    self->prepared = json_object ();
    self->micro = json_array ();
    self->by_phase = json_object ();
}

//  Frees everything an import read and made (not self).
static void
s_import_free (s_import_t *self)
{
    ctl_structure_destroy (&self->structure);
    json_decref (self->map);
    json_decref (self->cues);
    json_decref (self->index);
    json_decref (self->legacy);
    json_decref (self->aliases);
    json_decref (self->scoring);
    json_decref (self->manifest);
    json_decref (self->prepared);
    json_decref (self->micro);
    json_decref (self->by_phase);
    json_decref (self->errors);
    json_decref (self->warnings);
    json_decref (self->unresolved);
    json_decref (self->untranslatable);
    json_decref (self->missing_types);
    json_decref (self->inactive);
    json_decref (self->element_notes);
}
int
ctl_contracts_import (int argc, char **argv)
{
    s_import_t self_data = { 0 };
    s_import_t *self = &self_data;
    self->source = FF_CONTRACTS_SOURCE_DIR;
    //  argv: "contracts" "import" options... (ctl_contracts_dispatch).
    for (int i = 2; i < argc; i++) {
        const char *arg = argv [i];
        if (!strcmp (arg, "--help") || !strcmp (arg, "-h")) {
            s_help (stdout);
            return CTL_EXIT_OK;
        }
        if (!strcmp (arg, "--json")) {
            self->json = true;
            continue;
        }
        const char **target = !strcmp (arg, "--farfan") ? &self->farfan
                            : !strcmp (arg, "--out") ? &self->out
                            : !strcmp (arg, "--source") ? &self->source : NULL;
        if (!target)
            return arg [0] == '-' ? s_usage_error ("unknown option \"%s\"", arg)
                                  : s_usage_error ("unexpected argument \"%s\"", arg);
        if (i + 1 >= argc || !*argv [i + 1])
            return s_usage_error ("%s needs a directory", arg);
        *target = argv [++i];
    }
    if (!self->farfan)
        return s_usage_error ("--farfan DIR is required (the upstream layout)");
    if (!self->out)
        return s_usage_error ("--out DIR is required (the set directory to write)");

    self->started_us = (int64_t) ff_clock_mono_us ();
    s_import_collections_new (self);
    int loaded = 0;
    size_t load_errors = 0;
    bool written_out = false;   // set files written (even if they then fail the load check)
    char digest [80] = "";
    char err [1024];
    int rc = CTL_EXIT_ERROR_REPLY;

    //  Inputs, all read before anything is written.
    struct stat info;
    if (stat (self->farfan, &info) != 0) {
        s_error (self, "%s: cannot read the upstream directory: %s", self->farfan, strerror (errno));
        goto report;
    }
    if (!S_ISDIR (info.st_mode)) {
        s_error (self, "%s: cannot read the upstream directory: not a directory", self->farfan);
        goto report;
    }
    s_map_load (self);
    self->structure = ctl_structure_load (self->source, err, sizeof err);
    if (!self->structure)
        s_error (self, "%s", err);
    if (s_manifest_load (self) == 0)
        s_policy_areas_check (self);
    s_scoring_load (self);
    s_registry_load (self);
    s_aliases_load (self);
    if (self->error_count)
        goto report;
    for (int n = 1; n <= S_QUESTIONS; n++)
        s_question_import (self, n);
    s_questions_extra (self);
    if (self->error_count)
        goto report;
    s_validate (self, self->micro);
    if (self->error_count)
        goto report;

    //  The structure around the micro contracts, then the set.
    json_t *by_phase = ctl_structure_build (self->structure, self->micro, err, sizeof err);
    if (!by_phase) {
        s_error (self, "structure: %s", err);
        goto report;
    }
    json_decref (self->by_phase);
    self->by_phase = by_phase;
    json_object_set (self->by_phase, "P02", self->micro);
    const char *phase;
    json_t *list;
    json_object_foreach (self->by_phase, phase, list)
        if (strcmp (phase, "P02") != 0)
            s_validate (self, list);
    if (self->error_count)
        goto report;
    json_object_set_new (self->by_phase, "x-generated-by", json_string (
        "farfanctl contracts import: upstream FARFAN's questionnaire (contracts/README.md)"));
    if (ctl_set_write (self->out, self->by_phase, err, sizeof err) != 0) {
        s_error (self, "%s", err);
        goto report;
    }
    written_out = true;
    loaded = s_load_check (self, &load_errors, digest, sizeof digest);
    size_t written = 0;
    json_object_foreach (self->by_phase, phase, list)
        written += json_is_array (list) ? json_array_size (list) : 0;
    if (loaded >= 0 && (size_t) loaded > written)
        s_error (self, "load check: %s holds %d contracts, %zu were written: remove the other "
                 "contract files, a factory would load them too", self->out, loaded, written);
    if (!self->error_count)
        rc = CTL_EXIT_OK;

report:;
    json_t *report = s_report_json (self, loaded, *digest && !load_errors ? digest : NULL,
                                    load_errors);
    if (self->json) {
        char *text = json_dumps (report, JSON_INDENT (2));
        if (text)
            fprintf (stdout, "%s\n", text);
        free (text);
    }
    else
    if (!self->error_count || written_out)
        s_report_print (report, stdout);
    if (self->error_count) {
        size_t index;
        json_t *error;
        fprintf (stderr, "%s: %s:\n", S_PREFIX, written_out
                 ? "the set was written but does not load as a factory loads it"
                 : "the set was not written");
        json_array_foreach (self->errors, index, error)
            fprintf (stderr, "  %s\n", json_string_value (error));
        if (self->error_count > json_array_size (self->errors))
            fprintf (stderr, "  ... %zu more\n", self->error_count - json_array_size (self->errors));
    }
    json_decref (report);
    s_import_free (self);
    fflush (stdout);
    return rc;
}
