#!/bin/bash
# t_azblob_replication_group.sh - a replication group with both regions on
# azblob (Azurite): web, app and db in group app3 share each point, taken at
# one instant for every member's disk (the blob snapshots of all three taken
# under one freeze of their writes).  A writer puts numbered records in
# order round-robin across the three disks while group cycles run; in every
# multi-vm point the records present across the three images must be a
# prefix of that order, and the point must be on every member.  Then each
# member fails over with latest-multi-vm-processed: one point for all, and
# each failed-over page blob equals it.  t_replication_group.sh is the same
# story on local regions, with more detail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=azblob
POL="$(V)/policies/24-hour-retention-policy"
MOST=$((3 * 2048))
for vm in web app db; do
	create_vm westeurope rg1 "$vm" "$vm-os:1M"
done
fast_policy 1
group_enable app3 web app db
check "the group lists its members" test "$(tr '\n' ' ' <"$(V)/replication-groups/app3/items")" = "app db web "

"$(dirname "$0")/group_records.py" write "$WORK/stop" "$MOST" \
	"$(WD rg1 web-os)" "$(WD rg1 app-os)" "$(WD rg1 db-os)" &
writer=$!
sleep 8
touch "$WORK/stop"
wait $writer
echo 3600 >"$POL/crash-consistent-frequency-seconds"
sleep 4 # a cycle under way ends

"$(dirname "$0")/group_records.py" check "$(V)/items" "$MOST" web app db >"$WORK/check.out"
cat "$WORK/check.out"
res=$(tail -1 "$WORK/check.out")
bad=$(echo "$res" | awk '{print $4}') partial=$(echo "$res" | awk '{print $6}')
check "multi-vm points were taken while writing ($res)" test "${partial:-0}" -ge 2
check "every multi-vm point is on every member, one instant for all disks" test "${bad:-1}" -eq 0

for vm in web app db; do
	echo latest-multi-vm-processed >"$(V)/items/$vm/failover"
done
for vm in web app db; do
	check "$vm reaches FailedOver" wait_for 90 file_is "$(V)/items/$vm/state" FailedOver
done
one_failover_point web app db
finish
