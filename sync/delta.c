/*
 * delta.c - the delta engine (see delta.h): make dst equal to src moving only
 * the 4 KiB pages that differ.  asrfs-delta calls it on plain files and block
 * devices; core/ calls it for every replication cycle with a block map and an
 * undo sink that keeps recovery points' pre-images.
 *
 * How it goes fast.  The disk is cut into chunks (CHUNK bytes, page
 * aligned) that worker threads claim in order.  A worker reads its chunk of
 * the source and, in compare mode, the same chunk of the destination into its
 * own two buffers, compares them page by page with memcmp (map mode instead
 * hashes each source page with XXH3-128 and compares with the map), then
 * applies the differences.  Each worker runs the whole read-compare-apply
 * pipeline for its chunk, so with two workers both files are read on both
 * cores at once and the compare runs while the chunk is still in that core's
 * cache.  Holes are found with bd_next_data()
 * (cached per worker, so a fully allocated file costs two lseeks in total)
 * and never read: they are zeros.
 *
 * Applying a chunk: for every changed page, the undo sink's save() gets the
 * old destination page (zeros for holes / past the old end), then commit()
 * once, then runs of changed pages are written with one pwrite each and runs
 * of source pages that are zero where the destination holds data are punched
 * with bd_zero().  save/commit run under the engine lock, so the sink sees
 * one batch at a time; the writes themselves run unlocked (chunks are
 * disjoint).  The progress callback also runs under the lock, never
 * concurrently, and reports the end of the contiguous prefix of finished
 * chunks as bytes_compared: everything before it is final on dst, so it is a
 * valid start_offset for a resumed run.
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
#include <time.h>

#include "blockmap.h"

#define PAGE ((uint64_t)DELTA_PAGE)
#ifndef DELTA_CHUNK
#define DELTA_CHUNK (512u * 1024u) /* src+dst buffers of a worker fit in L2 */
#endif
#define CHUNK ((uint64_t)DELTA_CHUNK)
#define CHUNK_PAGES ((unsigned)(CHUNK / PAGE))
#define PROGRESS_STEP (16ull << 20)
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

struct worker {
	struct job *job;
	pthread_t tid;
	bool started;
	unsigned char *sbuf, *dbuf;           /* CHUNK bytes each, page aligned */
	unsigned char sdata[CHUNK_PAGES];     /* page holds source data (was read) */
	unsigned char ddata[CHUNK_PAGES];     /* page holds destination data (was read) */
	unsigned char op[CHUNK_PAGES];        /* OP_* per page */
	XXH128_canonical_t hash[CHUNK_PAGES]; /* new map entries (map kept) */
	struct extcache sx, dx;
	uint64_t cur; /* chunk in hand, IDLE when none */
};

enum { OP_NONE, OP_WRITE, OP_ZERO };

struct job {
	struct bdisk *src, *dst;
	const struct delta_opts *opts;
	const struct delta_undo *undo;
	struct blockmap *map;
	bool map_mode; /* hash compare against the map, dst not read */
	uint64_t size;     /* source size = final dst size */
	uint64_t dst_size; /* dst size during the pass */
	uint64_t start;    /* first byte of the pass */
	uint64_t nchunks;
	struct timespec t0;

	pthread_mutex_t lock; /* everything below */
	uint64_t next;        /* next chunk to claim */
	int nworkers;
	struct worker *w;
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

/* Decide what each page of the chunk needs.  Returns the number of changed
 * pages; fills w->op[] and, when a map is kept, w->hash[]. */
static unsigned classify(struct worker *w, uint64_t first_page, unsigned npages)
{
	struct job *j = w->job;
	const XXH128_canonical_t *zh = blockmap_zero_hash();
	unsigned changed = 0;

	for (unsigned i = 0; i < npages; i++) {
		const unsigned char *sp = w->sbuf + i * PAGE, *dp = w->dbuf + i * PAGE;
		bool szero;
		unsigned char op = OP_NONE;

		if (j->map_mode) {
			const XXH128_canonical_t *old = &j->map->h[first_page + i];
			szero = !w->sdata[i] || is_zero(sp, PAGE);
			if (szero)
				w->hash[i] = *zh;
			else
				blockmap_hash_page(sp, PAGE, &w->hash[i]);
			if (memcmp(&w->hash[i], old, sizeof(*old)) != 0)
				op = szero ? OP_ZERO : OP_WRITE;
		} else {
			if (w->sdata[i] && w->ddata[i]) {
				if (memcmp(sp, dp, PAGE) != 0) {
					szero = is_zero(sp, PAGE);
					op = szero ? OP_ZERO : OP_WRITE;
				} else {
					szero = !j->map || is_zero(sp, PAGE);
				}
			} else if (w->sdata[i]) {
				szero = is_zero(sp, PAGE);
				if (!szero)
					op = OP_WRITE;
			} else {
				szero = true;
				if (w->ddata[i] && !is_zero(dp, PAGE))
					op = OP_ZERO;
			}
			if (j->map) {
				if (szero)
					w->hash[i] = *zh;
				else
					blockmap_hash_page(sp, PAGE, &w->hash[i]);
			}
		}
		w->op[i] = op;
		changed += op != OP_NONE;
	}
	return changed;
}

/* Hand the pre-images of the changed pages to the undo sink and commit. */
static int save_undo(struct worker *w, uint64_t off, unsigned npages)
{
	struct job *j = w->job;
	const struct delta_undo *u = j->undo;
	uint64_t first_page = off / PAGE;
	int rc = 0;

	if (j->map_mode) {
		/* dst was not read: fetch just the pages about to change. */
		for (unsigned a = 0, b; a < npages; a = b) {
			if (w->op[a] == OP_NONE) {
				b = a + 1;
				continue;
			}
			for (b = a + 1; b < npages && w->op[b] != OP_NONE; b++)
				;
			memset(w->ddata + a, 1, b - a);
			rc = read_marked(j->dst, j->dst_size, off + a * PAGE, b - a, w->ddata + a,
					 w->dbuf + a * PAGE);
			if (rc < 0)
				return rc;
		}
	}
	pthread_mutex_lock(&j->lock);
	for (unsigned i = 0; i < npages && rc == 0; i++) {
		if (w->op[i] == OP_NONE)
			continue;
		rc = u->save(u->arg, first_page + i, w->ddata[i] ? w->dbuf + i * PAGE : zero_page);
	}
	if (rc == 0)
		rc = u->commit(u->arg);
	pthread_mutex_unlock(&j->lock);
	return rc > 0 ? -EIO : rc;
}

/* Write runs of OP_WRITE pages and punch runs of OP_ZERO pages. */
static int apply(struct worker *w, uint64_t off, unsigned npages, uint64_t *sent)
{
	struct job *j = w->job;

	for (unsigned a = 0, b; a < npages; a = b) {
		unsigned char op = w->op[a];
		uint64_t from, to;

		for (b = a + 1; b < npages && w->op[b] == op; b++)
			;
		if (op == OP_NONE)
			continue;
		from = off + a * PAGE;
		to = off + b * PAGE;
		if (op == OP_WRITE) {
			ssize_t n;
			if (to > j->size)
				to = j->size;
			throttle(j, to - from);
			n = bd_pwrite(j->dst, w->sbuf + a * PAGE, (size_t)(to - from), from);
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

/* One chunk: read, compare, save pre-images, write. */
static int do_chunk(struct worker *w, uint64_t idx, uint64_t *sent, uint64_t *changed_out)
{
	struct job *j = w->job;
	uint64_t off = j->start + idx * CHUNK;
	uint64_t end = off + CHUNK < j->size ? off + CHUNK : j->size;
	uint64_t pend = (end + PAGE - 1) / PAGE * PAGE; /* page-rounded */
	unsigned npages = (unsigned)((pend - off) / PAGE);
	unsigned changed;
	int rc;

	rc = map_data(j->src, &w->sx, off, pend, w->sdata);
	if (rc == 0)
		rc = read_marked(j->src, j->size, off, npages, w->sdata, w->sbuf);
	if (rc == 0 && !j->map_mode) {
		rc = map_data(j->dst, &w->dx, off, pend, w->ddata);
		if (rc == 0)
			rc = read_marked(j->dst, j->dst_size, off, npages, w->ddata, w->dbuf);
	}
	if (rc < 0)
		return rc;
	if (j->map_mode)
		memset(w->ddata, 0, npages);
	changed = classify(w, off / PAGE, npages);
	if (changed) {
		if (j->undo) {
			rc = save_undo(w, off, npages);
			if (rc < 0)
				return rc;
		}
		rc = apply(w, off, npages, sent);
		if (rc < 0)
			return rc;
	}
	if (j->map)
		memcpy(&j->map->h[off / PAGE], w->hash, npages * sizeof(w->hash[0]));
	*changed_out = changed;
	return 0;
}

/* With j->lock held: the end of the contiguous run of finished chunks. */
static uint64_t done_prefix(struct job *j)
{
	uint64_t lo = j->next;
	for (int i = 0; i < j->nworkers; i++)
		if (j->w[i].cur < lo)
			lo = j->w[i].cur;
	lo = j->start + lo * CHUNK;
	return lo < j->size ? lo : j->size;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	uint64_t sent = 0, changed = 0;
	int rc = 0;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		if (rc < 0) {
			/* Keep cur: the failed chunk bounds the finished prefix. */
			if (!j->err)
				j->err = rc;
			break;
		}
		if (w->cur != IDLE) {
			uint64_t off = j->start + w->cur * CHUNK;
			j->work_done += j->size - off < CHUNK ? j->size - off : CHUNK;
		}
		w->cur = IDLE;
		j->st.bytes_transferred += sent;
		j->st.pages_changed += changed;
		sent = changed = 0;
		j->st.bytes_compared = done_prefix(j);
		/* Paced by work done, so a stalled chunk cannot starve the
		 * callback (and cancel); reports the safe prefix. */
		if (!j->err && j->opts->progress && j->work_done >= j->next_progress &&
		    j->work_done < j->size - j->start) {
			j->next_progress = j->work_done + PROGRESS_STEP;
			j->st.seconds = now_s(&j->t0);
			if (j->opts->progress(j->opts->progress_arg, &j->st))
				j->err = -ECANCELED;
		}
		if (j->err || j->next >= j->nchunks)
			break;
		w->cur = j->next++;
		pthread_mutex_unlock(&j->lock);
		rc = do_chunk(w, w->cur, &sent, &changed);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* Save the pages of dst past the new end (from page first on) and commit. */
static int save_tail(struct job *j, struct worker *w, uint64_t first_page)
{
	const struct delta_undo *u = j->undo;
	uint64_t off = first_page * PAGE;
	int rc = 0;

	while (off < j->dst_size && rc == 0) {
		uint64_t end = off + CHUNK < j->dst_size ? off + CHUNK : j->dst_size;
		uint64_t pend = (end + PAGE - 1) / PAGE * PAGE;
		unsigned npages = (unsigned)((pend - off) / PAGE);

		rc = map_data(j->dst, &w->dx, off, pend, w->ddata);
		if (rc == 0)
			rc = read_marked(j->dst, j->dst_size, off, npages, w->ddata, w->dbuf);
		for (unsigned i = 0; i < npages && rc == 0; i++)
			rc = u->save(u->arg, off / PAGE + i, w->ddata[i] ? w->dbuf + i * PAGE : zero_page);
		if (rc == 0)
			rc = u->commit(u->arg);
		off = pend;
	}
	return rc > 0 ? -EIO : rc;
}

static int worker_init(struct worker *w, struct job *j)
{
	w->job = j;
	w->cur = IDLE;
	if (posix_memalign((void **)&w->sbuf, PAGE, CHUNK))
		return -ENOMEM;
	if (posix_memalign((void **)&w->dbuf, PAGE, CHUNK))
		return -ENOMEM;
	return 0;
}

int delta_sync(struct bdisk *src, struct bdisk *dst, const struct delta_opts *opts,
	       struct delta_stats *stats)
{
	static const struct delta_opts defaults;
	struct job j;
	bool locks = false;
	int nthreads = 0, rc;

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
	if ((j.undo && (!j.undo->save || !j.undo->commit)) || opts->start_offset % PAGE) {
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
	j.nchunks = (j.size - j.start + CHUNK - 1) / CHUNK;
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

	nthreads = opts->threads > 0 ? opts->threads : 2;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	if ((uint64_t)nthreads > j.nchunks)
		nthreads = j.nchunks ? (int)j.nchunks : 1;
	j.w = calloc((size_t)nthreads, sizeof(*j.w));
	if (!j.w) {
		rc = -ENOMEM;
		goto out;
	}
	if (pthread_mutex_init(&j.lock, NULL) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (pthread_mutex_init(&j.bw_lock, NULL) != 0) {
		pthread_mutex_destroy(&j.lock);
		rc = -ENOMEM;
		goto out;
	}
	locks = true;
	for (int i = 0; i < nthreads; i++) {
		rc = worker_init(&j.w[i], &j);
		if (rc < 0)
			goto out;
	}
	j.nworkers = nthreads;
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
			j.w[0].dx.valid = false;
			rc = save_tail(&j, &j.w[0], (j.size + PAGE - 1) / PAGE);
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
	if (j.w) {
		for (int i = 0; i < nthreads; i++) {
			free(j.w[i].sbuf);
			free(j.w[i].dbuf);
		}
		free(j.w);
	}
	if (locks) {
		pthread_mutex_destroy(&j.lock);
		pthread_mutex_destroy(&j.bw_lock);
	}
	return rc;
}
