#!/bin/sh
# Hangs (a shell waiting for sleep); SIGTERM stops both.
/bin/sleep 60
