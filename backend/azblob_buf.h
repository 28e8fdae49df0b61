/*
 * azblob_buf.h - the growable text buffer the azblob backend's parts build
 * strings in: URLs and queries, link owner names, the string to sign
 * (azblob_sign.c), and response bodies and headers as they arrive.  Plain C, no libcurl, so that
 * azblob_sign.c stays testable on its own.
 *
 * Appending never fails on the spot: the first allocation failure sets err
 * (-ENOMEM), later appends do nothing, and the caller checks err once when
 * done.  p is NUL-terminated after every append (NULL while empty).
 */
#ifndef ASRFS_AZBLOB_BUF_H
#define ASRFS_AZBLOB_BUF_H

#include <stddef.h>

struct az_buf {
	char *p;
	size_t len, cap;
	int err;
};

void az_buf_addn(struct az_buf *b, const void *s, size_t n);
void az_buf_add(struct az_buf *b, const char *s);
/* Percent-encode s; '/' kept when keep_slash (a blob path), else encoded. */
void az_buf_add_enc(struct az_buf *b, const char *s, int keep_slash);
/* Free the bytes and empty b (it can be used again). */
void az_buf_free(struct az_buf *b);

#endif
