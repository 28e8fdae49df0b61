#!/bin/bash
# asr-wait.sh - wait for the running (or last) job of a replicated item and
# show its progress from the job's files: a progress bar redrawn in place on
# a terminal, else (a log, a pipe, cron) one plain line every 5 seconds.
# Sizes and rates in IEC units (KiB, MiB, GiB).  For scripts: the exit
# status says how the job ended.
#
#   asr-wait.sh ITEM_DIR [TIMEOUT_SECONDS]
#   e.g. echo start > /mnt/asr/web01/reprotect && asr-wait.sh /mnt/asr/web01
#
# Exit: 0 Succeeded, 1 Failed or Cancelled, 2 timed out, 3 usage or no job.
set -u
usage() { echo "usage: asr-wait.sh ITEM_DIR [TIMEOUT_SECONDS]"; }
case ${1:-} in
-h | --help) usage; sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
-*) echo "asr-wait.sh: unknown argument: $1" >&2; usage >&2; exit 3 ;;
esac
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage >&2; exit 3; fi
item=$1
timeout=${2:-0}
[[ $timeout =~ ^[0-9]+$ ]] || { echo "asr-wait.sh: TIMEOUT_SECONDS is whole seconds: $timeout" >&2; usage >&2; exit 3; }
[ -d "$item" ] || { echo "asr-wait.sh: $item is not a replicated item's directory" >&2; usage >&2; exit 3; }
[ -e "$item/job" ] || { echo "no job on $item" >&2; exit 3; }
tty=0; [ -t 1 ] && tty=1
PLAIN_EVERY=5
start=$SECONDS last_plain=-$PLAIN_EVERY
human() { numfmt --to=iec-i --suffix=B "$1" 2>/dev/null || echo "${1}B"; }
while :; do
	job=$(readlink "$item/job")
	state=$(cat "$item/job/state" 2>/dev/null)
	pct=$(cat "$item/job/progress" 2>/dev/null || echo 0)
	eta=$(cat "$item/job/eta-seconds" 2>/dev/null)
	rate=$(cat "$item/job/rate-bytes-per-second" 2>/dev/null || echo 0)
	done_b=$(cat "$item/job/bytes-compared" 2>/dev/null || echo 0)
	total_b=$(cat "$item/job/bytes-total" 2>/dev/null || echo 0)
	task=$(awk '$1 == "InProgress" { $1 = $2 = $3 = ""; sub(/^ +/, ""); print; exit }' "$item/job/tasks" 2>/dev/null)
	case "$state" in
	Succeeded | Failed | Cancelled)
		[ $tty -eq 1 ] && echo
		echo "${job##*/}: $state"
		[ "$state" = Succeeded ] && exit 0
		err=$(cat "$item/job/error" 2>/dev/null)
		[ -n "$err" ] && echo "error: $err"
		exit 1 ;;
	esac
	if [ $tty -eq 1 ]; then
		filled=$((pct * 40 / 100))
		bar=$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((40 - filled)) '' | tr ' ' '.')
		printf '\r\033[K%s [%s] %3d%% %s/s eta %ss %s' "${job##*/}" "$bar" "$pct" "$(human "$rate")" "${eta:-?}" "$task"
	elif [ $((SECONDS - last_plain)) -ge $PLAIN_EVERY ]; then
		last_plain=$SECONDS
		printf '%s %s %s %d%% %s of %s, %s/s, eta %ss, %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${job##*/}" \
			"${state:-?}" "$pct" "$(human "$done_b")" "$(human "$total_b")" "$(human "$rate")" "${eta:-?}" \
			"${task:-no task running}"
	fi
	if [ "$timeout" -gt 0 ] && [ $((SECONDS - start)) -ge "$timeout" ]; then
		[ $tty -eq 1 ] && echo
		echo "timed out after ${timeout}s: ${job##*/} is $state at $pct%"
		exit 2
	fi
	sleep 0.5
done
