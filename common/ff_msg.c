#include "ff_msg.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

//  Most envelopes unpack into this much memory without a malloc.
#define S_ARENA_SIZE 1024
//  Frames kept from one message: routing id, delimiter, envelope, body,
//  and one more to tell "too many" apart (the rest are read and dropped).
#define S_FRAMES_KEPT 5

//  protobuf-c allocations for the envelope: bump-allocated from a buffer
//  reset at every message, malloc beyond it.
typedef struct {
    uint8_t buffer [S_ARENA_SIZE];
    size_t used;
} s_arena_t;

struct ff_msg {
    zframe_t *routing_id;           // ROUTER peer, owned; NULL otherwise
    char peer [65];                 // hex of the routing id's first 32 bytes
    bool delimiter;                 // request carried an empty delimiter
    Farfan__Envelope *envelope;     // decoded envelope (in the arena); NULL if undecodable
    zmq_msg_t body;                 // body frame (zero-copy); empty when absent
    uint32_t error_code;            // after a failed decode: MALFORMED or UNSUPPORTED
    char error [160];               // after a failed decode: why
    s_arena_t arena;                // backs envelope
    ProtobufCAllocator allocator;   // allocates from arena
};

//  Bodies larger than this are handed to libzmq without a copy.
#define S_ZERO_COPY_MIN 4096

static void *
s_arena_alloc (void *data, size_t size)
{
    s_arena_t *arena = (s_arena_t *) data;
    size_t aligned = (size + 15) & ~(size_t) 15;
    if (aligned <= S_ARENA_SIZE - arena->used) {
        void *pointer = arena->buffer + arena->used;
        arena->used += aligned;
        return pointer;
    }
    return malloc (size);
}

static void
s_arena_free (void *data, void *pointer)
{
    s_arena_t *arena = (s_arena_t *) data;
    uint8_t *bytes = (uint8_t *) pointer;
    if (bytes < arena->buffer || bytes >= arena->buffer + S_ARENA_SIZE)
        free (pointer);
}

ff_msg_t *
ff_msg_new (void)
{
    ff_msg_t *self = (ff_msg_t *) zmalloc (sizeof (ff_msg_t));
    zmq_msg_init (&self->body);
    self->allocator.alloc = s_arena_alloc;
    self->allocator.free = s_arena_free;
    self->allocator.allocator_data = &self->arena;
    return self;
}

static void
s_reset (ff_msg_t *self)
{
    zframe_destroy (&self->routing_id);
    zmq_msg_close (&self->body);
    zmq_msg_init (&self->body);
    if (self->envelope) {
        farfan__envelope__free_unpacked (self->envelope, &self->allocator);
        self->envelope = NULL;
    }
    self->arena.used = 0;
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
        zmq_msg_close (&(*self_p)->body);
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

//  Decodes from `count` frames (parts[i], of which `total` arrived); the
//  body part, if any, is moved into self->body.
static int
s_decode (ff_msg_t *self, zmq_msg_t *parts, size_t count, size_t total, bool has_routing_id)
{
    size_t next = 0;
    if (has_routing_id) {
        if (total == 0)
            return s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "empty message");
        size_t size = zmq_msg_size (&parts [0]);
        const uint8_t *data = (const uint8_t *) zmq_msg_data (&parts [0]);
        self->routing_id = zframe_new (data, size);
        if (size > 32)
            size = 32;
        for (size_t i = 0; i < size; i++)
            snprintf (self->peer + 2 * i, 3, "%02x", data [i]);
        next = 1;
    }
    if (next < count && zmq_msg_size (&parts [next]) == 0) {
        self->delimiter = true;
        next++;
    }
    if (next >= total)
        return s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "no envelope frame");
    if (total - next > 2) {
        char reason [96];
        snprintf (reason, sizeof reason, "expected [envelope][body], got %zu frames", total - next);
        return s_fail (self, FARFAN__ERROR_CODE__MALFORMED, reason);
    }
    zmq_msg_t *envelope = &parts [next];
    if (zmq_msg_size (envelope) == 0)
        return s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "empty envelope frame");
    self->envelope = farfan__envelope__unpack (&self->allocator, zmq_msg_size (envelope),
                                               (const uint8_t *) zmq_msg_data (envelope));
    if (!self->envelope)
        return s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "envelope is not a valid protobuf Envelope");
    if (strlen (self->envelope->correlation_id) > FF_MSG_ID_MAX
    ||  strlen (self->envelope->sender_id) > FF_MSG_ID_MAX)
        return s_fail (self, FARFAN__ERROR_CODE__MALFORMED,
                       "correlation_id or sender_id longer than 256 bytes");
    if (self->envelope->version != FF_PROTOCOL_VERSION) {
        char reason [96];
        snprintf (reason, sizeof reason, "protocol version %u is not supported (this service speaks %d)",
                  self->envelope->version, FF_PROTOCOL_VERSION);
        return s_fail (self, self->envelope->version == 0 ? FARFAN__ERROR_CODE__MALFORMED
                                                          : FARFAN__ERROR_CODE__UNSUPPORTED, reason);
    }
    if (next + 1 < count)
        zmq_msg_move (&self->body, &parts [next + 1]);
    return 0;
}

int
ff_msg_recv (ff_msg_t *self, zsock_t *sock)
{
    s_reset (self);
    void *handle = zsock_resolve (sock);
    zmq_msg_t parts [S_FRAMES_KEPT];
    size_t count = 0, total = 0;
    int more = 1;
    while (more) {
        zmq_msg_t *part = count < S_FRAMES_KEPT ? &parts [count] : NULL;
        zmq_msg_t spare;
        zmq_msg_init (part ? part : &spare);
        if (zmq_msg_recv (part ? part : &spare, handle, 0) < 0) {
            zmq_msg_close (part ? part : &spare);
            for (size_t i = 0; i < count; i++)
                zmq_msg_close (&parts [i]);
            //  Interrupted before anything arrived: nothing to answer.
            return total == 0 ? -1 : s_fail (self, FARFAN__ERROR_CODE__MALFORMED, "message cut short");
        }
        more = zmq_msg_more (part ? part : &spare);
        if (part)
            count++;
        else
            zmq_msg_close (&spare);
        total++;
    }
    int rc = s_decode (self, parts, count, total, zsock_type (sock) == ZMQ_ROUTER);
    for (size_t i = 0; i < count; i++)
        zmq_msg_close (&parts [i]);
    return rc;
}

int
ff_msg_decode (ff_msg_t *self, zmsg_t **msg_p, bool has_routing_id)
{
    s_reset (self);
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    zmq_msg_t parts [S_FRAMES_KEPT];
    size_t count = 0, total = zmsg_size (msg);
    for (zframe_t *frame = zmsg_first (msg); frame && count < S_FRAMES_KEPT; frame = zmsg_next (msg)) {
        zmq_msg_init_size (&parts [count], zframe_size (frame));
        memcpy (zmq_msg_data (&parts [count]), zframe_data (frame), zframe_size (frame));
        count++;
    }
    int rc = s_decode (self, parts, count, total, has_routing_id);
    for (size_t i = 0; i < count; i++)
        zmq_msg_close (&parts [i]);
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
    size_t size = zmq_msg_size ((zmq_msg_t *) &self->body);
    return size ? (const uint8_t *) zmq_msg_data ((zmq_msg_t *) &self->body) : (const uint8_t *) "";
}

size_t
ff_msg_body_size (const ff_msg_t *self)
{
    return zmq_msg_size ((zmq_msg_t *) &self->body);
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

//  Packs and sends a protobuf message as the last frame (body NULL: the
//  packed bytes are at packed).
static int
s_send_body (void *handle, const ProtobufCMessage *body, const void *packed, size_t packed_size)
{
    if (!body)
        return s_send_frame (handle, packed ? packed : "", packed ? packed_size : 0, false);
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

static int
s_send (zsock_t *sock, const zframe_t *routing_id, bool delimiter, const ff_msg_header_t *header,
        const ProtobufCMessage *body, const void *packed, size_t packed_size)
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
    uint8_t stack [S_ARENA_SIZE];
    uint8_t *envelope_data = envelope_size <= sizeof stack ? stack : (uint8_t *) malloc (envelope_size);
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
    rc = s_send_body (handle, body, packed, packed_size);

cleanup:
    if (envelope_data != stack)
        free (envelope_data);
    return rc;
}

int
ff_msg_send (zsock_t *sock, const zframe_t *routing_id, bool delimiter,
             const ff_msg_header_t *header, const ProtobufCMessage *body)
{
    return s_send (sock, routing_id, delimiter, header, body, NULL, 0);
}

int
ff_msg_send_packed (zsock_t *sock, const zframe_t *routing_id, bool delimiter,
                    const ff_msg_header_t *header, const void *body, size_t size)
{
    return s_send (sock, routing_id, delimiter, header, NULL, body, size);
}

ff_msg_t *
ff_msg_call (zsock_t *sock, uint32_t type, const ProtobufCMessage *body, const char *sender_id,
             int timeout_ms)
{
    static atomic_uint sequence;
    char correlation_id [FF_MSG_ID_MAX + 1];
    snprintf (correlation_id, sizeof correlation_id, "%.40s-%u", sender_id,
              atomic_fetch_add (&sequence, 1) + 1);
    ff_msg_header_t header = { .type = type, .correlation_id = correlation_id,
                               .sender_id = sender_id };
    if (s_send (sock, NULL, false, &header, body, NULL, 0) != 0)
        return NULL;
    zpoller_t *poller = zpoller_new (sock, NULL);
    int64_t deadline = zclock_mono () + timeout_ms;
    ff_msg_t *reply = ff_msg_new ();
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left)) {
            ff_msg_destroy (&reply);
            break;
        }
        if (ff_msg_recv (reply, sock) == 0 && strcmp (ff_msg_correlation_id (reply), correlation_id) == 0)
            break;
    }
    zpoller_destroy (&poller);
    return reply;
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
