#!/bin/bash
# t_lifecycle_ops.sh - the item operations around failover: test failover
# while replication goes on and its cleanup, resync of a damaged replica,
# failover to a chosen point and change-recovery-point (the VM's bytes equal
# the point's image), and cancel in the middle of a slowed reprotect: the
# item and the disks are left exactly as they were, and a retry succeeds.
. "$(dirname "$0")/lib.sh"

asrfs_start || { not_ok "mount"; finish; }
I=$(V)/items/web01
K=$(V)/items/web03
WE=$MNT/regions/westeurope/resource-groups
NE=$MNT/regions/northeurope/resource-groups
wait_state() { wait_for "${3:-60}" file_is "$1/state" "$2"; }
allowed_is() { [ "$(tr '\n' ' ' <"$1/allowed-operations")" = "$2" ]; }
task_running() { grep -q "^InProgress .* $2\$" "$1/job/tasks"; }

fast_policy 1
create_vm westeurope rg1 web01 web01-os:16M network=vnet1
scribble "$WE/rg1/disks/web01-os" 500 0
check "protect web01" protect rg1 web01

# --- test failover from a chosen point, replication continues
p=$(latest_point web01)
wait_new_point web01 "$p"
p=$(latest_point web01)
echo "$p network=isolated" >"$I/test-failover"
check "test failover done" wait_for 30 grep -q "^test-failover: Succeeded" "$I/status"
# status says Succeeded at the step that made the test VM; its job ends after
check "its job Succeeded" wait_for 30 file_is "$I/job/state" Succeeded
check "test VM exists in the target region" file_is "$NE/rg1-asr/vms/web01-test/power" running
check "test VM on the isolated network" file_is "$NE/rg1-asr/vms/web01-test/network" isolated
check "test disk = the point's image" cmp -s "$I/recovery-points/$p/disks/web01-os" "$NE/rg1-asr/disks/web01-os-test"
check "item stays Protected" file_is "$I/state" Protected
check "allowed-operations with a test failover" allowed_is "$I" "failover cleanup-test-failover resync verify disable "
expect_errno "a second test failover: EPERM" EPERM "$I/test-failover" latest
scribble "$WE/rg1/disks/web01-os" 10 100
q=$(latest_point web01)
check "new points keep appearing during the test" wait_new_point web01 "$q"
echo "notes=drill passed" >"$I/cleanup-test-failover"
check "the cleanup's job Succeeded" wait_for 30 file_is "$I/job/state" Succeeded
check "cleanup removes the test VM" wait_for 20 test ! -e "$NE/rg1-asr/vms/web01-test"
check "cleanup removes the test disks" test ! -e "$NE/rg1-asr/disks/web01-os-test"
check "status shows no test failover" wait_for 5 grep -q "^test-failover: none" "$I/status"
check "allowed-operations back to normal" allowed_is "$I" "failover test-failover resync verify disable "
# default network: <mapped vnet>-test
echo latest >"$I/test-failover"
check "test failover on the default network" wait_for 30 file_is "$NE/rg1-asr/vms/web01-test/network" vnet1-asr-test
echo start >"$I/cleanup-test-failover"
check "second cleanup" wait_for 20 grep -q "^test-failover: none" "$I/status"

# --- resync: damage the replica behind the engine's back
# (straight in the region's directory: through the mount a replica is read-only)
dd if=/dev/urandom of="$STATE/regions/northeurope/resource-groups/rg1-asr/disks/web01-os-ASRReplica" bs=4k count=64 seek=200 conv=notrunc status=none
echo start >"$I/resync"
check "resync runs and returns to Protected" wait_for 30 sh -c "grep -q Resynchronize '$I/job/type' && grep -q Succeeded '$I/job/state'"
check "state Protected after resync" file_is "$I/state" Protected
sent=$(cat "$(V)/jobs/$(readlink "$I/job" | xargs basename)/bytes-transferred")
check "resync shipped the damaged pages ($sent bytes)" test "$sent" -ge $((64 * 4096))
check "resync compared the whole disk" test "$(cat "$I/job/bytes-compared")" -eq $((16 * 1024 * 1024))
check "replica = source after resync" cmp -s "$WE/rg1/disks/web01-os" "$NE/rg1-asr/disks/web01-os-ASRReplica"

# --- failover to an older point, then change-recovery-point
p1=$(latest_point web01)
scribble "$WE/rg1/disks/web01-os" 100 2000
check "a newer point" wait_new_point web01 "$p1"
p2=$(latest_point web01)
echo "$p1" >"$I/failover"
check "failover to $p1" wait_state "$I" FailedOver
check "failed-over disk = image of $p1" cmp -s "$I/recovery-points/$p1/disks/web01-os" "$NE/rg1-asr/disks/web01-os"
echo "$p2" >"$I/change-recovery-point"
check "change-recovery-point back to FailedOver" wait_for 30 sh -c "grep -q 'Change recovery point' '$I/job/type' && grep -q Succeeded '$I/job/state'"
check "state FailedOver" file_is "$I/state" FailedOver
check "failed-over disk = image of $p2" cmp -s "$I/recovery-points/$p2/disks/web01-os" "$NE/rg1-asr/disks/web01-os"
check "VM running again" file_is "$NE/rg1-asr/vms/web01/power" running
expect_errno "change-recovery-point to an unknown point: EINVAL" EINVAL "$I/change-recovery-point" 2001-01-01T00:00:00Z

# --- cancel in the middle of a reprotect
create_vm westeurope rg3 web03 web03-os:128M network=vnet3
dd if=/dev/urandom of="$WE/rg3/disks/web03-os" bs=1M count=32 conv=notrunc status=none
check "protect web03" protect rg3 web03
echo latest >"$K/failover"
check "web03 failed over (source left running)" wait_state "$K" FailedOver
echo start >"$K/commit"
check "web03 committed" wait_state "$K" FailoverCommitted
dd if=/dev/urandom of="$NE/rg3-asr/disks/web03-os" bs=1M count=24 seek=40 conv=notrunc status=none
cp "$WE/rg3/disks/web03-os" "$WORK/orig"
echo 4000000 >"$K/settings/bandwidth-limit-bytes-per-second"
echo start >"$K/reprotect"
check "reprotect reaches Synchronizing" wait_for 30 task_running "$K" Synchronizing
check "live bytes-transferred" wait_for 10 sh -c "[ \$(cat '$K/job/bytes-transferred') -gt 0 ]"
check "rate is reported" wait_for 5 sh -c "[ \$(cat '$K/job/rate-bytes-per-second') -gt 0 ]"
check "eta is reported" grep -qE '^[0-9]+$' "$K/job/eta-seconds"
expect_errno "commit while reprotect runs: EBUSY" EBUSY "$K/commit" start
expect_errno "reprotect while it runs: EBUSY" EBUSY "$K/reprotect" start
check "allowed-operations while it runs" allowed_is "$K" "cancel "
expect_errno "cancel accepted" 0 "$K/cancel" start
check "the job ends Cancelled" wait_for 20 file_is "$K/job/state" Cancelled
check "state back to FailoverCommitted" file_is "$K/state" FailoverCommitted
check "direction unchanged" file_is "$K/direction" "westeurope -> northeurope"
check "no replica left in the old primary" test ! -e "$WE/rg3/disks/web03-os-ASRReplica"
check "original disk kept, bytes untouched" cmp -s "$WORK/orig" "$WE/rg3/disks/web03-os"
check "old VM's power restored" file_is "$WE/rg3/vms/web03/power" running
check "error says cancelled" grep -q cancelled "$K/error"
echo 0 >"$K/settings/bandwidth-limit-bytes-per-second"
echo start >"$K/reprotect"
check "retry reaches Protected" wait_state "$K" Protected
check "retry reversed the direction" file_is "$K/direction" "northeurope -> westeurope"
check "replica = recovery VM's disk" cmp -s "$NE/rg3-asr/disks/web03-os" "$WE/rg3/disks/web03-os-ASRReplica"
sent=$(cat "$K/job/bytes-transferred")
check "retry sent only the changed 24 MiB ($sent)" test "$sent" -le $((26 * 1024 * 1024))

finish
