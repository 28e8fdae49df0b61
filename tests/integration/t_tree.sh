#!/bin/bash
# t_tree.sh - the tree of SPEC section 3 and the region inventory of
# section 5: files, modes, one-value-per-file, create-vm and its refusals,
# resource groups by mkdir/rmdir, VMs by rmdir and mv, power, policies,
# network mappings.  Every refusal is checked by its errno and leaves
# nothing behind.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
W=$(R westeurope)

check "README and version are there" test -s "$MNT/README" -a "$(cat "$MNT/version")" != ""
check "version is one line" test "$(wc -l <"$MNT/version")" -eq 1
check "two regions" test "$(ls "$MNT/regions" | tr '\n' ' ')" = "northeurope westeurope "
check "region status available" file_is "$W/status" available
check "backend shows local:<path>" grep -q "^local:$STATE/regions/westeurope$" "$W/backend"
check "vault region" file_is "$(V)/region" northeurope
check "default policy" test -d "$(V)/policies/24-hour-retention-policy"
P="$(V)/policies/24-hour-retention-policy"
check "policy defaults" test "$(cat "$P/recovery-point-retention-hours") $(cat "$P/crash-consistent-frequency-seconds") $(cat "$P/app-consistent-frequency-minutes") $(cat "$P/rpo-threshold-seconds")" = "24 300 0 900"
mode() { stat -c %a "$1"; }
check "control file mode 0200" test "$(mode "$W/create-vm")" = 200
check "read-only file mode 0444" test "$(mode "$W/status")" = 444
check "setting mode 0644" test "$(mode "$P/rpo-threshold-seconds")" = 644
check "stat size is the real length" test "$(stat -c %s "$W/status")" -eq "$(cat "$W/status" | wc -c)"
check "metrics in Prometheus text format" grep -q '^asrfs_region_available{region="westeurope"} 1$' "$MNT/metrics/asrfs.prom"

# create-vm and its refusals
expect_errno "create-vm accepted" 0 "$W/create-vm" "name=web01 resource-group=rg1 disks=web01-os:4M,web01-data:1M network=vnet1 availability-set=as1"
check "VM directory" test -d "$W/resource-groups/rg1/vms/web01"
check "disks, OS disk first" test "$(cat "$W/resource-groups/rg1/vms/web01/disks" | tr '\n' ' ')" = "web01-os web01-data "
check "disk file of the right size" test "$(stat -c %s "$W/resource-groups/rg1/disks/web01-os")" -eq $((4 << 20))
check "disk advertises 1 MiB I/O blocks (st_blksize)" test "$(stat -c %o "$W/resource-groups/rg1/disks/web01-os")" -eq $((1 << 20))
check "disk is sparse zeros" cmp -s -n $((4 << 20)) "$W/resource-groups/rg1/disks/web01-os" /dev/zero
check "network created" test -e "$W/resource-groups/rg1/networks/vnet1"
check "availability set created" test -e "$W/resource-groups/rg1/availability-sets/as1"
check "vm.json is JSON" test "$(jq -r .name "$W/resource-groups/rg1/vms/web01/vm.json")" = web01
check "power running" file_is "$W/resource-groups/rg1/vms/web01/power" running
expect_errno "power stop" 0 "$W/resource-groups/rg1/vms/web01/power" stop
check "power stopped" file_is "$W/resource-groups/rg1/vms/web01/power" stopped
expect_errno "power takes start|stop" EINVAL "$W/resource-groups/rg1/vms/web01/power" reboot
expect_errno "EEXIST for an existing VM" EEXIST "$W/create-vm" "name=web01 resource-group=rg1 disks=x:1M"
expect_errno "EINVAL bad VM name" EINVAL "$W/create-vm" "name=web@01 resource-group=rg1 disks=x:1M"
check "error names the rule" grep -q "1-64 letters" "$W/error"
expect_errno "EINVAL bad RG name" EINVAL "$W/create-vm" "name=a resource-group=rg. disks=x:1M"
expect_errno "EINVAL size not a multiple of 512" EINVAL "$W/create-vm" "name=a resource-group=rg1 disks=x:1000"
expect_errno "EINVAL unknown key" EINVAL "$W/create-vm" "name=a resource-group=rg1 disks=x:1M colour=red"
expect_errno "EINVAL missing disks" EINVAL "$W/create-vm" "name=a resource-group=rg1"
expect_errno "EINVAL bad storage account" EINVAL "$W/create-vm" "name=a resource-group=rg1 disks=x:1M storage-account=Bad_Name"
expect_errno "EEXIST for an existing disk" EEXIST "$W/create-vm" "name=other resource-group=rg1 disks=web01-os:1M"
check "refusals left nothing behind" test "$(ls "$W/resource-groups/rg1/vms" | tr '\n' ' ')" = "web01 "
check "refusals created no disk" test "$(ls "$W/resource-groups/rg1/disks" | wc -l)" -eq 2
expect_errno "a two-line write is refused" EINVAL "$W/create-vm" "name=a resource-group=rg1 disks=x:1M
name=b resource-group=rg1 disks=y:1M"
long=$(head -c 5000 /dev/zero | tr '\0' a)
expect_errno "a line over 4096 bytes is refused" EINVAL "$W/create-vm" "name=$long"

# unmanaged disks
expect_errno "create-vm with a storage account" 0 "$W/create-vm" "name=db01 resource-group=rg1 disks=db01-os:2M storage-account=dbstore1"
check "VHD under storage-accounts (its bytes and footer)" test "$(stat -c %s "$W/storage-accounts/dbstore1/vhds/db01-os.vhd")" -eq $(((2 << 20) + 512))

# disk bytes through the mount, any offset and length
dd if=/dev/urandom of="$WORK/blob" bs=1000 count=777 status=none
dd if="$WORK/blob" of="$W/resource-groups/rg1/disks/web01-os" bs=1000 seek=1 conv=notrunc status=none
check "unaligned write reads back" cmp -s <(dd if="$W/resource-groups/rg1/disks/web01-os" bs=1000 skip=1 count=777 status=none) "$WORK/blob"
check "size unchanged after dd" test "$(stat -c %s "$W/resource-groups/rg1/disks/web01-os")" -eq $((4 << 20))
dd if=/dev/urandom of="$WORK/big" bs=1M count=3 status=none
dd if="$WORK/big" of="$W/resource-groups/rg1/disks/web01-os" bs=1M conv=notrunc status=none
check "1 MiB writes read back" cmp -s <(head -c $((3 << 20)) "$W/resource-groups/rg1/disks/web01-os") "$WORK/big"
check "writing past the end fails" sh -c "! dd if=/dev/zero of='$W/resource-groups/rg1/disks/web01-data' bs=512 seek=$((2048)) count=1 conv=notrunc status=none 2>/dev/null"

# resource groups
check "mkdir creates a resource group" mkdir "$W/resource-groups/rg2"
check "rg2 listed" test -d "$W/resource-groups/rg2"
check "mkdir of an existing RG fails" sh -c "! mkdir '$W/resource-groups/rg2' 2>/dev/null"
check "mkdir with a bad name fails" sh -c "! mkdir '$W/resource-groups/bad.' 2>/dev/null"
check "rmdir of a non-empty RG fails" sh -c "! rmdir '$W/resource-groups/rg1' 2>/dev/null"

# mv moves a VM and its managed disks
check "mv VM to another RG" mv "$W/resource-groups/rg1/vms/web01" "$W/resource-groups/rg2/vms/web01"
check "VM is in rg2" test -d "$W/resource-groups/rg2/vms/web01" -a ! -e "$W/resource-groups/rg1/vms/web01"
check "its disks moved with it" test -e "$W/resource-groups/rg2/disks/web01-os" -a ! -e "$W/resource-groups/rg1/disks/web01-os"
check "bytes moved intact" cmp -s <(head -c $((3 << 20)) "$W/resource-groups/rg2/disks/web01-os") "$WORK/big"
check "vm.json knows its RG" test "$(jq -r .resource_group "$W/resource-groups/rg2/vms/web01/vm.json")" = rg2
check "rmdir deletes a VM" rmdir "$W/resource-groups/rg2/vms/web01"
check "VM gone" test ! -e "$W/resource-groups/rg2/vms/web01"

# policies
check "mkdir creates a policy" mkdir "$(V)/policies/fast"
check "new policy has defaults" file_is "$(V)/policies/fast/recovery-point-retention-hours" 24
expect_errno "policy value accepted" 0 "$(V)/policies/fast/crash-consistent-frequency-seconds" 1
check "policy value stored" file_is "$(V)/policies/fast/crash-consistent-frequency-seconds" 1
expect_errno "policy value 0 refused" EINVAL "$(V)/policies/fast/crash-consistent-frequency-seconds" 0
expect_errno "policy value not a number" EINVAL "$(V)/policies/fast/rpo-threshold-seconds" soon
check "refused value left unchanged" file_is "$(V)/policies/fast/crash-consistent-frequency-seconds" 1
check "rmdir removes an unused policy" rmdir "$(V)/policies/fast"

# network mappings
mkdir -p "$WORK" && echo "northeurope/vnet9" >"$(V)/network-mappings/westeurope/vnet9"
check "writing a new mapping creates it" file_is "$(V)/network-mappings/westeurope/vnet9" "northeurope/vnet9"
expect_errno "mapping to an unknown region refused" EINVAL "$(V)/network-mappings/westeurope/vnet9" "nowhere/x"
expect_errno "mapping to the same region refused" EINVAL "$(V)/network-mappings/westeurope/vnet9" "westeurope/x"
check "refused mapping unchanged" file_is "$(V)/network-mappings/westeurope/vnet9" "northeurope/vnet9"

# enable-replication refusals
expect_errno "enable: unknown key" EINVAL "$(V)/enable-replication" "vm=rg1/db01 source=westeurope target=northeurope speed=max"
expect_errno "enable: no such VM" EINVAL "$(V)/enable-replication" "vm=rg1/nope source=westeurope target=northeurope"
expect_errno "enable: same region" EINVAL "$(V)/enable-replication" "vm=rg1/db01 source=westeurope target=westeurope"
expect_errno "enable: unknown policy" EINVAL "$(V)/enable-replication" "vm=rg1/db01 source=westeurope target=northeurope policy=none"
check "no item was created" test -z "$(ls "$(V)/items")"
# Files still open when the daemon stops (fusermount refuses, it is told
# to stop): their handles are closed all the same (a sanitizer build finds
# any left in the daemon's log).
disk=$(ls "$(R westeurope)"/resource-groups/*/disks/* 2>/dev/null | head -1)
if [ -n "$disk" ]; then
	exec 3<"$disk"
	exec 4<"$(R westeurope)/status"
	pid=$ASRFS_PID
	asrfs_stop >/dev/null 2>&1
	check "the daemon stops with files open" sh -c "! kill -0 $pid 2>/dev/null"
	check "and says it stops" grep -q "stopping" "$LOG"
	exec 3<&- 4<&-
else
	not_ok "a disk in westeurope to hold open"
fi
finish
