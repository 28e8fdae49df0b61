#!/bin/bash
# t_vhd.sh - an unmanaged disk's <disk>.vhd is a fixed VHD (SPEC 5): through
# the mount, the disk's bytes followed by a 512-byte VHD footer that
# `qemu-img info` reads as vpc with the disk's virtual size; the footer is
# read-only; the region's own file is that same VHD; managed disks stay
# raw; the footer survives protection, failover and commit (replicas and
# failed-over disks are VHDs too); and a .vhd made before footers is still
# served, its bytes untouched, with a footer made up for it.
. "$(dirname "$0")/lib.sh"

WR="$STATE/regions/westeurope"
WV() { echo "$MNT/regions/westeurope/storage-accounts/$1/vhds/$2.vhd"; }
NV() { echo "$MNT/regions/northeurope/storage-accounts/$1/vhds/$2.vhd"; }

# footer FILE: "<current size> <disk type> <creator> <uuid>" when FILE ends
# with a valid fixed-VHD footer (cookie, version, data offset, checksum)
# for the bytes before it; "bad: why" otherwise.
footer() {
	python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as fp:
    fp.seek(0, 2); size = fp.tell()
    fp.seek(size - 512); f = fp.read(512)
ck = struct.unpack(">I", f[64:68])[0]
s = (~(sum(f[:64]) + sum(f[68:]))) & 0xffffffff
why = []
if f[:8] != b"conectix": why.append("cookie")
if struct.unpack(">I", f[12:16])[0] != 0x10000: why.append("version")
if struct.unpack(">Q", f[16:24])[0] != 0xffffffffffffffff: why.append("data offset")
if ck != s: why.append("checksum")
cur = struct.unpack(">Q", f[48:56])[0]
if cur != size - 512: why.append("current size %d, file %d" % (cur, size))
if struct.unpack(">Q", f[40:48])[0] == 0: why.append("original size")
print("bad: " + ",".join(why) if why else "%d %d %s %s" % (cur, struct.unpack(">I", f[60:64])[0], f[28:32].decode().strip(), f[68:84].hex()))
PY
}
not() { ! "$@" >/dev/null 2>&1; }
is_vhd() { case $(footer "$1") in "$2 2 "*) return 0 ;; *) echo "  $1: $(footer "$1")" >&2; return 1 ;; esac; }

asrfs_start || { not_ok "mount"; finish; }
fast_policy 1
create_vm westeurope rg1 db01 db01-os:16M,db01-data:3M,db01-odd:1000K storage-account=sa1
create_vm westeurope rg1 web01 web01-os:4M
OS=$(WV sa1 db01-os)

check "the .vhd is the disk's bytes and a footer" test "$(stat -c %s "$OS")" -eq $(((16 << 20) + 512))
check "footer: fixed disk of 16 MiB" is_vhd "$OS" $((16 << 20))
check "footer: an odd size too" is_vhd "$(WV sa1 db01-odd)" $((1000 << 10))
check "a managed disk has none" test "$(stat -c %s "$(WD rg1 web01-os)")" -eq $((4 << 20))

# The region's own file is the same VHD.
check "the region's file is a VHD" is_vhd "$WR/storage-accounts/sa1/vhds/db01-os.vhd" $((16 << 20))
check "the mount shows the region's file" cmp -s "$OS" "$WR/storage-accounts/sa1/vhds/db01-os.vhd"
check "the region's managed disk stays raw" test "$(stat -c %s "$WR/resource-groups/rg1/disks/web01-os")" -eq $((4 << 20))

# Bytes: written up to the last disk byte; the footer cannot be written.
scribble "$OS" 64 0
dd if=/dev/urandom of="$OS" bs=512 count=1 seek=$(((16 << 20) / 512 - 1)) conv=notrunc status=none
check "the last disk sector is written" test "$(tail -c 1024 "$OS" | head -c 512 | tr -d '\0' | wc -c)" -gt 0
before=$(tail -c 512 "$OS" | md5sum)
pw() { python3 -c 'import os,sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.pwrite(fd, b"x" * 512, int(sys.argv[2])); print(0)
except OSError as e:
    print(e.errno)' "$@"; }
check "a write into the footer is EPERM" test "$(pw "$OS" $((16 << 20)))" -eq 1
check "a write past the file is ENOSPC" test "$(pw "$OS" $(((16 << 20) + 4096)))" -eq 28
check "the footer is unchanged" test "$(tail -c 512 "$OS" | md5sum)" = "$before"
check "footer still valid after writes" is_vhd "$OS" $((16 << 20))

# qemu-img (Debian's qemu-utils), installed when missing.  Like Azure's
# own, a fixed VHD has no copy of its footer at the start, so qemu-img's
# probe calls it raw: it is read with -f vpc, which refuses a raw file.
if ! command -v qemu-img >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-utils >/dev/null 2>&1
fi
if command -v qemu-img >/dev/null 2>&1; then
	for f in db01-os:$((16 << 20)) db01-data:$((3 << 20)) db01-odd:$((1000 << 10)); do
		info=$(qemu-img info -f vpc --output=json "$(WV sa1 "${f%%:*}")" 2>&1)
		check "qemu-img: ${f%%:*}.vhd is vpc" test "$(echo "$info" | jq -r '."format"')" = vpc
		check "qemu-img: ${f%%:*}.vhd virtual size ${f#*:}" test "$(echo "$info" | jq -r '."virtual-size"')" = "${f#*:}"
	done
	check "qemu-img: a raw file is not vpc" not qemu-img info -f vpc "$WR/resource-groups/rg1/disks/web01-os"
	qemu-img convert -f vpc -O raw "$OS" "$WORK/os.raw"
	check "qemu-img reads the disk's bytes" cmp -s -n $((16 << 20)) "$WORK/os.raw" "$OS"
else
	skip "qemu-img: qemu-utils is not installed and could not be (apt-get install qemu-utils)"
fi

# Replicas, failover and commit keep VHDs.
check "protect db01" protect rg1 db01
I=$(V)/items/db01
tsa=$(cat "$I/settings/target-storage-account")
check "the replica is a VHD" is_vhd "$(NV "$tsa" db01-os-ASRReplica)" $((16 << 20))
cp "$OS" "$WORK/os.0"
echo "latest shutdown=yes" >"$I/failover"
check "failover" wait_for 60 file_is "$I/state" FailedOver
check "the failed-over disk is a VHD" is_vhd "$(NV "$tsa" db01-os)" $((16 << 20))
check "with the source's bytes" same_vhd "$WORK/os.0" "$(NV "$tsa" db01-os)"
echo start >"$I/commit"
check "commit" wait_for 60 file_is "$I/state" FailoverCommitted
check "still a VHD after commit" is_vhd "$(NV "$tsa" db01-os)" $((16 << 20))
check "the region's failed-over file is a VHD" is_vhd "$STATE/regions/northeurope/storage-accounts/$tsa/vhds/db01-os.vhd" $((16 << 20))
asrfs_stop

# A .vhd made before footers: its file is raw.  It is served with a footer
# made up for it (nil id), and writes leave its file raw.
DATA="$WR/storage-accounts/sa1/vhds/db01-data.vhd"
truncate -s $((3 << 20)) "$DATA"
head -c $((3 << 20)) /dev/urandom >"$WORK/raw"
dd if="$WORK/raw" of="$DATA" conv=notrunc status=none
asrfs_start || { not_ok "mount again"; finish; }
D=$(WV sa1 db01-data)
check "a raw .vhd is served as a VHD" is_vhd "$D" $((3 << 20))
check "with a nil id" test "$(footer "$D" | cut -d' ' -f4)" = 00000000000000000000000000000000
check "and its bytes" cmp -s -n $((3 << 20)) "$WORK/raw" "$D"
scribble "$D" 1 0
check "a write leaves the file raw" test "$(stat -c %s "$DATA")" -eq $((3 << 20))
check "and lands in it" cmp -s -n 4096 "$D" "$DATA"
finish
