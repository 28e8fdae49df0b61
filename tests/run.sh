#!/bin/bash
# run.sh - run the unit tests (build/tests/test_*) and the integration tests
# (tests/integration/t_*.sh), count their "ok - " / "not ok - " lines, and
# close with one line "N passed, N failed" (", N skipped" when any were).
# A test program that exits non-zero without reporting a failure counts as
# one failure.  Exit status: 0 only when nothing failed.
#
#   tests/run.sh [unit|integration] [PATTERN]
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
what=${1:-all}
pat=${2:-}
pass=0 fail=0 skip=0
failed_names=()
log_dir=$(mktemp -d /tmp/asrfs-tests.XXXXXX)

run_one() {
	local name=$1; shift
	local out
	out="$log_dir/$(basename "$name").log"
	local start=$SECONDS
	"$@" >"$out" 2>&1
	local rc=$?
	local p f s
	p=$(grep -c '^ok - ' "$out")
	f=$(grep -c '^not ok - ' "$out")
	s=$(grep -c '^skip - ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc" >>"$out"
		f=$((f + 1))
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	printf '%-44s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $((SECONDS - start))
	grep -E '^(skip - )' "$out" | sed 's/^/    /'
	if [ "$f" -gt 0 ]; then
		failed_names+=("$name")
		grep -E '^not ok - ' "$out" | sed 's/^/    /'
		echo "    --- last lines of $out:"
		tail -n 30 "$out" | sed 's/^/    | /'
	fi
}

if [ "$what" = all ] || [ "$what" = unit ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *"$pat"*) ;; *) continue ;; esac
		run_one "unit/$(basename "$t")" "$t"
	done
fi
if [ "$what" = all ] || [ "$what" = integration ]; then
	for t in tests/integration/t_*.sh; do
		[ -f "$t" ] || continue
		case "$t" in *"$pat"*) ;; *) continue ;; esac
		run_one "integration/$(basename "$t" .sh)" bash "$t"
	done
fi

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ] && [ $((pass + fail)) -gt 0 ]
