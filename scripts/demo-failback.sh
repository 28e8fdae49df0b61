#!/bin/bash
# demo-failback.sh - the disaster-recovery story told on a running asrfs
# mount: failover to the recovery region, commit, reprotect (replication
# reverses), failback, commit, and reprotect again to the original direction.
# Each step is explained before it is done; the script waits on the job's
# progress and prints its tasks.  Only ordinary tools on the tree are used.
#
#   scripts/demo-failback.sh [MOUNTPOINT]     (default ./mnt/asr)
#
# Needs a replicated item web01 that is Protected (make run prepares one).
set -u
usage() { echo "usage: demo-failback.sh [MOUNTPOINT]   (default ./mnt/asr)"; }
case ${1:-} in
-h | --help) usage; sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
-*) echo "demo-failback.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "demo-failback.sh: too many arguments" >&2; usage >&2; exit 2; }
MNT=${1:-./mnt/asr}
ITEM=$MNT/web01
if [ ! -d "$ITEM" ]; then
	ITEM=$(ls -d "$MNT"/vaults/*/items/web01 2>/dev/null | head -1)
fi
if [ -z "$ITEM" ] || [ ! -d "$ITEM" ]; then
	echo "no replicated item web01 under $MNT (is asrfs mounted there? enable replication first)" >&2
	exit 1
fi

say() { printf '\n== %s\n' "$*"; }
show() { printf '   %-22s %s\n' "$1:" "$(cat "$ITEM/$2" 2>/dev/null)"; }

# wait_job: follow the item's job until it ends, one progress line a second.
wait_job() {
	local job state
	sleep 0.3
	job=$(readlink -f "$ITEM/job")
	while :; do
		state=$(cat "$job/state" 2>/dev/null)
		printf '\r   %-40s %-10s %3s%%  compared %s  sent %s bytes   ' "$(basename "$job")" "$state" \
			"$(cat "$job/progress")" "$(cat "$job/bytes-compared")" "$(cat "$job/bytes-transferred")"
		case $state in Succeeded | Failed | Cancelled) break ;; esac
		sleep 1
	done
	echo
	echo "   tasks:"
	sed 's/^/     /' "$job/tasks"
	if [ "$state" != Succeeded ]; then
		echo "   the job ended $state: $(cat "$job/error")" >&2
		exit 1
	fi
}

# control FILE LINE: one write, with the refusal's reason if there is one.
control() {
	if ! echo "$2" >"$ITEM/$1" 2>/dev/null; then
		echo "   $1 refused: $(cat "$ITEM/error")" >&2
		exit 1
	fi
}

say "Where we start"
show state state; show direction direction; show active-region active-region
show last-recovery-point last-recovery-point
if [ "$(cat "$ITEM/state")" != Protected ]; then
	echo "web01 must be Protected to start the story (it is $(cat "$ITEM/state"))" >&2
	exit 1
fi

say "1. Failover: the primary region is in trouble.  shutdown=yes stops the VM
   first and 'latest' ships its newest data, so nothing is lost; the VM is
   then created in the recovery region from that recovery point."
control failover "latest shutdown=yes"
wait_job
show state state; show active-region active-region

say "2. Commit: we stay in the recovery region.  The recovery points and the
   replica disks are deleted; the failed-over VM keeps running."
control commit start
wait_job
show state state

say "The VM now runs in the recovery region and its disk changes: 1 MiB is
   written to web01-os there, which reprotect will have to send back."
active=$(cat "$ITEM/active-region")
disk=$(ls -d "$MNT"/regions/"$active"/resource-groups/*/disks/web01-os 2>/dev/null | head -1)
if [ -n "$disk" ]; then
	dd if=/dev/urandom of="$disk" bs=64k count=16 seek=100 conv=notrunc status=none
	echo "   wrote 1048576 bytes to ${disk#"$MNT"/}"
fi

say "3. Reprotect: replicate back.  The old VM's disks become the replicas;
   both sides are compared block by block and only differing blocks cross
   between regions."
control reprotect start
wait_job
show state state; show direction direction
echo "   bytes-total $(cat "$ITEM/job/bytes-total"), bytes-transferred $(cat "$ITEM/job/bytes-transferred")"

say "4. Failback is a failover of the reversed item: back to the primary."
sleep 2
control failover "latest shutdown=yes"
wait_job
show state state; show active-region active-region

say "5. Commit the failback."
control commit start
wait_job

say "6. Reprotect again: the original direction, protected as at the start."
control reprotect start
wait_job
show state state; show direction direction; show active-region active-region
show last-recovery-point last-recovery-point
say "Done: the round trip lost no byte written on either side while it was active."
