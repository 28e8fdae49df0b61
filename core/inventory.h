/*
 * inventory.h - what each region holds (core/inventory.c): loading it,
 * changing it (each change persists), the protection records that say which
 * item protects a disk, and the fs-facing region API (core.h).
 */
#ifndef ASRFS_INVENTORY_H
#define ASRFS_INVENTORY_H

#include "model.h"

/* inventory changes (model_lock held; they persist) */
int inv_rg_create(struct region *r, const char *name, struct rg_rec **out);
int inv_rg_delete(struct region *r, const char *name);
int inv_vm_save(struct region *r, const struct vm_info *vi);
int inv_disk_create(struct region *r, int managed, const char *parent, const char *name, uint64_t size);
int inv_disk_delete(struct region *r, int managed, const char *parent, const char *name);
int inv_vm_has_disk(struct region *r, const struct vm_info *vi, int k);
int inv_aset_ensure(struct region *r, const char *rg, const char *name);
int inv_net_ensure(struct region *r, const char *rg, const char *name);
int inv_sa_ensure(struct region *r, const char *name);
int region_load(struct region *r); /* reads the inventory; model_lock held */
void region_unload(struct region *r);
/* model_lock held: the listed disk of region r (kind 0: managed disk of
 * resource group parent, 1: VHD of storage account parent), or NULL. */
struct disk_rec *disk_lookup(struct region *r, int kind, const char *parent, const char *name);
/* Protection records (inventory.c, model_lock held): a disk's region names
 * the one item that protects it, as source or replica. */
struct disk_ref {
	struct region *r;
	int managed;
	char parent[NAME_MAX_];
	char name[NAME_MAX_];
	int replica;                 /* its role: 0 source, 1 replica */
};
/* The disks an item's layout protects, sources and replicas (at most
 * 2 * MAX_DISKS); none once committed or migrated. */
int item_disk_refs(const struct item_rec *it, struct disk_ref *out);
/* Claim every disk for vault/item, all or nothing: 0, or -EEXIST with the
 * holding vault and item in why, or another -errno. */
int protection_claim(struct vault_rec *v, const char *item, const struct disk_ref *d, int n, char *why,
		     size_t len);
/* Check only: 0 when no other item holds any of the disks, else as claim. */
int protection_free(struct vault_rec *v, const char *item, const struct disk_ref *d, int n, char *why,
		    size_t len);
/* Remove the records that name vault/item (others are left alone). */
void protection_release(struct vault_rec *v, const char *item, const struct disk_ref *d, int n);
/* Release what the item's layout claims (model_lock held). */
void protection_release_item(struct vault_rec *v, const struct item_rec *it);
void protection_end(struct vault_rec *v, const char *item); /* takes model_lock */

#endif
