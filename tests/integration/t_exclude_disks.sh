#!/bin/bash
# t_exclude_disks.sh - enable-replication's exclude-disks= (SPEC 3, 4, 9):
# an excluded disk is listed under the item's disks/ as "excluded" and is
# never replicated (no replica, no protection record, in no point, its
# writes never pending); every VM made from the item (test failover,
# failover, failback) gets an empty disk of its size in its place, in the
# source VM's order; reprotect keeps it excluded; and the refusals (a disk
# the VM does not have, its OS disk) are EINVAL with the reason in `error`.
. "$(dirname "$0")/lib.sh"

asrfs_start || { not_ok "mount"; finish; }
I=$(V)/items/web01
NE=$MNT/regions/northeurope/resource-groups
WE=$MNT/regions/westeurope/resource-groups
wait_state() { wait_for "${2:-60}" file_is "$I/state" "$1"; }
job_ok() { file_is "$I/job/state" Succeeded; }
# in_order FILE WORDS: FILE's lines, joined by spaces, are WORDS
in_order() { [ "$(tr '\n' ' ' <"$1")" = "$2 " ]; }
# listed DIR WORDS: DIR's entries in the order the tree lists them
listed() { [ "$(find "$1" -mindepth 1 -maxdepth 1 -printf '%f ')" = "$2 " ]; }
# zeros FILE SIZE: FILE is SIZE bytes, all zero
zeros() { [ "$(stat -c %s "$1")" -eq "$2" ] && cmp -s -n "$2" "$1" /dev/zero; }
fsck_clean() { e2fsck -fn "$1" >/dev/null 2>&1; }
TEMP=$((4 * 1024 * 1024))

fast_policy 1
create_vm westeurope rg1 web01 web01-os:16M,web01-data:8M,web01-temp:4M network=vnet1
# the OS disk holds a real ext4 file system; data and temp disks hold data
dd if=/dev/zero of="$WORK/os.img" bs=1M count=16 status=none
if mkfs.ext4 -q -F "$WORK/os.img" >/dev/null 2>&1; then
	dd if="$WORK/os.img" of="$(WD rg1 web01-os)" bs=1M conv=notrunc status=none
	HAVE_EXT4=1
else
	scribble "$(WD rg1 web01-os)" 1024 0
	HAVE_EXT4=0
fi
scribble "$(WD rg1 web01-data)" 256 100
scribble "$(WD rg1 web01-temp)" 512 0

# --- refusals
expect_errno "exclude-disks= naming a disk the VM has not: EINVAL" EINVAL "$(V)/enable-replication" \
	"vm=rg1/web01 source=westeurope target=northeurope exclude-disks=web01-temp,nosuch"
check "error names the missing disk" grep -q "VM rg1/web01 has no disk nosuch" "$(V)/error"
expect_errno "exclude-disks= naming the OS disk: EINVAL" EINVAL "$(V)/enable-replication" \
	"vm=rg1/web01 source=westeurope target=northeurope exclude-disks=web01-os"
check "error says the OS disk cannot be excluded" grep -q "web01-os is the OS disk of rg1/web01: an OS disk cannot be excluded" "$(V)/error"
check "a refused enable creates no item" test ! -e "$I"

# --- enable with the temp disk excluded
check "protect web01 excluding web01-temp" protect rg1 web01 exclude-disks=web01-temp
check "disks/ lists all three in the VM's order" listed "$I/disks" "web01-os web01-data web01-temp"
check "excluded disk's state" file_is "$I/disks/web01-temp/state" excluded
check "excluded disk's size" file_is "$I/disks/web01-temp/size" "$TEMP"
check "excluded disk has no replica" file_is "$I/disks/web01-temp/replica" ""
check "excluded disk has no replica-region" file_is "$I/disks/web01-temp/replica-region" ""
check "excluded disk synced-bytes 0" file_is "$I/disks/web01-temp/synced-bytes" 0
check "excluded disk pending-bytes 0" file_is "$I/disks/web01-temp/pending-bytes" 0
check "replicated disk is Protected" file_is "$I/disks/web01-data/state" Protected
check "status shows it excluded, in order" test "$(grep '^disk:' "$I/status" | awk '{print $2, $5}' | tr '\n' ,)" = \
	"web01-os state=Protected,web01-data state=Protected,web01-temp state=excluded,"
check "status.json shows it excluded" test "$(jq -r '[.disks[] | .name + ":" + .state + ":" + .replica] | join(",")' "$I/status.json")" = \
	"web01-os:Protected:web01-os-ASRReplica,web01-data:Protected:web01-data-ASRReplica,web01-temp:excluded:"
check "no replica of it in the target region" test ! -e "$(ND rg1-asr web01-temp-ASRReplica)"
check "the replicated disks have replicas" test -e "$(ND rg1-asr web01-data-ASRReplica)"
check "no protection record for it" test ! -e "$STATE/regions/westeurope/protection/resource-groups/rg1/disks/web01-temp.json"
check "protection records for the others" test -e "$STATE/regions/westeurope/protection/resource-groups/rg1/disks/web01-data.json"
check "metrics have no series of it" sh -c "! grep -q 'disk=\"web01-temp\"' '$MNT/metrics/asrfs.prom'"
check "metrics have the replicated disks" grep -q 'asrfs_disk_size_bytes{.*disk="web01-data"' "$MNT/metrics/asrfs.prom"

# --- writes to it through the mount are not pending and never shipped
p0=$(point_after "$I/recovery-points")
b0=$(jq '.["bytes-replicated"]' "$I/status.json")
scribble "$(WD rg1 web01-temp)" 256 16
cp "$(WD rg1 web01-temp)" "$WORK/temp.w"
check "its pending-bytes stay 0 after a write" file_is "$I/disks/web01-temp/pending-bytes" 0
p1=$(point_after "$I/recovery-points")
b1=$(jq '.["bytes-replicated"]' "$I/status.json")
check "points were made ($p0, $p1)" test -n "$p0" -a -n "$p1"
check "the write to it shipped nothing ($b0 -> $b1)" test "$b0" = "$b1"
check "a point lists only the replicated disks" listed "$I/recovery-points/$p1/disks" "web01-os web01-data"
check "its pending-bytes still 0" file_is "$I/disks/web01-temp/pending-bytes" 0
scribble "$(WD rg1 web01-data)" 16 0
point_after "$I/recovery-points" >/dev/null
b2=$(jq '.["bytes-replicated"]' "$I/status.json")
check "a write to a replicated disk does ship ($b1 -> $b2)" test "$b2" -gt "$b1"

# --- verify and resync never read it
REPL=$(((16 + 8) * 1024 * 1024))
echo start >"$I/verify"
check "verify succeeds" wait_for 60 sh -c "grep -qx 'Verify replication' '$I/job/type' && grep -qx Succeeded '$I/job/state'"
check "verify compared the replicated disks only" file_is "$I/job/bytes-compared" "$REPL"
check "verify's tasks name no excluded disk" sh -c "! grep -q web01-temp '$I/job/tasks'"
check "verify found no mismatch" file_is "$I/job/mismatched-bytes" 0
echo start >"$I/resync"
check "resync succeeds" wait_for 60 sh -c "grep -qx Resynchronize '$I/job/type' && grep -qx Succeeded '$I/job/state'"
check "resync compared the replicated disks only" file_is "$I/job/bytes-compared" "$REPL"
check "state Protected after resync" wait_state Protected

# --- test failover, then its cleanup
echo "latest network=isolated" >"$I/test-failover"
check "test failover done" wait_for 60 grep -q "^test-failover: Succeeded" "$I/status"
tp=$(grep '^test-failover:' "$I/status" | sed 's/.* from \([^ ]*\) network.*/\1/')
check "test VM has the three disks in order" in_order "$NE/rg1-asr/vms/web01-test/disks" \
	"web01-os-test web01-data-test web01-temp-test"
check "test VM's temp disk is empty" zeros "$(ND rg1-asr web01-temp-test)" "$TEMP"
check "test VM's os disk = its point ($tp)" cmp -s "$I/recovery-points/$tp/disks/web01-os" "$(ND rg1-asr web01-os-test)"
check "test VM's data disk = its point" cmp -s "$I/recovery-points/$tp/disks/web01-data" "$(ND rg1-asr web01-data-test)"
echo start >"$I/cleanup-test-failover"
check "cleanup removes the test VM" wait_for 30 test ! -e "$NE/rg1-asr/vms/web01-test"
check "cleanup removes the test temp disk" wait_for 10 test ! -e "$(ND rg1-asr web01-temp-test)"

# --- failover: the VM in northeurope gets an empty temp disk in its place
echo "latest shutdown=yes" >"$I/failover"
check "failover reaches FailedOver" wait_state FailedOver
check "failover job succeeded" job_ok
fp=$(latest_point web01)
check "failed-over VM has the three disks in order" in_order "$NE/rg1-asr/vms/web01/disks" "web01-os web01-data web01-temp"
check "failed-over temp disk is empty, same size" zeros "$(ND rg1-asr web01-temp)" "$TEMP"
check "failed-over os disk = the point ($fp)" cmp -s "$I/recovery-points/$fp/disks/web01-os" "$(ND rg1-asr web01-os)"
check "failed-over data disk = the point" cmp -s "$I/recovery-points/$fp/disks/web01-data" "$(ND rg1-asr web01-data)"
check "failed-over data disk = the source" cmp -s "$(WD rg1 web01-data)" "$(ND rg1-asr web01-data)"
if [ "$HAVE_EXT4" = 1 ]; then
	cp "$(ND rg1-asr web01-os)" "$WORK/fo-os.img"
	check "failed-over os disk's ext4 is clean" fsck_clean "$WORK/fo-os.img"
fi
check "the source temp disk is untouched" cmp -s "$WORK/temp.w" "$(WD rg1 web01-temp)"
check "still excluded after failover" file_is "$I/disks/web01-temp/state" excluded

# --- change-recovery-point: the temp disk is made empty anew
scribble "$(ND rg1-asr web01-temp)" 8 0
echo "$p1" >"$I/change-recovery-point"
check "change-recovery-point succeeds" wait_for 60 sh -c "grep -qx 'Change recovery point' '$I/job/type' && grep -qx Succeeded '$I/job/state'"
check "state FailedOver again" wait_state FailedOver
check "the VM's temp disk is empty again" zeros "$(ND rg1-asr web01-temp)" "$TEMP"
check "its data disk = point $p1" cmp -s "$I/recovery-points/$p1/disks/web01-data" "$(ND rg1-asr web01-data)"
check "the VM still has the three disks in order" in_order "$NE/rg1-asr/vms/web01/disks" "web01-os web01-data web01-temp"

# --- commit, reprotect: the temp disk stays excluded, never copied back
echo start >"$I/commit"
check "commit reaches FailoverCommitted" wait_state FailoverCommitted
check "commit keeps the empty temp disk" zeros "$(ND rg1-asr web01-temp)" "$TEMP"
check "failed-over VM still lists it" in_order "$NE/rg1-asr/vms/web01/disks" "web01-os web01-data web01-temp"
cp "$(WD rg1 web01-temp)" "$WORK/temp.1"
scribble "$(ND rg1-asr web01-temp)" 8 0
echo start >"$I/reprotect"
check "reprotect reaches Protected" wait_state Protected
check "reprotect job succeeded" job_ok
check "direction reversed" file_is "$I/direction" "northeurope -> westeurope"
check "temp still excluded after reprotect" file_is "$I/disks/web01-temp/state" excluded
check "disks/ still lists all three in order" listed "$I/disks" "web01-os web01-data web01-temp"
check "no replica of temp in westeurope" test ! -e "$(WD rg1 web01-temp-ASRReplica)"
check "the replicated disks' replicas in westeurope" test -e "$(WD rg1 web01-data-ASRReplica)"
check "the old temp disk is kept aside, unchanged" cmp -s "$WORK/temp.1" "$(WD rg1 web01-temp-asrexcluded)"
check "no protection record for the failed-over temp" test ! -e "$STATE/regions/northeurope/protection/resource-groups/rg1-asr/disks/web01-temp.json"
rp=$(point_after "$I/recovery-points")
check "reversed points list only the replicated disks" listed "$I/recovery-points/$rp/disks" "web01-os web01-data"

# --- failback: the VM in westeurope gets an empty temp disk in its place
echo "latest shutdown=yes" >"$I/failover"
check "failback reaches FailedOver" wait_state FailedOver
check "failback job succeeded" job_ok
bp=$(latest_point web01)
check "failed-back VM has the three disks in order" in_order "$WE/rg1/vms/web01/disks" "web01-os web01-data web01-temp"
check "failed-back temp disk is empty, same size" zeros "$(WD rg1 web01-temp)" "$TEMP"
check "failed-back os disk = the point ($bp)" cmp -s "$I/recovery-points/$bp/disks/web01-os" "$(WD rg1 web01-os)"
check "failed-back data disk = the point" cmp -s "$I/recovery-points/$bp/disks/web01-data" "$(WD rg1 web01-data)"
check "the kept-aside disk survives failback" cmp -s "$WORK/temp.1" "$(WD rg1 web01-temp-asrexcluded)"

# --- disable: nothing of it to remove
echo start >"$I/disable"
check "disable removes the item" wait_for 60 test ! -e "$I"
check "the failed-back temp disk stays" test -e "$(WD rg1 web01-temp)"
check "the recovery region's temp disk stays" test -e "$(ND rg1-asr web01-temp)"

# --- unmanaged disks: an excluded VHD becomes an empty VHD in the account
# the failed-over VHDs go to
A=$(V)/items/app01
NV() { echo "$MNT/regions/northeurope/storage-accounts/$1/vhds/$2.vhd"; }
create_vm westeurope rg2 app01 app01-os:8M,app01-scratch:4M,app01-data:4M network=vnet2 storage-account=sa1
scribble "$MNT/regions/westeurope/storage-accounts/sa1/vhds/app01-scratch.vhd" 256 0
check "protect app01 (unmanaged) excluding its scratch VHD" protect rg2 app01 exclude-disks=app01-scratch
check "app01-scratch excluded" file_is "$A/disks/app01-scratch/state" excluded
tsa=$(cat "$A/settings/target-storage-account")
check "no replica VHD of it" test ! -e "$(NV "$tsa" app01-scratch-ASRReplica)"
echo "latest shutdown=yes" >"$A/failover"
check "app01 failover reaches FailedOver" wait_for 60 file_is "$A/state" FailedOver
check "app01's failed-over VM has its disks in order" in_order "$NE/rg2-asr/vms/app01/disks" \
	"app01-os app01-scratch app01-data"
check "its scratch VHD is empty, with its footer" sh -c "[ \$(stat -c %s '$(NV "$tsa" app01-scratch)') -eq $((TEMP + 512)) ] &&
	cmp -s -n $TEMP '$(NV "$tsa" app01-scratch)' /dev/zero && [ \"\$(tail -c 512 '$(NV "$tsa" app01-scratch)' | head -c 8)\" = conectix ]"
check "its data VHD = the point" cmp -s "$A/recovery-points/$(latest_point app01)/disks/app01-data" \
	<(head -c $TEMP "$(NV "$tsa" app01-data)")

# --- a retry of a failed first copy leaves out the same disks: its
# replicas and claims are of that set (the OS disk's medium fails through
# the EIO shim, so the first copy fails)
asrfs_stop
export LD_PRELOAD=$BUILD/tests/eio.so ASRFS_EIO_PATH=web02-os ASRFS_EIO_SWITCH=$WORK/eio
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
asrfs_start || { not_ok "mount with the EIO shim"; finish; }
unset LD_PRELOAD
K=$(V)/items/web02
create_vm westeurope rg1 web02 web02-os:8M,web02-temp:4M
scribble "$(WD rg1 web02-os)" 64 0
touch "$WORK/eio"
echo "vm=rg1/web02 source=westeurope target=northeurope exclude-disks=web02-temp" >"$(V)/enable-replication"
check "the first copy fails" wait_for 30 file_is "$K/state" InitialReplicationFailed
rm -f "$WORK/eio"
expect_errno "a retry leaving out other disks: EINVAL" EINVAL "$(V)/enable-replication" \
	"vm=rg1/web02 source=westeurope target=northeurope"
check "error says why" grep -q "a retry of rg1/web02 must leave out the disks its first try did" "$(V)/error"
check "the item is as it was" file_is "$K/state" InitialReplicationFailed
expect_errno "a retry leaving out the same disks is accepted" 0 "$(V)/enable-replication" \
	"vm=rg1/web02 source=westeurope target=northeurope exclude-disks=web02-temp"
check "the retry reaches Protected" wait_for 30 file_is "$K/state" Protected
check "web02-temp excluded" file_is "$K/disks/web02-temp/state" excluded

# --- a failover resumed after a crash (asrfs dies right after its disks
# were built, ASRFS_CRASH_AFTER_STEP) still makes the VM with the empty disk
asrfs_stop
ASRFS_CRASH_AFTER_STEP=failover:4 asrfs_start || { not_ok "mount to crash"; finish; }
echo latest >"$K/failover" 2>/dev/null
wait_for 60 sh -c "! kill -0 $ASRFS_PID 2>/dev/null"
wait "$ASRFS_PID" 2>/dev/null
rc=$?
ASRFS_PID=
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
check "asrfs died after failover's build step (status $rc)" test "$rc" -eq 137
asrfs_start || { not_ok "remount"; finish; }
check "the resumed failover reaches FailedOver" wait_for 60 file_is "$K/state" FailedOver
check "its VM has both disks in order" in_order "$NE/rg1-asr/vms/web02/disks" "web02-os web02-temp"
check "its temp disk is empty" zeros "$(ND rg1-asr web02-temp)" "$TEMP"

finish
