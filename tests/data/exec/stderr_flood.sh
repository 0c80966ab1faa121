#!/bin/sh
# 100 KiB of stderr, then a last line, then fails.
/usr/bin/head -c 102400 /dev/zero | /usr/bin/tr '\0' 'x' >&2
printf '\nthe final complaint\n' >&2
exit 1
