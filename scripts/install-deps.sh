#!/bin/sh
# install-deps.sh - install what asrfs needs to build, run and test on Debian.
#
# Called by `make run`, `make check` and `make bench` before they build, so a
# fresh machine needs nothing but this repository.  It is a no-op when every
# package is present (dpkg-query is asked first; apt-get only runs for what is
# missing).  Uses sudo only when not root.  clang and its runtime libraries
# (libFuzzer, sanitizers) are for `make fuzz` and the fuzz tests.  Tools that
# only some tests use are installed when named: the tests ask for them.
set -eu

usage() {
	cat <<'EOF'
usage: install-deps.sh [--help] [TOOL...]

Installs, with apt-get, the Debian packages asrfs needs to build, run and
test; does nothing when they are all present.  Each TOOL named also installs
the package that provides it, for the tests that use it:
  promtool     Prometheus's checker (package prometheus)
  node_exporter  Prometheus's node exporter (package prometheus-node-exporter)
  shellcheck   the shell script linter (package shellcheck)
Uses sudo when not run as root.  Exit status 0 when everything is present.
EOF
}

pkgs="build-essential pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev
libjson-c-dev libxxhash-dev libssl-dev libxml2-dev jq curl e2fsprogs rsync python3 util-linux
clang libclang-rt-dev"

for a in "$@"; do
	case $a in
	-h | --help) usage; exit 0 ;;
	promtool) pkgs="$pkgs prometheus" ;;
	node_exporter) pkgs="$pkgs prometheus-node-exporter" ;;
	shellcheck) pkgs="$pkgs shellcheck" ;;
	*) echo "install-deps.sh: unknown argument: $a" >&2; usage >&2; exit 2 ;;
	esac
done

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
