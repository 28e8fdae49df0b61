/*
 * inventory.c - what each region holds: resource groups, VMs, managed disks,
 * availability sets, networks, storage accounts and their VHDs.
 *
 * The backend is the truth; the model keeps a copy, read at start-up (or when
 * the region becomes available) and written through on every change.  Keys:
 *   resource-groups/<rg>/rg.json
 *   resource-groups/<rg>/vms/<vm>.json
 *   resource-groups/<rg>/disks/<disk>                (disk bytes)
 *   resource-groups/<rg>/availability-sets/<name>.json
 *   resource-groups/<rg>/networks/<name>.json
 *   storage-accounts/<sa>/account.json
 *   storage-accounts/<sa>/vhds/<disk>.vhd            (disk bytes)
 *   protection/<disk key>.json                       (who protects the disk)
 *
 * The core_* functions at the bottom are the fs-facing API for the region
 * part of the tree; they take model_lock, check, change, persist.  The
 * bytes of disks are diskio.c's.
 */
#define _GNU_SOURCE
#include "inventory.h"
#include "model.h"
#include "recio.h"
#include "../backend/vhd.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put_small(struct region *r, const char *key, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = s ? mio_rec_put(r->be, key, s, strlen(s), NULL, NULL) : -ENOMEM;
	json_object_put(o);
	return rc;
}

static json_object *named_obj(const char *name, const char *region)
{
	json_object *o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "location", json_object_new_string(region));
	}
	return o;
}

static void free_disks(struct disk_rec *d)
{
	while (d) {
		struct disk_rec *n = d->next;
		free(d);
		d = n;
	}
}

static void free_rg(struct rg_rec *g)
{
	while (g->vms) {
		struct vm_rec *v = g->vms;
		g->vms = v->next;
		free(v);
	}
	free_disks(g->disks);
	sl_free(&g->asets);
	sl_free(&g->nets);
	free(g);
}

void region_unload(struct region *r)
{
	while (r->rgs) {
		struct rg_rec *g = r->rgs;
		r->rgs = g->next;
		free_rg(g);
	}
	while (r->sas) {
		struct sa_rec *s = r->sas;
		r->sas = s->next;
		free_disks(s->vhds);
		free(s);
	}
	r->loaded = 0;
}

/* Insert keeping names sorted, so listings are stable. */
static void disk_insert(struct disk_rec **list, struct disk_rec *d)
{
	while (*list && strcmp((*list)->name, d->name) < 0)
		list = &(*list)->next;
	d->next = *list;
	*list = d;
}

static int add_disk_rec(struct disk_rec **list, const char *name, uint64_t size)
{
	struct disk_rec *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->size = size;
	disk_insert(list, d);
	return 0;
}

static int vm_from_json(json_object *o, struct vm_info *vi)
{
	json_object *x, *disks;
	memset(vi, 0, sizeof(*vi));
	/* A damaged record's values may be of any type: strings and the disk
	 * array are taken only when they are one (json-c asserts otherwise). */
#define IS_STR(obj, k) (json_object_object_get_ex(obj, k, &x) && json_object_is_type(x, json_type_string))
#define GETS(f, k) if (IS_STR(o, k)) snprintf(vi->f, sizeof(vi->f), "%s", json_object_get_string(x))
	GETS(name, "name");
	GETS(rg, "resource_group");
	GETS(region, "region");
	GETS(network, "network");
	GETS(availability_set, "availability_set");
	vi->running = IS_STR(o, "power") && strcmp(json_object_get_string(x), "running") == 0;
	if (json_object_object_get_ex(o, "created", &x))
		vi->created = (time_t)json_object_get_int64(x);
	if (json_object_object_get_ex(o, "disks", &disks)) {
		if (!json_object_is_type(disks, json_type_array))
			return -EBADMSG;
		for (size_t i = 0; i < json_object_array_length(disks) && i < MAX_DISKS; i++) {
			json_object *d = json_object_array_get_idx(disks, i);
			struct vm_disk_info *di = &vi->disks[vi->ndisks++];
			if (IS_STR(d, "name"))
				snprintf(di->name, sizeof(di->name), "%s", json_object_get_string(x));
			if (json_object_object_get_ex(d, "size", &x))
				di->size = (uint64_t)json_object_get_int64(x);
			di->managed = !json_object_object_get_ex(d, "managed", &x) || json_object_get_boolean(x);
			if (IS_STR(d, "storage_account"))
				snprintf(di->storage_account, sizeof(di->storage_account), "%s", json_object_get_string(x));
		}
	}
#undef GETS
#undef IS_STR
	return vi->name[0] ? 0 : -EBADMSG;
}

static json_object *vm_to_json(const struct vm_info *vi)
{
	json_object *o = json_object_new_object(), *disks = json_object_new_array();
	char t[TIME_STR];
	if (!o || !disks) {
		json_object_put(o);
		json_object_put(disks);
		return NULL;
	}
	fmt_time(vi->created, t);
	json_object_object_add(o, "name", json_object_new_string(vi->name));
	json_object_object_add(o, "resource_group", json_object_new_string(vi->rg));
	json_object_object_add(o, "region", json_object_new_string(vi->region));
	json_object_object_add(o, "power", json_object_new_string(vi->running ? "running" : "stopped"));
	json_object_object_add(o, "network", json_object_new_string(vi->network));
	json_object_object_add(o, "availability_set", json_object_new_string(vi->availability_set));
	json_object_object_add(o, "created", json_object_new_int64(vi->created));
	json_object_object_add(o, "created_time", json_object_new_string(t));
	for (int i = 0; i < vi->ndisks; i++) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "name", json_object_new_string(vi->disks[i].name));
		json_object_object_add(d, "size", json_object_new_int64((int64_t)vi->disks[i].size));
		json_object_object_add(d, "managed", json_object_new_boolean(vi->disks[i].managed));
		json_object_object_add(d, "os_disk", json_object_new_boolean(i == 0));
		if (!vi->disks[i].managed)
			json_object_object_add(d, "storage_account", json_object_new_string(vi->disks[i].storage_account));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	return o;
}

/* ---- loading ---- */

struct load_ctx {
	struct region *r;
	struct rg_rec *g;
	struct sa_rec *s;
	const char *prefix;
	int err;
};

static int disk_size_of(struct region *r, const char *key, uint64_t *size)
{
	struct bdisk *d;
	int rc = r->be->ops->disk_open(r->be, key, BDISK_RDONLY, &d);
	if (rc < 0)
		return rc;
	rc = bd_size(d, size);
	bd_close(d);
	return rc;
}

static int load_vm_cb(void *arg, const char *name, int is_dir)
{
	struct load_ctx *c = arg;
	char key[1024], *data;
	size_t len;
	json_object *o;
	struct vm_rec *v;
	size_t n = strlen(name);

	if (is_dir || n < 6 || strcmp(name + n - 5, ".json") != 0)
		return 0;
	snprintf(key, sizeof(key), "resource-groups/%s/vms/%s", c->g->name, name);
	if (c->r->be->ops->rec_get(c->r->be, key, &data, &len, NULL) < 0)
		return 0;
	o = json_tokener_parse(data);
	free(data);
	v = calloc(1, sizeof(*v));
	if (!v) {
		json_object_put(o);
		c->err = -ENOMEM;
		return 1;
	}
	if (o && json_object_is_type(o, json_type_object) && vm_from_json(o, &v->info) == 0) {
		snprintf(v->info.rg, sizeof(v->info.rg), "%s", c->g->name);
		snprintf(v->info.region, sizeof(v->info.region), "%s", c->r->name);
		v->next = c->g->vms;
		c->g->vms = v;
	} else {
		/* Moved aside, said in the log and the region's error: the name
		 * is free again, and what it held is kept for the operator. */
		record_damaged(c->r->be, key, 1, 0, c->r->error, sizeof(c->r->error));
		free(v);
	}
	json_object_put(o);
	return 0;
}

static int load_disk_cb(void *arg, const char *name, int is_dir)
{
	struct load_ctx *c = arg;
	char key[1024], nm[NAME_MAX_];
	uint64_t size;
	size_t n = strlen(name);

	if (is_dir)
		return 0;
	snprintf(key, sizeof(key), "%s/%s", c->prefix, name);
	if (disk_size_of(c->r, key, &size) < 0)
		return 0;
	if (c->s) {
		if (n < 5 || strcmp(name + n - 4, ".vhd") != 0)
			return 0;
		snprintf(nm, sizeof(nm), "%.*s", (int)(n - 4), name);
		c->err = add_disk_rec(&c->s->vhds, nm, size);
	} else {
		c->err = add_disk_rec(&c->g->disks, name, size);
	}
	return c->err != 0;
}

static int load_named_cb(void *arg, const char *name, int is_dir)
{
	struct strlist *sl = arg;
	size_t n = strlen(name);
	char nm[NAME_MAX_];
	if (is_dir || n < 6 || strcmp(name + n - 5, ".json") != 0)
		return 0;
	snprintf(nm, sizeof(nm), "%.*s", (int)(n - 5), name);
	return sl_add(sl, nm) != 0;
}

/* List the backend folder <kind>/<name>/<sub> through cb(arg), with
 * c->prefix naming it for the call; model_lock held, as for region_load(). */
static void load_list(struct load_ctx *c, const char *kind, const char *name, const char *sub,
		      int (*cb)(void *, const char *, int), void *arg)
{
	char prefix[512];
	snprintf(prefix, sizeof(prefix), "%s/%s/%s", kind, name, sub);
	c->prefix = prefix;
	c->r->be->ops->list(c->r->be, prefix, cb, arg);
	c->prefix = NULL;
}

/* A zeroed record of size bytes for the load, or NULL with c->err set to
 * -ENOMEM; model_lock held, as for region_load(). */
static void *load_alloc(struct load_ctx *c, size_t size)
{
	void *p = calloc(1, size);
	if (!p)
		c->err = -ENOMEM;
	return p;
}

static int load_rg_cb(void *arg, const char *name, int is_dir)
{
	struct load_ctx *c = arg;
	struct rg_rec *g;

	if (!is_dir)
		return 0;
	g = load_alloc(c, sizeof(*g));
	if (!g)
		return 1;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->next = c->r->rgs;
	c->r->rgs = g;
	c->g = g;
	c->s = NULL;
	load_list(c, "resource-groups", name, "vms", load_vm_cb, c);
	load_list(c, "resource-groups", name, "disks", load_disk_cb, c);
	load_list(c, "resource-groups", name, "availability-sets", load_named_cb, &g->asets);
	load_list(c, "resource-groups", name, "networks", load_named_cb, &g->nets);
	sl_sort(&g->asets);
	sl_sort(&g->nets);
	return c->err != 0;
}

static int load_sa_cb(void *arg, const char *name, int is_dir)
{
	struct load_ctx *c = arg;
	struct sa_rec *s;

	if (!is_dir)
		return 0;
	s = load_alloc(c, sizeof(*s));
	if (!s)
		return 1;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->next = c->r->sas;
	c->r->sas = s;
	c->s = s;
	load_list(c, "storage-accounts", name, "vhds", load_disk_cb, c);
	return c->err != 0;
}

int region_load(struct region *r)
{
	struct load_ctx c = {.r = r};
	region_unload(r);
	r->be->ops->list(r->be, "resource-groups", load_rg_cb, &c);
	if (c.err == 0)
		r->be->ops->list(r->be, "storage-accounts", load_sa_cb, &c);
	if (c.err < 0) {
		region_unload(r);
		return c.err;
	}
	r->loaded = 1;
	return 0;
}

/* ---- protection records (model_lock held) ----
 *
 * A disk is protected by at most one item, whichever vault or daemon owns
 * it.  The disk's own region says which: protection/<disk key>.json names the
 * vault and item, written create-only (If-None-Match), so of two vaults or
 * two daemons claiming one disk only one wins.  An item claims its source
 * disks and its replicas before its enable job starts; disable, commit and a
 * cancelled enable release them; reprotect claims the new layout. */

static void prot_key(const struct disk_ref *d, char *buf, size_t len)
{
	char dk[BACKEND_KEY_MAX - 32];
	disk_key(d->managed, d->parent, d->name, dk, sizeof(dk));
	snprintf(buf, len, "protection/%s.json", dk);
}

/* Does an item's layout hold this disk?  A committed or migrated item
 * protects nothing any more. */
int item_disk_refs(const struct item_rec *it, struct disk_ref *out)
{
	int n = 0;
	struct region *src, *tgt;

	if (it->state == IS_FAILOVER_COMMITTED || it->state == IS_MIGRATION_COMPLETED)
		return 0;
	src = region_find(it->source_region);
	tgt = region_find(it->target_region);
	for (int i = 0; i < it->ndisks; i++) {
		const struct item_disk *d = &it->disks[i];
		if (src) {
			out[n] = (struct disk_ref){.r = src, .managed = d->managed, .replica = 0};
			snprintf(out[n].parent, sizeof(out[n].parent), "%s", d->src_parent);
			snprintf(out[n].name, sizeof(out[n].name), "%s", d->name);
			n++;
		}
		if (tgt) {
			out[n] = (struct disk_ref){.r = tgt, .managed = d->replica_managed, .replica = 1};
			snprintf(out[n].parent, sizeof(out[n].parent), "%s", d->replica_parent);
			snprintf(out[n].name, sizeof(out[n].name), "%s", d->replica);
			n++;
		}
	}
	return n;
}

static int ref_same(const struct disk_ref *a, const struct disk_ref *b)
{
	return a->r == b->r && a->managed == b->managed && strcmp(a->parent, b->parent) == 0 &&
	       strcmp(a->name, b->name) == 0;
}

/* An item this daemon knows, other than vault/item, whose layout holds d. */
static struct item_rec *ref_holder(const struct vault_rec *v, const char *item, const struct disk_ref *d,
				   struct vault_rec **hv)
{
	struct disk_ref refs[2 * MAX_DISKS];
	for (struct vault_rec *w = M.vaults; w; w = w->next)
		for (struct item_rec *it = w->items; it; it = it->next) {
			int n;
			if (w == v && strcmp(it->name, item) == 0)
				continue;
			n = item_disk_refs(it, refs);
			for (int i = 0; i < n; i++)
				if (ref_same(&refs[i], d)) {
					*hv = w;
					return it;
				}
		}
	return NULL;
}

/* A record naming an item of a vault this daemon manages, where that item
 * is gone, or runs no job and its layout does not hold the disk (it was
 * committed, or reprotected away from it): left by a crash between the claim
 * and the item's first record, or by a release whose region was down.  Such
 * a record may be taken over.  (A job that claimed disks outside its item's
 * layout, a reprotect, holds its item while it runs.) */
static int record_stale(const char *vault, const char *item, const struct disk_ref *d)
{
	struct disk_ref refs[2 * MAX_DISKS];
	struct vault_rec *w = vault_find(vault);
	struct item_rec *it;
	int n;

	if (!w || w->readonly)
		return 0;
	it = item_find(w, item);
	if (!it)
		return 1;
	if (it->job || it->damaged[0])
		return 0; /* a damaged item's layout is unknown: it may hold d */
	n = item_disk_refs(it, refs);
	for (int i = 0; i < n; i++)
		if (ref_same(&refs[i], d))
			return 0;
	return 1;
}

static const char *role_name(const struct disk_ref *d)
{
	return d->replica ? "replica" : "source";
}

/* Read a disk's record: 0 with owner's vault and item, -ENOENT, -EIO (not
 * a record we can read), or the backend's error. */
static int record_read(const struct disk_ref *d, char *vault, char *item, size_t len, char etag[BACKEND_ETAG_MAX])
{
	char key[BACKEND_KEY_MAX], *data = NULL;
	json_object *o = NULL, *x;
	int rc;

	prot_key(d, key, sizeof(key));
	rc = mio_rec_get(d->r->be, key, &data, NULL, etag);
	if (rc < 0)
		return rc;
	o = json_tokener_parse(data);
	free(data);
	rc = -EIO;
	if (o && json_object_object_get_ex(o, "vault", &x) && json_object_is_type(x, json_type_string)) {
		snprintf(vault, len, "%s", json_object_get_string(x));
		if (json_object_object_get_ex(o, "item", &x) && json_object_is_type(x, json_type_string)) {
			snprintf(item, len, "%s", json_object_get_string(x));
			rc = 0;
		}
	}
	json_object_put(o);
	return rc;
}

enum { REF_FREE, REF_OURS, REF_STALE };

/* Who holds d: -EEXIST (why names the item and vault) when another item
 * does; else 0 and *how: REF_FREE, REF_OURS (a record names vault/item) or
 * REF_STALE (a stale record, its etag in etag, may be taken over). */
static int ref_check(struct vault_rec *v, const char *item, const struct disk_ref *d, char *why, size_t len,
		     int *how, char etag[BACKEND_ETAG_MAX])
{
	char ov[NAME_MAX_], oi[NAME_MAX_];
	struct vault_rec *hv = NULL;
	struct item_rec *holder = ref_holder(v, item, d, &hv);
	int rc;

	*how = REF_FREE;
	if (holder) {
		snprintf(why, len, "%s disk %s/%s in %s is already protected by item %s of vault %s", role_name(d),
			 d->parent, d->name, d->r->name, holder->name, hv->name);
		return -EEXIST;
	}
	rc = record_read(d, ov, oi, sizeof(ov), etag);
	if (rc == -ENOENT)
		return 0;
	if (rc == -EIO) {
		snprintf(why, len, "%s disk %s/%s in %s has a protection record that cannot be read: refusing to "
			 "take it over", role_name(d), d->parent, d->name, d->r->name);
		return -EEXIST;
	}
	if (rc < 0) {
		snprintf(why, len, "cannot read the protection record of disk %s/%s in %s: %s", d->parent, d->name,
			 d->r->name, strerror(-rc));
		return rc;
	}
	if (strcmp(ov, v->name) == 0 && strcmp(oi, item) == 0) {
		*how = REF_OURS;
		return 0;
	}
	if (!record_stale(ov, oi, d)) {
		snprintf(why, len, "%s disk %s/%s in %s is already protected by item %s of vault %s", role_name(d),
			 d->parent, d->name, d->r->name, oi, ov);
		return -EEXIST;
	}
	logmsg("disk %s/%s in %s: protection record of item %s of vault %s is stale: it may be taken over", d->parent,
	       d->name, d->r->name, oi, ov);
	*how = REF_STALE;
	return 0;
}

/* Claim one disk: 1 when this call made the record, 0 when it was already
 * the item's, -EEXIST (why names the holder) or another -errno. */
static int claim_one(struct vault_rec *v, const char *item, const struct disk_ref *d, char *why, size_t len)
{
	char key[BACKEND_KEY_MAX], ov[NAME_MAX_], oi[NAME_MAX_], etag[BACKEND_ETAG_MAX], since[TIME_STR];
	json_object *o;
	const char *s;
	int rc, how;

	rc = ref_check(v, item, d, why, len, &how, etag);
	if (rc < 0 || how == REF_OURS)
		return rc;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	fmt_time(time(NULL), since);
	json_object_object_add(o, "vault", json_object_new_string(v->name));
	json_object_object_add(o, "vault-region", json_object_new_string(v->region->name));
	json_object_object_add(o, "item", json_object_new_string(item));
	json_object_object_add(o, "role", json_object_new_string(role_name(d)));
	json_object_object_add(o, "since", json_object_new_string(since));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	prot_key(d, key, sizeof(key));
	/* create-only, or replacing exactly the stale record just read */
	rc = s ? mio_rec_put(d->r->be, key, s, strlen(s), how == REF_STALE ? etag : "", NULL) : -ENOMEM;
	json_object_put(o);
	if (rc == -EEXIST || rc == -ESTALE) {
		/* another vault or daemon won the race: name it if we can */
		if (record_read(d, ov, oi, sizeof(ov), etag) == 0)
			snprintf(why, len, "%s disk %s/%s in %s is already protected by item %s of vault %s",
				 role_name(d), d->parent, d->name, d->r->name, oi, ov);
		else
			snprintf(why, len, "%s disk %s/%s in %s was just claimed by another vault", role_name(d),
				 d->parent, d->name, d->r->name);
		return -EEXIST;
	}
	if (rc < 0) {
		snprintf(why, len, "cannot write the protection record of disk %s/%s in %s: %s", d->parent, d->name,
			 d->r->name, strerror(-rc));
		return rc;
	}
	return 1;
}

int protection_free(struct vault_rec *v, const char *item, const struct disk_ref *d, int n, char *why, size_t len)
{
	char etag[BACKEND_ETAG_MAX];
	int rc = 0, how;
	for (int i = 0; i < n && rc == 0; i++)
		rc = ref_check(v, item, &d[i], why, len, &how, etag);
	return rc;
}

int protection_claim(struct vault_rec *v, const char *item, const struct disk_ref *d, int n, char *why,
		     size_t len)
{
	int made[2 * MAX_DISKS] = {0};
	int rc = 0;

	if (n > 2 * MAX_DISKS)
		return -EINVAL;
	for (int i = 0; i < n && rc >= 0; i++) {
		rc = claim_one(v, item, &d[i], why, len);
		made[i] = rc == 1;
	}
	if (rc >= 0)
		return 0;
	/* all or nothing: give back what this call took */
	for (int i = 0; i < n; i++)
		if (made[i]) {
			char key[BACKEND_KEY_MAX];
			prot_key(&d[i], key, sizeof(key));
			mio_rec_del(d[i].r->be, key);
		}
	return rc;
}

void protection_release(struct vault_rec *v, const char *item, const struct disk_ref *d, int n)
{
	for (int i = 0; i < n; i++) {
		char key[BACKEND_KEY_MAX], ov[NAME_MAX_], oi[NAME_MAX_];
		int rc = record_read(&d[i], ov, oi, sizeof(ov), NULL);
		if (rc == -ENOENT || (rc == 0 && (strcmp(ov, v->name) != 0 || strcmp(oi, item) != 0)))
			continue; /* not ours (any more) */
		prot_key(&d[i], key, sizeof(key));
		if (rc == 0)
			rc = mio_rec_del(d[i].r->be, key);
		if (rc < 0 && rc != -ENOENT)
			logmsg("disk %s/%s in %s: cannot remove the protection record of item %s: %s (taken over "
			       "when next claimed here)", d[i].parent, d[i].name, d[i].r->name, item, strerror(-rc));
	}
}

void protection_release_item(struct vault_rec *v, const struct item_rec *it)
{
	struct disk_ref refs[2 * MAX_DISKS];
	int n = item_disk_refs(it, refs);
	protection_release(v, it->name, refs, n);
}

void protection_end(struct vault_rec *v, const char *item)
{
	struct item_rec *it;
	lock_model();
	it = item_find(v, item);
	if (it)
		protection_release_item(v, it);
	unlock_model();
}

/* ---- changes (model_lock held) ---- */

/* Write <kind>/<name>/<file>, the small record of a new resource group or
 * storage account; model_lock held. */
static int put_named(struct region *r, const char *kind, const char *name, const char *file)
{
	char key[512];
	json_object *o = named_obj(name, r->name);
	snprintf(key, sizeof(key), "%s/%s/%s", kind, name, file);
	return o ? put_small(r, key, o) : -ENOMEM;
}

int inv_rg_create(struct region *r, const char *name, struct rg_rec **out)
{
	struct rg_rec *g;
	int rc;

	g = rg_find(r, name);
	if (g) {
		if (out)
			*out = g;
		return -EEXIST;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	snprintf(g->name, sizeof(g->name), "%s", name);
	rc = put_named(r, "resource-groups", name, "rg.json");
	if (rc < 0) {
		free(g);
		return rc;
	}
	g->next = r->rgs;
	r->rgs = g;
	if (out)
		*out = g;
	return 0;
}

int inv_rg_delete(struct region *r, const char *name)
{
	struct rg_rec **pp, *g;
	char key[512];
	int rc;
	for (pp = &r->rgs; *pp && strcmp((*pp)->name, name) != 0; pp = &(*pp)->next)
		;
	g = *pp;
	if (!g)
		return -ENOENT;
	if (g->vms || g->disks)
		return -ENOTEMPTY;
	snprintf(key, sizeof(key), "resource-groups/%s", name);
	rc = mio_remove_tree(r->be, key);
	if (rc < 0)
		return rc;
	*pp = g->next;
	free_rg(g);
	return 0;
}

int inv_vm_save(struct region *r, const struct vm_info *vi)
{
	char key[512];
	json_object *o = vm_to_json(vi);
	if (!o)
		return -ENOMEM;
	snprintf(key, sizeof(key), "resource-groups/%s/vms/%s.json", vi->rg, vi->name);
	return put_small(r, key, o);
}

int inv_disk_create(struct region *r, int managed, const char *parent, const char *name, uint64_t size)
{
	char key[1024];
	int rc;
	struct disk_rec **list;

	if (managed) {
		struct rg_rec *g = rg_find(r, parent);
		if (!g)
			return -ENOENT;
		list = &g->disks;
	} else {
		struct sa_rec *s = sa_find(r, parent);
		if (!s)
			return -ENOENT;
		list = &s->vhds;
	}
	if (disk_find(*list, name))
		return -EEXIST;
	disk_key(managed, parent, name, key, sizeof(key));
	rc = r->be->ops->disk_create(r->be, key, size);
	if (rc < 0)
		return rc;
	return add_disk_rec(list, name, size);
}

int inv_disk_delete(struct region *r, int managed, const char *parent, const char *name)
{
	char key[1024];
	struct disk_rec **pp, *d;
	int rc;

	if (managed) {
		struct rg_rec *g = rg_find(r, parent);
		pp = g ? &g->disks : NULL;
	} else {
		struct sa_rec *s = sa_find(r, parent);
		pp = s ? &s->vhds : NULL;
	}
	if (!pp)
		return -ENOENT;
	for (; *pp && strcmp((*pp)->name, name) != 0; pp = &(*pp)->next)
		;
	d = *pp;
	disk_key(managed, parent, name, key, sizeof(key));
	rc = r->be->ops->disk_delete(r->be, key);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (d) {
		*pp = d->next;
		free(d);
	}
	return 0;
}

static int ensure_named(struct region *r, const char *rg, const char *dir, const char *name,
			struct strlist *sl)
{
	char key[512];
	json_object *o;
	int rc;
	if (!name[0] || sl_has(sl, name))
		return 0;
	o = named_obj(name, r->name);
	snprintf(key, sizeof(key), "resource-groups/%s/%s/%s.json", rg, dir, name);
	rc = o ? put_small(r, key, o) : -ENOMEM;
	if (rc == 0)
		rc = sl_add(sl, name);
	sl_sort(sl);
	return rc;
}

int inv_aset_ensure(struct region *r, const char *rg, const char *name)
{
	struct rg_rec *g = rg_find(r, rg);
	return g ? ensure_named(r, rg, "availability-sets", name, &g->asets) : -ENOENT;
}

int inv_net_ensure(struct region *r, const char *rg, const char *name)
{
	struct rg_rec *g = rg_find(r, rg);
	return g ? ensure_named(r, rg, "networks", name, &g->nets) : -ENOENT;
}

int inv_sa_ensure(struct region *r, const char *name)
{
	struct sa_rec *s;
	int rc;
	if (sa_find(r, name))
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->name, sizeof(s->name), "%s", name);
	rc = put_named(r, "storage-accounts", name, "account.json");
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->next = r->sas;
	r->sas = s;
	return 0;
}

/* Take back what a refused create-vm made (model_lock held): a named record
 * of a resource group's (networks, availability sets) or an empty storage
 * account.  Deleting frees space, so this works on a full medium too. */
static void named_drop(struct region *r, const char *rg, const char *dir, const char *name, struct strlist *sl)
{
	char key[512];
	snprintf(key, sizeof(key), "resource-groups/%s/%s/%s.json", rg, dir, name);
	if (mio_rec_del(r->be, key) == 0)
		sl_del(sl, name);
}

static void sa_drop(struct region *r, const char *name)
{
	struct sa_rec **pp, *s;
	char key[512];
	for (pp = &r->sas; *pp && strcmp((*pp)->name, name) != 0; pp = &(*pp)->next)
		;
	s = *pp;
	snprintf(key, sizeof(key), "storage-accounts/%s", name);
	if (!s || s->vhds || mio_remove_tree(r->be, key) < 0)
		return;
	*pp = s->next;
	free(s);
}

/* ---- the fs-facing API ---- */

/* Find an available, loaded region; model_lock held. */
static int region_ready(const char *name, struct region **out)
{
	struct region *r = region_find(name);
	if (!r)
		return -ENOENT;
	*out = r;
	return 0;
}

int core_regions(struct strlist *out)
{
	int rc = 0;
	lock_model_read();
	for (struct region *r = M.regions; r && rc == 0; r = r->next)
		rc = sl_add(out, r->name);
	unlock_model();
	return rc;
}

int core_region_info(const char *region, struct region_info *out)
{
	struct region *r;
	int rc;
	memset(out, 0, sizeof(*out));
	lock_model_read();
	rc = region_ready(region, &r);
	if (rc == 0) {
		snprintf(out->name, sizeof(out->name), "%s", r->name);
		out->available = r->available;
		snprintf(out->reason, sizeof(out->reason), "%s", r->reason);
		snprintf(out->backend, sizeof(out->backend), "%s", r->describe);
		snprintf(out->error, sizeof(out->error), "%s", r->error);
	}
	unlock_model();
	return rc;
}

int core_rgs(const char *region, struct strlist *out)
{
	struct region *r;
	int rc;
	lock_model_read();
	rc = region_ready(region, &r);
	for (struct rg_rec *g = rc == 0 ? r->rgs : NULL; g && rc == 0; g = g->next)
		rc = sl_add(out, g->name);
	unlock_model();
	sl_sort(out);
	return rc;
}

int core_rg_exists(const char *region, const char *rg)
{
	struct region *r;
	int rc;
	lock_model_read();
	rc = region_ready(region, &r);
	if (rc == 0 && !rg_find(r, rg))
		rc = -ENOENT;
	unlock_model();
	return rc;
}

/* Writable region: exists, available, loaded. */
static int region_writable(const char *name, struct region **out)
{
	int rc = region_ready(name, out);
	if (rc < 0)
		return rc;
	if (!(*out)->available || !(*out)->loaded)
		return fail_region(*out, -EHOSTUNREACH, "region %s is unavailable: %s", name, (*out)->reason);
	return 0;
}

int core_rg_create(const char *region, const char *rg)
{
	struct region *r;
	int rc;
	lock_model();
	rc = region_writable(region, &r);
	if (rc == 0 && (rc = name_rg_ok(rg, r->error, sizeof(r->error))) < 0)
		logmsg("region %s: %s", region, r->error);
	if (rc == 0) {
		rc = inv_rg_create(r, rg, NULL);
		if (rc == -EEXIST)
			fail_region(r, rc, "resource group %s already exists", rg);
		else if (rc < 0)
			fail_region(r, rc, "cannot create resource group %s: %s", rg, strerror(-rc));
	}
	unlock_model();
	return rc;
}

int core_rg_delete(const char *region, const char *rg)
{
	struct region *r;
	int rc;
	lock_model();
	rc = region_writable(region, &r);
	if (rc == 0) {
		rc = inv_rg_delete(r, rg);
		if (rc == -ENOTEMPTY)
			fail_region(r, rc, "resource group %s still holds VMs or disks", rg);
	}
	unlock_model();
	return rc;
}

int core_vms(const char *region, const char *rg, struct strlist *out)
{
	struct region *r;
	struct rg_rec *g = NULL;
	int rc;
	lock_model_read();
	rc = region_ready(region, &r);
	if (rc == 0 && !(g = rg_find(r, rg)))
		rc = -ENOENT;
	for (struct vm_rec *v = rc == 0 ? g->vms : NULL; v && rc == 0; v = v->next)
		rc = sl_add(out, v->info.name);
	unlock_model();
	sl_sort(out);
	return rc;
}

/* model_lock held */
static struct vm_rec *vm_lookup(const char *region, const char *rg, const char *vm, struct region **rout)
{
	struct region *r = region_find(region);
	struct rg_rec *g = r ? rg_find(r, rg) : NULL;
	if (rout)
		*rout = r;
	return g ? vm_find(g, vm) : NULL;
}

int core_vm_info(const char *region, const char *rg, const char *vm, struct vm_info *out)
{
	struct vm_rec *v;
	lock_model_read();
	v = vm_lookup(region, rg, vm, NULL);
	if (v)
		*out = v->info;
	unlock_model();
	return v ? 0 : -ENOENT;
}

int core_vm_json(const char *region, const char *rg, const char *vm, struct sbuf *out)
{
	struct vm_info vi;
	json_object *o;
	int rc = core_vm_info(region, rg, vm, &vi);
	if (rc < 0)
		return rc;
	o = vm_to_json(&vi);
	if (!o)
		return -ENOMEM;
	sb_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	sb_puts(out, "\n");
	json_object_put(o);
	return out->err;
}

int core_vm_power(const char *region, const char *rg, const char *vm, const char *line, size_t len)
{
	struct ctl_line cl;
	struct region *r;
	struct vm_rec *v;
	int rc, want;

	lock_model();
	v = vm_lookup(region, rg, vm, &r);
	if (!v) {
		rc = -ENOENT;
		goto out;
	}
	rc = region_writable(region, &r);
	if (rc < 0)
		goto out;
	if (v->moving) {
		rc = fail_region(r, -EBUSY, "VM %s is being moved", vm);
		goto out;
	}
	rc = ctl_parse(line, len, &cl, r->error, sizeof(r->error));
	if (rc == 0 && (cl.nkv || cl.nbare != 1 ||
			(strcmp(cl.bare[0], "start") && strcmp(cl.bare[0], "stop")))) {
		rc = fail_region(r, -EINVAL, "power takes 'start' or 'stop'");
	}
	if (rc < 0)
		goto out;
	want = strcmp(cl.bare[0], "start") == 0;
	for (int k = 0; want && k < v->info.ndisks; k++) {
		/* a shell whose disks went away (deleted, or taken by a reprotect) */
		if (!inv_vm_has_disk(r, &v->info, k)) {
			rc = fail_region(r, -EPERM, "VM %s cannot start: its disk %s does not exist", vm,
					 v->info.disks[k].name);
			goto out;
		}
	}
	if (v->info.running != want) {
		v->info.running = want;
		rc = inv_vm_save(r, &v->info);
		if (rc < 0)
			v->info.running = !want;
	}
out:
	unlock_model();
	return rc;
}

/* model_lock held: -EBUSY (the reason in r's error) when replication needs
 * this VM where it is: the source of an item that replicates it, or either
 * VM of an item with a job running.  A failed-over item's old source VM, or
 * a committed item's VM, may go: reprotect then copies in full, or refuses
 * (SPEC 6). */
static int vm_in_use(struct region *r, const char *rg, const char *vm)
{
	const unsigned free_states = IS_BIT(IS_FAILED_OVER) | IS_BIT(IS_FAILOVER_COMMITTED) | IS_BIT(IS_MIGRATION_COMPLETED);
	for (struct vault_rec *v = M.vaults; v; v = v->next)
		for (struct item_rec *it = v->items; it; it = it->next) {
			int src = strcmp(it->source_region, r->name) == 0 && strcmp(it->vm_rg, rg) == 0 &&
				  strcmp(it->name, vm) == 0;
			int tgt = strcmp(it->target_region, r->name) == 0 && strcmp(it->target_rg, rg) == 0 &&
				  strcmp(it->name, vm) == 0;
			int replicating = src && !item_state_in(it->state, free_states);
			if (replicating || ((src || tgt) && it->job))
				return fail_region(r, -EBUSY, "VM %s/%s is in use by item %s of vault %s (%s%s): %s", rg,
						   vm, it->name, v->name, item_state_name(it->state), it->job ? ", a job running" : "",
						   it->job ? "wait for the job" : "disable replication first");
		}
	return 0;
}

int core_vm_delete(const char *region, const char *rg, const char *vm)
{
	struct region *r;
	struct rg_rec *g;
	struct vm_rec **pp;
	char key[512];
	int rc;

	lock_model();
	rc = region_writable(region, &r);
	if (rc < 0)
		goto out;
	g = rg_find(r, rg);
	if (!g) {
		rc = -ENOENT;
		goto out;
	}
	for (pp = &g->vms; *pp && strcmp((*pp)->info.name, vm) != 0; pp = &(*pp)->next)
		;
	if (!*pp) {
		rc = -ENOENT;
		goto out;
	}
	if ((*pp)->moving) {
		rc = fail_region(r, -EBUSY, "VM %s is being moved", vm);
		goto out;
	}
	if ((rc = vm_in_use(r, rg, vm)) < 0)
		goto out;
	snprintf(key, sizeof(key), "resource-groups/%s/vms/%s.json", rg, vm);
	rc = mio_rec_del(r->be, key);
	if (rc == 0 || rc == -ENOENT) {
		struct vm_rec *v = *pp;
		*pp = v->next;
		free(v);
		rc = 0;
		logmsg("region %s: VM %s/%s deleted (its disks are kept, as in Azure)", region, rg, vm);
	}
out:
	unlock_model();
	return rc;
}

/* Move the managed disks of vi from one resource group to another in the
 * backend, or back with undo set; model_lock NOT held (on azblob each is a
 * server-side copy).  Returns how many moved before a failure in *moved. */
static int move_disks(struct region *r, const struct vm_info *vi, const char *from, const char *to, int undo,
		      int *moved)
{
	char a[1024], b[1024];
	int rc = 0;
	for (int i = 0; i < vi->ndisks && rc == 0; i++) {
		if (!vi->disks[i].managed)
			continue;
		disk_key(1, from, vi->disks[i].name, a, sizeof(a));
		disk_key(1, to, vi->disks[i].name, b, sizeof(b));
		rc = undo ? r->be->ops->disk_rename(r->be, b, a) : r->be->ops->disk_rename(r->be, a, b);
		if (rc == 0 && moved)
			*moved = i + 1;
	}
	return rc;
}

int core_vm_move(const char *region, const char *rg, const char *vm, const char *to_rg, const char *to_name)
{
	struct region *r;
	struct rg_rec *from, *to;
	struct vm_rec **pp, *v;
	struct vm_info ni, oi;
	char key[512];
	int rc, moved = 0;

	/* 1. check, and claim the VM (model_lock) */
	lock_model();
	rc = region_writable(region, &r);
	if (rc < 0)
		goto out;
	from = rg_find(r, rg);
	to = rg_find(r, to_rg);
	v = from ? vm_find(from, vm) : NULL;
	if (!from || !to || !v) {
		rc = -ENOENT;
		goto out;
	}
	if (v->moving) {
		rc = fail_region(r, -EBUSY, "VM %s is being moved", vm);
		goto out;
	}
	if ((rc = vm_in_use(r, rg, vm)) < 0)
		goto out;
	if ((rc = name_vm_ok(to_name, r->error, sizeof(r->error))) < 0)
		goto out;
	if (vm_find(to, to_name)) {
		rc = fail_region(r, -EEXIST, "VM %s already exists in %s", to_name, to_rg);
		goto out;
	}
	if (from == to && strcmp(vm, to_name) == 0)
		goto out;
	for (int i = 0; from != to && i < v->info.ndisks; i++)
		if (v->info.disks[i].managed && disk_find(to->disks, v->info.disks[i].name)) {
			rc = fail_region(r, -EEXIST, "disk %s already exists in %s", v->info.disks[i].name, to_rg);
			goto out;
		}
	oi = v->info;
	ni = v->info;
	snprintf(ni.name, sizeof(ni.name), "%s", to_name);
	snprintf(ni.rg, sizeof(ni.rg), "%s", to_rg);
	v->moving = 1;
	unlock_model();

	/* 2. managed disks go with the VM, as Azure's move does (no lock) */
	if (strcmp(rg, to_rg) != 0)
		rc = move_disks(r, &oi, rg, to_rg, 0, &moved);

	/* 3. publish (model_lock): the new record, the lists */
	lock_model();
	from = rg_find(r, rg);
	to = rg_find(r, to_rg);
	if (rc == 0 && (!from || !to))
		rc = -ENOENT;
	if (rc == 0)
		rc = inv_vm_save(r, &ni);
	if (rc < 0) {
		struct vm_info part = oi;
		part.ndisks = moved;
		move_disks(r, &part, rg, to_rg, 1, NULL);
		if (from && (v = vm_find(from, vm)) != NULL)
			v->moving = 0;
		fail_region(r, rc, "cannot move VM %s: %s", vm, strerror(-rc));
		goto out;
	}
	snprintf(key, sizeof(key), "resource-groups/%s/vms/%s.json", rg, vm);
	mio_rec_del(r->be, key);
	for (pp = &from->vms; *pp && strcmp((*pp)->info.name, vm) != 0; pp = &(*pp)->next)
		;
	v = *pp;
	*pp = v->next;
	v->info = ni;
	v->moving = 0;
	v->next = to->vms;
	to->vms = v;
	for (int i = 0; from != to && i < ni.ndisks; i++) {
		struct disk_rec **dp;
		if (!ni.disks[i].managed)
			continue;
		for (dp = &from->disks; *dp && strcmp((*dp)->name, ni.disks[i].name) != 0; dp = &(*dp)->next)
			;
		if (*dp) {
			struct disk_rec *d = *dp;
			*dp = d->next;
			disk_insert(&to->disks, d);
		}
	}
out:
	unlock_model();
	return rc;
}

int core_region_create_vm(const char *region, const char *line, size_t len)
{
	static const char *const keys[] = {"name", "resource-group", "disks", "network", "availability-set",
					   "storage-account", NULL};
	struct ctl_line cl;
	struct region *r;
	struct rg_rec *g;
	struct vm_info vi;
	const char *name, *rgn, *disks, *net, *aset, *sa;
	char *save = NULL, *tok, dl[4097];
	int rc, created = 0, rg_made = 0, sa_made = 0, net_made = 0, aset_made = 0;

	memset(&vi, 0, sizeof(vi));
	lock_model();
	rc = region_writable(region, &r);
	if (rc < 0)
		goto out;
	rc = ctl_parse(line, len, &cl, r->error, sizeof(r->error));
	if (rc == 0)
		rc = ctl_check_keys(&cl, keys, r->error, sizeof(r->error));
	if (rc == 0 && cl.nbare) {
		snprintf(r->error, sizeof(r->error), "create-vm takes key=value words only, not '%s'", cl.bare[0]);
		rc = -EINVAL;
	}
	if (rc < 0)
		goto bad;
	name = ctl_get(&cl, "name");
	rgn = ctl_get(&cl, "resource-group");
	disks = ctl_get(&cl, "disks");
	net = ctl_get(&cl, "network");
	aset = ctl_get(&cl, "availability-set");
	sa = ctl_get(&cl, "storage-account");
	if (!name || !rgn || !disks) {
		snprintf(r->error, sizeof(r->error), "create-vm needs name=, resource-group= and disks=");
		rc = -EINVAL;
		goto bad;
	}
	if ((rc = name_vm_ok(name, r->error, sizeof(r->error))) < 0 ||
	    (rc = name_rg_ok(rgn, r->error, sizeof(r->error))) < 0 ||
	    (net && (rc = name_generic_ok("network", net, r->error, sizeof(r->error))) < 0) ||
	    (aset && (rc = name_generic_ok("availability set", aset, r->error, sizeof(r->error))) < 0) ||
	    (sa && (rc = name_sa_ok(sa, r->error, sizeof(r->error))) < 0))
		goto bad;
	snprintf(vi.name, sizeof(vi.name), "%s", name);
	snprintf(vi.rg, sizeof(vi.rg), "%s", rgn);
	snprintf(vi.region, sizeof(vi.region), "%s", region);
	snprintf(vi.availability_set, sizeof(vi.availability_set), "%s", aset ? aset : "");
	if (net)
		snprintf(vi.network, sizeof(vi.network), "%s", net);
	else
		snprintf(vi.network, sizeof(vi.network), "%.80s-vnet", rgn);
	vi.running = 1;
	vi.created = time(NULL);
	snprintf(dl, sizeof(dl), "%s", disks);
	for (char *p = dl; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		char *colon = strchr(tok, ':');
		struct vm_disk_info *di;
		if (!colon) {
			snprintf(r->error, sizeof(r->error), "disks= takes <name>:<size>[,...], not '%s'", tok);
			rc = -EINVAL;
			goto bad;
		}
		*colon = '\0';
		if (vi.ndisks == MAX_DISKS) {
			snprintf(r->error, sizeof(r->error), "at most %d disks", MAX_DISKS);
			rc = -EINVAL;
			goto bad;
		}
		di = &vi.disks[vi.ndisks];
		if ((rc = name_generic_ok("disk", tok, r->error, sizeof(r->error))) < 0 ||
		    (rc = parse_size(colon + 1, &di->size, r->error, sizeof(r->error))) < 0)
			goto bad;
		for (int i = 0; i < vi.ndisks; i++)
			if (strcmp(vi.disks[i].name, tok) == 0) {
				snprintf(r->error, sizeof(r->error), "disk %s named twice", tok);
				rc = -EINVAL;
				goto bad;
			}
		snprintf(di->name, sizeof(di->name), "%s", tok);
		di->managed = sa == NULL;
		snprintf(di->storage_account, sizeof(di->storage_account), "%s", sa ? sa : "");
		vi.ndisks++;
	}
	if (vi.ndisks == 0) {
		snprintf(r->error, sizeof(r->error), "a VM needs at least one disk");
		rc = -EINVAL;
		goto bad;
	}
	/* Existence checks before any change. */
	g = rg_find(r, rgn);
	if (g && vm_find(g, name)) {
		rc = fail_region(r, -EEXIST, "VM %s already exists in resource group %s", name, rgn);
		goto out;
	}
	for (int i = 0; i < vi.ndisks; i++) {
		struct sa_rec *s = sa ? sa_find(r, sa) : NULL;
		if ((g && !sa && disk_find(g->disks, vi.disks[i].name)) || (s && disk_find(s->vhds, vi.disks[i].name))) {
			rc = fail_region(r, -EEXIST, "disk %s already exists", vi.disks[i].name);
			goto out;
		}
	}
	/* Everything made here is taken back if a later step fails (at fail:),
	 * so a refused create-vm leaves nothing behind. */
	if (!g) {
		if ((rc = inv_rg_create(r, rgn, &g)) < 0)
			goto fail;
		rg_made = 1;
	}
	if (sa && !sa_find(r, sa)) {
		if ((rc = inv_sa_ensure(r, sa)) < 0)
			goto fail;
		sa_made = 1;
	}
	if (!sl_has(&g->nets, vi.network)) {
		if ((rc = inv_net_ensure(r, rgn, vi.network)) < 0)
			goto fail;
		net_made = 1;
	}
	if (aset && !sl_has(&g->asets, aset)) {
		if ((rc = inv_aset_ensure(r, rgn, aset)) < 0)
			goto fail;
		aset_made = 1;
	}
	for (int i = 0; i < vi.ndisks; i++) {
		rc = inv_disk_create(r, !sa, sa ? sa : rgn, vi.disks[i].name, vi.disks[i].size);
		if (rc < 0)
			goto fail;
		created++;
	}
	rc = inv_vm_save(r, &vi);
	if (rc < 0)
		goto fail;
	{
		struct vm_rec *v = calloc(1, sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			goto fail;
		}
		v->info = vi;
		v->next = g->vms;
		g->vms = v;
	}
	r->error[0] = '\0';
	logmsg("region %s: VM %s/%s created with %d disk(s)", region, rgn, name, vi.ndisks);
	goto out;
fail:
	/* a refused create-vm leaves nothing behind: disks, then what holds them */
	for (int i = 0; i < created; i++)
		inv_disk_delete(r, !sa, sa ? sa : rgn, vi.disks[i].name);
	if (aset_made)
		named_drop(r, rgn, "availability-sets", aset, &g->asets);
	if (net_made)
		named_drop(r, rgn, "networks", vi.network, &g->nets);
	if (rg_made)
		inv_rg_delete(r, rgn);
	if (sa_made)
		sa_drop(r, sa);
	fail_region(r, rc, "create-vm failed: %s", strerror(-rc));
	goto out;
bad:
	logmsg("region %s: create-vm refused: %s", region, r->error);
out:
	unlock_model();
	return rc;
}

static int list_disks(struct disk_rec *d, struct strlist *out, const char *suffix)
{
	char buf[NAME_MAX_ + 8];
	for (; d; d = d->next) {
		snprintf(buf, sizeof(buf), "%s%s", d->name, suffix);
		if (sl_add(out, buf) < 0)
			return -ENOMEM;
	}
	return 0;
}

int core_rg_disks(const char *region, const char *rg, struct strlist *out)
{
	struct region *r;
	struct rg_rec *g;
	int rc;
	lock_model_read();
	rc = region_ready(region, &r);
	g = rc == 0 ? rg_find(r, rg) : NULL;
	rc = g ? list_disks(g->disks, out, "") : -ENOENT;
	unlock_model();
	return rc;
}

static int copy_named(const char *region, const char *rg, int nets, struct strlist *out)
{
	struct region *r;
	struct rg_rec *g;
	int rc;
	lock_model_read();
	rc = region_ready(region, &r);
	g = rc == 0 ? rg_find(r, rg) : NULL;
	if (!g)
		rc = -ENOENT;
	else {
		struct strlist *src = nets ? &g->nets : &g->asets;
		for (int i = 0; i < src->n && rc == 0; i++)
			rc = sl_add(out, src->v[i]);
	}
	unlock_model();
	return rc;
}

int core_rg_asets(const char *region, const char *rg, struct strlist *out)
{
	return copy_named(region, rg, 0, out);
}

int core_rg_networks(const char *region, const char *rg, struct strlist *out)
{
	return copy_named(region, rg, 1, out);
}

int core_storage_accounts(const char *region, struct strlist *out)
{
	struct region *r;
	int rc;
	lock_model_read();
	rc = region_ready(region, &r);
	for (struct sa_rec *s = rc == 0 ? r->sas : NULL; s && rc == 0; s = s->next)
		rc = sl_add(out, s->name);
	unlock_model();
	sl_sort(out);
	return rc;
}

int core_sa_vhds(const char *region, const char *sa, struct strlist *out)
{
	struct region *r;
	struct sa_rec *s;
	int rc;
	lock_model_read();
	rc = region_ready(region, &r);
	s = rc == 0 ? sa_find(r, sa) : NULL;
	rc = s ? list_disks(s->vhds, out, ".vhd") : -ENOENT;
	unlock_model();
	return rc;
}

/* ---- disk lookups ---- */

/* model_lock held: the size of a listed disk. */
struct disk_rec *disk_lookup(struct region *r, int kind, const char *parent, const char *name)
{
	if (kind == 0) {
		struct rg_rec *g = rg_find(r, parent);
		return g ? disk_find(g->disks, name) : NULL;
	} else {
		struct sa_rec *s = sa_find(r, parent);
		return s ? disk_find(s->vhds, name) : NULL;
	}
}

/* model_lock held: whether region r holds disk k of a VM (a managed disk in
 * the VM's resource group, an unmanaged one in its storage account). */
int inv_vm_has_disk(struct region *r, const struct vm_info *vi, int k)
{
	const struct vm_disk_info *d = &vi->disks[k];
	return disk_lookup(r, d->managed ? 0 : 1, d->managed ? vi->rg : d->storage_account, d->name) != NULL;
}
