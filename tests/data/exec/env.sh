#!/bin/sh
# Reports how it was started: this shell's blocked and ignored signal
# masks (read before anything can change them), then env_report.py adds
# the environment, descriptors and process group.
blocked=unknown
ignored=unknown
while read -r key value; do
    case "$key" in
        SigBlk:) blocked=$value ;;
        SigIgn:) ignored=$value ;;
    esac
done < /proc/self/status
exec /usr/bin/python3 "${0%/*}/env_report.py" "$blocked" "$ignored" "$@"
