#!/bin/bash
# t_job_end.sh - a job's end and its item's outcome are seen together.
# A job's record is written with model_lock dropped (readers go on), so a
# reader must never find the job ended while its item still reads the
# operation's running state, still shows a job running, or (a disable)
# is still there; and a plan's `resume` that comes while the job writes
# the record of its wait is not lost.  An LD_PRELOAD shim makes every write of the
# vault's job records slow (1 s each), which holds that window open; the
# test reads the job's state and then the item's, in a tight loop, until
# the job has ended.  (t_io_errors once read a failed job's item as still
# FailoverInProgress this way.)
. "$(dirname "$0")/lib.sh"
SHIM=$BUILD/tests/eio.so
[ -f "$SHIM" ] || { not_ok "the shim $SHIM is built by make"; finish; }
export LD_PRELOAD=$SHIM ASRFS_EIO_PATH=/jobs/.tmp. ASRFS_EIO_SWITCH=$WORK/slow
export ASRFS_EIO_OPS=record ASRFS_EIO_DELAY_MS=1000
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
asrfs_start || exit 1
unset LD_PRELOAD
for vm in web01 web02; do
	create_vm westeurope rg1 $vm $vm-os:4M
	scribble "$(WD rg1 $vm-os)" 64 0
	protect rg1 $vm || { not_ok "protect $vm"; finish; }
done

# watch VM OP: wait for VM's OP job, then read the job's state, and after
# it what the item shows, until the job has ended; prints
# "<job state>|<item state>|<allowed-operations>|<job-running>" as read
# then ("gone" for an item no longer there).
watch() {
	local vm=$1 op=$2 I id="" s st al run _
	I=$(V)/items/$vm
	for _ in $(seq 1 3000); do
		if [ -z "$id" ]; then
			id=$(basename "$(readlink "$I/job")")
			case $id in *"-$op-$vm") ;; *) id=""; sleep 0.01; continue ;; esac
		fi
		s=$(cat "$(V)/jobs/$id/state" 2>/dev/null)
		st=$(cat "$I/state" 2>/dev/null || echo gone)
		al=$(tr '\n' ' ' <"$I/allowed-operations" 2>/dev/null)
		run=$(jq -r '."job-running"' "$I/status.json" 2>/dev/null)
		case $s in Succeeded | Failed | Cancelled) echo "$s|$st|$al|$run"; return 0 ;; esac
		sleep 0.01
	done
	echo "timeout|$st|$al|$run"
}
# ended GOT ITEM_STATE: the job Succeeded, the item reads ITEM_STATE, and
# it shows no job running (not just `cancel` allowed; job-running false).
ended() {
	local s st al run
	IFS='|' read -r s st al run <<<"$1"
	[ "$s" = Succeeded ] && [ "$st" = "$2" ] && [ "$al" != "cancel " ] && [ "$run" = false ]
}

I=$(V)/items/web01
touch "$WORK/slow"
echo latest >"$I/failover"
got=$(watch web01 failover)
check "failover's job Succeeded: the item reads FailedOver, no job running ($got)" ended "$got" FailedOver
echo start >"$I/commit"
got=$(watch web01 commit)
check "commit's job Succeeded: the item reads FailoverCommitted, no job running ($got)" ended "$got" FailoverCommitted
# A plan's manual action: `resume` written while the job's record of its
# wait is being written (status says waiting as soon as the job does) must
# wake it, not be lost before the job parks for an hour.
P=$(V)/recovery-plans/p
mkdir "$P" && mkdir "$P/groups/1"
echo "add web02" >"$P/groups/1/items"
echo "add manual look" >"$P/groups/1/pre-actions"
echo latest-processed >"$P/test-failover"
MANUAL="Group 1: pre-action 1: manual look"
task_is() { [ "$(awk -v n="$2" '{s=$1; $1=$2=$3=""; sub(/^ +/, ""); if ($0 == n) print s}' "$(V)/jobs/$1/tasks")" = "$3" ]; }
check "the plan's job reaches its manual action" wait_for 60 grep -q "^waiting: " "$P/status"
expect_errno "resume, as the wait's record is written" 0 "$P/resume" start
PJ=$(basename "$(readlink "$P/job")")
check "the resume woke the job: its manual action Succeeded" wait_for 30 task_is "$PJ" "$MANUAL" Succeeded
check "the plan's test failover Succeeded" wait_for 60 file_is "$(V)/jobs/$PJ/state" Succeeded
echo start >"$P/cleanup-test-failover"
check "its cleanup Succeeded" wait_for 60 sh -c "[ \"\$(basename \"\$(readlink '$P/job')\")\" != '$PJ' ] && grep -qx Succeeded '$(V)/jobs/'\"\$(basename \"\$(readlink '$P/job')\")\"/state"
check "rmdir the plan" rmdir "$P/groups/1" "$P"

echo start >"$(V)/items/web02/disable"
got=$(watch web02 disable-replication)
check "disable's job Succeeded: the item is gone ($got)" test "${got%%|*}|$(cut -d'|' -f2 <<<"$got")" = "Succeeded|gone"
rm -f "$WORK/slow"
finish
