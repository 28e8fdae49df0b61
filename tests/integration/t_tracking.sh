#!/bin/bash
# t_tracking.sh - write tracking and instant capture (issue 11, SPEC 7).
#   1. A writer stamps numbered 4 KiB records through the mount, record n
#      on page perm[n mod 2048] (a fixed shuffle, so the order the writer
#      goes through pages is not the order a cycle ships them), while points
#      are taken every second: every point must be exactly the disk after
#      some record m (no torn page, no later record leaked in, none missing).
#   2. An idle item's cycles read nothing of its disk.
#   3. After N pages written, the next cycle reads and ships exactly N pages.
#   4. kill -9 during continuous writes, remount: the next point holds every
#      write the mount acknowledged, and the disk was not compared whole
#      (the tracking survived).
#   5. A write that bypasses the mount is found and shipped, even right
#      after a write through it; status says so.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
I="$(V)/items/trk01"
DISK=$(WD rg1 trk01-os)
NP=2048 STRIDE=1 # records go to the first 2048 pages, shuffled
create_vm westeurope rg1 trk01 "trk01-os:16M"
fast_policy 1
check "protected" protect rg1 trk01

prom() { # prom METRIC: the trk01 disk's value
	grep "^$1{vault=\"asr-vault\",item=\"trk01\"" "$MNT/metrics/asrfs.prom" | grep 'disk="trk01-os"' | awk '{print $2}'
}

REC="$(dirname "$0")/records.py" # the writer and the checker of numbered records

# 1. every point is one instant of a disk being written
first=$(latest_point trk01)
python3 "$REC" write "$DISK" "$WORK/stop" "$WORK/acked" 0 $NP $STRIDE &
writer=$!
wait_for 40 sh -c "[ \$(ls '$I/recovery-points' | grep -vc latest) -ge 8 ]"
touch "$WORK/stop"
wait $writer
rm -f "$WORK/stop"
bad=0 seen=0 prev=0 moving=0
for p in $(entries "$I/recovery-points" | grep -v latest); do
	[ "$p" \> "$first" ] || continue
	if m=$(python3 "$REC" check "$I/recovery-points/$p/disks/trk01-os" $NP $STRIDE); then
		seen=$((seen + 1))
		[ "$m" -gt "$prev" ] && moving=$((moving + 1))
		prev=$m
	else
		echo "point $p: $m"
		bad=$((bad + 1))
	fi
done
check "points were taken while writing ($seen)" test "$seen" -ge 4
check "points moved on with the writer ($moving)" test "$moving" -ge 3
check "every point is the disk after one record: none torn, leaked or lost" test "$bad" -eq 0
last=$(cat "$WORK/acked")
p=$(point_after "$I/recovery-points")
check "a point after the writer stopped holds its last record" \
	test "$(python3 "$REC" check "$I/recovery-points/$p/disks/trk01-os" $NP $STRIDE)" = "$last"

# 2. idle cycles read nothing
r0=$(prom asrfs_disk_source_read_bytes_total)
c0=$(awk '/^replication-cycles:/{print $2}' "$I/status")
wait_for 20 sh -c "[ \$(awk '/^replication-cycles:/{print \$2}' '$I/status') -ge $((c0 + 3)) ]"
r1=$(prom asrfs_disk_source_read_bytes_total)
check "idle cycles read 0 bytes of the disk ($r0 -> $r1)" test "$r0" = "$r1"

# 3. N pages written: N read, N shipped
s0=$(prom asrfs_disk_shipped_bytes_total)
r0=$(prom asrfs_disk_source_read_bytes_total)
python3 - "$DISK" <<'PY'
import os, sys, random
fd = os.open(sys.argv[1], os.O_WRONLY)
rnd = random.Random(7)
for p in rnd.sample(range(4096), 300):
    os.pwrite(fd, os.urandom(4096), p * 4096)
PY
point_after "$I/recovery-points" >/dev/null
s1=$(prom asrfs_disk_shipped_bytes_total)
r1=$(prom asrfs_disk_source_read_bytes_total)
check "300 pages written: 300 shipped ($((s1 - s0)) bytes)" test $((s1 - s0)) -eq $((300 * 4096))
check "300 pages written: 300 read ($((r1 - r0)) bytes)" test $((r1 - r0)) -eq $((300 * 4096))
check "pending-bytes back to 0 after the cycle" sh -c "[ ! -e '$I/disks/trk01-os/pending-bytes' ] || [ \$(cat '$I/disks/trk01-os/pending-bytes') -eq 0 ]"

# 4. kill -9 while writing; the next point after remount has every
# acknowledged write, and the disk was not compared whole.
python3 "$REC" write "$DISK" "$WORK/stop" "$WORK/acked" 1000000 $NP $STRIDE log &
writer=$!
sleep 2.5
asrfs_kill
wait $writer
acked=$(cat "$WORK/acked")
check "the writer got writes acknowledged before the kill" test "$acked" -gt 1000000
asrfs_start || not_ok "remount"
p=$(point_after "$I/recovery-points" 40)
m=$(python3 "$REC" check "$I/recovery-points/$p/disks/trk01-os" $NP $STRIDE "$acked")
check "after kill -9 the next point holds every acknowledged write ($m >= $acked)" test -n "$m"
check "the point equals the disk" cmp -s "$I/recovery-points/$p/disks/trk01-os" "$DISK"
rd=$(prom asrfs_disk_source_read_bytes_total)
check "the tracking survived the kill: no whole compare ($rd bytes read)" test "$rd" -lt $((16 << 20))
check "status does not report a whole compare" sh -c "! grep -q '^tracking:' '$I/status'"

# 5. a write that bypasses the mount
RAW="$STATE/regions/westeurope/resource-groups/rg1/disks/trk01-os"
[ -f "$RAW" ] || RAW=$(find "$STATE/regions/westeurope" -path '*rg1*' -name 'trk01-os*' -type f | head -1)
check "the disk's file in the region" test -f "$RAW"
# a write through the mount, then one around it, in the same interval:
# the stamp noted after the mount's write tells them apart
printf 'THROUGH-THE-MOUNT' | dd of="$DISK" bs=4096 seek=2999 conv=notrunc status=none
printf 'BYPASSED-THE-MOUNT' | dd of="$RAW" bs=1 seek=$((3000 * 4096)) conv=notrunc status=none
p=$(point_after "$I/recovery-points" 40)
check "the bypassing write is in the next point" \
	sh -c "dd if='$I/recovery-points/$p/disks/trk01-os' bs=4096 skip=3000 count=1 status=none | grep -q BYPASSED-THE-MOUNT"
check "status says the disk was compared whole" grep -q '^tracking:.*outside asrfs' "$I/status"
check "the replica equals the source" cmp -s "$I/recovery-points/$p/disks/trk01-os" "$DISK"
finish
