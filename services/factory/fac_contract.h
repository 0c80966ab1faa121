/*  fac_contract — FARFAN contracts: the JSON format, validation, canonical
    digest, contract sets, and the compiled form the methods run on.

    The format (farfan-contract/1) is documented in proto/contracts.md with
    a JSON Schema in proto/contract.schema.json. A contract is one JSON
    object; a set file is {"format": "farfan-contract-set/1", "contracts":
    [ ... ]}. Validation reports every problem with the file, the JSON path
    of the field and the reason; nothing invalid is ever loaded.

    Lifetimes: contracts and compiled contracts are reference-counted and
    immutable once built, so a worker thread can keep using one while the
    owner replaces the set or evicts it from a cache. Reference counting is
    atomic; everything else here is used from one thread at a time.
*/
#ifndef FAC_CONTRACT_H_INCLUDED
#define FAC_CONTRACT_H_INCLUDED

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

//  Phases P00..P09.
#define FAC_PHASE_COUNT 10

//  Largest contract or set file fac_contract_set_load_dir reads, bytes (300
//  contracts with upstream FARFAN's patterns are about 0.7 MB).
#define FAC_CONTRACT_FILE_MAX (64 * 1024 * 1024)

//  Pattern flags (Python `re` names; Python semantics, see contracts.md).
#define FAC_PATTERN_IGNORECASE  0x01u
#define FAC_PATTERN_MULTILINE   0x02u
#define FAC_PATTERN_DOTALL      0x04u
#define FAC_PATTERN_LITERAL     0x08u   // the text is matched literally, not as a regex

//  What validating a contract needs to know about the running factory.
typedef struct {
    const char *const *exec_allowed;    // programs exec may run: absolute paths, or
    size_t exec_allowed_count;          //   directories ending in '/'; none = exec disabled
} fac_method_env_t;

typedef enum {
    FAC_CONTRACT_ACTIVE = 0,
    FAC_CONTRACT_INACTIVE = 1,
} fac_contract_status_t;

typedef struct {
    char *id;                   // unique within the contract
    char *regex;                // source text as written (PCRE2 syntax = Python re for what upstream uses)
    uint32_t flags;             // FAC_PATTERN_*
    char *element_type;         // the expected element it is evidence of
    double weight;              // 0..1, confidence of a match
} fac_pattern_t;

typedef struct {
    char *type;                 // element type, e.g. "fuentes_oficiales"
    uint32_t minimum;           // 0 = no minimum count
    bool required;              // at least one match needed
} fac_expected_t;

typedef struct {
    char *method;               // registry name, e.g. "text.match_patterns"
    json_t *params;             // JSON object (never NULL; {} when absent)
} fac_step_t;

typedef struct fac_contract {
    char *id;                   // "Q001_PA01", "AGG_DIM01_PA01", ...
    char *version;              // the contract's own version string
    fac_contract_status_t status;
    char *type;                 // "micro", "aggregation", "ingestion", "scoring", "recommendation", "report", "task"
    char *title;                // what it asks or does, for people ("" when none)
    char *base_question;        // "Q001" ("" when n/a)
    char *policy_area;          // "PA01" ("" when n/a)
    char *dimension;            // "DIM01" ("" when n/a)
    char *cluster;              // "CL02" ("" when n/a)
    uint32_t phases;            // bit i set = applicable to phase P0i
    bool uses_document;         // inputs.document
    char **input_contracts;     // inputs.contracts: ids whose results this contract aggregates
    size_t input_count;
    fac_pattern_t *patterns;
    size_t pattern_count;
    fac_expected_t *expected;
    size_t expected_count;
    fac_step_t *steps;          // the method pipeline, in order (≥ 1)
    size_t step_count;
    char *modality;             // scoring.modality ("" when none)
    json_t *scoring;            // the scoring object as written ({} when absent)
    uint32_t timeout_ms;        // > 0
    char *source;               // file (or "put_contracts[i]") it came from
    char *canonical;            // canonical JSON (contracts.md): defaults filled in,
                                //   sorted keys, compact, UTF-8
    char digest [72];           // "sha256:" + 64 lower-case hex of SHA-256(canonical)
    atomic_int refs;            // reference count (fac_contract_ref/unref)
} fac_contract_t;

//  Where and why a contract (or file) was rejected.
typedef struct {
    char file [256];            // source file, or "put_contracts[i]"
    char field [128];           // JSON path, e.g. "patterns[3].regex"; "" = whole document
    char reason [256];
    char contract_id [64];      // when known
} fac_load_error_t;

//  A list of load errors (bounded: beyond `capacity` only `count` grows).
//  Errors are appended in the order found (files by name, then the order
//  of contracts.md section 6); errors [0 .. min (count, capacity)) are stored.
typedef struct {
    fac_load_error_t *errors;
    size_t count;               // errors found (keeps growing past capacity)
    size_t capacity;            // most errors stored
} fac_load_report_t;

//  capacity 0 (or an allocation failure) stores none but still counts.
void
    fac_load_report_init (fac_load_report_t *report, size_t capacity);
//  Frees the stored errors; the report is empty afterwards. Idempotent.
void
    fac_load_report_free (fac_load_report_t *report);

//  Parses and validates one contract object. Returns a contract with one
//  reference, or NULL with every problem appended to report (which may be
//  NULL). source names the origin in errors. Validation: required fields
//  and types, unknown fields (but "x-..." and "_..." extensions), id
//  syntax, phases, status, identity codes, pattern ids unique, regexes
//  compile (fac_pattern_check), flags known, expected elements
//  well-formed, every method known to the registry (fac_method.h) with
//  parameters its check accepts, inputs present (text.* methods need
//  inputs.document, aggregations inputs.contracts), timeout in range.
//  "format" is required here (it is optional only inside a set file).
//  env may be NULL (exec disabled). The canonical form and digest are set.
fac_contract_t *
    fac_contract_parse (const json_t *object, const char *source,
                        const fac_method_env_t *env, fac_load_report_t *report);

fac_contract_t *
    fac_contract_ref (fac_contract_t *self);
//  Drops one reference (frees at zero) and nulls *self_p.
void
    fac_contract_unref (fac_contract_t **self_p);

//  True when the contract applies to phase (0..9).
bool
    fac_contract_in_phase (const fac_contract_t *self, int phase);

//  Parses "P00".."P09" (also "p2", "P2", "phase_02" / "Phase_02", "2");
//  -1 when not a phase.
int
    fac_phase_parse (const char *text);

//  ---------------------------------------------------------------------
//  Compiled contracts: the contract plus its patterns compiled (PCRE2, JIT).

typedef struct {
    fac_contract_t *contract;   // one reference held
    pcre2_code **codes;         // one per pattern, same order; owned
    atomic_int refs;            // reference count
} fac_compiled_t;

//  Compiles one pattern: PCRE2 with UTF and UCP (Unicode \w \d \b, as
//  Python 3's re), CASELESS / MULTILINE (+ ALT_CIRCUMFLEX, Python's ^) /
//  DOTALL from its flags, LITERAL as PCRE2_LITERAL, then JIT (falling back to the interpreter where JIT is
//  unavailable). Returns 0, or -1 with PCRE2's message and offset in err.
int
    fac_pattern_compile (const fac_pattern_t *pattern, pcre2_code **code,
                         char *err, size_t err_size);

//  Whether the pattern compiles, as fac_pattern_compile would compile it,
//  without the JIT step (validation only: nothing is kept). Returns 0, or
//  -1 with PCRE2's message and offset in err.
int
    fac_pattern_check (const fac_pattern_t *pattern, char *err, size_t err_size);

//  Compiles every pattern. NULL with the reason in err (cannot happen for a
//  contract that passed validation, short of memory).
fac_compiled_t *
    fac_compiled_new (fac_contract_t *contract, char *err, size_t err_size);
fac_compiled_t *
    fac_compiled_ref (fac_compiled_t *self);
void
    fac_compiled_unref (fac_compiled_t **self_p);

//  ---------------------------------------------------------------------
//  Contract sets: every valid contract by id, and the set digest.

typedef struct fac_contract_set fac_contract_set_t;

//  env (borrowed, must outlive the set) is used to validate every contract.
fac_contract_set_t *
    fac_contract_set_new (const fac_method_env_t *env);
void
    fac_contract_set_destroy (fac_contract_set_t **self_p);

//  Loads every *.json file of dir (contracts or set files; not recursive,
//  hidden files skipped), in file-name order (strcmp). Invalid contracts,
//  bad JSON and unreadable files go to report; the other contracts load.
//  An id defined twice in this load, or already in the set, is an error
//  reported against the later definition, naming the earlier (which
//  stays). Returns the number of contracts added, or -1 (reported) when
//  dir cannot be opened.
int
    fac_contract_set_load_dir (fac_contract_set_t *self, const char *dir,
                               fac_load_report_t *report);

//  Adds the contracts of one JSON text (a contract or a set); a contract
//  whose id exists in the set replaces it (holders of the old one keep
//  their reference); an id defined twice in the text is an error against
//  the later one. Returns the number added or replaced.
int
    fac_contract_set_add_json (fac_contract_set_t *self, const char *text, size_t size,
                               const char *source, fac_load_report_t *report);

//  Borrowed (the set keeps its reference); NULL when unknown.
fac_contract_t *
    fac_contract_set_lookup (fac_contract_set_t *self, const char *id);

size_t
    fac_contract_set_size (fac_contract_set_t *self);

//  "sha256:<hex>" over the sorted lines "<id> <digest>\n" of every
//  contract: two sets with equal digests hold identical definitions. The
//  empty set's digest is SHA-256 of "". Borrowed, valid until the set
//  changes; recomputed on the first call after a change.
const char *
    fac_contract_set_digest (fac_contract_set_t *self);

//  Every contract, sorted by id (borrowed array, valid until the set
//  changes); *count set.
fac_contract_t **
    fac_contract_set_all (fac_contract_set_t *self, size_t *count);

#endif
