#!/usr/bin/python3
"""Soak (issue #8): SISAS, an orchestrator and a factory of a build while
subscribers, publishers and request clients connect and disconnect every
few hundred milliseconds to few seconds, for FARFAN_SOAK_SECONDS (default
60): the resident memory (VmRSS, /proc/PID/status) of each service must
stay flat, within +-5 % of its value at the end of the warm-up (the first
third of the time, at least 20 s), to the end.

    soak.py BUILD_DIR [--seconds S] [--seed N] [--tolerance 0.05]

The churn, each by threads of its own, each connection living a random
0.2-2.5 s: SUB sockets on SISAS's delivery socket (the libzmq leak reports
of restarting subscribers are the scenario to beat); publishers (XPUB, as
signal-schema.md §9) on SISAS's ingest sending signals; DEALERs asking
the orchestrator (PING, LIST, FACTORIES), the factory (PING) and SISAS
(STATS, HEALTH). Also checked: SISAS's accounting identity at the end, and
that every service stops cleanly (exit 0: no sanitizer report). Prints
the RSS series of each service (min, median, max, first and last after
the warm-up, drift). In a sanitized build the daemons run with
ASAN_OPTIONS quarantine_size_mb=0, thread_local_quarantine_size_kb=0 and
malloc_context_size=0: ASan's quarantine of freed memory and its depot of
allocation stacks (kept forever, one per distinct stack) otherwise grow
the RSS by itself for minutes (measured: SISAS +17 kB/s with the stacks,
flat without); LeakSanitizer still reports leaks at exit (exit 0 checked).
"""
import argparse
import os
import random
import statistics
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Churn(threading.Thread):
    """Opens a connection, uses it for a random 0.2-2.5 s, closes it, again."""

    def __init__(self, name, seed, stop, body):
        super().__init__(daemon=True, name=name)
        self.rng = random.Random(seed)
        self.stop = stop
        self.body = body
        self.cycles = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.body(self.rng, self.rng.uniform(0.2, 2.5), self)
                self.cycles += 1
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build")
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("FARFAN_SOAK_SECONDS", "60")))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int(
        os.environ.get("FARFAN_SOAK_SEED") or random.SystemRandom().randrange(1 << 31))
    build = os.path.abspath(args.build)
    tap = harness.Tap("soak")
    pb = harness.import_modules(tap)
    import zmq
    import publish_signals
    asan = harness.sanitized_build(build)
    start_s = 240 if asan else 90
    warmup_s = max(20.0, args.seconds / 3)
    tap.note(f"seed {seed} (FARFAN_SOAK_SEED), {args.seconds:g} s of churn, warm-up "
             f"{warmup_s:g} s, tolerance +-{args.tolerance * 100:g} %, build {build}"
             f"{' (sanitized)' if asan else ''}")

    work = harness.scratch("farfan-soak-")
    env = None
    if asan:
        options = os.environ.get("ASAN_OPTIONS", "")
        env = {"ASAN_OPTIONS": (options + ":" if options else "") + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0:"
                                "malloc_context_size=0"}
    cluster = harness.Cluster(build, work, factories=1, tag=f"soak{os.getpid()}")
    if env:
        for daemon in cluster.daemons():
            daemon.env.update(env)
    stop = threading.Event()
    threads = []
    try:
        cluster.start_all()
        for daemon in cluster.daemons():
            if not tap.ok(harness.wait_serving(pb, daemon, start_s), f"{daemon.name} serves",
                          daemon.log_tail()):
                return tap.done()
        if not tap.ok(harness.wait_factories(pb, cluster, 1, start_s),
                      "the factory registered", cluster.orchestrator.log_tail()):
            return tap.done()
        context = zmq.Context.instance()
        counts = {"received": 0, "published": 0, "requests": 0}
        lock = threading.Lock()

        def subscriber(rng, life, thread):
            sock = context.socket(zmq.SUB)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SUBSCRIBE, b"" if rng.random() < 0.5 else b"soak.")
            sock.connect(cluster.sis_publish)
            end = time.monotonic() + life
            got = 0
            while time.monotonic() < end and not stop.is_set():
                if sock.poll(50, zmq.POLLIN):
                    sock.recv_multipart()
                    got += 1
            sock.close(0)
            with lock:
                counts["received"] += got

        def publisher(rng, life, thread):
            # The same source each time: a publisher restarting (its seq
            # starts again at 0, which SISAS counts as a source restart).
            source = f"soak-{thread.name}"
            pub = publish_signals.Publisher(cluster.sis_ingest, source)
            pub.wait_connected(1000)
            end = time.monotonic() + life
            n = 0
            while time.monotonic() < end and not stop.is_set():
                n += 1
                pub.publish("soak.finding", subject=f"SOAK/Q{rng.randrange(40):03d}",
                            confidence=rng.uniform(0.2, 0.9), payload={"n": n})
                time.sleep(0.005)
            pub.sock.setsockopt(zmq.LINGER, 0)
            pub.close()
            with lock:
                counts["published"] += pub.sent

        def requester(rng, life, thread):
            targets = [(cluster.orc_client, "orchestrator"), (cluster.factories[0].endpoint,
                                                              "factory"),
                       (cluster.sis_control, "sisas")]
            endpoint, kind = rng.choice(targets)
            client = harness.Client(pb, endpoint, f"soak-{thread.name}-{thread.cycles}")
            end = time.monotonic() + life
            done = 0
            while time.monotonic() < end and not stop.is_set():
                try:
                    if kind == "orchestrator":
                        rng.choice([lambda: client.ping(1000), client.list_runs,
                                    client.factories])()
                    elif kind == "sisas":
                        rng.choice([client.sisas_stats, client.sisas_health,
                                    lambda: client.ping(1000)])()
                    else:
                        client.ping(1000)
                    done += 1
                except harness.NoAnswer:
                    pass
                time.sleep(0.02)
            client.close()
            with lock:
                counts["requests"] += done

        rng = random.Random(seed)
        for i in range(4):
            threads.append(Churn(f"sub{i}", rng.random(), stop, subscriber))
        for i in range(3):
            threads.append(Churn(f"pub{i}", rng.random(), stop, publisher))
        for i in range(3):
            threads.append(Churn(f"req{i}", rng.random(), stop, requester))
        for thread in threads:
            thread.start()

        series = {daemon.name: [] for daemon in cluster.daemons()}
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            time.sleep(1.0)
            at = time.monotonic() - started
            for daemon in cluster.daemons():
                series[daemon.name].append((at, daemon.rss_kb()))
        stop.set()
        for thread in threads:
            thread.join(10)
        errors = [f"{t.name}: {t.error}" for t in threads if t.error]
        cycles = sum(t.cycles for t in threads)
        tap.note(f"{cycles} connections opened and closed ({sum(t.cycles for t in threads[:4])} "
                 f"subscribers, {sum(t.cycles for t in threads[4:7])} publishers, "
                 f"{sum(t.cycles for t in threads[7:])} request clients); signals published "
                 f"{counts['published']}, received by subscribers {counts['received']}, "
                 f"requests answered {counts['requests']}")
        for name, samples in series.items():
            tap.note(f"{name} RSS kB by second: " + " ".join(str(rss) for at, rss in samples))
        tap.ok(not errors, "every churn thread ran to the end", "\n".join(errors))
        tap.ok(cycles >= args.seconds and counts["published"] > 0 and counts["received"] > 0
               and counts["requests"] > 0,
               "connections came and went, signals flowed, requests were answered")

        for name, samples in series.items():
            gone = [at for at, rss in samples if rss is None]
            if not tap.ok(not gone, f"{name} ran throughout", f"no RSS at {gone[:5]}"):
                continue
            after = [rss for at, rss in samples if at >= warmup_s]
            if len(after) < 3:
                tap.ok(False, f"{name}: RSS flat after the warm-up",
                       f"only {len(after)} samples after {warmup_s} s")
                continue
            base = after[0]
            low, high = min(after), max(after)
            drift = (after[-1] - base) / base
            spread = max(high - base, base - low) / base
            summary = (f"RSS kB: warm-up {samples[0][1]} -> {base}; after: min {low}, median "
                       f"{int(statistics.median(after))}, max {high}, last {after[-1]}; drift "
                       f"{drift * 100:+.2f} %, widest {spread * 100:.2f} % "
                       f"({len(after)} samples)")
            tap.ok(spread <= args.tolerance, f"{name}: RSS flat within +-"
                   f"{args.tolerance * 100:g} % after the warm-up; {summary}",
                   " ".join(str(rss) for at, rss in samples))

        sisas = harness.Client(pb, cluster.sis_control, f"soak{os.getpid()}-checker")
        stats = sisas.sisas_stats()
        sisas.close()
        total = stats.delivered + stats.absorbed + stats.shed + stats.rejected + stats.in_flight
        tap.ok(stats.received == total and stats.identity_holds,
               f"SISAS accounting identity: received {stats.received} = delivered "
               f"{stats.delivered} + absorbed {stats.absorbed} + shed {stats.shed} + rejected "
               f"{stats.rejected} + in flight {stats.in_flight} (sources {stats.sources}, "
               f"source restarts {stats.source_restarts}, upstream lost {stats.upstream_lost})")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        codes = cluster.stop_all()
        unclean = {name: code for name, code in codes.items() if code != 0}
        tap.ok(not unclean, "every service stops cleanly (exit 0)",
               "\n".join(f"{d.name}: exit {unclean[d.name]}\n{d.log_tail(15)}"
                         for d in cluster.daemons() if d.name in unclean))
        tap.ok(not cluster.leftovers(), "no process of the test left behind")
        if tap.failed:
            tap.note(f"work directory kept: {work}")
        else:
            harness.remove(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
