/*
 * vault.c - the vault part of the tree: policies, network mappings,
 * replicated items with their controls and settings, jobs.  Recovery points
 * are diskio.c's.
 *
 * Controls are described by the table of operations (core/ops.c): the file
 * name, the item states in which it is accepted, its line's shape and the
 * function that validates the rest and queues the job.  A write to an item's
 * control is checked here against that entry; allowed-operations is
 * rendered from the same table, so what it lists is exactly what a write
 * would accept.
 */
#define _GNU_SOURCE
#include "inventory.h"
#include "jobs.h"
#include "lifecycle.h"
#include "model.h"
#include "protect.h"
#include "rules.h"
#include "sched.h"
#include "tracking.h"
#include "vault.h"
#include "verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_POLICY "24-hour-retention-policy"

/* ---- lookups with errors ---- */


/* model_lock held. */
static int vault_writable(struct vault_rec *v)
{
	if (v->readonly)
		return fail_vault(v, -EROFS, "vault %s is managed by another asrfs instance right now", v->name);
	if (v->damaged[0])
		return fail_vault(v, -EIO, "%s: the vault's settings cannot change until it is repaired", v->damaged);
	if (!v->region->available)
		return fail_vault(v, -EHOSTUNREACH, "the vault's region %s is unavailable: %s", v->region->name,
				  v->region->reason);
	return 0;
}

int core_vaults(struct strlist *out)
{
	int rc = 0;
	lock_model_read();
	for (struct vault_rec *v = M.vaults; v && rc == 0; v = v->next)
		rc = sl_add(out, v->name);
	unlock_model();
	return rc;
}

int core_vault_info(const char *vault, struct vault_info *out)
{
	struct vault_rec *v;
	memset(out, 0, sizeof(*out));
	lock_model_read();
	v = vault_find(vault);
	if (v) {
		snprintf(out->name, sizeof(out->name), "%s", v->name);
		snprintf(out->region, sizeof(out->region), "%s", v->region->name);
		out->readonly = v->readonly;
		snprintf(out->error, sizeof(out->error), "%s", v->error);
	}
	unlock_model();
	return v ? 0 : -ENOENT;
}

/* ---- policies ---- */

/* The names in one of a vault's lists, copied under the lock. */
#define VAULT_NAMES(fn, head, type, field)                                     \
	int fn(const char *vault, struct strlist *out)                         \
	{                                                                      \
		struct vault_rec *v;                                           \
		int rc = 0;                                                    \
		lock_model_read();                                             \
		v = vault_find(vault);                                         \
		if (!v)                                                        \
			rc = -ENOENT;                                          \
		for (type *p = v ? v->head : NULL; p && rc == 0; p = p->next)  \
			rc = sl_add(out, p->field);                            \
		unlock_model();                                           \
		sl_sort(out);                                                  \
		return rc;                                                     \
	}
VAULT_NAMES(core_policies, policies, struct policy_rec, info.name)
VAULT_NAMES(core_items, items, struct item_rec, name)
VAULT_NAMES(core_jobs, jobs, struct job_rec, id)

/* A vault's replication groups (group NULL), or the items of one, sorted.
 * A group is its items' common name: it exists while one of them does. */
static int group_names(const char *vault, const char *group, struct strlist *out)
{
	struct vault_rec *v;
	int rc;
	lock_model_read();
	v = vault_find(vault);
	rc = v ? 0 : -ENOENT;
	for (struct item_rec *it = v ? v->items : NULL; it && rc == 0; it = it->next) {
		if (!it->group[0] || (group && strcmp(it->group, group) != 0))
			continue;
		if (group)
			rc = sl_add(out, it->name);
		else if (!sl_has(out, it->group))
			rc = sl_add(out, it->group);
	}
	unlock_model();
	if (rc == 0 && group && out->n == 0)
		rc = -ENOENT;
	sl_sort(out);
	return rc;
}

int core_groups(const char *vault, struct strlist *out)
{
	return group_names(vault, NULL, out);
}

int core_group_items(const char *vault, const char *group, struct strlist *out)
{
	return group_names(vault, group, out);
}

/* Whether one name is in a vault's list: 1 or 0, -ENOENT with no vault.  A
 * path's lookup asks this, not for the whole list. */
#define VAULT_HAS(fn, finder)                                                  \
	int fn(const char *vault, const char *name)                            \
	{                                                                      \
		struct vault_rec *v;                                           \
		int rc;                                                        \
		lock_model_read();                                             \
		v = vault_find(vault);                                         \
		rc = !v ? -ENOENT : finder(v, name) != NULL;                   \
		unlock_model();                                           \
		return rc;                                                     \
	}
VAULT_HAS(core_item_exists, item_find)
VAULT_HAS(core_job_exists, job_find)


static int policy_in_use(struct vault_rec *v, const char *name)
{
	for (struct item_rec *it = v->items; it; it = it->next)
		if (strcmp(it->policy, name) == 0)
			return 1;
	return 0;
}


int core_policy_info(const char *vault, const char *policy, struct policy_info *out)
{
	struct vault_rec *v;
	struct policy_rec *p = NULL;
	lock_model_read();
	v = vault_find(vault);
	if (v)
		p = policy_find(v, policy);
	if (p) {
		*out = p->info;
		out->in_use = policy_in_use(v, policy);
	}
	unlock_model();
	return p ? 0 : -ENOENT;
}

int core_policy_create(const char *vault, const char *policy)
{
	struct vault_rec *v;
	struct policy_rec *p = NULL, **pp;
	int rc;
	lock_model();
	v = vault_find(vault);
	rc = v ? vault_writable(v) : -ENOENT;
	if (rc == 0 && (rc = name_generic_ok("policy", policy, v->error, sizeof(v->error))) < 0)
		logmsg("vault %s: %s", vault, v->error);
	if (rc == 0 && policy_find(v, policy))
		rc = fail_vault(v, -EEXIST, "policy %s already exists", policy);
	if (rc == 0)
		rc = policy_add(v, policy, &p);
	if (rc == 0 && (rc = persist_vault(v)) < 0) {
		/* refused: the policy was never saved, so it is not there */
		for (pp = &v->policies; *pp && *pp != p; pp = &(*pp)->next)
			;
		if (*pp)
			*pp = p->next;
		free(p);
		fail_vault(v, rc, "cannot save policy %s: %s", policy, strerror(-rc));
	}
	unlock_model();
	return rc;
}

int core_policy_delete(const char *vault, const char *policy)
{
	struct vault_rec *v;
	struct policy_rec **pp, *p;
	int rc;
	lock_model();
	v = vault_find(vault);
	rc = v ? vault_writable(v) : -ENOENT;
	if (rc < 0)
		goto out;
	for (pp = &v->policies; *pp && strcmp((*pp)->info.name, policy) != 0; pp = &(*pp)->next)
		;
	p = *pp;
	if (!p) {
		rc = -ENOENT;
		goto out;
	}
	if (policy_in_use(v, policy)) {
		rc = fail_vault(v, -EBUSY, "policy %s is in use by a replicated item", policy);
		goto out;
	}
	*pp = p->next;
	rc = persist_vault(v);
	if (rc < 0) {
		p->next = *pp;
		*pp = p;
		goto out;
	}
	free(p);
out:
	unlock_model();
	return rc;
}

int core_policy_set(const char *vault, const char *policy, const char *attr, const char *line, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
		uint64_t min, max;
	} attrs[] = {
		{POLICY_RETENTION, offsetof(struct policy_info, retention_hours), 0, 24 * 365},
		{POLICY_CRASH, offsetof(struct policy_info, crash_frequency_seconds), 1, 86400},
		{POLICY_APP, offsetof(struct policy_info, app_frequency_minutes), 0, 12 * 60},
		{POLICY_RPO, offsetof(struct policy_info, rpo_threshold_seconds), 1, 86400 * 7},
	};
	struct vault_rec *v;
	struct policy_rec *p;
	struct ctl_line cl;
	uint64_t val, old;
	int rc;

	lock_model();
	v = vault_find(vault);
	rc = v ? vault_writable(v) : -ENOENT;
	p = rc == 0 ? policy_find(v, policy) : NULL;
	if (rc == 0 && !p)
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		uint64_t *field;
		if (strcmp(attrs[i].name, attr) != 0)
			continue;
		rc = ctl_parse(line, len, &cl, v->error, sizeof(v->error));
		if (rc == 0 && (cl.nbare != 1 || cl.nkv || parse_u64(cl.bare[0], attrs[i].min, attrs[i].max, &val) < 0))
			rc = fail_vault(v, -EINVAL, "%s takes a whole number from %llu to %llu", attr,
					(unsigned long long)attrs[i].min, (unsigned long long)attrs[i].max);
		if (rc < 0)
			goto out;
		field = (uint64_t *)((char *)&p->info + attrs[i].off);
		old = *field;
		*field = val;
		rc = persist_vault(v);
		if (rc < 0)
			*field = old;
		else if (strcmp(attr, POLICY_CRASH) == 0)
			for (struct item_rec *it = v->items; it; it = it->next)
				if (strcmp(it->policy, policy) == 0 && it->next_cycle > time(NULL) + (time_t)val) {
					it->next_cycle = time(NULL) + (time_t)val;
					sched_item(v, it);
				}
		goto out;
	}
	rc = -ENOENT;
out:
	unlock_model();
	return rc;
}

/* ---- network mappings ---- */

int core_mapping_regions(const char *vault, struct strlist *out)
{
	struct vault_rec *v;
	int rc = 0;
	lock_model_read();
	v = vault_find(vault);
	if (!v)
		rc = -ENOENT;
	/* every region can be a source; show those with mappings and all regions */
	for (struct region *r = v ? M.regions : NULL; r && rc == 0; r = r->next)
		rc = sl_add(out, r->name);
	unlock_model();
	return rc;
}

int core_mapping_vnets(const char *vault, const char *src_region, struct strlist *out)
{
	struct vault_rec *v;
	int rc = 0;
	lock_model_read();
	v = vault_find(vault);
	if (!v || !region_find(src_region))
		rc = -ENOENT;
	for (struct mapping_rec *m = rc == 0 ? v->maps : NULL; m && rc == 0; m = m->next)
		if (strcmp(m->src_region, src_region) == 0)
			rc = sl_add(out, m->vnet);
	unlock_model();
	sl_sort(out);
	return rc;
}

int core_mapping_get(const char *vault, const char *src_region, const char *vnet, char *out, size_t len)
{
	struct vault_rec *v;
	struct mapping_rec *m = NULL;
	lock_model_read();
	v = vault_find(vault);
	if (v)
		m = mapping_find(v, src_region, vnet);
	if (m)
		snprintf(out, len, "%s", m->target);
	unlock_model();
	return m ? 0 : -ENOENT;
}

/* model_lock held.  Add or change a mapping after validating the target. */
static int mapping_put(struct vault_rec *v, const char *src, const char *vnet, const char *target)
{
	struct mapping_rec *m = mapping_find(v, src, vnet);
	char reg[NAME_MAX_], old[sizeof(m->target)];
	const char *slash = strchr(target, '/');
	int rc, added = 0;

	if (!slash || (size_t)(slash - target) >= sizeof(reg))
		return fail_vault(v, -EINVAL, "a network mapping holds <target-region>/<vnet>, not '%s'", target);
	snprintf(reg, sizeof(reg), "%.*s", (int)(slash - target), target);
	if (!region_find(reg))
		return fail_vault(v, -EINVAL, "no region %s", reg);
	if (strcmp(reg, src) == 0)
		return fail_vault(v, -EINVAL, "a mapping must point to another region");
	if ((rc = name_generic_ok("network", slash + 1, v->error, sizeof(v->error))) < 0)
		return rc;
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			return -ENOMEM;
		snprintf(m->src_region, sizeof(m->src_region), "%s", src);
		snprintf(m->vnet, sizeof(m->vnet), "%s", vnet);
		m->next = v->maps;
		v->maps = m;
		added = 1;
	}
	snprintf(old, sizeof(old), "%s", m->target);
	snprintf(m->target, sizeof(m->target), "%s", target);
	rc = persist_vault(v);
	if (rc < 0) {
		if (added) {
			v->maps = m->next;
			free(m);
		} else {
			snprintf(m->target, sizeof(m->target), "%s", old);
		}
	}
	return rc;
}

int core_mapping_set(const char *vault, const char *src_region, const char *vnet, const char *line, size_t len)
{
	struct vault_rec *v;
	struct ctl_line cl;
	int rc;
	lock_model();
	v = vault_find(vault);
	rc = v ? vault_writable(v) : -ENOENT;
	if (rc == 0 && !region_find(src_region))
		rc = -ENOENT;
	if (rc == 0 && (rc = name_generic_ok("network", vnet, v->error, sizeof(v->error))) < 0)
		logmsg("vault %s: %s", vault, v->error);
	if (rc == 0)
		rc = ctl_parse(line, len, &cl, v->error, sizeof(v->error));
	if (rc == 0 && (cl.nbare != 1 || cl.nkv))
		rc = fail_vault(v, -EINVAL, "a network mapping holds one word: <target-region>/<vnet>");
	if (rc == 0)
		rc = mapping_put(v, src_region, vnet, cl.bare[0]);
	unlock_model();
	return rc;
}

/* ---- items ---- */

/* From failover on, the item's VM runs from its points or the replica: no
 * replication to rate, so no RPO (until reprotect makes it Protected again). */
#define UNRATED_STATES                                                                                         \
	(IS_BIT(IS_FAILOVER_IN_PROGRESS) | IS_BIT(IS_FAILED_OVER) | IS_BIT(IS_CHANGE_RECOVERY_POINT_IN_PROGRESS) | \
	 IS_BIT(IS_COMMIT_IN_PROGRESS) | IS_BIT(IS_FAILOVER_COMMITTED) | IS_BIT(IS_REPROTECT_IN_PROGRESS) |         \
	 IS_BIT(IS_REPROTECT_FAILED) | IS_BIT(IS_MIGRATION_COMPLETED) | IS_BIT(IS_DISABLING_PROTECTION))

void item_to_info(struct vault_rec *v, struct item_rec *it, struct item_info *ii)
{
	struct policy_rec *p = policy_find(v, it->policy);
	struct mapping_rec *m = mapping_find(v, it->source_region, it->network);
	struct job_rec *j = it->job ? it->job : job_find(v, it->job_id);
	uint64_t thr = p ? p->info.rpo_threshold_seconds : 900;
	time_t now = time(NULL);

	memset(ii, 0, sizeof(*ii));
#define CP(f, s) snprintf(ii->f, sizeof(ii->f), "%s", s)
	CP(name, it->name); CP(vault, v->name); CP(state, item_state_name(it->state));
	CP(source_region, it->source_region); CP(target_region, it->target_region);
	CP(active_region, it->active_region); CP(vm_rg, it->vm_rg);
	CP(last_point, it->last_point); CP(last_app_point, it->last_app_point);
	CP(error, it->error); CP(job, it->job_id);
	CP(policy, it->policy); CP(group, it->group); CP(target_rg, it->target_rg); CP(target_sa, it->target_sa);
	CP(cache_sa, it->cache_sa); CP(aset, it->aset); CP(test_failover, it->test_failover);
	if (m)
		snprintf(ii->target_network, sizeof(ii->target_network), "%.90s",
			 strchr(m->target, '/') ? strchr(m->target, '/') + 1 : m->target);
#undef CP
	ii->job_running = it->job != NULL;
	ii->progress = j ? j->progress : 0;
	ii->bwlimit = it->bwlimit;
	ii->last_cycle = it->last_cycle;
	ii->cycles = it->cycles;
	ii->cycle_failures = it->cycle_failures;
	ii->bytes_replicated = it->bytes_replicated;
	ii->npoints = it->npoints;
	ii->resync_required = it->resync_required != 0;
	ii->rpo_threshold = thr;
	ii->rpo_rated = !it->damaged[0] && !item_state_in(it->state, UNRATED_STATES);
	ii->last_point_time = it->last_point_time;
	ii->replication_failing = it->failing;
	if (it->last_point_time) {
		ii->rpo_valid = 1;
		ii->rpo_seconds = now - it->last_point_time;
		if (ii->rpo_seconds < 0)
			ii->rpo_seconds = 0;
	}
	snprintf(ii->health, sizeof(ii->health), "Normal");
	if (it->damaged[0]) {
		snprintf(ii->health, sizeof(ii->health), "Critical");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "its record item.json is damaged (see error)");
	} else if (it->failing) {
		snprintf(ii->health, sizeof(ii->health), "Critical");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "replication failing: %.100s", it->fail_reason);
	} else if (item_state_in(it->state, IS_FAILED_SET)) {
		snprintf(ii->health, sizeof(ii->health), "Critical");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "%s", item_state_name(it->state));
	} else if (!it->job && item_state_in(it->state, IS_TRANSITIONAL_SET)) {
		snprintf(ii->health, sizeof(ii->health), "Critical");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "%s with no running job",
			 item_state_name(it->state));
	} else if (!it->job && j && j->state == JOB_FAILED) {
		snprintf(ii->health, sizeof(ii->health), "Warning");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "the last job failed (%.40s): %.40s", j->id,
			 j->error);
	} else if (it->state == IS_PROTECTED && ii->rpo_valid && ii->rpo_seconds > (int64_t)(2 * thr)) {
		snprintf(ii->health, sizeof(ii->health), "Critical");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "RPO %llds is over twice the threshold %llus",
			 (long long)ii->rpo_seconds, (unsigned long long)thr);
	} else if (it->state == IS_PROTECTED && ii->rpo_valid && ii->rpo_seconds > (int64_t)thr) {
		snprintf(ii->health, sizeof(ii->health), "Warning");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "RPO %llds is over the threshold %llus",
			 (long long)ii->rpo_seconds, (unsigned long long)thr);
	} else if (it->resync_required) {
		snprintf(ii->health, sizeof(ii->health), "Warning");
		snprintf(ii->health_reason, sizeof(ii->health_reason), "resynchronization required%s%.98s",
			 it->resync_why[0] ? ": " : "", it->resync_why);
	}
	snprintf(ii->hook_note, sizeof(ii->hook_note), "%s", it->hook_note);
	snprintf(ii->whole_why, sizeof(ii->whole_why), "%s", it->whole_why);
	{
		int order[MAX_DISKS];
		ii->ndisks = item_vm_order(it, order);
		for (int n = 0; n < ii->ndisks; n++) {
			struct item_disk_info *d = &ii->disks[n];
			int i = order[n];
			if (i < 0) { /* left out by exclude-disks= */
				snprintf(d->name, sizeof(d->name), "%s", it->excl[EXCL_OF(i)].name);
				d->size = it->excl[EXCL_OF(i)].size;
				d->excluded = 1;
				snprintf(d->state, sizeof(d->state), "excluded");
				continue;
			}
			snprintf(d->name, sizeof(d->name), "%s", it->disks[i].name);
			d->size = it->disks[i].size;
			snprintf(d->replica, sizeof(d->replica), "%s", it->disks[i].replica);
			snprintf(d->replica_region, sizeof(d->replica_region), "%s", it->target_region);
			d->synced_bytes = it->disks[i].synced_bytes;
			d->read_bytes = it->disk_read[i];
			d->sent_bytes = it->disk_sent[i];
			d->pending_bytes = item_disk_pending_bytes(v, it, i);
			snprintf(d->state, sizeof(d->state), "%s", it->disks[i].state[0] ? it->disks[i].state : "NotSynced");
		}
	}
}


int core_item_info(const char *vault, const char *item, struct item_info *out)
{
	struct vault_rec *v;
	struct item_rec *it = NULL;
	int rc;
	lock_model_read();
	rc = find_vi(vault, item, &v, &it);
	if (rc == 0)
		item_to_info(v, it, out);
	unlock_model();
	return rc;
}

/* model_lock held: whether an item of this name is in any vault but v. */
static int item_elsewhere(const struct vault_rec *v, const char *name)
{
	for (struct vault_rec *w = M.vaults; w; w = w->next)
		if (w != v && item_find(w, name))
			return 1;
	return 0;
}

int core_shortcuts(struct strlist *names, struct strlist *vaults)
{
	int rc = 0;
	lock_model_read();
	for (struct vault_rec *v = M.vaults; v && rc == 0; v = v->next)
		for (struct item_rec *it = v->items; it && rc == 0; it = it->next)
			if (!item_elsewhere(v, it->name) && (rc = sl_add(names, it->name)) == 0)
				rc = sl_add(vaults, v->name);
	unlock_model();
	return rc;
}

int core_shortcut(const char *name, char *vault, size_t len)
{
	int rc = -ENOENT;
	lock_model_read();
	for (struct vault_rec *v = M.vaults; v; v = v->next)
		if (item_find(v, name)) {
			rc = item_elsewhere(v, name) ? -ENOENT : 0;
			if (rc == 0)
				snprintf(vault, len, "%s", v->name);
			break;
		}
	unlock_model();
	return rc;
}

/* ---- enable replication ---- */

static void replica_name(const char *disk, char *out, size_t len)
{
	size_t n = strlen(disk), s = strlen("-ASRReplica");
	if (n > s && strcmp(disk + n - s, "-ASRReplica") == 0)
		snprintf(out, len, "%s", disk); /* never -ASRReplica-ASRReplica */
	else
		snprintf(out, len, "%.80s-ASRReplica", disk);
}

/* Whether an item named name may join replication group g of v with this
 * source, target and policy (model_lock held): every other member shares
 * all three (SPEC 9).  -EINVAL with err naming what differs. */
static int group_fits(struct vault_rec *v, const char *g, const char *name, const char *src, const char *tgt,
		      const char *pol, char *err, size_t errlen)
{
	for (struct item_rec *m = v->items; m; m = m->next) {
		const char *what = NULL, *theirs = NULL, *ours = NULL;
		if (strcmp(m->group, g) != 0 || strcmp(m->name, name) == 0)
			continue;
		if (strcmp(m->source_region, src) != 0)
			what = "source region", theirs = m->source_region, ours = src;
		else if (strcmp(m->target_region, tgt) != 0)
			what = "target region", theirs = m->target_region, ours = tgt;
		else if (strcmp(m->policy, pol) != 0)
			what = "policy", theirs = m->policy, ours = pol;
		if (what) {
			snprintf(err, errlen, "replication group %s: its items share one %s: %s is %s, %s would be %s", g,
				 what, m->name, theirs, name, ours);
			return -EINVAL;
		}
	}
	return 0;
}

static int excluded(const struct op_args *a, const char *disk)
{
	for (int i = 0; i < a->nexclude; i++)
		if (strcmp(a->exclude[i], disk) == 0)
			return 1;
	return 0;
}

/* A retry of a failed first copy leaves out the disks the first try did. */
static int same_excluded(const struct item_rec *old, const struct op_args *a)
{
	if (old->nexcl != a->nexclude)
		return 0;
	for (int k = 0; k < old->nexcl; k++)
		if (!excluded(a, old->excl[k].name))
			return 0;
	return 1;
}

/* model_lock held: exclude-disks= names disks of the VM, and not its OS
 * disk (its first), which Azure Site Recovery never leaves out. */
static int check_excluded(struct vault_rec *v, const struct vm_rec *vm, const struct op_args *a)
{
	for (int k = 0; k < a->nexclude; k++) {
		int i = 0;
		while (i < vm->info.ndisks && strcmp(vm->info.disks[i].name, a->exclude[k]) != 0)
			i++;
		if (i == vm->info.ndisks)
			return fail_vault(v, -EINVAL, "exclude-disks=: VM %s/%s has no disk %s", vm->info.rg,
					  vm->info.name, a->exclude[k]);
		if (i == 0)
			return fail_vault(v, -EINVAL, "exclude-disks=: %s is the OS disk of %s/%s: an OS disk "
					  "cannot be excluded", a->exclude[k], vm->info.rg, vm->info.name);
	}
	return 0;
}

int core_enable_replication(const struct op_def *op, const char *vault, const char *line, size_t len)
{
	struct vault_rec *v;
	struct ctl_line cl;
	struct op_args a;
	struct region *src, *tgt;
	struct rg_rec *g;
	struct vm_rec *vm;
	struct item_rec *it = NULL, *old, *saved = NULL;
	const char *s, *t, *pol, *trg, *aset, *cache;
	char args[512];
	char *rgname, *vmname, *err;
	size_t errlen;
	int rc;

	lock_model();
	v = vault_find(vault);
	if (!v) {
		rc = -ENOENT;
		goto out;
	}
	err = v->error;
	errlen = sizeof(v->error);
	if ((rc = vault_writable(v)) < 0)
		goto out;
	rc = ctl_parse(line, len, &cl, err, errlen);
	if (rc == 0)
		rc = op_parse(op, &cl, &a, err, errlen);
	/* The write's buffer is not a C string: keep a terminated copy. */
	line_copy(args, sizeof(args), line, len);
	if (rc < 0)
		goto bad;
	s = a.source;
	t = a.target;
	pol = a.policy[0] ? a.policy : NULL;
	trg = a.trg[0] ? a.trg : NULL;
	aset = a.aset[0] ? a.aset : NULL;
	cache = a.cache[0] ? a.cache : NULL;
	rgname = a.vm_rg;
	vmname = a.vm;
	src = region_find(s);
	tgt = region_find(t);
	if (!src || !tgt) {
		rc = fail_vault(v, -EINVAL, "no region %s", !src ? s : t);
		goto out;
	}
	if (src == tgt) {
		rc = fail_vault(v, -EINVAL, "source and target must be different regions");
		goto out;
	}
	if (!src->available || !tgt->available) {
		struct region *down = !src->available ? src : tgt;
		rc = fail_vault(v, -EHOSTUNREACH, "region %s is unavailable: %s", down->name, down->reason);
		goto out;
	}
	if (!pol)
		pol = policy_find(v, DEFAULT_POLICY) ? DEFAULT_POLICY : (v->policies ? v->policies->info.name : "");
	if (!policy_find(v, pol)) {
		rc = fail_vault(v, -EINVAL, "no policy '%s' in vault %s", pol, v->name);
		goto out;
	}
	if (a.group[0] && (rc = group_fits(v, a.group, vmname, s, t, pol, err, errlen)) < 0) {
		logmsg("vault %s: enable-replication of %s/%s refused: %s", v->name, rgname, vmname, err);
		goto out;
	}
	g = rg_find(src, rgname);
	vm = g ? vm_find(g, vmname) : NULL;
	if (!vm) {
		rc = fail_vault(v, -EINVAL, "no VM %s/%s in region %s", rgname, vmname, s);
		goto out;
	}
	if ((rc = check_excluded(v, vm, &a)) < 0)
		goto out;
	old = item_find(v, vmname);
	if (old && (strcmp(old->source_region, s) != 0 || strcmp(old->vm_rg, rgname) != 0)) {
		/* items are named after their VM: another VM holds the name */
		rc = fail_vault(v, -EEXIST, "vault %s already has an item %s, protecting VM %s/%s in region %s: "
				"%s/%s cannot be protected in this vault under the same name", v->name, vmname,
				old->vm_rg, vmname, old->source_region, rgname, vmname);
		goto out;
	}
	if (old && (old->state != IS_INITIAL_REPLICATION_FAILED || old->job)) {
		rc = fail_vault(v, -EEXIST, "%s/%s is already protected by vault %s", rgname, vmname, v->name);
		goto out;
	}
	if (old && !same_excluded(old, &a)) {
		/* the first try's replicas and claims are of its own set of disks */
		rc = fail_vault(v, -EINVAL, "exclude-disks=: a retry of %s/%s must leave out the disks its first "
				"try did (disable it to choose others)", rgname, vmname);
		goto out;
	}
	/* A retry rewrites the failed item: keep it as it was should the claim
	 * below fail. */
	if (old && !(saved = malloc(sizeof(*saved)))) {
		rc = -ENOMEM;
		goto out;
	}
	if (old)
		*saved = *old;
	it = old ? old : calloc(1, sizeof(*it));
	if (!it) {
		rc = -ENOMEM;
		goto out;
	}
	if (!old) {
		snprintf(it->name, sizeof(it->name), "%s", vmname);
		it->created = time(NULL);
	}
	snprintf(it->source_region, sizeof(it->source_region), "%s", s);
	snprintf(it->target_region, sizeof(it->target_region), "%s", t);
	snprintf(it->active_region, sizeof(it->active_region), "%s", s);
	snprintf(it->vm_rg, sizeof(it->vm_rg), "%s", rgname);
	snprintf(it->policy, sizeof(it->policy), "%s", pol);
	snprintf(it->group, sizeof(it->group), "%s", a.group);
	if (trg)
		snprintf(it->target_rg, sizeof(it->target_rg), "%s", trg);
	else
		snprintf(it->target_rg, sizeof(it->target_rg), "%.85s-asr", rgname);
	if (aset)
		snprintf(it->aset, sizeof(it->aset), "%s", aset);
	else if (vm->info.availability_set[0])
		snprintf(it->aset, sizeof(it->aset), "%.85s-asr", vm->info.availability_set);
	if (cache)
		snprintf(it->cache_sa, sizeof(it->cache_sa), "%s", cache);
	else {
		char raw[200];
		snprintf(raw, sizeof(raw), "%sasrcache", v->name);
		sa_name_sanitize(raw, it->cache_sa, sizeof(it->cache_sa));
	}
	snprintf(it->network, sizeof(it->network), "%s", vm->info.network);
	it->bwlimit = a.bwlimit;
	it->ndisks = it->nexcl = 0;
	for (int i = 0; i < vm->info.ndisks; i++) {
		struct vm_disk_info *vd = &vm->info.disks[i];
		struct item_disk *d;
		if (!vd->managed) { /* where a failover puts an unmanaged disk, excluded or not */
			char raw[200];
			snprintf(raw, sizeof(raw), "%sasr", vd->storage_account);
			sa_name_sanitize(raw, it->target_sa, sizeof(it->target_sa));
		}
		if (excluded(&a, vd->name)) {
			struct item_excl *e = &it->excl[it->nexcl++];
			memset(e, 0, sizeof(*e));
			snprintf(e->name, sizeof(e->name), "%s", vd->name);
			e->size = vd->size;
			e->managed = vd->managed;
			snprintf(e->src_parent, sizeof(e->src_parent), "%s", vd->managed ? rgname : vd->storage_account);
			e->pos = i;
			continue;
		}
		d = &it->disks[it->ndisks++];
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%s", vd->name);
		d->size = vd->size;
		d->managed = vd->managed;
		d->replica_managed = vd->managed;
		snprintf(d->src_parent, sizeof(d->src_parent), "%s", vd->managed ? rgname : vd->storage_account);
		replica_name(vd->name, d->replica, sizeof(d->replica));
		if (!vd->managed) {
			snprintf(d->replica_parent, sizeof(d->replica_parent), "%s", it->target_sa);
		} else {
			snprintf(d->replica_parent, sizeof(d->replica_parent), "%s", it->target_rg);
		}
		snprintf(d->state, sizeof(d->state), "InitialReplicationPending");
	}
	/* The disks' regions record who protects them: claimed before the job
	 * exists, so two vaults (or daemons) cannot both start protecting a
	 * disk, nor write into replicas another item owns. */
	{
		struct disk_ref refs[2 * MAX_DISKS];
		int n = item_disk_refs(it, refs);
		rc = protection_claim(v, it->name, refs, n, err, errlen);
		if (rc < 0) {
			logmsg("vault %s: enable-replication of %s/%s refused: %s", v->name, rgname, vmname, err);
			goto undo;
		}
	}
	/* The network mapping: created with the default when missing. */
	if (it->network[0] && !mapping_find(v, s, it->network)) {
		char target[2 * NAME_MAX_];
		snprintf(target, sizeof(target), "%s/%.80s-asr", t, it->network);
		rc = mapping_put(v, s, it->network, target);
		if (rc < 0)
			goto undo;
	}
	/* job_submit saves the item after its job, never before: a crash in
	 * between leaves a job that fails as "nothing was changed", not an
	 * item in EnablingProtection that no job will ever finish.  A new
	 * item joins the vault's list only then, and an old one (a retry)
	 * turns EnablingProtection only as its job links to it, so no reader
	 * finds either with no job (records are written with model_lock
	 * dropped). */
	if (!old)
		it->state = IS_ENABLING_PROTECTION;
	rc = job_submit(v, it, &JT_ENABLE, args, NULL, NULL);
	if (rc < 0) {
		if (!old)
			unpersist_item(v, it);
		fail_vault(v, rc, "cannot start enable replication: %s", strerror(-rc));
		goto undo;
	}
	if (!old) {
		it->next = v->items;
		v->items = it;
		vault_lists_changed(v);
	}
	v->error[0] = '\0';
	goto out;
undo:
	if (old) {
		*old = *saved; /* a retry refused leaves the item as it was */
	} else {
		protection_release_item(v, it);
		sched_remove(it);
		cycle_state_free(it->cs);
		free(it);
	}
	goto out;
bad:
	logmsg("vault %s: enable-replication refused: %s", vault, err);
out:
	unlock_model();
	free(saved);
	return rc;
}

/* ---- item controls: the table of operations is core/ops.c ---- */

/* model_lock held: an item whose record did not read takes no change. */
int item_refuse_damaged(struct item_rec *it)
{
	if (!it->damaged[0])
		return 0;
	return fail_item(it, -EIO, "%s: the item takes no control or setting until it is repaired", it->damaged);
}


int core_item_setting_set(const char *vault, const char *item, const char *setting, const char *line, size_t len)
{
	struct vault_rec *v;
	struct item_rec *it = NULL;
	struct ctl_line cl;
	char *err, old[NAME_MAX_], *field = NULL;
	uint64_t old_bw = 0;
	size_t errlen;
	int rc;

	lock_model();
	rc = find_vi(vault, item, &v, &it);
	if (rc < 0)
		goto out;
	old_bw = it->bwlimit;
	err = it->error;
	errlen = sizeof(it->error);
	if (v->readonly) {
		rc = fail_item(it, -EROFS, "vault %s is managed by another asrfs instance right now", v->name);
		goto out;
	}
	if ((rc = item_refuse_damaged(it)) < 0)
		goto out;
	if (it->job) {
		rc = fail_item(it, -EBUSY, "job %s is running on %s", it->job->id, it->name);
		goto out;
	}
	rc = ctl_parse(line, len, &cl, err, errlen);
	if (rc == 0 && (cl.nbare != 1 || cl.nkv))
		rc = fail_item(it, -EINVAL, "%s takes one value", setting);
	if (rc < 0)
		goto out;
	if (strcmp(setting, "policy") == 0) {
		if (!policy_find(v, cl.bare[0]))
			rc = fail_item(it, -EINVAL, "no policy '%s' in vault %s", cl.bare[0], v->name);
		else if (it->group[0])
			rc = group_fits(v, it->group, it->name, it->source_region, it->target_region, cl.bare[0], err,
					errlen);
		field = it->policy;
	} else if (strcmp(setting, "target-resource-group") == 0) {
		rc = name_rg_ok(cl.bare[0], err, errlen);
		field = it->target_rg;
	} else if (strcmp(setting, "target-storage-account") == 0) {
		rc = name_sa_ok(cl.bare[0], err, errlen);
		field = it->target_sa;
	} else if (strcmp(setting, "cache-storage-account") == 0) {
		rc = name_sa_ok(cl.bare[0], err, errlen);
		field = it->cache_sa;
	} else if (strcmp(setting, "availability-set") == 0) {
		rc = name_generic_ok("availability set", cl.bare[0], err, errlen);
		field = it->aset;
	} else if (strcmp(setting, "bandwidth-limit-bytes-per-second") == 0) {
		uint64_t bw;
		if (parse_u64(cl.bare[0], 0, UINT64_MAX, &bw) < 0)
			rc = fail_item(it, -EINVAL, "%s takes a whole number of bytes per second (0: no limit)", setting);
		else
			it->bwlimit = bw;
	} else if (strcmp(setting, "target-network") == 0) {
		rc = fail_item(it, -EPERM, "the target network comes from the network mapping: change "
			       "vaults/%s/network-mappings/%s/%s", v->name, it->source_region, it->network);
	} else {
		rc = -ENOENT;
	}
	if (rc == -EINVAL && err[0])
		logmsg("item %s: %s", it->name, err);
	if (rc < 0)
		goto out;
	/* every name field is NAME_MAX_ long; names past that were refused */
	if (field) {
		snprintf(old, sizeof(old), "%s", field);
		snprintf(field, NAME_MAX_, "%s", cl.bare[0]);
	}
	rc = persist_item(v, it);
	if (rc < 0) {
		/* not durable: the setting keeps the value that is saved */
		if (field)
			snprintf(field, NAME_MAX_, "%s", old);
		it->bwlimit = old_bw;
		fail_item(it, rc, "%s: cannot save it: %s", setting, strerror(-rc));
	}
out:
	unlock_model();
	return rc;
}

/* ---- jobs ---- */

int core_job_info(const char *vault, const char *job, struct job_info *out)
{
	struct vault_rec *v;
	struct job_rec *j = NULL;
	memset(out, 0, sizeof(*out));
	lock_model_read();
	v = vault_find(vault);
	if (v)
		j = job_find(v, job);
	if (j) {
		snprintf(out->id, sizeof(out->id), "%s", j->id);
		snprintf(out->type, sizeof(out->type), "%s", j->type->name);
		snprintf(out->item, sizeof(out->item), "%s", j->item);
		snprintf(out->state, sizeof(out->state), "%s", job_state_name(j->state));
		out->progress = j->progress;
		out->started = j->started;
		out->ended = j->ended;
		snprintf(out->error, sizeof(out->error), "%s", j->error);
		out->ntasks = j->ntasks;
		for (int i = 0; i < j->ntasks; i++) {
			snprintf(out->tasks[i].name, sizeof(out->tasks[i].name), "%s", j->tasks[i].name);
			snprintf(out->tasks[i].state, sizeof(out->tasks[i].state), "%s", job_state_name(j->tasks[i].state));
			out->tasks[i].started = j->tasks[i].started;
			out->tasks[i].ended = j->tasks[i].ended;
		}
		out->bytes_total = j->bytes_total;
		out->bytes_compared = j->bytes_compared;
		out->bytes_transferred = j->bytes_transferred;
		out->verifies = j->type == &JT_VERIFY;
		out->mismatched_bytes = j->mismatched_bytes;
		out->rate = j->state == JOB_IN_PROGRESS ? j->rate : 0;
		if (j->state == JOB_IN_PROGRESS && j->rate > 0 && j->bytes_total >= j->bytes_compared) {
			out->eta = (j->bytes_total - j->bytes_compared) / j->rate;
			out->eta_known = 1;
		} else if (j->state != JOB_IN_PROGRESS && j->state != JOB_NOT_STARTED) {
			out->eta = 0;
			out->eta_known = 1;
		}
	}
	unlock_model();
	return j ? 0 : -ENOENT;
}
