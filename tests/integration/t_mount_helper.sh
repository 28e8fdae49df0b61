#!/bin/bash
# t_mount_helper.sh - asrfs as mount(8) and fstab start it (SPEC 2): an
# installed asrfs found by mount.fuse3 on the standard PATH, the config as
# the first argument and every option as -o; --log-level filtering; SIGHUP
# reopening a moved log file and keeping the mount; --metrics-file written
# atomically with metrics/asrfs.prom's series and readable while asrfs is
# stopped with SIGSTOP.
#
# mount(8) runs its helpers with the standard PATH only, so the test runs in
# a private mount namespace where its own install's bin/ is bound over
# /usr/local/bin; nothing outside the namespace sees either.
if [ -z "${ASRFS_IN_MOUNT_NS:-}" ]; then
	if ! unshare -m --propagation private true 2>/dev/null; then
		echo "skip - mount -t fuse.asrfs: no private mount namespace (unshare -m)"
		exit 0
	fi
	ASRFS_IN_MOUNT_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

ROOT="$WORK/root"
if ! make -s -C "$TOP" BUILD="$BUILD" -o "$BUILD/asrfs" -o "$BUILD/asrfs-delta" \
	install DESTDIR="$ROOT" PREFIX=/usr/local >"$WORK/install.out" 2>&1; then
	cat "$WORK/install.out"
	not_ok "make install"
	finish
fi
mount --bind "$ROOT/usr/local/bin" /usr/local/bin || { not_ok "bind the install over /usr/local/bin"; finish; }

# pid of the background asrfs serving $MNT (it forked away from mount).
daemon_pid() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = asrfs ] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF " $MNT " && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}
# umount_all: unmount as an operator would, wait until the daemon is gone.
umount_all() {
	local pid
	pid=$(daemon_pid)
	umount "$MNT" || return 1
	[ -z "$pid" ] || wait_for 15 sh -c "! kill -0 $pid"
}
# keep the daemon's own log for finish's sanitizer check
save_log() { cat "$STATE"/asrfs.log* >>"$LOG" 2>/dev/null; rm -f "$STATE"/asrfs.log*; }

CONF="$WORK/asrfs.json"
cat >"$CONF" <<JSON
{"regions": [{"name": "westeurope", "backend": "local", "path": "$WORK/regions/we"},
             {"name": "northeurope", "backend": "local", "path": "$WORK/regions/ne"}],
 "vaults": [{"name": "asr-vault", "region": "northeurope"}]}
JSON

# 1. The fstab line of the docs, with this test's paths, through mount(8).
printf '%s %s fuse.asrfs state=%s,_netdev,allow_other,log-level=warn 0 0\n' "$CONF" "$MNT" "$STATE" >"$WORK/fstab"
check "mount MOUNTPOINT with an fstab line (mount -T)" mount -T "$WORK/fstab" "$MNT"
check "mounted as fuse.asrfs" grep -q " $MNT fuse.asrfs " /proc/mounts
check "allow_other passed on to FUSE" grep -q " $MNT fuse.asrfs .*allow_other" /proc/mounts
check "the tree is served" test -s "$MNT/version"
check "the config file (first field) was used" file_is "$MNT/regions/westeurope/backend" "local:$WORK/regions/we"
check "the daemon runs in the background" daemon_pid
check "log-level=warn: no info lines in the log" test "$(grep -c ': info: ' "$STATE/asrfs.log")" -eq 0
check "umount stops it" umount_all
check "not mounted any more" not_mounted
save_log

# 2. mount -t with the config and -o options; SIGHUP; log level info.
check "mount -t fuse.asrfs CONFIG MOUNTPOINT -o state=DIR" mount -t fuse.asrfs "$CONF" "$MNT" -o "state=$STATE"
check "mounted" mounted
check "log-level info (default): the mount is logged" grep -q ': info: asrfs .*: mounted on '"$MNT" "$STATE/asrfs.log"
check "log-level info: no debug lines" test "$(grep -c ': debug: ' "$STATE/asrfs.log")" -eq 0
PID=$(daemon_pid)
ASRFS_PID=$PID # finish() unmounts and waits for it
mv "$STATE/asrfs.log" "$STATE/asrfs.log.1"
kill -HUP "$PID"
check "SIGHUP: a new log file appears" wait_for 10 test -s "$STATE/asrfs.log"
check "SIGHUP: the new file has the reopen line" wait_for 5 grep -q ': info: SIGHUP: log file reopened' "$STATE/asrfs.log"
check "SIGHUP: the daemon lives on" kill -0 "$PID"
check "SIGHUP: still mounted and served" test -s "$MNT/version"
create_vm westeurope rg1 vm1 vm1-os:1M
check "SIGHUP: new events go to the new file" wait_for 5 grep -q 'VM rg1/vm1 created' "$STATE/asrfs.log"
check "SIGHUP: nothing more in the moved file" test "$(grep -c 'VM rg1/vm1 created' "$STATE/asrfs.log.1")" -eq 0
check "umount stops it" umount_all
ASRFS_PID=
save_log

# 3. --metrics-file and log-level debug.
PROM="$WORK/textfile/asrfs.prom"
mkdir -p "$WORK/textfile"
check "mount with metrics-file, metrics-interval and log-level=debug" \
	mount -t fuse.asrfs "$CONF" "$MNT" -o "state=$STATE,log-level=debug,metrics-file=$PROM,metrics-interval=1"
PID=$(daemon_pid)
ASRFS_PID=$PID
check "log-level debug: debug lines are written" wait_for 10 grep -q ': debug: metrics written to' "$STATE/asrfs.log"
check "the metrics file is written" wait_for 10 test -s "$PROM"
check "the metrics file is world-readable (0644)" test "$(stat -c %a "$PROM")" = 644
protect rg1 vm1 || not_ok "protect vm1"
sleep 2.5 # two more writes, after the item is Protected
series() { grep -v '^#' "$1" | sed 's/ [^ ]*$//' | sort; }
check "the metrics file has metrics/asrfs.prom's series" test "$(series "$PROM")" = "$(series "$MNT/metrics/asrfs.prom")"
check "the metrics file has the item's series" grep -q 'item="vm1"' "$PROM"
if command -v promtool >/dev/null; then
	check "promtool accepts the metrics file" sh -c "promtool check metrics <'$PROM'"
else
	skip "promtool not installed"
fi
# Atomic: every read sees a whole file, and it is replaced (new inode), never
# rewritten in place; no temporary file is left beside it for long.
ino0=$(stat -c %i "$PROM") whole=0 reads=0
last=$(grep -v '^#' "$PROM" | tail -1 | sed 's/ .*//')
end=$((SECONDS + 4))
while [ $SECONDS -lt $end ]; do
	t=$(cat "$PROM")
	reads=$((reads + 1))
	case "$t" in "# HELP asrfs_up"*"$last"*) whole=$((whole + 1)) ;; esac
done
check "every one of $reads reads saw a whole file" test "$whole" -eq "$reads"
check "the file is replaced by rename (new inode)" test "$(stat -c %i "$PROM")" != "$ino0"
check "no temporary file left beside it" wait_for 5 test "$(ls -A "$WORK/textfile")" = asrfs.prom
# node_exporter's textfile collector serves the file, also while asrfs is
# stopped: a stuck daemon cannot stall the node's scrape.
"$TOP/scripts/install-deps.sh" node_exporter >/dev/null 2>&1
NE=$(command -v prometheus-node-exporter || command -v node_exporter)
NE_PID=
if [ -n "$NE" ]; then
	NE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
	"$NE" --web.listen-address="127.0.0.1:$NE_PORT" --collector.textfile.directory="$WORK/textfile" \
		>"$WORK/node_exporter.log" 2>&1 &
	NE_PID=$!
	check "node_exporter serves asrfs's series" \
		wait_for 15 sh -c "curl -s -m 5 'http://127.0.0.1:$NE_PORT/metrics' | grep -q '^asrfs_up 1$'"
else
	skip "node_exporter: prometheus-node-exporter could not be installed"
fi
kill -STOP "$PID"
sleep 1.5
check "asrfs stopped: the metrics file is still there" test -s "$PROM"
check "asrfs stopped: it reads at once and whole" sh -c "timeout 5 cat '$PROM' | grep -q '^asrfs_up 1$'"
if [ -n "$NE_PID" ]; then
	check "asrfs stopped: node_exporter's scrape answers at once with asrfs's series" \
		sh -c "curl -s -m 5 'http://127.0.0.1:$NE_PORT/metrics' | grep -q 'asrfs_item_state{'"
	check "... and no textfile scrape error" \
		sh -c "curl -s -m 5 'http://127.0.0.1:$NE_PORT/metrics' | grep -q '^node_textfile_scrape_error 0$'"
	kill "$NE_PID" 2>/dev/null
	wait "$NE_PID" 2>/dev/null
fi
kill -CONT "$PID"
check "asrfs continues: the tree is served" wait_for 10 test -s "$MNT/version"

# 4. refusals: an unknown option or a bad level mounts nothing.
check "umount stops it" umount_all
# shellcheck disable=SC2034 # read by lib.sh's finish
ASRFS_PID=
save_log
check "an unknown -o option is refused" sh -c "! mount -t fuse.asrfs '$CONF' '$MNT' -o 'state=$STATE,no_such_option' 2>/dev/null"
check "a bad log level is refused" sh -c "! mount -t fuse.asrfs '$CONF' '$MNT' -o 'state=$STATE,log-level=loud' 2>/dev/null"
check "nothing mounted after the refusals" not_mounted
save_log
finish
