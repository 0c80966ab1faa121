#!/usr/bin/env bash
# Runs farfan's benchmarks on a release build and collects their tables.
#
#   tests/bench/run.sh [NAME...]      NAME = baseline, factory, ... (default:
#                                     every bench_* program that was built)
#
# From any directory. Configures build-release/ in the repo root the first
# time (meson setup --buildtype=release), reuses it afterwards, builds only
# the bench_* targets (and what they link), runs each program in turn and
# prints its table. Rows of all programs go to tests/bench/results/latest.tsv
# (git-ignored), the printed tables to tests/bench/results/latest.txt.
#
# Environment:
#   FF_BENCH_SCALE            iteration scale, default 1.0 (CI: e.g. 0.1)
#   FF_BENCH_TIMEOUT_MS       receive timeout inside the benchmarks (5000)
#   FF_BENCH_ROUNDS           rounds per throughput figure (5)
#   FF_BENCH_BUILDDIR         build directory, default build-release
#   FF_BENCH_PROGRAM_TIMEOUT  seconds one program may run, default 300
#
# Exit status: 0 when every program built, ran and measured everything;
# 1 otherwise (the other programs still run).
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root" || exit 1

builddir="${FF_BENCH_BUILDDIR:-build-release}"
program_timeout="${FF_BENCH_PROGRAM_TIMEOUT:-300}"
results="$here/results"

say() { printf '%s\n' "run.sh: $*" >&2; }

# Configure once, then reuse; make sure a reused directory is a release build.
if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" --buildtype=release >/dev/null \
        || { say "meson setup $builddir failed"; exit 1; }
else
    buildtype="$(meson introspect "$builddir" --buildoptions 2>/dev/null \
        | /usr/bin/python3 -c 'import json,sys
print(next((o["value"] for o in json.load(sys.stdin)
            if o["name"] == "buildtype"), ""))' 2>/dev/null)"
    if [ "$buildtype" != "release" ]; then
        say "$builddir has buildtype '$buildtype'; switching it to release"
        meson configure "$builddir" -Dbuildtype=release >/dev/null \
            || { say "meson configure $builddir failed"; exit 1; }
    fi
fi

# Regenerate if meson.build files changed, then build the bench_* targets only
# (a work-in-progress file elsewhere in the tree cannot block the baselines).
ninja -C "$builddir" build.ninja >/dev/null \
    || { say "meson regeneration of $builddir failed"; exit 1; }
mapfile -t targets < <(ninja -C "$builddir" -t targets all 2>/dev/null \
    | sed -n 's|^\(tests/bench/bench_[A-Za-z0-9_]*\): .*|\1|p' | sort -u)
if [ "${#targets[@]}" -eq 0 ]; then
    say "no bench_* targets in $builddir (tests/bench is built only when"
    say "the 'tests' option is enabled and Criterion is found)"
    exit 1
fi
# The daemons too: benchmarks of the real binaries start them.
targets+=(services/farfan-factory services/farfan-orchestrator services/farfan-sisas services/farfanctl)
ninja -C "$builddir" "${targets[@]}" >/dev/null \
    || { ninja -C "$builddir" "${targets[@]}" | tail -40 >&2;
         say "build failed"; exit 1; }

# The programs to run: all built, or those named on the command line.
programs=()
if [ "$#" -eq 0 ]; then
    for target in "${targets[@]}"; do programs+=("$builddir/$target"); done
else
    for name in "$@"; do
        program="$builddir/tests/bench/bench_${name#bench_}"
        if [ ! -x "$program" ]; then
            say "no benchmark '$name' (built: ${targets[*]##*/})"
            exit 1
        fi
        programs+=("$program")
    done
fi

mkdir -p "$results" || exit 1
tsv="$results/latest.tsv.partial"
txt="$results/latest.txt.partial"
rm -f "$tsv" "$txt"

status=0
{
    printf 'farfan benchmarks: %s, commit %s, %s CPUs, scale %s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)" \
        "$(nproc)" "${FF_BENCH_SCALE:-1}"
    for program in "${programs[@]}"; do
        start=$SECONDS
        FF_BENCH_OUTPUT="$tsv" FF_BENCH_FORMAT=tsv \
            timeout --kill-after=10 "$program_timeout" "$program" 2>&1
        rc=$?
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "!! ${program##*/} killed after ${program_timeout}s"
        elif [ "$rc" -ne 0 ]; then
            echo "!! ${program##*/} exited with status $rc"
        fi
        [ "$rc" -eq 0 ] || status=1
        echo "(${program##*/}: $((SECONDS - start)) s)"
    done
    exit "$status"
} | tee "$txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

mv -f "$txt" "$results/latest.txt"
if [ -f "$tsv" ]; then
    mv -f "$tsv" "$results/latest.tsv"
    say "rows written to ${results#"$root"/}/latest.tsv"
else
    say "no rows were written"
    status=1
fi
exit "$status"
