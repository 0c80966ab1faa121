#!/bin/sh
# The smallest well-behaved program: one JSON object, exit 0.
echo '{"score": 1, "output": {"ok": true}}'
