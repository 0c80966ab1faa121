#!/bin/sh
# Prints $1 on stdout exactly, then $3 (if any) and a newline on stderr,
# and exits with status $2 (default 0). Never reads stdin.
printf '%s' "$1"
if [ -n "$3" ]; then
    printf '%s\n' "$3" >&2
fi
exit "${2:-0}"
