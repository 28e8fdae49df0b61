/*
 * blockmap.c - the per-page hash map of a replica (see blockmap.h).
 *
 * The delta engine's map mode compares XXH3-128 hashes of source pages with
 * these entries so a replication cycle reads only the source; core/ keeps one
 * map per replica disk as a backend record.  Entries are kept in xxHash's
 * canonical (big-endian) form in memory too, so saving is a plain copy and a
 * map written on one machine loads on any other.
 *
 * Record layout (all integers big-endian):
 *   0  "ASRMAP01"
 *   8  u32 page size (DELTA_PAGE)
 *  12  u32 reserved (0)
 *  16  u64 disk size in bytes
 *  24  u64 generation
 *  32  u64 XXH64 (seed 0) of the entry bytes
 *  40  u64 source version: blockmap_version() of the disk the map was
 *      read from, 0 when unknown (maps written before it existed)
 *  48  zero padding to 64
 *  64  16 bytes per page, ceil(disk size / page) entries
 */
#include "blockmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "bytes.h"

#define MAP_MAGIC "ASRMAP01"
#define MAP_HDR 64u

static void page_hash128(const void *page, uint64_t *high, uint64_t *low);

static XXH128_canonical_t zero_hash;
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;

static void zero_hash_init(void)
{
	static const unsigned char zeros[DELTA_PAGE];
	XXH128_canonicalFromHash(&zero_hash, XXH3_128bits(zeros, sizeof(zeros)));
}

const XXH128_canonical_t *blockmap_zero_hash(void)
{
	pthread_once(&zero_once, zero_hash_init);
	return &zero_hash;
}

/* Canonical form: high64 then low64, each most significant byte first. */
static void put_canonical(XXH128_canonical_t *out, uint64_t high, uint64_t low)
{
	for (int i = 7; i >= 0; i--, high >>= 8, low >>= 8) {
		out->digest[i] = (unsigned char)high;
		out->digest[8 + i] = (unsigned char)low;
	}
}

void blockmap_hash_page(const void *page, size_t len, XXH128_canonical_t *out)
{
	unsigned char pad[DELTA_PAGE];
	uint64_t high, low;

	if (len < DELTA_PAGE) {
		memcpy(pad, page, len);
		memset(pad + len, 0, DELTA_PAGE - len);
		page = pad;
	}
	page_hash128(page, &high, &low);
	put_canonical(out, high, low);
}

static uint64_t pages_of(uint64_t size)
{
	return size / DELTA_PAGE + (size % DELTA_PAGE != 0);
}

/* A map's memory is its record: MAP_HDR bytes of header room, then the
 * entries, so save and load move no entry bytes.  Fresh memory costs a page
 * fault per 4 KiB (about 20 us on a virtual machine: more than 5 ms for the
 * map of a 256 MiB disk), so no copy of a map is ever made.  Room for
 * npages entries (at least one) in m->rec, m->h pointing at them. */
static int alloc_entries(struct blockmap *m, uint64_t npages)
{
	unsigned char *rec;

	if (npages > (SIZE_MAX - MAP_HDR) / sizeof(XXH128_canonical_t) - 1)
		return -ENOMEM;
	rec = realloc(m->rec, MAP_HDR + (size_t)(npages ? npages : 1) * sizeof(XXH128_canonical_t));
	if (!rec)
		return -ENOMEM;
	m->rec = rec;
	m->h = (XXH128_canonical_t *)(void *)(rec + MAP_HDR);
	return 0;
}

static void fill_zero(XXH128_canonical_t *h, uint64_t from, uint64_t to)
{
	const XXH128_canonical_t *z = blockmap_zero_hash();
	for (uint64_t i = from; i < to; i++)
		h[i] = *z;
}

int blockmap_new(uint64_t size, struct blockmap **out)
{
	struct blockmap *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->npages = pages_of(size);
	m->disk_size = size;
	if (alloc_entries(m, m->npages) < 0) {
		free(m);
		return -ENOMEM;
	}
	fill_zero(m->h, 0, m->npages);
	*out = m;
	return 0;
}

int blockmap_resize(struct blockmap *m, uint64_t size)
{
	uint64_t n = pages_of(size);

	if (n != m->npages) {
		if (alloc_entries(m, n) < 0)
			return -ENOMEM;
		if (n > m->npages)
			fill_zero(m->h, m->npages, n);
		m->npages = n;
	}
	m->disk_size = size;
	return 0;
}

void blockmap_free(struct blockmap *m)
{
	if (!m)
		return;
	free(m->rec);
	free(m);
}

/* The header goes into the map's own header room (so a map is saved by
 * one thread at a time), and the record is written from there. */
int blockmap_save(struct backend *be, const char *key, const struct blockmap *m)
{
	unsigned char *buf = m->rec;
	size_t elen;

	if (m->npages != pages_of(m->disk_size))
		return -EINVAL;
	elen = (size_t)m->npages * sizeof(XXH128_canonical_t);
	memset(buf, 0, MAP_HDR);
	memcpy(buf, MAP_MAGIC, 8);
	put_be32(buf + 8, DELTA_PAGE);
	put_be32(buf + 12, 0);
	put_be64(buf + 16, m->disk_size);
	put_be64(buf + 24, m->generation);
	put_be64(buf + 32, XXH64(buf + MAP_HDR, elen, 0));
	put_be64(buf + 40, m->src_version);
	return be_rec_put(be, key, buf, MAP_HDR + elen, NULL, NULL);
}

int blockmap_load(struct backend *be, const char *key, struct blockmap **out)
{
	struct blockmap *m = NULL;
	unsigned char *buf = NULL;
	char *data = NULL;
	size_t len = 0, elen;
	uint64_t size, npages;
	int rc;

	rc = be_rec_get(be, key, &data, &len, NULL);
	if (rc < 0)
		return rc;
	buf = (unsigned char *)data;
	rc = -EBADMSG;
	if (len < MAP_HDR || memcmp(buf, MAP_MAGIC, 8) != 0)
		goto out;
	if (get_be32(buf + 8) != DELTA_PAGE || get_be32(buf + 12) != 0)
		goto out;
	size = get_be64(buf + 16);
	npages = pages_of(size);
	if (npages > (len - MAP_HDR) / sizeof(XXH128_canonical_t))
		goto out;
	elen = (size_t)npages * sizeof(XXH128_canonical_t);
	if (len - MAP_HDR != elen)
		goto out;
	if (XXH64(buf + MAP_HDR, elen, 0) != get_be64(buf + 32))
		goto out;
	for (unsigned i = 48; i < MAP_HDR; i++)
		if (buf[i])
			goto out;
	m = calloc(1, sizeof(*m));
	if (!m) {
		rc = -ENOMEM;
		goto out;
	}
	m->disk_size = size;
	m->npages = npages;
	m->generation = get_be64(buf + 24);
	m->src_version = get_be64(buf + 40);
	if (npages == 0) { /* a map owns room for one entry */
		rc = alloc_entries(m, 0);
		if (rc < 0)
			goto out;
	} else {
		m->rec = buf; /* the record is the map's memory */
		m->h = (XXH128_canonical_t *)(void *)(buf + MAP_HDR);
		data = NULL;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	blockmap_free(m);
	free(data);
	return rc;
}

/*
 * The page hash, compiled in: xxhash.h allows a second include with
 * XXH_INLINE_ALL after the plain one, which renames its symbols and types
 * from here to the end of the file (hence last, behind a plain-integer
 * interface).  It is compiled for AVX2 (XXH3's wide vector path) and used
 * when the CPU has AVX2; otherwise the shared library's XXH3_128bits does the
 * work.  Measured per 4 KiB page: about 3x the shared library's speed.  Same
 * XXH3-128 results either way (the unit test checks them against
 * libxxhash's XXH3_128bits and XXH128_canonicalFromHash).
 */
static void page_hash128_lib(const void *page, uint64_t *high, uint64_t *low)
{
	XXH128_hash_t h = XXH3_128bits(page, DELTA_PAGE);
	*high = h.high64;
	*low = h.low64;
}

#pragma GCC push_options
#pragma GCC target("avx2")
#define XXH_INLINE_ALL
#include <xxhash.h>

static void page_hash128_avx2(const void *page, uint64_t *high, uint64_t *low)
{
	XXH128_hash_t h = XXH3_128bits(page, DELTA_PAGE);
	*high = h.high64;
	*low = h.low64;
}
#pragma GCC pop_options

static void page_hash128(const void *page, uint64_t *high, uint64_t *low)
{
	static int have_avx2 = -1;
	int a = __atomic_load_n(&have_avx2, __ATOMIC_RELAXED);

	if (a < 0) {
		__builtin_cpu_init();
		a = __builtin_cpu_supports("avx2") ? 1 : 0;
		__atomic_store_n(&have_avx2, a, __ATOMIC_RELAXED);
	}
	if (a)
		page_hash128_avx2(page, high, low);
	else
		page_hash128_lib(page, high, low);
}

uint64_t blockmap_version(const char *token)
{
	return XXH3_64bits(token, strlen(token)) | 1;
}
