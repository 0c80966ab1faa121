/*  test_sisas_malformed — every kind of invalid signal through a running
    SISAS: counted by reason, never delivered; sequence gaps and source
    restarts counted; the accounting identity after each scenario. */
#include "test_sisas_support.c"

//  A hand-written map: {id, type, source, ts} plus `tail` pairs.
static size_t
s_map (uint8_t *out, uint8_t pairs, const char *type, const uint8_t *tail, size_t tail_size)
{
    size_t used = 0;
    out [used++] = (uint8_t) (0x80 | pairs);
    const uint8_t head [] = { 0xa2, 'i', 'd', 0xa1, 'a', 0xa4, 't', 'y', 'p', 'e' };
    memcpy (out + used, head, sizeof head);
    used += sizeof head;
    size_t type_size = strlen (type);
    out [used++] = (uint8_t) (0xa0 | type_size);
    memcpy (out + used, type, type_size);
    used += type_size;
    const uint8_t rest [] = { 0xa6, 's', 'o', 'u', 'r', 'c', 'e', 0xa1, 's', 0xa2, 't', 's', 0x01 };
    memcpy (out + used, rest, sizeof rest);
    used += sizeof rest;
    if (tail_size)
        memcpy (out + used, tail, tail_size);
    return used + tail_size;
}

FF_TEST (sisas_malformed, every_reason_is_counted_and_nothing_is_delivered)
{
    s_bus_t bus;
    s_bus_start (&bus, "", NULL);
    zsock_t *pub = bus.pub;
    uint8_t map [256];
    size_t size;
    //  frames: one frame, three frames
    s_send_frames (pub, 1, "t", (size_t) 1);
    s_send_frames (pub, 3, "t", (size_t) 1, "\x80", (size_t) 1, "x", (size_t) 1);
    //  msgpack: garbage, truncated
    s_send_frames (pub, 2, "t", (size_t) 1, "\xc1\xc1", (size_t) 2);
    s_send_frames (pub, 2, "t", (size_t) 1, "\x85\xa2", (size_t) 2);
    //  not_map
    s_send_frames (pub, 2, "t", (size_t) 1, "\x91\x01", (size_t) 2);
    //  missing_field: no seq
    size = s_map (map, 4, "t", NULL, 0);
    s_send_frames (pub, 2, "t", (size_t) 1, map, size);
    //  field_type: seq is a string
    const uint8_t seq_str [] = { 0xa3, 's', 'e', 'q', 0xa1, 'x' };
    size = s_map (map, 5, "t", seq_str, sizeof seq_str);
    s_send_frames (pub, 2, "t", (size_t) 1, map, size);
    //  field_value: a reserved '$' type
    const uint8_t seq_zero [] = { 0xa3, 's', 'e', 'q', 0x00 };
    size = s_map (map, 5, "$x", seq_zero, sizeof seq_zero);
    s_send_frames (pub, 2, "$x", (size_t) 2, map, size);
    //  version: v = 2
    const uint8_t v2 [] = { 0xa3, 's', 'e', 'q', 0x00, 0xa1, 'v', 0x02 };
    size = s_map (map, 6, "t", v2, sizeof v2);
    s_send_frames (pub, 2, "t", (size_t) 1, map, size);
    //  topic: the topic frame is not the type
    size = s_map (map, 5, "t", seq_zero, sizeof seq_zero);
    s_send_frames (pub, 2, "u", (size_t) 1, map, size);
    //  the same map with its right topic is valid: the baseline works
    s_send_frames (pub, 2, "t", (size_t) 1, map, size);
    s_send (pub, "marker", "m", "x", -1, 1.0, 0, 0);

    //  Only the valid "t" and the marker come out (probes skipped).
    s_delivered_t delivered;
    cr_assert (s_receive (bus.sub, &delivered, FF_TEST_TIMEOUT_MS));
    while (strcmp (delivered.topic, "probe") == 0) {
        s_delivered_free (&delivered);
        cr_assert (s_receive (bus.sub, &delivered, FF_TEST_TIMEOUT_MS));
    }
    cr_assert_str_eq (delivered.topic, "t");
    cr_assert_eq (delivered.error, FF_SIGNAL_OK);
    s_delivered_free (&delivered);
    cr_assert (s_receive (bus.sub, &delivered, FF_TEST_TIMEOUT_MS));
    cr_assert_str_eq (delivered.topic, "marker", "invalid signals are never delivered");
    s_delivered_free (&delivered);

    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 12);
    Farfan__SisasStats *stats = health->stats;
    s_assert_identity (stats);
    cr_assert_eq (stats->received, bus.base + 12);
    cr_assert_eq (stats->rejected, 10);
    cr_assert_eq (stats->n_rejected_by_reason, FF_SIGNAL_ERR__COUNT - 1, "every reason listed");
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "frames"), 2);
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "msgpack"), 2);
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "not_map"), 1);
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "missing_field"), 1);
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "field_type"), 1);
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "field_value"), 1);
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "version"), 1);
    cr_assert_eq (s_count (stats->rejected_by_reason, stats->n_rejected_by_reason, "topic"), 1);
    cr_assert_eq (stats->delivered, bus.base + 2);
    s_health_free (&health);

    //  The same counts on /metrics.
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (bus.service), "/metrics", &status);
    cr_assert_eq (status, 200);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_rejected_total{reason=\"frames\"}"), 2);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_rejected_total{reason=\"topic\"}"), 1);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_received_total"), (double) bus.base + 12);
    free (page);
    s_bus_stop (&bus);
}

FF_TEST (sisas_malformed, sequence_gaps_are_upstream_loss_and_going_back_is_a_restart)
{
    s_bus_t bus;
    s_bus_start (&bus, "gap", NULL);
    uint64_t seqs [] = { 0, 1, 5, 6, 2, 3, 3, 10 };
    for (size_t i = 0; i < sizeof seqs / sizeof seqs [0]; i++) {
        char subject [16];
        snprintf (subject, sizeof subject, "s%zu", i);
        s_send (bus.pub, "gap", "publisher-a", subject, -1, 1.0, 0, seqs [i]);
    }
    //  Another source's numbering is its own.
    s_send (bus.pub, "gap", "publisher-b", "b", -1, 1.0, 0, 7);
    s_send (bus.pub, "gap", "publisher-b", "c", -1, 1.0, 0, 8);
    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 10);
    Farfan__SisasStats *stats = health->stats;
    s_assert_identity (stats);
    //  Lost: 2..4 (3) between 1 and 5; after the restart at 2: 4..9 (6)
    //  between 3 and 10. Restarts: 6 -> 2 and 3 -> 3.
    cr_assert_eq (stats->upstream_lost, 9);
    cr_assert_eq (stats->source_restarts, 2);
    cr_assert_eq (stats->delivered, bus.base + 10, "gaps and restarts lose nothing here");
    cr_assert_eq (stats->sources, 3, "probe, publisher-a, publisher-b");
    bool found = false;
    for (size_t i = 0; i < health->storm->n_noisiest; i++)
        if (strcmp (health->storm->noisiest [i]->source, "publisher-a") == 0) {
            cr_assert_eq (health->storm->noisiest [i]->lost, 9);
            found = true;
        }
    cr_assert (found);
    s_health_free (&health);
    int status = 0;
    char *page = ff_test_http_get (ff_test_service_http_port (bus.service), "/metrics", &status);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_upstream_lost_total"), 9);
    cr_assert_eq (ff_test_metric (page, "farfan_signals_source_restarts_total"), 2);
    free (page);
    s_bus_stop (&bus);
}

//  More sources than the table holds share the untracked entry: counted,
//  still delivered, memory unchanged.
FF_TEST (sisas_malformed, sources_beyond_the_table_are_untracked_but_delivered)
{
    s_bus_t bus;
    s_bus_start (&bus, "many", "--max-sources", "4", NULL);
    for (int i = 0; i < 10; i++) {
        char source [16];
        snprintf (source, sizeof source, "src-%d", i);
        s_send (bus.pub, "many", source, source, -1, 1.0, 0, 0);
    }
    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 10);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->sources, 4);
    cr_assert_eq (health->stats->sources_untracked, 7, "probe + 3 fill the table; 7 share");
    cr_assert_eq (health->stats->delivered, bus.base + 10);
    s_health_free (&health);
    s_bus_stop (&bus);
}
