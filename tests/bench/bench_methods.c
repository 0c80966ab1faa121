/*  bench_methods — text.match_patterns of 15 patterns over a real plan
    (../shared/farfan-upstream/plans/Plan_1.txt, or the bundled Spanish
    fixture when absent), in contracts per second on one core.

    Baseline, measured in the same run with rounds interleaved: a bare
    loop of pcre2_jit_match over the same compiled patterns and text
    (finditer-style, counting matches, one match data reused), no context,
    no evidence, no merging, no JSON. The ratio is what the method costs
    over the regex engine itself. A second row runs the micro pipeline
    (match_patterns, count_elements, score.modality) against the same
    baseline.

    The document methods of P00 and P01 (text.profile, text.sections) run
    on the same text, in µs per run, against a bare pass over it (one
    byte loop counting line breaks, spaces and form feeds), rounds
    interleaved.

    Usage: bench_methods [--scale X] [--rounds N] [--output PATH]
*/
#include "ff_bench.h"
#include "fac_method.h"
#include "farfan_build.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PLAN FARFAN_SOURCE_ROOT "/../shared/farfan-upstream/plans/Plan_1.txt"
#define S_FIXTURE FARFAN_SOURCE_ROOT "/tests/data/methods_es.txt"

//  Patterns of the kind a micro question uses (Q001: official sources,
//  indicators, years, territorial coverage), IGNORECASE | MULTILINE as
//  upstream writes them.
static const struct {
    const char *regex;
    const char *type;
} s_patterns [] = {
    { "l[ií]nea base|a[ñn]o base|situaci[oó]n inicial|diagn[oó]stico", "series_temporales_años" },
    { "DANE|Medicina Legal|Fiscal[ií]a|Polic[ií]a Nacional|SIVIGILA|SISPRO", "fuentes_oficiales" },
    { "Secretar[ií]a de (?:la Mujer|Salud|Educaci[oó]n|Gobierno)|Comisar[ií]a de Familia", "fuentes_oficiales" },
    { "Encuesta Nacional de Demograf[ií]a y Salud|ENDS|censo", "fuentes_oficiales" },
    { "violencia intrafamiliar|violencia basada en g[eé]nero|delitos sexuales|feminicidio", "indicadores_cuantitativos" },
    { "\\d+(?:[.,]\\d+)?\\s*%", "indicadores_cuantitativos" },
    { "tasa de \\w+|[ií]ndice de \\w+|cobertura (?:de|en) \\w+", "indicadores_cuantitativos" },
    { "por cada 100\\.000|por 100 mil habitantes", "indicadores_cuantitativos" },
    { "\\b(?:19|20)\\d{2}\\b", "series_temporales_años" },
    { "serie hist[oó]rica|evoluci[oó]n 20\\d{2}-20\\d{2}|tendencia|desde \\d{4}", "series_temporales_años" },
    { "\\b(?:rural|urbano|urbana|cabecera municipal|vereda|corregimiento)s?\\b", "cobertura_territorial_especificada" },
    { "\\bmujer(?:es)?\\b|\\bni[ñn]as?\\b", "cobertura_territorial_especificada" },
    { "ind[ií]genas?|afrodescendientes?|comunidades negras|raizal", "cobertura_territorial_especificada" },
    { "^\\s*\\d+(?:\\.\\d+)*\\s+[A-ZÁÉÍÓÚÑ]", "estructura" },
    { "\\$\\s?\\d{1,3}(?:\\.\\d{3})+(?:,\\d+)?|millones de pesos", "presupuesto" },
};
#define S_PATTERN_COUNT (sizeof s_patterns / sizeof s_patterns [0])

static const fac_expected_t s_expected_template [] = {
    { (char *) "cobertura_territorial_especificada", 0, true },
    { (char *) "fuentes_oficiales", 2, false },
    { (char *) "indicadores_cuantitativos", 3, false },
    { (char *) "series_temporales_años", 3, false },
};
#define S_EXPECTED_COUNT (sizeof s_expected_template / sizeof s_expected_template [0])

static char *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *data = NULL;
    if (fseek (file, 0, SEEK_END) == 0) {
        long length = ftell (file);
        if (length >= 0 && fseek (file, 0, SEEK_SET) == 0
        &&  (data = (char *) malloc ((size_t) length + 1))) {
            if (fread (data, 1, (size_t) length, file) != (size_t) length) {
                free (data);
                data = NULL;
            }
            else {
                data [length] = '\0';
                *size = (size_t) length;
            }
        }
    }
    fclose (file);
    return data;
}

//  The bare loop: every pattern over the text, counting matches as
//  re.finditer would (NOTEMPTY_ATSTART after an empty match).
static uint64_t
s_bare (pcre2_code **codes, const char *text, size_t size, pcre2_match_data *match_data)
{
    uint64_t matches = 0;
    for (size_t p = 0; p < S_PATTERN_COUNT; p++) {
        PCRE2_SIZE offset = 0;
        uint32_t options = 0;
        while (offset <= size) {
            int rc = pcre2_jit_match (codes [p], (PCRE2_SPTR) text, size, offset, options,
                                      match_data, NULL);
            if (rc < 0)
                break;
            PCRE2_SIZE *ovector = pcre2_get_ovector_pointer (match_data);
            matches++;
            options = ovector [1] == ovector [0]? PCRE2_NOTEMPTY_ATSTART: 0;
            offset = ovector [1];
        }
    }
    return matches;
}

//  One contract: a fresh context, the steps, the context freed. Returns
//  the matches counted (for the cross-check with the bare loop), or -1.
static int64_t
s_contract (const fac_compiled_t *compiled, const char *text, size_t size, const json_t *request,
            const json_t *const *steps, const fac_method_t *const *methods, size_t step_count)
{
    fac_context_t ctx;
    fac_context_init (&ctx, compiled, text, size, NULL, 0, request);
    int64_t matches = 0;
    for (size_t s = 0; s < step_count && matches == 0; s++)
        if (methods [s]->run (&ctx, steps [s]) != 0) {
            fprintf (stderr, "bench_methods: %s\n", ctx.error);
            matches = -1;
        }
    if (matches == 0) {
        json_t *output = json_object_get (ctx.output, "text.match_patterns");
        matches = json_integer_value (json_object_get (output, "total_matches"));
    }
    fac_context_fini (&ctx);
    return matches;
}

//  One pass over the text, the least any document method does.
static uint64_t
s_bare_scan (const char *text, size_t size)
{
    uint64_t count = 0;
    for (size_t i = 0; i < size; i++)
        count += text [i] == '\n' || text [i] == ' ' || text [i] == '\f';
    return count;
}

//  One run of a document method in a fresh context; 0 or -1.
static int
s_document_run (const fac_method_t *method, const fac_compiled_t *compiled, const char *text,
                size_t size, const json_t *request, const json_t *params)
{
    fac_context_t ctx;
    fac_context_init (&ctx, compiled, text, size, NULL, 0, request);
    int rc = method->run (&ctx, params);
    if (rc)
        fprintf (stderr, "bench_methods: %s\n", ctx.error);
    fac_context_fini (&ctx);
    return rc;
}

//  text.profile and text.sections against the bare pass, µs per run (the
//  median round over its runs).
static void
s_bench_document (ff_bench_t *bench, const fac_compiled_t *compiled, const char *text, size_t size,
                  const json_t *request)
{
    const fac_method_t *profile = fac_method_lookup ("text.profile");
    const fac_method_t *sections = fac_method_lookup ("text.sections");
    json_t *profile_params = json_pack ("{s:i, s:i}", "min_bytes", 0, "min_words", 0);
    json_t *sections_params = json_object ();
    size_t rounds = (size_t) ff_bench_rounds (bench);
    size_t per_round = ff_bench_scaled (bench, 200, 5 * rounds) / rounds;
    if (per_round == 0)
        per_round = 1;
    ff_bench_samples_t *bare_rounds = ff_bench_samples_new (rounds);
    ff_bench_samples_t *profile_rounds = ff_bench_samples_new (rounds);
    ff_bench_samples_t *sections_rounds = ff_bench_samples_new (rounds);
    volatile uint64_t sink = 0;
    bool failed = !profile || !sections || !profile_params || !sections_params;
    for (size_t i = 0; i < 3 && !failed; i++) {
        sink += s_bare_scan (text, size);
        failed = s_document_run (profile, compiled, text, size, request, profile_params)
              || s_document_run (sections, compiled, text, size, request, sections_params);
    }
    for (size_t r = 0; r < rounds && !failed; r++) {
        uint64_t t0 = ff_bench_now_ns ();
        for (size_t i = 0; i < per_round; i++)
            sink += s_bare_scan (text, size);
        uint64_t t1 = ff_bench_now_ns ();
        for (size_t i = 0; i < per_round && !failed; i++)
            failed = s_document_run (profile, compiled, text, size, request, profile_params) != 0;
        uint64_t t2 = ff_bench_now_ns ();
        for (size_t i = 0; i < per_round && !failed; i++)
            failed = s_document_run (sections, compiled, text, size, request, sections_params) != 0;
        uint64_t t3 = ff_bench_now_ns ();
        ff_bench_samples_add (bare_rounds, t1 - t0);
        ff_bench_samples_add (profile_rounds, t2 - t1);
        ff_bench_samples_add (sections_rounds, t3 - t2);
    }
    (void) sink;
    if (failed)
        ff_bench_fail (bench, "a document method failed");
    else {
        double runs = (double) per_round * 1000.0;
        ff_bench_recordf (bench, "text.bare_scan", (double) ff_bench_samples_percentile (bare_rounds, 50) / runs,
                          "us", NULL, "one byte loop over %zu bytes, median of %zu rounds of %zu",
                          size, rounds, per_round);
        ff_bench_recordf (bench, "methods.text_profile",
                          (double) ff_bench_samples_percentile (profile_rounds, 50) / runs, "us",
                          "text.bare_scan", "P00: counts, words, Spanish share (context + output JSON)");
        ff_bench_recordf (bench, "methods.text_sections",
                          (double) ff_bench_samples_percentile (sections_rounds, 50) / runs, "us",
                          "text.bare_scan", "P01: lines, running headers, headings, sections, chunks");
    }
    ff_bench_samples_destroy (&bare_rounds);
    ff_bench_samples_destroy (&profile_rounds);
    ff_bench_samples_destroy (&sections_rounds);
    json_decref (profile_params);
    json_decref (sections_params);
}

int
main (int argc, char **argv)
{
    ff_bench_t *bench = ff_bench_new ("methods");
    if (!bench)
        return 1;
    int rc = ff_bench_args (bench, argc, argv);
    if (rc) {
        ff_bench_destroy (&bench);
        return rc == 1? 0: 2;
    }
    const char *path = S_PLAN;
    size_t size = 0;
    char *text = s_read_file (path, &size);
    if (!text) {
        printf ("bench methods: %s absent, using the bundled fixture\n", S_PLAN);
        path = S_FIXTURE;
        text = s_read_file (path, &size);
    }
    //  The contract, by hand (as a parsed one would be).
    fac_contract_t contract;
    memset (&contract, 0, sizeof contract);
    fac_pattern_t patterns [S_PATTERN_COUNT];
    fac_expected_t expected [S_EXPECTED_COUNT];
    pcre2_code *codes [S_PATTERN_COUNT] = { NULL };
    char ids [S_PATTERN_COUNT][16];
    memcpy (expected, s_expected_template, sizeof expected);
    contract.id = (char *) "Q001_PA01";
    contract.modality = (char *) "TYPE_A";
    contract.patterns = patterns;
    contract.pattern_count = S_PATTERN_COUNT;
    contract.expected = expected;
    contract.expected_count = S_EXPECTED_COUNT;
    fac_compiled_t compiled = { &contract, codes, 0 };
    pcre2_match_data *match_data = pcre2_match_data_create (1, NULL);
    json_t *request = json_object ();
    json_t *empty = json_object ();
    json_t *scoring = json_object ();
    contract.scoring = scoring;
    size_t jit = 0;
    bool ready = text && match_data && request && empty && scoring;
    for (size_t p = 0; ready && p < S_PATTERN_COUNT; p++) {
        snprintf (ids [p], sizeof ids [p], "P%02zu", p);
        patterns [p] = (fac_pattern_t) { ids [p], (char *) s_patterns [p].regex,
                                         FAC_PATTERN_IGNORECASE | FAC_PATTERN_MULTILINE,
                                         (char *) s_patterns [p].type, 0.85 };
        char err [256];
        if (fac_pattern_compile (&patterns [p], &codes [p], err, sizeof err) != 0) {
            ff_bench_fail (bench, "pattern %zu: %s", p, err);
            ready = false;
        }
        size_t jit_size = 0;
        if (codes [p] && pcre2_pattern_info (codes [p], PCRE2_INFO_JITSIZE, &jit_size) == 0 && jit_size)
            jit++;
    }
    if (!ready) {
        if (!text)
            ff_bench_fail (bench, "cannot read %s", path);
        goto done;
    }
    printf ("bench methods: text.match_patterns, %zu patterns (%zu JIT-compiled) over %s "
            "(%zu bytes), one core, scale %g\n", S_PATTERN_COUNT, jit, path, size,
            ff_bench_scale (bench));
    fflush (stdout);

    const fac_method_t *match = fac_method_lookup ("text.match_patterns");
    const fac_method_t *pipeline [] = {
        match, fac_method_lookup ("text.count_elements"), fac_method_lookup ("score.modality"),
    };
    const json_t *pipeline_params [] = { empty, empty, empty };

    //  Cross-check: the method finds every match the bare loop finds (its
    //  total_matches is per pattern, like the loop's).
    uint64_t bare_matches = s_bare (codes, text, size, match_data);
    int64_t our_matches = s_contract (&compiled, text, size, request, pipeline_params, pipeline, 3);
    if (our_matches < 0 || (uint64_t) our_matches != bare_matches) {
        ff_bench_fail (bench, "text.match_patterns counted %lld matches, the bare loop %llu",
                       (long long) our_matches, (unsigned long long) bare_matches);
        goto done;
    }

    size_t rounds = (size_t) ff_bench_rounds (bench);
    size_t per_round = ff_bench_scaled (bench, 200, 5 * rounds) / rounds;
    if (per_round == 0)
        per_round = 1;
    ff_bench_samples_t *bare_rounds = ff_bench_samples_new (rounds);
    ff_bench_samples_t *match_rounds = ff_bench_samples_new (rounds);
    ff_bench_samples_t *pipeline_rounds = ff_bench_samples_new (rounds);
    volatile uint64_t sink = 0;
    //  Warm-up: caches, JIT code pages, allocator.
    for (size_t i = 0; i < 3; i++) {
        sink += s_bare (codes, text, size, match_data);
        sink += (uint64_t) s_contract (&compiled, text, size, request, pipeline_params, pipeline, 3);
    }
    bool failed = false;
    for (size_t r = 0; r < rounds && !failed; r++) {
        //  Interleaved (a b c, a b c, ...): the three see the same load.
        uint64_t t0 = ff_bench_now_ns ();
        for (size_t i = 0; i < per_round; i++)
            sink += s_bare (codes, text, size, match_data);
        uint64_t t1 = ff_bench_now_ns ();
        for (size_t i = 0; i < per_round && !failed; i++)
            failed = s_contract (&compiled, text, size, request, pipeline_params, pipeline, 1) < 0;
        uint64_t t2 = ff_bench_now_ns ();
        for (size_t i = 0; i < per_round && !failed; i++)
            failed = s_contract (&compiled, text, size, request, pipeline_params, pipeline, 3) < 0;
        uint64_t t3 = ff_bench_now_ns ();
        ff_bench_samples_add (bare_rounds, t1 - t0);
        ff_bench_samples_add (match_rounds, t2 - t1);
        ff_bench_samples_add (pipeline_rounds, t3 - t2);
    }
    (void) sink;
    if (failed)
        ff_bench_fail (bench, "a contract run failed");
    else {
        char context [160];
        snprintf (context, sizeof context, "%zu patterns, %zu bytes, %llu matches/contract",
                  S_PATTERN_COUNT, size, (unsigned long long) bare_matches);
        ff_bench_record_rounds (bench, "pcre2.bare_loop", per_round, bare_rounds, "contracts/s",
                                NULL, context);
        ff_bench_record_rounds (bench, "methods.match_patterns", per_round, match_rounds,
                                "contracts/s", "pcre2.bare_loop", "context + evidence + output JSON");
        ff_bench_record_rounds (bench, "methods.micro_pipeline", per_round, pipeline_rounds,
                                "contracts/s", "pcre2.bare_loop",
                                "match_patterns + count_elements + score.modality");
    }
    ff_bench_samples_destroy (&bare_rounds);
    ff_bench_samples_destroy (&match_rounds);
    ff_bench_samples_destroy (&pipeline_rounds);
    if (!failed)
        s_bench_document (bench, &compiled, text, size, request);
done:
    rc = ff_bench_finish (bench);
    for (size_t p = 0; p < S_PATTERN_COUNT; p++)
        pcre2_code_free (codes [p]);
    pcre2_match_data_free (match_data);
    json_decref (request);
    json_decref (empty);
    json_decref (scoring);
    free (text);
    ff_bench_destroy (&bench);
    return rc? 1: 0;
}
