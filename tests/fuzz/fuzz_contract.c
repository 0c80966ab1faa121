/*  fuzz_contract — libFuzzer target: the contract JSON loader and
    validator (services/factory/fac_contract.c), as PUT_CONTRACTS and the
    contracts directory feed it.

    Input: one JSON text, a contract or a set file. It goes through
    fac_contract_set_add_json (parse, validate every field, regexes,
    methods and their parameters, canonical form, digest), then every
    contract that loaded is compiled (PCRE2 + JIT, as the factory does
    before running it) and its canonical form is loaded again.

    Checked beyond "no crash, no leak, no undefined behaviour":
      - the load report counts at least one error unless something loaded;
      - every loaded contract compiles (validation promised it would);
      - the canonical JSON of a loaded contract loads into a contract with
        the same digest (canonicalisation is idempotent).
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fac_contract.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check (bool condition)
{
    if (!condition)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  The exact input, not NUL-terminated: the loader takes (text, size).
    char *text = (char *) malloc (size ? size : 1);
    memcpy (text, data, size);
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    fac_load_report_t report;
    fac_load_report_init (&report, 8);
    int added = fac_contract_set_add_json (set, text, size, "fuzz", &report);
    s_check (added >= 0);
    s_check ((size_t) added == fac_contract_set_size (set));
    s_check (added > 0 || report.count > 0);
    for (size_t e = 0; e < report.count && e < report.capacity; e++)
        s_check (report.errors [e].reason [0] != 0);
    fac_load_report_free (&report);

    size_t count = 0;
    fac_contract_t **all = fac_contract_set_all (set, &count);
    for (size_t i = 0; i < count; i++) {
        fac_contract_t *contract = all [i];
        char err [256];
        fac_compiled_t *compiled = fac_compiled_new (contract, err, sizeof err);
        s_check (compiled != NULL);
        fac_compiled_unref (&compiled);

        //  The canonical form, loaded again as a contract of its own.
        fac_contract_set_t *again = fac_contract_set_new (NULL);
        fac_load_report_init (&report, 1);
        int reloaded = fac_contract_set_add_json (again, contract->canonical,
                                                  strlen (contract->canonical), "canonical",
                                                  &report);
        s_check (reloaded == 1);
        fac_contract_t *copy = fac_contract_set_lookup (again, contract->id);
        s_check (copy && strcmp (copy->digest, contract->digest) == 0);
        fac_load_report_free (&report);
        fac_contract_set_destroy (&again);
    }
    (void) fac_contract_set_digest (set);
    fac_contract_set_destroy (&set);
    free (text);
    return 0;
}
