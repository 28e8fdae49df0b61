#!/bin/bash
# bench-replication.sh - what replication costs the VM and the daemon
# (`make bench-replication`; the targets of issue 11, docs/BENCHMARKS.md).
#
# It mounts asrfs as the integration tests do (two local regions, a state
# dir, -f in the background) under a scratch dir in ${TMPDIR:-/tmp}, makes
# VMs through the tree as a user would, and measures, in one run:
#   a  write latency through regions/<r>/resource-groups/<rg>/disks/<disk>:
#      random 4 KiB pwrites, 200 a second (build/tests/latwriter), to a 4 GiB
#      disk of random data protected with 1 s cycles, against the same run on
#      an identical disk of a VM that is not protected, in turns A/B/A/B
#      (targets: p99.9 at most 2 x the reference's, no write over 20 ms);
#   b  the same item idle: source bytes read per cycle (target 0) and daemon
#      CPU (target 1 % of a core);
#   c  N distinct random pages written, the next point awaited: pages read
#      from the source (target 1.05 x N) and pages sent (exactly N);
#   d  1000 items of two sparse 1 GiB disks in one vault, default policy,
#      unmounted and mounted again: mount time (2 s), `cat items/*/state`
#      best of 3 (1 s), CPU in the 20 s after the mount and idle after that
#      (2 %), resident memory per item (64 KiB + tracking).
# Each target prints a table: figure, measured, reference, ratio or limit,
# PASS/FAIL.  The exit status is 0 even when a target fails (1 when the
# benchmark itself could not run).
#
#   BENCH_ONLY     parts to run, e.g. "a,c" (default a,b,c,d)
#   BENCH_SECONDS  writer seconds per side in a (default 60)
#   BENCH_ROUNDS   turns per side in a (default 2: A/B/A/B)
#   BENCH_RATE     writes a second in a (default 200)
#   BENCH_IDLE     seconds of the idle windows in b and d (default 30)
#   BENCH_PAGES    N of c (default 5000)
#   BENCH_ITEMS    items of d (default 1000)
#   BENCH_KEEP     a directory that keeps d's built tree: built there when
#                  missing, reused as it is when present
#   BENCH_DISK_GIB the disk size of a, b, c (default 4)
#   BENCH_TRACK_KIB the tracking structures' allowance per item in d's
#                  memory target (default 64: a bit per 4 KiB page)
#   BUILD          build directory holding asrfs and tests/latwriter
set -eu
usage() { echo "usage: bench-replication.sh [--help]   (environment: BENCH_ONLY BENCH_SECONDS BENCH_ROUNDS BENCH_RATE BENCH_IDLE BENCH_PAGES BENCH_ITEMS BENCH_KEEP BENCH_DISK_GIB BENCH_TRACK_KIB BUILD)"; }
[ $# -eq 0 ] || case $1 in
-h | --help) usage; sed -n '2,39s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "bench-replication.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
case ${BENCH_KEEP:-} in "" | /*) ;; *) BENCH_KEEP=$PWD/$BENCH_KEEP ;; esac
cd "$(dirname "$0")/.."
TOP=$(pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
ASRFS=$BUILD/asrfs
LW=$BUILD/tests/latwriter
ONLY=,${BENCH_ONLY:-a,b,c,d},
SECS=${BENCH_SECONDS:-60}
ROUNDS=${BENCH_ROUNDS:-2}
RATE=${BENCH_RATE:-200}
IDLE=${BENCH_IDLE:-30}
PAGES=${BENCH_PAGES:-5000}
ITEMS=${BENCH_ITEMS:-1000}
KEEP=${BENCH_KEEP:-}
TRACK=${BENCH_TRACK_KIB:-64}
GIB=${BENCH_DISK_GIB:-4}
VAULT=asr-vault
for n in "$SECS" "$ROUNDS" "$RATE" "$IDLE" "$PAGES" "$ITEMS" "$GIB"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench-replication: not a positive whole number: $n" >&2; exit 2; }
done
[[ $TRACK =~ ^[0-9]+$ ]] || { echo "bench-replication: BENCH_TRACK_KIB is whole KiB: $TRACK" >&2; exit 2; }
for t in "$ASRFS" "$LW"; do
	[ -x "$t" ] || { echo "bench-replication: $t missing (make BUILD=$BUILD all $BUILD/tests/latwriter)" >&2; exit 1; }
done
for t in jq fusermount3; do
	command -v $t >/dev/null || { echo "bench-replication: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/asrfs-bench-repl.XXXXXX")
PID="" MNT="" VERSION=unknown
cleanup() {
	stop_asrfs || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
TICK=$(getconf CLK_TCK)

log() { echo "bench: $*" >&2; }
want() { case $ONLY in *",$1,"*) return 0 ;; esac; return 1; }

# ---- the daemon ----
# config FILE DIR: two local regions under DIR, one vault in northeurope.
config() {
	cat >"$1" <<JSON
{"regions": [
   {"name": "westeurope",  "backend": "local", "path": "$2/westeurope"},
   {"name": "northeurope", "backend": "local", "path": "$2/northeurope"}],
 "vaults": [{"name": "$VAULT", "region": "northeurope"}],
 "workers": 2}
JSON
}

# start_asrfs DIR: mount DIR/config.json with state DIR/state at DIR/mnt in
# the background; PID, MNT and STARTED (launch time) are set at once, the
# wait for the tree is the caller's.
start_asrfs() {
	MNT=$1/mnt
	mkdir -p "$MNT" "$1/state"
	STARTED=$EPOCHREALTIME
	"$ASRFS" -f --state "$1/state" --config "$1/config.json" "$MNT" >>"$W/asrfs.log" 2>&1 &
	PID=$!
}

# until_true SECONDS CMD...: poll CMD every 50 ms until it succeeds.
until_true() {
	local end=$((SECONDS + $1)); shift
	while [ $SECONDS -le $end ]; do
		"$@" 2>/dev/null && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

mount_up() {
	start_asrfs "$1"
	until_true 60 test -e "$MNT/version" || { log "asrfs did not mount; log:"; tail -20 "$W/asrfs.log" >&2; exit 1; }
	VERSION=$(cat "$MNT/version")
}

stop_asrfs() {
	[ -n "$PID" ] || return 0
	fusermount3 -u "$MNT" 2>/dev/null || kill "$PID" 2>/dev/null || true
	for _ in $(seq 1 600); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		log "asrfs did not stop in 60 s; killed"
		kill -9 "$PID" 2>/dev/null || true
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	fi
	wait "$PID" 2>/dev/null || true
	PID=""
}

# ---- what the daemon tells ----
# cpu_ticks: user + system clock ticks of the daemon so far.
cpu_ticks() { sed 's/^.*) //' "/proc/$PID/stat" | awk '{print $12 + $13}'; }
rchar() { awk '$1 == "rchar:" {print $2}' "/proc/$PID/io"; }
rss_kib() { awk '$1 == "VmRSS:" {print $2}' "/proc/$PID/status"; }

# metrics ITEM: one read of metrics/asrfs.prom, the item's figures as
# "cycles replicated-bytes source-read-bytes" (the last "n/a" when the daemon
# does not count what its cycles read).
metrics() {
	awk -v v="vault=\"$VAULT\"" -v i="item=\"$1\"" '
		index($0, "{") && index($0, v) && index($0, i) {
			n = substr($0, 1, index($0, "{") - 1)
			if (n == "asrfs_item_replication_cycles_total") c = $NF
			if (n == "asrfs_item_replicated_bytes_total") b = $NF
			if (n == "asrfs_disk_source_read_bytes_total") { r += $NF; rs = 1 }
		}
		END { print c + 0, b + 0, rs ? r : "n/a" }' "$MNT/metrics/asrfs.prom"
}

# ---- arithmetic and tables ----
# get SUMMARY KEY: one figure of latwriter's summary line (0 when absent).
get() { local v; v=$(echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"); echo "${v:-0}"; }
calc() { awk "BEGIN {printf \"$1\n\", $2}"; }
# le A B: A <= B (decimals)
le() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a + 0 <= b + 0)}'; }
verdict() { if le "$1" "$2"; then echo PASS; else echo FAIL; fi; }
since() { calc %.2f "$EPOCHREALTIME - $1"; }
table() {
	printf '\n#### %s\n\n' "$1"
	echo "| figure | measured | reference | ratio or limit | verdict |"
	echo "|---|---|---|---|---|"
}
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }

# ---- building VMs through the tree ----
R() { echo "$MNT/regions/$1"; }
V() { echo "$MNT/vaults/$VAULT"; }
create_vm() { echo "name=$2 resource-group=$1 disks=$3 network=vnet1" >"$(R westeurope)/create-vm"; }
enable() { echo "vm=$1/$2 source=westeurope target=northeurope" >"$(V)/enable-replication"; }
state_is() { [ "$(cat "$(V)/items/$1/state" 2>/dev/null)" = "$2" ]; }
newest_point() { readlink "$(V)/items/$1/recovery-points/latest" 2>/dev/null || true; }
# points_after ITEM SECONDS: wait for the second point newer than the newest
# now, one whose cycle began after this call (so it holds every write made
# before it).
points_after() {
	local p q _
	p=$(newest_point "$1")
	for _ in 1 2; do
		# shellcheck disable=SC2016 # expanded by the inner shell
		until_true "$2" sh -c 'q=$(readlink "$1"); [ -n "$q" ] && [ "$q" \> "$2" ]' _ \
			"$(V)/items/$1/recovery-points/latest" "$p" || return 1
		q=$(newest_point "$1")
		p=$q
	done
}

# ---- a, b, c: one item on a GIB disk of random data, 1 s cycles ----
part_abc() {
	local A B d t0 r m0 m1 c0 c1 t1 k0 k1 ch0 ch1 secs n
	d=$W/abc
	mkdir -p "$d"
	config "$d/config.json" "$d/regions"
	mount_up "$d"
	A=$(R westeurope)/resource-groups/rg1/disks/vma-os
	B=$(R westeurope)/resource-groups/rg1/disks/vmb-os
	t0=$EPOCHREALTIME
	create_vm rg1 vma "vma-os:${GIB}G"
	want a && create_vm rg1 vmb "vmb-os:${GIB}G"
	log "filling the ${GIB} GiB disk(s) with random data through the mount"
	"$LW" -F -s 42 "$A"
	want a && "$LW" -F -s 42 "$B"
	setup_fill=$(since "$t0")
	log "filled in $setup_fill s"
	half=$(calc %.3f "$SECS / $ROUNDS")
	if want a; then
		# The reference once more before anything is protected: what the
		# daemon's own cycles of vma cost an unprotected VM beside it.
		log "a: $half s on vmb before vma is protected"
		lat_q=$("$LW" -r "$RATE" -t "$half" -s 101 "$B") || log "a: the writer met errors on vmb"
	fi
	echo 1 >"$(V)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
	t0=$EPOCHREALTIME
	enable rg1 vma
	until_true 3600 state_is vma Protected || { log "vma never Protected"; exit 1; }
	setup_enable=$(since "$t0")
	log "vma Protected in $setup_enable s (initial replication)"
	points_after vma 120 || { log "no recovery points with 1 s cycles"; exit 1; }

	if want a; then
		t0=$EPOCHREALTIME
		log "a: $ROUNDS turns of $half s per side at $RATE writes/s"
		read -r c0 _ <<<"$(metrics vma)"
		n=0 errs_a=0 errs_b=0
		for r in $(seq "$ROUNDS"); do
			errs_a=$((errs_a + $(get "$("$LW" -r "$RATE" -t "$half" -s "$((100 + r))" -l "$W/a.$r" "$A")" errors)))
			read -r c1 _ <<<"$(metrics vma)"
			n=$((n + c1 - c0))
			errs_b=$((errs_b + $(get "$("$LW" -r "$RATE" -t "$half" -s "$((100 + r))" -l "$W/b.$r" "$B")" errors)))
			read -r c0 _ <<<"$(metrics vma)"
		done
		lat_a=$("$LW" -S "$W"/a.*)
		lat_b=$("$LW" -S "$W"/b.*)
		a_cycles=$n
		a_secs=$(since "$t0")
		log "a took $a_secs s"
	fi

	if want b; then
		t0=$EPOCHREALTIME
		points_after vma 120 || { log "b: no new point"; exit 1; }
		log "b: idle for $IDLE s"
		m0=$(metrics vma) k0=$(cpu_ticks) ch0=$(rchar) t1=$EPOCHREALTIME
		sleep "$IDLE"
		m1=$(metrics vma) k1=$(cpu_ticks) ch1=$(rchar)
		secs=$(since "$t1")
		read -r c0 _ r0 <<<"$m0"
		read -r c1 _ r1 <<<"$m1"
		b_cycles=$((c1 - c0))
		b_cpu=$(calc %.2f "($k1 - $k0) * 100 / $TICK / $secs")
		b_rchar=$(calc %.0f "($ch1 - $ch0) / ($b_cycles > 0 ? $b_cycles : 1)")
		if [ "$r0" = n/a ] || [ "$r1" = n/a ]; then b_read=n/a; else b_read=$(calc %.0f "($r1 - $r0) / ($b_cycles > 0 ? $b_cycles : 1)"); fi
		b_secs=$(since "$t0")
		log "b took $b_secs s"
	fi

	if want c; then
		t0=$EPOCHREALTIME
		points_after vma 120 || { log "c: no new point"; exit 1; }
		log "c: $PAGES distinct pages"
		m0=$(metrics vma) ch0=$(rchar)
		c_out=$("$LW" -r 0 -n "$PAGES" -u -t 86400 -s 7 "$A") || log "c: the writer met errors"
		t1=$EPOCHREALTIME
		points_after vma 300 || { log "c: no point after the writes"; exit 1; }
		c_wait=$(since "$t1")
		m1=$(metrics vma) ch1=$(rchar)
		read -r _ b0 r0 <<<"$m0"
		read -r _ b1 r1 <<<"$m1"
		c_sent=$(((b1 - b0) / 4096))
		c_rchar=$(((ch1 - ch0) / 4096 - PAGES))
		if [ "$r0" = n/a ] || [ "$r1" = n/a ]; then c_read=n/a; else c_read=$(((r1 - r0) / 4096)); fi
		c_secs=$(since "$t0")
		log "c took $c_secs s"
	fi
	stop_asrfs
	rm -rf "$d"
}

# ---- d: ITEMS items of two sparse 1 GiB disks, default policy ----
vm_name() { printf 'vm%04d' "$1"; }
# batch [PID]: 16 writers at a time; with no PID, wait for those running.
# (A bare wait would wait for the daemon too.)
BATCH=()
batch() {
	[ $# -eq 0 ] || BATCH+=("$1")
	if [ $# -eq 0 ] || [ ${#BATCH[@]} -ge 16 ]; then
		[ ${#BATCH[@]} -eq 0 ] || wait "${BATCH[@]}" || true
		BATCH=()
	fi
}

# build_items DIR: the items made through the tree, as a user would, many
# writes at once; then unmounted.
build_items() {
	local i n t0 left states s0=$SECONDS
	config "$1/config.json" "$1/regions"
	mount_up "$1"
	t0=$EPOCHREALTIME
	mkdir "$(R westeurope)/resource-groups/rgd"
	for i in $(seq 1 "$ITEMS"); do
		create_vm rgd "$(vm_name "$i")" "$(vm_name "$i")-os:1G,$(vm_name "$i")-data:1G" &
		batch $!
	done
	batch
	n=$(find "$(R westeurope)/resource-groups/rgd/vms" -mindepth 1 -maxdepth 1 | wc -l)
	[ "$n" -eq "$ITEMS" ] || { log "d: $n of $ITEMS VMs created"; exit 1; }
	log "d: $ITEMS VMs created in $(since "$t0") s"
	for i in $(seq 1 "$ITEMS"); do
		# A write refused while the vault is busy is tried again.
		{ for _ in 1 2 3 4 5 6 7 8 9 10; do enable rgd "$(vm_name "$i")" 2>/dev/null && break; sleep 1; done; } &
		batch $!
	done
	batch
	n=$(find "$(V)/items" -mindepth 1 -maxdepth 1 | wc -l)
	[ "$n" -eq "$ITEMS" ] || { log "d: enable-replication accepted for $n of $ITEMS VMs"; exit 1; }
	log "d: enable-replication written for $ITEMS items after $(since "$t0") s; waiting for Protected"
	left=$ITEMS
	while [ "$left" -gt 0 ]; do
		sleep 5
		states=$(cat "$(V)"/items/*/state 2>/dev/null || true)
		left=$(grep -cvx Protected <<<"$states" || true)
		! grep -q Failed <<<"$states" || { log "d: $(grep -c Failed <<<"$states") items failed their initial replication"; exit 1; }
		log "d: $left items not Protected yet ($(since "$t0") s)"
		kill -0 "$PID" 2>/dev/null || { log "asrfs died; log:"; tail -20 "$W/asrfs.log" >&2; exit 1; }
		[ $((SECONDS - s0)) -lt 7200 ] || { log "d: not Protected in 2 h"; exit 1; }
	done
	d_build="$(since "$t0") s"
	log "d: $ITEMS items Protected in $d_build"
	stop_asrfs
	echo "$ITEMS" >"$1/items"
}

items_listed() { [ "$(find "$(V)/items" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -eq "$ITEMS" ]; }

part_d() {
	local d t0 t b k0 k1 secs i
	t0=$EPOCHREALTIME
	# The daemon with nothing in it: the base the items' memory is added to.
	mkdir -p "$W/empty"
	config "$W/empty/config.json" "$W/empty/regions"
	mount_up "$W/empty"
	sleep 2
	d_rss0=$(rss_kib)
	stop_asrfs
	d=${KEEP:-$W/d}
	mkdir -p "$d"
	if [ -f "$d/items" ] && [ "$(cat "$d/items")" = "$ITEMS" ]; then
		log "d: reusing the $ITEMS items kept in $d"
		d_build="kept in $d"
	else
		[ ! -e "$d/state" ] || { log "d: $d holds a tree of another size or an unfinished one; remove it or pick another BENCH_KEEP"; exit 1; }
		build_items "$d"
	fi
	log "d: mounting $ITEMS items"
	t0=$EPOCHREALTIME
	start_asrfs "$d"
	until_true 600 items_listed || { log "d: the items were not listed in 10 min"; exit 1; }
	d_mount=$(since "$STARTED")
	d_cat=""
	for i in 1 2 3; do
		t=$EPOCHREALTIME
		cat "$(V)"/items/*/state >/dev/null
		t=$(since "$t")
		if [ -z "$d_cat" ] || le "$t" "$d_cat"; then d_cat=$t; fi
	done
	# CPU of the first 20 s from the launch (mount and the cats included),
	# then of an idle window.
	b=$(calc %.3f "20 - ($EPOCHREALTIME - $STARTED)")
	if le 0 "$b"; then sleep "$b"; fi
	k0=$(cpu_ticks)
	d_first=$(since "$STARTED")
	d_cpu20=$(calc %.2f "$k0 * 100 / $TICK / $d_first")
	t=$EPOCHREALTIME
	sleep "$IDLE"
	k1=$(cpu_ticks)
	secs=$(since "$t")
	d_idle=$(calc %.2f "($k1 - $k0) * 100 / $TICK / $secs")
	d_rss=$(rss_kib)
	stop_asrfs
	[ -n "$KEEP" ] || rm -rf "$d"
	d_secs=$(since "$t0")
	log "d took $d_secs s"
}

# ---- run ----
load_start=$(cut -d" " -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
if want a || want b || want c; then part_abc; fi
if want d; then part_d; fi

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
echo "### Figures of $started"
echo
src=$(git -C "$(dirname "$BUILD")" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "asrfs $VERSION from $BUILD (the tree there at commit $src)."
echo "Machine: $(nproc) CPUs ($model), $mem RAM, Linux $(uname -r); scratch dir on $(df -T "$W" | awk 'NR==2 {print $2 " (" $1 ")"}')."
echo "Load average at the start: $load_start; at the end: $(cut -d" " -f1-3 /proc/loadavg)."
if want a || want b || want c; then
	echo "Setup of a-c: ${GIB} GiB disk(s) filled through the mount in $setup_fill s; initial replication $setup_enable s."
fi

if want a; then
	table "a. Write latency through the mount, ms: ${GIB} GiB disk, 1 s cycles, $RATE writes/s, $ROUNDS x $(calc %g "$SECS / $ROUNDS") s per side in turns ($a_secs s)"
	for f in p50 p99; do
		x=$(get "$lat_a" "${f}_ms") y=$(get "$lat_b" "${f}_ms")
		row "$f" "$x" "$y" "$(calc %.2f "$x / ($y > 0 ? $y : 0.001)") x" -
	done
	x=$(get "$lat_a" p999_ms) y=$(get "$lat_b" p999_ms)
	q=$(calc %.2f "$x / ($y > 0 ? $y : 0.001)")
	row "p99.9" "$x" "$y" "$q x (limit 2 x)" "$(verdict "$q" 2)"
	row "max" "$(get "$lat_a" max_ms)" "$(get "$lat_b" max_ms)" "limit 20" "$(verdict "$(get "$lat_a" max_ms)" 20)"
	row "p99.9 / max counted from when each write was due" "$(get "$lat_a" late_p999_ms) / $(get "$lat_a" late_max_ms)" \
		"$(get "$lat_b" late_p999_ms) / $(get "$lat_b" late_max_ms)" - -
	y=$(get "$lat_q" p999_ms)
	row "p99.9 against the reference's one turn before vma was protected" "$x" "$y" "$(calc %.2f "$x / ($y > 0 ? $y : 0.001)") x" -
	row "max of that turn" - "$(get "$lat_q" max_ms)" - -
	row "writes that succeeded (failed)" "$(get "$lat_a" count) ($errs_a)" "$(get "$lat_b" count) ($errs_b)" - -
	row "replication cycles during the protected runs" "$a_cycles" - - -
fi
if want b; then
	table "b. Idle item: ${GIB} GiB disk, 1 s cycles, $IDLE s ($b_secs s)"
	row "cycles" "$b_cycles" - - -
	if [ "$b_read" = n/a ]; then
		row "source bytes read per cycle (asrfs_disk_source_read_bytes_total)" n/a - "limit 0" n/a
		row "daemon rchar per cycle (upper bound: every read() of the daemon)" "$b_rchar" - "limit 0" "$(verdict "$b_rchar" 0)"
	else
		row "source bytes read per cycle (asrfs_disk_source_read_bytes_total)" "$b_read" - "limit 0" "$(verdict "$b_read" 0)"
		row "daemon rchar per cycle (upper bound: every read() of the daemon)" "$b_rchar" - - -
	fi
	row "daemon CPU, % of a core" "$b_cpu" - "limit 1" "$(verdict "$b_cpu" 1)"
fi
if want c; then
	table "c. $PAGES distinct random 4 KiB pages written, the next point awaited ($c_secs s)"
	lim=$(calc %.0f "$PAGES * 1.05")
	if [ "$c_read" = n/a ]; then
		row "pages read from the source (asrfs_disk_source_read_bytes_total / 4096)" n/a "$PAGES" "limit $lim" n/a
		row "daemon rchar / 4096 less the N written pages it took from /dev/fuse (upper bound)" "$c_rchar" "$PAGES" "limit $lim" "$(verdict "$c_rchar" "$lim")"
	else
		row "pages read from the source (asrfs_disk_source_read_bytes_total / 4096)" "$c_read" "$PAGES" "limit $lim" "$(verdict "$c_read" "$lim")"
		row "daemon rchar / 4096 less the N written pages it took from /dev/fuse (upper bound)" "$c_rchar" "$PAGES" - -
	fi
	if [ "$c_sent" -eq "$PAGES" ]; then v=PASS; else v=FAIL; fi
	row "pages sent (asrfs_item_replicated_bytes_total / 4096)" "$c_sent" "$PAGES" "exactly $PAGES" "$v"
	row "the writes: count, errors, seconds, slowest (ms)" "$(get "$c_out" count), $(get "$c_out" errors), $(get "$c_out" seconds), $(get "$c_out" max_ms)" - - -
	row "seconds from the last write to the second point after it" "$c_wait" - - -
fi
if want d; then
	per=$(calc %.1f "($d_rss - $d_rss0) / $ITEMS")
	# Tracking allowance: one bit per 4 KiB page of the item's 2 GiB.
	track=$TRACK
	table "d. $ITEMS items of 2 sparse 1 GiB disks, one vault, default policy (building them: $d_build; mounting and measuring: $d_secs s)"
	row "mount: launch to \`ls items\` listing all, s" "$d_mount" - "limit 2" "$(verdict "$d_mount" 2)"
	row "\`cat vaults/$VAULT/items/*/state\`, best of 3, s" "$d_cat" - "limit 1" "$(verdict "$d_cat" 1)"
	row "daemon CPU from the launch to $(calc %.0f "$d_first") s after it (20 s, or the cats' end when later), % of a core" "$d_cpu20" - - -
	row "daemon CPU idle, the $IDLE s after that, % of a core" "$d_idle" - "limit 2" "$(verdict "$d_idle" 2)"
	row "VmRSS, MiB" "$(calc %.1f "$d_rss / 1024")" "$(calc %.1f "$d_rss0 / 1024") (no items)" - -
	row "VmRSS per item above the empty daemon, KiB" "$per" - "limit $((64 + track)) (64 + $track tracking)" "$(verdict "$per" $((64 + track)))"
fi
