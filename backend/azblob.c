/*
 * azblob.c - the `azblob` backend: a region is a container in an Azure
 * Storage account, spoken to with the Blob REST API over libcurl.
 *
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
 *   azblob_snap.c  snapshots as recovery points, Copy Blob back
 *   azblob_buf.c, azblob_sign.c, azblob_xml.c  the buffer, SharedKey, the XML answers
 * and azblob_int.h what they share.
 *
 * The account key is only ever used as HMAC key material; it is not logged
 * and not kept in any string that could be printed.
 */
#define _GNU_SOURCE
#include "azblob_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

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
