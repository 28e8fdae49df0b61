/*
 * lock.h - the model's two locks and the rule that ties them.
 *
 * model_lock guards every field of core's in-memory model (model.h).  It is
 * held for short, bounded work only: look up, copy, change, build a record.
 * Readers of the tree (a `cat` of a status file, `ls`) take it alone
 * (lock_model_read), so nothing they wait for can be a network request.
 *
 * Everything that changes the model (controls, jobs, cycles, the
 * scheduler) takes the writer lock first and model_lock under it
 * (lock_model).  The writer lock orders the changes: while a change's
 * records go to its vault's region, model_lock is dropped (readers go on
 * and may see the change before it is durable), but no other change can
 * start, so the records reach each region in the order the changes were
 * made, no pointer a writer holds is freed under it, and a refused write
 * is rolled back before anyone else can build on it.  See records_write()
 * in model.c.
 *
 * Lock order: writer lock, then model_lock, then the leaves (a tracker's
 * lock, the pool's).  sync/'s rpchain locks are never taken under either.
 * Debug builds (-DASRFS_LOCK_DEBUG, on with SANITIZE) check the rule where a
 * function claims it: MODEL_LOCKED() aborts when model_lock is not held by
 * the calling thread.
 */
#ifndef ASRFS_LOCK_H
#define ASRFS_LOCK_H

/* Take the writer lock and model_lock (a change may follow). */
void lock_model(void);
/* Take model_lock only: the caller reads and changes nothing durable. */
void lock_model_read(void);
/* Release what lock_model or lock_model_read took. */
void unlock_model(void);

/* 1 when the calling thread holds model_lock / the writer lock. */
int model_locked(void);
int model_writer(void);

/* Around a backend request (a record write, read or delete) made where
 * model_lock is held: a writer drops model_lock for it (the writer lock
 * stays held, so no other change starts and every pointer the caller holds
 * stays valid) and takes it back after; anyone else keeps it.  The caller
 * may not rely on what readers see meanwhile, only on what writers do. */
void model_io_begin(void);
void model_io_end(void);

#ifdef ASRFS_LOCK_DEBUG
void model_lock_violation(const char *func, const char *rule);
/* The caller holds model_lock (writers pause it only inside model_io_*). */
#define MODEL_LOCKED()                                                         \
	do {                                                                   \
		if (!model_locked())                                           \
			model_lock_violation(__func__, "model_lock is not held"); \
	} while (0)
/* A record write under model_lock comes from a writer (lock_model). */
#define MODEL_WRITER()                                                         \
	do {                                                                   \
		if (model_locked() && !model_writer())                         \
			model_lock_violation(__func__, "a reader writes a record"); \
	} while (0)
#else
#define MODEL_LOCKED() ((void)0)
#define MODEL_WRITER() ((void)0)
#endif

#endif
