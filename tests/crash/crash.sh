#!/bin/bash
# crash.sh - the crash harness (issue 10, SPEC section 8): kill asrfs with
# SIGKILL around each durable write of an operation, remount, and check that
# the operation's job resumed (or rolled back) and that no byte was lost.
#
#   tests/crash/crash.sh [--long] [--seed N] [--random N] [OP...]
#
# OP is enable, failover, commit, reprotect, failback, resync, disable,
# cycle, plan-failover, group-cycle or enable-exclude (default: all).  For each operation the harness prepares the state
# the operation starts from once, keeps a copy of the state directory, and
# then for every kill point starts from that copy:
#
#   1. a traced dry run (ASRFS_CRASH_TRACE) counts W, the operation's
#      durable writes between the control write and the job's end;
#   2. kill points: ASRFS_CRASH_AFTER=N and ASRFS_CRASH_BEFORE=N for every N
#      in 1..W with --long, a fixed sample otherwise; then --random kills
#      (default 2, 8 with --long) at times drawn with a fixed seed over the
#      dry run's duration;
#   3. each kill point: take sha256 of every recovery point's images and of
#      the disks that must not change, arm the counter, write the control,
#      wait for the daemon to die (or the job to end when N > W), remount
#      without the crash environment, wait for the job to end, and check:
#      - the job Succeeded, or ended Failed/Cancelled with the item in a
#        state where the same control is accepted again, and a retry then
#        Succeeds (never stuck); or no job exists and the item is as before;
#      - the item is not in a transitional state with no running job, and
#        its `job` link names the operation's job;
#      - the source's disks never changed; after success the replicas equal
#        the source as of the newest point and a failed-over VM's disks equal
#        the point it was made from, and its source VM still runs (the
#        control asked no shutdown);
#      - every earlier point's images read the same (commit and disable
#        delete points by design);
#      - no `-ASRReplica` disk exists that no item names.
#
# Issue 14's operations, each over more than one item or disk:
#   plan-failover  web01 (boot group 1, a pre-action script that exits 0) and
#                  app01 (group 2) in recovery plan shop, `latest shutdown=no`
#                  on the plan: the plan's job and its `job` link are checked
#                  as an item's are, every member as above;
#   group-cycle    web01 and app01 in replication group g1, a group cycle with
#                  VM writes on both: each member's points stay readable, every
#                  multi-vm point from before the crash is still on every
#                  member with its bytes, both members get a new point (a point
#                  only some members hold after a crash between their commits
#                  is allowed: docs/BEHAVIOUR.md, "Replication groups");
#   enable-exclude an enable of a three-disk VM with exclude-disks=web01-temp:
#                  the enable checks, and the excluded disk shows `excluded`
#                  with no replica and no image in the point.
# Their sampled set is smaller (they take longer): one kill after the middle
# write, one before the last, one random kill; --long runs every write.
#
# Each kill point prints one "ok - " or "not ok - " line (tests/run.sh counts
# them); the harness ends with a table: operation, kill points tried, passed.
#
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../integration/lib.sh"

LONG=0
SEED=${CRASH_SEED:-20261129}
NRANDOM=
OPS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--long) LONG=1 ;;
	--seed) SEED=$2; shift ;;
	--random) NRANDOM=$2; shift ;;
	*) OPS+=("$1") ;;
	esac
	shift
done
[ ${#OPS[@]} -gt 0 ] || OPS=(enable failover commit reprotect failback resync disable cycle
	plan-failover group-cycle enable-exclude)
[ -n "$NRANDOM" ] || NRANDOM=$((LONG ? 8 : 2))
RANDOM=$SEED

ARM="$WORK/arm"
TRACE="$WORK/trace"
I="$(V)/items/web01"
JOBS="$(V)/jobs"
SRCDISK=$(WD rg1 web01-os)
SRCDATA=$(WD rg1 web01-data)
NVMDISK=$(ND rg1-asr web01-os)
NVMDATA=$(ND rg1-asr web01-data)
SRCTEMP=$(WD rg1 web01-temp)
SRCAPP=$(WD rg1 app01-os)
P="$(V)/recovery-plans/shop"
TABLE=()

say() { echo "# $*"; }

# ---- the daemon --------------------------------------------------------

# start_env VAR=VALUE...: mount with the crash variables set for this daemon only.
start_env() {
	env "$@" "$ASRFS" -f --state "$STATE" "$MNT" >>"$LOG" 2>&1 &
	ASRFS_PID=$!
	wait_for 15 test -e "$MNT/version"
}

# daemon_gone: the daemon died (or was killed): reap it, clear its stale mount.
daemon_gone() {
	wait "$ASRFS_PID" 2>/dev/null
	ASRFS_PID=
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	return 0
}

alive() { [ -n "$ASRFS_PID" ] && kill -0 "$ASRFS_PID" 2>/dev/null; }

# restore NAME: the state directory as saved by `save NAME`.
save() { rm -rf "$WORK/base-$1"; cp -a --sparse=always "$STATE" "$WORK/base-$1"; }
restore() { rm -rf "$STATE"; cp -a --sparse=always "$WORK/base-$1" "$STATE"; }

# ---- what the tree says --------------------------------------------------

job_state() { cat "$JOBS/$1/state" 2>/dev/null; }
job_ended() { case "$(job_state "$1")" in Succeeded | Failed | Cancelled) return 0 ;; esac; return 1; }
# newest_job SLUG: the id of the newest job whose id ends in -SLUG, or empty.
newest_job() { entries "$JOBS" 2>/dev/null | grep -- "-$1\$" | sort | tail -1; }
item_job() { local l; l=$(readlink "$I/job" 2>/dev/null) && echo "${l##*/}"; }

transitional() {
	case "$1" in
	*InProgress | EnablingProtection | DisablingProtection) return 0 ;;
	esac
	return 1
}

# points_sums: "<item>/<point>/<disk> <sha256>" for every image of every
# point of every item of the vault.
points_sums() {
	local it p d
	for it in "$(V)"/items/*; do
		[ -d "$it" ] || continue
		for p in $(entries "$it/recovery-points" 2>/dev/null | grep -v '^latest'); do
			for d in "$it/recovery-points/$p/disks/"*; do
				[ -e "$d" ] || continue
				echo "${it##*/}/$p/${d##*/} $(sha256sum <"$d" | cut -c1-64)"
			done
		done
	done
}

sums() { local f; for f in "$@"; do echo "$f $(sha256sum <"$f" 2>/dev/null | cut -c1-64)"; done; }
# fixed_sums OP: sums of the disks OP must not change.
fixed_sums() { local -a f; read -r -a f <<<"$(op_fixed "$1")"; sums "${f[@]}"; }

# orphans: -ASRReplica disks in any region that no item's disks name.
orphans() {
	local named="" it d f
	for it in "$MNT"/vaults/*/items/*; do
		[ -d "$it" ] || continue
		for d in "$it"/disks/*; do
			[ -d "$d" ] || continue
			named="$named $(cat "$d/replica-region")/$(cat "$it/settings/target-resource-group")/$(cat "$d/replica")"
		done
	done
	for f in "$MNT"/regions/*/resource-groups/*/disks/*-ASRReplica; do
		[ -e "$f" ] || continue
		local r=${f#"$MNT"/regions/} key
		key="${r%%/*}/$(echo "$r" | cut -d/ -f3)/${f##*/}"
		case " $named " in *" $key "*) ;; *) echo "$key" ;; esac
	done
}

# ---- set-ups: each leaves the daemon mounted in the state an operation starts
# from.  Each is kept (save) and later set-ups start from it (from).

# from KIND: mount the saved state KIND, making it first if needed.
from() {
	if [ ! -d "$WORK/base-$1" ]; then
		"setup_$1" || return 1
		asrfs_stop >/dev/null 2>&1
		save "$1"
	fi
	restore "$1" && asrfs_start
}

vm_with_data() {
	create_vm westeurope rg1 web01 "web01-os:4M,web01-data:2M" network=vnet1 || return 1
	scribble "$SRCDISK" 1024 0 && scribble "$SRCDATA" 300 100
}

setup_enable() { asrfs_start && fast_policy 3600 && vm_with_data; }

# Protected with two points: the first from the enable, one from a cycle.
setup_protected() {
	from enable && protect rg1 web01 || return 1
	local p; p=$(latest_point web01)
	scribble "$SRCDISK" 16 40
	fast_policy 1
	wait_new_point web01 "$p" 30 || return 1
	fast_policy 3600
	sleep 1.2 # a cycle that started before the change ends
}

setup_failedover() {
	from protected || return 1
	echo "latest" >"$I/failover" && wait_for 60 file_is "$I/state" FailedOver
}

setup_committed() {
	from failedover || return 1
	echo start >"$I/commit" && wait_for 60 file_is "$I/state" FailoverCommitted
	scribble "$NVMDISK" 8 20 # the VM ran in northeurope meanwhile
}

setup_reprotected() {
	from committed || return 1
	echo start >"$I/reprotect" && wait_for 60 file_is "$I/state" Protected
}

# web01 with a third disk, for an enable that excludes it.
setup_enable3() {
	asrfs_start && fast_policy 3600 &&
		create_vm westeurope rg1 web01 "web01-os:4M,web01-data:2M,web01-temp:1M" network=vnet1 || return 1
	scribble "$SRCDISK" 1024 0 && scribble "$SRCDATA" 300 100 && scribble "$SRCTEMP" 64 0
}

# web01 (group 1, after a script that exits 0) and app01 (group 2) in plan shop.
setup_plan() {
	from protected || return 1
	create_vm westeurope rg1 app01 "app01-os:2M" network=vnet1 && scribble "$SRCAPP" 200 0 &&
		protect rg1 app01 || return 1
	printf '#!/bin/sh\nexit 0\n' >"$WORK/pre-ok.sh" && chmod +x "$WORK/pre-ok.sh" &&
		mkdir "$P" "$P/groups/1" "$P/groups/2" &&
		echo "add web01" >"$P/groups/1/items" && echo "add app01" >"$P/groups/2/items" &&
		echo "add script $WORK/pre-ok.sh" >"$P/groups/1/pre-actions"
}

# multi_points ITEM: the item's points marked multi-vm.
multi_points() {
	local p
	for p in $(entries "$(V)/items/$1/recovery-points" 2>/dev/null | grep -v '^latest'); do
		grep -q multi-vm "$(V)/items/$1/recovery-points/$p/type" 2>/dev/null && echo "$p"
	done
}

# web01 and app01 in replication group g1 with a multi-vm point.
setup_group() {
	asrfs_start && fast_policy 2 && vm_with_data &&
		create_vm westeurope rg1 app01 "app01-os:2M" network=vnet1 && scribble "$SRCAPP" 200 0 || return 1
	protect rg1 web01 replication-group=g1 && protect rg1 app01 replication-group=g1 || return 1
	wait_for 30 sh -c "grep -q multi-vm '$(V)'/items/app01/recovery-points/*/type 2>/dev/null" || return 1
	fast_policy 3600
	sleep 2.5 # a cycle that started before the change ends
}

# ---- operations: the control, what must hold after success ---------------

# op_control OP: "file line" of the control write.
op_control() {
	case "$1" in
	enable) echo "$(V)/enable-replication|vm=rg1/web01 source=westeurope target=northeurope" ;;
	failover | failback) echo "$I/failover|latest" ;;
	commit) echo "$I/commit|start" ;;
	reprotect) echo "$I/reprotect|start" ;;
	resync) echo "$I/resync|start" ;;
	disable) echo "$I/disable|start" ;;
	cycle | group-cycle) echo "$(V)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds|1" ;;
	plan-failover) echo "$P/failover|latest shutdown=no" ;;
	enable-exclude) echo "$(V)/enable-replication|vm=rg1/web01 source=westeurope target=northeurope exclude-disks=web01-temp" ;;
	esac
}
# op_slug OP: how the operation's job id ends.
op_slug() {
	case "$1" in
	enable | enable-exclude) echo enable-replication-web01 ;;
	failover | failback) echo failover-web01 ;;
	commit) echo commit-web01 ;;
	reprotect) echo reprotect-web01 ;;
	resync) echo resynchronize-web01 ;;
	disable) echo disable-replication-web01 ;;
	plan-failover) echo failover-plan-shop ;;
	esac
}
# op_items OP: the items the operation works on.
op_items() { case "$1" in plan-failover | group-cycle) echo web01 app01 ;; *) echo web01 ;; esac; }
is_cycle() { case "$1" in cycle | group-cycle) return 0 ;; esac; return 1; }
# op_base OP: the saved state the operation starts from.
op_base() {
	case "$1" in
	enable) echo enable ;;
	enable-exclude) echo enable3 ;;
	plan-failover) echo plan ;;
	group-cycle) echo group ;;
	failover | resync | disable | cycle) echo protected ;;
	commit) echo failedover ;;
	reprotect) echo committed ;;
	failback) echo reprotected ;;
	esac
}
op_done_state() {
	case "$1" in
	enable | reprotect | resync | cycle | group-cycle | enable-exclude) echo Protected ;;
	failover | failback | plan-failover) echo FailedOver ;;
	commit) echo FailoverCommitted ;;
	disable) echo "" ;;
	esac
}
# op_fixed OP: the disks the operation must never change.
op_fixed() {
	case "$1" in
	enable | failover | resync | disable) echo "$SRCDISK $SRCDATA" ;;
	enable-exclude) echo "$SRCDISK $SRCDATA $SRCTEMP" ;;
	plan-failover) echo "$SRCDISK $SRCDATA $SRCAPP" ;; # shutdown=no: nothing writes
	group-cycle) echo "" ;;
	commit) echo "$SRCDISK $SRCDATA $NVMDISK $NVMDATA" ;;
	reprotect | failback) echo "$NVMDISK $NVMDATA" ;; # reprotect turns the old primary's disks into replicas
	cycle) echo "" ;;
	esac
}
# Points the operation deletes by design.
op_keeps_points() { case "$1" in commit | disable | reprotect) return 1 ;; esac; return 0; }

# replicas_equal SRC...: each source disk equals its replica and the newest point's image.
replicas_equal() {
	local d name rep rr rg p
	p=$(latest_point web01)
	[ -n "$p" ] || { echo "no newest point"; return 1; }
	for d in "$I"/disks/*; do
		name=${d##*/}
		[ "$(cat "$d/state")" != excluded ] || continue
		rep=$(cat "$d/replica") rr=$(cat "$d/replica-region") rg=$(cat "$I/settings/target-resource-group")
		local src
		src=$(source_disk "$name")
		cmp -s "$src" "$MNT/regions/$rr/resource-groups/$rg/disks/$rep" || { echo "replica $rep differs from $src"; return 1; }
		cmp -s "$src" "$I/recovery-points/$p/disks/$name" || { echo "point $p of $name differs from $src"; return 1; }
	done
}
# source_disk NAME: where the protected VM's disk lives now.
source_disk() {
	local a; a=$(cat "$I/active-region")
	if [ "$a" = westeurope ]; then WD rg1 "$1"; else ND rg1-asr "$1"; fi
}

# after_success OP: what success means beyond the state.
after_success() {
	local p d
	case "$1" in
	enable | reprotect | resync) replicas_equal ;;
	enable-exclude)
		replicas_equal || return 1
		d="$I/disks/web01-temp" p=$(latest_point web01)
		[ "$(cat "$d/state")" = excluded ] || { echo "web01-temp is $(cat "$d/state"), not excluded"; return 1; }
		[ -z "$(cat "$d/replica")$(cat "$d/replica-region")" ] || { echo "web01-temp has a replica"; return 1; }
		[ ! -e "$I/recovery-points/$p/disks/web01-temp" ] || { echo "point $p holds web01-temp"; return 1; } ;;
	plan-failover)
		local it
		for it in $(op_items "$1"); do
			p=$(latest_point "$it")
			for d in "$(V)/items/$it/disks/"*; do
				d=${d##*/}
				cmp -s "$(ND rg1-asr "$d")" "$(V)/items/$it/recovery-points/$p/disks/$d" ||
					{ echo "failed-over $d differs from $it's point $p"; return 1; }
			done
		done ;;
	group-cycle)
		local it q
		for it in $(op_items "$1"); do
			q=$(latest_point "$it")
			wait_new_point "$it" "$q" 30 || { echo "no new point of $it after the remount"; return 1; }
			for q in $(entries "$(V)/items/$it/recovery-points" | grep -v '^latest'); do
				for d in "$(V)/items/$it/recovery-points/$q/disks/"*; do
					cat "$d" >/dev/null || { echo "$it's point $q: ${d##*/} unreadable"; return 1; }
				done
			done
			# bytes: check_outcome compares every earlier point's images
			for q in $MULTI_BEFORE; do
				grep -q multi-vm "$(V)/items/$it/recovery-points/$q/type" 2>/dev/null ||
					{ echo "multi-vm point $q is not on $it as such"; return 1; }
			done
		done ;;
	failover | failback)
		p=$(latest_point web01)
		for d in web01-os web01-data; do
			local vm
			if [ "$1" = failover ]; then vm=$(ND rg1-asr $d); else vm=$(WD rg1 $d); fi
			cmp -s "$vm" "$I/recovery-points/$p/disks/$d" || { echo "failed-over $d differs from point $p"; return 1; }
		done
		# `latest` asks for no shutdown: a resumed job must not do one
		if [ "$1" = failover ]; then d="$(R westeurope)/resource-groups/rg1"; else d="$(R northeurope)/resource-groups/rg1-asr"; fi
		[ "$(cat "$d/vms/web01/power")" = running ] ||
			{ echo "the source VM was shut down, which the control did not ask"; return 1; } ;;
	commit) [ -z "$(entries "$I/recovery-points" | grep -v '^latest')" ] || { echo "points left after commit"; return 1; } ;;
	disable)
		[ ! -e "$I" ] || { echo "item still there"; return 1; } ;;
	cycle)
		# writes stopped with the crash: the next points catch up with the source
		local q; q=$(latest_point web01)
		wait_new_point web01 "$q" 30 || { echo "no new point after the remount"; return 1; }
		q=$(latest_point web01)
		wait_new_point web01 "$q" 30 || { echo "no second point"; return 1; }
		replicas_equal ;;
	esac
}

# ---- one kill point ------------------------------------------------------

# writer DISK...: VM writes through the mount while a cycle runs.
WRITER=
writer_start() {
	( while :; do for d in "$@"; do scribble "$d" 4 $((RANDOM % 400)) 2>/dev/null || exit 0; done; sleep 0.05; done ) &
	WRITER=$!
}
writer_stop() { [ -n "$WRITER" ] && { kill "$WRITER" 2>/dev/null; wait "$WRITER" 2>/dev/null; }; WRITER=; }

# run_point OP LABEL ENV...: one kill point; 0 when every check held.
# ENV empty and CRASH_DELAY set: a kill -9 after that many seconds.
run_point() {
	local op=$1 label=$2; shift 2
	local ctl file line slug before_jobs job st fixed_sums pts_before why=""
	restore "$(op_base "$op")"
	rm -f "$ARM" "$TRACE"
	start_env "$@" || { echo "mount failed"; return 1; }
	ctl=$(op_control "$op") file=${ctl%%|*} line=${ctl#*|}
	slug=$(op_slug "$op")
	before_jobs=$(ls "$JOBS" | sort | tail -1)
	local before_state; before_state=$(item_states "$op")
	fixed_sums=$(fixed_sums "$op")
	pts_before=$(points_sums)
	MULTI_BEFORE=$(multi_points web01)
	local lastpt; lastpt=$(latest_point web01 2>/dev/null)
	[ "$op" = cycle ] && writer_start "$SRCDISK"
	[ "$op" = group-cycle ] && writer_start "$SRCDISK" "$SRCAPP"
	touch "$ARM"
	local t0=$SECONDS
	echo "$line" >"$file" 2>/dev/null
	if [ -n "${CRASH_DELAY:-}" ]; then
		sleep "$CRASH_DELAY"
		kill -9 "$ASRFS_PID" 2>/dev/null
	fi
	# wait for the death, or for the operation's end
	local end=$((SECONDS + 90))
	while alive && [ $SECONDS -le $end ]; do
		if is_cycle "$op"; then
			[ "$(latest_point web01 2>/dev/null)" != "$lastpt" ] && break
		else
			job=$(newest_job "$slug")
			[ -n "$job" ] && [ "$job" '>' "$before_jobs" ] && job_ended "$job" &&
				! transitional "$(cat "$I/state" 2>/dev/null)" && break
		fi
		sleep 0.1
	done
	rm -f "$ARM"
	writer_stop
	echo $((SECONDS - t0)) >"$WORK/duration"
	if alive; then
		asrfs_stop >/dev/null 2>&1
	else
		daemon_gone
	fi
	# remount, no crash environment
	asrfs_start || { echo "remount failed"; return 1; }
	check_outcome "$op" "$slug" "$before_jobs" "$before_state" "$fixed_sums" "$pts_before" || why=1
	if [ -n "$why" ] && [ -n "${CRASH_KEEP:-}" ]; then
		rm -rf "$CRASH_KEEP/$op-$label"; mkdir -p "$CRASH_KEEP"
		cp -a "$STATE" "$CRASH_KEEP/$op-$label"; cp "$LOG" "$CRASH_KEEP/$op-$label/asrfs.log"
	fi
	asrfs_stop >/dev/null 2>&1
	[ -z "$why" ]
}

# item_states OP: the states of the operation's items, in op_items order.
item_states() { local it; for it in $(op_items "$1"); do printf '%s ' "$(cat "$(V)/items/$it/state" 2>/dev/null)"; done; }
# done_states OP: item_states after the operation succeeded.
done_states() { local it; for it in $(op_items "$1"); do printf '%s ' "$(op_done_state "$1")"; done; }
# stuck_items OP WHY: fails (saying so) when an item is in a transitional
# state while its job is not running.
stuck_items() {
	local it st
	for it in $(op_items "$1"); do
		st=$(cat "$(V)/items/$it/state" 2>/dev/null)
		transitional "$st" && [ "$(cat "$(V)/items/$it/job/state" 2>/dev/null)" != InProgress ] &&
			{ echo "$it $st with no running job ($2)"; return 1; }
	done
	return 0
}

# check_outcome OP SLUG JOBS_BEFORE STATE_BEFORE FIXED_SUMS POINT_SUMS: prints why not.
check_outcome() {
	local op=$1 slug=$2 before_jobs=$3 before_state=$4 fixed_sums=$5 pts_before=$6
	local job st state link
	job=$(newest_job "$slug")
	[ -n "$job" ] && ! [ "$job" '>' "$before_jobs" ] && job=
	if is_cycle "$op"; then
		local it
		for it in $(op_items "$op"); do
			wait_for 30 file_is "$(V)/items/$it/state" Protected || { echo "$it $(cat "$(V)/items/$it/state") after a cycle"; return 1; }
		done
		fast_policy 1 # the crash may have come before the policy was saved
		after_success "$op" || return 1
	elif [ -n "$job" ]; then
		wait_for 90 job_ended "$job" || { echo "job $job still $(job_state "$job") after 90 s"; return 1; }
		st=$(job_state "$job")
		sleep 0.3
		if [ -e "$I" ]; then
			stuck_items "$op" "job $job $st" || return 1
			if [ "$op" = plan-failover ]; then
				link=$(readlink "$P/job" 2>/dev/null); link=${link##*/}
			else
				link=$(item_job)
			fi
			[ "$link" = "$job" ] || { echo "the job link is '$link', not $job"; return 1; }
		fi
		case "$st" in
		Succeeded)
			if [ -n "$(op_done_state "$op")" ]; then
				state=$(item_states "$op")
				[ "$state" = "$(done_states "$op")" ] || { echo "job Succeeded, items $state"; return 1; }
			fi ;;
		Failed | Cancelled)
			# rolled back: the same control is accepted again, and it works
			local ctl file line
			ctl=$(op_control "$op") file=${ctl%%|*} line=${ctl#*|}
			echo "$line" >"$file" 2>/dev/null || { echo "job $st ($(cat "$JOBS/$job/error")), retry refused: $(cat "$I/error" 2>/dev/null)"; return 1; }
			local retry; wait_for 10 sh -c "ls '$JOBS' | grep -q -- '-$slug\$'"
			retry=$(newest_job "$slug")
			wait_for 90 job_ended "$retry"
			[ "$(job_state "$retry")" = Succeeded ] || { echo "job $st, the retry $retry ended $(job_state "$retry")"; return 1; }
			[ "$op" = disable ] || [ "$(item_states "$op")" = "$(done_states "$op")" ] || { echo "retry left $(item_states "$op")"; return 1; } ;;
		*) echo "job $job ended $st"; return 1 ;;
		esac
	else
		# no job: nothing happened (enable: no item, or the state before)
		if [ "$op" = enable ] || [ "$op" = enable-exclude ]; then
			[ ! -e "$I" ] || { echo "item $(cat "$I/state") with no enable job"; return 1; }
		else
			state=$(item_states "$op")
			[ "$state" = "$before_state" ] || { echo "no job, items $state (was $before_state)"; return 1; }
			stuck_items "$op" "no job" || return 1
		fi
	fi
	if [ -n "$job" ] && [ "$(job_state "$job")" = Succeeded ]; then
		after_success "$op" || return 1
	fi
	# the disks that never change
	local now_sums; now_sums=$(fixed_sums "$op")
	[ "$now_sums" = "$fixed_sums" ] || { echo "a disk that must not change did: $(diff <(echo "$fixed_sums") <(echo "$now_sums") | grep '^>' | head -2)"; return 1; }
	# every earlier point reads the same
	if op_keeps_points "$op" || { [ -n "$job" ] && [ "$(job_state "$job")" != Succeeded ]; }; then
		local p l now
		now=$(points_sums)
		while read -r p l; do
			[ -n "$p" ] || continue
			if [ "$op" = commit ] || [ "$op" = disable ]; then
				echo "$now" | grep -q "^$p " || continue # deleted: by design
			fi
			echo "$now" | grep -qx "$p $l" || { echo "point image $p changed or vanished"; return 1; }
		done <<<"$pts_before"
	fi
	local o; o=$(orphans)
	[ -z "$o" ] || { echo "orphan replica disk(s): $o"; return 1; }
	return 0
}

# ---- per operation -------------------------------------------------------

# sample W: the kill points of the short mode, a fixed spread over 1..W,
# and 3: a job's submission is three writes (the vault's counter, the job,
# the item that links to it), and a job resumed from there once ran a task
# its control had not asked for (a failover's shutdown).
sample() {
	local w=$1
	[ "$w" -ge 1 ] || return 0
	printf '%s\n' 1 3 $(((w + 1) / 2)) "$w" | awk -v w="$w" '$1 <= w' | sort -nu
}

# small_sample OP: issue 14's operations, slower, get a smaller sampled set.
small_sample() { case "$1" in plan-failover | group-cycle | enable-exclude) return 0 ;; esac; return 1; }

# report OP WHAT OUT: one line for one kill point; counts it.
report() {
	local op=$1 what=$2 out=$3
	tried=$((tried + 1))
	if [ -z "$out" ]; then
		passed=$((passed + 1)); ok "$op: $what"
	else
		not_ok "$op: $what: $(echo "$out" | tail -1)"
	fi
}

run_op() {
	local op=$1 tried=0 passed=0 w n mode out
	say "== $op: set-up"
	rm -rf "$STATE"; mkdir -p "$STATE"
	if ! from "$(op_base "$op")"; then
		not_ok "$op: set-up"; tail -5 "$LOG"; asrfs_stop >/dev/null 2>&1
		TABLE+=("$op 0 0"); return
	fi
	asrfs_stop >/dev/null 2>&1
	# the traced dry run
	out=$(run_point "$op" dry ASRFS_CRASH_ARM="$ARM" ASRFS_CRASH_TRACE="$TRACE")
	w=$(cat "$TRACE" 2>/dev/null | wc -l)
	local dur; dur=$(cat "$WORK/duration")
	is_cycle "$op" || [ "$w" -gt 0 ] || { not_ok "$op: dry run made no counted write"; TABLE+=("$op 0 0"); return; }
	if [ -z "$out" ]; then ok "$op: dry run ($w durable writes)"; else not_ok "$op: dry run: $out"; fi
	say "$op makes $w durable writes:"; sed 's/^/#   /' "$TRACE" 2>/dev/null
	local points after before nrandom=$NRANDOM
	if [ "$LONG" = 1 ]; then
		points=$(seq 1 "$w") after=$points before=$points
	elif small_sample "$op"; then
		after=$(((w + 1) / 2)) before=$w nrandom=$((NRANDOM < 1 ? NRANDOM : 1))
		[ "$w" -ge 1 ] || after='' before=''
	else
		points=$(sample "$w") after=$points before=$points
	fi
	for mode in AFTER BEFORE; do
		if [ "$mode" = AFTER ]; then points=$after; else points=$before; fi
		for n in $points; do
			out=$(run_point "$op" "$mode-$n" ASRFS_CRASH_ARM="$ARM" ASRFS_CRASH_$mode="$n")
			report "$op" "kill ${mode,,} write $n of $w" "$out"
		done
	done
	for n in $(seq 1 "$nrandom"); do
		local ms=$((RANDOM % ((dur + 1) * 1000)))
		out=$(CRASH_DELAY=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000))) run_point "$op" "random-$n" X=1)
		report "$op" "kill -9 at random ${ms} ms" "$out"
	done
	TABLE+=("$op $tried $passed")
}

for op in "${OPS[@]}"; do
	run_op "$op"
done
echo
printf '%-14s %12s %8s\n' operation "kill points" passed
total=0 good=0
for row in "${TABLE[@]}"; do
	set -- $row
	printf '%-14s %12s %8s\n' "$1" "$2" "$3"
	total=$((total + $2)) good=$((good + $3))
done
printf '%-14s %12s %8s\n' total "$total" "$good"
finish
