#!/bin/bash
# t_install.sh - `make install` (SPEC 2): the installed layout under DESTDIR
# with PREFIX=/usr, man pages asrfs(8) and asrfs-delta(1) that man renders
# without warnings, the systemd unit asrfs@.service (checked by
# systemd-analyze when present), the example fstab line, and
# `make uninstall` taking it all away again.
. "$(dirname "$0")/lib.sh"

# make_install DIR ARGS...: install the binaries built in $BUILD, as they are.
make_install() {
	make -s -C "$TOP" BUILD="$BUILD" -o "$BUILD/asrfs" -o "$BUILD/asrfs-delta" "$@" >"$WORK/make.out" 2>&1 ||
		{ cat "$WORK/make.out"; return 1; }
}
D="$WORK/root"
check "make install DESTDIR=... PREFIX=/usr" make_install install DESTDIR="$D" PREFIX=/usr

exe() { test -f "$1" -a -x "$1" && test "$(stat -c %a "$1")" = 755; }
check "bin/asrfs, executable" exe "$D/usr/bin/asrfs"
check "bin/asrfs-delta, executable" exe "$D/usr/bin/asrfs-delta"
check "bin/asr-wait.sh, executable" exe "$D/usr/bin/asr-wait.sh"
check "check_asrfs among the monitoring plugins" exe "$D/usr/lib/nagios/plugins/check_asrfs"
check "the installed asrfs runs: -V" test "$("$D/usr/bin/asrfs" -V)" = "asrfs $(sed -n 's/^#define ASRFS_VERSION "\(.*\)"$/\1/p' "$TOP/core/core.h")"
check "the installed asrfs-delta runs: --help" sh -c "'$D/usr/bin/asrfs-delta' --help | grep -q '^usage: asrfs-delta'"
check "sbin/mount.fuse.asrfs points at mount.fuse3" sh -c "readlink '$D/usr/sbin/mount.fuse.asrfs' | grep -q '/mount.fuse3$'"
M8="$D/usr/share/man/man8/asrfs.8" M1="$D/usr/share/man/man1/asrfs-delta.1"
check "man8/asrfs.8, 0644" test "$(stat -c %a "$M8" 2>/dev/null)" = 644
check "man1/asrfs-delta.1, 0644" test "$(stat -c %a "$M1" 2>/dev/null)" = 644
if command -v man >/dev/null; then
	for page in "$M8" "$M1"; do
		w=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
		check "man -l $(basename "$page") renders without warnings" test -z "$w"
		[ -z "$w" ] || echo "$w" | head -5
	done
	page8=$(MANWIDTH=80 man -l "$M8" 2>/dev/null)
	for part in SYNOPSIS OPTIONS MOUNTING CONFIGURATION "THE TREE" "CONTROL FILES" ERRORS SIGNALS LOGGING EXAMPLES; do
		check "asrfs(8) has $part" grep -q "^$part" <<<"$page8"
	done
	for word in EINVAL EEXIST EBUSY EPERM EHOSTUNREACH EROFS "mount -t fuse.asrfs" "asrfs@.service" \
		"state=/var/lib/asrfs,_netdev" "--log-level" "--metrics-file" SIGHUP enable-replication reprotect; do
		check "asrfs(8) tells of $word" grep -qF -- "$word" <<<"$page8"
	done
	check "asrfs-delta(1) tells of --stats' lines" sh -c "MANWIDTH=80 man -l '$M1' 2>/dev/null | grep -q 'bytes-transferred'"
else
	skip "man is not installed"
fi

U="$D/usr/lib/systemd/system/asrfs@.service"
check "the unit asrfs@.service, 0644" test "$(stat -c %a "$U" 2>/dev/null)" = 644
check "the unit starts the installed asrfs" grep -q '^ExecStart=/usr/bin/asrfs --config /etc/asrfs/%i.json --state /var/lib/asrfs/%i %f$' "$U"
# shellcheck disable=SC2016 # $MAINPID is systemd's, not the shell's
check "the unit reloads with SIGHUP" grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$U"
check "no placeholder left in the unit" test "$(grep -c '@[A-Z]*@' "$U")" -eq 0
if command -v systemd-analyze >/dev/null; then
	# A second install with real paths, so that verify finds the binaries.
	P="$WORK/prefix"
	check "make install PREFIX=<dir>" make_install install PREFIX="$P"
	cp "$P/lib/systemd/system/asrfs@.service" "$WORK/asrfs@mnt-asr.service"
	out=$(timeout 60 systemd-analyze verify --man=no "$WORK/asrfs@mnt-asr.service" 2>&1)
	check "systemd-analyze verify accepts the unit" test -z "$out"
	[ -z "$out" ] || echo "$out" | head -5
else
	skip "systemd-analyze is not installed"
fi

check "the example config is JSON with regions and vaults" \
	test "$(jq -r '[.regions[].name, .vaults[].name] | join(" ")' "$D/usr/share/doc/asrfs/examples/asrfs.json")" = "westeurope northeurope asr-vault"
check "the example fstab line is the documented one" \
	grep -qE '^/etc/asrfs/asrfs.json +/mnt/asr +fuse.asrfs +state=/var/lib/asrfs,_netdev +0 +0$' "$D/usr/share/doc/asrfs/examples/fstab.example"
check "README installed with the docs" test -s "$D/usr/share/doc/asrfs/README.md"

check "make uninstall DESTDIR=... PREFIX=/usr" make_install uninstall DESTDIR="$D" PREFIX=/usr
left=$(find "$D" ! -type d | head -5)
check "uninstall leaves no file behind" test -z "$left"
[ -z "$left" ] || echo "$left"
finish
