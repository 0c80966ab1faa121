#!/bin/sh
# README command 2: installs what is needed, builds farfan twice (a normal
# build and an ASan+UBSan build, warnings as errors) and runs every test
# suite in both, then the fuzzers (tests/fuzz/run.sh) and the container
# deployment test (deploy/compose-test.sh). Ends with one line
# "N passed, N failed", counted over every test case of all of them;
# exits non-zero when anything failed.
#
#   tests/run.sh            everything
#   FARFAN_TEST_BUILDS="build" tests/run.sh      only the normal build
#   FARFAN_TEST_FUZZ=0 / FARFAN_TEST_COMPOSE=0   without fuzzers / containers
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/deploy/install-deps.sh"

# Debian's python3 (meson's own); another python3 first on PATH may lack
# Debian's modules.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

builds=${FARFAN_TEST_BUILDS:-"build build-asan"}

configure () {
    dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" -Dwerror=true "$@" >/dev/null
    else
        meson setup "$dir" -Dwerror=true "$@"
    fi
}

for dir in $builds; do
    case "$dir" in
        *asan*) configure "$dir" -Db_sanitize=address,undefined -Db_lundef=false \
                          -Dc_args=-fno-sanitize-recover=all ;;
        *)      configure "$dir" ;;
    esac
    ninja -C "$dir"
done

# Sanitizer reports end the offending process with a failure.
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

status=0
for dir in $builds; do
    echo "== tests in $dir"
    meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
done

# Count test cases from the TAP every suite printed; a suite without TAP
# (a benchmark smoke run) counts as one case; a suite that died without
# reporting counts as one failure. Prints "PASSED FAILED".
counts=$("$PYTHON" - $builds <<'PY'
import json, re, sys
passed = failed = 0
for build in sys.argv[1:]:
    try:
        log = open(f"{build}/meson-logs/testlog.json")
    except OSError as error:
        print(f"{build}: no test log ({error})", file=sys.stderr)
        failed += 1
        continue
    with log:
        for line in log:
            entry = json.loads(line)
            out = entry.get("stdout") or ""
            ok = len(re.findall(r"^ok\b", out, re.M))
            not_ok = len(re.findall(r"^not ok\b", out, re.M))
            if entry.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and not_ok == 0:
                not_ok = 1
                print(f"{build}: suite {entry['name']} ended {entry.get('result')} "
                      "without reporting a failed case", file=sys.stderr)
            if ok == 0 and not_ok == 0 and entry.get("result") == "OK":
                ok = 1
            passed += ok
            failed += not_ok
print(passed, failed)
PY
) || counts="0 1"
set -- $counts
passed=$1
failed=$2

# The suites that are not meson tests: each script ends with one line
# "<name>: N passed, N failed" and exits non-zero when anything failed.
#   FARFAN_TEST_FUZZ=0      skips the fuzzers (tests/fuzz/run.sh;
#                           FARFAN_FUZZ_SECONDS per target, default 60)
#   FARFAN_TEST_COMPOSE=0   skips the container deployment test
#                           (deploy/compose-test.sh)
run_suite () {
    name=$1
    shift
    echo "== $name"
    log=$(mktemp)
    suite_status=0
    # Shown as it goes; followed until the suite's own process ends (a
    # process it leaves behind cannot hold this script).
    "$@" >"$log" 2>&1 &
    suite_pid=$!
    tail -n +1 --pid="$suite_pid" -f "$log"
    wait "$suite_pid" || suite_status=1
    line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed\$" "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "$name: ended without its summary line" >&2
        failed=$((failed + 1))
        status=1
        return
    fi
    suite_passed=$(echo "$line" | sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed$/\1/')
    suite_failed=$(echo "$line" | sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed$/\2/')
    passed=$((passed + suite_passed))
    failed=$((failed + suite_failed))
    if [ "$suite_status" -ne 0 ] && [ "$suite_failed" -eq 0 ]; then
        failed=$((failed + 1))
    fi
    [ "$suite_status" -eq 0 ] || status=1
}

if [ "${FARFAN_TEST_FUZZ:-1}" != 0 ]; then
    run_suite fuzz "$root/tests/fuzz/run.sh"
fi
if [ "${FARFAN_TEST_COMPOSE:-1}" != 0 ]; then
    run_suite compose "$root/deploy/compose-test.sh"
fi

echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
