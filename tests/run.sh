#!/bin/sh
# README command 2: installs what is needed, builds farfan twice (a normal
# build and an ASan+UBSan build, warnings as errors) and runs every test
# suite in both. Ends with one line "N passed, N failed", counted over
# every test case of every suite in both builds; exits non-zero when
# anything failed.
#
#   tests/run.sh            everything
#   FARFAN_TEST_BUILDS="build" tests/run.sh      only the normal build
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
# reporting counts as one failure.
count_status=0
"$PYTHON" - $builds <<'PY' || count_status=$?
import json, re, sys
passed = failed = 0
for build in sys.argv[1:]:
    with open(f"{build}/meson-logs/testlog.json") as log:
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
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
[ "$status" -eq 0 ] && [ "$count_status" -eq 0 ]
