#!/bin/bash
# t_reprotect_crash.sh - issue 10 item 3: a reprotect killed (kill -9) just
# before or just after any of its durable writes ends right at the next
# mount.  Set-up: a protected VM with two disks of random bytes, failed over,
# committed, new data written on the failed-over VM.  A traced dry run
# counts the reprotect's writes (W); then for kill points N (ASRFS_CRASH_AFTER
# and ASRFS_CRASH_BEFORE) the state directory is put back as it was before
# the reprotect, the daemon is started with the crash point armed around the
# control write, and after a remount without it:
#   - the job ends Succeeded, or Failed with the item retryable and a retry
#     Succeeding (a kill before the job exists leaves the item as it was);
#   - the item is Protected in the reversed direction, its job link names
#     the reprotect job;
#   - the running (failed-over) VM's disks never went away and hold exactly
#     what they held before the reprotect, the VM still runs;
#   - every -ASRReplica disk in either region is one the item names, and
#     after the next cycle each equals its source;
#   - the old VM's shell (its disks became replicas) is gone.
# The same for failback's reprotect (back to westeurope -> northeurope).
# Then kills at random times (fixed seed) for both.  `make check` runs a
# fixed sample; ASRFS_CRASH_ALL=1 runs every N and more random times.
# With REPROTECT_CRASH_AZBLOB=1 (t_azblob_reprotect_crash.sh) westeurope is
# an azblob region (Azurite), so the first reprotect moves the originals
# (rename and a guard snapshot) instead of copying them.
. "$(dirname "$0")/lib.sh"
I="$(V)/items/web01"
ALL=${ASRFS_CRASH_ALL:-0}
AZ=${REPROTECT_CRASH_AZBLOB:-0}

# save NAME / restore NAME: everything the daemon keeps (state directory,
# local regions' directories, westeurope's Azurite data), daemon stopped.
DATA=("$STATE" "$WORK/regions" "$WORK/azurite-westeurope")
save() {
	local d
	[ "$AZ" = 1 ] && az_stop westeurope
	mkdir -p "$WORK/$1"
	for d in "${DATA[@]}"; do
		[ -e "$d" ] && cp -a --sparse=always "$d" "$WORK/$1/"
	done
	[ "$AZ" = 1 ] && az_restart westeurope
	return 0
}
restore() {
	local d
	[ "$AZ" = 1 ] && az_stop westeurope
	for d in "${DATA[@]}"; do
		rm -rf "$d"
		[ -e "$WORK/$1/$(basename "$d")" ] && cp -a --sparse=always "$WORK/$1/$(basename "$d")" "$d"
	done
	[ "$AZ" = 1 ] && az_restart westeurope
	return 0
}

# ---- set-up: protect, fail over, commit, write on the failed-over VM ----
if [ "$AZ" = 1 ]; then
	. "$(dirname "$0")/azblob_lib.sh"
	az_mount westeurope=azblob northeurope=local
	START=(--config "$CONF")
else
	START=()
	asrfs_start || { not_ok "mount"; finish; }
fi
create_vm westeurope rgA web01 "web01-os:8M,web01-data:4M" network=vnet1
dd if=/dev/urandom of="$(WD rgA web01-os)" bs=1M count=8 conv=notrunc status=none
dd if=/dev/urandom of="$(WD rgA web01-data)" bs=1M count=4 conv=notrunc status=none
fast_policy 3600
check "protected" protect rgA web01
expect_errno "failover" 0 "$I/failover" "latest shutdown=yes"
check "failed over" wait_for 30 file_is "$I/state" FailedOver
expect_errno "commit" 0 "$I/commit" start
check "committed" wait_for 30 file_is "$I/state" FailoverCommitted
scribble "$(ND rgA-asr web01-os)" 300 100
scribble "$(ND rgA-asr web01-data)" 50 700
asrfs_stop
save base1

# The failback's set-up: reprotect, fail back, commit, write in westeurope.
asrfs_start "${START[@]}" || { not_ok "mount"; finish; }
expect_errno "reprotect" 0 "$I/reprotect" start
check "reprotected" wait_for 60 file_is "$I/state" Protected
expect_errno "failback" 0 "$I/failover" "latest shutdown=yes"
check "failed back" wait_for 30 file_is "$I/state" FailedOver
expect_errno "commit the failback" 0 "$I/commit" start
check "failback committed" wait_for 30 file_is "$I/state" FailoverCommitted
scribble "$(WD rgA web01-os)" 200 1000
scribble "$(WD rgA web01-data)" 30 10
asrfs_stop
save base2

# ---- one kill point ----

# The running VM's region and group, and the reversed direction, per base.
running_of() { if [ "$1" = base1 ]; then echo "northeurope rgA-asr"; else echo "westeurope rgA"; fi; }
replica_of() { if [ "$1" = base1 ]; then echo "westeurope rgA"; else echo "northeurope rgA-asr"; fi; }
dir_of() { if [ "$1" = base1 ]; then echo "northeurope -> westeurope"; else echo "westeurope -> northeurope"; fi; }

# newest reprotect job id, or empty
reprotect_job() { entries "$(V)/jobs" 2>/dev/null | grep -- '-reprotect-web01$' | sort | tail -1; }
job_done() { local s; s=$(cat "$(V)/jobs/$1/state" 2>/dev/null); [ "$s" = Succeeded ] || [ "$s" = Failed ]; }

# The daemon's SIGKILL leaves a stale mount; wait for it and clear it.
await_death() {
	local end=$((SECONDS + 60))
	while kill -0 "$ASRFS_PID" 2>/dev/null && [ $SECONDS -le $end ]; do
		local j; j=$(reprotect_job)
		[ -n "$j" ] && job_done "$j" && break
		sleep 0.1
	done
	rm -f "$WORK/arm"
	kill -9 "$ASRFS_PID" 2>/dev/null
	while kill -0 "$ASRFS_PID" 2>/dev/null; do sleep 0.05; done
	asrfs_kill
}

# run_point BASE MODE N [trace]: one kill point; prints ok/not ok lines.
run_point() {
	local base=$1 mode=$2 n=$3 trace=${4:-} tag="$1 $2=$3" fails=$FAILED
	local rreg rrg treg trg job state
	read -r rreg rrg <<<"$(running_of "$base")"
	read -r treg trg <<<"$(replica_of "$base")"
	restore "$base"
	rm -f "$WORK/trace"
	local var="ASRFS_CRASH_$mode=$n"
	[ "$mode" = TIME ] && var=ASRFS_CRASH_AFTER=0 # killed by the test, N ms in
	env "$var" ASRFS_CRASH_ARM="$WORK/arm" ASRFS_CRASH_TRACE="${trace:-$WORK/trace}" \
		"$ASRFS" -f --state "$STATE" "${START[@]}" "$MNT" >>"$LOG" 2>&1 &
	ASRFS_PID=$!
	disown "$ASRFS_PID" # its SIGKILL is expected: no "Killed" line from bash
	wait_for 15 test -e "$MNT/version" || { not_ok "$tag: mount"; asrfs_kill; return; }
	for d in web01-os web01-data; do
		cp "$MNT/regions/$rreg/resource-groups/$rrg/disks/$d" "$WORK/before-$d"
	done
	touch "$WORK/arm"
	local t0; t0=$(date +%s%N)
	echo start >"$I/reprotect" 2>/dev/null
	if [ -n "$trace" ]; then
		wait_for 60 file_is "$I/state" Protected
		echo $((($(date +%s%N) - t0) / 1000000)) >"$trace.ms"
		rm -f "$WORK/arm"
		asrfs_stop
		restore "$base"
		return
	fi
	if [ "$mode" = TIME ]; then
		sleep "$(printf '%d.%03d' $((n / 1000)) $((n % 1000)))"
		kill -9 "$ASRFS_PID" 2>/dev/null
	fi
	await_death
	asrfs_start "${START[@]}" || { not_ok "$tag: remount"; return; }
	job=$(reprotect_job)
	[ -n "$job" ] && wait_for 60 job_done "$job"
	state=$(cat "$I/state")
	if [ -z "$job" ] || [ "$(cat "$(V)/jobs/$job/state")" = Failed ] || [ "$state" = FailoverCommitted ]; then
		# retryable: FailoverCommitted (killed before the job existed) or ReprotectFailed
		case "$state" in
		FailoverCommitted|ReprotectFailed) ;;
		*) not_ok "$tag: job ${job:-none} not Succeeded and the item is $state" ;;
		esac
		echo start >"$I/reprotect" 2>/dev/null
		wait_for 60 file_is "$I/state" Protected
		job=$(reprotect_job)
		wait_for 60 job_done "$job"
	fi
	[ "$(cat "$(V)/jobs/$job/state")" = Succeeded ] || not_ok "$tag: job $job $(cat "$(V)/jobs/$job/state"): $(cat "$(V)/jobs/$job/error")"
	file_is "$I/state" Protected || not_ok "$tag: item $(cat "$I/state"), want Protected"
	file_is "$I/direction" "$(dir_of "$base")" || not_ok "$tag: direction $(cat "$I/direction")"
	[ "$(readlink "$I/job")" = "../../jobs/$job" ] || not_ok "$tag: job link $(readlink "$I/job"), want $job"
	file_is "$MNT/regions/$rreg/resource-groups/$rrg/vms/web01/power" running ||
		not_ok "$tag: the running VM is $(cat "$MNT/regions/$rreg/resource-groups/$rrg/vms/web01/power" 2>&1)"
	for d in web01-os web01-data; do
		cmp -s "$MNT/regions/$rreg/resource-groups/$rrg/disks/$d" "$WORK/before-$d" ||
			not_ok "$tag: running disk $d changed or gone"
	done
	grep -Eq " (disk_delete|disk_rename) .*resource-groups/$rrg/disks/web01-(os|data)$" "$WORK/trace" &&
		not_ok "$tag: a running disk was deleted or renamed"
	[ -e "$MNT/regions/$treg/resource-groups/$trg/vms/web01" ] && not_ok "$tag: the old VM's shell is still in $treg/$trg"
	# every -ASRReplica is the item's
	local named have
	named=$(for d in web01-os web01-data; do echo "$treg/$trg/$(cat "$I/disks/$d/replica")"; done | sort)
	have=$(cd "$MNT/regions" && ls -d */resource-groups/*/disks/*-ASRReplica 2>/dev/null |
		sed 's|^\([^/]*\)/resource-groups/\([^/]*\)/disks/|\1/\2/|' | sort)
	[ "$have" = "$named" ] || not_ok "$tag: replicas [$(echo $have)], the item names [$(echo $named)]"
	# the next cycle: replica equals source
	local p; p=$(latest_point web01)
	fast_policy 1
	wait_new_point web01 "$p" 30 || not_ok "$tag: no cycle after the reprotect"
	fast_policy 3600
	for d in web01-os web01-data; do
		cmp -s "$MNT/regions/$rreg/resource-groups/$rrg/disks/$d" \
			"$MNT/regions/$treg/resource-groups/$trg/disks/$d-ASRReplica" ||
			not_ok "$tag: replica of $d differs from its source"
	done
	asrfs_stop
	[ "$FAILED" -eq "$fails" ] && ok "$tag"
}

# ---- the dry runs: how many writes each reprotect makes ----
run_point base1 AFTER 0 "$WORK/trace1"
run_point base2 AFTER 0 "$WORK/trace2"
W1=$(wc -l <"$WORK/trace1" 2>/dev/null || echo 0)
W2=$(wc -l <"$WORK/trace2" 2>/dev/null || echo 0)
check "reprotect makes durable writes ($W1)" test "$W1" -gt 5
check "failback's reprotect makes durable writes ($W2)" test "$W2" -gt 5

# sample W: a fixed set spread over 1..W (every N with ASRFS_CRASH_ALL=1)
sample() {
	local w=$1 n
	local some="1 2 $((w / 3)) $((w / 2)) $((2 * w / 3)) $((w - 3)) $((w - 2)) $((w - 1)) $w"
	if [ "$ALL" = 1 ]; then seq 1 $((w + 2)); return; fi # a run may make a write or two more
	[ "$AZ" = 1 ] && some="$((w / 2)) $((w - 1))" # each restore restarts Azurite
	for n in $some; do
		[ "$n" -ge 1 ] && [ "$n" -le "$w" ] && echo "$n"
	done | sort -nu
}
for n in $(sample "$W1"); do
	run_point base1 AFTER "$n"
	run_point base1 BEFORE "$n"
done
for n in $(sample "$W2"); do
	run_point base2 AFTER "$n"
	run_point base2 BEFORE "$n"
done
# and at random times (a fixed seed): N ms after the control write
# within the dry run's duration
T1=$(cat "$WORK/trace1.ms" 2>/dev/null || echo 1000)
T2=$(cat "$WORK/trace2.ms" 2>/dev/null || echo 1000)
echo "# the reprotects took $T1 ms and $T2 ms"
RANDOM=10
runs=$((AZ ? 1 : 3))
if [ "$ALL" = 1 ]; then runs=12; fi
for _ in $(seq 1 "$runs"); do
	run_point base1 TIME $((RANDOM % (T1 + 1)))
	run_point base2 TIME $((RANDOM % (T2 + 1)))
done
finish
