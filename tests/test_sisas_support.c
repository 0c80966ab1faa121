/*  test_sisas_support — helpers shared by the SISAS suites
    (test_sisas_*.c). Each suite #includes this file (one translation
    unit per suite, every helper static), so it is not built on its own.

    A test starts SISAS in-process (ff_test_service_start), publishes raw
    schema-v1 signals from a PUB socket, receives the delivered stream on
    a SUB socket and asks the control socket through a DEALER. Waits are
    receive timeouts and bounded polls of HEALTH, never sleeps.
*/
#include <criterion/criterion.h>

#include "ff_test.h"
#include "ff_clock.h"
#include "ff_msg.h"
#include "ff_msgpack_reader.h"
#include "ff_signal.h"
#include "sisas.pb-c.h"

#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

//  Every helper is static; a suite uses some of them.
#define S_SUPPORT static __attribute__ ((unused))

//  Everything a test needs around one SISAS.
typedef struct {
    ff_test_service_t *service;
    zsock_t *pub;               // raw PUB connected to ingest
    zsock_t *sub;               // SUB on publish (subscribed as asked)
    zsock_t *dealer;            // control
    uint64_t probes;            // probe signals sent while joining
    uint64_t base;              // messages SISAS had received once joined
} s_bus_t;

//  Sends one raw schema-v1 signal [type][map] from pub.
S_SUPPORT void
s_send (zsock_t *pub, const char *type, const char *source, const char *subject,
        int phase, double confidence, uint64_t ts_us, uint64_t seq)
{
    ff_signal_t signal;
    ff_signal_init (&signal);
    snprintf (signal.id, sizeof signal.id, "%s:%" PRIu64, source, seq);
    snprintf (signal.type, sizeof signal.type, "%s", type);
    snprintf (signal.source, sizeof signal.source, "%s", source);
    snprintf (signal.subject, sizeof signal.subject, "%s", subject ? subject : "");
    signal.phase = phase;
    signal.confidence = confidence;
    signal.ts_us = ts_us ? ts_us : ff_clock_wall_us ();
    signal.seq = seq;
    uint8_t buffer [1024];
    size_t size = ff_signal_encode (&signal, buffer, sizeof buffer);
    cr_assert_leq (size, sizeof buffer);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, type);
    zmsg_addmem (msg, buffer, size);
    cr_assert_eq (zmsg_send (&msg, pub), 0);
}

//  Sends raw frames (for malformed input).
S_SUPPORT void
s_send_frames (zsock_t *pub, int count, ...)
{
    va_list args;
    va_start (args, count);
    zmsg_t *msg = zmsg_new ();
    for (int i = 0; i < count; i++) {
        const void *data = va_arg (args, const void *);
        size_t size = va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    cr_assert_eq (zmsg_send (&msg, pub), 0);
}

//  A delivered message, decoded. The frames are kept so payload and
//  extras stay valid.
typedef struct {
    zmsg_t *msg;
    char topic [256];
    ff_signal_t signal;         // not valid for "$sisas.control" (a reserved type)
    ff_signal_error_t error;
} s_delivered_t;

//  Receives one delivered message within timeout_ms; false on timeout.
S_SUPPORT bool
s_receive (zsock_t *sub, s_delivered_t *out, int timeout_ms)
{
    zsock_set_rcvtimeo (sub, timeout_ms);
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return false;
    cr_assert_eq (zmsg_size (msg), 2, "a delivered message has two frames");
    zframe_t *topic = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    size_t topic_size = zframe_size (topic) < 255 ? zframe_size (topic) : 255;
    memcpy (out->topic, zframe_data (topic), topic_size);
    out->topic [topic_size] = '\0';
    out->msg = msg;
    out->error = ff_signal_decode (&out->signal, zframe_data (body), zframe_size (body), NULL, 0);
    return true;
}

S_SUPPORT void
s_delivered_free (s_delivered_t *delivered)
{
    zmsg_destroy (&delivered->msg);
}

S_SUPPORT const uint8_t *
s_body (s_delivered_t *delivered, size_t *size)
{
    zframe_t *body = zmsg_last (delivered->msg);
    *size = zframe_size (body);
    return zframe_data (body);
}

//  Receives until a message whose topic is `topic` arrives (others are
//  skipped). False on timeout.
S_SUPPORT bool
s_receive_topic (zsock_t *sub, const char *topic, s_delivered_t *out, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !s_receive (sub, out, (int) left))
            return false;
        if (strcmp (out->topic, topic) == 0)
            return true;
        s_delivered_free (out);
    }
}

//  Starts SISAS with the given settings ("--key", "value", ..., NULL),
//  a DEALER, a PUB and a SUB subscribed to `prefix` ("" = everything),
//  "probe" and "$sisas.control", and waits until a probe signal crosses
//  (so both joins are done).
//  Probes are type "probe", source "probe", each its own subject.
S_SUPPORT void
s_bus_start (s_bus_t *bus, const char *prefix, ...)
{
    memset (bus, 0, sizeof *bus);
    const char *args [40] = { NULL };
    int count = 0;
    va_list list;
    va_start (list, prefix);
    const char *arg;
    while ((arg = va_arg (list, const char *)) && count < 38)
        args [count++] = arg;
    va_end (list);
    args [count] = NULL;
    //  ff_test_service_start is variadic: pass up to 38 settings.
    bus->service = ff_test_service_start ("sisas",
        args [0], args [1], args [2], args [3], args [4], args [5], args [6], args [7],
        args [8], args [9], args [10], args [11], args [12], args [13], args [14], args [15],
        args [16], args [17], args [18], args [19], args [20], args [21], args [22], args [23],
        args [24], args [25], args [26], args [27], args [28], args [29], args [30], args [31],
        args [32], args [33], args [34], args [35], args [36], args [37], NULL);
    bus->dealer = ff_test_dealer (ff_test_service_endpoint (bus->service, "control"));
    bus->sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (bus->sub, 100000);
    zsock_set_linger (bus->sub, 0);
    zsock_set_subscribe (bus->sub, prefix);
    zsock_set_subscribe (bus->sub, "probe");
    zsock_set_subscribe (bus->sub, "$sisas.control");
    cr_assert_eq (zsock_connect (bus->sub, "%s", ff_test_service_endpoint (bus->service, "publish")), 0);
    bus->pub = zsock_new (ZMQ_PUB);
    zsock_set_sndhwm (bus->pub, 100000);
    zsock_set_linger (bus->pub, 0);
    cr_assert_eq (zsock_connect (bus->pub, "%s", ff_test_service_endpoint (bus->service, "ingest")), 0);
    s_delivered_t delivered;
    bool joined = false;
    while (!joined && bus->probes < 500) {
        char subject [32];
        snprintf (subject, sizeof subject, "probe-%" PRIu64, bus->probes);
        s_send (bus->pub, "probe", "probe", subject, -1, 1.0, 0, bus->probes);
        bus->probes++;
        joined = s_receive_topic (bus->sub, "probe", &delivered, 20);
    }
    cr_assert (joined, "no probe crossed SISAS");
    s_delivered_free (&delivered);
    //  A last probe: once it is delivered, SISAS has handled every probe
    //  before it (one connection each way keeps the order), so the count
    //  it received is settled.
    s_send (bus->pub, "probe", "probe", "last", -1, 1.0, 0, bus->probes++);
    bool last = false;
    while (!last) {
        cr_assert (s_receive_topic (bus->sub, "probe", &delivered, FF_TEST_TIMEOUT_MS),
                   "the last probe was not delivered");
        last = strcmp (delivered.signal.subject, "last") == 0;
        s_delivered_free (&delivered);
    }
    Farfan__SisasStatsRequest request = FARFAN__SISAS_STATS_REQUEST__INIT;
    ff_msg_t *reply = ff_test_request (bus->dealer, FARFAN__MESSAGE_TYPE__SISAS_STATS, &request.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SISAS_STATS_REPLY);
    Farfan__SisasStats *stats = farfan__sisas_stats__unpack (NULL, ff_msg_body_size (reply),
                                                             ff_msg_body_data (reply));
    cr_assert_not_null (stats);
    bus->base = stats->received;
    farfan__sisas_stats__free_unpacked (stats, NULL);
    ff_msg_destroy (&reply);
}

S_SUPPORT void
s_bus_stop (s_bus_t *bus)
{
    zsock_destroy (&bus->pub);
    zsock_destroy (&bus->sub);
    zsock_destroy (&bus->dealer);
    ff_test_service_stop (&bus->service);
}

//  ---------------------------------------------------------------------
//  Control requests

S_SUPPORT Farfan__SisasHealth *
s_health (zsock_t *dealer)
{
    Farfan__SisasHealthRequest request = FARFAN__SISAS_HEALTH_REQUEST__INIT;
    ff_msg_t *reply = ff_test_request (dealer, FARFAN__MESSAGE_TYPE__SISAS_HEALTH, &request.base);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SISAS_HEALTH_REPLY, "%s: %s",
                  ff_msg_type_name (ff_msg_type (reply)), ff_msg_status_message (reply));
    Farfan__SisasHealth *health = farfan__sisas_health__unpack (NULL, ff_msg_body_size (reply),
                                                                ff_msg_body_data (reply));
    cr_assert_not_null (health);
    cr_assert_not_null (health->stats);
    ff_msg_destroy (&reply);
    return health;
}

S_SUPPORT void
s_health_free (Farfan__SisasHealth **health)
{
    farfan__sisas_health__free_unpacked (*health, NULL);
    *health = NULL;
}

S_SUPPORT uint64_t
s_count (Farfan__SisasCount **counts, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (counts [i]->name, name) == 0)
            return counts [i]->count;
    cr_assert_fail ("no count named %s", name);
    return 0;
}

//  Asserts the accounting identity in a health answer.
S_SUPPORT void
s_assert_identity (const Farfan__SisasStats *stats)
{
    cr_assert (stats->identity_holds);
    cr_assert_eq (stats->received, stats->delivered + stats->absorbed + stats->shed
                                   + stats->rejected + stats->in_flight,
                  "received %" PRIu64 " = delivered %" PRIu64 " + absorbed %" PRIu64
                  " + shed %" PRIu64 " + rejected %" PRIu64 " + in flight %" PRIu64,
                  stats->received, stats->delivered, stats->absorbed, stats->shed,
                  stats->rejected, stats->in_flight);
}

//  Polls HEALTH until received reaches `received` (every message sent
//  was read), up to FF_TEST_TIMEOUT_MS. Returns the last answer. Each
//  poll is a round trip: the actor serves the ingest socket in between.
S_SUPPORT Farfan__SisasHealth *
s_health_after (zsock_t *dealer, uint64_t received)
{
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while (true) {
        Farfan__SisasHealth *health = s_health (dealer);
        if (health->stats->received >= received || zclock_mono () > deadline)
            return health;
        s_health_free (&health);
    }
}

//  CONFIGURE key value ... NULL; returns the reply (caller destroys).
S_SUPPORT ff_msg_t *
s_configure (zsock_t *dealer, ...)
{
    Farfan__SisasSetting settings [16];
    Farfan__SisasSetting *pointers [16];
    size_t count = 0;
    va_list args;
    va_start (args, dealer);
    const char *key;
    while ((key = va_arg (args, const char *)) && count < 16) {
        farfan__sisas_setting__init (&settings [count]);
        settings [count].key = (char *) key;
        settings [count].value = (char *) va_arg (args, const char *);
        pointers [count] = &settings [count];
        count++;
    }
    va_end (args);
    Farfan__SisasConfigure request = FARFAN__SISAS_CONFIGURE__INIT;
    request.settings = pointers;
    request.n_settings = count;
    return ff_test_request (dealer, FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE, &request.base);
}

//  ---------------------------------------------------------------------
//  Control stream ($sisas.control) and FUSED extras, read with the
//  msgpack reader

//  Finds key in the map at reader (positioned on the map header); leaves
//  the reader on the value. False when absent.
S_SUPPORT bool
s_map_find (ff_msgpack_reader_t *reader, const char *key)
{
    ff_msgpack_item_t item;
    if (ff_msgpack_reader_next (reader, &item) != FF_MSGPACK_OK || item.type != FF_MSGPACK_MAP)
        return false;
    size_t size = strlen (key);
    for (uint32_t i = 0; i < item.count; i++) {
        ff_msgpack_item_t name;
        cr_assert_eq (ff_msgpack_reader_next (reader, &name), FF_MSGPACK_OK);
        if (name.type == FF_MSGPACK_STR && name.size == size && memcmp (name.data, key, size) == 0)
            return true;
        cr_assert_eq (ff_msgpack_reader_skip (reader, 32), FF_MSGPACK_OK);
    }
    return false;
}

//  A value inside the map at data: path is keys separated by '.', e.g.
//  "payload.kind". Returns the item (str/number/bool) or asserts.
S_SUPPORT ff_msgpack_item_t
s_map_get (const uint8_t *data, size_t size, const char *path)
{
    ff_msgpack_reader_t reader;
    ff_msgpack_reader_init (&reader, data, size);
    char copy [128];
    snprintf (copy, sizeof copy, "%s", path);
    char *saveptr = NULL;
    for (char *key = strtok_r (copy, ".", &saveptr); key; key = strtok_r (NULL, ".", &saveptr))
        cr_assert (s_map_find (&reader, key), "no %s in the map (path %s)", key, path);
    ff_msgpack_item_t item;
    cr_assert_eq (ff_msgpack_reader_next (&reader, &item), FF_MSGPACK_OK);
    return item;
}

S_SUPPORT double
s_number (ff_msgpack_item_t item)
{
    switch (item.type) {
        case FF_MSGPACK_FLOAT32:
        case FF_MSGPACK_FLOAT64: return item.f;
        case FF_MSGPACK_UINT: return (double) item.u;
        case FF_MSGPACK_INT: return (double) item.i;
        default: cr_assert_fail ("not a number"); return NAN;
    }
}

S_SUPPORT bool
s_str_is (ff_msgpack_item_t item, const char *text)
{
    return item.type == FF_MSGPACK_STR && item.size == strlen (text)
        && memcmp (item.data, text, item.size) == 0;
}

//  Receives control messages until one of kind with "active" = active;
//  false on timeout. *out holds it.
S_SUPPORT bool
s_receive_control (zsock_t *sub, const char *kind, bool active, s_delivered_t *out,
                   int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !s_receive_topic (sub, "$sisas.control", out, (int) left))
            return false;
        size_t size;
        const uint8_t *body = s_body (out, &size);
        if (s_str_is (s_map_get (body, size, "payload.kind"), kind)
        &&  s_map_get (body, size, "payload.active").boolean == active)
            return true;
        s_delivered_free (out);
    }
}

//  ---------------------------------------------------------------------
//  Vehicles

S_SUPPORT ff_msg_t *
s_register (zsock_t *dealer, const char *name, uint32_t capacity, const char *pattern,
            const char *type)
{
    Farfan__VehicleRegister request = FARFAN__VEHICLE_REGISTER__INIT;
    request.name = (char *) name;
    request.capacity = capacity;
    char *patterns [1] = { (char *) pattern };
    char *types [1] = { (char *) type };
    if (pattern) {
        request.patterns = patterns;
        request.n_patterns = 1;
    }
    if (type) {
        request.types = types;
        request.n_types = 1;
    }
    return ff_test_request (dealer, FARFAN__MESSAGE_TYPE__VEHICLE_REGISTER, &request.base);
}

//  A vehicle: a DEALER on the control socket, registered.
S_SUPPORT zsock_t *
s_vehicle (s_bus_t *bus, const char *name, uint32_t capacity, const char *pattern,
           const char *type)
{
    zsock_t *vehicle = ff_test_dealer (ff_test_service_endpoint (bus->service, "control"));
    ff_msg_t *reply = s_register (vehicle, name, capacity, pattern, type);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__VEHICLE_REGISTERED, "%s",
                  ff_msg_status_message (reply));
    ff_msg_destroy (&reply);
    return vehicle;
}

//  Receives one VEHICLE_DELIVER within timeout_ms (NULL on timeout).
S_SUPPORT Farfan__VehicleDeliver *
s_delivery (zsock_t *vehicle, int timeout_ms)
{
    zsock_set_rcvtimeo (vehicle, timeout_ms);
    ff_msg_t *msg = ff_msg_new ();
    Farfan__VehicleDeliver *deliver = NULL;
    if (ff_msg_recv (msg, vehicle) == 0) {
        cr_assert_eq (ff_msg_type (msg), FARFAN__MESSAGE_TYPE__VEHICLE_DELIVER, "got %s",
                      ff_msg_type_name (ff_msg_type (msg)));
        deliver = farfan__vehicle_deliver__unpack (NULL, ff_msg_body_size (msg),
                                                   ff_msg_body_data (msg));
        cr_assert_not_null (deliver);
    }
    ff_msg_destroy (&msg);
    zsock_set_rcvtimeo (vehicle, FF_TEST_TIMEOUT_MS);
    return deliver;
}

S_SUPPORT void
s_ack (zsock_t *vehicle, uint64_t delivery_id, bool ok)
{
    Farfan__VehicleAckItem item = FARFAN__VEHICLE_ACK_ITEM__INIT;
    item.delivery_id = delivery_id;
    item.ok = ok;
    item.latency_us = 100;
    Farfan__VehicleAckItem *items [1] = { &item };
    Farfan__VehicleAck ack = FARFAN__VEHICLE_ACK__INIT;
    ack.acks = items;
    ack.n_acks = 1;
    ff_msg_header_t header = { .type = FARFAN__MESSAGE_TYPE__VEHICLE_ACK,
                               .correlation_id = "ack", .sender_id = "vehicle" };
    cr_assert_eq (ff_msg_send (vehicle, NULL, false, &header, &ack.base), 0);
}

//  The vehicle named `name` in a list, or NULL.
S_SUPPORT Farfan__SisasVehicle *
s_find_vehicle (Farfan__SisasVehicle **vehicles, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (vehicles [i]->name, name) == 0)
            return vehicles [i];
    return NULL;
}
