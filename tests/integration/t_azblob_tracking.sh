#!/bin/bash
# t_azblob_tracking.sh - write tracking and instant capture of a disk whose
# source region is azblob (Azurite): t_tracking.sh's story, scaled down to
# what Azurite serves in well under a minute (every write through the mount
# is a Put Page round trip).  An 8 MiB disk.
#   1. A writer stamps numbered 4 KiB records through the mount, record n
#      on page 32 * perm[n mod 64] (a fixed shuffle), while points are taken
#      every second: every point is exactly the disk after some record m
#      (no torn page, no later record leaked in, none missing).  The writer
#      goes round its 64 pages several times a cycle, so it keeps writing
#      pages the running cycle has captured and not shipped yet; and no two
#      of them touch, so the cycle reads each with its own GET, a window
#      of tens of round trips in which the copy-on-write must act.
#   2. An idle item's cycles read nothing of its disk.
#   3. After N pages written, the next cycle reads and ships exactly N pages.
#   4. kill -9 during continuous writes, remount: the next point holds every
#      write the mount acknowledged, and the disk was not compared whole.
#   5. A Put Page sent straight to the disk's page blob (its ETag moves, no
#      write went through the mount) is found: that disk is compared whole,
#      the next point holds the bypassing bytes, status says why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=local
I="$(V)/items/trk01"
DISK=$(WD rg1 trk01-os)
NP=64 STRIDE=32 # records go to pages 0, 32, 64, ... (NP of them)
create_vm westeurope rg1 trk01 "trk01-os:8M"
fast_policy 1
check "protected" protect rg1 trk01

prom() { # prom METRIC: the trk01 disk's value
	grep "^$1{vault=\"asr-vault\",item=\"trk01\"" "$MNT/metrics/asrfs.prom" | grep 'disk="trk01-os"' | awk '{print $2}'
}
ncycles() { awk '/^replication-cycles:/{print $2}' "$I/status"; }

REC="$(dirname "$0")/records.py" # the writer and the checker of numbered records

# 1. every point is one instant of a disk being written
first=$(latest_point trk01)
python3 "$REC" write "$DISK" "$WORK/stop" "$WORK/acked" 0 $NP $STRIDE &
writer=$!
wait_for 40 sh -c "[ \$(ls '$I/recovery-points' | grep -vc latest) -ge 7 ]"
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
check "a point after the writer stopped holds its last record ($last)" \
	test "$(python3 "$REC" check "$I/recovery-points/$p/disks/trk01-os" $NP $STRIDE)" = "$last"
check "no whole compare while writing" sh -c "! grep -q '^tracking:' '$I/status'"

# 2. idle cycles read nothing
r0=$(prom asrfs_disk_source_read_bytes_total)
c0=$(ncycles)
check "idle cycles ran" wait_for 20 sh -c "[ \$(awk '/^replication-cycles:/{print \$2}' '$I/status') -ge $((c0 + 3)) ]"
r1=$(prom asrfs_disk_source_read_bytes_total)
check "idle cycles read 0 bytes of the disk ($r0 -> $r1)" test -n "$r0" -a "$r0" = "$r1"

# 3. N pages written (none of the records' pages): N read, N shipped
s0=$(prom asrfs_disk_shipped_bytes_total)
r0=$(prom asrfs_disk_source_read_bytes_total)
python3 - "$DISK" $STRIDE <<'PY'
import os, sys, random
fd = os.open(sys.argv[1], os.O_WRONLY)
stride = int(sys.argv[2])
for p in random.Random(7).sample([p for p in range(2048) if p % stride], 100):
    os.pwrite(fd, os.urandom(4096), p * 4096)
PY
point_after "$I/recovery-points" >/dev/null
s1=$(prom asrfs_disk_shipped_bytes_total)
r1=$(prom asrfs_disk_source_read_bytes_total)
check "100 pages written: 100 shipped ($((s1 - s0)) bytes)" test $((s1 - s0)) -eq $((100 * 4096))
check "100 pages written: 100 read ($((r1 - r0)) bytes)" test $((r1 - r0)) -eq $((100 * 4096))
if [ -e "$I/disks/trk01-os/pending-bytes" ]; then
	check "pending-bytes back to 0 after the cycle" file_is "$I/disks/trk01-os/pending-bytes" 0
else
	skip "pending-bytes: no such file in this tree yet"
fi

# 4. kill -9 while writing; the next point after remount has every
# acknowledged write, and the disk was not compared whole.
python3 "$REC" write "$DISK" "$WORK/stop" "$WORK/acked" 1000000 $NP $STRIDE log &
writer=$!
sleep 2.5
asrfs_kill
wait $writer
acked=$(cat "$WORK/acked")
check "the writer got writes acknowledged before the kill" test "$acked" -gt 1000000
asrfs_start --config "$CONF" || not_ok "remount"
p=$(point_after "$I/recovery-points" 40)
m=$(python3 "$REC" check "$I/recovery-points/$p/disks/trk01-os" $NP $STRIDE "$acked")
check "after kill -9 the next point holds every acknowledged write ($m >= $acked)" test -n "$m"
check "the point equals the disk" cmp -s "$I/recovery-points/$p/disks/trk01-os" "$DISK"
rd=$(prom asrfs_disk_source_read_bytes_total)
# The cycles since the remount read the record pages written since the last
# point (at most NP; twice that if a cycle failed and ran again), while a
# whole compare reads every allocated page: the records' and part 3's.  A
# bound of the disk size would not tell them apart on a sparse blob.
check "the tracking survived the kill: fewer pages read than a whole compare ($rd bytes)" \
	test -n "$rd" -a "$rd" -lt $(((NP + 100) * 4096))
check "status does not report a whole compare" sh -c "! grep -q '^tracking:' '$I/status'"

# 5. a Put Page that bypasses the mount, on the physical blob the disk's
# link names (backend/azblob_link.c: a disk key holds an empty block blob whose
# metadata asrfsdisk names the page blob with the bytes).
key=resource-groups/rg1/disks/trk01-os
phys=$(az_get westeurope /asr "restype=container&comp=list&include=metadata&prefix=$key" |
	sed -n "s|.*<Name>$key</Name>.*<asrfsdisk>\([^<]*\)</asrfsdisk>.*|\1|p")
check "the disk's link names its physical blob ($phys)" test -n "$phys"
{ printf 'BYPASSED-THE-MOUNT'; head -c $((4096 - 18)) /dev/zero; } >"$WORK/page"
wait_new_point trk01 "$(latest_point trk01)" 20 # right after a cycle: the Put Page lands between two
check "Put Page straight to the blob" az_put_page westeurope "/asr/$phys" $((2000 * 4096)) "$WORK/page"
check "the blob holds the bypassing bytes" sh -c "dd if='$DISK' bs=4096 skip=2000 count=1 status=none | cmp -s - '$WORK/page'"
p=$(point_after "$I/recovery-points" 40)
check "the bypassing write is in the next point" \
	sh -c "dd if='$I/recovery-points/$p/disks/trk01-os' bs=4096 skip=2000 count=1 status=none | cmp -s - '$WORK/page'"
check "status says the disk was compared whole, written outside asrfs" \
	grep -q '^tracking: a disk was compared whole .*written outside asrfs' "$I/status"
check "the replica equals the source" cmp -s "$I/recovery-points/$p/disks/trk01-os" "$DISK"
finish
