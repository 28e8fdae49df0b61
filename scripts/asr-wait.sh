#!/bin/bash
# asr-wait.sh - wait for the running (or last) job of a replicated item and
# draw a progress bar from its files.  For scripts: the exit status says how
# the job ended.
#
#   asr-wait.sh ITEM_DIR [TIMEOUT_SECONDS]
#   e.g. echo start > /mnt/asr/web01/reprotect && asr-wait.sh /mnt/asr/web01
#
# Exit: 0 Succeeded, 1 Failed or Cancelled, 2 timed out, 3 usage or no job.
set -u
item=${1:-}
timeout=${2:-0}
[ -d "$item" ] || { echo "usage: asr-wait.sh ITEM_DIR [TIMEOUT_SECONDS]" >&2; exit 3; }
[ -e "$item/job" ] || { echo "no job on $item" >&2; exit 3; }
tty=0; [ -t 1 ] && tty=1
start=$SECONDS
human() { numfmt --to=iec --suffix=B "$1" 2>/dev/null || echo "${1}B"; }
while :; do
	job=$(readlink "$item/job")
	state=$(cat "$item/job/state" 2>/dev/null)
	pct=$(cat "$item/job/progress" 2>/dev/null || echo 0)
	eta=$(cat "$item/job/eta-seconds" 2>/dev/null)
	rate=$(cat "$item/job/rate-bytes-per-second" 2>/dev/null || echo 0)
	task=$(awk '$1 == "InProgress" { $1 = $2 = $3 = ""; sub(/^ +/, ""); print; exit }' "$item/job/tasks" 2>/dev/null)
	filled=$((pct * 40 / 100))
	bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((40 - filled)) '' | tr ' ' '.')
	line=$(printf '%s [%s] %3d%% %s/s eta %ss %s' "${job##*/}" "$bar" "$pct" "$(human "$rate")" "${eta:-?}" "$task")
	if [ $tty -eq 1 ]; then printf '\r\033[K%s' "$line"; fi
	case "$state" in
	Succeeded | Failed | Cancelled)
		[ $tty -eq 1 ] && echo
		echo "${job##*/}: $state"
		[ "$state" = Succeeded ] && exit 0
		err=$(cat "$item/job/error" 2>/dev/null)
		[ -n "$err" ] && echo "error: $err"
		exit 1 ;;
	esac
	if [ "$timeout" -gt 0 ] && [ $((SECONDS - start)) -ge "$timeout" ]; then
		[ $tty -eq 1 ] && echo
		echo "timed out after ${timeout}s: ${job##*/} is $state at $pct%"
		exit 2
	fi
	sleep 0.5
done
