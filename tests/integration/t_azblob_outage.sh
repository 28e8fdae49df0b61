#!/bin/bash
# t_azblob_outage.sh - a region's storage endpoint goes away.  Both regions
# on azblob (one Azurite each), web01 protected westeurope -> northeurope.
#   1. The primary's Azurite is frozen (SIGSTOP: connections hang): its
#      status turns "unavailable: <reason>", the tree keeps answering at
#      once, cycles wait and say why in the item's error; thawed, they
#      resume and new points come.
#   2. The primary's Azurite is stopped (SIGTERM): unplanned failover to
#      northeurope succeeds with the last point's bytes; commit works;
#      reprotect answers EHOSTUNREACH.  Azurite restarted on its data:
#      the region is available again and reprotect completes, the replica
#      in westeurope equal to the recovery VM's disk.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=azblob
W=$(R westeurope)
N=$(R northeurope)
I="$(V)/items/web01"
# quick CMD...: CMD finishes within 3 s (the tree must not hang on a dead region)
quick() { timeout 3 "$@" >/dev/null; }

create_vm westeurope rg1 web01 "web01-os:8M,web01-data:4M" network=vnet1
dd if=/dev/urandom of="$(WD rg1 web01-os)" bs=64k count=40 conv=notrunc status=none
fast_policy 2
check "protect web01" protect rg1 web01

# --- 1. frozen primary
az_freeze westeurope
check "frozen: status unavailable with a reason" wait_for 20 grep -q '^unavailable: .' "$W/status"
check "frozen: the item's files answer at once" quick cat "$I/state" "$I/health" "$I/status"
check "frozen: the vault's tree answers at once" quick ls "$(V)/jobs" "$(V)/items/web01/recovery-points"
check "frozen: the other region answers at once" quick cat "$N/status"
check "frozen: cycles wait and say why" wait_for 20 grep -q 'unavailable' "$I/error"
cat "$I/error" | sed 's/^/# error: /'
az_thaw westeurope
check "thawed: available again" wait_for 20 file_is "$W/status" available
dd if=/dev/urandom of="$(WD rg1 web01-os)" bs=4k count=11 seek=600 conv=notrunc status=none
cp "$(WD rg1 web01-os)" "$WORK/os.1"
cp "$(WD rg1 web01-data)" "$WORK/data.1"
check "thawed: cycles resume" wait_new_point web01 "$(latest_point web01)" 30
wait_new_point web01 "$(latest_point web01)" 30 # one whole cycle after the write
check "thawed: the new point is exact" cmp -s "$I/recovery-points/$(latest_point web01)/disks/web01-os" "$WORK/os.1"
check "thawed: error cleared" wait_for 10 file_is "$I/error" ""

# --- the vault's own region (northeurope) frozen: the tree still answers,
# controls that need it say EHOSTUNREACH at once, then all resumes
az_freeze northeurope
check "vault region frozen: unavailable" wait_for 20 grep -q '^unavailable: ' "$N/status"
check "vault region frozen: the item's files answer at once" quick cat "$I/state" "$I/status" "$(V)/mode"
start=$SECONDS
expect_errno "vault region frozen: a policy write fails with EHOSTUNREACH" EHOSTUNREACH \
	"$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds" 800
check "  ... at once ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 3
sleep 5
check "vault region frozen: still answering" quick cat "$I/state" "$W/status"
az_thaw northeurope
check "vault region thawed: available" wait_for 20 file_is "$N/status" available
check "vault region thawed: cycles resume" wait_new_point web01 "$(latest_point web01)" 30

# --- 2. stopped primary: unplanned failover
az_stop westeurope
check "stopped: status unavailable" wait_for 20 grep -q '^unavailable: ' "$W/status"
check "stopped: the tree answers at once" quick cat "$I/state" "$W/status"
expect_errno "failover accepted with the primary down" 0 "$I/failover" "latest shutdown=no"
check "failover reaches FailedOver" wait_for 60 file_is "$I/state" FailedOver
check "failover job Succeeded" file_is "$I/job/state" Succeeded
check "failed-over VM runs in northeurope" file_is "$N/resource-groups/rg1-asr/vms/web01/power" running
check "failed-over os disk = the last point" cmp -s "$(ND rg1-asr web01-os)" "$WORK/os.1"
check "failed-over data disk = the last point" cmp -s "$(ND rg1-asr web01-data)" "$WORK/data.1"
expect_errno "commit accepted" 0 "$I/commit" start
check "commit reaches FailoverCommitted" wait_for 60 file_is "$I/state" FailoverCommitted
expect_errno "reprotect while the old primary is down: EHOSTUNREACH" EHOSTUNREACH "$I/reprotect" start
check "the refusal says why" grep -q westeurope "$I/error"

# --- the primary comes back
dd if=/dev/urandom of="$(ND rg1-asr web01-os)" bs=4k count=20 seek=100 conv=notrunc status=none
cp "$(ND rg1-asr web01-os)" "$WORK/os.2"
az_restart westeurope || finish
check "restarted: available again" wait_for 20 file_is "$W/status" available
expect_errno "reprotect accepted" 0 "$I/reprotect" start
check "reprotect reaches Protected" wait_for 90 file_is "$I/state" Protected
check "reprotect job Succeeded" file_is "$I/job/state" Succeeded
check "direction reversed" file_is "$I/direction" "northeurope -> westeurope"
check "replica in westeurope = the recovery VM's disk" cmp -s "$(WD rg1 web01-os-ASRReplica)" "$WORK/os.2"
finish
