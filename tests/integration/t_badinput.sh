#!/bin/bash
# t_badinput.sh - SPEC section 8: bad input of any kind to any writable
# file gets an errno and a message, never crashes the daemon and never
# half-applies a change.  Every control and setting of a populated tree
# (a protected item included) is fed junk: random bytes, overlong lines,
# many lines, unknown keys, empty keys, huge numbers, path tricks.
. "$(dirname "$0")/lib.sh"
asrfs_start || { not_ok "mount"; finish; }
create_vm westeurope rg1 web01 "web01-os:4M" network=vnet1
fast_policy 3600
check "protected" protect rg1 web01
snapshot() {
	(cd "$MNT" && find regions vaults -path '*/recovery-points' -prune -o -path '*/jobs' -prune -o \
		-type f -perm -u=r ! -name 'rpo-seconds' ! -name status ! -name status.json ! -name '*.prom' \
		-print0 | sort -z | xargs -0 -r sh -c 'for f; do case "$f" in */disks/*) ;; *) echo "$f: $(cat "$f" 2>&1)";; esac; done' _)
}
snapshot >"$WORK/before"
junk=(
	"" "\n" "   " "start start" "=" "==" "a=b=c" "start extra=1" "-1" "18446744073709551616"
	"99999999999999999999999" "0x10" "1e9" "../../etc/passwd" "name=../x resource-group=rg1 disks=a:1M"
	"name=x resource-group=rg1 disks=a:-1M" "name=x resource-group=rg1 disks=:1M" "vm=/ source=a target=b"
	"vm=rg1/web01 source=westeurope target=northeurope" "latest shutdown=maybe" "notes=$(printf 'x%.0s' $(seq 300))"
	"$(head -c 5000 /dev/zero | tr '\0' a)" "$(printf 'a\nb\nc')" "key=val key=val2"
)
files=$(cd "$MNT" && find regions vaults -path '*/recovery-points' -prune -o -path '*/jobs' -prune -o \
	-type f -perm -u=w -print | grep -v '/disks/' | grep -v '\.vhd$' | sort)
count=0 accepted=0
for f in $files; do
	for j in "${junk[@]}"; do
		r=$("$ERRNO_WRITE" "$MNT/$f" "$j")
		count=$((count + 1))
		# name-valued settings take any valid Azure name ("-1" is a valid
		# resource group, "1e9" a valid storage account): not junk there
		case "$f" in */settings/availability-set | */settings/*-resource-group | */settings/*-storage-account) continue ;; esac
		[ "$r" = 0 ] && { accepted=$((accepted + 1)); echo "accepted: $f <- ${j:0:40}"; }
	done
	for _ in 1 2 3; do
		head -c $((RANDOM % 3000 + 1)) /dev/urandom >"$WORK/rnd"
		dd if="$WORK/rnd" of="$MNT/$f" bs=8192 status=none 2>/dev/null
		count=$((count + 1))
	done
done
check "the daemon is alive after $count bad writes" mounted
check "the tree still answers" test -s "$MNT/version"
check "the item is still Protected" file_is "$(V)/items/web01/state" Protected
check "only the harmless junk was accepted ($accepted)" test "$accepted" -le 3
snapshot >"$WORK/after"
# A refused write changes nothing; the error files and policy/mapping
# values that accepted a write are the only allowed differences.
diff "$WORK/before" "$WORK/after" | grep '^[<>]' | grep -v '/error: ' | grep -v '^. regions/[^:]*/power: ' \
	| grep -Ev '/settings/(availability-set|[a-z-]*resource-group|[a-z-]*storage-account): ' >"$WORK/diff" || true
check "nothing else changed" test ! -s "$WORK/diff"
[ -s "$WORK/diff" ] && head -20 "$WORK/diff"
finish
