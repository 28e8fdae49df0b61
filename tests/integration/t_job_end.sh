#!/bin/bash
# t_job_end.sh - a job's end and its item's outcome are seen together.
# A job's record is written with model_lock dropped (readers go on), so a
# reader must never find the job ended while its item still reads the
# operation's running state.  An LD_PRELOAD shim makes every write of the
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
create_vm westeurope rg1 web01 web01-os:4M
scribble "$(WD rg1 web01-os)" 64 0
protect rg1 web01 || { not_ok "protect"; finish; }
I=$(V)/items/web01

# watch OP DONE_STATE: wait for OP's job, then read the job's state and the
# item's until the job has ended; print what the item read when it had.
watch() {
	local op=$1 j s st="" _
	for _ in $(seq 1 3000); do
		j=$(readlink "$I/job")
		case $j in *"-$op-web01") ;; *) sleep 0.01; continue ;; esac
		s=$(cat "$I/job/state" 2>/dev/null)
		st=$(cat "$I/state" 2>/dev/null)
		case $s in Succeeded | Failed | Cancelled) echo "$s $st"; return 0 ;; esac
		sleep 0.01
	done
	echo "timeout $st"
}

touch "$WORK/slow"
echo latest >"$I/failover"
got=$(watch failover)
check "failover ends (read: $got)" test "${got%% *}" = Succeeded
check "when its job reads Succeeded, the item reads FailedOver (read: $got)" test "$got" = "Succeeded FailedOver"
echo start >"$I/commit"
got=$(watch commit)
check "commit ends (read: $got)" test "${got%% *}" = Succeeded
check "when its job reads Succeeded, the item reads FailoverCommitted (read: $got)" test "$got" = "Succeeded FailoverCommitted"
rm -f "$WORK/slow"
finish
