/*
 * lifecycle.c - the item operations of SPEC section 4 beyond enable and
 * disable: failover, change-recovery-point, commit, reprotect (and so
 * failback), test-failover and its cleanup, resync and complete-migration;
 * and the control side of verify (its job is in verify.c).
 *
 * How it fits: each operation is an entry of the table in ops.c; vault.c
 * checks a control's states and parses its line against that entry (EINVAL),
 * then calls lifecycle_prepare() with model_lock held; prepare applies the
 * entry's check() (the check_* functions here: EHOSTUNREACH, EPERM) and the
 * recovery point, then queues a job (jobs.c).  The job's run() function here
 * follows the locking rule of model.h: copy what it needs under model_lock,
 * drop it for disk I/O, take it again to publish.  Bytes move through the
 * delta engine (sync_disk, replication_cycle_now in protect.c) and the
 * recovery-point chain (rpchain_export).
 *
 * Cancel and failure: a run() returns -ECANCELED when job_cancelled() says
 * so, and then (and on any failure) it puts back what it changed, so the
 * item is left exactly as it was.  Work that can be undone (new disks,
 * renames, power state) happens first; the step that can't be undone (the
 * direction swap of reprotect, deleting the old disks, replacing disks by
 * their rebuilt copies) is the last one and is not cancellable.  Disks built
 * from a recovery point are written under a temporary name and only replace
 * the existing ones once complete.
 */
#define _GNU_SOURCE
#include "chains.h"
#include "inventory.h"
#include "jobs.h"
#include "lifecycle.h"
#include "model.h"
#include "recio.h"
#include "opdef.h"
#include "protect.h"
#include "rules.h"
#include "verify.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TMP_SUFFIX "-asrtmp"
#define REPLICA_SUFFIX "-ASRReplica"

/* ---- inventory helpers (model_lock held) ---- */

static void replica_of(const char *disk, char *out, size_t len)
{
	size_t n = strlen(disk), s = strlen(REPLICA_SUFFIX);
	if (n > s && strcmp(disk + n - s, REPLICA_SUFFIX) == 0)
		snprintf(out, len, "%s", disk); /* never -ASRReplica-ASRReplica */
	else
		snprintf(out, len, "%.80s" REPLICA_SUFFIX, disk);
}

/* The vnet a source network maps to in the other region (or vnet itself). */
static void mapped_vnet(struct vault_rec *v, const char *src_region, const char *vnet, char *out, size_t len)
{
	struct mapping_rec *m = mapping_find(v, src_region, vnet);
	const char *slash = m ? strchr(m->target, '/') : NULL;
	snprintf(out, len, "%s", slash ? slash + 1 : vnet);
}

/* Create or replace a VM record (its resource group exists). */
static int vm_put(struct region *r, const struct vm_info *vi)
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

static int vm_remove(struct region *r, const char *rg, const char *name)
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

static struct disk_rec **disk_list(struct region *r, int managed, const char *parent)
{
	if (managed) {
		struct rg_rec *g = rg_find(r, parent);
		return g ? &g->disks : NULL;
	}
	struct sa_rec *s = sa_find(r, parent);
	return s ? &s->vhds : NULL;
}

static struct disk_rec *disk_at(struct region *r, int managed, const char *parent, const char *name)
{
	struct disk_rec **l = disk_list(r, managed, parent);
	return l ? disk_find(*l, name) : NULL;
}

/* Rename a disk inside a region (keys and inventory, names kept sorted).
 * model_lock held on entry and on return, dropped around the backend call. */
static int disk_rename_inv(struct region *r, int managed, const char *fparent, const char *fname,
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
static int mapping_add(struct vault_rec *v, const char *src, const char *vnet, const char *target)
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

/* model_lock held: remove a task that does not apply from a new job. */
static void job_drop_task(struct vault_rec *v, struct job_rec *j, const char *name)
{
	for (int i = 0; i < j->ntasks; i++) {
		if (strcmp(j->tasks[i].name, name) != 0)
			continue;
		memmove(&j->tasks[i], &j->tasks[i + 1], sizeof(j->tasks[0]) * (size_t)(j->ntasks - i - 1));
		j->ntasks--;
		persist_job(v, j);
		return;
	}
}

static void job_progress(struct jobctx *c, int pct)
{
	lock_model();
	c->j->progress = pct;
	unlock_model();
}

static int cancel_only(void *arg, const struct delta_stats *st)
{
	(void)st;
	return job_cancelled(arg);
}


/* A point word or id to a point id (model_lock NOT held); -EINVAL: none. */
static int resolve_point(struct rpchain *ch, const char *word, char out[RP_ID_MAX], char *why, size_t len)
{
	struct rp_point *pts = NULL;
	int n = 0, rc = rpchain_list(ch, &pts, &n);

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
	} else if (strcmp(word, "latest-app-consistent") == 0) {
		for (int i = n - 1; i >= 0 && rc; i--)
			if (pts[i].app_consistent) {
				snprintf(out, RP_ID_MAX, "%s", pts[i].id);
				rc = 0;
			}
		if (rc)
			snprintf(why, len, "there is no app-consistent recovery point");
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

struct dtarget {
	int managed;
	char parent[NAME_MAX_], name[NAME_MAX_];
	uint64_t size;
};

/* Write each disk of a point into d[] in region r (model_lock NOT held).
 * Each is built under "<name>-asrtmp"; only when all are complete (and the
 * job was not cancelled) do they replace the existing disks of those names.
 * On failure or cancel the temporaries are deleted and nothing changed. */
static int build_from_point(struct jobctx *c, struct region *r, struct rpchain *ch, const char *point, int n,
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

/* The failed-over (or test) disks of an item: named like the source's plus
 * suffix, in the target resource group or storage account. */
static int item_targets(const struct item_rec *it, const char *suffix, struct dtarget *d)
{
	for (int i = 0; i < it->ndisks; i++) {
		const struct item_disk *s = &it->disks[i];
		d[i].managed = s->replica_managed;
		snprintf(d[i].parent, sizeof(d[i].parent), "%s", s->replica_managed ? it->target_rg : it->target_sa);
		snprintf(d[i].name, sizeof(d[i].name), "%.85s%s", s->name, suffix);
		d[i].size = s->size;
	}
	return it->ndisks;
}

/* model_lock held: the target resource group, network, availability set
 * and storage account a VM in the target region needs. */
static int ensure_target(struct region *tgt, const struct item_rec *it, const char *vnet, int with_aset)
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
	return rc;
}

static void vm_from_targets(struct vm_info *vi, const char *name, const char *rg, const char *region,
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
static int vm_power(struct region *r, const char *rg, const char *name, int running, int *was)
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
static int job_args(struct jobctx *c, struct op_args *a)
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
static int check_point(struct vault_rec *v, struct item_rec *it, const char *control, const char *word)
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
		rc = resolve_point(ch, word, id, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "cannot open the recovery points: %s", strerror(rc ? -rc : ENOENT));
	lock_model();
	if (item_find(v, name) != it)
		return -ENOENT;
	if (it->job)
		return fail_item(it, -EBUSY, "job %s is running on %s", it->job->id, it->name);
	if (!control_allowed(it, control))
		return fail_item(it, -EPERM, "%s is not allowed while %s is %s", control, it->name, it->state);
	if (rc < 0)
		return fail_item(it, rc == -EINVAL ? -EINVAL : rc, "%s refused: %s", control, why);
	return 0;
}

/* ---- Failover ---- */

#define T_PREREQ "Prerequisites check"
#define T_SHUTDOWN "Shut down the virtual machine"
#define T_SYNCLAST "Synchronizing the latest changes"
#define T_FAILOVER "Start failover"
#define T_STARTVM "Start the replica virtual machine"

static uint64_t item_bytes(const struct item_rec *it)
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
static int snap_item(struct jobctx *c, struct item_rec *snap, const char *role, struct region **src,
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
static int pick_point(struct jobctx *c, struct rpchain *ch, const char *word, char point[RP_ID_MAX])
{
	char why[300];
	int rc = resolve_point(ch, word, point, why, sizeof(why));
	if (rc < 0)
		job_fail_msg(c, "%s", why);
	return rc;
}

/* Open the item's recovery points into *ch and, when word is not NULL,
 * resolve it into point; the job's error says why not.  model_lock must
 * NOT be held. */
static int open_points(struct jobctx *c, struct rpchain **ch, const char *word, char point[RP_ID_MAX])
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
static int vm_stop(struct region *r, const char *rg, const char *name, int *stopped)
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
static void vm_restart(struct region *r, const char *rg, const char *name)
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
static int build_target(struct jobctx *c, struct region *tgt, const struct item_rec *snap, int test, char *vnet,
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
	return rc;
}

/* What the steps of an operation on the target side (failover, change
 * recovery point, test failover) share: its arguments, the item as it read
 * when the job (or its resume) began, its regions and recovery points, the
 * point it uses, and the VM this run powered off (restarted if it fails). */
struct op_ctx {
	struct op_args a;
	struct item_rec snap;
	struct region *src, *tgt;
	struct rpchain *ch;
	char point[RP_ID_MAX];
	char vnet[NAME_MAX_];
	struct region *stop_r; /* where the VM this run powered off runs, or NULL */
	char stop_rg[NAME_MAX_];
};

/* A type's reading of the item, regions and points into x (model_lock NOT
 * held); its prerequisites step calls it, and begin on a resume. */
typedef int (*op_load_fn)(struct jobctx *c, struct op_ctx *x);

static int op_begin(struct jobctx *c, int first, op_load_fn load)
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

static void op_end(struct jobctx *c, int rc)
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
static int op_vm_stop(struct op_ctx *x, struct region *r, const char *rg)
{
	int stopped = 0, rc = vm_stop(r, rg, x->snap.name, &stopped);

	if (rc == 0 && stopped) {
		x->stop_r = r;
		snprintf(x->stop_rg, sizeof(x->stop_rg), "%s", rg);
	}
	return rc;
}

static int fo_load(struct jobctx *c, struct op_ctx *x)
{
	int rc = snap_item(c, &x->snap, "the recovery region", &x->src, &x->tgt, NULL);
	if (rc == 0)
		rc = open_points(c, &x->ch, NULL, NULL);
	return rc;
}

static int failover_begin(struct jobctx *c, int first)
{
	return op_begin(c, first, fo_load);
}

static int failover_prereq(struct jobctx *c)
{
	int rc = wait_cycle_done(c);
	return rc < 0 ? rc : fo_load(c, c->data);
}

static int failover_shutdown(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	char why[300];
	int rc;

	lock_model();
	rc = region_up(x->src, "the source", why, sizeof(why));
	if (rc == 0)
		rc = op_vm_stop(x, x->src, x->snap.vm_rg);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot shut down %s: %s", x->snap.name,
			 rc == -EHOSTUNREACH ? why : strerror(-rc));
	unlock_model();
	return rc;
}

/* A cycle run again after a crash ships what changed since its last point. */
static int failover_synclast(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	char why[300];
	int up, rc = 0;

	lock_model();
	up = x->src && x->src->available;
	unlock_model();
	if (up) {
		struct jobprog jp = {.c = c, .base_transferred = job_sent(c)};
		job_set_total(c, item_bytes(&x->snap));
		rc = replication_cycle_now(c->v, c->item, 0, &jp, why, sizeof(why));
		if (rc < 0 && rc != -ECANCELED)
			job_fail_msg(c, "cannot ship the latest changes: %s", why);
	} else {
		logmsg("item %s: the source region is down; failing over to the latest processed point", c->item);
	}
	return rc;
}

/* Building the target disks again from the point rewrites them whole. */
static int failover_build(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	char point[RP_ID_MAX], vnet[NAME_MAX_];
	int rc, n;

	if (job_cancelled(c))
		return -ECANCELED;
	rc = pick_point(c, x->ch, x->a.point, point);
	if (rc == 0)
		rc = build_target(c, x->tgt, &x->snap, 0, vnet, x->ch, point, dt, &n);
	if (rc == 0)
		logmsg("item %s: failed over to %s from point %s", c->item, x->snap.target_region, point);
	return rc;
}

/* The VM record is put whole: a second put is the same VM. */
static int failover_startvm(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	struct item_rec *it;
	struct vm_info vi;
	char vnet[NAME_MAX_];
	int rc, n;

	lock_model();
	mapped_vnet(c->v, x->snap.source_region, x->snap.network, vnet, sizeof(vnet));
	n = item_targets(&x->snap, "", dt);
	vm_from_targets(&vi, x->snap.name, x->snap.target_rg, x->snap.target_region, vnet, x->snap.aset, n, dt);
	rc = vm_put(x->tgt, &vi);
	it = item_find(c->v, c->item);
	if (rc < 0) {
		snprintf(c->j->error, sizeof(c->j->error), "cannot create VM %s: %s", x->snap.name, strerror(-rc));
	} else if (it) {
		snprintf(it->active_region, sizeof(it->active_region), "%s", it->target_region);
		for (int i = 0; i < it->ndisks; i++)
			snprintf(it->disks[i].state, sizeof(it->disks[i].state), "FailedOver");
		persist_item(c->v, it);
	}
	unlock_model();
	return rc;
}

/* Failover's tasks, in the order of JT_FAILOVER.tasks. */
enum { FO_PREREQ, FO_SHUTDOWN, FO_SYNCLAST, FO_FAILOVER, FO_STARTVM };

static const struct job_step failover_steps[] = {
	{FO_PREREQ, failover_prereq},   {FO_SHUTDOWN, failover_shutdown}, {FO_SYNCLAST, failover_synclast},
	{FO_FAILOVER, failover_build},  {FO_STARTVM, failover_startvm},   {0, NULL},
};

const struct job_type JT_FAILOVER = {
	.name = "Failover",
	.slug = "failover",
	.tasks = {T_PREREQ, T_SHUTDOWN, T_SYNCLAST, T_FAILOVER, T_STARTVM},
	.running_state = "FailoverInProgress",
	.done_state = "FailedOver",
	.failed_state = "FailoverFailed",
	.steps = failover_steps,
	.begin = failover_begin,
	.end = op_end,
};

/* ---- Change recovery point ---- */

#define T_CRP "Change recovery point"
#define T_STARTVM2 "Start the virtual machine"

static int crp_load(struct jobctx *c, struct op_ctx *x)
{
	int rc = snap_item(c, &x->snap, "where the failed-over VM runs", NULL, &x->tgt, NULL);
	if (rc == 0)
		rc = open_points(c, &x->ch, x->a.point, x->point);
	return rc;
}

static int crp_begin(struct jobctx *c, int first)
{
	return op_begin(c, first, crp_load);
}

static int crp_prereq(struct jobctx *c)
{
	return crp_load(c, c->data);
}

static int crp_shutdown(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	int rc;

	lock_model();
	rc = op_vm_stop(x, x->tgt, x->snap.target_rg);
	unlock_model();
	return rc;
}

/* Building the disks again from the point rewrites them whole (a cancel
 * leaves the task to the job's end, which shows it Cancelled). */
static int crp_build(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	int n = item_targets(&x->snap, "", dt);
	int rc = build_from_point(c, x->tgt, x->ch, x->point, n, dt, 10, 90);

	if (rc == 0)
		logmsg("item %s: the failed-over VM now runs from point %s", c->item, x->point);
	return rc;
}

/* Powering on is safe to repeat. */
static int crp_startvm(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	int rc, was = 0;

	lock_model();
	rc = vm_power(x->tgt, x->snap.target_rg, x->snap.name, 1, &was);
	if (rc == -ENOENT)
		rc = 0;
	x->stop_r = NULL;
	unlock_model();
	return rc;
}

/* Change recovery point's tasks, in the order of JT_CRP.tasks. */
enum { CRP_PREREQ, CRP_SHUTDOWN, CRP_BUILD, CRP_STARTVM };

static const struct job_step crp_steps[] = {
	{CRP_PREREQ, crp_prereq}, {CRP_SHUTDOWN, crp_shutdown}, {CRP_BUILD, crp_build},
	{CRP_STARTVM, crp_startvm}, {0, NULL},
};

const struct job_type JT_CRP = {
	.name = "Change recovery point",
	.slug = "change-recovery-point",
	.tasks = {T_PREREQ, T_SHUTDOWN, T_CRP, T_STARTVM2},
	.running_state = "ChangeRecoveryPointInProgress",
	.done_state = "FailedOver",
	.failed_state = NULL,
	.steps = crp_steps,
	.begin = crp_begin,
	.end = op_end,
};

/* ---- Commit ---- */

#define T_DELPOINTS "Deleting recovery points"
#define T_DELREPLICAS "Deleting replica disks"
#define T_CLEANUP "Cleaning up replication data"

/* model_lock held: forget the item's recovery points in memory. */
static void item_points_gone(struct item_rec *it)
{
	item_close_chain(it);
	it->npoints = 0;
	it->last_point[0] = it->last_app_point[0] = '\0';
	it->last_point_time = 0;
}

struct rm_arg {
	struct backend *be;
	const char *prefix;
	int rc;
};

static int rm_child(void *arg, const char *name, int is_dir)
{
	struct rm_arg *a = arg;
	char key[1024];
	int rc;

	(void)is_dir;
	if (strcmp(name, "maps") == 0)
		return 0;
	snprintf(key, sizeof(key), "%s/%s", a->prefix, name);
	rc = mio_remove_tree(a->be, key);
	if (rc < 0 && rc != -ENOENT && a->rc == 0)
		a->rc = rc;
	return 0;
}

/* Remove an item's data in a region (undo data of its points) but keep its
 * block maps: they name the source disks' bytes at the last cycle, which a
 * later reprotect uses instead of reading those disks again. */
static int remove_but_maps(struct backend *be, const char *prefix)
{
	struct rm_arg a = {.be = be, .prefix = prefix, .rc = 0};
	int rc = be->ops->list(be, prefix, rm_child, &a);

	if (rc == -ENOENT)
		rc = 0;
	return rc < 0 ? rc : a.rc;
}

/* The region that holds the item's replicas; the job's error says why it
 * cannot be used (model_lock NOT held). */
static int commit_target(struct jobctx *c, struct region **tgt)
{
	struct item_rec *it;
	char why[300];
	int rc = -ENOENT;

	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		*tgt = region_find(it->target_region);
		rc = region_up(*tgt, "which holds the replicas", why, sizeof(why));
		if (rc < 0)
			snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	}
	unlock_model();
	return rc;
}

static int commit_prereq(struct jobctx *c)
{
	struct region *tgt;
	int rc = commit_target(c, &tgt);

	if (rc < 0)
		return rc;
	return job_cancelled(c) ? -ECANCELED : 0;
}

/* A chain already destroyed is not there to destroy (-ENOENT). */
static int commit_delpoints(struct jobctx *c)
{
	struct item_rec *it;
	struct rpchain *ch = NULL;
	int rc = item_chain(c->v, c->item, &ch);

	if (rc == 0)
		rc = rpchain_destroy(ch);
	if (rc < 0 && rc != -ENOENT) {
		job_fail_msg(c, "cannot delete the recovery points: %s", strerror(-rc));
		return rc;
	}
	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		item_points_gone(it);
		persist_item(c->v, it);
	}
	unlock_model();
	return 0;
}

/* Replicas already deleted are gone (-ENOENT): safe to repeat. */
static int commit_delreplicas(struct jobctx *c)
{
	struct item_rec *it;
	struct region *tgt;
	int rc = commit_target(c, &tgt);

	if (rc < 0)
		return rc;
	lock_model();
	it = item_find(c->v, c->item);
	for (int i = 0; it && i < it->ndisks; i++) {
		struct item_disk *d = &it->disks[i];
		int r = inv_disk_delete(tgt, d->replica_managed, d->replica_parent, d->replica);
		if (r < 0 && r != -ENOENT) {
			rc = r;
			snprintf(c->j->error, sizeof(c->j->error), "cannot delete replica disk %s: %s", d->replica,
				 strerror(-r));
		}
		snprintf(d->state, sizeof(d->state), "FailoverCommitted");
		d->synced_bytes = 0;
	}
	if (it)
		persist_item(c->v, it);
	unlock_model();
	return rc;
}

/* Removing what is already removed finds nothing to remove. */
static int commit_cleanup(struct jobctx *c)
{
	struct region *tgt;
	char prefix[512];
	int rc = commit_target(c, &tgt);

	if (rc < 0)
		return rc;
	maps_forget(c->v, c->item);
	key_item_data(c->v, c->item, prefix, sizeof(prefix));
	rc = remove_but_maps(tgt->be, prefix);
	if (rc == 0)
		protection_end(c->v, c->item); /* of the source and the replicas */
	return rc;
}

/* Commit's tasks, in the order of JT_COMMIT.tasks. */
enum { CM_PREREQ, CM_DELPOINTS, CM_DELREPLICAS, CM_CLEANUP };

static const struct job_step commit_steps[] = {
	{CM_PREREQ, commit_prereq},         {CM_DELPOINTS, commit_delpoints},
	{CM_DELREPLICAS, commit_delreplicas}, {CM_CLEANUP, commit_cleanup},
	{0, NULL},
};

const struct job_type JT_COMMIT = {
	.name = "Commit",
	.slug = "commit",
	.tasks = {T_PREREQ, T_DELPOINTS, T_DELREPLICAS, T_CLEANUP},
	.running_state = "CommitInProgress",
	.done_state = "FailoverCommitted",
	.failed_state = NULL,
	.steps = commit_steps,
};

/* ---- Reprotect ---- */

#define T_RESOURCES "Creating target resources"
#define T_PREPDISKS "Preparing target disks"
#define T_DELTAS "Identifying the deltas"
#define T_SYNC "Synchronizing"
#define T_STARTREP "Starting delta replication"

/* How each replica disk is prepared in the old primary:
 *   EMPTY  no usable original (VM or disk gone, kind changed): created empty,
 *          the synchronization copies everything;
 *   COPY   a managed disk, as SPEC says: copied to -ASRReplica, the original
 *          deleted at the end, so a cancel finds it untouched;
 *   MOVE   the same where the medium has snapshots: one rename (no bytes
 *          move, and they keep their version, so the last cycle's map still
 *          names them) and a snapshot of the original bytes before anything
 *          writes them; a cancel restores the snapshot and renames back;
 *   USE    an unmanaged data disk: detached and used in place (renamed);
 *   OS     an unmanaged OS disk: used in place, a copy stays with the VM. */
enum { PREP_EMPTY, PREP_COPY, PREP_MOVE, PREP_USE, PREP_OS };

struct rp_disk {
	int managed;
	char name[NAME_MAX_];
	uint64_t size;
	char src_parent[NAME_MAX_];             /* the failed-over disk: the new source */
	char rep_parent[NAME_MAX_], rep[NAME_MAX_]; /* the new replica in the old primary */
	char orig_parent[NAME_MAX_];            /* the original disk in the old primary */
	int orig_managed;
	int how;
	int rep_existed;                        /* the replica was there before the job */
	int created, renamed, copied_back;      /* done so far, for the undo */
	char snap[BACKEND_SNAP_MAX];            /* MOVE: the original's bytes, "" if none */
};

struct rp_ctx {
	struct item_rec snap;
	struct region *nsrc, *ntgt;
	char trg[NAME_MAX_], tsa[NAME_MAX_], cache[NAME_MAX_], aset[NAME_MAX_];
	char net_src[NAME_MAX_], net_tgt[NAME_MAX_];
	int old_vm, powered_off, rg_changed, any_unmanaged;
	char old_rg[NAME_MAX_];  /* the old VM's resource group */
	int was_running;         /* the old VM's power before the job */
	int step;                /* enum rp_step: recorded in the job's plan */
	struct vm_info old_vi;
	int n;
	struct rp_disk d[MAX_DISKS];
	struct blockmap *maps[MAX_DISKS];
	struct vault_rec *v; /* for the thread that saves the maps */
};

static void strip_suffix(const char *in, const char *suffix, char *out, size_t len)
{
	size_t n = strlen(in), s = strlen(suffix);
	if (n > s && strcmp(in + n - s, suffix) == 0)
		snprintf(out, len, "%.*s", (int)(n - s), in);
	else
		snprintf(out, len, "%s", in);
}

/* model_lock held: work out every name reprotect uses. */
static int reprotect_plan(struct vault_rec *v, struct rp_ctx *x, const struct op_args *a)
{
	struct item_rec *s = &x->snap;
	struct vm_rec *old, *rec;
	struct mapping_rec *m;

	x->nsrc = region_find(s->target_region);
	x->ntgt = region_find(s->source_region);
	rec = vm_at(x->nsrc, s->target_rg, s->name);
	if (!rec)
		return -EPERM;
	old = vm_at(x->ntgt, s->vm_rg, s->name);
	x->old_vm = old != NULL;
	if (old)
		x->old_vi = old->info;
	x->was_running = old && old->info.running;
	snprintf(x->old_rg, sizeof(x->old_rg), "%s", s->vm_rg);
	snprintf(x->trg, sizeof(x->trg), "%s", a->trg[0] ? a->trg : s->vm_rg);
	x->rg_changed = x->old_vm && strcmp(x->trg, s->vm_rg) != 0;
	snprintf(x->cache, sizeof(x->cache), "%s", a->cache[0] ? a->cache : s->cache_sa);
	if (a->aset[0])
		snprintf(x->aset, sizeof(x->aset), "%s", a->aset);
	else if (x->old_vm && x->old_vi.availability_set[0])
		snprintf(x->aset, sizeof(x->aset), "%s", x->old_vi.availability_set);
	else
		strip_suffix(s->aset, "-asr", x->aset, sizeof(x->aset));
	snprintf(x->net_src, sizeof(x->net_src), "%s", rec->info.network);
	m = mapping_find(v, x->nsrc->name, x->net_src);
	if (m && strchr(m->target, '/'))
		snprintf(x->net_tgt, sizeof(x->net_tgt), "%s", strchr(m->target, '/') + 1);
	else
		snprintf(x->net_tgt, sizeof(x->net_tgt), "%s", x->old_vm ? x->old_vi.network : s->network);
	x->n = s->ndisks;
	for (int i = 0; i < x->n; i++)
		if (!s->disks[i].replica_managed) {
			x->any_unmanaged = 1;
			/* the original account, else "asr" + the recovery VM's account */
			if (a->tsa[0])
				snprintf(x->tsa, sizeof(x->tsa), "%s", a->tsa);
			else if (!s->disks[i].managed && sa_find(x->ntgt, s->disks[i].src_parent))
				snprintf(x->tsa, sizeof(x->tsa), "%s", s->disks[i].src_parent);
			else {
				char raw[200];
				snprintf(raw, sizeof(raw), "asr%s", s->target_sa);
				sa_name_sanitize(raw, x->tsa, sizeof(x->tsa));
			}
			break;
		}
	for (int i = 0; i < x->n; i++) {
		struct item_disk *sd = &s->disks[i];
		struct rp_disk *d = &x->d[i];
		struct disk_rec *orig, *rep;
		memset(d, 0, sizeof(*d));
		d->managed = sd->replica_managed;
		snprintf(d->name, sizeof(d->name), "%s", sd->name);
		d->size = sd->size;
		snprintf(d->src_parent, sizeof(d->src_parent), "%s", d->managed ? s->target_rg : s->target_sa);
		replica_of(sd->name, d->rep, sizeof(d->rep));
		snprintf(d->rep_parent, sizeof(d->rep_parent), "%s", d->managed ? x->trg : x->tsa);
		d->orig_managed = sd->managed;
		snprintf(d->orig_parent, sizeof(d->orig_parent), "%s", sd->src_parent);
		orig = x->old_vm ? disk_at(x->ntgt, sd->managed, sd->src_parent, sd->name) : NULL;
		if (orig && orig->size != sd->size)
			orig = NULL;
		rep = disk_at(x->ntgt, d->managed, d->rep_parent, d->rep);
		d->rep_existed = rep != NULL;
		if (!orig || d->managed != sd->managed)
			d->how = PREP_EMPTY;
		else if (d->managed)
			d->how = x->ntgt->be->ops->disk_snapshot ? PREP_MOVE : PREP_COPY;
		else
			d->how = i == 0 ? PREP_OS : PREP_USE;
		/* resumed after a crash: the original was already renamed */
		if (!d->managed && x->old_vm && !orig && rep && sd->managed == 0)
			d->how = i == 0 ? PREP_OS : PREP_USE;
	}
	return 0;
}

static int first_snap(void *arg, const char *snap)
{
	char *out = arg;
	if (!*out || strcmp(snap, out) < 0) /* ids are times: the oldest */
		snprintf(out, BACKEND_SNAP_MAX, "%s", snap);
	return 0;
}

/* PREP_MOVE, after the rename: keep the original's bytes in a snapshot of
 * the replica before anything writes it.  A resumed job finds the one it
 * took before the stop (nothing else snapshots a replica before its chain
 * exists: the oldest is the original).  model_lock NOT held. */
/* The guard this job took of d before a stop or a crash, into d->snap
 * ("" if none); the job's error says why it cannot be read. */
static int move_guard_find(struct jobctx *c, struct rp_ctx *x, struct rp_disk *d)
{
	struct backend *be = x->ntgt->be;
	char key[1024];
	int rc;

	disk_key(d->managed, d->rep_parent, d->rep, key, sizeof(key));
	d->snap[0] = '\0';
	rc = be->ops->disk_snapshot_list(be, key, first_snap, d->snap);
	if (rc < 0) {
		d->snap[0] = '\0';
		job_fail_msg(c, "cannot keep the original bytes of %s: %s", d->name, strerror(-rc));
	}
	return rc;
}

static int move_guard(struct jobctx *c, struct rp_ctx *x, struct rp_disk *d, int resumed)
{
	struct backend *be = x->ntgt->be;
	char key[1024];
	int rc = 0;

	disk_key(d->managed, d->rep_parent, d->rep, key, sizeof(key));
	d->snap[0] = '\0';
	if (resumed)
		rc = move_guard_find(c, x, d);
	if (rc == 0 && !d->snap[0])
		rc = be->ops->disk_snapshot(be, key, d->snap);
	if (rc < 0) {
		d->snap[0] = '\0';
		job_fail_msg(c, "cannot keep the original bytes of %s: %s", d->name, strerror(-rc));
	}
	return rc;
}

/* Cancel of a PREP_MOVE: the replica gets the original's bytes back from
 * the snapshot (then the undo renames it back), and the snapshot goes. */
static int move_restore(struct rp_ctx *x, struct rp_disk *d)
{
	struct backend *be = x->ntgt->be;
	struct bdisk *bd = NULL;
	char key[1024];
	int rc;

	disk_key(d->managed, d->rep_parent, d->rep, key, sizeof(key));
	rc = be->ops->disk_open(be, key, BDISK_RDWR, &bd);
	if (rc == 0)
		rc = be->ops->disk_copy_snapshot(bd, be, key, d->snap);
	bd_close(bd);
	if (rc == 0)
		be->ops->disk_snapshot_delete(be, key, d->snap);
	return rc;
}

/* Undo what "Preparing target disks" did (model_lock NOT held). */
static void reprotect_undo(struct rp_ctx *x)
{
	int was;
	for (int i = x->n - 1; i >= 0; i--) {
		struct rp_disk *d = &x->d[i];
		if (d->renamed && d->snap[0] && move_restore(x, d) < 0)
			logmsg("item %s: cannot restore disk %s from its snapshot: its bytes may be partly "
			       "synchronized", x->snap.name, d->rep);
	}
	lock_model();
	for (int i = x->n - 1; i >= 0; i--) {
		struct rp_disk *d = &x->d[i];
		if (d->copied_back)
			inv_disk_delete(x->ntgt, d->managed, d->orig_parent, d->name);
		if (d->renamed && disk_rename_inv(x->ntgt, d->managed, d->rep_parent, d->rep, d->orig_parent, d->name) < 0)
			logmsg("item %s: cannot rename disk %s back to %s", x->snap.name, d->rep, d->name);
		if (d->created)
			inv_disk_delete(x->ntgt, d->managed, d->rep_parent, d->rep);
		d->copied_back = d->renamed = d->created = 0;
	}
	if (x->powered_off)
		vm_power(x->ntgt, x->old_rg, x->snap.name, 1, &was);
	x->powered_off = 0;
	unlock_model();
}

/* A copy inside one region (not counted as transferred). */
static int copy_in_region(struct jobctx *c, struct region *r, int managed, const char *fparent, const char *fname,
			  const char *tparent, const char *tname)
{
	char a[1024], b[1024];
	struct delta_opts opts = {0};
	struct delta_stats st;
	disk_key(managed, fparent, fname, a, sizeof(a));
	disk_key(managed, tparent, tname, b, sizeof(b));
	opts.progress = cancel_only;
	opts.progress_arg = c;
	return sync_disk(r->be, a, r->be, b, &opts, &st);
}

/* Hash every page of a disk into a new block map: the replica side of the
 * comparison.  Holes are not read (they hash as zero pages).  done: the
 * bytes of the disks hashed before, UINT64_MAX to count none as compared. */
static int hash_disk(struct jobctx *c, struct backend *be, const char *key, uint64_t size, struct blockmap **out,
		     uint64_t done)
{
	const uint64_t chunk = 1u << 20;
	struct bdisk *d = NULL;
	struct blockmap *m = NULL;
	unsigned char *buf = malloc(chunk);
	uint64_t off = 0;
	int rc = buf ? blockmap_new(size, &m) : -ENOMEM;

	if (rc == 0)
		rc = be->ops->disk_open(be, key, BDISK_RDONLY, &d);
	while (rc == 0 && off < size) {
		uint64_t ds, de, n;
		ssize_t got;
		int r = bd_next_data(d, off, &ds, &de);
		if (r == -ENXIO)
			break;
		if (r < 0) {
			rc = r;
			break;
		}
		if (ds > off)
			off = ds - ds % DELTA_PAGE;
		if (off >= size)
			break;
		n = size - off < chunk ? size - off : chunk;
		got = bd_pread(d, buf, n, off);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		if ((uint64_t)got < n)
			memset(buf + got, 0, n - (uint64_t)got);
		for (uint64_t p = 0; p < n; p += DELTA_PAGE)
			blockmap_hash_page(buf + p, n - p < DELTA_PAGE ? n - p : DELTA_PAGE, &m->h[(off + p) / DELTA_PAGE]);
		off += n;
		/* the first of two passes: its bytes count as halves */
		if (done != UINT64_MAX)
			job_count_compared(c, (done + off) / 2);
		if (job_cancelled(c))
			rc = -ECANCELED;
	}
	bd_close(d);
	free(buf);
	if (rc < 0) {
		blockmap_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* The old direction's block map of disk i, if the disk now becoming its
 * replica (rkey, in the old primary) still holds exactly the bytes the last
 * cycle read from it: its version token is the one recorded with the map
 * (the medium promises equal tokens mean equal bytes; rename keeps them).
 * Then the replica need not be read at all.  The map sits in the old target
 * region, which is now the source.  1 with *out set, else 0. */
static int last_cycle_map(struct jobctx *c, struct rp_ctx *x, int i, const char *rkey, struct blockmap **out)
{
	char tok[BACKEND_ETAG_MAX], mkey[512];
	struct blockmap *m = NULL;

	if (be_disk_version(x->ntgt->be, rkey, tok) < 0)
		return 0;
	key_map(c->v, x->snap.name, i, mkey, sizeof(mkey));
	if (blockmap_load(x->nsrc->be, mkey, &m) < 0)
		return 0;
	if (!m->src_version || m->src_version != blockmap_version(tok) || m->disk_size != x->d[i].size) {
		blockmap_free(m);
		return 0;
	}
	*out = m;
	return 1;
}

/* Save the new direction's block maps (a thread of reprotect_run's). */
static void *reprotect_save_maps(void *arg)
{
	struct rp_ctx *x = arg;

	for (int i = 0; i < x->n; i++) {
		char mkey[512];
		key_map(x->v, x->snap.name, i, mkey, sizeof(mkey));
		if (blockmap_save(x->ntgt->be, mkey, x->maps[i]) < 0)
			logmsg("item %s: cannot save the block map of disk %d", x->snap.name, i);
	}
	return NULL;
}

/* Create the new direction's recovery-point chain with its first point. */
static int reprotect_chain(struct vault_rec *v, struct rp_ctx *x, struct rpchain **out, struct rp_point *pt)
{
	char keys[MAX_DISKS][1024], catalog[512], prefix[512];
	const char *kp[MAX_DISKS], *keep[MAX_DISKS];
	struct rpchain *ch = NULL;
	struct rp_point newest;
	int rc;

	for (int i = 0; i < x->n; i++) {
		disk_key(x->d[i].managed, x->d[i].rep_parent, x->d[i].rep, keys[i], sizeof(keys[i]));
		kp[i] = keys[i];
		keep[i] = x->d[i].snap; /* a moved original's guard: undo still needs it */
	}
	key_points(v, x->snap.name, catalog, sizeof(catalog));
	key_item_data(v, x->snap.name, prefix, sizeof(prefix));
	rc = mio_remove_tree(x->ntgt->be, prefix); /* stale undo data of an earlier life */
	if (rc < 0 && rc != -ENOENT)
		return rc;
	{
		struct rpchain_conf conf = {
			.meta = v->region->be, .catalog_key = catalog, .data = x->ntgt->be,
			.data_prefix = prefix, .ndisks = x->n, .replica_keys = kp, .keep_snaps = keep,
		};
		rc = rpchain_open(&conf, &ch);
	}
	if (rc < 0)
		return rc;
	if (rpchain_newest(ch, &newest) == 0)
		rc = rpchain_destroy(ch); /* a catalog left by an earlier attempt */
	if (rc == 0)
		rc = rpchain_add_initial(ch, time(NULL), 0, pt);
	if (rc < 0) {
		rpchain_close(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

/* ---- Reprotect's record of its own progress ----
 *
 * A reprotect reverses the item, so the item's record alone cannot tell a
 * resumed job which way it was going: read after the swap, it describes the
 * other direction, and planning from it again would reprotect the running
 * VM's disks away.  So before it changes anything the job writes its plan
 * into its own record (job_rec.plan), and again before each step a resumed
 * job must know about:
 *   from    the direction it reverses, as the item read when the job began.
 *           An item that reads the other way round has been swapped: the
 *           resumed job only finishes (reprotect_finish), never plans again;
 *   step    planned:   nothing changed yet (a resume plans afresh);
 *           preparing: the old VM may be stopped, replicas created and
 *                      originals renamed (a resume takes the plan below
 *                      rather than the half-changed inventory);
 *           swapping:  the first point is made, the item is being swapped;
 *   old_rg, old_vm, was_running, rg_changed, any_unmanaged, and per disk
 *           how it is prepared, whether its replica was there before the job
 *           and the original's place: what undo and finish need and the
 *           inventory no longer shows once the job has changed it. */
enum rp_step { RP_PLANNED, RP_PREPARING, RP_SWAPPING };
static const char *const rp_step_names[] = {"planned", "preparing", "swapping"};

static void item_direction(const struct item_rec *it, int reversed, char *out, size_t len)
{
	snprintf(out, len, "%s -> %s", reversed ? it->target_region : it->source_region,
		 reversed ? it->source_region : it->target_region);
}

/* model_lock held: record the plan at step and write the job's record. */
static int rp_plan_save(struct jobctx *c, struct rp_ctx *x, int step)
{
	json_object *o = json_object_new_object(), *ds = json_object_new_array();
	char from[2 * NAME_MAX_ + 8];
	const char *txt;
	int rc = -ENOMEM;

	if (!o || !ds) {
		json_object_put(ds);
		goto out;
	}
	item_direction(&x->snap, 0, from, sizeof(from));
	json_object_object_add(o, "from", json_object_new_string(from));
	json_object_object_add(o, "step", json_object_new_string(rp_step_names[step]));
	json_object_object_add(o, "old_rg", json_object_new_string(x->old_rg));
	json_object_object_add(o, "old_vm", json_object_new_int(x->old_vm));
	json_object_object_add(o, "was_running", json_object_new_int(x->was_running));
	json_object_object_add(o, "rg_changed", json_object_new_int(x->rg_changed));
	json_object_object_add(o, "any_unmanaged", json_object_new_int(x->any_unmanaged));
	for (int i = 0; i < x->n; i++) {
		json_object *d = json_object_new_object();
		if (!d || json_object_array_add(ds, d) < 0) {
			json_object_put(d);
			json_object_put(ds);
			goto out;
		}
		json_object_object_add(d, "how", json_object_new_int(x->d[i].how));
		json_object_object_add(d, "rep_existed", json_object_new_int(x->d[i].rep_existed));
		json_object_object_add(d, "orig_parent", json_object_new_string(x->d[i].orig_parent));
		json_object_object_add(d, "orig_managed", json_object_new_int(x->d[i].orig_managed));
	}
	json_object_object_add(o, "disks", ds);
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (!txt)
		goto out;
	if (strlen(txt) >= sizeof(c->j->plan)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	snprintf(c->j->plan, sizeof(c->j->plan), "%s", txt);
	x->step = step;
	rc = persist_job(c->v, c->j);
out:
	json_object_put(o);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot record the reprotect's plan: %s", strerror(-rc));
	return rc;
}

static int jint_of(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v) : 0;
}

static const char *jstr_of(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* model_lock held: read the job's plan into x (x->n disks already known)
 * and from (the direction it reverses).  0: none recorded; 1: read. */
static int rp_plan_load(const char *plan, struct rp_ctx *x, char *from, size_t flen)
{
	json_object *o, *ds;
	int rc = -EBADMSG;

	if (!plan[0])
		return 0;
	o = json_tokener_parse(plan);
	if (!o)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "disks", &ds) || !json_object_is_type(ds, json_type_array) ||
	    (int)json_object_array_length(ds) != x->n)
		goto out;
	snprintf(from, flen, "%s", jstr_of(o, "from"));
	x->step = RP_PLANNED;
	for (int s = 0; s < (int)(sizeof(rp_step_names) / sizeof(rp_step_names[0])); s++)
		if (strcmp(jstr_of(o, "step"), rp_step_names[s]) == 0)
			x->step = s;
	snprintf(x->old_rg, sizeof(x->old_rg), "%s", jstr_of(o, "old_rg"));
	x->old_vm = jint_of(o, "old_vm");
	x->was_running = jint_of(o, "was_running");
	x->rg_changed = jint_of(o, "rg_changed");
	x->any_unmanaged = jint_of(o, "any_unmanaged");
	for (int i = 0; i < x->n; i++) {
		json_object *d = json_object_array_get_idx(ds, (size_t)i);
		x->d[i].how = jint_of(d, "how");
		x->d[i].rep_existed = jint_of(d, "rep_existed");
		snprintf(x->d[i].orig_parent, sizeof(x->d[i].orig_parent), "%s", jstr_of(d, "orig_parent"));
		x->d[i].orig_managed = jint_of(d, "orig_managed");
	}
	rc = from[0] ? 1 : -EBADMSG;
out:
	json_object_put(o);
	return rc;
}

/* model_lock held: a job resumed while preparing or later takes back what
 * it had done from the plan and the inventory (for the undo), instead of
 * planning from an inventory it has already changed. */
static void rp_resume_prepared(struct rp_ctx *x)
{
	struct vm_rec *vm = x->old_vm ? vm_at(x->ntgt, x->old_rg, x->snap.name) : NULL;

	x->old_vm = vm != NULL;
	if (vm)
		x->old_vi = vm->info;
	x->powered_off = vm && x->was_running && !vm->info.running;
	for (int i = 0; i < x->n; i++) {
		struct rp_disk *d = &x->d[i];
		int rep = disk_at(x->ntgt, d->managed, d->rep_parent, d->rep) != NULL;
		int orig = disk_at(x->ntgt, d->orig_managed, d->orig_parent, d->name) != NULL;
		if (d->how == PREP_EMPTY || d->how == PREP_COPY) {
			d->created = rep && !d->rep_existed;
		} else {
			d->renamed = rep && !d->rep_existed;
			d->copied_back = d->how == PREP_OS && d->renamed && orig;
		}
	}
}

/* model_lock held: x for a job resumed after the item was swapped: the
 * names come from the swapped item, the rest from the plan. */
static void rp_from_swapped(struct rp_ctx *x, const struct item_rec *it)
{
	x->snap = *it;
	x->nsrc = region_find(it->source_region);
	x->ntgt = region_find(it->target_region);
	x->n = it->ndisks;
	for (int i = 0; i < x->n; i++) { /* how and the original's place: from the plan */
		const struct item_disk *sd = &it->disks[i];
		struct rp_disk *d = &x->d[i];
		d->managed = sd->replica_managed;
		snprintf(d->name, sizeof(d->name), "%s", sd->name);
		d->size = sd->size;
		snprintf(d->src_parent, sizeof(d->src_parent), "%s", sd->src_parent);
		snprintf(d->rep_parent, sizeof(d->rep_parent), "%s", sd->replica_parent);
		snprintf(d->rep, sizeof(d->rep), "%s", sd->replica);
	}
}

/* model_lock held: after the swap, the old place is cleared: the originals
 * that were copied to -ASRReplica go (and an unmanaged OS disk's copy when
 * the resource group changed), and the old VM keeps only the disks that are
 * still there; a VM left without its OS disk (every managed disk became a
 * replica), or whose resource group changed, is deleted: the failback's
 * failover creates it again.  Every step is safe to repeat, so a job
 * resumed after a crash here runs it again. */
static void reprotect_finish(struct rp_ctx *x)
{
	struct vm_rec *vm;
	struct vm_info vi;
	int rc;

	for (int i = 0; i < x->n; i++) {
		struct rp_disk *d = &x->d[i];
		if (d->how != PREP_COPY && !(x->rg_changed && d->how == PREP_OS))
			continue;
		rc = inv_disk_delete(x->ntgt, d->orig_managed, d->orig_parent, d->name);
		if (rc < 0 && rc != -ENOENT)
			logmsg("item %s: cannot delete the old disk %s: %s", x->snap.name, d->name, strerror(-rc));
	}
	vm = x->old_vm ? vm_at(x->ntgt, x->old_rg, x->snap.name) : NULL;
	if (!vm)
		return;
	vi = vm->info;
	vi.ndisks = 0;
	for (int k = 0; k < vm->info.ndisks; k++)
		if (inv_vm_has_disk(x->ntgt, &vm->info, k))
			vi.disks[vi.ndisks++] = vm->info.disks[k];
	if (x->rg_changed || vi.ndisks == 0 || strcmp(vi.disks[0].name, vm->info.disks[0].name) != 0)
		rc = vm_remove(x->ntgt, x->old_rg, x->snap.name);
	else
		rc = vi.ndisks == vm->info.ndisks ? 0 : vm_put(x->ntgt, &vi);
	if (rc < 0)
		logmsg("item %s: cannot update the old VM %s/%s: %s", x->snap.name, x->old_rg, x->snap.name,
		       strerror(-rc));
}

/* model_lock held: put back the fields a reprotect's swap changes. */
static void item_take_direction(struct item_rec *to, const struct item_rec *from)
{
	snprintf(to->source_region, sizeof(to->source_region), "%s", from->source_region);
	snprintf(to->target_region, sizeof(to->target_region), "%s", from->target_region);
	snprintf(to->active_region, sizeof(to->active_region), "%s", from->active_region);
	snprintf(to->vm_rg, sizeof(to->vm_rg), "%s", from->vm_rg);
	snprintf(to->target_rg, sizeof(to->target_rg), "%s", from->target_rg);
	snprintf(to->target_sa, sizeof(to->target_sa), "%s", from->target_sa);
	snprintf(to->cache_sa, sizeof(to->cache_sa), "%s", from->cache_sa);
	snprintf(to->aset, sizeof(to->aset), "%s", from->aset);
	snprintf(to->network, sizeof(to->network), "%s", from->network);
	memcpy(to->disks, from->disks, sizeof(to->disks));
	to->ndisks = from->ndisks;
	to->resync_required = from->resync_required;
	snprintf(to->resync_why, sizeof(to->resync_why), "%s", from->resync_why);
	to->failing = from->failing;
	snprintf(to->fail_reason, sizeof(to->fail_reason), "%s", from->fail_reason);
}

/* model_lock held: make the item name this job and show its running state
 * (a crash between job_submit's job record and its item record left the
 * item naming the job before). */
static void job_claim_item(struct jobctx *c, struct item_rec *it)
{
	const char *st = c->j->type->running_state;

	if (strcmp(it->job_id, c->j->id) == 0 && (!st || strcmp(it->state, st) == 0))
		return;
	snprintf(it->job_id, sizeof(it->job_id), "%s", c->j->id);
	if (st)
		snprintf(it->state, sizeof(it->state), "%s", st);
	if (persist_item(c->v, it) < 0)
		logmsg("job %s: cannot link item %s to it", c->j->id, it->name);
}

/* Protection moves with reprotect: the failed-over disks become sources and
 * the old primary's -ASRReplica disks replicas; their regions record it
 * before anything is prepared (claim 1), and a reprotect undone gives them
 * back (claim 0).  The old layout's records went with the commit; the
 * originals it consumes are checked to be nobody else's.
 * model_lock NOT held. */
static int reprotect_claim(struct jobctx *c, const struct rp_ctx *x, int claim)
{
	struct disk_ref refs[2 * MAX_DISKS];
	char why[ERR_MAX] = "";
	int n = 0, rc = 0;

	for (int i = 0; i < x->n; i++) {
		const struct rp_disk *d = &x->d[i];
		refs[n] = (struct disk_ref){.r = x->nsrc, .managed = d->managed, .replica = 0};
		snprintf(refs[n].parent, sizeof(refs[n].parent), "%s", d->src_parent);
		snprintf(refs[n].name, sizeof(refs[n].name), "%s", d->name);
		n++;
		refs[n] = (struct disk_ref){.r = x->ntgt, .managed = d->managed, .replica = 1};
		snprintf(refs[n].parent, sizeof(refs[n].parent), "%s", d->rep_parent);
		snprintf(refs[n].name, sizeof(refs[n].name), "%s", d->rep);
		n++;
	}
	lock_model();
	if (claim) {
		/* The originals it copies from or renames must not be another
		 * item's sources either: reprotect consumes them. */
		struct disk_ref orig[MAX_DISKS];
		int m = 0;
		for (int i = 0; i < x->n; i++) {
			const struct rp_disk *d = &x->d[i];
			if (d->how == PREP_EMPTY)
				continue;
			orig[m] = (struct disk_ref){.r = x->ntgt, .managed = d->orig_managed, .replica = 0};
			snprintf(orig[m].parent, sizeof(orig[m].parent), "%s", d->orig_parent);
			snprintf(orig[m].name, sizeof(orig[m].name), "%s", d->name);
			m++;
		}
		rc = protection_free(c->v, c->item, orig, m, why, sizeof(why));
		if (rc == 0)
			rc = protection_claim(c->v, c->item, refs, n, why, sizeof(why));
	} else
		protection_release(c->v, c->item, refs, n);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "%s", why[0] ? why : strerror(-rc));
	unlock_model();
	return rc;
}

/* Reprotect's tasks, in the order of JT_REPROTECT.tasks: one step each. */
enum { RS_PREREQ, RS_RESOURCES, RS_PREPDISKS, RS_DELTAS, RS_SYNC, RS_STARTREP };

/* What reprotect's steps share beyond the plan (model_lock NOT held). */
struct rp_run {
	struct rp_ctx *x;
	struct op_args a;
	int swapped;                  /* the item already reads the new direction */
	int undo;                     /* a step from the preparation on ran: a failure undoes it */
	char now[2 * NAME_MAX_ + 8];  /* the direction the item reads */
};

/* Read the job's plan, or make and record it, into r->x.  A job resumed
 * after a crash goes by its plan: an item already swapped only needs the
 * old place cleared (r->swapped).  Every run does this, fresh or resumed;
 * the job's error says why it cannot go on. */
static int rp_open(struct jobctx *c, struct rp_run *r)
{
	struct rp_ctx *x = r->x;
	struct item_rec *it;
	char why[ERR_MAX] = "the item is gone", from[2 * NAME_MAX_ + 8] = "";
	int rc, planned = 0;

	lock_model();
	it = item_find(c->v, c->item);
	rc = it ? 0 : -ENOENT;
	if (it) {
		job_claim_item(c, it);
		x->n = it->ndisks;
		planned = rp_plan_load(c->j->plan, x, from, sizeof(from));
		item_direction(it, 0, r->now, sizeof(r->now));
		if (planned < 0) {
			rc = planned;
			snprintf(why, sizeof(why), "the job's record of its plan is damaged");
		} else if (planned && strcmp(from, r->now) != 0) {
			item_direction(it, 1, r->now, sizeof(r->now));
			r->swapped = strcmp(from, r->now) == 0;
			if (!r->swapped) {
				rc = -EINVAL;
				snprintf(why, sizeof(why), "the item reads %s, the job reverses %s", r->now, from);
			}
		}
	}
	if (rc == 0 && r->swapped) {
		rp_from_swapped(x, it);
		rc = region_up(x->ntgt, "the old primary, now the target", why, sizeof(why));
	} else if (rc == 0) {
		rc = check_reprotect(c->v, it, why, sizeof(why));
		if (rc == 0) {
			x->snap = *it;
			rc = reprotect_plan(c->v, x, &r->a);
		}
		if (rc == 0 && planned && x->step >= RP_PREPARING) {
			rp_plan_load(c->j->plan, x, from, sizeof(from));
			rp_resume_prepared(x);
		} else if (rc == 0) {
			rc = rp_plan_save(c, x, RP_PLANNED);
			if (rc < 0)
				snprintf(why, sizeof(why), "cannot record the job's plan: %s", strerror(-rc));
		}
	}
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	unlock_model();
	return rc;
}

/* Every run: the arguments; a resumed one reads its plan here (the
 * prerequisites step does for a fresh one) and, past the preparation,
 * finds the snapshots that guard the moved originals. */
static int reprotect_begin(struct jobctx *c, int first)
{
	struct rp_run *r = calloc(1, sizeof(*r));
	int rc;

	if (r)
		r->x = calloc(1, sizeof(*r->x));
	if (!r || !r->x) {
		free(r);
		return -ENOMEM;
	}
	c->data = r;
	rc = job_args(c, &r->a);
	if (rc == 0 && first > RS_PREREQ)
		rc = rp_open(c, r);
	for (int i = 0; rc == 0 && !r->swapped && first > RS_PREPDISKS && i < r->x->n; i++)
		if (r->x->d[i].how == PREP_MOVE)
			rc = move_guard_find(c, r->x, &r->x->d[i]);
	return rc;
}

/* A failure from the preparation on undoes it (an unmount is not a
 * failure: what is done stays for the resume), and a run again (after
 * waiting for a region) starts over at the prerequisites and its sync at
 * zero: what was synchronized may be gone. */
static void reprotect_end(struct jobctx *c, int rc)
{
	struct rp_run *r = c->data;

	if (!r)
		return;
	if (rc < 0 && r->undo && !(rc == -ECANCELED && job_shutting_down(c))) {
		reprotect_undo(r->x);
		reprotect_claim(c, r->x, 0);
		lock_model();
		c->j->ck_disk = 0;
		c->j->ck_offset = 0;
		c->j->step = RS_PREREQ;
		c->j->dirty = 1;
		unlock_model();
	}
	for (int i = 0; i < MAX_DISKS; i++)
		blockmap_free(r->x->maps[i]);
	free(r->x);
	free(r);
	c->data = NULL;
}

static int reprotect_prereq(struct jobctx *c)
{
	int rc = wait_cycle_done(c);
	return rc < 0 ? rc : rp_open(c, c->data);
}

/* Creating target resources: each is ensured, so safe to repeat. */
static int reprotect_resources(struct jobctx *c)
{
	struct rp_run *r = c->data;
	struct rp_ctx *x = r->x;
	int rc;

	if (r->swapped)
		return 0;
	lock_model();
	rc = inv_rg_create(x->ntgt, x->trg, NULL);
	if (rc == -EEXIST)
		rc = 0;
	if (rc == 0 && x->any_unmanaged)
		rc = inv_sa_ensure(x->ntgt, x->tsa);
	if (rc == 0 && x->cache[0])
		rc = inv_sa_ensure(x->nsrc, x->cache);
	if (rc == 0 && x->aset[0])
		rc = inv_aset_ensure(x->ntgt, x->trg, x->aset);
	if (rc == 0 && x->net_tgt[0])
		rc = inv_net_ensure(x->ntgt, x->trg, x->net_tgt);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot create the target resources: %s", strerror(-rc));
	unlock_model();
	return rc;
}

/* Preparing target disks.  The plan is written before the first change: a
 * step cut short must know a rename may have happened, and goes by its plan
 * again (rp_resume_prepared) rather than by the half-changed inventory.  A
 * replica already there is not made again; a moved one keeps the guard it
 * had (move_guard). */
static int reprotect_prepare(struct jobctx *c)
{
	struct rp_run *r = c->data;
	struct rp_ctx *x = r->x;
	int rc, was, began;

	if (r->swapped)
		return 0;
	lock_model();
	began = x->step >= RP_PREPARING;
	rc = rp_plan_save(c, x, RP_PREPARING);
	unlock_model();
	if (rc == 0)
		rc = reprotect_claim(c, x, 1);
	if (rc < 0)
		return rc;
	r->undo = 1; /* the first change is next */
	lock_model();
	if (x->old_vm && vm_power(x->ntgt, x->old_rg, x->snap.name, 0, &was) == 0 && was)
		x->powered_off = 1;
	for (int i = 0; i < x->n && rc == 0; i++) {
		struct rp_disk *d = &x->d[i];
		int rep_exists = disk_at(x->ntgt, d->managed, d->rep_parent, d->rep) != NULL;
		if (d->how == PREP_EMPTY || d->how == PREP_COPY) {
			if (!rep_exists) {
				rc = inv_disk_create(x->ntgt, d->managed, d->rep_parent, d->rep, d->size);
				d->created = rc == 0;
			}
		} else if (!rep_exists) {
			rc = disk_rename_inv(x->ntgt, d->managed, d->orig_parent, d->name, d->rep_parent, d->rep);
			d->renamed = rc == 0;
		}
		if (rc == 0 && d->how == PREP_OS && !disk_at(x->ntgt, d->managed, d->orig_parent, d->name)) {
			rc = inv_disk_create(x->ntgt, d->managed, d->orig_parent, d->name, d->size);
			d->copied_back = rc == 0;
		}
		if (rc < 0)
			snprintf(c->j->error, sizeof(c->j->error), "cannot prepare replica disk %s: %s", d->rep,
				 strerror(-rc));
	}
	unlock_model();
	for (int i = 0; i < x->n && rc == 0; i++) {
		struct rp_disk *d = &x->d[i];
		if (d->how == PREP_MOVE)
			rc = move_guard(c, x, d, began);
		else if (d->how == PREP_COPY)
			rc = copy_in_region(c, x->ntgt, d->managed, d->orig_parent, d->name, d->rep_parent, d->rep);
		else if (d->how == PREP_OS)
			rc = copy_in_region(c, x->ntgt, d->managed, d->rep_parent, d->rep, d->orig_parent, d->name);
		if (rc < 0 && rc != -ECANCELED)
			job_fail_msg(c, "cannot copy disk %s in %s: %s", d->name, x->ntgt->name, strerror(-rc));
	}
	return rc;
}
/* The replica side's page hashes of every disk into x->maps, those not
 * there yet: the deltas step makes them; a job resumed past it makes them
 * again (they live in memory only), counting its bytes as compared only
 * where the synchronization still follows (count). */
static int rp_maps(struct jobctx *c, struct rp_ctx *x, int count)
{
	char rkey[1024];
	uint64_t done = 0;
	int rc = 0;

	for (int i = 0; i < x->n && rc == 0; i++) {
		if (x->maps[i]) {
			done += x->d[i].size;
			continue;
		}
		disk_key(x->d[i].managed, x->d[i].rep_parent, x->d[i].rep, rkey, sizeof(rkey));
		if (last_cycle_map(c, x, i, rkey, &x->maps[i])) {
			logmsg("item %s: replica disk %s is as the last cycle read it: its hash map stands in "
			       "for reading it", x->snap.name, x->d[i].rep);
			if (count)
				job_count_compared(c, (done + x->d[i].size) / 2);
		} else {
			rc = hash_disk(c, x->ntgt->be, rkey, x->d[i].size, &x->maps[i], count ? done : UINT64_MAX);
		}
		done += x->d[i].size;
		if (rc < 0 && rc != -ECANCELED)
			job_fail_msg(c, "cannot read replica disk %s: %s", x->d[i].rep, strerror(-rc));
	}
	return rc;
}

static uint64_t rp_total(const struct rp_ctx *x)
{
	uint64_t total = 0;
	for (int i = 0; i < x->n; i++)
		total += x->d[i].size;
	return total;
}

/* Identifying the deltas: hashing again is reading again. */
static int reprotect_deltas(struct jobctx *c)
{
	struct rp_run *r = c->data;

	if (r->swapped)
		return 0;
	r->undo = 1;
	job_set_total(c, rp_total(r->x));
	return rp_maps(c, r->x, 1);
}

/* Synchronizing: the source's pages against those hashes; only differing
 * pages cross to the old primary.  The second pass: its bytes count as the
 * second half of bytes-compared.  A step cut short (an unmount, a crash)
 * continues where its checkpoint says everything before is final on the
 * replica. */
static int reprotect_sync(struct jobctx *c)
{
	struct rp_run *r = c->data;
	struct rp_ctx *x = r->x;
	uint64_t total = rp_total(x), ck_off;
	struct jobprog jp;
	char skey[1024], rkey[1024];
	int rc, ck_disk;

	if (r->swapped)
		return 0;
	r->undo = 1;
	job_set_total(c, total);
	rc = rp_maps(c, x, 1);
	/* resumed: bytes-transferred counts on from the record */
	jp = (struct jobprog){.c = c, .offset = total / 2, .halve = 1, .base_transferred = job_sent(c)};
	lock_model();
	ck_disk = c->j->ck_disk;
	ck_off = c->j->ck_offset & ~(uint64_t)(DELTA_PAGE - 1);
	unlock_model();
	for (int i = 0; i < x->n && rc == 0; i++) {
		struct delta_opts opts = {0};
		struct delta_stats st = {0};
		if (i < ck_disk) {
			jp.base_compared += x->d[i].size;
			continue;
		}
		disk_key(x->d[i].managed, x->d[i].src_parent, x->d[i].name, skey, sizeof(skey));
		disk_key(x->d[i].managed, x->d[i].rep_parent, x->d[i].rep, rkey, sizeof(rkey));
		opts.map = x->maps[i];
		opts.map_trusted = 1;
		opts.bwlimit = x->snap.bwlimit;
		opts.progress = job_delta_progress;
		opts.progress_arg = &jp;
		if (i == ck_disk && ck_off) {
			opts.start_offset = ck_off < x->d[i].size ? ck_off : x->d[i].size;
			logmsg("item %s: synchronizing disk %d resumes at %llu bytes", x->snap.name, i,
			       (unsigned long long)opts.start_offset);
		}
		lock_model();
		c->j->ck_disk = i;
		c->j->ck_offset = opts.start_offset;
		c->j->dirty = 1;
		unlock_model();
		rc = sync_disk(x->nsrc->be, skey, x->ntgt->be, rkey, &opts, &st);
		jp.base_compared += x->d[i].size;
		jp.base_transferred += st.bytes_transferred;
		if (rc < 0 && rc != -ECANCELED)
			job_fail_msg(c, "cannot synchronize disk %s: %s", x->d[i].name, strerror(-rc));
	}
	return rc;
}

/* model_lock held: the item reads the new direction, with ch as its chain
 * (taken: *ch is NULL after).  A refused record puts the old direction
 * back into the model, and ch stays the caller's. */
static int rp_swap(struct jobctx *c, struct rp_ctx *x, struct rpchain **ch)
{
	struct policy_rec *p;
	struct item_rec *it;
	int rc = 0;

	if (x->net_src[0] && !mapping_find(c->v, x->nsrc->name, x->net_src)) {
		char target[2 * NAME_MAX_];
		snprintf(target, sizeof(target), "%s/%s", x->ntgt->name, x->net_tgt);
		if (mapping_add(c->v, x->nsrc->name, x->net_src, target) < 0)
			logmsg("item %s: cannot add the network mapping %s/%s -> %s", x->snap.name, x->nsrc->name,
			       x->net_src, target);
	}
	it = item_find(c->v, c->item);
	if (!it)
		return 0;
	p = policy_find(c->v, it->policy);
	snprintf(it->source_region, sizeof(it->source_region), "%s", x->nsrc->name);
	snprintf(it->target_region, sizeof(it->target_region), "%s", x->ntgt->name);
	snprintf(it->active_region, sizeof(it->active_region), "%s", x->nsrc->name);
	snprintf(it->vm_rg, sizeof(it->vm_rg), "%s", x->snap.target_rg);
	snprintf(it->target_rg, sizeof(it->target_rg), "%s", x->trg);
	snprintf(it->target_sa, sizeof(it->target_sa), "%s", x->any_unmanaged ? x->tsa : "");
	snprintf(it->cache_sa, sizeof(it->cache_sa), "%s", x->cache);
	snprintf(it->aset, sizeof(it->aset), "%s", x->aset);
	snprintf(it->network, sizeof(it->network), "%s", x->net_src);
	for (int i = 0; i < x->n; i++) {
		struct item_disk *d = &it->disks[i];
		d->managed = x->d[i].managed;
		snprintf(d->src_parent, sizeof(d->src_parent), "%s", x->d[i].src_parent);
		snprintf(d->replica, sizeof(d->replica), "%s", x->d[i].rep);
		snprintf(d->replica_parent, sizeof(d->replica_parent), "%s", x->d[i].rep_parent);
		d->replica_managed = x->d[i].managed;
		d->synced_bytes = x->d[i].size;
		snprintf(d->state, sizeof(d->state), "Protected");
	}
	it->resync_required = 0;
	it->resync_why[0] = '\0';
	it->failing = 0;
	it->fail_reason[0] = '\0';
	item_close_chain(it);
	it->chain = *ch;
	*ch = NULL;
	it->next_cycle = time(NULL) + (time_t)(p ? p->info.crash_frequency_seconds : 300);
	rc = persist_item(c->v, it);
	if (rc < 0) {
		/* The record still reads the old direction: so must the model,
		 * and nothing old may go. */
		item_take_direction(it, &x->snap);
		*ch = it->chain;
		it->chain = NULL;
		snprintf(c->j->error, sizeof(c->j->error), "cannot save the reversed item: %s", strerror(-rc));
	}
	return rc;
}

/* Starting delta replication: the first point, then the swap.  A step cut
 * short after the swap finds the item reversed (r->swapped) and only clears
 * the old place, which is safe to repeat. */
static int reprotect_start(struct jobctx *c)
{
	struct rp_run *r = c->data;
	struct rp_ctx *x = r->x;
	struct rpchain *ch = NULL;
	struct rp_point pt;
	char rkey[1024];
	int rc, saving;
	pthread_t saver;

	if (r->swapped) {
		logmsg("job %s: item %s already reads %s: clearing the old place", c->j->id, c->item, r->now);
		maps_forget(c->v, c->item);
		lock_model();
		reprotect_finish(x);
		unlock_model();
		logmsg("item %s: reprotected, now %s", c->item, r->now);
		return 0;
	}
	r->undo = 1;
	if (job_cancelled(c))
		return -ECANCELED;
	rc = rp_maps(c, x, 0); /* resumed past the deltas: the new maps again */
	if (rc < 0)
		return rc;
	rc = reprotect_chain(c->v, x, &ch, &pt);
	if (rc < 0) {
		job_fail_msg(c, "cannot create the first recovery point: %s", strerror(-rc));
		return rc;
	}
	/* The swap is next: a job resumed after it must find it recorded that
	 * it was under way, with every task before it done. */
	lock_model();
	rc = rp_plan_save(c, x, RP_SWAPPING);
	unlock_model();
	if (rc < 0) {
		rpchain_close(ch);
		return rc;
	}
	/* The new replicas' maps go out while the records change: a map is a
	 * megabyte per 256 MiB of disk, a round trip's worth on a remote
	 * region.  No cycle can use them before the job ends. */
	for (int i = 0; i < x->n; i++)
		x->maps[i]->generation = pt.seq;
	x->v = c->v;
	saving = pthread_create(&saver, NULL, reprotect_save_maps, x) == 0;
	if (!saving)
		reprotect_save_maps(x);
	maps_forget(c->v, c->item);
	lock_model();
	rc = rp_swap(c, x, &ch);
	/* Only once the item's record names the new replicas does the old
	 * place go: the originals copied to -ASRReplica and the old VM. */
	if (rc == 0)
		reprotect_finish(x);
	unlock_model();
	if (rc < 0) {
		rpchain_close(ch);
		if (saving)
			pthread_join(saver, NULL);
		return rc;
	}
	for (int i = 0; i < x->n; i++) { /* no cancel can come now: the originals' snapshots go */
		struct rp_disk *d = &x->d[i];
		if (d->how == PREP_MOVE && d->snap[0]) {
			disk_key(d->managed, d->rep_parent, d->rep, rkey, sizeof(rkey));
			x->ntgt->be->ops->disk_snapshot_delete(x->ntgt->be, rkey, d->snap);
		}
	}
	if (ch)
		rpchain_close(ch); /* the item went away meanwhile */
	lock_model();
	{
		struct item_rec *it = item_find(c->v, c->item);
		ch = it ? it->chain : NULL;
	}
	unlock_model();
	if (ch)
		item_points_refresh(c->v, c->item, ch);
	if (saving)
		pthread_join(saver, NULL);
	logmsg("item %s: reprotected, now %s -> %s", c->item, x->nsrc->name, x->ntgt->name);
	return 0;
}

static const struct job_step reprotect_steps[] = {
	{RS_PREREQ, reprotect_prereq}, {RS_RESOURCES, reprotect_resources}, {RS_PREPDISKS, reprotect_prepare},
	{RS_DELTAS, reprotect_deltas}, {RS_SYNC, reprotect_sync},           {RS_STARTREP, reprotect_start},
	{0, NULL},
};

const struct job_type JT_REPROTECT = {
	.name = "Reprotect",
	.slug = "reprotect",
	.tasks = {T_PREREQ, T_RESOURCES, T_PREPDISKS, T_DELTAS, T_SYNC, T_STARTREP},
	.running_state = "ReprotectInProgress",
	.done_state = "Protected",
	.failed_state = "ReprotectFailed",
	.steps = reprotect_steps,
	.begin = reprotect_begin,
	.end = reprotect_end,
};

/* ---- Test failover and its cleanup ---- */

#define T_CREATETEST "Create test virtual machine"
#define T_STARTTEST "Start the virtual machine"
#define T_DELTEST "Delete the test virtual machine"

/* The point a test failover builds from, in the job's plan: cycles go on
 * while it runs, so a resumed one names the point its disks came from
 * rather than the newest.  model_lock held. */
static int tf_point_save(struct jobctx *c, const char *point)
{
	json_object *o = json_object_new_object();
	const char *txt;
	int rc = -ENOMEM;

	if (o && json_object_object_add(o, "point", json_object_new_string(point)) == 0 &&
	    (txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) != NULL) {
		snprintf(c->j->plan, sizeof(c->j->plan), "%s", txt);
		rc = persist_job(c->v, c->j);
	}
	json_object_put(o);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot record the test failover's point: %s",
			 strerror(-rc));
	return rc;
}

/* model_lock held: the point recorded by tf_point_save into point, if any. */
static void tf_point_load(struct jobctx *c, char point[RP_ID_MAX])
{
	json_object *o = c->j->plan[0] ? json_tokener_parse(c->j->plan) : NULL;

	if (o && jstr_of(o, "point")[0])
		snprintf(point, RP_ID_MAX, "%s", jstr_of(o, "point"));
	json_object_put(o);
}

static int tf_load(struct jobctx *c, struct op_ctx *x)
{
	int rc = snap_item(c, &x->snap, "the recovery region", NULL, &x->tgt, x->vnet);

	if (rc == 0)
		rc = open_points(c, &x->ch, x->a.point, x->point);
	if (rc < 0)
		return rc;
	lock_model();
	tf_point_load(c, x->point);
	unlock_model();
	if (x->a.network[0]) {
		snprintf(x->vnet, sizeof(x->vnet), "%s", x->a.network);
	} else {
		char base[NAME_MAX_];
		snprintf(base, sizeof(base), "%s", x->vnet);
		snprintf(x->vnet, sizeof(x->vnet), "%.85s-test", base);
	}
	return 0;
}

static int tf_begin(struct jobctx *c, int first)
{
	return op_begin(c, first, tf_load);
}

static int tf_prereq(struct jobctx *c)
{
	int rc = wait_cycle_done(c);
	return rc < 0 ? rc : tf_load(c, c->data);
}

/* The point is recorded first; building again rewrites the disks whole. */
static int tf_create(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	int rc, n;

	lock_model();
	rc = tf_point_save(c, x->point);
	unlock_model();
	if (rc == 0)
		rc = build_target(c, x->tgt, &x->snap, 1, x->vnet, x->ch, x->point, dt, &n);
	return rc;
}

/* The VM record is put whole: a second put is the same VM. */
static int tf_start(struct jobctx *c)
{
	struct op_ctx *x = c->data;
	struct dtarget dt[MAX_DISKS];
	struct item_rec *it;
	struct vm_info vi;
	char vmname[NAME_MAX_ + 8];
	int rc, n = item_targets(&x->snap, "-test", dt);

	snprintf(vmname, sizeof(vmname), "%.85s-test", x->snap.name);
	vm_from_targets(&vi, vmname, x->snap.target_rg, x->snap.target_region, x->vnet, "", n, dt);
	lock_model();
	rc = vm_put(x->tgt, &vi);
	it = item_find(c->v, c->item);
	if (rc < 0) {
		snprintf(c->j->error, sizeof(c->j->error), "cannot create VM %s: %s", vmname, strerror(-rc));
		for (int i = 0; i < n; i++)
			inv_disk_delete(x->tgt, dt[i].managed, dt[i].parent, dt[i].name);
	} else if (it) {
		snprintf(it->test_failover, sizeof(it->test_failover), "Succeeded: %s in %s/%s from %s network %s",
			 vmname, x->snap.target_region, x->snap.target_rg, x->point, x->vnet);
		snprintf(it->tf_region, sizeof(it->tf_region), "%s", x->snap.target_region);
		snprintf(it->tf_rg, sizeof(it->tf_rg), "%s", x->snap.target_rg);
		persist_item(c->v, it);
	}
	unlock_model();
	return rc;
}

/* Test failover's tasks, in the order of JT_TEST_FAILOVER.tasks. */
enum { TF_PREREQ, TF_CREATE, TF_START };

static const struct job_step tf_steps[] = {
	{TF_PREREQ, tf_prereq}, {TF_CREATE, tf_create}, {TF_START, tf_start}, {0, NULL},
};

const struct job_type JT_TEST_FAILOVER = {
	.name = "Test failover",
	.slug = "test-failover",
	.tasks = {T_PREREQ, T_CREATETEST, T_STARTTEST},
	.running_state = NULL,
	.done_state = NULL,
	.failed_state = NULL,
	.steps = tf_steps,
	.begin = tf_begin,
	.end = op_end,
};

/* Where the item's test VM is; the job's error says why it cannot be
 * reached (model_lock NOT held). */
static int cleanup_tf_region(struct jobctx *c, struct region **r)
{
	struct item_rec *it;
	char why[300];
	int rc;

	lock_model();
	it = item_find(c->v, c->item);
	*r = it ? region_find(it->tf_region) : NULL;
	rc = !it ? -ENOENT : region_up(*r, "where the test VM is", why, sizeof(why));
	if (rc == -EHOSTUNREACH)
		snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	unlock_model();
	return rc;
}

static int cleanup_tf_prereq(struct jobctx *c)
{
	struct op_args a;
	struct region *r;
	int rc = job_args(c, &a);

	return rc < 0 ? rc : cleanup_tf_region(c, &r);
}

/* What is already deleted is not there (-ENOENT): safe to repeat. */
static int cleanup_tf_delete(struct jobctx *c)
{
	struct item_rec *it;
	struct region *r;
	struct vm_rec *vm;
	struct op_args a;
	char name[NAME_MAX_ + 8];
	int rc = job_args(c, &a);

	if (rc == 0)
		rc = cleanup_tf_region(c, &r);
	if (rc < 0)
		return rc;
	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		snprintf(name, sizeof(name), "%.85s-test", it->name);
		vm = vm_at(r, it->tf_rg, name);
		for (int i = 0; vm && i < vm->info.ndisks && rc == 0; i++) {
			struct vm_disk_info *d = &vm->info.disks[i];
			rc = inv_disk_delete(r, d->managed, d->managed ? it->tf_rg : d->storage_account, d->name);
			if (rc == -ENOENT)
				rc = 0;
		}
		if (rc == 0 && vm)
			rc = vm_remove(r, it->tf_rg, name);
		if (rc < 0) {
			snprintf(c->j->error, sizeof(c->j->error), "cannot delete the test VM %s: %s", name, strerror(-rc));
		} else {
			logmsg("item %s: test failover cleaned up%s%s", it->name, a.notes[0] ? "; notes: " : "", a.notes);
			it->test_failover[0] = it->tf_region[0] = it->tf_rg[0] = '\0';
			persist_item(c->v, it);
		}
	}
	unlock_model();
	return rc;
}

/* Cleanup test failover's tasks, in the order of JT_CLEANUP_TF.tasks. */
enum { CTF_PREREQ, CTF_DELETE };

static const struct job_step cleanup_tf_steps[] = {
	{CTF_PREREQ, cleanup_tf_prereq}, {CTF_DELETE, cleanup_tf_delete}, {0, NULL},
};

const struct job_type JT_CLEANUP_TF = {
	.name = "Cleanup test failover",
	.slug = "cleanup-test-failover",
	.tasks = {T_PREREQ, T_DELTEST},
	.running_state = NULL,
	.done_state = NULL,
	.failed_state = NULL,
	.steps = cleanup_tf_steps,
};

/* ---- Resynchronize ---- */

#define T_RESYNC "Comparing and synchronizing disks"

static int resync_prereq(struct jobctx *c)
{
	struct item_rec *it;
	char why[300];
	int rc = wait_cycle_done(c);

	if (rc < 0)
		return rc;
	lock_model();
	it = item_find(c->v, c->item);
	rc = it ? check_both_regions(c->v, it, why, sizeof(why)) : -ENOENT;
	if (rc == -EHOSTUNREACH)
		snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	unlock_model();
	return rc;
}

/* Compare mode on every disk: the maps are rebuilt from what is really on
 * the replicas, the differences are shipped, a point is made.  A replica
 * lost behind our back is made again first, and then the points that read
 * through it go.  A step cut short compares again from the start (a cycle
 * cut short is rolled back); what it sent before still counts as sent. */
static int resync_sync(struct jobctx *c)
{
	struct item_rec *it;
	char why[300];
	uint64_t total = 0;
	int rc, lost = 0;

	lock_model_read();
	it = item_find(c->v, c->item);
	if (it)
		total = item_bytes(it);
	unlock_model();
	job_set_total(c, total);
	rc = replicas_recreate_lost(c->v, c->item, &lost, why, sizeof(why));
	if (rc == 0) {
		struct jobprog jp = {.c = c, .base_transferred = job_sent(c)};
		rc = replication_cycle_now(c->v, c->item, 1, &jp, why, sizeof(why));
	}
	if (rc == 0 && lost && points_drop_older(c->v, c->item) < 0)
		logmsg("item %s: could not delete the points of the lost replica yet", c->item);
	if (rc < 0 && rc != -ECANCELED)
		job_fail_msg(c, "%s", why);
	return rc;
}

static int resync_done(struct jobctx *c)
{
	struct item_rec *it;

	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		it->resync_required = 0;
		it->resync_why[0] = '\0';
		for (int i = 0; i < it->ndisks; i++)
			it->disks[i].synced_bytes = it->disks[i].size;
		persist_item(c->v, it);
	}
	unlock_model();
	return 0;
}

/* Resynchronize's tasks, in the order of JT_RESYNC.tasks. */
enum { RSY_PREREQ, RSY_SYNC, RSY_START };

static const struct job_step resync_steps[] = {
	{RSY_PREREQ, resync_prereq}, {RSY_SYNC, resync_sync}, {RSY_START, resync_done}, {0, NULL},
};

const struct job_type JT_RESYNC = {
	.name = "Resynchronize",
	.slug = "resynchronize",
	.tasks = {T_PREREQ, T_RESYNC, T_STARTREP},
	.running_state = "ResynchronizationInProgress",
	.done_state = "Protected",
	.failed_state = "ResynchronizationFailed",
	.steps = resync_steps,
};

/* ---- Complete migration ---- */

#define T_MIGRATE "Complete migration"

static int migrate_prereq(struct jobctx *c)
{
	(void)c;
	return 0;
}

static int migrate_done(struct jobctx *c)
{
	logmsg("item %s: migration completed; reprotect and failback are refused from now on", c->item);
	return 0;
}

/* Complete migration's tasks, in the order of JT_MIGRATE.tasks. */
enum { MG_PREREQ, MG_DONE };

static const struct job_step migrate_steps[] = {
	{MG_PREREQ, migrate_prereq}, {MG_DONE, migrate_done}, {0, NULL},
};

const struct job_type JT_MIGRATE = {
	.name = "Complete migration",
	.slug = "complete-migration",
	.tasks = {T_PREREQ, T_MIGRATE},
	.running_state = NULL,
	.done_state = "MigrationCompleted",
	.failed_state = NULL,
	.steps = migrate_steps,
};

/* ---- prepare: validate and queue (model_lock held) ---- */

/* The parsed line written back as one canonical line, for the job record. */
static void line_of(const struct ctl_line *cl, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < cl->nbare && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? " " : "", cl->bare[i]);
	for (int i = 0; i < cl->nkv && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s=%s", used ? " " : "", cl->key[i], cl->val[i]);
}

int lifecycle_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const struct op_args *a, const char *line)
{
	const struct job_type *t = op->job;
	const char *name = op->name;
	struct job_rec *j = NULL;
	char why[ERR_MAX], args[512];
	int rc;

	if (ctl_get(cl, "target-network")) {
		char vnet[NAME_MAX_];
		mapped_vnet(v, it->source_region, it->network, vnet, sizeof(vnet));
		return fail_item(it, -EPERM, "reprotect cannot change the target network: change the network mapping "
			       "vaults/%s/network-mappings/%s/%s instead", v->name, it->target_region, vnet);
	}
	rc = op->check ? op->check(v, it, why, sizeof(why)) : 0;
	if (rc < 0)
		return fail_item(it, rc, "%s refused: %s", name, why);
	if (t == &JT_FAILOVER && a->shutdown) {
		rc = region_up(region_find(it->source_region), "the source, where the VM is to be shut down", why,
			       sizeof(why));
		if (rc < 0)
			return fail_item(it, rc, "failover with shutdown=yes refused: %s", why);
	}
	if (a->point[0] && (rc = check_point(v, it, name, a->point)) < 0)
		return rc;
	(void)line; /* the job keeps the parsed words, as one canonical line */
	line_of(cl, args, sizeof(args));
	rc = job_submit(v, it, t, args, &j);
	if (rc < 0)
		return fail_item(it, rc, "cannot start %s: %s", name, strerror(-rc));
	if (t == &JT_FAILOVER) {
		struct region *src = region_find(it->source_region);
		if (!a->shutdown)
			job_drop_task(v, j, T_SHUTDOWN);
		if (strcmp(a->point, "latest") != 0 || !src || !src->available)
			job_drop_task(v, j, T_SYNCLAST);
	}
	if (t == &JT_VERIFY)
		verify_tasks(it, j);
	it->error[0] = '\0';
	return 0;
}
