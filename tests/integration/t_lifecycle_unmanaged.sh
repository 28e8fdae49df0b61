#!/bin/bash
# t_lifecycle_unmanaged.sh - the DR round trip for a VM on unmanaged disks
# (VHDs in a storage account): failover, commit, reprotect (data disks
# detached and used as replicas, the OS disk copied and attached to the old
# VM, the original OS disk used), failback, commit, reprotect; disk bytes
# compared at every step (same_vhd: each .vhd also ends with its footer).  Then a reprotect with target-storage-account=
# creates that account and puts the replicas there.  A verify of the VHDs
# finds them equal, their footers left out.
. "$(dirname "$0")/lib.sh"

asrfs_start || { not_ok "mount"; finish; }
I=$(V)/items/app01
WV() { echo "$MNT/regions/westeurope/storage-accounts/$1/vhds/$2.vhd"; }
NV() { echo "$MNT/regions/northeurope/storage-accounts/$1/vhds/$2.vhd"; }
WVM=$MNT/regions/westeurope/resource-groups/rg2/vms/app01
wait_state() { wait_for "${2:-60}" file_is "$I/state" "$1"; }

fast_policy 1
create_vm westeurope rg2 app01 app01-os:16M,app01-data:8M network=vnet2 storage-account=sa1
scribble "$(WV sa1 app01-os)" 512 0
scribble "$(WV sa1 app01-data)" 128 0
check "protect app01 (unmanaged)" protect rg2 app01
tsa=$(cat "$I/settings/target-storage-account")
check "replicas in $tsa" test -e "$(NV "$tsa" app01-os-ASRReplica)"
# each VHD has a footer of its own (its unique id): verify compares disk bytes only
echo start >"$I/verify"
check "verify of the VHDs Succeeds" wait_for 30 sh -c \
	"[ \"\$(cat '$I/job/type')\" = 'Verify replication' ] && grep -qx Succeeded '$I/job/state'"
check "... with no mismatch though their footers differ" file_is "$I/job/mismatched-bytes" 0
check "... comparing the disks' bytes, not the footers" file_is "$I/job/bytes-compared" $((24 << 20))

scribble "$(WV sa1 app01-data)" 16 1000
cp "$(WV sa1 app01-os)" "$WORK/os.0"; cp "$(WV sa1 app01-data)" "$WORK/data.0"
echo "latest shutdown=yes" >"$I/failover"
check "failover reaches FailedOver" wait_state FailedOver
check "failed-over VHDs named like the source" same_vhd "$WORK/os.0" "$(NV "$tsa" app01-os)"
check "failed-over data VHD = source" same_vhd "$WORK/data.0" "$(NV "$tsa" app01-data)"
echo start >"$I/commit"
check "commit" wait_state FailoverCommitted

scribble "$(NV "$tsa" app01-os)" 100 700
cp "$(NV "$tsa" app01-os)" "$WORK/os.1"; cp "$(NV "$tsa" app01-data)" "$WORK/data.1"
echo start >"$I/reprotect"
check "reprotect reaches Protected" wait_state Protected
check "direction reversed" file_is "$I/direction" "northeurope -> westeurope"
check "original account is the target" file_is "$I/settings/target-storage-account" sa1
check "data disk detached from the old VM and used" test "$(cat "$WVM/disks")" = app01-os
check "old VM keeps an OS disk copy" test -e "$(WV sa1 app01-os)"
check "replica os = recovery VM's disk" same_vhd "$WORK/os.1" "$(WV sa1 app01-os-ASRReplica)"
check "replica data = recovery VM's disk" same_vhd "$WORK/data.1" "$(WV sa1 app01-data-ASRReplica)"
sent=$(cat "$I/job/bytes-transferred"); total=$(cat "$I/job/bytes-total")
check "only the deltas crossed ($sent of $total)" test "$sent" -le $((total * 3 / 100))

scribble "$(NV "$tsa" app01-data)" 20 40
p=$(latest_point app01)
wait_new_point app01 "$p"
cp "$(NV "$tsa" app01-os)" "$WORK/os.2"; cp "$(NV "$tsa" app01-data)" "$WORK/data.2"
echo "latest shutdown=yes" >"$I/failover"
check "failback reaches FailedOver" wait_state FailedOver
check "failback VM running" file_is "$WVM/power" running
check "failback VM has both disks again" test "$(tr '\n' ' ' <"$WVM/disks")" = "app01-os app01-data "
check "failback os = recovery side" same_vhd "$WORK/os.2" "$(WV sa1 app01-os)"
check "failback data = recovery side" same_vhd "$WORK/data.2" "$(WV sa1 app01-data)"
echo start >"$I/commit"
check "commit after failback" wait_state FailoverCommitted
scribble "$(WV sa1 app01-os)" 3 3
cp "$(WV sa1 app01-os)" "$WORK/os.3"; cp "$(WV sa1 app01-data)" "$WORK/data.3"
echo start >"$I/reprotect"
check "second reprotect reaches Protected" wait_state Protected
check "original direction restored" file_is "$I/direction" "westeurope -> northeurope"
check "target account back to $tsa" file_is "$I/settings/target-storage-account" "$tsa"
check "replica os = primary (nothing lost)" same_vhd "$WORK/os.3" "$(NV "$tsa" app01-os-ASRReplica)"
check "replica data = primary (nothing lost)" same_vhd "$WORK/data.3" "$(NV "$tsa" app01-data-ASRReplica)"
check "never -ASRReplica-ASRReplica" test -z "$(entries "$MNT/regions/northeurope/storage-accounts/$tsa/vhds" | grep ASRReplica-ASRReplica)"

# --- the target-storage-account override puts the replicas in a new account
echo "latest shutdown=yes" >"$I/failover"
wait_state FailedOver && echo start >"$I/commit"
check "failover again, committed" wait_state FailoverCommitted
echo "start target-storage-account=sa1new" >"$I/reprotect"
check "reprotect with a new target account" wait_state Protected
check "replicas in sa1new" test -e "$(WV sa1new app01-os-ASRReplica)" -a -e "$(WV sa1new app01-data-ASRReplica)"
check "replica = failed-over disk" same_vhd "$(NV "$tsa" app01-os)" "$(WV sa1new app01-os-ASRReplica)"

finish
