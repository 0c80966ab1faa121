/*  gen_seeds — writes the seed corpora of fuzz_rpc and fuzz_signal
    (tests/fuzz/corpus/<target>/) from messages built with the project's
    own encoders: protobuf-c for the control plane, ff_signal_encode for
    signals. Run from the fuzz build (see README.md):

        build-fuzz/tests/fuzz/gen_seeds tests/fuzz/corpus

    The input formats are described in fuzz_rpc.c and fuzz_signal.c.
    Existing files of the same name are overwritten; nothing else is
    touched.
*/
#include <czmq.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.pb-c.h"
#include "factory.pb-c.h"
#include "ff_msg.h"
#include "ff_signal.h"
#include "orchestrator.pb-c.h"
#include "sisas.pb-c.h"

static const char *s_root;

static void
s_write (const char *target, const char *name, const uint8_t *data, size_t size)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s/%s", s_root, target, name);
    FILE *file = fopen (path, "wb");
    if (!file || (size && fwrite (data, 1, size, file) != size) || fclose (file) != 0) {
        fprintf (stderr, "gen_seeds: cannot write %s\n", path);
        exit (1);
    }
}

//  Index of a message type among farfan.MessageType's values (fuzz_rpc's
//  typed mode names types by index).
static uint8_t
s_type_index (uint32_t type)
{
    const ProtobufCEnumDescriptor *types = &farfan__message_type__descriptor;
    for (unsigned i = 0; i < types->n_values; i++)
        if ((uint32_t) types->values [i].value == type)
            return (uint8_t) i;
    fprintf (stderr, "gen_seeds: type %u unknown\n", type);
    exit (1);
}

//  A typed fuzz_rpc seed: [socket][type index][variant 0][body].
static void
s_typed (int socket, uint32_t type, const ProtobufCMessage *body, const char *tag)
{
    size_t size = body ? protobuf_c_message_get_packed_size (body) : 0;
    uint8_t *seed = (uint8_t *) malloc (3 + size);
    seed [0] = (uint8_t) socket;
    seed [1] = s_type_index (type);
    seed [2] = 0;
    if (body)
        protobuf_c_message_pack (body, seed + 3);
    char name [128];
    snprintf (name, sizeof name, "s%d-%s%s%s", socket, ff_msg_type_name (type), tag ? "-" : "",
              tag ? tag : "");
    s_write ("fuzz_rpc", name, seed, 3 + size);
    free (seed);
}

//  A raw fuzz_rpc seed: [socket | 4] then frames [len LE16][bytes].
static void
s_raw (int socket, const char *name, const uint8_t *const frames [], const size_t sizes [],
       size_t count)
{
    uint8_t seed [4096];
    size_t at = 0;
    seed [at++] = (uint8_t) (socket | 4);
    for (size_t i = 0; i < count; i++) {
        seed [at++] = (uint8_t) (sizes [i] & 0xff);
        seed [at++] = (uint8_t) (sizes [i] >> 8);
        memcpy (seed + at, frames [i], sizes [i]);
        at += sizes [i];
    }
    s_write ("fuzz_rpc", name, seed, at);
}

static size_t
s_envelope (uint32_t type, const char *correlation, uint8_t *out)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = FF_PROTOCOL_VERSION;
    envelope.type = (Farfan__MessageType) type;
    envelope.correlation_id = (char *) correlation;
    envelope.sender_id = "seed";
    return farfan__envelope__pack (&envelope, out);
}

static void
s_rpc_seeds (void)
{
    //  Every request type of every socket with an empty body (proto3
    //  defaults: each handler's validation of a blank request).
    static const struct { int socket; uint32_t type; } empty [] = {
        { 0, FARFAN__MESSAGE_TYPE__PING }, { 0, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT },
        { 0, FARFAN__MESSAGE_TYPE__EXECUTE }, { 0, FARFAN__MESSAGE_TYPE__CAPABILITIES },
        { 0, FARFAN__MESSAGE_TYPE__METRICS }, { 0, FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES },
        { 0, FARFAN__MESSAGE_TYPE__SYNC }, { 0, FARFAN__MESSAGE_TYPE__PLAN },
        { 0, FARFAN__MESSAGE_TYPE__SNAPSHOT }, { 0, FARFAN__MESSAGE_TYPE__RESTORE },
        { 0, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS },
        { 1, FARFAN__MESSAGE_TYPE__SUBMIT }, { 1, FARFAN__MESSAGE_TYPE__STATUS },
        { 1, FARFAN__MESSAGE_TYPE__WATCH }, { 1, FARFAN__MESSAGE_TYPE__RESULTS },
        { 1, FARFAN__MESSAGE_TYPE__REPORT }, { 1, FARFAN__MESSAGE_TYPE__CANCEL },
        { 1, FARFAN__MESSAGE_TYPE__LIST }, { 1, FARFAN__MESSAGE_TYPE__FACTORIES },
        { 2, FARFAN__MESSAGE_TYPE__READY }, { 2, FARFAN__MESSAGE_TYPE__HEARTBEAT },
        { 2, FARFAN__MESSAGE_TYPE__DISCONNECT }, { 2, FARFAN__MESSAGE_TYPE__RESULT },
        { 2, FARFAN__MESSAGE_TYPE__BATCH_DONE }, { 2, FARFAN__MESSAGE_TYPE__SYNC_REPLY },
        { 3, FARFAN__MESSAGE_TYPE__SISAS_HEALTH }, { 3, FARFAN__MESSAGE_TYPE__SISAS_STATS },
        { 3, FARFAN__MESSAGE_TYPE__SISAS_PREDICT }, { 3, FARFAN__MESSAGE_TYPE__SISAS_ROUTE },
        { 3, FARFAN__MESSAGE_TYPE__SISAS_VEHICLES }, { 3, FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE },
        { 3, FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER },
        { 3, FARFAN__MESSAGE_TYPE__VEHICLE_HEARTBEAT },
        { 3, FARFAN__MESSAGE_TYPE__VEHICLE_UNREGISTER }, { 3, FARFAN__MESSAGE_TYPE__VEHICLE_ACK },
    };
    for (size_t i = 0; i < sizeof empty / sizeof empty [0]; i++)
        s_typed (empty [i].socket, empty [i].type, NULL, NULL);

    //  Real requests, as farfanctl and the services send them.
    Farfan__PutDocument put = FARFAN__PUT_DOCUMENT__INIT;
    static const char text [] = "Diagnóstico: según el DANE la cobertura rural fue 45 % en 2022.";
    put.content.data = (uint8_t *) text;
    put.content.len = sizeof text - 1;
    put.name = "plan.txt";
    s_typed (0, FARFAN__MESSAGE_TYPE__PUT_DOCUMENT, &put.base, "text");

    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    char *ids [] = { "Q001_PA01", "AGG_DIM01_PA01" };
    execute.n_contract_ids = 2;
    execute.contract_ids = ids;
    execute.input_digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    execute.params_json = "{\"max_matches\": 2}";
    execute.run_id = "seed-run";
    s_typed (0, FARFAN__MESSAGE_TYPE__EXECUTE, &execute.base, "ids");
    Farfan__Execute all = FARFAN__EXECUTE__INIT;
    all.all = true;
    all.phase = "P02";
    s_typed (0, FARFAN__MESSAGE_TYPE__EXECUTE, &all.base, "all");

    Farfan__PlanRequest plan = FARFAN__PLAN_REQUEST__INIT;
    plan.n_contract_ids = 1;
    plan.contract_ids = ids;
    plan.max_parallel = 2;
    s_typed (0, FARFAN__MESSAGE_TYPE__PLAN, &plan.base, "ids");

    Farfan__SyncRequest sync = FARFAN__SYNC_REQUEST__INIT;
    Farfan__ContractRef ref = FARFAN__CONTRACT_REF__INIT;
    ref.id = "Q001_PA01";
    ref.digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    Farfan__ContractRef *refs [] = { &ref };
    sync.run_id = "seed-run";
    sync.phase = "P02";
    sync.n_contracts = 1;
    sync.contracts = refs;
    sync.worker_budget = 4;
    s_typed (0, FARFAN__MESSAGE_TYPE__SYNC, &sync.base, "one");

    Farfan__PutContracts contracts = FARFAN__PUT_CONTRACTS__INIT;
    char *json [] = { (char *)
        "{\"format\":\"farfan-contract/1\",\"id\":\"T001_PA01\",\"version\":\"1\","
        "\"type\":\"micro\",\"applicable_phases\":[\"P02\"],"
        "\"identity\":{\"base_question\":\"Q001\",\"policy_area\":\"PA01\","
        "\"dimension\":\"DIM01\",\"cluster\":\"CL02\"},\"inputs\":{\"document\":true},"
        "\"patterns\":[{\"id\":\"P0\",\"regex\":\"DANE|fuente\",\"flags\":[\"IGNORECASE\"],"
        "\"element_type\":\"fuentes_oficiales\",\"weight\":0.9}],"
        "\"expected_elements\":[{\"type\":\"fuentes_oficiales\",\"minimum\":1}],"
        "\"methods\":[{\"method\":\"text.match_patterns\"}],\"timeout_ms\":1000}" };
    contracts.n_contracts_json = 1;
    contracts.contracts_json = json;
    s_typed (0, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &contracts.base, "one");

    Farfan__Snapshot snapshot = FARFAN__SNAPSHOT__INIT;
    char *hot [] = { "Q001_PA01" };
    snapshot.factory_id = "seed";
    snapshot.n_hot_contracts = 1;
    snapshot.hot_contracts = hot;
    s_typed (0, FARFAN__MESSAGE_TYPE__RESTORE, &snapshot.base, "hot");

    Farfan__OptimizeCaches optimize = FARFAN__OPTIMIZE_CACHES__INIT;
    optimize.apply = true;
    s_typed (0, FARFAN__MESSAGE_TYPE__OPTIMIZE_CACHES, &optimize.base, "apply");

    Farfan__SubmitRun submit = FARFAN__SUBMIT_RUN__INIT;
    submit.document.data = (uint8_t *) text;
    submit.document.len = sizeof text - 1;
    submit.media_type = "text/plain";
    submit.name = "seed";
    submit.first_phase = "P00";
    submit.last_phase = "P02";
    submit.worker_budget = 2;
    s_typed (1, FARFAN__MESSAGE_TYPE__SUBMIT, &submit.base, "text");

    Farfan__ResultsRequest results = FARFAN__RESULTS_REQUEST__INIT;
    results.run_id = "run-1";
    results.phase = "P02";
    s_typed (1, FARFAN__MESSAGE_TYPE__RESULTS, &results.base, "phase");

    Farfan__ListRequest list = FARFAN__LIST_REQUEST__INIT;
    list.limit = 5;
    s_typed (1, FARFAN__MESSAGE_TYPE__LIST, &list.base, "five");

    Farfan__Ready ready = FARFAN__READY__INIT;
    Farfan__Capabilities caps = FARFAN__CAPABILITIES__INIT;
    char *methods [] = { "text.match_patterns" };
    caps.factory_id = "seed-factory";
    caps.version = "0.1.0";
    caps.total_contracts = 3;
    caps.active_contracts = 3;
    caps.n_methods = 1;
    caps.methods = methods;
    caps.max_workers = 2;
    caps.health = "healthy";
    ready.capabilities = &caps;
    ready.heartbeat_ms = 1000;
    s_typed (2, FARFAN__MESSAGE_TYPE__READY, &ready.base, "caps");

    Farfan__VehicleRegister vehicle = FARFAN__VEHICLE_REGISTER__INIT;
    char *patterns [] = { "factory/*" };
    char *types [] = { "run.*" };
    vehicle.name = "seed-vehicle";
    vehicle.n_patterns = 1;
    vehicle.patterns = patterns;
    vehicle.n_types = 1;
    vehicle.types = types;
    vehicle.capacity = 16;
    s_typed (3, FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER, &vehicle.base, "globs");

    Farfan__SisasConfigure configure = FARFAN__SISAS_CONFIGURE__INIT;
    Farfan__SisasSetting setting = FARFAN__SISAS_SETTING__INIT;
    setting.key = "fusion_window_ms";
    setting.value = "250";
    Farfan__SisasSetting *settings [] = { &setting };
    configure.n_settings = 1;
    configure.settings = settings;
    s_typed (3, FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE, &configure.base, "window");

    //  Raw frames: a well-formed message, the REQ delimiter, an extra
    //  frame, an envelope alone, garbage.
    uint8_t envelope [256];
    size_t envelope_size = s_envelope (FARFAN__MESSAGE_TYPE__PING, "raw", envelope);
    Farfan__Ping ping = FARFAN__PING__INIT;
    ping.sent_at_us = 1700000000000000ull;
    uint8_t body [64];
    size_t body_size = farfan__ping__pack (&ping, body);
    for (int socket = 0; socket < 4; socket++) {
        char name [64];
        const uint8_t *two [] = { envelope, body };
        size_t two_sizes [] = { envelope_size, body_size };
        snprintf (name, sizeof name, "s%d-raw-ping", socket);
        s_raw (socket, name, two, two_sizes, 2);
        const uint8_t *three [] = { (const uint8_t *) "", envelope, body };
        size_t three_sizes [] = { 0, envelope_size, body_size };
        snprintf (name, sizeof name, "s%d-raw-delimited", socket);
        s_raw (socket, name, three, three_sizes, 3);
        const uint8_t *extra [] = { envelope, body, body };
        size_t extra_sizes [] = { envelope_size, body_size, body_size };
        snprintf (name, sizeof name, "s%d-raw-extra-frame", socket);
        s_raw (socket, name, extra, extra_sizes, 3);
        snprintf (name, sizeof name, "s%d-raw-envelope-only", socket);
        s_raw (socket, name, two, two_sizes, 1);
    }
    const uint8_t *garbage [] = { (const uint8_t *) "\x08\x01\x10\xff\xff\xff\xff\x0f" };
    size_t garbage_sizes [] = { 8 };
    s_raw (0, "s0-raw-bad-type", garbage, garbage_sizes, 1);
}

static void
s_signal (const char *name, const ff_signal_t *signal, const char *topic)
{
    uint8_t map [2048];
    size_t size = ff_signal_encode (signal, map, sizeof map);
    if (size > sizeof map)
        exit (1);
    uint8_t seed [4096];
    size_t topic_size = strlen (topic);
    seed [0] = (uint8_t) topic_size;
    memcpy (seed + 1, topic, topic_size);
    memcpy (seed + 1 + topic_size, map, size);
    s_write ("fuzz_signal", name, seed, 1 + topic_size + size);
}

static void
s_signal_seeds (void)
{
    ff_signal_t signal;
    ff_signal_init (&signal);
    snprintf (signal.id, sizeof signal.id, "factory-1/42");
    snprintf (signal.type, sizeof signal.type, "contract.completed");
    snprintf (signal.source, sizeof signal.source, "factory/factory-1");
    snprintf (signal.subject, sizeof signal.subject, "PA01/DIM01/Q001");
    signal.phase = 2;
    signal.confidence = 0.85;
    signal.ts_us = 1700000000000000ull;
    signal.seq = 42;
    s_signal ("minimal-fields", &signal, "contract.completed");
    //  payload {"score": 2.5, "tags": ["a", 1, nil, true]}
    static const uint8_t payload [] = {
        0x82, 0xa5, 's', 'c', 'o', 'r', 'e', 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0,
        0xa4, 't', 'a', 'g', 's', 0x94, 0xa1, 'a', 0x01, 0xc0, 0xc3,
    };
    signal.payload = payload;
    signal.payload_size = sizeof payload;
    //  extras {"x-trace": bin[2], "n": -5}
    static const uint8_t extra [] = {
        0xa7, 'x', '-', 't', 'r', 'a', 'c', 'e', 0xc4, 0x02, 0xde, 0xad, 0xa1, 'n', 0xfb,
    };
    signal.extra = extra;
    signal.extra_size = sizeof extra;
    signal.extra_count = 2;
    s_signal ("payload-extras", &signal, "contract.completed");
    s_signal ("topic-mismatch", &signal, "run.started");
    ff_signal_init (&signal);
    snprintf (signal.id, sizeof signal.id, "o/1");
    snprintf (signal.type, sizeof signal.type, "run.started");
    snprintf (signal.source, sizeof signal.source, "orchestrator/o");
    signal.ts_us = 1;
    signal.seq = UINT64_MAX;
    s_signal ("no-optional", &signal, "run.started");
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_seeds CORPUS_DIR (tests/fuzz/corpus)\n");
        return 2;
    }
    s_root = argv [1];
    char path [1024];
    snprintf (path, sizeof path, "%s/fuzz_rpc", s_root);
    zsys_dir_create ("%s", path);
    snprintf (path, sizeof path, "%s/fuzz_signal", s_root);
    zsys_dir_create ("%s", path);
    s_rpc_seeds ();
    s_signal_seeds ();
    return 0;
}
