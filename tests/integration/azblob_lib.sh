# shellcheck shell=bash
# azblob_lib.sh - helpers for the integration tests that run the daemon on
# azblob regions.  Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/azblob_lib.sh"
#   az_mount westeurope=local northeurope=azblob   # all of the below in one
#   az_setup || finish            # installs Azurite or prints "skip - ..." and exits
#   az_start northeurope          # one Azurite per region: AZ_PORT[r], AZ_PID[r]
#   az_config "$WORK/asrfs.json" westeurope=local northeurope=azblob
#   asrfs_start --config "$WORK/asrfs.json"
#   az_stop northeurope / az_freeze / az_thaw / az_restart (same port and data)
#
# Each region gets its own Azurite (so one region's endpoint can be stopped
# alone) with its data under $WORK/azurite-<region>.  The account key is
# handed to asrfs only through the environment variable ASRFS_TEST_AZ_KEY
# (config key_env), never written into a config.  Every Azurite this file
# started is stopped when the test exits, however it exits.

AZ_SCRIPT="$TOP/scripts/azurite.sh"
# Azurite's public development account (documented by Microsoft; tests only).
AZ_ACCOUNT=devstoreaccount1
export ASRFS_TEST_AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
declare -A AZ_PORT=() AZ_PID=()

az_cleanup() {
	local r
	for r in "${!AZ_PID[@]}"; do
		[ -n "${AZ_PID[$r]}" ] && "$AZ_SCRIPT" stop "${AZ_PID[$r]}" >/dev/null 2>&1
	done
	AZ_PID=()
}
# lib.sh's finish() exits; the EXIT trap then stops the Azurites.  On INT or
# TERM: unmount, stop them, and leave.
trap 'az_cleanup' EXIT
trap 'asrfs_stop >/dev/null 2>&1; az_cleanup; rm -rf "$WORK"; exit 1' INT TERM

# az_setup: Azurite installed, or "skip - " and exit when npm cannot reach
# its registry (then there is nothing to test against).
az_setup() {
	local out="$WORK/azurite-install.log"
	if "$AZ_SCRIPT" install >"$out" 2>&1; then
		return 0
	fi
	if ! npm ping >/dev/null 2>&1; then
		skip "$(basename "$0" .sh): Azurite could not be installed (npm registry unreachable)"
		rm -rf "$WORK"
		exit 0
	fi
	cat "$out"
	not_ok "Azurite install failed"
	return 1
}

# az_start REGION [PORT]: an Azurite for REGION (on PORT to restart one).
az_start() {
	local r=$1 out port pid
	if ! out=$("$AZ_SCRIPT" start "$WORK/azurite-$r" ${2:-}); then
		not_ok "Azurite for $r did not start"
		return 1
	fi
	read -r port pid <<<"$out"
	AZ_PORT[$r]=$port
	AZ_PID[$r]=$pid
}

# az_stop REGION: SIGTERM (Azurite saves its metadata, unlike SIGKILL).
az_stop() {
	local r=$1
	[ -n "${AZ_PID[$r]:-}" ] || return 0
	"$AZ_SCRIPT" stop "${AZ_PID[$r]}"
	AZ_PID[$r]=
}

# az_restart REGION: start it again on its old port and data.
az_restart() { az_start "$1" "${AZ_PORT[$1]}"; }

az_freeze() { kill -STOP "${AZ_PID[$1]}"; }
az_thaw() { kill -CONT "${AZ_PID[$1]}"; }

az_endpoint() { echo "http://127.0.0.1:${AZ_PORT[$1]}/$AZ_ACCOUNT"; }

# az_mount REGION=KIND... [more az_config words]: Azurite installed, one
# started for each azblob region, the config written to $CONF, and asrfs
# mounted on it; the test ends at once if any of that fails.
az_mount() {
	local a
	az_setup || finish
	for a in "$@"; do
		case "$a" in *=azblob) az_start "${a%%=*}" || finish ;; esac
	done
	CONF="$WORK/asrfs.json"
	az_config "$CONF" "$@"
	asrfs_start --config "$CONF" || { not_ok "mount"; finish; }
}

# az_config FILE REGION=KIND... [vault=REGION] [container=NAME] [extra JSON
# members as key:value, e.g. lease_seconds:15]: the config asrfs reads.  The
# first region is the primary by convention; the vault goes in the last one
# unless vault= says otherwise.  azblob regions use their own Azurite.
az_config() {
	local file=$1; shift
	local regions="" vault_region="" container=asr extra="" a name kind last=""
	for a in "$@"; do
		case "$a" in
		vault=*) vault_region=${a#vault=} ;;
		container=*) container=${a#container=} ;;
		esac
	done
	for a in "$@"; do
		case "$a" in
		vault=* | container=*) ;;
		*=*)
			name=${a%%=*} kind=${a#*=}
			[ -n "$regions" ] && regions="$regions,"
			if [ "$kind" = azblob ]; then
				regions="$regions
    {\"name\": \"$name\", \"backend\": \"azblob\", \"endpoint\": \"$(az_endpoint "$name")\",
     \"account\": \"$AZ_ACCOUNT\", \"key_env\": \"ASRFS_TEST_AZ_KEY\", \"container\": \"$container\"}"
			else
				regions="$regions
    {\"name\": \"$name\", \"backend\": \"local\", \"path\": \"$WORK/regions/$name\"}"
			fi
			last=$name
			;;
		*:*) extra="$extra, \"${a%%:*}\": ${a#*:}" ;;
		esac
	done
	[ -n "$vault_region" ] || vault_region=$last
	cat >"$file" <<EOF
{"regions": [$regions],
 "vaults": [{"name": "asr-vault", "region": "$vault_region"}],
 "workers": 2$extra}
EOF
}

# az_refused NAME PATTERN: asrfs, started on $CONF, does not mount and
# says PATTERN.
az_refused() {
	local name=$1 pat=$2 out rc
	out=$(timeout 20 "$ASRFS" -f --state "$STATE" --config "$CONF" "$MNT" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && ! mounted && echo "$out" | grep -q -- "$pat"; then ok "$name"; else
		not_ok "$name (exit $rc: $out)"; mounted && fusermount3 -u "$MNT"; fi
}

# az_request VERB REGION PATH QUERY LENGTH TYPE [x-ms-name:value...] [-- CURL
# ARGS...]: a request signed with SharedKey as asrfs signs its own, of PATH
# (after the account, e.g. /asr/vaults/asr-vault/vault.json) on REGION's
# Azurite; the response body to stdout, non-zero when it fails.  QUERY is
# name=value&... with values that need no URL encoding; LENGTH and TYPE are
# the body's Content-Length and Content-Type ("" for none); the x-ms-*
# headers beyond date and version come lower-case and in sorted order, as
# the signature lists them.  CURL ARGS send the body (--data-binary @FILE).
az_request() {
	local verb=$1 r=$2 path=$3 query=$4 len=$5 type=$6 date canon kv h sts hexkey sig
	local -a hdrs=() args=()
	shift 6
	while [ $# -gt 0 ] && [ "$1" != -- ]; do hdrs+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	args=("$@")
	date=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
	canon="/$AZ_ACCOUNT/$AZ_ACCOUNT$path"
	if [ -n "$query" ]; then
		for kv in $(tr '&' '\n' <<<"$query" | sort); do
			canon="$canon"$'\n'"${kv%%=*}:${kv#*=}"
		done
	fi
	# VERB, Content-Encoding, -Language, -Length, -MD5, -Type, Date,
	# If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range
	sts="$verb"$'\n\n\n'"$len"$'\n\n'"$type"$'\n\n\n\n\n\n\n'"x-ms-date:$date"
	for h in "${hdrs[@]}"; do
		sts="$sts"$'\n'"$h"
		args+=(-H "${h%%:*}: ${h#*:}")
	done
	sts="$sts"$'\n'"x-ms-version:2021-08-06"$'\n'"$canon"
	[ -n "$type" ] && args+=(-H "Content-Type: $type")
	hexkey=$(base64 -d <<<"$ASRFS_TEST_AZ_KEY" | od -An -v -tx1 | tr -d ' \n')
	sig=$(printf '%s' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)
	curl -sf -X "$verb" -H "x-ms-date: $date" -H "x-ms-version: 2021-08-06" \
		-H "Authorization: SharedKey $AZ_ACCOUNT:$sig" "${args[@]}" "$(az_endpoint "$r")$path${query:+?$query}"
}

# az_get REGION PATH [QUERY]: a signed GET, for looking at what asrfs stored
# (blob snapshots, catalogs) from outside.
az_get() { az_request GET "$1" "$2" "${3:-}" "" ""; }

# az_put_page REGION BLOBPATH OFFSET FILE: FILE's bytes written into the page
# blob at BLOBPATH (e.g. /asr/.disks/<id>) from OFFSET with a Put Page, as a
# program other than asrfs would: OFFSET and FILE's size multiples of 512.
az_put_page() {
	local len
	len=$(stat -c %s "$4") || return 1
	az_request PUT "$1" "$2" comp=page "$len" application/octet-stream \
		x-ms-page-write:update "x-ms-range:bytes=$3-$(($3 + len - 1))" -- --data-binary "@$4" -o /dev/null
}

# az_snapshot_count REGION [CONTAINER] [PREFIX]: how many blob snapshots
# the region's container holds (List Blobs with include=snapshots), of
# blobs whose names begin with PREFIX when given.
az_snapshot_count() {
	local out
	out=$(az_get "$1" "/${2:-asr}" "restype=container&comp=list&include=snapshots${3:+&prefix=$3}") || return 1
	grep -o '<Snapshot>' <<<"$out" | wc -l
}
