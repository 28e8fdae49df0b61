/*
 * local.c - the `local` backend: a region is a directory.
 *
 * Keys map to paths below the region's root.  Records are files replaced
 * atomically (write a temporary, fsync, rename over, fsync the directory), so
 * a reader sees the old record or the new one and a crash leaves one of them.
 * Disks are sparse regular files; holes are found with SEEK_DATA/SEEK_HOLE
 * and made with fallocate(PUNCH_HOLE).  The region is available while its
 * root exists and holds the marker file written by init_region().
 *
 * Etags are "<inode>-<mtime ns>-<size>": a rename-replaced record always gets
 * a new inode, so the pair compares reliably.  Conditional puts serialise on
 * one mutex (one daemon owns a vault at a time; the mutex only orders this
 * process's own writers).
 *
 * The same disk code serves asrfs-delta, which opens any file or block
 * device through local_disk_open_path().
 *
 * VHD footers.  An unmanaged disk (a key ending in ".vhd") is a fixed VHD,
 * as Azure stores page-blob VHDs: the file is the disk's bytes followed by a
 * 512-byte VHD footer (vhd.h), written by disk_create and moved along by
 * truncate.  A handle of such a disk shows the disk's bytes only: its size
 * leaves the footer out, reads stop before it and writes never reach it.
 * The footer is recognised by its contents when the disk is opened (a valid
 * fixed-VHD footer whose current size is the file's size less 512), so a
 * ".vhd" made before footers existed is still a raw disk and stays one.
 * Managed disks and files opened by path (asrfs-delta) are always raw.
 *
 * Faults of the medium.  A read-only filesystem makes the region
 * unavailable ("... is read-only").  A region keeps RESERVE_BYTES of
 * allocated space in a hidden file, given back on request
 * (reserve_release) so that an operation that frees space (disable) can
 * still write its records when the medium is full; it is made again once
 * there is room.  Temporaries of record writes (".tmp.<pid>.<n>") that a
 * crash left are removed when the region is opened, and only those.
 */
#define _GNU_SOURCE
#include "backend.h"
#include "vhd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MARKER ".asrfs-region"
#define RESERVE ".asrfs-reserve"
#define RESERVE_BYTES (1024 * 1024)
#define TMP_PREFIX ".tmp."

struct local_backend {
	struct backend base;
	char *root;
	char *region;
	pthread_mutex_t cas_lock; /* orders conditional rec_put */
};

struct local_disk {
	struct bdisk base;
	int fd;
	int is_blk;
	int footer; /* a fixed VHD: the last VHD_FOOTER_SIZE bytes are its footer */
};

struct local_lease {
	int fd;
};

static struct local_backend *LB(struct backend *be) { return (struct local_backend *)be; }
static struct local_disk *LD(struct bdisk *d) { return (struct local_disk *)d; }

static int key_path(struct local_backend *lb, const char *key, char *buf, size_t len)
{
	int n;
	if (!backend_key_ok(key))
		return -EINVAL;
	n = *key ? snprintf(buf, len, "%s/%s", lb->root, key) : snprintf(buf, len, "%s", lb->root);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc = 0;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* mkdir -p of the directory that will hold path. */
static int make_parents(const char *path)
{
	char buf[PATH_MAX];
	char *p;
	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void etag_of(const struct stat *st, char etag[BACKEND_ETAG_MAX])
{
	snprintf(etag, BACKEND_ETAG_MAX, "%llu-%lld%09ld-%lld", (unsigned long long)st->st_ino,
		 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long)st->st_size);
}

/* Allocate the reserve when it is missing and the medium has room for it
 * several times over; quietly nothing otherwise. */
static void reserve_make(struct local_backend *lb)
{
	char path[PATH_MAX];
	struct statvfs vfs;
	int fd;

	snprintf(path, sizeof(path), "%s/" RESERVE, lb->root);
	if (access(path, F_OK) == 0 || statvfs(lb->root, &vfs) < 0 || (vfs.f_flag & ST_RDONLY) ||
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < 8ULL * RESERVE_BYTES)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (posix_fallocate(fd, 0, RESERVE_BYTES) != 0 || fsync(fd) < 0)
		unlink(path);
	close(fd);
}

static int local_reserve_release(struct backend *be)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" RESERVE, LB(be)->root);
	return unlink(path) < 0 ? -errno : 0;
}

/* ".tmp.<pid>.<n>" exactly, of a process that no longer runs. */
static int stale_tmp(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
		return 0;
	name += strlen(TMP_PREFIX);
	pid = strtol(name, &end, 10);
	if (end == name || *end != '.' || pid <= 0 || !end[1])
		return 0;
	for (end++; *end; end++)
		if (*end < '0' || *end > '9')
			return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static int tmp_collect_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F && S_ISREG(st->st_mode) && stale_tmp(path + ftw->base))
		unlink(path);
	return 0;
}

static int local_probe(struct backend *be, char *reason, size_t len)
{
	struct local_backend *lb = LB(be);
	char path[PATH_MAX], name[256];
	struct statvfs vfs;
	struct stat st;
	ssize_t n;
	int fd;

	if (stat(lb->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(reason, len, "directory %s is missing", lb->root);
		return -EHOSTUNREACH;
	}
	snprintf(path, sizeof(path), "%s/%s", lb->root, MARKER);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, len, "%s holds no region marker", lb->root);
		return -EHOSTUNREACH;
	}
	n = read(fd, name, sizeof(name) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	if (strcmp(name, lb->region) != 0) {
		snprintf(reason, len, "%s holds region '%s', not '%s'", lb->root, name, lb->region);
		return -EHOSTUNREACH;
	}
	if (statvfs(lb->root, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		snprintf(reason, len, "%s is read-only", lb->root);
		return -EHOSTUNREACH;
	}
	reserve_make(lb);
	return 0;
}

static void local_describe(struct backend *be, char *buf, size_t len)
{
	snprintf(buf, len, "local:%s", LB(be)->root);
}

static int local_init_region(struct backend *be)
{
	struct local_backend *lb = LB(be);
	char path[PATH_MAX], reason[256];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", lb->root, MARKER);
	rc = make_parents(path);
	if (rc < 0)
		return rc;
	if (access(path, F_OK) == 0)
		return local_probe(be, reason, sizeof(reason)) == 0 ? 0 : -EINVAL;
	{
		char line[300];
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		snprintf(line, sizeof(line), "%s\n", lb->region);
		rc = write_all(fd, line, strlen(line));
		if (rc == 0 && fsync(fd) < 0)
			rc = -errno;
		close(fd);
	}
	return rc < 0 ? rc : fsync_dir_of(path);
}

static int local_open(const struct backend_conf *conf, struct backend **out)
{
	struct local_backend *lb;
	char real[PATH_MAX];

	if (!conf->path || !*conf->path || !conf->region)
		return -EINVAL;
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return -ENOMEM;
	lb->base.ops = &local_backend_ops;
	/* Keep an absolute path, so a later chdir cannot move the region. */
	if (conf->path[0] != '/' && getcwd(real, sizeof(real))) {
		size_t n = strlen(real);
		snprintf(real + n, sizeof(real) - n, "/%s", conf->path);
		lb->root = strdup(real);
	} else {
		lb->root = strdup(conf->path);
	}
	lb->region = strdup(conf->region);
	if (!lb->root || !lb->region) {
		free(lb->root);
		free(lb->region);
		free(lb);
		return -ENOMEM;
	}
	while (strlen(lb->root) > 1 && lb->root[strlen(lb->root) - 1] == '/')
		lb->root[strlen(lb->root) - 1] = '\0';
	/* what crashed writers left; a missing root is an outage, skipped */
	nftw(lb->root, tmp_collect_one, 16, FTW_PHYS | FTW_MOUNT);
	pthread_mutex_init(&lb->cas_lock, NULL);
	*out = &lb->base;
	return 0;
}

static void local_close(struct backend *be)
{
	struct local_backend *lb = LB(be);
	if (!lb)
		return;
	pthread_mutex_destroy(&lb->cas_lock);
	free(lb->root);
	free(lb->region);
	free(lb);
}

static int local_rec_get(struct backend *be, const char *key, char **data, size_t *len,
			 char etag[BACKEND_ETAG_MAX])
{
	char path[PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc;

	rc = key_path(LB(be), key, path, sizeof(path));
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (etag)
		etag_of(&st, etag);
	*data = buf;
	if (len)
		*len = got;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int local_rec_put(struct backend *be, const char *key, const void *data, size_t len,
			 const char *if_match, char etag[BACKEND_ETAG_MAX])
{
	struct local_backend *lb = LB(be);
	char path[PATH_MAX], tmp[PATH_MAX + 32], cur[BACKEND_ETAG_MAX];
	struct stat st;
	int fd = -1, rc, locked = 0;
	static unsigned long seq;

	rc = key_path(lb, key, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = make_parents(path);
	if (rc < 0)
		return rc;
	if (if_match) {
		pthread_mutex_lock(&lb->cas_lock);
		locked = 1;
		if (stat(path, &st) == 0) {
			etag_of(&st, cur);
			if (!*if_match) {
				rc = -EEXIST;
				goto out;
			}
			if (strcmp(cur, if_match) != 0) {
				rc = -ESTALE;
				goto out;
			}
		} else if (*if_match) {
			rc = -ESTALE;
			goto out;
		}
	}
	{
		char *slash = strrchr(path, '/');
		snprintf(tmp, sizeof(tmp), "%.*s/" TMP_PREFIX "%d.%lu", (int)(slash - path), path, (int)getpid(),
			 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0 && if_match && !*if_match) {
		/* Create-only must hold between processes too (two daemons on
		 * one region directory): link() fails when the name exists,
		 * where the stat() above only saw this process's view. */
		if (link(tmp, path) < 0)
			rc = -errno;
		unlink(tmp);
	} else if (rc == 0 && rename(tmp, path) < 0) {
		rc = -errno;
	}
	if (rc < 0) {
		unlink(tmp);
		goto out;
	}
	rc = fsync_dir_of(path);
	if (rc == 0 && etag) {
		if (fstat(fd, &st) < 0)
			rc = -errno;
		else
			etag_of(&st, etag);
	}
out:
	if (fd >= 0)
		close(fd);
	if (locked)
		pthread_mutex_unlock(&lb->cas_lock);
	return rc;
}

static int local_rec_del(struct backend *be, const char *key)
{
	char path[PATH_MAX];
	int rc = key_path(LB(be), key, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (unlink(path) < 0)
		return -errno;
	/* Leave empty parents in place; list() of an empty prefix is fine. */
	return fsync_dir_of(path);
}

static int local_list(struct backend *be, const char *prefix, backend_list_cb cb, void *arg)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int rc = key_path(LB(be), prefix, path, sizeof(path));

	if (rc < 0)
		return rc;
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) != NULL) {
		int is_dir;
		if (de->d_name[0] == '.')
			continue; /* ., .., marker, temporaries */
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			is_dir = S_ISDIR(st.st_mode);
		} else {
			is_dir = de->d_type == DT_DIR;
		}
		if (cb(arg, de->d_name, is_dir))
			break;
	}
	closedir(dir);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

static int local_remove_tree(struct backend *be, const char *prefix)
{
	char path[PATH_MAX];
	int rc = key_path(LB(be), prefix, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (!*prefix)
		return -EINVAL; /* never the whole region */
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return -errno;
	return fsync_dir_of(path);
}

/* Does this key name an unmanaged disk, kept as a fixed VHD? */
static int key_is_vhd(const char *key)
{
	size_t n = strlen(key);
	return n > 4 && strcmp(key + n - 4, ".vhd") == 0;
}

/* Write footer f for a disk of `size` bytes: the file becomes size + 512. */
static int footer_write(int fd, uint8_t f[VHD_FOOTER_SIZE], uint64_t size)
{
	ssize_t n;
	vhd_footer_resize(f, size);
	if (ftruncate(fd, (off_t)(size + VHD_FOOTER_SIZE)) < 0)
		return -errno;
	do
		n = pwrite(fd, f, VHD_FOOTER_SIZE, (off_t)size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == VHD_FOOTER_SIZE ? 0 : -EIO;
}

static int local_disk_create(struct backend *be, const char *key, uint64_t size)
{
	char path[PATH_MAX];
	uint8_t f[VHD_FOOTER_SIZE];
	int fd, rc = key_path(LB(be), key, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (size % 512)
		return -EINVAL;
	rc = make_parents(path);
	if (rc < 0)
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (key_is_vhd(key)) {
		rc = vhd_footer_build(f, size, time(NULL), NULL);
		if (rc == 0)
			rc = footer_write(fd, f, size);
	} else if (ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0) {
		unlink(path);
		return rc;
	}
	return fsync_dir_of(path);
}

static int local_disk_delete(struct backend *be, const char *key)
{
	return local_rec_del(be, key);
}

static int local_disk_rename(struct backend *be, const char *from, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];
	int rc = key_path(LB(be), from, a, sizeof(a));
	if (rc == 0)
		rc = key_path(LB(be), to, b, sizeof(b));
	if (rc < 0)
		return rc;
	rc = make_parents(b);
	if (rc < 0)
		return rc;
	if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) < 0)
		return -errno;
	rc = fsync_dir_of(b);
	if (rc == 0)
		rc = fsync_dir_of(a);
	return rc;
}

/* stat() of a key's file. */
static int key_stat(struct backend *be, const char *key, char path[PATH_MAX], struct stat *st)
{
	int rc = key_path(LB(be), key, path, PATH_MAX);
	if (rc < 0)
		return rc;
	return stat(path, st) < 0 ? -errno : 0;
}

static int local_disk_exists(struct backend *be, const char *key)
{
	char path[PATH_MAX];
	struct stat st;
	int rc = key_stat(be, key, path, &st);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	return S_ISREG(st.st_mode) ? 1 : 0;
}

/* The file's identity and change times: another writer moves ctime (with
 * the kernel's fine-grained stamps once someone looked at them). */
static int local_disk_stamp(struct backend *be, const char *key, char stamp[BACKEND_ETAG_MAX])
{
	char path[PATH_MAX];
	struct stat st;
	int rc = key_stat(be, key, path, &st);
	if (rc < 0)
		return rc;
	snprintf(stamp, BACKEND_ETAG_MAX, "%llx-%llx-%lld.%09ld-%lld.%09ld", (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		 (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	return 0;
}

static int open_fd_disk(int fd, struct bdisk **out)
{
	struct local_disk *ld;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	ld = calloc(1, sizeof(*ld));
	if (!ld) {
		close(fd);
		return -ENOMEM;
	}
	ld->base.ops = &local_backend_ops;
	ld->fd = fd;
	ld->is_blk = S_ISBLK(st.st_mode);
	*out = &ld->base;
	return 0;
}

static int open_flags(int flags)
{
	int o = O_CLOEXEC | ((flags & BDISK_RDWR) ? O_RDWR : O_RDONLY);
	if (flags & BDISK_DIRECT)
		o |= O_DIRECT;
	return o;
}

int local_disk_open_path(const char *path, int flags, struct bdisk **out)
{
	int fd = open(path, open_flags(flags));
	if (fd < 0)
		return -errno;
	return open_fd_disk(fd, out);
}

int local_disk_open_path_create(const char *path, int flags, struct bdisk **out)
{
	int fd = open(path, open_flags(flags | BDISK_RDWR) | O_CREAT, 0600);
	if (fd < 0)
		return -errno;
	return open_fd_disk(fd, out);
}

static void local_disk_close(struct bdisk *d);

/* The file's footer into f when it ends with one for the bytes before it:
 * 1, 0 when it does not (a raw disk), or -errno. */
static int footer_read(int fd, uint8_t f[VHD_FOOTER_SIZE])
{
	struct stat st;
	uint64_t cur;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < VHD_FOOTER_SIZE)
		return 0;
	do
		n = pread(fd, f, VHD_FOOTER_SIZE, st.st_size - VHD_FOOTER_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == VHD_FOOTER_SIZE && vhd_footer_parse(f, &cur) == 0 &&
	       cur == (uint64_t)st.st_size - VHD_FOOTER_SIZE;
}

static int local_disk_open(struct backend *be, const char *key, int flags, struct bdisk **out)
{
	char path[PATH_MAX];
	uint8_t f[VHD_FOOTER_SIZE];
	struct stat st;
	int rc = key_stat(be, key, path, &st);
	if (rc < 0)
		return rc;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	rc = local_disk_open_path(path, flags, out);
	if (rc == 0 && key_is_vhd(key)) {
		rc = footer_read(LD(*out)->fd, f);
		if (rc < 0) {
			local_disk_close(*out);
			*out = NULL;
			return rc;
		}
		LD(*out)->footer = rc;
		rc = 0;
	}
	return rc;
}

static void local_disk_close(struct bdisk *d)
{
	if (!d)
		return;
	close(LD(d)->fd);
	free(d);
}

static int local_disk_size(struct bdisk *d, uint64_t *size)
{
	struct local_disk *ld = LD(d);
	struct stat st;
	if (ld->is_blk)
		return ioctl(ld->fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	if (fstat(ld->fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	if (ld->footer)
		*size = *size >= VHD_FOOTER_SIZE ? *size - VHD_FOOTER_SIZE : 0;
	return 0;
}

static int local_disk_truncate(struct bdisk *d, uint64_t size)
{
	struct local_disk *ld = LD(d);
	uint8_t f[VHD_FOOTER_SIZE];
	uint64_t cur;
	int rc;

	if (ld->is_blk)
		return local_disk_size(d, &cur) < 0 ? -EIO : (cur == size ? 0 : -EINVAL);
	if (!ld->footer)
		return ftruncate(ld->fd, (off_t)size) < 0 ? -errno : 0;
	/* Cut the old footer off with whatever the new size drops, so a disk
	 * that grows reads zeros where it was; then the footer, resized. */
	rc = footer_read(ld->fd, f);
	if (rc == 0)
		rc = -EIO; /* the footer went missing under us */
	if (rc < 0)
		return rc;
	rc = local_disk_size(d, &cur);
	if (rc < 0)
		return rc;
	if (ftruncate(ld->fd, (off_t)(cur < size ? cur : size)) < 0)
		return -errno;
	return footer_write(ld->fd, f, size);
}

static ssize_t local_disk_pread(struct bdisk *d, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	if (LD(d)->footer) { /* stop before the footer */
		uint64_t size;
		int rc = local_disk_size(d, &size);
		if (rc < 0)
			return rc;
		len = (size_t)backend_clip(size, off, len);
	}
	while (got < len) {
		ssize_t n = pread(LD(d)->fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static ssize_t local_disk_pwrite(struct bdisk *d, const void *buf, size_t len, uint64_t off)
{
	size_t put = 0;
	if (LD(d)->footer && len) { /* a fixed VHD has a fixed size: truncate first */
		uint64_t size;
		int rc = local_disk_size(d, &size);
		if (rc < 0)
			return rc;
		if (off + len < off || off + len > size)
			return -ENOSPC;
	}
	while (put < len) {
		ssize_t n = pwrite(LD(d)->fd, (const char *)buf + put, len - put, (off_t)(off + put));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		put += (size_t)n;
	}
	return (ssize_t)put;
}

static int local_disk_zero(struct bdisk *d, uint64_t off, uint64_t len)
{
	struct local_disk *ld = LD(d);
	static const char zeros[65536];
	uint64_t size;
	int rc = local_disk_size(d, &size);

	if (rc < 0)
		return rc;
	len = backend_clip(size, off, len);
	if (len == 0)
		return 0;
	if (fallocate(ld->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (fallocate(ld->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t w = local_disk_pwrite(d, zeros, n, off);
		if (w < 0)
			return (int)w;
		off += n;
		len -= n;
	}
	return 0;
}

static int local_disk_next_data(struct bdisk *d, uint64_t off, uint64_t *start, uint64_t *end)
{
	struct local_disk *ld = LD(d);
	uint64_t size;
	off_t s, e;
	int rc = local_disk_size(d, &size);

	if (rc < 0)
		return rc;
	if (off >= size)
		return -ENXIO;
	if (ld->is_blk) {
		*start = off;
		*end = size;
		return 0;
	}
	s = lseek(ld->fd, (off_t)off, SEEK_DATA);
	if (s < 0)
		return errno == ENXIO ? -ENXIO : (*start = off, *end = size, 0);
	e = lseek(ld->fd, s, SEEK_HOLE);
	if (e < 0 || (uint64_t)e > size)
		e = (off_t)size; /* never the footer */
	if ((uint64_t)s >= size)
		return -ENXIO;
	*start = (uint64_t)s;
	*end = (uint64_t)e;
	return 0;
}

static int local_disk_footer(struct bdisk *d, uint8_t f[VHD_FOOTER_SIZE])
{
	int rc;
	if (!LD(d)->footer)
		return -ENOENT;
	rc = footer_read(LD(d)->fd, f);
	return rc < 0 ? rc : rc ? 0 : -EIO; /* it went missing under us */
}

static int local_disk_sync(struct bdisk *d)
{
	return fdatasync(LD(d)->fd) < 0 ? -errno : 0;
}

static int local_lease_acquire(struct backend *be, const char *key, void **lease)
{
	char path[PATH_MAX];
	struct local_lease *l;
	int fd, rc = key_path(LB(be), key, path, sizeof(path));

	if (rc < 0)
		return rc;
	rc = make_parents(path);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return rc;
	}
	l = malloc(sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	*lease = l;
	return 0;
}

static int local_lease_renew(void *lease)
{
	(void)lease; /* a flock lasts as long as the descriptor */
	return 0;
}

static void local_lease_release(void *lease)
{
	struct local_lease *l = lease;
	if (!l)
		return;
	close(l->fd);
	free(l);
}

const struct backend_ops local_backend_ops = {
	.kind = "local",
	.open = local_open,
	.close = local_close,
	.probe = local_probe,
	.describe = local_describe,
	.init_region = local_init_region,
	.rec_get = local_rec_get,
	.rec_put = local_rec_put,
	.rec_del = local_rec_del,
	.list = local_list,
	.remove_tree = local_remove_tree,
	.disk_create = local_disk_create,
	.disk_delete = local_disk_delete,
	.disk_rename = local_disk_rename,
	.disk_exists = local_disk_exists,
	.disk_stamp = local_disk_stamp,
	.disk_open = local_disk_open,
	.disk_close = local_disk_close,
	.disk_size = local_disk_size,
	.disk_truncate = local_disk_truncate,
	.disk_pread = local_disk_pread,
	.disk_pwrite = local_disk_pwrite,
	.disk_zero = local_disk_zero,
	.disk_next_data = local_disk_next_data,
	.disk_sync = local_disk_sync,
	.disk_footer = local_disk_footer,
	.lease_acquire = local_lease_acquire,
	.lease_renew = local_lease_renew,
	.lease_release = local_lease_release,
	.reserve_release = local_reserve_release,
};
