/*
 * backend.h - where bytes and state live.
 *
 * A region is one storage backend.  Everything asrfs keeps in a region is
 * addressed by a key, a '/'-separated relative path ("resource-groups/rg1/
 * vms/web01.json").  A key names one of two kinds of object:
 *
 *   records  small blobs (JSON state, hash maps) read and written whole,
 *            atomically, optionally conditional on an etag (If-Match).
 *   disks    byte arrays of a fixed size (a multiple of 512) read and
 *            written in place, sparse where the medium allows.
 *
 * A backend is an ops table, as libfuse's struct fuse_operations is: the
 * `local` backend keeps keys as files under a directory, `azblob` as blobs in
 * an Azure Storage container.  Everything above this layer (sync/, core/)
 * sees only these calls.  Every call returns 0 or a negative errno;
 * -EHOSTUNREACH means the region could not be reached.
 *
 * Thread safety: a struct backend may be used from any thread at once; a
 * struct bdisk may be shared by threads for pread/pwrite (positional I/O).
 */
#ifndef ASRFS_BACKEND_H
#define ASRFS_BACKEND_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BACKEND_ETAG_MAX 80
#define BACKEND_KEY_MAX 1024
#define BACKEND_SNAP_MAX 64 /* a snapshot id ("2026-11-24T10:05:00.1234567Z"), NUL included */

/* What the config file says about a region (strings owned by the caller). */
struct backend_conf {
	const char *region;    /* region name, also written into the marker */
	const char *kind;      /* "local" | "azblob" */
	const char *path;      /* local: the directory */
	const char *endpoint;  /* azblob: http(s)://host:port/account */
	const char *account;   /* azblob */
	const char *key;       /* azblob: base64 account key, already resolved */
	const char *sas;       /* azblob: or a shared access signature (query string), instead of key */
	const char *container; /* azblob */
	int lease_seconds;     /* azblob: lease duration, 15..60 (0: 60) */
};

/* disk_open flags */
#define BDISK_RDONLY 0x0
#define BDISK_RDWR 0x1
#define BDISK_DIRECT 0x2 /* O_DIRECT where the medium supports it */

struct backend_ops;

/* Every backend instance and open disk starts with its ops pointer. */
struct backend {
	const struct backend_ops *ops;
};
struct bdisk {
	const struct backend_ops *ops;
};

/* list() callback: one immediate child of the prefix.  Return non-zero to stop. */
typedef int (*backend_list_cb)(void *arg, const char *name, int is_dir);

/* backend_ops.flags */
#define BACKEND_REMOTE 0x1        /* each call is a network round trip: large requests, several at once */
#define BACKEND_LEASE_EXPIRES 0x2 /* a lease lapses unless renewed (so another may take it) */

struct backend_ops {
	const char *kind;
	unsigned flags; /* BACKEND_* */

	int (*open)(const struct backend_conf *conf, struct backend **out);
	void (*close)(struct backend *be);
	/* 0 when the region is available; else -EHOSTUNREACH and why in reason. */
	int (*probe)(struct backend *be, char *reason, size_t len);
	/* "local:<path>" / "azblob:<endpoint>"; never a secret. */
	void (*describe)(struct backend *be, char *buf, size_t len);
	/* Make an empty medium a region (write the marker); -EINVAL if it holds another region. */
	int (*init_region)(struct backend *be);

	/* Records.  rec_get: *data is malloc'd and NUL-terminated (len excludes
	 * the NUL); -ENOENT when absent.  rec_put: if_match NULL writes
	 * unconditionally, "" only when absent (-EEXIST otherwise), else only
	 * when the current etag equals it (-ESTALE otherwise). */
	int (*rec_get)(struct backend *be, const char *key, char **data, size_t *len,
		       char etag[BACKEND_ETAG_MAX]);
	int (*rec_put)(struct backend *be, const char *key, const void *data, size_t len,
		       const char *if_match, char etag[BACKEND_ETAG_MAX]);
	int (*rec_del)(struct backend *be, const char *key);
	/* Immediate children of a key prefix ("" is the root).  -ENOENT if none. */
	int (*list)(struct backend *be, const char *prefix, backend_list_cb cb, void *arg);
	/* Remove a key prefix and everything below it. */
	int (*remove_tree)(struct backend *be, const char *prefix);

	/* Disks. */
	int (*disk_create)(struct backend *be, const char *key, uint64_t size); /* zeros, sparse; -EEXIST */
	int (*disk_delete)(struct backend *be, const char *key);
	int (*disk_rename)(struct backend *be, const char *from, const char *to); /* -EEXIST if to exists */
	int (*disk_exists)(struct backend *be, const char *key);                  /* 1, 0 or -errno */
	int (*disk_open)(struct backend *be, const char *key, int flags, struct bdisk **out);
	void (*disk_close)(struct bdisk *d);
	int (*disk_size)(struct bdisk *d, uint64_t *size);
	int (*disk_truncate)(struct bdisk *d, uint64_t size);
	/* Full transfers or -errno; a short count only at the end of the disk. */
	ssize_t (*disk_pread)(struct bdisk *d, void *buf, size_t len, uint64_t off);
	ssize_t (*disk_pwrite)(struct bdisk *d, const void *buf, size_t len, uint64_t off);
	/* Make [off, off+len) read as zeros, deallocating where possible. */
	int (*disk_zero)(struct bdisk *d, uint64_t off, uint64_t len);
	/* The first allocated extent at or after off: [*start, *end).  -ENXIO when
	 * only holes follow.  A medium that can't tell reports everything as data. */
	int (*disk_next_data)(struct bdisk *d, uint64_t off, uint64_t *start, uint64_t *end);
	int (*disk_sync)(struct bdisk *d);
	/* An opaque token for the disk's contents: it changes whenever its bytes
	 * may have (any write, zero or truncate) and disk_rename keeps it, so two
	 * equal tokens mean equal bytes.  -EOPNOTSUPP (or a NULL op) when the
	 * medium cannot promise that; callers then read the disk instead. */
	int (*disk_version)(struct backend *be, const char *key, char ver[BACKEND_ETAG_MAX]);
	/* Optional.  A weaker token: it changes whenever the disk's bytes change
	 * as far as the medium can tell (local: inode, size, mtime and ctime in
	 * nanoseconds), so a write that did not come through asrfs shows; equal
	 * stamps do not promise equal bytes.  be_disk_stamp falls back to
	 * disk_version. */
	int (*disk_stamp)(struct backend *be, const char *key, char stamp[BACKEND_ETAG_MAX]);

	/* Snapshots: read-only, point-in-time images of one disk that live with
	 * it (azblob: Snapshot Blob; a disk_rename keeps them, disk_delete
	 * deletes them too).  All optional: a NULL disk_snapshot means the medium
	 * has none, and then recovery points are an undo chain (sync/points.h).
	 * A backend that has disk_snapshot has every op of this group.
	 *   disk_snapshot         take one; its id (opaque, unique per disk, at
	 *                         most BACKEND_SNAP_MAX-1 chars) into snap.
	 *   disk_snapshot_delete  -ENOENT when no such snapshot.
	 *   disk_snapshot_list    every snapshot id of a disk, one call each
	 *                         (non-zero from cb stops); -ENOENT: no disk.
	 *   disk_open_snapshot    a read-only bdisk of a snapshot: size, pread
	 *                         and next_data work, writes are -EROFS.
	 *   disk_copy_snapshot    make dst (a disk open read-write) a copy of the
	 *                         snapshot, size and holes included, done by the
	 *                         service (azblob: Copy Blob from the snapshot URL,
	 *                         polled until it ends).  -EXDEV when dst is not
	 *                         in be's storage account: the caller reads and
	 *                         writes instead.  dst may be the snapshot's own
	 *                         disk (restoring it). */
	int (*disk_snapshot)(struct backend *be, const char *key, char snap[BACKEND_SNAP_MAX]);
	int (*disk_snapshot_delete)(struct backend *be, const char *key, const char *snap);
	int (*disk_snapshot_list)(struct backend *be, const char *key,
				  int (*cb)(void *arg, const char *snap), void *arg);
	int (*disk_open_snapshot)(struct backend *be, const char *key, const char *snap, struct bdisk **out);
	int (*disk_copy_snapshot)(struct bdisk *dst, struct backend *be, const char *key, const char *snap);

	/* Exclusive ownership of a key (a vault): a lock file or a blob lease.
	 * -EBUSY when another holder has it.  renew keeps a lease alive. */
	int (*lease_acquire)(struct backend *be, const char *key, void **lease);
	int (*lease_renew)(void *lease);
	void (*lease_release)(void *lease);

	/* Optional (NULL: no disk has one).  The VHD footer (vhd.h) the medium
	 * keeps after a disk's bytes: 0 with it in f, -ENOENT when the disk
	 * has none (a raw disk). */
	int (*disk_footer)(struct bdisk *d, uint8_t f[512]);

	/* Optional (NULL: the medium never fills).  Give back the space the
	 * region keeps in reserve, so that an operation that frees space can
	 * write its records on a full medium; -ENOENT when none is held. */
	int (*reserve_release)(struct backend *be);
};

extern const struct backend_ops local_backend_ops;
extern const struct backend_ops azblob_backend_ops;

/* The ops table for a kind name, or NULL. */
const struct backend_ops *backend_find(const char *kind);
int backend_open(const struct backend_conf *conf, struct backend **out);

/* A record that does not parse: keep its bytes as "<key>.damaged-<UTC time>"
 * (created, never overwritten; an earlier copy of the same bytes is reused),
 * then with move delete the record itself.  The copy's key goes to aside. */
int backend_keep_damaged(struct backend *be, const char *key, int move, char *aside, size_t asidelen);

/* For the backends: whether key is one they take (relative, no empty, "."
 * or ".." components, no hidden names; "" is the root, for list()). */
int backend_key_ok(const char *key);
/* For the backends: how much of [off, off + len) lies on a disk of size
 * bytes (0 when none of it does). */
uint64_t backend_clip(uint64_t size, uint64_t off, uint64_t len);

/* Open a plain file or block device as a disk (for asrfs-delta). */
int local_disk_open_path(const char *path, int flags, struct bdisk **out);
/* As above, read-write, creating a regular file (empty) when it does not exist. */
int local_disk_open_path_create(const char *path, int flags, struct bdisk **out);

/* Thin wrappers, so callers read like function calls. */
static inline int be_probe(struct backend *be, char *r, size_t n) { return be->ops->probe(be, r, n); }
static inline int be_rec_get(struct backend *be, const char *k, char **d, size_t *l, char e[BACKEND_ETAG_MAX])
{ return be->ops->rec_get(be, k, d, l, e); }
static inline int be_rec_put(struct backend *be, const char *k, const void *d, size_t l, const char *m,
			     char e[BACKEND_ETAG_MAX])
{ return be->ops->rec_put(be, k, d, l, m, e); }
static inline int be_rec_del(struct backend *be, const char *k) { return be->ops->rec_del(be, k); }
static inline int be_list(struct backend *be, const char *p, backend_list_cb cb, void *a)
{ return be->ops->list(be, p, cb, a); }
static inline int be_disk_open(struct backend *be, const char *k, int f, struct bdisk **d)
{ return be->ops->disk_open(be, k, f, d); }
static inline void bd_close(struct bdisk *d) { if (d) d->ops->disk_close(d); }
static inline int bd_size(struct bdisk *d, uint64_t *s) { return d->ops->disk_size(d, s); }
static inline int bd_truncate(struct bdisk *d, uint64_t s) { return d->ops->disk_truncate(d, s); }
static inline ssize_t bd_pread(struct bdisk *d, void *b, size_t l, uint64_t o) { return d->ops->disk_pread(d, b, l, o); }
static inline ssize_t bd_pwrite(struct bdisk *d, const void *b, size_t l, uint64_t o)
{ return d->ops->disk_pwrite(d, b, l, o); }
static inline int bd_zero(struct bdisk *d, uint64_t o, uint64_t l) { return d->ops->disk_zero(d, o, l); }
static inline int bd_next_data(struct bdisk *d, uint64_t o, uint64_t *s, uint64_t *e)
{ return d->ops->disk_next_data(d, o, s, e); }
static inline int bd_sync(struct bdisk *d) { return d->ops->disk_sync(d); }
static inline int bd_footer(struct bdisk *d, uint8_t f[512])
{ return d->ops->disk_footer ? d->ops->disk_footer(d, f) : -ENOENT; }
static inline int be_disk_version(struct backend *be, const char *k, char v[BACKEND_ETAG_MAX])
{ return be->ops->disk_version ? be->ops->disk_version(be, k, v) : -EOPNOTSUPP; }
static inline int be_disk_stamp(struct backend *be, const char *k, char v[BACKEND_ETAG_MAX])
{ return be->ops->disk_stamp ? be->ops->disk_stamp(be, k, v) : be_disk_version(be, k, v); }

#endif
