/*
 * backend.c - the table of backend kinds, opening a region by kind, keeping
 * a damaged record aside (the same for every kind), the key check every
 * kind shares, and the crash points the reliability tests use.
 *
 * Crash points.  The crash harness (tests/crash/) must kill the daemon right
 * after (or right before) its Nth durable write, for every N of an
 * operation.  Rather than sprinkle counters through every backend, opening
 * a region with ASRFS_CRASH_AFTER or ASRFS_CRASH_BEFORE in the environment
 * points the region's `ops` at a copy of its kind's table whose durable
 * operations (records put and deleted, disks created, deleted and renamed,
 * trees removed, snapshots taken, deleted and copied back) go through a
 * counter first.  Disk data writes are not counted: they become durable
 * only with the record that names them.
 *
 *   ASRFS_CRASH_AFTER=N    SIGKILL as soon as the Nth counted write returns 0
 *   ASRFS_CRASH_BEFORE=N   SIGKILL just before the Nth counted write starts
 *   ASRFS_CRASH_ARM=PATH   count only while PATH exists (the harness creates
 *                          it just before the control write it studies)
 *   ASRFS_CRASH_TRACE=PATH append "<n> <op> <key>" for every counted write,
 *                          so a harness learns how many writes an operation
 *                          makes and which they are
 *
 * The counter spans every region of the daemon, so N orders the daemon's
 * writes as they reached their media.  With none of these set, regions use
 * their kind's table as it is and nothing here costs anything.
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct backend_ops *const kinds[] = {
	&local_backend_ops,
	&azblob_backend_ops,
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct backend_ops *backend_find(const char *kind)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (kind && strcmp(kinds[i]->kind, kind) == 0)
			return kinds[i];
	return NULL;
}

/* A key as every backend takes it: relative, no empty, "." or ".."
 * components and no hidden names ('.' first: markers, temporaries, azblob's
 * physical disk blobs); "" is the root, for list(). */
int backend_key_ok(const char *key)
{
	const char *p = key;
	if (!key || strlen(key) >= BACKEND_KEY_MAX)
		return 0;
	if (*key == '\0')
		return 1;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || p[0] == '.')
			return 0;
		if (!e)
			return 1;
		p = e + 1;
	}
}

/* For the backends: how much of [off, off + len) lies on a disk of size
 * bytes (0 when none of it does). */
uint64_t backend_clip(uint64_t size, uint64_t off, uint64_t len)
{
	if (off >= size)
		return 0;
	return len > size - off ? size - off : len;
}

/* ---- crash points ---------------------------------------------------- */

static struct {
	long after, before;   /* 0: off */
	const char *arm;      /* NULL: always counting */
	int trace_fd;         /* -1: no trace */
	long count;           /* atomic */
	struct backend_ops wrapped[NKINDS];
} crash = { .trace_fd = -1 };
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;

static long env_long(const char *name)
{
	const char *s = getenv(name);
	return s && *s ? strtol(s, NULL, 10) : 0;
}

/* The kind's own table behind a wrapped backend. */
static const struct backend_ops *real_ops(const struct backend_ops *wrapped)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (wrapped == &crash.wrapped[i])
			return kinds[i];
	return wrapped;
}

/* Count one durable write about to start; kill before it when asked.
 * Returns its number, or 0 when the counter is not armed. */
static long crash_enter(const char *op, const char *key)
{
	if (crash.arm && access(crash.arm, F_OK) != 0)
		return 0;
	long n = __atomic_add_fetch(&crash.count, 1, __ATOMIC_SEQ_CST);
	if (crash.trace_fd >= 0) {
		char line[BACKEND_KEY_MAX + 64];
		int len = snprintf(line, sizeof(line), "%ld %s %s\n", n, op, key ? key : "-");
		if (len > 0 && write(crash.trace_fd, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1) < 0)
			crash.trace_fd = -1;
	}
	if (crash.before && n == crash.before)
		raise(SIGKILL);
	return n;
}

static int crash_leave(long n, int rc)
{
	if (rc == 0 && crash.after && n == crash.after)
		raise(SIGKILL);
	return rc;
}

static int w_rec_put(struct backend *be, const char *key, const void *data, size_t len, const char *if_match,
		     char etag[BACKEND_ETAG_MAX])
{
	long n = crash_enter("rec_put", key);
	return crash_leave(n, real_ops(be->ops)->rec_put(be, key, data, len, if_match, etag));
}

static int w_rec_del(struct backend *be, const char *key)
{
	long n = crash_enter("rec_del", key);
	return crash_leave(n, real_ops(be->ops)->rec_del(be, key));
}

static int w_remove_tree(struct backend *be, const char *prefix)
{
	long n = crash_enter("remove_tree", prefix);
	return crash_leave(n, real_ops(be->ops)->remove_tree(be, prefix));
}

static int w_disk_create(struct backend *be, const char *key, uint64_t size)
{
	long n = crash_enter("disk_create", key);
	return crash_leave(n, real_ops(be->ops)->disk_create(be, key, size));
}

static int w_disk_delete(struct backend *be, const char *key)
{
	long n = crash_enter("disk_delete", key);
	return crash_leave(n, real_ops(be->ops)->disk_delete(be, key));
}

static int w_disk_rename(struct backend *be, const char *from, const char *to)
{
	long n = crash_enter("disk_rename", to);
	return crash_leave(n, real_ops(be->ops)->disk_rename(be, from, to));
}

static int w_disk_snapshot(struct backend *be, const char *key, char snap[BACKEND_SNAP_MAX])
{
	long n = crash_enter("disk_snapshot", key);
	return crash_leave(n, real_ops(be->ops)->disk_snapshot(be, key, snap));
}

static int w_disk_snapshot_delete(struct backend *be, const char *key, const char *snap)
{
	long n = crash_enter("disk_snapshot_delete", key);
	return crash_leave(n, real_ops(be->ops)->disk_snapshot_delete(be, key, snap));
}

static int w_disk_copy_snapshot(struct bdisk *dst, struct backend *be, const char *key, const char *snap)
{
	long n = crash_enter("disk_copy_snapshot", key);
	return crash_leave(n, real_ops(be->ops)->disk_copy_snapshot(dst, be, key, snap));
}

static void crash_init(void)
{
	crash.after = env_long("ASRFS_CRASH_AFTER");
	crash.before = env_long("ASRFS_CRASH_BEFORE");
	crash.arm = getenv("ASRFS_CRASH_ARM");
	const char *trace = getenv("ASRFS_CRASH_TRACE");
	if (trace && *trace)
		crash.trace_fd = open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	for (size_t i = 0; i < NKINDS; i++) {
		struct backend_ops *w = &crash.wrapped[i];
		*w = *kinds[i];
		w->rec_put = w_rec_put;
		w->rec_del = w_rec_del;
		w->remove_tree = w_remove_tree;
		w->disk_create = w_disk_create;
		w->disk_delete = w_disk_delete;
		w->disk_rename = w_disk_rename;
		if (kinds[i]->disk_snapshot) {
			w->disk_snapshot = w_disk_snapshot;
			w->disk_snapshot_delete = w_disk_snapshot_delete;
			w->disk_copy_snapshot = w_disk_copy_snapshot;
		}
	}
}

static int crash_wanted(void)
{
	return getenv("ASRFS_CRASH_AFTER") || getenv("ASRFS_CRASH_BEFORE") || getenv("ASRFS_CRASH_TRACE");
}

int backend_open(const struct backend_conf *conf, struct backend **out)
{
	const struct backend_ops *ops = backend_find(conf->kind);
	if (!ops)
		return -EINVAL;
	int rc = ops->open(conf, out);
	if (rc == 0 && crash_wanted()) {
		pthread_once(&crash_once, crash_init);
		for (size_t i = 0; i < NKINDS; i++)
			if (ops == kinds[i])
				(*out)->ops = &crash.wrapped[i];
	}
	return rc;
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
