#!/bin/bash
# t_region_gone.sh - an item whose region is no longer in the config: its
# operations are refused or fail with a reason, the daemon never crashes.
. "$(dirname "$0")/lib.sh"
conf() {
	local regions='{"name":"westeurope","backend":"local","path":"'$STATE'/regions/westeurope"},
	   {"name":"northeurope","backend":"local","path":"'$STATE'/regions/northeurope"}'
	[ "$1" = 3 ] && regions="$regions"',{"name":"eastus","backend":"local","path":"'$STATE'/regions/eastus"}'
	echo '{"regions":['"$regions"'],"vaults":[{"name":"asr-vault","region":"westeurope"}]}' >"$WORK/conf$1.json"
}
conf 3; conf 2
asrfs_start --config "$WORK/conf3.json" || exit 1
create_vm northeurope rg1 app01 app01-os:4M
scribble "$(ND rg1 app01-os)" 16 0
echo "vm=rg1/app01 source=northeurope target=eastus" >"$(V)/enable-replication"
check "protected into eastus" wait_for 60 file_is "$(V)/items/app01/state" Protected
asrfs_stop
asrfs_start --config "$WORK/conf2.json" || { not_ok "remount without eastus"; finish; }
I=$(V)/items/app01
check "the item is still listed" test -d "$I"
sleep 3 # a few cycles' worth of the scheduler
check "daemon alive after cycles were due" kill -0 "$ASRFS_PID"
check "status names the missing region" grep -q "eastus is not in the configuration" "$I/status"
check "health Critical" file_is "$I/health" Critical
expect_errno "resync refused: region unreachable" EHOSTUNREACH "$I/resync" start
check "daemon alive after resync" kill -0 "$ASRFS_PID"
expect_errno "disable with the target region gone" 0 "$I/disable" start
check "disable waits, naming the region" wait_for 20 grep -q "eastus" "$I/error"
check "daemon alive after disable" kill -0 "$ASRFS_PID"
finish
