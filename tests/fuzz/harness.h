/*
 * harness.h - what the fuzz targets of core's record loaders share: a vault
 * or region on the in-memory backend (membe.h), loaded by the real loader
 * and freed again.
 */
#ifndef ASRFS_FUZZ_HARNESS_H
#define ASRFS_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* A vault "v" whose vault.json, item.json (of item "web01") and one job
 * record are the given bytes (NULL: absent), loaded by vault_load. */
void fz_vault(const uint8_t *vault, size_t vlen, const uint8_t *item, size_t ilen, const uint8_t *job,
	      size_t jlen);
/* A region whose one VM record (resource group rg1) is the given bytes,
 * loaded by region_load. */
void fz_region(const uint8_t *vm, size_t len);

#endif
