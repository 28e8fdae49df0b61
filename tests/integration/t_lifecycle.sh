#!/bin/bash
# t_lifecycle.sh - the full DR round trip on managed disks through a real
# mount: failover (planned, latest) -> commit -> reprotect -> failback ->
# commit -> reprotect, checking the bytes with cmp at every step, that
# reprotect after a 5 % change sends only a few percent of the disks, the
# reprotect job's six tasks, allowed-operations in each state, and that a
# reprotect with the old VM deleted copies the disks in full.
. "$(dirname "$0")/lib.sh"

asrfs_start || { not_ok "mount"; finish; }
I=$(V)/items/web01
wait_state() { wait_for "${2:-60}" file_is "$I/state" "$1"; }
allowed_is() { [ "$(tr '\n' ' ' <"$I/allowed-operations")" = "$1" ]; }
job_ok() { file_is "$I/job/state" Succeeded; }
# writes N 4 KiB pages of random data at page offset SEEK into FILE

fast_policy 1
create_vm westeurope rg1 web01 web01-os:16M,web01-data:8M network=vnet1 availability-set=as1
scribble "$(WD rg1 web01-os)" 1024 0
scribble "$(WD rg1 web01-data)" 256 100
check "protect web01" protect rg1 web01
check "allowed-operations when Protected" allowed_is "failover test-failover resync verify disable "

# --- failover (planned: shut down, ship the latest, no data loss)
scribble "$(WD rg1 web01-os)" 64 2000
cp "$(WD rg1 web01-os)" "$WORK/os.0"; cp "$(WD rg1 web01-data)" "$WORK/data.0"
echo "latest shutdown=yes" >"$I/failover"
check "failover reaches FailedOver" wait_state FailedOver
check "failover job succeeded" job_ok
check "failover tasks" test "$(awk '{print $1}' "$I/job/tasks" | tr '\n' ' ')" = "Succeeded Succeeded Succeeded Succeeded Succeeded "
check "failover task names" test "$(cut -d' ' -f4- "$I/job/tasks" | tr '\n' ',')" = \
	"Prerequisites check,Shut down the virtual machine,Synchronizing the latest changes,Start failover,Start the replica virtual machine,"
check "source VM stopped" file_is "$MNT/regions/westeurope/resource-groups/rg1/vms/web01/power" stopped
check "failed-over VM running in rg1-asr" file_is "$MNT/regions/northeurope/resource-groups/rg1-asr/vms/web01/power" running
check "failed-over VM on the mapped network" file_is "$MNT/regions/northeurope/resource-groups/rg1-asr/vms/web01/network" vnet1-asr
check "failed-over VM in availability set" file_is "$MNT/regions/northeurope/resource-groups/rg1-asr/vms/web01/availability-set" as1-asr
check "failed-over os disk = source at failover" cmp -s "$WORK/os.0" "$(ND rg1-asr web01-os)"
check "failed-over data disk = source at failover" cmp -s "$WORK/data.0" "$(ND rg1-asr web01-data)"
check "active-region is northeurope" file_is "$I/active-region" northeurope
check "allowed-operations when FailedOver" allowed_is "commit change-recovery-point disable "

# --- commit
echo start >"$I/commit"
check "commit reaches FailoverCommitted" wait_state FailoverCommitted
check "commit deleted the replica disks" test ! -e "$(ND rg1-asr web01-os-ASRReplica)"
check "commit deleted the recovery points" test -z "$(entries "$I/recovery-points" | grep -v latest)"
check "allowed-operations when FailoverCommitted" allowed_is "reprotect complete-migration disable "

# --- the recovery VM changes 5 % of its OS disk, then reprotect
scribble "$(ND rg1-asr web01-os)" 205 300
cp "$(ND rg1-asr web01-os)" "$WORK/os.1"; cp "$(ND rg1-asr web01-data)" "$WORK/data.1"
echo start >"$I/reprotect"
check "reprotect reaches Protected" wait_state Protected
check "reprotect job succeeded" job_ok
check "reprotect shows the six tasks in order" test "$(cut -d' ' -f4- "$I/job/tasks" | tr '\n' ',')" = \
	"Prerequisites check,Creating target resources,Preparing target disks,Identifying the deltas,Synchronizing,Starting delta replication,"
total=$(cat "$I/job/bytes-total"); sent=$(cat "$I/job/bytes-transferred")
check "bytes-total is the sum of the disks ($total)" test "$total" -eq $((24 * 1024 * 1024))
check "reprotect sent only the changed 3.3 % ($sent of $total bytes)" test "$sent" -gt 0 -a "$sent" -le $((total * 5 / 100))
check "bytes-compared covers the disks" test "$(cat "$I/job/bytes-compared")" -eq "$total"
check "direction reversed" file_is "$I/direction" "northeurope -> westeurope"
check "replica names in the old primary" test -e "$(WD rg1 web01-os-ASRReplica)" -a -e "$(WD rg1 web01-data-ASRReplica)"
check "original managed disks deleted" test ! -e "$(WD rg1 web01-os)" -a ! -e "$(WD rg1 web01-data)"
check "old VM shell deleted (its disks are the replicas)" test ! -e "$MNT/regions/westeurope/resource-groups/rg1/vms/web01"
check "replica os = recovery VM's disk" cmp -s "$WORK/os.1" "$(WD rg1 web01-os-ASRReplica)"
check "replica data = recovery VM's disk" cmp -s "$WORK/data.1" "$(WD rg1 web01-data-ASRReplica)"
check "reverse network mapping" file_is "$(V)/network-mappings/northeurope/vnet1-asr" westeurope/vnet1
p=$(latest_point web01)
check "delta replication makes points" wait_new_point web01 "$p"

# --- failback: write on the recovery side, fail over back
scribble "$(ND rg1-asr web01-data)" 50 10
cp "$(ND rg1-asr web01-os)" "$WORK/os.2"; cp "$(ND rg1-asr web01-data)" "$WORK/data.2"
echo "latest shutdown=yes" >"$I/failover"
check "failback reaches FailedOver" wait_state FailedOver
check "failback VM running in rg1" file_is "$MNT/regions/westeurope/resource-groups/rg1/vms/web01/power" running
check "failback VM on the original network" file_is "$MNT/regions/westeurope/resource-groups/rg1/vms/web01/network" vnet1
check "failback os = recovery side's last bytes" cmp -s "$WORK/os.2" "$(WD rg1 web01-os)"
check "failback data = recovery side's last bytes" cmp -s "$WORK/data.2" "$(WD rg1 web01-data)"
check "active-region back to westeurope" file_is "$I/active-region" westeurope
echo start >"$I/commit"
check "commit after failback" wait_state FailoverCommitted
scribble "$(WD rg1 web01-os)" 8 3000
cp "$(WD rg1 web01-os)" "$WORK/os.3"; cp "$(WD rg1 web01-data)" "$WORK/data.3"
echo start >"$I/reprotect"
check "second reprotect reaches Protected" wait_state Protected
check "original direction restored" file_is "$I/direction" "westeurope -> northeurope"
check "replicas back in rg1-asr" test -e "$(ND rg1-asr web01-os-ASRReplica)" -a ! -e "$(ND rg1-asr web01-os)"
check "replica os = primary (round trip lost nothing)" cmp -s "$WORK/os.3" "$(ND rg1-asr web01-os-ASRReplica)"
check "replica data = primary (round trip lost nothing)" cmp -s "$WORK/data.3" "$(ND rg1-asr web01-data-ASRReplica)"
sent=$(cat "$I/job/bytes-transferred")
check "second reprotect sent only the 8 changed pages ($sent)" test "$sent" -eq $((8 * 4096))
# and replication carries on from the primary
scribble "$(WD rg1 web01-os)" 4 10
p=$(latest_point web01)
wait_new_point web01 "$p"
sleep 1.5
check "cycles ship new primary writes" cmp -s "$(WD rg1 web01-os)" "$(ND rg1-asr web01-os-ASRReplica)"

# --- reprotect with the target VM deleted copies in full
echo "latest shutdown=yes" >"$I/failover"
wait_state FailedOver && echo start >"$I/commit"
check "third failover committed" wait_state FailoverCommitted
rmdir "$MNT/regions/westeurope/resource-groups/rg1/vms/web01"
check "old VM deleted" test ! -e "$MNT/regions/westeurope/resource-groups/rg1/vms/web01"
echo start >"$I/reprotect"
check "reprotect without the old VM reaches Protected" wait_state Protected
sent=$(cat "$I/job/bytes-transferred")
check "it copied every data page in full ($sent bytes)" test "$sent" -ge $((4 * 1024 * 1024 + 256 * 4096))
check "replica os = recovery VM's disk" cmp -s "$(ND rg1-asr web01-os)" "$(WD rg1 web01-os-ASRReplica)"

finish
