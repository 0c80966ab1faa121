"""CURVE for the example clients: load farfan's certificates and make a
ZeroMQ socket a CURVE client of a secured service (proto/PROTOCOL.md §6,
"Transport security (CURVE)").

A CURVE client needs its own key pair (`farfanctl keys generate DIR NAME`
writes DIR/NAME.cert_secret, both keys) and the server's public key (the
deployment's server.cert); its public NAME.cert must be in the service's
allowed directory. The files are CZMQ zcert text (ZPL): Z85 keys on the
`public-key` / `secret-key` lines under `curve`, read here with Debian's
python3-zmq (`zmq.auth.load_certificate`) and checked.

    import farfan_curve
    farfan_curve.add_arguments(parser)          # --curve-cert, --curve-server-cert
    curve = farfan_curve.from_args(args)        # None: no CURVE; raises CurveError
    sock = ctx.socket(zmq.DEALER)
    farfan_curve.apply(sock, curve)             # before connect
    handshake = farfan_curve.Handshake(sock)    # before connect, to explain a refusal
    sock.connect(endpoint)
    ...
    handshake.explain()                         # why nothing answers, or ""

A refused client gets no error message from the service, only silence
(PROTOCOL.md §6); what libzmq saw of the handshake (`Handshake`) says
which of the three usual mistakes it was.

Environment: FARFAN_CURVE_CERT (own NAME.cert_secret),
FARFAN_CURVE_SERVER_CERT (the server's public NAME.cert).
"""
import os
import time

import zmq
import zmq.auth
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

ENV_CERT = "FARFAN_CURVE_CERT"
ENV_SERVER_CERT = "FARFAN_CURVE_SERVER_CERT"
CERT_MAX_BYTES = 8192        # a certificate is a few hundred bytes of text

HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


class CurveError(Exception):
    """A certificate file is missing or malformed, or the options are
    incomplete; the message names the option and the path."""


class Curve:
    """A client's key pair and the server's public key, Z85 (40 bytes each)."""

    def __init__(self, public_key, secret_key, server_key, cert_path, server_cert_path):
        self.public_key = public_key
        self.secret_key = secret_key
        self.server_key = server_key
        self.cert_path = cert_path
        self.server_cert_path = server_cert_path

    def apply(self, sock):
        """Makes sock a CURVE client; call before connect."""
        sock.curve_secretkey = self.secret_key
        sock.curve_publickey = self.public_key
        sock.curve_serverkey = self.server_key   # setting it makes the socket a client


def _key(label, path, text, what):
    if len(text) != 40:
        raise CurveError(f"{label} {path}: {what} is {len(text)} characters, not 40 (Z85)")
    try:
        z85.decode(text)
    except Exception as error:   # KeyError for a character outside Z85, ValueError, ...
        raise CurveError(f"{label} {path}: {what} is not valid Z85") from error
    return text


def load_certificate(path, label, need_secret):
    """(public, secret or None) Z85 keys of a zcert file; raises CurveError.
    With need_secret the file must hold the secret key (NAME.cert_secret)
    and the public key must be the secret key's."""
    try:
        if not os.path.isfile(path):
            reason = "not a regular file" if os.path.exists(path) else "no such file"
            raise CurveError(f"{label} {path}: {reason}")
        if os.path.getsize(path) > CERT_MAX_BYTES:
            raise CurveError(f"{label} {path}: not a CURVE certificate "
                             f"(over {CERT_MAX_BYTES} bytes)")
        public_key, secret_key = zmq.auth.load_certificate(path)
    except ValueError as error:  # no public-key line
        raise CurveError(f"{label} {path}: not a CURVE certificate (no curve public-key; "
                         f"expected the zcert text `farfanctl keys generate` writes)") from error
    except OSError as error:
        raise CurveError(f"{label} {path}: {error.strerror or error}") from error
    public_key = _key(label, path, public_key, "the public key")
    if secret_key is not None:
        secret_key = _key(label, path, secret_key, "the secret key")
    if need_secret:
        if secret_key is None:
            raise CurveError(f"{label} {path}: no secret key in this certificate (give the "
                             "NAME.cert_secret file, not the public NAME.cert)")
        if zmq.curve_public(secret_key) != public_key:
            raise CurveError(f"{label} {path}: the public key is not the secret key's "
                             "(an edited or mixed-up certificate)")
    return public_key, secret_key


def load(cert, server_cert):
    """A Curve from the two files, None when neither is given; raises
    CurveError when one is missing, unreadable or malformed."""
    if not cert and not server_cert:
        return None
    if not cert or not server_cert:
        given, other = (("--curve-cert", "--curve-server-cert") if cert
                        else ("--curve-server-cert", "--curve-cert"))
        raise CurveError(f"{given} is set but {other} is not: a CURVE client needs both its "
                         f"own certificate ({ENV_CERT}) and the server's public certificate "
                         f"({ENV_SERVER_CERT})")
    if not zmq.has("curve"):
        raise CurveError(f"this libzmq ({zmq.zmq_version()}) was built without CURVE")
    public_key, secret_key = load_certificate(cert, "--curve-cert", True)
    server_key, _ = load_certificate(server_cert, "--curve-server-cert", False)
    return Curve(public_key, secret_key, server_key, cert, server_cert)


def add_arguments(parser):
    """--curve-cert and --curve-server-cert, defaulting to the environment."""
    parser.add_argument("--curve-cert", default=os.environ.get(ENV_CERT, ""), metavar="FILE",
                        help="own CURVE certificate, the secret NAME.cert_secret "
                             f"(environment {ENV_CERT}); with --curve-server-cert: connect "
                             "as a CURVE client")
    parser.add_argument("--curve-server-cert", default=os.environ.get(ENV_SERVER_CERT, ""),
                        metavar="FILE",
                        help="the server's public CURVE certificate, NAME.cert "
                             f"(environment {ENV_SERVER_CERT})")


def from_args(args):
    """load() from the options add_arguments() added."""
    return load(args.curve_cert, args.curve_server_cert)


def apply(sock, curve):
    """Makes sock a CURVE client when curve is set; before connect."""
    if curve is not None:
        curve.apply(sock)


def reason(text):
    """": text" for a message, "" when text is empty."""
    return f": {text}" if text else ""


class Handshake:
    """Watches a socket's handshakes (a libzmq socket monitor, created before
    connect): whether one succeeded, and how they failed. Only handshake
    events are monitored and `drain` empties the queue: call it while
    waiting, or wait with `poll`."""

    # Most telling first: a ZAP refusal, a mechanism mismatch, then a
    # connection the server closed mid-handshake (libzmq's "no detail":
    # a wrong server key, or a server that dropped a NULL client before it
    # read the mismatch — a race, hence the order).
    _RANK = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: 0, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: 1,
             zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: 2}

    def __init__(self, sock, curve=None):
        self.curve = curve
        self.succeeded = False
        self.failures = 0
        self.failure = None          # (event, value): the most telling failure seen
        self.sock = sock
        self.monitor = sock.get_monitor_socket(HANDSHAKE_EVENTS)

    def drain(self):
        """Reads every queued event; returns True once a handshake succeeded."""
        while self.monitor is not None and self.monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(self.monitor)
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.succeeded = True
                self.failure = None  # the connection works now
            else:
                self.failures += 1
                rank = self._RANK.get(event["event"], 3)
                if self.failure is None or rank <= self._RANK.get(self.failure[0], 3):
                    self.failure = (event["event"], event["value"])
        return self.succeeded

    def poll(self, timeout_ms):
        """Waits until the socket has a message (True) or timeout_ms passed
        (False; negative = no limit), reading handshake events meanwhile:
        libzmq blocks a socket whose monitor queue is full."""
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.monitor, zmq.POLLIN)
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        while True:
            self.drain()
            left = None if deadline is None else int((deadline - time.monotonic()) * 1000)
            if left is not None and left < 0:
                left = 0
            ready = dict(poller.poll(left))
            if self.sock in ready:
                return True
            if self.monitor not in ready and left is not None:
                return False       # the poll timed out

    def explain(self):
        """Why the server may be silent, from the handshakes seen ("" when
        none failed and one succeeded)."""
        self.drain()
        curve = self.curve
        if self.failure is None:
            return ("" if self.succeeded
                    else "no connection was made (is the service running there?)")
        event, value = self.failure
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return (f"the service refused this client's certificate (ZAP status {value}): "
                    + (f"the public half of {curve.cert_path} (its NAME.cert) is not in the "
                       "service's curve_allowed_dir" if curve
                       else "it requires an allowed CURVE key"))
        if (event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
            if curve:
                return "the service does not use CURVE (drop --curve-cert / --curve-server-cert)"
            return ("the service requires CURVE: give --curve-cert NAME.cert_secret and "
                    f"--curve-server-cert server.cert ({ENV_CERT} / {ENV_SERVER_CERT})")
        if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            if curve:
                return (f"the CURVE handshake failed: {curve.server_cert_path} is probably not "
                        "the service's server certificate")
            return ("the service closed the connection during the handshake: it probably "
                    "requires CURVE (give --curve-cert NAME.cert_secret and --curve-server-cert "
                    f"server.cert, or {ENV_CERT} / {ENV_SERVER_CERT})")
        return f"the handshake failed (libzmq event {int(event)}, value {int(value)})"

    def close(self):
        if self.monitor is not None:
            try:
                self.sock.disable_monitor()
            except zmq.ZMQError:
                pass                 # the socket is already closed
            self.monitor.close(0)
            self.monitor = None
