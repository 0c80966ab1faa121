/*  sis_ingest — see sis_ingest.h. */
#include "sis_ingest.h"
#include "sis_core.h"
#include "ff_clock.h"
#include "ff_log.h"
#include "ff_signal.h"

#include <errno.h>

//  A signal has exactly two frames; reading keeps one more to tell "more".
#define S_SIGNAL_FRAMES 2

//  Reads the rest of a multipart message whose first frame is parts[0]
//  (at most S_SIGNAL_FRAMES + 1 kept, the rest discarded). Returns the
//  number of frames.
static int
s_recv_rest (void *handle, zmq_msg_t *parts)
{
    int count = 1;
    int more = zmq_msg_more (&parts [0]);
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, handle, 0) < 0) {
            //  Only an interrupted or closing socket ends a message early.
            zmq_msg_close (&part);
            break;
        }
        more = zmq_msg_more (&part);
        if (count <= S_SIGNAL_FRAMES)
            parts [count] = part;
        else
            zmq_msg_close (&part);
        count++;
    }
    return count;
}

static void
s_reject (sis_server_t *self, ff_signal_error_t reason, const char *detail)
{
    sis_accounting_rejected (&self->accounting, reason);
    if (ff_log_enabled (FF_LOG_DEBUG))
        ff_log (FF_LOG_DEBUG, NULL, NULL, "signal rejected (%s): %s",
                ff_signal_error_name (reason), detail);
}

//  Steps 2-8 for one received message of count frames. Frames sent on
//  belong to libzmq: *sent says how many of the first ones were.
static void
s_handle (sis_server_t *self, zmq_msg_t *parts, int count, int *sent, ff_signal_t *signal)
{
    if (count != S_SIGNAL_FRAMES) {
        char detail [64];
        snprintf (detail, sizeof detail, "%d frames, expected [topic][signal]", count);
        s_reject (self, FF_SIGNAL_ERR_FRAMES, detail);
        return;
    }
    char detail [160] = "";
    ff_signal_error_t error = ff_signal_decode_frames (signal,
        zmq_msg_data (&parts [0]), zmq_msg_size (&parts [0]),
        zmq_msg_data (&parts [1]), zmq_msg_size (&parts [1]), detail, sizeof detail);
    if (error != FF_SIGNAL_OK) {
        s_reject (self, error, detail);
        return;
    }
    uint64_t now_us = ff_clock_mono_us ();
    sis_source_t *source = sis_sources_lookup (self->sources, signal->source,
                                               strlen (signal->source), now_us);
    bool restarted;
    uint64_t lost = sis_sources_check_seq (source, signal->seq, &restarted);
    if (lost)
        ff_counter_add (self->accounting.lost, lost);
    if (restarted)
        ff_counter_inc (self->accounting.restarts);
    source->received++;
    sis_rate_add (&self->accounting.received_rate, now_us, 1);
    sis_predict_observe (self->predict, signal, now_us);

    if (!sis_sources_admit (self->sources, source, now_us)) {
        sis_accounting_shed (&self->accounting, SIS_SHED_SOURCE_RATE);
        return;
    }
    if (!sis_storm_admit (self->storm, source, now_us)) {
        sis_accounting_shed (&self->accounting, SIS_SHED_STORM);
        return;
    }
    bool fusion = self->config.fusion_enabled;
    uint64_t hash = 0;
    if (fusion) {
        hash = sis_fusion_hash (signal);
        if (sis_fusion_absorb (self->fusion, signal, hash, source->index, now_us)) {
            sis_accounting_absorbed (&self->accounting);
            return;
        }
    }
    uint64_t candidates = sis_vehicles_candidates (self->vehicles, source, signal->source,
                                                   signal->type);
    if (candidates) {
        size_t pending = sis_vehicles_pending (self->vehicles);
        if (!sis_backpressure_admit (&self->backpressure, pending)
        ||  sis_vehicles_route (self->vehicles, candidates,
                                zmq_msg_data (&parts [0]), zmq_msg_size (&parts [0]),
                                zmq_msg_data (&parts [1]), zmq_msg_size (&parts [1]),
                                now_us) != 0) {
            sis_accounting_shed (&self->accounting, SIS_SHED_OVERLOAD);
            return;
        }
        ff_gauge_set (self->accounting.in_flight,
                      (double) sis_vehicles_pending (self->vehicles));
        //  BACKPRESSURE goes out the moment pending reaches the threshold.
        sis_server_check_backpressure (self, now_us);
    }
    if (fusion)
        sis_fusion_open (self->fusion, signal, hash, source->index, now_us);

    void *publish = zsock_resolve (self->publish);
    if (zmq_msg_send (&parts [0], publish, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
        *sent = 1;
        if (zmq_msg_send (&parts [1], publish, ZMQ_DONTWAIT) >= 0)
            *sent = 2;
        if (!candidates)
            sis_accounting_delivered (&self->accounting, now_us);
        return;
    }
    //  XPUB without NODROP does not refuse; should it ever, a signal not
    //  routed is lost here and counted (a routed one still reaches its
    //  vehicle and is accounted when its routing ends).
    if (!candidates)
        sis_accounting_shed (&self->accounting, SIS_SHED_PUBLISH);
}

int
sis_ingest_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    sis_server_t *self = (sis_server_t *) arg;
    void *handle = zsock_resolve (reader);
    //  One decoded signal at a time; static storage would not be
    //  re-entrant, the stack is fine (about 2 KB).
    ff_signal_t signal;
    int64_t burst = self->config.ingest_burst;
    for (int64_t handled = 0; handled < burst; handled++) {
        zmq_msg_t parts [S_SIGNAL_FRAMES + 1];
        zmq_msg_init (&parts [0]);
        if (zmq_msg_recv (&parts [0], handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&parts [0]);
            break;
        }
        int count = s_recv_rest (handle, parts);
        sis_accounting_received (&self->accounting);
        int kept = count <= S_SIGNAL_FRAMES ? count : S_SIGNAL_FRAMES + 1;
        int sent = 0;
        s_handle (self, parts, count, &sent, &signal);
        for (int i = sent; i < kept; i++)
            zmq_msg_close (&parts [i]);
    }
    uint64_t now_us = ff_clock_mono_us ();
    if (sis_fusion_next_close_us (self->fusion) <= now_us)
        sis_fusion_expire (self->fusion, now_us);
    if (sis_storm_take_change (self->storm))
        sis_server_publish_throttle (self, now_us);
    sis_server_check_backpressure (self, now_us);
    return 0;
}
