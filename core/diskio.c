/*
 * diskio.c - the bytes behind the tree's disk files: a region's disks and
 * VHDs (read and written through the mount, their writes tracked when an
 * item protects them) and the images of recovery points (read through the
 * item's chain, pinned while open).  The fs-facing API is in core.h
 * (core_disk_*, core_point_*, core_points); none of it runs a sync.
 */
#define _GNU_SOURCE
#include "chains.h"
#include "diskio.h"
#include "inventory.h"
#include "model.h"
#include "protect.h"
#include "tracking.h"
#include "vault.h"
#include "../backend/vhd.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- disk bytes ---- */

struct core_disk {
	struct bdisk *bd;
	uint64_t size;         /* the disk's bytes */
	int vhd;               /* a storage account's "<disk>.vhd": the footer follows */
	uint8_t footer[VHD_FOOTER_SIZE];
	struct gate *gate;     /* writes through the mount; NULL for images */
	struct rpchain *chain; /* set for a recovery-point image (pinned); see lock */
	int disk;
	char point[RP_ID_MAX];
	char vault[NAME_MAX_], item[NAME_MAX_]; /* an image's item, to reopen its chain */
	pthread_mutex_t lock;  /* an image: reads, and the swap of a stale chain */
};

/* model_lock held: does an item name this disk in region r as its source
 * (replica 0: its writes through the mount are tracked) or as its replica
 * (replica 1: replicas change only by replication, SPEC 8, so the mount
 * serves them read-only)? */
static int disk_has_role(const struct region *r, int replica, int kind, const char *parent, const char *name)
{
	for (struct vault_rec *v = M.vaults; v; v = v->next)
		for (struct item_rec *it = v->items; it; it = it->next) {
			if (strcmp(replica ? it->target_region : it->source_region, r->name) != 0)
				continue;
			for (int i = 0; i < it->ndisks; i++) {
				const struct item_disk *d = &it->disks[i];
				int managed = replica ? d->replica_managed : d->managed;
				if (managed == (kind == 0) && strcmp(replica ? d->replica : d->name, name) == 0 &&
				    strcmp(replica ? d->replica_parent : d->src_parent, parent) == 0)
					return 1;
			}
		}
	return 0;
}

int core_disk_readonly(const char *region, int kind, const char *parent, const char *name)
{
	struct region *r;
	int ro = 0;
	lock_model_read();
	r = region_find(region);
	if (r)
		ro = disk_has_role(r, 1, kind, parent, name);
	unlock_model();
	return ro;
}

int core_disk_size(const char *region, int kind, const char *parent, const char *name, uint64_t *size)
{
	struct region *r;
	struct disk_rec *d = NULL;
	lock_model_read();
	r = region_find(region);
	if (r)
		d = disk_lookup(r, kind, parent, name);
	if (d) /* a VHD file is the disk's bytes and its footer */
		*size = d->size + (kind == 1 ? VHD_FOOTER_SIZE : 0);
	unlock_model();
	return d ? 0 : -ENOENT;
}

/* A VHD file's footer: the one its medium keeps, or for a disk made before
 * footers (a raw disk) one made up for it, a fixed VHD of its size with a
 * nil id, so that the file in the tree is a VHD either way. */
static int vhd_footer_of(struct core_disk *cd)
{
	static const uint8_t nil[16];
	int rc = bd_footer(cd->bd, cd->footer);
	if (rc == -ENOENT)
		rc = vhd_footer_build(cd->footer, cd->size, 0, nil);
	if (rc == 0)
		cd->vhd = 1;
	return rc;
}

int core_disk_open(const char *region, int kind, const char *parent, const char *name, int writable,
		   struct core_disk **out)
{
	struct region *r;
	struct disk_rec *d = NULL;
	struct core_disk *cd;
	char key[1024];
	int rc, source = 0;
	uint64_t dsize = 0;

	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	disk_key(kind == 0, parent, name, key, sizeof(key));
	lock_model();
	r = region_find(region);
	if (r)
		d = disk_lookup(r, kind, parent, name);
	rc = d ? 0 : -ENOENT;
	if (rc == 0 && writable && disk_has_role(r, 1, kind, parent, name))
		rc = -EPERM;
	if (rc == 0 && !r->available)
		rc = -EHOSTUNREACH;
	if (rc == 0 && writable && !(cd->gate = gate_get(r->be, key)))
		rc = -ENOMEM;
	if (rc == 0 && writable) {
		source = disk_has_role(r, 0, kind, parent, name);
		dsize = d->size;
	}
	unlock_model();
	if (rc == 0 && source) /* a protected disk: its writes are tracked from now on */
		rc = gate_tracked(region, key, dsize, &cd->gate);
	if (rc < 0) {
		free(cd);
		return rc;
	}
	rc = r->be->ops->disk_open(r->be, key, writable ? BDISK_RDWR : BDISK_RDONLY, &cd->bd);
	if (rc == 0)
		rc = bd_size(cd->bd, &cd->size);
	if (rc == 0 && kind == 1)
		rc = vhd_footer_of(cd);
	if (rc < 0) {
		bd_close(cd->bd);
		free(cd);
		return rc;
	}
	*out = cd;
	return 0;
}

static int core_point_handle(struct rpchain *chain, int disk, const char *point, const char *vault,
			     const char *item, struct core_disk **out)
{
	struct core_disk *cd = calloc(1, sizeof(*cd));
	int rc;
	if (!cd)
		return -ENOMEM;
	cd->chain = chain;
	cd->disk = disk;
	snprintf(cd->point, sizeof(cd->point), "%s", point);
	snprintf(cd->vault, sizeof(cd->vault), "%s", vault);
	snprintf(cd->item, sizeof(cd->item), "%s", item);
	rc = rpchain_disk_size(chain, point, disk, &cd->size);
	if (rc == 0 && pthread_mutex_init(&cd->lock, NULL) != 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(cd);
		return rc;
	}
	*out = cd;
	return 0;
}

/* A point image's bytes.  On a read-only vault the chain belongs to another
 * daemon, whose cycles may have overwritten replica pages since this one
 * opened it: when rpchain_stale says so, the read is made again through a
 * freshly opened chain, until one is exact. */
static ssize_t point_read(struct core_disk *d, void *buf, size_t len, uint64_t off)
{
	ssize_t n;
	int st;

	pthread_mutex_lock(&d->lock);
	for (int tries = 0;; tries++) {
		n = rpchain_read(d->chain, d->point, d->disk, buf, len, off);
		if (n < 0)
			break;
		st = rpchain_stale(d->chain);
		if (st == 0)
			break;
		n = st < 0 ? st : tries >= 8 ? -EAGAIN : core_point_rechain(d->vault, d->item, &d->chain);
		if (n < 0)
			break;
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* The bytes of a VHD file's footer within [off, off+len), off >= d->size. */
static size_t footer_read(const struct core_disk *d, void *buf, size_t len, uint64_t off)
{
	uint64_t at = off - d->size;
	if (!d->vhd || at >= VHD_FOOTER_SIZE)
		return 0;
	if (len > VHD_FOOTER_SIZE - at)
		len = (size_t)(VHD_FOOTER_SIZE - at);
	memcpy(buf, d->footer + at, len);
	return len;
}

ssize_t core_disk_read(struct core_disk *d, void *buf, size_t len, uint64_t off)
{
	size_t part;
	ssize_t n;

	if (off >= d->size)
		return (ssize_t)footer_read(d, buf, len, off);
	part = len > d->size - off ? (size_t)(d->size - off) : len;
	n = d->chain ? point_read(d, buf, part, off) : bd_pread(d->bd, buf, part, off);
	if (n == (ssize_t)part && part < len) /* on into the footer */
		n += (ssize_t)footer_read(d, (char *)buf + part, len - part, d->size);
	return n;
}

ssize_t core_disk_write(struct core_disk *d, const void *buf, size_t len, uint64_t off)
{
	if (d->chain || !d->bd)
		return -EROFS;
	/* A disk's size is fixed: writes past the end are refused, as a block
	 * device does; a VHD file's footer is the medium's, never written. */
	if (off >= d->size)
		return !len ? 0 : d->vhd && off - d->size < VHD_FOOTER_SIZE ? -EPERM : -ENOSPC;
	ssize_t n;
	if (len > d->size - off)
		len = (size_t)(d->size - off);
	if (d->gate) {
		int rc = gate_write_begin(d->gate, d->bd, off, len);
		if (rc < 0)
			return rc; /* not marked, not written */
	}
	n = bd_pwrite(d->bd, buf, len, off);
	if (d->gate)
		gate_write_end(d->gate);
	return n;
}

int core_disk_flush(struct core_disk *d)
{
	int rc = d->gate ? gate_flush(d->gate) : 0; /* the marks before the data they cover */
	return rc < 0 ? rc : d->bd ? bd_sync(d->bd) : 0;
}

void core_disk_close(struct core_disk *d)
{
	if (!d)
		return;
	bd_close(d->bd);
	if (d->chain) {
		chain_unpin(d->chain); /* the pin core_point_open took */
		pthread_mutex_destroy(&d->lock);
	}
	free(d);
}

/* ---- recovery points ---- */

/* The item's chain, opened if need be and pinned (chain_pin): the caller
 * calls chain_unpin when done with it. */
static int chain_of(const char *vault, const char *item, struct rpchain **out)
{
	struct vault_rec *v;
	struct item_rec *it = NULL;
	struct rpchain *ch = NULL;
	int rc;
	lock_model_read();
	rc = find_vi(vault, item, &v, &it);
	if (rc == 0)
		ch = it->chain;
	if (ch && chain_pin(ch) < 0)
		rc = -ENOMEM;
	/* before the first point there is nothing to open */
	if (rc == 0 && !ch && item_state_in(it->state, IS_NO_CHAIN_SET))
		rc = -ENOENT;
	unlock_model();
	if (rc < 0)
		return rc;
	if (!ch) {
		rc = item_open_chain(v, it);
		if (rc < 0)
			return rc;
		lock_model_read();
		rc = find_vi(vault, item, &v, &it);
		ch = rc == 0 ? it->chain : NULL;
		if (ch && chain_pin(ch) < 0)
			rc = -ENOMEM;
		unlock_model();
		if (rc < 0)
			return rc;
		if (!ch)
			return -ENOENT;
	}
	*out = ch;
	return 0;
}

int core_points(const char *vault, const char *item, struct point_info **pts, int *n)
{
	struct rpchain *ch;
	struct rp_point *rp = NULL;
	int rc = chain_of(vault, item, &ch), cnt = 0;

	*pts = NULL;
	*n = 0;
	if (rc == -ENOENT) {
		struct item_info ii;
		return core_item_info(vault, item, &ii); /* no points yet: empty list */
	}
	if (rc < 0)
		return rc;
	rc = rpchain_list(ch, &rp, &cnt);
	chain_unpin(ch);
	if (rc < 0)
		return rc;
	*pts = calloc((size_t)(cnt ? cnt : 1), sizeof(**pts));
	if (!*pts) {
		free(rp);
		return -ENOMEM;
	}
	for (int i = 0; i < cnt; i++) {
		snprintf((*pts)[i].id, sizeof((*pts)[i].id), "%s", rp[i].id);
		(*pts)[i].time = rp[i].time;
		(*pts)[i].app_consistent = rp[i].app_consistent;
		(*pts)[i].multi_vm = rp[i].multi_vm;
	}
	*n = cnt;
	free(rp);
	return 0;
}

/* The item's disk index by source disk name; -ENOENT. */
static int item_disk_index(const char *vault, const char *item, const char *disk)
{
	struct vault_rec *v;
	struct item_rec *it = NULL;
	int rc;
	lock_model();
	rc = find_vi(vault, item, &v, &it);
	if (rc == 0) {
		rc = -ENOENT;
		for (int i = 0; i < it->ndisks; i++)
			if (strcmp(it->disks[i].name, disk) == 0)
				rc = i;
	}
	unlock_model();
	return rc;
}

/* The item's disk index by source disk name, and the item's open chain in
 * *ch, pinned; -errno.  model_lock must NOT be held. */
static int chain_disk(const char *vault, const char *item, const char *disk, struct rpchain **ch)
{
	int idx = item_disk_index(vault, item, disk), rc;
	if (idx < 0)
		return idx;
	rc = chain_of(vault, item, ch);
	return rc < 0 ? rc : idx;
}

/* A point image's chain turned stale (rpchain_stale): retire it from the
 * item if it is still the item's, and put a freshly opened one, pinned, in
 * *chain instead (the old pin is dropped). */
int core_point_rechain(const char *vault, const char *item, struct rpchain **chain)
{
	struct vault_rec *v;
	struct item_rec *it = NULL;
	struct rpchain *old = *chain, *ch;
	int rc;

	lock_model();
	if (find_vi(vault, item, &v, &it) == 0 && it->chain == old)
		item_close_chain(it);
	unlock_model();
	rc = chain_of(vault, item, &ch);
	if (rc < 0)
		return rc;
	*chain = ch;
	chain_unpin(old);
	return 0;
}

int core_point_open(const char *vault, const char *item, const char *point, const char *disk,
		    struct core_disk **out)
{
	struct rpchain *ch;
	int idx = chain_disk(vault, item, disk, &ch), rc;
	if (idx < 0)
		return idx;
	rc = core_point_handle(ch, idx, point, vault, item, out); /* keeps the pin until core_disk_close */
	if (rc < 0)
		chain_unpin(ch);
	return rc;
}

int core_point_disk_size(const char *vault, const char *item, const char *point, const char *disk,
			 uint64_t *size)
{
	struct rpchain *ch;
	int idx = chain_disk(vault, item, disk, &ch), rc;
	if (idx < 0)
		return idx;
	rc = rpchain_disk_size(ch, point, idx, size);
	chain_unpin(ch);
	return rc;
}
