/*
 * plans.h - recovery plans (core/plans.c, SPEC 9): their records, their
 * tree (groups, items, actions, controls) and their jobs, which run the
 * operation of every item of each boot group in order, between the
 * group's scripts and manual actions.  The fs-facing calls are core.h's
 * (core_plan_*).
 */
#ifndef ASRFS_PLANS_H
#define ASRFS_PLANS_H

#include "model.h"

/* Read v's plan records into v->plans (model_lock held, or a scratch vault
 * no one else sees).  A record that does not parse is a damaged plan. */
int plans_load(struct vault_rec *v);
/* Free a list of plans. */
void plans_free(struct plan_rec *p);
/* The plan job type whose slug is slug ("failover-plan"), or NULL. */
const struct job_type *plan_job_type(const char *slug);

#endif
