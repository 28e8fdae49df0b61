/*
 * azblob_snap.c - recovery points of the azblob backend: blob snapshots of
 * a disk's blob (take, delete, list, open read-only) and Copy Blob of one
 * back onto a disk.  The blob is found through the disk's link
 * (azblob_link.c); a snapshot handle's reads are azblob_page.c's.
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
 */
#define _GNU_SOURCE
#include "azblob_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
