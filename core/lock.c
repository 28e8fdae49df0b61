/*
 * lock.c - model_lock and the writer lock (the rule is in lock.h).
 *
 * Each thread remembers what it holds in thread-local flags, so
 * unlock_model() knows what to release, records_write() knows whether it
 * may drop model_lock around a write, and debug builds can check a
 * function's "model_lock held" claim.
 */
#include "lock.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t model_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t writer_mutex = PTHREAD_MUTEX_INITIALIZER;
static __thread int held_model, held_writer;

void lock_model(void)
{
	pthread_mutex_lock(&writer_mutex);
	held_writer = 1;
	pthread_mutex_lock(&model_mutex);
	held_model = 1;
}

void lock_model_read(void)
{
	pthread_mutex_lock(&model_mutex);
	held_model = 1;
}

void unlock_model(void)
{
	held_model = 0;
	pthread_mutex_unlock(&model_mutex);
	if (held_writer) {
		held_writer = 0;
		pthread_mutex_unlock(&writer_mutex);
	}
}

int model_locked(void)
{
	return held_model;
}

int model_writer(void)
{
	return held_writer;
}

/* io_paused: model_io_begin dropped model_lock (so model_io_end retakes it). */
static __thread int io_paused;

void model_io_begin(void)
{
	if (!held_writer || !held_model)
		return;
	io_paused = 1;
	held_model = 0;
	pthread_mutex_unlock(&model_mutex);
}

void model_io_end(void)
{
	if (!io_paused)
		return;
	io_paused = 0;
	pthread_mutex_lock(&model_mutex);
	held_model = 1;
}

#ifdef ASRFS_LOCK_DEBUG
void model_lock_violation(const char *func, const char *rule)
{
	log_error("lock rule broken in %s: %s", func, rule);
	abort();
}
#endif
