#!/bin/bash
# t_crash.sh - the crash harness's sampled set in `make check`: for every
# operation a few kill points spread over its durable writes, before and
# after each, and kill -9 at random times (fixed seed: two for the older
# operations, one for those of issue 14); one ok / not ok line a kill
# point.  `make check-long` runs every kill point
# (tests/crash/crash.sh, docs/RELIABILITY.md).
exec bash "$(dirname "$0")/../crash/crash.sh" "$@"
