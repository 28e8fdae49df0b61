/*
 * test_core_ops.c - unit tests of core/ops.c, the table of operations: the
 * control files it makes (SPEC section 4, in allowed-operations' order),
 * item states by name, which states admit which operation, the parser of a
 * control's words with the exact refusals the tree shows, and the job type
 * lookup a resumed job depends on.
 */
#include <errno.h>

#include "../../core/daemon.h"
#include "../../core/lifecycle.h"
#include "../../core/ops.h"
#include "../../core/protect.h"
#include "../../core/verify.h"
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
	for (const struct op_def *a = op_table; a->name; a++)
		for (const struct op_def *b = a + 1; b->name; b++)
			T_ASSERT(strcmp(a->name, b->name) != 0);
}

static void test_states(void)
{
	int n = 0;

	for (; item_state_names[n]; n++)
		T_EQ_INT(item_state_parse(item_state_names[n]), n);
	T_EQ_INT(n, IS_COUNT);
	/* the SPEC's sixteen, from IS_SPEC_FIRST, end the list */
	T_EQ_INT(IS_COUNT - IS_SPEC_FIRST, 16);
	T_EQ_STR(item_state_names[IS_SPEC_FIRST], "EnablingProtection");
	T_EQ_STR(item_state_names[IS_COUNT - 1], "ResynchronizationFailed");
	T_EQ_INT(item_state_parse("Protected"), IS_PROTECTED);
	T_EQ_INT(item_state_parse("ResynchronizationFailed"), IS_RESYNCHRONIZATION_FAILED);
	T_EQ_INT(item_state_parse("protected"), -EINVAL);
	T_EQ_INT(item_state_parse(""), IS_NONE);
	T_EQ_STR(item_state_name(IS_UNKNOWN), "Unknown");
	T_EQ_STR(item_state_name(IS_FAILOVER_COMMITTED), "FailoverCommitted");
	/* the sets the model's rules use */
	T_ASSERT(item_state_in(IS_INITIAL_REPLICATION_IN_PROGRESS, IS_TRANSITIONAL_SET));
	T_ASSERT(item_state_in(IS_DISABLING_PROTECTION, IS_TRANSITIONAL_SET));
	T_ASSERT(!item_state_in(IS_PROTECTED, IS_TRANSITIONAL_SET));
	T_ASSERT(!item_state_in(IS_REPROTECT_FAILED, IS_TRANSITIONAL_SET));
	T_ASSERT(item_state_in(IS_REPROTECT_FAILED, IS_FAILED_SET));
	T_ASSERT(!item_state_in(IS_FAILED_OVER, IS_FAILED_SET));
	for (int s = IS_SPEC_FIRST; s < IS_COUNT; s++) {
		const char *name = item_state_names[s];
		size_t k = strlen(name);
		int trans = strcmp(name, "EnablingProtection") == 0 || strcmp(name, "DisablingProtection") == 0 ||
			    (k > 10 && strcmp(name + k - 10, "InProgress") == 0);
		T_EQ_INT(item_state_in(s, IS_TRANSITIONAL_SET), trans);
		T_EQ_INT(item_state_in(s, IS_FAILED_SET), k > 6 && strcmp(name + k - 6, "Failed") == 0);
	}
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
	it->state = IS_PROTECTED;
	T_ASSERT(allowed("failover", it) && allowed("test-failover", it) && allowed("resync", it));
	T_ASSERT(allowed("verify", it) && allowed("disable", it));
	T_ASSERT(!allowed("commit", it) && !allowed("reprotect", it) && !allowed("cancel", it));
	T_ASSERT(!allowed("cleanup-test-failover", it) && !allowed("complete-migration", it));
	T_ASSERT(!allowed("enable-replication", it));
	it->state = IS_FAILOVER_FAILED;
	T_ASSERT(allowed("failover", it) && !allowed("test-failover", it));
	it->state = IS_REPROTECT_FAILED;
	T_ASSERT(allowed("reprotect", it) && !allowed("complete-migration", it));
	it->state = IS_FAILOVER_COMMITTED;
	T_ASSERT(allowed("reprotect", it) && allowed("complete-migration", it) && !allowed("failover", it));
	/* a test failover: cleaned up in any state, no second one */
	it->state = IS_PROTECTED;
	snprintf(it->test_failover, sizeof(it->test_failover), "web01-test");
	T_ASSERT(allowed("cleanup-test-failover", it) && !allowed("test-failover", it) && allowed("failover", it));
	/* a running job: only cancel */
	it->job = j;
	for (const struct op_def *op = op_table; op->name; op++)
		T_EQ_INT(allowed(op->name, it), strcmp(op->name, "cancel") == 0);
	it->job = NULL;
	/* a record that did not read: Unknown, and damaged */
	it->state = IS_UNKNOWN;
	T_ASSERT(!allowed("failover", it) && allowed("disable", it));
	snprintf(it->damaged, sizeof(it->damaged), "record unreadable");
	for (const struct op_def *op = op_table; op->name; op++)
		T_EQ_INT(allowed(op->name, it), 0);
	free(j);
	free(it);
}

static void test_parse_points(void)
{
	struct op_args a;

	T_EQ_INT(parse("failover", "start\n", &a), -EINVAL);
	T_EQ_STR(why, "'start' is not a recovery point: use latest, latest-processed, latest-app-consistent, "
		      "latest-multi-vm-processed, latest-multi-vm-app-consistent or an id like 2026-11-24T10:05:00Z");
	T_EQ_INT(parse("failover", "latest-multi-vm-processed", &a), 0);
	T_EQ_STR(a.point, "latest-multi-vm-processed");
	T_EQ_INT(parse("test-failover", "latest-multi-vm-app-consistent", &a), 0);
	T_EQ_STR(a.point, "latest-multi-vm-app-consistent");
	T_EQ_INT(parse("change-recovery-point", "latest-multi-vm-app-consistent", &a), 0);
	T_EQ_INT(parse("failover", "latest-multi-vm", &a), -EINVAL);
	T_EQ_INT(parse("failover", "shutdown=yes", &a), 0);
	T_EQ_STR(a.point, "latest");
	T_EQ_INT(a.shutdown, 1);
	T_EQ_INT(parse("failover", "2026-11-24T10:05:00Z shutdown=no", &a), 0);
	T_EQ_STR(a.point, "2026-11-24T10:05:00Z");
	T_EQ_INT(a.shutdown, 0);
	T_EQ_INT(parse("failover", "latest shutdown=maybe", &a), -EINVAL);
	T_EQ_STR(why, "shutdown= takes yes or no");
	T_EQ_INT(parse("failover", "latest latest", &a), -EINVAL);
	T_EQ_STR(why, "failover takes at most one recovery point: latest, latest-processed, latest-app-consistent, "
		      "latest-multi-vm-processed, latest-multi-vm-app-consistent or a point id");
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

/* enable-replication's line goes through the same parser as the others */
static void test_parse_enable(void)
{
	struct op_args a;
	const char *ok = "vm=rg-web/web01 source=eastus target=westus2";

	T_EQ_INT(parse("enable-replication", ok, &a), 0);
	T_EQ_STR(a.vm_rg, "rg-web");
	T_EQ_STR(a.vm, "web01");
	T_EQ_STR(a.source, "eastus");
	T_EQ_STR(a.target, "westus2");
	T_EQ_STR(a.policy, "");
	T_EQ_INT((int)a.bwlimit, 0);
	T_EQ_INT(parse("enable-replication",
		       "vm=rg/db01 source=a target=b policy=p1 target-resource-group=rg-dr availability-set=as1 "
		       "cache-storage-account=cache1 bandwidth-limit-bytes-per-second=1048576",
		       &a), 0);
	T_EQ_STR(a.policy, "p1");
	T_EQ_STR(a.trg, "rg-dr");
	T_EQ_STR(a.aset, "as1");
	T_EQ_STR(a.cache, "cache1");
	T_EQ_INT((int)a.bwlimit, 1048576);
	T_EQ_INT(parse("enable-replication", "start", &a), -EINVAL);
	T_EQ_STR(why, "enable-replication takes key=value words only, not 'start'");
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a", &a), -EINVAL);
	T_EQ_STR(why, "enable-replication needs vm=<rg>/<vm> source=<region> target=<region>");
	T_EQ_INT(parse("enable-replication", "vm=web01 source=a target=b", &a), -EINVAL);
	T_EQ_STR(why, "vm= takes <resource-group>/<vm>, not 'web01'");
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a target=b bandwidth-limit-bytes-per-second=x", &a),
		 -EINVAL);
	T_EQ_STR(why, "bandwidth-limit-bytes-per-second takes a whole number of bytes");
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a target=b network=v", &a), -EINVAL);
	T_EQ_STR(why, "unknown key 'network'");
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a target=b cache-storage-account=NOT_OK", &a),
		 -EINVAL);
	T_ASSERT(why[0] != '\0');
	/* SPEC 9's keys */
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a target=b replication-group=app1 "
		       "exclude-disks=web01-data,web01-tmp", &a), 0);
	T_EQ_STR(a.group, "app1");
	T_EQ_INT(a.nexclude, 2);
	T_EQ_STR(a.exclude[0], "web01-data");
	T_EQ_STR(a.exclude[1], "web01-tmp");
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a target=b exclude-disks=d1,,d2", &a), -EINVAL);
	T_EQ_STR(why, "exclude-disks= takes disk names separated by commas, not 'd1,,d2'");
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a target=b exclude-disks=d1,d1", &a), -EINVAL);
	T_EQ_STR(why, "exclude-disks= names disk d1 twice");
	T_EQ_INT(parse("enable-replication", "vm=rg/web01 source=a target=b replication-group=a/b", &a), -EINVAL);
	T_ASSERT(why[0] != '\0');
}

static void test_job_types(void)
{
	T_EQ_INT(daemon_register(), 0); /* the job types a record may name */
	T_ASSERT(job_type_by_slug("resynchronize") == &JT_RESYNC);
	T_ASSERT(job_type_by_slug("enable-replication") == &JT_ENABLE);
	T_ASSERT(job_type_by_slug("disable-replication") == &JT_DISABLE);
	T_ASSERT(job_type_by_slug("verify") == &JT_VERIFY);
	T_ASSERT(job_type_by_slug("resync") == NULL);
	T_EQ_STR(op_of_job(&JT_RESYNC)->name, "resync");
	T_EQ_STR(op_of_job(&JT_CRP)->name, "change-recovery-point");
	/* every job type an operation names is found by its slug */
	for (const struct op_def *op = op_table; op->name; op++)
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
	T_RUN(test_parse_enable);
	T_RUN(test_job_types);
	T_DONE();
}
