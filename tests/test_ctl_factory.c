/*  farfanctl factory: the real binary against a factory started in-process
    (contracts written by each test to a temporary directory), and against
    a scripted peer where a real factory cannot be made to misbehave on
    cue (NEED_DOCUMENT after PUT_DOCUMENT, replies that never come). Every
    subcommand, human and --json output, and every exit code. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "factory.pb-c.h"
#include "ff_msg.h"
#include "ff_test.h"
#include "ff_utf8.h"

//  ---------------------------------------------------------------------
//  Contracts and files

#define S_MICRO(id) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"micro\"," \
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true}," \
    "\"patterns\":[{\"id\":\"src\",\"regex\":\"\\\\b(DANE|Medicina Legal)\\\\b\"," \
    "\"flags\":[\"IGNORECASE\"],\"element_type\":\"fuentes\"}," \
    "{\"id\":\"year\",\"regex\":\"\\\\b20\\\\d{2}\\\\b\",\"element_type\":\"años\"}]," \
    "\"expected_elements\":[{\"type\":\"fuentes\",\"minimum\":2},{\"type\":\"años\",\"minimum\":2}]," \
    "\"methods\":[{\"method\":\"text.match_patterns\"},{\"method\":\"text.count_elements\"}," \
    "{\"method\":\"score.modality\"}],\"scoring\":{\"modality\":\"TYPE_A\"}}"

#define S_WAIT(id, phase, ms, timeout) \
    "{\"format\":\"farfan-contract/1\",\"id\":\"" id "\",\"version\":\"1\",\"type\":\"task\"," \
    "\"applicable_phases\":[\"" phase "\"],\"inputs\":{\"document\":false}," \
    "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":" #ms "}}],\"timeout_ms\":" #timeout "}"

//  A typo'd key and a misspelt phase: two load errors of one file.
#define S_INVALID \
    "{\"format\":\"farfan-contract/1\",\"id\":\"BROKEN\",\"version\":\"1\",\"type\":\"task\"," \
    "\"applicable_phases\":[\"P02\"],\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":1}}]," \
    "\"timout_ms\":100}"

static const char *s_text =
    "Diagnóstico: según el DANE (2019) y Medicina Legal (2020), la tasa de violencia "
    "aumentó en la zona rural. El dane confirma la tendencia de 2021.\n";

//  A new temporary directory; removed with s_dir_remove.
static char *
s_dir_new (void)
{
    char *dir = strdup ("/tmp/farfan-ctl-factory-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    return dir;
}

//  Writes dir/name; returns the path (caller frees).
static char *
s_write (const char *dir, const char *name, const void *data, size_t size)
{
    char *path = zsys_sprintf ("%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file, "%s", path);
    cr_assert_eq (fwrite (data, 1, size, file), size);
    fclose (file);
    return path;
}

static void
s_write_text (const char *dir, const char *name, const char *text)
{
    char *path = s_write (dir, name, text, strlen (text));
    zstr_free (&path);
}

//  Removes dir and everything in it (one level of subdirectories).
static void
s_dir_remove (char **dir_p)
{
    DIR *dir = opendir (*dir_p);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char *path = zsys_sprintf ("%s/%s", *dir_p, entry->d_name);
        struct stat info;
        if (stat (path, &info) == 0 && S_ISDIR (info.st_mode))
            s_dir_remove (&path);
        else {
            unlink (path);
            zstr_free (&path);
        }
    }
    if (dir)
        closedir (dir);
    rmdir (*dir_p);
    free (*dir_p);
    *dir_p = NULL;
}

//  ---------------------------------------------------------------------
//  A factory in-process, and farfanctl against it

typedef struct {
    ff_test_service_t *service;
    char *dir;                  // contracts_dir
    char *work;                 // documents, snapshots, files to ship
    const char *endpoint;       // direct API
} s_factory_t;

//  A factory loading contracts[] (NULL-terminated) plus settings a, b.
static s_factory_t
s_factory (const char *const *contracts, const char *a, const char *b)
{
    s_factory_t factory = { NULL, s_dir_new (), s_dir_new (), NULL };
    for (size_t i = 0; contracts && contracts [i]; i++) {
        char name [32];
        snprintf (name, sizeof name, "c%02zu.json", i);
        s_write_text (factory.dir, name, contracts [i]);
    }
    factory.service = ff_test_service_start ("factory", "--contracts-dir", factory.dir,
                                             "--max-workers", "2", a, b, NULL);
    factory.endpoint = ff_test_service_endpoint (factory.service, "direct");
    return factory;
}

static void
s_factory_stop (s_factory_t *factory)
{
    ff_test_service_stop (&factory->service);
    s_dir_remove (&factory->dir);
    s_dir_remove (&factory->work);
}

//  Runs farfanctl factory --endpoint endpoint ARGS... (NULL-terminated)
//  to completion. Returns the process (exit code via s_code).
static ff_test_process_t *
s_ctl (const char *endpoint, ...)
{
    char *argv [48];
    int argc = 0;
    argv [argc++] = "farfanctl";
    argv [argc++] = "factory";
    if (endpoint) {
        argv [argc++] = "--endpoint";
        argv [argc++] = (char *) endpoint;
    }
    va_list args;
    va_start (args, endpoint);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 47)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    char program [512];
    ff_test_process_t *process = ff_test_spawn (ff_test_build_path ("services/farfanctl", program,
                                                                    sizeof program), argv, NULL);
    cr_assert_neq (ff_test_process_wait_exit (process, 30000), -1, "farfanctl did not finish");
    return process;
}

static int
s_code (ff_test_process_t *process)
{
    return ff_test_process_wait_exit (process, 0);
}

#define S_OUT(process) ff_test_process_stdout (process)
#define S_ERR(process) ff_test_process_stderr (process)

//  Asserts the exit code, showing the output when it is not.
#define S_ASSERT_EXIT(process, expected) \
    cr_assert_eq (s_code (process), (expected), "exit %d, not %d\nstdout:\n%s\nstderr:\n%s", \
                  s_code (process), (expected), S_OUT (process), S_ERR (process))

//  Asserts text contains needle.
#define S_ASSERT_HAS(text, needle) \
    cr_assert (strstr ((text), (needle)), "no \"%s\" in:\n%s", (needle), (text))

//  The process's stdout as one JSON value (a single line).
static json_t *
s_json (ff_test_process_t *process)
{
    json_error_t error;
    json_t *json = json_loads (S_OUT (process), 0, &error);
    cr_assert_not_null (json, "stdout is not JSON (%s):\n%s", error.text, S_OUT (process));
    return json;
}

//  Every line of stdout as JSON, in an array.
static json_t *
s_json_lines (ff_test_process_t *process)
{
    json_t *lines = json_array ();
    const char *start = S_OUT (process);
    while (*start) {
        const char *end = strchr (start, '\n');
        cr_assert_not_null (end, "an unterminated line: %s", start);
        json_error_t error;
        json_t *line = json_loadb (start, (size_t) (end - start), 0, &error);
        cr_assert_not_null (line, "not a JSON line (%s): %.*s", error.text, (int) (end - start), start);
        json_array_append_new (lines, line);
        start = end + 1;
    }
    return lines;
}

static const char *
s_string (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    cr_assert (json_is_string (value), "\"%s\" is not a string", key);
    return json_string_value (value);
}

static json_int_t
s_integer (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    cr_assert (json_is_integer (value), "\"%s\" is not an integer", key);
    return json_integer_value (value);
}

//  An endpoint nothing listens on.
static char *
s_unused_endpoint (void)
{
    zsock_t *probe = zsock_new_router ("@tcp://127.0.0.1:*");
    char *endpoint = zsock_last_endpoint (probe);
    zsock_destroy (&probe);
    return endpoint;
}

//  ---------------------------------------------------------------------
//  A scripted factory: answers PUT_DOCUMENT, and EXECUTE as told

typedef enum {
    S_NEED_ONCE,                // NEED_DOCUMENT, then one RESULT + BATCH_DONE
    S_NEED_ALWAYS,              // NEED_DOCUMENT every time
    S_SILENT,                   // EXECUTE unanswered; CAPABILITIES says nothing in flight
} s_script_t;

static void
s_scripted_factory (zsock_t *pipe, void *args)
{
    s_script_t script = *(s_script_t *) args;
    zsock_t *router = zsock_new_router ("@tcp://127.0.0.1:*");
    assert (router);
    zsock_signal (pipe, 0);
    char *endpoint = zsock_last_endpoint (router);
    zstr_send (pipe, endpoint);
    zstr_free (&endpoint);
    unsigned puts = 0, executes = 0;
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    ff_msg_t *request = ff_msg_new ();
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            if (command && streq (command, "COUNTS"))
                zstr_sendf (pipe, "%u %u", puts, executes);
            zstr_free (&command);
            if (term)
                break;
            continue;
        }
        if (which != router || ff_msg_recv (request, router) != 0)
            break;
        ff_msg_header_t header = { .correlation_id = ff_msg_correlation_id (request),
                                   .sender_id = "scripted" };
        zframe_t *peer = ff_msg_routing_id (request);
        if (ff_msg_type (request) == FARFAN__MESSAGE_TYPE__PUT_DOCUMENT) {
            puts++;
            Farfan__DocumentStored stored = FARFAN__DOCUMENT_STORED__INIT;
            stored.digest = "sha256:scripted";
            header.type = FARFAN__MESSAGE_TYPE__DOCUMENT_STORED;
            ff_msg_send (router, peer, false, &header, &stored.base);
        }
        else
        if (ff_msg_type (request) == FARFAN__MESSAGE_TYPE__EXECUTE) {
            executes++;
            if (script == S_NEED_ALWAYS || (script == S_NEED_ONCE && executes == 1)) {
                Farfan__NeedDocument need = FARFAN__NEED_DOCUMENT__INIT;
                need.digest = "sha256:scripted";
                header.type = FARFAN__MESSAGE_TYPE__NEED_DOCUMENT;
                ff_msg_send (router, peer, false, &header, &need.base);
            }
            else
            if (script == S_NEED_ONCE) {
                Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
                result.contract_id = "Q001_PA01";
                result.status = FARFAN__RESULT_STATUS__RESULT_OK;
                result.score = 2.5;
                result.quality = "BUENO";
                header.type = FARFAN__MESSAGE_TYPE__RESULT;
                ff_msg_send (router, peer, false, &header, &result.base);
                Farfan__BatchDone done = FARFAN__BATCH_DONE__INIT;
                done.total = 1;
                done.ok = 1;
                done.strategy = "inline";
                header.type = FARFAN__MESSAGE_TYPE__BATCH_DONE;
                ff_msg_send (router, peer, false, &header, &done.base);
            }
        }
        else
        if (ff_msg_type (request) == FARFAN__MESSAGE_TYPE__CAPABILITIES) {
            Farfan__Capabilities caps = FARFAN__CAPABILITIES__INIT;
            caps.factory_id = "scripted";
            header.type = FARFAN__MESSAGE_TYPE__CAPABILITIES_REPLY;
            ff_msg_send (router, peer, false, &header, &caps.base);
        }
    }
    ff_msg_destroy (&request);
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  Runs `farfanctl factory execute` against a scripted factory; returns
//  the process and what the factory received.
static ff_test_process_t *
s_execute_scripted (s_script_t script, unsigned *puts, unsigned *executes)
{
    zactor_t *factory = zactor_new (s_scripted_factory, &script);
    char *endpoint = zstr_recv (factory);
    char *dir = s_dir_new ();
    char *input = s_write (dir, "plan.txt", s_text, strlen (s_text));
    ff_test_process_t *ctl = s_ctl (endpoint, "--timeout", "300", "execute", "--input", input,
                                    "--ids", "Q001_PA01", NULL);
    zstr_send (factory, "COUNTS");
    char *counts = zstr_recv (factory);
    cr_assert_eq (sscanf (counts, "%u %u", puts, executes), 2);
    zstr_free (&counts);
    zactor_destroy (&factory);
    zstr_free (&endpoint);
    zstr_free (&input);
    s_dir_remove (&dir);
    return ctl;
}

//  ---------------------------------------------------------------------
//  Help and usage

FF_TEST (ctl_factory, help_lists_every_subcommand_with_its_options)
{
    char program [512];
    char *top [] = { "farfanctl", "--help", NULL };
    ff_test_process_t *ctl = ff_test_spawn (ff_test_build_path ("services/farfanctl", program,
                                                                sizeof program), top, NULL);
    cr_assert_eq (ff_test_process_wait_exit (ctl, 20000), 0);
    S_ASSERT_HAS (S_OUT (ctl), "factory [--endpoint E]");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (NULL, "--help", NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *subcommands [] = { "capabilities", "metrics", "optimize-caches [--apply]",
        "snapshot [--out FILE]", "restore FILE", "plan (--ids ID,... | --all [--phase P02]) "
        "[--max-parallel N] [--budget SECONDS]", "sync --phase P02", "put-contracts FILE|DIR...",
        "execute --input FILE", "--params JSON", "--no-cache", "Exit codes" };
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands [0]; i++)
        S_ASSERT_HAS (S_OUT (ctl), subcommands [i]);
    ff_test_process_destroy (&ctl);

    //  Help after a subcommand too.
    ctl = s_ctl (NULL, "plan", "--help", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "put-contracts");
    ff_test_process_destroy (&ctl);
}

FF_TEST (ctl_factory, bad_options_exit_2_naming_the_option)
{
    typedef struct {
        const char *args [8];
        const char *says;
    } s_case_t;
    const s_case_t cases [] = {
        { { NULL }, "name a subcommand" },
        { { "frobnicate", NULL }, "unknown subcommand \"frobnicate\"" },
        { { "metrics", "--frob", NULL }, "unknown option \"--frob\"" },
        { { "metrics", "--apply", NULL }, "--apply is not an option of metrics" },
        { { "metrics", "extra", NULL }, "unexpected argument \"extra\"" },
        { { "--timeout", "soon", "metrics", NULL }, "--timeout takes milliseconds" },
        { { "plan", "--ids", NULL }, "--ids needs a value" },
        { { "plan", NULL }, "--ids ID,... or --all" },
        { { "plan", "--ids", "A", "--all", NULL }, "--ids and --all exclude each other" },
        { { "plan", "--ids", "A,,B", NULL }, "--ids: empty id" },
        { { "plan", "--ids", "A", "--phase", "P02", NULL }, "--phase selects with --all" },
        { { "plan", "--all", "--phase", "phase_02", NULL }, "--phase takes P00..P09" },
        { { "plan", "--ids", "A", "--budget", "soon", NULL }, "--budget takes seconds" },
        { { "plan", "--ids", "A", "--max-parallel", "0", NULL }, "--max-parallel takes a count" },
        { { "sync", "--ids", "A", NULL }, "--phase P00..P09 is required" },
        { { "sync", "--phase", "P02", "--budget", "-3", NULL }, "--budget takes a count" },
        { { "sync", "--phase", "P02", "--ids", "A@", NULL }, "is not ID@DIGEST" },
        { { "restore", NULL }, "restore takes FILE" },
        { { "restore", "/nonexistent/snapshot", NULL }, "/nonexistent/snapshot" },
        { { "put-contracts", NULL }, "put-contracts takes FILE|DIR..." },
        { { "put-contracts", "/nonexistent/contract.json", NULL }, "/nonexistent/contract.json" },
        { { "execute", "--ids", "A", "--params", "[1]", NULL }, "--params takes a JSON object" },
        { { "execute", "--ids", "A", "--params", "{", NULL }, "--params takes a JSON object" },
        { { "execute", "--input", "/nonexistent/plan.txt", "--ids", "A", NULL },
          "--input /nonexistent/plan.txt" },
    };
    char *unused = s_unused_endpoint ();
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const char *const *a = cases [i].args;
        ff_test_process_t *ctl = s_ctl (unused, a [0], a [0] ? a [1] : NULL,
                                        a [0] && a [1] ? a [2] : NULL,
                                        a [0] && a [1] && a [2] ? a [3] : NULL,
                                        a [0] && a [1] && a [2] && a [3] ? a [4] : NULL,
                                        a [0] && a [1] && a [2] && a [3] && a [4] ? a [5] : NULL,
                                        NULL);
        S_ASSERT_EXIT (ctl, 2);
        S_ASSERT_HAS (S_ERR (ctl), cases [i].says);
        cr_assert_str_eq (S_OUT (ctl), "", "usage errors print nothing on stdout");
        ff_test_process_destroy (&ctl);
    }
    free (unused);
}

FF_TEST (ctl_factory, an_unreachable_factory_exits_3)
{
    char *unused = s_unused_endpoint ();
    char *dir = s_dir_new ();
    char *input = s_write (dir, "plan.txt", s_text, strlen (s_text));
    const char *subcommands [][5] = {
        { "capabilities", NULL },
        { "metrics", NULL },
        { "plan", "--all", NULL },
        { "execute", "--input", input, "--ids", "Q001_PA01" },
        { "execute", "--ids", "T1", NULL },       //  no document: the stream's own check
    };
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands [0]; i++) {
        const char *const *a = subcommands [i];
        ff_test_process_t *ctl = s_ctl (unused, "--timeout", "100", a [0], a [1],
                                        a [1] ? a [2] : NULL, a [1] && a [2] ? a [3] : NULL,
                                        a [1] && a [2] && a [3] ? a [4] : NULL, NULL);
        S_ASSERT_EXIT (ctl, 3);
        cr_assert (strstr (S_ERR (ctl), "no reply") || strstr (S_ERR (ctl), "stopped answering"),
                   "%s", S_ERR (ctl));
        ff_test_process_destroy (&ctl);
    }
    zstr_free (&input);
    s_dir_remove (&dir);
    free (unused);
}

//  ---------------------------------------------------------------------
//  capabilities, metrics, optimize-caches

FF_TEST (ctl_factory, capabilities_show_the_set_and_every_load_error)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), S_WAIT ("T1", "P03", 1, 1000),
                                 S_INVALID, NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);

    ff_test_process_t *ctl = s_ctl (factory.endpoint, "capabilities", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *caps = s_json (ctl);
    cr_assert_eq (s_integer (caps, "total_contracts"), 2);
    cr_assert_eq (s_integer (caps, "active_contracts"), 2);
    cr_assert_eq (s_integer (caps, "invalid_contracts"), 1);
    cr_assert_str_eq (s_string (caps, "health"), "degraded");
    cr_assert_eq (strncmp (s_string (caps, "contract_set_digest"), "sha256:", 7), 0);
    cr_assert_eq (s_integer (caps, "max_workers"), 2);
    json_t *per_phase = json_object_get (caps, "per_phase");
    cr_assert_eq (json_array_size (per_phase), 2);
    cr_assert_str_eq (s_string (json_array_get (per_phase, 0), "phase"), "P02");
    cr_assert_eq (s_integer (json_array_get (per_phase, 0), "contracts"), 1);
    json_t *error = json_array_get (json_object_get (caps, "load_errors"), 0);
    cr_assert_not_null (error);
    cr_assert_str_eq (s_string (error, "field"), "timout_ms");
    S_ASSERT_HAS (s_string (error, "file"), "c02.json");
    char *factory_id = strdup (s_string (caps, "factory_id"));
    char *digest = strdup (s_string (caps, "contract_set_digest"));
    json_decref (caps);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "capabilities", NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *out = S_OUT (ctl);
    S_ASSERT_HAS (out, factory_id);
    S_ASSERT_HAS (out, digest);
    S_ASSERT_HAS (out, "2 total, 2 active, 1 invalid");
    S_ASSERT_HAS (out, "P02 1, P03 1");
    S_ASSERT_HAS (out, "text.match_patterns");
    S_ASSERT_HAS (out, "2 max, 2 idle");
    S_ASSERT_HAS (out, "degraded");
    S_ASSERT_HAS (out, "1 invalid contract definition");
    //  The error table: file, contract, field and reason on one row.
    S_ASSERT_HAS (out, "FILE");
    const char *row = strstr (out, "c02.json");
    cr_assert_not_null (row, "%s", out);
    cr_assert (strstr (row, "BROKEN") && strstr (row, "timout_ms") && strstr (row, "unknown field"),
               "%s", out);
    free (factory_id);
    free (digest);
    ff_test_process_destroy (&ctl);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, metrics_and_caches_follow_what_ran)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), S_MICRO ("Q002_PA01"), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    char *input = s_write (factory.work, "plan.txt", s_text, strlen (s_text));
    for (int round = 0; round < 2; round++) {
        ff_test_process_t *run = s_ctl (factory.endpoint, "execute", "--input", input, "--ids",
                                        "Q001_PA01,Q002_PA01", NULL);
        S_ASSERT_EXIT (run, 0);
        ff_test_process_destroy (&run);
    }
    ff_test_process_t *ctl = s_ctl (factory.endpoint, "metrics", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *metrics = s_json (ctl);
    cr_assert_eq (s_integer (metrics, "executed"), 4);
    cr_assert_eq (s_integer (metrics, "from_cache"), 2, "the second round came from the cache");
    cr_assert_eq (s_integer (metrics, "failed"), 0);
    json_t *caches = json_object_get (metrics, "caches");
    json_t *results = NULL;
    for (size_t i = 0; i < json_array_size (caches); i++)
        if (streq (s_string (json_array_get (caches, i), "name"), "results"))
            results = json_array_get (caches, i);
    cr_assert_not_null (results);
    cr_assert_eq (s_integer (results, "hits"), 2);
    cr_assert_eq (s_integer (results, "misses"), 2);
    cr_assert_float_eq (json_number_value (json_object_get (results, "efficiency_percent")), 50.0,
                        1e-9);
    json_decref (metrics);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "metrics", NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *out = S_OUT (ctl);
    S_ASSERT_HAS (out, "4 contracts: 0 failed, 0 timed out, 0 skipped, 2 from cache");
    S_ASSERT_HAS (out, "p50");
    S_ASSERT_HAS (out, "EFFICIENCY");
    //  The results row: size/max, hits, misses, efficiency.
    const char *row = strstr (out, "  results ");
    cr_assert_not_null (row, "%s", out);
    cr_assert (strstr (row, "2/100000") && strstr (row, "50.0%"), "%s", out);
    ff_test_process_destroy (&ctl);
    zstr_free (&input);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, optimize_caches_reports_and_applies)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    ff_test_process_t *ctl = s_ctl (factory.endpoint, "optimize-caches", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "applied: no");
    S_ASSERT_HAS (S_OUT (ctl), "compiled");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "optimize-caches", "--apply", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *reply = s_json (ctl);
    cr_assert (json_is_true (json_object_get (reply, "applied")));
    cr_assert (json_is_array (json_object_get (reply, "recommendations")));
    cr_assert_eq (json_array_size (json_object_get (reply, "caches")), 3);
    json_decref (reply);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "optimize-caches", "--apply", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "applied: yes");
    S_ASSERT_HAS (S_OUT (ctl), "caches after applying");
    ff_test_process_destroy (&ctl);
    s_factory_stop (&factory);
}

//  ---------------------------------------------------------------------
//  snapshot / restore

FF_TEST (ctl_factory, a_snapshot_written_with_out_restores_into_another_factory)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), S_WAIT ("T1", "P02", 1, 1000), NULL };
    s_factory_t first = s_factory (contracts, NULL, NULL);
    char *input = s_write (first.work, "plan.txt", s_text, strlen (s_text));
    ff_test_process_t *ctl = s_ctl (first.endpoint, "execute", "--input", input, "--ids",
                                    "Q001_PA01,T1", NULL);
    S_ASSERT_EXIT (ctl, 0);
    ff_test_process_destroy (&ctl);

    char *file = zsys_sprintf ("%s/factory.snapshot", first.work);
    ctl = s_ctl (first.endpoint, "snapshot", "--out", file, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "wrote ");
    S_ASSERT_HAS (S_OUT (ctl), file);
    S_ASSERT_HAS (S_OUT (ctl), "4 estimates");
    ff_test_process_destroy (&ctl);

    //  The file is the Snapshot protobuf.
    zfile_t *bytes = zfile_new (NULL, file);
    cr_assert_eq (zfile_input (bytes), 0);
    zchunk_t *chunk = zfile_read (bytes, zfile_cursize (bytes), 0);
    Farfan__Snapshot *snapshot = farfan__snapshot__unpack (NULL, zchunk_size (chunk),
                                                           zchunk_data (chunk));
    cr_assert_not_null (snapshot);
    cr_assert_eq (snapshot->n_durations, 4, "two contracts and their two types");
    cr_assert_eq (snapshot->metrics->executed, 2);
    char *first_id = strdup (snapshot->factory_id);
    farfan__snapshot__free_unpacked (snapshot, NULL);
    zchunk_destroy (&chunk);
    zfile_destroy (&bytes);

    ctl = s_ctl (first.endpoint, "snapshot", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *json = s_json (ctl);
    cr_assert_str_eq (s_string (json, "factory_id"), first_id);
    cr_assert_eq (json_array_size (json_object_get (json, "durations")), 4);
    json_decref (json);
    ff_test_process_destroy (&ctl);

    //  A fresh factory knows no durations: its plan estimates by default.
    s_factory_t second = s_factory (contracts, NULL, NULL);
    ctl = s_ctl (second.endpoint, "plan", "--ids", "Q001_PA01", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    cr_assert_str_neq (s_string (json_array_get (json_object_get (json, "estimates"), 0), "source"),
                       "measured");
    json_decref (json);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (second.endpoint, "restore", file, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "restored 4 duration estimates of 4");
    S_ASSERT_HAS (S_OUT (ctl), first_id);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (second.endpoint, "restore", file, "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    cr_assert_eq (s_integer (json, "durations_restored"), 4);
    json_decref (json);
    ff_test_process_destroy (&ctl);

    //  ... and now plans with what the first one measured.
    ctl = s_ctl (second.endpoint, "plan", "--ids", "Q001_PA01", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json = s_json (ctl);
    cr_assert_str_eq (s_string (json_array_get (json_object_get (json, "estimates"), 0), "source"),
                      "measured");
    json_decref (json);
    ff_test_process_destroy (&ctl);

    //  A file that is not a snapshot is refused before anything is sent.
    char *garbage = s_write (second.work, "garbage", "", 0);
    ctl = s_ctl (second.endpoint, "restore", garbage, NULL);
    S_ASSERT_EXIT (ctl, 2);
    S_ASSERT_HAS (S_ERR (ctl), "is not a factory snapshot");
    ff_test_process_destroy (&ctl);
    zstr_free (&garbage);
    garbage = s_write (second.work, "text", s_text, strlen (s_text));
    ctl = s_ctl (second.endpoint, "restore", garbage, NULL);
    S_ASSERT_EXIT (ctl, 2);
    S_ASSERT_HAS (S_ERR (ctl), "is not a factory snapshot");
    ff_test_process_destroy (&ctl);

    //  --out where nothing can be written.
    ctl = s_ctl (second.endpoint, "snapshot", "--out", "/nonexistent/dir/snapshot", NULL);
    S_ASSERT_EXIT (ctl, 2);
    S_ASSERT_HAS (S_ERR (ctl), "--out /nonexistent/dir/snapshot");
    ff_test_process_destroy (&ctl);

    zstr_free (&garbage);
    free (first_id);
    zstr_free (&file);
    zstr_free (&input);
    s_factory_stop (&second);
    s_factory_stop (&first);
}

//  ---------------------------------------------------------------------
//  plan, sync

FF_TEST (ctl_factory, plan_shows_batches_and_estimates)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), S_MICRO ("Q002_PA01"),
                                 S_WAIT ("T1", "P02", 1, 1000), S_WAIT ("T9", "P09", 1, 1000), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    ff_test_process_t *ctl = s_ctl (factory.endpoint, "plan", "--ids", "Q001_PA01,T1,NOPE",
                                    "--max-parallel", "1", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *plan = s_json (ctl);
    cr_assert_str_neq (s_string (plan, "plan_id"), "");
    cr_assert_eq (s_integer (plan, "parallelism"), 1);
    cr_assert_eq (json_array_size (json_object_get (plan, "estimates")), 2);
    cr_assert_geq (json_array_size (json_object_get (plan, "batches")), 1);
    json_t *warnings = json_object_get (plan, "warnings");
    cr_assert_geq (json_array_size (warnings), 1);
    S_ASSERT_HAS (json_string_value (json_array_get (warnings, 0)), "NOPE");
    char *plan_id = strdup (s_string (plan, "plan_id"));
    json_decref (plan);
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "plan", "--ids", "Q001_PA01,T1,NOPE", "--max-parallel", "1",
                 NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *out = S_OUT (ctl);
    S_ASSERT_HAS (out, "vm-");
    S_ASSERT_HAS (out, "parallelism  1");
    S_ASSERT_HAS (out, "warning: ");
    S_ASSERT_HAS (out, "batches (");
    S_ASSERT_HAS (out, "estimates (2)");
    S_ASSERT_HAS (out, "SOURCE");
    cr_assert (strstr (out, "Q001_PA01") && strstr (out, "T1"), "%s", out);
    ff_test_process_destroy (&ctl);
    free (plan_id);

    //  --all --phase: the ACTIVE contracts of that phase.
    ctl = s_ctl (factory.endpoint, "plan", "--all", "--phase", "P02", "--budget", "0.5",
                 "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    plan = s_json (ctl);
    cr_assert_eq (json_array_size (json_object_get (plan, "estimates")), 3);
    json_decref (plan);
    ff_test_process_destroy (&ctl);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, sync_reports_conflicts_and_adjustments)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), S_MICRO ("Q002_PA01"), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);

    //  Aligned: exit 0, adjustments with the in-flight cap asked for.
    ff_test_process_t *ctl = s_ctl (factory.endpoint, "sync", "--phase", "P02", "--ids",
                                    "Q001_PA01,Q002_PA01", "--budget", "1", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *reply = s_json (ctl);
    cr_assert (json_is_true (json_object_get (reply, "success")));
    cr_assert_eq (s_integer (reply, "in_flight_cap"), 1);
    cr_assert_eq (json_array_size (json_object_get (reply, "conflicts")), 0);
    cr_assert_geq (json_array_size (json_object_get (reply, "adjustments")), 2);
    json_decref (reply);
    ff_test_process_destroy (&ctl);

    //  No budget: the factory sets the cap from its 2 workers and its
    //  recommended batch (two per worker, or two batches when larger), and
    //  says so.
    ctl = s_ctl (factory.endpoint, "sync", "--phase", "P02", "--ids", "Q001_PA01", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    reply = s_json (ctl);
    json_int_t batch = s_integer (reply, "batch_size");
    cr_assert_gt (batch, 0);
    json_int_t cap = 2 * batch > 4 ? 2 * batch : 4;
    cr_assert_eq (s_integer (reply, "in_flight_cap"), cap);
    json_decref (reply);
    ff_test_process_destroy (&ctl);
    ctl = s_ctl (factory.endpoint, "sync", "--phase", "P02", "--ids", "Q001_PA01", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "aligned        yes");
    char expected [64];
    snprintf (expected, sizeof expected, "in-flight cap  %lld contracts", (long long) cap);
    S_ASSERT_HAS (S_OUT (ctl), expected);
    const char *row = strstr (S_OUT (ctl), "in_flight_cap ");
    snprintf (expected, sizeof expected, "%lld  worker budget 0", (long long) cap);
    cr_assert (row && strstr (row, expected), "%s", S_OUT (ctl));
    S_ASSERT_HAS (S_OUT (ctl), "batch_size");
    ff_test_process_destroy (&ctl);

    //  Missing and stale contracts: blocking, exit 1, each with its ids.
    ctl = s_ctl (factory.endpoint, "sync", "--phase", "P02", "--ids",
                 "Q001_PA01@sha256:0000,NOPE", NULL);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "not aligned for P02: 2 conflicts");
    const char *missing = strstr (S_OUT (ctl), "missing_contracts");
    cr_assert (missing && strstr (missing, "NOPE"), "%s", S_OUT (ctl));
    const char *stale = strstr (S_OUT (ctl), "stale_contracts");
    cr_assert (stale && strstr (stale, "Q001_PA01"), "%s", S_OUT (ctl));
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "sync", "--phase", "P02", "--ids", "NOPE", "--json", NULL);
    S_ASSERT_EXIT (ctl, 1);
    reply = s_json (ctl);
    cr_assert (json_is_false (json_object_get (reply, "success")));
    json_t *conflict = json_array_get (json_object_get (reply, "conflicts"), 0);
    cr_assert_str_eq (s_string (conflict, "kind"), "missing_contracts");
    cr_assert_str_eq (json_string_value (json_array_get (json_object_get (conflict, "ids"), 0)),
                      "NOPE");
    json_decref (reply);
    ff_test_process_destroy (&ctl);

    //  Another set digest alone is informational: still aligned.
    ctl = s_ctl (factory.endpoint, "sync", "--phase", "P02", "--digest", "sha256:other", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "digest_mismatch");
    ff_test_process_destroy (&ctl);
    s_factory_stop (&factory);
}

//  ---------------------------------------------------------------------
//  put-contracts

FF_TEST (ctl_factory, put_contracts_ships_files_and_prints_every_error)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    char *ship = zsys_sprintf ("%s/ship", factory.work);
    cr_assert_eq (mkdir (ship, 0700), 0);
    s_write_text (ship, "a.json", S_MICRO ("Q002_PA01"));
    s_write_text (ship, "b.json", S_INVALID);
    s_write_text (ship, "notes.txt", "not a contract: skipped, not .json");
    char *set = zsys_sprintf ("{\"format\":\"farfan-contract-set/1\",\"contracts\":[%s,%s]}",
                              S_MICRO ("Q003_PA01"), S_WAIT ("T1", "P02", 1, 1000));
    char *set_path = s_write (factory.work, "set.json", set, strlen (set));

    ff_test_process_t *ctl = s_ctl (factory.endpoint, "put-contracts", ship, set_path, NULL);
    S_ASSERT_EXIT (ctl, 1);
    const char *out = S_OUT (ctl);
    S_ASSERT_HAS (out, "sent 3 files: 3 contracts accepted, 1 definition rejected");
    S_ASSERT_HAS (out, "the factory now has 4 contracts");
    //  The error names the local file, not the request index.
    const char *row = strstr (out, "/ship/b.json");
    cr_assert (row && strstr (row, "timout_ms") && strstr (row, "unknown field"), "%s", out);
    S_ASSERT_HAS (S_ERR (ctl), "1 definition rejected");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "capabilities", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *caps = s_json (ctl);
    cr_assert_eq (s_integer (caps, "total_contracts"), 4);
    json_decref (caps);
    ff_test_process_destroy (&ctl);

    char *bad = zsys_sprintf ("%s/b.json", ship);
    ctl = s_ctl (factory.endpoint, "put-contracts", "--json", bad, NULL);
    S_ASSERT_EXIT (ctl, 1);
    json_t *reply = s_json (ctl);
    cr_assert_eq (s_integer (reply, "accepted"), 0);
    cr_assert_eq (s_integer (reply, "rejected"), 1);
    json_t *error = json_array_get (json_object_get (reply, "errors"), 0);
    cr_assert_str_eq (s_string (error, "path"), bad);
    cr_assert_str_eq (s_string (error, "file"), "put_contracts[0]");
    cr_assert_str_eq (s_string (error, "field"), "timout_ms");
    json_decref (reply);
    ff_test_process_destroy (&ctl);

    //  All accepted: exit 0.
    ctl = s_ctl (factory.endpoint, "put-contracts", set_path, NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "2 contracts accepted, 0 definitions rejected");
    ff_test_process_destroy (&ctl);

    //  Local problems are usage errors, nothing sent.
    char *empty = zsys_sprintf ("%s/empty", factory.work);
    cr_assert_eq (mkdir (empty, 0700), 0);
    ctl = s_ctl (factory.endpoint, "put-contracts", empty, NULL);
    S_ASSERT_EXIT (ctl, 2);
    S_ASSERT_HAS (S_ERR (ctl), "has no .json file");
    ff_test_process_destroy (&ctl);
    char *latin = s_write (factory.work, "latin.json", "{\"id\":\"caf\xe9\"}", 13);
    ctl = s_ctl (factory.endpoint, "put-contracts", latin, NULL);
    S_ASSERT_EXIT (ctl, 2);
    S_ASSERT_HAS (S_ERR (ctl), "is not UTF-8 text");
    ff_test_process_destroy (&ctl);

    zstr_free (&latin);
    zstr_free (&empty);
    zstr_free (&bad);
    zstr_free (&set_path);
    zstr_free (&set);
    zstr_free (&ship);
    s_factory_stop (&factory);
}

//  ---------------------------------------------------------------------
//  execute

FF_TEST (ctl_factory, execute_streams_results_then_a_table_and_the_summary)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), S_MICRO ("Q002_PA01"), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    char *input = s_write (factory.work, "plan.txt", s_text, strlen (s_text));

    ff_test_process_t *ctl = s_ctl (factory.endpoint, "execute", "--input", input, "--ids",
                                    "Q001_PA01,Q002_PA01", NULL);
    S_ASSERT_EXIT (ctl, 0);
    const char *out = S_OUT (ctl);
    //  A live line per result, then the table, then the summary.
    const char *live = strstr (out, "[1/2] ");
    cr_assert_not_null (live, "%s", out);
    const char *second = strstr (live, "[2/2] ");
    cr_assert_not_null (second, "%s", out);
    const char *table = strstr (second, "CONTRACT");
    cr_assert_not_null (table, "%s", out);
    cr_assert (strstr (table, "STATUS") && strstr (table, "SCORE") && strstr (table, "QUALITY")
               && strstr (table, "EVIDENCE") && strstr (table, "DURATION") && strstr (table, "CACHE"),
               "%s", out);
    const char *row = strstr (table, "Q001_PA01");
    cr_assert_not_null (row, "%s", out);
    //  3 sources of 2 needed, 3 years of 2: EXCELENTE at the top of the scale.
    cr_assert (strstr (row, "ok") && strstr (row, "3.00") && strstr (row, "EXCELENTE")
               && strstr (row, "fuentes 3/2, años 3/2"), "%s", out);
    S_ASSERT_HAS (out, "2 contracts: 2 ok, 0 failed, 0 timed out, 0 skipped; 0 from cache");
    ff_test_process_destroy (&ctl);

    //  --json: one object per result, then the BatchDone; from the cache now.
    ctl = s_ctl (factory.endpoint, "--json", "execute", "--input", input, "--ids",
                 "Q001_PA01,Q002_PA01", NULL);
    S_ASSERT_EXIT (ctl, 0);
    json_t *lines = s_json_lines (ctl);
    cr_assert_eq (json_array_size (lines), 3, "%s", S_OUT (ctl));
    bool seen [2] = { false, false };
    for (size_t i = 0; i < 2; i++) {
        json_t *result = json_array_get (lines, i);
        json_int_t index = s_integer (result, "index");
        cr_assert (index == 0 || index == 1);
        seen [index] = true;
        cr_assert_str_eq (s_string (result, "contract_id"), index == 0 ? "Q001_PA01" : "Q002_PA01");
        cr_assert_str_eq (s_string (result, "status"), "ok");
        cr_assert_str_eq (s_string (result, "quality"), "EXCELENTE");
        cr_assert (json_is_true (json_object_get (result, "from_cache")));
        json_t *evidence = json_array_get (json_object_get (result, "evidence"), 0);
        cr_assert_eq (s_integer (evidence, "count"), 3);
        json_t *match = json_array_get (json_object_get (evidence, "matches"), 0);
        cr_assert_str_eq (s_string (match, "text"), "DANE");
        cr_assert_eq (strncmp (s_text + s_integer (match, "offset"), "DANE", 4), 0);
    }
    cr_assert (seen [0] && seen [1]);
    json_t *done = json_array_get (lines, 2);
    cr_assert_eq (s_integer (done, "total"), 2);
    cr_assert_eq (s_integer (done, "ok"), 2);
    cr_assert_eq (s_integer (done, "from_cache"), 2);
    json_decref (lines);
    ff_test_process_destroy (&ctl);

    //  --no-cache runs them again; --all --phase picks the phase's contracts.
    ctl = s_ctl (factory.endpoint, "execute", "--input", input, "--all", "--phase", "P02",
                 "--no-cache", "--max-parallel", "1", "--params", "{\"k\":1}", "--json", NULL);
    S_ASSERT_EXIT (ctl, 0);
    lines = s_json_lines (ctl);
    cr_assert_eq (json_array_size (lines), 3);
    cr_assert (json_is_false (json_object_get (json_array_get (lines, 0), "from_cache")));
    cr_assert_eq (s_integer (json_array_get (lines, 2), "from_cache"), 0);
    json_decref (lines);
    ff_test_process_destroy (&ctl);
    zstr_free (&input);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, execute_exits_4_when_a_contract_fails_or_times_out)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), S_WAIT ("SLOW", "P02", 2000, 50), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    char *input = s_write (factory.work, "plan.txt", s_text, strlen (s_text));

    ff_test_process_t *ctl = s_ctl (factory.endpoint, "execute", "--input", input, "--ids",
                                    "Q001_PA01,NOPE", NULL);
    S_ASSERT_EXIT (ctl, 4);
    const char *row = strstr (S_OUT (ctl), "\n1  NOPE");
    cr_assert (row && strstr (row, "failed") && strstr (row, "unknown contract"), "%s", S_OUT (ctl));
    S_ASSERT_HAS (S_OUT (ctl), "2 contracts: 1 ok, 1 failed");
    ff_test_process_destroy (&ctl);

    ctl = s_ctl (factory.endpoint, "execute", "--ids", "SLOW", "--json", NULL);
    S_ASSERT_EXIT (ctl, 4);
    json_t *lines = s_json_lines (ctl);
    cr_assert_eq (json_array_size (lines), 2);
    cr_assert_str_eq (s_string (json_array_get (lines, 0), "status"), "timeout");
    cr_assert_eq (s_integer (json_array_get (lines, 1), "timed_out"), 1);
    json_decref (lines);
    ff_test_process_destroy (&ctl);
    zstr_free (&input);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, execute_waits_through_contracts_longer_than_the_timeout)
{
    //  1 s of io.wait with --timeout 250: farfanctl checks the factory is
    //  alive during the silence (about four times) and keeps waiting.
    const char *contracts [] = { S_WAIT ("LONG", "P02", 1000, 5000), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    ff_test_process_t *ctl = s_ctl (factory.endpoint, "--timeout", "250", "execute", "--ids",
                                    "LONG", NULL);
    S_ASSERT_EXIT (ctl, 0);
    S_ASSERT_HAS (S_OUT (ctl), "1 contract: 1 ok");
    ff_test_process_destroy (&ctl);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, execute_input_must_be_utf8_text)
{
    const char *contracts [] = { S_MICRO ("Q001_PA01"), NULL };
    s_factory_t factory = s_factory (contracts, NULL, NULL);
    const char *text = "Diagn\xf3stico";
    char *latin = s_write (factory.work, "latin1.txt", text, strlen (text));
    ff_test_process_t *ctl = s_ctl (factory.endpoint, "execute", "--input", latin, "--ids",
                                    "Q001_PA01", NULL);
    S_ASSERT_EXIT (ctl, 2);
    char says [96];
    snprintf (says, sizeof says, "is not UTF-8 text: invalid UTF-8 at byte offset %zu",
              ff_utf8_check ((const uint8_t *) text, strlen (text), true) - 1);
    S_ASSERT_HAS (S_ERR (ctl), says);
    S_ASSERT_HAS (S_ERR (ctl), latin);
    ff_test_process_destroy (&ctl);
    zstr_free (&latin);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, execute_refused_by_the_factory_exits_1)
{
    const char *contracts [] = { S_WAIT ("T1", "P02", 1, 1000), S_WAIT ("T2", "P02", 1, 1000), NULL };
    s_factory_t factory = s_factory (contracts, "--max-pending", "1");
    ff_test_process_t *ctl = s_ctl (factory.endpoint, "execute", "--ids", "T1,T2", NULL);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "ERROR OVERLOADED");
    S_ASSERT_HAS (S_ERR (ctl), "max_pending");
    ff_test_process_destroy (&ctl);

    //  One contract fits: the refusal was the factory's limit, not the request.
    ctl = s_ctl (factory.endpoint, "execute", "--ids", "T1", NULL);
    S_ASSERT_EXIT (ctl, 0);
    ff_test_process_destroy (&ctl);
    s_factory_stop (&factory);

    //  An error to PUT_DOCUMENT: its code and message, exit 1.

    factory = s_factory (contracts, "--document-max-bytes", "16");
    char *input = s_write (factory.work, "plan.txt", s_text, strlen (s_text));
    ctl = s_ctl (factory.endpoint, "execute", "--input", input, "--ids", "T1", NULL);
    S_ASSERT_EXIT (ctl, 1);
    S_ASSERT_HAS (S_ERR (ctl), "ERROR INVALID_ARGUMENT");
    S_ASSERT_HAS (S_ERR (ctl), "document_max_bytes");
    ff_test_process_destroy (&ctl);
    zstr_free (&input);
    s_factory_stop (&factory);
}

FF_TEST (ctl_factory, need_document_is_answered_by_sending_it_once_more)
{
    unsigned puts = 0, executes = 0;
    ff_test_process_t *ctl = s_execute_scripted (S_NEED_ONCE, &puts, &executes);
    S_ASSERT_EXIT (ctl, 0);
    cr_assert_eq (puts, 2, "the document is sent again");
    cr_assert_eq (executes, 2);
    S_ASSERT_HAS (S_OUT (ctl), "1 contract: 1 ok");
    S_ASSERT_HAS (S_OUT (ctl), "BUENO");
    ff_test_process_destroy (&ctl);

    //  Only once: a factory that keeps asking is an error, not a loop.
    ctl = s_execute_scripted (S_NEED_ALWAYS, &puts, &executes);
    S_ASSERT_EXIT (ctl, 1);
    cr_assert_eq (puts, 2);
    cr_assert_eq (executes, 2);
    S_ASSERT_HAS (S_ERR (ctl), "asked for document sha256:scripted again");
    ff_test_process_destroy (&ctl);
}

FF_TEST (ctl_factory, a_batch_whose_replies_were_dropped_is_an_error)
{
    //  The factory answers the liveness check with nothing in flight, yet
    //  BATCH_DONE never came: farfanctl says so instead of waiting forever.
    unsigned puts = 0, executes = 0;
    ff_test_process_t *ctl = s_execute_scripted (S_SILENT, &puts, &executes);
    S_ASSERT_EXIT (ctl, 1);
    cr_assert_eq (executes, 1);
    S_ASSERT_HAS (S_ERR (ctl), "its replies were dropped");
    ff_test_process_destroy (&ctl);
}
