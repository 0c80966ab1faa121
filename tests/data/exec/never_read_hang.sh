#!/bin/sh
# Never reads stdin and never ends.
exec /bin/sleep 60
