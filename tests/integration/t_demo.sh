#!/bin/bash
# t_demo.sh - the demo's sample VMs (ext4 made with mke2fs -d) protected,
# e2fsck -fn clean on a recovery-point image, files read back with debugfs,
# and the operator tools (asr-wait.sh, check_asrfs) on the result.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
check "demo set-up" "$TOP/scripts/demo-setup.sh" "$MNT" "$WORK/demo" >/dev/null
check "web01 Protected" file_is "$(V)/items/web01/state" Protected
check "db01 Protected" file_is "$(V)/items/db01/state" Protected
p=$(latest_point web01)
img="$(V)/items/web01/recovery-points/$p/disks/web01-os"
quiet() { "$@" >/dev/null 2>&1; }
check "e2fsck -fn clean on a recovery-point image" quiet e2fsck -fn "$img"
check "a file read back from the point image" test "$(debugfs -R 'cat /etc/hostname' "$img" 2>/dev/null)" = web01-os
check "data disk image clean" quiet e2fsck -fn "$(V)/items/web01/recovery-points/$p/disks/web01-data"
check "asr-wait.sh reports the finished job" sh -c "'$TOP/scripts/asr-wait.sh' '$(V)/items/web01' 5 | grep -q 'Succeeded'"
out=$("$TOP/scripts/check_asrfs" "$MNT"); rc=$?
check "check_asrfs OK ($out)" test $rc -eq 0
has_perf() { case "$out" in *"'asr-vault/web01'="*";900;1800;0"*) return 0 ;; esac; return 1; }
check "check_asrfs perfdata" has_perf
echo 1 >"$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds"
echo 3600 >"$(V)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
wait_for 10 file_is "$(V)/items/web01/health" Critical
check "health turns Critical past twice the RPO threshold" file_is "$(V)/items/web01/health" Critical
"$TOP/scripts/check_asrfs" -i web01 "$MNT" >/dev/null; rc=$?
check "check_asrfs CRITICAL" test $rc -eq 2
finish
