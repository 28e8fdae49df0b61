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
create_vm westeurope rg1 trk01 "trk01-os:16M"
fast_policy 1
check "protected" protect rg1 trk01

prom() { # prom METRIC: the trk01 disk's value
	grep "^$1{vault=\"asr-vault\",item=\"trk01\"" "$MNT/metrics/asrfs.prom" | grep 'disk="trk01-os"' | awk '{print $2}'
}

# The writer: records until told to stop; it logs the last number the
# mount acknowledged to $WORK/acked after each write.
cat >"$WORK/writer.py" <<'PY'
import os, random, sys
path, stop, acked, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
log = len(sys.argv) > 5
perm = random.Random(42).sample(range(2048), 2048)
fd = os.open(path, os.O_WRONLY)
n = done = start
try:
    while n % 256 or not os.path.exists(stop):
        n += 1
        os.pwrite(fd, (b"%015d\n" % n) * 256, perm[n % 2048] * 4096)
        done = n  # acknowledged
        if log:
            with open(acked + ".tmp", "w") as f:
                f.write("%d\n" % done)
            os.rename(acked + ".tmp", acked)
except OSError as e:
    print("writer stopped at", n, e)
with open(acked + ".tmp", "w") as f:
    f.write("%d\n" % done)
os.rename(acked + ".tmp", acked)
PY
# check_image FILE [MIN]: FILE is the disk after exactly record m, m >= MIN
cat >"$WORK/check.py" <<'PY'
import random, sys
perm = random.Random(42).sample(range(2048), 2048)
pos = {p: i for i, p in enumerate(perm)}
data = open(sys.argv[1], "rb").read(2048 * 4096)
lo = int(sys.argv[2]) if len(sys.argv) > 2 else 0
recs = []
for p in range(2048):
    pg = data[p * 4096:(p + 1) * 4096]
    if pg == bytes(4096):
        recs.append(0)
        continue
    line = pg[:16]
    if pg != line * 256 or not line[:15].isdigit():
        print("page %d torn" % p); sys.exit(1)
    recs.append(int(line[:15]))
m = max(recs)
for p in range(2048):
    # the newest record <= m that lands on page p (records start at 1)
    i = pos[p]
    want = m - ((m - i) % 2048) if m >= i else 0
    if want < 1 or (lo == 0 and want < 1):
        want = 0
    if m > 1000000 and want <= 1000000:
        want = recs[p]  # written by the first writer: checked there
    if recs[p] != want:
        print("page %d holds %d, the disk after record %d holds %d" % (p, recs[p], m, want)); sys.exit(1)
if m < lo:
    print("image holds records up to %d, acknowledged %d" % (m, lo)); sys.exit(1)
print(m)
PY

# 1. every point is one instant of a disk being written
first=$(latest_point trk01)
python3 "$WORK/writer.py" "$DISK" "$WORK/stop" "$WORK/acked" 0 &
writer=$!
wait_for 40 sh -c "[ \$(ls '$I/recovery-points' | grep -vc latest) -ge 8 ]"
touch "$WORK/stop"
wait $writer
rm -f "$WORK/stop"
bad=0 seen=0 prev=0 moving=0
for p in $(entries "$I/recovery-points" | grep -v latest); do
	[ "$p" \> "$first" ] || continue
	if m=$(python3 "$WORK/check.py" "$I/recovery-points/$p/disks/trk01-os"); then
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
	test "$(python3 "$WORK/check.py" "$I/recovery-points/$p/disks/trk01-os")" = "$last"

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
python3 "$WORK/writer.py" "$DISK" "$WORK/stop" "$WORK/acked" 1000000 log &
writer=$!
sleep 2.5
asrfs_kill
wait $writer
acked=$(cat "$WORK/acked")
check "the writer got writes acknowledged before the kill" test "$acked" -gt 1000000
asrfs_start || not_ok "remount"
p=$(point_after "$I/recovery-points" 40)
m=$(python3 "$WORK/check.py" "$I/recovery-points/$p/disks/trk01-os" "$acked")
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
