/*  fac_reply_sink — where one EXECUTE's output goes: its results and its
    BatchDone, sent to the requester on the request's deferred reply.

    Unbatched (a plain EXECUTE), each result is one RESULT message as soon
    as it is known. Batched (Execute.batch_results, what the orchestrator
    asks for), the results known in one turn of the service loop go out as
    one RESULT_BATCH (ContractResults) at the start of the next turn, or
    as soon as the pending ones reach FAC_REPLY_SINK_BATCH_BYTES; BatchDone
    always follows the last of them. Either way each result is sent once,
    in the order the engine reported them.
*/
#ifndef FAC_REPLY_SINK_H_INCLUDED
#define FAC_REPLY_SINK_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "fac_engine.h"
#include "ff_rpc.h"

//  Pending batched results beyond this many bytes are sent at once.
#define FAC_REPLY_SINK_BATCH_BYTES (64 * 1024)

//  The turn-end flush of a service's batched sinks: one zloop timer (due
//  at once, so it fires at the start of the next loop turn) armed while
//  any sink holds pending results. Destroy it after every sink is gone.
typedef struct fac_reply_flusher fac_reply_flusher_t;

fac_reply_flusher_t *
    fac_reply_flusher_new (zloop_t *loop);
void
    fac_reply_flusher_destroy (fac_reply_flusher_t **self_p);

//  A sink answering on `reply` (taken). With a flusher (borrowed; it
//  outlives the sink) the results are batched, else one RESULT each. The
//  engine frees the sink through done() or abandon().
fac_sink_t *
    fac_reply_sink_new (ff_reply_t *reply, fac_reply_flusher_t *flusher);

//  The deferred reply, for answers that replace the results (ERROR,
//  NEED_DOCUMENT) when the engine did not take the batch.
ff_reply_t *
    fac_reply_sink_reply (fac_sink_t *sink);

//  Frees a sink the engine did not take (nothing pending is sent).
void
    fac_reply_sink_destroy (fac_sink_t **sink_p);

#endif
