/*  fac_methods_recommend — recommend.rules (phase P08): recommendations
    from rules over the scored questions of a run (low scores, quality
    levels, missing expected elements), each naming the question, the
    element and the section of the plan where it was expected (from
    text.sections' output). Semantics: proto/methods.md. */
#include "fac_methods.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The method's entry points (registered in fac_method.c).
fac_method_check_fn fac_methods_recommend_check;
fac_method_run_fn   fac_methods_recommend_run;

#define S_METHOD "recommend.rules"
//  RESULT_OK of Farfan__ResultStatus (proto/factory.proto).
#define S_RESULT_OK 1
#define S_RULES_MAX 256
#define S_RULE_ID_MAX 64
#define S_TEMPLATE_MAX 4000
#define S_KEYWORD_KEYS_MAX 512
#define S_KEYWORDS_MAX 64
#define S_KEYWORD_BYTES_MAX 100
#define S_NO_SECTION_MAX 200
#define S_MAX_DEFAULT 1000
#define S_MAX_LIMIT 1000000
#define S_NO_SECTION_DEFAULT "no section found"

static const char *const s_priorities [] = { "alta", "media", "baja" };
#define S_PRIORITY_COUNT 3
static const char *const s_qualities [] = { "EXCELENTE", "BUENO", "ACEPTABLE", "INSUFICIENTE" };
#define S_QUALITY_COUNT 4
static const char *const s_placeholders [] = {
    "question", "title", "policy_area", "dimension", "element", "section", "score", NULL
};

typedef struct {
    const char *id;             // borrowed from the params
    unsigned qualities;         // bit i = s_qualities [i]; 0 = any quality
    bool has_max_score;
    double max_score;
    const char *missing;        // NULL = no condition, "*" = any missing element, else a type
    int priority;               // index into s_priorities
    const char *text;           // the template
} s_rule_t;

typedef struct {
    const char *sections_from;  // borrowed from the contract; NULL = none
    s_rule_t *rules;            // owned
    size_t rule_count;
    const json_t *keywords;     // params.section_keywords (borrowed) or NULL
    long long max;
    const char *no_section;
} s_recommend_t;

static int
s_index_of (const char *const *list, size_t count, const char *value)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (list [i], value) == 0)
            return (int) i;
    return -1;
}

//  A non-empty string of at most max bytes without NUL.
static bool
s_is_text (const json_t *value, size_t max)
{
    return json_is_string (value) && json_string_length (value) > 0
        && json_string_length (value) <= max
        && strlen (json_string_value (value)) == json_string_length (value);
}

//  Checks a template: "{name}" placeholders known, "{{" and "}}" literal
//  braces, nothing else between braces.
static int
s_template_check (const char *text, size_t rule, char *err, size_t err_size)
{
    for (const char *at = text; *at; at++) {
        if ((at [0] == '{' && at [1] == '{') || (at [0] == '}' && at [1] == '}')) {
            at++;
            continue;
        }
        if (*at == '}')
            return fac_methods_errf (err, err_size, "params.rules[%zu].text: a lone '}' at byte %zu "
                                     "(write }} for a brace)", rule, (size_t) (at - text));
        if (*at != '{')
            continue;
        const char *close = strchr (at, '}');
        if (!close)
            return fac_methods_errf (err, err_size, "params.rules[%zu].text: '{' at byte %zu is not "
                                     "closed (write {{ for a brace)", rule, (size_t) (at - text));
        size_t length = (size_t) (close - at - 1);
        bool known = false;
        for (size_t i = 0; s_placeholders [i] && !known; i++)
            known = strlen (s_placeholders [i]) == length && memcmp (s_placeholders [i], at + 1, length) == 0;
        if (!known)
            return fac_methods_errf (err, err_size, "params.rules[%zu].text: unknown placeholder "
                                     "{%.*s} (question, title, policy_area, dimension, element, "
                                     "section, score)", rule, (int) (length < 40? length: 40), at + 1);
        at = close;
    }
    return 0;
}

static int
s_rule_parse (const json_t *item, size_t index, s_rule_t *rule, const s_rule_t *before,
              char *err, size_t err_size)
{
    memset (rule, 0, sizeof *rule);
    if (!json_is_object (item))
        return fac_methods_errf (err, err_size, "params.rules[%zu]: must be an object {id, when, "
                                 "priority, text}", index);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) item, key, value)
        if (strcmp (key, "id") && strcmp (key, "when") && strcmp (key, "priority") && strcmp (key, "text"))
            return fac_methods_errf (err, err_size, "params.rules[%zu].%s: unknown key (id, when, "
                                     "priority, text)", index, key);
    json_t *id = json_object_get (item, "id");
    if (!s_is_text (id, S_RULE_ID_MAX))
        return fac_methods_errf (err, err_size, "params.rules[%zu].id: must be a non-empty string of "
                                 "at most %d bytes", index, S_RULE_ID_MAX);
    rule->id = json_string_value (id);
    for (size_t i = 0; i < index; i++)
        if (strcmp (before [i].id, rule->id) == 0)
            return fac_methods_errf (err, err_size, "params.rules[%zu].id: \"%s\" repeats rules[%zu]",
                                     index, rule->id, i);
    json_t *priority = json_object_get (item, "priority");
    rule->priority = json_is_string (priority)
                   ? s_index_of (s_priorities, S_PRIORITY_COUNT, json_string_value (priority)): -1;
    if (rule->priority < 0)
        return fac_methods_errf (err, err_size, "params.rules[%zu].priority: must be \"alta\", "
                                 "\"media\" or \"baja\"", index);
    json_t *text = json_object_get (item, "text");
    if (!s_is_text (text, S_TEMPLATE_MAX))
        return fac_methods_errf (err, err_size, "params.rules[%zu].text: must be a non-empty string "
                                 "of at most %d bytes without NUL", index, S_TEMPLATE_MAX);
    rule->text = json_string_value (text);
    if (s_template_check (rule->text, index, err, err_size))
        return -1;

    json_t *when = json_object_get (item, "when");
    if (!json_is_object (when) || json_object_size (when) == 0)
        return fac_methods_errf (err, err_size, "params.rules[%zu].when: must be an object with at "
                                 "least one of quality, max_score, missing_element", index);
    json_object_foreach (when, key, value)
        if (strcmp (key, "quality") && strcmp (key, "max_score") && strcmp (key, "missing_element"))
            return fac_methods_errf (err, err_size, "params.rules[%zu].when.%s: unknown condition "
                                     "(quality, max_score, missing_element)", index, key);
    json_t *quality = json_object_get (when, "quality");
    if (quality) {
        size_t count = json_array_size (quality);
        if (!json_is_array (quality) || count == 0)
            return fac_methods_errf (err, err_size, "params.rules[%zu].when.quality: must be a "
                                     "non-empty array of EXCELENTE, BUENO, ACEPTABLE, INSUFICIENTE", index);
        for (size_t q = 0; q < count; q++) {
            const char *name = json_string_value (json_array_get (quality, q));
            int level = name? s_index_of (s_qualities, S_QUALITY_COUNT, name): -1;
            if (level < 0)
                return fac_methods_errf (err, err_size, "params.rules[%zu].when.quality[%zu]: must be "
                                         "EXCELENTE, BUENO, ACEPTABLE or INSUFICIENTE", index, q);
            if (rule->qualities & (1u << level))
                return fac_methods_errf (err, err_size, "params.rules[%zu].when.quality[%zu]: %s "
                                         "is given twice", index, q, name);
            rule->qualities |= 1u << level;
        }
    }
    if (json_object_get (when, "max_score")) {
        char reason [160];
        if (fac_methods_get_number (when, "max_score", 0, 3, 0, &rule->max_score, reason, sizeof reason))
            return fac_methods_errf (err, err_size, "params.rules[%zu].when.%s", index,
                                     reason + strlen ("params."));
        rule->has_max_score = true;
    }
    json_t *missing = json_object_get (when, "missing_element");
    if (missing) {
        if (!s_is_text (missing, 127))
            return fac_methods_errf (err, err_size, "params.rules[%zu].when.missing_element: must be "
                                     "\"*\" (any missing element) or an element type", index);
        rule->missing = json_string_value (missing);
    }
    return 0;
}

static int
s_recommend_parse (const json_t *params, const fac_contract_t *contract, s_recommend_t *cfg,
                   char *err, size_t err_size)
{
    static const char *const known [] = { "sections_from", "rules", "section_keywords", "max",
                                          "no_section", NULL };
    memset (cfg, 0, sizeof *cfg);
    if (fac_methods_check_keys (params, S_METHOD, known, err, err_size)
    ||  fac_methods_get_int (params, "max", 1, S_MAX_LIMIT, S_MAX_DEFAULT, &cfg->max, err, err_size))
        return -1;
    json_t *from = json_object_get (params, "sections_from");
    if (from) {
        if (!json_is_string (from))
            return fac_methods_errf (err, err_size, "params.sections_from: must be an id of "
                                     "inputs.contracts (the contract whose output has text.sections)");
        for (size_t i = 0; i < contract->input_count && !cfg->sections_from; i++)
            if (strcmp (contract->input_contracts [i], json_string_value (from)) == 0)
                cfg->sections_from = contract->input_contracts [i];
        if (!cfg->sections_from)
            return fac_methods_errf (err, err_size, "params.sections_from: %s is not an input of this "
                                     "contract (inputs.contracts)", json_string_value (from));
    }
    if (contract->input_count < (cfg->sections_from? 2u: 1u))
        return fac_methods_errf (err, err_size, "inputs.contracts: recommend.rules reads the scored "
                                 "contracts, the contract names none%s",
                                 cfg->sections_from? " besides params.sections_from": "");
    json_t *no_section = json_object_get (params, "no_section");
    cfg->no_section = S_NO_SECTION_DEFAULT;
    if (no_section) {
        if (!s_is_text (no_section, S_NO_SECTION_MAX))
            return fac_methods_errf (err, err_size, "params.no_section: must be a non-empty string of "
                                     "at most %d bytes", S_NO_SECTION_MAX);
        cfg->no_section = json_string_value (no_section);
    }
    json_t *keywords = json_object_get (params, "section_keywords");
    if (keywords) {
        if (!json_is_object (keywords) || json_object_size (keywords) > S_KEYWORD_KEYS_MAX)
            return fac_methods_errf (err, err_size, "params.section_keywords: must be an object of at "
                                     "most %d keys {\"DIMnn\" | \"PAnn\" | \"<element type>\": [keyword, ...]}",
                                     S_KEYWORD_KEYS_MAX);
        const char *key;
        json_t *list;
        json_object_foreach (keywords, key, list) {
            size_t count = json_array_size (list);
            if (!*key)
                return fac_methods_errf (err, err_size, "params.section_keywords: a key is empty");
            if (!json_is_array (list) || count == 0 || count > S_KEYWORDS_MAX)
                return fac_methods_errf (err, err_size, "params.section_keywords.%s: must be an array "
                                         "of 1..%d keywords", key, S_KEYWORDS_MAX);
            for (size_t k = 0; k < count; k++)
                if (!s_is_text (json_array_get (list, k), S_KEYWORD_BYTES_MAX))
                    return fac_methods_errf (err, err_size, "params.section_keywords.%s[%zu]: must be "
                                             "a non-empty string of at most %d bytes without NUL",
                                             key, k, S_KEYWORD_BYTES_MAX);
        }
        cfg->keywords = keywords;
    }
    json_t *rules = json_object_get (params, "rules");
    size_t count = json_array_size (rules);
    if (!json_is_array (rules) || count == 0 || count > S_RULES_MAX)
        return fac_methods_errf (err, err_size, "params.rules: must be an array of 1..%d rules "
                                 "{id, when, priority, text}", S_RULES_MAX);
    cfg->rules = (s_rule_t *) calloc (count, sizeof (s_rule_t));
    if (!cfg->rules)
        return fac_methods_errf (err, err_size, "%s: out of memory", S_METHOD);
    for (size_t r = 0; r < count; r++) {
        if (s_rule_parse (json_array_get (rules, r), r, &cfg->rules [r], cfg->rules, err, err_size))
            return -1;
        cfg->rule_count++;
    }
    return 0;
}

int
fac_methods_recommend_check (const json_t *params, const fac_contract_t *contract,
                             const fac_method_env_t *env, char *err, size_t err_size)
{
    s_recommend_t cfg;
    int rc = s_recommend_parse (params, contract, &cfg, err, err_size);
    free (cfg.rules);
    return rc;
}

//  ---------------------------------------------------------------------
//  The run

//  A section of the plan (text.sections' output of sections_from).
typedef struct {
    const char *title;          // borrowed from the parsed output
    char *folded;               // fac_text_fold of the title (owned)
    size_t folded_size;
    json_int_t offset;
    json_int_t page;            // 0 when not given
} s_section_t;

//  Keyword hits per section for one key of section_keywords (computed on
//  first use).
typedef struct {
    const char *key;
    int *hits;                  // per section: keywords of the key found in its title
} s_hits_t;

//  A question: one scored input.
typedef struct {
    const fac_input_t *input;
    const char *id;
    double score;
    const char *quality;
    char **missing;             // owned strings
    size_t missing_count;
    bool recommended;
} s_question_t;

typedef struct {
    size_t question;            // index into the questions
    size_t rule;
    const char *element;        // borrowed from the question's missing list; NULL = none
    size_t sequence;            // firing order (the last tie-break)
    int priority;
    double score;
} s_fired_t;

typedef struct {
    s_recommend_t cfg;
    s_section_t *sections;
    size_t section_count;
    json_t *sections_output;    // parsed output of sections_from (owned)
    s_hits_t *hits;
    size_t hit_count;
    s_question_t *questions;
    size_t question_count;
    s_fired_t *fired;
    size_t fired_count, fired_capacity;
} s_run_t;

static const fac_input_t *
s_find_input (const fac_context_t *ctx, const char *id)
{
    for (size_t i = 0; i < ctx->input_count; i++)
        if (strcmp (ctx->inputs [i].contract_id? ctx->inputs [i].contract_id: "", id) == 0)
            return &ctx->inputs [i];
    return NULL;
}

static const char *
s_str (const char *text)
{
    return text? text: "";
}

static const char *
s_status_name (int status)
{
    switch (status) {
        case 0: return "missing: the request did not carry its result";
        case 2: return "FAILED";
        case 3: return "TIMEOUT";
        case 4: return "SKIPPED";
        default: return "status unknown";
    }
}

//  Reads the sections of the sections_from input. -1 with ctx->error.
static int
s_sections_load (fac_context_t *ctx, s_run_t *run)
{
    const char *id = run->cfg.sections_from;
    const fac_input_t *input = s_find_input (ctx, id);
    if (!input || input->status != S_RESULT_OK)
        return fac_methods_fail (ctx, S_METHOD, "params.sections_from: input %s is not OK (%s)", id,
                                 s_status_name (input? input->status: 0));
    json_error_t error;
    run->sections_output = *s_str (input->output_json)
                         ? json_loads (input->output_json, 0, &error): NULL;
    json_t *list = json_object_get (json_object_get (run->sections_output, "text.sections"), "sections");
    if (!json_is_array (list))
        return fac_methods_fail (ctx, S_METHOD, "params.sections_from: the output of input %s has no "
                                 "text.sections.sections", id);
    size_t count = json_array_size (list);
    run->sections = (s_section_t *) calloc (count + 1, sizeof (s_section_t));
    if (!run->sections)
        return fac_methods_fail (ctx, S_METHOD, "out of memory");
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (list, i);
        json_t *title = json_object_get (item, "title");
        json_t *offset = json_object_get (item, "offset");
        if (!json_is_string (title) || !json_is_integer (offset))
            return fac_methods_fail (ctx, S_METHOD, "params.sections_from: input %s: "
                                     "text.sections.sections[%zu] has no title and offset", id, i);
        s_section_t *section = &run->sections [run->section_count++];
        section->title = json_string_value (title);
        section->offset = json_integer_value (offset);
        section->page = json_integer_value (json_object_get (item, "page"));
        size_t length = json_string_length (title);
        section->folded = (char *) malloc (length + 1);
        if (!section->folded)
            return fac_methods_fail (ctx, S_METHOD, "out of memory");
        section->folded_size = fac_text_fold (section->title, length, section->folded);
        section->folded [section->folded_size] = '\0';
    }
    return 0;
}

//  True when needle occurs in hay at the start of a word.
static bool
s_contains_word (const char *hay, size_t hay_size, const char *needle, size_t needle_size)
{
    if (needle_size == 0 || needle_size > hay_size)
        return false;
    const char *at = hay;
    const char *end = hay + hay_size;
    while ((at = (const char *) memmem (at, (size_t) (end - at), needle, needle_size))) {
        unsigned char before = at > hay? (unsigned char) at [-1]: ' ';
        bool word_start = !((before >= 'a' && before <= 'z') || (before >= '0' && before <= '9')
                            || before >= 0x80);
        if (word_start)
            return true;
        at++;
    }
    return false;
}

//  The hits of one key of section_keywords; NULL when the key is not
//  there (or no sections). -1 in *failed when out of memory.
static const int *
s_hits (s_run_t *run, const char *key, bool *failed)
{
    if (!run->cfg.keywords || !key || !*key || run->section_count == 0)
        return NULL;
    json_t *list = json_object_get (run->cfg.keywords, key);
    if (!list)
        return NULL;
    for (size_t i = 0; i < run->hit_count; i++)
        if (strcmp (run->hits [i].key, key) == 0)
            return run->hits [i].hits;
    int *hits = (int *) calloc (run->section_count, sizeof (int));
    char *folded = NULL;
    if (!hits) {
        *failed = true;
        return NULL;
    }
    for (size_t k = 0; k < json_array_size (list); k++) {
        const char *keyword = json_string_value (json_array_get (list, k));
        size_t length = strlen (keyword);
        folded = (char *) malloc (length + 1);
        if (!folded) {
            free (hits);
            *failed = true;
            return NULL;
        }
        size_t folded_size = fac_text_fold (keyword, length, folded);
        for (size_t s = 0; s < run->section_count; s++)
            if (s_contains_word (run->sections [s].folded, run->sections [s].folded_size,
                                 folded, folded_size))
                hits [s]++;
        free (folded);
    }
    //  hit_count < number of keys: the array was sized for all of them.
    run->hits [run->hit_count].key = key;
    run->hits [run->hit_count].hits = hits;
    run->hit_count++;
    return hits;
}

//  The best section for an element of a question: most keywords of the
//  element's, dimension's and policy area's lists in its title; ties go
//  to more of the element's keywords, then to the first in the text.
//  -1 when none matches (or no sections); -2 when out of memory.
static long
s_best_section (s_run_t *run, const char *element, const fac_input_t *input)
{
    bool failed = false;
    const int *by_element = element? s_hits (run, element, &failed): NULL;
    const int *by_dimension = s_hits (run, s_str (input->dimension), &failed);
    const int *by_area = s_hits (run, s_str (input->policy_area), &failed);
    if (failed)
        return -2;
    long best = -1;
    int best_total = 0, best_element = 0;
    for (size_t s = 0; s < run->section_count; s++) {
        if (run->sections [s].folded_size == 0)
            continue;
        int from_element = by_element? by_element [s]: 0;
        int total = from_element + (by_dimension? by_dimension [s]: 0) + (by_area? by_area [s]: 0);
        if (total > best_total || (total == best_total && total > 0 && from_element > best_element)) {
            best = (long) s;
            best_total = total;
            best_element = from_element;
        }
    }
    return best;
}

//  Adds text to a growing buffer. -1 when out of memory.
typedef struct {
    char *data;
    size_t size, capacity;
} s_buffer_t;

static int
s_append (s_buffer_t *buffer, const char *text, size_t length)
{
    if (buffer->size + length + 1 > buffer->capacity) {
        size_t capacity = (buffer->size + length + 1) * 2;
        char *grown = (char *) realloc (buffer->data, capacity);
        if (!grown)
            return -1;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy (buffer->data + buffer->size, text, length);
    buffer->size += length;
    buffer->data [buffer->size] = '\0';
    return 0;
}

//  The recommendation's text from its rule's template (checked at load).
static int
s_expand (s_buffer_t *out, const char *template_text, const s_question_t *question,
          const char *element, const char *section)
{
    out->size = 0;
    if (s_append (out, "", 0))
        return -1;
    const fac_input_t *input = question->input;
    for (const char *at = template_text; *at; at++) {
        if ((at [0] == '{' && at [1] == '{') || (at [0] == '}' && at [1] == '}')) {
            if (s_append (out, at, 1))
                return -1;
            at++;
            continue;
        }
        if (*at != '{') {
            const char *next = at;
            while (next [1] && next [1] != '{' && next [1] != '}')
                next++;
            if (s_append (out, at, (size_t) (next - at) + 1))
                return -1;
            at = next;
            continue;
        }
        const char *close = strchr (at, '}');
        size_t length = (size_t) (close - at - 1);
        const char *name = at + 1;
        char number [32];
        const char *value = "";
        if (length == 8 && memcmp (name, "question", 8) == 0)
            value = *s_str (input->base_question)? input->base_question: question->id;
        else
        if (length == 5 && memcmp (name, "title", 5) == 0)
            value = s_str (input->title);
        else
        if (length == 11 && memcmp (name, "policy_area", 11) == 0)
            value = s_str (input->policy_area);
        else
        if (length == 9 && memcmp (name, "dimension", 9) == 0)
            value = s_str (input->dimension);
        else
        if (length == 7 && memcmp (name, "section", 7) == 0)
            value = section;
        else
        if (length == 5 && memcmp (name, "score", 5) == 0) {
            snprintf (number, sizeof number, "%.2f", question->score);
            value = number;
        }
        else
        if (length == 7 && memcmp (name, "element", 7) == 0) {
            if (element)
                value = element;
            else {
                //  A rule without missing_element: every missing element.
                for (size_t m = 0; m < question->missing_count; m++)
                    if ((m && s_append (out, ", ", 2))
                    ||  s_append (out, question->missing [m], strlen (question->missing [m])))
                        return -1;
            }
        }
        if (s_append (out, value, strlen (value)))
            return -1;
        at = close;
    }
    return 0;
}

//  Adds type to the question's missing elements unless there. -1 when
//  out of memory.
static int
s_missing_add (s_question_t *question, const char *type, size_t *capacity)
{
    if (!type || !*type)
        return 0;
    for (size_t m = 0; m < question->missing_count; m++)
        if (strcmp (question->missing [m], type) == 0)
            return 0;
    if (question->missing_count == *capacity) {
        size_t grown_capacity = *capacity? *capacity * 2: 8;
        char **grown = (char **) realloc (question->missing, grown_capacity * sizeof (char *));
        if (!grown)
            return -1;
        question->missing = grown;
        *capacity = grown_capacity;
    }
    char *copy = strdup (type);
    if (!copy)
        return -1;
    question->missing [question->missing_count++] = copy;
    return 0;
}

//  The question's missing elements: the input's missing_elements, then
//  those its outputs name (score.from_input's, text.count_elements').
static int
s_missing_load (fac_context_t *ctx, s_question_t *question)
{
    const fac_input_t *input = question->input;
    size_t capacity = 0;
    for (size_t m = 0; m < input->missing_count; m++)
        if (s_missing_add (question, input->missing_elements [m], &capacity))
            return fac_methods_fail (ctx, S_METHOD, "out of memory");
    if (!*s_str (input->output_json))
        return 0;
    json_error_t error;
    json_t *output = json_loads (input->output_json, 0, &error);
    if (!json_is_object (output)) {
        json_decref (output);
        return fac_methods_fail (ctx, S_METHOD, "input %s: its output is not a JSON object (%s)",
                                 question->id, error.text);
    }
    static const char *const methods [] = { "score.from_input", "text.count_elements", NULL };
    int rc = 0;
    for (size_t k = 0; methods [k] && rc == 0; k++) {
        json_t *list = json_object_get (json_object_get (output, methods [k]), "missing_elements");
        for (size_t m = 0; m < json_array_size (list) && rc == 0; m++)
            if (s_missing_add (question, json_string_value (json_array_get (list, m)), &capacity))
                rc = fac_methods_fail (ctx, S_METHOD, "out of memory");
    }
    json_decref (output);
    return rc;
}

static int
s_fire (fac_context_t *ctx, s_run_t *run, size_t question, size_t rule, const char *element)
{
    if (run->fired_count == run->fired_capacity) {
        size_t capacity = run->fired_capacity? run->fired_capacity * 2: 64;
        s_fired_t *grown = (s_fired_t *) realloc (run->fired, capacity * sizeof (s_fired_t));
        if (!grown)
            return fac_methods_fail (ctx, S_METHOD, "out of memory");
        run->fired = grown;
        run->fired_capacity = capacity;
    }
    run->fired [run->fired_count] = (s_fired_t) {
        question, rule, element, run->fired_count, run->cfg.rules [rule].priority,
        run->questions [question].score
    };
    run->fired_count++;
    run->questions [question].recommended = true;
    return 0;
}

//  Priority (alta first), then score (lowest first), then input order,
//  rule order, and the order the elements fired in.
static int
s_compare_fired (const void *a, const void *b)
{
    const s_fired_t *x = (const s_fired_t *) a, *y = (const s_fired_t *) b;
    if (x->priority != y->priority)
        return x->priority < y->priority? -1: 1;
    if (x->score != y->score)
        return x->score < y->score? -1: 1;
    if (x->question != y->question)
        return x->question < y->question? -1: 1;
    if (x->rule != y->rule)
        return x->rule < y->rule? -1: 1;
    return x->sequence < y->sequence? -1: x->sequence > y->sequence? 1: 0;
}

static void
s_run_free (s_run_t *run)
{
    for (size_t s = 0; s < run->section_count; s++)
        free (run->sections [s].folded);
    free (run->sections);
    json_decref (run->sections_output);
    for (size_t h = 0; h < run->hit_count; h++)
        free (run->hits [h].hits);
    free (run->hits);
    for (size_t q = 0; q < run->question_count; q++) {
        for (size_t m = 0; m < run->questions [q].missing_count; m++)
            free (run->questions [q].missing [m]);
        free (run->questions [q].missing);
    }
    free (run->questions);
    free (run->fired);
    free (run->cfg.rules);
}

//  Fires every rule on every scored question.
static int
s_rules_apply (fac_context_t *ctx, s_run_t *run, size_t *unscored)
{
    const fac_contract_t *contract = ctx->compiled->contract;
    bool needs_missing = false;
    for (size_t r = 0; r < run->cfg.rule_count; r++)
        needs_missing |= run->cfg.rules [r].missing != NULL;
    for (size_t r = 0; r < run->cfg.rule_count; r++)
        needs_missing |= strstr (run->cfg.rules [r].text, "{element}") != NULL;
    *unscored = 0;
    for (size_t i = 0; i < contract->input_count; i++) {
        const char *id = contract->input_contracts [i];
        if (run->cfg.sections_from && strcmp (id, run->cfg.sections_from) == 0)
            continue;
        const fac_input_t *input = s_find_input (ctx, id);
        if (!input || input->status != S_RESULT_OK || !isfinite (input->score)) {
            (*unscored)++;
            continue;
        }
        size_t q = run->question_count++;
        s_question_t *question = &run->questions [q];
        question->input = input;
        question->id = id;
        question->score = input->score;
        question->quality = *s_str (input->quality)? input->quality: fac_quality_level (input->score);
        if (needs_missing && s_missing_load (ctx, question))
            return -1;
        for (size_t r = 0; r < run->cfg.rule_count; r++) {
            const s_rule_t *rule = &run->cfg.rules [r];
            if (rule->qualities) {
                int level = s_index_of (s_qualities, S_QUALITY_COUNT, question->quality);
                if (level < 0 || !(rule->qualities & (1u << level)))
                    continue;
            }
            if (rule->has_max_score && question->score > rule->max_score + 1e-9)
                continue;
            if (!rule->missing) {
                if (s_fire (ctx, run, q, r, NULL))
                    return -1;
                continue;
            }
            for (size_t m = 0; m < question->missing_count; m++)
                if ((strcmp (rule->missing, "*") == 0 || strcmp (rule->missing, question->missing [m]) == 0)
                &&  s_fire (ctx, run, q, r, question->missing [m]))
                    return -1;
        }
    }
    return 0;
}

int
fac_methods_recommend_run (fac_context_t *ctx, const json_t *params)
{
    const fac_contract_t *contract = ctx->compiled->contract;
    s_run_t run;
    memset (&run, 0, sizeof run);
    s_buffer_t text = { NULL, 0, 0 };
    json_t *recommendations = NULL, *by_rule = NULL;
    int rc = -1;
    char reason [256];
    if (s_recommend_parse (params, contract, &run.cfg, reason, sizeof reason)) {
        fac_methods_fail (ctx, S_METHOD, "%s", reason);
        goto done;
    }
    if (run.cfg.sections_from && s_sections_load (ctx, &run))
        goto done;
    size_t key_count = run.cfg.keywords? json_object_size (run.cfg.keywords): 0;
    run.hits = (s_hits_t *) calloc (key_count + 1, sizeof (s_hits_t));
    run.questions = (s_question_t *) calloc (contract->input_count + 1, sizeof (s_question_t));
    recommendations = json_array ();
    by_rule = json_object ();
    if (!run.hits || !run.questions || !recommendations || !by_rule) {
        fac_methods_fail (ctx, S_METHOD, "out of memory");
        goto done;
    }
    size_t unscored;
    if (s_rules_apply (ctx, &run, &unscored))
        goto done;
    if (run.question_count == 0) {
        fac_methods_fail (ctx, S_METHOD, "no input has a score (%zu inputs, none OK)", unscored);
        goto done;
    }
    qsort (run.fired, run.fired_count, sizeof (s_fired_t), s_compare_fired);
    size_t kept = run.fired_count < (size_t) run.cfg.max? run.fired_count: (size_t) run.cfg.max;
    size_t by_priority [S_PRIORITY_COUNT] = { 0, 0, 0 };
    for (size_t f = 0; f < kept; f++) {
        const s_fired_t *fired = &run.fired [f];
        const s_question_t *question = &run.questions [fired->question];
        const s_rule_t *rule = &run.cfg.rules [fired->rule];
        const fac_input_t *input = question->input;
        long best = run.section_count? s_best_section (&run, fired->element, input): -1;
        if (best == -2) {
            fac_methods_fail (ctx, S_METHOD, "out of memory");
            goto done;
        }
        const s_section_t *section = best >= 0? &run.sections [best]: NULL;
        if (s_expand (&text, rule->text, question, fired->element,
                      section? section->title: run.cfg.no_section)) {
            fac_methods_fail (ctx, S_METHOD, "out of memory");
            goto done;
        }
        json_t *where = section? json_pack ("{s:s, s:I}", "title", section->title, "offset", section->offset)
                               : json_null ();
        if (where && section && section->page > 0)
            json_object_set_new (where, "page", json_integer (section->page));
        json_t *item = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:o, s:o, s:s, s:s}",
                                  "rule", rule->id,
                                  "contract", question->id,
                                  "base_question", s_str (input->base_question),
                                  "policy_area", s_str (input->policy_area),
                                  "dimension", s_str (input->dimension),
                                  "score", question->score,
                                  "quality", question->quality,
                                  "element", fired->element? json_string (fired->element): json_null (),
                                  "section", where,
                                  "priority", s_priorities [rule->priority],
                                  "text", text.data);
        if (!item || json_array_append_new (recommendations, item)) {
            fac_methods_fail (ctx, S_METHOD, "out of memory building the output");
            goto done;
        }
        by_priority [rule->priority]++;
    }
    size_t recommended = 0;
    for (size_t q = 0; q < run.question_count; q++)
        recommended += run.questions [q].recommended;
    for (size_t r = 0; r < run.cfg.rule_count; r++) {
        size_t count = 0;
        for (size_t f = 0; f < run.fired_count; f++)
            count += run.fired [f].rule == r;
        json_object_set_new (by_rule, run.cfg.rules [r].id, json_integer ((json_int_t) count));
    }
    ctx->ratio = (double) (run.question_count - recommended) / (double) run.question_count;
    json_t *output = json_pack ("{s:O, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:O}}",
        "recommendations", recommendations,
        "counts",
            "questions", (json_int_t) (run.question_count + unscored),
            "scored", (json_int_t) run.question_count,
            "unscored", (json_int_t) unscored,
            "with_recommendation", (json_int_t) recommended,
            "fired", (json_int_t) run.fired_count,
            "kept", (json_int_t) kept,
            "dropped", (json_int_t) (run.fired_count - kept),
            "sections", (json_int_t) run.section_count,
            "by_priority",
                "alta", (json_int_t) by_priority [0],
                "media", (json_int_t) by_priority [1],
                "baja", (json_int_t) by_priority [2],
            "by_rule", by_rule);
    rc = fac_methods_output_set (ctx, S_METHOD, output);
done:
    free (text.data);
    json_decref (recommendations);
    json_decref (by_rule);
    s_run_free (&run);
    return rc;
}
