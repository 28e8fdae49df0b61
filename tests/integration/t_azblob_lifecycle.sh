#!/bin/bash
# t_azblob_lifecycle.sh - the DR round trip with both regions on azblob
# (Azurite), through the mount: planned failover -> commit -> reprotect
# (only the changed blocks sent) -> failback (failover the other way) ->
# commit -> reprotect, the original direction restored; the disks' bytes
# checked with cmp at every step.  verify, before the round trip and after
# it, finds every replica (a page blob, the newest point's snapshot)
# equal to its source.  t_lifecycle.sh is the same story on local regions,
# with more detail, and t_verify.sh verify's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=azblob
I=$(V)/items/web01
wait_state() { wait_for "${2:-60}" file_is "$I/state" "$1"; }
job_ok() { file_is "$I/job/state" Succeeded; }
# verified NAME: a verify of the item (westeurope -> northeurope)
# Succeeds, finding no mismatch in the 12 MiB of its disks, and leaves
# both sides' bytes as they were
both_sides() { cat "$(WD rg1 web01-os)" "$(WD rg1 web01-data)" "$(ND rg1-asr web01-os-ASRReplica)" \
	"$(ND rg1-asr web01-data-ASRReplica)" | sha256sum; }
verified() {
	local sums
	sums=$(both_sides)
	expect_errno "$1: verify accepted" 0 "$I/verify" start
	check "$1: verify Succeeded" wait_for 60 sh -c "[ \"\$(cat '$I/job/type')\" = 'Verify replication' ] &&
		grep -qx Succeeded '$I/job/state'"
	check "$1: mismatched-bytes 0" file_is "$I/job/mismatched-bytes" 0
	check "$1: every byte compared" file_is "$I/job/bytes-compared" $((12 << 20))
	check "$1: health Normal" file_is "$I/health" Normal
	check "$1: no byte changed" test "$(both_sides)" = "$sums"
}

fast_policy 2
create_vm westeurope rg1 web01 web01-os:8M,web01-data:4M network=vnet1 availability-set=as1
scribble "$(WD rg1 web01-os)" 512 0
scribble "$(WD rg1 web01-data)" 128 100
check "protect web01" protect rg1 web01
verified "westeurope -> northeurope"

# --- planned failover
scribble "$(WD rg1 web01-os)" 16 1000
cp "$(WD rg1 web01-os)" "$WORK/os.0"; cp "$(WD rg1 web01-data)" "$WORK/data.0"
echo "latest shutdown=yes" >"$I/failover"
check "failover reaches FailedOver" wait_state FailedOver
check "failover job Succeeded" job_ok
check "source VM stopped" file_is "$MNT/regions/westeurope/resource-groups/rg1/vms/web01/power" stopped
check "failed-over VM running in rg1-asr" file_is "$MNT/regions/northeurope/resource-groups/rg1-asr/vms/web01/power" running
check "failed-over os disk = source at failover" cmp -s "$WORK/os.0" "$(ND rg1-asr web01-os)"
check "failed-over data disk = source at failover" cmp -s "$WORK/data.0" "$(ND rg1-asr web01-data)"

# --- commit, change 5 % on the recovery side, reprotect
echo start >"$I/commit"
check "commit reaches FailoverCommitted" wait_state FailoverCommitted
check "commit deleted the replica disks" test ! -e "$(ND rg1-asr web01-os-ASRReplica)"
scribble "$(ND rg1-asr web01-os)" 102 300
cp "$(ND rg1-asr web01-os)" "$WORK/os.1"; cp "$(ND rg1-asr web01-data)" "$WORK/data.1"
echo start >"$I/reprotect"
check "reprotect reaches Protected" wait_state Protected 90
check "reprotect job Succeeded" job_ok
total=$(cat "$I/job/bytes-total"); sent=$(cat "$I/job/bytes-transferred")
check "reprotect sent only the changed blocks ($sent of $total bytes)" test "$sent" -gt 0 -a "$sent" -le $((total * 6 / 100))
check "direction reversed" file_is "$I/direction" "northeurope -> westeurope"
check "replica os in westeurope = recovery VM's disk" cmp -s "$WORK/os.1" "$(WD rg1 web01-os-ASRReplica)"
check "replica data in westeurope = recovery VM's disk" cmp -s "$WORK/data.1" "$(WD rg1 web01-data-ASRReplica)"
check "delta replication makes points" wait_new_point web01 "$(latest_point web01)"

# --- failback
scribble "$(ND rg1-asr web01-data)" 20 10
cp "$(ND rg1-asr web01-os)" "$WORK/os.2"; cp "$(ND rg1-asr web01-data)" "$WORK/data.2"
echo "latest shutdown=yes" >"$I/failover"
check "failback reaches FailedOver" wait_state FailedOver
check "failback VM running in rg1" file_is "$MNT/regions/westeurope/resource-groups/rg1/vms/web01/power" running
check "failback os = recovery side's last bytes" cmp -s "$WORK/os.2" "$(WD rg1 web01-os)"
check "failback data = recovery side's last bytes" cmp -s "$WORK/data.2" "$(WD rg1 web01-data)"
echo start >"$I/commit"
check "commit after failback" wait_state FailoverCommitted
scribble "$(WD rg1 web01-os)" 8 1500
cp "$(WD rg1 web01-os)" "$WORK/os.3"; cp "$(WD rg1 web01-data)" "$WORK/data.3"
echo start >"$I/reprotect"
check "second reprotect reaches Protected" wait_state Protected 90
check "original direction restored" file_is "$I/direction" "westeurope -> northeurope"
check "replica os = primary (round trip lost nothing)" cmp -s "$WORK/os.3" "$(ND rg1-asr web01-os-ASRReplica)"
check "replica data = primary (round trip lost nothing)" cmp -s "$WORK/data.3" "$(ND rg1-asr web01-data-ASRReplica)"
sent=$(cat "$I/job/bytes-transferred")
check "second reprotect sent only the 8 changed pages ($sent)" test "$sent" -eq $((8 * 4096))
p=$(latest_point web01)
scribble "$(WD rg1 web01-os)" 4 10
cp "$(WD rg1 web01-os)" "$WORK/os.4"
check "cycles go on from the primary" wait_new_point web01 "$p" 30
wait_new_point web01 "$(latest_point web01)" 30 # one whole cycle after the write
check "the newest point = the primary" cmp -s "$I/recovery-points/$(latest_point web01)/disks/web01-os" "$WORK/os.4"
verified "after the round trip"
finish
