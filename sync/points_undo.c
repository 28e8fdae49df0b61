/*
 * points_undo.c - the recovery-point chain's undo mode (rp_undo_mode, see
 * points_int.h): the replica disks always hold the newest point, and each
 * older point k keeps, per disk, the pre-images of the pages the cycle that
 * made point k+1 overwrote.  Page p of point k is the first hit among
 * undo(k), undo(k+1), ..., else the replica.  The chain (sync/points.c)
 * holds the catalog and the locks; this file holds the undo objects.
 *
 * On-medium layout (data backend, beside the replicas):
 *   <data_prefix>/<seq>/<disk>.undo  pre-image pages; entry n at n*4096.
 *   <data_prefix>/<seq>/<disk>.idx   16-byte header "ASRUNDO1" + u64 BE count,
 *     then count u64 BE page numbers.  Both objects are grown by truncate in
 *     512-byte multiples (so a page-blob medium can hold them); only the first
 *     `count` entries mean anything.  An append writes and syncs the data,
 *     then the entries, then the count, so every counted entry has its data.
 *   The catalog entry of an undo point has no field of this mode ("version":1,
 *   no "mode").
 *
 * Crash rules (an existing point is never damaged):
 *   cycle    undo(newest) appended and synced (the engine's sink commit)
 *            before the engine overwrites the replica; replicas synced
 *            before the catalog gains the point.  A crash before that leaves
 *            undo(newest): open writes it back into the replicas (rollback).
 *   delete   oldest: catalog first, then its objects.  Middle k: undo(k-1)
 *            gains undo(k)'s missing pages (harmless alone), then the catalog
 *            drops k, then undo(k)'s objects go.  Objects of a seq the catalog
 *            lacks are garbage, removed on open.
 *
 * Locking (besides the chain's op and lock, see points.c): an undo's index
 * is read under c->lock; its objects are read without it, pinned by refs.
 * Undo contents are immutable once indexed, so a page found in an index is
 * final.  Only the writer of an undo (the running cycle for undo(newest), a
 * merge for undo(k-1)) appends to it; `order` and the capacities are the
 * writer's.
 *   wlock (per undo) serializes appends and syncs of one undo: the engine
 *         may call a sink from several threads.  Order: op, wlock, lock.
 * A reader races a running cycle without a big lock: it looks a page up,
 * reads the replica if absent, then looks again; a pre-image is always
 * indexed (in memory) before its replica page is overwritten, so a second
 * miss proves the replica read was good.
 */
#define _GNU_SOURCE
#include "points_int.h"
#include "bytes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX_HDR 16u
#define UNDO_GROW (1u << 20)           /* .undo grows by at least 1 MiB */
#define IDX_GROW 4096u

static const char idx_magic[8] = {'A', 'S', 'R', 'U', 'N', 'D', 'O', '1'};

/* The undo data of one point for one disk, with its in-memory index. */
struct undo {
	uint64_t seq;
	int disk;
	/* Open-addressing hash page -> slot; hkey = page + 1, 0 = empty. */
	uint64_t *hkey, *hval;
	uint64_t hcap;     /* 0 or a power of two */
	uint64_t nent;     /* indexed entries (slots 0..nent-1 hold data) */
	uint64_t ndurable; /* entries counted in the .idx header */
	uint64_t *order;   /* slot -> page, writer side */
	uint64_t ocap;
	uint64_t ucap, icap; /* current sizes of .undo and .idx */
	struct bdisk *ud, *id;
	int refs;
	/* Serializes appends and syncs: the engine may call one sink from
	 * several threads.  Never held with c->lock taken first. */
	pthread_mutex_t wlock;
};

/* ---- small helpers ---- */

static uint64_t round_up(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

static int undo_key(const struct rpchain *c, uint64_t seq, int disk, const char *ext, char *buf,
		    size_t len)
{
	int n = snprintf(buf, len, "%s/%" PRIu64 "/%d.%s", c->data_prefix, seq, disk, ext);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int seq_dir(const struct rpchain *c, uint64_t seq, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%" PRIu64, c->data_prefix, seq);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* ---- the undo index (callers hold c->lock where readers may look) ---- */

static uint64_t hslot(uint64_t page, uint64_t cap)
{
	return (page * 0x9E3779B97F4A7C15ull) >> 17 & (cap - 1);
}

static int undo_find(const struct undo *u, uint64_t page, uint64_t *slot)
{
	if (!u->hcap)
		return 0;
	for (uint64_t h = hslot(page, u->hcap);; h = (h + 1) & (u->hcap - 1)) {
		if (u->hkey[h] == 0)
			return 0;
		if (u->hkey[h] == page + 1) {
			if (slot)
				*slot = u->hval[h];
			return 1;
		}
	}
}

static void hash_put(uint64_t *keys, uint64_t *vals, uint64_t cap, uint64_t page, uint64_t slot)
{
	uint64_t h = hslot(page, cap);
	while (keys[h] != 0)
		h = (h + 1) & (cap - 1);
	keys[h] = page + 1;
	vals[h] = slot;
}

/* Room for one more entry (load at most 1/2). */
static int undo_reserve(struct undo *u)
{
	uint64_t ncap, *k, *v;
	if ((u->nent + 1) * 2 <= u->hcap)
		return 0;
	ncap = u->hcap ? u->hcap * 2 : 64;
	k = calloc(ncap, sizeof(*k));
	v = calloc(ncap, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < u->hcap; i++)
		if (u->hkey[i])
			hash_put(k, v, ncap, u->hkey[i] - 1, u->hval[i]);
	free(u->hkey);
	free(u->hval);
	u->hkey = k;
	u->hval = v;
	u->hcap = ncap;
	return 0;
}

static int order_reserve(struct undo *u, uint64_t n)
{
	uint64_t ncap;
	uint64_t *o;
	if (n <= u->ocap)
		return 0;
	ncap = u->ocap ? u->ocap : 256;
	while (ncap < n)
		ncap *= 2;
	o = realloc(u->order, ncap * sizeof(*o));
	if (!o)
		return -ENOMEM;
	u->order = o;
	u->ocap = ncap;
	return 0;
}

static struct undo *undo_new(uint64_t seq, int disk)
{
	struct undo *u = calloc(1, sizeof(*u));
	if (u) {
		u->seq = seq;
		u->disk = disk;
		pthread_mutex_init(&u->wlock, NULL);
	}
	return u;
}

static void undo_free(struct undo *u)
{
	if (!u)
		return;
	bd_close(u->ud);
	bd_close(u->id);
	free(u->hkey);
	free(u->hval);
	free(u->order);
	pthread_mutex_destroy(&u->wlock);
	free(u);
}

/* Read a point's undo for one disk from its objects (no lock: pure I/O). */
static int undo_load(struct rpchain *c, uint64_t seq, int disk, struct undo **out)
{
	char key[BACKEND_KEY_MAX];
	unsigned char hdr[IDX_HDR], *buf = NULL;
	struct undo *u = undo_new(seq, disk);
	uint64_t count, done = 0;
	ssize_t r;
	int rc;

	if (!u)
		return -ENOMEM;
	rc = undo_key(c, seq, disk, "idx", key, sizeof(key));
	if (rc < 0)
		goto out;
	rc = be_disk_open(c->data, key, BDISK_RDWR, &u->id);
	if (rc == -ENOENT) {
		u->id = NULL;
		rc = 0;
		goto out; /* no undo data: an empty index */
	}
	if (rc < 0)
		goto out;
	rc = bd_size(u->id, &u->icap);
	if (rc < 0)
		goto out;
	r = u->icap >= IDX_HDR ? bd_pread(u->id, hdr, IDX_HDR, 0) : 0;
	if (r < 0) {
		rc = (int)r;
		goto out;
	}
	if (r < (ssize_t)IDX_HDR || rp_is_zero(hdr, IDX_HDR))
		count = 0; /* created, never committed */
	else if (memcmp(hdr, idx_magic, 8) != 0)
		count = UINT64_MAX;
	else
		count = get_be64(hdr + 8);
	if (count > (u->icap - IDX_HDR) / 8) {
		rc = -EIO;
		goto out;
	}
	if (count) {
		rc = undo_key(c, seq, disk, "undo", key, sizeof(key));
		if (rc == 0)
			rc = be_disk_open(c->data, key, BDISK_RDWR, &u->ud);
		if (rc == 0)
			rc = bd_size(u->ud, &u->ucap);
		if (rc < 0)
			goto out;
		if (u->ucap / PG < count) {
			rc = -EIO;
			goto out;
		}
		rc = order_reserve(u, count);
		if (rc < 0)
			goto out;
		buf = malloc(BATCH_PAGES * PG);
		if (!buf) {
			rc = -ENOMEM;
			goto out;
		}
	}
	while (done < count) {
		uint64_t n = count - done;
		if (n > BATCH_PAGES * PG / 8)
			n = BATCH_PAGES * PG / 8;
		r = bd_pread(u->id, buf, n * 8, IDX_HDR + done * 8);
		if (r < 0) {
			rc = (int)r;
			goto out;
		}
		if ((uint64_t)r != n * 8) {
			rc = -EIO;
			goto out;
		}
		for (uint64_t i = 0; i < n; i++) {
			uint64_t page = get_be64(buf + i * 8);
			if (page >= UINT64_MAX / PG) {
				rc = -EIO;
				goto out;
			}
			u->order[done + i] = page;
			if (undo_find(u, page, NULL)) {
				/* never written twice; if so, the first pre-image wins
				 * and the slot simply stays unindexed */
				u->nent++;
				continue;
			}
			rc = undo_reserve(u);
			if (rc < 0)
				goto out;
			hash_put(u->hkey, u->hval, u->hcap, page, done + i);
			u->nent++;
		}
		done += n;
	}
	u->ndurable = u->nent;
	rc = 0;
out:
	free(buf);
	if (rc < 0) {
		undo_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

/* Make sure point seq's undo for disk is in memory.  -ENOENT: point gone. */
static int ensure_loaded(struct rpchain *c, uint64_t seq, int disk)
{
	struct undo *u = NULL;
	int i, rc;

	pthread_mutex_lock(&c->lock);
	i = rp_find_seq(c, seq);
	rc = i < 0 ? -ENOENT : c->pts[i].u[disk] ? 1 : 0;
	pthread_mutex_unlock(&c->lock);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = undo_load(c, seq, disk, &u);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	i = rp_find_seq(c, seq);
	if (i < 0) {
		rc = -ENOENT;
	} else if (!c->pts[i].u[disk]) {
		c->pts[i].u[disk] = u;
		u = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	undo_free(u);
	return rc;
}

/* Wait until nobody reads from u (c->lock held). */
static void wait_unref(struct rpchain *c, struct undo *u)
{
	while (u && u->refs > 0)
		pthread_cond_wait(&c->unref, &c->lock);
}

/* ---- appending to an undo (its single writer, no lock for the I/O) ---- */

/* Open one of an undo's objects ("undo" or "idx") for writing, creating it
 * empty when missing; its size goes to *size. */
static int undo_open_object(struct rpchain *c, struct undo *u, const char *what, struct bdisk **bd, uint64_t *size)
{
	char key[BACKEND_KEY_MAX];
	int rc = undo_key(c, u->seq, u->disk, what, key, sizeof(key));
	if (rc < 0)
		return rc;
	rc = c->data->ops->disk_create(c->data, key, 0);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	rc = be_disk_open(c->data, key, BDISK_RDWR, bd);
	if (rc == 0)
		rc = bd_size(*bd, size);
	return rc;
}

static int undo_create_objects(struct rpchain *c, struct undo *u)
{
	struct bdisk *ud = NULL, *id = NULL;
	uint64_t usz = 0, isz = 0;
	int rc = 0;

	if (!u->ud && (rc = undo_open_object(c, u, "undo", &ud, &usz)) < 0)
		goto out;
	if (!u->id && (rc = undo_open_object(c, u, "idx", &id, &isz)) < 0)
		goto out;
	pthread_mutex_lock(&c->lock);
	if (ud) {
		u->ud = ud;
		u->ucap = usz;
		ud = NULL;
	}
	if (id) {
		u->id = id;
		u->icap = isz;
		id = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	rc = 0;
out:
	bd_close(ud);
	bd_close(id);
	return rc;
}

/* Write one pre-image into the next slot and index it.  The page must not be
 * indexed in u yet. */
static int undo_append(struct rpchain *c, struct undo *u, uint64_t page, const void *data)
{
	uint64_t slot = u->nent;
	ssize_t w;
	int rc;

	if (!u->ud || !u->id) {
		rc = undo_create_objects(c, u);
		if (rc < 0)
			return rc;
	}
	if ((slot + 1) * PG > u->ucap) {
		uint64_t ncap = u->ucap * 2;
		if (ncap < UNDO_GROW)
			ncap = UNDO_GROW;
		rc = bd_truncate(u->ud, ncap);
		if (rc < 0)
			return rc;
		u->ucap = ncap;
	}
	rc = order_reserve(u, slot + 1);
	if (rc < 0)
		return rc;
	w = bd_pwrite(u->ud, data, PG, slot * PG);
	if (w < 0)
		return (int)w;
	if ((uint64_t)w != PG)
		return -EIO;
	u->order[slot] = page;
	pthread_mutex_lock(&c->lock);
	rc = undo_reserve(u);
	if (rc == 0) {
		hash_put(u->hkey, u->hval, u->hcap, page, slot);
		u->nent = slot + 1;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Make every indexed entry durable: data, then entries, then the count. */
static int undo_sync(struct undo *u)
{
	unsigned char *buf = NULL, hdr[IDX_HDR];
	uint64_t n = u->nent - u->ndurable, need = IDX_HDR + u->nent * 8;
	ssize_t w;
	int rc;

	if (n == 0)
		return 0;
	rc = bd_sync(u->ud);
	if (rc < 0)
		return rc;
	if (need > u->icap) {
		uint64_t ncap = round_up(need > u->icap * 2 ? need : u->icap * 2, IDX_GROW);
		rc = bd_truncate(u->id, ncap);
		if (rc < 0)
			return rc;
		u->icap = ncap;
	}
	buf = malloc(n * 8);
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		put_be64(buf + i * 8, u->order[u->ndurable + i]);
	w = bd_pwrite(u->id, buf, n * 8, IDX_HDR + u->ndurable * 8);
	free(buf);
	if (w < 0)
		return (int)w;
	if ((uint64_t)w != n * 8)
		return -EIO;
	rc = bd_sync(u->id);
	if (rc < 0)
		return rc;
	memcpy(hdr, idx_magic, 8);
	put_be64(hdr + 8, u->nent);
	w = bd_pwrite(u->id, hdr, IDX_HDR, 0);
	if (w < 0)
		return (int)w;
	if (w != IDX_HDR)
		return -EIO;
	rc = bd_sync(u->id);
	if (rc < 0)
		return rc;
	u->ndurable = u->nent;
	return 0;
}

/* Delete a seq's undo objects: every .idx first, so a crash part way never
 * leaves an index whose data is gone, then the rest. */
static int remove_seq(struct rpchain *c, uint64_t seq)
{
	char key[BACKEND_KEY_MAX];
	int rc = 0;

	for (int d = 0; d < c->ndisks && rc == 0; d++) {
		rc = undo_key(c, seq, d, "idx", key, sizeof(key));
		if (rc == 0)
			rc = c->data->ops->disk_delete(c->data, key);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0)
		rc = seq_dir(c, seq, key, sizeof(key));
	if (rc == 0)
		rc = c->data->ops->remove_tree(c->data, key);
	return rc;
}

/* ---- rollback of undo(newest) ---- */

/* Write undo(newest)'s pre-images back into the replicas and restore their
 * sizes.  Caller holds op; the newest point's undos are loaded. */
static int rollback(struct rpchain *c)
{
	struct pt *p = &c->pts[c->n - 1];
	unsigned char *buf = malloc(PG);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (int d = 0; d < c->ndisks && rc == 0; d++) {
		struct undo *u = p->u[d];
		struct bdisk *rep;
		uint64_t size = p->sizes[d], cur;

		rc = rp_get_replica(c, d, &rep);
		if (rc == -ENOENT && u->nent == 0) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		for (uint64_t s = 0; s < u->nent && rc == 0; s++) {
			uint64_t page = u->order[s], off = page * PG, n;
			ssize_t r;
			if (off >= size)
				continue;
			n = size - off < PG ? size - off : PG;
			r = bd_pread(u->ud, buf, PG, s * PG);
			if (r >= 0 && (uint64_t)r != PG)
				r = -EIO;
			if (r >= 0)
				r = bd_pwrite(rep, buf, n, off);
			if (r >= 0 && (uint64_t)r != n)
				r = -EIO;
			if (r < 0)
				rc = (int)r;
		}
		if (rc == 0)
			rc = bd_size(rep, &cur);
		if (rc == 0 && cur != size)
			rc = bd_truncate(rep, size);
		if (rc == 0)
			rc = bd_sync(rep);
	}
	free(buf);
	return rc;
}

/* Replace undo(newest) by empty ones and delete its objects (after rollback
 * or at open).  Caller holds op. */
static int drop_newest_undo(struct rpchain *c)
{
	struct undo **fresh = calloc((size_t)c->ndisks, sizeof(*fresh)), **old = NULL;
	uint64_t seq;
	int rc = -ENOMEM;

	if (!fresh)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	seq = c->pts[c->n - 1].p.seq;
	pthread_mutex_unlock(&c->lock);
	for (int d = 0; d < c->ndisks; d++)
		if (!(fresh[d] = undo_new(seq, d)))
			goto out;
	pthread_mutex_lock(&c->lock);
	old = c->pts[c->n - 1].u;
	c->pts[c->n - 1].u = fresh;
	fresh = NULL;
	for (int d = 0; d < c->ndisks; d++)
		wait_unref(c, old[d]);
	pthread_mutex_unlock(&c->lock);
	rc = remove_seq(c, seq);
out:
	if (old)
		for (int d = 0; d < c->ndisks; d++)
			undo_free(old[d]);
	free(old);
	if (fresh)
		for (int d = 0; d < c->ndisks; d++)
			undo_free(fresh[d]);
	free(fresh);
	return rc;
}

/* ---- garbage collection ---- */

struct gc_list {
	uint64_t *seqs;
	size_t n, cap;
	int err;
};

static int gc_cb(void *arg, const char *name, int is_dir)
{
	struct gc_list *l = arg;
	char *end;
	unsigned long long v;

	if (!is_dir || name[0] < '0' || name[0] > '9')
		return 0;
	errno = 0;
	v = strtoull(name, &end, 10);
	if (errno || *end)
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		uint64_t *s = realloc(l->seqs, ncap * sizeof(*s));
		if (!s) {
			l->err = -ENOMEM;
			return 1;
		}
		l->seqs = s;
		l->cap = ncap;
	}
	l->seqs[l->n++] = v;
	return 0;
}

/* Remove every seq directory the catalog does not name (all when keep_known
 * is 0).  Caller holds op. */
int rp_undo_gc(struct rpchain *c, int keep_known)
{
	struct gc_list l = {0};
	int rc = be_list(c->data, c->data_prefix, gc_cb, &l);

	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0)
		rc = l.err;
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		int known;
		pthread_mutex_lock(&c->lock);
		known = rp_find_seq(c, l.seqs[i]) >= 0;
		pthread_mutex_unlock(&c->lock);
		if (known && keep_known)
			continue;
		rc = remove_seq(c, l.seqs[i]);
	}
	free(l.seqs);
	return rc;
}

/* ---- read-only chains: did the owner's cycle move the replicas? ---- */

/* The durable entry count of undo(seq, disk) as storage has it now (0 when
 * it has no undo objects). */
static int undo_count_now(struct rpchain *c, uint64_t seq, int disk, uint64_t *count)
{
	char key[BACKEND_KEY_MAX];
	unsigned char hdr[IDX_HDR];
	struct bdisk *id = NULL;
	ssize_t r;
	int rc = undo_key(c, seq, disk, "idx", key, sizeof(key));

	*count = 0;
	if (rc == 0)
		rc = be_disk_open(c->data, key, BDISK_RDONLY, &id);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	r = bd_pread(id, hdr, IDX_HDR, 0);
	bd_close(id);
	if (r < 0)
		return (int)r;
	if (r == (ssize_t)IDX_HDR && memcmp(hdr, idx_magic, 8) == 0)
		*count = get_be64(hdr + 8);
	return 0;
}

/* A read-only undo chain loads the newest point's undo now and remembers
 * its size: another process's cycle appends there before it overwrites a
 * replica page (c->op held). */
static int seen_load(struct rpchain *c)
{
	c->seen = calloc((size_t)c->ndisks, sizeof(*c->seen));
	if (!c->seen)
		return -ENOMEM;
	if (c->n == 0)
		return 0;
	for (int d = 0; d < c->ndisks; d++) {
		uint64_t seq = c->pts[c->n - 1].p.seq;
		int rc = ensure_loaded(c, seq, d);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&c->lock);
		c->seen[d] = c->pts[c->n - 1].u[d] ? c->pts[c->n - 1].u[d]->ndurable : 0;
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

/* ---- cycles: the engine's undo sinks ---- */

/* The running cycle's state (rp_cycle.m): one sink per disk, appending to
 * undo(newest) of that disk. */
struct ucycle {
	struct cyd {
		struct rpchain *c;
		struct undo *u; /* stable: the newest point can't go under op */
	} *arg;
	struct delta_undo *sink;
};

static int sink_save(void *arg, uint64_t page, const void *old)
{
	struct cyd *x = arg;
	struct rpchain *c = x->c;
	struct undo *u = x->u;
	int have, rc;

	if (page >= UINT64_MAX / PG)
		return -EINVAL;
	pthread_mutex_lock(&u->wlock);
	pthread_mutex_lock(&c->lock);
	have = undo_find(u, page, NULL);
	pthread_mutex_unlock(&c->lock);
	rc = have ? 0 : undo_append(c, u, page, old); /* first pre-image wins */
	pthread_mutex_unlock(&u->wlock);
	return rc;
}

static int sink_commit(void *arg)
{
	struct cyd *x = arg;
	struct undo *u = x->u;
	int rc;

	pthread_mutex_lock(&u->wlock);
	rc = undo_sync(u);
	pthread_mutex_unlock(&u->wlock);
	return rc;
}

/* ---- reading a point ---- */

struct src {
	struct undo *u; /* NULL: the replica */
	uint64_t slot;
};

/* First undo among points i.. holding page (c->lock held).  1 hit, 0 miss,
 * -EAGAIN with *need set when an undo must be loaded first. */
static int lookup(struct rpchain *c, int i, int disk, uint64_t page, struct src *s, uint64_t *need)
{
	s->u = NULL;
	for (int j = i; j < c->n; j++) {
		struct undo *u = c->pts[j].u[disk];
		if (!u) {
			*need = c->pts[j].p.seq;
			return -EAGAIN;
		}
		if (undo_find(u, page, &s->slot)) {
			s->u = u;
			return 1;
		}
	}
	s->u = NULL;
	return 0;
}

static void unpin(struct rpchain *c, struct src *s, unsigned n)
{
	int wake = 0;
	pthread_mutex_lock(&c->lock);
	for (unsigned q = 0; q < n; q++)
		if (s[q].u) {
			if (--s[q].u->refs == 0)
				wake = 1;
			s[q].u = NULL;
		}
	if (wake)
		pthread_cond_broadcast(&c->unref);
	pthread_mutex_unlock(&c->lock);
}

/* Copy bytes [lo, hi) of a page from its undo slot into dst. */
static int read_undo_page(const struct src *s, unsigned char *tmp, uint64_t lo, uint64_t hi,
			  unsigned char *dst)
{
	ssize_t r = bd_pread(s->u->ud, tmp, PG, s->slot * PG);
	if (r < 0)
		return (int)r;
	if ((uint64_t)r != PG)
		return -EIO;
	memcpy(dst, tmp + lo, hi - lo);
	return 0;
}

/* Read pages [p0, p0+np) of point seq, clipped to [off, end), into buf
 * (buf[0] is byte off).  s: BATCH_PAGES scratch entries, all unpinned. */
static int read_batch(struct rpchain *c, uint64_t seq, int disk, struct bdisk *rep, unsigned char *buf,
		      uint64_t off, uint64_t end, uint64_t p0, unsigned np, struct src *s,
		      unsigned char *tmp)
{
	unsigned char fromrep[BATCH_PAGES];
	uint64_t need = 0;
	int rc = 0, i;

retry:
	pthread_mutex_lock(&c->lock);
	i = rp_find_seq(c, seq);
	if (i < 0) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	for (unsigned q = 0; q < np; q++) {
		rc = lookup(c, i, disk, p0 + q, &s[q], &need);
		if (rc < 0)
			break;
		if (s[q].u)
			s[q].u->refs++;
		fromrep[q] = !s[q].u;
	}
	pthread_mutex_unlock(&c->lock);
	if (rc == -EAGAIN) {
		unpin(c, s, np);
		rc = ensure_loaded(c, need, disk);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		goto retry;
	}
	rc = 0;

	/* Replica runs in one request each; whole undo pages in consecutive
	 * slots of one undo too; partial pages through tmp. */
	for (unsigned q = 0; q < np && rc == 0;) {
		uint64_t base = (p0 + q) * PG, lo = base > off ? base : off, hi;
		unsigned r = q + 1;
		if (!fromrep[q]) {
			hi = base + PG < end ? base + PG : end;
			if (lo != base || hi != base + PG) {
				rc = read_undo_page(&s[q], tmp, lo - base, hi - base, buf + (lo - off));
				q++;
				continue;
			}
			while (r < np && !fromrep[r] && s[r].u == s[q].u && s[r].slot == s[q].slot + (r - q) &&
			       (p0 + r + 1) * PG <= end)
				r++;
			{
				uint64_t n = (uint64_t)(r - q) * PG;
				ssize_t got = bd_pread(s[q].u->ud, buf + (lo - off), n, s[q].slot * PG);
				if (got < 0)
					rc = (int)got;
				else if ((uint64_t)got != n)
					rc = -EIO;
			}
			q = r;
			continue;
		}
		r = q;
		while (r < np && fromrep[r])
			r++;
		hi = (p0 + r) * PG < end ? (p0 + r) * PG : end;
		{
			ssize_t got = bd_pread(rep, buf + (lo - off), hi - lo, lo);
			if (got < 0)
				rc = (int)got;
			else if ((uint64_t)got < hi - lo) /* replica shorter: recheck decides */
				memset(buf + (lo - off) + got, 0, hi - lo - (uint64_t)got);
		}
		q = r;
	}
	unpin(c, s, np);
	if (rc < 0)
		return rc;

	/* Recheck: a replica page indexed by now may have been overwritten
	 * after the lookup, so its pre-image is the point's byte. */
	pthread_mutex_lock(&c->lock);
	i = rp_find_seq(c, seq);
	if (i < 0)
		rc = -ENOENT;
	for (unsigned q = 0; q < np && rc == 0; q++) {
		if (!fromrep[q])
			continue;
		rc = lookup(c, i, disk, p0 + q, &s[q], &need);
		if (rc == -EAGAIN)
			rc = -EIO; /* every undo of the range was loaded above */
		if (rc == 1) {
			s[q].u->refs++;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (unsigned q = 0; q < np && rc == 0; q++) {
		uint64_t base = (p0 + q) * PG, lo, hi;
		if (!fromrep[q] || !s[q].u)
			continue;
		lo = base > off ? base : off;
		hi = base + PG < end ? base + PG : end;
		rc = read_undo_page(&s[q], tmp, lo - base, hi - base, buf + (lo - off));
	}
	unpin(c, s, np);
	return rc;
}

/* Read [off, off+len) of point seq in batches of BATCH_PAGES pages. */
static int undo_read(struct rpchain *c, uint64_t seq, int disk, void *buf, uint64_t len, uint64_t off)
{
	struct src *s;
	unsigned char *tmp;
	struct bdisk *rep = NULL;
	uint64_t end = off + len, p;
	int rc = 0;

	s = calloc(BATCH_PAGES, sizeof(*s));
	tmp = malloc(PG);
	if (!s || !tmp) {
		rc = -ENOMEM;
		goto out;
	}
	rc = rp_get_replica(c, disk, &rep);
	for (p = off / PG; rc == 0 && p * PG < end;) {
		uint64_t last = (end - 1) / PG;
		unsigned np = last - p + 1 > BATCH_PAGES ? BATCH_PAGES : (unsigned)(last - p + 1);
		uint64_t lo = p * PG > off ? p * PG : off;
		uint64_t hi = (p + np) * PG < end ? (p + np) * PG : end;
		rc = read_batch(c, seq, disk, rep, (unsigned char *)buf + (lo - off), lo, hi, p, np, s, tmp);
		p += np;
	}
out:
	free(s);
	free(tmp);
	return rc;
}

/* ---- deleting a point ---- */

/* Append undo(k)'s pages that undo(k-1) lacks to undo(k-1), durably.
 * Caller holds op, so neither point can go away. */
static int merge_into_prev(struct rpchain *c, uint64_t kseq, uint64_t pseq)
{
	unsigned char *buf = malloc(PG);
	int rc = buf ? 0 : -ENOMEM;

	for (int d = 0; d < c->ndisks && rc == 0; d++) {
		struct undo *uk, *up;
		rc = ensure_loaded(c, kseq, d);
		if (rc == 0)
			rc = ensure_loaded(c, pseq, d);
		if (rc < 0)
			break;
		pthread_mutex_lock(&c->lock);
		uk = c->pts[rp_find_seq(c, kseq)].u[d];
		up = c->pts[rp_find_seq(c, pseq)].u[d];
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_lock(&up->wlock);
		for (uint64_t s = 0; s < uk->nent && rc == 0; s++) {
			uint64_t page = uk->order[s], slot;
			ssize_t r;
			int have;
			pthread_mutex_lock(&c->lock);
			have = undo_find(up, page, NULL) || !undo_find(uk, page, &slot) || slot != s;
			pthread_mutex_unlock(&c->lock);
			if (have)
				continue; /* kept by k-1, or an unindexed duplicate */
			r = bd_pread(uk->ud, buf, PG, s * PG);
			if (r >= 0 && (uint64_t)r != PG)
				r = -EIO;
			if (r < 0)
				rc = (int)r;
			else
				rc = undo_append(c, up, page, buf);
		}
		if (rc == 0)
			rc = undo_sync(up);
		pthread_mutex_unlock(&up->wlock);
	}
	free(buf);
	return rc;
}

/* ---- the mode's hooks (points_int.h says when each is called) ---- */

static int undo_point_alloc(struct rpchain *c, struct pt *p)
{
	p->u = calloc((size_t)c->ndisks, sizeof(*p->u));
	return p->u ? 0 : -ENOMEM;
}

static void undo_point_free(struct rpchain *c, struct pt *p)
{
	if (p->u)
		for (int d = 0; d < c->ndisks; d++)
			undo_free(p->u[d]);
	free(p->u);
	p->u = NULL;
}

/* A new point starts with empty undos: the next cycle fills them. */
static int undo_point_capture(struct rpchain *c, struct pt *p, int disk)
{
	p->u[disk] = undo_new(c->next_seq, disk);
	return p->u[disk] ? 0 : -ENOMEM;
}

/* Undo data on the newest point is a cycle cut short: write it back. */
static int undo_recover(struct rpchain *c)
{
	uint64_t seq;
	int rc = 0;

	if (c->n == 0)
		return 0;
	seq = c->pts[c->n - 1].p.seq;
	for (int d = 0; d < c->ndisks && rc == 0; d++)
		rc = ensure_loaded(c, seq, d);
	if (rc == 0)
		rc = rollback(c); /* a no-op unless a cycle was cut short */
	if (rc == 0)
		rc = drop_newest_undo(c);
	return rc;
}

/* The owner's cycles append to the newest point's undo before they
 * overwrite a replica page: a count unlike the one seen at open. */
static int undo_stale(struct rpchain *c)
{
	for (int d = 0; d < c->ndisks && c->n > 0; d++) {
		uint64_t now;
		int rc = undo_count_now(c, c->pts[c->n - 1].p.seq, d, &now);
		if (rc < 0)
			return rc;
		if (now != c->seen[d])
			return 1;
	}
	return 0;
}

static int undo_begin(struct rp_cycle *cy)
{
	struct rpchain *c = cy->c;
	struct ucycle *uc = calloc(1, sizeof(*uc));
	uint64_t seq;
	int rc;

	if (!uc)
		return -ENOMEM;
	cy->m = uc; /* freed by undo_cycle_free, also on failure */
	uc->arg = calloc((size_t)c->ndisks, sizeof(*uc->arg));
	uc->sink = calloc((size_t)c->ndisks, sizeof(*uc->sink));
	if (!uc->arg || !uc->sink)
		return -ENOMEM;
	seq = c->pts[c->n - 1].p.seq;
	for (int d = 0; d < c->ndisks; d++) {
		rc = ensure_loaded(c, seq, d);
		if (rc < 0)
			return rc;
		uc->arg[d].c = c;
		uc->arg[d].u = c->pts[c->n - 1].u[d];
		if (uc->arg[d].u->nent)
			return -EIO; /* open rolled back; nothing else writes here */
		uc->sink[d].save = sink_save;
		uc->sink[d].commit = sink_commit;
		uc->sink[d].arg = &uc->arg[d];
	}
	return 0;
}

static const struct delta_undo *undo_sink(struct rp_cycle *cy, int disk)
{
	struct ucycle *uc = cy->m;
	return &uc->sink[disk];
}

static int undo_pre_commit(struct rp_cycle *cy)
{
	struct ucycle *uc = cy->m;
	int rc = 0;

	for (int d = 0; d < cy->c->ndisks && rc == 0; d++)
		rc = undo_sync(uc->arg[d].u);
	return rc;
}

static int undo_abort(struct rp_cycle *cy)
{
	int rc = rollback(cy->c);
	if (rc == 0)
		rc = drop_newest_undo(cy->c);
	return rc;
}

static void undo_cycle_free(struct rp_cycle *cy)
{
	struct ucycle *uc = cy->m;

	if (!uc)
		return;
	free(uc->arg);
	free(uc->sink);
	free(uc);
	cy->m = NULL;
}

/* A middle point's pages that its predecessor lacks go to the predecessor. */
static int undo_delete_prepare(struct rpchain *c, uint64_t seq, uint64_t pseq)
{
	return pseq ? merge_into_prev(c, seq, pseq) : 0;
}

static void undo_point_wait(struct rpchain *c, const struct pt *p)
{
	for (int d = 0; p->u && d < c->ndisks; d++)
		wait_unref(c, p->u[d]);
}

static void undo_point_delete(struct rpchain *c, struct pt *p)
{
	uint64_t seq = p->p.seq;

	rp_pt_free(c, p);
	/* A failure here leaves garbage for the next open (rp_undo_gc). */
	(void)remove_seq(c, seq);
}

/* The undo objects go with rp_undo_gc(c, 0), which destroy runs next. */
static int undo_destroy(struct rpchain *c, struct pt *old, int n)
{
	for (int i = 0; i < n; i++)
		rp_pt_free(c, &old[i]);
	return 0;
}

const struct point_mode_ops rp_undo_mode = {
	.name = "undo",
	.version = 1,
	.point_alloc = undo_point_alloc,
	.point_free = undo_point_free,
	.point_capture = undo_point_capture,
	.recover = undo_recover,
	.open_readonly = seen_load,
	.stale = undo_stale,
	.begin = undo_begin,
	.sink = undo_sink,
	.pre_commit = undo_pre_commit,
	.abort = undo_abort,
	.cycle_free = undo_cycle_free,
	.read = undo_read,
	.delete_prepare = undo_delete_prepare,
	.point_wait = undo_point_wait,
	.point_delete = undo_point_delete,
	.destroy = undo_destroy,
};
