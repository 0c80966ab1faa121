/*  sis_control — the handlers of SISAS's control socket (ROUTER, default
    tcp port 5572; message catalog in proto/sisas.md §9, bodies in
    proto/sisas.proto).

    Requests (each answered once, by its reply type or ERROR):
      SISAS_HEALTH, SISAS_STATS, SISAS_PREDICT (phase), SISAS_ROUTE (source
      [, type]), SISAS_VEHICLES, SISAS_CONFIGURE (key = value ...), PING
      (ff_rpc), VEHICLE_REGISTER, VEHICLE_HEARTBEAT, VEHICLE_UNREGISTER.
    One-way (never answered, even when malformed: counted instead):
      VEHICLE_ACK.
    A body that does not decode is answered MALFORMED; a decoded one with
    a bad value INVALID_ARGUMENT naming the field.
*/
#ifndef SIS_CONTROL_H_INCLUDED
#define SIS_CONTROL_H_INCLUDED

#include "ff_rpc.h"

//  The route table, ending with a NULL handler; the handlers' service
//  argument is the sis_server_t.
extern const ff_rpc_route_t sis_control_routes [];

#endif
