#!/bin/bash
# t_metrics.sh - metrics/asrfs.prom as Prometheus and an operator read it:
# promtool accepts it; two vaults each protecting a VM named web01 give
# series that never collide; every item state and health is its own series
# (1 for the current one); the point and cycle timestamps, asrfs_item_info,
# asrfs_build_info, the job's and the disks' byte figures equal what the
# tree's files say; once failed over the item has no RPO gauge and no RPO
# alarm.
. "$(dirname "$0")/lib.sh"
PROM="$MNT/metrics/asrfs.prom"
two_vaults "$WORK/two.json" "$WORK/regions" asr-vault dr-vault
asrfs_start --config "$WORK/two.json" || { not_ok "mount"; finish; }

# value SERIES: the sample of one exact series (name and labels as written).
value() { awk -v s="$1" 'index($0, s " ") == 1 { print $NF }' "$PROM"; }

create_vm westeurope rg1 web01 "web01-os:4M,web01-data:2M" network=vnet1
create_vm westeurope rg2 web01 "web01-os:4M" network=vnet1
scribble "$(WD rg1 web01-os)" 64 3
fast_policy 2
echo 2 >"$(V dr-vault)/policies/24-hour-retention-policy/crash-consistent-frequency-seconds"
check "enable web01 in asr-vault" protect rg1 web01
echo "vm=rg2/web01 source=westeurope target=northeurope" >"$(V dr-vault)/enable-replication"
check "enable web01 in dr-vault" wait_for 60 file_is "$(V dr-vault)/items/web01/state" Protected
I="$(V)/items/web01"
check "a replication cycle ran" wait_for 20 grep -q '^asrfs_item_last_cycle_timestamp_seconds{vault="asr-vault",item="web01"}' "$PROM"
cp "$PROM" "$WORK/m1.prom"

# promtool, from Debian's prometheus package: installed for this test when missing.
if ! command -v promtool >/dev/null; then
	"$TOP/scripts/install-deps.sh" promtool >/dev/null 2>&1
fi
if command -v promtool >/dev/null; then
	out=$(promtool check metrics <"$WORK/m1.prom" 2>&1)
	check "promtool check metrics accepts asrfs.prom${out:+: $out}" test $? -eq 0 -a -z "$out"
	# The example alert rules of docs/MONITORING.md are valid rules.
	sed -n '/^```yaml$/,/^```$/p' "$TOP/docs/MONITORING.md" | sed '1d;$d' >"$WORK/rules.yml"
	out=$(promtool check rules "$WORK/rules.yml" 2>&1)
	check "promtool check rules accepts the alert rules in docs/MONITORING.md" test $? -eq 0 -a -s "$WORK/rules.yml"
else
	skip "promtool check metrics: promtool is not installed and install-deps.sh promtool failed"
fi

# Series are unique: the same item name in two vaults differs by its vault label.
dups=$(grep -v '^#' "$WORK/m1.prom" | sed 's/ [^ ]*$//' | sort | uniq -d)
check "no series appears twice${dups:+: $dups}" test -z "$dups"
check "item series carry the vault label" test "$(grep -c '^asrfs_item_info{vault="dr-vault",item="web01"' "$WORK/m1.prom")" -eq 1
check "no item series without a vault label" test -z "$(grep -E '^asrfs_(item|disk)_[a-z_]*\{' "$WORK/m1.prom" | grep -v '{vault="')"

# Enum gauges: every state and health listed, one of them 1.
states=$(grep -c '^asrfs_item_state{vault="asr-vault",item="web01",' "$WORK/m1.prom")
check "every item state listed (16)" test "$states" -eq 16
check "state Protected is 1" test "$(value 'asrfs_item_state{vault="asr-vault",item="web01",state="Protected"}')" = 1
check "exactly one state is 1" test "$(grep '^asrfs_item_state{vault="asr-vault",item="web01",' "$WORK/m1.prom" | awk '{s+=$NF} END {print s}')" = 1
check "FailedOver listed as 0" test "$(value 'asrfs_item_state{vault="asr-vault",item="web01",state="FailedOver"}')" = 0
check "every health listed, Normal 1" test "$(grep '^asrfs_item_health{vault="asr-vault",item="web01",' "$WORK/m1.prom" | awk '{printf "%s=%s ", $1, $NF}' | sed 's/asrfs_item_health{vault="asr-vault",item="web01",health="\([A-Za-z]*\)"}/\1/g')" = "Normal=1 Warning=0 Critical=0 "

# Timestamps rather than ages, and info series.
p=$(latest_point web01)
pts=$(date -u -d "$(cat "$I/recovery-points/$p/time")" +%s)
cp "$PROM" "$WORK/m2.prom"
got=$(awk 'index($0, "asrfs_item_last_recovery_point_timestamp_seconds{vault=\"asr-vault\",item=\"web01\"} ") == 1 {print $NF}' "$WORK/m2.prom")
now=$(date +%s)
newest=$(readlink "$I/recovery-points/latest")
newest_ts=$(date -u -d "$(cat "$I/recovery-points/$newest/time")" +%s)
check "last recovery point timestamp is a point's time ($got)" test -n "$got" -a "$got" -ge "$pts" -a "$got" -le "$newest_ts"
cyc=$(awk 'index($0, "asrfs_item_last_cycle_timestamp_seconds{vault=\"asr-vault\",item=\"web01\"} ") == 1 {print $NF}' "$WORK/m2.prom")
check "last cycle timestamp is recent ($cyc, now $now)" test -n "$cyc" -a "$cyc" -le "$now" -a "$cyc" -gt $((now - 30))
check "asrfs_item_info names the direction" test "$(value 'asrfs_item_info{vault="asr-vault",item="web01",source="westeurope",target="northeurope",active_region="westeurope"}')" = 1
check "asrfs_build_info carries the version" test "$(value "asrfs_build_info{version=\"$(cat "$MNT/version")\"}")" = 1
check "rpo threshold is the policy's" test "$(value 'asrfs_item_rpo_threshold_seconds{vault="asr-vault",item="web01"}')" = 900

# Byte figures equal the tree's files.
J="$I/job"
for f in compared transferred; do
	check "enable job bytes $f equals the job's file" test "$(value "asrfs_item_job_${f}_bytes{vault=\"asr-vault\",item=\"web01\",type=\"Enable replication\"}")" = "$(cat "$J/bytes-$f")"
done
check "enable job size equals bytes-total" test "$(value 'asrfs_item_job_size_bytes{vault="asr-vault",item="web01",type="Enable replication"}')" = $((6 << 20))
check "enable job transferred something" test "$(cat "$J/bytes-transferred")" -gt 0
check "enable job state Succeeded is 1" test "$(value 'asrfs_item_job_state{vault="asr-vault",item="web01",type="Enable replication",state="Succeeded"}')" = 1
check "enable job state Failed is 0" test "$(value 'asrfs_item_job_state{vault="asr-vault",item="web01",type="Enable replication",state="Failed"}')" = 0
check "disk size" test "$(value 'asrfs_disk_size_bytes{vault="asr-vault",item="web01",disk="web01-os"}')" = "$(cat "$I/disks/web01-os/size")"
check "disk synced bytes" test "$(value 'asrfs_disk_synced_bytes{vault="asr-vault",item="web01",disk="web01-data"}')" = "$(cat "$I/disks/web01-data/synced-bytes")"
check "dr-vault's disk is its own" test "$(value 'asrfs_disk_size_bytes{vault="dr-vault",item="web01",disk="web01-os"}')" = $((4 << 20))

# Resync's bytes show with its type.
echo start >"$I/resync"
check "resync done" wait_for 60 sh -c "[ \"\$(cat '$I/job/type')\" = Resynchronize ] && [ \"\$(cat '$I/job/state')\" = Succeeded ]"
check "resync bytes compared in the metrics" test "$(value 'asrfs_item_job_compared_bytes{vault="asr-vault",item="web01",type="Resynchronize"}')" = "$(cat "$I/job/bytes-compared")"
check "resync compared every byte" test "$(cat "$I/job/bytes-compared")" = $((6 << 20))

# Failed over: the RPO is not rated any more.
echo "latest shutdown=yes" >"$I/failover"
check "failover reaches FailedOver" wait_for 60 file_is "$I/state" FailedOver
echo 1 >"$(V)/policies/24-hour-retention-policy/rpo-threshold-seconds"
sleep 3
cp "$PROM" "$WORK/m3.prom"
check "no rpo gauge once failed over" test -z "$(grep '^asrfs_item_rpo_seconds{vault="asr-vault",item="web01"}' "$WORK/m3.prom")"
check "health stays Normal past the threshold" test "$(value 'asrfs_item_health{vault="asr-vault",item="web01",health="Normal"}')" = 1
check "the other vault's item keeps its rpo gauge" grep -q '^asrfs_item_rpo_seconds{vault="dr-vault",item="web01"}' "$WORK/m3.prom"
check "state FailedOver is 1" test "$(value 'asrfs_item_state{vault="asr-vault",item="web01",state="FailedOver"}')" = 1
check "active region moved" test "$(value 'asrfs_item_info{vault="asr-vault",item="web01",source="westeurope",target="northeurope",active_region="northeurope"}')" = 1
finish
