/*  test_sisas_storm — event-storm detection with hysteresis and
    per-source fairness: sis_rate and sis_storm on a synthetic clock
    (exact), then a flood through a running SISAS. */
#include "test_sisas_support.c"

#include "sis_rate.h"
#include "sis_sources.h"
#include "sis_storm.h"

#define MS 1000ULL
#define SECOND 1000000ULL

FF_TEST (sisas_storm, rate_is_a_sliding_second_in_100ms_steps)
{
    sis_rate_t rate;
    uint64_t t0 = 50 * SECOND;
    sis_rate_init (&rate, t0);
    for (int i = 0; i < 1000; i++)
        sis_rate_add (&rate, t0 + (uint64_t) i * MS, 1);     // 1000/s for 1 s
    cr_assert_eq (sis_rate_get (&rate, t0 + 999 * MS), 1000);
    //  100 ms later the first slot has left the window.
    cr_assert_eq (sis_rate_get (&rate, t0 + 1000 * MS), 900);
    cr_assert_eq (sis_rate_get (&rate, t0 + 1500 * MS), 400);
    cr_assert_eq (sis_rate_get (&rate, t0 + 5 * SECOND), 0, "a long silence empties it");
    sis_rate_add (&rate, t0 + 5 * SECOND, 7);
    cr_assert_eq (sis_rate_get (&rate, t0 + 5 * SECOND), 7);
    //  A clock going backwards counts into the current slot.
    sis_rate_add (&rate, t0, 1);
    cr_assert_eq (sis_rate_get (&rate, t0 + 5 * SECOND), 8);
}

typedef struct {
    uint64_t noisy_offered, noisy_passed, quiet_offered, quiet_passed;
} s_flow_t;

//  Feeds the storm from t to t + duration: noisy at noisy_rate, quiet at
//  quiet_rate (evenly spaced), ticking every 10 ms.
static void
s_flow (sis_storm_t *storm, sis_source_t *noisy, sis_source_t *quiet, uint64_t t,
        uint64_t duration, uint64_t noisy_rate, uint64_t quiet_rate, s_flow_t *flow)
{
    uint64_t noisy_step = noisy_rate ? SECOND / noisy_rate : UINT64_MAX;
    uint64_t quiet_step = quiet_rate ? SECOND / quiet_rate : UINT64_MAX;
    uint64_t next_noisy = t, next_quiet = t, next_tick = t;
    uint64_t end = t + duration;
    while (true) {
        uint64_t now = next_noisy < next_quiet ? next_noisy : next_quiet;
        if (next_tick < now)
            now = next_tick;
        if (now >= end)
            break;
        if (now == next_tick) {
            sis_storm_tick (storm, now);
            next_tick += 10 * MS;
        }
        else
        if (now == next_noisy) {
            flow->noisy_offered++;
            flow->noisy_passed += sis_storm_admit (storm, noisy, now);
            next_noisy += noisy_step;
        }
        else {
            flow->quiet_offered++;
            flow->quiet_passed += sis_storm_admit (storm, quiet, now);
            next_quiet += quiet_step;
        }
    }
}

FF_TEST (sisas_storm, noisiest_source_is_cut_to_the_fair_level_quiet_one_untouched)
{
    uint64_t t = 100 * SECOND;
    sis_sources_t *sources = sis_sources_new (16, 60 * SECOND);
    sis_source_t *noisy = sis_sources_lookup (sources, "noisy", 5, t);
    sis_source_t *quiet = sis_sources_lookup (sources, "quiet", 5, t);
    cr_assert_neq (noisy, quiet);
    sis_storm_config_t config = { .enabled = true, .rate_limit = 1000, .exit_ratio = 0.8,
                                  .hold_us = 500 * MS, .burst_us = 100 * MS };
    sis_storm_t *storm = sis_storm_new (&config, sources, t);
    s_flow_t flow = { 0 };
    //  Calm: 500/s + 100/s, under the limit: nothing happens.
    s_flow (storm, noisy, quiet, t, 2 * SECOND, 500, 100, &flow);
    sis_storm_stats_t stats;
    sis_storm_stats (storm, t + 2 * SECOND, &stats);
    cr_assert_not (stats.active);
    cr_assert_eq (flow.noisy_passed, flow.noisy_offered);
    cr_assert_eq (stats.storms, 0);
    //  Storm: 10 000/s + 100/s for 5 s.
    memset (&flow, 0, sizeof flow);
    t += 2 * SECOND;
    s_flow (storm, noisy, quiet, t, 5 * SECOND, 10000, 100, &flow);
    sis_storm_stats (storm, t + 5 * SECOND, &stats);
    cr_assert (stats.active);
    cr_assert_eq (stats.storms, 1);
    cr_assert (sis_storm_take_change (storm), "the storm's start asks for a THROTTLE");
    cr_assert_not (sis_storm_take_change (storm));
    //  L: Σ min(r, L) = 1000 with the quiet source at 100/s -> 900/s.
    cr_assert_float_eq (stats.level, 900, 20);
    cr_assert_eq (flow.quiet_passed, flow.quiet_offered, "the quiet source loses nothing");
    //  The noisy one gets about L for 5 s (plus the first second's share
    //  before the storm began and one burst).
    cr_assert_lt (flow.noisy_passed, 900 * 5 + 1200);
    cr_assert_gt (flow.noisy_passed, 900 * 5 - 200);
    cr_assert_eq (stats.shed, flow.noisy_offered - flow.noisy_passed);
    cr_assert_eq (noisy->shed, stats.shed);
    sis_source_t *cut [4];
    size_t count = sis_storm_throttled (storm, t + 5 * SECOND, cut, 4);
    cr_assert_eq (count, 1);
    cr_assert_eq (cut [0], noisy);
    //  Hysteresis: 900/s is under the limit but above 0.8 x 1000: still a storm.
    t += 5 * SECOND;
    memset (&flow, 0, sizeof flow);
    s_flow (storm, noisy, quiet, t, 3 * SECOND, 850, 50, &flow);
    sis_storm_stats (storm, t + 3 * SECOND, &stats);
    cr_assert (stats.active, "900/s does not end a storm at limit 1000, exit ratio 0.8");
    //  700/s: below the exit line; it ends once held for 500 ms (after the
    //  window has forgotten the faster traffic).
    t += 3 * SECOND;
    memset (&flow, 0, sizeof flow);
    s_flow (storm, noisy, quiet, t, 300 * MS, 600, 100, &flow);
    sis_storm_stats (storm, t + 300 * MS, &stats);
    cr_assert (stats.active, "the window still holds the faster traffic");
    s_flow (storm, noisy, quiet, t + 300 * MS, 1700 * MS, 600, 100, &flow);
    sis_storm_stats (storm, t + 2 * SECOND, &stats);
    cr_assert_not (stats.active);
    cr_assert_eq (stats.level, 0);
    cr_assert_eq (stats.storms, 1);
    sis_storm_destroy (&storm);
    sis_sources_destroy (&sources);
}

FF_TEST (sisas_storm, disabled_counts_but_never_sheds)
{
    uint64_t t = 10 * SECOND;
    sis_sources_t *sources = sis_sources_new (4, 60 * SECOND);
    sis_source_t *noisy = sis_sources_lookup (sources, "noisy", 5, t);
    sis_source_t *quiet = sis_sources_lookup (sources, "quiet", 5, t);
    sis_storm_config_t config = { .enabled = false, .rate_limit = 100, .exit_ratio = 0.8,
                                  .hold_us = 0, .burst_us = 100 * MS };
    sis_storm_t *storm = sis_storm_new (&config, sources, t);
    s_flow_t flow = { 0 };
    s_flow (storm, noisy, quiet, t, SECOND, 5000, 10, &flow);
    cr_assert_eq (flow.noisy_passed, flow.noisy_offered);
    sis_storm_stats_t stats;
    sis_storm_stats (storm, t + SECOND - 1, &stats);
    cr_assert_not (stats.active);
    cr_assert_gt (stats.rate, 4000);
    //  Enabled at run time, the storm starts with the next signal; disabled
    //  again, it ends at once.
    config.enabled = true;
    sis_storm_configure (storm, &config, t + SECOND);
    cr_assert (sis_storm_admit (storm, noisy, t + SECOND) || true);
    sis_storm_stats (storm, t + SECOND, &stats);
    cr_assert (stats.active);
    config.enabled = false;
    sis_storm_configure (storm, &config, t + SECOND);
    sis_storm_stats (storm, t + SECOND, &stats);
    cr_assert_not (stats.active);
    sis_storm_destroy (&storm);
    sis_sources_destroy (&sources);
}

//  Through SISAS: a raw publisher floods past rate_limit while a quiet
//  one trickles. THROTTLE goes out naming the noisy source; the quiet
//  one loses nothing; every shed signal is counted; when the flood
//  stops, THROTTLE says the storm is over.
FF_TEST (sisas_storm, flood_is_shed_quiet_source_flows_and_throttle_is_published)
{
    s_bus_t bus;
    s_bus_start (&bus, "calm", "--rate-limit", "300", "--storm-hold-ms", "100",
                 "--storm-exit-ratio", "0.8", NULL);
    s_send (bus.pub, "calm", "quiet", "join", -1, 1.0, 0, 0);
    s_delivered_t delivered;
    cr_assert (s_receive_topic (bus.sub, "calm", &delivered, FF_TEST_TIMEOUT_MS));
    s_delivered_free (&delivered);
    uint64_t noisy = 0, quiet = 1;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 150; i++) {
            char subject [24];
            snprintf (subject, sizeof subject, "n%" PRIu64, noisy);
            s_send (bus.pub, "noise", "noisy", subject, -1, 0.5, 0, noisy++);
        }
        char subject [24];
        snprintf (subject, sizeof subject, "q%" PRIu64, quiet);
        s_send (bus.pub, "calm", "quiet", subject, -1, 0.5, 0, quiet++);
    }
    //  Read the stream: every calm signal (in order, none missing) and
    //  the THROTTLE that says a storm is on.
    uint64_t calm = 0;
    double level = -1;
    int64_t deadline = zclock_mono () + FF_TEST_TIMEOUT_MS;
    while ((calm < 20 || level < 0) && s_receive (bus.sub, &delivered, 500)
       &&  zclock_mono () < deadline) {
        size_t size;
        const uint8_t *body = s_body (&delivered, &size);
        if (strcmp (delivered.topic, "calm") == 0) {
            cr_assert_str_eq (delivered.signal.source, "quiet");
            cr_assert_eq (delivered.signal.seq, calm + 1, "in order, none missing: got %"
                          PRIu64 " for %" PRIu64, delivered.signal.seq, calm + 1);
            calm++;
        }
        else
        if (strcmp (delivered.topic, "$sisas.control") == 0 && level < 0
        &&  s_map_get (body, size, "payload.active").boolean) {
            cr_assert_eq (delivered.error, FF_SIGNAL_ERR_VALUE,
                          "control signals use the reserved type");
            cr_assert (s_str_is (s_map_get (body, size, "payload.kind"), "THROTTLE"));
            level = s_number (s_map_get (body, size, "payload.level"));
            cr_assert_gt (level, 0);
            cr_assert_leq (level, 300);
            cr_assert_float_eq (s_number (s_map_get (body, size, "payload.rate_limit")), 300, 1e-9);
            cr_assert_float_eq (s_number (s_map_get (body, size, "payload.targets.noisy")), level,
                                1e-9);
            ff_msgpack_item_t source = s_map_get (body, size, "source");
            cr_assert (source.size > 6 && memcmp (source.data, "sisas/", 6) == 0);
        }
        s_delivered_free (&delivered);
    }
    cr_assert_eq (calm, 20, "the quiet source lost nothing");
    cr_assert_geq (level, 0, "no THROTTLE during the flood");

    Farfan__SisasHealth *health = s_health_after (bus.dealer, bus.base + 1 + 3000 + 20);
    cr_assert (health->storm->active);
    cr_assert_str_eq (health->state, "degraded");
    cr_assert_str_eq (health->reasons [0], "storm");
    cr_assert_eq (health->storm->storms, 1);
    s_assert_identity (health->stats);
    uint64_t shed = s_count (health->stats->shed_by_reason, health->stats->n_shed_by_reason, "storm");
    cr_assert_gt (shed, 2000, "most of the flood is shed");
    cr_assert_eq (shed, health->storm->shed);
    cr_assert_eq (health->stats->shed, shed);
    cr_assert_str_eq (health->storm->noisiest [0]->source, "noisy");
    cr_assert_eq (health->storm->noisiest [0]->shed, shed, "all of it from the noisy source");
    s_health_free (&health);

    //  Quiet again: the storm ends (window + hold) and says so.
    cr_assert (s_receive_control (bus.sub, "THROTTLE", false, &delivered, FF_TEST_TIMEOUT_MS),
               "no end-of-storm THROTTLE");
    size_t size;
    const uint8_t *body = s_body (&delivered, &size);
    cr_assert_float_eq (s_number (s_map_get (body, size, "payload.level")), 0, 1e-12);
    s_delivered_free (&delivered);
    health = s_health (bus.dealer);
    cr_assert_not (health->storm->active);
    cr_assert_str_eq (health->state, "healthy");
    s_assert_identity (health->stats);
    s_health_free (&health);
    s_bus_stop (&bus);
}
