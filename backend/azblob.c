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
 *   disks    page blobs, reached through links (azblob_link.c); pwrite is Put
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
 *   azblob_link.c  disk links: create, delete, rename, exists, version, open
 *   azblob_page.c  an open disk: page I/O, size, next_data, the VHD footer
 *   azblob_buf.c, azblob_sign.c, azblob_xml.c  the buffer, SharedKey, the XML answers
 * and azblob_int.h what they share.
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
