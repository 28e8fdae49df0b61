/*
 * nodes.h - the shape of the tree, as tables.
 *
 * Every directory is a struct dirtype: a table of files (struct attr:
 * name, mode, show, store, as sysfs attributes are), a table of fixed
 * subdirectories, and optionally a family of named children listed by a
 * core call (regions, items, jobs...).  A path resolves by walking these
 * tables, filling a struct ctx with the names it meets (region, vault,
 * item...).  fs/ops.c holds the walk and the FUSE operations; fs/nodes.c
 * holds the tables and the show/store functions, which call core/ only.
 */
#ifndef ASRFS_NODES_H
#define ASRFS_NODES_H

#include <stdint.h>
#include <sys/stat.h>

#include "../core/core.h"

/* Names met on the way down. */
struct ctx {
	const char *region, *rg, *vm, *disk, *sa, *aset, *net;
	const char *vault, *policy, *srcregion, *vnet, *item, *point, *job;
	const char *shortcut;
	const char *group;  /* a vault's replication group */
	const char *plan, *bootgroup; /* a recovery plan and its boot group */
	const char *file;   /* the file itself, once the walk reaches one */
};

enum attr_kind {
	A_TEXT,   /* rendered by show() at open, stored by store() */
	A_LINK,   /* a symlink; show() renders the target */
	A_DISK,   /* bytes of a disk, through core_disk_* */
};

struct attr {
	const char *name;
	mode_t mode;   /* permission bits; the type comes from kind */
	enum attr_kind kind;
	int (*show)(const struct ctx *c, struct sbuf *out);
	int (*store)(const struct ctx *c, const char *buf, size_t len);
	/* A_DISK: size and open; present(): NULL = always there. */
	int (*size)(const struct ctx *c, uint64_t *size);
	int (*open)(const struct ctx *c, int writable, struct core_disk **d);
	int (*present)(const struct ctx *c);
	/* A_DISK of mode RW: non-zero while this one is read-only (a replica). */
	int (*readonly)(const struct ctx *c);
};

/* The permission bits a node shows (and open() enforces): the table's mode,
 * less the write bits of a read-only disk, and for disks less the group and
 * other bits when the mount is shared with other users (allow_other). */
mode_t attr_mode(const struct attr *a, const struct ctx *c);
extern int fs_allow_other; /* set by main.c before mounting */

struct dirtype;

struct subdir {
	const char *name;
	const struct dirtype *type;
};

struct dirtype {
	const char *what;
	mode_t mode;
	const struct attr *files;      /* terminated by {NULL} */
	const struct subdir *subdirs;  /* terminated by {NULL} */
	/* Named children: list() gives the names; each is a directory of
	 * child_dir or a file described by child_file; the name goes into the
	 * ctx field at ctx_off. */
	int (*list)(const struct ctx *c, struct strlist *out);
	/* Optional, for a family that may be long: whether one name is in
	 * it (1, 0 or -errno), so a lookup does not list them all. */
	int (*has)(const struct ctx *c, const char *name);
	const struct dirtype *child_dir;
	const struct attr *child_file;
	size_t ctx_off;
	int (*mkdir)(const struct ctx *c, const char *name);
	int (*rmdir)(const struct ctx *c, const char *name);
	int (*create)(const struct ctx *c, const char *name); /* 0 if a file may be created by writing */
};

extern const struct dirtype root_dir;

/* A resolved path: a directory or a file, with its context. */
struct node {
	const struct dirtype *dir;  /* set for directories */
	const struct attr *attr;    /* set for files and links */
	const struct dirtype *parent;
	struct ctx ctx;
	char names[16][256];        /* storage for ctx strings */
	const char *last;           /* the last component */
};

int node_resolve(const char *path, struct node *n);

#endif
