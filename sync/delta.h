/*
 * delta.h - the delta engine: make a destination disk equal to a source disk
 * moving only the 4 KiB pages that differ.
 *
 * Two ways to know what differs:
 *   compare mode  read source and destination, compare page by page;
 *   map mode      read only the source, hash each page (XXH3-128) and compare
 *                 with a block map of what was last shipped to the destination
 *                 (struct blockmap), so a replication cycle never reads the
 *                 replica.
 * Either way the result is the same: dst == src byte for byte, dst resized to
 * src's size, source holes and all-zero pages written as holes (disk_zero)
 * where the destination holds data, and, when a map is given, the map updated
 * to describe the new dst.
 *
 * Before any destination page is overwritten, its old contents can be handed
 * to an undo sink (how recovery points keep pre-images): the engine calls
 * save() for each page in a batch, then commit() once, and only then writes
 * that batch to dst.
 *
 * The engine knows nothing of FUSE, jobs or regions: it works on struct
 * bdisk handles and reports progress through a callback.
 */
#ifndef ASRFS_DELTA_H
#define ASRFS_DELTA_H

#include <stdint.h>
#include <xxhash.h>

#include "../backend/backend.h"

#define DELTA_PAGE 4096u

struct blockmap;

struct delta_stats {
	uint64_t bytes_total;       /* size of the source */
	uint64_t bytes_compared;    /* source bytes examined so far */
	uint64_t bytes_transferred; /* bytes written to dst (data pages; zeroed pages count 0) */
	uint64_t pages_changed;     /* pages written or zeroed on dst */
	uint64_t bytes_read;        /* source bytes read */
	double seconds;
};

struct delta_undo {
	/* Pre-image of one page about to be overwritten (zeros for holes and for
	 * pages past dst's old end).  page = byte offset / DELTA_PAGE. */
	int (*save)(void *arg, uint64_t page, const void *old);
	/* Make all saved pre-images durable; called before the batch is written. */
	int (*commit)(void *arg);
	void *arg;
};

/* Pages mode: which pages to ship (a tracked cycle's set). */
struct delta_pages {
	/* The next run [*first, *end) at or after page; -ENXIO when none. */
	int (*next)(void *arg, uint64_t page, uint64_t *first, uint64_t *end);
	void *arg;
};

struct delta_opts {
	/* Map mode when non-NULL and trusted (blockmap_valid()); in compare mode a
	 * non-NULL map is rebuilt from the result. */
	struct blockmap *map;
	int map_trusted;
	const struct delta_undo *undo;  /* optional */
	/* Called about every 4 MiB and at the end; non-zero return cancels
	 * (the engine returns -ECANCELED, dst consistent up to stats.bytes_compared). */
	int (*progress)(void *arg, const struct delta_stats *st);
	void *progress_arg;
	uint64_t bwlimit;        /* bytes/second written to dst, 0 = unlimited */
	uint64_t start_offset;   /* resume from a checkpoint (a multiple of DELTA_PAGE) */
	int threads;             /* 0 = default (2) */
	/* Pages mode when non-NULL: only these pages are read and each is
	 * shipped whatever dst holds (written, or zeroed when all zero); the
	 * rest of dst is left alone.  map must be NULL. */
	const struct delta_pages *pages;
	/* Called under the engine's lock for every finished chunk, in no set
	 * order: pages [first, first+n) are final on dst.  In pages mode,
	 * shipped[i] says page first+i was shipped and hash[i] is its new map
	 * entry; otherwise both are NULL. */
	void (*chunk_done)(void *arg, uint64_t first, unsigned n, const unsigned char *shipped,
			   const XXH128_canonical_t *hash);
	void *chunk_arg;
};

/* Make dst equal to src.  Returns 0 or -errno. */
int delta_sync(struct bdisk *src, struct bdisk *dst, const struct delta_opts *opts,
	       struct delta_stats *stats);

#endif
