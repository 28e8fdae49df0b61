/*
 * vault.h - the vault part of the tree (core/vault.c): policies, mappings,
 * items, their controls and settings, jobs.  Its fs-facing API is in core.h;
 * what the files above it use is here.
 */
#ifndef ASRFS_VAULT_H
#define ASRFS_VAULT_H

#include "model.h"
#include "opdef.h"

/* item helpers */
void item_to_info(struct vault_rec *v, struct item_rec *it, struct item_info *ii); /* model_lock held */
/* model_lock held: an item whose record did not read takes no change
 * (-EIO, its error says why), else 0. */
int item_refuse_damaged(struct item_rec *it);
/* The table's enable-replication (op): a vault control, model_lock NOT held. */
int core_enable_replication(const struct op_def *op, const char *vault, const char *line, size_t len);

#endif
