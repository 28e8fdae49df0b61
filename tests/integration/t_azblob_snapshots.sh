#!/bin/bash
# t_azblob_snapshots.sh - recovery points on an azblob target region are
# blob snapshots (docs/AZBLOB.md, "Recovery points are snapshots"): the
# catalog is in snapshot mode and the target container holds exactly one
# snapshot per point and disk (listed with include=snapshots, from outside
# asrfs); an old point reads back the bytes it had; a daemon killed (kill
# -9) in the middle of a cycle leaves the catalog marked, and the next
# mount resolves it: cycles commit new points again, every point is kept,
# no garbage snapshot is left and the newest point equals the source (the
# byte-exact restore of the replicas is tests/unit/test_points.c's
# test_crash_rollback [snapshot]; the mark itself is not polled for: the
# next cycle sets it again within milliseconds of clearing it); retention
# deletes the snapshots with the points; failover to an older point gives
# its bytes.  Disks are links (docs/AZBLOB.md): the snapshots are of the
# hidden physical blobs .disks/<id>, which the counts below see.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=azblob
I=$(V)/items/web01
catalog() { az_get northeurope /asr/vaults/asr-vault/items/web01/points.json; }
cycle_marked() { catalog | grep -q '"cycle":true'; }
one_point() { [ "$(npoints)" -eq 1 ]; }
npoints() { entries "$I/recovery-points" | grep -vc '^latest'; }
# two new points: the second one's cycle began after whatever came before
settle() { wait_new_point web01 "$(latest_point web01)" 30 && wait_new_point web01 "$(latest_point web01)" 30; }
# one snapshot per point and disk (2 disks), read while no commit moves it
snaps_match() {
	local n1 s n2
	for _ in $(seq 1 40); do
		n1=$(npoints); s=$(az_snapshot_count northeurope); n2=$(npoints)
		[ -n "$s" ] && [ "$n1" = "$n2" ] && [ "$s" -eq $((n1 * 2)) ] && return 0
		sleep 0.25
	done
	echo "  $s snapshots for $n1 points" >&2
	return 1
}

fast_policy 2
create_vm westeurope rg1 web01 web01-os:4M,web01-data:2M network=vnet1
scribble "$(WD rg1 web01-os)" 256 0
scribble "$(WD rg1 web01-data)" 64 100
check "protect web01" protect rg1 web01
check "the catalog is in snapshot mode" grep -q '"mode":"snapshot"' <(catalog)

# --- points are snapshots; an old one reads back its bytes
scribble "$(WD rg1 web01-os)" 64 0
cp "$(WD rg1 web01-os)" "$WORK/os.A"; cp "$(WD rg1 web01-data)" "$WORK/data.A"
check "points after change A" settle
PA=$(latest_point web01)
check "one blob snapshot per point and disk" snaps_match
# disks are links: every snapshot is of a hidden physical blob (one listing)
snaps_not_physical() {
	az_get northeurope /asr "restype=container&comp=list&include=snapshots" | sed 's/<Blob>/\n/g' |
		grep '<Snapshot>' | grep -vc '<Name>\.disks/'
}
check "the snapshots are of the physical blobs .disks/<id>" test "$(snaps_not_physical)" -eq 0
check "and there are some" test "$(az_snapshot_count northeurope asr .disks/)" -gt 0
scribble "$(WD rg1 web01-os)" 64 200
scribble "$(WD rg1 web01-data)" 16 10
cp "$(WD rg1 web01-os)" "$WORK/os.B"; cp "$(WD rg1 web01-data)" "$WORK/data.B"
check "points after change B" settle
check "old point $PA reads its os bytes" cmp -s "$WORK/os.A" "$I/recovery-points/$PA/disks/web01-os"
check "old point $PA reads its data bytes" cmp -s "$WORK/data.A" "$I/recovery-points/$PA/disks/web01-data"
check "newest point reads the source's bytes" cmp -s "$WORK/os.B" "$I/recovery-points/latest/disks/web01-os"

# --- kill -9 in the middle of a cycle: the next mount restores the replica
ids() { grep -o '"id":"[^"]*"' | cut -d'"' -f4 | tr '\n' ' '; }
caught=0
for _ in 1 2 3 4 5; do
	scribble "$(WD rg1 web01-os)" 1024 0
	if wait_for 20 cycle_marked; then
		az_freeze northeurope # the cycle stops where it is
		asrfs_kill
		az_thaw northeurope
		if cycle_marked; then
			caught=1
			break
		fi
	else
		asrfs_kill
	fi
	asrfs_start --config "$CONF" || break
done
check "a daemon killed while the catalog says a cycle runs" test "$caught" = 1
before=$(catalog | ids)
last=$(catalog | ids | awk '{print $NF}')
check "the catalog still names the points made before the crash" test -n "$last"
asrfs_start --config "$CONF" || { not_ok "mount after kill -9"; finish; }
# The marked cycle is resolved (restored) before any new one commits.
check "a new point after the restart" wait_new_point web01 "$last" 90
after=$(catalog | ids)
check "no point lost or half-made by the crash" test "${after#"$before"}" != "$after" -o "$before" = "$after"
check "no garbage snapshot left by the crash" snaps_match
cp "$(WD rg1 web01-os)" "$WORK/os.C"; cp "$(WD rg1 web01-data)" "$WORK/data.C"
check "cycles go on after the restore" settle
check "the newest point has the write the crash cut short" cmp -s "$WORK/os.C" "$I/recovery-points/latest/disks/web01-os"
check "old point $PA still exact" cmp -s "$WORK/os.A" "$I/recovery-points/$PA/disks/web01-os"
check "replica os = the newest point" cmp -s "$(ND rg1-asr web01-os-ASRReplica)" "$I/recovery-points/latest/disks/web01-os"

# --- retention deletes the snapshots with the points
echo 0 >"$(V)/policies/24-hour-retention-policy/recovery-point-retention-hours"
check "retention 0 leaves the newest point only" wait_for 30 one_point
check "and its two snapshots only" snaps_match
echo 24 >"$(V)/policies/24-hour-retention-policy/recovery-point-retention-hours"

# --- failover to an older point
scribble "$(WD rg1 web01-data)" 32 0
cp "$(WD rg1 web01-os)" "$WORK/os.D"; cp "$(WD rg1 web01-data)" "$WORK/data.D"
check "points after change D" settle
PD=$(latest_point web01)
scribble "$(WD rg1 web01-os)" 32 500
check "points after change E" settle
echo "$PD shutdown=yes" >"$I/failover"
check "failover to $PD reaches FailedOver" wait_for 60 file_is "$I/state" FailedOver
check "failover job Succeeded" file_is "$I/job/state" Succeeded
check "failed-over os disk = point $PD" cmp -s "$WORK/os.D" "$(ND rg1-asr web01-os)"
check "failed-over data disk = point $PD" cmp -s "$WORK/data.D" "$(ND rg1-asr web01-data)"
finish
