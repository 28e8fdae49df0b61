/*
 * options.h - asrfs's command line, read with libfuse's option parser so
 * that every long option also has an -o form (what mount.fuse3 and fstab
 * pass):
 *
 *   asrfs [-f] [-d] [--config FILE] [--state DIR] [--log-level LEVEL]
 *         [--metrics-file PATH] [-o OPTS] [CONFIG] MOUNTPOINT
 *
 *   --config FILE        -o config=FILE
 *   --state DIR          -o state=DIR
 *   --log-level LEVEL    -o log-level=LEVEL      error | warn | info | debug
 *   --metrics-file PATH  -o metrics-file=PATH
 *   --metrics-interval S -o metrics-interval=S   (default 15)
 *
 * A first of two positional arguments is the config file (mount(8) and
 * fstab put the "device" there); "asrfs" or "none" there means the
 * embedded default.  Options only mount(8) cares about (_netdev, nofail,
 * noauto, auto, user, users, nouser, defaults) are dropped; every other -o
 * option goes on to FUSE.
 */
#ifndef ASRFS_OPTIONS_H
#define ASRFS_OPTIONS_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse.h>
#include <stdio.h>

#include "../core/core.h"

struct asrfs_options {
	char *config;       /* NULL: embedded default */
	char *state;        /* NULL: the default state directory */
	char *log_level;
	char *metrics_file;
	unsigned metrics_interval;
	char *mountpoint;
	int foreground, debug, help, version, allow_other;
	enum log_level level;
	struct fuse_args fuse; /* what goes on to fuse_new() */
	char *pos[2];          /* positional arguments while parsing */
	int npos;
};

/* Parse argv into o (zeroed first).  0, or -EINVAL after a message on
 * stderr.  o->help / o->version ask for usage or the version. */
int options_parse(int argc, char **argv, struct asrfs_options *o);
void options_usage(FILE *f);
void options_free(struct asrfs_options *o);

#endif
