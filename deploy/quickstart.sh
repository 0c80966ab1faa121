#!/bin/sh
# README command 1: installs what is needed, builds farfan, and runs the
# main job: a municipal development plan through the whole pipeline
# (P00-P09) on the three services started on loopback with their
# documented ports — SISAS, an orchestrator on the default contract set
# and two factories registered with it — then prints the macro score and
# the policy-area table, writes the report (JSON, Markdown, HTML) and
# stops the services (deploy/run-plan.sh does the running).
#
#   deploy/quickstart.sh [PLAN]
#
# PLAN: a plan as UTF-8 text or PDF (default: the bundled sample,
# deploy/sample/plan-municipal-ejemplo.txt). FARFAN_BUILD_DIR: the build
# directory (default build). Reports, logs and the orchestrator's store go
# to BUILD/quickstart. Exits non-zero when the plan cannot be read, a port
# is busy, a service fails, or the run fails. Leaves no process behind,
# whatever happens (trap in run-plan.sh).
set -eu

if [ $# -gt 1 ]; then
    echo "usage: deploy/quickstart.sh [PLAN]" >&2
    exit 2
fi

# Check the plan before a possibly long install and build; relative to
# where we were called from.
plan=""
if [ $# -eq 1 ]; then
    case "$1" in
        /*) plan=$1 ;;
        *) plan="$(pwd)/$1" ;;
    esac
    if [ ! -e "$plan" ]; then
        echo "quickstart: $1: no such file" >&2
        exit 2
    fi
    if [ ! -f "$plan" ] || [ ! -r "$plan" ]; then
        echo "quickstart: $1: not a readable file" >&2
        exit 2
    fi
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${FARFAN_BUILD_DIR:-build}

"$root/deploy/install-deps.sh"
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build"
fi
ninja -C "$build"

echo
if [ -n "$plan" ]; then
    exec "$root/deploy/run-plan.sh" --build "$build" "$plan"
fi
exec "$root/deploy/run-plan.sh" --build "$build"
