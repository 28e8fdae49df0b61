#!/bin/bash
# t_scripts.sh - the operator scripts of scripts/: --help of every one prints
# its usage and exits 0, an unknown argument prints the usage and exits 2
# (asr-wait.sh and check_asrfs: 3, their documented usage status), and
# neither acts: run with a sandboxed PATH (stubs that record any call to
# apt-get, npm, fusermount3, a compiler...) and HOME, no call is recorded, no
# file appears in the tree or the sandbox, nothing is mounted, no process is
# left running.
# Then asr-wait.sh's plain progress lines when stdout is not a terminal (IEC
# units, every few seconds) and asr-status's one screen on a real mount.
. "$(dirname "$0")/lib.sh"
SB="$WORK/sandbox"
mkdir -p "$SB/bin" "$SB/home" "$SB/tmp"
for c in apt-get apt sudo dpkg-query npm npx node fusermount3 fusermount mount umount cc gcc clang make rsync \
	mke2fs curl dd cp numfmt pkg-config; do
	printf '#!/bin/sh\necho "%s $*" >>"%s/acted"\nexit 1\n' "$c" "$SB" >"$SB/bin/$c"
	chmod +x "$SB/bin/$c"
done

# sandboxed SCRIPT ARG...: runs scripts/SCRIPT in the sandbox; OUT (stdout
# and stderr), RC.
sandboxed() {
	local s=$1; shift
	OUT=$(cd "$SB/home" && env -i PATH="$SB/bin:/usr/bin:/bin" HOME="$SB/home" TMPDIR="$SB/tmp" TERM=dumb \
		timeout 20 "$TOP/scripts/$s" "$@" </dev/null 2>&1)
	RC=$?
}
# acted_on: anything that shows the script did something.
acted_on() {
	local what=""
	[ -s "$SB/acted" ] && what="$what calls: $(tr '\n' ';' <"$SB/acted")"
	[ -n "$(find "$SB/home" "$SB/tmp" -mindepth 1 -print -quit)" ] && what="$what files in the sandbox: $(find "$SB/home" "$SB/tmp" -mindepth 1 | head -3 | tr '\n' ' ')"
	local new
	new=$(find "$TOP" \( -path "$TOP/.git" -o -path "$TOP/build" -o -path "$TOP/tests" \) -prune -o -newer "$SB/marker" -print | head -3)
	[ -n "$new" ] && what="$what new files: $new"
	grep -qF " $TOP/" /proc/mounts && what="$what a mount under $TOP"
	# a process left running has the sandbox's HOME in its environment
	grep -qlzsx "HOME=$SB/home" /proc/[0-9]*/environ && what="$what a process left running"
	echo "$what"
}

scripts=()
for f in "$TOP"/scripts/*; do scripts+=("${f##*/}"); done
check "scripts found (${#scripts[@]})" test ${#scripts[@]} -ge 10
for s in "${scripts[@]}"; do
	check "$s is executable" test -x "$TOP/scripts/$s"
	bad_rc=2
	case $s in asr-wait.sh | check_asrfs) bad_rc=3 ;; esac
	for args in --help -h --bogus; do
		rm -f "$SB/acted"
		touch "$SB/marker"
		sleep 0.01
		sandboxed "$s" "$args"
		want=0; [ "$args" = --bogus ] && want=$bad_rc
		check "$s $args: exit $want (got $RC)" test "$RC" -eq "$want"
		check "$s $args: prints its usage" grep -qi "usage: .*${s}" <<<"$OUT"
		acted=$(acted_on)
		check "$s $args: does nothing${acted:+ (did:$acted)}" test -z "$acted"
	done
done

asrfs_start || { not_ok "mount"; finish; }
create_vm westeurope rg1 web01 "web01-os:16M" network=vnet1
create_vm westeurope rg1 db01 "db01-os:2M" network=vnet1
dd if=/dev/urandom of="$(WD rg1 web01-os)" bs=1M count=16 conv=notrunc status=none
I="$(V)/items/web01"

# asr-wait.sh, stdout a file: a plain line every few seconds, IEC units.
echo "vm=rg1/web01 source=westeurope target=northeurope bandwidth-limit-bytes-per-second=1500000" >"$(V)/enable-replication"
check "enable job started" wait_for 10 test -e "$I/job"
"$TOP/scripts/asr-wait.sh" "$I" 120 >"$WORK/wait.out" 2>&1
rc=$?
check "asr-wait exit 0 for Succeeded (got $rc)" test $rc -eq 0
check "asr-wait's last line says Succeeded" test "$(tail -1 "$WORK/wait.out")" = "$(readlink "$I/job" | sed 's,.*/,,'): Succeeded"
progress=$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z 000001-enable-replication-web01 InProgress [0-9]+% [0-9.]+[KMG]?i?B of 16MiB, [0-9.]+[KMG]?i?B/s, eta [0-9?]+s, ' "$WORK/wait.out")
check "asr-wait printed plain progress lines while not on a terminal ($progress)" test "$progress" -ge 2
check "asr-wait: no carriage return or escape on a non-terminal" test -z "$(tr -d '[:print:]\n' <"$WORK/wait.out")"
check "asr-wait: IEC units only" test -z "$(grep -E '[0-9][KMGT]B' "$WORK/wait.out")"
t1=$(grep -m1 InProgress "$WORK/wait.out" | cut -d' ' -f1) t2=$(grep InProgress "$WORK/wait.out" | sed -n 2p | cut -d' ' -f1)
gap=$(($(date -d "$t2" +%s) - $(date -d "$t1" +%s)))
check "asr-wait: a line every few seconds, not every poll (gap ${gap}s)" test "$gap" -ge 4 -a "$gap" -le 7
"$TOP/scripts/asr-wait.sh" "$I" 1 >/dev/null
check "asr-wait on an ended job: exit 0" test $? -eq 0

# asr-status: one screen.
check "protect db01" protect rg1 db01
out=$("$TOP/scripts/asr-status" "$MNT" 2>&1)
rc=$?
check "asr-status exit 0" test $rc -eq 0
check "asr-status header names the mount and version" grep -q "^asrfs $(cat "$MNT/version") on $MNT, " <<<"$out"
check "asr-status column header" grep -qE '^VAULT +ITEM +STATE +HEALTH +RPO +DIRECTION +JOB$' <<<"$out"
check "asr-status web01 line" grep -qE '^asr-vault +web01 +Protected +Normal +[0-9]+s +westeurope -> northeurope +Enable replication Succeeded 100%$' <<<"$out"
check "asr-status db01 line" grep -qE '^asr-vault +db01 +Protected +Normal +[0-9]+s +westeurope -> northeurope +Enable replication Succeeded 100%$' <<<"$out"
check "asr-status regions" test "$(grep '^region ' <<<"$out" | tr '\n' '|')" = "region northeurope: available|region westeurope: available|"
check "asr-status fits a screen" test "$(wc -l <<<"$out")" -le 24
echo "latest shutdown=yes" >"$I/failover"
wait_for 30 file_is "$I/state" FailedOver
out=$("$TOP/scripts/asr-status" "$MNT" 2>&1)
check "asr-status after failover: no RPO, the failover job" grep -qE '^asr-vault +web01 +FailedOver +Normal +[0-9]+s +westeurope -> northeurope +Failover Succeeded 100%$' <<<"$out"
"$TOP/scripts/asr-status" "$WORK" >/dev/null 2>&1
check "asr-status on a directory that is no mount: exit 1" test $? -eq 1
kill -STOP "$ASRFS_PID"
SECONDS=0
"$TOP/scripts/asr-status" "$MNT" >/dev/null 2>&1
rc=$? took=$SECONDS
kill -CONT "$ASRFS_PID"
check "the daemon serves again after SIGCONT" wait_for 10 test -e "$MNT/version"
check "asr-status on a stopped daemon: exit 1 within its limit (rc $rc, ${took}s)" test $rc -eq 1 -a $took -le 12
finish
