/*  ff_http — each service's HTTP endpoint: GET /metrics and GET /healthz.

    Runs libmicrohttpd in its own thread. /metrics answers 200 with the
    registry rendered in Prometheus text format (Content-Type
    `text/plain; version=0.0.4; charset=utf-8`); /healthz answers 200 "ok\n"
    when the health callback says healthy, else 503 "unhealthy: REASON\n"
    (the reason made one line; "unknown" when empty). Any other path is 404
    (whatever the method); any method other than GET/HEAD on /metrics or
    /healthz is 405 with `Allow: GET, HEAD`. HEAD answers the headers only.
    A query string is ignored.

    Requests are counted in the registry as
    farfan_http_requests_total{code="200",path="/metrics"|"/healthz"|"other"}
    before the answer is sent (a scrape shows the requests before it).
    Requests libmicrohttpd rejects itself as malformed (400, 413, 414,
    505) never reach the handler and are not counted.

    At most 64 connections at once; an idle connection is closed after
    10 s. libmicrohttpd's own diagnostics are logged at debug level.
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

//  Starts serving on address:port (address "0.0.0.0", "*", "" or NULL =
//  every IPv4 interface; else a dotted quad or a host name resolving to
//  IPv4, e.g. "127.0.0.1", "localhost"; port 0 = any free port, see
//  ff_http_port). metrics (required) and health are borrowed and must
//  outlive the server; health may be NULL (always healthy). On failure
//  returns NULL and writes the reason into err (when err_size > 0), e.g.
//  "http 127.0.0.1:9560: Address already in use".
ff_http_t *
    ff_http_new (const char *address, int port, ff_metrics_t *metrics,
                 ff_http_health_fn *health, void *health_arg,
                 char *err, size_t err_size);

//  The TCP port actually bound; -1 when self is NULL.
int
    ff_http_port (const ff_http_t *self);

//  Stops the server (closes its connections, waits for its thread) and
//  nulls *self_p. Prompt even with clients connected. Idempotent.
void
    ff_http_destroy (ff_http_t **self_p);

#endif
