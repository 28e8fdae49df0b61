/*
 * resync.c - resynchronize: compare the source and its replicas whole and
 * send what differs, recreating replicas deleted behind the daemon's back.
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

/* ---- Resynchronize ---- */

#define T_RESYNC "Comparing and synchronizing disks"

static int resync_prereq(struct jobctx *c)
{
	struct item_rec *it;
	char why[300];
	int rc = wait_cycle_done(c);

	if (rc < 0)
		return rc;
	lock_model();
	it = item_find(c->v, c->item);
	rc = it ? check_both_regions(c->v, it, why, sizeof(why)) : -ENOENT;
	if (rc == -EHOSTUNREACH)
		snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	unlock_model();
	return rc;
}

/* Compare mode on every disk: the maps are rebuilt from what is really on
 * the replicas, the differences are shipped, a point is made.  A replica
 * lost behind our back is made again first, and then the points that read
 * through it go.  A step cut short compares again from the start (a cycle
 * cut short is rolled back); what it sent before still counts as sent. */
static int resync_sync(struct jobctx *c)
{
	struct item_rec *it;
	char why[300];
	uint64_t total = 0;
	int rc, lost = 0;

	lock_model_read();
	it = item_find(c->v, c->item);
	if (it)
		total = item_bytes(it);
	unlock_model();
	job_set_total(c, total);
	rc = replicas_recreate_lost(c->v, c->item, &lost, why, sizeof(why));
	if (rc == 0) {
		struct jobprog jp = {.c = c, .base_transferred = job_sent(c)};
		rc = replication_cycle_now(c->v, c->item, 1, &jp, why, sizeof(why));
	}
	if (rc == 0 && lost && points_drop_older(c->v, c->item) < 0)
		logmsg("item %s: could not delete the points of the lost replica yet", c->item);
	if (rc < 0 && rc != -ECANCELED)
		job_fail_msg(c, "%s", why);
	return rc;
}

static int resync_done(struct jobctx *c)
{
	struct item_rec *it;

	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		it->resync_required = 0;
		it->resync_why[0] = '\0';
		for (int i = 0; i < it->ndisks; i++)
			it->disks[i].synced_bytes = it->disks[i].size;
		persist_item(c->v, it);
	}
	unlock_model();
	return 0;
}

/* Resynchronize's tasks, in the order of JT_RESYNC.tasks. */
enum { RSY_PREREQ, RSY_SYNC, RSY_START };

static const struct job_step resync_steps[] = {
	{RSY_PREREQ, resync_prereq}, {RSY_SYNC, resync_sync}, {RSY_START, resync_done}, {0, NULL},
};

const struct job_type JT_RESYNC = {
	.name = "Resynchronize",
	.slug = "resynchronize",
	.tasks = {T_PREREQ, T_RESYNC, T_STARTREP},
	.running_state = IS_RESYNCHRONIZATION_IN_PROGRESS,
	.done_state = IS_PROTECTED,
	.failed_state = IS_RESYNCHRONIZATION_FAILED,
	.steps = resync_steps,
};

