#!/bin/bash
# test_python_examples — the Python clients of deploy/examples/python,
# written from proto/ alone, against the real daemons of this build:
#   1. publish_signals.py publishes bursts that SISAS fuses; it and a
#      separate tail_signals.py see the anchors and the FUSED updates;
#      `farfanctl sisas stats --json` accounts for every signal;
#   2. orchestrator_client.py runs the test plan through an orchestrator
#      (contracts/default) and a factory, watches it to SUCCEEDED and writes
#      the report, which has every level; the orchestrator's run signals
#      reach a tail through SISAS;
#   3. both clients fail with a clear message and exit 3 when nothing answers;
#   4. every daemon stops cleanly on SIGTERM;
#   5. CURVE: with certificates from `farfanctl keys generate`, the same
#      clients drive CURVE-secured daemons (publish + fuse, submit + watch +
#      results + report, a tail of the run signals); a client without keys,
#      with a certificate outside the allowed directory or with a wrong
#      server key gets nothing, exits 3 and says which; a missing or
#      malformed certificate file is exit 2 naming the option and the path;
#      the orchestrator counts the refused handshakes.
# Prints TAP-style "ok N - ..." lines; exits 0 when all pass, 1 otherwise,
# 77 (skip) when python3-zmq, python3-msgpack, python3-protobuf or protoc
# are missing. Every process it starts is stopped on every path; every wait
# is bounded.
#
# usage: test_python_examples.sh SOURCE_ROOT SERVICES_DIR FARFANCTL
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 SOURCE_ROOT SERVICES_DIR FARFANCTL" >&2
    exit 2
fi
SRC=$1
SVC=$2
CTL=$3
PY=/usr/bin/python3
EX=$SRC/deploy/examples/python
PLAN=$SRC/tests/data/plan/plan_es.txt

missing=""
[ -x "$PY" ] || missing="$missing python3"
if [ -z "$missing" ]; then
    "$PY" -c "import zmq" 2>/dev/null || missing="$missing python3-zmq"
    "$PY" -c "import msgpack" 2>/dev/null || missing="$missing python3-msgpack"
    "$PY" -c "import google.protobuf" 2>/dev/null || missing="$missing python3-protobuf"
fi
command -v protoc >/dev/null 2>&1 || missing="$missing protobuf-compiler"
if [ -n "$missing" ]; then
    echo "SKIP: the Python examples need Debian packages:$missing (apt-get install$missing)"
    exit 77
fi
for binary in "$SVC/farfan-sisas" "$SVC/farfan-orchestrator" "$SVC/farfan-factory" "$CTL"; do
    if [ ! -x "$binary" ]; then
        echo "not ok 1 - $binary is not built" >&2
        exit 1
    fi
done

# Sanitizer builds are several times slower: every bound below is generous
# and scaled when the daemons carry ASan.
SLOW=1
if ldd "$SVC/farfan-sisas" 2>/dev/null | grep -q libasan; then
    SLOW=4
fi

WORK=$(mktemp -d /tmp/farfan-pyex-XXXXXX)
PIDS=()
test_number=0
failures=0

# Stops every process this script started: SIGTERM, then SIGKILL for one
# still there after 15 s. Runs on every exit path.
cleanup() {
    local pid waited
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 150 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ -n "${KEEP_WORK:-}" ] && cp -r "$WORK" "$KEEP_WORK"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ok() {
    test_number=$((test_number + 1))
    echo "ok $test_number - $1"
}

not_ok() {
    test_number=$((test_number + 1))
    failures=$((failures + 1))
    echo "not ok $test_number - $1"
    shift
    for log in "$@"; do
        [ -s "$log" ] && { echo "# --- $(basename "$log"):"; tail -n 30 "$log" | sed 's/^/# /'; }
    done
}

# check NAME LOG... -- COMMAND...: one test line from a command's status.
check() {
    local name=$1 logs=()
    shift
    while [ "$1" != "--" ]; do logs+=("$1"); shift; done
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "${logs[@]}"; fi
}

# Waits (bounded) until FILE contains PATTERN.
wait_for_line() {
    local file=$1 pattern=$2 seconds=$3 waited=0
    while ! grep -q "$pattern" "$file" 2>/dev/null; do
        [ "$waited" -ge $((seconds * 10)) ] && return 1
        sleep 0.1
        waited=$((waited + 1))
    done
}

# Free loopback ports: bound to port 0 together (so they differ), then freed.
read -r P_INGEST P_PUBLISH P_CONTROL P_CLIENT P_WORKER P_FACTORY P_DEAD \
        C_INGEST C_PUBLISH C_CONTROL C_CLIENT C_WORKER C_FACTORY C_HTTP < <("$PY" -c '
import socket
socks = [socket.socket() for _ in range(14)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()')
INGEST=tcp://127.0.0.1:$P_INGEST
PUBLISH=tcp://127.0.0.1:$P_PUBLISH
CONTROL=tcp://127.0.0.1:$P_CONTROL
CLIENT=tcp://127.0.0.1:$P_CLIENT
WORKER=tcp://127.0.0.1:$P_WORKER

# forget PID: a process already reaped by `wait`, so cleanup never signals
# a PID the system may have reused.
forget() {
    local pid kept=()
    for pid in "${PIDS[@]}"; do
        [ "$pid" = "$1" ] || kept+=("$pid")
    done
    PIDS=("${kept[@]}")
}

start() {   # start LOG COMMAND...: in the background, remembered for cleanup
    local log=$1
    shift
    "$@" >"$log" 2>&1 </dev/null &
    PIDS+=($!)
}

# ---------------------------------------------------------------- SISAS
start "$WORK/sisas.log" "$SVC/farfan-sisas" \
    --ingest-endpoint "@$INGEST" --publish-endpoint "@$PUBLISH" --control-endpoint "@$CONTROL" \
    --http-port 0 --log-level warn --fusion-window-ms 500 --instance-id pyex-sisas
SISAS_PID=${PIDS[-1]}
if ! "$CTL" ping sisas --endpoint "$CONTROL" --timeout 1000 --retries $((10 * SLOW)) \
        >"$WORK/ping-sisas.log" 2>&1; then
    not_ok "farfan-sisas answers PING" "$WORK/ping-sisas.log" "$WORK/sisas.log"
    exit 1
fi

# A separate tail, subscribed before anything is published.
start "$WORK/tail.out" timeout $((60 * SLOW)) "$PY" "$EX/tail_signals.py" \
    --endpoint "$PUBLISH" --topic pyex. --until-fused 3 --timeout-ms $((30000 * SLOW))
TAIL_PID=${PIDS[-1]}
if ! wait_for_line "$WORK/tail.out" "^ready:" $((10 * SLOW)); then
    not_ok "tail_signals.py subscribes" "$WORK/tail.out"
    exit 1
fi

# 3 bursts of 4 from 2 sources + 2 singles = 14 signals: SISAS delivers
# 3 anchors + 2 singles, absorbs 9 and emits 3 FUSED updates.
run_publish() {
    timeout $((60 * SLOW)) "$PY" "$EX/publish_signals.py" --ingest "$INGEST" --publish "$PUBLISH" \
        --type pyex.finding --source pyex --subject-prefix PYEX --groups 3 --burst 4 \
        --sources 2 --singles 2 --json --fused-timeout-ms $((20000 * SLOW)) \
        >"$WORK/publish.json" 2>"$WORK/publish.err"
}
check "publish_signals.py: every burst fused and delivered (its own check)" \
    "$WORK/publish.json" "$WORK/publish.err" "$WORK/sisas.log" -- run_publish

tail_status=0
wait "$TAIL_PID" || tail_status=$?
forget "$TAIL_PID"
check_tail() {
    [ "$tail_status" -eq 0 ] || { echo "tail exit $tail_status" >>"$WORK/tail.out"; return 1; }
    [ "$(grep -c '^FUSED  pyex.finding subject=PYEX/Q00[123] confidence 0.400 -> 0.900 (max) members=4 sources=\[pyex/1,pyex/2\]' "$WORK/tail.out")" -eq 3 ] &&
    [ "$(grep -c '^signal pyex.finding' "$WORK/tail.out")" -eq 5 ]
}
check "tail_signals.py sees 5 delivered signals and 3 FUSED updates (max 0.4 -> 0.9, 4 members, 2 sources)" \
    "$WORK/tail.out" -- check_tail

# The accounting, from farfanctl.
check_stats() {   # check_stats EXPRESSION: a Python expression over `s`
    "$CTL" sisas stats --json --endpoint "$CONTROL" --timeout $((2000 * SLOW)) >"$WORK/stats.json" 2>&1 &&
    "$PY" -c "
import json, sys
s = json.load(open(sys.argv[1]))
ok = ($1)
if not ok:
    print('unexpected stats:', json.dumps(s), file=sys.stderr)
sys.exit(0 if ok else 1)" "$WORK/stats.json" 2>"$WORK/stats.err"
}
check "farfanctl sisas stats: received 14 = delivered 5 + absorbed 9, 3 FUSED, nothing rejected or lost" \
    "$WORK/stats.json" "$WORK/stats.err" -- check_stats \
    "s['received'] == 14 and s['delivered'] == 5 and s['absorbed'] == 9 and s['fused_emitted'] == 3
     and s['rejected'] == 0 and s['shed'] == 0 and s['upstream_lost'] == 0 and s['identity_holds']"

# ------------------------------------------------- orchestrator + factory
start "$WORK/orchestrator.log" "$SVC/farfan-orchestrator" \
    --client-endpoint "@$CLIENT" --worker-endpoint "@$WORKER" --sisas-endpoint ">$INGEST" \
    --http-port 0 --log-level warn --data-dir "$WORK/data" \
    --contracts-dir "$SRC/contracts/default" --instance-id pyex-orchestrator
ORCHESTRATOR_PID=${PIDS[-1]}
start "$WORK/factory.log" "$SVC/farfan-factory" \
    --endpoint "@tcp://127.0.0.1:$P_FACTORY" --orchestrator-endpoint ">$WORKER" \
    --sisas-endpoint ">$INGEST" --http-port 0 --log-level warn --max-workers 2 \
    --instance-id pyex-factory
FACTORY_PID=${PIDS[-1]}
if ! "$CTL" ping orchestrator --endpoint "$CLIENT" --timeout 1000 --retries $((10 * SLOW)) \
        >"$WORK/ping-orchestrator.log" 2>&1; then
    not_ok "farfan-orchestrator answers PING" "$WORK/ping-orchestrator.log" "$WORK/orchestrator.log"
    exit 1
fi

# The orchestrator's lifecycle signals, through SISAS, to a Python tail.
start "$WORK/run-tail.out" timeout $((600 * SLOW)) "$PY" "$EX/tail_signals.py" \
    --endpoint "$PUBLISH" --topic run. --count 2 --json --timeout-ms $((500000 * SLOW))
RUN_TAIL_PID=${PIDS[-1]}
wait_for_line "$WORK/run-tail.out" "^ready:" $((10 * SLOW)) ||
    not_ok "tail_signals.py subscribes to run." "$WORK/run-tail.out"

run_client() {
    timeout $((300 * SLOW)) "$PY" "$EX/orchestrator_client.py" "$PLAN" --endpoint "$CLIENT" \
        --format json --out "$WORK/report.json" --results-out "$WORK/results.json" \
        --data-timeout $((30000 * SLOW)) --wait-timeout $((240 * SLOW)) \
        >"$WORK/client.out" 2>"$WORK/client.err"
}
check "orchestrator_client.py: the plan's run SUCCEEDED, results and JSON report fetched" \
    "$WORK/client.out" "$WORK/client.err" "$WORK/orchestrator.log" "$WORK/factory.log" -- run_client

check_report() {
    "$PY" - "$WORK/report.json" "$WORK/results.json" "$WORK/client.out" <<'PY'
import json, numbers, re, sys
report = json.load(open(sys.argv[1]))
results = json.load(open(sys.argv[2]))["results"]
out = open(sys.argv[3]).read()
problems = []
def scored(item, what):
    if item.get("status") != "ok" or not isinstance(item.get("score"), numbers.Real):
        problems.append(f"{what}: status {item.get('status')}, score {item.get('score')}")
if report.get("format") != "farfan-report/1":
    problems.append(f"format {report.get('format')}")
scored(report.get("macro", {}), "macro")
clusters, areas, questions = (report.get(k, []) for k in ("clusters", "policy_areas", "questions"))
if len(clusters) != 4: problems.append(f"{len(clusters)} clusters")
if len(areas) != 10: problems.append(f"{len(areas)} policy areas")
if len(questions) != 300: problems.append(f"{len(questions)} questions")
for item in clusters: scored(item, item.get("code"))
for area in areas:
    scored(area, area.get("code"))
    if len(area.get("dimensions", [])) != 6:
        problems.append(f"{area.get('code')}: {len(area.get('dimensions', []))} dimensions")
    for dim in area.get("dimensions", []): scored(dim, f"{area.get('code')}/{dim.get('dimension')}")
for q in questions: scored(q, q.get("contract"))
ids = [r["contract_id"] for r in results]
if len(ids) != len(set(ids)): problems.append("a contract appears twice in RESULTS")
match = re.search(r"results: (\d+) contracts \((\d+) ok\)", out)
if not match or match.group(1) != match.group(2) or int(match.group(1)) != len(ids):
    problems.append("client summary does not say every result is ok")
if not re.search(r"run \S+ SUCCEEDED", out): problems.append("no SUCCEEDED line")
for p in problems[:20]: print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}
check "the report has every level: macro, 4 clusters, 10 policy areas x 6 dimensions, 300 questions, all scored" \
    "$WORK/client.out" -- check_report

check_failed_run() {   # a document pdftotext cannot read fails the run: exit 1, the reason
    local status=0
    printf '%%PDF-1.4\nnot really a PDF\n' >"$WORK/broken.pdf"
    timeout $((60 * SLOW)) "$PY" "$EX/orchestrator_client.py" "$WORK/broken.pdf" \
        --endpoint "$CLIENT" --data-timeout $((30000 * SLOW)) --wait-timeout $((60 * SLOW)) \
        --out "$WORK/broken-report.json" >"$WORK/broken.out" 2>&1 || status=$?
    [ "$status" -eq 1 ] || { echo "exit $status, expected 1" >>"$WORK/broken.out"; return 1; }
    grep -q "^orchestrator_client: run \S* FAILED: .*pdftotext" "$WORK/broken.out" &&
    [ ! -e "$WORK/broken-report.json" ]
}
check "orchestrator_client.py exits 1 and says why when the run FAILED (unreadable PDF)" \
    "$WORK/broken.out" -- check_failed_run

run_tail_status=0
wait "$RUN_TAIL_PID" || run_tail_status=$?
forget "$RUN_TAIL_PID"
check_run_signals() {
    [ "$run_tail_status" -eq 0 ] &&
    "$PY" - "$WORK/run-tail.out" "$WORK/client.out" <<'PY'
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
run_id = re.search(r"^run (\S+) submitted", open(sys.argv[2]).read(), re.M).group(1)
types = [(l["signal"]["type"], l["signal"].get("subject")) for l in lines]
expected = [("run.started", run_id), ("run.completed", run_id)]
if types != expected:
    print(f"run signals {types}, expected {expected}", file=sys.stderr)
    sys.exit(1)
PY
}
check "the orchestrator's run.started and run.completed reach tail_signals.py through SISAS" \
    "$WORK/run-tail.out" -- check_run_signals

check "farfanctl sisas stats: the accounting identity holds after the run" \
    "$WORK/stats.json" "$WORK/stats.err" -- check_stats "s['identity_holds'] and s['received'] > 14 and s['rejected'] == 0"

# ------------------------------------------------------ nothing answers
check_no_answer() {   # check_no_answer OUT COMMAND...: exit 3 and a clear message
    local out=$1 status=0
    shift
    timeout 60 "$@" >"$out" 2>&1 || status=$?
    [ "$status" -eq 3 ] || { echo "exit $status, expected 3" >>"$out"; return 1; }
    grep -q "no answer from\|not subscribed at\|no SISAS" "$out"
}
check "orchestrator_client.py exits 3 with a clear message when nothing answers" \
    "$WORK/dead-client.out" -- check_no_answer "$WORK/dead-client.out" \
    "$PY" "$EX/orchestrator_client.py" "$PLAN" --endpoint "tcp://127.0.0.1:$P_DEAD" \
        --timeout 200 --data-timeout 300 --retries 2
check "publish_signals.py exits 3 with a clear message when SISAS is not there" \
    "$WORK/dead-publish.out" -- check_no_answer "$WORK/dead-publish.out" \
    "$PY" "$EX/publish_signals.py" --ingest "tcp://127.0.0.1:$P_DEAD" --connect-timeout-ms 300

# ------------------------------------------------------------- shutdown
stop_cleanly() {   # stop_cleanly PID LOG: SIGTERM, exit 0 within the bound
    local pid=$1 waited=0 status=0
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((100 * SLOW)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -0 "$pid" 2>/dev/null && { echo "still running after SIGTERM" >>"$2"; return 1; }
    wait "$pid" || status=$?
    forget "$pid"
    [ "$status" -eq 0 ] || { echo "exit status $status" >>"$2"; return 1; }
}
check "farfan-factory stops cleanly on SIGTERM" "$WORK/factory.log" -- \
    stop_cleanly "$FACTORY_PID" "$WORK/factory.log"
check "farfan-orchestrator stops cleanly on SIGTERM" "$WORK/orchestrator.log" -- \
    stop_cleanly "$ORCHESTRATOR_PID" "$WORK/orchestrator.log"
check "farfan-sisas stops cleanly on SIGTERM" "$WORK/sisas.log" -- \
    stop_cleanly "$SISAS_PID" "$WORK/sisas.log"

# ---------------------------------------------------------------- CURVE
# One server certificate for every daemon (as deploy/docker-compose.curve.yml):
# each binds as a CURVE server with it and connects with it, so the
# allowed directory holds server.cert (the daemons) and client.cert (the
# Python clients); intruder.cert is a valid certificate that is not let in.
KEYS=$WORK/keys
ALLOWED=$WORK/allowed
if ! "$CTL" keys generate "$KEYS" server client intruder >"$WORK/keys.log" 2>&1; then
    not_ok "farfanctl keys generate" "$WORK/keys.log"
    exit 1
fi
mkdir -p "$ALLOWED" && cp "$KEYS/server.cert" "$KEYS/client.cert" "$ALLOWED/"
CURVE_DAEMON=(--curve-cert "$KEYS/server.cert_secret" --curve-allowed-dir "$ALLOWED"
              --curve-server-cert "$KEYS/server.cert")
CLIENT_KEYS=(--curve-cert "$KEYS/client.cert_secret" --curve-server-cert "$KEYS/server.cert")
C_INGEST_EP=tcp://127.0.0.1:$C_INGEST
C_PUBLISH_EP=tcp://127.0.0.1:$C_PUBLISH
C_CONTROL_EP=tcp://127.0.0.1:$C_CONTROL
C_CLIENT_EP=tcp://127.0.0.1:$C_CLIENT
C_WORKER_EP=tcp://127.0.0.1:$C_WORKER

start "$WORK/curve-sisas.log" "$SVC/farfan-sisas" "${CURVE_DAEMON[@]}" \
    --ingest-endpoint "@$C_INGEST_EP" --publish-endpoint "@$C_PUBLISH_EP" \
    --control-endpoint "@$C_CONTROL_EP" --http-port 0 --log-level warn \
    --fusion-window-ms 500 --instance-id pyex-curve-sisas
C_SISAS_PID=${PIDS[-1]}
start "$WORK/curve-orchestrator.log" "$SVC/farfan-orchestrator" "${CURVE_DAEMON[@]}" \
    --client-endpoint "@$C_CLIENT_EP" --worker-endpoint "@$C_WORKER_EP" \
    --sisas-endpoint ">$C_INGEST_EP" --http-port "$C_HTTP" --log-level warn \
    --data-dir "$WORK/curve-data" --contracts-dir "$SRC/contracts/default" \
    --instance-id pyex-curve-orchestrator
C_ORCHESTRATOR_PID=${PIDS[-1]}
start "$WORK/curve-factory.log" "$SVC/farfan-factory" "${CURVE_DAEMON[@]}" \
    --endpoint "@tcp://127.0.0.1:$C_FACTORY" --orchestrator-endpoint ">$C_WORKER_EP" \
    --sisas-endpoint ">$C_INGEST_EP" --http-port 0 --log-level warn --max-workers 2 \
    --instance-id pyex-curve-factory
C_FACTORY_PID=${PIDS[-1]}
for service in sisas:$C_CONTROL_EP orchestrator:$C_CLIENT_EP; do
    if ! "$CTL" ping "${service%%:*}" --endpoint "${service#*:}" "${CLIENT_KEYS[@]}" \
            --timeout 1000 --retries $((10 * SLOW)) >"$WORK/curve-ping.log" 2>&1; then
        not_ok "CURVE farfan-${service%%:*} answers an allowed farfanctl PING" \
            "$WORK/curve-ping.log" "$WORK/curve-${service%%:*}.log"
        exit 1
    fi
done

# The publisher with its keys from the environment, the tail with options.
run_curve_publish() {
    FARFAN_CURVE_CERT=$KEYS/client.cert_secret FARFAN_CURVE_SERVER_CERT=$KEYS/server.cert \
    timeout $((60 * SLOW)) "$PY" "$EX/publish_signals.py" --ingest "$C_INGEST_EP" \
        --publish "$C_PUBLISH_EP" --type pyexc.finding --source pyexc --subject-prefix PYEXC \
        --groups 3 --burst 4 --sources 2 --singles 2 --json \
        --connect-timeout-ms $((5000 * SLOW)) --fused-timeout-ms $((20000 * SLOW)) \
        >"$WORK/curve-publish.json" 2>"$WORK/curve-publish.err" &&
    "$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
ok = (s["sent"] == 14 and s["dropped"] == 0 and s["checked"] and not s["problems"]
      and [g["members"] for g in s["groups"]] == [4, 4, 4]
      and all(g["fused_confidence"] == 0.9 for g in s["groups"]))
sys.exit(0 if ok else 1)' "$WORK/curve-publish.json"
}
check "CURVE: publish_signals.py (keys from FARFAN_CURVE_*): every burst fused and delivered" \
    "$WORK/curve-publish.json" "$WORK/curve-publish.err" "$WORK/curve-sisas.log" -- run_curve_publish

start "$WORK/curve-run-tail.out" timeout $((600 * SLOW)) "$PY" "$EX/tail_signals.py" \
    --endpoint "$C_PUBLISH_EP" "${CLIENT_KEYS[@]}" --topic run. --count 2 --json \
    --timeout-ms $((500000 * SLOW))
C_RUN_TAIL_PID=${PIDS[-1]}
wait_for_line "$WORK/curve-run-tail.out" "^ready:" $((10 * SLOW)) ||
    not_ok "CURVE: tail_signals.py subscribes to run." "$WORK/curve-run-tail.out"

run_curve_client() {
    timeout $((300 * SLOW)) "$PY" "$EX/orchestrator_client.py" "$PLAN" --endpoint "$C_CLIENT_EP" \
        "${CLIENT_KEYS[@]}" --format json --out "$WORK/curve-report.json" \
        --results-out "$WORK/curve-results.json" --data-timeout $((30000 * SLOW)) \
        --wait-timeout $((240 * SLOW)) >"$WORK/curve-client.out" 2>"$WORK/curve-client.err" &&
    grep -q "^run \S* SUCCEEDED" "$WORK/curve-client.out" &&
    "$PY" -c '
import json, re, sys
report = json.load(open(sys.argv[1]))
results = json.load(open(sys.argv[2]))["results"]
out = open(sys.argv[3]).read()
ok = (report.get("format") == "farfan-report/1" and len(report.get("questions", [])) == 300
      and report.get("macro", {}).get("status") == "ok"
      and re.search(r"results: %d contracts \(%d ok\)" % (len(results), len(results)), out))
sys.exit(0 if ok else 1)' "$WORK/curve-report.json" "$WORK/curve-results.json" "$WORK/curve-client.out"
}
check "CURVE: orchestrator_client.py with --curve-cert: submit, watch to SUCCEEDED, results, report" \
    "$WORK/curve-client.out" "$WORK/curve-client.err" "$WORK/curve-orchestrator.log" \
    "$WORK/curve-factory.log" -- run_curve_client

c_run_tail_status=0
wait "$C_RUN_TAIL_PID" || c_run_tail_status=$?
forget "$C_RUN_TAIL_PID"
check_curve_run_signals() {
    [ "$c_run_tail_status" -eq 0 ] &&
    [ "$(grep -c '"type": "run.started"' "$WORK/curve-run-tail.out")" -eq 1 ] &&
    [ "$(grep -c '"type": "run.completed"' "$WORK/curve-run-tail.out")" -eq 1 ]
}
check "CURVE: run.started and run.completed reach tail_signals.py (--curve-cert) through SISAS" \
    "$WORK/curve-run-tail.out" -- check_curve_run_signals

# Refused clients: no answer (exit 3) and a message naming the cause.
check_refused() {   # check_refused OUT PATTERN COMMAND...
    local out=$1 pattern=$2 status=0
    shift 2
    timeout $((60 * SLOW)) "$@" >"$out" 2>&1 || status=$?
    [ "$status" -eq 3 ] || { echo "exit $status, expected 3" >>"$out"; return 1; }
    grep -q "$pattern" "$out" || { echo "no line matching: $pattern" >>"$out"; return 1; }
}
REFUSED_OPTS=(--timeout $((300 * SLOW)) --data-timeout $((500 * SLOW)) --retries 2)
check "CURVE: orchestrator_client.py without keys is refused: exit 3, says CURVE is required" \
    "$WORK/refused-nokeys.out" -- check_refused "$WORK/refused-nokeys.out" \
    "no answer from $C_CLIENT_EP.*requires CURVE" \
    "$PY" "$EX/orchestrator_client.py" "$PLAN" --endpoint "$C_CLIENT_EP" "${REFUSED_OPTS[@]}"
check "CURVE: orchestrator_client.py with a certificate not allowed is refused: exit 3, says so" \
    "$WORK/refused-intruder.out" -- check_refused "$WORK/refused-intruder.out" \
    "no answer from .*refused this client's certificate.*intruder.cert_secret" \
    "$PY" "$EX/orchestrator_client.py" "$PLAN" --endpoint "$C_CLIENT_EP" "${REFUSED_OPTS[@]}" \
        --curve-cert "$KEYS/intruder.cert_secret" --curve-server-cert "$KEYS/server.cert"
check "CURVE: orchestrator_client.py with a wrong server key gets nothing: exit 3, says so" \
    "$WORK/refused-server.out" -- check_refused "$WORK/refused-server.out" \
    "no answer from .*intruder.cert is probably not the service's server certificate" \
    "$PY" "$EX/orchestrator_client.py" "$PLAN" --endpoint "$C_CLIENT_EP" "${REFUSED_OPTS[@]}" \
        --curve-cert "$KEYS/client.cert_secret" --curve-server-cert "$KEYS/intruder.cert"
check "CURVE: publish_signals.py without keys is refused by SISAS: exit 3, says so" \
    "$WORK/refused-publish.out" -- check_refused "$WORK/refused-publish.out" \
    "not subscribed at $C_INGEST_EP.*requires CURVE" \
    "$PY" "$EX/publish_signals.py" --ingest "$C_INGEST_EP" --connect-timeout-ms $((500 * SLOW))
check "CURVE: tail_signals.py with a certificate not allowed is refused: exit 3, says so" \
    "$WORK/refused-tail.out" -- check_refused "$WORK/refused-tail.out" \
    "no SISAS at $C_PUBLISH_EP.*refused this client's certificate" \
    "$PY" "$EX/tail_signals.py" --endpoint "$C_PUBLISH_EP" --connect-timeout-ms $((500 * SLOW)) \
        --curve-cert "$KEYS/intruder.cert_secret" --curve-server-cert "$KEYS/server.cert"

check_auth_metrics() {   # the orchestrator counted the refusals on its client socket
    "$PY" - "$C_HTTP" >"$WORK/curve-metrics.out" 2>&1 <<'PY'
import re, sys, urllib.request
page = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
counts = {}
for line in page.splitlines():
    m = re.match(r'farfan_auth_failures_total\{(.*)\} (\S+)$', line)
    if m and 'socket="client"' in m.group(1):
        reason = re.search(r'reason="(\w+)"', m.group(1)).group(1)
        counts[reason] = counts.get(reason, 0) + float(m.group(2))
print("auth failures on the client socket:", counts)
sys.exit(0 if counts.get("auth", 0) >= 1 and counts.get("protocol", 0) >= 1 else 1)
PY
}
check "CURVE: the orchestrator counted the refused handshakes (auth and protocol)" \
    "$WORK/curve-metrics.out" -- check_auth_metrics

# Bad certificate files: exit 2, the option and the path named; no daemon needed.
check_bad_cert() {   # check_bad_cert OUT PATTERN COMMAND...
    local out=$1 pattern=$2 status=0
    shift 2
    timeout 60 "$@" >"$out" 2>&1 || status=$?
    [ "$status" -eq 2 ] || { echo "exit $status, expected 2" >>"$out"; return 1; }
    grep -q "$pattern" "$out" || { echo "no line matching: $pattern" >>"$out"; return 1; }
}
printf 'curve\n    public-key = "short"\n' >"$WORK/malformed.cert"
check "CURVE: a missing certificate file is exit 2 naming --curve-cert and the path" \
    "$WORK/bad-missing.out" -- check_bad_cert "$WORK/bad-missing.out" \
    "^orchestrator_client: --curve-cert $KEYS/nobody.cert_secret: no such file" \
    "$PY" "$EX/orchestrator_client.py" "$PLAN" --endpoint "$C_CLIENT_EP" \
        --curve-cert "$KEYS/nobody.cert_secret" --curve-server-cert "$KEYS/server.cert"
check "CURVE: a public certificate given as the client's own is exit 2 (no secret key)" \
    "$WORK/bad-public.out" -- check_bad_cert "$WORK/bad-public.out" \
    "^publish_signals: --curve-cert $KEYS/client.cert: no secret key" \
    "$PY" "$EX/publish_signals.py" --ingest "$C_INGEST_EP" \
        --curve-cert "$KEYS/client.cert" --curve-server-cert "$KEYS/server.cert"
check "CURVE: a malformed server certificate is exit 2 naming --curve-server-cert and the path" \
    "$WORK/bad-malformed.out" -- check_bad_cert "$WORK/bad-malformed.out" \
    "^tail_signals: --curve-server-cert $WORK/malformed.cert: the public key is 5 characters" \
    "$PY" "$EX/tail_signals.py" --endpoint "$C_PUBLISH_EP" \
        --curve-cert "$KEYS/client.cert_secret" --curve-server-cert "$WORK/malformed.cert"
check "CURVE: --curve-cert without --curve-server-cert is exit 2" \
    "$WORK/bad-half.out" -- check_bad_cert "$WORK/bad-half.out" \
    "^tail_signals: --curve-cert is set but --curve-server-cert is not" \
    "$PY" "$EX/tail_signals.py" --endpoint "$C_PUBLISH_EP" --curve-cert "$KEYS/client.cert_secret"

check "CURVE farfan-factory stops cleanly on SIGTERM" "$WORK/curve-factory.log" -- \
    stop_cleanly "$C_FACTORY_PID" "$WORK/curve-factory.log"
check "CURVE farfan-orchestrator stops cleanly on SIGTERM" "$WORK/curve-orchestrator.log" -- \
    stop_cleanly "$C_ORCHESTRATOR_PID" "$WORK/curve-orchestrator.log"
check "CURVE farfan-sisas stops cleanly on SIGTERM" "$WORK/curve-sisas.log" -- \
    stop_cleanly "$C_SISAS_PID" "$WORK/curve-sisas.log"

echo "1..$test_number"
[ "$failures" -eq 0 ]
