/*
 * azblob.c - PLACEHOLDER: the Azure Blob backend is being written; until
 * then opening an azblob region fails with ENOSYS.
 */
#include "backend.h"

#include <errno.h>

static int azblob_open(const struct backend_conf *conf, struct backend **out)
{
	(void)conf;
	(void)out;
	return -ENOSYS;
}

const struct backend_ops azblob_backend_ops = {
	.kind = "azblob",
	.open = azblob_open,
};
