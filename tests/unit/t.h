/*
 * t.h - a very small unit-test harness.
 *
 * A test file defines functions `static void test_x(void)` and lists them
 * in main() with T_RUN(test_x).  Each check prints nothing when it holds;
 * a failing check prints where and why and marks the running test failed.
 * Every test prints one TAP-like line, "ok - name" or "not ok - name",
 * which tests/run.sh counts.
 */
#ifndef ASRFS_T_H
#define ASRFS_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_now;
static int t_failures;

#define T_FAIL(...)                                                            \
	do {                                                                   \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);              \
		fprintf(stderr, __VA_ARGS__);                                  \
		fprintf(stderr, "\n");                                         \
		t_failed_now = 1;                                              \
	} while (0)

#define T_ASSERT(c)                                                            \
	do {                                                                   \
		if (!(c)) {                                                    \
			T_FAIL("assertion failed: %s", #c);                    \
			return;                                                \
		}                                                              \
	} while (0)

#define T_EQ_INT(a, b)                                                         \
	do {                                                                   \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);        \
		if (t_a_ != t_b_) {                                            \
			T_FAIL("%s == %lld, expected %s == %lld", #a, t_a_, #b, t_b_); \
			return;                                                \
		}                                                              \
	} while (0)

#define T_EQ_STR(a, b)                                                         \
	do {                                                                   \
		const char *t_a_ = (a), *t_b_ = (b);                           \
		if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {               \
			T_FAIL("%s == \"%s\", expected \"%s\"", #a, t_a_ ? t_a_ : "(null)", \
			       t_b_ ? t_b_ : "(null)");                        \
			return;                                                \
		}                                                              \
	} while (0)

#define T_RUN(fn)                                                              \
	do {                                                                   \
		t_failed_now = 0;                                              \
		fn();                                                          \
		printf("%s - %s\n", t_failed_now ? "not ok" : "ok", #fn);      \
		fflush(stdout);                                                \
		t_failures += t_failed_now;                                    \
	} while (0)

#define T_DONE() return t_failures ? 1 : 0

#endif
