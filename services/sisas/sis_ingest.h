/*  sis_ingest — the per-signal pipeline of SISAS (proto/sisas.md §2).

    For each message read from the ingest socket, in this order:
      1. count it received;
      2. validate it ([topic][map], schema v1): an invalid one is counted
         rejected by reason and dropped;
      3. look up its source: sequence gaps are counted as upstream loss,
         a sequence going backwards as a source restart;
      4. let load prediction watch it (run and phase signals, phase counts);
      5. storm protection: during a storm a source over its fair share
         has the signal shed (counted);
      6. fusion: a signal joining an open group is absorbed (counted);
      7. routing: when vehicles match it, it must fit under the pending
         bound (else shed, "overload") and is handed to the vehicles;
      8. it opens a fusion group (when groupable), and is published on
         the delivery socket as it came, byte for byte. Not routed: it is
         delivered now; routed: it is delivered when its routing ends.
    The ingest socket is drained up to ingest_burst messages per wake-up
    (one poll per burst, not per message; the bound keeps the control
    socket and the timers served during a flood). Nothing allocates per
    signal except what routing copies.
*/
#ifndef SIS_INGEST_H_INCLUDED
#define SIS_INGEST_H_INCLUDED

#include <czmq.h>

//  zloop reader of the ingest socket; arg is the sis_server_t.
int
    sis_ingest_readable (zloop_t *loop, zsock_t *reader, void *arg);

#endif
