#!/bin/bash
# t_hook_timeout.sh - hooks have a time limit (SPEC section 7): a `freeze`
# hook still running after `hook-timeout-seconds` is killed, its whole
# process group with it; the point is crash-consistent and `status` says why.
# A hook never delays a failover: a failover asked for while a cycle waits on
# a freeze that never returns starts at once, and the freeze is killed; nor
# does it hold up an unmount.
# A bad hook-timeout-seconds in the config is refused at start.
. "$(dirname "$0")/lib.sh"
HOOKS="$WORK/hooks"
mkdir -p "$HOOKS"
# freeze: records its pid and its child's, then never returns
cat >"$HOOKS/freeze" <<SH
#!/bin/sh
echo "freeze \$1 \$2" >>"$WORK/hooks.log"
sleep 1000 &
echo \$! >"$WORK/freeze-child.pid"
echo \$\$ >"$WORK/freeze.pid"
wait
SH
cat >"$HOOKS/thaw" <<SH
#!/bin/sh
echo "thaw \$1 \$2" >>"$WORK/hooks.log"
SH
chmod +x "$HOOKS/freeze" "$HOOKS/thaw"
config() {
	cat >"$WORK/asrfs.json" <<JSON
{"regions": [
   {"name": "westeurope",  "backend": "local", "path": "$STATE/regions/westeurope"},
   {"name": "northeurope", "backend": "local", "path": "$STATE/regions/northeurope"}],
 "vaults": [{"name": "asr-vault", "region": "northeurope"}],
 "workers": 2, "hooks": "$HOOKS", "hook-timeout-seconds": $1}
JSON
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# --- a bad value is refused when the daemon starts
config 0
if timeout 10 "$ASRFS" -f --state "$STATE" --config "$WORK/asrfs.json" "$MNT" >"$WORK/bad.out" 2>&1; then
	not_ok "hook-timeout-seconds 0 is refused"
else
	check "hook-timeout-seconds 0 is refused" grep -q "hook-timeout-seconds" "$WORK/bad.out"
fi

# --- the time limit: a freeze that never returns is killed after 2 s
config 2
asrfs_start --config "$WORK/asrfs.json" || { not_ok "mount"; finish; }
I="$(V)/items/app01"
create_vm westeurope rg1 app01 "app01-os:4M"
fast_policy 1
echo 1 >"$(V)/policies/24-hour-retention-policy/app-consistent-frequency-minutes"
check "protected" protect rg1 app01
check "the freeze hook ran" wait_for 10 test -s "$WORK/freeze.pid"
# every cycle tries again: keep the first one's pids
hook=$(cat "$WORK/freeze.pid") child=$(cat "$WORK/freeze-child.pid")
check "status says the freeze hook was killed" wait_for 15 grep -q "^hooks: freeze hook still running after 2 s" "$I/status"
check "the hook is gone" wait_for 5 gone "$hook"
check "its child too (the whole process group)" wait_for 5 gone "$child"
check "thaw ran after the killed freeze" grep -qx "thaw asr-vault app01" "$WORK/hooks.log"
p=$(sed -n 's/^hooks: .*point \([^ ]*\) is crash-consistent$/\1/p' "$I/status")
check "the point it names exists" test -n "$p" -a -d "$I/recovery-points/$p"
check "and is crash-consistent" file_is "$I/recovery-points/$p/type" crash-consistent
check "no app-consistent point" test ! -e "$I/recovery-points/latest-app-consistent"
check "status.json carries it" sh -c "jq -e '.hooks | test(\"freeze hook still running\")' '$I/status.json' >/dev/null"
check "points keep coming" wait_new_point app01 "$p" 15
asrfs_stop

# --- an unmount does not wait behind a freeze (limit 60 s)
config 60
rm -f "$WORK/freeze.pid" "$WORK/freeze-child.pid"
asrfs_start --config "$WORK/asrfs.json" || { not_ok "mount again"; finish; }
check "a cycle waits in the freeze hook" wait_for 15 test -s "$WORK/freeze.pid"
hook=$(cat "$WORK/freeze.pid")
t0=$SECONDS
asrfs_stop
check "the unmount took under 10 s" test $((SECONDS - t0)) -lt 10
check "the freeze was killed" wait_for 5 gone "$hook"

# --- a failover does not wait behind a freeze (limit 60 s)
rm -f "$WORK/freeze.pid" "$WORK/freeze-child.pid"
asrfs_start --config "$WORK/asrfs.json" || { not_ok "mount a third time"; finish; }
check "a cycle waits in the freeze hook" wait_for 15 test -s "$WORK/freeze.pid"
hook=$(cat "$WORK/freeze.pid") child=$(cat "$WORK/freeze-child.pid")
t0=$SECONDS
echo "latest" >"$I/failover"
check "the failover succeeds well within the hook's limit" wait_for 15 file_is "$I/state" FailedOver
check "in under 15 s" test $((SECONDS - t0)) -lt 15
check "its job succeeded" file_is "$I/job/state" Succeeded
check "the freeze was killed" wait_for 5 gone "$hook"
check "with its child" wait_for 5 gone "$child"
finish
