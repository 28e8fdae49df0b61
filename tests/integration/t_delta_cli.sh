#!/bin/bash
# t_delta_cli.sh - the asrfs-delta command line (SPEC §2): DST becomes equal
# to SRC, --stats prints exactly its three lines with the right counts,
# sparse copies stay sparse, options and errors behave.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/asrfs-delta
fails=0
T=$(mktemp -d /tmp/asrfs-delta-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT

ok() { echo "ok - $1"; }
nok() { echo "not ok - $1${2:+ ($2)}"; fails=$((fails + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }

if [ ! -x "$BIN" ]; then
	nok "binary $BIN exists"
	exit 1
fi

# Deterministic pseudo-random data without depending on /dev/urandom contents.
gen() { # gen FILE MiB SEED
	python3 - "$1" "$2" "$3" <<'PY'
import random, sys
r = random.Random(int(sys.argv[3]))
with open(sys.argv[1], "wb") as f:
    f.write(r.randbytes(int(sys.argv[2]) * 1048576))
PY
}
poke() { # poke FILE OFFSET BYTES...
	local f=$1 off=$2; shift 2
	printf "$*" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}
stat_val() { sed -n "s/^$1: //p" "$T/stats"; }

# 1. Full copy into a missing destination.
gen "$T/a" 4 1
"$BIN" --stats "$T/a" "$T/b" >"$T/stats" 2>"$T/err"
check "full copy exit status" [ $? -eq 0 ]
check "full copy makes equal files" cmp -s "$T/a" "$T/b"
check "stats has exactly three lines" [ "$(wc -l <"$T/stats")" -eq 3 ]
check "stats line names" [ "$(cut -d: -f1 "$T/stats" | tr '\n' ' ')" = "bytes-compared bytes-transferred seconds " ]
check "full copy bytes-compared" [ "$(stat_val bytes-compared)" = 4194304 ]
check "full copy bytes-transferred" [ "$(stat_val bytes-transferred)" = 4194304 ]
check "seconds is a number" grep -Eq '^seconds: [0-9]+(\.[0-9]+)?$' "$T/stats"

# 2. Two changed pages (first and last byte): 8 KiB sent.
poke "$T/a" 0 'X'
poke "$T/a" 4194303 'Y'
"$BIN" --stats "$T/a" "$T/b" >"$T/stats"
check "two pages changed: equal" cmp -s "$T/a" "$T/b"
check "two pages changed: 8192 bytes sent" [ "$(stat_val bytes-transferred)" = 8192 ]
"$BIN" --stats --threads 1 "$T/a" "$T/b" >"$T/stats"
check "unchanged: nothing sent" [ "$(stat_val bytes-transferred)" = 0 ]

# 3. Size changes, odd sizes.
head -c 1234567 "$T/a" >"$T/c"
"$BIN" "$T/c" "$T/b"
check "shrink to an odd size" cmp -s "$T/c" "$T/b"
"$BIN" "$T/a" "$T/b"
check "grow back" cmp -s "$T/a" "$T/b"
: >"$T/empty"
"$BIN" "$T/empty" "$T/b"
check "empty source empties the destination" [ "$(stat -c %s "$T/b")" -eq 0 ]

# 4. Sparse source: holes stay holes, not slower than needed.
truncate -s 256M "$T/sparse"
poke "$T/sparse" 100000000 'data'
rm -f "$T/sp2"
"$BIN" --stats "$T/sparse" "$T/sp2" >"$T/stats"
check "sparse copy equal" cmp -s "$T/sparse" "$T/sp2"
check "sparse copy sends one page" [ "$(stat_val bytes-transferred)" = 4096 ]
check "sparse copy stays sparse" [ "$(stat -c %b "$T/sp2")" -le 64 ]

# 5. Options and errors.
"$BIN" -h >"$T/help"
check "-h exits 0 with usage" grep -q '^usage: asrfs-delta' "$T/help"
"$BIN" --bwlimit 8M --threads 3 "$T/a" "$T/b"
check "--bwlimit and --threads accepted" [ $? -eq 0 ]
"$BIN" "$T/missing" "$T/b" 2>"$T/err"
rc=$?
check "missing source exits 1" [ $rc -eq 1 ]
check "missing source message names path and error" grep -q "$T/missing: No such file or directory" "$T/err"
"$BIN" "$T/a" "$T/nodir/b" 2>"$T/err"
check "bad destination exits 1" [ $? -eq 1 ]
check "bad destination message" grep -q "$T/nodir/b: No such file or directory" "$T/err"
"$BIN" --threads x "$T/a" "$T/b" 2>/dev/null
check "bad --threads exits 1" [ $? -eq 1 ]
"$BIN" "$T/a" 2>/dev/null
check "one operand exits 1" [ $? -eq 1 ]

# 5. --direct (O_DIRECT on both): same result, only changed pages, holes kept;
# a size that is not whole pages is refused before anything moves.
gen "$T/d1" 4 7
"$BIN" --direct "$T/d1" "$T/d2"
check "--direct full copy equal" cmp -s "$T/d1" "$T/d2"
poke "$T/d1" 8192 'Z'
"$BIN" --direct --stats "$T/d1" "$T/d2" >"$T/stats"
check "--direct: equal after one changed page" cmp -s "$T/d1" "$T/d2"
check "--direct: one page sent" [ "$(stat_val bytes-transferred)" = 4096 ]
truncate -s 64M "$T/dsparse"
dd if="$T/d1" of="$T/dsparse" bs=1M count=1 seek=32 conv=notrunc status=none
"$BIN" --direct "$T/dsparse" "$T/dsparse2"
check "--direct: sparse copy equal" cmp -s "$T/dsparse" "$T/dsparse2"
check "--direct: holes kept ($(du -k "$T/dsparse2" | cut -f1) KiB)" [ "$(du -k "$T/dsparse2" | cut -f1)" -le 2048 ]
head -c 5000 "$T/d1" >"$T/dodd"
"$BIN" --direct "$T/dodd" "$T/dodd2" 2>"$T/err"
check "--direct refuses a size not in whole pages" [ $? -eq 1 ]
check "--direct refusal says why" grep -q "multiple of 4096" "$T/err"
# On real block devices when loop devices can be made here.
if L1=$(losetup -f --show "$T/d1" 2>/dev/null); then
	truncate -s 4M "$T/d3"
	if L2=$(losetup -f --show "$T/d3" 2>/dev/null); then
		"$BIN" --direct --stats "$L1" "$L2" >"$T/stats"
		check "--direct between loop block devices" cmp -s "$L1" "$L2"
		poke "$T/d1" 100000 'Q'
		"$BIN" --direct --stats "$L1" "$L2" >"$T/stats"
		check "--direct block devices: one page sent" [ "$(stat_val bytes-transferred)" = 4096 ]
		check "--direct block devices: equal" cmp -s "$L1" "$L2"
		losetup -d "$L2"
	else
		echo "skip - --direct on block devices: a second loop device cannot be set up here"
	fi
	losetup -d "$L1"
else
	echo "skip - --direct on block devices: loop devices cannot be set up here"
fi

[ $fails -eq 0 ]
