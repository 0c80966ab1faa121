/*  orc_sets — the contract sets runs use: the orchestrator's default set
    (contracts_dir, loaded at start, always loaded) and the sets runs name
    (SubmitRun.contract_set), loaded when a run is submitted or resumed.

    A run's set is named by a spec: "" = the default set; a name
    ([A-Za-z0-9._-]+, not "." or "..") = that subdirectory of
    contract_sets_dir (names are refused while it is ""); an absolute path
    = that directory. The spec resolves to a location (the directory, ""
    for the default set), which the store records so a resumed run reloads
    the same directory and checks its digest.

    A named set must be entirely valid: a directory that cannot be read, a
    file that is not JSON, an invalid contract (reported with file, field
    and reason, as the loader gives them) or a set with no contracts is
    refused, naming the problem. (The default set keeps the daemon's
    lenient start: its invalid contracts are logged and left out.)

    Loaded sets are shared by digest and reference-counted: two runs of
    identical definitions hold one copy, whatever directory they came from.
    A set no run holds stays loaded in a cache of at most cache_size sets
    (least recently used evicted first), so a run submitted again with it
    shares the copy. One thread (the orchestrator actor).
*/
#ifndef ORC_SETS_H_INCLUDED
#define ORC_SETS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "fac_contract.h"

typedef struct orc_sets orc_sets_t;
typedef struct orc_set orc_set_t;

//  Loads the default set from default_dir ("" = an empty set), logging
//  its invalid contracts. sets_dir "" = names refused. env is borrowed and
//  must outlive the sets. NULL with the reason in err when default_dir
//  cannot be read.
orc_sets_t *
    orc_sets_new (const char *default_dir, const char *sets_dir, size_t cache_size,
                  const fac_method_env_t *env, char *err, size_t err_size);

//  Every set must have been released. Nulls *self_p; idempotent.
void
    orc_sets_destroy (orc_sets_t **self_p);

//  Resolves a spec (see above) to a location (written to location, "" for
//  the default set). Returns 0, or -1 with the reason in err (a bad name,
//  names without contract_sets_dir, a relative path).
int
    orc_sets_resolve (orc_sets_t *self, const char *spec, char *location, size_t location_size,
                      char *err, size_t err_size);

//  A reference to the set at location ("" = the default set), loaded from
//  the directory (or shared with an identical loaded set). NULL with the
//  reason in err: unreadable, invalid contracts, empty.
orc_set_t *
    orc_sets_acquire (orc_sets_t *self, const char *location, char *err, size_t err_size);

//  Drops a reference; nulls *set_p. Idempotent.
void
    orc_sets_release (orc_sets_t *self, orc_set_t **set_p);

//  Sets loaded now (held by runs, cached, and the default one).
size_t
    orc_sets_loaded (orc_sets_t *self);

//  The set's contracts (borrowed, valid while the reference is held).
fac_contract_set_t *
    orc_set_contracts (orc_set_t *set);

//  "sha256:<hex>" of the set's definitions (fac_contract_set_digest).
const char *
    orc_set_digest (orc_set_t *set);

#endif
