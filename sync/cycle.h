/*
 * cycle.h - one replication cycle of an item: capture every disk at one
 * instant, ship what the trackers say changed, record the recovery point,
 * apply retention.  The data path's one entry from core's scheduler (and
 * from the jobs that need the source's latest data: failover, resync, the
 * first point of enable).
 *
 * A cycle, for the item's disks together:
 *   1. rpchain_begin (snapshot mode writes its "cycle" mark here);
 *   2. the instant: every disk's instant lock taken exclusively, each
 *      disk's change stamp read and its tracker captured (an O(1) swap),
 *      the locks let go.  A stamp that moved with no write through the
 *      mount is a write that bypassed it: that disk is compared whole;
 *   3. captured() (the caller thaws an application here);
 *   4. each disk through the delta engine, reading the capture's view of
 *      the source: only the tracked pages (pages mode), or the whole disk
 *      for a disk whose tracker asks for it, or all when whole is set;
 *   5. the point committed at the instant's time, the trackers told,
 *      retention applied.
 * Any failure rolls the chain back to its newest point and gives the pages
 * back to the trackers: nothing is lost, nothing half-made shows.  A
 * replication group's cycle (repl_cycle_group) is the same steps for
 * several items, with one instant for all of them.
 *
 * Block maps (blockmap.h) stay out of memory: a pages-mode cycle keeps the
 * new entries of the pages it shipped in the item's cycle state (bounded)
 * and folds them into the map record when there are many, or when asked
 * (a job wants the map current); a whole compare loads the map, uses it and
 * saves it.  A map whose record does not match the entries kept is left
 * alone and is not trusted by whoever reads it (its generation says so).
 */
#ifndef ASRFS_CYCLE_H
#define ASRFS_CYCLE_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "../backend/backend.h"
#include "delta.h"
#include "points.h"
#include "track.h"

struct cycle_disk {
	struct backend *src_be, *dst_be;
	const char *src_key, *dst_key;
	const char *map_key;       /* the disk's block map, a record in dst_be */
	struct track *t;
	pthread_rwlock_t *instant; /* mount writes hold it shared */
};

/* What a cycle keeps for the next one (the block map entries not folded
 * yet); one per item, owned by whoever runs its cycles. */
struct cycle_state;
int cycle_state_new(int ndisks, struct cycle_state **out);
void cycle_state_free(struct cycle_state *s);

struct cycle_conf {
	int ndisks;
	const struct cycle_disk *d;
	struct rpchain *chain;
	struct cycle_state *state;
	int initial;       /* the chain has no point yet: make the first one (no undo) */
	int whole;         /* compare every disk whole with its replica, both read (resync) */
	int flush_maps;    /* leave every map record current */
	int app;           /* the point is app-consistent */
	unsigned retention_hours; /* points older are pruned (0: only the newest stays) */
	uint64_t bwlimit;
	int (*progress)(void *arg, const struct delta_stats *st);
	void *progress_arg;
	uint64_t *compared_base, *sent_base; /* when set, bumped per disk (a job's counters) */
	void (*captured)(void *arg); /* right after the instant */
	int (*fenced)(void *arg);    /* non-zero: write nothing more (a lost lease) */
	void *arg;
};

struct cycle_result {
	struct rp_point pt;     /* the point made */
	time_t instant;
	uint64_t sent, read;    /* bytes shipped, bytes of the sources read */
	uint64_t disk_sent[16], disk_read[16];
	int whole;              /* a disk was compared whole (why says which) */
	int left_open;          /* fenced: the chain is left for the next manager to roll back */
	char why[300];          /* on failure */
	char whole_why[200];    /* why a disk was compared whole */
};

/* 0 with a point made, or -errno with why set. */
int repl_cycle(const struct cycle_conf *c, struct cycle_result *r);

/* A replication group's cycle: the n items' cycles with ONE instant.  Every
 * disk's instant lock of every item is taken together, in a fixed order
 * (the items as given, which the caller sorts by name, each one's disks in
 * order), the trackers captured, the locks let go; then each item's
 * captured(), each item ships, and only when all have shipped is each
 * item's point committed, all with the same time and so the same id (the
 * first second from the instant on that no item's chain has used yet).
 * multi_vm marks the points RP_MULTI_VM.  A failure before the commits
 * rolls every item back (r[i].why says which failed); a commit that fails
 * leaves the items before it committed and rolls back it and the rest
 * (r[i].pt.id[0] says who has the point).  0 when every item has it. */
int repl_cycle_group(int n, const struct cycle_conf *const *c, struct cycle_result *r, int multi_vm);

#endif
