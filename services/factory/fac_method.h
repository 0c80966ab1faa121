/*  fac_method — the method registry: the C implementations a contract's
    pipeline names, and the context they work on.

    A contract runs its steps in order over one fac_context_t: the inputs
    (the document text, or earlier results for aggregations, and the
    request's params) and the outputs the steps fill in (evidence per
    expected element, ratio, score, quality, confidence, free-form
    outputs). Every method, its parameters and its formulas are documented
    in proto/methods.md.

    Two kinds of methods:
      - FAC_METHOD_CPU: a function run on a worker thread (or inline). Must
        be thread-safe, touch only its context, and not block.
      - FAC_METHOD_WAIT: waits on something outside (io.wait: a timer;
        exec: an external program). The factory's event loop drives these
        (fac_exec.h for exec), so thousands can wait without a thread; the
        registry gives their parameter check only.

    Registered methods: text.match_patterns, text.count_elements,
    text.extract_numbers, text.keyword_density, text.profile,
    text.sections, score.modality, score.from_input,
    aggregate.weighted_mean, aggregate.choquet, recommend.rules,
    report.assemble (CPU); io.wait, exec (WAIT).
*/
#ifndef FAC_METHOD_H_INCLUDED
#define FAC_METHOD_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fac_contract.h"

//  Matches kept per element type as evidence (the count covers all).
#define FAC_EVIDENCE_MATCHES_DEFAULT 5
//  Longest matched text quoted in evidence, bytes (cut at a UTF-8 boundary).
#define FAC_EVIDENCE_SNIPPET_MAX 200

typedef struct {
    uint64_t offset;            // byte offset in the document
    uint32_t length;            // bytes
    uint32_t pattern;           // index into the contract's patterns, or FAC_MATCH_EXTRACTED
    //  FAC_MATCH_COPIED only: the input's quoted text and pattern id,
    //  borrowed from the batch's inputs (NULL = none).
    const char *copied_text;
    const char *copied_pattern_id;
} fac_match_t;

//  fac_match_t.pattern of a match that text.extract_numbers added to an
//  element's evidence (params.as_elements), not a pattern's.
#define FAC_MATCH_EXTRACTED UINT32_MAX
//  fac_match_t.pattern of a match that score.from_input copied from an
//  input's evidence: no pattern of this contract (its offset and length
//  are the input's, in the same document).
#define FAC_MATCH_COPIED (UINT32_MAX - 1)

//  Evidence for one element type: every expected element of the contract
//  has one (in expected-element order), followed by element types that
//  patterns produced but no expected element names.
typedef struct {
    const char *element_type;   // borrowed from the contract
    uint32_t count;             // matches found (all of them)
    uint32_t minimum;           // from the expected element (0 = none)
    bool required;              // from the expected element
    bool expected;              // named by an expected element
    fac_match_t *matches;       // the first matches (owned), in document order
    uint32_t match_count;       // ≤ the cap
} fac_evidence_t;

//  A quoted match of an input's evidence.
typedef struct {
    uint64_t offset;            // byte offset in the document
    uint32_t length;            // bytes
    const char *text;           // the matched text (capped)
    const char *pattern_id;
} fac_input_match_t;

//  One element of an input's evidence (ContractResult.evidence).
typedef struct {
    const char *element_type;
    uint32_t count;
    uint32_t minimum;
    bool required;
    bool satisfied;
    const fac_input_match_t *matches;
    size_t match_count;
} fac_input_evidence_t;

//  One input of a contract: an earlier contract's result, as the request
//  carries it (factory.proto InputResult). Strings are never NULL ("" when
//  absent); an input the request did not carry has status 0
//  (UNSPECIFIED), score, ratio and confidence NAN and no evidence.
typedef struct {
    const char *contract_id;
    int status;                 // Farfan__ResultStatus
    double score;               // 0..3
    const char *quality;
    double confidence;
    const char *const *missing_elements;
    size_t missing_count;
    double ratio;               // 0..1
    const fac_input_evidence_t *evidence;
    size_t evidence_count;
    const char *output_json;    // its free-form outputs ("" or a JSON object)
    const char *type;           // the input contract's type ("micro", "aggregation", ...)
    const char *title;
    const char *base_question;  // its identity
    const char *policy_area;
    const char *dimension;
    const char *cluster;
} fac_input_t;

typedef struct fac_context {
    //  Inputs (borrowed, read-only)
    const fac_compiled_t *compiled;     // the contract and its compiled patterns
    const char *text;                   // the document, valid UTF-8 (checked on entry); NULL if none
    size_t text_size;
    const fac_input_t *inputs;          // aggregation inputs, in the contract's input order
    size_t input_count;
    const json_t *params;               // request params (object), never NULL
    //  Outputs (filled by the steps; owned by the context)
    fac_evidence_t *evidence;
    size_t evidence_count;
    double ratio;                       // 0..1; NAN until a step sets it
    double score;                       // 0..3; NAN until a step sets it
    const char *quality;                // static string; NULL until set
    double confidence;                  // 0..1; NAN until set
    json_t *output;                     // object of free-form outputs, one key per method
                                        //   (e.g. output["text.count_elements"]["missing_elements"])
    char error [256];                   // why a step failed
} fac_context_t;

//  Sets up ctx with the given inputs and empty outputs (output = {}).
void
    fac_context_init (fac_context_t *ctx, const fac_compiled_t *compiled,
                      const char *text, size_t text_size,
                      const fac_input_t *inputs, size_t input_count,
                      const json_t *params);

//  Frees the outputs (evidence, output). Idempotent.
void
    fac_context_fini (fac_context_t *ctx);

//  The quality level of a score on the 0-3 scale, by score / 3:
//  EXCELENTE ≥ 0.85, BUENO ≥ 0.70, ACEPTABLE ≥ 0.55, else INSUFICIENTE.
const char *
    fac_quality_level (double score);

typedef enum {
    FAC_METHOD_CPU = 0,
    FAC_METHOD_WAIT = 1,
} fac_method_kind_t;

//  Checks a step's params when a contract is loaded; `contract` is the
//  contract being validated (its patterns, expected elements, inputs). Returns 0,
//  or -1 with the reason (naming the parameter) in err.
typedef int (fac_method_check_fn) (const json_t *params, const fac_contract_t *contract,
                                   const fac_method_env_t *env, char *err, size_t err_size);

//  Runs a CPU step with the step's params (the contract's, already
//  checked; read-only, may be shared by threads). Methods do not read
//  ctx->params. Returns 0, or -1 with ctx->error set ("<method>: <why>").
typedef int (fac_method_run_fn) (fac_context_t *ctx, const json_t *params);

typedef struct {
    const char *name;
    fac_method_kind_t kind;
    fac_method_check_fn *check;
    fac_method_run_fn *run;             // NULL for WAIT methods
    const char *summary;                // one line
} fac_method_t;

//  NULL when unknown.
const fac_method_t *
    fac_method_lookup (const char *name);

//  Every registered method, in a stable order; *count set.
const fac_method_t *
    fac_method_all (size_t *count);

//  The folded form of text[0..size) for comparing words regardless of
//  case and accents (text.sections' keywords, recommend.rules' section
//  lookup): ASCII upper case to lower case, Latin-1 letters (U+00C0 to
//  U+00FF) to their plain ASCII letter (Á á -> a, Ñ ñ -> n, Ü -> u), other
//  Latin-1 capitals to lower case; every other byte as is. Writes at most
//  size bytes to out (not terminated); returns the length written.
size_t
    fac_text_fold (const char *text, size_t size, char *out);

#endif
