#!/bin/bash
# t_protect_once.sh - a disk is protected by at most one item, whichever vault
# or daemon that item belongs to (SPEC section 8).  The disk's own region
# records who protects it (protection/<disk key>.json); enabling a VM that
# another vault protects is EEXIST, and the vault's `error` names that vault
# and item; so is an enable whose replicas would be another item's.  Disable
# and commit remove the records, reprotect moves them to the new layout (and
# is refused while another item protects the disks it would consume), and a
# second daemon (its own state, another vault, the same regions) is refused
# too.
. "$(dirname "$0")/lib.sh"
WE="$STATE/regions/westeurope"
NE="$STATE/regions/northeurope"
two_vaults "$WORK/asrfs.json" "$STATE/regions" vault-a vault-b
asrfs_start --config "$WORK/asrfs.json" || { not_ok "mount"; finish; }
A="$(V vault-a)" B="$(V vault-b)"
rec() { echo "$1/protection/resource-groups/$2/disks/$3.json"; }
owner() { jq -r '"\(.vault)/\(.item)/\(.role)"' "$1" 2>/dev/null; }
enable() { echo "vm=$2 source=westeurope target=northeurope ${3:-}" >"$1/enable-replication"; }
create_vm westeurope rg1 web01 "web01-os:4M,web01-data:4M"
dd if=/dev/urandom of="$(WD rg1 web01-os)" bs=1M count=4 conv=notrunc status=none
echo 1 >"$A/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
echo 1 >"$B/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"

# --- vault-a protects web01; its disks' regions say so
expect_errno "vault-a enables web01" 0 "$A/enable-replication" "vm=rg1/web01 source=westeurope target=northeurope"
check "vault-a: Protected" wait_for 30 file_is "$A/items/web01/state" Protected
check "the source disk's record names vault-a's item" test "$(owner "$(rec "$WE" rg1 web01-os)")" = "vault-a/web01/source"
check "the data disk's too" test "$(owner "$(rec "$WE" rg1 web01-data)")" = "vault-a/web01/source"
check "the replica's record" test "$(owner "$(rec "$NE" rg1-asr web01-os-ASRReplica)")" = "vault-a/web01/replica"

# --- vault-b may not protect it too
expect_errno "vault-b enabling web01: EEXIST" EEXIST "$B/enable-replication" "vm=rg1/web01 source=westeurope target=northeurope"
check "vault-b's error names vault-a" grep -q "vault vault-a" "$B/error"
check "and the item" grep -q "item web01 " "$B/error"
check "vault-b has no item" test -z "$(ls "$B/items")"
check "vault-b started no job" test -z "$(ls "$B/jobs")"
check "the record still names vault-a" test "$(owner "$(rec "$WE" rg1 web01-os)")" = "vault-a/web01/source"

# --- nor write into replicas vault-a owns (another VM, same replica names)
create_vm westeurope rg2 web02 "web01-os:4M"
expect_errno "replicas another item owns: EEXIST" EEXIST "$B/enable-replication" \
	"vm=rg2/web02 source=westeurope target=northeurope target-resource-group=rg1-asr"
check "the error names vault-a's item" grep -q "replica disk rg1-asr/web01-os-ASRReplica.*item web01 of vault vault-a" "$B/error"
check "its source disk is left unclaimed" test ! -e "$(rec "$WE" rg2 web01-os)"
check "vault-a's replica is intact" cmp -s "$(WD rg1 web01-os)" "$(ND rg1-asr web01-os-ASRReplica)"
check "vault-a still Protected" file_is "$A/items/web01/state" Protected

# --- records left behind: one naming a vault no daemon here manages is
# respected; one naming a gone item of a vault this daemon manages is stale
create_vm westeurope rg3 web03 "web03-os:4M"
mkdir -p "$WE/protection/resource-groups/rg3/disks"
echo '{"vault": "vault-elsewhere", "item": "web03"}' >"$(rec "$WE" rg3 web03-os)"
expect_errno "a record of another daemon's vault: EEXIST" EEXIST "$B/enable-replication" \
	"vm=rg3/web03 source=westeurope target=northeurope"
check "naming it" grep -q "item web03 of vault vault-elsewhere" "$B/error"
echo '{"vault": "vault-a", "item": "ghost"}' >"$(rec "$WE" rg3 web03-os)"
expect_errno "a stale record of a managed vault is taken over" 0 "$B/enable-replication" \
	"vm=rg3/web03 source=westeurope target=northeurope"
check "it names vault-b's item now" test "$(owner "$(rec "$WE" rg3 web03-os)")" = "vault-b/web03/source"
check "web03 Protected" wait_for 30 file_is "$B/items/web03/state" Protected

# --- a second daemon, its own state and vault, the same regions
mkdir -p "$WORK/mnt2"
cat >"$WORK/other.json" <<JSON
{"regions": [
   {"name": "westeurope",  "backend": "local", "path": "$WE"},
   {"name": "northeurope", "backend": "local", "path": "$NE"}],
 "vaults": [{"name": "vault-c", "region": "northeurope"}],
 "workers": 2}
JSON
"$ASRFS" -f --state "$WORK/state2" --config "$WORK/other.json" "$WORK/mnt2" >>"$WORK/asrfs2.log" 2>&1 &
PID2=$!
if wait_for 15 test -e "$WORK/mnt2/version"; then
	C="$WORK/mnt2/vaults/vault-c"
	expect_errno "the other daemon's vault: EEXIST" EEXIST "$C/enable-replication" \
		"vm=rg1/web01 source=westeurope target=northeurope"
	check "its error names vault-a and the item" grep -q "item web01 of vault vault-a" "$C/error"
	check "it has no item" test -z "$(ls "$C/items")"
	fusermount3 -u "$WORK/mnt2"
else
	not_ok "the second daemon mounts"
fi
wait "$PID2" 2>/dev/null

# --- disable ends the protection: the records go, vault-b may protect it
echo start >"$A/items/web01/disable"
check "vault-a's item is gone" wait_for 30 test ! -e "$A/items/web01"
check "the source records are gone" test ! -e "$(rec "$WE" rg1 web01-os)" -a ! -e "$(rec "$WE" rg1 web01-data)"
check "the replica record is gone" test ! -e "$(rec "$NE" rg1-asr web01-os-ASRReplica)"
expect_errno "vault-b enables web01 now" 0 "$B/enable-replication" "vm=rg1/web01 source=westeurope target=northeurope"
check "vault-b: Protected" wait_for 30 file_is "$B/items/web01/state" Protected
check "vault-b's replica equals the source" cmp -s "$(WD rg1 web01-os)" "$(ND rg1-asr web01-os-ASRReplica)"
check "the records name vault-b" test "$(owner "$(rec "$WE" rg1 web01-os)")" = "vault-b/web01/source"
expect_errno "and vault-a is refused now" EEXIST "$A/enable-replication" "vm=rg1/web01 source=westeurope target=northeurope"
check "naming vault-b" grep -q "item web01 of vault vault-b" "$A/error"

# --- failover and commit end it; reprotect claims the new layout
echo "latest shutdown=yes" >"$B/items/web01/failover"
check "failed over" wait_for 30 file_is "$B/items/web01/state" FailedOver
check "a failed-over item still protects its disks" test "$(owner "$(rec "$WE" rg1 web01-os)")" = "vault-b/web01/source"
echo start >"$B/items/web01/commit"
check "committed" wait_for 30 file_is "$B/items/web01/state" FailoverCommitted
check "commit removed the source records" test ! -e "$(rec "$WE" rg1 web01-os)"
check "and the replica's" test ! -e "$(rec "$NE" rg1-asr web01-os-ASRReplica)"
# the original VM's disks are free now: vault-a protects them, and then
# vault-b's reprotect, which would consume them, is refused
expect_errno "vault-a protects the original VM now" 0 "$A/enable-replication" \
	"vm=rg1/web01 source=westeurope target=northeurope"
check "vault-a: Protected again" wait_for 30 file_is "$A/items/web01/state" Protected
echo start >"$B/items/web01/reprotect"
check "vault-b's reprotect fails" wait_for 30 file_is "$B/items/web01/state" ReprotectFailed
check "naming vault-a's item" grep -q "item web01 of vault vault-a" "$B/items/web01/error"
check "vault-a's source is untouched" cmp -s "$(WD rg1 web01-os)" "$(ND rg1-asr web01-os-ASRReplica)"
check "no record for the new layout is left" test ! -e "$(rec "$NE" rg1-asr web01-os)"
echo start >"$A/items/web01/disable"
check "vault-a lets it go" wait_for 30 test ! -e "$A/items/web01"
echo start >"$B/items/web01/reprotect"
check "reprotected" wait_for 60 file_is "$B/items/web01/state" Protected
check "the failed-over disk is now the protected source" \
	test "$(owner "$(rec "$NE" rg1-asr web01-os)")" = "vault-b/web01/source"
check "the old primary's -ASRReplica its replica" \
	test "$(owner "$(rec "$WE" rg1 web01-os-ASRReplica)")" = "vault-b/web01/replica"
expect_errno "vault-a cannot protect the failed-over VM's disks" EEXIST "$A/enable-replication" \
	"vm=rg1-asr/web01 source=northeurope target=westeurope"
check "naming vault-b" grep -q "item web01 of vault vault-b" "$A/error"
finish
