#include "ff_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ff_msg {
    zframe_t *routing_id;           // ROUTER peer, owned; NULL otherwise
    char peer [65];                 // hex of the routing id's first 32 bytes
    bool delimiter;                 // request carried an empty delimiter
    Farfan__Envelope *envelope;     // decoded envelope, owned; NULL if undecodable
    zframe_t *body;                 // body frame, owned; NULL = empty body
    uint32_t error_code;            // after a failed decode: MALFORMED or UNSUPPORTED
    char error [160];               // after a failed decode: why
};

//  Bodies larger than this are handed to libzmq without a copy.
#define S_ZERO_COPY_MIN 4096

ff_msg_t *
ff_msg_new (void)
{
    return (ff_msg_t *) zmalloc (sizeof (ff_msg_t));
}

static void
s_reset (ff_msg_t *self)
{
    zframe_destroy (&self->routing_id);
    zframe_destroy (&self->body);
    if (self->envelope) {
        farfan__envelope__free_unpacked (self->envelope, NULL);
        self->envelope = NULL;
    }
    self->peer [0] = '\0';
    self->delimiter = false;
    self->error_code = FARFAN__ERROR_CODE__OK;
    self->error [0] = '\0';
}

void
ff_msg_destroy (ff_msg_t **self_p)
{
    if (self_p && *self_p) {
        s_reset (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_fail (ff_msg_t *self, uint32_t code, const char *reason)
{
    self->error_code = code;
    snprintf (self->error, sizeof self->error, "%s", reason);
    return -2;
}

int
ff_msg_recv (ff_msg_t *self, zsock_t *sock)
{
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg) {
        s_reset (self);
        return -1;
    }
    return ff_msg_decode (self, &msg, zsock_type (sock) == ZMQ_ROUTER);
}

int
ff_msg_decode (ff_msg_t *self, zmsg_t **msg_p, bool has_routing_id)
{
    s_reset (self);
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    zframe_t *frame = NULL;
    int rc = -2;

    if (has_routing_id) {
        self->routing_id = zmsg_pop (msg);
        if (!self->routing_id) {
            s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "empty message");
            goto cleanup;
        }
        size_t size = zframe_size (self->routing_id);
        if (size > 32)
            size = 32;
        const uint8_t *data = zframe_data (self->routing_id);
        for (size_t i = 0; i < size; i++)
            snprintf (self->peer + 2 * i, 3, "%02x", data [i]);
    }
    frame = zmsg_pop (msg);
    if (frame && zframe_size (frame) == 0) {
        self->delimiter = true;
        zframe_destroy (&frame);
        frame = zmsg_pop (msg);
    }
    if (!frame) {
        s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "no envelope frame");
        goto cleanup;
    }
    if (zmsg_size (msg) > 1) {
        char reason [96];
        snprintf (reason, sizeof reason, "expected [envelope][body], got %zu frames",
                  zmsg_size (msg) + 1);
        s_fail (self, FARFAN__ERROR_CODE__MALFORMED, reason);
        goto cleanup;
    }
    if (zframe_size (frame) == 0) {
        s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "empty envelope frame");
        goto cleanup;
    }
    self->envelope = farfan__envelope__unpack (NULL, zframe_size (frame), zframe_data (frame));
    if (!self->envelope) {
        s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "envelope is not a valid protobuf Envelope");
        goto cleanup;
    }
    if (strlen (self->envelope->correlation_id) > FF_MSG_ID_MAX
    ||  strlen (self->envelope->sender_id) > FF_MSG_ID_MAX) {
        s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "correlation_id or sender_id longer than 256 bytes");
        goto cleanup;
    }
    if (self->envelope->version != FF_PROTOCOL_VERSION) {
        char reason [96];
        snprintf (reason, sizeof reason, "protocol version %u is not supported (this service speaks %d)",
                  self->envelope->version, FF_PROTOCOL_VERSION);
        s_fail (self, self->envelope->version == 0 ? FARFAN__ERROR_CODE__MALFORMED
                                                   : FARFAN__ERROR_CODE__UNSUPPORTED, reason);
        goto cleanup;
    }
    self->body = zmsg_pop (msg);
    rc = 0;

cleanup:
    zframe_destroy (&frame);
    zmsg_destroy (&msg);
    return rc;
}

zframe_t *
ff_msg_routing_id (const ff_msg_t *self)
{
    return self->routing_id;
}

const char *
ff_msg_peer (const ff_msg_t *self)
{
    return self->peer;
}

bool
ff_msg_has_delimiter (const ff_msg_t *self)
{
    return self->delimiter;
}

uint32_t
ff_msg_type (const ff_msg_t *self)
{
    return self->envelope ? (uint32_t) self->envelope->type : 0;
}

const char *
ff_msg_correlation_id (const ff_msg_t *self)
{
    return self->envelope ? self->envelope->correlation_id : "";
}

const char *
ff_msg_sender_id (const ff_msg_t *self)
{
    return self->envelope ? self->envelope->sender_id : "";
}

uint32_t
ff_msg_status_code (const ff_msg_t *self)
{
    return self->envelope && self->envelope->status ? (uint32_t) self->envelope->status->code : 0;
}

const char *
ff_msg_status_message (const ff_msg_t *self)
{
    return self->envelope && self->envelope->status ? self->envelope->status->message : "";
}

const uint8_t *
ff_msg_body_data (const ff_msg_t *self)
{
    return self->body ? zframe_data (self->body) : (const uint8_t *) "";
}

size_t
ff_msg_body_size (const ff_msg_t *self)
{
    return self->body ? zframe_size (self->body) : 0;
}

uint32_t
ff_msg_error_code (const ff_msg_t *self)
{
    return self->error_code;
}

const char *
ff_msg_error (const ff_msg_t *self)
{
    return self->error;
}

//  Sends one frame without blocking; returns 0 or -1 (errno set).
static int
s_send_frame (void *handle, const void *data, size_t size, bool more)
{
    int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);
    return zmq_send (handle, data, size, flags) < 0 ? -1 : 0;
}

static void
s_free_buffer (void *data, void *hint)
{
    (void) hint;
    free (data);
}

//  Packs and sends a protobuf message as the last frame.
static int
s_send_body (void *handle, const ProtobufCMessage *body)
{
    if (!body)
        return s_send_frame (handle, "", 0, false);
    size_t size = protobuf_c_message_get_packed_size (body);
    if (size < S_ZERO_COPY_MIN) {
        uint8_t buffer [S_ZERO_COPY_MIN];
        protobuf_c_message_pack (body, buffer);
        return s_send_frame (handle, buffer, size, false);
    }
    uint8_t *buffer = (uint8_t *) malloc (size);
    if (!buffer) {
        errno = ENOMEM;
        return -1;
    }
    protobuf_c_message_pack (body, buffer);
    zmq_msg_t part;
    zmq_msg_init_data (&part, buffer, size, s_free_buffer, NULL);
    if (zmq_msg_send (&part, handle, ZMQ_DONTWAIT) < 0) {
        int saved = errno;
        zmq_msg_close (&part);      //  frees buffer
        errno = saved;
        return -1;
    }
    return 0;
}

int
ff_msg_send (zsock_t *sock, const zframe_t *routing_id, bool delimiter,
             const ff_msg_header_t *header, const ProtobufCMessage *body)
{
    void *handle = zsock_resolve (sock);
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    Farfan__Status status = FARFAN__STATUS__INIT;
    envelope.version = FF_PROTOCOL_VERSION;
    envelope.type = (Farfan__MessageType) header->type;
    envelope.correlation_id = (char *) (header->correlation_id ? header->correlation_id : "");
    envelope.sender_id = (char *) (header->sender_id ? header->sender_id : "");
    if (header->status_code != FARFAN__ERROR_CODE__OK) {
        status.code = (Farfan__ErrorCode) header->status_code;
        status.message = (char *) (header->status_message ? header->status_message : "");
        envelope.status = &status;
    }
    size_t envelope_size = farfan__envelope__get_packed_size (&envelope);
    uint8_t *envelope_data = (uint8_t *) malloc (envelope_size);
    if (!envelope_data) {
        errno = ENOMEM;
        return -1;
    }
    farfan__envelope__pack (&envelope, envelope_data);

    int rc = -1;
    //  Only the first frame can fail: libzmq queues the rest of a
    //  multipart message once its first frame is accepted.
    if (routing_id
    &&  s_send_frame (handle, zframe_data ((zframe_t *) routing_id),
                      zframe_size ((zframe_t *) routing_id), true) != 0)
        goto cleanup;
    if (delimiter && s_send_frame (handle, "", 0, true) != 0)
        goto cleanup;
    if (s_send_frame (handle, envelope_data, envelope_size, true) != 0)
        goto cleanup;
    rc = s_send_body (handle, body);

cleanup:
    free (envelope_data);
    return rc;
}

static const char *
s_enum_name (const ProtobufCEnumDescriptor *descriptor, uint32_t value)
{
    const ProtobufCEnumValue *entry = protobuf_c_enum_descriptor_get_value (descriptor, (int) value);
    return entry ? entry->name : "UNKNOWN";
}

const char *
ff_msg_type_name (uint32_t type)
{
    return s_enum_name (&farfan__message_type__descriptor, type);
}

const char *
ff_msg_code_name (uint32_t code)
{
    return s_enum_name (&farfan__error_code__descriptor, code);
}
