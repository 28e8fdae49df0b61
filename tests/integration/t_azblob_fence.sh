#!/bin/bash
# t_azblob_fence.sh - a daemon that could not renew its vault's blob lease
# for most of the lease term gives the vault up at once (self-fencing): it
# may have been paused (SIGSTOP, a frozen VM) past the moment another daemon
# could take the lease, and its workers must not go on writing as if it
# still managed the vault.
#
# The vault lives in centralus, an azblob region (lease_seconds 15); the VM
# replicates between two local regions.  While enable replication copies
# (throttled), the daemon is stopped for 20 s.  Resumed, it turns the vault
# read-only before anything else (the log says the lease was given up); the
# lease having
# expired with nobody else taking it, the daemon takes it again at once,
# and the job, whose worker never stopped, is not started a second time; it
# reaches Protected, the replica equal to the source.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_setup || finish
az_start centralus || finish
CONF="$WORK/asrfs.json"
az_config "$CONF" westeurope=local northeurope=local centralus=azblob vault=centralus lease_seconds:15
asrfs_start --config "$CONF" || { not_ok "mount"; finish; }
I="$(V)/items/big01"
D="$(R westeurope)/resource-groups/rg1/disks/big01-os"

create_vm westeurope rg1 big01 big01-os:48M
dd if=/dev/urandom of="$D" bs=1M count=48 conv=notrunc status=none
echo "vm=rg1/big01 source=westeurope target=northeurope bandwidth-limit-bytes-per-second=2097152" \
	>"$(V)/enable-replication"
check "the copy is under way" wait_for 20 sh -c "[ \$(cat '$I/job/bytes-compared' 2>/dev/null || echo 0) -gt 0 ]"

kill -STOP "$ASRFS_PID"
sleep 20
kill -CONT "$ASRFS_PID"
check "resumed: the lease is given up first" wait_for 10 grep -q "given up before it can expire" "$LOG"
check "resumed: the vault is managed again once the lease is taken back" wait_for 30 file_is "$(V)/mode" managed
check "resumed: the log says it was taken over" grep -q "taken over; this asrfs manages it now" "$LOG"
check "resumed: the running job was not started a second time" \
	test "$(grep -c 'resumes from its checkpoint (disk' "$LOG")" -eq 0
check "resumed: Protected" wait_for 90 file_is "$I/state" Protected
check "resumed: the job Succeeded" file_is "$I/job/state" Succeeded
check "resumed: the replica equals the source" \
	cmp -s "$D" "$(R northeurope)/resource-groups/rg1-asr/disks/big01-os-ASRReplica"
check "resumed: the daemon still serves" mounted
finish
