/*
 * tracking.c - core's side of write tracking: each source disk's gate, the
 * object a mount write and a replication cycle meet at.
 *
 * A gate exists per disk key of each backend that was opened for writing
 * or protected.  It holds the disk's instant lock (a writer-preferring
 * rwlock: mount writes take it shared around their mark and data write, a
 * cycle takes it exclusively for all of an item's disks for the instant of
 * a capture, in index order; no two items share a source disk, so the order
 * cannot deadlock) and, once an item protects the disk, its tracker
 * (sync/track.h), whose file is <state>/tracking/<region>/<hash of key>.trk.
 * A tracker is attached under the instant lock held exclusively, so every
 * write that starts after the attach is marked; gates and trackers live
 * until shut-down.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "log.h"
#include "model.h"
#include "tracking.h"

struct gate {
	struct backend *be;
	char key[1024];
	pthread_rwlock_t rw;
	struct track *t; /* set and cleared with rw held exclusively; read with rw held */
	struct gate *next;
};
#define NGATEB 1024u
static struct gate *gates[NGATEB]; /* hashed by key; protected by model_lock */

static unsigned gate_bucket(const struct backend *be, const char *key)
{
	return (unsigned)((XXH64(key, strlen(key), 0) ^ (uintptr_t)be) % NGATEB);
}

/* model_lock held: the gate if there is one. */
static struct gate *gate_find(const struct backend *be, const char *key)
{
	for (struct gate *g = gates[gate_bucket(be, key)]; g; g = g->next)
		if (g->be == be && strcmp(g->key, key) == 0)
			return g;
	return NULL;
}

/* model_lock held */
struct gate *gate_get(struct backend *be, const char *key)
{
	struct gate *g = gate_find(be, key);
	pthread_rwlockattr_t attr;
	unsigned b = gate_bucket(be, key);
	if (g)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->be = be;
	snprintf(g->key, sizeof(g->key), "%s", key);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	g->next = gates[b];
	gates[b] = g;
	return g;
}

void gates_free(void)
{
	for (unsigned b = 0; b < NGATEB; b++)
		while (gates[b]) {
			struct gate *g = gates[b];
			gates[b] = g->next;
			track_close(g->t);
			pthread_rwlock_destroy(&g->rw);
			free(g);
		}
}

int gate_write_begin(struct gate *g, struct bdisk *bd, uint64_t off, uint64_t len)
{
	int rc = 0;
	pthread_rwlock_rdlock(&g->rw);
	if (g->t)
		rc = track_mark(g->t, bd, off, len);
	if (rc < 0)
		pthread_rwlock_unlock(&g->rw);
	return rc;
}

void gate_write_end(struct gate *g)
{
	/* The stamp after the write, so the next instant can tell a write that
	 * bypassed the mount from this one.  A stat; a remote medium would pay
	 * a request a write, so there only a quiet interval is checked. */
	if (g->t && !(g->be->ops->flags & BACKEND_REMOTE))
		track_note(g->t, g->be, g->key);
	pthread_rwlock_unlock(&g->rw);
}

int gate_flush(struct gate *g)
{
	int rc = 0;
	pthread_rwlock_rdlock(&g->rw);
	if (g->t)
		rc = track_sync(g->t);
	pthread_rwlock_unlock(&g->rw);
	return rc;
}

static void track_path(const char *region, const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tracking/%s/%016llx.trk", M.state_dir, region,
		 (unsigned long long)XXH64(key, strlen(key), 0));
}

/* The gate of region's disk key with its tracker attached (opened or
 * created now if need be).  No lock held. */
int gate_tracked(const char *region, const char *key, uint64_t size, struct gate **out)
{
	struct region *r;
	struct gate *g = NULL;
	struct track *t = NULL;
	char path[1400];
	int rc = 0;

	lock_model();
	r = region_find(region);
	if (r)
		g = gate_get(r->be, key);
	unlock_model();
	if (!r || !g)
		return r ? -ENOMEM : -ENOENT;
	pthread_rwlock_rdlock(&g->rw);
	t = g->t;
	pthread_rwlock_unlock(&g->rw);
	if (t) {
		*out = g;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/tracking", M.state_dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/tracking/%s", M.state_dir, region);
	(void)mkdir(path, 0700);
	track_path(region, key, path, sizeof(path));
	rc = track_open(path, size, &t);
	if (rc < 0) {
		logmsg("cannot open the write tracking %s: %s", path, strerror(-rc));
		return rc;
	}
	pthread_rwlock_wrlock(&g->rw);
	if (!g->t) {
		g->t = t;
		t = NULL;
	}
	pthread_rwlock_unlock(&g->rw);
	track_close(t); /* another thread attached first */
	*out = g;
	return 0;
}

struct track *gate_track(struct gate *g)
{
	return g->t; /* set once, never cleared before shut-down */
}

pthread_rwlock_t *gate_instant(struct gate *g)
{
	return &g->rw;
}

/* The tracker of an item's disk i if one is attached (no lock held). */
static struct track *item_track(struct vault_rec *v, const char *item, int i)
{
	struct item_rec *it;
	struct region *r;
	struct gate *g = NULL;
	char key[1024];
	lock_model();
	it = item_find(v, item);
	r = it && i < it->ndisks ? region_find(it->source_region) : NULL;
	if (r) {
		disk_key(it->disks[i].managed, it->disks[i].src_parent, it->disks[i].name, key, sizeof(key));
		g = gate_find(r->be, key);
	}
	unlock_model();
	return g ? gate_track(g) : NULL;
}

/* model_lock held. */
uint64_t item_disk_pending_bytes(const struct vault_rec *v, const struct item_rec *it, int i)
{
	struct region *r = region_find(it->source_region);
	struct gate *g;
	char key[1024];
	(void)v;
	if (!r || i >= it->ndisks)
		return 0;
	disk_key(it->disks[i].managed, it->disks[i].src_parent, it->disks[i].name, key, sizeof(key));
	g = gate_find(r->be, key);
	return g && g->t ? track_pending_bytes(g->t) : 0;
}

/* No lock held. */
int item_disk_page_written(struct vault_rec *v, const char *item, int i, uint64_t page)
{
	struct track *t = item_track(v, item, i);
	return t ? track_page_dirty(t, page) : 0;
}
