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
