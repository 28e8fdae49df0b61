#!/bin/bash
# run-demo.sh - what `make run` does after building: mount the embedded
# default (two local regions under ./var/state) at ./mnt/asr in the
# foreground, with the sample VMs of scripts/demo-setup.sh, print what to
# try, and unmount cleanly on Ctrl-C.  A second run reuses the demo.
set -u
usage() { echo "usage: run-demo.sh [--help]   (what make run does; Ctrl-C unmounts)"; }
[ $# -eq 0 ] || case $1 in
-h | --help) usage; sed -n '2,5s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "run-demo.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
MNT="$TOP/mnt/asr"
STATE="$TOP/var/state"
ASRFS="$TOP/build/asrfs"
mkdir -p "$MNT" "$STATE"

# A mount left by a crash: clear it first.
if ! stat "$MNT" >/dev/null 2>&1 || grep -q " $MNT fuse" /proc/mounts; then
	echo "clearing a stale mount on $MNT"
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
fi

"$ASRFS" -f --state "$STATE" "$MNT" 2>>"$TOP/var/asrfs.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' INT TERM
for _ in $(seq 1 100); do
	[ -e "$MNT/version" ] && break
	kill -0 $pid 2>/dev/null || { echo "asrfs failed to start:"; tail -5 "$TOP/var/asrfs.log"; exit 1; }
	sleep 0.1
done
if [ ! -e "$STATE/.demo-ready" ]; then
	echo "preparing the demo (sample VMs with ext4 disks) ..."
	if scripts/demo-setup.sh "$MNT" "$TOP/var/demo-build"; then
		touch "$STATE/.demo-ready"
	else
		echo "demo set-up failed; see var/asrfs.log"
	fi
fi
cat <<TXT

asrfs is mounted on $MNT  (log: var/asrfs.log, state: var/state)

Try, in another terminal:
  cd $MNT
  cat README
  ls regions/westeurope/resource-groups/demo-rg/vms
  cat web01/status                      # state, health, RPO, disks
  ls web01/recovery-points              # one point every 30 s
  e2fsck -fn web01/recovery-points/latest/disks/web01-os
  cat vaults/asr-vault/jobs/*/tasks
  echo 60 > vaults/asr-vault/policies/24-hour-retention-policy/crash-consistent-frequency-seconds
  cat metrics/asrfs.prom
  $TOP/scripts/asr-wait.sh $MNT/web01   # progress bar of the running job

Press Ctrl-C here to unmount.
TXT
# wait returns early when a trapped signal arrives: wait until asrfs is gone.
wait $pid
while kill -0 $pid 2>/dev/null; do
	wait $pid
done
echo "asrfs stopped; $MNT unmounted"
exit 0
