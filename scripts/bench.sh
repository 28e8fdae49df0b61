#!/bin/bash
# bench.sh - delta engine benchmarks (`make bench`), written to docs/BENCHMARKS.md.
#
# For each size (1 and 4 GiB) it builds a random source and an identical
# destination in a scratch dir, then, with both files cached:
#   read limit  both files read in parallel by a small C reader (1 MiB preads,
#               one thread per file): what any compare must at least cost;
#   1% / 10%    that share of 4 KiB pages changed (scattered, fixed seed):
#               asrfs-delta vs rsync --inplace --no-whole-file -B4096;
#   full copy   into a missing file: asrfs-delta vs cp (holes kept is checked
#               separately on a sparse file);
#   map cycle   map mode on an unchanged source (a tiny C driver over
#               libsync.a) vs reading the source once.
# Every case runs 5 times (rsync on 4 GiB once: it takes minutes) and the
# median is reported.  Between runs the destination is put back by flipping
# the same bytes again, so no multi-GiB copy is needed per run.
#
#   BENCH_DIR   scratch directory (default /tmp/asrfs-bench); removed after
#   BENCH_SIZES sizes in GiB (default "1 4")
#   BUILD       build directory holding asrfs-delta and libsync.a (default build)
set -eu
usage() { echo "usage: bench.sh [--help]   (environment: BENCH_DIR BENCH_SIZES BUILD)"; }
[ $# -eq 0 ] || case $1 in
-h | --help) usage; sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/asrfs-bench}
SIZES=${BENCH_SIZES:-"1 4"}
RUNS=5
OUT=docs/BENCHMARKS.md
DELTA=$BUILD/asrfs-delta

[ -x "$DELTA" ] || { echo "bench: $DELTA missing (run make BUILD=$BUILD)" >&2; exit 1; }
[ -f "$BUILD/libsync.a" ] || { echo "bench: $BUILD/libsync.a missing" >&2; exit 1; }
command -v rsync >/dev/null || { echo "bench: rsync missing (scripts/install-deps.sh)" >&2; exit 1; }

mkdir -p "$BENCH_DIR"
load_start=$(cut -d" " -f1-3 /proc/loadavg)
W=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
trap 'rm -rf "$W"' EXIT

# ---- helper: generator, byte flipper, parallel reader, map-mode driver ----
cat >"$W/benchtool.c" <<'EOF'
/* benchtool - bench helpers: gen FILE BYTES SEED | flip FILE PERCENT SEED |
 * wfloor FILE PERCENT SEED | read FILE... | map SRC DST RUNS.  Fixed seeds,
 * so every run is the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sync/blockmap.h"
#include "sync/delta.h"

static uint64_t rs;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static void seed(const char *s) { rs = strtoull(s, NULL, 10) * 0x9E3779B97F4A7C15ull | 1; }
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
static void die(const char *what) { fprintf(stderr, "benchtool: %s: %s\n", what, strerror(errno)); exit(1); }

static int gen(const char *path, uint64_t size)
{
	enum { B = 1 << 20 };
	uint64_t *buf = malloc(B);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !buf)
		die(path);
	for (uint64_t off = 0; off < size; off += B) {
		size_t n = size - off < B ? (size_t)(size - off) : B;
		for (size_t i = 0; i < B / 8; i++)
			buf[i] = rnd();
		if (write(fd, buf, n) != (ssize_t)n)
			die(path);
	}
	free(buf);
	return close(fd);
}

/* The pages a PERCENT change touches: n distinct pages of the file open on
 * fd and, for each, the offset of the byte to flip, in drawing order (fixed
 * by the seed).  Sets *count; the array is malloc'd. */
static off_t *pick(int fd, const char *path, double pct, uint64_t *count)
{
	off_t size = lseek(fd, 0, SEEK_END), *at;
	uint64_t np = (uint64_t)size / 4096, n = (uint64_t)((double)np * pct / 100.0);
	unsigned char *used = calloc(np ? np : 1, 1);
	at = malloc((n ? n : 1) * sizeof(*at));
	if (size < 0 || !used || !at)
		die(path);
	for (uint64_t k = 0; k < n;) {
		uint64_t p = rnd() % np;
		if (used[p])
			continue;
		used[p] = 1;
		at[k++] = (off_t)(p * 4096 + rnd() % 4096);
	}
	free(used);
	*count = n;
	return at;
}

/* XOR one byte in PERCENT % of the pages (distinct pages); running it twice
 * with the same seed restores the file.  Prints the number of pages. */
static int flip(const char *path, double pct)
{
	int fd = open(path, O_RDWR);
	uint64_t n;
	off_t *at;
	if (fd < 0)
		die(path);
	at = pick(fd, path, pct, &n);
	for (uint64_t k = 0; k < n; k++) {
		unsigned char x;
		if (pread(fd, &x, 1, at[k]) != 1)
			die(path);
		x ^= 0xA5;
		if (pwrite(fd, &x, 1, at[k]) != 1)
			die(path);
	}
	free(at);
	printf("%llu\n", (unsigned long long)n);
	return close(fd);
}

static int cmp_off(const void *a, const void *b)
{
	off_t x = *(const off_t *)a, y = *(const off_t *)b;
	return x < y ? -1 : x > y;
}

/* The write floor: pwrite, in file order, exactly the pages flip() picks for
 * this PERCENT and seed, each with its own current bytes (so the file does
 * not change), one thread, as any engine writing only those pages through
 * the page cache must.  Pages are read beforehand; prints the seconds of
 * the writes alone. */
static int wfloor(const char *path, double pct)
{
	int fd = open(path, O_RDWR);
	uint64_t n;
	off_t *at;
	unsigned char *data;
	double t0;
	if (fd < 0)
		die(path);
	at = pick(fd, path, pct, &n);
	data = malloc((n ? n : 1) * 4096);
	if (!data)
		die("malloc");
	for (uint64_t k = 0; k < n; k++)
		at[k] -= at[k] % 4096;
	qsort(at, n, sizeof(*at), cmp_off);
	for (uint64_t k = 0; k < n; k++)
		if (pread(fd, data + k * 4096, 4096, at[k]) != 4096)
			die(path);
	t0 = now();
	for (uint64_t k = 0; k < n; k++)
		if (pwrite(fd, data + k * 4096, 4096, at[k]) != 4096)
			die(path);
	printf("%.4f\n", now() - t0);
	free(at);
	free(data);
	return close(fd);
}

static void *reader(void *arg)
{
	enum { B = 1 << 20 };
	char *buf = aligned_alloc(4096, B);
	int fd = open(arg, O_RDONLY);
	off_t off = 0;
	ssize_t n;
	if (fd < 0 || !buf)
		die(arg);
	while ((n = pread(fd, buf, B, off)) > 0)
		off += n;
	if (n < 0)
		die(arg);
	close(fd);
	free(buf);
	return NULL;
}

static int readall(int n, char **paths)
{
	pthread_t t[16];
	double t0 = now();
	if (n > 16)
		n = 16;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, reader, paths[i]))
			die("pthread_create");
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("%.4f\n", now() - t0);
	return 0;
}

/* Build a map by a compare pass, then time map-mode passes: seconds and
 * bytes transferred per line. */
static int mapbench(const char *s, const char *d, int runs)
{
	struct bdisk *src, *dst;
	struct blockmap *m;
	struct delta_opts o;
	struct delta_stats st;
	int rc;
	memset(&o, 0, sizeof(o));
	if ((rc = local_disk_open_path(s, BDISK_RDONLY, &src)) < 0 ||
	    (rc = local_disk_open_path(d, BDISK_RDWR, &dst)) < 0 || (rc = blockmap_new(0, &m)) < 0) {
		fprintf(stderr, "benchtool: open: %s\n", strerror(-rc));
		return 1;
	}
	o.map = m;
	if ((rc = delta_sync(src, dst, &o, &st)) < 0)
		goto bad;
	o.map_trusted = 1;
	for (int i = 0; i < runs; i++) {
		double t0 = now();
		if ((rc = delta_sync(src, dst, &o, &st)) < 0)
			goto bad;
		printf("%.4f %llu\n", now() - t0, (unsigned long long)st.bytes_transferred);
	}
	blockmap_free(m);
	bd_close(src);
	bd_close(dst);
	return 0;
bad:
	fprintf(stderr, "benchtool: delta_sync: %s\n", strerror(-rc));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "gen"))
		return seed(argv[4]), gen(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 5 && !strcmp(argv[1], "flip"))
		return seed(argv[4]), flip(argv[2], atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "wfloor"))
		return seed(argv[4]), wfloor(argv[2], atof(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "read"))
		return readall(argc - 2, argv + 2);
	if (argc == 5 && !strcmp(argv[1], "map"))
		return mapbench(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: benchtool gen|flip|wfloor|read|map ...\n");
	return 2;
}
EOF
# shellcheck disable=SC2046
cc -O2 -std=gnu17 -D_FILE_OFFSET_BITS=64 -pthread -I. -o "$W/benchtool" "$W/benchtool.c" \
	"$BUILD/libsync.a" $(pkg-config --libs fuse3 libcurl json-c libxxhash libcrypto) -pthread -lm
BT=$W/benchtool

# ---- measuring ----
# The machine may be shared, so every timed run is paired with a read-limit
# run right before it, and ratios divide medians of the same case's pairs.
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.6f\n", b - a}'; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
fmt() { printf '%.3f' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }
log() { echo "bench: $*" >&2; }

rows=()
row() { rows+=("| $(printf '%s | ' "$@")"); }

# timed CMD...: run it, leave its stdout in $OUT_TXT, its wall seconds in $T
# (bash's own clock: a spawned date would add a few ms to both sides)
timed() {
	local t0 t1
	t0=$EPOCHREALTIME
	OUT_TXT=$("$@")
	t1=$EPOCHREALTIME
	T=$(diff_s "$t0" "$t1")
}

# bench_case NAME RUNS LIMITFILES RESTORE CMD...: RUNS times: read limit of
# LIMITFILES, then CMD timed, then RESTORE (eval'd).  Sets CASE_T, CASE_LIM,
# and OUT_TXT of the last run.
bench_case() {
	local name=$1 runs=$2 lfiles=$3 restore=$4 i
	shift 4
	local ts=() ls=()
	log "$name x$runs"
	for i in $(seq "$runs"); do
		# shellcheck disable=SC2086
		timed "$BT" read $lfiles
		ls+=("$T")
		timed "$@"
		ts+=("$T")
		eval "$restore"
	done
	CASE_T=$(printf '%s\n' "${ts[@]}" | median)
	CASE_LIM=$(printf '%s\n' "${ls[@]}" | median)
}

for g in $SIZES; do
	size=$((g * 1024 * 1024 * 1024))
	S=$W/src$g D=$W/dst$g F=$W/full$g
	log "$g GiB: generating"
	"$BT" gen "$S" "$size" 1
	"$BT" gen "$D" "$size" 1
	sync
	cat "$S" "$D" >/dev/null

	# Nothing changed: the compare alone, against the same read limit.
	bench_case "$g GiB 0%: asrfs-delta" $RUNS "$S $D" "" "$DELTA" --stats "$S" "$D"
	sent=$(echo "$OUT_TXT" | sed -n 's/^bytes-transferred: //p')
	row "asrfs-delta, nothing changed (the compare alone)" "$g GiB" "$(fmt "$CASE_T")" "$(fmt "$CASE_LIM")" \
		"$(ratio "$CASE_T" "$CASE_LIM")" "$sent" "-"

	for pct in 1 10; do
		# shellcheck disable=SC2034 # read and set by the restore command bench_case evals
		CHECKED=
		pages=$("$BT" flip "$S" "$pct" 11)
		want=$((pages * 4096))
		restore="\"\$BT\" flip \"\$D\" $pct 11 >/dev/null"
		bench_case "$g GiB $pct%: asrfs-delta" $RUNS "$S $D" "[ -n \"\${CHECKED:-}\" ] || cmp -s $S $D || { echo 'bench: dst differs from src' >&2; exit 1; }; CHECKED=1; $restore" \
			"$DELTA" --stats "$S" "$D"
		sent=$(echo "$OUT_TXT" | sed -n 's/^bytes-transferred: //p')
		row "asrfs-delta, $pct% of pages changed" "$g GiB" "$(fmt "$CASE_T")" "$(fmt "$CASE_LIM")" \
			"$(ratio "$CASE_T" "$CASE_LIM")" "$sent" "$(ratio "$sent" "$want")"
		# The floor any page-cache writer pays for exactly these pages.
		fl=() ls=()
		for i in $(seq $RUNS); do
			timed "$BT" read "$S" "$D"
			ls+=("$T")
			fl+=("$("$BT" wfloor "$D" "$pct" 11)")
		done
		t=$(printf '%s\n' "${fl[@]}" | median)
		l=$(printf '%s\n' "${ls[@]}" | median)
		row "floor: pwrite of the $pct% changed pages alone, one thread" "$g GiB" "$(fmt "$t")" "$(fmt "$l")" \
			"$(ratio "$t" "$l")" "$want" "1.00"
		bench_case "$g GiB $pct%: asrfs-delta --threads 1" $RUNS "$S $D" "$restore" \
			"$DELTA" --threads 1 --stats "$S" "$D"
		sent=$(echo "$OUT_TXT" | sed -n 's/^bytes-transferred: //p')
		row "asrfs-delta --threads 1, $pct%" "$g GiB" "$(fmt "$CASE_T")" "$(fmt "$CASE_LIM")" \
			"$(ratio "$CASE_T" "$CASE_LIM")" "$sent" "$(ratio "$sent" "$want")"
		rr=$RUNS
		[ "$g" -ge 4 ] && rr=1
		bench_case "$g GiB $pct%: rsync" $rr "$S $D" "$restore" \
			rsync -I --inplace --no-whole-file -B4096 --stats "$S" "$D"
		rsent=$(echo "$OUT_TXT" | sed -n 's/^Literal data: \([0-9,]*\) bytes.*/\1/p' | tr -d ,)
		row "rsync -B4096 --inplace --no-whole-file, $pct% (x$rr)" "$g GiB" "$(fmt "$CASE_T")" \
			"$(fmt "$CASE_LIM")" "$(ratio "$CASE_T" "$CASE_LIM")" "$rsent" "$(ratio "$rsent" "$want")"
		"$BT" flip "$S" "$pct" 11 >/dev/null # src back to the base too
	done
	cmp -s "$S" "$D" || { echo "bench: restore failed" >&2; exit 1; }

	# cp and the full copy: both into a missing file, limit = both files read.
	# Writing GiBs of new page cache costs this VM wildly different times
	# from run to run (seconds of kernel time either way), so the two run
	# in turns, each after a sync, and compare medians of the same rounds.
	log "$g GiB: cp and full copy x$RUNS, in turns"
	tcs=() tds=() lcs=() lds=()
	for i in $(seq $RUNS); do
		rm -f "$F"; sync
		timed "$BT" read "$S" "$D"; lcs+=("$T")
		timed cp "$S" "$F"; tcs+=("$T")
		rm -f "$F"; sync
		timed "$BT" read "$S" "$D"; lds+=("$T")
		timed "$DELTA" --stats "$S" "$F"; tds+=("$T")
		[ "$i" -gt 1 ] || cmp -s "$S" "$F" || { echo "bench: full copy differs" >&2; exit 1; }
	done
	rm -f "$F"
	tc=$(printf '%s\n' "${tcs[@]}" | median) lc=$(printf '%s\n' "${lcs[@]}" | median)
	td=$(printf '%s\n' "${tds[@]}" | median) ld=$(printf '%s\n' "${lds[@]}" | median)
	log "$g GiB: cp runs ${tcs[*]}; full copy runs ${tds[*]}"
	row "cp into a missing file" "$g GiB" "$(fmt "$tc")" "$(fmt "$lc")" "$(ratio "$tc" "$lc")" "$size" "-"
	row "asrfs-delta full copy into a missing file" "$g GiB" "$(fmt "$td")" "$(fmt "$ld")" \
		"$(ratio "$td" "$ld")" "$size" "$(ratio "$td" "$tc") x cp"

	# Map mode: limit = reading the source alone (one reader thread, like cat).
	log "$g GiB: map cycle"
	ms=() ls=()
	for i in $(seq $RUNS); do
		ls+=("$("$BT" read "$S")")
		line=$("$BT" map "$S" "$D" 1)
		ms+=("${line% *}")
		msent=${line#* }
	done
	t=$(printf '%s\n' "${ms[@]}" | median)
	l=$(printf '%s\n' "${ls[@]}" | median)
	row "map-mode cycle, unchanged source (limit: read src alone)" "$g GiB" "$(fmt "$t")" "$(fmt "$l")" \
		"$(ratio "$t" "$l")" "$msent" "-"
	rm -f "$S" "$D" "$F"
done

# Holes: a 1 GiB file with 64 MiB of data in 4 extents copies as sparse.
H=$W/sparse
truncate -s 1G "$H"
for o in 0 300 600 1000; do
	dd if=/dev/urandom of="$H" bs=1M count=16 seek="$o" conv=notrunc status=none
done
sync
"$DELTA" "$H" "$W/sparse.delta"
cp "$H" "$W/sparse.cp"
cmp -s "$H" "$W/sparse.delta" || { echo "bench: sparse copy differs" >&2; exit 1; }
holes="source $(stat -c %b "$H") blocks, asrfs-delta copy $(stat -c %b "$W/sparse.delta"), cp copy $(stat -c %b "$W/sparse.cp") (512-byte blocks, 1 GiB apparent size)"

# ---- report ----
# The file also holds make bench-replication's section, kept as it is.
repl=$(sed -n '/^## Replication (make bench-replication)$/,$p' "$OUT" 2>/dev/null || true)
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
{
	cat <<EOF
# Delta engine benchmarks

Generated by \`make bench\` (scripts/bench.sh) on $(date -u '+%Y-%m-%d %H:%M UTC').

Machine: $(nproc) CPUs, $model, $mem RAM, Linux $(uname -r);
filesystem of the scratch dir: $(df -T "$BENCH_DIR" | awk 'NR==2 {print $2}').
Load average (1/5/15 min) at the start: $load_start; at the end: $(cut -d" " -f1-3 /proc/loadavg)
(other jobs share the machine; see the last note).

All files are cached (read once before measuring).  Times are wall seconds
measured around the whole command, median of $RUNS runs (rsync on 4 GiB: one
run).  "read limit" is the median of the same number of runs, each made
right before the timed one, of reading both files at once with a small C
reader (one thread per file, 1 MiB preads), timed around the whole command
like the engine, as the issue's \`cat A & cat B; wait\` is: the least any
compare of the two files must cost.  The map-mode row times both inside one
process (the engine called from C, and the source alone read by one thread,
as cat reads it); the write floors time the writes alone.  Pairing the runs keeps the ratio honest when the machine is
shared.  "sent" is bytes written to the destination (asrfs: bytes-transferred;
rsync: literal data); "sent / changed" divides it by the changed pages'
bytes (pages x 4096).

| case | size | seconds | read limit | vs limit | sent | sent / changed |
|---|---|---|---|---|---|---|
EOF
	printf '%s\n' "${rows[@]}"
	cat <<EOF

Holes: $holes.

EOF
	# Static notes: a quoted here-document, nothing in it is expanded.
	cat <<'EOF'
## How to read it

- Targets (issue "Delta engine at the speed of memory"): the 1 % and 10 %
  cases at most 1.5 x the read limit and faster than cp; bytes sent at most
  1.01 x the changed pages; a full copy into an empty target no slower than
  cp, holes kept; a map-mode cycle on an unchanged disk at most 1.2 x reading
  the source alone.
- Design: two workers claim 256 KiB chunks in order; each reads its chunk of
  both files into its own buffers and compares page by page with memcmp
  while the data is in that core's L2 (512 KiB chunks measured a third
  slower: the pair no longer fits), so both cores read at once.
  Writes to one file serialise on the inode lock, so one worker at a time is
  the writer and drains a queue of changed chunks while the other keeps
  reading.  Only changed 4 KiB pages are written (adjacent ones in one
  pwrite); zero pages over data are punched; holes are never read.
- Where the time goes above the read limit.  Two floors are measured in the
  same run.  "nothing changed" is the compare alone: the same preads as the
  reader plus memcmp of the buffers (about 1.2-1.3 x; the kernel's copy into
  user memory is most of it, memcmp a fifth).  "floor: pwrite of the changed
  pages alone" is what writing exactly the changed pages costs any engine
  that writes through the page cache: one pwrite per scattered page, one
  thread at a time (ext4 holds the inode lock across a buffered write), and
  ext4's write_begin/commit walks every block of the large folio a page
  sits in.  At 10 % that floor alone is near or above 1.5 x the read limit,
  so the 10 % target cannot be met on this kernel by writing only the
  changed pages; the engine's time is about the compare plus the floor,
  overlapped on the two cores.  Mapping the files instead of reading them
  was measured and is far slower here: page-cache folios are mapped page by
  page (about 1 us a page), not as huge pages.
- The 1 % case is bound by the two cores' work, not by waiting: its CPU time
  (user + sys) is the compare's on both cores plus the writes' on one, and
  half of that sum is about 1.4-1.5 x the read limit before any scheduling
  slack; the engine measures about 1.55-1.7 x.
- The full copy writes GiBs of new page cache.  On this virtual machine the
  kernel time that costs varies several-fold from run to run (cp of 4 GiB
  measured 1.05 to 8.6 s, dd 0.9 to 9.5 s, all of it sys time), so cp and
  the engine run in turns, each after a sync, and their medians are
  compared.  cp hands the copy to the kernel (copy_file_range: one copy);
  the engine reads each chunk to find its zero pages (written as holes)
  and writes the rest (two copies).  A page fault on this VM costs about
  20 us, so the engine's buffers are one huge-page arena.
- rsync pays a strong checksum per block and ships data through a pipe.
- Map mode reads only the source and hashes each page with XXH3-128 (an
  AVX2 build of it when the CPU has AVX2); both workers read the one file.
- The machine is shared with other jobs: each timed run is paired with a
  read-limit run made right before it, and medians of the pairs are compared.
  Outliers still show; rerun make bench on a quiet machine for clean ratios.
EOF
	[ -z "$repl" ] || printf '\n%s\n' "$repl"
} >"$OUT"
log "wrote $OUT"
cat "$OUT"
BUILD="$BUILD" scripts/bench-azblob.sh || echo "bench-azblob failed" >&2 # reprotect into azblob vs curl (docs/AZBLOB.md)
