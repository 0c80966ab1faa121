#!/bin/sh
# tests/fuzz/run.sh — builds the libFuzzer targets (clang-14, ASan + UBSan)
# and runs each for a bounded time against a copy of its seed corpus.
#
#   FARFAN_FUZZ_SECONDS   seconds per target (default 60)
#   FARFAN_FUZZ_TARGETS   targets to run (default: all four)
#   FARFAN_FUZZ_BUILD     build directory (default <source>/build-fuzz)
#   FARFAN_FUZZ_CORPUS    persistent corpus directory (nightly): each target
#                         reads and grows DIR/<target>, seeded from the
#                         committed corpus the first time. Unset: a scratch
#                         copy, deleted after (the committed corpus never
#                         grows).
#   FARFAN_FUZZ_OUT       where logs and crash artifacts go (default: a
#                         scratch directory, kept when a target fails)
# Scratch files of the targets go to /dev/shm when writable
# (FARFAN_FUZZ_SCRATCH, removed after each target).
#
# Prints per target the executions, exec/s and libFuzzer's final coverage
# (cov: edges, ft: features), then `fuzz: N passed, N failed`; exits 1 when
# a target failed (crash, leak, timeout, out of memory, or did not run its
# time), 2 when the build failed. See tests/fuzz/README.md.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${FARFAN_FUZZ_SECONDS:-60}
TARGETS=${FARFAN_FUZZ_TARGETS:-"fuzz_rpc fuzz_signal fuzz_contract fuzz_import"}
BUILD=${FARFAN_FUZZ_BUILD:-$ROOT/build-fuzz}
CORPUS=${FARFAN_FUZZ_CORPUS:-}
OUT=${FARFAN_FUZZ_OUT:-}

case $SECS in
    ''|*[!0-9]*) echo "fuzz: FARFAN_FUZZ_SECONDS must be a number of seconds" >&2; exit 2 ;;
esac

# clang-14 and its runtime (libFuzzer, ASan, UBSan).
FUZZER_LIB=$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null | head -1)
if ! command -v clang-14 >/dev/null 2>&1 || [ -z "$FUZZER_LIB" ]; then
    echo "fuzz: installing clang-14 and libclang-rt-14-dev"
    SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    # (a fresh image has no package lists yet: update, then retry once)
    $SUDO apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null 2>&1 \
        || { $SUDO apt-get update >/dev/null \
             && $SUDO apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null; } \
        || { echo "fuzz: cannot install clang-14 libclang-rt-14-dev" >&2; echo "fuzz: 0 passed, 1 failed"; exit 2; }
fi

# The build: clang, the project's libraries instrumented for coverage
# (fuzzer-no-link), every sanitizer finding fatal.
if [ ! -f "$BUILD/build.ninja" ]; then
    CC=clang-14 meson setup "$BUILD" "$ROOT" -Dfuzz=true -Dtests=disabled \
        -Db_sanitize=address,undefined -Db_lundef=false \
        "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >"${TMPDIR:-/tmp}/farfan-fuzz-setup.log" 2>&1 \
        || { cat "${TMPDIR:-/tmp}/farfan-fuzz-setup.log" >&2; echo "fuzz: 0 passed, 1 failed"; exit 2; }
fi
BUILT=
for t in $TARGETS; do BUILT="$BUILT tests/fuzz/$t"; done
# shellcheck disable=SC2086
if ! ninja -C "$BUILD" $BUILT >"${TMPDIR:-/tmp}/farfan-fuzz-build.log" 2>&1; then
    tail -40 "${TMPDIR:-/tmp}/farfan-fuzz-build.log" >&2
    echo "fuzz: 0 passed, 1 failed"
    exit 2
fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/farfan-fuzz-XXXXXX")
[ -n "$OUT" ] || OUT=$SCRATCH/out
mkdir -p "$OUT"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# "key: value" of libFuzzer's -print_final_stats lines.
stat () { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

PASSED=0
FAILED=0
KEEP=0
for t in $TARGETS; do
    SEEDS=$ROOT/tests/fuzz/corpus/$t
    if [ -n "$CORPUS" ]; then
        WORK=$CORPUS/$t
        if [ ! -d "$WORK" ]; then mkdir -p "$WORK" && cp "$SEEDS"/* "$WORK"/; fi
    else
        WORK=$SCRATCH/corpus-$t
        mkdir -p "$WORK" && cp "$SEEDS"/* "$WORK"/
    fi
    DICT=
    [ -f "$ROOT/tests/fuzz/$t.dict" ] && DICT=-dict=$ROOT/tests/fuzz/$t.dict
    LOG=$OUT/$t.log
    # The targets' scratch files (the orchestrator's store, the import's
    # layout): on tmpfs when there is one, removed even after an abort.
    SHM=/dev/shm; [ -w "$SHM" ] || SHM=$SCRATCH
    FARFAN_FUZZ_SCRATCH=$(mktemp -d "$SHM/farfan-fuzz-$t-XXXXXX")
    export FARFAN_FUZZ_SCRATCH
    started=$(date +%s)
    # shellcheck disable=SC2086
    "$BUILD/tests/fuzz/$t" -max_total_time="$SECS" -timeout=90 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$OUT/$t-" $DICT "$WORK" >"$LOG" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - started ))
    rm -rf "$FARFAN_FUZZ_SCRATCH"
    runs=$(stat number_of_executed_units "$LOG")
    speed=$(stat average_exec_per_sec "$LOG")
    last=$(grep -E '(DONE|pulse|NEW|REDUCE|INITED) +cov:' "$LOG" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    # Ran its time: libFuzzer exits 0 only after -max_total_time without a
    # finding; a crash, leak, timeout or OOM exits non-zero with an artifact.
    if [ "$rc" -eq 0 ] && grep -qE '[[:space:]]DONE[[:space:]]' "$LOG" && [ "$elapsed" -ge "$SECS" ]; then
        PASSED=$((PASSED + 1)); verdict=ok
    else
        FAILED=$((FAILED + 1)); verdict=FAILED
    fi
    printf '%s: %s: %s executions in %ss, %s exec/s, cov %s, ft %s\n' "$t" "$verdict" \
        "${runs:-0}" "$elapsed" "${speed:-0}" "${cov:-?}" "${ft:-?}"
    stalls=$(grep -cE 'STALL: the (PONG came|PING was taken)' "$LOG")
    if [ "$stalls" -gt 0 ]; then
        echo "  $stalls service stalls of more than 15 s (see $LOG)"
        KEEP=1
    fi
    if [ "$verdict" = FAILED ]; then
        echo "  log: $LOG (exit $rc)"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' "$LOG" | head -8 | sed 's/^/  /'
    fi
done

if [ "$FAILED" -eq 0 ] && [ "$KEEP" -eq 0 ] && [ -z "${FARFAN_FUZZ_OUT:-}" ]; then
    rm -rf "$SCRATCH"
else
    :   # a failed run keeps its corpus (and the artifacts) to reproduce it
fi
echo "fuzz: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
