/*
 * track.h - write tracking of one source disk, and the copy-on-write
 * capture that lets a replication cycle ship one instant of it while the
 * VM's writes go on.
 *
 * Design (DRBD's bitmap, dm-snapshot's copy-on-write, ASR's change
 * tracking).  A tracker keeps the set of 4 KiB pages written since the
 * newest recovery point, one bit a page, in memory (a sparse bitmap: an
 * idle disk costs a pointer per 128 MiB) and in a tracking file that holds
 * two bitmap regions, "current" and "shipping".  A mount write marks its
 * pages in the current bitmap, memory and file (a pwrite into the page
 * cache, before the data write starts), so a kill -9 at any moment loses no
 * mark; a VM flush syncs the file first.  A capture, with every disk of the
 * item held for an instant (the caller's lock, taken exclusively), turns
 * the current set into the shipping set and starts an empty current one: an
 * O(1) swap of the file header's index.  While the cycle ships, a write to
 * a page of the shipping set that has not shipped yet first copies the old
 * page aside; the capture's view of the source (track_cap_view) reads such
 * pages from the copy, so the point is the instant's bytes exactly.  After
 * the point is durable, track_cap_commit punches the shipping region; after
 * a failure, track_cap_abort puts its pages back into the current set.
 *
 * A tracker that cannot vouch for every write since the newest point (its
 * file missing, damaged, or older than the chain; a write that bypassed the
 * mount) asks for a whole compare: the next capture ships the whole disk
 * through the same view, and only its commit clears the request (the
 * request is in the file, so a crash keeps it).
 *
 * Tracking file (all integers big-endian):
 *   0     "ASRTRK01"
 *   8     u64 disk size       16  u32 page size   20  u32 flags (TRK_*)
 *   24    u32 current region (0 or 1)             28  u32 reserved
 *   32    u64 region length L (bytes, a multiple of 4096)
 *   40    char[40] base: id of the recovery point the tracking counts from
 *   80    char[64] stamp: the source's change stamp at the last capture
 *   144   char[160] why a whole compare is due (TRK_WHOLE)
 *   4088  u64 XXH64 of bytes 0..4087
 *   4096  region 0 (L bytes, bit p%8 of byte p/8 = page p), then region 1.
 * Holes read as zeros, so an idle disk's file holds one page.
 *
 * Locking: a tracker's mutex guards its memory and file; callers hold the
 * disk's instant lock (a rwlock of theirs) shared around track_mark and the
 * data write it precedes, and exclusively around track_capture.
 */
#ifndef ASRFS_TRACK_H
#define ASRFS_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "../backend/backend.h"

#define TRK_CAPTURING 0x1 /* a capture's points may be committed: see track_open */
#define TRK_WHOLE 0x2     /* the next capture compares the whole disk */
#define TRK_WRITTEN 0x4   /* a mount write was marked since the last capture */

struct track;
struct track_cap;

/* Open path's tracker for a disk of size bytes, creating the file (0600)
 * when missing: a new or damaged file asks for a whole compare. */
int track_open(const char *path, uint64_t size, struct track **out);
/* Check the tracker against the chain before a capture: newest and prev are
 * the ids of the newest point and the one before it ("" when none).  A
 * tracker counting from neither (or from prev with no capture cut short)
 * is older than the chain: it asks for a whole compare. */
int track_validate(struct track *t, const char *newest, const char *prev);
void track_close(struct track *t);
/* Forget everything and count from now: the caller copies the disk whole. */
int track_reset(struct track *t);
/* Ask for a whole compare at the next capture (persisted). */
int track_want_whole(struct track *t, const char *why);
/* 1 (with why) when the next capture compares the whole disk. */
int track_whole_due(struct track *t, char *why, size_t len);

/* A mount write of [off, off+len) is about to go to src: mark its pages
 * and, during a capture, keep aside the old bytes of those the capture
 * still needs (read through src).  0, or -errno: then the write must not
 * happen.  The caller holds the disk's instant lock shared. */
int track_mark(struct track *t, struct bdisk *src, uint64_t off, uint64_t len);
/* Make the marks durable (a VM flush, before the data's sync). */
int track_sync(struct track *t);

uint64_t track_pending_bytes(struct track *t);
/* 1 if the page was written (or may have been) since the newest point. */
int track_page_dirty(struct track *t, uint64_t page);

/* A disk's change stamp as the tracker keeps it: hex of the medium's
 * be_disk_stamp ("" when the medium has none). */
void track_stamp_of(struct backend *be, const char *key, char out[20]);
void track_stamp_hex(const char *raw, char out[20]); /* the same of a token in hand */
/* After a mount write landed (the caller still holds the instant lock
 * shared): note the disk's stamp now, under the tracker's lock, so the
 * last note is of the disk with every mount write in it. */
void track_note(struct track *t, struct backend *be, const char *key);
/* 1 when a mount write was marked since the last capture. */
int track_written(struct track *t);
/* 1 when the stamp now differs from the last one the tracker saw (at the
 * last capture, or noted after its last mount write) and every mount write
 * since was noted: the disk changed outside the mount. */
int track_bypassed(struct track *t, const char *now);

/* Capture the instant: the caller holds the disk's instant lock
 * exclusively (for every disk of the item at once).  whole forces a whole
 * compare; stamp is the source's change stamp now ("" unknown). */
int track_capture(struct track *t, int whole, const char *stamp, struct track_cap **out);
int track_cap_whole(const struct track_cap *c);
uint64_t track_cap_pages(const struct track_cap *c);
/* The next run [*first, *end) of pages to ship at or after page; -ENXIO when
 * none.  A whole capture yields every page. */
int track_cap_next(struct track_cap *c, uint64_t page, uint64_t *first, uint64_t *end);
/* Pages [first, first+n) are on the replica: writers need not keep them. */
void track_cap_done(struct track_cap *c, uint64_t first, uint64_t n);
/* A read-only disk over src whose reads return the captured instant. */
int track_cap_view(struct track_cap *c, struct bdisk *src, struct bdisk **view);
/* The point holding this capture (id) is durable: forget its pages. */
int track_cap_commit(struct track_cap *c, const char *id);
/* The cycle failed: its pages go back to the current set. */
void track_cap_abort(struct track_cap *c);

#endif
