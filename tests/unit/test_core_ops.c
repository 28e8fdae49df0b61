/*
 * test_core_ops.c - unit tests of core/ops.c, the table of operations: the
 * control files it makes (SPEC section 4, in allowed-operations' order),
 * item states by name, which states admit which operation, the parser of a
 * control's words with the exact refusals the tree shows, and the job type
 * lookup a resumed job depends on.
 */
#include <errno.h>

#include "../../core/ops.h"
#include "t.h"

static char why[ERR_MAX];

/* ctl_parse then op_parse of op's line, as a write does. */
static int parse(const char *op, const char *line, struct op_args *a)
{
	struct ctl_line cl;
	int rc = ctl_parse(line, strlen(line), &cl, why, sizeof(why));
	why[0] = '\0';
	return rc < 0 ? rc : op_parse(op_find(op), &cl, a, why, sizeof(why));
}

static void test_control_files(void)
{
	static const char *const item[] = {"failover", "test-failover", "cleanup-test-failover", "commit",
					   "change-recovery-point", "reprotect", "resync", "verify",
					   "complete-migration", "disable", "cancel", NULL};
	int i;

	for (i = 0; item[i]; i++) {
		T_EQ_STR(core_control_name(0, i), item[i]);
		T_ASSERT(op_find(item[i]) != NULL);
		T_EQ_INT(op_find(item[i])->vault_scope, 0);
	}
	T_ASSERT(core_control_name(0, i) == NULL);
	T_EQ_STR(core_control_name(1, 0), "enable-replication");
	T_ASSERT(core_control_name(1, 1) == NULL);
	T_ASSERT(op_find("enable_replication") == NULL);
	T_ASSERT(op_find("state") == NULL);
	/* one entry a name */
	for (const struct op_def *a = ops; a->name; a++)
		for (const struct op_def *b = a + 1; b->name; b++)
			T_ASSERT(strcmp(a->name, b->name) != 0);
}

static void test_states(void)
{
	int n = 0;

	for (; item_state_names[n]; n++)
		T_EQ_INT(item_state_parse(item_state_names[n]), n);
	T_EQ_INT(n, IS_COUNT);
	T_EQ_INT(item_state_parse("Protected"), IS_PROTECTED);
	T_EQ_INT(item_state_parse("ResynchronizationFailed"), IS_RESYNCHRONIZATION_FAILED);
	T_EQ_INT(item_state_parse("protected"), -EINVAL);
	T_EQ_INT(item_state_parse(""), -EINVAL);
}

static int allowed(const char *op, const struct item_rec *it)
{
	int ok;
	lock_model_read();
	ok = op_allowed(op_find(op), it);
	unlock_model();
	return ok;
}

static void test_allowed(void)
{
	struct item_rec *it = calloc(1, sizeof(*it));
	struct job_rec *j = calloc(1, sizeof(*j));

	T_ASSERT(it && j);
	snprintf(it->state, sizeof(it->state), "Protected");
	T_ASSERT(allowed("failover", it) && allowed("test-failover", it) && allowed("resync", it));
	T_ASSERT(allowed("verify", it) && allowed("disable", it));
	T_ASSERT(!allowed("commit", it) && !allowed("reprotect", it) && !allowed("cancel", it));
	T_ASSERT(!allowed("cleanup-test-failover", it) && !allowed("complete-migration", it));
	T_ASSERT(!allowed("enable-replication", it));
	snprintf(it->state, sizeof(it->state), "FailoverFailed");
	T_ASSERT(allowed("failover", it) && !allowed("test-failover", it));
	snprintf(it->state, sizeof(it->state), "ReprotectFailed");
	T_ASSERT(allowed("reprotect", it) && !allowed("complete-migration", it));
	snprintf(it->state, sizeof(it->state), "FailoverCommitted");
	T_ASSERT(allowed("reprotect", it) && allowed("complete-migration", it) && !allowed("failover", it));
	/* a test failover: cleaned up in any state, no second one */
	snprintf(it->state, sizeof(it->state), "Protected");
	snprintf(it->test_failover, sizeof(it->test_failover), "web01-test");
	T_ASSERT(allowed("cleanup-test-failover", it) && !allowed("test-failover", it) && allowed("failover", it));
	/* a running job: only cancel */
	it->job = j;
	for (const struct op_def *op = ops; op->name; op++)
		T_EQ_INT(allowed(op->name, it), strcmp(op->name, "cancel") == 0);
	it->job = NULL;
	/* a state the table does not know, a damaged record */
	snprintf(it->state, sizeof(it->state), "Bogus");
	T_ASSERT(!allowed("failover", it) && allowed("disable", it));
	snprintf(it->damaged, sizeof(it->damaged), "record unreadable");
	for (const struct op_def *op = ops; op->name; op++)
		T_EQ_INT(allowed(op->name, it), 0);
	free(j);
	free(it);
}

static void test_parse_points(void)
{
	struct op_args a;

	T_EQ_INT(parse("failover", "start\n", &a), -EINVAL);
	T_EQ_STR(why, "'start' is not a recovery point: use latest, latest-processed, latest-app-consistent "
		      "or an id like 2026-11-24T10:05:00Z");
	T_EQ_INT(parse("failover", "shutdown=yes", &a), 0);
	T_EQ_STR(a.point, "latest");
	T_EQ_INT(a.shutdown, 1);
	T_EQ_INT(parse("failover", "2026-11-24T10:05:00Z shutdown=no", &a), 0);
	T_EQ_STR(a.point, "2026-11-24T10:05:00Z");
	T_EQ_INT(a.shutdown, 0);
	T_EQ_INT(parse("failover", "latest shutdown=maybe", &a), -EINVAL);
	T_EQ_STR(why, "shutdown= takes yes or no");
	T_EQ_INT(parse("failover", "latest latest", &a), -EINVAL);
	T_EQ_STR(why, "failover takes at most one recovery point: latest, latest-processed, latest-app-consistent "
		      "or a point id");
	T_EQ_INT(parse("failover", "latest network=v", &a), -EINVAL);
	T_EQ_STR(why, "unknown key 'network'");
	T_EQ_INT(parse("change-recovery-point", "network=v", &a), -EINVAL);
	T_EQ_STR(why, "unknown key 'network'");
	T_EQ_INT(parse("change-recovery-point", "shutdown=yes", &a), -EINVAL);
	T_EQ_INT(parse("test-failover", "network=vnet1-test", &a), 0);
	T_EQ_STR(a.network, "vnet1-test");
	T_EQ_STR(a.point, "latest");
}

static void test_parse_start(void)
{
	struct op_args a;

	T_EQ_INT(parse("commit", "start", &a), 0);
	T_EQ_INT(parse("commit", "1\n", &a), 0);
	T_EQ_INT(parse("commit", "go", &a), -EINVAL);
	T_EQ_STR(why, "commit takes 'start'");
	T_EQ_INT(parse("commit", "start x=1", &a), -EINVAL);
	T_EQ_STR(why, "unknown key 'x'");
	/* disable and cancel say only that, whatever else the line holds */
	T_EQ_INT(parse("disable", "start x=1", &a), -EINVAL);
	T_EQ_STR(why, "disable takes 'start'");
	T_EQ_INT(parse("cancel", "start start", &a), -EINVAL);
	T_EQ_STR(why, "cancel takes 'start'");
	T_EQ_INT(parse("cancel", "start", &a), 0);
	/* reprotect: overrides alone will do */
	T_EQ_INT(parse("reprotect", "target-resource-group=rg-new availability-set=as1", &a), 0);
	T_EQ_STR(a.trg, "rg-new");
	T_EQ_STR(a.aset, "as1");
	T_EQ_INT(parse("reprotect", "now", &a), -EINVAL);
	T_EQ_STR(why, "reprotect takes 'start' and optional key=value overrides");
	T_EQ_INT(parse("reprotect", "start target-storage-account=NOT_OK", &a), -EINVAL);
	T_ASSERT(why[0] != '\0');
	/* cleanup: notes= takes the rest of the line */
	T_EQ_INT(parse("cleanup-test-failover", "notes=drill done ok", &a), 0);
	T_EQ_STR(a.notes, "drill done ok");
	T_EQ_INT(parse("cleanup-test-failover", "go", &a), -EINVAL);
	T_EQ_STR(why, "cleanup-test-failover takes 'start' or notes=...");
}

static void test_job_types(void)
{
	T_ASSERT(job_type_by_slug("resynchronize") == &JT_RESYNC);
	T_ASSERT(job_type_by_slug("enable-replication") == &JT_ENABLE);
	T_ASSERT(job_type_by_slug("disable-replication") == &JT_DISABLE);
	T_ASSERT(job_type_by_slug("verify") == &JT_VERIFY);
	T_ASSERT(job_type_by_slug("resync") == NULL);
	T_EQ_STR(op_of_job(&JT_RESYNC)->name, "resync");
	T_EQ_STR(op_of_job(&JT_CRP)->name, "change-recovery-point");
	/* every job type an operation names is found by its slug */
	for (const struct op_def *op = ops; op->name; op++)
		if (op->job)
			T_ASSERT(job_type_by_slug(op->job->slug) == op->job);
}

int main(void)
{
	T_RUN(test_control_files);
	T_RUN(test_states);
	T_RUN(test_allowed);
	T_RUN(test_parse_points);
	T_RUN(test_parse_start);
	T_RUN(test_job_types);
	T_DONE();
}
