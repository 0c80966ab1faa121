/*  ff_bench_zmq — raw libzmq baselines, measured in the caller's process.

    Every farfan benchmark compares itself with what plain libzmq (zmq.h, no
    CZMQ, no farfan code) does on the same machine in the same run: measure
    the baseline it needs, then record its own rows with that baseline's
    name (see ff_bench.h and README.md in this directory).

    All traffic is TCP over 127.0.0.1 on ephemeral ports; each fixture makes
    its own ZeroMQ context (1 I/O thread, the libzmq default, as in a CZMQ
    process) and its own helper threads, and tears them down when destroyed.
    Every receive the measuring thread does is bounded by
    ff_bench_timeout_ms: a run that stalls gives up with a message naming
    what it waited for, counts a failure in the table (ff_bench_fail) and
    records no rows. Helper threads wait for work until their fixture is
    destroyed (context shutdown), never longer.

    Two levels:
    - One-shot functions (ff_bench_zmq_rtt, _pipelined, _pubsub, and the
      whole standard set ff_bench_zmq_baselines) set up, measure, record
      rows and tear down.
    - Fixtures (ff_bench_zmq_path_t: a request/reply path; ff_bench_zmq_feed_t:
      a PUB/SUB feed) stay up and measure one round per call, so a
      benchmark can INTERLEAVE baseline rounds with its own rounds: both
      then see the same background load, which is what makes a ratio
      trustworthy on a shared machine (ff_bench_zmq_baselines does this
      for its own 2-hop and 2-publisher ratios).

    Request shape (the farfan control plane's, without protobuf): a DEALER
    sends 2 frames, a 40-byte envelope-like frame carrying a sequence number
    and an empty body; a ROUTER echo thread sends them back; every reply is
    checked (sequence, frame count, sizes).

    A count of 0 means the default (below) multiplied by the table's scale.
*/
#ifndef FF_BENCH_ZMQ_H_INCLUDED
#define FF_BENCH_ZMQ_H_INCLUDED

#include "ff_bench.h"

//  Row names of the standard set that ff_bench_zmq_baselines records; later
//  benchmarks use them as their `baseline` argument.
#define FF_BENCH_ZMQ_RTT        "zmq.rtt"         //  .p50 .p95 .p99 (us), .rate
#define FF_BENCH_ZMQ_PIPE       "zmq.pipe100"     //  msg/s, window 100
#define FF_BENCH_ZMQ_2HOP_RTT   "zmq.2hop.rtt"    //  .p50 .p95 .p99 (us), .rate
#define FF_BENCH_ZMQ_2HOP_PIPE  "zmq.2hop.pipe100"//  msg/s, window 100
#define FF_BENCH_ZMQ_PUBSUB     "zmq.pubsub"      //  msg/s, and .mbs (MB/s)
#define FF_BENCH_ZMQ_PUBSUB2    "zmq.pubsub2"     //  same, 2 publishers
#define FF_BENCH_ZMQ_PUBSUB2_PROXY "zmq.pubsub2.proxy" //  same through a zmq_proxy (2 hops)

//  Default counts at scale 1 (each measurement about 1-4 s on a 2-core VM).
#define FF_BENCH_ZMQ_RTT_REQUESTS    20000
#define FF_BENCH_ZMQ_PIPE_MESSAGES   200000
#define FF_BENCH_ZMQ_PUBSUB_MESSAGES 1000000
#define FF_BENCH_ZMQ_WINDOW          100          //  pipelined outstanding
#define FF_BENCH_ZMQ_SIZE            100          //  PUB/SUB message bytes

//  --------------------------------------------------------------------------
//  Request/reply path fixture

typedef struct _ff_bench_zmq_path_t ff_bench_zmq_path_t;

//  Sets up a request/reply path and checks it with 100 untimed requests
//  (which also wait out the TCP connect). hops = 1: DEALER client ->
//  ROUTER echo thread; hops = 2: DEALER client -> zmq_proxy thread (ROUTER
//  frontend, DEALER backend) -> ROUTER echo thread, and back. Returns NULL
//  on failure (reported with ff_bench_fail).
ff_bench_zmq_path_t *ff_bench_zmq_path_new (ff_bench_t *bench, int hops);

//  Tears the path down (threads joined, context terminated) and nulls
//  *self_p; does nothing if either is NULL.
void ff_bench_zmq_path_destroy (ff_bench_zmq_path_t **self_p);

//  Sends `requests` requests one at a time and adds each round trip (ns,
//  from before the send to the last reply frame) to `samples`. Returns 0,
//  or -1 on failure (reported with ff_bench_fail; the path is then unusable).
int ff_bench_zmq_path_rtt (ff_bench_zmq_path_t *self, size_t requests,
                           ff_bench_samples_t *samples);

//  Sends `messages` requests keeping up to `window` outstanding (0 = 100)
//  and stores the time from the first send to the last reply in
//  *elapsed_ns. Returns 0, or -1 on failure (reported; path unusable).
int ff_bench_zmq_path_pipelined (ff_bench_zmq_path_t *self, size_t messages,
                                 size_t window, uint64_t *elapsed_ns);

//  --------------------------------------------------------------------------
//  PUB/SUB feed fixture: SISAS's ingest topology. The SUB (subscribed to
//  everything) binds, `publishers` PUB threads connect.

typedef struct _ff_bench_zmq_feed_t ff_bench_zmq_feed_t;

//  Sets up the feed and does the slow-joiner handshake: each publisher
//  re-sends a probe every millisecond until the subscriber has seen one
//  from every publisher (so every connection is up and carries the
//  subscription). Messages are single frames of `size` bytes (0 = 100, at
//  least 2). Both HWMs are 2 x round_max + 10000 (libzmq's pipes account
//  for reads only every HWM/2 messages), so a round of up to round_max
//  messages cannot be dropped; memory is bounded by one round's messages.
//  hops = 1: publishers -> SUB; hops = 2: publishers -> a zmq_proxy thread
//  in a context of its own (XSUB and XPUB bound, a broker doing nothing
//  but forwarding: SISAS's topology without SISAS's work) -> SUB.
//  Returns NULL on failure (reported with ff_bench_fail).
ff_bench_zmq_feed_t *ff_bench_zmq_feed_new (ff_bench_t *bench,
                                            int publishers, size_t size,
                                            size_t round_max, int hops);

//  Tears the feed down and nulls *self_p; does nothing if either is NULL.
void ff_bench_zmq_feed_destroy (ff_bench_zmq_feed_t **self_p);

//  One round: a go-ahead to every publisher, which sends its share of
//  `messages` (at most round_max) then an end marker; counted at the
//  subscriber until every end marker. *elapsed_ns = go-ahead to the last end
//  marker. Returns 0, or -1 on failure or any lost message (reported; the
//  feed is then unusable).
int ff_bench_zmq_feed_round (ff_bench_zmq_feed_t *self, size_t messages,
                             uint64_t *elapsed_ns);

//  --------------------------------------------------------------------------
//  One-shot measurements. Each returns 0, or -1 on failure (nothing
//  recorded, failure counted).

//  Sequential round trips over a path of `hops`: an untimed warm-up of a
//  tenth as many requests (at least 100), then `requests` timed.
//  Rows: "<name>.p50/.p95/.p99" (us) and "<name>.rate" (req/s, requests /
//  total time), each against the same rows of `baseline` if not NULL.
int ff_bench_zmq_rtt (ff_bench_t *bench, const char *name, int hops,
                      size_t requests, const char *baseline);

//  Pipelined round trips over a path of `hops`, `window` outstanding
//  (0 = 100): an untimed warm-up of a tenth, then `messages` requests in
//  ff_bench_rounds rounds. Row: "<name>" (msg/s = completed round trips per
//  second, median round).
int ff_bench_zmq_pipelined (ff_bench_t *bench, const char *name, int hops,
                            size_t messages, size_t window,
                            const char *baseline);

//  PUB/SUB throughput with `publishers` publishers, `messages` of `size`
//  bytes (0 = 100) in ff_bench_rounds rounds, after an untimed warm-up
//  round a tenth the size of a round. Rows: "<name>" (msg/s, median round) and
//  "<name>.mbs" (MB/s of payload, MB = 10^6 bytes).
int ff_bench_zmq_pubsub (ff_bench_t *bench, const char *name,
                         int publishers, size_t messages, size_t size,
                         const char *baseline);

//  The standard set with default counts, each pair INTERLEAVED round by
//  round: FF_BENCH_ZMQ_RTT with FF_BENCH_ZMQ_2HOP_RTT (against the 1-hop
//  rows: the cost of a broker hop), FF_BENCH_ZMQ_PIPE (against
//  FF_BENCH_ZMQ_RTT.rate: the pipelining gain) with FF_BENCH_ZMQ_2HOP_PIPE
//  (against FF_BENCH_ZMQ_PIPE), FF_BENCH_ZMQ_PUBSUB with
//  FF_BENCH_ZMQ_PUBSUB2 (against 1 publisher). Returns 0, or -1 if any
//  failed (the others still run).
int ff_bench_zmq_baselines (ff_bench_t *bench);

#endif
