#!/bin/bash
# t_consistency.sh - a recovery point is one instant for all of an item's
# disks.  A writer stamps the same counter into both disks of a VM, disk A
# first, then disk B, as fast as it can, while points are taken every
# second.  In every point the two disks must hold counters that differ by
# at most one (B may lag A by the write in flight, never more, and never
# lead it).
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
D="$(R westeurope)/resource-groups/rg1/disks"
I="$(V)/items/pair01"
create_vm westeurope rg1 pair01 "pair01-a:8M,pair01-b:8M"
fast_policy 1
check "protected" protect rg1 pair01

# The writer: pwrite on both open disk files, A then B, until told to stop.
python3 - "$D/pair01-a" "$D/pair01-b" "$WORK/stop" <<'PY' &
import os, sys
a = os.open(sys.argv[1], os.O_WRONLY)
b = os.open(sys.argv[2], os.O_WRONLY)
n = 0
while not os.path.exists(sys.argv[3]):
    n += 1
    os.pwrite(a, b"%016d" % n, 0)
    os.pwrite(b, b"%016d" % n, 0)
print("writer stamped", n, "times")
PY
writer=$!
first=$(latest_point pair01)
wait_for 30 sh -c "[ \$(ls '$I/recovery-points' | grep -vc latest) -ge 6 ]"
touch "$WORK/stop"
wait $writer
bad=0 seen=0
for p in $(entries "$I/recovery-points" | grep -v latest); do
	[ "$p" = "$first" ] && continue
	a=$(head -c 16 "$I/recovery-points/$p/disks/pair01-a" | tr -d '\0')
	b=$(head -c 16 "$I/recovery-points/$p/disks/pair01-b" | tr -d '\0')
	a=$((10#${a:-0})) b=$((10#${b:-0}))
	seen=$((seen + 1))
	if [ $((a - b)) -lt 0 ] || [ $((a - b)) -gt 1 ]; then
		echo "point $p: disk a at $a, disk b at $b"
		bad=$((bad + 1))
	fi
done
check "points were taken while writing ($seen)" test "$seen" -ge 4
check "every point holds both disks at one instant" test "$bad" -eq 0
finish
