/*  The envelope codec (ff_msg): round trips and every malformed shape. */
#include <criterion/criterion.h>

#include "ff_test.h"

#include "ff_msg.h"

//  Encodes an envelope + body into frames with ff_msg_send over an inproc
//  PAIR, and returns what arrives, so decode sees real frames.
static zmsg_t *
s_wire (const ff_msg_header_t *header, const ProtobufCMessage *body, bool delimiter)
{
    zsock_t *in = zsock_new_pair ("@inproc://wire");
    zsock_t *out = zsock_new_pair (">inproc://wire");
    cr_assert_eq (ff_msg_send (out, NULL, delimiter, header, body), 0);
    zmsg_t *msg = zmsg_recv (in);
    zsock_destroy (&out);
    zsock_destroy (&in);
    return msg;
}

static zmsg_t *
s_frames (size_t count, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, count);
    for (size_t i = 0; i < count; i++) {
        const char *data = va_arg (args, const char *);
        size_t size = va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    return msg;
}

static zmsg_t *
s_with_envelope (const Farfan__Envelope *envelope, const char *body, size_t body_size)
{
    uint8_t buffer [512];
    size_t size = farfan__envelope__pack (envelope, buffer);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "peer1", 5);
    zmsg_addmem (msg, buffer, size);
    if (body)
        zmsg_addmem (msg, body, body_size);
    return msg;
}

FF_TEST (envelope, round_trip_keeps_every_field)
{
    Farfan__Pong pong = FARFAN__PONG__INIT;
    pong.service = "factory";
    pong.version = "9.9.9";
    pong.uptime_ms = 1234;
    pong.instance_id = "host-abcd";
    ff_msg_header_t header = {
        .type = FARFAN__MESSAGE_TYPE__PONG, .correlation_id = "req-77", .sender_id = "me",
        .status_code = FARFAN__ERROR_CODE__NOT_FOUND, .status_message = "no such run",
    };
    zmsg_t *msg = s_wire (&header, &pong.base, false);
    cr_assert_eq (zmsg_size (msg), 2);
    ff_msg_t *decoded = ff_msg_new ();
    cr_assert_eq (ff_msg_decode (decoded, &msg, false), 0, "%s", ff_msg_error (decoded));
    cr_assert_null (msg, "decode takes ownership");
    cr_assert_eq (ff_msg_type (decoded), FARFAN__MESSAGE_TYPE__PONG);
    cr_assert_str_eq (ff_msg_correlation_id (decoded), "req-77");
    cr_assert_str_eq (ff_msg_sender_id (decoded), "me");
    cr_assert_eq (ff_msg_status_code (decoded), FARFAN__ERROR_CODE__NOT_FOUND);
    cr_assert_str_eq (ff_msg_status_message (decoded), "no such run");
    cr_assert_not (ff_msg_has_delimiter (decoded));
    cr_assert_null (ff_msg_routing_id (decoded));
    Farfan__Pong *back = farfan__pong__unpack (NULL, ff_msg_body_size (decoded),
                                               ff_msg_body_data (decoded));
    cr_assert_not_null (back);
    cr_assert_str_eq (back->service, "factory");
    cr_assert_str_eq (back->instance_id, "host-abcd");
    cr_assert_eq (back->uptime_ms, 1234);
    farfan__pong__free_unpacked (back, NULL);
    ff_msg_destroy (&decoded);
    ff_msg_destroy (&decoded);      //  idempotent
}

FF_TEST (envelope, delimiter_and_routing_id_are_recognised)
{
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__PING, .correlation_id = "c" };
    zmsg_t *msg = s_wire (&header, NULL, true);
    zmsg_pushmem (msg, "\x00\x01\x02", 3);     //  as a ROUTER would prepend
    ff_msg_t *decoded = ff_msg_new ();
    cr_assert_eq (ff_msg_decode (decoded, &msg, true), 0, "%s", ff_msg_error (decoded));
    cr_assert (ff_msg_has_delimiter (decoded));
    cr_assert_eq (zframe_size (ff_msg_routing_id (decoded)), 3);
    cr_assert_str_eq (ff_msg_peer (decoded), "000102");
    cr_assert_eq (ff_msg_body_size (decoded), 0, "no body = empty body");
    ff_msg_destroy (&decoded);
}

FF_TEST (envelope, large_bodies_survive_the_zero_copy_path)
{
    Farfan__Pong pong = FARFAN__PONG__INIT;
    char *big = (char *) malloc (100000);
    memset (big, 'x', 99999);
    big [99999] = '\0';
    pong.instance_id = big;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__PONG };
    zmsg_t *msg = s_wire (&header, &pong.base, false);
    ff_msg_t *decoded = ff_msg_new ();
    cr_assert_eq (ff_msg_decode (decoded, &msg, false), 0);
    Farfan__Pong *back = farfan__pong__unpack (NULL, ff_msg_body_size (decoded),
                                               ff_msg_body_data (decoded));
    cr_assert_not_null (back);
    cr_assert_eq (strlen (back->instance_id), 99999);
    farfan__pong__free_unpacked (back, NULL);
    ff_msg_destroy (&decoded);
    free (big);
}

//  Decodes msg and asserts it is rejected with code, the reason containing `why`.
static void
s_assert_rejected (zmsg_t *msg, bool routed, uint32_t code, const char *why)
{
    ff_msg_t *decoded = ff_msg_new ();
    cr_assert_eq (ff_msg_decode (decoded, &msg, routed), -2);
    cr_assert_eq (ff_msg_error_code (decoded), code, "code %s, reason: %s",
                  ff_msg_code_name (ff_msg_error_code (decoded)), ff_msg_error (decoded));
    cr_assert (strstr (ff_msg_error (decoded), why), "reason \"%s\" lacks \"%s\"",
               ff_msg_error (decoded), why);
    if (routed && why != NULL && strcmp (why, "empty message") != 0)
        cr_assert_not_null (ff_msg_routing_id (decoded), "an error reply stays addressable");
    ff_msg_destroy (&decoded);
}

FF_TEST (envelope, empty_message_and_missing_envelope)
{
    s_assert_rejected (zmsg_new (), true, FARFAN__ERROR_CODE__MALFORMED, "empty message");
    s_assert_rejected (s_frames (1, "peer", (size_t) 4), true,
                       FARFAN__ERROR_CODE__MALFORMED, "no envelope");
    s_assert_rejected (s_frames (2, "peer", (size_t) 4, "", (size_t) 0), true,
                       FARFAN__ERROR_CODE__MALFORMED, "no envelope");
    s_assert_rejected (s_frames (3, "peer", (size_t) 4, "", (size_t) 0, "", (size_t) 0), true,
                       FARFAN__ERROR_CODE__MALFORMED, "empty envelope");
}

FF_TEST (envelope, garbage_and_truncation)
{
    s_assert_rejected (s_frames (2, "peer", (size_t) 4, "\xff\xff\xff\xff\xff", (size_t) 5), true,
                       FARFAN__ERROR_CODE__MALFORMED, "not a valid protobuf");
    //  Every truncation of a valid envelope is rejected, none crashes.
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = FF_PROTOCOL_VERSION;
    envelope.type = FARFAN__MESSAGE_TYPE__PING;
    envelope.correlation_id = "a-correlation-id";
    envelope.sender_id = "a-sender";
    uint8_t buffer [128];
    size_t size = farfan__envelope__pack (&envelope, buffer);
    size_t rejected = 0;
    for (size_t cut = 1; cut < size; cut++) {
        zmsg_t *msg = s_frames (2, "peer", (size_t) 4, (const char *) buffer, cut);
        ff_msg_t *decoded = ff_msg_new ();
        int rc = ff_msg_decode (decoded, &msg, true);
        if (rc == -2)
            rejected++;
        else {
            //  A cut on a field boundary is a shorter valid envelope: its
            //  fields are a prefix of the original's, never invented.
            cr_assert_eq (rc, 0);
            cr_assert (ff_msg_type (decoded) == 0 || ff_msg_type (decoded) == FARFAN__MESSAGE_TYPE__PING);
            cr_assert (strncmp ("a-correlation-id", ff_msg_correlation_id (decoded),
                                strlen (ff_msg_correlation_id (decoded))) == 0);
            cr_assert (*ff_msg_sender_id (decoded) == '\0'
                       || streq (ff_msg_sender_id (decoded), "a-sender"));
        }
        ff_msg_destroy (&decoded);
    }
    cr_assert_gt (rejected, size / 2, "cuts inside a field are rejected");
}

FF_TEST (envelope, wrong_version_is_unsupported_and_missing_version_malformed)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = 7;
    envelope.type = FARFAN__MESSAGE_TYPE__PING;
    envelope.correlation_id = "c1";
    zmsg_t *msg = s_with_envelope (&envelope, "", 0);
    ff_msg_t *decoded = ff_msg_new ();
    cr_assert_eq (ff_msg_decode (decoded, &msg, true), -2);
    cr_assert_eq (ff_msg_error_code (decoded), FARFAN__ERROR_CODE__UNSUPPORTED);
    cr_assert (strstr (ff_msg_error (decoded), "version 7"));
    cr_assert_str_eq (ff_msg_correlation_id (decoded), "c1", "kept for the error reply");
    ff_msg_destroy (&decoded);

    envelope.version = 0;
    s_assert_rejected (s_with_envelope (&envelope, "", 0), true,
                       FARFAN__ERROR_CODE__MALFORMED, "version 0");
}

FF_TEST (envelope, too_many_frames_and_oversized_ids)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = FF_PROTOCOL_VERSION;
    envelope.type = FARFAN__MESSAGE_TYPE__PING;
    zmsg_t *msg = s_with_envelope (&envelope, "body", 4);
    zmsg_addmem (msg, "extra", 5);
    s_assert_rejected (msg, true, FARFAN__ERROR_CODE__MALFORMED, "got 3 frames");

    char long_id [FF_MSG_ID_MAX + 2];
    memset (long_id, 'i', sizeof long_id - 1);
    long_id [sizeof long_id - 1] = '\0';
    envelope.correlation_id = long_id;
    s_assert_rejected (s_with_envelope (&envelope, NULL, 0), true,
                       FARFAN__ERROR_CODE__MALFORMED, "longer than 256");
}

FF_TEST (envelope, unknown_type_decodes_for_the_dispatcher_to_refuse)
{
    Farfan__Envelope envelope = FARFAN__ENVELOPE__INIT;
    envelope.version = FF_PROTOCOL_VERSION;
    envelope.type = (Farfan__MessageType) 9999;
    zmsg_t *msg = s_with_envelope (&envelope, NULL, 0);
    ff_msg_t *decoded = ff_msg_new ();
    cr_assert_eq (ff_msg_decode (decoded, &msg, true), 0);
    cr_assert_eq (ff_msg_type (decoded), 9999);
    cr_assert_str_eq (ff_msg_type_name (9999), "UNKNOWN");
    cr_assert_str_eq (ff_msg_type_name (FARFAN__MESSAGE_TYPE__PING), "PING");
    cr_assert_str_eq (ff_msg_code_name (FARFAN__ERROR_CODE__OVERLOADED), "OVERLOADED");
    ff_msg_destroy (&decoded);
}

FF_TEST (envelope, random_frames_never_crash)
{
    //  Deterministic pseudo-random frames of every shape; under ASan this
    //  is the decoder's crash test.
    uint32_t state = 12345;
    ff_msg_t *decoded = ff_msg_new ();
    for (int round = 0; round < 20000; round++) {
        zmsg_t *msg = zmsg_new ();
        size_t frames = (state = state * 1103515245u + 12345u) % 5;
        for (size_t f = 0; f < frames; f++) {
            uint8_t data [64];
            size_t size = (state = state * 1103515245u + 12345u) % sizeof data;
            for (size_t i = 0; i < size; i++)
                data [i] = (uint8_t) ((state = state * 1103515245u + 12345u) >> 16);
            zmsg_addmem (msg, data, size);
        }
        int rc = ff_msg_decode (decoded, &msg, round % 2 == 0);
        cr_assert (rc == 0 || rc == -2);
        if (rc == -2)
            cr_assert (*ff_msg_error (decoded), "a rejection always says why");
    }
    ff_msg_destroy (&decoded);
}

FF_TEST (envelope, protocol_document_example_is_what_we_encode)
{
    //  proto/PROTOCOL.md §7 shows these bytes for a PING envelope.
    static const uint8_t documented [] = {
        0x08, 0x01, 0x10, 0x01, 0x1a, 0x03, 0x63, 0x2d, 0x31, 0x22, 0x03, 0x63, 0x6c, 0x69 };
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__PING, .correlation_id = "c-1",
                               .sender_id = "cli" };
    zmsg_t *msg = s_wire (&header, NULL, false);
    zframe_t *envelope = zmsg_first (msg);
    cr_assert_eq (zframe_size (envelope), sizeof documented);
    cr_assert_arr_eq (zframe_data (envelope), documented, sizeof documented);
    cr_assert_eq (zframe_size (zmsg_next (msg)), 0, "empty body frame");
    zmsg_destroy (&msg);
}

//  ---------------------------------------------------------------------
//  ff_pbwire: RESULT_BATCH is built and walked by hand

#include "factory.pb-c.h"
#include "ff_pbwire.h"

static void
s_count_entry (const uint8_t *data, size_t size, void *arg)
{
    (void) data;
    (void) size;
    (*(size_t *) arg)++;
}

FF_TEST (envelope, hand_built_repeated_field_is_what_protobuf_c_reads)
{
    //  Three results packed alone, framed as ContractResults field 1, with
    //  an index appended to one (the factory's way of stamping a cached
    //  result): protobuf-c reads the same three, the last index winning.
    const char *ids [3] = { "A", "B", "C" };
    uint8_t batch [1024];
    size_t used = 0;
    for (size_t i = 0; i < 3; i++) {
        Farfan__ContractResult result = FARFAN__CONTRACT_RESULT__INIT;
        result.contract_id = (char *) ids [i];
        result.index = 7;
        uint8_t packed [128];
        size_t size = farfan__contract_result__pack (&result, packed);
        if (i == 1)
            ff_pbwire_put_varint (packed, &size, 12, 300);
        ff_pbwire_put_length (batch, &used, 1, size);
        memcpy (batch + used, packed, size);
        used += size;
    }
    Farfan__ContractResults *results = farfan__contract_results__unpack (NULL, used, batch);
    cr_assert_not_null (results);
    cr_assert_eq (results->n_results, 3);
    cr_assert_str_eq (results->results [2]->contract_id, "C");
    cr_assert_eq (results->results [0]->index, 7);
    cr_assert_eq (results->results [1]->index, 300);
    farfan__contract_results__free_unpacked (results, NULL);

    //  Walked back: the same three slices, then the end; and by ff_pbwire_each.
    cr_assert_eq (ff_pbwire_each (batch, used, 1, s_count_entry, &(size_t) { 0 }), 3);
    cr_assert_eq (ff_pbwire_each (batch, used, 2, s_count_entry, &(size_t) { 0 }), 0);
    cr_assert_eq (ff_pbwire_each (batch, used - 1, 1, s_count_entry, &(size_t) { 0 }), -1);
    const uint8_t *at = batch;
    uint32_t field;
    const uint8_t *data;
    size_t size;
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq (ff_pbwire_next_length (&at, batch + used, &field, &data, &size), 1);
        cr_assert_eq (field, 1);
        Farfan__ContractResult *one = farfan__contract_result__unpack (NULL, size, data);
        cr_assert_str_eq (one->contract_id, ids [i]);
        farfan__contract_result__free_unpacked (one, NULL);
    }
    cr_assert_eq (ff_pbwire_next_length (&at, batch + used, &field, &data, &size), 0);
}

FF_TEST (envelope, malformed_repeated_fields_are_refused)
{
    uint32_t field;
    const uint8_t *data;
    size_t size;
    struct {
        const char *what;
        uint8_t bytes [12];
        size_t length;
    } cases [] = {
        { "a length beyond the end", { 0x0a, 0x05, 'a', 'b' }, 4 },
        { "a varint field", { 0x08, 0x01 }, 2 },
        { "field number 0", { 0x02, 0x00 }, 2 },
        { "a truncated key", { 0x8a }, 1 },
        { "a truncated length", { 0x0a, 0x80 }, 2 },
        { "a varint of 11 bytes", { 0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                    0x80, 0x01 }, 12 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const uint8_t *at = cases [i].bytes;
        cr_assert_eq (ff_pbwire_next_length (&at, cases [i].bytes + cases [i].length, &field,
                                             &data, &size), -1, "%s", cases [i].what);
    }
    //  An empty batch is the end at once.
    const uint8_t *at = cases [0].bytes;
    cr_assert_eq (ff_pbwire_next_length (&at, at, &field, &data, &size), 0);
}
