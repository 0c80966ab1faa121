#!/bin/sh
# Leaves a background process holding stdout and stderr open, prints its
# pid in a valid result and exits 0.
/bin/sleep 60 &
echo "{\"output\": {\"grandchild\": $!}}"
exit 0
