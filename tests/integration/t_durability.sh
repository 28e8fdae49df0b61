#!/bin/bash
# t_durability.sh - SPEC section 8: a job interrupted by an unmount, and one
# interrupted by kill -9, resumes from its checkpoint (not from zero) on the
# next mount and finishes with the replica equal to the source; a stale
# mount left by the crash gets a clear message; a second daemon on the same
# state serves the vault read-only (EROFS on controls).
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
W=$(R westeurope)
N=$(R northeurope)
D="$W/resource-groups/rg1/disks"
I="$(V)/items/big01"

create_vm westeurope rg1 big01 "big01-os:48M"
dd if=/dev/urandom of="$D/big01-os" bs=1M count=48 conv=notrunc status=none
cp "$D/big01-os" "$WORK/src"
fast_policy 2
# 8 MiB/s: the initial copy takes about 6 s.
expect_errno "enable with a bandwidth limit" 0 "$(V)/enable-replication" \
	"vm=rg1/big01 source=westeurope target=northeurope bandwidth-limit-bytes-per-second=8388608"
check "the limit shows in settings" file_is "$I/settings/bandwidth-limit-bytes-per-second" 8388608
wait_for 10 sh -c "[ \$(cat '$I/job/bytes-compared') -gt 8000000 ]"
check "copy in progress" file_is "$I/state" InitialReplicationInProgress
check "rate is live" test "$(cat "$I/job/rate-bytes-per-second")" -gt 0
check "eta is known" test -n "$(cat "$I/job/eta-seconds")"
expect_errno "EBUSY while a job runs" EBUSY "$I/disable" start
check "allowed-operations is only cancel" test "$(cat "$I/allowed-operations")" = cancel

# 1. unmount mid-copy
asrfs_stop
check "job left InProgress on disk" test "$(jq -r .state "$STATE/regions/northeurope/vaults/asr-vault/jobs/000001-enable-replication-big01.json")" = InProgress
asrfs_start || not_ok "remount"
check "resumed from the checkpoint" wait_for 5 grep -q "resumes at [1-9][0-9]* bytes" "$LOG"

# 2. kill -9 mid-copy, then the stale mount
wait_for 5 sh -c "[ \$(cat '$I/job/bytes-compared') -gt 20000000 ]"
kill -9 "$ASRFS_PID"; wait "$ASRFS_PID" 2>/dev/null; ASRFS_PID=
msg=$("$ASRFS" -f --state "$STATE" "$MNT" 2>&1)
has_advice() { case "$msg" in *stale*"fusermount3 -u"*) return 0 ;; esac; echo "$msg"; return 1; }
check "a stale mount gets a clear message" has_advice
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
asrfs_start || not_ok "mount after the crash"
check "resumed again after kill -9" wait_for 5 sh -c "[ \$(grep -c 'resumes at [1-9]' '$LOG') -ge 2 ]"
check "Protected after the resumed copy" wait_for 30 file_is "$I/state" Protected
check "job Succeeded" file_is "$I/job/state" Succeeded
check "replica equals the source" cmp -s "$N/resource-groups/rg1-asr/disks/big01-os-ASRReplica" "$WORK/src"
p=$(latest_point big01)
check "first point equals the source" cmp -s "$I/recovery-points/$p/disks/big01-os" "$WORK/src"

# 3. a second daemon on the same state: read-only
mkdir -p "$WORK/mnt2"
"$ASRFS" -f --state "$STATE" "$WORK/mnt2" >>"$WORK/second.log" 2>&1 &
second=$!
wait_for 10 test -e "$WORK/mnt2/version"
check "second mount says read-only" file_is "$WORK/mnt2/vaults/asr-vault/mode" read-only
check "second mount sees the item" file_is "$WORK/mnt2/vaults/asr-vault/items/big01/state" Protected
expect_errno "EROFS on its controls" EROFS "$WORK/mnt2/vaults/asr-vault/items/big01/resync" start
expect_errno "EROFS on enable-replication" EROFS "$WORK/mnt2/vaults/asr-vault/enable-replication" "vm=rg1/big01 source=westeurope target=northeurope"
check "first mount is managing" file_is "$(V)/mode" managed
fusermount3 -u "$WORK/mnt2"; wait $second

# 4. another machine: a fresh state directory and a config naming the same
# region directories sees the same vault once the first daemon is gone.
asrfs_stop
cat >"$WORK/other.json" <<JSON
{"regions": [
   {"name": "westeurope",  "backend": "local", "path": "$STATE/regions/westeurope"},
   {"name": "northeurope", "backend": "local", "path": "$STATE/regions/northeurope"}],
 "vaults": [{"name": "asr-vault", "region": "northeurope"}],
 "workers": 2}
JSON
STATE="$WORK/other-state" asrfs_start --config "$WORK/other.json" || not_ok "mount with the other state dir"
check "the other machine manages the vault" file_is "$(V)/mode" managed
check "it sees the item Protected" file_is "$I/state" Protected
check "and its recovery points" cmp -s "$I/recovery-points/$p/disks/big01-os" "$WORK/src"
finish
