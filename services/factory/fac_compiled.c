/*  fac_compiled — compiled contracts (see fac_contract.h). */
#include "fac_contract.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int
s_pattern_compile (const fac_pattern_t *pattern, pcre2_code **code, bool jit,
                   char *err, size_t err_size)
{
    //  LITERAL refuses UCP, MULTILINE and DOTALL (they mean nothing there).
    //  MULTILINE also takes ALT_CIRCUMFLEX: Python's ^ matches after a
    //  newline that ends the text, PCRE2's only with this option.
    uint32_t options = PCRE2_UTF;
    if (pattern->flags & FAC_PATTERN_IGNORECASE)
        options |= PCRE2_CASELESS;
    if (pattern->flags & FAC_PATTERN_LITERAL)
        options |= PCRE2_LITERAL;
    else {
        options |= PCRE2_UCP;
        if (pattern->flags & FAC_PATTERN_MULTILINE)
            options |= PCRE2_MULTILINE | PCRE2_ALT_CIRCUMFLEX;
        if (pattern->flags & FAC_PATTERN_DOTALL)
            options |= PCRE2_DOTALL;
    }
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    *code = pcre2_compile ((PCRE2_SPTR) pattern->regex, PCRE2_ZERO_TERMINATED, options,
                           &error_code, &error_offset, NULL);
    if (!*code) {
        PCRE2_UCHAR message [160];
        pcre2_get_error_message (error_code, message, sizeof message);
        snprintf (err, err_size, "%s at offset %zu", (const char *) message, (size_t) error_offset);
        return -1;
    }
    //  JIT is an optimisation: without it (unsupported CPU, no executable
    //  memory) the interpreter gives the same matches.
    if (jit)
        pcre2_jit_compile (*code, PCRE2_JIT_COMPLETE);
    return 0;
}

int
fac_pattern_compile (const fac_pattern_t *pattern, pcre2_code **code,
                     char *err, size_t err_size)
{
    return s_pattern_compile (pattern, code, true, err, err_size);
}

int
fac_pattern_check (const fac_pattern_t *pattern, char *err, size_t err_size)
{
    pcre2_code *code = NULL;
    int rc = s_pattern_compile (pattern, &code, false, err, err_size);
    pcre2_code_free (code);
    return rc;
}

fac_compiled_t *
fac_compiled_new (fac_contract_t *contract, char *err, size_t err_size)
{
    fac_compiled_t *self = (fac_compiled_t *) calloc (1, sizeof (fac_compiled_t));
    if (!self)
        goto nomem;
    if (contract->pattern_count > 0) {
        self->codes = (pcre2_code **) calloc (contract->pattern_count, sizeof (pcre2_code *));
        if (!self->codes)
            goto nomem;
    }
    for (size_t i = 0; i < contract->pattern_count; i++) {
        char reason [200];
        if (fac_pattern_compile (&contract->patterns [i], &self->codes [i],
                                 reason, sizeof reason) != 0) {
            snprintf (err, err_size, "%s: patterns[%zu] (%s): %s", contract->id, i,
                      contract->patterns [i].id, reason);
            goto failed;
        }
    }
    self->contract = fac_contract_ref (contract);
    atomic_init (&self->refs, 1);
    return self;

nomem:
    snprintf (err, err_size, "%s: out of memory compiling", contract->id);
failed:
    if (self) {
        for (size_t i = 0; self->codes && i < contract->pattern_count; i++)
            pcre2_code_free (self->codes [i]);
        free (self->codes);
        free (self);
    }
    return NULL;
}

fac_compiled_t *
fac_compiled_ref (fac_compiled_t *self)
{
    atomic_fetch_add (&self->refs, 1);
    return self;
}

void
fac_compiled_unref (fac_compiled_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fac_compiled_t *self = *self_p;
    *self_p = NULL;
    if (atomic_fetch_sub (&self->refs, 1) != 1)
        return;
    for (size_t i = 0; i < self->contract->pattern_count; i++)
        pcre2_code_free (self->codes [i]);
    free (self->codes);
    fac_contract_unref (&self->contract);
    free (self);
}
