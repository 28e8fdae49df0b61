#!/bin/bash
# t_fuzz.sh - run every libFuzzer target (tests/fuzz/fuzz_*.c, built by
# `make fuzz` into $BUILD/fuzz) for FUZZ_SECONDS each (4 in `make check`,
# minutes in `make check-long`), starting from its seed corpus
# tests/fuzz/corpus/<target>.  One line per target: ok when it ran the whole
# time with no crash, leak, sanitizer report or timeout; not ok with the
# saved input otherwise.  New inputs go to a scratch corpus, so the seeds in
# the tree are never changed.  Without clang: one skip line.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
SECS=${FUZZ_SECONDS:-4}
WORK=$(mktemp -d /tmp/asrfs-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
	echo "skip - fuzz: clang missing"
	exit 0
fi
if ! make -s -C "$TOP" BUILD="$BUILD" fuzz >"$WORK/build.log" 2>&1; then
	echo "not ok - fuzz: make fuzz failed"
	tail -20 "$WORK/build.log"
	exit 1
fi

for src in "$TOP"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	bin="$BUILD/fuzz/fuzz_$t"
	seeds="$TOP/tests/fuzz/corpus/$t"
	out="$WORK/$t"
	mkdir -p "$out/new"
	if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
		echo "not ok - fuzz $t: no seed corpus in tests/fuzz/corpus/$t"
		continue
	fi
	# -close_fd_mask=3: the loaders log every bad record; libFuzzer still
	# reports through its own descriptor.
	"$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
		-artifact_prefix="$out/" "$out/new" "$seeds" >"$out/log" 2>&1
	rc=$?
	runs=$(grep -oE '^Done [0-9]+ runs' "$out/log" | grep -oE '[0-9]+')
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		echo "ok - fuzz $t: $runs runs in ${SECS}s, no crash, leak or sanitizer report"
	else
		art=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | head -1)
		echo "not ok - fuzz $t: exit $rc${art:+, input $(basename "$art")}"
		grep -E -m5 'ERROR:|runtime error:|SUMMARY:|Assertion' "$out/log"
		if [ -n "$art" ]; then
			mkdir -p "$BUILD/fuzz/artifacts"
			cp "$art" "$BUILD/fuzz/artifacts/$t-$(basename "$art")"
			echo "    kept as $BUILD/fuzz/artifacts/$t-$(basename "$art")"
			echo "    base64: $(head -c 600 "$art" | base64 -w0)"
		fi
	fi
done
