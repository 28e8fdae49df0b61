#!/bin/bash
# t_hooks.sh - app-consistent recovery points (SPEC section 7): when the
# policy's app-consistent frequency is due and a `freeze` hook exists in the
# hooks directory (default <state>/hooks), asrfs runs freeze and thaw around
# the capture and marks the point app-consistent; latest-app-consistent
# follows it.  A failing freeze makes the point crash-consistent.
. "$(dirname "$0")/lib.sh"
mkdir -p "$STATE/hooks"
cat >"$STATE/hooks/freeze" <<SH
#!/bin/sh
echo "freeze \$1 \$2" >>"$WORK/hooks.log"
[ ! -e "$WORK/fail-freeze" ]
SH
cat >"$STATE/hooks/thaw" <<SH
#!/bin/sh
echo "thaw \$1 \$2" >>"$WORK/hooks.log"
SH
chmod +x "$STATE/hooks/freeze" "$STATE/hooks/thaw"
asrfs_start || { not_ok "mount"; finish; }
I="$(V)/items/app01"
create_vm westeurope rg1 app01 "app01-os:4M"
fast_policy 1
echo 1 >"$(V)/policies/24-hour-retention-policy/app-consistent-frequency-minutes"
check "protected" protect rg1 app01
check "an app-consistent point appears" wait_for 15 test -L "$I/recovery-points/latest-app-consistent"
app=$(readlink "$I/recovery-points/latest-app-consistent")
check "its type is app-consistent" file_is "$I/recovery-points/$app/type" app-consistent
check "freeze ran with vault and item" grep -qx "freeze asr-vault app01" "$WORK/hooks.log"
check "thaw ran after it" grep -qx "thaw asr-vault app01" "$WORK/hooks.log"
check "freeze before thaw" test "$(head -1 "$WORK/hooks.log")" = "freeze asr-vault app01"
check "status names it" grep -q "last-app-consistent-point: $app" "$I/status"
# the next points (within the minute) are crash-consistent
wait_new_point app01 "$app" 10
next=$(latest_point app01)
check "points in between are crash-consistent" file_is "$I/recovery-points/$next/type" crash-consistent
check "one freeze per app-consistent period" test "$(grep -c '^freeze' "$WORK/hooks.log")" -eq 1
finish
