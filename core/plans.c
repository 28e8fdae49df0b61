/*
 * plans.c - recovery plans (SPEC 9): vaults/<v>/recovery-plans/<plan>/.
 *
 * A plan is boot groups 1..7, each a list of items and of pre- and
 * post-actions (scripts and manual actions).  Its record is
 * vaults/<vault>/recovery-plans/<plan>.json in the vault's region, written
 * under the writer lock through model.c's record calls (recio.h: model_lock
 * dropped for the request), read at mount (plans_load).
 *
 * A write to one of its controls checks every item as the item's own
 * control would (controls.c's item_control_check, the same entry of the
 * table of operations and its op_parse), so a refused write changes no
 * item, then submits one job of a `no_item` type on the plan.  That job's
 * tasks are its steps, derived from the plan (edits are refused while it
 * runs): a failover's shutdowns in reverse group order, then per group its
 * pre-actions, the operation on each of its items (each item's own job,
 * submitted together and waited for), its post-actions.  Its type is a
 * table of steps, step i being task row i, so jobs.c records each step done
 * and a job resumed after a crash goes on at its first unfinished step.  A
 * wait (for the items' jobs, or for `resume` at a manual action) parks the
 * job off the workers (job_wait).
 */
#define _GNU_SOURCE
#include "plans.h"
#include "controls.h"
#include "jobs.h"
#include "ops.h"
#include "opsupport.h"
#include "protect.h"
#include "lifecycle.h"
#include "rules.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* ---- job types: one per operation a plan runs ---- */

static int plan_step(struct jobctx *c);

/* A plan's job has a row of tasks per step, made at submission (its type
 * names none): step i is row i, run by plan_step. */
#define PLAN_STEP(i) {.task = (i), .fn = plan_step}
#define PLAN_STEP8(i)                                                                                          \
	PLAN_STEP(i), PLAN_STEP(i + 1), PLAN_STEP(i + 2), PLAN_STEP(i + 3), PLAN_STEP(i + 4), PLAN_STEP(i + 5), \
		PLAN_STEP(i + 6), PLAN_STEP(i + 7)
static const struct job_step plan_job_steps[] = {
	PLAN_STEP8(0),  PLAN_STEP8(8),  PLAN_STEP8(16), PLAN_STEP8(24),
	PLAN_STEP8(32), PLAN_STEP8(40), PLAN_STEP8(48), PLAN_STEP8(56), {.fn = NULL},
};
_Static_assert(sizeof(plan_job_steps) / sizeof(plan_job_steps[0]) == MAX_TASKS + 1,
	       "a step for every row a job may have");

#define PLAN_TYPE(var, opname, slugtext)                                                                      \
	static const struct job_type var = {.name = opname " (recovery plan)", .slug = slugtext "-plan",        \
					    .steps = plan_job_steps, .no_item = 1}
PLAN_TYPE(JT_PLAN_FAILOVER, "Failover", "failover");
PLAN_TYPE(JT_PLAN_TEST, "Test failover", "test-failover");
PLAN_TYPE(JT_PLAN_CLEANUP, "Cleanup test failover", "cleanup-test-failover");
PLAN_TYPE(JT_PLAN_COMMIT, "Commit", "commit");
PLAN_TYPE(JT_PLAN_REPROTECT, "Reprotect", "reprotect");

/* The plan's controls that run an operation on its items: the item
 * control of that name (op_table) and the plan's job type. */
static const struct plan_op {
	const char *control;
	const struct job_type *type;
} plan_ops[] = {
	{"failover", &JT_PLAN_FAILOVER},
	{"test-failover", &JT_PLAN_TEST},
	{"cleanup-test-failover", &JT_PLAN_CLEANUP},
	{"commit", &JT_PLAN_COMMIT},
	{"reprotect", &JT_PLAN_REPROTECT},
	{NULL, NULL},
};

const struct job_type *plan_job_type(const char *slug)
{
	for (const struct plan_op *o = plan_ops; o->control; o++)
		if (strcmp(o->type->slug, slug) == 0)
			return o->type;
	return NULL;
}

static const struct plan_op *plan_op_named(const char *control)
{
	for (const struct plan_op *o = plan_ops; o->control; o++)
		if (strcmp(o->control, control) == 0)
			return o;
	return NULL;
}

static const struct plan_op *plan_op_of(const struct job_type *t)
{
	for (const struct plan_op *o = plan_ops; o->control; o++)
		if (o->type == t)
			return o;
	return NULL;
}

/* resume takes 'start', as cancel does: its line goes through op_parse */
static const struct op_def resume_def = {.name = "resume", .shape = ARGS_JUST_START};

/* ---- records ---- */

static void plan_key(const struct vault_rec *v, const char *plan, char *buf, size_t len)
{
	snprintf(buf, len, "vaults/%s/recovery-plans/%s.json", v->name, plan);
}

static json_object *actions_json(const struct plan_action *a, int n)
{
	json_object *arr = json_object_new_array();
	for (int i = 0; arr && i < n; i++) {
		json_object *o = json_object_new_object();
		if (!o)
			break;
		json_object_object_add(o, "type", json_object_new_string(a[i].manual ? "manual" : "script"));
		json_object_object_add(o, "text", json_object_new_string(a[i].text));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* model_lock held, a writer. */
static int persist_plan(struct vault_rec *v, const struct plan_rec *p)
{
	json_object *o = json_object_new_object(), *groups = json_object_new_array();
	char key[512];

	MODEL_LOCKED();
	if (!o || !groups) {
		json_object_put(o);
		json_object_put(groups);
		return -ENOMEM;
	}
	if (p->damaged[0]) {
		json_object_put(o);
		json_object_put(groups);
		return -EIO; /* never overwrite what could not be read */
	}
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "job", json_object_new_string(p->job_id));
	for (int g = 0; g < PLAN_GROUPS; g++) {
		const struct plan_group *pg = &p->groups[g];
		json_object *go, *items;
		if (!pg->used)
			continue;
		go = json_object_new_object();
		items = json_object_new_array();
		if (!go || !items) {
			json_object_put(go);
			json_object_put(items);
			json_object_put(o);
			json_object_put(groups);
			return -ENOMEM;
		}
		json_object_object_add(go, "group", json_object_new_int(g + 1));
		for (int i = 0; i < pg->nitems; i++)
			json_object_array_add(items, json_object_new_string(pg->items[i]));
		json_object_object_add(go, "items", items);
		json_object_object_add(go, "pre", actions_json(pg->pre, pg->npre));
		json_object_object_add(go, "post", actions_json(pg->post, pg->npost));
		json_object_array_add(groups, go);
	}
	json_object_object_add(o, "groups", groups);
	plan_key(v, p->name, key, sizeof(key));
	return vault_put_json(v, key, o);
}

static int actions_of_json(json_object *arr, struct plan_action *a, int *n)
{
	size_t len = arr ? json_object_array_length(arr) : 0;
	*n = 0;
	if (arr && !json_object_is_type(arr, json_type_array))
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		const char *type = jstr_of(o, "type");
		if (*n == PLAN_ACTIONS || (strcmp(type, "manual") != 0 && strcmp(type, "script") != 0) ||
		    !jstr_of(o, "text")[0])
			return -EBADMSG;
		a[*n].manual = strcmp(type, "manual") == 0;
		snprintf(a[*n].text, sizeof(a[*n].text), "%s", jstr_of(o, "text"));
		(*n)++;
	}
	return 0;
}

/* A plan record into p: 0 or -EBADMSG. */
static int plan_of_json(json_object *o, struct plan_rec *p)
{
	json_object *groups, *go, *x;
	size_t n;

	if (strcmp(jstr_of(o, "name"), p->name) != 0)
		return -EBADMSG;
	snprintf(p->job_id, sizeof(p->job_id), "%s", jstr_of(o, "job"));
	if (!json_object_object_get_ex(o, "groups", &groups) || !json_object_is_type(groups, json_type_array))
		return -EBADMSG;
	n = json_object_array_length(groups);
	for (size_t k = 0; k < n; k++) {
		struct plan_group *pg;
		int g;
		go = json_object_array_get_idx(groups, k);
		g = jint_of(go, "group");
		if (g < 1 || g > PLAN_GROUPS || p->groups[g - 1].used)
			return -EBADMSG;
		pg = &p->groups[g - 1];
		pg->used = 1;
		if (json_object_object_get_ex(go, "items", &x)) {
			if (!json_object_is_type(x, json_type_array) || json_object_array_length(x) > PLAN_ITEMS)
				return -EBADMSG;
			for (size_t i = 0; i < json_object_array_length(x); i++) {
				const char *name = json_object_get_string(json_object_array_get_idx(x, i));
				if (!name || !name[0])
					return -EBADMSG;
				snprintf(pg->items[pg->nitems++], NAME_MAX_, "%s", name);
			}
		}
		if (actions_of_json(json_object_object_get_ex(go, "pre", &x) ? x : NULL, pg->pre, &pg->npre) < 0 ||
		    actions_of_json(json_object_object_get_ex(go, "post", &x) ? x : NULL, pg->post, &pg->npost) < 0)
			return -EBADMSG;
	}
	return 0;
}

static int load_plan_cb(void *arg, const char *name, int is_dir)
{
	struct vault_rec *v = arg;
	struct plan_rec *p = NULL;
	json_object *o = NULL;
	char key[512];
	size_t n = strlen(name);
	int rc;

	if (is_dir || n < 6 || n - 5 >= NAME_MAX_ || strcmp(name + n - 5, ".json") != 0)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return 1;
	snprintf(p->name, sizeof(p->name), "%.*s", (int)(n - 5), name);
	plan_key(v, p->name, key, sizeof(key));
	rc = vault_get_json(v, key, &o);
	if (rc == 0) {
		rc = plan_of_json(o, p);
		json_object_put(o);
	}
	if (rc == -EBADMSG) {
		/* shown, with why, never written, as a damaged item is */
		struct plan_rec keep = {0};
		snprintf(keep.name, sizeof(keep.name), "%s", p->name);
		*p = keep;
		record_damaged(v->region->be, key, 0, v->readonly, p->damaged, sizeof(p->damaged));
		snprintf(p->error, sizeof(p->error), "%s", p->damaged);
	} else if (rc < 0) {
		free(p);
		return 0; /* gone meanwhile */
	}
	/* its job, should the plan's record not name it yet (a crash between
	 * the job's record and the plan's): jobs are read first, newest first */
	for (struct job_rec *j = v->jobs; j && !p->damaged[0]; j = j->next)
		if (j->type->no_item && strcmp(j->item, p->name) == 0) {
			if (j->state == JOB_NOT_STARTED || j->state == JOB_IN_PROGRESS)
				snprintf(p->job_id, sizeof(p->job_id), "%s", j->id);
			break;
		}
	p->next = v->plans;
	v->plans = p;
	return 0;
}

int plans_load(struct vault_rec *v)
{
	char key[256];
	snprintf(key, sizeof(key), "vaults/%s/recovery-plans", v->name);
	return v->region->be->ops->list(v->region->be, key, load_plan_cb, v);
}

void plans_free(struct plan_rec *p)
{
	while (p) {
		struct plan_rec *n = p->next;
		free(p);
		p = n;
	}
}

/* ---- the steps of a plan's job ---- */

enum step_kind { S_SHUTDOWN, S_PRE, S_OP, S_POST };

struct plan_step {
	enum step_kind kind;
	int group;                  /* 1..PLAN_GROUPS */
	int index;                  /* the action's or the item's, in its group */
	char task[TASK_NAME_MAX];
};

static void action_steps(const struct plan_group *pg, int g, int post, struct plan_step *s, int *n)
{
	const struct plan_action *a = post ? pg->post : pg->pre;
	int na = post ? pg->npost : pg->npre;

	for (int i = 0; i < na; i++, (*n)++) {
		if (*n >= MAX_TASKS)
			continue; /* counted: the caller refuses */
		s[*n] = (struct plan_step){.kind = post ? S_POST : S_PRE, .group = g + 1, .index = i};
		snprintf(s[*n].task, sizeof(s[*n].task), "Group %d: %s-action %d: %s %.70s", g + 1, post ? "post" : "pre",
			 i + 1, a[i].manual ? "manual" : "script", a[i].text);
	}
}

/* The steps of p's job for control (shutdown: a failover's first steps).
 * The groups' actions run in a failover and a test failover, as Azure Site
 * Recovery runs them; commit, reprotect and cleanup run the operation on
 * the items, group after group, alone.  The count may pass MAX_TASKS
 * (only that many are filled). */
static int plan_steps(const struct plan_rec *p, const char *control, int shutdown, struct plan_step *s)
{
	int n = 0, actions = strcmp(control, "failover") == 0 || strcmp(control, "test-failover") == 0;

	for (int g = PLAN_GROUPS - 1; shutdown && g >= 0; g--)
		for (int i = p->groups[g].nitems - 1; i >= 0; i--, n++)
			if (n < MAX_TASKS) {
				s[n] = (struct plan_step){.kind = S_SHUTDOWN, .group = g + 1, .index = i};
				snprintf(s[n].task, sizeof(s[n].task), "Group %d: shut down %s", g + 1,
					 p->groups[g].items[i]);
			}
	for (int g = 0; g < PLAN_GROUPS; g++) {
		const struct plan_group *pg = &p->groups[g];
		if (actions)
			action_steps(pg, g, 0, s, &n);
		for (int i = 0; i < pg->nitems; i++, n++)
			if (n < MAX_TASKS) {
				s[n] = (struct plan_step){.kind = S_OP, .group = g + 1, .index = i};
				snprintf(s[n].task, sizeof(s[n].task), "Group %d: %s %s", g + 1, control, pg->items[i]);
			}
		if (actions)
			action_steps(pg, g, 1, s, &n);
	}
	return n;
}

/* ---- the plan's job: its record text ---- */

/* What a plan's job keeps in its `plan` text (the steps done are its
 * `step`, as any job's): whether a failover shuts the sources down, the
 * direction it runs in, the recovery point each item was given when it
 * started, and the manual action the operator resumed (saved before
 * `resume` returns, so a job resumed after a crash does not wait there
 * again). */
struct plan_state {
	int shutdown;
	char direction[2 * NAME_MAX_ + 8];
	json_object *points; /* item -> point word or id; owned */
	int resumed;         /* `resume` written at the wait of step resumed - 1; 0: none */
};

static int plan_state_read(const struct job_rec *j, struct plan_state *ps)
{
	json_object *o = j->plan[0] ? json_tokener_parse(j->plan) : NULL, *pts;

	memset(ps, 0, sizeof(*ps));
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	ps->shutdown = jint_of(o, "shutdown");
	ps->resumed = jint_of(o, "resumed");
	snprintf(ps->direction, sizeof(ps->direction), "%s", jstr_of(o, "direction"));
	if (json_object_object_get_ex(o, "points", &pts) && json_object_is_type(pts, json_type_object))
		ps->points = json_object_get(pts);
	json_object_put(o);
	if (!ps->points)
		ps->points = json_object_new_object();
	return ps->points ? 0 : -ENOMEM;
}

/* model_lock held: ps into j's plan text. */
static int plan_state_write(struct job_rec *j, const struct plan_state *ps)
{
	json_object *o = json_object_new_object();
	const char *s;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "shutdown", json_object_new_int(ps->shutdown));
	json_object_object_add(o, "direction", json_object_new_string(ps->direction));
	json_object_object_add(o, "points", json_object_get(ps->points));
	if (ps->resumed)
		json_object_object_add(o, "resumed", json_object_new_int(ps->resumed));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (!s || strlen(s) >= sizeof(j->plan)) {
		json_object_put(o);
		return -E2BIG;
	}
	snprintf(j->plan, sizeof(j->plan), "%s", s);
	json_object_put(o);
	j->dirty = 1;
	return 0;
}

/* model_lock held: `resume` at p's wait, saved in job j's record before
 * the write returns.  A write refused (the record could not be saved)
 * leaves the job's record text as it was. */
static int plan_save_resume(struct vault_rec *v, const struct plan_rec *p, struct job_rec *j)
{
	char before[sizeof(j->plan)];
	struct plan_state ps;
	int rc = plan_state_read(j, &ps);

	if (rc < 0)
		return rc;
	memcpy(before, j->plan, sizeof(before));
	ps.resumed = p->waiting;
	rc = plan_state_write(j, &ps);
	if (rc == 0)
		rc = persist_job(v, j);
	if (rc < 0)
		memcpy(j->plan, before, sizeof(before));
	json_object_put(ps.points);
	return rc;
}

/* The recovery point item it fails over (or test-fails over) to, chosen
 * once when the plan's job starts (model_lock held): `latest` stays
 * `latest` (each item's own job ships its newest data, after the plan shut
 * the sources down, and makes that point); `latest-processed` and
 * `latest-app-consistent` become the item's newest such point now; an id
 * stays itself.  A member of a replication group of two or more (a group
 * of one makes no multi-VM points) gets, whatever the word,
 * the group's newest multi-VM point (app-consistent for the app words), so
 * that every member fails over to one instant: the word stays a
 * `latest-multi-vm-*` word here, and plan_pick_group_points() makes it an
 * id at the job's first step past the shut-downs, for all members at once.
 * 0, or -errno with why. */
static int plan_pick_point(struct vault_rec *v, const struct item_rec *it, const char *word, char *out, size_t len,
			   char *why, size_t wlen)
{
	const char *id = word;
	int others = 0;

	for (const struct item_rec *m = v->items; it->group[0] && m; m = m->next)
		others += m != it && strcmp(m->group, it->group) == 0;
	if (others && strncmp(word, "latest", 6) == 0)
		id = strstr(word, "app-consistent") ? "latest-multi-vm-app-consistent" : "latest-multi-vm-processed";
	else if (strcmp(word, "latest-processed") == 0)
		id = it->last_point;
	else if (strcmp(word, "latest-app-consistent") == 0)
		id = it->last_app_point;
	if (!id[0]) {
		snprintf(why, wlen, "%s has no %s recovery point", it->name, word);
		return -EINVAL;
	}
	snprintf(out, len, "%s", id);
	return 0;
}

/* The points plan_pick_point left as multi-VM words, made ids, all at one
 * time (model_lock NOT held): the newest multi-VM point every member of
 * the item's group holds.  Saved in the job's record before any item
 * fails over, so a resumed job uses the same ids.  0, or -errno with the
 * job's error set. */
static int plan_pick_group_points(struct jobctx *c, struct plan_state *ps)
{
	struct strlist names = {0}, words = {0};
	int rc = 0;

	json_object_object_foreach(ps->points, name, val)
	{
		const char *w = json_object_get_string(val);
		if (strncmp(w, "latest-multi-vm-", 16) == 0 && (sl_add(&names, name) < 0 || sl_add(&words, w) < 0))
			rc = -ENOMEM;
	}
	for (int i = 0; i < names.n && rc == 0; i++) {
		struct rpchain *ch;
		char id[RP_ID_MAX], why[ERR_MAX];
		rc = item_chain(c->v, names.v[i], &ch);
		if (rc == 0)
			rc = resolve_point(c->v, names.v[i], ch, words.v[i], id, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "cannot read its recovery points: %s", strerror(-rc));
		if (rc < 0)
			job_fail_msg(c, "%s: %s", names.v[i], why);
		else
			json_object_object_add(ps->points, names.v[i], json_object_new_string(id));
	}
	if (rc == 0 && names.n) {
		lock_model();
		rc = plan_state_write(c->j, ps);
		unlock_model();
		if (rc == 0)
			job_save(c);
		else
			job_fail_msg(c, "cannot keep the points picked: %s", strerror(-rc));
	}
	sl_free(&names);
	sl_free(&words);
	return rc;
}

/* ---- the tree ---- */

/* model_lock held: the vault and the plan (plan NULL: the vault only). */
static int find_vp(const char *vault, const char *plan, struct vault_rec **vp, struct plan_rec **pp)
{
	*vp = vault_find(vault);
	if (!*vp)
		return -ENOENT;
	if (!plan)
		return 0;
	*pp = plan_find(*vp, plan);
	return *pp ? 0 : -ENOENT;
}

static int fail_plan(struct plan_rec *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_plan(struct plan_rec *p, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	logmsg("recovery plan %s: %s", p->name, p->error);
	return rc;
}

/* model_lock held: may p be edited now?  0, or -errno with p's error. */
static int plan_editable(struct vault_rec *v, struct plan_rec *p)
{
	struct job_rec *j;

	if (v->readonly)
		return fail_plan(p, -EROFS, "vault %s is managed by another asrfs instance right now", v->name);
	if (p->damaged[0])
		return fail_plan(p, -EIO, "%s: the plan takes no change until it is repaired", p->damaged);
	if ((j = plan_running_job(v, p)) != NULL)
		return fail_plan(p, -EBUSY, "job %s of the plan is running", j->id);
	return 0;
}

int core_plans(const char *vault, struct strlist *out)
{
	struct vault_rec *v;
	int rc;

	lock_model_read();
	rc = find_vp(vault, NULL, &v, NULL);
	for (struct plan_rec *p = rc == 0 ? v->plans : NULL; p && rc == 0; p = p->next)
		rc = sl_add(out, p->name);
	unlock_model();
	return rc;
}

int core_plan_create(const char *vault, const char *name)
{
	struct vault_rec *v;
	struct plan_rec *p = NULL;
	char why[ERR_MAX];
	int rc;

	lock_model();
	rc = find_vp(vault, NULL, &v, NULL);
	if (rc < 0)
		goto out;
	if (v->readonly) {
		rc = fail_vault(v, -EROFS, "vault %s is managed by another asrfs instance right now", v->name);
		goto out;
	}
	if ((rc = name_generic_ok("recovery plan", name, why, sizeof(why))) < 0 ||
	    (strlen(name) > 50 && (rc = -EINVAL) < 0)) {
		rc = fail_vault(v, rc, "%s", strlen(name) > 50 ? "a recovery plan name is at most 50 characters" : why);
		goto out;
	}
	if (plan_find(v, name)) {
		rc = fail_vault(v, -EEXIST, "recovery plan %s already exists", name);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	rc = persist_plan(v, p);
	if (rc < 0) {
		fail_vault(v, rc, "cannot save recovery plan %s: %s", name, strerror(-rc));
		free(p);
		goto out;
	}
	p->next = v->plans;
	v->plans = p;
	logmsg("vault %s: recovery plan %s created", v->name, name);
out:
	unlock_model();
	return rc;
}

int core_plan_delete(const char *vault, const char *name)
{
	struct vault_rec *v;
	struct plan_rec *p = NULL, **pp;
	char key[512];
	int rc;

	lock_model();
	rc = find_vp(vault, name, &v, &p);
	if (rc < 0)
		goto out;
	/* a damaged plan may go: its record was kept aside when it was read */
	if (v->readonly || plan_running_job(v, p)) {
		rc = plan_editable(v, p);
		goto out;
	}
	plan_key(v, name, key, sizeof(key));
	rc = vault_del_record(v, key);
	if (rc < 0 && rc != -ENOENT) {
		rc = fail_plan(p, rc, "cannot remove the record of recovery plan %s: %s", name, strerror(-rc));
		goto out;
	}
	rc = 0;
	for (pp = &v->plans; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	free(p);
	logmsg("vault %s: recovery plan %s removed", v->name, name);
out:
	unlock_model();
	return rc;
}

/* "1".."7" into its index, or -EINVAL. */
static int group_index(const char *name)
{
	if (name[0] < '1' || name[0] > '0' + PLAN_GROUPS || name[1])
		return -EINVAL;
	return name[0] - '1';
}

int core_plan_groups(const char *vault, const char *plan, struct strlist *out)
{
	struct vault_rec *v;
	struct plan_rec *p = NULL;
	int rc;

	lock_model_read();
	rc = find_vp(vault, plan, &v, &p);
	for (int g = 0; rc == 0 && g < PLAN_GROUPS; g++) {
		char name[4];
		snprintf(name, sizeof(name), "%d", g + 1);
		if (p->groups[g].used)
			rc = sl_add(out, name);
	}
	unlock_model();
	return rc;
}

/* model_lock held: p's record after a change of its group pg, which goes
 * back to old if the record cannot be written. */
static int save_group(struct vault_rec *v, struct plan_rec *p, struct plan_group *pg, const struct plan_group *old)
{
	int rc = persist_plan(v, p);

	if (rc < 0) {
		*pg = *old;
		return fail_plan(p, rc, "cannot save recovery plan %s: %s", p->name, strerror(-rc));
	}
	p->error[0] = '\0';
	return 0;
}

/* Make (make) or remove boot group `group` of the plan. */
int core_plan_group_set(const char *vault, const char *plan, const char *group, int make)
{
	struct vault_rec *v;
	struct plan_rec *p = NULL;
	struct plan_group old;
	int rc, g = group_index(group);

	lock_model();
	rc = find_vp(vault, plan, &v, &p);
	if (rc < 0)
		goto out;
	if (g < 0) {
		rc = fail_plan(p, -EINVAL, "boot groups are named 1 to %d, not '%.40s'", PLAN_GROUPS, group);
		goto out;
	}
	if ((rc = plan_editable(v, p)) < 0)
		goto out;
	if (make && p->groups[g].used) {
		rc = fail_plan(p, -EEXIST, "boot group %d already exists", g + 1);
		goto out;
	}
	if (!make && !p->groups[g].used) {
		rc = -ENOENT;
		goto out;
	}
	old = p->groups[g];
	memset(&p->groups[g], 0, sizeof(p->groups[g]));
	p->groups[g].used = make;
	rc = save_group(v, p, &p->groups[g], &old);
out:
	unlock_model();
	return rc;
}

/* model_lock held: boot group g (index) of p, or NULL. */
static struct plan_group *group_of(struct plan_rec *p, const char *group)
{
	int g = group_index(group);
	return g >= 0 && p->groups[g].used ? &p->groups[g] : NULL;
}

int core_plan_group_show(const char *vault, const char *plan, const char *group, const char *file,
			 struct sbuf *out)
{
	struct vault_rec *v;
	struct plan_rec *p = NULL;
	struct plan_group *pg;
	int rc;

	lock_model_read();
	rc = find_vp(vault, plan, &v, &p);
	if (rc == 0 && !(pg = group_of(p, group)))
		rc = -ENOENT;
	if (rc == 0 && strcmp(file, "items") == 0) {
		for (int i = 0; i < pg->nitems; i++)
			sb_printf(out, "%s\n", pg->items[i]);
	} else if (rc == 0) {
		int post = strcmp(file, "post-actions") == 0, n = post ? pg->npost : pg->npre;
		const struct plan_action *a = post ? pg->post : pg->pre;
		for (int i = 0; i < n; i++)
			sb_printf(out, "%s %s\n", a[i].manual ? "manual" : "script", a[i].text);
	}
	unlock_model();
	return rc ? rc : out->err;
}

/* model_lock held: "add <item>" / "remove <item>" on group g of p. */
static int group_items_store(struct vault_rec *v, struct plan_rec *p, struct plan_group *pg, const char *verb,
			     const char *name)
{
	int g = (int)(pg - p->groups) + 1, in = plan_group_of(p, name);

	if (strcmp(verb, "add") == 0) {
		if (!item_find(v, name))
			return fail_plan(p, -EINVAL, "no item %s in vault %s", name, v->name);
		if (in)
			return fail_plan(p, -EEXIST, "%s is already in boot group %d of plan %s", name, in, p->name);
		if (pg->nitems == PLAN_ITEMS)
			return fail_plan(p, -EINVAL, "a boot group holds at most %d items", PLAN_ITEMS);
		snprintf(pg->items[pg->nitems++], NAME_MAX_, "%s", name);
		return 0;
	}
	if (in != g)
		return fail_plan(p, -EINVAL, "%s is not in boot group %d", name, g);
	for (int i = 0; i < pg->nitems; i++)
		if (strcmp(pg->items[i], name) == 0) {
			memmove(&pg->items[i], &pg->items[i + 1], (size_t)(pg->nitems - i - 1) * NAME_MAX_);
			pg->nitems--;
			break;
		}
	return 0;
}

/* model_lock held: "add script <path>" | "add manual <text>" | "remove <n>"
 * on a list of actions; rest is the line after the verb. */
static int group_actions_store(struct plan_rec *p, struct plan_action *a, int *n, const char *verb,
			       const char *rest)
{
	if (strcmp(verb, "add") == 0) {
		int manual = strncmp(rest, "manual ", 7) == 0;
		const char *text = rest + (manual ? 7 : 7);
		if (!manual && strncmp(rest, "script ", 7) != 0)
			return fail_plan(p, -EINVAL, "write 'add script <path>', 'add manual <text>' or 'remove <n>'");
		while (*text == ' ')
			text++;
		if (!text[0])
			return fail_plan(p, -EINVAL, "add %s needs %s", manual ? "manual" : "script",
					 manual ? "the text of the action" : "the script's path");
		if (!manual && (text[0] != '/' || strchr(text, ' ')))
			return fail_plan(p, -EINVAL, "a script is an absolute path without spaces: '%.200s'", text);
		if (strlen(text) >= PLAN_ACTION_MAX)
			return fail_plan(p, -EINVAL, "an action is at most %d characters", PLAN_ACTION_MAX - 1);
		if (*n == PLAN_ACTIONS)
			return fail_plan(p, -EINVAL, "at most %d actions in a list", PLAN_ACTIONS);
		a[*n].manual = manual;
		snprintf(a[*n].text, sizeof(a[*n].text), "%s", text);
		(*n)++;
		return 0;
	} else {
		uint64_t k;
		if (parse_u64(rest, 1, (uint64_t)*n, &k) < 0)
			return fail_plan(p, -EINVAL, "remove takes the number of an action, 1 to %d: '%.40s'", *n,
					 rest);
		memmove(&a[k - 1], &a[k], (size_t)(*n - (int)k) * sizeof(*a));
		(*n)--;
		return 0;
	}
}

int core_plan_group_store(const char *vault, const char *plan, const char *group, const char *file,
			  const char *line, size_t len)
{
	struct vault_rec *v;
	struct plan_rec *p = NULL;
	struct plan_group *pg, old;
	struct ctl_line cl;
	char text[4097], *rest;
	int rc;

	lock_model();
	rc = find_vp(vault, plan, &v, &p);
	if (rc == 0 && !(pg = group_of(p, group)))
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	/* the line's syntax, as a control's: one line of printable ASCII */
	rc = ctl_parse(line, len, &cl, p->error, sizeof(p->error));
	if (rc < 0)
		goto out;
	if ((rc = plan_editable(v, p)) < 0)
		goto out;
	line_copy(text, sizeof(text), line, len);
	for (char *s = text; *s; s++)
		if (*s == '\t' || *s == '\r')
			*s = ' ';
	rest = text + strspn(text, " ");
	if (strncmp(rest, "add ", 4) != 0 && strncmp(rest, "remove ", 7) != 0) {
		rc = fail_plan(p, -EINVAL, "write 'add <%s>' or 'remove <%s>'",
			       strcmp(file, "items") == 0 ? "item" : "action", strcmp(file, "items") == 0 ? "item" : "n");
		goto out;
	}
	rest[rest[0] == 'a' ? 3 : 6] = '\0';
	{
		const char *verb = rest, *arg = rest + strlen(rest) + 1;
		size_t l;
		arg += strspn(arg, " ");
		l = strlen(arg);
		while (l && arg[l - 1] == ' ')
			((char *)arg)[--l] = '\0';
		old = *pg;
		if (strcmp(file, "items") == 0) {
			if (cl.nbare != 2 || cl.nkv) {
				rc = fail_plan(p, -EINVAL, "write 'add <item>' or 'remove <item>'");
				goto out;
			}
			rc = group_items_store(v, p, pg, verb, arg);
		} else if (strcmp(file, "post-actions") == 0) {
			rc = group_actions_store(p, pg->post, &pg->npost, verb, arg);
		} else {
			rc = group_actions_store(p, pg->pre, &pg->npre, verb, arg);
		}
	}
	if (rc == 0)
		rc = save_group(v, p, pg, &old);
out:
	unlock_model();
	return rc;
}

/* ---- what a plan shows ---- */

/* model_lock held: would control be accepted on p now?  0 or -errno with
 * why (no item or plan error is set). */
static int plan_allows(struct vault_rec *v, struct plan_rec *p, const char *control, char *why, size_t len)
{
	const struct op_def *op = op_find(control);
	int nitems = 0;

	if (v->readonly || p->damaged[0])
		return -EPERM;
	if (strcmp(control, "resume") == 0)
		return plan_running_job(v, p) && p->waiting ? 0 : -EPERM;
	if (strcmp(control, "cancel") == 0)
		return plan_running_job(v, p) ? 0 : -EPERM;
	if (!op || plan_running_job(v, p))
		return -EBUSY;
	for (int g = 0; g < PLAN_GROUPS; g++)
		for (int i = 0; i < p->groups[g].nitems; i++, nitems++) {
			struct item_rec *it = item_find(v, p->groups[g].items[i]);
			if (!it || it->damaged[0] || it->job || !op_allowed(op, it) ||
			    ((op->flags & OPF_NO_TEST) && it->test_failover[0]) ||
			    (op->check && op->check(v, it, why, len) < 0))
				return -EPERM;
		}
	return nitems ? 0 : -EPERM;
}

static const char *const plan_controls[] = {"failover", "test-failover", "cleanup-test-failover", "commit",
					    "reprotect", "cancel", "resume", NULL};

/* model_lock held: the state a plan shows: its items' common state, Mixed
 * when they differ, Empty with none, Unknown for a damaged record. */
static const char *plan_state(struct vault_rec *v, const struct plan_rec *p)
{
	const char *common = NULL;

	if (p->damaged[0])
		return "Unknown";
	for (int g = 0; g < PLAN_GROUPS; g++)
		for (int i = 0; i < p->groups[g].nitems; i++) {
			struct item_rec *it = item_find(v, p->groups[g].items[i]);
			const char *s = it ? item_state_name(it->state) : "Unknown";
			if (common && strcmp(common, s) != 0)
				return "Mixed";
			common = s;
		}
	return common ? common : "Empty";
}

int core_plan_show(const char *vault, const char *plan, const char *file, struct sbuf *out)
{
	struct vault_rec *v;
	struct plan_rec *p = NULL;
	struct job_rec *j;
	char why[ERR_MAX];
	int rc;

	lock_model_read();
	rc = find_vp(vault, plan, &v, &p);
	if (rc < 0)
		goto out;
	j = p->job_id[0] ? job_find(v, p->job_id) : NULL;
	if (strcmp(file, "state") == 0) {
		sb_printf(out, "%s\n", plan_state(v, p));
	} else if (strcmp(file, "allowed-operations") == 0) {
		for (int i = 0; plan_controls[i]; i++)
			if (plan_allows(v, p, plan_controls[i], why, sizeof(why)) == 0)
				sb_printf(out, "%s\n", plan_controls[i]);
	} else if (strcmp(file, "error") == 0) {
		/* a refusal, else the outcome of its last job */
		if (p->error[0])
			sb_printf(out, "%s\n", p->error);
		else if (j && (j->state == JOB_FAILED || j->state == JOB_CANCELLED))
			sb_printf(out, "%s %s: %s\n", j->type->name, job_state_name(j->state), j->error);
		else
			sb_puts(out, "\n");
	} else if (strcmp(file, "job") == 0) {
		if (!j)
			rc = -ENOENT;
		else
			sb_printf(out, "../../jobs/%s", j->id);
	} else if (strcmp(file, "status") == 0) {
		sb_printf(out, "state: %s\n", plan_state(v, p));
		for (int g = 0; g < PLAN_GROUPS; g++)
			if (p->groups[g].used)
				sb_printf(out, "group %d: %d item(s), %d pre-action(s), %d post-action(s)\n", g + 1,
					  p->groups[g].nitems, p->groups[g].npre, p->groups[g].npost);
		if (j)
			sb_printf(out, "job: %s %s\n", j->id, job_state_name(j->state));
		if (j && p->waiting && plan_running_job(v, p) && p->waiting <= j->ntasks)
			sb_printf(out, "waiting: %s: do it, then: echo start > resume\n", j->tasks[p->waiting - 1].name);
		sb_printf(out, "error: %s\n", p->error[0] ? p->error : (j && j->state == JOB_FAILED) ? j->error : "");
	} else {
		rc = -ENOENT;
	}
out:
	unlock_model();
	return rc ? rc : out->err;
}

/* ---- the plan's controls ---- */

/* The line an item's job of a failover or test failover gets: the point
 * the plan picked for it and the plan's key=value words, but for a
 * failover no shutdown (the plan shut the sources down first). */
static void item_line(const struct ctl_line *cl, const char *point, int failover, char *out, size_t len)
{
	size_t used = (size_t)snprintf(out, len, "%s", point);

	for (int i = 0; i < cl->nkv && used < len; i++)
		if (strcmp(cl->key[i], "shutdown") != 0)
			used += (size_t)snprintf(out + used, len - used, " %s=%s", cl->key[i], cl->val[i]);
	if (failover && used < len)
		snprintf(out + used, len - used, " shutdown=no");
}

/* model_lock held: start op on every item of p (the checks of each item's
 * own control first, so a refusal changes no item). */
static int plan_start(struct vault_rec *v, struct plan_rec *p, const struct plan_op *po, const char *line,
		      size_t len)
{
	const struct op_def *op = op_find(po->control);
	const char *tasks[MAX_TASKS + 1];
	struct plan_step *steps = NULL;
	struct plan_state ps = {0};
	struct ctl_line cl;
	struct op_args a;
	struct job_rec *j;
	char why[ERR_MAX], name[NAME_MAX_], args[512];
	int rc, n, nitems = 0, failover = strcmp(po->control, "failover") == 0;
	const char *sd;

	snprintf(name, sizeof(name), "%s", p->name);
	for (int g = 0; g < PLAN_GROUPS; g++)
		for (int i = 0; i < p->groups[g].nitems; i++, nitems++) {
			struct item_rec *it = item_find(v, p->groups[g].items[i]);
			if (!it)
				return fail_plan(p, -EINVAL, "%s refused: item %s of boot group %d is not in vault %s",
						 po->control, p->groups[g].items[i], g + 1, v->name);
			if (plan_holding(v, it->name))
				return fail_plan(p, -EBUSY, "%s refused: %s is held by the job of plan %s", po->control,
						 it->name, plan_holding(v, it->name)->name);
			rc = item_control_check(op, v, it, line, len, &cl, &a);
			if (rc == 0 && op->check && (rc = op->check(v, it, why, sizeof(why))) < 0)
				rc = fail_item(it, rc, "%s refused: %s", op->name, why);
			if (rc == 0 && a.point[0] && strcmp(a.point, "latest") != 0) {
				/* drops model_lock while it reads the points */
				rc = check_point(v, it, op->name, a.point);
				if (plan_find(v, name) != p)
					return -ENOENT;
			}
			if (rc < 0)
				return fail_plan(p, rc, "%s refused: %s: %s", po->control, it->name, it->error);
		}
	if (!nitems)
		return fail_plan(p, -EPERM, "%s refused: plan %s has no items", po->control, p->name);
	/* a failover shuts the sources down unless told not to, or unless
	 * their region is down (an unplanned failover) */
	ctl_parse(line, len, &cl, why, sizeof(why));
	sd = ctl_get(&cl, "shutdown");
	ps.shutdown = failover && !(sd && strcmp(sd, "no") == 0);
	ps.points = json_object_new_object();
	steps = calloc(MAX_TASKS, sizeof(*steps));
	if (!ps.points || !steps) {
		rc = -ENOMEM;
		goto out;
	}
	for (int g = 0; g < PLAN_GROUPS; g++)
		for (int i = 0; i < p->groups[g].nitems; i++) {
			struct item_rec *it = item_find(v, p->groups[g].items[i]);
			char point[RP_ID_MAX + 32];
			if (!ps.direction[0])
				snprintf(ps.direction, sizeof(ps.direction), "%s -> %s", it->source_region,
					 it->target_region);
			if (ps.shutdown && !(sd && strcmp(sd, "yes") == 0)) {
				struct region *src = region_find(it->source_region);
				if (!src || !src->available)
					ps.shutdown = 0;
			} else if (ps.shutdown) {
				rc = region_up(region_find(it->source_region), "the source, where the VM is to be shut down",
					       why, sizeof(why));
				if (rc < 0) {
					rc = fail_plan(p, rc, "failover with shutdown=yes refused: %s", why);
					goto out;
				}
			}
			if (!a.point[0])
				continue;
			rc = plan_pick_point(v, it, a.point, point, sizeof(point), why, sizeof(why));
			if (rc < 0) {
				rc = fail_plan(p, rc, "%s refused: %s", po->control, why);
				goto out;
			}
			json_object_object_add(ps.points, it->name, json_object_new_string(point));
		}
	n = plan_steps(p, po->control, ps.shutdown, steps);
	if (n > MAX_TASKS) {
		rc = fail_plan(p, -EINVAL, "%s refused: the plan has %d steps, a job at most %d", po->control, n,
			       MAX_TASKS);
		goto out;
	}
	for (int i = 0; i < n; i++)
		tasks[i] = steps[i].task;
	tasks[n] = NULL;
	line_copy(args, sizeof(args), line, len);
	rc = job_submit_plan(v, p->name, po->type, args, tasks, &j);
	if (rc < 0) {
		rc = fail_plan(p, rc, "cannot start %s: %s", po->control, strerror(-rc));
		goto out;
	}
	if (plan_state_write(j, &ps) == 0)
		persist_job(v, j); /* else its first run picks again */
	snprintf(p->job_id, sizeof(p->job_id), "%s", j->id);
	p->error[0] = '\0';
	p->waiting = 0;
	if (persist_plan(v, p) < 0)
		log_warn("recovery plan %s: cannot save its job link %s", p->name, j->id);
	logmsg("recovery plan %s: job %s queued", p->name, j->id);
out:
	json_object_put(ps.points);
	free(steps);
	return rc;
}

int core_plan_control(const char *vault, const char *plan, const char *control, const char *line, size_t len)
{
	const struct plan_op *po = plan_op_named(control);
	struct vault_rec *v;
	struct plan_rec *p = NULL;
	struct job_rec *j;
	struct ctl_line cl;
	struct op_args a;
	char why[ERR_MAX];
	int rc;

	lock_model();
	rc = find_vp(vault, plan, &v, &p);
	if (rc < 0)
		goto out;
	if (v->readonly) {
		rc = fail_plan(p, -EROFS, "vault %s is managed by another asrfs instance right now", v->name);
		goto out;
	}
	if (p->damaged[0]) {
		rc = fail_plan(p, -EIO, "%s: the plan takes no control until it is repaired", p->damaged);
		goto out;
	}
	rc = ctl_parse(line, len, &cl, why, sizeof(why));
	if (rc < 0) {
		rc = fail_plan(p, rc, "%s refused: %s", control, why);
		goto out;
	}
	j = plan_running_job(v, p);
	if (po) {
		if (j) {
			rc = fail_plan(p, -EBUSY, "job %s of plan %s is running", j->id, p->name);
			goto out;
		}
		rc = plan_start(v, p, po, line, len);
		goto out;
	}
	if (strcmp(control, "cancel") != 0 && strcmp(control, "resume") != 0) {
		rc = -ENOENT;
		goto out;
	}
	rc = op_parse(strcmp(control, "cancel") == 0 ? op_find("cancel") : &resume_def, &cl, &a, why, sizeof(why));
	if (rc < 0) {
		rc = fail_plan(p, rc, "%s", why);
		goto out;
	}
	if (!j) {
		rc = fail_plan(p, -EPERM, "no job of plan %s is running", p->name);
		goto out;
	}
	if (strcmp(control, "resume") == 0) {
		if (!p->waiting) {
			rc = fail_plan(p, -EPERM, "job %s is not waiting for a manual action", j->id);
			goto out;
		}
		rc = plan_save_resume(v, p, j);
		if (rc < 0) {
			rc = fail_plan(p, rc, "cannot save the resume in job %s: %s", j->id, strerror(-rc));
			goto out;
		}
		job_wake(j);
		logmsg("recovery plan %s: resumed by the operator", p->name);
	} else {
		/* the plan's job and the jobs it runs on its items */
		j->cancel = 1;
		job_wake(j);
		for (int g = 0; g < PLAN_GROUPS; g++)
			for (int i = 0; i < p->groups[g].nitems; i++) {
				struct item_rec *it = item_find(v, p->groups[g].items[i]);
				if (it && it->job)
					it->job->cancel = 1;
			}
		logmsg("job %s: cancel requested", j->id);
	}
	p->error[0] = '\0';
out:
	unlock_model();
	return rc;
}

/* ---- the plan's job ---- */

static int plan_stop(void *arg)
{
	return job_cancelled(arg);
}

/* A script action: its program, with the plan's variables added to the
 * daemon's environment, under the hook time limit (model_lock NOT held). */
static int run_script(struct jobctx *c, const char *path, const char *task, const char *plan, const char *op,
		      const char *direction, int group, char *why, size_t wlen)
{
	char vars[4][512], **envp;
	char *argv[2] = {(char *)path, NULL};
	size_t n = 0, k = 0;
	int rc;

	snprintf(vars[0], sizeof(vars[0]), "ASR_PLAN=%s", plan);
	snprintf(vars[1], sizeof(vars[1]), "ASR_OPERATION=%s", op);
	snprintf(vars[2], sizeof(vars[2]), "ASR_DIRECTION=%s", direction);
	snprintf(vars[3], sizeof(vars[3]), "ASR_GROUP=%d", group);
	while (environ[n])
		n++;
	envp = calloc(n + 5, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "ASR_", 4) != 0)
			envp[k++] = environ[i];
	for (int i = 0; i < 4; i++)
		envp[k++] = vars[i];
	rc = run_program(path, argv, envp, task, task, plan_stop, c, 0, why, wlen);
	free(envp);
	return rc;
}

/* model_lock held: the job of item that the plan's step submitted, if its
 * newest job is of type t and began with or after the plan's job. */
static struct job_rec *item_job_of(struct vault_rec *v, struct item_rec *it, const struct job_rec *pj,
				   const struct job_type *t)
{
	struct job_rec *ij = it->job ? it->job : job_find(v, it->job_id);
	return ij && ij->type == t && ij->started >= pj->started ? ij : NULL;
}

/* The operation on the items of one boot group, steps [from, to): each
 * item's own job submitted once (the plan's line through the item's
 * control checks and prepare), then waited for.  0 when all succeeded;
 * -EINPROGRESS (job_wait) while one runs; -errno with the job's error. */
static int run_group_op(struct jobctx *c, const struct plan_op *po, const struct plan_state *ps,
			const struct plan_step *s, int from, int to)
{
	const struct op_def *op = op_find(po->control);
	struct job_rec *j = c->j;
	int rc = 0, running = 0, rows[MAX_TASKS], nrows = 0;

	lock_model();
	for (int i = from; i < to && rc == 0; i++) {
		struct plan_rec *p = plan_find(c->v, j->item);
		const char *name = p ? p->groups[s[i].group - 1].items[s[i].index] : "";
		struct item_rec *it = p ? item_find(c->v, name) : NULL;
		struct job_rec *ij;
		struct ctl_line cl, pcl;
		struct op_args a;
		char line[600];

		if (!it) {
			snprintf(j->error, sizeof(j->error), "%s: item %s is gone", s[i].task, name);
			rc = -ENOENT;
			break;
		}
		ij = item_job_of(c->v, it, j, op->job);
		if (!ij) {
			json_object *pt = NULL;
			/* the plan's line as written, but a point it picked */
			snprintf(line, sizeof(line), "%s", j->args);
			if (json_object_object_get_ex(ps->points, name, &pt) &&
			    ctl_parse(j->args, strlen(j->args), &pcl, line, sizeof(line)) == 0)
				item_line(&pcl, json_object_get_string(pt), op->job == &JT_FAILOVER, line, sizeof(line));
			rc = item_control_check(op, c->v, it, line, strlen(line), &cl, &a);
			if (rc == 0)
				rc = op->prepare(op, c->v, it, &cl, &a, line);
			if (rc < 0) {
				snprintf(j->error, sizeof(j->error), "%.100s: %.380s", s[i].task, it->error);
				rows[nrows++] = i;
				break;
			}
			rows[nrows++] = i;
			running = 1;
			continue;
		}
		if (!ij) {
			snprintf(j->error, sizeof(j->error), "%s: its job is gone", s[i].task);
			rc = -ENOENT;
		} else if (ij->state == JOB_NOT_STARTED || ij->state == JOB_IN_PROGRESS) {
			running = 1;
		} else if (ij->state != JOB_SUCCEEDED) {
			snprintf(j->error, sizeof(j->error), "%.100s: job %.60s %s: %.300s", s[i].task, ij->id,
				 job_state_name(ij->state), ij->error);
			rc = ij->state == JOB_CANCELLED ? -ECANCELED : -EIO;
		}
	}
	unlock_model();
	for (int k = 0; k < nrows; k++)
		job_task(c, rows[k], JOB_IN_PROGRESS);
	if (rc < 0) {
		for (int i = from; i < to; i++) {
			int st;
			lock_model_read();
			st = j->tasks[i].state;
			unlock_model();
			if (st == JOB_IN_PROGRESS)
				job_task(c, i, rc == -ECANCELED ? JOB_CANCELLED : JOB_FAILED);
		}
		return rc == -ECANCELED ? -EIO : rc; /* an item's cancel fails the plan */
	}
	return running ? job_wait(c, 1.0) : 0;
}

/* A manual action: wait for `resume` (the task Waiting, the job's error
 * saying what to do).  0 once resumed (now, or before a crash: the job's
 * record says so); -EINPROGRESS while waiting.  One writer's turn from
 * the check to the wait: a `resume` comes before it (and is seen) or
 * after (and wakes the wait), never in between. */
static int run_manual(struct jobctx *c, int step, const char *task)
{
	struct plan_state ps;
	struct plan_rec *p;
	int resumed = 0, rc = 0;

	lock_model();
	p = plan_find(c->v, c->j->item);
	if (p && plan_state_read(c->j, &ps) == 0) {
		resumed = ps.resumed == step + 1;
		json_object_put(ps.points);
	}
	if (!p) {
		rc = -ENOENT;
	} else if (resumed) {
		p->waiting = 0;
		c->j->error[0] = '\0';
	} else {
		p->waiting = step + 1;
		snprintf(c->j->error, sizeof(c->j->error),
			 "waiting at %s: do it, then write start to vaults/%s/recovery-plans/%s/resume", task,
			 c->v->name, p->name);
		rc = job_wait_at(c, step, 3600.0);
	}
	unlock_model();
	return rc;
}

/* Step j->step of the plan's job (every step of its type's table is this
 * function; a row the job does not have is a step that does not apply). */
static int plan_step(struct jobctx *c)
{
	struct job_rec *j = c->j;
	struct plan_step *s = calloc(MAX_TASKS, sizeof(*s));
	const struct plan_op *po = plan_op_of(j->type);
	struct plan_state ps = {0};
	struct plan_rec *p;
	char path[PLAN_ACTION_MAX], why[ERR_MAX];
	int rc, n = 0, to, done, manual = 0;

	if (!s)
		return -ENOMEM;
	lock_model();
	done = j->step;
	rc = plan_state_read(j, &ps);
	p = plan_find(c->v, j->item);
	if (p && po)
		n = plan_steps(p, po->control, ps.shutdown, s);
	if (p && done < n && n <= MAX_TASKS && (s[done].kind == S_PRE || s[done].kind == S_POST)) {
		const struct plan_group *pg = &p->groups[s[done].group - 1];
		const struct plan_action *a = s[done].kind == S_PRE ? pg->pre : pg->post;
		manual = a[s[done].index].manual;
		snprintf(path, sizeof(path), "%s", a[s[done].index].text);
	}
	unlock_model();
	if (rc < 0 || !po) {
		job_fail_msg(c, "the job's record names no state of its plan to go on from");
		rc = -EBADMSG;
		goto out;
	}
	if (!p || n > MAX_TASKS || n != j->ntasks || done >= n) {
		job_fail_msg(c, "recovery plan %s %s", j->item, p ? "no longer has the steps of its job" : "is gone");
		rc = p ? -EINVAL : -ENOENT;
		goto out;
	}
	if (job_cancelled(c)) {
		rc = -ECANCELED;
		goto out;
	}
	to = done + 1;
	if (s[done].kind != S_SHUTDOWN && (rc = plan_pick_group_points(c, &ps)) < 0)
		goto out;
	switch (s[done].kind) {
	case S_SHUTDOWN: {
		int stopped = 0;
		struct item_rec *it;
		lock_model();
		it = item_find(c->v, p->groups[s[done].group - 1].items[s[done].index]);
		rc = it ? vm_stop(region_find(it->source_region), it->vm_rg, it->name, &stopped) : -ENOENT;
		if (rc < 0)
			snprintf(j->error, sizeof(j->error), "%s: %s", s[done].task, it ? strerror(-rc) : "the item is gone");
		unlock_model();
		break;
	}
	case S_PRE:
	case S_POST:
		if (manual) {
			rc = run_manual(c, done, s[done].task);
			break;
		}
		rc = run_script(c, path, s[done].task, j->item, po->control, ps.direction, s[done].group, why,
				sizeof(why));
		if (rc < 0)
			job_fail_msg(c, "%s", why);
		break;
	case S_OP:
		/* the first of a group's items submits them all and waits for
		 * them all; the others find their item's job done */
		while (to < n && s[to].kind == S_OP && s[to].group == s[done].group)
			to++;
		rc = run_group_op(c, po, &ps, s, done, to);
		break;
	}
	if (rc == 0) {
		lock_model();
		j->progress = (done + 1) * 100 / n;
		unlock_model();
	}
out:
	if (rc == -ECANCELED) {
		lock_model();
		if ((p = plan_find(c->v, j->item)) != NULL)
			p->waiting = 0;
		unlock_model();
	}
	json_object_put(ps.points);
	free(s);
	return rc;
}
