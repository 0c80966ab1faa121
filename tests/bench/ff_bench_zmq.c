/*  ff_bench_zmq — raw libzmq baselines. The contracts are in ff_bench_zmq.h.

    Only zmq.h and pthreads here: the point is to measure libzmq alone.
    Threads own the sockets main creates for them (a socket may move to
    another thread across pthread_create's memory barrier). Teardown is
    always the same: main closes its own sockets, zmq_ctx_shutdown makes
    every blocking call in the helper threads return ETERM, the threads
    close their sockets and end, main joins them and terminates the context.
*/
#include "ff_bench_zmq.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_ENVELOPE_SIZE 40              //  request frame 1, like an envelope
#define S_HWM_MARGIN 10000              //  feed HWM above 2 x round_max
#define S_ENDPOINT_MAX 256              //  room for a resolved endpoint
#define S_PATH_CHECK 100                //  untimed requests in path_new

//  --------------------------------------------------------------------------
//  Socket helpers

static int
s_set (void *socket, int option, int value)
{
    return zmq_setsockopt (socket, option, &value, sizeof value);
}

//  Creates a socket with LINGER 0, send/receive timeouts of timeout_ms when
//  > 0 and both HWMs at hwm when > 0. Returns NULL on failure (errno set).
static void *
s_socket (void *ctx, int type, int timeout_ms, int hwm)
{
    void *socket = zmq_socket (ctx, type);
    if (!socket)
        return NULL;
    if (s_set (socket, ZMQ_LINGER, 0)
    || (timeout_ms > 0 && (s_set (socket, ZMQ_RCVTIMEO, timeout_ms)
                       ||  s_set (socket, ZMQ_SNDTIMEO, timeout_ms)))
    || (hwm > 0 && (s_set (socket, ZMQ_SNDHWM, hwm)
                ||  s_set (socket, ZMQ_RCVHWM, hwm)))) {
        int saved = errno;
        zmq_close (socket);
        errno = saved;
        return NULL;
    }
    return socket;
}

//  Binds to tcp://127.0.0.1:* and copies the resolved endpoint (with the
//  port) to `endpoint`. Returns 0, or -1 (errno set).
static int
s_bind_ephemeral (void *socket, char *endpoint, size_t size)
{
    if (zmq_bind (socket, "tcp://127.0.0.1:*"))
        return -1;
    return zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, endpoint, &size);
}

//  Why a receive or send failed, for a message.
static const char *
s_why (int error, int timeout_ms, char *buffer, size_t size)
{
    if (error == EAGAIN)
        snprintf (buffer, size, "timed out after %d ms", timeout_ms);
    else
        snprintf (buffer, size, "%s", zmq_strerror (error));
    return buffer;
}

//  Terminates a context whose sockets are all closed.
static void
s_ctx_term (void *ctx)
{
    while (zmq_ctx_term (ctx) == -1 && errno == EINTR)
        ;
}

//  "<name><suffix>" into buffer; NULL when name is NULL.
static const char *
s_row_name (char *buffer, size_t size, const char *name, const char *suffix)
{
    if (!name)
        return NULL;
    snprintf (buffer, size, "%s%s", name, suffix);
    return buffer;
}

//  --------------------------------------------------------------------------
//  Echo server thread: a ROUTER that sends every message back, frame by
//  frame, to the peer it came from. Serves until the context shuts down.

static void *
s_echo_thread (void *arg)
{
    void *router = arg;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (true) {
        if (zmq_msg_recv (&frame, router, 0) == -1) {
            if (errno == EINTR)
                continue;
            break;                      //  ETERM: context shutting down
        }
        int flags = zmq_msg_more (&frame)? ZMQ_SNDMORE: 0;
        int rc;
        while ((rc = zmq_msg_send (&frame, router, flags)) == -1
        &&     errno == EINTR)
            ;
        if (rc == -1)
            break;
    }
    zmq_msg_close (&frame);
    zmq_close (router);
    return NULL;
}

//  Proxy thread: libzmq's own zmq_proxy between a frontend and a backend
//  (ROUTER and DEALER on a request path, XSUB and XPUB on a feed); it
//  returns on ETERM. (No timeouts on these two sockets: zmq_proxy would
//  treat EAGAIN as an error and stop relaying.)

typedef struct {
    void *frontend;                     //  ROUTER / XSUB: clients, publishers connect
    void *backend;                      //  DEALER to the echo / XPUB the SUB connects to
} s_proxy_t;

static void *
s_proxy_thread (void *arg)
{
    s_proxy_t *proxy = arg;
    zmq_proxy (proxy->frontend, proxy->backend, NULL);
    zmq_close (proxy->frontend);
    zmq_close (proxy->backend);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Request/reply path fixture

typedef struct {
    pthread_t thread;                   //  echo, then proxy
    bool started;                       //  must be joined
} s_thread_t;

struct _ff_bench_zmq_path_t {
    ff_bench_t *bench;                  //  failures are reported to it
    int hops;                           //  1 or 2
    int timeout_ms;                     //  on every client send/receive
    void *ctx;                          //  this path's context
    void *client;                       //  DEALER, caller's thread
    s_thread_t threads [2];             //  echo, proxy
    s_proxy_t proxy;                    //  proxy thread's sockets
    uint64_t seq;                       //  next request's sequence number
    bool broken;                        //  a failure was reported
    char error [256];                   //  why the last call failed
};

//  Reports self->error once and marks the path unusable. Returns -1.
static int
s_path_failed (ff_bench_zmq_path_t *self)
{
    if (!self->broken)
        ff_bench_fail (self->bench, "%d-hop request path: %s",
                       self->hops, self->error);
    self->broken = true;
    return -1;
}

//  Sends request `seq`: a 40-byte envelope carrying seq, then an empty body.
static int
s_send_request (ff_bench_zmq_path_t *self, uint64_t seq)
{
    unsigned char envelope [S_ENVELOPE_SIZE];
    memset (envelope, 'e', sizeof envelope);
    memcpy (envelope, &seq, sizeof seq);
    if (zmq_send (self->client, envelope, sizeof envelope, ZMQ_SNDMORE) == -1
    ||  zmq_send (self->client, "", 0, 0) == -1) {
        char why [64];
        snprintf (self->error, sizeof self->error, "send of request %" PRIu64
                  ": %s", seq,
                  s_why (errno, self->timeout_ms, why, sizeof why));
        return -1;
    }
    return 0;
}

//  Receives the reply to request `seq` and checks it is that one, whole.
static int
s_recv_reply (ff_bench_zmq_path_t *self, uint64_t seq)
{
    unsigned char frame [S_ENVELOPE_SIZE + 1];
    int more = 0;
    size_t more_size = sizeof more;
    int length = zmq_recv (self->client, frame, sizeof frame, 0);
    if (length == -1) {
        char why [64];
        snprintf (self->error, sizeof self->error, "reply to request %"
                  PRIu64 ": %s", seq,
                  s_why (errno, self->timeout_ms, why, sizeof why));
        return -1;
    }
    uint64_t echoed = 0;
    if (length == S_ENVELOPE_SIZE)
        memcpy (&echoed, frame, sizeof echoed);
    zmq_getsockopt (self->client, ZMQ_RCVMORE, &more, &more_size);
    if (length != S_ENVELOPE_SIZE || echoed != seq || !more) {
        snprintf (self->error, sizeof self->error, "reply to request %"
                  PRIu64 " malformed or out of order (%d bytes, seq %"
                  PRIu64 ", more %d)", seq, length, echoed, more);
        return -1;
    }
    length = zmq_recv (self->client, frame, sizeof frame, 0);
    more_size = sizeof more;
    zmq_getsockopt (self->client, ZMQ_RCVMORE, &more, &more_size);
    if (length != 0 || more) {
        snprintf (self->error, sizeof self->error, "reply to request %"
                  PRIu64 ": body frame malformed (%d bytes, more %d)",
                  seq, length, more);
        return -1;
    }
    return 0;
}

ff_bench_zmq_path_t *
ff_bench_zmq_path_new (ff_bench_t *bench, int hops)
{
    if (hops != 1 && hops != 2) {
        ff_bench_fail (bench, "request path: hops must be 1 or 2, not %d",
                       hops);
        return NULL;
    }
    ff_bench_zmq_path_t *self = calloc (1, sizeof *self);
    if (!self) {
        ff_bench_fail (bench, "request path: out of memory");
        return NULL;
    }
    self->bench = bench;
    self->hops = hops;
    self->timeout_ms = ff_bench_timeout_ms (bench);
    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        snprintf (self->error, sizeof self->error, "zmq_ctx_new: %s",
                  zmq_strerror (errno));
        goto failed;
    }
    char endpoint [S_ENDPOINT_MAX];
    void *echo = s_socket (self->ctx, ZMQ_ROUTER, 0, 0);
    if (!echo || s_bind_ephemeral (echo, endpoint, sizeof endpoint)) {
        snprintf (self->error, sizeof self->error, "echo ROUTER bind: %s",
                  zmq_strerror (errno));
        if (echo)
            zmq_close (echo);
        goto failed;
    }
    if (pthread_create (&self->threads [0].thread, NULL, s_echo_thread,
                        echo)) {
        snprintf (self->error, sizeof self->error,
                  "cannot start the echo thread");
        zmq_close (echo);
        goto failed;
    }
    self->threads [0].started = true;

    if (hops == 2) {
        void *frontend = s_socket (self->ctx, ZMQ_ROUTER, 0, 0);
        void *backend = s_socket (self->ctx, ZMQ_DEALER, 0, 0);
        if (!frontend || !backend
        ||  zmq_connect (backend, endpoint)
        ||  s_bind_ephemeral (frontend, endpoint, sizeof endpoint)) {
            snprintf (self->error, sizeof self->error, "proxy sockets: %s",
                      zmq_strerror (errno));
            if (frontend)
                zmq_close (frontend);
            if (backend)
                zmq_close (backend);
            goto failed;
        }
        self->proxy.frontend = frontend;
        self->proxy.backend = backend;
        if (pthread_create (&self->threads [1].thread, NULL, s_proxy_thread,
                            &self->proxy)) {
            snprintf (self->error, sizeof self->error,
                      "cannot start the proxy thread");
            zmq_close (frontend);
            zmq_close (backend);
            goto failed;
        }
        self->threads [1].started = true;
    }
    self->client = s_socket (self->ctx, ZMQ_DEALER, self->timeout_ms, 0);
    if (!self->client || zmq_connect (self->client, endpoint)) {
        snprintf (self->error, sizeof self->error, "client DEALER connect "
                  "to %.100s: %s", endpoint, zmq_strerror (errno));
        goto failed;
    }
    //  The first request queues on the DEALER until TCP connects.
    for (int index = 0; index < S_PATH_CHECK; index++, self->seq++)
        if (s_send_request (self, self->seq)
        ||  s_recv_reply (self, self->seq))
            goto failed;
    return self;

failed:
    s_path_failed (self);
    ff_bench_zmq_path_destroy (&self);
    return NULL;
}

void
ff_bench_zmq_path_destroy (ff_bench_zmq_path_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_bench_zmq_path_t *self = *self_p;
    if (self->client)
        zmq_close (self->client);
    if (self->ctx) {
        zmq_ctx_shutdown (self->ctx);   //  helper threads see ETERM, end
        for (int index = 0; index < 2; index++)
            if (self->threads [index].started)
                pthread_join (self->threads [index].thread, NULL);
        s_ctx_term (self->ctx);
    }
    free (self);
    *self_p = NULL;
}

int
ff_bench_zmq_path_rtt (ff_bench_zmq_path_t *self, size_t requests,
                       ff_bench_samples_t *samples)
{
    if (self->broken)
        return -1;
    for (size_t index = 0; index < requests; index++, self->seq++) {
        uint64_t sent = ff_bench_now_ns ();
        if (s_send_request (self, self->seq)
        ||  s_recv_reply (self, self->seq))
            return s_path_failed (self);
        ff_bench_samples_add (samples, ff_bench_now_ns () - sent);
    }
    return 0;
}

int
ff_bench_zmq_path_pipelined (ff_bench_zmq_path_t *self, size_t messages,
                             size_t window, uint64_t *elapsed_ns)
{
    if (self->broken)
        return -1;
    if (window == 0)
        window = FF_BENCH_ZMQ_WINDOW;
    uint64_t first = self->seq;
    size_t sent = 0;
    size_t received = 0;
    uint64_t start = ff_bench_now_ns ();
    while (received < messages) {
        while (sent < messages && sent - received < window) {
            if (s_send_request (self, first + sent))
                return s_path_failed (self);
            sent++;
        }
        if (s_recv_reply (self, first + received))
            return s_path_failed (self);
        received++;
    }
    *elapsed_ns = ff_bench_now_ns () - start;
    self->seq = first + messages;
    return 0;
}

//  --------------------------------------------------------------------------
//  PUB/SUB feed fixture

//  Message kinds, byte 0 of every feed message; byte 1 of a probe or end
//  marker is the publisher's number.
#define S_KIND_PROBE 'P'
#define S_KIND_DATA  'D'
#define S_KIND_END   'E'

typedef struct {
    pthread_t thread;                   //  running s_publisher_thread
    bool started;                       //  must be joined
    void *pub;                          //  PUB, connected to the SUB
    void *control;                      //  PAIR, thread's end of go-aheads
    void *go;                           //  PAIR, main's end of go-aheads
    int index;                          //  number in probes and end markers
    size_t size;                        //  bytes per message
    bool stopped;                       //  ended by context shutdown
    char error [160];                   //  why it ended otherwise
} s_publisher_t;

struct _ff_bench_zmq_feed_t {
    ff_bench_t *bench;                  //  failures are reported to it
    int publishers;                     //  PUB threads
    size_t size;                        //  bytes per message
    size_t round_max;                   //  most messages in one round
    int timeout_ms;                     //  on every subscriber receive
    void *ctx;                          //  this feed's context
    void *sub;                          //  SUB, caller's thread: bound, or connected to the proxy
    void *proxy_ctx;                    //  the proxy's own context (hops 2)
    s_proxy_t proxy;                    //  its XSUB and XPUB
    pthread_t proxy_thread;
    bool proxy_started;                 //  must be joined
    s_publisher_t *pubs;                //  publishers [publishers]
    zmq_msg_t message;                  //  receive buffer, reused
    bool broken;                        //  a failure was reported
    char error [256];                   //  why the last call failed
};

//  Sends one message of self->size bytes of `kind`; on failure fills the
//  publisher's error. Returns 0 / -1.
static int
s_publisher_send (s_publisher_t *self, unsigned char *buffer, int kind)
{
    buffer [0] = (unsigned char) kind;
    if (zmq_send (self->pub, buffer, self->size, 0) == -1) {
        self->stopped = errno == ETERM;
        snprintf (self->error, sizeof self->error, "send (%c): %s", kind,
                  zmq_strerror (errno));
        return -1;
    }
    return 0;
}

//  Receives a go-ahead: the number of data messages to send now.
static int
s_publisher_go (s_publisher_t *self, uint64_t *count)
{
    int length = zmq_recv (self->control, count, sizeof *count, 0);
    if (length != (int) sizeof *count) {
        self->stopped = length == -1 && errno == ETERM;
        snprintf (self->error, sizeof self->error, "go-ahead: %s",
                  length == -1? zmq_strerror (errno): "malformed");
        return -1;
    }
    return 0;
}

static void *
s_publisher_thread (void *arg)
{
    s_publisher_t *self = arg;
    unsigned char *buffer = malloc (self->size);
    if (!buffer) {
        snprintf (self->error, sizeof self->error, "out of memory");
        goto done;
    }
    memset (buffer, 'x', self->size);
    buffer [1] = (unsigned char) self->index;

    //  A PUB cannot tell when the SUB's subscription has reached it (slow
    //  joiner), so it re-sends a probe each millisecond until the
    //  subscriber, having seen one from every publisher, sends the first
    //  go-ahead. The subscriber bounds that wait; past it, it shuts the
    //  context down, which ends this loop.
    while (true) {
        if (s_publisher_send (self, buffer, S_KIND_PROBE))
            goto done;
        zmq_pollitem_t item = { self->control, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, 1);
        if (rc == -1) {
            self->stopped = errno == ETERM;
            snprintf (self->error, sizeof self->error, "waiting for the "
                      "first go-ahead: %s", zmq_strerror (errno));
            goto done;
        }
        if (rc > 0)
            break;
    }
    //  Rounds until the context shuts down: go-ahead, data, end marker.
    while (true) {
        uint64_t count;
        if (s_publisher_go (self, &count))
            goto done;
        for (uint64_t index = 0; index < count; index++)
            if (s_publisher_send (self, buffer, S_KIND_DATA))
                goto done;
        if (s_publisher_send (self, buffer, S_KIND_END))
            goto done;
    }
done:
    free (buffer);
    zmq_close (self->pub);
    zmq_close (self->control);
    return NULL;
}

//  Reports self->error once and marks the feed unusable. Returns -1.
static int
s_feed_failed (ff_bench_zmq_feed_t *self)
{
    if (!self->broken)
        ff_bench_fail (self->bench, "PUB/SUB feed (%d publisher%s): %s",
                       self->publishers, self->publishers > 1? "s": "",
                       self->error);
    self->broken = true;
    return -1;
}

//  Creates publisher `index`'s sockets, connects it to `endpoint`, starts
//  its thread. Returns 0, or -1 with self->error filled (main's `go` end,
//  if made, is left for destroy to close).
static int
s_feed_start_publisher (ff_bench_zmq_feed_t *self, int index,
                        const char *endpoint, int hwm)
{
    s_publisher_t *pub = &self->pubs [index];
    pub->index = index;
    pub->size = self->size;
    char control [64];
    snprintf (control, sizeof control, "inproc://ff-bench-go-%d", index);
    //  The thread waits for go-aheads without a timeout (it ends when the
    //  context shuts down); main's end is bounded like every main receive.
    pub->go = s_socket (self->ctx, ZMQ_PAIR, self->timeout_ms, 0);
    pub->control = s_socket (self->ctx, ZMQ_PAIR, 0, 0);
    pub->pub = s_socket (self->ctx, ZMQ_PUB, 0, hwm);
    if (!pub->go || !pub->control || !pub->pub
    ||  zmq_bind (pub->go, control)
    ||  zmq_connect (pub->control, control)
    ||  zmq_connect (pub->pub, endpoint)) {
        snprintf (self->error, sizeof self->error, "publisher %d sockets: "
                  "%s", index, zmq_strerror (errno));
        goto failed;
    }
    if (pthread_create (&pub->thread, NULL, s_publisher_thread, pub)) {
        snprintf (self->error, sizeof self->error,
                  "cannot start publisher %d", index);
        goto failed;
    }
    pub->started = true;
    return 0;
failed:
    if (pub->control)
        zmq_close (pub->control);
    if (pub->pub)
        zmq_close (pub->pub);
    pub->control = pub->pub = NULL;
    return -1;
}

//  The broker of a 2-hop feed: XSUB (its endpoint into `endpoint`, for the
//  publishers) and XPUB (the SUB connects to it) bound in a context of
//  their own, zmq_proxy between them on a thread. Returns 0, or -1 with
//  self->error filled (destroy cleans up).
static int
s_feed_start_proxy (ff_bench_zmq_feed_t *self, int hwm, char *endpoint, size_t size)
{
    char backend [S_ENDPOINT_MAX];
    self->proxy_ctx = zmq_ctx_new ();
    void *xsub = self->proxy_ctx? s_socket (self->proxy_ctx, ZMQ_XSUB, 0, hwm): NULL;
    void *xpub = self->proxy_ctx? s_socket (self->proxy_ctx, ZMQ_XPUB, 0, hwm): NULL;
    if (!xsub || !xpub
    ||  s_bind_ephemeral (xsub, endpoint, size)
    ||  s_bind_ephemeral (xpub, backend, sizeof backend)
    ||  zmq_connect (self->sub, backend)) {
        snprintf (self->error, sizeof self->error, "proxy sockets: %s",
                  zmq_strerror (errno));
        goto failed;
    }
    self->proxy.frontend = xsub;
    self->proxy.backend = xpub;
    if (pthread_create (&self->proxy_thread, NULL, s_proxy_thread, &self->proxy)) {
        snprintf (self->error, sizeof self->error, "cannot start the proxy thread");
        goto failed;
    }
    self->proxy_started = true;
    return 0;
failed:
    if (xsub)
        zmq_close (xsub);
    if (xpub)
        zmq_close (xpub);
    return -1;
}

//  Receives into self->message; returns its kind byte, 0 when too short to
//  carry one, or -1 on timeout / error (errno set).
static int
s_feed_recv (ff_bench_zmq_feed_t *self, int *publisher)
{
    if (zmq_msg_recv (&self->message, self->sub, 0) == -1)
        return -1;
    if (zmq_msg_size (&self->message) < 2)
        return 0;
    const unsigned char *data = zmq_msg_data (&self->message);
    *publisher = data [1];
    return data [0];
}

ff_bench_zmq_feed_t *
ff_bench_zmq_feed_new (ff_bench_t *bench, int publishers, size_t size,
                       size_t round_max, int hops)
{
    if (publishers < 1 || publishers > 255) {
        ff_bench_fail (bench, "PUB/SUB feed: publishers must be 1..255, "
                       "not %d", publishers);
        return NULL;
    }
    ff_bench_zmq_feed_t *self = calloc (1, sizeof *self);
    if (self)
        self->pubs = calloc ((size_t) publishers, sizeof *self->pubs);
    if (!self || !self->pubs) {
        free (self);
        ff_bench_fail (bench, "PUB/SUB feed: out of memory");
        return NULL;
    }
    self->bench = bench;
    self->publishers = publishers;
    self->size = size == 0? FF_BENCH_ZMQ_SIZE: size < 2? 2: size;
    self->round_max = round_max;
    self->timeout_ms = ff_bench_timeout_ms (bench);
    zmq_msg_init (&self->message);
    char why [64];
    bool *seen = calloc ((size_t) publishers, sizeof *seen);
    self->ctx = zmq_ctx_new ();
    if (!seen || !self->ctx) {
        snprintf (self->error, sizeof self->error,
                  "out of memory or no context");
        goto failed;
    }
    //  High enough that no message of a round can be dropped. Twice the
    //  round: a libzmq pipe's writer learns of reads only every HWM/2
    //  messages read (its low-water mark), so it may find the pipe "full"
    //  with as few as HWM/2 messages actually queued.
    size_t hwm_wanted = 2 * round_max + S_HWM_MARGIN;
    int hwm = hwm_wanted > INT_MAX? INT_MAX: (int) hwm_wanted;
    char endpoint [S_ENDPOINT_MAX];
    self->sub = s_socket (self->ctx, ZMQ_SUB, self->timeout_ms, hwm);
    if (!self->sub || zmq_setsockopt (self->sub, ZMQ_SUBSCRIBE, "", 0)) {
        snprintf (self->error, sizeof self->error, "SUB: %s",
                  zmq_strerror (errno));
        goto failed;
    }
    if (hops == 2) {
        if (s_feed_start_proxy (self, hwm, endpoint, sizeof endpoint))
            goto failed;
    }
    else
    if (s_bind_ephemeral (self->sub, endpoint, sizeof endpoint)) {
        snprintf (self->error, sizeof self->error, "SUB bind: %s",
                  zmq_strerror (errno));
        goto failed;
    }
    for (int index = 0; index < publishers; index++)
        if (s_feed_start_publisher (self, index, endpoint, hwm))
            goto failed;

    //  Slow-joiner handshake: a probe from every publisher means every PUB
    //  has our subscription and its connection is up.
    for (int count = 0; count < publishers; ) {
        int publisher = -1;
        int kind = s_feed_recv (self, &publisher);
        if (kind == -1) {
            snprintf (self->error, sizeof self->error, "probes from %d of "
                      "%d publishers only: %s", count, publishers,
                      s_why (errno, self->timeout_ms, why, sizeof why));
            goto failed;
        }
        if (kind == S_KIND_PROBE && publisher < publishers
        &&  !seen [publisher]) {
            seen [publisher] = true;
            count++;
        }
    }
    free (seen);
    return self;

failed:
    free (seen);
    s_feed_failed (self);
    ff_bench_zmq_feed_destroy (&self);
    return NULL;
}

void
ff_bench_zmq_feed_destroy (ff_bench_zmq_feed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_bench_zmq_feed_t *self = *self_p;
    zmq_msg_close (&self->message);
    if (self->sub)
        zmq_close (self->sub);
    for (int index = 0; index < self->publishers; index++)
        if (self->pubs [index].go)
            zmq_close (self->pubs [index].go);
    if (self->ctx) {
        zmq_ctx_shutdown (self->ctx);   //  publishers see ETERM, end
        for (int index = 0; index < self->publishers; index++)
            if (self->pubs [index].started)
                pthread_join (self->pubs [index].thread, NULL);
        s_ctx_term (self->ctx);
        //  A publisher that ended on its own explains a failed round.
        for (int index = 0; index < self->publishers; index++)
            if (self->pubs [index].error [0] && !self->pubs [index].stopped)
                ff_bench_fail (self->bench, "publisher %d: %s", index,
                               self->pubs [index].error);
    }
    if (self->proxy_ctx) {
        zmq_ctx_shutdown (self->proxy_ctx);     //  zmq_proxy returns
        if (self->proxy_started)
            pthread_join (self->proxy_thread, NULL);
        s_ctx_term (self->proxy_ctx);
    }
    free (self->pubs);
    free (self);
    *self_p = NULL;
}

int
ff_bench_zmq_feed_round (ff_bench_zmq_feed_t *self, size_t messages,
                         uint64_t *elapsed_ns)
{
    if (self->broken)
        return -1;
    if (messages > self->round_max) {
        snprintf (self->error, sizeof self->error, "round of %zu messages "
                  "above the feed's round_max %zu", messages,
                  self->round_max);
        return s_feed_failed (self);
    }
    size_t publishers = (size_t) self->publishers;
    char why [64];
    uint64_t start = ff_bench_now_ns ();
    for (size_t index = 0; index < publishers; index++) {
        uint64_t count = messages / publishers
                       + (index < messages % publishers);
        if (zmq_send (self->pubs [index].go, &count, sizeof count, 0) == -1) {
            snprintf (self->error, sizeof self->error, "go-ahead to "
                      "publisher %zu: %s", index,
                      s_why (errno, self->timeout_ms, why, sizeof why));
            return s_feed_failed (self);
        }
    }
    //  Each publisher's end marker follows its data on the same pipe.
    size_t received = 0;
    size_t ends = 0;
    while (ends < publishers) {
        int publisher = -1;
        int kind = s_feed_recv (self, &publisher);
        if (kind == S_KIND_DATA && zmq_msg_size (&self->message) == self->size)
            received++;
        else
        if (kind == S_KIND_END)
            ends++;
        else
        if (kind == -1) {
            snprintf (self->error, sizeof self->error, "after %zu of %zu "
                      "messages and %zu of %zu end markers: %s", received,
                      messages, ends, publishers,
                      s_why (errno, self->timeout_ms, why, sizeof why));
            return s_feed_failed (self);
        }
        else
        if (kind != S_KIND_PROBE) {
            snprintf (self->error, sizeof self->error, "unexpected message "
                      "(%zu bytes)", zmq_msg_size (&self->message));
            return s_feed_failed (self);
        }
    }
    *elapsed_ns = ff_bench_now_ns () - start;
    if (received != messages) {
        snprintf (self->error, sizeof self->error, "%zu of %zu messages "
                  "lost", messages - received, messages);
        return s_feed_failed (self);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  One-shot measurements and the interleaved standard set

//  Records the rows of a sequential round-trip measurement.
static int
s_record_rtt (ff_bench_t *bench, const char *name,
              ff_bench_samples_t *samples, uint64_t elapsed_ns,
              const char *baseline)
{
    char row [200];
    char base [200];
    int rc = ff_bench_record_latency (bench, name, samples, baseline);
    if (ff_bench_record_rate (bench, s_row_name (row, sizeof row, name,
                                                 ".rate"),
                              ff_bench_samples_count (samples), elapsed_ns,
                              "req/s", s_row_name (base, sizeof base,
                                                   baseline, ".rate")))
        rc = -1;
    return rc;
}

//  Records the rows of a PUB/SUB measurement.
static int
s_record_feed (ff_bench_t *bench, const char *name, int publishers,
               size_t size, size_t per_round, ff_bench_samples_t *durations,
               const char *baseline)
{
    char context [64];
    snprintf (context, sizeof context, "size=%zuB publishers=%d",
              size, publishers);
    int rc = ff_bench_record_rounds (bench, name, per_round, durations,
                                     "msg/s", baseline, context);
    char row [200];
    char base [200];
    if (ff_bench_record (bench, s_row_name (row, sizeof row, name, ".mbs"),
                         ff_bench_value (bench, name) * (double) size / 1e6,
                         "MB/s", s_row_name (base, sizeof base, baseline,
                                             ".mbs"),
                         "payload bytes of the median round, MB = 10^6"))
        rc = -1;
    return rc;
}

int
ff_bench_zmq_rtt (ff_bench_t *bench, const char *name, int hops,
                  size_t requests, const char *baseline)
{
    if (requests == 0)
        requests = ff_bench_scaled (bench, FF_BENCH_ZMQ_RTT_REQUESTS, 100);
    size_t warmup = requests / 10 < 100? 100: requests / 10;
    ff_bench_samples_t *samples = ff_bench_samples_new (requests + warmup);
    ff_bench_zmq_path_t *path = ff_bench_zmq_path_new (bench, hops);
    int rc = samples && path? 0: -1;
    if (rc == 0)
        rc = ff_bench_zmq_path_rtt (path, warmup, samples);
    if (rc == 0) {
        ff_bench_samples_reset (samples);
        uint64_t start = ff_bench_now_ns ();
        rc = ff_bench_zmq_path_rtt (path, requests, samples);
        if (rc == 0)
            rc = s_record_rtt (bench, name, samples,
                               ff_bench_now_ns () - start, baseline);
    }
    if (!samples)
        ff_bench_fail (bench, "%s: out of memory", name);
    ff_bench_zmq_path_destroy (&path);
    ff_bench_samples_destroy (&samples);
    return rc;
}

int
ff_bench_zmq_pipelined (ff_bench_t *bench, const char *name, int hops,
                        size_t messages, size_t window, const char *baseline)
{
    if (messages == 0)
        messages = ff_bench_scaled (bench, FF_BENCH_ZMQ_PIPE_MESSAGES, 1000);
    if (window == 0)
        window = FF_BENCH_ZMQ_WINDOW;
    size_t rounds = (size_t) ff_bench_rounds (bench);
    size_t per_round = messages / rounds? messages / rounds: 1;
    ff_bench_samples_t *durations = ff_bench_samples_new (rounds);
    ff_bench_zmq_path_t *path = ff_bench_zmq_path_new (bench, hops);
    uint64_t elapsed;
    int rc = durations && path? 0: -1;
    if (rc == 0)
        rc = ff_bench_zmq_path_pipelined (path, messages / 10, window,
                                          &elapsed);
    for (size_t round = 0; rc == 0 && round < rounds; round++) {
        rc = ff_bench_zmq_path_pipelined (path, per_round, window, &elapsed);
        ff_bench_samples_add (durations, elapsed);
    }
    if (rc == 0) {
        char context [64];
        snprintf (context, sizeof context, "window=%zu hops=%d", window, hops);
        rc = ff_bench_record_rounds (bench, name, per_round, durations,
                                     "msg/s", baseline, context);
    }
    if (!durations)
        ff_bench_fail (bench, "%s: out of memory", name);
    ff_bench_zmq_path_destroy (&path);
    ff_bench_samples_destroy (&durations);
    return rc;
}

int
ff_bench_zmq_pubsub (ff_bench_t *bench, const char *name, int publishers,
                     size_t messages, size_t size, const char *baseline)
{
    if (messages == 0)
        messages = ff_bench_scaled (bench, FF_BENCH_ZMQ_PUBSUB_MESSAGES,
                                    10000);
    if (size == 0)
        size = FF_BENCH_ZMQ_SIZE;
    size_t rounds = (size_t) ff_bench_rounds (bench);
    size_t per_round = messages / rounds? messages / rounds: 1;
    ff_bench_samples_t *durations = ff_bench_samples_new (rounds);
    ff_bench_zmq_feed_t *feed = ff_bench_zmq_feed_new (bench, publishers,
                                                       size, per_round, 1);
    uint64_t elapsed;
    int rc = durations && feed? 0: -1;
    if (rc == 0)
        rc = ff_bench_zmq_feed_round (feed, per_round / 10, &elapsed);
    for (size_t round = 0; rc == 0 && round < rounds; round++) {
        rc = ff_bench_zmq_feed_round (feed, per_round, &elapsed);
        ff_bench_samples_add (durations, elapsed);
    }
    if (rc == 0)
        rc = s_record_feed (bench, name, publishers, size < 2? 2: size,
                            per_round, durations, baseline);
    if (!durations)
        ff_bench_fail (bench, "%s: out of memory", name);
    ff_bench_zmq_feed_destroy (&feed);
    ff_bench_samples_destroy (&durations);
    return rc;
}

//  Round r runs the pair in order a, b when r is even and b, a when odd,
//  so neither side always runs first (or always right after the other).
#define S_PAIR_INDEX(round, k) ((round) % 2? 1 - (k): (k))

//  1-hop and 2-hop paths, interleaved: sequential round trips, then
//  pipelined. Returns 0 or -1.
static int
s_paths_interleaved (ff_bench_t *bench)
{
    static const char *rtt_names [2] = {
        FF_BENCH_ZMQ_RTT, FF_BENCH_ZMQ_2HOP_RTT
    };
    static const char *rtt_bases [2] = { NULL, FF_BENCH_ZMQ_RTT };
    static const char *pipe_names [2] = {
        FF_BENCH_ZMQ_PIPE, FF_BENCH_ZMQ_2HOP_PIPE
    };
    static const char *pipe_bases [2] = {
        FF_BENCH_ZMQ_RTT ".rate", FF_BENCH_ZMQ_PIPE
    };
    size_t rounds = (size_t) ff_bench_rounds (bench);
    size_t requests = ff_bench_scaled (bench, FF_BENCH_ZMQ_RTT_REQUESTS, 100);
    size_t rtt_round = requests / rounds? requests / rounds: 1;
    size_t messages = ff_bench_scaled (bench, FF_BENCH_ZMQ_PIPE_MESSAGES,
                                       1000);
    size_t pipe_round = messages / rounds? messages / rounds: 1;

    ff_bench_zmq_path_t *paths [2] = { NULL, NULL };
    ff_bench_samples_t *latencies [2] = { NULL, NULL };
    ff_bench_samples_t *durations [2] = { NULL, NULL };
    uint64_t rtt_elapsed [2] = { 0, 0 };
    int rc [2] = { 0, 0 };
    for (int k = 0; k < 2; k++) {
        paths [k] = ff_bench_zmq_path_new (bench, k + 1);
        latencies [k] = ff_bench_samples_new (rtt_round * rounds
                                              + requests / 10);
        durations [k] = ff_bench_samples_new (rounds);
        if (!paths [k] || !latencies [k] || !durations [k])
            rc [k] = -1;
    }
    //  Untimed warm-up, then timed rounds, each path in turn.
    for (int k = 0; k < 2; k++)
        if (rc [k] == 0)
            rc [k] = ff_bench_zmq_path_rtt (paths [k], requests / 10,
                                            latencies [k]);
    for (int k = 0; k < 2; k++)
        if (latencies [k])
            ff_bench_samples_reset (latencies [k]);
    for (size_t round = 0; round < rounds; round++)
        for (int k = 0; k < 2; k++) {
            int index = S_PAIR_INDEX (round, k);
            if (rc [index])
                continue;
            uint64_t start = ff_bench_now_ns ();
            rc [index] = ff_bench_zmq_path_rtt (paths [index], rtt_round,
                                                latencies [index]);
            rtt_elapsed [index] += ff_bench_now_ns () - start;
        }
    for (int k = 0; k < 2; k++)
        if (rc [k] == 0)
            rc [k] = s_record_rtt (bench, rtt_names [k], latencies [k],
                                   rtt_elapsed [k], rtt_bases [k]);

    //  Pipelined, same paths: warm-up, then interleaved rounds.
    int pipe_rc [2];
    for (int k = 0; k < 2; k++) {
        pipe_rc [k] = paths [k] && durations [k]? 0: -1;
        uint64_t elapsed;
        if (pipe_rc [k] == 0)
            pipe_rc [k] = ff_bench_zmq_path_pipelined (paths [k],
                                                       messages / 10, 0,
                                                       &elapsed);
    }
    for (size_t round = 0; round < rounds; round++)
        for (int k = 0; k < 2; k++) {
            int index = S_PAIR_INDEX (round, k);
            uint64_t elapsed;
            if (pipe_rc [index] == 0)
                pipe_rc [index] = ff_bench_zmq_path_pipelined (
                    paths [index], pipe_round, 0, &elapsed);
            if (pipe_rc [index] == 0)
                ff_bench_samples_add (durations [index], elapsed);
        }
    for (int k = 0; k < 2; k++) {
        if (pipe_rc [k] == 0) {
            char context [64];
            snprintf (context, sizeof context, "window=%d hops=%d",
                      FF_BENCH_ZMQ_WINDOW, k + 1);
            pipe_rc [k] = ff_bench_record_rounds (bench, pipe_names [k],
                                                  pipe_round, durations [k],
                                                  "msg/s", pipe_bases [k],
                                                  context);
        }
        ff_bench_zmq_path_destroy (&paths [k]);
        ff_bench_samples_destroy (&latencies [k]);
        ff_bench_samples_destroy (&durations [k]);
    }
    return rc [0] || rc [1] || pipe_rc [0] || pipe_rc [1]? -1: 0;
}

//  1 and 2 publishers, interleaved. Returns 0 or -1.
static int
s_feeds_interleaved (ff_bench_t *bench)
{
    static const char *names [2] = {
        FF_BENCH_ZMQ_PUBSUB, FF_BENCH_ZMQ_PUBSUB2
    };
    static const char *bases [2] = { NULL, FF_BENCH_ZMQ_PUBSUB };
    size_t rounds = (size_t) ff_bench_rounds (bench);
    size_t messages = ff_bench_scaled (bench, FF_BENCH_ZMQ_PUBSUB_MESSAGES,
                                       10000);
    size_t per_round = messages / rounds? messages / rounds: 1;
    ff_bench_zmq_feed_t *feeds [2] = { NULL, NULL };
    ff_bench_samples_t *durations [2] = { NULL, NULL };
    int rc [2] = { 0, 0 };
    for (int k = 0; k < 2; k++) {
        feeds [k] = ff_bench_zmq_feed_new (bench, k + 1, FF_BENCH_ZMQ_SIZE,
                                           per_round, 1);
        durations [k] = ff_bench_samples_new (rounds);
        uint64_t elapsed;
        rc [k] = feeds [k] && durations [k]? 0: -1;
        if (rc [k] == 0)
            rc [k] = ff_bench_zmq_feed_round (feeds [k], per_round / 10,
                                              &elapsed);
    }
    for (size_t round = 0; round < rounds; round++)
        for (int k = 0; k < 2; k++) {
            int index = S_PAIR_INDEX (round, k);
            uint64_t elapsed;
            if (rc [index] == 0)
                rc [index] = ff_bench_zmq_feed_round (feeds [index],
                                                      per_round, &elapsed);
            if (rc [index] == 0)
                ff_bench_samples_add (durations [index], elapsed);
        }
    for (int k = 0; k < 2; k++) {
        if (rc [k] == 0)
            rc [k] = s_record_feed (bench, names [k], k + 1,
                                    FF_BENCH_ZMQ_SIZE, per_round,
                                    durations [k], bases [k]);
        ff_bench_zmq_feed_destroy (&feeds [k]);
        ff_bench_samples_destroy (&durations [k]);
    }
    return rc [0] || rc [1]? -1: 0;
}

int
ff_bench_zmq_baselines (ff_bench_t *bench)
{
    int rc = s_paths_interleaved (bench);
    if (s_feeds_interleaved (bench))
        rc = -1;
    return rc;
}
