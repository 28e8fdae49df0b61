/*
 * azblob_rec.c - records and leases of the azblob backend: whole blobs read
 * and written (Get Blob, Put Blob under If-Match / If-None-Match, the ETag
 * as the record's etag), deleted (a lease on them broken first), listed
 * (List Blobs, one page at a time, for list(), remove_tree and snapshot
 * listings), and blob leases on a vault's key.  The region marker and disk
 * links are written with the same calls (azblob.c, azblob_link.c).
 *
 * A conditional write retried after an ambiguous failure re-reads the blob
 * to tell "our first try landed" from a real conflict (put_cond).  Lease
 * calls use the probe's short timeouts.
 */
#define _GNU_SOURCE
#include "azblob_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

struct az_lease {
	struct az_backend *ab;
	char *path;
	char id[64];
};

/* GET a whole blob by URL path; 0, -ENOENT, ... */
int az_get_blob(struct az_backend *ab, const char *path, int probe, char **data, size_t *len,
		char etag[BACKEND_ETAG_MAX], char *why, size_t whylen)
{
	struct az_req r = {.verb = "GET", .path = path, .probe = probe};
	int rc = az_perform(ab, &r);
	if (rc < 0) {
		if (why)
			snprintf(why, whylen, "%s", r.errbuf);
		goto out;
	}
	if (r.status != 200) {
		rc = az_status_errno(&r);
		goto out;
	}
	if (!r.resp.p) {
		az_buf_addn(&r.resp, "", 0);
		if (r.resp.err) {
			rc = r.resp.err;
			goto out;
		}
	}
	if (etag)
		az_resp_hdr(&r, "ETag", etag, BACKEND_ETAG_MAX);
	*data = r.resp.p;
	if (len)
		*len = r.resp.len;
	r.resp.p = NULL;
	rc = 0;
out:
	az_req_free(&r);
	return rc;
}

/* Send r, a Put Blob under if_match (as rec_put takes it: NULL, "" or an
 * ETag); the blob's new ETag into etag (when not NULL).  -EBUSY when a
 * lease holds the blob.  When the condition failed: -ESTALE (-EEXIST for
 * ""), unless r was retried and landed(ab, arg, etag) finds the blob as
 * our own earlier try, whose answer was lost, left it (then 0, the ETag
 * from landed).  The caller frees r. */
int az_put_cond(struct az_backend *ab, struct az_req *r, const char *if_match, char etag[BACKEND_ETAG_MAX],
		int (*landed)(struct az_backend *ab, void *arg, char etag[BACKEND_ETAG_MAX]), void *arg)
{
	int rc;

	az_req_hdr(r, "x-ms-blob-type", "BlockBlob");
	az_req_cond(r, if_match);
	rc = az_perform(ab, r);
	if (rc < 0)
		return rc;
	if (r->status == 201) {
		if (etag)
			az_resp_hdr(r, "ETag", etag, BACKEND_ETAG_MAX);
		return 0;
	}
	if (az_is_error_code(r, "LeaseIdMissing") || az_is_error_code(r, "LeaseIdMismatchWithBlobOperation"))
		return -EBUSY;
	if (if_match && (r->status == 409 || r->status == 412 || (*if_match && r->status == 404))) {
		if (r->tries > 1 && landed(ab, arg, etag))
			return 0;
		return *if_match ? -ESTALE : -EEXIST;
	}
	return az_status_errno(r);
}

struct body_sent {
	const char *path;
	const void *data;
	size_t len;
};

/* put_cond's landed for put_block_blob: the blob holds exactly our bytes. */
static int body_landed(struct az_backend *ab, void *arg, char etag[BACKEND_ETAG_MAX])
{
	struct body_sent *b = arg;
	char *cur = NULL, cur_etag[BACKEND_ETAG_MAX] = "";
	size_t cur_len = 0;
	int same = 0;

	if (az_get_blob(ab, b->path, 0, &cur, &cur_len, cur_etag, NULL, 0) == 0) {
		same = cur_len == b->len && memcmp(cur, b->data, b->len) == 0;
		if (same && etag)
			snprintf(etag, BACKEND_ETAG_MAX, "%s", cur_etag);
		free(cur);
	}
	return same;
}

/* PUT a block blob, optionally conditional (see rec_put). */
int az_put_block_blob(struct az_backend *ab, const char *path, const void *data, size_t len,
		      const char *if_match, char etag[BACKEND_ETAG_MAX])
{
	struct az_req r = {.verb = "PUT", .path = path, .body = data, .body_len = len};
	struct body_sent b = {.path = path, .data = data, .len = len};
	size_t pl = strlen(path);
	int rc;

	/* Records are JSON ("....json"); anything else (block maps, the
	 * marker, links) is bytes. */
	r.ctype = pl > 5 && strcmp(path + pl - 5, ".json") == 0 ? "application/json" : "application/octet-stream";
	rc = az_put_cond(ab, &r, if_match, etag, body_landed, &b);
	az_req_free(&r);
	return rc;
}

static int break_lease(struct az_backend *ab, const char *path)
{
	struct az_req r = {.verb = "PUT", .path = path, .query = "comp=lease"};
	int rc;
	az_req_hdr(&r, "x-ms-lease-action", "break");
	az_req_hdr(&r, "x-ms-lease-break-period", "0");
	rc = az_perform_want(ab, &r, 202);
	az_req_free(&r);
	return rc;
}

/* Delete a blob by URL path, breaking a lease on it first if need be (as an
 * unlink ignores a flock); with snaps, its snapshots too (a blob that has
 * any is otherwise kept: 409 SnapshotsPresent). */
int az_delete_blob_snaps(struct az_backend *ab, const char *path, int snaps)
{
	for (int attempt = 0;; attempt++) {
		struct az_req r = {.verb = "DELETE", .path = path};
		int rc;
		if (snaps)
			az_req_hdr(&r, "x-ms-delete-snapshots", "include");
		rc = az_perform(ab, &r);
		if (rc == 0) {
			if (r.status == 202)
				rc = 0;
			else if (r.status == 404)
				rc = r.tries > 1 ? 0 : -ENOENT; /* a lost answer to our delete */
			else if (attempt == 0 && (r.status == 412 || r.status == 409) &&
				 az_is_error_code(&r, "LeaseIdMissing"))
				rc = 1;
			else
				rc = az_status_errno(&r);
		}
		az_req_free(&r);
		if (rc != 1)
			return rc;
		rc = break_lease(ab, path);
		if (rc < 0)
			return rc;
	}
}

int az_delete_blob(struct az_backend *ab, const char *path) { return az_delete_blob_snaps(ab, path, 0); }

int az_rec_get(struct backend *be, const char *key, char **data, size_t *len,
	       char etag[BACKEND_ETAG_MAX])
{
	char *path = NULL;
	int rc = az_blob_path(AB(be), key, &path);
	if (rc < 0)
		return rc;
	rc = az_get_blob(AB(be), path, 0, data, len, etag, NULL, 0);
	free(path);
	return rc;
}

int az_rec_put(struct backend *be, const char *key, const void *data, size_t len, const char *if_match,
	       char etag[BACKEND_ETAG_MAX])
{
	char *path = NULL;
	int rc = az_blob_path(AB(be), key, &path);
	if (rc < 0)
		return rc;
	rc = az_put_block_blob(AB(be), path, data, len, if_match, etag);
	free(path);
	return rc;
}

int az_rec_del(struct backend *be, const char *key)
{
	char *path = NULL;
	int rc = az_blob_path(AB(be), key, &path);
	if (rc < 0)
		return rc;
	rc = az_delete_blob(AB(be), path);
	free(path);
	return rc;
}

/* One page of List Blobs: calls fn(arg, name, is_prefix, disk, snapshot)
 * for each entry (full names, decoded; disk is the x-ms-meta-asrfsdisk of
 * a disk link when include has LIST_META, else NULL; snapshot the id of a
 * blob snapshot listed with LIST_SNAPS, else NULL); *marker is replaced
 * with the NextMarker (NULL at the end).  fn returns non-zero to stop
 * (then 1 is returned). */
int az_list_page(struct az_backend *ab, const char *prefix, int delim, int include, char **marker, list_fn fn,
		 void *arg)
{
	struct az_buf q = {0};
	struct az_req r = {.verb = "GET"};
	char *path = NULL;
	int rc = az_blob_path_raw(ab, NULL, &path);

	if (rc < 0)
		return rc;
	az_buf_add(&q, "restype=container&comp=list");
	if (delim)
		az_buf_add(&q, "&delimiter=%2F");
	if (include & LIST_META)
		az_buf_add(&q, "&include=metadata");
	if (include & LIST_SNAPS)
		az_buf_add(&q, "&include=snapshots");
	if (*marker && **marker) {
		az_buf_add(&q, "&marker=");
		az_buf_add_enc(&q, *marker, 0);
	}
	if (*prefix) {
		az_buf_add(&q, "&prefix=");
		az_buf_add_enc(&q, prefix, 0);
	}
	if (q.err) {
		rc = q.err;
		goto out;
	}
	r.path = path;
	r.query = q.p;
	rc = az_perform_want(ab, &r, 200);
	if (rc < 0)
		goto out;
	free(*marker);
	*marker = NULL;
	if (!r.resp.p)
		goto out;
	rc = az_xml_list(r.resp.p, r.resp.len, include & LIST_META, fn, arg, marker);
out:
	az_req_free(&r);
	az_buf_free(&q);
	free(path);
	return rc;
}

struct list_ctx {
	size_t plen;
	backend_list_cb cb;
	void *arg;
	int seen;
};

static int list_child(void *arg, const char *name, int is_prefix, const char *disk, const char *snapshot)
{
	struct list_ctx *c = arg;
	char child[BACKEND_KEY_MAX];
	size_t n;

	(void)disk;
	(void)snapshot;
	if (strlen(name) <= c->plen)
		return 0;
	snprintf(child, sizeof(child), "%s", name + c->plen);
	n = strlen(child);
	if (is_prefix && n > 0 && child[n - 1] == '/')
		child[--n] = '\0';
	c->seen = 1;
	if (n == 0 || child[0] == '.' || strchr(child, '/'))
		return 0;
	return c->cb(c->arg, child, is_prefix) ? 1 : 0;
}

int az_list(struct backend *be, const char *prefix, backend_list_cb cb, void *arg)
{
	struct az_backend *ab = AB(be);
	struct list_ctx c = {.cb = cb, .arg = arg};
	char pfx[BACKEND_KEY_MAX + 1], *marker = NULL;
	int rc;

	if (!backend_key_ok(prefix))
		return -EINVAL;
	snprintf(pfx, sizeof(pfx), "%s%s", prefix, *prefix ? "/" : "");
	c.plen = strlen(pfx);
	do {
		rc = az_list_page(ab, pfx, 1, 0, &marker, list_child, &c);
	} while (rc == 0 && marker);
	free(marker);
	if (rc == 1)
		rc = 0;
	if (rc == 0 && !c.seen && *prefix)
		rc = -ENOENT;
	return rc;
}

static int new_lease_id(char id[64])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	snprintf(id, 64, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* Lease calls use the probe's short timeouts: the caller (the scheduler)
 * retries on its own, and must not hang for minutes on a frozen endpoint. */
static int lease_op(struct az_lease *l, const char *action, long want)
{
	struct az_req r = {.verb = "PUT", .path = l->path, .query = "comp=lease", .probe = 1};
	int rc;

	az_req_hdr(&r, "x-ms-lease-action", action);
	if (strcmp(action, "acquire") == 0) {
		az_req_hdr(&r, "x-ms-lease-duration", l->ab->lease_seconds);
		az_req_hdr(&r, "x-ms-proposed-lease-id", l->id);
	} else {
		az_req_hdr(&r, "x-ms-lease-id", l->id);
	}
	rc = az_perform(l->ab, &r);
	if (rc == 0 && r.status != want)
		rc = r.status == 409 || r.status == 412 ? -EBUSY : az_status_errno(&r);
	az_req_free(&r);
	return rc;
}

int az_lease_acquire(struct backend *be, const char *key, void **lease)
{
	struct az_backend *ab = AB(be);
	struct az_lease *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	l->ab = ab;
	rc = az_blob_path(ab, key, &l->path);
	if (rc < 0)
		goto fail;
	rc = new_lease_id(l->id);
	if (rc < 0)
		goto fail;
	rc = az_head_blob(ab, l->path, NULL, NULL);
	if (rc == -ENOENT) {
		rc = az_put_block_blob(ab, l->path, "", 0, "", NULL);
		if (rc == -EEXIST || rc == -EBUSY)
			rc = 0; /* made by another holder meanwhile */
	}
	if (rc < 0)
		goto fail;
	/* Acquiring again with the same proposed id succeeds, so a retry after a
	 * lost answer does not lock us out of our own lease. */
	rc = lease_op(l, "acquire", 201);
	if (rc < 0)
		goto fail;
	*lease = l;
	return 0;
fail:
	free(l->path);
	free(l);
	return rc;
}

int az_lease_renew(void *lease)
{
	struct az_lease *l = lease;
	return l ? lease_op(l, "renew", 200) : -EINVAL;
}

void az_lease_release(void *lease)
{
	struct az_lease *l = lease;
	if (!l)
		return;
	(void)lease_op(l, "release", 200); /* it expires by itself otherwise */
	free(l->path);
	free(l);
}
