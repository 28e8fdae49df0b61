/*
 * azblob_buf.c - the growable text buffer of the azblob backend
 * (azblob_buf.h): appending, percent-encoding, freeing.
 */
#include "azblob_buf.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void az_buf_addn(struct az_buf *b, const void *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void az_buf_add(struct az_buf *b, const char *s)
{
	az_buf_addn(b, s, strlen(s));
}

void az_buf_free(struct az_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Percent-encode s; '/' kept when keep_slash (a blob path), else encoded. */
void az_buf_add_enc(struct az_buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			az_buf_addn(b, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			az_buf_addn(b, e, 3);
		}
	}
}
