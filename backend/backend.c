/*
 * backend.c - the table of backend kinds, and opening a region by kind.
 */
#include "backend.h"

#include <errno.h>
#include <string.h>

static const struct backend_ops *const kinds[] = {
	&local_backend_ops,
	&azblob_backend_ops,
};

const struct backend_ops *backend_find(const char *kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kind && strcmp(kinds[i]->kind, kind) == 0)
			return kinds[i];
	return NULL;
}

int backend_open(const struct backend_conf *conf, struct backend **out)
{
	const struct backend_ops *ops = backend_find(conf->kind);
	if (!ops)
		return -EINVAL;
	return ops->open(conf, out);
}
