/*
 * blockmap.h - the per-page hash map of a replica: XXH3-128 of every 4 KiB
 * page of what was last shipped, in xxHash's canonical (big-endian) form.
 *
 * A replication cycle compares the source's page hashes with the map, so it
 * reads only the source.  The map carries a generation: the sequence number
 * of the recovery point whose contents it describes.  A map whose generation
 * does not match the replica's newest point cannot be trusted and is rebuilt
 * by a full compare.
 *
 * A map may also name the source disk's contents it was read from: the hash
 * of the backend's disk_version token, taken while no write could land.  If
 * that disk later shows the same token, the map describes its bytes exactly,
 * so a reprotect that turns it into the replica need not read it.
 *
 * Stored as one record (backend rec_put): a 64-byte header
 *   "ASRMAP01", u32 page size, u32 reserved, u64 disk size, u64 generation,
 *   u64 xxh64 of the entries, u64 source version, padding
 * followed by 16 bytes per page.  All integers big-endian.
 */
#ifndef ASRFS_BLOCKMAP_H
#define ASRFS_BLOCKMAP_H

#include <stdint.h>
#include <xxhash.h>

#include "../backend/backend.h"

struct blockmap {
	uint64_t disk_size;
	uint64_t npages;
	uint64_t generation;
	uint64_t src_version; /* blockmap_version() of the source's token, 0 unknown */
	XXH128_canonical_t *h; /* npages entries */
	unsigned char *rec;    /* owns h: the record's header room, then the entries */
};

/* An empty map (all entries the hash of a zero page) for a disk of size bytes. */
int blockmap_new(uint64_t size, struct blockmap **out);
/* Resize, new entries set to the zero-page hash. */
int blockmap_resize(struct blockmap *m, uint64_t size);
void blockmap_free(struct blockmap *m);
int blockmap_load(struct backend *be, const char *key, struct blockmap **out); /* -ENOENT, -EBADMSG */
int blockmap_save(struct backend *be, const char *key, const struct blockmap *m);
/* Hash one page (len <= DELTA_PAGE; a short last page is hashed as zero-padded). */
void blockmap_hash_page(const void *page, size_t len, XXH128_canonical_t *out);
/* The non-zero src_version for a backend disk_version token. */
uint64_t blockmap_version(const char *token);
/* The hash of an all-zero page. */
const XXH128_canonical_t *blockmap_zero_hash(void);

#endif
