/*
 * test_core_log.c - unit tests of core/log.c: level names, the level
 * filter, the line format, the repeat filter and log_reopen() after the
 * file was moved away (what logrotate does before its SIGHUP).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../core/log.h"
#include "t.h"

static char dir[] = "/tmp/asrfs-test-log.XXXXXX";
static char path[256], moved[256];
static int saved_stderr = -1;

/* The whole of file f as a string (caller frees); "" when missing. */
static char *slurp(const char *f)
{
	FILE *fp = fopen(f, "r");
	char *s = calloc(1, 65536);
	if (s && fp)
		s[fread(s, 1, 65535, fp)] = '\0';
	if (fp)
		fclose(fp);
	return s;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_level_names(void)
{
	enum log_level l = LVL_ERROR;
	T_EQ_INT(log_parse_level("debug", &l), 0);
	T_EQ_INT(l, LVL_DEBUG);
	T_EQ_INT(log_parse_level("warning", &l), 0);
	T_EQ_INT(l, LVL_WARN);
	T_EQ_INT(log_parse_level("error", &l), 0);
	T_EQ_INT(l, LVL_ERROR);
	T_EQ_INT(log_parse_level("loud", &l), -EINVAL);
	T_EQ_INT(log_parse_level("", &l), -EINVAL);
	T_EQ_INT(log_parse_level("INFO", &l), -EINVAL);
	T_EQ_STR(log_level_name(LVL_INFO), "info");
	T_EQ_STR(log_level_name(LVL_WARN), "warn");
}

static void test_no_file_to_reopen(void)
{
	T_EQ_INT(log_reopen(), -ENOENT);
}

static void test_filter_and_format(void)
{
	char *s;
	T_EQ_INT(log_set_file(path), 0);
	log_set_level(LVL_WARN);
	log_info("an info line %d", 1);
	log_warn("a warn line %d", 2);
	log_error("an error line %d", 3);
	log_debug("a debug line %d", 4);
	logmsg("a logmsg line");
	log_set_level(LVL_DEBUG);
	log_debug("a debug line %d", 5);
	log_set_level(LVL_INFO);
	s = slurp(path);
	T_ASSERT(s);
	T_ASSERT(strstr(s, " asrfs: warn: a warn line 2\n"));
	T_ASSERT(strstr(s, " asrfs: error: an error line 3\n"));
	T_ASSERT(strstr(s, " asrfs: debug: a debug line 5\n"));
	T_ASSERT(!strstr(s, "an info line"));
	T_ASSERT(!strstr(s, "a debug line 4"));
	T_ASSERT(!strstr(s, "a logmsg line"));
	T_EQ_INT(s[4], '-'); /* 2026-11-24T10:05:00Z ... */
	T_EQ_INT(s[19], 'Z');
	free(s);
}

static void test_repeats_counted(void)
{
	char *s;
	for (int i = 0; i < 3; i++)
		log_warn("the same failure");
	s = slurp(path);
	T_ASSERT(s);
	T_EQ_INT(count(s, "the same failure"), 1);
	free(s);
}

static void test_reopen_after_move(void)
{
	char *now, *old;
	T_EQ_INT(rename(path, moved), 0);
	log_info("before the reopen");
	T_EQ_INT(log_reopen(), 0);
	log_info("after the reopen");
	now = slurp(path);
	old = slurp(moved);
	T_ASSERT(now && old);
	T_ASSERT(strstr(old, "before the reopen"));
	T_ASSERT(!strstr(old, "after the reopen"));
	T_ASSERT(strstr(now, "after the reopen"));
	T_ASSERT(!strstr(now, "before the reopen"));
	free(now);
	free(old);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/asrfs.log", dir);
	snprintf(moved, sizeof(moved), "%s/asrfs.log.1", dir);
	/* The log takes stderr over; a failing check's details land in the
	 * log file, its "not ok" line on stdout. */
	saved_stderr = dup(STDERR_FILENO);
	T_RUN(test_level_names);
	T_RUN(test_no_file_to_reopen);
	T_RUN(test_filter_and_format);
	T_RUN(test_repeats_counted);
	T_RUN(test_reopen_after_move);
	/* stderr back to the terminal for the harness's last words */
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(path);
	unlink(moved);
	rmdir(dir);
	T_DONE();
}
