#!/bin/sh
# Ignores SIGTERM (sleep inherits that): only SIGKILL stops it.
trap '' TERM
/bin/sleep 60
