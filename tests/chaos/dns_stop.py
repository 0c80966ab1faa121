#!/usr/bin/python3
"""A daemon stops promptly when a peer's host name no longer resolves.

    dns_stop.py BUILD_DIR

libzmq resolves a connect endpoint's host name with a blocking lookup in
its I/O thread, and terminating a context waits for that thread: a factory
whose orchestrator container is gone (its name answered by nobody) could
hold its exit for the resolver's whole timeout. ff_daemon bounds libzmq's
shutdown (3 s after the service stopped). This test makes the lookups hang
for real, in private mount and network namespaces (`unshare`, needs root;
skipped, saying why, otherwise): /etc/resolv.conf names a DNS server on
127.0.0.1 that reads queries and never answers. For the factory (its
orchestrator and SISAS endpoints) and the orchestrator (its SISAS
endpoint), checks as TAP that SIGTERM ends the process with exit 0 within
10 s, and that it said why it did not wait longer.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

#  Runs inside the namespaces: loopback up, a silent DNS server, the
#  resolver pointed at it, then the daemon; SIGTERM after it has been
#  trying to resolve for a while; prints "exit RC SECONDS".
INSIDE = r"""
set -eu
ip link set lo up
mount --bind "$RESOLV" /etc/resolv.conf
/usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open("'"$READY"'", "w").close()
while True:
    s.recvfrom(4096)
' &
dns=$!
for i in $(seq 100); do [ -f "$READY" ] && break; sleep 0.05; done
"$@" >"$LOG" 2>&1 &
pid=$!
sleep 1.5
start=$(date +%s%N)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
end=$(date +%s%N)
kill "$dns"
echo "exit $rc $(( (end - start) / 1000000 ))"
"""

CASES = (
    ("factory", "services/farfan-factory",
     ["--endpoint", "@tcp://127.0.0.1:*", "--http-port", "0",
      "--orchestrator-endpoint", "tcp://orchestrator.farfan.test:5551",
      "--sisas-endpoint", "tcp://sisas.farfan.test:5570",
      "--sisas-control-endpoint", "tcp://sisas.farfan.test:5572"]),
    ("orchestrator", "services/farfan-orchestrator",
     ["--client-endpoint", "@tcp://127.0.0.1:*", "--worker-endpoint", "@tcp://127.0.0.1:*",
      "--http-port", "0", "--sisas-endpoint", "tcp://sisas.farfan.test:5570",
      "--sisas-control-endpoint", "tcp://sisas.farfan.test:5572"]),
)


def main():
    build = os.path.abspath(sys.argv[1])
    tap = harness.Tap("dns_stop")
    if os.geteuid() != 0:
        tap.skip_all("needs root (private mount and network namespaces)")
    for tool in ("unshare", "ip", "mount"):
        if not shutil.which(tool):
            tap.skip_all(f"{tool} is not installed")
    probe = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True)
    if probe.returncode != 0:
        tap.skip_all("unshare --mount --net is refused here: "
                     + probe.stderr.decode(errors="replace").strip())
    work = tempfile.mkdtemp(prefix="farfan-dns-stop-")
    try:
        resolv = os.path.join(work, "resolv.conf")
        with open(resolv, "w") as stream:
            stream.write("nameserver 127.0.0.1\noptions timeout:5 attempts:2\n")
        contracts = os.path.join(harness.ROOT, "contracts", "default")
        for name, program, args in CASES:
            log = os.path.join(work, name + ".log")
            data = os.path.join(work, name + "-data")
            os.makedirs(data)
            extra = ["--contracts-dir", contracts]
            if name == "orchestrator":
                extra += ["--data-dir", data]
            env = dict(os.environ, RESOLV=resolv, LOG=log, READY=os.path.join(work, name + ".ready"))
            done = subprocess.run(
                ["unshare", "--mount", "--net", "sh", "-c", INSIDE, "inside",
                 os.path.join(build, program)] + args + extra,
                env=env, capture_output=True, text=True, timeout=60)
            words = done.stdout.split()
            detail = f"stdout: {done.stdout}\nstderr: {done.stderr}"
            if os.path.exists(log):
                with open(log, errors="replace") as stream:
                    text = stream.read()
                detail += "\nlog:\n" + "\n".join(text.splitlines()[-15:])
            else:
                text = ""
            ok = len(words) == 3 and words[0] == "exit"
            tap.ok(ok and words[1] == "0" and int(words[2]) < 10000,
                   f"{name}: SIGTERM while its peers' names hang -> exit 0 within 10 s"
                   + (f" (exit {words[1]} after {words[2]} ms)" if ok else ""), detail)
            tap.ok("stopped" in text, f"{name}: the service itself stopped cleanly first", detail)
    finally:
        harness.remove(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
