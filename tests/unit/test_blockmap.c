/*
 * test_blockmap.c - unit tests of sync/blockmap.c: page hashing in xxHash's
 * canonical big-endian form, resizing, and the stored record (round trip
 * through a local backend, and every kind of corruption rejected with
 * -EBADMSG).
 */
#define _GNU_SOURCE
#include "t.h"

#include <errno.h>
#include <ftw.h>
#include <unistd.h>

#include "../../sync/blockmap.h"
#include "../../sync/delta.h"

static char dir[64];

static void test_zero_hash(void)
{
	static const unsigned char zeros[DELTA_PAGE];
	XXH128_canonical_t want, got;
	struct blockmap *m = NULL;

	XXH128_canonicalFromHash(&want, XXH3_128bits(zeros, sizeof(zeros)));
	T_ASSERT(memcmp(blockmap_zero_hash(), &want, sizeof(want)) == 0);
	blockmap_hash_page(zeros, DELTA_PAGE, &got);
	T_ASSERT(memcmp(&got, &want, sizeof(want)) == 0);
	T_EQ_INT(blockmap_new(3 * DELTA_PAGE + 1, &m), 0);
	T_EQ_INT(m->npages, 4);
	T_EQ_INT(m->disk_size, 3 * DELTA_PAGE + 1);
	for (uint64_t i = 0; i < m->npages; i++)
		T_ASSERT(memcmp(&m->h[i], &want, sizeof(want)) == 0);
	blockmap_free(m);
}

static void test_canonical_is_big_endian(void)
{
	unsigned char page[DELTA_PAGE];
	XXH128_canonical_t c;
	XXH128_hash_t h;

	for (unsigned i = 0; i < sizeof(page); i++)
		page[i] = (unsigned char)(i * 7 + 3);
	h = XXH3_128bits(page, sizeof(page));
	blockmap_hash_page(page, sizeof(page), &c);
	/* high64 first, most significant byte first */
	for (int i = 0; i < 8; i++) {
		T_EQ_INT(c.digest[i], (h.high64 >> (56 - 8 * i)) & 0xff);
		T_EQ_INT(c.digest[8 + i], (h.low64 >> (56 - 8 * i)) & 0xff);
	}
	/* and it round-trips through xxHash's own reader */
	{
		XXH128_hash_t back = XXH128_hashFromCanonical(&c);
		T_ASSERT(back.high64 == h.high64 && back.low64 == h.low64);
	}
	/* a known vector: empty input's XXH3-128 is fixed by the xxHash spec */
	{
		XXH128_hash_t e = XXH3_128bits("", 0);
		XXH128_canonical_t ec;
		XXH128_canonicalFromHash(&ec, e);
		T_EQ_INT(e.high64, 0x99aa06d3014798d8ull);
		T_EQ_INT(e.low64, 0x6001c324468d497full);
		T_EQ_INT(ec.digest[0], 0x99);
		T_EQ_INT(ec.digest[15], 0x7f);
	}
}

static void test_short_page_is_zero_padded(void)
{
	unsigned char page[DELTA_PAGE];
	XXH128_canonical_t a, b;

	memset(page, 0, sizeof(page));
	memset(page, 0xab, 100);
	blockmap_hash_page(page, 100, &a);
	blockmap_hash_page(page, DELTA_PAGE, &b);
	T_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
	page[200] = 1; /* past len: must not count */
	blockmap_hash_page(page, 100, &a);
	T_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
	blockmap_hash_page(page, DELTA_PAGE, &a);
	T_ASSERT(memcmp(&a, &b, sizeof(a)) != 0);
}

static void test_resize(void)
{
	struct blockmap *m = NULL;
	XXH128_canonical_t x;

	memset(&x, 0x11, sizeof(x));
	T_EQ_INT(blockmap_new(2 * DELTA_PAGE, &m), 0);
	m->h[1] = x;
	T_EQ_INT(blockmap_resize(m, 10 * DELTA_PAGE - 1), 0);
	T_EQ_INT(m->npages, 10);
	T_EQ_INT(m->disk_size, 10 * DELTA_PAGE - 1);
	T_ASSERT(memcmp(&m->h[1], &x, sizeof(x)) == 0);
	for (int i = 2; i < 10; i++)
		T_ASSERT(memcmp(&m->h[i], blockmap_zero_hash(), sizeof(x)) == 0);
	T_EQ_INT(blockmap_resize(m, DELTA_PAGE + 1), 0);
	T_EQ_INT(m->npages, 2);
	T_ASSERT(memcmp(&m->h[1], &x, sizeof(x)) == 0);
	T_EQ_INT(blockmap_resize(m, 0), 0);
	T_EQ_INT(m->npages, 0);
	blockmap_free(m);
}

static int open_backend(struct backend **be)
{
	struct backend_conf c = { .region = "test", .kind = "local", .path = dir };
	return backend_open(&c, be);
}

static void test_save_load_round_trip(void)
{
	struct backend *be = NULL;
	struct blockmap *m = NULL, *l = NULL;

	T_EQ_INT(open_backend(&be), 0);
	T_EQ_INT(blockmap_new(5 * DELTA_PAGE + 512, &m), 0);
	m->generation = 0x0102030405060708ull;
	m->src_version = blockmap_version("\"0x8DC1234ABCD\"");
	T_ASSERT(m->src_version != 0);
	T_ASSERT(m->src_version != blockmap_version("\"0x8DC1234ABCE\""));
	for (uint64_t i = 0; i < m->npages; i++) {
		unsigned char page[DELTA_PAGE];
		memset(page, (int)i + 1, sizeof(page));
		blockmap_hash_page(page, sizeof(page), &m->h[i]);
	}
	T_EQ_INT(blockmap_load(be, "maps/d0.map", &l), -ENOENT);
	T_EQ_INT(blockmap_save(be, "maps/d0.map", m), 0);
	T_EQ_INT(blockmap_load(be, "maps/d0.map", &l), 0);
	T_EQ_INT(l->disk_size, m->disk_size);
	T_EQ_INT(l->npages, m->npages);
	T_EQ_INT(l->generation, m->generation);
	T_EQ_INT(l->src_version, m->src_version);
	T_ASSERT(memcmp(l->h, m->h, m->npages * sizeof(m->h[0])) == 0);
	{
		/* header fields are big-endian at their documented offsets */
		char *data = NULL;
		size_t len = 0;
		const unsigned char *b;
		T_EQ_INT(be_rec_get(be, "maps/d0.map", &data, &len, NULL), 0);
		b = (const unsigned char *)data;
		T_EQ_INT(len, 64 + 6 * 16);
		T_ASSERT(memcmp(b, "ASRMAP01", 8) == 0);
		T_EQ_INT(b[10], 0x10); /* 4096 = 00 00 10 00 */
		T_EQ_INT(b[16 + 7], 0x00);
		T_EQ_INT(b[16 + 6], 0x52); /* 5*4096+512 = 0x5200 */
		T_EQ_INT(b[24], 0x01);
		T_EQ_INT(b[31], 0x08);
		T_EQ_INT(b[47], m->src_version & 0xff); /* source version at 40, big-endian */
		T_EQ_INT(b[40], m->src_version >> 56);
		T_ASSERT(memcmp(b + 64, &m->h[0], 16) == 0);
		free(data);
	}
	/* A loaded map lives in its record's memory: it grows, changes and
	 * is saved again like a new one, and the saved header is its own. */
	T_EQ_INT(blockmap_resize(l, 9 * DELTA_PAGE), 0);
	T_EQ_INT(l->npages, 9);
	T_ASSERT(memcmp(l->h, m->h, 6 * sizeof(m->h[0])) == 0);
	T_ASSERT(memcmp(&l->h[8], blockmap_zero_hash(), sizeof(l->h[0])) == 0);
	l->generation = 77;
	T_EQ_INT(blockmap_save(be, "maps/d1.map", l), 0);
	{
		struct blockmap *l2 = NULL;
		T_EQ_INT(blockmap_load(be, "maps/d1.map", &l2), 0);
		T_EQ_INT(l2->disk_size, 9 * DELTA_PAGE);
		T_EQ_INT(l2->generation, 77);
		T_EQ_INT(l2->src_version, m->src_version);
		T_ASSERT(memcmp(l2->h, l->h, 9 * sizeof(l->h[0])) == 0);
		blockmap_free(l2);
	}
	blockmap_free(l);
	l = NULL;
	/* an empty map too */
	T_EQ_INT(blockmap_resize(m, 0), 0);
	T_EQ_INT(blockmap_save(be, "maps/empty.map", m), 0);
	T_EQ_INT(blockmap_load(be, "maps/empty.map", &l), 0);
	T_EQ_INT(l->npages, 0);
	blockmap_free(l);
	blockmap_free(m);
	be->ops->close(be);
}

/* Store a damaged copy of the saved map and expect -EBADMSG. */
static int load_damaged(struct backend *be, size_t at, unsigned char x, size_t cut)
{
	char *data = NULL;
	size_t len = 0;
	struct blockmap *l = NULL;
	int rc = be_rec_get(be, "maps/d0.map", &data, &len, NULL);

	if (rc < 0)
		return rc;
	if (at < len)
		data[at] ^= (char)x;
	rc = be_rec_put(be, "maps/bad.map", data, len - cut, NULL, NULL);
	free(data);
	if (rc < 0)
		return rc;
	rc = blockmap_load(be, "maps/bad.map", &l);
	blockmap_free(l);
	return rc;
}

static void test_corruption(void)
{
	struct backend *be = NULL;
	struct blockmap *m = NULL;

	T_EQ_INT(open_backend(&be), 0);
	T_EQ_INT(blockmap_new(8 * DELTA_PAGE, &m), 0);
	T_EQ_INT(blockmap_save(be, "maps/d0.map", m), 0);
	T_EQ_INT(load_damaged(be, 9999, 0, 0), 0);       /* undamaged copy loads */
	T_EQ_INT(load_damaged(be, 0, 1, 0), -EBADMSG);   /* magic */
	T_EQ_INT(load_damaged(be, 10, 1, 0), -EBADMSG);  /* page size */
	T_EQ_INT(load_damaged(be, 23, 1, 0), -EBADMSG);  /* disk size */
	T_EQ_INT(load_damaged(be, 33, 1, 0), -EBADMSG);  /* checksum */
	T_EQ_INT(load_damaged(be, 64 + 5, 1, 0), -EBADMSG); /* an entry */
	T_EQ_INT(load_damaged(be, 9999, 0, 16), -EBADMSG);  /* one entry short */
	T_EQ_INT(load_damaged(be, 9999, 0, 64 + 8 * 16 - 10), -EBADMSG); /* header cut */
	blockmap_free(m);
	be->ops->close(be);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/asrfs-blockmap-test.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_zero_hash);
	T_RUN(test_canonical_is_big_endian);
	T_RUN(test_short_page_is_zero_padded);
	T_RUN(test_resize);
	T_RUN(test_save_load_round_trip);
	T_RUN(test_corruption);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	T_DONE();
}
