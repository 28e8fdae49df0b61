/*
 * util.c - see util.h.
 */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init(struct sbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void sb_free(struct sbuf *sb)
{
	free(sb->buf);
	sb_init(sb);
}

static int sb_reserve(struct sbuf *sb, size_t more)
{
	size_t cap;
	char *nb;
	if (sb->err)
		return sb->err;
	if (sb->len + more + 1 <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + more + 1)
		cap *= 2;
	nb = realloc(sb->buf, cap);
	if (!nb) {
		sb->err = -ENOMEM;
		return sb->err;
	}
	sb->buf = nb;
	sb->cap = cap;
	return 0;
}

void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb_reserve(sb, 0) < 0)
		return;
	/* one pass when it fits in the room left, a second after growing */
	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->buf[sb->len] = '\0';
		return;
	}
	if ((size_t)n >= sb->cap - sb->len) {
		if (sb_reserve(sb, (size_t)n) < 0) {
			sb->buf[sb->len] = '\0';
			return;
		}
		va_start(ap, fmt);
		vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

void sb_putn(struct sbuf *sb, const char *s, size_t n)
{
	if (sb_reserve(sb, n) < 0)
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_puts(struct sbuf *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

char *sb_take(struct sbuf *sb, size_t *len)
{
	char *b;
	if (sb_reserve(sb, 0) < 0)
		return NULL;
	b = sb->buf;
	if (len)
		*len = sb->len;
	sb_init(sb);
	return b;
}

int sl_add(struct strlist *sl, const char *s)
{
	char *d;
	if (sl->n == sl->cap) {
		int cap = sl->cap ? sl->cap * 2 : 16;
		char **nv = realloc(sl->v, (size_t)cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		sl->v = nv;
		sl->cap = cap;
	}
	d = strdup(s);
	if (!d)
		return -ENOMEM;
	sl->v[sl->n++] = d;
	return 0;
}

int sl_has(const struct strlist *sl, const char *s)
{
	for (int i = 0; i < sl->n; i++)
		if (strcmp(sl->v[i], s) == 0)
			return 1;
	return 0;
}

void sl_del(struct strlist *sl, const char *s)
{
	for (int i = 0; i < sl->n; i++)
		if (strcmp(sl->v[i], s) == 0) {
			free(sl->v[i]);
			memmove(&sl->v[i], &sl->v[i + 1], (size_t)(sl->n - i - 1) * sizeof(*sl->v));
			sl->n--;
			return;
		}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sl_sort(struct strlist *sl)
{
	if (sl->n > 1)
		qsort(sl->v, (size_t)sl->n, sizeof(char *), cmp_str);
}

void sl_free(struct strlist *sl)
{
	for (int i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	memset(sl, 0, sizeof(*sl));
}

void fmt_time(time_t t, char buf[TIME_STR])
{
	struct tm tm;
	if (t <= 0 || !gmtime_r(&t, &tm)) {
		buf[0] = '\0';
		return;
	}
	strftime(buf, TIME_STR, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int parse_time(const char *s, time_t *t)
{
	struct tm tm;
	char *end;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	*t = timegm(&tm);
	return 0;
}

int ctl_parse(const char *data, size_t len, struct ctl_line *cl, char *err, size_t errlen)
{
	char *p, *save = NULL, *w;

	memset(cl, 0, sizeof(*cl));
	if (len > 4096) {
		snprintf(err, errlen, "a control line is at most 4096 bytes");
		return -EINVAL;
	}
	memcpy(cl->buf, data, len);
	cl->buf[len] = '\0';
	if (len && cl->buf[len - 1] == '\n')
		cl->buf[--len] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)cl->buf[i];
		if (c == '\n') {
			snprintf(err, errlen, "one line only");
			return -EINVAL;
		}
		if (c == '\t' || c == '\r')
			cl->buf[i] = ' ';
		else if (c < 0x20 || c > 0x7e) {
			snprintf(err, errlen, "only printable ASCII is accepted");
			return -EINVAL;
		}
	}
	for (p = cl->buf; (w = strtok_r(p, " ", &save)) != NULL; p = NULL) {
		char *eq = strchr(w, '=');
		if (eq) {
			if (eq == w || cl->nkv == CTL_MAX_WORDS) {
				snprintf(err, errlen, eq == w ? "malformed word '%s'" : "too many words", w);
				return -EINVAL;
			}
			*eq = '\0';
			for (int i = 0; i < cl->nkv; i++)
				if (strcmp(cl->key[i], w) == 0) {
					snprintf(err, errlen, "key '%s' given twice", w);
					return -EINVAL;
				}
			cl->key[cl->nkv] = w;
			cl->val[cl->nkv++] = eq + 1;
		} else {
			if (cl->nbare == CTL_MAX_WORDS) {
				snprintf(err, errlen, "too many words");
				return -EINVAL;
			}
			cl->bare[cl->nbare++] = w;
		}
	}
	if (cl->nbare + cl->nkv == 0) {
		snprintf(err, errlen, "empty line");
		return -EINVAL;
	}
	return 0;
}

const char *ctl_get(struct ctl_line *cl, const char *key)
{
	for (int i = 0; i < cl->nkv; i++)
		if (strcmp(cl->key[i], key) == 0)
			return cl->val[i];
	return NULL;
}

int ctl_check_keys(const struct ctl_line *cl, const char *const *allowed, char *err, size_t errlen)
{
	for (int i = 0; i < cl->nkv; i++) {
		int ok = 0;
		for (const char *const *a = allowed; a && *a; a++)
			if (strcmp(*a, cl->key[i]) == 0)
				ok = 1;
		if (!ok) {
			snprintf(err, errlen, "unknown key '%s'", cl->key[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int all_chars(const char *s, const char *extra, int upper_ok)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isdigit(c) || (c >= 'a' && c <= 'z') || (upper_ok && c >= 'A' && c <= 'Z'))
			continue;
		if (!strchr(extra, c))
			return 0;
	}
	return 1;
}

int name_rg_ok(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n >= 1 && n <= 90 && all_chars(s, "-_.()", 1) && s[n - 1] != '.')
		return 0;
	snprintf(err, errlen,
		 "bad resource group name '%s': 1-90 letters, digits, -_.() and not ending in '.'", s);
	return -EINVAL;
}

int name_vm_ok(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n >= 1 && n <= 64 && all_chars(s, "-_.", 1) && s[0] != '.')
		return 0;
	snprintf(err, errlen, "bad VM name '%s': 1-64 letters, digits, -_.", s);
	return -EINVAL;
}

int name_sa_ok(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n >= 3 && n <= 24 && all_chars(s, "", 0))
		return 0;
	snprintf(err, errlen, "bad storage account name '%s': 3-24 lowercase letters and digits", s);
	return -EINVAL;
}

int name_generic_ok(const char *what, const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n >= 1 && n <= 80 && all_chars(s, "-_.", 1) && s[0] != '.')
		return 0;
	snprintf(err, errlen, "bad %s name '%s': 1-80 letters, digits, -_. not starting with '.'", what, s);
	return -EINVAL;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t v, mul = 1;

	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K': case 'k': mul = 1ull << 10; break;
	case 'M': case 'm': mul = 1ull << 20; break;
	case 'G': case 'g': mul = 1ull << 30; break;
	case 'T': case 't': mul = 1ull << 40; break;
	default: break;
	}
	if (mul != 1)
		num[n - 1] = '\0';
	if (parse_u64(num, 1, UINT64_MAX / mul, &v) < 0)
		goto bad;
	v *= mul;
	if (v % 512) {
		snprintf(err, errlen, "disk size %s is not a multiple of 512 bytes", s);
		return -EINVAL;
	}
	*out = v;
	return 0;
bad:
	snprintf(err, errlen, "bad size '%s': a number of bytes with an optional K, M, G or T", s);
	return -EINVAL;
}

void sa_name_sanitize(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (; *in && o + 1 < outlen && o < 24; in++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*in);
		if (isdigit(c) || (c >= 'a' && c <= 'z'))
			out[o++] = (char)c;
	}
	while (o < 3 && o + 1 < outlen)
		out[o++] = '0';
	out[o] = '\0';
}

/* A write's buffer is not a C string: copy its first line, terminated. */
void line_copy(char *dst, size_t n, const char *line, size_t len)
{
	const char *nl = memchr(line, '\n', len);
	size_t k = nl ? (size_t)(nl - line) : len;
	if (k >= n)
		k = n - 1;
	memcpy(dst, line, k);
	dst[k] = '\0';
}
