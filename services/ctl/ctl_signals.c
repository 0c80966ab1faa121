/*  farfanctl signals publish --type T [--subject S] [--confidence C]
                              [--phase P] [--source NAME] [--count N]
                              [--rate R] [--endpoint E]
                              [--control-endpoint E | --no-control]
                              [--timeout MS] [--json]
    farfanctl signals tail [--topic PREFIX] [--endpoint E] [--count N]
                           [--timeout MS] [--json]

    publish sends N schema-v1 signals (proto/signal-schema.md) to SISAS's
    ingest socket through the common publisher: source "farfanctl/<pid>"
    unless --source, seq 0.., ids "<source>:<seq>". --rate paces them
    (signals/s); the publisher also listens to SISAS's control stream (on
    the delivery socket, --control-endpoint; --no-control to ignore it)
    and waits while SISAS
    throttles it, so a storm or backpressure slows the command down instead
    of losing signals. It waits up to --timeout (default 2000 ms) for SISAS
    to subscribe. Exit 0 when every signal was sent, 1 when some were
    dropped (the summary says why), 3 when SISAS never subscribed.

    tail subscribes to SISAS's delivery socket (topic prefix, default
    everything, the "$sisas.control" stream included) and prints each
    message as it comes: one aligned line per signal, or with --json one
    JSON object per line (the msgpack map as JSON). --count stops after N
    messages; --timeout MS gives up after MS without a message (exit 3).

    Endpoints: --endpoint, else FARFAN_CTL_SISAS_INGEST (publish) /
    FARFAN_CTL_SISAS_PUBLISH (tail and publish's control stream), else
    tcp://127.0.0.1:5570 / tcp://127.0.0.1:5571.
*/
#include "ctl_command.h"
#include "ctl_output.h"
#include "ff_clock.h"
#include "ff_msgpack_reader.h"
#include "ff_publisher.h"
#include "ff_signal.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_PREFIX "farfanctl signals"
#define S_DEFAULT_CONNECT_MS 2000
//  Signals queued when publish ends may take this long to leave.
#define S_LINGER_MS 5000
#define S_SNDHWM 10000
#define S_MAX_MSG_SIZE (16 * 1024 * 1024)
//  A control message is read at least this often while waiting, µs.
#define S_WAIT_SLICE_US 50000

static int
s_usage (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_usage (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, S_PREFIX ": ");
    vfprintf (stderr, format, args);
    fprintf (stderr, " (see farfanctl signals --help)\n");
    va_end (args);
    return CTL_EXIT_USAGE;
}

static void
s_help (FILE *out)
{
    fprintf (out,
        "Usage: farfanctl signals publish --type T [--subject S] [--confidence C] [--phase P]\n"
        "                                 [--source NAME] [--count N] [--rate R] [--endpoint E]\n"
        "                                 [--control-endpoint E | --no-control] [--timeout MS]\n"
        "                                 [--json]\n"
        "       farfanctl signals tail [--topic PREFIX] [--endpoint E] [--count N]\n"
        "                              [--timeout MS] [--json]\n"
        "publish: N signals to SISAS's ingest (default tcp://127.0.0.1:5570, FARFAN_CTL_SISAS_INGEST),\n"
        "  paced at R/s and by SISAS's THROTTLE / BACKPRESSURE. Exit 1 when any was dropped.\n"
        "tail: the delivered stream (default tcp://127.0.0.1:5571, FARFAN_CTL_SISAS_PUBLISH),\n"
        "  one line (or JSON object) per message; exit 3 after --timeout MS of silence.\n");
}

static const char *
s_endpoint (const char *variable, const char *fallback)
{
    const char *value = getenv (variable);
    return value && *value ? value : fallback;
}

//  A number option: integer > 0 (limit max), or -1.
static long long
s_count (const char *text, long long max)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (!*text || *end || errno || value <= 0 || value > max)
        return -1;
    return value;
}

static bool
s_double (const char *text, double min, double max, double *value)
{
    char *end = NULL;
    errno = 0;
    *value = strtod (text, &end);
    return *text && !*end && !errno && isfinite (*value) && *value >= min && *value <= max;
}

//  ---------------------------------------------------------------------
//  publish

typedef struct {
    const char *type;
    const char *subject;
    const char *source;
    const char *endpoint;
    const char *control;
    double confidence;
    int phase;
    long long count;
    double rate;
    int timeout_ms;
    bool json;
} s_publish_t;

static void
s_sleep_us (uint64_t us)
{
    struct timespec pause = { (time_t) (us / 1000000), (long) (us % 1000000) * 1000 };
    nanosleep (&pause, NULL);
}

static int
s_publish (s_publish_t *options)
{
    char source [128];
    if (options->source)
        snprintf (source, sizeof source, "%s", options->source);
    else
        snprintf (source, sizeof source, "farfanctl/%d", (int) getpid ());
    ff_publisher_options_t publisher_options = {
        .endpoint = options->endpoint,
        .source = source,
        .sndhwm = S_SNDHWM,
        .max_msg_size = S_MAX_MSG_SIZE,
        .rate = options->rate,
        .burst = 1,
        .control_endpoint = options->control,
        .linger_ms = S_LINGER_MS,
        .curve = ff_curve_client_default (),
    };
    char err [512] = "";
    ff_publisher_t *publisher = ff_publisher_new (&publisher_options, NULL, err, sizeof err);
    if (!publisher)
        return s_usage ("%s", err);
    if (!ff_publisher_wait_connected (publisher, options->timeout_ms)) {
        fprintf (stderr, S_PREFIX " publish: SISAS did not subscribe at %s within %d ms\n",
                 options->endpoint, options->timeout_ms);
        ff_publisher_destroy (&publisher);
        return CTL_EXIT_UNREACHABLE;
    }
    uint64_t started = ff_clock_mono_us ();
    uint64_t first_seq = ff_publisher_next_seq (publisher);
    bool throttled = false;
    for (long long i = 0; i < options->count; i++) {
        //  Wait for the pace (the caller's rate or SISAS's) rather than drop.
        uint64_t wait;
        while ((wait = ff_publisher_wait_us (publisher)) > 0) {
            throttled = true;
            s_sleep_us (wait < S_WAIT_SLICE_US ? wait : S_WAIT_SLICE_US);
            ff_publisher_poll_control (publisher);
        }
        ff_signal_t signal;
        ff_signal_init (&signal);
        snprintf (signal.type, sizeof signal.type, "%s", options->type);
        snprintf (signal.subject, sizeof signal.subject, "%s", options->subject);
        signal.phase = options->phase;
        signal.confidence = options->confidence;
        ff_publisher_send (publisher, &signal);
    }
    double elapsed_ms = (double) (ff_clock_mono_us () - started) / 1000.0;
    ff_publisher_stats_t stats;
    ff_publisher_stats (publisher, &stats);
    ff_publisher_pacing_t pacing;
    ff_publisher_pacing (publisher, &pacing);
    uint64_t dropped = stats.dropped_no_peer + stats.dropped_hwm + stats.dropped_paced
                     + stats.dropped_encode;
    if (options->json) {
        json_t *out = json_pack ("{s:o, s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:f, s:b, s:b}",
            "source", ctl_output_string (source), "endpoint", options->endpoint,
            "sent", (json_int_t) stats.sent, "first_seq", (json_int_t) first_seq,
            "last_seq", (json_int_t) (ff_publisher_next_seq (publisher) - 1),
            "dropped", "no_peer", (json_int_t) stats.dropped_no_peer,
            "hwm", (json_int_t) stats.dropped_hwm, "paced", (json_int_t) stats.dropped_paced,
            "encode", (json_int_t) stats.dropped_encode,
            "elapsed_ms", elapsed_ms, "slowed", throttled, "backpressure", pacing.backpressure);
        ctl_output_json_line (stdout, out);
        json_decref (out);
    }
    else {
        printf ("published %" PRIu64 " of %lld signals as %s (seq %" PRIu64 "..%" PRIu64
                ") to %s in %.1f ms", stats.sent, options->count, source, first_seq,
                ff_publisher_next_seq (publisher) - 1, options->endpoint, elapsed_ms);
        if (throttled)
            printf (", paced");
        printf ("\n");
        if (dropped)
            printf ("dropped %" PRIu64 ": no_peer %" PRIu64 ", hwm %" PRIu64 ", paced %" PRIu64
                    ", encode %" PRIu64 "\n", dropped, stats.dropped_no_peer, stats.dropped_hwm,
                    stats.dropped_paced, stats.dropped_encode);
    }
    ff_publisher_destroy (&publisher);
    return dropped ? CTL_EXIT_ERROR_REPLY : CTL_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  tail

//  The msgpack object at reader as JSON (depth-limited; never NULL).
static json_t *
s_json_value (ff_msgpack_reader_t *reader, int depth)
{
    ff_msgpack_item_t item;
    if (depth > FF_SIGNAL_DEPTH_MAX || ff_msgpack_reader_next (reader, &item) != FF_MSGPACK_OK)
        return json_null ();
    switch (item.type) {
        case FF_MSGPACK_NIL:
            return json_null ();
        case FF_MSGPACK_BOOL:
            return json_boolean (item.boolean);
        case FF_MSGPACK_UINT:
            return item.u <= (uint64_t) INT64_MAX ? json_integer ((json_int_t) item.u)
                                                  : json_real ((double) item.u);
        case FF_MSGPACK_INT:
            return json_integer ((json_int_t) item.i);
        case FF_MSGPACK_FLOAT32:
        case FF_MSGPACK_FLOAT64:
            return isfinite (item.f) ? json_real (item.f) : json_null ();
        case FF_MSGPACK_STR: {
            char *text = strndup ((const char *) item.data, item.size);
            json_t *value = ctl_output_string (text ? text : "");
            free (text);
            return value;
        }
        case FF_MSGPACK_BIN:
        case FF_MSGPACK_EXT: {
            char *hex = (char *) malloc ((size_t) item.size * 2 + 1);
            if (!hex)
                return json_null ();
            for (uint32_t i = 0; i < item.size; i++)
                snprintf (hex + 2 * i, 3, "%02x", item.data [i]);
            hex [item.size * 2] = '\0';
            json_t *value = item.type == FF_MSGPACK_BIN
                ? json_pack ("{s:s}", "bin", hex)
                : json_pack ("{s:i, s:s}", "ext", item.ext_type, "hex", hex);
            free (hex);
            return value ? value : json_null ();
        }
        case FF_MSGPACK_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t i = 0; i < item.count; i++)
                json_array_append_new (array, s_json_value (reader, depth + 1));
            return array;
        }
        case FF_MSGPACK_MAP: {
            json_t *object = json_object ();
            for (uint32_t i = 0; i < item.count; i++) {
                json_t *key = s_json_value (reader, depth + 1);
                json_t *value = s_json_value (reader, depth + 1);
                char name [64];
                const char *text = json_is_string (key) ? json_string_value (key) : NULL;
                if (!text) {
                    if (json_is_integer (key))
                        snprintf (name, sizeof name, "%" JSON_INTEGER_FORMAT, json_integer_value (key));
                    else
                        snprintf (name, sizeof name, "?");
                    text = name;
                }
                json_object_set_new (object, text, value);
                json_decref (key);
            }
            return object;
        }
    }
    return json_null ();
}

//  The value at "key" of the map data (one level), or NULL.
static bool
s_lookup (const uint8_t *data, size_t size, const char *key, ff_msgpack_reader_t *at)
{
    ff_msgpack_reader_init (at, data, size);
    ff_msgpack_item_t item;
    if (ff_msgpack_reader_next (at, &item) != FF_MSGPACK_OK || item.type != FF_MSGPACK_MAP)
        return false;
    size_t length = strlen (key);
    for (uint32_t i = 0; i < item.count; i++) {
        ff_msgpack_item_t name;
        if (ff_msgpack_reader_next (at, &name) != FF_MSGPACK_OK)
            return false;
        if (name.type == FF_MSGPACK_STR && name.size == length && memcmp (name.data, key, length) == 0)
            return true;
        if (ff_msgpack_reader_skip (at, FF_SIGNAL_DEPTH_MAX) != FF_MSGPACK_OK)
            return false;
    }
    return false;
}

static void
s_time (uint64_t ts_us, char *out, size_t size)
{
    time_t seconds = (time_t) (ts_us / 1000000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    snprintf (out, size, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
              (int) (ts_us % 1000000 / 1000));
}

//  One human line for a delivered message.
static void
s_print_line (const char *topic, const uint8_t *data, size_t size)
{
    static ff_signal_t signal;
    char when [16];
    if (topic [0] == '$') {
        ff_msgpack_reader_t at;
        json_t *payload = s_lookup (data, size, "payload", &at) ? s_json_value (&at, 0) : json_null ();
        char *text = json_dumps (payload, JSON_COMPACT);
        s_time (ff_clock_wall_us (), when, sizeof when);
        printf ("%s  %-22s %s\n", when, topic, text ? text : "?");
        free (text);
        json_decref (payload);
        return;
    }
    if (ff_signal_decode (&signal, data, size, NULL, 0) != FF_SIGNAL_OK) {
        printf ("?             %-22s (not a valid signal, %zu bytes)\n", topic, size);
        return;
    }
    s_time (signal.ts_us, when, sizeof when);
    printf ("%s  %-22s %-24s %-20s %-3s %5.3f  %s", when, signal.type, signal.source,
            signal.subject [0] ? signal.subject : "-",
            signal.phase >= 0 ? ff_signal_phase_name (signal.phase) : "-", signal.confidence,
            signal.id);
    ff_msgpack_reader_t at;
    if (s_lookup (data, size, "fused", &at)) {
        json_t *fused = s_json_value (&at, 0);
        printf ("  FUSED members=%" JSON_INTEGER_FORMAT " group=%s",
                json_integer_value (json_object_get (fused, "members")),
                json_string_value (json_object_get (fused, "group"))
                    ? json_string_value (json_object_get (fused, "group")) : "?");
        json_decref (fused);
    }
    printf ("\n");
}

static int
s_tail (const char *endpoint, const char *topic, long long count, int timeout_ms, bool json)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub)
        return CTL_EXIT_ERROR_REPLY;
    zsock_set_rcvhwm (sub, 100000);
    zsock_set_linger (sub, 0);
    int64_t max_size = S_MAX_MSG_SIZE;
    zmq_setsockopt (zsock_resolve (sub), ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    zsock_set_subscribe (sub, topic);
    const char *address = *endpoint == '>' ? endpoint + 1 : endpoint;
    char reason [512];
    if (ff_curve_attach (ff_curve_client_default (), sub, address, false,
                         reason, sizeof reason) != 0) {
        zsock_destroy (&sub);
        return s_usage ("cannot connect to \"%s\": %s", endpoint, reason);
    }
    zsock_set_rcvtimeo (sub, timeout_ms > 0 ? timeout_ms : -1);
    long long seen = 0;
    int rc = CTL_EXIT_OK;
    while (count == 0 || seen < count) {
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg) {
            if (timeout_ms > 0) {
                fprintf (stderr, S_PREFIX " tail: nothing from %s for %d ms (%lld received)\n",
                         endpoint, timeout_ms, seen);
                rc = CTL_EXIT_UNREACHABLE;
            }
            break;
        }
        seen++;
        if (zmsg_size (msg) != 2) {
            zmsg_destroy (&msg);
            continue;
        }
        char *topic_text = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        if (json) {
            ff_msgpack_reader_t reader;
            ff_msgpack_reader_init (&reader, zframe_data (body), zframe_size (body));
            json_t *line = json_pack ("{s:o, s:o}", "topic", ctl_output_string (topic_text),
                                      "signal", s_json_value (&reader, 0));
            ctl_output_json_line (stdout, line);
            json_decref (line);
        }
        else {
            s_print_line (topic_text, zframe_data (body), zframe_size (body));
            fflush (stdout);
        }
        zstr_free (&topic_text);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    zsock_destroy (&sub);
    return rc;
}

//  ---------------------------------------------------------------------

int
ctl_signals (int argc, char **argv)
{
    if (argc < 2) {
        s_help (stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0) {
        s_help (stdout);
        return CTL_EXIT_OK;
    }
    bool publish = strcmp (argv [1], "publish") == 0;
    bool tail = strcmp (argv [1], "tail") == 0;
    if (!publish && !tail)
        return s_usage ("unknown subcommand \"%s\": publish or tail", argv [1]);
    s_publish_t options = { .subject = "", .confidence = 1.0, .phase = -1, .count = 1,
                            .timeout_ms = publish ? S_DEFAULT_CONNECT_MS : 0 };
    const char *topic = "";
    bool control = true;
    bool count_given = false;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc ? argv [i + 1] : NULL;
        long long number;
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_help (stdout);
            return CTL_EXIT_OK;
        }
        if (strcmp (arg, "--json") == 0) {
            options.json = true;
            continue;
        }
        if (strcmp (arg, "--no-control") == 0 && publish) {
            control = false;
            continue;
        }
        if (!value || strncmp (arg, "--", 2) != 0)
            return s_usage ("unexpected argument \"%s\"%s", arg,
                            strncmp (arg, "--", 2) == 0 ? " (missing value)" : "");
        i++;
        if (strcmp (arg, "--endpoint") == 0)
            options.endpoint = value;
        else
        if (strcmp (arg, "--count") == 0) {
            if ((number = s_count (value, LLONG_MAX)) < 0)
                return s_usage ("--count takes a count > 0, not \"%s\"", value);
            options.count = number;
            count_given = true;
        }
        else
        if (strcmp (arg, "--timeout") == 0) {
            if ((number = s_count (value, INT_MAX)) < 0)
                return s_usage ("--timeout takes milliseconds > 0, not \"%s\"", value);
            options.timeout_ms = (int) number;
        }
        else
        if (tail && strcmp (arg, "--topic") == 0)
            topic = value;
        else
        if (publish && strcmp (arg, "--type") == 0)
            options.type = value;
        else
        if (publish && strcmp (arg, "--subject") == 0)
            options.subject = value;
        else
        if (publish && strcmp (arg, "--source") == 0)
            options.source = value;
        else
        if (publish && strcmp (arg, "--control-endpoint") == 0)
            options.control = value;
        else
        if (publish && strcmp (arg, "--confidence") == 0) {
            if (!s_double (value, 0, 1, &options.confidence))
                return s_usage ("--confidence takes a number in 0..1, not \"%s\"", value);
        }
        else
        if (publish && strcmp (arg, "--rate") == 0) {
            if (!s_double (value, 1e-6, 1e9, &options.rate))
                return s_usage ("--rate takes signals per second > 0, not \"%s\"", value);
        }
        else
        if (publish && strcmp (arg, "--phase") == 0) {
            if (strlen (value) != 3 || value [0] != 'P' || value [1] != '0' || value [2] < '0'
            ||  value [2] > '9')
                return s_usage ("--phase takes P00..P09, not \"%s\"", value);
            options.phase = value [2] - '0';
        }
        else
            return s_usage ("unknown option \"%s\" for %s", arg, argv [1]);
    }
    if (tail)
        return s_tail (options.endpoint ? options.endpoint
                                        : s_endpoint ("FARFAN_CTL_SISAS_PUBLISH", "tcp://127.0.0.1:5571"),
                       topic, count_given ? options.count : 0, options.timeout_ms, options.json);
    if (!options.type || !*options.type)
        return s_usage ("publish needs --type");
    if (options.type [0] == '$' || strlen (options.type) > FF_SIGNAL_TYPE_MAX)
        return s_usage ("--type must be 1..%d bytes and not start with '$'", FF_SIGNAL_TYPE_MAX);
    if (strlen (options.subject) > FF_SIGNAL_SUBJECT_MAX)
        return s_usage ("--subject is longer than %d bytes", FF_SIGNAL_SUBJECT_MAX);
    if (!options.endpoint)
        options.endpoint = s_endpoint ("FARFAN_CTL_SISAS_INGEST", "tcp://127.0.0.1:5570");
    if (!control)
        options.control = NULL;
    else
    if (!options.control)
        options.control = s_endpoint ("FARFAN_CTL_SISAS_PUBLISH", "tcp://127.0.0.1:5571");
    return s_publish (&options);
}
