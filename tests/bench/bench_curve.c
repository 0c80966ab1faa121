/*  bench_curve — what CURVE (encryption + ZAP authentication) costs.

    Two factories run in-process on tcp://127.0.0.1, one with NULL
    security and one with CURVE (curve_cert, curve_allowed_dir through
    zauth); a DEALER sends PING to each, sequentially and with 100 in
    flight. A raw DEALER -> ROUTER echo of 64 KiB messages, NULL vs CURVE,
    shows the per-byte cost of the encryption alone. Every CURVE figure is
    a ratio to the same measurement with NULL security in the same run:
      curve.ping.rtt.*     vs null.ping.rtt.*    (null: vs zmq.rtt.*)
      curve.ping.pipe100   vs null.ping.pipe100  (null: vs zmq.pipe100)
      curve.echo64k        vs null.echo64k       (MB/s, window 10)
    The handshake happens once per connection (before the first request)
    and is not in these figures.

    Usage: bench_curve [--scale X] [--output PATH] [--format tsv|jsonl]
                       [--timeout MS] [--rounds N]
*/
#include "ff_bench.h"
#include "ff_bench_zmq.h"

#include "bench_ping_support.h"
#include "bench_support.h"
#include "fac_server.h"
#include "ff_curve.h"
#include "ff_log.h"
#include "ff_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_ECHO_SIZE   (64 * 1024)
#define S_ECHO_WINDOW 10

typedef struct {
    char dir [64];              // scratch
    char server [128];          // server.cert (public); server.cert_secret beside it
    char server_secret [128];
    char client_secret [128];
    char allowed [128];
} s_keys_t;

static int
s_keys_make (s_keys_t *keys)
{
    snprintf (keys->dir, sizeof keys->dir, "/tmp/farfan-bench-curve-XXXXXX");
    if (!mkdtemp (keys->dir))
        return -1;
    snprintf (keys->allowed, sizeof keys->allowed, "%s/allowed", keys->dir);
    snprintf (keys->server, sizeof keys->server, "%s/server.cert", keys->dir);
    snprintf (keys->server_secret, sizeof keys->server_secret, "%s/server.cert_secret", keys->dir);
    snprintf (keys->client_secret, sizeof keys->client_secret, "%s/client.cert_secret", keys->dir);
    if (mkdir (keys->allowed, 0700) != 0)
        return -1;
    zcert_t *server = zcert_new ();
    zcert_t *client = zcert_new ();
    char path [160];
    int rc = 0;
    rc |= zcert_save (server, keys->server);
    snprintf (path, sizeof path, "%s/client.cert", keys->dir);
    rc |= zcert_save (client, path);
    snprintf (path, sizeof path, "%s/client.cert", keys->allowed);
    rc |= zcert_save_public (client, path);
    zcert_destroy (&server);
    zcert_destroy (&client);
    return rc;
}

static void
s_keys_remove (s_keys_t *keys)
{
    const char *files [] = { "server.cert", "server.cert_secret", "client.cert",
                             "client.cert_secret", "allowed/client.cert" };
    char path [200];
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        snprintf (path, sizeof path, "%s/%s", keys->dir, files [i]);
        unlink (path);
    }
    rmdir (keys->allowed);
    rmdir (keys->dir);
}

//  A factory actor on an ephemeral loopback port, with CURVE when keys is
//  set; writes its endpoint.
static zactor_t *
s_factory_start (s_keys_t *keys, fac_config_t *config, char *endpoint, size_t endpoint_size)
{
    const char *curve [] = { "--curve-cert", keys ? keys->server_secret : "",
                             "--curve-allowed-dir", keys ? keys->allowed : "" };
    return ff_bench_factory_start ("bench_curve", config, curve, 4, endpoint, endpoint_size);
}

//  prefix "null" or "curve"; baselines: the raw libzmq rows for null,
//  the null rows for curve.
static int
s_ping (ff_bench_t *bench, zsock_t *dealer, const char *prefix, size_t requests,
        size_t messages)
{
    bool curve = streq (prefix, "curve");
    char name [64], baseline [64];
    ff_msg_t *reply = ff_msg_new ();
    ff_bench_samples_t *samples = ff_bench_samples_new (requests);
    int rc = 0;
    //  The first request also waits for the handshake: outside the figures.
    if (ff_bench_ping_send (dealer, 0) != 0 || ff_bench_pong_recv (dealer, reply) != 0)
        rc = -1;
    uint64_t started = ff_bench_now_ns ();
    for (size_t i = 0; i < requests + requests / 10 && rc == 0; i++) {
        if (i == requests / 10) {
            ff_bench_samples_reset (samples);
            started = ff_bench_now_ns ();
        }
        uint64_t t0 = ff_bench_now_ns ();
        if (ff_bench_ping_send (dealer, i + 1) != 0 || ff_bench_pong_recv (dealer, reply) != 0)
            rc = -1;
        else
            ff_bench_samples_add (samples, ff_bench_now_ns () - t0);
    }
    if (rc == 0) {
        snprintf (name, sizeof name, "%s.ping.rtt", prefix);
        ff_bench_record_latency (bench, name, samples, curve ? "null.ping.rtt" : FF_BENCH_ZMQ_RTT);
        snprintf (name, sizeof name, "%s.ping.rtt.rate", prefix);
        snprintf (baseline, sizeof baseline, "%s", curve ? "null.ping.rtt.rate"
                                                         : FF_BENCH_ZMQ_RTT ".rate");
        ff_bench_record_rate (bench, name, requests, ff_bench_now_ns () - started, "req/s",
                              baseline);
    }
    int rounds = ff_bench_rounds (bench);
    size_t per_round = messages / (size_t) rounds;
    ff_bench_samples_t *durations = ff_bench_samples_new ((size_t) rounds);
    uint64_t sequence = 1000000;
    for (int round = 0; round < rounds && rc == 0; round++) {
        uint64_t t0 = ff_bench_now_ns ();
        size_t sent = 0, received = 0;
        while (received < per_round && rc == 0) {
            while (sent < per_round && sent - received < FF_BENCH_ZMQ_WINDOW)
                if (ff_bench_ping_send (dealer, sequence++) == 0)
                    sent++;
            if (ff_bench_pong_recv (dealer, reply) != 0)
                rc = -1;
            else
                received++;
        }
        ff_bench_samples_add (durations, ff_bench_now_ns () - t0);
    }
    if (rc == 0) {
        snprintf (name, sizeof name, "%s.ping.pipe100", prefix);
        ff_bench_record_rounds (bench, name, per_round, durations, "msg/s",
                                curve ? "null.ping.pipe100" : FF_BENCH_ZMQ_PIPE, "window=100");
    }
    else
        ff_bench_fail (bench, "%s: no PONG within the timeout", prefix);
    ff_bench_samples_destroy (&durations);
    ff_bench_samples_destroy (&samples);
    ff_msg_destroy (&reply);
    return rc;
}

//  The raw echo: a ROUTER actor that sends every message back.
static void
s_echo_actor (zsock_t *pipe, void *args)
{
    zsock_t *router = (zsock_t *) args;
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which != router)
            break;
        zmsg_t *msg = zmsg_recv (router);
        if (!msg || zmsg_send (&msg, router) != 0) {
            zmsg_destroy (&msg);
            break;
        }
    }
    zpoller_destroy (&poller);
}

static int
s_echo (ff_bench_t *bench, ff_curve_t *server_curve, ff_curve_t *client_curve,
        const char *prefix, size_t messages)
{
    bool curve = streq (prefix, "curve");
    char err [512] = "";
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (router, 0);
    zsock_set_linger (dealer, 0);
    zsock_set_rcvtimeo (dealer, ff_bench_timeout_ms (bench));
    int rc = ff_curve_attach (server_curve, router, "tcp://127.0.0.1:*", true,
                              err, sizeof err);
    char *endpoint = rc == 0 ? zsock_last_endpoint (router) : NULL;
    if (rc == 0)
        rc = ff_curve_attach (client_curve, dealer, endpoint, false, err, sizeof err);
    zstr_free (&endpoint);
    if (rc != 0) {
        ff_bench_fail (bench, "%s echo: %s", prefix, err);
        zsock_destroy (&dealer);
        zsock_destroy (&router);
        return -1;
    }
    zactor_t *echo = zactor_new (s_echo_actor, router);
    char *payload = (char *) calloc (1, S_ECHO_SIZE);
    int rounds = ff_bench_rounds (bench);
    size_t per_round = messages / (size_t) rounds;
    if (per_round < 1)
        per_round = 1;
    ff_bench_samples_t *durations = ff_bench_samples_new ((size_t) rounds);
    //  One message first: the handshake stays out of the figures.
    zframe_t *frame = zframe_new (payload, S_ECHO_SIZE);
    rc = zframe_send (&frame, dealer, 0);
    frame = rc == 0 ? zframe_recv (dealer) : NULL;
    rc = frame ? 0 : -1;
    zframe_destroy (&frame);
    for (int round = 0; round < rounds && rc == 0; round++) {
        uint64_t t0 = ff_bench_now_ns ();
        size_t sent = 0, received = 0;
        while (received < per_round && rc == 0) {
            while (sent < per_round && sent - received < S_ECHO_WINDOW) {
                frame = zframe_new (payload, S_ECHO_SIZE);
                if (zframe_send (&frame, dealer, 0) == 0)
                    sent++;
                else
                    zframe_destroy (&frame);
            }
            frame = zframe_recv (dealer);
            if (!frame || zframe_size (frame) != S_ECHO_SIZE)
                rc = -1;
            else
                received++;
            zframe_destroy (&frame);
        }
        ff_bench_samples_add (durations, ff_bench_now_ns () - t0);
    }
    char name [64];
    snprintf (name, sizeof name, "%s.echo64k", prefix);
    if (rc == 0)
        //  Bytes both ways, in MB.
        ff_bench_record_rounds (bench, name, per_round * 2 * S_ECHO_SIZE / 1000000,
                                durations, "MB/s", curve ? "null.echo64k" : NULL, "window=10");
    else
        ff_bench_fail (bench, "%s echo: no echo within the timeout", prefix);
    ff_bench_samples_destroy (&durations);
    free (payload);
    zactor_destroy (&echo);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
    return rc;
}

int
main (int argc, char **argv)
{
    int exit_code;
    ff_bench_t *bench = ff_bench_start ("curve", argc, argv, &exit_code);
    if (!bench)
        return exit_code;
    ff_log_init ("bench", FF_LOG_WARN);
    size_t requests = ff_bench_scaled (bench, FF_BENCH_ZMQ_RTT_REQUESTS, 100);
    size_t messages = ff_bench_scaled (bench, FF_BENCH_ZMQ_PIPE_MESSAGES, 1000);
    size_t echoes = ff_bench_scaled (bench, 20000, 50);
    printf ("bench curve: CURVE vs NULL security, tcp://127.0.0.1, scale %g\n",
            ff_bench_scale (bench));
    fflush (stdout);

    s_keys_t keys;
    if (s_keys_make (&keys) != 0) {
        fprintf (stderr, "bench_curve: cannot write certificates in %s\n", keys.dir);
        ff_bench_destroy (&bench);
        return 1;
    }
    int failed = 0;
    failed |= ff_bench_zmq_rtt (bench, FF_BENCH_ZMQ_RTT, 1, requests, NULL);
    failed |= ff_bench_zmq_pipelined (bench, FF_BENCH_ZMQ_PIPE, 1, messages,
                                      FF_BENCH_ZMQ_WINDOW, NULL);

    char err [512] = "";
    ff_curve_t *client = ff_curve_new (keys.client_secret, NULL, keys.server, "curve_",
                                       err, sizeof err);
    static fac_config_t configs [2];
    const char *prefixes [2] = { "null", "curve" };
    for (int secure = 0; secure < 2 && client; secure++) {
        char endpoint [128] = "";
        zactor_t *factory = s_factory_start (secure ? &keys : NULL, &configs [secure],
                                             endpoint, sizeof endpoint);
        if (!factory || !*endpoint) {
            failed = 1;
            zactor_destroy (&factory);
            continue;
        }
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        zsock_set_rcvtimeo (dealer, ff_bench_timeout_ms (bench));
        zsock_set_sndhwm (dealer, 10000);
        zsock_set_linger (dealer, 0);
        if (ff_curve_attach (secure ? client : NULL, dealer, endpoint, false,
                             err, sizeof err) != 0) {
            ff_bench_fail (bench, "%s", err);
            failed = 1;
        }
        else
            failed |= s_ping (bench, dealer, prefixes [secure], requests, messages);
        zsock_destroy (&dealer);
        zactor_destroy (&factory);
        ff_config_free (&fac_config_schema, &configs [secure]);
    }
    if (!client) {
        fprintf (stderr, "bench_curve: %s\n", err);
        failed = 1;
    }
    else {
        //  The raw echo's server: the same certificates, zauth included.
        ff_curve_t *server = ff_curve_new (keys.server_secret, keys.allowed, NULL, "curve_",
                                           err, sizeof err);
        if (!server) {
            fprintf (stderr, "bench_curve: %s\n", err);
            failed = 1;
        }
        else {
            failed |= s_echo (bench, NULL, NULL, "null", echoes);
            failed |= s_echo (bench, server, client, "curve", echoes);
        }
        ff_curve_destroy (&server);
    }
    ff_curve_destroy (&client);
    s_keys_remove (&keys);
    int rc = ff_bench_finish (bench);
    ff_bench_destroy (&bench);
    return rc || failed ? 1 : 0;
}
