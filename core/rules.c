/*
 * rules.c - what a control needs beyond the item's state: which regions
 * must be up and where the VM must be.  The checks a control's write makes
 * before its job is queued, and the ones a job makes again when it starts
 * or resumes (verify, resync, reprotect).  Pure model reads: model_lock
 * held, no I/O.
 */
#define _GNU_SOURCE
#include "rules.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int region_up(struct region *r, const char *role, char *why, size_t len)
{
	if (r && r->available && r->loaded)
		return 0;
	snprintf(why, len, "region %.40s (%.60s) is unavailable%s%.100s", r ? r->name : "?", role,
		 r && r->reason[0] ? ": " : "", r ? r->reason : "");
	return -EHOSTUNREACH;
}

/* The checks of the table's entries (ops.c's check()), model_lock held. */

int check_recovery_region(struct vault_rec *v, struct item_rec *it, char *why, size_t len)
{
	(void)v;
	return region_up(region_find(it->target_region), "the recovery region, which holds the replicas", why, len);
}

int check_both_regions(struct vault_rec *v, struct item_rec *it, char *why, size_t len)
{
	int rc = region_up(region_find(it->source_region), "the source", why, len);
	(void)v;
	if (rc == 0)
		rc = region_up(region_find(it->target_region), "the target", why, len);
	return rc;
}

int check_test_region(struct vault_rec *v, struct item_rec *it, char *why, size_t len)
{
	(void)v;
	return region_up(region_find(it->tf_region), "where the test VM is", why, len);
}

int check_reprotect(struct vault_rec *v, struct item_rec *it, char *why, size_t len)
{
	struct region *src = region_find(it->source_region), *tgt = region_find(it->target_region);
	struct rg_rec *g = NULL;
	int rc;

	(void)v;
	rc = region_up(src, "the old primary, which becomes the target", why, len);
	if (rc == 0)
		rc = region_up(tgt, "where the failed-over VM runs", why, len);
	if (rc == 0 && !vm_at(tgt, it->target_rg, it->name)) {
		if (vm_anywhere(tgt, it->name, &g))
			snprintf(why, len, "the failed-over VM %s was moved to resource group %s: move it back to %s "
				 "to reprotect it", it->name, g->name, it->target_rg);
		else
			snprintf(why, len, "the failed-over VM %s/%s was deleted from %s: it cannot be reprotected",
				 it->target_rg, it->name, tgt->name);
		rc = -EPERM;
	}
	return rc;
}
