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
	if (rc == 0 && plan_holding(v, it->name))
		goto out; /* a plan's job holds it: none */
	for (const struct op_def *op = op_table; rc == 0 && op->name; op++)
		if (!v->readonly && op_allowed(op, it) && (!op->check || op->check(v, it, why, sizeof(why)) == 0))
			sb_printf(out, "%s\n", op->name);
out:
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

int item_control_check(const struct op_def *op, struct vault_rec *v, struct item_rec *it, const char *line,
		       size_t len, struct ctl_line *cl, struct op_args *a)
{
	const char *control = op->name;
	char why[ERR_MAX];
	int rc;

	if (v->readonly)
		return fail_item(it, -EROFS, "vault %s is managed by another asrfs instance right now", v->name);
	if ((rc = item_refuse_damaged(it)) < 0)
		return rc;
	rc = ctl_parse(line, len, cl, it->error, sizeof(it->error));
	if (rc < 0) {
		logmsg("item %s: %s refused: %s", it->name, control, it->error);
		return rc;
	}
	/* cancel is for a running job: its line is all it checks here */
	if (!(op->flags & OPF_JOB)) {
		if (it->job)
			return fail_item(it, -EBUSY, "job %s is running on %s", it->job->id, it->name);
		if ((op->flags & OPF_NO_TEST) && it->test_failover[0])
			return fail_item(it, -EPERM,
					 "a test failover of %s exists (%s): run cleanup-test-failover first", it->name,
					 it->test_failover);
		if (!op_allowed(op, it))
			return fail_item(it, -EPERM, "%s is not allowed while %s is %s%s", control, it->name,
					 item_state_name(it->state),
					 (op->flags & OPF_TEST) ? " and has no test failover" : "");
	}
	rc = op_parse(op, cl, a, why, sizeof(why));
	if (rc < 0) {
		/* a line of just 'start' says so alone; the others name the refusal */
		if (op->shape == ARGS_JUST_START)
			return fail_item(it, rc, "%s", why);
		return fail_item(it, rc, "%s refused: %s", control, why);
	}
	return 0;
}

int core_item_control(const char *vault, const char *item, const char *control, const char *line, size_t len)
{
	const struct op_def *op = op_find(control);
	struct vault_rec *v;
	struct item_rec *it = NULL;
	struct plan_rec *p;
	struct ctl_line cl;
	struct op_args a;
	char text[4097];
	int rc;

	if (!op || op->vault_scope)
		return -ENOENT;
	lock_model();
	rc = find_vi(vault, item, &v, &it);
	if (rc < 0)
		goto out;
	/* SPEC 9: a plan's job runs the operations of its items */
	if (!v->readonly && (p = plan_holding(v, it->name)) != NULL) {
		rc = fail_item(it, -EBUSY, "recovery plan %s runs job %s on %s", p->name, p->job_id, it->name);
		goto out;
	}
	rc = item_control_check(op, v, it, line, len, &cl, &a);
	if (rc < 0)
		goto out;
	line_copy(text, sizeof(text), line, len);
	rc = op->prepare(op, v, it, &cl, &a, text);
out:
	unlock_model();
	return rc;
}
