/*  The method registry (fac_method.h): every method on hand-computed
    cases (the arithmetic is in the comments), Spanish UTF-8 text, Python
    re agreement of the pattern matching, every check function's errors.
    Contracts are built by hand here (no parser needed) and compiled with
    fac_pattern_compile, as fac_compiled_new does. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fac_method.h"
#include "ff_test.h"

#define S_PYTHON "/usr/bin/python3"
#define S_FIXTURE FF_TEST_SOURCE_ROOT "/tests/data/methods_es.txt"
#define S_UPSTREAM FF_TEST_SOURCE_ROOT "/../shared/farfan-upstream"
#define S_NEAR(a, b) (fabs ((a) - (b)) < 1e-9)

//  ---------------------------------------------------------------------
//  Hand-built contracts

typedef ff_test_pattern_t t_pattern_t;
typedef ff_test_expected_t t_expected_t;

typedef struct {
    fac_contract_t *contract;
    fac_compiled_t *compiled;
    fac_context_t ctx;
    json_t *params;             // request params of ctx ({}), owned
} t_run_t;

static fac_contract_t *
s_contract_new (const t_pattern_t *patterns, size_t pattern_count,
                const t_expected_t *expected, size_t expected_count,
                const char *const *inputs, size_t input_count,
                const char *modality, const char *scoring_json)
{
    ff_test_contract_spec_t spec = {
        .id = "Q001_PA01", .type = input_count? "aggregation": "micro", .document = input_count == 0,
        .patterns = patterns, .pattern_count = pattern_count,
        .expected = expected, .expected_count = expected_count,
        .inputs = inputs, .input_count = input_count,
        .modality = modality, .scoring_json = scoring_json,
    };
    return ff_test_contract_new (&spec);
}

//  A contract, compiled, with a context over text (NULL = none) and inputs.
static void
s_run_init (t_run_t *run, const t_pattern_t *patterns, size_t pattern_count,
            const t_expected_t *expected, size_t expected_count, const char *text,
            size_t text_size)
{
    run->contract = s_contract_new (patterns, pattern_count, expected, expected_count,
                                    NULL, 0, "TYPE_A", NULL);
    run->compiled = ff_test_compile (run->contract);
    run->params = json_object ();
    fac_context_init (&run->ctx, run->compiled, text, text_size, NULL, 0, run->params);
    cr_assert_not_null (run->ctx.output);
}

static void
s_run_fini (t_run_t *run)
{
    fac_context_fini (&run->ctx);
    fac_context_fini (&run->ctx);       // idempotent
    ff_test_compiled_free (run->compiled);
    json_decref (run->params);
}

static const fac_evidence_t *
s_evidence (const fac_context_t *ctx, const char *type)
{
    for (size_t i = 0; i < ctx->evidence_count; i++)
        if (strcmp (ctx->evidence [i].element_type, type) == 0)
            return &ctx->evidence [i];
    cr_assert_fail ("no evidence for %s", type);
    return NULL;
}

//  ---------------------------------------------------------------------
//  The registry

FF_TEST (methods, registry_lists_every_method_once)
{
    static const struct { const char *name; fac_method_kind_t kind; } expected [] = {
        { "text.match_patterns", FAC_METHOD_CPU }, { "text.count_elements", FAC_METHOD_CPU },
        { "text.extract_numbers", FAC_METHOD_CPU }, { "text.keyword_density", FAC_METHOD_CPU },
        { "text.profile", FAC_METHOD_CPU }, { "text.sections", FAC_METHOD_CPU },
        { "score.modality", FAC_METHOD_CPU }, { "score.from_input", FAC_METHOD_CPU },
        { "aggregate.weighted_mean", FAC_METHOD_CPU }, { "aggregate.choquet", FAC_METHOD_CPU },
        { "recommend.rules", FAC_METHOD_CPU }, { "report.assemble", FAC_METHOD_CPU },
        { "io.wait", FAC_METHOD_WAIT },
        { "exec", FAC_METHOD_WAIT }, { "core.noop", FAC_METHOD_CPU },
    };
    size_t count = 0;
    const fac_method_t *all = fac_method_all (&count);
    cr_assert_eq (count, sizeof expected / sizeof expected [0]);
    for (size_t i = 0; i < count; i++) {
        cr_assert_str_eq (all [i].name, expected [i].name);
        cr_assert_eq (all [i].kind, expected [i].kind);
        cr_assert_not_null (all [i].check);
        cr_assert_eq (all [i].run == NULL, all [i].kind == FAC_METHOD_WAIT, "%s", all [i].name);
        cr_assert_gt (strlen (all [i].summary), 10);
        cr_assert_eq (fac_method_lookup (all [i].name), &all [i]);
    }
    cr_assert_null (fac_method_lookup ("text.match"));
    cr_assert_null (fac_method_lookup ("TEXT.MATCH_PATTERNS"));
    cr_assert_null (fac_method_lookup (""));
    cr_assert_null (fac_method_lookup (NULL));
}

FF_TEST (methods, quality_levels_follow_the_scoring_system)
{
    //  Levels on score / 3: 0.85, 0.70, 0.55; a boundary counts as reached
    //  even when the division rounds below it (2.55 / 3 = 0.8499999...).
    cr_assert_str_eq (fac_quality_level (3.0), "EXCELENTE");
    cr_assert_str_eq (fac_quality_level (2.55), "EXCELENTE");
    cr_assert_str_eq (fac_quality_level (2.549), "BUENO");
    cr_assert_str_eq (fac_quality_level (2.1), "BUENO");
    cr_assert_str_eq (fac_quality_level (2.099), "ACEPTABLE");
    cr_assert_str_eq (fac_quality_level (1.65), "ACEPTABLE");
    cr_assert_str_eq (fac_quality_level (1.649), "INSUFICIENTE");
    cr_assert_str_eq (fac_quality_level (0.0), "INSUFICIENTE");
    cr_assert_str_eq (fac_quality_level (NAN), "INSUFICIENTE");
}

FF_TEST (methods, context_starts_empty)
{
    static const t_pattern_t patterns [] = { { "a", 0, "x", 1 } };
    t_run_t run;
    s_run_init (&run, patterns, 1, NULL, 0, "a", 1);
    cr_assert (isnan (run.ctx.ratio));
    cr_assert (isnan (run.ctx.score));
    cr_assert (isnan (run.ctx.confidence));
    cr_assert_null (run.ctx.quality);
    cr_assert_null (run.ctx.evidence);
    cr_assert_eq (json_object_size (run.ctx.output), 0);
    cr_assert_eq (run.ctx.params, run.params);
    s_run_fini (&run);
}

//  ---------------------------------------------------------------------
//  text.match_patterns

FF_TEST (methods, match_patterns_ignorecase_on_accented_spanish)
{
    //  "Población" = P o b l a c i ó n: 9 characters, 10 bytes (ó is 2).
    //  Offsets: "Población" 0; " y " -> "POBLACIÓN" at 13; "; la " -> 28.
    const char *text = "Población y POBLACIÓN; la población.";
    static const t_pattern_t patterns [] = {
        { "población", FAC_PATTERN_IGNORECASE, "poblacion", 0.8 },
        { "población", 0, "exacta", 0.5 },
        { "niño", FAC_PATTERN_IGNORECASE, "ninez", 0.9 },
    };
    static const t_expected_t expected [] = { { "poblacion", 2, false }, { "ninez", 0, true } };
    t_run_t run;
    s_run_init (&run, patterns, 3, expected, 2, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");

    //  Expected elements first (in order), then "exacta", which only a
    //  pattern names.
    cr_assert_eq (run.ctx.evidence_count, 3);
    const fac_evidence_t *poblacion = &run.ctx.evidence [0];
    cr_assert_str_eq (poblacion->element_type, "poblacion");
    cr_assert (poblacion->expected);
    cr_assert_eq (poblacion->minimum, 2);
    cr_assert_eq (poblacion->count, 3);
    cr_assert_eq (poblacion->match_count, 3);
    cr_assert_eq (poblacion->matches [0].offset, 0);
    cr_assert_eq (poblacion->matches [1].offset, 13);
    cr_assert_eq (poblacion->matches [2].offset, 28);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (poblacion->matches [i].length, 10);
        cr_assert_eq (poblacion->matches [i].pattern, 0);
    }
    const fac_evidence_t *ninez = &run.ctx.evidence [1];
    cr_assert_str_eq (ninez->element_type, "ninez");
    cr_assert (ninez->required);
    cr_assert_eq (ninez->count, 0);
    cr_assert_eq (ninez->match_count, 0);
    const fac_evidence_t *exacta = &run.ctx.evidence [2];
    cr_assert_str_eq (exacta->element_type, "exacta");
    cr_assert_not (exacta->expected);
    cr_assert_eq (exacta->count, 1);         // case-sensitive: only "población" at 28
    cr_assert_eq (exacta->matches [0].offset, 28);
    //  Confidence: mean weight of the patterns that matched, (0.8 + 0.5) / 2.
    cr_assert (S_NEAR (run.ctx.confidence, 0.65));
    json_t *output = ff_test_output (&run.ctx, "text.match_patterns");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (output, "patterns"), "P0")), 3);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (output, "patterns"), "P1")), 1);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (output, "patterns"), "P2")), 0);
    cr_assert_eq (json_integer_value (json_object_get (output, "matched_patterns")), 2);
    cr_assert_eq (json_integer_value (json_object_get (output, "total_matches")), 4);
    s_run_fini (&run);

    //  ñ folds too: "niño NIÑO Niño" = 3 matches at 0, 6, 12 (ñ is 2 bytes).
    const char *ninos = "niño NIÑO Niño";
    s_run_init (&run, patterns, 3, expected, 2, ninos, strlen (ninos));
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");
    cr_assert_eq (s_evidence (&run.ctx, "ninez")->count, 3);
    cr_assert_eq (s_evidence (&run.ctx, "ninez")->matches [1].offset, 6);
    cr_assert_eq (s_evidence (&run.ctx, "ninez")->matches [2].offset, 12);
    cr_assert (S_NEAR (run.ctx.confidence, 0.9));
    s_run_fini (&run);
}

FF_TEST (methods, match_patterns_empty_text_and_no_matches)
{
    static const t_pattern_t patterns [] = {
        { "DANE", 0, "fuentes", 0.7 },
        { "x*", 0, "vacio", 0.4 },
    };
    static const t_expected_t expected [] = { { "fuentes", 1, false } };
    t_run_t run;
    //  Empty document: "DANE" nothing; "x*" one empty match at 0, as
    //  len(list(re.finditer('x*', ''))) == 1.
    s_run_init (&run, patterns, 2, expected, 1, "", 0);
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");
    cr_assert_eq (run.ctx.evidence_count, 2);
    cr_assert_eq (s_evidence (&run.ctx, "fuentes")->count, 0);
    cr_assert_eq (s_evidence (&run.ctx, "vacio")->count, 1);
    cr_assert_eq (s_evidence (&run.ctx, "vacio")->matches [0].offset, 0);
    cr_assert_eq (s_evidence (&run.ctx, "vacio")->matches [0].length, 0);
    s_run_fini (&run);

    //  No pattern matches: counts 0, no quotes, confidence 0.
    static const t_pattern_t dane [] = { { "DANE", 0, "fuentes", 0.7 } };
    s_run_init (&run, dane, 1, expected, 1, "sin fuentes", 11);
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");
    cr_assert_eq (run.ctx.evidence_count, 1);
    cr_assert_eq (run.ctx.evidence [0].count, 0);
    cr_assert_eq (run.ctx.evidence [0].match_count, 0);
    cr_assert (S_NEAR (run.ctx.confidence, 0.0));
    s_run_fini (&run);

    //  No document at all (inputs.document false): an error, not a crash.
    s_run_init (&run, dane, 1, expected, 1, NULL, 0);
    cr_assert_eq (ff_test_step (&run.ctx, "text.match_patterns", "{}"), -1);
    cr_assert (strstr (run.ctx.error, "no document"), "%s", run.ctx.error);
    s_run_fini (&run);
}

FF_TEST (methods, match_patterns_empty_matches_advance_like_python)
{
    //  re.finditer('a*', 'baac') -> '' at 0, 'aa' at 1..3, '' at 3, '' at
    //  4: 4 matches (an empty match right after a non-empty one counts).
    //  re.finditer('x*', 'ñañ') -> '' at every character boundary: byte
    //  offsets 0, 2, 3, 5 (never inside the 2-byte ñ).
    static const t_pattern_t patterns [] = {
        { "a*", 0, "a", 1 },
        { "x*", 0, "x", 1 },
        { "(?:ña)?", 0, "na", 1 },
    };
    t_run_t run;
    s_run_init (&run, patterns, 3, NULL, 0, "baac", 4);
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{\"max_matches\": 10}");
    const fac_evidence_t *a = s_evidence (&run.ctx, "a");
    cr_assert_eq (a->count, 4);
    uint64_t offsets [] = { 0, 1, 3, 4 };
    uint32_t lengths [] = { 0, 2, 0, 0 };
    for (int i = 0; i < 4; i++) {
        cr_assert_eq (a->matches [i].offset, offsets [i]);
        cr_assert_eq (a->matches [i].length, lengths [i]);
    }
    s_run_fini (&run);

    const char *text = "ñañ";
    s_run_init (&run, patterns, 3, NULL, 0, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{\"max_matches\": 10}");
    const fac_evidence_t *x = s_evidence (&run.ctx, "x");
    cr_assert_eq (x->count, 4);
    uint64_t boundaries [] = { 0, 2, 3, 5 };
    for (int i = 0; i < 4; i++)
        cr_assert_eq (x->matches [i].offset, boundaries [i]);
    //  (?:ña)? on "ñañ": 'ña' at 0..3, '' at 3, '' at 5: 3 matches.
    const fac_evidence_t *na = s_evidence (&run.ctx, "na");
    cr_assert_eq (na->count, 3);
    cr_assert_eq (na->matches [0].length, 3);
    cr_assert_eq (na->matches [1].offset, 3);
    cr_assert_eq (na->matches [2].offset, 5);
    s_run_fini (&run);
}

FF_TEST (methods, match_patterns_overlapping_patterns_count_once_per_offset)
{
    //  Text offsets: "plan" 0, "desarrollo" 8, "municipal" 19.
    //  Type "plan": "plan de desarrollo" at 0, "desarrollo" at 8, "plan"
    //  at 0 -> distinct starts {0, 8}: count 2; at 0 the longest match is
    //  quoted ("plan de desarrollo", 18 bytes, pattern 0).
    //  Type "solo": "aa" over "aaaa" (offset 29) is non-overlapping: 2.
    const char *text = "plan de desarrollo municipal aaaa";
    static const t_pattern_t patterns [] = {
        { "plan de desarrollo", 0, "plan", 0.9 },
        { "desarrollo", 0, "plan", 0.6 },
        { "plan", 0, "plan", 0.3 },
        { "aa", 0, "solo", 0.2 },
        { "desarrollo", 0, "otro", 0.1 },
    };
    t_run_t run;
    s_run_init (&run, patterns, 5, NULL, 0, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");
    const fac_evidence_t *plan = s_evidence (&run.ctx, "plan");
    cr_assert_eq (plan->count, 2);
    cr_assert_eq (plan->match_count, 2);
    cr_assert_eq (plan->matches [0].offset, 0);
    cr_assert_eq (plan->matches [0].length, 18);
    cr_assert_eq (plan->matches [0].pattern, 0);
    cr_assert_eq (plan->matches [1].offset, 8);
    cr_assert_eq (plan->matches [1].pattern, 1);
    cr_assert_eq (s_evidence (&run.ctx, "solo")->count, 2);
    cr_assert_eq (s_evidence (&run.ctx, "solo")->matches [1].offset, 31);
    //  The same text under another type counts there too.
    cr_assert_eq (s_evidence (&run.ctx, "otro")->count, 1);
    //  Per pattern, every match counts: 1 + 1 + 1 + 2 + 1.
    json_t *output = ff_test_output (&run.ctx, "text.match_patterns");
    cr_assert_eq (json_integer_value (json_object_get (output, "total_matches")), 6);
    //  All five matched: (0.9 + 0.6 + 0.3 + 0.2 + 0.1) / 5 = 0.42.
    cr_assert (S_NEAR (run.ctx.confidence, 0.42));
    s_run_fini (&run);
}

FF_TEST (methods, match_patterns_quotes_the_first_max_matches)
{
    //  "a a a a a a a": 7 matches at 0, 2, 4, ...; 3 quoted, all counted.
    const char *text = "a a a a a a a";
    static const t_pattern_t patterns [] = { { "a", 0, "a", 1 } };
    t_run_t run;
    s_run_init (&run, patterns, 1, NULL, 0, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{\"max_matches\": 3}");
    cr_assert_eq (run.ctx.evidence [0].count, 7);
    cr_assert_eq (run.ctx.evidence [0].match_count, 3);
    cr_assert_eq (run.ctx.evidence [0].matches [2].offset, 4);
    //  Default: FAC_EVIDENCE_MATCHES_DEFAULT; 0: counts only.
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");
    cr_assert_eq (run.ctx.evidence [0].match_count, FAC_EVIDENCE_MATCHES_DEFAULT);
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{\"max_matches\": 0}");
    cr_assert_eq (run.ctx.evidence [0].count, 7);
    cr_assert_eq (run.ctx.evidence [0].match_count, 0);
    s_run_fini (&run);
}

//  Runs text.match_patterns from several threads over one compiled
//  contract: every thread gets the single-threaded counts.
typedef struct {
    fac_compiled_t *compiled;
    const char *text;
    size_t size;
    uint32_t expected [4];
    int failures;
} t_thread_t;

static void *
s_thread_main (void *arg)
{
    t_thread_t *shared = (t_thread_t *) arg;
    json_t *request = json_object ();
    json_t *params = json_loads ("{\"max_matches\": 50}", 0, NULL);
    int failures = 0;
    for (int round = 0; round < 20; round++) {
        fac_context_t ctx;
        fac_context_init (&ctx, shared->compiled, shared->text, shared->size, NULL, 0, request);
        const fac_method_t *method = fac_method_lookup ("text.match_patterns");
        if (method->run (&ctx, params) != 0 || ctx.evidence_count != 4)
            failures++;
        for (size_t i = 0; i < ctx.evidence_count && i < 4; i++)
            if (ctx.evidence [i].count != shared->expected [i])
                failures++;
        fac_context_fini (&ctx);
    }
    json_decref (params);
    json_decref (request);
    return (void *) (intptr_t) failures;
}

FF_TEST (methods, match_patterns_is_thread_safe)
{
    size_t size;
    char *text = ff_test_read_file (S_FIXTURE, &size);
    cr_assert_not_null (text, "missing fixture %s", S_FIXTURE);
    static const t_pattern_t patterns [] = {
        { "poblaci[oó]n", FAC_PATTERN_IGNORECASE, "poblacion", 1 },
        { "\\d+(?:[.,]\\d+)*\\s*%", 0, "porcentajes", 1 },
        { "\\b(?:19|20)\\d{2}\\b", 0, "anios", 1 },
        { "^\\w+", FAC_PATTERN_MULTILINE, "inicios", 1 },
    };
    t_run_t run;
    s_run_init (&run, patterns, 4, NULL, 0, text, size);
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{\"max_matches\": 50}");
    t_thread_t shared = { run.compiled, text, size, { 0 }, 0 };
    for (int i = 0; i < 4; i++) {
        shared.expected [i] = run.ctx.evidence [i].count;
        cr_assert_gt (shared.expected [i], 0);
    }
    pthread_t threads [4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq (pthread_create (&threads [i], NULL, s_thread_main, &shared), 0);
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        void *result;
        pthread_join (threads [i], &result);
        failures += (int) (intptr_t) result;
    }
    cr_assert_eq (failures, 0);
    s_run_fini (&run);
    free (text);
}

//  ---------------------------------------------------------------------
//  Agreement with Python's re.finditer

//  Reads the spec (text file, patterns, group size), prints per pattern
//  the count and the first `cap` (start, end) byte offsets, and per group
//  of `group` consecutive patterns the distinct start count and the first
//  `cap` (start, longest length) pairs.
static const char *s_python_script =
    "import itertools, json, re, sys\n"
    "spec = json.load(open(sys.argv[1], encoding='utf-8'))\n"
    "with open(spec['text'], encoding='utf-8', newline='') as f:\n"
    "    text = f.read()\n"
    "b = list(itertools.accumulate((len(c.encode('utf-8')) for c in text), initial=0))\n"
    "cap = spec['cap']\n"
    "out = {'patterns': [], 'groups': []}\n"
    "found = []\n"
    "for p in spec['patterns']:\n"
    "    flags = (re.I if p['flags'] & 1 else 0) | (re.M if p['flags'] & 2 else 0) \\\n"
    "          | (re.S if p['flags'] & 4 else 0)\n"
    "    rx = re.escape(p['regex']) if p['flags'] & 8 else p['regex']\n"
    "    try:\n"
    "        c = re.compile(rx, flags)\n"
    "    except Exception as e:\n"
    "        out['patterns'].append({'ok': False, 'error': str(e)})\n"
    "        found.append(None)\n"
    "        continue\n"
    "    spans = [(b[m.start()], b[m.end()]) for m in c.finditer(text)]\n"
    "    found.append(spans)\n"
    "    out['patterns'].append({'ok': True, 'count': len(spans), 'first': spans[:cap]})\n"
    "g = spec['group']\n"
    "for i in range(0, len(found), g):\n"
    "    longest = {}\n"
    "    for spans in found[i:i + g]:\n"
    "        for s, e in spans or []:\n"
    "            longest[s] = max(longest.get(s, -1), e - s)\n"
    "    starts = sorted(longest)\n"
    "    out['groups'].append({'count': len(starts),\n"
    "                          'first': [(s, longest[s]) for s in starts[:cap]]})\n"
    "json.dump(out, open(sys.argv[2], 'w'))\n";

#define S_AGREE_CAP 200
#define S_AGREE_GROUP 4

//  Compares text.match_patterns with Python over patterns (each its own
//  element type, then in groups sharing one). Patterns PCRE2 or Python
//  refuses are left out and counted. Returns the patterns compared.
static size_t
s_agree (const char *text_path, const t_pattern_t *candidates, size_t count, const char *label)
{
    size_t size;
    char *text = ff_test_read_file (text_path, &size);
    cr_assert_not_null (text, "cannot read %s", text_path);
    //  Keep what PCRE2 compiles.
    t_pattern_t *kept = (t_pattern_t *) calloc (count + 1, sizeof (t_pattern_t));
    char (*types) [24] = calloc (count + 1, 24);
    size_t kept_count = 0, pcre2_refused = 0;
    for (size_t i = 0; i < count; i++) {
        fac_pattern_t pattern = { .id = (char *) "x", .regex = (char *) candidates [i].regex,
                                  .flags = candidates [i].flags, .element_type = (char *) "x",
                                  .weight = 1 };
        pcre2_code *code;
        char err [200];
        if (fac_pattern_compile (&pattern, &code, err, sizeof err) != 0) {
            if (pcre2_refused++ < 3)
                cr_log_error ("%s: fac_pattern_compile refuses /%s/ (flags %u), which Python "
                              "compiles or must: %s", label, candidates [i].regex,
                              candidates [i].flags, err);
            continue;
        }
        pcre2_code_free (code);
        kept [kept_count] = candidates [i];
        snprintf (types [kept_count], 24, "t%zu", kept_count);
        kept [kept_count].type = types [kept_count];
        kept_count++;
    }
    json_t *spec = json_pack ("{s:s, s:i, s:i, s:[]}", "text", text_path, "cap", S_AGREE_CAP,
                              "group", S_AGREE_GROUP, "patterns");
    for (size_t i = 0; i < kept_count; i++)
        json_array_append_new (json_object_get (spec, "patterns"),
                               json_pack ("{s:s, s:i}", "regex", kept [i].regex,
                                          "flags", (int) kept [i].flags));
    json_t *python = ff_test_python_json (s_python_script, spec);
    json_decref (spec);

    //  Each pattern alone.
    char params [64];
    snprintf (params, sizeof params, "{\"max_matches\": %d}", S_AGREE_CAP);
    t_run_t run;
    s_run_init (&run, kept, kept_count, NULL, 0, text, size);
    ff_test_step_ok (&run.ctx, "text.match_patterns", params);
    cr_assert_eq (run.ctx.evidence_count, kept_count);
    size_t compared = 0, python_refused = 0, mismatches = 0;
    uint64_t total = 0;
    json_t *per_pattern = json_object_get (python, "patterns");
    for (size_t i = 0; i < kept_count; i++) {
        json_t *expected = json_array_get (per_pattern, i);
        if (!json_is_true (json_object_get (expected, "ok"))) {
            python_refused++;
            continue;
        }
        compared++;
        const fac_evidence_t *evidence = &run.ctx.evidence [i];
        json_t *first = json_object_get (expected, "first");
        bool same = (json_int_t) evidence->count == json_integer_value (json_object_get (expected, "count"))
                 && evidence->match_count == json_array_size (first);
        for (size_t m = 0; same && m < evidence->match_count; m++) {
            json_t *span = json_array_get (first, m);
            same = (json_int_t) evidence->matches [m].offset == json_integer_value (json_array_get (span, 0))
                && (json_int_t) (evidence->matches [m].offset + evidence->matches [m].length)
                   == json_integer_value (json_array_get (span, 1));
        }
        total += evidence->count;
        if (!same && mismatches++ < 5)
            cr_log_error ("%s: /%s/ flags %u: C %u matches, Python %lld", label, kept [i].regex,
                          kept [i].flags, evidence->count,
                          (long long) json_integer_value (json_object_get (expected, "count")));
    }
    cr_assert_eq (mismatches, 0, "%s: %zu of %zu patterns disagree with Python re", label,
                  mismatches, compared);
    s_run_fini (&run);

    //  Groups of consecutive patterns sharing an element type (Python's
    //  refused ones are left out of both sides).
    t_pattern_t *grouped = (t_pattern_t *) calloc (kept_count + 1, sizeof (t_pattern_t));
    size_t grouped_count = 0;
    for (size_t i = 0; i < kept_count; i++) {
        grouped [grouped_count] = kept [i];
        grouped [grouped_count].type = types [i / S_AGREE_GROUP];
        if (json_is_true (json_object_get (json_array_get (per_pattern, i), "ok")))
            grouped_count++;
    }
    s_run_init (&run, grouped, grouped_count, NULL, 0, text, size);
    ff_test_step_ok (&run.ctx, "text.match_patterns", params);
    json_t *groups = json_object_get (python, "groups");
    size_t group_mismatches = 0;
    for (size_t g = 0; g < json_array_size (groups); g++) {
        json_t *expected = json_array_get (groups, g);
        const fac_evidence_t *evidence = NULL;
        for (size_t e = 0; e < run.ctx.evidence_count && !evidence; e++)
            if (strcmp (run.ctx.evidence [e].element_type, types [g]) == 0)
                evidence = &run.ctx.evidence [e];
        json_t *first = json_object_get (expected, "first");
        if (!evidence) {            // every pattern of the group refused by Python
            cr_assert_eq (json_integer_value (json_object_get (expected, "count")), 0);
            continue;
        }
        bool same = (json_int_t) evidence->count == json_integer_value (json_object_get (expected, "count"))
                 && evidence->match_count == json_array_size (first);
        for (size_t m = 0; same && m < evidence->match_count; m++) {
            json_t *pair = json_array_get (first, m);
            same = (json_int_t) evidence->matches [m].offset == json_integer_value (json_array_get (pair, 0))
                && (json_int_t) evidence->matches [m].length == json_integer_value (json_array_get (pair, 1));
        }
        if (!same && group_mismatches++ < 5)
            cr_log_error ("%s: group %zu: C %u distinct offsets, Python %lld", label, g,
                          evidence->count, (long long) json_integer_value (json_object_get (expected, "count")));
    }
    cr_assert_eq (group_mismatches, 0, "%s: %zu groups disagree", label, group_mismatches);
    s_run_fini (&run);

    cr_log_info ("%s: %zu patterns agree with Python re (%llu matches); left out: %zu PCRE2 "
                 "refused, %zu Python refused", label, compared, (unsigned long long) total,
                 pcre2_refused, python_refused);
    json_decref (python);
    free (grouped);
    free (types);
    free (kept);
    free (text);
    return compared;
}

//  Patterns of our own, over the features upstream uses and the corner
//  cases: accents and ñ under IGNORECASE, \b \w \d (Unicode), anchors with
//  MULTILINE, empty matches, lookbehind, alternation order, LITERAL, DOTALL.
static const t_pattern_t s_own_patterns [] = {
    { "poblaci[oó]n", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "POBLACIÓN", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "POBLACIÓN", 0, NULL, 1 },
    { "niñ[oa]s?", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "\\bmujer(es)?\\b", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "\\d+(?:[.,]\\d+)*\\s*%", 0, NULL, 1 },
    { "\\$\\s?\\d{1,3}(?:\\.\\d{3})+(?:,\\d+)?", 0, NULL, 1 },
    { "\\b(?:19|20)\\d{2}\\b", 0, NULL, 1 },
    { "^\\w+", FAC_PATTERN_MULTILINE, NULL, 1 },
    { "\\w+$", FAC_PATTERN_MULTILINE, NULL, 1 },
    { "^[A-ZÁÉÍÓÚÑ «»0-9–]+$", FAC_PATTERN_MULTILINE, NULL, 1 },
    { "¿[^?]+\\?", 0, NULL, 1 },
    { "¡[^!]+!", 0, NULL, 1 },
    { "x*", 0, NULL, 1 },
    { "(?:de)?", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "(?<=\\s)la\\b", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "\\bDANE\\b|\\bSISPRO\\b", 0, NULL, 1 },
    { "árbol|éxito|índice|órgano|único|über", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "ñ", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "a|ab", 0, NULL, 1 },
    { "$ 1.234", FAC_PATTERN_LITERAL, NULL, 1 },
    { "(?:3,5)", FAC_PATTERN_LITERAL | FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "\\s+", 0, NULL, 1 },
    { ".{1,40}", 0, NULL, 1 },
    { ".{1,40}", FAC_PATTERN_DOTALL, NULL, 1 },
    { "\\w*", 0, NULL, 1 },
    { "\\W+", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "(?i)comisar[ií]a de familia", 0, NULL, 1 },
    { "\\bmillones?\\s+de\\s+pesos\\b", FAC_PATTERN_IGNORECASE, NULL, 1 },
    { "$", FAC_PATTERN_MULTILINE, NULL, 1 },
    { "^", FAC_PATTERN_MULTILINE, NULL, 1 },
};

FF_TEST (methods, match_patterns_agree_with_python_on_the_fixture)
{
    if (access (S_PYTHON, X_OK) != 0)
        cr_skip_test ("%s not installed: Python re agreement not checked", S_PYTHON);
    size_t compared = s_agree (S_FIXTURE, s_own_patterns,
                               sizeof s_own_patterns / sizeof s_own_patterns [0], "fixture");
    //  All compile on both sides (LITERAL ones too).
    cr_assert_eq (compared, sizeof s_own_patterns / sizeof s_own_patterns [0]);
}

//  The upstream registry (every pattern, REGEX / NER_OR_REGEX as regexes,
//  LITERAL literally) over the real plan.
FF_TEST_OPTS (methods, match_patterns_agree_with_python_on_the_plan, .timeout = 240)
{
    if (access (S_PYTHON, X_OK) != 0)
        cr_skip_test ("%s not installed: Python re agreement not checked", S_PYTHON);
    const char *plan = S_UPSTREAM "/plans/Plan_1.txt";
    if (access (plan, R_OK) != 0)
        cr_skip_test ("%s absent: agreement on the real plan not checked", plan);
    //  Our own patterns on the plan.
    s_agree (plan, s_own_patterns, sizeof s_own_patterns / sizeof s_own_patterns [0], "plan");

    const char *index_path = S_UPSTREAM "/patterns/MASTER_INDEX.json";
    json_error_t error;
    json_t *index = json_load_file (index_path, 0, &error);
    if (!index)
        cr_skip_test ("%s absent or unreadable (%s): upstream patterns not checked", index_path,
                      error.text);
    json_t *patterns = json_object_get (index, "patterns");
    t_pattern_t *list = (t_pattern_t *) calloc (json_object_size (patterns) + 1, sizeof (t_pattern_t));
    size_t count = 0;
    const char *key;
    json_t *pattern;
    json_object_foreach (patterns, key, pattern) {
        json_t *spec = json_object_get (pattern, "pattern_spec");
        const char *regex = json_string_value (json_object_get (spec, "pattern"));
        const char *type = json_string_value (json_object_get (spec, "type"));
        if (!regex || !type)
            continue;
        uint32_t flags = strcmp (type, "LITERAL") == 0? FAC_PATTERN_LITERAL: 0;
        size_t i;
        json_t *flag;
        json_array_foreach (json_object_get (spec, "flags"), i, flag) {
            if (json_string_value (flag) && strcmp (json_string_value (flag), "IGNORECASE") == 0)
                flags |= FAC_PATTERN_IGNORECASE;
            if (json_string_value (flag) && strcmp (json_string_value (flag), "MULTILINE") == 0)
                flags |= FAC_PATTERN_MULTILINE;
        }
        list [count].regex = regex;
        list [count].flags = flags;
        list [count].weight = 1;
        count++;
    }
    size_t compared = s_agree (plan, list, count, "upstream registry on Plan_1");
    //  Every upstream pattern compiles on both sides (the ones left out
    //  are logged above).
    cr_assert_eq (compared, count, "only %zu of %zu patterns compared", compared, count);
    free (list);
    json_decref (index);
}

//  ---------------------------------------------------------------------
//  text.count_elements

//  Sets the evidence of ctx by hand: counts per expected element.
static void
s_set_counts (fac_context_t *ctx, const uint32_t *counts)
{
    const fac_contract_t *contract = ctx->compiled->contract;
    ctx->evidence = (fac_evidence_t *) calloc (contract->expected_count, sizeof (fac_evidence_t));
    cr_assert_not_null (ctx->evidence);
    for (size_t i = 0; i < contract->expected_count; i++) {
        ctx->evidence [i].element_type = contract->expected [i].type;
        ctx->evidence [i].minimum = contract->expected [i].minimum;
        ctx->evidence [i].required = contract->expected [i].required;
        ctx->evidence [i].expected = true;
        ctx->evidence [i].count = counts [i];
    }
    ctx->evidence_count = contract->expected_count;
}

static const t_expected_t s_four_elements [] = {
    { "fuentes_oficiales", 2, false },          // minimum only
    { "cobertura_territorial", 0, true },       // required only
    { "indicadores_cuantitativos", 3, true },   // both
    { "series_temporales", 0, false },          // neither: presence
};

FF_TEST (methods, count_elements_satisfaction_ratio_and_missing)
{
    static const t_pattern_t patterns [] = { { "x", 0, "fuentes_oficiales", 1 } };
    t_run_t run;
    s_run_init (&run, patterns, 1, s_four_elements, 4, "", 0);
    //  counts 1, 0, 4, 2 -> satisfaction min(1/2, 1) = 0.5; 0 (required,
    //  none); min(4/3, 1) = 1; 1 (present) -> ratio (0.5 + 0 + 1 + 1) / 4
    //  = 0.625; missing: fuentes_oficiales, cobertura_territorial.
    uint32_t counts [] = { 1, 0, 4, 2 };
    s_set_counts (&run.ctx, counts);
    ff_test_step_ok (&run.ctx, "text.count_elements", "{}");
    cr_assert (S_NEAR (run.ctx.ratio, 0.625), "ratio %g", run.ctx.ratio);
    json_t *output = ff_test_output (&run.ctx, "text.count_elements");
    json_t *missing = json_object_get (output, "missing_elements");
    cr_assert_eq (json_array_size (missing), 2);
    cr_assert_str_eq (json_string_value (json_array_get (missing, 0)), "fuentes_oficiales");
    cr_assert_str_eq (json_string_value (json_array_get (missing, 1)), "cobertura_territorial");
    json_t *elements = json_object_get (output, "elements");
    cr_assert_eq (json_array_size (elements), 4);
    double satisfactions [] = { 0.5, 0, 1, 1 };
    for (size_t i = 0; i < 4; i++)
        cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (elements, i),
                                                             "satisfaction")), satisfactions [i]));

    //  Weights {fuentes_oficiales: 2, cobertura_territorial: 0}:
    //  (2 * 0.5 + 0 * 0 + 1 * 1 + 1 * 1) / (2 + 0 + 1 + 1) = 3 / 4 = 0.75.
    ff_test_step_ok (&run.ctx, "text.count_elements",
               "{\"weights\": {\"fuentes_oficiales\": 2, \"cobertura_territorial\": 0}}");
    cr_assert (S_NEAR (run.ctx.ratio, 0.75), "ratio %g", run.ctx.ratio);
    //  A weight-0 element that is unsatisfied is still missing.
    missing = json_object_get (ff_test_output (&run.ctx, "text.count_elements"), "missing_elements");
    cr_assert_eq (json_array_size (missing), 2);
    s_run_fini (&run);

    //  Required and minimum 3 with 2 matches: the stricter, 2/3.
    s_run_init (&run, patterns, 1, s_four_elements, 4, "", 0);
    uint32_t some [] = { 2, 1, 2, 0 };
    s_set_counts (&run.ctx, some);
    //  (1 + 1 + 2/3 + 0) / 4 = 0.6667; missing: indicadores, series.
    ff_test_step_ok (&run.ctx, "text.count_elements", "{}");
    cr_assert (S_NEAR (run.ctx.ratio, (2.0 + 2.0 / 3.0) / 4.0), "ratio %g", run.ctx.ratio);
    missing = json_object_get (ff_test_output (&run.ctx, "text.count_elements"), "missing_elements");
    cr_assert_eq (json_array_size (missing), 2);
    cr_assert_str_eq (json_string_value (json_array_get (missing, 0)), "indicadores_cuantitativos");
    s_run_fini (&run);
}

FF_TEST (methods, count_elements_after_match_patterns_and_without_evidence)
{
    //  End to end on text: "DANE" twice (minimum 2: 1), "rural" absent
    //  (required: 0) -> ratio 0.5.
    const char *text = "Según el DANE y el dane, la zona urbana crece.";
    static const t_pattern_t patterns [] = {
        { "\\bDANE\\b", FAC_PATTERN_IGNORECASE, "fuentes_oficiales", 0.9 },
        { "\\brural\\b", FAC_PATTERN_IGNORECASE, "cobertura_territorial", 0.8 },
    };
    t_run_t run;
    s_run_init (&run, patterns, 2, s_four_elements, 2, text, strlen (text));
    cr_assert_eq (ff_test_step (&run.ctx, "text.count_elements", "{}"), -1);
    cr_assert (strstr (run.ctx.error, "no evidence"), "%s", run.ctx.error);
    cr_assert (isnan (run.ctx.ratio));
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");
    ff_test_step_ok (&run.ctx, "text.count_elements", "{}");
    cr_assert (S_NEAR (run.ctx.ratio, 0.5));
    s_run_fini (&run);
}

//  ---------------------------------------------------------------------
//  text.extract_numbers

FF_TEST (methods, extract_numbers_spanish_formats)
{
    //  Numbers (15): 12, 3,5, 1.234.567, 1.234.567 ($), 1.234.567,50 ($),
    //  500.000 (COP), 1.200 (millones de pesos), 2015, 2012, 2015, 300
    //  (US$, not pesos), 45, 1900, 2100, 1899. Not numbers: 1.2.3
    //  (section), x2 and 1º (a word character touches them).
    //  Percentages (3): 12%, 3,5 %, 45 por ciento. Currency (4): $ 1.234.567,
    //  $1.234.567,50, COP 500.000, 1.200 millones de pesos (1.2e9).
    //  Years (4): 2015, 2012, 2015, 1900 (2100 and 1899 are out of range).
    const char *text =
        "El 12% y 3,5 % de 1.234.567 personas; $ 1.234.567 y $1.234.567,50; "
        "COP 500.000; 1.200 millones de pesos; año 2015 y 2012–2015; sección 1.2.3; "
        "x2; 1º; US$ 300; 45 por ciento; 1900 y 2100 y 1899.";
    static const t_pattern_t patterns [] = { { "x", 0, "x", 1 } };
    t_run_t run;
    s_run_init (&run, patterns, 1, NULL, 0, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.extract_numbers", "{\"max_samples\": 10}");
    json_t *output = ff_test_output (&run.ctx, "text.extract_numbers");
    json_t *counts = json_object_get (output, "counts");
    cr_assert_eq (json_integer_value (json_object_get (counts, "numbers")), 15,
                  "%s", json_dumps (output, 0));
    cr_assert_eq (json_integer_value (json_object_get (counts, "percentages")), 3);
    cr_assert_eq (json_integer_value (json_object_get (counts, "currency")), 4);
    cr_assert_eq (json_integer_value (json_object_get (counts, "years")), 4);
    json_t *samples = json_object_get (output, "samples");
    json_t *numbers = json_object_get (samples, "numbers");
    cr_assert_eq (json_array_size (numbers), 10);
    //  Values: 12, 3.5, 1234567; first offset 3 ("El " before).
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (numbers, 0), "offset")), 3);
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (numbers, 1), "value")), 3.5));
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (numbers, 2), "value")), 1234567));
    json_t *percentages = json_object_get (samples, "percentages");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (percentages, 0), "text")), "12%");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (percentages, 1), "text")), "3,5 %");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (percentages, 2), "text")),
                      "45 por ciento");
    json_t *currency = json_object_get (samples, "currency");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (currency, 0), "text")), "$ 1.234.567");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (currency, 1), "text")), "$1.234.567,50");
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (currency, 1), "value")), 1234567.5));
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (currency, 2), "text")), "COP 500.000");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (currency, 3), "text")),
                      "1.200 millones de pesos");
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (currency, 3), "value")), 1.2e9));
    json_t *years = json_object_get (samples, "years");
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (years, 3), "value")), 1900));
    s_run_fini (&run);

    //  Other forms: "3.5%" (a dot not followed by three digits is a
    //  decimal point), "2.500 millones" (no pesos, no $: a number only),
    //  "$ 3 mil millones" (3e9), "MILLÓN de pesos" needs a number, "1,234.5"
    //  (English) is no number, nor is "12abc". Numbers: 3.5, 2500, 3, 1 = 4.
    const char *more = "Cobertura 3.5%; 2.500 millones; $ 3 mil millones; 1 MILLÓN de pesos; 1,234.5; 12abc";
    s_run_init (&run, patterns, 1, NULL, 0, more, strlen (more));
    ff_test_step_ok (&run.ctx, "text.extract_numbers", "{}");
    counts = json_object_get (ff_test_output (&run.ctx, "text.extract_numbers"), "counts");
    cr_assert_eq (json_integer_value (json_object_get (counts, "numbers")), 4);
    cr_assert_eq (json_integer_value (json_object_get (counts, "percentages")), 1);
    cr_assert_eq (json_integer_value (json_object_get (counts, "currency")), 2);
    samples = json_object_get (ff_test_output (&run.ctx, "text.extract_numbers"), "samples");
    currency = json_object_get (samples, "currency");
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (currency, 0), "value")), 3e9));
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (currency, 1), "value")), 1e6));
    s_run_fini (&run);

    //  Empty document: all zero.
    s_run_init (&run, patterns, 1, NULL, 0, "", 0);
    ff_test_step_ok (&run.ctx, "text.extract_numbers", "{}");
    counts = json_object_get (ff_test_output (&run.ctx, "text.extract_numbers"), "counts");
    cr_assert_eq (json_integer_value (json_object_get (counts, "numbers")), 0);
    s_run_fini (&run);
}

FF_TEST (methods, extract_numbers_as_elements_feed_the_evidence)
{
    //  "indicadores" (minimum 3) gets the 2 percentages; a pattern
    //  already found "12%" (same offset, quoted once, counted by both:
    //  1 + 2 = 3).
    const char *text = "La meta: 12% en 2024 y 30 % en 2027.";
    static const t_pattern_t patterns [] = { { "12%", 0, "indicadores", 1 } };
    static const t_expected_t expected [] = { { "indicadores", 3, false }, { "anios", 2, false } };
    t_run_t run;
    s_run_init (&run, patterns, 1, expected, 2, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.match_patterns", "{}");
    ff_test_step_ok (&run.ctx, "text.extract_numbers",
               "{\"as_elements\": {\"percentages\": \"indicadores\", \"years\": \"anios\"}}");
    const fac_evidence_t *indicadores = s_evidence (&run.ctx, "indicadores");
    cr_assert_eq (indicadores->count, 3);
    cr_assert_eq (indicadores->match_count, 2);         // 12% once, 30 %
    cr_assert_eq (indicadores->matches [0].offset, 9);
    cr_assert_eq (indicadores->matches [0].pattern, 0);
    cr_assert_eq (indicadores->matches [1].pattern, FAC_MATCH_EXTRACTED);
    const fac_evidence_t *anios = s_evidence (&run.ctx, "anios");
    cr_assert_eq (anios->count, 2);
    cr_assert_eq (anios->matches [0].pattern, FAC_MATCH_EXTRACTED);
    //  Both satisfied: ratio 1.
    ff_test_step_ok (&run.ctx, "text.count_elements", "{}");
    cr_assert (S_NEAR (run.ctx.ratio, 1.0));
    s_run_fini (&run);

    //  Without text.match_patterns the evidence is created from the
    //  expected elements.
    s_run_init (&run, patterns, 1, expected, 2, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.extract_numbers", "{\"as_elements\": {\"years\": \"anios\"}}");
    cr_assert_eq (run.ctx.evidence_count, 2);
    cr_assert_eq (s_evidence (&run.ctx, "indicadores")->count, 0);
    cr_assert_eq (s_evidence (&run.ctx, "anios")->count, 2);
    s_run_fini (&run);
}

//  ---------------------------------------------------------------------
//  text.keyword_density

FF_TEST (methods, keyword_density_counts_whole_words_case_insensitively)
{
    //  Words (\w+): El plan de desarrollo PLAN municipal planes y Plan
    //  = 9. "plan" whole words: plan, PLAN, Plan = 3 (not "planes");
    //  "desarrollo" 1. Occurrences 4: density 4 * 1000 / 9 = 444.44.
    const char *text = "El plan de desarrollo. PLAN municipal; planes y Plan.";
    static const t_pattern_t patterns [] = { { "x", 0, "x", 1 } };
    t_run_t run;
    s_run_init (&run, patterns, 1, NULL, 0, text, strlen (text));
    ff_test_step_ok (&run.ctx, "text.keyword_density", "{\"keywords\": [\"plan\", \"desarrollo\"]}");
    json_t *output = ff_test_output (&run.ctx, "text.keyword_density");
    cr_assert_eq (json_integer_value (json_object_get (output, "words")), 9);
    cr_assert_eq (json_integer_value (json_object_get (output, "occurrences")), 4);
    cr_assert (S_NEAR (json_real_value (json_object_get (output, "density_per_1000")), 4000.0 / 9));
    json_t *keywords = json_object_get (output, "keywords");
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (keywords, 0), "count")), 3);
    cr_assert (S_NEAR (json_real_value (json_object_get (json_array_get (keywords, 0), "density_per_1000")),
                       3000.0 / 9));
    //  Substrings: "plan" also inside "planes": 4.
    ff_test_step_ok (&run.ctx, "text.keyword_density", "{\"keywords\": [\"plan\"], \"whole_words\": false}");
    output = ff_test_output (&run.ctx, "text.keyword_density");
    cr_assert_eq (json_integer_value (json_object_get (output, "occurrences")), 4);
    s_run_fini (&run);

    //  Accent-sensitive, case-insensitive: "población" finds "POBLACIÓN"
    //  and "Población", not "poblacion". Words: 3. Keywords with
    //  punctuation are literal ("c++" is no regex).
    const char *accents = "POBLACIÓN poblacion Población c++";
    s_run_init (&run, patterns, 1, NULL, 0, accents, strlen (accents));
    ff_test_step_ok (&run.ctx, "text.keyword_density",
               "{\"keywords\": [\"población\", \"c++\"], \"whole_words\": false}");
    output = ff_test_output (&run.ctx, "text.keyword_density");
    cr_assert_eq (json_integer_value (json_object_get (output, "words")), 4);
    keywords = json_object_get (output, "keywords");
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (keywords, 0), "count")), 2);
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (keywords, 1), "count")), 1);
    s_run_fini (&run);

    //  Empty document: 0 words, density 0 (no division by zero).
    s_run_init (&run, patterns, 1, NULL, 0, "", 0);
    ff_test_step_ok (&run.ctx, "text.keyword_density", "{\"keywords\": [\"plan\"]}");
    output = ff_test_output (&run.ctx, "text.keyword_density");
    cr_assert_eq (json_integer_value (json_object_get (output, "words")), 0);
    cr_assert (S_NEAR (json_real_value (json_object_get (output, "density_per_1000")), 0));
    s_run_fini (&run);
}

FF_TEST (methods, keyword_density_agrees_with_python_lower)
{
    if (access (S_PYTHON, X_OK) != 0)
        cr_skip_test ("%s not installed", S_PYTHON);
    //  Python: words = len(re.findall(r'\w+', text)); substring mode:
    //  text.lower().count(keyword.lower()).
    static const char *keywords [] = { "población", "niñas", "mujeres", "ñ", "de la", "árbol", "dane" };
    size_t size;
    char *text = ff_test_read_file (S_FIXTURE, &size);
    cr_assert_not_null (text);
    char command [1024];
    snprintf (command, sizeof command,
              S_PYTHON " -c \"import re,sys; t=open(sys.argv[1],encoding='utf-8',newline='').read(); "
              "print(len(re.findall(r'\\w+', t)), *[t.lower().count(k.lower()) for k in sys.argv[2:]])\" "
              "%s población niñas mujeres ñ 'de la' árbol dane", S_FIXTURE);
    FILE *pipe = popen (command, "r");
    cr_assert_not_null (pipe);
    long long expected [8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq (fscanf (pipe, "%lld", &expected [i]), 1);
    cr_assert_eq (pclose (pipe), 0);

    static const t_pattern_t patterns [] = { { "x", 0, "x", 1 } };
    t_run_t run;
    s_run_init (&run, patterns, 1, NULL, 0, text, size);
    ff_test_step_ok (&run.ctx, "text.keyword_density",
               "{\"keywords\": [\"población\", \"niñas\", \"mujeres\", \"ñ\", \"de la\", \"árbol\", "
               "\"dane\"], \"whole_words\": false}");
    json_t *output = ff_test_output (&run.ctx, "text.keyword_density");
    cr_assert_eq (json_integer_value (json_object_get (output, "words")), expected [0]);
    json_t *counts = json_object_get (output, "keywords");
    for (size_t i = 0; i < sizeof keywords / sizeof keywords [0]; i++)
        cr_assert_eq (json_integer_value (json_object_get (json_array_get (counts, i), "count")),
                      expected [i + 1], "%s", keywords [i]);
    s_run_fini (&run);
    free (text);
}

//  ---------------------------------------------------------------------
//  score.modality

//  Scores a ratio (and per-element counts, for TYPE_B / TYPE_D) under a
//  modality; returns the score and sets *quality.
static double
s_modality (const char *modality, const char *scoring, const char *params, double ratio,
            const uint32_t *counts, const char **quality)
{
    static const t_expected_t expected [] = {
        { "e1", 2, false }, { "e2", 2, false }, { "e3", 2, false }, { "e4", 2, false },
    };
    static const t_pattern_t patterns [] = { { "x", 0, "e1", 1 } };
    fac_contract_t *contract = s_contract_new (patterns, 1, expected, counts? 4: 1, NULL, 0,
                                               modality, scoring);
    fac_compiled_t *compiled = ff_test_compile (contract);
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_context_init (&ctx, compiled, "", 0, NULL, 0, request);
    if (counts)
        s_set_counts (&ctx, counts);
    ctx.ratio = ratio;
    ff_test_step_ok (&ctx, "score.modality", params);
    double score = ctx.score;
    *quality = ctx.quality;
    json_t *output = ff_test_output (&ctx, "score.modality");
    cr_assert_str_eq (json_string_value (json_object_get (output, "quality")), ctx.quality);
    fac_context_fini (&ctx);
    ff_test_compiled_free (compiled);
    json_decref (request);
    return score;
}

FF_TEST (methods, modality_formulas)
{
    const char *quality;
    //  TYPE_A, presence_threshold, t = 0.7: r >= t -> 3r; else 3r * r/t.
    cr_assert (S_NEAR (s_modality ("TYPE_A", NULL, "{}", 1.0, NULL, &quality), 3.0));
    cr_assert_str_eq (quality, "EXCELENTE");
    cr_assert (S_NEAR (s_modality ("TYPE_A", NULL, "{}", 0.8, NULL, &quality), 2.4));
    cr_assert_str_eq (quality, "BUENO");                        // 0.8
    cr_assert (S_NEAR (s_modality ("TYPE_A", NULL, "{}", 0.7, NULL, &quality), 2.1));
    cr_assert_str_eq (quality, "BUENO");                        // 0.7 exactly
    //  0.5 < 0.7: 3 * 0.5 * (0.5 / 0.7) = 1.0714...
    cr_assert (S_NEAR (s_modality ("TYPE_A", NULL, "{}", 0.5, NULL, &quality), 1.5 * 0.5 / 0.7));
    cr_assert_str_eq (quality, "INSUFICIENTE");
    cr_assert (S_NEAR (s_modality ("TYPE_A", NULL, "{}", 0.0, NULL, &quality), 0.0));
    //  The contract's scoring.threshold 0.9: 0.8 < 0.9 -> 3 * 0.8 * 0.8 / 0.9.
    cr_assert (S_NEAR (s_modality ("TYPE_A", "{\"threshold\": 0.9}", "{}", 0.8, NULL, &quality),
                       2.4 * 0.8 / 0.9));
    //  params.threshold wins over the contract's: 0.6 -> 3 * 0.8.
    cr_assert (S_NEAR (s_modality ("TYPE_A", "{\"threshold\": 0.9}", "{\"threshold\": 0.6}", 0.8,
                                   NULL, &quality), 2.4));
    //  TYPE_C, t = 0.5: 0.5 -> 1.5; 0.4 -> 3 * 0.4 * 0.8 = 0.96.
    cr_assert (S_NEAR (s_modality ("TYPE_C", NULL, "{}", 0.5, NULL, &quality), 1.5));
    cr_assert (S_NEAR (s_modality ("TYPE_C", NULL, "{}", 0.4, NULL, &quality), 0.96));
    //  params.modality overrides the contract's (TYPE_A 0.4 would be
    //  3 * 0.4 * 0.4 / 0.7).
    cr_assert (S_NEAR (s_modality ("TYPE_A", NULL, "{\"modality\": \"TYPE_C\"}", 0.4, NULL, &quality), 0.96));

    //  TYPE_B, binary_sum: one point per satisfied element (count >=
    //  minimum 2), at most 3. Counts 2, 1, 5, 2 -> 3 satisfied -> 3.
    uint32_t three [] = { 2, 1, 5, 2 };
    cr_assert (S_NEAR (s_modality ("TYPE_B", NULL, "{}", 0.5, three, &quality), 3.0));
    //  All four satisfied: still 3.
    uint32_t four [] = { 2, 2, 2, 2 };
    cr_assert (S_NEAR (s_modality ("TYPE_B", NULL, "{}", 1.0, four, &quality), 3.0));
    //  Counts 3, 0, 1, 0 -> 1 point; 1/3 -> INSUFICIENTE.
    uint32_t one [] = { 3, 0, 1, 0 };
    cr_assert (S_NEAR (s_modality ("TYPE_B", NULL, "{}", 0.1, one, &quality), 1.0));
    cr_assert_str_eq (quality, "INSUFICIENTE");

    //  TYPE_D, weighted_sum [0.4, 0.3, 0.3] over the satisfactions sorted
    //  best first. Counts 1, 2, 0, 0 -> satisfactions 0.5, 1, 0, 0 ->
    //  sorted 1, 0.5, 0, 0 -> 3 * (0.4 * 1 + 0.3 * 0.5 + 0.3 * 0) = 1.65,
    //  1.65 / 3 = 0.55 exactly -> ACEPTABLE.
    uint32_t mixed [] = { 1, 2, 0, 0 };
    cr_assert (S_NEAR (s_modality ("TYPE_D", NULL, "{}", 0.375, mixed, &quality), 1.65));
    cr_assert_str_eq (quality, "ACEPTABLE");
    //  params.weights [0.5, 0.5]: 3 * (0.5 * 1 + 0.5 * 0.5) = 2.25.
    cr_assert (S_NEAR (s_modality ("TYPE_D", NULL, "{\"weights\": [0.5, 0.5]}", 0.375, mixed, &quality),
                       2.25));
    //  The contract's scoring.weights when an array: [1] -> 3 * 1 = 3.
    cr_assert (S_NEAR (s_modality ("TYPE_D", "{\"weights\": [1]}", "{}", 0.375, mixed, &quality), 3.0));
    //  Upstream's object of layer weights is not TYPE_D's: the default.
    cr_assert (S_NEAR (s_modality ("TYPE_D", "{\"weights\": {\"expected_elements\": 0.3}}", "{}",
                                   0.375, mixed, &quality), 1.65));

    //  TYPE_E, binary_presence, t = 0.65: r >= t -> 3, else 0.
    cr_assert (S_NEAR (s_modality ("TYPE_E", NULL, "{}", 0.65, NULL, &quality), 3.0));
    cr_assert (S_NEAR (s_modality ("TYPE_E", NULL, "{}", 0.64, NULL, &quality), 0.0));
    cr_assert_str_eq (quality, "INSUFICIENTE");

    //  TYPE_F, normalized_continuous (minmax over [0, 1]): 3r; 0.4 -> 1.2.
    cr_assert (S_NEAR (s_modality ("TYPE_F", NULL, "{}", 0.4, NULL, &quality), 1.2));
    //  range [0.2, 0.8]: 0.5 -> 3 * 0.3 / 0.6 = 1.5; 0.9 clamps to 3; 0.1 to 0.
    cr_assert (S_NEAR (s_modality ("TYPE_F", NULL, "{\"range\": [0.2, 0.8]}", 0.5, NULL, &quality), 1.5));
    cr_assert (S_NEAR (s_modality ("TYPE_F", NULL, "{\"range\": [0.2, 0.8]}", 0.9, NULL, &quality), 3.0));
    cr_assert (S_NEAR (s_modality ("TYPE_F", NULL, "{\"range\": [0.2, 0.8]}", 0.1, NULL, &quality), 0.0));
}

FF_TEST (methods, modality_needs_a_ratio_and_evidence)
{
    static const t_pattern_t patterns [] = { { "x", 0, "e1", 1 } };
    static const t_expected_t expected [] = { { "e1", 1, false } };
    t_run_t run;
    s_run_init (&run, patterns, 1, expected, 1, "", 0);
    cr_assert_eq (ff_test_step (&run.ctx, "score.modality", "{}"), -1);
    cr_assert (strstr (run.ctx.error, "no ratio"), "%s", run.ctx.error);
    cr_assert (isnan (run.ctx.score));
    cr_assert_null (run.ctx.quality);
    run.ctx.ratio = 0.5;
    cr_assert_eq (ff_test_step (&run.ctx, "score.modality", "{\"modality\": \"TYPE_B\"}"), -1);
    cr_assert (strstr (run.ctx.error, "evidence"), "%s", run.ctx.error);
    s_run_fini (&run);
}

//  ---------------------------------------------------------------------
//  Aggregations

static const char *const s_inputs [] = { "Q001_PA01", "Q002_PA01", "Q003_PA01" };

//  Runs an aggregation over inputs A = 3.0 (confidence 0.9), B = 1.5
//  (0.5), C = 2.4 (0.8), C's status given; returns rc.
static int
s_aggregate (const char *method, const char *params, int status_c, fac_context_t *ctx,
             fac_compiled_t **compiled_p, json_t *request)
{
    static fac_input_t inputs [3];
    inputs [0] = (fac_input_t) { .contract_id = "Q001_PA01", .status = 1, .score = 3.0, .quality = "EXCELENTE", .confidence = 0.9 };
    inputs [1] = (fac_input_t) { .contract_id = "Q002_PA01", .status = 1, .score = 1.5, .quality = "INSUFICIENTE", .confidence = 0.5 };
    inputs [2] = (fac_input_t) { .contract_id = "Q003_PA01", .status = status_c, .score = 2.4, .quality = "BUENO", .confidence = 0.8 };
    fac_contract_t *contract = s_contract_new (NULL, 0, NULL, 0, s_inputs, 3, "", NULL);
    *compiled_p = ff_test_compile (contract);
    fac_context_init (ctx, *compiled_p, NULL, 0, inputs, 3, request);
    return ff_test_step (ctx, method, params);
}

static void
s_aggregate_done (fac_context_t *ctx, fac_compiled_t *compiled)
{
    fac_context_fini (ctx);
    ff_test_compiled_free (compiled);
}

FF_TEST (methods, weighted_mean_with_missing_inputs)
{
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_compiled_t *compiled;
    //  Equal weights, all OK: (3 + 1.5 + 2.4) / 3 = 2.3; confidence
    //  (0.9 + 0.5 + 0.8) / 3 = 0.7333; 2.3 / 3 = 0.767 -> BUENO.
    cr_assert_eq (s_aggregate ("aggregate.weighted_mean", "{}", 1, &ctx, &compiled, request), 0,
                  "%s", ctx.error);
    cr_assert (S_NEAR (ctx.score, 2.3));
    cr_assert (S_NEAR (ctx.ratio, 2.3 / 3));
    cr_assert (S_NEAR (ctx.confidence, 2.2 / 3));
    cr_assert_str_eq (ctx.quality, "BUENO");
    s_aggregate_done (&ctx, compiled);

    //  Weights 2, 1, 1; C failed; skip: (2 * 3 + 1 * 1.5) / (2 + 1) = 2.5;
    //  confidence (0.9 + 0.5) / 2 = 0.7; 2.5 / 3 = 0.833 -> BUENO.
#define S_WEIGHTS "{\"weights\": {\"Q001_PA01\": 2, \"Q002_PA01\": 1, \"Q003_PA01\": 1}%s}"
    char params [256];
    snprintf (params, sizeof params, S_WEIGHTS, "");
    cr_assert_eq (s_aggregate ("aggregate.weighted_mean", params, 2, &ctx, &compiled, request), 0);
    cr_assert (S_NEAR (ctx.score, 2.5));
    cr_assert (S_NEAR (ctx.confidence, 0.7));
    cr_assert_str_eq (ctx.quality, "BUENO");
    json_t *output = ff_test_output (&ctx, "aggregate.weighted_mean");
    cr_assert_eq (json_array_size (json_object_get (output, "used")), 2);
    cr_assert_str_eq (json_string_value (json_array_get (json_object_get (output, "missing"), 0)),
                      "Q003_PA01");
    s_aggregate_done (&ctx, compiled);

    //  zero: (6 + 1.5 + 1 * 0) / 4 = 1.875; confidence (0.9 + 0.5 + 0) / 3
    //  = 0.4667; 0.625 -> ACEPTABLE.
    snprintf (params, sizeof params, S_WEIGHTS, ", \"on_missing\": \"zero\"");
    cr_assert_eq (s_aggregate ("aggregate.weighted_mean", params, 4, &ctx, &compiled, request), 0);
    cr_assert (S_NEAR (ctx.score, 1.875));
    cr_assert (S_NEAR (ctx.confidence, 1.4 / 3));
    cr_assert_str_eq (ctx.quality, "ACEPTABLE");
    s_aggregate_done (&ctx, compiled);

    //  An input absent from the request is missing too; all missing: error.
    fac_contract_t *contract = s_contract_new (NULL, 0, NULL, 0, s_inputs, 3, "", NULL);
    compiled = ff_test_compile (contract);
    fac_context_init (&ctx, compiled, NULL, 0, NULL, 0, request);
    cr_assert_eq (ff_test_step (&ctx, "aggregate.weighted_mean", "{}"), -1);
    cr_assert (strstr (ctx.error, "no input is OK"), "%s", ctx.error);
    cr_assert (isnan (ctx.score));
    s_aggregate_done (&ctx, compiled);

    //  An OK input whose score is off the 0-3 scale fails the step.
    fac_input_t bad [] = { { .contract_id = "Q001_PA01", .status = 1, .score = 4.5, .quality = "", .confidence = 0.5 } };
    contract = s_contract_new (NULL, 0, NULL, 0, s_inputs, 3, "", NULL);
    compiled = ff_test_compile (contract);
    fac_context_init (&ctx, compiled, NULL, 0, bad, 1, request);
    cr_assert_eq (ff_test_step (&ctx, "aggregate.weighted_mean", "{}"), -1);
    cr_assert (strstr (ctx.error, "Q001_PA01: score 4.5"), "%s", ctx.error);
    s_aggregate_done (&ctx, compiled);
    json_decref (request);
}

//  weights 0.4, 0.3, 0.2; interactions A-B +0.2 (complementary), B-C
//  -0.1 (redundant): 0.9 + 0.2 - 0.1 = 1; monotone (B: 0.3 - 0.1 >= 0,
//  C: 0.2 - 0.1 >= 0).
#define S_CHOQUET_PARAMS \
    "{\"weights\": {\"Q001_PA01\": 0.4, \"Q002_PA01\": 0.3, \"Q003_PA01\": 0.2}, " \
    "\"interactions\": [{\"a\": \"Q001_PA01\", \"b\": \"Q002_PA01\", \"value\": 0.2}, " \
    "{\"a\": \"Q002_PA01\", \"b\": \"Q003_PA01\", \"value\": -0.1}]%s}"

FF_TEST (methods, choquet_with_interactions_and_missing_inputs)
{
    json_t *request = json_object ();
    fac_context_t ctx;
    fac_compiled_t *compiled;
    char params [512];
    snprintf (params, sizeof params, S_CHOQUET_PARAMS, "");
    //  A 3, B 1.5, C 2.4: 0.4*3 + 0.3*1.5 + 0.2*2.4 + 0.2*min(3, 1.5)
    //  - 0.1*min(1.5, 2.4) = 1.2 + 0.45 + 0.48 + 0.3 - 0.15 = 2.28.
    cr_assert_eq (s_aggregate ("aggregate.choquet", params, 1, &ctx, &compiled, request), 0,
                  "%s", ctx.error);
    cr_assert (S_NEAR (ctx.score, 2.28), "%g", ctx.score);
    cr_assert_str_eq (ctx.quality, "BUENO");            // 0.76
    cr_assert (S_NEAR (ctx.confidence, 2.2 / 3));
    //  Shapley values: A 0.4 + 0.2/2 = 0.5; B 0.3 + 0.1 - 0.05 = 0.35;
    //  C 0.2 - 0.05 = 0.15.
    json_t *shapley = json_object_get (ff_test_output (&ctx, "aggregate.choquet"), "shapley");
    cr_assert (S_NEAR (json_real_value (json_object_get (shapley, "Q001_PA01")), 0.5));
    cr_assert (S_NEAR (json_real_value (json_object_get (shapley, "Q002_PA01")), 0.35));
    cr_assert (S_NEAR (json_real_value (json_object_get (shapley, "Q003_PA01")), 0.15));
    s_aggregate_done (&ctx, compiled);

    //  C failed, skip: capacity restricted to {A, B}, mu = 0.4 + 0.3 + 0.2
    //  = 0.9; (1.2 + 0.45 + 0.3) / 0.9 = 2.1667.
    cr_assert_eq (s_aggregate ("aggregate.choquet", params, 2, &ctx, &compiled, request), 0);
    cr_assert (S_NEAR (ctx.score, 1.95 / 0.9), "%g", ctx.score);
    cr_assert (S_NEAR (ctx.confidence, 0.7));
    s_aggregate_done (&ctx, compiled);

    //  zero: x_C = 0: 1.2 + 0.45 + 0 + 0.3 - 0.1*min(1.5, 0) = 1.95.
    snprintf (params, sizeof params, S_CHOQUET_PARAMS, ", \"on_missing\": \"zero\"");
    cr_assert_eq (s_aggregate ("aggregate.choquet", params, 2, &ctx, &compiled, request), 0);
    cr_assert (S_NEAR (ctx.score, 1.95), "%g", ctx.score);
    s_aggregate_done (&ctx, compiled);

    //  Without interactions it is the weighted mean: 0.5*3 + 0.5*1.5 = 2.25.
    cr_assert_eq (s_aggregate ("aggregate.choquet",
                               "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}}",
                               1, &ctx, &compiled, request), 0);
    cr_assert (S_NEAR (ctx.score, 2.25));
    s_aggregate_done (&ctx, compiled);

    //  Only C present but C weighs nothing alone: error (capacity 0).
    fac_input_t only_c [] = { { .contract_id = "Q003_PA01", .status = 1, .score = 2.0, .quality = "", .confidence = 0.5 } };
    fac_contract_t *contract = s_contract_new (NULL, 0, NULL, 0, s_inputs, 3, "", NULL);
    compiled = ff_test_compile (contract);
    fac_context_init (&ctx, compiled, NULL, 0, only_c, 1, request);
    cr_assert_eq (ff_test_step (&ctx, "aggregate.choquet",
                          "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}}"), -1);
    cr_assert (strstr (ctx.error, "no weight"), "%s", ctx.error);
    s_aggregate_done (&ctx, compiled);
    json_decref (request);
}

//  ---------------------------------------------------------------------
//  Check functions: every bad parameter, and what passes

typedef struct {
    const char *method;
    const char *params;
    const char *error;          // substring of the error; NULL = accepted
} t_check_t;

static void
s_checks (const fac_contract_t *contract, const fac_method_env_t *env,
          const t_check_t *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        json_t *params = ff_test_json (cases [i].params);
        char err [256] = "";
        const fac_method_t *method = fac_method_lookup (cases [i].method);
        cr_assert_not_null (method);
        int rc = method->check (params, contract, env, err, sizeof err);
        if (cases [i].error) {
            cr_assert_eq (rc, -1, "%s %s accepted", cases [i].method, cases [i].params);
            cr_assert (strstr (err, cases [i].error), "%s %s: \"%s\" lacks \"%s\"",
                       cases [i].method, cases [i].params, err, cases [i].error);
        }
        else
            cr_assert_eq (rc, 0, "%s %s refused: %s", cases [i].method, cases [i].params, err);
        json_decref (params);
    }
}

FF_TEST (methods, checks_of_the_text_methods)
{
    static const t_pattern_t patterns [] = { { "x", 0, "fuentes", 1 } };
    static const t_expected_t expected [] = { { "fuentes", 2, false }, { "indicadores", 0, true } };
    fac_contract_t *contract = s_contract_new (patterns, 1, expected, 2, NULL, 0, "TYPE_A", NULL);
    static const t_check_t cases [] = {
        { "text.match_patterns", "{}", NULL },
        { "text.match_patterns", "{\"max_matches\": 0}", NULL },
        { "text.match_patterns", "{\"max_matches\": 1000}", NULL },
        { "text.match_patterns", "[]", "params: text.match_patterns takes an object" },
        { "text.match_patterns", "{\"max_matches\": 1001}", "params.max_matches: 1001 is out of range" },
        { "text.match_patterns", "{\"max_matches\": -1}", "params.max_matches" },
        { "text.match_patterns", "{\"max_matches\": \"5\"}", "params.max_matches: must be an integer" },
        { "text.match_patterns", "{\"max_matches\": 2.5}", "params.max_matches: must be an integer" },
        { "text.match_patterns", "{\"max_match\": 5}", "params.max_match: unknown parameter" },
        { "text.count_elements", "{}", NULL },
        { "text.count_elements", "{\"weights\": {\"fuentes\": 2}}", NULL },
        { "text.count_elements", "{\"weights\": []}", "params.weights: must be an object" },
        { "text.count_elements", "{\"weights\": {\"otro\": 1}}", "params.weights.otro: not an expected element" },
        { "text.count_elements", "{\"weights\": {\"fuentes\": -1}}", "params.weights.fuentes: must be a number >= 0" },
        { "text.count_elements", "{\"weights\": {\"fuentes\": \"1\"}}", "params.weights.fuentes" },
        { "text.count_elements", "{\"weights\": {\"fuentes\": 0, \"indicadores\": 0}}",
          "params.weights: at least one" },
        { "text.count_elements", "{\"weight\": {}}", "params.weight: unknown parameter" },
        { "text.extract_numbers", "{}", NULL },
        { "text.extract_numbers", "{\"max_samples\": 0, \"as_elements\": {\"percentages\": \"indicadores\"}}", NULL },
        { "text.extract_numbers", "{\"max_samples\": 1001}", "params.max_samples" },
        { "text.extract_numbers", "{\"as_elements\": 1}", "params.as_elements: must be an object" },
        { "text.extract_numbers", "{\"as_elements\": {\"dates\": \"fuentes\"}}", "params.as_elements.dates: unknown category" },
        { "text.extract_numbers", "{\"as_elements\": {\"years\": 3}}", "params.as_elements.years: must be an element type" },
        { "text.extract_numbers", "{\"as_elements\": {\"years\": \"otro\"}}",
          "params.as_elements.years: \"otro\" is not an expected element" },
        { "text.extract_numbers", "{\"sample\": 1}", "params.sample: unknown parameter" },
        { "text.keyword_density", "{\"keywords\": [\"plan\"], \"whole_words\": false}", NULL },
        { "text.keyword_density", "{}", "params.keywords: must be an array of 1..256 strings" },
        { "text.keyword_density", "{\"keywords\": []}", "params.keywords: must be an array" },
        { "text.keyword_density", "{\"keywords\": \"plan\"}", "params.keywords: must be an array" },
        { "text.keyword_density", "{\"keywords\": [\"plan\", 3]}", "params.keywords[1]: must be a non-empty string" },
        { "text.keyword_density", "{\"keywords\": [\"\"]}", "params.keywords[0]: must be a non-empty string" },
        { "text.keyword_density", "{\"keywords\": [\"a\\u0000b\"]}", "params.keywords[0]" },
        { "text.keyword_density", "{\"keywords\": [\"plan\", \"plan\"]}", "params.keywords[1]: \"plan\" repeats" },
        { "text.keyword_density", "{\"keywords\": [\"plan\"], \"whole_words\": 1}", "params.whole_words: must be true or false" },
        { "text.keyword_density", "{\"keywords\": [\"plan\"], \"case\": 1}", "params.case: unknown parameter" },
    };
    s_checks (contract, NULL, cases, sizeof cases / sizeof cases [0]);
    //  Over-long keyword (201 bytes).
    char params [400];
    snprintf (params, sizeof params, "{\"keywords\": [\"%0201d\"]}", 0);
    t_check_t long_keyword = { "text.keyword_density", params, "params.keywords[0]: must be a non-empty string of at most 200" };
    s_checks (contract, NULL, &long_keyword, 1);
    ff_test_contract_free (contract);

    //  A contract without patterns / expected elements.
    contract = s_contract_new (NULL, 0, NULL, 0, NULL, 0, "TYPE_A", NULL);
    static const t_check_t bare [] = {
        { "text.match_patterns", "{}", "patterns: text.match_patterns needs at least one pattern" },
        { "text.count_elements", "{}", "expected_elements: text.count_elements needs at least one" },
        { "text.extract_numbers", "{\"as_elements\": {\"years\": \"fuentes\"}}", "params.as_elements.years" },
        { "text.extract_numbers", "{}", NULL },
    };
    s_checks (contract, NULL, bare, sizeof bare / sizeof bare [0]);
    ff_test_contract_free (contract);
}

FF_TEST (methods, checks_of_score_modality)
{
    static const t_expected_t expected [] = { { "e1", 2, false } };
    fac_contract_t *contract = s_contract_new (NULL, 0, expected, 1, NULL, 0, "TYPE_A", NULL);
    static const t_check_t cases [] = {
        { "score.modality", "{}", NULL },
        { "score.modality", "{\"modality\": \"TYPE_F\", \"range\": [0, 0.5]}", NULL },
        { "score.modality", "{\"modality\": \"TYPE_D\", \"weights\": [0.5, 0.25, 0.25]}", NULL },
        { "score.modality", "{\"threshold\": 0}", NULL },
        { "score.modality", "{\"threshold\": 1}", NULL },
        { "score.modality", "{\"modality\": \"TYPE_G\"}", "params.modality: unknown modality \"TYPE_G\"" },
        { "score.modality", "{\"modality\": 1}", "params.modality: must be a string" },
        { "score.modality", "{\"threshold\": 1.5}", "params.threshold: 1.5 is out of range" },
        { "score.modality", "{\"threshold\": \"0.5\"}", "params.threshold: must be a number" },
        { "score.modality", "{\"weights\": [1]}", "params.weights: only weighted_sum (TYPE_D)" },
        { "score.modality", "{\"modality\": \"TYPE_D\", \"weights\": [0.5, 0.4]}", "params.weights: must sum to 1" },
        { "score.modality", "{\"modality\": \"TYPE_D\", \"weights\": [1.5, -0.5]}", "params.weights[1]: must be a number >= 0" },
        { "score.modality", "{\"modality\": \"TYPE_D\", \"weights\": []}", "params.weights: must be an array of 1..16" },
        { "score.modality", "{\"modality\": \"TYPE_D\", \"weights\": {\"a\": 1}}", "params.weights: must be an array" },
        { "score.modality", "{\"range\": [0, 1]}", "params.range: only normalized_continuous (TYPE_F)" },
        { "score.modality", "{\"modality\": \"TYPE_F\", \"range\": [0.5, 0.5]}", "params.range: [0.5, 0.5] must satisfy" },
        { "score.modality", "{\"modality\": \"TYPE_F\", \"range\": [0, 1.5]}", "params.range" },
        { "score.modality", "{\"modality\": \"TYPE_F\", \"range\": [0]}", "params.range: must be [min, max]" },
        { "score.modality", "{\"modality\": \"TYPE_F\", \"range\": [\"0\", 1]}", "params.range: must be [min, max]" },
        { "score.modality", "{\"scale\": 3}", "params.scale: unknown parameter" },
    };
    s_checks (contract, NULL, cases, sizeof cases / sizeof cases [0]);
    ff_test_contract_free (contract);

    //  The contract's own fields.
    contract = s_contract_new (NULL, 0, expected, 1, NULL, 0, "", NULL);
    t_check_t none = { "score.modality", "{}", "params.modality: score.modality needs a modality" };
    s_checks (contract, NULL, &none, 1);
    ff_test_contract_free (contract);
    contract = s_contract_new (NULL, 0, expected, 1, NULL, 0, "TYPE_Z", NULL);
    t_check_t unknown = { "score.modality", "{}", "scoring.modality: unknown modality \"TYPE_Z\"" };
    s_checks (contract, NULL, &unknown, 1);
    ff_test_contract_free (contract);
    contract = s_contract_new (NULL, 0, expected, 1, NULL, 0, "TYPE_A", "{\"threshold\": 7}");
    t_check_t threshold = { "score.modality", "{}", "scoring.threshold: must be a number in 0..1" };
    s_checks (contract, NULL, &threshold, 1);
    ff_test_contract_free (contract);
    contract = s_contract_new (NULL, 0, expected, 1, NULL, 0, "TYPE_D", "{\"weights\": [0.2]}");
    t_check_t weights = { "score.modality", "{}", "scoring.weights: must sum to 1" };
    s_checks (contract, NULL, &weights, 1);
    ff_test_contract_free (contract);
    contract = s_contract_new (NULL, 0, NULL, 0, NULL, 0, "TYPE_B", NULL);
    t_check_t elements = { "score.modality", "{}", "expected_elements: TYPE_B (binary_sum) scores expected elements" };
    s_checks (contract, NULL, &elements, 1);
    ff_test_contract_free (contract);
}

FF_TEST (methods, checks_of_the_aggregations)
{
    fac_contract_t *contract = s_contract_new (NULL, 0, NULL, 0, s_inputs, 3, "", NULL);
    char choquet [512];
    snprintf (choquet, sizeof choquet, S_CHOQUET_PARAMS, "");
    const t_check_t cases [] = {
        { "aggregate.weighted_mean", "{}", NULL },
        { "aggregate.weighted_mean", "{\"on_missing\": \"zero\", \"weights\": {\"Q001_PA01\": 1, "
          "\"Q002_PA01\": 0, \"Q003_PA01\": 0}}", NULL },
        { "aggregate.weighted_mean", "{\"on_missing\": \"drop\"}", "params.on_missing: must be \"skip\" or \"zero\"" },
        { "aggregate.weighted_mean", "{\"on_missing\": 0}", "params.on_missing" },
        { "aggregate.weighted_mean", "{\"weights\": [1, 2, 3]}", "params.weights: must be an object" },
        { "aggregate.weighted_mean", "{\"weights\": {\"Q009_PA01\": 1}}",
          "params.weights.Q009_PA01: not an input of this contract" },
        { "aggregate.weighted_mean", "{\"weights\": {\"Q001_PA01\": -1}}", "params.weights.Q001_PA01: must be a number >= 0" },
        { "aggregate.weighted_mean", "{\"weights\": {\"Q001_PA01\": 1, \"Q002_PA01\": 1}}",
          "params.weights: input Q003_PA01 has no weight" },
        { "aggregate.weighted_mean", "{\"weights\": {\"Q001_PA01\": 0, \"Q002_PA01\": 0, \"Q003_PA01\": 0}}",
          "params.weights: at least one weight must be > 0" },
        { "aggregate.weighted_mean", "{\"interactions\": []}", "params.interactions: unknown parameter" },
        { "aggregate.choquet", choquet, NULL },
        { "aggregate.choquet", "{}", "params.weights: aggregate.choquet needs a weight for every input" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5}}",
          "params.weights: input Q003_PA01 has no weight" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.3, \"Q003_PA01\": 0.1}}",
          "weights plus interactions sum to 0.9, must be 1" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.3, \"Q003_PA01\": 0.3}, "
          "\"interactions\": [{\"a\": \"Q002_PA01\", \"b\": \"Q003_PA01\", \"value\": -0.4}, "
          "{\"a\": \"Q001_PA01\", \"b\": \"Q003_PA01\", \"value\": 0.3}]}",
          "not monotone for Q002_PA01: its weight 0.3 plus its negative interactions is -0.1" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": {}}", "params.interactions: must be an array" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": [3]}", "params.interactions[0]: must be an object" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": [{\"a\": \"Q001_PA01\", \"value\": 0}]}", "params.interactions[0].b: must be an input" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": [{\"a\": \"Q001_PA01\", \"b\": \"Q777_PA01\", \"value\": 0}]}",
          "params.interactions[0].b: Q777_PA01 is not an input" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": [{\"a\": \"Q001_PA01\", \"b\": \"Q001_PA01\", \"value\": 0}]}",
          "params.interactions[0]: a and b are both Q001_PA01" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": [{\"a\": \"Q001_PA01\", \"b\": \"Q002_PA01\", \"value\": \"x\"}]}",
          "params.interactions[0].value: must be a number" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": [{\"a\": \"Q001_PA01\", \"b\": \"Q002_PA01\", \"value\": 0, \"c\": 1}]}",
          "params.interactions[0].c: unknown key" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 0.5, \"Q002_PA01\": 0.5, \"Q003_PA01\": 0}, "
          "\"interactions\": [{\"a\": \"Q001_PA01\", \"b\": \"Q002_PA01\", \"value\": 0}, "
          "{\"a\": \"Q002_PA01\", \"b\": \"Q001_PA01\", \"value\": 0}]}",
          "params.interactions[1]: the pair Q002_PA01, Q001_PA01 is given twice" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": -0.5, \"Q002_PA01\": 1.5, \"Q003_PA01\": 0}}",
          "params.weights.Q001_PA01: must be a number >= 0" },
        { "aggregate.choquet", "{\"weights\": {\"Q001_PA01\": 1, \"Q002_PA01\": 0, \"Q003_PA01\": 0}, "
          "\"on_missing\": \"none\"}", "params.on_missing" },
    };
    s_checks (contract, NULL, cases, sizeof cases / sizeof cases [0]);
    ff_test_contract_free (contract);

    //  A contract without inputs cannot aggregate.
    contract = s_contract_new (NULL, 0, NULL, 0, NULL, 0, "", NULL);
    static const t_check_t bare [] = {
        { "aggregate.weighted_mean", "{}", "inputs.contracts: aggregate.weighted_mean aggregates input contracts" },
        { "aggregate.choquet", "{}", "inputs.contracts: aggregate.choquet aggregates" },
    };
    s_checks (contract, NULL, bare, sizeof bare / sizeof bare [0]);
    ff_test_contract_free (contract);
}

FF_TEST (methods, checks_of_io_wait_and_exec)
{
    fac_contract_t *contract = s_contract_new (NULL, 0, NULL, 0, NULL, 0, "", NULL);
    static const t_check_t wait [] = {
        { "io.wait", "{\"ms\": 0}", NULL },
        { "io.wait", "{\"ms\": 3600000}", NULL },
        { "io.wait", "{}", "params.ms: io.wait needs the time to wait" },
        { "io.wait", "{\"ms\": -1}", "params.ms: -1 is out of range 0..3600000" },
        { "io.wait", "{\"ms\": 3600001}", "params.ms: 3600001 is out of range" },
        { "io.wait", "{\"ms\": \"5\"}", "params.ms: must be an integer" },
        { "io.wait", "{\"ms\": 1.5}", "params.ms: must be an integer" },
        { "io.wait", "{\"ms\": 5, \"jitter\": 1}", "params.jitter: unknown parameter of io.wait (known: ms)" },
        { "io.wait", "null", "params: io.wait takes an object" },
    };
    s_checks (contract, NULL, wait, sizeof wait / sizeof wait [0]);

    //  No exec_allowed: disabled, whatever the program.
    static const t_check_t disabled [] = {
        { "exec", "{\"argv\": [\"/bin/true\"]}", "exec is disabled on this factory (exec_allowed)" },
    };
    s_checks (contract, NULL, disabled, 1);
    fac_method_env_t none = { NULL, 0 };
    s_checks (contract, &none, disabled, 1);

    const char *const allowed [] = { "/usr/bin/python3", "/opt/farfan/tools/" };
    fac_method_env_t env = { allowed, 2 };
    static const t_check_t exec [] = {
        { "exec", "{\"argv\": [\"/usr/bin/python3\", \"-c\", \"print(1)\"]}", NULL },
        { "exec", "{\"argv\": [\"/opt/farfan/tools/score\"], \"timeout_ms\": 500, \"output_cap\": 65536}", NULL },
        { "exec", "{\"argv\": [\"/opt/farfan/tools/sub/score\"]}", NULL },
        { "exec", "{}", "params.argv: exec needs a non-empty array of strings" },
        { "exec", "{\"argv\": []}", "params.argv: exec needs a non-empty array" },
        { "exec", "{\"argv\": \"/usr/bin/python3\"}", "params.argv: exec needs a non-empty array" },
        { "exec", "{\"argv\": [\"/usr/bin/python3\", 1]}", "params.argv[1]: must be a string" },
        { "exec", "{\"argv\": [\"/usr/bin/python3\", \"a\\u0000b\"]}", "params.argv[1]: contains a NUL" },
        { "exec", "{\"argv\": [\"python3\"]}", "params.argv[0]: \"python3\" must be an absolute path" },
        { "exec", "{\"argv\": [\"/usr/bin/python\"]}", "params.argv[0]: /usr/bin/python is not allowed on this factory" },
        { "exec", "{\"argv\": [\"/usr/bin/python3x\"]}", "is not allowed" },
        { "exec", "{\"argv\": [\"/opt/farfan/toolsX/score\"]}", "is not allowed" },
        { "exec", "{\"argv\": [\"/opt/farfan/tools/../../../bin/sh\"]}", "must be a normalised path" },
        { "exec", "{\"argv\": [\"/opt/farfan/tools/./score\"]}", "must be a normalised path" },
        { "exec", "{\"argv\": [\"/opt/farfan/tools//score\"]}", "must be a normalised path" },
        { "exec", "{\"argv\": [\"/opt/farfan/tools/\"]}", "must be a normalised path" },
        { "exec", "{\"argv\": [\"/usr/bin/python3\"], \"timeout_ms\": 0}", "params.timeout_ms: 0 is out of range" },
        { "exec", "{\"argv\": [\"/usr/bin/python3\"], \"timeout_ms\": \"1\"}", "params.timeout_ms: must be an integer" },
        { "exec", "{\"argv\": [\"/usr/bin/python3\"], \"output_cap\": 0}", "params.output_cap: 0 is out of range" },
        { "exec", "{\"argv\": [\"/usr/bin/python3\"], \"output_cap\": 67108865}", "params.output_cap" },
        { "exec", "{\"argv\": [\"/usr/bin/python3\"], \"env\": {}}", "params.env: unknown parameter of exec" },
    };
    s_checks (contract, &env, exec, sizeof exec / sizeof exec [0]);
    ff_test_contract_free (contract);
}
