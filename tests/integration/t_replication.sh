#!/bin/bash
# t_replication.sh - protecting a VM end to end on local regions: random
# data written through the mount with dd, enable replication (job, tasks,
# states), the replica and every recovery point compared byte for byte with
# copies saved when each point was taken, retention dropping points, and
# everything found again after unmount and remount.  Then disable.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
W=$(R westeurope)
N=$(R northeurope)
D="$W/resource-groups/rg1/disks"
I="$(V)/items/web01"

create_vm westeurope rg1 web01 "web01-os:8M,web01-data:4M" network=vnet1 availability-set=as1
dd if=/dev/urandom of="$D/web01-os" bs=64k count=40 conv=notrunc status=none
dd if=/dev/urandom of="$D/web01-data" bs=4k count=100 seek=50 conv=notrunc status=none
fast_policy 2
check "enable-replication accepted" protect rg1 web01
check "shortcut link" test "$(readlink "$MNT/web01")" = "vaults/asr-vault/items/web01"
check "direction" file_is "$I/direction" "westeurope -> northeurope"
check "active region" file_is "$I/active-region" westeurope
check "health Normal" file_is "$I/health" Normal
check "job link" test -d "$I/job"
check "job type" file_is "$I/job/type" "Enable replication"
check "job Succeeded" file_is "$I/job/state" Succeeded
check "job progress 100" file_is "$I/progress" 100
check "every task Succeeded" test "$(grep -c '^Succeeded ' "$I/job/tasks")" -eq "$(wc -l <"$I/job/tasks")"
check "job bytes-total is the disks' size" file_is "$I/job/bytes-total" $(((8 + 4) << 20))
check "job.json parses" test "$(jq -r .state "$I/job/job.json")" = Succeeded
check "replica disks in the target RG" test -e "$N/resource-groups/rg1-asr/disks/web01-os-ASRReplica" -a -e "$N/resource-groups/rg1-asr/disks/web01-data-ASRReplica"
check "mapped network created" test -e "$N/resource-groups/rg1-asr/networks/vnet1-asr"
check "mapping default vnet-asr" file_is "$(V)/network-mappings/westeurope/vnet1" "northeurope/vnet1-asr"
check "availability set created" test -e "$N/resource-groups/rg1-asr/availability-sets/as1-asr"
check "replica equals source (os)" cmp -s "$N/resource-groups/rg1-asr/disks/web01-os-ASRReplica" "$D/web01-os"
check "replica equals source (data)" cmp -s "$N/resource-groups/rg1-asr/disks/web01-data-ASRReplica" "$D/web01-data"
check "replica keeps holes" test "$(du -k "$STATE/regions/northeurope/resource-groups/rg1-asr/disks/web01-os-ASRReplica" | cut -f1)" -lt 4000
check "item disk files" test "$(cat "$I/disks/web01-os/replica") $(cat "$I/disks/web01-os/replica-region") $(cat "$I/disks/web01-os/size")" = "web01-os-ASRReplica northeurope $((8 << 20))"
expect_errno "enable again: EEXIST" EEXIST "$(V)/enable-replication" "vm=rg1/web01 source=westeurope target=northeurope"
check "status.json parses" test "$(jq -r .state "$I/status.json")" = Protected
check "allowed-operations lists disable" grep -qx disable "$I/allowed-operations"
rmdir_errno() { python3 -c 'import os, sys, errno
try:
    os.rmdir(sys.argv[1]); print(0)
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"; }
check "rmdir of a policy in use: EBUSY" test "$(rmdir_errno "$(V)/policies/24-hour-retention-policy")" = EBUSY
check "the policy is still there" test -d "$(V)/policies/24-hour-retention-policy"

# Points: change data, wait for a point after each change, keep a copy.
declare -a PTS
for k in 1 2 3 4; do
	prev=$(latest_point web01)
	dd if=/dev/urandom of="$D/web01-os" bs=4k count=$((k * 7)) seek=$((k * 300)) conv=notrunc status=none
	dd if=/dev/urandom of="$D/web01-data" bs=512 count=3 seek=$((k * 999)) conv=notrunc status=none
	cp "$D/web01-os" "$WORK/os.$k"
	cp "$D/web01-data" "$WORK/data.$k"
	wait_new_point web01 "$prev" 20 || not_ok "a new point after change $k"
	PTS[$k]=$(latest_point web01)
done
for k in 1 2 3 4; do
	p="$I/recovery-points/${PTS[$k]}"
	check "point $k os disk exact" cmp -s "$p/disks/web01-os" "$WORK/os.$k"
	check "point $k data disk exact" cmp -s "$p/disks/web01-data" "$WORK/data.$k"
done
first=$(entries "$I/recovery-points" | grep -v latest | head -1)
check "point type" file_is "$I/recovery-points/$first/type" crash-consistent
check "point time is its id" file_is "$I/recovery-points/$first/time" "$first"
check "point images are read-only" test "$(stat -c %a "$I/recovery-points/$first/disks/web01-os")" = 444
check "writing a point image fails" sh -c "! dd if=/dev/zero of='$I/recovery-points/$first/disks/web01-os' bs=512 count=1 conv=notrunc status=none 2>/dev/null"
check "last-recovery-point file" test "$(cat "$I/last-recovery-point")" '>' "${PTS[3]}"
rpo=$(cat "$I/rpo-seconds")
check "rpo-seconds is small" test "$rpo" -ge 0 -a "$rpo" -le 10
check "metrics carry the item" grep -q "^asrfs_item_rpo_seconds{vault=\"asr-vault\",item=\"web01\"}" "$MNT/metrics/asrfs.prom"

# Remount: all found again, points still exact.
asrfs_stop
check "unmounted cleanly" not_mounted
asrfs_start || not_ok "remount"
check "item still Protected" file_is "$I/state" Protected
for k in 1 2 3 4; do
	check "after remount point $k exact" cmp -s "$I/recovery-points/${PTS[$k]}/disks/web01-os" "$WORK/os.$k"
done
check "jobs kept" test -d "$(V)/jobs/000001-enable-replication-web01"
check "policy setting kept" file_is "$(V)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds" 2

# Undo data lives in the target region at asr-data/<vault>/<item>/<seq>/<disk>.undo:
# while older points are kept some of it holds pre-images (this also proves the
# find below looks where undo files are).
undo_files() { find "$STATE/regions/northeurope/asr-data" -name '*.undo' -size +0 2>/dev/null; }
check "older points keep undo data" test -n "$(undo_files | head -1)"
# Retention: 0 hours keeps only the newest point.
echo 0 >"$(V)/policies/24-hour-retention-policy/recovery-point-retention-hours"
wait_for 20 sh -c "[ \$(ls '$I/recovery-points' | grep -vc latest) -eq 1 ]"
check "retention kept only the newest" test "$(entries "$I/recovery-points" | grep -vc latest)" -eq 1
# Stop making points (one more may still come), so the newest stays put
# while it is compared: with retention 0 each new point prunes the last.
fast_policy 3600
last=$(latest_point web01)
wait_new_point web01 "$last" 4
cp "$D/web01-os" "$WORK/os.now"
newest=$(latest_point web01)
check "the newest point is the replica" cmp -s "$I/recovery-points/$newest/disks/web01-os" "$WORK/os.now"
check "dropped points' undo data is gone" test -z "$(undo_files | head -1)"

# Disable: replicas and points go, the VM stays.
expect_errno "disable accepted" 0 "$I/disable" start
wait_for 20 test ! -e "$I"
check "item removed" test ! -e "$I"
check "shortcut removed" test ! -e "$MNT/web01"
check "replica disks deleted" test ! -e "$N/resource-groups/rg1-asr/disks/web01-os-ASRReplica"
check "the VM is untouched" cmp -s "$D/web01-os" "$WORK/os.now"
check "disable job Succeeded" test "$(cat "$(V)"/jobs/*disable*/state)" = Succeeded
finish
