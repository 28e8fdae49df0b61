#!/bin/bash
# t_cancel_enable.sh - a cancelled enable-replication leaves nothing half-made
# (SPEC section 8): the job ends Cancelled, the item goes (from the tree, from
# the vault's records and from its disks' protection records), its
# half-copied replica and its replication data go from the target region, a
# remount does not bring any of it back, and the same VM can be enabled
# again, ending Protected with a true replica.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
NE="$STATE/regions/northeurope"
create_vm westeurope rg1 web01 "web01-os:32M"
dd if=/dev/urandom of="$(WD rg1 web01-os)" bs=1M count=32 conv=notrunc status=none
# 2 MiB/s: the first copy takes about 16 s
echo "vm=rg1/web01 source=westeurope target=northeurope bandwidth-limit-bytes-per-second=2097152" \
	>"$(V)/enable-replication"
I="$(V)/items/web01"
check "the initial copy is under way" wait_for 20 sh -c "[ \$(cat '$I/progress') -gt 0 ]"
check "its replica exists" test -e "$(ND rg1-asr web01-os-ASRReplica)"
PREC="$STATE/regions/westeurope/protection/resource-groups/rg1/disks/web01-os.json"
check "the source disk's protection record names it" sh -c "jq -e '.item == \"web01\"' '$PREC' >/dev/null"
job=$(readlink "$I/job"); job=${job##*/}
expect_errno "cancel is accepted" 0 "$I/cancel" "start"
check "the job ends Cancelled" wait_for 15 file_is "$(V)/jobs/$job/state" Cancelled
check "the item is gone" wait_for 5 test ! -e "$I"
check "and from items/" sh -c "! ls '$(V)/items' | grep -qx web01"
check "the replica disk is gone" test ! -e "$(ND rg1-asr web01-os-ASRReplica)"
check "the replica is gone from the target region" test ! -e "$NE/resource-groups/rg1-asr/disks/web01-os-ASRReplica"
check "its replication data is gone" test ! -e "$NE/asr-data/asr-vault/web01"
# the item leaves the tree with its job's end; its record is removed
# right after the job's record is written (docs/DESIGN.md, model_lock)
check "its record is gone" wait_for 5 test ! -e "$NE/vaults/asr-vault/items/web01"
check "its protection records are gone" test ! -e "$PREC" -a \
	! -e "$NE/protection/resource-groups/rg1-asr/disks/web01-os-ASRReplica.json"
check "the source is untouched" test "$(stat -c %s "$(WD rg1 web01-os)")" -eq $((32 << 20))
asrfs_stop
asrfs_start || { not_ok "mount again"; finish; }
check "after a remount the item stays gone" test ! -e "$I"
check "and the job stays Cancelled" file_is "$(V)/jobs/$job/state" Cancelled
check "nothing resumes the copy" sh -c "sleep 1; test ! -e '$(ND rg1-asr web01-os-ASRReplica)'"
# enabling again works from scratch
check "enable again: Protected" protect rg1 web01
check "the new replica equals the source" cmp -s "$(WD rg1 web01-os)" "$(ND rg1-asr web01-os-ASRReplica)"
finish
