#!/bin/bash
# t_replication_group.sh - replication groups (SPEC 9): three VMs web, app
# and db in one group share each recovery point, taken at ONE instant for
# every disk of every member.  A writer puts numbered records in order
# round-robin across the three VMs' disks (record k on disk k mod 3 at
# offset (k/3)*512) while group cycles run; in every multi-vm point the
# records present across the three images must be a prefix of that order.
# Also: mixed policy or regions refused with EINVAL, the group's directory
# lists the members and goes with the last one, app-consistent group points
# freeze every member before the instant and thaw them all after it, and
# failover latest-multi-vm-processed picks the same point on every member.
. "$(dirname "$0")/lib.sh"
mkdir -p "$STATE/hooks"
cat >"$STATE/hooks/freeze" <<SH
#!/bin/sh
echo "freeze \$2" >>"$WORK/hooks.log"
SH
cat >"$STATE/hooks/thaw" <<SH
#!/bin/sh
echo "thaw \$2" >>"$WORK/hooks.log"
SH
chmod +x "$STATE/hooks/freeze" "$STATE/hooks/thaw"
asrfs_start || { not_ok "mount"; finish; }
G="$(V)/replication-groups/app3"
POL="$(V)/policies/24-hour-retention-policy"
for vm in web app db; do
	create_vm westeurope rg1 "$vm" "$vm-os:2M"
done
fast_policy 1
# all three join at once: a point made while the group had fewer members
# is multi-vm for the members it had then (docs/BEHAVIOUR.md)
# all_reach STATE: every member's state reaches STATE
all_reach() {
	local vm
	for vm in web app db; do
		check "$vm reaches $1" wait_for 60 file_is "$(V)/items/$vm/state" "$1"
	done
}
for vm in web app db; do
	echo "vm=rg1/$vm source=westeurope target=northeurope replication-group=app3" >"$(V)/enable-replication"
done
all_reach Protected
check "replication-group file names the group" file_is "$(V)/items/web/replication-group" app3
check "replication-group file is read-only" test "$(stat -c %a "$(V)/items/db/replication-group")" = 444
check "status shows the group" grep -qx "replication-group: app3" "$(V)/items/app/status"
check "status.json shows the group" test "$(jq -r '."replication-group"' "$(V)/items/app/status.json")" = app3
check "group lists its members" test "$(tr '\n' ' ' <"$G/items")" = "app db web "
check "replication-groups lists the group" test "$(entries "$(V)/replication-groups")" = app3

# --- refusals: a member differs in policy or regions
create_vm westeurope rg1 other "other-os:1M"
create_vm northeurope rg9 back "back-os:1M"
mkdir "$(V)/policies/slow"
expect_errno "another policy than the group's: EINVAL" EINVAL "$(V)/enable-replication" \
	"vm=rg1/other source=westeurope target=northeurope policy=slow replication-group=app3"
check "the refusal names the policy" grep -q "policy" "$(V)/error"
expect_errno "other regions than the group's: EINVAL" EINVAL "$(V)/enable-replication" \
	"vm=rg9/back source=northeurope target=westeurope replication-group=app3"
check "the refusal names the source region" grep -q "source region" "$(V)/error"
check "no item made by the refusals" test ! -e "$(V)/items/other" -a ! -e "$(V)/items/back"
expect_errno "a member's policy changed away from the group's: EINVAL" EINVAL "$(V)/items/web/settings/policy" slow
check "its policy is unchanged" file_is "$(V)/items/web/settings/policy" 24-hour-retention-policy

# --- the group is in the items' records: a remount keeps it
asrfs_stop
asrfs_start || { not_ok "remount"; finish; }
check "after a remount the group still lists its members" test "$(tr '\n' ' ' <"$G/items")" = "app db web "
check "after a remount db is still in app3" file_is "$(V)/items/db/replication-group" app3

# --- records in order across the three disks while group cycles run
echo 1 >"$POL/app-consistent-frequency-minutes"
"$(dirname "$0")/group_records.py" write "$WORK/stop" $((3 * 4096)) \
	"$(WD rg1 web-os)" "$(WD rg1 app-os)" "$(WD rg1 db-os)" &
writer=$!
sleep 7
touch "$WORK/stop"
wait $writer
echo 3600 >"$POL/crash-consistent-frequency-seconds"
sleep 3 # a cycle under way ends

"$(dirname "$0")/group_records.py" check "$(V)/items" $((3 * 4096)) web app db >"$WORK/check.out"
cat "$WORK/check.out"
res=$(tail -1 "$WORK/check.out")
multi=$(echo "$res" | awk '{print $2}') bad=$(echo "$res" | awk '{print $4}')
partial=$(echo "$res" | awk '{print $6}') app=$(echo "$res" | awk '{print $8}')
check "multi-vm points were taken while writing ($multi, $partial mid-write)" test "${partial:-0}" -ge 3
check "every multi-vm point is on every member, one instant for all disks" test "${bad:-1}" -eq 0
check "an app-consistent multi-vm point was made" test "${app:-0}" -ge 1
# the app-consistent group point: three freezes, then three thaws
check "every member frozen before the capture, all thawed after" \
	test "$(head -6 "$WORK/hooks.log" | awk '{print $1}' | tr '\n' ' ')" = "freeze freeze freeze thaw thaw thaw "
check "the freezes name every member" test "$(head -3 "$WORK/hooks.log" | awk '{print $2}' | sort | tr '\n' ' ')" = "app db web "

# --- failover words
check "other protected without a group" protect rg1 other
expect_errno "latest-multi-vm-processed with no group point: EINVAL" EINVAL "$(V)/items/other/failover" latest-multi-vm-processed
check "the refusal says there is no multi-vm point" grep -q "no multi-vm recovery point" "$(V)/items/other/error"
# db fails over first; web and app go on without it: their points then are
# one instant still but not multi-vm, and the multi-vm words pass over them
echo 1 >"$POL/crash-consistent-frequency-seconds"
echo latest-multi-vm-processed >"$(V)/items/db/failover"
check "db failed over" wait_for 60 file_is "$(V)/items/db/state" FailedOver
before=$(latest_point web)
check "web and app go on without db" wait_new_point web "$before" 15
solo=$(latest_point web)
check "a point without every member is not multi-vm ($solo)" \
	test -n "$solo" -a "$(grep -c multi-vm "$(V)/items/web/recovery-points/$solo/type")" -eq 0
check "app has that point too" test -d "$(V)/items/app/recovery-points/$solo"
echo 3600 >"$POL/crash-consistent-frequency-seconds"
sleep 3 # a cycle under way ends
for vm in web app; do
	echo latest-multi-vm-processed >"$(V)/items/$vm/failover"
done
all_reach FailedOver
one_failover_point web app db

app_pt=$(readlink "$(V)/items/web/recovery-points/latest-app-consistent")
echo latest-multi-vm-app-consistent >"$(V)/items/web/change-recovery-point"
check "change-recovery-point latest-multi-vm-app-consistent done" \
	wait_for 60 grep -q "item web: the failed-over VM now runs from point $app_pt" "$LOG"
check "web's failed-over disk holds the app-consistent group point" \
	wait_for 30 cmp -s "$(ND rg1-asr web-os)" "$(V)/items/web/recovery-points/$app_pt/disks/web-os"

# --- the group goes with its last member
for vm in web app; do
	echo start >"$(V)/items/$vm/disable"
	check "$vm disabled" wait_for 60 test ! -e "$(V)/items/$vm"
done
check "the group keeps its last member" test "$(cat "$G/items")" = db
echo start >"$(V)/items/db/disable"
check "db disabled" wait_for 60 test ! -e "$(V)/items/db"
check "the group is gone with its last member" test ! -e "$G"
check "no group left in the vault" test -z "$(entries "$(V)/replication-groups")"
finish
