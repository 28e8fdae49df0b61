/*
 * reprotect.c - reprotect, and so failback: reverse the item's direction,
 * compare both sides' disks and send only what differs, swap the item to
 * the new direction.  Six steps (jobs.c), resumed at the first unfinished
 * one with the plan the job keeps in its record.
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

/* ---- Reprotect ---- */

#define T_RESOURCES "Creating target resources"
#define T_PREPDISKS "Preparing target disks"
#define T_DELTAS "Identifying the deltas"
#define T_SYNC "Synchronizing"

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
	struct vault_rec *v; /* for the pool call that saves the maps */
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
	/* an excluded VHD too: the failback puts its empty disk in that account */
	for (int i = 0; i < x->n + s->nexcl; i++)
		if (i < x->n ? !s->disks[i].replica_managed : !s->excl[i - x->n].managed) {
			const char *orig = i < x->n ? (s->disks[i].managed ? NULL : s->disks[i].src_parent) :
				s->excl[i - x->n].src_parent;
			x->any_unmanaged = 1;
			/* the original account, else "asr" + the recovery VM's account */
			if (a->tsa[0])
				snprintf(x->tsa, sizeof(x->tsa), "%s", a->tsa);
			else if (orig && sa_find(x->ntgt, orig))
				snprintf(x->tsa, sizeof(x->tsa), "%s", orig);
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

/* Save the new direction's block maps (a pool call of reprotect_start's). */
static void reprotect_save_maps(void *arg)
{
	struct rp_ctx *x = arg;

	for (int i = 0; i < x->n; i++) {
		char mkey[512];
		key_map(x->v, x->snap.name, i, mkey, sizeof(mkey));
		if (blockmap_save(x->ntgt->be, mkey, x->maps[i]) < 0)
			logmsg("item %s: cannot save the block map of disk %d", x->snap.name, i);
	}
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

#define EXCL_KEPT_SUFFIX "-asrexcluded"

/* model_lock held, the item swapped: the failover back (failback) gives the
 * VM an empty disk in each excluded disk's place, named like it.  A disk of
 * that name where it would go (the old primary's own, never copied) is
 * kept under "<disk>-asrexcluded" rather than overwritten, replacing the
 * one an earlier reprotect kept there.  Safe to repeat: a disk already set
 * aside is not there any more. */
static void set_aside_excluded(struct vault_rec *v, const char *item)
{
	struct item_rec *it = item_find(v, item);
	struct region *r = it ? region_find(it->target_region) : NULL;
	char parent[NAME_MAX_], name[NAME_MAX_], kept[NAME_MAX_ + 16];
	int n = it ? it->nexcl : 0, managed, rc;

	for (int k = 0; r && k < n; k++) {
		/* copied: disk_rename_inv drops model_lock, so look the item up again */
		managed = it->excl[k].managed;
		snprintf(parent, sizeof(parent), "%s", managed ? it->target_rg : it->target_sa);
		snprintf(name, sizeof(name), "%s", it->excl[k].name);
		snprintf(kept, sizeof(kept), "%.80s" EXCL_KEPT_SUFFIX, name);
		if (!disk_at(r, managed, parent, name))
			continue;
		rc = inv_disk_delete(r, managed, parent, kept);
		if (rc == 0 || rc == -ENOENT)
			rc = disk_rename_inv(r, managed, parent, name, parent, kept);
		if (rc < 0)
			logmsg("item %s: cannot keep the old disk %s/%s of an excluded disk aside: %s", item, parent,
			       name, strerror(-rc));
		else
			logmsg("item %s: the old disk %s/%s of an excluded disk is kept as %s", item, parent, name, kept);
		it = item_find(v, item);
		if (!it)
			break;
	}
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
	memcpy(to->excl, from->excl, sizeof(to->excl));
	to->nexcl = from->nexcl;
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
	enum item_state st = c->j->type->running_state;

	if (strcmp(it->job_id, c->j->id) == 0 && (st == IS_NONE || it->state == st))
		return;
	snprintf(it->job_id, sizeof(it->job_id), "%s", c->j->id);
	if (st != IS_NONE)
		it->state = st;
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
	/* An excluded disk stays excluded: its source is now the failed-over
	 * VM's empty disk, where the failover made it. */
	for (int k = 0; k < it->nexcl; k++)
		snprintf(it->excl[k].src_parent, sizeof(it->excl[k].src_parent), "%s",
			 it->excl[k].managed ? x->snap.target_rg : x->snap.target_sa);
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
	int rc;
	struct pool_call saver;

	if (r->swapped) {
		logmsg("job %s: item %s already reads %s: clearing the old place", c->j->id, c->item, r->now);
		maps_forget(c->v, c->item);
		lock_model();
		set_aside_excluded(c->v, c->item);
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
	pool_call_start(&saver, reprotect_save_maps, x);
	maps_forget(c->v, c->item);
	lock_model();
	rc = rp_swap(c, x, &ch);
	/* Only once the item's record names the new replicas does the old
	 * place go: the originals copied to -ASRReplica and the old VM. */
	if (rc == 0) {
		set_aside_excluded(c->v, c->item);
		reprotect_finish(x);
	}
	unlock_model();
	if (rc < 0) {
		rpchain_close(ch);
		pool_call_wait(&saver);
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
	pool_call_wait(&saver);
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
	.running_state = IS_REPROTECT_IN_PROGRESS,
	.done_state = IS_PROTECTED,
	.failed_state = IS_REPROTECT_FAILED,
	.steps = reprotect_steps,
	.begin = reprotect_begin,
	.end = reprotect_end,
};

