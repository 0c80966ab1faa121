/*  orc_store — see orc_store.h.

    Schema (version 3), in 16 KB pages:
      schema_version (version)                       one row
      runs      (seq, id UNIQUE, name, state, error, document_digest,
                 contract_set_digest, first_phase, last_phase, deadline_s,
                 strict_deadline, worker_budget, params_json,
                 submitted_at_us, ended_at_us, contract_set, submission_key)
                                                       + index by submission
                                                       + index by submission key
      documents (digest PK, text)
      phases    (run → runs.seq, phase, state, counters, times, estimate)
                 PK (run, phase), WITHOUT ROWID (small rows)
      results   (run → runs.seq, contract_id, phase, status, attempts,
                 factory_id, packed) PK (run, contract_id)
      snapshots (factory_id PK, taken_at_us, packed)
    The primary key (run, contract_id) makes exactly-once a property of the
    file: INSERT ... ON CONFLICT DO NOTHING, and sqlite3_changes says which.

    Write cost is what shaped this. Results arrive in dispatch order, not
    contract id order, so every result lands at a random place of each
    index of the results table, and each index page a transaction touches
    is a WAL frame written (and checksummed) at commit. So: one index only
    (the primary key; a phase's results and counts are read by scanning
    the run's key range, tens of ms for 10,000 results, which only status
    queries and resumes need); runs referenced by an integer (seq) rather
    than their text id, halving the key; 16 KB pages, fewer frames per
    commit. Measured in one run (groups of 100 results of 200 bytes, ids
    shuffled within runs of 10,000): 3 to 4 times the results per CPU
    second of text keys with a phase index on 4 KB pages. Results keep their rowid (a blob of a few hundred bytes to a few
    KB is too big for a WITHOUT ROWID b-tree, whose interior pages hold
    whole rows).

    Run ids are resolved to seq on every write naming a run (a cache of
    recent ones saves the lookup). The cache may hold a run inserted in the
    open transaction: it is emptied whenever a transaction ends without
    committing (rollback, failed commit, SQLite's own rollback), so a seq
    that a rollback freed, and a later insert could reuse for another run,
    is never used for the old id.

    Every statement a call runs is prepared once at open (persistent) and
    reset after each use. Text is bound SQLITE_STATIC: the caller's strings
    outlive the step, and every call binds every parameter before stepping.
    uint64_t values are stored as SQLite's signed 64-bit integers (the same
    bits), so they round-trip.

    Transaction state: in_transaction between begin and commit/rollback;
    aborted when SQLite rolled the transaction back by itself after an
    error inside it (sqlite3_get_autocommit turned true): writes are then
    refused until the caller ends the transaction, so none can autocommit
    by accident while the caller believes it is grouped.
*/
#include "orc_store.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ERROR_SIZE 512

//  The schema, version 1. Created in one transaction with its version row.
static const char *s_schema_v1 =
    "CREATE TABLE schema_version ("
    "  version INTEGER NOT NULL);"
    "CREATE TABLE runs ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  error TEXT NOT NULL,"
    "  document_digest TEXT NOT NULL,"
    "  contract_set_digest TEXT NOT NULL,"
    "  first_phase INTEGER NOT NULL CHECK (first_phase BETWEEN 0 AND 9),"
    "  last_phase INTEGER NOT NULL CHECK (last_phase BETWEEN first_phase AND 9),"
    "  deadline_s REAL NOT NULL,"
    "  strict_deadline INTEGER NOT NULL,"
    "  worker_budget INTEGER NOT NULL,"
    "  params_json TEXT NOT NULL,"
    "  submitted_at_us INTEGER NOT NULL,"
    "  ended_at_us INTEGER NOT NULL);"
    "CREATE INDEX runs_by_submission ON runs (submitted_at_us);"
    "CREATE TABLE documents ("
    "  digest TEXT PRIMARY KEY NOT NULL,"
    "  text BLOB NOT NULL);"
    "CREATE TABLE phases ("
    "  run INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,"
    "  phase INTEGER NOT NULL CHECK (phase BETWEEN 0 AND 9),"
    "  state INTEGER NOT NULL,"
    "  total INTEGER NOT NULL,"
    "  done INTEGER NOT NULL,"
    "  failed INTEGER NOT NULL,"
    "  from_cache INTEGER NOT NULL,"
    "  started_at_us INTEGER NOT NULL,"
    "  ended_at_us INTEGER NOT NULL,"
    "  estimated_s REAL NOT NULL,"
    "  PRIMARY KEY (run, phase)) WITHOUT ROWID;"
    "CREATE TABLE results ("
    "  run INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,"
    "  contract_id TEXT NOT NULL,"
    "  phase INTEGER NOT NULL CHECK (phase BETWEEN 0 AND 9),"
    "  status INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  factory_id TEXT NOT NULL,"
    "  packed BLOB NOT NULL,"
    "  PRIMARY KEY (run, contract_id));"
    "CREATE TABLE snapshots ("
    "  factory_id TEXT PRIMARY KEY NOT NULL,"
    "  taken_at_us INTEGER NOT NULL,"
    "  packed BLOB NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (1);";

//  Version 1 -> 2: the location of each run's contract set ("" = the
//  orchestrator's default set, which every run of version 1 used).
static const char *s_migrate_v2 =
    "ALTER TABLE runs ADD COLUMN contract_set TEXT NOT NULL DEFAULT '';"
    "UPDATE schema_version SET version = 2;";

//  Version 2 -> 3: the key of the SUBMIT that started each run (sender id
//  and correlation id), so that a SUBMIT resent after a restart is
//  answered with the run it started; "" = none (every run of version 2).
static const char *s_migrate_v3 =
    "ALTER TABLE runs ADD COLUMN submission_key TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX runs_by_submission_key ON runs (submission_key) WHERE submission_key != '';"
    "UPDATE schema_version SET version = 3;";

#define S_RUN_COLUMNS \
    "id, name, state, error, document_digest, contract_set_digest, first_phase, " \
    "last_phase, deadline_s, strict_deadline, worker_budget, params_json, " \
    "submitted_at_us, ended_at_us, contract_set, submission_key"

#define S_RESULT_COLUMNS "contract_id, phase, status, attempts, factory_id, packed"

//  The seq of the run whose id is the parameter (NULL when none: matches
//  no row).
#define S_RUN_OF(parameter) "(SELECT seq FROM runs WHERE id = " parameter ")"

//  Page size of a new store (bytes): fewer WAL frames per commit than 4 KB
//  (see the top of this file).
#define S_PAGE_SIZE 16384

//  Run ids → seq kept in the cache before it is emptied and starts again.
#define S_RUN_CACHE_MAX 1024

//  The prepared statements, by use.
typedef enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_RUN_SEQ,
    S_RUN_INSERT,
    S_RUN_SET_STATE,
    S_RUN_SET_DOCUMENT,
    S_RUN_GET,
    S_RUN_LIST,
    S_RUN_UNFINISHED,
    S_RUN_BY_SUBMISSION,
    S_DOCUMENT_INSERT,
    S_DOCUMENT_GET,
    S_PHASE_PUT,
    S_PHASE_LIST,
    S_RESULT_INSERT,
    S_RESULT_EXISTS,
    S_RESULT_COUNTS_ALL,
    S_RESULT_COUNTS_PHASE,
    S_RESULT_EACH_ALL,
    S_RESULT_EACH_PHASE,
    S_RESULT_EACH_CONTRACT,
    S_RESULT_IDS_ALL,
    S_RESULT_IDS_PHASE,
    S_SNAPSHOT_PUT,
    S_SNAPSHOT_GET,
    S_STATEMENTS
} s_statement_t;

static const char *s_sql [S_STATEMENTS] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_RUN_SEQ] = "SELECT seq FROM runs WHERE id = ?1",
    [S_RUN_INSERT] =
        "INSERT INTO runs (" S_RUN_COLUMNS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [S_RUN_SET_STATE] =
        "UPDATE runs SET state = ?2, error = ?3, ended_at_us = ?4 WHERE id = ?1",
    [S_RUN_SET_DOCUMENT] = "UPDATE runs SET document_digest = ?2 WHERE id = ?1",
    [S_RUN_GET] = "SELECT " S_RUN_COLUMNS " FROM runs WHERE id = ?1",
    //  LIMIT -1 = none.
    [S_RUN_LIST] =
        "SELECT " S_RUN_COLUMNS " FROM runs "
        "ORDER BY submitted_at_us DESC, seq DESC LIMIT ?1",
    [S_RUN_UNFINISHED] =
        "SELECT " S_RUN_COLUMNS " FROM runs WHERE state IN (?1, ?2) "
        "ORDER BY submitted_at_us, seq",
    //  The latest run of a key (a client reusing a correlation id for a
    //  new submission breaks the protocol; it gets its latest run back).
    [S_RUN_BY_SUBMISSION] =
        "SELECT id FROM runs WHERE submission_key = ?1 AND submission_key != '' "
        "ORDER BY seq DESC LIMIT 1",
    [S_DOCUMENT_INSERT] =
        "INSERT INTO documents (digest, text) VALUES (?1, ?2) "
        "ON CONFLICT (digest) DO NOTHING",
    [S_DOCUMENT_GET] = "SELECT text FROM documents WHERE digest = ?1",
    [S_PHASE_PUT] =
        "INSERT INTO phases (run, phase, state, total, done, failed, from_cache, "
        "started_at_us, ended_at_us, estimated_s) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (run, phase) DO UPDATE SET state = excluded.state, "
        "total = excluded.total, done = excluded.done, failed = excluded.failed, "
        "from_cache = excluded.from_cache, started_at_us = excluded.started_at_us, "
        "ended_at_us = excluded.ended_at_us, estimated_s = excluded.estimated_s",
    [S_PHASE_LIST] =
        "SELECT phase, state, total, done, failed, from_cache, started_at_us, "
        "ended_at_us, estimated_s FROM phases WHERE run = " S_RUN_OF ("?1") " ORDER BY phase",
    [S_RESULT_INSERT] =
        "INSERT INTO results (run, " S_RESULT_COLUMNS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (run, contract_id) DO NOTHING",
    [S_RESULT_EXISTS] =
        "SELECT 1 FROM results WHERE run = " S_RUN_OF ("?1") " AND contract_id = ?2",
    [S_RESULT_COUNTS_ALL] =
        "SELECT status, count(*) FROM results WHERE run = " S_RUN_OF ("?1") " GROUP BY status",
    [S_RESULT_COUNTS_PHASE] =
        "SELECT status, count(*) FROM results WHERE run = " S_RUN_OF ("?1") " AND phase = ?2 "
        "GROUP BY status",
    [S_RESULT_EACH_ALL] =
        "SELECT " S_RESULT_COLUMNS " FROM results WHERE run = " S_RUN_OF ("?1") " "
        "ORDER BY phase, contract_id",
    [S_RESULT_EACH_PHASE] =
        "SELECT " S_RESULT_COLUMNS " FROM results WHERE run = " S_RUN_OF ("?1") " "
        "AND phase = ?2 ORDER BY contract_id",
    //  ?3 = -1: any phase.
    [S_RESULT_EACH_CONTRACT] =
        "SELECT " S_RESULT_COLUMNS " FROM results WHERE run = " S_RUN_OF ("?1") " "
        "AND contract_id = ?2 AND (?3 < 0 OR phase = ?3)",
    [S_RESULT_IDS_ALL] =
        "SELECT contract_id, status FROM results WHERE run = " S_RUN_OF ("?1"),
    [S_RESULT_IDS_PHASE] =
        "SELECT contract_id, status FROM results WHERE run = " S_RUN_OF ("?1") " AND phase = ?2",
    [S_SNAPSHOT_PUT] =
        "INSERT INTO snapshots (factory_id, taken_at_us, packed) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (factory_id) DO UPDATE SET taken_at_us = excluded.taken_at_us, "
        "packed = excluded.packed",
    [S_SNAPSHOT_GET] = "SELECT taken_at_us, packed FROM snapshots WHERE factory_id = ?1",
};

struct orc_store {
    sqlite3 *db;                            // the connection (owned)
    char *path;                             // as given to open
    sqlite3_stmt *statements [S_STATEMENTS];    // prepared at open, owned
    int64_t page_size;                      // bytes per page (max_size → pages)
    int64_t default_max_pages;              // SQLite's own cap, restored by max_size 0
    zhashx_t *run_seqs;                     // run id → seq (as a pointer; seq ≥ 1)
    bool in_transaction;                    // between begin and commit / rollback
    bool aborted;                           // SQLite rolled the open transaction back
    int iterating;                          // iteration callbacks running (nesting depth)
    char error [S_ERROR_SIZE];              // reason of the last failure
};

//  --------------------------------------------------------------------------
//  Errors

//  Errors are one line: SQLite's multi-line reports (integrity_check)
//  are joined with spaces.
static void
s_one_line (char *text)
{
    for (char *cursor = text; *cursor; cursor++)
        if (*cursor == '\n' || *cursor == '\r')
            *cursor = ' ';
}

//  Records a reason (no SQLite message). Returns -1.
static int
s_refuse (orc_store_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    s_one_line (self->error);
    return -1;
}

//  Notes that SQLite rolled back the open transaction by itself.
static void
s_check_aborted (orc_store_t *self)
{
    if (self->in_transaction && sqlite3_get_autocommit (self->db)) {
        self->aborted = true;
        zhashx_purge (self->run_seqs);
    }
}

//  Records "<operation>: <SQLite's message>" for the failure rc of the
//  last call on the connection; a foreign key failure says what it means
//  (every foreign key names a run). Returns -1.
static int
s_fail (orc_store_t *self, int rc, const char *format, ...)
{
    char operation [S_ERROR_SIZE / 2];
    va_list args;
    va_start (args, format);
    vsnprintf (operation, sizeof operation, format, args);
    va_end (args);
    const char *message = sqlite3_errmsg (self->db);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        message = "no such run";
    snprintf (self->error, sizeof self->error, "%s: %s", operation, message);
    s_one_line (self->error);
    s_check_aborted (self);
    return -1;
}

//  A write may go ahead: refuses it when the open transaction was rolled
//  back by SQLite (the write would autocommit on its own).
static int
s_writable (orc_store_t *self, const char *operation)
{
    if (self->aborted)
        return s_refuse (self, "%s: the transaction was rolled back by an earlier error "
                               "(end it with orc_store_rollback)", operation);
    return 0;
}

//  --------------------------------------------------------------------------
//  Validation

static bool
s_id_valid (const char *id)
{
    return id && *id;
}

//  A value the enum defines, other than its UNSPECIFIED 0.
static bool
s_enum_valid (const ProtobufCEnumDescriptor *descriptor, int value)
{
    return value != 0 && protobuf_c_enum_descriptor_get_value (descriptor, value) != NULL;
}

static const char *
s_text (const char *text)
{
    return text ? text : "";
}

//  --------------------------------------------------------------------------
//  Statements

static sqlite3_stmt *
s_statement (orc_store_t *self, s_statement_t which)
{
    return self->statements [which];
}

static void
s_bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
    sqlite3_bind_text (stmt, index, s_text (text), -1, SQLITE_STATIC);
}

//  A blob column NOT NULL: SQLite binds a NULL pointer as NULL, so an
//  empty blob is bound as a zero-length zeroblob.
static void
s_bind_blob (sqlite3_stmt *stmt, int index, const uint8_t *data, size_t size)
{
    if (size == 0 || !data)
        sqlite3_bind_zeroblob (stmt, index, 0);
    else
        sqlite3_bind_blob64 (stmt, index, data, (sqlite3_uint64) size, SQLITE_STATIC);
}

static void
s_bind_u64 (sqlite3_stmt *stmt, int index, uint64_t value)
{
    sqlite3_bind_int64 (stmt, index, (sqlite3_int64) value);
}

static const char *
s_column_text (sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text (stmt, column);
    return text ? (const char *) text : "";
}

static uint64_t
s_column_u64 (sqlite3_stmt *stmt, int column)
{
    return (uint64_t) sqlite3_column_int64 (stmt, column);
}

static uint32_t
s_column_u32 (sqlite3_stmt *stmt, int column)
{
    return (uint32_t) sqlite3_column_int64 (stmt, column);
}

//  Steps a statement that returns no row, then resets it. Returns 0, or
//  the failing SQLite code (the message stays on the connection until the
//  next call).
static int
s_step_done (sqlite3_stmt *stmt)
{
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : rc;
}

//  Runs one SQL text (no parameters) outside the prepared set: pragmas at
//  open. Returns 0 or the SQLite code.
static int
s_exec (sqlite3 *db, const char *sql)
{
    return sqlite3_exec (db, sql, NULL, NULL, NULL);
}

//  Runs a one-row query and copies its first column's text into value.
//  Returns 0 or the SQLite code (SQLITE_EMPTY when there is no row).
static int
s_query_text (sqlite3 *db, const char *sql, char *value, size_t value_size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        snprintf (value, value_size, "%s", s_column_text (stmt, 0));
        rc = SQLITE_OK;
    }
    else
    if (rc == SQLITE_DONE)
        rc = SQLITE_EMPTY;
    sqlite3_finalize (stmt);
    return rc;
}

//  Like s_query_text for an integer.
static int
s_query_int (sqlite3 *db, const char *sql, int64_t *value)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64 (stmt, 0);
        rc = SQLITE_OK;
    }
    else
    if (rc == SQLITE_DONE)
        rc = SQLITE_EMPTY;
    sqlite3_finalize (stmt);
    return rc;
}

//  --------------------------------------------------------------------------
//  Opening

//  Formats "open store <path>: <reason>" into err, with the OS's reason
//  when SQLite has one (a missing directory, a permission).
static void
s_open_error (sqlite3 *db, int rc, const char *path, const char *reason, char *err,
              size_t err_size)
{
    if (!err || err_size == 0)
        return;
    if (reason) {
        snprintf (err, err_size, "open store %s: %s", path, reason);
        return;
    }
    const char *message = db ? sqlite3_errmsg (db) : sqlite3_errstr (rc);
    int system_errno = db ? sqlite3_system_errno (db) : 0;
    if ((rc & 0xff) == SQLITE_BUSY)
        snprintf (err, err_size, "open store %s: %s (another orchestrator, or another "
                  "connection, has it open)", path, message);
    else
    if ((rc & 0xff) == SQLITE_CANTOPEN && system_errno != 0)
        snprintf (err, err_size, "open store %s: %s (%s)", path, message,
                  strerror (system_errno));
    else
        snprintf (err, err_size, "open store %s: %s", path, message);
}

//  Creates the schema of a new file, or checks the version of an existing
//  one, in one transaction. Returns 0, or the SQLite code with reason NULL
//  (its message on the connection), or -1 with a reason.
static int
s_schema (sqlite3 *db, const char **reason, char *reason_buffer, size_t reason_size)
{
    *reason = NULL;
    int rc = s_exec (db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return rc;
    int64_t tables = 0;
    int64_t has_version = 0;
    int64_t version = 0;
    rc = s_query_int (db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", &tables);
    if (rc == SQLITE_OK)
        rc = s_query_int (db, "SELECT count(*) FROM sqlite_schema "
                              "WHERE type = 'table' AND name = 'schema_version'", &has_version);
    if (rc != SQLITE_OK)
        goto cleanup;

    if (!has_version) {
        if (tables > 0) {
            *reason = "the file is an SQLite database of something else "
                      "(no schema_version table)";
            rc = -1;
            goto cleanup;
        }
        //  A new file: version 1, then the migrations, as an old file would.
        rc = s_exec (db, s_schema_v1);
        if (rc != SQLITE_OK)
            goto cleanup;
        version = 1;
    }
    else {
        int64_t rows = 0;
        rc = s_query_int (db, "SELECT count(*) FROM schema_version", &rows);
        if (rc == SQLITE_OK && rows == 1)
            rc = s_query_int (db, "SELECT version FROM schema_version", &version);
        if (rc != SQLITE_OK)
            goto cleanup;
        if (rows != 1) {
            snprintf (reason_buffer, reason_size,
                      "schema_version holds %" PRId64 " rows instead of 1", rows);
            *reason = reason_buffer;
            rc = -1;
            goto cleanup;
        }
    }
    if (version > ORC_STORE_SCHEMA_VERSION) {
        snprintf (reason_buffer, reason_size,
                  "schema version %" PRId64 " is newer than this orchestrator's (%d): "
                  "it was written by a newer farfan-orchestrator", version,
                  ORC_STORE_SCHEMA_VERSION);
        *reason = reason_buffer;
        rc = -1;
        goto cleanup;
    }
    if (version < 1) {
        snprintf (reason_buffer, reason_size, "unknown schema version %" PRId64, version);
        *reason = reason_buffer;
        rc = -1;
        goto cleanup;
    }
    //  Migrations, each in this transaction: all of them or none.
    if (version < 2) {
        rc = s_exec (db, s_migrate_v2);
        if (rc != SQLITE_OK)
            goto cleanup;
    }
    if (version < 3) {
        rc = s_exec (db, s_migrate_v3);
        if (rc != SQLITE_OK)
            goto cleanup;
    }
    rc = s_exec (db, "COMMIT");

cleanup:
    if (rc != SQLITE_OK && !*reason && !sqlite3_get_autocommit (db)) {
        //  The ROLLBACK below would replace SQLite's message ("not an error").
        snprintf (reason_buffer, reason_size, "creating or migrating the schema (version %"
                  PRId64 " found): %s", version, sqlite3_errmsg (db));
        *reason = reason_buffer;
    }
    if (rc != SQLITE_OK && !sqlite3_get_autocommit (db))
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

orc_store_t *
orc_store_open (const char *path, char *err, size_t err_size)
{
    if (err && err_size)
        *err = '\0';
    if (!path || !*path) {
        if (err && err_size)
            snprintf (err, err_size, "open store: no path given");
        return NULL;
    }
    orc_store_t *self = (orc_store_t *) calloc (1, sizeof *self);
    if (self) {
        self->path = strdup (path);
        self->run_seqs = zhashx_new ();
    }
    if (!self || !self->path || !self->run_seqs) {
        if (err && err_size)
            snprintf (err, err_size, "open store %s: out of memory", path);
        orc_store_close (&self);
        return NULL;
    }

    const char *reason = NULL;
    char reason_buffer [256] = "";
    int rc = sqlite3_open_v2 (path, &self->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                              | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK)
        goto failed;
    sqlite3_extended_result_codes (self->db, 1);
    rc = sqlite3_busy_timeout (self->db, ORC_STORE_BUSY_TIMEOUT_MS);
    //  Exclusive before the first access: the lock is taken by the first
    //  read below and held until close; the WAL index lives in heap memory
    //  (no -shm file).
    if (rc == SQLITE_OK)
        rc = s_exec (self->db, "PRAGMA locking_mode = EXCLUSIVE");
    if (rc != SQLITE_OK)
        goto failed;
    //  The first access: an unreadable or foreign file fails here. The page
    //  size applies to a new file only (before WAL mode is set).
    char journal_mode [32] = "";
    char sql [64];
    snprintf (sql, sizeof sql, "PRAGMA page_size = %d", S_PAGE_SIZE);
    rc = s_exec (self->db, sql);
    if (rc != SQLITE_OK)
        goto failed;
    rc = s_query_text (self->db, "PRAGMA journal_mode = WAL", journal_mode, sizeof journal_mode);
    if (rc != SQLITE_OK)
        goto failed;
    if (strcmp (journal_mode, "wal") != 0) {
        snprintf (reason_buffer, sizeof reason_buffer,
                  "cannot use WAL mode (journal mode stays \"%s\")", journal_mode);
        reason = reason_buffer;
        goto failed;
    }
    rc = s_exec (self->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
    if (rc != SQLITE_OK)
        goto failed;
    rc = s_schema (self->db, &reason, reason_buffer, sizeof reason_buffer);
    if (rc != SQLITE_OK)
        goto failed;
    rc = s_query_int (self->db, "PRAGMA page_size", &self->page_size);
    if (rc == SQLITE_OK)
        rc = s_query_int (self->db, "PRAGMA max_page_count", &self->default_max_pages);
    if (rc != SQLITE_OK)
        goto failed;
    for (int index = 0; index < S_STATEMENTS; index++) {
        rc = sqlite3_prepare_v3 (self->db, s_sql [index], -1, SQLITE_PREPARE_PERSISTENT,
                                 &self->statements [index], NULL);
        if (rc != SQLITE_OK)
            goto failed;
    }
    return self;

failed:
    s_open_error (self->db, rc, path, reason, err, err_size);
    orc_store_close (&self);
    return NULL;
}

void
orc_store_close (orc_store_t **self_p)
{
    assert (self_p);
    orc_store_t *self = *self_p;
    if (!self)
        return;
    if (self->db && !sqlite3_get_autocommit (self->db))
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    for (int index = 0; index < S_STATEMENTS; index++)
        sqlite3_finalize (self->statements [index]);
    //  Every statement is finalized: close cannot find one left.
    sqlite3_close (self->db);
    zhashx_destroy (&self->run_seqs);
    free (self->path);
    free (self);
    *self_p = NULL;
}

const char *
orc_store_error (const orc_store_t *self)
{
    assert (self);
    return self->error;
}

const char *
orc_store_path (const orc_store_t *self)
{
    assert (self);
    return self->path;
}

int
orc_store_set_synchronous_full (orc_store_t *self, bool full)
{
    assert (self);
    if (self->in_transaction)
        return s_refuse (self, "set synchronous: a transaction is open");
    int rc = s_exec (self->db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (rc != SQLITE_OK)
        return s_fail (self, rc, "set synchronous");
    return 0;
}

int
orc_store_set_max_size (orc_store_t *self, uint64_t max_bytes)
{
    assert (self);
    int64_t pages = self->default_max_pages;
    if (max_bytes > 0) {
        uint64_t wanted = max_bytes / (uint64_t) self->page_size;
        //  Beyond SQLite's own cap: its cap. At least one page (0 would
        //  mean "no change" to SQLite).
        pages = wanted > (uint64_t) self->default_max_pages ? self->default_max_pages
              : wanted < 1 ? 1 : (int64_t) wanted;
    }
    char sql [64];
    snprintf (sql, sizeof sql, "PRAGMA max_page_count = %" PRId64, pages);
    int64_t applied = 0;
    int rc = s_query_int (self->db, sql, &applied);
    if (rc != SQLITE_OK)
        return s_fail (self, rc, "set max size");
    return 0;
}

int
orc_store_check (orc_store_t *self)
{
    assert (self);
    char result [S_ERROR_SIZE] = "";
    int rc = s_query_text (self->db, "PRAGMA integrity_check", result, sizeof result);
    if (rc != SQLITE_OK)
        return s_fail (self, rc, "check store");
    if (strcmp (result, "ok") != 0)
        return s_refuse (self, "check store: %s", result);
    return 0;
}

//  --------------------------------------------------------------------------
//  Transactions

int
orc_store_begin (orc_store_t *self)
{
    assert (self);
    if (self->iterating)
        return s_refuse (self, "begin: called from an iteration callback");
    if (self->in_transaction)
        return s_refuse (self, "begin: a transaction is open already");
    int rc = s_step_done (s_statement (self, S_BEGIN));
    if (rc)
        return s_fail (self, rc, "begin");
    self->in_transaction = true;
    self->aborted = false;
    return 0;
}

int
orc_store_commit (orc_store_t *self)
{
    assert (self);
    if (self->iterating)
        return s_refuse (self, "commit: called from an iteration callback");
    if (!self->in_transaction)
        return s_refuse (self, "commit: no transaction is open");
    int result = 0;
    if (self->aborted || sqlite3_get_autocommit (self->db)) {
        result = s_refuse (self, "commit: the transaction was rolled back by an earlier error");
        zhashx_purge (self->run_seqs);
    }
    else {
        int rc = s_step_done (s_statement (self, S_COMMIT));
        if (rc) {
            result = s_fail (self, rc, "commit");
            zhashx_purge (self->run_seqs);
            //  Still open when COMMIT could not finish (SQLite leaves it
            //  so): nothing of it is committed, drop it.
            if (!sqlite3_get_autocommit (self->db))
                s_step_done (s_statement (self, S_ROLLBACK));
        }
    }
    self->in_transaction = false;
    self->aborted = false;
    return result;
}

int
orc_store_rollback (orc_store_t *self)
{
    assert (self);
    if (self->iterating)
        return s_refuse (self, "rollback: called from an iteration callback");
    if (!self->in_transaction)
        return s_refuse (self, "rollback: no transaction is open");
    int result = 0;
    zhashx_purge (self->run_seqs);
    if (!sqlite3_get_autocommit (self->db)) {
        int rc = s_step_done (s_statement (self, S_ROLLBACK));
        //  A failed ROLLBACK still ends the transaction (SQLite rolls back
        //  by itself when it cannot), but say so.
        if (rc)
            result = s_fail (self, rc, "rollback");
    }
    self->in_transaction = false;
    self->aborted = false;
    return result;
}

bool
orc_store_in_transaction (const orc_store_t *self)
{
    assert (self);
    return self->in_transaction;
}

//  --------------------------------------------------------------------------
//  Iterations

//  What an iteration calls for each row: one of the two callbacks.
typedef struct {
    orc_store_run_fn *run_fn;           // rows are runs
    orc_store_result_fn *result_fn;     // rows are results
    void *arg;
} s_visitor_t;

static void s_run_decode (sqlite3_stmt *stmt, orc_store_run_t *run);
static void s_result_decode (sqlite3_stmt *stmt, orc_store_result_t *result);

//  Steps stmt (parameters bound) through its rows, decoding each into a
//  borrowed record and calling the visitor until it returns non-zero.
//  Resets stmt. Returns the rows visited, or -1.
static int
s_iterate (orc_store_t *self, sqlite3_stmt *stmt, const char *operation,
           const s_visitor_t *visitor)
{
    int visited = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        visited++;
        int stop;
        self->iterating++;
        if (visitor->run_fn) {
            orc_store_run_t run;
            s_run_decode (stmt, &run);
            stop = visitor->run_fn (&run, visitor->arg);
        }
        else {
            orc_store_result_t result;
            s_result_decode (stmt, &result);
            stop = visitor->result_fn (&result, visitor->arg);
        }
        self->iterating--;
        if (stop)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        s_fail (self, rc, "%s", operation);
        sqlite3_reset (stmt);
        return -1;
    }
    sqlite3_reset (stmt);
    return visited;
}

//  The iteration's statement is not stepping already (a callback calling
//  the iteration it runs in would reset it under its caller).
static int
s_not_reentered (orc_store_t *self, sqlite3_stmt *stmt, const char *operation)
{
    if (sqlite3_stmt_busy (stmt))
        return s_refuse (self, "%s: called from its own iteration callback", operation);
    return 0;
}

//  --------------------------------------------------------------------------
//  Runs

//  The seq of run_id into *seq. Returns 0, 1 when there is no such run, or
//  -1 when SQLite failed with *rc (the caller words the error: formatting
//  it on every call would cost more than the lookup).
static int
s_run_seq (orc_store_t *self, const char *run_id, int64_t *seq, int *rc_p)
{
    void *cached = zhashx_lookup (self->run_seqs, run_id);
    if (cached) {
        *seq = (int64_t) (intptr_t) cached;
        return 0;
    }
    sqlite3_stmt *stmt = s_statement (self, S_RUN_SEQ);
    s_bind_text (stmt, 1, run_id);
    int rc = sqlite3_step (stmt);
    int result = 0;
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64 (stmt, 0);
        //  seq ≥ 1 (SQLite's rowids start at 1): never a NULL item.
        if (zhashx_size (self->run_seqs) >= S_RUN_CACHE_MAX)
            zhashx_purge (self->run_seqs);
        zhashx_insert (self->run_seqs, run_id, (void *) (intptr_t) *seq);
    }
    else
    if (rc == SQLITE_DONE)
        result = 1;
    else {
        *rc_p = rc;
        result = -1;
    }
    sqlite3_reset (stmt);
    return result;
}

static void
s_run_decode (sqlite3_stmt *stmt, orc_store_run_t *run)
{
    run->id = s_column_text (stmt, 0);
    run->name = s_column_text (stmt, 1);
    run->state = (Farfan__RunState) sqlite3_column_int (stmt, 2);
    run->error = s_column_text (stmt, 3);
    run->document_digest = s_column_text (stmt, 4);
    run->contract_set_digest = s_column_text (stmt, 5);
    run->first_phase = s_column_u32 (stmt, 6);
    run->last_phase = s_column_u32 (stmt, 7);
    run->deadline_s = sqlite3_column_double (stmt, 8);
    run->strict_deadline = sqlite3_column_int (stmt, 9) != 0;
    run->worker_budget = s_column_u32 (stmt, 10);
    run->params_json = s_column_text (stmt, 11);
    run->submitted_at_us = s_column_u64 (stmt, 12);
    run->ended_at_us = s_column_u64 (stmt, 13);
    run->contract_set = s_column_text (stmt, 14);
    run->submission_key = s_column_text (stmt, 15);
}

int
orc_store_run_insert (orc_store_t *self, const orc_store_run_t *run)
{
    assert (self);
    if (!run || !s_id_valid (run->id))
        return s_refuse (self, "insert run: no run id");
    if (!s_enum_valid (&farfan__run_state__descriptor, (int) run->state))
        return s_refuse (self, "insert run %s: %d is not a run state", run->id, (int) run->state);
    if (run->first_phase >= ORC_STORE_PHASES || run->last_phase >= ORC_STORE_PHASES
    ||  run->first_phase > run->last_phase)
        return s_refuse (self, "insert run %s: phases %u..%u are not a range of 0..9",
                         run->id, run->first_phase, run->last_phase);
    if (!isfinite (run->deadline_s) || run->deadline_s < 0)
        return s_refuse (self, "insert run %s: deadline %g is not a duration", run->id,
                         run->deadline_s);
    if (s_writable (self, "insert run"))
        return -1;

    sqlite3_stmt *stmt = s_statement (self, S_RUN_INSERT);
    s_bind_text (stmt, 1, run->id);
    s_bind_text (stmt, 2, run->name);
    sqlite3_bind_int (stmt, 3, (int) run->state);
    s_bind_text (stmt, 4, run->error);
    s_bind_text (stmt, 5, run->document_digest);
    s_bind_text (stmt, 6, run->contract_set_digest);
    sqlite3_bind_int64 (stmt, 7, run->first_phase);
    sqlite3_bind_int64 (stmt, 8, run->last_phase);
    sqlite3_bind_double (stmt, 9, run->deadline_s);
    sqlite3_bind_int (stmt, 10, run->strict_deadline ? 1 : 0);
    sqlite3_bind_int64 (stmt, 11, run->worker_budget);
    s_bind_text (stmt, 12, run->params_json);
    s_bind_u64 (stmt, 13, run->submitted_at_us);
    s_bind_u64 (stmt, 14, run->ended_at_us);
    s_bind_text (stmt, 15, run->contract_set);
    s_bind_text (stmt, 16, run->submission_key);
    int rc = s_step_done (stmt);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return s_refuse (self, "insert run %s: a run with this id exists", run->id);
    if (rc)
        return s_fail (self, rc, "insert run %s", run->id);
    return 0;
}

int
orc_store_run_set_state (orc_store_t *self, const char *run_id, Farfan__RunState state,
                         const char *error, uint64_t ended_at_us)
{
    assert (self);
    if (!s_id_valid (run_id))
        return s_refuse (self, "set run state: no run id");
    if (!s_enum_valid (&farfan__run_state__descriptor, (int) state))
        return s_refuse (self, "set state of run %s: %d is not a run state", run_id, (int) state);
    if (s_writable (self, "set run state"))
        return -1;
    sqlite3_stmt *stmt = s_statement (self, S_RUN_SET_STATE);
    s_bind_text (stmt, 1, run_id);
    sqlite3_bind_int (stmt, 2, (int) state);
    s_bind_text (stmt, 3, error);
    s_bind_u64 (stmt, 4, ended_at_us);
    int rc = s_step_done (stmt);
    if (rc)
        return s_fail (self, rc, "set state of run %s", run_id);
    if (sqlite3_changes (self->db) == 0)
        return s_refuse (self, "set state of run %s: no such run", run_id);
    return 0;
}

int
orc_store_run_set_document (orc_store_t *self, const char *run_id, const char *digest)
{
    assert (self);
    if (!s_id_valid (run_id))
        return s_refuse (self, "set run document: no run id");
    if (!digest || !*digest)
        return s_refuse (self, "set document of run %s: no digest", run_id);
    if (s_writable (self, "set run document"))
        return -1;
    sqlite3_stmt *stmt = s_statement (self, S_RUN_SET_DOCUMENT);
    s_bind_text (stmt, 1, run_id);
    s_bind_text (stmt, 2, digest);
    int rc = s_step_done (stmt);
    if (rc)
        return s_fail (self, rc, "set document of run %s", run_id);
    if (sqlite3_changes (self->db) == 0)
        return s_refuse (self, "set document of run %s: no such run", run_id);
    return 0;
}

//  A copy of a borrowed run in one allocation (the strings after the
//  struct). NULL when out of memory.
static orc_store_run_t *
s_run_copy (const orc_store_run_t *run)
{
    const char *strings [] = { run->id, run->name, run->error, run->document_digest,
                               run->contract_set_digest, run->params_json, run->contract_set,
                               run->submission_key };
    enum { STRINGS = sizeof strings / sizeof strings [0] };
    size_t lengths [STRINGS];
    size_t total = sizeof *run;
    for (size_t index = 0; index < STRINGS; index++) {
        lengths [index] = strlen (strings [index]) + 1;
        total += lengths [index];
    }
    orc_store_run_t *copy = (orc_store_run_t *) malloc (total);
    if (!copy)
        return NULL;
    *copy = *run;
    char *cursor = (char *) (copy + 1);
    const char **targets [] = { &copy->id, &copy->name, &copy->error, &copy->document_digest,
                                &copy->contract_set_digest, &copy->params_json,
                                &copy->contract_set, &copy->submission_key };
    for (size_t index = 0; index < STRINGS; index++) {
        memcpy (cursor, strings [index], lengths [index]);
        *targets [index] = cursor;
        cursor += lengths [index];
    }
    return copy;
}

int
orc_store_run_get (orc_store_t *self, const char *run_id, orc_store_run_t **run_p)
{
    assert (self);
    assert (run_p);
    *run_p = NULL;
    if (!s_id_valid (run_id))
        return s_refuse (self, "get run: no run id");
    sqlite3_stmt *stmt = s_statement (self, S_RUN_GET);
    s_bind_text (stmt, 1, run_id);
    int rc = sqlite3_step (stmt);
    int result = 0;
    if (rc == SQLITE_ROW) {
        orc_store_run_t run;
        s_run_decode (stmt, &run);
        *run_p = s_run_copy (&run);
        result = *run_p ? 1 : s_refuse (self, "get run %s: out of memory", run_id);
    }
    else
    if (rc != SQLITE_DONE)
        result = s_fail (self, rc, "get run %s", run_id);
    sqlite3_reset (stmt);
    return result;
}

void
orc_store_run_destroy (orc_store_run_t **run_p)
{
    assert (run_p);
    free (*run_p);
    *run_p = NULL;
}

int
orc_store_run_by_submission (orc_store_t *self, const char *key, char *run_id, size_t size)
{
    assert (self);
    assert (run_id && size > 0);
    *run_id = '\0';
    if (!key || !*key)
        return s_refuse (self, "find run by submission: no key");
    sqlite3_stmt *stmt = s_statement (self, S_RUN_BY_SUBMISSION);
    s_bind_text (stmt, 1, key);
    int rc = sqlite3_step (stmt);
    int result = 0;
    if (rc == SQLITE_ROW) {
        const char *id = s_column_text (stmt, 0);
        if (strlen (id) >= size)
            result = s_refuse (self, "find run by submission: run id %s is longer than %zu "
                                     "bytes", id, size - 1);
        else {
            memcpy (run_id, id, strlen (id) + 1);
            result = 1;
        }
    }
    else
    if (rc != SQLITE_DONE)
        result = s_fail (self, rc, "find run by submission");
    sqlite3_reset (stmt);
    return result;
}

int
orc_store_run_list (orc_store_t *self, uint32_t limit, orc_store_run_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    sqlite3_stmt *stmt = s_statement (self, S_RUN_LIST);
    if (s_not_reentered (self, stmt, "list runs"))
        return -1;
    sqlite3_bind_int64 (stmt, 1, limit == 0 ? -1 : (sqlite3_int64) limit);
    s_visitor_t visitor = { .run_fn = fn, .arg = arg };
    return s_iterate (self, stmt, "list runs", &visitor);
}

int
orc_store_run_unfinished (orc_store_t *self, orc_store_run_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    sqlite3_stmt *stmt = s_statement (self, S_RUN_UNFINISHED);
    if (s_not_reentered (self, stmt, "list unfinished runs"))
        return -1;
    sqlite3_bind_int (stmt, 1, FARFAN__RUN_STATE__RUN_QUEUED);
    sqlite3_bind_int (stmt, 2, FARFAN__RUN_STATE__RUN_RUNNING);
    s_visitor_t visitor = { .run_fn = fn, .arg = arg };
    return s_iterate (self, stmt, "list unfinished runs", &visitor);
}

//  --------------------------------------------------------------------------
//  Documents

//  Reads the blob of the first column of stmt's row (stepped by the
//  caller) into a malloc'ed, NUL-terminated copy. NULL when out of memory.
static uint8_t *
s_blob_copy (sqlite3_stmt *stmt, int column, size_t *size_p)
{
    const void *data = sqlite3_column_blob (stmt, column);
    size_t size = (size_t) sqlite3_column_bytes (stmt, column);
    uint8_t *copy = (uint8_t *) malloc (size + 1);
    if (!copy)
        return NULL;
    if (size > 0)
        memcpy (copy, data, size);
    copy [size] = '\0';
    *size_p = size;
    return copy;
}

int
orc_store_document_put (orc_store_t *self, const char *digest, const uint8_t *text,
                        size_t size)
{
    assert (self);
    if (!s_id_valid (digest))
        return s_refuse (self, "put document: no digest");
    if (!text && size > 0)
        return s_refuse (self, "put document %s: %zu bytes without data", digest, size);
    if (s_writable (self, "put document"))
        return -1;
    sqlite3_stmt *stmt = s_statement (self, S_DOCUMENT_INSERT);
    s_bind_text (stmt, 1, digest);
    s_bind_blob (stmt, 2, text, size);
    int rc = s_step_done (stmt);
    if (rc)
        return s_fail (self, rc, "put document %s", digest);
    if (sqlite3_changes (self->db) > 0)
        return 0;

    //  There already: the same bytes, or a digest collision / a caller's
    //  bug that must not pass silently.
    stmt = s_statement (self, S_DOCUMENT_GET);
    s_bind_text (stmt, 1, digest);
    rc = sqlite3_step (stmt);
    int result;
    if (rc == SQLITE_ROW) {
        const void *stored = sqlite3_column_blob (stmt, 0);
        size_t stored_size = (size_t) sqlite3_column_bytes (stmt, 0);
        if (stored_size == size && (size == 0 || memcmp (stored, text, size) == 0))
            result = 1;
        else
            result = s_refuse (self, "put document %s: different bytes are stored under "
                                     "this digest", digest);
    }
    else
        result = s_fail (self, rc, "put document %s", digest);
    sqlite3_reset (stmt);
    return result;
}

int
orc_store_document_get (orc_store_t *self, const char *digest, uint8_t **text_p,
                        size_t *size_p)
{
    assert (self);
    assert (text_p);
    assert (size_p);
    *text_p = NULL;
    *size_p = 0;
    if (!s_id_valid (digest))
        return s_refuse (self, "get document: no digest");
    sqlite3_stmt *stmt = s_statement (self, S_DOCUMENT_GET);
    s_bind_text (stmt, 1, digest);
    int rc = sqlite3_step (stmt);
    int result = 0;
    if (rc == SQLITE_ROW) {
        *text_p = s_blob_copy (stmt, 0, size_p);
        result = *text_p ? 1 : s_refuse (self, "get document %s: out of memory", digest);
    }
    else
    if (rc != SQLITE_DONE)
        result = s_fail (self, rc, "get document %s", digest);
    sqlite3_reset (stmt);
    return result;
}

//  --------------------------------------------------------------------------
//  Phases

int
orc_store_phase_put (orc_store_t *self, const char *run_id, const orc_store_phase_t *phase)
{
    assert (self);
    if (!s_id_valid (run_id))
        return s_refuse (self, "put phase: no run id");
    if (!phase)
        return s_refuse (self, "put phase of run %s: no phase", run_id);
    if (phase->phase >= ORC_STORE_PHASES)
        return s_refuse (self, "put phase %u of run %s: not a phase (0..9)", phase->phase,
                         run_id);
    if (!s_enum_valid (&farfan__phase_state__descriptor, (int) phase->state))
        return s_refuse (self, "put phase P%02u of run %s: %d is not a phase state",
                         phase->phase, run_id, (int) phase->state);
    if (!isfinite (phase->estimated_s) || phase->estimated_s < 0)
        return s_refuse (self, "put phase P%02u of run %s: estimate %g is not a duration",
                         phase->phase, run_id, phase->estimated_s);
    if (s_writable (self, "put phase"))
        return -1;
    int64_t seq;
    int rc = SQLITE_OK;
    int found = s_run_seq (self, run_id, &seq, &rc);
    if (found == 1)
        return s_refuse (self, "put phase P%02u of run %s: no such run", phase->phase, run_id);
    if (found < 0)
        return s_fail (self, rc, "put phase P%02u of run %s", phase->phase, run_id);
    sqlite3_stmt *stmt = s_statement (self, S_PHASE_PUT);
    sqlite3_bind_int64 (stmt, 1, seq);
    sqlite3_bind_int64 (stmt, 2, phase->phase);
    sqlite3_bind_int (stmt, 3, (int) phase->state);
    sqlite3_bind_int64 (stmt, 4, phase->total);
    sqlite3_bind_int64 (stmt, 5, phase->done);
    sqlite3_bind_int64 (stmt, 6, phase->failed);
    sqlite3_bind_int64 (stmt, 7, phase->from_cache);
    s_bind_u64 (stmt, 8, phase->started_at_us);
    s_bind_u64 (stmt, 9, phase->ended_at_us);
    sqlite3_bind_double (stmt, 10, phase->estimated_s);
    rc = s_step_done (stmt);
    if (rc)
        return s_fail (self, rc, "put phase P%02u of run %s", phase->phase, run_id);
    return 0;
}

int
orc_store_phase_list (orc_store_t *self, const char *run_id,
                      orc_store_phase_t phases [ORC_STORE_PHASES])
{
    assert (self);
    assert (phases);
    if (!s_id_valid (run_id))
        return s_refuse (self, "list phases: no run id");
    sqlite3_stmt *stmt = s_statement (self, S_PHASE_LIST);
    s_bind_text (stmt, 1, run_id);
    int count = 0;
    int rc;
    //  The primary key allows one record per phase 0..9: at most 10 rows.
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW && count < ORC_STORE_PHASES) {
        orc_store_phase_t *phase = &phases [count++];
        phase->phase = s_column_u32 (stmt, 0);
        phase->state = (Farfan__PhaseState) sqlite3_column_int (stmt, 1);
        phase->total = s_column_u32 (stmt, 2);
        phase->done = s_column_u32 (stmt, 3);
        phase->failed = s_column_u32 (stmt, 4);
        phase->from_cache = s_column_u32 (stmt, 5);
        phase->started_at_us = s_column_u64 (stmt, 6);
        phase->ended_at_us = s_column_u64 (stmt, 7);
        phase->estimated_s = sqlite3_column_double (stmt, 8);
    }
    int result = count;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = s_fail (self, rc, "list phases of run %s", run_id);
    sqlite3_reset (stmt);
    return result;
}

//  --------------------------------------------------------------------------
//  Results

int
orc_store_result_put (orc_store_t *self, const char *run_id, const char *contract_id,
                      uint32_t phase, Farfan__ResultStatus status, uint32_t attempts,
                      const char *factory_id, const uint8_t *packed, size_t size)
{
    assert (self);
    if (!s_id_valid (run_id))
        return s_refuse (self, "put result: no run id");
    if (!s_id_valid (contract_id))
        return s_refuse (self, "put result of run %s: no contract id", run_id);
    if (phase >= ORC_STORE_PHASES)
        return s_refuse (self, "put result %s of run %s: phase %u is not a phase (0..9)",
                         contract_id, run_id, phase);
    if (!s_enum_valid (&farfan__result_status__descriptor, (int) status))
        return s_refuse (self, "put result %s of run %s: %d is not a result status",
                         contract_id, run_id, (int) status);
    if (!packed && size > 0)
        return s_refuse (self, "put result %s of run %s: %zu bytes without data",
                         contract_id, run_id, size);
    if (s_writable (self, "put result"))
        return -1;
    int64_t seq;
    int rc = SQLITE_OK;
    int found = s_run_seq (self, run_id, &seq, &rc);
    if (found == 1)
        return s_refuse (self, "put result %s of run %s: no such run", contract_id, run_id);
    if (found < 0)
        return s_fail (self, rc, "put result %s of run %s", contract_id, run_id);
    sqlite3_stmt *stmt = s_statement (self, S_RESULT_INSERT);
    sqlite3_bind_int64 (stmt, 1, seq);
    s_bind_text (stmt, 2, contract_id);
    sqlite3_bind_int64 (stmt, 3, phase);
    sqlite3_bind_int (stmt, 4, (int) status);
    sqlite3_bind_int64 (stmt, 5, attempts);
    s_bind_text (stmt, 6, factory_id);
    s_bind_blob (stmt, 7, packed, size);
    rc = s_step_done (stmt);
    if (rc)
        return s_fail (self, rc, "put result %s of run %s", contract_id, run_id);
    return sqlite3_changes (self->db) > 0 ? 0 : 1;
}

int
orc_store_result_exists (orc_store_t *self, const char *run_id, const char *contract_id)
{
    assert (self);
    if (!s_id_valid (run_id) || !s_id_valid (contract_id))
        return s_refuse (self, "find result: no run id or contract id");
    sqlite3_stmt *stmt = s_statement (self, S_RESULT_EXISTS);
    s_bind_text (stmt, 1, run_id);
    s_bind_text (stmt, 2, contract_id);
    int rc = sqlite3_step (stmt);
    int result = rc == SQLITE_ROW ? 1 : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = s_fail (self, rc, "find result %s of run %s", contract_id, run_id);
    sqlite3_reset (stmt);
    return result;
}

int
orc_store_result_counts (orc_store_t *self, const char *run_id, int phase,
                         orc_store_counts_t *counts)
{
    assert (self);
    assert (counts);
    memset (counts, 0, sizeof *counts);
    if (!s_id_valid (run_id))
        return s_refuse (self, "count results: no run id");
    if (phase < -1 || phase >= ORC_STORE_PHASES)
        return s_refuse (self, "count results of run %s: phase %d is not a phase (0..9, -1)",
                         run_id, phase);
    sqlite3_stmt *stmt = s_statement (self, phase < 0 ? S_RESULT_COUNTS_ALL
                                                      : S_RESULT_COUNTS_PHASE);
    s_bind_text (stmt, 1, run_id);
    if (phase >= 0)
        sqlite3_bind_int (stmt, 2, phase);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        uint32_t count = s_column_u32 (stmt, 1);
        counts->total += count;
        switch (sqlite3_column_int (stmt, 0)) {
            case FARFAN__RESULT_STATUS__RESULT_OK:      counts->ok += count; break;
            case FARFAN__RESULT_STATUS__RESULT_FAILED:  counts->failed += count; break;
            case FARFAN__RESULT_STATUS__RESULT_TIMEOUT: counts->timed_out += count; break;
            case FARFAN__RESULT_STATUS__RESULT_SKIPPED: counts->skipped += count; break;
            default: break;     // a status added later: in total only
        }
    }
    int result = 0;
    if (rc != SQLITE_DONE) {
        memset (counts, 0, sizeof *counts);
        result = s_fail (self, rc, "count results of run %s", run_id);
    }
    sqlite3_reset (stmt);
    return result;
}

static void
s_result_decode (sqlite3_stmt *stmt, orc_store_result_t *result)
{
    result->contract_id = s_column_text (stmt, 0);
    result->phase = s_column_u32 (stmt, 1);
    result->status = (Farfan__ResultStatus) sqlite3_column_int (stmt, 2);
    result->attempts = s_column_u32 (stmt, 3);
    result->factory_id = s_column_text (stmt, 4);
    //  A zero-length blob reads as NULL: give a valid empty buffer.
    const void *packed = sqlite3_column_blob (stmt, 5);
    result->size = (size_t) sqlite3_column_bytes (stmt, 5);
    result->packed = packed ? (const uint8_t *) packed : (const uint8_t *) "";
}

int
orc_store_result_each (orc_store_t *self, const char *run_id, int phase,
                       const char *contract_id, orc_store_result_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    if (!s_id_valid (run_id))
        return s_refuse (self, "list results: no run id");
    if (phase < -1 || phase >= ORC_STORE_PHASES)
        return s_refuse (self, "list results of run %s: phase %d is not a phase (0..9, -1)",
                         run_id, phase);
    s_statement_t which = contract_id ? S_RESULT_EACH_CONTRACT
                        : phase >= 0 ? S_RESULT_EACH_PHASE : S_RESULT_EACH_ALL;
    sqlite3_stmt *stmt = s_statement (self, which);
    if (s_not_reentered (self, stmt, "list results"))
        return -1;
    s_bind_text (stmt, 1, run_id);
    if (which == S_RESULT_EACH_CONTRACT) {
        s_bind_text (stmt, 2, contract_id);
        sqlite3_bind_int (stmt, 3, phase);
    }
    else
    if (which == S_RESULT_EACH_PHASE)
        sqlite3_bind_int (stmt, 2, phase);
    char operation [160];
    snprintf (operation, sizeof operation, "list results of run %s", run_id);
    s_visitor_t visitor = { .result_fn = fn, .arg = arg };
    return s_iterate (self, stmt, operation, &visitor);
}

zhashx_t *
orc_store_result_ids (orc_store_t *self, const char *run_id, int phase)
{
    assert (self);
    if (!s_id_valid (run_id)) {
        s_refuse (self, "list result ids: no run id");
        return NULL;
    }
    if (phase < -1 || phase >= ORC_STORE_PHASES) {
        s_refuse (self, "list result ids of run %s: phase %d is not a phase (0..9, -1)",
                  run_id, phase);
        return NULL;
    }
    zhashx_t *ids = zhashx_new ();
    if (!ids) {
        s_refuse (self, "list result ids of run %s: out of memory", run_id);
        return NULL;
    }
    sqlite3_stmt *stmt = s_statement (self, phase < 0 ? S_RESULT_IDS_ALL : S_RESULT_IDS_PHASE);
    s_bind_text (stmt, 1, run_id);
    if (phase >= 0)
        sqlite3_bind_int (stmt, 2, phase);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        int status = sqlite3_column_int (stmt, 1);
        //  Stored statuses are never 0 (put refuses it): a present key
        //  never reads as NULL.
        zhashx_insert (ids, s_column_text (stmt, 0), (void *) (uintptr_t) status);
    }
    if (rc != SQLITE_DONE) {
        s_fail (self, rc, "list result ids of run %s", run_id);
        zhashx_destroy (&ids);
    }
    sqlite3_reset (stmt);
    return ids;
}

//  --------------------------------------------------------------------------
//  Factory snapshots

int
orc_store_snapshot_put (orc_store_t *self, const char *factory_id, uint64_t taken_at_us,
                        const uint8_t *packed, size_t size)
{
    assert (self);
    if (!s_id_valid (factory_id))
        return s_refuse (self, "put snapshot: no factory id");
    if (!packed && size > 0)
        return s_refuse (self, "put snapshot of %s: %zu bytes without data", factory_id, size);
    if (s_writable (self, "put snapshot"))
        return -1;
    sqlite3_stmt *stmt = s_statement (self, S_SNAPSHOT_PUT);
    s_bind_text (stmt, 1, factory_id);
    s_bind_u64 (stmt, 2, taken_at_us);
    s_bind_blob (stmt, 3, packed, size);
    int rc = s_step_done (stmt);
    if (rc)
        return s_fail (self, rc, "put snapshot of %s", factory_id);
    return 0;
}

int
orc_store_snapshot_get (orc_store_t *self, const char *factory_id, uint64_t *taken_at_us,
                        uint8_t **packed_p, size_t *size_p)
{
    assert (self);
    assert (taken_at_us);
    assert (packed_p);
    assert (size_p);
    *taken_at_us = 0;
    *packed_p = NULL;
    *size_p = 0;
    if (!s_id_valid (factory_id))
        return s_refuse (self, "get snapshot: no factory id");
    sqlite3_stmt *stmt = s_statement (self, S_SNAPSHOT_GET);
    s_bind_text (stmt, 1, factory_id);
    int rc = sqlite3_step (stmt);
    int result = 0;
    if (rc == SQLITE_ROW) {
        *taken_at_us = s_column_u64 (stmt, 0);
        *packed_p = s_blob_copy (stmt, 1, size_p);
        result = *packed_p ? 1 : s_refuse (self, "get snapshot of %s: out of memory", factory_id);
    }
    else
    if (rc != SQLITE_DONE)
        result = s_fail (self, rc, "get snapshot of %s", factory_id);
    sqlite3_reset (stmt);
    return result;
}
