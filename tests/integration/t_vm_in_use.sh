#!/bin/bash
# t_vm_in_use.sh - a VM that replication needs where it is cannot be
# deleted or moved (EBUSY, the reason in the region's error); once failed
# over, the old source may go.
. "$(dirname "$0")/lib.sh"
asrfs_start || exit 1
W=$MNT/regions/westeurope/resource-groups
create_vm westeurope rg1 web01 web01-os:4M
mkdir "$W/rg2"
protect rg1 web01 || { not_ok "protect"; finish; }
I=$(V)/items/web01
out=$(rmdir "$W/rg1/vms/web01" 2>&1)
check "rmdir of a protected VM fails with EBUSY" grep -q "Device or resource busy" <<<"$out"
check "... the VM is still there" test -d "$W/rg1/vms/web01"
check "... the region's error says who uses it" grep -q "in use by item web01 of vault asr-vault" "$MNT/regions/westeurope/error"
out=$(mv "$W/rg1/vms/web01" "$W/rg2/vms/web01" 2>&1)
check "mv of a protected VM fails with EBUSY" grep -q "Device or resource busy" <<<"$out"
check "... the VM and its disk stay in rg1" test -d "$W/rg1/vms/web01" -a -e "$W/rg1/disks/web01-os"
check "the item is still Protected" file_is "$I/state" Protected
# mid-job: a throttled resync holds the VM too
echo 200000 >"$I/settings/bandwidth-limit-bytes-per-second"
scribble "$W/rg1/disks/web01-os" 256 0
echo start >"$I/resync"
out=$(mv "$W/rg1/vms/web01" "$W/rg2/vms/web01" 2>&1)
check "mv during a job fails with EBUSY" grep -q "Device or resource busy" <<<"$out"
echo start >"$I/cancel"
echo 0 >"$I/settings/bandwidth-limit-bytes-per-second"
check "back to Protected" wait_for 30 file_is "$I/state" Protected
echo "latest shutdown=yes" >"$I/failover"
check "failed over" wait_for 60 file_is "$I/state" FailedOver
check "the old source VM may go once failed over" rmdir "$W/rg1/vms/web01"
finish
