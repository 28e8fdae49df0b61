#!/bin/bash
# t_schedule.sh - the replication schedule across a remount: an item's
# cycles carry on one period after its newest point, as if the daemon had
# not stopped.  Right after the mount the newest point shows (its catalog is
# read in the background), no cycle runs at once, and the next point comes
# one period after the last one; two items keep their own times.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
PERIOD=12

# seconds since the epoch of a point id (2026-11-24T10:05:00Z)
point_secs() { date -u -d "$(echo "$1" | sed 's/T/ /; s/Z$//')" +%s; }

create_vm westeurope rg1 web01 "web01-os:4M"
create_vm westeurope rg1 web02 "web02-os:4M"
fast_policy $PERIOD
check "web01 protected" protect rg1 web01
sleep 4
check "web02 protected" protect rg1 web02
p1=$(latest_point web01)
p2=$(latest_point web02)
check "both have a first point" test -n "$p1" -a -n "$p2"

asrfs_stop
asrfs_start || { not_ok "remount"; finish; }
check "newest point shows right after the mount (web01)" \
	wait_for 2 file_is "$(V)/items/web01/last-recovery-point" "$p1"
check "newest point shows right after the mount (web02)" \
	wait_for 2 file_is "$(V)/items/web02/last-recovery-point" "$p2"
check "rpo-seconds counts from that point" test "$(cat "$(V)/items/web01/rpo-seconds")" -ge 0
# well inside the period: the remount ran no cycle
now=$(date -u +%s)
if [ $((now - $(point_secs "$p1"))) -lt $((PERIOD - 3)) ]; then
	sleep 1
	check "no cycle at the mount (web01)" test "$(latest_point web01)" = "$p1"
	check "no cycle at the mount (web02)" test "$(latest_point web02)" = "$p2"
else
	skip "the remount took too long to see its first second"
fi
check "web01's next point comes" wait_new_point web01 "$p1" $((PERIOD + 10))
n1=$(latest_point web01)
check "one period after the last (web01: $p1 -> $n1)" \
	test $(($(point_secs "$n1") - $(point_secs "$p1"))) -ge $((PERIOD - 1))
check "web02 still on its own time" test "$(latest_point web02)" = "$p2"
check "web02's next point comes" wait_new_point web02 "$p2" $((PERIOD + 10))
n2=$(latest_point web02)
check "one period after the last (web02: $p2 -> $n2)" \
	test $(($(point_secs "$n2") - $(point_secs "$p2"))) -ge $((PERIOD - 1))
finish
