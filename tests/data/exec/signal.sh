#!/bin/sh
# Dies of SIGUSR1 after a line on stderr.
echo "about to die" >&2
kill -USR1 $$
