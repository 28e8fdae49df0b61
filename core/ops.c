/*
 * ops.c - the table of operations (ops.h): one entry per control file,
 * naming its states, line shape, check, prepare and job type; and the
 * prepares of the two operations that have no file of their own (disable
 * submits protect.c's job, cancel flags the running job).
 */
#define _GNU_SOURCE
#include "ops.h"
#include "jobs.h"
#include "lifecycle.h"
#include "protect.h"
#include "rules.h"
#include "vault.h"
#include "verify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int disable_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
			   const struct op_args *a, const char *line)
{
	struct backend *be = v->region->be;
	int rc = job_submit(v, it, op->job, line, NULL, NULL);

	(void)cl;
	(void)a;
	/* A full medium must not keep disable, which frees space, from
	 * writing its records: spend the region's reserve on it, once. */
	if (rc == -ENOSPC && be->ops->reserve_release && be->ops->reserve_release(be) == 0) {
		logmsg("region %s is full: its reserved space is given to disable %s", v->region->name, it->name);
		rc = job_submit(v, it, op->job, line, NULL, NULL);
	}
	return rc;
}

static int cancel_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
			  const struct op_args *a, const char *line)
{
	(void)op;
	(void)v;
	(void)cl;
	(void)a;
	(void)line;
	if (!it->job)
		return fail_item(it, -EPERM, "no job is running on %s", it->name);
	it->job->cancel = 1;
	logmsg("job %s: cancel requested", it->job->id);
	return 0;
}

static const char *const k_enable[] = {"vm", "source", "target", "policy", "target-resource-group",
				       "availability-set", "cache-storage-account",
				       "bandwidth-limit-bytes-per-second", "replication-group", "exclude-disks",
				       NULL};
static const char *const n_enable[] = {"vm", "source", "target", NULL};
static const char *const k_failover[] = {"shutdown", NULL};
static const char *const k_test[] = {"network", NULL};
static const char *const k_cleanup[] = {"notes", NULL};
static const char *const k_reprotect[] = {"target-resource-group", "target-storage-account", "cache-storage-account",
					  "availability-set", "target-network", NULL};

/* In the order allowed-operations lists them, and the item's files. */
const struct op_def op_table[] = {
	{.name = "enable-replication", .vault_scope = 1, .keys = k_enable, .shape = ARGS_KEYS, .needs = n_enable,
	 .usage = "vm=<rg>/<vm> source=<region> target=<region>", .vault_control = core_enable_replication,
	 .job = &JT_ENABLE},
	{.name = "failover", .states = IS_BIT(IS_PROTECTED) | IS_BIT(IS_FAILOVER_FAILED), .keys = k_failover,
	 .shape = ARGS_POINT, .check = check_recovery_region, .prepare = lifecycle_prepare, .job = &JT_FAILOVER},
	{.name = "test-failover", .states = IS_BIT(IS_PROTECTED), .flags = OPF_NO_TEST, .keys = k_test,
	 .shape = ARGS_POINT, .check = check_recovery_region, .prepare = lifecycle_prepare,
	 .job = &JT_TEST_FAILOVER},
	{.name = "cleanup-test-failover", .flags = OPF_TEST, .keys = k_cleanup, .shape = ARGS_START_NOTES,
	 .check = check_test_region, .prepare = lifecycle_prepare, .job = &JT_CLEANUP_TF},
	{.name = "commit", .states = IS_BIT(IS_FAILED_OVER), .shape = ARGS_START, .check = check_recovery_region,
	 .prepare = lifecycle_prepare, .job = &JT_COMMIT},
	{.name = "change-recovery-point", .states = IS_BIT(IS_FAILED_OVER), .shape = ARGS_ONE_POINT,
	 .check = check_recovery_region, .prepare = lifecycle_prepare, .job = &JT_CRP},
	{.name = "reprotect", .states = IS_BIT(IS_FAILOVER_COMMITTED) | IS_BIT(IS_REPROTECT_FAILED),
	 .keys = k_reprotect, .shape = ARGS_START, .check = check_reprotect, .prepare = lifecycle_prepare,
	 .job = &JT_REPROTECT},
	{.name = "resync", .states = IS_BIT(IS_PROTECTED) | IS_BIT(IS_RESYNCHRONIZATION_FAILED), .shape = ARGS_START,
	 .check = check_both_regions, .prepare = lifecycle_prepare, .job = &JT_RESYNC},
	{.name = "verify", .states = IS_BIT(IS_PROTECTED), .shape = ARGS_START, .check = check_both_regions,
	 .prepare = lifecycle_prepare, .job = &JT_VERIFY},
	{.name = "complete-migration", .states = IS_BIT(IS_FAILOVER_COMMITTED), .shape = ARGS_START,
	 .prepare = lifecycle_prepare, .job = &JT_MIGRATE},
	{.name = "disable", .flags = OPF_ANY_STATE, .shape = ARGS_JUST_START, .prepare = disable_prepare,
	 .job = &JT_DISABLE},
	{.name = "cancel", .flags = OPF_JOB, .shape = ARGS_JUST_START, .prepare = cancel_prepare},
	{.name = NULL},
};

const struct op_def *op_find(const char *name)
{
	for (const struct op_def *op = op_table; op->name; op++)
		if (strcmp(op->name, name) == 0)
			return op;
	return NULL;
}

const struct op_def *op_of_job(const struct job_type *t)
{
	for (const struct op_def *op = op_table; op->name; op++)
		if (op->job == t)
			return op;
	return NULL;
}

const struct job_type *op_job_type(const char *slug)
{
	for (const struct op_def *op = op_table; op->name; op++)
		if (op->job && strcmp(op->job->slug, slug) == 0)
			return op->job;
	return NULL;
}

const char *core_control_name(int vault_scope, int i)
{
	for (const struct op_def *op = op_table; op->name; op++)
		if (!op->vault_scope == !vault_scope && i-- == 0)
			return op->name;
	return NULL;
}

