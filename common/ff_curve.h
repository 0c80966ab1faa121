/*  ff_curve — CURVE security on farfan's TCP endpoints (DESIGN.md §6).

    Configuration, three paths (any may be NULL or ""; all empty = off):
      cert         this process's own certificate, SECRET file (the
                   NAME.cert_secret written by `farfanctl keys generate`).
                   Set => CURVE on every tcp:// endpoint a socket is
                   attached to through ff_curve_attach: bound endpoints are
                   CURVE servers with this certificate, connected ones CURVE
                   clients with it.
      allowed_dir  directory of the PUBLIC certificates (NAME.cert) of the
                   clients allowed in. Enforced by ZAP through CZMQ's zauth
                   (one zauth actor per process, shared by every ff_curve
                   that has a directory; the directory is re-read when it
                   changes), on ZAP domain "farfan". Required to bind.
      server_cert  PUBLIC certificate (NAME.cert) of the server(s) this
                   process connects to. Required to connect.
    ipc:// and inproc:// endpoints are left alone (NULL security): they
    never leave the host, and file permissions guard ipc.

    A peer that fails the handshake (no CURVE, wrong server key, a
    certificate not in allowed_dir) gets no connection: nothing it sends
    reaches the socket. A service counts such refusals on its sockets
    (farfan_auth_failures_total, see ff_sockmon).
*/
#ifndef FF_CURVE_H_INCLUDED
#define FF_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

//  ZAP domain of every CURVE server socket.
#define FF_CURVE_ZAP_DOMAIN "farfan"

typedef struct ff_curve ff_curve_t;

//  Loads the certificates and, when allowed_dir is set, starts (or joins)
//  the process's zauth. key_prefix names the keys in messages: "curve_"
//  for daemons (curve_cert, curve_allowed_dir, curve_server_cert), or
//  e.g. "--curve-" for farfanctl. Returns NULL with the reason in err when a file or directory
//  is missing or unreadable, the cert has no secret key, allowed_dir or
//  server_cert is given without cert, or another ff_curve in this process
//  uses a different allowed_dir. Returns NULL with err "" when nothing is
//  configured (CURVE off): check *err.
ff_curve_t *
    ff_curve_new (const char *cert, const char *allowed_dir, const char *server_cert,
                  const char *key_prefix, char *err, size_t err_size);

//  Leaves zauth (the last one out stops it).
//  Destroy it after the sockets it secured. Idempotent; nulls *self_p.
void
    ff_curve_destroy (ff_curve_t **self_p);

//  Binds (bind true) or connects sock to one endpoint (no '@'/'>' prefix),
//  with CURVE when self is not NULL and the endpoint is tcp://, with NULL
//  security otherwise. Returns 0,
//  or -1 with the reason in err, e.g. "connect tcp://h:1: CURVE needs
//  curve_server_cert" or "bind tcp://*:5550: Address already in use".
int
    ff_curve_attach (ff_curve_t *self, zsock_t *sock, const char *endpoint, bool bind,
                     char *err, size_t err_size);

//  The Z85 public key of this process's certificate. Borrowed.
const char *
    ff_curve_public_key (ff_curve_t *self);

//  The process's default client security, for tools whose commands open
//  their own sockets (farfanctl sets it from --curve-cert and
//  --curve-server-cert): ff_client uses it. Borrowed; NULL = none.
void
    ff_curve_set_client_default (ff_curve_t *curve);
ff_curve_t *
    ff_curve_client_default (void);

#endif
