#!/bin/bash
# t_azblob_reprotect_map.sh - a reprotect into an azblob region trusts the
# last cycle's hash map instead of reading a disk only when the disk is
# provably unchanged since that cycle (its version token, the blob's ETag,
# is the one recorded with the map), and reads it otherwise.
#
# westeurope (the primary) is azblob, northeurope local.  After failover and
# commit, the old primary's data disk is written through the mount (its
# version changes) and its OS disk is left alone.  Reprotect must then use
# the map for the OS disk only, and both replicas must equal the recovery
# side byte for byte: a map trusted wrongly would leave the written pages
# stale and cmp would fail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_mount westeurope=azblob northeurope=local
I=$(V)/items/web01
wait_state() { wait_for "${2:-60}" file_is "$I/state" "$1"; }
stand_in() { grep -c "replica disk $1 is as the last cycle read it" "$LOG"; }

fast_policy 2
create_vm westeurope rg1 web01 web01-os:8M,web01-data:4M network=vnet1
scribble "$(WD rg1 web01-os)" 512 0
scribble "$(WD rg1 web01-data)" 256 0
check "protect web01" protect rg1 web01
check "a cycle after the first point" wait_new_point web01 "$(latest_point web01)"

echo "latest shutdown=yes" >"$I/failover"
check "failover reaches FailedOver" wait_state FailedOver
echo start >"$I/commit"
check "commit reaches FailoverCommitted" wait_state FailoverCommitted

# The old primary's data disk changes after the last cycle; its OS disk not.
scribble "$(WD rg1 web01-data)" 3 40
scribble "$(ND rg1-asr web01-os)" 20 100
scribble "$(ND rg1-asr web01-data)" 10 200
cp "$(ND rg1-asr web01-os)" "$WORK/os.1"; cp "$(ND rg1-asr web01-data)" "$WORK/data.1"
echo start >"$I/reprotect"
check "reprotect reaches Protected" wait_state Protected 90
check "reprotect job Succeeded" file_is "$I/job/state" Succeeded
check "the unchanged OS disk was not read: its map stood in" test "$(stand_in web01-os-ASRReplica)" -eq 1
check "the written data disk was read, not trusted" test "$(stand_in web01-data-ASRReplica)" -eq 0
check "replica os in westeurope = recovery VM's disk" cmp -s "$WORK/os.1" "$(WD rg1 web01-os-ASRReplica)"
check "replica data in westeurope = recovery VM's disk" cmp -s "$WORK/data.1" "$(WD rg1 web01-data-ASRReplica)"
sent=$(cat "$I/job/bytes-transferred")
check "only the changed pages crossed ($sent bytes)" test "$sent" -eq $(((20 + 10 + 3) * 4096))

# A reprotect that moved the old primary's disk (a rename; the medium keeps
# the original bytes in a snapshot) and is cancelled while it synchronizes
# gives the original back untouched.
K=$(V)/items/web02
task_running() { grep -q "^InProgress .* $2\$" "$1/job/tasks"; }
create_vm westeurope rg2 web02 web02-os:32M network=vnet2
scribble "$(WD rg2 web02-os)" 4096 0
check "protect web02" protect rg2 web02
echo "latest shutdown=yes" >"$K/failover"
check "web02 failed over" wait_for 60 file_is "$K/state" FailedOver
echo start >"$K/commit"
check "web02 committed" wait_for 60 file_is "$K/state" FailoverCommitted
scribble "$(ND rg2-asr web02-os)" 4096 0
cp "$(WD rg2 web02-os)" "$WORK/orig2"
echo 2000000 >"$K/settings/bandwidth-limit-bytes-per-second"
echo start >"$K/reprotect"
check "web02: reprotect synchronizes" wait_for 30 task_running "$K" Synchronizing
check "web02: the original was moved, not copied" test ! -e "$(WD rg2 web02-os)"
echo start >"$K/cancel"
check "web02: the job ends Cancelled" wait_for 30 file_is "$K/job/state" Cancelled
check "web02: state back to FailoverCommitted" file_is "$K/state" FailoverCommitted
check "web02: no replica left in the old primary" test ! -e "$(WD rg2 web02-os-ASRReplica)"
check "web02: the original is back, bytes untouched" cmp -s "$WORK/orig2" "$(WD rg2 web02-os)"
finish
