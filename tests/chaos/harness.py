"""Shared pieces of the chaos, soak and disk-full tests (tests/chaos/):
spawning the real daemons of a build on loopback ports of their own,
killing and restarting them, Lazy Pirate clients of the orchestrator and
of SISAS, and TAP output.

Processes are started from the main thread with PR_SET_PDEATHSIG =
SIGKILL: when the test dies (timeout, kill -9), its daemons die with it.
Every wait is bounded.

Needs Debian's /usr/bin/python3 with python3-zmq, python3-msgpack,
python3-protobuf and protoc; the message classes and the publisher come
from deploy/examples/python.
"""
import ctypes
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "deploy", "examples", "python"))

SKIP = 77


class Tap:
    """TAP version 13 on stdout: one line per check, a plan at the end."""

    def __init__(self, name):
        import threading
        self.name = name
        self.count = 0
        self.failed = 0
        self.lock = threading.Lock()     # threads note progress too: whole lines
        print("TAP version 13", flush=True)

    def ok(self, condition, description, detail=None):
        with self.lock:
            self.count += 1
            if not condition:
                self.failed += 1
            print(f"{'ok' if condition else 'not ok'} {self.count} - {description}", flush=True)
            if detail and not condition:
                for line in str(detail).splitlines()[:40]:
                    print(f"  # {line}", flush=True)
        return condition

    def note(self, text):
        with self.lock:
            for line in str(text).splitlines():
                print(f"# {line}", flush=True)

    def skip_all(self, reason):
        print(f"1..0 # SKIP {reason}", flush=True)
        sys.exit(0)

    def done(self):
        print(f"1..{self.count}", flush=True)
        return 1 if self.failed else 0


def import_modules(tap):
    """zmq, msgpack, farfan_pb's messages, or skip the whole test."""
    try:
        import zmq  # noqa: F401
        import msgpack  # noqa: F401
        import farfan_pb
    except ImportError as error:
        tap.skip_all(f"{error}: needs python3-zmq and python3-msgpack")
    try:
        return farfan_pb.load()
    except farfan_pb.SetupError as error:
        tap.skip_all(str(error))


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgrp()            # a terminal's ^C goes to the driver only; it stops them


def free_ports(count, rng=None):
    """count distinct loopback TCP ports nothing listens on, below Linux's
    ephemeral range (32768+), so that a restarted daemon can bind its port
    again without another test's outgoing connection holding it."""
    rng = rng or random.Random()
    ports = []
    while len(ports) < count:
        port = rng.randrange(20000, 32000)
        if port in ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


class Daemon:
    """One service of the build, restartable under the same name, ports
    and instance id; its output appended to LOGDIR/NAME.log."""

    def __init__(self, build, name, program, args, logdir, env=None):
        self.path = os.path.join(build, "services", program)
        self.name = name
        self.args = args
        self.logdir = logdir
        self.env = dict(os.environ, **(env or {}))
        #  Leaks inside libzmq's own shutdown are libzmq's (lsan-libzmq.supp).
        lsan = self.env.get("LSAN_OPTIONS", "")
        self.env["LSAN_OPTIONS"] = ((lsan + ":") if lsan else "") + "suppressions=" + \
            os.path.join(ROOT, "tests", "chaos", "lsan-libzmq.supp")
        self.proc = None
        self.starts = 0
        self.kills = 0
        self.exits = []          # (how, code) of every stopped instance
        self.endpoint = None     # where it answers PING (set by Cluster)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        log = open(os.path.join(self.logdir, f"{self.name}.log"), "ab")
        log.write(f"==== start {self.starts} at {time.time():.3f}\n".encode())
        log.flush()
        self.proc = subprocess.Popen([self.path] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=_die_with_parent, close_fds=True)
        log.close()
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9 and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(10)
        self.kills += 1
        self.exits.append(("killed", code))

    def stop(self, timeout_s=30):
        """SIGTERM, then SIGKILL after timeout_s. Returns the exit code
        (None when it had to be killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            code = None
        self.exits.append(("stopped", code))
        return code

    def log_tail(self, lines=30):
        try:
            with open(os.path.join(self.logdir, f"{self.name}.log"), "rb") as stream:
                data = stream.read().decode("utf-8", "replace").splitlines()
            return "\n".join(data[-lines:])
        except OSError:
            return ""

    def rss_kb(self):
        """VmRSS of the running process, in kB (None when gone)."""
        if not self.alive():
            return None
        try:
            with open(f"/proc/{self.proc.pid}/status") as stream:
                for line in stream:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None


class Cluster:
    """SISAS, an orchestrator and N factories of one build, on ports of
    their own (layout as deploy/run-plan.sh, HTTP off unless asked)."""

    def __init__(self, build, workdir, factories=3, tag=None, data_dir=None, http=False,
                 orchestrator_env=None, extra_orchestrator_args=()):
        self.build = build
        self.workdir = workdir
        self.tag = tag or f"chaos{os.getpid()}"
        self.logdir = os.path.join(workdir, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.data_dir = data_dir or os.path.join(workdir, "data")
        count = 6 + factories + (2 if http else 0)
        ports = free_ports(count)
        host = "tcp://127.0.0.1"
        self.orc_client = f"{host}:{ports[0]}"
        self.orc_worker = f"{host}:{ports[1]}"
        self.sis_ingest = f"{host}:{ports[2]}"
        self.sis_publish = f"{host}:{ports[3]}"
        self.sis_control = f"{host}:{ports[4]}"
        self.http_ports = {}
        contracts = os.path.join(ROOT, "contracts", "default")

        def common(name, http_index):
            port = 0
            if http and http_index is not None:
                port = ports[6 + factories + http_index]
                self.http_ports[name] = port
            return ["--instance-id", f"{self.tag}-{name}", "--http-address", "127.0.0.1",
                    "--http-port", str(port)]

        self.sisas = Daemon(build, "sisas", "farfan-sisas",
                            common("sisas", 0) + [
                                "--ingest-endpoint", "@" + self.sis_ingest,
                                "--publish-endpoint", "@" + self.sis_publish,
                                "--control-endpoint", "@" + self.sis_control],
                            self.logdir)
        self.orchestrator = Daemon(build, "orchestrator", "farfan-orchestrator",
                                   common("orchestrator", 1) + [
                                       "--client-endpoint", "@" + self.orc_client,
                                       "--worker-endpoint", "@" + self.orc_worker,
                                       "--sisas-endpoint", ">" + self.sis_ingest,
                                       "--sisas-control-endpoint", ">" + self.sis_publish,
                                       "--contracts-dir", contracts,
                                       "--data-dir", self.data_dir] + list(extra_orchestrator_args),
                                   self.logdir, env=orchestrator_env)
        self.factories = []
        for i in range(factories):
            name = f"factory-{i + 1}"
            self.factories.append(Daemon(
                build, name, "farfan-factory",
                common(name, None) + [
                    "--endpoint", f"@{host}:{ports[6 + i]}",
                    "--orchestrator-endpoint", ">" + self.orc_worker,
                    "--sisas-endpoint", ">" + self.sis_ingest,
                    "--sisas-control-endpoint", ">" + self.sis_publish,
                    "--contracts-dir", contracts],
                self.logdir))

        self.sisas.endpoint = self.sis_control
        self.orchestrator.endpoint = self.orc_client
        for i, factory in enumerate(self.factories):
            factory.endpoint = f"{host}:{ports[6 + i]}"

    def daemons(self):
        return [self.sisas, self.orchestrator] + self.factories

    def start_all(self):
        for daemon in self.daemons():
            daemon.start()

    def stop_all(self, timeout_s=30):
        """SIGTERM to all; returns {name: exit code} (None = had to be killed)."""
        codes = {}
        for daemon in self.daemons():
            if daemon.alive():
                daemon.proc.send_signal(signal.SIGTERM)
        for daemon in self.daemons():
            codes[daemon.name] = daemon.stop(timeout_s) if daemon.proc else 0
        return codes

    def leftovers(self):
        """Pids of processes whose command line names this cluster's tag."""
        found = []
        needle = f"{self.tag}-".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as stream:
                    if needle in stream.read():
                        with open(f"/proc/{entry}/stat") as stat:
                            if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                                found.append(int(entry))
            except OSError:
                continue
        return found


class NoAnswer(Exception):
    pass


class ServiceError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


class Client:
    """Lazy Pirate request client (PROTOCOL.md §7) of one endpoint: a
    DEALER, bounded waits, on silence a new socket and the same request
    (same correlation id: a resent SUBMIT is answered with the run it
    started). One thread only."""

    def __init__(self, pb, endpoint, sender_id, timeout_ms=2000):
        import zmq
        self.zmq = zmq
        self.pb = pb
        self.endpoint = endpoint
        self.sender_id = sender_id
        self.timeout_ms = timeout_ms
        self.context = zmq.Context.instance()
        self.sock = None
        self.next_id = 0
        self.reconnects = 0
        self.connect()

    def connect(self):
        if self.sock is not None:
            self.sock.close(0)
            self.reconnects += 1
        self.sock = self.context.socket(self.zmq.DEALER)
        self.sock.setsockopt(self.zmq.LINGER, 0)
        self.sock.connect(self.endpoint)

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def new_id(self):
        self.next_id += 1
        return f"{self.sender_id}-{self.next_id}"

    def attempt(self, msg_type, body, reply_type, reply_class, correlation_id, timeout_ms):
        """One send and a bounded wait. Returns the decoded reply, None on
        silence (the socket is then replaced); raises ServiceError."""
        env_pb = self.pb.envelope
        env = env_pb.Envelope(version=1, type=msg_type, correlation_id=correlation_id,
                              sender_id=self.sender_id)
        self.sock.send_multipart([env.SerializeToString(), body.SerializeToString()])
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(max(1, int(left * 1000)), self.zmq.POLLIN):
                self.connect()
                return None
            frames = self.sock.recv_multipart()
            if frames and not frames[0]:
                frames = frames[1:]
            if not 1 <= len(frames) <= 2:
                continue
            reply = env_pb.Envelope.FromString(frames[0])
            if reply.correlation_id != correlation_id:
                continue
            data = frames[1] if len(frames) == 2 else b""
            if reply.type == env_pb.ERROR or reply.status.code != env_pb.OK:
                raise ServiceError(env_pb.ErrorCode.Name(reply.status.code), reply.status.message)
            if reply.type != reply_type:
                raise ServiceError("UNEXPECTED", f"reply type {reply.type}")
            return reply_class.FromString(data)

    def request(self, msg_type, body, reply_type, reply_class, timeout_ms=None, attempts=3,
                correlation_id=None):
        timeout_ms = timeout_ms or self.timeout_ms
        correlation_id = correlation_id or self.new_id()
        for _ in range(attempts):
            reply = self.attempt(msg_type, body, reply_type, reply_class, correlation_id,
                                 timeout_ms)
            if reply is not None:
                return reply
        raise NoAnswer(f"no answer from {self.endpoint} after {attempts} x {timeout_ms} ms")

    # -- conveniences --------------------------------------------------
    def ping(self, timeout_ms=500):
        env = self.pb.envelope
        return self.request(env.PING, env.Ping(), env.PONG, env.Pong, timeout_ms, attempts=1)

    def status(self, run_id, timeout_ms=None, attempts=3):
        env, orc = self.pb.envelope, self.pb.orchestrator
        return self.request(env.STATUS, orc.RunRef(run_id=run_id), env.RUN_STATUS,
                            orc.RunStatus, timeout_ms, attempts)

    def results(self, run_id, timeout_ms=60000):
        env, orc = self.pb.envelope, self.pb.orchestrator
        return self.request(env.RESULTS, orc.ResultsRequest(run_id=run_id), env.RUN_RESULTS,
                            orc.RunResults, timeout_ms, attempts=2)

    def list_runs(self, limit=1000):
        env, orc = self.pb.envelope, self.pb.orchestrator
        return self.request(env.LIST, orc.ListRequest(limit=limit), env.RUN_LIST,
                            orc.RunList, 10000, attempts=2)

    def factories(self):
        env, orc = self.pb.envelope, self.pb.orchestrator
        return self.request(env.FACTORIES, orc.FactoriesRequest(), env.FACTORY_LIST,
                            orc.FactoryList, 2000, attempts=2)

    def sisas_stats(self, timeout_ms=2000):
        env, sis = self.pb.envelope, self.pb.sisas
        return self.request(env.SISAS_STATS, sis.SisasStatsRequest(), env.SISAS_STATS_REPLY,
                            sis.SisasStats, timeout_ms, attempts=2)

    def sisas_health(self, timeout_ms=2000):
        env, sis = self.pb.envelope, self.pb.sisas
        return self.request(env.SISAS_HEALTH, sis.SisasHealthRequest(),
                            env.SISAS_HEALTH_REPLY, sis.SisasHealth, timeout_ms, attempts=2)


def wait_until(condition, timeout_s, step_s=0.1):
    """Asks condition() until it returns something true or timeout_s passes;
    returns its last value. Exceptions count as false."""
    deadline = time.monotonic() + timeout_s
    value = None
    while True:
        try:
            value = condition()
        except (NoAnswer, ServiceError):
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step_s)


def wait_serving(pb, daemon, timeout_s):
    """Waits until the daemon's endpoint answers PING as its instance (not
    an older process still on the port). True when it does; raises
    RuntimeError when the process exited."""
    client = Client(pb, daemon.endpoint, f"probe-{os.getpid()}")
    want = daemon.args[daemon.args.index("--instance-id") + 1]
    try:
        def serving():
            if not daemon.alive():
                raise RuntimeError(f"{daemon.name} exited during start-up:\n{daemon.log_tail()}")
            return client.ping(300).instance_id == want
        return bool(wait_until(serving, timeout_s))
    finally:
        client.close()


def wait_factories(pb, cluster, count, timeout_s):
    client = Client(pb, cluster.orc_client, f"probe-{os.getpid()}")
    try:
        return bool(wait_until(lambda: len(client.factories().factories) >= count, timeout_s,
                               0.2))
    finally:
        client.close()


def sanitized_build(build):
    """True when the build directory was configured with a sanitizer."""
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as stream:
            import json
            for option in json.load(stream):
                if option["name"] == "b_sanitize":
                    return option["value"] not in ("none", "", [])
    except (OSError, ValueError, KeyError):
        pass
    return False


def scratch(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    return path


def remove(path):
    shutil.rmtree(path, ignore_errors=True)


def plan_path():
    """The upstream plan text when the shared checkout has it, else the
    bundled sample; and a note saying which."""
    upstream = os.path.normpath(os.path.join(ROOT, "..", "shared", "farfan-upstream", "plans"))
    if os.path.isdir(upstream):
        texts = sorted(name for name in os.listdir(upstream) if name.endswith(".txt"))
        if texts:
            return os.path.join(upstream, texts[0]), "upstream"
    return os.path.join(ROOT, "deploy", "sample", "plan-municipal-ejemplo.txt"), "bundled sample"


def fingerprint(pb, result):
    """What must be the same in every run of the same plan and contracts:
    status, score, quality, ratio, confidence, error, output, definition
    digest and a digest of the evidence; not duration_us, from_cache,
    index or executed_by, which say how it ran."""
    evidence = hashlib.sha256()
    for item in result.evidence:
        evidence.update(item.SerializeToString(deterministic=True))
        evidence.update(b"\0")
    return (pb.factory.ResultStatus.Name(result.status), round(result.score, 9),
            result.quality, round(result.ratio, 9), round(result.confidence, 9),
            result.error, result.output_json, result.contract_digest, evidence.hexdigest())
