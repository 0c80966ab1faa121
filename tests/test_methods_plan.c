/*  The methods of a plan's analysis around the micro questions:
    text.profile (P00), text.sections (P01), score.from_input (P03), the
    dispersion penalty and coherence of aggregate.weighted_mean (P06,
    P07) and recommend.rules (P08). Every formula on hand-computed cases
    (the arithmetic is in the comments), every parameter check, and
    text.sections on a Spanish plan excerpt written for these tests
    (tests/data/plan/plan_es.txt) and on the real plan when
    ../shared/farfan-upstream is there. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fac_method.h"
#include "ff_test.h"

#define S_PYTHON "/usr/bin/python3"
#define S_FIXTURE FF_TEST_SOURCE_ROOT "/tests/data/plan/plan_es.txt"
#define S_PLAN FF_TEST_SOURCE_ROOT "/../shared/farfan-upstream/plans/Plan_1.txt"
#define S_NEAR(a, b) (fabs ((a) - (b)) < 1e-9)

//  ---------------------------------------------------------------------
//  Hand-built contracts (as the parser would build them)

typedef ff_test_pattern_t t_pattern_t;
typedef ff_test_expected_t t_expected_t;
typedef ff_test_contract_spec_t t_spec_t;

//  The contract of spec (title "" unless given), compiled.
static fac_compiled_t *
s_compiled_new (const t_spec_t *spec)
{
    t_spec_t titled = *spec;
    titled.title = spec->title? spec->title: "";
    return ff_test_compile (ff_test_contract_new (&titled));
}

//  A document contract of the given type (no patterns).
static fac_compiled_t *
s_document_contract (const char *id)
{
    t_spec_t spec = { .id = id, .type = "task", .document = true, .modality = "" };
    return s_compiled_new (&spec);
}

//  An aggregation-like contract over inputs.
static fac_compiled_t *
s_inputs_contract (const char *id, const char *type, const char *const *inputs, size_t count)
{
    t_spec_t spec = { .id = id, .type = type, .inputs = inputs, .input_count = count, .modality = "" };
    return s_compiled_new (&spec);
}

static void
s_step_fails (fac_context_t *ctx, const char *method_name, const char *params_json, const char *error)
{
    int rc = ff_test_step (ctx, method_name, params_json);
    cr_assert_eq (rc, -1, "%s %s should fail", method_name, params_json);
    cr_assert (strstr (ctx->error, error), "%s: error \"%s\" lacks \"%s\"", method_name, ctx->error, error);
    cr_assert (strncmp (ctx->error, method_name, strlen (method_name)) == 0, "%s", ctx->error);
}

//  The check refuses params, naming what is wrong.
static void
s_refused (const char *method_name, const fac_contract_t *contract, const char *params_json,
           const char *error)
{
    const fac_method_t *method = fac_method_lookup (method_name);
    cr_assert_not_null (method);
    json_t *params = ff_test_json (params_json);
    char err [256] = "";
    int rc = method->check (params, contract, NULL, err, sizeof err);
    json_decref (params);
    cr_assert_eq (rc, -1, "%s accepted %s", method_name, params_json);
    cr_assert (strstr (err, error), "%s %s: error \"%s\" lacks \"%s\"", method_name, params_json, err, error);
}

static void
s_accepted (const char *method_name, const fac_contract_t *contract, const char *params_json)
{
    const fac_method_t *method = fac_method_lookup (method_name);
    json_t *params = ff_test_json (params_json);
    char err [256] = "";
    int rc = method->check (params, contract, NULL, err, sizeof err);
    json_decref (params);
    cr_assert_eq (rc, 0, "%s refused %s: %s", method_name, params_json, err);
}

static json_int_t
s_int (const json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    cr_assert (json_is_integer (value), "%s is not an integer", key);
    return json_integer_value (value);
}

//  An integer member a test expects.
typedef struct {
    const char *key;
    json_int_t value;
} t_int_t;

//  Asserts the integer members of object (expected ends with { NULL }).
static void
s_assert_ints (const json_t *object, const t_int_t *expected)
{
    for (; expected->key; expected++)
        cr_assert_eq (s_int (object, expected->key), expected->value, "%s: %lld, not %lld",
                      expected->key, (long long) s_int (object, expected->key),
                      (long long) expected->value);
}

static double
s_real (const json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    cr_assert (json_is_number (value), "%s is not a number", key);
    return json_number_value (value);
}

//  len(re.findall(r'\w+', text)) by Debian's python3; -1 when absent.
static long
s_python_words (const char *path)
{
    if (access (S_PYTHON, X_OK) != 0)
        return -1;
    char command [1024];
    snprintf (command, sizeof command, "%s -c \"import re,sys; "
              "print(len(re.findall(r'\\w+', open(sys.argv[1], encoding='utf-8').read())))\" '%s'",
              S_PYTHON, path);
    FILE *pipe = popen (command, "r");
    cr_assert_not_null (pipe);
    long words = -1;
    cr_assert_eq (fscanf (pipe, "%ld", &words), 1);
    cr_assert_eq (pclose (pipe), 0);
    return words;
}

//  ---------------------------------------------------------------------
//  The registry

FF_TEST (methods_plan, registry_has_the_plan_methods)
{
    static const char *const names [] = {
        "text.profile", "text.sections", "score.from_input", "recommend.rules",
    };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        const fac_method_t *method = fac_method_lookup (names [i]);
        cr_assert_not_null (method, "%s", names [i]);
        cr_assert_eq (method->kind, FAC_METHOD_CPU);
        cr_assert_not_null (method->check);
        cr_assert_not_null (method->run);
        cr_assert_gt (strlen (method->summary), 10);
    }
    //  The folding the section lookup relies on.
    char out [64];
    size_t length = fac_text_fold ("DIAGNÓSTICO Niñez ÜÑÇ Æ", strlen ("DIAGNÓSTICO Niñez ÜÑÇ Æ"), out);
    cr_assert_eq (length, strlen ("diagnostico ninez unc æ"));
    cr_assert (memcmp (out, "diagnostico ninez unc æ", length) == 0, "%.*s", (int) length, out);
}

//  ---------------------------------------------------------------------
//  text.profile

FF_TEST (methods_plan, profile_counts_on_a_hand_counted_text)
{
    //  "El plan de la ciudad" 20 bytes + \n = 21; "Tiene 12 metas." 15
    //  = 36; \f = 37; "Página 2" 9 (á is 2 bytes) = 46; \f = 47; \n = 48.
    //  Lines: 2 newlines, the text ends with one: 2. Words: El plan de la
    //  ciudad Tiene 12 metas Página 2 = 10, of which el de la are common
    //  Spanish words: 3 / 10 = 0.3. Digits 1 2 2 = 3. Form feeds 2; only
    //  a newline after the last one: pages = 2 + 1 - 1 = 2.
    const char *text = "El plan de la ciudad\nTiene 12 metas.\fPágina 2\f\n";
    cr_assert_eq (strlen (text), 48);
    fac_compiled_t *compiled = s_document_contract ("VALIDATE_DOCUMENT");
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_context_init (&ctx, compiled, text, strlen (text), NULL, 0, request);
    ff_test_step_ok (&ctx, "text.profile", "{\"min_bytes\": 48, \"min_words\": 10}");
    json_t *profile = ff_test_output (&ctx, "text.profile");
    s_assert_ints (profile, (const t_int_t []) {
        { "bytes", 48 }, { "lines", 2 }, { "words", 10 }, { "pages", 2 }, { "form_feeds", 2 },
        { "digits", 3 }, { "spanish_words", 3 }, { "replacement_chars", 0 }, { "min_bytes", 48 },
        { NULL, 0 } });
    cr_assert (S_NEAR (s_real (profile, "spanish_ratio"), 0.3));
    cr_assert_eq (json_array_size (json_object_get (profile, "warnings")), 0);
    //  OK with ratio 1 and no score.
    cr_assert (S_NEAR (ctx.ratio, 1.0));
    cr_assert (isnan (ctx.score));
    cr_assert_null (ctx.quality);
    fac_context_fini (&ctx);

    //  Below either minimum: fails, the profile kept in the output.
    fac_context_init (&ctx, compiled, text, strlen (text), NULL, 0, request);
    s_step_fails (&ctx, "text.profile", "{}", "document too short: 48 bytes < 1000");
    cr_assert_eq (s_int (ff_test_output (&ctx, "text.profile"), "words"), 10);
    fac_context_fini (&ctx);
    fac_context_init (&ctx, compiled, text, strlen (text), NULL, 0, request);
    s_step_fails (&ctx, "text.profile", "{\"min_bytes\": 10, \"min_words\": 11}",
                  "document too short: 10 words < 11");
    fac_context_fini (&ctx);
    //  The default minimum of words: 200.
    fac_context_init (&ctx, compiled, text, strlen (text), NULL, 0, request);
    s_step_fails (&ctx, "text.profile", "{\"min_bytes\": 0}", "document too short: 10 words < 200");
    fac_context_fini (&ctx);

    //  Pages without a final form feed: form feeds + 1; the empty text has
    //  none and no lines.
    fac_context_init (&ctx, compiled, "a\fb\fc", 5, NULL, 0, request);
    ff_test_step_ok (&ctx, "text.profile", "{\"min_bytes\": 0, \"min_words\": 0}");
    cr_assert_eq (s_int (ff_test_output (&ctx, "text.profile"), "pages"), 3);
    cr_assert_eq (s_int (ff_test_output (&ctx, "text.profile"), "lines"), 1);
    fac_context_fini (&ctx);
    fac_context_init (&ctx, compiled, "", 0, NULL, 0, request);
    ff_test_step_ok (&ctx, "text.profile", "{\"min_bytes\": 0, \"min_words\": 0}");
    cr_assert_eq (s_int (ff_test_output (&ctx, "text.profile"), "pages"), 0);
    cr_assert_eq (s_int (ff_test_output (&ctx, "text.profile"), "lines"), 0);
    cr_assert (S_NEAR (s_real (ff_test_output (&ctx, "text.profile"), "spanish_ratio"), 0));
    fac_context_fini (&ctx);

    //  No document: a clear failure.
    fac_context_init (&ctx, compiled, NULL, 0, NULL, 0, request);
    s_step_fails (&ctx, "text.profile", "{}", "no document");
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, profile_warns_on_text_that_is_not_a_plan)
{
    fac_compiled_t *compiled = s_document_contract ("VALIDATE_DOCUMENT");
    json_t *request = json_object ();
    fac_context_t ctx;
    //  English, one U+FFFD, no form feed: three warnings. Words: The plan
    //  of the city has twelve goals and the budget is large = 13, none a
    //  Spanish stop word; U+FFFD is no word character.
    const char *english = "The plan of the city has twelve goals \xEF\xBF\xBD and the budget is large";
    fac_context_init (&ctx, compiled, english, strlen (english), NULL, 0, request);
    ff_test_step_ok (&ctx, "text.profile", "{\"min_bytes\": 0, \"min_words\": 0}");
    json_t *profile = ff_test_output (&ctx, "text.profile");
    cr_assert_eq (s_int (profile, "words"), 13);
    cr_assert_eq (s_int (profile, "replacement_chars"), 1);
    json_t *warnings = json_object_get (profile, "warnings");
    cr_assert_eq (json_array_size (warnings), 3);
    cr_assert (strstr (json_string_value (json_array_get (warnings, 0)), "does not look Spanish: 0.0%"));
    cr_assert (strstr (json_string_value (json_array_get (warnings, 1)), "1 replacement characters"));
    cr_assert (strstr (json_string_value (json_array_get (warnings, 2)), "no page breaks"));
    fac_context_fini (&ctx);

    //  Upper case and accents: MÁS También SEGÚN está Está are all common
    //  Spanish words (5 / 5); min_spanish_ratio moves the warning.
    const char *upper = "MÁS También SEGÚN está Está\f";
    fac_context_init (&ctx, compiled, upper, strlen (upper), NULL, 0, request);
    ff_test_step_ok (&ctx, "text.profile", "{\"min_bytes\": 0, \"min_words\": 0, \"min_spanish_ratio\": 1}");
    profile = ff_test_output (&ctx, "text.profile");
    cr_assert_eq (s_int (profile, "spanish_words"), 5);
    cr_assert (S_NEAR (s_real (profile, "spanish_ratio"), 1.0));
    cr_assert_eq (json_array_size (json_object_get (profile, "warnings")), 0);
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, profile_words_agree_with_python)
{
    size_t size;
    char *text = ff_test_read_file (S_FIXTURE, &size);
    cr_assert_not_null (text);
    fac_compiled_t *compiled = s_document_contract ("VALIDATE_DOCUMENT");
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_context_init (&ctx, compiled, text, size, NULL, 0, request);
    ff_test_step_ok (&ctx, "text.profile", "{}");
    json_t *profile = ff_test_output (&ctx, "text.profile");
    //  The fixture: four pages, each ended by a form feed; 83 newlines + the
    //  last line (after the last form feed there is nothing).
    cr_assert_eq (s_int (profile, "pages"), 4);
    cr_assert_eq (s_int (profile, "bytes"), (json_int_t) size);
    long python = s_python_words (S_FIXTURE);
    if (python >= 0)
        cr_assert_eq (s_int (profile, "words"), python);
    cr_assert_gt (s_real (profile, "spanish_ratio"), 0.25);
    fac_context_fini (&ctx);
    free (text);

    text = ff_test_read_file (S_PLAN, &size);
    if (!text) {
        json_decref (request);
        ff_test_compiled_free (compiled);
        cr_skip_test ("%s absent: the real plan's profile not checked", S_PLAN);
    }
    fac_context_init (&ctx, compiled, text, size, NULL, 0, request);
    ff_test_step_ok (&ctx, "text.profile", "{}");
    profile = ff_test_output (&ctx, "text.profile");
    //  Plan_1.pdf has 78 pages; pdftotext ends each with a form feed.
    cr_assert_eq (s_int (profile, "pages"), 78);
    python = s_python_words (S_PLAN);
    if (python >= 0)
        cr_assert_eq (s_int (profile, "words"), python);
    cr_assert_eq (json_array_size (json_object_get (profile, "warnings")), 0);
    fac_context_fini (&ctx);
    free (text);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, profile_checks)
{
    fac_compiled_t *compiled = s_document_contract ("VALIDATE_DOCUMENT");
    const fac_contract_t *contract = compiled->contract;
    s_accepted ("text.profile", contract, "{}");
    s_accepted ("text.profile", contract, "{\"min_bytes\": 0, \"min_words\": 5000, \"min_spanish_ratio\": 0}");
    s_refused ("text.profile", contract, "[]", "params: text.profile takes an object");
    s_refused ("text.profile", contract, "{\"min_word\": 1}", "params.min_word: unknown parameter");
    s_refused ("text.profile", contract, "{\"min_bytes\": -1}", "params.min_bytes: -1 is out of range");
    s_refused ("text.profile", contract, "{\"min_words\": \"200\"}", "params.min_words: must be an integer");
    s_refused ("text.profile", contract, "{\"min_words\": 2.5}", "params.min_words: must be an integer");
    s_refused ("text.profile", contract, "{\"min_spanish_ratio\": 1.5}", "params.min_spanish_ratio: 1.5 is out of range");
    ff_test_compiled_free (compiled);
}

//  ---------------------------------------------------------------------
//  text.sections

//  Runs text.sections over text; the output (borrowed from ctx).
static json_t *
s_sections (fac_context_t *ctx, fac_compiled_t *compiled, json_t *request, const char *text,
            size_t size, const char *params)
{
    fac_context_init (ctx, compiled, text, size, NULL, 0, request);
    ff_test_step_ok (ctx, "text.sections", params);
    return ff_test_output (ctx, "text.sections");
}

//  Offset of the start of the line holding text + at.
static size_t
s_line_start (const char *text, size_t at)
{
    while (at > 0 && text [at - 1] != '\n' && text [at - 1] != '\f')
        at--;
    return at;
}

//  True when the line starting at p is non-blank and follows a blank line
//  or a page break: where a chunk prefers to start.
static bool
s_paragraph_start (const char *text, size_t size, size_t p)
{
    if (p == 0 || p >= size || (text [p - 1] != '\n' && text [p - 1] != '\f'))
        return false;
    size_t end = p;
    while (end < size && text [end] != '\n' && text [end] != '\f')
        end++;
    bool blank = true;
    for (size_t i = p; i < end && blank; i++)
        blank = text [i] == ' ' || text [i] == '\t' || text [i] == '\r';
    if (blank)
        return false;
    if (text [p - 1] == '\f')
        return true;
    size_t previous = s_line_start (text, p - 1);
    for (size_t i = previous; i < p - 1; i++)
        if (text [i] != ' ' && text [i] != '\t' && text [i] != '\r')
            return false;
    return true;
}

//  Every invariant of text.sections' output over text: sections in order,
//  contiguous from 0 to the end (covering, not overlapping), levels 0..9,
//  pages = 1 + form feeds before the offset, a titled section starting at
//  a line whose text begins with the title's first word; chunks
//  contiguous, inside their section, at most chunk_bytes, cut at the
//  preferred place (the last paragraph start within chunk_bytes, else the
//  last line start, else a character boundary).
static void
s_assert_covering (const char *text, size_t size, const json_t *output)
{
    json_t *sections = json_object_get (output, "sections");
    json_t *chunks = json_object_get (output, "chunks");
    size_t chunk_bytes = (size_t) s_int (output, "chunk_bytes");
    cr_assert (json_is_array (sections) && json_is_array (chunks));
    size_t expected = 0, form_feeds = 0, counted_to = 0;
    for (size_t k = 0; k < json_array_size (sections); k++) {
        json_t *section = json_array_get (sections, k);
        size_t offset = (size_t) s_int (section, "offset");
        size_t length = (size_t) s_int (section, "length");
        json_int_t level = s_int (section, "level");
        const char *title = json_string_value (json_object_get (section, "title"));
        cr_assert_not_null (title);
        cr_assert_eq (offset, expected, "section %zu starts at %zu, not %zu", k, offset, expected);
        cr_assert (length > 0 && offset + length <= size, "section %zu: %zu + %zu", k, offset, length);
        cr_assert (level >= 0 && level <= 9);
        cr_assert_eq (level == 0, *title == '\0', "section %zu: level %lld, title \"%s\"", k,
                      (long long) level, title);
        while (counted_to < offset)
            form_feeds += text [counted_to++] == '\f';
        if (*title) {
            cr_assert_eq (s_int (section, "page"), (json_int_t) form_feeds + 1, "section %zu (%s)", k, title);
            cr_assert (k == 0 || text [offset - 1] == '\n' || text [offset - 1] == '\f',
                       "section %zu (%s) does not start a line", k, title);
            //  The title's first word is where the section starts.
            size_t at = offset;
            while (at < size && (text [at] == ' ' || text [at] == '\t' || text [at] == '\n'
                                 || text [at] == '\f'))
                at++;
            size_t word = strcspn (title, " ");
            cr_assert (strncmp (text + at, title, word) == 0, "section %zu: \"%s\" is not at %zu", k,
                       title, offset);
            //  Titles: collapsed whitespace, no line breaks.
            cr_assert_null (strstr (title, "  "));
            cr_assert_null (strchr (title, '\n'));
            cr_assert (strlen (title) <= 200);
        }
        expected = offset + length;
    }
    cr_assert_eq (expected, size, "sections end at %zu, the text at %zu", expected, size);

    expected = 0;
    for (size_t c = 0; c < json_array_size (chunks); c++) {
        json_t *chunk = json_array_get (chunks, c);
        size_t offset = (size_t) s_int (chunk, "offset");
        size_t length = (size_t) s_int (chunk, "length");
        size_t index = (size_t) s_int (chunk, "section");
        cr_assert_eq (offset, expected, "chunk %zu starts at %zu, not %zu", c, offset, expected);
        cr_assert (length > 0 && length <= chunk_bytes, "chunk %zu: %zu bytes", c, length);
        json_t *section = json_array_get (sections, index);
        cr_assert_not_null (section);
        size_t start = (size_t) s_int (section, "offset");
        size_t end = start + (size_t) s_int (section, "length");
        cr_assert (offset >= start && offset + length <= end, "chunk %zu outside section %zu", c, index);
        size_t cut = offset + length;
        //  Never inside a UTF-8 sequence.
        cr_assert (cut == size || ((unsigned char) text [cut] & 0xC0) != 0x80);
        if (cut < end) {
            size_t limit = offset + chunk_bytes;
            bool paragraph = false, line = false;
            for (size_t p = offset + 1; p <= limit && p < end; p++) {
                paragraph |= s_paragraph_start (text, size, p);
                line |= text [p - 1] == '\n' || text [p - 1] == '\f';
            }
            if (paragraph) {
                cr_assert (s_paragraph_start (text, size, cut), "chunk %zu: cut at %zu is no paragraph start", c, cut);
                for (size_t p = cut + 1; p <= limit; p++)
                    cr_assert (!s_paragraph_start (text, size, p), "chunk %zu: a later paragraph at %zu", c, p);
            }
            else
            if (line) {
                cr_assert (text [cut - 1] == '\n' || text [cut - 1] == '\f', "chunk %zu: cut at %zu", c, cut);
                for (size_t p = cut + 1; p <= limit; p++)
                    cr_assert (text [p - 1] != '\n' && text [p - 1] != '\f', "chunk %zu: later line at %zu", c, p);
            }
            else
                cr_assert_eq (cut + 4 > limit, true, "chunk %zu: a hard cut at %zu, limit %zu", c, cut, limit);
        }
        expected = offset + length;
    }
    cr_assert_eq (expected, size);
}

//  True when title is the text at offset (leading whitespace skipped),
//  every run of whitespace there (line breaks too) read as one space.
static bool
s_title_at (const char *text, size_t size, size_t offset, const char *title)
{
    size_t at = offset;
    while (at < size && strchr (" \t\r\n\f", text [at]))
        at++;
    for (const char *t = title; *t; t++) {
        if (at >= size)
            return false;
        if (*t == ' ') {
            if (!strchr (" \t\r\n\f", text [at]))
                return false;
            while (at < size && strchr (" \t\r\n\f", text [at]))
                at++;
        }
        else
        if (text [at++] != *t)
            return false;
    }
    return true;
}

//  The section with this title (the first); NULL when none.
static json_t *
s_section_titled (const json_t *output, const char *title)
{
    json_t *sections = json_object_get (output, "sections");
    for (size_t k = 0; k < json_array_size (sections); k++) {
        json_t *section = json_array_get (sections, k);
        if (strcmp (json_string_value (json_object_get (section, "title")), title) == 0)
            return section;
    }
    return NULL;
}

FF_TEST (methods_plan, sections_of_the_spanish_fixture)
{
    size_t size;
    char *text = ff_test_read_file (S_FIXTURE, &size);
    cr_assert_not_null (text);
    fac_compiled_t *compiled = s_document_contract ("INGEST");
    json_t *request = json_object ();
    fac_context_t ctx;
    json_t *output = s_sections (&ctx, compiled, request, text, size, "{}");

    //  Every heading of the excerpt, in order, with its level; the page
    //  header (two lines on every page) and the "Página N de 4" footers
    //  are no headings, nor the table of indicators, the numbered list
    //  (mixed case), or the sentences.
    static const struct {
        const char *title;
        int level;
        int page;
    } expected [] = {
        { "", 0, 1 },
        { "PRESENTACIÓN", 4, 1 },
        { "CAPÍTULO 1. DIAGNÓSTICO GENERAL", 1, 1 },
        { "1.1 Población y territorio", 3, 1 },
        { "1.2 Salud", 3, 1 },
        { "1.3 Derechos de las mujeres y equidad de género", 3, 2 },
        { "CAPÍTULO 2. PARTE ESTRATÉGICA", 1, 2 },
        { "EJE ESTRATÉGICO 1: SAN ISIDRO SOCIAL E INCLUYENTE", 2, 2 },
        { "PROGRAMA 1.1 EDUCACIÓN DE CALIDAD PARA TODOS", 3, 3 },
        { "METAS E INDICADORES", 4, 3 },
        { "PROGRAMA 1.2 SALUD CERCANA", 3, 3 },
        { "LÍNEA ESTRATÉGICA 2. ECONOMÍA CAMPESINA Y EMPLEO", 2, 3 },
        { "CAPÍTULO 3. PLAN PLURIANUAL DE INVERSIONES", 1, 4 },
        { "3.1 Fuentes de financiación", 3, 4 },
    };
    size_t count = sizeof expected / sizeof expected [0];
    json_t *sections = json_object_get (output, "sections");
    cr_assert_eq (json_array_size (sections), count);
    for (size_t k = 0; k < count; k++) {
        json_t *section = json_array_get (sections, k);
        cr_assert_str_eq (json_string_value (json_object_get (section, "title")), expected [k].title);
        cr_assert_eq (s_int (section, "level"), expected [k].level, "%s", expected [k].title);
        cr_assert_eq (s_int (section, "page"), expected [k].page, "%s", expected [k].title);
        //  Its offset: the start of the heading's line in the file.
        if (k > 0) {
            const char *found = strstr (text, expected [k].title);
            cr_assert_not_null (found, "%s", expected [k].title);
            cr_assert_eq (s_int (section, "offset"), (json_int_t) s_line_start (text, (size_t) (found - text)),
                          "%s", expected [k].title);
        }
    }
    s_assert_covering (text, size, output);
    cr_assert_eq (s_int (output, "headings"), (json_int_t) count - 1);
    cr_assert_eq (s_int (output, "sections_dropped"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (output, "rules")), "default");
    //  Running lines: the two header lines (on all four pages).
    json_t *running = json_object_get (output, "running_lines");
    cr_assert_eq (s_int (output, "running_count"), 2);
    cr_assert_eq (json_array_size (running), 2);
    bool municipality = false, plan = false;
    for (size_t r = 0; r < 2; r++) {
        const char *line = json_string_value (json_array_get (running, r));
        municipality |= strcmp (line, "MUNICIPIO DE SAN ISIDRO DEL RÍO") == 0;
        plan |= strcmp (line, "PLAN DE DESARROLLO MUNICIPAL 2024 – 2027") == 0;
    }
    cr_assert (municipality && plan);
    //  What a normaliser would change: 4 form feeds, "acue-\nducto".
    json_t *normalization = json_object_get (output, "normalization");
    cr_assert_eq (s_int (normalization, "form_feeds"), 4);
    cr_assert_eq (s_int (normalization, "hyphenated_breaks"), 1);
    cr_assert_eq (s_int (normalization, "control_chars"), 0);
    cr_assert_gt (s_int (normalization, "whitespace_runs"), 10);
    fac_context_fini (&ctx);

    //  Small chunks: still covering, cut at paragraphs or lines.
    output = s_sections (&ctx, compiled, request, text, size, "{\"chunk_bytes\": 200}");
    cr_assert_gt (json_array_size (json_object_get (output, "chunks")), size / 200);
    s_assert_covering (text, size, output);
    fac_context_fini (&ctx);

    //  max_sections: the first three, the last reaching the end; the
    //  other 11 headings counted as dropped.
    output = s_sections (&ctx, compiled, request, text, size, "{\"max_sections\": 3}");
    cr_assert_eq (json_array_size (json_object_get (output, "sections")), 3);
    cr_assert_eq (s_int (output, "sections_dropped"), 11);
    cr_assert_eq (s_int (output, "headings"), 2);
    s_assert_covering (text, size, output);
    fac_context_fini (&ctx);

    //  heading_patterns replace the default rules; running lines and page
    //  numbers still never become headings.
    output = s_sections (&ctx, compiled, request, text, size,
        "{\"heading_patterns\": [{\"regex\": \"^CAPÍTULO \\\\d+\\\\.\", \"level\": 1},"
        " {\"regex\": \"^\\\\d+\\\\.\\\\d+ \", \"level\": 2},"
        " {\"regex\": \"^MUNICIPIO|^Página\", \"level\": 5}]}");
    static const char *const custom [] = {
        "", "CAPÍTULO 1. DIAGNÓSTICO GENERAL", "1.1 Población y territorio", "1.2 Salud",
        "1.3 Derechos de las mujeres y equidad de género", "CAPÍTULO 2. PARTE ESTRATÉGICA",
        "CAPÍTULO 3. PLAN PLURIANUAL DE INVERSIONES", "3.1 Fuentes de financiación",
    };
    sections = json_object_get (output, "sections");
    cr_assert_eq (json_array_size (sections), sizeof custom / sizeof custom [0]);
    for (size_t k = 0; k < json_array_size (sections); k++) {
        json_t *section = json_array_get (sections, k);
        cr_assert_str_eq (json_string_value (json_object_get (section, "title")), custom [k]);
        cr_assert_eq (s_int (section, "level"), k == 0? 0: custom [k][0] == 'C'? 1: 2);
    }
    cr_assert_str_eq (json_string_value (json_object_get (output, "rules")), "heading_patterns");
    s_assert_covering (text, size, output);
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
    free (text);
}

FF_TEST (methods_plan, sections_rules_on_single_lines)
{
    fac_compiled_t *compiled = s_document_contract ("INGEST");
    json_t *request = json_object ();
    fac_context_t ctx;
    //  Each case: a text, and the headings expected in it (title, level).
    static const struct {
        const char *text;
        const char *titles [4];
        int levels [4];
    } cases [] = {
        //  Leading blank lines belong to the first section.
        { "\n\n   CAPÍTULO 1. INTRODUCCIÓN\ntexto del capítulo.\n",
          { "CAPÍTULO 1. INTRODUCCIÓN" }, { 1 } },
        //  A title broken over lines; the continuation ends at a blank line.
        { "TITULO I\n  VALORES Y\n  PRINCIPIOS DEL PLAN\n\nEl texto.\n",
          { "TITULO I VALORES Y PRINCIPIOS DEL PLAN" }, { 1 } },
        //  A label ending in ':' starts its own section.
        { "Articulo 26. TIMBIQUI EDUCADOR\nOBJETIVO:\nGarantizar el acceso.\n",
          { "Articulo 26. TIMBIQUI EDUCADOR", "OBJETIVO:" }, { 2, 4 } },
        //  Ordinal parts, roman numerals, numbered depth, keywords in mixed case.
        { "PRIMERA PARTE\nIV. PLAN DE INVERSIONES\n1.2.3 Subtema del plan\nLínea estratégica 3: Paz\n",
          { "PRIMERA PARTE", "IV. PLAN DE INVERSIONES", "1.2.3 Subtema del plan", "Línea estratégica 3: Paz" },
          { 1, 2, 4, 2 } },
        //  "1. TITLE" in upper case is a heading; "1. Sentence" a list item;
        //  "12 NAME" without its dot a table row; a cut phrase ("... DE"),
        //  a table ("META   INDICADOR"), a quote, a lower-case start and
        //  "Programas, ..." are none.
        { "1. DIAGNÓSTICO DEL SECTOR\n1. Garantizar la atención.\n12 VEREDA EL PARAÍSO\n"
          "CONSTRUCCIÓN DE\nMETA      INDICADOR\n“TODOS UNIDOS POR EL PLAN”\n"
          "capítulo 2 algo\nProgramas, proyectos y metas\n",
          { "1. DIAGNÓSTICO DEL SECTOR" }, { 2 } },
        //  Single upper-case words: known ones only.
        { "CONSIDERANDO\nque el plan.\nTIMBIQUI\nDIAGNÓSTICO\n",
          { "CONSIDERANDO", "DIAGNÓSTICO" }, { 4, 3 } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        const char *text = cases [c].text;
        json_t *output = s_sections (&ctx, compiled, request, text, strlen (text), "{}");
        s_assert_covering (text, strlen (text), output);
        json_t *sections = json_object_get (output, "sections");
        size_t expected = 0;
        while (expected < 4 && cases [c].titles [expected])
            expected++;
        //  An untitled first section when text precedes the first heading.
        size_t first = 0;
        json_t *head = json_array_get (sections, 0);
        if (head && *json_string_value (json_object_get (head, "title")) == '\0')
            first = 1;
        cr_assert_eq (json_array_size (sections) - first, expected, "case %zu: %zu sections", c,
                      json_array_size (sections));
        for (size_t k = 0; k < expected; k++) {
            json_t *section = json_array_get (sections, first + k);
            cr_assert_str_eq (json_string_value (json_object_get (section, "title")), cases [c].titles [k],
                              "case %zu", c);
            cr_assert_eq (s_int (section, "level"), cases [c].levels [k], "case %zu: %s", c,
                          cases [c].titles [k]);
        }
        fac_context_fini (&ctx);
    }
    //  The first case's heading is not at byte 0, but the blank text
    //  before it joins its section.
    json_t *output = s_sections (&ctx, compiled, request, cases [0].text, strlen (cases [0].text), "{}");
    cr_assert_eq (s_int (json_array_get (json_object_get (output, "sections"), 0), "offset"), 0);
    fac_context_fini (&ctx);

    //  No heading: one untitled section; the empty text: none.
    output = s_sections (&ctx, compiled, request, "hola mundo\n", 11, "{}");
    cr_assert_eq (json_array_size (json_object_get (output, "sections")), 1);
    cr_assert_eq (s_int (json_array_get (json_object_get (output, "sections"), 0), "length"), 11);
    cr_assert_eq (json_array_size (json_object_get (output, "chunks")), 1);
    fac_context_fini (&ctx);
    output = s_sections (&ctx, compiled, request, "", 0, "{}");
    cr_assert_eq (json_array_size (json_object_get (output, "sections")), 0);
    cr_assert_eq (json_array_size (json_object_get (output, "chunks")), 0);
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, sections_chunks_and_normalization_counts)
{
    fac_compiled_t *compiled = s_document_contract ("INGEST");
    json_t *request = json_object ();
    fac_context_t ctx;
    //  "CAPÍTULO 1. A\n" is 15 bytes (Í is 2), then 300 × "ñ" (600 bytes)
    //  with no line break: chunks [0, 15) (the line start), then hard cuts
    //  on character boundaries: [15, 215), [215, 415), [415, 615).
    char text [700];
    size_t size = (size_t) snprintf (text, sizeof text, "CAPÍTULO 1. A\n");
    cr_assert_eq (size, 15);
    for (int i = 0; i < 300; i++) {
        text [size++] = (char) 0xC3;
        text [size++] = (char) 0xB1;
    }
    text [size] = '\0';
    json_t *output = s_sections (&ctx, compiled, request, text, size, "{\"chunk_bytes\": 200}");
    json_t *chunks = json_object_get (output, "chunks");
    static const size_t offsets [] = { 0, 15, 215, 415 };
    cr_assert_eq (json_array_size (chunks), 4);
    for (size_t c = 0; c < 4; c++) {
        cr_assert_eq (s_int (json_array_get (chunks, c), "offset"), (json_int_t) offsets [c]);
        cr_assert_eq (s_int (json_array_get (chunks, c), "section"), 0);
    }
    s_assert_covering (text, size, output);
    fac_context_fini (&ctx);

    //  Control characters: U+0001, U+007F, U+0085 (C2 85) = 3; runs of 2+
    //  horizontal spaces: "x  y", "y\t\tz", the 3 spaces after the newline
    //  = 3; one hyphenated break ("desarro-\n   llo"); one form feed.
    const char *messy = "a\x01" "b\x7f \xC2\x85 x  y\t\tz desarro-\n   llo\f";
    output = s_sections (&ctx, compiled, request, messy, strlen (messy), "{}");
    json_t *normalization = json_object_get (output, "normalization");
    cr_assert_eq (s_int (normalization, "control_chars"), 3);
    cr_assert_eq (s_int (normalization, "whitespace_runs"), 3);
    cr_assert_eq (s_int (normalization, "hyphenated_breaks"), 1);
    cr_assert_eq (s_int (normalization, "form_feeds"), 1);
    fac_context_fini (&ctx);
    //  A digit before the hyphen or an upper-case letter after it is no
    //  broken word ("2012-\n2015", "Norte-\nSur").
    const char *ranges = "en 2012-\n2015 y Norte-\nSur\n";
    output = s_sections (&ctx, compiled, request, ranges, strlen (ranges), "{}");
    cr_assert_eq (s_int (json_object_get (output, "normalization"), "hyphenated_breaks"), 0);
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, sections_checks)
{
    fac_compiled_t *compiled = s_document_contract ("INGEST");
    const fac_contract_t *contract = compiled->contract;
    s_accepted ("text.sections", contract, "{}");
    s_accepted ("text.sections", contract, "{\"max_sections\": 1, \"chunk_bytes\": 200, "
                "\"heading_patterns\": [{\"regex\": \"^(?i)cap[ií]tulo\", \"level\": 9}]}");
    s_refused ("text.sections", contract, "{\"chunks\": 1}", "params.chunks: unknown parameter");
    s_refused ("text.sections", contract, "{\"max_sections\": 0}", "params.max_sections: 0 is out of range");
    s_refused ("text.sections", contract, "{\"chunk_bytes\": 10}", "params.chunk_bytes: 10 is out of range");
    s_refused ("text.sections", contract, "{\"heading_patterns\": []}", "params.heading_patterns: must be an array");
    s_refused ("text.sections", contract, "{\"heading_patterns\": {}}", "params.heading_patterns: must be an array");
    s_refused ("text.sections", contract, "{\"heading_patterns\": [\"^X\"]}",
               "params.heading_patterns[0]: must be an object");
    s_refused ("text.sections", contract, "{\"heading_patterns\": [{\"regex\": \"(\", \"level\": 1}]}",
               "params.heading_patterns[0].regex: missing closing parenthesis at offset 1");
    s_refused ("text.sections", contract, "{\"heading_patterns\": [{\"regex\": \"\", \"level\": 1}]}",
               "params.heading_patterns[0].regex: must be a non-empty string");
    s_refused ("text.sections", contract, "{\"heading_patterns\": [{\"regex\": \"X\", \"level\": 1}, "
               "{\"regex\": \"Y\", \"level\": 0}]}", "params.heading_patterns[1].level: must be an integer in 1..9");
    s_refused ("text.sections", contract, "{\"heading_patterns\": [{\"regex\": \"X\"}]}",
               "params.heading_patterns[0].level");
    s_refused ("text.sections", contract, "{\"heading_patterns\": [{\"regex\": \"X\", \"level\": 1, \"flags\": 1}]}",
               "params.heading_patterns[0].flags: unknown key");
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, sections_of_the_real_plan)
{
    size_t size;
    char *text = ff_test_read_file (S_PLAN, &size);
    if (!text)
        cr_skip_test ("%s absent: text.sections on the real plan not checked", S_PLAN);
    fac_compiled_t *compiled = s_document_contract ("INGEST");
    json_t *request = json_object ();
    fac_context_t ctx;
    json_t *output = s_sections (&ctx, compiled, request, text, size, "{}");
    s_assert_covering (text, size, output);
    json_t *sections = json_object_get (output, "sections");
    cr_assert_gt (json_array_size (sections), 100);
    cr_assert_eq (s_int (output, "sections_dropped"), 0);

    //  Headings read in the text (pdftotext -layout of Plan_1.pdf): title,
    //  level, page (form feeds before + 1).
    static const struct {
        const char *title;
        int level;
        int page;
    } headings [] = {
        { "PRIMERA PARTE", 1, 5 },
        { "Articulo 2 VALORES Y PRINCIPIOS", 2, 5 },
        { "Articulo 10. OBJETIVOS DEL MILENIO", 2, 10 },
        { "TITULO II DIAGNOSTICO GENERAL –SÍNTESIS,", 1, 18 },
        { "Articulo 22. División Territorial:", 2, 19 },
        { "TITULO III EJES ESTRATÉGICOS", 1, 27 },
        { "EJE ECONÓMICO TIMBIQUI EMPRENDEDOR Y SOLIDARIO", 2, 27 },
        { "Articulo 24. EJES ESTRATEGICOS", 2, 27 },
        { "Articulo 27. TIMBIQUI SALUDABLE", 2, 37 },
        { "SALUD PÚBLICA", 4, 39 },
        { "SEGUNDA PARTE", 1, 67 },
        { "PROGRAMA DE FINANCIACIÓN DEL PLAN", 3, 67 },
        { "Articulo 55. VIGENCIA.", 2, 78 },
    };
    for (size_t h = 0; h < sizeof headings / sizeof headings [0]; h++) {
        json_t *section = s_section_titled (output, headings [h].title);
        cr_assert_not_null (section, "no section \"%s\"", headings [h].title);
        cr_assert_eq (s_int (section, "level"), headings [h].level, "%s", headings [h].title);
        cr_assert_eq (s_int (section, "page"), headings [h].page, "%s", headings [h].title);
        cr_assert (s_title_at (text, size, (size_t) s_int (section, "offset"), headings [h].title),
                   "\"%s\" is not the text at its offset", headings [h].title);
    }
    //  "METAS E INDICADORES" heads a part of most sectors.
    size_t metas = 0;
    for (size_t k = 0; k < json_array_size (sections); k++)
        metas += strcmp (json_string_value (json_object_get (json_array_get (sections, k), "title")),
                         "METAS E INDICADORES") == 0;
    cr_assert_geq (metas, 20);
    //  The running header of every page is never a section.
    json_t *running = json_object_get (output, "running_lines");
    static const char *const page_header [] = {
        "REPUBLICA DE COLOMBIA", "DEPARTAMENTO DEL CAUCA", "MUNICIPIO DE TIMBIQUI", "NIT. 800051167-1",
    };
    for (size_t r = 0; r < 4; r++) {
        bool listed = false;
        for (size_t i = 0; i < json_array_size (running); i++)
            listed |= strcmp (json_string_value (json_array_get (running, i)), page_header [r]) == 0;
        cr_assert (listed, "%s not a running line", page_header [r]);
        cr_assert_null (s_section_titled (output, page_header [r]));
    }
    cr_assert_eq (s_int (json_object_get (output, "normalization"), "form_feeds"), 78);
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
    free (text);
}

//  ---------------------------------------------------------------------
//  score.from_input

//  The micro contract Q001_PA01 and what its result carries as an input
//  of a scoring contract (as the factory packs it and the orchestrator
//  forwards it): status, score, ratio, evidence with quoted matches,
//  outputs, identity.
typedef struct {
    fac_input_t input;
    fac_input_evidence_t *evidence;
    fac_input_match_t *matches;
    char **texts;
    size_t text_count;
    char *output_json;
} t_result_t;

static void
s_result_from (t_result_t *result, const fac_context_t *ctx, const char *text)
{
    memset (result, 0, sizeof *result);
    size_t total = 0;
    for (size_t e = 0; e < ctx->evidence_count; e++)
        total += ctx->evidence [e].match_count;
    result->evidence = (fac_input_evidence_t *) calloc (ctx->evidence_count + 1, sizeof (fac_input_evidence_t));
    result->matches = (fac_input_match_t *) calloc (total + 1, sizeof (fac_input_match_t));
    result->texts = (char **) calloc (total + 1, sizeof (char *));
    cr_assert (result->evidence && result->matches && result->texts);
    size_t used = 0;
    for (size_t e = 0; e < ctx->evidence_count; e++) {
        const fac_evidence_t *source = &ctx->evidence [e];
        uint32_t needed = source->minimum > (source->required? 1u: 0u)? source->minimum: (source->required? 1u: 0u);
        result->evidence [e] = (fac_input_evidence_t) {
            .element_type = source->element_type, .count = source->count, .minimum = source->minimum,
            .required = source->required,
            .satisfied = source->expected? source->count >= needed: source->count > 0,
            .matches = result->matches + used, .match_count = source->match_count,
        };
        for (uint32_t m = 0; m < source->match_count; m++) {
            char *quote = strndup (text + source->matches [m].offset, source->matches [m].length);
            cr_assert_not_null (quote);
            result->texts [result->text_count++] = quote;
            result->matches [used++] = (fac_input_match_t) {
                .offset = source->matches [m].offset, .length = source->matches [m].length,
                .text = quote, .pattern_id = "P0",
            };
        }
    }
    result->output_json = json_dumps (ctx->output, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_not_null (result->output_json);
    result->input = (fac_input_t) {
        .contract_id = "Q001_PA01", .status = 1, .score = ctx->score, .quality = ctx->quality,
        .confidence = ctx->confidence, .ratio = ctx->ratio,
        .evidence = result->evidence, .evidence_count = ctx->evidence_count,
        .output_json = result->output_json, .type = "micro",
        .title = "¿El diagnóstico presenta datos con fuente y año?", .base_question = "Q001",
        .policy_area = "PA01", .dimension = "DIM01", .cluster = "CL02",
    };
}

static void
s_result_free (t_result_t *result)
{
    for (size_t i = 0; i < result->text_count; i++)
        free (result->texts [i]);
    free (result->texts);
    free (result->matches);
    free (result->evidence);
    free (result->output_json);
}

static const t_pattern_t s_micro_patterns [] = {
    { "zona (rural|urbana)", FAC_PATTERN_IGNORECASE, "cobertura_territorial", 0.8 },
    { "DANE|Medicina Legal", 0, "fuentes_oficiales", 0.8 },
    { "\\b(19|20)\\d{2}\\b", 0, "series_temporales", 0.8 },
    { "por cada \\d+", 0, "solo_patrones", 0.8 },
};
static const t_expected_t s_micro_expected [] = {
    { "cobertura_territorial", 0, true },
    { "fuentes_oficiales", 2, false },
    { "series_temporales", 3, false },
};

FF_TEST (methods_plan, from_input_scores_exactly_as_the_micro_contract)
{
    //  Evidence: cobertura 1 match (required: 1), fuentes 2 (minimum 2:
    //  1), series 2018, 2020 (minimum 3: 2/3), solo_patrones 1 (no
    //  expected element). Ratio (equal weights) = (1 + 1 + 2/3) / 3 =
    //  0.888…; TYPE_A (t 0.70): 3r = 2.667; TYPE_B: 2 elements fully
    //  satisfied = 2; TYPE_E (t 0.65): 3.
    const char *text = "Según el DANE (2018) y Medicina Legal (2020), la zona rural registra "
                       "95 casos por cada 100000 habitantes.";
    static const struct {
        const char *modality;
        double score;
    } modalities [] = { { "TYPE_A", 8.0 / 3.0 }, { "TYPE_B", 2.0 }, { "TYPE_E", 3.0 } };
    static const char *const score_inputs [] = { "Q001_PA01" };
    json_t *request = json_object ();
    for (size_t k = 0; k < sizeof modalities / sizeof modalities [0]; k++) {
        t_spec_t micro_spec = {
            .id = "Q001_PA01", .type = "micro", .document = true,
            .patterns = s_micro_patterns, .pattern_count = 4,
            .expected = s_micro_expected, .expected_count = 3, .modality = modalities [k].modality,
        };
        fac_compiled_t *micro = s_compiled_new (&micro_spec);
        fac_context_t micro_ctx;
        fac_context_init (&micro_ctx, micro, text, strlen (text), NULL, 0, request);
        ff_test_step_ok (&micro_ctx, "text.match_patterns", "{}");
        ff_test_step_ok (&micro_ctx, "text.count_elements", "{}");
        ff_test_step_ok (&micro_ctx, "score.modality", "{}");
        cr_assert (S_NEAR (micro_ctx.score, modalities [k].score), "%s: %g", modalities [k].modality,
                   micro_ctx.score);
        t_result_t result;
        s_result_from (&result, &micro_ctx, text);

        //  SCORE_Q001_PA01: the micro contract's expected elements and
        //  modality, its result as the only input; with and without the
        //  document.
        t_spec_t score_spec = {
            .id = "SCORE_Q001_PA01", .type = "scoring", .inputs = score_inputs, .input_count = 1,
            .expected = s_micro_expected, .expected_count = 3, .modality = modalities [k].modality,
        };
        for (int with_text = 0; with_text < 2; with_text++) {
            score_spec.document = with_text;
            fac_compiled_t *scoring = s_compiled_new (&score_spec);
            fac_context_t ctx;
            fac_context_init (&ctx, scoring, with_text? text: NULL, with_text? strlen (text): 0,
                              &result.input, 1, request);
            ff_test_step_ok (&ctx, "score.from_input", "{}");
            ff_test_step_ok (&ctx, "score.modality", "{}");
            //  Exactly the micro contract's figures.
            cr_assert_eq (ctx.score, micro_ctx.score, "%s: %.17g != %.17g", modalities [k].modality,
                          ctx.score, micro_ctx.score);
            cr_assert_str_eq (ctx.quality, micro_ctx.quality);
            cr_assert_eq (ctx.ratio, micro_ctx.ratio);
            cr_assert_eq (ctx.confidence, micro_ctx.confidence);
            json_t *ours = ff_test_output (&ctx, "score.modality");
            json_t *theirs = ff_test_output (&micro_ctx, "score.modality");
            cr_assert (json_equal (ours, theirs), "score.modality outputs differ");
            //  The evidence: the same elements, counts and quoted offsets.
            cr_assert_eq (ctx.evidence_count, micro_ctx.evidence_count);
            for (size_t e = 0; e < ctx.evidence_count; e++) {
                const fac_evidence_t *a = &ctx.evidence [e], *b = &micro_ctx.evidence [e];
                cr_assert_str_eq (a->element_type, b->element_type);
                cr_assert_eq (a->count, b->count);
                cr_assert_eq (a->minimum, b->minimum);
                cr_assert_eq (a->required, b->required);
                cr_assert_eq (a->expected, b->expected);
                cr_assert_eq (a->match_count, b->match_count);
                for (uint32_t m = 0; m < a->match_count; m++) {
                    cr_assert_eq (a->matches [m].offset, b->matches [m].offset);
                    cr_assert_eq (a->matches [m].length, b->matches [m].length);
                    cr_assert_eq (a->matches [m].pattern, FAC_MATCH_COPIED);
                    //  The quote travels on even without the document.
                    cr_assert_str_eq (a->matches [m].copied_text,
                                      result.input.evidence [e].matches [m].text);
                    cr_assert_str_eq (a->matches [m].copied_pattern_id, "P0");
                }
            }
            json_t *output = ff_test_output (&ctx, "score.from_input");
            cr_assert_str_eq (json_string_value (json_object_get (output, "input")), "Q001_PA01");
            cr_assert_eq (json_is_true (json_object_get (output, "quoted")), with_text == 1);
            //  Missing elements as text.count_elements names them.
            json_t *missing = json_object_get (output, "missing_elements");
            json_t *counted = ff_test_output (&micro_ctx, "text.count_elements");
            cr_assert (json_equal (missing, json_object_get (counted, "missing_elements")));
            cr_assert_eq (json_array_size (missing), 1);
            cr_assert_str_eq (json_string_value (json_array_get (missing, 0)), "series_temporales");
            json_t *extra = json_object_get (output, "extra_elements");
            cr_assert_eq (json_array_size (extra), 1);
            cr_assert_str_eq (json_string_value (json_array_get (extra, 0)), "solo_patrones");
            fac_context_fini (&ctx);
            ff_test_compiled_free (scoring);
        }
        s_result_free (&result);
        fac_context_fini (&micro_ctx);
        ff_test_compiled_free (micro);
    }
    json_decref (request);
}

FF_TEST (methods_plan, from_input_matches_elements_by_type)
{
    //  The scoring contract expects fuentes_oficiales (minimum 3) and
    //  presupuesto, which the input lacks: counts 2 and 0, satisfactions
    //  2/3 and 0, both missing; the input's other element is kept, not
    //  expected.
    fac_input_match_t matches [] = {
        { 10, 4, "DANE", "P1" }, { 40, 14, "Medicina Legal", "P1" },
    };
    fac_input_evidence_t evidence [] = {
        { "cobertura", 0, 0, true, false, NULL, 0 },
        { "fuentes_oficiales", 2, 2, false, true, matches, 2 },
    };
    fac_input_t input = {
        .contract_id = "Q001_PA01", .status = 1, .score = 2.0, .quality = "BUENO", .confidence = NAN,
        .ratio = 0.5, .evidence = evidence, .evidence_count = 2,
    };
    static const t_expected_t expected [] = { { "fuentes_oficiales", 3, false }, { "presupuesto", 0, true } };
    static const char *const inputs [] = { "Q001_PA01" };
    t_spec_t spec = { .id = "SCORE_Q001_PA01", .type = "scoring", .inputs = inputs, .input_count = 1,
                      .expected = expected, .expected_count = 2, .modality = "TYPE_D" };
    fac_compiled_t *compiled = s_compiled_new (&spec);
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_context_init (&ctx, compiled, NULL, 0, &input, 1, request);
    ff_test_step_ok (&ctx, "score.from_input", "{\"input\": \"Q001_PA01\"}");
    cr_assert_eq (ctx.evidence_count, 3);
    cr_assert_str_eq (ctx.evidence [0].element_type, "fuentes_oficiales");
    cr_assert_eq (ctx.evidence [0].count, 2);
    cr_assert_eq (ctx.evidence [0].minimum, 3);
    cr_assert_str_eq (ctx.evidence [1].element_type, "presupuesto");
    cr_assert_eq (ctx.evidence [1].count, 0);
    cr_assert (ctx.evidence [1].required);
    cr_assert_str_eq (ctx.evidence [2].element_type, "cobertura");
    cr_assert (!ctx.evidence [2].expected);
    //  A NAN confidence stays unset; the ratio is the input's.
    cr_assert (isnan (ctx.confidence));
    cr_assert (S_NEAR (ctx.ratio, 0.5));
    json_t *output = ff_test_output (&ctx, "score.from_input");
    json_t *elements = json_object_get (output, "elements");
    cr_assert (S_NEAR (s_real (json_array_get (elements, 0), "satisfaction"), 2.0 / 3.0));
    cr_assert (json_is_true (json_object_get (json_array_get (elements, 0), "found")));
    cr_assert (json_is_false (json_object_get (json_array_get (elements, 1), "found")));
    cr_assert_eq (json_array_size (json_object_get (output, "missing_elements")), 2);
    cr_assert (json_is_null (json_object_get (output, "confidence")));
    //  TYPE_D on the copied evidence: satisfactions sorted {2/3, 0} with
    //  weights 0.4, 0.3, 0.3: 3 × (0.4 × 2/3 + 0.3 × 0) = 0.8.
    ff_test_step_ok (&ctx, "score.modality", "{}");
    cr_assert (S_NEAR (ctx.score, 0.8), "%g", ctx.score);
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, from_input_fails_naming_the_input)
{
    static const char *const inputs [] = { "Q001_PA01" };
    fac_compiled_t *compiled = s_inputs_contract ("SCORE_Q001_PA01", "scoring", inputs, 1);
    json_t *request = json_object ();
    fac_context_t ctx;
    //  Not carried by the request.
    fac_context_init (&ctx, compiled, NULL, 0, NULL, 0, request);
    s_step_fails (&ctx, "score.from_input", "{}", "input Q001_PA01 is not OK (missing");
    fac_context_fini (&ctx);
    //  Carried: status UNSPECIFIED (how the engine fills an absent input),
    //  FAILED, TIMEOUT; OK without a ratio or with one out of range.
    fac_input_t carried [] = {
        { .contract_id = "Q001_PA01", .status = 0, .score = NAN, .ratio = NAN },
        { .contract_id = "Q001_PA01", .status = 2, .score = 0, .ratio = 0 },
        { .contract_id = "Q001_PA01", .status = 3, .score = 0, .ratio = 0 },
        { .contract_id = "Q001_PA01", .status = 1, .score = 1, .ratio = NAN },
        { .contract_id = "Q001_PA01", .status = 1, .score = 1, .ratio = 1.5 },
    };
    static const char *const errors [] = {
        "input Q001_PA01 is not OK (missing", "input Q001_PA01 is not OK (FAILED)", "(TIMEOUT)",
        "input Q001_PA01 has no ratio to score", "input Q001_PA01: ratio 1.5 is not in 0..1",
    };
    for (size_t i = 0; i < sizeof carried / sizeof carried [0]; i++) {
        fac_context_init (&ctx, compiled, NULL, 0, &carried [i], 1, request);
        s_step_fails (&ctx, "score.from_input", "{}", errors [i]);
        fac_context_fini (&ctx);
    }
    //  Nothing written when it fails.
    cr_assert_null (ctx.evidence);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, from_input_checks)
{
    static const char *const one [] = { "Q001_PA01" };
    static const char *const two [] = { "Q001_PA01", "Q002_PA01" };
    fac_compiled_t *single = s_inputs_contract ("SCORE_Q001_PA01", "scoring", one, 1);
    fac_compiled_t *pair = s_inputs_contract ("SCORE_X", "scoring", two, 2);
    fac_compiled_t *none = s_document_contract ("SCORE_Y");
    s_accepted ("score.from_input", single->contract, "{}");
    s_accepted ("score.from_input", single->contract, "{\"input\": \"Q001_PA01\"}");
    s_accepted ("score.from_input", pair->contract, "{\"input\": \"Q002_PA01\"}");
    s_refused ("score.from_input", pair->contract, "{}", "params.input: the contract has 2 inputs; name the one");
    s_refused ("score.from_input", single->contract, "{\"input\": \"Q009_PA01\"}",
               "params.input: Q009_PA01 is not an input of this contract");
    s_refused ("score.from_input", single->contract, "{\"input\": 1}", "params.input: must be an id");
    s_refused ("score.from_input", single->contract, "{\"inputs\": 1}", "params.inputs: unknown parameter");
    s_refused ("score.from_input", none->contract, "{}", "inputs.contracts: score.from_input scores");
    ff_test_compiled_free (single);
    ff_test_compiled_free (pair);
    ff_test_compiled_free (none);
}

//  ---------------------------------------------------------------------
//  aggregate.weighted_mean: dispersion penalty and coherence

//  Runs aggregate.weighted_mean over inputs with these scores (all OK).
static json_t *
s_weighted (fac_context_t *ctx, fac_compiled_t **compiled_p, json_t *request, fac_input_t *inputs,
            const char *const *ids, const double *scores, size_t count, const char *params)
{
    for (size_t i = 0; i < count; i++)
        inputs [i] = (fac_input_t) { .contract_id = ids [i], .status = scores [i] < 0? 2: 1,
                                     .score = scores [i] < 0? 0: scores [i], .quality = "",
                                     .confidence = 1, .ratio = NAN };
    *compiled_p = s_inputs_contract ("AGG_CL01", "aggregation", ids, count);
    fac_context_init (ctx, *compiled_p, NULL, 0, inputs, count, request);
    ff_test_step_ok (ctx, "aggregate.weighted_mean", params);
    return ff_test_output (ctx, "aggregate.weighted_mean");
}

FF_TEST (methods_plan, weighted_mean_dispersion_penalty)
{
    static const char *const areas [] = { "AGG_PA02", "AGG_PA03", "AGG_PA07" };
    fac_input_t inputs [3];
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_compiled_t *compiled;
    //  Scores 2.4, 1.8, 1.2, equal weights: mean 1.8; deviations 0.6, 0,
    //  -0.6: variance (0.36 + 0 + 0.36) / 3 = 0.24, σ = 0.4898979;
    //  k = 0.3: penalty 0.1469694, score 1.6530306.
    static const double scores [] = { 2.4, 1.8, 1.2 };
    json_t *output = s_weighted (&ctx, &compiled, request, inputs, areas, scores, 3,
                                 "{\"dispersion_penalty\": 0.3}");
    double sigma = sqrt (0.24);
    cr_assert (S_NEAR (ctx.score, 1.8 - 0.3 * sigma), "%.9f", ctx.score);
    cr_assert (fabs (ctx.score - 1.6530306) < 1e-7);
    cr_assert (S_NEAR (ctx.ratio, ctx.score / 3));
    cr_assert_str_eq (ctx.quality, "ACEPTABLE");        // 1.653 / 3 = 0.551
    cr_assert (S_NEAR (s_real (output, "mean"), 1.8));
    json_t *dispersion = json_object_get (output, "dispersion");
    cr_assert (S_NEAR (s_real (dispersion, "stddev"), sigma));
    cr_assert (S_NEAR (s_real (dispersion, "k"), 0.3));
    cr_assert (S_NEAR (s_real (dispersion, "penalty"), 0.3 * sigma));
    //  No coherence asked: factor 1, the index still reported (1 - σ/1.5).
    json_t *coherence = json_object_get (output, "coherence");
    cr_assert (S_NEAR (s_real (coherence, "factor"), 1.0));
    cr_assert (S_NEAR (s_real (coherence, "index"), 1 - sigma / 1.5));
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);

    //  Without the parameter: the plain weighted mean, penalty 0.
    output = s_weighted (&ctx, &compiled, request, inputs, areas, scores, 3, "{}");
    cr_assert (S_NEAR (ctx.score, 1.8));
    cr_assert (S_NEAR (s_real (json_object_get (output, "dispersion"), "penalty"), 0));
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);

    //  Floored at 0: scores 0 and 3, σ = 1.5, k = 1: 1.5 - 1.5 = 0.
    static const char *const two [] = { "AGG_PA09", "AGG_PA10" };
    static const double extremes [] = { 0.0, 3.0 };
    output = s_weighted (&ctx, &compiled, request, inputs, two, extremes, 2, "{\"dispersion_penalty\": 1}");
    cr_assert (S_NEAR (ctx.score, 0.0));
    cr_assert (S_NEAR (s_real (json_object_get (output, "dispersion"), "stddev"), 1.5));
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);
    //  Scores 1 and 3, σ = 1, k = 1: mean 2 - 1 = 1 (above the floor).
    static const double wide [] = { 1.0, 3.0 };
    s_weighted (&ctx, &compiled, request, inputs, two, wide, 2, "{\"dispersion_penalty\": 1}");
    cr_assert (S_NEAR (ctx.score, 1.0));
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);

    //  σ is over the inputs used: with PA07 failed and skip, 2.4 and 1.8:
    //  mean 2.1, σ 0.3, k 0.5: 1.95. With zero, the failed one counts 0:
    //  scores 2.4, 1.8, 0: mean 1.4, σ = sqrt ((1 + 0.16 + 1.96) / 3) =
    //  sqrt (1.04) = 1.0198039; k 0.5: 1.4 - 0.5099020 = 0.8900980.
    static const double one_failed [] = { 2.4, 1.8, -1 };
    s_weighted (&ctx, &compiled, request, inputs, areas, one_failed, 3, "{\"dispersion_penalty\": 0.5}");
    cr_assert (S_NEAR (ctx.score, 1.95), "%.9f", ctx.score);
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);
    s_weighted (&ctx, &compiled, request, inputs, areas, one_failed, 3,
                "{\"dispersion_penalty\": 0.5, \"on_missing\": \"zero\"}");
    cr_assert (S_NEAR (ctx.score, 1.4 - 0.5 * sqrt (1.04)), "%.9f", ctx.score);
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);
    json_decref (request);
}

FF_TEST (methods_plan, weighted_mean_coherence)
{
    static const char *const clusters [] = { "AGG_CL01", "AGG_CL02", "AGG_CL03", "AGG_CL04" };
    fac_input_t inputs [4];
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_compiled_t *compiled;
    //  Scores 2.0, 1.5, 1.0, 2.5, weights 0.3 0.3 0.2 0.2: mean 0.6 + 0.45
    //  + 0.2 + 0.5 = 1.75; unweighted centre 1.75, deviations 0.25,
    //  -0.25, -0.75, 0.75: variance (0.0625 · 2 + 0.5625 · 2) / 4 =
    //  0.3125, σ = 0.5590170; index 1 - σ/1.5 = 0.6273220; c = 0.5:
    //  factor 1 - 0.5 σ / 1.5 = 0.8136610; score 1.75 × 0.8136610 =
    //  1.4239067.
    static const double scores [] = { 2.0, 1.5, 1.0, 2.5 };
    json_t *output = s_weighted (&ctx, &compiled, request, inputs, clusters, scores, 4,
        "{\"weights\": {\"AGG_CL01\": 0.3, \"AGG_CL02\": 0.3, \"AGG_CL03\": 0.2, \"AGG_CL04\": 0.2}, "
        "\"coherence\": 0.5}");
    double sigma = sqrt (0.3125);
    cr_assert (S_NEAR (ctx.score, 1.75 * (1 - 0.5 * sigma / 1.5)), "%.9f", ctx.score);
    cr_assert (fabs (ctx.score - 1.4239067) < 1e-7);
    json_t *coherence = json_object_get (output, "coherence");
    cr_assert (S_NEAR (s_real (coherence, "index"), 1 - sigma / 1.5));
    cr_assert (fabs (s_real (coherence, "index") - 0.6273220) < 1e-7);
    cr_assert (S_NEAR (s_real (coherence, "c"), 0.5));
    cr_assert (S_NEAR (s_real (coherence, "factor"), 1 - 0.5 * sigma / 1.5));
    cr_assert (S_NEAR (s_real (output, "mean"), 1.75));
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);

    //  Equal scores: σ = 0, index 1, nothing changes.
    static const double equal [] = { 2.2, 2.2, 2.2, 2.2 };
    output = s_weighted (&ctx, &compiled, request, inputs, clusters, equal, 4, "{\"coherence\": 1}");
    cr_assert (S_NEAR (ctx.score, 2.2));
    cr_assert (S_NEAR (s_real (json_object_get (output, "coherence"), "index"), 1));
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);

    //  Both: penalty first, then the factor. Scores 3, 1.5, 1.5, 0 (equal
    //  weights): mean 1.5; deviations 1.5, 0, 0, -1.5: σ² = 4.5 / 4 =
    //  1.125, σ = 1.0606602; k 0.2: 1.5 - 0.2121320 = 1.2878680; c 1:
    //  factor 1 - 1.0606602 / 1.5 = 0.2928932; score 0.3772078.
    static const double spread [] = { 3.0, 1.5, 1.5, 0.0 };
    s_weighted (&ctx, &compiled, request, inputs, clusters, spread, 4,
                "{\"dispersion_penalty\": 0.2, \"coherence\": 1}");
    sigma = sqrt (1.125);
    cr_assert (S_NEAR (ctx.score, (1.5 - 0.2 * sigma) * (1 - sigma / 1.5)), "%.9f", ctx.score);
    cr_assert (fabs (ctx.score - 0.3772078) < 1e-7);
    cr_assert_str_eq (ctx.quality, "INSUFICIENTE");
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);

    //  The maximum spread on 0-3 (half 0, half 3) with c = 1: 0.
    static const double extremes [] = { 0.0, 3.0, 0.0, 3.0 };
    s_weighted (&ctx, &compiled, request, inputs, clusters, extremes, 4, "{\"coherence\": 1}");
    cr_assert (S_NEAR (ctx.score, 0.0));
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);
    json_decref (request);
}

FF_TEST (methods_plan, weighted_mean_checks_of_the_new_parameters)
{
    static const char *const ids [] = { "AGG_PA01", "AGG_PA05" };
    fac_compiled_t *compiled = s_inputs_contract ("AGG_CL02", "aggregation", ids, 2);
    const fac_contract_t *contract = compiled->contract;
    s_accepted ("aggregate.weighted_mean", contract, "{\"dispersion_penalty\": 0, \"coherence\": 1}");
    s_accepted ("aggregate.weighted_mean", contract, "{\"dispersion_penalty\": 1, \"coherence\": 0.25}");
    s_refused ("aggregate.weighted_mean", contract, "{\"dispersion_penalty\": 1.5}",
               "params.dispersion_penalty: 1.5 is out of range 0..1");
    s_refused ("aggregate.weighted_mean", contract, "{\"dispersion_penalty\": -0.1}",
               "params.dispersion_penalty: -0.1 is out of range");
    s_refused ("aggregate.weighted_mean", contract, "{\"dispersion_penalty\": \"0.3\"}",
               "params.dispersion_penalty: must be a number");
    s_refused ("aggregate.weighted_mean", contract, "{\"coherence\": 2}", "params.coherence: 2 is out of range 0..1");
    s_refused ("aggregate.weighted_mean", contract, "{\"coherence\": null}", "params.coherence: must be a number");
    s_refused ("aggregate.weighted_mean", contract, "{\"penalty\": 0.1}", "params.penalty: unknown parameter");
    //  aggregate.choquet does not take them.
    s_refused ("aggregate.choquet", contract, "{\"weights\": {\"AGG_PA01\": 0.5, \"AGG_PA05\": 0.5}, "
               "\"coherence\": 0.5}", "params.coherence: unknown parameter");
    ff_test_compiled_free (compiled);
}

//  ---------------------------------------------------------------------
//  recommend.rules

//  INGEST's output: four sections of a plan (text.sections' shape).
static const char *s_ingest_output =
    "{\"text.sections\": {\"sections\": ["
    "{\"title\": \"\", \"offset\": 0, \"length\": 100, \"level\": 0, \"page\": 1},"
    "{\"title\": \"CAPÍTULO 1. DIAGNÓSTICO GENERAL\", \"offset\": 100, \"length\": 200, \"level\": 1, \"page\": 2},"
    "{\"title\": \"1.3 Derechos de las mujeres y equidad de género\", \"offset\": 300, \"length\": 50, \"level\": 3, \"page\": 3},"
    "{\"title\": \"Fuentes de información\", \"offset\": 350, \"length\": 50, \"level\": 3, \"page\": 3},"
    "{\"title\": \"CAPÍTULO 3. PLAN PLURIANUAL DE INVERSIONES\", \"offset\": 400, \"length\": 99, \"level\": 1, \"page\": 4}"
    "]}}";

static const char *const s_recommend_inputs [] = {
    "INGEST", "SCORE_Q001_PA01", "SCORE_Q002_PA01", "SCORE_Q006_PA05", "SCORE_Q007_PA05",
};

//  The inputs of RECOMMEND: INGEST, and four scored questions. Q001 (PA01
//  DIM01) 0.9 INSUFICIENTE, missing fuentes_oficiales (in the input's
//  list) and series (in score.from_input's output); Q002 (PA01 DIM01)
//  2.7 EXCELENTE, nothing missing; Q006 (PA05 DIM02) 1.2 INSUFICIENTE,
//  missing indicadores (text.count_elements' output); Q007 failed.
static void
s_recommend_fill (fac_input_t *inputs)
{
    static const char *const q001_missing [] = { "fuentes_oficiales" };
    inputs [0] = (fac_input_t) { .contract_id = "INGEST", .status = 1, .score = 0, .ratio = 0,
                                 .output_json = s_ingest_output, .type = "ingestion" };
    inputs [1] = (fac_input_t) {
        .contract_id = "SCORE_Q001_PA01", .status = 1, .score = 0.9, .quality = "INSUFICIENTE",
        .missing_elements = q001_missing, .missing_count = 1, .ratio = 0.3,
        .output_json = "{\"score.from_input\": {\"missing_elements\": [\"fuentes_oficiales\", \"series\"]}}",
        .type = "scoring", .title = "¿Hay datos con fuente?", .base_question = "Q001",
        .policy_area = "PA01", .dimension = "DIM01", .cluster = "CL02",
    };
    inputs [2] = (fac_input_t) {
        .contract_id = "SCORE_Q002_PA01", .status = 1, .score = 2.7, .quality = "EXCELENTE", .ratio = 0.9,
        .type = "scoring", .title = "¿Hay línea base?", .base_question = "Q002",
        .policy_area = "PA01", .dimension = "DIM01",
    };
    inputs [3] = (fac_input_t) {
        .contract_id = "SCORE_Q006_PA05", .status = 1, .score = 1.2, .ratio = 0.4,
        .output_json = "{\"text.count_elements\": {\"missing_elements\": [\"indicadores\"]}}",
        .title = "¿Hay indicadores?", .base_question = "Q006", .policy_area = "PA05", .dimension = "DIM02",
    };
    inputs [4] = (fac_input_t) { .contract_id = "SCORE_Q007_PA05", .status = 2, .score = 0, .ratio = 0 };
}

#define S_RULES_PARAMS \
    "{\"sections_from\": \"INGEST\"," \
    " \"rules\": [" \
    "  {\"id\": \"R-BAJO\", \"when\": {\"quality\": [\"INSUFICIENTE\"]}, \"priority\": \"alta\"," \
    "   \"text\": \"Reforzar {question} ({title}) en {policy_area}/{dimension}: puntaje {score}; falta {element}; ver {section}.\"}," \
    "  {\"id\": \"R-FALTA\", \"when\": {\"missing_element\": \"*\"}, \"priority\": \"media\"," \
    "   \"text\": \"Incluir {element} para {question} en «{section}».\"}," \
    "  {\"id\": \"R-FUENTES\", \"when\": {\"missing_element\": \"fuentes_oficiales\", \"max_score\": 1.0}," \
    "   \"priority\": \"baja\", \"text\": \"{{fuentes}} {question}: {element}\"}" \
    " ]," \
    " \"section_keywords\": {\"DIM01\": [\"diagnóstico\"], \"PA01\": [\"MUJERES\"]," \
    "   \"fuentes_oficiales\": [\"fuentes\", \"DANE\"], \"DIM02\": [\"indicadores de resultado\"]}%s}"

FF_TEST (methods_plan, recommend_rules_sections_templates_and_order)
{
    fac_input_t inputs [5];
    s_recommend_fill (inputs);
    fac_compiled_t *compiled = s_inputs_contract ("RECOMMEND", "recommendation", s_recommend_inputs, 5);
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_context_init (&ctx, compiled, NULL, 0, inputs, 5, request);
    char params [2048];
    snprintf (params, sizeof params, S_RULES_PARAMS, "");
    ff_test_step_ok (&ctx, "recommend.rules", params);
    json_t *output = ff_test_output (&ctx, "recommend.rules");
    json_t *list = json_object_get (output, "recommendations");
    //  Fired: R-BAJO on Q001 (0.9) and Q006 (1.2); R-FALTA on Q001 ×2
    //  (fuentes_oficiales, series) and Q006 ×1 (indicadores); R-FUENTES on
    //  Q001 (0.9 ≤ 1.0). Order: alta (Q001 0.9, Q006 1.2), media (Q001
    //  fuentes, Q001 series, Q006), baja (Q001).
    static const struct {
        const char *rule;
        const char *contract;
        const char *element;        // NULL = null
        const char *section;        // NULL = null
        const char *text;
    } expected [] = {
        //  Q001 without an element: DIM01 "diagnóstico" (chapter 1) and
        //  PA01 "mujeres" (1.3) both score 1: the first in the text wins.
        { "R-BAJO", "SCORE_Q001_PA01", NULL, "CAPÍTULO 1. DIAGNÓSTICO GENERAL",
          "Reforzar Q001 (¿Hay datos con fuente?) en PA01/DIM01: puntaje 0.90; falta "
          "fuentes_oficiales, series; ver CAPÍTULO 1. DIAGNÓSTICO GENERAL." },
        //  Q006: DIM02's keyword is nowhere, PA05 has none.
        { "R-BAJO", "SCORE_Q006_PA05", NULL, NULL,
          "Reforzar Q006 (¿Hay indicadores?) en PA05/DIM02: puntaje 1.20; falta indicadores; "
          "ver no section found." },
        //  fuentes_oficiales: "Fuentes de información" scores 1 with the
        //  element's keyword, a tie with the others won by the element.
        { "R-FALTA", "SCORE_Q001_PA01", "fuentes_oficiales", "Fuentes de información",
          "Incluir fuentes_oficiales para Q001 en «Fuentes de información»." },
        { "R-FALTA", "SCORE_Q001_PA01", "series", "CAPÍTULO 1. DIAGNÓSTICO GENERAL",
          "Incluir series para Q001 en «CAPÍTULO 1. DIAGNÓSTICO GENERAL»." },
        { "R-FALTA", "SCORE_Q006_PA05", "indicadores", NULL,
          "Incluir indicadores para Q006 en «no section found»." },
        { "R-FUENTES", "SCORE_Q001_PA01", "fuentes_oficiales", "Fuentes de información",
          "{fuentes} Q001: fuentes_oficiales" },
    };
    size_t count = sizeof expected / sizeof expected [0];
    cr_assert_eq (json_array_size (list), count);
    for (size_t r = 0; r < count; r++) {
        json_t *item = json_array_get (list, r);
        cr_assert_str_eq (json_string_value (json_object_get (item, "rule")), expected [r].rule, "[%zu]", r);
        cr_assert_str_eq (json_string_value (json_object_get (item, "contract")), expected [r].contract, "[%zu]", r);
        json_t *element = json_object_get (item, "element");
        if (expected [r].element)
            cr_assert_str_eq (json_string_value (element), expected [r].element, "[%zu]", r);
        else
            cr_assert (json_is_null (element), "[%zu]", r);
        json_t *section = json_object_get (item, "section");
        if (expected [r].section) {
            cr_assert_str_eq (json_string_value (json_object_get (section, "title")), expected [r].section, "[%zu]", r);
            json_int_t offset = s_int (section, "offset");
            cr_assert (offset == 100 || offset == 350, "[%zu] %lld", r, (long long) offset);
            cr_assert_eq (s_int (section, "page"), offset == 100? 2: 3);
        }
        else
            cr_assert (json_is_null (section), "[%zu]", r);
        cr_assert_str_eq (json_string_value (json_object_get (item, "text")), expected [r].text, "[%zu]", r);
    }
    //  Identity and figures of the first.
    json_t *first = json_array_get (list, 0);
    cr_assert_str_eq (json_string_value (json_object_get (first, "base_question")), "Q001");
    cr_assert_str_eq (json_string_value (json_object_get (first, "policy_area")), "PA01");
    cr_assert_str_eq (json_string_value (json_object_get (first, "dimension")), "DIM01");
    cr_assert_str_eq (json_string_value (json_object_get (first, "quality")), "INSUFICIENTE");
    cr_assert_str_eq (json_string_value (json_object_get (first, "priority")), "alta");
    cr_assert (S_NEAR (s_real (first, "score"), 0.9));
    //  Q006 carries no quality: the one of its score (1.2 / 3 = 0.4).
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (list, 1), "quality")), "INSUFICIENTE");

    //  Counts; ratio = questions without a recommendation / scored = 1 / 3
    //  (Q002); the failed Q007 is unscored.
    json_t *counts = json_object_get (output, "counts");
    s_assert_ints (counts, (const t_int_t []) {
        { "questions", 4 }, { "scored", 3 }, { "unscored", 1 }, { "with_recommendation", 2 },
        { "fired", 6 }, { "kept", 6 }, { "dropped", 0 }, { "sections", 5 }, { NULL, 0 } });
    s_assert_ints (json_object_get (counts, "by_priority"), (const t_int_t []) {
        { "alta", 2 }, { "media", 3 }, { "baja", 1 }, { NULL, 0 } });
    cr_assert_eq (s_int (json_object_get (counts, "by_rule"), "R-FALTA"), 3);
    cr_assert (S_NEAR (ctx.ratio, 1.0 / 3.0));
    cr_assert (isnan (ctx.score));
    fac_context_fini (&ctx);

    //  max: the first two after sorting; the rest counted as dropped.
    fac_context_init (&ctx, compiled, NULL, 0, inputs, 5, request);
    snprintf (params, sizeof params, S_RULES_PARAMS, ", \"max\": 2, \"no_section\": \"sin sección\"");
    ff_test_step_ok (&ctx, "recommend.rules", params);
    output = ff_test_output (&ctx, "recommend.rules");
    list = json_object_get (output, "recommendations");
    cr_assert_eq (json_array_size (list), 2);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (list, 1), "contract")), "SCORE_Q006_PA05");
    cr_assert (strstr (json_string_value (json_object_get (json_array_get (list, 1), "text")), "ver sin sección."));
    counts = json_object_get (output, "counts");
    s_assert_ints (counts, (const t_int_t []) {
        { "fired", 6 }, { "kept", 2 }, { "dropped", 4 }, { NULL, 0 } });
    cr_assert_eq (s_int (json_object_get (counts, "by_priority"), "media"), 0);
    //  The ratio counts every recommendation fired, kept or not.
    cr_assert (S_NEAR (ctx.ratio, 1.0 / 3.0));
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, recommend_rules_without_sections_and_run_errors)
{
    fac_input_t inputs [5];
    s_recommend_fill (inputs);
    fac_compiled_t *compiled = s_inputs_contract ("RECOMMEND", "recommendation", s_recommend_inputs, 5);
    json_t *request = json_object ();
    fac_context_t ctx;
    //  No sections_from: INGEST counts as a question (score 0, quality of
    //  0: INSUFICIENTE), every section is null.
    fac_context_init (&ctx, compiled, NULL, 0, inputs, 5, request);
    ff_test_step_ok (&ctx, "recommend.rules", "{\"rules\": [{\"id\": \"R\", \"when\": {\"max_score\": 1.2}, "
               "\"priority\": \"media\", \"text\": \"{question} {score} {section}\"}]}");
    json_t *output = ff_test_output (&ctx, "recommend.rules");
    json_t *list = json_object_get (output, "recommendations");
    //  Scores ≤ 1.2: INGEST 0, Q001 0.9, Q006 1.2 (the bound included).
    cr_assert_eq (json_array_size (list), 3);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (list, 0), "text")),
                      "INGEST 0.00 no section found");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (list, 2), "text")),
                      "Q006 1.20 no section found");
    cr_assert (json_is_null (json_object_get (json_array_get (list, 0), "section")));
    cr_assert (S_NEAR (ctx.ratio, 1.0 / 4.0));
    fac_context_fini (&ctx);

    //  sections_from not OK, or without text.sections.
    fac_input_t broken [5];
    memcpy (broken, inputs, sizeof broken);
    broken [0].status = 3;
    char params [2048];
    snprintf (params, sizeof params, S_RULES_PARAMS, "");
    fac_context_init (&ctx, compiled, NULL, 0, broken, 5, request);
    s_step_fails (&ctx, "recommend.rules", params, "params.sections_from: input INGEST is not OK (TIMEOUT)");
    fac_context_fini (&ctx);
    broken [0].status = 1;
    broken [0].output_json = "{\"text.profile\": {}}";
    fac_context_init (&ctx, compiled, NULL, 0, broken, 5, request);
    s_step_fails (&ctx, "recommend.rules", params, "the output of input INGEST has no text.sections.sections");
    fac_context_fini (&ctx);
    //  A question whose output is not JSON.
    memcpy (broken, inputs, sizeof broken);
    broken [1].output_json = "{not json";
    fac_context_init (&ctx, compiled, NULL, 0, broken, 5, request);
    s_step_fails (&ctx, "recommend.rules", params, "input SCORE_Q001_PA01: its output is not a JSON object");
    fac_context_fini (&ctx);
    //  Nothing scored.
    memcpy (broken, inputs, sizeof broken);
    for (size_t i = 1; i < 5; i++)
        broken [i].status = 2;
    fac_context_init (&ctx, compiled, NULL, 0, broken, 5, request);
    s_step_fails (&ctx, "recommend.rules", params, "no input has a score (4 inputs, none OK)");
    fac_context_fini (&ctx);
    json_decref (request);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods_plan, recommend_rules_checks)
{
    fac_compiled_t *compiled = s_inputs_contract ("RECOMMEND", "recommendation", s_recommend_inputs, 5);
    const fac_contract_t *contract = compiled->contract;
    static const char *const only_ingest [] = { "INGEST" };
    fac_compiled_t *lonely = s_inputs_contract ("RECOMMEND", "recommendation", only_ingest, 1);
    char params [2048];
    snprintf (params, sizeof params, S_RULES_PARAMS, "");
    s_accepted ("recommend.rules", contract, params);
    snprintf (params, sizeof params, S_RULES_PARAMS, ", \"max\": 1, \"no_section\": \"—\"");
    s_accepted ("recommend.rules", contract, params);

    static const struct {
        const char *params;
        const char *error;
    } refused [] = {
        { "{}", "params.rules: must be an array of 1..256 rules" },
        { "{\"rules\": []}", "params.rules: must be an array" },
        { "{\"rules\": [1]}", "params.rules[0]: must be an object" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\", \"x\": 1}]}",
          "params.rules[0].x: unknown key" },
        { "{\"rules\": [{\"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].id: must be a non-empty string" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"},"
          " {\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[1].id: \"A\" repeats rules[0]" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"urgente\", \"text\": \"t\"}]}",
          "params.rules[0].priority: must be \"alta\", \"media\" or \"baja\"" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\"}]}",
          "params.rules[0].text: must be a non-empty string" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"{pregunta}\"}]}",
          "params.rules[0].text: unknown placeholder {pregunta}" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"a {question\"}]}",
          "params.rules[0].text: '{' at byte 2 is not closed" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"a } b\"}]}",
          "params.rules[0].text: a lone '}' at byte 2" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].when: must be an object with at least one of" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].when.score: unknown condition" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"quality\": [\"MALO\"]}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].when.quality[0]: must be EXCELENTE, BUENO, ACEPTABLE or INSUFICIENTE" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"quality\": [\"BUENO\", \"BUENO\"]}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].when.quality[1]: BUENO is given twice" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"quality\": []}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].when.quality: must be a non-empty array" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 4}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].when.max_score: 4 is out of range 0..3" },
        { "{\"rules\": [{\"id\": \"A\", \"when\": {\"missing_element\": \"\"}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.rules[0].when.missing_element: must be \"*\"" },
        { "{\"sections_from\": \"INGESTA\", \"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.sections_from: INGESTA is not an input of this contract" },
        { "{\"section_keywords\": [], \"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.section_keywords: must be an object" },
        { "{\"section_keywords\": {\"DIM01\": []}, \"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.section_keywords.DIM01: must be an array of 1..64 keywords" },
        { "{\"section_keywords\": {\"DIM01\": [\"a\", 2]}, \"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.section_keywords.DIM01[1]: must be a non-empty string" },
        { "{\"max\": 0, \"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.max: 0 is out of range 1..1000000" },
        { "{\"no_section\": 1, \"rules\": [{\"id\": \"A\", \"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
          "params.no_section: must be a non-empty string" },
        { "{\"rule\": []}", "params.rule: unknown parameter of recommend.rules" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++)
        s_refused ("recommend.rules", contract, refused [i].params, refused [i].error);
    //  Only the sections input: nothing to recommend on.
    s_refused ("recommend.rules", lonely->contract, "{\"sections_from\": \"INGEST\", \"rules\": [{\"id\": \"A\", "
               "\"when\": {\"max_score\": 1}, \"priority\": \"alta\", \"text\": \"t\"}]}",
               "inputs.contracts: recommend.rules reads the scored contracts, the contract names none besides");
    ff_test_compiled_free (compiled);
    ff_test_compiled_free (lonely);
}

//  ---------------------------------------------------------------------
//  The contract loader: the new methods in contracts of every phase

FF_TEST (methods_plan, contracts_with_the_new_methods_load)
{
    static const char *valid [] = {
        "{\"format\": \"farfan-contract/1\", \"id\": \"VALIDATE_DOCUMENT\", \"version\": \"1\", \"type\": \"task\","
        " \"applicable_phases\": [\"P00\"], \"inputs\": {\"document\": true},"
        " \"methods\": [{\"method\": \"text.profile\", \"params\": {\"min_words\": 200}}]}",
        "{\"format\": \"farfan-contract/1\", \"id\": \"INGEST\", \"version\": \"1\", \"type\": \"ingestion\","
        " \"applicable_phases\": [\"P01\"], \"inputs\": {\"document\": true},"
        " \"methods\": [{\"method\": \"text.sections\", \"params\": {\"chunk_bytes\": 4000}}]}",
        "{\"format\": \"farfan-contract/1\", \"id\": \"SCORE_Q001_PA01\", \"version\": \"1\", \"type\": \"scoring\","
        " \"identity\": {\"base_question\": \"Q001\", \"policy_area\": \"PA01\", \"dimension\": \"DIM01\", \"cluster\": \"CL02\"},"
        " \"applicable_phases\": [\"P03\"], \"inputs\": {\"contracts\": [\"Q001_PA01\"]},"
        " \"expected_elements\": [{\"type\": \"fuentes_oficiales\", \"minimum\": 2}],"
        " \"methods\": [{\"method\": \"score.from_input\"}, {\"method\": \"score.modality\"}],"
        " \"scoring\": {\"modality\": \"TYPE_B\"}}",
        "{\"format\": \"farfan-contract/1\", \"id\": \"AGG_MACRO\", \"version\": \"1\", \"type\": \"aggregation\","
        " \"applicable_phases\": [\"P07\"], \"inputs\": {\"contracts\": [\"AGG_CL01\", \"AGG_CL02\"]},"
        " \"methods\": [{\"method\": \"aggregate.weighted_mean\", \"params\": {\"coherence\": 0.5, \"dispersion_penalty\": 0.1}}]}",
        "{\"format\": \"farfan-contract/1\", \"id\": \"RECOMMEND\", \"version\": \"1\", \"type\": \"recommendation\","
        " \"applicable_phases\": [\"P08\"], \"inputs\": {\"contracts\": [\"INGEST\", \"SCORE_Q001_PA01\"]},"
        " \"methods\": [{\"method\": \"recommend.rules\", \"params\": {\"sections_from\": \"INGEST\","
        "  \"rules\": [{\"id\": \"R1\", \"when\": {\"missing_element\": \"*\"}, \"priority\": \"alta\","
        "  \"text\": \"Incluir {element} ({question}) en {section}\"}]}}]}",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid [0]; i++) {
        json_t *object = ff_test_json (valid [i]);
        fac_load_report_t report;
        fac_load_report_init (&report, 8);
        fac_contract_t *contract = fac_contract_parse (object, "test", NULL, &report);
        cr_assert_not_null (contract, "[%zu]: %s: %s", i, report.count? report.errors [0].field: "",
                            report.count? report.errors [0].reason: "");
        fac_contract_unref (&contract);
        fac_load_report_free (&report);
        json_decref (object);
    }
    //  Errors name the step's params and the parameter.
    static const struct {
        const char *json;
        const char *field;
        const char *reason;
    } invalid [] = {
        { "{\"format\": \"farfan-contract/1\", \"id\": \"INGEST\", \"version\": \"1\", \"type\": \"ingestion\","
          " \"applicable_phases\": [\"P01\"], \"inputs\": {\"document\": true},"
          " \"methods\": [{\"method\": \"text.sections\", \"params\": {\"chunk_bytes\": 1}}]}",
          "methods[0].params.chunk_bytes", "1 is out of range 200..16777216" },
        { "{\"format\": \"farfan-contract/1\", \"id\": \"VALIDATE_DOCUMENT\", \"version\": \"1\", \"type\": \"task\","
          " \"applicable_phases\": [\"P00\"], \"inputs\": {\"contracts\": [\"X\"]},"
          " \"methods\": [{\"method\": \"text.profile\"}]}",
          "inputs.document", "must be true: methods[0] (text.profile) reads the document" },
        { "{\"format\": \"farfan-contract/1\", \"id\": \"SCORE_Q001_PA01\", \"version\": \"1\", \"type\": \"scoring\","
          " \"applicable_phases\": [\"P03\"], \"inputs\": {\"contracts\": [\"Q001_PA01\"]},"
          " \"methods\": [{\"method\": \"score.from_input\", \"params\": {\"input\": \"Q002_PA01\"}}]}",
          "methods[0].params.input", "Q002_PA01 is not an input of this contract" },
        { "{\"format\": \"farfan-contract/1\", \"id\": \"SCORE_Q001_PA01\", \"version\": \"1\", \"type\": \"scoring\","
          " \"applicable_phases\": [\"P03\"], \"inputs\": {\"document\": true},"
          " \"methods\": [{\"method\": \"score.from_input\"}]}",
          "inputs.contracts", "methods[0] (score.from_input): score.from_input scores an input contract's result" },
        { "{\"format\": \"farfan-contract/1\", \"id\": \"RECOMMEND\", \"version\": \"1\", \"type\": \"recommendation\","
          " \"applicable_phases\": [\"P08\"], \"inputs\": {\"contracts\": [\"INGEST\", \"SCORE_Q001_PA01\"]},"
          " \"methods\": [{\"method\": \"recommend.rules\", \"params\": {\"rules\": [{\"id\": \"R1\","
          " \"when\": {\"max_score\": 9}, \"priority\": \"alta\", \"text\": \"t\"}]}}]}",
          "methods[0].params.rules[0].when.max_score", "9 is out of range 0..3" },
        { "{\"format\": \"farfan-contract/1\", \"id\": \"AGG_CL01\", \"version\": \"1\", \"type\": \"aggregation\","
          " \"applicable_phases\": [\"P06\"], \"inputs\": {\"contracts\": [\"AGG_PA02\", \"AGG_PA03\"]},"
          " \"methods\": [{\"method\": \"aggregate.weighted_mean\", \"params\": {\"dispersion_penalty\": 2}}]}",
          "methods[0].params.dispersion_penalty", "2 is out of range 0..1" },
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid [0]; i++) {
        json_t *object = ff_test_json (invalid [i].json);
        fac_load_report_t report;
        fac_load_report_init (&report, 8);
        fac_contract_t *contract = fac_contract_parse (object, "test", NULL, &report);
        cr_assert_null (contract, "[%zu] loaded", i);
        bool found = false;
        for (size_t e = 0; e < report.count && e < report.capacity && !found; e++)
            found = strcmp (report.errors [e].field, invalid [i].field) == 0
                 && strstr (report.errors [e].reason, invalid [i].reason);
        cr_assert (found, "[%zu]: no error at %s with \"%s\" (first: %s: %s)", i, invalid [i].field,
                   invalid [i].reason, report.count? report.errors [0].field: "",
                   report.count? report.errors [0].reason: "");
        fac_load_report_free (&report);
        json_decref (object);
    }
}
