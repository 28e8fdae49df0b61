#!/bin/bash
# scale-tree.sh - build, and measure, a vault of many replicated items.
#
#   scripts/scale-tree.sh build DIR [N]   N items (default 1000) of two sparse
#                                         1 GiB disks, default policy, in DIR
#   scripts/scale-tree.sh measure DIR     mount DIR's state again and print:
#                                         mount seconds, best-of-3 seconds of
#                                         `cat items/*/state`, daemon CPU % of
#                                         a core over 20 s idle, resident KiB
#
# The tree is kept in DIR so it can be measured again after a change; the
# build goes through the mount (create-vm, enable-replication) as an
# operator's script would, 16 writers at a time.  Needs build/asrfs.
set -eu
usage() { echo "usage: scale-tree.sh build DIR [N] | measure DIR   (ASRFS=path/to/asrfs to pick a binary)"; }
case ${1:-} in
-h | --help) usage; exit 0 ;;
build | measure) [ $# -ge 2 ] || { usage >&2; exit 2; } ;;
*) usage >&2; exit 2 ;;
esac
TOP=$(cd "$(dirname "$0")/.." && pwd)
ASRFS=${ASRFS:-$TOP/build/asrfs}
cmd=$1
DIR=$2
N=${3:-1000}
MNT=$DIR/mnt
STATE=$DIR/state
V=$MNT/vaults/asr-vault
PID=

start() {
	local t0
	t0=$(date +%s.%N)
	"$ASRFS" -f --state "$STATE" "$MNT" >>"$DIR/asrfs.log" 2>&1 &
	PID=$!
	while ! [ -e "$MNT/version" ]; do
		kill -0 "$PID" || { tail "$DIR/asrfs.log"; exit 1; }
		sleep 0.01
	done
	MOUNT_S=$(echo "$(date +%s.%N) - $t0" | bc)
}

stop() {
	fusermount3 -u "$MNT" 2>/dev/null || kill "$PID"
	wait "$PID" 2>/dev/null || true
}

# one VM per item; a resource group holds 100 of them
one() {
	local i=$1 name rg
	name=$(printf 'vm%04d' "$i")
	rg=$(printf 'rg%02d' $((i / 100)))
	[ -e "$V/items/$name" ] && return 0
	[ -d "$MNT/regions/westeurope/resource-groups/$rg/vms/$name" ] ||
		echo "name=$name resource-group=$rg disks=$name-os:1G,$name-data:1G" \
			>"$MNT/regions/westeurope/create-vm"
	echo "vm=$rg/$name source=westeurope target=northeurope" >"$V/enable-replication"
}

case $cmd in
build)
	mkdir -p "$MNT" "$STATE"
	start
	for r in $(seq 0 $(((N - 1) / 100))); do
		mkdir -p "$MNT/regions/westeurope/resource-groups/$(printf 'rg%02d' "$r")"
	done
	export -f one
	export V MNT
	seq 1 "$N" | xargs -P 16 -I{} bash -c 'one {}'
	echo "waiting for $N items to be Protected"
	while [ "$(cat "$V"/items/*/state | grep -c '^Protected$')" -lt "$N" ]; do sleep 5; done
	stop
	;;
measure)
	start
	echo "mount-seconds: $MOUNT_S"
	best=
	for _ in 1 2 3; do
		t0=$(date +%s.%N)
		cat "$V"/items/*/state >/dev/null
		t=$(echo "$(date +%s.%N) - $t0" | bc)
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
	done
	echo "cat-states-seconds: $best"
	hz=$(getconf CLK_TCK)
	c0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
	sleep 20
	c1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
	echo "idle-cpu-percent: $(echo "scale=1; ($c1 - $c0) * 100 / $hz / 20" | bc)"
	echo "rss-kib: $(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")"
	stop
	;;
esac
