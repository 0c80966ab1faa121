#!/bin/sh
# A program for the `exec` method in tests/test_factory.c: reads the JSON
# document on stdin, then "ok" prints a score and the input size, "fail"
# exits non-zero with a message on stderr.
bytes=$(wc -c | tr -d ' ')
case "$1" in
    ok)   printf '{"score": 2.5, "confidence": 0.9, "output": {"bytes": %s}}\n' "$bytes" ;;
    *)    echo "score.sh: asked to fail" >&2; exit 3 ;;
esac
