/*
 * lifecycle.c - the prepare of the item operations after enable (the
 * prepare of their entries in ops.c): the refusals particular to each
 * (the recovery point a line names, a failover's shutdown, reprotect's
 * target) and the job's submission, model_lock held.  The operations are
 * failover.c, reprotect.c, testfailover.c and resync.c; verify's job is
 * verify.c's.
 */
#define _GNU_SOURCE
#include "lifecycle.h"
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

/* ---- prepare: validate and queue (model_lock held) ---- */

/* The parsed line written back as one canonical line, for the job record. */
static void line_of(const struct ctl_line *cl, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < cl->nbare && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? " " : "", cl->bare[i]);
	for (int i = 0; i < cl->nkv && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s=%s", used ? " " : "", cl->key[i], cl->val[i]);
}

/* The tasks of t's job for this line (out: NULL-terminated): a failover
 * has no shutdown unless asked, and no last sync unless it goes to
 * `latest` with its source up. */
static void job_tasks(const struct job_type *t, const struct item_rec *it, const struct op_args *a,
		      const char **out)
{
	const struct region *src = region_find(it->source_region);
	int sync = strcmp(a->point, "latest") == 0 && src && src->available, n = 0;

	for (int i = 0; i < MAX_TASKS && t->tasks[i]; i++) {
		if (t == &JT_FAILOVER && ((!a->shutdown && strcmp(t->tasks[i], T_SHUTDOWN) == 0) ||
					  (!sync && strcmp(t->tasks[i], T_SYNCLAST) == 0)))
			continue;
		out[n++] = t->tasks[i];
	}
	out[n] = NULL;
}

int lifecycle_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const struct op_args *a, const char *line)
{
	const struct job_type *t = op->job;
	const char *tasks[MAX_TASKS + 1];
	const char *name = op->name;
	struct job_rec *j = NULL;
	char why[ERR_MAX], args[512];
	int rc;

	if (ctl_get(cl, "target-network")) {
		char vnet[NAME_MAX_];
		mapped_vnet(v, it->source_region, it->network, vnet, sizeof(vnet));
		return fail_item(it, -EPERM, "reprotect cannot change the target network: change the network mapping "
			       "vaults/%s/network-mappings/%s/%s instead", v->name, it->target_region, vnet);
	}
	rc = op->check ? op->check(v, it, why, sizeof(why)) : 0;
	if (rc < 0)
		return fail_item(it, rc, "%s refused: %s", name, why);
	if (t == &JT_FAILOVER && a->shutdown) {
		rc = region_up(region_find(it->source_region), "the source, where the VM is to be shut down", why,
			       sizeof(why));
		if (rc < 0)
			return fail_item(it, rc, "failover with shutdown=yes refused: %s", why);
	}
	if (a->point[0] && (rc = check_point(v, it, name, a->point)) < 0)
		return rc;
	(void)line; /* the job keeps the parsed words, as one canonical line */
	line_of(cl, args, sizeof(args));
	job_tasks(t, it, a, tasks);
	rc = job_submit(v, it, t, args, tasks, &j);
	if (rc < 0)
		return fail_item(it, rc, "cannot start %s: %s", name, strerror(-rc));
	if (t == &JT_VERIFY)
		verify_tasks(it, j);
	it->error[0] = '\0';
	return 0;
}

