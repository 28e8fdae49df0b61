/*
 * azblob_sign.h - Azure Storage "SharedKey" request signing, kept apart
 * from the HTTP code in azblob_http.c so it can be unit-tested on its own
 * (tests/unit/test_azblob_sign.c).
 *
 * A request is signed with HMAC-SHA256, keyed by the base64-decoded account
 * key, over a "string to sign" built from the verb, a fixed list of standard
 * headers, the x-ms-* headers (lowercased, sorted) and the canonicalized
 * resource ("/" account path-as-sent, then the decoded query parameters,
 * lowercased and sorted, one "\nname:value" each).  The header value is
 * "SharedKey <account>:<base64 signature>".  Everything here is plain C and
 * OpenSSL libcrypto; nothing depends on libcurl.
 */
#ifndef ASRFS_AZBLOB_SIGN_H
#define ASRFS_AZBLOB_SIGN_H

#include <stddef.h>
#include <time.h>

/* One request header as sent. */
struct az_hdr {
	const char *name;
	const char *value;
};

/* The string to sign for a request.  path is the URL path exactly as sent
 * (percent-encoded, starting with '/'); query is the raw query string
 * without '?' (NULL or "" for none).  *out is malloc'd.  0 or -errno. */
int az_string_to_sign(const char *verb, const char *account, const char *path, const char *query,
		      const struct az_hdr *hdrs, size_t nhdrs, char **out);

/* base64(HMAC-SHA256(key, sts)) into out (at least 45 bytes).  0 or -errno. */
int az_hmac_b64(const unsigned char *key, size_t keylen, const char *sts, char *out, size_t outlen);

/* Decode base64 text; *out is malloc'd.  -EINVAL when it is not base64. */
int az_b64_decode(const char *in, unsigned char **out, size_t *outlen);

/* The RFC 1123 date Azure wants in x-ms-date ("Sun, 06 Nov 1994 08:49:37
 * GMT"), independent of the locale. */
void az_http_date(time_t t, char buf[32]);

/* Percent-decode s[0..n) into out (at least n+1 bytes); '+' stays '+'. */
void az_url_decode(const char *s, size_t n, char *out);

#endif
