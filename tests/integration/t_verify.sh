#!/bin/bash
# t_verify.sh - SPEC 4 and 10: `verify` compares every source disk with its
# replica and changes neither; SPEC 3: each disk's `pending-bytes`.
#
# A quiet protected item verifies with 0 mismatched bytes.  A page of a
# replica changed behind the daemon's back (in the region's directory) is
# found: mismatched-bytes 4096, the disk's task says so, health Warning
# (resynchronization required) through later cycles and a remount, until a
# resync; then verify finds 0 again.  A replica cut 8 KiB short counts the
# bytes it lacks.  A verify slowed by a slow medium (an
# LD_PRELOAD shim) holds the item: other controls are EBUSY and no cycle
# runs; it cancels cleanly; killed with kill -9 while it reads its second
# disk, it goes on at that disk at the next mount and counts the mismatch
# once.  Every disk's bytes, sources and
# replicas, are the same after each verify as before.  verify is EPERM once
# failed over.  pending-bytes reads 0 on a quiet item, rises with writes
# through the mount, and falls back to 0 after a cycle; a verify with such
# pending writes counts them as pending, not as mismatches.
. "$(dirname "$0")/lib.sh"
SHIM=$BUILD/tests/eio.so
[ -f "$SHIM" ] || { not_ok "the shim $SHIM is built by make"; finish; }
# reads of web01-data's replica take 250 ms each while $WORK/slow exists
export ASRFS_EIO_PATH=web01-data-ASRReplica ASRFS_EIO_SWITCH=$WORK/slow ASRFS_EIO_OPS=read ASRFS_EIO_DELAY_MS=250
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
start() {
	export LD_PRELOAD=$SHIM
	asrfs_start
	local rc=$?
	unset LD_PRELOAD
	return $rc
}
start || { not_ok "mount"; finish; }
I=$(V)/items/web01
M=$MNT/metrics/asrfs.prom
SRC=$STATE/regions/westeurope/resource-groups/rg1/disks
REP=$STATE/regions/northeurope/resource-groups/rg1-asr/disks
# every byte of both sides
sums() { (cd / && sha256sum "$SRC/web01-os" "$SRC/web01-data" "$REP/web01-os-ASRReplica" "$REP/web01-data-ASRReplica"); }
job_dir() { echo "$(V)/jobs/$(basename "$(readlink "$I/job")")"; }
# verify_ends STATE [SECONDS]: the item's job, a verify, ends, and in STATE
verify_ends() {
	wait_for "${2:-60}" sh -c "[ \"\$(cat '$I/job/type')\" = 'Verify replication' ] &&
		grep -qxE 'Succeeded|Failed|Cancelled' '$I/job/state'" && file_is "$I/job/state" "$1"
}
jq_true() { jq -e "$1" "$2" >/dev/null; }
task_lines() { cut -d' ' -f1,4- "$1/tasks" | tr '\n' '|'; }

fast_policy 2
create_vm westeurope rg1 web01 "web01-os:16M,web01-data:32M" network=vnet1
scribble "$(WD rg1 web01-os)" 300 0
scribble "$(WD rg1 web01-data)" 500 100
check "protect web01" protect rg1 web01

# ---- the files ----
check "verify is a control file (0200)" test "$(stat -c %a "$I/verify")" = 200
check "allowed-operations lists verify when Protected" grep -qx verify "$I/allowed-operations"
check "pending-bytes is read-only (0444)" test "$(stat -c %a "$I/disks/web01-os/pending-bytes")" = 444
check "pending-bytes reads 0 on a quiet item" file_is "$I/disks/web01-os/pending-bytes" 0
check "... on each disk" file_is "$I/disks/web01-data/pending-bytes" 0
check "status.json has each disk's pending-bytes" test "$(jq -c '[.disks[]."pending-bytes"]' "$I/status.json")" = "[0,0]"
check "status has each disk's pending-bytes" test "$(grep -c '^disk: .* pending-bytes=0$' "$I/status")" = 2
check "metric asrfs_disk_pending_bytes: HELP" grep -q '^# HELP asrfs_disk_pending_bytes .' "$M"
check "... TYPE gauge" grep -qx '# TYPE asrfs_disk_pending_bytes gauge' "$M"
check "... a sample per disk" \
	test "$(grep -c '^asrfs_disk_pending_bytes{vault="asr-vault",item="web01",disk="web01-\(os\|data\)"} 0$' "$M")" = 2
expect_errno "verify takes 'start': EINVAL" EINVAL "$I/verify" now
check "... with the reason in error" grep -q "^verify refused: verify takes 'start'" "$I/error"

# ---- a quiet item: 0 mismatched bytes, nothing changed ----
sums >"$WORK/sums.0"
expect_errno "verify accepted" 0 "$I/verify" start
check "verify ends Succeeded" verify_ends Succeeded
J=$(job_dir)
check "its id is NNNNNN-verify-web01 (${J##*/})" grep -qxE '[0-9]{6}-verify-web01' <<<"${J##*/}"
check "type Verify replication" file_is "$J/type" "Verify replication"
check "mismatched-bytes 0" file_is "$J/mismatched-bytes" 0
check "... and in job.json" test "$(jq '."mismatched-bytes"' "$J/job.json")" = 0
check "tasks: the check, then one per disk" test "$(task_lines "$J")" = \
	"Succeeded Prerequisites check|Succeeded Verify disk web01-os|Succeeded Verify disk web01-data|"
check "bytes-compared: every byte of both disks" file_is "$J/bytes-compared" $((48 << 20))
check "bytes-total likewise" file_is "$J/bytes-total" $((48 << 20))
check "bytes-transferred 0" file_is "$J/bytes-transferred" 0
check "progress 100" file_is "$J/progress" 100
check "health Normal" file_is "$I/health" Normal
check "state Protected" file_is "$I/state" Protected
check "sources and replicas unchanged" cmp -s <(sums) "$WORK/sums.0"
en=$(entries "$(V)/jobs" | grep -m1 enable-replication)
check "other jobs have no mismatched-bytes" test ! -e "$(V)/jobs/$en/mismatched-bytes"
check "... nor in their job.json" jq_true 'has("mismatched-bytes") | not' "$(V)/jobs/$en/job.json"

# ---- a page of a replica changed behind the daemon's back ----
dd if=/dev/urandom of="$REP/web01-data-ASRReplica" bs=4k count=1 seek=3 conv=notrunc status=none
sums >"$WORK/sums.1"

# a slow verify holds the item: EBUSY, no cycle; a cancel leaves all as it was
touch "$WORK/slow"
expect_errno "a slowed verify accepted" 0 "$I/verify" start
check "it reads web01-data" wait_for 20 grep -q "^InProgress .* Verify disk web01-data$" "$I/job/tasks"
expect_errno "another verify meanwhile: EBUSY" EBUSY "$I/verify" start
check "... the error names the running job" grep -q "job [0-9]*-verify-web01 is running on web01" "$I/error"
expect_errno "resync meanwhile: EBUSY" EBUSY "$I/resync" start
expect_errno "failover meanwhile: EBUSY" EBUSY "$I/failover" latest
check "allowed-operations meanwhile: cancel" file_is "$I/allowed-operations" cancel
check "the item stays Protected meanwhile" file_is "$I/state" Protected
p=$(latest_point web01)
sleep 3
check "no cycle runs while verify holds the item (policy: every 2 s)" test "$(latest_point web01)" = "$p"
echo start >"$I/cancel"
check "cancel: the verify ends Cancelled" verify_ends Cancelled 20
rm -f "$WORK/slow"
check "a cancelled verify leaves health Normal" file_is "$I/health" Normal
check "... and no resync required" jq_true '."resync-required" == false' "$I/status.json"
check "... and the disks as they were" cmp -s <(sums) "$WORK/sums.1"

expect_errno "verify accepted" 0 "$I/verify" start
check "verify ends Succeeded with a mismatch" verify_ends Succeeded
J=$(job_dir)
check "mismatched-bytes 4096" file_is "$J/mismatched-bytes" 4096
check "... and in job.json" test "$(jq '."mismatched-bytes"' "$J/job.json")" = 4096
check "the task of web01-data names the mismatch" \
	grep -qx "Succeeded [^ ]* [^ ]* Verify disk web01-data: 4096 bytes mismatched" "$J/tasks"
check "web01-os's task names none" grep -qx "Succeeded [^ ]* [^ ]* Verify disk web01-os" "$J/tasks"
check "health Warning" file_is "$I/health" Warning
check "status says resynchronization is required, by which verify" grep -qx \
	"health: Warning (resynchronization required: verify ${J##*/} found 4096 mismatched bytes)" "$I/status"
check "status.json: resync-required" jq_true '."resync-required" == true' "$I/status.json"
check "metric asrfs_item_resync_required 1" grep -qx 'asrfs_item_resync_required{vault="asr-vault",item="web01"} 1' "$M"
check "the item stays Protected" file_is "$I/state" Protected
check "verify changed no byte of either side" cmp -s <(sums) "$WORK/sums.1"
p=$(latest_point web01)
check "replication goes on" wait_new_point web01 "$p" 20
check "... and health stays Warning after its cycles" file_is "$I/health" Warning

# ---- kill -9 in the middle of a verify: it goes on, changes nothing ----
touch "$WORK/slow"
expect_errno "a slowed verify accepted" 0 "$I/verify" start
check "it reads web01-data" wait_for 20 grep -q "^InProgress .* Verify disk web01-data$" "$I/job/tasks"
K=$(job_dir)
sleep 1
asrfs_kill
check "the killed verify's record holds its finding so far" \
	test "$(jq .mismatched_bytes "$STATE/regions/northeurope/vaults/asr-vault/jobs/${K##*/}.json")" = 4096
check "the killed verify changed no byte" cmp -s <(sums) "$WORK/sums.1"
start || { not_ok "mount again"; finish; }
check "after the remount health is still Warning (the finding was saved)" file_is "$I/health" Warning
check "the killed verify runs again" wait_for 20 grep -qx InProgress "$K/state"
rm -f "$WORK/slow"
check "... and Succeeds" wait_for 60 file_is "$K/state" Succeeded
check "... counting the mismatch once" file_is "$K/mismatched-bytes" 4096
check "... its tasks all done" test "$(task_lines "$K")" = \
	"Succeeded Prerequisites check|Succeeded Verify disk web01-os|Succeeded Verify disk web01-data: 4096 bytes mismatched|"
check "... having compared each byte once" file_is "$K/bytes-compared" $((48 << 20))
check "the disks are still as they were" cmp -s <(sums) "$WORK/sums.1"

# ---- resync repairs; verify then finds nothing ----
echo start >"$I/resync"
check "resync Succeeded" wait_for 60 sh -c "[ \"\$(cat '$I/job/type')\" = Resynchronize ] && grep -qx Succeeded '$I/job/state'"
check "the replica is repaired" cmp -s "$SRC/web01-data" "$REP/web01-data-ASRReplica"
check "health Normal after the resync" file_is "$I/health" Normal
check "metric asrfs_item_resync_required 0" grep -qx 'asrfs_item_resync_required{vault="asr-vault",item="web01"} 0' "$M"
expect_errno "verify accepted" 0 "$I/verify" start
check "verify ends Succeeded" verify_ends Succeeded
check "mismatched-bytes 0 after the resync" file_is "$(job_dir)/mismatched-bytes" 0
check "health Normal" file_is "$I/health" Normal

# ---- pending-bytes: up with writes through the mount, 0 after a cycle ----
p=$(latest_point web01)
fast_policy 3600
wait_new_point web01 "$p" 10 # the cycle already due
sleep 1

# ---- a replica cut short: the bytes it lacks are mismatched ----
truncate -s -8K "$REP/web01-data-ASRReplica"
expect_errno "verify accepted" 0 "$I/verify" start
check "verify of a replica 8 KiB short Succeeds" verify_ends Succeeded
check "... counting the 8 KiB it lacks" file_is "$(job_dir)/mismatched-bytes" 8192
check "... in the task of web01-data" grep -q "Verify disk web01-data: 8192 bytes mismatched$" "$(job_dir)/tasks"
check "... health Warning" file_is "$I/health" Warning
echo start >"$I/resync"
check "resync Succeeded" wait_for 60 sh -c "[ \"\$(cat '$I/job/type')\" = Resynchronize ] && grep -qx Succeeded '$I/job/state'"
check "the replica has its size again and the source's bytes" cmp -s "$SRC/web01-data" "$REP/web01-data-ASRReplica"
check "health Normal" file_is "$I/health" Normal
scribble "$(WD rg1 web01-os)" 4 1000
pb=$(cat "$I/disks/web01-os/pending-bytes")
check "pending-bytes rises with writes ($pb)" test "$pb" -eq 16384
check "... in status.json" test "$(jq '.disks[0]."pending-bytes"' "$I/status.json")" = "$pb"
check "... in the metrics" grep -qx "asrfs_disk_pending_bytes{vault=\"asr-vault\",item=\"web01\",disk=\"web01-os\"} $pb" "$M"
check "the other disk's stays 0" file_is "$I/disks/web01-data/pending-bytes" 0
echo start >"$I/verify"
check "verify with pending writes Succeeds" verify_ends Succeeded
check "... counting them as pending, not mismatched" file_is "$(job_dir)/mismatched-bytes" 0
check "... health Normal" file_is "$I/health" Normal
p=$(latest_point web01)
fast_policy 2
check "a cycle ships them" wait_new_point web01 "$p" 20
check "pending-bytes falls to 0 after it" wait_for 10 file_is "$I/disks/web01-os/pending-bytes" 0

# ---- failed over: not allowed ----
echo latest >"$I/failover"
check "failed over" wait_for 60 file_is "$I/state" FailedOver
expect_errno "verify in FailedOver: EPERM" EPERM "$I/verify" start
check "... the error says why" grep -q "^verify is not allowed while web01 is FailedOver" "$I/error"
check "allowed-operations without verify" sh -c "! grep -qx verify '$I/allowed-operations'"
finish
