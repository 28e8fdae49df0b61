/*
 * testfailover.c - test failover (a VM built from a recovery point beside
 * the replication, which goes on) and its cleanup.
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

/* ---- Test failover and its cleanup ---- */

#define T_CREATETEST "Create test virtual machine"
#define T_STARTTEST "Start the virtual machine"
#define T_DELTEST "Delete the test virtual machine"

/* The point a test failover builds from, in the job's plan: cycles go on
 * while it runs, so a resumed one names the point its disks came from
 * rather than the newest.  model_lock held. */
static int tf_point_save(struct jobctx *c, const char *point)
{
	json_object *o = json_object_new_object();
	const char *txt;
	int rc = -ENOMEM;

	if (o && json_object_object_add(o, "point", json_object_new_string(point)) == 0 &&
	    (txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) != NULL) {
		snprintf(c->j->plan, sizeof(c->j->plan), "%s", txt);
		rc = persist_job(c->v, c->j);
	}
	json_object_put(o);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot record the test failover's point: %s",
			 strerror(-rc));
	return rc;
}

/* model_lock held: the point recorded by tf_point_save into point, if any. */
static void tf_point_load(struct jobctx *c, char point[RP_ID_MAX])
{
	json_object *o = c->j->plan[0] ? json_tokener_parse(c->j->plan) : NULL;

	if (o && jstr_of(o, "point")[0])
		snprintf(point, RP_ID_MAX, "%s", jstr_of(o, "point"));
	json_object_put(o);
}

static int tf_load(struct jobctx *c, struct op_ctx *x)
{
	int rc = snap_item(c, &x->snap, "the recovery region", NULL, &x->tgt, x->vnet);

	if (rc == 0)
		rc = open_points(c, &x->ch, x->a.point, x->point);
	if (rc < 0)
		return rc;
	lock_model();
	tf_point_load(c, x->point);
	unlock_model();
	if (x->a.network[0]) {
		snprintf(x->vnet, sizeof(x->vnet), "%s", x->a.network);
	} else {
		char base[NAME_MAX_];
		snprintf(base, sizeof(base), "%s", x->vnet);
		snprintf(x->vnet, sizeof(x->vnet), "%.85s-test", base);
	}
	return 0;
}

static int tf_begin(struct jobctx *c, int first)
{
	return op_begin(c, first, tf_load);
}

static int tf_prereq(struct jobctx *c)
{
	int rc = wait_cycle_done(c);
	return rc < 0 ? rc : tf_load(c, c->data);
}

/* The point is recorded first; building again rewrites the disks whole. */
static int tf_create(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	int rc, n;

	lock_model();
	rc = tf_point_save(c, x->point);
	unlock_model();
	if (rc == 0)
		rc = build_target(c, x->tgt, &x->snap, 1, x->vnet, x->ch, x->point, dt, &n);
	return rc;
}

/* The VM record is put whole: a second put is the same VM. */
static int tf_start(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	struct item_rec *it;
	struct vm_info vi;
	char vmname[NAME_MAX_ + 8];
	int rc, n = vm_targets(&x->snap, "-test", dt);

	snprintf(vmname, sizeof(vmname), "%.85s-test", x->snap.name);
	vm_from_targets(&vi, vmname, x->snap.target_rg, x->snap.target_region, x->vnet, "", n, dt);
	lock_model();
	rc = vm_put(x->tgt, &vi);
	it = item_find(c->v, c->item);
	if (rc < 0) {
		snprintf(c->j->error, sizeof(c->j->error), "cannot create VM %s: %s", vmname, strerror(-rc));
		for (int i = 0; i < n; i++)
			inv_disk_delete(x->tgt, dt[i].managed, dt[i].parent, dt[i].name);
	} else if (it) {
		snprintf(it->test_failover, sizeof(it->test_failover), "Succeeded: %s in %s/%s from %s network %s",
			 vmname, x->snap.target_region, x->snap.target_rg, x->point, x->vnet);
		snprintf(it->tf_region, sizeof(it->tf_region), "%s", x->snap.target_region);
		snprintf(it->tf_rg, sizeof(it->tf_rg), "%s", x->snap.target_rg);
		persist_item(c->v, it);
	}
	unlock_model();
	return rc;
}

/* Test failover's tasks, in the order of JT_TEST_FAILOVER.tasks. */
enum { TF_PREREQ, TF_CREATE, TF_START };

static const struct job_step tf_steps[] = {
	{TF_PREREQ, tf_prereq}, {TF_CREATE, tf_create}, {TF_START, tf_start}, {0, NULL},
};

const struct job_type JT_TEST_FAILOVER = {
	.name = "Test failover",
	.slug = "test-failover",
	.tasks = {T_PREREQ, T_CREATETEST, T_STARTTEST},
	.running_state = IS_NONE,
	.done_state = IS_NONE,
	.failed_state = IS_NONE,
	.steps = tf_steps,
	.begin = tf_begin,
	.end = op_end,
};

/* Where the item's test VM is; the job's error says why it cannot be
 * reached (model_lock NOT held). */
static int cleanup_tf_region(struct jobctx *c, struct region **r)
{
	struct item_rec *it;
	char why[300];
	int rc;

	lock_model();
	it = item_find(c->v, c->item);
	*r = it ? region_find(it->tf_region) : NULL;
	rc = !it ? -ENOENT : region_up(*r, "where the test VM is", why, sizeof(why));
	if (rc == -EHOSTUNREACH)
		snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	unlock_model();
	return rc;
}

static int cleanup_tf_prereq(struct jobctx *c)
{
	struct op_args a;
	struct region *r;
	int rc = job_args(c, &a);

	return rc < 0 ? rc : cleanup_tf_region(c, &r);
}

/* What is already deleted is not there (-ENOENT): safe to repeat. */
static int cleanup_tf_delete(struct jobctx *c)
{
	struct item_rec *it;
	struct region *r;
	struct vm_rec *vm;
	struct op_args a;
	char name[NAME_MAX_ + 8];
	int rc = job_args(c, &a);

	if (rc == 0)
		rc = cleanup_tf_region(c, &r);
	if (rc < 0)
		return rc;
	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		snprintf(name, sizeof(name), "%.85s-test", it->name);
		vm = vm_at(r, it->tf_rg, name);
		for (int i = 0; vm && i < vm->info.ndisks && rc == 0; i++) {
			struct vm_disk_info *d = &vm->info.disks[i];
			rc = inv_disk_delete(r, d->managed, d->managed ? it->tf_rg : d->storage_account, d->name);
			if (rc == -ENOENT)
				rc = 0;
		}
		if (rc == 0 && vm)
			rc = vm_remove(r, it->tf_rg, name);
		if (rc < 0) {
			snprintf(c->j->error, sizeof(c->j->error), "cannot delete the test VM %s: %s", name, strerror(-rc));
		} else {
			logmsg("item %s: test failover cleaned up%s%s", it->name, a.notes[0] ? "; notes: " : "", a.notes);
			it->test_failover[0] = it->tf_region[0] = it->tf_rg[0] = '\0';
			persist_item(c->v, it);
		}
	}
	unlock_model();
	return rc;
}

/* Cleanup test failover's tasks, in the order of JT_CLEANUP_TF.tasks. */
enum { CTF_PREREQ, CTF_DELETE };

static const struct job_step cleanup_tf_steps[] = {
	{CTF_PREREQ, cleanup_tf_prereq}, {CTF_DELETE, cleanup_tf_delete}, {0, NULL},
};

const struct job_type JT_CLEANUP_TF = {
	.name = "Cleanup test failover",
	.slug = "cleanup-test-failover",
	.tasks = {T_PREREQ, T_DELTEST},
	.running_state = IS_NONE,
	.done_state = IS_NONE,
	.failed_state = IS_NONE,
	.steps = cleanup_tf_steps,
};

