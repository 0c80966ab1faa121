/*  bench_ping — what farfan's control plane costs over raw libzmq.

    A factory runs in-process (its real actor, envelope codec, dispatch
    table and metrics) on tcp://127.0.0.1; a DEALER client sends PING and
    waits for PONG. Measured in the same run as the raw libzmq
    DEALER -> ROUTER echo of ff_bench_zmq.h, so the ratios say how much
    protobuf envelopes, dispatch and per-request metrics add:
      farfan.ping.rtt.*   sequential round trips   vs zmq.rtt.*
      farfan.ping.pipe100 100 requests in flight    vs zmq.pipe100

    Usage: bench_ping [--scale X] [--output PATH] [--format tsv|jsonl]
                      [--timeout MS] [--rounds N]
*/
#include "ff_bench.h"
#include "ff_bench_zmq.h"

#include "bench_ping_support.h"
#include "bench_support.h"
#include "fac_server.h"
#include "ff_log.h"
#include "ff_msg.h"

#include <stdio.h>
#include <stdlib.h>

static int
s_sequential (ff_bench_t *bench, zsock_t *dealer, size_t requests)
{
    ff_bench_samples_t *samples = ff_bench_samples_new (requests);
    ff_msg_t *reply = ff_msg_new ();
    int rc = 0;
    uint64_t started = ff_bench_now_ns ();
    for (size_t i = 0; i < requests + requests / 10 && rc == 0; i++) {
        if (i == requests / 10) {       //  the first tenth warms up
            ff_bench_samples_reset (samples);
            started = ff_bench_now_ns ();
        }
        uint64_t t0 = ff_bench_now_ns ();
        if (ff_bench_ping_send (dealer, i) != 0 || ff_bench_pong_recv (dealer, reply) != 0)
            rc = -1;
        else
            ff_bench_samples_add (samples, ff_bench_now_ns () - t0);
    }
    if (rc == 0) {
        ff_bench_record_latency (bench, "farfan.ping.rtt", samples, FF_BENCH_ZMQ_RTT);
        ff_bench_record_rate (bench, "farfan.ping.rtt.rate", requests,
                              ff_bench_now_ns () - started, "req/s", FF_BENCH_ZMQ_RTT ".rate");
    }
    else
        fprintf (stderr, "bench_ping: no PONG within the timeout\n");
    ff_msg_destroy (&reply);
    ff_bench_samples_destroy (&samples);
    return rc;
}

static int
s_pipelined (ff_bench_t *bench, zsock_t *dealer, size_t messages, size_t window)
{
    int rounds = ff_bench_rounds (bench);
    size_t per_round = messages / (size_t) rounds;
    ff_bench_samples_t *durations = ff_bench_samples_new ((size_t) rounds);
    ff_msg_t *reply = ff_msg_new ();
    int rc = 0;
    uint64_t sequence = 0;
    for (int round = 0; round < rounds && rc == 0; round++) {
        uint64_t t0 = ff_bench_now_ns ();
        size_t sent = 0, received = 0;
        while (received < per_round && rc == 0) {
            while (sent < per_round && sent - received < window)
                if (ff_bench_ping_send (dealer, sequence++) == 0)
                    sent++;
            if (ff_bench_pong_recv (dealer, reply) != 0)
                rc = -1;
            else
                received++;
        }
        ff_bench_samples_add (durations, ff_bench_now_ns () - t0);
    }
    if (rc == 0)
        ff_bench_record_rounds (bench, "farfan.ping.pipe100", per_round, durations,
                                "msg/s", FF_BENCH_ZMQ_PIPE, "window=100");
    else
        fprintf (stderr, "bench_ping: no PONG within the timeout\n");
    ff_msg_destroy (&reply);
    ff_bench_samples_destroy (&durations);
    return rc;
}

int
main (int argc, char **argv)
{
    int exit_code;
    ff_bench_t *bench = ff_bench_start ("ping", argc, argv, &exit_code);
    if (!bench)
        return exit_code;
    ff_log_init ("bench", FF_LOG_WARN);
    size_t requests = ff_bench_scaled (bench, FF_BENCH_ZMQ_RTT_REQUESTS, 100);
    size_t messages = ff_bench_scaled (bench, FF_BENCH_ZMQ_PIPE_MESSAGES, 1000);
    printf ("bench ping: farfan PING/PONG vs raw libzmq, tcp://127.0.0.1, scale %g\n",
            ff_bench_scale (bench));
    fflush (stdout);

    int failed = 0;
    failed |= ff_bench_zmq_rtt (bench, FF_BENCH_ZMQ_RTT, 1, requests, NULL);
    failed |= ff_bench_zmq_pipelined (bench, FF_BENCH_ZMQ_PIPE, 1, messages,
                                      FF_BENCH_ZMQ_WINDOW, NULL);

    char endpoint [128] = "";
    static fac_config_t config;
    zactor_t *factory = ff_bench_factory_start ("bench_ping", &config, NULL, 0,
                                                endpoint, sizeof endpoint);
    if (!factory || !*endpoint)
        failed = 1;
    else {
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        zsock_set_rcvtimeo (dealer, ff_bench_timeout_ms (bench));
        zsock_set_sndhwm (dealer, 10000);
        zsock_set_linger (dealer, 0);
        zsock_connect (dealer, "%s", endpoint);
        failed |= s_sequential (bench, dealer, requests);
        failed |= s_pipelined (bench, dealer, messages, FF_BENCH_ZMQ_WINDOW);
        zsock_destroy (&dealer);
    }
    zactor_destroy (&factory);
    int rc = ff_bench_finish (bench);
    ff_bench_destroy (&bench);
    return rc || failed ? 1 : 0;
}
