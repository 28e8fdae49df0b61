/*
 * recio.h - backend record calls made from under model_lock.
 *
 * Core writes its records (vault.json, item.json, jobs, inventory,
 * protection records) where it holds model_lock, so a change and its
 * record stay one step for every other writer.  These wrappers make each
 * such call with model_lock dropped when the caller is a writer (lock.h):
 * a region whose endpoint hangs then stalls only the writers, never a
 * reader of the tree.  Outside model_lock they are the plain calls.
 */
#ifndef ASRFS_RECIO_H
#define ASRFS_RECIO_H

#include "../backend/backend.h"
#include "lock.h"

static inline int mio_rec_get(struct backend *be, const char *k, char **d, size_t *l, char e[BACKEND_ETAG_MAX])
{
	model_io_begin();
	int rc = be->ops->rec_get(be, k, d, l, e);
	model_io_end();
	return rc;
}

static inline int mio_rec_put(struct backend *be, const char *k, const void *d, size_t l, const char *m,
			      char e[BACKEND_ETAG_MAX])
{
	MODEL_WRITER();
	model_io_begin();
	int rc = be->ops->rec_put(be, k, d, l, m, e);
	model_io_end();
	return rc;
}

static inline int mio_rec_del(struct backend *be, const char *k)
{
	MODEL_WRITER();
	model_io_begin();
	int rc = be->ops->rec_del(be, k);
	model_io_end();
	return rc;
}

static inline int mio_remove_tree(struct backend *be, const char *p)
{
	MODEL_WRITER();
	model_io_begin();
	int rc = be->ops->remove_tree(be, p);
	model_io_end();
	return rc;
}

#endif
