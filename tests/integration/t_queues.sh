#!/bin/bash
# t_queues.sh - jobs waiting for a region hold no worker: an item replicating
# between two other regions keeps getting its recovery points.
#
# Three local regions, two workers per queue.  web01 replicates westeurope ->
# northeurope; four more items replicate westeurope -> eastus.  eastus goes
# away and the four are disabled: each disable waits for eastus (more waiting
# jobs than workers).  web01's points must keep coming meanwhile.  An unmount
# while they wait checkpoints them (they stay InProgress and resume at the
# next mount, which finds eastus back: they succeed and their items go.
# A cancel ends a wait at once.  A region's return ends a wait at once too:
# b4's disable, waiting 20 s or more for its next try, goes on as soon as
# the probe finds eastus back.
. "$(dirname "$0")/lib.sh"
cat >"$WORK/conf.json" <<JSON
{"regions": [
   {"name": "westeurope",  "backend": "local", "path": "$STATE/regions/westeurope"},
   {"name": "northeurope", "backend": "local", "path": "$STATE/regions/northeurope"},
   {"name": "eastus",      "backend": "local", "path": "$STATE/regions/eastus"}],
 "vaults": [{"name": "asr-vault", "region": "westeurope"}],
 "workers": 2}
JSON
asrfs_start --config "$WORK/conf.json" || exit 1
fast_policy 2
BS="b1 b2 b3 b4"
create_vm westeurope rg1 web01 web01-os:1M
check "protect web01 into northeurope" protect rg1 web01
for b in $BS; do
	create_vm westeurope rg1 "$b" "$b-os:1M"
	echo "vm=rg1/$b source=westeurope target=eastus" >"$(V)/enable-replication"
done
for b in $BS; do
	check "protect $b into eastus" wait_for 60 file_is "$(V)/items/$b/state" Protected
done

mv "$STATE/regions/eastus" "$WORK/eastus.away"
check "eastus turns unavailable" wait_for 5 grep -q "^unavailable" "$MNT/regions/eastus/status"
jobs=
for b in $BS; do
	expect_errno "disable $b with eastus gone: accepted" 0 "$(V)/items/$b/disable" start
	jobs="$jobs $(basename "$(readlink "$(V)/items/$b/job")")"
done
# all_wait: every disable is InProgress and says it waits for the region.
all_wait() {
	for j in $jobs; do
		file_is "$(V)/jobs/$j/state" InProgress || return 1
		grep -q 'waiting for an unavailable region' "$(V)/jobs/$j/error" || return 1
	done
}
check "all four disables wait for eastus" wait_for 20 all_wait
p=$(latest_point web01)
check "web01 still gets recovery points while they wait" wait_new_point web01 "$p" 15
p=$(latest_point web01)
check "... and more" wait_new_point web01 "$p" 15

# A cancel ends a wait at once (the next try is 5 s or more away).
cj=$(basename "$(readlink "$(V)/items/b4/job")")
expect_errno "cancel b4's waiting disable: accepted" 0 "$(V)/items/b4/cancel" start
check "... it is Cancelled within 2 s" wait_for 2 file_is "$(V)/jobs/$cj/state" Cancelled
check "... and b4 is Protected again" file_is "$(V)/items/b4/state" Protected
BS="b1 b2 b3"
jobs=${jobs% "$cj"}

# An unmount while they wait: they are checkpointed, not failed, and
# resume at the next mount, which finds eastus back.
t0=$(date +%s)
asrfs_stop
dt=$(($(date +%s) - t0))
check "the unmount does not wait for the parked jobs (took $dt s)" test "$dt" -lt 10
mv "$WORK/eastus.away" "$STATE/regions/eastus"
asrfs_start --config "$WORK/conf.json" || { not_ok "remount"; finish; }
check "eastus available again" wait_for 10 file_is "$MNT/regions/eastus/status" available
for j in $jobs; do
	check "disable $j resumes and succeeds" wait_for 60 file_is "$(V)/jobs/$j/state" Succeeded
	check "... its wait's error cleared" file_is "$(V)/jobs/$j/error" ""
done
for b in $BS; do
	check "$b is gone" test ! -e "$(V)/items/$b"
done
check "web01 is still Protected" file_is "$(V)/items/web01/state" Protected
check "... b4 too" file_is "$(V)/items/b4/state" Protected
p=$(latest_point web01)
check "web01's points keep coming" wait_new_point web01 "$p" 15

# The region's return wakes a parked job: it does not sit out its wait
# (5 s doubling: the third is 20 s).
mv "$STATE/regions/eastus" "$WORK/eastus.away"
check "eastus goes away again" wait_for 5 grep -q "^unavailable" "$MNT/regions/eastus/status"
expect_errno "disable b4 with eastus gone: accepted" 0 "$(V)/items/b4/disable" start
bj=$(V)/jobs/$(basename "$(readlink "$(V)/items/b4/job")")
# long_wait: the job's "next try in N s" is 20 s or more away.
long_wait() {
	local n
	n=$(sed -n 's/^waiting for an unavailable region (next try in \([0-9]*\) s).*/\1/p' "$bj/error")
	[ -n "$n" ] && [ "$n" -ge 20 ]
}
check "b4's disable waits, its next try 20 s or more away" wait_for 40 long_wait
mv "$WORK/eastus.away" "$STATE/regions/eastus"
t0=$SECONDS
wait_for 40 file_is "$bj/state" Succeeded
took=$((SECONDS - t0))
ended_soon() { file_is "$bj/state" Succeeded && [ "$took" -le 8 ]; }
check "eastus back: the disable succeeds within 8 s, not after its wait (took $took s)" ended_soon
check "... its wait's error cleared" file_is "$bj/error" ""
check "... b4 is gone" test ! -e "$(V)/items/b4"
finish
