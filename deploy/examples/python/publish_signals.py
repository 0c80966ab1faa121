#!/usr/bin/python3
"""Publish FARFAN signals (proto/signal-schema.md, schema v1) to SISAS, and
check that SISAS fuses and delivers them (proto/sisas.md §3-§4).

It publishes --singles signals without a subject (never grouped) and
--groups bursts of --burst correlated signals each: same type, same subject,
timestamps within SISAS's fusion window, from --sources publishers with
rising confidences. SISAS delivers the first signal of each burst at once,
absorbs the others and, when the window closes, publishes a FUSED update
carrying the fused confidence. With --publish (SISAS's delivery socket) the
script subscribes before publishing, waits for every FUSED update and checks
it; without it, it only publishes.

    publish_signals.py [--ingest tcp://127.0.0.1:5570] [--publish tcp://127.0.0.1:5571]
                       [--type example.finding] [--groups 3] [--burst 4] [--sources 2]
                       [--singles 2] [--json]
                       [--curve-cert NAME.cert_secret --curve-server-cert server.cert]

Needs only Debian's python3-zmq and python3-msgpack. Exit codes: 0 every
signal sent (and, with --publish, every expected delivery and FUSED update
seen), 1 something dropped, missing or wrong, 2 usage (or a bad certificate),
3 SISAS not reachable (or refusing this client's CURVE keys: why on stderr).
"""
import argparse
import json
import os
import socket
import sys
import time

try:
    import msgpack
    import zmq
except ImportError as error:
    sys.exit(f"publish_signals: {error}: apt-get install python3-zmq python3-msgpack")

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
import farfan_curve
import tail_signals

KNOWN = {"v", "id", "type", "source", "subject", "phase", "confidence", "ts", "seq", "payload"}


class Publisher:
    """signal-schema.md §9: an XPUB connected to SISAS's ingest socket that
    waits for SISAS's subscription, never blocks, and lets a dropped signal
    consume its seq so that SISAS counts the loss. With curve
    (farfan_curve.Curve) it is a CURVE client."""

    def __init__(self, endpoint, source, sndhwm=1000, curve=None):
        if not source or len(source.encode("utf-8")) > 107:
            raise ValueError("source must be 1..107 bytes (ids <source>:<seq> fit in 128)")
        self.source = source
        self.seq = 0
        self.sent = 0
        self.dropped = 0
        self.topics = 0            # subscriptions seen: > 0 = SISAS is there
        self.sock = zmq.Context.instance().socket(zmq.XPUB)
        self.sock.setsockopt(zmq.XPUB_NODROP, 1)    # full queue -> zmq.Again
        self.sock.setsockopt(zmq.IMMEDIATE, 1)      # no queue without SISAS
        self.sock.setsockopt(zmq.SNDHWM, sndhwm)
        self.sock.setsockopt(zmq.LINGER, 2000)      # let queued signals leave at close
        farfan_curve.apply(self.sock, curve)
        self.handshake = farfan_curve.Handshake(self.sock, curve)
        self.sock.connect(endpoint)

    def _drain(self):
        self.handshake.drain()
        # b"\x01" + prefix: SISAS subscribed; b"\x00" + prefix: it went away.
        while self.sock.poll(0, zmq.POLLIN):
            message = self.sock.recv()
            if message[:1] == b"\x01":
                self.topics += 1
            elif message[:1] == b"\x00" and self.topics > 0:
                self.topics -= 1

    def wait_connected(self, timeout_ms):
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            self._drain()
            left = deadline - time.monotonic()
            if self.topics > 0 or left <= 0:
                return self.topics > 0
            self.handshake.poll(int(left * 1000) + 1)

    def why_not_connected(self):
        """The handshakes' story, for a message (farfan_curve.Handshake)."""
        return self.handshake.explain()

    def publish(self, type_, subject=None, phase=None, confidence=None, payload=None,
                extra=None):
        """Returns the signal's id when sent, None when dropped (its seq is
        consumed either way)."""
        if not type_ or type_.startswith("$") or len(type_.encode("utf-8")) > 128:
            raise ValueError("type must be 1..128 bytes and not start with '$'")
        seq = self.seq
        self.seq += 1
        signal_id = f"{self.source}:{seq}"
        signal = {"v": 1, "id": signal_id, "type": type_, "source": self.source}
        if subject:
            signal["subject"] = subject
        if phase is not None:
            signal["phase"] = f"P{phase:02d}"              # 0..9
        if confidence is not None:
            signal["confidence"] = float(confidence)       # 0.0..1.0
        signal["ts"] = time.time_ns() // 1000              # µs since the epoch
        signal["seq"] = seq
        if payload is not None:
            signal["payload"] = payload
        for key, value in (extra or {}).items():           # unknown keys, last
            if key in KNOWN:
                raise ValueError(f"{key} is a known key")
            signal[key] = value
        self._drain()
        if self.topics == 0:
            self.dropped += 1
            return None
        body = msgpack.packb(signal, use_bin_type=True)    # str stays str
        try:
            self.sock.send_multipart([type_.encode("utf-8"), body], zmq.NOBLOCK)
        except zmq.Again:                                  # queue full
            self.dropped += 1
            return None
        self.sent += 1
        return signal_id

    def close(self):
        self.handshake.close()
        self.sock.close()


def fused_confidence(method, confidences):
    """sisas.md §4: max, or corroborate = 1 - prod(1 - c) over every member."""
    if method == "max":
        return max(confidences)
    product = 1.0
    for confidence in confidences:
        product *= 1.0 - confidence
    return 1.0 - product


def burst_confidences(count):
    """Rising from 0.40 to 0.90: the fused value always beats the first's, so
    SISAS emits a FUSED update whatever its method."""
    if count == 1:
        return [0.4]
    return [round(0.4 + 0.5 * i / (count - 1), 4) for i in range(count)]


def main():
    host = socket.gethostname()
    parser = argparse.ArgumentParser(description="Publish signals that SISAS fuses.")
    parser.add_argument("--ingest", default=os.environ.get("FARFAN_SISAS_INGEST",
                                                           "tcp://127.0.0.1:5570"),
                        help="SISAS's ingest socket, default %(default)s "
                             "(environment FARFAN_SISAS_INGEST)")
    parser.add_argument("--publish", default=os.environ.get("FARFAN_SISAS_PUBLISH"),
                        help="SISAS's delivery socket: subscribe and check the FUSED "
                             "updates (environment FARFAN_SISAS_PUBLISH; default: do not check)")
    parser.add_argument("--source", default=f"py-example-{host}-{os.getpid()}",
                        help="source name prefix, one per publishing instance "
                             "(each publisher adds /1, /2...), default %(default)s")
    parser.add_argument("--type", default="example.finding",
                        help="signal type (topic), default %(default)s")
    parser.add_argument("--subject-prefix", default=f"EX/{os.getpid()}",
                        help="subjects are PREFIX/Q001, PREFIX/Q002..., default %(default)s")
    parser.add_argument("--phase", type=int, choices=range(10), default=None,
                        help="phase 0..9 to stamp on the signals")
    parser.add_argument("--groups", type=int, default=3, help="bursts (distinct subjects)")
    parser.add_argument("--burst", type=int, default=4, help="signals per burst, >= 2")
    parser.add_argument("--sources", type=int, default=2,
                        help="publishers (sources) sharing each burst, 1..8")
    parser.add_argument("--singles", type=int, default=2,
                        help="signals without a subject (never fused)")
    parser.add_argument("--connect-timeout-ms", type=int, default=5000)
    parser.add_argument("--fused-timeout-ms", type=int, default=10000,
                        help="how long to wait for the FUSED updates after publishing "
                             "(SISAS emits them when the fusion window closes)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    farfan_curve.add_arguments(parser)
    args = parser.parse_args()
    if args.groups < 1 or args.burst < 2 or not 1 <= args.sources <= 8 or args.singles < 0:
        parser.error("need --groups >= 1, --burst >= 2, --sources 1..8, --singles >= 0")
    if args.type.startswith("$"):
        parser.error("--type must not start with '$' (reserved for SISAS)")

    try:
        curve = farfan_curve.from_args(args)
    except farfan_curve.CurveError as error:
        print(f"publish_signals: {error}", file=sys.stderr)
        return 2

    log = sys.stderr if args.json else sys.stdout
    tail = None
    publishers = []
    try:
        if args.publish:
            # Subscribe first: SISAS's delivery socket is a plain PUB for us,
            # it drops what it publishes before our subscription arrives.
            tail = tail_signals.Tail(args.publish, (args.type,), curve=curve)
            if not tail.wait_ready(args.connect_timeout_ms):
                print(f"publish_signals: no SISAS delivery socket at {args.publish} after "
                      f"{args.connect_timeout_ms} ms{farfan_curve.reason(tail.why_not_ready())}",
                      file=sys.stderr)
                return 3
        publishers = [Publisher(args.ingest, f"{args.source}/{i + 1}", curve=curve)
                      for i in range(args.sources)]
        for publisher in publishers:
            if not publisher.wait_connected(args.connect_timeout_ms):
                print(f"publish_signals: SISAS is not subscribed at {args.ingest} "
                      f"after {args.connect_timeout_ms} ms"
                      f"{farfan_curve.reason(publisher.why_not_connected())}",
                      file=sys.stderr)
                return 3
        return run(args, publishers, tail, log)
    except ValueError as error:
        print(f"publish_signals: {error}", file=sys.stderr)
        return 2
    except zmq.ZMQError as error:
        print(f"publish_signals: {error}", file=sys.stderr)
        return 2
    finally:
        for publisher in publishers:
            publisher.close()
        if tail:
            tail.close()


def run(args, publishers, tail, log):
    confidences = burst_confidences(args.burst)
    groups = []
    expected_delivered = {}          # id -> what it is
    # The anchors first, from the first publisher: the first signal of a
    # group to *arrive* anchors it, and two sockets give no order between
    # them. With a tail we wait until SISAS delivered them.
    for g in range(args.groups):
        subject = f"{args.subject_prefix}/Q{g + 1:03d}"
        anchor = publishers[0].publish(args.type, subject=subject, phase=args.phase,
                                       confidence=confidences[0],
                                       payload={"group": g, "member": 0},
                                       extra={"example": "publish_signals.py"})
        groups.append({"subject": subject, "anchor": anchor, "members": [anchor],
                       "confidences": [confidences[0]],
                       "sources": [publishers[0].source]})
        if anchor:
            expected_delivered[anchor] = f"anchor of {subject}"
    for s in range(args.singles):
        signal_id = publishers[s % len(publishers)].publish(
            args.type, phase=args.phase, confidence=0.8, payload={"single": s})
        if signal_id:
            expected_delivered[signal_id] = "single (no subject)"

    seen = {}
    fused = {}
    problems = []

    def consume(timeout_ms):
        try:
            item = tail.receive(timeout_ms)
        except ValueError as error:
            problems.append(f"bad message delivered: {error}")
            return True
        if item is None:
            return False
        signal = item["signal"]
        print(tail_signals.describe(item), file=log, flush=True)
        if item["kind"] == "fused":
            fused[signal["fused"].get("group")] = signal
        else:
            seen[signal.get("id")] = signal
        return True

    if tail:
        deadline = time.monotonic() + args.connect_timeout_ms / 1000
        while not all(g["anchor"] in seen for g in groups if g["anchor"]):
            left = deadline - time.monotonic()
            if left <= 0 or not consume(int(left * 1000) + 1):
                problems.append("anchors not delivered in time")
                break

    for g, group in enumerate(groups):
        for m in range(1, args.burst):
            publisher = publishers[m % len(publishers)]
            signal_id = publisher.publish(args.type, subject=group["subject"], phase=args.phase,
                                          confidence=confidences[m],
                                          payload={"group": g, "member": m},
                                          extra={"example": "publish_signals.py"})
            if signal_id:
                group["members"].append(signal_id)
                group["confidences"].append(confidences[m])
                if publisher.source not in group["sources"]:
                    group["sources"].append(publisher.source)

    sent = sum(p.sent for p in publishers)
    dropped = sum(p.dropped for p in publishers)
    if dropped:
        problems.append(f"{dropped} signals dropped (SISAS went away or the queue was full)")

    if tail:
        deadline = time.monotonic() + args.fused_timeout_ms / 1000
        while not all(g["anchor"] in fused for g in groups if g["anchor"]):
            left = deadline - time.monotonic()
            if left <= 0 or not consume(int(left * 1000) + 1):
                break
        for signal_id, what in expected_delivered.items():
            if signal_id not in seen:
                problems.append(f"{signal_id} ({what}) was not delivered")
        for group in groups:
            problems.extend(check_group(group, fused.get(group["anchor"]), seen))

    summary = {
        "sent": sent, "dropped": dropped, "singles": args.singles,
        "sources": [p.source for p in publishers],
        "groups": [{"subject": g["subject"], "anchor": g["anchor"],
                    "members": len(g["members"]),
                    "fused_confidence": (fused[g["anchor"]].get("confidence")
                                         if g["anchor"] in fused else None),
                    "method": (fused[g["anchor"]]["fused"].get("method")
                               if g["anchor"] in fused else None)} for g in groups],
        "checked": tail is not None, "problems": problems,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"sent {sent}, dropped {dropped}: {args.groups} bursts of {args.burst} "
              f"from {len(publishers)} sources, {args.singles} singles")
        if tail:
            print(f"delivered {len(seen)}, FUSED updates {len(fused)} of {args.groups}")
    for problem in problems:
        print(f"publish_signals: {problem}", file=sys.stderr)
    return 1 if problems else 0


def check_group(group, update, seen):
    """What is wrong with a burst's delivery (empty list when it is right)."""
    subject = group["subject"]
    if update is None:
        return [f"no FUSED update for {subject} (group {group['anchor']})"]
    problems = []
    info = update["fused"]
    expected = fused_confidence(info.get("method"), group["confidences"])
    if abs(update.get("confidence", -1) - expected) > 1e-9:
        problems.append(f"{subject}: fused confidence {update.get('confidence')}, "
                        f"expected {expected} ({info.get('method')})")
    if info.get("members") != len(group["members"]):
        problems.append(f"{subject}: {info.get('members')} members, "
                        f"expected {len(group['members'])}")
    if update.get("subject") != subject or not str(update.get("source", "")).startswith("sisas/"):
        problems.append(f"{subject}: FUSED update has subject {update.get('subject')!r}, "
                        f"source {update.get('source')!r}")
    # The first signal's source comes first; the others in arrival order,
    # which two sockets do not fix: compare them as a set.
    names = list(info.get("sources", []))
    if (names[:1] != group["sources"][:1] or len(names) != min(len(group["sources"]), 8)
            or not set(names) <= set(group["sources"])):
        problems.append(f"{subject}: FUSED sources {info.get('sources')}, "
                        f"expected {group['sources']}")
    absorbed_seen = [m for m in group["members"][1:] if m in seen]
    if absorbed_seen:
        problems.append(f"{subject}: absorbed members delivered: {absorbed_seen}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
