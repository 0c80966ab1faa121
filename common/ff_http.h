/*  ff_http — each service's HTTP endpoint: GET /metrics and GET /healthz.

    Runs libmicrohttpd in its own thread. /metrics answers 200 with the
    registry rendered in Prometheus text format (Content-Type
    `text/plain; version=0.0.4; charset=utf-8`); /healthz answers 200 "ok\n"
    when the health callback says healthy, else 503 with the reason. Any
    other path is 404, any method other than GET/HEAD is 405. Requests are
    counted in the registry (farfan_http_requests_total{path,code}).
*/
#ifndef FF_HTTP_H_INCLUDED
#define FF_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "ff_metrics.h"

typedef struct ff_http ff_http_t;

//  Returns true when the service is healthy; otherwise writes a one-line
//  reason into reason. Called from the HTTP thread: must be thread-safe
//  and must not block.
typedef bool (ff_http_health_fn) (void *arg, char *reason, size_t reason_size);

//  Starts serving on address:port (address "0.0.0.0", "127.0.0.1", "*" =
//  every IPv4 interface; port 0 = any free port, see ff_http_port).
//  metrics and health are borrowed and must outlive the server; health may
//  be NULL (always healthy). On failure returns NULL and writes the reason
//  into err, e.g. "http 127.0.0.1:9560: Address already in use".
ff_http_t *
    ff_http_new (const char *address, int port, ff_metrics_t *metrics,
                 ff_http_health_fn *health, void *health_arg,
                 char *err, size_t err_size);

//  The TCP port actually bound.
int
    ff_http_port (const ff_http_t *self);

//  Stops the server (waits for its thread) and nulls *self_p. Idempotent.
void
    ff_http_destroy (ff_http_t **self_p);

#endif
