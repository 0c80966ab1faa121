/*  fac_methods — private to the method registry: the check and run
    function of every method (fac_methods_text.c, fac_methods_score.c) and
    the helpers they share (fac_method.c). The public face is fac_method.h;
    the formulas are documented in proto/methods.md.

    Conventions of every check function: params must be a JSON object;
    unknown keys are refused (a typo must not silently fall back to a
    default); an error names the parameter first ("params.max_matches:
    ...") or, for the contract's own fields, the field ("scoring.threshold:
    ..."). Run functions parse their params with the same code as the
    check (so a run never trusts what it is given) and fail with ctx->error
    instead of asserting.
*/
#ifndef FAC_METHODS_H_INCLUDED
#define FAC_METHODS_H_INCLUDED

#include "fac_method.h"

#include <stdarg.h>

//  ---------------------------------------------------------------------
//  The methods (registered in fac_method.c)

fac_method_check_fn fac_methods_match_patterns_check;
fac_method_run_fn   fac_methods_match_patterns_run;
fac_method_check_fn fac_methods_count_elements_check;
fac_method_run_fn   fac_methods_count_elements_run;
fac_method_check_fn fac_methods_extract_numbers_check;
fac_method_run_fn   fac_methods_extract_numbers_run;
fac_method_check_fn fac_methods_keyword_density_check;
fac_method_run_fn   fac_methods_keyword_density_run;
fac_method_check_fn fac_methods_modality_check;
fac_method_run_fn   fac_methods_modality_run;
fac_method_check_fn fac_methods_weighted_mean_check;
fac_method_run_fn   fac_methods_weighted_mean_run;
fac_method_check_fn fac_methods_choquet_check;
fac_method_run_fn   fac_methods_choquet_run;
fac_method_check_fn fac_methods_io_wait_check;
fac_method_check_fn fac_methods_exec_check;

//  ---------------------------------------------------------------------
//  Shared helpers (fac_method.c)

//  Formats into err and returns -1.
int
    fac_methods_errf (char *err, size_t err_size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Formats "<method>: <reason>" into ctx->error and returns -1.
int
    fac_methods_fail (fac_context_t *ctx, const char *method, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  0 when params is an object whose keys are all in known (NULL-terminated);
//  else -1 naming the first unknown key and listing the known ones.
int
    fac_methods_check_keys (const json_t *params, const char *method,
                            const char *const *known, char *err, size_t err_size);

//  params[key] as an integer in min..max; *value = fallback when absent.
//  -1 with "params.<key>: ..." when not an integer or out of range.
int
    fac_methods_get_int (const json_t *params, const char *key, long long min,
                         long long max, long long fallback, long long *value,
                         char *err, size_t err_size);

//  params[key] as a finite number (integer or real) in min..max; *value =
//  fallback when absent. -1 with "params.<key>: ..." otherwise.
int
    fac_methods_get_number (const json_t *params, const char *key, double min,
                            double max, double fallback, double *value,
                            char *err, size_t err_size);

//  The contract's expected element of that type; NULL when none.
const fac_expected_t *
    fac_methods_expected (const fac_contract_t *contract, const char *type);

//  True when id is one of the contract's input contracts.
bool
    fac_methods_is_input (const fac_contract_t *contract, const char *id);

//  Makes sure ctx->evidence holds one entry per expected element (in
//  expected-element order, count 0) when no step filled it yet. 0, or -1
//  with ctx->error set (out of memory).
int
    fac_methods_evidence_ensure (fac_context_t *ctx, const char *method);

//  The evidence entry of an element type; NULL when none.
fac_evidence_t *
    fac_methods_evidence_find (fac_context_t *ctx, const char *type);

//  Frees ctx->evidence.
void
    fac_methods_evidence_free (fac_context_t *ctx);

//  How far one element's evidence satisfies its expectation, 0..1:
//  minimum m > 0: min (count / m, 1) (with required too: the same, since
//  it is the stricter of the two); required or neither: 1 if count > 0,
//  else 0.
double
    fac_methods_satisfaction (const fac_evidence_t *evidence);

//  Stores value (reference stolen) as ctx->output[key]. 0, or -1 with
//  ctx->error set (value NULL = out of memory).
int
    fac_methods_output_set (fac_context_t *ctx, const char *method, json_t *value);

#endif
