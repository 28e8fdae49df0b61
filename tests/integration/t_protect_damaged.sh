#!/bin/bash
# t_protect_damaged.sh - an item whose record is damaged still protects its
# disks: its layout is unknown, so its protection records are never taken
# for stale, and another vault's enable of the same VM is EEXIST.
. "$(dirname "$0")/lib.sh"
two_vaults "$WORK/asrfs.json" "$STATE/regions" vault-a vault-b
asrfs_start --config "$WORK/asrfs.json" || { not_ok "mount"; finish; }
A="$(V vault-a)" B="$(V vault-b)"
create_vm westeurope rg1 web01 web01-os:4M
scribble "$(WD rg1 web01-os)" 16 0
echo "vm=rg1/web01 source=westeurope target=northeurope" >"$A/enable-replication"
check "vault-a protects web01" wait_for 60 file_is "$A/items/web01/state" Protected
asrfs_stop
rec="$STATE/regions/northeurope/vaults/vault-a/items/web01/item.json"
head -c 40 "$rec" >"$WORK/cut" && cp "$WORK/cut" "$rec"
asrfs_start --config "$WORK/asrfs.json" || { not_ok "remount"; finish; }
check "the damaged item is reported" grep -q "damaged" "$A/items/web01/error"
expect_errno "vault-b cannot protect the same VM: EEXIST" EEXIST "$B/enable-replication" \
	"vm=rg1/web01 source=westeurope target=northeurope"
check "vault-b's error names vault-a" grep -q "vault-a" "$B/error"
check "vault-b has no item" test ! -e "$B/items/web01"
finish
