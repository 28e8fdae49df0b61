#!/bin/bash
# t_latwriter.sh - the replication benchmark's writer (tests/bench/latwriter.c)
# does what bench-replication.sh and other tests rely on, through a real
# mount: -F fills a disk whole with data that a seed repeats; -n -u writes
# that many distinct pages, each holding its record header (magic, number,
# page, seed), logged one numbered line each; -r paces by the clock; -S
# sums logs up; bad usage is status 2, a disk it cannot use status 1.
. "$(dirname "$0")/lib.sh"
LWR="$BUILD/tests/latwriter"
asrfs_start || { not_ok "mount"; finish; }
create_vm westeurope rg1 lw01 lw01-os:16M
D=$(WD rg1 lw01-os)

# field OUT KEY: one figure of the summary line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

check "fill: exit 0" "$LWR" -F -s 5 "$D"
check "fill: the disk holds data, not zeros" sh -c "! cmp -s -n $((16 << 20)) '$D' /dev/zero"
check "fill: no zero page left" test "$(od -An -v -tx1 -w4096 "$D" | grep -c '^\( 00\)*$')" -eq 0
cp "$D" "$WORK/fill5"
"$LWR" -F -s 6 "$D"
check "fill: another seed, other bytes" sh -c "! cmp -s '$D' '$WORK/fill5'"
"$LWR" -F -s 5 "$D"
check "fill: the same seed, the same bytes" cmp -s "$D" "$WORK/fill5"

out=$("$LWR" -r 0 -n 500 -u -s 9 -l "$WORK/lw.log" "$D")
check "500 writes, no error ($out)" test "$(field "$out" count) $(field "$out" errors)" = "500 0"
check "log: 500 lines numbered 0..499" test "$(wc -l <"$WORK/lw.log") $(awk '$1 != NR - 1' "$WORK/lw.log" | wc -l)" = "500 0"
check "log: 500 distinct pages inside the disk" test "$(awk '$2 >= 0 && $2 < 4096 {print $2}' "$WORK/lw.log" | sort -u | wc -l)" -eq 500
cp "$D" "$WORK/after"
bad=$(python3 - "$WORK/after" "$WORK/lw.log" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
bad = 0
for line in open(sys.argv[2]):
    seq, page, lat, late = map(int, line.split())
    magic, s, p, seed = struct.unpack_from("<8sQQQ", data, page * 4096)
    if (magic, s, p, seed) != (b"ASRBENCH", seq, page, 9) or lat <= 0 or late < lat:
        bad += 1
print(bad)
EOF
)
check "every logged page holds its record header (bad: $bad)" test "$bad" = 0
untouched=$(python3 - "$WORK/after" "$WORK/fill5" "$WORK/lw.log" <<'EOF'
import sys
a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
written = {int(l.split()[1]) for l in open(sys.argv[3])}
print(sum(a[i * 4096:(i + 1) * 4096] != b[i * 4096:(i + 1) * 4096] for i in range(4096) if i not in written))
EOF
)
check "no other page changed (changed: $untouched)" test "$untouched" = 0
sum=$("$LWR" -S "$WORK/lw.log" "$WORK/lw.log")
check "-S sums the logs up ($sum)" test "$(field "$sum" count) $(field "$sum" max_ms)" = "1000 $(field "$out" max_ms)"

out=$("$LWR" -r 100 -t 2 -s 3 "$D")
secs=$(field "$out" seconds)
check "paced: 100/s for 2 s is 200 writes ($out)" test "$(field "$out" count)" -eq 200
check "paced: the run lasts the 2 s" awk -v s="$secs" 'BEGIN {exit !(s >= 1.98 && s < 3)}'

rc() { "$@" >/dev/null 2>&1; echo $?; }
check "bad rate: status 2" test "$(rc "$LWR" -r abc "$D")" = 2
check "no path: status 2" test "$(rc "$LWR" -r 10)" = 2
check "a missing disk: status 1" test "$(rc "$LWR" -n 1 "$WORK/none")" = 1
check "more distinct pages than the disk has: status 1" test "$(rc "$LWR" -n 5000 -u "$D")" = 1
finish
