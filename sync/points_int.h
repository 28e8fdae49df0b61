/*
 * points_int.h - inside the recovery-point chain: what sync/points.c shares
 * with its two modes, and the ops table through which it calls them.
 *
 * sync/points.c keeps what both modes have in common: the point array, the
 * catalog and its copy, the two locks, listing, retention, the order of the
 * steps of a cycle, a delete or a destroy.  Where the modes differ, it calls
 * c->mode->...: one `const struct point_mode_ops` per mode, as backend.h does
 * it for media:
 *   rp_undo_mode  (points_undo.c)  pre-images of overwritten pages per point;
 *   rp_snap_mode  (points_snap.c)  one snapshot per point and replica disk.
 * A chain's mode is chosen when it is created (the medium's: snapshot mode
 * when the data backend has disk_snapshot) and read back from its catalog
 * afterwards; it changes only when rpchain_destroy empties the chain.
 *
 * Not part of the public API: only points*.c include this.
 */
#ifndef ASRFS_POINTS_INT_H
#define ASRFS_POINTS_INT_H

#include <json-c/json.h>
#include <pthread.h>

#include "points.h"

#define PG ((uint64_t)DELTA_PAGE)
#define BATCH_PAGES 256u /* one read request: 1 MiB */

struct undo;  /* points_undo.c: one point's pre-images of one disk */
struct snapd; /* points_snap.c: one point's snapshot of one disk */

struct pt {
	struct rp_point p;
	uint64_t *sizes;  /* per disk */
	struct undo **u;  /* undo mode: per disk; NULL until loaded */
	struct snapd **s; /* snapshot mode: per disk */
};

struct rp_cycle {
	struct rpchain *c;
	void *m; /* the mode's state of the running cycle (NULL: none) */
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
	const struct point_mode_ops *mode;
	int busy;     /* the catalog says a cycle is in progress (modes with cycle_mark) */
};

/*
 * What a mode does where the modes differ.  "op held" means the caller holds
 * c->op (and not c->lock) unless said otherwise.  Hooks marked optional may
 * be NULL.  Every int hook returns 0 or -errno.
 */
struct point_mode_ops {
	const char *name; /* the catalog's "mode"; a version 1 catalog has none */
	int version;      /* the catalog's "version" */
	int cycle_mark;   /* the catalog carries "cycle":<bool> (c->busy) */

	/* Optional: -EOPNOTSUPP when c->data cannot hold a chain of this mode. */
	int (*check)(struct rpchain *c);

	/* A point's per-disk state, for a point not (or no longer) in c->pts:
	 * allocate it empty; free it (also a half-allocated one). */
	int (*point_alloc)(struct rpchain *c, struct pt *p);
	void (*point_free)(struct rpchain *c, struct pt *p);
	/* Optional: read the mode's fields of catalog entry o into p (after
	 * point_alloc); -EIO when they are wrong.  And write them (after "id"). */
	int (*point_parse)(struct rpchain *c, struct pt *p, struct json_object *o);
	int (*point_json)(const struct rpchain *c, const struct pt *p, struct json_object *o);
	/* A new point (seq c->next_seq) takes disk's replica, synced and its
	 * size in p->sizes.  Op held.  Optional undo of the disks [0, ndone)
	 * already taken, when a later one fails: nothing names them yet. */
	int (*point_capture)(struct rpchain *c, struct pt *p, int disk);
	void (*point_uncapture)(struct rpchain *c, struct pt *p, int ndone);

	/* A writable open, op held, catalog loaded: bring the replicas back to
	 * the newest point if a cycle was cut short; collect the mode's garbage. */
	int (*recover)(struct rpchain *c);
	/* Optional: a read-only open, op held: note what rpchain_stale compares. */
	int (*open_readonly)(struct rpchain *c);
	/* Optional (NULL: points never move under a reader): for a read-only
	 * chain whose catalog is unchanged, 1 when the mode's data moved. */
	int (*stale)(struct rpchain *c);

	/* A cycle on the newest point, op held: begin sets cy->m up; sink is
	 * the engine's undo sink of disk (optional: NULL, the engine writes the
	 * replicas directly); pre_commit (optional) makes the cycle's own data
	 * durable before the new point is taken; abort brings the replicas
	 * back to the newest point; cycle_free (optional) frees cy->m. */
	int (*begin)(struct rp_cycle *cy);
	const struct delta_undo *(*sink)(struct rp_cycle *cy, int disk);
	int (*pre_commit)(struct rp_cycle *cy);
	int (*abort)(struct rp_cycle *cy);
	void (*cycle_free)(struct rp_cycle *cy);

	/* Bytes [off, off+len) of point seq's disk image, len > 0 already
	 * clipped to its size; no chain lock held.  -ENOENT: the point is gone. */
	int (*read)(struct rpchain *c, uint64_t seq, int disk, void *buf, uint64_t len, uint64_t off);
	/* Optional: copy point seq's disk image onto dst without reading it
	 * here; -EXDEV or -EOPNOTSUPP: read and write it instead. */
	int (*export_copy)(struct rpchain *c, uint64_t seq, int disk, struct bdisk *dst);

	/* Deleting point seq (not the newest; pseq: the point before it, 0 when
	 * seq is the oldest), op held: optional work before the catalog drops
	 * it; then, under c->lock, wait until no reader uses p; then delete
	 * p's data and free p (a failure leaves garbage for open). */
	int (*delete_prepare)(struct rpchain *c, uint64_t seq, uint64_t pseq);
	void (*point_wait)(struct rpchain *c, const struct pt *p);
	void (*point_delete)(struct rpchain *c, struct pt *p);
	/* rpchain_destroy, op held, catalog gone: free the n unpinned points of
	 * old (not old itself) and delete the mode's data. */
	int (*destroy)(struct rpchain *c, struct pt *old, int n);
};

extern const struct point_mode_ops rp_undo_mode;
extern const struct point_mode_ops rp_snap_mode;

/* points.c: helpers for the modes */
int rp_find_seq(const struct rpchain *c, uint64_t seq); /* c->lock held; -1: none */
void rp_pt_free(struct rpchain *c, struct pt *p);
int rp_get_replica(struct rpchain *c, int disk, struct bdisk **out);
int rp_is_zero(const void *p, size_t n);
int rp_add_field(struct json_object *o, const char *key, struct json_object *val);
int rp_write_catalog(struct rpchain *c, int skip, const struct pt *extra, uint64_t next_seq, int busy);

/* points_undo.c: every mode's chain collects what an undo chain left under
 * data_prefix: each <seq> directory (all when keep_known is 0, else those
 * the catalog does not name).  Op held. */
int rp_undo_gc(struct rpchain *c, int keep_known);

#endif
