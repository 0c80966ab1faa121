/*  ff_service — what every farfan daemon is built on.

    Holds the service's identity (name, version, instance id, start time),
    its metrics registry and HTTP endpoint (/metrics, /healthz), its health
    state, its sockets (created with the configured limits, remembered by
    name, their connections counted by an ff_sockmon) and the zloop that
    drives them. A service actor creates one,
    adds its sockets and handlers, then hands control to ff_service_run.

    Actor pipe commands answered by ff_service_run (for tests and tools):
      $TERM                 stop: the loop ends, ff_service_run returns
      ENDPOINT <name>       reply: the endpoint socket <name> is bound or
                            connected to (ephemeral ports resolved), "" if
                            unknown
      HTTP_PORT             reply: the HTTP port in use, "0" when off
*/
#ifndef FF_SERVICE_H_INCLUDED
#define FF_SERVICE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ff_config.h"
#include "ff_curve.h"
#include "ff_heap.h"
#include "ff_metrics.h"
#include "ff_publisher.h"
#include "ff_rpc.h"

//  Settings every service has; embed as a member of the service's config
//  struct and list FF_SERVICE_CONFIG_KEYS in its table.
typedef struct {
    int log_level;              // ff_log_level_t
    char *instance_id;          // "" = <hostname>-<8 random hex digits>
    char *http_address;         // HTTP listen address
    int64_t http_port;          // 0 = no HTTP, -1 = any free port
    int64_t hwm;                // high-water mark of every socket, messages
    int64_t max_msg_size;       // largest inbound message on every socket, bytes
    int64_t reply_stall_ms;     // a peer that reads none of its queued replies this long loses them
    int64_t heap_retain_mb;     // freed memory kept for reuse, MiB (ff_heap); 0 = glibc's defaults
    char *curve_cert;           // own secret certificate; "" = CURVE off (see ff_curve)
    char *curve_allowed_dir;    // allowed client public certificates (ZAP)
    char *curve_server_cert;    // public certificate of the servers this process connects to
} ff_service_config_t;

#define FF_SERVICE_CONFIG_KEYS(config_type, member, http_port_default) \
    { "log_level", FF_CONFIG_LOG_LEVEL, offsetof (config_type, member.log_level), \
      "info", 0, 0, "most verbose log level printed: error, warn, info, debug, trace" }, \
    { "instance_id", FF_CONFIG_STRING, offsetof (config_type, member.instance_id), \
      "", 0, 0, "identity of this process among replicas (empty = hostname + random suffix)" }, \
    { "http_address", FF_CONFIG_STRING, offsetof (config_type, member.http_address), \
      "0.0.0.0", 1, 0, "address of the HTTP endpoint serving /metrics and /healthz" }, \
    { "http_port", FF_CONFIG_INT, offsetof (config_type, member.http_port), \
      http_port_default, -1, 65535, "port of the HTTP endpoint (0 = off, -1 = any free port)" }, \
    { "hwm", FF_CONFIG_INT, offsetof (config_type, member.hwm), \
      "1000", 1, 10000000, "send and receive high-water mark of every socket, in messages" }, \
    { "max_msg_size", FF_CONFIG_INT, offsetof (config_type, member.max_msg_size), \
      "16777216", 1024, 2147483647, "largest message accepted on any socket, in bytes (larger: peer disconnected)" }, \
    { "reply_stall_ms", FF_CONFIG_INT, offsetof (config_type, member.reply_stall_ms), \
      "30000", 1, 86400000, "streamed replies wait for a slow reader; one that reads nothing this long loses them" }, \
    { "heap_retain_mb", FF_CONFIG_INT, offsetof (config_type, member.heap_retain_mb), \
      FF_HEAP_TEXT (FF_HEAP_RETAIN_DEFAULT_MB), 0, FF_HEAP_RETAIN_MAX_MB, "free memory kept for reuse instead of returned to the kernel at each burst, MiB (0 = C library default)" }, \
    { "curve_cert", FF_CONFIG_STRING, offsetof (config_type, member.curve_cert), \
      "", 0, 0, "own CURVE certificate, secret file NAME.cert_secret (set = CURVE on every tcp:// endpoint)" }, \
    { "curve_allowed_dir", FF_CONFIG_STRING, offsetof (config_type, member.curve_allowed_dir), \
      "", 0, 0, "directory of the public certificates (NAME.cert) of the clients let in (required with curve_cert)" }, \
    { "curve_server_cert", FF_CONFIG_STRING, offsetof (config_type, member.curve_server_cert), \
      "", 0, 0, "public certificate (NAME.cert) of the servers this process connects to (CURVE)" }

typedef enum {
    FF_HEALTH_STARTING = 0,     // not serving yet           -> /healthz 503
    FF_HEALTH_HEALTHY,          //                           -> 200
    FF_HEALTH_DEGRADED,         // serving, with a problem   -> 200
    FF_HEALTH_UNHEALTHY,        // cannot do its job         -> 503
    FF_HEALTH_STOPPING,         // shutting down             -> 503
} ff_health_t;

typedef struct ff_service ff_service_t;

//  Creates the service: identity, metrics, HTTP endpoint (when configured),
//  CURVE (when curve_cert is set: every socket and the publisher created
//  through the service then use it on tcp:// endpoints).
//  name is "factory", "orchestrator" or "sisas". config is copied. Returns
//  NULL with the reason in err (e.g. the HTTP port is taken, or
//  "curve_cert /etc/x.cert_secret: No such file or directory").
ff_service_t *
    ff_service_new (const char *name, const ff_service_config_t *config,
                    char *err, size_t err_size);

//  Closes every socket, stops HTTP; nulls *self_p. Idempotent.
void
    ff_service_destroy (ff_service_t **self_p);

//  Creates a socket with the configured limits, attached to endpoints
//  (see ff_socket_new), owned by the service and known by `name` to the
//  ENDPOINT command. NULL with the reason in err.
zsock_t *
    ff_service_socket (ff_service_t *self, const char *name, int type,
                       const char *endpoints, bool default_bind,
                       char *err, size_t err_size);

//  Creates the service's signal publisher to SISAS's ingest `endpoint`,
//  with source "<service>/<instance id>" and the service's limits; when
//  control_endpoint (SISAS's delivery socket) is not empty, it also obeys
//  SISAS's THROTTLE / BACKPRESSURE heard there. The publisher belongs to
//  the service (one per service; a second call returns the first). NULL
//  with the reason in err.
ff_publisher_t *
    ff_service_publisher (ff_service_t *self, const char *endpoint,
                          const char *control_endpoint, char *err, size_t err_size);

//  Serves requests on sock through routes (see ff_rpc); service is passed
//  to the handlers. The rpc belongs to the service. NULL on failure.
ff_rpc_t *
    ff_service_serve (ff_service_t *self, zsock_t *sock, const char *name,
                      const ff_rpc_route_t *routes, void *service);

//  The service's CURVE setup, NULL when off: for sockets a module
//  attaches itself (ff_curve_attach).
ff_curve_t *
    ff_service_curve (ff_service_t *self);

//  The loop, for timers and other readers (zloop_reader, zloop_timer...).
zloop_t *
    ff_service_loop (ff_service_t *self);

ff_metrics_t *
    ff_service_metrics (ff_service_t *self);

const ff_service_info_t *
    ff_service_info (ff_service_t *self);

//  Thread-safe. reason may be NULL for HEALTHY.
void
    ff_service_set_health (ff_service_t *self, ff_health_t health, const char *reason);

ff_health_t
    ff_service_health (ff_service_t *self);

//  "starting", "healthy", "degraded", "unhealthy", "stopping".
const char *
    ff_service_health_name (ff_health_t health);

//  The HTTP port in use (0 when off).
int
    ff_service_http_port (ff_service_t *self);

//  Signals the pipe that the actor is ready, marks the service healthy
//  and runs the loop until $TERM on pipe (or a handler returns -1).
//  Returns 0 after $TERM, -1 when the loop failed.
int
    ff_service_run (ff_service_t *self, zsock_t *pipe);

#endif
