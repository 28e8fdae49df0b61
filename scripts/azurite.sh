#!/bin/bash
# azurite.sh - a local Azure Blob Storage emulator (Azurite) for the azblob
# backend's tests.
#
#   scripts/azurite.sh install     npm-install azurite into .cache/azurite
#                                  (no-op when present; apt-installs nodejs
#                                  and npm first when node is missing)
#   scripts/azurite.sh start DIR [PORT]
#                                  start azurite-blob on 127.0.0.1 with a free
#                                  port (or PORT, to restart one on its old
#                                  data) and its data in DIR; wait until it
#                                  answers; print "PORT PID"
#   scripts/azurite.sh stop PID    stop it (SIGTERM, so it saves its metadata)
#
# The version is pinned: azurite 3.36 and later need Node 22.
set -eu
VERSION=3.35.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX="$ROOT/.cache/azurite"
BIN="$PREFIX/node_modules/.bin/azurite-blob"

die() { echo "azurite.sh: $*" >&2; exit 1; }

installed() {
	[ -x "$BIN" ] && [ -f "$PREFIX/node_modules/azurite/package.json" ] &&
		grep -q "\"version\": \"$VERSION\"" "$PREFIX/node_modules/azurite/package.json"
}

do_install() {
	installed && return 0
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
		echo "azurite.sh: installing nodejs and npm" >&2
		export DEBIAN_FRONTEND=noninteractive
		$SUDO apt-get update -qq >/dev/null
		$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
	fi
	mkdir -p "$PREFIX"
	[ -f "$PREFIX/package.json" ] || echo '{"name":"asrfs-azurite","private":true}' >"$PREFIX/package.json"
	echo "azurite.sh: installing azurite@$VERSION into $PREFIX" >&2
	npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "azurite@$VERSION" >&2
	installed || die "azurite@$VERSION did not install"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

do_start() {
	local dir=$1 want=${2:-} port pid
	installed || die "not installed (run: scripts/azurite.sh install)"
	mkdir -p "$dir"
	for _ in 1 2 3; do
		port=${want:-$(free_port)}
		"$BIN" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir" \
			--skipApiVersionCheck --loose --silent --disableTelemetry \
			>"$dir/azurite.log" 2>&1 </dev/null &
		pid=$!
		for _ in $(seq 1 150); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			# Any HTTP answer at all means it is listening.
			if curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/devstoreaccount1?comp=list"; then
				echo "$port $pid"
				return 0
			fi
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	cat "$dir/azurite.log" >&2 || true
	die "azurite did not start"
}

do_stop() {
	local pid=$1
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

usage() { echo "usage: azurite.sh install | start DIR [PORT] | stop PID | --help"; }
# bad: the usage on stderr, exit 2, nothing done.
bad() { echo "azurite.sh: $*" >&2; usage >&2; exit 2; }

case "${1:-}" in
-h | --help) usage; sed -n '5,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
install) [ $# -eq 1 ] || bad "install takes no argument"; do_install ;;
start) [ $# -ge 2 ] && [ $# -le 3 ] || bad "start DIR [PORT]"; do_start "$2" "${3:-}" ;;
stop) [ $# -eq 2 ] || bad "stop PID"; do_stop "$2" ;;
*) bad "unknown command: ${1:-none}" ;;
esac
