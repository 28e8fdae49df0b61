/*
 * lifecycle.h - the operations on a protected item after enable (core/
 * lifecycle.c): failover, commit, change-recovery-point, reprotect, test
 * failover and its cleanup, resync, complete-migration; and the prepare
 * step every one of them (and verify) goes through.
 */
#ifndef ASRFS_LIFECYCLE_H
#define ASRFS_LIFECYCLE_H

#include "model.h"
#include "opdef.h"


/* lifecycle.c's job types, the table's (ops.c). */
extern const struct job_type JT_FAILOVER, JT_CRP, JT_COMMIT, JT_REPROTECT, JT_TEST_FAILOVER, JT_CLEANUP_TF,
	JT_RESYNC, JT_MIGRATE;

/* The prepare of these operations' entries (model_lock held): the
 * refusals particular to each, then the job's submission. */
int lifecycle_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const struct op_args *a, const char *line);

/* The rule of which states take a control (vault.c's item_allowed) and the
 * table's entry of a job type (ops.c's op_of_job), both above this file:
 * registered at start-up. */
void lifecycle_set_allowed(int (*allowed)(struct item_rec *it, const char *control),
			   const struct op_def *(*of_job)(const struct job_type *t));

#endif
