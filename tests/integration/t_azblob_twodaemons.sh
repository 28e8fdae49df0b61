#!/bin/bash
# t_azblob_twodaemons.sh - one vault on azblob, two daemons (as on two
# machines: own state directories and mounts, one config).  The first holds
# the vault's blob lease and manages it; the second serves it read-only
# (mode, EROFS on controls) and follows the first's changes.  When the first
# unmounts (lease released) the second takes over: its controls work and
# replication goes on from it.  Then the first comes back read-only, the
# second is killed (kill -9: its lease is never released) and the first
# takes over once the lease expires (lease_seconds 15).  Last, the first is
# frozen (SIGSTOP) past its lease: the second takes over, and the first,
# thawed, gives its stale lease up before doing anything else (self-fencing)
# and, the second holding it now, stays read-only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_setup || finish
az_start northeurope || finish
CONF="$WORK/asrfs.json"
az_config "$CONF" westeurope=local northeurope=azblob lease_seconds:15
M2="$WORK/mnt2"
S2="$WORK/state2"
LOG2="$WORK/asrfs2.log"
PID2=
mkdir -p "$M2" "$S2"
I="$(V)/items/web01"
I2="$M2/vaults/asr-vault/items/web01"
D="$(R westeurope)/resource-groups/rg1/disks"

start2() {
	"$ASRFS" -f --state "$S2" --config "$CONF" "$M2" >>"$LOG2" 2>&1 &
	PID2=$!
	wait_for 15 test -e "$M2/version"
}
stop2() {
	[ -n "$PID2" ] || return 0
	fusermount3 -u "$M2" 2>/dev/null || kill "$PID2"
	wait "$PID2" 2>/dev/null
	PID2=
}
trap 'stop2; az_cleanup' EXIT

asrfs_start --config "$CONF" || { not_ok "first mount"; finish; }
check "first daemon manages the vault" file_is "$(V)/mode" managed
create_vm westeurope rg1 web01 "web01-os:8M" network=vnet1
dd if=/dev/urandom of="$D/web01-os" bs=64k count=40 conv=notrunc status=none
fast_policy 2
check "protect web01" protect rg1 web01
dd if=/dev/urandom of="$D/web01-os" bs=4k count=9 seek=700 conv=notrunc status=none
cp "$D/web01-os" "$WORK/os.1"
P1=$(point_after "$I/recovery-points" 20) || not_ok "a new point"

# --- the second daemon: read-only
check "second daemon mounts" start2
check "second daemon serves the vault read-only" file_is "$M2/vaults/asr-vault/mode" read-only
check "it sees the item Protected" file_is "$I2/state" Protected
check "it reads a point exactly" cmp -s "$I2/recovery-points/$P1/disks/web01-os" "$WORK/os.1"
expect_errno "EROFS on an item control" EROFS "$I2/resync" start
expect_errno "EROFS on enable-replication" EROFS "$M2/vaults/asr-vault/enable-replication" "vm=rg1/x source=westeurope target=northeurope"
expect_errno "EROFS on a policy setting" EROFS "$M2/vaults/asr-vault/policies/24-hour-retention-policy/rpo-threshold-seconds" 600
echo 777 >"$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds"
check "it follows the manager's changes" wait_for 15 file_is "$M2/vaults/asr-vault/policies/24-hour-retention-policy/rpo-threshold-seconds" 777
check "the manager is still replicating" wait_new_point web01 "$P1" 20
check "nothing was rolled back under the manager" cmp -s "$I/recovery-points/$P1/disks/web01-os" "$WORK/os.1"

# --- the first unmounts: the second takes over
asrfs_stop
check "second daemon takes over after the unmount" wait_for 15 file_is "$M2/vaults/asr-vault/mode" managed
check "it logs the takeover" grep -q "vault asr-vault: taken over" "$LOG2"
expect_errno "its controls work now (policy write)" 0 "$M2/vaults/asr-vault/policies/24-hour-retention-policy/rpo-threshold-seconds" 600
D2="$M2/regions/westeurope/resource-groups/rg1/disks"
dd if=/dev/urandom of="$D2/web01-os" bs=4k count=5 seek=1500 conv=notrunc status=none
cp "$D2/web01-os" "$WORK/os.2"
P2=$(point_after "$I2/recovery-points" 20)
check "replication goes on from the second" test -n "$P2"
check "its new point is exact" cmp -s "$I2/recovery-points/$P2/disks/web01-os" "$WORK/os.2"
check "the old point is still exact" cmp -s "$I2/recovery-points/$P1/disks/web01-os" "$WORK/os.1"

# --- the first comes back (read-only); the second dies; the lease expires
asrfs_start --config "$CONF" || not_ok "first daemon mounts again"
check "first daemon is read-only now" file_is "$(V)/mode" read-only
kill -9 "$PID2"
wait "$PID2" 2>/dev/null
PID2=
fusermount3 -u "$M2" 2>/dev/null || umount -l "$M2"
t0=$SECONDS
check "first daemon takes over when the dead one's lease expires" wait_for 40 file_is "$(V)/mode" managed
echo "# takeover after $((SECONDS - t0)) s"
check "the item is Protected" file_is "$I/state" Protected
check "policy change made by the second is there" file_is "$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds" 600
dd if=/dev/urandom of="$D/web01-os" bs=4k count=3 seek=100 conv=notrunc status=none
cp "$D/web01-os" "$WORK/os.3"
P3=$(point_after "$I/recovery-points" 20)
check "replication resumes on the first" test -n "$P3"
check "the points are exact (1)" cmp -s "$I/recovery-points/$P1/disks/web01-os" "$WORK/os.1"
check "the points are exact (2)" cmp -s "$I/recovery-points/$P2/disks/web01-os" "$WORK/os.2"
check "the points are exact (3)" cmp -s "$I/recovery-points/$P3/disks/web01-os" "$WORK/os.3"
# --- a manager frozen past its lease loses the vault, and knows it when it
# wakes (no cycle is in flight: the policy is slowed down first; a cycle
# running across such a freeze is not fenced, see docs/AZBLOB.md)
fast_policy 3600
sleep 3
check "second daemon mounts again (read-only)" start2
check "  ... read-only" file_is "$M2/vaults/asr-vault/mode" read-only
kill -STOP "$ASRFS_PID"
check "first frozen: the second takes over when the lease expires" wait_for 40 file_is "$M2/vaults/asr-vault/mode" managed
kill -CONT "$ASRFS_PID"
check "first thawed: it gives the stale lease up at once" wait_for 20 grep -q "given up before it can expire" "$LOG"
check "first thawed: it serves the vault read-only" file_is "$(V)/mode" read-only
expect_errno "first thawed: its controls answer EROFS" EROFS "$I/resync" start
echo 2 >"$M2/vaults/asr-vault/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
p=$(readlink "$I2/recovery-points/latest")
check "the second replicates" wait_for 20 sh -c "q=\$(readlink '$I2/recovery-points/latest'); [ -n \"\$q\" ] && [ \"\$q\" '>' '$p' ]"
stop2

if grep -qE "ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:" "$LOG2"; then
	not_ok "sanitizer report in the second daemon's log"
	grep -E -A20 "Sanitizer|runtime error:" "$LOG2" | head -40
fi
finish
