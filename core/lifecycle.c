/*
 * lifecycle.c - failover, commit, reprotect, failback and the other item
 * operations of SPEC section 4 beyond enable and disable.
 *
 * NOT YET IMPLEMENTED: every control here is refused with EOPNOTSUPP and a
 * message in the item's error file.  (Issue: failover, commit, reprotect.)
 */
#include "model.h"

#include <errno.h>
#include <stddef.h>

const struct job_type *const lifecycle_job_types[] = {NULL};

int lifecycle_prepare(const char *control, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const char *line);
int lifecycle_prepare(const char *control, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const char *line)
{
	(void)v;
	(void)cl;
	(void)line;
	return fail_item(it, -EOPNOTSUPP, "%s is not implemented yet", control);
}
