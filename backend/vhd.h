/*
 * vhd.h - the 512-byte footer of a fixed VHD (Microsoft's "Virtual Hard
 * Disk Image Format Specification"), as Azure keeps page-blob VHDs: the
 * disk's bytes, then this footer.  Built, parsed and checked here; the
 * backends decide where it lives (local: unmanaged ".vhd" files; azblob:
 * every disk's page blob).
 */
#ifndef ASRFS_VHD_H
#define ASRFS_VHD_H

#include <stdint.h>
#include <time.h>

#define VHD_FOOTER_SIZE 512

/* A fresh footer for a fixed disk of `size` bytes (original and current
 * size), created at `now`, with unique id `id` (NULL: a random one, as
 * for every new disk).  0 or -errno. */
int vhd_footer_build(uint8_t f[VHD_FOOTER_SIZE], uint64_t size, time_t now, const uint8_t *id);

/* 0 when f is the footer of a fixed VHD (cookie, version, type, checksum),
 * with its current size in *size; -EINVAL otherwise. */
int vhd_footer_parse(const uint8_t f[VHD_FOOTER_SIZE], uint64_t *size);

/* The same disk at another size: current size, geometry and checksum
 * change; the unique id, times and original size stay. */
void vhd_footer_resize(uint8_t f[VHD_FOOTER_SIZE], uint64_t size);

/* The CHS geometry the VHD specification derives from a size. */
void vhd_geometry(uint64_t size, uint16_t *cyls, uint8_t *heads, uint8_t *secs);

/* 16 random bytes shaped as an RFC 4122 version 4 UUID. 0 or -errno. */
int vhd_uuid4(uint8_t id[16]);

#endif
