#!/bin/bash
# t_azblob_frozen_reads.sh - a frozen endpoint stalls writers, never readers.
# Both regions on azblob (one Azurite each); the vault lives in northeurope,
# the replication target.  Three VMs replicate westeurope -> northeurope with
# 1 s cycles, so item and job records are written all the time.  Then the
# vault region's Azurite is frozen with SIGSTOP: its connections hang, and
# the daemon does not know yet that the region is down, so the next record
# write hangs in the middle of a change.  Every status file of every item,
# the jobs, the vault and the regions must still answer within a second,
# again and again while the endpoint stays frozen, and a control write
# (which needs its record) must wait instead of failing wrongly.  (Listing
# recovery-points/ is not among them: it waits for a cycle's catalog write,
# which holds the item's chain; docs/BEHAVIOUR.md says so.)  Thawed,
# the control completes, cycles resume and make new points.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=azblob
N=$(R northeurope)
W=$(R westeurope)
VMS="web01 app01 db01"

for vm in $VMS; do
	create_vm westeurope rg1 "$vm" "$vm-os:4M" network=vnet1
	dd if=/dev/urandom of="$(WD rg1 "$vm-os")" bs=64k count=8 conv=notrunc status=none
done
fast_policy 1
for vm in $VMS; do
	check "protect $vm" protect rg1 "$vm"
done
for vm in $VMS; do
	wait_new_point "$vm" "$(latest_point "$vm")" 20 >/dev/null
done

# Every file a reader of the tree looks at, in one list.
files=("$W/status" "$N/status" "$(V)/jobs")
for vm in $VMS; do
	I="$(V)/items/$vm"
	files+=("$I/state" "$I/health" "$I/status" "$I/status.json" "$I/error" "$I/progress"
		"$I/allowed-operations" "$I/disks")
done

# read_all: every file (or directory) read, each within 1 s of wall time
# (a read stuck in the daemon cannot be interrupted, so time it rather than
# trust `timeout`).  Prints what was slow.
read_all() {
	local f slow="" t0 ms rc
	for f in "${files[@]}"; do
		t0=$(date +%s%N)
		if [ -d "$f" ]; then
			timeout 1 ls "$f" >/dev/null 2>&1
		else
			timeout 1 cat "$f" >/dev/null 2>&1
		fi
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		[ "$rc" = 0 ] && [ "$ms" -lt 1000 ] || slow="$slow $f (${ms} ms, exit $rc)"
	done
	[ -z "$slow" ] || echo "# did not answer within 1 s:$slow"
	[ -z "$slow" ]
}
check "before the freeze: every status file answers" read_all

# Write to the sources so the next cycles have records to write.
for vm in $VMS; do
	scribble "$(WD rg1 "$vm-os")" 4 100
done
az_freeze northeurope
# A control write needs the vault's record: it waits for the endpoint.
(
	echo 7 >"$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds" 2>/dev/null
	echo $? >"$WORK/ctl.rc"
) &
ctl=$!
bad=0
start=$SECONDS
while [ $((SECONDS - start)) -lt 12 ]; do
	read_all || bad=$((bad + 1))
	sleep 0.5
done
check "frozen vault region: every status file of every item answered within 1 s, for 12 s" test "$bad" -eq 0
for vm in $VMS; do
	check "frozen: $vm's state reads as before" grep -qx Protected "$(V)/items/$vm/state"
done
az_thaw northeurope
check "thawed: the waiting control write completed" wait_for 150 test -s "$WORK/ctl.rc"
wait "$ctl" 2>/dev/null
if [ "$(cat "$WORK/ctl.rc" 2>/dev/null)" = 0 ]; then
	check "thawed: the policy holds the written value" file_is "$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds" 7
else
	check "thawed: a refused control left the policy as it was" \
		test "$(cat "$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds")" != 7
fi
check "thawed: the region is available" wait_for 30 file_is "$N/status" available
for vm in $VMS; do
	check "thawed: $vm gets new points" wait_new_point "$vm" "$(latest_point "$vm")" 60
done
check "after the thaw: every status file answers" read_all
finish
