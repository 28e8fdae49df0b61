#!/bin/bash
# t_crash_records.sh - what a crash leaves in the records, beyond the
# harness's kill points (issue 10, items 4 and 9):
#   - a job's counters survive a kill -9: a resumed initial copy reports
#     every byte it sent, before the crash and after (not only the rest);
#   - an item left in a transitional state with no job to finish it reads
#     Critical, and an item whose last job failed is not Normal, so an
#     alert fires for either.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
D="$(R westeurope)/resource-groups/rg1/disks"
I="$(V)/items/big01"
VAULT_DIR="$STATE/regions/northeurope/vaults/asr-vault"

# 1. counters across a kill -9 in the middle of the initial copy
create_vm westeurope rg1 big01 "big01-os:48M"
dd if=/dev/urandom of="$D/big01-os" bs=1M count=48 conv=notrunc status=none
fast_policy 3600
# 4 MiB/s: the copy takes about 12 s
expect_errno "enable" 0 "$(V)/enable-replication" \
	"vm=rg1/big01 source=westeurope target=northeurope bandwidth-limit-bytes-per-second=4194304"
# kill_and_resume WHAT RESUMED: once the running job has sent 8 MiB and a
# checkpoint reached its record, kill -9, remount, see RESUMED in the log,
# and check the resumed job counts on from its record: bytes-transferred
# never goes back below what the record held, and ends above it.
kill_and_resume() {
	local what=$1 resumed=$2 saved low start now sent
	check "$what under way" wait_for 30 sh -c "[ \$(cat '$I/job/bytes-transferred') -ge 8388608 ]"
	sleep 2.5 # a checkpoint reaches the record
	job=$(readlink "$I/job"); job=${job##*/}
	saved=$(jq -r .bytes_transferred "$VAULT_DIR/jobs/$job.json")
	asrfs_kill
	check "$what: the record holds what was sent ($saved), not all" test "$saved" -gt 0 -a "$saved" -lt $((48 << 20))
	asrfs_start || not_ok "remount"
	start=$SECONDS
	check "$what: resumed from its checkpoint" wait_for 15 grep -q "$resumed" "$LOG"
	low=
	while ! file_is "$I/state" Protected && [ $SECONDS -lt $((start + 60)) ]; do
		now=$(cat "$(V)/jobs/$job/bytes-transferred" 2>/dev/null) || now=
		[ -n "$now" ] && [ "$now" -lt "$saved" ] && low="$low $now"
		sleep 0.2
	done
	check "$what: Protected" file_is "$I/state" Protected
	check "$what: job Succeeded" file_is "$(V)/jobs/$job/state" Succeeded
	check "$what: bytes-transferred never went below the saved $saved while resumed (saw:${low:- none})" test -z "$low"
	sent=$(cat "$(V)/jobs/$job/bytes-transferred")
	check "$what: bytes-transferred ($sent) adds the resumed part to the saved $saved" test "$sent" -gt "$saved"
}
kill_and_resume "initial copy" "initial copy of disk 0 resumes at [1-9]"
check "bytes-compared is the disk's size" file_is "$(V)/jobs/$job/bytes-compared" $((48 << 20))
check "health Normal once Protected" file_is "$I/health" Normal

# 2. an item stuck in a transitional state with no job: Critical
asrfs_stop
jq '.state = "FailoverInProgress" | .job = "000099-failover-big01"' "$VAULT_DIR/items/big01/item.json" >"$WORK/item.json"
cp "$WORK/item.json" "$VAULT_DIR/items/big01/item.json"
asrfs_start || not_ok "remount"
check "stuck item: health Critical" file_is "$I/health" Critical
check "stuck item: status says why" grep -q "FailoverInProgress with no running job" "$I/status"
check "stuck item: the metric says Critical" \
	grep -q 'asrfs_item_health{.*item="big01".*health="Critical"} 1' "$MNT/metrics/asrfs.prom"

# 3. the last job failed, the item back in a retryable state: Warning
asrfs_stop
jq '.state = "Protected" | .job = "'"$job"'"' "$VAULT_DIR/items/big01/item.json" >"$WORK/item.json"
cp "$WORK/item.json" "$VAULT_DIR/items/big01/item.json"
jq '.state = "Failed" | .error = "disk 0: Input/output error"' "$VAULT_DIR/jobs/$job.json" >"$WORK/job.json"
cp "$WORK/job.json" "$VAULT_DIR/jobs/$job.json"
asrfs_start || not_ok "remount"
check "last job failed: health Warning" file_is "$I/health" Warning
check "last job failed: status names the job" grep -q "the last job failed ($job)" "$I/status"

# 4. a reprotect's counters across a kill -9 in the middle of its sync
echo "latest shutdown=yes" >"$I/failover"
check "failed over" wait_for 60 file_is "$I/state" FailedOver
echo start >"$I/commit"
check "committed" wait_for 60 file_is "$I/state" FailoverCommitted
dd if=/dev/urandom of="$(ND rg1-asr big01-os)" bs=1M count=32 conv=notrunc status=none
echo 4194304 >"$I/settings/bandwidth-limit-bytes-per-second"
expect_errno "reprotect" 0 "$I/reprotect" start
kill_and_resume "reprotect" "synchronizing disk 0 resumes at [1-9]"
finish
