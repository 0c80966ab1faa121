/*  fuzz_signal — libFuzzer target: the msgpack signal decoder and
    validator (common/ff_signal.c) and the msgpack cursor under it
    (common/ff_msgpack_reader.c), as SISAS's ingest runs them.

    Input: [topic length: 1 byte][topic][msgpack map]. A first byte larger
    than what follows means "no topic frame": the whole input is the map
    (ff_signal_decode alone).

    Checked beyond "no crash, no leak, no undefined behaviour":
      - a signal that decodes re-encodes (ff_signal_encode) into bytes that
        decode to the same fields (the publisher's round trip);
      - the reader's skip over any input stays inside it, and a successful
        skip of the whole map agrees with the decoder on structure.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ff_msgpack_reader.h"
#include "ff_signal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check (bool condition)
{
    if (!condition)
        abort ();
}

static void
s_round_trip (const ff_signal_t *signal)
{
    static uint8_t buffer [1 << 20];
    size_t encoded = ff_signal_encode (signal, buffer, sizeof buffer);
    if (encoded > sizeof buffer)
        return;                         //  larger than any test input can make
    ff_signal_t *again = (ff_signal_t *) malloc (sizeof (ff_signal_t));
    char detail [256];
    ff_signal_error_t rc = ff_signal_decode (again, buffer, encoded, detail, sizeof detail);
    s_check (rc == FF_SIGNAL_OK);
    s_check (strcmp (again->id, signal->id) == 0);
    s_check (strcmp (again->type, signal->type) == 0);
    s_check (strcmp (again->source, signal->source) == 0);
    s_check (strcmp (again->subject, signal->subject) == 0);
    s_check (again->phase == signal->phase);
    s_check (again->confidence == signal->confidence);
    s_check (again->ts_us == signal->ts_us);
    s_check (again->seq == signal->seq);
    s_check (again->payload_size == signal->payload_size);
    s_check (!signal->payload_size
             || memcmp (again->payload, signal->payload, signal->payload_size) == 0);
    s_check (again->extra_count == signal->extra_count);
    s_check (again->extra_size == signal->extra_size);
    s_check (!signal->extra_size || memcmp (again->extra, signal->extra, signal->extra_size) == 0);
    free (again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    //  Copies of exactly the frame sizes, so ASan sees any read past them.
    size_t topic_size = data [0];
    bool framed = topic_size <= size - 1;
    uint8_t *topic = NULL, *map;
    size_t map_size;
    if (framed) {
        topic = (uint8_t *) malloc (topic_size ? topic_size : 1);
        memcpy (topic, data + 1, topic_size);
        map_size = size - 1 - topic_size;
        map = (uint8_t *) malloc (map_size ? map_size : 1);
        memcpy (map, data + 1 + topic_size, map_size);
    }
    else {
        map_size = size;
        map = (uint8_t *) malloc (map_size);
        memcpy (map, data, map_size);
    }
    ff_signal_t *signal = (ff_signal_t *) malloc (sizeof (ff_signal_t));
    ff_signal_init (signal);
    char detail [256];
    ff_signal_error_t rc = framed
        ? ff_signal_decode_frames (signal, topic, topic_size, map, map_size, detail, sizeof detail)
        : ff_signal_decode (signal, map, map_size, detail, sizeof detail);
    s_check (rc >= FF_SIGNAL_OK && rc < FF_SIGNAL_ERR__COUNT);
    s_check (strcmp (ff_signal_error_name (rc), "unknown") != 0);
    if (rc == FF_SIGNAL_OK) {
        s_check (signal->id [0] && signal->type [0] && signal->source [0]);
        s_check (signal->phase >= -1 && signal->phase <= 9);
        s_check (signal->confidence >= 0 && signal->confidence <= 1);
        s_check (!signal->payload || (signal->payload >= map
                                      && signal->payload + signal->payload_size <= map + map_size));
        s_round_trip (signal);
    }

    //  The cursor alone, object by object, over the whole input.
    ff_msgpack_reader_t reader;
    ff_msgpack_reader_init (&reader, map, map_size);
    int skip = ff_msgpack_reader_skip (&reader, FF_SIGNAL_DEPTH_MAX);
    s_check (ff_msgpack_reader_remaining (&reader) <= map_size);
    if (rc == FF_SIGNAL_OK)
        s_check (skip == FF_MSGPACK_OK && ff_msgpack_reader_remaining (&reader) == 0);
    ff_msgpack_reader_init (&reader, map, map_size);
    ff_msgpack_item_t item;
    while (ff_msgpack_reader_next (&reader, &item) == FF_MSGPACK_OK) {
        s_check (ff_msgpack_type_name (item.type) != NULL);
        if (item.type == FF_MSGPACK_STR || item.type == FF_MSGPACK_BIN
        ||  item.type == FF_MSGPACK_EXT)
            s_check (item.data >= map && item.data + item.size <= map + map_size);
    }
    free (signal);
    free (topic);
    free (map);
    return 0;
}
