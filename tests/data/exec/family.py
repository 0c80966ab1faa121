#!/usr/bin/python3
# A process and a forked child, both carrying argv[1] (a token the test
# finds them by in /proc), both hanging.
import os
import time

os.fork()
time.sleep(60)
