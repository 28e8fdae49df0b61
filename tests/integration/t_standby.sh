#!/bin/bash
# t_standby.sh - a standby daemon (a second mount of a vault another daemon
# manages, read-only) runs for days: it re-reads the point catalogs every
# half minute, and must not keep the chains each re-read retires (metrics:
# asrfs_point_chains_open), while a point image it has open keeps reading
# its bytes across those re-reads (the chain it was opened on is pinned),
# and a point read while the manager's cycles overwrite the replica still
# gives that point's bytes.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
I=$(V)/items/web01
fast_policy 2
create_vm westeurope rg1 web01 web01-os:4M
dd if=/dev/urandom of="$MNT/regions/westeurope/resource-groups/rg1/disks/web01-os" bs=4k count=512 \
	conv=notrunc status=none
check "protect web01" protect rg1 web01

mkdir -p "$WORK/mnt2"
"$ASRFS" -f --state "$STATE" "$WORK/mnt2" >>"$WORK/second.log" 2>&1 &
second=$!
check "standby mounted" wait_for 10 test -e "$WORK/mnt2/version"
check "standby is read-only" file_is "$WORK/mnt2/vaults/asr-vault/mode" read-only
I2=$WORK/mnt2/vaults/asr-vault/items/web01

# Points come from the manager with changes for a while, then without.
for i in 1 2 3 4 5; do
	dd if=/dev/urandom of="$MNT/regions/westeurope/resource-groups/rg1/disks/web01-os" bs=4k count=8 \
		seek=$((i * 50)) conv=notrunc status=none
	sleep 1
done
wait_new_point web01 "$(latest_point web01)" 30
p=$(latest_point web01)
check "the standby lists the newest point" wait_for 40 test -e "$I2/recovery-points/$p/disks/web01-os"
check "the standby's point image = the manager's" cmp -s "$I2/recovery-points/$p/disks/web01-os" \
	"$I/recovery-points/$p/disks/web01-os"
cp "$I2/recovery-points/$p/disks/web01-os" "$WORK/p.img"
exec 3<"$I2/recovery-points/$p/disks/web01-os" # pins the chain it was opened on
chains() { sed -n 's/^asrfs_point_chains_open //p' "$WORK/mnt2/metrics/asrfs.prom"; }
readall() { ls "$I2/recovery-points" >/dev/null; cat "$I2/recovery-points/$(readlink "$I2/recovery-points/latest")/disks/web01-os" >/dev/null; }

sleep 35 # past one re-read of the catalogs (every 30 s)
readall
c1=$(chains)
for i in 1 2 3 4 5 6; do sleep 10; readall; done # two more re-reads
c2=$(chains)
check "the standby holds a bounded number of chains across re-reads ($c1 then $c2)" \
	test -n "$c2" -a "$c2" -le "$c1" -a "$c2" -le 2
check "a point image open across re-reads still reads its bytes" cmp -s "$WORK/p.img" - <&3
exec 3<&-
c3=$(chains)
check "closing it lets its retired chain go ($c3)" wait_for 45 test "$(chains)" -le 1

# While the manager's cycles overwrite the replica, a point read on the
# standby still gives that point's bytes (its chain is re-opened when the
# manager's undo data or catalog moved under it).
p=$(latest_point web01)
check "the standby sees the point" wait_for 40 test -e "$I2/recovery-points/$p/disks/web01-os"
exec 4<"$I2/recovery-points/$p/disks/web01-os"
for i in 1 2 3 4 5 6; do
	dd if=/dev/urandom of="$MNT/regions/westeurope/resource-groups/rg1/disks/web01-os" bs=4k count=64 \
		seek=$((i * 100)) conv=notrunc status=none
	sleep 1
done
wait_new_point web01 "$(latest_point web01)" 30
check "a standby point image read while cycles ran = the manager's" \
	cmp -s "$I/recovery-points/$p/disks/web01-os" - <&4
exec 4<&-
check "a fresh standby read of it = the manager's" \
	cmp -s "$I/recovery-points/$p/disks/web01-os" "$I2/recovery-points/$p/disks/web01-os"
fusermount3 -u "$WORK/mnt2"; wait $second
check "standby stopped cleanly" test $? -eq 0
finish
