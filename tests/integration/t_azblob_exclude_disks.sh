#!/bin/bash
# t_azblob_exclude_disks.sh - exclude-disks= with both regions on azblob
# (Azurite): the excluded disk has no replica page blob; the failed-over
# VM gets an empty page blob of its size in its place; reprotect keeps it
# excluded and keeps the old primary's blob of that name as
# <disk>-asrexcluded (a rename of a blob with snapshots around); failback
# gives the VM in westeurope an empty disk in its place.
# t_exclude_disks.sh is the same story on local regions, with more detail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=azblob
I=$(V)/items/web01
NE=$MNT/regions/northeurope/resource-groups
WE=$MNT/regions/westeurope/resource-groups
wait_state() { wait_for "${2:-60}" file_is "$I/state" "$1"; }
in_order() { [ "$(tr '\n' ' ' <"$1")" = "$2 " ]; }
zeros() { [ "$(stat -c %s "$1")" -eq "$2" ] && cmp -s -n "$2" "$1" /dev/zero; }
TEMP=$((2 * 1024 * 1024))

fast_policy 1
create_vm westeurope rg1 web01 web01-os:4M,web01-temp:2M,web01-data:2M network=vnet1
scribble "$(WD rg1 web01-os)" 256 0
scribble "$(WD rg1 web01-temp)" 128 0
scribble "$(WD rg1 web01-data)" 64 0
check "protect web01 excluding web01-temp" protect rg1 web01 exclude-disks=web01-temp
check "excluded" file_is "$I/disks/web01-temp/state" excluded
check "no replica blob of it" test ! -e "$(ND rg1-asr web01-temp-ASRReplica)"
check "the others' replicas" test -e "$(ND rg1-asr web01-data-ASRReplica)"

echo "latest shutdown=yes" >"$I/failover"
check "failover reaches FailedOver" wait_state FailedOver
fp=$(latest_point web01)
check "failed-over VM's disks in order" in_order "$NE/rg1-asr/vms/web01/disks" "web01-os web01-temp web01-data"
check "failed-over temp disk is empty" zeros "$(ND rg1-asr web01-temp)" "$TEMP"
check "failed-over data disk = the point" cmp -s "$I/recovery-points/$fp/disks/web01-data" "$(ND rg1-asr web01-data)"
echo start >"$I/commit"
check "commit" wait_state FailoverCommitted
cp "$(WD rg1 web01-temp)" "$WORK/temp.1"
echo start >"$I/reprotect"
check "reprotect reaches Protected" wait_state Protected
check "temp still excluded" file_is "$I/disks/web01-temp/state" excluded
check "no replica of temp in westeurope" test ! -e "$(WD rg1 web01-temp-ASRReplica)"
check "the old temp blob kept aside, unchanged" cmp -s "$WORK/temp.1" "$(WD rg1 web01-temp-asrexcluded)"

echo "latest shutdown=yes" >"$I/failover"
check "failback reaches FailedOver" wait_state FailedOver
bp=$(latest_point web01)
check "failed-back VM's disks in order" in_order "$WE/rg1/vms/web01/disks" "web01-os web01-temp web01-data"
check "failed-back temp disk is empty" zeros "$(WD rg1 web01-temp)" "$TEMP"
check "failed-back os disk = the point" cmp -s "$I/recovery-points/$bp/disks/web01-os" "$(WD rg1 web01-os)"
echo start >"$I/disable"
check "disable removes the item" wait_for 60 test ! -e "$I"

finish
