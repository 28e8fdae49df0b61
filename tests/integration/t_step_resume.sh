#!/bin/bash
# t_step_resume.sh - jobs are lists of steps, each recorded when done: for
# failover, commit, reprotect, enable replication and verify, asrfs dies
# (ASRFS_CRASH_AFTER_STEP, an _exit(137) as kill -9 leaves it) right after
# step n's record is written, and after a remount the job goes on at step
# n+1: the tasks done before keep their Succeeded state and times, no step
# before n+1 starts again (the daemon logs each step's start), the job ends
# Succeeded and the item's state and bytes are right.  VM k is the subject
# of kill point k of each operation (failover has 5 steps, commit 4,
# reprotect 6); VM enk of enable's kill point k (6 steps, the copy 4th);
# a verify of a VM of two disks, each replica with a page changed behind
# the daemon's back, is killed after its first disk and ends finding both
# pages: the first disk's finding kept from before the crash.
. "$(dirname "$0")/lib.sh"

NVM=6
JOBS="$STATE/regions/northeurope/vaults/asr-vault/jobs"
asrfs_start || { not_ok "mount"; finish; }
fast_policy 2
for k in $(seq 1 $NVM); do
	create_vm westeurope rg1 "web$k" "web$k-os:8M" network=vnet1
	scribble "$(WD rg1 "web$k-os")" 512 0
done
for k in $(seq 1 $NVM); do
	check "web$k protected" protect rg1 "web$k"
done

# task_lines JOB N: state, started and ended of the job's first N tasks.
task_lines() { head -n "$2" "$(V)/jobs/$1/tasks" | cut -d' ' -f1-3; }
# record_lines JOB N: the same, from the job's record on the medium (as
# the tree shows times: UTC, ISO 8601).
record_lines() {
	jq -r --argjson n "$2" '.tasks[:$n][] | "\(.state) \(.started | todate) \(.ended | todate)"' \
		"$JOBS/$1.json"
}
started_count() { grep -c "job $1: step $2 starts" "$LOG"; }

# crash_at OP VM N LINE [CONTROL]: on VM, OP with LINE (written to CONTROL,
# by default the item's OP), asrfs dying after step N; remount and check
# the resume.  Sets JOB.
crash_at() {
	local op=$1 vm=$2 n=$3 line=$4 ctl=${5:-$(V)/items/$2/$1} rc rec want s total
	asrfs_stop
	ASRFS_CRASH_AFTER_STEP="$op:$n" asrfs_start || { not_ok "$op $vm: mount"; return 1; }
	# the daemon may die before the write's reply: the job is found on disk
	echo "$line" >"$ctl" 2>/dev/null
	if wait_for 60 sh -c "! kill -0 $ASRFS_PID 2>/dev/null"; then
		wait "$ASRFS_PID" 2>/dev/null
		rc=$?
	else # not killed by the step: the test goes on without hanging
		kill -9 "$ASRFS_PID"
		wait "$ASRFS_PID" 2>/dev/null
		rc="none: still running after 60 s"
	fi
	ASRFS_PID=
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	check "$op $vm: asrfs died after step $n (status $rc)" test "$rc" = 137
	rec=$(find "$JOBS" -name "*-$op-$vm.json" | sort | tail -n 1)
	JOB=$(basename "$rec" .json)
	check "$op $vm: its job has a record" test -n "$JOB"
	check "$op $vm: the record says $n steps done" test "$(jq -r .step "$rec")" = "$n"
	check "$op $vm: the record's job is InProgress" test "$(jq -r .state "$rec")" = InProgress
	want=$(record_lines "$JOB" "$n")
	check "$op $vm: the record's first $n tasks Succeeded" \
		test "$(echo "$want" | grep -c '^Succeeded ')" -eq "$n"
	sleep 1.1 # a task started again would show a later time
	asrfs_start || { not_ok "$op $vm: remount"; return 1; }
	check "$op $vm: resumed with $n steps done" \
		wait_for 10 grep -q "job $JOB resumes from its checkpoint (.*steps done $n)" "$LOG"
	check "$op $vm: job Succeeded" wait_for 60 file_is "$(V)/jobs/$JOB/state" Succeeded
	check "$op $vm: tasks 1..$n kept state and times" test "$(task_lines "$JOB" "$n")" = "$want"
	check "$op $vm: every task Succeeded" \
		test "$(grep -c '^Succeeded ' "$(V)/jobs/$JOB/tasks")" -eq "$(wc -l <"$(V)/jobs/$JOB/tasks")"
	for s in $(seq 1 "$n"); do
		check "$op $vm: step $s ran once" test "$(started_count "$JOB" "$s")" -eq 1
	done
	total=$(wc -l <"$(V)/jobs/$JOB/tasks")
	for s in $(seq $((n + 1)) "$total"); do
		check "$op $vm: step $s ran after the remount" test "$(started_count "$JOB" "$s")" -ge 1
	done
}

for k in $(seq 1 $NVM); do
	I="$(V)/items/web$k"
	SRC=$(WD rg1 "web$k-os")
	NDISK=$(ND rg1-asr "web$k-os")

	# --- failover (5 steps): planned, so the replica equals the source
	scribble "$SRC" 64 100
	cp "$SRC" "$WORK/src$k"
	if [ "$k" -le 5 ]; then
		crash_at failover "web$k" "$k" "latest shutdown=yes"
	else
		echo "latest shutdown=yes" >"$I/failover"
	fi
	check "failover web$k: FailedOver" wait_for 60 file_is "$I/state" FailedOver
	check "failover web$k: the failed-over disk = the source at failover" cmp -s "$WORK/src$k" "$NDISK"
	check "failover web$k: source VM stopped" \
		file_is "$MNT/regions/westeurope/resource-groups/rg1/vms/web$k/power" stopped

	# --- commit (4 steps)
	if [ "$k" -le 4 ]; then
		crash_at commit "web$k" "$k" start
	else
		echo start >"$I/commit"
	fi
	check "commit web$k: FailoverCommitted" wait_for 60 file_is "$I/state" FailoverCommitted
	check "commit web$k: the failed-over disk is untouched" cmp -s "$WORK/src$k" "$NDISK"
	check "commit web$k: no recovery point left" test -z "$(entries "$I/recovery-points")"

	# --- reprotect (6 steps): the running VM changes first
	scribble "$NDISK" 128 300
	cp "$NDISK" "$WORK/run$k"
	crash_at reprotect "web$k" "$k" start
	check "reprotect web$k: Protected" wait_for 60 file_is "$I/state" Protected
	check "reprotect web$k: direction reversed" file_is "$I/direction" "northeurope -> westeurope"
	check "reprotect web$k: the replica = the running disk" \
		cmp -s "$(WD rg1 "web$k-os-ASRReplica")" "$WORK/run$k"
	check "reprotect web$k: the running disk is untouched" cmp -s "$NDISK" "$WORK/run$k"
done

# --- enable replication (6 steps), two disks: the replicas equal the sources
for k in 1 2 3 4 5 6; do
	create_vm westeurope rg1 "en$k" "en$k-os:8M,en$k-data:4M" network=vnet1
	scribble "$(WD rg1 "en$k-os")" 256 0
	scribble "$(WD rg1 "en$k-data")" 64 512
	crash_at enable-replication "en$k" "$k" "vm=rg1/en$k source=westeurope target=northeurope" \
		"$(V)/enable-replication"
	I="$(V)/items/en$k"
	check "enable-replication en$k: Protected" wait_for 60 file_is "$I/state" Protected
	for d in os data; do
		check "enable-replication en$k: the replica of en$k-$d = its source" \
			cmp -s "$(WD rg1 "en$k-$d")" "$(ND rg1-asr "en$k-$d-ASRReplica")"
	done
	check "enable-replication en$k: a recovery point" test -n "$(latest_point "en$k")"
done

# --- verify (the check, then a step per disk) of an item of two disks
create_vm westeurope rg1 vf "vf-os:8M,vf-data:8M" network=vnet1
scribble "$(WD rg1 vf-os)" 128 0
scribble "$(WD rg1 vf-data)" 128 256
check "vf protected" protect rg1 vf
REPD="$STATE/regions/northeurope/resource-groups/rg1-asr/disks"
for d in os data; do # a page of each replica, behind the daemon's back
	dd if=/dev/urandom of="$REPD/vf-$d-ASRReplica" bs=4k count=1 seek=5 conv=notrunc status=none
done
crash_at verify vf 2 start
I="$(V)/items/vf"
check "verify vf: 8192 mismatched bytes, the first disk's 4096 kept from before the crash" \
	file_is "$(V)/jobs/$JOB/mismatched-bytes" 8192
check "verify vf: each disk's task names its mismatch" test "$(grep -c 'Verify disk vf-[a-z]*: 4096 bytes mismatched$' \
	"$(V)/jobs/$JOB/tasks")" -eq 2
check "verify vf: bytes-compared is both disks once" file_is "$(V)/jobs/$JOB/bytes-compared" $((16 << 20))
check "verify vf: health Warning" file_is "$I/health" Warning
check "verify vf: the item stays Protected" file_is "$I/state" Protected
finish
