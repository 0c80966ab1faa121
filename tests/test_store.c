/*  test_store — the orchestrator's durable store: schema creation and
    reopen, every record kind round-tripping, exactly-once results,
    transactions (and a rolled-back run leaving no trace), run listings, a
    full database (max_page_count) and a disk filling up under SQLite (a
    VFS whose writes fail with SQLITE_FULL) that both keep what was
    committed, a process killed with SIGKILL in the middle of committing,
    the single-owner lock, damage found by the integrity check, and the
    refusals (newer schema, foreign or broken files, bad paths, invalid
    arguments).

    Each test works in a fresh temporary directory, removed after it by
    the suite's fixtures (also when it fails).
*/
#include "orc_store.h"

#include <criterion/criterion.h>

#include "ff_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  A temporary directory holding the store file.

typedef struct {
    char dir [64];
    char path [128];            // dir/orchestrator.db
} s_place_t;

//  This test's directory: made before it, removed after it (also when it
//  failed) by the suite's fixtures.
static s_place_t s_place;

static void
s_setup (void)
{
    snprintf (s_place.dir, sizeof s_place.dir, "/tmp/farfan-store-test-XXXXXX");
    cr_assert_not_null (mkdtemp (s_place.dir));
    snprintf (s_place.path, sizeof s_place.path, "%s/orchestrator.db", s_place.dir);
}

//  Removes the directory and every file in it (the store, its -wal).
static void
s_teardown (void)
{
    DIR *dir = opendir (s_place.dir);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        char path [512];
        snprintf (path, sizeof path, "%s/%s", s_place.dir, entry->d_name);
        unlink (path);
    }
    if (dir)
        closedir (dir);
    rmdir (s_place.dir);
}

TestSuite (store, .init = s_setup, .fini = s_teardown);

static orc_store_t *
s_open (const s_place_t *place)
{
    char err [256] = "";
    orc_store_t *store = orc_store_open (place->path, err, sizeof err);
    cr_assert_not_null (store, "open: %s", err);
    cr_assert_str_eq (err, "");
    return store;
}

//  Open fails, with a reason containing each needle (NULL-terminated).
static void
s_assert_open_fails (const char *path, ...)
{
    char err [256] = "";
    orc_store_t *store = orc_store_open (path, err, sizeof err);
    cr_assert_null (store, "open %s should fail", path ? path : "(null)");
    va_list args;
    va_start (args, path);
    const char *needle;
    while ((needle = va_arg (args, const char *)))
        cr_assert_not_null (strstr (err, needle), "error \"%s\" lacks \"%s\"", err, needle);
    va_end (args);
    cr_assert_null (strchr (err, '\n'), "one line: %s", err);
}

//  The last error contains needle.
static void
s_assert_error (orc_store_t *store, const char *needle)
{
    const char *error = orc_store_error (store);
    cr_assert_not_null (strstr (error, needle), "error \"%s\" lacks \"%s\"", error, needle);
}

//  Runs SQL on the closed store file through a connection of its own.
static void
s_raw_exec (const s_place_t *place, const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq (sqlite3_open (place->path, &db), SQLITE_OK);
    char *message = NULL;
    int rc = sqlite3_exec (db, sql, NULL, NULL, &message);
    cr_assert_eq (rc, SQLITE_OK, "%s: %s", sql, message ? message : "");
    sqlite3_free (message);
    cr_assert_eq (sqlite3_close (db), SQLITE_OK);
}

//  The schema version in the closed store file.
static int
s_raw_version (const s_place_t *place)
{
    sqlite3 *db = NULL;
    cr_assert_eq (sqlite3_open (place->path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq (sqlite3_prepare_v2 (db, "SELECT version FROM schema_version", -1, &stmt, NULL),
                  SQLITE_OK);
    cr_assert_eq (sqlite3_step (stmt), SQLITE_ROW);
    int version = sqlite3_column_int (stmt, 0);
    sqlite3_finalize (stmt);
    cr_assert_eq (sqlite3_close (db), SQLITE_OK);
    return version;
}

//  --------------------------------------------------------------------------
//  Records

static orc_store_run_t
s_run (const char *id, Farfan__RunState state, uint64_t submitted_at_us)
{
    orc_store_run_t run = {
        .id = id,
        .name = "Plan_1.txt",
        .state = state,
        .error = "",
        .document_digest = "blake2b:0011",
        .contract_set_digest = "blake2b:aabb",
        .first_phase = 0,
        .last_phase = 9,
        .deadline_s = 120.5,
        .strict_deadline = false,
        .worker_budget = 8,
        .params_json = "{\"lang\":\"es\"}",
        .submitted_at_us = submitted_at_us,
        .ended_at_us = 0,
        .contract_set = "/srv/farfan/sets/pilot",
    };
    return run;
}

static void
s_insert_run (orc_store_t *store, const char *id)
{
    orc_store_run_t run = s_run (id, FARFAN__RUN_STATE__RUN_RUNNING, 1000);
    cr_assert_eq (orc_store_run_insert (store, &run), 0, "%s", orc_store_error (store));
}

//  A packed ContractResult of about 200 bytes for contract_id.
static size_t
s_pack_result (const char *contract_id, Farfan__ResultStatus status, uint8_t *buffer,
               size_t buffer_size)
{
    Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
    result.contract_id = (char *) contract_id;
    result.status = status;
    result.score = 2.25;
    result.quality = "BUENO";
    result.ratio = 0.75;
    result.confidence = 0.9;
    result.duration_us = 1234;
    result.output_json = "{\"elements\":{\"fuentes\":2,\"años\":3},"
                         "\"matches\":[\"DANE\",\"Medicina Legal\",\"2019\",\"2020\"],"
                         "\"note\":\"padding to a realistic size...........\"}";
    result.contract_digest = "blake2b:0123456789abcdef0123456789abcdef";
    result.executed_by = "pool";
    size_t size = farfan__contract_result__get_packed_size (&result);
    cr_assert_leq (size, buffer_size);
    farfan__contract_result__pack (&result, buffer);
    return size;
}

//  Puts one result with a packed ContractResult; returns put's answer.
static int
s_put (orc_store_t *store, const char *run_id, const char *contract_id, uint32_t phase,
       Farfan__ResultStatus status)
{
    uint8_t packed [512];
    size_t size = s_pack_result (contract_id, status, packed, sizeof packed);
    return orc_store_result_put (store, run_id, contract_id, phase, status, 1, "factory-1",
                                 packed, size);
}

static uint32_t
s_count (orc_store_t *store, const char *run_id)
{
    orc_store_counts_t counts;
    cr_assert_eq (orc_store_result_counts (store, run_id, -1, &counts), 0, "%s",
                  orc_store_error (store));
    return counts.total;
}

//  Collects the contract ids an iteration visits (in order), up to 64.
typedef struct {
    char ids [64][64];
    size_t count;
    size_t stop_after;          // 0 = never stop
} s_collect_t;

static int
s_collect_run (const orc_store_run_t *run, void *arg)
{
    s_collect_t *collect = (s_collect_t *) arg;
    cr_assert_lt (collect->count, 64);
    snprintf (collect->ids [collect->count++], 64, "%s", run->id);
    return collect->stop_after && collect->count >= collect->stop_after;
}

static int
s_collect_result (const orc_store_result_t *result, void *arg)
{
    s_collect_t *collect = (s_collect_t *) arg;
    cr_assert_lt (collect->count, 64);
    snprintf (collect->ids [collect->count++], 64, "%s@P%02u", result->contract_id,
              result->phase);
    return collect->stop_after && collect->count >= collect->stop_after;
}

//  --------------------------------------------------------------------------
//  Schema, reopen

FF_TEST (store, creates_schema_and_keeps_data_across_reopen)
{
    orc_store_t *store = s_open (&s_place);
    cr_assert_str_eq (orc_store_path (store), s_place.path);
    cr_assert_str_eq (orc_store_error (store), "");
    cr_assert_eq (orc_store_check (store), 0, "%s", orc_store_error (store));
    s_insert_run (store, "run-1");
    cr_assert_eq (orc_store_document_put (store, "d1", (const uint8_t *) "text", 4), 0);
    cr_assert_eq (s_put (store, "run-1", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    orc_store_close (&store);
    cr_assert_null (store);
    orc_store_close (&store);       // idempotent

    //  The file is a WAL database with the current version of the schema.
    sqlite3 *db = NULL;
    cr_assert_eq (sqlite3_open (s_place.path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq (sqlite3_prepare_v2 (db, "SELECT version FROM schema_version", -1, &stmt, NULL),
                  SQLITE_OK);
    cr_assert_eq (sqlite3_step (stmt), SQLITE_ROW);
    cr_assert_eq (sqlite3_column_int (stmt, 0), ORC_STORE_SCHEMA_VERSION);
    sqlite3_finalize (stmt);
    cr_assert_eq (sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    cr_assert_eq (sqlite3_step (stmt), SQLITE_ROW);
    cr_assert_str_eq ((const char *) sqlite3_column_text (stmt, 0), "wal");
    sqlite3_finalize (stmt);
    sqlite3_close (db);

    store = s_open (&s_place);
    orc_store_run_t *run = NULL;
    cr_assert_eq (orc_store_run_get (store, "run-1", &run), 1);
    cr_assert_str_eq (run->name, "Plan_1.txt");
    orc_store_run_destroy (&run);
    cr_assert_null (run);
    cr_assert_eq (orc_store_result_exists (store, "run-1", "Q001"), 1);
    uint8_t *text = NULL;
    size_t size = 0;
    cr_assert_eq (orc_store_document_get (store, "d1", &text, &size), 1);
    cr_assert_eq (size, 4);
    free (text);
    orc_store_close (&store);
}

FF_TEST (store, refuses_a_newer_schema_version)
{
    orc_store_t *store = s_open (&s_place);
    orc_store_close (&store);
    char sql [128], newer [128];
    snprintf (sql, sizeof sql, "UPDATE schema_version SET version = %d", ORC_STORE_SCHEMA_VERSION + 1);
    snprintf (newer, sizeof newer, "schema version %d is newer than this orchestrator's (%d)",
              ORC_STORE_SCHEMA_VERSION + 1, ORC_STORE_SCHEMA_VERSION);
    s_raw_exec (&s_place, sql);
    s_assert_open_fails (s_place.path, "open store ", s_place.path, newer, NULL);
    //  The refusal changed nothing.
    cr_assert_eq (s_raw_version (&s_place), ORC_STORE_SCHEMA_VERSION + 1);
    s_raw_exec (&s_place, "UPDATE schema_version SET version = 0");
    s_assert_open_fails (s_place.path, "unknown schema version 0", NULL);
    s_raw_exec (&s_place, "DELETE FROM schema_version");
    s_assert_open_fails (s_place.path, "schema_version holds 0 rows", NULL);
    snprintf (sql, sizeof sql, "INSERT INTO schema_version VALUES (%d)", ORC_STORE_SCHEMA_VERSION);
    s_raw_exec (&s_place, sql);
    store = s_open (&s_place);
    orc_store_close (&store);
}

FF_TEST (store, a_version_1_store_is_migrated_and_keeps_its_runs)
{
    //  A store as version 1 wrote it: runs without the contract set's
    //  location (every run used the orchestrator's default set).
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-old");
    cr_assert_eq (s_put (store, "run-old", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    orc_store_close (&store);
    s_raw_exec (&s_place, "DROP INDEX runs_by_submission_key;"
                          "ALTER TABLE runs DROP COLUMN submission_key;"
                          "ALTER TABLE runs DROP COLUMN contract_set;"
                          "UPDATE schema_version SET version = 1;");
    cr_assert_eq (s_raw_version (&s_place), 1);

    store = s_open (&s_place);
    orc_store_close (&store);
    cr_assert_eq (s_raw_version (&s_place), ORC_STORE_SCHEMA_VERSION, "migrated on open");
    store = s_open (&s_place);
    orc_store_run_t *run = NULL;
    cr_assert_eq (orc_store_run_get (store, "run-old", &run), 1, "%s", orc_store_error (store));
    cr_assert_str_eq (run->contract_set, "", "an old run used the default set");
    cr_assert_str_eq (run->submission_key, "", "an old run has no submission key");
    cr_assert_str_eq (run->contract_set_digest, "blake2b:aabb");
    cr_assert_str_eq (run->params_json, "{\"lang\":\"es\"}");
    orc_store_run_destroy (&run);
    cr_assert_eq (orc_store_result_exists (store, "run-old", "Q001"), 1);
    //  New runs record their set's location.
    orc_store_run_t fresh = s_run ("run-new", FARFAN__RUN_STATE__RUN_QUEUED, 2000);
    cr_assert_eq (orc_store_run_insert (store, &fresh), 0, "%s", orc_store_error (store));
    cr_assert_eq (orc_store_run_get (store, "run-new", &run), 1);
    cr_assert_str_eq (run->contract_set, "/srv/farfan/sets/pilot");
    orc_store_run_destroy (&run);
    orc_store_close (&store);
}

FF_TEST (store, a_version_2_store_is_migrated_and_finds_runs_by_submission)
{
    //  A store as version 2 wrote it: runs without the key of the SUBMIT
    //  that started them.
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-v2");
    orc_store_close (&store);
    s_raw_exec (&s_place, "DROP INDEX runs_by_submission_key;"
                          "ALTER TABLE runs DROP COLUMN submission_key;"
                          "UPDATE schema_version SET version = 2;");
    store = s_open (&s_place);
    orc_store_close (&store);
    cr_assert_eq (s_raw_version (&s_place), ORC_STORE_SCHEMA_VERSION, "migrated on open");
    store = s_open (&s_place);
    char run_id [64] = "x";
    cr_assert_eq (orc_store_run_by_submission (store, "client\x1f" "c-1", run_id, sizeof run_id), 0,
                  "%s", orc_store_error (store));
    cr_assert_str_eq (run_id, "");

    //  New runs keep their key; the lookup finds the run, across a reopen.
    orc_store_run_t run = s_run ("run-keyed", FARFAN__RUN_STATE__RUN_QUEUED, 2000);
    run.submission_key = "client\x1f" "c-1";
    cr_assert_eq (orc_store_run_insert (store, &run), 0, "%s", orc_store_error (store));
    orc_store_run_t other = s_run ("run-other", FARFAN__RUN_STATE__RUN_QUEUED, 2001);
    other.submission_key = "client\x1f" "c-2";
    cr_assert_eq (orc_store_run_insert (store, &other), 0, "%s", orc_store_error (store));
    orc_store_close (&store);
    store = s_open (&s_place);
    cr_assert_eq (orc_store_run_by_submission (store, "client\x1f" "c-1", run_id, sizeof run_id), 1,
                  "%s", orc_store_error (store));
    cr_assert_str_eq (run_id, "run-keyed");
    cr_assert_eq (orc_store_run_by_submission (store, "client\x1f" "c-2", run_id, sizeof run_id), 1);
    cr_assert_str_eq (run_id, "run-other");
    orc_store_run_t *copy = NULL;
    cr_assert_eq (orc_store_run_get (store, "run-keyed", &copy), 1);
    cr_assert_str_eq (copy->submission_key, "client\x1f" "c-1");
    orc_store_run_destroy (&copy);
    //  A run without a key (NULL) is found by none, not even by "".
    cr_assert_eq (orc_store_run_by_submission (store, "other\x1f" "c-1", run_id, sizeof run_id), 0);
    cr_assert_eq (orc_store_run_by_submission (store, "", run_id, sizeof run_id), -1);
    s_assert_error (store, "no key");
    //  A key reused for another run (a client breaking the protocol): the
    //  latest run.
    orc_store_run_t again = s_run ("run-again", FARFAN__RUN_STATE__RUN_QUEUED, 2002);
    again.submission_key = "client\x1f" "c-1";
    cr_assert_eq (orc_store_run_insert (store, &again), 0, "%s", orc_store_error (store));
    cr_assert_eq (orc_store_run_by_submission (store, "client\x1f" "c-1", run_id, sizeof run_id), 1);
    cr_assert_str_eq (run_id, "run-again");
    //  A buffer too small for the id: refused, not cut.
    char small [4];
    cr_assert_eq (orc_store_run_by_submission (store, "client\x1f" "c-1", small, sizeof small), -1);
    s_assert_error (store, "longer than");
    orc_store_close (&store);
}

FF_TEST (store, refuses_foreign_and_broken_files)
{
    //  An SQLite database of something else is left alone.
    s_raw_exec (&s_place, "CREATE TABLE accounts (id INTEGER PRIMARY KEY)");
    s_assert_open_fails (s_place.path, "an SQLite database of something else", NULL);
    s_raw_exec (&s_place, "SELECT count(*) FROM accounts");
    cr_assert_eq (unlink (s_place.path), 0);

    //  Not a database at all.
    FILE *file = fopen (s_place.path, "w");
    cr_assert_not_null (file);
    for (int line = 0; line < 200; line++)
        fprintf (file, "this is a text file, not a database, line %d\n", line);
    fclose (file);
    s_assert_open_fails (s_place.path, "open store ", "file is not a database", NULL);
    cr_assert_eq (unlink (s_place.path), 0);
}

FF_TEST (store, bad_paths_get_clear_errors)
{
    s_assert_open_fails ("/nonexistent-farfan-dir/sub/orchestrator.db",
                         "open store /nonexistent-farfan-dir/sub/orchestrator.db: "
                         "unable to open database file (No such file or directory)", NULL);
    //  A directory where the file should be.
    s_assert_open_fails (s_place.dir, "open store ", s_place.dir, "unable to open database file",
                         NULL);
    s_assert_open_fails ("", "open store: no path given", NULL);
    s_assert_open_fails (NULL, "open store: no path given", NULL);
    //  err may be left out.
    cr_assert_null (orc_store_open ("/nonexistent-farfan-dir/x.db", NULL, 0));
}

FF_TEST (store, one_owner_at_a_time)
{
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    //  A second orchestrator on the same data dir is refused while the
    //  first has it open, whether it is another connection or process.
    s_assert_open_fails (s_place.path, "database is locked", "another orchestrator", NULL);
    orc_store_close (&store);
    store = s_open (&s_place);
    cr_assert_eq (s_count (store, "run-1"), 0);
    orc_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Runs

FF_TEST (store, run_round_trips_and_changes_state)
{
    orc_store_t *store = s_open (&s_place);
    orc_store_run_t run = s_run ("run-ñ", FARFAN__RUN_STATE__RUN_QUEUED, UINT64_MAX - 7);
    run.name = "Plan de Desarrollo «Pasto»";
    run.first_phase = 2;
    run.last_phase = 3;
    run.strict_deadline = true;
    run.worker_budget = 4294967295u;
    run.ended_at_us = 42;
    cr_assert_eq (orc_store_run_insert (store, &run), 0, "%s", orc_store_error (store));

    orc_store_run_t *copy = NULL;
    cr_assert_eq (orc_store_run_get (store, "run-ñ", &copy), 1);
    cr_assert_str_eq (copy->id, "run-ñ");
    cr_assert_str_eq (copy->name, "Plan de Desarrollo «Pasto»");
    cr_assert_eq (copy->state, FARFAN__RUN_STATE__RUN_QUEUED);
    cr_assert_str_eq (copy->error, "");
    cr_assert_str_eq (copy->document_digest, "blake2b:0011");
    cr_assert_str_eq (copy->contract_set_digest, "blake2b:aabb");
    cr_assert_eq (copy->first_phase, 2);
    cr_assert_eq (copy->last_phase, 3);
    cr_assert_eq (copy->deadline_s, 120.5);
    cr_assert (copy->strict_deadline);
    cr_assert_eq (copy->worker_budget, 4294967295u);
    cr_assert_str_eq (copy->params_json, "{\"lang\":\"es\"}");
    cr_assert_str_eq (copy->contract_set, "/srv/farfan/sets/pilot");
    cr_assert_eq (copy->submitted_at_us, UINT64_MAX - 7);
    cr_assert_eq (copy->ended_at_us, 42);
    orc_store_run_destroy (&copy);
    orc_store_run_destroy (&copy);  // idempotent

    //  NULL strings are stored as "".
    orc_store_run_t bare = { .id = "bare", .state = FARFAN__RUN_STATE__RUN_QUEUED,
                             .last_phase = 9 };
    cr_assert_eq (orc_store_run_insert (store, &bare), 0, "%s", orc_store_error (store));
    cr_assert_eq (orc_store_run_get (store, "bare", &copy), 1);
    cr_assert_str_eq (copy->name, "");
    cr_assert_str_eq (copy->params_json, "");
    orc_store_run_destroy (&copy);

    //  State changes.
    cr_assert_eq (orc_store_run_set_state (store, "run-ñ", FARFAN__RUN_STATE__RUN_FAILED,
                                           "P02: 3 contracts failed", 99), 0);
    cr_assert_eq (orc_store_run_get (store, "run-ñ", &copy), 1);
    cr_assert_eq (copy->state, FARFAN__RUN_STATE__RUN_FAILED);
    cr_assert_str_eq (copy->error, "P02: 3 contracts failed");
    cr_assert_eq (copy->ended_at_us, 99);
    orc_store_run_destroy (&copy);
    cr_assert_eq (orc_store_run_set_state (store, "run-ñ", FARFAN__RUN_STATE__RUN_RUNNING,
                                           NULL, 0), 0);
    cr_assert_eq (orc_store_run_get (store, "run-ñ", &copy), 1);
    cr_assert_str_eq (copy->error, "");
    cr_assert_eq (copy->ended_at_us, 0);
    orc_store_run_destroy (&copy);

    //  The document, once known.
    cr_assert_eq (orc_store_run_set_document (store, "run-ñ", "blake2b:9999"), 0);
    cr_assert_eq (orc_store_run_get (store, "run-ñ", &copy), 1);
    cr_assert_str_eq (copy->document_digest, "blake2b:9999");
    cr_assert_str_eq (copy->name, "Plan de Desarrollo «Pasto»");
    orc_store_run_destroy (&copy);
    cr_assert_eq (orc_store_run_set_document (store, "nope", "blake2b:9999"), -1);
    s_assert_error (store, "set document of run nope: no such run");
    cr_assert_eq (orc_store_run_set_document (store, "run-ñ", ""), -1);
    s_assert_error (store, "set document of run run-ñ: no digest");
    cr_assert_eq (orc_store_run_set_document (store, NULL, "x"), -1);
    s_assert_error (store, "set run document: no run id");

    //  Absent, duplicate, invalid.
    copy = (orc_store_run_t *) &run;
    cr_assert_eq (orc_store_run_get (store, "nope", &copy), 0);
    cr_assert_null (copy);
    cr_assert_eq (orc_store_run_insert (store, &run), -1);
    s_assert_error (store, "insert run run-ñ: a run with this id exists");
    cr_assert_eq (orc_store_run_set_state (store, "nope", FARFAN__RUN_STATE__RUN_FAILED, "x", 1),
                  -1);
    s_assert_error (store, "set state of run nope: no such run");
    cr_assert_eq (orc_store_run_set_state (store, "run-ñ", (Farfan__RunState) 0, NULL, 0), -1);
    s_assert_error (store, "0 is not a run state");
    cr_assert_eq (orc_store_run_set_state (store, "run-ñ", (Farfan__RunState) 17, NULL, 0), -1);
    s_assert_error (store, "17 is not a run state");
    cr_assert_eq (orc_store_run_set_state (store, "", FARFAN__RUN_STATE__RUN_FAILED, NULL, 0),
                  -1);
    s_assert_error (store, "set run state: no run id");
    cr_assert_eq (orc_store_run_get (store, NULL, &copy), -1);
    s_assert_error (store, "get run: no run id");

    orc_store_run_t bad = s_run ("bad", FARFAN__RUN_STATE__RUN_QUEUED, 1);
    bad.id = "";
    cr_assert_eq (orc_store_run_insert (store, &bad), -1);
    s_assert_error (store, "insert run: no run id");
    cr_assert_eq (orc_store_run_insert (store, NULL), -1);
    bad.id = "bad";
    bad.state = (Farfan__RunState) 6;
    cr_assert_eq (orc_store_run_insert (store, &bad), -1);
    s_assert_error (store, "insert run bad: 6 is not a run state");
    bad.state = FARFAN__RUN_STATE__RUN_QUEUED;
    bad.last_phase = 10;
    cr_assert_eq (orc_store_run_insert (store, &bad), -1);
    s_assert_error (store, "phases 0..10 are not a range of 0..9");
    bad.first_phase = 5;
    bad.last_phase = 4;
    cr_assert_eq (orc_store_run_insert (store, &bad), -1);
    s_assert_error (store, "phases 5..4 are not a range of 0..9");
    bad.first_phase = 0;
    bad.last_phase = 9;
    bad.deadline_s = NAN;
    cr_assert_eq (orc_store_run_insert (store, &bad), -1);
    s_assert_error (store, "is not a duration");
    bad.deadline_s = -1;
    cr_assert_eq (orc_store_run_insert (store, &bad), -1);
    s_assert_error (store, "deadline -1 is not a duration");
    cr_assert_eq (orc_store_run_get (store, "bad", &copy), 0);
    orc_store_close (&store);
}

FF_TEST (store, unfinished_runs_come_in_submission_order)
{
    orc_store_t *store = s_open (&s_place);
    struct { const char *id; Farfan__RunState state; uint64_t at; } runs [] = {
        { "late",      FARFAN__RUN_STATE__RUN_QUEUED,    5000 },
        { "done",      FARFAN__RUN_STATE__RUN_SUCCEEDED, 1000 },
        { "early",     FARFAN__RUN_STATE__RUN_RUNNING,   2000 },
        { "tie-first", FARFAN__RUN_STATE__RUN_QUEUED,    3000 },
        { "failed",    FARFAN__RUN_STATE__RUN_FAILED,    2500 },
        { "tie-next",  FARFAN__RUN_STATE__RUN_RUNNING,   3000 },
        { "cancelled", FARFAN__RUN_STATE__RUN_CANCELLED, 4000 },
    };
    for (size_t index = 0; index < sizeof runs / sizeof runs [0]; index++) {
        orc_store_run_t run = s_run (runs [index].id, runs [index].state, runs [index].at);
        cr_assert_eq (orc_store_run_insert (store, &run), 0);
    }
    s_collect_t collect = { .count = 0 };
    cr_assert_eq (orc_store_run_unfinished (store, s_collect_run, &collect), 4);
    cr_assert_eq (collect.count, 4);
    cr_assert_str_eq (collect.ids [0], "early");
    cr_assert_str_eq (collect.ids [1], "tie-first");
    cr_assert_str_eq (collect.ids [2], "tie-next");
    cr_assert_str_eq (collect.ids [3], "late");

    //  A finished run leaves the set; the callback can stop early.
    cr_assert_eq (orc_store_run_set_state (store, "tie-first", FARFAN__RUN_STATE__RUN_SUCCEEDED,
                                           NULL, 9000), 0);
    s_collect_t first = { .stop_after = 1 };
    cr_assert_eq (orc_store_run_unfinished (store, s_collect_run, &first), 1);
    cr_assert_str_eq (first.ids [0], "early");
    s_collect_t rest = { .count = 0 };
    cr_assert_eq (orc_store_run_unfinished (store, s_collect_run, &rest), 3);
    cr_assert_str_eq (rest.ids [1], "tie-next");
    orc_store_close (&store);
}

FF_TEST (store, run_list_is_most_recent_first_with_a_limit)
{
    orc_store_t *store = s_open (&s_place);
    s_collect_t none = { .count = 0 };
    cr_assert_eq (orc_store_run_list (store, 10, s_collect_run, &none), 0);
    const char *ids [] = { "r2", "r1", "r3", "r3b", "r0" };
    uint64_t at [] = { 200, 100, 300, 300, 50 };
    for (size_t index = 0; index < 5; index++) {
        orc_store_run_t run = s_run (ids [index], FARFAN__RUN_STATE__RUN_SUCCEEDED, at [index]);
        cr_assert_eq (orc_store_run_insert (store, &run), 0);
    }
    s_collect_t all = { .count = 0 };
    cr_assert_eq (orc_store_run_list (store, 0, s_collect_run, &all), 5);
    const char *expected [] = { "r3b", "r3", "r2", "r1", "r0" };
    for (size_t index = 0; index < 5; index++)
        cr_assert_str_eq (all.ids [index], expected [index], "position %zu", index);
    s_collect_t two = { .count = 0 };
    cr_assert_eq (orc_store_run_list (store, 2, s_collect_run, &two), 2);
    cr_assert_str_eq (two.ids [0], "r3b");
    cr_assert_str_eq (two.ids [1], "r3");
    s_collect_t more = { .count = 0 };
    cr_assert_eq (orc_store_run_list (store, 100, s_collect_run, &more), 5);
    orc_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Documents, phases, snapshots

FF_TEST (store, documents_are_idempotent_by_digest)
{
    orc_store_t *store = s_open (&s_place);
    const char *text = "Diagnóstico: según el DANE (2019)\0con un NUL";
    size_t size = 46;
    cr_assert_eq (orc_store_document_put (store, "sha:1", (const uint8_t *) text, size), 0);
    cr_assert_eq (orc_store_document_put (store, "sha:1", (const uint8_t *) text, size), 1);
    cr_assert_eq (orc_store_document_put (store, "sha:1", (const uint8_t *) text, size - 1), -1);
    s_assert_error (store, "put document sha:1: different bytes are stored under this digest");
    cr_assert_eq (orc_store_document_put (store, "sha:1", (const uint8_t *) "Xiagnóstico", 12),
                  -1);
    uint8_t *copy = NULL;
    size_t copy_size = 0;
    cr_assert_eq (orc_store_document_get (store, "sha:1", &copy, &copy_size), 1);
    cr_assert_eq (copy_size, size);
    cr_assert_eq (memcmp (copy, text, size), 0);
    cr_assert_eq (copy [size], '\0');
    free (copy);

    //  An empty document, absent ones, bad arguments.
    cr_assert_eq (orc_store_document_put (store, "empty", NULL, 0), 0);
    cr_assert_eq (orc_store_document_put (store, "empty", (const uint8_t *) "", 0), 1);
    cr_assert_eq (orc_store_document_get (store, "empty", &copy, &copy_size), 1);
    cr_assert_eq (copy_size, 0);
    cr_assert_str_eq ((char *) copy, "");
    free (copy);
    cr_assert_eq (orc_store_document_get (store, "absent", &copy, &copy_size), 0);
    cr_assert_null (copy);
    cr_assert_eq (copy_size, 0);
    cr_assert_eq (orc_store_document_put (store, "", (const uint8_t *) "x", 1), -1);
    s_assert_error (store, "put document: no digest");
    cr_assert_eq (orc_store_document_put (store, "x", NULL, 3), -1);
    s_assert_error (store, "put document x: 3 bytes without data");
    cr_assert_eq (orc_store_document_get (store, NULL, &copy, &copy_size), -1);
    s_assert_error (store, "get document: no digest");
    orc_store_close (&store);
}

FF_TEST (store, phases_upsert_and_list_in_order)
{
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    s_insert_run (store, "run-2");
    orc_store_phase_t phase = {
        .phase = 3, .state = FARFAN__PHASE_STATE__PHASE_RUNNING, .total = 300, .done = 120,
        .failed = 2, .from_cache = 40, .started_at_us = UINT64_MAX, .ended_at_us = 0,
        .estimated_s = 12.75,
    };
    cr_assert_eq (orc_store_phase_put (store, "run-1", &phase), 0, "%s", orc_store_error (store));
    orc_store_phase_t first = { .phase = 1, .state = FARFAN__PHASE_STATE__PHASE_SUCCEEDED,
                                .total = 1, .done = 1, .started_at_us = 5, .ended_at_us = 6 };
    cr_assert_eq (orc_store_phase_put (store, "run-1", &first), 0);
    orc_store_phase_t other = { .phase = 0, .state = FARFAN__PHASE_STATE__PHASE_PENDING };
    cr_assert_eq (orc_store_phase_put (store, "run-2", &other), 0);

    orc_store_phase_t phases [ORC_STORE_PHASES];
    cr_assert_eq (orc_store_phase_list (store, "run-1", phases), 2);
    cr_assert_eq (phases [0].phase, 1);
    cr_assert_eq (phases [0].state, FARFAN__PHASE_STATE__PHASE_SUCCEEDED);
    cr_assert_eq (phases [0].ended_at_us, 6);
    cr_assert_eq (phases [1].phase, 3);
    cr_assert_eq (phases [1].state, FARFAN__PHASE_STATE__PHASE_RUNNING);
    cr_assert_eq (phases [1].total, 300);
    cr_assert_eq (phases [1].done, 120);
    cr_assert_eq (phases [1].failed, 2);
    cr_assert_eq (phases [1].from_cache, 40);
    cr_assert_eq (phases [1].started_at_us, UINT64_MAX);
    cr_assert_eq (phases [1].estimated_s, 12.75);

    //  Upsert replaces the record of that phase only.
    phase.state = FARFAN__PHASE_STATE__PHASE_SUCCEEDED;
    phase.done = 300;
    phase.ended_at_us = 77;
    cr_assert_eq (orc_store_phase_put (store, "run-1", &phase), 0);
    cr_assert_eq (orc_store_phase_list (store, "run-1", phases), 2);
    cr_assert_eq (phases [1].state, FARFAN__PHASE_STATE__PHASE_SUCCEEDED);
    cr_assert_eq (phases [1].done, 300);
    cr_assert_eq (phases [1].ended_at_us, 77);
    cr_assert_eq (phases [0].done, 1);

    //  Every phase at once: ten records.
    for (uint32_t number = 0; number < ORC_STORE_PHASES; number++) {
        orc_store_phase_t each = { .phase = number, .state = FARFAN__PHASE_STATE__PHASE_PENDING };
        cr_assert_eq (orc_store_phase_put (store, "run-2", &each), 0);
    }
    cr_assert_eq (orc_store_phase_list (store, "run-2", phases), ORC_STORE_PHASES);
    cr_assert_eq (phases [9].phase, 9);
    cr_assert_eq (orc_store_phase_list (store, "unknown", phases), 0);

    //  Refusals.
    orc_store_phase_t bad = phase;
    cr_assert_eq (orc_store_phase_put (store, "unknown", &bad), -1);
    s_assert_error (store, "put phase P03 of run unknown: no such run");
    bad.phase = 10;
    cr_assert_eq (orc_store_phase_put (store, "run-1", &bad), -1);
    s_assert_error (store, "put phase 10 of run run-1: not a phase (0..9)");
    bad.phase = 2;
    bad.state = (Farfan__PhaseState) 0;
    cr_assert_eq (orc_store_phase_put (store, "run-1", &bad), -1);
    s_assert_error (store, "put phase P02 of run run-1: 0 is not a phase state");
    bad.state = (Farfan__PhaseState) 8;
    cr_assert_eq (orc_store_phase_put (store, "run-1", &bad), -1);
    s_assert_error (store, "8 is not a phase state");
    bad.state = FARFAN__PHASE_STATE__PHASE_RUNNING;
    bad.estimated_s = INFINITY;
    cr_assert_eq (orc_store_phase_put (store, "run-1", &bad), -1);
    s_assert_error (store, "is not a duration");
    cr_assert_eq (orc_store_phase_put (store, "run-1", NULL), -1);
    cr_assert_eq (orc_store_phase_put (store, "", &phase), -1);
    s_assert_error (store, "put phase: no run id");
    cr_assert_eq (orc_store_phase_list (store, "", phases), -1);
    cr_assert_eq (orc_store_phase_list (store, "run-1", phases), 2);
    orc_store_close (&store);
}

FF_TEST (store, snapshots_replace_the_previous_one)
{
    orc_store_t *store = s_open (&s_place);
    Farfan__Snapshot snapshot = FARFAN__SNAPSHOT__INIT;
    snapshot.taken_at_us = 111;
    snapshot.factory_id = "factory-a";
    snapshot.contract_set_digest = "blake2b:aabb";
    char *hot [] = { "Q001", "Q002" };
    snapshot.n_hot_contracts = 2;
    snapshot.hot_contracts = hot;
    uint8_t packed [256];
    size_t size = farfan__snapshot__pack (&snapshot, packed);
    cr_assert_eq (orc_store_snapshot_put (store, "factory-a", 111, packed, size), 0);

    uint64_t taken = 0;
    uint8_t *copy = NULL;
    size_t copy_size = 0;
    cr_assert_eq (orc_store_snapshot_get (store, "factory-a", &taken, &copy, &copy_size), 1);
    cr_assert_eq (taken, 111);
    Farfan__Snapshot *back = farfan__snapshot__unpack (NULL, copy_size, copy);
    cr_assert_not_null (back);
    cr_assert_str_eq (back->factory_id, "factory-a");
    cr_assert_eq (back->n_hot_contracts, 2);
    cr_assert_str_eq (back->hot_contracts [1], "Q002");
    farfan__snapshot__free_unpacked (back, NULL);
    free (copy);

    //  A newer snapshot replaces it; an empty one is a valid Snapshot.
    cr_assert_eq (orc_store_snapshot_put (store, "factory-a", 222, NULL, 0), 0);
    cr_assert_eq (orc_store_snapshot_get (store, "factory-a", &taken, &copy, &copy_size), 1);
    cr_assert_eq (taken, 222);
    cr_assert_eq (copy_size, 0);
    cr_assert_not_null (copy);
    free (copy);
    cr_assert_eq (orc_store_snapshot_get (store, "factory-b", &taken, &copy, &copy_size), 0);
    cr_assert_null (copy);
    cr_assert_eq (taken, 0);
    cr_assert_eq (orc_store_snapshot_put (store, "", 1, packed, size), -1);
    s_assert_error (store, "put snapshot: no factory id");
    cr_assert_eq (orc_store_snapshot_put (store, "f", 1, NULL, 5), -1);
    s_assert_error (store, "put snapshot of f: 5 bytes without data");
    cr_assert_eq (orc_store_snapshot_get (store, NULL, &taken, &copy, &copy_size), -1);
    s_assert_error (store, "get snapshot: no factory id");
    orc_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Results

//  Reads back one result's fields.
typedef struct {
    uint32_t phase;
    Farfan__ResultStatus status;
    uint32_t attempts;
    char factory [32];
    uint8_t packed [512];
    size_t size;
} s_one_t;

static int
s_read_one (const orc_store_result_t *result, void *arg)
{
    s_one_t *one = (s_one_t *) arg;
    one->phase = result->phase;
    one->status = result->status;
    one->attempts = result->attempts;
    snprintf (one->factory, sizeof one->factory, "%s", result->factory_id);
    cr_assert_leq (result->size, sizeof one->packed);
    memcpy (one->packed, result->packed, result->size);
    one->size = result->size;
    return 0;
}

//  Checks each visited result decodes to a ContractResult of its id and
//  status, and counts them.
static int
s_check_packed (const orc_store_result_t *result, void *arg)
{
    Farfan__ContractResult *unpacked = farfan__contract_result__unpack (NULL, result->size,
                                                                        result->packed);
    cr_assert_not_null (unpacked, "%s: packed bytes do not decode", result->contract_id);
    cr_assert_str_eq (unpacked->contract_id, result->contract_id);
    cr_assert_eq (unpacked->status, result->status);
    cr_assert_str_eq (unpacked->quality, "BUENO");
    farfan__contract_result__free_unpacked (unpacked, NULL);
    cr_assert_str_eq (result->factory_id, "factory-1");
    cr_assert_eq (result->attempts, 1);
    (*(int *) arg)++;
    return 0;
}

FF_TEST (store, results_round_trip_with_counts_and_ids)
{
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    s_insert_run (store, "run-2");
    cr_assert_eq (s_put (store, "run-1", "Q003", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    cr_assert_eq (s_put (store, "run-1", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_FAILED), 0);
    cr_assert_eq (s_put (store, "run-1", "Q002", 2, FARFAN__RESULT_STATUS__RESULT_TIMEOUT), 0);
    cr_assert_eq (s_put (store, "run-1", "AGG-DIM01", 4, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    cr_assert_eq (s_put (store, "run-1", "MACRO", 7, FARFAN__RESULT_STATUS__RESULT_SKIPPED), 0);
    cr_assert_eq (s_put (store, "run-2", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);

    //  Every result of the run: phase order, then contract id order.
    s_collect_t all = { .count = 0 };
    cr_assert_eq (orc_store_result_each (store, "run-1", -1, NULL, s_collect_result, &all), 5);
    const char *expected [] = { "Q001@P02", "Q002@P02", "Q003@P02", "AGG-DIM01@P04", "MACRO@P07" };
    for (size_t index = 0; index < 5; index++)
        cr_assert_str_eq (all.ids [index], expected [index], "position %zu", index);
    int decoded = 0;
    cr_assert_eq (orc_store_result_each (store, "run-1", -1, NULL, s_check_packed, &decoded), 5);
    cr_assert_eq (decoded, 5);

    //  One phase, one contract, a contract of another phase, early stop.
    s_collect_t phase = { .count = 0 };
    cr_assert_eq (orc_store_result_each (store, "run-1", 2, NULL, s_collect_result, &phase), 3);
    cr_assert_str_eq (phase.ids [2], "Q003@P02");
    s_collect_t one = { .count = 0 };
    cr_assert_eq (orc_store_result_each (store, "run-1", -1, "AGG-DIM01", s_collect_result, &one),
                  1);
    cr_assert_str_eq (one.ids [0], "AGG-DIM01@P04");
    s_collect_t wrong = { .count = 0 };
    cr_assert_eq (orc_store_result_each (store, "run-1", 2, "AGG-DIM01", s_collect_result, &wrong),
                  0);
    s_collect_t right = { .count = 0 };
    cr_assert_eq (orc_store_result_each (store, "run-1", 4, "AGG-DIM01", s_collect_result, &right),
                  1);
    s_collect_t stop = { .stop_after = 2 };
    cr_assert_eq (orc_store_result_each (store, "run-1", -1, NULL, s_collect_result, &stop), 2);
    s_collect_t other = { .count = 0 };
    cr_assert_eq (orc_store_result_each (store, "unknown", -1, NULL, s_collect_result, &other), 0);

    //  Counts by status.
    orc_store_counts_t counts;
    cr_assert_eq (orc_store_result_counts (store, "run-1", 2, &counts), 0);
    cr_assert_eq (counts.total, 3);
    cr_assert_eq (counts.ok, 1);
    cr_assert_eq (counts.failed, 1);
    cr_assert_eq (counts.timed_out, 1);
    cr_assert_eq (counts.skipped, 0);
    cr_assert_eq (orc_store_result_counts (store, "run-1", -1, &counts), 0);
    cr_assert_eq (counts.total, 5);
    cr_assert_eq (counts.ok, 2);
    cr_assert_eq (counts.skipped, 1);
    cr_assert_eq (orc_store_result_counts (store, "run-1", 9, &counts), 0);
    cr_assert_eq (counts.total, 0);
    cr_assert_eq (orc_store_result_counts (store, "run-2", -1, &counts), 0);
    cr_assert_eq (counts.total, 1);

    //  Existence and the set of committed ids with their statuses.
    cr_assert_eq (orc_store_result_exists (store, "run-1", "Q002"), 1);
    cr_assert_eq (orc_store_result_exists (store, "run-2", "Q002"), 0);
    zhashx_t *ids = orc_store_result_ids (store, "run-1", -1);
    cr_assert_not_null (ids);
    cr_assert_eq (zhashx_size (ids), 5);
    cr_assert_eq ((Farfan__ResultStatus) (uintptr_t) zhashx_lookup (ids, "Q002"),
                  FARFAN__RESULT_STATUS__RESULT_TIMEOUT);
    cr_assert_eq ((Farfan__ResultStatus) (uintptr_t) zhashx_lookup (ids, "MACRO"),
                  FARFAN__RESULT_STATUS__RESULT_SKIPPED);
    cr_assert_null (zhashx_lookup (ids, "Q004"));
    zhashx_destroy (&ids);
    ids = orc_store_result_ids (store, "run-1", 4);
    cr_assert_not_null (ids);
    cr_assert_eq (zhashx_size (ids), 1);
    cr_assert_not_null (zhashx_lookup (ids, "AGG-DIM01"));
    zhashx_destroy (&ids);

    //  An empty packed result is a valid (all defaults) ContractResult.
    cr_assert_eq (orc_store_result_put (store, "run-2", "EMPTY", 0,
                                        FARFAN__RESULT_STATUS__RESULT_OK, 3, NULL, NULL, 0), 0);
    s_one_t empty = { .size = 99 };
    cr_assert_eq (orc_store_result_each (store, "run-2", 0, NULL, s_read_one, &empty), 1);
    cr_assert_eq (empty.size, 0);
    cr_assert_eq (empty.attempts, 3);
    cr_assert_str_eq (empty.factory, "");

    //  Refusals.
    cr_assert_eq (s_put (store, "unknown", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), -1);
    s_assert_error (store, "put result Q001 of run unknown: no such run");
    cr_assert_eq (s_put (store, "run-1", "Q009", 10, FARFAN__RESULT_STATUS__RESULT_OK), -1);
    s_assert_error (store, "put result Q009 of run run-1: phase 10 is not a phase (0..9)");
    cr_assert_eq (s_put (store, "run-1", "Q009", 2, (Farfan__ResultStatus) 0), -1);
    s_assert_error (store, "put result Q009 of run run-1: 0 is not a result status");
    cr_assert_eq (s_put (store, "run-1", "Q009", 2, (Farfan__ResultStatus) 5), -1);
    s_assert_error (store, "5 is not a result status");
    cr_assert_eq (s_put (store, "run-1", "", 2, FARFAN__RESULT_STATUS__RESULT_OK), -1);
    s_assert_error (store, "put result of run run-1: no contract id");
    cr_assert_eq (s_put (store, NULL, "Q009", 2, FARFAN__RESULT_STATUS__RESULT_OK), -1);
    s_assert_error (store, "put result: no run id");
    cr_assert_eq (orc_store_result_put (store, "run-1", "Q009", 2,
                                        FARFAN__RESULT_STATUS__RESULT_OK, 1, "f", NULL, 9), -1);
    s_assert_error (store, "9 bytes without data");
    cr_assert_eq (orc_store_result_exists (store, "run-1", NULL), -1);
    cr_assert_eq (orc_store_result_counts (store, "run-1", 10, &counts), -1);
    s_assert_error (store, "phase 10 is not a phase");
    cr_assert_eq (orc_store_result_counts (store, "", 1, &counts), -1);
    cr_assert_eq (orc_store_result_each (store, "run-1", -2, NULL, s_collect_result, &other), -1);
    cr_assert_null (orc_store_result_ids (store, "run-1", 11));
    s_assert_error (store, "list result ids of run run-1: phase 11 is not a phase");
    cr_assert_null (orc_store_result_ids (store, NULL, 1));
    cr_assert_eq (s_count (store, "run-1"), 5);
    orc_store_close (&store);
}

FF_TEST (store, a_result_is_stored_exactly_once)
{
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    uint8_t first [512];
    size_t first_size = s_pack_result ("Q001", FARFAN__RESULT_STATUS__RESULT_OK, first,
                                       sizeof first);
    cr_assert_eq (orc_store_result_put (store, "run-1", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK,
                                        1, "factory-a", first, first_size), 0);
    //  The same contract again (a duplicate from a re-dispatch): whatever
    //  it carries, the first stays.
    uint8_t second [512];
    size_t second_size = s_pack_result ("Q001", FARFAN__RESULT_STATUS__RESULT_FAILED, second,
                                        sizeof second);
    cr_assert_eq (orc_store_result_put (store, "run-1", "Q001", 3,
                                        FARFAN__RESULT_STATUS__RESULT_FAILED, 2, "factory-b",
                                        second, second_size), 1);
    cr_assert_eq (orc_store_result_put (store, "run-1", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK,
                                        1, "factory-a", first, first_size), 1);
    //  Inside a transaction too.
    cr_assert_eq (orc_store_begin (store), 0);
    cr_assert_eq (orc_store_result_put (store, "run-1", "Q001", 2,
                                        FARFAN__RESULT_STATUS__RESULT_FAILED, 2, "factory-b",
                                        second, second_size), 1);
    cr_assert_eq (orc_store_commit (store), 0);

    s_one_t one = { .phase = 99 };
    cr_assert_eq (orc_store_result_each (store, "run-1", -1, "Q001", s_read_one, &one), 1);
    cr_assert_eq (one.phase, 2);
    cr_assert_eq (one.status, FARFAN__RESULT_STATUS__RESULT_OK);
    cr_assert_eq (one.attempts, 1);
    cr_assert_str_eq (one.factory, "factory-a");
    cr_assert_eq (one.size, first_size);
    cr_assert_eq (memcmp (one.packed, first, first_size), 0);
    cr_assert_eq (s_count (store, "run-1"), 1);

    //  The same contract id in another run is another result.
    s_insert_run (store, "run-2");
    cr_assert_eq (orc_store_result_put (store, "run-2", "Q001", 2,
                                        FARFAN__RESULT_STATUS__RESULT_FAILED, 2, "factory-b",
                                        second, second_size), 0);
    orc_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Transactions

//  A callback that tries what callbacks may not do, and what they may.
static int
s_misbehave (const orc_store_run_t *run, void *arg)
{
    orc_store_t *store = (orc_store_t *) arg;
    cr_assert_eq (orc_store_begin (store), -1);
    s_assert_error (store, "begin: called from an iteration callback");
    cr_assert_eq (orc_store_commit (store), -1);
    s_assert_error (store, "commit: called from an iteration callback");
    cr_assert_eq (orc_store_rollback (store), -1);
    s_assert_error (store, "rollback: called from an iteration callback");
    s_collect_t nested = { .count = 0 };
    cr_assert_eq (orc_store_run_list (store, 0, s_collect_run, &nested), -1);
    s_assert_error (store, "list runs: called from its own iteration callback");
    //  Another query, and a write, are fine.
    cr_assert_eq (orc_store_result_exists (store, run->id, "Q001"), 0);
    cr_assert_eq (s_put (store, run->id, "CB", 1, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    return 0;
}

FF_TEST (store, transactions_commit_or_drop_a_group)
{
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    cr_assert (!orc_store_in_transaction (store));

    //  Rolled back: none of the group is there.
    cr_assert_eq (orc_store_begin (store), 0);
    cr_assert (orc_store_in_transaction (store));
    cr_assert_eq (orc_store_begin (store), -1);
    s_assert_error (store, "begin: a transaction is open already");
    cr_assert_eq (orc_store_set_synchronous_full (store, true), -1);
    s_assert_error (store, "set synchronous: a transaction is open");
    for (int index = 0; index < 3; index++) {
        char id [16];
        snprintf (id, sizeof id, "R%d", index);
        cr_assert_eq (s_put (store, "run-1", id, 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    }
    orc_store_phase_t phase = { .phase = 2, .state = FARFAN__PHASE_STATE__PHASE_RUNNING,
                                .done = 3 };
    cr_assert_eq (orc_store_phase_put (store, "run-1", &phase), 0);
    //  Inside the transaction, its writes are visible.
    cr_assert_eq (s_count (store, "run-1"), 3);
    cr_assert_eq (orc_store_rollback (store), 0);
    cr_assert (!orc_store_in_transaction (store));
    cr_assert_eq (s_count (store, "run-1"), 0);
    orc_store_phase_t phases [ORC_STORE_PHASES];
    cr_assert_eq (orc_store_phase_list (store, "run-1", phases), 0);

    //  Committed: all of it, also after reopen.
    cr_assert_eq (orc_store_begin (store), 0);
    for (int index = 0; index < 3; index++) {
        char id [16];
        snprintf (id, sizeof id, "C%d", index);
        cr_assert_eq (s_put (store, "run-1", id, 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    }
    cr_assert_eq (orc_store_phase_put (store, "run-1", &phase), 0);
    cr_assert_eq (orc_store_commit (store), 0, "%s", orc_store_error (store));
    cr_assert (!orc_store_in_transaction (store));
    //  No transaction: commit and rollback say so.
    cr_assert_eq (orc_store_commit (store), -1);
    s_assert_error (store, "commit: no transaction is open");
    cr_assert_eq (orc_store_rollback (store), -1);
    s_assert_error (store, "rollback: no transaction is open");

    //  Callbacks cannot end a transaction or re-enter their iteration.
    cr_assert_eq (orc_store_begin (store), 0);
    cr_assert_eq (orc_store_run_list (store, 0, s_misbehave, store), 1);
    cr_assert (orc_store_in_transaction (store));
    cr_assert_eq (orc_store_commit (store), 0);

    //  synchronous=FULL and back, outside a transaction.
    cr_assert_eq (orc_store_set_synchronous_full (store, true), 0);
    cr_assert_eq (s_put (store, "run-1", "FULL", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    cr_assert_eq (orc_store_set_synchronous_full (store, false), 0);

    //  A transaction left open at close is rolled back.
    cr_assert_eq (orc_store_begin (store), 0);
    cr_assert_eq (s_put (store, "run-1", "LOST", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    orc_store_close (&store);

    store = s_open (&s_place);
    cr_assert_eq (s_count (store, "run-1"), 5);
    cr_assert_eq (orc_store_result_exists (store, "run-1", "C2"), 1);
    cr_assert_eq (orc_store_result_exists (store, "run-1", "CB"), 1);
    cr_assert_eq (orc_store_result_exists (store, "run-1", "R0"), 0);
    cr_assert_eq (orc_store_result_exists (store, "run-1", "LOST"), 0);
    cr_assert_eq (orc_store_phase_list (store, "run-1", phases), 1);
    cr_assert_eq (phases [0].done, 3);
    orc_store_close (&store);
}

FF_TEST (store, a_rolled_back_run_leaves_no_trace)
{
    orc_store_t *store = s_open (&s_place);
    //  A run inserted and used in a transaction that is rolled back...
    cr_assert_eq (orc_store_begin (store), 0);
    s_insert_run (store, "ghost");
    cr_assert_eq (s_put (store, "ghost", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    orc_store_phase_t phase = { .phase = 2, .state = FARFAN__PHASE_STATE__PHASE_RUNNING };
    cr_assert_eq (orc_store_phase_put (store, "ghost", &phase), 0);
    cr_assert_eq (orc_store_rollback (store), 0);
    //  ... is gone, and its results cannot land on the next run inserted
    //  (which may get the same internal key).
    s_insert_run (store, "real");
    cr_assert_eq (s_put (store, "ghost", "Q002", 2, FARFAN__RESULT_STATUS__RESULT_OK), -1);
    s_assert_error (store, "put result Q002 of run ghost: no such run");
    cr_assert_eq (orc_store_phase_put (store, "ghost", &phase), -1);
    s_assert_error (store, "put phase P02 of run ghost: no such run");
    orc_store_run_t *run = NULL;
    cr_assert_eq (orc_store_run_get (store, "ghost", &run), 0);
    cr_assert_eq (s_count (store, "real"), 0);
    orc_store_phase_t phases [ORC_STORE_PHASES];
    cr_assert_eq (orc_store_phase_list (store, "real", phases), 0);

    //  The same for a transaction left open at close.
    cr_assert_eq (orc_store_begin (store), 0);
    s_insert_run (store, "ghost-2");
    cr_assert_eq (s_put (store, "ghost-2", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    orc_store_close (&store);
    store = s_open (&s_place);
    cr_assert_eq (s_put (store, "ghost-2", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), -1);
    s_assert_error (store, "no such run");
    cr_assert_eq (s_put (store, "real", "Q001", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    cr_assert_eq (s_count (store, "real"), 1);
    orc_store_close (&store);
}

//  --------------------------------------------------------------------------
//  A full database

//  Puts groups of 100 results (contract ids G<group>-<n>) until a write
//  fails; returns the groups committed. *failed_in_put says where the
//  failure came.
static int
s_fill (orc_store_t *store, int first_group, bool *failed_in_put)
{
    for (int group = first_group; group < first_group + 100000; group++) {
        cr_assert_eq (orc_store_begin (store), 0, "%s", orc_store_error (store));
        for (int index = 0; index < 100; index++) {
            char id [32];
            snprintf (id, sizeof id, "G%05d-%03d", group, index);
            if (s_put (store, "run-1", id, 2, FARFAN__RESULT_STATUS__RESULT_OK) != 0) {
                *failed_in_put = true;
                return group - first_group;
            }
        }
        if (orc_store_commit (store) != 0) {
            *failed_in_put = false;
            return group - first_group;
        }
    }
    cr_assert_fail ("the database never filled up");
    return -1;
}

//  Commits count groups of 100 results, each in one transaction.
static void
s_put_groups (orc_store_t *store, int first_group, int count)
{
    for (int group = first_group; group < first_group + count; group++) {
        cr_assert_eq (orc_store_begin (store), 0, "%s", orc_store_error (store));
        for (int index = 0; index < 100; index++) {
            char id [32];
            snprintf (id, sizeof id, "G%05d-%03d", group, index);
            cr_assert_eq (s_put (store, "run-1", id, 2, FARFAN__RESULT_STATUS__RESULT_OK), 0,
                          "%s", orc_store_error (store));
        }
        cr_assert_eq (orc_store_commit (store), 0, "%s", orc_store_error (store));
    }
}

FF_TEST (store, a_full_database_keeps_what_was_committed)
{
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    uint8_t document [8192];
    memset (document, 'x', sizeof document);
    cr_assert_eq (orc_store_document_put (store, "doc", document, sizeof document), 0);
    //  256 KB: a few hundred results.
    cr_assert_eq (orc_store_set_max_size (store, 256 * 1024), 0, "%s", orc_store_error (store));

    bool failed_in_put = false;
    int groups = s_fill (store, 0, &failed_in_put);
    cr_assert_gt (groups, 0, "not even one group fitted");
    s_assert_error (store, "database or disk is full");
    s_assert_error (store, failed_in_put ? "put result G" : "commit");
    if (orc_store_in_transaction (store))
        cr_assert_eq (orc_store_rollback (store), 0, "%s", orc_store_error (store));

    //  Everything committed is there and intact; the failed group is not.
    cr_assert_eq (s_count (store, "run-1"), (uint32_t) groups * 100);
    int decoded = 0;
    cr_assert_eq (orc_store_result_each (store, "run-1", -1, NULL, s_check_packed, &decoded),
                  groups * 100);
    cr_assert_eq (orc_store_check (store), 0, "%s", orc_store_error (store));
    uint8_t *copy = NULL;
    size_t copy_size = 0;
    cr_assert_eq (orc_store_document_get (store, "doc", &copy, &copy_size), 1);
    cr_assert_eq (copy_size, sizeof document);
    cr_assert_eq (memcmp (copy, document, sizeof document), 0);
    free (copy);

    //  Single autocommitted writes fail the same way once full...
    int documents = 0;
    char digest [32];
    for (;;) {
        cr_assert_lt (documents, 100, "the database never filled up");
        snprintf (digest, sizeof digest, "doc-%d", documents);
        document [0] = (uint8_t) documents;
        if (orc_store_document_put (store, digest, document, sizeof document) != 0)
            break;
        documents++;
    }
    char expected [96];
    snprintf (expected, sizeof expected, "put document %s: database or disk is full", digest);
    s_assert_error (store, expected);
    cr_assert (!orc_store_in_transaction (store));
    cr_assert_eq (orc_store_document_get (store, digest, &copy, &copy_size), 0);

    //  ... and writes work again once there is room.
    cr_assert_eq (orc_store_set_max_size (store, 0), 0);
    s_put_groups (store, groups, 3);
    cr_assert_eq (orc_store_document_put (store, digest, document, sizeof document), 0);
    orc_store_close (&store);

    store = s_open (&s_place);
    cr_assert_eq (s_count (store, "run-1"), (uint32_t) (groups + 3) * 100);
    cr_assert_eq (orc_store_check (store), 0, "%s", orc_store_error (store));
    orc_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Killed while committing

#define S_CRASH_GROUP 10            // results per transaction in the child
#define S_CRASH_GROUPS_MAX 1000000  // the child's bound (it is killed long before)

//  Counts results whose bytes decode as a ContractResult of their id.
static int
s_count_decodable (const orc_store_result_t *result, void *arg)
{
    Farfan__ContractResult *unpacked = farfan__contract_result__unpack (NULL, result->size,
                                                                        result->packed);
    if (unpacked && strcmp (unpacked->contract_id, result->contract_id) == 0)
        (*(int *) arg)++;
    if (unpacked)
        farfan__contract_result__free_unpacked (unpacked, NULL);
    return 0;
}

//  The child: opens the store and commits groups of S_CRASH_GROUP results
//  (contract ids K<group>-<n>), from first_group on, reporting each group
//  number on report_fd once its commit returned 0. Never returns; exits
//  with a code > 0 on any failure (no Criterion calls in here).
static void
s_crash_child (const char *path, uint32_t first_group, int report_fd)
{
    char err [256];
    orc_store_t *store = orc_store_open (path, err, sizeof err);
    if (!store)
        _exit (2);
    for (uint32_t group = first_group; group < first_group + S_CRASH_GROUPS_MAX; group++) {
        if (orc_store_begin (store) != 0)
            _exit (3);
        for (int index = 0; index < S_CRASH_GROUP; index++) {
            char id [32];
            snprintf (id, sizeof id, "K%07u-%02d", group, index);
            Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
            result.contract_id = id;
            result.status = FARFAN__RESULT_STATUS__RESULT_OK;
            result.output_json = "{\"padding\":\"................................................"
                                 "....................................................\"}";
            uint8_t packed [256];
            size_t size = farfan__contract_result__pack (&result, packed);
            if (orc_store_result_put (store, "crash", id, 2, FARFAN__RESULT_STATUS__RESULT_OK, 1,
                                      "factory-1", packed, size) != 0)
                _exit (4);
        }
        if (orc_store_commit (store) != 0)
            _exit (5);
        if (write (report_fd, &group, sizeof group) != (ssize_t) sizeof group)
            _exit (6);
    }
    _exit (7);
}

//  Reads one report (a group number) within the test timeout. Returns 1,
//  or 0 at end of file.
static int
s_read_report (int fd, uint32_t *group)
{
    struct pollfd poller = { .fd = fd, .events = POLLIN };
    int ready = poll (&poller, 1, FF_TEST_TIMEOUT_MS);
    cr_assert_eq (ready, 1, "no report from the child within %d ms", FF_TEST_TIMEOUT_MS);
    ssize_t got = read (fd, group, sizeof *group);
    cr_assert (got == 0 || got == (ssize_t) sizeof *group, "short report: %zd", got);
    return got == (ssize_t) sizeof *group;
}

//  One round: a child commits from first_group and is SIGKILLed after
//  kill_after reports. Returns the highest group it reported committed.
static uint32_t
s_crash_round (const s_place_t *place, uint32_t first_group, uint32_t kill_after)
{
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    pid_t pid = fork ();
    cr_assert_neq (pid, -1);
    if (pid == 0) {
        close (fds [0]);
        s_crash_child (place->path, first_group, fds [1]);
    }
    close (fds [1]);
    uint32_t reports = 0;
    uint32_t last = 0;
    uint32_t group;
    while (reports < kill_after) {
        cr_assert (s_read_report (fds [0], &group), "the child ended before being killed");
        cr_assert_eq (group, first_group + reports, "reports out of order");
        last = group;
        reports++;
    }
    //  Killed wherever it is now: inside a transaction, a commit, a
    //  checkpoint.
    cr_assert_eq (kill (pid, SIGKILL), 0);
    int status = 0;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    cr_assert (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL,
               "the child exited by itself (status %d)", status);
    //  Groups it reported between the last read and the kill.
    while (s_read_report (fds [0], &group)) {
        cr_assert_eq (group, last + 1);
        last = group;
    }
    close (fds [0]);
    return last;
}

FF_TEST (store, a_process_killed_while_committing_loses_nothing_committed)
{
    orc_store_t *store = s_open (&s_place);
    orc_store_run_t run = s_run ("crash", FARFAN__RUN_STATE__RUN_RUNNING, 1);
    cr_assert_eq (orc_store_run_insert (store, &run), 0);
    //  Closed before forking: a child must not inherit an open store.
    orc_store_close (&store);

    uint32_t next_group = 0;
    uint32_t kill_after [] = { 40, 150, 300 };
    for (size_t round = 0; round < sizeof kill_after / sizeof kill_after [0]; round++) {
        uint32_t last = s_crash_round (&s_place, next_group, kill_after [round]);

        store = s_open (&s_place);
        cr_assert_eq (orc_store_check (store), 0, "round %zu: %s", round,
                      orc_store_error (store));
        //  Every group reported committed is there, whole; a group the
        //  kill interrupted is there whole or not at all.
        zhashx_t *ids = orc_store_result_ids (store, "crash", 2);
        cr_assert_not_null (ids, "%s", orc_store_error (store));
        for (uint32_t group = 0; group <= last; group++)
            for (int index = 0; index < S_CRASH_GROUP; index++) {
                char id [32];
                snprintf (id, sizeof id, "K%07u-%02d", group, index);
                cr_assert_not_null (zhashx_lookup (ids, id), "round %zu: %s committed, lost",
                                    round, id);
            }
        size_t total = zhashx_size (ids);
        zhashx_destroy (&ids);
        cr_assert_eq (total % S_CRASH_GROUP, 0, "round %zu: a group was committed in part",
                      round);
        cr_assert_geq (total, (size_t) (last + 1) * S_CRASH_GROUP);
        //  At most the group in flight beyond the last report.
        cr_assert_leq (total, (size_t) (last + 2) * S_CRASH_GROUP);
        int decoded = 0;
        cr_assert_eq (orc_store_result_each (store, "crash", 2, NULL, s_count_decodable,
                                             &decoded), (int) total);
        cr_assert_eq (decoded, (int) total);
        orc_store_close (&store);
        next_group = (uint32_t) (total / S_CRASH_GROUP);
    }
}

//  --------------------------------------------------------------------------
//  Damage is reported

FF_TEST (store, check_reports_a_damaged_file)
{
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    s_put_groups (store, 0, 20);
    orc_store_close (&store);

    //  Overwrite the end of the last page (results data) with garbage.
    struct stat info;
    cr_assert_eq (stat (s_place.path, &info), 0);
    cr_assert_gt (info.st_size, 8 * 4096);
    int fd = open (s_place.path, O_WRONLY);
    cr_assert_geq (fd, 0);
    uint8_t garbage [4096];
    memset (garbage, 0x55, sizeof garbage);
    cr_assert_eq (pwrite (fd, garbage, sizeof garbage, info.st_size - 4096),
                  (ssize_t) sizeof garbage);
    close (fd);

    store = s_open (&s_place);
    cr_assert_eq (orc_store_check (store), -1);
    s_assert_error (store, "check store: ");
    cr_assert_gt (strlen (orc_store_error (store)), strlen ("check store: ") + 10,
                  "says what is wrong: %s", orc_store_error (store));
    cr_assert_null (strchr (orc_store_error (store), '\n'), "one line");
    orc_store_close (&store);
}

//  --------------------------------------------------------------------------
//  A disk that fills up under the store: a VFS wrapping SQLite's own,
//  registered as the default for this test's process (Criterion runs each
//  test in a process of its own), whose writes fail with SQLITE_FULL (what
//  the unix VFS returns on ENOSPC) while s_disk_full is set.

static sqlite3_vfs *s_real_vfs;
static bool s_disk_full;
static int s_failed_writes;

typedef struct {
    sqlite3_file base;          // methods: s_shim_io
    sqlite3_file *real;         // the real file, right after this struct
} s_shim_file_t;

static sqlite3_file *
s_real (sqlite3_file *file)
{
    return ((s_shim_file_t *) file)->real;
}

static int
s_shim_close (sqlite3_file *file)
{
    return s_real (file)->pMethods->xClose (s_real (file));
}

static int
s_shim_read (sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset)
{
    return s_real (file)->pMethods->xRead (s_real (file), buffer, amount, offset);
}

static int
s_shim_write (sqlite3_file *file, const void *buffer, int amount, sqlite3_int64 offset)
{
    if (s_disk_full) {
        s_failed_writes++;
        return SQLITE_FULL;
    }
    return s_real (file)->pMethods->xWrite (s_real (file), buffer, amount, offset);
}

static int
s_shim_truncate (sqlite3_file *file, sqlite3_int64 size)
{
    return s_real (file)->pMethods->xTruncate (s_real (file), size);
}

static int
s_shim_sync (sqlite3_file *file, int flags)
{
    return s_real (file)->pMethods->xSync (s_real (file), flags);
}

static int
s_shim_file_size (sqlite3_file *file, sqlite3_int64 *size)
{
    return s_real (file)->pMethods->xFileSize (s_real (file), size);
}

static int
s_shim_lock (sqlite3_file *file, int lock)
{
    return s_real (file)->pMethods->xLock (s_real (file), lock);
}

static int
s_shim_unlock (sqlite3_file *file, int lock)
{
    return s_real (file)->pMethods->xUnlock (s_real (file), lock);
}

static int
s_shim_check_reserved (sqlite3_file *file, int *result)
{
    return s_real (file)->pMethods->xCheckReservedLock (s_real (file), result);
}

static int
s_shim_file_control (sqlite3_file *file, int op, void *arg)
{
    return s_real (file)->pMethods->xFileControl (s_real (file), op, arg);
}

static int
s_shim_sector_size (sqlite3_file *file)
{
    return s_real (file)->pMethods->xSectorSize (s_real (file));
}

static int
s_shim_device (sqlite3_file *file)
{
    return s_real (file)->pMethods->xDeviceCharacteristics (s_real (file));
}

static int
s_shim_shm_map (sqlite3_file *file, int page, int size, int extend, void volatile **memory)
{
    return s_real (file)->pMethods->xShmMap (s_real (file), page, size, extend, memory);
}

static int
s_shim_shm_lock (sqlite3_file *file, int offset, int n, int flags)
{
    return s_real (file)->pMethods->xShmLock (s_real (file), offset, n, flags);
}

static void
s_shim_shm_barrier (sqlite3_file *file)
{
    s_real (file)->pMethods->xShmBarrier (s_real (file));
}

static int
s_shim_shm_unmap (sqlite3_file *file, int delete_flag)
{
    return s_real (file)->pMethods->xShmUnmap (s_real (file), delete_flag);
}

//  No memory mapping through the shim: every page goes through xRead.
static int
s_shim_fetch (sqlite3_file *file, sqlite3_int64 offset, int amount, void **pointer)
{
    *pointer = NULL;
    return SQLITE_OK;
}

static int
s_shim_unfetch (sqlite3_file *file, sqlite3_int64 offset, void *pointer)
{
    return SQLITE_OK;
}

static const sqlite3_io_methods s_shim_io = {
    3, s_shim_close, s_shim_read, s_shim_write, s_shim_truncate, s_shim_sync,
    s_shim_file_size, s_shim_lock, s_shim_unlock, s_shim_check_reserved,
    s_shim_file_control, s_shim_sector_size, s_shim_device, s_shim_shm_map,
    s_shim_shm_lock, s_shim_shm_barrier, s_shim_shm_unmap, s_shim_fetch, s_shim_unfetch,
};

static int
s_shim_open (sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
             int *out_flags)
{
    s_shim_file_t *shim = (s_shim_file_t *) file;
    shim->real = (sqlite3_file *) (shim + 1);
    shim->base.pMethods = NULL;
    int rc = s_real_vfs->xOpen (s_real_vfs, name, shim->real, flags, out_flags);
    if (rc == SQLITE_OK)
        shim->base.pMethods = &s_shim_io;
    return rc;
}

static int
s_shim_delete (sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return s_real_vfs->xDelete (s_real_vfs, name, sync_dir);
}

static int
s_shim_access (sqlite3_vfs *vfs, const char *name, int flags, int *result)
{
    return s_real_vfs->xAccess (s_real_vfs, name, flags, result);
}

static int
s_shim_full_pathname (sqlite3_vfs *vfs, const char *name, int size, char *out)
{
    return s_real_vfs->xFullPathname (s_real_vfs, name, size, out);
}

static int
s_shim_randomness (sqlite3_vfs *vfs, int size, char *out)
{
    return s_real_vfs->xRandomness (s_real_vfs, size, out);
}

static int
s_shim_sleep (sqlite3_vfs *vfs, int microseconds)
{
    return s_real_vfs->xSleep (s_real_vfs, microseconds);
}

static int
s_shim_current_time (sqlite3_vfs *vfs, double *now)
{
    return s_real_vfs->xCurrentTime (s_real_vfs, now);
}

static int
s_shim_last_error (sqlite3_vfs *vfs, int size, char *out)
{
    return s_real_vfs->xGetLastError (s_real_vfs, size, out);
}

static int
s_shim_current_time_int64 (sqlite3_vfs *vfs, sqlite3_int64 *now)
{
    return s_real_vfs->xCurrentTimeInt64 (s_real_vfs, now);
}

static sqlite3_vfs s_shim_vfs = {
    .iVersion = 2,
    .mxPathname = 512,
    .zName = "farfan-test-full-disk",
    .xOpen = s_shim_open,
    .xDelete = s_shim_delete,
    .xAccess = s_shim_access,
    .xFullPathname = s_shim_full_pathname,
    .xRandomness = s_shim_randomness,
    .xSleep = s_shim_sleep,
    .xCurrentTime = s_shim_current_time,
    .xGetLastError = s_shim_last_error,
    .xCurrentTimeInt64 = s_shim_current_time_int64,
};

static void
s_shim_install (void)
{
    s_real_vfs = sqlite3_vfs_find (NULL);
    cr_assert_not_null (s_real_vfs);
    s_shim_vfs.szOsFile = (int) sizeof (s_shim_file_t) + s_real_vfs->szOsFile;
    s_shim_vfs.mxPathname = s_real_vfs->mxPathname;
    cr_assert_eq (sqlite3_vfs_register (&s_shim_vfs, 1), SQLITE_OK);
    s_disk_full = false;
    s_failed_writes = 0;
}

static void
s_shim_remove (void)
{
    cr_assert_eq (sqlite3_vfs_unregister (&s_shim_vfs), SQLITE_OK);
}

//  Puts results of 64 KB each (contract ids B<n>) until a put fails (or n
//  reaches limit); returns how many succeeded.
static int
s_put_big (orc_store_t *store, int limit)
{
    static uint8_t blob [64 * 1024];
    memset (blob, 0x2a, sizeof blob);
    for (int index = 0; index < limit; index++) {
        char id [16];
        snprintf (id, sizeof id, "B%04d", index);
        if (orc_store_result_put (store, "run-1", id, 2, FARFAN__RESULT_STATUS__RESULT_OK, 1,
                                  "f", blob, sizeof blob) != 0)
            return index;
    }
    return limit;
}

FF_TEST (store, a_disk_filling_up_fails_the_commit_and_keeps_the_rest)
{
    s_shim_install ();
    orc_store_t *store = s_open (&s_place);
    s_insert_run (store, "run-1");
    s_put_groups (store, 0, 2);

    //  The disk is full when the group commits: the commit fails, nothing
    //  of the group is there, no transaction is left open.
    cr_assert_eq (orc_store_begin (store), 0);
    for (int index = 0; index < 10; index++) {
        char id [16];
        snprintf (id, sizeof id, "F%02d", index);
        cr_assert_eq (s_put (store, "run-1", id, 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    }
    s_disk_full = true;
    cr_assert_eq (orc_store_commit (store), -1);
    cr_assert_gt (s_failed_writes, 0);
    s_assert_error (store, "commit: database or disk is full");
    cr_assert (!orc_store_in_transaction (store));
    s_disk_full = false;
    cr_assert_eq (orc_store_result_exists (store, "run-1", "F00"), 0);
    cr_assert_eq (s_count (store, "run-1"), 200);
    cr_assert_eq (orc_store_check (store), 0, "%s", orc_store_error (store));

    //  Retried once there is room: committed.
    cr_assert_eq (orc_store_begin (store), 0);
    for (int index = 0; index < 10; index++) {
        char id [16];
        snprintf (id, sizeof id, "F%02d", index);
        cr_assert_eq (s_put (store, "run-1", id, 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    }
    cr_assert_eq (orc_store_commit (store), 0, "%s", orc_store_error (store));
    cr_assert_eq (s_count (store, "run-1"), 210);

    //  A group too big for SQLite's page cache spills to the file before
    //  the commit: the disk filling up then fails a put.
    cr_assert_eq (orc_store_begin (store), 0);
    s_disk_full = true;
    int big = s_put_big (store, 200);
    cr_assert_lt (big, 200, "no write reached the disk");
    char expected [64];
    snprintf (expected, sizeof expected, "put result B%04d of run run-1: database or disk is full",
              big);
    s_assert_error (store, expected);
    s_disk_full = false;
    //  SQLite rolled the whole transaction back: the rest of the group is
    //  refused rather than autocommitted on its own, and commit says so.
    cr_assert (orc_store_in_transaction (store));
    cr_assert_eq (s_put (store, "run-1", "AFTER", 2, FARFAN__RESULT_STATUS__RESULT_OK), -1);
    s_assert_error (store, "put result: the transaction was rolled back by an earlier error");
    cr_assert_eq (orc_store_phase_put (store, "run-1", &(orc_store_phase_t) {
                      .phase = 2, .state = FARFAN__PHASE_STATE__PHASE_RUNNING }), -1);
    s_assert_error (store, "put phase: the transaction was rolled back by an earlier error");
    cr_assert_eq (orc_store_commit (store), -1);
    s_assert_error (store, "commit: the transaction was rolled back by an earlier error");
    cr_assert (!orc_store_in_transaction (store));
    cr_assert_eq (orc_store_result_exists (store, "run-1", "B0000"), 0);
    cr_assert_eq (orc_store_result_exists (store, "run-1", "AFTER"), 0);

    //  The same, ended with rollback; then writes work again.
    cr_assert_eq (orc_store_begin (store), 0);
    s_disk_full = true;
    cr_assert_lt (s_put_big (store, 200), 200);
    s_disk_full = false;
    cr_assert_eq (orc_store_run_set_state (store, "run-1", FARFAN__RUN_STATE__RUN_FAILED, "x", 1),
                  -1);
    s_assert_error (store, "set run state: the transaction was rolled back");
    cr_assert_eq (orc_store_rollback (store), 0, "%s", orc_store_error (store));
    cr_assert (!orc_store_in_transaction (store));
    cr_assert_eq (s_put (store, "run-1", "AFTER", 2, FARFAN__RESULT_STATUS__RESULT_OK), 0);
    cr_assert_eq (s_count (store, "run-1"), 211);

    orc_store_close (&store);
    store = s_open (&s_place);
    cr_assert_eq (s_count (store, "run-1"), 211);
    cr_assert_eq (orc_store_check (store), 0, "%s", orc_store_error (store));
    orc_store_close (&store);
    s_shim_remove ();
}
