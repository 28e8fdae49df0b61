/*
 * membe.h - an in-memory backend for the fuzz targets: a few records and
 * read-only disks in a table, so that the real loaders (vault_load,
 * region_load, rpchain_open, blockmap_load) read a fuzzer's bytes through
 * the ordinary backend calls, with no file or network I/O.
 *
 * Records and disks are looked up by exact key; list() reports the
 * immediate children of a prefix from the keys held.  Deletes succeed and
 * change nothing; every other call that would change the medium returns
 * -EROFS.
 */
#ifndef ASRFS_FUZZ_MEMBE_H
#define ASRFS_FUZZ_MEMBE_H

#include <stddef.h>
#include <stdint.h>

#include "../../backend/backend.h"

/* snapshots: advertise disk_snapshot (so a snapshot-mode catalog loads). */
struct backend *membe_new(int snapshots);
void membe_free(struct backend *be);
/* A record (copied); -ENOMEM. */
int membe_rec(struct backend *be, const char *key, const void *data, size_t len);
/* A disk of size bytes whose first len bytes are data (copied), zeros after. */
int membe_disk(struct backend *be, const char *key, const void *data, size_t len, uint64_t size);

#endif
