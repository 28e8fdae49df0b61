#!/bin/bash
# t_azblob_backend.sh - the azblob backend against a real Blob endpoint:
# starts an Azurite (scripts/azurite.sh), runs the backend_ops conformance
# test (build/tests/test_backend) against it, then checks outage handling:
# with Azurite frozen (SIGSTOP) the region's probe reports it unreachable
# (-EHOSTUNREACH) within its own short timeout, and after SIGCONT it is
# available again; with Azurite stopped (SIGTERM) a record read fails with
# -EHOSTUNREACH after its retries, and once it is started again on the same
# data and port the record is there.  Azurite is always stopped on exit.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
T="$BUILD/tests/test_backend"
fails=0

# One line each, whatever a captured output held.
ok() { echo "ok - ${1%%$'\n'*}"; }
notok() { echo "not ok - ${1%%$'\n'*}"; fails=$((fails + 1)); }

if [ ! -x "$T" ]; then
	notok "azblob_backend: $T is not built (make $T)"
	exit 1
fi

if ! scripts/azurite.sh install >/tmp/azurite-install.$$ 2>&1; then
	if ! npm ping >/dev/null 2>&1; then
		echo "skip - azblob backend: azurite could not be installed (npm registry unreachable)"
		rm -f /tmp/azurite-install.$$
		exit 0
	fi
	cat /tmp/azurite-install.$$ >&2
	rm -f /tmp/azurite-install.$$
	notok "azblob_backend: azurite install failed"
	exit 1
fi
rm -f /tmp/azurite-install.$$

dir=$(mktemp -d /tmp/asrfs-azurite.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && scripts/azurite.sh stop "$pid"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! out=$(scripts/azurite.sh start "$dir/data"); then
	notok "azblob_backend: azurite did not start"
	exit 1
fi
read -r port pid <<<"$out"

# Azurite's public development account (documented by Microsoft; tests only).
export ASRFS_TEST_AZBLOB_ENDPOINT="http://127.0.0.1:$port/devstoreaccount1"
export ASRFS_TEST_AZBLOB_ACCOUNT=devstoreaccount1
export ASRFS_TEST_AZBLOB_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
export ASRFS_TEST_AZBLOB_CONTAINER=asrfs-conformance

# The conformance run (its own ok/not ok lines, local and azblob).
timeout 600 "$T" >"$dir/conf.log" 2>&1
rc=$?
cat "$dir/conf.log"
grep -q '^ok - azblob ' "$dir/conf.log" || notok "azblob_backend: the azblob conformance tests did not run"
[ $rc -eq 0 ] || fails=$((fails + 1))

# Outage: frozen endpoint -> unavailable within the probe timeout; thawed -> available.
if probe=$("$T" --probe 2>&1); then ok "azblob probe available"; else notok "azblob probe available: $probe"; fi
kill -STOP "$pid"
start=$(date +%s%3N)
probe=$(timeout 30 "$T" --probe 2>&1)
prc=$?
took_ms=$(($(date +%s%3N) - start))
echo "# while stopped: $probe"
if [ $prc -eq 1 ] && echo "$probe" | grep -q "unavailable: -113 .*not answering" &&
	[ "$took_ms" -lt 10000 ]; then
	ok "azblob probe unavailable while azurite is stopped"
else
	notok "azblob probe unavailable while azurite is stopped (exit $prc after ${took_ms} ms)"
fi
kill -CONT "$pid"
probe=""
for _ in 1 2 3 4 5; do
	if probe=$("$T" --probe 2>&1); then break; fi
	sleep 1
done
if echo "$probe" | grep -q '^available'; then
	ok "azblob probe available again after resume"
else
	notok "azblob probe available again after resume: $probe"
fi

# Down, then back on the same data: requests fail cleanly, then data is there.
if out=$("$T" --put persist/state.json '{"v":1}' 2>&1); then ok "azblob record written"; else notok "azblob record written: $out"; fi
scripts/azurite.sh stop "$pid"
pid=""
start=$(date +%s%3N)
out=$(timeout 60 "$T" --get persist/state.json 2>&1)
took_ms=$(($(date +%s%3N) - start))
if echo "$out" | grep -q '^error: -113 ' && [ "$took_ms" -lt 15000 ]; then
	ok "azblob request fails with EHOSTUNREACH while azurite is down"
else
	notok "azblob request fails with EHOSTUNREACH while azurite is down: $out (${took_ms} ms)"
fi
if out=$(scripts/azurite.sh start "$dir/data" "$port"); then
	read -r _ pid <<<"$out"
	out=$("$T" --get persist/state.json 2>&1)
	if [ "$out" = '{"v":1}' ]; then ok "azblob records survive an azurite restart"; else notok "azblob records survive an azurite restart: $out"; fi
else
	notok "azblob records survive an azurite restart: azurite did not start again on port $port"
fi

[ $fails -eq 0 ]
