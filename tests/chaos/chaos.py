#!/usr/bin/python3
"""Chaos (issue #8): SISAS, an orchestrator and three factories of a build
under a stream of runs and signals, while a driver kills (-9) and restarts
random services at random times for FARFAN_CHAOS_SECONDS (default 60).

    chaos.py BUILD_DIR [--seconds S] [--seed N] [--plan FILE] [--keep]

Checks, printed as TAP:
  - an undisturbed run of the plan succeeds first: the reference results;
  - every run submitted during the chaos ends SUCCEEDED once everything is
    up again, and its results hold every contract of the reference exactly
    once, each equal to the reference (status, score, quality, ratio,
    confidence, error, output, definition digest and a digest of the
    evidence: what a run's inputs decide; not durations, from_cache,
    index or executed_by, which say how it ran);
  - no run exists that the clients did not get an id for (a resent SUBMIT
    after an orchestrator restart must not start a second run);
  - SISAS's accounting identity (received = delivered + absorbed + shed +
    rejected + in flight, proto/sisas.md §2) holds before each SISAS kill,
    after each restart once signals flow again, and at the end;
  - every service stops cleanly at the end (exit 0: no sanitizer report)
    and no process of the test is left behind.

The orchestrator restarts on the same data dir (crash recovery). Runs are
submitted by two client threads with Lazy Pirate retries that keep the
correlation id (idempotent SUBMIT) and reconnect when the orchestrator
goes away. The kill schedule comes from the seed, printed at the start
(FARFAN_CHAOS_SEED or --seed reproduces it; thread timing still varies).
"""
import argparse
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FINAL = ("RUN_SUCCEEDED", "RUN_FAILED", "RUN_CANCELLED")


class Runner(threading.Thread):
    """Submits runs one after another while `submitting` is set, and
    follows each to its end (or until `give_up`)."""

    def __init__(self, pb, cluster, document, index, submitting, give_up, log):
        super().__init__(daemon=True, name=f"runner-{index}")
        self.pb = pb
        self.endpoint = cluster.orc_client
        self.sender = f"{cluster.tag}-runner-{index}"
        self.document = document
        self.index = index
        self.submitting = submitting
        self.give_up = give_up
        self.log = log
        self.runs = {}            # run id -> final state name (or None)
        self.resends = 0
        self.errors = []
        self.reconnects = 0

    def _submit(self, client, name):
        env, orc = self.pb.envelope, self.pb.orchestrator
        body = orc.SubmitRun(document=self.document, name=name, media_type="text/plain")
        correlation_id = client.new_id()
        tries = 0
        while not self.give_up.is_set():
            tries += 1
            try:
                reply = client.attempt(env.SUBMIT, body, env.SUBMITTED, orc.Submitted,
                                       correlation_id, 5000)
            except harness.ServiceError as error:
                if error.code in ("UNAVAILABLE", "OVERLOADED"):
                    time.sleep(0.5)
                    continue
                raise
            if reply is not None:
                self.resends += tries - 1
                return reply.run_id
            # Silence: the orchestrator may be down. attempt() opened a new
            # socket; the same correlation id goes again.
        return None

    def _follow(self, client, run_id):
        while not self.give_up.is_set():
            try:
                status = client.status(run_id, timeout_ms=2000, attempts=1)
            except harness.NoAnswer:
                continue
            state = self.pb.orchestrator.RunState.Name(status.state)
            if state in FINAL:
                if state != "RUN_SUCCEEDED":
                    self.errors.append(f"{run_id}: {state}: {status.error}")
                return state
            time.sleep(0.3)
        return None

    def run(self):
        client = harness.Client(self.pb, self.endpoint, self.sender)
        try:
            number = 0
            while self.submitting.is_set() and not self.give_up.is_set():
                number += 1
                run_id = self._submit(client, f"chaos-{self.index}-{number}")
                if run_id is None:
                    break
                if run_id in self.runs:
                    self.errors.append(f"SUBMIT {number} answered with {run_id}, "
                                       "a run of an earlier submission")
                self.runs[run_id] = None
                self.log(f"{self.name}: submitted {run_id}")
                self.runs[run_id] = self._follow(client, run_id)
                self.log(f"{self.name}: {run_id} {self.runs[run_id]}")
        except Exception as error:  # reported by the checker
            self.errors.append(f"{type(error).__name__}: {error}")
        finally:
            self.reconnects = client.reconnects
            client.close()


class Signals(threading.Thread):
    """A publisher of signals (some fused groups, some singles) at about
    `rate` per second to SISAS's ingest, through every SISAS restart."""

    def __init__(self, cluster, stop, rate=100):
        super().__init__(daemon=True, name="signals")
        self.ingest = cluster.sis_ingest
        self.source = f"{cluster.tag}-signals"
        self.stop = stop
        self.rate = rate
        self.sent = 0
        self.dropped = 0
        self.error = None

    def run(self):
        import publish_signals
        publisher = publish_signals.Publisher(self.ingest, self.source)
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                subject = f"CHAOS/Q{n // 5 % 50:03d}" if n % 3 else None
                publisher.publish("chaos.finding", subject=subject, phase=n % 10,
                                  confidence=0.3 + (n % 7) / 10)
                time.sleep(1 / self.rate)
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.sent, self.dropped = publisher.sent, publisher.dropped
            publisher.close()


def identity(stats):
    """(holds, text) of SISAS's accounting identity, recomputed."""
    total = stats.delivered + stats.absorbed + stats.shed + stats.rejected + stats.in_flight
    text = (f"received {stats.received} = delivered {stats.delivered} + absorbed "
            f"{stats.absorbed} + shed {stats.shed} + rejected {stats.rejected} + in flight "
            f"{stats.in_flight} (= {total}), identity_holds {stats.identity_holds}")
    return stats.received == total and stats.identity_holds, text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build")
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("FARFAN_CHAOS_SECONDS", "60")))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--plan", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    seed = args.seed
    if seed is None:
        seed = int(os.environ.get("FARFAN_CHAOS_SEED") or random.SystemRandom().randrange(1 << 31))
    build = os.path.abspath(args.build)

    tap = harness.Tap("chaos")
    pb = harness.import_modules(tap)
    plan, origin = (args.plan, "given") if args.plan else harness.plan_path()
    with open(plan, "rb") as stream:
        document = stream.read()
    asan = harness.sanitized_build(build)
    start_s = 240 if asan else 90       # a daemon's start-up, a run's end
    tap.note(f"seed {seed} (FARFAN_CHAOS_SEED={seed} reproduces the kill schedule), "
             f"{args.seconds:g} s of chaos, plan {plan} ({origin}, {len(document)} bytes), "
             f"build {build}{' (sanitized)' if asan else ''}")
    rng = random.Random(seed)
    started = time.monotonic()

    def log(text):
        tap.note(f"[{time.monotonic() - started:7.1f}s] {text}")

    work = harness.scratch("farfan-chaos-")
    cluster = harness.Cluster(build, work, factories=3)
    stop_signals = threading.Event()
    submitting = threading.Event()
    give_up = threading.Event()
    runners = []
    signals = None
    probe = None
    try:
        cluster.start_all()
        for daemon in cluster.daemons():
            if not tap.ok(harness.wait_serving(pb, daemon, start_s),
                          f"{daemon.name} serves", daemon.log_tail()):
                return tap.done()
        if not tap.ok(harness.wait_factories(pb, cluster, 3, start_s),
                      "three factories registered", cluster.orchestrator.log_tail()):
            return tap.done()
        probe = harness.Client(pb, cluster.orc_client, f"{cluster.tag}-checker")
        sisas = harness.Client(pb, cluster.sis_control, f"{cluster.tag}-sisas-checker")

        # The reference: one run with nothing disturbed.
        reference_runner = Runner(pb, cluster, document, 0, submitting, give_up, log)
        submitting.set()
        reference_runner.submitting = threading.Event()   # one run only
        reference_runner.submitting.set()

        def one_run():
            client = harness.Client(pb, cluster.orc_client, f"{cluster.tag}-reference")
            try:
                run_id = reference_runner._submit(client, "chaos-reference")
                return run_id, reference_runner._follow(client, run_id)
            finally:
                client.close()

        t0 = time.monotonic()
        deadline = threading.Timer(start_s * 2, give_up.set)
        deadline.start()
        reference_id, state = one_run()
        deadline.cancel()
        took = time.monotonic() - t0
        if not tap.ok(state == "RUN_SUCCEEDED", f"undisturbed run {reference_id} succeeds "
                      f"({took:.1f} s)", "\n".join(reference_runner.errors)):
            return tap.done()
        reference = {}
        results = probe.results(reference_id)
        for result in results.results:
            reference[result.contract_id] = harness.fingerprint(pb, result)
        tap.ok(len(reference) == len(results.results) and reference,
               f"the reference run has {len(reference)} contract results, each once")

        # A SUBMIT whose answer is lost with the orchestrator: resent to
        # its successor (same sender, same correlation id), it must get
        # the run the first attempt started, which then goes on.
        resender = harness.Client(pb, cluster.orc_client, f"{cluster.tag}-resender")
        env, orc = pb.envelope, pb.orchestrator
        body = orc.SubmitRun(document=document, name="chaos-resent", media_type="text/plain")
        first = resender.attempt(env.SUBMIT, body, env.SUBMITTED, orc.Submitted, "resend-1",
                                 start_s * 1000)
        cluster.orchestrator.kill()
        cluster.orchestrator.start()
        again = None
        if harness.wait_serving(pb, cluster.orchestrator, start_s):
            resender.connect()
            again = resender.attempt(env.SUBMIT, body, env.SUBMITTED, orc.Submitted,
                                     "resend-1", start_s * 1000)
        resender.close()
        resent_id = first.run_id if first else None
        tap.ok(first is not None and again is not None and again.run_id == first.run_id,
               "a SUBMIT resent to a restarted orchestrator is answered with the run it "
               f"started ({first.run_id if first else None} -> "
               f"{again.run_id if again else None})")

        # The stream of runs and signals, then the chaos.
        signals = Signals(cluster, stop_signals)
        signals.start()
        for index in (1, 2):
            runner = Runner(pb, cluster, document, index, submitting, give_up, log)
            runner.start()
            runners.append(runner)

        def check_sisas(when):
            """The identity on the running SISAS once it has counted signals."""
            stats = harness.wait_until(
                lambda: (lambda s: s if s.received > 0 else None)(sisas.sisas_stats()), 30, 0.2)
            if stats is None:
                return tap.ok(False, f"SISAS accounting {when}: no STATS with signals received "
                              "within 30 s", cluster.sisas.log_tail())
            holds, text = identity(stats)
            return tap.ok(holds, f"SISAS accounting identity {when}: {text}")

        check_sisas("before the chaos")
        victims = ([("factory", f) for f in cluster.factories]
                   + [("sisas", cluster.sisas), ("orchestrator", cluster.orchestrator)] * 2)
        kills = {"factory": 0, "sisas": 0, "orchestrator": 0}
        chaos_end = time.monotonic() + args.seconds
        restart_failures = []
        while time.monotonic() < chaos_end:
            time.sleep(min(rng.uniform(1.0, 5.0), max(0, chaos_end - time.monotonic())))
            if time.monotonic() >= chaos_end:
                break
            kind, daemon = rng.choice(victims)
            down_s = rng.uniform(0.0, 2.0)
            if kind == "sisas":
                check_sisas(f"before kill {kills['sisas'] + 1} of SISAS")
            log(f"kill -9 {daemon.name} (pid {daemon.pid}), restart in {down_s:.2f} s")
            daemon.kill()
            kills[kind] += 1
            time.sleep(down_s)
            daemon.start()
            try:
                serving = harness.wait_serving(pb, daemon, start_s)
            except RuntimeError as error:
                serving = False
                restart_failures.append(str(error))
            if not serving:
                restart_failures.append(f"{daemon.name} did not serve after restart "
                                        f"{daemon.starts - 1}:\n{daemon.log_tail()}")
                break
            if kind == "sisas":
                check_sisas(f"after restart {kills['sisas']} of SISAS")
        tap.ok(not restart_failures, f"every restarted service serves again "
               f"({kills['factory']} factory, {kills['sisas']} SISAS, "
               f"{kills['orchestrator']} orchestrator kills)", "\n".join(restart_failures))

        # Settle: no more submissions; every run must end.
        submitting.clear()
        log("chaos over; waiting for the runs in progress to end")
        settle = threading.Timer(start_s * 3, give_up.set)
        settle.start()
        for runner in runners:
            runner.join()
        settle.cancel()
        stop_signals.set()
        signals.join(10)

        submitted = {}
        errors = []
        if resent_id:
            client = harness.Client(pb, cluster.orc_client, f"{cluster.tag}-resender-2")
            submitted[resent_id] = reference_runner._follow(client, resent_id)
            client.close()
        for runner in runners:
            submitted.update(runner.runs)
            errors += [f"{runner.name}: {e}" for e in runner.errors]
        tap.note(f"runs submitted during the chaos: {len(submitted)} "
                 f"(resent SUBMITs {sum(r.resends for r in runners)}, client reconnects "
                 f"{sum(r.reconnects for r in runners)}); signals sent {signals.sent}, "
                 f"dropped while SISAS was down {signals.dropped}")
        tap.ok(len(submitted) >= 2, f"at least two runs submitted during the chaos "
               f"({len(submitted)})")
        tap.ok(not errors and all(state == "RUN_SUCCEEDED" for state in submitted.values()),
               "every submitted run ends SUCCEEDED",
               "\n".join(errors + [f"{r}: {s}" for r, s in submitted.items()
                                   if s != "RUN_SUCCEEDED"]))
        bad = []
        for run_id in sorted(submitted):
            try:
                results = probe.results(run_id)
            except (harness.NoAnswer, harness.ServiceError) as error:
                bad.append(f"{run_id}: RESULTS: {error}")
                continue
            seen = {}
            for result in results.results:
                seen[result.contract_id] = seen.get(result.contract_id, 0) + 1
            twice = [c for c, n in seen.items() if n > 1]
            missing = sorted(set(reference) - set(seen))
            extra = sorted(set(seen) - set(reference))
            differ = [r.contract_id for r in results.results
                      if r.contract_id in reference and harness.fingerprint(pb, r) != reference[r.contract_id]]
            if twice or missing or extra or differ:
                detail = f"{run_id}: {len(twice)} twice, {len(missing)} missing, {len(extra)} " \
                         f"extra, {len(differ)} differ"
                for contract in (twice + missing + extra + differ)[:3]:
                    detail += f"\n  {contract}"
                    if contract in differ:
                        result = next(r for r in results.results if r.contract_id == contract)
                        detail += f"\n    got      {harness.fingerprint(pb, result)}" \
                                  f"\n    expected {reference[contract]}"
                bad.append(detail)
        tap.ok(not bad, f"every run's results: each of the {len(reference)} contracts exactly "
               "once, equal to the undisturbed run's", "\n".join(bad))
        listed = probe.list_runs(1000)
        unknown = [f"{r.run_id} ({r.name}, {pb.orchestrator.RunState.Name(r.state)})"
                   for r in listed.runs if r.run_id not in submitted and r.run_id != reference_id]
        tap.ok(not unknown, "no run the clients were not told of (resent SUBMITs started "
               "no second run)", "\n".join(unknown))
        check_sisas("at the end")
    finally:
        give_up.set()
        submitting.clear()
        stop_signals.set()
        for runner in runners:
            runner.join(10)
        if signals is not None:
            signals.join(10)
        if probe is not None:
            probe.close()
        codes = cluster.stop_all()
        unclean = {name: code for name, code in codes.items() if code != 0}
        tap.ok(not unclean, "every service stops cleanly at the end (exit 0)",
               "\n".join(f"{name}: exit {code}\n{d.log_tail(15)}" for name, code in unclean.items()
                         for d in cluster.daemons() if d.name == name))
        left = cluster.leftovers()
        tap.ok(not left, "no process of the test left behind", str(left))
        if args.keep or tap.failed:
            tap.note(f"work directory kept: {work}")
        else:
            harness.remove(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
