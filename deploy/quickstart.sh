#!/bin/sh
# README command 1: installs what is needed, builds farfan, starts the three
# services on loopback, runs the main job, stops the services.
#
# The main job, until the analysis pipeline lands: ping every service over
# its control API and read its Prometheus metrics over HTTP.
#
# Leaves no process behind, whatever happens (trap on exit).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/deploy/install-deps.sh"
if [ ! -f build/build.ninja ]; then
    meson setup build
fi
ninja -C build

bin="$root/build/services"
logs="$root/build/quickstart"
mkdir -p "$logs"

pids=""
stop_all () {
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $pids; do
        wait "$pid" 2>/dev/null || true
    done
    pids=""
}
trap stop_all EXIT INT TERM

start () {
    name=$1
    shift
    "$bin/farfan-$name" --http-address 127.0.0.1 "$@" >"$logs/$name.log" 2>&1 &
    pids="$pids $!"
    echo "started farfan-$name (pid $!, log $logs/$name.log)"
}

start sisas --ingest-endpoint @tcp://127.0.0.1:5570 --publish-endpoint @tcp://127.0.0.1:5571 \
            --control-endpoint @tcp://127.0.0.1:5572
start orchestrator --client-endpoint @tcp://127.0.0.1:5550 --worker-endpoint @tcp://127.0.0.1:5551 \
                   --data-dir "$logs/data"
start factory --endpoint @tcp://127.0.0.1:5560

echo
echo "== ping"
for service in sisas orchestrator factory; do
    # Waits for start-up: up to 20 attempts of 500 ms (Lazy Pirate).
    if ! "$bin/farfanctl" ping "$service" --timeout 500 --retries 20; then
        echo "quickstart: $service did not answer; its log:" >&2
        cat "$logs/$service.log" >&2
        exit 1
    fi
done

echo
echo "== metrics"
for entry in sisas:9570 orchestrator:9550 factory:9560; do
    service=${entry%%:*}
    port=${entry##*:}
    page=$(curl -fsS "http://127.0.0.1:$port/metrics")
    health=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
    series=$(printf '%s\n' "$page" | grep -c '^farfan_' || true)
    echo "$service: /healthz $health, /metrics $series series, e.g.:"
    printf '%s\n' "$page" | grep -E '^farfan_(build_info|uptime_seconds|requests_total)' | sed 's/^/    /'
done

echo
echo "== stopping"
for pid in $pids; do
    kill -TERM "$pid"
done
failed=0
for pid in $pids; do
    wait "$pid" || failed=1
done
pids=""
if [ "$failed" -ne 0 ]; then
    echo "quickstart: a service did not exit cleanly; logs in $logs" >&2
    exit 1
fi
echo "all services stopped cleanly"
