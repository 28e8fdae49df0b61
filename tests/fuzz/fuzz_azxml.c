/*
 * fuzz_azxml.c - libFuzzer target: the Blob service's XML answers as the
 * azblob backend reads them (backend/azblob_xml.h, libxml2 underneath): a
 * List Blobs page through az_xml_list, with and without metadata (blobs,
 * prefixes, snapshots, the next marker), and the same body as a Get Page
 * Ranges answer through az_xml_page_ranges.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../backend/azblob_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_entry(void *arg, const char *name, int is_prefix, const char *disk, const char *snapshot)
{
	size_t *n = arg;
	*n += strlen(name) + (size_t)is_prefix + (disk ? strlen(disk) : 0) + (snapshot ? strlen(snapshot) : 0);
	return *n > (1u << 20); /* stop, as a callback may */
}

static int count_range(void *arg, uint64_t first, uint64_t last)
{
	size_t *n = arg;
	if (last < first)
		abort(); /* az_xml_page_ranges promises first <= last */
	return ++*n > 100000;
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
	n = 0;
	(void)az_xml_page_ranges(body, size, count_range, &n);
	free(body);
	return 0;
}
