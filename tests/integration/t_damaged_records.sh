#!/bin/bash
# t_damaged_records.sh - issue 10 item 5: a truncated or corrupted record
# (vault.json, item.json, a VM record, a job record, points.json) is
# reported (error, log, health), kept aside as <name>.damaged-<UTC time>,
# never overwritten, and never blocks a failover to a point whose data is
# intact; job ids are never reused.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
NS="$STATE/regions/northeurope"
WS="$STATE/regions/westeurope"
VS="$NS/vaults/asr-vault"
I="$(V)/items/web01"
A="$(V)/items/app01"

create_vm westeurope rg1 web01 "web01-os:8M"
create_vm westeurope rg1 app01 "app01-os:4M"
create_vm westeurope rg1 db01 "db01-os:4M"
create_vm westeurope rg1 ops01 "ops01-os:4M"
scribble "$(WD rg1 web01-os)" 512 0
fast_policy 2
mkdir "$(V)/policies/p1"
echo northeurope/vnet9 >"$(V)/network-mappings/westeurope/vnet1"
protect rg1 web01 || not_ok "web01 protected"
protect rg1 app01 || not_ok "app01 protected"
protect rg1 ops01 || not_ok "ops01 protected"
p1=$(latest_point web01)
cp "$I/recovery-points/$p1/disks/web01-os" "$WORK/p1.img"
# a later point with other bytes, so failing over to p1 means something
scribble "$(WD rg1 web01-os)" 64 100
wait_new_point web01 "$p1" || not_ok "a second point"
asrfs_stop

enable_job=$(entries "$VS/jobs" | grep enable-replication-web01)
# Damage one record of each kind: truncate or corrupt.
truncate -s 37 "$VS/vault.json"
truncate -s 11 "$VS/items/app01/item.json"
printf '\x00\x01garbage' | dd of="$VS/items/web01/points.json" bs=1 seek=5 conv=notrunc status=none
truncate -s 20 "$VS/jobs/$enable_job"
echo '{"name": "db01", "disks": 7' >"$WS/resource-groups/rg1/vms/db01.json"
vault_sum=$(sha256sum <"$VS/vault.json")
item_sum=$(sha256sum <"$VS/items/app01/item.json")
points_bad=$(sha256sum <"$VS/items/web01/points.json")
# ops01: its catalog and the catalog's copy both damaged
truncate -s 9 "$VS/items/ops01/points.json" "$VS/items/ops01/points.json.copy"
ops_sum=$(cat "$VS/items/ops01/points.json"* | sha256sum)

asrfs_start || { not_ok "mount with damaged records"; finish; }

# VM record: moved aside, logged, reported in the region's error.
check "db01's record is logged as damaged" grep -q "vms/db01.json is damaged" "$LOG"
check "the region's error says so" grep -q "db01.json is damaged" "$(R westeurope)/error"
check "db01.json kept aside" sh -c "ls '$WS/resource-groups/rg1/vms' | grep -q '^db01.json.damaged-20'"

# vault.json: reported, kept, never rewritten; its changes refused.
check "vault error names the damaged vault.json" grep -q "vault.json is damaged" "$(V)/error"
check "the damage is logged" grep -q "vaults/asr-vault/vault.json is damaged" "$LOG"
check "vault.json kept aside" sh -c "ls '$VS' | grep -q '^vault.json.damaged-20'"
check "the copy holds the damaged bytes" sh -c "cmp -s '$VS/vault.json' '$VS'/vault.json.damaged-*"
mkdir "$(V)/policies/p2" 2>"$WORK/mkdir.err"
check "mkdir policies/p2 refused with EIO" grep -q "Input/output error" "$WORK/mkdir.err"
check "p2 not listed" test ! -e "$(V)/policies/p2"
create_vm westeurope rg1 new01 "new01-os:4M"
expect_errno "enable-replication refused with EIO" EIO "$(V)/enable-replication" \
	"vm=rg1/new01 source=westeurope target=northeurope"
check "no item new01" test ! -e "$(V)/items/new01"
check "vault.json not overwritten" test "$(sha256sum <"$VS/vault.json")" = "$vault_sum"

# item.json: the item stays in the tree and the metrics, Critical, refused.
check "app01 still listed" test -d "$A"
check "app01 health Critical" file_is "$A/health" Critical
check "app01 error names item.json" grep -q "app01/item.json is damaged" "$A/error"
check "app01 in the metrics" grep -q 'item="app01"' "$MNT/metrics/asrfs.prom"
expect_errno "app01 controls refused with EIO" EIO "$A/resync" start
expect_errno "app01 settings refused with EIO" EIO "$A/settings/bandwidth-limit-bytes-per-second" 1000
check "item.json kept aside" sh -c "ls '$VS/items/app01' | grep -q '^item.json.damaged-20'"
check "item.json not overwritten" test "$(sha256sum <"$VS/items/app01/item.json")" = "$item_sum"

# job record: kept aside; the item's job link still leads to a job that says why.
check "the job record kept aside" sh -c "ls '$VS/jobs' | grep -q '^$enable_job.damaged-20'"
check "the job shows as Failed" file_is "$(V)/jobs/${enable_job%.json}/state" Failed
check "its error names the damage" grep -q "is damaged" "$(V)/jobs/${enable_job%.json}/error"

# points.json: restored from its copy; failover to p1 is byte-equal.
check "web01's error names the catalog" wait_for 10 grep -q "catalog.*damaged" "$I/error"
check "the damaged catalog kept aside" sh -c "ls '$VS/items/web01' | grep -q '^points.json.damaged-20'"
check "the kept catalog holds the damaged bytes" \
	sh -c "test \"\$(sha256sum <\$(ls -d '$VS/items/web01'/points.json.damaged-* | head -1))\" = '$points_bad'"
check "p1 still listed" test -d "$I/recovery-points/$p1"
expect_errno "failover to p1 accepted" 0 "$I/failover" "$p1"
check "failed over" wait_for 60 file_is "$I/state" FailedOver
check "failed-over disk equals p1" cmp -s "$(ND rg1-asr web01-os)" "$WORK/p1.img"
job=$(readlink "$I/job")
check "the failover job takes the next unused id" sh -c "case '$job' in */000004-failover-web01) ;; *) exit 1 ;; esac"
check "the failover job's record is new" test -e "$VS/jobs/${job##*/}.json"
check "the damaged job's copy is intact" sh -c "ls '$VS/jobs' | grep -q '^$enable_job.damaged-20'"

# Both ops01's catalog and its copy damaged: said, Critical, nothing rewritten.
O="$(V)/items/ops01"
check "ops01's error says both are damaged" wait_for 10 grep -q "damaged too" "$O/error"
check "ops01 health Critical" wait_for 10 file_is "$O/health" Critical
check "ops01's catalogs not rewritten" test "$(cat "$VS/items/ops01/points.json"* | sha256sum)" = "$ops_sum"

# Mounting again finds the same damage: no second copy, still not rewritten.
asrfs_stop
sleep 1
asrfs_start || not_ok "mount again"
check "one copy of vault.json, not two" test "$(entries "$VS" | grep -c '^vault.json.damaged-')" -eq 1
check "one copy of item.json, not two" test "$(entries "$VS/items/app01" | grep -c '^item.json.damaged-')" -eq 1
check "vault.json still not overwritten" test "$(sha256sum <"$VS/vault.json")" = "$vault_sum"
check "app01 still listed and Critical" file_is "$A/health" Critical

# A well-formed item.json naming a state SPEC 7 does not have is damaged
# too: shown Unknown, Critical, refused, its bytes kept.
asrfs_stop
jq -c '.state = "Bogus"' "$VS/items/ops01/item.json" >"$WORK/ops01.json" && cat "$WORK/ops01.json" >"$VS/items/ops01/item.json"
bogus_sum=$(sha256sum <"$VS/items/ops01/item.json")
asrfs_start || not_ok "mount with a bogus state"
check "ops01 shows state Unknown" file_is "$O/state" Unknown
check "ops01 health Critical" file_is "$O/health" Critical
check "ops01 error names item.json" grep -q "ops01/item.json is damaged" "$O/error"
expect_errno "ops01 controls refused with EIO" EIO "$O/verify" start
check "ops01's item.json not overwritten" test "$(sha256sum <"$VS/items/ops01/item.json")" = "$bogus_sum"
finish
