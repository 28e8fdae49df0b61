/*
 * track.c - write tracking and copy-on-write capture of one source disk
 * (the design and the file format are in track.h).
 *
 * Invariant: the union of the file's two regions holds every page written
 * through the mount since the base point and not yet in a committed point
 * (plus, harmlessly, some that are).  Marks go to the file before the data
 * write starts; the shipping region is punched only after the point that
 * holds it is durable; an abort writes its pages into the current region
 * before it punches.  Memory mirrors the file: cur is the current region's
 * set, a capture's set the shipping region's.
 */
#define _GNU_SOURCE
#include "track.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "delta.h"
#include "bytes.h"

#define PG ((uint64_t)DELTA_PAGE)
#define HDR 4096u
#define MAGIC "ASRTRK01"
#define CW 512u                        /* words a bitmap chunk: 32768 pages, 128 MiB of disk */
#define CP ((uint64_t)CW * 64u)        /* pages a chunk */
#define ONES ((uint64_t *)(uintptr_t)1) /* a chunk whose every bit is set */
#define NBUCKET 256u
#define PRES_MAX 16384u                /* pages kept aside a capture: 64 MiB */

/* ---- a sparse bitmap of pages ---- */

struct sbm {
	uint64_t npages;
	uint32_t nchunks;
	uint64_t **c;   /* NULL: all clear; ONES: all set */
	uint64_t count; /* bits set */
};

static int sbm_init(struct sbm *s, uint64_t npages)
{
	s->npages = npages;
	s->nchunks = (uint32_t)((npages + CP - 1) / CP);
	s->count = 0;
	s->c = calloc(s->nchunks ? s->nchunks : 1, sizeof(*s->c));
	return s->c ? 0 : -ENOMEM;
}

static void sbm_clear_all(struct sbm *s)
{
	for (uint32_t i = 0; i < s->nchunks; i++) {
		if (s->c[i] != ONES)
			free(s->c[i]);
		s->c[i] = NULL;
	}
	s->count = 0;
}

static void sbm_free(struct sbm *s)
{
	if (!s->c)
		return;
	sbm_clear_all(s);
	free(s->c);
	s->c = NULL;
}

static int sbm_test(const struct sbm *s, uint64_t p)
{
	const uint64_t *w;
	if (p >= s->npages)
		return 0;
	w = s->c[p / CP];
	if (!w || w == ONES)
		return w == ONES;
	return (int)((w[(p % CP) / 64] >> (p % 64)) & 1);
}

/* Set every bit. */
static void sbm_fill(struct sbm *s)
{
	sbm_clear_all(s);
	for (uint32_t i = 0; i < s->nchunks; i++)
		s->c[i] = ONES;
	s->count = s->npages;
}

/* The words of chunk i, made real (a copy of ONES materialised). */
static uint64_t *sbm_chunk(struct sbm *s, uint32_t i)
{
	uint64_t *w = s->c[i];
	if (w && w != ONES)
		return w;
	uint64_t *n = malloc(CW * sizeof(*n));
	if (!n)
		return NULL;
	memset(n, w == ONES ? 0xff : 0, CW * sizeof(*n));
	s->c[i] = n;
	return n;
}

/* 1 newly set, 0 already, -ENOMEM. */
static int sbm_set(struct sbm *s, uint64_t p)
{
	uint64_t *w;
	if (p >= s->npages || sbm_test(s, p))
		return 0;
	w = sbm_chunk(s, (uint32_t)(p / CP));
	if (!w)
		return -ENOMEM;
	w[(p % CP) / 64] |= 1ull << (p % 64);
	s->count++;
	return 1;
}

static int sbm_setrange(struct sbm *s, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end && p < s->npages; p++) {
		if ((p % CP) == 0 && end - p >= CP && p + CP <= s->npages) {
			/* a whole chunk */
			uint32_t i = (uint32_t)(p / CP);
			uint64_t had = 0;
			if (s->c[i] == ONES)
				had = CP;
			else if (s->c[i])
				for (unsigned k = 0; k < CW; k++)
					had += (uint64_t)__builtin_popcountll(s->c[i][k]);
			if (s->c[i] != ONES)
				free(s->c[i]);
			s->c[i] = ONES;
			s->count += CP - had;
			p += CP - 1;
			continue;
		}
		if (sbm_set(s, p) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The first page at or after p whose bit is `bit` (npages when none). */
static uint64_t sbm_find(const struct sbm *s, uint64_t p, int bit)
{
	while (p < s->npages) {
		uint32_t i = (uint32_t)(p / CP);
		const uint64_t *w = s->c[i];
		uint64_t word;
		if (!w || w == ONES) {
			if ((w == ONES) == bit)
				return p;
			p = (uint64_t)(i + 1) * CP;
			continue;
		}
		word = w[(p % CP) / 64];
		if (!bit)
			word = ~word;
		word &= ~0ull << (p % 64);
		if (word) {
			p = (p & ~63ull) + (uint64_t)__builtin_ctzll(word);
			return p < s->npages ? p : s->npages;
		}
		p = (p | 63) + 1;
	}
	return s->npages;
}

/* The first run of set bits at or after p: [*first, *end); -ENXIO none. */
static int sbm_next(const struct sbm *s, uint64_t p, uint64_t *first, uint64_t *end)
{
	p = sbm_find(s, p, 1);
	if (p >= s->npages)
		return -ENXIO;
	*first = p;
	*end = sbm_find(s, p, 0);
	return 0;
}

/* ---- the tracker ---- */

struct pres {
	uint64_t page;
	int state; /* 0 being read, 1 ready, <0 the read failed */
	struct pres *next;
	unsigned char data[DELTA_PAGE];
};

struct track_cap {
	struct track *t;
	int whole;
	struct sbm set;  /* pages to ship (the shipping region) */
	struct sbm done; /* shipped: writers need not keep them */
	struct pres *b[NBUCKET];
	unsigned npres;
	unsigned filling; /* entries a writer is reading now: the capture waits for them */
};

struct track {
	int fd;
	uint64_t size, npages, rlen;
	pthread_mutex_t lk; /* everything below, and the file */
	pthread_cond_t cv;  /* a kept page got ready, a page shipped, a capture ended */
	uint32_t flags, curidx;
	char base[40], stamp[64], why[160];
	struct sbm cur;
	struct track_cap *cap;
	int written; /* a mark since the last capture */
	int cut_short; /* opened with a capture in flight, until validated */
	int noted;     /* stamp was noted after the latest mount write */
};

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			memset(p, 0, len); /* past the end reads as zeros, as a hole */
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* t->lk held (or not yet shared). */
static int hdr_write(struct track *t)
{
	unsigned char h[HDR];
	memset(h, 0, sizeof(h));
	memcpy(h, MAGIC, 8);
	put_be64(h + 8, t->size);
	put_be64(h + 16, (uint64_t)DELTA_PAGE << 32 | t->flags);
	put_be64(h + 24, (uint64_t)t->curidx << 32);
	put_be64(h + 32, t->rlen);
	memcpy(h + 40, t->base, sizeof(t->base));
	memcpy(h + 80, t->stamp, sizeof(t->stamp));
	memcpy(h + 144, t->why, sizeof(t->why));
	put_be64(h + HDR - 8, XXH64(h, HDR - 8, 0));
	return pwrite_all(t->fd, h, sizeof(h), 0);
}

/* 0 with the header's fields in t, -EBADMSG when it is not a valid one for
 * this disk, -ENOENT for an empty file. */
static int hdr_read(struct track *t)
{
	unsigned char h[HDR];
	struct stat st;
	int rc;
	if (fstat(t->fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return -ENOENT;
	rc = pread_all(t->fd, h, sizeof(h), 0);
	if (rc < 0)
		return rc;
	if (memcmp(h, MAGIC, 8) != 0 || get_be64(h + HDR - 8) != XXH64(h, HDR - 8, 0) ||
	    get_be64(h + 8) != t->size || get_be64(h + 16) >> 32 != DELTA_PAGE || get_be64(h + 32) != t->rlen ||
	    (get_be64(h + 24) >> 32) > 1)
		return -EBADMSG;
	t->flags = (uint32_t)get_be64(h + 16);
	t->curidx = (uint32_t)(get_be64(h + 24) >> 32);
	memcpy(t->base, h + 40, sizeof(t->base));
	memcpy(t->stamp, h + 80, sizeof(t->stamp));
	memcpy(t->why, h + 144, sizeof(t->why));
	t->base[sizeof(t->base) - 1] = t->stamp[sizeof(t->stamp) - 1] = t->why[sizeof(t->why) - 1] = '\0';
	return 0;
}

static uint64_t region_off(const struct track *t, uint32_t r)
{
	return HDR + (uint64_t)r * t->rlen;
}

/* Deallocate region r (it reads as zeros after). */
static int region_clear(struct track *t, uint32_t r)
{
	if (fallocate(t->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)region_off(t, r), (off_t)t->rlen) == 0)
		return 0;
	/* a file system without holes: write zeros */
	static const unsigned char z[65536];
	for (uint64_t o = 0; o < t->rlen; o += sizeof(z)) {
		size_t n = t->rlen - o < sizeof(z) ? (size_t)(t->rlen - o) : sizeof(z);
		int rc = pwrite_all(t->fd, z, n, region_off(t, r) + o);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Write word w (64 pages) of set s into region r. */
static int region_put_word(struct track *t, uint32_t r, const struct sbm *s, uint64_t w)
{
	uint64_t p = w * 64, v = 0, le;
	for (unsigned k = 0; k < 64 && p + k < s->npages; k++)
		if (sbm_test(s, p + k))
			v |= 1ull << k;
	le = htole64(v);
	return pwrite_all(t->fd, &le, sizeof(le), region_off(t, r) + w * 8);
}

/* Write all of s into region r (the whole bitmap's allocated words). */
static int region_put_all(struct track *t, uint32_t r, const struct sbm *s)
{
	uint64_t first, end, p = 0;
	while (sbm_next(s, p, &first, &end) == 0) {
		for (uint64_t w = first / 64; w <= (end - 1) / 64; w++) {
			int rc = region_put_word(t, r, s, w);
			if (rc < 0)
				return rc;
		}
		p = end;
	}
	return 0;
}

/* OR region r of the file into s (reading only where the file has data). */
static int region_load(struct track *t, uint32_t r, struct sbm *s)
{
	uint64_t base = region_off(t, r), pos = base, endr = base + t->rlen;
	unsigned char buf[65536];
	while (pos < endr) {
		off_t d = lseek(t->fd, (off_t)pos, SEEK_DATA), h;
		if (d < 0)
			return errno == ENXIO ? 0 : -errno;
		if ((uint64_t)d >= endr)
			return 0;
		h = lseek(t->fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		pos = (uint64_t)d;
		uint64_t stop = (uint64_t)h < endr ? (uint64_t)h : endr;
		while (pos < stop) {
			size_t n = stop - pos < sizeof(buf) ? (size_t)(stop - pos) : sizeof(buf);
			int rc = pread_all(t->fd, buf, n, pos);
			if (rc < 0)
				return rc;
			for (size_t i = 0; i < n; i++) {
				if (!buf[i])
					continue;
				uint64_t p0 = (pos - base + i) * 8;
				for (unsigned k = 0; k < 8; k++)
					if ((buf[i] >> k & 1) && sbm_set(s, p0 + k) < 0)
						return -ENOMEM;
			}
			pos += n;
		}
	}
	return 0;
}

static void set_whole(struct track *t, const char *why)
{
	t->flags |= TRK_WHOLE;
	snprintf(t->why, sizeof(t->why), "%s", why);
}

/* A fresh file: nothing tracked, a whole compare due. */
static int track_init_file(struct track *t, const char *why)
{
	int rc;
	t->curidx = 0;
	t->flags = 0;
	t->base[0] = t->stamp[0] = '\0';
	set_whole(t, why);
	sbm_clear_all(&t->cur);
	if (ftruncate(t->fd, 0) < 0 || ftruncate(t->fd, (off_t)(HDR + 2 * t->rlen)) < 0)
		return -errno;
	rc = hdr_write(t);
	return rc;
}

int track_open(const char *path, uint64_t size, struct track **out)
{
	struct track *t = calloc(1, sizeof(*t));
	int rc, locks = 0;
	if (!t)
		return -ENOMEM;
	t->fd = -1;
	t->size = size;
	t->npages = (size + PG - 1) / PG;
	t->rlen = ((t->npages + 7) / 8 + 4095) / 4096 * 4096;
	if (t->rlen == 0)
		t->rlen = 4096;
	rc = sbm_init(&t->cur, t->npages);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	if (pthread_mutex_init(&t->lk, NULL) != 0)
		goto out;
	locks = 1;
	if (pthread_cond_init(&t->cv, NULL) != 0)
		goto out;
	locks = 2;
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (t->fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = hdr_read(t);
	if (rc == -ENOENT) {
		rc = track_init_file(t, "no write tracking yet");
	} else if (rc == -EBADMSG) {
		rc = track_init_file(t, "the write tracking was damaged");
	} else if (rc == 0) {
		t->written = !!(t->flags & TRK_WRITTEN);
		/* Both regions: a capture may have been cut short. */
		rc = region_load(t, 0, &t->cur);
		if (rc == 0)
			rc = region_load(t, 1, &t->cur);
		if (rc == 0)
			rc = region_put_all(t, t->curidx, &t->cur);
		if (rc == 0)
			rc = region_clear(t, t->curidx ^ 1);
		if (rc == 0 && (t->flags & TRK_CAPTURING)) {
			t->cut_short = 1; /* a capture's point may have been committed */
			t->flags &= ~(uint32_t)TRK_CAPTURING;
			rc = hdr_write(t);
		}
	}
	if (rc < 0)
		goto out;
	*out = t;
	return 0;
out:
	if (t->fd >= 0)
		close(t->fd);
	sbm_free(&t->cur);
	if (locks >= 2)
		pthread_cond_destroy(&t->cv);
	if (locks >= 1)
		pthread_mutex_destroy(&t->lk);
	free(t);
	return rc;
}

static void cap_free(struct track_cap *c)
{
	for (unsigned i = 0; i < NBUCKET; i++)
		while (c->b[i]) {
			struct pres *e = c->b[i];
			c->b[i] = e->next;
			free(e);
		}
	sbm_free(&c->set);
	sbm_free(&c->done);
	free(c);
}

void track_close(struct track *t)
{
	if (!t)
		return;
	if (t->cap) {
		cap_free(t->cap); /* a capture still open: the file keeps its pages */
		t->cap = NULL;
	}
	(void)fdatasync(t->fd);
	close(t->fd);
	sbm_free(&t->cur);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->lk);
	free(t);
}

int track_validate(struct track *t, const char *newest, const char *prev)
{
	int rc = 0, ok;
	pthread_mutex_lock(&t->lk);
	ok = strcmp(t->base, newest) == 0 || (t->cut_short && newest[0] && strcmp(t->base, prev) == 0);
	t->cut_short = 0;
	if (!ok || strcmp(t->base, newest) != 0) {
		if (!ok && !(t->flags & TRK_WHOLE))
			set_whole(t, "the write tracking is older than the newest recovery point");
		snprintf(t->base, sizeof(t->base), "%s", newest);
		rc = hdr_write(t);
	}
	pthread_mutex_unlock(&t->lk);
	return rc;
}

int track_reset(struct track *t)
{
	int rc;
	pthread_mutex_lock(&t->lk);
	if (t->cap) {
		rc = -EBUSY;
		goto out;
	}
	sbm_clear_all(&t->cur);
	t->flags = 0;
	t->base[0] = t->why[0] = '\0';
	rc = region_clear(t, 0);
	if (rc == 0)
		rc = region_clear(t, 1);
	if (rc == 0)
		rc = hdr_write(t);
out:
	pthread_mutex_unlock(&t->lk);
	return rc;
}

int track_want_whole(struct track *t, const char *why)
{
	int rc;
	pthread_mutex_lock(&t->lk);
	set_whole(t, why);
	rc = hdr_write(t);
	pthread_mutex_unlock(&t->lk);
	return rc;
}

int track_whole_due(struct track *t, char *why, size_t len)
{
	int r;
	pthread_mutex_lock(&t->lk);
	r = !!(t->flags & TRK_WHOLE);
	if (why && len)
		snprintf(why, len, "%s", r ? t->why : "");
	pthread_mutex_unlock(&t->lk);
	return r;
}

static struct pres *pres_find(struct track_cap *c, uint64_t p)
{
	for (struct pres *e = c->b[p % NBUCKET]; e; e = e->next)
		if (e->page == p)
			return e;
	return NULL;
}

/* t->lk held: does the running capture still need page p's old bytes? */
static int cap_needs(struct track_cap *c, uint64_t p)
{
	return c && sbm_test(&c->set, p) && !sbm_test(&c->done, p) && !pres_find(c, p);
}

int track_mark(struct track *t, struct bdisk *src, uint64_t off, uint64_t len)
{
	uint64_t first = off / PG, end = (off + len + PG - 1) / PG;
	int rc = 0;

	if (!len)
		return 0;
	if (end > t->npages)
		end = t->npages;
	pthread_mutex_lock(&t->lk);
	t->noted = 0; /* until this write's note */
	if (!t->written) {
		/* in the file too: a stamp that moved after a restart is then
		 * known to be the mount's writes, not a bypass */
		t->written = 1;
		t->flags |= TRK_WRITTEN;
		rc = hdr_write(t);
	}
	for (uint64_t p = first; p < end && rc == 0; p++) {
		int r = sbm_set(&t->cur, p);
		if (r < 0)
			rc = r;
		else if (r == 1)
			rc = region_put_word(t, t->curidx, &t->cur, p / 64);
	}
	/* Keep aside the old bytes the capture still needs, a page at a time,
	 * read outside the lock (the view waits for an entry being read). */
	for (uint64_t p = first; p < end && rc == 0; p++) {
		struct track_cap *c = t->cap;
		struct pres *e;
		ssize_t n;
		while (c && c == t->cap && c->npres >= PRES_MAX && cap_needs(c, p))
			pthread_cond_wait(&t->cv, &t->lk); /* bounded memory: wait for the cycle */
		if (!c || c != t->cap || !cap_needs(c, p))
			continue;
		e = malloc(sizeof(*e));
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		e->page = p;
		e->state = 0;
		e->next = c->b[p % NBUCKET];
		c->b[p % NBUCKET] = e;
		c->npres++;
		c->filling++;
		pthread_mutex_unlock(&t->lk);
		n = bd_pread(src, e->data, DELTA_PAGE, p * PG);
		if (n >= 0 && (size_t)n < DELTA_PAGE)
			memset(e->data + n, 0, DELTA_PAGE - (size_t)n);
		pthread_mutex_lock(&t->lk);
		e->state = n < 0 ? (int)n : 1;
		if (n < 0)
			rc = (int)n;
		c->filling--;
		pthread_cond_broadcast(&t->cv);
	}
	pthread_mutex_unlock(&t->lk);
	return rc;
}

int track_sync(struct track *t)
{
	return fdatasync(t->fd) < 0 ? -errno : 0;
}

uint64_t track_pending_bytes(struct track *t)
{
	uint64_t n;
	pthread_mutex_lock(&t->lk);
	n = t->cur.count;
	if (t->cap && !t->cap->whole)
		n += t->cap->set.count - t->cap->done.count;
	pthread_mutex_unlock(&t->lk);
	return n * PG;
}

int track_page_dirty(struct track *t, uint64_t page)
{
	int r;
	pthread_mutex_lock(&t->lk);
	r = sbm_test(&t->cur, page) || (t->cap && sbm_test(&t->cap->set, page));
	pthread_mutex_unlock(&t->lk);
	return r;
}

void track_stamp_hex(const char *raw, char out[20])
{
	snprintf(out, 20, "%016llx", (unsigned long long)XXH64(raw, strlen(raw), 0));
}

void track_stamp_of(struct backend *be, const char *key, char out[20])
{
	char st[BACKEND_ETAG_MAX];
	out[0] = '\0';
	if (be_disk_stamp(be, key, st) == 0)
		track_stamp_hex(st, out);
}

void track_note(struct track *t, struct backend *be, const char *key)
{
	pthread_mutex_lock(&t->lk);
	track_stamp_of(be, key, t->stamp);
	t->noted = t->stamp[0] != '\0';
	pthread_mutex_unlock(&t->lk);
}

int track_bypassed(struct track *t, const char *now)
{
	int r;
	pthread_mutex_lock(&t->lk);
	r = t->stamp[0] && now[0] && strcmp(t->stamp, now) != 0 && (!t->written || t->noted);
	pthread_mutex_unlock(&t->lk);
	return r;
}

int track_written(struct track *t)
{
	int r;
	pthread_mutex_lock(&t->lk);
	r = t->written;
	pthread_mutex_unlock(&t->lk);
	return r;
}

int track_capture(struct track *t, int whole, const char *stamp, struct track_cap **out)
{
	struct track_cap *c = calloc(1, sizeof(*c));
	int rc;
	if (!c)
		return -ENOMEM;
	c->t = t;
	rc = sbm_init(&c->done, t->npages);
	if (rc < 0) {
		free(c);
		return rc;
	}
	pthread_mutex_lock(&t->lk);
	if (t->cap) {
		rc = -EBUSY;
		goto fail;
	}
	c->whole = whole || (t->flags & TRK_WHOLE);
	c->set = t->cur; /* the current set ships; an empty one takes its place */
	rc = sbm_init(&t->cur, t->npages);
	if (rc < 0) {
		t->cur = c->set;
		c->set.c = NULL;
		goto fail;
	}
	t->curidx ^= 1;
	t->flags |= TRK_CAPTURING;
	t->flags &= ~(uint32_t)TRK_WRITTEN;
	snprintf(t->stamp, sizeof(t->stamp), "%s", stamp ? stamp : "");
	rc = hdr_write(t);
	if (rc < 0) {
		/* as if never swapped (the file may say either: both are read) */
		t->curidx ^= 1;
		t->flags &= ~(uint32_t)TRK_CAPTURING;
		if (t->written)
			t->flags |= TRK_WRITTEN;
		sbm_free(&t->cur);
		t->cur = c->set;
		c->set.c = NULL;
		goto fail;
	}
	if (c->whole)
		sbm_fill(&c->set);
	t->written = 0;
	t->noted = 0;
	t->cap = c;
	pthread_mutex_unlock(&t->lk);
	*out = c;
	return 0;
fail:
	pthread_mutex_unlock(&t->lk);
	sbm_free(&c->set);
	sbm_free(&c->done);
	free(c);
	return rc;
}

int track_cap_whole(const struct track_cap *c)
{
	return c->whole;
}

uint64_t track_cap_pages(const struct track_cap *c)
{
	return c->set.count;
}

int track_cap_next(struct track_cap *c, uint64_t page, uint64_t *first, uint64_t *end)
{
	int rc;
	pthread_mutex_lock(&c->t->lk);
	rc = sbm_next(&c->set, page, first, end);
	pthread_mutex_unlock(&c->t->lk);
	return rc;
}

void track_cap_done(struct track_cap *c, uint64_t first, uint64_t n)
{
	struct track *t = c->t;
	pthread_mutex_lock(&t->lk);
	(void)sbm_setrange(&c->done, first, first + n); /* no memory: writers keep copying, still right */
	/* kept copies of shipped pages are not needed any more */
	for (uint64_t p = first; p < first + n && c->npres; p++) {
		struct pres **pp = &c->b[p % NBUCKET];
		while (*pp && (*pp)->page != p)
			pp = &(*pp)->next;
		if (*pp && (*pp)->state != 0) {
			struct pres *e = *pp;
			*pp = e->next;
			free(e);
			c->npres--;
		}
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lk);
}

/* t->lk held: no writer is still reading a page into c. */
static void cap_quiesce(struct track_cap *c)
{
	while (c->filling)
		pthread_cond_wait(&c->t->cv, &c->t->lk);
}

int track_cap_commit(struct track_cap *c, const char *id)
{
	struct track *t = c->t;
	int rc;
	pthread_mutex_lock(&t->lk);
	cap_quiesce(c);
	snprintf(t->base, sizeof(t->base), "%s", id);
	t->flags &= ~(uint32_t)TRK_CAPTURING;
	if (c->whole) {
		t->flags &= ~(uint32_t)TRK_WHOLE;
		t->why[0] = '\0';
	}
	rc = hdr_write(t);
	if (rc == 0)
		rc = region_clear(t, t->curidx ^ 1);
	t->cap = NULL;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lk);
	cap_free(c);
	/* A failed write leaves more marked than needed: the next cycle ships
	 * those pages again, which is harmless. */
	return rc;
}

void track_cap_abort(struct track_cap *c)
{
	struct track *t = c->t;
	int rc = 0;
	pthread_mutex_lock(&t->lk);
	cap_quiesce(c);
	if (c->whole) {
		if (!(t->flags & TRK_WHOLE))
			set_whole(t, "a whole compare was cut short");
	} else {
		uint64_t first, end, p = 0;
		while (rc == 0 && sbm_next(&c->set, p, &first, &end) == 0) {
			rc = sbm_setrange(&t->cur, first, end);
			p = end;
		}
		if (rc == 0)
			rc = region_put_all(t, t->curidx, &t->cur);
	}
	t->flags &= ~(uint32_t)TRK_CAPTURING;
	if (rc < 0)
		set_whole(t, "the write tracking could not be written");
	if (hdr_write(t) == 0 && rc == 0)
		(void)region_clear(t, t->curidx ^ 1);
	t->cap = NULL;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lk);
	cap_free(c);
}

/* ---- the capture's view of the source ---- */

struct view {
	struct bdisk bd;
	struct bdisk *src;
	struct track_cap *c;
};

static void view_close(struct bdisk *d)
{
	free(d);
}

static int view_size(struct bdisk *d, uint64_t *size)
{
	return bd_size(((struct view *)d)->src, size);
}

static int view_next_data(struct bdisk *d, uint64_t off, uint64_t *start, uint64_t *end)
{
	return bd_next_data(((struct view *)d)->src, off, start, end);
}

/* Read the source, then put back the pages a write overwrote since the
 * instant.  A page no write has started on when the lock is taken after
 * the read was not written during it either (writers register a page
 * before they write it), so the bytes read are the instant's. */
static ssize_t view_pread(struct bdisk *d, void *buf, size_t len, uint64_t off)
{
	struct view *v = (struct view *)d;
	struct track *t = v->c->t;
	ssize_t n = bd_pread(v->src, buf, len, off);
	int rc = 0;
	if (n <= 0)
		return n;
	pthread_mutex_lock(&t->lk);
	for (uint64_t p = off / PG; p * PG < off + (uint64_t)n && rc == 0; p++) {
		struct pres *e;
		while ((e = pres_find(v->c, p)) && e->state == 0)
			pthread_cond_wait(&t->cv, &t->lk);
		if (!e)
			continue;
		if (e->state < 0) {
			rc = e->state;
			break;
		}
		uint64_t ps = p * PG, a = ps > off ? ps : off, b = ps + PG < off + (uint64_t)n ? ps + PG : off + (uint64_t)n;
		memcpy((char *)buf + (a - off), e->data + (a - ps), (size_t)(b - a));
	}
	pthread_mutex_unlock(&t->lk);
	return rc < 0 ? rc : n;
}

static ssize_t view_pwrite(struct bdisk *d, const void *buf, size_t len, uint64_t off)
{
	(void)d, (void)buf, (void)len, (void)off;
	return -EROFS;
}

static int view_truncate(struct bdisk *d, uint64_t size)
{
	(void)d, (void)size;
	return -EROFS;
}

static int view_zero(struct bdisk *d, uint64_t off, uint64_t len)
{
	(void)d, (void)off, (void)len;
	return -EROFS;
}

static int view_sync(struct bdisk *d)
{
	(void)d;
	return 0;
}

#define VIEW_OPS(flagv)                                  \
	{                                                \
		.kind = "capture-view", .flags = (flagv), \
		.disk_close = view_close, .disk_size = view_size, .disk_truncate = view_truncate, \
		.disk_pread = view_pread, .disk_pwrite = view_pwrite, .disk_zero = view_zero, \
		.disk_next_data = view_next_data, .disk_sync = view_sync, \
	}
/* The source's flags carry over: a remote source still gets large reads. */
static const struct backend_ops view_ops[2] = {VIEW_OPS(0), VIEW_OPS(BACKEND_REMOTE)};
int track_cap_view(struct track_cap *c, struct bdisk *src, struct bdisk **out)
{
	struct view *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->bd.ops = &view_ops[(src->ops->flags & BACKEND_REMOTE) ? 1 : 0];
	v->src = src;
	v->c = c;
	*out = &v->bd;
	return 0;
}
