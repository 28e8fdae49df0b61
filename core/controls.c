/*
 * controls.c - a write to a control file, and `allowed-operations`: the
 * entry of the table of operations (ops.c) that the file names, checked in
 * SPEC's order (the line's syntax, a running job, the states, the words,
 * the region rules) and handed to its prepare, which queues the job.
 * Above the table, since it reads it; the vault's own files are vault.c's.
 */
#define _GNU_SOURCE
#include "controls.h"
#include "ops.h"
#include "vault.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* model_lock held: would a write to control be accepted now (state-wise)? */
int item_allowed(struct item_rec *it, const char *control)
{
	const struct op_def *op = op_find(control);
	return op && op_allowed(op, it);
}

int core_item_allowed(const char *vault, const char *item, struct sbuf *out)
{
	struct vault_rec *v;
	struct item_rec *it = NULL;
	char why[ERR_MAX];
	int rc;
	lock_model_read(); /* a reader of the tree: no change follows */
	rc = find_vi(vault, item, &v, &it);
	for (const struct op_def *op = op_table; rc == 0 && op->name; op++)
		if (!v->readonly && op_allowed(op, it) && (!op->check || op->check(v, it, why, sizeof(why)) == 0))
			sb_printf(out, "%s\n", op->name);
	unlock_model();
	return rc ? rc : out->err;
}

int core_vault_control(const char *vault, const char *control, const char *line, size_t len)
{
	const struct op_def *op = op_find(control);
	if (!op || !op->vault_scope)
		return -ENOENT;
	return op->vault_control(op, vault, line, len);
}

int core_item_control(const char *vault, const char *item, const char *control, const char *line, size_t len)
{
	const struct op_def *op = op_find(control);
	struct vault_rec *v;
	struct item_rec *it = NULL;
	struct ctl_line cl;
	struct op_args a;
	char text[4097], why[ERR_MAX];
	int rc;

	if (!op || op->vault_scope)
		return -ENOENT;
	lock_model();
	rc = find_vi(vault, item, &v, &it);
	if (rc < 0)
		goto out;
	if (v->readonly) {
		rc = fail_item(it, -EROFS, "vault %s is managed by another asrfs instance right now", v->name);
		goto out;
	}
	if ((rc = item_refuse_damaged(it)) < 0)
		goto out;
	rc = ctl_parse(line, len, &cl, it->error, sizeof(it->error));
	if (rc < 0) {
		logmsg("item %s: %s refused: %s", it->name, control, it->error);
		goto out;
	}
	/* cancel is for a running job: its line is all it checks here */
	if (!(op->flags & OPF_JOB)) {
		if (it->job) {
			rc = fail_item(it, -EBUSY, "job %s is running on %s", it->job->id, it->name);
			goto out;
		}
		if ((op->flags & OPF_NO_TEST) && it->test_failover[0]) {
			rc = fail_item(it, -EPERM, "a test failover of %s exists (%s): run cleanup-test-failover first",
				       it->name, it->test_failover);
			goto out;
		}
		if (!op_allowed(op, it)) {
			rc = fail_item(it, -EPERM, "%s is not allowed while %s is %s%s", control, it->name, item_state_name(it->state),
				       (op->flags & OPF_TEST) ? " and has no test failover" : "");
			goto out;
		}
	}
	rc = op_parse(op, &cl, &a, why, sizeof(why));
	if (rc < 0) {
		/* a line of just 'start' says so alone; the others name the refusal */
		if (op->shape == ARGS_JUST_START)
			rc = fail_item(it, rc, "%s", why);
		else
			rc = fail_item(it, rc, "%s refused: %s", control, why);
		goto out;
	}
	line_copy(text, sizeof(text), line, len);
	rc = op->prepare(op, v, it, &cl, &a, text);
out:
	unlock_model();
	return rc;
}
