#!/bin/bash
# t_replication_group_crash.sh - a crash between two members' commits of a
# replication group's point (docs/BEHAVIOUR.md, "Replication groups").  The
# daemon is killed right after the first member's (app's) catalog write of a
# group cycle: app keeps that point, db and web roll their cycles back on the
# next mount, and latest-multi-vm-processed never picks the point only app
# has: it takes the newest one every member holds.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
POL="$(V)/policies/24-hour-retention-policy"
for vm in web app db; do
	create_vm westeurope rg1 "$vm" "$vm-os:1M"
done
fast_policy 2
group_enable g web app db
# one_multi VM: the newest multi-vm point of VM
one_multi() {
	local p
	for p in $(entries "$(V)/items/$1/recovery-points" | grep -v latest | sort -r); do
		grep -q multi-vm "$(V)/items/$1/recovery-points/$p/type" && { echo "$p"; return 0; }
	done
	return 1
}
check "a multi-vm point before the crash" wait_for 20 one_multi web
echo 3600 >"$POL/crash-consistent-frequency-seconds"
sleep 3 # a cycle under way ends
for vm in web app db; do
	scribble "$(WD rg1 "$vm-os")" 4 8
done
asrfs_stop

# Counted writes once armed (backend/backend.c): 1 the policy record, 2-7
# each member's undo objects, 8 app's catalog copy, 9 app's catalog.
export ASRFS_CRASH_TRACE="$WORK/trace" ASRFS_CRASH_ARM="$WORK/arm" ASRFS_CRASH_AFTER=9
asrfs_start || { not_ok "mount armed"; finish; }
pid=$ASRFS_PID
touch "$WORK/arm"
echo 2 >"$POL/crash-consistent-frequency-seconds"
check "the daemon was killed in the group's commits" wait_for 60 sh -c "! kill -0 $pid"
check "right after app's catalog write" grep -q "rec_put .*/items/app/points.json$" <(tail -1 "$WORK/trace")
asrfs_kill
unset ASRFS_CRASH_TRACE ASRFS_CRASH_ARM ASRFS_CRASH_AFTER
rm -f "$WORK/arm"
# the source region down: no cycle after the remount makes a newer point
mv "$STATE/regions/westeurope/.asrfs-region" "$WORK/marker.away"
asrfs_start || { not_ok "remount"; finish; }
check "westeurope is down" wait_for 5 grep -q "^unavailable" "$MNT/regions/westeurope/status"
# the point app has and web not (their enables' first points may differ too:
# those are not multi-vm)
half=$(one_multi app)
check "app kept the point it committed ($half)" test -n "$half" -a "$half" '>' "$(one_multi web)"
check "db does not have it" test ! -e "$(V)/items/db/recovery-points/$half"
check "web does not have it" test ! -e "$(V)/items/web/recovery-points/$half"
before=$(one_multi web)
echo latest-multi-vm-processed >"$(V)/items/app/failover"
check "app failed over" wait_for 60 file_is "$(V)/items/app/state" FailedOver
pt=$(sed -n 's/.*item app: failed over to .* from point //p' "$LOG" | tail -1)
check "latest-multi-vm-processed passed over the half point ($pt)" test -n "$pt" -a "$pt" != "$half"
check "it took the newest point every member has" test "$pt" = "$before"
for vm in web db; do
	check "$vm has that point, multi-vm" grep -q multi-vm "$(V)/items/$vm/recovery-points/$pt/type"
done

# a record naming a group the tree cannot show: the item is in no group
asrfs_stop
rec="$STATE/regions/northeurope/vaults/asr-vault/items/db/item.json"
jq -c '.replication_group = "no/such"' "$rec" >"$WORK/item.json" && mv "$WORK/item.json" "$rec"
asrfs_start || { not_ok "remount"; finish; }
check "a bad group name in item.json: no group" file_is "$(V)/items/db/replication-group" ""
check "the group keeps the others" test "$(tr '\n' ' ' <"$(V)/replication-groups/g/items")" = "app web "
check "the log says why" grep -q "item db: bad replication group name 'no/such'" "$LOG"
finish
