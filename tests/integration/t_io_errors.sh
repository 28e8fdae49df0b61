#!/bin/bash
# t_io_errors.sh - the replica's medium fails (EIO on every read and write of
# the replica's file, by an LD_PRELOAD shim): cycles fail and say why,
# reading a point fails with EIO, failover fails and can be retried, nothing
# crashes; once the medium heals, every point reads as before and failover
# works.
. "$(dirname "$0")/lib.sh"
SHIM=$BUILD/tests/eio.so
[ -f "$SHIM" ] || { not_ok "the shim $SHIM is built by make"; finish; }
export LD_PRELOAD=$SHIM ASRFS_EIO_PATH=web01-os-ASRReplica ASRFS_EIO_SWITCH=$WORK/eio
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
asrfs_start || exit 1
unset LD_PRELOAD
create_vm westeurope rg1 web01 web01-os:8M
scribble "$(WD rg1 web01-os)" 128 0
fast_policy 1
protect rg1 web01 || { not_ok "protect"; finish; }
I=$(V)/items/web01
p0=$(latest_point web01)
scribble "$(WD rg1 web01-os)" 32 500
wait_new_point web01 "$p0" 20
fast_policy 3600
sleep 1.5
pts=$(entries "$I/recovery-points" | grep -v latest)
for p in $pts; do sha256sum <"$I/recovery-points/$p/disks/web01-os" >"$WORK/sum.$p"; done

touch "$WORK/eio"
fast_policy 1
scribble "$(WD rg1 web01-os)" 32 900
check "failing cycles make health Critical" wait_for 20 file_is "$I/health" Critical
check "status says why" grep -q "Input/output error" "$I/status"
newest=$(latest_point web01)
got=$(cat "$I/recovery-points/$newest/disks/web01-os" 2>&1 >/dev/null)
check "reading a point through the failing medium is EIO" grep -q "Input/output error" <<<"$got"
check "the daemon is alive" kill -0 "$ASRFS_PID"

rm -f "$WORK/eio"
check "healed: health Normal again" wait_for 30 file_is "$I/health" Normal
fast_policy 3600
sleep 1.5
for p in $pts; do
	if [ -d "$I/recovery-points/$p" ]; then
		check "point $p reads as before" cmp -s "$WORK/sum.$p" <(sha256sum <"$I/recovery-points/$p/disks/web01-os")
	fi
done

# A failover whose point cannot be read fails, and can be retried.
newest=$(latest_point web01)
cp "$I/recovery-points/$newest/disks/web01-os" "$WORK/pt"
touch "$WORK/eio"
expect_errno "failover accepted" 0 "$I/failover" "$newest"
check "failover fails" wait_for 30 sh -c "grep -q Failed '$I/job/state'"
check "the item reads FailoverFailed" file_is "$I/state" FailoverFailed
check "the item can be retried" grep -q "^failover$" "$I/allowed-operations"
check "the daemon is alive" kill -0 "$ASRFS_PID"
rm -f "$WORK/eio"
expect_errno "failover again" 0 "$I/failover" "$newest"
check "failover Succeeded" wait_for 60 file_is "$I/state" FailedOver
check "the failed-over disk is the point" cmp -s "$(ND rg1-asr web01-os)" "$WORK/pt"
finish
