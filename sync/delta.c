/*
 * delta.c - the delta engine (see delta.h): make dst equal to src moving only
 * the 4 KiB pages that differ.  asrfs-delta calls it on plain files and block
 * devices; core/ calls it for every replication cycle with a block map and an
 * undo sink that keeps recovery points' pre-images.
 *
 * How it goes fast.  The disk is cut into page-aligned chunks that worker
 * threads claim in order: 256 KiB, so a worker's source and destination
 * buffers stay in its core's L2 between the kernel's copy and the compare
 * (measured: 512 KiB chunks cost a third more), or 4 MiB when either side is
 * BACKEND_REMOTE, where each read or write is a round trip.  A worker takes
 * a free slot (a pair of chunk buffers), reads its chunk of the source and, in compare mode, of the
 * destination, and compares them page by page with memcmp while they are
 * still in that core's cache (map mode instead hashes each source page with
 * XXH3-128 and compares with the map, never reading dst).  So with two
 * workers both files are read on both cores at once.  Holes are found with
 * bd_next_data() (cached per worker, so a fully allocated file costs two
 * lseeks in total) and never read: they are zeros.
 *
 * Writing.  Writes to one file serialise in the kernel anyway (the inode
 * lock; two writers only spin on it), so a chunk with changes is queued and
 * one worker at a time acts as the writer (a destination whose backend says
 * BACKEND_REMOTE, where each write is a round trip, gets a writer per
 * worker when there is no undo sink): for each queued chunk it hands the
 * old destination pages to the undo sink's save() (zeros for holes / past the
 * old end), calls commit() once, then writes runs of changed pages with one
 * pwrite each and punches runs of source-zero pages with bd_zero().  The
 * other worker keeps reading meanwhile (two slots per worker).  The sink thus
 * sees one batch at a time, always committed before its pages are touched.
 *
 * Progress runs under the engine lock, never concurrently, every 4 MiB of
 * work, and reports as bytes_compared the end of the contiguous prefix of
 * finished chunks: everything before it is final on dst, so it is a valid
 * start_offset for a resumed run.
 *
 * Size changes: a growing dst is truncated up first (the new tail reads as
 * zeros); a shrinking dst keeps its size during the pass (its old last
 * partial page is compared whole, tail included), then the pages past the
 * new end are given to the undo sink and dst is truncated down.
 */
#define _GNU_SOURCE
#include "delta.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "blockmap.h"

#define PAGE ((uint64_t)DELTA_PAGE)
#ifndef DELTA_CHUNK
#define DELTA_CHUNK (256u * 1024u) /* local: src+dst buffers of a worker fit in L2 */
#endif
#define REMOTE_CHUNK (4ull << 20)  /* a remote side: few, large requests */
#define MAX_CHUNK (REMOTE_CHUNK > DELTA_CHUNK ? REMOTE_CHUNK : (uint64_t)DELTA_CHUNK)
#define CHUNK_PAGES ((unsigned)(MAX_CHUNK / PAGE))
#define PROGRESS_STEP (4ull << 20)
#define MAX_THREADS 16
#define IDLE UINT64_MAX

static const unsigned char zero_page[DELTA_PAGE];

/* What a worker knows of a disk's allocation: a query at q found data in
 * [s, e) (none: nothing but holes from q on); [q, s) is a hole. */
struct extcache {
	bool valid, none;
	uint64_t q, s, e;
};

struct job;

/* One chunk's buffers and verdicts; a worker fills a slot, the writer
 * empties it. */
struct slot {
	uint64_t idx;                         /* chunk, IDLE when the slot is free */
	uint64_t off;                         /* its first byte */
	unsigned npages;
	unsigned changed;                     /* pages with op != OP_NONE */
	uint64_t nread;                       /* source bytes read */
	unsigned char *sbuf, *dbuf;           /* j->chunk bytes each, in j->arena */
	unsigned char sdata[CHUNK_PAGES];     /* page holds source data (was read) */
	unsigned char ddata[CHUNK_PAGES];     /* page holds destination data (was read) */
	unsigned char op[CHUNK_PAGES];        /* OP_* per page */
	XXH128_canonical_t hash[CHUNK_PAGES]; /* new map entries (map kept) */
	struct slot *next;                    /* free list / write queue */
};

struct worker {
	struct job *job;
	pthread_t tid;
	bool started;
	struct extcache sx, dx;
};

enum { OP_NONE, OP_WRITE, OP_ZERO };

struct job {
	struct bdisk *src, *dst;
	const struct delta_opts *opts;
	const struct delta_undo *undo;
	struct blockmap *map;
	bool map_mode; /* hash compare against the map, dst not read */
	const struct delta_pages *pages; /* pages mode: ship these, dst not read */
	uint64_t size;     /* source size = final dst size */
	uint64_t dst_size; /* dst size during the pass */
	uint64_t start;    /* first byte of the pass */
	uint64_t chunk;    /* bytes a slot holds: DELTA_CHUNK or REMOTE_CHUNK */
	uint64_t nchunks;
	struct timespec t0;
	int nworkers, nslots;
	struct worker *w;
	struct slot *slots;
	void *arena; /* every slot's buffers */

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;  /* a slot freed or queued, the writer idle, an error */
	uint64_t next;        /* next chunk to claim */
	struct slot *free;    /* free slots */
	struct slot *qhead, *qtail; /* chunks with changes, waiting for the writer */
	int writers;          /* workers writing now */
	int max_writers;      /* 1, or nworkers for a parallel-write dst without undo */
	int err;       /* first error, or -ECANCELED; stops the workers */
	uint64_t work_done;     /* bytes of finished chunks, in any order */
	uint64_t next_progress; /* call progress when work_done reaches this */
	struct delta_stats st;

	pthread_mutex_t bw_lock;
	double bw_tokens, bw_last;
};

static double now_s(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* True when len bytes (a multiple of 64) are all zero; stops at the first
 * non-zero word, so data pages cost a few loads. */
static bool is_zero(const unsigned char *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	for (size_t i = 0; i < len / 8; i += 8) {
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	}
	return true;
}

/* Token bucket on bytes written to dst: sleep until n bytes may go. */
static void throttle(struct job *j, uint64_t n)
{
	double rate = (double)j->opts->bwlimit, burst, wait = 0, t;

	if (!j->opts->bwlimit || !n)
		return;
	burst = rate / 8 < 65536 ? 65536 : rate / 8;
	pthread_mutex_lock(&j->bw_lock);
	t = now_s(&j->t0);
	j->bw_tokens += (t - j->bw_last) * rate;
	if (j->bw_tokens > burst)
		j->bw_tokens = burst;
	j->bw_last = t;
	j->bw_tokens -= (double)n;
	if (j->bw_tokens < 0)
		wait = -j->bw_tokens / rate;
	pthread_mutex_unlock(&j->bw_lock);
	if (wait > 0) {
		struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

/* Mark in flags[] the pages of [off, end) that hold data on d (end is the
 * page-rounded chunk end; pages overlapping any data are marked). */
static int map_data(struct bdisk *d, struct extcache *c, uint64_t off, uint64_t end,
		    unsigned char *flags)
{
	uint64_t pos = off;

	memset(flags, 0, (size_t)((end - off) / PAGE));
	while (pos < end) {
		if (!(c->valid && c->q <= pos && (c->none || pos < c->e))) {
			int rc = bd_next_data(d, pos, &c->s, &c->e);
			c->valid = true;
			c->q = pos;
			c->none = false;
			if (rc == -ENXIO) {
				c->none = true;
			} else if (rc < 0) {
				c->valid = false;
				return rc;
			} else if (c->e <= c->s || c->s < pos) {
				/* Nonsense from the medium: treat the rest as data. */
				c->s = pos;
				c->e = UINT64_MAX;
			}
		}
		if (c->none)
			break;
		if (pos < c->s) {
			pos = c->s < end ? c->s : end;
			continue;
		}
		{
			uint64_t e = c->e < end ? c->e : end;
			uint64_t a = (pos - off) / PAGE, b = (e - off + PAGE - 1) / PAGE;
			memset(flags + a, 1, (size_t)(b - a));
			pos = e;
		}
	}
	return 0;
}

/* Read the marked pages of the chunk at off (npages pages) from d, whose size
 * is limit; bytes past limit read as zeros.  Unmarked pages are not touched. */
static int read_marked(struct bdisk *d, uint64_t limit, uint64_t off, unsigned npages,
		       const unsigned char *flags, unsigned char *buf)
{
	unsigned a = 0;

	while (a < npages) {
		unsigned b;
		uint64_t from, to;
		ssize_t n;

		if (!flags[a]) {
			a++;
			continue;
		}
		for (b = a + 1; b < npages && flags[b]; b++)
			;
		from = off + a * PAGE;
		to = off + b * PAGE;
		if (to > limit)
			to = limit;
		n = 0;
		if (from < to) {
			n = bd_pread(d, buf + a * PAGE, (size_t)(to - from), from);
			if (n < 0)
				return (int)n;
		}
		/* Short read (end of disk): the rest of the run reads as zeros. */
		if ((uint64_t)n < (uint64_t)(b - a) * PAGE)
			memset(buf + a * PAGE + n, 0, (size_t)((b - a) * PAGE - (uint64_t)n));
		a = b;
	}
	return 0;
}

/* Decide what each page of the chunk needs: fills sl->op[], sl->changed
 * and, when a map is kept, sl->hash[]. */
static void classify(struct job *j, struct slot *sl)
{
	const XXH128_canonical_t *zh = blockmap_zero_hash();
	uint64_t first_page = sl->off / PAGE;
	unsigned changed = 0;

	for (unsigned i = 0; i < sl->npages; i++) {
		const unsigned char *sp = sl->sbuf + i * PAGE;
		bool szero;
		unsigned char op = OP_NONE;

		if (j->pages) {
			if (sl->sdata[i]) {
				szero = is_zero(sp, PAGE);
				op = szero ? OP_ZERO : OP_WRITE;
				if (szero)
					sl->hash[i] = *zh;
				else
					blockmap_hash_page(sp, PAGE, &sl->hash[i]);
			}
		} else if (j->map_mode) {
			const XXH128_canonical_t *old = &j->map->h[first_page + i];
			szero = !sl->sdata[i] || is_zero(sp, PAGE);
			if (szero)
				sl->hash[i] = *zh;
			else
				blockmap_hash_page(sp, PAGE, &sl->hash[i]);
			if (memcmp(&sl->hash[i], old, sizeof(*old)) != 0)
				op = szero ? OP_ZERO : OP_WRITE;
		} else {
			const unsigned char *dp = sl->dbuf + i * PAGE;
			if (sl->sdata[i] && sl->ddata[i]) {
				if (memcmp(sp, dp, PAGE) != 0) {
					szero = is_zero(sp, PAGE);
					op = szero ? OP_ZERO : OP_WRITE;
				} else {
					szero = !j->map || is_zero(sp, PAGE);
				}
			} else if (sl->sdata[i]) {
				szero = is_zero(sp, PAGE);
				if (!szero)
					op = OP_WRITE;
			} else {
				szero = true;
				if (sl->ddata[i] && !is_zero(dp, PAGE))
					op = OP_ZERO;
			}
			if (j->map) {
				if (szero)
					sl->hash[i] = *zh;
				else
					blockmap_hash_page(sp, PAGE, &sl->hash[i]);
			}
		}
		sl->op[i] = op;
		changed += op != OP_NONE;
	}
	sl->changed = changed;
}

/* Hand the pre-images of the changed pages to the undo sink and commit.
 * Only the writer calls this, so the sink sees one batch at a time. */
static int save_undo(struct job *j, struct slot *sl)
{
	const struct delta_undo *u = j->undo;
	uint64_t first_page = sl->off / PAGE;
	unsigned npages = sl->npages;
	int rc = 0;

	if (j->map_mode || j->pages) {
		/* dst was not read: fetch just the pages about to change. */
		memset(sl->ddata, 0, npages);
		for (unsigned a = 0, b; a < npages; a = b) {
			if (sl->op[a] == OP_NONE) {
				b = a + 1;
				continue;
			}
			for (b = a + 1; b < npages && sl->op[b] != OP_NONE; b++)
				;
			memset(sl->ddata + a, 1, b - a);
			rc = read_marked(j->dst, j->dst_size, sl->off + a * PAGE, b - a, sl->ddata + a,
					 sl->dbuf + a * PAGE);
			if (rc < 0)
				return rc;
		}
	}
	for (unsigned i = 0; i < npages && rc == 0; i++) {
		if (sl->op[i] == OP_NONE)
			continue;
		rc = u->save(u->arg, first_page + i, sl->ddata[i] ? sl->dbuf + i * PAGE : zero_page);
	}
	if (rc == 0)
		rc = u->commit(u->arg);
	return rc > 0 ? -EIO : rc;
}

/* Write runs of OP_WRITE pages and punch runs of OP_ZERO pages. */
static int apply(struct job *j, struct slot *sl, uint64_t *sent)
{
	for (unsigned a = 0, b; a < sl->npages; a = b) {
		unsigned char op = sl->op[a];
		uint64_t from, to;

		for (b = a + 1; b < sl->npages && sl->op[b] == op; b++)
			;
		if (op == OP_NONE)
			continue;
		from = sl->off + a * PAGE;
		to = sl->off + b * PAGE;
		if (op == OP_WRITE) {
			ssize_t n;
			if (to > j->size)
				to = j->size;
			throttle(j, to - from);
			n = bd_pwrite(j->dst, sl->sbuf + a * PAGE, (size_t)(to - from), from);
			if (n < 0)
				return (int)n;
			if ((uint64_t)n != to - from)
				return -EIO;
			*sent += to - from;
		} else {
			int rc = bd_zero(j->dst, from, to - from);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Pages mode: flag the pages of [off, pend) the caller wants shipped. */
static int mark_pages(struct job *j, uint64_t off, uint64_t pend, unsigned char *flags)
{
	uint64_t p = off / PAGE, last = pend / PAGE, f, e;

	memset(flags, 0, (size_t)(last - p));
	while (p < last) {
		int rc = j->pages->next(j->pages->arg, p, &f, &e);
		if (rc == -ENXIO || (rc == 0 && f >= last))
			break;
		if (rc < 0)
			return rc;
		if (f < p)
			f = p;
		if (e > last)
			e = last;
		memset(flags + (f - off / PAGE), 1, (size_t)(e - f));
		p = e;
	}
	return 0;
}

/* Read and compare the chunk in sl (sl->idx set). */
static int scan_chunk(struct worker *w, struct slot *sl)
{
	struct job *j = w->job;
	uint64_t off = j->start + sl->idx * j->chunk;
	uint64_t end = off + j->chunk < j->size ? off + j->chunk : j->size;
	uint64_t pend = (end + PAGE - 1) / PAGE * PAGE; /* page-rounded */
	int rc;

	sl->off = off;
	sl->npages = (unsigned)((pend - off) / PAGE);
	if (j->pages)
		rc = mark_pages(j, off, pend, sl->sdata);
	else
		rc = map_data(j->src, &w->sx, off, pend, sl->sdata);
	if (rc == 0)
		rc = read_marked(j->src, j->size, off, sl->npages, sl->sdata, sl->sbuf);
	sl->nread = 0;
	for (unsigned i = 0; i < sl->npages; i++)
		sl->nread += sl->sdata[i] ? PAGE : 0;
	if (rc == 0 && !j->map_mode && !j->pages) {
		rc = map_data(j->dst, &w->dx, off, pend, sl->ddata);
		if (rc == 0)
			rc = read_marked(j->dst, j->dst_size, off, sl->npages, sl->ddata, sl->dbuf);
	}
	if (rc < 0)
		return rc;
	if (j->map_mode || j->pages)
		memset(sl->ddata, 0, sl->npages);
	classify(j, sl);
	return 0;
}

/* Save pre-images, write, update the map. */
static int write_chunk(struct job *j, struct slot *sl, uint64_t *sent)
{
	int rc;

	if (j->undo) {
		rc = save_undo(j, sl);
		if (rc < 0)
			return rc;
	}
	return apply(j, sl, sent);
}

/* With j->lock held: the end of the contiguous run of finished chunks. */
static uint64_t done_prefix(struct job *j)
{
	uint64_t lo = j->next;
	for (int i = 0; i < j->nslots; i++)
		if (j->slots[i].idx < lo)
			lo = j->slots[i].idx;
	lo = j->start + lo * j->chunk;
	return lo < j->size ? lo : j->size;
}

/* With j->lock held: chunk in sl is done (written or unchanged); account for
 * it, free the slot, report progress. */
static void finish_chunk(struct job *j, struct slot *sl, uint64_t sent)
{
	uint64_t len = j->size - sl->off < j->chunk ? j->size - sl->off : j->chunk;

	if (j->map)
		memcpy(&j->map->h[sl->off / PAGE], sl->hash, sl->npages * sizeof(sl->hash[0]));
	if (j->opts->chunk_done)
		j->opts->chunk_done(j->opts->chunk_arg, sl->off / PAGE, sl->npages, j->pages ? sl->sdata : NULL,
				    j->pages ? sl->hash : NULL);
	j->st.bytes_read += sl->nread;
	j->work_done += len;
	j->st.bytes_transferred += sent;
	j->st.pages_changed += sl->changed;
	sl->idx = IDLE;
	sl->next = j->free;
	j->free = sl;
	j->st.bytes_compared = done_prefix(j);
	/* Paced by work done, so a stalled chunk cannot starve the callback
	 * (and cancel); reports the safe prefix. */
	if (!j->err && j->opts->progress && j->work_done >= j->next_progress &&
	    j->work_done < j->size - j->start) {
		j->next_progress = j->work_done + PROGRESS_STEP;
		j->st.seconds = now_s(&j->t0);
		if (j->opts->progress(j->opts->progress_arg, &j->st))
			j->err = -ECANCELED;
	}
	pthread_cond_broadcast(&j->cond);
}

/*
 * A worker loop.  Writes to one file serialise in the kernel (the inode
 * lock), so rather than two threads spinning on it, one worker at a time is
 * the writer: it drains the queue of chunks with changes while the other
 * keeps reading and comparing into free slots.  Writing goes first when
 * possible, so slots come back quickly.
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	int rc;

	pthread_mutex_lock(&j->lock);
	while (!j->err) {
		struct slot *sl;

		if (j->qhead && j->writers < j->max_writers) {
			uint64_t sent = 0;
			sl = j->qhead;
			j->qhead = sl->next;
			if (!j->qhead)
				j->qtail = NULL;
			j->writers++;
			pthread_mutex_unlock(&j->lock);
			rc = write_chunk(j, sl, &sent);
			pthread_mutex_lock(&j->lock);
			j->writers--;
			if (rc < 0) {
				if (!j->err)
					j->err = rc; /* sl stays busy: it bounds the prefix */
				break;
			}
			finish_chunk(j, sl, sent);
			continue;
		}
		if (j->pages && j->next < j->nchunks && j->free) {
			/* pages mode: on to the next chunk that has a page to ship */
			uint64_t f, e, pg = (j->start + j->next * j->chunk) / PAGE;
			rc = j->pages->next(j->pages->arg, pg, &f, &e);
			if (rc == -ENXIO) {
				j->next = j->nchunks;
			} else if (rc < 0) {
				if (!j->err)
					j->err = rc;
				break;
			} else if ((f * PAGE - j->start) / j->chunk > j->next) {
				j->next = (f * PAGE - j->start) / j->chunk;
			}
			if (j->next >= j->nchunks)
				continue;
		}
		if (j->next < j->nchunks && j->free) {
			sl = j->free;
			j->free = sl->next;
			sl->idx = j->next++;
			pthread_mutex_unlock(&j->lock);
			rc = scan_chunk(w, sl);
			pthread_mutex_lock(&j->lock);
			if (rc < 0) {
				if (!j->err)
					j->err = rc;
				break;
			}
			if (sl->changed) {
				sl->next = NULL;
				if (j->qtail)
					j->qtail->next = sl;
				else
					j->qhead = sl;
				j->qtail = sl;
				pthread_cond_broadcast(&j->cond);
			} else {
				finish_chunk(j, sl, 0);
			}
			continue;
		}
		if (j->next >= j->nchunks && !j->qhead)
			break; /* nothing left to claim or write (a writer may finish its last) */
		pthread_cond_wait(&j->cond, &j->lock);
	}
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* Save the pages of dst past the new end (from page first on) and commit. */
static int save_tail(struct job *j, struct worker *w, struct slot *sl, uint64_t first_page)
{
	const struct delta_undo *u = j->undo;
	uint64_t off = first_page * PAGE;
	int rc = 0;

	w->dx.valid = false;
	while (off < j->dst_size && rc == 0) {
		uint64_t end = off + j->chunk < j->dst_size ? off + j->chunk : j->dst_size;
		uint64_t pend = (end + PAGE - 1) / PAGE * PAGE;
		unsigned npages = (unsigned)((pend - off) / PAGE);

		rc = map_data(j->dst, &w->dx, off, pend, sl->ddata);
		if (rc == 0)
			rc = read_marked(j->dst, j->dst_size, off, npages, sl->ddata, sl->dbuf);
		for (unsigned i = 0; i < npages && rc == 0; i++)
			rc = u->save(u->arg, off / PAGE + i, sl->ddata[i] ? sl->dbuf + i * PAGE : zero_page);
		if (rc == 0)
			rc = u->commit(u->arg);
		off = pend;
	}
	return rc > 0 ? -EIO : rc;
}

static void free_job(struct job *j)
{
	free(j->arena);
	free(j->slots);
	free(j->w);
}

/* Workers and their slots: two slots a worker, so one can wait for the
 * writer while the next chunk is read (map mode reads dst only for an undo
 * sink: no dbuf without one).  All chunk buffers are one arena backed by
 * huge pages where the kernel offers them (madvise): on a virtual machine
 * a page fault costs ~20 us, so faulting in 2 MiB of fresh buffers 4 KiB
 * at a time costs ~10 ms, as long as comparing 128 MiB of disk takes. */
static int alloc_job(struct job *j, int nthreads)
{
	const size_t huge = 2u << 20;
	int dbufs = (!j->map_mode && !j->pages) || j->undo;
	size_t per = (size_t)j->chunk * (dbufs ? 2 : 1), len;
	unsigned char *a;

	j->w = calloc((size_t)nthreads, sizeof(*j->w));
	j->nslots = 2 * nthreads;
	j->slots = calloc((size_t)j->nslots, sizeof(*j->slots));
	if (!j->w || !j->slots)
		return -ENOMEM;
	len = (per * (size_t)j->nslots + huge - 1) / huge * huge;
	if (posix_memalign(&j->arena, huge, len))
		return -ENOMEM;
	(void)madvise(j->arena, len, MADV_HUGEPAGE); /* a hint; fine if refused */
	a = j->arena;
	for (int i = 0; i < nthreads; i++)
		j->w[i].job = j;
	for (int i = 0; i < j->nslots; i++) {
		struct slot *sl = &j->slots[i];
		sl->idx = IDLE;
		sl->sbuf = a + (size_t)i * per;
		sl->dbuf = dbufs ? sl->sbuf + j->chunk : NULL;
		sl->next = j->free;
		j->free = sl;
	}
	j->nworkers = nthreads;
	return 0;
}

int delta_sync(struct bdisk *src, struct bdisk *dst, const struct delta_opts *opts,
	       struct delta_stats *stats)
{
	static const struct delta_opts defaults;
	struct job j;
	int nthreads = 0, locks = 0, rc;

	memset(&j, 0, sizeof(j));
	if (!opts)
		opts = &defaults;
	clock_gettime(CLOCK_MONOTONIC, &j.t0);
	j.src = src;
	j.dst = dst;
	j.opts = opts;
	j.undo = opts->undo;
	j.map = opts->map;
	j.map_mode = opts->map && opts->map_trusted;
	j.pages = opts->pages;
	if ((j.undo && (!j.undo->save || !j.undo->commit)) || opts->start_offset % PAGE ||
	    (j.pages && (j.map || !j.pages->next))) {
		rc = -EINVAL;
		goto out;
	}
	rc = bd_size(src, &j.size);
	if (rc == 0)
		rc = bd_size(dst, &j.dst_size);
	if (rc < 0)
		goto out;
	j.st.bytes_total = j.size;
	j.start = opts->start_offset < j.size ? opts->start_offset : j.size;
	j.chunk = ((src->ops->flags | dst->ops->flags) & BACKEND_REMOTE) ? REMOTE_CHUNK : DELTA_CHUNK;
	j.nchunks = (j.size - j.start + j.chunk - 1) / j.chunk;
	j.next_progress = PROGRESS_STEP;
	j.st.bytes_compared = j.start;
	if (j.map) {
		rc = blockmap_resize(j.map, j.size);
		if (rc < 0)
			goto out;
	}
	if (j.dst_size < j.size) {
		/* Grow first: the new tail reads as zeros, the pre-image it has. */
		rc = bd_truncate(dst, j.size);
		if (rc < 0)
			goto out;
		j.dst_size = j.size;
	}

	/* Two workers, one a core; four against a remote side, where a worker
	 * mostly waits for its request. */
	nthreads = opts->threads > 0 ? opts->threads : j.chunk == REMOTE_CHUNK ? 4 : 2;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	if ((uint64_t)nthreads > j.nchunks)
		nthreads = j.nchunks ? (int)j.nchunks : 1;
	rc = alloc_job(&j, nthreads);
	if (rc < 0)
		goto out;
	/* The undo sink must see one batch at a time: one writer then. */
	j.max_writers = !j.undo && (dst->ops->flags & BACKEND_REMOTE) ? j.nworkers : 1;
	rc = -ENOMEM;
	if (pthread_mutex_init(&j.lock, NULL) != 0)
		goto out;
	locks = 1;
	if (pthread_mutex_init(&j.bw_lock, NULL) != 0)
		goto out;
	locks = 2;
	if (pthread_cond_init(&j.cond, NULL) != 0)
		goto out;
	locks = 3;
	/* Worker 0 is this thread; a thread that cannot start just leaves more
	 * chunks for the others. */
	for (int i = 1; i < nthreads; i++)
		j.w[i].started = pthread_create(&j.w[i].tid, NULL, worker_main, &j.w[i]) == 0;
	worker_main(&j.w[0]);
	for (int i = 1; i < nthreads; i++)
		if (j.w[i].started)
			pthread_join(j.w[i].tid, NULL);
	rc = j.err;
	if (rc < 0)
		goto out;
	j.st.bytes_compared = j.size;

	if (j.dst_size > j.size) {
		if (j.undo) {
			rc = save_tail(&j, &j.w[0], &j.slots[0], (j.size + PAGE - 1) / PAGE);
			if (rc < 0)
				goto out;
		}
		rc = bd_truncate(dst, j.size);
		if (rc < 0)
			goto out;
		j.dst_size = j.size;
	}
	j.st.seconds = now_s(&j.t0);
	if (opts->progress)
		opts->progress(opts->progress_arg, &j.st); /* done: nothing left to cancel */
	rc = 0;
out:
	j.st.seconds = now_s(&j.t0);
	if (stats)
		*stats = j.st;
	free_job(&j);
	if (locks >= 3)
		pthread_cond_destroy(&j.cond);
	if (locks >= 2)
		pthread_mutex_destroy(&j.bw_lock);
	if (locks >= 1)
		pthread_mutex_destroy(&j.lock);
	return rc;
}
