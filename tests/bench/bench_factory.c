/*  bench_factory — the factory's benchmarks (issue #3), each against a
    baseline measured in this same run:

    1. wait:    N contracts of io.wait 1000 ms on 8 workers; baseline: the
                upstream approach, Python's ThreadPoolExecutor(8) over N
                one-second sleeps (Debian's /usr/bin/python3), and the
                sequential N seconds as arithmetic.
    2. cache:   N CPU-bound contracts (patterns over a real plan) twice on
                the same document; the second pass against the first.
    3. scaling: the same set with max_workers 1 and 2 (result cache off).
    4. noop:    no-op contracts through the direct API over tcp loopback in
                batches of 100, against raw libzmq pipelined round trips.
    5. memory:  peak RSS of a real farfan-factory with N contracts loaded and
                compiled and the plan cached, against an empty one.

    The plan text is ../shared/farfan-upstream/plans/Plan_1.txt when
    present, else the bundled tests/data/methods_es.txt (said so).

    Usage: bench_factory [--scale X] [--output PATH] [--format tsv|jsonl]
                         [--timeout MS] [--rounds N]
    FF_BENCH_ONLY=wait|cpu|noop|memory runs one scenario.
*/
#include "ff_bench.h"
#include "ff_bench_zmq.h"
#include "bench_support.h"

#include "fac_contract.h"
#include "fac_server.h"
#include "factory.pb-c.h"
#include "ff_log.h"
#include "ff_msg.h"

#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define S_CONTRACTS     300     //  at scale 1
#define S_WAIT_WORKERS  8
#define S_NOOP_BATCH    100
#define S_NOOP_WINDOW   4       //  batches in flight
#define S_NOOP_TOTAL    100000  //  contracts at scale 1

//  Spanish regexes of the kind plan questions look for.
static const char *s_regexes [] = {
    "\\bDANE\\b", "l[ií]nea\\s+(de\\s+)?base", "\\bmetas?\\b", "\\bindicador(es)?\\b",
    "presupuesto", "poblaci[oó]n", "\\bmunicipio\\b", "\\bsalud\\b", "educaci[oó]n",
    "vivienda", "agua\\s+potable", "v[ií]ctimas", "\\bmujer(es)?\\b", "ni[nñ](a|o)s",
    "j[oó]venes", "\\brural\\b", "\\burban[ao]\\b", "\\bprograma\\b", "\\bproyecto\\b",
    "inversi[oó]n", "\\brecursos\\b", "\\d+(?:[.,]\\d+)?\\s?%", "\\$\\s?\\d{1,3}(?:\\.\\d{3})+",
    "\\b(?:19|20)\\d{2}\\b", "secretar[ií]a", "\\bplan\\b", "diagn[oó]stico", "cobertura",
    "\\bSGP\\b", "desarrollo", "comunidad(es)?", "\\btasa\\b", "ind[ií]gena", "afro\\w*",
    "alcald[ií]a", "participaci[oó]n", "gesti[oó]n", "\\bpaz\\b", "conflicto", "territorio",
};
#define S_REGEX_COUNT (sizeof s_regexes / sizeof s_regexes [0])

//  ---------------------------------------------------------------------
//  Contract sets on disk

static int
s_write (const char *dir, const char *name, const char *text)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    fputs (text, file);
    return fclose (file);
}

//  Writes one set file with `count` contracts made by `make`.
typedef void (s_contract_fn) (size_t index, char *out, size_t size);

static int
s_write_set (const char *dir, size_t count, s_contract_fn *make)
{
    size_t capacity = count * 2048 + 128;
    char *text = (char *) malloc (capacity);
    if (!text)
        return -1;
    size_t used = (size_t) snprintf (text, capacity, "{\"format\":\"farfan-contract-set/1\",\"contracts\":[");
    for (size_t i = 0; i < count; i++) {
        char contract [2048];
        make (i, contract, sizeof contract);
        used += (size_t) snprintf (text + used, capacity - used, "%s%s", i ? "," : "", contract);
    }
    snprintf (text + used, capacity - used, "]}");
    int rc = s_write (dir, "set.json", text);
    free (text);
    return rc;
}

static void
s_wait_contract (size_t index, char *out, size_t size)
{
    snprintf (out, size, "{\"id\":\"WAIT_%03zu\",\"version\":\"1\",\"type\":\"task\","
              "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":false},"
              "\"methods\":[{\"method\":\"io.wait\",\"params\":{\"ms\":1000}}],\"timeout_ms\":10000}",
              index);
}

//  A micro contract: 6 patterns in 3 element types, counted and scored.
static void
s_cpu_contract (size_t index, char *out, size_t size)
{
    char patterns [1400] = "";
    size_t used = 0;
    for (size_t j = 0; j < 6; j++) {
        const char *regex = s_regexes [(index * 7 + j * 5) % S_REGEX_COUNT];
        //  JSON-escape the backslashes.
        char escaped [128];
        size_t e = 0;
        for (const char *c = regex; *c && e < sizeof escaped - 2; c++) {
            if (*c == '\\')
                escaped [e++] = '\\';
            escaped [e++] = *c;
        }
        escaped [e] = '\0';
        used += (size_t) snprintf (patterns + used, sizeof patterns - used,
            "%s{\"id\":\"P%zu\",\"regex\":\"%s\",\"flags\":[\"IGNORECASE\",\"MULTILINE\"],"
            "\"element_type\":\"e%zu\"}", j ? "," : "", j, escaped, j % 3);
    }
    snprintf (out, size, "{\"id\":\"CPU_%03zu\",\"version\":\"1\",\"type\":\"micro\","
              "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},\"patterns\":[%s],"
              "\"expected_elements\":[{\"type\":\"e0\",\"minimum\":3},{\"type\":\"e1\",\"minimum\":2},"
              "{\"type\":\"e2\",\"required\":true}],"
              "\"methods\":[{\"method\":\"text.match_patterns\"},{\"method\":\"text.count_elements\"},"
              "{\"method\":\"score.modality\"}],\"scoring\":{\"modality\":\"TYPE_A\"}}",
              index, patterns);
}

//  Writes `count` CPU-bound contracts built from the upstream FARFAN
//  questionnaire: question i's pattern references that resolve in the
//  registry and compile, one element type per pattern category. Returns
//  the number of patterns used, 0 when the upstream data is absent.
static size_t
s_write_upstream_set (const char *dir, size_t count, size_t *skipped)
{
    const char *root = FF_BENCH_SOURCE_ROOT "/../shared/farfan-upstream";
    char path [512];
    snprintf (path, sizeof path, "%s/patterns/MASTER_INDEX.json", root);
    json_error_t error;
    json_t *index = json_load_file (path, 0, &error);
    json_t *registry = json_object_get (index, "patterns");
    size_t used = 0;
    *skipped = 0;
    json_t *set = json_pack ("{s:s, s:[]}", "format", "farfan-contract-set/1", "contracts");
    json_t *list = json_object_get (set, "contracts");
    for (size_t i = 0; registry && i < count; i++) {
        snprintf (path, sizeof path, "%s/questions/Q%03zu.json", root, i % 300 + 1);
        json_t *question = json_load_file (path, 0, &error);
        json_t *refs = json_object_get (json_object_get (question, "references"), "pattern_refs");
        json_t *patterns = json_array ();
        json_t *types = json_object ();
        size_t ref_index;
        json_t *ref;
        json_array_foreach (refs, ref_index, ref) {
            json_t *entry = json_object_get (registry, json_string_value (ref));
            json_t *spec = json_object_get (entry, "pattern_spec");
            const char *regex = json_string_value (json_object_get (spec, "pattern"));
            const char *category = json_string_value (json_object_get (
                json_object_get (entry, "classification"), "category"));
            if (!regex || !category) {
                (*skipped)++;
                continue;
            }
            fac_pattern_t pattern = { .regex = (char *) regex,
                                      .flags = FAC_PATTERN_IGNORECASE | FAC_PATTERN_MULTILINE };
            pcre2_code *code = NULL;
            char err [200];
            if (fac_pattern_compile (&pattern, &code, err, sizeof err) != 0) {
                (*skipped)++;
                continue;
            }
            pcre2_code_free (code);
            json_array_append_new (patterns, json_pack ("{s:s, s:s, s:[ss], s:s}",
                "id", json_string_value (ref), "regex", regex,
                "flags", "IGNORECASE", "MULTILINE", "element_type", category));
            json_object_set_new (types, category, json_true ());
            used++;
        }
        if (json_array_size (patterns) == 0) {
            //  Nothing usable upstream for this question: a generated one.
            char generated [2048];
            s_cpu_contract (i, generated, sizeof generated);
            json_array_append_new (list, json_loads (generated, 0, &error));
            json_decref (patterns);
            json_decref (types);
            json_decref (question);
            continue;
        }
        json_t *expected = json_array ();
        const char *type;
        json_t *present;
        json_object_foreach (types, type, present)
            json_array_append_new (expected, json_pack ("{s:s, s:i}", "type", type, "minimum", 1));
        char id [32];
        snprintf (id, sizeof id, "CPU_%03zu", i);
        json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:[s], s:{s:b}, s:o, s:o, s:[{s:s},{s:s},{s:s}], s:{s:s}}",
            "id", id, "version", "1", "type", "micro", "applicable_phases", "P02",
            "inputs", "document", 1, "patterns", patterns, "expected_elements", expected,
            "methods", "method", "text.match_patterns", "method", "text.count_elements",
            "method", "score.modality", "scoring", "modality", "TYPE_A"));
        json_decref (types);
        json_decref (question);
    }
    if (registry) {
        snprintf (path, sizeof path, "%s/set.json", dir);
        if (json_dump_file (set, path, JSON_COMPACT) != 0)
            used = 0;
    }
    json_decref (set);
    json_decref (index);
    return used;
}

static void
s_noop_contract (size_t index, char *out, size_t size)
{
    snprintf (out, size, "{\"id\":\"NOOP_%03zu\",\"version\":\"1\",\"type\":\"task\","
              "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":false},"
              "\"methods\":[{\"method\":\"core.noop\"}]}", index);
}

//  ---------------------------------------------------------------------
//  An in-process factory and a client

typedef struct {
    zactor_t *actor;
    fac_config_t config;
    zsock_t *dealer;
} s_factory_t;

static int
s_factory_start (s_factory_t *factory, const char *dir, const char *workers, int timeout_ms,
                 const char *inline_below_us)
{
    memset (factory, 0, sizeof *factory);
    char *argv [] = { "bench", "--endpoint", "@tcp://127.0.0.1:*", "--orchestrator-endpoint", "",
                      "--sisas-endpoint", "", "--http-port", "0", "--hwm", "100000",
                      "--contracts-dir", (char *) dir, "--max-workers", (char *) workers,
                      "--log-level", "error",
                      "--batch-execution-threshold", getenv ("FF_BENCH_THRESHOLD") ? getenv ("FF_BENCH_THRESHOLD") : "4",
                      "--inline-below-us", (char *) inline_below_us };
    char err [512];
    if (ff_config_load (&fac_config_schema, &factory->config, 21, argv, stdout, err, sizeof err)
        != FF_CONFIG_LOADED) {
        fprintf (stderr, "bench_factory: config: %s\n", err);
        return -1;
    }
    fac_server_t *server = fac_server_new (&factory->config, err, sizeof err);
    if (!server) {
        fprintf (stderr, "bench_factory: factory: %s\n", err);
        return -1;
    }
    factory->actor = zactor_new (fac_server_actor, server);
    zstr_sendx (factory->actor, "ENDPOINT", "direct", NULL);
    char *endpoint = zstr_recv (factory->actor);
    factory->dealer = zsock_new (ZMQ_DEALER);
    zsock_set_rcvtimeo (factory->dealer, timeout_ms);
    zsock_set_sndhwm (factory->dealer, 100000);
    zsock_set_rcvhwm (factory->dealer, 100000);
    zsock_set_linger (factory->dealer, 0);
    zsock_connect (factory->dealer, "%s", endpoint);
    zstr_free (&endpoint);
    return 0;
}

static void
s_factory_stop (s_factory_t *factory)
{
    zsock_destroy (&factory->dealer);
    zactor_destroy (&factory->actor);
    ff_config_free (&fac_config_schema, &factory->config);
}

static uint64_t s_sequence = 0;

static int
s_send (zsock_t *dealer, uint32_t type, const ProtobufCMessage *body)
{
    char correlation_id [32];
    snprintf (correlation_id, sizeof correlation_id, "b-%llu", (unsigned long long) ++s_sequence);
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id, .sender_id = "bench" };
    return ff_msg_send (dealer, NULL, false, &header, body);
}

static char *
s_put_document (zsock_t *dealer, const char *text, size_t size)
{
    Farfan__PutDocument put = FARFAN__PUT_DOCUMENT__INIT;
    put.content.data = (uint8_t *) text;
    put.content.len = size;
    s_send (dealer, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, &put.base);
    ff_msg_t *reply = ff_msg_new ();
    char *digest = NULL;
    if (ff_msg_recv (reply, dealer) == 0 && ff_msg_type (reply) == FARFAN__MESSAGE_TYPE__DOCUMENT_STORED) {
        Farfan__DocumentStored *stored = farfan__document_stored__unpack (
            NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
        if (stored)
            digest = strdup (stored->digest);
        farfan__document_stored__free_unpacked (stored, NULL);
    }
    ff_msg_destroy (&reply);
    return digest;
}

//  Sends `batches` EXECUTEs (keeping `window` in flight) and waits for all
//  their BatchDones. Returns the wall time in ns, or 0 on failure; adds up
//  the results and cache hits seen.
//  *results counts OK results (from the BatchDone summaries).
static uint64_t
s_execute (zsock_t *dealer, char **ids, size_t per_batch, size_t batches, size_t window,
           const char *digest, bool no_cache, uint64_t *results, uint64_t *from_cache)
{
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = per_batch;
    execute.input_digest = (char *) (digest ? digest : "");
    execute.no_cache = no_cache;
    ff_msg_t *reply = ff_msg_new ();
    uint64_t started = ff_bench_now_ns ();
    size_t sent = 0, done = 0;
    while (done < batches) {
        while (sent < batches && sent - done < window) {
            s_send (dealer, FARFAN__MESSAGE_TYPE__EXECUTE, &execute.base);
            sent++;
        }
        if (ff_msg_recv (reply, dealer) != 0) {
            ff_msg_destroy (&reply);
            return 0;
        }
        uint32_t type = ff_msg_type (reply);
        if (type == FARFAN__MESSAGE_TYPE__RESULT)
            continue;
        if (type == FARFAN__MESSAGE_TYPE__BATCH_DONE) {
            Farfan__BatchDone *summary = farfan__batch_done__unpack (NULL, ff_msg_body_size (reply),
                                                                     ff_msg_body_data (reply));
            if (summary) {
                *from_cache += summary->from_cache;
                *results += summary->ok;
            }
            farfan__batch_done__free_unpacked (summary, NULL);
            done++;
        }
        else {
            fprintf (stderr, "bench_factory: unexpected %s: %s\n",
                     ff_msg_type_name (type), ff_msg_status_message (reply));
            ff_msg_destroy (&reply);
            return 0;
        }
    }
    ff_msg_destroy (&reply);
    return ff_bench_now_ns () - started;
}

//  The plan text: the real one when present.
static char *
s_plan_text (size_t *size, const char **name)
{
    static const char *paths [] = {
        FF_BENCH_SOURCE_ROOT "/../shared/farfan-upstream/plans/Plan_1.txt",
        FF_BENCH_SOURCE_ROOT "/tests/data/methods_es.txt",
    };
    for (size_t i = 0; i < 2; i++) {
        FILE *file = fopen (paths [i], "rb");
        if (!file)
            continue;
        fseek (file, 0, SEEK_END);
        long length = ftell (file);
        fseek (file, 0, SEEK_SET);
        char *text = (char *) malloc ((size_t) length + 1);
        *size = text ? fread (text, 1, (size_t) length, file) : 0;
        fclose (file);
        if (text)
            text [*size] = '\0';
        *name = i == 0 ? "Plan_1.txt (78 pages, real)" : "tests/data/methods_es.txt (Plan_1.txt absent)";
        return text;
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  1. Waiting contracts vs Python's thread pool

static void
s_bench_wait (ff_bench_t *bench, size_t count)
{
    char *dir = ff_bench_dir_new ("factory");
    if (!dir || s_write_set (dir, count, s_wait_contract) != 0) {
        ff_bench_fail (bench, "wait: cannot write contracts");
        ff_bench_dir_destroy (&dir);
        return;
    }
    //  The upstream approach, same count, same process tree.
    char script [512];
    snprintf (script, sizeof script,
              "import time, concurrent.futures as f\n"
              "with f.ThreadPoolExecutor(max_workers=%d) as pool:\n"
              "    list(pool.map(lambda i: time.sleep(1.0), range(%zu)))\n", S_WAIT_WORKERS, count);
    char *argv [] = { "python3", "-c", script, NULL };
    pid_t pid;
    uint64_t started = ff_bench_now_ns ();
    int status = -1;
    if (posix_spawn (&pid, "/usr/bin/python3", NULL, NULL, argv, environ) == 0)
        waitpid (pid, &status, 0);
    uint64_t python_ns = ff_bench_now_ns () - started;
    if (status == 0)
        ff_bench_recordf (bench, "python.threadpool8.wait", (double) python_ns / 1e9, "s", NULL,
                          "%zu x time.sleep(1) on ThreadPoolExecutor(8), /usr/bin/python3", count);
    else
        ff_bench_fail (bench, "wait: /usr/bin/python3 baseline failed (status %d)", status);
    ff_bench_recordf (bench, "sequential.wait", (double) count, "s", NULL,
                      "%zu x 1 s one after another: arithmetic, not measured", count);

    s_factory_t factory;
    char workers [8];
    snprintf (workers, sizeof workers, "%d", S_WAIT_WORKERS);
    if (s_factory_start (&factory, dir, workers, 30000, "20") == 0) {
        char **ids = ff_bench_ids_new ("WAIT", count, 3);
        uint64_t results = 0, hits = 0;
        uint64_t ns = s_execute (factory.dealer, ids, count, 1, 1, NULL, true, &results, &hits);
        if (ns && results == count) {
            ff_bench_recordf (bench, "factory.wait", (double) ns / 1e9, "s",
                              status == 0 ? "python.threadpool8.wait" : NULL,
                              "%zu contracts of io.wait 1000 ms, max_workers %d; target <= 1.15 s",
                              count, S_WAIT_WORKERS);
            ff_bench_recordf (bench, "factory.wait.vs_sequential", (double) ns / 1e9, "s",
                              "sequential.wait", "same run, against the arithmetic");
        }
        else
            ff_bench_fail (bench, "wait: %llu of %zu results", (unsigned long long) results, count);
        ff_bench_ids_destroy (ids, count);
        s_factory_stop (&factory);
    }
    ff_bench_dir_destroy (&dir);
}

//  ---------------------------------------------------------------------
//  2 and 3. CPU-bound contracts: cache and scaling

//  The CPU-bound set: upstream questions and patterns when present, else
//  generated. Says which in *what.
static int
s_write_cpu_set (const char *dir, size_t count, char *what, size_t what_size)
{
    size_t skipped = 0;
    size_t patterns = s_write_upstream_set (dir, count, &skipped);
    if (patterns) {
        snprintf (what, what_size, "upstream questions, %zu patterns (%zu references skipped)",
                  patterns, skipped);
        return 0;
    }
    snprintf (what, what_size, "generated contracts of 6 patterns (upstream data absent)");
    return s_write_set (dir, count, s_cpu_contract);
}

static void
s_bench_cpu (ff_bench_t *bench, size_t count, const char *text, size_t size, const char *text_name)
{
    char *dir = ff_bench_dir_new ("factory");
    char what [160];
    if (!dir || s_write_cpu_set (dir, count, what, sizeof what) != 0) {
        ff_bench_fail (bench, "cpu: cannot write contracts");
        ff_bench_dir_destroy (&dir);
        return;
    }
    printf ("bench factory: CPU-bound set: %s\n", what);
    char **ids = ff_bench_ids_new ("CPU", count, 3);
    //  Scaling: the same work, no cache, 1 worker then 2, interleaved by
    //  rounds so both see the same background load.
    ff_bench_samples_t *one = ff_bench_samples_new (0), *two = ff_bench_samples_new (0);
    s_factory_t w1, w2;
    int rounds = ff_bench_rounds (bench);
    if (s_factory_start (&w1, dir, "1", 60000, "20") == 0) {
        if (s_factory_start (&w2, dir, "2", 60000, "20") == 0) {
            char *d1 = s_put_document (w1.dealer, text, size);
            char *d2 = s_put_document (w2.dealer, text, size);
            uint64_t results = 0, hits = 0;
            //  Warm-up: compile the contracts on both.
            s_execute (w1.dealer, ids, count, 1, 1, d1, true, &results, &hits);
            s_execute (w2.dealer, ids, count, 1, 1, d2, true, &results, &hits);
            for (int r = 0; r < rounds && d1 && d2; r++) {
                results = 0;
                uint64_t ns1 = s_execute (w1.dealer, ids, count, 1, 1, d1, true, &results, &hits);
                uint64_t ns2 = s_execute (w2.dealer, ids, count, 1, 1, d2, true, &results, &hits);
                if (!ns1 || !ns2 || results != 2 * count) {
                    ff_bench_fail (bench, "scaling: a pass failed (%llu of %zu ok)",
                                   (unsigned long long) results, 2 * count);
                    break;
                }
                ff_bench_samples_add (one, ns1);
                ff_bench_samples_add (two, ns2);
            }
            if (ff_bench_samples_count (one) == (size_t) rounds) {
                ff_bench_record_rounds (bench, "factory.cpu.workers1", count, one, "contracts/s",
                                        NULL, text_name);
                ff_bench_record_rounds (bench, "factory.cpu.workers2", count, two, "contracts/s",
                                        "factory.cpu.workers1", "target >= 1.7x");
            }
            free (d1);
            free (d2);
            s_factory_stop (&w2);
        }
        s_factory_stop (&w1);
    }
    ff_bench_samples_destroy (&one);
    ff_bench_samples_destroy (&two);

    //  Cache: a fresh factory, the same document twice.
    s_factory_t factory;
    if (s_factory_start (&factory, dir, "2", 60000, "20") == 0) {
        char *digest = s_put_document (factory.dealer, text, size);
        uint64_t results = 0, hits_first = 0, hits_second = 0;
        uint64_t first = s_execute (factory.dealer, ids, count, 1, 1, digest, false, &results, &hits_first);
        uint64_t second = s_execute (factory.dealer, ids, count, 1, 1, digest, false, &results, &hits_second);
        if (first && second && results == 2 * count) {
            ff_bench_recordf (bench, "factory.cache.first_pass", (double) first / 1e6, "ms", NULL,
                              "%zu CPU-bound contracts, %s, nothing cached", count, text_name);
            ff_bench_recordf (bench, "factory.cache.second_pass", (double) second / 1e6, "ms",
                              "factory.cache.first_pass", "same document again; target >= 50x faster");
            ff_bench_recordf (bench, "factory.cache.second_pass.hits", 100.0 * (double) hits_second
                              / (double) count, "%", NULL, "%llu of %zu from the result cache; "
                              "target >= 99 %%", (unsigned long long) hits_second, count);
        }
        else
            ff_bench_fail (bench, "cache: a pass failed (%llu of %zu ok)",
                           (unsigned long long) results, 2 * count);
        free (digest);
        s_factory_stop (&factory);
    }
    ff_bench_ids_destroy (ids, count);
    ff_bench_dir_destroy (&dir);
}

//  ---------------------------------------------------------------------
//  4. No-op contracts: the factory's own overhead

//  One figure: no-op batches through a factory started with the given
//  inline_below_us ("0": every contract of a pooled batch goes through a
//  worker; default: measured-instant contracts run inline).
static void
s_bench_noop_path (ff_bench_t *bench, const char *dir, size_t batches, const char *name,
                   const char *inline_below_us, const char *note)
{
    s_factory_t factory;
    const char *workers = getenv ("FF_BENCH_WORKERS") ? getenv ("FF_BENCH_WORKERS") : "2";
    if (s_factory_start (&factory, dir, workers, 30000, inline_below_us) != 0) {
        ff_bench_fail (bench, "%s: cannot start the factory", name);
        return;
    }
    char **ids = ff_bench_ids_new ("NOOP", S_NOOP_BATCH, 3);
    uint64_t results = 0, hits = 0;
    s_execute (factory.dealer, ids, S_NOOP_BATCH, 10, S_NOOP_WINDOW, NULL, true, &results, &hits);
    int rounds = ff_bench_rounds (bench);
    size_t per_round = batches / (size_t) rounds ? batches / (size_t) rounds : 1;
    ff_bench_samples_t *durations = ff_bench_samples_new (0);
    for (int r = 0; r < rounds; r++) {
        results = 0;
        uint64_t ns = s_execute (factory.dealer, ids, S_NOOP_BATCH, per_round, S_NOOP_WINDOW,
                                 NULL, true, &results, &hits);
        if (!ns || results != per_round * S_NOOP_BATCH) {
            ff_bench_fail (bench, "%s: round %d incomplete", name, r);
            break;
        }
        ff_bench_samples_add (durations, ns);
    }
    if (ff_bench_samples_count (durations) == (size_t) rounds)
        ff_bench_record_rounds (bench, name, per_round * S_NOOP_BATCH, durations,
                                "contracts/s", FF_BENCH_ZMQ_PIPE, note);
    ff_bench_samples_destroy (&durations);
    ff_bench_ids_destroy (ids, S_NOOP_BATCH);
    s_factory_stop (&factory);
}

static void
s_bench_noop (ff_bench_t *bench, size_t total)
{
    char *dir = ff_bench_dir_new ("factory");
    if (!dir || s_write_set (dir, S_NOOP_BATCH, s_noop_contract) != 0) {
        ff_bench_fail (bench, "noop: cannot write contracts");
        ff_bench_dir_destroy (&dir);
        return;
    }
    size_t batches = total / S_NOOP_BATCH ? total / S_NOOP_BATCH : 1;
    ff_bench_zmq_pipelined (bench, FF_BENCH_ZMQ_PIPE, 1, batches * S_NOOP_BATCH, FF_BENCH_ZMQ_WINDOW, NULL);
    s_bench_noop_path (bench, dir, batches, "factory.noop", "20",
                       "batches of 100, 4 in flight, result cache off, measured-instant contracts "
                       "inline (default); target >= 100000/s");
    s_bench_noop_path (bench, dir, batches, "factory.noop.pool", "0",
                       "the same with --inline-below-us 0: every contract handed to a worker");
    ff_bench_dir_destroy (&dir);
}

//  ---------------------------------------------------------------------
//  5. Memory of the real daemon

//  Peak resident set (VmHWM) of pid in MB, or NAN.
static double
s_peak_rss_mb (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    double value = NAN;
    char line [256];
    while (file && fgets (line, sizeof line, file)) {
        long kb;
        if (sscanf (line, "VmHWM: %ld kB", &kb) == 1)
            value = (double) kb / 1024.0;
    }
    if (file)
        fclose (file);
    return value;
}

//  Starts farfan-factory on an ephemeral port; returns its pid and endpoint.
static pid_t
s_daemon_start (const char *dir, char *endpoint, size_t endpoint_size)
{
    int fds [2];
    if (pipe (fds) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, fds [1], 1);
    posix_spawn_file_actions_addclose (&actions, fds [0]);
    char *argv [] = { "farfan-factory", "--endpoint", "@tcp://127.0.0.1:*", "--orchestrator-endpoint", "",
                      "--sisas-endpoint", "", "--http-port", "0", "--contracts-dir", (char *) dir,
                      "--max-workers", "2", NULL };
    pid_t pid = -1;
    int rc = posix_spawn (&pid, FF_BENCH_BUILD_ROOT "/services/farfan-factory", &actions, NULL,
                          argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (fds [1]);
    if (rc != 0) {
        close (fds [0]);
        return -1;
    }
    //  The first info line names the endpoints: "direct=tcp://...".
    FILE *out = fdopen (fds [0], "r");
    char line [1024];
    *endpoint = '\0';
    while (out && fgets (line, sizeof line, out)) {
        char *found = strstr (line, "direct=");
        if (found) {
            sscanf (found + 7, "%127s", endpoint);
            break;
        }
    }
    if (out)
        fclose (out);           //  the daemon's later stdout writes get EPIPE: ignored
    return pid;
}

static double
s_daemon_rss (ff_bench_t *bench, const char *dir, const char *text, size_t size,
              char **ids, size_t count)
{
    char endpoint [128];
    pid_t pid = s_daemon_start (dir, endpoint, sizeof endpoint);
    if (pid <= 0 || !*endpoint) {
        ff_bench_fail (bench, "memory: cannot start farfan-factory");
        if (pid > 0) {
            kill (pid, SIGKILL);
            waitpid (pid, NULL, 0);
        }
        return NAN;
    }
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_rcvtimeo (dealer, 60000);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", endpoint);
    double rss = NAN;
    if (count) {
        char *digest = s_put_document (dealer, text, size);
        uint64_t results = 0, hits = 0;
        if (digest && s_execute (dealer, ids, count, 1, 1, digest, false, &results, &hits))
            rss = s_peak_rss_mb (pid);
        free (digest);
    }
    else {
        Farfan__Ping ping = FARFAN__PING__INIT;
        s_send (dealer, FARFAN__MESSAGE_TYPE__PING, &ping.base);
        zmsg_t *pong = zmsg_recv (dealer);
        if (pong)
            rss = s_peak_rss_mb (pid);
        zmsg_destroy (&pong);
    }
    zsock_destroy (&dealer);
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
    return rss;
}

static void
s_bench_memory (ff_bench_t *bench, size_t count, const char *text, size_t size, const char *text_name)
{
    char *empty = ff_bench_dir_new ("factory");
    char *dir = ff_bench_dir_new ("factory");
    char what [160];
    if (!empty || !dir || s_write_cpu_set (dir, count, what, sizeof what) != 0) {
        ff_bench_fail (bench, "memory: cannot write contracts");
        ff_bench_dir_destroy (&empty);
        ff_bench_dir_destroy (&dir);
        return;
    }
    char **ids = ff_bench_ids_new ("CPU", count, 3);
    double idle = s_daemon_rss (bench, empty, text, size, NULL, 0);
    double loaded = s_daemon_rss (bench, dir, text, size, ids, count);
    if (isfinite (idle))
        ff_bench_record (bench, "factory.rss.empty", idle, "MB", NULL,
                         "farfan-factory with no contract, after one PING (VmHWM)");
    if (isfinite (loaded))
        ff_bench_recordf (bench, "factory.rss.loaded", loaded, "MB", "factory.rss.empty",
                          "%zu contracts loaded and compiled, %s cached, every contract run; "
                          "target <= 32 MB", count, text_name);
    ff_bench_ids_destroy (ids, count);
    ff_bench_dir_destroy (&empty);
    ff_bench_dir_destroy (&dir);
}

int
main (int argc, char **argv)
{
    int rc = 0;
    ff_bench_t *bench = ff_bench_start ("factory", argc, argv, &rc);
    if (!bench)
        return rc;
    ff_log_init ("bench", FF_LOG_ERROR);
    signal (SIGPIPE, SIG_IGN);
    size_t contracts = ff_bench_scaled (bench, S_CONTRACTS, 8);
    size_t text_size = 0;
    const char *text_name = "";
    char *text = s_plan_text (&text_size, &text_name);
    if (!text) {
        fprintf (stderr, "bench_factory: no plan text found\n");
        ff_bench_destroy (&bench);
        return 1;
    }
    printf ("bench factory: scale %g, %zu contracts, document %s (%zu bytes)\n",
            ff_bench_scale (bench), contracts, text_name, text_size);
    fflush (stdout);

    //  FF_BENCH_ONLY=wait|cpu|noop|memory runs one scenario (for profiling).
    const char *only = getenv ("FF_BENCH_ONLY");
    if (!only || streq (only, "wait"))
        s_bench_wait (bench, contracts);
    if (!only || streq (only, "cpu"))
        s_bench_cpu (bench, contracts, text, text_size, text_name);
    if (!only || streq (only, "noop"))
        s_bench_noop (bench, ff_bench_scaled (bench, S_NOOP_TOTAL, S_NOOP_BATCH * 5));
    if (!only || streq (only, "memory"))
        s_bench_memory (bench, contracts, text, text_size, text_name);

    free (text);
    rc = ff_bench_finish (bench);
    ff_bench_destroy (&bench);
    return rc ? 1 : 0;
}
