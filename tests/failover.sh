#!/bin/sh
# tests/failover.sh [--count N] [--crash KINDS] [--seed S]: the repeated-failover
# soak (tests/lib/soak.py; --help for the options).  Needs the images: make images.
exec python3 "$(dirname "$0")/lib/soak.py" "$@"
