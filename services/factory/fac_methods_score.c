/*  fac_methods_score — score.modality, score.from_input,
    aggregate.weighted_mean, aggregate.choquet, and the parameter checks
    of the waiting methods io.wait and exec. Formulas: proto/methods.md. */
#include "fac_methods.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

//  score.from_input's entry points (registered in fac_method.c).
fac_method_check_fn fac_methods_from_input_check;
fac_method_run_fn   fac_methods_from_input_run;

//  RESULT_OK of Farfan__ResultStatus (proto/factory.proto).
#define S_RESULT_OK 1
//  Tolerance of "sums to 1" and of the monotonicity inequalities.
#define S_EPSILON 1e-6
//  Most weights TYPE_D takes.
#define S_WEIGHTS_MAX 16
//  The largest population standard deviation of scores on 0-3 (half the
//  scores 0, half 3): the scale of aggregate.weighted_mean's coherence.
#define S_STDDEV_MAX 1.5

static double
s_clamp (double value, double low, double high)
{
    return value < low? low: value > high? high: value;
}

//  ---------------------------------------------------------------------
//  score.modality

typedef enum {
    S_PRESENCE_THRESHOLD,
    S_BINARY_SUM,
    S_WEIGHTED_SUM,
    S_BINARY_PRESENCE,
    S_NORMALIZED_CONTINUOUS,
} s_aggregation_t;

typedef struct {
    const char *name;
    const char *aggregation;
    s_aggregation_t kind;
    double threshold;
} s_modality_def_t;

//  ../shared/farfan-upstream/scoring_system.json, "modalities".
static const s_modality_def_t s_modalities [] = {
    { "TYPE_A", "presence_threshold", S_PRESENCE_THRESHOLD, 0.70 },
    { "TYPE_B", "binary_sum", S_BINARY_SUM, 0.65 },
    { "TYPE_C", "presence_threshold", S_PRESENCE_THRESHOLD, 0.50 },
    { "TYPE_D", "weighted_sum", S_WEIGHTED_SUM, 0.65 },
    { "TYPE_E", "binary_presence", S_BINARY_PRESENCE, 0.65 },
    { "TYPE_F", "normalized_continuous", S_NORMALIZED_CONTINUOUS, 0.65 },
};
#define S_MODALITY_COUNT (sizeof s_modalities / sizeof s_modalities [0])

//  TYPE_D's default weights (scoring_system.json).
static const double s_type_d_weights [] = { 0.4, 0.3, 0.3 };
//  TYPE_B: points at most (one per satisfied element).
#define S_BINARY_SUM_MAX 3

typedef struct {
    const s_modality_def_t *def;
    double threshold;
    double weights [S_WEIGHTS_MAX];     // TYPE_D
    size_t weight_count;
    double low, high;                   // TYPE_F range
} s_modality_t;

static const s_modality_def_t *
s_modality_find (const char *name)
{
    for (size_t i = 0; i < S_MODALITY_COUNT; i++)
        if (strcmp (s_modalities [i].name, name) == 0)
            return &s_modalities [i];
    return NULL;
}

//  Weights of TYPE_D from a JSON array; `where` names it in errors.
static int
s_weights_parse (const json_t *array, const char *where, s_modality_t *cfg,
                 char *err, size_t err_size)
{
    size_t count = json_array_size (array);
    if (!json_is_array (array) || count == 0 || count > S_WEIGHTS_MAX)
        return fac_methods_errf (err, err_size, "%s: must be an array of 1..%d numbers",
                                 where, S_WEIGHTS_MAX);
    double sum = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (array, i);
        if (!json_is_number (item) || !isfinite (json_number_value (item))
        ||  json_number_value (item) < 0)
            return fac_methods_errf (err, err_size, "%s[%zu]: must be a number >= 0", where, i);
        cfg->weights [i] = json_number_value (item);
        sum += cfg->weights [i];
    }
    if (fabs (sum - 1.0) > S_EPSILON)
        return fac_methods_errf (err, err_size, "%s: must sum to 1 (they sum to %g)", where, sum);
    cfg->weight_count = count;
    return 0;
}

static int
s_modality_parse (const json_t *params, const fac_contract_t *contract, s_modality_t *cfg,
                  char *err, size_t err_size)
{
    static const char *const known [] = { "modality", "threshold", "weights", "range", NULL };
    if (fac_methods_check_keys (params, "score.modality", known, err, err_size))
        return -1;
    memset (cfg, 0, sizeof *cfg);
    json_t *modality = json_object_get (params, "modality");
    if (modality) {
        if (!json_is_string (modality))
            return fac_methods_errf (err, err_size, "params.modality: must be a string (TYPE_A..TYPE_F)");
        cfg->def = s_modality_find (json_string_value (modality));
        if (!cfg->def)
            return fac_methods_errf (err, err_size, "params.modality: unknown modality \"%s\" (TYPE_A..TYPE_F)",
                                     json_string_value (modality));
    }
    else {
        if (!contract->modality || !*contract->modality)
            return fac_methods_errf (err, err_size, "params.modality: score.modality needs a modality "
                                     "(params.modality or the contract's scoring.modality)");
        cfg->def = s_modality_find (contract->modality);
        if (!cfg->def)
            return fac_methods_errf (err, err_size, "scoring.modality: unknown modality \"%s\" "
                                     "for score.modality (TYPE_A..TYPE_F)", contract->modality);
    }
    //  threshold: params, else the contract's scoring.threshold, else the
    //  modality's.
    const json_t *scoring = json_is_object (contract->scoring)? contract->scoring: NULL;
    json_t *threshold = json_object_get (params, "threshold");
    if (threshold) {
        if (fac_methods_get_number (params, "threshold", 0, 1, 0, &cfg->threshold, err, err_size))
            return -1;
    }
    else
    if (scoring && json_object_get (scoring, "threshold")) {
        threshold = json_object_get (scoring, "threshold");
        if (!json_is_number (threshold) || !isfinite (json_number_value (threshold))
        ||  json_number_value (threshold) < 0 || json_number_value (threshold) > 1)
            return fac_methods_errf (err, err_size, "scoring.threshold: must be a number in 0..1");
        cfg->threshold = json_number_value (threshold);
    }
    else
        cfg->threshold = cfg->def->threshold;

    json_t *weights = json_object_get (params, "weights");
    if (weights && cfg->def->kind != S_WEIGHTED_SUM)
        return fac_methods_errf (err, err_size, "params.weights: only weighted_sum (TYPE_D) takes weights, "
                                 "this is %s (%s)", cfg->def->name, cfg->def->aggregation);
    if (cfg->def->kind == S_WEIGHTED_SUM) {
        //  Upstream questions carry an object of layer weights in
        //  scoring.weights; only an array is TYPE_D's.
        json_t *contract_weights = scoring? json_object_get (scoring, "weights"): NULL;
        if (weights) {
            if (s_weights_parse (weights, "params.weights", cfg, err, err_size))
                return -1;
        }
        else
        if (json_is_array (contract_weights)) {
            if (s_weights_parse (contract_weights, "scoring.weights", cfg, err, err_size))
                return -1;
        }
        else {
            memcpy (cfg->weights, s_type_d_weights, sizeof s_type_d_weights);
            cfg->weight_count = sizeof s_type_d_weights / sizeof s_type_d_weights [0];
        }
    }
    json_t *range = json_object_get (params, "range");
    cfg->low = 0;
    cfg->high = 1;
    if (range) {
        if (cfg->def->kind != S_NORMALIZED_CONTINUOUS)
            return fac_methods_errf (err, err_size, "params.range: only normalized_continuous (TYPE_F) "
                                     "takes a range, this is %s (%s)", cfg->def->name,
                                     cfg->def->aggregation);
        json_t *low = json_array_get (range, 0);
        json_t *high = json_array_get (range, 1);
        if (!json_is_array (range) || json_array_size (range) != 2
        ||  !json_is_number (low) || !json_is_number (high))
            return fac_methods_errf (err, err_size, "params.range: must be [min, max], two numbers");
        cfg->low = json_number_value (low);
        cfg->high = json_number_value (high);
        if (!(cfg->low >= 0 && cfg->high <= 1 && cfg->low < cfg->high))
            return fac_methods_errf (err, err_size, "params.range: [%g, %g] must satisfy 0 <= min < max <= 1",
                                     cfg->low, cfg->high);
    }
    //  Modalities reading per-element satisfaction need expected elements.
    if ((cfg->def->kind == S_BINARY_SUM || cfg->def->kind == S_WEIGHTED_SUM)
    &&  contract->expected_count == 0)
        return fac_methods_errf (err, err_size, "expected_elements: %s (%s) scores expected elements, "
                                 "the contract has none", cfg->def->name, cfg->def->aggregation);
    return 0;
}

int
fac_methods_modality_check (const json_t *params, const fac_contract_t *contract,
                            const fac_method_env_t *env, char *err, size_t err_size)
{
    s_modality_t cfg;
    return s_modality_parse (params, contract, &cfg, err, err_size);
}

static int
s_compare_desc (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? 1: x > y? -1: 0;
}

int
fac_methods_modality_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "score.modality";
    s_modality_t cfg;
    char reason [200];
    if (s_modality_parse (params, ctx->compiled->contract, &cfg, reason, sizeof reason))
        return fac_methods_fail (ctx, method, "%s", reason);
    double ratio = ctx->ratio;
    if (!isfinite (ratio))
        return fac_methods_fail (ctx, method, "no ratio to score (text.count_elements sets it)");
    ratio = s_clamp (ratio, 0, 1);

    double score = 0;
    size_t satisfied = 0, elements = 0;
    double satisfactions [S_WEIGHTS_MAX];       // the best ones, TYPE_D
    switch (cfg.def->kind) {
        case S_PRESENCE_THRESHOLD:
            //  Proportional at or above the threshold, quadratic penalty below.
            score = ratio >= cfg.threshold? 3.0 * ratio
                  : 3.0 * ratio * (ratio / cfg.threshold);
            break;
        case S_BINARY_SUM:
        case S_WEIGHTED_SUM: {
            if (!ctx->evidence)
                return fac_methods_fail (ctx, method, "%s (%s) needs the evidence of text.match_patterns",
                                         cfg.def->name, cfg.def->aggregation);
            double *all = (double *) malloc ((ctx->evidence_count + 1) * sizeof (double));
            if (!all)
                return fac_methods_fail (ctx, method, "out of memory");
            for (size_t i = 0; i < ctx->evidence_count; i++) {
                if (!ctx->evidence [i].expected)
                    continue;
                double s = fac_methods_satisfaction (&ctx->evidence [i]);
                all [elements++] = s;
                if (s >= 1.0)
                    satisfied++;
            }
            if (cfg.def->kind == S_BINARY_SUM)
                score = (double) (satisfied < S_BINARY_SUM_MAX? satisfied: S_BINARY_SUM_MAX);
            else {
                qsort (all, elements, sizeof (double), s_compare_desc);
                double sum = 0;
                for (size_t i = 0; i < cfg.weight_count && i < elements; i++) {
                    satisfactions [i] = all [i];
                    sum += cfg.weights [i] * all [i];
                }
                score = 3.0 * sum;
            }
            free (all);
            break;
        }
        case S_BINARY_PRESENCE:
            score = ratio >= cfg.threshold? 3.0: 0.0;
            break;
        case S_NORMALIZED_CONTINUOUS:
            score = 3.0 * (s_clamp (ratio, cfg.low, cfg.high) - cfg.low) / (cfg.high - cfg.low);
            break;
    }
    score = s_clamp (score, 0, 3);
    ctx->score = score;
    ctx->quality = fac_quality_level (score);

    json_t *output = json_pack ("{s:s, s:s, s:f, s:f, s:f, s:s, s:b}",
                                "modality", cfg.def->name,
                                "aggregation", cfg.def->aggregation,
                                "threshold", cfg.threshold,
                                "ratio", ratio,
                                "score", score,
                                "quality", ctx->quality,
                                "threshold_met", score / 3.0 + 1e-9 >= cfg.threshold);
    if (output && cfg.def->kind == S_BINARY_SUM)
        json_object_set_new (output, "satisfied_elements", json_integer ((json_int_t) satisfied));
    if (output && cfg.def->kind == S_WEIGHTED_SUM) {
        json_t *used = json_array ();
        for (size_t i = 0; used && i < cfg.weight_count && i < elements; i++)
            json_array_append_new (used, json_pack ("{s:f, s:f}", "weight", cfg.weights [i],
                                                    "satisfaction", satisfactions [i]));
        json_object_set_new (output, "weighted", used? used: json_null ());
    }
    if (output && cfg.def->kind == S_NORMALIZED_CONTINUOUS)
        json_object_set_new (output, "range", json_pack ("[f, f]", cfg.low, cfg.high));
    return fac_methods_output_set (ctx, method, output);
}

//  ---------------------------------------------------------------------
//  score.from_input

static const char *
s_status_name (int status)
{
    switch (status) {
        case 0: return "missing: the request did not carry its result";
        case 1: return "OK";
        case 2: return "FAILED";
        case 3: return "TIMEOUT";
        case 4: return "SKIPPED";
        default: return "unknown status";
    }
}

static bool
s_same (const char *a, const char *b)
{
    return strcmp (a? a: "", b? b: "") == 0;
}

//  The input to score: params.input, else the contract's only input.
//  *input is borrowed from the contract.
static int
s_from_input_parse (const json_t *params, const fac_contract_t *contract, const char **input,
                    char *err, size_t err_size)
{
    static const char *const known [] = { "input", NULL };
    if (fac_methods_check_keys (params, "score.from_input", known, err, err_size))
        return -1;
    if (contract->input_count == 0)
        return fac_methods_errf (err, err_size, "inputs.contracts: score.from_input scores an input "
                                 "contract's result, the contract names none");
    json_t *given = json_object_get (params, "input");
    if (!given) {
        if (contract->input_count > 1)
            return fac_methods_errf (err, err_size, "params.input: the contract has %zu inputs; "
                                     "name the one to score", contract->input_count);
        *input = contract->input_contracts [0];
        return 0;
    }
    if (!json_is_string (given))
        return fac_methods_errf (err, err_size, "params.input: must be an id of inputs.contracts");
    for (size_t i = 0; i < contract->input_count; i++)
        if (strcmp (contract->input_contracts [i], json_string_value (given)) == 0) {
            *input = contract->input_contracts [i];
            return 0;
        }
    return fac_methods_errf (err, err_size, "params.input: %s is not an input of this contract "
                             "(inputs.contracts)", json_string_value (given));
}

int
fac_methods_from_input_check (const json_t *params, const fac_contract_t *contract,
                              const fac_method_env_t *env, char *err, size_t err_size)
{
    const char *input;
    return s_from_input_parse (params, contract, &input, err, err_size);
}

//  Copies one element of the input's evidence into entry (count and
//  quoted matches, as FAC_MATCH_COPIED). -1 when out of memory.
static int
s_evidence_copy (fac_evidence_t *entry, const fac_input_evidence_t *source)
{
    entry->count = source->count;
    if (source->match_count == 0)
        return 0;
    entry->matches = (fac_match_t *) calloc (source->match_count, sizeof (fac_match_t));
    if (!entry->matches)
        return -1;
    for (size_t m = 0; m < source->match_count; m++)
        entry->matches [m] = (fac_match_t) {
            .offset = source->matches [m].offset,
            .length = source->matches [m].length,
            .pattern = FAC_MATCH_COPIED,
            .copied_text = source->matches [m].text,
            .copied_pattern_id = source->matches [m].pattern_id,
        };
    entry->match_count = (uint32_t) source->match_count;
    return 0;
}

int
fac_methods_from_input_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "score.from_input";
    const fac_contract_t *contract = ctx->compiled->contract;
    const char *id;
    char reason [200];
    if (s_from_input_parse (params, contract, &id, reason, sizeof reason))
        return fac_methods_fail (ctx, method, "%s", reason);
    const fac_input_t *input = NULL;
    for (size_t i = 0; i < ctx->input_count && !input; i++)
        if (s_same (ctx->inputs [i].contract_id, id))
            input = &ctx->inputs [i];
    if (!input || input->status != S_RESULT_OK)
        return fac_methods_fail (ctx, method, "input %s is not OK (%s)", id,
                                 s_status_name (input? input->status: 0));
    if (!isfinite (input->ratio))
        return fac_methods_fail (ctx, method, "input %s has no ratio to score", id);
    if (input->ratio < 0 || input->ratio > 1)
        return fac_methods_fail (ctx, method, "input %s: ratio %g is not in 0..1", id, input->ratio);

    //  The contract's expected elements first (counts from the input's
    //  element of the same type), then the input's other elements.
    size_t capacity = contract->expected_count + input->evidence_count;
    fac_evidence_t *evidence = (fac_evidence_t *) calloc (capacity? capacity: 1, sizeof (fac_evidence_t));
    bool *taken = (bool *) calloc (input->evidence_count + 1, sizeof (bool));
    json_t *elements = json_array ();
    json_t *missing = json_array ();
    json_t *extra = json_array ();
    size_t count = 0;
    int rc = -1;
    if (!evidence || !taken || !elements || !missing || !extra) {
        fac_methods_fail (ctx, method, "out of memory");
        goto done;
    }
    for (size_t e = 0; e < contract->expected_count; e++) {
        fac_evidence_t *entry = &evidence [count++];
        entry->element_type = contract->expected [e].type;
        entry->minimum = contract->expected [e].minimum;
        entry->required = contract->expected [e].required;
        entry->expected = true;
        const fac_input_evidence_t *source = NULL;
        for (size_t i = 0; i < input->evidence_count && !source; i++)
            if (!taken [i] && s_same (input->evidence [i].element_type, entry->element_type)) {
                source = &input->evidence [i];
                taken [i] = true;
            }
        if (source && s_evidence_copy (entry, source)) {
            fac_methods_fail (ctx, method, "out of memory");
            goto done;
        }
        double satisfaction = fac_methods_satisfaction (entry);
        if (satisfaction < 1.0)
            json_array_append_new (missing, json_string (entry->element_type));
        json_array_append_new (elements, json_pack ("{s:s, s:I, s:I, s:b, s:f, s:b}",
            "type", entry->element_type,
            "count", (json_int_t) entry->count,
            "minimum", (json_int_t) entry->minimum,
            "required", entry->required,
            "satisfaction", satisfaction,
            "found", source != NULL));
    }
    for (size_t i = 0; i < input->evidence_count; i++) {
        if (taken [i])
            continue;
        const fac_input_evidence_t *source = &input->evidence [i];
        fac_evidence_t *entry = &evidence [count++];
        entry->element_type = source->element_type? source->element_type: "";
        entry->minimum = source->minimum;
        entry->required = source->required;
        entry->expected = false;
        if (s_evidence_copy (entry, source)) {
            fac_methods_fail (ctx, method, "out of memory");
            goto done;
        }
        json_array_append_new (extra, json_string (entry->element_type));
    }
    fac_methods_evidence_free (ctx);
    ctx->evidence = evidence;
    ctx->evidence_count = count;
    evidence = NULL;
    ctx->ratio = input->ratio;
    if (isfinite (input->confidence))
        ctx->confidence = s_clamp (input->confidence, 0, 1);
    json_t *output = json_pack ("{s:s, s:f, s:o, s:O, s:O, s:O, s:b}",
                                "input", id,
                                "ratio", input->ratio,
                                "confidence", isfinite (ctx->confidence)? json_real (ctx->confidence): json_null (),
                                "elements", elements,
                                "missing_elements", missing,
                                "extra_elements", extra,
                                "quoted", ctx->text != NULL);
    rc = fac_methods_output_set (ctx, method, output);
done:
    if (evidence) {
        for (size_t e = 0; e < count; e++)
            free (evidence [e].matches);
        free (evidence);
    }
    free (taken);
    json_decref (elements);
    json_decref (missing);
    json_decref (extra);
    return rc;
}

//  ---------------------------------------------------------------------
//  Aggregations: inputs, weights, interactions

typedef enum {
    S_MISSING_SKIP,
    S_MISSING_ZERO,
} s_on_missing_t;

typedef struct {
    size_t a, b;                // indexes into the contract's inputs
    double value;               // Möbius interaction coefficient
} s_interaction_t;

typedef struct {
    double *weights;            // one per contract input (owned)
    s_interaction_t *interactions;
    size_t interaction_count;
    s_on_missing_t on_missing;
    double dispersion_penalty;  // weighted_mean: k of score - k * stddev
    double coherence;           // weighted_mean: c of score * (1 - c * stddev / 1.5)
} s_aggregate_t;

static void
s_aggregate_free (s_aggregate_t *cfg)
{
    free (cfg->weights);
    free (cfg->interactions);
    cfg->weights = NULL;
    cfg->interactions = NULL;
}

static ssize_t
s_input_index (const fac_contract_t *contract, const char *id)
{
    for (size_t i = 0; i < contract->input_count; i++)
        if (strcmp (contract->input_contracts [i], id) == 0)
            return (ssize_t) i;
    return -1;
}

//  Parses what both aggregations share: inputs present, weights
//  ({id: w >= 0}; required = every input must have one, else absent means
//  equal weights), on_missing. The caller frees with s_aggregate_free.
static int
s_aggregate_parse (const json_t *params, const fac_contract_t *contract, const char *method,
                   bool weights_required, s_aggregate_t *cfg, char *err, size_t err_size)
{
    memset (cfg, 0, sizeof *cfg);
    if (contract->input_count == 0)
        return fac_methods_errf (err, err_size, "inputs.contracts: %s aggregates input contracts, "
                                 "the contract names none", method);
    json_t *on_missing = json_object_get (params, "on_missing");
    cfg->on_missing = S_MISSING_SKIP;
    if (on_missing) {
        const char *value = json_string_value (on_missing);
        if (value && strcmp (value, "skip") == 0)
            cfg->on_missing = S_MISSING_SKIP;
        else
        if (value && strcmp (value, "zero") == 0)
            cfg->on_missing = S_MISSING_ZERO;
        else
            return fac_methods_errf (err, err_size, "params.on_missing: must be \"skip\" or \"zero\"");
    }
    cfg->weights = (double *) calloc (contract->input_count, sizeof (double));
    if (!cfg->weights)
        return fac_methods_errf (err, err_size, "%s: out of memory", method);
    json_t *weights = json_object_get (params, "weights");
    if (!weights) {
        if (weights_required)
            return fac_methods_errf (err, err_size, "params.weights: %s needs a weight for every input "
                                     "({\"<contract id>\": w, ...})", method);
        for (size_t i = 0; i < contract->input_count; i++)
            cfg->weights [i] = 1.0 / (double) contract->input_count;
        return 0;
    }
    if (!json_is_object (weights))
        return fac_methods_errf (err, err_size, "params.weights: must be an object {\"<contract id>\": w, ...}");
    const char *id;
    json_t *value;
    json_object_foreach (weights, id, value) {
        ssize_t index = s_input_index (contract, id);
        if (index < 0)
            return fac_methods_errf (err, err_size, "params.weights.%s: not an input of this contract "
                                     "(inputs.contracts)", id);
        if (!json_is_number (value) || !isfinite (json_number_value (value))
        ||  json_number_value (value) < 0)
            return fac_methods_errf (err, err_size, "params.weights.%s: must be a number >= 0", id);
        cfg->weights [index] = json_number_value (value);
    }
    double sum = 0;
    for (size_t i = 0; i < contract->input_count; i++) {
        if (!json_object_get (weights, contract->input_contracts [i]))
            return fac_methods_errf (err, err_size, "params.weights: input %s has no weight (give every "
                                     "input one%s)", contract->input_contracts [i],
                                     weights_required? "": ", or no weights for equal ones");
        sum += cfg->weights [i];
    }
    if (!weights_required) {
        if (sum <= 0)
            return fac_methods_errf (err, err_size, "params.weights: at least one weight must be > 0");
        for (size_t i = 0; i < contract->input_count; i++)
            cfg->weights [i] /= sum;
    }
    return 0;
}

//  One input's value for an aggregation: *present false when the input is
//  absent or not OK. -1 with the reason when an OK input's score is not a
//  score.
typedef struct {
    bool present;
    double score;               // 0..3
    double confidence;          // 0..1
} s_value_t;

static int
s_aggregate_values (fac_context_t *ctx, const char *method, s_value_t *values)
{
    const fac_contract_t *contract = ctx->compiled->contract;
    for (size_t i = 0; i < contract->input_count; i++) {
        values [i].present = false;
        values [i].score = 0;
        values [i].confidence = 0;
        const fac_input_t *input = NULL;
        for (size_t j = 0; j < ctx->input_count && !input; j++)
            if (ctx->inputs [j].contract_id
            &&  strcmp (ctx->inputs [j].contract_id, contract->input_contracts [i]) == 0)
                input = &ctx->inputs [j];
        if (!input || input->status != S_RESULT_OK)
            continue;
        if (!isfinite (input->score) || input->score < 0 || input->score > 3)
            return fac_methods_fail (ctx, method, "input %s: score %g is not on the 0-3 scale",
                                     contract->input_contracts [i], input->score);
        values [i].present = true;
        values [i].score = input->score;
        values [i].confidence = isfinite (input->confidence)
                              ? s_clamp (input->confidence, 0, 1): 0;
    }
    return 0;
}

//  Lists the ids of inputs present (or missing) as a JSON array.
static json_t *
s_ids (const fac_contract_t *contract, const s_value_t *values, bool present)
{
    json_t *ids = json_array ();
    for (size_t i = 0; ids && i < contract->input_count; i++)
        if (values [i].present == present)
            json_array_append_new (ids, json_string (contract->input_contracts [i]));
    return ids;
}

//  Sets score, ratio, quality, confidence from the aggregate; confidence =
//  mean confidence of the inputs used (with on_missing zero: of every
//  input, a missing one counting 0).
static void
s_aggregate_finish (fac_context_t *ctx, const s_aggregate_t *cfg, const s_value_t *values,
                    double score)
{
    const fac_contract_t *contract = ctx->compiled->contract;
    double confidence = 0;
    size_t counted = 0;
    for (size_t i = 0; i < contract->input_count; i++)
        if (values [i].present || cfg->on_missing == S_MISSING_ZERO) {
            confidence += values [i].confidence;
            counted++;
        }
    ctx->score = s_clamp (score, 0, 3);
    ctx->ratio = ctx->score / 3.0;
    ctx->quality = fac_quality_level (ctx->score);
    ctx->confidence = counted? confidence / (double) counted: 0;
}

static size_t
s_present_count (const fac_contract_t *contract, const s_value_t *values)
{
    size_t present = 0;
    for (size_t i = 0; i < contract->input_count; i++)
        present += values [i].present;
    return present;
}

//  ---------------------------------------------------------------------
//  aggregate.weighted_mean

static int
s_weighted_mean_parse (const json_t *params, const fac_contract_t *contract,
                       s_aggregate_t *cfg, char *err, size_t err_size)
{
    static const char *const known [] = { "weights", "on_missing", "dispersion_penalty",
                                          "coherence", NULL };
    memset (cfg, 0, sizeof *cfg);
    if (fac_methods_check_keys (params, "aggregate.weighted_mean", known, err, err_size)
    ||  s_aggregate_parse (params, contract, "aggregate.weighted_mean", false, cfg, err, err_size))
        return -1;
    return fac_methods_get_number (params, "dispersion_penalty", 0, 1, 0, &cfg->dispersion_penalty,
                                   err, err_size)
        || fac_methods_get_number (params, "coherence", 0, 1, 0, &cfg->coherence, err, err_size)
         ? -1: 0;
}

int
fac_methods_weighted_mean_check (const json_t *params, const fac_contract_t *contract,
                                 const fac_method_env_t *env, char *err, size_t err_size)
{
    s_aggregate_t cfg;
    int rc = s_weighted_mean_parse (params, contract, &cfg, err, err_size);
    s_aggregate_free (&cfg);
    return rc;
}

int
fac_methods_weighted_mean_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "aggregate.weighted_mean";
    const fac_contract_t *contract = ctx->compiled->contract;
    s_aggregate_t cfg;
    s_value_t *values = NULL;
    int rc = -1;
    char reason [200];
    if (s_weighted_mean_parse (params, contract, &cfg, reason, sizeof reason)) {
        fac_methods_fail (ctx, method, "%s", reason);
        goto done;
    }
    values = (s_value_t *) calloc (contract->input_count, sizeof (s_value_t));
    if (!values) {
        fac_methods_fail (ctx, method, "out of memory");
        goto done;
    }
    if (s_aggregate_values (ctx, method, values))
        goto done;
    if (s_present_count (contract, values) == 0) {
        fac_methods_fail (ctx, method, "no input is OK (%zu missing or failed)", contract->input_count);
        goto done;
    }
    //  skip: renormalise over the inputs present; zero: a missing input
    //  counts 0 with its weight.
    double sum = 0, weight_sum = 0;
    for (size_t i = 0; i < contract->input_count; i++)
        if (values [i].present || cfg.on_missing == S_MISSING_ZERO) {
            sum += cfg.weights [i] * values [i].score;
            weight_sum += cfg.weights [i];
        }
    if (weight_sum <= 0) {
        fac_methods_fail (ctx, method, "the inputs that are OK all have weight 0");
        goto done;
    }
    //  The spread of the scores used (unweighted, population): the
    //  dispersion penalty subtracts k * stddev (floored at 0), then the
    //  coherence factor 1 - c * stddev / 1.5 scales the result.
    double mean = sum / weight_sum;
    double centre = 0, spread = 0;
    size_t used = 0;
    for (size_t i = 0; i < contract->input_count; i++)
        if (values [i].present || cfg.on_missing == S_MISSING_ZERO) {
            centre += values [i].score;
            used++;
        }
    centre /= (double) used;
    for (size_t i = 0; i < contract->input_count; i++)
        if (values [i].present || cfg.on_missing == S_MISSING_ZERO)
            spread += (values [i].score - centre) * (values [i].score - centre);
    double stddev = sqrt (spread / (double) used);
    double penalty = cfg.dispersion_penalty * stddev;
    double index = s_clamp (1.0 - stddev / S_STDDEV_MAX, 0, 1);
    double factor = s_clamp (1.0 - cfg.coherence * stddev / S_STDDEV_MAX, 0, 1);
    double score = mean - penalty;
    if (score < 0)
        score = 0;
    s_aggregate_finish (ctx, &cfg, values, score * factor);

    json_t *effective = json_object ();
    for (size_t i = 0; effective && i < contract->input_count; i++)
        if (values [i].present || cfg.on_missing == S_MISSING_ZERO)
            json_object_set_new (effective, contract->input_contracts [i],
                                 json_real (cfg.weights [i] / weight_sum));
    json_t *output = json_pack ("{s:o*, s:o*, s:o*, s:s, s:f, s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}}",
                                "used", s_ids (contract, values, true),
                                "missing", s_ids (contract, values, false),
                                "weights", effective,
                                "on_missing", cfg.on_missing == S_MISSING_SKIP? "skip": "zero",
                                "mean", mean,
                                "dispersion", "stddev", stddev, "k", cfg.dispersion_penalty,
                                    "penalty", penalty,
                                "coherence", "index", index, "c", cfg.coherence, "factor", factor);
    rc = fac_methods_output_set (ctx, method, output);
done:
    free (values);
    s_aggregate_free (&cfg);
    return rc;
}

//  ---------------------------------------------------------------------
//  aggregate.choquet

static int
s_choquet_parse (const json_t *params, const fac_contract_t *contract,
                 s_aggregate_t *cfg, char *err, size_t err_size)
{
    static const char *const known [] = { "weights", "interactions", "on_missing", NULL };
    memset (cfg, 0, sizeof *cfg);
    if (fac_methods_check_keys (params, "aggregate.choquet", known, err, err_size)
    ||  s_aggregate_parse (params, contract, "aggregate.choquet", true, cfg, err, err_size))
        return -1;
    json_t *interactions = json_object_get (params, "interactions");
    size_t count = json_array_size (interactions);
    if (interactions && !json_is_array (interactions))
        return fac_methods_errf (err, err_size, "params.interactions: must be an array of "
                                 "{\"a\": id, \"b\": id, \"value\": number}");
    if (count) {
        cfg->interactions = (s_interaction_t *) calloc (count, sizeof (s_interaction_t));
        if (!cfg->interactions)
            return fac_methods_errf (err, err_size, "aggregate.choquet: out of memory");
    }
    for (size_t k = 0; k < count; k++) {
        json_t *item = json_array_get (interactions, k);
        if (!json_is_object (item))
            return fac_methods_errf (err, err_size, "params.interactions[%zu]: must be an object "
                                     "{\"a\": id, \"b\": id, \"value\": number}", k);
        const char *key;
        json_t *value;
        json_object_foreach (item, key, value)
            if (strcmp (key, "a") && strcmp (key, "b") && strcmp (key, "value"))
                return fac_methods_errf (err, err_size, "params.interactions[%zu].%s: unknown key "
                                         "(a, b, value)", k, key);
        const char *ends [2] = { "a", "b" };
        ssize_t index [2];
        for (int e = 0; e < 2; e++) {
            const char *id = json_string_value (json_object_get (item, ends [e]));
            if (!id)
                return fac_methods_errf (err, err_size, "params.interactions[%zu].%s: must be an "
                                         "input contract id", k, ends [e]);
            index [e] = s_input_index (contract, id);
            if (index [e] < 0)
                return fac_methods_errf (err, err_size, "params.interactions[%zu].%s: %s is not an "
                                         "input of this contract (inputs.contracts)", k, ends [e], id);
        }
        if (index [0] == index [1])
            return fac_methods_errf (err, err_size, "params.interactions[%zu]: a and b are both %s "
                                     "(an interaction is between two inputs)", k,
                                     contract->input_contracts [index [0]]);
        json_t *number = json_object_get (item, "value");
        if (!json_is_number (number) || !isfinite (json_number_value (number)))
            return fac_methods_errf (err, err_size, "params.interactions[%zu].value: must be a number", k);
        for (size_t j = 0; j < k; j++) {
            const s_interaction_t *other = &cfg->interactions [j];
            if ((other->a == (size_t) index [0] && other->b == (size_t) index [1])
            ||  (other->a == (size_t) index [1] && other->b == (size_t) index [0]))
                return fac_methods_errf (err, err_size, "params.interactions[%zu]: the pair %s, %s "
                                         "is given twice (also [%zu])", k,
                                         contract->input_contracts [index [0]],
                                         contract->input_contracts [index [1]], j);
        }
        cfg->interactions [k].a = (size_t) index [0];
        cfg->interactions [k].b = (size_t) index [1];
        cfg->interactions [k].value = json_number_value (number);
        cfg->interaction_count++;
    }
    //  A 2-additive capacity in Möbius form (proto/methods.md):
    //  normalisation  sum(w_i) + sum(I_ab) = 1;
    //  monotonicity   w_i + sum of the negative I_ij of i >= 0, every i
    //                 (with w_i >= 0, checked above: mu({i}) >= 0).
    double total = 0;
    for (size_t i = 0; i < contract->input_count; i++)
        total += cfg->weights [i];
    for (size_t k = 0; k < cfg->interaction_count; k++)
        total += cfg->interactions [k].value;
    if (fabs (total - 1.0) > S_EPSILON)
        return fac_methods_errf (err, err_size, "params.weights: weights plus interactions sum to %g, "
                                 "must be 1 (normalisation of the capacity)", total);
    for (size_t i = 0; i < contract->input_count; i++) {
        double floor_value = cfg->weights [i];
        for (size_t k = 0; k < cfg->interaction_count; k++) {
            const s_interaction_t *pair = &cfg->interactions [k];
            if ((pair->a == i || pair->b == i) && pair->value < 0)
                floor_value += pair->value;
        }
        if (floor_value < -S_EPSILON)
            return fac_methods_errf (err, err_size, "params.interactions: not monotone for %s: its weight "
                                     "%g plus its negative interactions is %g < 0",
                                     contract->input_contracts [i], cfg->weights [i], floor_value);
    }
    return 0;
}

int
fac_methods_choquet_check (const json_t *params, const fac_contract_t *contract,
                           const fac_method_env_t *env, char *err, size_t err_size)
{
    s_aggregate_t cfg;
    int rc = s_choquet_parse (params, contract, &cfg, err, err_size);
    s_aggregate_free (&cfg);
    return rc;
}

int
fac_methods_choquet_run (fac_context_t *ctx, const json_t *params)
{
    static const char *method = "aggregate.choquet";
    const fac_contract_t *contract = ctx->compiled->contract;
    s_aggregate_t cfg;
    s_value_t *values = NULL;
    double *shapley = NULL;
    int rc = -1;
    char reason [256];
    if (s_choquet_parse (params, contract, &cfg, reason, sizeof reason)) {
        fac_methods_fail (ctx, method, "%s", reason);
        goto done;
    }
    values = (s_value_t *) calloc (contract->input_count, sizeof (s_value_t));
    shapley = (double *) calloc (contract->input_count, sizeof (double));
    if (!values || !shapley) {
        fac_methods_fail (ctx, method, "out of memory");
        goto done;
    }
    if (s_aggregate_values (ctx, method, values))
        goto done;
    if (s_present_count (contract, values) == 0) {
        fac_methods_fail (ctx, method, "no input is OK (%zu missing or failed)", contract->input_count);
        goto done;
    }
    //  skip: the capacity restricted to the inputs present A, divided by
    //  mu(A); zero: missing inputs are x = 0 and mu(N) = 1.
    bool skip = cfg.on_missing == S_MISSING_SKIP;
    double sum = 0, mass = 0;
    for (size_t i = 0; i < contract->input_count; i++)
        if (values [i].present || !skip) {
            sum += cfg.weights [i] * values [i].score;
            mass += cfg.weights [i];
            shapley [i] += cfg.weights [i];
        }
    for (size_t k = 0; k < cfg.interaction_count; k++) {
        const s_interaction_t *pair = &cfg.interactions [k];
        if (skip && !(values [pair->a].present && values [pair->b].present))
            continue;
        double low = fmin (values [pair->a].score, values [pair->b].score);
        sum += pair->value * low;
        mass += pair->value;
        shapley [pair->a] += pair->value / 2;
        shapley [pair->b] += pair->value / 2;
    }
    if (mass <= S_EPSILON) {
        fac_methods_fail (ctx, method, "the inputs that are OK carry no weight (capacity %g)", mass);
        goto done;
    }
    s_aggregate_finish (ctx, &cfg, values, sum / mass);

    json_t *indices = json_object ();
    for (size_t i = 0; indices && i < contract->input_count; i++)
        if (values [i].present || !skip)
            json_object_set_new (indices, contract->input_contracts [i],
                                 json_real (shapley [i] / mass));
    json_t *output = json_pack ("{s:o*, s:o*, s:o*, s:f, s:s}",
                                "used", s_ids (contract, values, true),
                                "missing", s_ids (contract, values, false),
                                "shapley", indices,
                                "capacity", mass,
                                "on_missing", skip? "skip": "zero");
    rc = fac_methods_output_set (ctx, method, output);
done:
    free (values);
    free (shapley);
    s_aggregate_free (&cfg);
    return rc;
}

//  ---------------------------------------------------------------------
//  io.wait and exec: checks only (the event loop runs them)

//  Longest wait io.wait accepts, ms (one hour).
#define S_WAIT_MAX_MS 3600000
//  Bounds of exec's optional settings.
#define S_EXEC_TIMEOUT_MAX_MS 3600000
#define S_EXEC_OUTPUT_CAP_MAX (64LL * 1024 * 1024)

int
fac_methods_io_wait_check (const json_t *params, const fac_contract_t *contract,
                           const fac_method_env_t *env, char *err, size_t err_size)
{
    static const char *const known [] = { "ms", NULL };
    if (fac_methods_check_keys (params, "io.wait", known, err, err_size))
        return -1;
    if (!json_object_get (params, "ms"))
        return fac_methods_errf (err, err_size, "params.ms: io.wait needs the time to wait, "
                                 "ms in 0..%d", S_WAIT_MAX_MS);
    long long ms;
    return fac_methods_get_int (params, "ms", 0, S_WAIT_MAX_MS, 0, &ms, err, err_size);
}

//  True when path has no empty, "." or ".." component (so a directory
//  entry's prefix test cannot be escaped).
static bool
s_path_is_normal (const char *path)
{
    const char *component = path + 1;
    while (true) {
        const char *end = strchr (component, '/');
        size_t length = end? (size_t) (end - component): strlen (component);
        if (length == 0
        ||  (length == 1 && component [0] == '.')
        ||  (length == 2 && component [0] == '.' && component [1] == '.'))
            return false;
        if (!end)
            return true;
        component = end + 1;
    }
}

static bool
s_exec_allowed (const fac_method_env_t *env, const char *program)
{
    for (size_t i = 0; i < env->exec_allowed_count; i++) {
        const char *entry = env->exec_allowed [i];
        size_t length = entry? strlen (entry): 0;
        if (length == 0)
            continue;
        if (entry [length - 1] == '/') {
            if (strncmp (program, entry, length) == 0 && program [length])
                return true;
        }
        else
        if (strcmp (program, entry) == 0)
            return true;
    }
    return false;
}

int
fac_methods_exec_check (const json_t *params, const fac_contract_t *contract,
                        const fac_method_env_t *env, char *err, size_t err_size)
{
    static const char *const known [] = { "argv", "timeout_ms", "output_cap", NULL };
    if (fac_methods_check_keys (params, "exec", known, err, err_size))
        return -1;
    json_t *argv = json_object_get (params, "argv");
    if (!json_is_array (argv) || json_array_size (argv) == 0)
        return fac_methods_errf (err, err_size, "params.argv: exec needs a non-empty array of strings "
                                 "(the program, an absolute path, then its arguments)");
    size_t index;
    json_t *item;
    json_array_foreach (argv, index, item) {
        if (!json_is_string (item))
            return fac_methods_errf (err, err_size, "params.argv[%zu]: must be a string", index);
        if (strlen (json_string_value (item)) != json_string_length (item))
            return fac_methods_errf (err, err_size, "params.argv[%zu]: contains a NUL character", index);
    }
    const char *program = json_string_value (json_array_get (argv, 0));
    if (program [0] != '/')
        return fac_methods_errf (err, err_size, "params.argv[0]: \"%s\" must be an absolute path", program);
    if (!s_path_is_normal (program) || program [strlen (program) - 1] == '/')
        return fac_methods_errf (err, err_size, "params.argv[0]: \"%s\" must be a normalised path to a "
                                 "program (no empty, \".\" or \"..\" components)", program);
    if (!env || env->exec_allowed_count == 0)
        return fac_methods_errf (err, err_size, "params.argv[0]: exec is disabled on this factory "
                                 "(exec_allowed)");
    if (!s_exec_allowed (env, program))
        return fac_methods_errf (err, err_size, "params.argv[0]: %s is not allowed on this factory "
                                 "(exec_allowed)", program);
    long long value;
    if (fac_methods_get_int (params, "timeout_ms", 1, S_EXEC_TIMEOUT_MAX_MS, 1, &value, err, err_size)
    ||  fac_methods_get_int (params, "output_cap", 1, S_EXEC_OUTPUT_CAP_MAX, 1, &value, err, err_size))
        return -1;
    return 0;
}
