/*  test_heartbeat — liveness, backoff and the peer table, with an
    injected clock (µs). */
#include <criterion/criterion.h>

#include "ff_test.h"
#include <czmq.h>
#include <stdint.h>
#include <string.h>

#include "ff_heartbeat.h"

#define T0 5000000000ull    // an arbitrary start
#define MS 1000ull

FF_TEST (heartbeat, send_due_every_interval)
{
    ff_heartbeat_t heartbeat;
    ff_heartbeat_init (&heartbeat, 1000, 3, T0);
    cr_expect_not (ff_heartbeat_send_due (&heartbeat, T0));
    cr_expect_not (ff_heartbeat_send_due (&heartbeat, T0 + 1000 * MS - 1));
    cr_expect (ff_heartbeat_send_due (&heartbeat, T0 + 1000 * MS));
    //  Anything sent counts as a heartbeat.
    ff_heartbeat_sent (&heartbeat, T0 + 1500 * MS);
    cr_expect_not (ff_heartbeat_send_due (&heartbeat, T0 + 2000 * MS));
    cr_expect (ff_heartbeat_send_due (&heartbeat, T0 + 2500 * MS));
}

FF_TEST (heartbeat, expires_after_interval_times_liveness)
{
    ff_heartbeat_t heartbeat;
    ff_heartbeat_init (&heartbeat, 1000, 3, T0);
    cr_expect_not (ff_heartbeat_expired (&heartbeat, T0));
    cr_expect_not (ff_heartbeat_expired (&heartbeat, T0 + 3000 * MS - 1));
    cr_expect (ff_heartbeat_expired (&heartbeat, T0 + 3000 * MS));
    //  Anything heard postpones expiry; sending does not.
    ff_heartbeat_heard (&heartbeat, T0 + 2000 * MS);
    ff_heartbeat_sent (&heartbeat, T0 + 4000 * MS);
    cr_expect_not (ff_heartbeat_expired (&heartbeat, T0 + 4999 * MS));
    cr_expect (ff_heartbeat_expired (&heartbeat, T0 + 5000 * MS));
    //  An older time does not move the clock back.
    ff_heartbeat_heard (&heartbeat, T0);
    cr_expect_not (ff_heartbeat_expired (&heartbeat, T0 + 4999 * MS));
}

FF_TEST (heartbeat, liveness_zero_means_one)
{
    ff_heartbeat_t heartbeat;
    ff_heartbeat_init (&heartbeat, 100, 0, T0);
    cr_expect_not (ff_heartbeat_expired (&heartbeat, T0));
    cr_expect (ff_heartbeat_expired (&heartbeat, T0 + 100 * MS));
}

FF_TEST (heartbeat, deadline_is_the_earliest_event)
{
    ff_heartbeat_t heartbeat;
    ff_heartbeat_init (&heartbeat, 1000, 3, T0);
    cr_expect_eq (ff_heartbeat_deadline_us (&heartbeat), T0 + 1000 * MS);
    //  Keep sending: the deadline becomes the expiry.
    ff_heartbeat_sent (&heartbeat, T0 + 2500 * MS);
    cr_expect_eq (ff_heartbeat_deadline_us (&heartbeat), T0 + 3000 * MS);
    //  Waking at the deadline always finds something to do.
    uint64_t deadline = ff_heartbeat_deadline_us (&heartbeat);
    cr_expect (ff_heartbeat_expired (&heartbeat, deadline)
            || ff_heartbeat_send_due (&heartbeat, deadline));
    ff_heartbeat_heard (&heartbeat, T0 + 2600 * MS);
    cr_expect_eq (ff_heartbeat_deadline_us (&heartbeat), T0 + 3500 * MS);
    cr_expect (ff_heartbeat_send_due (&heartbeat, T0 + 3500 * MS));
}

FF_TEST (heartbeat, huge_values_saturate)
{
    ff_heartbeat_t heartbeat;
    ff_heartbeat_init (&heartbeat, UINT64_MAX / 10, UINT32_MAX, T0);
    cr_expect_not (ff_heartbeat_expired (&heartbeat, UINT64_MAX - 1));
    cr_expect_not (ff_heartbeat_send_due (&heartbeat, UINT64_MAX - 1));
    cr_expect_eq (ff_heartbeat_deadline_us (&heartbeat), UINT64_MAX);
}

FF_TEST (backoff, doubles_up_to_the_cap_and_resets)
{
    ff_backoff_t backoff;
    ff_backoff_init (&backoff, 100, 1000);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 100);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 200);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 400);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 800);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 1000);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 1000);
    ff_backoff_reset (&backoff);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 100);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 200);
}

FF_TEST (backoff, cap_below_initial)
{
    ff_backoff_t backoff;
    ff_backoff_init (&backoff, 500, 300);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 300);
    cr_expect_eq (ff_backoff_next_ms (&backoff), 300);
    ff_backoff_init (&backoff, UINT64_MAX / 2 + 1, UINT64_MAX);
    ff_backoff_next_ms (&backoff);
    cr_expect_eq (ff_backoff_next_ms (&backoff), UINT64_MAX);
}

//  ---------------------------------------------------------------------
//  The peer table

typedef struct {
    int calls;
    char last [64];
} s_seen_t;

static void
s_record (ff_peer_t *peer, void *arg)
{
    s_seen_t *seen = (s_seen_t *) arg;
    seen->calls++;
    snprintf (seen->last, sizeof seen->last, "%s", peer->id);
}

FF_TEST (peers, upsert_and_lookup)
{
    ff_peers_t *peers = ff_peers_new (1000, 3);
    cr_assert (peers);
    cr_expect_eq (ff_peers_size (peers), 0);
    cr_expect_null (ff_peers_lookup (peers, "factory-1"));

    zframe_t *routing = zframe_new ("\x00\x6b\x8b\x45\x67", 5);
    ff_peer_t *peer = ff_peers_upsert (peers, "factory-1", routing, T0);
    cr_assert (peer);
    int user = 7;
    peer->user = &user;
    //  The table keeps its own copies of id and routing id.
    zframe_destroy (&routing);
    char id [] = "factory-1";
    peer = ff_peers_lookup (peers, id);
    cr_assert (peer);
    cr_expect_str_eq (peer->id, "factory-1");
    cr_expect_neq ((void *) peer->id, (void *) id);
    cr_assert (peer->routing_id);
    cr_expect_eq (zframe_size ((zframe_t *) peer->routing_id), 5);
    cr_expect (memcmp (zframe_data ((zframe_t *) peer->routing_id), "\x00\x6b\x8b\x45\x67", 5) == 0);
    cr_expect_eq (peer->user, &user);
    cr_expect_eq (peer->heartbeat.heard_us, T0);
    cr_expect_eq (peer->heartbeat.interval_us, 1000 * MS);
    cr_expect_eq (peer->heartbeat.liveness, 3);

    //  Known id: same entry, heard now, new routing id.
    zframe_t *other = zframe_new ("B", 1);
    ff_peer_t *again = ff_peers_upsert (peers, "factory-1", other, T0 + 500 * MS);
    zframe_destroy (&other);
    cr_expect_eq (again, peer);
    cr_expect_eq (ff_peers_size (peers), 1);
    cr_expect_eq (again->heartbeat.heard_us, T0 + 500 * MS);
    cr_expect (zframe_streq ((zframe_t *) again->routing_id, "B"));
    cr_expect_eq (again->user, &user);

    //  A peer without routing id.
    ff_peer_t *plain = ff_peers_upsert (peers, "vehicle-9", NULL, T0);
    cr_assert (plain);
    cr_expect_null (plain->routing_id);
    cr_expect_eq (ff_peers_size (peers), 2);

    cr_expect_eq (ff_peers_remove (peers, "factory-1"), 0);
    cr_expect_eq (ff_peers_remove (peers, "factory-1"), -1);
    cr_expect_eq (ff_peers_remove (peers, "nobody"), -1);
    cr_expect_eq (ff_peers_size (peers), 1);
    ff_peers_destroy (&peers);
    cr_expect_null (peers);
    ff_peers_destroy (&peers);
}

FF_TEST (peers, expire_calls_back_then_removes)
{
    ff_peers_t *peers = ff_peers_new (100, 2);     // expiry after 200 ms
    ff_peers_upsert (peers, "a", NULL, T0);
    ff_peers_upsert (peers, "b", NULL, T0 + 50 * MS);
    ff_peers_upsert (peers, "c", NULL, T0 + 100 * MS);
    s_seen_t seen = { 0, "" };
    cr_expect_eq (ff_peers_expire (peers, T0 + 199 * MS, s_record, &seen), 0);
    cr_expect_eq (seen.calls, 0);
    cr_expect_eq (ff_peers_expire (peers, T0 + 200 * MS, s_record, &seen), 1);
    cr_expect_eq (seen.calls, 1);
    cr_expect_str_eq (seen.last, "a");
    cr_expect_null (ff_peers_lookup (peers, "a"));
    //  Traffic keeps b alive.
    ff_peers_upsert (peers, "b", NULL, T0 + 240 * MS);
    cr_expect_eq (ff_peers_expire (peers, T0 + 300 * MS, s_record, &seen), 1);
    cr_expect_str_eq (seen.last, "c");
    cr_expect_eq (ff_peers_size (peers), 1);
    cr_expect_eq (ff_peers_expire (peers, T0 + 440 * MS, NULL, NULL), 1);
    cr_expect_eq (ff_peers_size (peers), 0);
    ff_peers_destroy (&peers);
}

FF_TEST (peers, expire_many)
{
    ff_peers_t *peers = ff_peers_new (10, 1);
    char id [32];
    for (int index = 0; index < 500; index++) {
        snprintf (id, sizeof id, "peer-%d", index);
        zframe_t *routing = zframe_new (id, strlen (id));
        cr_assert (ff_peers_upsert (peers, id, routing, T0 + (index % 2) * 100 * MS));
        zframe_destroy (&routing);
    }
    s_seen_t seen = { 0, "" };
    cr_expect_eq (ff_peers_expire (peers, T0 + 50 * MS, s_record, &seen), 250);
    cr_expect_eq (seen.calls, 250);
    cr_expect_eq (ff_peers_size (peers), 250);
    cr_expect_eq (ff_peers_expire (peers, T0 + 110 * MS, s_record, &seen), 250);
    cr_expect_eq (ff_peers_size (peers), 0);
    ff_peers_destroy (&peers);
}

static void
s_count (ff_peer_t *peer, void *arg)
{
    (*(int *) arg)++;
    peer->user = arg;
}

FF_TEST (peers, foreach_and_deadline)
{
    ff_peers_t *peers = ff_peers_new (1000, 3);
    cr_expect_eq (ff_peers_deadline_us (peers), UINT64_MAX);
    ff_peers_upsert (peers, "a", NULL, T0 + 300 * MS);
    ff_peers_upsert (peers, "b", NULL, T0);
    ff_peers_upsert (peers, "c", NULL, T0 + 100 * MS);
    //  b's next heartbeat is the first thing due.
    cr_expect_eq (ff_peers_deadline_us (peers), T0 + 1000 * MS);
    ff_peer_t *b = ff_peers_lookup (peers, "b");
    ff_heartbeat_sent (&b->heartbeat, T0 + 900 * MS);
    cr_expect_eq (ff_peers_deadline_us (peers), T0 + 1100 * MS);
    int count = 0;
    ff_peers_foreach (peers, s_count, &count);
    cr_expect_eq (count, 3);
    cr_expect_eq (ff_peers_lookup (peers, "c")->user, &count);
    ff_peers_destroy (&peers);
}
