#!/bin/sh
# An `exec` program for tests/test_recovery.c (farfan-exec/1, see
# proto/exec-protocol.md): it leaves a trace of every execution so a test
# can tell work done once from work repeated.
#   record.sh LOG ID SCORE MS
# Reads the input document to its end, appends the line "ID" to LOG (one
# line per execution, written when the execution starts: O_APPEND keeps
# concurrent lines whole), works MS milliseconds, then prints the result:
# SCORE, the contract id and the input's size, and 1,200 bytes of padding
# that keep the result above a 1 KiB result cache (a factory started with
# --result-cache-bytes 1024 never answers it from its cache, so every
# dispatch is an execution).
log=$1
id=$2
score=$3
ms=$4
bytes=$(wc -c | tr -d ' ')
echo "$id" >> "$log"
if [ "$ms" -gt 0 ]; then
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
fi
printf '{"score": %s, "confidence": 0.5, "output": {"id": "%s", "input_bytes": %s, "pad": "%01200d"}}\n' \
    "$score" "$id" "$bytes" 0
