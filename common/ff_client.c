#include "ff_client.h"
#include "ff_clock.h"

#include <unistd.h>

struct ff_client {
    char *endpoint;             // connect address, without '>'
    char *sender_id;            // envelope sender id
    zsock_t *sock;              // DEALER, recreated after a timeout
    ff_curve_t *curve;          // CURVE client on tcp://, borrowed; NULL = none
    uint64_t sequence;          // makes correlation ids unique
    char correlation_id [FF_MSG_ID_MAX + 1];    // of the last request
};

//  NULL with the reason in err.
static zsock_t *
s_connect (const char *endpoint, ff_curve_t *curve, char *err, size_t err_size)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock) {
        snprintf (err, err_size, "cannot create socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zsock_set_linger (sock, 0);
    if (ff_curve_attach (curve, sock, endpoint, false, err, err_size) != 0)
        zsock_destroy (&sock);
    return sock;
}

ff_client_t *
ff_client_new (const char *endpoint, const char *sender_id, char *err, size_t err_size)
{
    return ff_client_new_secure (endpoint, sender_id, ff_curve_client_default (), err, err_size);
}

ff_client_t *
ff_client_new_secure (const char *endpoint, const char *sender_id, ff_curve_t *curve,
                      char *err, size_t err_size)
{
    if (*endpoint == '>')
        endpoint++;
    zsock_t *sock = s_connect (endpoint, curve, err, err_size);
    if (!sock)
        return NULL;
    ff_client_t *self = (ff_client_t *) zmalloc (sizeof (ff_client_t));
    self->endpoint = strdup (endpoint);
    self->sender_id = sender_id ? strdup (sender_id) : zsys_sprintf ("client-%d", (int) getpid ());
    self->sock = sock;
    self->curve = curve;
    return self;
}

void
ff_client_destroy (ff_client_t **self_p)
{
    if (self_p && *self_p) {
        ff_client_t *self = *self_p;
        zsock_destroy (&self->sock);
        free (self->endpoint);
        free (self->sender_id);
        free (self);
        *self_p = NULL;
    }
}

const char *
ff_client_last_correlation_id (const ff_client_t *self)
{
    return self->correlation_id;
}

//  Waits until deadline for the reply to the current request. Returns 0
//  with *reply_p, -1 on timeout, -2 on an undecodable reply.
static int
s_await_reply (ff_client_t *self, uint64_t deadline_us, ff_msg_t **reply_p,
               char *err, size_t err_size)
{
    ff_msg_t *reply = ff_msg_new ();
    int rc = -1;
    while (true) {
        uint64_t now = ff_clock_mono_us ();
        if (now >= deadline_us)
            break;
        zmq_pollitem_t item = { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 };
        int timeout_ms = (int) ((deadline_us - now + 999) / 1000);
        if (zmq_poll (&item, 1, timeout_ms) <= 0)
            continue;
        int decoded = ff_msg_recv (reply, self->sock);
        if (decoded == -1)
            break;
        if (decoded == -2) {
            snprintf (err, err_size, "%s answered with an invalid message: %s",
                      self->endpoint, ff_msg_error (reply));
            rc = -2;
            break;
        }
        if (streq (ff_msg_correlation_id (reply), self->correlation_id)) {
            *reply_p = reply;
            return 0;
        }
        //  A late reply to an abandoned attempt: not ours any more.
    }
    ff_msg_destroy (&reply);
    return rc;
}

int
ff_client_request (ff_client_t *self, uint32_t type, const ProtobufCMessage *body,
                   int timeout_ms, int attempts, ff_msg_t **reply_p,
                   char *err, size_t err_size)
{
    *reply_p = NULL;
    snprintf (self->correlation_id, sizeof self->correlation_id, "%.200s-%llu",
              self->sender_id, (unsigned long long) ++self->sequence);
    ff_msg_header_t header = {
        .type = type,
        .correlation_id = self->correlation_id,
        .sender_id = self->sender_id,
    };
    if (attempts < 1)
        attempts = 1;
    for (int attempt = 1; attempt <= attempts; attempt++) {
        if (!self->sock) {
            self->sock = s_connect (self->endpoint, self->curve, err, err_size);
            if (!self->sock)
                return -1;
        }
        //  A DEALER with no live peer queues the request; it is still
        //  bounded by the socket's HWM and dropped with the socket below.
        ff_msg_send (self->sock, NULL, false, &header, body);
        uint64_t deadline = ff_clock_mono_us () + (uint64_t) timeout_ms * 1000;
        int rc = s_await_reply (self, deadline, reply_p, err, err_size);
        if (rc != -1)
            return rc;
        zsock_destroy (&self->sock);
    }
    snprintf (err, err_size, "no reply from %s after %d attempt%s of %d ms",
              self->endpoint, attempts, attempts == 1 ? "" : "s", timeout_ms);
    return -1;
}
