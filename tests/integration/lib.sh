# shellcheck shell=bash
# lib.sh - shared helpers for the integration tests.  Source it from a test:
#
#   . "$(dirname "$0")/lib.sh"
#   asrfs_start            # fresh state dir, mounted at $MNT, default config
#   check "name" cmd...    # runs cmd, prints ok/not ok
#   ...
#   finish                 # unmounts, cleans up, exits non-zero on failure
#
# The tests use only ordinary tools on the mount (echo, cat, ls, mv, rmdir,
# dd, cmp, jq, e2fsck) plus build/tests/errno-write to see a write's errno.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
ASRFS="$BUILD/asrfs"
ERRNO_WRITE="$BUILD/tests/errno-write"
WORK=$(mktemp -d /tmp/asrfs-it.XXXXXX)
MNT="$WORK/mnt"
STATE="$WORK/state"
LOG="$WORK/asrfs.log"
ASRFS_PID=
FAILED=0
mkdir -p "$MNT" "$STATE"

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }
skip() { echo "skip - $*"; }

# check NAME CMD...: ok when CMD succeeds.
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# expect_errno NAME ERRNO FILE LINE: the write of LINE to FILE fails with ERRNO ("0": succeeds).
expect_errno() {
	local name=$1 want=$2 file=$3 line=$4 got
	got=$("$ERRNO_WRITE" "$file" "$line")
	if [ "$got" = "$want" ]; then ok "$name"; else not_ok "$name (got $got, want $want)"; fi
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
	local t=$1; shift
	local end=$((SECONDS + t))
	while [ $SECONDS -le $end ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# entries DIR: the names in DIR, sorted as ls sorts them (what ls | grep did).
entries() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' | sort; }

file_is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }

mounted() { grep -q " $MNT fuse" /proc/mounts; }
not_mounted() { ! mounted; }

# asrfs_start [extra args]: mount in the background (-f), wait until served.
asrfs_start() {
	"$ASRFS" -f --state "$STATE" "$@" "$MNT" >>"$LOG" 2>&1 &
	ASRFS_PID=$!
	if ! wait_for 15 test -e "$MNT/version"; then
		echo "asrfs did not mount; log:"; tail -20 "$LOG"
		return 1
	fi
}

asrfs_stop() {
	[ -n "$ASRFS_PID" ] || return 0
	fusermount3 -u "$MNT" 2>/dev/null || kill "$ASRFS_PID" 2>/dev/null
	for _ in $(seq 1 300); do
		kill -0 "$ASRFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$ASRFS_PID" 2>/dev/null; then
		echo "asrfs did not stop in 30 s"; kill -9 "$ASRFS_PID"; FAILED=$((FAILED + 1))
	fi
	wait "$ASRFS_PID" 2>/dev/null
	local rc=$?
	ASRFS_PID=
	return $rc
}

# asrfs_kill: a crash (kill -9), leaving a stale mount to clear.
asrfs_kill() {
	kill -9 "$ASRFS_PID" 2>/dev/null
	wait "$ASRFS_PID" 2>/dev/null
	ASRFS_PID=
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
}

finish() {
	asrfs_stop
	if [ "$FAILED" -gt 0 ]; then
		echo "--- asrfs log ($LOG):"
		tail -40 "$LOG"
	fi
	if grep -qE "ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:" "$LOG" 2>/dev/null; then
		not_ok "sanitizer report in the daemon log"
		grep -E -A20 "Sanitizer|runtime error:" "$LOG" | head -60
	fi
	rm -rf "$WORK"
	[ "$FAILED" -eq 0 ]
	exit $?
}
trap 'asrfs_stop >/dev/null 2>&1; rm -rf "$WORK"' INT TERM

R() { echo "$MNT/regions/$1"; }
# shellcheck disable=SC2120 # V's vault argument is optional
V() { echo "$MNT/vaults/${1:-asr-vault}"; }
# WD / ND RG DISK: a managed disk's file in westeurope / northeurope.
WD() { echo "$MNT/regions/westeurope/resource-groups/$1/disks/$2"; }
ND() { echo "$MNT/regions/northeurope/resource-groups/$1/disks/$2"; }
# same_vhd A B: two unmanaged disks' .vhd files (or copies of them) of the
# same size, both ending with a VHD footer, with equal disk bytes.  Their
# footers differ (each disk has its own id), so cmp of the whole files would.
same_vhd() {
	local a b
	a=$(stat -c %s "$1") b=$(stat -c %s "$2")
	[ "$a" -eq "$b" ] && [ "$a" -ge 512 ] &&
		[ "$(tail -c 512 "$1" | head -c 8)" = conectix ] && [ "$(tail -c 512 "$2" | head -c 8)" = conectix ] &&
		cmp -s -n $((a - 512)) "$1" "$2"
}
# scribble FILE PAGES AT: PAGES random 4 KiB pages into FILE from page AT, in place.
scribble() { dd if=/dev/urandom of="$1" bs=4k count="$2" seek="$3" conv=notrunc status=none; }

# two_vaults FILE DIR VAULT1 VAULT2: a config with the two local regions
# under DIR and two vaults in northeurope.
two_vaults() {
	cat >"$1" <<JSON
{"regions": [
   {"name": "westeurope",  "backend": "local", "path": "$2/westeurope"},
   {"name": "northeurope", "backend": "local", "path": "$2/northeurope"}],
 "vaults": [{"name": "$3", "region": "northeurope"},
            {"name": "$4", "region": "northeurope"}],
 "workers": 2}
JSON
}

# create_vm REGION RG NAME DISKS [more key=value]
create_vm() {
	local region=$1 rg=$2 name=$3 disks=$4; shift 4
	echo "name=$name resource-group=$rg disks=$disks $*" >"$MNT/regions/$region/create-vm"
}

# fast_policy SECONDS: the default policy makes a point every SECONDS.
fast_policy() {
	echo "$1" >"$(V)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
}

# protect RG VM: enable replication westeurope -> northeurope, wait until Protected.
protect() {
	echo "vm=$1/$2 source=westeurope target=northeurope ${3:-}" >"$(V)/enable-replication" &&
		wait_for 60 file_is "$(V)/items/$2/state" Protected
}

# point_after POINTS_DIR [SECONDS]: the id of a point whose cycle began after
# this call, so it holds every write made before it: the second point newer
# than the newest now (a cycle already running may catch only part of a dd
# made of several writes).  Fails when none comes in time.
point_after() {
	local dir=$1 t=${2:-30} p _
	p=$(readlink "$dir/latest")
	for _ in 1 2; do
		wait_for "$t" sh -c "q=\$(readlink '$dir/latest'); [ -n \"\$q\" ] && [ \"\$q\" '>' '$p' ]" || return 1
		p=$(readlink "$dir/latest")
	done
	echo "$p"
}

# newest point id, and wait for a point newer than $1
latest_point() { readlink "$(V)/items/$1/recovery-points/latest"; }
wait_new_point() {
	local item=$1 after=$2
	wait_for "${3:-30}" sh -c "p=\$(readlink '$(V)/items/$item/recovery-points/latest'); [ -n \"\$p\" ] && [ \"\$p\" '>' '$after' ]"
}

# group_enable GROUP VM...: enable replication of rg1/VM (westeurope ->
# northeurope) in replication group GROUP for each VM at once, then check
# that each reaches Protected.
group_enable() {
	local g=$1 vm
	shift
	for vm in "$@"; do
		echo "vm=rg1/$vm source=westeurope target=northeurope replication-group=$g" >"$(V)/enable-replication"
	done
	for vm in "$@"; do
		check "$vm reaches Protected" wait_for 90 file_is "$(V)/items/$vm/state" Protected
	done
}

# failed_over_from VM: the point VM's newest failover was made from (the
# daemon's log says it).
failed_over_from() { sed -n "s/.*item $1: failed over to .* from point //p" "$LOG" | tail -1; }

# one_failover_point VM...: every VM failed over from one multi-vm point,
# and each one's failed-over disk <vm>-os (in northeurope's rg1-asr) holds
# it; POINT is that point.
one_failover_point() {
	local vm all=()
	POINT=$(failed_over_from "$1")
	for vm in "$@"; do all+=("$(failed_over_from "$vm")"); done
	check "every member failed over to one point (${all[*]})" \
		test -n "$POINT" -a "$(printf '%s\n' "${all[@]}" | sort -u)" = "$POINT"
	check "that point is multi-vm" grep -q multi-vm "$(V)/items/$1/recovery-points/$POINT/type"
	for vm in "$@"; do
		check "$vm's failed-over disk holds the point" \
			cmp -s "$(ND rg1-asr "$vm-os")" "$(V)/items/$vm/recovery-points/$POINT/disks/$vm-os"
	done
}
