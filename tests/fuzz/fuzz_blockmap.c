/*
 * fuzz_blockmap.c - libFuzzer target: blockmap_load, the reader of a
 * replica's block-map record.  Each input is tried as it is and once more
 * with its entry checksum made right, so the checks after the checksum are
 * reached too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../../sync/blockmap.h"
#include "membe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_load(const uint8_t *data, size_t size)
{
	struct backend *be = membe_new(0);
	struct blockmap *m = NULL;

	if (!be || membe_rec(be, "map", data, size) < 0)
		abort();
	if (blockmap_load(be, "map", &m) == 0) {
		/* a loaded map is used: every entry read, then resized */
		uint64_t x = 0;
		for (uint64_t i = 0; i < m->npages; i++)
			x += m->h[i].digest[0];
		(void)x;
		if (blockmap_resize(m, m->disk_size + 4096) < 0)
			abort();
		blockmap_free(m);
	}
	membe_free(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	uint64_t h;

	try_load(data, size);
	if (size < 64)
		return 0;
	fixed = malloc(size);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	h = XXH64(fixed + 64, size - 64, 0);
	for (int i = 0; i < 8; i++)
		fixed[32 + i] = (uint8_t)(h >> (56 - 8 * i));
	try_load(fixed, size);
	free(fixed);
	return 0;
}
