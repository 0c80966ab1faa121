/*  test_http — the /metrics and /healthz endpoint, over real TCP sockets
    on loopback with a tiny blocking HTTP/1.0 client.
*/
#include "ff_http.h"
#include "ff_metrics.h"

#include <criterion/criterion.h>

#include "ff_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

//  Every receive and send in these tests gives up after this long.
static const int s_io_timeout_s = 5;

typedef struct {
    int status;                 //  Status code, 0 if none was read
    char *head;                 //  Status line and headers (malloc'd)
    char *body;                 //  Body (malloc'd, NUL-terminated)
    size_t body_size;           //  Body bytes
} reply_t;

static void
s_reply_free (reply_t *reply)
{
    free (reply->head);
    free (reply->body);
    memset (reply, 0, sizeof *reply);
}

//  Connects to 127.0.0.1:port with send/receive timeouts. Returns the
//  socket; fails the test if it cannot connect.
static int
s_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (fd >= 0);
    struct timeval timeout = { s_io_timeout_s, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address;
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons ((uint16_t) port);
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof address), 0,
                  "connect: %s", strerror (errno));
    return fd;
}

//  Sends size bytes of request (the server may close early: no SIGPIPE,
//  errors ignored), half-closes if asked (so an unfinished request ends
//  now rather than at a timeout), then reads until the server closes or
//  the timeout. Returns the raw bytes read (malloc'd, NUL-terminated),
//  *size their count.
static char *
s_exchange (int port, const char *request, size_t request_size, bool half_close,
            size_t *size)
{
    int fd = s_connect (port);
    size_t sent = 0;
    while (sent < request_size) {
        ssize_t rc = send (fd, request + sent, request_size - sent, MSG_NOSIGNAL);
        if (rc <= 0)
            break;
        sent += (size_t) rc;
    }
    if (half_close)
        shutdown (fd, SHUT_WR);
    size_t max = 4096;
    char *data = malloc (max);
    cr_assert_not_null (data);
    *size = 0;
    while (true) {
        if (*size + 1 == max) {
            data = realloc (data, max *= 2);
            cr_assert_not_null (data);
        }
        ssize_t rc = recv (fd, data + *size, max - *size - 1, 0);
        if (rc <= 0)
            break;
        *size += (size_t) rc;
    }
    data [*size] = '\0';
    close (fd);
    return data;
}

//  Sends request and parses the reply into status, head and body.
static reply_t
s_request (int port, const char *request)
{
    reply_t reply = { 0, NULL, NULL, 0 };
    size_t size;
    char *data = s_exchange (port, request, strlen (request), false, &size);
    char *split = strstr (data, "\r\n\r\n");
    cr_assert_not_null (split, "no end of headers in reply to %s:\n%s", request, data);
    reply.head = strndup (data, (size_t) (split - data + 2));
    reply.body_size = size - (size_t) (split + 4 - data);
    reply.body = malloc (reply.body_size + 1);
    cr_assert_not_null (reply.body);
    memcpy (reply.body, split + 4, reply.body_size);
    reply.body [reply.body_size] = '\0';
    cr_assert (sscanf (data, "HTTP/1.%*d %d", &reply.status) == 1, "status line: %s", data);
    free (data);
    return reply;
}

static reply_t
s_get (int port, const char *method, const char *path)
{
    char request [512];
    snprintf (request, sizeof request, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    return s_request (port, request);
}

//  Makes a request and forgets the reply.
static void
s_discard (int port, const char *method, const char *path)
{
    reply_t reply = s_get (port, method, path);
    s_reply_free (&reply);
}

//  The value of header name in reply (case-insensitive), copied into out;
//  NULL when absent.
static const char *
s_header (const reply_t *reply, const char *name, char *out, size_t out_size)
{
    size_t name_size = strlen (name);
    for (const char *line = strstr (reply->head, "\r\n"); line && line [2]; line = strstr (line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp (start, name, name_size) == 0 && start [name_size] == ':') {
            const char *value = start + name_size + 1;
            while (*value == ' ')
                value++;
            const char *end = strstr (value, "\r\n");
            snprintf (out, out_size, "%.*s", (int) (end - value), value);
            return out;
        }
    }
    return NULL;
}

//  The value of the sample line starting with `series ` in a rendered body.
static double
s_metric (const char *body, const char *series)
{
    char prefix [256];
    snprintf (prefix, sizeof prefix, "\n%s ", series);
    const char *line = strstr (body, prefix);
    cr_assert_not_null (line, "no %s in:\n%s", series, body);
    return strtod (line + strlen (prefix), NULL);
}

//  Health callback: healthy unless *arg holds a reason.
static bool
s_health (void *arg, char *reason, size_t reason_size)
{
    const char *problem = *(const char *_Atomic *) arg;
    if (!problem)
        return true;
    snprintf (reason, reason_size, "%s", problem);
    return false;
}

static ff_http_t *
s_start (ff_metrics_t *metrics, ff_http_health_fn *health, void *arg)
{
    char err [256] = "unset";
    ff_http_t *http = ff_http_new ("127.0.0.1", 0, metrics, health, arg, err, sizeof err);
    cr_assert_not_null (http, "ff_http_new: %s", err);
    cr_assert_gt (ff_http_port (http), 0);
    return http;
}

static uint64_t
s_requests (ff_metrics_t *metrics, const char *path, const char *code)
{
    char labels [128];
    snprintf (labels, sizeof labels, "path=\"%s\",code=\"%s\"", path, code);
    return ff_counter_value (ff_metrics_counter (metrics, "farfan_http_requests_total", NULL, labels));
}


FF_TEST (http, get_metrics)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_gauge_set (ff_metrics_gauge (metrics, "test_queue_depth", "Depth.", "queue=\"a\""), 42.5);
    ff_counter_add (ff_metrics_counter (metrics, "test_done_total", "Done.", NULL), 7);
    ff_http_t *http = s_start (metrics, NULL, NULL);

    reply_t reply = s_get (ff_http_port (http), "GET", "/metrics");
    cr_assert_eq (reply.status, 200);
    char value [256];
    cr_assert_str_eq (s_header (&reply, "Content-Type", value, sizeof value),
                      "text/plain; version=0.0.4; charset=utf-8");
    cr_assert_eq (s_metric (reply.body, "test_queue_depth{queue=\"a\"}"), 42.5);
    cr_assert_eq (s_metric (reply.body, "test_done_total"), 7);
    cr_assert (strstr (reply.body, "# TYPE farfan_http_requests_total counter\n"), "%s", reply.body);
    s_reply_free (&reply);

    //  A query string does not change the path.
    reply = s_get (ff_http_port (http), "GET", "/metrics?name=x");
    cr_assert_eq (reply.status, 200);
    s_reply_free (&reply);

    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, head_metrics_sends_headers_only)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_gauge_set (ff_metrics_gauge (metrics, "g", "", NULL), 1);
    ff_http_t *http = s_start (metrics, NULL, NULL);
    reply_t reply = s_get (ff_http_port (http), "HEAD", "/metrics");
    cr_assert_eq (reply.status, 200);
    char value [256];
    cr_assert_not_null (s_header (&reply, "Content-Type", value, sizeof value));
    cr_assert_eq (reply.body_size, 0);
    s_reply_free (&reply);
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, healthz_follows_the_callback)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    const char *_Atomic problem = NULL;
    ff_http_t *http = s_start (metrics, s_health, (void *) &problem);
    int port = ff_http_port (http);

    reply_t reply = s_get (port, "GET", "/healthz");
    cr_assert_eq (reply.status, 200);
    cr_assert_str_eq (reply.body, "ok\n");
    s_reply_free (&reply);

    atomic_store (&problem, "database down");
    reply = s_get (port, "GET", "/healthz");
    cr_assert_eq (reply.status, 503);
    cr_assert_str_eq (reply.body, "unhealthy: database down\n");
    s_reply_free (&reply);

    //  A reason is one line whatever the callback writes.
    atomic_store (&problem, "disk\nfull\r");
    reply = s_get (port, "GET", "/healthz");
    cr_assert_eq (reply.status, 503);
    cr_assert_str_eq (reply.body, "unhealthy: disk full \n");
    s_reply_free (&reply);

    atomic_store (&problem, "");
    reply = s_get (port, "GET", "/healthz");
    cr_assert_eq (reply.status, 503);
    cr_assert_str_eq (reply.body, "unhealthy: unknown\n");
    s_reply_free (&reply);

    atomic_store (&problem, NULL);
    reply = s_get (port, "HEAD", "/healthz");
    cr_assert_eq (reply.status, 200);
    cr_assert_eq (reply.body_size, 0);
    s_reply_free (&reply);

    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, healthz_without_callback_is_healthy)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_http_t *http = s_start (metrics, NULL, NULL);
    reply_t reply = s_get (ff_http_port (http), "GET", "/healthz");
    cr_assert_eq (reply.status, 200);
    cr_assert_str_eq (reply.body, "ok\n");
    s_reply_free (&reply);
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, unknown_paths_are_404)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_http_t *http = s_start (metrics, NULL, NULL);
    const char *paths [] = { "/", "/nope", "/metrics/", "/metricsx", "/healthz/x", "/METRICS" };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        reply_t reply = s_get (ff_http_port (http), "GET", paths [i]);
        cr_assert_eq (reply.status, 404, "GET %s", paths [i]);
        s_reply_free (&reply);
    }
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, other_methods_are_405)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_http_t *http = s_start (metrics, NULL, NULL);
    int port = ff_http_port (http);

    reply_t reply = s_request (port, "POST /metrics HTTP/1.0\r\nContent-Length: 11\r\n\r\nhello=world");
    cr_assert_eq (reply.status, 405);
    char value [256];
    cr_assert_str_eq (s_header (&reply, "Allow", value, sizeof value), "GET, HEAD");
    s_reply_free (&reply);

    const char *methods [] = { "PUT", "DELETE", "OPTIONS", "PATCH" };
    for (size_t i = 0; i < sizeof methods / sizeof methods [0]; i++) {
        reply = s_get (port, methods [i], "/healthz");
        cr_assert_eq (reply.status, 405, "%s /healthz", methods [i]);
        s_reply_free (&reply);
    }
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, requests_are_counted)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    const char *_Atomic problem = NULL;
    ff_http_t *http = s_start (metrics, s_health, (void *) &problem);
    int port = ff_http_port (http);
    cr_assert_eq (s_requests (metrics, "/metrics", "200"), 0);

    for (int i = 0; i < 3; i++)
        s_discard (port, "GET", "/metrics");
    s_discard (port, "GET", "/healthz");
    atomic_store (&problem, "busy");
    s_discard (port, "GET", "/healthz");
    s_discard (port, "GET", "/a");
    s_discard (port, "GET", "/b");
    s_discard (port, "DELETE", "/metrics");

    cr_assert_eq (s_requests (metrics, "/metrics", "200"), 3);
    cr_assert_eq (s_requests (metrics, "/healthz", "200"), 1);
    cr_assert_eq (s_requests (metrics, "/healthz", "503"), 1);
    cr_assert_eq (s_requests (metrics, "other", "404"), 2);
    cr_assert_eq (s_requests (metrics, "/metrics", "405"), 1);

    //  The scrape shows the requests answered before it.
    reply_t reply = s_get (port, "GET", "/metrics");
    cr_assert_eq (s_metric (reply.body, "farfan_http_requests_total{code=\"200\",path=\"/metrics\"}"), 3);
    cr_assert_eq (s_metric (reply.body, "farfan_http_requests_total{code=\"404\",path=\"other\"}"), 2);
    s_reply_free (&reply);
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, port_in_use_fails_with_the_address)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_http_t *http = s_start (metrics, NULL, NULL);
    int port = ff_http_port (http);

    char err [256] = "";
    ff_http_t *second = ff_http_new ("127.0.0.1", port, metrics, NULL, NULL, err, sizeof err);
    cr_assert_null (second);
    char expected [128];
    snprintf (expected, sizeof expected, "http 127.0.0.1:%d: Address already in use", port);
    cr_assert_str_eq (err, expected);

    //  The first server is unharmed.
    reply_t reply = s_get (port, "GET", "/healthz");
    cr_assert_eq (reply.status, 200);
    s_reply_free (&reply);
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, bad_arguments_fail_with_a_reason)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    char err [256] = "";
    cr_assert_null (ff_http_new ("127.0.0.1", 70000, metrics, NULL, NULL, err, sizeof err));
    cr_assert_str_eq (err, "http 127.0.0.1:70000: invalid port");
    cr_assert_null (ff_http_new ("127.0.0.1", -1, metrics, NULL, NULL, err, sizeof err));
    cr_assert_null (ff_http_new ("127.0.0.1", 0, NULL, NULL, NULL, err, sizeof err));
    cr_assert (strstr (err, "no metrics registry"), "%s", err);
    //  Not a local address: bind fails, and says so.
    cr_assert_null (ff_http_new ("192.0.2.1", 0, metrics, NULL, NULL, err, sizeof err));
    cr_assert_str_eq (err, "http 192.0.2.1:0: Cannot assign requested address");
    //  No err buffer: still just NULL.
    cr_assert_null (ff_http_new ("127.0.0.1", 70000, metrics, NULL, NULL, NULL, 0));
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, localhost_resolves)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    char err [256] = "";
    ff_http_t *http = ff_http_new ("localhost", 0, metrics, NULL, NULL, err, sizeof err);
    cr_assert_not_null (http, "%s", err);
    reply_t reply = s_get (ff_http_port (http), "GET", "/healthz");
    cr_assert_eq (reply.status, 200);
    s_reply_free (&reply);
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, destroy_is_idempotent_and_prompt)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_http_t *http = s_start (metrics, NULL, NULL);
    int port = ff_http_port (http);
    //  A client that connected and never finished its request must not
    //  hold the server up.
    int idle = s_connect (port);
    cr_assert_eq (send (idle, "GET /metr", 9, MSG_NOSIGNAL), 9);
    ff_http_destroy (&http);
    cr_assert_null (http);
    ff_http_destroy (&http);
    ff_http_destroy (NULL);
    close (idle);

    //  The port is free again.
    char err [256] = "";
    http = ff_http_new ("127.0.0.1", port, metrics, NULL, NULL, err, sizeof err);
    cr_assert_not_null (http, "rebinding %d: %s", port, err);
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}

FF_TEST (http, odd_requests_do_not_hurt)
{
    ff_metrics_t *metrics = ff_metrics_new ();
    ff_http_t *http = s_start (metrics, NULL, NULL);
    int port = ff_http_port (http);
    size_t size;

    //  Not here: requests that never end ("\r\n\r\n" alone, headers without
    //  their blank line). MHD 0.9.75 does not always notice the client's
    //  EOF on them and holds the connection until its idle timeout; the
    //  destroy test covers a server holding such a connection.
    const char *odd [] = {
        "garbage\r\n\r\n",
        "GET\r\n\r\n",
        "GET /metrics HTTP/9.9\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n\r\n",                 //  1.1 without Host
        "GET /metrics HTTP/1.0\r\nBad Header Line\r\n\r\n",
        "POST /metrics HTTP/1.0\r\nContent-Length: -5\r\n\r\n",
        "POST /metrics HTTP/1.0\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /%00%ff/../metrics HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd [0]; i++)
        free (s_exchange (port, odd [i], strlen (odd [i]), true, &size));

    //  Embedded NUL bytes.
    const char nul [] = "GET /met\0rics HTTP/1.0\r\n\r\n";
    free (s_exchange (port, nul, sizeof nul - 1, true, &size));

    //  A URL far beyond any buffer.
    size_t huge_size = 256 * 1024;
    char *huge = malloc (huge_size + 64);
    cr_assert_not_null (huge);
    memcpy (huge, "GET /", 5);
    memset (huge + 5, 'a', huge_size);
    strcpy (huge + 5 + huge_size, " HTTP/1.0\r\n\r\n");
    free (s_exchange (port, huge, strlen (huge), true, &size));
    free (huge);

    //  Many concurrent connections, then all dropped.
    int fds [100];
    for (size_t i = 0; i < 100; i++)
        fds [i] = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons ((uint16_t) port);
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    for (size_t i = 0; i < 100; i++)
        connect (fds [i], (struct sockaddr *) &address, sizeof address);
    for (size_t i = 0; i < 100; i++)
        close (fds [i]);

    //  Still serving.
    reply_t reply = s_get (port, "GET", "/healthz");
    cr_assert_eq (reply.status, 200);
    cr_assert_str_eq (reply.body, "ok\n");
    s_reply_free (&reply);
    ff_http_destroy (&http);
    ff_metrics_destroy (&metrics);
}
