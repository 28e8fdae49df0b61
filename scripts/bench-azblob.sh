#!/bin/bash
# bench-azblob.sh - reprotect into an azblob region, against curl alone
# (part of `make bench`; scripts/bench.sh calls it).
#
# westeurope is an azblob region on a local Azurite, northeurope a local
# one.  A VM with one 256 MiB disk of random data is protected, failed over
# to northeurope and committed; then 5 % of its disk changes there (13 runs
# of 1 MiB, spread evenly) and reprotect syncs it back into westeurope:
# compares both disks and uploads the differing blocks.  Its rate is
# bytes-transferred / the reprotect's wall time (write of "start" to state
# Protected, polled every 10 ms with builtins).  The reference is curl alone uploading the
# same number of bytes to the same Azurite as 4 MiB Put Page calls (one curl
# process, one connection, requests signed beforehand), the median of five
# runs.  Goal: >= 80 %.
# Prints a small table; the numbers of record go to docs/AZBLOB.md by hand.
#
#   BUILD   build directory with asrfs and libsync.a (default build)
set -eu
usage() { echo "usage: bench-azblob.sh [--help]   (environment: BUILD)"; }
[ $# -eq 0 ] || case $1 in
-h | --help) usage; sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "bench-azblob.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
TOP=$(pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
[ -x "$BUILD/asrfs" ] || { echo "bench-azblob: $BUILD/asrfs missing (make BUILD=$BUILD)" >&2; exit 1; }
scripts/azurite.sh install >/dev/null 2>&1 || { echo "bench-azblob: skipped (Azurite cannot be installed)"; exit 0; }

W=$(mktemp -d /tmp/asrfs-bench-az.XXXXXX)
MNT="$W/mnt"
AZPID="" ASRPID=""
cleanup() {
	if [ -n "$ASRPID" ]; then
		fusermount3 -u "$MNT" 2>/dev/null || kill "$ASRPID" 2>/dev/null || true
		wait "$ASRPID" 2>/dev/null || true
	fi
	[ -n "$AZPID" ] && scripts/azurite.sh stop "$AZPID"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$MNT"
read -r PORT AZPID <<<"$(scripts/azurite.sh start "$W/azurite")"
ACCOUNT=devstoreaccount1
ENDPOINT="http://127.0.0.1:$PORT/$ACCOUNT"
# Azurite's public development key (documented by Microsoft; tests only).
export ASRFS_BENCH_AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

# ---- a SharedKey signer over the backend's own signing code ----
cat >"$W/sign.c" <<'EOF'
/* sign VERB PATH QUERY NAME=VALUE... - print the Authorization value for a
 * request (key from ASRFS_BENCH_AZ_KEY), using backend/azblob_sign.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/azblob_sign.h"

int main(int argc, char **argv)
{
	struct az_hdr h[16];
	unsigned char *key = NULL;
	size_t keylen = 0, n = 0;
	char *sts = NULL, sig[64];
	int rc = 1;

	if (argc < 4 || argc - 4 > 16 || !getenv("ASRFS_BENCH_AZ_KEY"))
		return 2;
	for (int i = 4; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq)
			return 2;
		*eq = '\0';
		h[n++] = (struct az_hdr){argv[i], eq + 1};
	}
	if (az_b64_decode(getenv("ASRFS_BENCH_AZ_KEY"), &key, &keylen) < 0)
		goto out;
	if (az_string_to_sign(argv[1], "devstoreaccount1", argv[2], argv[3], h, n, &sts) < 0)
		goto out;
	if (az_hmac_b64(key, keylen, sts, sig, sizeof(sig)) < 0)
		goto out;
	printf("SharedKey devstoreaccount1:%s\n", sig);
	rc = 0;
out:
	free(sts);
	free(key);
	return rc;
}
EOF
read -ra crypto_libs <<<"$(pkg-config --libs libcrypto)"
cc -O2 -I"$TOP" -o "$W/sign" "$W/sign.c" "$BUILD/libsync.a" "${crypto_libs[@]}" 2>&1

SIZE=$((256 << 20))
EXT=$((1 << 20))
NEXT=13 # 13 MiB: 5 % of 256 MiB
STRIDE=$((SIZE / NEXT / EXT))

# ---- asrfs: protect, fail over, commit, change 5 %, reprotect ----
cat >"$W/asrfs.json" <<EOF
{"regions": [
   {"name": "westeurope", "backend": "azblob", "endpoint": "$ENDPOINT", "account": "$ACCOUNT",
    "key_env": "ASRFS_BENCH_AZ_KEY", "container": "bench"},
   {"name": "northeurope", "backend": "local", "path": "$W/northeurope"}],
 "vaults": [{"name": "asr-vault", "region": "northeurope"}], "workers": 4}
EOF
"$BUILD/asrfs" -f --state "$W/state" --config "$W/asrfs.json" "$MNT" >"$W/asrfs.log" 2>&1 &
ASRPID=$!
for _ in $(seq 1 100); do [ -e "$MNT/version" ] && break; sleep 0.1; done
I="$MNT/vaults/asr-vault/items/web01"
# Polled every 10 ms with shell builtins only (read, and read -t on a pipe
# nobody writes as the sleep): a process spawn costs ~20 ms here, which
# would be charged to the reprotect.
exec 9<> <(:)
wait_state() { # STATE SECONDS
	local end=$((SECONDS + $2)) st=""
	while :; do
		st=""
		read -r st <"$I/state" 2>/dev/null || true
		[ "$st" = "$1" ] && return 0
		[ $SECONDS -lt $end ] || { echo "bench-azblob: $1 not reached; log:" >&2; tail "$W/asrfs.log" >&2; exit 1; }
		read -r -t 0.01 -u 9 _ || true
	done
}
echo "name=web01 resource-group=rg1 disks=web01-os:256M" >"$MNT/regions/westeurope/create-vm"
dd if=/dev/urandom of="$W/src" bs=4M count=64 status=none
dd if="$W/src" of="$MNT/regions/westeurope/resource-groups/rg1/disks/web01-os" bs=4M conv=notrunc status=none
echo "vm=rg1/web01 source=westeurope target=northeurope" >"$MNT/vaults/asr-vault/enable-replication"
wait_state Protected 300
echo "latest shutdown=yes" >"$I/failover"
wait_state FailedOver 300
echo start >"$I/commit"
wait_state FailoverCommitted 60
REC="$MNT/regions/northeurope/resource-groups/rg1-asr/disks/web01-os"
for k in $(seq 0 $((NEXT - 1))); do
	dd if=/dev/urandom of="$REC" bs=$EXT count=1 seek=$((k * STRIDE)) conv=notrunc status=none
done
sync
t0=$EPOCHREALTIME
echo start >"$I/reprotect"
wait_state Protected 600
t1=$EPOCHREALTIME
echo "# reprotect from $t0 to $t1 (epoch seconds)"
SENT=$(cat "$I/job/bytes-transferred")
COMPARED=$(cat "$I/job/bytes-compared")
sed 's/^/# reprotect task: /' "$I/job/tasks"
if cmp -s "$REC" "$MNT/regions/westeurope/resource-groups/rg1/disks/web01-os-ASRReplica"; then SAME=yes; else SAME=NO; fi
fusermount3 -u "$MNT"
wait "$ASRPID" 2>/dev/null || true
ASRPID=""

# ---- curl alone: the same byte count as 4 MiB Put Page calls ----
DATE=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
VER=2021-08-06
BLOB="/$ACCOUNT/bench/curl-ref"
auth=$("$W/sign" PUT "$BLOB" "" "x-ms-date=$DATE" "x-ms-version=$VER" "x-ms-blob-type=PageBlob" \
	"x-ms-blob-content-length=$SIZE" "Content-Length=0")
curl -sf -o /dev/null -X PUT -H "x-ms-date: $DATE" -H "x-ms-version: $VER" -H "x-ms-blob-type: PageBlob" \
	-H "x-ms-blob-content-length: $SIZE" -H "Content-Length: 0" -H "Authorization: $auth" \
	"http://127.0.0.1:$PORT$BLOB"
PIECE=$((4 << 20))
head -c "$SENT" "$W/src" >"$W/payload"
args=()
off=0
while [ "$off" -lt "$SENT" ]; do
	len=$((SENT - off < PIECE ? SENT - off : PIECE))
	len=$(((len + 511) / 512 * 512))
	dd if="$W/payload" of="$W/piece.$off" bs=$len count=1 skip=$((off / len)) iflag=skip_bytes status=none 2>/dev/null ||
		head -c "$len" "$W/payload" >"$W/piece.$off"
	truncate -s "$len" "$W/piece.$off"
	range="bytes=$off-$((off + len - 1))"
	auth=$("$W/sign" PUT "$BLOB" "comp=page" "x-ms-date=$DATE" "x-ms-version=$VER" "x-ms-page-write=update" \
		"x-ms-range=$range" "Content-Length=$len")
	[ ${#args[@]} -gt 0 ] && args+=(--next)
	args+=(-sf -o /dev/null -X PUT -H "x-ms-date: $DATE" -H "x-ms-version: $VER" -H "x-ms-page-write: update"
		-H "x-ms-range: $range" -H "Content-Type:" -H "Expect:" -H "Authorization: $auth"
		--data-binary "@$W/piece.$off" "http://127.0.0.1:$PORT$BLOB?comp=page")
	off=$((off + len))
done
# Five runs, the median: one run of curl varies by a third here.
ctimes=()
for _ in 1 2 3 4 5; do
	c0=$EPOCHREALTIME
	curl "${args[@]}"
	c1=$EPOCHREALTIME
	ctimes+=("$(echo "$c1 - $c0" | bc)")
done
echo "# curl runs (s): ${ctimes[*]}"
CMED=$(printf '%s\n' "${ctimes[@]}" | sort -n | sed -n 3p)

awk -v sent="$SENT" -v cmpd="$COMPARED" -v t="$(echo "$t1 - $t0" | bc)" -v c="$CMED" \
	-v same="$SAME" 'BEGIN {
	r = sent / t; cr = sent / c;
	printf "| case | bytes | seconds | MB/s |\n|---|---|---|---|\n";
	printf "| asrfs reprotect into azblob, 5 %% of 256 MiB changed (compared %d bytes; replica equal: %s) | %d | %.3f | %.1f |\n", cmpd, same, sent, t, r / 1e6;
	printf "| curl alone, same bytes as 4 MiB Put Page calls (median of 5) | %d | %.3f | %.1f |\n", sent, c, cr / 1e6;
	printf "\nreprotect rate / curl rate: %.0f %% (goal >= 80 %%)\n", 100 * r / cr;
}'
