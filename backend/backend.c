/*
 * backend.c - the table of backend kinds, opening a region by kind, and
 * keeping a damaged record aside (the same for every kind).
 */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- damaged records ---- */

struct same_copy {
	struct backend *be;
	const char *dir;      /* prefix of the record's parent, "" at the root */
	const char *stem;     /* "<base>.damaged-" */
	const char *data;
	size_t len;
	char *found;
	size_t foundlen;
};

/* list() callback: an earlier copy of the same bytes makes a new one useless. */
static int same_copy_cb(void *arg, const char *name, int is_dir)
{
	struct same_copy *s = arg;
	char key[1024], *data = NULL;
	size_t len = 0;
	int same;

	if (is_dir || strncmp(name, s->stem, strlen(s->stem)) != 0)
		return 0;
	snprintf(key, sizeof(key), "%s%s%s", s->dir, *s->dir ? "/" : "", name);
	if (be_rec_get(s->be, key, &data, &len, NULL) < 0)
		return 0;
	same = len == s->len && memcmp(data, s->data, len) == 0;
	free(data);
	if (same)
		snprintf(s->found, s->foundlen, "%s", key);
	return same;
}

int backend_keep_damaged(struct backend *be, const char *key, int move, char *aside, size_t asidelen)
{
	char dir[1024], stem[300], copy[1024], when[32];
	const char *slash = strrchr(key, '/'), *base = slash ? slash + 1 : key;
	struct same_copy s = {.be = be, .dir = dir, .stem = stem, .found = aside, .foundlen = asidelen};
	char *data = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if (asidelen)
		aside[0] = '\0';
	rc = be_rec_get(be, key, &data, &len, NULL);
	if (rc < 0)
		return rc;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - key) : 0, key);
	snprintf(stem, sizeof(stem), "%s.damaged-", base);
	s.data = data;
	s.len = len;
	be_list(be, dir, same_copy_cb, &s);
	if (!aside[0]) {
		gmtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(copy, sizeof(copy), "%s.damaged-%s", key, when);
		/* "" as the etag to match: create it, never overwrite a copy */
		for (int i = 1; (rc = be_rec_put(be, copy, data, len, "", NULL)) == -EEXIST && i < 100; i++)
			snprintf(copy, sizeof(copy), "%s.damaged-%s.%d", key, when, i);
		if (rc < 0)
			goto out;
		snprintf(aside, asidelen, "%s", copy);
	}
	rc = move ? be_rec_del(be, key) : 0;
out:
	free(data);
	return rc;
}
