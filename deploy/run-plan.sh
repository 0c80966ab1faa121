#!/bin/sh
# Runs one plan through the whole FARFAN pipeline (P00-P09) on services of
# their own: starts SISAS, an orchestrator on the default contract set and
# two factories registered with it, runs the plan, writes the report
# (JSON, Markdown, HTML), prints the macro score and the policy-area
# table, and stops the services. deploy/quickstart.sh calls it after
# installing and building; the meson test `quickstart_sample` calls it on
# a build's binaries with ports of its own.
#
#   deploy/run-plan.sh [--build DIR] [--out DIR] [--port-base N|auto]
#                      [--no-http] [PLAN]
#
# PLAN: UTF-8 text or PDF (default: deploy/sample/plan-municipal-ejemplo.txt).
# --build: the meson build directory holding services/ (default:
#   $FARFAN_BUILD_DIR, else build). --out: logs, the orchestrator's store
#   and the report files (default: BUILD/quickstart). --port-base: ports
#   are laid out from N as the documented defaults are from 5550 (the
#   default): orchestrator N, N+1; factories N+10, N+11; SISAS N+20..N+22;
#   HTTP /metrics and /healthz at N+4000, +4010, +4011, +4020. `auto` picks
#   a base whose ports are all free, below the kernel's ephemeral range.
#   --no-http: no HTTP endpoints.
#
# Exit: 0 the run succeeded and the report is complete; 1 a service did not
# start or stop cleanly, the run failed, or the report is incomplete; 2
# usage, or the plan cannot be read. Whatever happens, every service it
# started is stopped before it returns (trap): it leaves no process behind.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
me="run-plan"

usage () {
    sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

die () {
    echo "$me: $*" >&2
    exit 1
}

build=${FARFAN_BUILD_DIR:-build}
out=""
port_base=5550
http=1
plan=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
        --port-base) [ $# -ge 2 ] || usage; port_base=$2; shift 2 ;;
        --no-http) http=0; shift ;;
        -h|--help) usage ;;
        -*) echo "$me: unknown option $1" >&2; usage ;;
        *) [ -z "$plan" ] || usage; plan=$1; shift ;;
    esac
done

# Paths given relative to where we were called from.
absolute () {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$(pwd)" "$1" ;;
    esac
}
case "$build" in
    /*) ;;
    *) if [ -d "$build" ]; then build=$(absolute "$build"); else build="$root/$build"; fi ;;
esac
[ -n "$out" ] || out="$build/quickstart"
out=$(absolute "$out")
[ -n "$plan" ] || plan="$root/deploy/sample/plan-municipal-ejemplo.txt"
plan=$(absolute "$plan")

if [ ! -e "$plan" ]; then
    echo "$me: $plan: no such file" >&2
    exit 2
fi
if [ ! -f "$plan" ] || [ ! -r "$plan" ]; then
    echo "$me: $plan: not a readable file" >&2
    exit 2
fi

bin="$build/services"
ctl="$bin/farfanctl"
for program in farfan-sisas farfan-orchestrator farfan-factory farfanctl; do
    [ -x "$bin/$program" ] || die "$bin/$program not found: build first (ninja -C $build)"
done
contracts="$root/contracts/default"
[ -d "$contracts" ] || die "$contracts: no contract set"

# --- ports --------------------------------------------------------------

# Listening TCP ports (IPv4 and IPv6), decimal, one a line, from /proc.
listening_ports () {
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '
        function hex(s,    i, n) {
            n = 0
            for (i = 1; i <= length(s); i++)
                n = n * 16 + index("0123456789ABCDEF", toupper(substr(s, i, 1))) - 1
            return n
        }
        $4 == "0A" { n = split($2, a, ":"); print hex(a[n]) }'
}

# The ports of base $1, "port what" one a line.
port_plan () {
    b=$1
    echo "$b orchestrator client API"
    echo "$((b + 1)) orchestrator worker API"
    echo "$((b + 10)) factory 1 direct API"
    echo "$((b + 11)) factory 2 direct API"
    echo "$((b + 20)) SISAS ingest"
    echo "$((b + 21)) SISAS delivery"
    echo "$((b + 22)) SISAS control API"
    if [ "$http" -eq 1 ]; then
        echo "$((b + 4000)) orchestrator HTTP"
        echo "$((b + 4010)) factory 1 HTTP"
        echo "$((b + 4011)) factory 2 HTTP"
        echo "$((b + 4020)) SISAS HTTP"
    fi
}

# Prints the planned ports of base $1 already listened on.
busy_ports () {
    listening_ports | sort -u >"$out/.listening"
    port_plan "$1" | while read -r port what; do
        if grep -qx "$port" "$out/.listening"; then
            echo "    $port ($what)"
        fi
    done
    rm -f "$out/.listening"
}

mkdir -p "$out"
if [ "$port_base" = auto ]; then
    # Below 32768, where Linux hands out ephemeral ports (other tests'
    # tcp://127.0.0.1:* sockets), so a free port stays free.
    candidate=$((20000 + ($$ % 200) * 50))
    tries=0
    while [ -n "$(busy_ports "$candidate")" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || die "no free block of ports found between 20000 and 30000"
        candidate=$((20000 + (candidate - 20000 + 50) % 10000))
    done
    port_base=$candidate
fi
case "$port_base" in
    ''|*[!0-9]*) echo "$me: --port-base: '$port_base' is not a port number or auto" >&2; exit 2 ;;
esac
if [ "$port_base" -lt 1024 ] || [ "$port_base" -gt 61000 ]; then
    echo "$me: --port-base: $port_base is out of range (1024..61000)" >&2
    exit 2
fi
busy=$(busy_ports "$port_base")
if [ -n "$busy" ]; then
    echo "$me: ports already in use (another farfan, or something else, is listening):" >&2
    printf '%s\n' "$busy" >&2
    die "stop what listens there, or give other ports: deploy/run-plan.sh --port-base N"
fi

host=127.0.0.1
orc_client="tcp://$host:$port_base"
orc_worker="tcp://$host:$((port_base + 1))"
fac1="tcp://$host:$((port_base + 10))"
fac2="tcp://$host:$((port_base + 11))"
sis_ingest="tcp://$host:$((port_base + 20))"
sis_publish="tcp://$host:$((port_base + 21))"
sis_control="tcp://$host:$((port_base + 22))"
http_port () {
    if [ "$http" -eq 1 ]; then echo $((port_base + 4000 + $1)); else echo 0; fi
}

# --- services -----------------------------------------------------------

pids=""
# terminate: SIGTERM to every service started, repeated each second to
# those still running (a service still starting up can miss the first:
# seen with a factory loading its contracts), SIGKILL after 15 s. Sets
# $killed to the number of services that had to be killed.
terminate () {
    killed=0
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    ticks=0
    while :; do
        alive=""
        for pid in $pids; do
            # exited but not yet reaped (zombie, state Z in /proc) counts as stopped
            if kill -0 "$pid" 2>/dev/null &&
               [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" != Z ]; then
                alive="$alive $pid"
            fi
        done
        [ -n "$alive" ] || break
        ticks=$((ticks + 1))
        if [ "$ticks" -ge 75 ]; then
            for pid in $alive; do
                echo "$me: pid $pid did not stop within 15 s: killed" >&2
                kill -KILL "$pid" 2>/dev/null || true
                killed=$((killed + 1))
            done
            break
        fi
        if [ $((ticks % 5)) -eq 0 ]; then
            for pid in $alive; do kill -TERM "$pid" 2>/dev/null || true; done
        fi
        sleep 0.2
    done
}
stop_all () {
    terminate
    for pid in $pids; do
        wait "$pid" 2>/dev/null || true
    done
    pids=""
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all; exit 129' HUP
trap 'stop_all; exit 141' PIPE   # e.g. piped into head: still stop them

tag="rp$$"
# Each run starts from an empty store: an earlier run interrupted here
# would otherwise be resumed by the new orchestrator. Only a directory
# that holds an orchestrator store (or nothing) is removed.
if [ -d "$out/data" ]; then
    for entry in "$out/data"/* "$out/data"/.[!.]*; do
        [ -e "$entry" ] || continue
        case "${entry##*/}" in
            orchestrator.db|orchestrator.db-wal|orchestrator.db-shm|orchestrator.db-journal) ;;
            *) die "$out/data holds ${entry##*/}, which is not an orchestrator store: give another --out" ;;
        esac
    done
    rm -rf "$out/data"
fi
rm -f "$out/report.json" "$out/report.md" "$out/report.html"

# start NAME PROGRAM ARGS...: starts $bin/PROGRAM with its log in
# $out/NAME.log; sets $started to its pid.
start () {
    name=$1
    program=$2
    shift 2
    "$bin/$program" --instance-id "$tag-$name" --http-address "$host" "$@" \
        >"$out/$name.log" 2>&1 &
    started=$!
    pids="$pids $started"
    echo "started $program as $name (pid $started, log $out/$name.log)"
}

# gone NAME PID: fails when the service exited, with its log's errors.
gone () {
    if ! kill -0 "$2" 2>/dev/null; then
        echo "$me: $1 exited during start-up; from $out/$1.log:" >&2
        grep -E 'ERROR|FATAL|cannot' "$out/$1.log" >&2 || tail -n 20 "$out/$1.log" >&2
        exit 1
    fi
}

# Start-up waits give up after $wait_s seconds (a factory loads and
# compiles 679 contracts first: about a second, much more on a loaded
# machine); requests that carry a document or a report get $slow_ms.
wait_s=90
slow_ms=60000

# ready NAME PID SERVICE ENDPOINT: waits until the service answers PING as
# the instance started here (not another process on that port).
ready () {
    name=$1
    pid=$2
    deadline=$(($(date +%s) + wait_s))
    while :; do
        gone "$name" "$pid"
        if answer=$("$ctl" ping "$3" --endpoint "$4" --timeout 250 --retries 1 --json 2>/dev/null); then
            case "$answer" in
                *"\"instance_id\":\"$tag-$name\""*)
                    "$ctl" ping "$3" --endpoint "$4" --timeout 1000
                    return 0 ;;
            esac
            sleep 0.2   # someone else answered: ours is binding or dying
        fi
        [ "$(date +%s)" -lt "$deadline" ] ||
            die "$name did not answer on $4 within $wait_s s; log: $out/$name.log"
    done
}

echo "== starting the services (ports from $port_base, logs and store in $out)"
start sisas farfan-sisas --http-port "$(http_port 20)" \
    --ingest-endpoint "@$sis_ingest" --publish-endpoint "@$sis_publish" \
    --control-endpoint "@$sis_control"
sisas_pid=$started
start orchestrator farfan-orchestrator --http-port "$(http_port 0)" \
    --client-endpoint "@$orc_client" --worker-endpoint "@$orc_worker" \
    --sisas-endpoint ">$sis_ingest" --sisas-control-endpoint ">$sis_publish" \
    --contracts-dir "$contracts" --data-dir "$out/data"
orc_pid=$started
# start_factory N ENDPOINT
start_factory () {
    start "factory-$1" farfan-factory --http-port "$(http_port $((9 + $1)))" \
        --endpoint "@$2" --orchestrator-endpoint ">$orc_worker" \
        --sisas-endpoint ">$sis_ingest" --sisas-control-endpoint ">$sis_publish" \
        --contracts-dir "$contracts"
}
start_factory 1 "$fac1"
fac1_pid=$started
start_factory 2 "$fac2"
fac2_pid=$started

echo
echo "== ping"
ready sisas "$sisas_pid" sisas "$sis_control"
ready orchestrator "$orc_pid" orchestrator "$orc_client"
ready factory-1 "$fac1_pid" factory "$fac1"
ready factory-2 "$fac2_pid" factory "$fac2"

if [ "$http" -eq 1 ] && command -v curl >/dev/null 2>&1; then
    for entry in sisas:20 orchestrator:0 factory-1:10 factory-2:11; do
        name=${entry%%:*}
        port=$(http_port "${entry##*:}")
        code=$(curl -sS -o "$out/.metrics" -w '%{http_code}' "http://$host:$port/metrics" || true)
        series=$(grep -c '^farfan_' "$out/.metrics" 2>/dev/null || true)
        health=$(curl -sS -o /dev/null -w '%{http_code}' "http://$host:$port/healthz" || true)
        echo "$name: http://$host:$port /healthz $health, /metrics $code ($series series)"
    done
    rm -f "$out/.metrics"
fi

echo
echo "== waiting for both factories to register with the orchestrator"
deadline=$(($(date +%s) + wait_s))
while :; do
    gone factory-1 "$fac1_pid"
    gone factory-2 "$fac2_pid"
    list=$("$ctl" factories --endpoint "$orc_client" --json 2>/dev/null || true)
    case "$list" in
        *"\"instance_id\":\"$tag-factory-1\""*"\"instance_id\":\"$tag-factory-2\""* | \
        *"\"instance_id\":\"$tag-factory-2\""*"\"instance_id\":\"$tag-factory-1\""*)
            break ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] ||
        die "the factories did not register within $wait_s s; logs: $out/factory-1.log, $out/factory-2.log"
    sleep 0.2
done
"$ctl" factories --endpoint "$orc_client"

echo
echo "== run: $plan"
if ! run=$("$ctl" run "$plan" --no-wait --endpoint "$orc_client" --timeout "$slow_ms"); then
    die "could not submit $plan (farfanctl says why above)"
fi
watch=0
"$ctl" status "$run" --wait --endpoint "$orc_client" --timeout 5000 || watch=$?
if [ "$watch" -ne 0 ]; then
    "$ctl" status "$run" --endpoint "$orc_client" >&2 || true
    die "run $run did not succeed (farfanctl exit $watch); logs in $out"
fi

echo
echo "== report"
for format in json markdown html; do
    case "$format" in
        markdown) file="$out/report.md" ;;
        *) file="$out/report.$format" ;;
    esac
    "$ctl" report "$run" --format "$format" --out "$file" --endpoint "$orc_client" \
        --timeout "$slow_ms" >/dev/null ||
        die "could not write the $format report of $run"
done

# The macro score and the policy-area table, from the Markdown report: the
# "| AGG_MACRO |" row of "## Overall" and the rows of "## Policy areas".
md="$out/report.md"
inputs=$(sed -n 's/^\([0-9][0-9]*\) of \([0-9][0-9]*\) inputs present and OK.*/\1 \2/p' "$md" | head -n 1)
macro=$(awk -F'|' '/^## Overall/ { s = 1; next } /^## / { s = 0 }
    s && $2 ~ /AGG_MACRO/ { gsub(/ /, "", $4); gsub(/^ +| +$/, "", $5); print $4, $5; exit }' "$md")
areas=$(awk -F'|' '/^## Policy areas/ { s = 1; next } /^## / { s = 0 }
    s && $2 ~ /^ PA[0-9][0-9] $/ {
        for (i = 2; i <= 6; i++) gsub(/^ +| +$/, "", $i)
        printf "%-6s %5s  %-13s %s\n", $2, $5, $6, $3 }' "$md")
rows=$(printf '%s\n' "$areas" | grep -c '^PA' || true)

present=${inputs%% *}
total=${inputs##* }
if [ -z "$inputs" ] || [ "$present" != "$total" ] || [ -z "$macro" ] || [ "$rows" -ne 10 ]; then
    die "the report of $run is incomplete (inputs: ${inputs:-none}, macro: ${macro:-none}, policy areas: $rows of 10); see $md"
fi
echo "Plan: $plan"
echo "Run $run: P00-P09 succeeded, the report has all $total of its inputs"
echo
echo "Macro score (AGG_MACRO): ${macro%% *} of 3 (${macro#* })"
echo
printf '%-6s %5s  %-13s %s\n' "Area" "Score" "Quality" "Policy area"
printf '%s\n' "$areas"
echo
echo "Report files:"
for file in "$out/report.json" "$out/report.md" "$out/report.html"; do
    echo "    $file ($(wc -c <"$file" | tr -d ' ') bytes)"
done

echo
echo "== stopping"
terminate
failed=$killed
for pid in $pids; do
    wait "$pid" || failed=$((failed + 1))
done
pids=""
[ "$failed" -eq 0 ] || die "$failed service(s) did not exit cleanly; logs in $out"
echo "all services stopped cleanly"
