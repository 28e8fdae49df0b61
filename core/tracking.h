/*
 * tracking.h - write tracking of protected source disks (core/tracking.c):
 * the gates where a mount write and a replication cycle meet.
 */
#ifndef ASRFS_TRACKING_H
#define ASRFS_TRACKING_H

#include "model.h"

/* Write tracking (tracking.c).  item_disk_pending_bytes (model_lock held):
 * bytes of disk i written through the mount since the item's newest point
 * and not shipped yet.  item_disk_page_written (no lock held): 1 if page
 * `page` (DELTA_PAGE units) of disk i's source was, or may have been,
 * written since the newest point; a page is marked before the write that
 * dirties it starts, so a read followed by a 0 from here read the bytes of
 * the newest point's instant. */
uint64_t item_disk_pending_bytes(const struct vault_rec *v, const struct item_rec *it, int i);
int item_disk_page_written(struct vault_rec *v, const char *item, int i, uint64_t page);

/* Gates of source disks (tracking.c): the instant lock and the tracker a
 * mount write and a cycle meet at.  gate_get: model_lock held.
 * gate_write_begin marks the pages and holds the instant lock shared until
 * gate_write_end (on error nothing is held: the write must not happen).
 * gate_tracked: no lock held; the gate with its tracker attached. */
struct gate;
struct gate *gate_get(struct backend *be, const char *key);
int gate_write_begin(struct gate *g, struct bdisk *bd, uint64_t off, uint64_t len);
void gate_write_end(struct gate *g);
int gate_flush(struct gate *g);
int gate_tracked(const char *region, const char *key, uint64_t size, struct gate **out);
struct track *gate_track(struct gate *g);
pthread_rwlock_t *gate_instant(struct gate *g);
void gates_free(void);

#endif
