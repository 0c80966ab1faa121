/*  ctl_set_structure — the structure of a FARFAN contract set: the source
    files (contracts/src/structure.json, questions.json), the contracts of
    P00, P01 and P03–P09 built from them, and the set files written. The
    formats are documented in contracts/README.md.
*/
#include "ctl_set_structure.h"
#include "fac_contract.h"
#include "fac_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Tolerance of the sums that must be 1 and of Choquet monotonicity, as
//  aggregate.choquet checks them (proto/methods.md).
#define S_EPSILON 1e-6
//  Longest title a contract takes, bytes (proto/contracts.md).
#define S_TITLE_MAX 2048
//  Most words between an area keyword and the element it qualifies.
#define S_WINDOW_MAX 200
//  Most interactions per dimension: every pair of its 5 questions.
#define S_PAIRS_MAX 10

#define S_STRUCTURE_FORMAT "farfan-structure-source/1"
#define S_QUESTIONS_FORMAT "farfan-question-source/1"

typedef struct {
    char id [8];                        // "DIM01"
    const char *name;                   // borrowed from the document
    double weights [CTL_SLOTS_PER_DIMENSION];
    json_t *weight_values [CTL_SLOTS_PER_DIMENSION];   // as written (borrowed)
    struct {
        int a, b;                       // slot indexes within the dimension
        json_t *value;                  // as written (borrowed)
    } interactions [S_PAIRS_MAX];
    size_t interaction_count;
} s_dimension_t;

typedef struct {
    char id [8];                        // "PA01"
    const char *name;
    const char *phrase;                 // for question templates: "{area}"
    json_t *dimension_weights [CTL_DIMENSION_COUNT];   // as written (borrowed)
    int cluster;                        // index into clusters
} s_area_t;

typedef struct {
    char id [8];                        // "CL01"
    const char *name;
    int areas [CTL_AREA_COUNT];         // indexes into policy areas
    json_t *weights [CTL_AREA_COUNT];   // as written, by position in areas (borrowed)
    size_t area_count;
    json_t *dispersion_penalty;         // as written (borrowed)
} s_cluster_t;

//  A fixed contract of the set: its title and its method's params.
typedef struct {
    const char *title;
    json_t *params;                     // borrowed
} s_fixed_t;

struct _ctl_structure_t {
    json_t *document;                   // structure.json; everything borrowed is in it
    const char *version;
    const char *on_missing;
    s_dimension_t dimensions [CTL_DIMENSION_COUNT];
    s_area_t areas [CTL_AREA_COUNT];
    s_cluster_t clusters [CTL_CLUSTER_COUNT];
    const char *macro_title;
    json_t *macro_weights [CTL_CLUSTER_COUNT];
    json_t *coherence;
    s_fixed_t validate, ingest, recommend, report;
};

//  ---------------------------------------------------------------------
//  Errors: "<file>: <path>: <why>" into the caller's buffer

typedef struct {
    const char *file;                   // as the user named it
    char *err;
    size_t err_size;
} s_check_t;

static int
s_fail (s_check_t *check, const char *path, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (s_check_t *check, const char *path, const char *format, ...)
{
    char why [512];
    va_list args;
    va_start (args, format);
    vsnprintf (why, sizeof why, format, args);
    va_end (args);
    if (check->err && check->err_size)
        snprintf (check->err, check->err_size, "%s: %s%s%s", check->file,
                  path && *path ? path : "", path && *path ? ": " : "", why);
    return -1;
}

//  path + "." + key, or path + "[index]", into out.
static const char *
s_path_key (char *out, size_t size, const char *path, const char *key)
{
    //  A path longer than out is cut (it only names a place in messages).
    if (snprintf (out, size, "%s%s%s", path, *path ? "." : "", key) >= (int) size && size > 4)
        memcpy (out + size - 4, "...", 4);
    return out;
}

static const char *
s_path_index (char *out, size_t size, const char *path, size_t index)
{
    snprintf (out, size, "%s[%zu]", path, index);
    return out;
}

static bool
s_is_extension (const char *key)
{
    return strncmp (key, "x-", 2) == 0 || key [0] == '_';
}

static const char *
s_type_name (const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT:  return "an object";
        case JSON_ARRAY:   return "an array";
        case JSON_STRING:  return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL:    return "a real";
        case JSON_TRUE:
        case JSON_FALSE:   return "a boolean";
        default:           return "null";
    }
}

//  0 when object's keys are all in known (NULL-terminated) or extensions.
static int
s_check_keys (s_check_t *check, const json_t *object, const char *path,
              const char *const *known)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value) {
        if (s_is_extension (key))
            continue;
        bool found = false;
        for (size_t i = 0; known [i] && !found; i++)
            found = strcmp (key, known [i]) == 0;
        if (!found) {
            char list [256] = "";
            for (size_t i = 0; known [i]; i++)
                snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s",
                          i ? ", " : "", known [i]);
            char at [256];
            return s_fail (check, s_path_key (at, sizeof at, path, key),
                           "unknown field (known: %s; comments start with \"_\" or \"x-\")", list);
        }
    }
    return 0;
}

//  object[key] of a JSON type; NULL (reported) when absent or another type.
static json_t *
s_member (s_check_t *check, const json_t *object, const char *path, const char *key,
          json_type type, const char *type_name)
{
    char at [256];
    s_path_key (at, sizeof at, path, key);
    json_t *value = json_object_get (object, key);
    if (!value) {
        s_fail (check, at, "required field missing");
        return NULL;
    }
    bool ok = json_typeof (value) == type
           || (type == JSON_REAL && json_is_integer (value))
           || (type == JSON_TRUE && json_is_boolean (value));
    if (!ok) {
        s_fail (check, at, "must be %s, not %s", type_name, s_type_name (value));
        return NULL;
    }
    return value;
}

//  As s_member, and the member's path into at.
static json_t *
s_member_at (s_check_t *check, const json_t *object, const char *path, const char *key,
             json_type type, const char *type_name, char *at, size_t at_size)
{
    s_path_key (at, at_size, path, key);
    return s_member (check, object, path, key, type, type_name);
}

//  A text people read: non-empty, at most S_TITLE_MAX bytes, no control
//  characters (a contract title's rules).
static const char *
s_text (s_check_t *check, const json_t *object, const char *path, const char *key)
{
    char at [256];
    json_t *value = s_member_at (check, object, path, key, JSON_STRING, "a string",
                                 at, sizeof at);
    if (!value)
        return NULL;
    const char *text = json_string_value (value);
    size_t length = json_string_length (value);
    if (length == 0) {
        s_fail (check, at, "must not be empty");
        return NULL;
    }
    if (length > S_TITLE_MAX) {
        s_fail (check, at, "%zu bytes, at most %d", length, S_TITLE_MAX);
        return NULL;
    }
    for (size_t i = 0; i < length; i++)
        if ((unsigned char) text [i] < 0x20 || text [i] == 0x7f) {
            s_fail (check, at, "contains a control character at byte %zu", i);
            return NULL;
        }
    return text;
}

//  A finite number in min..max.
static json_t *
s_number (s_check_t *check, const json_t *object, const char *path, const char *key,
          double min, double max, double *value_out)
{
    json_t *value = s_member (check, object, path, key, JSON_REAL, "a number");
    if (!value)
        return NULL;
    double number = json_number_value (value);
    if (!isfinite (number) || number < min || number > max) {
        char at [256];
        s_fail (check, s_path_key (at, sizeof at, path, key), "%g is out of range %g..%g",
                number, min, max);
        return NULL;
    }
    if (value_out)
        *value_out = number;
    return value;
}

//  Contract id syntax: [A-Za-z0-9_.-]{1,63}.
static bool
s_is_id (const char *text, size_t max)
{
    size_t length = strlen (text);
    if (length == 0 || length > max)
        return false;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) text [i];
        if (!isalnum (c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Fixed codes: slots, dimensions, policy areas, clusters

const char *
ctl_structure_slot_dimension (int slot)
{
    static const char *const dimensions [] = { "DIM01", "DIM02", "DIM03", "DIM04", "DIM05", "DIM06" };
    if (slot < 1 || slot > CTL_SLOT_COUNT)
        return NULL;
    return dimensions [(slot - 1) / CTL_SLOTS_PER_DIMENSION];
}

//  "Q001".."Q030" -> 1..30; 0 otherwise.
static int
s_slot_parse (const char *text)
{
    if (strlen (text) != 4 || text [0] != 'Q' || !isdigit ((unsigned char) text [1])
    ||  !isdigit ((unsigned char) text [2]) || !isdigit ((unsigned char) text [3]))
        return 0;
    int slot = atoi (text + 1);
    return slot >= 1 && slot <= CTL_SLOT_COUNT ? slot : 0;
}

//  "<prefix>NN" with NN in 1..count -> NN; 0 otherwise.
static int
s_code_parse (const char *text, const char *prefix, int count)
{
    size_t length = strlen (prefix);
    if (strncmp (text, prefix, length) != 0 || strlen (text) != length + 2
    ||  !isdigit ((unsigned char) text [length]) || !isdigit ((unsigned char) text [length + 1]))
        return 0;
    int number = atoi (text + length);
    return number >= 1 && number <= count ? number : 0;
}

//  ---------------------------------------------------------------------
//  Loading structure.json

static json_t *
s_load_json (s_check_t *check, const char *path)
{
    json_error_t error;
    json_t *document = json_load_file (path, JSON_REJECT_DUPLICATES, &error);
    if (!document) {
        FILE *file = fopen (path, "r");
        if (!file)
            s_fail (check, NULL, "cannot read: %s", strerror (errno));
        else {
            fclose (file);
            s_fail (check, NULL, "invalid JSON at line %d, column %d: %s", error.line,
                    error.column, error.text);
        }
        return NULL;
    }
    if (!json_is_object (document)) {
        s_fail (check, NULL, "must be a JSON object, not %s", s_type_name (document));
        json_decref (document);
        return NULL;
    }
    return document;
}

static int
s_check_format (s_check_t *check, const json_t *document, const char *expected)
{
    json_t *format = s_member (check, document, "", "format", JSON_STRING, "a string");
    if (!format)
        return -1;
    if (strcmp (json_string_value (format), expected) != 0)
        return s_fail (check, "format", "\"%s\" is not \"%s\"", json_string_value (format), expected);
    return 0;
}

//  A JSON array of exactly count objects whose "id" are prefix01..; each
//  entry's keys checked against known.
static json_t *
s_coded_list (s_check_t *check, const json_t *document, const char *key, const char *prefix,
              int count, const char *const *known)
{
    json_t *list = s_member (check, document, "", key, JSON_ARRAY, "an array");
    if (!list)
        return NULL;
    if (json_array_size (list) != (size_t) count) {
        s_fail (check, key, "%zu entries, a set has %d (%s01..%s%02d, in order)",
                json_array_size (list), count, prefix, prefix, count);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        char at [64];
        s_path_index (at, sizeof at, key, (size_t) i);
        json_t *entry = json_array_get (list, (size_t) i);
        if (!json_is_object (entry)) {
            s_fail (check, at, "must be an object, not %s", s_type_name (entry));
            return NULL;
        }
        if (s_check_keys (check, entry, at, known))
            return NULL;
        json_t *id = s_member (check, entry, at, "id", JSON_STRING, "a string");
        if (!id)
            return NULL;
        char expected [16];
        snprintf (expected, sizeof expected, "%s%02d", prefix, i + 1);
        if (strcmp (json_string_value (id), expected) != 0) {
            char id_at [80];
            s_fail (check, s_path_key (id_at, sizeof id_at, at, "id"),
                    "\"%s\" where \"%s\" was expected (%s01..%s%02d, in order)",
                    json_string_value (id), expected, prefix, prefix, count);
            return NULL;
        }
    }
    return list;
}

//  A weighted mean's weights (object[member]): an object with exactly the ids
//  (ids[i], count of them), numbers >= 0 summing to 1. values[i] gets
//  the value as written.
static int
s_mean_weights (s_check_t *check, const json_t *object, const char *path, const char *member,
                const char *owner, const char *const *ids, size_t count, json_t **values)
{
    char at [256];
    json_t *weights = s_member_at (check, object, path, member, JSON_OBJECT, "an object",
                                   at, sizeof at);
    if (!weights)
        return -1;
    const char *key;
    json_t *value;
    json_object_foreach (weights, key, value) {
        bool known = false;
        for (size_t i = 0; i < count && !known; i++)
            known = strcmp (key, ids [i]) == 0;
        if (!known) {
            char list [128] = "";
            for (size_t i = 0; i < count; i++)
                snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s",
                          i ? ", " : "", ids [i]);
            char key_at [300];
            return s_fail (check, s_path_key (key_at, sizeof key_at, at, key),
                           "%s is not aggregated by %s (%s)", key, owner, list);
        }
    }
    double sum = 0;
    for (size_t i = 0; i < count; i++) {
        if (!json_object_get (weights, ids [i]))
            return s_fail (check, at, "%s has no weight (every input of %s needs one)", ids [i], owner);
        double number;
        values [i] = s_number (check, weights, at, ids [i], 0, 1, &number);
        if (!values [i])
            return -1;
        sum += number;
    }
    if (fabs (sum - 1) > S_EPSILON)
        return s_fail (check, at, "the weights of %s sum to %.6g, they must sum to 1 (within %g)",
                       owner, sum, S_EPSILON);
    return 0;
}

//  The id of the index-th entry of a coded list (prefix, index + 1 in two
//  digits) and its "name". -1 when the name is not a valid text.
static int
s_load_named (s_check_t *check, const json_t *entry, const char *path, const char *prefix, int index,
              char *id, size_t id_size, const char **name)
{
    snprintf (id, id_size, "%s%02d", prefix, index + 1);
    *name = s_text (check, entry, path, "name");
    return *name ? 0 : -1;
}

static int
s_load_dimension (s_check_t *check, s_dimension_t *dimension, const json_t *entry,
                  const char *path, int index)
{
    if (s_load_named (check, entry, path, "DIM", index, dimension->id, sizeof dimension->id,
                      &dimension->name))
        return -1;
    char at [128];
    json_t *choquet = s_member_at (check, entry, path, "choquet", JSON_OBJECT, "an object",
                                   at, sizeof at);
    if (!choquet)
        return -1;
    static const char *const known [] = { "weights", "interactions", NULL };
    if (s_check_keys (check, choquet, at, known))
        return -1;

    //  The slots of this dimension: Q(5i+1) .. Q(5i+5).
    char slots [CTL_SLOTS_PER_DIMENSION][8];
    for (int s = 0; s < CTL_SLOTS_PER_DIMENSION; s++)
        snprintf (slots [s], sizeof slots [s], "Q%03d", index * CTL_SLOTS_PER_DIMENSION + s + 1);
    char weights_at [160];
    json_t *weights = s_member_at (check, choquet, at, "weights", JSON_OBJECT, "an object",
                                   weights_at, sizeof weights_at);
    if (!weights)
        return -1;
    const char *key;
    json_t *value;
    json_object_foreach (weights, key, value) {
        int slot = s_slot_parse (key);
        if (!slot || strcmp (ctl_structure_slot_dimension (slot), dimension->id) != 0) {
            char key_at [256];
            return s_fail (check, s_path_key (key_at, sizeof key_at, weights_at, key),
                           "%s is not a question of %s (%s..%s)", key, dimension->id,
                           slots [0], slots [CTL_SLOTS_PER_DIMENSION - 1]);
        }
    }
    double sum = 0;
    for (int s = 0; s < CTL_SLOTS_PER_DIMENSION; s++) {
        if (!json_object_get (weights, slots [s]))
            return s_fail (check, weights_at, "%s has no weight (every question of %s needs one, "
                           "0 allowed)", slots [s], dimension->id);
        dimension->weight_values [s] = s_number (check, weights, weights_at, slots [s], 0, 1,
                                                 &dimension->weights [s]);
        if (!dimension->weight_values [s])
            return -1;
        sum += dimension->weights [s];
    }

    //  Interactions: distinct slots of this dimension, each pair once.
    double negative [CTL_SLOTS_PER_DIMENSION] = { 0 };
    json_t *interactions = json_object_get (choquet, "interactions");
    char list_at [160];
    s_path_key (list_at, sizeof list_at, at, "interactions");
    if (interactions && !json_is_array (interactions))
        return s_fail (check, list_at, "must be an array, not %s", s_type_name (interactions));
    if (json_array_size (interactions) > S_PAIRS_MAX)
        return s_fail (check, list_at, "%zu interactions: 5 questions have %d pairs",
                       json_array_size (interactions), S_PAIRS_MAX);
    size_t i;
    json_t *pair;
    json_array_foreach (interactions, i, pair) {
        char pair_at [192];
        s_path_index (pair_at, sizeof pair_at, list_at, i);
        if (!json_is_object (pair))
            return s_fail (check, pair_at, "must be an object {a, b, value}, not %s", s_type_name (pair));
        static const char *const pair_keys [] = { "a", "b", "value", NULL };
        if (s_check_keys (check, pair, pair_at, pair_keys))
            return -1;
        int ends [2];
        const char *names [2] = { "a", "b" };
        for (int e = 0; e < 2; e++) {
            json_t *end = s_member (check, pair, pair_at, names [e], JSON_STRING, "a string");
            if (!end)
                return -1;
            int slot = s_slot_parse (json_string_value (end));
            if (!slot || strcmp (ctl_structure_slot_dimension (slot), dimension->id) != 0) {
                char end_at [256];
                return s_fail (check, s_path_key (end_at, sizeof end_at, pair_at, names [e]),
                               "\"%s\" is not a question of %s (%s..%s)", json_string_value (end),
                               dimension->id, slots [0], slots [CTL_SLOTS_PER_DIMENSION - 1]);
            }
            ends [e] = (slot - 1) % CTL_SLOTS_PER_DIMENSION;
        }
        if (ends [0] == ends [1])
            return s_fail (check, pair_at, "a question cannot interact with itself (%s)", slots [ends [0]]);
        for (size_t j = 0; j < dimension->interaction_count; j++) {
            int a = dimension->interactions [j].a, b = dimension->interactions [j].b;
            if ((a == ends [0] && b == ends [1]) || (a == ends [1] && b == ends [0]))
                return s_fail (check, pair_at, "the pair %s, %s is given twice (also %s[%zu])",
                               slots [ends [0]], slots [ends [1]], list_at, j);
        }
        double number;
        json_t *interaction = s_number (check, pair, pair_at, "value", -1, 1, &number);
        if (!interaction)
            return -1;
        dimension->interactions [dimension->interaction_count].a = ends [0];
        dimension->interactions [dimension->interaction_count].b = ends [1];
        dimension->interactions [dimension->interaction_count].value = interaction;
        dimension->interaction_count++;
        sum += number;
        if (number < 0) {
            negative [ends [0]] += number;
            negative [ends [1]] += number;
        }
    }
    //  A capacity: normalised (mu(N) = 1) and monotone (2-additive:
    //  w_i + sum of i's negative interactions >= 0), proto/methods.md.
    if (fabs (sum - 1) > S_EPSILON)
        return s_fail (check, at, "weights and interactions sum to %.6g, a Choquet capacity needs 1 "
                       "(within %g)", sum, S_EPSILON);
    for (int s = 0; s < CTL_SLOTS_PER_DIMENSION; s++)
        if (dimension->weights [s] + negative [s] < -S_EPSILON)
            return s_fail (check, at, "not monotone: %s weighs %g but its negative interactions "
                           "add up to %g (the weight must cover them)", slots [s],
                           dimension->weights [s], negative [s]);
    return 0;
}

static int
s_load_area (s_check_t *check, s_area_t *area, const json_t *entry, const char *path, int index)
{
    if (s_load_named (check, entry, path, "PA", index, area->id, sizeof area->id, &area->name))
        return -1;
    area->phrase = s_text (check, entry, path, "phrase");
    if (!area->phrase)
        return -1;
    area->cluster = -1;
    const char *ids [CTL_DIMENSION_COUNT];
    char storage [CTL_DIMENSION_COUNT][8];
    for (int d = 0; d < CTL_DIMENSION_COUNT; d++) {
        snprintf (storage [d], sizeof storage [d], "DIM%02d", d + 1);
        ids [d] = storage [d];
    }
    return s_mean_weights (check, entry, path, "dimension_weights", area->id, ids,
                           CTL_DIMENSION_COUNT, area->dimension_weights);
}

static int
s_load_cluster (s_check_t *check, ctl_structure_t *self, s_cluster_t *cluster,
                const json_t *entry, const char *path, int index)
{
    if (s_load_named (check, entry, path, "CL", index, cluster->id, sizeof cluster->id, &cluster->name))
        return -1;
    char at [128];
    json_t *areas = s_member_at (check, entry, path, "policy_areas", JSON_ARRAY, "an array",
                                 at, sizeof at);
    if (!areas)
        return -1;
    if (json_array_size (areas) == 0 || json_array_size (areas) > CTL_AREA_COUNT)
        return s_fail (check, at, "a cluster groups 1..%d policy areas, not %zu", CTL_AREA_COUNT,
                       json_array_size (areas));
    const char *ids [CTL_AREA_COUNT];
    size_t i;
    json_t *item;
    json_array_foreach (areas, i, item) {
        char item_at [160];
        s_path_index (item_at, sizeof item_at, at, i);
        if (!json_is_string (item))
            return s_fail (check, item_at, "must be a string, not %s", s_type_name (item));
        int number = s_code_parse (json_string_value (item), "PA", CTL_AREA_COUNT);
        if (!number)
            return s_fail (check, item_at, "unknown policy area \"%s\" (PA01..PA10)",
                           json_string_value (item));
        s_area_t *area = &self->areas [number - 1];
        if (area->cluster >= 0)
            return s_fail (check, item_at, "%s is already in %s (a policy area belongs to one cluster)",
                           area->id, self->clusters [area->cluster].id);
        area->cluster = index;
        cluster->areas [i] = number - 1;
        ids [i] = area->id;
    }
    cluster->area_count = json_array_size (areas);
    if (s_mean_weights (check, entry, path, "weights", cluster->id, ids, cluster->area_count,
                        cluster->weights))
        return -1;
    cluster->dispersion_penalty = s_number (check, entry, path, "dispersion_penalty", 0, 1, NULL);
    return cluster->dispersion_penalty ? 0 : -1;
}

//  {"title": ..., "params": {...}} of a fixed contract.
static int
s_load_fixed (s_check_t *check, const json_t *document, const char *key, s_fixed_t *fixed)
{
    json_t *entry = s_member (check, document, "", key, JSON_OBJECT, "an object");
    if (!entry)
        return -1;
    static const char *const known [] = { "title", "params", NULL };
    if (s_check_keys (check, entry, key, known))
        return -1;
    fixed->title = s_text (check, entry, key, "title");
    if (!fixed->title)
        return -1;
    fixed->params = s_member (check, entry, key, "params", JSON_OBJECT, "an object");
    return fixed->params ? 0 : -1;
}

static int
s_load_structure (s_check_t *check, ctl_structure_t *self)
{
    const json_t *document = self->document;
    static const char *const known [] = { "format", "version", "on_missing", "dimensions",
        "policy_areas", "clusters", "macro", "validate", "ingest", "recommend", "report", NULL };
    if (s_check_keys (check, document, "", known) || s_check_format (check, document, S_STRUCTURE_FORMAT))
        return -1;
    json_t *version = s_member (check, document, "", "version", JSON_STRING, "a string");
    if (!version)
        return -1;
    self->version = json_string_value (version);
    //  The contract format's version syntax.
    bool version_ok = *self->version && strlen (self->version) <= 63;
    for (const char *c = self->version; *c && version_ok; c++)
        version_ok = isalnum ((unsigned char) *c) || strchr ("_.+-", *c);
    if (!version_ok)
        return s_fail (check, "version", "\"%s\" is not a version: 1 to 63 of A-Z a-z 0-9 _ . + -",
                       self->version);
    json_t *on_missing = s_member (check, document, "", "on_missing", JSON_STRING, "a string");
    if (!on_missing)
        return -1;
    self->on_missing = json_string_value (on_missing);
    if (strcmp (self->on_missing, "skip") != 0 && strcmp (self->on_missing, "zero") != 0)
        return s_fail (check, "on_missing", "\"%s\" is not \"skip\" or \"zero\"", self->on_missing);

    static const char *const dimension_keys [] = { "id", "name", "choquet", NULL };
    json_t *dimensions = s_coded_list (check, document, "dimensions", "DIM", CTL_DIMENSION_COUNT,
                                       dimension_keys);
    if (!dimensions)
        return -1;
    for (int d = 0; d < CTL_DIMENSION_COUNT; d++) {
        char at [32];
        if (s_load_dimension (check, &self->dimensions [d], json_array_get (dimensions, (size_t) d),
                              s_path_index (at, sizeof at, "dimensions", (size_t) d), d))
            return -1;
    }
    static const char *const area_keys [] = { "id", "name", "phrase", "dimension_weights", NULL };
    json_t *areas = s_coded_list (check, document, "policy_areas", "PA", CTL_AREA_COUNT, area_keys);
    if (!areas)
        return -1;
    for (int a = 0; a < CTL_AREA_COUNT; a++) {
        char at [32];
        if (s_load_area (check, &self->areas [a], json_array_get (areas, (size_t) a),
                         s_path_index (at, sizeof at, "policy_areas", (size_t) a), a))
            return -1;
    }
    static const char *const cluster_keys [] = { "id", "name", "policy_areas", "weights",
                                                 "dispersion_penalty", NULL };
    json_t *clusters = s_coded_list (check, document, "clusters", "CL", CTL_CLUSTER_COUNT, cluster_keys);
    if (!clusters)
        return -1;
    for (int c = 0; c < CTL_CLUSTER_COUNT; c++) {
        char at [32];
        if (s_load_cluster (check, self, &self->clusters [c], json_array_get (clusters, (size_t) c),
                            s_path_index (at, sizeof at, "clusters", (size_t) c), c))
            return -1;
    }
    for (int a = 0; a < CTL_AREA_COUNT; a++)
        if (self->areas [a].cluster < 0)
            return s_fail (check, "clusters", "%s is in no cluster (every policy area belongs to one)",
                           self->areas [a].id);

    json_t *macro = s_member (check, document, "", "macro", JSON_OBJECT, "an object");
    if (!macro)
        return -1;
    static const char *const macro_keys [] = { "title", "weights", "coherence", NULL };
    if (s_check_keys (check, macro, "macro", macro_keys))
        return -1;
    self->macro_title = s_text (check, macro, "macro", "title");
    if (!self->macro_title)
        return -1;
    const char *cluster_ids [CTL_CLUSTER_COUNT];
    for (int c = 0; c < CTL_CLUSTER_COUNT; c++)
        cluster_ids [c] = self->clusters [c].id;
    if (s_mean_weights (check, macro, "macro", "weights", "AGG_MACRO", cluster_ids,
                        CTL_CLUSTER_COUNT, self->macro_weights))
        return -1;
    self->coherence = s_number (check, macro, "macro", "coherence", 0, 1, NULL);
    if (!self->coherence)
        return -1;

    if (s_load_fixed (check, document, "validate", &self->validate)
    ||  s_load_fixed (check, document, "ingest", &self->ingest)
    ||  s_load_fixed (check, document, "recommend", &self->recommend)
    ||  s_load_fixed (check, document, "report", &self->report))
        return -1;
    return 0;
}

ctl_structure_t *
ctl_structure_load (const char *source_dir, char *err, size_t err_size)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/structure.json", source_dir);
    s_check_t check = { path, err, err_size };
    ctl_structure_t *self = (ctl_structure_t *) calloc (1, sizeof (ctl_structure_t));
    if (!self) {
        s_fail (&check, NULL, "out of memory");
        return NULL;
    }
    self->document = s_load_json (&check, path);
    if (!self->document || s_load_structure (&check, self))
        ctl_structure_destroy (&self);
    return self;
}

void
ctl_structure_destroy (ctl_structure_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    json_decref ((*self_p)->document);
    free (*self_p);
    *self_p = NULL;
}

const char *
ctl_structure_version (ctl_structure_t *self)
{
    return self->version;
}

static s_area_t *
s_area (ctl_structure_t *self, const char *id)
{
    int number = id ? s_code_parse (id, "PA", CTL_AREA_COUNT) : 0;
    return number ? &self->areas [number - 1] : NULL;
}

const char *
ctl_structure_cluster_of (ctl_structure_t *self, const char *policy_area)
{
    s_area_t *area = s_area (self, policy_area);
    return area ? self->clusters [area->cluster].id : NULL;
}

const char *
ctl_structure_name (ctl_structure_t *self, const char *id)
{
    if (!id)
        return NULL;
    int number;
    if ((number = s_code_parse (id, "DIM", CTL_DIMENSION_COUNT)))
        return self->dimensions [number - 1].name;
    if ((number = s_code_parse (id, "PA", CTL_AREA_COUNT)))
        return self->areas [number - 1].name;
    if ((number = s_code_parse (id, "CL", CTL_CLUSTER_COUNT)))
        return self->clusters [number - 1].name;
    return NULL;
}

//  ---------------------------------------------------------------------
//  Building the contracts

//  Appends value (reference stolen) to array; false on out of memory.
static bool
s_append (json_t *array, json_t *value)
{
    return value && json_array_append_new (array, value) == 0;
}

//  A contract's common fields. NULL on out of memory.
static json_t *
s_contract (ctl_structure_t *self, const char *id, const char *type, const char *phase,
            const char *title)
{
    json_t *contract = json_pack ("{ss ss ss s[s]}", "id", id, "version", self->version,
                                  "type", type, "applicable_phases", phase);
    if (contract && title && *title && json_object_set_new (contract, "title", json_string (title)))
        json_decref (contract), contract = NULL;
    return contract;
}

//  {"method": name, "params": params (reference stolen)}; params NULL = none.
static json_t *
s_step (const char *name, json_t *params)
{
    json_t *step = json_pack ("{ss}", "method", name);
    if (step && params)
        json_object_set_new (step, "params", params);
    else
        json_decref (params);
    return step;
}

//  Sets contract.inputs.contracts = ids (reference stolen); false on OOM.
static bool
s_set_inputs (json_t *contract, json_t *ids)
{
    json_t *inputs = ids ? json_pack ("{so}", "contracts", ids) : NULL;
    return inputs && json_object_set_new (contract, "inputs", inputs) == 0;
}

static void
s_score_id (char *out, size_t size, int slot, int area)
{
    snprintf (out, size, "SCORE_Q%03d_PA%02d", slot, area + 1);
}

//  Checks the micro contracts: an array of objects, each slot x area once,
//  identity agreeing with the id. index_of [area][slot-1] = position.
static int
s_check_micro (ctl_structure_t *self, s_check_t *check, const json_t *micro,
               size_t index_of [CTL_AREA_COUNT][CTL_SLOT_COUNT])
{
    if (!json_is_array (micro))
        return s_fail (check, NULL, "must be an array of micro contracts, not %s", s_type_name (micro));
    for (int a = 0; a < CTL_AREA_COUNT; a++)
        for (int s = 0; s < CTL_SLOT_COUNT; s++)
            index_of [a][s] = SIZE_MAX;
    size_t i;
    json_t *contract;
    json_array_foreach (micro, i, contract) {
        char at [64];
        s_path_index (at, sizeof at, "micro", i);
        if (!json_is_object (contract))
            return s_fail (check, at, "must be an object, not %s", s_type_name (contract));
        json_t *id = s_member (check, contract, at, "id", JSON_STRING, "a string");
        if (!id)
            return -1;
        const char *text = json_string_value (id);
        char id_at [96];
        s_path_key (id_at, sizeof id_at, at, "id");
        int slot = 0, area = 0;
        if (strlen (text) == 9 && text [4] == '_') {
            char slot_text [5];
            memcpy (slot_text, text, 4);
            slot_text [4] = '\0';
            slot = s_slot_parse (slot_text);
            area = s_code_parse (text + 5, "PA", CTL_AREA_COUNT);
        }
        if (!slot || !area)
            return s_fail (check, id_at, "\"%s\" is not a micro contract id Qnnn_PAxx "
                           "(Q001..Q030, PA01..PA10)", text);
        if (index_of [area - 1][slot - 1] != SIZE_MAX)
            return s_fail (check, id_at, "%s is given twice (also micro[%zu])", text,
                           index_of [area - 1][slot - 1]);
        index_of [area - 1][slot - 1] = i;

        //  The identity every later contract copies: it must say what the id says.
        char identity_at [96];
        json_t *identity = s_member_at (check, contract, at, "identity", JSON_OBJECT, "an object",
                                        identity_at, sizeof identity_at);
        if (!identity)
            return -1;
        char slot_code [8];
        snprintf (slot_code, sizeof slot_code, "Q%03d", slot);
        const char *keys [] = { "base_question", "policy_area", "dimension", "cluster" };
        const char *expected [] = { slot_code, self->areas [area - 1].id,
                                    ctl_structure_slot_dimension (slot),
                                    self->clusters [self->areas [area - 1].cluster].id };
        for (int k = 0; k < 4; k++) {
            json_t *value = s_member (check, identity, identity_at, keys [k], JSON_STRING, "a string");
            if (!value)
                return -1;
            if (strcmp (json_string_value (value), expected [k]) != 0) {
                char key_at [128];
                return s_fail (check, s_path_key (key_at, sizeof key_at, identity_at, keys [k]),
                               "\"%s\" disagrees with %s: expected \"%s\"", json_string_value (value),
                               text, expected [k]);
            }
        }
        json_t *title = json_object_get (contract, "title");
        if (title && !json_is_string (title)) {
            char title_at [96];
            return s_fail (check, s_path_key (title_at, sizeof title_at, at, "title"),
                           "must be a string, not %s", s_type_name (title));
        }
        json_t *expected_elements = json_object_get (contract, "expected_elements");
        if (expected_elements && !json_is_array (expected_elements)) {
            char elements_at [96];
            return s_fail (check, s_path_key (elements_at, sizeof elements_at, at, "expected_elements"),
                           "must be an array, not %s", s_type_name (expected_elements));
        }
        char scoring_at [96];
        json_t *scoring = s_member_at (check, contract, at, "scoring", JSON_OBJECT, "an object",
                                       scoring_at, sizeof scoring_at);
        if (!scoring)
            return -1;
        json_t *modality = json_object_get (scoring, "modality");
        if (!json_is_string (modality)) {
            char modality_at [128];
            return s_fail (check, s_path_key (modality_at, sizeof modality_at, scoring_at, "modality"),
                           "required: the SCORE_ contract scores %s by its modality", text);
        }
    }
    for (int a = 0; a < CTL_AREA_COUNT; a++)
        for (int s = 0; s < CTL_SLOT_COUNT; s++)
            if (index_of [a][s] == SIZE_MAX)
                return s_fail (check, NULL, "no contract for Q%03d_PA%02d (a set needs all %d: "
                               "Q001..Q030 x PA01..PA10)", s + 1, a + 1, CTL_SLOT_COUNT * CTL_AREA_COUNT);
    return 0;
}

//  P03: SCORE_Qnnn_PAxx reads Qnnn_PAxx's evidence and scores it.
static json_t *
s_score_contract (ctl_structure_t *self, const json_t *micro_contract, int slot, int area)
{
    char id [32];
    s_score_id (id, sizeof id, slot, area);
    const char *micro_id = json_string_value (json_object_get (micro_contract, "id"));
    json_t *contract = s_contract (self, id, "scoring", "P03",
                                   json_string_value (json_object_get (micro_contract, "title")));
    if (!contract)
        return NULL;
    bool ok = json_object_set (contract, "identity", json_object_get (micro_contract, "identity")) == 0
           && s_set_inputs (contract, json_pack ("[s]", micro_id))
           && json_object_set_new (contract, "scoring",
                                   json_deep_copy (json_object_get (micro_contract, "scoring"))) == 0;
    json_t *expected = json_object_get (micro_contract, "expected_elements");
    if (ok && expected)
        ok = json_object_set_new (contract, "expected_elements", json_deep_copy (expected)) == 0;
    json_t *methods = json_array ();
    ok = ok && methods
      && s_append (methods, s_step ("score.from_input", json_pack ("{ss}", "input", micro_id)))
      && s_append (methods, s_step ("score.modality", NULL));
    if (!ok || json_object_set_new (contract, "methods", methods)) {
        json_decref (contract);
        return NULL;
    }
    return contract;
}

//  An aggregation contract over ids: one step of method whose params are
//  params (may hold more members) plus "weights" (each id to a copy of its
//  weight, as written) and "on_missing". Steals identity and params (NULL
//  for either: out of memory). NULL on out of memory.
static json_t *
s_aggregation_contract (ctl_structure_t *self, const char *id, const char *phase, const char *title,
                        json_t *identity, const char *const *ids, json_t *const *weights,
                        size_t count, const char *method, json_t *params)
{
    json_t *contract = s_contract (self, id, "aggregation", phase, title);
    json_t *inputs = json_array ();
    json_t *weight_object = json_object ();
    bool ok = contract && inputs && weight_object && identity && params
           && json_object_set (contract, "identity", identity) == 0;
    for (size_t i = 0; i < count && ok; i++)
        ok = s_append (inputs, json_string (ids [i]))
          && json_object_set_new (weight_object, ids [i], json_deep_copy (weights [i])) == 0;
    ok = ok && json_object_set (params, "weights", weight_object) == 0
       && json_object_set_new (params, "on_missing", json_string (self->on_missing)) == 0;
    json_t *methods = ok ? json_pack ("[o]", s_step (method, json_incref (params))) : NULL;
    ok = methods && s_set_inputs (contract, json_incref (inputs))
      && json_object_set_new (contract, "methods", methods) == 0;
    json_decref (inputs);
    json_decref (weight_object);
    json_decref (identity);
    json_decref (params);
    if (!ok) {
        json_decref (contract);
        return NULL;
    }
    return contract;
}

//  P04: AGG_DIMyy_PAxx, the Choquet integral of the dimension's 5 scores.
static json_t *
s_dimension_contract (ctl_structure_t *self, int dimension_index, int area)
{
    s_dimension_t *dimension = &self->dimensions [dimension_index];
    char id [32], title [S_TITLE_MAX + 1];
    snprintf (id, sizeof id, "AGG_%s_%s", dimension->id, self->areas [area].id);
    snprintf (title, sizeof title, "%s — %s", dimension->name, self->areas [area].name);
    char ids [CTL_SLOTS_PER_DIMENSION][32];
    const char *id_list [CTL_SLOTS_PER_DIMENSION];
    for (int s = 0; s < CTL_SLOTS_PER_DIMENSION; s++) {
        s_score_id (ids [s], sizeof ids [s], dimension_index * CTL_SLOTS_PER_DIMENSION + s + 1, area);
        id_list [s] = ids [s];
    }
    json_t *interactions = json_array ();
    bool ok = interactions != NULL;
    for (size_t i = 0; i < dimension->interaction_count && ok; i++)
        ok = s_append (interactions, json_pack ("{ss ss sO}",
                 "a", ids [dimension->interactions [i].a], "b", ids [dimension->interactions [i].b],
                 "value", dimension->interactions [i].value));
    json_t *params = ok ? json_pack ("{sO}", "interactions", interactions) : NULL;
    json_decref (interactions);
    json_t *identity = json_pack ("{ss ss}", "policy_area", self->areas [area].id,
                                  "dimension", dimension->id);
    return s_aggregation_contract (self, id, "P04", title, identity, id_list, dimension->weight_values,
                                   CTL_SLOTS_PER_DIMENSION, "aggregate.choquet", params);
}

//  An aggregate.weighted_mean contract over ids with weights (values as
//  written), plus one extra parameter (dispersion_penalty, coherence) when
//  extra_key is not NULL.
static json_t *
s_mean_contract (ctl_structure_t *self, const char *id, const char *phase, const char *title,
                 json_t *identity, const char *const *ids, json_t *const *weights, size_t count,
                 const char *extra_key, json_t *extra_value)
{
    json_t *params = json_object ();
    if (params && extra_key && json_object_set_new (params, extra_key, json_deep_copy (extra_value)))
        json_decref (params), params = NULL;
    return s_aggregation_contract (self, id, phase, title, identity, ids, weights, count,
                                   "aggregate.weighted_mean", params);
}

//  A contract whose one step is method with the fixed contract's params,
//  reading the document (document true) and/or the ids (may be NULL).
static json_t *
s_fixed_contract (ctl_structure_t *self, const char *id, const char *type, const char *phase,
                  const s_fixed_t *fixed, const char *method, bool document, json_t *ids)
{
    json_t *contract = s_contract (self, id, type, phase, fixed->title);
    bool ok = contract != NULL;
    if (ok && document)
        ok = json_object_set_new (contract, "inputs", json_pack ("{sb}", "document", 1)) == 0;
    if (ok && ids)
        ok = s_set_inputs (contract, json_incref (ids));
    json_t *methods = ok ? json_pack ("[o]", s_step (method, json_deep_copy (fixed->params))) : NULL;
    ok = methods && json_object_set_new (contract, "methods", methods) == 0;
    json_decref (ids);
    if (!ok) {
        json_decref (contract);
        return NULL;
    }
    return contract;
}

json_t *
ctl_structure_build (ctl_structure_t *self, const json_t *micro, char *err, size_t err_size)
{
    s_check_t check = { "micro contracts", err, err_size };
    size_t (*index_of) [CTL_SLOT_COUNT] = calloc (CTL_AREA_COUNT, sizeof *index_of);
    json_t *set = json_object ();
    json_t *phases [FAC_PHASE_COUNT] = { NULL };
    json_t *score_ids = json_array ();
    json_t *aggregation_ids = json_array ();
    if (!index_of || !set || !score_ids || !aggregation_ids) {
        s_fail (&check, NULL, "out of memory");
        goto failed;
    }
    if (s_check_micro (self, &check, micro, index_of))
        goto failed;
    for (int p = 0; p < FAC_PHASE_COUNT; p++) {
        if (p == 2)
            continue;               // P02: the micro contracts themselves
        char key [4];
        snprintf (key, sizeof key, "P%02d", p);
        phases [p] = json_array ();
        if (!phases [p] || json_object_set_new (set, key, json_incref (phases [p]))) {
            s_fail (&check, NULL, "out of memory");
            goto failed;
        }
    }
    bool ok = true;
    //  P03 and P04, area by area.
    for (int a = 0; a < CTL_AREA_COUNT && ok; a++) {
        for (int s = 1; s <= CTL_SLOT_COUNT && ok; s++) {
            char id [32];
            s_score_id (id, sizeof id, s, a);
            ok = s_append (phases [3], s_score_contract (self, json_array_get (micro, index_of [a][s - 1]),
                                                         s, a))
              && s_append (score_ids, json_string (id));
        }
        for (int d = 0; d < CTL_DIMENSION_COUNT && ok; d++)
            ok = s_append (phases [4], s_dimension_contract (self, d, a));
    }
    //  P05: each policy area over its six dimensions.
    for (int a = 0; a < CTL_AREA_COUNT && ok; a++) {
        s_area_t *area = &self->areas [a];
        char storage [CTL_DIMENSION_COUNT][32], id [32];
        const char *ids [CTL_DIMENSION_COUNT];
        for (int d = 0; d < CTL_DIMENSION_COUNT; d++) {
            snprintf (storage [d], sizeof storage [d], "AGG_%s_%s", self->dimensions [d].id, area->id);
            ids [d] = storage [d];
        }
        snprintf (id, sizeof id, "AGG_%s", area->id);
        ok = s_append (phases [5], s_mean_contract (self, id, "P05", area->name,
                           json_pack ("{ss}", "policy_area", area->id), ids, area->dimension_weights,
                           CTL_DIMENSION_COUNT, NULL, NULL));
    }
    //  P06: each cluster over its policy areas, with the dispersion penalty.
    for (int c = 0; c < CTL_CLUSTER_COUNT && ok; c++) {
        s_cluster_t *cluster = &self->clusters [c];
        char storage [CTL_AREA_COUNT][32], id [32];
        const char *ids [CTL_AREA_COUNT];
        for (size_t i = 0; i < cluster->area_count; i++) {
            snprintf (storage [i], sizeof storage [i], "AGG_%s", self->areas [cluster->areas [i]].id);
            ids [i] = storage [i];
        }
        snprintf (id, sizeof id, "AGG_%s", cluster->id);
        ok = s_append (phases [6], s_mean_contract (self, id, "P06", cluster->name,
                           json_pack ("{ss}", "cluster", cluster->id), ids, cluster->weights,
                           cluster->area_count, "dispersion_penalty", cluster->dispersion_penalty));
    }
    //  P07: the macro score over the clusters, with the coherence factor.
    if (ok) {
        char storage [CTL_CLUSTER_COUNT][32];
        const char *ids [CTL_CLUSTER_COUNT];
        for (int c = 0; c < CTL_CLUSTER_COUNT; c++) {
            snprintf (storage [c], sizeof storage [c], "AGG_%s", self->clusters [c].id);
            ids [c] = storage [c];
        }
        ok = s_append (phases [7], s_mean_contract (self, "AGG_MACRO", "P07", self->macro_title,
                           json_object (), ids, self->macro_weights, CTL_CLUSTER_COUNT,
                           "coherence", self->coherence));
    }
    //  Every aggregation, in phase order: what the report reads.
    for (int p = 4; p <= 7 && ok; p++) {
        size_t i;
        json_t *contract;
        json_array_foreach (phases [p], i, contract)
            ok = ok && s_append (aggregation_ids, json_incref (json_object_get (contract, "id")));
    }
    if (ok) {
        json_t *recommend_inputs = json_pack ("[s]", "INGEST");
        json_t *report_inputs = json_pack ("[ss]", "VALIDATE_DOCUMENT", "INGEST");
        ok = recommend_inputs && report_inputs
          && json_array_extend (recommend_inputs, score_ids) == 0
          && json_array_extend (report_inputs, score_ids) == 0
          && json_array_extend (report_inputs, aggregation_ids) == 0
          && json_array_append_new (report_inputs, json_string ("RECOMMEND")) == 0;
        ok = ok
          && s_append (phases [0], s_fixed_contract (self, "VALIDATE_DOCUMENT", "task", "P00",
                                                     &self->validate, "text.profile", true, NULL))
          && s_append (phases [1], s_fixed_contract (self, "INGEST", "ingestion", "P01",
                                                     &self->ingest, "text.sections", true, NULL))
          && s_append (phases [8], s_fixed_contract (self, "RECOMMEND", "recommendation", "P08",
                                                     &self->recommend, "recommend.rules", false,
                                                     json_incref (recommend_inputs)))
          && s_append (phases [9], s_fixed_contract (self, "REPORT", "report", "P09",
                                                     &self->report, "report.assemble", false,
                                                     json_incref (report_inputs)));
        json_decref (recommend_inputs);
        json_decref (report_inputs);
    }
    if (!ok) {
        s_fail (&check, NULL, "out of memory");
        goto failed;
    }
    for (int p = 0; p < FAC_PHASE_COUNT; p++)
        json_decref (phases [p]);
    json_decref (score_ids);
    json_decref (aggregation_ids);
    free (index_of);
    return set;

failed:
    for (int p = 0; p < FAC_PHASE_COUNT; p++)
        json_decref (phases [p]);
    json_decref (score_ids);
    json_decref (aggregation_ids);
    json_decref (set);
    free (index_of);
    return NULL;
}

//  ---------------------------------------------------------------------
//  The default set's micro contracts: questions.json

//  One element type of the library: its pattern, the alternatives of the
//  source joined with "|".
typedef struct {
    const char *type;
    const char *id;                     // pattern id ("CIF"; "CIF.PA01" near an area's keywords)
    char *regex;                        // owned
    json_t *weight;                     // as written; NULL = the default 1.0
} s_element_t;

//  One expected element of a question.
typedef struct {
    const s_element_t *element;
    json_int_t minimum;                 // 0 = none
    bool required;
    bool area_scope;                    // patterns composed with the area's keywords
} s_expected_t;

typedef struct {
    const char *text;                   // template with {area} / {area_name}
    const char *modality;
    json_t *threshold;                  // as written
    s_expected_t *expected;
    size_t expected_count;
} s_question_t;

typedef struct {
    json_t *document;
    json_int_t window;                  // area_window_words
    json_int_t max_matches;
    char *keywords [CTL_AREA_COUNT];    // "\b(?:k1|k2|...)\b", owned
    s_element_t *elements;
    size_t element_count;
    s_question_t questions [CTL_SLOT_COUNT];
} s_questions_t;

static void
s_questions_free (s_questions_t *self)
{
    for (int a = 0; a < CTL_AREA_COUNT; a++)
        free (self->keywords [a]);
    for (size_t e = 0; e < self->element_count; e++)
        free (self->elements [e].regex);
    free (self->elements);
    for (int q = 0; q < CTL_SLOT_COUNT; q++)
        free (self->questions [q].expected);
    json_decref (self->document);
    memset (self, 0, sizeof *self);
}

//  0 when regex compiles as a contract pattern would (IGNORECASE), else
//  the error at path.
static int
s_check_regex (s_check_t *check, const char *path, const char *regex)
{
    if (!*regex)
        return s_fail (check, path, "must not be empty");
    fac_pattern_t pattern = { .id = (char *) "check", .regex = (char *) regex,
                              .flags = FAC_PATTERN_IGNORECASE, .element_type = (char *) "check",
                              .weight = 1 };
    char reason [200];
    if (fac_pattern_check (&pattern, reason, sizeof reason))
        return s_fail (check, path, "does not compile: %s", reason);
    return 0;
}

//  The regex fragments of list (at path) joined as alternatives between
//  prefix and suffix, each fragment and the whole checked to compile.
//  Caller frees; NULL when one is not a string or does not compile, or
//  out of memory (reported).
static char *
s_alternation (s_check_t *check, const json_t *list, const char *path, const char *prefix,
               const char *suffix)
{
    size_t size = strlen (prefix) + strlen (suffix) + 1;
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        char item_at [256];
        s_path_index (item_at, sizeof item_at, path, i);
        if (!json_is_string (item)) {
            s_fail (check, item_at, "must be a string, not %s", s_type_name (item));
            return NULL;
        }
        if (s_check_regex (check, item_at, json_string_value (item)))
            return NULL;
        size += json_string_length (item) + 1;
    }
    char *joined = (char *) malloc (size);
    if (!joined) {
        s_fail (check, path, "out of memory");
        return NULL;
    }
    strcpy (joined, prefix);
    json_array_foreach (list, i, item) {
        if (i)
            strcat (joined, "|");
        strcat (joined, json_string_value (item));
    }
    strcat (joined, suffix);
    if (s_check_regex (check, path, joined)) {
        free (joined);
        return NULL;
    }
    return joined;
}

static int
s_load_keywords (s_check_t *check, s_questions_t *self)
{
    json_t *keywords = s_member (check, self->document, "", "area_keywords", JSON_OBJECT, "an object");
    if (!keywords)
        return -1;
    const char *key;
    json_t *value;
    json_object_foreach (keywords, key, value) {
        if (!s_is_extension (key) && !s_code_parse (key, "PA", CTL_AREA_COUNT)) {
            char at [128];
            return s_fail (check, s_path_key (at, sizeof at, "area_keywords", key),
                           "unknown policy area \"%s\" (PA01..PA10)", key);
        }
    }
    for (int a = 0; a < CTL_AREA_COUNT; a++) {
        char area [8];
        snprintf (area, sizeof area, "PA%02d", a + 1);
        json_t *list = json_object_get (keywords, area);
        char at [64];
        s_path_key (at, sizeof at, "area_keywords", area);
        if (!list)
            return s_fail (check, "area_keywords", "%s has no keywords (every policy area needs some: "
                           "they make its questions specific to it)", area);
        if (!json_is_array (list) || json_array_size (list) == 0)
            return s_fail (check, at, "must be a non-empty array of regex fragments");
        self->keywords [a] = s_alternation (check, list, at, "\\b(?:", ")\\b");
        if (!self->keywords [a])
            return -1;
    }
    return 0;
}

static int
s_load_elements (s_check_t *check, s_questions_t *self)
{
    json_t *elements = s_member (check, self->document, "", "elements", JSON_OBJECT, "an object");
    if (!elements)
        return -1;
    self->elements = (s_element_t *) calloc (json_object_size (elements) + 1, sizeof (s_element_t));
    if (!self->elements)
        return s_fail (check, "elements", "out of memory");
    const char *type;
    json_t *entry;
    json_object_foreach (elements, type, entry) {
        if (s_is_extension (type))
            continue;
        char at [160], field_at [224];
        s_path_key (at, sizeof at, "elements", type);
        if (!s_is_id (type, 63))
            return s_fail (check, at, "\"%s\" is not an element type: 1 to 63 of A-Z a-z 0-9 _ . -", type);
        if (!json_is_object (entry))
            return s_fail (check, at, "must be an object {id, label, regex, weight}, not %s",
                           s_type_name (entry));
        static const char *const known [] = { "id", "label", "regex", "weight", NULL };
        if (s_check_keys (check, entry, at, known) || !s_text (check, entry, at, "label"))
            return -1;
        s_element_t *element = &self->elements [self->element_count];
        element->type = type;
        json_t *id = s_member (check, entry, at, "id", JSON_STRING, "a string");
        if (!id)
            return -1;
        element->id = json_string_value (id);
        //  Area-scoped copies get ".PAxx" appended: 58 bytes leave room.
        if (!s_is_id (element->id, 58))
            return s_fail (check, s_path_key (field_at, sizeof field_at, at, "id"),
                           "\"%s\" is not a pattern id: 1 to 58 of A-Z a-z 0-9 _ . -", element->id);
        //  Pattern ids are unique in the library: a contract takes the
        //  patterns of several element types.
        for (size_t e = 0; e < self->element_count; e++)
            if (strcmp (self->elements [e].id, element->id) == 0)
                return s_fail (check, s_path_key (field_at, sizeof field_at, at, "id"),
                               "pattern id \"%s\" is also the id of element %s (ids are unique)",
                               element->id, self->elements [e].type);
        if (json_object_get (entry, "weight")) {
            element->weight = s_number (check, entry, at, "weight", 0, 1, NULL);
            if (!element->weight)
                return -1;
        }
        json_t *regex = s_member (check, entry, at, "regex", JSON_ARRAY, "an array of alternatives");
        if (!regex)
            return -1;
        s_path_key (field_at, sizeof field_at, at, "regex");
        if (json_array_size (regex) == 0)
            return s_fail (check, field_at, "an element type needs at least one alternative");
        element->regex = s_alternation (check, regex, field_at, "", "");
        if (!element->regex)
            return -1;
        self->element_count++;
    }
    return 0;
}

static const s_element_t *
s_element_find (const s_questions_t *self, const char *type)
{
    for (size_t e = 0; e < self->element_count; e++)
        if (strcmp (self->elements [e].type, type) == 0)
            return &self->elements [e];
    return NULL;
}

//  Checks a question template: only {area} and {area_name} placeholders.
static int
s_check_template (s_check_t *check, const char *path, const char *text)
{
    for (const char *open = strchr (text, '{'); open; open = strchr (open + 1, '{')) {
        if (strncmp (open, "{area}", 6) == 0 || strncmp (open, "{area_name}", 11) == 0)
            continue;
        const char *close = strchr (open, '}');
        int length = close ? (int) (close - open + 1) : (int) strlen (open);
        return s_fail (check, path, "unknown placeholder \"%.*s\" (known: {area}, {area_name})",
                       length > 40 ? 40 : length, open);
    }
    return 0;
}

static int
s_load_question (s_check_t *check, s_questions_t *self, const json_t *entry, const char *path)
{
    static const char *const known [] = { "slot", "dimension", "modality", "threshold", "text",
                                          "expected", NULL };
    if (!json_is_object (entry))
        return s_fail (check, path, "must be an object, not %s", s_type_name (entry));
    if (s_check_keys (check, entry, path, known))
        return -1;
    json_t *slot_value = s_member (check, entry, path, "slot", JSON_STRING, "a string");
    if (!slot_value)
        return -1;
    char at [128];
    int slot = s_slot_parse (json_string_value (slot_value));
    if (!slot)
        return s_fail (check, s_path_key (at, sizeof at, path, "slot"),
                       "\"%s\" is not a question slot (Q001..Q030)", json_string_value (slot_value));
    s_question_t *question = &self->questions [slot - 1];
    if (question->text)
        return s_fail (check, s_path_key (at, sizeof at, path, "slot"),
                       "%s is given twice", json_string_value (slot_value));
    json_t *dimension = s_member (check, entry, path, "dimension", JSON_STRING, "a string");
    if (!dimension)
        return -1;
    if (strcmp (json_string_value (dimension), ctl_structure_slot_dimension (slot)) != 0)
        return s_fail (check, s_path_key (at, sizeof at, path, "dimension"),
                       "\"%s\": %s belongs to %s (slot k is in DIM0⌈k/5⌉)", json_string_value (dimension),
                       json_string_value (slot_value), ctl_structure_slot_dimension (slot));
    json_t *modality = s_member (check, entry, path, "modality", JSON_STRING, "a string");
    if (!modality)
        return -1;
    const char *text = json_string_value (modality);
    if (strlen (text) != 6 || strncmp (text, "TYPE_", 5) != 0 || text [5] < 'A' || text [5] > 'F')
        return s_fail (check, s_path_key (at, sizeof at, path, "modality"),
                       "\"%s\" is not a micro question modality (TYPE_A..TYPE_F)", text);
    question->modality = text;
    question->threshold = s_number (check, entry, path, "threshold", 0, 1, NULL);
    if (!question->threshold)
        return -1;
    const char *template = s_text (check, entry, path, "text");
    if (!template || s_check_template (check, s_path_key (at, sizeof at, path, "text"), template))
        return -1;

    char expected_at [128];
    json_t *expected = s_member_at (check, entry, path, "expected", JSON_ARRAY, "an array",
                                    expected_at, sizeof expected_at);
    if (!expected)
        return -1;
    if (json_array_size (expected) == 0)
        return s_fail (check, expected_at, "a question expects at least one element");
    question->expected = (s_expected_t *) calloc (json_array_size (expected), sizeof (s_expected_t));
    if (!question->expected)
        return s_fail (check, expected_at, "out of memory");
    size_t i;
    json_t *item;
    json_array_foreach (expected, i, item) {
        char item_at [160], field_at [192];
        s_path_index (item_at, sizeof item_at, expected_at, i);
        if (!json_is_object (item))
            return s_fail (check, item_at, "must be an object {type, minimum | required, scope}, not %s",
                           s_type_name (item));
        static const char *const item_keys [] = { "type", "minimum", "required", "scope", NULL };
        if (s_check_keys (check, item, item_at, item_keys))
            return -1;
        json_t *type = s_member (check, item, item_at, "type", JSON_STRING, "a string");
        if (!type)
            return -1;
        s_expected_t *element = &question->expected [i];
        element->element = s_element_find (self, json_string_value (type));
        if (!element->element)
            return s_fail (check, s_path_key (field_at, sizeof field_at, item_at, "type"),
                           "unknown element type \"%s\" (not in \"elements\")", json_string_value (type));
        for (size_t j = 0; j < i; j++)
            if (question->expected [j].element == element->element)
                return s_fail (check, s_path_key (field_at, sizeof field_at, item_at, "type"),
                               "\"%s\" expected twice (also %s[%zu])", json_string_value (type),
                               expected_at, j);
        json_t *minimum = json_object_get (item, "minimum");
        json_t *required = json_object_get (item, "required");
        if (minimum) {
            if (!json_is_integer (minimum) || json_integer_value (minimum) < 1
            ||  json_integer_value (minimum) > 1000)
                return s_fail (check, s_path_key (field_at, sizeof field_at, item_at, "minimum"),
                               "must be an integer in 1..1000");
            element->minimum = json_integer_value (minimum);
        }
        if (required) {
            if (!json_is_boolean (required))
                return s_fail (check, s_path_key (field_at, sizeof field_at, item_at, "required"),
                               "must be a boolean, not %s", s_type_name (required));
            element->required = json_is_true (required);
        }
        if (!minimum && !required)
            return s_fail (check, item_at, "give \"minimum\" (matches needed) or \"required\": true");
        json_t *scope = s_member (check, item, item_at, "scope", JSON_STRING, "a string");
        if (!scope)
            return -1;
        if (strcmp (json_string_value (scope), "area") == 0)
            element->area_scope = true;
        else
        if (strcmp (json_string_value (scope), "plan") != 0)
            return s_fail (check, s_path_key (field_at, sizeof field_at, item_at, "scope"),
                           "\"%s\" is not \"area\" (near a keyword of the policy area) or \"plan\" "
                           "(anywhere in the plan)", json_string_value (scope));
        question->expected_count++;
    }
    question->text = template;
    return 0;
}

static int
s_load_questions (s_check_t *check, s_questions_t *self)
{
    static const char *const known [] = { "format", "area_window_words", "max_matches",
                                          "area_keywords", "elements", "questions", NULL };
    if (s_check_keys (check, self->document, "", known)
    ||  s_check_format (check, self->document, S_QUESTIONS_FORMAT))
        return -1;
    json_t *window = s_member (check, self->document, "", "area_window_words", JSON_INTEGER,
                               "an integer");
    if (!window)
        return -1;
    self->window = json_integer_value (window);
    if (self->window < 0 || self->window > S_WINDOW_MAX)
        return s_fail (check, "area_window_words", "%" JSON_INTEGER_FORMAT " is out of range 0..%d",
                       self->window, S_WINDOW_MAX);
    json_t *max_matches = s_member (check, self->document, "", "max_matches", JSON_INTEGER,
                                    "an integer");
    if (!max_matches)
        return -1;
    self->max_matches = json_integer_value (max_matches);
    if (self->max_matches < 0 || self->max_matches > 1000)
        return s_fail (check, "max_matches", "%" JSON_INTEGER_FORMAT " is out of range 0..1000",
                       self->max_matches);
    if (s_load_keywords (check, self) || s_load_elements (check, self))
        return -1;
    json_t *questions = s_member (check, self->document, "", "questions", JSON_ARRAY, "an array");
    if (!questions)
        return -1;
    size_t i;
    json_t *entry;
    json_array_foreach (questions, i, entry) {
        char at [64];
        if (s_load_question (check, self, entry, s_path_index (at, sizeof at, "questions", i)))
            return -1;
    }
    for (int q = 0; q < CTL_SLOT_COUNT; q++)
        if (!self->questions [q].text)
            return s_fail (check, "questions", "slot Q%03d is missing (every slot Q001..Q030 needs "
                           "a question)", q + 1);
    return 0;
}

//  The question's title for an area: the template with {area} and
//  {area_name} replaced. NULL when too long (or out of memory).
static char *
s_title (const char *template, const s_area_t *area)
{
    size_t size = strlen (template) + 1;
    for (const char *at = strstr (template, "{area"); at; at = strstr (at + 1, "{area"))
        size += strlen (area->phrase) + strlen (area->name);
    char *title = (char *) malloc (size);
    if (!title)
        return NULL;
    char *out = title;
    for (const char *in = template; *in; ) {
        const char *value = NULL;
        size_t skip = 0;
        if (strncmp (in, "{area}", 6) == 0)
            value = area->phrase, skip = 6;
        else
        if (strncmp (in, "{area_name}", 11) == 0)
            value = area->name, skip = 11;
        if (value) {
            strcpy (out, value);
            out += strlen (value);
            in += skip;
        }
        else
            *out++ = *in++;
    }
    *out = '\0';
    if (strlen (title) > S_TITLE_MAX) {
        free (title);
        return NULL;
    }
    return title;
}

//  One micro contract: slot (1..30) x area.
static json_t *
s_micro_contract (ctl_structure_t *structure, const s_questions_t *self, int slot, int area_index,
                  s_check_t *check)
{
    const s_question_t *question = &self->questions [slot - 1];
    const s_area_t *area = &structure->areas [area_index];
    char id [32], slot_code [8];
    snprintf (id, sizeof id, "Q%03d_PA%02d", slot, area_index + 1);
    snprintf (slot_code, sizeof slot_code, "Q%03d", slot);
    char *title = s_title (question->text, area);
    if (!title) {
        char at [32];
        snprintf (at, sizeof at, "questions (%s)", slot_code);
        s_fail (check, at, "the title of %s is longer than %d bytes", id, S_TITLE_MAX);
        return NULL;
    }
    json_t *contract = s_contract (structure, id, "micro", "P02", title);
    free (title);
    json_t *patterns = json_array ();
    json_t *expected = json_array ();
    bool ok = contract && patterns && expected
           && json_object_set_new (contract, "identity", json_pack ("{ss ss ss ss}",
                  "base_question", slot_code, "policy_area", area->id,
                  "dimension", ctl_structure_slot_dimension (slot),
                  "cluster", structure->clusters [area->cluster].id)) == 0
           && json_object_set_new (contract, "inputs", json_pack ("{sb}", "document", 1)) == 0;
    for (size_t e = 0; e < question->expected_count && ok; e++) {
        const s_expected_t *element = &question->expected [e];
        json_t *entry = json_pack ("{ss}", "type", element->element->type);
        ok = entry != NULL;
        if (ok && element->minimum)
            ok = json_object_set_new (entry, "minimum", json_integer (element->minimum)) == 0;
        if (ok && element->required)
            ok = json_object_set_new (entry, "required", json_true ()) == 0;
        ok = ok && s_append (expected, entry);
        const s_element_t *source = element->element;
        char pattern_id [72];
        char *regex = NULL;
        if (ok && element->area_scope) {
            //  The area's keywords, then the element within the next
            //  `window` words: "\b(?:k1|k2)\b(?:\W+\w+){0,W}?\W+(?:element)".
            snprintf (pattern_id, sizeof pattern_id, "%s.%s", source->id, area->id);
            size_t size = strlen (self->keywords [area_index]) + strlen (source->regex) + 64;
            regex = (char *) malloc (size);
            if (regex)
                snprintf (regex, size, "%s(?:\\W+\\w+){0,%" JSON_INTEGER_FORMAT "}?\\W+(?:%s)",
                          self->keywords [area_index], self->window, source->regex);
        }
        else
        if (ok) {
            snprintf (pattern_id, sizeof pattern_id, "%s", source->id);
            regex = strdup (source->regex);
        }
        json_t *pattern = regex ? json_pack ("{ss ss s[s] ss}", "id", pattern_id, "regex", regex,
                                             "flags", "IGNORECASE", "element_type", source->type) : NULL;
        free (regex);
        if (pattern && source->weight)
            json_object_set_new (pattern, "weight", json_deep_copy (source->weight));
        ok = ok && s_append (patterns, pattern);
    }
    json_t *match_params = ok ? json_pack ("{sI}", "max_matches", self->max_matches) : NULL;
    json_t *methods = match_params ? json_pack ("[oo]", s_step ("text.match_patterns", match_params),
                                                s_step ("text.count_elements", NULL)) : NULL;
    ok = methods
      && json_object_set_new (contract, "patterns", json_incref (patterns)) == 0
      && json_object_set_new (contract, "expected_elements", json_incref (expected)) == 0
      && json_object_set_new (contract, "methods", methods) == 0
      && json_object_set_new (contract, "scoring", json_pack ("{ss sO}", "modality",
             question->modality, "threshold", question->threshold)) == 0;
    json_decref (patterns);
    json_decref (expected);
    if (!ok) {
        s_fail (check, NULL, "out of memory");
        json_decref (contract);
        return NULL;
    }
    return contract;
}

json_t *
ctl_structure_questions (ctl_structure_t *self, const char *source_dir, char *err, size_t err_size)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/questions.json", source_dir);
    s_check_t check = { path, err, err_size };
    s_questions_t questions;
    memset (&questions, 0, sizeof questions);
    json_t *micro = NULL;
    questions.document = s_load_json (&check, path);
    if (!questions.document || s_load_questions (&check, &questions))
        goto done;
    micro = json_array ();
    if (!micro) {
        s_fail (&check, NULL, "out of memory");
        goto done;
    }
    for (int a = 0; a < CTL_AREA_COUNT; a++)
        for (int s = 1; s <= CTL_SLOT_COUNT; s++) {
            json_t *contract = s_micro_contract (self, &questions, s, a, &check);
            if (!contract || json_array_append_new (micro, contract)) {
                json_decref (micro);
                micro = NULL;
                goto done;
            }
        }
done:
    s_questions_free (&questions);
    return micro;
}

//  ---------------------------------------------------------------------
//  Writing set files

static const char *const s_file_names [FAC_PHASE_COUNT] = {
    "P00-validate.json", "P01-ingest.json", "P02-micro.json", "P03-scoring.json",
    "P04-dimensions.json", "P05-policy-areas.json", "P06-clusters.json", "P07-macro.json",
    "P08-recommend.json", "P09-report.json",
};

const char *
ctl_set_file_name (int phase)
{
    return phase >= 0 && phase < FAC_PHASE_COUNT ? s_file_names [phase] : NULL;
}

json_t *
ctl_set_file (const json_t *by_phase, int phase, bool *nomem)
{
    char phase_key [4];
    snprintf (phase_key, sizeof phase_key, "P%02d", phase);
    json_t *contracts = json_object_get (by_phase, phase_key);
    if (!contracts)
        return NULL;
    json_t *file = json_pack ("{ss sO}", "format", "farfan-contract-set/1", "contracts", contracts);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) by_phase, key, value)
        if (file && s_is_extension (key) && json_object_set (file, key, value))
            json_decref (file), file = NULL;
    *nomem = file == NULL;
    return file;
}

char *
ctl_set_dumps (const json_t *value)
{
    size_t size;
    char *text = fac_json_dumps (value, 2, &size);
    char *line = text ? (char *) realloc (text, size + 2) : NULL;
    if (!line) {
        free (text);
        return NULL;
    }
    memcpy (line + size, "\n", 2);
    return line;
}

//  mkdir -p. 0, or -1 with errno set.
static int
s_make_dirs (const char *path)
{
    char buffer [4096];
    if (snprintf (buffer, sizeof buffer, "%s", path) >= (int) sizeof buffer) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *slash = buffer + 1; *slash; slash++) {
        if (*slash != '/')
            continue;
        *slash = '\0';
        if (mkdir (buffer, 0755) && errno != EEXIST)
            return -1;
        *slash = '/';
    }
    if (mkdir (buffer, 0755) && errno != EEXIST)
        return -1;
    struct stat status;
    if (stat (buffer, &status))
        return -1;
    if (!S_ISDIR (status.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

//  Writes text to dir/name through a hidden temporary file and a rename.
static int
s_write_file (const char *dir, const char *name, const char *text, char *err, size_t err_size)
{
    char path [4352], temporary [4352];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    snprintf (temporary, sizeof temporary, "%s/.%s.tmp", dir, name);
    FILE *file = fopen (temporary, "w");
    if (!file) {
        snprintf (err, err_size, "%s: cannot write: %s", temporary, strerror (errno));
        return -1;
    }
    size_t length = strlen (text);
    bool ok = fwrite (text, 1, length, file) == length;
    ok = (fflush (file) == 0) && ok;
    ok = (fsync (fileno (file)) == 0) && ok;
    int saved = errno;
    ok = (fclose (file) == 0) && ok;
    if (!ok) {
        snprintf (err, err_size, "%s: cannot write: %s", temporary, strerror (saved ? saved : errno));
        unlink (temporary);
        return -1;
    }
    if (rename (temporary, path)) {
        snprintf (err, err_size, "%s: cannot replace: %s", path, strerror (errno));
        unlink (temporary);
        return -1;
    }
    return 0;
}

int
ctl_set_write (const char *out_dir, const json_t *by_phase, char *err, size_t err_size)
{
    if (!json_is_object (by_phase)) {
        snprintf (err, err_size, "the set must be an object {\"P00\": [...], ...}");
        return -1;
    }
    //  Check everything before writing anything.
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) by_phase, key, value) {
        if (s_is_extension (key))
            continue;
        bool phase = strlen (key) == 3 && key [0] == 'P' && key [1] == '0'
                  && isdigit ((unsigned char) key [2]);
        if (!phase || !json_is_array (value)) {
            snprintf (err, err_size, "%s: not a phase with an array of contracts (P00..P09)", key);
            return -1;
        }
    }
    if (s_make_dirs (out_dir)) {
        snprintf (err, err_size, "%s: cannot create the directory: %s", out_dir, strerror (errno));
        return -1;
    }
    for (int phase = 0; phase < FAC_PHASE_COUNT; phase++) {
        bool nomem = false;
        json_t *file = ctl_set_file (by_phase, phase, &nomem);
        if (!file && !nomem)
            continue;
        char *text = file ? ctl_set_dumps (file) : NULL;
        json_decref (file);
        if (!text) {
            snprintf (err, err_size, "%s/%s: out of memory", out_dir, s_file_names [phase]);
            return -1;
        }
        int rc = s_write_file (out_dir, s_file_names [phase], text, err, err_size);
        free (text);
        if (rc)
            return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The default set, end to end

int
ctl_contracts_generate (const char *source_dir, const char *out_dir, json_t **by_phase,
                        ctl_generate_report_t *report, char *err, size_t err_size)
{
    ctl_structure_t *structure = ctl_structure_load (source_dir, err, err_size);
    json_t *micro = structure ? ctl_structure_questions (structure, source_dir, err, err_size) : NULL;
    json_t *set = micro ? ctl_structure_build (structure, micro, err, err_size) : NULL;
    int rc = -1;
    if (!set)
        goto done;
    if (json_object_set (set, "P02", micro)
    ||  json_object_set_new (set, "_comment", json_string (
            "Generated by farfanctl contracts generate from contracts/src (contracts/README.md): "
            "edit the source and regenerate, do not edit this file."))) {
        snprintf (err, err_size, "out of memory");
        goto done;
    }
    if (report) {
        memset (report, 0, sizeof *report);
        for (int phase = 0; phase < FAC_PHASE_COUNT; phase++) {
            char key [4];
            snprintf (key, sizeof key, "P%02d", phase);
            json_t *contracts = json_object_get (set, key);
            report->per_phase [phase] = json_array_size (contracts);
            report->contracts += json_array_size (contracts);
            report->files += contracts != NULL;
        }
        size_t i;
        json_t *contract;
        json_array_foreach (micro, i, contract)
            report->patterns += json_array_size (json_object_get (contract, "patterns"));
    }
    if (out_dir && ctl_set_write (out_dir, set, err, err_size))
        goto done;
    if (by_phase)
        *by_phase = json_incref (set);
    rc = 0;
done:
    json_decref (set);
    json_decref (micro);
    ctl_structure_destroy (&structure);
    return rc;
}
