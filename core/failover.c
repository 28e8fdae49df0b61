/*
 * failover.c - failover (planned or not) and what follows it: changing the
 * recovery point of a failed-over VM, commit, and complete-migration.
 * Each is a job type with steps (jobs.c); the helpers they share with the
 * other operations are opsupport.c's.
 */
#define _GNU_SOURCE
#include "opsupport.h"
#define _GNU_SOURCE
#include "chains.h"
#include "inventory.h"
#include "recio.h"
#include "protect.h"
#include "rules.h"
#include "verify.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fo_load(struct jobctx *c, struct op_ctx *x)
{
	int rc = snap_item(c, &x->snap, "the recovery region", &x->src, &x->tgt, NULL);
	if (rc == 0)
		rc = open_points(c, &x->ch, NULL, NULL);
	return rc;
}

static int failover_begin(struct jobctx *c, int first)
{
	return op_begin(c, first, fo_load);
}

static int failover_prereq(struct jobctx *c)
{
	int rc = wait_cycle_done(c);
	return rc < 0 ? rc : fo_load(c, c->data);
}

static int failover_shutdown(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	char why[300];
	int rc;

	lock_model();
	rc = region_up(x->src, "the source", why, sizeof(why));
	if (rc == 0)
		rc = op_vm_stop(x, x->src, x->snap.vm_rg);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot shut down %s: %s", x->snap.name,
			 rc == -EHOSTUNREACH ? why : strerror(-rc));
	unlock_model();
	return rc;
}

/* A cycle run again after a crash ships what changed since its last point. */
static int failover_synclast(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	char why[300];
	int up, rc = 0;

	lock_model();
	up = x->src && x->src->available;
	unlock_model();
	if (up) {
		struct jobprog jp = {.c = c, .base_transferred = job_sent(c)};
		job_set_total(c, item_bytes(&x->snap));
		rc = replication_cycle_now(c->v, c->item, 0, &jp, why, sizeof(why));
		if (rc < 0 && rc != -ECANCELED)
			job_fail_msg(c, "cannot ship the latest changes: %s", why);
	} else {
		logmsg("item %s: the source region is down; failing over to the latest processed point", c->item);
	}
	return rc;
}

/* Building the target disks again from the point rewrites them whole. */
static int failover_build(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	char point[RP_ID_MAX], vnet[NAME_MAX_];
	int rc, n;

	if (job_cancelled(c))
		return -ECANCELED;
	rc = pick_point(c, x->ch, x->a.point, point);
	if (rc == 0)
		rc = build_target(c, x->tgt, &x->snap, 0, vnet, x->ch, point, dt, &n);
	if (rc == 0)
		logmsg("item %s: failed over to %s from point %s", c->item, x->snap.target_region, point);
	return rc;
}

/* The VM record is put whole: a second put is the same VM. */
static int failover_startvm(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	struct item_rec *it;
	struct vm_info vi;
	char vnet[NAME_MAX_];
	int rc, n;

	lock_model();
	mapped_vnet(c->v, x->snap.source_region, x->snap.network, vnet, sizeof(vnet));
	n = vm_targets(&x->snap, "", dt);
	vm_from_targets(&vi, x->snap.name, x->snap.target_rg, x->snap.target_region, vnet, x->snap.aset, n, dt);
	rc = vm_put(x->tgt, &vi);
	it = item_find(c->v, c->item);
	if (rc < 0) {
		snprintf(c->j->error, sizeof(c->j->error), "cannot create VM %s: %s", x->snap.name, strerror(-rc));
	} else if (it) {
		snprintf(it->active_region, sizeof(it->active_region), "%s", it->target_region);
		for (int i = 0; i < it->ndisks; i++)
			snprintf(it->disks[i].state, sizeof(it->disks[i].state), "FailedOver");
		persist_item(c->v, it);
	}
	unlock_model();
	return rc;
}

/* Failover's tasks, in the order of JT_FAILOVER.tasks. */
enum { FO_PREREQ, FO_SHUTDOWN, FO_SYNCLAST, FO_FAILOVER, FO_STARTVM };

static const struct job_step failover_steps[] = {
	{FO_PREREQ, failover_prereq},   {FO_SHUTDOWN, failover_shutdown}, {FO_SYNCLAST, failover_synclast},
	{FO_FAILOVER, failover_build},  {FO_STARTVM, failover_startvm},   {0, NULL},
};

const struct job_type JT_FAILOVER = {
	.name = "Failover",
	.slug = "failover",
	.tasks = {T_PREREQ, T_SHUTDOWN, T_SYNCLAST, T_FAILOVER, T_STARTVM},
	.running_state = IS_FAILOVER_IN_PROGRESS,
	.done_state = IS_FAILED_OVER,
	.failed_state = IS_FAILOVER_FAILED,
	.steps = failover_steps,
	.begin = failover_begin,
	.end = op_end,
};

/* ---- Change recovery point ---- */

#define T_CRP "Change recovery point"
#define T_STARTVM2 "Start the virtual machine"

static int crp_load(struct jobctx *c, struct op_ctx *x)
{
	int rc = snap_item(c, &x->snap, "where the failed-over VM runs", NULL, &x->tgt, NULL);
	if (rc == 0)
		rc = open_points(c, &x->ch, x->a.point, x->point);
	return rc;
}

static int crp_begin(struct jobctx *c, int first)
{
	return op_begin(c, first, crp_load);
}

static int crp_prereq(struct jobctx *c)
{
	return crp_load(c, c->data);
}

static int crp_shutdown(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	int rc;

	lock_model();
	rc = op_vm_stop(x, x->tgt, x->snap.target_rg);
	unlock_model();
	return rc;
}

/* Building the disks again from the point rewrites them whole (a cancel
 * leaves the task to the job's end, which shows it Cancelled). */
static int crp_build(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	int n = item_targets(&x->snap, "", dt);
	int rc = build_from_point(c, x->tgt, x->ch, x->point, n, dt, 10, 90);

	if (rc == 0)
		rc = build_excluded(c, x->tgt, &x->snap, "");
	if (rc == 0)
		logmsg("item %s: the failed-over VM now runs from point %s", c->item, x->point);
	return rc;
}

/* Powering on is safe to repeat. */
static int crp_startvm(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	int rc, was = 0;

	lock_model();
	rc = vm_power(x->tgt, x->snap.target_rg, x->snap.name, 1, &was);
	if (rc == -ENOENT)
		rc = 0;
	x->stop_r = NULL;
	unlock_model();
	return rc;
}

/* Change recovery point's tasks, in the order of JT_CRP.tasks. */
enum { CRP_PREREQ, CRP_SHUTDOWN, CRP_BUILD, CRP_STARTVM };

static const struct job_step crp_steps[] = {
	{CRP_PREREQ, crp_prereq}, {CRP_SHUTDOWN, crp_shutdown}, {CRP_BUILD, crp_build},
	{CRP_STARTVM, crp_startvm}, {0, NULL},
};

const struct job_type JT_CRP = {
	.name = "Change recovery point",
	.slug = "change-recovery-point",
	.tasks = {T_PREREQ, T_SHUTDOWN, T_CRP, T_STARTVM2},
	.running_state = IS_CHANGE_RECOVERY_POINT_IN_PROGRESS,
	.done_state = IS_FAILED_OVER,
	.failed_state = IS_NONE,
	.steps = crp_steps,
	.begin = crp_begin,
	.end = op_end,
};

/* ---- Commit ---- */

#define T_DELPOINTS "Deleting recovery points"
#define T_DELREPLICAS "Deleting replica disks"
#define T_CLEANUP "Cleaning up replication data"

/* model_lock held: forget the item's recovery points in memory. */
static void item_points_gone(struct item_rec *it)
{
	item_close_chain(it);
	it->npoints = 0;
	it->last_point[0] = it->last_app_point[0] = '\0';
	it->last_point_time = 0;
}

struct rm_arg {
	struct backend *be;
	const char *prefix;
	int rc;
};

static int rm_child(void *arg, const char *name, int is_dir)
{
	struct rm_arg *a = arg;
	char key[1024];
	int rc;

	(void)is_dir;
	if (strcmp(name, "maps") == 0)
		return 0;
	snprintf(key, sizeof(key), "%s/%s", a->prefix, name);
	rc = mio_remove_tree(a->be, key);
	if (rc < 0 && rc != -ENOENT && a->rc == 0)
		a->rc = rc;
	return 0;
}

/* Remove an item's data in a region (undo data of its points) but keep its
 * block maps: they name the source disks' bytes at the last cycle, which a
 * later reprotect uses instead of reading those disks again. */
static int remove_but_maps(struct backend *be, const char *prefix)
{
	struct rm_arg a = {.be = be, .prefix = prefix, .rc = 0};
	int rc = be->ops->list(be, prefix, rm_child, &a);

	if (rc == -ENOENT)
		rc = 0;
	return rc < 0 ? rc : a.rc;
}

/* The region that holds the item's replicas; the job's error says why it
 * cannot be used (model_lock NOT held). */
static int commit_target(struct jobctx *c, struct region **tgt)
{
	struct item_rec *it;
	char why[300];
	int rc = -ENOENT;

	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		*tgt = region_find(it->target_region);
		rc = region_up(*tgt, "which holds the replicas", why, sizeof(why));
		if (rc < 0)
			snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	}
	unlock_model();
	return rc;
}

static int commit_prereq(struct jobctx *c)
{
	struct region *tgt;
	int rc = commit_target(c, &tgt);

	if (rc < 0)
		return rc;
	return job_cancelled(c) ? -ECANCELED : 0;
}

/* A chain already destroyed is not there to destroy (-ENOENT). */
static int commit_delpoints(struct jobctx *c)
{
	struct item_rec *it;
	struct rpchain *ch = NULL;
	int rc = item_chain(c->v, c->item, &ch);

	if (rc == 0)
		rc = rpchain_destroy(ch);
	if (rc < 0 && rc != -ENOENT) {
		job_fail_msg(c, "cannot delete the recovery points: %s", strerror(-rc));
		return rc;
	}
	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		item_points_gone(it);
		persist_item(c->v, it);
	}
	unlock_model();
	return 0;
}

/* Replicas already deleted are gone (-ENOENT): safe to repeat. */
static int commit_delreplicas(struct jobctx *c)
{
	struct item_rec *it;
	struct region *tgt;
	int rc = commit_target(c, &tgt);

	if (rc < 0)
		return rc;
	lock_model();
	it = item_find(c->v, c->item);
	for (int i = 0; it && i < it->ndisks; i++) {
		struct item_disk *d = &it->disks[i];
		int r = inv_disk_delete(tgt, d->replica_managed, d->replica_parent, d->replica);
		if (r < 0 && r != -ENOENT) {
			rc = r;
			snprintf(c->j->error, sizeof(c->j->error), "cannot delete replica disk %s: %s", d->replica,
				 strerror(-r));
		}
		snprintf(d->state, sizeof(d->state), "FailoverCommitted");
		d->synced_bytes = 0;
	}
	if (it)
		persist_item(c->v, it);
	unlock_model();
	return rc;
}

/* Removing what is already removed finds nothing to remove. */
static int commit_cleanup(struct jobctx *c)
{
	struct region *tgt;
	char prefix[512];
	int rc = commit_target(c, &tgt);

	if (rc < 0)
		return rc;
	maps_forget(c->v, c->item);
	key_item_data(c->v, c->item, prefix, sizeof(prefix));
	rc = remove_but_maps(tgt->be, prefix);
	if (rc == 0)
		protection_end(c->v, c->item); /* of the source and the replicas */
	return rc;
}

/* Commit's tasks, in the order of JT_COMMIT.tasks. */
enum { CM_PREREQ, CM_DELPOINTS, CM_DELREPLICAS, CM_CLEANUP };

static const struct job_step commit_steps[] = {
	{CM_PREREQ, commit_prereq},         {CM_DELPOINTS, commit_delpoints},
	{CM_DELREPLICAS, commit_delreplicas}, {CM_CLEANUP, commit_cleanup},
	{0, NULL},
};

const struct job_type JT_COMMIT = {
	.name = "Commit",
	.slug = "commit",
	.tasks = {T_PREREQ, T_DELPOINTS, T_DELREPLICAS, T_CLEANUP},
	.running_state = IS_COMMIT_IN_PROGRESS,
	.done_state = IS_FAILOVER_COMMITTED,
	.failed_state = IS_NONE,
	.steps = commit_steps,
};


/* ---- Complete migration ---- */

#define T_MIGRATE "Complete migration"

static int migrate_prereq(struct jobctx *c)
{
	(void)c;
	return 0;
}

static int migrate_done(struct jobctx *c)
{
	logmsg("item %s: migration completed; reprotect and failback are refused from now on", c->item);
	return 0;
}

/* Complete migration's tasks, in the order of JT_MIGRATE.tasks. */
enum { MG_PREREQ, MG_DONE };

static const struct job_step migrate_steps[] = {
	{MG_PREREQ, migrate_prereq}, {MG_DONE, migrate_done}, {0, NULL},
};

const struct job_type JT_MIGRATE = {
	.name = "Complete migration",
	.slug = "complete-migration",
	.tasks = {T_PREREQ, T_MIGRATE},
	.running_state = IS_NONE,
	.done_state = IS_MIGRATION_COMPLETED,
	.failed_state = IS_NONE,
	.steps = migrate_steps,
};

