/*
 * test_core_pool.c - unit tests of the worker pool's calls (core/jobs.c,
 * pool_call_start / pool_call_wait): a call runs on a pool thread while its
 * caller goes on; one dropped unrun by jobs_stop, or started once the pool
 * has stopped, runs in its waiter instead, so no waiter hangs; many calls
 * from many threads each run exactly once, also while the pool stops under
 * them.
 */
#include "../../core/jobs.h"
#include "../../core/model.h"
#include "t.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* What a call saw: the thread it ran on and how often it ran. */
struct seen {
	pthread_t tid;
	atomic_int ran;
};

static void note_thread(void *arg)
{
	struct seen *s = arg;
	s->tid = pthread_self();
	atomic_fetch_add(&s->ran, 1);
}

static void test_runs_on_a_pool_thread(void)
{
	struct seen s = {0};
	struct pool_call pc;

	T_EQ_INT(jobs_start(2), 0);
	pool_call_start(&pc, note_thread, &s);
	pool_call_wait(&pc);
	jobs_stop();
	T_EQ_INT(atomic_load(&s.ran), 1);
	T_ASSERT(!pthread_equal(s.tid, pthread_self()));
}

/* A call that holds its IO thread until the test lets it go. */
struct held {
	struct seen s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int started, go;
};

static void hold_thread(void *arg)
{
	struct held *h = arg;

	pthread_mutex_lock(&h->lock);
	h->started = 1;
	pthread_cond_broadcast(&h->cond);
	while (!h->go)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	note_thread(&h->s);
}

static void *stopper(void *arg)
{
	(void)arg;
	jobs_stop();
	return NULL;
}

static void test_dropped_at_stop_runs_in_its_waiter(void)
{
	struct held h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct seen queued = {0}, late = {0};
	struct pool_call a, b, c;
	pthread_t stop;

	/* One IO thread, busy with a: b waits in the queue behind it. */
	T_EQ_INT(jobs_start(1), 0);
	pool_call_start(&a, hold_thread, &h);
	pthread_mutex_lock(&h.lock);
	while (!h.started)
		pthread_cond_wait(&h.cond, &h.lock);
	pthread_mutex_unlock(&h.lock);
	pool_call_start(&b, note_thread, &queued);
	T_EQ_INT(pthread_create(&stop, NULL, stopper, NULL), 0);
	/* The stop drops b unrun; it cannot finish until a does, and a only
	 * goes once b's wait returned: b must run here, in its waiter. */
	pool_call_wait(&b);
	T_EQ_INT(atomic_load(&queued.ran), 1);
	T_ASSERT(pthread_equal(queued.tid, pthread_self()));
	pthread_mutex_lock(&h.lock);
	h.go = 1;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.lock);
	pool_call_wait(&a);
	T_EQ_INT(pthread_join(stop, NULL), 0);
	T_EQ_INT(atomic_load(&h.s.ran), 1);
	T_ASSERT(!pthread_equal(h.s.tid, pthread_self()));

	/* The pool stopped: a call started now runs in its waiter too. */
	pool_call_start(&c, note_thread, &late);
	T_EQ_INT(atomic_load(&late.ran), 0); /* not before the wait */
	pool_call_wait(&c);
	T_EQ_INT(atomic_load(&late.ran), 1);
	T_ASSERT(pthread_equal(late.tid, pthread_self()));
}

/* Many threads each keep a batch of calls in flight, then wait for them. */
#define CALLERS 8
#define ROUNDS 60
#define BATCH 16

struct caller {
	struct seen seen[ROUNDS * BATCH];
};

static struct caller callers[CALLERS];
static atomic_int total_ran;

static void count_call(void *arg)
{
	struct seen *s = arg;
	atomic_fetch_add(&s->ran, 1);
	atomic_fetch_add(&total_ran, 1);
}

static void *caller_main(void *arg)
{
	struct caller *c = arg;
	struct pool_call pc[BATCH];

	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < BATCH; i++)
			pool_call_start(&pc[i], count_call, &c->seen[r * BATCH + i]);
		for (int i = 0; i < BATCH; i++)
			pool_call_wait(&pc[i]);
	}
	return NULL;
}

/* Run CALLERS threads of calls; with stop, the pool stops while they run.
 * Every call ran once. */
static void run_callers(int stop)
{
	pthread_t t[CALLERS];

	memset(callers, 0, sizeof(callers));
	atomic_store(&total_ran, 0);
	T_EQ_INT(jobs_start(3), 0);
	for (int k = 0; k < CALLERS; k++)
		T_EQ_INT(pthread_create(&t[k], NULL, caller_main, &callers[k]), 0);
	if (stop) {
		while (atomic_load(&total_ran) < CALLERS * ROUNDS * BATCH / 4)
			sched_yield();
		jobs_stop();
	}
	for (int k = 0; k < CALLERS; k++)
		T_EQ_INT(pthread_join(t[k], NULL), 0);
	if (!stop)
		jobs_stop();
	T_EQ_INT(atomic_load(&total_ran), CALLERS * ROUNDS * BATCH);
	for (int k = 0; k < CALLERS; k++)
		for (int i = 0; i < ROUNDS * BATCH; i++)
			T_EQ_INT(atomic_load(&callers[k].seen[i].ran), 1);
}

static void test_many_concurrent_calls_complete(void)
{
	run_callers(0);
}

static void test_calls_complete_across_a_stop(void)
{
	run_callers(1);
}

int main(void)
{
	T_RUN(test_runs_on_a_pool_thread);
	T_RUN(test_dropped_at_stop_runs_in_its_waiter);
	T_RUN(test_many_concurrent_calls_complete);
	T_RUN(test_calls_complete_across_a_stop);
	T_DONE();
}
