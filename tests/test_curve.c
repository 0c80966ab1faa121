/*  CURVE + ZAP on the services' TCP endpoints: a client without keys,
    with a wrong server key, or with a certificate outside the allowed
    directory gets no connection and nothing is processed (and the refusal
    is counted); an allowed client works — PING, a factory registering
    with a CURVE orchestrator and running a run, a publisher's signals
    reaching SISAS subscribers, farfanctl with --curve-cert. Configuration
    errors stop a service from starting, naming the key and the path.
    farfanctl keys generate writes loadable certificates and overwrites
    nothing. */
#include <criterion/criterion.h>
#include <math.h>
#include <sys/stat.h>

#include "ctl_command.h"
#include "fac_server.h"
#include "ff_client.h"
#include "ff_clock.h"
#include "ff_curve.h"
#include "ff_log.h"
#include "ff_publisher.h"
#include "ff_service.h"
#include "ff_signal.h"
#include "ff_test.h"
#include "orc_server.h"
#include "sis_server.h"

//  How long a refused client waits for an answer that must not come.
#define S_REFUSED_MS 400

//  ---------------------------------------------------------------------
//  Keys: a server certificate (every service), an allowed client, an
//  intruder (valid certificate, not in the allowed directory).

typedef struct {
    char dir [64];              // scratch root
    char keys [128];            // generated certificates
    char allowed [128];         // the allowed directory
    char path [8][256];         // scratch for s_key
} s_keys_t;

static const char *
s_key (s_keys_t *keys, int slot, const char *name, bool secret)
{
    snprintf (keys->path [slot], sizeof keys->path [slot], "%s/%s.cert%s", keys->keys, name,
              secret ? "_secret" : "");
    return keys->path [slot];
}

static void
s_copy (const char *from, const char *to)
{
    size_t size = 0;
    char *text = ff_test_read_file (from, &size);
    cr_assert_not_null (text, "%s", from);
    FILE *file = fopen (to, "w");
    cr_assert_not_null (file, "%s", to);
    cr_assert_eq (fwrite (text, 1, size, file), size);
    fclose (file);
    free (text);
}

static void
s_keys_make (s_keys_t *keys)
{
    snprintf (keys->dir, sizeof keys->dir, "/tmp/farfan-curve-test-XXXXXX");
    cr_assert_not_null (mkdtemp (keys->dir));
    snprintf (keys->keys, sizeof keys->keys, "%s/keys", keys->dir);
    snprintf (keys->allowed, sizeof keys->allowed, "%s/allowed", keys->dir);
    char *argv [] = { "keys", "generate", keys->keys, "server", "client", "intruder", NULL };
    cr_assert_eq (ctl_keys (6, argv), CTL_EXIT_OK);
    cr_assert_eq (mkdir (keys->allowed, 0700), 0);
    char to [256];
    snprintf (to, sizeof to, "%s/server.cert", keys->allowed);
    s_copy (s_key (keys, 7, "server", false), to);
    snprintf (to, sizeof to, "%s/client.cert", keys->allowed);
    s_copy (s_key (keys, 7, "client", false), to);
}

static void
s_keys_remove (s_keys_t *keys)
{
    ff_test_remove_dir (keys->dir);
}

//  A client-side CURVE setup; fails the test when it does not load.
static ff_curve_t *
s_client_curve (s_keys_t *keys, const char *own, const char *server)
{
    char err [512] = "";
    ff_curve_t *curve = ff_curve_new (s_key (keys, 0, own, true), NULL,
                                      s_key (keys, 1, server, false), "curve_",
                                      err, sizeof err);
    cr_assert_not_null (curve, "%s", err);
    return curve;
}

//  A DEALER to endpoint, CURVE client when curve is set.
static zsock_t *
s_dealer (const char *endpoint, ff_curve_t *curve)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    cr_assert_not_null (dealer);
    zsock_set_linger (dealer, 0);
    zsock_set_rcvtimeo (dealer, FF_TEST_TIMEOUT_MS);
    char err [512] = "";
    cr_assert_eq (ff_curve_attach (curve, dealer, endpoint, false, err, sizeof err), 0,
                  "%s", err);
    return dealer;
}

//  Starts name with CURVE: the server certificate for itself and for the
//  servers it connects to; up to four extra settings.
static ff_test_service_t *
s_start (s_keys_t *keys, const char *name, const char *a, const char *b, const char *c,
         const char *d)
{
    return ff_test_service_start (name, "--curve-cert", s_key (keys, 2, "server", true),
                                  "--curve-allowed-dir", keys->allowed,
                                  "--curve-server-cert", s_key (keys, 3, "server", false),
                                  a, b, c, d, NULL);
}

//  The sum of every sample of metric whose labels contain label (NULL:
//  all) in the service's /metrics page.
static double
s_metric_sum (ff_test_service_t *service, const char *metric, const char *label)
{
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (service), "/metrics", &status);
    cr_assert_not_null (page);
    cr_assert_eq (status, 200);
    double sum = 0;
    size_t size = strlen (metric);
    for (char *line = page; line && *line; ) {
        char *end = strchr (line, '\n');
        if (end)
            *end = '\0';
        if (strncmp (line, metric, size) == 0 && (line [size] == '{' || line [size] == ' ')
        &&  (!label || strstr (line, label))) {
            char *space = strrchr (line, ' ');
            if (space)
                sum += strtod (space + 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    free (page);
    return sum;
}

//  Waits (re-reading /metrics) until the sum reaches at least minimum;
//  fails the test at the deadline.
static void
s_wait_metric (ff_test_service_t *service, const char *metric, const char *label, double minimum)
{
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    double value;
    while ((value = s_metric_sum (service, metric, label)) < minimum) {
        cr_assert_lt (zclock_mono (), deadline, "%s{%s} = %g, expected >= %g", metric,
                      label ? label : "", value, minimum);
        zpoller_t *poller = zpoller_new (NULL);
        zpoller_wait (poller, 5);          //  re-read pacing, not a timing assumption
        zpoller_destroy (&poller);
    }
}

//  PING on a client that must not get through: no answer within
//  S_REFUSED_MS.
static void
s_assert_refused (const char *endpoint, ff_curve_t *curve, const char *who)
{
    zsock_t *dealer = s_dealer (endpoint, curve);
    ff_msg_t *reply = ff_test_call (dealer, FARFAN__MESSAGE_TYPE__PING, NULL, S_REFUSED_MS);
    cr_assert_null (reply, "%s got an answer from %s", who, endpoint);
    zsock_destroy (&dealer);
}

//  The three refused clients against one socket of service, then the
//  allowed one; the refusals are counted and nothing was handled before
//  the allowed client came.
static void
s_check_socket (s_keys_t *keys, ff_test_service_t *service, const char *socket)
{
    const char *endpoint = ff_test_service_endpoint (service, socket);
    char label [64];
    snprintf (label, sizeof label, "socket=\"%s\"", socket);

    s_assert_refused (endpoint, NULL, "a client without keys");
    ff_curve_t *wrong_server = s_client_curve (keys, "client", "intruder");
    s_assert_refused (endpoint, wrong_server, "a client with a wrong server key");
    ff_curve_destroy (&wrong_server);
    s_wait_metric (service, "farfan_auth_failures_total", label, 2);

    ff_curve_t *intruder = s_client_curve (keys, "intruder", "server");
    s_assert_refused (endpoint, intruder, "a client whose certificate is not allowed");
    ff_curve_destroy (&intruder);
    char auth_label [96];
    snprintf (auth_label, sizeof auth_label, "reason=\"auth\",socket=\"%s\"", socket);
    s_wait_metric (service, "farfan_auth_failures_total", auth_label, 1);

    cr_assert_eq (s_metric_sum (service, "farfan_requests_total", label), 0,
                  "the %s socket handled a request from a refused client", socket);

    ff_curve_t *client = s_client_curve (keys, "client", "server");
    zsock_t *dealer = s_dealer (endpoint, client);
    ff_test_assert_pings (dealer);
    zsock_destroy (&dealer);
    ff_curve_destroy (&client);
    cr_assert_eq (s_metric_sum (service, "farfan_requests_total", label), 1);
}

FF_TEST (curve, every_request_socket_refuses_unauthenticated_clients_and_serves_allowed_ones)
{
    s_keys_t keys;
    s_keys_make (&keys);
    static const struct { const char *service; const char *socket; } sockets [] = {
        { "orchestrator", "client" }, { "orchestrator", "worker" },
        { "factory", "direct" }, { "sisas", "control" },
    };
    for (size_t i = 0; i < sizeof sockets / sizeof sockets [0]; i++) {
        ff_test_service_t *service = s_start (&keys, sockets [i].service, NULL, NULL, NULL, NULL);
        s_check_socket (&keys, service, sockets [i].socket);
        ff_test_service_stop (&service);
    }
    s_keys_remove (&keys);
}

FF_TEST (curve, ff_client_with_the_process_default_reaches_a_secured_service)
{
    s_keys_t keys;
    s_keys_make (&keys);
    ff_test_service_t *service = s_start (&keys, "orchestrator", NULL, NULL, NULL, NULL);
    const char *endpoint = ff_test_service_endpoint (service, "client");
    char err [512] = "";

    //  No default: refused (times out).
    ff_client_t *plain = ff_client_new (endpoint, NULL, err, sizeof err);
    cr_assert_not_null (plain, "%s", err);
    ff_msg_t *reply = NULL;
    cr_assert_eq (ff_client_request (plain, FARFAN__MESSAGE_TYPE__PING, NULL, S_REFUSED_MS, 1,
                                     &reply, err, sizeof err), -1);
    ff_client_destroy (&plain);

    ff_curve_t *curve = s_client_curve (&keys, "client", "server");
    ff_curve_set_client_default (curve);
    cr_assert_eq (ff_curve_client_default (), curve);
    ff_client_t *secure = ff_client_new (endpoint, NULL, err, sizeof err);
    cr_assert_not_null (secure, "%s", err);
    cr_assert_eq (ff_client_request (secure, FARFAN__MESSAGE_TYPE__PING, NULL,
                                     FF_TEST_TIMEOUT_MS, 1, &reply, err, sizeof err), 0, "%s", err);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PONG);
    ff_msg_destroy (&reply);
    ff_client_destroy (&secure);
    ff_curve_destroy (&curve);
    cr_assert_null (ff_curve_client_default (), "destroying the default clears it");

    //  CURVE without the server's key: refused at creation, clearly.
    char cert [256];
    snprintf (cert, sizeof cert, "%s/client.cert_secret", keys.keys);
    curve = ff_curve_new (cert, NULL, NULL, "curve_", err, sizeof err);
    cr_assert_not_null (curve, "%s", err);
    cr_assert_null (ff_client_new_secure (endpoint, NULL, curve, err, sizeof err));
    cr_assert (strstr (err, "curve_server_cert"), "%s", err);
    ff_curve_destroy (&curve);

    ff_test_service_stop (&service);
    s_keys_remove (&keys);
}

//  ---------------------------------------------------------------------
//  Factories and the orchestrator

static const char *s_contract =
    "{\"format\":\"farfan-contract/1\",\"id\":\"Q1\",\"version\":\"1\",\"type\":\"micro\","
    "\"identity\":{\"policy_area\":\"PA01\",\"dimension\":\"DIM01\",\"base_question\":\"Q001\"},"
    "\"applicable_phases\":[\"P02\"],\"inputs\":{\"document\":true},"
    "\"patterns\":[{\"id\":\"year\",\"regex\":\"\\\\b20\\\\d{2}\\\\b\",\"element_type\":\"años\"}],"
    "\"expected_elements\":[{\"type\":\"años\",\"minimum\":2}],"
    "\"methods\":[{\"method\":\"text.match_patterns\"},{\"method\":\"text.count_elements\"},"
    "{\"method\":\"score.modality\"}],\"scoring\":{\"modality\":\"TYPE_A\"}}";

//  Asks the orchestrator until it lists count factories (or the deadline).
static void
s_wait_factories (zsock_t *client, size_t count)
{
    int64_t deadline = zclock_mono () + 10000;
    size_t registered;
    while ((registered = ff_test_factory_count (client)) != count) {
        cr_assert_lt (zclock_mono (), deadline, "%zu of %zu factories registered",
                      registered, count);
        zpoller_t *poller = zpoller_new (NULL);
        zpoller_wait (poller, 10);         //  re-ask pacing, not a timing assumption
        zpoller_destroy (&poller);
    }
}

FF_TEST_OPTS (curve, a_factory_registers_with_a_curve_orchestrator_and_runs_work, .timeout = 120)
{
    s_keys_t keys;
    s_keys_make (&keys);
    char contracts [256];
    snprintf (contracts, sizeof contracts, "%s/contracts", keys.dir);
    cr_assert_eq (mkdir (contracts, 0700), 0);
    char path [300];
    snprintf (path, sizeof path, "%s/q1.json", contracts);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fputs (s_contract, file);
    fclose (file);

    ff_test_service_t *orchestrator = s_start (&keys, "orchestrator", "--contracts-dir", contracts,
                                               "--heartbeat-ms", "100");
    char link [128];
    snprintf (link, sizeof link, ">%s", ff_test_service_endpoint (orchestrator, "worker"));
    ff_curve_t *curve = s_client_curve (&keys, "client", "server");
    zsock_t *client = s_dealer (ff_test_service_endpoint (orchestrator, "client"), curve);

    //  A factory without CURVE never registers; the refusal is counted.
    ff_test_service_t *plain = ff_test_service_start ("factory", "--orchestrator-endpoint", link,
                                                      "--heartbeat-ms", "100", NULL);
    s_wait_metric (orchestrator, "farfan_auth_failures_total", "socket=\"worker\"", 1);
    cr_assert_eq (ff_test_factory_count (client), 0);
    ff_test_service_stop (&plain);

    //  One with the server's key and an allowed certificate does.
    ff_test_service_t *factory = s_start (&keys, "factory", "--orchestrator-endpoint", link,
                                          "--heartbeat-ms", "100");
    s_wait_factories (client, 1);
    char *run_id = ff_test_submit (client, "curve plan",
                                   "Según el DANE (2019) y (2020) la tasa subió.", "P02", "P02", 0);
    Farfan__RunStatus *status = ff_test_watch (client, run_id, 60000, NULL);
    cr_assert_eq (status->state, FARFAN__RUN_STATE__RUN_SUCCEEDED, "%s", status->error);
    farfan__run_status__free_unpacked (status, NULL);
    Farfan__RunResults *results = ff_test_results (client, run_id, NULL);
    cr_assert_eq (results->n_results, 1);
    cr_assert_eq (results->results [0]->status, FARFAN__RESULT_STATUS__RESULT_OK, "%s",
                  results->results [0]->error);
    farfan__run_results__free_unpacked (results, NULL);
    free (run_id);

    zsock_destroy (&client);
    ff_curve_destroy (&curve);
    ff_test_service_stop (&factory);
    ff_test_service_stop (&orchestrator);
    s_keys_remove (&keys);
}

//  ---------------------------------------------------------------------
//  Signals

static ff_publisher_t *
s_publisher (const char *endpoint, ff_curve_t *curve, const char *source)
{
    char connect [160];
    snprintf (connect, sizeof connect, ">%s", endpoint);
    ff_publisher_options_t options = {
        .endpoint = connect,
        .source = source,
        .sndhwm = 1000,
        .max_msg_size = 65536,
        .curve = curve,
    };
    char err [512] = "";
    ff_publisher_t *publisher = ff_publisher_new (&options, NULL, err, sizeof err);
    cr_assert_not_null (publisher, "%s", err);
    return publisher;
}

static int
s_publish (ff_publisher_t *publisher, const char *type)
{
    ff_signal_t signal;
    ff_signal_init (&signal);
    snprintf (signal.type, sizeof signal.type, "%s", type);
    return ff_publisher_send (publisher, &signal);
}

FF_TEST (curve, signals_from_an_allowed_publisher_reach_allowed_subscribers_only)
{
    s_keys_t keys;
    s_keys_make (&keys);
    ff_test_service_t *sisas = s_start (&keys, "sisas", NULL, NULL, NULL, NULL);
    const char *ingest = ff_test_service_endpoint (sisas, "ingest");
    const char *publish = ff_test_service_endpoint (sisas, "publish");
    ff_curve_t *curve = s_client_curve (&keys, "client", "server");
    ff_curve_t *intruder = s_client_curve (&keys, "intruder", "server");

    //  Subscribers: one allowed, one not, one without keys.
    zsock_t *subscribers [3];
    ff_curve_t *subscriber_curves [3] = { curve, intruder, NULL };
    for (int i = 0; i < 3; i++) {
        subscribers [i] = zsock_new (ZMQ_SUB);
        zsock_set_linger (subscribers [i], 0);
        zsock_set_subscribe (subscribers [i], "curve.");
        char err [512] = "";
        cr_assert_eq (ff_curve_attach (subscriber_curves [i], subscribers [i], publish,
                                       false, err, sizeof err), 0, "%s", err);
    }
    //  The allowed subscription arrives, the others are refused (counted).
    s_wait_metric (sisas, "farfan_sisas_subscribed_topics", NULL, 1);
    s_wait_metric (sisas, "farfan_auth_failures_total", "socket=\"publish\"", 2);

    //  Publishers without keys / not allowed: SISAS never subscribes to
    //  them, so nothing leaves (dropped as no_peer) and nothing arrives.
    ff_publisher_t *refused [2] = {
        s_publisher (ingest, NULL, "curve-test/plain"),
        s_publisher (ingest, intruder, "curve-test/intruder"),
    };
    for (int i = 0; i < 2; i++) {
        cr_assert_not (ff_publisher_wait_connected (refused [i], S_REFUSED_MS));
        cr_assert_eq (s_publish (refused [i], "curve.refused"), -1);
    }
    s_wait_metric (sisas, "farfan_auth_failures_total", "socket=\"ingest\"", 2);
    cr_assert_eq (s_metric_sum (sisas, "farfan_signals_received_total", NULL), 0);

    ff_publisher_t *allowed = s_publisher (ingest, curve, "curve-test/allowed");
    cr_assert (ff_publisher_wait_connected (allowed, FF_TEST_TIMEOUT_MS));
    cr_assert_eq (s_publish (allowed, "curve.ok"), 0);

    zsock_set_rcvtimeo (subscribers [0], FF_TEST_TIMEOUT_MS);
    zmsg_t *delivered = zmsg_recv (subscribers [0]);
    cr_assert_not_null (delivered, "the allowed subscriber got nothing");
    char *topic = zmsg_popstr (delivered);
    cr_assert_str_eq (topic, "curve.ok");
    free (topic);
    zmsg_destroy (&delivered);
    for (int i = 1; i < 3; i++) {
        zsock_set_rcvtimeo (subscribers [i], S_REFUSED_MS);
        zmsg_t *leaked = zmsg_recv (subscribers [i]);
        cr_assert_null (leaked, "refused subscriber %d got a signal", i);
    }
    cr_assert_eq (s_metric_sum (sisas, "farfan_signals_received_total", NULL), 1);

    ff_publisher_destroy (&allowed);
    for (int i = 0; i < 2; i++)
        ff_publisher_destroy (&refused [i]);
    for (int i = 0; i < 3; i++)
        zsock_destroy (&subscribers [i]);
    ff_curve_destroy (&intruder);
    ff_curve_destroy (&curve);
    ff_test_service_stop (&sisas);
    s_keys_remove (&keys);
}

FF_TEST (curve, a_service_publisher_reaches_a_curve_sisas)
{
    s_keys_t keys;
    s_keys_make (&keys);
    ff_test_service_t *sisas = s_start (&keys, "sisas", NULL, NULL, NULL, NULL);
    char ingest [160];
    snprintf (ingest, sizeof ingest, ">%s", ff_test_service_endpoint (sisas, "ingest"));
    //  A service's publisher (the orchestrator's and the factory's run
    //  events) takes the service's CURVE setup.
    ff_service_config_t config = {
        .log_level = FF_LOG_WARN, .instance_id = "curve-test", .http_address = "127.0.0.1",
        .http_port = 0, .hwm = 1000, .max_msg_size = 65536, .reply_stall_ms = 1000,
        .curve_cert = (char *) s_key (&keys, 4, "server", true),
        .curve_allowed_dir = keys.allowed,
        .curve_server_cert = (char *) s_key (&keys, 5, "server", false),
    };
    char err [512] = "";
    ff_service_t *service = ff_service_new ("orchestrator", &config, err, sizeof err);
    cr_assert_not_null (service, "%s", err);
    cr_assert_not_null (ff_service_curve (service));
    ff_publisher_t *publisher = ff_service_publisher (service, ingest, NULL, err, sizeof err);
    cr_assert_not_null (publisher, "%s", err);
    cr_assert (ff_publisher_wait_connected (publisher, FF_TEST_TIMEOUT_MS));
    cr_assert_eq (s_publish (publisher, "curve.service"), 0);
    s_wait_metric (sisas, "farfan_signals_received_total", NULL, 1);
    cr_assert_eq (s_metric_sum (sisas, "farfan_auth_failures_total", "socket=\"ingest\""), 0);
    ff_service_destroy (&service);
    ff_test_service_stop (&sisas);
    s_keys_remove (&keys);
}

//  ---------------------------------------------------------------------
//  Configuration errors

//  Starts a factory actor's server with these CURVE settings directly and
//  expects it to refuse with an error containing both needles.
static void
s_assert_refuses (const char *cert, const char *allowed, const char *server,
                  const char *needle1, const char *needle2)
{
    fac_config_t config;
    memset (&config, 0, sizeof config);
    char *argv [] = { "factory", "--endpoint", "@tcp://127.0.0.1:*", "--http-port", "0",
                      "--orchestrator-endpoint", "", "--sisas-endpoint", "",
                      "--curve-cert", (char *) cert, "--curve-allowed-dir", (char *) allowed,
                      "--curve-server-cert", (char *) server, NULL };
    char err [512] = "";
    cr_assert_eq (ff_config_load (&fac_config_schema, &config, 15, argv, stdout, err, sizeof err),
                  FF_CONFIG_LOADED, "%s", err);
    fac_server_t *server_p = fac_server_new (&config, err, sizeof err);
    cr_assert_null (server_p, "started with cert \"%s\" allowed \"%s\" server \"%s\"",
                    cert, allowed, server);
    cr_assert (strstr (err, needle1) && strstr (err, needle2), "\"%s\" lacks \"%s\" / \"%s\"",
               err, needle1, needle2);
    ff_config_free (&fac_config_schema, &config);
}

FF_TEST (curve, configuration_errors_stop_the_service_naming_the_key_and_path)
{
    s_keys_t keys;
    s_keys_make (&keys);
    char missing [256], secret [256], public [256], not_dir [256];
    snprintf (missing, sizeof missing, "%s/missing.cert_secret", keys.keys);
    snprintf (secret, sizeof secret, "%s/server.cert_secret", keys.keys);
    snprintf (public, sizeof public, "%s/server.cert", keys.keys);
    snprintf (not_dir, sizeof not_dir, "%s/client.cert", keys.allowed);

    s_assert_refuses (missing, keys.allowed, public, "curve_cert", missing);
    s_assert_refuses (public, keys.allowed, public, "curve_cert", "no secret key");
    s_assert_refuses (secret, "/nonexistent/allowed", public, "curve_allowed_dir",
                      "/nonexistent/allowed");
    s_assert_refuses (secret, not_dir, public, "curve_allowed_dir", "not a directory");
    s_assert_refuses (secret, "", public, "curve_allowed_dir", "required");
    s_assert_refuses (secret, keys.allowed, missing, "curve_server_cert", missing);
    s_assert_refuses ("", keys.allowed, "", "curve_allowed_dir", "curve_cert");
    s_assert_refuses ("", "", public, "curve_server_cert", "curve_cert");
    //  A file that is no certificate at all.
    char bogus [256];
    snprintf (bogus, sizeof bogus, "%s/bogus", keys.dir);
    FILE *file = fopen (bogus, "w");
    fputs ("just text\n", file);
    fclose (file);
    s_assert_refuses (bogus, keys.allowed, public, "curve_cert", "not a CURVE certificate");
    s_keys_remove (&keys);
}

//  ---------------------------------------------------------------------
//  farfanctl

static int
s_farfanctl (char *const argv [], char *const env [], ff_test_process_t **process_p)
{
    char program [512];
    *process_p = ff_test_spawn (ff_test_build_path ("services/farfanctl", program, sizeof program),
                                argv, env);
    return ff_test_process_wait_exit (*process_p, 60000);
}

FF_TEST (curve, keys_generate_writes_loadable_certificates_and_never_overwrites)
{
    char dir [] = "/tmp/farfan-curve-keys-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char keys [64];
    snprintf (keys, sizeof keys, "%s/k", dir);
    char *argv [] = { "farfanctl", "keys", "generate", keys, "alpha", "beta", NULL };
    ff_test_process_t *process = NULL;
    cr_assert_eq (s_farfanctl (argv, NULL, &process), 0, "%s", ff_test_process_stderr (process));
    ff_test_process_destroy (&process);

    const char *names [] = { "alpha", "beta" };
    char first_public [2][41];
    for (int i = 0; i < 2; i++) {
        char public [128], secret [128];
        snprintf (public, sizeof public, "%s/%s.cert", keys, names [i]);
        snprintf (secret, sizeof secret, "%s/%s.cert_secret", keys, names [i]);
        struct stat st;
        cr_assert_eq (stat (secret, &st), 0);
        cr_assert_eq (st.st_mode & 0777, 0600, "secret file mode %o", st.st_mode & 0777);
        //  Loadable as the process's own certificate (secret) and as a
        //  server certificate (public); the public file has no secret.
        char err [512] = "";
        ff_curve_t *curve = ff_curve_new (secret, NULL, public, "curve_", err, sizeof err);
        cr_assert_not_null (curve, "%s", err);
        snprintf (first_public [i], sizeof first_public [i], "%s", ff_curve_public_key (curve));
        ff_curve_destroy (&curve);
        zcert_t *cert = zcert_load (secret);
        cr_assert_not_null (cert);
        cr_assert_str_eq (zcert_public_txt (cert), first_public [i]);
        cr_assert_str_eq (zcert_meta (cert, "name"), names [i]);
        zcert_destroy (&cert);
        char *text = ff_test_read_file (public, NULL);
        cr_assert_not_null (text);
        cr_assert_null (strstr (text, "secret-key"), "the public file holds a secret key");
        free (text);
        cr_assert_null (ff_curve_new (public, NULL, NULL, "curve_", err, sizeof err));
        cr_assert (strstr (err, "no secret key"), "%s", err);
    }
    cr_assert_str_neq (first_public [0], first_public [1]);

    //  Again with one existing name: refused, nothing written or changed.
    char *again [] = { "farfanctl", "keys", "generate", keys, "gamma", "beta", NULL };
    cr_assert_eq (s_farfanctl (again, NULL, &process), 1);
    cr_assert (strstr (ff_test_process_stderr (process), "beta.cert exists"), "%s",
               ff_test_process_stderr (process));
    ff_test_process_destroy (&process);
    char gamma [128];
    snprintf (gamma, sizeof gamma, "%s/gamma.cert", keys);
    struct stat st;
    cr_assert_neq (stat (gamma, &st), 0, "gamma was written although beta exists");
    char beta [128];
    snprintf (beta, sizeof beta, "%s/beta.cert_secret", keys);
    zcert_t *cert = zcert_load (beta);
    cr_assert_str_eq (zcert_public_txt (cert), first_public [1], "beta was overwritten");
    zcert_destroy (&cert);

    //  Usage errors.
    char *bad_name [] = { "farfanctl", "keys", "generate", keys, "../evil", NULL };
    cr_assert_eq (s_farfanctl (bad_name, NULL, &process), 2);
    ff_test_process_destroy (&process);
    char *no_name [] = { "farfanctl", "keys", "generate", keys, NULL };
    cr_assert_eq (s_farfanctl (no_name, NULL, &process), 2);
    ff_test_process_destroy (&process);
    ff_test_remove_dir (dir);
}

FF_TEST (curve, farfanctl_pings_a_secured_service_with_flags_or_environment)
{
    s_keys_t keys;
    s_keys_make (&keys);
    ff_test_service_t *service = s_start (&keys, "orchestrator", NULL, NULL, NULL, NULL);
    const char *endpoint = ff_test_service_endpoint (service, "client");
    char cert [256], server [256];
    snprintf (cert, sizeof cert, "%s/client.cert_secret", keys.keys);
    snprintf (server, sizeof server, "%s/server.cert", keys.keys);
    ff_test_process_t *process = NULL;

    char *plain [] = { "farfanctl", "ping", "orchestrator", "--endpoint", (char *) endpoint,
                       "--timeout", "300", "--retries", "1", NULL };
    cr_assert_eq (s_farfanctl (plain, NULL, &process), CTL_EXIT_UNREACHABLE, "%s",
                  ff_test_process_stdout (process));
    ff_test_process_destroy (&process);

    char *flags [] = { "farfanctl", "--curve-cert", cert, "ping", "orchestrator",
                       "--endpoint", (char *) endpoint, "--curve-server-cert", server, NULL };
    cr_assert_eq (s_farfanctl (flags, NULL, &process), 0, "%s", ff_test_process_stderr (process));
    cr_assert (strstr (ff_test_process_stdout (process), "orchestrator"));
    ff_test_process_destroy (&process);

    char env_cert [300], env_server [300];
    snprintf (env_cert, sizeof env_cert, "FARFAN_CTL_CURVE_CERT=%s", cert);
    snprintf (env_server, sizeof env_server, "FARFAN_CTL_CURVE_SERVER_CERT=%s", server);
    char *const env [] = { env_cert, env_server, NULL };
    char *by_env [] = { "farfanctl", "ping", "orchestrator", "--endpoint", (char *) endpoint, NULL };
    cr_assert_eq (s_farfanctl (by_env, env, &process), 0, "%s", ff_test_process_stderr (process));
    ff_test_process_destroy (&process);

    //  A client certificate outside the allowed directory: no answer.
    char intruder [256];
    snprintf (intruder, sizeof intruder, "%s/intruder.cert_secret", keys.keys);
    char *refused [] = { "farfanctl", "ping", "orchestrator", "--endpoint", (char *) endpoint,
                         "--curve-cert", intruder, "--curve-server-cert", server,
                         "--timeout", "300", "--retries", "1", NULL };
    cr_assert_eq (s_farfanctl (refused, NULL, &process), CTL_EXIT_UNREACHABLE);
    ff_test_process_destroy (&process);

    //  Bad flags: a clear usage error naming the flag.
    char *public_as_own [] = { "farfanctl", "ping", "orchestrator", "--curve-cert", server, NULL };
    cr_assert_eq (s_farfanctl (public_as_own, NULL, &process), CTL_EXIT_USAGE);
    cr_assert (strstr (ff_test_process_stderr (process), "--curve-cert"), "%s",
               ff_test_process_stderr (process));
    ff_test_process_destroy (&process);
    char *no_server [] = { "farfanctl", "ping", "orchestrator", "--endpoint", (char *) endpoint,
                           "--curve-cert", cert, NULL };
    cr_assert_eq (s_farfanctl (no_server, NULL, &process), CTL_EXIT_USAGE);
    cr_assert (strstr (ff_test_process_stderr (process), "--curve-server-cert"), "%s",
               ff_test_process_stderr (process));
    ff_test_process_destroy (&process);

    ff_test_service_stop (&service);
    s_keys_remove (&keys);
}

//  ---------------------------------------------------------------------
//  Limits (issue #8): contracts per request (factory), signals per second
//  per source (SISAS). max_msg_size and document_max_bytes are covered
//  by test_services / test_wire and test_factory / test_ctl_factory.

FF_TEST (limits, the_factory_refuses_requests_naming_more_than_max_contracts_per_request)
{
    ff_test_service_t *factory = ff_test_service_start ("factory",
        "--max-contracts-per-request", "2", NULL);
    zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (factory, "direct"));

    char *three [] = { (char *) s_contract, (char *) s_contract, (char *) s_contract };
    Farfan__PutContracts put = FARFAN__PUT_CONTRACTS__INIT;
    put.contracts_json = three;
    put.n_contracts_json = 3;
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &put.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert (strstr (ff_msg_status_message (reply), "max_contracts_per_request (2)"), "%s",
               ff_msg_status_message (reply));
    ff_msg_destroy (&reply);

    //  Within the limit: applied.
    put.n_contracts_json = 1;
    reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__PUT_CONTRACTS, &put.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__PUT_CONTRACTS_REPLY, "%s",
                  ff_msg_status_message (reply));
    ff_msg_destroy (&reply);

    char *ids [] = { "Q1", "Q1", "Q1" };
    Farfan__Execute execute = FARFAN__EXECUTE__INIT;
    execute.contract_ids = ids;
    execute.n_contract_ids = 3;
    reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__EXECUTE, &execute.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__ERROR);
    cr_assert_eq (ff_msg_status_code (reply), FARFAN__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert (strstr (ff_msg_status_message (reply), "EXECUTE names 3 contracts"), "%s",
               ff_msg_status_message (reply));
    cr_assert (strstr (ff_msg_status_message (reply), "max_contracts_per_request (2)"));
    ff_msg_destroy (&reply);

    //  The refusals are counted as error replies.
    cr_assert_eq (s_metric_sum (factory, "farfan_request_errors_total",
                                "code=\"INVALID_ARGUMENT\""), 2);
    ff_test_assert_pings (dealer);
    zsock_destroy (&dealer);
    ff_test_service_stop (&factory);
}

FF_TEST (limits, sisas_sheds_a_source_over_source_rate_limit_and_counts_it)
{
    ff_test_service_t *sisas = ff_test_service_start ("sisas", "--source-rate-limit", "5",
        "--no-fusion-enabled", "--no-storm-enabled", NULL);
    const char *ingest = ff_test_service_endpoint (sisas, "ingest");
    ff_publisher_t *noisy = s_publisher (ingest, NULL, "limits/noisy");
    ff_publisher_t *quiet = s_publisher (ingest, NULL, "limits/quiet");
    cr_assert (ff_publisher_wait_connected (noisy, FF_TEST_TIMEOUT_MS));
    cr_assert (ff_publisher_wait_connected (quiet, FF_TEST_TIMEOUT_MS));

    uint64_t started = ff_clock_mono_us ();
    for (int i = 0; i < 50; i++)
        cr_assert_eq (s_publish (noisy, "limits.noisy"), 0);
    cr_assert_eq (s_publish (quiet, "limits.quiet"), 0);
    s_wait_metric (sisas, "farfan_signals_received_total", NULL, 51);
    double seconds = (double) (ff_clock_mono_us () - started) / 1e6;

    double shed = s_metric_sum (sisas, "farfan_signals_shed_total", "reason=\"source_rate\"");
    double delivered = s_metric_sum (sisas, "farfan_signals_delivered_total", NULL);
    //  Every signal is either delivered or shed for its source's rate.
    cr_assert_eq (shed + delivered, 51, "shed %g + delivered %g", shed, delivered);
    //  The noisy source got its burst (5) plus what the elapsed time
    //  earned, no more; the quiet one was not held back by it.
    cr_assert_leq (50 - shed, 5 + 5 * seconds + 1, "noisy delivered %g in %.3f s",
                   50 - shed, seconds);
    cr_assert_geq (delivered, 5 + 1);

    ff_publisher_destroy (&quiet);
    ff_publisher_destroy (&noisy);
    ff_test_service_stop (&sisas);
}

FF_TEST (curve, ipc_endpoints_of_a_curve_socket_stay_null_tcp_ones_do_not)
{
    s_keys_t keys;
    s_keys_make (&keys);
    char err [512] = "";
    ff_curve_t *server = ff_curve_new (s_key (&keys, 0, "server", true), keys.allowed, NULL,
                                       "curve_", err, sizeof err);
    cr_assert_not_null (server, "%s", err);
    //  tcp first (CURVE), then ipc: the options set for tcp must not
    //  carry over to the ipc endpoint.
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (router, 0);
    zsock_set_rcvtimeo (router, S_REFUSED_MS);
    cr_assert_eq (ff_curve_attach (server, router, "tcp://127.0.0.1:*", true,
                                   err, sizeof err), 0, "%s", err);
    char *tcp = zsock_last_endpoint (router);
    char ipc [256];
    snprintf (ipc, sizeof ipc, "ipc://%s/sock", keys.dir);
    cr_assert_eq (ff_curve_attach (server, router, ipc, true, err, sizeof err), 0,
                  "%s", err);

    zsock_t *plain_tcp = s_dealer (tcp, NULL);
    cr_assert_eq (zstr_send (plain_tcp, "over tcp"), 0);
    zmsg_t *msg = zmsg_recv (router);
    cr_assert_null (msg, "a client without keys got through over tcp");
    zsock_t *plain_ipc = s_dealer (ipc, NULL);
    cr_assert_eq (zstr_send (plain_ipc, "over ipc"), 0);
    zsock_set_rcvtimeo (router, FF_TEST_TIMEOUT_MS);
    msg = zmsg_recv (router);
    cr_assert_not_null (msg, "a client without keys was refused over ipc");
    zmsg_destroy (&msg);

    zstr_free (&tcp);
    zsock_destroy (&plain_ipc);
    zsock_destroy (&plain_tcp);
    zsock_destroy (&router);
    ff_curve_destroy (&server);
    s_keys_remove (&keys);
}
