/*
 * azblob_xml.h - reading the Blob service's XML answers (List Blobs, Get
 * Page Ranges): just enough XML for them, no parser library.  Kept apart
 * from the HTTP code in azblob.c so that it can be fuzzed on its own
 * (tests/fuzz/fuzz_azxml.c); nothing here depends on libcurl.
 */
#ifndef ASRFS_AZBLOB_XML_H
#define ASRFS_AZBLOB_XML_H

#include <stddef.h>

/* Decode XML character references and the five entities of s[0..n);
 * malloc'd, NULL when out of memory. */
char *xml_text(const char *s, size_t n);

/* The next element <tag ...>text</tag> (or <tag/>) at or after p, before
 * end: its text in [*vb, *vb + *vn); returns the position after it, or NULL. */
const char *xml_elem(const char *p, const char *end, const char *tag, const char **vb, size_t *vn);

/* One entry of a List Blobs page: a blob or (is_prefix) a virtual
 * directory, with its asrfsdisk metadata (NULL: none or not asked for).
 * Non-zero stops the walk. */
typedef int (*list_fn)(void *arg, const char *name, int is_prefix, const char *disk);

/* Walk a List Blobs answer body[0..len) (NUL-terminated at len): fn for
 * each <Blob> and <BlobPrefix> in order (with metadata when meta), then
 * *marker = the NextMarker, malloc'd, if the page has one (left alone
 * otherwise).  0, 1 when fn stopped it, fn's negative value, or -ENOMEM. */
int az_xml_list(const char *body, size_t len, int meta, list_fn fn, void *arg, char **marker);

#endif
