/*
 * options.c - asrfs's command line through fuse_opt; see options.h.
 */
#define _GNU_SOURCE
#include "options.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_ALLOW_OTHER,
	KEY_MOUNT_ONLY,
};

#define OPT_PAIR(lng, field, fmt)                                              \
	{"--" lng " " fmt, offsetof(struct asrfs_options, field), 0},          \
	{lng "=" fmt, offsetof(struct asrfs_options, field), 0}

static const struct fuse_opt asrfs_opt_spec[] = {
	OPT_PAIR("config", config, "%s"),
	OPT_PAIR("state", state, "%s"),
	OPT_PAIR("log-level", log_level, "%s"),
	OPT_PAIR("metrics-file", metrics_file, "%s"),
	OPT_PAIR("metrics-interval", metrics_interval, "%u"),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("_netdev", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("nofail", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("noauto", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("auto", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("user", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("users", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("nouser", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("defaults", KEY_MOUNT_ONLY),
	FUSE_OPT_END,
};

/* The long options that take a value, for "--name=value". */
static const char *const valued[] = {"config", "state", "log-level", "metrics-file", "metrics-interval", NULL};

void options_usage(FILE *f)
{
	fprintf(f,
		"usage: asrfs [options] [CONFIG] MOUNTPOINT\n"
		"  -f                       stay in the foreground, log to stderr\n"
		"  -d                       FUSE debug output (implies -f)\n"
		"  --config FILE            regions and vaults (JSON); default: two local regions\n"
		"                           under the state directory (a first argument CONFIG is the same)\n"
		"  --state DIR              state directory (default /var/lib/asrfs, or ~/.local/state/asrfs)\n"
		"  --log-level LEVEL        error, warn, info (default) or debug\n"
		"  --metrics-file PATH      also write metrics/asrfs.prom to PATH (atomically) every 15 s\n"
		"  --metrics-interval SECS  how often --metrics-file is written (default 15)\n"
		"  -o OPTS                  comma-separated: config=, state=, log-level=, metrics-file=,\n"
		"                           metrics-interval= and FUSE mount options (allow_other shares\n"
		"                           the tree with other users; disks and recovery points stay\n"
		"                           readable by the owner only)\n"
		"  -h, --help   -V, --version\n"
		"In the background asrfs logs to syslog and <state>/asrfs.log; SIGHUP reopens the log file.\n"
		"Unmount with: fusermount3 -u MOUNTPOINT (or SIGTERM)\n");
}

/* Up to two: [CONFIG] MOUNTPOINT; options_parse() sorts them out. */
static int positional(struct asrfs_options *o, const char *arg)
{
	if (o->npos == 2) {
		fprintf(stderr, "asrfs: too many arguments at '%s'\n", arg);
		return -1;
	}
	o->pos[o->npos] = strdup(arg);
	if (!o->pos[o->npos])
		return -1;
	o->npos++;
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct asrfs_options *o = data;
	(void)outargs;

	switch (key) {
	case KEY_HELP: o->help = 1; return 0;
	case KEY_VERSION: o->version = 1; return 0;
	case KEY_FOREGROUND: o->foreground = 1; return 0;
	case KEY_DEBUG: o->debug = o->foreground = 1; return 0;
	case KEY_ALLOW_OTHER: o->allow_other = 1; return 1;
	case KEY_MOUNT_ONLY: return 0;
	case FUSE_OPT_KEY_NONOPT: return positional(o, arg) < 0 ? -1 : 0;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') {
			fprintf(stderr, "asrfs: unknown option '%s'\n", arg);
			return -1;
		}
		return 1; /* a FUSE mount option: fuse_new() judges it */
	default: return 1;
	}
}

/* "--config=FILE" becomes "--config" "FILE", the form the templates know. */
static int split_long(int argc, char **argv, struct fuse_args *out)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		int split = 0;
		if (strncmp(a, "--", 2) == 0 && eq)
			for (const char *const *v = valued; *v; v++)
				if ((size_t)(eq - a - 2) == strlen(*v) && strncmp(a + 2, *v, strlen(*v)) == 0)
					split = 1;
		if (split) {
			char *name = strndup(a, (size_t)(eq - a));
			int rc = name ? fuse_opt_add_arg(out, name) : -1;
			free(name);
			if (rc < 0 || fuse_opt_add_arg(out, eq + 1) < 0)
				return -ENOMEM;
		} else if (fuse_opt_add_arg(out, a) < 0) {
			return -ENOMEM;
		}
		if (strcmp(a, "--") == 0)
			for (i++; i < argc; i++)
				if (fuse_opt_add_arg(out, argv[i]) < 0)
					return -ENOMEM;
	}
	return 0;
}

int options_parse(int argc, char **argv, struct asrfs_options *o)
{
	struct fuse_args in = FUSE_ARGS_INIT(0, NULL);
	int rc = -EINVAL;

	memset(o, 0, sizeof(*o));
	o->metrics_interval = 15;
	o->level = LVL_INFO;
	if (split_long(argc, argv, &in) < 0) {
		fprintf(stderr, "asrfs: out of memory\n");
		goto out;
	}
	o->fuse = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (fuse_opt_parse(&in, o, asrfs_opt_spec, opt_proc) < 0)
		goto out;
	/* fuse_opt_parse() leaves the kept arguments in "in"; hand them on. */
	o->fuse = in;
	in = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (o->help || o->version) {
		rc = 0;
		goto out;
	}
	if (o->log_level && log_parse_level(o->log_level, &o->level) < 0) {
		fprintf(stderr, "asrfs: log level '%s': use error, warn, info or debug\n", o->log_level);
		goto out;
	}
	if (o->metrics_interval < 1 || o->metrics_interval > 86400) {
		fprintf(stderr, "asrfs: metrics-interval %u: use 1 to 86400 seconds\n", o->metrics_interval);
		goto out;
	}
	if (o->metrics_file && !*o->metrics_file) {
		fprintf(stderr, "asrfs: metrics-file is empty\n");
		goto out;
	}
	if (o->npos == 0) {
		fprintf(stderr, "asrfs: no mountpoint given\n");
		goto out;
	}
	o->mountpoint = o->pos[o->npos - 1];
	o->pos[o->npos - 1] = NULL;
	if (o->npos == 2) {
		/* CONFIG MOUNTPOINT, as mount(8) and fstab pass them. */
		if (o->config) {
			fprintf(stderr, "asrfs: a config file twice: '%s' and --config %s\n", o->pos[0], o->config);
			goto out;
		}
		if (strcmp(o->pos[0], "asrfs") != 0 && strcmp(o->pos[0], "none") != 0) {
			o->config = o->pos[0];
			o->pos[0] = NULL;
		}
	}
	rc = 0;
out:
	fuse_opt_free_args(&in);
	return rc;
}

void options_free(struct asrfs_options *o)
{
	free(o->config);
	free(o->state);
	free(o->log_level);
	free(o->metrics_file);
	free(o->mountpoint);
	free(o->pos[0]);
	free(o->pos[1]);
	fuse_opt_free_args(&o->fuse);
}
