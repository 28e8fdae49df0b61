/*
 * membe.c - the fuzz targets' in-memory backend (see membe.h).
 */
#define _GNU_SOURCE
#include "membe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ment {
	char *key;
	unsigned char *data;
	size_t len;
	uint64_t size; /* disks: reported size */
	int is_disk;
	struct ment *next;
};

struct membe {
	struct backend be; /* first: the ops pointer */
	struct ment *ents;
};

struct memdisk {
	struct bdisk bd;
	const struct ment *e;
};

static struct membe *MB(struct backend *be) { return (struct membe *)be; }
static struct memdisk *MD(struct bdisk *d) { return (struct memdisk *)d; }

static const struct ment *find(struct backend *be, const char *key, int is_disk)
{
	for (const struct ment *e = MB(be)->ents; e; e = e->next)
		if (e->is_disk == is_disk && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int add(struct backend *be, const char *key, const void *data, size_t len, uint64_t size, int is_disk)
{
	struct ment *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->key = strdup(key);
	e->data = malloc(len ? len : 1);
	if (!e->key || !e->data) {
		free(e->key);
		free(e->data);
		free(e);
		return -ENOMEM;
	}
	if (len)
		memcpy(e->data, data, len);
	e->len = len;
	e->size = size;
	e->is_disk = is_disk;
	e->next = MB(be)->ents;
	MB(be)->ents = e;
	return 0;
}

int membe_rec(struct backend *be, const char *key, const void *data, size_t len)
{
	return add(be, key, data, len, len, 0);
}

int membe_disk(struct backend *be, const char *key, const void *data, size_t len, uint64_t size)
{
	return add(be, key, data, len < size ? len : (size_t)size, size, 1);
}

void membe_free(struct backend *be)
{
	struct ment *e, *n;
	if (!be)
		return;
	for (e = MB(be)->ents; e; e = n) {
		n = e->next;
		free(e->key);
		free(e->data);
		free(e);
	}
	free(be);
}

static int m_rec_get(struct backend *be, const char *key, char **data, size_t *len, char etag[BACKEND_ETAG_MAX])
{
	const struct ment *e = find(be, key, 0);
	char *p;
	if (!e)
		return -ENOENT;
	p = malloc(e->len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, e->data, e->len);
	p[e->len] = '\0';
	*data = p;
	if (len)
		*len = e->len;
	if (etag)
		strcpy(etag, "\"1\"");
	return 0;
}

/* One call per distinct immediate child of prefix, as local's readdir. */
static int m_list(struct backend *be, const char *prefix, backend_list_cb cb, void *arg)
{
	size_t pl = strlen(prefix);
	int found = 0;
	for (const struct ment *e = MB(be)->ents; e; e = e->next) {
		const char *rest = e->key, *slash;
		char name[256];
		size_t n;
		int seen = 0;
		if (pl) {
			if (strncmp(e->key, prefix, pl) != 0 || e->key[pl] != '/')
				continue;
			rest = e->key + pl + 1;
		}
		slash = strchr(rest, '/');
		n = slash ? (size_t)(slash - rest) : strlen(rest);
		if (n == 0 || n >= 256)
			continue;
		/* report a child once: only at its first key in the table */
		for (const struct ment *f = MB(be)->ents; f != e && !seen; f = f->next) {
			const char *r2 = f->key;
			if (pl) {
				if (strncmp(f->key, prefix, pl) != 0 || f->key[pl] != '/')
					continue;
				r2 = f->key + pl + 1;
			}
			seen = strncmp(r2, rest, n) == 0 && (r2[n] == '/' || r2[n] == '\0');
		}
		if (seen)
			continue;
		found = 1;
		memcpy(name, rest, n);
		name[n] = '\0';
		if (cb(arg, name, slash != NULL))
			break;
	}
	return found ? 0 : -ENOENT;
}

static int m_disk_open(struct backend *be, const char *key, int flags, struct bdisk **out)
{
	const struct ment *e = find(be, key, 1);
	struct memdisk *d;
	(void)flags;
	if (!e)
		return -ENOENT;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->bd.ops = be->ops;
	d->e = e;
	*out = &d->bd;
	return 0;
}

static void m_disk_close(struct bdisk *d) { free(d); }

static int m_disk_size(struct bdisk *d, uint64_t *size)
{
	*size = MD(d)->e->size;
	return 0;
}

static ssize_t m_disk_pread(struct bdisk *d, void *buf, size_t len, uint64_t off)
{
	const struct ment *e = MD(d)->e;
	size_t n, have;
	if (off >= e->size)
		return 0;
	n = e->size - off < len ? (size_t)(e->size - off) : len;
	have = off < e->len ? e->len - (size_t)off : 0;
	if (have > n)
		have = n;
	if (have)
		memcpy(buf, e->data + off, have);
	memset((char *)buf + have, 0, n - have);
	return (ssize_t)n;
}

static int m_disk_exists(struct backend *be, const char *key) { return find(be, key, 1) != NULL; }

static int m_disk_next_data(struct bdisk *d, uint64_t off, uint64_t *start, uint64_t *end)
{
	if (off >= MD(d)->e->size)
		return -ENXIO;
	*start = off;
	*end = MD(d)->e->size;
	return 0;
}

/* Everything else that would change the medium. */
static int m_rec_put(struct backend *be, const char *key, const void *data, size_t len, const char *if_match,
		     char etag[BACKEND_ETAG_MAX])
{
	(void)be, (void)key, (void)data, (void)len, (void)if_match, (void)etag;
	return -EROFS;
}
/* Deletes succeed and change nothing, so that a loader's clean-up goes on
 * to what follows it (a writable chain's garbage collection). */
static int m_key_del(struct backend *be, const char *key) { (void)be, (void)key; return 0; }
static int m_disk_create(struct backend *be, const char *key, uint64_t size)
{
	(void)be, (void)key, (void)size;
	return -EROFS;
}
static int m_disk_rename(struct backend *be, const char *from, const char *to)
{
	(void)be, (void)from, (void)to;
	return -EROFS;
}
static int m_disk_truncate(struct bdisk *d, uint64_t size) { (void)d, (void)size; return -EROFS; }
static ssize_t m_disk_pwrite(struct bdisk *d, const void *buf, size_t len, uint64_t off)
{
	(void)d, (void)buf, (void)len, (void)off;
	return -EROFS;
}
static int m_disk_zero(struct bdisk *d, uint64_t off, uint64_t len) { (void)d, (void)off, (void)len; return -EROFS; }
static int m_disk_sync(struct bdisk *d) { (void)d; return 0; }
static int m_snapshot(struct backend *be, const char *key, char snap[BACKEND_SNAP_MAX])
{
	(void)be, (void)key, (void)snap;
	return -EROFS;
}
static int m_snapshot_delete(struct backend *be, const char *key, const char *snap)
{
	(void)be, (void)key, (void)snap;
	return -EROFS;
}
static int m_snapshot_list(struct backend *be, const char *key, int (*cb)(void *, const char *), void *arg)
{
	(void)be, (void)key, (void)cb, (void)arg;
	return 0;
}
static int m_open_snapshot(struct backend *be, const char *key, const char *snap, struct bdisk **out)
{
	(void)be, (void)key, (void)snap, (void)out;
	return -ENOENT;
}
static int m_copy_snapshot(struct bdisk *dst, struct backend *be, const char *key, const char *snap)
{
	(void)dst, (void)be, (void)key, (void)snap;
	return -EROFS;
}

#define MEM_OPS                                                                        \
	.kind = "mem", .rec_get = m_rec_get, .rec_put = m_rec_put, .rec_del = m_key_del,  \
	.list = m_list, .remove_tree = m_key_del, .disk_create = m_disk_create,           \
	.disk_delete = m_key_del, .disk_rename = m_disk_rename, .disk_exists = m_disk_exists, \
	.disk_open = m_disk_open, .disk_close = m_disk_close, .disk_size = m_disk_size,  \
	.disk_truncate = m_disk_truncate, .disk_pread = m_disk_pread,                     \
	.disk_pwrite = m_disk_pwrite, .disk_zero = m_disk_zero,                           \
	.disk_next_data = m_disk_next_data, .disk_sync = m_disk_sync

static const struct backend_ops mem_ops = {MEM_OPS};
static const struct backend_ops mem_snap_ops = {
	MEM_OPS,
	.disk_snapshot = m_snapshot,
	.disk_snapshot_delete = m_snapshot_delete,
	.disk_snapshot_list = m_snapshot_list,
	.disk_open_snapshot = m_open_snapshot,
	.disk_copy_snapshot = m_copy_snapshot,
};

struct backend *membe_new(int snapshots)
{
	struct membe *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->be.ops = snapshots ? &mem_snap_ops : &mem_ops;
	return &m->be;
}
