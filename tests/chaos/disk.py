#!/usr/bin/python3
"""Disk full (issue #8): the orchestrator's data dir on a small tmpfs.

    disk.py BUILD_DIR [--size-mb 48] [--plan FILE]

Mounts a tmpfs (needs root or CAP_SYS_ADMIN; skipped, saying why, when
mounting is refused) and runs SISAS, an orchestrator whose data dir is on
it and a factory. Checks, as TAP:
  1. a run succeeds while there is room (the reference);
  2. a run during which the file system fills up (a filler file leaving
     2 MB) ends FAILED with a clear error ("database or disk is full") and
     is never shown RUNNING again; once there is room, its end reaches the
     store by itself. With the file system full (a filler until ENOSPC), a
     new SUBMIT is refused with UNAVAILABLE saying so (or the run ends
     FAILED saying so); the committed run still reads back whole;
  3. an orchestrator killed (-9) and started again on the full disk comes
     back (or exits saying why), and what was committed is all there;
  4. when space returns (the filler removed), a new run succeeds without a
     restart, with the reference's results;
  5. after a restart, every run that succeeded still has all its results,
     equal to the reference's, and every run the clients were told failed
     is still FAILED;
  6. every service stops cleanly; the tmpfs is unmounted whatever happens.
The bundled sample plan keeps the store small (a run of the 679 default
contracts commits about 3 MB of results).
"""
import argparse
import errno
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FINAL = ("RUN_SUCCEEDED", "RUN_FAILED", "RUN_CANCELLED")


def fill(directory, leave=0, name="filler"):
    """Writes a filler file until the file system is full (but for about
    `leave` bytes); returns its path and size."""
    path = os.path.join(directory, name)
    size = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as stream:
        if leave:
            vfs = os.statvfs(directory)
            target = max(0, vfs.f_bavail * vfs.f_frsize - leave)
            while size + len(chunk) <= target:
                size += stream.write(chunk)
            return path, size
        while True:
            try:
                size += stream.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
        # The last bytes: smaller writes until nothing fits.
        small = b"\0" * 512
        while True:
            try:
                size += stream.write(small)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
    return path, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build")
    parser.add_argument("--size-mb", type=int, default=48)
    parser.add_argument("--plan", default=os.path.join(harness.ROOT, "deploy", "sample",
                                                       "plan-municipal-ejemplo.txt"))
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    tap = harness.Tap("disk")
    pb = harness.import_modules(tap)
    asan = harness.sanitized_build(build)
    start_s = 240 if asan else 90
    with open(args.plan, "rb") as stream:
        document = stream.read()

    work = harness.scratch("farfan-disk-")
    mount = os.path.join(work, "disk")
    os.mkdir(mount)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size_mb}m,mode=0700",
                             "tmpfs", mount], capture_output=True, text=True)
    if result.returncode != 0:
        harness.remove(work)
        tap.skip_all(f"cannot mount a tmpfs ({result.stderr.strip() or 'mount failed'}): "
                     "needs root or CAP_SYS_ADMIN")
    tap.note(f"tmpfs of {args.size_mb} MB at {mount}; plan {args.plan}; build {build}"
             f"{' (sanitized)' if asan else ''}")
    data = os.path.join(mount, "data")
    cluster = harness.Cluster(build, work, factories=1, tag=f"disk{os.getpid()}", data_dir=data)
    client = None
    filler = partial = None
    env, orc = pb.envelope, pb.orchestrator
    try:
        cluster.start_all()
        for daemon in cluster.daemons():
            if not tap.ok(harness.wait_serving(pb, daemon, start_s), f"{daemon.name} serves",
                          daemon.log_tail()):
                return tap.done()
        if not tap.ok(harness.wait_factories(pb, cluster, 1, start_s),
                      "the factory registered", cluster.orchestrator.log_tail()):
            return tap.done()
        client = harness.Client(pb, cluster.orc_client, f"{cluster.tag}-client")

        def submit(name):
            """(run id, None) or (None, ServiceError)."""
            body = orc.SubmitRun(document=document, name=name, media_type="text/plain")
            try:
                reply = client.request(env.SUBMIT, body, env.SUBMITTED, orc.Submitted,
                                       timeout_ms=10000, attempts=3)
                return reply.run_id, None
            except harness.ServiceError as error:
                return None, error

        def wait_final(run_id, timeout_s):
            status = harness.wait_until(
                lambda: (lambda s: s if orc.RunState.Name(s.state) in FINAL else None)(
                    client.status(run_id, 2000, 1)), timeout_s, 0.2)
            if status is None:
                try:
                    status = client.status(run_id, 2000, 2)
                except (harness.NoAnswer, harness.ServiceError):
                    pass
            return status

        def results_of(run_id):
            return {r.contract_id: harness.fingerprint(pb, r)
                    for r in client.results(run_id).results}

        # 1. With room.
        reference_id, error = submit("disk-reference")
        status = wait_final(reference_id, start_s * 2) if reference_id else None
        if not tap.ok(status is not None and status.state == orc.RUN_SUCCEEDED,
                      f"a run succeeds while there is room ({reference_id})",
                      error or (status.error if status else "no final state")):
            return tap.done()
        reference = results_of(reference_id)
        tap.ok(len(reference) > 0, f"the reference has {len(reference)} results")
        used = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))
        tap.note(f"the store after one run: {used} bytes ({', '.join(sorted(os.listdir(data)))})")

        # 2a. The disk fills up during a run: the run fails saying why, and
        # stays failed (in the store too, once there is room to say so).
        told_failed = {}
        # A clean stop folds the WAL into the database and removes it: the
        # next run's results need new space (SQLite reuses a WAL file's
        # space once checkpointed, so a grown WAL hides a full disk).
        code = cluster.orchestrator.stop()
        cluster.orchestrator.start()
        if not tap.ok(code == 0 and harness.wait_serving(pb, cluster.orchestrator, start_s)
                      and harness.wait_factories(pb, cluster, 1, start_s),
                      f"the orchestrator stops cleanly and serves again (exit {code}; store: "
                      f"{', '.join(sorted(os.listdir(data)))})",
                      cluster.orchestrator.log_tail()):
            return tap.done()
        client.connect()
        partial, partial_size = fill(mount, leave=2 << 20, name="partial")
        tap.note(f"filled the tmpfs but for 2 MB ({partial_size} bytes)")
        body = orc.SubmitRun(document=document, name="disk-filling", media_type="text/plain",
                             params_json='{"disk_test": "filling"}')
        try:
            filling_id = client.request(env.SUBMIT, body, env.SUBMITTED, orc.Submitted,
                                        timeout_ms=10000, attempts=3).run_id
        except harness.ServiceError as error:
            filling_id = None
            tap.ok(False, f"SUBMIT with 2 MB left: {error}")
        if filling_id:
            status = wait_final(filling_id, start_s)
            state = orc.RunState.Name(status.state) if status else "no answer"
            reason = status.error if status else ""
            tap.ok(state == "RUN_FAILED" and "full" in reason,
                   f"a run that fills the disk fails with a clear error ({filling_id}: "
                   f"{state}: {reason}; {status.done if status else '?'} results committed)")
            if state == "RUN_FAILED":
                told_failed[filling_id] = reason
            time.sleep(0.5)
            status = client.status(filling_id)
            tap.ok(status.state == orc.RUN_FAILED,
                   f"asked again, run {filling_id} is still FAILED "
                   f"({orc.RunState.Name(status.state)})")
        # Room for its end: the orchestrator records it by itself (a crash
        # before that would resume the run: the store had no room to say).
        os.unlink(partial)
        partial = None
        if filling_id:
            log = os.path.join(cluster.logdir, "orchestrator.log")

            def recorded():
                with open(log, errors="replace") as stream:
                    return f"run {filling_id}: its end is recorded now" in stream.read()
            # The store may have taken the end at once (the rolled back
            # group left room): then there is nothing to record later.
            with open(log, errors="replace") as stream:
                refused = f"run {filling_id}: cannot record its end" in stream.read()
            tap.ok(not refused or harness.wait_until(recorded, 30, 0.2),
                   "with room again, the end of the failed run reaches the store "
                   f"({'recorded later' if refused else 'recorded at once'})")

        # 2b. Full.
        filler, filled = fill(mount)
        tap.note(f"filled the tmpfs with {filled} bytes")
        full_id, error = submit("disk-full")
        if full_id:
            status = wait_final(full_id, 60)
            state = orc.RunState.Name(status.state) if status else "no answer"
            reason = status.error if status else ""
            tap.ok(state == "RUN_FAILED" and "full" in reason,
                   f"on a full disk the run {full_id} fails with a clear error: {state}: "
                   f"{reason}")
            if state == "RUN_FAILED":
                told_failed[full_id] = reason
        else:
            tap.ok(error.code == "UNAVAILABLE" and "full" in str(error),
                   f"on a full disk SUBMIT is refused with a clear error: {error}")
        again = results_of(reference_id)
        tap.ok(again == reference, "on a full disk the committed run reads back whole")

        # 3. A crash and a restart on the full disk.
        cluster.orchestrator.kill()
        cluster.orchestrator.start()
        came_back = False
        try:
            came_back = harness.wait_serving(pb, cluster.orchestrator, start_s)
            why = "" if came_back else "no answer"
        except RuntimeError as error:
            why = str(error)
        if came_back:
            client.connect()
            after = results_of(reference_id)
            tap.ok(after == reference, "killed and restarted on the full disk, the orchestrator "
                   "serves and the committed run is whole")
            for run_id, reason in told_failed.items():
                status = client.status(run_id)
                tap.ok(status.state == orc.RUN_FAILED,
                       f"the run {run_id} clients were told failed is still FAILED after the "
                       f"restart ({orc.RunState.Name(status.state)})", status.error)
        else:
            tail = cluster.orchestrator.log_tail(10)
            tap.ok("full" in tail or "disk" in tail,
                   "restarted on the full disk, the orchestrator exits saying why", tail + why)

        # 4. Space returns.
        os.unlink(filler)
        filler = None
        if not cluster.orchestrator.alive():
            cluster.orchestrator.start()
        if not tap.ok(harness.wait_serving(pb, cluster.orchestrator, start_s),
                      "with space back, the orchestrator serves",
                      cluster.orchestrator.log_tail()):
            return tap.done()
        client.connect()
        harness.wait_factories(pb, cluster, 1, start_s)
        back_id, error = submit("disk-back")
        status = wait_final(back_id, start_s * 2) if back_id else None
        tap.ok(status is not None and status.state == orc.RUN_SUCCEEDED,
               f"with space back, a new run succeeds without a restart ({back_id})",
               error or (status.error if status else "no final state"))
        if back_id and status is not None and status.state == orc.RUN_SUCCEEDED:
            tap.ok(results_of(back_id) == reference, "its results are the reference's")

        # 5. After a restart.
        cluster.orchestrator.stop()
        cluster.orchestrator.start()
        harness.wait_serving(pb, cluster.orchestrator, start_s)
        client.connect()
        for run_id in [reference_id] + ([back_id] if back_id else []):
            status = client.status(run_id)
            whole = results_of(run_id) == reference
            tap.ok(status.state == orc.RUN_SUCCEEDED and whole,
                   f"after a restart, run {run_id} is SUCCEEDED with all its results "
                   f"({orc.RunState.Name(status.state)}, results equal: {whole})")
        for run_id in told_failed:
            status = client.status(run_id)
            tap.ok(status.state == orc.RUN_FAILED,
                   f"after a restart, run {run_id} is still FAILED "
                   f"({orc.RunState.Name(status.state)})")
    finally:
        if client is not None:
            client.close()
        for path in (filler, partial):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        codes = cluster.stop_all()
        unclean = {name: code for name, code in codes.items() if code != 0}
        tap.ok(not unclean, "every service stops cleanly (exit 0)",
               "\n".join(f"{d.name}: exit {unclean[d.name]}\n{d.log_tail(15)}"
                         for d in cluster.daemons() if d.name in unclean))
        tap.ok(not cluster.leftovers(), "no process of the test left behind")
        unmounted = subprocess.run(["umount", mount], capture_output=True, text=True)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "-l", mount], capture_output=True)
        tap.ok(unmounted.returncode == 0, "the tmpfs is unmounted", unmounted.stderr)
        if tap.failed:
            tap.note(f"logs kept: {cluster.logdir}")
            harness.remove(mount) if not os.path.ismount(mount) else None
        else:
            harness.remove(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
