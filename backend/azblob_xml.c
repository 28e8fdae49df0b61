/*
 * azblob_xml.c - the little XML the azblob backend reads from the Blob
 * service: element text, entity decoding and List Blobs pages (see
 * azblob_xml.h).  Plain C, no libcurl: split from azblob.c so that it can be
 * fuzzed (tests/fuzz/fuzz_azxml.c).
 */
#include "azblob_xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Decode XML character references and the five entities of s[0..n). */
char *xml_text(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i = 0;
	if (!out)
		return NULL;
	while (i < n) {
		if (s[i] == '&') {
			static const struct {
				const char *e;
				char c;
			} ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
			size_t k, matched = 0;
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].e);
				if (n - i >= el && memcmp(s + i, ents[k].e, el) == 0) {
					*o++ = ents[k].c;
					i += el;
					matched = 1;
					break;
				}
			}
			if (matched)
				continue;
			if (n - i > 3 && s[i + 1] == '#') {
				const char *semi = memchr(s + i, ';', n - i);
				if (semi) {
					int hexa = s[i + 2] == 'x' || s[i + 2] == 'X';
					unsigned long cp = strtoul(s + i + 2 + hexa, NULL, hexa ? 16 : 10);
					/* UTF-8 encode the code point. */
					if (cp < 0x80) {
						*o++ = (char)cp;
					} else if (cp < 0x800) {
						*o++ = (char)(0xC0 | (cp >> 6));
						*o++ = (char)(0x80 | (cp & 0x3F));
					} else if (cp < 0x10000) {
						*o++ = (char)(0xE0 | (cp >> 12));
						*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
						*o++ = (char)(0x80 | (cp & 0x3F));
					} else {
						*o++ = (char)(0xF0 | ((cp >> 18) & 0x07));
						*o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
						*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
						*o++ = (char)(0x80 | (cp & 0x3F));
					}
					/* An entity is at least 4 bytes, its UTF-8 at most 4. */
					i = (size_t)(semi - s) + 1;
					continue;
				}
			}
		}
		*o++ = s[i++];
	}
	*o = '\0';
	return out;
}

/* The next element <tag ...>text</tag> (or <tag/>) at or after p, before
 * end: its text in [*vb, *vb + *vn); returns the position after it, or NULL. */
const char *xml_elem(const char *p, const char *end, const char *tag, const char **vb, size_t *vn)
{
	size_t tl = strlen(tag);
	while (p && p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		const char *gt;
		if (!lt)
			return NULL;
		if ((size_t)(end - lt) > tl + 1 && memcmp(lt + 1, tag, tl) == 0 &&
		    (lt[tl + 1] == '>' || lt[tl + 1] == ' ' || lt[tl + 1] == '/')) {
			gt = memchr(lt, '>', (size_t)(end - lt));
			if (!gt)
				return NULL;
			if (gt[-1] == '/') {
				*vb = gt;
				*vn = 0;
				return gt + 1;
			}
			{
				const char *c = gt + 1;
				for (;;) {
					const char *lt2 = memchr(c, '<', (size_t)(end - c));
					if (!lt2)
						return NULL;
					if ((size_t)(end - lt2) >= tl + 3 && lt2[1] == '/' &&
					    memcmp(lt2 + 2, tag, tl) == 0 && lt2[tl + 2] == '>') {
						*vb = gt + 1;
						*vn = (size_t)(lt2 - (gt + 1));
						return lt2 + tl + 3;
					}
					c = lt2 + 1;
				}
			}
		}
		p = lt + 1;
	}
	return NULL;
}

int az_xml_list(const char *body, size_t len, int meta, list_fn fn, void *arg, char **marker)
{
	const char *p, *end, *vb;
	size_t vn;
	int rc = 0;

	p = body;
	end = body + len;
	/* Entries: <Blob><Name>..</Name>...</Blob> and <BlobPrefix><Name>..</Name></BlobPrefix>. */
	for (;;) {
		const char *b1 = strstr(p, "<Blob>"), *b2 = strstr(p, "<BlobPrefix>"), *at, *bend;
		int is_prefix;
		char *name, *disk = NULL;
		if (!b1 && !b2)
			break;
		is_prefix = !b1 || (b2 && b2 < b1);
		at = is_prefix ? b2 : b1;
		p = xml_elem(at, end, "Name", &vb, &vn);
		if (!p)
			break;
		name = xml_text(vb, vn);
		if (!name)
			return -ENOMEM;
		bend = is_prefix ? NULL : strstr(p, "</Blob>");
		if (meta && bend && xml_elem(p, bend, "asrfsdisk", &vb, &vn)) {
			disk = xml_text(vb, vn);
			if (!disk) {
				free(name);
				return -ENOMEM;
			}
		}
		rc = fn(arg, name, is_prefix, disk);
		free(name);
		free(disk);
		if (rc)
			return rc < 0 ? rc : 1;
	}
	if (xml_elem(body, end, "NextMarker", &vb, &vn) && vn > 0) {
		*marker = xml_text(vb, vn);
		if (!*marker)
			rc = -ENOMEM;
	}
	return rc;
}
