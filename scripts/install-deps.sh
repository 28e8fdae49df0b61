#!/bin/sh
# install-deps.sh - install what asrfs needs to build, run and test on Debian.
#
# Called by `make run`, `make check` and `make bench` before they build, so a
# fresh machine needs nothing but this repository.  It is a no-op when every
# package is present (dpkg-query is asked first; apt-get only runs for what is
# missing).  Uses sudo only when not root.  clang and its runtime libraries
# (libFuzzer, sanitizers) are for `make fuzz` and the fuzz tests.
set -eu

pkgs="build-essential pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev
libjson-c-dev libxxhash-dev libssl-dev jq e2fsprogs rsync python3 util-linux
clang libclang-rt-dev"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
