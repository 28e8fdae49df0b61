/*
 * vhd.c - the fixed-VHD footer (see vhd.h).
 *
 * Layout (big-endian, the VHD specification's "Hard Disk Footer Format"):
 *    0 cookie "conectix"        8 features (2: reserved bit set)
 *   12 file format 0x00010000  16 data offset (all ones: a fixed disk)
 *   24 timestamp (seconds since 2000-01-01 00:00 UTC)
 *   28 creator application     32 creator version   36 creator host OS
 *   40 original size           48 current size
 *   56 geometry: cylinders (16 bits), heads, sectors per track
 *   60 disk type (2: fixed)    64 checksum (one's complement of the byte
 *                                 sum of the footer, this field as zero)
 *   68 unique id (16)          84 saved state (0)   85.. reserved, zero
 *
 * The creator application is "win " and the host "Wi2k", what Hyper-V and
 * Azure write: readers (qemu among them) then take the current size as the
 * disk's size, where for other creators they round it down to the CHS
 * geometry and a disk would look smaller than it is.
 */
#define _GNU_SOURCE
#include "vhd.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define VHD_COOKIE "conectix"
#define VHD_FEATURES 0x00000002u
#define VHD_VERSION 0x00010000u
#define VHD_FIXED 2u
#define VHD_EPOCH 946684800 /* 2000-01-01T00:00:00Z in Unix time */
#define VHD_CREATOR_VERSION 0x00010000u
#define VHD_HOST_WI2K 0x5769326Bu

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t checksum(const uint8_t f[VHD_FOOTER_SIZE])
{
	uint32_t sum = 0;
	for (int i = 0; i < VHD_FOOTER_SIZE; i++)
		if (i < 64 || i >= 68)
			sum += f[i];
	return ~sum;
}

void vhd_geometry(uint64_t size, uint16_t *cyls, uint8_t *heads, uint8_t *secs)
{
	uint64_t total = size / 512, cth;
	uint32_t spt, hd;

	if (total > 65535ULL * 16 * 255)
		total = 65535ULL * 16 * 255;
	if (total >= 65535ULL * 16 * 63) {
		spt = 255;
		hd = 16;
		cth = total / spt;
	} else {
		spt = 17;
		cth = total / spt;
		hd = (uint32_t)((cth + 1023) / 1024);
		if (hd < 4)
			hd = 4;
		if (cth >= hd * 1024ULL || hd > 16) {
			spt = 31;
			hd = 16;
			cth = total / spt;
		}
		if (cth >= hd * 1024ULL) {
			spt = 63;
			hd = 16;
			cth = total / spt;
		}
	}
	*cyls = (uint16_t)(cth / hd);
	*heads = (uint8_t)hd;
	*secs = (uint8_t)spt;
}

int vhd_uuid4(uint8_t id[16])
{
	size_t got = 0;
	while (got < 16) {
		ssize_t n = getrandom(id + got, 16 - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
	return 0;
}

void vhd_footer_resize(uint8_t f[VHD_FOOTER_SIZE], uint64_t size)
{
	uint16_t c;
	uint8_t h, s;

	put_be(f + 48, size, 8);
	vhd_geometry(size, &c, &h, &s);
	put_be(f + 56, c, 2);
	f[58] = h;
	f[59] = s;
	put_be(f + 64, checksum(f), 4);
}

int vhd_footer_build(uint8_t f[VHD_FOOTER_SIZE], uint64_t size, time_t now, const uint8_t *id)
{
	int rc = 0;

	memset(f, 0, VHD_FOOTER_SIZE);
	memcpy(f, VHD_COOKIE, 8);
	put_be(f + 8, VHD_FEATURES, 4);
	put_be(f + 12, VHD_VERSION, 4);
	put_be(f + 16, UINT64_MAX, 8);
	put_be(f + 24, now > VHD_EPOCH ? (uint64_t)(now - VHD_EPOCH) : 0, 4);
	memcpy(f + 28, "win ", 4);
	put_be(f + 32, VHD_CREATOR_VERSION, 4);
	put_be(f + 36, VHD_HOST_WI2K, 4);
	put_be(f + 40, size, 8);
	put_be(f + 60, VHD_FIXED, 4);
	if (id)
		memcpy(f + 68, id, 16);
	else
		rc = vhd_uuid4(f + 68);
	if (rc < 0)
		return rc;
	vhd_footer_resize(f, size); /* current size, geometry, checksum */
	return 0;
}

int vhd_footer_parse(const uint8_t f[VHD_FOOTER_SIZE], uint64_t *size)
{
	if (memcmp(f, VHD_COOKIE, 8) != 0 || get_be(f + 12, 4) != VHD_VERSION ||
	    get_be(f + 60, 4) != VHD_FIXED || get_be(f + 64, 4) != checksum(f))
		return -EINVAL;
	*size = get_be(f + 48, 8);
	return 0;
}
