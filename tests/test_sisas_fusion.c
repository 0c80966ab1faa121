/*  test_sisas_fusion — fusion of correlated signals: the sis_fusion table
    on its own (time passed in, exact), then through a running SISAS. */
#include "test_sisas_support.c"

#include "sis_fusion.h"

#define MS 1000ULL
#define WINDOW (1000 * MS)

typedef struct {
    int calls;
    sis_fusion_group_t last;
    char type [FF_SIGNAL_TYPE_MAX + 1];
    char subject [FF_SIGNAL_SUBJECT_MAX + 1];
    char first_id [FF_SIGNAL_ID_MAX + 1];
    uint32_t sources [SIS_FUSION_SOURCES_MAX];
} s_emitted_t;

static void
s_on_emit (const sis_fusion_group_t *group, void *arg)
{
    s_emitted_t *emitted = (s_emitted_t *) arg;
    emitted->calls++;
    emitted->last = *group;
    snprintf (emitted->type, sizeof emitted->type, "%s", group->type);
    snprintf (emitted->subject, sizeof emitted->subject, "%s", group->subject);
    snprintf (emitted->first_id, sizeof emitted->first_id, "%s", group->first_id);
    memcpy (emitted->sources, group->sources, group->source_count * sizeof (uint32_t));
}

static ff_signal_t
s_signal (const char *id, const char *type, const char *subject, double confidence,
          uint64_t ts_us)
{
    ff_signal_t signal;
    ff_signal_init (&signal);
    snprintf (signal.id, sizeof signal.id, "%s", id);
    snprintf (signal.type, sizeof signal.type, "%s", type);
    snprintf (signal.source, sizeof signal.source, "src");
    snprintf (signal.subject, sizeof signal.subject, "%s", subject);
    signal.confidence = confidence;
    signal.ts_us = ts_us;
    signal.phase = 2;
    return signal;
}

//  Offers a signal like SISAS does: absorbed, or opens a group. Returns
//  true when absorbed.
static bool
s_offer (sis_fusion_t *fusion, const ff_signal_t *signal, uint32_t source, uint64_t now_us)
{
    uint64_t hash = sis_fusion_hash (signal);
    if (sis_fusion_absorb (fusion, signal, hash, source, now_us))
        return true;
    cr_assert_eq (sis_fusion_open (fusion, signal, hash, source, now_us), 0);
    return false;
}

FF_TEST (sisas_fusion, first_is_delivered_later_ones_absorbed_fused_when_confidence_rises)
{
    s_emitted_t emitted = { 0 };
    sis_fusion_t *fusion = sis_fusion_new (4, 100, WINDOW, SIS_FUSION_MAX, s_on_emit, &emitted);
    uint64_t t = 5000 * MS;
    ff_signal_t a = s_signal ("a", "contract.result", "PA01/DIM01/Q001", 0.5, t);
    ff_signal_t b = s_signal ("b", "contract.result", "PA01/DIM01/Q001", 0.7, t + 100 * MS);
    ff_signal_t c = s_signal ("c", "contract.result", "PA01/DIM01/Q001", 0.6, t + 200 * MS);
    cr_assert_not (s_offer (fusion, &a, 1, 0));
    cr_assert (s_offer (fusion, &b, 2, 10));
    cr_assert (s_offer (fusion, &c, 1, 20));
    cr_assert_eq (sis_fusion_expire (fusion, WINDOW - 1), 0, "window still open");
    cr_assert_eq (emitted.calls, 0);
    cr_assert_eq (sis_fusion_expire (fusion, WINDOW), 1);
    cr_assert_eq (emitted.calls, 1);
    cr_assert_str_eq (emitted.type, "contract.result");
    cr_assert_str_eq (emitted.subject, "PA01/DIM01/Q001");
    cr_assert_str_eq (emitted.first_id, "a", "the group id is the first signal's");
    cr_assert_eq (emitted.last.members, 3);
    cr_assert_eq (emitted.last.source_count, 2);
    cr_assert_eq (emitted.sources [0], 1);
    cr_assert_eq (emitted.sources [1], 2);
    cr_assert_float_eq (emitted.last.confidence, 0.7, 1e-12);
    cr_assert_float_eq (emitted.last.first_confidence, 0.5, 1e-12);
    cr_assert_eq (emitted.last.anchor_ts_us, t);
    cr_assert_eq (emitted.last.phase, 2);
    cr_assert_not (emitted.last.early);
    sis_fusion_stats_t stats;
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.opened, 1);
    cr_assert_eq (stats.absorbed, 2);
    cr_assert_eq (stats.emitted, 1);
    cr_assert_eq (stats.open_groups, 0);
    sis_fusion_destroy (&fusion);
    cr_assert_null (fusion);
    sis_fusion_destroy (&fusion);
}

FF_TEST (sisas_fusion, corroborate_is_one_minus_the_product_of_doubts)
{
    s_emitted_t emitted = { 0 };
    sis_fusion_t *fusion = sis_fusion_new (4, 100, WINDOW, SIS_FUSION_CORROBORATE,
                                           s_on_emit, &emitted);
    double confidences [] = { 0.5, 0.6, 0.7, 0.2 };
    for (int i = 0; i < 4; i++) {
        char id [8];
        snprintf (id, sizeof id, "s%d", i);
        ff_signal_t signal = s_signal (id, "t", "subject", confidences [i], 1000 + (uint64_t) i);
        cr_assert_eq (s_offer (fusion, &signal, (uint32_t) i, 0), i > 0);
    }
    sis_fusion_expire (fusion, WINDOW);
    cr_assert_eq (emitted.calls, 1);
    double expected = 1.0 - (0.5 * 0.4 * 0.3 * 0.8);
    cr_assert_float_eq (emitted.last.confidence, expected, 1e-12);
    cr_assert_eq (emitted.last.method, SIS_FUSION_CORROBORATE);
    cr_assert_eq (emitted.last.members, 4);
    sis_fusion_destroy (&fusion);
}

FF_TEST (sisas_fusion, fused_only_when_confidence_rises)
{
    s_emitted_t emitted = { 0 };
    sis_fusion_t *fusion = sis_fusion_new (4, 100, WINDOW, SIS_FUSION_MAX, s_on_emit, &emitted);
    //  max: equal and lower members do not raise it.
    ff_signal_t a = s_signal ("a", "t", "s", 0.8, 0);
    ff_signal_t b = s_signal ("b", "t", "s", 0.8, 1);
    ff_signal_t c = s_signal ("c", "t", "s", 0.3, 2);
    s_offer (fusion, &a, 0, 0);
    cr_assert (s_offer (fusion, &b, 0, 0));
    cr_assert (s_offer (fusion, &c, 0, 0));
    sis_fusion_expire (fusion, WINDOW);
    cr_assert_eq (emitted.calls, 0, "no FUSED when the confidence did not rise");
    //  corroborate: a first signal at 1.0 cannot rise; members at 0 add nothing.
    sis_fusion_set_method (fusion, SIS_FUSION_CORROBORATE);
    ff_signal_t d = s_signal ("d", "t", "s", 1.0, 10);
    ff_signal_t e = s_signal ("e", "t", "s", 0.9, 11);
    ff_signal_t f = s_signal ("f", "u", "s", 0.4, 10);
    ff_signal_t g = s_signal ("g", "u", "s", 0.0, 11);
    s_offer (fusion, &d, 0, WINDOW);
    cr_assert (s_offer (fusion, &e, 0, WINDOW));
    s_offer (fusion, &f, 0, WINDOW);
    cr_assert (s_offer (fusion, &g, 0, WINDOW));
    sis_fusion_expire (fusion, 2 * WINDOW);
    cr_assert_eq (emitted.calls, 0);
    //  A single signal never emits.
    ff_signal_t h = s_signal ("h", "t", "lonely", 0.1, 0);
    s_offer (fusion, &h, 0, 3 * WINDOW);
    sis_fusion_expire (fusion, 4 * WINDOW);
    cr_assert_eq (emitted.calls, 0);
    sis_fusion_stats_t stats;
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.emitted, 0);
    cr_assert_eq (stats.absorbed, 4);
    sis_fusion_destroy (&fusion);
}

FF_TEST (sisas_fusion, window_is_open_within_the_window_of_the_first_timestamp)
{
    s_emitted_t emitted = { 0 };
    sis_fusion_t *fusion = sis_fusion_new (4, 100, WINDOW, SIS_FUSION_MAX, s_on_emit, &emitted);
    uint64_t anchor = 10 * WINDOW;
    ff_signal_t first = s_signal ("first", "t", "s", 0.2, anchor);
    ff_signal_t last_in = s_signal ("in", "t", "s", 0.9, anchor + WINDOW - 1);
    ff_signal_t out = s_signal ("out", "t", "s", 0.3, anchor + WINDOW);
    s_offer (fusion, &first, 0, 0);
    cr_assert (s_offer (fusion, &last_in, 0, 1), "anchor + window - 1 µs is inside");
    //  anchor + window is outside: it closes the group (which rose: one
    //  FUSED, early) and opens the next.
    cr_assert_not (s_offer (fusion, &out, 0, 2));
    cr_assert_eq (emitted.calls, 1);
    cr_assert_str_eq (emitted.first_id, "first");
    cr_assert (emitted.last.early);
    //  Before the anchor: inside up to window - 1 µs earlier (arrival
    //  order is not event order), outside at a whole window earlier.
    uint64_t out_anchor = anchor + WINDOW;
    ff_signal_t before = s_signal ("before", "t", "s", 0.1, out_anchor - WINDOW + 1);
    cr_assert (s_offer (fusion, &before, 0, 3), "window - 1 µs before the anchor is inside");
    ff_signal_t early = s_signal ("early", "t", "s", 0.1, out_anchor - WINDOW);
    cr_assert_not (s_offer (fusion, &early, 0, 3));
    sis_fusion_stats_t stats;
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.opened, 3);
    cr_assert_eq (stats.open_groups, 1);
    //  The window also ends on SISAS's clock: first arrival + window.
    ff_signal_t late = s_signal ("late", "t", "s", 0.9, out_anchor - WINDOW + 4);
    cr_assert_not (s_offer (fusion, &late, 0, 3 + WINDOW), "the group's window has passed");
    sis_fusion_destroy (&fusion);
}

FF_TEST (sisas_fusion, anchoring_is_not_transitive)
{
    s_emitted_t emitted = { 0 };
    sis_fusion_t *fusion = sis_fusion_new (4, 100, WINDOW, SIS_FUSION_MAX, s_on_emit, &emitted);
    ff_signal_t a = s_signal ("a", "t", "s", 0.5, 0);
    ff_signal_t b = s_signal ("b", "t", "s", 0.6, 900 * MS);
    ff_signal_t c = s_signal ("c", "t", "s", 0.7, 1500 * MS);
    cr_assert_not (s_offer (fusion, &a, 0, 0));
    cr_assert (s_offer (fusion, &b, 0, 0), "900 ms after a: in a's window");
    cr_assert_not (s_offer (fusion, &c, 0, 0), "within 1 s of b but not of a: a new group");
    cr_assert_eq (emitted.calls, 1);
    cr_assert_str_eq (emitted.first_id, "a");
    cr_assert_eq (emitted.last.members, 2);
    sis_fusion_expire (fusion, WINDOW);
    cr_assert_eq (emitted.calls, 1, "c's group has only c");
    sis_fusion_destroy (&fusion);
}

FF_TEST (sisas_fusion, no_false_merges_across_subjects_or_types)
{
    sis_fusion_t *fusion = sis_fusion_new (2, 100, WINDOW, SIS_FUSION_MAX, NULL, NULL);
    //  Pairs whose type+subject bytes concatenate the same, prefixes,
    //  case: all distinct keys.
    const char *keys [][2] = {
        { "ab", "c" }, { "a", "bc" }, { "abc", "x" }, { "ab", "cx" },
        { "t", "PA01/DIM01/Q001" }, { "t", "PA01/DIM01/Q0010" }, { "t", "pa01/dim01/q001" },
        { "u", "PA01/DIM01/Q001" }, { "t.x", "PA01/DIM01/Q001" }, { "t", "PA01/DIM01/Q00" },
    };
    size_t count = sizeof keys / sizeof keys [0];
    for (size_t i = 0; i < count; i++) {
        ff_signal_t signal = s_signal ("x", keys [i][0], keys [i][1], 0.5, 0);
        cr_assert_not (s_offer (fusion, &signal, 0, 0), "%s/%s merged", keys [i][0], keys [i][1]);
    }
    //  Each again: now each joins its own group.
    for (size_t i = 0; i < count; i++) {
        ff_signal_t signal = s_signal ("y", keys [i][0], keys [i][1], 0.5, 1);
        cr_assert (s_offer (fusion, &signal, 0, 0));
    }
    //  No subject: never grouped.
    ff_signal_t bare = s_signal ("z", "t", "", 0.5, 0);
    cr_assert_not (s_offer (fusion, &bare, 0, 0));
    cr_assert_not (s_offer (fusion, &bare, 0, 0));
    sis_fusion_stats_t stats;
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.open_groups, count);
    cr_assert_eq (stats.absorbed, count);
    cr_assert_gt (stats.resizes, 0, "the table grew from 2");
    sis_fusion_destroy (&fusion);
}

FF_TEST (sisas_fusion, bounded_table_closes_the_oldest_group_early)
{
    s_emitted_t emitted = { 0 };
    sis_fusion_t *fusion = sis_fusion_new (2, 4, WINDOW, SIS_FUSION_MAX, s_on_emit, &emitted);
    for (int i = 0; i < 4; i++) {
        char subject [8];
        snprintf (subject, sizeof subject, "s%d", i);
        ff_signal_t first = s_signal (subject, "t", subject, 0.1, 0);
        s_offer (fusion, &first, 0, (uint64_t) i);
    }
    ff_signal_t riser = s_signal ("r", "t", "s0", 0.9, 1);
    cr_assert (s_offer (fusion, &riser, 0, 10));
    ff_signal_t fifth = s_signal ("s4", "t", "s4", 0.1, 0);
    cr_assert_not (s_offer (fusion, &fifth, 0, 20));
    sis_fusion_stats_t stats;
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.open_groups, 4);
    cr_assert_eq (stats.capacity, 4);
    cr_assert_eq (stats.evicted, 1);
    cr_assert_eq (emitted.calls, 1, "the evicted group had risen");
    cr_assert_str_eq (emitted.subject, "s0");
    cr_assert (emitted.last.early);
    //  s0 is gone: a new s0 starts a group.
    ff_signal_t again = s_signal ("again", "t", "s0", 0.5, 2);
    cr_assert_not (s_offer (fusion, &again, 0, 30));
    //  Lowering the bound closes the oldest down to it.
    sis_fusion_set_max_groups (fusion, 2);
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.open_groups, 2);
    cr_assert_eq (stats.evicted, 4);
    sis_fusion_close_all (fusion);
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.open_groups, 0);
    sis_fusion_destroy (&fusion);
}

FF_TEST (sisas_fusion, reserve_grows_once_up_to_the_bound)
{
    sis_fusion_t *fusion = sis_fusion_new (8, 1000, WINDOW, SIS_FUSION_MAX, NULL, NULL);
    cr_assert_eq (sis_fusion_reserve (fusion, 500), 500);
    cr_assert_eq (sis_fusion_reserve (fusion, 100), 500, "never shrinks");
    cr_assert_eq (sis_fusion_reserve (fusion, 5000), 1000, "capped at max_groups");
    sis_fusion_stats_t stats;
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.resizes, 2);
    for (int i = 0; i < 1000; i++) {
        char subject [16];
        snprintf (subject, sizeof subject, "q%d", i);
        ff_signal_t signal = s_signal (subject, "t", subject, 0.5, 0);
        cr_assert_not (s_offer (fusion, &signal, 0, 0));
    }
    sis_fusion_stats (fusion, &stats);
    cr_assert_eq (stats.resizes, 2, "no growth after the reservation");
    cr_assert_eq (stats.open_groups, 1000);
    //  Every group is still found after the moves.
    for (int i = 0; i < 1000; i++) {
        char subject [16];
        snprintf (subject, sizeof subject, "q%d", i);
        ff_signal_t signal = s_signal (subject, "t", subject, 0.5, 1);
        cr_assert (s_offer (fusion, &signal, 0, 0));
    }
    cr_assert_eq (sis_fusion_method_parse ("bogus", &(sis_fusion_method_t) { 0 }), -1);
    sis_fusion_destroy (&fusion);
}

//  Through SISAS: the first signal of a group is delivered at once, the
//  others absorbed, then one FUSED update arrives with the group.
FF_TEST (sisas_fusion, service_delivers_first_then_one_fused_update)
{
    s_bus_t bus;
    s_bus_start (&bus, "contract.", "--fusion-window-ms", "300", "--fusion-method", "corroborate",
                 NULL);
    uint64_t ts = ff_clock_wall_us ();
    s_send (bus.pub, "contract.result", "factory-1", "PA01/DIM01/Q001", 2, 0.5, ts, 0);
    s_send (bus.pub, "contract.result", "factory-2", "PA01/DIM01/Q001", 2, 0.6, ts + 10, 0);
    s_send (bus.pub, "contract.result", "factory-1", "PA01/DIM01/Q001", 2, 0.7, ts + 20, 1);
    //  Another subject: not merged.
    s_send (bus.pub, "contract.result", "factory-1", "PA01/DIM01/Q002", 2, 0.9, ts + 30, 2);
    s_delivered_t first, other, fused;
    cr_assert (s_receive_topic (bus.sub, "contract.result", &first, FF_TEST_TIMEOUT_MS));
    cr_assert_eq (first.error, FF_SIGNAL_OK);
    cr_assert_str_eq (first.signal.id, "factory-1:0");
    cr_assert_float_eq (first.signal.confidence, 0.5, 1e-12);
    cr_assert (s_receive_topic (bus.sub, "contract.result", &other, FF_TEST_TIMEOUT_MS));
    cr_assert_str_eq (other.signal.subject, "PA01/DIM01/Q002", "absorbed signals are not delivered");
    cr_assert (s_receive_topic (bus.sub, "contract.result", &fused, FF_TEST_TIMEOUT_MS));
    cr_assert_eq (fused.error, FF_SIGNAL_OK, "a FUSED update is a schema-v1 signal");
    cr_assert_str_eq (fused.signal.subject, "PA01/DIM01/Q001");
    cr_assert_float_eq (fused.signal.confidence, 1.0 - 0.5 * 0.4 * 0.3, 1e-12);
    cr_assert_eq (fused.signal.ts_us, ts, "stamped with the group's anchor");
    cr_assert_eq (fused.signal.phase, 2);
    cr_assert (strncmp (fused.signal.source, "sisas/", 6) == 0);
    size_t size;
    const uint8_t *body = s_body (&fused, &size);
    ff_msgpack_item_t group = s_map_get (body, size, "fused.group");
    cr_assert (s_str_is (group, "factory-1:0"));
    cr_assert_eq (s_number (s_map_get (body, size, "fused.members")), 3);
    cr_assert (s_str_is (s_map_get (body, size, "fused.method"), "corroborate"));
    ff_msgpack_item_t sources = s_map_get (body, size, "fused.sources");
    cr_assert_eq (sources.type, FF_MSGPACK_ARRAY);
    cr_assert_eq (sources.count, 2);
    cr_assert_float_eq (s_number (s_map_get (body, size, "fused.first_confidence")), 0.5, 1e-12);
    s_delivered_free (&first);
    s_delivered_free (&other);
    s_delivered_free (&fused);

    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 4);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->absorbed, 2);
    cr_assert_eq (health->stats->fused_emitted, 1);
    cr_assert_eq (health->fusion->absorbed, 2);
    cr_assert_float_eq (health->stats->redundancy_reduction,
                        2.0 / (double) health->stats->received, 1e-12);
    cr_assert_str_eq (health->fusion->method, "corroborate");
    s_health_free (&health);
    s_bus_stop (&bus);
}

//  Disabled at run time: every signal is delivered, open groups close.
FF_TEST (sisas_fusion, disabled_delivers_everything)
{
    s_bus_t bus;
    s_bus_start (&bus, "t", "--fusion-window-ms", "60000", NULL);
    uint64_t ts = ff_clock_wall_us ();
    s_send (bus.pub, "t", "a", "s", -1, 0.2, ts, 0);
    s_send (bus.pub, "t", "a", "s", -1, 0.9, ts + 1, 1);
    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 2);
    cr_assert_eq (health->stats->absorbed, 1);
    s_health_free (&health);
    ff_msg_t *reply = s_configure (bus.dealer, "fusion_enabled", "false", NULL);
    cr_assert_eq (ff_msg_type (reply), FARFAN__MESSAGE_TYPE__SISAS_CONFIGURE_REPLY);
    ff_msg_destroy (&reply);
    s_delivered_t delivered;
    cr_assert (s_receive_topic (bus.sub, "t", &delivered, FF_TEST_TIMEOUT_MS));
    cr_assert_float_eq (delivered.signal.confidence, 0.2, 1e-12);
    s_delivered_free (&delivered);
    //  Disabling closed the risen group: its FUSED update comes out.
    cr_assert (s_receive_topic (bus.sub, "t", &delivered, FF_TEST_TIMEOUT_MS));
    cr_assert_float_eq (delivered.signal.confidence, 0.9, 1e-12);
    size_t size;
    const uint8_t *body = s_body (&delivered, &size);
    cr_assert (s_map_get (body, size, "fused.early").boolean);
    s_delivered_free (&delivered);
    s_send (bus.pub, "t", "a", "s", -1, 0.3, ts + 2, 2);
    s_send (bus.pub, "t", "a", "s", -1, 0.4, ts + 3, 3);
    for (int i = 0; i < 2; i++) {
        cr_assert (s_receive_topic (bus.sub, "t", &delivered, FF_TEST_TIMEOUT_MS));
        cr_assert_eq (delivered.signal.seq, (uint64_t) i + 2);
        s_delivered_free (&delivered);
    }
    health = s_health_after (bus.dealer, bus.base + 4);
    s_assert_identity (health->stats);
    cr_assert_eq (health->stats->absorbed, 1);
    cr_assert_not (health->fusion->enabled);
    s_health_free (&health);
    s_bus_stop (&bus);
}
