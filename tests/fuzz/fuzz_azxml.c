/*
 * fuzz_azxml.c - libFuzzer target: the Blob service's XML answers as the
 * azblob backend reads them (backend/azblob_xml.h): a List Blobs page
 * through az_xml_list, with and without metadata, and the same body
 * searched with xml_elem and decoded with xml_text in the nestings
 * azblob.c uses for snapshot lists (<Blob><Name/><Snapshot/></Blob>) and
 * Get Page Ranges (<PageRange><Start/><End/></PageRange>).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../backend/azblob_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_entry(void *arg, const char *name, int is_prefix, const char *disk)
{
	size_t *n = arg;
	*n += strlen(name) + (size_t)is_prefix + (disk ? strlen(disk) : 0);
	return *n > (1u << 20); /* stop, as a callback may */
}

/* Every <outer> in body, and its two inner elements decoded. */
static void walk_pairs(const char *body, size_t len, const char *outer, const char *a, const char *b)
{
	const char *p = body, *end = body + len, *vb, *ab, *bb;
	size_t vn, an, bn;
	while (p && (p = xml_elem(p, end, outer, &vb, &vn)) != NULL) {
		char *x, *y;
		if (!xml_elem(vb, vb + vn, a, &ab, &an) || !xml_elem(vb, vb + vn, b, &bb, &bn))
			continue;
		x = xml_text(ab, an);
		y = xml_text(bb, bn);
		if (!x || !y)
			abort();
		free(x);
		free(y);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1), *marker;
	size_t n;

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0'; /* as curl's answer buffer is */
	for (int meta = 0; meta < 2; meta++) {
		n = 0;
		marker = NULL;
		(void)az_xml_list(body, size, meta, count_entry, &n, &marker);
		free(marker);
	}
	walk_pairs(body, size, "Blob", "Name", "Snapshot");
	walk_pairs(body, size, "PageRange", "Start", "End");
	free(body);
	return 0;
}
