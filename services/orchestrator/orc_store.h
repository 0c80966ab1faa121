/*  orc_store — the orchestrator's durable store (DESIGN.md §4 "Durability"):
    runs, their documents, phase states, every contract result and the
    factories' last snapshots, in one SQLite file in WAL mode.

    Durability. A result counts as done only once the transaction holding
    it has committed (orc_store_commit, or an autocommitted single call,
    returned 0). With the default synchronous=NORMAL, a committed
    transaction survives the process being killed (kill -9, a crash): it is
    in the WAL file, which the next open replays. A power loss or an OS
    crash may lose the last transactions committed since the last WAL
    checkpoint (never corrupting the file); orc_store_set_synchronous_full
    closes that window at the price of an fsync per commit. A full disk (or
    the size cap of orc_store_set_max_size) fails the write that needed the
    space with "...: database or disk is full" and leaves everything
    committed before intact and readable; writes work again once there is
    room.

    Exactly-once. A result's key is (run id, contract id), whatever the
    attempt: the first put wins, a later put of the same key returns 1 and
    changes nothing. Resuming a run after a restart = skipping the contract
    ids orc_store_result_ids returns.

    One owner. The store is opened in SQLite's EXCLUSIVE locking mode: while
    it is open, no other connection, in this process or another, can read
    or write the file (a second orc_store_open fails with "database is
    locked"): two orchestrators never resume the same runs. The lock goes
    with the process, kill -9 included.

    Cost: write results in transactions of many (the engine's loop turn).
    Each commit has a fixed cost (it writes every page the group touched to
    the WAL; no fsync with NORMAL, one with FULL), so grouping multiplies
    the results per second; orc_store.c says how the schema keeps those
    pages few.

    Threads: one (the orchestrator actor). The store is not thread-safe and
    must not be used after fork() in the child.

    Errors: every call returning -1 (or NULL) leaves a one-line reason,
    naming the operation and, for SQLite failures, SQLite's message, in
    orc_store_error. Invalid arguments (a phase outside 0..9, an enum value
    RunState / PhaseState / ResultStatus do not define, an empty id) are
    refused with -1 and a reason, never asserted on; a NULL store is a
    programmer error (asserted).

    Enumerations are those of proto/orchestrator.proto (RunState,
    PhaseState) and proto/factory.proto (ResultStatus); phases are numbers
    0..9 (P00..P09). Times are µs of wall clock, as the caller gives them;
    uint64_t values round-trip exactly.

    Iterations (orc_store_run_list, orc_store_run_unfinished,
    orc_store_result_each) call back with records borrowed from SQLite,
    valid during the call only: copy what you keep. The callback returns 0
    to go on, anything else to stop. It may call other store functions,
    except the iteration in progress, begin, commit and rollback (those
    return -1); rows it changes may or may not be seen by the iteration in
    progress (SQLite's rule).
*/
#ifndef ORC_STORE_H_INCLUDED
#define ORC_STORE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "factory.pb-c.h"
#include "orchestrator.pb-c.h"

//  The schema version this code writes. A store with a newer one is
//  refused (written by a newer orchestrator); older ones are migrated.
#define ORC_STORE_SCHEMA_VERSION 3

//  Phases P00..P09.
#define ORC_STORE_PHASES 10

//  How long orc_store_open waits for another connection to let go of the
//  file before refusing it (ms). Once open, the store holds the file alone
//  and never waits.
#define ORC_STORE_BUSY_TIMEOUT_MS 1000

typedef struct orc_store orc_store_t;

//  A run. Given to orc_store_run_insert (borrowed: the strings are read
//  during the call; NULL strings are stored as ""), and returned by
//  orc_store_run_get (one allocation, strings included) and the iterations
//  (borrowed).
typedef struct {
    const char *id;                 // unique, non-empty
    const char *name;               // shown in lists
    Farfan__RunState state;
    const char *error;              // why it failed; "" when none
    const char *document_digest;    // key of the run's document (orc_store_document_put)
    const char *contract_set_digest;    // of the run's contract set when submitted
    uint32_t first_phase;           // 0..9
    uint32_t last_phase;            // first_phase..9
    double deadline_s;              // 0 = none; finite, ≥ 0
    bool strict_deadline;           // an estimate beyond the deadline fails the run
    uint32_t worker_budget;         // contracts in flight per factory; 0 = the factory's cap
    const char *params_json;        // passed to every contract
    uint64_t submitted_at_us;
    uint64_t ended_at_us;           // 0 = not ended
    const char *contract_set;       // the set's location: its directory, "" = the
                                    //   orchestrator's default set (contracts_dir)
    const char *submission_key;     // the SUBMIT that started it: sender id, 0x1f,
                                    //   correlation id; "" = none (orc_store_run_by_submission)
} orc_store_run_t;

//  A phase of a run, as the engine last wrote it.
typedef struct {
    uint32_t phase;                 // 0..9
    Farfan__PhaseState state;
    uint32_t total;                 // contracts of the phase
    uint32_t done;                  // results committed (any status)
    uint32_t failed;
    uint32_t from_cache;
    uint64_t started_at_us;         // 0 = not started
    uint64_t ended_at_us;           // 0 = not ended
    double estimated_s;             // the plans' estimate; finite, ≥ 0
} orc_store_phase_t;

//  A committed contract result (borrowed, in iterations).
typedef struct {
    const char *contract_id;
    uint32_t phase;                 // 0..9
    Farfan__ResultStatus status;    // never UNSPECIFIED
    uint32_t attempts;              // executions it took (as the engine counted them)
    const char *factory_id;         // instance id of the factory that produced it; may be ""
    const uint8_t *packed;          // the ContractResult, packed protobuf
    size_t size;                    // of packed (0: packed is a valid empty buffer)
} orc_store_result_t;

//  Results of a run (or of one of its phases) by status.
typedef struct {
    uint32_t total;                 // every result
    uint32_t ok;
    uint32_t failed;
    uint32_t timed_out;
    uint32_t skipped;
} orc_store_counts_t;

typedef int (orc_store_run_fn) (const orc_store_run_t *run, void *arg);
typedef int (orc_store_result_fn) (const orc_store_result_t *result, void *arg);

//  ---------------------------------------------------------------------
//  Opening and closing

//  Opens the store at path, creating the file and the schema when absent.
//  Sets WAL mode, synchronous=NORMAL, foreign keys, the exclusive lock
//  (waiting up to ORC_STORE_BUSY_TIMEOUT_MS for another connection to let
//  go), and prepares the statements of every call. Returns NULL with a
//  one-line reason in err ("open store <path>: ...") when the file cannot
//  be opened or created (missing directory, no permission, a directory),
//  is not an SQLite database, is an SQLite database of something else,
//  has a schema version newer than ORC_STORE_SCHEMA_VERSION, is locked by
//  another connection, or WAL mode cannot be used.
orc_store_t *
    orc_store_open (const char *path, char *err, size_t err_size);

//  Closes the store (rolling back a transaction left open), nulls *self_p.
//  Idempotent.
void
    orc_store_close (orc_store_t **self_p);

//  The reason of the last failed call (borrowed; "" before any failure).
const char *
    orc_store_error (const orc_store_t *self);

//  The path given to orc_store_open (borrowed).
const char *
    orc_store_path (const orc_store_t *self);

//  full = true: synchronous=FULL, every commit is fsynced and survives a
//  power loss too. false: back to NORMAL (survives kill -9). Returns 0, or
//  -1 inside a transaction (SQLite cannot change it there) or on error.
int
    orc_store_set_synchronous_full (orc_store_t *self, bool full);

//  Caps the database file at max_bytes (rounded down to whole pages;
//  never below what it holds already; 0 = SQLite's own maximum). A write
//  beyond the cap fails like a full disk: "...: database or disk is full".
//  Returns 0, or -1 on error. (Not persistent: applies until close.)
int
    orc_store_set_max_size (orc_store_t *self, uint64_t max_bytes);

//  Runs SQLite's integrity check over the whole file. Returns 0 when it
//  finds nothing wrong, -1 with the first problem (or the failure).
int
    orc_store_check (orc_store_t *self);

//  ---------------------------------------------------------------------
//  Transactions. Single calls outside a transaction autocommit. Between
//  begin and commit, every write goes into one transaction (one fsync at
//  most, and all or nothing): the engine commits everything it received in
//  one loop turn as one group and counts those results done only when
//  commit returns 0.

//  Returns 0, or -1 when a transaction is already open, from an iteration
//  callback, or on error.
int
    orc_store_begin (orc_store_t *self);

//  Returns 0 when the group is durable. -1 when no transaction is open
//  (nothing happens), from an iteration callback, or when the commit
//  failed (a full disk, or SQLite rolled the transaction back after an
//  earlier error inside it): then nothing of the group is committed, no
//  transaction is open any more, and the caller puts the group again (in a
//  new transaction) to retry.
int
    orc_store_commit (orc_store_t *self);

//  Drops every write since begin. Returns 0 (also when SQLite had already
//  rolled the transaction back after an error), or -1 when no transaction
//  is open or from an iteration callback.
int
    orc_store_rollback (orc_store_t *self);

//  True between a begin and its commit or rollback.
bool
    orc_store_in_transaction (const orc_store_t *self);

//  After a call inside a transaction fails, SQLite may have rolled back
//  the whole transaction (a full disk does): every further write then
//  returns -1 ("...: the transaction was rolled back by an earlier error")
//  until orc_store_rollback or orc_store_commit (which returns -1) ends it,
//  so no write of the group can silently autocommit on its own.

//  ---------------------------------------------------------------------
//  Runs

//  Inserts a new run. Returns 0, or -1 when the id exists already, a field
//  is invalid (empty id, state not a RunState other than UNSPECIFIED,
//  phases outside 0..9 or first > last, deadline negative or not finite),
//  or on error.
int
    orc_store_run_insert (orc_store_t *self, const orc_store_run_t *run);

//  Sets a run's state, error (NULL = "") and ended_at_us (0 = not ended).
//  Returns 0, or -1 when there is no such run, the state is invalid, or on
//  error.
int
    orc_store_run_set_state (orc_store_t *self, const char *run_id, Farfan__RunState state,
                             const char *error, uint64_t ended_at_us);

//  Records digest as the run's document (orc_store_document_put), once it
//  is known: a run is inserted when submitted, its document converted
//  after, and a resumed run finds its document by this digest. Returns 0,
//  or -1 when there is no such run, the digest is empty, or on error.
int
    orc_store_run_set_document (orc_store_t *self, const char *run_id, const char *digest);

//  Looks up a run. Returns 1 and a copy in *run_p (the caller frees it with
//  orc_store_run_destroy), 0 when there is no such run (*run_p = NULL), or
//  -1 on error (*run_p = NULL).
int
    orc_store_run_get (orc_store_t *self, const char *run_id, orc_store_run_t **run_p);

//  Frees a run from orc_store_run_get; nulls *run_p. Idempotent.
void
    orc_store_run_destroy (orc_store_run_t **run_p);

//  The run started by the SUBMIT of key (orc_store_run_t.submission_key,
//  non-empty): its id into run_id (size bytes). Returns 1 when found, 0
//  when no run has that key (run_id ""), -1 for an empty key or on error.
//  Several runs with one key (a client that reused a correlation id): the
//  latest inserted. This is what lets the orchestrator answer a SUBMIT
//  resent across a restart with the run the first attempt started.
int
    orc_store_run_by_submission (orc_store_t *self, const char *key, char *run_id, size_t size);

//  Calls fn for at most limit runs (0 = all), the most recently submitted
//  first (ties: the last inserted first). Returns how many were visited,
//  or -1 on error.
int
    orc_store_run_list (orc_store_t *self, uint32_t limit, orc_store_run_fn *fn, void *arg);

//  Calls fn for every QUEUED or RUNNING run, in submission order (ties:
//  insertion order): the runs to resume after a restart. Returns how many
//  were visited, or -1 on error.
int
    orc_store_run_unfinished (orc_store_t *self, orc_store_run_fn *fn, void *arg);

//  ---------------------------------------------------------------------
//  Documents, by digest (the caller computes it).

//  Stores text under digest. Returns 0 when stored, 1 when the same bytes
//  were there already (nothing written), -1 when different bytes are
//  stored under that digest, the digest is empty, or on error.
int
    orc_store_document_put (orc_store_t *self, const char *digest, const uint8_t *text,
                            size_t size);

//  Returns 1 and a malloc'ed copy in *text_p (NUL-terminated, the NUL not
//  counted in *size_p; the caller frees it), 0 when absent, -1 on error
//  (*text_p = NULL, *size_p = 0 unless 1).
int
    orc_store_document_get (orc_store_t *self, const char *digest, uint8_t **text_p,
                            size_t *size_p);

//  ---------------------------------------------------------------------
//  Phases

//  Inserts or replaces the record of phase->phase of run_id. Returns 0, or
//  -1 when there is no such run, the phase or its state is invalid, or on
//  error. To keep a phase's counters consistent with its results after a
//  crash, put it in the transaction that commits those results (the
//  results themselves are what orc_store_result_counts counts).
int
    orc_store_phase_put (orc_store_t *self, const char *run_id, const orc_store_phase_t *phase);

//  Fills phases[] with the run's phase records in phase order. Returns how
//  many (0..ORC_STORE_PHASES; 0 also for an unknown run), or -1 on error.
int
    orc_store_phase_list (orc_store_t *self, const char *run_id,
                          orc_store_phase_t phases [ORC_STORE_PHASES]);

//  ---------------------------------------------------------------------
//  Contract results

//  Stores a contract's result (packed: the ContractResult, packed; size 0
//  allowed, packed then may be NULL). Returns 0 when stored, 1 when the run
//  has a result for contract_id already (kept unchanged: exactly-once), or
//  -1 when there is no such run, an argument is invalid (empty ids, phase
//  outside 0..9, status not a ResultStatus other than UNSPECIFIED), or on
//  error. factory_id NULL = "".
int
    orc_store_result_put (orc_store_t *self, const char *run_id, const char *contract_id,
                          uint32_t phase, Farfan__ResultStatus status, uint32_t attempts,
                          const char *factory_id, const uint8_t *packed, size_t size);

//  Returns 1 when the run has a result for contract_id, 0 when not, -1 on
//  error.
int
    orc_store_result_exists (orc_store_t *self, const char *run_id, const char *contract_id);

//  Counts the run's results of phase (-1 = every phase) by status into
//  *counts. Scans the run's results: O(results of the run) (there is no
//  phase index: it would halve the write rate, see orc_store.c). For
//  resuming and reports; the engine keeps live counts itself (and in its
//  phase records). Returns 0 (zero counts for an unknown run), or -1 on
//  error.
int
    orc_store_result_counts (orc_store_t *self, const char *run_id, int phase,
                             orc_store_counts_t *counts);

//  Calls fn for the run's results, in phase order then contract id order:
//  every one (phase -1, contract_id NULL), one phase's (phase 0..9), or
//  one contract's (contract_id; with a phase too, only when it is of that
//  phase). One contract's is a key lookup; the others scan the run's
//  results (every phase: sorted first). Returns how many were visited, or
//  -1 on error.
int
    orc_store_result_each (orc_store_t *self, const char *run_id, int phase,
                           const char *contract_id, orc_store_result_fn *fn, void *arg);

//  The committed contract ids of the run (of phase 0..9, or -1 = every
//  phase; a scan of the run's results), for resuming: a new zhashx_t (the
//  caller destroys it) whose keys are the contract ids and whose items are
//  their statuses, cast:
//  (Farfan__ResultStatus) (uintptr_t) zhashx_lookup (ids, contract_id) —
//  never NULL for a present key, as no stored status is 0. NULL on error.
zhashx_t *
    orc_store_result_ids (orc_store_t *self, const char *run_id, int phase);

//  ---------------------------------------------------------------------
//  Factory snapshots: the last one of each factory instance.

//  Stores packed (a Snapshot, packed) as factory_id's snapshot, replacing
//  the previous one. Returns 0, or -1 for an empty factory id or on error.
int
    orc_store_snapshot_put (orc_store_t *self, const char *factory_id, uint64_t taken_at_us,
                            const uint8_t *packed, size_t size);

//  Returns 1 with the snapshot's time in *taken_at_us and a malloc'ed copy
//  of its bytes in *packed_p / *size_p (never NULL, even for 0 bytes; the
//  caller frees it), 0 when the factory has none, -1 on error.
int
    orc_store_snapshot_get (orc_store_t *self, const char *factory_id, uint64_t *taken_at_us,
                            uint8_t **packed_p, size_t *size_p);

#endif
