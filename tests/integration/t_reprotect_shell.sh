#!/bin/bash
# t_reprotect_shell.sh - issue 10 item 10: after a reprotect the old target
# VM does not stay behind as a shell listing disks that no longer exist (its
# managed disks became the -ASRReplica replicas, so the VM record goes, as
# docs/BEHAVIOUR.md says; failback's failover creates it again), and
# `power start` of a VM whose disks are missing is refused with EPERM and
# the reason in the region's `error`.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
I="$(V)/items/web01"
WVM="$(R westeurope)/resource-groups/rgA/vms/web01"
NVM="$(R northeurope)/resource-groups/rgA-asr/vms/web01"
create_vm westeurope rgA web01 "web01-os:4M,web01-data:4M" network=vnet1
scribble "$(WD rgA web01-os)" 64 0
fast_policy 3600
check "protected" protect rgA web01
echo "latest shutdown=yes" >"$I/failover"
check "failed over" wait_for 30 file_is "$I/state" FailedOver
echo start >"$I/commit"
check "committed" wait_for 30 file_is "$I/state" FailoverCommitted
echo start >"$I/reprotect"
check "reprotected" wait_for 60 file_is "$I/state" Protected
check "the old VM's shell is gone" test ! -e "$WVM"
check "its disks are the replicas" test "$(ls "$(R westeurope)/resource-groups/rgA/disks" | tr '\n' ' ')" = \
	"web01-data-ASRReplica web01-os-ASRReplica "
check "no VM in rgA lists a missing disk" test -z "$(ls "$(R westeurope)/resource-groups/rgA/vms")"
check "the failed-over VM still runs" file_is "$NVM/power" running

# failback: the failover creates the VM again in rgA; its reprotect clears rgA-asr
echo "latest shutdown=yes" >"$I/failover"
check "failed back" wait_for 30 file_is "$I/state" FailedOver
check "failback VM created again and running" file_is "$WVM/power" running
check "failback VM lists its disks" test "$(tr '\n' ' ' <"$WVM/disks")" = "web01-os web01-data "
echo start >"$I/commit"
check "failback committed" wait_for 30 file_is "$I/state" FailoverCommitted
echo start >"$I/reprotect"
check "reprotected back" wait_for 60 file_is "$I/state" Protected
check "direction restored" file_is "$I/direction" "westeurope -> northeurope"
check "the recovery side's VM shell is gone" test ! -e "$NVM"
check "the primary VM runs" file_is "$WVM/power" running

# power start of a VM whose disk is missing
create_vm westeurope rgB db01 "db01-os:1M,db01-data:1M"
echo stop >"$(R westeurope)/resource-groups/rgB/vms/db01/power"
asrfs_stop
rm "$STATE/regions/westeurope/resource-groups/rgB/disks/db01-data"
asrfs_start || not_ok "remount"
DB="$(R westeurope)/resource-groups/rgB/vms/db01"
expect_errno "power start of a VM with a missing disk is EPERM" EPERM "$DB/power" start
check "the region's error names the missing disk" grep -q "db01 cannot start: its disk db01-data does not exist" \
	"$(R westeurope)/error"
check "the VM stays stopped" file_is "$DB/power" stopped
expect_errno "power stop is still accepted" 0 "$DB/power" stop
create_vm westeurope rgB db02 "db02-os:1M"
echo stop >"$(R westeurope)/resource-groups/rgB/vms/db02/power"
expect_errno "power start of a whole VM is accepted" 0 "$(R westeurope)/resource-groups/rgB/vms/db02/power" start
finish
