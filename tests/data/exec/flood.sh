#!/bin/sh
# Prints forever (until killed).
exec /usr/bin/yes '{"output": "endless"}'
