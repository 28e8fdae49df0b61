/*
 * util.h - small things core/ and fs/ share: a growable string buffer, a
 * string list, RFC 3339 times, control-line parsing and Azure's name rules.
 * Nothing here locks or does I/O.
 */
#ifndef ASRFS_UTIL_H
#define ASRFS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A growable, always NUL-terminated buffer.  On allocation failure it
 * records the error and further appends do nothing (check sb.err once). */
struct sbuf {
	char *buf;
	size_t len, cap;
	int err; /* -ENOMEM once an append failed */
};
void sb_init(struct sbuf *sb);
void sb_free(struct sbuf *sb);
void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_puts(struct sbuf *sb, const char *s);
void sb_putn(struct sbuf *sb, const char *s, size_t n); /* n bytes of s */
/* Take the buffer (caller frees); sb is left empty. */
char *sb_take(struct sbuf *sb, size_t *len);

/* A list of strings. */
struct strlist {
	char **v;
	int n, cap;
};
int sl_add(struct strlist *sl, const char *s);
int sl_has(const struct strlist *sl, const char *s);
void sl_del(struct strlist *sl, const char *s); /* the first s, if any; order kept */
void sl_sort(struct strlist *sl);
void sl_free(struct strlist *sl);

/* "2026-11-24T10:05:00Z"; buf of at least 21 bytes.  0 → "". */
#define TIME_STR 24
void fmt_time(time_t t, char buf[TIME_STR]);
int parse_time(const char *s, time_t *t); /* -EINVAL */

/* A control line: one line, at most 4096 bytes, an optional trailing
 * newline, words separated by spaces: bare words and key=value pairs. */
#define CTL_MAX_WORDS 16
struct ctl_line {
	int nbare, nkv;
	char *bare[CTL_MAX_WORDS];
	char *key[CTL_MAX_WORDS], *val[CTL_MAX_WORDS];
	char buf[4097];
};
/* -EINVAL for an empty or multi-line input, a word too many, "=x" or non-ASCII. */
int ctl_parse(const char *data, size_t len, struct ctl_line *cl, char *err, size_t errlen);
/* The value of key, or NULL; marks it used. */
const char *ctl_get(struct ctl_line *cl, const char *key);
/* -EINVAL naming the first key not in the NULL-terminated allowed[] list. */
int ctl_check_keys(const struct ctl_line *cl, const char *const *allowed, char *err, size_t errlen);

/* Azure's naming rules (SPEC 5); 0 or -EINVAL with the rule in err. */
int name_rg_ok(const char *s, char *err, size_t errlen);
int name_vm_ok(const char *s, char *err, size_t errlen);
int name_sa_ok(const char *s, char *err, size_t errlen);
/* Disks, networks, availability sets, policies, vaults: 1-80 of letters,
 * digits, -_. not starting with '.' */
int name_generic_ok(const char *what, const char *s, char *err, size_t errlen);
/* "10G", "512", "64M": bytes, a multiple of 512, > 0. */
int parse_size(const char *s, uint64_t *out, char *err, size_t errlen);
/* A decimal number in [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Make s a valid storage-account name (lowercase alnum, 3-24). */
void sa_name_sanitize(const char *in, char *out, size_t outlen);

/* A write's buffer is not a C string: copy its first line into dst (n
 * bytes), terminated. */
void line_copy(char *dst, size_t n, const char *line, size_t len);

#endif
