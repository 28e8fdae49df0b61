/*
 * azblob.c - the `azblob` backend: a region is a container in an Azure
 * Storage account, spoken to with the Blob REST API over libcurl.
 * Layout.  A key is a blob name in the container ("vaults/v1/state.json");
 * '/' makes the virtual directories that list() walks with a delimiter.  The
 * container holds the marker blob ".asrfs-region" (the region name), written
 * by init_region() as local.c writes its marker file; names beginning with
 * '.' are never listed.
 *
 *   records  block blobs (Put Blob / Get Blob); the etag is the ETag header,
 *            so rec_put's conditions become If-Match / If-None-Match: *.
 *   disks    page blobs, reached through links (below); pwrite is Put
 *            Page in 512-aligned ranges of at most 4 MiB (read-modify-write
 *            of partial edge sectors, all-zero ranges sent as "clear" so the
 *            blob stays sparse); pread is ranged GETs of 8 MiB; the pieces
 *            of one large transfer go several at a time on a curl multi
 *            handle.  next_data asks Get Page Ranges.  A page blob has a
 *            fixed size: pwrite past the end is -ENOSPC (truncate first).
 *   leases   blob leases (conf lease_seconds, 15..60, default 60; renewed
 *            by the caller), the lease id kept in the returned handle.
 *
 * The parts:
 *   azblob.c       this: the ops table, open/close, probe, init_region, names
 *   azblob_http.c  one HTTP request: signing, sending, retries, the pool, the trace
 *   azblob_rec.c   records, List Blobs, leases
 *   azblob_buf.c, azblob_sign.c, azblob_xml.c  the buffer, SharedKey, the XML answers
 * and azblob_int.h what they share.
 *
 * Disk links.  Blob storage has no rename, and Copy Blob of a big disk is
 * slow (Azurite copies the bytes; reprotect renames whole disks).  So a
 * disk's bytes live in a physical page blob at a hidden name,
 * ".disks/<random 128-bit hex id>" (outside every key, never listed), and
 * the disk key holds a link: an empty block blob whose metadata asrfsdisk
 * names the physical blob.  The physical blob's metadata asrfsowner names
 * the one key (percent-encoded) whose link is valid.  A link is a disk only
 * when its physical blob exists and is owned by the link's key; any other
 * link is stale, and is no disk (disk_exists 0, disk_open -ENOENT), though
 * list() still names it until it is replaced, deleted or its tree removed.
 *
 *   create   link (If-None-Match: *, -EEXIST when the key holds a disk),
 *            then the physical blob, owned by the key;
 *   rename   link `to`, then Set Blob Metadata owner = to on the physical
 *            (If-Match its ETag: the commit point), then `to`'s version
 *            alias, then Delete of link `from`; O(1), no bytes move;
 *   delete   the physical blob (only when the link owns it), then the link;
 *   remove_tree  lists with metadata and does the same for each link.
 *
 * At every step of each, a crash leaves each physical blob with at most one
 * valid link and never a physical blob without a link that could own it
 * (create and delete write the link first and remove it last); a stale link
 * left behind is replaced by a create or rename onto its key, or removed by
 * delete / remove_tree, which keep a physical blob it does not own.
 * disk_open resolves the link once; the handle keeps the physical name, so
 * it survives a rename as an open file does.  A plain page blob at a key (a
 * disk made before links) is still a disk in every call; its rename is the
 * old Copy Blob then Delete.  Operations on one key are assumed not to race
 * each other (asrfs serializes them); conditional requests make a lost race
 * an error, not two disks sharing bytes.
 *
 * Disk versions.  disk_version is a token of the physical blob's contents:
 * "<id>:<ETag>".  Every Put Page, clear and resize changes the ETag, but so
 * does rename's Set Blob Metadata, which must keep the token.  So rename
 * reads the token T before (with the physical's ETag E0), updates the owner
 * only If-Match E0 (a write racing in makes it read again), and stores in
 * the new link the alias "ETag E1 (right after the update) stands for T".
 * disk_version answers T while the physical's ETag is still E1; the first
 * write changes the ETag and the alias no longer applies.  The token is thus
 * the ETag the blob had right after its last data change, tagged with its
 * id, so equal tokens mean equal bytes.  When the pairing is unknown (the
 * owner update's answer was lost and a retry found it done, or a crash
 * before the alias was written) no alias is written: the token changes,
 * which is safe.  A plain page blob has no version (-EOPNOTSUPP): its
 * rename copies, which cannot keep an ETag.  (Azure's ETags are unique per
 * change; Azurite's are a millisecond clock times a random factor, unique in
 * practice.)
 *
 * Snapshots.  A disk's snapshots (backend.h's optional group) are Snapshot
 * Blobs of its physical blob (of a plain page blob: of itself), so a
 * rename keeps them and the link is never snapshotted.  The id is the
 * x-ms-snapshot time; reads of one are GETs and Get Page Ranges with
 * ?snapshot=<id> on the physical blob, which a snapshot handle keeps (as
 * disk_open's does); disk_snapshot_list is List Blobs include=snapshots
 * with the physical's name as the prefix.  disk_copy_snapshot is Copy Blob
 * (x-ms-copy-source: <physical>?snapshot=<id>) onto the destination
 * handle's blob, polled until x-ms-copy-status leaves "pending".  Copy Blob
 * gives the destination the source's metadata unless the request names
 * some, so it sends the destination's own (its owner), read by a HEAD and
 * made conditional on that HEAD's ETag (If-Match): an owner a rename moved
 * meanwhile is read again, never written back.  The copy changes the ETag,
 * so the disk's version changes (a rename's alias names an older ETag).
 * Deleting a disk's blob (disk_delete, remove_tree) sends
 * x-ms-delete-snapshots: include, as Azure refuses to delete a blob that
 * has snapshots (409 SnapshotsPresent).  A plain page blob's rename, a
 * copy, could not take its snapshots along: it is -EBUSY while it has any.
 *
 * VHD footers.  Azure imports a page blob as a managed disk when it is a
 * fixed VHD: the disk's bytes, then a 512-byte VHD footer (vhd.h).  So
 * every physical blob disk_create makes is disk size + 512 bytes, the
 * footer written right after the blob is created; truncate resizes the
 * blob, writes the footer at the new end and clears the old one when the
 * disk grew.  Snapshots and Copy Blob carry it along with the bytes.  A
 * handle shows the disk's bytes only: size leaves the footer out, and
 * reads, writes, zero and next_data stop before it.  disk_open recognises
 * the footer by its contents (a valid fixed-VHD footer in the last 512
 * bytes whose current size is the blob's less 512), one ranged GET; a blob
 * made before footers is a raw disk and stays one.  A crash between a
 * create or resize and its footer write leaves a blob without a footer,
 * which reads as a raw disk 512 bytes longer.
 *
 * The account key is only ever used as HMAC key material; it is not logged
 * and not kept in any string that could be printed.
 */
#define _GNU_SOURCE
#include "azblob_int.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define MARKER ".asrfs-region"
#define LEASE_DEFAULT 60 /* seconds; Azure takes 15..60 (or infinite) */
#define MAX_PUT_PAGE (4ULL << 20)   /* Azure's limit for one Put Page update */
#define READ_PIECE (8ULL << 20)     /* one ranged GET of a pread */
#define INFLIGHT 4                  /* requests of one transfer in flight at once */
#define CLEAR_PIECE (1ULL << 30)    /* one Put Page clear */
#define PAGELIST_WINDOW (1ULL << 30) /* first Get Page Ranges window */

/* The URL path of blob `name` (unchecked) into *out (malloc'd). */
int az_blob_path_raw(struct az_backend *ab, const char *name, char **out)
{
	struct az_buf b = {0};
	az_buf_add(&b, ab->base_path);
	az_buf_add(&b, "/");
	az_buf_add_enc(&b, ab->container, 0);
	if (name) {
		az_buf_add(&b, "/");
		az_buf_add_enc(&b, name, 1);
	}
	if (b.err) {
		az_buf_free(&b);
		return -ENOMEM;
	}
	*out = b.p;
	return 0;
}

int az_blob_path(struct az_backend *ab, const char *key, char **out)
{
	if (!backend_key_ok(key) || !*key)
		return -EINVAL;
	return az_blob_path_raw(ab, key, out);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void) { curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

static void az_close(struct backend *be)
{
	struct az_backend *ab = AB(be);
	if (!ab)
		return;
	for (int i = 0; i < ab->npool; i++)
		curl_easy_cleanup(ab->pool[i]);
	pthread_mutex_destroy(&ab->pool_lock);
	if (ab->key)
		OPENSSL_cleanse(ab->key, ab->keylen);
	free(ab->key);
	if (ab->sas)
		OPENSSL_cleanse(ab->sas, strlen(ab->sas));
	free(ab->sas);
	free(ab->endpoint);
	free(ab->origin);
	free(ab->base_path);
	free(ab->account);
	free(ab->container);
	free(ab->region);
	free(ab);
}

static int az_open(const struct backend_conf *conf, struct backend **out)
{
	struct az_backend *ab;
	const char *host, *slash;
	size_t n;
	int rc;

	if (!conf->endpoint || !conf->account || !*conf->account || !(conf->key || conf->sas) || !conf->container ||
	    !*conf->container || !conf->region)
		return -EINVAL;
	if (conf->lease_seconds && (conf->lease_seconds < 15 || conf->lease_seconds > 60))
		return -EINVAL; /* what Azure accepts for a finite lease */
	host = strstr(conf->endpoint, "://");
	if (!host || !host[3])
		return -EINVAL;
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok)
		return -EIO;
	ab = calloc(1, sizeof(*ab));
	if (!ab)
		return -ENOMEM;
	ab->base.ops = &azblob_backend_ops;
	snprintf(ab->lease_seconds, sizeof(ab->lease_seconds), "%d",
		 conf->lease_seconds ? conf->lease_seconds : LEASE_DEFAULT);
	pthread_mutex_init(&ab->pool_lock, NULL);
	ab->endpoint = strdup(conf->endpoint);
	ab->account = strdup(conf->account);
	ab->container = strdup(conf->container);
	ab->region = strdup(conf->region);
	if (!ab->endpoint || !ab->account || !ab->container || !ab->region) {
		rc = -ENOMEM;
		goto fail;
	}
	n = strlen(ab->endpoint);
	while (n > 0 && ab->endpoint[n - 1] == '/')
		ab->endpoint[--n] = '\0';
	host = strstr(ab->endpoint, "://") + 3;
	slash = strchr(host, '/');
	ab->origin = slash ? strndup(ab->endpoint, (size_t)(slash - ab->endpoint)) : strdup(ab->endpoint);
	ab->base_path = strdup(slash ? slash : "");
	if (!ab->origin || !ab->base_path) {
		rc = -ENOMEM;
		goto fail;
	}
	if (conf->key) {
		rc = az_b64_decode(conf->key, &ab->key, &ab->keylen);
		if (rc < 0)
			goto fail;
	} else {
		const char *q = conf->sas + (conf->sas[0] == '?'); /* as the portal gives it, or bare */
		if (!*q || strchr(q, '#') || strchr(q, ' ')) {
			rc = -EINVAL;
			goto fail;
		}
		if (!(ab->sas = strdup(q))) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	*out = &ab->base;
	return 0;
fail:
	az_close(&ab->base);
	return rc;
}

static void az_describe(struct backend *be, char *buf, size_t len)
{
	snprintf(buf, len, "azblob:%s", AB(be)->endpoint);
}

static int check_marker(struct az_backend *ab, int probe, char *reason, size_t len)
{
	char *path = NULL, *data = NULL, why[CURL_ERROR_SIZE] = "";
	int rc = az_blob_path_raw(ab, MARKER, &path);
	if (rc < 0)
		return rc;
	rc = az_get_blob(ab, path, probe, &data, NULL, NULL, why, sizeof(why));
	free(path);
	if (rc == -EHOSTUNREACH) {
		snprintf(reason, len, "endpoint %s not answering: %s", ab->endpoint, why);
		return rc;
	}
	if (rc == -ENOENT) {
		snprintf(reason, len, "container %s at %s holds no region marker", ab->container, ab->endpoint);
		return rc;
	}
	if (rc < 0) {
		snprintf(reason, len, "reading the region marker at %s failed: %s", ab->endpoint, strerror(-rc));
		return rc;
	}
	data[strcspn(data, "\r\n")] = '\0';
	if (strcmp(data, ab->region) != 0) {
		snprintf(reason, len, "container %s at %s holds region '%s', not '%s'", ab->container,
			 ab->endpoint, data, ab->region);
		rc = -EINVAL;
	}
	free(data);
	return rc;
}

static int az_probe(struct backend *be, char *reason, size_t len)
{
	struct az_backend *ab = AB(be);
	char *path = NULL;
	struct az_req r = {.verb = "HEAD", .query = "restype=container", .probe = 1};
	int rc = az_blob_path_raw(ab, NULL, &path);

	if (rc < 0) {
		snprintf(reason, len, "out of memory");
		return -EHOSTUNREACH;
	}
	r.path = path;
	rc = az_perform(ab, &r);
	if (rc < 0) {
		snprintf(reason, len, "endpoint %s not answering: %s", ab->endpoint, r.errbuf);
		rc = -EHOSTUNREACH;
		goto out;
	}
	if (r.status == 403) {
		snprintf(reason, len, "endpoint %s refused the credentials of account %s (HTTP 403)", ab->endpoint,
			 ab->account);
		rc = -EHOSTUNREACH;
		goto out;
	}
	if (r.status == 404) {
		snprintf(reason, len, "container %s does not exist at %s", ab->container, ab->endpoint);
		rc = -EHOSTUNREACH;
		goto out;
	}
	if (r.status != 200) {
		snprintf(reason, len, "endpoint %s answered HTTP %ld for container %s", ab->endpoint, r.status,
			 ab->container);
		rc = -EHOSTUNREACH;
		goto out;
	}
	rc = check_marker(ab, 1, reason, len) < 0 ? -EHOSTUNREACH : 0;
out:
	az_req_free(&r);
	free(path);
	return rc;
}

static int create_container(struct az_backend *ab)
{
	char *path = NULL;
	struct az_req r = {.verb = "PUT", .query = "restype=container"};
	int rc = az_blob_path_raw(ab, NULL, &path);
	if (rc < 0)
		return rc;
	r.path = path;
	rc = az_perform(ab, &r);
	if (rc == 0 && r.status != 201 && r.status != 409)
		rc = az_status_errno(&r);
	az_req_free(&r);
	free(path);
	return rc;
}

static int az_init_region(struct backend *be)
{
	struct az_backend *ab = AB(be);
	char reason[512], line[300], *path = NULL;
	int rc = create_container(ab);

	if (rc < 0)
		return rc;
	rc = check_marker(ab, 0, reason, sizeof(reason));
	if (rc != -ENOENT)
		return rc;
	rc = az_blob_path_raw(ab, MARKER, &path);
	if (rc < 0)
		return rc;
	snprintf(line, sizeof(line), "%s\n", ab->region);
	rc = az_put_block_blob(ab, path, line, strlen(line), "", NULL);
	free(path);
	if (rc == -EEXIST) /* someone else just wrote one: is it ours? */
		rc = check_marker(ab, 0, reason, sizeof(reason));
	return rc;
}

/* HEAD a blob: its properties and our metadata.  0, -ENOENT, ... */
static int head_props(struct az_backend *ab, const char *path, struct blob_props *p)
{
	struct az_req r = {.verb = "HEAD", .path = path};
	char v[64];
	int rc;

	memset(p, 0, sizeof(*p));
	rc = az_perform_want(ab, &r, 200);
	if (rc < 0)
		goto out;
	az_resp_hdr(&r, "Content-Length", v, sizeof(v));
	p->size = strtoull(v, NULL, 10);
	az_resp_hdr(&r, "x-ms-blob-type", v, sizeof(v));
	p->is_page = strcmp(v, "PageBlob") == 0;
	az_resp_hdr(&r, "ETag", p->etag, sizeof(p->etag));
	az_resp_hdr(&r, M_DISK, p->disk, sizeof(p->disk));
	az_resp_hdr(&r, M_OWNER, p->owner, sizeof(p->owner));
	az_resp_hdr(&r, M_VETAG, p->vetag, sizeof(p->vetag));
	az_resp_hdr(&r, M_VER, p->ver, sizeof(p->ver));
out:
	az_req_free(&r);
	return rc;
}

/* HEAD a blob: size and whether it is a page blob.  0, -ENOENT, ... */
int az_head_blob(struct az_backend *ab, const char *path, uint64_t *size, int *is_page)
{
	struct blob_props p;
	int rc = head_props(ab, path, &p);
	if (rc == 0 && size)
		*size = p.size;
	if (rc == 0 && is_page)
		*is_page = p.is_page;
	return rc;
}

/* An ETag without its quotes (metadata values and tokens carry it bare). */
static void unquote(const char *etag, char *out, size_t len)
{
	size_t n = strlen(etag);
	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		etag++;
		n -= 2;
	}
	if (n >= len)
		n = len - 1;
	memcpy(out, etag, n);
	out[n] = '\0';
}

/* A physical blob's name as we make them: ".disks/" and 32 lowercase hex. */
static int phys_ok(const char *name)
{
	size_t n = strlen(PHYS_DIR);
	if (strncmp(name, PHYS_DIR, n) != 0 || strlen(name + n) != PHYS_HEX)
		return 0;
	for (const char *c = name + n; *c; c++)
		if (!isdigit((unsigned char)*c) && !(*c >= 'a' && *c <= 'f'))
			return 0;
	return 1;
}

static int new_phys(char phys[PHYS_MAX])
{
	unsigned char b[PHYS_HEX / 2];
	size_t n = strlen(PHYS_DIR);
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	memcpy(phys, PHYS_DIR, n);
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(phys + n + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* The M_OWNER value naming key (malloc'd), or NULL when out of memory. */
static char *owner_of(const char *key)
{
	struct az_buf b = {0};
	az_buf_add_enc(&b, key, 1);
	if (!b.err && !b.p)
		az_buf_addn(&b, "", 0);
	if (b.err) {
		az_buf_free(&b);
		return NULL;
	}
	return b.p;
}

/* Look key (at URL path kpath) up: D_ABSENT, nothing there; D_PLAIN, a blob
 * that is no link (a page blob made before links, or a block blob), the
 * disk itself; D_LINK, a link whose physical blob names key as its owner,
 * the only kind of link that is a disk; D_STALE, a link whose physical blob
 * is gone or owned by another key (left by a crash in a create, delete or
 * rename), which is no disk.  0 or -errno. */
static int resolve(struct az_backend *ab, const char *key, const char *kpath, struct az_target *t)
{
	struct blob_props lp;
	char *ppath = NULL, *own = NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = head_props(ab, kpath, &lp);
	if (rc == -ENOENT) {
		t->kind = D_ABSENT;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (!lp.disk[0]) {
		t->kind = D_PLAIN;
		t->p = lp;
		return 0;
	}
	if (!phys_ok(lp.disk))
		return -EIO; /* not a link we wrote */
	memcpy(t->phys, lp.disk, PHYS_MAX); /* phys_ok: exactly PHYS_MAX - 1 characters */
	snprintf(t->link_etag, sizeof(t->link_etag), "%s", lp.etag);
	snprintf(t->vetag, sizeof(t->vetag), "%s", lp.vetag);
	snprintf(t->ver, sizeof(t->ver), "%s", lp.ver);
	own = owner_of(key);
	if (!own)
		return -ENOMEM;
	rc = az_blob_path_raw(ab, t->phys, &ppath);
	if (rc == 0)
		rc = head_props(ab, ppath, &t->p);
	if (rc == 0)
		t->kind = t->p.is_page && strcmp(t->p.owner, own) == 0 ? D_LINK : D_STALE;
	else if (rc == -ENOENT)
		t->kind = D_STALE, rc = 0;
	free(ppath);
	free(own);
	return rc;
}

/* resolve() of key, its URL path made here: into *kpath (malloc'd) when
 * kpath is not NULL and all went well, else dropped. */
static int resolve_key(struct az_backend *ab, const char *key, struct az_target *t, char **kpath)
{
	char *p = NULL;
	int rc = az_blob_path(ab, key, &p);
	if (rc == 0)
		rc = resolve(ab, key, p, t);
	if (rc == 0 && kpath) {
		*kpath = p;
		p = NULL;
	}
	free(p);
	return rc;
}

/* The blob holding key's bytes: its name (the physical's, or key for a
 * plain blob) into *name and URL path into *path, both malloc'd (name may
 * be NULL), and what its HEAD said into *p (when not NULL).  -ENOENT when
 * key holds no disk. */
int az_disk_blob(struct az_backend *ab, const char *key, char **name, char **path, struct blob_props *p)
{
	struct az_target t;
	char *kpath = NULL;
	const char *n;
	int rc;

	if (name)
		*name = NULL;
	*path = NULL;
	rc = resolve_key(ab, key, &t, &kpath);
	if (rc < 0)
		goto out;
	if (t.kind != D_LINK && t.kind != D_PLAIN) {
		rc = -ENOENT;
		goto out;
	}
	n = t.kind == D_LINK ? t.phys : key;
	if (t.kind == D_LINK) {
		rc = az_blob_path_raw(ab, n, path);
	} else {
		*path = kpath;
		kpath = NULL;
	}
	if (rc == 0 && name && !(*name = strdup(n)))
		rc = -ENOMEM;
	if (rc == 0 && p)
		*p = t.p;
	if (rc < 0) {
		free(*path);
		*path = NULL;
	}
out:
	free(kpath);
	return rc;
}

/* The version token of a disk resolved as a link: "<id>:<ETag>" of its
 * physical blob, or the token the link's alias says that ETag stands for. */
static int link_version(const struct az_target *t, char ver[BACKEND_ETAG_MAX])
{
	char e[BACKEND_ETAG_MAX];
	int n;

	unquote(t->p.etag, e, sizeof(e));
	if (!e[0])
		return -EIO;
	if (t->vetag[0] && t->ver[0] && strcmp(t->vetag, e) == 0) {
		snprintf(ver, BACKEND_ETAG_MAX, "%s", t->ver);
		return 0;
	}
	n = snprintf(ver, BACKEND_ETAG_MAX, "%s:%s", t->phys + strlen(PHYS_DIR), e);
	return n < 0 || n >= BACKEND_ETAG_MAX ? -EOPNOTSUPP : 0;
}

struct link_sent {
	const char *kpath, *phys, *vetag;
};

/* put_cond's landed for put_link: the link names our physical blob and
 * alias. */
static int link_landed(struct az_backend *ab, void *arg, char etag[BACKEND_ETAG_MAX])
{
	struct link_sent *w = arg;
	struct blob_props p;

	if (head_props(ab, w->kpath, &p) != 0 || strcmp(p.disk, w->phys) != 0 ||
	    strcmp(p.vetag, w->vetag ? w->vetag : "") != 0)
		return 0;
	if (etag)
		snprintf(etag, BACKEND_ETAG_MAX, "%s", p.etag);
	return 1;
}

/* Write the link at kpath naming phys (with the version alias vetag -> ver
 * when vetag is set): if_match "" only when nothing is there (-EEXIST),
 * else only over that etag (-ESTALE).  The link's new etag into etag. */
static int put_link(struct az_backend *ab, const char *kpath, const char *phys, const char *vetag, const char *ver,
		    const char *if_match, char etag[BACKEND_ETAG_MAX])
{
	struct az_req r = {.verb = "PUT", .path = kpath};
	struct link_sent w = {.kpath = kpath, .phys = phys, .vetag = vetag};
	int rc;

	az_req_hdr(&r, M_DISK, phys);
	if (vetag && *vetag) {
		az_req_hdr(&r, M_VETAG, vetag);
		az_req_hdr(&r, M_VER, ver);
	}
	rc = az_put_cond(ab, &r, if_match, etag, link_landed, &w);
	az_req_free(&r);
	return rc;
}

/* DELETE a blob only while its etag is if_match: 0, -ENOENT, -ESTALE... */
static int delete_if(struct az_backend *ab, const char *path, const char *if_match)
{
	struct az_req r = {.verb = "DELETE", .path = path};
	int rc;

	az_req_hdr(&r, "If-Match", if_match);
	rc = az_perform(ab, &r);
	if (rc == 0) {
		if (r.status == 202)
			rc = 0;
		else if (r.status == 404)
			rc = r.tries > 1 ? 0 : -ENOENT;
		else if (r.status == 412)
			rc = -ESTALE;
		else
			rc = az_status_errno(&r);
	}
	az_req_free(&r);
	return rc;
}

/* Make key's link name phys, if key holds no disk: over nothing, or over a
 * stale link.  -EEXIST when key holds a disk (or a record).  The new link's
 * etag into etag. */
static int claim_key(struct az_backend *ab, const char *key, const char *kpath, const char *phys,
		     char etag[BACKEND_ETAG_MAX])
{
	struct az_target t;
	int rc = -EEXIST;

	for (int i = 0; i < 3; i++) {
		rc = put_link(ab, kpath, phys, NULL, NULL, "", etag);
		if (rc != -EEXIST)
			return rc;
		rc = resolve(ab, key, kpath, &t);
		if (rc < 0)
			return rc;
		if (t.kind == D_PLAIN || t.kind == D_LINK)
			return -EEXIST;
		if (t.kind == D_STALE) {
			rc = put_link(ab, kpath, phys, NULL, NULL, t.link_etag, etag);
			if (rc != -ESTALE)
				return rc;
		}
		rc = -EEXIST; /* it changed under us: look again */
	}
	return rc;
}

/* Create the physical page blob at ppath, owned by own. */
static int create_phys(struct az_backend *ab, const char *ppath, uint64_t size, const char *own)
{
	struct az_req r = {.verb = "PUT", .path = ppath};
	char len[32];
	int rc;

	snprintf(len, sizeof(len), "%llu", (unsigned long long)size);
	az_req_hdr(&r, "x-ms-blob-type", "PageBlob");
	az_req_hdr(&r, "x-ms-blob-content-length", len);
	az_req_hdr(&r, M_OWNER, own);
	az_req_hdr(&r, "If-None-Match", "*");
	rc = az_perform(ab, &r);
	if (rc == 0 && r.status != 201) {
		if (r.status == 409 || r.status == 412) {
			struct blob_props p;
			/* Our own earlier try may have created it. */
			rc = -EEXIST;
			if (r.tries > 1 && head_props(ab, ppath, &p) == 0 && p.is_page && p.size == size &&
			    strcmp(p.owner, own) == 0)
				rc = 0;
		} else {
			rc = az_status_errno(&r);
		}
	}
	az_req_free(&r);
	return rc;
}

int az_disk_create(struct backend *be, const char *key, uint64_t size)
{
	struct az_backend *ab = AB(be);
	char phys[PHYS_MAX], letag[BACKEND_ETAG_MAX] = "", *kpath = NULL, *ppath = NULL, *own = NULL;
	int rc;

	if (size % SECTOR)
		return -EINVAL;
	rc = az_blob_path(ab, key, &kpath);
	if (rc == 0)
		rc = new_phys(phys);
	if (rc == 0)
		rc = az_blob_path_raw(ab, phys, &ppath);
	if (rc == 0 && !(own = owner_of(key)))
		rc = -ENOMEM;
	if (rc < 0)
		goto out;
	/* The link first: it is stale (no disk) until the physical exists, so
	 * a crash in between leaves no orphan physical blob. */
	rc = claim_key(ab, key, kpath, phys, letag);
	if (rc < 0)
		goto out;
	rc = create_phys(ab, ppath, size + VHD_FOOTER_SIZE, own);
	if (rc == 0) { /* a fixed VHD: the footer after the disk's bytes */
		struct az_disk pd = {.ab = ab, .path = ppath, .is_page = 1};
		uint8_t f[VHD_FOOTER_SIZE];
		rc = vhd_footer_build(f, size, time(NULL), NULL);
		if (rc == 0)
			rc = az_put_pages(&pd, (const char *)f, size, VHD_FOOTER_SIZE);
		if (rc < 0 && rc != -EHOSTUNREACH)
			(void)az_delete_blob(ab, ppath);
	}
	/* Unless the answer was lost (the disk may exist), take the link back. */
	if (rc < 0 && rc != -EHOSTUNREACH)
		(void)delete_if(ab, kpath, letag);
out:
	free(kpath);
	free(ppath);
	free(own);
	return rc;
}

/* Remove a link (named by key, at kpath) and, first, its physical blob phys
 * when the link owns it: a stale link never takes another disk's bytes. */
static int drop_link(struct az_backend *ab, const char *key, const char *kpath, const char *phys,
		     const char *link_etag)
{
	struct blob_props p;
	char *ppath = NULL, *own = NULL;
	int rc = 0;

	if (phys_ok(phys)) {
		own = owner_of(key);
		rc = own ? az_blob_path_raw(ab, phys, &ppath) : -ENOMEM;
		if (rc == 0)
			rc = head_props(ab, ppath, &p);
		if (rc == 0 && strcmp(p.owner, own) == 0)
			rc = az_delete_blob_snaps(ab, ppath, 1);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0)
		rc = link_etag ? delete_if(ab, kpath, link_etag) : az_delete_blob(ab, kpath);
	if (rc == -ENOENT || rc == -ESTALE) /* gone, or rewritten meanwhile: not ours */
		rc = 0;
	free(ppath);
	free(own);
	return rc;
}

int az_disk_delete(struct backend *be, const char *key)
{
	struct az_backend *ab = AB(be);
	struct az_target t;
	char *kpath = NULL;
	int rc = resolve_key(ab, key, &t, &kpath);

	if (rc < 0)
		goto out;
	switch (t.kind) {
	case D_PLAIN:
		rc = az_delete_blob_snaps(ab, kpath, 1);
		break;
	case D_LINK:
		rc = drop_link(ab, key, kpath, t.phys, t.link_etag);
		break;
	case D_STALE: /* no disk; its link goes (drop_link keeps a physical it does not own) */
		rc = drop_link(ab, key, kpath, t.phys, t.link_etag);
		rc = rc < 0 ? rc : -ENOENT;
		break;
	default:
		rc = -ENOENT;
	}
out:
	free(kpath);
	return rc;
}

int az_disk_exists(struct backend *be, const char *key)
{
	struct az_target t;
	int rc = resolve_key(AB(be), key, &t, NULL);
	if (rc < 0)
		return rc;
	return t.kind == D_PLAIN || t.kind == D_LINK;
}

int az_disk_version(struct backend *be, const char *key, char ver[BACKEND_ETAG_MAX])
{
	struct az_target t;
	int rc = resolve_key(AB(be), key, &t, NULL);
	if (rc < 0)
		return rc;
	if (t.kind == D_LINK)
		return link_version(&t, ver);
	/* A plain page blob's rename is a copy, which cannot keep its ETag. */
	return t.kind == D_PLAIN ? -EOPNOTSUPP : -ENOENT;
}

static int count_snap(void *arg, const char *snap)
{
	(void)snap;
	++*(int *)arg;
	return 0;
}

/* Rename a plain blob (made before links) the old way: Copy Blob to dst,
 * then Delete of src. */
static int copy_rename(struct az_backend *ab, const char *src, const char *dst)
{
	char status[64] = "";
	struct az_buf url = {0};
	struct az_req r = {.verb = "PUT"};
	int rc;

	az_buf_add(&url, ab->origin);
	az_buf_add(&url, src);
	if (url.err) {
		rc = url.err;
		goto out;
	}
	r.path = dst;
	az_req_hdr(&r, "x-ms-copy-source", url.p);
	az_req_hdr(&r, "If-None-Match", "*");
	rc = az_perform(ab, &r);
	if (rc < 0)
		goto out;
	if ((r.status == 409 || r.status == 412) && r.tries > 1) {
		/* Our own earlier try may have started this copy: then the target
		 * names our source as its copy source. */
		struct az_req h = {.verb = "HEAD", .path = dst};
		char csrc[2048] = "";
		if (az_perform(ab, &h) == 0 && h.status == 200 &&
		    az_resp_hdr(&h, "x-ms-copy-source", csrc, sizeof(csrc)) && strcmp(csrc, url.p) == 0) {
			az_resp_hdr(&h, "x-ms-copy-status", status, sizeof(status));
			r.status = 202;
		}
		az_req_free(&h);
		if (r.status == 202)
			goto copying;
	}
	if (r.status == 409 || r.status == 412) {
		rc = -EEXIST;
		goto out;
	}
	if (r.status != 202 && r.status != 201) {
		rc = az_status_errno(&r);
		goto out;
	}
	az_resp_hdr(&r, "x-ms-copy-status", status, sizeof(status));
copying:
	/* Azure may copy asynchronously: wait until the copy has finished. */
	rc = az_copy_wait(ab, dst, status);
	if (rc == 0)
		rc = az_delete_blob(ab, src);
out:
	az_req_free(&r);
	az_buf_free(&url);
	return rc;
}

/* Hand the physical blob of f (the link from, owner fown) to town, on the
 * condition that it has not changed since f was read, so the token f had
 * still describes its bytes.  A write racing in makes us read it again.  On
 * success *tok is the token before and enew the blob's ETag after the
 * update; enew is "" when that pairing is unknown (our own retried request
 * had landed): then the rename does not keep the token, which is safe. */
static int move_owner(struct az_backend *ab, const char *ppath, struct az_target *f, const char *fown,
		      const char *town, char tok[BACKEND_ETAG_MAX], char enew[BACKEND_ETAG_MAX])
{
	int rc = -EBUSY;

	for (int i = 0; i < OWNER_TRIES; i++) {
		struct az_req r = {.verb = "PUT", .path = ppath, .query = "comp=metadata"};
		if (link_version(f, tok) < 0)
			tok[0] = '\0';
		az_req_hdr(&r, M_OWNER, town);
		az_req_hdr(&r, "If-Match", f->p.etag);
		rc = az_perform(ab, &r);
		if (rc == 0 && r.status == 200) {
			az_resp_hdr(&r, "ETag", enew, BACKEND_ETAG_MAX);
			az_req_free(&r);
			return 0;
		}
		if (rc == 0)
			rc = r.status == 412 ? -ESTALE : az_status_errno(&r);
		az_req_free(&r);
		if (rc != -ESTALE)
			return rc;
		rc = head_props(ab, ppath, &f->p);
		if (rc < 0)
			return rc;
		if (strcmp(f->p.owner, town) == 0) {
			enew[0] = '\0';
			return 0;
		}
		if (strcmp(f->p.owner, fown) != 0)
			return -ENOENT; /* renamed away by someone else */
		rc = -EBUSY;	    /* written meanwhile: again, with the new ETag */
	}
	return rc;
}

/*
 * Rename of a link: link `to` (stale until the next step), physical's owner
 * = to (the commit point: from here `to` is the disk and `from` a stale
 * link), `to`'s version alias, delete link `from`.  Every moment exactly one
 * of the two names is a disk.
 */
int az_disk_rename(struct backend *be, const char *from, const char *to)
{
	struct az_backend *ab = AB(be);
	struct az_target f, t;
	char lto[BACKEND_ETAG_MAX] = "", tok[BACKEND_ETAG_MAX] = "", enew[BACKEND_ETAG_MAX] = "";
	char ve[BACKEND_ETAG_MAX], *fpath = NULL, *tpath = NULL, *ppath = NULL, *fown = NULL, *town = NULL;
	int rc;

	rc = az_blob_path(ab, from, &fpath);
	if (rc == 0)
		rc = az_blob_path(ab, to, &tpath);
	if (rc == 0)
		rc = resolve(ab, from, fpath, &f);
	if (rc < 0)
		goto out;
	if (f.kind != D_PLAIN && f.kind != D_LINK) {
		rc = -ENOENT;
		goto out;
	}
	if (strcmp(from, to) == 0) {
		rc = -EEXIST;
		goto out;
	}
	if (f.kind == D_PLAIN) {
		/* Its copy could not take its snapshots along. */
		int nsnap = 0;
		rc = az_list_snaps(ab, from, count_snap, &nsnap);
		if (rc == 0 && nsnap > 0)
			rc = -EBUSY;
		if (rc == 0)
			rc = resolve(ab, to, tpath, &t);
		if (rc == 0 && (t.kind == D_PLAIN || t.kind == D_LINK))
			rc = -EEXIST;
		if (rc == 0 && t.kind == D_STALE)
			rc = drop_link(ab, to, tpath, t.phys, t.link_etag);
		if (rc == 0)
			rc = copy_rename(ab, fpath, tpath);
		goto out;
	}
	fown = owner_of(from);
	town = owner_of(to);
	rc = fown && town ? az_blob_path_raw(ab, f.phys, &ppath) : -ENOMEM;
	if (rc < 0)
		goto out;
	rc = claim_key(ab, to, tpath, f.phys, lto);
	if (rc < 0)
		goto out;
	rc = move_owner(ab, ppath, &f, fown, town, tok, enew);
	if (rc < 0) {
		/* Not moved (unless the answer was lost): take link `to` back. */
		if (rc != -EHOSTUNREACH)
			(void)delete_if(ab, tpath, lto);
		goto out;
	}
	/* Done: what follows only tidies up, and its failures are no error. */
	if (enew[0] && tok[0]) {
		unquote(enew, ve, sizeof(ve));
		(void)put_link(ab, tpath, f.phys, ve, tok, lto, NULL);
	}
	(void)delete_if(ab, fpath, f.link_etag);
out:
	free(fpath);
	free(tpath);
	free(ppath);
	free(fown);
	free(town);
	return rc;
}

static int get_range(struct az_disk *d, void *buf, uint64_t off, uint64_t n);

/* d->size is the blob's length: when the blob ends with the footer of a
 * fixed VHD of the bytes before it, leave it out (d->footer). */
int az_footer_probe(struct az_disk *d)
{
	uint8_t f[VHD_FOOTER_SIZE];
	uint64_t cur;
	int rc;

	d->footer = 0;
	if (!d->is_page || d->size < VHD_FOOTER_SIZE)
		return 0;
	rc = get_range(d, f, d->size - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE);
	if (rc < 0)
		return rc;
	if (vhd_footer_parse(f, &cur) == 0 && cur == d->size - VHD_FOOTER_SIZE) {
		d->footer = 1;
		d->size = cur;
		memcpy(d->vhd, f, sizeof(d->vhd));
	}
	return 0;
}

/* Make d (its path, is_page and size set, and a snapshot's queries) an
 * open handle of ab: ops, flags, locks, and the footer found or not.  On
 * failure d is closed. */
int az_disk_ready(struct az_disk *d, struct az_backend *ab, int flags, struct bdisk **out)
{
	int rc;

	d->base.ops = &azblob_backend_ops;
	d->ab = ab;
	d->flags = flags;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->rmw, NULL);
	rc = az_footer_probe(d);
	if (rc < 0) {
		az_disk_close(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
}

int az_disk_open(struct backend *be, const char *key, int flags, struct bdisk **out)
{
	struct az_backend *ab = AB(be);
	struct blob_props p;
	struct az_disk *d;
	char *path = NULL;
	int rc = az_disk_blob(ab, key, NULL, &path, &p); /* the handle keeps a link's physical blob */

	if (rc < 0)
		goto fail;
	if (!p.is_page && (flags & BDISK_RDWR)) {
		rc = -EINVAL; /* only page blobs can be written in place */
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		rc = -ENOMEM;
		goto fail;
	}
	d->path = path;
	d->is_page = p.is_page;
	d->size = p.size;
	return az_disk_ready(d, ab, flags, out);
fail:
	free(path);
	return rc;
}

struct name_list {
	char **v, **disk; /* disk[i]: the physical blob of a link, else NULL */
	size_t n, cap;
};

static int collect_name(void *arg, const char *name, int is_prefix, const char *disk, const char *snapshot)
{
	struct name_list *l = arg;
	(void)is_prefix;
	(void)snapshot;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof(*v)), **dv;
		if (!v)
			return -ENOMEM;
		l->v = v;
		dv = realloc(l->disk, cap * sizeof(*dv));
		if (!dv)
			return -ENOMEM;
		l->disk = dv;
		l->cap = cap;
	}
	l->v[l->n] = strdup(name);
	l->disk[l->n] = disk ? strdup(disk) : NULL;
	if (!l->v[l->n] || (disk && !l->disk[l->n])) {
		free(l->v[l->n]);
		free(l->disk[l->n]);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/* Every blob below prefix/ and one named prefix: a link with the physical
 * blob it owns (physical first, so a crash leaves a stale link, never an
 * orphan physical), anything else as it is. */
int az_remove_tree(struct backend *be, const char *prefix)
{
	struct az_backend *ab = AB(be);
	struct name_list l = {0};
	struct blob_props p;
	char pfx[BACKEND_KEY_MAX + 1], *marker = NULL, *path = NULL;
	int rc;

	if (!backend_key_ok(prefix))
		return -EINVAL;
	if (!*prefix)
		return -EINVAL; /* never the whole region */
	snprintf(pfx, sizeof(pfx), "%s/", prefix);
	do {
		rc = az_list_page(ab, pfx, 0, LIST_META, &marker, collect_name, &l);
	} while (rc == 0 && marker);
	free(marker);
	if (rc < 0)
		goto out;
	/* A blob named like the prefix itself. */
	rc = az_blob_path_raw(ab, prefix, &path);
	if (rc == 0)
		rc = head_props(ab, path, &p);
	free(path);
	path = NULL;
	if (rc == 0)
		rc = collect_name(&l, prefix, 0, p.disk[0] ? p.disk : NULL, NULL);
	else if (rc == -ENOENT)
		rc = 0;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		rc = az_blob_path_raw(ab, l.v[i], &path);
		if (rc == 0)
			rc = l.disk[i] ? drop_link(ab, l.v[i], path, l.disk[i], NULL) : az_delete_blob_snaps(ab, path, 1);
		if (rc == -ENOENT)
			rc = 0;
		free(path);
		path = NULL;
	}
out:
	for (size_t i = 0; i < l.n; i++) {
		free(l.v[i]);
		free(l.disk[i]);
	}
	free(l.v);
	free(l.disk);
	return rc;
}

void az_disk_close(struct bdisk *bd)
{
	struct az_disk *d = AD(bd);
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->rmw);
	free(d->path);
	free(d->snapq);
	free(d->pageq);
	free(d);
}

static uint64_t cached_size(struct az_disk *d)
{
	uint64_t s;
	pthread_mutex_lock(&d->lock);
	s = d->size;
	pthread_mutex_unlock(&d->lock);
	return s;
}

static void set_cached_size(struct az_disk *d, uint64_t s)
{
	pthread_mutex_lock(&d->lock);
	d->size = s;
	pthread_mutex_unlock(&d->lock);
}

int az_disk_size(struct bdisk *bd, uint64_t *size)
{
	struct az_disk *d = AD(bd);
	int rc;

	if (d->snapq) { /* a snapshot never changes */
		*size = cached_size(d);
		return 0;
	}
	rc = az_head_blob(d->ab, d->path, size, NULL);
	if (rc == 0 && d->footer)
		*size = *size >= VHD_FOOTER_SIZE ? *size - VHD_FOOTER_SIZE : 0;
	if (rc == 0)
		set_cached_size(d, *size);
	return rc;
}

/* Set the blob's length (Set Blob Properties). */
static int set_blob_length(struct az_disk *d, uint64_t blen)
{
	struct az_req r = {.verb = "PUT", .path = d->path, .query = "comp=properties"};
	char len[32];
	int rc;

	snprintf(len, sizeof(len), "%llu", (unsigned long long)blen);
	az_req_hdr(&r, "x-ms-blob-content-length", len);
	rc = az_perform_want(d->ab, &r, 200);
	az_req_free(&r);
	return rc;
}

int az_disk_truncate(struct bdisk *bd, uint64_t size)
{
	struct az_disk *d = AD(bd);
	uint8_t f[VHD_FOOTER_SIZE];
	uint64_t old;
	int rc;

	if (d->snapq)
		return -EROFS;
	if (!(d->flags & BDISK_RDWR))
		return -EBADF;
	if (size % SECTOR)
		return -EINVAL;
	if (!d->footer) {
		rc = set_blob_length(d, size);
		if (rc == 0)
			set_cached_size(d, size);
		return rc;
	}
	/* The footer moves to the new end (same disk id); where it was, a
	 * grown disk reads zeros. */
	rc = az_disk_size(bd, &old);
	if (rc == 0)
		rc = get_range(d, f, old, VHD_FOOTER_SIZE);
	if (rc < 0)
		return rc;
	vhd_footer_resize(f, size);
	rc = set_blob_length(d, size + VHD_FOOTER_SIZE);
	if (rc == 0)
		rc = az_put_pages(d, (const char *)f, size, VHD_FOOTER_SIZE);
	if (rc == 0 && size > old)
		rc = az_put_pages(d, NULL, old, VHD_FOOTER_SIZE);
	if (rc == 0) {
		pthread_mutex_lock(&d->lock);
		d->size = size;
		memcpy(d->vhd, f, sizeof(d->vhd));
		pthread_mutex_unlock(&d->lock);
	}
	return rc;
}

static void range_hdr(char *buf, size_t len, uint64_t off, uint64_t n)
{
	snprintf(buf, len, "bytes=%llu-%llu", (unsigned long long)off, (unsigned long long)(off + n - 1));
}

/* One piece of a disk transfer: a ranged GET into dst, or a Put Page of src
 * (an update, or a clear when src is NULL or all zeros). */
struct pjob {
	struct az_req r;
	char range[64];
	uint64_t off, len;
	char *dst;
	const char *src;
};

static int all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static void job_prepare(struct az_disk *d, struct pjob *j)
{
	memset(&j->r, 0, sizeof(j->r));
	j->r.path = d->path;
	range_hdr(j->range, sizeof(j->range), j->off, j->len);
	az_req_hdr(&j->r, "x-ms-range", j->range);
	if (j->dst) {
		j->r.verb = "GET";
		j->r.query = d->snapq;
		j->r.into = j->dst;
		j->r.into_cap = (size_t)j->len;
		return;
	}
	j->r.verb = "PUT";
	j->r.query = "comp=page";
	if (!j->src || all_zero(j->src, (size_t)j->len)) {
		az_req_hdr(&j->r, "x-ms-page-write", "clear");
	} else {
		az_req_hdr(&j->r, "x-ms-page-write", "update");
		j->r.body = j->src;
		j->r.body_len = (size_t)j->len;
	}
}

/* The outcome of a finished job. */
static int job_result(struct pjob *j)
{
	if (j->dst) {
		if (j->r.status == 416)
			return 0; /* past the end (Azure); Azurite answers 206 with no bytes */
		if (j->r.status != 206 && j->r.status != 200)
			return az_status_errno(&j->r);
		return j->r.got == j->len ? 0 : -EIO;
	}
	if (j->r.status == 201)
		return 0;
	return j->r.status == 416 ? -ENOSPC : az_status_errno(&j->r);
}

/* Run one job with az_perform's retries. */
static int job_run(struct az_disk *d, struct pjob *j)
{
	int rc;
	job_prepare(d, j);
	rc = az_perform(d->ab, &j->r);
	if (rc == 0)
		rc = job_result(j);
	az_req_free(&j->r);
	return rc;
}

static int get_range(struct az_disk *d, void *buf, uint64_t off, uint64_t n)
{
	struct pjob j = {.off = off, .len = n, .dst = buf};
	return job_run(d, &j);
}

int az_put_pages(struct az_disk *d, const char *data, uint64_t off, uint64_t n)
{
	struct pjob j = {.off = off, .len = n, .src = data};
	return job_run(d, &j);
}

/* Run n jobs with up to INFLIGHT of them in flight on a curl multi
 * handle; a job whose try fails is run again alone, with retries. */
static int run_jobs(struct az_disk *d, struct pjob *jobs, size_t n)
{
	CURL *hs[INFLIGHT] = {0};
	struct pjob *busy[INFLIGHT] = {0};
	size_t next = 0;
	int active = 0, rc = 0;
	CURLM *m;

	if (n == 1)
		return job_run(d, &jobs[0]);
	m = curl_multi_init();
	if (!m)
		return -ENOMEM;
	while ((next < n && rc == 0) || active > 0) {
		CURLMsg *msg;
		int running = 0, left;

		for (int i = 0; i < INFLIGHT && next < n && rc == 0; i++) {
			struct pjob *j = &jobs[next];
			if (busy[i])
				continue;
			if (!hs[i])
				hs[i] = az_pool_get(d->ab);
			if (!hs[i]) {
				rc = -ENOMEM;
				break;
			}
			job_prepare(d, j);
			rc = az_req_setup(d->ab, hs[i], &j->r);
			if (rc == 0) {
				curl_easy_setopt(hs[i], CURLOPT_PRIVATE, (char *)(intptr_t)i);
				if (curl_multi_add_handle(m, hs[i]) != CURLM_OK)
					rc = -ENOMEM;
			}
			if (rc < 0) {
				az_req_free(&j->r);
				break;
			}
			busy[i] = j;
			active++;
			next++;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK && rc == 0)
			rc = -EIO;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			char *priv = NULL;
			struct pjob *j;
			int i, jrc;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			i = (int)(intptr_t)priv;
			j = busy[i];
			curl_multi_remove_handle(m, hs[i]);
			curl_easy_getinfo(hs[i], CURLINFO_RESPONSE_CODE, &j->r.status);
			az_req_trace(&j->r, msg->data.result);
			jrc = msg->data.result == CURLE_OK && !az_retryable_status(j->r.status) ? job_result(j) : -EAGAIN;
			if (msg->data.result != CURLE_OK) {
				curl_easy_cleanup(hs[i]); /* its connection is suspect */
				hs[i] = NULL;
			}
			az_req_free(&j->r);
			if (jrc == -EAGAIN && rc == 0) /* the slow path, with retries */
				jrc = job_run(d, j);
			if (jrc < 0 && rc == 0)
				rc = jrc;
			busy[i] = NULL;
			active--;
		}
		if (active > 0 && running > 0)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	for (int i = 0; i < INFLIGHT; i++)
		if (hs[i])
			az_pool_put(d->ab, hs[i]);
	curl_multi_cleanup(m);
	return rc;
}

/* Split [off, off+len) of buf into jobs of at most `piece` bytes and run them. */
static int transfer(struct az_disk *d, char *dst, const char *src, uint64_t off, uint64_t len, uint64_t piece)
{
	size_t n = (size_t)((len + piece - 1) / piece);
	struct pjob *jobs;
	int rc;

	if (n == 0)
		return 0;
	jobs = calloc(n, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t p = (uint64_t)i * piece;
		jobs[i].off = off + p;
		jobs[i].len = len - p < piece ? len - p : piece;
		jobs[i].dst = dst ? dst + p : NULL;
		jobs[i].src = src ? src + p : NULL;
	}
	rc = run_jobs(d, jobs, n);
	free(jobs);
	return rc;
}

ssize_t az_disk_pread(struct bdisk *bd, void *buf, size_t len, uint64_t off)
{
	struct az_disk *d = AD(bd);
	uint64_t size = cached_size(d);
	int rc;

	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	rc = transfer(d, buf, NULL, off, len, READ_PIECE);
	return rc < 0 ? rc : (ssize_t)len;
}

/* Write [uoff, uoff+ulen) of one sector `sec` (read-modify-write). */
static int rmw_sector(struct az_disk *d, uint64_t sec, const char *src, uint64_t uoff, uint64_t ulen)
{
	char tmp[SECTOR];
	int rc;
	pthread_mutex_lock(&d->rmw);
	rc = get_range(d, tmp, sec, SECTOR);
	if (rc == 0) {
		memcpy(tmp + (uoff - sec), src, (size_t)ulen);
		rc = az_put_pages(d, tmp, sec, SECTOR);
	}
	pthread_mutex_unlock(&d->rmw);
	return rc;
}

ssize_t az_disk_pwrite(struct bdisk *bd, const void *buf, size_t len, uint64_t off)
{
	struct az_disk *d = AD(bd);
	const char *src = buf;
	uint64_t end = off + len, size, ma, mb;
	int rc = 0;

	if (d->snapq)
		return -EROFS;
	if (!(d->flags & BDISK_RDWR))
		return -EBADF;
	if (len == 0)
		return 0;
	size = cached_size(d);
	if (end < off || end > size) {
		/* Maybe it grew behind this handle's back. */
		rc = az_disk_size(bd, &size);
		if (rc < 0)
			return rc;
		if (end < off || end > size)
			return -ENOSPC; /* a page blob has a fixed size: truncate first */
	}
	ma = (off + SECTOR - 1) & ~(SECTOR - 1); /* the aligned middle [ma, mb) */
	mb = end & ~(SECTOR - 1);
	if (off % SECTOR) { /* the partial first sector (maybe the only one) */
		uint64_t sec = off & ~(SECTOR - 1), to = end < sec + SECTOR ? end : sec + SECTOR;
		rc = rmw_sector(d, sec, src, off, to - off);
	}
	if (rc == 0 && end % SECTOR && mb >= ma) /* a partial last sector of its own */
		rc = rmw_sector(d, mb, src + (mb - off), mb, end - mb);
	if (rc == 0 && ma < mb)
		rc = transfer(d, NULL, src + (ma - off), ma, mb - ma, MAX_PUT_PAGE);
	return rc < 0 ? rc : (ssize_t)len;
}

int az_disk_zero(struct bdisk *bd, uint64_t off, uint64_t len)
{
	struct az_disk *d = AD(bd);
	static const char zeros[SECTOR];
	uint64_t size, a, b, end;
	int rc;

	if (d->snapq)
		return -EROFS;
	if (!(d->flags & BDISK_RDWR))
		return -EBADF;
	rc = az_disk_size(bd, &size);
	if (rc < 0)
		return rc;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = size - off;
	end = off + len;
	a = (off + SECTOR - 1) & ~(SECTOR - 1);
	b = end & ~(SECTOR - 1);
	if (a >= b) { /* within one or two partial sectors */
		while (off < end && rc == 0) {
			uint64_t n = end - off < SECTOR ? end - off : SECTOR;
			ssize_t w = az_disk_pwrite(bd, zeros, (size_t)n, off);
			rc = w < 0 ? (int)w : 0;
			off += n;
		}
		return rc;
	}
	if (off < a) {
		ssize_t w = az_disk_pwrite(bd, zeros, (size_t)(a - off), off);
		if (w < 0)
			return (int)w;
	}
	if (end > b) {
		ssize_t w = az_disk_pwrite(bd, zeros, (size_t)(end - b), b);
		if (w < 0)
			return (int)w;
	}
	for (uint64_t p = a; p < b && rc == 0; p += CLEAR_PIECE)
		rc = az_put_pages(d, NULL, p, b - p < CLEAR_PIECE ? b - p : CLEAR_PIECE);
	return rc;
}

struct prange {
	uint64_t s, e; /* [s, e) */
};

static int prange_cmp(const void *x, const void *y)
{
	const struct prange *a = x, *b = y;
	return a->s < b->s ? -1 : a->s > b->s;
}

/* Get Page Ranges' answer, gathered: the ranges within [from, to). */
struct pranges {
	uint64_t from, to;
	struct prange *v;
	size_t n, cap;
};

static int prange_add(void *arg, uint64_t first, uint64_t last)
{
	struct pranges *l = arg;
	struct prange pr = {.s = first, .e = last == UINT64_MAX ? last : last + 1};
	if (pr.s < l->from)
		pr.s = l->from;
	if (pr.e > l->to)
		pr.e = l->to;
	if (pr.e <= pr.s)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct prange *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = pr;
	return 0;
}

/* Get Page Ranges for [from, to): the first allocated extent, merged with
 * its neighbours; 1 when found, 0 when the window holds none. */
static int first_pages(struct az_disk *d, uint64_t from, uint64_t to, uint64_t off, uint64_t *start,
		       uint64_t *end)
{
	struct az_req r = {.verb = "GET", .path = d->path, .query = d->pageq ? d->pageq : "comp=pagelist"};
	struct pranges l = {.from = from, .to = to};
	struct prange *v;
	size_t n;
	char range[64];
	int rc, found = 0;

	range_hdr(range, sizeof(range), from, to - from);
	az_req_hdr(&r, "x-ms-range", range);
	rc = az_perform_want(d->ab, &r, 200);
	if (rc < 0)
		goto out;
	rc = az_xml_page_ranges(r.resp.p, r.resp.len, prange_add, &l);
	if (rc < 0)
		goto out;
	v = l.v;
	n = l.n;
	if (n > 1)
		qsort(v, n, sizeof(*v), prange_cmp);
	for (size_t i = 0; i < n; i++) {
		uint64_t s = v[i].s, e = v[i].e;
		while (i + 1 < n && v[i + 1].s <= e) { /* Azurite leaves neighbours unmerged */
			if (v[i + 1].e > e)
				e = v[i + 1].e;
			i++;
		}
		if (e > off) {
			*start = s > off ? s : off;
			*end = e;
			found = 1;
			break;
		}
	}
	rc = found;
out:
	free(l.v);
	az_req_free(&r);
	return rc;
}

int az_disk_next_data(struct bdisk *bd, uint64_t off, uint64_t *start, uint64_t *end)
{
	struct az_disk *d = AD(bd);
	uint64_t size, from, window = PAGELIST_WINDOW;
	int rc = az_disk_size(bd, &size);

	if (rc < 0)
		return rc;
	if (off >= size)
		return -ENXIO;
	if (!d->is_page) {
		*start = off;
		*end = size;
		return 0;
	}
	/* Look in growing windows, so an empty tail of a huge disk is cheap and
	 * a fragmented head never makes one enormous answer. */
	for (from = off & ~(SECTOR - 1); from < size; from += window, window *= 2) {
		uint64_t to = size - from < window ? size : from + window;
		rc = first_pages(d, from, to, off, start, end);
		if (rc > 0 && *start >= size)
			return -ENXIO; /* only the footer */
		if (rc > 0 && *end > size)
			*end = size;
		if (rc != 0)
			return rc < 0 ? rc : 0;
		if (window >= (1ULL << 40))
			window = 1ULL << 39; /* stays bounded */
	}
	return -ENXIO;
}

int az_disk_footer(struct bdisk *bd, uint8_t f[VHD_FOOTER_SIZE])
{
	struct az_disk *d = AD(bd);
	if (!d->footer)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	memcpy(f, d->vhd, VHD_FOOTER_SIZE);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int az_disk_sync(struct bdisk *bd)
{
	(void)bd; /* each Put Page is durable when it returns */
	return 0;
}

/*
 * A disk's snapshots are Snapshot Blobs of the blob that holds its bytes:
 * a link's physical blob (so a rename, which keeps the physical, keeps
 * them), or a plain page blob itself.  The id is the x-ms-snapshot time;
 * a snapshot is addressed as that blob's URL with ?snapshot=<id>.
 */

/* "<prefix>snapshot=<id, encoded>" (malloc'd), or NULL when out of memory. */
static char *snap_query(const char *prefix, const char *snap)
{
	struct az_buf q = {0};

	az_buf_add(&q, prefix);
	az_buf_add(&q, "snapshot=");
	az_buf_add_enc(&q, snap, 0);
	if (q.err) {
		az_buf_free(&q);
		return NULL;
	}
	return q.p;
}

struct snaps_ctx {
	const char *name;
	int (*cb)(void *, const char *);
	void *arg;
};

static int snap_entry(void *arg, const char *name, int is_prefix, const char *disk, const char *snapshot)
{
	struct snaps_ctx *c = arg;
	(void)is_prefix;
	(void)disk;
	if (!snapshot || !*snapshot || strcmp(name, c->name) != 0)
		return 0; /* the base blob itself, or another blob with this prefix */
	return c->cb(c->arg, snapshot) ? 1 : 0;
}

/* Call cb(arg, id) for each snapshot of blob `name` (List Blobs with
 * include=snapshots, its name as the prefix); non-zero from cb stops. */
int az_list_snaps(struct az_backend *ab, const char *name, int (*cb)(void *, const char *), void *arg)
{
	struct snaps_ctx c = {.name = name, .cb = cb, .arg = arg};
	char *marker = NULL;
	int rc;

	do
		rc = az_list_page(ab, name, 0, LIST_SNAPS, &marker, snap_entry, &c);
	while (rc == 0 && marker);
	free(marker);
	return rc < 0 ? rc : 0;
}

int az_disk_snapshot(struct backend *be, const char *key, char snap[BACKEND_SNAP_MAX])
{
	struct az_backend *ab = AB(be);
	struct az_req r = {.verb = "PUT", .query = "comp=snapshot"};
	char *path = NULL;
	int rc = az_disk_blob(ab, key, NULL, &path, NULL);

	if (rc < 0)
		return rc;
	r.path = path;
	rc = az_perform_want(ab, &r, 201);
	/* A try whose answer was lost made a snapshot nobody names: garbage,
	 * which the recovery-point chain collects when it opens. */
	if (rc == 0 && (!az_resp_hdr(&r, "x-ms-snapshot", snap, BACKEND_SNAP_MAX) || !snap[0] ||
			strlen(snap) >= BACKEND_SNAP_MAX - 1))
		rc = -EIO;
	az_req_free(&r);
	free(path);
	return rc;
}

int az_disk_snapshot_delete(struct backend *be, const char *key, const char *snap)
{
	struct az_backend *ab = AB(be);
	struct az_req r = {.verb = "DELETE"};
	char *path = NULL, *q = NULL;
	int rc;

	if (!snap || !*snap)
		return -EINVAL;
	rc = az_disk_blob(ab, key, NULL, &path, NULL);
	if (rc == 0 && !(q = snap_query("", snap)))
		rc = -ENOMEM;
	if (rc < 0)
		goto out;
	r.path = path;
	r.query = q;
	rc = az_perform(ab, &r);
	if (rc == 0 && r.status == 404)
		rc = r.tries > 1 ? 0 : -ENOENT; /* a lost answer to our delete */
	else if (rc == 0 && r.status != 202)
		rc = az_status_errno(&r);
	az_req_free(&r);
out:
	free(q);
	free(path);
	return rc;
}

int az_disk_snapshot_list(struct backend *be, const char *key, int (*cb)(void *arg, const char *snap),
			  void *arg)
{
	struct az_backend *ab = AB(be);
	char *name = NULL, *path = NULL;
	int rc = az_disk_blob(ab, key, &name, &path, NULL);

	if (rc == 0)
		rc = az_list_snaps(ab, name, cb, arg);
	free(name);
	free(path);
	return rc;
}

int az_disk_open_snapshot(struct backend *be, const char *key, const char *snap, struct bdisk **out)
{
	struct az_backend *ab = AB(be);
	struct az_req r = {.verb = "HEAD"};
	struct az_disk *d;
	char v[64];
	int rc;

	if (!snap || !*snap)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* The handle keeps the physical blob, so it survives a rename. */
	rc = az_disk_blob(ab, key, NULL, &d->path, NULL);
	if (rc == 0 && (!(d->snapq = snap_query("", snap)) || !(d->pageq = snap_query("comp=pagelist&", snap))))
		rc = -ENOMEM;
	if (rc < 0)
		goto fail;
	r.path = d->path;
	r.query = d->snapq;
	rc = az_perform_want(ab, &r, 200);
	if (rc == 0) {
		az_resp_hdr(&r, "Content-Length", v, sizeof(v));
		d->size = strtoull(v, NULL, 10);
		az_resp_hdr(&r, "x-ms-blob-type", v, sizeof(v));
		d->is_page = strcmp(v, "PageBlob") == 0;
	}
	az_req_free(&r);
	if (rc < 0)
		goto fail;
	return az_disk_ready(d, ab, BDISK_RDONLY, out);
fail:
	free(d->path);
	free(d->snapq);
	free(d->pageq);
	free(d);
	return rc;
}

/* Add every x-ms-meta-* header of response h to request r as its own
 * (the values point into h, cut in place); how many, or -E2BIG when r has
 * no room for them all. */
static int copy_meta(struct az_req *h, struct az_req *r)
{
	char *p = h->hdrs.p;
	int n = 0;

	while (p && *p) {
		char *eol = strchr(p, '\n'), *colon, *v, *e;
		if (eol)
			*eol = '\0';
		colon = strchr(p, ':');
		if (strncasecmp(p, "x-ms-meta-", 10) == 0 && colon) {
			*colon = '\0';
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			e = v + strlen(v);
			while (e > v && (e[-1] == '\r' || e[-1] == ' '))
				*--e = '\0';
			if (r->nh >= MAX_HDRS)
				return -E2BIG;
			az_req_hdr(r, p, v);
			n++;
		}
		p = eol ? eol + 1 : NULL;
	}
	return n;
}

/* Wait until the copy onto the blob at path has ended; status is the
 * x-ms-copy-status we have so far.  0 when it succeeded. */
int az_copy_wait(struct az_backend *ab, const char *path, char status[64])
{
	int rc = 0;

	for (int polls = 0; strcmp(status, "pending") == 0; polls++) {
		struct timespec ts = {0, 200 * 1000000L};
		struct az_req h = {.verb = "HEAD", .path = path};
		if (polls > 5 * 3600)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		rc = az_perform_want(ab, &h, 200);
		if (rc == 0)
			az_resp_hdr(&h, "x-ms-copy-status", status, 64);
		az_req_free(&h);
		if (rc < 0)
			return rc;
	}
	return *status && strcmp(status, "success") != 0 ? -EIO : 0;
}

/* One Copy Blob of url onto the blob at path, keeping the blob's own
 * metadata (a physical blob's owner): Copy Blob would give it the
 * source's, unless the request names metadata.  The destination must
 * still be as we read it (If-Match), so an owner moved meanwhile is never
 * written back.  1 when it changed under us (try again). */
static int copy_keep_meta(struct az_backend *ab, const char *path, const char *url)
{
	struct az_req h = {.verb = "HEAD", .path = path};
	struct az_req r = {.verb = "PUT", .path = path};
	char etag[BACKEND_ETAG_MAX] = "", status[64] = "", csrc[2048] = "";
	int rc, nmeta;

	rc = az_perform_want(ab, &h, 200);
	if (rc < 0)
		goto out;
	az_resp_hdr(&h, "ETag", etag, sizeof(etag));
	az_req_hdr(&r, "x-ms-copy-source", url);
	az_req_hdr(&r, "If-Match", etag);
	rc = nmeta = copy_meta(&h, &r); /* cuts h's header lines: read them first */
	if (rc < 0)
		goto out;
	rc = az_perform(ab, &r);
	if (rc < 0)
		goto out;
	if (r.status == 412 || r.status == 409) {
		/* Our own earlier try may have landed (or be copying): then the
		 * blob names our source as its copy source. */
		struct az_req c = {.verb = "HEAD", .path = path};
		rc = 1;
		if (az_perform(ab, &c) == 0 && c.status == 200 &&
		    az_resp_hdr(&c, "x-ms-copy-source", csrc, sizeof(csrc)) && strcmp(csrc, url) == 0 &&
		    az_resp_hdr(&c, "x-ms-copy-status", status, sizeof(status)) && strcmp(status, "pending") == 0)
			rc = 0;
		az_req_free(&c);
		if (rc == 1)
			goto out;
	} else if (r.status != 202 && r.status != 201) {
		rc = az_status_errno(&r);
		goto out;
	} else {
		az_resp_hdr(&r, "x-ms-copy-status", status, sizeof(status));
	}
	rc = az_copy_wait(ab, path, status);
	if (rc == 0 && nmeta == 0) {
		/* It had none, and now has the source's: clear them. */
		struct az_req m = {.verb = "PUT", .path = path, .query = "comp=metadata"};
		rc = az_perform_want(ab, &m, 200);
		az_req_free(&m);
	}
out:
	az_req_free(&r);
	az_req_free(&h);
	return rc;
}

/* Copy Blob of key's snapshot onto dst's blob (the physical blob the
 * handle keeps), polled until it ends.  The copy changes dst's ETag, so
 * its disk_version changes too (a rename's alias names the old ETag). */
int az_disk_copy_snapshot(struct bdisk *dst, struct backend *be, const char *key, const char *snap)
{
	struct az_backend *ab = AB(be);
	struct az_disk *d = AD(dst);
	struct az_buf url = {0};
	char *src = NULL;
	uint64_t size;
	int rc;

	if (dst->ops != &azblob_backend_ops || strcmp(d->ab->origin, ab->origin) != 0 ||
	    strcmp(d->ab->base_path, ab->base_path) != 0 || strcmp(d->ab->account, ab->account) != 0)
		return -EXDEV; /* Copy Blob here takes a source in the same account */
	if (d->snapq)
		return -EROFS;
	if (!(d->flags & BDISK_RDWR) || !d->is_page)
		return -EBADF;
	if (!snap || !*snap)
		return -EINVAL;
	rc = az_disk_blob(ab, key, NULL, &src, NULL);
	if (rc < 0)
		return rc;
	az_buf_add(&url, ab->origin);
	az_buf_add(&url, src);
	az_buf_add(&url, "?snapshot=");
	az_buf_add_enc(&url, snap, 0);
	rc = url.err;
	for (int i = 0; rc == 0 && i < OWNER_TRIES; i++) {
		rc = copy_keep_meta(d->ab, d->path, url.p);
		if (rc == 1)
			rc = i + 1 < OWNER_TRIES ? 0 : -EBUSY;
		else
			break;
	}
	if (rc == 0) /* the copy gave dst the snapshot's size and footer */
		rc = az_head_blob(d->ab, d->path, &size, NULL);
	if (rc == 0) {
		pthread_mutex_lock(&d->lock);
		d->size = size;
		rc = az_footer_probe(d);
		pthread_mutex_unlock(&d->lock);
	}
	az_buf_free(&url);
	free(src);
	return rc;
}

const struct backend_ops azblob_backend_ops = {
	.kind = "azblob",
	.flags = BACKEND_REMOTE | BACKEND_LEASE_EXPIRES,
	.open = az_open,
	.close = az_close,
	.probe = az_probe,
	.describe = az_describe,
	.init_region = az_init_region,
	.rec_get = az_rec_get,
	.rec_put = az_rec_put,
	.rec_del = az_rec_del,
	.list = az_list,
	.remove_tree = az_remove_tree,
	.disk_create = az_disk_create,
	.disk_delete = az_disk_delete,
	.disk_rename = az_disk_rename,
	.disk_exists = az_disk_exists,
	.disk_open = az_disk_open,
	.disk_close = az_disk_close,
	.disk_size = az_disk_size,
	.disk_truncate = az_disk_truncate,
	.disk_pread = az_disk_pread,
	.disk_pwrite = az_disk_pwrite,
	.disk_zero = az_disk_zero,
	.disk_next_data = az_disk_next_data,
	.disk_sync = az_disk_sync,
	.disk_footer = az_disk_footer,
	.disk_version = az_disk_version,
	.disk_snapshot = az_disk_snapshot,
	.disk_snapshot_delete = az_disk_snapshot_delete,
	.disk_snapshot_list = az_disk_snapshot_list,
	.disk_open_snapshot = az_disk_open_snapshot,
	.disk_copy_snapshot = az_disk_copy_snapshot,
	.lease_acquire = az_lease_acquire,
	.lease_renew = az_lease_renew,
	.lease_release = az_lease_release,
};
