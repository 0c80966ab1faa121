/*  ff_msg — one control-plane message: [routing id][delimiter][envelope][body].

    Receiving side: ff_msg_recv / ff_msg_decode take the frames apart and
    decode the protobuf Envelope. The body stays an undecoded frame; the
    handler for the message type decodes it (and frees what it unpacked).
    Nothing on the wire can crash or assert here: every frame count, size
    and byte pattern ends in a decoded message or in an error that says why.

    Framing rules (proto/PROTOCOL.md):
      - on a ROUTER socket the first frame is the peer's routing id;
      - an empty frame next is the REQ-style delimiter; its presence is
        remembered so the reply mirrors it (REQ and DEALER peers both work);
      - then the Envelope frame (never empty: version is always set) and at
        most one body frame (absent = empty body).

    Sending side: ff_msg_send builds the envelope from ff_msg_header_t and
    packs the body; it never blocks.
*/
#ifndef FF_MSG_H_INCLUDED
#define FF_MSG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "envelope.pb-c.h"

#define FF_PROTOCOL_VERSION         FARFAN__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT
//  Longest correlation or sender id accepted, bytes.
#define FF_MSG_ID_MAX               256

typedef struct ff_msg ff_msg_t;

//  What a sender puts in the envelope.
typedef struct {
    uint32_t type;                  // Farfan__MessageType
    const char *correlation_id;     // NULL = ""
    const char *sender_id;          // NULL = ""
    uint32_t status_code;           // Farfan__ErrorCode; OK (0) = no status sent
    const char *status_message;     // with a non-OK status
} ff_msg_header_t;

ff_msg_t *
    ff_msg_new (void);

//  Idempotent; nulls *self_p.
void
    ff_msg_destroy (ff_msg_t **self_p);

//  Receives one message from sock (blocking) and decodes it; the socket
//  type says whether a routing id comes first. Returns
//    0   decoded;
//   -1   interrupted or the socket closed: nothing received;
//   -2   malformed or unsupported: the message was consumed; routing id,
//        delimiter and whatever of the envelope decoded are kept, so an
//        error reply can still be addressed; ff_msg_error_code says
//        MALFORMED or UNSUPPORTED and ff_msg_error why.
int
    ff_msg_recv (ff_msg_t *self, zsock_t *sock);

//  As ff_msg_recv, from frames already received. Takes ownership of
//  *msg_p and nulls it.
int
    ff_msg_decode (ff_msg_t *self, zmsg_t **msg_p, bool has_routing_id);

//  The peer's routing id (ROUTER sockets), or NULL. Borrowed.
zframe_t *
    ff_msg_routing_id (const ff_msg_t *self);
//  Printable form of the routing id (hex), "" when none. Borrowed.
const char *
    ff_msg_peer (const ff_msg_t *self);
bool
    ff_msg_has_delimiter (const ff_msg_t *self);
//  Envelope fields; 0 / "" when the envelope did not decode.
uint32_t
    ff_msg_type (const ff_msg_t *self);
const char *
    ff_msg_correlation_id (const ff_msg_t *self);
const char *
    ff_msg_sender_id (const ff_msg_t *self);
uint32_t
    ff_msg_status_code (const ff_msg_t *self);
const char *
    ff_msg_status_message (const ff_msg_t *self);
//  The body bytes (may be size 0). Borrowed.
const uint8_t *
    ff_msg_body_data (const ff_msg_t *self);
size_t
    ff_msg_body_size (const ff_msg_t *self);
//  After -2: Farfan__ErrorCode MALFORMED or UNSUPPORTED, and why.
uint32_t
    ff_msg_error_code (const ff_msg_t *self);
const char *
    ff_msg_error (const ff_msg_t *self);

//  Sends [routing_id][delimiter][envelope][body] without blocking.
//  routing_id may be NULL (DEALER/REQ sockets); body may be NULL (empty
//  body frame). Returns 0, or -1 when the message could not be queued
//  (peer gone: EHOSTUNREACH; queue full: EAGAIN; errno tells).
int
    ff_msg_send (zsock_t *sock, const zframe_t *routing_id, bool delimiter,
                 const ff_msg_header_t *header, const ProtobufCMessage *body);

//  As ff_msg_send with a body already packed (size bytes at body; NULL or
//  size 0 = empty body).
int
    ff_msg_send_packed (zsock_t *sock, const zframe_t *routing_id, bool delimiter,
                        const ff_msg_header_t *header, const void *body, size_t size);

//  A request from a DEALER and its answer: sends `type` with `body` under a
//  fresh correlation id ("<sender_id>-<n>"), then waits up to timeout_ms
//  for the reply carrying that id (other messages are read and dropped).
//  Returns the reply (caller destroys), or NULL when it could not be sent
//  or none came in time.
ff_msg_t *
    ff_msg_call (zsock_t *sock, uint32_t type, const ProtobufCMessage *body,
                 const char *sender_id, int timeout_ms);

//  The name of a message type ("PING"), or "UNKNOWN".
const char *
    ff_msg_type_name (uint32_t type);
//  The name of an error code ("MALFORMED"), or "UNKNOWN".
const char *
    ff_msg_code_name (uint32_t code);

#endif
