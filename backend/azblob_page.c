/*
 * azblob_page.c - an open disk of the azblob backend: page-blob I/O (ranged
 * GETs, Put Page updates and clears, several at once on a curl multi
 * handle), size and truncate, Get Page Ranges for next_data, and the VHD
 * footer.  A handle comes from disk_open (azblob_link.c) or
 * disk_open_snapshot (azblob_snap.c: read-only, every request carries
 * ?snapshot=<id>); both finish it with az_disk_ready here.
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
 */
#define _GNU_SOURCE
#include "azblob_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define MAX_PUT_PAGE (4ULL << 20)   /* Azure's limit for one Put Page update */
#define READ_PIECE (8ULL << 20)     /* one ranged GET of a pread */
#define INFLIGHT 4                  /* requests of one transfer in flight at once */
#define CLEAR_PIECE (1ULL << 30)    /* one Put Page clear */
#define PAGELIST_WINDOW (1ULL << 30) /* first Get Page Ranges window */

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
			jrc = -EAGAIN; /* unless it answered for good: */
			if (msg->data.result == CURLE_OK && !az_retryable_status(j->r.status))
				jrc = job_result(j);
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

	len = (size_t)backend_clip(size, off, len);
	if (len == 0)
		return 0;
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
	len = backend_clip(size, off, len);
	if (len == 0)
		return 0;
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
