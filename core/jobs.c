/*
 * jobs.c - the worker pool and the life of a job.
 *
 * A small pool of threads (as redis's bio.c: a queue per kind of work, each
 * with a condition variable and workers that pop and run) executes three
 * kinds of work: jobs, the operations of SPEC section 4; replication cycles,
 * which are not jobs; and short I/O a job hands off and later waits for
 * (pool_call: reprotect's block maps go out while its records change).  Each
 * kind has its own queue and threads, so a job that is slow or waits never
 * holds up an item's cycles, and I/O work, which never waits on a job,
 * always finds a thread free of jobs: a job that has I/O done beside it
 * hands it to that queue rather than start a thread of its own.  FUSE
 * threads only queue work here; they never run it.
 *
 * A job is created NotStarted by a control write (job_submit, model_lock
 * held), becomes InProgress on a worker, runs its type's steps (run_steps)
 * and ends Succeeded, Failed or Cancelled.  Its record (tasks, counters,
 * checkpoint, steps done) is written when it is created, when a step is
 * done (so a job resumed after a crash goes on at its first unfinished
 * step) and when it ends; in between, task changes and every 2 s of data movement mark it
 * dirty and jobs_flush() writes it within a scheduler tick (or before the
 * next other record of its vault), so the work inside a step does not wait
 * for its record.  Work whose undo a resumed job must know about calls
 * job_save() first.  A run that could not reach a region waits for it,
 * parked off the workers, and goes again (park_for_region, jobs_unpark).
 * At shut-down running and parked jobs are told to stop at their next
 * checkpoint and stay InProgress on disk; job_resume_all() queues them
 * again at the next start, and they continue from the checkpoint.
 */
#define _GNU_SOURCE
#include "chains.h"
#include "jobs.h"
#include "model.h"
#include "sched.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct work {
	void (*fn)(void *);
	void *arg;
	void (*drop)(void *); /* frees arg when the work is dropped unrun, or NULL */
	struct work *next;
};

/* One queue per kind of work, each with its own threads, so a kind that
 * waits cannot starve the other. */
struct queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct work *head, *tail; /* protected by lock */
	int stopping;             /* protected by lock */
	int running;              /* has threads and is not stopping; lock */
	pthread_t *threads;
	int nthreads;
};

static struct queue queues[WORK_KINDS] = {
	[WORK_JOB] = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER},
	[WORK_CYCLE] = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER},
	[WORK_IO] = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER},
};
static volatile int jobs_stopping; /* read without locks: a stop hint */
static struct job_rec *parked;     /* jobs waiting for a region, by park_next; model_lock */

static void *worker_main(void *arg)
{
	struct queue *q = arg;
	for (;;) {
		struct work *w;
		pthread_mutex_lock(&q->lock);
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (!q->head) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		w = q->head;
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		w->fn(w->arg);
		free(w);
	}
}

/* IO work is waited for: it is refused (-ESHUTDOWN) rather than queued
 * where no thread would run it, before the pool starts or once it stops.
 * Other kinds queue anyway: what is queued at a start runs then. */
int pool_submit(enum work_kind kind, void (*fn)(void *), void *arg, void (*drop)(void *))
{
	struct queue *q = &queues[kind];
	struct work *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->arg = arg;
	w->drop = drop;
	pthread_mutex_lock(&q->lock);
	if (kind == WORK_IO && !q->running) {
		pthread_mutex_unlock(&q->lock);
		free(w);
		return -ESHUTDOWN;
	}
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static int queue_start(struct queue *q, int n)
{
	int rc = 0;

	q->threads = calloc((size_t)n, sizeof(*q->threads));
	if (!q->threads)
		return -ENOMEM;
	q->stopping = 0;
	for (q->nthreads = 0; q->nthreads < n; q->nthreads++) {
		rc = -pthread_create(&q->threads[q->nthreads], NULL, worker_main, q);
		if (rc)
			break;
	}
	pthread_mutex_lock(&q->lock);
	q->running = q->nthreads > 0;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Each kind gets n threads: `workers` in the config is per queue.  The IO
 * queue has as many as the job queue, so every running job can have its
 * hand-off run at once, never behind another job's. */
int jobs_start(int n)
{
	jobs_stopping = 0;
	for (int k = 0; k < WORK_KINDS; k++) {
		int rc = queue_start(&queues[k], n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int jobs_stopping_now(void)
{
	return jobs_stopping;
}

/* Drop q's queued work that has not started: queued jobs stay NotStarted
 * (or InProgress with their checkpoint) on disk and are resumed at the
 * next start. */
static void queue_drop(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->head) {
		struct work *w = q->head;
		q->head = w->next;
		if (w->drop)
			w->drop(w->arg);
		free(w);
	}
	q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
}

/* Let q's threads finish what they run and what is queued, then join them. */
static void queue_stop(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	q->running = 0;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	q->threads = NULL;
	q->nthreads = 0;
}

/* Queued work is dropped (a dropped pool_call runs in its waiter), then the
 * queues are joined in their order: the IO queue last, so the jobs that run
 * to their checkpoint meanwhile can still hand off I/O. */
void jobs_stop(void)
{
	jobs_stopping = 1;
	for (int k = 0; k < WORK_KINDS; k++)
		queue_drop(&queues[k]);
	/* A job parked for a region goes to a worker once more: seeing the
	 * stop, it saves its checkpoint and stays InProgress, as a running
	 * job does, and is resumed at the next start. */
	lock_model();
	jobs_unpark();
	unlock_model();
	for (int k = 0; k < WORK_KINDS; k++)
		queue_stop(&queues[k]);
	lock_model();
	parked = NULL; /* none left but for want of memory: their records are dirty, flushed as InProgress */
	unlock_model();
}

/* ---- calls: IO work its submitter waits for ---- */

enum { CALL_QUEUED, CALL_DONE, CALL_BY_WAITER };

/* One lock and condition for every call: a call is short and its waiter
 * checks its own state.  A leaf: nothing is taken under it. */
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t calls_cond = PTHREAD_COND_INITIALIZER;

/* The last touch of pc by the pool: its waiter may return right after. */
static void call_settle(struct pool_call *pc, int state)
{
	pthread_mutex_lock(&calls_lock);
	pc->state = state;
	pthread_cond_broadcast(&calls_cond);
	pthread_mutex_unlock(&calls_lock);
}

static void call_run(void *arg)
{
	struct pool_call *pc = arg;

	pc->fn(pc->arg);
	call_settle(pc, CALL_DONE);
}

/* Dropped unrun at shut-down: its waiter runs it. */
static void call_drop(void *arg)
{
	call_settle(arg, CALL_BY_WAITER);
}

void pool_call_start(struct pool_call *pc, void (*fn)(void *), void *arg)
{
	pc->fn = fn;
	pc->arg = arg;
	pc->state = CALL_QUEUED;
	if (pool_submit(WORK_IO, call_run, pc, call_drop) < 0)
		pc->state = CALL_BY_WAITER; /* no memory, or no pool: not shared */
}

void pool_call_wait(struct pool_call *pc)
{
	int state;

#ifdef ASRFS_LOCK_DEBUG
	if (model_locked() || model_writer())
		model_lock_violation(__func__, "waits for a pool call holding the model's locks");
#endif
	pthread_mutex_lock(&calls_lock);
	while (pc->state == CALL_QUEUED)
		pthread_cond_wait(&calls_cond, &calls_lock);
	state = pc->state;
	pthread_mutex_unlock(&calls_lock);
	if (state == CALL_BY_WAITER) {
		pc->fn(pc->arg);
		pc->state = CALL_DONE;
	}
}

/* ---- jobs ---- */

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void job_worker(void *arg);
static void job_settle_item(struct vault_rec *v, struct item_rec *it, struct job_rec *j);
static int job_item_outcome(struct vault_rec *v, struct item_rec *it, const struct job_rec *j);
static void job_item_records(struct vault_rec *v, struct item_rec *it, int gone);

/* model_lock held: the item job j runs on, NULL if none (a recovery
 * plan's job runs on none: its "item" names the plan). */
static struct item_rec *job_item(struct vault_rec *v, const struct job_rec *j)
{
	return j->type->no_item ? NULL : item_find(v, j->item);
}

static void job_link(struct vault_rec *v, struct job_rec *j)
{
	j->next = v->jobs;
	v->jobs = j;
	vault_lists_changed(v);
}

/* model_lock held: the item runs job j now (its `job` link, its state). */
static void item_link_job(struct item_rec *it, struct job_rec *j)
{
	it->job = j;
	snprintf(it->job_id, sizeof(it->job_id), "%s", j->id);
	it->error[0] = '\0';
	if (j->type->running_state != IS_NONE)
		it->state = j->type->running_state;
}

/* A new job of type t on name (an item, or a plan for a no_item type),
 * numbered, its record written: 0, or -errno with nothing kept. */
static int job_new(struct vault_rec *v, const char *name, const struct job_type *t, const char *args,
		   const char *const *tasks, struct job_rec **out)
{
	struct job_rec *j = calloc(1, sizeof(*j));
	int rc, counted;

	if (!j)
		return -ENOMEM;
	v->next_job++;
	snprintf(j->id, sizeof(j->id), "%06llu-%s-%.50s", (unsigned long long)v->next_job, t->slug, name);
	j->type = t;
	snprintf(j->item, sizeof(j->item), "%s", name);
	j->vault = v;
	j->state = JOB_NOT_STARTED;
	j->started = time(NULL);
	snprintf(j->args, sizeof(j->args), "%s", args ? args : "");
	for (int i = 0; i < MAX_TASKS && tasks[i]; i++) {
		snprintf(j->tasks[i].name, sizeof(j->tasks[i].name), "%s", tasks[i]);
		j->tasks[i].state = JOB_NOT_STARTED;
		j->ntasks++;
	}
	/* Durable order: the vault's job counter, the job, then the item that
	 * links to it.  A crash between two of them leaves a skipped number, or
	 * a NotStarted job whose item does not name it yet (job_resume_vault
	 * links it, or fails it when a new item was never saved): never an item
	 * in a running state with no job.  A vault whose record is damaged is
	 * never rewritten; its counter is rebuilt from the job records at load,
	 * so the job's own record is enough. */
	rc = v->damaged[0] ? 0 : persist_vault(v);
	counted = rc == 0 && !v->damaged[0];
	if (rc == 0)
		rc = persist_job(v, j);
	if (rc < 0) {
		/* A refused submission uses up no job number.  No record holds
		 * it; if vault.json already counts it, writing it back is best
		 * effort: a failure leaves a gap, never a number used twice. */
		v->next_job--;
		if (counted)
			persist_vault(v);
		free(j);
		return rc;
	}
	job_link(v, j);
	*out = j;
	return 0;
}

int job_submit_plan(struct vault_rec *v, const char *plan, const struct job_type *t, const char *args,
		    const char *const *tasks, struct job_rec **out)
{
	struct job_rec *j;
	int rc = job_new(v, plan, t, args, tasks, &j);

	if (rc == 0) {
		j->held = 1;
		rc = pool_submit(WORK_JOB, job_worker, j, NULL);
	}
	if (rc == 0 && out)
		*out = j;
	return rc;
}

int job_submit(struct vault_rec *v, struct item_rec *it, const struct job_type *t, const char *args,
	       const char *const *tasks, struct job_rec **out)
{
	char prev_id[sizeof(it->job_id)];
	struct job_rec *j;
	int rc = job_new(v, it->name, t, args, tasks ? tasks : t->tasks, &j);

	if (rc < 0)
		return rc;
	j->prev_state = it->state;
	snprintf(prev_id, sizeof(prev_id), "%s", it->job_id);
	item_link_job(it, j);
	rc = persist_item(v, it);
	if (rc < 0) {
		/* Refused: the item as it was (before the job's record is
		 * written: readers see both at once), and the job must not run
		 * later from its stored record. */
		it->job = NULL;
		it->state = j->prev_state;
		snprintf(it->job_id, sizeof(it->job_id), "%s", prev_id);
		j->state = JOB_FAILED;
		j->ended = time(NULL);
		snprintf(j->error, sizeof(j->error), "cannot save item %s: %s", it->name, strerror(-rc));
		if (persist_job(v, j) < 0)
			j->dirty = 1; /* jobs_flush tries again: a stored NotStarted would resume */
		return rc;
	}
	rc = pool_submit(WORK_JOB, job_worker, j, NULL);
	if (rc < 0)
		return rc;
	log_debug("job %s queued", j->id);
	if (out)
		*out = j;
	return 0;
}

/* model_lock held: the item's state and error as job j's outcome leaves
 * them (j has ended). */
static void job_outcome_to_item(const struct job_rec *j, struct item_rec *it)
{
	/* A job that stands in for a damaged record knows no state before it
	 * (prev_state IS_NONE): the item then keeps the state it has. */
	enum item_state to = IS_NONE;
	if (j->state == JOB_SUCCEEDED)
		to = j->type->done_state;
	else if (j->state == JOB_CANCELLED)
		to = j->prev_state;
	else if (j->state == JOB_FAILED)
		to = j->type->failed_state != IS_NONE ? j->type->failed_state : j->prev_state;
	if (to != IS_NONE)
		it->state = to;
	if (j->state == JOB_FAILED)
		snprintf(it->error, sizeof(it->error), "%s failed: %.400s", j->type->name, j->error);
	if (j->state == JOB_CANCELLED)
		snprintf(it->error, sizeof(it->error), "%s cancelled", j->type->name);
}

void job_resume_all(void)
{
	job_resume_vault(NULL);
}

/* model_lock held: an item whose job ended while its own record was not
 * saved after it (a crash between the job's last record and the item's)
 * takes the outcome the job's worker would have given it. */
static void settle_ended(struct vault_rec *v)
{
	struct item_rec *it, *next;

	for (it = v->items; it; it = next) {
		struct job_rec *j;
		next = it->next;
		if (it->job || !item_state_in(it->state, IS_TRANSITIONAL_SET))
			continue;
		j = job_find(v, it->job_id);
		if (!j || (j->state != JOB_SUCCEEDED && j->state != JOB_FAILED && j->state != JOB_CANCELLED))
			continue; /* no job to settle from: health says it is stuck */
		logmsg("item %s: job %s had ended %s; the item's state follows it", it->name, j->id,
		       job_state_name(j->state));
		job_settle_item(v, it, j);
	}
}

/* Resume the interrupted jobs of one vault (NULL: every vault), e.g. after
 * this daemon took over a vault whose previous manager died. */
void job_resume_vault(struct vault_rec *only)
{
	lock_model();
	for (struct vault_rec *v = M.vaults; v; v = v->next) {
		if (v->readonly || (only && v != only))
			continue;
		for (struct job_rec *j = v->jobs; j; j = j->next) {
			struct item_rec *it;
			if (j->state != JOB_IN_PROGRESS && j->state != JOB_NOT_STARTED)
				continue; /* ended: settle_ended() below */
			if (j->type->no_item) {
				/* a plan's job: its run finds its plan */
				logmsg("job %s resumes", j->id);
				j->held = 1;
				j->parked_until = now_mono();
				pool_submit(WORK_JOB, job_worker, j, NULL);
				continue;
			}
			it = item_find(v, j->item);
			if (!it) {
				/* An enable whose new item was never saved: nothing was done. */
				j->state = JOB_FAILED;
				j->ended = time(NULL);
				snprintf(j->error, sizeof(j->error), "the item is gone%s",
					 j->type->creates_item ? " (interrupted before it was saved; nothing was changed)"
								: "");
				persist_job(v, j);
				continue;
			}
			if (it->job == j)
				continue; /* its worker still runs (the lease was lost and taken back) */
			if (it->damaged[0]) {
				/* its record did not read: nothing to resume from; the
				 * job stays as it is on the medium until it is repaired */
				logmsg("job %s does not resume: %s", j->id, it->damaged);
				continue;
			}
			if (strcmp(it->job_id, j->id) != 0) {
				/* Submitted, but the item was not saved with its link. */
				item_link_job(it, j);
				persist_item(v, it);
			}
			it->job = j;
			logmsg("job %s resumes from its checkpoint (disk %d, offset %llu, steps done %d)", j->id,
			       j->ck_disk, (unsigned long long)j->ck_offset, j->step);
			/* as from a park: an error it has is a wait for a region
			 * the run now finds back or waits for again */
			j->parked_until = now_mono();
			pool_submit(WORK_JOB, job_worker, j, NULL);
		}
		settle_ended(v);
	}
	unlock_model();
}

/* model_lock held: task row `task` of j goes to state, with its times. */
static void task_set(struct job_rec *j, int task, int state)
{
	struct task_rec *t;

	MODEL_LOCKED();
	if (task < 0 || task >= j->ntasks)
		return;
	t = &j->tasks[task];
	if (state == JOB_IN_PROGRESS && t->state != JOB_IN_PROGRESS) {
		t->started = time(NULL);
		j->rate_t0 = now_mono();
		j->rate_base = j->bytes_compared;
	}
	if (state == JOB_WAITING && !t->started)
		t->started = time(NULL);
	if (state != JOB_IN_PROGRESS && state != JOB_NOT_STARTED && state != JOB_WAITING) {
		if (!t->started)
			t->started = time(NULL);
		t->ended = time(NULL);
	}
	t->state = state;
	j->dirty = 1; /* written by jobs_flush() within a tick */
}

void job_task(struct jobctx *c, int task, int state)
{
	lock_model();
	task_set(c->j, task, state);
	unlock_model();
}

void job_save(struct jobctx *c)
{
	lock_model();
	persist_job(c->v, c->j);
	unlock_model();
}

/* model_lock held: j is to stop (a cancel, an unmount, or the lease lost:
 * its vault read-only). */
static int job_stop_asked(const struct job_rec *j)
{
	return j->cancel || jobs_stopping || j->vault->readonly;
}

int job_cancelled(struct jobctx *c)
{
	int r;
	lock_model();
	r = job_stop_asked(c->j);
	unlock_model();
	return r;
}

int job_shutting_down(struct jobctx *c)
{
	int r;
	lock_model();
	r = (jobs_stopping || c->v->readonly) && !c->j->cancel;
	unlock_model();
	return r;
}

/* The bytes the job has sent so far, as its record keeps them: a resumed
 * job counts on from there rather than from zero.  Its checkpoint is saved
 * with the same record, so the two agree. */
uint64_t job_sent(struct jobctx *c)
{
	uint64_t sent;
	lock_model();
	sent = c->j->bytes_transferred;
	unlock_model();
	return sent;
}

void job_set_total(struct jobctx *c, uint64_t total)
{
	lock_model();
	c->j->bytes_total = total;
	unlock_model();
}

/* model_lock held: compared bytes so far, the rate over the running task,
 * and progress from them. */
static void account_compared(struct job_rec *j, uint64_t compared, double now)
{
	if (j->rate_t0 == 0) {
		j->rate_t0 = now;
		j->rate_base = j->bytes_compared;
	}
	j->bytes_compared = compared;
	if (now > j->rate_t0 + 0.05 && compared >= j->rate_base)
		j->rate = (uint64_t)((double)(compared - j->rate_base) / (now - j->rate_t0));
	if (j->bytes_total)
		j->progress = (int)(compared * 99 / j->bytes_total);
}

int job_delta_progress(void *arg, const struct delta_stats *st)
{
	struct jobprog *p = arg;
	struct job_rec *j = p->c->j;
	double now = now_mono();
	uint64_t compared = (p->base_compared + st->bytes_compared) >> (p->halve ? 1 : 0);
	int stop;

	lock_model();
	account_compared(j, p->offset + compared, now);
	j->bytes_transferred = p->base_transferred + st->bytes_transferred;
	j->ck_offset = st->bytes_compared;
	if (now - j->dirty_at > 2.0) { /* the checkpoint goes out every 2 s */
		j->dirty = 1;
		j->dirty_at = now;
	}
	stop = j->cancel || jobs_stopping;
	unlock_model();
	return stop;
}

void job_count_compared(struct jobctx *c, uint64_t compared)
{
	double now = now_mono();
	lock_model();
	account_compared(c->j, compared, now);
	unlock_model();
}

void job_fail_msg(struct jobctx *c, const char *fmt, ...)
{
	va_list ap;
	lock_model();
	va_start(ap, fmt);
	vsnprintf(c->j->error, sizeof(c->j->error), fmt, ap);
	va_end(ap);
	unlock_model();
}

/* A run that stopped because a region could not be reached (-EHOSTUNREACH)
 * waits for it rather than failing: the job stays InProgress, its error and
 * the item's say what it waits for and when it tries again, the task that
 * failed shows InProgress again, and after the wait (5 s, doubling to 60 s)
 * its steps go again, from the job's checkpoint and steps done as a job
 * resumed after an unmount does (a reprotect that undid its preparation
 * starts its sync over).  The wait holds no worker: the job is parked, and
 * jobs_unpark() queues it again when its time comes, or at once when it is
 * cancelled, the daemon stops or the vault's lease is lost (resume_parked
 * then ends it as a cancel, an unmount or a lost lease ends a run), or
 * when a region comes back (jobs_wake_parked).
 * 1: parked, the worker lets go of it; 0: rc stands. */
static int park_for_region(struct jobctx *c, int rc)
{
	struct job_rec *j = c->j;
	char cause[ERR_MAX];
	struct item_rec *it;
	int secs;

	if (rc != -EHOSTUNREACH) {
		j->region_waits = 0; /* only its own worker, or jobs_wake_parked while parked */
		return 0;
	}
	secs = j->region_waits < 4 ? 5 << j->region_waits : 60;
	lock_model();
	snprintf(cause, sizeof(cause), "%s", j->error[0] ? j->error : "a region is unavailable");
	snprintf(j->error, sizeof(j->error), "waiting for an unavailable region (next try in %d s): %.400s", secs,
		 cause);
	for (int i = 0; i < j->ntasks; i++)
		if (j->tasks[i].state == JOB_FAILED) {
			j->tasks[i].state = JOB_IN_PROGRESS;
			j->tasks[i].ended = 0;
		}
	it = job_item(c->v, j);
	if (it)
		snprintf(it->error, sizeof(it->error), "%s %.480s", j->type->name, j->error);
	j->dirty = 1;
	j->region_waits++;
	j->parked_until = now_mono() + secs;
	j->park_next = parked;
	parked = j;
	log_warn("job %s: %s", j->id, j->error);
	unlock_model();
	return 1;
}

/* A run that returned job_wait()'s -EINPROGRESS waits off the workers (a
 * recovery plan waiting for its items' jobs or an operator's `resume`):
 * parked as for a region, with no error of its own, until the time it gave
 * or job_wake().  1: parked; 0: rc stands. */
static int park_waiting(struct jobctx *c, int rc)
{
	struct job_rec *j = c->j;

	if (rc != -EINPROGRESS)
		return 0;
	lock_model();
	j->dirty = 1;
	j->park_next = parked;
	parked = j;
	unlock_model();
	return 1;
}

int job_wait(struct jobctx *c, double seconds)
{
	lock_model();
	c->j->parked_until = now_mono() + seconds;
	unlock_model();
	return -EINPROGRESS;
}

int job_wait_at(struct jobctx *c, int task, double seconds)
{
	MODEL_LOCKED();
	task_set(c->j, task, JOB_WAITING);
	persist_job(c->v, c->j);
	c->j->parked_until = now_mono() + seconds;
	return -EINPROGRESS;
}

void job_wake(struct job_rec *j)
{
	MODEL_LOCKED();
	if (j->parked_until)
		j->parked_until = now_mono();
}

/* ---- steps ---- */

/* ASRFS_CRASH_AFTER_STEP=<job type slug>:<n>, read at start: the daemon
 * dies (_exit(137), as a kill -9 would leave it) as soon as a job of that
 * type has the record of its nth step written (read at the first step
 * done).  For the crash tests. */
static char crash_slug[64];
static int crash_step = -1;
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;

static void crash_after_step_init(void)
{
	const char *e = getenv("ASRFS_CRASH_AFTER_STEP");
	const char *colon = e ? strrchr(e, ':') : NULL;

	if (!colon || (size_t)(colon - e) >= sizeof(crash_slug))
		return;
	snprintf(crash_slug, sizeof(crash_slug), "%.*s", (int)(colon - e), e);
	crash_step = atoi(colon + 1);
}

static void crash_after_step(const struct job_rec *j)
{
	pthread_once(&crash_once, crash_after_step_init);
	if (j->step == crash_step && strcmp(j->type->slug, crash_slug) == 0) {
		log_warn("job %s: ASRFS_CRASH_AFTER_STEP: exiting after step %d", j->id, j->step);
		_exit(137);
	}
}

/* model_lock held: job j's row for step i of its type, -1 if the job dropped
 * that task (the step does not apply to it).  A task the type does not name
 * is the job's own row of that number (verify's, one a disk), if it has it. */
static int step_task(const struct job_rec *j, int i)
{
	int task = j->type->steps[i].task;
	const char *name = j->type->tasks[task];

	if (!name)
		return task < j->ntasks ? task : -1;
	for (int k = 0; k < j->ntasks; k++)
		if (strcmp(j->tasks[k].name, name) == 0)
			return k;
	return -1;
}

/* Step i is done: its task too if it was the task's last step, and the
 * job's record says so before the next step starts. */
static void step_done(struct jobctx *c, int i, int row)
{
	const struct job_step *s = c->j->type->steps;
	int rc;

	lock_model();
	c->j->step = i + 1;
	c->j->dirty = 1; /* jobs_flush writes it if the record below is not */
	if (row < 0)
		goto out; /* nothing was done: the next record says it */
	if (!s[i + 1].fn || s[i + 1].task != s[i].task)
		task_set(c->j, row, JOB_SUCCEEDED);
	rc = persist_job(c->v, c->j);
	if (rc == 0)
		crash_after_step(c->j);
	else if (rc != -EROFS) /* a crash before jobs_flush runs the step again */
		log_warn("job %s: cannot record step %d: %s", c->j->id, i + 1, strerror(-rc));
out:
	unlock_model();
}

/* Run a job type's steps from the first one its record does not say done.
 * begin runs just before the first step that applies (its task already
 * shown InProgress, so a failure there is that task's), end after the last
 * or the failed one. */
static int run_steps(struct jobctx *c)
{
	const struct job_type *t = c->j->type;
	int rc = 0, first, begun = 0;

	lock_model_read();
	first = c->j->step;
	unlock_model();
	for (int i = first; t->steps[i].fn; i++) {
		char name[sizeof(c->j->tasks[0].name)] = "";
		int row;
		lock_model();
		row = step_task(c->j, i);
		if (row >= 0) {
			task_set(c->j, row, JOB_IN_PROGRESS);
			snprintf(name, sizeof(name), "%s", c->j->tasks[row].name);
		}
		unlock_model();
		if (row >= 0 && !begun) {
			begun = 1;
			rc = t->begin ? t->begin(c, i) : 0;
		}
		if (row >= 0 && rc == 0) {
			logmsg("job %s: step %d starts (%s)", c->j->id, i + 1, name);
			rc = t->steps[i].fn(c);
		}
		if (rc < 0) {
			if (row >= 0 && rc != -ECANCELED && rc != -EINPROGRESS) /* a wait (job_wait) comes back */
				job_task(c, row, JOB_FAILED);
			break;
		}
		step_done(c, i, row);
	}
	if (begun && t->end)
		t->end(c, rc);
	return rc;
}

/* On a worker, before the run of a job that may come back from a park:
 * 1: run it (its wait's error cleared); 0: do not, *rc = -ECANCELED (a
 * cancel, an unmount or a lost lease ended the wait). */
static int resume_parked(struct jobctx *c, int *rc)
{
	struct job_rec *j = c->j;
	struct item_rec *it;
	int stop;

	lock_model();
	if (!j->parked_until) {
		unlock_model();
		return 1;
	}
	j->parked_until = 0;
	stop = job_stop_asked(j);
	if (!stop) {
		j->error[0] = '\0';
		it = job_item(c->v, j);
		if (it)
			it->error[0] = '\0';
	}
	unlock_model();
	if (stop)
		*rc = -ECANCELED;
	return !stop;
}

void jobs_unpark(void)
{
	double now = now_mono();
	struct job_rec **pp = &parked;

	MODEL_LOCKED();
	while (*pp) {
		struct job_rec *j = *pp;
		if ((now < j->parked_until && !job_stop_asked(j)) || pool_submit(WORK_JOB, job_worker, j, NULL) < 0) {
			pp = &j->park_next; /* not yet, or no memory: the next tick */
			continue;
		}
		*pp = j->park_next;
		j->park_next = NULL;
	}
}

/* The parked jobs do not know which region they wait for: each tries
 * again, and one whose region is still down parks again.  A wait cut short
 * does not count toward the doubling: the next is as long as it was. */
void jobs_wake_parked(void)
{
	double now = now_mono();

	MODEL_LOCKED();
	for (struct job_rec *j = parked; j; j = j->park_next)
		if (j->parked_until > now) {
			j->parked_until = now;
			if (j->region_waits > 0)
				j->region_waits--;
		}
	jobs_unpark();
}

static void job_worker(void *arg)
{
	struct job_rec *j = arg;
	struct jobctx c = {.v = j->vault, .j = j};
	struct item_rec *it;
	int rc, gone;

	lock_model();
	snprintf(c.item, sizeof(c.item), "%s", j->item);
	j->state = JOB_IN_PROGRESS;
	j->rate_t0 = 0;
	j->dirty = 1;
	unlock_model();

	if (resume_parked(&c, &rc))
		rc = run_steps(&c);
	if (park_for_region(&c, rc) || park_waiting(&c, rc))
		return; /* jobs_unpark() queues it again */

	lock_model();
	it = job_item(c.v, j);
	if (rc == -ECANCELED && !j->cancel && !jobs_stopping && !c.v->readonly && it && it->job == j) {
		/* Stopped by a fence (nothing else cancels without j->cancel)
		 * but the vault was taken back meanwhile: job_resume_vault left
		 * this job to its running worker, so go on from the checkpoint. */
		logmsg("job %s resumes from its checkpoint after the vault's lease was taken back", j->id);
		unlock_model();
		if (pool_submit(WORK_JOB, job_worker, j, NULL) == 0)
			return;
		lock_model();
		it = job_item(c.v, j);
	}
	if (rc == -ECANCELED && !j->cancel) {
		/* Shut-down, or the vault's lease lost: stay InProgress with the
		 * checkpoint; resumed at start or by the next manager (a read-only
		 * vault's records are not written: persist_job refuses). */
		persist_job(c.v, j);
		if (it)
			it->job = NULL;
		j->held = 0;
		unlock_model();
		return;
	}
	/* A task still running (or waiting) is closed with the job's outcome. */
	for (int i = 0; i < j->ntasks; i++) {
		struct task_rec *t = &j->tasks[i];
		if (t->state == JOB_IN_PROGRESS || t->state == JOB_WAITING) {
			t->state = rc == 0 ? JOB_SUCCEEDED : (rc == -ECANCELED ? JOB_CANCELLED : JOB_FAILED);
			t->ended = time(NULL);
		}
	}
	j->ended = time(NULL);
	if (rc == 0) {
		j->state = JOB_SUCCEEDED;
		j->progress = 100;
	} else if (rc == -ECANCELED) {
		j->state = JOB_CANCELLED;
		snprintf(j->error, sizeof(j->error), "cancelled by the operator");
	} else {
		j->state = JOB_FAILED;
		if (!j->error[0])
			snprintf(j->error, sizeof(j->error), "%s", strerror(-rc));
	}
	log_at(j->state == JOB_FAILED ? LVL_WARN : LVL_INFO, "job %s %s%s%s", j->id, job_state_name(j->state),
	       j->error[0] ? ": " : "", j->error);
	/* Readers see the job's end and all of the item's outcome together
	 * (the record writes below drop model_lock, never the writer lock):
	 * its state, no running job, gone when the job removes it.  The job's
	 * end is saved before the item's: a crash between the two leaves an
	 * item that job_resume_vault settles from the job. */
	gone = it ? job_item_outcome(c.v, it, j) : 0;
	persist_job(c.v, j);
	j->held = 0;
	if (it)
		job_item_records(c.v, it, gone);
	unlock_model();
}

/* model_lock held: item it as readers see it once its job j has ended:
 * no job running, its state and error, and out of the vault's list when
 * the job removes it (a disable; a cancelled enable, which has removed
 * what it made: drop_item; a cancel that could not ends Failed).
 * 1: taken out of the list; job_item_records() then frees it. */
static int job_item_outcome(struct vault_rec *v, struct item_rec *it, const struct job_rec *j)
{
	struct item_rec **pp;

	it->job = NULL;
	job_outcome_to_item(j, it);
	if (!(j->state == JOB_SUCCEEDED && j->type->removes_item) &&
	    !(j->state == JOB_CANCELLED && (j->drop_item || j->type->creates_item)))
		return 0;
	for (pp = &v->items; *pp && *pp != it; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = it->next;
	vault_lists_changed(v);
	return 1;
}

/* model_lock held: item it's records after job_item_outcome(): saved, or
 * (gone) removed, and the item freed. */
static void job_item_records(struct vault_rec *v, struct item_rec *it, int gone)
{
	if (gone) {
		unpersist_item(v, it);
		item_close_chain(it); /* the graveyard is model_lock's */
		sched_remove(it);
		cycle_state_free(it->cs); /* the job held the item: no cycle uses it */
		free(it);
		return;
	}
	persist_item(v, it);
	sched_item(v, it); /* it may cycle again */
}

/* model_lock held: the item after its job j ended, found so after a crash. */
static void job_settle_item(struct vault_rec *v, struct item_rec *it, struct job_rec *j)
{
	job_item_records(v, it, job_item_outcome(v, it, j));
}
