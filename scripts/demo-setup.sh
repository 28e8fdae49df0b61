#!/bin/bash
# demo-setup.sh - populate a mounted asrfs with the sample VMs of the demo:
# web01 (OS + data disk) and db01 in westeurope, resource group demo-rg,
# network demo-vnet, each disk an ext4 filesystem with a few files (made
# with mke2fs -d), replication to northeurope enabled with the default
# policy.  Idempotent: what exists already is left as it is.
#
#   scripts/demo-setup.sh MOUNTPOINT [WORKDIR]
set -eu
usage() { echo "usage: demo-setup.sh MOUNTPOINT [WORKDIR]"; }
case ${1:-} in
-h | --help) usage; sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
"" | -*) [ -n "${1:-}" ] && echo "demo-setup.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
[ $# -le 2 ] || { echo "demo-setup.sh: too many arguments" >&2; usage >&2; exit 2; }
MNT=$1
WORK=${2:-$(mktemp -d)}
W="$MNT/regions/westeurope"
V="$MNT/vaults/asr-vault"
mkdir -p "$WORK"

# image NAME SIZE_MB: an ext4 image with a few files of the VM's.
image() {
	local name=$1 mb=$2 src="$WORK/$1.d"
	rm -rf "$src"
	mkdir -p "$src/etc" "$src/var/www" "$src/var/log"
	echo "$name" >"$src/etc/hostname"
	printf '<html><body><h1>%s</h1><p>protected by asrfs</p></body></html>\n' "$name" >"$src/var/www/index.html"
	seq 1 2000 | sed "s/^/$name log line /" >"$src/var/log/app.log"
	head -c 1048576 /dev/urandom >"$src/var/www/blob.bin"
	rm -f "$WORK/$name.img"
	mke2fs -q -F -t ext4 -L "$name" -d "$src" "$WORK/$name.img" "${mb}M" >/dev/null
}

# vm NAME DISK:MB ...: create the VM and fill its disks with ext4 images.
vm() {
	local name=$1; shift
	local spec="" d
	[ -d "$W/resource-groups/demo-rg/vms/$name" ] && return 0
	for d in "$@"; do spec="$spec${spec:+,}${d%%:*}:${d##*:}M"; done
	echo "name=$name resource-group=demo-rg disks=$spec network=demo-vnet" >"$W/create-vm"
	for d in "$@"; do
		image "${d%%:*}" "${d##*:}"
		dd if="$WORK/${d%%:*}.img" of="$W/resource-groups/demo-rg/disks/${d%%:*}" bs=1M conv=notrunc,sparse status=none
	done
	echo "created VM $name with disks: $*"
}

vm web01 web01-os:64 web01-data:32
vm db01 db01-os:64

# Points every 30 s, so there is something to look at soon.
echo 30 >"$V/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
for name in web01 db01; do
	if [ ! -d "$V/items/$name" ]; then
		echo "vm=demo-rg/$name source=westeurope target=northeurope" >"$V/enable-replication"
		echo "enabling replication of $name"
	fi
done
for name in web01 db01; do
	for _ in $(seq 1 300); do
		[ "$(cat "$V/items/$name/state")" = Protected ] && break
		sleep 0.2
	done
	echo "$name: $(cat "$V/items/$name/state")"
done
