/*
 * test_delta.c - unit tests of the delta engine (sync/delta.c) on real sparse
 * files in a temporary directory, through the local backend's path API.
 *
 * Every test builds a source and a destination with known contents, runs
 * delta_sync() and checks the outcome byte for byte plus the exact counters
 * (pages changed, bytes sent), holes (st_blocks), the undo sink's view and
 * the block map.  Each case runs with one and with several worker threads.
 */
#define _GNU_SOURCE
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../sync/blockmap.h"
#include "../../sync/delta.h"

#define P DELTA_PAGE

static char dir[64];
static char src_path[128], dst_path[128];
static int threads_now = 2;
/* When set, dst claims BACKEND_REMOTE (as azblob does): the local
 * ops with that flag, so the engine runs a writer per worker. */
static bool parallel_dst;
static struct backend_ops parallel_ops;

/* --- helpers ----------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(rnd() >> 24) | 1; /* never all zero */
}

/* Write a file of size bytes from buf, leaving holes wherever hole[page]. */
static int write_file(const char *path, const unsigned char *buf, uint64_t size, const bool *hole)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0)
		goto bad;
	for (uint64_t p = 0; p * P < size; p++) {
		uint64_t len = size - p * P < P ? size - p * P : P;
		if (hole && hole[p])
			continue;
		if (pwrite(fd, buf + p * P, len, (off_t)(p * P)) != (ssize_t)len)
			goto bad;
	}
	close(fd);
	return 0;
bad:
	close(fd);
	return -1;
}

/* Read a whole file; *size gets its size.  NULL on error. */
static unsigned char *read_file(const char *path, uint64_t *size)
{
	struct stat st;
	unsigned char *b;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	b = malloc((size_t)st.st_size + 1);
	if (b && pread(fd, b, (size_t)st.st_size, 0) != st.st_size) {
		free(b);
		b = NULL;
	}
	close(fd);
	*size = (uint64_t)st.st_size;
	return b;
}

static bool files_equal(const char *a, const char *b)
{
	uint64_t na, nb;
	unsigned char *x = read_file(a, &na), *y = read_file(b, &nb);
	bool eq = x && y && na == nb && memcmp(x, y, (size_t)na) == 0;
	free(x);
	free(y);
	return eq;
}

static long long blocks_of(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : (long long)st.st_blocks;
}

static int run_sync(struct delta_opts *o, struct delta_stats *st)
{
	struct bdisk *s = NULL, *d = NULL;
	struct delta_opts def;
	int rc;

	if (!o) {
		memset(&def, 0, sizeof(def));
		o = &def;
	}
	o->threads = threads_now;
	rc = local_disk_open_path(src_path, BDISK_RDONLY, &s);
	if (rc == 0)
		rc = local_disk_open_path_create(dst_path, BDISK_RDWR, &d);
	if (rc == 0 && parallel_dst) {
		parallel_ops = *d->ops;
		parallel_ops.flags |= BACKEND_REMOTE;
		d->ops = &parallel_ops;
	}
	if (rc == 0)
		rc = delta_sync(s, d, o, st);
	bd_close(s);
	bd_close(d);
	return rc;
}

/* Build src and dst from buffers; sync; check equality and the counts. */
struct pair {
	unsigned char *s, *d;
	uint64_t ssize, dsize;
	bool *shole, *dhole;
};

static void pair_alloc(struct pair *p, uint64_t ssize, uint64_t dsize)
{
	uint64_t ms = ssize > dsize ? ssize : dsize;
	uint64_t np = ms / P + 2;
	p->ssize = ssize;
	p->dsize = dsize;
	p->s = calloc(1, ms + P);
	p->d = calloc(1, ms + P);
	p->shole = calloc(np, sizeof(bool));
	p->dhole = calloc(np, sizeof(bool));
	if (!p->s || !p->d || !p->shole || !p->dhole)
		abort();
	fill_random(p->s, ssize);
	memcpy(p->d, p->s, dsize < ssize ? dsize : ssize);
	if (dsize > ssize)
		fill_random(p->d + ssize, dsize - ssize);
}

static void pair_free(struct pair *p)
{
	free(p->s);
	free(p->d);
	free(p->shole);
	free(p->dhole);
}

static int pair_write(struct pair *p)
{
	if (write_file(src_path, p->s, p->ssize, p->shole) < 0)
		return -1;
	return write_file(dst_path, p->d, p->dsize, p->dhole);
}

/* Expected counts: pages that read differently (src zero-padded to a page;
 * dst compared whole), split into data writes and zeroings. */
static void expect(const struct pair *p, uint64_t *pages, uint64_t *bytes)
{
	*pages = *bytes = 0;
	for (uint64_t pg = 0; pg * P < p->ssize; pg++) {
		unsigned char a[P], b[P];
		uint64_t off = pg * P;
		uint64_t sl = p->ssize - off < P ? p->ssize - off : P;
		uint64_t dl = off >= p->dsize ? 0 : (p->dsize - off < P ? p->dsize - off : P);
		memset(a, 0, P);
		memset(b, 0, P);
		if (!p->shole[pg])
			memcpy(a, p->s + off, sl);
		if (dl && !p->dhole[pg])
			memcpy(b, p->d + off, dl);
		if (memcmp(a, b, P) == 0)
			continue;
		(*pages)++;
		{
			bool z = true;
			for (unsigned i = 0; i < P; i++)
				z = z && !a[i];
			if (!z)
				*bytes += sl;
		}
	}
}

/* --- tests ------------------------------------------------------------- */

static void check_pair(struct pair *p)
{
	struct delta_stats st;
	uint64_t pages, bytes;

	T_ASSERT(pair_write(p) == 0);
	expect(p, &pages, &bytes);
	T_EQ_INT(run_sync(NULL, &st), 0);
	T_ASSERT(files_equal(src_path, dst_path));
	T_EQ_INT(st.pages_changed, pages);
	T_EQ_INT(st.bytes_transferred, bytes);
	T_EQ_INT(st.bytes_total, p->ssize);
	T_EQ_INT(st.bytes_compared, p->ssize);
	/* A second pass finds nothing. */
	T_EQ_INT(run_sync(NULL, &st), 0);
	T_EQ_INT(st.pages_changed, 0);
	T_EQ_INT(st.bytes_transferred, 0);
}

static void test_identical(void)
{
	struct pair p;
	pair_alloc(&p, 3 * 1024 * 1024 + 5, 3 * 1024 * 1024 + 5);
	check_pair(&p);
	if (!t_failed_now) {
		struct delta_stats st;
		T_EQ_INT(run_sync(NULL, &st), 0);
		T_EQ_INT(st.pages_changed, 0);
	}
	pair_free(&p);
}

static void test_first_and_last_byte(void)
{
	struct pair p;
	struct delta_stats st;
	uint64_t size = 2 * 1024 * 1024 + 123; /* last page is 123 bytes */

	pair_alloc(&p, size, size);
	p.s[0] ^= 0x55;
	p.s[size - 1] ^= 0x55;
	T_ASSERT(pair_write(&p) == 0);
	T_EQ_INT(run_sync(NULL, &st), 0);
	T_ASSERT(files_equal(src_path, dst_path));
	T_EQ_INT(st.pages_changed, 2);
	T_EQ_INT(st.bytes_transferred, P + 123);
	pair_free(&p);
}

static void test_scattered(void)
{
	struct pair p;
	uint64_t size = 5 * 1024 * 1024 + 700;
	pair_alloc(&p, size, size);
	for (int i = 0; i < 200; i++)
		p.s[rnd() % size] ^= 0x80;
	check_pair(&p);
	pair_free(&p);
}

static void test_src_larger(void)
{
	struct pair p;
	pair_alloc(&p, 3 * 1024 * 1024 + 1000, 1024 * 1024 + 17);
	p.s[100] ^= 1;
	check_pair(&p);
	pair_free(&p);
}

static void test_src_smaller(void)
{
	struct pair p;
	pair_alloc(&p, 1024 * 1024 + 17, 3 * 1024 * 1024 + 1000);
	check_pair(&p);
	pair_free(&p);
}

static void test_src_smaller_same_prefix_tail_in_page(void)
{
	/* dst's last src page matches src's bytes but has a non-zero tail:
	 * the page must still end up equal (it is compared whole). */
	struct pair p;
	pair_alloc(&p, 8192 + 100, 8192 + 4000);
	check_pair(&p);
	pair_free(&p);
}

static void test_one_byte(void)
{
	struct pair p;
	pair_alloc(&p, 1, 0);
	check_pair(&p);
	pair_free(&p);
	pair_alloc(&p, 1, 1);
	p.s[0] = 7;
	p.d[0] = 9;
	check_pair(&p);
	pair_free(&p);
}

static void test_empty(void)
{
	struct pair p;
	pair_alloc(&p, 0, 20000);
	check_pair(&p);
	pair_free(&p);
	pair_alloc(&p, 0, 0);
	check_pair(&p);
	pair_free(&p);
	/* dst missing altogether: created. */
	unlink(dst_path);
	pair_alloc(&p, 10000, 0);
	T_ASSERT(write_file(src_path, p.s, p.ssize, NULL) == 0);
	{
		struct delta_stats st;
		T_EQ_INT(run_sync(NULL, &st), 0);
		T_ASSERT(files_equal(src_path, dst_path));
		T_EQ_INT(st.bytes_transferred, 10000);
	}
	pair_free(&p);
}

static void test_holes(void)
{
	struct pair p;
	uint64_t size = 6 * 1024 * 1024;
	uint64_t np = size / P;

	pair_alloc(&p, size, size);
	/* src holes where dst has data, dst holes where src has data, both holes. */
	for (uint64_t i = 10; i < 300; i++)
		p.shole[i] = true;
	for (uint64_t i = 200; i < 500; i++)
		p.dhole[i] = true;
	for (uint64_t i = np - 40; i < np; i++)
		p.shole[i] = p.dhole[i] = true;
	p.shole[np / 2] = true;
	check_pair(&p);
	pair_free(&p);
}

static void test_zero_pages(void)
{
	struct pair p;
	struct delta_stats st;
	uint64_t size = 1024 * 1024;

	pair_alloc(&p, size, size);
	memset(p.s + 3 * P, 0, P);  /* allocated zeros over dst data: punch */
	memset(p.s + 7 * P, 0, P);  /* allocated zeros over a dst hole: nothing */
	p.dhole[7] = true;
	memset(p.s + 9 * P, 0, P);  /* allocated zeros over allocated zeros: nothing */
	memset(p.d + 9 * P, 0, P);
	T_ASSERT(pair_write(&p) == 0);
	T_EQ_INT(run_sync(NULL, &st), 0);
	T_ASSERT(files_equal(src_path, dst_path));
	/* page 3 zeroed; page 7 src data(zero) vs dst hole equal; page 9 equal */
	T_EQ_INT(st.pages_changed, 1);
	T_EQ_INT(st.bytes_transferred, 0);
	{
		/* page 3 is a hole on dst now. */
		int fd = open(dst_path, O_RDONLY);
		off_t h;
		T_ASSERT(fd >= 0);
		h = lseek(fd, 0, SEEK_HOLE);
		close(fd);
		T_EQ_INT(h, 3 * P);
	}
	pair_free(&p);
}

static void test_full_copy_keeps_holes(void)
{
	struct pair p;
	struct delta_stats st;
	uint64_t size = 64ull * 1024 * 1024, np = size / P;

	pair_alloc(&p, size, 0);
	for (uint64_t i = 0; i < np; i++)
		p.shole[i] = !(i < 16 || (i >= 5000 && i < 5100) || i == np - 1);
	/* Allocated zeros in src must not allocate dst either. */
	memset(p.s + 5050 * P, 0, 20 * P);
	T_ASSERT(write_file(src_path, p.s, p.ssize, p.shole) == 0);
	unlink(dst_path);
	T_EQ_INT(run_sync(NULL, &st), 0);
	T_ASSERT(files_equal(src_path, dst_path));
	T_EQ_INT(st.pages_changed, 16 + 100 - 20 + 1);
	T_EQ_INT(st.bytes_transferred, (16 + 100 - 20 + 1) * P);
	/* 97 pages of data = 776 sectors; allow fs metadata slack. */
	T_ASSERT(blocks_of(dst_path) >= 97 * 8);
	T_ASSERT(blocks_of(dst_path) <= 97 * 8 + 64);
	pair_free(&p);
}

/* --- undo sink --------------------------------------------------------- */

struct rec_undo {
	int nsave, ncommit;
	uint64_t pages[4096];
	unsigned char *old; /* nsave pages */
	int batch_start;    /* first save since the last commit */
	int bad_order;      /* a saved page changed on dst before its commit */
	int fd;             /* dst, to look at it during commit */
	uint64_t dst_size_at_commit_min;
};

static int rec_save(void *arg, uint64_t page, const void *old)
{
	struct rec_undo *u = arg;
	if (u->nsave >= 4096)
		return -ENOSPC;
	u->pages[u->nsave] = page;
	memcpy(u->old + (size_t)u->nsave * P, old, P);
	u->nsave++;
	return 0;
}

static int rec_commit(void *arg)
{
	struct rec_undo *u = arg;
	/* Nothing of this batch may have been written yet: dst still holds the
	 * pre-images (zero-padded where the file ends). */
	for (int i = u->batch_start; i < u->nsave; i++) {
		unsigned char cur[P];
		ssize_t n;
		memset(cur, 0, P);
		n = pread(u->fd, cur, P, (off_t)(u->pages[i] * P));
		if (n < 0 || memcmp(cur, u->old + (size_t)i * P, P) != 0)
			u->bad_order++;
	}
	u->batch_start = u->nsave;
	u->ncommit++;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void undo_case(uint64_t ssize, uint64_t dsize, int nchanges)
{
	struct pair p;
	struct rec_undo *u = calloc(1, sizeof(*u));
	struct delta_undo sink = { rec_save, rec_commit, NULL };
	struct delta_opts o;
	struct delta_stats st;
	uint64_t want[64], nwant = 0, pages, bytes;
	uint64_t sp = (ssize + P - 1) / P, dp = (dsize + P - 1) / P;

	T_ASSERT(u);
	u->old = malloc(4096 * (size_t)P);
	T_ASSERT(u->old);
	pair_alloc(&p, ssize, dsize);
	for (int i = 0; i < nchanges; i++) {
		uint64_t pg = (rnd() % (ssize / P)) | 1;
		p.s[pg * P + rnd() % P] ^= 0x21;
	}
	p.dhole[1] = true; /* a dst hole that gets written: pre-image zeros */
	T_ASSERT(pair_write(&p) == 0);
	expect(&p, &pages, &bytes);
	/* The pages that will change (differing within src's length, or past its end). */
	for (uint64_t pg = 0; pg < (sp > dp ? sp : dp); pg++) {
		unsigned char a[P], b[P];
		uint64_t off = pg * P;
		memset(a, 0, P);
		memset(b, 0, P);
		if (off < ssize && !p.shole[pg])
			memcpy(a, p.s + off, ssize - off < P ? ssize - off : P);
		if (off < dsize && !p.dhole[pg])
			memcpy(b, p.d + off, dsize - off < P ? dsize - off : P);
		if (pg >= sp || memcmp(a, b, P) != 0) {
			T_ASSERT(nwant < 64);
			want[nwant++] = pg;
		}
	}
	u->fd = open(dst_path, O_RDONLY);
	T_ASSERT(u->fd >= 0);
	sink.arg = u;
	memset(&o, 0, sizeof(o));
	o.undo = &sink;
	T_EQ_INT(run_sync(&o, &st), 0);
	close(u->fd);
	T_ASSERT(files_equal(src_path, dst_path));
	T_EQ_INT(st.pages_changed, pages);
	T_EQ_INT(u->bad_order, 0);
	T_ASSERT(u->ncommit >= 1);
	T_EQ_INT(u->batch_start, u->nsave); /* every save was committed */
	T_EQ_INT(u->nsave, nwant);
	{
		/* Same pages, each once, with the old dst contents. */
		uint64_t got[64];
		unsigned char *old = u->old;
		for (int i = 0; i < u->nsave; i++)
			got[i] = u->pages[i];
		qsort(got, (size_t)u->nsave, sizeof(got[0]), cmp_u64);
		for (uint64_t i = 0; i < nwant; i++)
			T_EQ_INT(got[i], want[i]);
		for (int i = 0; i < u->nsave; i++) {
			unsigned char b[P];
			uint64_t pg = u->pages[i], off = pg * P;
			memset(b, 0, P);
			if (off < dsize && !p.dhole[pg])
				memcpy(b, p.d + off, dsize - off < P ? dsize - off : P);
			T_ASSERT(memcmp(old + (size_t)i * P, b, P) == 0);
		}
	}
	free(u->old);
	free(u);
	pair_free(&p);
}

static void test_undo_same_size(void) { undo_case(3 * 1024 * 1024, 3 * 1024 * 1024, 20); }
static void test_undo_grow(void) { undo_case(1024 * 1024 + 20 * P + 300, 1024 * 1024 + 5, 10); }
static void test_undo_shrink(void) { undo_case(1024 * 1024 + 5, 1024 * 1024 + 30 * P + 99, 10); }

static int fail_commit(void *arg)
{
	(void)arg;
	return -EIO;
}

static int nop_save(void *arg, uint64_t page, const void *old)
{
	(void)arg;
	(void)page;
	(void)old;
	return 0;
}

static void test_undo_commit_failure_writes_nothing(void)
{
	struct pair p;
	struct delta_undo sink = { nop_save, fail_commit, NULL };
	struct delta_opts o;
	struct delta_stats st;
	uint64_t n;
	unsigned char *before, *after;

	pair_alloc(&p, 1024 * 1024, 1024 * 1024);
	p.s[5000] ^= 1;
	T_ASSERT(pair_write(&p) == 0);
	before = read_file(dst_path, &n);
	memset(&o, 0, sizeof(o));
	o.undo = &sink;
	T_EQ_INT(run_sync(&o, &st), -EIO);
	after = read_file(dst_path, &n);
	T_ASSERT(before && after && memcmp(before, after, (size_t)n) == 0);
	free(before);
	free(after);
	pair_free(&p);
}

/* --- progress, cancel, resume, bwlimit --------------------------------- */

struct prog {
	int calls, cancel_at;
	uint64_t last;
	bool monotonic;
};

static int on_progress(void *arg, const struct delta_stats *st)
{
	struct prog *pr = arg;
	pr->calls++;
	if (st->bytes_compared < pr->last)
		pr->monotonic = false;
	pr->last = st->bytes_compared;
	return pr->cancel_at && pr->calls >= pr->cancel_at;
}

static void test_cancel_and_resume(void)
{
	struct pair p;
	struct delta_opts o;
	struct delta_stats st;
	struct prog pr = { 0, 1, 0, true };
	uint64_t size = 48ull * 1024 * 1024, pages, bytes;

	pair_alloc(&p, size, size);
	for (int i = 0; i < 300; i++)
		p.s[rnd() % size] ^= 0x10;
	T_ASSERT(pair_write(&p) == 0);
	expect(&p, &pages, &bytes);
	memset(&o, 0, sizeof(o));
	o.progress = on_progress;
	o.progress_arg = &pr;
	T_EQ_INT(run_sync(&o, &st), -ECANCELED);
	T_EQ_INT(pr.calls, 1);
	/* The safe prefix may trail the 16 MiB of work done (a slow chunk holds
	 * it back); it is never past the work. */
	T_ASSERT(st.bytes_compared <= 17ull * 1024 * 1024);
	T_ASSERT(st.bytes_compared < size);
	T_EQ_INT(st.bytes_compared % P, 0);
	T_ASSERT(!files_equal(src_path, dst_path));
	{
		/* Everything before bytes_compared is final on dst. */
		uint64_t n;
		unsigned char *d = read_file(dst_path, &n);
		T_ASSERT(d && memcmp(d, p.s, (size_t)st.bytes_compared) == 0);
		free(d);
	}
	/* Resume from the checkpoint; total work adds up. */
	{
		uint64_t first_pages = st.pages_changed;
		struct prog pr2 = { 0, 0, 0, true };
		o.start_offset = st.bytes_compared;
		o.progress_arg = &pr2;
		T_EQ_INT(run_sync(&o, &st), 0);
		T_ASSERT(files_equal(src_path, dst_path));
		T_ASSERT(st.pages_changed + first_pages >= pages);
		T_ASSERT(pr2.calls >= 2); /* at least once mid-way and at the end */
		T_ASSERT(pr2.monotonic);
		T_EQ_INT(pr2.last, size);
	}
	pair_free(&p);
}

static void test_start_offset_skips(void)
{
	struct pair p;
	struct delta_opts o;
	struct delta_stats st;
	uint64_t size = 4 * 1024 * 1024;
	uint64_t n;
	unsigned char *d;

	pair_alloc(&p, size, size);
	p.s[10] ^= 1;            /* before the offset: left alone */
	p.s[size / 2 + 10] ^= 1; /* after: synced */
	T_ASSERT(pair_write(&p) == 0);
	memset(&o, 0, sizeof(o));
	o.start_offset = size / 2;
	T_EQ_INT(run_sync(&o, &st), 0);
	T_EQ_INT(st.pages_changed, 1);
	d = read_file(dst_path, &n);
	T_ASSERT(d);
	T_ASSERT(d[10] == p.d[10]);
	T_ASSERT(d[size / 2 + 10] == p.s[size / 2 + 10]);
	free(d);
	o.start_offset = 100; /* not a page multiple */
	T_EQ_INT(run_sync(&o, &st), -EINVAL);
	pair_free(&p);
}

static void test_bwlimit(void)
{
	struct pair p;
	struct delta_opts o;
	struct delta_stats st;
	uint64_t size = 2 * 1024 * 1024;
	struct timespec a, b;
	double secs;

	pair_alloc(&p, size, size);
	memset(p.d, 0x5a, size); /* everything differs: 2 MiB to send */
	T_ASSERT(pair_write(&p) == 0);
	memset(&o, 0, sizeof(o));
	o.bwlimit = 4 * 1024 * 1024; /* 0.5 s worth */
	clock_gettime(CLOCK_MONOTONIC, &a);
	T_EQ_INT(run_sync(&o, &st), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	T_ASSERT(files_equal(src_path, dst_path));
	T_EQ_INT(st.bytes_transferred, size);
	T_ASSERT(secs >= 0.4);
	T_ASSERT(secs < 3.0);
	pair_free(&p);
}

/* --- map mode ---------------------------------------------------------- */

static void fresh_map(const unsigned char *buf, uint64_t size, const bool *hole, struct blockmap **out)
{
	struct blockmap *m;
	if (blockmap_new(size, &m) < 0) {
		*out = NULL;
		return;
	}
	for (uint64_t pg = 0; pg < m->npages; pg++) {
		uint64_t len = size - pg * P < P ? size - pg * P : P;
		if (!hole || !hole[pg])
			blockmap_hash_page(buf + pg * P, len, &m->h[pg]);
	}
	/* an all-zero page hashes to the zero hash either way */
	*out = m;
}

static void test_map_mode(void)
{
	struct pair p;
	struct delta_opts o;
	struct delta_stats st;
	struct blockmap *m = NULL, *want = NULL;
	uint64_t size = 3 * 1024 * 1024 + 2000, np = (size + P - 1) / P;
	uint64_t changed[] = { 0, 5, 6, 300, np - 1 };

	pair_alloc(&p, size, size);
	p.shole[100] = p.dhole[100] = true;
	memset(p.s + 100 * P, 0, P); /* what the hole reads as */
	T_ASSERT(pair_write(&p) == 0);
	/* Compare mode with a map: the map is rebuilt from the result. */
	T_EQ_INT(blockmap_new(0, &m), 0);
	memset(&o, 0, sizeof(o));
	o.map = m;
	T_EQ_INT(run_sync(&o, &st), 0);
	fresh_map(p.s, size, p.shole, &want);
	T_ASSERT(want);
	T_EQ_INT(m->npages, want->npages);
	T_EQ_INT(m->disk_size, size);
	T_ASSERT(memcmp(m->h, want->h, np * sizeof(m->h[0])) == 0);
	blockmap_free(want);

	/* Change some pages (one to zeros), and corrupt a dst page the map does
	 * not know about: map mode must not read dst, so it must not notice. */
	for (unsigned i = 0; i < sizeof(changed) / sizeof(changed[0]); i++)
		p.s[changed[i] * P + 7] ^= 0x42;
	memset(p.s + 300 * P, 0, P);
	T_ASSERT(write_file(src_path, p.s, size, p.shole) == 0);
	{
		int fd = open(dst_path, O_RDWR);
		T_ASSERT(fd >= 0);
		T_ASSERT(pwrite(fd, "XYZ", 3, 50 * P) == 3);
		close(fd);
	}
	o.map_trusted = 1;
	T_EQ_INT(run_sync(&o, &st), 0);
	T_EQ_INT(st.pages_changed, 5);
	T_EQ_INT(st.bytes_transferred, 3 * P + (size % P)); /* page 300 zeroed */
	{
		uint64_t n;
		unsigned char *d = read_file(dst_path, &n);
		T_ASSERT(d && n == size);
		T_ASSERT(memcmp(d + 50 * P, "XYZ", 3) == 0); /* untouched */
		memcpy(d + 50 * P, p.s + 50 * P, 3);
		T_ASSERT(memcmp(d, p.s, size) == 0);
		free(d);
	}
	fresh_map(p.s, size, p.shole, &want);
	T_ASSERT(want);
	T_ASSERT(memcmp(m->h, want->h, np * sizeof(m->h[0])) == 0);
	blockmap_free(want);

	/* Unchanged source: nothing written. */
	T_EQ_INT(run_sync(&o, &st), 0);
	T_EQ_INT(st.pages_changed, 0);
	T_EQ_INT(st.bytes_transferred, 0);
	blockmap_free(m);
	pair_free(&p);
}

static void test_map_mode_resize_and_undo(void)
{
	struct pair p;
	struct delta_opts o;
	struct delta_stats st;
	struct blockmap *m = NULL, *want = NULL;
	struct rec_undo *u = calloc(1, sizeof(*u));
	struct delta_undo sink = { rec_save, rec_commit, NULL };
	uint64_t size = 1024 * 1024, nsize = 1024 * 1024 + 3 * P + 10;

	T_ASSERT(u);
	u->old = malloc(4096 * (size_t)P);
	T_ASSERT(u->old);
	pair_alloc(&p, nsize, size);
	memcpy(p.d, p.s, size);
	/* dst is src's first MiB; map built from it. */
	T_ASSERT(write_file(dst_path, p.s, size, NULL) == 0);
	T_ASSERT(write_file(src_path, p.s, nsize, NULL) == 0);
	fresh_map(p.s, size, NULL, &m);
	T_ASSERT(m);
	p.s[77 * P] ^= 1;
	T_ASSERT(write_file(src_path, p.s, nsize, NULL) == 0);
	memset(&o, 0, sizeof(o));
	o.map = m;
	o.map_trusted = 1;
	u->fd = open(dst_path, O_RDONLY);
	sink.arg = u;
	o.undo = &sink;
	T_EQ_INT(run_sync(&o, &st), 0);
	close(u->fd);
	T_ASSERT(files_equal(src_path, dst_path));
	T_EQ_INT(st.pages_changed, 5); /* page 77 and 4 new pages */
	T_EQ_INT(u->nsave, 5);
	T_EQ_INT(u->bad_order, 0);
	for (int i = 0; i < u->nsave; i++) {
		if (u->pages[i] == 77)
			T_ASSERT(memcmp(u->old + (size_t)i * P, p.d + 77 * P, P) == 0);
		else
			T_ASSERT(memcmp(u->old + (size_t)i * P, (unsigned char[P]){ 0 }, P) == 0);
	}
	fresh_map(p.s, nsize, NULL, &want);
	T_ASSERT(want);
	T_EQ_INT(m->npages, want->npages);
	T_ASSERT(memcmp(m->h, want->h, want->npages * sizeof(m->h[0])) == 0);
	blockmap_free(want);

	/* Shrink back through map mode. */
	T_ASSERT(write_file(src_path, p.s, size - 100, NULL) == 0);
	u->nsave = u->batch_start = 0;
	u->fd = open(dst_path, O_RDONLY);
	T_EQ_INT(run_sync(&o, &st), 0);
	close(u->fd);
	T_ASSERT(files_equal(src_path, dst_path));
	T_EQ_INT(u->bad_order, 0);
	T_EQ_INT(u->nsave, 4 + 1); /* 4 truncated pages + the now-short last page */
	fresh_map(p.s, size - 100, NULL, &want);
	T_ASSERT(want);
	T_EQ_INT(m->npages, want->npages);
	T_ASSERT(memcmp(m->h, want->h, want->npages * sizeof(m->h[0])) == 0);
	blockmap_free(want);
	blockmap_free(m);
	free(u->old);
	free(u);
	pair_free(&p);
}

/* --- randomized cross-check ---------------------------------------------- */

static void test_random_pairs(void)
{
	for (int round = 0; round < 30 && !t_failed_now; round++) {
		struct pair p;
		uint64_t ssize = rnd() % (3 * 1024 * 1024), dsize;
		uint64_t np;
		switch (rnd() % 3) {
		case 0: dsize = ssize; break;
		case 1: dsize = rnd() % (3 * 1024 * 1024); break;
		default: dsize = ssize + rnd() % 9000; break;
		}
		pair_alloc(&p, ssize, dsize);
		np = (ssize > dsize ? ssize : dsize) / P + 1;
		for (int i = 0; i < 50; i++)
			p.s[rnd() % (ssize + 1)] ^= 0x11;
		for (uint64_t i = 0; i < np; i++) {
			if (rnd() % 10 == 0)
				p.shole[i] = true;
			if (rnd() % 10 == 0)
				p.dhole[i] = true;
			if (rnd() % 20 == 0 && (i + 1) * P <= ssize)
				memset(p.s + i * P, 0, P);
		}
		check_pair(&p);
		pair_free(&p);
	}
}

static void run_all(void)
{
	T_RUN(test_identical);
	T_RUN(test_first_and_last_byte);
	T_RUN(test_scattered);
	T_RUN(test_src_larger);
	T_RUN(test_src_smaller);
	T_RUN(test_src_smaller_same_prefix_tail_in_page);
	T_RUN(test_one_byte);
	T_RUN(test_empty);
	T_RUN(test_holes);
	T_RUN(test_zero_pages);
	T_RUN(test_full_copy_keeps_holes);
	T_RUN(test_undo_same_size);
	T_RUN(test_undo_grow);
	T_RUN(test_undo_shrink);
	T_RUN(test_undo_commit_failure_writes_nothing);
	T_RUN(test_cancel_and_resume);
	T_RUN(test_start_offset_skips);
	T_RUN(test_map_mode);
	T_RUN(test_map_mode_resize_and_undo);
	T_RUN(test_random_pairs);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/asrfs-delta-test.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(src_path, sizeof(src_path), "%s/src", dir);
	snprintf(dst_path, sizeof(dst_path), "%s/dst", dir);
	printf("# threads=2\n");
	threads_now = 2;
	run_all();
	printf("# threads=1\n");
	threads_now = 1;
	run_all();
	printf("# threads=3\n");
	threads_now = 3;
	T_RUN(test_random_pairs);
	T_RUN(test_undo_shrink);
	T_RUN(test_bwlimit);
	printf("# threads=3, a writer per worker\n");
	parallel_dst = true;
	run_all();
	unlink(src_path);
	unlink(dst_path);
	rmdir(dir);
	T_DONE();
}
