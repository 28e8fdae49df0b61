#!/bin/bash
# t_azblob_sas.sh - an azblob region reached with a shared access signature
# instead of the account key (sas_file / sas_env, SPEC 2), and what every
# request carries.
#
# 1. An account SAS made here (HMAC-SHA256 of its fields with the account
#    key, by openssl, as Azure documents it) in a 0600 sas_file: the region
#    is available with no key anywhere, a VM is replicated into it and the
#    replica reads back equal to the source; the SAS is never in the log,
#    the tree or the trace.  A sas_file readable by others is refused at
#    start, as a key_file is; sas_env works too; a SAS with a wrong
#    signature leaves the region unavailable.
# 2. Records are stored with Content-Type application/json.
# 3. Against a stand-in endpoint that records what it is sent: every
#    request carries User-Agent asrfs/<version> and its own
#    x-ms-client-request-id (a UUID); the trace line (ASRFS_AZBLOB_TRACE)
#    gives that id, the x-ms-request-id and x-ms-error-code of the answer
#    and an RFC 3339 time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
az_setup || finish
az_start northeurope || finish
CONF="$WORK/asrfs.json"
TRACE="$WORK/az.trace"
export ASRFS_AZBLOB_TRACE=$TRACE

# account_sas [SIGNATURE-KEY]: an account SAS for the blob service, every
# resource type, read/write/delete/list/add/create/update/process, valid
# from an hour ago for a day, signed with the account key (or another).
account_sas() {
	local key=${1:-$ASRFS_TEST_AZ_KEY} st se sts hexkey sig
	st=$(date -u -d '-1 hour' '+%Y-%m-%dT%H:%M:%SZ')
	se=$(date -u -d '+1 day' '+%Y-%m-%dT%H:%M:%SZ')
	# account, permissions, services, resource types, start, expiry, IP,
	# protocol, version, encryption scope, and a final newline.
	sts="$AZ_ACCOUNT"$'\n'"rwdlacup"$'\n'"b"$'\n'"sco"$'\n'"$st"$'\n'"$se"$'\n\n'"https,http"$'\n'"2021-08-06"$'\n\n'
	hexkey=$(base64 -d <<<"$key" | od -An -v -tx1 | tr -d ' \n')
	sig=$(printf '%s' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)
	sig=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$sig")
	echo "sv=2021-08-06&ss=b&srt=sco&sp=rwdlacup&st=$st&se=$se&spr=https,http&sig=$sig"
}

SAS=$(account_sas)
SIG=${SAS##*sig=}
printf '?%s\n' "$SAS" >"$WORK/sas" # as the portal shows it, with its '?'
chmod 644 "$WORK/sas"
az_config "$CONF" westeurope=local northeurope=azblob
sed -i "s|\"key_env\": \"ASRFS_TEST_AZ_KEY\"|\"sas_file\": \"$WORK/sas\"|" "$CONF"
check "the config names no key" sh -c "! grep -q key_ '$CONF'"
az_refused "sas_file readable by others: refused" "sas_file $WORK/sas is readable by others"
chmod 600 "$WORK/sas"

KEY=$ASRFS_TEST_AZ_KEY
unset ASRFS_TEST_AZ_KEY # the SAS alone must do
asrfs_start --config "$CONF" || { not_ok "mount with sas_file"; finish; }
export ASRFS_TEST_AZ_KEY=$KEY
N=$(R northeurope)
check "sas_file: the region is available" wait_for 15 file_is "$N/status" available
create_vm westeurope rg1 web01 web01-os:8M,web01-data:4M
D=$(R westeurope)/resource-groups/rg1/disks
scribble "$D/web01-os" 300 0
scribble "$D/web01-data" 20 700
fast_policy 2
check "replication into the region (SAS)" protect rg1 web01
check "replica (os) equals the source" cmp -s "$N/resource-groups/rg1-asr/disks/web01-os-ASRReplica" "$D/web01-os"
check "replica (data) equals the source" cmp -s "$N/resource-groups/rg1-asr/disks/web01-data-ASRReplica" "$D/web01-data"
check "a recovery point (a snapshot) is taken" wait_for 30 test -n "$(latest_point web01)"
check "the SAS signature is not in the log" sh -c "! grep -qF -- '$SIG' '$LOG'"
check "nor in the trace" sh -c "! grep -qF -- '$SIG' '$TRACE'"
check "nor in the tree" sh -c "! grep -rqsF -- '$SIG' '$N' '$(V)' 2>/dev/null"
check "the backend shows the endpoint only" test "$(cat "$N/backend")" = "azblob:$(az_endpoint northeurope)"

# Records are JSON on the wire.
ctype() { curl -sfI "$(az_endpoint northeurope)/asr/$1?$SAS" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Tt]ype: //p'; }
check "vault record: application/json" test "$(ctype vaults/asr-vault/vault.json)" = application/json
check "the marker: application/octet-stream" test "$(ctype .asrfs-region)" = application/octet-stream
asrfs_stop

# sas_env, and a SAS whose signature is wrong.
export ASRFS_TEST_SAS=$SAS
sed -i "s|\"sas_file\": \"$WORK/sas\"|\"sas_env\": \"ASRFS_TEST_SAS\"|" "$CONF"
asrfs_start --config "$CONF" || { not_ok "mount with sas_env"; finish; }
check "sas_env: the region is available" wait_for 15 file_is "$N/status" available
check "sas_env: the item is found again" file_is "$(V)/items/web01/state" Protected
asrfs_stop
ASRFS_TEST_SAS=$(account_sas "$(head -c 64 /dev/urandom | base64 -w0)")
asrfs_start --config "$CONF" || { not_ok "mount with a bad SAS"; finish; }
check "a forged SAS: the region is unavailable" wait_for 15 grep -q '^unavailable' "$N/status"
asrfs_stop
unset ASRFS_TEST_SAS

# 3. Headers and the trace, against a stand-in that records requests and
# answers each with a request id and an error code.
python3 - "$WORK/seen" "$WORK/fake.port" <<'PY' &
import http.server, json, sys
seen, portfile = sys.argv[1], sys.argv[2]
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        n[0] += 1
        with open(seen, "a") as f:
            f.write(json.dumps({k.lower(): v for k, v in self.headers.items()}) + "\n")
        self.send_response(403)
        self.send_header("x-ms-request-id", "fake-request-%d" % n[0])
        self.send_header("x-ms-error-code", "AuthenticationFailed")
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_HEAD = do_PUT = do_DELETE = answer
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_address[1]))
s.serve_forever()
PY
FAKE=$!
wait_for 10 test -s "$WORK/fake.port"
cat >"$WORK/fake.json" <<EOF2
{"regions": [{"name": "westeurope", "backend": "local", "path": "$WORK/regions/westeurope"},
  {"name": "fake", "backend": "azblob", "endpoint": "http://127.0.0.1:$(cat "$WORK/fake.port")/$AZ_ACCOUNT",
   "account": "$AZ_ACCOUNT", "key_env": "ASRFS_TEST_AZ_KEY", "container": "asr"}],
 "vaults": [{"name": "asr-vault", "region": "westeurope"}]}
EOF2
: >"$TRACE"
rm -rf "$STATE"; mkdir -p "$STATE"
asrfs_start --config "$WORK/fake.json" || not_ok "mount with the stand-in"
check "the stand-in was asked" wait_for 15 test "$(wc -l <"$WORK/seen" 2>/dev/null)" -ge 2
asrfs_stop
kill "$FAKE" 2>/dev/null; wait "$FAKE" 2>/dev/null
ver=$(head -1 "$WORK/seen" | jq -r '."user-agent"')
check "User-Agent asrfs/<version>" test "$ver" = "asrfs/$("$ASRFS" -V | cut -d' ' -f2)"
check "every request has a User-Agent" test "$(jq -r '."user-agent"' "$WORK/seen" | sort -u | wc -l)" -eq 1
ids=$(jq -r '."x-ms-client-request-id"' "$WORK/seen")
check "every request has an x-ms-client-request-id UUID" \
	test "$(grep -cE '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' <<<"$ids")" -eq "$(wc -l <"$WORK/seen")"
check "a fresh one each" test "$(sort -u <<<"$ids" | wc -l)" -eq "$(wc -l <"$WORK/seen")"
line=$(grep -m1 ' request=fake-request-1 ' "$TRACE")
check "trace: x-ms-request-id" test -n "$line"
check "trace: the error code" grep -q ' error=AuthenticationFailed$' <<<"$line"
check "trace: the client request id sent" grep -qF " client=$(head -1 <<<"$ids") " <<<"$line"
t=$(sed -n 's/.* time=\([^ ]*\) .*/\1/p' <<<"$line")
check "trace: an RFC 3339 time ($t)" sh -c "echo '$t' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' && date -d '$t' >/dev/null"
finish
