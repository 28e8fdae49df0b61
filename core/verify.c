/*
 * verify.c - the Verify replication job (SPEC sections 4 and 10): read every
 * source disk and its replica and count the bytes where they differ,
 * changing neither.  Verify only tells; resync repairs.
 *
 * One instant, without holding the VM's writes.  The replica is the newest
 * recovery point (the job holds the item, so no cycle writes it meanwhile;
 * in snapshot mode too, the replica between cycles equals the newest
 * point's snapshots).  The source goes on taking writes through the mount,
 * and the write tracker marks a page before a write to it starts.  So once
 * a run of source pages has been read, a page the tracker does not report
 * (item_disk_page_written() == 0) was read as it was at the newest point:
 * if it differs from the replica, that is a mismatch.  A page it reports is
 * pending (written since the point; the next cycle ships it), not a
 * mismatch.  Only pages that differ are asked about, after their run was
 * read.
 *
 * Both disks are opened read-only and read in runs of 1 MiB.  Nothing is
 * written until the end but the job's own figures (mismatched-bytes, and
 * the task of each disk that differs names the bytes); then, when anything
 * differed, the item's resync_required (RESYNC_VERIFY), which keeps its
 * health Warning until a resync.  A cancel, a failure or a crash therefore
 * leaves the item as it was.
 *
 * Steps (jobs.c's run_steps).  The tasks are the job's own, made when it
 * is submitted: the check, then one per disk (verify_tasks); a static table
 * cannot name them, so verify's steps are the check and one step per disk
 * slot (MAX_DISKS of them), and a step whose task the type does not name is
 * the job's row of that number: slot k is row k, disk k - 1, and a slot
 * past the item's disks has no row and does not apply.  The one function
 * of the slots reads its disk from the job's step.  A resumed verify goes
 * on at its first unfinished disk.  Each disk's finding is kept in the
 * job's plan ({"mismatched": [...], "pending": [...]}, one per disk done),
 * written with the step, so the disks done keep what they found and the
 * disk a crash cut short counts from zero again, however much of it the
 * record's live mismatched_bytes had.
 */
#define _GNU_SOURCE
#include "jobs.h"
#include "model.h"
#include "protect.h"
#include "rules.h"
#include "tracking.h"
#include "verify.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_RUN (1u << 20) /* bytes read from each side at a time */
#define T_PREREQ "Prerequisites check"

/* What the job reads, copied from the item under model_lock. */
struct vdisk {
	char name[NAME_MAX_];
	char src_key[BACKEND_KEY_MAX], rep_key[BACKEND_KEY_MAX];
	uint64_t size;
};

struct vplan {
	struct backend *src_be, *tgt_be;
	int ndisks;
	struct vdisk d[MAX_DISKS];
	uint64_t total;
};

/* Row 0 (the check, as job_submit made it from JT_VERIFY.tasks) stays as
 * it is: the prerequisites step makes the others again while it runs. */
void verify_tasks(const struct item_rec *it, struct job_rec *j)
{
	memset(&j->tasks[1], 0, sizeof(j->tasks) - sizeof(j->tasks[0]));
	j->ntasks = 1;
	for (int i = 0; i < it->ndisks && j->ntasks < MAX_TASKS; i++)
		snprintf(j->tasks[j->ntasks++].name, sizeof(j->tasks[0].name), "Verify disk %s", it->disks[i].name);
	for (int i = 1; i < j->ntasks; i++)
		j->tasks[i].state = JOB_NOT_STARTED;
	j->mismatched_bytes = 0;
	j->plan[0] = '\0'; /* no disk's finding yet */
	j->dirty = 1; /* jobs_flush writes it */
}

/* A verify not past its check: the tasks and figures of a new one (the
 * record saved at submission may not have had the disks' rows yet). */
static int verify_reset(struct jobctx *c)
{
	struct item_rec *it;
	lock_model();
	it = item_find(c->v, c->item);
	if (it)
		verify_tasks(it, c->j);
	unlock_model();
	if (!it)
		return -ENOENT;
	job_count_compared(c, 0);
	return 0;
}

/* The regions it needs, and the disks to read (no cycle runs now). */
static int verify_plan(struct jobctx *c, struct vplan *p)
{
	struct item_rec *it;
	char why[ERR_MAX];
	int rc;

	lock_model();
	it = item_find(c->v, c->item);
	rc = it ? check_both_regions(c->v, it, why, sizeof(why)) : -ENOENT;
	if (rc < 0 && it)
		snprintf(c->j->error, sizeof(c->j->error), "%s", why);
	if (rc == 0) {
		/* lifecycle_check found both regions, available */
		p->src_be = region_find(it->source_region)->be;
		p->tgt_be = region_find(it->target_region)->be;
		p->ndisks = it->ndisks;
		for (int i = 0; i < it->ndisks; i++) {
			const struct item_disk *d = &it->disks[i];
			struct vdisk *vd = &p->d[i];
			snprintf(vd->name, sizeof(vd->name), "%s", d->name);
			disk_key(d->managed, d->src_parent, d->name, vd->src_key, sizeof(vd->src_key));
			disk_key(d->replica_managed, d->replica_parent, d->replica, vd->rep_key, sizeof(vd->rep_key));
			vd->size = d->size;
			p->total += d->size;
		}
	}
	unlock_model();
	return rc;
}

/* len bytes at off, all of them (the caller stays inside the disk). */
static int read_run(struct bdisk *d, unsigned char *buf, size_t len, uint64_t off)
{
	ssize_t n = bd_pread(d, buf, len, off);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

/* n more mismatched bytes: the job's figure, live. */
static void count_mismatch(struct jobctx *c, uint64_t n)
{
	if (!n)
		return;
	lock_model();
	c->j->mismatched_bytes += n;
	c->j->dirty = 1; /* its record shows the finding so far */
	unlock_model();
}

/* Compare disk i's source and replica.  *done counts the bytes compared
 * over the whole job; *bad gets the mismatched bytes of this disk and
 * *pending those that differ because the source was written since the
 * newest point. */
static int verify_disk(struct jobctx *c, const struct vplan *p, int i, unsigned char *buf, uint64_t *done,
		       uint64_t *bad, uint64_t *pending)
{
	const struct vdisk *d = &p->d[i];
	unsigned char *sb = buf, *rb = buf + VERIFY_RUN;
	struct bdisk *s = NULL, *r = NULL;
	uint64_t ssize = 0, rsize = 0, common, base = *done;
	const char *what = "open the source";
	int rc;

	rc = be_disk_open(p->src_be, d->src_key, BDISK_RDONLY, &s);
	if (rc == 0) {
		what = "open the replica";
		rc = be_disk_open(p->tgt_be, d->rep_key, BDISK_RDONLY, &r);
	}
	if (rc == 0) {
		what = "size the disks";
		rc = bd_size(s, &ssize);
	}
	if (rc == 0)
		rc = bd_size(r, &rsize);
	if (rc < 0)
		goto out;
	/* Bytes one side has and the other lacks differ, whatever they hold. */
	common = ssize < rsize ? ssize : rsize;
	*bad = (ssize > rsize ? ssize : rsize) - common;
	*pending = 0;
	count_mismatch(c, *bad);
	for (uint64_t off = 0; off < common;) {
		size_t len = common - off < VERIFY_RUN ? (size_t)(common - off) : VERIFY_RUN;
		uint64_t run_bad = 0;

		if (job_cancelled(c)) {
			rc = -ECANCELED;
			goto out;
		}
		what = "read the source";
		rc = read_run(s, sb, len, off);
		if (rc == 0) {
			what = "read the replica";
			rc = read_run(r, rb, len, off);
		}
		if (rc < 0)
			goto out;
		/* The source run is read: only now may the tracker vouch for it. */
		for (size_t pg = 0; pg < len; pg += DELTA_PAGE) {
			size_t k = len - pg < DELTA_PAGE ? len - pg : DELTA_PAGE;
			if (memcmp(sb + pg, rb + pg, k) == 0)
				continue;
			if (item_disk_page_written(c->v, c->item, i, (off + pg) / DELTA_PAGE))
				*pending += k;
			else
				run_bad += k;
		}
		off += len;
		*bad += run_bad;
		count_mismatch(c, run_bad);
		job_count_compared(c, base + off);
	}
	*done = base + d->size;
	job_count_compared(c, *done);
out:
	if (rc < 0 && rc != -ECANCELED)
		job_fail_msg(c, "disk %s: cannot %s: %s", d->name, what, strerror(-rc));
	bd_close(s);
	bd_close(r);
	return rc;
}

/* model_lock NOT held: disk i's task says what it found (the step's end
 * shows it Succeeded). */
static void verify_disk_done(struct jobctx *c, int i, const char *disk, uint64_t bad)
{
	struct task_rec *t = &c->j->tasks[1 + i];
	int n;

	lock_model();
	if (1 + i < c->j->ntasks) {
		if (bad) {
			n = snprintf(t->name, sizeof(t->name), "Verify disk %s: %llu bytes mismatched", disk,
				     (unsigned long long)bad);
			if (n < 0 || (size_t)n >= sizeof(t->name)) /* a long name: keep what matters */
				snprintf(t->name, sizeof(t->name), "Verify disk %.*s: mismatched",
					 (int)(sizeof(t->name) - 32), disk);
		}
		c->j->dirty = 1;
	}
	unlock_model();
}

/* The finding goes on the item: resync required until a resync. */
static int verify_settle(struct jobctx *c, uint64_t found)
{
	struct item_rec *it;
	char why[sizeof(it->resync_why)];
	int rc = 0, was;

	if (!found)
		return 0;
	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		was = it->resync_required;
		snprintf(why, sizeof(why), "%s", it->resync_why);
		it->resync_required = RESYNC_VERIFY;
		snprintf(it->resync_why, sizeof(it->resync_why), "verify %.100s found %llu mismatched bytes",
			 c->j->id, (unsigned long long)found);
		rc = persist_item(c->v, it);
		if (rc < 0) {
			/* not recorded: not shown either */
			it->resync_required = was;
			snprintf(it->resync_why, sizeof(it->resync_why), "%s", why);
			snprintf(c->j->error, sizeof(c->j->error), "found %llu mismatched bytes but cannot record it "
				 "on the item: %s", (unsigned long long)found, strerror(-rc));
		}
	}
	unlock_model();
	return it ? rc : -ENOENT;
}

/* What verify's steps share (begin to end): the disks to read, the read
 * buffer, and each disk's finding, of the disks done. */
struct vctx {
	struct vplan p;
	unsigned char *buf;
	int ndone;
	uint64_t bad[MAX_DISKS], pend[MAX_DISKS];
};

/* Append n to the JSON array a. */
static int add_u64(json_object *a, uint64_t n)
{
	json_object *o = json_object_new_int64((int64_t)n);

	if (!o || json_object_array_add(a, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

/* model_lock held: the findings of the disks done go in the job's plan,
 * which the step's record writes. */
static int findings_save(struct jobctx *c, const struct vctx *x)
{
	json_object *o = json_object_new_object(), *bad = json_object_new_array(),
		    *pend = json_object_new_array();
	const char *txt;
	int rc = -ENOMEM;

	if (!o || !bad || !pend) {
		json_object_put(bad);
		json_object_put(pend);
		goto out;
	}
	json_object_object_add(o, "mismatched", bad);
	json_object_object_add(o, "pending", pend);
	for (int i = 0; i < x->ndone; i++)
		if (add_u64(bad, x->bad[i]) < 0 || add_u64(pend, x->pend[i]) < 0)
			goto out;
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = !txt ? -ENOMEM : strlen(txt) >= sizeof(c->j->plan) ? -ENAMETOOLONG : 0;
	if (rc == 0)
		snprintf(c->j->plan, sizeof(c->j->plan), "%s", txt);
out:
	json_object_put(o);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot record what verify found: %s", strerror(-rc));
	return rc;
}

/* model_lock held: read them back from plan ("": none yet). */
static int findings_load(const char *plan, struct vctx *x)
{
	json_object *o, *bad, *pend;
	int rc = -EBADMSG;

	x->ndone = 0;
	if (!plan[0])
		return 0;
	o = json_tokener_parse(plan);
	if (!o)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "mismatched", &bad) || !json_object_is_type(bad, json_type_array) ||
	    !json_object_object_get_ex(o, "pending", &pend) || !json_object_is_type(pend, json_type_array) ||
	    json_object_array_length(bad) != json_object_array_length(pend) ||
	    json_object_array_length(bad) > MAX_DISKS)
		goto out;
	x->ndone = (int)json_object_array_length(bad);
	for (int i = 0; i < x->ndone; i++) {
		x->bad[i] = (uint64_t)json_object_get_int64(json_object_array_get_idx(bad, (size_t)i));
		x->pend[i] = (uint64_t)json_object_get_int64(json_object_array_get_idx(pend, (size_t)i));
	}
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/* What the check finds, also for a job resumed past it: no cycle runs, both
 * regions are up, the disks to read. */
static int verify_open(struct jobctx *c, struct vctx *x)
{
	int rc = wait_cycle_done(c);

	if (rc == 0)
		rc = verify_plan(c, &x->p);
	if (rc == 0)
		job_set_total(c, x->p.total);
	return rc;
}

static int verify_begin(struct jobctx *c, int first)
{
	struct vctx *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return -ENOMEM;
	c->data = x;
	x->buf = malloc(2 * (size_t)VERIFY_RUN);
	if (!x->buf)
		return -ENOMEM;
	lock_model_read();
	rc = findings_load(c->j->plan, x);
	unlock_model();
	if (rc < 0) {
		job_fail_msg(c, "its record of the disks verified does not read: %s", strerror(-rc));
		return rc;
	}
	return first > 0 ? verify_open(c, x) : 0; /* else the check reads it */
}

static void verify_end(struct jobctx *c, int rc)
{
	struct vctx *x = c->data;

	(void)rc;
	if (x)
		free(x->buf);
	free(x);
	c->data = NULL;
}

/* Prerequisites check: a verify that starts here starts afresh. */
static int verify_prereq(struct jobctx *c)
{
	struct vctx *x = c->data;
	int rc = verify_reset(c);

	x->ndone = 0;
	return rc < 0 ? rc : verify_open(c, x);
}

/* One disk slot: the disk of the job's step (step k is disk k - 1).  It
 * counts from what the disks before it found, and the last disk settles
 * the finding on the item. */
static int verify_one_disk(struct jobctx *c)
{
	struct vctx *x = c->data;
	uint64_t done = 0, found = 0, pending = 0, bad = 0, pend = 0;
	int i, rc;

	lock_model();
	i = c->j->step - 1;
	if (i >= 0 && i <= x->ndone && i < x->p.ndisks) {
		x->ndone = i; /* a disk cut short by a crash counts again */
		for (int k = 0; k < i; k++) {
			done += x->p.d[k].size;
			found += x->bad[k];
		}
		c->j->mismatched_bytes = found;
		c->j->dirty = 1;
	}
	unlock_model();
	if (i < 0 || i >= x->p.ndisks)
		return 0; /* no such disk: no row either, so not run */
	if (i > x->ndone) {
		job_fail_msg(c, "its record has the findings of %d disks, not of the %d before disk %d", x->ndone,
			     i, i + 1);
		return -EBADMSG;
	}
	rc = verify_disk(c, &x->p, i, x->buf, &done, &bad, &pend);
	if (rc < 0)
		return rc;
	verify_disk_done(c, i, x->p.d[i].name, bad);
	lock_model();
	x->bad[i] = bad;
	x->pend[i] = pend;
	x->ndone = i + 1;
	rc = findings_save(c, x);
	unlock_model();
	if (rc < 0 || i < x->p.ndisks - 1)
		return rc;
	found = 0;
	for (int k = 0; k < x->p.ndisks; k++) {
		found += x->bad[k];
		pending += x->pend[k];
	}
	rc = verify_settle(c, found);
	if (rc == 0)
		logmsg("item %s: verify compared %llu bytes: %llu mismatched, %llu written since the newest point",
		       c->item, (unsigned long long)done, (unsigned long long)found, (unsigned long long)pending);
	return rc;
}

/* The check, then a slot per disk an item can have (see the top). */
static const struct job_step verify_steps[] = {
	{0, verify_prereq},
	{1, verify_one_disk},  {2, verify_one_disk},  {3, verify_one_disk},  {4, verify_one_disk},
	{5, verify_one_disk},  {6, verify_one_disk},  {7, verify_one_disk},  {8, verify_one_disk},
	{9, verify_one_disk},  {10, verify_one_disk}, {11, verify_one_disk}, {12, verify_one_disk},
	{13, verify_one_disk}, {14, verify_one_disk}, {15, verify_one_disk}, {16, verify_one_disk},
	{0, NULL},
};
_Static_assert(sizeof(verify_steps) / sizeof(verify_steps[0]) == MAX_DISKS + 2,
	       "verify has a step per disk slot, after its check");

const struct job_type JT_VERIFY = {
	.name = "Verify replication",
	.slug = "verify",
	.tasks = {T_PREREQ}, /* and one per disk: verify_tasks() */
	.finds_mismatches = 1,
	.running_state = IS_NONE, /* the item stays Protected; its cycles wait */
	.done_state = IS_NONE,
	.failed_state = IS_NONE,
	.steps = verify_steps,
	.begin = verify_begin,
	.end = verify_end,
};
