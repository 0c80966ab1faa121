/*  ff_http — /metrics and /healthz over libmicrohttpd.

    We create, bind and listen on the socket ourselves and hand it to MHD
    (MHD_OPTION_LISTEN_SOCKET): MHD_start_daemon reports a failed bind only
    as NULL, and we want "http ADDRESS:PORT: <strerror>" in err. MHD owns
    the socket once the daemon runs (MHD_stop_daemon closes it); if the
    daemon fails to start, the socket is still ours to close (checked
    against 0.9.75, whose start failures leave it open).

    MHD runs one internal polling thread (epoll on Linux): every handler
    call below happens on that thread, one request at a time.
*/
#include "ff_http.h"
#include "ff_log.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

//  The server only answers tiny requests from Prometheus and health
//  checkers; these bound what a misbehaving or hostile client can hold.
//  Not configuration: no deployment needs different values.
static const unsigned int s_connection_limit = 64;     //  Concurrent connections
static const unsigned int s_connection_timeout_s = 10; //  Idle connection, seconds
//  The kernel's maximum: a burst of connects queues instead of waiting
//  out a SYN retry.
static const int s_listen_backlog = SOMAXCONN;

static const char *s_metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";
static const char *s_text_content_type = "text/plain; charset=utf-8";
static const char *s_requests_name = "farfan_http_requests_total";
static const char *s_requests_help = "HTTP requests answered, by path and status code.";

struct ff_http {
    struct MHD_Daemon *daemon;  //  The running server
    ff_metrics_t *metrics;      //  Rendered on /metrics, counts requests
    ff_http_health_fn *health;  //  Answers /healthz, NULL = always healthy
    void *health_arg;           //  Its argument
    int port;                   //  TCP port bound
};


static void
s_set_error (char *err, size_t err_size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_set_error (char *err, size_t err_size, const char *format, ...)
{
    if (!err || err_size == 0)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (err, err_size, format, args);
    va_end (args);
}

//  Resolves address ("*", "0.0.0.0", "" or NULL = any IPv4 interface; a
//  dotted quad; or a host name with an IPv4 address) into sin. Returns 0,
//  or -1 with the reason in err.
static int
s_resolve (const char *address, int port, struct sockaddr_in *sin,
           char *err, size_t err_size)
{
    memset (sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_port = htons ((uint16_t) port);
    if (!address || !*address || strcmp (address, "*") == 0) {
        sin->sin_addr.s_addr = htonl (INADDR_ANY);
        return 0;
    }
    if (inet_pton (AF_INET, address, &sin->sin_addr) == 1)
        return 0;

    struct addrinfo hints;
    memset (&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (address, NULL, &hints, &found);
    if (rc != 0 || !found) {
        s_set_error (err, err_size, "http %s:%d: cannot resolve address: %s",
                     address, port, rc ? gai_strerror (rc) : "no IPv4 address");
        if (found)
            freeaddrinfo (found);
        return -1;
    }
    sin->sin_addr = ((const struct sockaddr_in *) (const void *) found->ai_addr)->sin_addr;
    freeaddrinfo (found);
    return 0;
}

//  Creates a listening TCP socket on address:port. Returns it, or -1 with
//  the reason in err.
static int
s_listen (const char *address, int port, int *bound_port, char *err, size_t err_size)
{
    const char *shown = address && *address ? address : "*";
    struct sockaddr_in sin;
    if (s_resolve (address, port, &sin, err, err_size))
        return -1;

    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        goto failed;
    //  A restarted service must not wait out TIME_WAIT; on Linux this does
    //  not let two listeners share a port.
    int on = 1;
    if (setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on))
        goto failed;
    if (bind (fd, (const struct sockaddr *) &sin, sizeof sin))
        goto failed;
    if (listen (fd, s_listen_backlog))
        goto failed;
    struct sockaddr_in local;
    socklen_t local_size = sizeof local;
    if (getsockname (fd, (struct sockaddr *) &local, &local_size))
        goto failed;
    *bound_port = ntohs (local.sin_port);
    return fd;

failed:;
    char reason [128];
    const char *message = strerror_r (errno, reason, sizeof reason);
    s_set_error (err, err_size, "http %s:%d: %s", shown, port, message);
    if (fd != -1)
        close (fd);
    return -1;
}

//  MHD's own diagnostics go to our log (MHD_USE_ERROR_LOG), at debug
//  level: most are about one client's malformed or aborted request, and a
//  scanner must not be able to flood the log. Start-up failures reach the
//  caller through err instead.
static void
s_mhd_log (void *arg, const char *format, va_list args)
{
    (void) arg;
    char message [512];
    vsnprintf (message, sizeof message, format, args);
    size_t size = strlen (message);
    while (size > 0 && (message [size - 1] == '\n' || message [size - 1] == '\r'))
        message [--size] = '\0';
    ff_log_debug ("http: %s", message);
}

//  The request counter for path and code (registered on first use; the
//  labels come from fixed sets, never from the request).
static ff_counter_t *
s_requests (ff_http_t *self, const char *path, unsigned int code)
{
    char labels [64];
    snprintf (labels, sizeof labels, "path=\"%s\",code=\"%u\"", path, code);
    return ff_metrics_counter (self->metrics, s_requests_name, s_requests_help, labels);
}

//  Makes the /healthz answer. Returns the status code; *body is malloc'd.
static unsigned int
s_health_body (ff_http_t *self, char **body)
{
    char reason [256] = "";
    bool healthy = !self->health
                || self->health (self->health_arg, reason, sizeof reason);
    if (healthy) {
        *body = strdup ("ok\n");
        return MHD_HTTP_OK;
    }
    //  One line whatever the callback wrote.
    reason [sizeof reason - 1] = '\0';
    for (char *c = reason; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = ' ';
    size_t size = strlen ("unhealthy: \n") + strlen (reason) + strlen ("unknown") + 1;
    *body = malloc (size);
    if (*body)
        snprintf (*body, size, "unhealthy: %s\n", *reason ? reason : "unknown");
    return MHD_HTTP_SERVICE_UNAVAILABLE;
}

//  Answers every request on its first call, before any body is read
//  (nothing here needs one; MHD then discards it and closes the connection).
static enum MHD_Result
s_handle_request (void *cls, struct MHD_Connection *connection,
                  const char *url, const char *method, const char *version,
                  const char *upload_data, size_t *upload_data_size,
                  void **request_state)
{
    (void) version;
    (void) upload_data;
    (void) upload_data_size;
    (void) request_state;
    ff_http_t *self = cls;

    const char *path = url && strcmp (url, "/metrics") == 0 ? "/metrics"
                     : url && strcmp (url, "/healthz") == 0 ? "/healthz"
                     : "other";
    bool readable = method && (strcmp (method, MHD_HTTP_METHOD_GET) == 0
                            || strcmp (method, MHD_HTTP_METHOD_HEAD) == 0);
    const char *content_type = s_text_content_type;
    unsigned int code;
    char *body = NULL;

    if (strcmp (path, "other") == 0) {
        code = MHD_HTTP_NOT_FOUND;
        body = strdup ("not found\n");
    }
    else
    if (!readable) {
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup ("method not allowed\n");
    }
    else
    if (strcmp (path, "/metrics") == 0) {
        code = MHD_HTTP_OK;
        body = ff_metrics_render (self->metrics);
        content_type = s_metrics_content_type;
    }
    else
        code = s_health_body (self, &body);

    if (!body) {
        code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        content_type = s_text_content_type;
    }
    //  MHD frees body with free() once sent; for HEAD it sends headers only.
    struct MHD_Response *response = body
        ? MHD_create_response_from_buffer (strlen (body), body, MHD_RESPMEM_MUST_FREE)
        : MHD_create_response_from_buffer (strlen ("out of memory\n"),
                                           (void *) "out of memory\n",
                                           MHD_RESPMEM_PERSISTENT);
    if (!response) {
        free (body);
        return MHD_NO;          //  MHD closes the connection
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    //  Counted before the answer leaves, so a client that has read its
    //  reply sees itself counted.
    ff_counter_inc (s_requests (self, path, code));
    enum MHD_Result result = MHD_queue_response (connection, code, response);
    MHD_destroy_response (response);
    return result;
}

ff_http_t *
ff_http_new (const char *address, int port, ff_metrics_t *metrics,
             ff_http_health_fn *health, void *health_arg,
             char *err, size_t err_size)
{
    s_set_error (err, err_size, "%s", "");
    const char *shown = address && *address ? address : "*";
    if (port < 0 || port > 65535) {
        s_set_error (err, err_size, "http %s:%d: invalid port", shown, port);
        return NULL;
    }
    if (!metrics) {
        s_set_error (err, err_size, "http %s:%d: no metrics registry", shown, port);
        return NULL;
    }
    ff_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        s_set_error (err, err_size, "http %s:%d: out of memory", shown, port);
        return NULL;
    }
    self->metrics = metrics;
    self->health = health;
    self->health_arg = health_arg;
    //  The usual answers are rendered from the start, at 0.
    s_requests (self, "/metrics", MHD_HTTP_OK);
    s_requests (self, "/healthz", MHD_HTTP_OK);

    int fd = s_listen (address, port, &self->port, err, err_size);
    if (fd == -1)
        goto failed;
    self->daemon = MHD_start_daemon (
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        0, NULL, NULL, s_handle_request, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, s_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, s_connection_timeout_s,
        MHD_OPTION_END);
    if (!self->daemon) {
        close (fd);
        s_set_error (err, err_size, "http %s:%d: cannot start the HTTP server", shown, port);
        goto failed;
    }
    return self;

failed:
    free (self);
    return NULL;
}

int
ff_http_port (const ff_http_t *self)
{
    return self ? self->port : -1;
}

void
ff_http_destroy (ff_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_http_t *self = *self_p;
    MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}
