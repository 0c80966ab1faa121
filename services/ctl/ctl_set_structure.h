/*  ctl_set_structure — the structure of a FARFAN contract set, shared by
    `farfanctl contracts generate` (the project's default set) and
    `farfanctl contracts import` (upstream FARFAN's questions).

    Every set has the same structure; only the 300 micro contracts (P02,
    Qnnn_PAxx) differ. Given them, this code writes everything else from
    the structure source, contracts/src/structure.json (documented in
    contracts/README.md):

      P00  VALIDATE_DOCUMENT     text.profile
      P01  INGEST                text.sections
      P03  SCORE_Qnnn_PAxx (300) score.from_input, score.modality
      P04  AGG_DIMyy_PAxx (60)   aggregate.choquet over the 5 SCORE_ of DIMyy x PAxx
      P05  AGG_PAxx (10)         aggregate.weighted_mean over the 6 AGG_DIMyy_PAxx
      P06  AGG_CLzz (4)          aggregate.weighted_mean + dispersion_penalty
      P07  AGG_MACRO             aggregate.weighted_mean + coherence
      P08  RECOMMEND             recommend.rules over INGEST + the 300 SCORE_
      P09  REPORT                report.assemble over everything above

    Question slot Qk (k = 1..30) belongs to dimension DIM0⌈k/5⌉. Every
    weight lives in the source, none in C; the source is validated when it
    is loaded (Choquet capacities normalised and monotone, weighted-mean
    weights summing to 1, each policy area in exactly one cluster), so a
    bad weight is reported against its file and JSON path, not discovered
    by a factory.

    The project's own 300 micro contracts come from the question source,
    contracts/src/questions.json (ctl_structure_questions).

    Errors: functions that fail write one line into err: the file, the
    JSON path of the offending value and why, e.g.
    "contracts/src/structure.json: dimensions[1].choquet: weights and
    interactions sum to 1.05, a capacity needs 1 (within 1e-06)".
*/
#ifndef CTL_SET_STRUCTURE_H_INCLUDED
#define CTL_SET_STRUCTURE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _ctl_structure_t ctl_structure_t;

//  Question slots, dimensions, policy areas and clusters of a FARFAN set.
#define CTL_SLOT_COUNT 30
#define CTL_DIMENSION_COUNT 6
#define CTL_AREA_COUNT 10
#define CTL_CLUSTER_COUNT 4
#define CTL_SLOTS_PER_DIMENSION 5

//  Loads and validates source_dir/structure.json. NULL with the reason
//  (file, JSON path, why) in err.
ctl_structure_t *
    ctl_structure_load (const char *source_dir, char *err, size_t err_size);

//  Frees the structure and nulls *self_p. Idempotent.
void
    ctl_structure_destroy (ctl_structure_t **self_p);

//  Every contract of a set but the micro ones, for the given micro
//  contracts (a JSON array of farfan-contract/1 objects with ids
//  Qnnn_PAxx, identity, title, expected_elements, scoring): the 300
//  SCORE_ contracts (P03), the aggregations (P04–P07), VALIDATE_DOCUMENT
//  (P00), INGEST (P01), RECOMMEND (P08), REPORT (P09). Returns a new JSON
//  object {"P00": [...], "P01": [...], "P03": [...], ...}; NULL with the
//  reason in err (e.g. a micro contract missing for a slot × area).
//  Each micro contract must be there exactly once, with an identity that
//  agrees with its id (base_question, policy_area, the slot's dimension
//  and the area's cluster).
json_t *
    ctl_structure_build (ctl_structure_t *self, const json_t *micro, char *err, size_t err_size);

//  The project's 300 micro contracts (areas in order, the 30 slots in
//  order within each: Q001_PA01 ... Q030_PA01, Q001_PA02 ...) from
//  source_dir/questions.json: the question slots, the Spanish pattern
//  library and the policy areas' keywords (contracts/README.md). A new
//  JSON array; NULL with the reason (file, JSON path, why) in err.
json_t *
    ctl_structure_questions (ctl_structure_t *self, const char *source_dir,
                             char *err, size_t err_size);

//  Writes a set directory: one farfan-contract-set/1 file per phase
//  ("P02-micro.json" ...), keys sorted, 2-space indent, UTF-8 as is, a
//  final newline (so a regenerated set is byte-identical). Creates out_dir;
//  replaces only the P??-*.json files it writes. 0, or -1 with err.
//  by_phase: {"P00": [contracts], ...}; phases absent get no file. Keys
//  starting with "x-" or "_" are copied to the top of every set file (a
//  comment, the generator's name). Each file is written to a hidden
//  temporary file and renamed, so a factory loading the directory never
//  sees half a file.
int
    ctl_set_write (const char *out_dir, const json_t *by_phase, char *err, size_t err_size);

//  The set file name of phase 0..9 ("P00-validate.json", "P02-micro.json",
//  ...); NULL outside 0..9.
const char *
    ctl_set_file_name (int phase);

//  The set file ctl_set_write writes for phase (0..9) of by_phase: its
//  contracts, and by_phase's extension members. NULL when by_phase has
//  no such phase, or (*nomem set) out of memory. Caller decrefs.
json_t *
    ctl_set_file (const json_t *by_phase, int phase, bool *nomem);

//  The text ctl_set_write writes for a JSON value: exactly Python's
//  json.dumps (value, indent=2, sort_keys=True, ensure_ascii=False) plus
//  a final newline (reals in their shortest round-trip form). Caller
//  frees; NULL on out of memory.
char *
    ctl_set_dumps (const json_t *value);

//  What ctl_contracts_generate did.
typedef struct {
    size_t contracts;                   // written, all phases
    size_t per_phase [10];              // contracts per phase P00..P09
    size_t patterns;                    // patterns of the micro contracts
    size_t files;                       // set files written
} ctl_generate_report_t;

//  The default set from a source directory: ctl_structure_load,
//  ctl_structure_questions, ctl_structure_build, then (when out_dir is
//  not NULL) ctl_set_write. *by_phase (when not NULL) gets the set, by
//  phase, as written (caller json_decref's). 0, or -1 with err.
int
    ctl_contracts_generate (const char *source_dir, const char *out_dir,
                            json_t **by_phase, ctl_generate_report_t *report,
                            char *err, size_t err_size);

//  Reading the structure (borrowed strings, valid while self lives).

//  The version every generated contract carries (structure.json "version").
const char *
    ctl_structure_version (ctl_structure_t *self);
//  The cluster of a policy area ("PA01" -> "CL02"); NULL when unknown.
const char *
    ctl_structure_cluster_of (ctl_structure_t *self, const char *policy_area);
//  Names of a dimension, policy area or cluster by id ("DIM01" ->
//  "Diagnóstico y recursos"); NULL when unknown.
const char *
    ctl_structure_name (ctl_structure_t *self, const char *id);
//  The dimension of question slot 1..30 ("DIM01" .. "DIM06"); NULL outside.
const char *
    ctl_structure_slot_dimension (int slot);

#endif
