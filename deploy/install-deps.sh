#!/bin/sh
# Installs the Debian 12 packages farfan needs to build, test and run.
# Idempotent: installs only what is missing and does nothing when all is
# present. Uses sudo when not root. Used by deploy/quickstart.sh and
# tests/run.sh.
set -eu

PACKAGES="
gcc
libc6-dev
pkg-config
meson
ninja-build
protobuf-c-compiler
libprotobuf-c-dev
libzmq3-dev
libczmq-dev
libmsgpack-dev
libcriterion-dev
libmicrohttpd-dev
libpcre2-dev
libsqlite3-dev
libjansson-dev
libsodium-dev
poppler-utils
python3
python3-zmq
python3-msgpack
python3-protobuf
protobuf-compiler
curl
"

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: not root and no sudo: install them as root" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
