/*
 * azblob_xml.h - reading the Blob service's XML answers (List Blobs, Get
 * Page Ranges) with libxml2.  Kept apart from the HTTP code in
 * azblob_http.c so that it can be fuzzed on its own
 * (tests/fuzz/fuzz_azxml.c); nothing here depends on libcurl.
 */
#ifndef ASRFS_AZBLOB_XML_H
#define ASRFS_AZBLOB_XML_H

#include <stddef.h>
#include <stdint.h>

/* One entry of a List Blobs page: a blob or (is_prefix) a virtual
 * directory, with its asrfsdisk metadata (NULL: none, or meta not asked)
 * and, for a blob snapshot (include=snapshots), its snapshot time (NULL:
 * the blob itself).  Non-zero stops the walk. */
typedef int (*list_fn)(void *arg, const char *name, int is_prefix, const char *disk, const char *snapshot);

/* Walk a List Blobs answer body[0..len): fn for each <Blob> and
 * <BlobPrefix> in document order (with metadata when meta), then *marker =
 * the NextMarker, malloc'd, if the page has a non-empty one (left alone
 * otherwise).  0, 1 when fn stopped it, fn's negative value, -EIO when the
 * body is not a List Blobs answer, or -ENOMEM. */
int az_xml_list(const char *body, size_t len, int meta, list_fn fn, void *arg, char **marker);

/* One <PageRange> of a Get Page Ranges answer: bytes [first, last], as
 * the service says them (last inclusive).  Non-zero stops the walk. */
typedef int (*range_fn)(void *arg, uint64_t first, uint64_t last);

/* Walk a Get Page Ranges answer body[0..len): fn for each <PageRange>
 * (clear ranges are not data).  0, 1 when fn stopped it, fn's negative
 * value, -EIO when the body is not a page list or a number is not one. */
int az_xml_page_ranges(const char *body, size_t len, range_fn fn, void *arg);

#endif
