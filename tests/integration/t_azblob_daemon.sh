#!/bin/bash
# t_azblob_daemon.sh - the daemon on Azure Blob Storage regions (Azurite),
# through the mount only.  Twice: once with westeurope local and northeurope
# (the recovery region, holding the vault) on azblob, once with both on
# azblob.  Each run: create-vm, disks written with dd, enable replication,
# the replica and every recovery point read back byte for byte, retention,
# unmount and remount (state found again in the blobs), disable.  Then the
# key's rules: key_env unset and a key_file readable by others are refused
# at start, a 0600 key_file works, and the key shows nowhere in the tree or
# the log; `backend` shows the endpoint only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_setup || finish
az_start westeurope || finish
az_start northeurope || finish
CONF="$WORK/asrfs.json"

# suite LABEL: the replication round trip on the current config.
suite() {
	local L=$1 W N D I k p newest
	W=$(R westeurope)
	N=$(R northeurope)
	D="$W/resource-groups/rg1/disks"
	I="$(V)/items/web01"
	check "$L: regions available" test "$(cat "$W/status") $(cat "$N/status")" = "available available"
	check "$L: create-vm" create_vm westeurope rg1 web01 "web01-os:8M,web01-data:4M" network=vnet1 availability-set=as1
	dd if=/dev/urandom of="$D/web01-os" bs=64k count=40 conv=notrunc status=none
	dd if=/dev/urandom of="$D/web01-data" bs=4k count=100 seek=50 conv=notrunc status=none
	cp "$D/web01-os" "$WORK/os.0"
	check "$L: disk written through the mount reads back" cmp -s "$D/web01-os" "$WORK/os.0"
	fast_policy 2
	check "$L: enable-replication reaches Protected" protect rg1 web01
	check "$L: job Succeeded" file_is "$I/job/state" Succeeded
	check "$L: every task Succeeded" test "$(grep -c '^Succeeded ' "$I/job/tasks")" -eq "$(wc -l <"$I/job/tasks")"
	check "$L: replica (os) equals source" cmp -s "$N/resource-groups/rg1-asr/disks/web01-os-ASRReplica" "$D/web01-os"
	check "$L: replica (data) equals source" cmp -s "$N/resource-groups/rg1-asr/disks/web01-data-ASRReplica" "$D/web01-data"
	check "$L: network mapping" file_is "$(V)/network-mappings/westeurope/vnet1" "northeurope/vnet1-asr"
	check "$L: availability set created" test -e "$N/resource-groups/rg1-asr/availability-sets/as1-asr"
	expect_errno "$L: enable again: EEXIST" EEXIST "$(V)/enable-replication" "vm=rg1/web01 source=westeurope target=northeurope"

	declare -a PTS
	for k in 1 2 3; do
		p=$(latest_point web01)
		dd if=/dev/urandom of="$D/web01-os" bs=4k count=$((k * 7)) seek=$((k * 300)) conv=notrunc status=none
		dd if=/dev/urandom of="$D/web01-data" bs=512 count=3 seek=$((k * 999)) conv=notrunc status=none
		cp "$D/web01-os" "$WORK/os.$k"
		cp "$D/web01-data" "$WORK/data.$k"
		wait_new_point web01 "$p" 20 || not_ok "$L: a new point after change $k"
		# a cycle that began before the write may have made that one: wait
		# for one begun after it
		wait_new_point web01 "$(latest_point web01)" 20 || not_ok "$L: a second point after change $k"
		PTS[$k]=$(latest_point web01)
	done
	for k in 1 2 3; do
		p="$I/recovery-points/${PTS[$k]}"
		check "$L: point $k os disk exact" cmp -s "$p/disks/web01-os" "$WORK/os.$k"
		check "$L: point $k data disk exact" cmp -s "$p/disks/web01-data" "$WORK/data.$k"
	done
	check "$L: health Normal" file_is "$I/health" Normal

	asrfs_stop
	check "$L: unmounted cleanly" not_mounted
	asrfs_start --config "$CONF" || not_ok "$L: remount"
	check "$L: after remount Protected" file_is "$I/state" Protected
	for k in 1 2 3; do
		check "$L: after remount point $k exact" cmp -s "$I/recovery-points/${PTS[$k]}/disks/web01-os" "$WORK/os.$k"
	done
	check "$L: policy kept in the vault's blobs" file_is "$(V)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds" 2

	# Retention 0 keeps only the newest (applied by the next cycle); then a
	# slow policy keeps it from rolling on while it is read back (at most
	# the one cycle already due runs).
	echo 0 >"$(V)/policies/24-hour-retention-policy/recovery-point-retention-hours"
	wait_for 20 sh -c "[ \$(ls '$I/recovery-points' | grep -vc latest) -eq 1 ]"
	fast_policy 3600
	sleep 3
	check "$L: retention kept only the newest" test "$(entries "$I/recovery-points" | grep -vc latest)" -eq 1
	cp "$D/web01-os" "$WORK/os.now"
	newest=$(latest_point web01)
	check "$L: the newest point is the replica" cmp -s "$I/recovery-points/$newest/disks/web01-os" "$WORK/os.now"

	expect_errno "$L: disable accepted" 0 "$I/disable" start
	wait_for 30 test ! -e "$I"
	check "$L: item removed" test ! -e "$I"
	check "$L: replica disks deleted" test ! -e "$N/resource-groups/rg1-asr/disks/web01-os-ASRReplica"
	check "$L: the VM is untouched" cmp -s "$D/web01-os" "$WORK/os.now"
	check "$L: disable job Succeeded" test "$(cat "$(V)"/jobs/*disable*/state)" = Succeeded
}

# 1. westeurope local, northeurope (with the vault) azblob.
az_config "$CONF" westeurope=local northeurope=azblob
asrfs_start --config "$CONF" || { not_ok "mount (local + azblob)"; finish; }
check "backend shows the endpoint" file_is "$(R northeurope)/backend" "azblob:$(az_endpoint northeurope)"
suite "local+azblob"
check "the key is in no file of the tree" sh -c "! grep -rqF -- '$ASRFS_TEST_AZ_KEY' '$MNT/regions/northeurope/backend' '$MNT/metrics' '$(V)' '$MNT/README'"
asrfs_stop

# 2. Both regions on azblob (a fresh state directory: the regions are new).
STATE="$WORK/state2"
mkdir -p "$STATE"
az_config "$CONF" westeurope=azblob northeurope=azblob container=asr2
asrfs_start --config "$CONF" || { not_ok "mount (azblob + azblob)"; finish; }
check "backends show the endpoints" test "$(cat "$(R westeurope)/backend")" = "azblob:$(az_endpoint westeurope)"
suite "azblob+azblob"
asrfs_stop

# 3. The key: where it may come from, and that it never shows.
az_config "$CONF" westeurope=azblob northeurope=azblob container=asr2
sed -i 's/"key_env": "ASRFS_TEST_AZ_KEY"/"key_env": "ASRFS_NO_SUCH_KEY"/' "$CONF"
az_refused "key_env unset: refused" "ASRFS_NO_SUCH_KEY is not set"
printf '%s\n' "$ASRFS_TEST_AZ_KEY" >"$WORK/az.key"
chmod 644 "$WORK/az.key"
sed -i "s|\"key_env\": \"ASRFS_NO_SUCH_KEY\"|\"key_file\": \"$WORK/az.key\"|" "$CONF"
az_refused "key_file readable by others: refused" "readable by others"
chmod 600 "$WORK/az.key"
KEY=$ASRFS_TEST_AZ_KEY
unset ASRFS_TEST_AZ_KEY # the file alone must do
asrfs_start --config "$CONF" || not_ok "mount with key_file"
export ASRFS_TEST_AZ_KEY=$KEY
check "key_file 0600: mounted, regions available" wait_for 10 file_is "$(R westeurope)/status" available
check "key_file 0600: state found" file_is "$(V)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds" 3600
check "the key is never logged" sh -c "! grep -qF -- '$ASRFS_TEST_AZ_KEY' '$LOG'"
check "the config holds no key" sh -c "! grep -qF -- '$ASRFS_TEST_AZ_KEY' '$CONF'"
finish
