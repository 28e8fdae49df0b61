#!/bin/bash
# t_azblob_jobwait.sh - a job already running when the region it writes to
# goes away waits for the region and resumes, instead of failing.
#
# westeurope (the primary, and the vault) is local, northeurope azblob.  The
# replica is damaged behind the engine's back and a resync, slowed by a
# bandwidth limit, ships the damaged pages.  Mid-way northeurope's Azurite is
# stopped: the job must stay InProgress, say in its error and the item's what
# it waits for, show no failed task; the item stays in its running state.
# Azurite restarted, the job goes on by itself and succeeds, and the replica
# equals the source byte for byte.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=local northeurope=azblob vault=westeurope
I=$(V)/items/web01
J() { echo "$(V)/jobs/$(basename "$(readlink "$I/job")")"; }

create_vm westeurope rg1 web01 web01-os:8M network=vnet1
dd if=/dev/urandom of="$(WD rg1 web01-os)" bs=1M count=8 conv=notrunc status=none
check "protect web01" protect rg1 web01

# Change 6 MiB of the source between cycles (the policy's 5 minutes), slow
# the item down to ~1 MB/s: the resync ships 6 MiB.
dd if=/dev/urandom of="$(WD rg1 web01-os)" bs=1M count=6 conv=notrunc status=none
echo 1000000 >"$I/settings/bandwidth-limit-bytes-per-second"
expect_errno "resync accepted" 0 "$I/resync" start
check "resync is shipping" wait_for 20 sh -c "[ \"\$(cat '$I/job/bytes-transferred')\" -gt 0 ]"
job=$(J)
az_stop northeurope
check "stopped: region unavailable" wait_for 20 grep -q '^unavailable: ' "$MNT/regions/northeurope/status"
check "the job says it waits for the region" wait_for 60 grep -q 'waiting for an unavailable region' "$job/error"
check "... and is still InProgress" file_is "$job/state" InProgress
check "... with no failed task" sh -c "! grep -q '^Failed' '$job/tasks'"
check "... and a task InProgress" grep -q '^InProgress' "$job/tasks"
check "the item says so too" grep -q 'waiting for an unavailable region' "$I/error"
check "the item stays ResynchronizationInProgress" file_is "$I/state" ResynchronizationInProgress
expect_errno "another job is refused meanwhile: EBUSY" EBUSY "$I/resync" start

az_restart northeurope || finish
check "restarted: available again" wait_for 20 file_is "$MNT/regions/northeurope/status" available
check "the job goes on and succeeds" wait_for 120 file_is "$job/state" Succeeded
check "the item is Protected" file_is "$I/state" Protected
check "its error is cleared" file_is "$I/error" ""
check "no task failed" sh -c "! grep -q '^Failed' '$job/tasks'"
echo 0 >"$I/settings/bandwidth-limit-bytes-per-second"
check "replica = source" cmp -s "$(WD rg1 web01-os)" "$(ND rg1-asr web01-os-ASRReplica)"
finish
