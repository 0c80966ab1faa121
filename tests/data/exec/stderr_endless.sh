#!/bin/sh
# Writes to stderr forever (until killed): stderr is always readable.
exec /usr/bin/yes 'noise on stderr' >&2
