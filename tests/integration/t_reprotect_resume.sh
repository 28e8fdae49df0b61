#!/bin/bash
# t_reprotect_resume.sh - SPEC section 8 for the heaviest job: a reprotect
# interrupted by an unmount in the middle of "Synchronizing" resumes from
# its checkpoint at the next mount (not from zero), sends no byte twice, and
# ends Protected with the replica equal to the running VM's disk.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
I="$(V)/items/web01"
create_vm westeurope rg1 web01 "web01-os:32M" network=vnet1
dd if=/dev/urandom of="$(R westeurope)/resource-groups/rg1/disks/web01-os" bs=1M count=32 conv=notrunc status=none
fast_policy 2
check "protected" protect rg1 web01
expect_errno "failover" 0 "$I/failover" "latest shutdown=yes"
check "failed over" wait_for 30 file_is "$I/state" FailedOver
expect_errno "commit" 0 "$I/commit" start
check "committed" wait_for 30 file_is "$I/state" FailoverCommitted
# The VM runs in northeurope now and 24 MiB of it change.
NDISK="$(R northeurope)/resource-groups/rg1-asr/disks/web01-os"
dd if=/dev/urandom of="$NDISK" bs=1M count=24 seek=4 conv=notrunc status=none
cp "$NDISK" "$WORK/running"
# 4 MiB/s: the transfer takes about 6 s.
echo 4194304 >"$I/settings/bandwidth-limit-bytes-per-second"
expect_errno "reprotect" 0 "$I/reprotect" start
check "synchronizing" wait_for 30 grep -q "^InProgress .* Synchronizing$" "$I/job/tasks"
check "bytes moving" wait_for 15 sh -c "[ \$(cat '$I/job/bytes-transferred') -ge 8388608 ]"
check "during Synchronizing, bytes-compared is past the first pass's half" \
	test "$(cat "$I/job/bytes-compared")" -ge $((16 << 20))
check "bytes-total is the disks' size" file_is "$I/job/bytes-total" $((32 << 20))
sleep 2.5 # let a checkpoint be written
job=$(readlink "$I/job"); job=${job##*/}
asrfs_stop
check "job left InProgress" test "$(jq -r .state "$STATE/regions/northeurope/vaults/asr-vault/jobs/$job.json")" = InProgress
asrfs_start || not_ok "remount"
check "resumed from the checkpoint" wait_for 10 grep -q "synchronizing disk 0 resumes at [1-9][0-9]* bytes" "$LOG"
check "Protected after the resumed reprotect" wait_for 60 file_is "$I/state" Protected
check "job Succeeded" file_is "$(V)/jobs/$job/state" Succeeded
check "direction reversed" file_is "$I/direction" "northeurope -> westeurope"
check "bytes-compared reached bytes-total" test "$(cat "$(V)/jobs/$job/bytes-compared")" -eq $((32 << 20))
check "replica equals the running disk" cmp -s "$(R westeurope)/resource-groups/rg1/disks/web01-os-ASRReplica" "$WORK/running"
sent=$(cat "$(V)/jobs/$job/bytes-transferred")
check "no byte sent twice ($sent <= 24 MiB)" test "$sent" -le $((24 << 20))
finish
