#!/bin/bash
# The compose deployment, tested for real with podman: builds the images
# (deploy/Dockerfile, deploy/prometheus/Dockerfile), brings
# deploy/docker-compose.yml up with 2 factories, waits for every health
# check, runs the real plan through the published orchestrator port from
# outside the containers (the Python client of deploy/examples/python, or
# farfanctl), checks the results and the report, checks that Prometheus
# scrapes every service (every target up, farfan_ metrics of each job),
# kills a factory that holds contracts in the middle of a second run and
# checks that the orchestrator dispatches them again and the run still
# completes with every result exactly once, checks that every daemon
# ends cleanly on SIGTERM, and tears everything down: it leaves no
# container, network or volume behind (trap), whatever happens.
#
#   deploy/compose-test.sh [--keep-images]
#
# Run as root (it installs packages with apt-get and runs rootful podman).
# Needs no Docker engine: podman with runc (its own containers.conf, via
# CONTAINERS_CONF: runtime runc, ulimits nofile 1024 / nproc 1000,
# netavark), podman-compose and Debian's docker-compose (`config` only).
# The base image docker.io/library/debian:bookworm-slim is built offline
# from the Debian mirror with mmdebstrap when absent, and reused when
# present. The images it builds (localhost/farfan:compose-test,
# localhost/farfan-prometheus:compose-test) are kept for the build cache
# of the next run; --keep-images is accepted for clarity, and
# FARFAN_COMPOSE_RMI=1 removes them at the end instead.
# FARFAN_COMPOSE_REUSE_IMAGES=1 uses those images as they are when present
# (no rebuild: for iterating on the compose files, not for CI).
#
# The plan: ../shared/farfan-upstream/plans/Plan_1.txt (and .pdf) beside
# the repository (FARFAN_SHARED_DIR overrides ../shared). Without it the
# runs are skipped, saying so; everything else is still tested.
#
# Output: one line per check (ok / FAIL / skip), then exactly one line
# `compose: N passed, N failed`. Exit 0 when nothing failed, 1 otherwise.
# Bounded: every step has its own time limit and the whole script stops
# itself (tearing down) after FARFAN_COMPOSE_LIMIT_S seconds (default 1800).
set -u

me=compose
root=$(cd "$(dirname "$0")/.." && pwd)
deploy="$root/deploy"
limit_s=${FARFAN_COMPOSE_LIMIT_S:-1800}
factories=2
rmi=${FARFAN_COMPOSE_RMI:-0}
for arg in "$@"; do
    case "$arg" in
        --keep-images) rmi=0 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "$me: unknown argument $arg (see --help)" >&2; exit 2 ;;
    esac
done

base_image=docker.io/library/debian:bookworm-slim
image=localhost/farfan:compose-test
prom_image=localhost/farfan-prometheus:compose-test
project="farfanct$$"
started_at=$(date +%s)
work=$(mktemp -d /tmp/farfan-compose.XXXXXX)
compose_files=(-f "$deploy/docker-compose.yml")

passed=0
failed=0
ok () { passed=$((passed + 1)); echo "ok   - $1"; }
fail () {
    failed=$((failed + 1))
    echo "FAIL - $1"
    shift
    for line in "$@"; do echo "       $line"; done
}
skip () { echo "skip - $1"; }
note () { echo "# $*"; }
elapsed () { echo $(($(date +%s) - started_at)); }

# --- teardown (trap) --------------------------------------------------------

up=0
teardown_done=0
# Removes every container, network and volume of the project; prints what
# it had to force. Safe to call more than once.
teardown () {
    [ "$teardown_done" -eq 0 ] || return 0
    teardown_done=1
    # The watchdog before its sleep: a watchdog that saw its sleep end first
    # would go on to its time-limit message and SIGTERM us.
    if [ -n "${watchdog:-}" ]; then
        local sleeper
        sleeper=$(pgrep -P "$watchdog" -x sleep)
        kill "$watchdog" 2>/dev/null
        [ -z "$sleeper" ] || kill $sleeper 2>/dev/null
    fi
    [ -n "${pinger:-}" ] && kill "$pinger" 2>/dev/null
    if [ "$up" -eq 1 ]; then
        timeout 180 podman-compose -p "$project" "${compose_files[@]}" down -v \
            >"$work/compose-down.log" 2>&1 || true
        # Whatever compose left: by label, then by name.
        local left
        left=$(podman ps -aq --filter "label=io.podman.compose.project=$project" 2>/dev/null)
        [ -z "$left" ] || timeout 60 podman rm -f -t 0 $left >/dev/null 2>&1
        for net in $(podman network ls -q --filter "name=^${project}_" 2>/dev/null); do
            timeout 30 podman network rm -f "$net" >/dev/null 2>&1
        done
        for vol in $(podman volume ls -q --filter "name=^${project}_" 2>/dev/null); do
            timeout 30 podman volume rm -f "$vol" >/dev/null 2>&1
        done
    fi
    podman rm -f -t 0 "$project-ctl" >/dev/null 2>&1
    if [ "$rmi" = 1 ]; then
        podman rmi -f "$image" "$prom_image" >/dev/null 2>&1
    fi
    rm -rf "$work"
}
summary () {
    teardown
    echo "$me: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
on_signal () {
    fail "interrupted ($1) after $(elapsed) s"
    summary
    exit 1
}
trap 'teardown' EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# The whole script's time limit: SIGTERM to ourselves (the trap tears down).
# Its sleep holds no descriptor of ours: a reader of our output (tests/run.sh
# pipes it through tee) must see the end of it when we exit.
( sleep "$limit_s" </dev/null >/dev/null 2>&1
  echo "$me: time limit of $limit_s s reached" >&2; kill -TERM $$ ) &
watchdog=$!

# abort MESSAGE...: a setup step failed; nothing after it can run.
abort () {
    fail "$@"
    summary
    exit 1
}

# --- 1. host: root, packages, podman configuration ---------------------------

[ "$(id -u)" -eq 0 ] || abort "must run as root (apt-get, rootful podman): sudo deploy/compose-test.sh"

# podman + runc: the engine; netavark + aardvark-dns: compose networks with
# DNS (service names, one A record per replica); iptables: netavark's port
# publishing; podman-compose: compose files; docker-compose: `config`
# validation only; mmdebstrap: the base image; curl, python3: the checks;
# python3-zmq/-msgpack/-protobuf + protobuf-compiler: the Python client.
# Rootful podman on ext4 needs neither uidmap, slirp4netns nor
# fuse-overlayfs (rootless podman does).
packages="podman runc netavark aardvark-dns iptables podman-compose docker-compose
mmdebstrap curl python3 python3-zmq python3-msgpack python3-protobuf protobuf-compiler
libzmq5 libczmq4 libprotobuf-c1 libmicrohttpd12 libpcre2-8-0 libsqlite3-0 libjansson4 libsodium23"
missing=""
for package in $packages; do
    case "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" in
        *" installed") ;;
        *) missing="$missing $package" ;;
    esac
done
if [ -n "$missing" ]; then
    note "installing:$missing"
    if ! { timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
           timeout 600 env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
               --no-install-recommends $missing; } >"$work/apt.log" 2>&1; then
        abort "packages:$missing could not be installed" "$(tail -n 5 "$work/apt.log")"
    fi
fi
ok "packages present (podman $(podman --version 2>/dev/null | awk '{print $3}'), podman-compose, docker-compose, mmdebstrap)"

# Our own containers.conf, for podman and podman-compose (which runs podman)
# alike, without touching the machine's /etc/containers.
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
dns_options = ["timeout:1", "attempts:1"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
EOF
export CONTAINERS_CONF="$work/containers.conf"
runtime=$(timeout 60 podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}}' 2>"$work/info.err")
if [ "$runtime" != "runc netavark" ]; then
    abort "podman is not configured (runtime and network backend: '${runtime}', want 'runc netavark')" \
        "$(tail -n 3 "$work/info.err")"
fi
ok "podman configured: runtime runc, netavark, ulimits nofile=1024 nproc=1000, resolver timeout 1 s"

# --- 2. compose files --------------------------------------------------------

if timeout 60 docker-compose "${compose_files[@]}" config -q >"$work/config.log" 2>&1; then
    ok "docker-compose config: docker-compose.yml is valid"
else
    fail "docker-compose config: docker-compose.yml" "$(tail -n 5 "$work/config.log")"
fi
mkdir -p "$work/curve/allowed"
if FARFAN_CURVE_DIR="$work/curve" timeout 60 docker-compose "${compose_files[@]}" \
        -f "$deploy/docker-compose.curve.yml" config >"$work/config-curve.yml" 2>"$work/config.log" &&
   grep -q "FARFAN_ORCHESTRATOR_CURVE_CERT: /run/farfan/curve/farfan.cert_secret" "$work/config-curve.yml" &&
   grep -q "FARFAN_FACTORY_CURVE_SERVER_CERT: /run/farfan/curve/farfan.cert" "$work/config-curve.yml" &&
   grep -q "$work/curve/allowed:/run/farfan/curve/allowed:ro" "$work/config-curve.yml"; then
    ok "docker-compose config: docker-compose.yml + docker-compose.curve.yml is valid (keys, mounts)"
else
    fail "docker-compose config: docker-compose.yml + docker-compose.curve.yml" "$(tail -n 5 "$work/config.log")"
fi

# --- 3. images ---------------------------------------------------------------

if podman image exists "$base_image"; then
    note "base image $base_image present: reused"
else
    note "building the base image $base_image with mmdebstrap (minbase bookworm)"
    t0=$(date +%s)
    # Like the official slim image: no manuals, docs or translations.
    if ! timeout 900 sh -c "mmdebstrap --variant=minbase --mode=root \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-exclude=/usr/share/info/*' \
            bookworm - 2>'$work/mmdebstrap.log' |
            podman import --change 'CMD [\"bash\"]' - '$base_image'" >"$work/import.log" 2>&1 ||
       ! podman image exists "$base_image"; then
        podman rmi -f "$base_image" >/dev/null 2>&1
        abort "base image: mmdebstrap | podman import failed" \
            "$(tail -n 5 "$work/mmdebstrap.log" "$work/import.log")"
    fi
    note "base image built in $(($(date +%s) - t0)) s"
fi
ok "base image $base_image"

# build NAME IMAGE CONTEXT DOCKERFILE: builds with the host's network (apt).
build () {
    local t0=$(date +%s)
    if [ "${FARFAN_COMPOSE_REUSE_IMAGES:-0}" = 1 ] && podman image exists "$2"; then
        ok "image $2 reused (FARFAN_COMPOSE_REUSE_IMAGES=1: not rebuilt)"
        return 0
    fi
    if timeout 1200 podman build --network host --layers -t "$2" -f "$4" "$3" \
            >"$work/build-$1.log" 2>&1; then
        local size
        size=$(podman image inspect --format '{{.Size}}' "$2" 2>/dev/null)
        ok "image $2 built in $(($(date +%s) - t0)) s ($((size / 1000000)) MB)"
        return 0
    fi
    abort "image $2 did not build (log: podman build -f $4)" "$(tail -n 15 "$work/build-$1.log")"
}
build farfan "$image" "$root" "$deploy/Dockerfile"
build prometheus "$prom_image" "$deploy/prometheus" "$deploy/prometheus/Dockerfile"
# Dangling layers of earlier builds of these images (not anything else).
podman image prune -f --filter "label=org.farfan.image" >/dev/null 2>&1

# farfanctl for the host, copied out of the image (same Debian 12, same
# libraries); through a host-network container when the host lacks them.
podman rm -f -t 0 "$project-ctl" >/dev/null 2>&1
if podman create --name "$project-ctl" "$image" true >/dev/null 2>&1 &&
   podman cp "$project-ctl:/usr/local/bin/farfanctl" "$work/farfanctl" >/dev/null 2>&1 &&
   ! ldd "$work/farfanctl" 2>&1 | grep -q 'not found'; then
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$work/farfanctl" >"$work/ctl"
    ctl_where="host (copied from the image)"
else
    # (the tree, the plans and the work directory mounted at their own paths)
    shared_dir=$(cd "${FARFAN_SHARED_DIR:-$root/../shared}" 2>/dev/null && pwd || echo "$work")
    printf '#!/bin/sh\nexec podman run --rm --network host -v "%s:%s" -v "%s:%s:ro" -v "%s:%s:ro" "%s" farfanctl "$@"\n' \
        "$work" "$work" "$root" "$root" "$shared_dir" "$shared_dir" "$image" >"$work/ctl"
    ctl_where="a host-network container"
fi
chmod 755 "$work/ctl"
ctl="$work/ctl"
podman rm -f -t 0 "$project-ctl" >/dev/null 2>&1
note "farfanctl runs on the $ctl_where"

# --- 4. the stack ------------------------------------------------------------

# Host ports (loopback): free ones, below the ephemeral range.
free_ports () {
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1]); ports = []
while len(ports) < n:
    p = random.randint(20000, 30000)
    if p in ports:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); ports.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(" ".join(map(str, ports)))
EOF
}
read -r orc_port sis_in_port sis_pub_port sis_ctl_port prom_port <<<"$(free_ports 5)"
export FARFAN_IMAGE="$image" FARFAN_PROMETHEUS_IMAGE="$prom_image" \
    FARFAN_FACTORIES="$factories" FARFAN_ORCHESTRATOR_PORT="$orc_port" \
    FARFAN_SISAS_INGEST_PORT="$sis_in_port" FARFAN_SISAS_PUBLISH_PORT="$sis_pub_port" \
    FARFAN_SISAS_CONTROL_PORT="$sis_ctl_port" FARFAN_PROMETHEUS_PORT="$prom_port" \
    FARFAN_FACTORY_MAX_WORKERS=2
orc="tcp://127.0.0.1:$orc_port"
prom="http://127.0.0.1:$prom_port"

up=1
if ! timeout 300 podman-compose -p "$project" "${compose_files[@]}" up -d \
        >"$work/compose-up.log" 2>&1; then
    note "podman-compose up exited non-zero; checking the containers"
fi
containers () {   # NAME STATE (running, exited...), one a line
    podman ps -aq --filter "label=io.podman.compose.project=$project" 2>/dev/null |
        xargs -r podman inspect --format '{{.Name}} {{.State.Status}}' 2>/dev/null | sort
}
want="${project}_factory_1 ${project}_factory_2 ${project}_orchestrator_1 ${project}_prometheus_1 ${project}_sisas_1"
have=$(containers | awk '$2 == "running" { printf "%s%s", sep, $1; sep = " " }')
if [ "$have" = "$want" ]; then
    ok "compose up: sisas, orchestrator, $factories factories, prometheus running"
else
    abort "compose up: running: '${have}', want '$want'" \
        "$(containers | tr '\n' ';')" "$(grep -iE 'error|Error' "$work/compose-up.log" | tail -n 5)"
fi
farfan_containers="${project}_sisas_1 ${project}_orchestrator_1 ${project}_factory_1 ${project}_factory_2"

# Health: the compose health checks (farfanctl ping), run on demand (podman
# schedules them with systemd timers; without systemd they run only so).
deadline=$(($(date +%s) + 150))
unhealthy=$farfan_containers
while [ -n "$unhealthy" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    still=""
    for c in $unhealthy; do
        timeout 20 podman healthcheck run "$c" >/dev/null 2>&1 || still="$still $c"
    done
    unhealthy=${still# }
    [ -z "$unhealthy" ] || sleep 1
done
if [ -z "$unhealthy" ]; then
    ok "health checks (farfanctl ping) pass in every farfan container ($(elapsed) s since the start)"
else
    abort "health checks still failing after 150 s: $unhealthy" \
        "$(podman logs --tail 5 "${unhealthy%% *}" 2>&1 | tr '\n' ';')"
fi

# Both factories registered with the orchestrator (through the published port).
deadline=$(($(date +%s) + 90))
registered=0
while [ "$(date +%s)" -lt "$deadline" ]; do
    registered=$("$ctl" factories --endpoint "$orc" --json 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); f=d.get("factories", d) if isinstance(d, dict) else d; print(len(f))' 2>/dev/null || echo 0)
    [ "$registered" -ge "$factories" ] && break
    sleep 1
done
if [ "$registered" -eq "$factories" ]; then
    ok "$factories factories registered with the orchestrator by service name (farfanctl factories, port $orc_port)"
else
    fail "factories registered: $registered, want $factories"
fi

# Logs go to the container's stdout/stderr.
if podman logs "${project}_orchestrator_1" 2>&1 | grep -q ' INFO  orchestrator: ' &&
   podman logs "${project}_factory_1" 2>&1 | grep -q ' INFO  factory: '; then
    ok "daemons log to stdout (podman logs)"
else
    fail "no INFO log lines in podman logs of the orchestrator / factory" \
        "$(podman logs --tail 3 "${project}_orchestrator_1" 2>&1 | tr '\n' ';')"
fi

# --- 5. runs -----------------------------------------------------------------

shared=${FARFAN_SHARED_DIR:-$root/../shared}
plan_txt="$shared/farfan-upstream/plans/Plan_1.txt"
plan_pdf="$shared/farfan-upstream/plans/Plan_1.pdf"

expected=$("$ctl" contracts check "$root/contracts/default" --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["contracts"])' 2>/dev/null)
case "$expected" in
    ''|*[!0-9]*) fail "farfanctl contracts check contracts/default --json gave no contract count"; expected=0 ;;
esac

# check_results FILE RUN LABEL: FILE holds farfanctl results --json (or the
# Python client's --results-out): every contract of the set exactly once, OK.
check_results () {
    local verdict
    verdict=$(python3 - "$1" "$expected" <<'EOF'
import collections, json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
expected = int(sys.argv[2])
results = doc.get("results", []) if isinstance(doc, dict) else doc
ids = [r.get("contract_id") for r in results]
counts = collections.Counter(ids)
twice = [i for i, n in counts.items() if n > 1]
status = collections.Counter(str(r.get("status", "")).replace("RESULT_", "").upper() for r in results)
bad = len(results) - status.get("OK", 0)
problems = []
if expected <= 0:
    problems.append("no expected contract count")
if len(counts) != expected:
    problems.append(f"{len(counts)} distinct contracts, want {expected}")
if twice:
    problems.append(f"{len(twice)} contracts more than once (e.g. {twice[0]})")
if bad:
    problems.append(f"{bad} results not OK ({dict(status)})")
print(("ok " if not problems else "bad ") + f"{len(results)} results, {len(counts)} contracts, "
      f"statuses {dict(status)}" + ("" if not problems else ": " + "; ".join(problems)))
EOF
)
    case "$verdict" in
        "ok "*) ok "$3: every contract has exactly one result, all OK (${verdict#ok })" ;;
        *) fail "$3: results of run $2" "${verdict:-unreadable results}" ;;
    esac
}

if [ ! -f "$plan_txt" ] || [ ! -f "$plan_pdf" ]; then
    skip "runs: $shared/farfan-upstream/plans/Plan_1.{txt,pdf} absent (../shared beside the repository): the analysis, report and factory-kill checks are skipped"
else
    # Run 1: the Python client (another language, on the host), Plan_1.txt.
    t0=$(date +%s)
    py="$deploy/examples/python/orchestrator_client.py"
    if /usr/bin/python3 -c 'import zmq, msgpack, google.protobuf' 2>/dev/null &&
       command -v protoc >/dev/null; then
        client="Python client"
        timeout 300 /usr/bin/python3 "$py" "$plan_txt" --endpoint "$orc" \
            --results-out "$work/results1.json" --format json --out "$work/report1.json" \
            --wait-timeout 240 --data-timeout 60000 >"$work/run1.log" 2>&1
        rc=$?
        run1=$(sed -n 's/^run \(run-[^ ]*\) submitted.*/\1/p' "$work/run1.log" | head -n 1)
    else
        client="farfanctl"
        run1=$(timeout 60 "$ctl" run "$plan_txt" --no-wait --endpoint "$orc" 2>"$work/run1.log")
        timeout 300 "$ctl" status "$run1" --wait --endpoint "$orc" >>"$work/run1.log" 2>&1 &&
        timeout 120 "$ctl" results "$run1" --json --endpoint "$orc" --timeout 60000 >"$work/results1.json" 2>>"$work/run1.log" &&
        timeout 120 "$ctl" report "$run1" --format json --out "$work/report1.json" --endpoint "$orc" --timeout 60000 >/dev/null 2>>"$work/run1.log"
        rc=$?
    fi
    if [ "$rc" -eq 0 ] && [ -n "$run1" ]; then
        ok "run 1 ($client on the host -> 127.0.0.1:$orc_port): Plan_1.txt SUCCEEDED in $(($(date +%s) - t0)) s"
        check_results "$work/results1.json" "$run1" "run 1"
        verdict=$(python3 - "$work/report1.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
areas = r.get("policy_areas", [])
macro = r.get("macro")
ok = r.get("format") == "farfan-report/1" and macro is not None and len(areas) == 10
print(("ok " if ok else "bad ") + f"format {r.get('format')}, macro {'present' if macro is not None else 'absent'}, {len(areas)} policy areas")
EOF
)
        case "$verdict" in
            "ok "*) ok "run 1 report: ${verdict#ok }" ;;
            *) fail "run 1 report" "${verdict:-unreadable report}" ;;
        esac
    else
        fail "run 1 ($client): Plan_1.txt did not succeed (exit $rc)" "$(tail -n 8 "$work/run1.log")"
    fi
fi

# --- 6. Prometheus -------------------------------------------------------------

# Every target up: orchestrator 1, sisas 1, factory $factories, prometheus 1.
deadline=$(($(date +%s) + 90))
while :; do
    verdict=$(curl -sS --max-time 5 "$prom/api/v1/targets?state=active" 2>/dev/null |
        python3 -c '
import collections, json, sys
want = {"farfan-orchestrator": 1, "farfan-sisas": 1, "farfan-factory": int(sys.argv[1]), "prometheus": 1}
targets = json.load(sys.stdin)["data"]["activeTargets"]
up = collections.Counter(t["labels"]["job"] for t in targets if t["health"] == "up")
down = [t["scrapeUrl"] + " " + t["health"] for t in targets if t["health"] != "up"]
ok = dict(up) == want and not down
print(("ok " if ok else "bad ") + f"up {dict(up)}, want {want}" + (f", not up: {down}" if down else ""))
' "$factories" 2>/dev/null)
    case "$verdict" in "ok "*) break ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 2
done
case "$verdict" in
    "ok "*) ok "prometheus: every target up (${verdict#ok }) — each factory found by DNS" ;;
    *) fail "prometheus targets" "${verdict:-no answer from $prom/api/v1/targets}" ;;
esac
verdict=$(curl -sS --max-time 10 -G "$prom/api/v1/query" \
        --data-urlencode 'query=count by (job) ({__name__=~"farfan_.+"})' 2>/dev/null |
    python3 -c '
import json, sys
d = json.load(sys.stdin)
jobs = {r["metric"].get("job"): int(float(r["value"][1])) for r in d["data"]["result"]}
want = {"farfan-orchestrator", "farfan-sisas", "farfan-factory"}
print(("ok " if want <= set(jobs) and d["status"] == "success" else "bad ") + f"farfan_ series by job: {jobs}")
' 2>/dev/null)
case "$verdict" in
    "ok "*) ok "prometheus: farfan_ metrics of every service (${verdict#ok })" ;;
    *) fail "prometheus query of farfan_ metrics" "${verdict:-no answer from $prom/api/v1/query}" ;;
esac

# --- 7. a factory killed in the middle of a run ---------------------------------

# prom_value QUERY: the sum of an instant query's values, or "" (no answer).
prom_value () {
    curl -sS --max-time 10 -G "$prom/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
print(int(sum(float(r["value"][1]) for r in d["data"]["result"])) if d["status"] == "success" else "")
' 2>/dev/null
}
# prom_scraped_since T: Prometheus has scraped the orchestrator after unix time
# T (its counters as of then are in the next instant query), within 20 s.
prom_scraped_since () {
    local deadline=$(($(date +%s) + 20)) last
    while :; do
        last=$(prom_value 'max(timestamp(up{job="farfan-orchestrator"}))')
        [ -n "$last" ] && [ "$last" -gt "$1" ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 1
    done
}

# The killer: submits the run with `farfanctl run --wait --interval 0`,
# which prints every change of the run as the orchestrator reports it; as
# soon as a phase of 300 contracts (P02, P03) is being dispatched, it asks
# the orchestrator's FACTORIES (farfanctl factories --json: contracts in
# flight per factory instance id) and SIGKILLs the container of the factory
# with the most in flight right then: its main process (the container's
# PID 1, farfan-factory), from the host, as `podman kill` would but without
# podman's own start-up (0.3 s on an idle machine, more on a busy one: time
# in which the factory could hand back what it holds). Polling STATUS with
# a process per poll instead misses phases that last under a second.
# Arguments: CTL ORC PDF PARAMS LIMIT_S HOSTNAME=CONTAINER:PID...
# (a factory's instance id is its container's hostname, '-', 8 hex digits).
# Prints "run RUN", then "killed CONTAINER PID INSTANCE IN_FLIGHT POLLS
# SECONDS PHASE running DONE/TOTAL" (IN_FLIGHT: the orchestrator's count in
# the poll just before the kill; the phase's progress as last reported) or
# "missed WHY", then follows the run to its end ("watch-exit CODE"; every
# progress line, timed, in kill.py.progress); exits 0 when it killed.
cat >"$work/kill.py" <<'EOF'
import json, os, queue, re, signal, subprocess, sys, threading, time
ctl, orc, pdf, params, limit = sys.argv[1:6]
hosts = {}
for arg in sys.argv[6:]:
    host, _, rest = arg.partition("=")
    name, _, pid = rest.rpartition(":")
    if host and name and pid.isdigit():
        hosts[host] = (name, int(pid))

watch = subprocess.Popen([ctl, "run", pdf, "--wait", "--interval", "0", "--name", "compose-kill",
                          "--params", params, "--endpoint", orc, "--timeout", "60000"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
lines = queue.Queue()
def reader():
    for line in watch.stdout:
        lines.put(line.rstrip("\n"))
    lines.put(None)
threading.Thread(target=reader, daemon=True).start()
log = open(sys.argv[0] + ".progress", "w", encoding="utf-8")
start = time.monotonic()

def next_line(timeout):
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        return ""
    if line is not None:
        print(f"{time.monotonic() - start:7.3f} {line}", file=log, flush=True)
    return line

def factories():
    p = subprocess.run([ctl, "factories", "--json", "--endpoint", orc, "--timeout", "5000"],
                       capture_output=True, text=True)
    try:
        return json.loads(p.stdout).get("factories", []) if p.returncode == 0 else []
    except ValueError:
        return []

def finish(code):
    # The watcher goes on to the run's end (its progress is in the log).
    while next_line(None) is not None:
        pass
    print("watch-exit", watch.wait(), flush=True)
    sys.exit(code)

run = None
progress = "-"          # the last progress line of a phase
big = re.compile(r"^(P0[23]) running (\d+)/(\d+)")
armed = False
polls = 0
while time.monotonic() - start < float(limit):
    line = next_line(0 if armed else 0.5)
    if line is None:
        print("missed", f"the run ended ({progress}) before a factory was seen with contracts in flight ({polls} polls)")
        finish(1)
    if line:
        if run is None and line.startswith("run-"):
            run = line.split()[0]
            print("run", run, flush=True)
        if re.match(r"^P\d\d ", line):
            progress = line
        m = big.match(line)
        if m:
            armed = int(m.group(2)) < int(m.group(3))
        elif re.match(r"^P0[23] \d+/\d+ ", line):
            armed = False         # that phase ended
        if not armed:
            continue
    if not armed:
        continue
    # A phase of 300 contracts is being dispatched: the factory with the
    # most in flight now, killed right away.
    polls += 1
    busy = []
    for f in factories():
        host = str(f.get("instance_id", "")).rpartition("-")[0]
        if f.get("in_flight", 0) > 0 and host in hosts:
            busy.append((f["in_flight"], f["instance_id"], host))
    if not busy:
        continue
    in_flight, instance, host = max(busy)
    name, pid = hosts[host]
    try:
        with open(f"/proc/{pid}/comm") as comm:
            if comm.read().strip() != "farfan-factory":
                raise OSError(f"pid {pid} is not farfan-factory")
        os.kill(pid, signal.SIGKILL)
    except OSError as e:
        print("missed", f"cannot kill {name} ({e})")
        finish(1)
    print("killed", name, pid, instance, in_flight, polls, f"{time.monotonic() - start:.2f}",
          " ".join(progress.split()[:3]), flush=True)
    finish(0)
print("missed", f"no factory seen with contracts in flight within {limit} s ({progress}; {polls} polls)")
watch.terminate()
finish(1)
EOF

if [ -f "$plan_pdf" ]; then
    # The counters before the run, as of a scrape after run 1 ended.
    prom_scraped_since "$(date +%s)" || note "Prometheus has not scraped the orchestrator for 20 s"
    t0=$(date +%s)
    expired_before=$(prom_value 'farfan_factory_expirations_total{job="farfan-orchestrator"}')
    lost_before=$(prom_value 'farfan_contracts_redispatched_total{job="farfan-orchestrator",reason="lost"}')
    duplicates_before=$(prom_value 'farfan_results_duplicate_total{job="farfan-orchestrator"}')
    factory_map=""
    for c in ${project}_factory_1 ${project}_factory_2; do
        factory_map="$factory_map $(podman inspect --format '{{.Config.Hostname}}={{.Name}}:{{.State.Pid}}' "$c" 2>/dev/null)"
    done
    # The client API as a client outside sees it during the run: farfanctl
    # ping from the host every 0.2 s (rtt: send to reply, connection
    # included), until the run has ended.
    ( while :; do
          "$ctl" ping orchestrator --json --endpoint "$orc" --timeout 10000 --retries 1 2>/dev/null ||
              echo '{"failed": true}'
          sleep 0.2
      done ) >"$work/ping2.log" 2>/dev/null </dev/null &
    pinger=$!
    # The PDF (converted by the orchestrator's pdftotext) with params of its
    # own: nothing of it is in any cache, every contract really runs.
    timeout 420 python3 "$work/kill.py" "$ctl" "$orc" "$plan_pdf" "{\"compose_test\":\"$project\"}" 120 \
        $factory_map >"$work/kill.log" 2>&1
    run2=$(sed -n 's/^run \(run-[^ ]*\)$/\1/p' "$work/kill.log")
    read -r verdict victim victim_pid victim_id victim_in_flight polls kill_s kill_phase _ kill_done \
        <<<"$(grep -E '^(killed|missed) ' "$work/kill.log" | tail -n 1)"
    if [ -z "$run2" ]; then
        fail "run 2: Plan_1.pdf could not be submitted" "$(tail -n 5 "$work/kill.log" "$work/kill.py.progress" 2>/dev/null)"
    else
        # The container died of it (exit 137); podman may have started it
        # again since (restart: unless-stopped: a kill not through podman
        # counts as a crash), as a new factory instance. Its "died" event
        # says so; without podman events, its state (stopped with 137, or
        # running again as another process).
        died=""
        if [ "${verdict:-}" = killed ]; then
            died=$(timeout 30 podman events --stream=false --since "$t0" --filter "container=$victim" \
                   --filter event=died --format '{{.ContainerExitCode}}' 2>/dev/null | tail -n 1)
            if [ -z "$died" ]; then
                read -r running code pid_now <<<"$(podman inspect \
                    --format '{{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}' "$victim" 2>/dev/null)"
                [ "${running:-}" = false ] && died=$code
                [ "${running:-}" = true ] && [ "${pid_now:-}" != "$victim_pid" ] && died=137
            fi
        fi
        if [ "${verdict:-}" = killed ] && [ "$died" = 137 ]; then
            restarts=$(podman inspect --format '{{.RestartCount}}' "$victim" 2>/dev/null)
            ok "run 2 (farfanctl, Plan_1.pdf): $victim (factory $victim_id) killed (SIGKILL, exit 137) with $victim_in_flight contracts in flight to it, ${kill_s} s after the submission (phase $kill_phase running, $kill_done done; FACTORIES polls: $polls; restarted by podman since: ${restarts:-?} times)"
        else
            fail "run 2: no factory was killed holding contracts in flight" "$(tail -n 3 "$work/kill.log")" \
                "${died:+$victim died with exit $died}" "$(tail -n 4 "$work/kill.py.progress" 2>/dev/null)"
            victim_id=""
        fi
        if timeout 300 "$ctl" status "$run2" --wait --endpoint "$orc" >"$work/run2-status.log" 2>&1; then
            took=$("$ctl" status "$run2" --json --endpoint "$orc" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("%.1f" % ((s["ended_at_us"] - s["submitted_at_us"]) / 1e6))' 2>/dev/null)
            ok "run 2 SUCCEEDED despite the killed factory (in ${took:-?} s, submission to end)"
        else
            fail "run 2 did not succeed after the factory kill" "$(tail -n 8 "$work/run2-status.log")"
        fi
        kill "$pinger" 2>/dev/null
        if timeout 120 "$ctl" results "$run2" --json --endpoint "$orc" --timeout 60000 \
                >"$work/results2.json" 2>"$work/results2.err"; then
            check_results "$work/results2.json" "$run2" "run 2 (factory killed)"
        else
            fail "run 2: farfanctl results failed" "$(tail -n 3 "$work/results2.err")"
        fi
        # The orchestrator gave the dead factory up (liveness 3 x heartbeat
        # 1 s) and dispatched what it held again (reason "lost"), as its
        # metrics scraped by Prometheus and its log say.
        deadline=$(($(date +%s) + 45))
        while :; do
            expired=$(prom_value 'farfan_factory_expirations_total{job="farfan-orchestrator"}')
            lost=$(prom_value 'farfan_contracts_redispatched_total{job="farfan-orchestrator",reason="lost"}')
            [ -n "$expired" ] && [ "$expired" -gt "${expired_before:-0}" ] &&
                [ -n "$lost" ] && [ "$lost" -gt "${lost_before:-0}" ] && break
            [ "$(date +%s)" -lt "$deadline" ] || break
            sleep 2
        done
        duplicates=$(prom_value 'farfan_results_duplicate_total{job="farfan-orchestrator"}')
        expiry_log=""
        [ -n "$victim_id" ] && expiry_log=$(podman logs "${project}_orchestrator_1" 2>&1 |
            grep -m 1 "factory $victim_id expired: silent")
        if [ -n "$expired" ] && [ "$expired" -gt "${expired_before:-0}" ] && [ -n "$expiry_log" ]; then
            ok "orchestrator gave the killed factory up (farfan_factory_expirations_total ${expired_before:-?} -> $expired; log: ${expiry_log#* orchestrator: })"
        else
            fail "orchestrator did not give the killed factory ${victim_id:-?} up within 45 s" \
                "farfan_factory_expirations_total ${expired_before:-?} -> ${expired:-no answer}; log line: ${expiry_log:-none}"
        fi
        if [ -n "$lost" ] && [ "$lost" -gt "${lost_before:-0}" ]; then
            ok "orchestrator dispatched the killed factory's contracts again (farfan_contracts_redispatched_total{reason=\"lost\"} ${lost_before:-?} -> $lost), duplicate results dropped ${duplicates_before:-?} -> ${duplicates:-?}"
        else
            fail "no contract of the killed factory was dispatched again (farfan_contracts_redispatched_total{reason=\"lost\"} ${lost_before:-?} -> ${lost:-no answer}): the kill did not take work away" \
                "duplicate results dropped ${duplicates_before:-?} -> ${duplicates:-?}"
        fi
        note "$(python3 - "$work/ping2.log" <<'EOF'
import json, sys
rtts, failed = [], 0
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if "rtt_ms" in d:
        rtts.append(float(d["rtt_ms"]))
    else:
        failed += 1
rtts.sort()
q = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))]
print(f"orchestrator client API during run 2 (farfanctl ping from the host every 0.2 s): {len(rtts)} answered"
      + (f", rtt p50 {q(.5):.1f} ms, p90 {q(.9):.1f} ms, max {rtts[-1]:.1f} ms" if rtts else "")
      + f", {failed} unanswered in 10 s")
EOF
)"
    fi
    kill "$pinger" 2>/dev/null
else
    skip "factory kill mid-run: $plan_pdf absent"
fi

# --- 8. SIGTERM ends every daemon cleanly, then teardown ----------------------

stopped_ok=""
stopped_bad=""
# In the order compose stops them: factories, orchestrator, SISAS.
for c in ${project}_factory_2 ${project}_factory_1 ${project}_orchestrator_1 ${project}_sisas_1; do
    [ "$(podman inspect --format '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || continue
    t0=$(date +%s)
    timeout 60 podman stop -t 30 "$c" >/dev/null 2>&1
    code=$(podman inspect --format '{{.State.ExitCode}}' "$c" 2>/dev/null)
    took=$(($(date +%s) - t0))
    if [ "$code" = 0 ] && [ "$took" -lt 30 ]; then
        stopped_ok="$stopped_ok ${c#"${project}_"}"
    else
        stopped_bad="$stopped_bad ${c#"${project}_"}(exit $code, ${took}s)"
        podman logs --tail 12 "$c" >"$work/stop-$c.log" 2>&1
    fi
done
if [ -n "$stopped_ok" ] && [ -z "$stopped_bad" ]; then
    ok "SIGTERM (podman stop): exit 0 within the grace period:$stopped_ok"
else
    fail "SIGTERM (podman stop): not clean:${stopped_bad:- none stopped}" \
        "$(cat "$work"/stop-*.log 2>/dev/null | grep -v 'systemd' | tail -n 24)"
fi

teardown
left=$(podman ps -aq --filter "label=io.podman.compose.project=$project" 2>/dev/null | wc -l)
nets=$(podman network ls -q --filter "name=^${project}_" 2>/dev/null | wc -l)
vols=$(podman volume ls -q --filter "name=^${project}_" 2>/dev/null | wc -l)
if [ "$left" -eq 0 ] && [ "$nets" -eq 0 ] && [ "$vols" -eq 0 ]; then
    ok "teardown: no container, network or volume of $project left ($(elapsed) s in all)"
else
    fail "teardown left $left containers, $nets networks, $vols volumes of $project"
fi

summary
exit $?
