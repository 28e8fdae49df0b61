/*
 * jobs.h - the worker pool and the life of a job (core/jobs.c): submit,
 * tasks, progress, cancel, resume after a restart.
 */
#ifndef ASRFS_JOBS_H
#define ASRFS_JOBS_H

#include "model.h"

struct jobctx {
	struct vault_rec *v;
	struct job_rec *j;
	char item[NAME_MAX_];
	void *data; /* the type's state across its steps (begin/end) */
};
/* Create, persist and queue a job on item (model_lock held), with the
 * tasks given (NULL-terminated; NULL: its type's).  Its first record holds
 * them all: a job resumed after a crash never runs one not asked for. */
int job_submit(struct vault_rec *v, struct item_rec *it, const struct job_type *t, const char *args,
	       const char *const *tasks, struct job_rec **out);
/* A recovery plan's job (a no_item type) on plan, with its own tasks
 * (NULL-terminated): created, persisted and queued (model_lock held). */
int job_submit_plan(struct vault_rec *v, const char *plan, const struct job_type *t, const char *args,
		    const char *const *tasks, struct job_rec **out);
/* A run that must wait returns job_wait(c, seconds): the job parks, holding
 * no worker, and runs again after seconds, at job_wake(j) (model_lock
 * held), or at once to stop (cancel, unmount). */
int job_wait(struct jobctx *c, double seconds);
/* The same for a wait the job's own record must show (model_lock held,
 * kept across the record's write): task row `task` Waiting and the record
 * written in one writer's turn with the wait, so a job_wake() can come
 * only before it all (the caller sees why not to wait) or after. */
int job_wait_at(struct jobctx *c, int task, double seconds);
void job_wake(struct job_rec *j);
void job_task(struct jobctx *c, int task, int state);     /* takes model_lock */
void job_save(struct jobctx *c);                            /* takes model_lock: write its record now */
int job_cancelled(struct jobctx *c);                       /* takes model_lock */
/* Stopping for an unmount, not a cancel: leave the work in place, the job
 * resumes from its checkpoint at the next start (takes model_lock). */
int job_shutting_down(struct jobctx *c);
void job_set_total(struct jobctx *c, uint64_t total);
uint64_t job_sent(struct jobctx *c);                         /* takes model_lock */
int job_delta_progress(void *arg, const struct delta_stats *st); /* arg = struct jobprog */
struct jobprog {
	struct jobctx *c;
	uint64_t base_compared, base_transferred; /* from earlier disks */
	/* A job that compares in two passes (reprotect) counts each pass's
	 * bytes as halves: bytes_compared = offset + (base + engine) / 2. */
	uint64_t offset;
	int halve;
};
/* Count compared bytes outside the engine (a hashing pass); no checkpoint. */
void job_count_compared(struct jobctx *c, uint64_t compared);
void job_fail_msg(struct jobctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int jobs_start(int nworkers);
void jobs_stop(void);
int jobs_stopping_now(void); /* an unmount is under way (a hint, no lock) */
/* The worker pool has a queue per kind of work, each with its own threads
 * (`workers` of them each): jobs (and other work that may wait on a
 * region, such as a lease release), replication cycles (and the reading
 * of points that schedules the first ones), so waiting jobs never hold up
 * cycles, and short I/O a job hands off and waits for (pool_call), which
 * never waits on a job or a region's backoff itself.  The queues stop in
 * this order, so a job still running at shut-down can hand off I/O. */
enum work_kind { WORK_JOB, WORK_CYCLE, WORK_IO, WORK_KINDS };
/* Queue a plain function on the kind's queue.  drop, if not NULL, frees arg
 * should the work be dropped unrun at shut-down.  The IO queue refuses work
 * (-ESHUTDOWN) while no thread of its runs (before the start, after the
 * stop). */
int pool_submit(enum work_kind kind, void (*fn)(void *), void *arg, void (*drop)(void *));
/* A call run on the IO queue while its caller goes on, then waited for:
 *	struct pool_call pc;
 *	pool_call_start(&pc, save, arg);  ... other work ...  pool_call_wait(&pc);
 * fn(arg) runs exactly once, before pool_call_wait returns: on an IO
 * thread, or in pool_call_wait itself when it could not be queued (no
 * memory, the pool stopped) or was dropped unrun at shut-down, so a waiter
 * never hangs.  fn must not wait on a job or take a lock its waiter holds;
 * the waiter holds neither of the model's locks in pool_call_wait (debug
 * builds check).  pc stays the caller's, untouched by the pool once
 * pool_call_wait returned. */
struct pool_call {
	void (*fn)(void *);
	void *arg;
	int state; /* jobs.c's: queued, done, or to be run by the waiter */
};
void pool_call_start(struct pool_call *pc, void (*fn)(void *), void *arg);
void pool_call_wait(struct pool_call *pc);
/* Queue again the jobs parked for a region whose wait is over or that are
 * to stop (model_lock held; the scheduler's tick). */
void jobs_unpark(void);
/* A region came back: every parked job tries again now, not at the end of
 * its wait (model_lock held; the probe). */
void jobs_wake_parked(void);
void job_resume_all(void);
void job_resume_vault(struct vault_rec *v); /* model_lock NOT held; NULL: all */

#endif
