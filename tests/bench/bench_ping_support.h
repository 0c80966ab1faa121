/*  bench_ping_support — an in-process factory to PING, shared by the
    benchmarks of the control plane (bench_ping, bench_curve): the factory's
    real actor on an ephemeral loopback port, and one PING / PONG exchange
    through the envelope codec.

    List bench_ping_support.c next to the program's source in the
    `benches` table of tests/bench/meson.build (needs services_dep).
*/
#ifndef BENCH_PING_SUPPORT_H_INCLUDED
#define BENCH_PING_SUPPORT_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "fac_server.h"
#include "ff_msg.h"

//  Starts a factory actor with its direct socket on tcp://127.0.0.1:* and
//  no orchestrator, SISAS or HTTP, plus `extra` (count strings: more
//  "--key value" settings, e.g. CURVE keys). config must outlive the
//  actor. Writes the bound endpoint; NULL with the reason on stderr,
//  prefixed by `program`.
zactor_t *
    ff_bench_factory_start (const char *program, fac_config_t *config,
                            const char *const *extra, size_t count,
                            char *endpoint, size_t endpoint_size);

//  Sends PING with correlation id "b-<sequence>". 0 or -1.
int
    ff_bench_ping_send (zsock_t *dealer, uint64_t sequence);

//  Receives one PONG into reply; -1 on timeout or any other message.
int
    ff_bench_pong_recv (zsock_t *dealer, ff_msg_t *reply);

#endif
