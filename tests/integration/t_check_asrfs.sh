#!/bin/bash
# t_check_asrfs.sh - scripts/check_asrfs as a monitoring system runs it:
# exit 0/1/2/3 with one status line, --help and -V, perfdata
# 'vault/item'=RPOs;warn;crit;0 unique across two vaults, -w/-c replacing
# the policy's thresholds, a failing item CRITICAL, bad arguments UNKNOWN
# without reading the mount, a hung daemon (SIGSTOP) CRITICAL within its own
# -t, a dead mount (kill -9) CRITICAL with the reason.
. "$(dirname "$0")/lib.sh"
CHECK="$TOP/scripts/check_asrfs"
two_vaults "$WORK/two.json" "$WORK/regions" asr-vault dr-vault

# run ARGS...: runs check_asrfs; OUT its output, RC its exit status.
OUT="" RC=0
run() { OUT=$("$CHECK" "$@" 2>&1); RC=$?; }
# answers RC PATTERN NAME: the last run exited RC with one line matching PATTERN.
answers() {
	local want=$1 pat=$2 name=$3
	if [ "$RC" -eq "$want" ] && [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && printf '%s\n' "$OUT" | grep -Eq -- "$pat"; then
		ok "$name"
	else
		not_ok "$name (exit $RC, want $want: $OUT)"
	fi
}

run --help
check "--help exits 0 with the usage" test "$RC" -eq 0 -a -n "$(printf '%s\n' "$OUT" | grep '^Usage: check_asrfs')"
run -V
want_v=$(sed -n 's/^#define ASRFS_VERSION "\(.*\)"$/\1/p' "$TOP/backend/version.h")
check "-V prints asrfs's version ($OUT)" test "$RC" -eq 0 -a "$OUT" = "check_asrfs $want_v"

asrfs_start --config "$WORK/two.json" || { not_ok "mount"; finish; }
create_vm westeurope rg1 web01 "web01-os:2M" network=vnet1
create_vm westeurope rg2 web01 "web01-os:2M" network=vnet1
check "enable web01 in asr-vault" protect rg1 web01
echo "vm=rg2/web01 source=westeurope target=northeurope" >"$(V dr-vault)/enable-replication"
check "enable web01 in dr-vault" wait_for 60 file_is "$(V dr-vault)/items/web01/state" Protected

# Bad arguments: UNKNOWN with the usage, never acted on (not even a read).
run --bogus "$MNT"
check "unknown option: exit 3" test "$RC" -eq 3
check "unknown option: status line and usage" test "$(printf '%s\n' "$OUT" | head -1)" = "ASRFS UNKNOWN - unknown option: --bogus" -a -n "$(printf '%s\n' "$OUT" | grep '^Usage: ')"
for bad in "-w x" "-c -1" "-t 0" "-w 100 -c 50" "-i" ""; do
	# shellcheck disable=SC2086 # the words of $bad are the arguments
	run $bad ${bad:+"$MNT"}
	check "bad arguments '$bad': exit 3 UNKNOWN" test "$RC" -eq 3 -a -n "$(printf '%s\n' "$OUT" | grep '^ASRFS UNKNOWN - ')"
done
run "$MNT" extra
check "a second mountpoint: exit 3" test "$RC" -eq 3

# OK, with perfdata unique across the vaults.
run "$MNT"
answers 0 "^ASRFS OK - 2 replicated item\(s\) healthy \| 'asr-vault/web01'=[0-9]+s;900;1800;0 'dr-vault/web01'=[0-9]+s;900;1800;0$" "OK with perfdata for each vault's web01"
run -i dr-vault/web01 "$MNT"
answers 0 "\| 'dr-vault/web01'=[0-9]+s;900;1800;0$" "-i VAULT/ITEM: that item only"
run --item=nosuch "$MNT"
answers 3 "^ASRFS UNKNOWN - no replicated item nosuch" "-i of no item: UNKNOWN"

# -w/-c replace the policy's thresholds (a point every 300 s: the RPO grows).
wait_for 10 sh -c "[ \"\$(cat '$(V)/items/web01/rpo-seconds')\" -ge 2 ] && [ \"\$(cat '$(V dr-vault)/items/web01/rpo-seconds')\" -ge 2 ]"
run -w 1 -c 3600 -i asr-vault/web01 "$MNT"
answers 1 "^ASRFS WARNING - asr-vault/web01 Protected: RPO [0-9]+s > 1s \| 'asr-vault/web01'=[0-9]+s;1;3600;0$" "RPO over -w: WARNING"
run -w 1 -c 1 "$MNT"
answers 2 "^ASRFS CRITICAL - asr-vault/web01 Protected: RPO [0-9]+s > 1s; dr-vault/web01 Protected: RPO [0-9]+s > 1s \|" "RPO over -c: CRITICAL"
run --warning=3600 --critical=7200 "$MNT"
answers 0 "^ASRFS OK .*;3600;7200;0" "long options"
# The policy's own threshold, when no -w/-c: health Warning past it.
echo 1 >"$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds"
wait_for 10 sh -c "[ \"\$(cat '$(V)/items/web01/rpo-seconds')\" -ge 3 ]"
run -i asr-vault/web01 "$MNT"
answers 2 "^ASRFS CRITICAL - asr-vault/web01 Protected: RPO [0-9]+s > 2s.*\| 'asr-vault/web01'=[0-9]+s;1;2;0$" "the policy's threshold by default"
run -w 3600 -c 7200 -i asr-vault/web01 "$MNT"
answers 0 "^ASRFS OK " "-w/-c override the policy's threshold"
echo 900 >"$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds"

# A failing item: its replica gone behind the daemon's back.
rm -f "$WORK/regions/northeurope/resource-groups/rg2-asr/disks/web01-os-ASRReplica"
echo 1 >"$(V dr-vault)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
check "dr-vault/web01 turns Critical" wait_for 20 file_is "$(V dr-vault)/items/web01/health" Critical
run "$MNT"
answers 2 "^ASRFS CRITICAL - dr-vault/web01 Protected: replication failing" "a failing item: CRITICAL"
run -i asr-vault/web01 "$MNT"
answers 0 "^ASRFS OK " "the other vault's web01 stays OK"

# A hung daemon: CRITICAL within -t, never a hung check.
kill -STOP "$ASRFS_PID"
t0=$(date +%s.%N)
run -t 2 "$MNT"
t1=$(date +%s.%N)
kill -CONT "$ASRFS_PID"
answers 2 "^ASRFS CRITICAL - $MNT does not answer within 2s" "stopped daemon: CRITICAL"
check "stopped daemon: answered within 3.5 s" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 3.5) }'
kill -STOP "$ASRFS_PID"
run --bogus "$MNT"
kill -CONT "$ASRFS_PID"
check "bad arguments never touch the (hung) mount" test "$RC" -eq 3
check "the daemon serves again after SIGCONT" wait_for 10 test -e "$MNT/version"

# A dead mount: CRITICAL with the reason.
asrfs_dead() { kill -9 "$ASRFS_PID"; wait "$ASRFS_PID" 2>/dev/null; ASRFS_PID=; }
asrfs_dead
run "$MNT"
answers 2 "^ASRFS CRITICAL - $MNT is a dead mount \(Transport endpoint is not connected\)" "dead mount: CRITICAL with the reason"
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
run "$MNT"
answers 2 "^ASRFS CRITICAL - asrfs is not mounted on $MNT" "not mounted: CRITICAL"
run "$WORK/nonexistent"
answers 3 "^ASRFS UNKNOWN - " "no such directory: UNKNOWN"
finish
