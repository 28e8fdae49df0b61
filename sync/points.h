/*
 * points.h - recovery points of one replicated item: an undo chain, or on
 * a medium with snapshots (backend.h disk_snapshot) a snapshot chain.
 *
 * The mode is chosen when the chain is created (no catalog yet): snapshot
 * mode when the data backend has disk_snapshot, else an undo chain; the
 * catalog records it ("mode":"snapshot"), so an existing undo chain stays
 * one.  Snapshot mode:
 *   - every point names one snapshot per replica disk; the newest point's
 *     snapshots equal the replicas between cycles;
 *   - a cycle has no undo sinks (rp_cycle_undo returns NULL): begin marks
 *     the catalog "cycle in progress" (durably), the engine writes the
 *     replicas, commit syncs them, snapshots each and writes the catalog
 *     with the new point and without the mark;
 *   - abort, and open with the mark set (a crash), copy the newest point's
 *     snapshots back onto the replicas (disk_copy_snapshot): nothing stays
 *     half-applied;
 *   - reads and exports of any point use its snapshots only, so readers
 *     never see a running cycle; export lets the service copy the snapshot
 *     when the destination shares the account;
 *   - delete (any point but the newest), prune and destroy write the
 *     catalog first, then delete the snapshots; snapshots of the replicas
 *     the catalog does not name are garbage, deleted on open.
 *
 * Undo mode:
 *
 * The replica disks always hold the newest point.  Each older point k keeps,
 * per disk, the pre-images of the pages that the cycle creating point k+1
 * overwrote ("undo data").  Page p of point k is found in undo(k), else
 * undo(k+1), ... else in the replica.  So:
 *   - a cycle adds undo data to the (then) newest point, then writes the
 *     replica, then commits the new point in the catalog;
 *   - deleting the oldest point deletes its undo objects, moving no data;
 *   - deleting a middle point k appends undo(k)'s pages that undo(k-1) lacks
 *     to undo(k-1) (always safe: those pages read the same through k-1),
 *     then drops k from the catalog, then deletes undo(k);
 *   - a crash mid-cycle leaves undo data on the newest point; opening the
 *     chain writes those pre-images back into the replica (roll back), so an
 *     existing point is never damaged.
 *
 * Storage: the catalog is one JSON record in the vault's region (meta
 * backend, catalog_key).  Undo objects live beside the replicas in the target
 * region (data backend): for point seq S and disk i,
 *   <data_prefix>/<S>/<i>.undo  (a disk object: pre-image pages, appended)
 *   <data_prefix>/<S>/<i>.idx   (a disk object: u64 big-endian page numbers,
 *                                entry n's data at n*4096 in .undo)
 * Appending writes and syncs .undo before .idx, and both before the replica
 * is touched: every index entry that survives a crash has its data.
 *
 * Reading a point image races with a running cycle without a big lock: the
 * reader looks the page up in undo(k..n), reads the replica if absent, then
 * looks again; a pre-image is always indexed (in memory) before its replica
 * page is overwritten, so a second miss proves the replica read was good.
 *
 * Thread safety: all calls may be made from any thread; the chain has its
 * own lock (taken with no caller lock held).
 */
#ifndef ASRFS_POINTS_H
#define ASRFS_POINTS_H

#include <stdint.h>
#include <time.h>

#include "../backend/backend.h"
#include "delta.h"

#define RP_ID_MAX 32

struct rp_point {
	char id[RP_ID_MAX]; /* UTC time, "2026-11-24T10:05:00Z" (unique: a clash gets the next second) */
	time_t time;
	uint64_t seq;       /* increasing, never reused */
	int app_consistent;
	int multi_vm;       /* one instant with the other members of a replication group */
};

/* The flags of a new point (rpchain_add_initial, rpchain_commit). */
#define RP_APP 1      /* app-consistent */
#define RP_MULTI_VM 2 /* multi-vm: one instant of a whole replication group */

struct rpchain;
struct rp_cycle;

struct rpchain_conf {
	struct backend *meta;    /* holds the catalog */
	const char *catalog_key;
	struct backend *data;    /* holds replicas, undo objects and snapshots */
	const char *data_prefix;
	int ndisks;
	const char *const *replica_keys; /* ndisks keys in data */
	/* Another process owns the chain (a read-only mount of the vault): open
	 * neither rolls back nor collects garbage, and every call that would
	 * change the chain returns -EROFS.  Reads see the catalog as opened. */
	int readonly;
	/* Snapshot mode: per disk, a snapshot id that is not the chain's but
	 * must outlive its garbage collection (NULL, or NULL / "" entries, for
	 * none): reprotect's guard of a moved original, which a failure after
	 * the chain is made still restores. */
	const char *const *keep_snaps;
	/* Out (may be NULL): a sentence when the catalog was damaged or missing
	 * and its copy ("<catalog_key>.copy", written before every catalog
	 * write) stood in for it, or could not; "" otherwise. */
	char *note;
	size_t notelen;
};

/* Load (or create empty) and roll back an interrupted cycle. */
int rpchain_open(const struct rpchain_conf *conf, struct rpchain **out);
void rpchain_close(struct rpchain *c);

/* Snapshot of the points, oldest first; *pts malloc'd (free()). */
int rpchain_list(struct rpchain *c, struct rp_point **pts, int *n);
int rpchain_newest(struct rpchain *c, struct rp_point *out); /* -ENOENT when none */

/* First point, after the initial copy: no undo data, the replicas are it. */
int rpchain_add_initial(struct rpchain *c, time_t t, int flags, struct rp_point *out); /* RP_* */

/* A cycle: undo sinks per disk for delta_sync (NULL in snapshot mode: the
 * engine writes the replica directly), then commit or abort. */
int rpchain_begin(struct rpchain *c, struct rp_cycle **out);
const struct delta_undo *rp_cycle_undo(struct rp_cycle *cy, int disk);
int rpchain_commit(struct rp_cycle *cy, time_t t, int flags, struct rp_point *out); /* RP_* */
int rpchain_abort(struct rp_cycle *cy); /* restores the newest point, nothing half-applied */

/* A read-only chain (another process owns it) in undo mode reads its
 * points through the replica, which the owner's cycles overwrite once they
 * have appended the old pages to the newest point's undo data.  This tells
 * whether anything moved since the chain was opened: the catalog (points
 * added or deleted) or that undo data.  0 means every read made through the
 * chain so far was exact; 1 means reopen the chain and read again; <0 an
 * error.  Always 0 for a chain that is not read-only or in snapshot mode. */
int rpchain_stale(struct rpchain *c);

/* Bytes of a point's disk image; short only at the end.  -ENOENT: no such point. */
ssize_t rpchain_read(struct rpchain *c, const char *point_id, int disk, void *buf, size_t len,
		     uint64_t off);
int rpchain_disk_size(struct rpchain *c, const char *point_id, int disk, uint64_t *size);
/* Copy a point's disk image to dst (dst resized, holes kept); progress as delta. */
int rpchain_export(struct rpchain *c, const char *point_id, int disk, struct bdisk *dst,
		   int (*progress)(void *, const struct delta_stats *), void *arg);

int rpchain_delete(struct rpchain *c, const char *point_id);
/* Retention (SPEC 7) applied now; returns how many points were deleted. */
int rpchain_prune(struct rpchain *c, time_t now, unsigned retention_hours);
/* Delete every point and the catalog (disable, commit). */
int rpchain_destroy(struct rpchain *c);

/* The retention rule alone: marks keep[i] for points[] sorted oldest first. */
void rp_retention(const struct rp_point *pts, int n, time_t now, unsigned retention_hours, int *keep);

#endif
