/*
 * points.c - the recovery-point chain of one replicated item (see points.h
 * for the design: replica = newest point, undo data = pre-images per older
 * point, merge on middle delete, rollback on open, read with recheck; or in
 * snapshot mode a snapshot per point and disk, restore on abort or open).
 *
 * On-disk formats
 *   catalog (record, meta backend):
 *     {"version":1,"next_seq":N,"points":[{"id":"2026-11-24T10:05:00Z",
 *      "time":<unix s>,"seq":S,"app_consistent":false,"sizes":[bytes,...]}]}
 *     points oldest first, seq increasing, all seq < next_seq.
 *     Snapshot mode adds "version":2,"mode":"snapshot","cycle":<bool> (a
 *     cycle is in progress) and per point "snaps":[<snapshot id>,...] (one
 *     per disk, of the replica disk).  No "mode" means an undo chain.
 *   <data_prefix>/<seq>/<disk>.undo  pre-image pages; entry n at n*4096.
 *   <data_prefix>/<seq>/<disk>.idx   16-byte header "ASRUNDO1" + u64 BE count,
 *     then count u64 BE page numbers.  Both objects are grown by truncate in
 *     512-byte multiples (so a page-blob medium can hold them); only the first
 *     `count` entries mean anything.  An append writes and syncs the data,
 *     then the entries, then the count, so every counted entry has its data.
 *
 * Crash ordering (an existing point is never damaged):
 *   cycle    undo(newest) appended and synced before the caller overwrites
 *            the replica; replicas synced before the catalog gains the point.
 *            A crash before that leaves undo(newest): open rolls it back.
 *   delete   oldest: catalog first, then its objects.  Middle k: undo(k-1)
 *            gains undo(k)'s missing pages (harmless alone), then the catalog
 *            drops k, then undo(k)'s objects go.  Objects of a seq the catalog
 *            lacks are garbage, removed on open.
 *
 * Crash ordering, snapshot mode:
 *   cycle    begin writes the catalog with "cycle":true before the caller
 *            touches a replica; commit syncs the replicas, snapshots them,
 *            then writes the catalog with the point and "cycle":false.  Open
 *            with the mark set copies the newest point's snapshots back.
 *            Snapshots taken by a commit cut short are garbage.
 *   delete   catalog first, then the snapshots.  A snapshot of a replica
 *            the catalog does not name is garbage, deleted on open (never
 *            when readonly).  A failed catalog write never deletes the new
 *            snapshots (the write may have landed): open collects them.
 *
 * Locking.  Two mutexes:
 *   op    serializes everything that changes the chain (catalog writers,
 *         begin/commit/abort, delete, prune, destroy).  Held across I/O.
 *         Readers never take it.
 *   lock  guards the in-memory state: the point array, each point's undo
 *         pointers, every undo's hash index and its object handles, the
 *         undo reference counts and the cached replica handles.  Held only
 *         for memory work, never across I/O to a replica or undo object.
 *         Taken after op, never the other way round.
 * A reader takes `lock` to look pages up and to pin (refs) the undo objects it
 * will read, drops it for the I/O, then takes it again to recheck and unpin.
 * Whoever removes an undo from the chain (delete, abort) waits on `unref`
 * until its refs are zero before closing or deleting it.  Undo contents are
 * immutable once indexed, so a page found in an index is final.  Only the
 * writer of an undo (the running cycle for undo(newest), a merge for
 * undo(k-1)) appends to it; `order` and the capacities are the writer's.
 *   wlock (per undo) serializes appends and syncs of one undo: the engine
 *         may call a sink from several threads.  Order: op, wlock, lock.
 * Replica handles are opened lazily and kept until rpchain_close (or a
 * snapshot restore, which replaces the replicas under op).
 * Snapshot mode has no undos: a point's snapd per disk carries its snapshot
 * id, a lazily opened read handle and refs, pinned under `lock` by readers
 * and exports for their I/O; delete and destroy unhook the point under
 * `lock`, wait on `unref` until its refs are zero, then delete the
 * snapshots.  Snapshot ids never change while a point exists.
 *
 * Failure of rpchain_commit or rpchain_abort leaves the cycle open (begin
 * says -EBUSY): commit again or abort; a crash or close leaves it for the
 * next open to roll back.  After rpchain_destroy only rpchain_close is useful.
 */
#define _GNU_SOURCE
#include "points.h"
#include "bytes.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG ((uint64_t)DELTA_PAGE)
#define BATCH_PAGES 256u               /* one read request: 1 MiB */
#define IDX_HDR 16u
#define UNDO_GROW (1u << 20)           /* .undo grows by at least 1 MiB */
#define IDX_GROW 4096u
#define PROGRESS_EVERY (16ull << 20)

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

/* Snapshot mode: a point's snapshot of one disk. */
struct snapd {
	char id[BACKEND_SNAP_MAX];
	struct bdisk *bd; /* opened by the first reader, closed with the point */
	int refs;         /* readers and exports using it */
};

struct pt {
	struct rp_point p;
	uint64_t *sizes;  /* per disk */
	struct undo **u;  /* undo mode: per disk; NULL until loaded */
	struct snapd **s; /* snapshot mode: per disk; NULL in undo mode */
};

struct rp_cycle {
	struct rpchain *c;
	struct undo **u; /* undo(newest) per disk */
	struct cyd {
		struct rp_cycle *cy;
		int disk;
	} *arg;
	struct delta_undo *sink;
};

struct rpchain {
	struct backend *meta, *data;
	char *catalog_key, *copy_key, *data_prefix; /* copy_key: "<catalog_key>.copy" */
	int ndisks;
	char **replica_keys;
	char (*keep)[BACKEND_SNAP_MAX]; /* per disk: rpchain_conf's keep_snaps, "" none */
	pthread_mutex_t op;
	pthread_mutex_t lock;
	pthread_cond_t unref;
	struct pt *pts;
	int n, cap;
	uint64_t next_seq;
	struct bdisk **rep;
	struct rp_cycle *cycle;
	int readonly; /* see rpchain_conf */
	/* readonly undo chains: what the chain saw at open, for rpchain_stale */
	char cat_etag[BACKEND_ETAG_MAX];
	int from_copy;  /* opened from the catalog's copy (catalog_restore) */
	uint64_t *seen;   /* per disk: entries of the newest point's undo */
	int snap;     /* snapshot mode (else an undo chain) */
	int busy;     /* snapshot mode: the catalog says a cycle is in progress */
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

static int is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

static void format_id(time_t t, char id[RP_ID_MAX])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(id, RP_ID_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(id, RP_ID_MAX, "t%lld", (long long)t);
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
	if (r < (ssize_t)IDX_HDR || is_zero(hdr, IDX_HDR))
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

/* ---- the point array (c->lock held) ---- */

static int find_id(const struct rpchain *c, const char *id)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->pts[i].p.id, id) == 0)
			return i;
	return -1;
}

static int find_seq(const struct rpchain *c, uint64_t seq)
{
	int lo = 0, hi = c->n - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (c->pts[mid].p.seq == seq)
			return mid;
		if (c->pts[mid].p.seq < seq)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static void pt_free(struct pt *p, int ndisks)
{
	if (p->u)
		for (int d = 0; d < ndisks; d++)
			undo_free(p->u[d]);
	if (p->s)
		for (int d = 0; d < ndisks; d++)
			if (p->s[d]) {
				bd_close(p->s[d]->bd);
				free(p->s[d]);
			}
	free(p->u);
	free(p->s);
	free(p->sizes);
	p->u = NULL;
	p->s = NULL;
	p->sizes = NULL;
}

/* Snapshot mode: give p an empty snapd per disk. */
static int pt_alloc_snaps(struct pt *p, int ndisks)
{
	p->s = calloc((size_t)ndisks, sizeof(*p->s));
	if (!p->s)
		return -ENOMEM;
	for (int d = 0; d < ndisks; d++)
		if (!(p->s[d] = calloc(1, sizeof(*p->s[d]))))
			return -ENOMEM;
	return 0;
}

/* Make sure point seq's undo for disk is in memory.  -ENOENT: point gone. */
static int ensure_loaded(struct rpchain *c, uint64_t seq, int disk)
{
	struct undo *u = NULL;
	int i, rc;

	pthread_mutex_lock(&c->lock);
	i = find_seq(c, seq);
	rc = i < 0 ? -ENOENT : c->pts[i].u[disk] ? 1 : 0;
	pthread_mutex_unlock(&c->lock);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = undo_load(c, seq, disk, &u);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	i = find_seq(c, seq);
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

static int get_replica(struct rpchain *c, int disk, struct bdisk **out)
{
	struct bdisk *bd = NULL;
	int rc;

	pthread_mutex_lock(&c->lock);
	*out = c->rep[disk];
	pthread_mutex_unlock(&c->lock);
	if (*out)
		return 0;
	rc = be_disk_open(c->data, c->replica_keys[disk], BDISK_RDWR, &bd);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	if (!c->rep[disk]) {
		c->rep[disk] = bd;
		bd = NULL;
	}
	*out = c->rep[disk];
	pthread_mutex_unlock(&c->lock);
	bd_close(bd);
	return 0;
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

/* ---- catalog ---- */

static int parse_catalog(struct rpchain *c, const char *text)
{
	struct json_object *root, *v, *arr;
	int rc = -EIO;
	size_t np;

	root = json_tokener_parse(text);
	if (!root)
		return -EIO;
	if (!json_object_object_get_ex(root, "next_seq", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	c->next_seq = (uint64_t)json_object_get_int64(v);
	c->snap = 0;
	if (json_object_object_get_ex(root, "mode", &v)) {
		if (!json_object_is_type(v, json_type_string))
			goto out;
		if (strcmp(json_object_get_string(v), "snapshot") == 0)
			c->snap = 1;
		else if (strcmp(json_object_get_string(v), "undo") != 0)
			goto out;
	}
	c->busy = 0;
	if (c->snap && json_object_object_get_ex(root, "cycle", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			goto out;
		c->busy = json_object_get_boolean(v);
	}
	if (!json_object_object_get_ex(root, "points", &arr) || !json_object_is_type(arr, json_type_array))
		goto out;
	np = json_object_array_length(arr);
	if (np > INT_MAX / 2)
		goto out;
	if (np) {
		c->pts = calloc(np, sizeof(*c->pts));
		if (!c->pts) {
			rc = -ENOMEM;
			goto out;
		}
		c->cap = (int)np;
	}
	for (size_t i = 0; i < np; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *sz;
		struct pt *p = &c->pts[i];
		const char *id;

		if (!json_object_object_get_ex(o, "id", &v) || !json_object_is_type(v, json_type_string))
			goto out;
		id = json_object_get_string(v);
		if (strlen(id) >= RP_ID_MAX)
			goto out;
		snprintf(p->p.id, RP_ID_MAX, "%s", id);
		if (!json_object_object_get_ex(o, "time", &v) || !json_object_is_type(v, json_type_int))
			goto out;
		p->p.time = (time_t)json_object_get_int64(v);
		if (!json_object_object_get_ex(o, "seq", &v) || !json_object_is_type(v, json_type_int))
			goto out;
		p->p.seq = (uint64_t)json_object_get_int64(v);
		if (p->p.seq == 0 || p->p.seq >= c->next_seq || (i && p->p.seq <= c->pts[i - 1].p.seq))
			goto out;
		if (!json_object_object_get_ex(o, "app_consistent", &v) ||
		    !json_object_is_type(v, json_type_boolean))
			goto out;
		p->p.app_consistent = json_object_get_boolean(v);
		if (!json_object_object_get_ex(o, "sizes", &sz) || !json_object_is_type(sz, json_type_array) ||
		    json_object_array_length(sz) != (size_t)c->ndisks)
			goto out;
		p->sizes = calloc((size_t)c->ndisks, sizeof(*p->sizes));
		p->u = calloc((size_t)c->ndisks, sizeof(*p->u));
		c->n = (int)i + 1; /* so pt_free sees it on failure */
		if (!p->sizes || !p->u) {
			rc = -ENOMEM;
			goto out;
		}
		for (int d = 0; d < c->ndisks; d++) {
			v = json_object_array_get_idx(sz, (size_t)d);
			if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
				goto out;
			p->sizes[d] = (uint64_t)json_object_get_int64(v);
		}
		if (!c->snap)
			continue;
		if (!json_object_object_get_ex(o, "snaps", &sz) || !json_object_is_type(sz, json_type_array) ||
		    json_object_array_length(sz) != (size_t)c->ndisks)
			goto out;
		if (pt_alloc_snaps(p, c->ndisks) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		for (int d = 0; d < c->ndisks; d++) {
			v = json_object_array_get_idx(sz, (size_t)d);
			if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
			    json_object_get_string_len(v) >= BACKEND_SNAP_MAX)
				goto out;
			snprintf(p->s[d]->id, BACKEND_SNAP_MAX, "%s", json_object_get_string(v));
		}
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

/* Add val under key, taking ownership of val (NULL: allocation failed). */
static int add_field(struct json_object *o, const char *key, struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(o, key, val) < 0) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

static int add_point_json(struct json_object *arr, const struct pt *p, int ndisks)
{
	struct json_object *o = json_object_new_object(), *sz = json_object_new_array();
	int rc = -ENOMEM;

	if (!o || !sz)
		goto out;
	for (int d = 0; d < ndisks; d++) {
		struct json_object *v = json_object_new_int64((int64_t)p->sizes[d]);
		if (!v || json_object_array_add(sz, v) < 0) {
			json_object_put(v);
			goto out;
		}
	}
	rc = add_field(o, "id", json_object_new_string(p->p.id));
	if (rc == 0 && p->s) {
		struct json_object *sn = json_object_new_array();
		for (int d = 0; d < ndisks && sn; d++) {
			struct json_object *v = json_object_new_string(p->s[d]->id);
			if (!v || json_object_array_add(sn, v) < 0) {
				json_object_put(v);
				json_object_put(sn);
				sn = NULL;
			}
		}
		rc = add_field(o, "snaps", sn);
	}
	if (rc == 0)
		rc = add_field(o, "time", json_object_new_int64((int64_t)p->p.time));
	if (rc == 0)
		rc = add_field(o, "seq", json_object_new_int64((int64_t)p->p.seq));
	if (rc == 0)
		rc = add_field(o, "app_consistent", json_object_new_boolean(p->p.app_consistent));
	if (rc == 0)
		rc = add_field(o, "sizes", sz);
	sz = NULL;
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	if (json_object_array_add(arr, o) < 0)
		goto out;
	o = NULL;
	rc = 0;
out:
	json_object_put(sz);
	json_object_put(o);
	return rc;
}

/* Write the catalog as the current points without index `skip` (-1: none)
 * plus `extra` (NULL: none); in snapshot mode with the cycle mark `busy`.
 * Caller holds op. */
static int write_catalog(struct rpchain *c, int skip, const struct pt *extra, uint64_t next_seq, int busy)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	const char *text;
	int rc = -ENOMEM;

	if (!root || !arr)
		goto out;
	rc = 0;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->n && rc == 0; i++)
		if (i != skip)
			rc = add_point_json(arr, &c->pts[i], c->ndisks);
	pthread_mutex_unlock(&c->lock);
	if (rc == 0 && extra)
		rc = add_point_json(arr, extra, c->ndisks);
	if (rc == 0)
		rc = add_field(root, "version", json_object_new_int(c->snap ? 2 : 1));
	if (rc == 0 && c->snap)
		rc = add_field(root, "mode", json_object_new_string("snapshot"));
	if (rc == 0 && c->snap)
		rc = add_field(root, "cycle", json_object_new_boolean(busy));
	if (rc == 0)
		rc = add_field(root, "next_seq", json_object_new_int64((int64_t)next_seq));
	if (rc == 0)
		rc = add_field(root, "points", arr);
	arr = NULL;
	if (rc < 0)
		goto out;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	/* The copy first: it never names less than the catalog has done its
	 * work for, so it can stand in for a damaged catalog (catalog_restore). */
	rc = be_rec_put(c->meta, c->copy_key, text, strlen(text), NULL, NULL);
	if (rc == 0)
		rc = be_rec_put(c->meta, c->catalog_key, text, strlen(text), NULL, NULL);
out:
	json_object_put(arr);
	json_object_put(root);
	return rc;
}

/* Drop what a failed parse_catalog left, for another try. */
static void pts_reset(struct rpchain *c)
{
	for (int i = 0; i < c->n; i++)
		pt_free(&c->pts[i], c->ndisks);
	free(c->pts);
	c->pts = NULL;
	c->n = c->cap = 0;
}

/* The catalog is damaged (damaged: its rec_get/parse error) or missing while
 * its copy exists: load the copy.  Unless read-only, the damaged bytes are
 * kept aside and the catalog is written again from the copy.  What happened
 * goes to conf->note.  -EIO (or the copy's error) when the copy is no good. */
static int catalog_restore(struct rpchain *c, const struct rpchain_conf *conf, int damaged)
{
	char *text = NULL, aside[1024] = "", etag[BACKEND_ETAG_MAX], tail[128] = "";
	size_t len = 0;
	int rc, put = 0;

	pts_reset(c);
	rc = be_rec_get(c->meta, c->copy_key, &text, &len, etag);
	if (rc == 0)
		rc = parse_catalog(c, text);
	if (rc < 0) {
		pts_reset(c);
		if (conf->note)
			snprintf(conf->note, conf->notelen, "recovery-point catalog %s is %s and its copy %s %s",
				 c->catalog_key, damaged == -ENOENT ? "missing" : "damaged", c->copy_key,
				 rc == -ENOENT ? "is missing" : "is damaged too");
		goto out;
	}
	c->from_copy = 1;
	/* The points are what matters (a failover may be waiting on them): a
	 * catalog that cannot be kept aside or written again now is left as it
	 * is, and the chain still opens from the copy. */
	if (!conf->readonly && damaged != -ENOENT)
		put = backend_keep_damaged(c->meta, c->catalog_key, 0, aside, sizeof(aside));
	if (put == 0 && !conf->readonly)
		put = be_rec_put(c->meta, c->catalog_key, text, len, NULL, c->cat_etag);
	if (!conf->readonly && put == 0)
		snprintf(tail, sizeof(tail), ", which the catalog is restored from");
	else if (!conf->readonly)
		snprintf(tail, sizeof(tail), " (the catalog could not be restored: %s)", strerror(-put));
	if (conf->note)
		snprintf(conf->note, conf->notelen, "recovery-point catalog %s was %s%s%s%s; its points are read "
			 "from its copy %s%s", c->catalog_key, damaged == -ENOENT ? "missing" : "damaged",
			 aside[0] ? " (kept as " : "", aside, aside[0] ? ")" : "", c->copy_key, tail);
	rc = 0;
out:
	free(text);
	return rc;
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

		rc = get_replica(c, d, &rep);
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
static int gc(struct rpchain *c, int keep_known)
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
		known = find_seq(c, l.seqs[i]) >= 0;
		pthread_mutex_unlock(&c->lock);
		if (known && keep_known)
			continue;
		rc = remove_seq(c, l.seqs[i]);
	}
	free(l.seqs);
	return rc;
}

/* ---- snapshot mode ---- */

/* Pin point seq's snapshot of disk (and open it when `open`), so no delete
 * takes it away until snap_unpin.  -ENOENT: the point is gone. */
static int snap_pin(struct rpchain *c, uint64_t seq, int disk, int open, struct snapd **out)
{
	struct bdisk *bd = NULL;
	char id[BACKEND_SNAP_MAX];
	struct snapd *s;
	int i, have, rc;

	pthread_mutex_lock(&c->lock);
	i = find_seq(c, seq);
	if (i < 0) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	s = c->pts[i].s[disk];
	s->refs++;
	have = s->bd != NULL;
	memcpy(id, s->id, sizeof(id));
	pthread_mutex_unlock(&c->lock);
	*out = s;
	if (have || !open)
		return 0;
	rc = c->data->ops->disk_open_snapshot(c->data, c->replica_keys[disk], id, &bd);
	pthread_mutex_lock(&c->lock);
	if (rc == 0 && !s->bd) {
		s->bd = bd;
		bd = NULL;
	}
	if (rc < 0 && --s->refs == 0)
		pthread_cond_broadcast(&c->unref);
	pthread_mutex_unlock(&c->lock);
	bd_close(bd);
	return rc;
}

static void snap_unpin(struct rpchain *c, struct snapd *s)
{
	pthread_mutex_lock(&c->lock);
	if (--s->refs == 0)
		pthread_cond_broadcast(&c->unref);
	pthread_mutex_unlock(&c->lock);
}

/* Wait until nobody uses a point's snapshots (c->lock held). */
static void wait_unref_snaps(struct rpchain *c, const struct pt *p)
{
	for (int d = 0; p->s && d < c->ndisks; d++)
		while (p->s[d] && p->s[d]->refs > 0)
			pthread_cond_wait(&c->unref, &c->lock);
}

/* Delete a point's snapshots (it is out of the catalog and unpinned).  A
 * failure leaves garbage for snap_gc, never a damaged point. */
static void snap_drop(struct rpchain *c, const struct pt *p)
{
	for (int d = 0; p->s && d < c->ndisks; d++)
		if (p->s[d] && p->s[d]->id[0])
			(void)c->data->ops->disk_snapshot_delete(c->data, c->replica_keys[d], p->s[d]->id);
}

/* Bring every replica back to the newest point: a copy of its snapshot.
 * Caller holds op; there is a point. */
static int snap_restore(struct rpchain *c)
{
	struct pt *p = &c->pts[c->n - 1];
	int rc = 0;

	for (int d = 0; d < c->ndisks && rc == 0; d++) {
		struct bdisk *old, *bd = NULL;

		/* the cached handle would outlive a copy that replaces the disk */
		pthread_mutex_lock(&c->lock);
		old = c->rep[d];
		c->rep[d] = NULL;
		pthread_mutex_unlock(&c->lock);
		bd_close(old);
		rc = be_disk_open(c->data, c->replica_keys[d], BDISK_RDWR, &bd);
		if (rc == -ENOENT) {
			rc = c->data->ops->disk_create(c->data, c->replica_keys[d], 0);
			if (rc == 0)
				rc = be_disk_open(c->data, c->replica_keys[d], BDISK_RDWR, &bd);
		}
		if (rc == 0)
			rc = c->data->ops->disk_copy_snapshot(bd, c->data, c->replica_keys[d], p->s[d]->id);
		if (rc == 0)
			rc = bd_sync(bd);
		bd_close(bd);
	}
	return rc;
}

struct snap_list {
	char (*ids)[BACKEND_SNAP_MAX];
	size_t n, cap;
	int err;
};

static int snap_list_cb(void *arg, const char *id)
{
	struct snap_list *l = arg;

	if (strlen(id) >= BACKEND_SNAP_MAX)
		return 0; /* not one of ours */
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		void *a = realloc(l->ids, ncap * sizeof(*l->ids));
		if (!a) {
			l->err = -ENOMEM;
			return 1;
		}
		l->ids = a;
		l->cap = ncap;
	}
	snprintf(l->ids[l->n++], BACKEND_SNAP_MAX, "%s", id);
	return 0;
}

/* Delete every snapshot of the replicas that no point names.  Caller holds op. */
static int snap_gc(struct rpchain *c)
{
	int rc = 0;

	if (!c->data->ops->disk_snapshot_list)
		return 0;
	for (int d = 0; d < c->ndisks && rc == 0; d++) {
		struct snap_list l = {0};
		rc = c->data->ops->disk_snapshot_list(c->data, c->replica_keys[d], snap_list_cb, &l);
		if (rc == -ENOENT)
			rc = 0;
		if (rc == 0)
			rc = l.err;
		for (size_t k = 0; k < l.n && rc == 0; k++) {
			int known = strcmp(c->keep[d], l.ids[k]) == 0;
			pthread_mutex_lock(&c->lock);
			for (int i = 0; i < c->n && !known; i++)
				known = c->pts[i].s && strcmp(c->pts[i].s[d]->id, l.ids[k]) == 0;
			pthread_mutex_unlock(&c->lock);
			if (!known) {
				rc = c->data->ops->disk_snapshot_delete(c->data, c->replica_keys[d], l.ids[k]);
				if (rc == -ENOENT)
					rc = 0;
			}
		}
		free(l.ids);
	}
	return rc;
}

/* ---- open / close ---- */

void rpchain_close(struct rpchain *c)
{
	if (!c)
		return;
	if (c->cycle) {
		/* Left for the next open to roll back. */
		free(c->cycle->u);
		free(c->cycle->arg);
		free(c->cycle->sink);
		free(c->cycle);
	}
	for (int i = 0; i < c->n; i++)
		pt_free(&c->pts[i], c->ndisks);
	free(c->pts);
	if (c->rep)
		for (int d = 0; d < c->ndisks; d++)
			bd_close(c->rep[d]);
	free(c->rep);
	if (c->replica_keys)
		for (int d = 0; d < c->ndisks; d++)
			free(c->replica_keys[d]);
	free(c->replica_keys);
	free(c->keep);
	free(c->catalog_key);
	free(c->copy_key);
	free(c->data_prefix);
	free(c->seen);
	pthread_cond_destroy(&c->unref);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->op);
	free(c);
}

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

int rpchain_stale(struct rpchain *c)
{
	char etag[BACKEND_ETAG_MAX], *text = NULL;
	int rc;

	if (!c->readonly || c->snap)
		return 0; /* the owner's own chain, or immutable snapshots */
	rc = be_rec_get(c->meta, c->catalog_key, &text, NULL, etag);
	free(text);
	if (rc == -ENOENT)
		return c->n > 0 && !c->from_copy; /* the chain was destroyed */
	if (rc < 0)
		return rc;
	if (strcmp(etag, c->cat_etag) != 0)
		return 1;
	for (int d = 0; d < c->ndisks && c->n > 0; d++) {
		uint64_t now;
		rc = undo_count_now(c, c->pts[c->n - 1].p.seq, d, &now);
		if (rc < 0)
			return rc;
		if (now != c->seen[d])
			return 1;
	}
	return 0;
}

int rpchain_open(const struct rpchain_conf *conf, struct rpchain **out)
{
	struct rpchain *c;
	char *text = NULL, *copy = NULL;
	int rc;

	if (!conf || !out || !conf->meta || !conf->data || !conf->catalog_key || !conf->data_prefix ||
	    conf->ndisks <= 0 || !conf->replica_keys)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->op, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->unref, NULL);
	c->meta = conf->meta;
	c->data = conf->data;
	c->ndisks = conf->ndisks;
	c->next_seq = 1;
	c->catalog_key = strdup(conf->catalog_key);
	if (asprintf(&c->copy_key, "%s.copy", conf->catalog_key) < 0)
		c->copy_key = NULL;
	c->data_prefix = strdup(conf->data_prefix);
	c->replica_keys = calloc((size_t)conf->ndisks, sizeof(*c->replica_keys));
	c->rep = calloc((size_t)conf->ndisks, sizeof(*c->rep));
	c->keep = calloc((size_t)conf->ndisks, sizeof(*c->keep));
	rc = -ENOMEM;
	if (!c->catalog_key || !c->copy_key || !c->data_prefix || !c->replica_keys || !c->rep || !c->keep)
		goto out;
	for (int d = 0; d < conf->ndisks; d++) {
		if (!conf->replica_keys[d]) {
			rc = -EINVAL;
			goto out;
		}
		if (!(c->replica_keys[d] = strdup(conf->replica_keys[d])))
			goto out;
		if (conf->keep_snaps && conf->keep_snaps[d])
			snprintf(c->keep[d], sizeof(c->keep[d]), "%s", conf->keep_snaps[d]);
	}
	if (conf->note && conf->notelen)
		conf->note[0] = '\0';
	rc = be_rec_get(c->meta, c->catalog_key, &text, NULL, c->cat_etag);
	if (rc == 0)
		rc = parse_catalog(c, text);
	if (rc == -EIO || (rc == -ENOENT && be_rec_get(c->meta, c->copy_key, &copy, NULL, NULL) == 0))
		rc = catalog_restore(c, conf, rc);
	else if (rc == -ENOENT) {
		c->snap = c->data->ops->disk_snapshot != NULL; /* a new chain */
		rc = 0;
	}
	if (rc == 0 && c->snap && !c->data->ops->disk_snapshot)
		rc = -EOPNOTSUPP; /* snapshot points on a medium without snapshots */
	if (rc < 0)
		goto out;

	c->readonly = conf->readonly;
	pthread_mutex_lock(&c->op);
	if (c->snap && !c->readonly) {
		if (c->busy && c->n > 0)
			rc = snap_restore(c); /* a cycle was cut short */
		if (rc == 0 && c->busy)
			rc = write_catalog(c, -1, NULL, c->next_seq, 0);
		if (rc == 0)
			c->busy = 0;
		if (rc == 0)
			rc = snap_gc(c);
	} else if (c->n > 0 && !c->readonly) {
		uint64_t seq = c->pts[c->n - 1].p.seq;
		for (int d = 0; d < c->ndisks && rc == 0; d++)
			rc = ensure_loaded(c, seq, d);
		if (rc == 0)
			rc = rollback(c); /* a no-op unless a cycle was cut short */
		if (rc == 0)
			rc = drop_newest_undo(c);
	}
	if (rc == 0 && !c->readonly)
		rc = gc(c, 1);
	if (rc == 0 && c->readonly && !c->snap)
		rc = seen_load(c);
	pthread_mutex_unlock(&c->op);
out:
	free(text);
	free(copy);
	if (rc < 0) {
		rpchain_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- listing ---- */

int rpchain_list(struct rpchain *c, struct rp_point **pts, int *n)
{
	struct rp_point *a;
	pthread_mutex_lock(&c->lock);
	a = malloc(sizeof(*a) * (size_t)(c->n ? c->n : 1));
	if (a) {
		for (int i = 0; i < c->n; i++)
			a[i] = c->pts[i].p;
		*n = c->n;
	}
	pthread_mutex_unlock(&c->lock);
	if (!a)
		return -ENOMEM;
	*pts = a;
	return 0;
}

int rpchain_newest(struct rpchain *c, struct rp_point *out)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&c->lock);
	if (c->n > 0) {
		*out = c->pts[c->n - 1].p;
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int rpchain_disk_size(struct rpchain *c, const char *point_id, int disk, uint64_t *size)
{
	int i, rc = -ENOENT;
	if (disk < 0 || disk >= c->ndisks)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	i = find_id(c, point_id);
	if (i >= 0) {
		*size = c->pts[i].sizes[disk];
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- adding points ---- */

/* Build the next point (id from t, sizes from the synced replicas) with empty
 * undos, or in snapshot mode with a new snapshot of every replica.  Caller
 * holds op. */
static int new_point(struct rpchain *c, time_t t, int app_consistent, struct pt *p)
{
	int rc = 0;

	memset(p, 0, sizeof(*p));
	p->sizes = calloc((size_t)c->ndisks, sizeof(*p->sizes));
	p->u = calloc((size_t)c->ndisks, sizeof(*p->u));
	if (!p->sizes || !p->u || (c->snap && pt_alloc_snaps(p, c->ndisks) < 0)) {
		rc = -ENOMEM;
		goto out;
	}
	for (int d = 0; d < c->ndisks; d++) {
		struct bdisk *rep;
		rc = get_replica(c, d, &rep);
		if (rc == 0)
			rc = bd_sync(rep);
		if (rc == 0)
			rc = bd_size(rep, &p->sizes[d]);
		if (rc == 0 && c->snap)
			rc = c->data->ops->disk_snapshot(c->data, c->replica_keys[d], p->s[d]->id);
		if (rc < 0) {
			/* nothing names the snapshots already taken: drop them */
			for (int k = 0; k < d && c->snap; k++)
				(void)c->data->ops->disk_snapshot_delete(c->data, c->replica_keys[k], p->s[k]->id);
			goto out;
		}
		if (!c->snap && !(p->u[d] = undo_new(c->next_seq, d))) {
			rc = -ENOMEM;
			goto out;
		}
	}
	pthread_mutex_lock(&c->lock);
	for (;; t++) {
		format_id(t, p->p.id);
		if (find_id(c, p->p.id) < 0)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	p->p.time = t;
	p->p.seq = c->next_seq;
	p->p.app_consistent = app_consistent ? 1 : 0;
out:
	if (rc < 0)
		pt_free(p, c->ndisks);
	return rc;
}

/* Catalog gains p, then memory does.  Caller holds op; p is consumed. */
static int append_point(struct rpchain *c, struct pt *p, struct rp_point *out)
{
	int rc = 0;

	if (c->n == c->cap) {
		int ncap = c->cap ? c->cap * 2 : 16;
		struct pt *a;
		pthread_mutex_lock(&c->lock);
		a = realloc(c->pts, sizeof(*a) * (size_t)ncap);
		if (a) {
			c->pts = a;
			c->cap = ncap;
		}
		pthread_mutex_unlock(&c->lock);
		if (!a) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = write_catalog(c, -1, p, c->next_seq + 1, 0);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&c->lock);
	c->pts[c->n++] = *p;
	c->next_seq++;
	c->busy = 0;
	pthread_mutex_unlock(&c->lock);
	if (out)
		*out = p->p;
	return 0;
out:
	pt_free(p, c->ndisks);
	return rc;
}

int rpchain_add_initial(struct rpchain *c, time_t t, int app_consistent, struct rp_point *out)
{
	struct pt p;
	int rc;

	if (c->readonly)
		return -EROFS;

	pthread_mutex_lock(&c->op);
	if (c->n > 0 || c->cycle) {
		rc = -EEXIST;
		goto out;
	}
	rc = new_point(c, t, app_consistent, &p);
	if (rc == 0)
		rc = append_point(c, &p, out);
out:
	pthread_mutex_unlock(&c->op);
	return rc;
}

/* ---- cycles ---- */

static int sink_save(void *arg, uint64_t page, const void *old)
{
	struct cyd *x = arg;
	struct rpchain *c = x->cy->c;
	struct undo *u = x->cy->u[x->disk];
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
	struct undo *u = x->cy->u[x->disk];
	int rc;

	pthread_mutex_lock(&u->wlock);
	rc = undo_sync(u);
	pthread_mutex_unlock(&u->wlock);
	return rc;
}

static void cycle_free(struct rp_cycle *cy)
{
	if (!cy)
		return;
	free(cy->u);
	free(cy->arg);
	free(cy->sink);
	free(cy);
}

int rpchain_begin(struct rpchain *c, struct rp_cycle **out)
{
	struct rp_cycle *cy = NULL;
	uint64_t seq;
	int rc;

	if (c->readonly)
		return -EROFS;

	pthread_mutex_lock(&c->op);
	if (c->cycle) {
		rc = -EBUSY;
		goto out;
	}
	if (c->n == 0) {
		rc = -ENOENT;
		goto out;
	}
	cy = calloc(1, sizeof(*cy));
	rc = -ENOMEM;
	if (!cy)
		goto out;
	cy->c = c;
	cy->u = calloc((size_t)c->ndisks, sizeof(*cy->u));
	cy->arg = calloc((size_t)c->ndisks, sizeof(*cy->arg));
	cy->sink = calloc((size_t)c->ndisks, sizeof(*cy->sink));
	if (!cy->u || !cy->arg || !cy->sink)
		goto out;
	if (c->snap) {
		/* no pre-images: the mark alone tells a later open to restore */
		rc = write_catalog(c, -1, NULL, c->next_seq, 1);
		if (rc < 0)
			goto out;
		c->busy = 1;
	}
	seq = c->pts[c->n - 1].p.seq;
	for (int d = 0; d < c->ndisks && !c->snap; d++) {
		rc = ensure_loaded(c, seq, d);
		if (rc < 0)
			goto out;
		cy->u[d] = c->pts[c->n - 1].u[d]; /* stable: the newest can't go under op */
		if (cy->u[d]->nent) {
			rc = -EIO; /* open rolled back; nothing else writes here */
			goto out;
		}
		cy->arg[d].cy = cy;
		cy->arg[d].disk = d;
		cy->sink[d].save = sink_save;
		cy->sink[d].commit = sink_commit;
		cy->sink[d].arg = &cy->arg[d];
	}
	c->cycle = cy;
	*out = cy;
	cy = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&c->op);
	cycle_free(cy);
	return rc;
}

const struct delta_undo *rp_cycle_undo(struct rp_cycle *cy, int disk)
{
	if (!cy || disk < 0 || disk >= cy->c->ndisks || cy->c->snap)
		return NULL;
	return &cy->sink[disk];
}

int rpchain_commit(struct rp_cycle *cy, time_t t, int app_consistent, struct rp_point *out)
{
	struct rpchain *c = cy->c;
	struct pt p;
	int rc = 0;

	pthread_mutex_lock(&c->op);
	for (int d = 0; d < c->ndisks && rc == 0 && !c->snap; d++)
		rc = undo_sync(cy->u[d]);
	if (rc == 0)
		rc = new_point(c, t, app_consistent, &p);
	if (rc == 0)
		rc = append_point(c, &p, out);
	if (rc == 0) {
		c->cycle = NULL;
		cycle_free(cy);
	}
	/* On failure the cycle stays open: commit again or abort. */
	pthread_mutex_unlock(&c->op);
	return rc;
}

int rpchain_abort(struct rp_cycle *cy)
{
	struct rpchain *c = cy->c;
	int rc;

	pthread_mutex_lock(&c->op);
	if (c->snap) {
		rc = snap_restore(c);
		if (rc == 0)
			rc = write_catalog(c, -1, NULL, c->next_seq, 0);
		if (rc == 0)
			c->busy = 0;
	} else {
		rc = rollback(c);
		if (rc == 0)
			rc = drop_newest_undo(c);
	}
	if (rc == 0) {
		c->cycle = NULL;
		cycle_free(cy);
	}
	/* On failure the cycle stays open; the next open rolls back anyway. */
	pthread_mutex_unlock(&c->op);
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
	i = find_seq(c, seq);
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
	i = find_seq(c, seq);
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

/* Snapshot mode: [off, off+len) of a point is its snapshot's bytes. */
static int read_snap(struct rpchain *c, uint64_t seq, int disk, void *buf, uint64_t len, uint64_t off)
{
	struct snapd *sd;
	ssize_t r;
	int rc = snap_pin(c, seq, disk, 1, &sd);

	if (rc < 0)
		return rc;
	r = bd_pread(sd->bd, buf, len, off);
	if (r < 0)
		rc = (int)r;
	else if ((uint64_t)r < len) /* past the snapshot's end: zeros, as the image */
		memset((unsigned char *)buf + r, 0, len - (uint64_t)r);
	snap_unpin(c, sd);
	return rc;
}

/* Read [off, off+len) of a point, len already clipped to its size. */
static int read_range(struct rpchain *c, uint64_t seq, int disk, void *buf, uint64_t len, uint64_t off)
{
	struct src *s;
	unsigned char *tmp;
	struct bdisk *rep = NULL;
	uint64_t end = off + len, p;
	int rc = 0;

	if (c->snap)
		return len ? read_snap(c, seq, disk, buf, len, off) : 0;
	s = calloc(BATCH_PAGES, sizeof(*s));
	tmp = malloc(PG);
	if (!s || !tmp) {
		rc = -ENOMEM;
		goto out;
	}
	if (len == 0)
		goto out;
	rc = get_replica(c, disk, &rep);
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

static int point_info(struct rpchain *c, const char *id, int disk, uint64_t *seq, uint64_t *size)
{
	int i, rc = -ENOENT;
	if (!id || disk < 0 || disk >= c->ndisks)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	i = find_id(c, id);
	if (i >= 0) {
		*seq = c->pts[i].p.seq;
		*size = c->pts[i].sizes[disk];
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

ssize_t rpchain_read(struct rpchain *c, const char *point_id, int disk, void *buf, size_t len,
		     uint64_t off)
{
	uint64_t seq, size;
	int rc = point_info(c, point_id, disk, &seq, &size);

	if (rc < 0)
		return rc;
	if (off >= size)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (len > size - off)
		len = (size_t)(size - off);
	rc = read_range(c, seq, disk, buf, len, off);
	return rc < 0 ? rc : (ssize_t)len;
}

/* ---- export ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int rpchain_export(struct rpchain *c, const char *point_id, int disk, struct bdisk *dst,
		   int (*progress)(void *, const struct delta_stats *), void *arg)
{
	const uint64_t chunk = BATCH_PAGES * PG;
	struct delta_stats st = {0};
	unsigned char *buf = NULL;
	uint64_t seq, size, old, next_report = PROGRESS_EVERY;
	double t0 = now_s();
	int rc = point_info(c, point_id, disk, &seq, &size);

	if (rc < 0)
		return rc;
	if (c->snap) {
		/* the service copies the snapshot when dst is in its account */
		struct snapd *sd;
		rc = snap_pin(c, seq, disk, 0, &sd);
		if (rc < 0)
			return rc;
		rc = c->data->ops->disk_copy_snapshot(dst, c->data, c->replica_keys[disk], sd->id);
		snap_unpin(c, sd);
		if (rc == 0) {
			st.bytes_total = st.bytes_compared = size;
			st.seconds = now_s() - t0;
			if (progress && progress(arg, &st) != 0)
				rc = -ECANCELED;
			return rc == 0 ? bd_sync(dst) : rc;
		}
		if (rc != -EXDEV && rc != -EOPNOTSUPP)
			return rc;
		rc = 0; /* another account: read and write below */
	}
	rc = bd_size(dst, &old);
	if (rc == 0 && old != size)
		rc = bd_truncate(dst, size);
	if (rc < 0)
		return rc;
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	st.bytes_total = size;
	for (uint64_t off = 0; off < size && rc == 0;) {
		uint64_t n = size - off < chunk ? size - off : chunk;
		rc = read_range(c, seq, disk, buf, n, off);
		/* Runs of data pages are written; zero pages become holes where
		 * dst held old bytes (beyond its old end they already are). */
		for (uint64_t a = 0; a < n && rc == 0;) {
			uint64_t b = a;
			int zero = is_zero(buf + a, n - a < PG ? n - a : PG);
			while (b < n && is_zero(buf + b, n - b < PG ? n - b : PG) == zero)
				b += PG;
			if (b > n)
				b = n;
			if (!zero) {
				ssize_t w = bd_pwrite(dst, buf + a, b - a, off + a);
				if (w >= 0 && (uint64_t)w != b - a)
					w = -EIO;
				if (w < 0)
					rc = (int)w;
				st.bytes_transferred += b - a;
				st.pages_changed += (b - a + PG - 1) / PG;
			} else if (off + a < old) {
				uint64_t zend = off + b < old ? off + b : old;
				rc = bd_zero(dst, off + a, zend - (off + a));
				st.pages_changed += (zend - (off + a) + PG - 1) / PG;
			}
			a = b;
		}
		if (rc < 0)
			break;
		off += n;
		st.bytes_compared = off;
		if (progress && (off >= next_report || off == size)) {
			next_report = off + PROGRESS_EVERY;
			st.seconds = now_s() - t0;
			if (progress(arg, &st) != 0)
				rc = -ECANCELED;
		}
	}
	if (size == 0 && progress && rc == 0 && progress(arg, &st) != 0)
		rc = -ECANCELED;
	if (rc == 0)
		rc = bd_sync(dst);
	free(buf);
	return rc;
}

/* ---- delete, prune, destroy ---- */

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
		uk = c->pts[find_seq(c, kseq)].u[d];
		up = c->pts[find_seq(c, pseq)].u[d];
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

static int delete_locked(struct rpchain *c, const char *id)
{
	struct pt victim;
	uint64_t seq, pseq = 0;
	int i, n, rc;

	pthread_mutex_lock(&c->lock);
	i = find_id(c, id);
	n = c->n;
	seq = i >= 0 ? c->pts[i].p.seq : 0;
	if (i > 0)
		pseq = c->pts[i - 1].p.seq;
	pthread_mutex_unlock(&c->lock);
	if (i < 0)
		return -ENOENT;
	if (i == n - 1)
		return -EPERM; /* the newest is the replica itself */
	if (!c->snap && i > 0) {
		rc = merge_into_prev(c, seq, pseq);
		if (rc < 0)
			return rc;
	}
	/* catalog first: objects it does not name are only garbage */
	rc = write_catalog(c, i, NULL, c->next_seq, c->busy);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	victim = c->pts[i];
	memmove(&c->pts[i], &c->pts[i + 1], sizeof(*c->pts) * (size_t)(c->n - i - 1));
	c->n--;
	if (c->snap)
		wait_unref_snaps(c, &victim);
	else
		for (int d = 0; d < c->ndisks; d++)
			wait_unref(c, victim.u[d]);
	pthread_mutex_unlock(&c->lock);
	if (c->snap)
		snap_drop(c, &victim);
	pt_free(&victim, c->ndisks);
	/* A failure here leaves garbage for gc. */
	if (!c->snap)
		(void)remove_seq(c, seq);
	return 0;
}

int rpchain_delete(struct rpchain *c, const char *point_id)
{
	int rc;

	if (c->readonly)
		return -EROFS;
	if (!point_id)
		return -EINVAL;
	pthread_mutex_lock(&c->op);
	rc = delete_locked(c, point_id);
	pthread_mutex_unlock(&c->op);
	return rc;
}

static time_t hour_of(time_t t)
{
	time_t h = t / 3600;
	if (t < 0 && t % 3600)
		h--;
	return h;
}

void rp_retention(const struct rp_point *pts, int n, time_t now, unsigned retention_hours, int *keep)
{
	const time_t ret = (time_t)retention_hours * 3600, recent = 2 * 3600;

	for (int i = 0; i < n; i++) {
		time_t age = now - pts[i].time;
		keep[i] = 1;
		if (i == n - 1)
			break; /* the newest is always kept */
		if (age > ret) {
			keep[i] = 0;
			continue;
		}
		if (age <= recent)
			continue;
		/* Past two hours: only the newest point of each UTC hour. */
		for (int j = 0; j < n; j++) {
			if (j == i || now - pts[j].time <= recent || hour_of(pts[j].time) != hour_of(pts[i].time))
				continue;
			if (pts[j].time > pts[i].time || (pts[j].time == pts[i].time && j > i)) {
				keep[i] = 0;
				break;
			}
		}
	}
}

int rpchain_prune(struct rpchain *c, time_t now, unsigned retention_hours)
{
	struct rp_point *pts = NULL;
	int *keep = NULL, n = 0, done = 0, rc;

	if (c->readonly)
		return -EROFS;

	pthread_mutex_lock(&c->op);
	rc = rpchain_list(c, &pts, &n);
	if (rc < 0)
		goto out;
	keep = calloc((size_t)(n ? n : 1), sizeof(*keep));
	if (!keep) {
		rc = -ENOMEM;
		goto out;
	}
	rp_retention(pts, n, now, retention_hours, keep);
	for (int i = 0; i < n; i++) {
		if (keep[i])
			continue;
		rc = delete_locked(c, pts[i].id);
		if (rc < 0)
			goto out;
		done++;
	}
	rc = done;
out:
	pthread_mutex_unlock(&c->op);
	free(pts);
	free(keep);
	return rc;
}

int rpchain_destroy(struct rpchain *c)
{
	struct pt *old = NULL;
	int n = 0, rc;

	if (c->readonly)
		return -EROFS;

	pthread_mutex_lock(&c->op);
	if (c->cycle) {
		rc = -EBUSY;
		goto out;
	}
	/* Catalog first: undo objects without it are garbage, never a damaged
	 * point; its copy before it, so a copy alone is never a stale one. */
	rc = be_rec_del(c->meta, c->copy_key);
	if (rc == 0 || rc == -ENOENT)
		rc = be_rec_del(c->meta, c->catalog_key);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	pthread_mutex_lock(&c->lock);
	old = c->pts;
	n = c->n;
	c->pts = NULL;
	c->n = c->cap = 0;
	for (int i = 0; i < n; i++) {
		for (int d = 0; d < c->ndisks; d++)
			wait_unref(c, old[i].u[d]);
		wait_unref_snaps(c, &old[i]);
	}
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < n; i++) {
		snap_drop(c, &old[i]);
		pt_free(&old[i], c->ndisks);
	}
	free(old);
	rc = c->snap ? snap_gc(c) : 0;
	if (rc == 0)
		rc = gc(c, 0);
	/* a chain made anew (reprotect) takes the medium's mode */
	c->snap = c->data->ops->disk_snapshot != NULL;
	c->busy = 0;
out:
	pthread_mutex_unlock(&c->op);
	return rc;
}
