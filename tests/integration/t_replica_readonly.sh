#!/bin/bash
# t_replica_readonly.sh - replicas and recovery points change only by
# replication (SPEC 8), the mount is private, the state is the owner's, and
# a replica lost behind the daemon's back is reported and repaired by resync.
. "$(dirname "$0")/lib.sh"
asrfs_start || exit 1
create_vm westeurope rg1 web01 web01-os:8M
scribble "$(WD rg1 web01-os)" 64 0
fast_policy 1
protect rg1 web01 || { not_ok "protect"; finish; }
I=$(V)/items/web01
REP=$(ND rg1-asr web01-os-ASRReplica)
p0=$(latest_point web01)
wait_new_point web01 "$p0" 20
fast_policy 3600
sleep 1.5
pt=$(latest_point web01)
PT="$I/recovery-points/$pt/disks/web01-os"
cp "$REP" "$WORK/rep.before"
cp "$PT" "$WORK/pt.before"

# Replicas: mode 0444, and no open for writing succeeds, not even root's.
check "replica shows mode 0444" test "$(stat -c %a "$REP")" = 444
check "source disk stays 0644" test "$(stat -c %a "$(WD rg1 web01-os)")" = 644
expect_errno "pwrite to a replica is EPERM" EPERM "$REP" garbage
got=$(dd if=/dev/urandom of="$REP" bs=4k count=1 conv=notrunc 2>&1)
check "dd onto a replica fails with EPERM" grep -q "Operation not permitted" <<<"$got"
check "truncate of a replica fails" bash -c "! truncate -s 0 '$REP' 2>/dev/null"
check "the replica is unchanged" cmp -s "$REP" "$WORK/rep.before"
check "a point image shows mode 0444" test "$(stat -c %a "$PT")" = 444
expect_errno "pwrite to a point image is EPERM" EPERM "$PT" garbage
check "the point is unchanged" cmp -s "$PT" "$WORK/pt.before"
check "latest still reads the point" cmp -s "$I/recovery-points/latest/disks/web01-os" "$WORK/pt.before"

# A private mount: no allow_other unless asked for; state files the owner's.
check "mounted without allow_other" bash -c "! grep ' $MNT ' /proc/mounts | grep -q allow_other"
bad=$(find "$STATE" -mindepth 1 \( -type f -perm /077 \) -o \( -type d -perm /077 \) | grep -v '/asrfs.log$' | head -3)
check "state files 0600 and directories 0700 ${bad:+(not: $bad)}" test -z "$bad"

# A replica deleted behind the daemon's back: cycles fail, health says so,
# the figures do not run away, and resync makes a new one.
before=$(jq '."bytes-replicated"' "$I/status.json")
rm -f "$STATE/regions/northeurope/resource-groups/rg1-asr/disks/web01-os-ASRReplica"
fast_policy 1
wait_for 20 file_is "$I/health" Critical
check "a lost replica makes health Critical" file_is "$I/health" Critical
sleep 3
after=$(jq '."bytes-replicated"' "$I/status.json")
check "failed cycles add no phantom bytes ($before -> $after)" test "$after" -le $((before + 8 * 1048576))
expect_errno "resync accepted" 0 "$I/resync" start
wait_for 60 file_is "$I/state" Protected
wait_for 30 sh -c "test \"\$(cat '$(V)/jobs/'*resynchronize*/state 2>/dev/null)\" = Succeeded"
check "resync Succeeded" test "$(cat "$(V)"/jobs/*resynchronize*/state)" = Succeeded
check "item Protected after resync" file_is "$I/state" Protected
wait_for 20 file_is "$I/health" Normal
check "health Normal again" file_is "$I/health" Normal
fast_policy 3600
sleep 1.5
check "the new replica equals the source" cmp -s "$REP" "$(WD rg1 web01-os)"
check "the new replica is read-only too" test "$(stat -c %a "$REP")" = 444
rs_start=$(cat "$(V)"/jobs/*resynchronize*/started)
old_pts=$(entries "$I/recovery-points" | grep -v latest | awk -v t="$rs_start" '$0 < t')
check "the points that read through the lost replica are gone (${old_pts:-none left})" test -z "$old_pts"
check "the point left reads the source" cmp -s "$I/recovery-points/latest/disks/web01-os" "$(WD rg1 web01-os)"
finish
