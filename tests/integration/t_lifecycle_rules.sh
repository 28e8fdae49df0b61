#!/bin/bash
# t_lifecycle_rules.sh - the refusals of SPEC 4 and 6 with their errnos, and
# the unplanned failover: the primary region's directory disappears, the
# region turns unavailable, failover latest-processed still works, reprotect
# is refused with EHOSTUNREACH until the region is back.  Every refusal leaves
# the state alone and a reason in the item's error file.
. "$(dirname "$0")/lib.sh"

asrfs_start || { not_ok "mount"; finish; }
I=$(V)/items/web01
J=$(V)/items/web02
NE=$MNT/regions/northeurope/resource-groups
wait_state() { wait_for "${3:-60}" file_is "$1/state" "$2"; }
allowed_is() { [ "$(tr '\n' ' ' <"$1/allowed-operations")" = "$2" ]; }
error_has() { grep -q -- "$2" "$1/error"; }

fast_policy 1
create_vm westeurope rg1 web01 web01-os:8M network=vnet1
create_vm westeurope rg1 web02 web02-os:8M network=vnet1
scribble "$MNT/regions/westeurope/resource-groups/rg1/disks/web01-os" 300 0
check "protect web01" protect rg1 web01
check "protect web02" protect rg1 web02

# --- malformed lines and unknown points: EINVAL
expect_errno "failover with a bad point word: EINVAL" EINVAL "$I/failover" "newest"
check "error says why" error_has "$I" "not a recovery point"
expect_errno "failover to an unknown point id: EINVAL" EINVAL "$I/failover" "2001-01-01T00:00:00Z"
check "error names the point" error_has "$I" "2001-01-01T00:00:00Z"
expect_errno "failover with an unknown key: EINVAL" EINVAL "$I/failover" "latest colour=blue"
expect_errno "failover shutdown=maybe: EINVAL" EINVAL "$I/failover" "latest shutdown=maybe"
expect_errno "failover with two points: EINVAL" EINVAL "$I/failover" "latest latest-processed"
expect_errno "no app-consistent point: EINVAL" EINVAL "$I/failover" "latest-app-consistent"
expect_errno "resync takes start: EINVAL" EINVAL "$I/resync" "now"
expect_errno "test-failover bad network name: EINVAL" EINVAL "$I/test-failover" "latest network=a/b"
# --- not in this state: EPERM
expect_errno "commit while Protected: EPERM" EPERM "$I/commit" start
expect_errno "reprotect while Protected: EPERM" EPERM "$I/reprotect" start
expect_errno "change-recovery-point while Protected: EPERM" EPERM "$I/change-recovery-point" latest
expect_errno "complete-migration while Protected: EPERM" EPERM "$I/complete-migration" start
expect_errno "cleanup-test-failover without one: EPERM" EPERM "$I/cleanup-test-failover" start
expect_errno "cancel without a job: EPERM" EPERM "$I/cancel" start
check "refusals changed nothing" file_is "$I/state" Protected

# --- the primary region goes away: unplanned failover
p=$(latest_point web01)
wait_new_point web01 "$p"
mv "$STATE/regions/westeurope" "$WORK/westeurope.away"
check "westeurope turns unavailable within 3 s" wait_for 3 grep -q "^unavailable" "$MNT/regions/westeurope/status"
check "allowed-operations without the source" allowed_is "$I" "failover test-failover disable "
expect_errno "resync with the source down: EHOSTUNREACH" EHOSTUNREACH "$I/resync" start
expect_errno "verify with the source down: EHOSTUNREACH" EHOSTUNREACH "$I/verify" start
check "... the error names the region" grep -q "^verify refused: region westeurope (the source) is unavailable" "$I/error"
expect_errno "failover shutdown=yes with the source down: EHOSTUNREACH" EHOSTUNREACH "$I/failover" "latest shutdown=yes"
sleep 1.2
pt=$(latest_point web01)
expect_errno "failover latest-processed with the source down: accepted" 0 "$I/failover" latest-processed
check "unplanned failover reaches FailedOver" wait_state "$I" FailedOver
check "failed-over disk = the newest point's image" cmp -s "$I/recovery-points/$pt/disks/web01-os" "$NE/rg1-asr/disks/web01-os"
echo start >"$I/commit"
check "commit with the source down" wait_state "$I" FailoverCommitted
expect_errno "reprotect with the old primary down: EHOSTUNREACH" EHOSTUNREACH "$I/reprotect" start
check "error names the region" error_has "$I" westeurope
check "allowed-operations lacks reprotect" allowed_is "$I" "complete-migration disable "
mv "$WORK/westeurope.away" "$STATE/regions/westeurope"
check "westeurope available again" wait_for 5 file_is "$MNT/regions/westeurope/status" available
check "allowed-operations offers reprotect again" allowed_is "$I" "reprotect complete-migration disable "

# --- reprotect rules: network, moved VM
expect_errno "reprotect target-network=: EPERM" EPERM "$I/reprotect" "start target-network=othernet"
check "error points to the network mapping" error_has "$I" "network-mappings"
expect_errno "reprotect with a bad resource group name: EINVAL" EINVAL "$I/reprotect" "start target-resource-group=bad."
expect_errno "reprotect with an unknown key: EINVAL" EINVAL "$I/reprotect" "start speed=fast"
mkdir "$NE/elsewhere"
mv "$NE/rg1-asr/vms/web01" "$NE/elsewhere/vms/web01"
expect_errno "reprotect of a moved VM: EPERM" EPERM "$I/reprotect" start
check "error says moved to which group" error_has "$I" "moved to resource group elsewhere"
mv "$NE/elsewhere/vms/web01" "$NE/rg1-asr/vms/web01"
check "state unchanged by refusals" file_is "$I/state" FailoverCommitted
expect_errno "reprotect after the region is back: accepted" 0 "$I/reprotect" start
check "reprotect reaches Protected" wait_state "$I" Protected
check "direction reversed" file_is "$I/direction" "northeurope -> westeurope"
check "replica = recovery VM's disk" cmp -s "$NE/rg1-asr/disks/web01-os" \
	"$MNT/regions/westeurope/resource-groups/rg1/disks/web01-os-ASRReplica"

# --- deleted VM, and complete-migration
echo latest-processed >"$J/failover"
wait_state "$J" FailedOver && echo start >"$J/commit"
check "web02 committed" wait_state "$J" FailoverCommitted
rmdir "$NE/rg1-asr/vms/web02"
expect_errno "reprotect of a deleted VM: EPERM" EPERM "$J/reprotect" start
check "error says deleted" error_has "$J" "was deleted"
check "allowed-operations lacks reprotect for a deleted VM" allowed_is "$J" "complete-migration disable "
echo start >"$J/complete-migration"
check "complete-migration reaches MigrationCompleted" wait_state "$J" MigrationCompleted
expect_errno "reprotect after migration: EPERM" EPERM "$J/reprotect" start
expect_errno "failover after migration: EPERM" EPERM "$J/failover" latest
check "allowed-operations after migration" allowed_is "$J" "disable "

finish
