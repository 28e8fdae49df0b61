/*
 * model.c - the model: lookups, the errors recorded on objects, and the JSON
 * records that make it durable (written, and loaded back at start-up), and
 * the config file's parser (config.h).
 * Start-up, shut-down and the scheduler are daemon.c's.
 *
 * Vault state lives in the vault's own region:
 *   vaults/<vault>/vault.json              policies, network mappings, job counter
 *   vaults/<vault>/items/<item>/item.json  one replicated item
 *   vaults/<vault>/items/<item>/points.json the recovery-point catalog (sync/points.c)
 *   vaults/<vault>/jobs/<id>.json          one job with its tasks and counters
 *   vaults/<vault>/lease                   held by the managing daemon
 */
#define _GNU_SOURCE
#include "model.h"
#include "recio.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


struct model M;

/* ---- errors ------------------------------------------------------ */

#define DEFINE_FAIL(fn, type, field, label)                                    \
	int fn(type *obj, int rc, const char *fmt, ...)                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vsnprintf(obj->field, sizeof(obj->field), fmt, ap);            \
		va_end(ap);                                                    \
		log_warn("%s %s: %s", label, obj->name, obj->field);           \
		return rc;                                                     \
	}
DEFINE_FAIL(fail_item, struct item_rec, error, "item")
DEFINE_FAIL(fail_region, struct region, error, "region")
DEFINE_FAIL(fail_vault, struct vault_rec, error, "vault")

/* ---- lookups ------------------------------------------------------- */

#define FIND_IN(list, key) \
	for (__typeof__(list) p_ = (list); p_; p_ = p_->next) \
		if (strcmp(p_->key, name) == 0) \
			return p_; \
	return NULL

struct region *region_find(const char *name) { FIND_IN(M.regions, name); }
struct rg_rec *rg_find(struct region *r, const char *name) { FIND_IN(r->rgs, name); }
struct vm_rec *vm_find(struct rg_rec *rg, const char *name) { FIND_IN(rg->vms, info.name); }
struct disk_rec *disk_find(struct disk_rec *list, const char *name) { FIND_IN(list, name); }
struct sa_rec *sa_find(struct region *r, const char *name) { FIND_IN(r->sas, name); }
struct vault_rec *vault_find(const char *name) { FIND_IN(M.vaults, name); }
struct policy_rec *policy_find(struct vault_rec *v, const char *name) { FIND_IN(v->policies, info.name); }

/* A VM by name in any resource group of r. */
struct vm_rec *vm_anywhere(struct region *r, const char *name, struct rg_rec **rgo)
{
	for (struct rg_rec *g = r->rgs; g; g = g->next) {
		struct vm_rec *vm = vm_find(g, name);
		if (vm) {
			if (rgo)
				*rgo = g;
			return vm;
		}
	}
	return NULL;
}

struct vm_rec *vm_at(struct region *r, const char *rg, const char *name)
{
	struct rg_rec *g = rg_find(r, rg);
	return g ? vm_find(g, name) : NULL;
}

/* model_lock held.  Find vault and item; -ENOENT when either is missing. */
int find_vi(const char *vault, const char *item, struct vault_rec **vp, struct item_rec **ip)
{
	*vp = vault_find(vault);
	if (!*vp)
		return -ENOENT;
	if (item) {
		*ip = item_find(*vp, item);
		if (!*ip)
			return -ENOENT;
	}
	return 0;
}

/* A vault's items and jobs are lists, and a vault may hold thousands of
 * each: every path lookup and render used to walk them.  item_find and
 * job_find look names up in a hash table of the list instead (open
 * addressing, at most half full), built at the first lookup after
 * vault_lists_changed() dropped it.  Where a list holds a name twice the
 * first one wins, as in the walk. */
struct name_index {
	size_t cap; /* a power of two */
	void *slot[];
};

static size_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)h;
}

#define REC_NEXT(p, off) (*(void **)((char *)(p) + (off)))
#define REC_KEY(p, off) ((const char *)(p) + (off))

static struct name_index *index_build(void *head, size_t next_off, size_t key_off)
{
	struct name_index *ix;
	size_t n = 0, cap = 16;

	for (void *p = head; p; p = REC_NEXT(p, next_off))
		n++;
	while (cap < 2 * n)
		cap *= 2;
	ix = calloc(1, sizeof(*ix) + cap * sizeof(ix->slot[0]));
	if (!ix)
		return NULL;
	ix->cap = cap;
	for (void *p = head; p; p = REC_NEXT(p, next_off)) {
		size_t i = name_hash(REC_KEY(p, key_off)) & (cap - 1);
		for (; ix->slot[i]; i = (i + 1) & (cap - 1))
			if (strcmp(REC_KEY(ix->slot[i], key_off), REC_KEY(p, key_off)) == 0)
				break;
		if (!ix->slot[i])
			ix->slot[i] = p;
	}
	return ix;
}

static void *index_find(struct name_index **ix, void *head, size_t next_off, size_t key_off, const char *name)
{
	if (!*ix)
		*ix = index_build(head, next_off, key_off);
	if (!*ix) { /* no memory for it: walk the list */
		for (void *p = head; p; p = REC_NEXT(p, next_off))
			if (strcmp(REC_KEY(p, key_off), name) == 0)
				return p;
		return NULL;
	}
	for (size_t i = name_hash(name) & ((*ix)->cap - 1); (*ix)->slot[i]; i = (i + 1) & ((*ix)->cap - 1))
		if (strcmp(REC_KEY((*ix)->slot[i], key_off), name) == 0)
			return (*ix)->slot[i];
	return NULL;
}

struct item_rec *item_find(struct vault_rec *v, const char *name)
{
	MODEL_LOCKED();
	return index_find(&v->item_index, v->items, offsetof(struct item_rec, next), offsetof(struct item_rec, name),
			  name);
}

struct job_rec *job_find(struct vault_rec *v, const char *name)
{
	MODEL_LOCKED();
	return index_find(&v->job_index, v->jobs, offsetof(struct job_rec, next), offsetof(struct job_rec, id), name);
}

void vault_lists_changed(struct vault_rec *v)
{
	free(v->item_index);
	free(v->job_index);
	v->item_index = NULL;
	v->job_index = NULL;
}

struct mapping_rec *mapping_find(struct vault_rec *v, const char *src, const char *vnet)
{
	for (struct mapping_rec *m = v->maps; m; m = m->next)
		if (strcmp(m->src_region, src) == 0 && strcmp(m->vnet, vnet) == 0)
			return m;
	return NULL;
}

struct plan_rec *plan_find(struct vault_rec *v, const char *name)
{
	for (struct plan_rec *p = v->plans; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

struct job_rec *plan_running_job(struct vault_rec *v, const struct plan_rec *p)
{
	struct job_rec *j = p->job_id[0] ? job_find(v, p->job_id) : NULL;
	return j && (j->state == JOB_NOT_STARTED || j->state == JOB_IN_PROGRESS) ? j : NULL;
}

int plan_group_of(const struct plan_rec *p, const char *item)
{
	for (int g = 0; g < PLAN_GROUPS; g++)
		for (int i = 0; i < p->groups[g].nitems; i++)
			if (strcmp(p->groups[g].items[i], item) == 0)
				return g + 1;
	return 0;
}

struct plan_rec *plan_holding(struct vault_rec *v, const char *item)
{
	for (struct plan_rec *p = v->plans; p; p = p->next)
		if (plan_group_of(p, item) && plan_running_job(v, p))
			return p;
	return NULL;
}

/* ---- keys ---------------------------------------------------------- */

void disk_key(int managed, const char *parent, const char *name, char *buf, size_t len)
{
	if (managed)
		snprintf(buf, len, "resource-groups/%s/disks/%s", parent, name);
	else
		snprintf(buf, len, "storage-accounts/%s/vhds/%s.vhd", parent, name);
}

void key_item(const struct vault_rec *v, const char *item, char *buf, size_t len)
{
	snprintf(buf, len, "vaults/%s/items/%s/item.json", v->name, item);
}

void key_points(const struct vault_rec *v, const char *item, char *buf, size_t len)
{
	snprintf(buf, len, "vaults/%s/items/%s/points.json", v->name, item);
}

/* Undo data and block maps sit in the target region, outside the inventory. */
void key_item_data(const struct vault_rec *v, const char *item, char *buf, size_t len)
{
	snprintf(buf, len, "asr-data/%s/%s", v->name, item);
}

void key_map(const struct vault_rec *v, const char *item, int disk, char *buf, size_t len)
{
	snprintf(buf, len, "asr-data/%s/%s/maps/%d", v->name, item, disk);
}

int item_vm_order(const struct item_rec *it, int order[MAX_DISKS])
{
	int n = 0, i = 0, k = 0;

	while ((i < it->ndisks || k < it->nexcl) && n < MAX_DISKS) {
		if (k < it->nexcl && (i == it->ndisks || it->excl[k].pos <= n))
			order[n++] = EXCL_OF(k++);
		else
			order[n++] = i++;
	}
	return n;
}

/* ---- JSON helpers -------------------------------------------------- */

static const char *js(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* The array under k, or NULL when there is none: absent, or a damaged
 * record's other type (json-c asserts on array calls with a non-array). */
static json_object *ja(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static uint64_t ju(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v))
		return 0;
	return (uint64_t)json_object_get_int64(v);
}

#define JCPY(dst, o, k) snprintf((dst), sizeof(dst), "%s", js((o), (k)))

/* Write a vault record (model_lock held).  A region already known to be
 * down fails at once: retrying a frozen endpoint takes minutes, and the
 * whole tree waits for model_lock meanwhile. */
static int put_json(struct region *r, const char *key, json_object *o)
{
	struct backend *be = r->be;
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc;
	if (!s) {
		json_object_put(o);
		return -ENOMEM;
	}
	if (!r->available) {
		json_object_put(o);
		log_error("cannot write %s: region %s is unavailable", key, r->name);
		return -EHOSTUNREACH;
	}
	rc = mio_rec_put(be, key, s, strlen(s), NULL, NULL);
	json_object_put(o);
	if (rc < 0)
		log_error("cannot write %s: %s", key, strerror(-rc));
	return rc;
}

static int get_json(struct backend *be, const char *key, json_object **out)
{
	char *data;
	size_t len;
	int rc = mio_rec_get(be, key, &data, &len, NULL);
	if (rc < 0)
		return rc;
	*out = json_tokener_parse(data);
	free(data);
	if (*out && !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
	}
	return *out ? 0 : -EBADMSG; /* the caller reports it: record_damaged() */
}

int vault_put_json(struct vault_rec *v, const char *key, struct json_object *o)
{
	MODEL_LOCKED();
	if (v->readonly) {
		json_object_put(o);
		return -EROFS;
	}
	jobs_flush(v);
	return put_json(v->region, key, o);
}

int vault_get_json(struct vault_rec *v, const char *key, struct json_object **out)
{
	return get_json(v->region->be, key, out);
}

int vault_del_record(struct vault_rec *v, const char *key)
{
	MODEL_LOCKED();
	if (v->readonly)
		return -EROFS;
	if (!v->region->available)
		return -EHOSTUNREACH;
	return mio_rec_del(v->region->be, key);
}

void record_damaged(struct backend *be, const char *key, int move, int readonly, char *msg, size_t len)
{
	char aside[1024] = "";
	int rc = readonly ? 0 : backend_keep_damaged(be, key, move, aside, sizeof(aside));

	if (rc < 0)
		snprintf(msg, len, "record %s is damaged (it could not be kept aside: %s)", key, strerror(-rc));
	else if (aside[0])
		snprintf(msg, len, "record %s is damaged; its bytes are kept as %s", key, aside);
	else
		snprintf(msg, len, "record %s is damaged", key);
	log_warn("%s", msg);
}

void catalog_note(struct vault_rec *v, const char *item, const char *note)
{
	struct item_rec *it;
	lock_model();
	it = item_find(v, item);
	if (it)
		fail_item(it, 0, "%s", note);
	else
		log_warn("vault %s: %s", v->name, note);
	unlock_model();
}

/* Does a parsed record hold a field of this type? */
static int has(json_object *o, const char *k, json_type t)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, t);
}

/* ---- vault persistence --------------------------------------------- */

int persist_vault(struct vault_rec *v)
{
	json_object *o, *pols, *maps;
	char key[256];
	MODEL_LOCKED();

	if (v->readonly)
		return -EROFS; /* another daemon's records, or this one fenced itself */
	if (v->damaged[0])
		return fail_vault(v, -EIO, "%s: the vault's settings cannot change until it is repaired", v->damaged);
	jobs_flush(v);
	o = json_object_new_object(), pols = json_object_new_array(), maps = json_object_new_array();

	if (!o || !pols || !maps) {
		json_object_put(o);
		json_object_put(pols);
		json_object_put(maps);
		return -ENOMEM;
	}
	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "region", json_object_new_string(v->region->name));
	json_object_object_add(o, "next_job", json_object_new_int64((int64_t)v->next_job));
	for (struct policy_rec *p = v->policies; p; p = p->next) {
		json_object *po = json_object_new_object();
		json_object_object_add(po, "name", json_object_new_string(p->info.name));
		json_object_object_add(po, POLICY_RETENTION, json_object_new_int64((int64_t)p->info.retention_hours));
		json_object_object_add(po, POLICY_CRASH, json_object_new_int64((int64_t)p->info.crash_frequency_seconds));
		json_object_object_add(po, POLICY_APP, json_object_new_int64((int64_t)p->info.app_frequency_minutes));
		json_object_object_add(po, POLICY_RPO, json_object_new_int64((int64_t)p->info.rpo_threshold_seconds));
		json_object_array_add(pols, po);
	}
	for (struct mapping_rec *m = v->maps; m; m = m->next) {
		json_object *mo = json_object_new_object();
		json_object_object_add(mo, "source_region", json_object_new_string(m->src_region));
		json_object_object_add(mo, "vnet", json_object_new_string(m->vnet));
		json_object_object_add(mo, "target", json_object_new_string(m->target));
		json_object_array_add(maps, mo);
	}
	json_object_object_add(o, "policies", pols);
	json_object_object_add(o, "network_mappings", maps);
	snprintf(key, sizeof(key), "vaults/%s/vault.json", v->name);
	return put_json(v->region, key, o);
}

/* An item's excluded disks, "excluded_disks" in item.json: written only
 * when there are some, so a record without it (an older one included)
 * means none. */
static int excl_to_json(const struct item_rec *it, json_object *o)
{
	json_object *arr = json_object_new_array();

	if (!arr)
		return -ENOMEM;
	for (int i = 0; i < it->nexcl; i++) {
		const struct item_excl *e = &it->excl[i];
		json_object *eo = json_object_new_object();
		if (!eo) {
			json_object_put(arr);
			return -ENOMEM;
		}
		json_object_object_add(eo, "name", json_object_new_string(e->name));
		json_object_object_add(eo, "size", json_object_new_int64((int64_t)e->size));
		json_object_object_add(eo, "managed", json_object_new_boolean(e->managed));
		json_object_object_add(eo, "src_parent", json_object_new_string(e->src_parent));
		json_object_object_add(eo, "position", json_object_new_int(e->pos));
		json_object_array_add(arr, eo);
	}
	json_object_object_add(o, "excluded_disks", arr);
	return 0;
}

/* The excluded disks of a record; an entry without a name or a position a
 * VM can have, or past what an item holds, is left out. */
static void excl_from_json(struct item_rec *it, json_object *o)
{
	json_object *arr = ja(o, "excluded_disks");
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n && it->ndisks + it->nexcl < MAX_DISKS; i++) {
		json_object *eo = json_object_array_get_idx(arr, i);
		struct item_excl *e = &it->excl[it->nexcl];
		uint64_t pos = ju(eo, "position");
		if (!json_object_is_type(eo, json_type_object) || !js(eo, "name")[0] || pos >= MAX_DISKS)
			continue;
		JCPY(e->name, eo, "name");
		e->size = ju(eo, "size");
		e->managed = (int)ju(eo, "managed");
		JCPY(e->src_parent, eo, "src_parent");
		e->pos = (int)pos;
		it->nexcl++;
	}
}

int persist_item(struct vault_rec *v, struct item_rec *it)
{
	json_object *o, *disks;
	char key[512];
	int rc;
	MODEL_LOCKED();

	if (v->readonly)
		return -EROFS;
	if (it->damaged[0])
		return -EIO; /* never overwrite what could not be read (its error says why) */
	jobs_flush(v);
	o = json_object_new_object(), disks = json_object_new_array();

	if (!o || !disks) {
		json_object_put(o);
		json_object_put(disks);
		return -ENOMEM;
	}
#define S(k, f) json_object_object_add(o, k, json_object_new_string(it->f))
#define U(k, f) json_object_object_add(o, k, json_object_new_int64((int64_t)it->f))
	S("name", name); S("source_region", source_region);
	json_object_object_add(o, "state", json_object_new_string(item_state_name(it->state)));
	S("target_region", target_region); S("active_region", active_region); S("vm_rg", vm_rg);
	S("policy", policy); S("target_rg", target_rg); S("target_sa", target_sa);
	S("cache_sa", cache_sa); S("aset", aset); S("network", network); S("error", error);
	S("job", job_id); S("test_failover", test_failover); S("tf_region", tf_region); S("tf_rg", tf_rg);
	S("resync_why", resync_why);
	if (it->group[0])
		S("replication_group", group);
	U("bwlimit", bwlimit); U("created", created); U("resync_required", resync_required);
	U("last_app_point_time", last_app_point_time);
#undef S
#undef U
	for (int i = 0; i < it->ndisks; i++) {
		struct item_disk *d = &it->disks[i];
		json_object *dobj = json_object_new_object();
		json_object_object_add(dobj, "name", json_object_new_string(d->name));
		json_object_object_add(dobj, "size", json_object_new_int64((int64_t)d->size));
		json_object_object_add(dobj, "managed", json_object_new_boolean(d->managed));
		json_object_object_add(dobj, "src_parent", json_object_new_string(d->src_parent));
		json_object_object_add(dobj, "replica", json_object_new_string(d->replica));
		json_object_object_add(dobj, "replica_parent", json_object_new_string(d->replica_parent));
		json_object_object_add(dobj, "replica_managed", json_object_new_boolean(d->replica_managed));
		json_object_object_add(dobj, "synced_bytes", json_object_new_int64((int64_t)d->synced_bytes));
		json_object_object_add(dobj, "state", json_object_new_string(d->state));
		json_object_array_add(disks, dobj);
	}
	json_object_object_add(o, "disks", disks);
	if (it->nexcl && (rc = excl_to_json(it, o)) < 0) {
		json_object_put(o);
		return rc;
	}
	key_item(v, it->name, key, sizeof(key));
	return put_json(v->region, key, o);
}

int unpersist_item(struct vault_rec *v, struct item_rec *it)
{
	char key[512];
	snprintf(key, sizeof(key), "vaults/%s/items/%s", v->name, it->name);
	if (v->readonly)
		return -EROFS;
	if (!v->region->available)
		return -EHOSTUNREACH;
	return mio_remove_tree(v->region->be, key);
}

static const char *const job_state_names[] = {"NotStarted", "InProgress", "Succeeded", "Failed", "Cancelled",
					      "Waiting"};
#define JOB_STATES (int)(sizeof(job_state_names) / sizeof(job_state_names[0]))

static int job_state_parse(const char *s)
{
	for (int i = 0; i < JOB_STATES; i++)
		if (strcmp(s, job_state_names[i]) == 0)
			return i;
	return JOB_FAILED;
}

const char *job_state_name(int s)
{
	return (s >= 0 && s < JOB_STATES) ? job_state_names[s] : "Failed";
}

/* The job types a record may name.  They are defined in the files that run
 * them and named by the table of operations, all above this file, so the
 * daemon registers the table's finder at start-up (job_types_register)
 * before any vault is loaded. */
static const struct job_type *(*job_type_finder)(const char *slug);

void job_types_register(const struct job_type *(*find)(const char *slug))
{
	job_type_finder = find;
}

const struct job_type *job_type_by_slug(const char *slug)
{
	return job_type_finder ? job_type_finder(slug) : NULL;
}

const char *const item_state_names[IS_COUNT + 1] = {
	[IS_NONE] = "",
	[IS_UNKNOWN] = "Unknown",
	[IS_ENABLING_PROTECTION] = "EnablingProtection",
	[IS_INITIAL_REPLICATION_IN_PROGRESS] = "InitialReplicationInProgress",
	[IS_PROTECTED] = "Protected",
	[IS_FAILOVER_IN_PROGRESS] = "FailoverInProgress",
	[IS_FAILED_OVER] = "FailedOver",
	[IS_CHANGE_RECOVERY_POINT_IN_PROGRESS] = "ChangeRecoveryPointInProgress",
	[IS_COMMIT_IN_PROGRESS] = "CommitInProgress",
	[IS_FAILOVER_COMMITTED] = "FailoverCommitted",
	[IS_REPROTECT_IN_PROGRESS] = "ReprotectInProgress",
	[IS_RESYNCHRONIZATION_IN_PROGRESS] = "ResynchronizationInProgress",
	[IS_DISABLING_PROTECTION] = "DisablingProtection",
	[IS_MIGRATION_COMPLETED] = "MigrationCompleted",
	[IS_INITIAL_REPLICATION_FAILED] = "InitialReplicationFailed",
	[IS_FAILOVER_FAILED] = "FailoverFailed",
	[IS_REPROTECT_FAILED] = "ReprotectFailed",
	[IS_RESYNCHRONIZATION_FAILED] = "ResynchronizationFailed",
	[IS_COUNT] = NULL,
};

const char *item_state_name(enum item_state s)
{
	return (unsigned)s < IS_COUNT ? item_state_names[s] : "Unknown";
}

int item_state_parse(const char *name)
{
	for (int s = 0; s < IS_COUNT; s++)
		if (strcmp(item_state_names[s], name) == 0)
			return s;
	return -EINVAL;
}

int persist_job(struct vault_rec *v, struct job_rec *j)
{
	json_object *o, *tasks;
	char key[512];
	int rc;
	MODEL_LOCKED();

	if (v->readonly)
		return -EROFS;
	o = json_object_new_object(), tasks = json_object_new_array();

	if (!o || !tasks) {
		json_object_put(o);
		json_object_put(tasks);
		return -ENOMEM;
	}
	json_object_object_add(o, "id", json_object_new_string(j->id));
	json_object_object_add(o, "type", json_object_new_string(j->type->slug));
	json_object_object_add(o, "item", json_object_new_string(j->item));
	json_object_object_add(o, "state", json_object_new_string(job_state_name(j->state)));
	json_object_object_add(o, "started", json_object_new_int64(j->started));
	json_object_object_add(o, "ended", json_object_new_int64(j->ended));
	json_object_object_add(o, "error", json_object_new_string(j->error));
	json_object_object_add(o, "progress", json_object_new_int(j->progress));
	json_object_object_add(o, "bytes_total", json_object_new_int64((int64_t)j->bytes_total));
	json_object_object_add(o, "bytes_compared", json_object_new_int64((int64_t)j->bytes_compared));
	json_object_object_add(o, "bytes_transferred", json_object_new_int64((int64_t)j->bytes_transferred));
	if (j->type->finds_mismatches)
		json_object_object_add(o, "mismatched_bytes", json_object_new_int64((int64_t)j->mismatched_bytes));
	json_object_object_add(o, "ck_disk", json_object_new_int(j->ck_disk));
	json_object_object_add(o, "ck_offset", json_object_new_int64((int64_t)j->ck_offset));
	if (j->type->steps)
		json_object_object_add(o, "step", json_object_new_int(j->step));
	json_object_object_add(o, "args", json_object_new_string(j->args));
	json_object_object_add(o, "prev_state", json_object_new_string(item_state_name(j->prev_state)));
	if (j->plan[0])
		json_object_object_add(o, "plan", json_object_new_string(j->plan));
	for (int i = 0; i < j->ntasks; i++) {
		json_object *t = json_object_new_object();
		json_object_object_add(t, "name", json_object_new_string(j->tasks[i].name));
		json_object_object_add(t, "state", json_object_new_string(job_state_name(j->tasks[i].state)));
		json_object_object_add(t, "started", json_object_new_int64(j->tasks[i].started));
		json_object_object_add(t, "ended", json_object_new_int64(j->tasks[i].ended));
		json_object_array_add(tasks, t);
	}
	json_object_object_add(o, "tasks", tasks);
	snprintf(key, sizeof(key), "vaults/%s/jobs/%s.json", v->name, j->id);
	rc = put_json(v->region, key, o);
	if (rc == 0)
		j->dirty = 0;
	return rc;
}

/* Write the records of v's jobs (every vault's when v is NULL) that changed
 * since they were last written.  A running job's task changes and progress
 * only mark it dirty: writing them is the scheduler's, within a tick, or
 * the next other record's of its vault (persist_vault and persist_item
 * flush first), so a vault's records reach the medium in the order they
 * changed and a crash finds an earlier state of the job, never a later one
 * beside an earlier item.  Any earlier state is one a resume handles: a job
 * could always stop between two writes.  model_lock held. */
void jobs_flush(struct vault_rec *v)
{
	for (struct vault_rec *w = v ? v : M.vaults; w; w = v ? NULL : w->next) {
		if (w->readonly || !w->region->available)
			continue;
		for (struct job_rec *j = w->jobs; j; j = j->next)
			if (j->dirty)
				persist_job(w, j);
	}
}

/* ---- vault loading -------------------------------------------------- */

static int load_item_cb(void *arg, const char *name, int is_dir)
{
	struct vault_rec *v = arg;
	struct item_rec *it;
	json_object *o = NULL, *disks;
	char key[512];
	int rc;

	if (!is_dir)
		return 0;
	key_item(v, name, key, sizeof(key));
	rc = get_json(v->region->be, key, &o);
	if (rc == 0 && (!has(o, "state", json_type_string) || item_state_parse(js(o, "state")) < IS_SPEC_FIRST ||
			strcmp(js(o, "name"), name) != 0 ||
			!has(o, "disks", json_type_array))) {
		json_object_put(o);
		rc = -EBADMSG;
	}
	if (rc < 0 && rc != -EBADMSG)
		return 0; /* no item.json: an item directory being made or removed */
	it = calloc(1, sizeof(*it));
	if (!it) {
		json_object_put(o);
		return 1;
	}
	if (rc == -EBADMSG) {
		/* Shown, with why, and never written: nothing vanishes unsaid. */
		snprintf(it->name, sizeof(it->name), "%s", name);
		it->state = IS_UNKNOWN;
		record_damaged(v->region->be, key, 0, v->readonly, it->damaged, sizeof(it->damaged));
		snprintf(it->error, sizeof(it->error), "%s", it->damaged);
		it->next = v->items;
		v->items = it;
		vault_lists_changed(v);
		return 0;
	}
	it->state = item_state_parse(js(o, "state"));
	JCPY(it->name, o, "name"); JCPY(it->source_region, o, "source_region");
	JCPY(it->target_region, o, "target_region"); JCPY(it->active_region, o, "active_region");
	JCPY(it->vm_rg, o, "vm_rg"); JCPY(it->policy, o, "policy"); JCPY(it->target_rg, o, "target_rg");
	JCPY(it->target_sa, o, "target_sa"); JCPY(it->cache_sa, o, "cache_sa"); JCPY(it->aset, o, "aset");
	JCPY(it->network, o, "network"); JCPY(it->error, o, "error"); JCPY(it->job_id, o, "job");
	JCPY(it->test_failover, o, "test_failover");
	JCPY(it->tf_region, o, "tf_region");
	JCPY(it->tf_rg, o, "tf_rg");
	it->bwlimit = ju(o, "bwlimit");
	it->created = (time_t)ju(o, "created");
	it->resync_required = (int)ju(o, "resync_required");
	JCPY(it->resync_why, o, "resync_why");
	JCPY(it->group, o, "replication_group"); /* absent: no group */
	if (it->group[0]) {
		/* a name the tree could not show (a hand-edited record): no group */
		char why[ERR_MAX];
		if (name_generic_ok("replication group", it->group, why, sizeof(why)) < 0) {
			log_warn("item %s: %s in item.json: the item is in no group", it->name, why);
			it->group[0] = '\0';
		}
	}
	it->last_app_point_time = (time_t)ju(o, "last_app_point_time");
	if ((disks = ja(o, "disks")) != NULL) {
		size_t n = json_object_array_length(disks);
		for (size_t i = 0; i < n && i < MAX_DISKS; i++) {
			json_object *d = json_object_array_get_idx(disks, i);
			struct item_disk *id = &it->disks[it->ndisks++];
			JCPY(id->name, d, "name");
			id->size = ju(d, "size");
			id->managed = (int)ju(d, "managed");
			JCPY(id->src_parent, d, "src_parent");
			JCPY(id->replica, d, "replica");
			JCPY(id->replica_parent, d, "replica_parent");
			id->replica_managed = (int)ju(d, "replica_managed");
			id->synced_bytes = ju(d, "synced_bytes");
			JCPY(id->state, d, "state");
		}
	}
	excl_from_json(it, o);
	json_object_put(o);
	it->next = v->items;
	v->items = it;
	vault_lists_changed(v);
	return 0;
}

/* Into v's jobs, newest first: ids sort by start. */
static void job_insert(struct vault_rec *v, struct job_rec *j)
{
	struct job_rec **pp;
	for (pp = &v->jobs; *pp && strcmp((*pp)->id, j->id) > 0; pp = &(*pp)->next)
		;
	j->next = *pp;
	*pp = j;
	vault_lists_changed(v);
}

/* A job record that does not parse: kept aside, and a Failed job of the same
 * id (its type and item read from the id, "000042-reprotect-web01") stands in
 * for it, so the item's job link still leads somewhere that says what
 * happened.  It is not written back: the record stays aside until repaired. */
static int job_damaged(struct vault_rec *v, const char *key, const char *name, size_t idlen)
{
	struct job_rec *j = calloc(1, sizeof(*j));
	const char *rest = memchr(name, '-', idlen);
	char slug[NAME_MAX_];

	if (!j)
		return 1;
	snprintf(j->id, sizeof(j->id), "%.*s", (int)idlen, name);
	/* the longest slug that names a job type: slugs hold '-' themselves */
	for (const char *dash = rest ? rest + 1 : NULL, *end = name + idlen;
	     dash && (dash = memchr(dash, '-', (size_t)(end - dash))) != NULL; dash++) {
		snprintf(slug, sizeof(slug), "%.*s", (int)(dash - rest - 1), rest + 1);
		if (job_type_by_slug(slug)) {
			j->type = job_type_by_slug(slug);
			snprintf(j->item, sizeof(j->item), "%.*s", (int)(end - dash - 1), dash + 1);
		}
	}
	if (!j->type) {
		log_warn("record %s is damaged and its name names no job type; left as it is", key);
		free(j);
		return 0;
	}
	j->vault = v;
	j->state = JOB_FAILED;
	record_damaged(v->region->be, key, 1, v->readonly, j->error, sizeof(j->error));
	job_insert(v, j);
	return 0;
}

static int load_job_cb(void *arg, const char *name, int is_dir)
{
	struct vault_rec *v = arg;
	struct job_rec *j;
	json_object *o, *tasks;
	char key[512];
	size_t n = strlen(name);
	unsigned long long num;
	int rc;

	if (is_dir || n < 6 || strcmp(name + n - 5, ".json") != 0)
		return 0;
	/* Ids are never reused: the counter is at least every id on the medium,
	 * whatever vault.json says and whether this record reads or not. */
	num = strtoull(name, NULL, 10);
	if (num > v->next_job)
		v->next_job = num;
	snprintf(key, sizeof(key), "vaults/%s/jobs/%s", v->name, name);
	rc = get_json(v->region->be, key, &o);
	if (rc == 0 && (!job_type_by_slug(js(o, "type")) || strncmp(js(o, "id"), name, n - 5) != 0 ||
			js(o, "id")[n - 5] != '\0')) {
		json_object_put(o);
		rc = -EBADMSG;
	}
	if (rc == -EBADMSG)
		return job_damaged(v, key, name, n - 5);
	if (rc < 0)
		return 0;
	j = calloc(1, sizeof(*j));
	if (!j) {
		json_object_put(o);
		return 1;
	}
	JCPY(j->id, o, "id");
	j->type = job_type_by_slug(js(o, "type"));
	JCPY(j->item, o, "item");
	j->vault = v;
	j->state = job_state_parse(js(o, "state"));
	j->started = (time_t)ju(o, "started");
	j->ended = (time_t)ju(o, "ended");
	JCPY(j->error, o, "error");
	j->progress = (int)ju(o, "progress");
	j->bytes_total = ju(o, "bytes_total");
	j->bytes_compared = ju(o, "bytes_compared");
	j->bytes_transferred = ju(o, "bytes_transferred");
	j->mismatched_bytes = ju(o, "mismatched_bytes");
	j->ck_disk = (int)ju(o, "ck_disk");
	j->ck_offset = ju(o, "ck_offset");
	j->step = (int)ju(o, "step");
	JCPY(j->args, o, "args");
	{
		int prev = item_state_parse(js(o, "prev_state"));
		j->prev_state = prev >= IS_SPEC_FIRST ? prev : IS_NONE;
	}
	JCPY(j->plan, o, "plan");
	if ((tasks = ja(o, "tasks")) != NULL) {
		size_t nt = json_object_array_length(tasks);
		for (size_t i = 0; i < nt && i < MAX_TASKS; i++) {
			json_object *t = json_object_array_get_idx(tasks, i);
			struct task_rec *tr = &j->tasks[j->ntasks++];
			JCPY(tr->name, t, "name");
			tr->state = job_state_parse(js(t, "state"));
			tr->started = (time_t)ju(t, "started");
			tr->ended = (time_t)ju(t, "ended");
		}
	}
	json_object_put(o);
	job_insert(v, j);
	return 0;
}

static void policy_defaults(struct policy_info *pi, const char *name)
{
	memset(pi, 0, sizeof(*pi));
	snprintf(pi->name, sizeof(pi->name), "%s", name);
	pi->retention_hours = 24;
	pi->crash_frequency_seconds = 300;
	pi->app_frequency_minutes = 0;
	pi->rpo_threshold_seconds = 900;
}

int policy_add(struct vault_rec *v, const char *name, struct policy_rec **out)
{
	struct policy_rec *p = calloc(1, sizeof(*p)), **pp;
	if (!p)
		return -ENOMEM;
	policy_defaults(&p->info, name);
	for (pp = &v->policies; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	if (out)
		*out = p;
	return 0;
}

/* The records of a vault that files above this one read (recovery plans):
 * registered at start-up, read after the vault's own. */
static int (*vault_more_loader)(struct vault_rec *v);

int vault_load(struct vault_rec *v)
{
	json_object *o, *a;
	char key[256];
	int rc;

	snprintf(key, sizeof(key), "vaults/%s/vault.json", v->name);
	rc = get_json(v->region->be, key, &o);
	if (rc == 0 && (!has(o, "next_job", json_type_int) || !has(o, "policies", json_type_array) ||
			!has(o, "network_mappings", json_type_array))) {
		json_object_put(o);
		rc = -EBADMSG;
	}
	if (rc == -EBADMSG) {
		/* Kept where it is (an operator repairs it) and never written: its
		 * policies and mappings are unknown, so the vault's own settings
		 * are refused; items and jobs load, failover still works, and job
		 * ids come from the job records. */
		record_damaged(v->region->be, key, 0, v->readonly, v->damaged, sizeof(v->damaged));
		snprintf(v->error, sizeof(v->error), "%s", v->damaged);
		goto items;
	}
	if (rc == -ENOENT) {
		/* A new vault: the default policy, as the portal creates it. */
		rc = policy_add(v, "24-hour-retention-policy", NULL);
		if (rc == 0 && !v->readonly)
			rc = persist_vault(v);
		return rc;
	}
	if (rc < 0)
		return rc;
	v->next_job = ju(o, "next_job");
	if ((a = ja(o, "policies")) != NULL) {
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *po = json_object_array_get_idx(a, i);
			struct policy_rec *p;
			if (policy_add(v, js(po, "name"), &p) < 0)
				break;
			p->info.retention_hours = ju(po, POLICY_RETENTION);
			p->info.crash_frequency_seconds = ju(po, POLICY_CRASH);
			p->info.app_frequency_minutes = ju(po, POLICY_APP);
			p->info.rpo_threshold_seconds = ju(po, POLICY_RPO);
		}
	}
	if ((a = ja(o, "network_mappings")) != NULL) {
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *mo = json_object_array_get_idx(a, i);
			struct mapping_rec *m = calloc(1, sizeof(*m));
			if (!m)
				break;
			JCPY(m->src_region, mo, "source_region");
			JCPY(m->vnet, mo, "vnet");
			JCPY(m->target, mo, "target");
			m->next = v->maps;
			v->maps = m;
		}
	}
	json_object_put(o);
items:
	snprintf(key, sizeof(key), "vaults/%s/items", v->name);
	v->region->be->ops->list(v->region->be, key, load_item_cb, v);
	snprintf(key, sizeof(key), "vaults/%s/jobs", v->name);
	v->region->be->ops->list(v->region->be, key, load_job_cb, v);
	if (vault_more_loader)
		vault_more_loader(v);
	return 0;
}

void vault_loader_register(int (*load)(struct vault_rec *v))
{
	vault_more_loader = load;
}

/* ---- the config file (config.h) ---------------------------------- */

int config_parse(json_object *o, const char *path, struct config *cf, char *err, size_t errlen)
{
	json_object *a, *x;
	size_t n;

	memset(cf, 0, sizeof(*cf));
	if (json_object_object_get_ex(o, "lease_seconds", &x)) {
		cf->lease_seconds = json_object_get_int(x);
		if (cf->lease_seconds < 15 || cf->lease_seconds > 60) {
			snprintf(err, errlen, "config %s: lease_seconds must be 15..60", path);
			return -EINVAL;
		}
	}
	if (json_object_object_get_ex(o, "hook-timeout-seconds", &x)) {
		errno = 0;
		cf->hook_timeout = json_object_get_int(x);
		if (!json_object_is_type(x, json_type_int) || errno || cf->hook_timeout < 1 ||
		    cf->hook_timeout > 86400) {
			snprintf(err, errlen, "config %s: hook-timeout-seconds must be a whole number 1..86400", path);
			return -EINVAL;
		}
	}
	if (!json_object_object_get_ex(o, "regions", &a) || !json_object_is_type(a, json_type_array)) {
		snprintf(err, errlen, "config %s: no \"regions\" array", path);
		return -EINVAL;
	}
	n = json_object_array_length(a);
	cf->regions = calloc(n ? n : 1, sizeof(*cf->regions));
	if (!cf->regions)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, cf->nregions++) {
		json_object *ro = json_object_array_get_idx(a, i);
		struct config_region *cr = &cf->regions[i];
		cr->bc = (struct backend_conf){
			.region = js(ro, "name"), .kind = js(ro, "backend"), .path = js(ro, "path"),
			.endpoint = js(ro, "endpoint"), .account = js(ro, "account"),
			.container = js(ro, "container"), .lease_seconds = cf->lease_seconds,
		};
		cr->key_env = cr->key_file = "";
		if (!*cr->bc.region || !backend_find(cr->bc.kind)) {
			snprintf(err, errlen, "config %s: region %zu needs a name and backend local|azblob", path, i);
			return -EINVAL;
		}
		if (strcmp(cr->bc.kind, "azblob") != 0)
			continue;
		cr->key_env = js(ro, "key_env");
		cr->key_file = *cr->key_env ? "" : js(ro, "key_file");
		if (!*cr->key_env && !*cr->key_file) { /* a SAS stands in for the key */
			cr->sas = 1;
			cr->key_env = js(ro, "sas_env");
			cr->key_file = *cr->key_env ? "" : js(ro, "sas_file");
		}
		if (!*cr->key_env && !*cr->key_file) {
			snprintf(err, errlen, "region %s: key_env, key_file, sas_env or sas_file is required",
				 cr->bc.region);
			return -EINVAL;
		}
	}
	if (json_object_object_get_ex(o, "vaults", &a)) {
		if (!json_object_is_type(a, json_type_array)) {
			snprintf(err, errlen, "config %s: \"vaults\" is not an array", path);
			return -EINVAL;
		}
		n = json_object_array_length(a);
		cf->vaults = calloc(n ? n : 1, sizeof(*cf->vaults));
		if (!cf->vaults)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++, cf->nvaults++) {
			json_object *vo = json_object_array_get_idx(a, i);
			cf->vaults[i].name = js(vo, "name");
			cf->vaults[i].region = js(vo, "region");
		}
	}
	if (json_object_object_get_ex(o, "workers", &x)) {
		cf->has_workers = 1;
		cf->workers = json_object_get_int(x);
	}
	if (json_object_object_get_ex(o, "hooks", &x))
		cf->hooks = json_object_get_string(x);
	return 0;
}

void config_free(struct config *cf)
{
	free(cf->regions);
	free(cf->vaults);
	memset(cf, 0, sizeof(*cf));
}

/* ---- policies ---------------------------------------------------- */

time_t item_period(struct vault_rec *v, const struct item_rec *it)
{
	struct policy_rec *p = policy_find(v, it->policy);
	return (time_t)(p ? p->info.crash_frequency_seconds : 300);
}
