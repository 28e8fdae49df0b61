/*
 * ops.c - the FUSE operations: walk a path through the tables of nodes.c and
 * act on what it names.  This is the only place that knows FUSE; below it
 * everything returns -errno, which FUSE passes to the caller as errno.
 *
 * Text files are rendered once at open() into a per-open buffer and served
 * from it, with direct_io, so one `cat` sees one consistent snapshot and the
 * reported size does not have to be right for the reader to see it all (it
 * is right anyway: getattr renders too).  A write to a control or setting is
 * handed to core at once; its errno is the write's errno.  Disk files go
 * straight to core_disk_* with direct_io, so every read sees what is stored.
 */
#define FUSE_USE_VERSION 314
#define _GNU_SOURCE
#include "ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* A disk's st_blksize: the read size tools choose for it. */
#define DISK_IO_SIZE (1 << 20)

/* ---- path walk ---- */

static int name_in(const struct ctx *c, const struct dirtype *d, const char *name)
{
	struct strlist sl = {0};
	int rc, found;

	if (d->has)
		return d->has(c, name);
	rc = d->list(c, &sl);
	found = rc == 0 && sl_has(&sl, name);
	sl_free(&sl);
	return rc < 0 ? rc : found;
}

static int step(struct node *n, const char *comp, int k)
{
	const struct dirtype *d = n->dir;
	int rc;

	if (!d)
		return -ENOTDIR;
	if (k >= (int)(sizeof(n->names) / sizeof(n->names[0])) || strlen(comp) >= sizeof(n->names[0]))
		return -ENAMETOOLONG;
	snprintf(n->names[k], sizeof(n->names[k]), "%s", comp);
	n->last = n->names[k];
	n->parent = d;
	for (const struct attr *a = d->files; a && a->name; a++)
		if (strcmp(a->name, comp) == 0) {
			if (a->present && !a->present(&n->ctx))
				return -ENOENT;
			n->attr = a;
			n->dir = NULL;
			n->ctx.file = n->names[k];
			return 0;
		}
	for (const struct subdir *s = d->subdirs; s && s->name; s++)
		if (strcmp(s->name, comp) == 0) {
			n->dir = s->type;
			return 0;
		}
	if (!d->list)
		return -ENOENT;
	*(const char **)((char *)&n->ctx + d->ctx_off) = n->names[k];
	rc = name_in(&n->ctx, d, comp);
	if (rc <= 0)
		return rc < 0 ? rc : -ENOENT;
	n->dir = d->child_dir;
	n->attr = d->child_dir ? NULL : d->child_file;
	return 0;
}

int node_resolve(const char *path, struct node *n)
{
	char buf[4096], *save = NULL, *comp;
	int k = 0, rc = 0;

	memset(n, 0, sizeof(*n));
	n->dir = &root_dir;
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf; (comp = strtok_r(p, "/", &save)) != NULL && rc == 0; p = NULL)
		rc = step(n, comp, k++);
	return rc;
}

/* Resolve the parent of path; *base gets the last component. */
static int resolve_parent(const char *path, struct node *n, char *base, size_t len)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	snprintf(base, len, "%s", slash + 1);
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return node_resolve(dir[0] ? dir : "/", n);
}

/* ---- refusals: every one leaves a message in the owner's `error` ---- */

/* The path below the object whose `error` a change under n reports to
 * (items/<i>/..., vaults/<v>/..., regions/<r>/...), for the message. */
static const char *below_owner(const char *path, const struct node *n)
{
	int skip = n->ctx.item ? 4 : (n->ctx.vault || n->ctx.region) ? 2 : 0;
	const char *p = path;
	while (*p == '/')
		p++;
	for (; skip > 0 && *p; skip--) {
		const char *slash = strchr(p, '/');
		p = slash ? slash + 1 : p + strlen(p);
	}
	return *p ? p : path;
}

/* One change through the tree, bracketed by core_refusal_begin/_end. */
struct change {
	struct refusal_owner owner;
	char what[600];       /* "[verb ]<path below the owner>" */
	char saved[ERR_MAX];
};

static void change_begin(struct change *ch, const struct node *n, const char *path, const char *verb)
{
	ch->owner.region = n->ctx.region;
	ch->owner.vault = n->ctx.vault;
	ch->owner.item = n->ctx.item;
	snprintf(ch->what, sizeof(ch->what), "%s%s%s", verb, verb[0] ? " " : "", below_owner(path, n));
	core_refusal_begin(&ch->owner, ch->saved, sizeof(ch->saved));
}

/* rc is the change's result; why, when fs/ refused it by itself. */
static int change_end(struct change *ch, int rc, const char *why)
{
	core_refusal_end(&ch->owner, ch->saved, ch->what, rc, why);
	return rc;
}

/* A change fs/ refuses by itself, before core sees it. */
static int refuse(const struct node *n, const char *path, const char *verb, int rc, const char *why)
{
	struct change ch;
	change_begin(&ch, n, path, verb);
	return change_end(&ch, rc, why);
}

/* ---- files created by a write (network mappings), until released ---- */

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct strlist pending; /* protected by pending_lock */

static int pending_has(const char *path)
{
	int r;
	pthread_mutex_lock(&pending_lock);
	r = sl_has(&pending, path);
	pthread_mutex_unlock(&pending_lock);
	return r;
}

static void pending_del(const char *path)
{
	pthread_mutex_lock(&pending_lock);
	for (int i = 0; i < pending.n; i++)
		if (strcmp(pending.v[i], path) == 0) {
			free(pending.v[i]);
			pending.v[i] = pending.v[--pending.n];
			break;
		}
	pthread_mutex_unlock(&pending_lock);
}

/* ---- open files ---- */

struct fh {
	struct node node;
	char *buf;            /* rendered text */
	size_t len;
	struct core_disk *disk;
	int written;          /* a write came (accepted or not): the only one */
	int wants_line;       /* opened to write a control or setting */
	char pending_path[1024];
	struct fh *prev, *next; /* the open handles; protected by open_lock */
};

/* Every handle open now.  A process may still hold a file when the mount
 * goes (a lazy unmount, a killed daemon's successor): the kernel then sends
 * no release, and asr_close_all() closes what is left before core stops. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fh *open_list; /* protected by open_lock */

static void fh_link(struct fh *h)
{
	pthread_mutex_lock(&open_lock);
	h->next = open_list;
	if (open_list)
		open_list->prev = h;
	open_list = h;
	pthread_mutex_unlock(&open_lock);
}

static void fh_unlink(struct fh *h)
{
	pthread_mutex_lock(&open_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		open_list = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	pthread_mutex_unlock(&open_lock);
}

static int render(const struct node *n, char **buf, size_t *len)
{
	struct sbuf sb;
	int rc;
	sb_init(&sb);
	rc = n->attr->show(&n->ctx, &sb);
	if (rc == 0 && sb.err)
		rc = sb.err;
	if (rc == 0) {
		*buf = sb_take(&sb, len);
		if (!*buf)
			rc = -ENOMEM;
	}
	sb_free(&sb);
	return rc;
}

static int asr_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct node n;
	int rc;
	(void)fi;

	memset(st, 0, sizeof(*st));
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
	st->st_blksize = 4096;
	rc = node_resolve(path, &n);
	if (rc == -ENOENT && pending_has(path)) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (n.dir) {
		st->st_mode = S_IFDIR | n.dir->mode;
		st->st_nlink = 2;
		return 0;
	}
	st->st_nlink = 1;
	switch (n.attr->kind) {
	case A_LINK: {
		char *b;
		size_t len;
		rc = render(&n, &b, &len);
		if (rc < 0)
			return rc;
		free(b);
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)len;
		return 0;
	}
	case A_DISK: {
		uint64_t size;
		rc = n.attr->size(&n.ctx, &size);
		if (rc < 0)
			return rc;
		st->st_mode = S_IFREG | attr_mode(n.attr, &n.ctx);
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
		/* cat, cp and cmp size their reads by this, and direct_io hands
		 * each read over as it is: on a remote region one round trip. */
		st->st_blksize = DISK_IO_SIZE;
		return 0;
	}
	case A_TEXT:
	default:
		st->st_mode = S_IFREG | n.attr->mode;
		if (n.attr->show) {
			char *b;
			size_t len;
			rc = render(&n, &b, &len);
			if (rc < 0)
				return rc;
			free(b);
			st->st_size = (off_t)len;
		}
		return 0;
	}
}

static int asr_readlink(const char *path, char *buf, size_t size)
{
	struct node n;
	char *b;
	size_t len;
	int rc = node_resolve(path, &n);
	if (rc < 0)
		return rc;
	if (!n.attr || n.attr->kind != A_LINK)
		return -EINVAL;
	rc = render(&n, &b, &len);
	if (rc < 0)
		return rc;
	snprintf(buf, size, "%s", b);
	free(b);
	return 0;
}

static int asr_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct node n;
	struct strlist sl = {0};
	const struct dirtype *d;
	int rc = node_resolve(path, &n);
	(void)off;
	(void)fi;
	(void)flags;

	if (rc < 0)
		return rc;
	d = n.dir;
	if (!d)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	for (const struct attr *a = d->files; a && a->name; a++)
		if (!a->present || a->present(&n.ctx))
			fill(buf, a->name, NULL, 0, 0);
	for (const struct subdir *s = d->subdirs; s && s->name; s++)
		fill(buf, s->name, NULL, 0, 0);
	if (d->list) {
		rc = d->list(&n.ctx, &sl);
		for (int i = 0; rc == 0 && i < sl.n; i++)
			fill(buf, sl.v[i], NULL, 0, 0);
		sl_free(&sl);
	}
	return rc;
}

static int asr_open(const char *path, struct fuse_file_info *fi)
{
	struct fh *h = calloc(1, sizeof(*h));
	int acc = fi->flags & O_ACCMODE, rc;

	if (!h)
		return -ENOMEM;
	rc = node_resolve(path, &h->node);
	if (rc < 0)
		goto fail;
	if (h->node.dir) {
		rc = -EISDIR;
		goto fail;
	}
	if (h->node.attr->kind == A_DISK) {
		/* Replicas and point images are read-only for root too (SPEC 8). */
		if (acc != O_RDONLY && !(attr_mode(h->node.attr, &h->node.ctx) & 0200)) {
			rc = -EPERM;
			goto fail;
		}
		rc = h->node.attr->open(&h->node.ctx, acc != O_RDONLY, &h->disk);
		if (rc < 0)
			goto fail;
	} else {
		if ((acc != O_WRONLY && !h->node.attr->show) || (acc != O_RDONLY && !h->node.attr->store)) {
			rc = -EACCES;
			goto fail;
		}
		if (acc != O_WRONLY && (rc = render(&h->node, &h->buf, &h->len)) < 0)
			goto fail;
		/* a write-only open or O_TRUNC announces a line; see asr_flush */
		h->wants_line = acc == O_WRONLY || (acc == O_RDWR && (fi->flags & O_TRUNC));
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->fh = (uint64_t)(uintptr_t)h;
	fh_link(h);
	return 0;
fail:
	free(h->buf);
	free(h);
	return rc;
}

static int asr_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fh *h;
	char base[256];
	const struct dirtype *d;
	int rc;
	(void)mode;

	if (node_resolve(path, &(struct node){0}) == 0)
		return asr_open(path, fi);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	rc = resolve_parent(path, &h->node, base, sizeof(base));
	d = h->node.dir;
	if (rc == 0 && (!d || !d->create || !d->child_file || !d->child_file->store))
		rc = -EACCES;
	if (rc == 0)
		rc = d->create(&h->node.ctx, base);
	if (rc < 0) {
		free(h);
		return rc;
	}
	/* Become the child that a write will create. */
	{
		int k = 0;
		while (k < 15 && h->node.names[k][0])
			k++;
		snprintf(h->node.names[k], sizeof(h->node.names[k]), "%s", base);
		*(const char **)((char *)&h->node.ctx + d->ctx_off) = h->node.names[k];
		h->node.attr = d->child_file;
		h->node.parent = d;
		h->node.dir = NULL;
	}
	snprintf(h->pending_path, sizeof(h->pending_path), "%s", path);
	h->wants_line = 1;
	pthread_mutex_lock(&pending_lock);
	rc = sl_add(&pending, path);
	pthread_mutex_unlock(&pending_lock);
	if (rc < 0) {
		free(h);
		return rc;
	}
	fi->direct_io = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	fh_link(h);
	return 0;
}

static struct fh *FH(struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

static int asr_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	(void)path;
	if (h->disk) {
		ssize_t n = core_disk_read(h->disk, buf, size, (uint64_t)off);
		return n < 0 ? (int)n : (int)n;
	}
	if (!h->buf || (size_t)off >= h->len)
		return 0;
	if (size > h->len - (size_t)off)
		size = h->len - (size_t)off;
	memcpy(buf, h->buf + off, size);
	return (int)size;
}

static int asr_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	struct change ch;
	int rc, again;
	if (h->disk) {
		ssize_t n = core_disk_write(h->disk, buf, size, (uint64_t)off);
		return n < 0 ? (int)n : (int)n;
	}
	/* A control or setting takes one write of one line at offset 0 per
	 * open; anything after it, accepted or not, is refused whole (two
	 * writes racing on one descriptor: one of them is the second). */
	again = __atomic_exchange_n(&h->written, 1, __ATOMIC_SEQ_CST);
	if (again)
		return refuse(&h->node, path, "", -EINVAL,
			      "takes one write per open: a second write on one descriptor is refused");
	if (off != 0)
		return refuse(&h->node, path, "", -EINVAL, "takes one write at offset 0, not at an offset");
	change_begin(&ch, &h->node, path, "");
	rc = change_end(&ch, h->node.attr->store(&h->node.ctx, buf, size), NULL);
	return rc < 0 ? rc : (int)size;
}

static int asr_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct node n;
	const struct attr *a;
	int rc = 0;
	if (fi) {
		n = FH(fi)->node;
	} else {
		if (pending_has(path))
			return size ? -EINVAL : 0;
		rc = node_resolve(path, &n);
	}
	a = n.attr;
	if (rc < 0)
		return rc;
	if (!a)
		return -EISDIR;
	/* O_TRUNC on a control or setting is part of `echo x > f`; a disk keeps
	 * its size, as a block device does. */
	if (a->kind == A_DISK)
		return (attr_mode(a, &n.ctx) & 0200) ? 0 : -EPERM;
	if (!a->store)
		return -EACCES;
	return size ? refuse(&n, path, "", -EINVAL, "truncated to a size other than 0: it takes one line, written") : 0;
}

static void fh_free(struct fh *h)
{
	if (h->pending_path[0])
		pending_del(h->pending_path);
	core_disk_close(h->disk);
	free(h->buf);
	free(h);
}

static int asr_release(const char *path, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	(void)path;
	fh_unlink(h);
	fh_free(h);
	return 0;
}

void asr_close_all(void)
{
	struct fh *h;

	pthread_mutex_lock(&open_lock);
	h = open_list;
	open_list = NULL;
	pthread_mutex_unlock(&open_lock);
	while (h) {
		struct fh *next = h->next;
		fh_free(h);
		h = next;
	}
}

/* Does process pid still hold a descriptor on path (below this mount)?  A
 * flush comes at every close(), also of a duplicate: a shell's `> f` closes
 * its first descriptor before the command writes through the other.  When
 * it cannot tell (no /proc, another pid namespace), the answer is yes. */
static int still_open(pid_t pid, const char *path)
{
	char dir[64], link[320], target[4200];
	size_t plen = strlen(path);
	struct dirent *e;
	int found = 0;
	DIR *d;

	if (pid <= 0)
		return 1;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 1;
	while (!found && (e = readdir(d)) != NULL) {
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = (size_t)n >= plen && strcmp(target + n - plen, path) == 0;
	}
	closedir(d);
	return found;
}

/* close(): a control or setting opened to be written and closed for the
 * last time without a write (`printf '' > f`, or a zero-length write, which
 * the kernel answers itself and never passes on) is an empty line: close()
 * fails with EINVAL, as SPEC 4 refuses an empty line, and nothing changes. */
static int asr_flush(const char *path, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	if (h->disk || !h->wants_line || __atomic_load_n(&h->written, __ATOMIC_SEQ_CST) ||
	    still_open(fuse_get_context()->pid, path))
		return 0;
	if (__atomic_exchange_n(&h->written, 1, __ATOMIC_SEQ_CST))
		return 0; /* a write came meanwhile */
	return refuse(&h->node, path, "", -EINVAL, "an empty write: it takes one line");
}

static int asr_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	(void)path;
	(void)datasync;
	return h->disk ? core_disk_flush(h->disk) : 0;
}

static int asr_mkdir(const char *path, mode_t mode)
{
	struct node n;
	struct change ch;
	char base[256];
	int rc = resolve_parent(path, &n, base, sizeof(base));
	(void)mode;
	if (rc < 0)
		return rc;
	if (!n.dir)
		return -ENOTDIR;
	if (!n.dir->mkdir)
		return refuse(&n, path, "mkdir", -EPERM, "nothing can be created in this directory");
	change_begin(&ch, &n, path, "mkdir");
	return change_end(&ch, n.dir->mkdir(&n.ctx, base), NULL);
}

static int asr_rmdir(const char *path)
{
	struct node n;
	struct change ch;
	int rc = node_resolve(path, &n);
	if (rc < 0)
		return rc;
	if (!n.dir)
		return -ENOTDIR;
	if (!n.parent || !n.parent->rmdir)
		return refuse(&n, path, "rmdir", -EPERM, "this directory cannot be removed");
	change_begin(&ch, &n, path, "rmdir");
	return change_end(&ch, n.parent->rmdir(&n.ctx, n.last), NULL);
}

static int asr_unlink(const char *path)
{
	struct node n;
	int rc = node_resolve(path, &n);
	return rc < 0 ? rc : -EPERM;
}

static int asr_rename(const char *from, const char *to, unsigned int flags)
{
	struct node a, b;
	struct change ch;
	char base[256];
	int rc;

	if (flags)
		return -EINVAL;
	rc = node_resolve(from, &a);
	if (rc < 0)
		return rc;
	rc = resolve_parent(to, &b, base, sizeof(base));
	if (rc < 0)
		return rc;
	/* Only a VM moves: .../resource-groups/A/vms/x -> .../resource-groups/B/vms/y */
	if (!a.dir || !a.parent || !a.parent->rmdir || a.parent != b.dir || !a.ctx.vm ||
	    strcmp(a.ctx.region, b.ctx.region) != 0)
		return refuse(&a, from, "mv", -EPERM,
			      "only a VM moves, to the vms/ of another resource group of its region");
	change_begin(&ch, &a, from, "mv");
	return change_end(&ch, core_vm_move(a.ctx.region, a.ctx.rg, a.ctx.vm, b.ctx.rg, base), NULL);
}

static int asr_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = 255;
	return 0;
}

static void *asr_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* The tree changes under the kernel: no caching of names or attributes. */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	/* Big requests for disk images. */
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	return NULL;
}

const struct fuse_operations asrfs_ops = {
	.init = asr_init,
	.getattr = asr_getattr,
	.readlink = asr_readlink,
	.readdir = asr_readdir,
	.open = asr_open,
	.create = asr_create,
	.read = asr_read,
	.write = asr_write,
	.truncate = asr_truncate,
	.flush = asr_flush,
	.release = asr_release,
	.fsync = asr_fsync,
	.mkdir = asr_mkdir,
	.rmdir = asr_rmdir,
	.unlink = asr_unlink,
	.rename = asr_rename,
	.statfs = asr_statfs,
};
