/*
 * log.c - the daemon's log: levels, the repeat filter, stderr, syslog and
 * the log file that SIGHUP reopens.  See log.h.
 */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level = LVL_INFO;
static int log_syslog;
static char *log_path; /* log_lock */

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

int log_parse_level(const char *s, enum log_level *lvl)
{
	for (int i = LVL_ERROR; i <= LVL_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*lvl = (enum log_level)i;
			return 0;
		}
	if (strcmp(s, "warning") == 0) {
		*lvl = LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level lvl)
{
	return lvl >= LVL_ERROR && lvl <= LVL_DEBUG ? level_names[lvl] : "?";
}

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&log_level, lvl, __ATOMIC_RELAXED);
}

void log_use_syslog(int on)
{
	pthread_mutex_lock(&log_lock);
	if (on && !log_syslog)
		openlog("asrfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && log_syslog)
		closelog();
	log_syslog = on;
	pthread_mutex_unlock(&log_lock);
}

/* Point stderr at path (log_lock held). */
static int open_onto_stderr(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600), rc = 0;
	if (fd < 0)
		return -errno;
	fflush(stderr);
	if (dup2(fd, STDERR_FILENO) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int log_set_file(const char *path)
{
	char *p = strdup(path);
	int rc;
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&log_lock);
	rc = open_onto_stderr(p);
	if (rc == 0) {
		free(log_path);
		log_path = p;
		p = NULL;
	}
	pthread_mutex_unlock(&log_lock);
	free(p);
	return rc;
}

int log_reopen(void)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&log_lock);
	if (log_path)
		rc = open_onto_stderr(log_path);
	pthread_mutex_unlock(&log_lock);
	return rc;
}

/* One failure repeated (a full or read-only medium: every retry, every
 * flush) must not flood the log: a line already written in the last
 * LOG_QUIET seconds is counted, not written, and the next time it is
 * written it says how many times it came meanwhile.  Lines are told apart
 * by a hash of their whole text, in a small table (log_lock held). */
#define LOG_QUIET 60
#define LOG_SLOTS 64
static struct {
	uint64_t hash;
	time_t since;
	unsigned long held;
} log_seen[LOG_SLOTS];

static uint64_t text_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void log_at(enum log_level lvl, const char *fmt, ...)
{
	char ts[TIME_STR], line[2048], more[64] = "";
	time_t now = time(NULL);
	uint64_t h;
	unsigned long held = 0;
	va_list ap;
	int slot;

	if (lvl < LVL_ERROR || lvl > LVL_DEBUG)
		lvl = LVL_ERROR;
	if (lvl > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h = text_hash(line);
	slot = (int)(h % LOG_SLOTS);
	fmt_time(now, ts);
	pthread_mutex_lock(&log_lock);
	if (log_seen[slot].hash == h && now - log_seen[slot].since < LOG_QUIET) {
		log_seen[slot].held++;
		pthread_mutex_unlock(&log_lock);
		return;
	}
	if (log_seen[slot].hash == h)
		held = log_seen[slot].held;
	log_seen[slot].hash = h;
	log_seen[slot].since = now;
	log_seen[slot].held = 0;
	if (held)
		snprintf(more, sizeof(more), " (and %lu more times in the last %d s)", held, LOG_QUIET);
	fprintf(stderr, "%s asrfs: %s: %s%s\n", ts, level_names[lvl], line, more);
	fflush(stderr);
	if (log_syslog)
		syslog(level_prio[lvl], "%s: %s%s", level_names[lvl], line, more);
	pthread_mutex_unlock(&log_lock);
}
