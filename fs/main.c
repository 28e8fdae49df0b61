/*
 * main.c - the asrfs daemon: mounting, the background daemon, signals, the
 * metrics file and shut-down.  The command line is options.c's.
 *
 * Without -f the daemon forks; the parent waits until the child has loaded
 * its state and mounted (or failed) and exits with the child's verdict, so
 * `asrfs ... && ls MOUNTPOINT` and mount(8) work.  The child logs to syslog
 * and to <state>/asrfs.log; SIGHUP (logrotate's) reopens that file and
 * never unmounts.  SIGTERM, SIGINT and `fusermount3 -u` end the FUSE loop;
 * running jobs are then checkpointed and the state is left consistent for
 * the next mount.  --metrics-file PATH: a thread of its own writes
 * metrics/asrfs.prom's text to PATH (temporary file, then rename) every
 * --metrics-interval seconds, so a scraper never reads through the mount.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nodes.h"
#include "ops.h"
#include "options.h"

static int mkdir_p(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
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

/* path made absolute against the working directory (the daemon moves to /),
 * without requiring it to exist yet; NULL on allocation failure. */
static char *absolute(const char *path)
{
	char *cwd, *s = NULL;
	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (asprintf(&s, "%s/%s", cwd, path) < 0)
		s = NULL;
	free(cwd);
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

/* ---- SIGHUP: reopen the log ---------------------------------------- */

static sem_t hup_sem;
static volatile sig_atomic_t hup_stop;
static pthread_t hup_thread;
static int hup_started;

static void on_hup(int sig)
{
	(void)sig;
	sem_post(&hup_sem); /* async-signal-safe; the thread does the work */
}

static void *hup_main(void *arg)
{
	(void)arg;
	for (;;) {
		int rc;
		if (sem_wait(&hup_sem) < 0)
			continue; /* EINTR */
		if (hup_stop)
			break;
		rc = log_reopen();
		if (rc == 0)
			log_info("SIGHUP: log file reopened");
		else if (rc == -ENOENT)
			log_info("SIGHUP: no log file to reopen (logging to the terminal)");
		else
			log_error("SIGHUP: cannot reopen the log file: %s", strerror(-rc));
	}
	return NULL;
}

static int hup_start(void)
{
	struct sigaction sa;
	if (sem_init(&hup_sem, 0, 0) < 0)
		return -errno;
	if (pthread_create(&hup_thread, NULL, hup_main, NULL) != 0)
		return -EAGAIN;
	hup_started = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	/* Installed before libfuse's handlers, which then leave SIGHUP alone. */
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	return 0;
}

static void hup_end(void)
{
	if (!hup_started)
		return;
	signal(SIGHUP, SIG_IGN);
	hup_stop = 1;
	sem_post(&hup_sem);
	pthread_join(hup_thread, NULL);
	sem_destroy(&hup_sem);
	hup_started = 0;
}

/* ---- --metrics-file ------------------------------------------------ */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop, started;
	pthread_t thread;
	const char *path;
	unsigned interval;
} mx = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Write the metrics text to mx.path: a temporary file beside it (not named
 * *.prom, so a textfile collector skips it), then rename over it. */
static int metrics_write(void)
{
	struct sbuf sb;
	char *tmp = NULL;
	const char *p;
	size_t len, done = 0;
	int fd = -1, rc = 0;

	sb_init(&sb);
	core_render_metrics(&sb); /* copies under the model lock, renders outside */
	if (sb.err) {
		rc = sb.err;
		goto out;
	}
	p = sb.buf ? sb.buf : "";
	len = sb.len;
	if (asprintf(&tmp, "%s.XXXXXX", mx.path) < 0) {
		tmp = NULL;
		rc = -ENOMEM;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0644) < 0) {
		rc = -errno;
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		done += (size_t)n;
	}
	rc = close(fd) < 0 ? -errno : 0;
	fd = -1;
	if (rc == 0 && rename(tmp, mx.path) < 0)
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (tmp && rc < 0)
		unlink(tmp);
	free(tmp);
	sb_free(&sb);
	return rc;
}

static void *metrics_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mx.lock);
	while (!mx.stop) {
		struct timespec until;
		int rc;
		pthread_mutex_unlock(&mx.lock);
		rc = metrics_write();
		if (rc < 0)
			log_warn("cannot write the metrics file %s: %s", mx.path, strerror(-rc));
		else
			log_debug("metrics written to %s", mx.path);
		pthread_mutex_lock(&mx.lock);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += mx.interval;
		while (!mx.stop && pthread_cond_timedwait(&mx.cond, &mx.lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&mx.lock);
	return NULL;
}

static int metrics_start(const char *path, unsigned interval)
{
	pthread_condattr_t ca;
	int rc;
	mx.path = path;
	mx.interval = interval;
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&mx.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -rc;
	if (pthread_create(&mx.thread, NULL, metrics_main, NULL) != 0) {
		pthread_cond_destroy(&mx.cond);
		return -EAGAIN;
	}
	mx.started = 1;
	return 0;
}

static void metrics_end(void)
{
	if (!mx.started)
		return;
	pthread_mutex_lock(&mx.lock);
	mx.stop = 1;
	pthread_cond_signal(&mx.cond);
	pthread_mutex_unlock(&mx.lock);
	pthread_join(mx.thread, NULL);
	pthread_cond_destroy(&mx.cond);
	mx.started = 0;
}

/* ---- the daemon ---------------------------------------------------- */

/* Fork; the parent waits for the child's verdict on pipefd and exits with
 * it.  The child gets /dev/null for stdin/stdout, the log file for stderr
 * and syslog.  Returns in the child only; -1 when forking failed. */
static int daemonize(const char *state, int pipefd[2])
{
	char *logp = NULL;
	pid_t pid;
	int nul, rc;

	if (pipe(pipefd) < 0) {
		perror("asrfs: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("asrfs: fork");
		return -1;
	}
	if (pid > 0) {
		char verdict = 1;
		close(pipefd[1]);
		if (read(pipefd[0], &verdict, 1) != 1)
			verdict = 1;
		if (verdict)
			fprintf(stderr, "asrfs: failed to start; see %s/asrfs.log or syslog\n", state);
		exit(verdict);
	}
	close(pipefd[0]);
	pipefd[0] = -1;
	setsid();
	nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		close(nul);
	}
	log_use_syslog(1);
	if (asprintf(&logp, "%s/asrfs.log", state) < 0)
		logp = NULL;
	rc = logp ? log_set_file(logp) : -ENOMEM;
	if (rc < 0)
		log_warn("cannot open the log file %s/asrfs.log: %s; logging to syslog only", state, strerror(-rc));
	free(logp);
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	struct asrfs_options o;
	struct core_opts co = {0};
	struct fuse *f = NULL;
	struct fuse_loop_config *lc = NULL;
	char *state = NULL, *config = NULL, *metrics = NULL, err[1024] = "", *mp = NULL;
	int rc = 1, pipefd[2] = {-1, -1}, started = 0, mounted = 0;

	if (options_parse(argc, argv, &o) < 0) {
		options_usage(stderr);
		options_free(&o);
		return 2;
	}
	if (o.help || o.version) {
		if (o.help)
			options_usage(stdout);
		else
			printf("asrfs %s\n", ASRFS_VERSION);
		options_free(&o);
		return 0;
	}
	log_set_level(o.level);
	mp = realpath(o.mountpoint, NULL);
	if (!mp) {
		if (errno == ENOTCONN) {
			mp = strdup(o.mountpoint);
		} else {
			fprintf(stderr, "asrfs: mountpoint %s: %s\n", o.mountpoint, strerror(errno));
			goto out;
		}
	}
	if (!mp || check_mountpoint(mp) < 0)
		goto out;
	if (o.config) {
		config = realpath(o.config, NULL);
		if (!config) {
			fprintf(stderr, "asrfs: config %s: %s\n", o.config, strerror(errno));
			goto out;
		}
		co.config_path = config;
	}
	if (o.metrics_file && !(metrics = absolute(o.metrics_file))) {
		fprintf(stderr, "asrfs: out of memory\n");
		goto out;
	}
	state = o.state ? absolute(o.state) : default_state_dir();
	if (!state || mkdir_p(state) < 0) {
		fprintf(stderr, "asrfs: cannot create the state directory %s\n", state ? state : "");
		goto out;
	}
	co.state_dir = state;

	if (!o.foreground && daemonize(state, pipefd) < 0)
		goto out;
	if (hup_start() < 0) {
		log_error("cannot set up SIGHUP handling");
		goto out;
	}

	if (o.debug && fuse_opt_add_arg(&o.fuse, "-d") < 0)
		goto out;
	/* Private by default: only the mounting user sees the VMs' bytes.  A
	 * mount shared with -o allow_other shows disks and points to their
	 * owner alone (nodes.c: attr_mode). */
	if (fuse_opt_add_arg(&o.fuse, "-o") < 0 ||
	    fuse_opt_add_arg(&o.fuse, "fsname=asrfs,subtype=asrfs,default_permissions") < 0)
		goto out;
	fs_allow_other = o.allow_other;
	f = fuse_new(&o.fuse, &asrfs_ops, sizeof(asrfs_ops), NULL);
	if (!f) {
		log_error("cannot set up FUSE (see the message above: an unknown -o option?)");
		goto out;
	}
	if (core_start(&co, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	started = 1;
	if (fuse_mount(f, mp) != 0) {
		log_error("cannot mount on %s (is something mounted there already?)", mp);
		goto out;
	}
	mounted = 1;
	/* A shell starts background jobs with SIGINT ignored, and libfuse keeps
	 * an ignored signal ignored: restore the defaults so SIGINT and SIGTERM
	 * always unmount cleanly. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
		log_error("cannot set signal handlers");
		goto out;
	}
	if (metrics && metrics_start(metrics, o.metrics_interval) < 0) {
		log_error("cannot start the metrics-file writer");
		fuse_remove_signal_handlers(fuse_get_session(f));
		goto out;
	}
	log_info("asrfs %s: mounted on %s (state %s, log level %s)", ASRFS_VERSION, mp, state,
		 log_level_name(o.level));
	if (pipefd[1] >= 0) {
		char ok = 0;
		if (write(pipefd[1], &ok, 1) != 1)
			log_warn("cannot tell the parent process: %s", strerror(errno));
		close(pipefd[1]);
		pipefd[1] = -1;
	}
	lc = fuse_loop_cfg_create();
	if (lc) {
		fuse_loop_cfg_set_clone_fd(lc, 0);
		fuse_loop_cfg_set_max_threads(lc, 16);
		rc = fuse_loop_mt(f, lc) == 0 ? 0 : 1;
		fuse_loop_cfg_destroy(lc);
	}
	metrics_end();
	fuse_remove_signal_handlers(fuse_get_session(f));
	log_info("unmounted %s; stopping", mp);
out:
	metrics_end();
	if (mounted)
		fuse_unmount(f);
	asr_close_all();
	if (started)
		core_stop();
	if (f)
		fuse_destroy(f);
	if (pipefd[1] >= 0) {
		char bad = 1;
		if (write(pipefd[1], &bad, 1) != 1)
			rc = 1;
		close(pipefd[1]);
	}
	hup_end();
	options_free(&o);
	free(state);
	free(config);
	free(metrics);
	free(mp);
	return rc;
}
