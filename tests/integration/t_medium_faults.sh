#!/bin/bash
# t_medium_faults.sh - issue 10 item 11 (first half): a region on a small
# loop-mounted ext4 that fills up, then turns read-only.  Every refusal gives
# the SPEC's errno and a message, changes nothing in memory that is not on
# the medium, overwrites no record; disable still frees space on a full
# region; one repeated failure does not flood the log; a read-only region
# reads "unavailable: <reason>"; a crashed writer's .tmp.* records are
# collected when the region is opened, and nothing else is.
. "$(dirname "$0")/lib.sh"
LO="$WORK/lo"
mkdir -p "$LO"
dd if=/dev/zero of="$WORK/img" bs=1M count=48 status=none
# no blocks reserved for root and no delayed allocation: full means full
if ! mkfs.ext4 -q -F -m 0 "$WORK/img" >/dev/null 2>&1 || ! mount -o loop,nodelalloc "$WORK/img" "$LO" 2>/dev/null; then
	skip "loop devices are unavailable here"
	finish
fi
cleanup_loop() { umount "$LO" 2>/dev/null || umount -l "$LO" 2>/dev/null; }
trap 'asrfs_stop >/dev/null 2>&1; cleanup_loop; rm -rf "$WORK"' INT TERM
NS="$LO/northeurope"
VS="$NS/vaults/asr-vault"
I="$(V)/items/web01"
cat >"$WORK/conf.json" <<JSON
{"regions": [
   {"name": "westeurope",  "backend": "local", "path": "$STATE/regions/westeurope"},
   {"name": "northeurope", "backend": "local", "path": "$NS"}],
 "vaults": [{"name": "asr-vault", "region": "northeurope"}],
 "workers": 2}
JSON
records_sum() { find "$NS" -name '*.json' -type f | sort | xargs sha256sum; }
jobs_on_disk() { ls "$VS/jobs"; }

asrfs_start --config "$WORK/conf.json" || { not_ok "mount"; cleanup_loop; finish; }
create_vm westeurope rg1 web01 "web01-os:8M"
scribble "$(WD rg1 web01-os)" 256 0
fast_policy 1
protect rg1 web01 || not_ok "web01 protected"

# EFBIG on a 16T disk: nothing of the VM is left behind.
expect_errno "create-vm with a 16T disk: EFBIG" EFBIG "$(R northeurope)/create-vm" \
	"name=big01 resource-group=rgbig disks=d1:1M,d2:16T availability-set=as1"
check "its error says why" grep -q "File too large" "$(R northeurope)/error"
check "no resource group left in the tree" test ! -e "$(R northeurope)/resource-groups/rgbig"
check "nor on the medium" test ! -e "$NS/resource-groups/rgbig"
create_vm northeurope rgx vmx "vmx-os:1M" network=netx
expect_errno "in an existing group too" EFBIG "$(R northeurope)/create-vm" \
	"name=big02 resource-group=rgx disks=d1:1M,d2:16T network=net2 availability-set=as2"
check "no network left behind" test ! -e "$(R northeurope)/resource-groups/rgx/networks/net2"
check "no availability set left behind" test ! -e "$(R northeurope)/resource-groups/rgx/availability-sets/as2"
check "no disk left behind" test ! -e "$(R northeurope)/resource-groups/rgx/disks/d1"
asrfs_stop

# Temporaries a crashed writer left, and files that only look like them.
sh -c 'exit 0' & wait $!
dead=$!
printf 'x' >"$VS/.tmp.$dead.7"
printf 'x' >"$VS/items/web01/.tmp.$dead.8"
printf 'x' >"$VS/.tmp.$$.9"       # a live process's: not ours to take
printf 'x' >"$VS/.tmp.$dead.x"    # not the writer's pattern
printf 'x' >"$VS/tmp.$dead.1"
asrfs_start --config "$WORK/conf.json" || { not_ok "remount"; cleanup_loop; finish; }
check "a crashed writer's temporaries are collected" test ! -e "$VS/.tmp.$dead.7" -a ! -e "$VS/items/web01/.tmp.$dead.8"
check "a live process's temporary is kept" test -e "$VS/.tmp.$$.9"
check "names outside the pattern are kept" test -e "$VS/.tmp.$dead.x" -a -e "$VS/tmp.$dead.1"
wait_for 20 file_is "$I/state" Protected
# Fill the region; again after the cycles' failures gave back what they had.
avail() { df --output=avail -B1 "$LO" | tail -1; }
fill() {
	local i
	for i in 1 2 3 4; do
		dd if=/dev/zero of="$LO/filler.$i.$RANDOM" bs=1k status=none 2>/dev/null
		sync
		sleep 0.5
	done
}
fill
check "the region is full" test "$(avail)" -lt 65536
before=$(records_sum)
jobs_before=$(jobs_on_disk)

mkdir "$(V)/policies/p2" 2>"$WORK/mkdir.err"
check "mkdir policies/p2: ENOSPC" grep -q "No space left on device" "$WORK/mkdir.err"
check "p2 is not listed" test ! -e "$(V)/policies/p2"
expect_errno "a bandwidth limit: ENOSPC" ENOSPC "$I/settings/bandwidth-limit-bytes-per-second" 1000
check "the refused limit does not show" file_is "$I/settings/bandwidth-limit-bytes-per-second" 0
expect_errno "a job submission: ENOSPC" ENOSPC "$I/resync" start
expect_errno "another: ENOSPC" ENOSPC "$I/test-failover" latest
check "refused jobs made no job" test "$(jobs_on_disk)" = "$jobs_before"
check "web01 still Protected" file_is "$I/state" Protected
check "its error says why" grep -q "No space left on device" "$I/error"
# a script that retries a refused write must not flood the log
n0=$(wc -l <"$LOG")
for i in $(seq 1 20); do
	"$ERRNO_WRITE" "$I/settings/bandwidth-limit-bytes-per-second" 1000 >/dev/null
	mkdir "$(V)/policies/p2" 2>/dev/null
	sleep 0.1
done
n1=$(wc -l <"$LOG")
check "40 refusals in 2 s log a few lines ($((n1 - n0)))" test $((n1 - n0)) -le 6
check "no record changed" test "$(records_sum)" = "$before"

# disable still frees space on the full region
full=$(avail)
expect_errno "disable on a full region: accepted" 0 "$I/disable" start
check "disable finished" wait_for 30 test ! -e "$I"
check "the replica is gone" test ! -e "$NS/resource-groups/rg1-asr/disks/web01-os-ASRReplica"
check "space was freed" test "$(avail)" -gt $((full + 500000))
djob=$(entries "$(V)/jobs" | grep disable-replication-web01)
check "the disable job took the next number ($djob)" test "${djob%%-*}" = 000002
rm -f "$LO"/filler.*
echo 7 >"$(V)/policies/24-hour-retention-policy/recovery-point-retention-hours" || not_ok "a vault write"
check "a later vault write does not save p2" sh -c "! grep -q '\"p2\"' '$VS/vault.json'"

# A region that turns read-only (remounted while no daemon holds it open)
asrfs_stop
mount -o remount,ro "$LO" || not_ok "remount read-only"
asrfs_start --config "$WORK/conf.json" || not_ok "mount with a read-only region"
check "a read-only region reads unavailable" grep -q "^unavailable: .*read-only" "$(R northeurope)/status"
mount -o remount,rw "$LO" || not_ok "remount read-write"
check "and available once writable again" wait_for 10 file_is "$(R northeurope)/status" available
asrfs_stop
cleanup_loop
finish
