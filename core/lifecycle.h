/*
 * lifecycle.h - the operations on a protected item after enable (core/
 * lifecycle.c): failover, commit, change-recovery-point, reprotect, test
 * failover and its cleanup, resync, complete-migration; and the prepare
 * step every one of them (and verify) goes through.
 */
#ifndef ASRFS_LIFECYCLE_H
#define ASRFS_LIFECYCLE_H

#include "model.h"

/* The job types of these operations, NULL-terminated (for job_types_register). */
extern const struct job_type *const lifecycle_job_types[];

/* Validate a control's line and queue its job (model_lock held).  control
 * is the C spelling of the file name ("test_failover"). */
int lifecycle_prepare(const char *control, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const char *line);

/* The rule of which states take a control (vault.c's item_allowed), which
 * lives above this file: registered at start-up. */
void lifecycle_set_allowed(int (*allowed)(struct item_rec *it, const char *control));

#endif
