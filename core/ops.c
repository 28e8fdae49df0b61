/*
 * ops.c - the table of operations (ops.h) and what is read from it alone:
 * item states by name, whether an item's state admits an operation, and
 * the parser of an operation's line.
 *
 * The line of a control is split into words once (ctl_parse, when it is
 * written) and its words are checked against the operation's keys and shape
 * once, by op_parse; a job re-reads its stored canonical line through the
 * same op_parse when it runs or resumes.
 */
#define _GNU_SOURCE
#include "ops.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *const item_state_names[IS_COUNT + 1] = {
	[IS_ENABLING_PROTECTION] = "EnablingProtection",
	[IS_INITIAL_REPLICATION_IN_PROGRESS] = "InitialReplicationInProgress",
	[IS_PROTECTED] = "Protected",
	[IS_FAILOVER_IN_PROGRESS] = "FailoverInProgress",
	[IS_FAILED_OVER] = "FailedOver",
	[IS_CHANGE_RECOVERY_POINT_IN_PROGRESS] = "ChangeRecoveryPointInProgress",
	[IS_COMMIT_IN_PROGRESS] = "CommitInProgress",
	[IS_FAILOVER_COMMITTED] = "FailoverCommitted",
	[IS_REPROTECT_IN_PROGRESS] = "ReprotectInProgress",
	[IS_RESYNCHRONIZATION_IN_PROGRESS] = "ResynchronizationInProgress",
	[IS_DISABLING_PROTECTION] = "DisablingProtection",
	[IS_MIGRATION_COMPLETED] = "MigrationCompleted",
	[IS_INITIAL_REPLICATION_FAILED] = "InitialReplicationFailed",
	[IS_FAILOVER_FAILED] = "FailoverFailed",
	[IS_REPROTECT_FAILED] = "ReprotectFailed",
	[IS_RESYNCHRONIZATION_FAILED] = "ResynchronizationFailed",
	[IS_COUNT] = NULL,
};

int item_state_parse(const char *name)
{
	for (int s = 0; s < IS_COUNT; s++)
		if (strcmp(item_state_names[s], name) == 0)
			return s;
	return -EINVAL;
}

static const char *const k_failover[] = {"shutdown", NULL};
static const char *const k_test[] = {"network", NULL};
static const char *const k_cleanup[] = {"notes", NULL};
static const char *const k_reprotect[] = {"target-resource-group", "target-storage-account", "cache-storage-account",
					  "availability-set", "target-network", NULL};

/* In the order allowed-operations lists them, and the item's files. */
const struct op_def ops[] = {
	{.name = "enable-replication", .vault_scope = 1, .shape = ARGS_OWN,
	 .vault_control = core_enable_replication, .job = &JT_ENABLE},
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
	for (const struct op_def *op = ops; op->name; op++)
		if (strcmp(op->name, name) == 0)
			return op;
	return NULL;
}

const struct op_def *op_of_job(const struct job_type *t)
{
	for (const struct op_def *op = ops; op->name; op++)
		if (op->job == t)
			return op;
	return NULL;
}

const struct job_type *job_type_by_slug(const char *slug)
{
	for (const struct op_def *op = ops; op->name; op++)
		if (op->job && strcmp(op->job->slug, slug) == 0)
			return op->job;
	return NULL;
}

const char *core_control_name(int vault_scope, int i)
{
	for (const struct op_def *op = ops; op->name; op++)
		if (!op->vault_scope == !vault_scope && i-- == 0)
			return op->name;
	return NULL;
}

int op_allowed(const struct op_def *op, const struct item_rec *it)
{
	int s;

	MODEL_LOCKED();
	if (op->vault_scope || it->damaged[0])
		return 0;
	if (op->flags & OPF_JOB)
		return it->job != NULL;
	if (it->job)
		return 0;
	if (op->flags & OPF_ANY_STATE)
		return 1;
	if (op->flags & OPF_TEST)
		return it->test_failover[0] != '\0';
	if ((op->flags & OPF_NO_TEST) && it->test_failover[0])
		return 0;
	/* Item states are still strings in the model: mapped here, where
	 * the table is consulted. */
	s = item_state_parse(it->state);
	return s >= 0 && (op->states & IS_BIT(s)) != 0;
}

static int is_point_word(const char *w)
{
	time_t t;
	return strcmp(w, "latest") == 0 || strcmp(w, "latest-processed") == 0 ||
	       strcmp(w, "latest-app-consistent") == 0 || parse_time(w, &t) == 0;
}

/* The bare words of a line that takes 'start'. */
static int parse_start(const struct op_def *op, const struct ctl_line *cl, char *why, size_t len)
{
	int bare_ok = cl->nbare == 1 && (strcmp(cl->bare[0], "start") == 0 || strcmp(cl->bare[0], "1") == 0);
	int has_keys = op->keys && op->keys[0];

	if (op->shape == ARGS_JUST_START) {
		if (bare_ok && !cl->nkv)
			return 0;
	} else if (bare_ok || (cl->nbare == 0 && cl->nkv > 0 && has_keys)) {
		/* reprotect: "start" and/or overrides */
		return 0;
	}
	snprintf(why, len, "%s takes 'start'%s", op->name,
		 op->shape == ARGS_START_NOTES ? " or notes=..." : has_keys ? " and optional key=value overrides" : "");
	return -EINVAL;
}

/* The bare words of a line that takes a recovery point. */
static int parse_point(const struct op_def *op, const struct ctl_line *cl, struct op_args *a, char *why, size_t len)
{
	int one = op->shape == ARGS_ONE_POINT;

	if (cl->nbare > 1 || (one && cl->nbare != 1)) {
		snprintf(why, len, "%s takes %s: latest, latest-processed, latest-app-consistent or a point id", op->name,
			 one ? "one recovery point" : "at most one recovery point");
		return -EINVAL;
	}
	snprintf(a->point, sizeof(a->point), "%s", cl->nbare ? cl->bare[0] : "latest");
	if (!is_point_word(a->point)) {
		snprintf(why, len, "'%s' is not a recovery point: use latest, latest-processed, "
			 "latest-app-consistent or an id like 2026-11-24T10:05:00Z", a->point);
		return -EINVAL;
	}
	return 0;
}

/* A name-valued key into field (NAME_MAX_ bytes), checked by ok(). */
static int parse_name_key(struct ctl_line *cl, const char *key, char *field, int (*ok)(const char *, char *, size_t),
			  char *why, size_t len)
{
	const char *s = ctl_get(cl, key);
	int rc;

	if (!s)
		return 0;
	if ((rc = ok(s, why, len)) < 0)
		return rc;
	snprintf(field, NAME_MAX_, "%s", s);
	return 0;
}

static int network_ok(const char *s, char *why, size_t len) { return name_generic_ok("network", s, why, len); }
static int aset_ok(const char *s, char *why, size_t len) { return name_generic_ok("availability set", s, why, len); }

int op_parse(const struct op_def *op, struct ctl_line *cl, struct op_args *a, char *why, size_t len)
{
	const char *s;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (op->shape == ARGS_OWN)
		return 0;
	if (op->shape == ARGS_JUST_START)
		return parse_start(op, cl, why, len);
	rc = ctl_check_keys(cl, op->keys, why, len);
	if (rc < 0)
		return rc;
	if (op->shape == ARGS_POINT || op->shape == ARGS_ONE_POINT) {
		rc = parse_point(op, cl, a, why, len);
	} else if (op->shape == ARGS_START_NOTES && ctl_get(cl, "notes")) {
		/* notes=... is free text: the words after it belong to it */
		size_t used = (size_t)snprintf(a->notes, sizeof(a->notes), "%s", ctl_get(cl, "notes"));
		for (int i = 0; i < cl->nbare && used < sizeof(a->notes); i++)
			used += (size_t)snprintf(a->notes + used, sizeof(a->notes) - used, " %s", cl->bare[i]);
	} else {
		rc = parse_start(op, cl, why, len);
	}
	if (rc < 0)
		return rc;
	if ((s = ctl_get(cl, "shutdown")) != NULL) {
		if (strcmp(s, "yes") != 0 && strcmp(s, "no") != 0) {
			snprintf(why, len, "shutdown= takes yes or no");
			return -EINVAL;
		}
		a->shutdown = strcmp(s, "yes") == 0;
	}
	if ((rc = parse_name_key(cl, "network", a->network, network_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "target-resource-group", a->trg, name_rg_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "target-storage-account", a->tsa, name_sa_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "cache-storage-account", a->cache, name_sa_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "availability-set", a->aset, aset_ok, why, len)) < 0)
		return rc;
	return 0;
}
