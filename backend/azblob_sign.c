/*
 * azblob_sign.c - SharedKey string-to-sign and HMAC for the azblob backend
 * (see azblob_sign.h).  Follows Microsoft's "Authorize with Shared Key"
 * rules for service version 2015-02-21 and later: Content-Length is empty
 * when zero; x-ms-* header names lowercased, sorted, values trimmed;
 * query parameter names lowercased and values URL-decoded, several values
 * of one name sorted and joined with ','.
 */
#include "azblob_sign.h"
#include "azblob_buf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void az_url_decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;
	for (i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* The value of a header (first match, case-insensitive), or "". */
static const char *hdr_get(const struct az_hdr *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value ? h[i].value : "";
	return "";
}

/* Leading/trailing whitespace trimmed: [*b, *b + *n). */
static void trim(const char *s, const char **b, size_t *n)
{
	size_t len = strlen(s);
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	*b = s;
	*n = len;
}

struct xh {
	char *name; /* lowercased */
	const char *value;
};

static int xh_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xh *)a)->name, ((const struct xh *)b)->name);
}

struct qp {
	char *name;  /* lowercased, decoded */
	char *value; /* decoded */
};

static int qp_cmp(const void *a, const void *b)
{
	const struct qp *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static void add_headers(struct az_buf *b, const struct az_hdr *hdrs, size_t nhdrs)
{
	struct xh *xs;
	size_t n = 0;

	xs = calloc(nhdrs ? nhdrs : 1, sizeof(*xs));
	if (!xs) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < nhdrs; i++) {
		if (strncasecmp(hdrs[i].name, "x-ms-", 5) != 0)
			continue;
		xs[n].name = strdup(hdrs[i].name);
		if (!xs[n].name) {
			b->err = -ENOMEM;
			goto out;
		}
		for (char *p = xs[n].name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		xs[n].value = hdrs[i].value ? hdrs[i].value : "";
		n++;
	}
	if (n > 1)
		qsort(xs, n, sizeof(*xs), xh_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *v;
		size_t vn;
		trim(xs[i].value, &v, &vn);
		az_buf_add(b, xs[i].name);
		az_buf_addn(b, ":", 1);
		az_buf_addn(b, v, vn);
		az_buf_addn(b, "\n", 1);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(xs[i].name);
	free(xs);
}

static void add_query(struct az_buf *b, const char *query)
{
	struct qp *qs = NULL;
	size_t n = 0, cap = 0;
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t nl = eq ? (size_t)(eq - p) : len;
		size_t vl = eq ? len - nl - 1 : 0;

		if (len) {
			if (n == cap) {
				struct qp *q = realloc(qs, (cap ? cap * 2 : 8) * sizeof(*qs));
				if (!q) {
					b->err = -ENOMEM;
					goto out;
				}
				qs = q;
				cap = cap ? cap * 2 : 8;
			}
			qs[n].name = malloc(nl + 1);
			qs[n].value = malloc(vl + 1);
			if (!qs[n].name || !qs[n].value) {
				free(qs[n].name);
				free(qs[n].value);
				b->err = -ENOMEM;
				goto out;
			}
			az_url_decode(p, nl, qs[n].name);
			az_url_decode(eq ? eq + 1 : "", vl, qs[n].value);
			for (char *c = qs[n].name; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			n++;
		}
		p = amp ? amp + 1 : NULL;
	}
	if (n > 1)
		qsort(qs, n, sizeof(*qs), qp_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(qs[i].name, qs[i - 1].name) == 0) {
			az_buf_addn(b, ",", 1);
		} else {
			az_buf_addn(b, "\n", 1);
			az_buf_add(b, qs[i].name);
			az_buf_addn(b, ":", 1);
		}
		az_buf_add(b, qs[i].value);
	}
out:
	for (size_t i = 0; i < n; i++) {
		free(qs[i].name);
		free(qs[i].value);
	}
	free(qs);
}

int az_string_to_sign(const char *verb, const char *account, const char *path, const char *query,
		      const struct az_hdr *hdrs, size_t nhdrs, char **out)
{
	static const char *const std[] = {
		"Content-Encoding", "Content-Language", "Content-Length",      "Content-MD5",
		"Content-Type",     "Date",             "If-Modified-Since",   "If-Match",
		"If-None-Match",    "If-Unmodified-Since", "Range",
	};
	struct az_buf b = {0};

	if (!verb || !account || !path || !out)
		return -EINVAL;
	az_buf_add(&b, verb);
	az_buf_addn(&b, "\n", 1);
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		const char *v = hdr_get(hdrs, nhdrs, std[i]);
		if (strcmp(std[i], "Content-Length") == 0 && strcmp(v, "0") == 0)
			v = "";
		az_buf_add(&b, v);
		az_buf_addn(&b, "\n", 1);
	}
	add_headers(&b, hdrs, nhdrs);
	az_buf_addn(&b, "/", 1);
	az_buf_add(&b, account);
	az_buf_add(&b, path);
	add_query(&b, query);
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	return 0;
}

int az_hmac_b64(const unsigned char *key, size_t keylen, const char *sts, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (outlen < 45)
		return -ENOSPC;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)sts, strlen(sts), md, &mdlen) ||
	    mdlen != 32)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return 0;
}

int az_b64_decode(const char *in, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *buf;
	int got;

	while (n && isspace((unsigned char)in[n - 1]))
		n--;
	if (n == 0 || n % 4 != 0)
		return -EINVAL;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	got = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
	if (got < 0 || (size_t)got < pad) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*outlen = (size_t)got - pad;
	return 0;
}

void az_http_date(time_t t, char buf[32])
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, 32, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	snprintf(buf, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday % 7], tm.tm_mday,
		 mo[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
