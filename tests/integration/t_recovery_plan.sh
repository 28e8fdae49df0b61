#!/bin/bash
# t_recovery_plan.sh - recovery plans (SPEC 9): a three-tier application
# (db, app, web) in one plan, db in boot group 1, app in 2, web in 3.  The
# tree and its records; refusals with SPEC 4's errnos and the plan's error,
# leaving every item as it was; a plan failover that shuts the sources down
# in reverse group order, runs a pre-action script (which records its ASR_*
# environment), fails the items over group by group and waits at a manual
# post-action until `resume`; test failover and its cleanup; commit;
# reprotect; failback of the whole plan; a failing script that stops the
# plan at its step; and a kill -9 while the job waits at a manual action,
# after which the job resumes at that step; a crash inside `resume` just
# before its record is written (the job waits again) and just after (the
# job goes on by itself).
. "$(dirname "$0")/lib.sh"

asrfs_start || { not_ok "mount"; finish; }
fast_policy 2
for vm in db app web; do
	create_vm westeurope rg1 "$vm" "$vm-os:4M" network=vnet1
	scribble "$(WD rg1 "$vm-os")" 64 0
done
for vm in db app web; do
	check "$vm protected" protect rg1 "$vm"
done

P="$(V)/recovery-plans/shop"
VREC="$STATE/regions/northeurope/vaults/asr-vault"
ENVF="$WORK/script-env"
HOOK="$WORK/record-env.sh"
cat >"$HOOK" <<SH
#!/bin/sh
echo "\$ASR_PLAN \$ASR_OPERATION \$ASR_GROUP \$ASR_DIRECTION" >>"$ENVF"
SH
chmod +x "$HOOK"
states() { for vm in db app web; do cat "$(V)/items/$vm/state"; done | tr '\n' ' '; }
plan_job() { basename "$(readlink "$P/job")"; }
jobstate() { cat "$(V)/jobs/$(plan_job)/state"; }
# task_state JOB NAME: the state of the job's task NAME
task_state() { awk -v n="$2" '{s=$1; $1=$2=$3=""; sub(/^ +/, ""); if ($0 == n) print s}' "$(V)/jobs/$1/tasks"; }
# task_is JOB NAME STATE (for wait_for, which runs it again each time)
task_is() { [ "$(task_state "$1" "$2")" = "$3" ]; }
MANUAL="Group 3: post-action 1: manual Check the shop's home page"

# --- the tree and its records
check "mkdir recovery-plans/shop" mkdir "$P"
check "mkdir of an existing plan: EEXIST" sh -c "! mkdir '$P' 2>/dev/null"
check "a bad plan name is refused" sh -c "! mkdir '$(V)/recovery-plans/bad name' 2>/dev/null"
for g in 1 2 3; do check "mkdir groups/$g" mkdir "$P/groups/$g"; done
check "mkdir groups/8 is refused" sh -c "! mkdir '$P/groups/8' 2>/dev/null"
check "mkdir groups/x is refused" sh -c "! mkdir '$P/groups/x' 2>/dev/null"
expect_errno "add db to group 1" 0 "$P/groups/1/items" "add db"
expect_errno "add app to group 2" 0 "$P/groups/2/items" "add app"
expect_errno "add web to group 3" 0 "$P/groups/3/items" "add web"
expect_errno "add db again, to group 2: EEXIST" EEXIST "$P/groups/2/items" "add db"
check "the plan's error names the group db is in" grep -q "group 1" "$P/error"
expect_errno "an unknown item: EINVAL" EINVAL "$P/groups/2/items" "add nosuchvm"
expect_errno "a bad verb: EINVAL" EINVAL "$P/groups/2/items" "insert app"
expect_errno "remove an item of another group: EINVAL" EINVAL "$P/groups/2/items" "remove web"
expect_errno "pre-action script of group 1" 0 "$P/groups/1/pre-actions" "add script $HOOK"
expect_errno "a relative script path: EINVAL" EINVAL "$P/groups/1/pre-actions" "add script x.sh"
expect_errno "manual post-action of group 3" 0 "$P/groups/3/post-actions" "add manual Check the shop's home page"
expect_errno "another manual action" 0 "$P/groups/2/post-actions" "add manual scratch"
expect_errno "remove it" 0 "$P/groups/2/post-actions" "remove 1"
expect_errno "remove 5 of an empty list: EINVAL" EINVAL "$P/groups/2/post-actions" "remove 5"
check "groups/1/items lists db" file_is "$P/groups/1/items" db
check "pre-actions lists the script" file_is "$P/groups/1/pre-actions" "script $HOOK"
check "post-actions lists the manual action" file_is "$P/groups/3/post-actions" "manual Check the shop's home page"
check "groups/ lists 1 2 3" test "$(entries "$P/groups" | tr '\n' ' ')" = "1 2 3 "
check "state: the items' common state" file_is "$P/state" Protected
check "allowed-operations: failover, test-failover" \
	test "$(tr '\n' ' ' <"$P/allowed-operations")" = "failover test-failover "
check "the plan's record is in the vault's region" \
	test "$(jq -r '.groups[] | "\(.group):\(.items | join(","))"' "$VREC/recovery-plans/shop.json" | tr '\n' ' ')" = "1:db 2:app 3:web "
check "modes: controls 0200, lists 0644, state 0444" \
	test "$(stat -c %a "$P/failover" "$P/resume" "$P/groups/1/items" "$P/state" | tr '\n' ' ')" = "200 200 644 444 "

# --- refusals leave every item as it was
expect_errno "commit while Protected: EPERM" EPERM "$P/commit" start
check "the plan's error says why" grep -q "commit" "$P/error"
expect_errno "failover with an unknown key: EINVAL" EINVAL "$P/failover" "colour=blue"
expect_errno "failover to an unknown point: EINVAL" EINVAL "$P/failover" "2001-01-01T00:00:00Z"
expect_errno "resume with no job: EPERM" EPERM "$P/resume" start
expect_errno "cancel with no job: EPERM" EPERM "$P/cancel" start
expect_errno "failover to a multi-VM point with no replication group: refused" EINVAL "$P/failover" latest-multi-vm-processed
# bad input of every kind to every writable file of the plan: an errno, no crash, no change
LONG=$(head -c 5000 /dev/zero | tr '\0' a)
for f in failover test-failover cleanup-test-failover commit reprotect cancel resume \
	groups/1/items groups/1/pre-actions groups/1/post-actions; do
	for bad in "$(printf 'add \001\377')" "$LONG" "$(printf 'add db\nadd app')" "add" "remove" "start start start"; do
		got=$("$ERRNO_WRITE" "$P/$f" "$bad")
		case "$got" in 0) not_ok "bad input to $f accepted: $(printf %q "${bad:0:20}")" ;; esac
	done
done
check "the daemon is still serving" test -e "$MNT/version"
check "bad input changed no list" test "$(cat "$P"/groups/{1,2,3}/items "$P/groups/1/pre-actions" | tr '\n' ' ')" = "db app web script $HOOK "
check "every item is still Protected" test "$(states)" = "Protected Protected Protected "
check "no plan job was made" test -z "$(entries "$(V)/jobs" | grep -- -plan-)"

# --- failover of the plan
expect_errno "failover of the plan" 0 "$P/failover" latest
JOB=$(plan_job)
check "its job is 0000NN-failover-plan-shop" sh -c "echo '$JOB' | grep -qE '^[0-9]{6}-failover-plan-shop$'"
check "type: Failover (recovery plan)" file_is "$(V)/jobs/$JOB/type" "Failover (recovery plan)"
check "the job waits at the manual action" wait_for 60 task_is "$JOB" "$MANUAL" Waiting
check "the job stays InProgress" file_is "$(V)/jobs/$JOB/state" InProgress
check "status says what to do" grep -q "^waiting: Group 3: post-action 1: manual .*resume" "$P/status"
check "allowed-operations: cancel, resume" test "$(tr '\n' ' ' <"$P/allowed-operations")" = "cancel resume "
check "every item FailedOver" test "$(states)" = "FailedOver FailedOver FailedOver "
expect_errno "an item's own control while the plan job runs: EBUSY" EBUSY "$(V)/items/web/commit" start
check "the item's error names the plan" grep -q "plan shop" "$(V)/items/web/error"
expect_errno "a plan edit while its job runs: EBUSY" EBUSY "$P/groups/1/items" "remove db"
expect_errno "another failover while it runs: EBUSY" EBUSY "$P/failover" latest
check "the sources were shut down" test "$(cat "$(R westeurope)"/resource-groups/rg1/vms/{db,app,web}/power | tr '\n' ' ')" = "stopped stopped stopped "
expect_errno "resume" 0 "$P/resume" start
check "the job Succeeded" wait_for 30 file_is "$(V)/jobs/$JOB/state" Succeeded
WANT="Group 3: shut down web
Group 2: shut down app
Group 1: shut down db
Group 1: pre-action 1: script $HOOK
Group 1: failover db
Group 2: failover app
Group 3: failover web
Group 3: post-action 1: manual Check the shop's home page"
check "tasks in order" test "$(cut -d' ' -f4- "$(V)/jobs/$JOB/tasks")" = "$WANT"
check "every task Succeeded" test "$(grep -c '^Succeeded ' "$(V)/jobs/$JOB/tasks")" -eq 8
check "every task has its times" \
	test "$(awk '$2 ~ /^20..-..-..T..:..:..Z$/ && $3 ~ /^20..-..-..T..:..:..Z$/' "$(V)/jobs/$JOB/tasks" | wc -l)" -eq 8
check "tasks ran in order" sh -c "cut -d' ' -f2 '$(V)/jobs/$JOB/tasks' | sort -c"
check "the script saw ASR_PLAN, ASR_OPERATION, ASR_GROUP, ASR_DIRECTION" \
	file_is "$ENVF" "shop failover 1 westeurope -> northeurope"
check "the failed-over VMs run in northeurope" \
	test "$(cat "$(R northeurope)"/resource-groups/rg1-asr/vms/{db,app,web}/power | tr '\n' ' ')" = "running running running "
check "the plan's state: FailedOver" file_is "$P/state" FailedOver
check "the items' controls are usable again" grep -q commit "$(V)/items/web/allowed-operations"

# --- commit, reprotect, failback
expect_errno "commit of the plan" 0 "$P/commit" start
check "commit job Succeeded" wait_for 60 file_is "$(V)/jobs/$(plan_job)/state" Succeeded
check "every item FailoverCommitted" test "$(states)" = "FailoverCommitted FailoverCommitted FailoverCommitted "
expect_errno "reprotect of the plan" 0 "$P/reprotect" start
check "reprotect job Succeeded" wait_for 120 file_is "$(V)/jobs/$(plan_job)/state" Succeeded
check "every item Protected again" test "$(states)" = "Protected Protected Protected "
check "direction reversed" file_is "$(V)/items/web/direction" "northeurope -> westeurope"
rm -f "$ENVF"
expect_errno "failback: failover of the plan again" 0 "$P/failover" latest
check "failback waits at the manual action" wait_for 60 task_is "$(plan_job)" "$MANUAL" Waiting
expect_errno "resume" 0 "$P/resume" start
check "failback Succeeded" wait_for 30 file_is "$(V)/jobs/$(plan_job)/state" Succeeded
check "the script saw the failback's direction" file_is "$ENVF" "shop failover 1 northeurope -> westeurope"
expect_errno "commit of the failback" 0 "$P/commit" start
check "commit Succeeded" wait_for 60 file_is "$(V)/jobs/$(plan_job)/state" Succeeded
expect_errno "reprotect to the original direction" 0 "$P/reprotect" start
check "reprotect Succeeded" wait_for 120 file_is "$(V)/jobs/$(plan_job)/state" Succeeded
check "every item Protected westeurope -> northeurope" \
	test "$(states)$(cat "$(V)/items/web/direction")" = "Protected Protected Protected westeurope -> northeurope"

# --- cancel of a plan's job waiting at a manual action
expect_errno "test failover of the plan, to cancel" 0 "$P/test-failover" latest
JOB=$(plan_job)
check "it waits at the manual action" wait_for 60 task_is "$JOB" "$MANUAL" Waiting
expect_errno "cancel" 0 "$P/cancel" start
check "the job is Cancelled" wait_for 30 file_is "$(V)/jobs/$JOB/state" Cancelled
check "the waiting task is Cancelled" task_is "$JOB" "$MANUAL" Cancelled
check "the plan's error says so" grep -q "Cancelled" "$P/error"
expect_errno "cleanup of the cancelled test failover" 0 "$P/cleanup-test-failover" start
check "cleanup Succeeded" wait_for 60 file_is "$(V)/jobs/$(plan_job)/state" Succeeded

# --- test failover and its cleanup
rm -f "$ENVF"
expect_errno "test failover of the plan" 0 "$P/test-failover" latest-processed
check "test failover waits at the manual action too" wait_for 60 task_is "$(plan_job)" "$MANUAL" Waiting
expect_errno "resume" 0 "$P/resume" start
check "test failover Succeeded" wait_for 60 file_is "$(V)/jobs/$(plan_job)/state" Succeeded
check "its type: Test failover (recovery plan)" file_is "$(V)/jobs/$(plan_job)/type" "Test failover (recovery plan)"
check "no shutdown in a test failover" sh -c "! grep -q 'shut down' '$(V)/jobs/$(plan_job)/tasks'"
check "the test VMs exist" test -d "$(R northeurope)/resource-groups/rg1-asr/vms/web-test"
check "the sources still run" test "$(cat "$(R westeurope)"/resource-groups/rg1/vms/{db,app,web}/power | tr '\n' ' ')" = "running running running "
check "the script saw test-failover" file_is "$ENVF" "shop test-failover 1 westeurope -> northeurope"
check "allowed-operations: cleanup-test-failover" grep -qx cleanup-test-failover "$P/allowed-operations"
expect_errno "cleanup of the plan's test failover" 0 "$P/cleanup-test-failover" "notes=drill went fine"
check "cleanup Succeeded" wait_for 60 file_is "$(V)/jobs/$(plan_job)/state" Succeeded
check "the test VMs are gone" test ! -e "$(R northeurope)/resource-groups/rg1-asr/vms/web-test"

# --- a failing script stops the plan at its step
expect_errno "a failing pre-action for group 2" 0 "$P/groups/2/pre-actions" "add script /bin/false"
expect_errno "test failover" 0 "$P/test-failover" latest
check "the job Failed" wait_for 60 file_is "$(V)/jobs/$(plan_job)/state" Failed
check "its error names the step" grep -qF "Group 2: pre-action 1: script /bin/false failed (exit status 1)" "$(V)/jobs/$(plan_job)/error"
check "the plan's error names it too" grep -q "Group 2: pre-action 1: script /bin/false" "$P/error"
check "that task Failed" test "$(task_state "$(plan_job)" "Group 2: pre-action 1: script /bin/false")" = Failed
check "group 1 ran" test "$(task_state "$(plan_job)" "Group 1: test-failover db")" = Succeeded
check "groups 2 and 3 untouched" test "$(task_state "$(plan_job)" "Group 2: test-failover app")$(task_state "$(plan_job)" "Group 3: test-failover web")" = NotStartedNotStarted
check "no test VM of app or web" test ! -e "$(R northeurope)/resource-groups/rg1-asr/vms/app-test" -a ! -e "$(R northeurope)/resource-groups/rg1-asr/vms/web-test"
expect_errno "remove the failing script" 0 "$P/groups/2/pre-actions" "remove 1"
expect_errno "clean db's test failover up" 0 "$(V)/items/db/cleanup-test-failover" start
check "db's cleanup Succeeded" wait_for 60 sh -c "test -z \"\$(cat '$(V)/items/db/error')\" && ! grep -qx cancel '$(V)/items/db/allowed-operations' && test ! -e '$(R northeurope)/resource-groups/rg1-asr/vms/db-test'"

# --- kill -9 while the job waits at a manual action
expect_errno "failover of the plan" 0 "$P/failover" latest
JOB=$(plan_job)
check "the job waits at the manual action" wait_for 60 task_is "$JOB" "$MANUAL" Waiting
asrfs_kill
asrfs_start || { not_ok "remount"; finish; }
check "after the remount the job is InProgress" file_is "$(V)/jobs/$JOB/state" InProgress
check "it waits at the manual action again" wait_for 30 task_is "$JOB" "$MANUAL" Waiting
check "the steps before kept Succeeded" test "$(grep -c '^Succeeded ' "$(V)/jobs/$JOB/tasks")" -eq 7
check "an item's own control is still EBUSY" test "$("$ERRNO_WRITE" "$(V)/items/db/commit" start)" = EBUSY

# --- a crash in `resume`: killed just before, then just after, its one
# record write (the job's, saying it was resumed) by the backends' crash
# points, counted only while $WORK/arm exists.  Unsaved, the resume never
# returned and the job waits again; saved, the job goes on by itself.
# resume_crash WHEN: mount with the crash point, wait, arm, resume; GOT is
# the resume's outcome and the counted writes.
resume_crash() {
	GOT="(not reached)"
	asrfs_stop
	rm -f "$WORK/arm" "$WORK/trace"
	export ASRFS_CRASH_ARM=$WORK/arm ASRFS_CRASH_TRACE=$WORK/trace "ASRFS_CRASH_$1=1"
	asrfs_start
	unset ASRFS_CRASH_ARM ASRFS_CRASH_TRACE "ASRFS_CRASH_$1"
	if wait_for 30 task_is "$JOB" "$MANUAL" Waiting; then
		sleep 2 # the job's record is flushed within a tick of its wait
		touch "$WORK/arm"
		GOT="$("$ERRNO_WRITE" "$P/resume" start) $(cut -d' ' -f2,3 "$WORK/trace" | tr '\n' ' ')"
		wait_for 10 sh -c "! kill -0 $ASRFS_PID" || GOT="$GOT(alive)"
	fi
	asrfs_kill
	rm -f "$WORK/arm"
	asrfs_start
}
resume_crash BEFORE
got=$GOT
check "killed before its record: resume fails ($got)" test "${got%% *}" != 0
check "its one write is the job's record" test "${got#* }" = "rec_put vaults/asr-vault/jobs/$JOB.json "
# (the task reads Waiting from the record at once; status says `waiting:`
# only once the job has run again and stopped at the action)
check "the unsaved resume: the job waits at the manual action again" wait_for 30 grep -q "^waiting: " "$P/status"
check "... that action" task_is "$JOB" "$MANUAL" Waiting
check "its job InProgress" file_is "$(V)/jobs/$JOB/state" InProgress
resume_crash AFTER
got=$GOT
check "killed after its record: resume fails ($got)" test "${got%% *}" != 0
check "its one write is the job's record" test "${got#* }" = "rec_put vaults/asr-vault/jobs/$JOB.json "
check "the saved resume: the job Succeeded without another" wait_for 30 file_is "$(V)/jobs/$JOB/state" Succeeded
check "its manual action Succeeded" task_is "$JOB" "$MANUAL" Succeeded
check "every item FailedOver" test "$(states)" = "FailedOver FailedOver FailedOver "

# --- the plan after a remount; rmdir
asrfs_stop
asrfs_start || { not_ok "remount"; finish; }
check "the plan is back after a remount" test "$(cat "$P/groups/1/items" "$P/groups/3/post-actions" | tr '\n' ' ')" = "db manual Check the shop's home page "
check "its job link is back" test "$(plan_job)" = "$JOB"
asrfs_stop
echo '{"name": "shop", "groups": [' >"$VREC/recovery-plans/shop.json"
asrfs_start || { not_ok "remount"; finish; }
check "a damaged plan record: state Unknown" file_is "$P/state" Unknown
check "its error says it is damaged" grep -q "damaged" "$P/error"
expect_errno "a damaged plan takes no control: EIO" EIO "$P/commit" start
check "nor an edit (mkdir of a group)" sh -c "! mkdir '$P/groups/1' 2>/dev/null"
check "its bytes were kept aside" test -n "$(entries "$VREC/recovery-plans" | grep 'shop.json.damaged-')"
check "an item's own control works" test "$("$ERRNO_WRITE" "$(V)/items/db/commit" bogus)" = EINVAL
check "rmdir of the damaged plan" rmdir "$P"
check "mkdir it again" mkdir "$P"
check "mkdir groups/2" mkdir "$P/groups/2"
check "rmdir groups/2" rmdir "$P/groups/2"
check "rmdir the plan" rmdir "$P"
check "its record is gone" test ! -e "$VREC/recovery-plans/shop.json"
finish
