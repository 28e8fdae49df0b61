/*
 * main.c - the asrfs daemon: options, mounting, signals, shut-down.
 *
 *   asrfs [-f] [-d] [--config FILE] [--state DIR] [-o OPTS] MOUNTPOINT
 *
 * Without -f the daemon forks; the parent waits until the child has loaded
 * its state and mounted (or failed) and exits with the child's verdict, so
 * `asrfs ... && ls MOUNTPOINT` works.  The child logs to <state>/asrfs.log.
 * SIGTERM, SIGINT and `fusermount3 -u` end the FUSE loop; running jobs are
 * then checkpointed and the state is left consistent for the next mount.
 */
#define FUSE_USE_VERSION 314
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/core.h"
#include "ops.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: asrfs [-f] [-d] [--config FILE] [--state DIR] [-o OPTS] MOUNTPOINT\n"
		   "  -f             stay in the foreground, log to stderr\n"
		   "  -d             FUSE debug output (implies -f)\n"
		   "  --config FILE  regions and vaults (JSON); default: two local regions under the state dir\n"
		   "  --state DIR    state directory (default /var/lib/asrfs, or ~/.local/state/asrfs)\n"
		   "  -o OPTS        extra FUSE mount options (allow_other shares the tree with other users;\n"
		   "                 disks and recovery points stay readable by the owner only)\n"
		   "Unmount with: fusermount3 -u MOUNTPOINT (or SIGTERM)\n");
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Is NAME one of the comma-separated words of an -o string? */
static int has_option(const char *opts, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

static char *default_state_dir(void)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *s = NULL;
	if (geteuid() == 0)
		return strdup("/var/lib/asrfs");
	if (x && *x) {
		if (asprintf(&s, "%s/asrfs", x) < 0)
			return NULL;
	} else if (asprintf(&s, "%s/.local/state/asrfs", home ? home : ".") < 0) {
		return NULL;
	}
	return s;
}

/* Refuse a stale or missing mountpoint with advice. */
static int check_mountpoint(const char *mp)
{
	struct stat st;
	if (stat(mp, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "asrfs: %s is not a directory\n", mp);
			return -1;
		}
		return 0;
	}
	if (errno == ENOTCONN) {
		fprintf(stderr,
			"asrfs: %s is a stale mount left by an asrfs that is no longer running.\n"
			"       Clear it with:  fusermount3 -u %s   (or: umount -l %s), then mount again.\n",
			mp, mp, mp);
		return -1;
	}
	fprintf(stderr, "asrfs: mountpoint %s: %s\n", mp, strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"state", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct core_opts co = {0};
	struct fuse *f = NULL;
	struct fuse_loop_config *lc = NULL;
	char *state = NULL, *opts = NULL, err[1024] = "", *mp;
	int foreground = 0, debug = 0, c, rc = 1, pipefd[2] = {-1, -1}, started = 0;

	while ((c = getopt_long(argc, argv, "fdo:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': foreground = 1; break;
		case 'd': debug = foreground = 1; break;
		case 'o': opts = optarg; break;
		case 'c': co.config_path = optarg; break;
		case 's': state = strdup(optarg); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("asrfs %s\n", ASRFS_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	mp = realpath(argv[optind], NULL);
	if (!mp) {
		if (errno == ENOTCONN)
			mp = strdup(argv[optind]);
		else {
			fprintf(stderr, "asrfs: mountpoint %s: %s\n", argv[optind], strerror(errno));
			return 1;
		}
	}
	if (check_mountpoint(mp) < 0)
		return 1;
	if (!state)
		state = default_state_dir();
	if (!state || mkdir_p(state) < 0) {
		fprintf(stderr, "asrfs: cannot create the state directory %s\n", state ? state : "");
		return 1;
	}
	co.state_dir = state;

	if (!foreground) {
		pid_t pid;
		if (pipe(pipefd) < 0) {
			perror("asrfs: pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("asrfs: fork");
			return 1;
		}
		if (pid > 0) {
			char verdict = 1;
			close(pipefd[1]);
			if (read(pipefd[0], &verdict, 1) != 1)
				verdict = 1;
			if (verdict)
				fprintf(stderr, "asrfs: failed to start; see %s/asrfs.log\n", state);
			return verdict;
		}
		close(pipefd[0]);
		setsid();
		{
			char logp[4096];
			int fd;
			snprintf(logp, sizeof(logp), "%s/asrfs.log", state);
			fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			int nul = open("/dev/null", O_RDWR);
			if (nul >= 0) {
				dup2(nul, 0);
				dup2(nul, 1);
				close(nul);
			}
			if (fd >= 0) {
				dup2(fd, 2);
				close(fd);
			}
		}
		if (chdir("/") < 0)
			perror("asrfs: chdir /");
	}

	fuse_opt_add_arg(&args, argv[0]);
	if (debug)
		fuse_opt_add_arg(&args, "-d");
	/* Private by default: only the mounting user sees the VMs' bytes.  A
	 * mount shared with -o allow_other shows disks and points to their
	 * owner alone (nodes.c: attr_mode). */
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, "fsname=asrfs,subtype=asrfs,default_permissions");
	fs_allow_other = opts && has_option(opts, "allow_other");
	if (opts) {
		fuse_opt_add_arg(&args, "-o");
		fuse_opt_add_arg(&args, opts);
	}
	f = fuse_new(&args, &asrfs_ops, sizeof(asrfs_ops), NULL);
	if (!f) {
		fprintf(stderr, "asrfs: cannot set up FUSE\n");
		goto out;
	}
	if (core_start(&co, err, sizeof(err)) < 0) {
		fprintf(stderr, "asrfs: %s\n", err);
		goto out;
	}
	started = 1;
	if (fuse_mount(f, mp) != 0) {
		fprintf(stderr, "asrfs: cannot mount on %s (is something mounted there already?)\n", mp);
		goto out;
	}
	/* A shell starts background jobs with SIGINT ignored, and libfuse keeps
	 * an ignored signal ignored: restore the defaults so SIGINT and SIGTERM
	 * always unmount cleanly. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
		fprintf(stderr, "asrfs: cannot set signal handlers\n");
		fuse_unmount(f);
		goto out;
	}
	fprintf(stderr, "asrfs %s: mounted on %s (state %s)\n", ASRFS_VERSION, mp, state);
	if (pipefd[1] >= 0) {
		char ok = 0;
		if (write(pipefd[1], &ok, 1) != 1)
			perror("asrfs: notify parent");
		close(pipefd[1]);
		pipefd[1] = -1;
	}
	lc = fuse_loop_cfg_create();
	if (!lc) {
		fuse_remove_signal_handlers(fuse_get_session(f));
		fuse_unmount(f);
		goto out;
	}
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_max_threads(lc, 16);
	rc = fuse_loop_mt(f, lc) == 0 ? 0 : 1;
	fuse_loop_cfg_destroy(lc);
	fuse_remove_signal_handlers(fuse_get_session(f));
	fuse_unmount(f);
	fprintf(stderr, "asrfs: unmounted %s; stopping\n", mp);
out:
	if (started)
		core_stop();
	if (f)
		fuse_destroy(f);
	fuse_opt_free_args(&args);
	if (pipefd[1] >= 0) {
		char bad = 1;
		if (write(pipefd[1], &bad, 1) != 1)
			rc = 1;
		close(pipefd[1]);
	}
	free(state);
	free(mp);
	return rc;
}
