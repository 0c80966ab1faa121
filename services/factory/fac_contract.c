/*  fac_contract — contracts: parsing and validation, the canonical form and
    its digest, contract sets. The format, the canonicalisation rules and
    the error behaviour are specified in proto/contracts.md; this file is
    their implementation and the two must agree.
*/
#include "fac_contract.h"
#include "fac_json.h"
#include "fac_method.h"

#include <assert.h>
#include <czmq.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FORMAT_CONTRACT   "farfan-contract/1"
#define S_FORMAT_SET        "farfan-contract-set/1"

//  Limits of the format (contracts.md, section 2).
#define S_ID_MAX            63          // contract and pattern ids, bytes
#define S_VERSION_MAX       63
#define S_ELEMENT_TYPE_MAX  127         // element types, bytes of UTF-8
#define S_TIMEOUT_DEFAULT   30000
#define S_TIMEOUT_MAX       3600000
#define S_TITLE_MAX         2048        // title, bytes of UTF-8

static const char *s_top_keys [] = {
    "format", "id", "version", "status", "type", "identity", "applicable_phases",
    "inputs", "patterns", "expected_elements", "methods", "scoring", "timeout_ms", "title",
};
static const char *s_identity_keys [] = { "base_question", "policy_area", "dimension", "cluster" };
static const char *s_inputs_keys [] = { "document", "contracts" };
static const char *s_pattern_keys [] = { "id", "regex", "flags", "element_type", "weight" };
static const char *s_expected_keys [] = { "type", "minimum", "required" };
static const char *s_step_keys [] = { "method", "params" };
static const char *s_set_keys [] = { "format", "contracts" };

static const char *s_types [] = {
    "micro", "aggregation", "ingestion", "scoring", "recommendation", "report", "task",
};
//  FARFAN's scoring modalities (upstream scoring_system.json).
static const char *s_modalities [] = {
    "TYPE_A", "TYPE_B", "TYPE_C", "TYPE_D", "TYPE_E", "TYPE_F",
    "MESO_INTEGRATION", "MACRO_HOLISTIC",
};
//  Pattern flags in canonical order, bit i = 1 << i.
static const char *s_flag_names [] = { "IGNORECASE", "MULTILINE", "DOTALL", "LITERAL" };

#define S_COUNT(array) (sizeof (array) / sizeof (array) [0])

//  ---------------------------------------------------------------------
//  Load reports

void
fac_load_report_init (fac_load_report_t *report, size_t capacity)
{
    assert (report);
    report->count = 0;
    report->errors = capacity ? (fac_load_error_t *) calloc (capacity, sizeof (fac_load_error_t))
                              : NULL;
    report->capacity = report->errors ? capacity : 0;
}

void
fac_load_report_free (fac_load_report_t *report)
{
    if (!report)
        return;
    free (report->errors);
    report->errors = NULL;
    report->count = 0;
    report->capacity = 0;
}

//  Copies text into a fixed field; a text too long keeps its end (the
//  file name of a long path) behind "...".
static void
s_copy_tail (char *out, size_t out_size, const char *text)
{
    size_t length = strlen (text);
    if (length < out_size)
        memcpy (out, text, length + 1);
    else
        snprintf (out, out_size, "...%s", text + length - (out_size - 4));
}

static void
s_report_add (fac_load_report_t *report, const char *file, const char *field,
              const char *contract_id, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

static void
s_report_add (fac_load_report_t *report, const char *file, const char *field,
              const char *contract_id, const char *format, ...)
{
    if (!report)
        return;
    if (report->count < report->capacity) {
        fac_load_error_t *error = &report->errors [report->count];
        s_copy_tail (error->file, sizeof error->file, file ? file : "");
        snprintf (error->field, sizeof error->field, "%s", field ? field : "");
        snprintf (error->contract_id, sizeof error->contract_id, "%s",
                  contract_id ? contract_id : "");
        va_list args;
        va_start (args, format);
        vsnprintf (error->reason, sizeof error->reason, format, args);
        va_end (args);
    }
    report->count++;
}

//  ---------------------------------------------------------------------
//  Parsing one contract

typedef struct {
    const char *source;             // file or "put_contracts[i]", for errors
    char prefix [40];               // "contracts[7]" inside a set file, else ""
    char contract_id [64];          // for errors, once seen
    fac_load_report_t *report;
    size_t errors;                  // problems found in this contract
    bool nomem;                     // an allocation failed: stop
    size_t *step_index;             // index in "methods" of each parsed step (owned)
    char failed [16][64];           // fields with an error reported (the first 16)
    size_t failed_count;
} s_parse_t;

//  True when a is b, or one is inside the other ("patterns" and
//  "patterns[2].regex"; not "inputs.document" and "inputs.contracts").
static bool
s_path_overlaps (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    const char *shorter = la < lb ? a : b, *longer = la < lb ? b : a;
    size_t length = la < lb ? la : lb;
    return strncmp (shorter, longer, length) == 0
        && (longer [length] == '\0' || longer [length] == '.' || longer [length] == '[');
}

//  True when an error was reported at or inside path, or around it.
static bool
s_section_failed (const s_parse_t *p, const char *path)
{
    for (size_t i = 0; i < p->failed_count; i++)
        if (s_path_overlaps (p->failed [i], path))
            return true;
    return false;
}

static void
s_fail (s_parse_t *p, const char *field, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Records one problem at field (a path relative to the contract).
static void
s_fail (s_parse_t *p, const char *field, const char *format, ...)
{
    char path [256];
    if (p->prefix [0] && field [0])
        snprintf (path, sizeof path, "%s.%s", p->prefix, field);
    else
        snprintf (path, sizeof path, "%s", p->prefix [0] ? p->prefix : field);
    char reason [256];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    s_report_add (p->report, p->source, path, p->contract_id, "%s", reason);
    p->errors++;
    if (p->failed_count < S_COUNT (p->failed))
        snprintf (p->failed [p->failed_count++], sizeof p->failed [0], "%s", field);
}

//  "base.key", or "key" when base is "".
static const char *
s_path (char *out, size_t out_size, const char *base, const char *key)
{
    if (base [0])
        snprintf (out, out_size, "%s.%s", base, key);
    else
        snprintf (out, out_size, "%s", key);
    return out;
}

static const char *
s_type_name (const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT:  return "an object";
        case JSON_ARRAY:   return "an array";
        case JSON_STRING:  return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL:    return "a real number";
        case JSON_TRUE:
        case JSON_FALSE:   return "a boolean";
        default:           return "null";
    }
}

static bool
s_is_extension (const char *key)
{
    return strncmp (key, "x-", 2) == 0 || key [0] == '_';
}

//  Levenshtein distance, capped: names longer than 63 are "far".
static size_t
s_distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row [64];
    for (size_t j = 0; j <= lb; j++)
        row [j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row [0];
        row [0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row [j];
            size_t best = diagonal + (a [i - 1] == b [j - 1] ? 0 : 1);
            if (above + 1 < best)
                best = above + 1;
            if (row [j - 1] + 1 < best)
                best = row [j - 1] + 1;
            row [j] = best;
            diagonal = above;
        }
    }
    return row [lb];
}

static bool
s_in_list (const char *text, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (streq (text, list [i]))
            return true;
    return false;
}

//  Reports every key of object that is neither known nor an extension,
//  suggesting the nearest known key for a likely typo.
static void
s_check_keys (s_parse_t *p, const json_t *object, const char *base,
              const char *const *known, size_t known_count)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value) {
        if (s_in_list (key, known, known_count) || s_is_extension (key))
            continue;
        const char *nearest = NULL;
        size_t nearest_distance = 3;        // suggest within 2 edits
        for (size_t i = 0; i < known_count; i++) {
            size_t distance = s_distance (key, known [i]);
            if (distance < nearest_distance && distance < strlen (known [i])) {
                nearest = known [i];
                nearest_distance = distance;
            }
        }
        char path [200];
        if (nearest)
            s_fail (p, s_path (path, sizeof path, base, key),
                    "unknown field (did you mean \"%s\"? extensions start with \"x-\" or \"_\")",
                    nearest);
        else
            s_fail (p, s_path (path, sizeof path, base, key),
                    "unknown field (extensions start with \"x-\" or \"_\")");
    }
}

//  Sets or appends a new value in the canonical document; a NULL value or
//  a failure (memory) marks the parse failed rather than silently leaving
//  a key out of the canonical form.
static void
s_put (s_parse_t *p, json_t *object, const char *key, json_t *value)
{
    if (json_object_set_new (object, key, value) != 0)
        p->nomem = true;
}

static void
s_append (s_parse_t *p, json_t *array, json_t *value)
{
    if (json_array_append_new (array, value) != 0)
        p->nomem = true;
}

//  Copies the extension keys ("x-...", "_...") of from into to.
static void
s_copy_extensions (s_parse_t *p, json_t *to, const json_t *from)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) from, key, value) {
        if (s_is_extension (key))
            s_put (p, to, key, json_deep_copy (value));
    }
}

//  JSON types a field may be required to have.
typedef enum { S_STRING, S_INTEGER, S_NUMBER, S_BOOLEAN, S_OBJECT, S_ARRAY } s_kind_t;

static const char *s_kind_names [] = {
    "a string", "an integer", "a number", "a boolean", "an object", "an array",
};

static bool
s_is_kind (const json_t *value, s_kind_t kind)
{
    switch (kind) {
        case S_STRING:  return json_is_string (value);
        case S_INTEGER: return json_is_integer (value);
        case S_NUMBER:  return json_is_number (value);
        case S_BOOLEAN: return json_is_boolean (value);
        case S_OBJECT:  return json_is_object (value);
        case S_ARRAY:   return json_is_array (value);
    }
    return false;
}

//  The member key of object when it is of kind; NULL when absent
//  (reported if required) or of another type (reported).
static json_t *
s_member (s_parse_t *p, const json_t *object, const char *base, const char *key,
          bool required, s_kind_t kind)
{
    char path [200];
    json_t *value = json_object_get (object, key);
    if (!value) {
        if (required)
            s_fail (p, s_path (path, sizeof path, base, key), "required field missing");
        return NULL;
    }
    if (!s_is_kind (value, kind)) {
        s_fail (p, s_path (path, sizeof path, base, key), "must be %s, not %s",
                s_kind_names [kind], s_type_name (value));
        return NULL;
    }
    return value;
}

//  [A-Za-z0-9_.-]{1,max}
static bool
s_valid_id (const char *text, size_t max)
{
    size_t length = strlen (text);
    if (length == 0 || length > max)
        return false;
    for (const char *c = text; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '_' && *c != '.' && *c != '-')
            return false;
    return true;
}

//  "<prefix><number>" with exactly `digits` digits, number in 1..max.
static bool
s_valid_code (const char *text, const char *prefix, int digits, int max)
{
    size_t prefix_length = strlen (prefix);
    if (strncmp (text, prefix, prefix_length) != 0
    ||  strlen (text) != prefix_length + (size_t) digits)
        return false;
    int value = 0;
    for (const char *c = text + prefix_length; *c; c++) {
        if (!isdigit ((unsigned char) *c))
            return false;
        value = value * 10 + (*c - '0');
    }
    return value >= 1 && value <= max;
}

//  A printable text: no control characters (bytes < 0x20, 0x7F).
static bool
s_printable (const char *text)
{
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if (*c < 0x20 || *c == 0x7F)
            return false;
    return true;
}

//  Replaces *field with a copy of text. -1 on allocation failure.
static int
s_set_text (s_parse_t *p, char **field, const char *text)
{
    char *copy = strdup (text);
    if (!copy) {
        p->nomem = true;
        return -1;
    }
    free (*field);
    *field = copy;
    return 0;
}

static void
s_contract_free (fac_contract_t *self)
{
    if (!self)
        return;
    free (self->id);
    free (self->version);
    free (self->type);
    free (self->title);
    free (self->base_question);
    free (self->policy_area);
    free (self->dimension);
    free (self->cluster);
    for (size_t i = 0; i < self->input_count; i++)
        free (self->input_contracts [i]);
    free (self->input_contracts);
    for (size_t i = 0; i < self->pattern_count; i++) {
        free (self->patterns [i].id);
        free (self->patterns [i].regex);
        free (self->patterns [i].element_type);
    }
    free (self->patterns);
    for (size_t i = 0; i < self->expected_count; i++)
        free (self->expected [i].type);
    free (self->expected);
    for (size_t i = 0; i < self->step_count; i++) {
        free (self->steps [i].method);
        json_decref (self->steps [i].params);
    }
    free (self->steps);
    free (self->modality);
    json_decref (self->scoring);
    free (self->source);
    free (self->canonical);
    free (self);
}

//  An empty contract: every text "", scoring {}, one reference.
static fac_contract_t *
s_contract_new (const char *source)
{
    fac_contract_t *self = (fac_contract_t *) calloc (1, sizeof (fac_contract_t));
    if (!self)
        return NULL;
    atomic_init (&self->refs, 1);
    self->id = strdup ("");
    self->version = strdup ("");
    self->type = strdup ("");
    self->title = strdup ("");
    self->base_question = strdup ("");
    self->policy_area = strdup ("");
    self->dimension = strdup ("");
    self->cluster = strdup ("");
    self->modality = strdup ("");
    self->source = strdup (source);
    self->scoring = json_object ();
    self->timeout_ms = S_TIMEOUT_DEFAULT;
    if (!self->id || !self->version || !self->type || !self->title || !self->base_question
    ||  !self->policy_area || !self->dimension || !self->cluster || !self->modality
    ||  !self->source || !self->scoring) {
        s_contract_free (self);
        return NULL;
    }
    return self;
}

//  Each s_parse_<section> validates one part of the document, fills in the
//  contract and adds the section's canonical form to canon.

static void
s_parse_header (s_parse_t *p, const json_t *object, bool in_set, fac_contract_t *self, json_t *canon)
{
    json_t *format = json_object_get (object, "format");
    if (!format) {
        if (!in_set)
            s_fail (p, "format", "required field missing (\"" S_FORMAT_CONTRACT "\")");
    }
    else
    if (!json_is_string (format) || !streq (json_string_value (format), S_FORMAT_CONTRACT))
        s_fail (p, "format", "must be \"" S_FORMAT_CONTRACT "\"");
    s_put (p, canon, "format", json_string (S_FORMAT_CONTRACT));

    json_t *id = s_member (p, object, "", "id", true, S_STRING);
    if (id) {
        const char *text = json_string_value (id);
        if (!s_valid_id (text, S_ID_MAX))
            s_fail (p, "id", "\"%.80s\" is not an id: 1 to %d of A-Z a-z 0-9 _ . -",
                    text, S_ID_MAX);
        else
        if (s_set_text (p, &self->id, text) == 0)
            s_put (p, canon, "id", json_string (text));
    }
    json_t *version = s_member (p, object, "", "version", true, S_STRING);
    if (version) {
        const char *text = json_string_value (version);
        bool ok = strlen (text) >= 1 && strlen (text) <= S_VERSION_MAX;
        for (const char *c = text; ok && *c; c++)
            ok = isalnum ((unsigned char) *c) || strchr ("_.+-", *c);
        if (!ok)
            s_fail (p, "version", "\"%.80s\" is not a version: 1 to %d of A-Z a-z 0-9 _ . + -",
                    text, S_VERSION_MAX);
        else
        if (s_set_text (p, &self->version, text) == 0)
            s_put (p, canon, "version", json_string (text));
    }
    json_t *status = s_member (p, object, "", "status", false, S_STRING);
    self->status = FAC_CONTRACT_ACTIVE;
    if (status) {
        const char *text = json_string_value (status);
        if (streq (text, "INACTIVE"))
            self->status = FAC_CONTRACT_INACTIVE;
        else
        if (!streq (text, "ACTIVE"))
            s_fail (p, "status", "\"%.80s\" is not a status: ACTIVE or INACTIVE", text);
    }
    s_put (p, canon, "status", json_string (self->status == FAC_CONTRACT_ACTIVE
                                                       ? "ACTIVE" : "INACTIVE"));
    json_t *type = s_member (p, object, "", "type", true, S_STRING);
    if (type) {
        const char *text = json_string_value (type);
        if (!s_in_list (text, s_types, S_COUNT (s_types)))
            s_fail (p, "type", "\"%.80s\" is not a type: micro, aggregation, ingestion, "
                    "scoring, recommendation, report or task", text);
        else
        if (s_set_text (p, &self->type, text) == 0)
            s_put (p, canon, "type", json_string (text));
    }
    json_t *title = s_member (p, object, "", "title", false, S_STRING);
    if (title) {
        const char *text = json_string_value (title);
        if (strlen (text) > S_TITLE_MAX || !s_printable (text))
            s_fail (p, "title", "must be at most %d bytes without control characters", S_TITLE_MAX);
        else
        if (*text && s_set_text (p, &self->title, text) == 0)
            s_put (p, canon, "title", json_string (text));
    }
    json_t *timeout = s_member (p, object, "", "timeout_ms", false, S_INTEGER);
    if (timeout) {
        json_int_t value = json_integer_value (timeout);
        if (value < 1 || value > S_TIMEOUT_MAX)
            s_fail (p, "timeout_ms", "%" JSON_INTEGER_FORMAT " is out of range 1..%d",
                    value, S_TIMEOUT_MAX);
        else
            self->timeout_ms = (uint32_t) value;
    }
    s_put (p, canon, "timeout_ms", json_integer (self->timeout_ms));
}

static void
s_parse_identity (s_parse_t *p, const json_t *object, fac_contract_t *self, json_t *canon)
{
    json_t *canon_identity = json_object ();
    if (!canon_identity) {
        p->nomem = true;
        return;
    }
    s_put (p, canon, "identity", canon_identity);
    if (p->nomem)
        return;                     // canon_identity is gone
    json_t *identity = s_member (p, object, "", "identity", false, S_OBJECT);
    if (!identity)
        return;
    s_check_keys (p, identity, "identity", s_identity_keys, S_COUNT (s_identity_keys));
    s_copy_extensions (p, canon_identity, identity);
    struct {
        const char *key;
        const char *prefix;
        int max;
        char **field;
        const char *range;
    } codes [] = {
        { "base_question", "Q", 300, &self->base_question, "Q001..Q300" },
        { "policy_area", "PA", 10, &self->policy_area, "PA01..PA10" },
        { "dimension", "DIM", 6, &self->dimension, "DIM01..DIM06" },
        { "cluster", "CL", 4, &self->cluster, "CL01..CL04" },
    };
    for (size_t i = 0; i < S_COUNT (codes); i++) {
        json_t *value = s_member (p, identity, "identity", codes [i].key, false, S_STRING);
        if (!value)
            continue;
        const char *text = json_string_value (value);
        int digits = codes [i].max >= 100 ? 3 : 2;
        if (!s_valid_code (text, codes [i].prefix, digits, codes [i].max)) {
            char path [64];
            s_fail (p, s_path (path, sizeof path, "identity", codes [i].key),
                    "\"%.80s\" is not in %s", text, codes [i].range);
        }
        else
        if (s_set_text (p, codes [i].field, text) == 0)
            s_put (p, canon_identity, codes [i].key, json_string (text));
    }
}

static void
s_parse_phases (s_parse_t *p, const json_t *object, fac_contract_t *self, json_t *canon)
{
    json_t *phases = s_member (p, object, "", "applicable_phases", true, S_ARRAY);
    if (!phases)
        return;
    if (json_array_size (phases) == 0)
        s_fail (p, "applicable_phases", "must list at least one phase (P00..P09)");
    size_t index;
    json_t *value;
    json_array_foreach (phases, index, value) {
        char path [64];
        snprintf (path, sizeof path, "applicable_phases[%zu]", index);
        if (!json_is_string (value)) {
            s_fail (p, path, "must be a string, not %s", s_type_name (value));
            continue;
        }
        const char *text = json_string_value (value);
        int phase = fac_phase_parse (text);
        bool canonical = strlen (text) == 3 && text [0] == 'P' && text [1] == '0';
        if (phase < 0)
            s_fail (p, path, "\"%.80s\" is not a phase: P00..P09", text);
        else
        if (!canonical)
            s_fail (p, path, "\"%.80s\" is not a phase: write \"P%02d\"", text, phase);
        else
        if (self->phases & (1u << phase))
            s_fail (p, path, "phase %s listed twice", text);
        else
            self->phases |= 1u << phase;
    }
    json_t *list = json_array ();
    if (!list) {
        p->nomem = true;
        return;
    }
    for (int phase = 0; phase < FAC_PHASE_COUNT; phase++) {
        if (self->phases & (1u << phase)) {
            char name [8];
            snprintf (name, sizeof name, "P%02d", phase);
            s_append (p, list, json_string (name));
        }
    }
    s_put (p, canon, "applicable_phases", list);
}

static void
s_parse_inputs (s_parse_t *p, const json_t *object, fac_contract_t *self, json_t *canon)
{
    //  json_object_set_new takes canon_contracts (or fails on NULL), and
    //  s_put canon_inputs, whether they succeed or not: borrowed after.
    json_t *canon_inputs = json_object ();
    json_t *canon_contracts = json_array ();
    if (json_object_set_new (canon_inputs, "contracts", canon_contracts) != 0) {
        json_decref (canon_inputs);
        p->nomem = true;
        return;
    }
    s_put (p, canon, "inputs", canon_inputs);
    if (p->nomem)
        return;
    json_t *inputs = s_member (p, object, "", "inputs", false, S_OBJECT);
    if (inputs) {
        s_check_keys (p, inputs, "inputs", s_inputs_keys, S_COUNT (s_inputs_keys));
        s_copy_extensions (p, canon_inputs, inputs);
        json_t *document = s_member (p, inputs, "inputs", "document", false, S_BOOLEAN);
        self->uses_document = document && json_is_true (document);
        json_t *contracts = s_member (p, inputs, "inputs", "contracts", false, S_ARRAY);
        size_t count = contracts ? json_array_size (contracts) : 0;
        if (count > 0) {
            self->input_contracts = (char **) calloc (count, sizeof (char *));
            if (!self->input_contracts) {
                p->nomem = true;
                return;
            }
        }
        for (size_t i = 0; i < count; i++) {
            json_t *value = json_array_get (contracts, i);
            char path [64];
            snprintf (path, sizeof path, "inputs.contracts[%zu]", i);
            if (!json_is_string (value)) {
                s_fail (p, path, "must be a string (a contract id), not %s", s_type_name (value));
                continue;
            }
            const char *text = json_string_value (value);
            if (!s_valid_id (text, S_ID_MAX)) {
                s_fail (p, path, "\"%.80s\" is not a contract id", text);
                continue;
            }
            if (streq (text, self->id)) {
                s_fail (p, path, "a contract cannot take its own result as input");
                continue;
            }
            bool duplicate = false;
            for (size_t j = 0; j < self->input_count && !duplicate; j++)
                duplicate = streq (self->input_contracts [j], text);
            if (duplicate) {
                s_fail (p, path, "\"%s\" listed twice", text);
                continue;
            }
            self->input_contracts [self->input_count] = strdup (text);
            if (!self->input_contracts [self->input_count]) {
                p->nomem = true;
                return;
            }
            self->input_count++;
            s_append (p, canon_contracts, json_string (text));
        }
    }
    s_put (p, canon_inputs, "document", json_boolean (self->uses_document));
}

static void
s_parse_patterns (s_parse_t *p, const json_t *object, fac_contract_t *self, json_t *canon)
{
    json_t *canon_patterns = json_array ();
    if (!canon_patterns) {
        p->nomem = true;
        return;
    }
    s_put (p, canon, "patterns", canon_patterns);
    if (p->nomem)
        return;
    json_t *patterns = s_member (p, object, "", "patterns", false, S_ARRAY);
    size_t count = patterns ? json_array_size (patterns) : 0;
    if (count == 0)
        return;
    self->patterns = (fac_pattern_t *) calloc (count, sizeof (fac_pattern_t));
    if (!self->patterns) {
        p->nomem = true;
        return;
    }
    //  Ids of every pattern with a valid id, valid or not, for duplicates.
    const char **ids = (const char **) calloc (count, sizeof (char *));
    if (!ids) {
        p->nomem = true;
        return;
    }
    for (size_t i = 0; i < count && !p->nomem; i++) {
        json_t *pattern = json_array_get (patterns, i);
        char base [40], path [80];
        snprintf (base, sizeof base, "patterns[%zu]", i);
        if (!json_is_object (pattern)) {
            s_fail (p, base, "must be an object, not %s", s_type_name (pattern));
            continue;
        }
        size_t errors = p->errors;
        s_check_keys (p, pattern, base, s_pattern_keys, S_COUNT (s_pattern_keys));
        json_t *id = s_member (p, pattern, base, "id", true, S_STRING);
        if (id) {
            const char *text = json_string_value (id);
            if (!s_valid_id (text, S_ID_MAX))
                s_fail (p, s_path (path, sizeof path, base, "id"),
                        "\"%.80s\" is not a pattern id: 1 to %d of A-Z a-z 0-9 _ . -",
                        text, S_ID_MAX);
            else {
                for (size_t j = 0; j < i; j++) {
                    if (ids [j] && streq (ids [j], text)) {
                        s_fail (p, s_path (path, sizeof path, base, "id"),
                                "duplicate pattern id \"%s\" (also patterns[%zu])", text, j);
                        break;
                    }
                }
                ids [i] = text;
            }
        }
        uint32_t flags = 0;
        json_t *flag_list = s_member (p, pattern, base, "flags", false, S_ARRAY);
        size_t index;
        json_t *flag;
        json_array_foreach (flag_list, index, flag) {
            char flag_path [96];
            snprintf (flag_path, sizeof flag_path, "%s.flags[%zu]", base, index);
            size_t bit = S_COUNT (s_flag_names);
            if (json_is_string (flag))
                for (bit = 0; bit < S_COUNT (s_flag_names); bit++)
                    if (streq (json_string_value (flag), s_flag_names [bit]))
                        break;
            if (bit == S_COUNT (s_flag_names))
                s_fail (p, flag_path, "unknown flag%s%.60s%s: IGNORECASE, MULTILINE, DOTALL "
                        "or LITERAL", json_is_string (flag) ? " \"" : "",
                        json_is_string (flag) ? json_string_value (flag) : "",
                        json_is_string (flag) ? "\"" : "");
            else
            if (flags & (1u << bit))
                s_fail (p, flag_path, "flag %s given twice", s_flag_names [bit]);
            else
                flags |= 1u << bit;
        }
        json_t *element_type = s_member (p, pattern, base, "element_type", true, S_STRING);
        if (element_type) {
            const char *text = json_string_value (element_type);
            if (strlen (text) == 0 || strlen (text) > S_ELEMENT_TYPE_MAX || !s_printable (text))
                s_fail (p, s_path (path, sizeof path, base, "element_type"),
                        "must be 1 to %d bytes without control characters", S_ELEMENT_TYPE_MAX);
        }
        double weight = 1.0;
        json_t *weight_value = s_member (p, pattern, base, "weight", false, S_NUMBER);
        if (weight_value) {
            weight = json_number_value (weight_value);
            if (!(weight >= 0.0 && weight <= 1.0))
                s_fail (p, s_path (path, sizeof path, base, "weight"),
                        "%g is out of range 0..1", weight);
        }
        json_t *regex = s_member (p, pattern, base, "regex", true, S_STRING);
        if (regex && json_string_length (regex) == 0) {
            s_fail (p, s_path (path, sizeof path, base, "regex"), "must not be empty");
            regex = NULL;
        }
        if (regex) {
            fac_pattern_t probe = {
                .id = (char *) "", .regex = (char *) json_string_value (regex),
                .flags = flags, .element_type = (char *) "", .weight = weight,
            };
            char reason [200];
            if (fac_pattern_check (&probe, reason, sizeof reason) != 0)
                s_fail (p, s_path (path, sizeof path, base, "regex"),
                        "does not compile: %s", reason);
        }
        if (p->errors > errors)
            continue;                   // this pattern is not kept

        fac_pattern_t *kept = &self->patterns [self->pattern_count];
        kept->id = strdup (json_string_value (id));
        kept->regex = strdup (json_string_value (regex));
        kept->element_type = strdup (json_string_value (element_type));
        kept->flags = flags;
        kept->weight = weight;
        self->pattern_count++;
        json_t *canon_pattern = json_object ();
        json_t *canon_flags = json_array ();
        if (!kept->id || !kept->regex || !kept->element_type || !canon_pattern || !canon_flags) {
            json_decref (canon_pattern);
            json_decref (canon_flags);
            p->nomem = true;
            break;
        }
        for (size_t bit = 0; bit < S_COUNT (s_flag_names); bit++)
            if (flags & (1u << bit))
                s_append (p, canon_flags, json_string (s_flag_names [bit]));
        s_copy_extensions (p, canon_pattern, pattern);
        s_put (p, canon_pattern, "id", json_string (kept->id));
        s_put (p, canon_pattern, "regex", json_string (kept->regex));
        s_put (p, canon_pattern, "flags", canon_flags);
        s_put (p, canon_pattern, "element_type", json_string (kept->element_type));
        s_put (p, canon_pattern, "weight", json_real (weight));
        s_append (p, canon_patterns, canon_pattern);
    }
    free (ids);
}

static void
s_parse_expected (s_parse_t *p, const json_t *object, fac_contract_t *self, json_t *canon)
{
    json_t *canon_expected = json_array ();
    if (!canon_expected) {
        p->nomem = true;
        return;
    }
    s_put (p, canon, "expected_elements", canon_expected);
    if (p->nomem)
        return;
    json_t *expected = s_member (p, object, "", "expected_elements", false, S_ARRAY);
    size_t count = expected ? json_array_size (expected) : 0;
    if (count == 0)
        return;
    self->expected = (fac_expected_t *) calloc (count, sizeof (fac_expected_t));
    //  Every well-formed type, of valid elements or not, for duplicates.
    const char **types = (const char **) calloc (count, sizeof (char *));
    if (!self->expected || !types) {
        free (types);
        p->nomem = true;
        return;
    }
    for (size_t i = 0; i < count && !p->nomem; i++) {
        json_t *element = json_array_get (expected, i);
        char base [40], path [80];
        snprintf (base, sizeof base, "expected_elements[%zu]", i);
        if (!json_is_object (element)) {
            s_fail (p, base, "must be an object, not %s", s_type_name (element));
            continue;
        }
        size_t errors = p->errors;
        s_check_keys (p, element, base, s_expected_keys, S_COUNT (s_expected_keys));
        json_t *type = s_member (p, element, base, "type", true, S_STRING);
        if (type) {
            const char *text = json_string_value (type);
            if (strlen (text) == 0 || strlen (text) > S_ELEMENT_TYPE_MAX || !s_printable (text))
                s_fail (p, s_path (path, sizeof path, base, "type"),
                        "must be 1 to %d bytes without control characters", S_ELEMENT_TYPE_MAX);
            else {
                for (size_t j = 0; j < i; j++) {
                    if (types [j] && streq (types [j], text)) {
                        s_fail (p, s_path (path, sizeof path, base, "type"),
                                "element type \"%.80s\" expected twice (also "
                                "expected_elements[%zu])", text, j);
                        break;
                    }
                }
                types [i] = text;
            }
        }
        json_int_t minimum = 0;
        json_t *minimum_value = s_member (p, element, base, "minimum", false, S_INTEGER);
        if (minimum_value) {
            minimum = json_integer_value (minimum_value);
            if (minimum < 0 || minimum > UINT32_MAX)
                s_fail (p, s_path (path, sizeof path, base, "minimum"),
                        "%" JSON_INTEGER_FORMAT " is out of range 0..%" PRIu32, minimum,
                        UINT32_MAX);
        }
        json_t *required = s_member (p, element, base, "required", false, S_BOOLEAN);
        if (p->errors > errors)
            continue;

        fac_expected_t *kept = &self->expected [self->expected_count];
        kept->type = strdup (json_string_value (type));
        kept->minimum = (uint32_t) minimum;
        kept->required = required && json_is_true (required);
        self->expected_count++;
        json_t *canon_element = json_object ();
        if (!kept->type || !canon_element) {
            json_decref (canon_element);
            p->nomem = true;
            break;
        }
        s_copy_extensions (p, canon_element, element);
        s_put (p, canon_element, "type", json_string (kept->type));
        s_put (p, canon_element, "minimum", json_integer (kept->minimum));
        s_put (p, canon_element, "required", json_boolean (kept->required));
        s_append (p, canon_expected, canon_element);
    }
    free (types);
}

//  Parses the pipeline; the registry's parameter checks run later, on the
//  complete contract (s_check_steps).
static void
s_parse_methods (s_parse_t *p, const json_t *object, fac_contract_t *self, json_t *canon)
{
    json_t *canon_methods = json_array ();
    if (!canon_methods) {
        p->nomem = true;
        return;
    }
    s_put (p, canon, "methods", canon_methods);
    if (p->nomem)
        return;
    json_t *methods = s_member (p, object, "", "methods", true, S_ARRAY);
    if (!methods)
        return;
    size_t count = json_array_size (methods);
    if (count == 0) {
        s_fail (p, "methods", "must list at least one method");
        return;
    }
    self->steps = (fac_step_t *) calloc (count, sizeof (fac_step_t));
    p->step_index = (size_t *) calloc (count, sizeof (size_t));
    if (!self->steps || !p->step_index) {
        p->nomem = true;
        return;
    }
    for (size_t i = 0; i < count && !p->nomem; i++) {
        json_t *step = json_array_get (methods, i);
        char base [40], path [80];
        snprintf (base, sizeof base, "methods[%zu]", i);
        if (!json_is_object (step)) {
            s_fail (p, base, "must be an object, not %s", s_type_name (step));
            continue;
        }
        size_t errors = p->errors;
        s_check_keys (p, step, base, s_step_keys, S_COUNT (s_step_keys));
        json_t *method = s_member (p, step, base, "method", true, S_STRING);
        if (method && !fac_method_lookup (json_string_value (method))) {
            char known [160] = "";
            size_t method_count = 0;
            const fac_method_t *all = fac_method_all (&method_count);
            for (size_t j = 0; j < method_count; j++) {
                size_t used = strlen (known);
                snprintf (known + used, sizeof known - used, "%s%s", j ? ", " : "",
                          all [j].name);
            }
            s_fail (p, s_path (path, sizeof path, base, "method"),
                    "unknown method \"%.60s\" (known: %s)", json_string_value (method), known);
        }
        json_t *params = s_member (p, step, base, "params", false, S_OBJECT);
        if (p->errors > errors)
            continue;

        fac_step_t *kept = &self->steps [self->step_count];
        kept->method = strdup (json_string_value (method));
        kept->params = params ? json_deep_copy (params) : json_object ();
        p->step_index [self->step_count++] = i;
        json_t *canon_step = json_object ();
        json_t *canon_params = kept->params ? json_deep_copy (kept->params) : NULL;
        if (!kept->method || !kept->params || !canon_step || !canon_params) {
            json_decref (canon_step);
            json_decref (canon_params);
            p->nomem = true;
            break;
        }
        s_copy_extensions (p, canon_step, step);
        s_put (p, canon_step, "method", json_string (kept->method));
        s_put (p, canon_step, "params", canon_params);
        s_append (p, canon_methods, canon_step);
    }
}

static void
s_parse_scoring (s_parse_t *p, const json_t *object, fac_contract_t *self, json_t *canon)
{
    json_t *scoring = s_member (p, object, "", "scoring", false, S_OBJECT);
    if (scoring) {
        //  Optional: {} (the canonical form of no scoring) must parse.
        json_t *modality = s_member (p, scoring, "scoring", "modality", false, S_STRING);
        if (modality) {
            const char *text = json_string_value (modality);
            if (!s_in_list (text, s_modalities, S_COUNT (s_modalities)))
                s_fail (p, "scoring.modality", "\"%.60s\" is not a modality: TYPE_A..TYPE_F, "
                        "MESO_INTEGRATION or MACRO_HOLISTIC", text);
            else
                s_set_text (p, &self->modality, text);
        }
        json_t *copy = json_deep_copy (scoring);
        if (!copy) {
            p->nomem = true;
            return;
        }
        json_decref (self->scoring);
        self->scoring = copy;
    }
    json_t *canon_scoring = json_deep_copy (self->scoring);
    if (!canon_scoring)
        p->nomem = true;
    else
        s_put (p, canon, "scoring", canon_scoring);
}

//  Reports a method's parameter check failure. The registry words its
//  reasons "<path>: <why>": "params.weights: ..." is reported at
//  methods[i].params.weights; a contract path ("patterns: ...") at that
//  path, unless that section already had an error (the check then only
//  sees the consequence, e.g. no valid pattern left).
static void
s_fail_step (s_parse_t *p, size_t index, const char *method, const char *reason)
{
    static const char path_chars [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.[]-";
    char field [128];
    size_t length = strspn (reason, path_chars);
    char first [32];
    snprintf (first, sizeof first, "%.*s", (int) strcspn (reason, ".[:"), reason);
    bool params = streq (first, "params");
    bool contract_path = s_in_list (first, s_top_keys, S_COUNT (s_top_keys));
    if (length > 0 && length < 100 && reason [length] == ':' && reason [length + 1] == ' '
    &&  (params || contract_path)) {
        const char *why = reason + length + 2;
        if (params) {
            snprintf (field, sizeof field, "methods[%zu].%.*s", index, (int) length, reason);
            s_fail (p, field, "%s", why);
        }
        else {
            snprintf (field, sizeof field, "%.*s", (int) length, reason);
            if (!s_section_failed (p, field))
                s_fail (p, field, "methods[%zu] (%s): %s", index, method, why);
        }
        return;
    }
    snprintf (field, sizeof field, "methods[%zu].params", index);
    s_fail (p, field, "%s", reason [0] ? reason : "invalid parameters");
}

//  Rules across sections, then every step's parameters through the
//  method registry, on the contract as parsed so far.
static void
s_check_steps (s_parse_t *p, const json_t *object, const fac_method_env_t *env,
               fac_contract_t *self)
{
    bool aggregation = streq (self->type, "aggregation");
    json_t *inputs = json_object_get (object, "inputs");
    if (aggregation && self->input_count == 0 && (!inputs || json_is_object (inputs))) {
        json_t *contracts = json_object_get (inputs, "contracts");
        if (!contracts)
            s_fail (p, "inputs.contracts", "required field missing: an aggregation contract "
                    "lists the contracts it aggregates");
        else
        if (json_is_array (contracts) && json_array_size (contracts) == 0)
            s_fail (p, "inputs.contracts", "an aggregation contract must list at least one "
                    "contract");
        //  otherwise its elements were wrong, and reported
    }

    //  A text method needs the document, reported once. (aggregate.*
    //  methods' checks require inputs.contracts themselves.)
    bool text_reported = false;
    json_t *methods = json_object_get (object, "methods");
    size_t index;
    json_t *step;
    json_array_foreach (methods, index, step) {
        const char *name = json_string_value (json_object_get (step, "method"));
        if (!name)
            continue;
        if (strncmp (name, "text.", 5) == 0 && !self->uses_document && !text_reported) {
            s_fail (p, "inputs.document", "must be true: methods[%zu] (%s) reads the document",
                    index, name);
            text_reported = true;
        }
    }
    static const fac_method_env_t no_env = { NULL, 0 };
    for (size_t i = 0; i < self->step_count; i++) {
        const fac_step_t *parsed = &self->steps [i];
        const fac_method_t *method = fac_method_lookup (parsed->method);
        if (!method || !method->check)
            continue;
        char reason [256] = "";
        if (method->check (parsed->params, self, env ? env : &no_env, reason, sizeof reason) != 0)
            s_fail_step (p, p->step_index [i], parsed->method, reason);
    }
}

//  ---------------------------------------------------------------------
//  Canonical JSON (contracts.md, "Canonical form and digest"): fac_json
//  compact.

static pthread_once_t s_sodium_once = PTHREAD_ONCE_INIT;

static void
s_sodium_init (void)
{
    //  Fails only when the system's randomness source is unusable; SHA-256
    //  does not need it.
    if (sodium_init () < 0)
        fprintf (stderr, "fac_contract: sodium_init failed\n");
}

//  "sha256:" + 64 lower-case hex of bytes into out (72 bytes).
static void
s_digest (const void *bytes, size_t size, char *out)
{
    pthread_once (&s_sodium_once, s_sodium_init);
    unsigned char hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const unsigned char *) bytes, size);
    memcpy (out, "sha256:", 7);
    sodium_bin2hex (out + 7, 72 - 7, hash, sizeof hash);
}

//  ---------------------------------------------------------------------
//  Contracts

//  Parses one contract; in_set relaxes "format" (optional in a set file).
static fac_contract_t *
s_contract_parse (const json_t *object, const char *source, const char *prefix, bool in_set,
                  const fac_method_env_t *env, fac_load_report_t *report)
{
    s_parse_t p = { .source = source, .report = report };
    snprintf (p.prefix, sizeof p.prefix, "%s", prefix);
    if (!json_is_object (object)) {
        s_fail (&p, "", "a contract must be a JSON object, not %s", s_type_name (object));
        return NULL;
    }
    json_t *id = json_object_get (object, "id");
    if (json_is_string (id))
        snprintf (p.contract_id, sizeof p.contract_id, "%s", json_string_value (id));

    fac_contract_t *self = s_contract_new (source);
    json_t *canon = json_object ();
    if (!self || !canon) {
        p.nomem = true;
        goto done;
    }
    s_check_keys (&p, object, "", s_top_keys, S_COUNT (s_top_keys));
    s_copy_extensions (&p, canon, object);
    s_parse_header (&p, object, in_set, self, canon);
    s_parse_identity (&p, object, self, canon);
    s_parse_phases (&p, object, self, canon);
    s_parse_inputs (&p, object, self, canon);
    s_parse_patterns (&p, object, self, canon);
    s_parse_expected (&p, object, self, canon);
    s_parse_methods (&p, object, self, canon);
    s_parse_scoring (&p, object, self, canon);
    if (!p.nomem)
        s_check_steps (&p, object, env, self);
    if (p.nomem || p.errors > 0)
        goto done;

    size_t canonical_size;
    self->canonical = fac_json_dumps (canon, -1, &canonical_size);
    if (!self->canonical) {
        p.nomem = true;
        goto done;
    }
    s_digest (self->canonical, canonical_size, self->digest);
    json_decref (canon);
    free (p.step_index);
    return self;

done:
    if (p.nomem)
        s_fail (&p, "", "out of memory");
    free (p.step_index);
    json_decref (canon);
    s_contract_free (self);
    return NULL;
}

fac_contract_t *
fac_contract_parse (const json_t *object, const char *source,
                    const fac_method_env_t *env, fac_load_report_t *report)
{
    assert (object);
    return s_contract_parse (object, source ? source : "", "", false, env, report);
}

fac_contract_t *
fac_contract_ref (fac_contract_t *self)
{
    assert (self);
    atomic_fetch_add (&self->refs, 1);
    return self;
}

void
fac_contract_unref (fac_contract_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fac_contract_t *self = *self_p;
    *self_p = NULL;
    if (atomic_fetch_sub (&self->refs, 1) == 1)
        s_contract_free (self);
}

bool
fac_contract_in_phase (const fac_contract_t *self, int phase)
{
    assert (self);
    return phase >= 0 && phase < FAC_PHASE_COUNT && (self->phases & (1u << phase));
}

int
fac_phase_parse (const char *text)
{
    if (!text)
        return -1;
    const char *digits = text;
    if (strncasecmp (text, "phase_", 6) == 0)
        digits = text + 6;
    else
    if (text [0] == 'P' || text [0] == 'p')
        digits = text + 1;
    size_t length = strlen (digits);
    if (length < 1 || length > 2)
        return -1;
    int value = 0;
    for (size_t i = 0; i < length; i++) {
        if (!isdigit ((unsigned char) digits [i]))
            return -1;
        value = value * 10 + (digits [i] - '0');
    }
    return value < FAC_PHASE_COUNT ? value : -1;
}

//  ---------------------------------------------------------------------
//  Contract sets

struct fac_contract_set {
    const fac_method_env_t *env;    // borrowed, validates every contract
    zhashx_t *contracts;            // id -> fac_contract_t * (one reference each)
    fac_contract_t **sorted;        // every contract by id; valid when sorted_valid
    size_t sorted_count;
    bool sorted_valid;
    char digest [72];               // set digest; valid when digest_valid
    bool digest_valid;
};

static void
s_contract_destructor (void **item)
{
    fac_contract_unref ((fac_contract_t **) item);
}

fac_contract_set_t *
fac_contract_set_new (const fac_method_env_t *env)
{
    fac_contract_set_t *self = (fac_contract_set_t *) calloc (1, sizeof (fac_contract_set_t));
    if (!self)
        return NULL;
    self->env = env;
    self->contracts = zhashx_new ();
    if (!self->contracts) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->contracts, s_contract_destructor);
    return self;
}

void
fac_contract_set_destroy (fac_contract_set_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fac_contract_set_t *self = *self_p;
    *self_p = NULL;
    zhashx_destroy (&self->contracts);
    free (self->sorted);
    free (self);
}

//  How a document's contracts meet the ids already in the set.
typedef enum {
    S_REPLACE,                      // add_json: a known id is replaced
    S_REJECT,                       // load_dir: a known id is a duplicate
} s_mode_t;

//  Where each id was first seen in this load (valid or not), for naming
//  the earlier definition of a duplicate.
typedef struct {
    zhashx_t *first;                // id -> "file" or "contracts[i] of file" (owned strings)
} s_seen_t;

static void
s_free_string (void **item)
{
    free (*item);
    *item = NULL;
}

//  Takes one parsed-or-rejected element: detects duplicates, then inserts
//  contract (taking its reference). Returns 1 when added or replaced.
static int
s_admit (fac_contract_set_t *self, s_seen_t *seen, s_mode_t mode, const json_t *object,
         fac_contract_t *contract, const char *source, const char *prefix, size_t index,
         bool in_set, fac_load_report_t *report)
{
    const char *id = json_string_value (json_object_get (object, "id"));
    if (!id || !s_valid_id (id, S_ID_MAX)) {
        fac_contract_unref (&contract);     // NULL here: an invalid id is an error
        return 0;
    }
    char field [64];
    snprintf (field, sizeof field, "%s%sid", prefix, prefix [0] ? "." : "");
    const char *earlier = (const char *) zhashx_lookup (seen->first, id);
    if (earlier) {
        s_report_add (report, source, field, id, "duplicate contract id \"%s\" (first defined "
                      "in %s)", id, earlier);
        fac_contract_unref (&contract);
        return 0;
    }
    char *where = in_set ? zsys_sprintf ("contracts[%zu] of %s", index, source) : strdup (source);
    if (where && zhashx_insert (seen->first, id, where) != 0)
        free (where);               // the table owns it once inserted
    fac_contract_t *existing = (fac_contract_t *) zhashx_lookup (self->contracts, id);
    if (existing && mode == S_REJECT) {
        s_report_add (report, source, field, id, "duplicate contract id \"%s\" (already loaded "
                      "from %s)", id, existing->source);
        fac_contract_unref (&contract);
        return 0;
    }
    if (!contract)
        return 0;
    if (existing)
        zhashx_update (self->contracts, id, contract);     // unrefs the old one
    else
    if (zhashx_insert (self->contracts, id, contract) != 0) {
        s_report_add (report, source, field, id, "out of memory");
        fac_contract_unref (&contract);
        return 0;
    }
    self->sorted_valid = false;
    self->digest_valid = false;
    return 1;
}

//  Adds the contracts of one parsed document (a contract or a set).
static int
s_add_document (fac_contract_set_t *self, const json_t *document, const char *source,
                s_mode_t mode, s_seen_t *seen, fac_load_report_t *report)
{
    if (!json_is_object (document)) {
        s_report_add (report, source, "", NULL, "not a contract or a contract set: the "
                      "document is %s, not an object", s_type_name (document));
        return 0;
    }
    json_t *format = json_object_get (document, "format");
    const char *format_text = json_string_value (format);
    if (format && (!format_text || (!streq (format_text, S_FORMAT_CONTRACT)
                                    && !streq (format_text, S_FORMAT_SET)))) {
        char id [64] = "";
        if (json_is_string (json_object_get (document, "id")))
            snprintf (id, sizeof id, "%s", json_string_value (json_object_get (document, "id")));
        s_report_add (report, source, "format", id, "unknown format%s%.60s%s: expected \""
                      S_FORMAT_CONTRACT "\" or \"" S_FORMAT_SET "\"", format_text ? " \"" : "",
                      format_text ? format_text : "", format_text ? "\"" : "");
        return 0;
    }
    if (!format_text || streq (format_text, S_FORMAT_CONTRACT)) {
        fac_contract_t *contract = s_contract_parse (document, source, "", false, self->env,
                                                     report);
        return s_admit (self, seen, mode, document, contract, source, "", 0, false, report);
    }
    //  A set file
    s_parse_t p = { .source = source, .report = report };
    s_check_keys (&p, document, "", s_set_keys, S_COUNT (s_set_keys));
    json_t *contracts = s_member (&p, document, "", "contracts", true, S_ARRAY);
    int added = 0;
    size_t index;
    json_t *element;
    json_array_foreach (contracts, index, element) {
        char prefix [40];
        snprintf (prefix, sizeof prefix, "contracts[%zu]", index);
        fac_contract_t *contract = s_contract_parse (element, source, prefix, true, self->env,
                                                     report);
        if (json_is_object (element))
            added += s_admit (self, seen, mode, element, contract, source, prefix, index, true,
                              report);
        else
            fac_contract_unref (&contract);
    }
    return added;
}

//  Parses text (a UTF-8 byte-order mark is skipped) and adds its contracts.
static int
s_add_text (fac_contract_set_t *self, const char *text, size_t size, const char *source,
            s_mode_t mode, s_seen_t *seen, fac_load_report_t *report)
{
    if (size >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        size -= 3;
    }
    json_error_t error;
    json_t *document = json_loadb (text, size, JSON_REJECT_DUPLICATES, &error);
    if (!document) {
        s_report_add (report, source, "", NULL, "invalid JSON at line %d, column %d: %s",
                      error.line, error.column, error.text);
        return 0;
    }
    int added = s_add_document (self, document, source, mode, seen, report);
    json_decref (document);
    return added;
}

int
fac_contract_set_add_json (fac_contract_set_t *self, const char *text, size_t size,
                           const char *source, fac_load_report_t *report)
{
    assert (self);
    if (!source)
        source = "";
    if (!text || size == 0) {
        s_report_add (report, source, "", NULL, "empty document");
        return 0;
    }
    s_seen_t seen = { zhashx_new () };
    if (!seen.first) {
        s_report_add (report, source, "", NULL, "out of memory");
        return 0;
    }
    zhashx_set_destructor (seen.first, s_free_string);
    int added = s_add_text (self, text, size, source, S_REPLACE, &seen, report);
    zhashx_destroy (&seen.first);
    return added;
}

//  Reads a regular file of at most FAC_CONTRACT_FILE_MAX bytes. Returns the
//  bytes (caller frees) or NULL with the reason reported.
static char *
s_read_file (const char *path, size_t *size, fac_load_report_t *report)
{
    char *data = NULL;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0 || fstat (fd, &info) != 0) {
        s_report_add (report, path, "", NULL, "cannot read: %s", strerror (errno));
        goto done;
    }
    if (!S_ISREG (info.st_mode)) {
        s_report_add (report, path, "", NULL, "cannot read: not a regular file");
        goto done;
    }
    if (info.st_size > FAC_CONTRACT_FILE_MAX) {
        s_report_add (report, path, "", NULL, "file too large: %lld bytes, the limit is %d",
                      (long long) info.st_size, FAC_CONTRACT_FILE_MAX);
        goto done;
    }
    data = (char *) malloc ((size_t) info.st_size + 1);
    if (!data) {
        s_report_add (report, path, "", NULL, "out of memory");
        goto done;
    }
    size_t used = 0;
    while (used < (size_t) info.st_size) {
        ssize_t got = read (fd, data + used, (size_t) info.st_size - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            s_report_add (report, path, "", NULL, "cannot read: %s", strerror (errno));
            free (data);
            data = NULL;
            goto done;
        }
        if (got == 0)
            break;                  // shrank while reading: take what is there
        used += (size_t) got;
    }
    data [used] = '\0';
    *size = used;
done:
    if (fd >= 0)
        close (fd);
    return data;
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

int
fac_contract_set_load_dir (fac_contract_set_t *self, const char *dir,
                           fac_load_report_t *report)
{
    assert (self);
    assert (dir);
    int result = -1;
    char **names = NULL;
    size_t name_count = 0, name_capacity = 0;
    s_seen_t seen = { NULL };
    DIR *handle = opendir (dir);
    if (!handle) {
        s_report_add (report, dir, "", NULL, "cannot open contracts directory: %s",
                      strerror (errno));
        goto done;
    }
    //  Every "*.json" but hidden files (editors' lock and backup files).
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name [0] == '.' || length <= 5
        ||  strcmp (entry->d_name + length - 5, ".json") != 0)
            continue;
        if (name_count == name_capacity) {
            size_t capacity = name_capacity ? name_capacity * 2 : 64;
            char **grown = (char **) realloc (names, capacity * sizeof (char *));
            if (!grown)
                goto nomem;
            names = grown;
            name_capacity = capacity;
        }
        names [name_count] = strdup (entry->d_name);
        if (!names [name_count])
            goto nomem;
        name_count++;
    }
    if (name_count > 1)
        qsort (names, name_count, sizeof (char *), s_compare_names);
    seen.first = zhashx_new ();
    if (!seen.first)
        goto nomem;
    zhashx_set_destructor (seen.first, s_free_string);
    result = 0;
    for (size_t i = 0; i < name_count; i++) {
        char *path = zsys_sprintf ("%s%s%s", dir, dir [0] && dir [strlen (dir) - 1] == '/'
                                   ? "" : "/", names [i]);
        if (!path)
            goto nomem;
        size_t size = 0;
        char *text = s_read_file (path, &size, report);
        if (text) {
            if (size == 0)
                s_report_add (report, path, "", NULL, "empty file");
            else
                result += s_add_text (self, text, size, path, S_REJECT, &seen, report);
        }
        free (text);
        zstr_free (&path);
    }
    goto done;

nomem:
    s_report_add (report, dir, "", NULL, "out of memory listing the directory");
    result = -1;
done:
    if (handle)
        closedir (handle);
    for (size_t i = 0; i < name_count; i++)
        free (names [i]);
    free (names);
    zhashx_destroy (&seen.first);
    return result;
}

fac_contract_t *
fac_contract_set_lookup (fac_contract_set_t *self, const char *id)
{
    assert (self);
    return id ? (fac_contract_t *) zhashx_lookup (self->contracts, id) : NULL;
}

size_t
fac_contract_set_size (fac_contract_set_t *self)
{
    assert (self);
    return zhashx_size (self->contracts);
}

static int
s_compare_contracts (const void *a, const void *b)
{
    return strcmp ((*(fac_contract_t *const *) a)->id, (*(fac_contract_t *const *) b)->id);
}

fac_contract_t **
fac_contract_set_all (fac_contract_set_t *self, size_t *count)
{
    assert (self);
    assert (count);
    if (!self->sorted_valid) {
        size_t size = zhashx_size (self->contracts);
        fac_contract_t **sorted = (fac_contract_t **) realloc (self->sorted,
                                                               (size ? size : 1) * sizeof (void *));
        if (!sorted) {
            *count = 0;
            return NULL;
        }
        self->sorted = sorted;
        size_t i = 0;
        for (fac_contract_t *contract = (fac_contract_t *) zhashx_first (self->contracts);
             contract; contract = (fac_contract_t *) zhashx_next (self->contracts))
            sorted [i++] = contract;
        if (size > 1)
            qsort (sorted, size, sizeof (fac_contract_t *), s_compare_contracts);
        self->sorted_count = size;
        self->sorted_valid = true;
    }
    *count = self->sorted_count;
    return self->sorted;
}

const char *
fac_contract_set_digest (fac_contract_set_t *self)
{
    assert (self);
    if (self->digest_valid)
        return self->digest;
    size_t count = 0;
    fac_contract_t **all = fac_contract_set_all (self, &count);
    pthread_once (&s_sodium_once, s_sodium_init);
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    for (size_t i = 0; all && i < count; i++) {
        crypto_hash_sha256_update (&state, (const unsigned char *) all [i]->id,
                                   strlen (all [i]->id));
        crypto_hash_sha256_update (&state, (const unsigned char *) " ", 1);
        crypto_hash_sha256_update (&state, (const unsigned char *) all [i]->digest,
                                   strlen (all [i]->digest));
        crypto_hash_sha256_update (&state, (const unsigned char *) "\n", 1);
    }
    unsigned char hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&state, hash);
    memcpy (self->digest, "sha256:", 7);
    sodium_bin2hex (self->digest + 7, sizeof self->digest - 7, hash, sizeof hash);
    //  A failed fac_contract_set_all (memory) must not leave a wrong digest cached.
    self->digest_valid = all != NULL;
    return self->digest;
}
