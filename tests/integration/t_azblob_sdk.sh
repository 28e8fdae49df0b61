#!/bin/bash
# t_azblob_sdk.sh - what asrfs stores in an azblob region, read by Azure's
# own JavaScript SDK (@azure/storage-blob from npm, pinned to a version
# whose service API version Azurite 3.35 accepts, installed into
# .cache/azure-sdk as scripts/azurite.sh installs Azurite).  A VM on
# managed disks is replicated from a local region into Azurite; the SDK
# follows each replica's disk link (its asrfsdisk metadata) to the page
# blob, finds it a fixed VHD (disk size + 512 bytes, a valid footer with the
# disk's size, its pages stored) whose disk bytes equal the source's, and
# the vault record stored as application/json.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/azblob_lib.sh"
SDK_VERSION=12.28.0 # service version 2025-07-05
SDK="$TOP/.cache/azure-sdk"

# sdk_install: the SDK in $SDK, or "skip - " and exit when npm cannot get it.
sdk_install() {
	local have
	have=$(node -p "require('$SDK/node_modules/@azure/storage-blob/package.json').version" 2>/dev/null)
	[ "$have" = "$SDK_VERSION" ] && return 0
	mkdir -p "$SDK"
	[ -f "$SDK/package.json" ] || echo '{"name":"asrfs-azure-sdk","private":true}' >"$SDK/package.json"
	if npm install --prefix "$SDK" --no-audit --no-fund --loglevel=error "@azure/storage-blob@$SDK_VERSION" \
		>"$WORK/sdk-install.log" 2>&1; then
		return 0
	fi
	if ! npm ping >/dev/null 2>&1; then
		skip "azblob_sdk: @azure/storage-blob could not be installed (npm registry unreachable)"
		rm -rf "$WORK"
		exit 0
	fi
	cat "$WORK/sdk-install.log"
	not_ok "@azure/storage-blob@$SDK_VERSION did not install"
	finish
}

az_mount westeurope=local northeurope=azblob
sdk_install
sdkver=$(node -p "require('$SDK/node_modules/@azure/storage-blob/dist/commonjs/utils/constants.js').SERVICE_VERSION")
azver=$(node -p "require('$TOP/.cache/azurite/node_modules/azurite/dist/src/blob/utils/constants.js').ValidAPIVersions.includes('$sdkver')")
check "the SDK's service version ($sdkver) is one Azurite accepts" test "$azver" = true

create_vm westeurope rg1 web01 web01-os:8M,web01-data:3M
D=$(R westeurope)/resource-groups/rg1/disks
scribble "$D/web01-os" 200 0
scribble "$D/web01-os" 10 1900
scribble "$D/web01-data" 30 500
fast_policy 3600 # no cycle rewrites a replica while the SDK reads it
check "replication into Azurite" protect rg1 web01

cat >"$WORK/read.js" <<'JS'
// node read.js ENDPOINT ACCOUNT CONTAINER OUTDIR BLOB...: for each disk
// link BLOB, the page blob it names, into OUTDIR/<basename>.vhd, and one
// JSON line of what the SDK says about it.
const fs = require("fs");
const path = require("path");
const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");
const [endpoint, account, container, outdir, ...blobs] = process.argv.slice(2);
const cred = new StorageSharedKeyCredential(account, process.env.ASRFS_TEST_AZ_KEY);
const cc = new BlobServiceClient(endpoint, cred).getContainerClient(container);
(async () => {
  for (const b of blobs) {
    const link = await cc.getBlobClient(b).getProperties();
    const phys = link.metadata.asrfsdisk;
    const pb = cc.getPageBlobClient(phys);
    const props = await pb.getProperties();
    const buf = await pb.downloadToBuffer(0, props.contentLength);
    fs.writeFileSync(path.join(outdir, path.basename(b) + ".vhd"), buf);
    const ranges = [];
    for await (const r of pb.listPageRanges()) ranges.push([r.start, r.end]);
    console.log(JSON.stringify({ blob: b, phys, type: props.blobType, length: props.contentLength, ranges }));
  }
  const rec = await cc.getBlobClient("vaults/asr-vault/vault.json").getProperties();
  console.log(JSON.stringify({ record: "vault.json", contentType: rec.contentType }));
})().catch((e) => { console.error(e.message); process.exit(1); });
JS
mkdir -p "$WORK/sdk"
N=resource-groups/rg1-asr/disks
if NODE_PATH="$SDK/node_modules" node "$WORK/read.js" "$(az_endpoint northeurope)" "$AZ_ACCOUNT" asr "$WORK/sdk" \
	"$N/web01-os-ASRReplica" "$N/web01-data-ASRReplica" >"$WORK/sdk.out" 2>"$WORK/sdk.err"; then
	ok "the SDK read the replicas"
else
	not_ok "the SDK read the replicas: $(cat "$WORK/sdk.err")"
fi
for d in web01-os:$((8 << 20)) web01-data:$((3 << 20)); do
	n=${d%%:*} size=${d#*:}
	info=$(grep "\"$N/$n-ASRReplica\"" "$WORK/sdk.out")
	f="$WORK/sdk/$n-ASRReplica.vhd"
	check "$n: a page blob" test "$(jq -r .type <<<"$info")" = PageBlob
	check "$n: disk size + 512 bytes" test "$(jq -r .length <<<"$info")" -eq $((size + 512))
	check "$n: the disk's bytes equal the source's" cmp -s -n "$size" "$f" "$D/$n"
	check "$n: ends with a VHD footer of the disk's size" sh -c "
		tail -c 512 '$f' | head -c 8 | grep -q conectix &&
		test \$(tail -c 512 '$f' | od -An -tu1 -j48 -N8 | tr -s ' ' '\n' | grep . |
			awk '{ v = v * 256 + \$1 } END { printf \"%.0f\", v }') = $size"
	check "$n: the footer's pages are stored" test "$(jq -r --argjson s "$size" \
		'[.ranges[] | select(.[0] <= $s and .[1] >= $s + 511)] | length' <<<"$info")" -eq 1
done
check "records are application/json" test "$(grep '"record"' "$WORK/sdk.out" | jq -r .contentType)" = application/json
finish
