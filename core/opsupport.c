/*
 * opsupport.c - the helpers the item operations after enable share
 * (opsupport.h): inventory changes made under model_lock, disks built from
 * a recovery point, power, a job's own line parsed again, and the begin
 * and end of the operations on the target side.  The operations themselves
 * are failover.c (failover, change-recovery-point, commit,
 * complete-migration), reprotect.c, testfailover.c and resync.c; their
 * prepare is lifecycle.c's.
 *
 * How an operation runs: each is an entry of the table in ops.c whose job
 * type is a list of steps (jobs.c runs them, recording each).  A step
 * follows the locking rule of lock.h: copy what it needs under model_lock,
 * drop it for disk I/O, take it again to publish.  Bytes move through the
 * delta engine (sync_disk, replication_cycle_now in protect.c) and the
 * recovery-point chain (rpchain_export).
 *
 * Cancel and failure: a step returns -ECANCELED when job_cancelled() says
 * so, and then (and on any failure) the type's end puts back what it
 * changed, so the item is left exactly as it was.  Work that can be undone
 * (new disks, renames, power state) happens first; the step that can't be
 * undone (the direction swap of reprotect, deleting the old disks,
 * replacing disks by their rebuilt copies) is the last one and is not
 * cancellable.  Disks built from a recovery point are written under a
 * temporary name and only replace the existing ones once complete.
 */
#define _GNU_SOURCE
#include "opsupport.h"
#define _GNU_SOURCE
#include "chains.h"
#include "inventory.h"
#include "recio.h"
#include "protect.h"
#include "rules.h"
#include "verify.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>



/* ---- inventory helpers (model_lock held) ---- */

void replica_of(const char *disk, char *out, size_t len)
{
	size_t n = strlen(disk), s = strlen(REPLICA_SUFFIX);
	if (n > s && strcmp(disk + n - s, REPLICA_SUFFIX) == 0)
		snprintf(out, len, "%s", disk); /* never -ASRReplica-ASRReplica */
	else
		snprintf(out, len, "%.80s" REPLICA_SUFFIX, disk);
}

/* The vnet a source network maps to in the other region (or vnet itself). */
void mapped_vnet(struct vault_rec *v, const char *src_region, const char *vnet, char *out, size_t len)
{
	struct mapping_rec *m = mapping_find(v, src_region, vnet);
	const char *slash = m ? strchr(m->target, '/') : NULL;
	snprintf(out, len, "%s", slash ? slash + 1 : vnet);
}

/* Create or replace a VM record (its resource group exists). */
int vm_put(struct region *r, const struct vm_info *vi)
{
	struct rg_rec *g = rg_find(r, vi->rg);
	struct vm_rec *vm;
	int rc;

	if (!g)
		return -ENOENT;
	vm = vm_find(g, vi->name);
	if (!vm) {
		vm = calloc(1, sizeof(*vm));
		if (!vm)
			return -ENOMEM;
		rc = inv_vm_save(r, vi);
		if (rc < 0) {
			free(vm);
			return rc;
		}
		vm->info = *vi;
		vm->next = g->vms;
		g->vms = vm;
		return 0;
	}
	rc = inv_vm_save(r, vi);
	if (rc == 0)
		vm->info = *vi;
	return rc;
}

int vm_remove(struct region *r, const char *rg, const char *name)
{
	struct rg_rec *g = rg_find(r, rg);
	struct vm_rec **pp, *vm;
	char key[512];
	int rc;

	if (!g)
		return -ENOENT;
	for (pp = &g->vms; *pp && strcmp((*pp)->info.name, name) != 0; pp = &(*pp)->next)
		;
	if (!*pp)
		return -ENOENT;
	snprintf(key, sizeof(key), "resource-groups/%s/vms/%s.json", rg, name);
	rc = mio_rec_del(r->be, key);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	vm = *pp;
	*pp = vm->next;
	free(vm);
	return 0;
}

struct disk_rec **disk_list(struct region *r, int managed, const char *parent)
{
	if (managed) {
		struct rg_rec *g = rg_find(r, parent);
		return g ? &g->disks : NULL;
	}
	struct sa_rec *s = sa_find(r, parent);
	return s ? &s->vhds : NULL;
}

struct disk_rec *disk_at(struct region *r, int managed, const char *parent, const char *name)
{
	struct disk_rec **l = disk_list(r, managed, parent);
	return l ? disk_find(*l, name) : NULL;
}

/* Rename a disk inside a region (keys and inventory, names kept sorted).
 * model_lock held on entry and on return, dropped around the backend call. */
int disk_rename_inv(struct region *r, int managed, const char *fparent, const char *fname,
		    const char *tparent, const char *tname)
{
	struct disk_rec **from, **to, **pp, *d;
	char a[1024], b[1024];
	int rc;

	from = disk_list(r, managed, fparent);
	to = disk_list(r, managed, tparent);
	if (!from || !to || !disk_find(*from, fname))
		return -ENOENT;
	if (disk_find(*to, tname))
		return -EEXIST;
	disk_key(managed, fparent, fname, a, sizeof(a));
	disk_key(managed, tparent, tname, b, sizeof(b));
	/* A rename is backend I/O (a few requests on azblob, a copy for a
	 * disk made before links): never under the model lock.  The callers
	 * hold no model pointer across it (regions are never freed); the lists
	 * are looked up again after. */
	unlock_model();
	rc = r->be->ops->disk_rename(r->be, a, b);
	lock_model();
	if (rc < 0)
		return rc;
	from = disk_list(r, managed, fparent);
	to = disk_list(r, managed, tparent);
	for (pp = from; pp && *pp && strcmp((*pp)->name, fname) != 0; pp = &(*pp)->next)
		;
	if (!pp || !*pp || !to) {
		logmsg("region %s: disk %s renamed to %s, but its records moved meanwhile", r->name, a, b);
		return 0;
	}
	d = *pp;
	*pp = d->next;
	snprintf(d->name, sizeof(d->name), "%s", tname);
	for (pp = to; *pp && strcmp((*pp)->name, tname) < 0; pp = &(*pp)->next)
		;
	d->next = *pp;
	*pp = d;
	return 0;
}

/* Add a network mapping (the reverse one a reprotect needs). */
int mapping_add(struct vault_rec *v, const char *src, const char *vnet, const char *target)
{
	struct mapping_rec *m = calloc(1, sizeof(*m));
	int rc;
	if (!m)
		return -ENOMEM;
	snprintf(m->src_region, sizeof(m->src_region), "%s", src);
	snprintf(m->vnet, sizeof(m->vnet), "%s", vnet);
	snprintf(m->target, sizeof(m->target), "%s", target);
	m->next = v->maps;
	v->maps = m;
	rc = persist_vault(v);
	if (rc < 0) {
		v->maps = m->next;
		free(m);
	}
	return rc;
}

/* ---- job helpers ---- */

void job_progress(struct jobctx *c, int pct)
{
	lock_model();
	c->j->progress = pct;
	unlock_model();
}

int cancel_only(void *arg, const struct delta_stats *st)
{
	(void)st;
	return job_cancelled(arg);
}


/* Whether every other member of item's replication group that has points
 * has the multi-vm point id too (model_lock NOT held).  A member without
 * points (its failover committed, or not enabled yet) does not count. */
static int group_has_point(struct vault_rec *v, const char *item, const char *id)
{
	struct strlist others = {0};
	struct item_rec *it;
	int ok = 1, rc = 0;

	lock_model_read();
	it = item_find(v, item);
	for (struct item_rec *m = v->items; it && it->group[0] && m && rc == 0; m = m->next)
		if (m != it && strcmp(m->group, it->group) == 0 && !item_state_in(m->state, IS_NO_CHAIN_SET))
			rc = sl_add(&others, m->name);
	unlock_model();
	if (rc < 0)
		ok = 0;
	for (int k = 0; k < others.n && ok; k++) {
		struct rpchain *ch;
		struct rp_point *pts = NULL;
		int n = 0, found = 0;
		if (item_chain(v, others.v[k], &ch) < 0 || rpchain_list(ch, &pts, &n) < 0 || n == 0) {
			free(pts);
			continue;
		}
		for (int i = 0; i < n && !found; i++)
			found = pts[i].multi_vm && strcmp(pts[i].id, id) == 0;
		ok = found;
		free(pts);
	}
	sl_free(&others);
	return ok;
}

/* A point word or id to a point id of item v/item, whose recovery points
 * are ch (model_lock NOT held); -EINVAL: none.  The multi-vm words name the
 * newest multi-vm point that every member of the item's group has. */
int resolve_point(struct vault_rec *v, const char *item, struct rpchain *ch, const char *word,
		  char out[RP_ID_MAX], char *why, size_t len)
{
	struct rp_point *pts = NULL;
	int n = 0, rc = rpchain_list(ch, &pts, &n);
	int multi = strncmp(word, "latest-multi-vm-", 16) == 0;

	if (rc < 0) {
		snprintf(why, len, "cannot list the recovery points: %s", strerror(-rc));
		return rc;
	}
	rc = -EINVAL;
	if (n == 0) {
		snprintf(why, len, "there is no recovery point");
	} else if (strcmp(word, "latest") == 0 || strcmp(word, "latest-processed") == 0) {
		snprintf(out, RP_ID_MAX, "%s", pts[n - 1].id);
		rc = 0;
	} else if (strcmp(word, "latest-app-consistent") == 0 || multi) {
		int app = strstr(word, "app-consistent") != NULL;
		for (int i = n - 1; i >= 0 && rc; i--)
			if ((!app || pts[i].app_consistent) &&
			    (!multi || (pts[i].multi_vm && group_has_point(v, item, pts[i].id)))) {
				snprintf(out, RP_ID_MAX, "%s", pts[i].id);
				rc = 0;
			}
		if (rc)
			snprintf(why, len, "there is no %s%srecovery point", app ? "app-consistent " : "",
				 multi ? "multi-vm " : "");
	} else {
		for (int i = 0; i < n && rc; i++)
			if (strcmp(pts[i].id, word) == 0) {
				snprintf(out, RP_ID_MAX, "%s", pts[i].id);
				rc = 0;
			}
		if (rc)
			snprintf(why, len, "no recovery point %s (see recovery-points/)", word);
	}
	free(pts);
	return rc;
}

/* ---- disks from a recovery point ---- */


/* Write each disk of a point into d[] in region r (model_lock NOT held).
 * Each is built under "<name>-asrtmp"; only when all are complete (and the
 * job was not cancelled) do they replace the existing disks of those names.
 * On failure or cancel the temporaries are deleted and nothing changed. */
int build_from_point(struct jobctx *c, struct region *r, struct rpchain *ch, const char *point, int n,
		     const struct dtarget *d, int pct_from, int pct_to)
{
	char tmp[NAME_MAX_ + 8], key[1024];
	int rc = 0, made = 0;

	for (int i = 0; i < n; i++) {
		struct bdisk *bd = NULL;
		snprintf(tmp, sizeof(tmp), "%.80s" TMP_SUFFIX, d[i].name);
		lock_model();
		inv_disk_delete(r, d[i].managed, d[i].parent, tmp); /* a leftover of a crash */
		rc = inv_disk_create(r, d[i].managed, d[i].parent, tmp, d[i].size);
		unlock_model();
		if (rc < 0) {
			job_fail_msg(c, "cannot create disk %s: %s", tmp, strerror(-rc));
			goto undo;
		}
		made = i + 1;
		disk_key(d[i].managed, d[i].parent, tmp, key, sizeof(key));
		rc = r->be->ops->disk_open(r->be, key, BDISK_RDWR, &bd);
		if (rc == 0)
			rc = rpchain_export(ch, point, i, bd, cancel_only, c);
		bd_close(bd);
		if (rc < 0) {
			if (rc != -ECANCELED)
				job_fail_msg(c, "cannot copy point %s into disk %s: %s", point, d[i].name, strerror(-rc));
			goto undo;
		}
		job_progress(c, pct_from + (pct_to - pct_from) * (i + 1) / n);
	}
	if (job_cancelled(c)) {
		rc = -ECANCELED;
		goto undo;
	}
	/* The point of no return: the new disks replace the old ones. */
	lock_model();
	for (int i = 0; i < n && rc == 0; i++) {
		snprintf(tmp, sizeof(tmp), "%.80s" TMP_SUFFIX, d[i].name);
		if (disk_at(r, d[i].managed, d[i].parent, d[i].name))
			rc = inv_disk_delete(r, d[i].managed, d[i].parent, d[i].name);
		if (rc == 0)
			rc = disk_rename_inv(r, d[i].managed, d[i].parent, tmp, d[i].parent, d[i].name);
		if (rc < 0)
			snprintf(c->j->error, sizeof(c->j->error), "cannot put disk %s in place: %s", d[i].name,
				 strerror(-rc));
	}
	unlock_model();
	return rc;
undo:
	lock_model();
	for (int i = 0; i < made; i++) {
		snprintf(tmp, sizeof(tmp), "%.80s" TMP_SUFFIX, d[i].name);
		inv_disk_delete(r, d[i].managed, d[i].parent, tmp);
	}
	unlock_model();
	return rc;
}

/* A disk of a VM made from the item: named like the source's plus suffix,
 * in the target resource group or storage account. */
static void target_of(const struct item_rec *it, int managed, const char *name, uint64_t size, const char *suffix,
		      struct dtarget *d)
{
	d->managed = managed;
	snprintf(d->parent, sizeof(d->parent), "%s", managed ? it->target_rg : it->target_sa);
	snprintf(d->name, sizeof(d->name), "%.85s%s", name, suffix);
	d->size = size;
}

/* The failed-over (or test) disks of an item that a point holds, in the
 * point's order. */
int item_targets(const struct item_rec *it, const char *suffix, struct dtarget *d)
{
	for (int i = 0; i < it->ndisks; i++)
		target_of(it, it->disks[i].replica_managed, it->disks[i].name, it->disks[i].size, suffix, &d[i]);
	return it->ndisks;
}

/* Every disk of the VM made from the item, in the source VM's order: the
 * replicated ones and, in their places, the excluded ones. */
int vm_targets(const struct item_rec *it, const char *suffix, struct dtarget *d)
{
	int order[MAX_DISKS], n = item_vm_order(it, order);

	for (int k = 0; k < n; k++) {
		int i = order[k];
		if (i >= 0)
			target_of(it, it->disks[i].replica_managed, it->disks[i].name, it->disks[i].size, suffix, &d[k]);
		else
			target_of(it, it->excl[EXCL_OF(i)].managed, it->excl[EXCL_OF(i)].name,
				  it->excl[EXCL_OF(i)].size, suffix, &d[k]);
	}
	return n;
}

/* An excluded disk has no replica and is in no point: the VM made from the
 * item gets an empty disk (zeros) of its size in its place, made anew
 * (whatever a disk of that name held goes: a run again after a crash, or
 * change-recovery-point, finds the one made before).  model_lock NOT held. */
int build_excluded(struct jobctx *c, struct region *r, const struct item_rec *it, const char *suffix)
{
	int rc = 0;

	lock_model();
	for (int k = 0; k < it->nexcl && rc == 0; k++) {
		struct dtarget d;
		target_of(it, it->excl[k].managed, it->excl[k].name, it->excl[k].size, suffix, &d);
		rc = inv_disk_delete(r, d.managed, d.parent, d.name);
		if (rc == -ENOENT)
			rc = 0;
		if (rc == 0)
			rc = inv_disk_create(r, d.managed, d.parent, d.name, d.size);
		if (rc < 0)
			snprintf(c->j->error, sizeof(c->j->error), "cannot create the empty disk %s of excluded disk %s: %s",
				 d.name, it->excl[k].name, strerror(-rc));
	}
	unlock_model();
	return rc;
}

/* model_lock held: the target resource group, network, availability set
 * and storage account a VM in the target region needs. */
int ensure_target(struct region *tgt, const struct item_rec *it, const char *vnet, int with_aset)
{
	int rc = inv_rg_create(tgt, it->target_rg, NULL);
	if (rc == -EEXIST)
		rc = 0;
	if (rc == 0 && vnet[0])
		rc = inv_net_ensure(tgt, it->target_rg, vnet);
	if (rc == 0 && with_aset && it->aset[0])
		rc = inv_aset_ensure(tgt, it->target_rg, it->aset);
	for (int i = 0; rc == 0 && i < it->ndisks; i++)
		if (!it->disks[i].replica_managed && it->target_sa[0])
			rc = inv_sa_ensure(tgt, it->target_sa);
	for (int k = 0; rc == 0 && k < it->nexcl; k++)
		if (!it->excl[k].managed && it->target_sa[0])
			rc = inv_sa_ensure(tgt, it->target_sa);
	return rc;
}

void vm_from_targets(struct vm_info *vi, const char *name, const char *rg, const char *region,
		     const char *net, const char *aset, int n, const struct dtarget *d)
{
	memset(vi, 0, sizeof(*vi));
	snprintf(vi->name, sizeof(vi->name), "%s", name);
	snprintf(vi->rg, sizeof(vi->rg), "%s", rg);
	snprintf(vi->region, sizeof(vi->region), "%s", region);
	snprintf(vi->network, sizeof(vi->network), "%s", net);
	snprintf(vi->availability_set, sizeof(vi->availability_set), "%s", aset);
	vi->running = 1;
	vi->created = time(NULL);
	vi->ndisks = n;
	for (int i = 0; i < n; i++) {
		snprintf(vi->disks[i].name, sizeof(vi->disks[i].name), "%s", d[i].name);
		vi->disks[i].size = d[i].size;
		vi->disks[i].managed = d[i].managed;
		if (!d[i].managed)
			snprintf(vi->disks[i].storage_account, sizeof(vi->disks[i].storage_account), "%s", d[i].parent);
	}
}

/* Set a VM's power (model_lock held); *was gets the old state. */
int vm_power(struct region *r, const char *rg, const char *name, int running, int *was)
{
	struct vm_rec *vm = vm_at(r, rg, name);
	int rc = 0;
	if (!vm)
		return -ENOENT;
	*was = vm->info.running;
	if (vm->info.running != running) {
		vm->info.running = running;
		rc = inv_vm_save(r, &vm->info);
		if (rc < 0)
			vm->info.running = !running;
	}
	return rc;
}

/* ---- control lines ---- */

/* The table of operations (ops.c) is above this file too: job_args finds
 * its job's entry through what the daemon registers. */
static const struct op_def *(*entry_of_job)(const struct job_type *t);

/* A job's own line, the canonical one its control stored, through the
 * parser that accepted it (model_lock NOT held). */
int job_args(struct jobctx *c, struct op_args *a)
{
	const struct op_def *op = entry_of_job(c->j->type);
	struct ctl_line cl;
	char line[sizeof(c->j->args)], why[256];
	int rc;
	lock_model();
	snprintf(line, sizeof(line), "%s", c->j->args);
	unlock_model();
	rc = ctl_parse(line, strlen(line), &cl, why, sizeof(why));
	if (rc == 0 && !op) {
		snprintf(why, sizeof(why), "no operation runs a %s job", c->j->type->slug);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = op_parse(op, &cl, a, why, sizeof(why));
	if (rc < 0)
		job_fail_msg(c, "bad arguments: %s", why);
	return rc;
}

/* Which states take a control is vault.c's table, above this file; the
 * daemon registers its rule (item_allowed) at start-up, and check_point
 * asks it again once it took model_lock back. */
static int (*control_allowed)(struct item_rec *it, const char *control);

void lifecycle_set_allowed(int (*allowed)(struct item_rec *it, const char *control),
			   const struct op_def *(*of_job)(const struct job_type *t))
{
	control_allowed = allowed;
	entry_of_job = of_job;
}

/* model_lock held on entry and exit; dropped while the chain is consulted.
 * 0 when the point word names a point now. */
int check_point(struct vault_rec *v, struct item_rec *it, const char *control, const char *word)
{
	char name[NAME_MAX_], why[ERR_MAX] = "", id[RP_ID_MAX];
	struct rpchain *ch = NULL;
	int rc;

	snprintf(name, sizeof(name), "%s", it->name);
	unlock_model();
	rc = item_open_chain(v, it);
	lock_model();
	if (item_find(v, name) != it)
		return -ENOENT;
	ch = it->chain;
	unlock_model();
	if (rc == 0 && ch)
		rc = resolve_point(v, name, ch, word, id, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "cannot open the recovery points: %s", strerror(rc ? -rc : ENOENT));
	lock_model();
	if (item_find(v, name) != it)
		return -ENOENT;
	if (it->job)
		return fail_item(it, -EBUSY, "job %s is running on %s", it->job->id, it->name);
	if (!control_allowed(it, control))
		return fail_item(it, -EPERM, "%s is not allowed while %s is %s", control, it->name, item_state_name(it->state));
	if (rc < 0)
		return fail_item(it, rc == -EINVAL ? -EINVAL : rc, "%s refused: %s", control, why);
	return 0;
}

/* ---- Failover ---- */


uint64_t item_bytes(const struct item_rec *it)
{
	uint64_t t = 0;
	for (int i = 0; i < it->ndisks; i++)
		t += it->disks[i].size;
	return t;
}

/* Copy the item into *snap and find its regions (src may be NULL); fails,
 * with the job's error set, when the target region (role says what it is
 * to the job) is down.  vnet, when not NULL, gets the item's mapped target
 * network.  model_lock must NOT be held: taken here. */
int snap_item(struct jobctx *c, struct item_rec *snap, const char *role, struct region **src,
	      struct region **tgt, char *vnet)
{
	struct item_rec *it;
	char why[300];
	int rc = -ENOENT;

	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		*snap = *it;
		if (src)
			*src = region_find(snap->source_region);
		*tgt = region_find(snap->target_region);
		rc = region_up(*tgt, role, why, sizeof(why));
		if (rc < 0)
			snprintf(c->j->error, sizeof(c->j->error), "%s", why);
		if (vnet)
			mapped_vnet(c->v, snap->source_region, snap->network, vnet, NAME_MAX_);
	}
	unlock_model();
	return rc;
}

/* Resolve the point word (an id, latest, ...) in ch into point; the job's
 * error says why not.  model_lock must NOT be held. */
int pick_point(struct jobctx *c, struct rpchain *ch, const char *word, char point[RP_ID_MAX])
{
	char why[300];
	int rc = resolve_point(c->v, c->item, ch, word, point, why, sizeof(why));
	if (rc < 0)
		job_fail_msg(c, "%s", why);
	return rc;
}

/* Open the item's recovery points into *ch and, when word is not NULL,
 * resolve it into point; the job's error says why not.  model_lock must
 * NOT be held. */
int open_points(struct jobctx *c, struct rpchain **ch, const char *word, char point[RP_ID_MAX])
{
	int rc = item_chain(c->v, c->item, ch);
	if (rc < 0)
		job_fail_msg(c, "cannot open the recovery points: %s", strerror(-rc));
	else if (word)
		rc = pick_point(c, *ch, word, point);
	return rc;
}

/* Power the VM off, setting *stopped when it was running; a VM that is not
 * there is nothing to shut down.  model_lock held. */
int vm_stop(struct region *r, const char *rg, const char *name, int *stopped)
{
	int was = 0, rc = vm_power(r, rg, name, 0, &was);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0)
		*stopped = was;
	return rc;
}

/* Power a VM the job stopped back on, as a failed job changes nothing.
 * model_lock must NOT be held: taken here. */
void vm_restart(struct region *r, const char *rg, const char *name)
{
	int was;
	lock_model();
	vm_power(r, rg, name, 1, &was);
	unlock_model();
}

/* Create the target resources and build the item's disks from point into
 * dt (*n of them): for a failover the vnet is filled from the network
 * mapping and the availability set is made; with test set, for a test
 * failover, the disks are named "-test", the vnet is as given and no
 * availability set is made.  model_lock must NOT be held: taken for the
 * resources only, the disks are built outside it. */
int build_target(struct jobctx *c, struct region *tgt, const struct item_rec *snap, int test, char *vnet,
		 struct rpchain *ch, const char *point, struct dtarget *dt, int *n)
{
	int rc;

	lock_model();
	if (!test)
		mapped_vnet(c->v, snap->source_region, snap->network, vnet, NAME_MAX_);
	rc = ensure_target(tgt, snap, vnet, !test);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot create the %s resources: %s",
			 test ? "test" : "target", strerror(-rc));
	unlock_model();
	*n = item_targets(snap, test ? "-test" : "", dt);
	if (rc == 0)
		rc = build_from_point(c, tgt, ch, point, *n, dt, test ? 5 : 10, 90);
	if (rc == 0)
		rc = build_excluded(c, tgt, snap, test ? "-test" : "");
	return rc;
}



int op_begin(struct jobctx *c, int first, op_load_fn load)
{
	struct op_ctx *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return -ENOMEM;
	c->data = x;
	rc = job_args(c, &x->a);
	if (rc == 0 && first > 0) /* resumed: the prerequisites step read these */
		rc = load(c, x);
	return rc;
}

void op_end(struct jobctx *c, int rc)
{
	struct op_ctx *x = c->data;

	if (x && rc < 0 && x->stop_r)
		vm_restart(x->stop_r, x->stop_rg, x->snap.name);
	free(x);
	c->data = NULL;
}

/* Power off the item's VM in region r, resource group rg, noting it in x
 * when it was running.  Safe to repeat: a VM already off was not running.
 * model_lock held. */
int op_vm_stop(struct op_ctx *x, struct region *r, const char *rg)
{
	int stopped = 0, rc = vm_stop(r, rg, x->snap.name, &stopped);

	if (rc == 0 && stopped) {
		x->stop_r = r;
		snprintf(x->stop_rg, sizeof(x->stop_rg), "%s", rg);
	}
	return rc;
}

int jint_of(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v) : 0;
}

const char *jstr_of(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}
