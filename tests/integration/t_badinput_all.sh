#!/bin/bash
# t_badinput_all.sh - SPEC sections 4 and 8, proved over the whole tree: bad
# input of any kind to any writable file or name gets an errno and a message
# in the right `error` file, and changes nothing.
#
# On a tree with two items (one Protected with a test failover, one
# FailedOver), two policies, a network mapping, VMs and resource groups in
# both regions, it finds every
# writable file (controls 0200, settings 0644; disks excepted, their bytes
# are data) and every directory, and feeds them junk: binary bytes, NULs, a
# 1 MiB line, huge and negative numbers, `..` and `/`, over-long and bad
# names, unknown and duplicate keys, empty writes, writes at odd offsets and
# several writes on one descriptor; mkdir, rmdir and mv of bad names
# everywhere.  Each write must fail with the errno SPEC 4 gives (EINVAL;
# EPERM from a control that the item's state does not allow now, which is
# checked before its argument), and the owner's `error` must then name the
# file written.  Before and after, it hashes every record under the state
# directory and every object's status.json / vm.json / job.json and value
# files: nothing may differ.  What legitimately moves is left out:
#   - `error` files and the "error" fields (they are what a refusal sets);
#   - rpo-seconds (the clock moves it) and metrics/asrfs.prom (its figures
#     move with the clock and the daemon's counters).
# Every record on disk is compared, the vault's lock (`lease`) included.
# No replication cycle runs meanwhile: the policy's crash-consistent
# frequency is an hour, so replica disks and point catalogs hold still.
. "$(dirname "$0")/lib.sh"
# Under SANITIZE=address the 1 MiB writes below fill ASan's quarantine
# (freed memory kept to catch use after free, 256 MB by default) and
# LeakSanitizer's scan of it at exit took more than lib.sh's 10 s stop
# limit on a busy machine; 32 MB still holds the recent frees.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=32"
asrfs_start || { not_ok "mount"; finish; }
TNET=a-test-network-longer-than-sixteen
fast_policy 3600
create_vm westeurope rg1 web01 "web01-os:4M,web01-data:4M" network=vnet1 availability-set=as1
create_vm westeurope rgX web01 "x01-os:4M" network=vnetx
check "protected" protect rg1 web01
mkdir "$(V)/policies/p2"
echo "latest network=$TNET" >"$(V)/items/web01/test-failover"
check "test failover done" wait_for 60 file_is "$(V)/items/web01/job/state" Succeeded
I="$(V)/items/web01"
# a second item, failed over: other controls are allowed there
create_vm westeurope rg2 web02 "web02-os:4M" network=vnet1
check "web02 protected" protect rg2 web02
echo latest >"$(V)/items/web02/failover"
check "web02 failed over" wait_for 60 file_is "$(V)/items/web02/state" FailedOver

# ---- the small items of issue 10 ----
check "status shows the test network's whole name" grep -q "network $TNET\$" "$I/status"
expect_errno "a second test failover is EPERM" EPERM "$I/test-failover" "latest"
check "... naming the test failover that exists" grep -q "test failover of web01 exists.*$TNET" "$I/error"
expect_errno "enabling rgX/web01 while rg1/web01 is protected is EEXIST" EEXIST "$(V)/enable-replication" \
	"vm=rgX/web01 source=westeurope target=northeurope"
check "... naming the VM that holds the item's name" grep -q "protecting VM rg1/web01 .*rgX/web01 cannot" "$(V)/error"
expect_errno "an empty write to a control is EINVAL" EINVAL "$I/resync" "" # (just a newline)
r=$("$ERRNO_WRITE" -n "$I/resync" "")
check "a zero-length write to a control is EINVAL at close (got $r)" test "$r" = EINVAL
check "... with a message" grep -q "^resync: an empty write" "$I/error"
r=$("$ERRNO_WRITE" -s 4 "$I/resync" start)
check "'start' at offset 4 is EINVAL (got $r)" test "$r" = EINVAL
check "... with a message" grep -q "^resync: takes one write at offset 0" "$I/error"
r=$("$ERRNO_WRITE" -k 2 "$I/resync" start)
check "a second write on one descriptor is EINVAL (got $r)" test "${r#*,}" = EINVAL
check "... with a message" grep -q "^resync: takes one write per open" "$I/error"
# that write's first "start" was taken: wait for its job so that nothing runs
check "the resync it started ends" wait_for 60 file_is "$I/job/state" Succeeded

# ---- what must not change ----
records() {
	(cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
objects() {
	(cd "$MNT" && find regions vaults -path '*/recovery-points/*/disks' -prune -o -type f -perm -u=r \
		! -path '*/disks/*' ! -name error ! -name rpo-seconds -print | sort | while read -r f; do
		case "$f" in
		*.json) echo "$f: $(jq -cS 'del(.error, ."rpo-seconds")' "$f" 2>&1)" ;;
		*/status) echo "$f: $(grep -v -e '^rpo-seconds:' -e '^error:' "$f" | tr '\n' '|')" ;;
		*) echo "$f: $(tr '\n' '|' <"$f" 2>&1)" ;;
		esac
	done)
}
records >"$WORK/records.before"
objects >"$WORK/objects.before"

# ---- the junk ----
D="$WORK/data"
mkdir -p "$D"
printf '\001\002\377\376 start \200\n' >"$D/binary"
printf 'start\000\n' >"$D/nul-after"
printf '\000' >"$D/nul"
printf '\000start\n' >"$D/nul-before"
head -c $((1 << 20)) /dev/zero | tr '\0' a >"$D/mib" && echo >>"$D/mib"
head -c 5000 /dev/zero | tr '\0' 'x' >"$D/long" && echo >>"$D/long"
LONG300=$(printf 'n%.0s' $(seq 300))
# random bytes from a fixed key (the same on every run): NRAND payloads of
# 1 to 512 bytes, each with a control character in it, so none is a line
NRAND=40
openssl enc -aes-128-ctr -K 0a5f5b1e00000000000000000000a5f5 -iv 0 -nosalt </dev/zero 2>/dev/null |
	head -c $((NRAND * 513)) >"$D/stream"
for i in $(seq 0 $((NRAND - 1))); do
	len=$(( $(od -An -tu2 -j $((i * 513)) -N2 "$D/stream") % 512 + 1 ))
	{ printf '\001'; tail -c +$((i * 513 + 3)) "$D/stream" | head -c "$len"; } >"$D/rand$i"
done
# lines that no file takes (controls, settings, names, numbers)
lines=(
	"" "   " "start start" "start\nstart" "bogus=1" "start bogus=1" "name=a name=a" "=" "==" "=x"
	".." "/" "../../etc/passwd" "a/../b" "$LONG300" "é" "a;b" "\$(reboot)" "latest shutdown=maybe"
	"2099-01-01T00:00:00Z" "vm=rg1/web01 source=westeurope target=westeurope" "name=x resource-group=rg1 disks=a:-1M"
	"name=../x resource-group=rg1 disks=a:1M" "start network=../x" "notes=a;b extra=1"
)
# numbers, for the files that take one
numbers=("-1" "18446744073709551616" "99999999999999999999999" "0x10" "1e9" "5.5" "+5" "-0" "1 2")
# a file's owner: the object whose `error` reports a refused write to it
owner() {
	local rest
	case "$1" in
	vaults/*/items/*) rest=${1#vaults/*/items/} && OWNER=${1%%/items/*}/items/${rest%%/*} ;;
	*) rest=${1#*/} && OWNER=${1%%/*}/${rest%%/*} ;;
	esac
}
files=$(cd "$MNT" && find regions vaults -path '*/recovery-points' -prune -o -path '*/jobs' -prune -o \
	-type f -perm /0222 ! -path '*/disks/*' ! -name '*.vhd' -print | sort)
nfiles=$(echo "$files" | wc -l)
declare -A ALLOWED # the controls each item's state allows now
for it in "$(V)"/items/*; do ALLOWED[${it##*/}]=$(cat "$it/allowed-operations"); done
writes=0 bad=0 nomsg=0
# one_write FILE WANT ARGS...: errno-write ARGS on FILE; the errno must be
# WANT (a regex), and the owner's error must name FILE.
one_write() {
	local f=$1 want=$2 r o rel msg=
	shift 2
	r=$("$ERRNO_WRITE" "$@" -- "$MNT/$f" "${LINE[@]}")
	writes=$((writes + 1))
	if ! [[ "$r" =~ ^($want)$ ]]; then
		bad=$((bad + 1))
		[ $bad -le 20 ] && echo "# $f <- $* '${LINE[*]:0:40}': $r, want $want"
		return
	fi
	owner "$f"
	o=$OWNER
	rel=${f#"$o"/}
	IFS= read -r msg <"$MNT/$o/error"
	if [[ "$msg" != "$rel: "* && "$msg" != "${f##*/} "* && "$msg" != "${f##*/}:"* ]]; then
		nomsg=$((nomsg + 1))
		[ $nomsg -le 20 ] && echo "# $f <- $* '${LINE[*]:0:40}': error reads '$msg'"
	fi
}
declare -A WANT # the errno a junk write to a file must get
for f in $files; do
	case "$f" in
	vaults/*/items/*/settings/* | */policies/* | */network-mappings/* | */create-vm | */enable-replication | */power)
		WANT[$f]=EINVAL ;;
	*) owner "$f"
	   if grep -qx "${f##*/}" <<<"${ALLOWED[${OWNER##*/}]}"; then WANT[$f]=EINVAL; else WANT[$f]="EINVAL|EPERM"; fi ;;
	esac
done
for l in "${lines[@]}"; do
	for f in $files; do
		LINE=("$(printf "$l")")
		one_write "$f" "${WANT[$f]}"
	done
done
for f in $files; do
	w=${WANT[$f]}
	case "$f" in */policies/* | */bandwidth-limit-bytes-per-second)
		for l in "${numbers[@]}"; do LINE=("$l"); one_write "$f" "$w"; done ;;
	esac
	LINE=()
	for d in binary nul-after nul nul-before mib long; do one_write "$f" "$w" -d "$D/$d"; done
	for i in $(seq 0 $((NRAND - 1))); do one_write "$f" "$w" -d "$D/rand$i"; done
	LINE=("")
	one_write "$f" EINVAL -n # a zero-length write: refused at close
	# "start" (or a valid-looking value) where it must not be taken
	case "$f" in
	*/policies/*) LINE=("60") ;;
	*/power) LINE=("stop") ;;
	*/bandwidth-limit-bytes-per-second) LINE=("1000") ;;
	*/settings/policy) LINE=("p2") ;;
	*/settings/*) LINE=("abc") ;;
	*/network-mappings/*) LINE=("northeurope/other") ;;
	*) LINE=("start") ;;
	esac
	for off in 1 4 4095 1048576; do one_write "$f" EINVAL -s "$off"; done
	LINE=("x;y") # not a name, number, word or key=value that any file takes
	one_write "$f" "($w),EINVAL,EINVAL" -k 3
	# dd: an odd offset, and a line cut into 2-byte writes
	printf '%s\n' "${LINE[0]}" >"$D/taken"
	printf 'x;start\n' >"$D/cut"
	dd if="$D/taken" of="$MNT/$f" bs=1 seek=3 conv=notrunc status=none 2>/dev/null &&
		{ bad=$((bad + 1)); echo "# dd seek=3 into $f was accepted"; }
	dd if="$D/cut" of="$MNT/$f" bs=2 conv=notrunc status=none 2>/dev/null &&
		{ bad=$((bad + 1)); echo "# dd bs=2 into $f was accepted"; }
	writes=$((writes + 2))
done
# lines that are well-formed but wrong for one file: GLOB|ERRNO|LINE
special=(
	"regions/westeurope/create-vm|EEXIST|name=web01 resource-group=rg1 disks=a:1M"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:1M,a:1M"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:18446744073709551616"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:99999999999999999999T"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:1000"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:0"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:-512"
	"*/create-vm|EINVAL|name=x resource-group=rg;1 disks=a:1M"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:1M storage-account=AB"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:1M network=../x"
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=a:1M availability-set=.."
	"*/create-vm|EINVAL|name=x resource-group=rg1 disks=../a:1M"
	"*/enable-replication|EEXIST|vm=rg1/web01 source=westeurope target=northeurope"
	"*/enable-replication|EINVAL|vm=rg1/nope source=westeurope target=northeurope"
	"*/enable-replication|EINVAL|vm=rgX/web01 source=nowhere target=northeurope"
	"*/enable-replication|EINVAL|vm=rgX/web01 source=westeurope target=northeurope policy=nope"
	"*/enable-replication|EINVAL|vm=rgX/web01 source=westeurope target=northeurope bandwidth-limit-bytes-per-second=-1"
	"*/enable-replication|EINVAL|vm=rgX/web01 source=westeurope target=northeurope target-resource-group=a;b"
	"*/enable-replication|EINVAL|vm=rgX/web01 source=westeurope target=northeurope cache-storage-account=A"
	"*/enable-replication|EINVAL|vm=rgX source=westeurope target=northeurope"
	"*/network-mappings/*|EINVAL|westeurope/vnet9"
	"*/network-mappings/*|EINVAL|nowhere/x"
	"*/network-mappings/*|EINVAL|northeurope/"
	"*/network-mappings/*|EINVAL|northeurope/a/b"
	"*/items/*/failover|EINVAL|latest-app-consistent"
	"*/items/*/change-recovery-point|EINVAL|2099-01-01T00:00:00Z"
	"*/items/*/change-recovery-point|EINVAL|latest latest"
	"*/items/*/commit|EINVAL|start now"
	"*/items/*/verify|EINVAL|start now"
	"*/items/*/failover|EINVAL|1999-01-01T00:00:00Z shutdown=no"
	"*/items/*/reprotect|EPERM|start target-network=x"
	"*/items/*/settings/policy|EINVAL|nope"
	"*/items/*/settings/target-storage-account|EINVAL|ABC"
	"*/items/*/settings/target-resource-group|EINVAL|x."
)
# a disk too big for the state directory's filesystem (ext4: 16T): the
# create-vm that wants it must leave nothing behind
if ! truncate -s 16T "$WORK/big" 2>/dev/null; then
	special+=(
		"regions/westeurope/create-vm|EFBIG|name=x resource-group=rgnew disks=a:4M,b:16T network=n1 availability-set=s1"
		"regions/westeurope/create-vm|EFBIG|name=x resource-group=rg1 disks=a:4M,b:16T network=n1 availability-set=s1"
		"regions/westeurope/create-vm|EFBIG|name=x resource-group=rg1 disks=a:4M,b:16T storage-account=newsa"
	)
else
	skip "the state directory takes 16T files: no disk size is too big for create-vm there"
fi
rm -f "$WORK/big"
for s in "${special[@]}"; do
	IFS='|' read -r glob want l <<<"$s"
	for f in $files; do
		# shellcheck disable=SC2053
		[[ "$f" == $glob ]] || continue
		LINE=("$l")
		[ "${WANT[$f]}" = EINVAL ] || want="$want|EPERM" # a control not allowed now
		one_write "$f" "$want"
	done
done
# read-only files: no write is taken
ro=$(cd "$MNT" && find regions vaults metrics -path '*/recovery-points/*/disks' -prune -o -path '*/jobs/*' -prune -o \
	-type f ! -perm /0222 ! -path '*/disks/*' -print)
for f in $ro; do
	r=$("$ERRNO_WRITE" "$MNT/$f" start)
	writes=$((writes + 1))
	[ "$r" = EACCES ] || { bad=$((bad + 1)); echo "# $f (read-only) <- start: $r"; }
done

# ---- names: mkdir, rmdir, mv, create ----
names=(".." "a;b" "x y" "é" "..." "$LONG300" "$(printf 'n%.0s' $(seq 255))" "a\$b" "-in*valid")
dirs=$(cd "$MNT" && find regions vaults -path '*/recovery-points/*' -prune -o -path '*/jobs/*' -prune -o -type d -print | sort)
ndirs=$(echo "$dirs" | wc -l)
try() { # try WHAT CMD...: CMD must fail
	writes=$((writes + 1))
	if "${@:2}" 2>/dev/null; then
		bad=$((bad + 1))
		echo "# $1 was accepted"
	fi
}
for d in $dirs; do
	for n in "${names[@]}"; do
		try "mkdir $d/$n" mkdir "$MNT/$d/$n"
		try "mv $d $n" mv -T "$MNT/$d" "$MNT/${d%/*}/$n"
		try "create $d/$n" sh -c 'echo x >"$1"' _ "$MNT/$d/$n"
	done
	# existing names, and removing what must stay
	try "mkdir $d (exists)" mkdir "$MNT/$d"
	case "$d" in
	*/vms/* | */policies/p2) ;; # removable: rmdir would be a change, not junk
	*) try "rmdir $d" rmdir "$MNT/$d" ;;
	esac
	try "rmdir $d/missing" rmdir "$MNT/$d/missing"
done
for f in $files; do try "mv $f" mv -T "$MNT/$f" "$MNT/${f%/*}/moved"; done
check "the daemon is alive" mounted
echo "# $writes bad writes and names to $nfiles files and $ndirs directories"
check "every write got the errno it should ($bad did not)" test "$bad" -eq 0
check "every refused write left a message naming its file ($nomsg did not)" test "$nomsg" -eq 0

# ---- nothing changed ----
records >"$WORK/records.after"
objects >"$WORK/objects.after"
echo "# compared $(wc -l <"$WORK/records.before") records on disk and $(wc -l <"$WORK/objects.before") files of the tree"
check "every record on disk is unchanged" cmp -s "$WORK/records.before" "$WORK/records.after"
diff "$WORK/records.before" "$WORK/records.after" | head -10
check "every object's status.json, vm.json, job.json and value is unchanged" \
	cmp -s "$WORK/objects.before" "$WORK/objects.after"
diff "$WORK/objects.before" "$WORK/objects.after" | cut -c1-300 | head -10
check "web01 is still Protected" file_is "$I/state" Protected
check "web02 is still FailedOver" file_is "$(V)/items/web02/state" FailedOver

# ---- a refused job submission uses up no job number ----
# The job records' directory turns read-only: the submission is refused
# with an errno and a message, vault.json ends as it was, and the next job
# takes the next number.
VDIR="$STATE/regions/northeurope/vaults/asr-vault"
njobs=$(ls "$(V)/jobs" | wc -l)
sum_before=$(sha256sum <"$VDIR/vault.json")
if mount --bind "$VDIR/jobs" "$VDIR/jobs" && mount -o remount,bind,ro "$VDIR/jobs"; then
	r=$("$ERRNO_WRITE" "$I/resync" start)
	check "a submission whose job record cannot be written is refused (got $r)" test "$r" != 0
	check "... with a message" grep -q "^resync: cannot start resync" "$I/error"
	umount "$VDIR/jobs"
	check "... and vault.json is as it was" test "$(sha256sum <"$VDIR/vault.json")" = "$sum_before"
	echo start >"$I/cleanup-test-failover"
	check "the next job takes the next number" \
		wait_for 10 sh -c "readlink '$I/job' | grep -q '/$(printf %06d $((njobs + 1)))-cleanup-test-failover-web01\$'"
	check "... and ends" wait_for 60 file_is "$I/job/state" Succeeded
	check "an accepted control leaves no refusal in error" file_is "$I/error" ""
else
	umount "$VDIR/jobs" 2>/dev/null
	skip "a read-only bind mount is needed for the job-number check"
fi

# ---- a policy that cannot be saved is not created ----
if mount --bind "$VDIR" "$VDIR" && mount -o remount,bind,ro "$VDIR"; then
	check "mkdir of a policy that cannot be saved is refused" test ! "$(mkdir "$(V)/policies/p3" 2>&1)" = ""
	check "... and it is not listed" test ! -e "$(V)/policies/p3"
	check "... with a message" grep -q "^mkdir policies/p3: cannot save policy p3" "$(V)/error"
	umount "$VDIR"
	check "... nor saved by the next change" sh -c "echo 7 >'$(V)/policies/p2/rpo-threshold-seconds' &&
		! grep -q '\"p3\"' '$VDIR/vault.json' && test ! -e '$(V)/policies/p3'"
else
	umount "$VDIR" 2>/dev/null
	skip "a read-only bind mount is needed for the policy check"
fi

# ---- a setting that cannot be saved is not applied ----
IDIR="$VDIR/items/web01"
if mount --bind "$IDIR" "$IDIR" && mount -o remount,bind,ro "$IDIR"; then
	r=$("$ERRNO_WRITE" "$I/settings/bandwidth-limit-bytes-per-second" 1000)
	check "a bandwidth limit that cannot be saved is refused (got $r)" test "$r" != 0
	check "... and does not show" file_is "$I/settings/bandwidth-limit-bytes-per-second" 0
	check "... with a message" grep -q "bandwidth-limit-bytes-per-second: cannot save it" "$I/error"
	r=$("$ERRNO_WRITE" "$I/settings/policy" p2)
	check "a policy that cannot be saved is refused (got $r)" test "$r" != 0
	check "... and does not show" file_is "$I/settings/policy" 24-hour-retention-policy
	umount "$IDIR"
else
	umount "$IDIR" 2>/dev/null
	skip "a read-only bind mount is needed for the setting check"
fi
finish
