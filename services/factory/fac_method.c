/*  fac_method — the method registry and the context (see fac_method.h;
    formulas in proto/methods.md). */
#include "fac_methods.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  core.noop: takes no parameters and changes nothing; a contract made of it
//  measures the factory's own cost per contract (bench_factory, noop).
static int
s_noop_check (const json_t *params, const fac_contract_t *contract,
              const fac_method_env_t *env, char *err, size_t err_size)
{
    (void) contract;
    (void) env;
    static const char *const none [] = { NULL };
    return fac_methods_check_keys (params, "core.noop", none, err, err_size);
}

static int
s_noop_run (fac_context_t *ctx, const json_t *params)
{
    (void) ctx;
    (void) params;
    return 0;
}

//  report.assemble (fac_methods_report.c).
fac_method_check_fn fac_methods_report_check;
fac_method_run_fn   fac_methods_report_run;

//  text.profile, text.sections (fac_methods_doc.c), score.from_input
//  (fac_methods_score.c), recommend.rules (fac_methods_recommend.c).
fac_method_check_fn fac_methods_profile_check;
fac_method_run_fn   fac_methods_profile_run;
fac_method_check_fn fac_methods_sections_check;
fac_method_run_fn   fac_methods_sections_run;
fac_method_check_fn fac_methods_from_input_check;
fac_method_run_fn   fac_methods_from_input_run;
fac_method_check_fn fac_methods_recommend_check;
fac_method_run_fn   fac_methods_recommend_run;

static const fac_method_t s_methods [] = {
    { "text.match_patterns", FAC_METHOD_CPU,
      fac_methods_match_patterns_check, fac_methods_match_patterns_run,
      "runs every pattern over the document (PCRE2); evidence per element type" },
    { "text.count_elements", FAC_METHOD_CPU,
      fac_methods_count_elements_check, fac_methods_count_elements_run,
      "satisfaction of each expected element from the evidence; ratio, missing elements" },
    { "text.extract_numbers", FAC_METHOD_CPU,
      fac_methods_extract_numbers_check, fac_methods_extract_numbers_run,
      "numbers, percentages, Colombian currency and years in the document" },
    { "text.keyword_density", FAC_METHOD_CPU,
      fac_methods_keyword_density_check, fac_methods_keyword_density_run,
      "occurrences of keywords per 1000 words (case-insensitive)" },
    { "text.profile", FAC_METHOD_CPU,
      fac_methods_profile_check, fac_methods_profile_run,
      "bytes, lines, words, pages of the document; refuses one too short to analyse" },
    { "text.sections", FAC_METHOD_CPU,
      fac_methods_sections_check, fac_methods_sections_run,
      "headings, sections (byte offsets, levels, pages) and chunks of a plan's text" },
    { "score.modality", FAC_METHOD_CPU,
      fac_methods_modality_check, fac_methods_modality_run,
      "ratio to a 0-3 score by scoring modality TYPE_A..TYPE_F, and its quality level" },
    { "score.from_input", FAC_METHOD_CPU,
      fac_methods_from_input_check, fac_methods_from_input_run,
      "an input contract's ratio and evidence, to score as that contract would" },
    { "aggregate.weighted_mean", FAC_METHOD_CPU,
      fac_methods_weighted_mean_check, fac_methods_weighted_mean_run,
      "weighted mean of the input contracts' scores, with dispersion penalty and coherence" },
    { "aggregate.choquet", FAC_METHOD_CPU,
      fac_methods_choquet_check, fac_methods_choquet_run,
      "2-additive Choquet integral of the input contracts' scores (pairwise interactions)" },
    { "recommend.rules", FAC_METHOD_CPU,
      fac_methods_recommend_check, fac_methods_recommend_run,
      "recommendations from rules over scored questions, with the plan section concerned" },
    { "report.assemble", FAC_METHOD_CPU,
      fac_methods_report_check, fac_methods_report_run,
      "the report of a run (JSON, Markdown, self-contained HTML) from its inputs' results" },
    { "io.wait", FAC_METHOD_WAIT, fac_methods_io_wait_check, NULL,
      "waits params.ms milliseconds on the event loop (simulated I/O latency)" },
    { "exec", FAC_METHOD_WAIT, fac_methods_exec_check, NULL,
      "runs an allowed external program: JSON in on stdin, one JSON object out" },
    { "core.noop", FAC_METHOD_CPU, s_noop_check, s_noop_run,
      "does nothing (measures the factory's own cost per contract)" },
};

#define S_METHOD_COUNT (sizeof s_methods / sizeof s_methods [0])

const fac_method_t *
fac_method_lookup (const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < S_METHOD_COUNT; i++)
        if (strcmp (s_methods [i].name, name) == 0)
            return &s_methods [i];
    return NULL;
}

const fac_method_t *
fac_method_all (size_t *count)
{
    *count = S_METHOD_COUNT;
    return s_methods;
}

void
fac_context_init (fac_context_t *ctx, const fac_compiled_t *compiled,
                  const char *text, size_t text_size,
                  const fac_input_t *inputs, size_t input_count,
                  const json_t *params)
{
    memset (ctx, 0, sizeof *ctx);
    ctx->compiled = compiled;
    ctx->text = text;
    ctx->text_size = text? text_size: 0;
    ctx->inputs = inputs;
    ctx->input_count = input_count;
    ctx->params = params;
    ctx->ratio = NAN;
    ctx->score = NAN;
    ctx->confidence = NAN;
    ctx->quality = NULL;
    //  NULL only when out of memory; every method reports that when it
    //  tries to write an output.
    ctx->output = json_object ();
}

void
fac_context_fini (fac_context_t *ctx)
{
    if (!ctx)
        return;
    fac_methods_evidence_free (ctx);
    json_decref (ctx->output);
    ctx->output = NULL;
}

//  Levels of scoring_system.json "micro_levels" on score / 3. A score a
//  rounding error below a boundary (2.55 / 3 is 0.8499999...) reaches it.
const char *
fac_quality_level (double score)
{
    if (!isfinite (score))
        return "INSUFICIENTE";
    double normalised = score / 3.0 + 1e-9;
    if (normalised >= 0.85)
        return "EXCELENTE";
    if (normalised >= 0.70)
        return "BUENO";
    if (normalised >= 0.55)
        return "ACEPTABLE";
    return "INSUFICIENTE";
}

//  ---------------------------------------------------------------------
//  Helpers shared by the methods (fac_methods.h)

int
fac_methods_errf (char *err, size_t err_size, const char *format, ...)
{
    if (err && err_size) {
        va_list args;
        va_start (args, format);
        vsnprintf (err, err_size, format, args);
        va_end (args);
    }
    return -1;
}

int
fac_methods_fail (fac_context_t *ctx, const char *method, const char *format, ...)
{
    int prefix = snprintf (ctx->error, sizeof ctx->error, "%s: ", method);
    if (prefix < 0 || (size_t) prefix >= sizeof ctx->error)
        return -1;
    va_list args;
    va_start (args, format);
    vsnprintf (ctx->error + prefix, sizeof ctx->error - (size_t) prefix, format, args);
    va_end (args);
    return -1;
}

int
fac_methods_check_keys (const json_t *params, const char *method,
                        const char *const *known, char *err, size_t err_size)
{
    if (!json_is_object (params))
        return fac_methods_errf (err, err_size, "params: %s takes an object", method);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) params, key, value) {
        bool found = false;
        for (size_t i = 0; known [i] && !found; i++)
            found = strcmp (known [i], key) == 0;
        if (!found) {
            char list [160] = "";
            size_t used = 0;
            for (size_t i = 0; known [i]; i++) {
                int n = snprintf (list + used, sizeof list - used, "%s%s",
                                  i? ", ": "", known [i]);
                if (n < 0 || (size_t) n >= sizeof list - used)
                    break;
                used += (size_t) n;
            }
            return fac_methods_errf (err, err_size, "params.%s: unknown parameter of %s (%s%s)",
                                     key, method, known [0]? "known: ": "it takes none",
                                     list);
        }
    }
    return 0;
}

int
fac_methods_get_int (const json_t *params, const char *key, long long min,
                     long long max, long long fallback, long long *value,
                     char *err, size_t err_size)
{
    json_t *item = json_object_get (params, key);
    if (!item) {
        *value = fallback;
        return 0;
    }
    //  Integers only (1.0 is refused): the engine reads these with
    //  json_integer_value.
    if (!json_is_integer (item))
        return fac_methods_errf (err, err_size, "params.%s: must be an integer in %lld..%lld",
                                 key, min, max);
    long long number = (long long) json_integer_value (item);
    if (number < min || number > max)
        return fac_methods_errf (err, err_size, "params.%s: %lld is out of range %lld..%lld",
                                 key, number, min, max);
    *value = number;
    return 0;
}

int
fac_methods_get_number (const json_t *params, const char *key, double min,
                        double max, double fallback, double *value,
                        char *err, size_t err_size)
{
    json_t *item = json_object_get (params, key);
    if (!item) {
        *value = fallback;
        return 0;
    }
    if (!json_is_number (item) || !isfinite (json_number_value (item)))
        return fac_methods_errf (err, err_size, "params.%s: must be a number in %g..%g",
                                 key, min, max);
    double number = json_number_value (item);
    if (number < min || number > max)
        return fac_methods_errf (err, err_size, "params.%s: %g is out of range %g..%g",
                                 key, number, min, max);
    *value = number;
    return 0;
}

const fac_expected_t *
fac_methods_expected (const fac_contract_t *contract, const char *type)
{
    for (size_t i = 0; i < contract->expected_count; i++)
        if (strcmp (contract->expected [i].type, type) == 0)
            return &contract->expected [i];
    return NULL;
}

bool
fac_methods_is_input (const fac_contract_t *contract, const char *id)
{
    for (size_t i = 0; i < contract->input_count; i++)
        if (strcmp (contract->input_contracts [i], id) == 0)
            return true;
    return false;
}

int
fac_methods_evidence_ensure (fac_context_t *ctx, const char *method)
{
    if (ctx->evidence)
        return 0;
    const fac_contract_t *contract = ctx->compiled->contract;
    if (contract->expected_count == 0)
        return 0;
    ctx->evidence = (fac_evidence_t *) calloc (contract->expected_count, sizeof (fac_evidence_t));
    if (!ctx->evidence)
        return fac_methods_fail (ctx, method, "out of memory");
    for (size_t i = 0; i < contract->expected_count; i++) {
        fac_evidence_t *evidence = &ctx->evidence [i];
        evidence->element_type = contract->expected [i].type;
        evidence->minimum = contract->expected [i].minimum;
        evidence->required = contract->expected [i].required;
        evidence->expected = true;
    }
    ctx->evidence_count = contract->expected_count;
    return 0;
}

fac_evidence_t *
fac_methods_evidence_find (fac_context_t *ctx, const char *type)
{
    for (size_t i = 0; i < ctx->evidence_count; i++)
        if (strcmp (ctx->evidence [i].element_type, type) == 0)
            return &ctx->evidence [i];
    return NULL;
}

void
fac_methods_evidence_free (fac_context_t *ctx)
{
    for (size_t i = 0; ctx->evidence && i < ctx->evidence_count; i++)
        free (ctx->evidence [i].matches);
    free (ctx->evidence);
    ctx->evidence = NULL;
    ctx->evidence_count = 0;
}

double
fac_methods_satisfaction (const fac_evidence_t *evidence)
{
    if (evidence->minimum > 0) {
        double satisfaction = (double) evidence->count / (double) evidence->minimum;
        return satisfaction < 1.0? satisfaction: 1.0;
    }
    return evidence->count > 0? 1.0: 0.0;
}

int
fac_methods_output_set (fac_context_t *ctx, const char *method, json_t *value)
{
    if (!ctx->output)
        json_decref (value);
    //  json_object_set_new takes the reference even when it fails.
    if (!value || !ctx->output || json_object_set_new (ctx->output, method, value) != 0)
        return fac_methods_fail (ctx, method, "out of memory building the output");
    return 0;
}
