/*
 * lifecycle.h - the operations on a protected item after enable, as the
 * table of operations (ops.c) names them: their job types (failover.c:
 * failover, change-recovery-point, commit, complete-migration;
 * reprotect.c; testfailover.c: test failover and its cleanup; resync.c)
 * and the prepare every one of them (and verify) goes through
 * (lifecycle.c).
 */
#ifndef ASRFS_LIFECYCLE_H
#define ASRFS_LIFECYCLE_H

#include "model.h"
#include "opdef.h"

/* The job types, the table's (ops.c). */
extern const struct job_type JT_FAILOVER, JT_CRP, JT_COMMIT, JT_REPROTECT, JT_TEST_FAILOVER, JT_CLEANUP_TF,
	JT_RESYNC, JT_MIGRATE;

/* The prepare of these operations' entries (model_lock held): the
 * refusals particular to each, then the job's submission. */
int lifecycle_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const struct op_args *a, const char *line);

#endif
