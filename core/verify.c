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
 * leaves the item as it was; a resumed verify starts again from its first
 * disk.
 */
#define _GNU_SOURCE
#include "jobs.h"
#include "model.h"
#include "protect.h"
#include "rules.h"
#include "tracking.h"
#include "verify.h"

#include <errno.h>
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

void verify_tasks(const struct item_rec *it, struct job_rec *j)
{
	memset(j->tasks, 0, sizeof(j->tasks));
	j->ntasks = 0;
	snprintf(j->tasks[j->ntasks++].name, sizeof(j->tasks[0].name), "%s", T_PREREQ);
	for (int i = 0; i < it->ndisks && j->ntasks < MAX_TASKS; i++)
		snprintf(j->tasks[j->ntasks++].name, sizeof(j->tasks[0].name), "Verify disk %s", it->disks[i].name);
	for (int i = 0; i < j->ntasks; i++)
		j->tasks[i].state = JOB_NOT_STARTED;
	j->mismatched_bytes = 0;
	j->dirty = 1; /* jobs_flush writes it; a resumed verify makes them again */
}

/* A fresh start, resumed or not: the tasks and figures of a new verify. */
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

/* model_lock NOT held: disk i's task says what it found. */
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
	job_task(c, 1 + i, JOB_SUCCEEDED);
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

static int verify_run(struct jobctx *c)
{
	struct vplan *p = calloc(1, sizeof(*p));
	unsigned char *buf = malloc(2 * (size_t)VERIFY_RUN);
	uint64_t done = 0, found = 0, pending = 0;
	int rc;

	if (!p || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = verify_reset(c);
	if (rc < 0)
		goto out;
	job_task(c, 0, JOB_IN_PROGRESS);
	rc = wait_cycle_done(c);
	if (rc == 0)
		rc = verify_plan(c, p);
	if (rc < 0)
		goto out; /* job_worker closes the running task with the outcome */
	job_task(c, 0, JOB_SUCCEEDED);
	job_set_total(c, p->total);
	for (int i = 0; i < p->ndisks && rc == 0; i++) {
		uint64_t bad = 0, pend = 0;
		job_task(c, 1 + i, JOB_IN_PROGRESS);
		rc = verify_disk(c, p, i, buf, &done, &bad, &pend);
		if (rc == 0)
			verify_disk_done(c, i, p->d[i].name, bad);
		found += bad;
		pending += pend;
	}
	if (rc == 0)
		rc = verify_settle(c, found);
	if (rc == 0)
		logmsg("item %s: verify compared %llu bytes: %llu mismatched, %llu written since the newest point",
		       c->item, (unsigned long long)done, (unsigned long long)found, (unsigned long long)pending);
out:
	free(buf);
	free(p);
	return rc;
}

const struct job_type JT_VERIFY = {
	.name = "Verify replication",
	.slug = "verify",
	.tasks = {T_PREREQ}, /* and one per disk: verify_tasks() */
	.finds_mismatches = 1,
	.running_state = IS_NONE, /* the item stays Protected; its cycles wait */
	.done_state = IS_NONE,
	.failed_state = IS_NONE,
	.run = verify_run,
};
