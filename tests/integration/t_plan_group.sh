#!/bin/bash
# t_plan_group.sh - a recovery plan over one replication group (SPEC 9): "a
# plan's failover picks its recovery point once, when it starts: every
# member of one replication group fails over to the same multi-VM point,
# whichever boot group it sits in".  web, app and db share group app3; the
# plan puts db in boot group 1, app in 2 and web in 3, with a manual action
# before group 3.  While the job waits there the sources keep changing and
# app and web keep getting points (no longer multi-vm: db has failed over),
# yet all three fail over to the one multi-vm point picked when the job
# started.  A group of one fails over as a lone item does.
. "$(dirname "$0")/lib.sh"

asrfs_start || { not_ok "mount"; finish; }
fast_policy 1
for vm in web app db; do
	create_vm westeurope rg1 "$vm" "$vm-os:2M"
	scribble "$(WD rg1 "$vm-os")" 16 0
done
group_enable app3 web app db
# a multi-vm point all three hold
check "a multi-vm point" wait_for 30 sh -c "grep -l multi-vm '$(V)'/items/db/recovery-points/*/type >/dev/null 2>&1"

P="$(V)/recovery-plans/app"
mkdir "$P" && mkdir "$P/groups/1" "$P/groups/2" "$P/groups/3"
echo "add db" >"$P/groups/1/items"
echo "add app" >"$P/groups/2/items"
echo "add web" >"$P/groups/3/items"
echo "add manual Start the web tier by hand" >"$P/groups/3/pre-actions"
MANUAL="Group 3: pre-action 1: manual Start the web tier by hand"
task_state() { awk -v n="$2" '{s=$1; $1=$2=$3=""; sub(/^ +/, ""); if ($0 == n) print s}' "$(V)/jobs/$1/tasks"; }
task_is() { [ "$(task_state "$1" "$2")" = "$3" ]; }

# shutdown=no: the sources go on taking writes while the plan runs
expect_errno "plan failover accepted" 0 "$P/failover" "latest shutdown=no"
JOB=$(basename "$(readlink "$P/job")")
check "the job waits before group 3" wait_for 90 task_is "$JOB" "$MANUAL" Waiting
check "db and app failed over" sh -c "test \"\$(cat '$(V)/items/db/state' '$(V)/items/app/state' | tr '\n' ' ')\" = 'FailedOver FailedOver '"
# web and app's sources change; web gets newer points meanwhile
before=$(latest_point web)
scribble "$(WD rg1 web-os)" 16 200
scribble "$(WD rg1 app-os)" 16 200
check "web gets a newer point while the plan waits" wait_new_point web "$before" 20
newer=$(latest_point web)
check "that point is not multi-vm" test "$(grep -c multi-vm "$(V)/items/web/recovery-points/$newer/type")" -eq 0
expect_errno "resume" 0 "$P/resume" start
check "the plan's job Succeeded" wait_for 90 file_is "$(V)/jobs/$JOB/state" Succeeded
one_failover_point web app db
check "not web's newer point" test "$POINT" != "$newer"
check "the job's record keeps the ids it picked" \
	test "$(jq -r '.plan | fromjson | .points | [.db, .app, .web] | unique | length' "$STATE/regions/northeurope/vaults/asr-vault/jobs/$JOB.json")" = 1

# a group of one has no multi-vm points (docs/BEHAVIOUR.md): its member
# fails over as an item alone does, latest shipping its newest data
create_vm westeurope rg1 solo "solo-os:1M"
echo "vm=rg1/solo source=westeurope target=northeurope replication-group=lone" >"$(V)/enable-replication"
check "solo Protected" wait_for 60 file_is "$(V)/items/solo/state" Protected
Q="$(V)/recovery-plans/lone"
mkdir "$Q" "$Q/groups/1" && echo "add solo" >"$Q/groups/1/items"
expect_errno "plan failover of solo" 0 "$Q/failover" "latest shutdown=no"
J2=$(basename "$(readlink "$Q/job")")
check "solo's plan job Succeeded" wait_for 60 file_is "$(V)/jobs/$J2/state" Succeeded
check "solo FailedOver" file_is "$(V)/items/solo/state" FailedOver
finish
