#!/bin/sh
# Valid, but without the execute bit: cannot be run.
echo '{}'
