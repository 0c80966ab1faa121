#!/usr/bin/python3
"""Submit a plan to farfan's orchestrator, watch the run, fetch its results
and report — written from proto/PROTOCOL.md alone.

    orchestrator_client.py PLAN.txt|PLAN.pdf [--endpoint tcp://127.0.0.1:5550]
        [--phases P00-P09] [--deadline S [--strict-deadline]] [--budget N]
        [--params JSON] [--name NAME] [--format json|markdown|html] [--out FILE]
        [--results-out FILE] [--timeout MS] [--data-timeout MS] [--retries N]
        [--wait-timeout S]
        [--curve-cert NAME.cert_secret --curve-server-cert server.cert]

Every request is a Lazy Pirate exchange (PROTOCOL.md §7): a DEALER, a fresh
correlation id, a bounded wait, and on silence a new socket and the same
request again, a bounded number of times. Progress comes from WATCH
(PROGRESS messages until the final state); when the stream goes quiet the
client asks STATUS and watches again. With --curve-cert and
--curve-server-cert (or FARFAN_CURVE_CERT / FARFAN_CURVE_SERVER_CERT) every
socket is a CURVE client (PROTOCOL.md §6); a service that refuses the keys
stays silent, and the "no answer" message says what the handshake showed.

Needs Debian's python3-zmq, python3-protobuf and protobuf-compiler (the
message classes are generated from proto/*.proto at start, see farfan_pb.py).
Exit codes: 0 the run succeeded and its report was written; 1 the run failed
or was cancelled, or the service answered an error; 2 usage or setup; 3 no
answer (after the retries; also a CURVE service refusing the keys) or
--wait-timeout reached; 130 interrupted (the run goes on).
"""
import argparse
import itertools
import json
import os
import re
import socket
import sys
import time

try:
    import zmq
except ImportError as error:
    sys.exit(f"orchestrator_client: {error}: apt-get install python3-zmq")

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
import farfan_curve
import farfan_pb

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_ANSWER = 0, 1, 2, 3
FORMATS = {"json": ".json", "markdown": ".md", "html": ".html"}


class ServiceError(Exception):
    """The service answered ERROR (or a reply with a non-OK status)."""

    def __init__(self, code, message, retry_after_ms=0):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.retry_after_ms = retry_after_ms


class NoAnswer(Exception):
    """Every attempt timed out."""

    def __init__(self, message, reason=""):
        super().__init__(message + farfan_curve.reason(reason))


class Client:
    """A Lazy Pirate client of one request socket (PROTOCOL.md §7); a CURVE
    client when curve (farfan_curve.Curve) is set."""

    def __init__(self, pb, endpoint, timeout_ms=1000, attempts=3, sender_id=None, curve=None):
        self.pb = pb
        self.curve = curve
        self.handshake = None      # farfan_curve.Handshake of the current socket
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.attempts = attempts
        self.sender_id = sender_id or f"py-client-{socket.gethostname()}-{os.getpid()}"
        self.ids = itertools.count(1)
        self.context = zmq.Context.instance()
        self.sock = None
        self.stale = 0             # replies to abandoned attempts, discarded
        self._connect()

    def _connect(self):
        self.close()               # linger 0: drop what the old attempt queued
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        farfan_curve.apply(self.sock, self.curve)
        self.handshake = farfan_curve.Handshake(self.sock, self.curve)
        self.sock.connect(self.endpoint)

    def close(self):
        if self.handshake is not None:
            self.handshake.close()
            self.handshake = None
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def why_silent(self):
        """What the current socket's handshakes showed ("" when one succeeded)."""
        return self.handshake.explain() if self.handshake else ""

    def new_id(self):
        return f"{self.sender_id}-{next(self.ids)}"

    def send(self, msg_type, body, correlation_id):
        env = self.pb.envelope.Envelope(version=1, type=msg_type,
                                        correlation_id=correlation_id, sender_id=self.sender_id)
        self.sock.send_multipart([env.SerializeToString(), body.SerializeToString()])

    def receive(self, correlation_id, timeout_ms):
        """The next reply carrying correlation_id, as (Envelope, body bytes);
        None on timeout. Raises ServiceError for an ERROR reply."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.handshake.poll(max(1, int(left * 1000))):
                return None
            frames = self.sock.recv_multipart()
            if frames and not frames[0]:        # a delimiter (we send none, but accept one)
                frames = frames[1:]
            if not 1 <= len(frames) <= 2:
                continue
            try:
                env = self.pb.envelope.Envelope.FromString(frames[0])
            except Exception:
                continue
            if env.correlation_id != correlation_id:
                self.stale += 1                  # a late reply to an abandoned attempt
                continue
            body = frames[1] if len(frames) == 2 else b""
            if env.type == self.pb.envelope.ERROR or env.status.code != self.pb.envelope.OK:
                retry_after = 0
                try:
                    retry_after = self.pb.envelope.ErrorReply.FromString(body).retry_after_ms
                except Exception:
                    pass
                raise ServiceError(self.pb.envelope.ErrorCode.Name(env.status.code),
                                   env.status.message, retry_after)
            return env, body

    def request(self, msg_type, body, reply_type, reply_class, timeout_ms=None):
        """Sends a request, Lazy Pirate style; returns the decoded reply body.
        OVERLOADED / UNAVAILABLE with a retry_after_ms hint are retried after
        the hint within the same attempt budget."""
        timeout_ms = timeout_ms or self.timeout_ms
        correlation_id = self.new_id()
        for attempt in range(1, self.attempts + 1):
            self.send(msg_type, body, correlation_id)
            try:
                reply = self.receive(correlation_id, timeout_ms)
            except ServiceError as error:
                if (error.code in ("OVERLOADED", "UNAVAILABLE") and error.retry_after_ms
                        and attempt < self.attempts):
                    time.sleep(error.retry_after_ms / 1000)
                    correlation_id = self.new_id()   # answered: a new request
                    continue
                raise
            if reply is not None:
                env, data = reply
                if env.type != reply_type:
                    raise ServiceError("UNEXPECTED", f"reply type {env.type}, "
                                       f"expected {reply_type}")
                return reply_class.FromString(data)
            if attempt < self.attempts:
                print(f"orchestrator_client: {self.pb.envelope.MessageType.Name(msg_type)}: "
                      f"no answer from {self.endpoint} in {timeout_ms} ms, retrying "
                      f"({attempt}/{self.attempts})"
                      f"{farfan_curve.reason(self.why_silent())}",
                      file=sys.stderr)
                self._connect()                      # same request, same correlation id
        raise NoAnswer(f"{self.pb.envelope.MessageType.Name(msg_type)}: no answer from "
                       f"{self.endpoint} after {self.attempts} attempts of {timeout_ms} ms",
                       self.why_silent())


class Runner:
    def __init__(self, client, args, out):
        self.client = client
        self.pb = client.pb
        self.args = args
        self.out = out
        self.started = time.monotonic()
        self.last_line = None
        self.phase_states = {}

    def state_name(self, state):
        return self.pb.orchestrator.RunState.Name(state).replace("RUN_", "")

    def phase_state_name(self, state):
        return self.pb.orchestrator.PhaseState.Name(state).replace("PHASE_", "")

    def final(self, state):
        orc = self.pb.orchestrator
        return state in (orc.RUN_SUCCEEDED, orc.RUN_FAILED, orc.RUN_CANCELLED)

    def submit(self, path):
        orc = self.pb.orchestrator
        request = orc.SubmitRun(name=self.args.name or os.path.basename(path))
        if self.args.path:
            request.document_path = os.path.abspath(path)
        else:
            with open(path, "rb") as stream:
                request.document = stream.read()
        if self.args.media_type:
            request.media_type = self.args.media_type
        request.first_phase, request.last_phase = self.args.phase_range
        if self.args.deadline:
            request.deadline_s = self.args.deadline
        request.strict_deadline = self.args.strict_deadline
        if self.args.budget:
            request.worker_budget = self.args.budget
        if self.args.params:
            request.params_json = self.args.params
        if self.args.contract_set:
            request.contract_set = self.args.contract_set
        # SUBMIT is idempotent (PROTOCOL.md §3): a resend keeps our sender id
        # and the correlation id, so the orchestrator answers with the run
        # the first attempt started instead of starting another.
        reply = self.client.request(self.pb.envelope.SUBMIT, request,
                                    self.pb.envelope.SUBMITTED, orc.Submitted,
                                    timeout_ms=self.args.data_timeout)
        return reply.run_id

    def show(self, status):
        """One line per visible change, and one per phase that ends."""
        for phase in status.phases:
            state = self.phase_state_name(phase.state)
            if self.phase_states.get(phase.phase) != state and state in (
                    "SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"):
                took = ((phase.ended_at_us - phase.started_at_us) / 1e6
                        if phase.started_at_us and phase.ended_at_us else 0)
                factories = ",".join(phase.factories)
                print(f"  {phase.phase} {state:9} {phase.done}/{phase.total} "
                      f"(failed {phase.failed}, from cache {phase.from_cache}) "
                      f"{took:.2f}s{' on ' + factories if factories else ''}",
                      file=self.out, flush=True)
            self.phase_states[phase.phase] = state
        line = (f"{self.state_name(status.state)} {status.current_phase or '-'} "
                f"{status.done}/{status.total}")
        if line != self.last_line:
            self.last_line = line
            eta = f" eta {status.eta_s:.1f}s" if status.eta_s else ""
            print(f"[{time.monotonic() - self.started:7.2f}s] {line}{eta}",
                  file=self.out, flush=True)

    def watch(self, run_id):
        """Follows the run until its final state; returns its RunStatus."""
        env, orc = self.pb.envelope, self.pb.orchestrator
        wait_until = (time.monotonic() + self.args.wait_timeout
                      if self.args.wait_timeout else None)
        while True:
            # WATCH: one PROGRESS at once, then one per change; the last final.
            correlation_id = self.client.new_id()
            self.client.send(env.WATCH, orc.RunRef(run_id=run_id), correlation_id)
            first = True
            while True:
                limit = self.client.timeout_ms if first else self.args.idle_ms
                if wait_until is not None:
                    limit = min(limit, max(1, int((wait_until - time.monotonic()) * 1000)))
                reply = self.client.receive(correlation_id, limit)
                if reply is None:
                    break
                first = False
                reply_env, data = reply
                if reply_env.type != env.PROGRESS:
                    raise ServiceError("UNEXPECTED", f"reply type {reply_env.type} to WATCH")
                status = orc.RunStatus.FromString(data)
                self.show(status)
                if self.final(status.state):
                    return status
            if wait_until is not None and time.monotonic() >= wait_until:
                raise NoAnswer(f"run {run_id} did not end within {self.args.wait_timeout} s "
                               "(it goes on in the orchestrator)", self.client.why_silent())
            # Quiet: the watch may be lost (orchestrator restarted, stream
            # dropped) or the run is just waiting. STATUS says which (Lazy
            # Pirate: reconnects as needed); then watch again.
            status = self.client.request(env.STATUS, orc.RunRef(run_id=run_id),
                                         env.RUN_STATUS, orc.RunStatus)
            self.show(status)
            if self.final(status.state):
                return status

    def results(self, run_id):
        env, orc = self.pb.envelope, self.pb.orchestrator
        return self.client.request(env.RESULTS, orc.ResultsRequest(run_id=run_id),
                                   env.RUN_RESULTS, orc.RunResults,
                                   timeout_ms=self.args.data_timeout)

    def report(self, run_id, report_format):
        env, orc = self.pb.envelope, self.pb.orchestrator
        return self.client.request(env.REPORT, orc.ReportRequest(run_id=run_id,
                                                                 format=report_format),
                                   env.RUN_REPORT, orc.RunReport,
                                   timeout_ms=self.args.data_timeout)


PHASE = re.compile(r"^P0[0-9]$")


def parse_phases(text):
    """"P02" or "P02-P05" -> (first, last)."""
    parts = text.split("-")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(PHASE.match(part) for part in parts) or parts[0] > parts[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected Pnn or Pnn-Pmm (P00..P09, "
                                         "first <= last)")
    return parts[0], parts[1]


def main():
    parser = argparse.ArgumentParser(description="Run a plan through farfan's orchestrator.")
    parser.add_argument("document", help="the plan: UTF-8 text or PDF")
    parser.add_argument("--endpoint", default=os.environ.get("FARFAN_ORCHESTRATOR",
                                                             "tcp://127.0.0.1:5550"),
                        help="the orchestrator's client socket, default %(default)s "
                             "(environment FARFAN_ORCHESTRATOR)")
    parser.add_argument("--phases", type=parse_phases, default=("P00", "P09"),
                        dest="phase_range", help="Pnn or Pnn-Pmm, default P00-P09")
    parser.add_argument("--deadline", type=float, default=0,
                        help="seconds; an estimate beyond it is a warning")
    parser.add_argument("--strict-deadline", action="store_true",
                        help="fail the run instead of warning when over --deadline")
    parser.add_argument("--budget", type=int, default=0,
                        help="contracts in flight per factory (0 = the factory's cap)")
    parser.add_argument("--params", default="", help="JSON object handed to every contract")
    parser.add_argument("--name", default="", help="run name (default: the file name)")
    parser.add_argument("--media-type", default="",
                        help="text/plain or application/pdf (default: by content)")
    parser.add_argument("--contract-set", default="",
                        help="contract set name or absolute directory (default: the "
                             "orchestrator's own)")
    parser.add_argument("--path", action="store_true",
                        help="send the file's path instead of its bytes (the orchestrator "
                             "must be able to read it)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="json",
                        help="report format, default %(default)s")
    parser.add_argument("--out", default="",
                        help="report file (default farfan-report-RUN.<ext>; - = stdout)")
    parser.add_argument("--results-out", default="",
                        help="also write every committed result as JSON to this file")
    parser.add_argument("--timeout", type=int, default=1000,
                        help="ms to wait for each reply, default %(default)s")
    parser.add_argument("--data-timeout", type=int, default=30000,
                        help="ms to wait for SUBMIT (it carries the document), RESULTS and "
                             "REPORT (megabytes for a whole run), default %(default)s")
    parser.add_argument("--retries", type=int, default=3,
                        help="attempts per request, default %(default)s")
    parser.add_argument("--idle-ms", type=int, default=10000,
                        help="a WATCH stream silent this long is checked with STATUS")
    parser.add_argument("--wait-timeout", type=float, default=0,
                        help="give up waiting after S seconds (exit 3; the run goes on)")
    parser.add_argument("--proto-dir", default=None,
                        help="directory of farfan's .proto files (default ../../../proto)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    farfan_curve.add_arguments(parser)
    args = parser.parse_args()
    if args.timeout < 1 or args.data_timeout < 1 or args.retries < 1 or args.idle_ms < 1:
        parser.error("--timeout, --data-timeout, --retries and --idle-ms must be positive")
    if args.deadline < 0 or args.budget < 0 or args.wait_timeout < 0:
        parser.error("--deadline, --budget and --wait-timeout must not be negative")
    if args.params:
        try:
            if not isinstance(json.loads(args.params), dict):
                parser.error("--params must be a JSON object")
        except json.JSONDecodeError as error:
            parser.error(f"--params is not JSON: {error}")
    if not args.path and not os.path.isfile(args.document):
        parser.error(f"{args.document}: not a regular file")

    try:
        curve = farfan_curve.from_args(args)
    except farfan_curve.CurveError as error:
        print(f"orchestrator_client: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        pb = farfan_pb.load(args.proto_dir)
    except farfan_pb.SetupError as error:
        print(f"orchestrator_client: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.contract_set and "contract_set" not in pb.orchestrator.SubmitRun.DESCRIPTOR.fields_by_name:
        print("orchestrator_client: this proto/orchestrator.proto has no SubmitRun.contract_set",
              file=sys.stderr)
        return EXIT_USAGE

    out = open(os.devnull, "w") if args.quiet else sys.stdout
    if args.out == "-":
        out = sys.stderr if not args.quiet else out
    client = Client(pb, args.endpoint, args.timeout, args.retries, curve=curve)
    runner = Runner(client, args, out)
    run_id = None
    try:
        run_id = runner.submit(args.document)
        print(f"run {run_id} submitted ({args.document}, phases "
              f"{args.phase_range[0]}-{args.phase_range[1]})", file=out, flush=True)
        status = runner.watch(run_id)
        state = runner.state_name(status.state)
        for warning in status.warnings:
            print(f"warning: {warning}", file=out)
        for conflict in status.conflicts:
            print(f"conflict: {conflict.factory} {conflict.phase} {conflict.kind} "
                  f"{'resolved' if conflict.resolved else 'unresolved'}: {conflict.detail}",
                  file=out)
        if state != "SUCCEEDED":
            print(f"orchestrator_client: run {run_id} {state}: {status.error or 'no reason given'}",
                  file=sys.stderr)
            for failure in status.failures[:20]:
                print(f"  {failure}", file=sys.stderr)
            if len(status.failures) > 20:
                print(f"  ... {len(status.failures) - 20} more", file=sys.stderr)
            return EXIT_FAILED

        results = runner.results(run_id)
        counts = {}
        for result in results.results:
            name = pb.factory.ResultStatus.Name(result.status).replace("RESULT_", "")
            counts[name] = counts.get(name, 0) + 1
        print(f"results: {len(results.results)} contracts "
              f"({', '.join(f'{n} {k.lower()}' for k, n in sorted(counts.items()))})",
              file=out)
        if args.results_out:
            from google.protobuf import json_format
            with open(args.results_out, "w", encoding="utf-8") as stream:
                json.dump(json_format.MessageToDict(results, preserving_proto_field_name=True),
                          stream, ensure_ascii=False, indent=1)
            print(f"results written to {args.results_out}", file=out)

        report = runner.report(run_id, args.format)
        if args.out == "-":
            sys.stdout.buffer.write(report.content)
            sys.stdout.flush()
        else:
            target = args.out or f"farfan-report-{run_id}{FORMATS[args.format]}"
            with open(target, "wb") as stream:
                stream.write(report.content)
            print(f"report ({report.media_type}, {len(report.content)} bytes) written to "
                  f"{target}", file=out)
        took = time.monotonic() - runner.started
        print(f"run {run_id} SUCCEEDED in {took:.1f}s", file=out, flush=True)
        return EXIT_OK
    except ServiceError as error:
        print(f"orchestrator_client: {error}", file=sys.stderr)
        return EXIT_FAILED
    except NoAnswer as error:
        print(f"orchestrator_client: {error}"
              f"{f' (run {run_id})' if run_id else ''}", file=sys.stderr)
        return EXIT_NO_ANSWER
    except OSError as error:
        print(f"orchestrator_client: {error}", file=sys.stderr)
        return EXIT_USAGE if run_id is None else EXIT_FAILED
    except KeyboardInterrupt:
        if run_id:
            print(f"\ndetached: run {run_id} goes on in the orchestrator", file=sys.stderr)
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
