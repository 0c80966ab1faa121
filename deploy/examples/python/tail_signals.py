#!/usr/bin/python3
"""Read the stream SISAS delivers and show it: signals, FUSED updates and
control signals (proto/sisas.md §3, proto/signal-schema.md).

    tail_signals.py [--endpoint tcp://127.0.0.1:5571] [--topic PREFIX]...
                    [--count N] [--until-fused N] [--timeout-ms MS] [--json]
                    [--curve-cert NAME.cert_secret --curve-server-cert server.cert]

Needs only Debian's python3-zmq and python3-msgpack. Exit codes: 0 done
(count reached, or interrupted), 1 bad messages seen, 2 usage, 3 silence
longer than --timeout-ms before the count was reached, or no connection
(a CURVE service refusing this client: the reason on stderr).
"""
import argparse
import json
import math
import os
import sys
import time

try:
    import msgpack
    import zmq
except ImportError as error:
    sys.exit(f"tail_signals: {error}: apt-get install python3-zmq python3-msgpack")

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
import farfan_curve

DEFAULT_ENDPOINT = os.environ.get("FARFAN_SISAS_PUBLISH", "tcp://127.0.0.1:5571")
CONTROL_TOPIC = "$sisas.control"


def decode(frames):
    """Decodes one delivered message into a dict with a `kind` of "signal",
    "fused" or "control", or raises ValueError saying what is wrong."""
    if len(frames) != 2:
        raise ValueError(f"{len(frames)} frames, expected [topic][map]")
    topic = frames[0].decode("utf-8", "replace")
    # Strings inside payload and unknown values are opaque bytes that need
    # not be UTF-8 (signal-schema.md §2.2); payload maps may have keys of
    # any type, hence strict_map_key=False.
    try:
        signal = msgpack.unpackb(frames[1], raw=False, strict_map_key=False,
                                 unicode_errors="surrogateescape")
    except Exception as error:
        raise ValueError(f"undecodable map: {error}") from error
    if not isinstance(signal, dict):
        raise ValueError("frame 2 is not a msgpack map")
    if signal.get("type") != topic:
        raise ValueError(f"topic {topic!r} differs from type {signal.get('type')!r}")
    if topic == CONTROL_TOPIC:
        kind = "control"
    elif isinstance(signal.get("fused"), dict):
        kind = "fused"
    else:
        kind = "signal"
    return {"kind": kind, "topic": topic, "signal": signal}


def describe(item):
    """One human line for a decoded message."""
    signal = item["signal"]
    confidence = signal.get("confidence", 1.0)
    if item["kind"] == "control":
        payload = signal.get("payload") or {}
        rest = " ".join(f"{key}={value}" for key, value in payload.items()
                        if key not in ("kind", "active"))
        return (f"CONTROL {payload.get('kind', '?')} active={payload.get('active')} {rest}"
                .rstrip())
    if item["kind"] == "fused":
        fused = signal["fused"]
        sources = ",".join(str(name) for name in fused.get("sources", []))
        if fused.get("more_sources"):
            sources += ",..."
        return (f"FUSED  {signal.get('type')} subject={signal.get('subject', '')} "
                f"confidence {fused.get('first_confidence', 0):.3f} -> {confidence:.3f} "
                f"({fused.get('method')}) members={fused.get('members')} "
                f"sources=[{sources}] group={fused.get('group')}"
                f"{' early' if fused.get('early') else ''}")
    phase = f" phase={signal['phase']}" if "phase" in signal else ""
    return (f"signal {signal.get('type')} subject={signal.get('subject', '')}{phase} "
            f"confidence={confidence:.3f} source={signal.get('source')} "
            f"seq={signal.get('seq')} id={signal.get('id')}")


def _jsonable(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(_jsonable(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def to_json(item):
    """One JSON line for a decoded message."""
    return json.dumps({"kind": item["kind"], "topic": item["topic"],
                       "signal": _jsonable(item["signal"])}, ensure_ascii=False)


class Tail:
    """A SUB socket on SISAS's delivery socket. `wait_ready` returns once the
    connection's handshake is done (so the subscription is on its way: what
    SISAS publishes after that reaches us); `receive` returns one decoded
    message or None on timeout. With curve (farfan_curve.Curve) the socket
    is a CURVE client; `why_not_ready()` says why no handshake succeeded."""

    def __init__(self, endpoint, topics=("",), rcvhwm=100000, curve=None):
        self.endpoint = endpoint
        self.sock = zmq.Context.instance().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
        for topic in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        farfan_curve.apply(self.sock, curve)
        self.handshake = farfan_curve.Handshake(self.sock, curve)
        self.sock.connect(endpoint)
        self.ready = False

    def wait_ready(self, timeout_ms):
        deadline = time.monotonic() + timeout_ms / 1000
        while not self.ready:
            self.ready = self.handshake.drain()
            left = deadline - time.monotonic()
            if self.ready or left <= 0:
                break
            self.handshake.monitor.poll(int(left * 1000) + 1)
        return self.ready

    def why_not_ready(self):
        """The handshakes' story, for a message (farfan_curve.Handshake)."""
        return self.handshake.explain()

    def receive(self, timeout_ms):
        """Returns a decoded message, None on timeout; raises ValueError for a
        message that does not decode (it has been consumed)."""
        if not self.handshake.poll(timeout_ms):
            return None
        return decode(self.sock.recv_multipart())

    def close(self):
        self.handshake.close()
        self.sock.close(0)


def main():
    parser = argparse.ArgumentParser(description="Show what SISAS delivers.")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT,
                        help="SISAS's delivery (XPUB) socket, default %(default)s "
                             "(environment FARFAN_SISAS_PUBLISH)")
    parser.add_argument("--topic", action="append", default=None,
                        help="type prefix to subscribe to (repeatable); default everything")
    parser.add_argument("--count", type=int, default=0,
                        help="stop after N messages (0 = no limit)")
    parser.add_argument("--until-fused", type=int, default=0, metavar="N",
                        help="stop after N FUSED updates")
    parser.add_argument("--timeout-ms", type=int, default=0,
                        help="give up (exit 3) after this long without a message (0 = wait forever)")
    parser.add_argument("--connect-timeout-ms", type=int, default=5000,
                        help="give up (exit 3) when the connection is not made in this time")
    parser.add_argument("--no-control", action="store_true",
                        help="leave out $sisas.control messages")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    farfan_curve.add_arguments(parser)
    args = parser.parse_args()
    if args.count < 0 or args.until_fused < 0 or args.timeout_ms < 0:
        parser.error("--count, --until-fused and --timeout-ms must not be negative")

    try:
        curve = farfan_curve.from_args(args)
    except farfan_curve.CurveError as error:
        print(f"tail_signals: {error}", file=sys.stderr)
        return 2
    try:
        tail = Tail(args.endpoint, args.topic or ("",), curve=curve)
    except zmq.ZMQError as error:
        print(f"tail_signals: {args.endpoint}: {error}", file=sys.stderr)
        return 2
    if not tail.wait_ready(args.connect_timeout_ms):
        print(f"tail_signals: no SISAS at {args.endpoint} after {args.connect_timeout_ms} ms"
              f"{farfan_curve.reason(tail.why_not_ready())}", file=sys.stderr)
        tail.close()
        return 3
    print(f"ready: subscribed at {args.endpoint}", file=sys.stderr, flush=True)
    seen = fused = bad = 0
    code = 0
    try:
        while True:
            try:
                item = tail.receive(args.timeout_ms if args.timeout_ms else -1)
            except ValueError as error:
                bad += 1
                print(f"tail_signals: bad message: {error}", file=sys.stderr)
                continue
            if item is None:
                print(f"tail_signals: nothing for {args.timeout_ms} ms "
                      f"({seen} messages, {fused} FUSED)", file=sys.stderr)
                code = 3
                break
            if args.no_control and item["kind"] == "control":
                continue
            seen += 1
            fused += item["kind"] == "fused"
            print(to_json(item) if args.json else describe(item), flush=True)
            if (args.count and seen >= args.count) or (args.until_fused and fused >= args.until_fused):
                break
    except KeyboardInterrupt:
        pass
    finally:
        tail.close()
    if code == 0 and bad:
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
