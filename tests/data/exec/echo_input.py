#!/usr/bin/python3
# Reads all of stdin and reports it: byte count, a checksum (sum of the
# bytes mod 2^32) and, when it is a JSON document under 64 KiB, the
# document itself as output.document. Scores fixed values.
import json
import sys

data = sys.stdin.buffer.read()
report = {"bytes": len(data), "sum": sum(data) % (1 << 32)}
if len(data) < 65536:
    try:
        report["document"] = json.loads(data.decode("utf-8"))
    except ValueError:
        pass
print(json.dumps({"score": 2.5, "confidence": 0.75, "ratio": 0.8, "output": report}))
