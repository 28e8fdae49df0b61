/*
 * model.c - the model's life: configuration, start-up and shut-down, the
 * JSON records that make it durable, and the scheduler thread.
 *
 * Start-up reads the config (or builds the embedded default), opens every
 * region's backend, takes each vault's lease (or serves it read-only when
 * another daemon holds it), loads inventories and vault state, resumes
 * interrupted jobs, and starts the worker pool and the scheduler.  The
 * scheduler ticks every 250 ms: it probes regions, loads a region's inventory
 * when it comes back, renews leases, and hands due replication cycles to the
 * worker pool (replication_tick()).
 *
 * A vault this daemon does not manage (another holds its lease, or its region
 * was down at start) is read-only: every ~5 s the scheduler tries the lease
 * again, and until it gets it reloads the vault's records so the tree shows
 * the manager's current state.  Taking the lease ("taken over") reloads the
 * vault once more, opens its recovery-point chains writable (which rolls back
 * a cycle the dead manager cut short) and resumes its interrupted jobs.  A
 * manager whose renewal is refused (its lease expired and another took it)
 * turns read-only.  Records are loaded into a scratch vault without
 * model_lock and swapped in under it; items are updated in place, so a
 * pointer to one stays valid.
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
#include "sched.h"
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

static pthread_t sched_thread;
static volatile int sched_stop;
static int sched_started;

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

/* ---- keys ---------------------------------------------------------- */

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

int persist_item(struct vault_rec *v, struct item_rec *it)
{
	json_object *o, *disks;
	char key[512];
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
	S("name", name); S("state", state); S("source_region", source_region);
	S("target_region", target_region); S("active_region", active_region); S("vm_rg", vm_rg);
	S("policy", policy); S("target_rg", target_rg); S("target_sa", target_sa);
	S("cache_sa", cache_sa); S("aset", aset); S("network", network); S("error", error);
	S("job", job_id); S("test_failover", test_failover); S("tf_region", tf_region); S("tf_rg", tf_rg);
	S("resync_why", resync_why);
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

static const char *const job_state_names[] = {"NotStarted", "InProgress", "Succeeded", "Failed", "Cancelled"};

static int job_state_parse(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, job_state_names[i]) == 0)
			return i;
	return JOB_FAILED;
}

const char *job_state_name(int s);
const char *job_state_name(int s)
{
	return (s >= 0 && s < 5) ? job_state_names[s] : "Failed";
}

int state_transitional(const char *state)
{
	static const char suffix[] = "InProgress";
	size_t n = strlen(state), k = sizeof(suffix) - 1;
	return strcmp(state, "EnablingProtection") == 0 || strcmp(state, "DisablingProtection") == 0 ||
	       (n > k && strcmp(state + n - k, suffix) == 0);
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
	if (j->type == &JT_VERIFY)
		json_object_object_add(o, "mismatched_bytes", json_object_new_int64((int64_t)j->mismatched_bytes));
	json_object_object_add(o, "ck_disk", json_object_new_int(j->ck_disk));
	json_object_object_add(o, "ck_offset", json_object_new_int64((int64_t)j->ck_offset));
	if (j->type->steps)
		json_object_object_add(o, "step", json_object_new_int(j->step));
	json_object_object_add(o, "args", json_object_new_string(j->args));
	json_object_object_add(o, "prev_state", json_object_new_string(j->prev_state));
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
	if (rc == 0 && (!has(o, "state", json_type_string) || strcmp(js(o, "name"), name) != 0 ||
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
		snprintf(it->state, sizeof(it->state), "Unknown");
		record_damaged(v->region->be, key, 0, v->readonly, it->damaged, sizeof(it->damaged));
		snprintf(it->error, sizeof(it->error), "%s", it->damaged);
		it->next = v->items;
		v->items = it;
		vault_lists_changed(v);
		return 0;
	}
	JCPY(it->name, o, "name"); JCPY(it->state, o, "state"); JCPY(it->source_region, o, "source_region");
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
	JCPY(j->prev_state, o, "prev_state");
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

int policy_add(struct vault_rec *v, const char *name, struct policy_rec **out);
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
	return 0;
}

/* ---- configuration ------------------------------------------------- */

/* A secret's file (key_file or sas_file, named by what). */
static char *read_key_file(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char buf[2048]; /* a SAS with every field is some 300 bytes */
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || (st.st_mode & 0077)) {
		snprintf(err, errlen, "%s %s is readable by others (chmod 600 it)", what, path);
		close(fd);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(err, errlen, "%s %s is empty", what, path);
		return NULL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static int add_region(const struct backend_conf *bc, char *err, size_t errlen)
{
	struct region *r = calloc(1, sizeof(*r)), **pp;
	int rc;
	if (!r)
		return -ENOMEM;
	snprintf(r->name, sizeof(r->name), "%s", bc->region);
	rc = backend_open(bc, &r->be);
	if (rc < 0) {
		snprintf(err, errlen, "region %s: cannot open %s backend: %s", bc->region, bc->kind, strerror(-rc));
		free(r);
		return rc;
	}
	r->be->ops->describe(r->be, r->describe, sizeof(r->describe));
	for (pp = &M.regions; *pp; pp = &(*pp)->next)
		;
	*pp = r;
	return 0;
}

static int add_vault(const char *name, const char *region, char *err, size_t errlen)
{
	struct vault_rec *v, **pp;
	struct region *r = region_find(region);
	if (!r) {
		snprintf(err, errlen, "vault %s: no region %s", name, region);
		return -EINVAL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->region = r;
	for (pp = &M.vaults; *pp; pp = &(*pp)->next)
		;
	*pp = v;
	return 0;
}

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

static int load_config(const char *path, char *err, size_t errlen)
{
	json_object *o = json_object_from_file(path);
	struct config cf;
	int rc;

	if (!o) {
		snprintf(err, errlen, "config %s: %s", path, json_util_get_last_err());
		return -EINVAL;
	}
	rc = config_parse(o, path, &cf, err, errlen);
	if (rc == 0 && cf.lease_seconds)
		M.lease_seconds = cf.lease_seconds;
	if (rc == 0 && cf.hook_timeout)
		M.hook_timeout = cf.hook_timeout;
	for (size_t i = 0; i < cf.nregions && rc == 0; i++) {
		struct config_region *cr = &cf.regions[i];
		char *key = NULL;
		if (*cr->key_env) {
			const char *e = getenv(cr->key_env);
			key = e ? strdup(e) : NULL;
			if (!key)
				snprintf(err, errlen, "region %s: environment variable %s is not set", cr->bc.region,
					 cr->key_env);
		} else if (*cr->key_file) {
			key = read_key_file(cr->sas ? "sas_file" : "key_file", cr->key_file, err, errlen);
		}
		if ((*cr->key_env || *cr->key_file) && !key) {
			rc = -EINVAL;
			break;
		}
		if (cr->sas)
			cr->bc.sas = key;
		else
			cr->bc.key = key;
		rc = add_region(&cr->bc, err, errlen);
		if (key) {
			explicit_bzero(key, strlen(key));
			free(key);
		}
	}
	for (size_t i = 0; i < cf.nvaults && rc == 0; i++)
		rc = add_vault(cf.vaults[i].name, cf.vaults[i].region, err, errlen);
	if (rc == 0 && cf.has_workers)
		M.workers = cf.workers;
	if (rc == 0 && cf.hooks && !(M.hooks_dir = strdup(cf.hooks)))
		rc = -ENOMEM;
	config_free(&cf);
	json_object_put(o);
	return rc;
}

static int default_config(char *err, size_t errlen)
{
	static const char *const names[] = {"westeurope", "northeurope"};
	char path[4096];
	int rc;
	for (int i = 0; i < 2; i++) {
		struct backend_conf bc = {.region = names[i], .kind = "local", .path = path};
		snprintf(path, sizeof(path), "%s/regions/%s", M.state_dir, names[i]);
		rc = add_region(&bc, err, errlen);
		if (rc < 0)
			return rc;
	}
	return add_vault("asr-vault", "northeurope", err, errlen);
}

/* First sight of a region by this state directory: make it (directory or
 * container, and the marker).  Later a missing region stays missing: that
 * is an outage, not something to paper over with an empty region. */
static void region_first_init(struct region *r)
{
	char stamp[4096], reason[256];
	int fd;
	snprintf(stamp, sizeof(stamp), "%s/initialized", M.state_dir);
	mkdir(stamp, 0700);
	snprintf(stamp, sizeof(stamp), "%s/initialized/%s", M.state_dir, r->name);
	if (access(stamp, F_OK) == 0)
		return;
	if (r->be->ops->probe(r->be, reason, sizeof(reason)) < 0) {
		int rc = r->be->ops->init_region(r->be);
		if (rc < 0) {
			log_error("region %s: cannot initialise: %s", r->name, strerror(-rc));
			return;
		}
	}
	fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

/* ---- scheduler ----------------------------------------------------- */

static void probe_regions(void)
{
	for (struct region *r = M.regions; r; r = r->next) {
		char reason[256] = "";
		int ok = r->be->ops->probe(r->be, reason, sizeof(reason)) == 0;
		lock_model();
		if (ok != r->available)
			log_at(ok ? LVL_INFO : LVL_WARN, "region %s is now %s%s%s", r->name,
			       ok ? "available" : "unavailable", ok ? "" : ": ", ok ? "" : reason);
		if (ok && !r->available) /* back: cycles that were backing off retry now */
			for (struct vault_rec *v = M.vaults; v; v = v->next)
				for (struct item_rec *it = v->items; it; it = it->next)
					if (it->failing) {
						it->next_cycle = time(NULL);
						sched_item(v, it);
					}
		r->available = ok;
		snprintf(r->reason, sizeof(r->reason), "%s", ok ? "" : reason);
		if (ok && !r->loaded)
			region_load(r);
		unlock_model();
	}
}

/* ---- lease takeover and read-only reload ------------------------------ */

#define TAKEOVER_EVERY 5      /* seconds between lease tries / reloads */
#define CHAIN_REFRESH_EVERY 6 /* reloads between re-reads of the point catalogs */

/* Items that left a vault on a reload: a reader may still hold the pointer
 * for a moment (vault.c chain_of), so they are freed at shut-down only.
 * Protected by model_lock. */
static struct item_rec *retired_items;

static void free_vault_lists(struct policy_rec *p, struct mapping_rec *m, struct job_rec *j)
{
	while (p) { struct policy_rec *n = p->next; free(p); p = n; }
	while (m) { struct mapping_rec *n = m->next; free(m); m = n; }
	while (j) { struct job_rec *n = j->next; free(j); j = n; }
}

/* A scratch copy of v to load records into, without model_lock. */
static void vault_scratch(struct vault_rec *tmp, const struct vault_rec *v, int readonly)
{
	memset(tmp, 0, sizeof(*tmp));
	snprintf(tmp->name, sizeof(tmp->name), "%s", v->name);
	tmp->region = v->region;
	tmp->readonly = readonly;
}

static void scratch_free(struct vault_rec *tmp)
{
	free_vault_lists(tmp->policies, tmp->maps, tmp->jobs);
	while (tmp->items) { struct item_rec *n = tmp->items->next; free(tmp->items); tmp->items = n; }
	tmp->policies = NULL, tmp->maps = NULL, tmp->jobs = NULL;
	vault_lists_changed(tmp);
}

/* Take what the records say from src; keep what this process learned at run
 * time (its chain, running job, cycle counters and the points it read). */
static void item_refresh(struct item_rec *dst, const struct item_rec *src)
{
	struct item_rec keep = *dst;
	*dst = *src;
	dst->next = keep.next;
	dst->job = keep.job;
	dst->chain = keep.chain;
	dst->chain_ro = keep.chain_ro;
	dst->cycle_running = keep.cycle_running;
	dst->next_cycle = keep.next_cycle;
	dst->last_cycle = keep.last_cycle;
	dst->cycles = keep.cycles;
	dst->cycle_failures = keep.cycle_failures;
	dst->bytes_replicated = keep.bytes_replicated;
	dst->failing = keep.failing;
	memcpy(dst->fail_reason, keep.fail_reason, sizeof(dst->fail_reason));
	memcpy(dst->last_point, keep.last_point, sizeof(dst->last_point));
	memcpy(dst->last_app_point, keep.last_app_point, sizeof(dst->last_app_point));
	dst->last_point_time = keep.last_point_time;
	dst->npoints = keep.npoints;
	dst->cs = keep.cs; /* the turn holder's; a record never carries one */
	memcpy(dst->disk_read, keep.disk_read, sizeof(dst->disk_read));
	memcpy(dst->disk_sent, keep.disk_sent, sizeof(dst->disk_sent));
	memcpy(dst->whole_why, keep.whole_why, sizeof(dst->whole_why));
}

/* Swap the records loaded into tmp into v (model_lock held).  drop_chains
 * retires every open chain so the next user opens it again (as the vault's
 * new mode wants, and with the current catalog).  tmp is left empty. */
static void vault_swap(struct vault_rec *v, struct vault_rec *tmp, int drop_chains)
{
	struct policy_rec *op = v->policies;
	struct mapping_rec *om = v->maps;
	struct job_rec *oj = v->jobs;
	struct item_rec **pp;

	v->policies = tmp->policies;
	v->maps = tmp->maps;
	v->jobs = tmp->jobs;
	vault_lists_changed(v);
	v->next_job = tmp->next_job;
	memcpy(v->damaged, tmp->damaged, sizeof(v->damaged));
	tmp->policies = NULL, tmp->maps = NULL, tmp->jobs = NULL;
	/* A job a worker still runs (this daemon just lost the lease) keeps its
	 * record: the worker holds the pointer.  Every other old one goes. */
	while (oj) {
		struct job_rec *j = oj, **jp;
		int running = 0;
		oj = j->next;
		for (struct item_rec *it = v->items; it; it = it->next)
			running |= it->job == j;
		if (!running) {
			free(j);
			continue;
		}
		for (jp = &v->jobs; *jp && strcmp((*jp)->id, j->id) != 0; jp = &(*jp)->next)
			;
		if (*jp) {
			j->next = (*jp)->next;
			free(*jp);
		} else {
			j->next = NULL; /* not in the records yet: last */
		}
		*jp = j;
	}
	for (struct job_rec *j = v->jobs; j; j = j->next)
		j->vault = v;
	free_vault_lists(op, om, NULL);

	/* Items gone from the records leave; the others are updated in place. */
	for (pp = &v->items; *pp;) {
		struct item_rec *it = *pp, *t;
		for (t = tmp->items; t && strcmp(t->name, it->name) != 0; t = t->next)
			;
		if (t) {
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		item_close_chain(it);
		sched_remove(it);
		it->next = retired_items;
		retired_items = it;
	}
	/* the lookups below must not find a retired item; the ones added here
	 * have names no later lookup of this loop asks for */
	vault_lists_changed(v);
	while (tmp->items) {
		struct item_rec *t = tmp->items, *it = item_find(v, t->name);
		tmp->items = t->next;
		if (it) {
			item_refresh(it, t);
			free(t);
		} else {
			t->next = v->items;
			v->items = t;
		}
	}
	vault_lists_changed(v);
	vault_lists_changed(tmp);
	for (struct item_rec *it = v->items; it && drop_chains; it = it->next)
		item_close_chain(it);
}

/* Open the chains of a read-only vault's items, so last-recovery-point and
 * the points show without anyone listing them first (model_lock NOT held).
 * Only this thread removes items from a read-only vault, so `it` stays valid. */
static void vault_open_chains(struct vault_rec *v)
{
	struct strlist names = {0};

	lock_model();
	for (struct item_rec *it = v->items; it; it = it->next)
		if (!it->chain && !it->damaged[0] && strcmp(it->state, "EnablingProtection") != 0 &&
		    strcmp(it->state, "InitialReplicationFailed") != 0 &&
		    strcmp(it->state, "DisablingProtection") != 0 && sl_add(&names, it->name) < 0)
			break;
	unlock_model();
	for (int i = 0; i < names.n; i++) {
		struct item_rec *it;
		lock_model();
		it = v->readonly ? item_find(v, names.v[i]) : NULL;
		unlock_model();
		if (it)
			item_open_chain(v, it);
	}
	sl_free(&names);
}

/* A read-only vault: try its lease; got it -> manage the vault from now on,
 * else reload its records (model_lock NOT held). */
static void vault_takeover_or_reload(struct vault_rec *v, int refresh_chains)
{
	struct vault_rec tmp;
	void *lease = NULL;
	char key[256];
	int rc;

	if (!v->region->available)
		return;
	snprintf(key, sizeof(key), "vaults/%s/lease", v->name);
	rc = v->region->be->ops->lease_acquire(v->region->be, key, &lease);
	if (rc < 0 && rc != -EBUSY)
		log_error("vault %s: cannot take its lease: %s", v->name, strerror(-rc));
	vault_scratch(&tmp, v, lease == NULL);
	rc = vault_load(&tmp);
	if (rc < 0) {
		log_error("vault %s: cannot load: %s", v->name, strerror(-rc));
		scratch_free(&tmp);
		if (lease)
			v->region->be->ops->lease_release(lease);
		return;
	}
	lock_model();
	vault_swap(v, &tmp, lease != NULL || refresh_chains);
	if (lease) {
		v->lease = lease;
		v->lease_ok = time(NULL);
		v->readonly = 0;
		v->error[0] = '\0';
		sched_vault(v); /* its items cycle here from now on */
	}
	unlock_model();
	scratch_free(&tmp);
	if (lease) {
		logmsg("vault %s: taken over; this asrfs manages it now", v->name);
		job_resume_vault(v);
	} else {
		vault_open_chains(v);
	}
}

/* Self-fencing.  A vault lease this daemon cannot renew for FENCE_PART of
 * its term (the region does not answer) is given up before it can expire and
 * another daemon take it: from then on the vault is read-only here, so its
 * jobs and cycles stop at their next checkpoint (left for the next manager to
 * resume or roll back) and no record of it is written.  The takeover path
 * wins it back when the region answers and nobody else took it. */
#define FENCE_PART(secs) ((secs) * 3 / 4)

static void lease_release_work(void *arg)
{
	struct { struct backend *be; void *lease; } *r = arg;
	r->be->ops->lease_release(r->lease);
	free(r);
}

/* Stop managing v (sched thread, model_lock NOT held).  The lease is
 * released by a worker: on a region that does not answer that can take the
 * request timeout, which must not stall the scheduler. */
static void vault_fence(struct vault_rec *v)
{
	struct { struct backend *be; void *lease; } *r = malloc(sizeof(*r));
	void *lease;

	lock_model();
	lease = v->lease;
	v->lease = NULL;
	v->readonly = 1;
	unlock_model();
	if (!lease)
		return;
	if (r) {
		r->be = v->region->be;
		r->lease = lease;
		if (pool_submit(WORK_JOB, lease_release_work, r, lease_release_work) == 0)
			return;
		free(r);
	}
	v->region->be->ops->lease_release(lease);
}

static int lease_term(void) { return M.lease_seconds ? M.lease_seconds : 60; }

/* Renew a managed vault's lease (its region answers probes); refused ->
 * another daemon has it now; failing too long -> fence. */
static void vault_renew(struct vault_rec *v)
{
	int rc = v->region->be->ops->lease_renew(v->lease);
	time_t now = time(NULL);

	if (rc == 0) {
		lock_model();
		v->lease_ok = now;
		unlock_model();
		return;
	}
	if (rc == -EBUSY || rc == -ENOENT) {
		vault_fence(v);
		log_warn("vault %s: its lease was taken by another asrfs; serving it read-only", v->name);
	} else {
		log_warn("vault %s: lease renewal failed: %s (retrying)", v->name, strerror(-rc));
	}
}

/* Fence every managed vault whose expiring lease was last renewed too long
 * ago: its region does not answer, or this process was stopped (SIGSTOP, a
 * frozen VM) and its workers may resume writing any moment.  No I/O, so it
 * runs every turn of the scheduler, before cycles are handed out.  Returns
 * whether one was fenced. */
static int fence_stale(time_t now)
{
	int fenced = 0;

	for (struct vault_rec *v = M.vaults; v; v = v->next) {
		if (!v->lease || !(v->region->be->ops->flags & BACKEND_LEASE_EXPIRES) ||
		    now - v->lease_ok < FENCE_PART(lease_term()))
			continue;
		vault_fence(v);
		log_warn("vault %s: lease not renewed for %ld s: given up before it can expire; serving the vault "
		       "read-only until it can be taken again", v->name, (long)(now - v->lease_ok));
		fenced = 1;
	}
	return fenced;
}

static void *sched_main(void *arg)
{
	time_t last_probe = 0, last_renew = time(NULL), last_takeover = time(NULL);
	int renew_every = 15, reloads = 0, lost = 0;
	(void)arg;
	if (M.lease_seconds && M.lease_seconds / 4 < renew_every)
		renew_every = M.lease_seconds / 4 > 3 ? M.lease_seconds / 4 : 3;
	while (!sched_stop) {
		time_t now = time(NULL);
		/* First, with no I/O: after a stall (this process stopped, a
		 * request hung) the lease may be another's by now.  Renewing might
		 * still work, but the workers have been writing since the stall
		 * ended; fence and take the vault again through the takeover path
		 * (which rolls back what a stopped cycle left and resumes jobs). */
		lost |= fence_stale(now);
		if (now - last_probe >= 2) {
			probe_regions();
			last_probe = now;
		}
		if (now - last_renew >= renew_every) {
			for (struct vault_rec *v = M.vaults; v; v = v->next)
				if (v->lease && v->region->available) {
					vault_renew(v);
					lost |= !v->lease;
				}
			last_renew = now;
		}
		if (now - last_takeover >= TAKEOVER_EVERY) {
			int refresh = lost || ++reloads % CHAIN_REFRESH_EVERY == 0;
			for (struct vault_rec *v = M.vaults; v; v = v->next)
				if (v->readonly)
					vault_takeover_or_reload(v, refresh);
			chains_sweep(); /* the read-only chains a refresh retired */
			lost = 0;
			last_takeover = time(NULL);
		}
		replication_tick(now);
		lock_model();
		jobs_unpark();
		jobs_flush(NULL);
		unlock_model();
		usleep(250 * 1000);
	}
	return NULL;
}

/* ---- start-up: each item's first cycle --------------------------------- */

time_t item_period(struct vault_rec *v, const struct item_rec *it)
{
	struct policy_rec *p = policy_find(v, it->policy);
	return (time_t)(p ? p->info.crash_frequency_seconds : 300);
}

/* model_lock held: a freshly loaded item's next cycle, once its newest point
 * is known: a period after that point, as if the daemon had not stopped;
 * now when that is past or it has none (or its points could not be read:
 * the cycle then says why). */
static void first_cycle_from_points(struct vault_rec *v, struct item_rec *it, int chain_ok, time_t now)
{
	time_t period = item_period(v, it), due = now;
	if (chain_ok && it->last_point_time)
		due = it->last_point_time + period;
	if (due < now)
		due = now;
	if (due > now + period) /* a point from the future: a clock moved back */
		due = now + period;
	it->next_cycle = due;
	sched_item(v, it);
}

/* On the worker pool, once after start: read each Protected item's point
 * chain (which rolls back a cycle a crash cut short) to learn its newest
 * point, and schedule its first cycle from it.  Until then every item waits
 * a whole period, so a mount neither runs every item's cycle at once nor
 * holds model_lock across a thousand catalogs: an item is claimed as a
 * cycle claims it (cycle_running, which a job waits for) while its chain
 * opens without the lock. */
static void schedules_from_points(void *arg)
{
	int n = 0;
	(void)arg;
	for (struct vault_rec *v = M.vaults; v && !jobs_stopping_now(); v = v->next) {
		struct strlist names = {0};
		lock_model();
		for (struct item_rec *it = v->items; it && !v->readonly; it = it->next)
			if (strcmp(it->state, "Protected") == 0 && !it->damaged[0] && sl_add(&names, it->name) < 0)
				break;
		unlock_model();
		for (int i = 0; i < names.n && !jobs_stopping_now(); i++) {
			struct item_rec *it;
			int rc;
			lock_model();
			it = item_find(v, names.v[i]);
			if (!it || it->job || it->cycle_running || v->readonly) {
				unlock_model(); /* a job or a cycle reads it itself */
				continue;
			}
			it->cycle_running = 1;
			unlock_model();
			rc = item_open_chain(v, it);
			lock_model();
			it->cycle_running = 0;
			first_cycle_from_points(v, it, rc == 0, time(NULL));
			unlock_model();
			n++;
		}
		sl_free(&names);
	}
	log_debug("scheduled the first cycle of %d item(s) from their newest points", n);
}

int core_start(const struct core_opts *o, char *err, size_t errlen)
{
	int rc;

	memset(&M, 0, sizeof(M));
	M.started = time(NULL);
	M.state_dir = strdup(o->state_dir);
	M.workers = 4;
	M.hook_timeout = 60;
	if (!M.state_dir)
		return -ENOMEM;
	if (mkdir(M.state_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "state directory %s: %s", M.state_dir, strerror(errno));
		return -errno;
	}
	rc = o->config_path ? load_config(o->config_path, err, errlen) : default_config(err, errlen);
	if (rc < 0)
		return rc;
	if (!M.hooks_dir && asprintf(&M.hooks_dir, "%s/hooks", M.state_dir) < 0)
		return -ENOMEM;
	if (M.workers < 1 || M.workers > 64)
		M.workers = 4;

	for (struct region *r = M.regions; r; r = r->next)
		region_first_init(r);
	probe_regions();

	lock_model();
	for (struct vault_rec *v = M.vaults; v; v = v->next) {
		char key[256];
		if (!v->region->available) {
			log_warn("vault %s: its region %s is unavailable; the vault stays empty and read-only until "
			       "it returns", v->name, v->region->name);
			v->readonly = 1; /* the scheduler takes the lease and loads it then */
			continue;
		}
		snprintf(key, sizeof(key), "vaults/%s/lease", v->name);
		rc = v->region->be->ops->lease_acquire(v->region->be, key, &v->lease);
		v->lease_ok = time(NULL);
		if (rc == -EBUSY) {
			v->readonly = 1;
			logmsg("vault %s is managed by another asrfs; serving it read-only", v->name);
		} else if (rc < 0) {
			log_error("vault %s: cannot take its lease: %s", v->name, strerror(-rc));
			v->readonly = 1;
		}
		rc = vault_load(v);
		if (rc < 0)
			log_error("vault %s: cannot load: %s", v->name, strerror(-rc));
		/* a period from now until schedules_from_points knows better (a
		 * read-only vault's items cycle at once when it is taken over) */
		for (struct item_rec *it = v->items; it && !v->readonly; it = it->next)
			it->next_cycle = time(NULL) + item_period(v, it);
		if (!v->readonly)
			sched_vault(v);
	}
	unlock_model();

	rc = jobs_start(M.workers);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start workers: %s", strerror(-rc));
		return rc;
	}
	job_resume_all();
	if (pool_submit(WORK_CYCLE, schedules_from_points, NULL, NULL) < 0) {
		/* no reading ahead: every item cycles now, as it finds out */
		lock_model();
		for (struct vault_rec *v = M.vaults; v; v = v->next)
			for (struct item_rec *it = v->items; it; it = it->next)
				first_cycle_from_points(v, it, 0, time(NULL));
		unlock_model();
	}
	sched_stop = 0;
	rc = pthread_create(&sched_thread, NULL, sched_main, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot start the scheduler: %s", strerror(rc));
		return -rc;
	}
	sched_started = 1;
	return 0;
}

void core_stop(void)
{
	if (sched_started) {
		sched_stop = 1;
		pthread_join(sched_thread, NULL);
		sched_started = 0;
	}
	jobs_stop();
	lock_model();
	sched_clear();
	jobs_flush(NULL); /* before the leases go */
	for (struct vault_rec *v = M.vaults; v; v = v->next) {
		for (struct item_rec *it = v->items; it; it = it->next)
			item_close_chain(it);
		if (v->lease)
			v->region->be->ops->lease_release(v->lease);
		v->lease = NULL;
	}
	for (struct region *r = M.regions; r; r = r->next)
		region_unload(r);
	unlock_model();
	while (retired_items) {
		struct item_rec *it = retired_items;
		retired_items = it->next;
		cycle_state_free(it->cs);
		free(it);
	}
	protect_shutdown();
	protect_free_maps();
	gates_free();
	while (M.vaults) {
		struct vault_rec *v = M.vaults;
		M.vaults = v->next;
		while (v->policies) { struct policy_rec *p = v->policies; v->policies = p->next; free(p); }
		while (v->maps) { struct mapping_rec *m = v->maps; v->maps = m->next; free(m); }
		while (v->items) { struct item_rec *i = v->items; v->items = i->next; free(i); }
		while (v->jobs) { struct job_rec *j = v->jobs; v->jobs = j->next; free(j); }
		vault_lists_changed(v);
		free(v);
	}
	while (M.regions) {
		struct region *r = M.regions;
		M.regions = r->next;
		r->be->ops->close(r->be);
		free(r);
	}
	free(M.state_dir);
	free(M.hooks_dir);
	memset(&M, 0, sizeof(M));
}
