#include "orc_server.h"
#include "fac_contract.h"
#include "ff_clock.h"
#include "ff_log.h"
#include "orc_engine.h"
#include "orc_registry.h"
#include "orc_store.h"

#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>

static const ff_config_key_t s_keys [] = {
    FF_SERVICE_CONFIG_KEYS (orc_config_t, service, "9550"),
    { "client_endpoint", FF_CONFIG_ENDPOINT, offsetof (orc_config_t, client_endpoint),
      "@tcp://*:5550", 1, 0, "client API (ROUTER) for farfanctl and other services" },
    { "worker_endpoint", FF_CONFIG_ENDPOINT, offsetof (orc_config_t, worker_endpoint),
      "@tcp://*:5551", 1, 0, "worker API (ROUTER) factories connect and register to" },
    { "heartbeat_ms", FF_CONFIG_INT, offsetof (orc_config_t, heartbeat_ms),
      "1000", 10, 3600000, "heartbeat interval on the worker API, both ways (factories adopt it)" },
    { "liveness", FF_CONFIG_INT, offsetof (orc_config_t, liveness),
      "3", 1, 1000, "missed heartbeat intervals before a factory is given up on" },
    { "max_factories", FF_CONFIG_INT, offsetof (orc_config_t, max_factories),
      "1024", 1, 1000000, "factories registered at once (READY beyond is refused OVERLOADED)" },
    { "sisas_endpoint", FF_CONFIG_ENDPOINT, offsetof (orc_config_t, sisas_endpoint),
      ">tcp://127.0.0.1:5570", 0, 0, "SISAS ingest to publish signals to (empty = off)" },
    { "sisas_control_endpoint", FF_CONFIG_ENDPOINT, offsetof (orc_config_t, sisas_control_endpoint),
      ">tcp://127.0.0.1:5571", 0, 0, "SISAS delivery socket whose THROTTLE / BACKPRESSURE the "
      "signal publisher obeys (empty = ignore them)" },
    { "data_dir", FF_CONFIG_STRING, offsetof (orc_config_t, data_dir),
      "farfan-data", 1, 0, "directory of the durable store (orchestrator.db, SQLite WAL)" },
    { "contracts_dir", FF_CONFIG_STRING, offsetof (orc_config_t, contracts_dir),
      "", 0, 0, "directory of the default contract set, for runs that name none (empty = none: "
      "every phase is skipped)" },
    { "contract_sets_dir", FF_CONFIG_STRING, offsetof (orc_config_t, contract_sets_dir),
      "", 0, 0, "directory whose subdirectories are the contract sets runs may name "
      "(SubmitRun.contract_set; empty = names refused, absolute paths only)" },
    { "contract_set_cache", FF_CONFIG_INT, offsetof (orc_config_t, contract_set_cache),
      "8", 0, 10000, "contract sets no run holds kept loaded, to share with the next run naming them" },
    { "retries", FF_CONFIG_INT, offsetof (orc_config_t, retries),
      "2", 0, 100, "extra attempts of a failed contract, on another factory when there is one" },
    { "align_timeout_ms", FF_CONFIG_INT, offsetof (orc_config_t, align_timeout_ms),
      "5000", 1, 3600000, "SYNC / PLAN answers waited for before a phase starts without them" },
    { "watch_interval_ms", FF_CONFIG_INT, offsetof (orc_config_t, watch_interval_ms),
      "200", 1, 3600000, "least time between two PROGRESS messages of a run" },
    { "default_batch_size", FF_CONFIG_INT, offsetof (orc_config_t, default_batch_size),
      "32", 1, 100000, "contracts per EXECUTE when a factory recommends none" },
    { "pdftotext", FF_CONFIG_STRING, offsetof (orc_config_t, pdftotext),
      "/usr/bin/pdftotext", 1, 0, "PDF to text converter (poppler)" },
    { "convert_timeout_ms", FF_CONFIG_INT, offsetof (orc_config_t, convert_timeout_ms),
      "120000", 1, 3600000, "time limit of a PDF conversion" },
    { "document_max_bytes", FF_CONFIG_INT, offsetof (orc_config_t, document_max_bytes),
      "67108864", 1, 1099511627776.0, "largest document accepted (file and text), bytes" },
    { "snapshot_interval_ms", FF_CONFIG_INT, offsetof (orc_config_t, snapshot_interval_ms),
      "30000", 0, 86400000, "how often every factory's snapshot is taken and stored (0 = never)" },
};

const ff_config_schema_t orc_config_schema = {
    .program = "farfan-orchestrator",
    .service = "orchestrator",
    .summary = "Runs documents through FARFAN phases P00-P09 across factories.",
    .keys = s_keys,
    .key_count = sizeof s_keys / sizeof s_keys [0],
};

struct orc_server {
    ff_service_t *service;          // identity, metrics, HTTP, loop, sockets
    ff_publisher_t *publisher;      // signals to SISAS (the service's); NULL when off
    orc_registry_t *registry;       // factories registered on the worker socket
    orc_store_t *store;             // runs, results, snapshots
    orc_sets_t *sets;               // the default contract set and those runs name
    orc_engine_t *engine;           // runs
    uint64_t snapshot_sequence;     // correlation ids of SNAPSHOT requests
};

static void
s_handle_submit (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__SubmitRun *submit = (Farfan__SubmitRun *) ff_rpc_unpack (rpc, request, &farfan__submit_run__descriptor);
    if (!submit)
        return;
    //  A client's resend keeps its correlation id (PROTOCOL.md §7).
    const char *correlation_id = ff_msg_correlation_id (request);
    char key [512];
    bool keyed = correlation_id && *correlation_id;
    if (keyed)
        snprintf (key, sizeof key, "%s\x1f%s", ff_msg_sender_id (request), correlation_id);
    orc_engine_submit (self->engine, submit, keyed ? key : NULL, ff_rpc_defer (rpc, request));
    farfan__submit_run__free_unpacked (submit, NULL);
}

static void
s_handle_status (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__RunRef *ref = (Farfan__RunRef *) ff_rpc_unpack (rpc, request, &farfan__run_ref__descriptor);
    if (!ref)
        return;
    Farfan__RunStatus status;
    if (orc_engine_status (self->engine, ref->run_id, &status) == 0) {
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__RUN_STATUS, &status.base);
        orc_engine_status_free (&status);
    }
    else
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__NOT_FOUND, "no run %s", ref->run_id);
    farfan__run_ref__free_unpacked (ref, NULL);
}

static void
s_handle_watch (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__RunRef *ref = (Farfan__RunRef *) ff_rpc_unpack (rpc, request, &farfan__run_ref__descriptor);
    if (!ref)
        return;
    orc_engine_watch (self->engine, ref->run_id, ff_rpc_defer (rpc, request));
    farfan__run_ref__free_unpacked (ref, NULL);
}

static void
s_handle_results (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__ResultsRequest *results = (Farfan__ResultsRequest *)
        ff_rpc_unpack (rpc, request, &farfan__results_request__descriptor);
    if (!results)
        return;
    orc_engine_results (self->engine, results, rpc, request);
    farfan__results_request__free_unpacked (results, NULL);
}

static void
s_handle_report (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__ReportRequest *report = (Farfan__ReportRequest *)
        ff_rpc_unpack (rpc, request, &farfan__report_request__descriptor);
    if (!report)
        return;
    orc_engine_report (self->engine, report, rpc, request);
    farfan__report_request__free_unpacked (report, NULL);
}

static void
s_handle_cancel (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__RunRef *ref = (Farfan__RunRef *) ff_rpc_unpack (rpc, request, &farfan__run_ref__descriptor);
    if (!ref)
        return;
    int rc = orc_engine_cancel (self->engine, ref->run_id);
    Farfan__RunStatus status;
    if (rc >= 0 && orc_engine_status (self->engine, ref->run_id, &status) == 0) {
        ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__CANCELLED, &status.base);
        orc_engine_status_free (&status);
    }
    else
        ff_rpc_reply_error (rpc, request, FARFAN__ERROR_CODE__NOT_FOUND, "no run %s", ref->run_id);
    farfan__run_ref__free_unpacked (ref, NULL);
}

static void
s_handle_list (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__ListRequest *list_request = (Farfan__ListRequest *)
        ff_rpc_unpack (rpc, request, &farfan__list_request__descriptor);
    if (!list_request)
        return;
    Farfan__RunList list;
    orc_engine_list (self->engine, list_request->limit, &list);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__RUN_LIST, &list.base);
    orc_engine_list_free (&list);
    farfan__list_request__free_unpacked (list_request, NULL);
}

typedef struct {
    orc_server_t *server;
    Farfan__FactoryList *list;
    size_t capacity;
} s_factories_t;

static void
s_list_factory (orc_factory_t *factory, void *arg)
{
    s_factories_t *context = (s_factories_t *) arg;
    if (context->list->n_factories == context->capacity)
        return;
    Farfan__FactoryInfo *info = (Farfan__FactoryInfo *) zmalloc (sizeof (Farfan__FactoryInfo));
    farfan__factory_info__init (info);
    info->instance_id = (char *) orc_factory_id (factory);
    info->capabilities = (Farfan__Capabilities *) orc_factory_capabilities (factory);
    orc_engine_factory_load (context->server->engine, orc_factory_id (factory),
                             &info->in_flight, &info->in_flight_cap);
    info->registered_at_us = orc_factory_registered_at_us (factory);
    info->last_heard_us = orc_factory_last_heard_us (factory);
    context->list->factories [context->list->n_factories++] = info;
}

static void
s_handle_factories (ff_rpc_t *rpc, const ff_msg_t *request, void *service)
{
    orc_server_t *self = (orc_server_t *) service;
    Farfan__FactoriesRequest *factories_request = (Farfan__FactoriesRequest *)
        ff_rpc_unpack (rpc, request, &farfan__factories_request__descriptor);
    if (!factories_request)
        return;
    farfan__factories_request__free_unpacked (factories_request, NULL);
    Farfan__FactoryList list = FARFAN__FACTORY_LIST__INIT;
    size_t capacity = orc_registry_size (self->registry);
    list.factories = (Farfan__FactoryInfo **) calloc (capacity ? capacity : 1, sizeof (void *));
    s_factories_t context = { self, &list, list.factories ? capacity : 0 };
    orc_registry_foreach (self->registry, s_list_factory, &context);
    ff_rpc_reply (rpc, request, FARFAN__MESSAGE_TYPE__FACTORY_LIST, &list.base);
    for (size_t i = 0; i < list.n_factories; i++)
        free (list.factories [i]);
    free (list.factories);
}

//  Client API message types beyond PING (answered by ff_rpc).
static const ff_rpc_route_t s_client_routes [] = {
    { FARFAN__MESSAGE_TYPE__SUBMIT, s_handle_submit },
    { FARFAN__MESSAGE_TYPE__STATUS, s_handle_status },
    { FARFAN__MESSAGE_TYPE__WATCH, s_handle_watch },
    { FARFAN__MESSAGE_TYPE__RESULTS, s_handle_results },
    { FARFAN__MESSAGE_TYPE__REPORT, s_handle_report },
    { FARFAN__MESSAGE_TYPE__CANCEL, s_handle_cancel },
    { FARFAN__MESSAGE_TYPE__LIST, s_handle_list },
    { FARFAN__MESSAGE_TYPE__FACTORIES, s_handle_factories },
    { 0, NULL },
};

//  ---------------------------------------------------------------------
//  The registry's callbacks: factories come and go, replies go to the engine

static int
s_send_to_factory (void *arg, const char *factory_id, uint32_t type, const char *correlation_id,
                   const ProtobufCMessage *body)
{
    orc_server_t *self = (orc_server_t *) arg;
    orc_factory_t *factory = orc_registry_lookup (self->registry, factory_id);
    return factory ? orc_registry_send (self->registry, factory, type, correlation_id, body) : -1;
}

static bool
s_snapshot_follows (orc_registry_t *registry, orc_factory_t *factory, void *arg)
{
    (void) registry;
    orc_server_t *self = (orc_server_t *) arg;
    uint64_t taken = 0;
    uint8_t *packed = NULL;
    size_t size = 0;
    int found = orc_store_snapshot_get (self->store, orc_factory_id (factory), &taken, &packed, &size);
    free (packed);
    return found == 1;
}

static void
s_on_ready (orc_registry_t *registry, orc_factory_t *factory, void *arg)
{
    orc_server_t *self = (orc_server_t *) arg;
    //  Its last snapshot goes back first: the duration model and prewarm.
    uint64_t taken = 0;
    uint8_t *packed = NULL;
    size_t size = 0;
    if (orc_store_snapshot_get (self->store, orc_factory_id (factory), &taken, &packed, &size) == 1) {
        Farfan__Snapshot *snapshot = farfan__snapshot__unpack (NULL, size, packed);
        if (snapshot) {
            char correlation_id [96];
            snprintf (correlation_id, sizeof correlation_id, "%s-restore-%llu",
                      ff_service_info (self->service)->instance_id,
                      (unsigned long long) ++self->snapshot_sequence);
            orc_registry_send (registry, factory, FARFAN__MESSAGE_TYPE__RESTORE, correlation_id,
                               &snapshot->base);
            farfan__snapshot__free_unpacked (snapshot, NULL);
        }
    }
    free (packed);
    orc_engine_factory_ready (self->engine, orc_factory_id (factory));
}

static void
s_on_expired (orc_registry_t *registry, orc_factory_t *factory, orc_factory_end_t reason, void *arg)
{
    (void) registry;
    orc_server_t *self = (orc_server_t *) arg;
    char why [64];
    snprintf (why, sizeof why, "%s", orc_factory_end_name (reason));
    orc_engine_factory_gone (self->engine, orc_factory_id (factory), why);
}

static void
s_on_reply (orc_registry_t *registry, orc_factory_t *factory, const ff_msg_t *msg, void *arg)
{
    (void) registry;
    orc_server_t *self = (orc_server_t *) arg;
    uint32_t type = ff_msg_type (msg);
    if (type == FARFAN__MESSAGE_TYPE__SNAPSHOT_REPLY) {
        if (orc_store_snapshot_put (self->store, orc_factory_id (factory), ff_clock_wall_us (),
                                    ff_msg_body_data (msg), ff_msg_body_size (msg)) != 0)
            ff_log_warn ("cannot store the snapshot of %s: %s", orc_factory_id (factory),
                         orc_store_error (self->store));
        return;
    }
    if (type == FARFAN__MESSAGE_TYPE__RESTORE_REPLY)
        return;
    orc_engine_reply (self->engine, orc_factory_id (factory), msg);
}

static void
s_request_snapshot (orc_factory_t *factory, void *arg)
{
    orc_server_t *self = (orc_server_t *) arg;
    char correlation_id [96];
    snprintf (correlation_id, sizeof correlation_id, "%s-snapshot-%llu",
              ff_service_info (self->service)->instance_id,
              (unsigned long long) ++self->snapshot_sequence);
    Farfan__SnapshotRequest request = FARFAN__SNAPSHOT_REQUEST__INIT;
    orc_registry_send (self->registry, factory, FARFAN__MESSAGE_TYPE__SNAPSHOT, correlation_id,
                       &request.base);
}

static int
s_snapshot_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    orc_server_t *self = (orc_server_t *) arg;
    orc_registry_foreach (self->registry, s_request_snapshot, self);
    return 0;
}

//  Opens the store in data_dir, creating the directory when absent.
static orc_store_t *
s_open_store (const char *data_dir, char *err, size_t err_size)
{
    if (mkdir (data_dir, 0750) != 0 && errno != EEXIST) {
        snprintf (err, err_size, "data_dir %s: %s", data_dir, strerror (errno));
        return NULL;
    }
    char path [1024];
    snprintf (path, sizeof path, "%s/orchestrator.db", data_dir);
    return orc_store_open (path, err, err_size);
}

//  Worker API message types beyond PING.
static const ff_rpc_route_t s_worker_routes [] = {
    { 0, NULL },
};

orc_server_t *
orc_server_new (const orc_config_t *config, char *err, size_t err_size)
{
    orc_server_t *self = (orc_server_t *) zmalloc (sizeof (orc_server_t));
    self->service = ff_service_new ("orchestrator", &config->service, err, err_size);
    if (!self->service)
        goto failed;
    zsock_t *client = ff_service_socket (self->service, "client", ZMQ_ROUTER,
                                         config->client_endpoint, true, err, err_size);
    if (!client || !ff_service_serve (self->service, client, "client", s_client_routes, self))
        goto failed;
    zsock_t *worker = ff_service_socket (self->service, "worker", ZMQ_ROUTER,
                                         config->worker_endpoint, true, err, err_size);
    ff_rpc_t *worker_rpc = worker ? ff_service_serve (self->service, worker, "worker",
                                                      s_worker_routes, self) : NULL;
    if (!worker_rpc)
        goto failed;
    if (*config->sisas_endpoint) {
        self->publisher = ff_service_publisher (self->service, config->sisas_endpoint,
                                                config->sisas_control_endpoint, err, err_size);
        if (!self->publisher)
            goto failed;
    }
    self->store = s_open_store (config->data_dir, err, err_size);
    if (!self->store)
        goto failed;
    //  The default contract set (what is invalid in it is logged and left
    //  out); the sets runs name are loaded when they are submitted.
    //  exec's allow-list is each factory's business: the orchestrator
    //  accepts any absolute program, a factory refuses what it does not allow.
    static const char *const any_program [] = { "/" };
    static const fac_method_env_t env = { any_program, 1 };
    self->sets = orc_sets_new (config->contracts_dir, config->contract_sets_dir,
                               (size_t) config->contract_set_cache, &env, err, err_size);
    if (!self->sets)
        goto failed;
    orc_engine_options_t engine_options = {
        .retries = (uint32_t) config->retries,
        .align_timeout_ms = (uint32_t) config->align_timeout_ms,
        .watch_interval_ms = (uint32_t) config->watch_interval_ms,
        .default_batch_size = (uint32_t) config->default_batch_size,
        .document = {
            .pdftotext = config->pdftotext,
            .timeout_ms = (uint32_t) config->convert_timeout_ms,
            .max_bytes = (size_t) config->document_max_bytes,
        },
        .instance_id = ff_service_info (self->service)->instance_id,
        .send = s_send_to_factory,
        .send_arg = self,
    };
    self->engine = orc_engine_new (&engine_options, ff_service_loop (self->service), self->store,
                                   self->sets, self->publisher,
                                   ff_service_metrics (self->service), err, err_size);
    if (!self->engine)
        goto failed;
    orc_registry_options_t registry_options = {
        .heartbeat_ms = (uint64_t) config->heartbeat_ms,
        .liveness = (uint32_t) config->liveness,
        .max_factories = (size_t) config->max_factories,
    };
    orc_registry_callbacks_t callbacks = {
        .on_ready = s_on_ready,
        .on_expired = s_on_expired,
        .on_reply = s_on_reply,
        .snapshot_follows = s_snapshot_follows,
        .arg = self,
    };
    self->registry = orc_registry_new (self->service, worker_rpc, &registry_options, &callbacks,
                                       err, err_size);
    if (!self->registry)
        goto failed;
    if (config->snapshot_interval_ms > 0)
        zloop_timer (ff_service_loop (self->service), (size_t) config->snapshot_interval_ms, 0,
                     s_snapshot_timer, self);
    return self;

failed:
    orc_server_destroy (&self);
    return NULL;
}

void
orc_server_destroy (orc_server_t **self_p)
{
    if (self_p && *self_p) {
        orc_server_t *self = *self_p;
        //  Before the service: it tells the factories and needs the socket.
        //  Without callbacks first: the engine goes right after.
        if (self->registry)
            orc_registry_set_callbacks (self->registry, NULL);
        orc_registry_destroy (&self->registry);
        orc_engine_destroy (&self->engine);
        ff_service_destroy (&self->service);
        orc_store_close (&self->store);
        orc_sets_destroy (&self->sets);
        free (self);
        *self_p = NULL;
    }
}

void
orc_server_actor (zsock_t *pipe, void *args)
{
    orc_server_t *self = (orc_server_t *) args;
    ff_service_run (self->service, pipe);
    orc_server_destroy (&self);
}

static void *
s_daemon_server_new (const void *config, char *err, size_t err_size)
{
    return orc_server_new ((const orc_config_t *) config, err, err_size);
}

const ff_daemon_t orc_daemon = {
    .schema = &orc_config_schema,
    .config_size = sizeof (orc_config_t),
    .common_offset = offsetof (orc_config_t, service),
    .server_new = s_daemon_server_new,
    .actor = orc_server_actor,
};
