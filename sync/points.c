/*
 * points.c - the recovery-point chain of one replicated item (see points.h
 * for the design), the part both modes share: the point array, the catalog
 * and its copy, the locks, and the order of the steps of every call.  What
 * the undo mode (points_undo.c) and the snapshot mode (points_snap.c) do
 * differently is behind c->mode, an ops table (points_int.h); each of those
 * files describes its objects on the medium and its crash rules.
 *
 * The catalog (one record, meta backend):
 *     {"version":1,"next_seq":N,"points":[{"id":"2026-11-24T10:05:00Z",
 *      "time":<unix s>,"seq":S,"app_consistent":false,"sizes":[bytes,...]}]}
 *     and "multi_vm":true on a replication group's point (absent: false).
 *     points oldest first, seq increasing, all seq < next_seq.
 *     A mode other than undo writes its version and "mode":<name> (no
 *     "mode" means an undo chain), "cycle":<bool> if it marks a running
 *     cycle, and its own fields per point after "id" (point_json).
 *   Every write puts "<catalog_key>.copy" first, then the catalog: the copy
 *   never names less than the catalog has done its work for, so it stands
 *   in for a damaged or missing catalog.
 *
 * Crash ordering common to both modes (an existing point is never damaged):
 * a point enters the catalog only after the replicas are synced and the
 * mode has taken it (point_capture); a point leaves the catalog before its
 * data goes (point_delete), so data the catalog does not name is garbage,
 * collected by a writable open (recover, rp_undo_gc).
 *
 * Locking.  Two mutexes:
 *   op    serializes everything that changes the chain (catalog writers,
 *         begin/commit/abort, delete, prune, destroy).  Held across I/O.
 *         Readers never take it.
 *   lock  guards the in-memory state: the point array, each point's mode
 *         data (undo pointers, every undo's hash index and its object
 *         handles, snapshot read handles), their reference counts and the
 *         cached replica handles.  Held only for memory work, never across
 *         I/O to a replica, undo object or snapshot.  Taken after op, never
 *         the other way round.
 * A reader takes `lock` to look a point up and to pin (refs) what it will
 * read, drops it for the I/O, then takes it again to unpin.  Whoever
 * removes a point's data from the chain (delete, abort, destroy) waits on
 * `unref` until its refs are zero before closing or deleting it.
 * Replica handles are opened lazily and kept until rpchain_close (or a
 * snapshot restore, which replaces the replicas under op).
 *
 * Failure of rpchain_commit or rpchain_abort leaves the cycle open (begin
 * says -EBUSY): commit again or abort; a crash or close leaves it for the
 * next open to roll back.  After rpchain_destroy only rpchain_close is useful.
 */
#define _GNU_SOURCE
#include "points_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_EVERY (16ull << 20)

/* ---- small helpers ---- */

int rp_is_zero(const void *p, size_t n)
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

/* ---- the point array (c->lock held) ---- */

static int find_id(const struct rpchain *c, const char *id)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->pts[i].p.id, id) == 0)
			return i;
	return -1;
}

int rp_find_seq(const struct rpchain *c, uint64_t seq)
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

/* Free a point's memory (not its data on the medium). */
void rp_pt_free(struct rpchain *c, struct pt *p)
{
	c->mode->point_free(c, p);
	free(p->sizes);
	p->sizes = NULL;
}

/* The chain's replica handle of disk, opened on first use. */
int rp_get_replica(struct rpchain *c, int disk, struct bdisk **out)
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

/* ---- catalog ---- */

static const struct point_mode_ops *const modes[] = {&rp_undo_mode, &rp_snap_mode};

/* The mode a catalog's "mode" names; NULL: none we know. */
static const struct point_mode_ops *mode_named(const char *name)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i]->name, name) == 0)
			return modes[i];
	return NULL;
}

/* The mode of a chain made now on c->data: snapshots where it has them. */
static const struct point_mode_ops *mode_of_medium(const struct rpchain *c)
{
	return c->data->ops->disk_snapshot ? &rp_snap_mode : &rp_undo_mode;
}

static int parse_catalog(struct rpchain *c, const char *text)
{
	const struct point_mode_ops *m;
	struct json_object *root, *v, *arr;
	int rc = -EIO;
	size_t np;

	root = json_tokener_parse(text);
	if (!root)
		return -EIO;
	if (!json_object_object_get_ex(root, "next_seq", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	c->next_seq = (uint64_t)json_object_get_int64(v);
	c->mode = &rp_undo_mode; /* a catalog without "mode" */
	if (json_object_object_get_ex(root, "mode", &v)) {
		if (!json_object_is_type(v, json_type_string))
			goto out;
		m = mode_named(json_object_get_string(v));
		if (!m)
			goto out;
		c->mode = m;
	}
	c->busy = 0;
	if (c->mode->cycle_mark && json_object_object_get_ex(root, "cycle", &v)) {
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
		p->p.multi_vm = json_object_object_get_ex(o, "multi_vm", &v) &&
				json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
		if (!json_object_object_get_ex(o, "sizes", &sz) || !json_object_is_type(sz, json_type_array) ||
		    json_object_array_length(sz) != (size_t)c->ndisks)
			goto out;
		p->sizes = calloc((size_t)c->ndisks, sizeof(*p->sizes));
		c->n = (int)i + 1; /* so rp_pt_free sees it on failure */
		if (!p->sizes || c->mode->point_alloc(c, p) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		for (int d = 0; d < c->ndisks; d++) {
			v = json_object_array_get_idx(sz, (size_t)d);
			if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
				goto out;
			p->sizes[d] = (uint64_t)json_object_get_int64(v);
		}
		if (c->mode->point_parse) {
			rc = c->mode->point_parse(c, p, o);
			if (rc < 0)
				goto out;
			rc = -EIO;
		}
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

/* Add val under key, taking ownership of val (NULL: allocation failed). */
int rp_add_field(struct json_object *o, const char *key, struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(o, key, val) < 0) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

static int add_point_json(const struct rpchain *c, struct json_object *arr, const struct pt *p)
{
	struct json_object *o = json_object_new_object(), *sz = json_object_new_array();
	int rc = -ENOMEM;

	if (!o || !sz)
		goto out;
	for (int d = 0; d < c->ndisks; d++) {
		struct json_object *v = json_object_new_int64((int64_t)p->sizes[d]);
		if (!v || json_object_array_add(sz, v) < 0) {
			json_object_put(v);
			goto out;
		}
	}
	rc = rp_add_field(o, "id", json_object_new_string(p->p.id));
	if (rc == 0 && c->mode->point_json)
		rc = c->mode->point_json(c, p, o);
	if (rc == 0)
		rc = rp_add_field(o, "time", json_object_new_int64((int64_t)p->p.time));
	if (rc == 0)
		rc = rp_add_field(o, "seq", json_object_new_int64((int64_t)p->p.seq));
	if (rc == 0)
		rc = rp_add_field(o, "app_consistent", json_object_new_boolean(p->p.app_consistent));
	if (rc == 0 && p->p.multi_vm)
		rc = rp_add_field(o, "multi_vm", json_object_new_boolean(1));
	if (rc == 0)
		rc = rp_add_field(o, "sizes", sz);
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
 * plus `extra` (NULL: none); with the cycle mark `busy` if the mode has one.
 * Caller holds op. */
int rp_write_catalog(struct rpchain *c, int skip, const struct pt *extra, uint64_t next_seq, int busy)
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
			rc = add_point_json(c, arr, &c->pts[i]);
	pthread_mutex_unlock(&c->lock);
	if (rc == 0 && extra)
		rc = add_point_json(c, arr, extra);
	if (rc == 0)
		rc = rp_add_field(root, "version", json_object_new_int(c->mode->version));
	if (rc == 0 && c->mode->version > 1)
		rc = rp_add_field(root, "mode", json_object_new_string(c->mode->name));
	if (rc == 0 && c->mode->cycle_mark)
		rc = rp_add_field(root, "cycle", json_object_new_boolean(busy));
	if (rc == 0)
		rc = rp_add_field(root, "next_seq", json_object_new_int64((int64_t)next_seq));
	if (rc == 0)
		rc = rp_add_field(root, "points", arr);
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
		rp_pt_free(c, &c->pts[i]);
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

/* ---- open / close ---- */

static void cycle_free(struct rp_cycle *cy)
{
	if (!cy)
		return;
	if (cy->c->mode->cycle_free)
		cy->c->mode->cycle_free(cy);
	free(cy);
}

void rpchain_close(struct rpchain *c)
{
	if (!c)
		return;
	cycle_free(c->cycle); /* left for the next open to roll back */
	for (int i = 0; i < c->n; i++)
		rp_pt_free(c, &c->pts[i]);
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

int rpchain_stale(struct rpchain *c)
{
	char etag[BACKEND_ETAG_MAX], *text = NULL;
	int rc;

	if (!c->readonly || !c->mode->stale)
		return 0; /* the owner's own chain, or points that never move */
	rc = be_rec_get(c->meta, c->catalog_key, &text, NULL, etag);
	free(text);
	if (rc == -ENOENT)
		return c->n > 0 && !c->from_copy; /* the chain was destroyed */
	if (rc < 0)
		return rc;
	if (strcmp(etag, c->cat_etag) != 0)
		return 1;
	return c->mode->stale(c);
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
	c->mode = mode_of_medium(c); /* a new chain's; the catalog says an old one's */
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
	else if (rc == -ENOENT)
		rc = 0; /* a new chain */
	if (rc == 0 && c->mode->check)
		rc = c->mode->check(c);
	if (rc < 0)
		goto out;

	c->readonly = conf->readonly;
	pthread_mutex_lock(&c->op);
	if (!c->readonly)
		rc = c->mode->recover(c);
	if (rc == 0 && !c->readonly)
		rc = rp_undo_gc(c, 1);
	if (rc == 0 && c->readonly && c->mode->open_readonly)
		rc = c->mode->open_readonly(c);
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

/* Build the next point (id from t, sizes from the synced replicas), each
 * disk taken by the mode (empty undos, or a new snapshot of every replica).
 * Caller holds op. */
static int new_point(struct rpchain *c, time_t t, int flags, struct pt *p)
{
	int rc = 0;

	memset(p, 0, sizeof(*p));
	p->sizes = calloc((size_t)c->ndisks, sizeof(*p->sizes));
	if (!p->sizes || c->mode->point_alloc(c, p) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (int d = 0; d < c->ndisks; d++) {
		struct bdisk *rep;
		rc = rp_get_replica(c, d, &rep);
		if (rc == 0)
			rc = bd_sync(rep);
		if (rc == 0)
			rc = bd_size(rep, &p->sizes[d]);
		if (rc == 0)
			rc = c->mode->point_capture(c, p, d);
		if (rc < 0) {
			if (c->mode->point_uncapture)
				c->mode->point_uncapture(c, p, d);
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
	p->p.app_consistent = (flags & RP_APP) != 0;
	p->p.multi_vm = (flags & RP_MULTI_VM) != 0;
out:
	if (rc < 0)
		rp_pt_free(c, p);
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
	rc = rp_write_catalog(c, -1, p, c->next_seq + 1, 0);
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
	rp_pt_free(c, p);
	return rc;
}

int rpchain_add_initial(struct rpchain *c, time_t t, int flags, struct rp_point *out)
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
	rc = new_point(c, t, flags, &p);
	if (rc == 0)
		rc = append_point(c, &p, out);
out:
	pthread_mutex_unlock(&c->op);
	return rc;
}

/* ---- cycles ---- */

int rpchain_begin(struct rpchain *c, struct rp_cycle **out)
{
	struct rp_cycle *cy = NULL;
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
	rc = c->mode->begin(cy);
	if (rc < 0)
		goto out;
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
	if (!cy || disk < 0 || disk >= cy->c->ndisks || !cy->c->mode->sink)
		return NULL;
	return cy->c->mode->sink(cy, disk);
}

int rpchain_commit(struct rp_cycle *cy, time_t t, int flags, struct rp_point *out)
{
	struct rpchain *c = cy->c;
	struct pt p;
	int rc = 0;

	pthread_mutex_lock(&c->op);
	if (c->mode->pre_commit)
		rc = c->mode->pre_commit(cy);
	if (rc == 0)
		rc = new_point(c, t, flags, &p);
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
	rc = c->mode->abort(cy);
	if (rc == 0) {
		c->cycle = NULL;
		cycle_free(cy);
	}
	/* On failure the cycle stays open; the next open rolls back anyway. */
	pthread_mutex_unlock(&c->op);
	return rc;
}

/* ---- reading a point ---- */

/* Read [off, off+len) of a point, len already clipped to its size. */
static int read_range(struct rpchain *c, uint64_t seq, int disk, void *buf, uint64_t len, uint64_t off)
{
	return len ? c->mode->read(c, seq, disk, buf, len, off) : 0;
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
	if (c->mode->export_copy) {
		rc = c->mode->export_copy(c, seq, disk, dst);
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
			int zero = rp_is_zero(buf + a, n - a < PG ? n - a : PG);
			while (b < n && rp_is_zero(buf + b, n - b < PG ? n - b : PG) == zero)
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
	if (c->mode->delete_prepare) {
		rc = c->mode->delete_prepare(c, seq, pseq);
		if (rc < 0)
			return rc;
	}
	/* catalog first: objects it does not name are only garbage */
	rc = rp_write_catalog(c, i, NULL, c->next_seq, c->busy);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	victim = c->pts[i];
	memmove(&c->pts[i], &c->pts[i + 1], sizeof(*c->pts) * (size_t)(c->n - i - 1));
	c->n--;
	c->mode->point_wait(c, &victim);
	pthread_mutex_unlock(&c->lock);
	c->mode->point_delete(c, &victim);
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
	for (int i = 0; i < n; i++)
		c->mode->point_wait(c, &old[i]);
	pthread_mutex_unlock(&c->lock);
	rc = c->mode->destroy(c, old, n);
	free(old);
	if (rc == 0)
		rc = rp_undo_gc(c, 0);
	/* a chain made anew (reprotect) takes the medium's mode */
	c->mode = mode_of_medium(c);
	c->busy = 0;
out:
	pthread_mutex_unlock(&c->op);
	return rc;
}
