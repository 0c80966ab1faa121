#!/bin/sh
# Closes stdin unread, then waits a little before answering, so that the
# writer meets a closed pipe while the program is still running.
exec 0<&-
/bin/sleep 0.2
echo '{"output": {"closed": true}}'
