/*  test_sisas_python — a publisher written against the documented schema
    alone (proto/signal-schema.md §9: Debian's python3-zmq and
    python3-msgpack, none of farfan's code) publishes signals that SISAS
    validates, fuses and delivers. Skipped, with a message, when
    /usr/bin/python3 or those modules are missing. */
#include "test_sisas_support.c"

#include <unistd.h>

#define S_PYTHON "/usr/bin/python3"

//  The publisher of signal-schema.md §9, trimmed to what the test needs:
//  an XPUB that waits for SISAS's subscription, never blocks, and stamps
//  each signal by the schema. It publishes three signals of one type and
//  subject (confidence 0.5, 0.9, 0.6) and one of another subject.
static const char *s_script =
    "import os, sys, time\n"
    "import msgpack, zmq\n"
    "endpoint = os.environ['FARFAN_SISAS_INGEST']\n"
    "source = 'python-publisher'\n"
    "sock = zmq.Context.instance().socket(zmq.XPUB)\n"
    "sock.setsockopt(zmq.XPUB_NODROP, 1)\n"
    "sock.setsockopt(zmq.IMMEDIATE, 1)\n"
    "sock.setsockopt(zmq.SNDHWM, 1000)\n"
    "sock.setsockopt(zmq.LINGER, 2000)\n"
    "sock.connect(endpoint)\n"
    "topics = 0\n"
    "deadline = time.monotonic() + 5\n"
    "while topics == 0 and time.monotonic() < deadline:\n"
    "    if sock.poll(100, zmq.POLLIN):\n"
    "        if sock.recv()[:1] == b'\\x01':\n"
    "            topics += 1\n"
    "if topics == 0:\n"
    "    sys.exit('SISAS did not subscribe')\n"
    "now = time.time_ns() // 1000\n"
    "plan = [('PA01/DIM01/Q001', 0.5), ('PA01/DIM01/Q001', 0.9),\n"
    "        ('PA01/DIM01/Q001', 0.6), ('PA01/DIM01/Q002', 0.7)]\n"
    "for seq, (subject, confidence) in enumerate(plan):\n"
    "    signal = {'v': 1, 'id': f'{source}:{seq}', 'type': 'contract.result',\n"
    "              'source': source, 'subject': subject, 'phase': 'P02',\n"
    "              'confidence': confidence, 'ts': now + seq, 'seq': seq,\n"
    "              'payload': {'score': 2, 'evidence': ['a', 'b']}, 'run': 'r7'}\n"
    "    body = msgpack.packb(signal, use_bin_type=True)\n"
    "    sock.send_multipart([b'contract.result', body], zmq.NOBLOCK)\n"
    "print('sent', len(plan))\n"
    "sock.close()\n";

//  True when /usr/bin/python3 runs and imports zmq and msgpack.
static bool
s_python_ready (void)
{
    if (access (S_PYTHON, X_OK) != 0)
        return false;
    char *argv [] = { S_PYTHON, "-c", "import zmq, msgpack", NULL };
    ff_test_process_t *process = ff_test_spawn (S_PYTHON, argv, NULL);
    int code = ff_test_process_wait_exit (process, 20000);
    ff_test_process_destroy (&process);
    return code == 0;
}

FF_TEST (sisas_python, a_schema_only_python_publisher_is_fused_and_delivered)
{
    if (!s_python_ready ())
        cr_skip_test ("skipped: " S_PYTHON " with python3-zmq and python3-msgpack is needed "
                      "(apt-get install python3-zmq python3-msgpack)");
    s_bus_t bus;
    s_bus_start (&bus, "contract.", "--fusion-window-ms", "300", NULL);
    char environment [256];
    snprintf (environment, sizeof environment, "FARFAN_SISAS_INGEST=%s",
              ff_test_service_endpoint (bus.service, "ingest"));
    char *env [] = { environment, NULL };
    char *argv [] = { S_PYTHON, "-c", (char *) s_script, NULL };
    ff_test_process_t *process = ff_test_spawn (S_PYTHON, argv, env);
    int code = ff_test_process_wait_exit (process, 20000);
    cr_assert_eq (code, 0, "python publisher failed: %s", ff_test_process_stderr (process));
    cr_assert (strstr (ff_test_process_stdout (process), "sent 4"));
    ff_test_process_destroy (&process);

    //  The first of the group at once, with payload and unknown key intact.
    s_delivered_t first, other, fused;
    cr_assert (s_receive_topic (bus.sub, "contract.result", &first, FF_TEST_TIMEOUT_MS));
    cr_assert_eq (first.error, FF_SIGNAL_OK);
    cr_assert_str_eq (first.signal.id, "python-publisher:0");
    cr_assert_str_eq (first.signal.subject, "PA01/DIM01/Q001");
    cr_assert_eq (first.signal.phase, 2);
    cr_assert_float_eq (first.signal.confidence, 0.5, 1e-12);
    size_t size;
    const uint8_t *body = s_body (&first, &size);
    cr_assert_eq (s_number (s_map_get (body, size, "payload.score")), 2);
    cr_assert (s_str_is (s_map_get (body, size, "run"), "r7"), "unknown keys pass through");
    //  The other subject: not merged.
    cr_assert (s_receive_topic (bus.sub, "contract.result", &other, FF_TEST_TIMEOUT_MS));
    cr_assert_str_eq (other.signal.subject, "PA01/DIM01/Q002");
    //  Then the FUSED update of the first group: max = 0.9, 3 members.
    cr_assert (s_receive_topic (bus.sub, "contract.result", &fused, FF_TEST_TIMEOUT_MS));
    cr_assert_eq (fused.error, FF_SIGNAL_OK);
    cr_assert_str_eq (fused.signal.subject, "PA01/DIM01/Q001");
    cr_assert_float_eq (fused.signal.confidence, 0.9, 1e-12);
    body = s_body (&fused, &size);
    cr_assert (s_str_is (s_map_get (body, size, "fused.group"), "python-publisher:0"));
    cr_assert_eq (s_number (s_map_get (body, size, "fused.members")), 3);
    ff_msgpack_item_t sources = s_map_get (body, size, "fused.sources");
    cr_assert_eq (sources.count, 1);
    s_delivered_free (&first);
    s_delivered_free (&other);
    s_delivered_free (&fused);

    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 4);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->rejected, 0, "every Python signal was valid");
    cr_assert_eq (health->stats->absorbed, 2);
    cr_assert_eq (health->stats->fused_emitted, 1);
    cr_assert_eq (health->stats->upstream_lost, 0);
    s_health_free (&health);
    s_bus_stop (&bus);
}
