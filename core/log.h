/*
 * log.h - the daemon's log: one line per event, each with a level.
 *
 * A line is "<UTC time> asrfs: <level>: <text>" on stderr (the terminal in
 * the foreground; in the background stderr is the log file, reopened on
 * SIGHUP) and, when syslog is on, the same text at the matching syslog
 * priority.  Lines below the configured level are dropped.  logmsg() is
 * log_info(): the plain events of the daemon's life.
 */
#ifndef ASRFS_LOG_H
#define ASRFS_LOG_H

enum log_level { LVL_ERROR, LVL_WARN, LVL_INFO, LVL_DEBUG };

/* "error", "warn" (or "warning"), "info", "debug" -> 0 with *lvl set; -EINVAL. */
int log_parse_level(const char *s, enum log_level *lvl);
const char *log_level_name(enum log_level lvl);
/* Only lines at lvl or more severe are written (default LVL_INFO). */
void log_set_level(enum log_level lvl);
/* Also send every line to syslog (facility daemon, ident "asrfs"). */
void log_use_syslog(int on);
/* Send stderr to path (appending, 0600); remembered for log_reopen().
 * -errno, stderr unchanged on failure. */
int log_set_file(const char *path);
/* Open the file of log_set_file() again, e.g. after logrotate moved it:
 * 0, -ENOENT when there is no log file, or -errno. */
int log_reopen(void);

void log_at(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_at(LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LVL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LVL_DEBUG, __VA_ARGS__)
#define logmsg(...) log_at(LVL_INFO, __VA_ARGS__)

#endif
