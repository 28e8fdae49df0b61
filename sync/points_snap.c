/*
 * points_snap.c - the recovery-point chain's snapshot mode (rp_snap_mode, see
 * points_int.h), for a medium with snapshots (backend.h disk_snapshot:
 * azblob).  Every point names one snapshot of each replica disk; between
 * cycles the replicas equal the newest point's snapshots.  A cycle keeps no
 * pre-images: the engine writes the replicas directly, and what undoes a
 * cycle cut short is a copy of the newest point's snapshots back onto them.
 * The chain (sync/points.c) holds the catalog and the locks; this file
 * holds the snapshots.
 *
 * On-medium layout: the snapshots of the replica disks themselves (no object
 * of this mode under data_prefix).  The catalog says "version":2,
 * "mode":"snapshot", "cycle":<bool> (a cycle is in progress), and per point
 * "snaps":[<snapshot id>,...] (one per disk, of the replica disk).
 *
 * Crash rules (an existing point is never damaged):
 *   cycle    begin writes the catalog with "cycle":true before the engine
 *            touches a replica; commit syncs the replicas, snapshots them,
 *            then writes the catalog with the point and "cycle":false.  Open
 *            with the mark set copies the newest point's snapshots back.
 *            Snapshots taken by a commit cut short are garbage.
 *   delete   catalog first, then the snapshots.  A snapshot of a replica
 *            the catalog does not name (nor rpchain_conf's keep_snaps) is
 *            garbage, deleted on open (never when readonly).  A failed
 *            catalog write never deletes the new snapshots (the write may
 *            have landed): open collects them.
 *
 * Locking: a point's snapd per disk carries its snapshot id, a lazily
 * opened read handle and refs, pinned under c->lock by readers and exports
 * for their I/O; delete and destroy unhook the point under c->lock, wait on
 * c->unref until its refs are zero, then delete the snapshots.  Snapshot ids
 * never change while a point exists.  A restore replaces the replicas, so
 * it drops the chain's cached replica handles first (under op).
 */
#define _GNU_SOURCE
#include "points_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A point's snapshot of one disk. */
struct snapd {
	char id[BACKEND_SNAP_MAX];
	struct bdisk *bd; /* opened by the first reader, closed with the point */
	int refs;         /* readers and exports using it */
};

/* Give p an empty snapd per disk. */
static int snap_point_alloc(struct rpchain *c, struct pt *p)
{
	p->s = calloc((size_t)c->ndisks, sizeof(*p->s));
	if (!p->s)
		return -ENOMEM;
	for (int d = 0; d < c->ndisks; d++)
		if (!(p->s[d] = calloc(1, sizeof(*p->s[d]))))
			return -ENOMEM;
	return 0;
}

/* ---- pinning, deleting, restoring, collecting ---- */

/* Pin point seq's snapshot of disk (and open it when `open`), so no delete
 * takes it away until snap_unpin.  -ENOENT: the point is gone. */
static int snap_pin(struct rpchain *c, uint64_t seq, int disk, int open, struct snapd **out)
{
	struct bdisk *bd = NULL;
	char id[BACKEND_SNAP_MAX];
	struct snapd *s;
	int i, have, rc;

	pthread_mutex_lock(&c->lock);
	i = rp_find_seq(c, seq);
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

/* [off, off+len) of a point is its snapshot's bytes. */
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

/* ---- the mode's hooks (points_int.h says when each is called) ---- */

static int snap_check(struct rpchain *c)
{
	/* snapshot points on a medium without snapshots */
	return c->data->ops->disk_snapshot ? 0 : -EOPNOTSUPP;
}

static void snap_point_free(struct rpchain *c, struct pt *p)
{
	if (p->s)
		for (int d = 0; d < c->ndisks; d++)
			if (p->s[d]) {
				bd_close(p->s[d]->bd);
				free(p->s[d]);
			}
	free(p->s);
	p->s = NULL;
}

static int snap_point_parse(struct rpchain *c, struct pt *p, struct json_object *o)
{
	struct json_object *sz, *v;

	if (!json_object_object_get_ex(o, "snaps", &sz) || !json_object_is_type(sz, json_type_array) ||
	    json_object_array_length(sz) != (size_t)c->ndisks)
		return -EIO;
	for (int d = 0; d < c->ndisks; d++) {
		v = json_object_array_get_idx(sz, (size_t)d);
		if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
		    json_object_get_string_len(v) >= BACKEND_SNAP_MAX)
			return -EIO;
		snprintf(p->s[d]->id, BACKEND_SNAP_MAX, "%s", json_object_get_string(v));
	}
	return 0;
}

static int snap_point_json(const struct rpchain *c, const struct pt *p, struct json_object *o)
{
	struct json_object *sn = json_object_new_array();

	for (int d = 0; d < c->ndisks && sn; d++) {
		struct json_object *v = json_object_new_string(p->s[d]->id);
		if (!v || json_object_array_add(sn, v) < 0) {
			json_object_put(v);
			json_object_put(sn);
			sn = NULL;
		}
	}
	return rp_add_field(o, "snaps", sn);
}

static int snap_point_capture(struct rpchain *c, struct pt *p, int disk)
{
	return c->data->ops->disk_snapshot(c->data, c->replica_keys[disk], p->s[disk]->id);
}

/* Nothing names the snapshots already taken: drop them. */
static void snap_point_uncapture(struct rpchain *c, struct pt *p, int ndone)
{
	for (int k = 0; k < ndone; k++)
		(void)c->data->ops->disk_snapshot_delete(c->data, c->replica_keys[k], p->s[k]->id);
}

/* End the cycle the catalog marks: the replicas back to the newest point (if
 * any), then the catalog without the mark. */
static int snap_unmark(struct rpchain *c)
{
	int rc = c->n > 0 ? snap_restore(c) : 0;

	if (rc == 0)
		rc = rp_write_catalog(c, -1, NULL, c->next_seq, 0);
	if (rc == 0)
		c->busy = 0;
	return rc;
}

static int snap_recover(struct rpchain *c)
{
	int rc = c->busy ? snap_unmark(c) : 0; /* a cycle was cut short */

	if (rc == 0)
		rc = snap_gc(c);
	return rc;
}

/* No pre-images: the mark alone tells a later open to restore. */
static int snap_begin(struct rp_cycle *cy)
{
	struct rpchain *c = cy->c;
	int rc = rp_write_catalog(c, -1, NULL, c->next_seq, 1);

	if (rc == 0)
		c->busy = 1;
	return rc;
}

static int snap_abort(struct rp_cycle *cy)
{
	return snap_unmark(cy->c);
}

/* The service copies the snapshot when dst is in its account. */
static int snap_export_copy(struct rpchain *c, uint64_t seq, int disk, struct bdisk *dst)
{
	struct snapd *sd;
	int rc = snap_pin(c, seq, disk, 0, &sd);

	if (rc < 0)
		return rc;
	rc = c->data->ops->disk_copy_snapshot(dst, c->data, c->replica_keys[disk], sd->id);
	snap_unpin(c, sd);
	return rc;
}

static void snap_point_delete(struct rpchain *c, struct pt *p)
{
	snap_drop(c, p);
	rp_pt_free(c, p);
}

static int snap_destroy(struct rpchain *c, struct pt *old, int n)
{
	for (int i = 0; i < n; i++)
		snap_point_delete(c, &old[i]);
	return snap_gc(c);
}

const struct point_mode_ops rp_snap_mode = {
	.name = "snapshot",
	.version = 2,
	.cycle_mark = 1,
	.check = snap_check,
	.point_alloc = snap_point_alloc,
	.point_free = snap_point_free,
	.point_parse = snap_point_parse,
	.point_json = snap_point_json,
	.point_capture = snap_point_capture,
	.point_uncapture = snap_point_uncapture,
	.recover = snap_recover,
	.begin = snap_begin,
	.abort = snap_abort,
	.read = read_snap,
	.export_copy = snap_export_copy,
	.point_wait = wait_unref_snaps,
	.point_delete = snap_point_delete,
	.destroy = snap_destroy,
};
