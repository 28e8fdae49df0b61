/*
 * test_backend.c - conformance test of the backend_ops contract
 * (backend/backend.h): records with etag conditions, list, remove_tree,
 * disks (odd offsets and unaligned lengths, zero, next_data, truncate,
 * rename, delete), the VHD footer kept after a disk's bytes, and leases.  The same checks run against the `local`
 * backend in a temporary directory, always, and against `azblob` when
 * ASRFS_TEST_AZBLOB_ENDPOINT, _ACCOUNT, _KEY and _CONTAINER are set (as
 * tests/integration/t_azblob_backend.sh does with an Azurite it starts).
 *
 *   test_backend           run the conformance tests
 *   test_backend --probe   probe the azblob region from the environment once:
 *                          prints "available" (exit 0) or "unavailable: rc
 *                          reason" (exit 1), with the time it took
 *   test_backend --put KEY VALUE / --get KEY
 *                          one record operation on that region; prints the
 *                          value read, or "error: rc" (exit 1)
 *
 * On azblob, a disk key is a link to a hidden physical page blob
 * (backend/azblob_link.c).  The azblob-only tests look behind the backend
 * with raw Blob REST calls (curl(1), signed by backend/azblob_sign.c): they list
 * and HEAD the physical blobs, and write links and owners by hand to play
 * a rename cut short by a crash, and a page blob made before links.
 */
#define _GNU_SOURCE
#include "../../backend/backend.h"
#include "t.h"

#include "../../backend/azblob_sign.h"
#include "../../backend/vhd.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct backend *be;
static const char *kind;
static char pfx[128];   /* every key of this run lives below it */
static int strict_holes; /* the medium reports holes exactly (azblob) */
static const struct backend_conf *cur; /* the run's config */

#define RUN(fn)                                                                \
	do {                                                                   \
		t_failed_now = 0;                                              \
		fn();                                                          \
		printf("%s - %s %s\n", t_failed_now ? "not ok" : "ok", kind, #fn + 5); \
		fflush(stdout);                                                \
		t_failures += t_failed_now;                                    \
	} while (0)

static const char *K(const char *rest)
{
	static __thread char buf[4][BACKEND_KEY_MAX];
	static __thread int i;
	char *b = buf[i++ % 4];
	snprintf(b, BACKEND_KEY_MAX, "%s/%s", pfx, rest);
	return b;
}

/* The local region's directory. */
static const char *cur_path(void) { return cur->path; }

/* A key of this run kept in the caller's buffer (K's four rotate). */
#define KEEP(var, rest)                                                        \
	char var[BACKEND_KEY_MAX];                                             \
	snprintf(var, sizeof(var), "%s", K(rest))

static void test_region(void)
{
	char why[512] = "", desc[512] = "";
	be->ops->describe(be, desc, sizeof(desc));
	T_ASSERT(strncmp(desc, kind, strlen(kind)) == 0 && desc[strlen(kind)] == ':');
	T_EQ_INT(be_probe(be, why, sizeof(why)), 0);
	T_EQ_INT(be->ops->init_region(be), 0); /* again: idempotent */
}

static void test_records(void)
{
	char *data = NULL, e1[BACKEND_ETAG_MAX] = "", e2[BACKEND_ETAG_MAX] = "", e[BACKEND_ETAG_MAX] = "";
	size_t len = 0;
	const char *k = K("rec/one.json");

	T_EQ_INT(be_rec_get(be, k, &data, &len, e), -ENOENT);
	T_EQ_INT(be_rec_put(be, k, "one", 3, "", e1), 0);
	T_ASSERT(e1[0]);
	T_EQ_INT(be_rec_put(be, k, "two", 3, "", e), -EEXIST);
	T_EQ_INT(be_rec_get(be, k, &data, &len, e), 0);
	T_EQ_INT(len, 3);
	T_EQ_STR(data, "one");
	free(data);
	T_EQ_STR(e, e1);
	T_EQ_INT(be_rec_put(be, k, "two!", 4, e1, e2), 0);
	T_ASSERT(strcmp(e1, e2) != 0);
	T_EQ_INT(be_rec_put(be, k, "three", 5, e1, e), -ESTALE);
	T_EQ_INT(be_rec_get(be, k, &data, &len, e), 0);
	T_EQ_STR(data, "two!");
	free(data);
	T_EQ_INT(be_rec_put(be, k, "three", 5, NULL, e), 0);
	T_EQ_INT(be_rec_get(be, k, &data, &len, NULL), 0);
	T_EQ_STR(data, "three");
	free(data);
	T_EQ_INT(be_rec_put(be, K("rec/absent"), "x", 1, "\"0x8D000000BOGUS\"", e), -ESTALE);
	/* An empty record, and binary bytes. */
	T_EQ_INT(be_rec_put(be, K("rec/empty"), "", 0, NULL, e), 0);
	T_EQ_INT(be_rec_get(be, K("rec/empty"), &data, &len, NULL), 0);
	T_EQ_INT(len, 0);
	T_EQ_STR(data, "");
	free(data);
	T_EQ_INT(be_rec_del(be, k), 0);
	T_EQ_INT(be_rec_get(be, k, &data, &len, NULL), -ENOENT);
	T_EQ_INT(be_rec_del(be, k), -ENOENT);
	T_EQ_INT(be_rec_put(be, K(".hidden"), "x", 1, NULL, NULL), -EINVAL);
	T_EQ_INT(be_rec_put(be, K("a//b"), "x", 1, NULL, NULL), -EINVAL);
	T_EQ_INT(be_rec_put(be, K("../x"), "x", 1, NULL, NULL), -EINVAL);
}

struct seen {
	char names[16][64];
	int dirs[16];
	int n, stop_after;
};

static int on_entry(void *arg, const char *name, int is_dir)
{
	struct seen *s = arg;
	if (s->n < 16) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->dirs[s->n] = is_dir;
	}
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static int seen_has(const struct seen *s, const char *name, int is_dir)
{
	for (int i = 0; i < s->n && i < 16; i++)
		if (strcmp(s->names[i], name) == 0)
			return s->dirs[i] == is_dir;
	return 0;
}

static void test_list_and_remove_tree(void)
{
	struct seen s = {0};
	char *data = NULL, top[64];
	const char *slash;

	T_EQ_INT(be_rec_put(be, K("ls/a.json"), "a", 1, NULL, NULL), 0);
	T_EQ_INT(be_rec_put(be, K("ls/b & <c>/x"), "x", 1, NULL, NULL), 0);
	T_EQ_INT(be_rec_put(be, K("ls/b & <c>/y"), "y", 1, NULL, NULL), 0);
	T_EQ_INT(be_rec_put(be, K("ls/b & <c>/deep/z"), "z", 1, NULL, NULL), 0);
	T_EQ_INT(be_list(be, K("ls"), on_entry, &s), 0);
	T_EQ_INT(s.n, 2);
	T_ASSERT(seen_has(&s, "a.json", 0));
	T_ASSERT(seen_has(&s, "b & <c>", 1));
	memset(&s, 0, sizeof(s));
	T_EQ_INT(be_list(be, K("ls/b & <c>"), on_entry, &s), 0);
	T_EQ_INT(s.n, 3);
	T_ASSERT(seen_has(&s, "x", 0) && seen_has(&s, "y", 0) && seen_has(&s, "deep", 1));
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	T_EQ_INT(be_list(be, K("ls/b & <c>"), on_entry, &s), 0);
	T_EQ_INT(s.n, 1);
	/* The root lists this run's top directory and never the marker. */
	memset(&s, 0, sizeof(s));
	slash = strchr(pfx, '/');
	snprintf(top, sizeof(top), "%.*s", slash ? (int)(slash - pfx) : (int)strlen(pfx), pfx);
	T_EQ_INT(be_list(be, "", on_entry, &s), 0);
	T_ASSERT(s.n >= 1);
	for (int i = 0; i < s.n && i < 16; i++)
		T_ASSERT(s.names[i][0] != '.');
	memset(&s, 0, sizeof(s));
	T_EQ_INT(be_list(be, K("nothing-here"), on_entry, &s), -ENOENT);

	T_EQ_INT(be->ops->remove_tree(be, ""), -EINVAL);
	T_EQ_INT(be->ops->remove_tree(be, K("ls/b & <c>")), 0);
	T_EQ_INT(be_rec_get(be, K("ls/b & <c>/deep/z"), &data, NULL, NULL), -ENOENT);
	T_EQ_INT(be_rec_get(be, K("ls/a.json"), &data, NULL, NULL), 0);
	free(data);
	memset(&s, 0, sizeof(s));
	T_EQ_INT(be_list(be, K("ls"), on_entry, &s), 0);
	T_EQ_INT(s.n, 1);
	T_EQ_INT(be->ops->remove_tree(be, K("ls")), 0);
	memset(&s, 0, sizeof(s));
	T_EQ_INT(be_list(be, K("ls"), on_entry, &s), -ENOENT);
	T_EQ_INT(be->ops->remove_tree(be, K("ls")), 0); /* absent: fine */
}

#define DSIZE ((uint64_t)9 * 1024 * 1024 + 1536) /* > one 8 MiB read piece, > 4 MiB put */

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)((seed >> 16) | 1); /* never 0: a zero run would be "cleared" */
	}
}

static int disk_matches(struct bdisk *d, const unsigned char *shadow, uint64_t size)
{
	unsigned char *buf = malloc(size);
	ssize_t n;
	int ok;
	if (!buf)
		return 0;
	memset(buf, 0xEE, size);
	n = bd_pread(d, buf, size, 0);
	ok = n == (ssize_t)size && memcmp(buf, shadow, size) == 0;
	if (!ok) {
		for (uint64_t i = 0; n > 0 && i < (uint64_t)n; i++)
			if (buf[i] != shadow[i]) {
				fprintf(stderr, "  first difference at %llu: %02x, expected %02x\n",
					(unsigned long long)i, buf[i], shadow[i]);
				break;
			}
		fprintf(stderr, "  pread returned %zd of %llu\n", n, (unsigned long long)size);
	}
	free(buf);
	return ok;
}

static void test_disk_io(void)
{
	const char *k = K("disks/d1.raw");
	static const struct {
		uint64_t off;
		size_t len;
	} w[] = {
		{1000, 5000},			   /* both edges partial */
		{511, 2},			   /* one byte either side of a sector boundary */
		{4096, 512},			   /* aligned */
		{12345, (4u << 20) + 1234},	   /* more than one Put Page */
		{DSIZE - 7, 7},			   /* the last bytes */
		{700, 1},			   /* one byte */
	};
	unsigned char *shadow = calloc(1, DSIZE), *buf = malloc(1 << 20);
	struct bdisk *d = NULL;
	uint64_t size = 0;

	T_ASSERT(shadow && buf);
	T_EQ_INT(be->ops->disk_exists(be, k), 0);
	T_EQ_INT(be->ops->disk_create(be, K("disks/odd"), 1000), -EINVAL);
	T_EQ_INT(be->ops->disk_create(be, k, DSIZE), 0);
	T_EQ_INT(be->ops->disk_create(be, k, DSIZE), -EEXIST);
	T_EQ_INT(be->ops->disk_exists(be, k), 1);
	T_EQ_INT(be_disk_open(be, K("disks/absent"), BDISK_RDWR, &d), -ENOENT);
	T_EQ_INT(be_disk_open(be, k, BDISK_RDWR, &d), 0);
	T_EQ_INT(bd_size(d, &size), 0);
	T_EQ_INT(size, DSIZE);
	T_ASSERT(disk_matches(d, shadow, DSIZE)); /* a new disk reads as zeros */

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		unsigned char *src = malloc(w[i].len);
		ssize_t n;
		T_ASSERT(src);
		fill(src, w[i].len, (unsigned)i + 7);
		n = bd_pwrite(d, src, w[i].len, w[i].off);
		memcpy(shadow + w[i].off, src, w[i].len);
		free(src);
		T_EQ_INT(n, (ssize_t)w[i].len);
	}
	T_ASSERT(disk_matches(d, shadow, DSIZE));
	/* Short reads only at the end. */
	T_EQ_INT(bd_pread(d, buf, 100, DSIZE - 10), 10);
	T_ASSERT(memcmp(buf, shadow + DSIZE - 10, 10) == 0);
	T_EQ_INT(bd_pread(d, buf, 100, DSIZE), 0);
	T_EQ_INT(bd_pread(d, buf, 3, 999), 3);
	T_ASSERT(memcmp(buf, shadow + 999, 3) == 0);
	/* A write of zeros in the middle of data. */
	memset(buf, 0, 8192);
	T_EQ_INT(bd_pwrite(d, buf, 8192, 1 << 20), 8192);
	memset(shadow + (1 << 20), 0, 8192);
	/* zero(): unaligned edges and an aligned middle. */
	T_EQ_INT(bd_zero(d, 700, 70000), 0);
	memset(shadow + 700, 0, 70000);
	T_EQ_INT(bd_zero(d, 12345 + 3, 9), 0);
	memset(shadow + 12345 + 3, 0, 9);
	T_EQ_INT(bd_zero(d, DSIZE - 3, 100), 0); /* clamped at the end */
	memset(shadow + DSIZE - 3, 0, 3);
	T_EQ_INT(bd_sync(d), 0);
	T_ASSERT(disk_matches(d, shadow, DSIZE));
	bd_close(d);
	d = NULL;
	/* Read back through a new handle. */
	T_EQ_INT(be_disk_open(be, k, BDISK_RDONLY, &d), 0);
	T_ASSERT(disk_matches(d, shadow, DSIZE));
	bd_close(d);
	free(shadow);
	free(buf);
}

static void test_disk_sparse_truncate(void)
{
	const char *k = K("disks/sparse.raw");
	const uint64_t size = 2u << 20, mib = 1u << 20;
	unsigned char buf[8192];
	struct bdisk *d = NULL;
	uint64_t s = 0, e = 0, sz = 0;
	int rc;

	T_EQ_INT(be->ops->disk_create(be, k, size), 0);
	T_EQ_INT(be_disk_open(be, k, BDISK_RDWR, &d), 0);
	rc = bd_next_data(d, 0, &s, &e);
	if (strict_holes)
		T_EQ_INT(rc, -ENXIO);
	else
		T_ASSERT(rc == -ENXIO || rc == 0);
	/* Two adjacent writes make one extent. */
	fill(buf, sizeof(buf), 3);
	T_EQ_INT(bd_pwrite(d, buf, 4096, mib), 4096);
	T_EQ_INT(bd_pwrite(d, buf + 4096, 4096, mib + 4096), 4096);
	T_EQ_INT(bd_next_data(d, 0, &s, &e), 0);
	T_ASSERT(s <= mib && e >= mib + 8192);
	if (strict_holes) {
		T_EQ_INT(s, mib);
		T_EQ_INT(e, mib + 8192);
		T_EQ_INT(bd_next_data(d, mib + 100, &s, &e), 0);
		T_EQ_INT(s, mib + 100);
		T_EQ_INT(e, mib + 8192);
		T_EQ_INT(bd_next_data(d, mib + 8192, &s, &e), -ENXIO);
	}
	T_EQ_INT(bd_next_data(d, size, &s, &e), -ENXIO);
	/* zero() deallocates. */
	T_EQ_INT(bd_zero(d, mib, 8192), 0);
	if (strict_holes)
		T_EQ_INT(bd_next_data(d, 0, &s, &e), -ENXIO);
	T_EQ_INT(bd_pread(d, buf, 8192, mib), 8192);
	for (size_t i = 0; i < 8192; i++)
		T_ASSERT(buf[i] == 0);

	/* truncate: grow reads zeros past the old end, shrink cuts. */
	fill(buf, 512, 9);
	T_EQ_INT(bd_pwrite(d, buf, 512, size - 512), 512);
	T_EQ_INT(bd_truncate(d, size + 4096), 0);
	T_EQ_INT(bd_size(d, &sz), 0);
	T_EQ_INT(sz, size + 4096);
	memset(buf, 0xAA, sizeof(buf));
	T_EQ_INT(bd_pread(d, buf, 8192, size - 512), 4608);
	for (size_t i = 512; i < 4608; i++)
		T_ASSERT(buf[i] == 0);
	T_EQ_INT(bd_truncate(d, mib), 0);
	T_EQ_INT(bd_size(d, &sz), 0);
	T_EQ_INT(sz, mib);
	T_EQ_INT(bd_pread(d, buf, 512, mib), 0);
	if (strcmp(kind, "azblob") == 0)
		T_EQ_INT(bd_truncate(d, mib + 1), -EINVAL); /* a page blob is whole sectors */
	bd_close(d);
	T_EQ_INT(be->ops->disk_delete(be, k), 0);
}

/* The fixed-VHD footer (backend/vhd.h) of an unmanaged disk ("....vhd";
 * on azblob, of every disk): written by create, outside the disk's bytes,
 * moved and resized (same disk id) by truncate, kept by rename. */
static int footer_of(const char *key, uint8_t f[VHD_FOOTER_SIZE], uint64_t *vsize)
{
	struct bdisk *d = NULL;
	int rc = be_disk_open(be, key, BDISK_RDONLY, &d);
	if (rc == 0)
		rc = bd_footer(d, f);
	if (rc == 0)
		rc = vhd_footer_parse(f, vsize);
	bd_close(d);
	return rc;
}

static void test_disk_vhd_footer(void)
{
	KEEP(k, "vhds/f.vhd");
	KEEP(to, "vhds/g.vhd");
	KEEP(m, "disks/managed");
	const uint64_t size = 1u << 20;
	uint8_t f0[VHD_FOOTER_SIZE], f[VHD_FOOTER_SIZE];
	unsigned char buf[4096];
	struct bdisk *d = NULL;
	uint64_t vsize = 0, sz = 0, s, e;

	T_EQ_INT(be->ops->disk_create(be, k, size), 0);
	T_EQ_INT(footer_of(k, f0, &vsize), 0);
	T_EQ_INT(vsize, size);
	T_ASSERT(memcmp(f0, "conectix", 8) == 0);
	T_EQ_INT(be_disk_open(be, k, BDISK_RDWR, &d), 0);
	T_EQ_INT(bd_size(d, &sz), 0);
	T_EQ_INT(sz, size);
	/* The footer is not the disk's: reads stop, writes are refused,
	 * next_data never reports it. */
	T_EQ_INT(bd_pread(d, buf, 512, size), 0);
	T_EQ_INT(bd_pwrite(d, buf, 512, size), -ENOSPC);
	T_EQ_INT(bd_next_data(d, size - 512, &s, &e), -ENXIO);
	fill(buf, 512, 5);
	T_EQ_INT(bd_pwrite(d, buf, 512, size - 512), 512);
	/* Grow: zeros where the footer was, the footer at the new end. */
	T_EQ_INT(bd_truncate(d, size + 4096), 0);
	T_EQ_INT(bd_size(d, &sz), 0);
	T_EQ_INT(sz, size + 4096);
	memset(buf, 0xAA, sizeof(buf));
	T_EQ_INT(bd_pread(d, buf, 4096, size), 4096);
	for (size_t i = 0; i < 4096; i++)
		T_ASSERT(buf[i] == 0);
	bd_close(d);
	d = NULL;
	T_EQ_INT(footer_of(k, f, &vsize), 0);
	T_EQ_INT(vsize, size + 4096);
	T_ASSERT(memcmp(f + 68, f0 + 68, 16) == 0); /* the same disk */
	/* Shrink, then rename: still a VHD of the new size. */
	T_EQ_INT(be_disk_open(be, k, BDISK_RDWR, &d), 0);
	T_EQ_INT(bd_truncate(d, size / 2), 0);
	bd_close(d);
	d = NULL;
	T_EQ_INT(be->ops->disk_rename(be, k, to), 0);
	T_EQ_INT(footer_of(to, f, &vsize), 0);
	T_EQ_INT(vsize, size / 2);
	T_ASSERT(memcmp(f + 68, f0 + 68, 16) == 0);
	T_EQ_INT(be_disk_open(be, to, BDISK_RDONLY, &d), 0);
	T_EQ_INT(bd_size(d, &sz), 0);
	T_EQ_INT(sz, size / 2);
	T_EQ_INT(bd_pread(d, buf, 1024, size / 2 - 512), 512);
	bd_close(d);
	d = NULL;
	T_EQ_INT(be->ops->disk_delete(be, to), 0);
	/* A managed disk: raw on a local region, a VHD page blob on azblob. */
	T_EQ_INT(be->ops->disk_create(be, m, size), 0);
	T_EQ_INT(footer_of(m, f, &vsize), strcmp(kind, "azblob") == 0 ? 0 : -ENOENT);
	T_EQ_INT(be->ops->disk_delete(be, m), 0);
	if (strcmp(kind, "local") == 0) {
		/* A ".vhd" made before footers stays a raw disk. */
		char path[4096];
		FILE *fp;
		snprintf(path, sizeof(path), "%s/%s", cur_path(), k);
		T_ASSERT((fp = fopen(path, "w")) != NULL);
		T_EQ_INT(ftruncate(fileno(fp), (off_t)size), 0);
		fclose(fp);
		T_EQ_INT(footer_of(k, f, &vsize), -ENOENT);
		T_EQ_INT(be_disk_open(be, k, BDISK_RDWR, &d), 0);
		T_EQ_INT(bd_size(d, &sz), 0);
		T_EQ_INT(sz, size);
		T_EQ_INT(bd_pwrite(d, buf, 512, size - 512), 512);
		bd_close(d);
		T_EQ_INT(be->ops->disk_delete(be, k), 0);
	}
}

static void test_disk_rename_delete(void)
{
	const char *a = K("disks/a.raw"), *b = K("disks/moved/b.raw"), *c = K("disks/c.raw");
	unsigned char in[1000], out[1000];
	struct bdisk *d = NULL;

	T_EQ_INT(be->ops->disk_create(be, a, 1 << 20), 0);
	T_EQ_INT(be_disk_open(be, a, BDISK_RDWR, &d), 0);
	fill(in, sizeof(in), 5);
	T_EQ_INT(bd_pwrite(d, in, sizeof(in), 3333), (ssize_t)sizeof(in));
	bd_close(d);
	T_EQ_INT(be->ops->disk_rename(be, a, b), 0);
	T_EQ_INT(be->ops->disk_exists(be, a), 0);
	T_EQ_INT(be->ops->disk_exists(be, b), 1);
	T_EQ_INT(be_disk_open(be, b, BDISK_RDONLY, &d), 0);
	T_EQ_INT(bd_pread(d, out, sizeof(out), 3333), (ssize_t)sizeof(out));
	bd_close(d);
	T_ASSERT(memcmp(in, out, sizeof(in)) == 0);
	T_EQ_INT(be->ops->disk_create(be, c, 512), 0);
	T_EQ_INT(be->ops->disk_rename(be, c, b), -EEXIST);
	T_EQ_INT(be->ops->disk_exists(be, c), 1);
	T_EQ_INT(be->ops->disk_rename(be, a, K("disks/x.raw")), -ENOENT);
	T_EQ_INT(be->ops->disk_delete(be, b), 0);
	T_EQ_INT(be->ops->disk_exists(be, b), 0);
	T_EQ_INT(be->ops->disk_delete(be, b), -ENOENT);
	T_EQ_INT(be->ops->disk_delete(be, c), 0);
}

static int write_at(const char *key, unsigned seed, size_t len, uint64_t off)
{
	struct bdisk *d = NULL;
	unsigned char *buf = malloc(len);
	int rc = buf ? be_disk_open(be, key, BDISK_RDWR, &d) : -ENOMEM;
	if (rc == 0) {
		fill(buf, len, seed);
		rc = bd_pwrite(d, buf, len, off) == (ssize_t)len ? 0 : -EIO;
	}
	bd_close(d);
	free(buf);
	return rc;
}

/* The whole disk at key holds exactly want[0..size). */
static int same_bytes(const char *key, const unsigned char *want, uint64_t size)
{
	struct bdisk *d = NULL;
	unsigned char *buf = malloc(size);
	int ok = 0;
	if (buf && be_disk_open(be, key, BDISK_RDONLY, &d) == 0) {
		ok = bd_pread(d, buf, size, 0) == (ssize_t)size && memcmp(buf, want, size) == 0;
		bd_close(d);
	}
	free(buf);
	return ok;
}

static int read_all(const char *key, unsigned char *buf, uint64_t size)
{
	struct bdisk *d = NULL;
	int rc = be_disk_open(be, key, BDISK_RDONLY, &d);
	if (rc == 0)
		rc = bd_pread(d, buf, size, 0) == (ssize_t)size ? 0 : -EIO;
	bd_close(d);
	return rc;
}

/* disk_version: equal across renames, different after every kind of write. */
static void test_disk_version(void)
{
	KEEP(a, "ver/a");
	KEEP(b, "ver/b");
	KEEP(c, "ver/moved/c");
	KEEP(e, "ver/e");
	char v1[BACKEND_ETAG_MAX] = "", v2[BACKEND_ETAG_MAX] = "", v[BACKEND_ETAG_MAX] = "";
	const uint64_t size = 1 << 20;
	unsigned char *before = malloc(size), in[600];
	struct bdisk *d = NULL;
	int rc;

	T_ASSERT(before);
	T_EQ_INT(be->ops->disk_create(be, a, size), 0);
	rc = be_disk_version(be, a, v1);
	if (strcmp(kind, "local") == 0) { /* mtime cannot promise equality */
		T_EQ_INT(rc, -EOPNOTSUPP);
		T_EQ_INT(be->ops->disk_delete(be, a), 0);
		free(before);
		return;
	}
	T_EQ_INT(rc, 0);
	T_ASSERT(v1[0]);
	T_EQ_INT(write_at(a, 11, 5000, 70000), 0);
	T_EQ_INT(be_disk_version(be, a, v1), 0);
	T_EQ_INT(be_disk_version(be, a, v), 0);
	T_EQ_STR(v, v1); /* stable while nothing changes */
	T_EQ_INT(read_all(a, before, size), 0);

	/* A rename keeps bytes and version; the old name has neither. */
	T_EQ_INT(be->ops->disk_rename(be, a, b), 0);
	T_EQ_INT(be_disk_version(be, b, v), 0);
	T_EQ_STR(v, v1);
	T_EQ_INT(be_disk_version(be, a, v), -ENOENT);
	T_ASSERT(same_bytes(b, before, size));
	/* And again (the version alias carries over), into another folder. */
	T_EQ_INT(be->ops->disk_rename(be, b, c), 0);
	T_EQ_INT(be_disk_version(be, c, v), 0);
	T_EQ_STR(v, v1);
	T_ASSERT(same_bytes(c, before, size));

	/* Each kind of write changes it: Put Page... */
	T_EQ_INT(write_at(c, 12, 1, 4095), 0);
	T_EQ_INT(be_disk_version(be, c, v2), 0);
	T_ASSERT(strcmp(v2, v1) != 0);
	/* ...clear... */
	T_EQ_INT(be_disk_open(be, c, BDISK_RDWR, &d), 0);
	T_EQ_INT(bd_zero(d, 65536, 65536), 0);
	T_EQ_INT(be_disk_version(be, c, v), 0);
	T_ASSERT(strcmp(v, v2) != 0 && strcmp(v, v1) != 0);
	snprintf(v2, sizeof(v2), "%s", v);
	/* ...and resize. */
	T_EQ_INT(bd_truncate(d, size + 4096), 0);
	T_EQ_INT(be_disk_version(be, c, v), 0);
	T_ASSERT(strcmp(v, v2) != 0 && strcmp(v, v1) != 0);
	snprintf(v2, sizeof(v2), "%s", v);
	/* A handle opened before a rename writes the renamed disk. */
	T_EQ_INT(be->ops->disk_rename(be, c, a), 0);
	T_EQ_INT(be_disk_version(be, a, v), 0);
	T_EQ_STR(v, v2);
	fill(in, sizeof(in), 13);
	T_EQ_INT(bd_pwrite(d, in, sizeof(in), 1000), (ssize_t)sizeof(in));
	bd_close(d);
	d = NULL;
	T_EQ_INT(be_disk_version(be, a, v), 0);
	T_ASSERT(strcmp(v, v2) != 0);
	snprintf(v2, sizeof(v2), "%s", v);

	/* Onto an existing disk: -EEXIST, and both keep their versions. */
	T_EQ_INT(be->ops->disk_create(be, e, 512), 0);
	T_EQ_INT(be_disk_version(be, e, v1), 0);
	T_ASSERT(strcmp(v1, v2) != 0); /* another disk, another token */
	T_EQ_INT(be->ops->disk_rename(be, a, e), -EEXIST);
	T_EQ_INT(be->ops->disk_rename(be, a, a), -EEXIST);
	T_EQ_INT(be_disk_version(be, a, v), 0);
	T_EQ_STR(v, v2);
	T_EQ_INT(be_disk_version(be, e, v), 0);
	T_EQ_STR(v, v1);
	T_EQ_INT(be_disk_version(be, K("ver/absent"), v), -ENOENT);
	T_EQ_INT(be->ops->disk_delete(be, a), 0);
	T_EQ_INT(be->ops->disk_delete(be, e), 0);
	free(before);
}

/* ---- azblob behind the backend --------------------------------------------- */

struct raw_hdr {
	const char *name, *value;
};

/* One signed Blob REST request with curl(1) to blob `name` of the run's
 * container ("" for the container): returns the HTTP status (-1 when curl
 * failed) and *out (malloc'd): the response's header lines and body. */
static int raw(const char *verb, const char *name, const char *query, const struct raw_hdr *hdrs, size_t nh,
	       char **out)
{
	struct az_hdr sh[16];
	char date[32], sig[64], path[1024], url[1400], auth[256], hv[16][1200];
	const char *argv[64];
	unsigned char *key = NULL;
	size_t keylen = 0, n = 0, len = 0, cap = 0;
	char *sts = NULL, *buf = NULL;
	const char *host = strstr(cur->endpoint, "://"), *base;
	int fds[2], status = -1, argc = 0, wst;
	pid_t pid;

	*out = NULL;
	if (!host || nh > 12)
		return -1;
	base = strchr(host + 3, '/');
	snprintf(path, sizeof(path), "%s/%s%s%s", base ? base : "", cur->container, *name ? "/" : "", name);
	snprintf(url, sizeof(url), "%.*s%s%s%s", (int)(base ? base - cur->endpoint : (long)strlen(cur->endpoint)),
		 cur->endpoint, path, query ? "?" : "", query ? query : "");
	az_http_date(time(NULL), date);
	for (size_t i = 0; i < nh; i++)
		sh[n++] = (struct az_hdr){hdrs[i].name, hdrs[i].value};
	sh[n++] = (struct az_hdr){"x-ms-date", date};
	sh[n++] = (struct az_hdr){"x-ms-version", "2021-08-06"};
	if (az_b64_decode(cur->key, &key, &keylen) < 0 ||
	    az_string_to_sign(verb, cur->account, path, query, sh, n, &sts) < 0 ||
	    az_hmac_b64(key, keylen, sts, sig, sizeof(sig)) < 0)
		goto out;
	snprintf(auth, sizeof(auth), "Authorization: SharedKey %s:%s", cur->account, sig);
	argv[argc++] = "curl";
	argv[argc++] = "-s";
	if (strcmp(verb, "HEAD") == 0) {
		argv[argc++] = "-I";
	} else {
		argv[argc++] = "-i";
		argv[argc++] = "-X";
		argv[argc++] = verb;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(hv[i], sizeof(hv[i]), "%s: %s", sh[i].name, sh[i].value);
		argv[argc++] = "-H";
		argv[argc++] = hv[i];
	}
	argv[argc++] = "-H";
	argv[argc++] = auth;
	argv[argc++] = url;
	argv[argc] = NULL;
	if (pipe(fds) < 0)
		goto out;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		goto out;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp("curl", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		ssize_t k;
		if (len + 4097 > cap) {
			char *nb = realloc(buf, cap + 65536);
			if (!nb)
				break;
			buf = nb;
			cap += 65536;
		}
		k = read(fds[0], buf + len, cap - len - 1);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(fds[0]);
	waitpid(pid, &wst, 0);
	if (buf && WIFEXITED(wst) && WEXITSTATUS(wst) == 0) {
		buf[len] = '\0';
		if (sscanf(buf, "HTTP/%*s %d", &status) != 1)
			status = -1;
		*out = buf;
		buf = NULL;
	}
out:
	free(buf);
	free(sts);
	free(key);
	return status;
}

/* A header's value in a raw response (case-insensitive name) into v. */
static int raw_hdr(const char *resp, const char *name, char *v, size_t len)
{
	size_t nl = strlen(name);
	for (const char *p = resp; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *s = p + nl + 1;
			size_t n;
			while (*s == ' ')
				s++;
			n = strcspn(s, "\r\n");
			snprintf(v, len, "%.*s", (int)n, s);
			return 1;
		}
		if (*p == '\r' || *p == '\n')
			break; /* the end of the headers */
	}
	v[0] = '\0';
	return 0;
}

/* HEAD blob name: status, and the value of header hname into v. */
static int raw_head(const char *name, const char *hname, char *v, size_t len)
{
	char *resp = NULL;
	int st = raw("HEAD", name, NULL, NULL, 0, &resp);
	if (resp && hname)
		raw_hdr(resp, hname, v, len);
	else if (hname)
		v[0] = '\0';
	free(resp);
	return st;
}

/* The physical blob a disk key links to, into phys. */
static int phys_of(const char *key, char *phys, size_t len)
{
	return raw_head(key, "x-ms-meta-asrfsdisk", phys, len) == 200 && phys[0];
}

/* How many physical blobs name an owner key beginning with owner_prefix
 * (the run's keys are plain: their percent-encoding is themselves). */
static int count_phys(const char *owner_prefix)
{
	char *resp = NULL, pat[300];
	int n = 0;
	if (raw("GET", "", "restype=container&comp=list&prefix=.disks%2F&include=metadata", NULL, 0, &resp) != 200) {
		free(resp);
		return -1;
	}
	snprintf(pat, sizeof(pat), "<asrfsowner>%s", owner_prefix);
	for (const char *p = strstr(resp, pat); p; p = strstr(p + 1, pat))
		n++;
	free(resp);
	return n;
}

/* Write a link by hand: key -> phys. */
static int raw_link(const char *key, const char *phys)
{
	struct raw_hdr h[] = {{"x-ms-blob-type", "BlockBlob"}, {"x-ms-meta-asrfsdisk", phys}, {"Content-Length", "0"}};
	char *resp = NULL;
	int st = raw("PUT", key, NULL, h, 3, &resp);
	free(resp);
	return st;
}

/* Set a physical blob's owner by hand; its new ETag into etag. */
static int raw_owner(const char *phys, const char *owner, char *etag, size_t len)
{
	struct raw_hdr h[] = {{"x-ms-meta-asrfsowner", owner}, {"Content-Length", "0"}};
	char *resp = NULL;
	int st = raw("PUT", phys, "comp=metadata", h, 2, &resp);
	if (resp && etag)
		raw_hdr(resp, "ETag", etag, len);
	free(resp);
	return st;
}

/* Disks are links to hidden physical blobs, which delete and remove_tree
 * take with them; rename moves no bytes. */
static void test_az_physical_blobs(void)
{
	KEEP(a, "phys/a");
	KEEP(b, "phys/b");
	char pa[128] = "", pb[128] = "", own[300] = "", e0[BACKEND_ETAG_MAX] = "", e1[BACKEND_ETAG_MAX] = "";
	char v0[BACKEND_ETAG_MAX] = "", v1[BACKEND_ETAG_MAX] = "";
	struct seen s = {0};

	T_EQ_INT(count_phys(K("phys/")), 0);
	T_EQ_INT(be->ops->disk_create(be, a, 1 << 20), 0);
	T_EQ_INT(write_at(a, 21, 3000, 100000), 0);
	T_ASSERT(phys_of(a, pa, sizeof(pa)));
	T_ASSERT(strncmp(pa, ".disks/", 7) == 0);
	T_EQ_INT(raw_head(pa, "x-ms-meta-asrfsowner", own, sizeof(own)), 200);
	T_EQ_STR(own, a);
	T_EQ_INT(count_phys(K("phys/")), 1);
	/* list() shows the key, never the physical blob. */
	T_EQ_INT(be_list(be, K("phys"), on_entry, &s), 0);
	T_EQ_INT(s.n, 1);
	T_ASSERT(seen_has(&s, "a", 0));

	/* Rename: the same physical blob, now owned by b; its ETag changed
	 * (Set Blob Metadata) but the disk's version did not. */
	T_EQ_INT(raw_head(pa, "ETag", e0, sizeof(e0)), 200);
	T_EQ_INT(be_disk_version(be, a, v0), 0);
	T_EQ_INT(be->ops->disk_rename(be, a, b), 0);
	T_ASSERT(phys_of(b, pb, sizeof(pb)));
	T_EQ_STR(pb, pa);
	T_EQ_INT(raw_head(a, NULL, NULL, 0), 404);
	T_EQ_INT(raw_head(pa, "x-ms-meta-asrfsowner", own, sizeof(own)), 200);
	T_EQ_STR(own, b);
	T_EQ_INT(raw_head(pa, "ETag", e1, sizeof(e1)), 200);
	T_ASSERT(strcmp(e0, e1) != 0);
	T_EQ_INT(be_disk_version(be, b, v1), 0);
	T_EQ_STR(v1, v0);
	T_EQ_INT(count_phys(K("phys/")), 1);

	/* Delete takes the physical blob. */
	T_EQ_INT(be->ops->disk_delete(be, b), 0);
	T_EQ_INT(raw_head(pa, NULL, NULL, 0), 404);
	T_EQ_INT(raw_head(b, NULL, NULL, 0), 404);
	T_EQ_INT(count_phys(K("phys/")), 0);

	/* remove_tree takes the physical blobs of the disks below it. */
	T_EQ_INT(be->ops->disk_create(be, K("phys/tree/x"), 4096), 0);
	T_EQ_INT(be->ops->disk_create(be, K("phys/tree/sub/y"), 4096), 0);
	T_EQ_INT(be->ops->disk_create(be, K("phys/tree"), 4096), 0); /* a disk named like the prefix */
	T_EQ_INT(be_rec_put(be, K("phys/tree/r.json"), "{}", 2, NULL, NULL), 0);
	T_EQ_INT(count_phys(K("phys/")), 3);
	T_EQ_INT(be->ops->remove_tree(be, K("phys/tree")), 0);
	T_EQ_INT(count_phys(K("phys/")), 0);
	memset(&s, 0, sizeof(s));
	T_EQ_INT(be_list(be, K("phys"), on_entry, &s), -ENOENT);
}

/* A rename cut short at each step leaves exactly one live disk, and the
 * stale link it leaves never takes the live disk's bytes with it. */
static void test_az_half_rename(void)
{
	KEEP(a, "half/a");
	KEEP(b, "half/b");
	KEEP(c, "half/sub/c");
	const uint64_t size = 1 << 20;
	unsigned char *bytes = malloc(size);
	char phys[128] = "", other[128] = "", v0[BACKEND_ETAG_MAX] = "", v[BACKEND_ETAG_MAX] = "";
	struct bdisk *d = NULL;

	T_ASSERT(bytes);
	T_EQ_INT(be->ops->disk_create(be, a, size), 0);
	T_EQ_INT(write_at(a, 31, 7000, 12345), 0);
	T_EQ_INT(read_all(a, bytes, size), 0);
	T_EQ_INT(be_disk_version(be, a, v0), 0);
	T_ASSERT(phys_of(a, phys, sizeof(phys)));

	/* Cut after "link b": a is the disk, b is nothing. */
	T_EQ_INT(raw_link(b, phys), 201);
	T_EQ_INT(be->ops->disk_exists(be, a), 1);
	T_EQ_INT(be->ops->disk_exists(be, b), 0);
	T_EQ_INT(be_disk_open(be, b, BDISK_RDONLY, &d), -ENOENT);
	T_EQ_INT(be_disk_version(be, b, v), -ENOENT);
	T_ASSERT(same_bytes(a, bytes, size));

	/* Cut after "owner b": b is the disk, a is nothing. */
	T_EQ_INT(raw_owner(phys, b, NULL, 0), 200);
	T_EQ_INT(be->ops->disk_exists(be, a), 0);
	T_EQ_INT(be->ops->disk_exists(be, b), 1);
	T_EQ_INT(be_disk_open(be, a, BDISK_RDONLY, &d), -ENOENT);
	T_ASSERT(same_bytes(b, bytes, size));
	T_EQ_INT(be_disk_version(be, b, v), 0);
	T_ASSERT(strcmp(v, v0) != 0); /* no alias was written: a new token, which is safe */

	/* Deleting the stale link a keeps b's bytes. */
	T_EQ_INT(be->ops->disk_delete(be, a), -ENOENT);
	T_EQ_INT(raw_head(a, NULL, NULL, 0), 404);
	T_EQ_INT(raw_head(phys, NULL, NULL, 0), 200);
	T_ASSERT(same_bytes(b, bytes, size));
	/* So does remove_tree of a folder holding a stale link to it. */
	T_EQ_INT(raw_link(c, phys), 201);
	T_EQ_INT(be->ops->remove_tree(be, K("half/sub")), 0);
	T_EQ_INT(raw_head(c, NULL, NULL, 0), 404);
	T_EQ_INT(raw_head(phys, NULL, NULL, 0), 200);
	T_ASSERT(same_bytes(b, bytes, size));

	/* A stale link does not stop a create or a rename onto its key. */
	T_EQ_INT(raw_link(a, phys), 201);
	T_EQ_INT(be->ops->disk_create(be, a, 512), 0);
	T_ASSERT(phys_of(a, other, sizeof(other)));
	T_ASSERT(strcmp(other, phys) != 0);
	T_EQ_INT(be->ops->disk_delete(be, a), 0);
	T_EQ_INT(raw_link(a, phys), 201);
	T_EQ_INT(be->ops->disk_rename(be, b, a), 0);
	T_EQ_INT(be->ops->disk_exists(be, b), 0);
	T_ASSERT(same_bytes(a, bytes, size));
	T_EQ_INT(be->ops->disk_delete(be, a), 0);
	T_EQ_INT(count_phys(K("half/")), 0);
	free(bytes);
}

/* A page blob at the key itself (made before links) is still a disk. */
static void test_az_plain_page_blob(void)
{
	KEEP(k, "plain/old.raw");
	KEEP(to, "plain/new.raw");
	struct raw_hdr h[] = {{"x-ms-blob-type", "PageBlob"}, {"x-ms-blob-content-length", "1048576"},
			      {"Content-Length", "0"}};
	unsigned char in[3000], out[3000];
	char *resp = NULL, v[BACKEND_ETAG_MAX];
	struct bdisk *d = NULL;
	int st = raw("PUT", k, NULL, h, 3, &resp);

	free(resp);
	T_EQ_INT(st, 201);
	T_EQ_INT(be->ops->disk_exists(be, k), 1);
	T_EQ_INT(be->ops->disk_create(be, k, 512), -EEXIST);
	T_EQ_INT(be_disk_open(be, k, BDISK_RDWR, &d), 0);
	fill(in, sizeof(in), 41);
	T_EQ_INT(bd_pwrite(d, in, sizeof(in), 777), (ssize_t)sizeof(in));
	bd_close(d);
	d = NULL;
	T_EQ_INT(be_disk_version(be, k, v), -EOPNOTSUPP); /* its rename copies */
	T_EQ_INT(be->ops->disk_rename(be, k, to), 0);
	T_EQ_INT(be->ops->disk_exists(be, k), 0);
	T_EQ_INT(be_disk_open(be, to, BDISK_RDONLY, &d), 0);
	T_EQ_INT(bd_pread(d, out, sizeof(out), 777), (ssize_t)sizeof(out));
	bd_close(d);
	T_ASSERT(memcmp(in, out, sizeof(in)) == 0);
	T_EQ_INT(be->ops->disk_delete(be, to), 0);
	T_EQ_INT(be->ops->disk_exists(be, to), 0);
}

/* ---- snapshots (a medium that has them: azblob) ------------------------------ */

struct snap_ids {
	char id[8][BACKEND_SNAP_MAX];
	int n;
};

static int on_snap(void *arg, const char *snap)
{
	struct snap_ids *s = arg;
	if (s->n < 8)
		snprintf(s->id[s->n], BACKEND_SNAP_MAX, "%s", snap);
	s->n++;
	return 0;
}

static int snap_listed(const struct snap_ids *s, const char *snap)
{
	for (int i = 0; i < s->n && i < 8; i++)
		if (strcmp(s->id[i], snap) == 0)
			return 1;
	return 0;
}

/* The snapshot of key has exactly want[0..size), read through its own handle. */
static int snap_bytes(const char *key, const char *snap, const unsigned char *want, uint64_t size)
{
	struct bdisk *d = NULL;
	uint64_t s = 0;
	int ok;
	if (be->ops->disk_open_snapshot(be, key, snap, &d) < 0)
		return 0;
	ok = bd_size(d, &s) == 0 && s == size && disk_matches(d, want, size);
	bd_close(d);
	return ok;
}

/* Copy key's snapshot onto disk dkey (open read-write). */
static int copy_snap(const char *dkey, const char *key, const char *snap)
{
	struct bdisk *d = NULL;
	int rc = be_disk_open(be, dkey, BDISK_RDWR, &d);
	if (rc == 0)
		rc = be->ops->disk_copy_snapshot(d, be, key, snap);
	bd_close(d);
	return rc;
}

/* The snapshot ops of backend.h: take, list, read (holes kept), copy back
 * and onto another disk (size included), delete, and a disk's delete takes
 * its snapshots with it. */
static void test_snapshots(void)
{
	KEEP(a, "snap/a");
	KEEP(b, "snap/b");
	const uint64_t size = 1 << 20;
	unsigned char *s1 = malloc(size), *s2 = malloc(size), buf[512];
	char id1[BACKEND_SNAP_MAX] = "", id2[BACKEND_SNAP_MAX] = "", v0[BACKEND_ETAG_MAX], v[BACKEND_ETAG_MAX];
	struct snap_ids l = {0};
	struct bdisk *d = NULL;
	uint64_t st = 0, en = 0, sz = 0;

	T_ASSERT(s1 && s2);
	if (!be->ops->disk_snapshot) { /* an undo chain's medium: none of the group */
		T_ASSERT(!be->ops->disk_snapshot_delete && !be->ops->disk_copy_snapshot);
		free(s1);
		free(s2);
		return;
	}
	T_EQ_INT(be->ops->disk_create(be, a, size), 0);
	T_EQ_INT(write_at(a, 51, 5000, 300000), 0);
	T_EQ_INT(read_all(a, s1, size), 0);
	T_EQ_INT(be->ops->disk_snapshot(be, a, id1), 0);
	T_ASSERT(id1[0]);
	T_EQ_INT(write_at(a, 52, 4096, 300000), 0);
	T_EQ_INT(write_at(a, 53, 700, 900001), 0);
	T_EQ_INT(read_all(a, s2, size), 0);
	T_EQ_INT(be->ops->disk_snapshot(be, a, id2), 0);
	T_ASSERT(strcmp(id1, id2) != 0);
	T_EQ_INT(be->ops->disk_snapshot_list(be, a, on_snap, &l), 0);
	T_EQ_INT(l.n, 2);
	T_ASSERT(snap_listed(&l, id1) && snap_listed(&l, id2));

	/* Each reads what the disk held; the disk goes on changing. */
	T_EQ_INT(write_at(a, 54, 10000, 0), 0);
	T_ASSERT(snap_bytes(a, id1, s1, size));
	T_ASSERT(snap_bytes(a, id2, s2, size));
	T_EQ_INT(be->ops->disk_open_snapshot(be, a, id1, &d), 0);
	T_EQ_INT(bd_next_data(d, 0, &st, &en), 0); /* the hole before the data stays a hole */
	T_ASSERT(st <= 300000 && st > 200000 && en >= 305000);
	T_EQ_INT(bd_next_data(d, en + 4096, &st, &en), -ENXIO);
	T_EQ_INT(bd_pwrite(d, buf, sizeof(buf), 0), -EROFS);
	T_EQ_INT(bd_truncate(d, 512), -EROFS);
	T_EQ_INT(bd_zero(d, 0, 512), -EROFS);
	bd_close(d);
	d = NULL;
	T_EQ_INT(be->ops->disk_open_snapshot(be, a, "2000-01-01T00:00:00.0000000Z", &d), -ENOENT);

	/* Copied back onto its own disk: the bytes, the size, a new version. */
	T_EQ_INT(be_disk_open(be, a, BDISK_RDWR, &d), 0);
	T_EQ_INT(bd_truncate(d, 2 * size), 0);
	bd_close(d);
	d = NULL;
	T_EQ_INT(be_disk_version(be, a, v0), 0);
	T_EQ_INT(copy_snap(a, a, id1), 0);
	T_ASSERT(same_bytes(a, s1, size));
	T_EQ_INT(be_disk_open(be, a, BDISK_RDONLY, &d), 0);
	T_EQ_INT(bd_size(d, &sz), 0);
	T_EQ_INT(sz, size);
	bd_close(d);
	d = NULL;
	T_EQ_INT(be_disk_version(be, a, v), 0);
	T_ASSERT(strcmp(v, v0) != 0);
	/* Onto another disk of another size; the snapshot stays. */
	T_EQ_INT(be->ops->disk_create(be, b, 4096), 0);
	T_EQ_INT(copy_snap(b, a, id2), 0);
	T_ASSERT(same_bytes(b, s2, size));
	T_ASSERT(snap_bytes(a, id2, s2, size));
	/* Only onto a disk open read-write. */
	T_EQ_INT(be_disk_open(be, b, BDISK_RDONLY, &d), 0);
	T_EQ_INT(be->ops->disk_copy_snapshot(d, be, a, id1), -EBADF);
	bd_close(d);
	d = NULL;
	/* b has none of a's snapshots. */
	memset(&l, 0, sizeof(l));
	T_EQ_INT(be->ops->disk_snapshot_list(be, b, on_snap, &l), 0);
	T_EQ_INT(l.n, 0);

	/* Delete one; the other stays. */
	T_EQ_INT(be->ops->disk_snapshot_delete(be, a, id2), 0);
	T_EQ_INT(be->ops->disk_snapshot_delete(be, a, id2), -ENOENT);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(be->ops->disk_snapshot_list(be, a, on_snap, &l), 0);
	T_EQ_INT(l.n, 1);
	T_EQ_STR(l.id[0], id1);
	T_ASSERT(snap_bytes(a, id1, s1, size));

	/* No disk: -ENOENT. */
	T_EQ_INT(be->ops->disk_snapshot(be, K("snap/absent"), id2), -ENOENT);
	T_EQ_INT(be->ops->disk_snapshot_list(be, K("snap/absent"), on_snap, &l), -ENOENT);
	/* A disk that has snapshots is deleted with them. */
	T_EQ_INT(be->ops->disk_delete(be, a), 0);
	T_EQ_INT(be->ops->disk_exists(be, a), 0);
	T_EQ_INT(be->ops->disk_snapshot_list(be, a, on_snap, &l), -ENOENT);
	T_EQ_INT(be->ops->disk_create(be, a, 512), 0);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(be->ops->disk_snapshot_list(be, a, on_snap, &l), 0);
	T_EQ_INT(l.n, 0);
	T_EQ_INT(be->ops->disk_delete(be, a), 0);
	T_EQ_INT(be->ops->disk_delete(be, b), 0);
	free(s1);
	free(s2);
}

/* Snapshots behind the backend (raw List Blobs include=snapshots) of the
 * blob whose name begins with `name`. */
static int count_snaps(const char *name)
{
	char *resp = NULL, q[512];
	int n = 0, k;

	k = snprintf(q, sizeof(q), "restype=container&comp=list&include=snapshots&prefix=");
	for (const char *c = name; *c && k < (int)sizeof(q) - 4; c++)
		k += *c == '/' ? snprintf(q + k, sizeof(q) - (size_t)k, "%%2F")
			       : snprintf(q + k, sizeof(q) - (size_t)k, "%c", *c);
	if (raw("GET", "", q, NULL, 0, &resp) != 200) {
		free(resp);
		return -1;
	}
	for (const char *p = strstr(resp, "<Snapshot>"); p; p = strstr(p + 1, "<Snapshot>"))
		n++;
	free(resp);
	return n;
}

/* Snapshots are of the physical blob behind a link: a rename keeps them
 * (and every op works through the new key), a copy keeps the destination's
 * owner and changes its version even right after a rename, and delete and
 * remove_tree take them with the physical blob. */
static void test_az_snapshots(void)
{
	KEEP(a, "azsnap/a");
	KEEP(b, "azsnap/b");
	KEEP(c, "azsnap/moved/c");
	KEEP(t, "azsnap/tree/t");
	const uint64_t size = 1 << 20;
	unsigned char *s1 = malloc(size), *now = malloc(size);
	char pa[128] = "", pb[128] = "", pc[128] = "", own[300] = "", id1[BACKEND_SNAP_MAX] = "";
	char id2[BACKEND_SNAP_MAX] = "", v0[BACKEND_ETAG_MAX] = "", v1[BACKEND_ETAG_MAX] = "", v[BACKEND_ETAG_MAX];
	struct snap_ids l = {0};
	struct bdisk *sd = NULL;

	T_ASSERT(s1 && now);
	T_EQ_INT(be->ops->disk_create(be, a, size), 0);
	T_EQ_INT(write_at(a, 61, 3000, 5000), 0);
	T_EQ_INT(read_all(a, s1, size), 0);
	T_ASSERT(phys_of(a, pa, sizeof(pa)));
	T_EQ_INT(be->ops->disk_snapshot(be, a, id1), 0);
	T_EQ_INT(count_snaps(pa), 1); /* of the physical blob... */
	T_EQ_INT(count_snaps(a), 0);  /* ...never of the link */
	T_EQ_INT(write_at(a, 62, 3000, 5000), 0);
	T_EQ_INT(read_all(a, now, size), 0);
	T_EQ_INT(be->ops->disk_open_snapshot(be, a, id1, &sd), 0); /* opened before the rename */

	/* Rename: the same physical blob, its snapshots with it. */
	T_EQ_INT(be_disk_version(be, a, v0), 0);
	T_EQ_INT(be->ops->disk_rename(be, a, c), 0);
	T_ASSERT(phys_of(c, pc, sizeof(pc)));
	T_EQ_STR(pc, pa);
	T_EQ_INT(count_snaps(pa), 1);
	T_EQ_INT(be->ops->disk_snapshot_list(be, a, on_snap, &l), -ENOENT);
	T_EQ_INT(be->ops->disk_snapshot_list(be, c, on_snap, &l), 0);
	T_EQ_INT(l.n, 1);
	T_EQ_STR(l.id[0], id1);
	T_ASSERT(disk_matches(sd, s1, size));
	bd_close(sd);
	sd = NULL;
	T_ASSERT(snap_bytes(c, id1, s1, size));
	T_EQ_INT(be->ops->disk_open_snapshot(be, a, id1, &sd), -ENOENT);
	T_EQ_INT(be->ops->disk_snapshot(be, c, id2), 0);
	T_EQ_INT(count_snaps(pa), 2);
	T_ASSERT(snap_bytes(c, id2, now, size));

	/* The renamed disk's version is its alias; a copy onto it changes it
	 * (the alias names the ETag before the copy), and keeps its owner. */
	T_EQ_INT(be_disk_version(be, c, v), 0);
	T_EQ_STR(v, v0);
	T_EQ_INT(copy_snap(c, c, id1), 0);
	T_ASSERT(same_bytes(c, s1, size));
	T_EQ_INT(be_disk_version(be, c, v1), 0);
	T_ASSERT(strcmp(v1, v0) != 0);
	T_EQ_INT(raw_head(pc, "x-ms-meta-asrfsowner", own, sizeof(own)), 200);
	T_EQ_STR(own, c);
	T_EQ_INT(be->ops->disk_exists(be, c), 1);
	/* Onto another disk: its own owner stays too, and it is still a disk. */
	T_EQ_INT(be->ops->disk_create(be, b, 512), 0);
	T_ASSERT(phys_of(b, pb, sizeof(pb)));
	T_EQ_INT(copy_snap(b, c, id2), 0);
	T_EQ_INT(raw_head(pb, "x-ms-meta-asrfsowner", own, sizeof(own)), 200);
	T_EQ_STR(own, b);
	T_EQ_INT(be->ops->disk_exists(be, b), 1);
	T_ASSERT(same_bytes(b, now, size));
	T_EQ_INT(count_snaps(pb), 0);
	/* And renamed on, the copy's version stays (no old token answers). */
	T_EQ_INT(be->ops->disk_rename(be, c, a), 0);
	T_EQ_INT(be_disk_version(be, a, v), 0);
	T_EQ_STR(v, v1);
	T_EQ_INT(copy_snap(a, a, id2), 0);
	T_EQ_INT(be_disk_version(be, a, v), 0);
	T_ASSERT(strcmp(v, v1) != 0 && strcmp(v, v0) != 0);
	T_ASSERT(same_bytes(a, now, size));

	/* Deletes take the snapshots: one, then the disk with the rest. */
	T_EQ_INT(be->ops->disk_snapshot_delete(be, a, id1), 0);
	T_EQ_INT(count_snaps(pa), 1);
	T_EQ_INT(be->ops->disk_delete(be, a), 0);
	T_EQ_INT(count_snaps(pa), 0);
	T_EQ_INT(raw_head(pa, NULL, NULL, 0), 404);
	/* remove_tree too. */
	T_EQ_INT(be->ops->disk_create(be, t, 4096), 0);
	T_EQ_INT(be->ops->disk_snapshot(be, t, id1), 0);
	T_ASSERT(phys_of(t, pa, sizeof(pa)));
	T_EQ_INT(count_snaps(pa), 1);
	T_EQ_INT(be->ops->remove_tree(be, K("azsnap/tree")), 0);
	T_EQ_INT(count_snaps(pa), 0);
	T_EQ_INT(be->ops->disk_delete(be, b), 0);
	T_EQ_INT(count_phys(K("azsnap/")), 0);
	free(s1);
	free(now);
}

/* A page blob at the key (made before links) is its own snapshots' blob:
 * they work, its delete takes them, and its rename (a copy, which could not
 * take them along) is refused while it has any. */
static void test_az_plain_snapshots(void)
{
	KEEP(k, "plainsnap/old.raw");
	KEEP(to, "plainsnap/new.raw");
	struct raw_hdr h[] = {{"x-ms-blob-type", "PageBlob"}, {"x-ms-blob-content-length", "65536"},
			      {"Content-Length", "0"}};
	unsigned char want[65536];
	char id[BACKEND_SNAP_MAX] = "", own[300] = "", *resp = NULL;
	struct snap_ids l = {0};
	int st = raw("PUT", k, NULL, h, 3, &resp);

	free(resp);
	T_EQ_INT(st, 201);
	T_EQ_INT(write_at(k, 71, 2000, 1000), 0);
	T_EQ_INT(read_all(k, want, sizeof(want)), 0);
	T_EQ_INT(be->ops->disk_snapshot(be, k, id), 0);
	T_EQ_INT(count_snaps(k), 1);
	T_EQ_INT(be->ops->disk_snapshot_list(be, k, on_snap, &l), 0);
	T_EQ_INT(l.n, 1);
	T_EQ_INT(write_at(k, 72, 2000, 1000), 0);
	T_ASSERT(snap_bytes(k, id, want, sizeof(want)));
	T_EQ_INT(copy_snap(k, k, id), 0);
	T_ASSERT(same_bytes(k, want, sizeof(want)));
	T_EQ_INT(raw_head(k, "x-ms-meta-asrfsowner", own, sizeof(own)), 200);
	T_EQ_STR(own, ""); /* no owner came with the copy */
	T_EQ_INT(be->ops->disk_rename(be, k, to), -EBUSY);
	T_EQ_INT(be->ops->disk_exists(be, k), 1);
	T_EQ_INT(be->ops->disk_exists(be, to), 0);
	T_EQ_INT(be->ops->disk_delete(be, k), 0);
	T_EQ_INT(count_snaps(k), 0);
	T_EQ_INT(be->ops->disk_exists(be, k), 0);
}

/* Several threads share one backend and one open disk (positional I/O). */
struct worker {
	struct bdisk *d;
	int id, bad;
};

#define TBLOCK 65536u
#define TBLOCKS 4

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char *in = malloc(TBLOCK), *out = malloc(TBLOCK);
	char *data = NULL, key[64];

	if (!in || !out) {
		w->bad = 1;
		goto out;
	}
	for (int i = 0; i < TBLOCKS; i++) {
		/* Interleaved blocks, at an odd offset inside each. */
		uint64_t off = ((uint64_t)i * 4 + (uint64_t)w->id) * TBLOCK + 100;
		fill(in, TBLOCK - 200, (unsigned)(w->id * 100 + i));
		if (bd_pwrite(w->d, in, TBLOCK - 200, off) != (ssize_t)(TBLOCK - 200) ||
		    bd_pread(w->d, out, TBLOCK - 200, off) != (ssize_t)(TBLOCK - 200) ||
		    memcmp(in, out, TBLOCK - 200) != 0)
			w->bad = 1;
	}
	snprintf(key, sizeof(key), "thr/%d", w->id);
	if (be_rec_put(be, K(key), "x", 1, NULL, NULL) != 0 || be_rec_get(be, K(key), &data, NULL, NULL) != 0)
		w->bad = 1;
	free(data);
out:
	free(in);
	free(out);
	return NULL;
}

static void test_threads(void)
{
	const char *k = K("disks/shared.raw");
	struct worker w[4];
	pthread_t t[4];
	struct bdisk *d = NULL;

	T_EQ_INT(be->ops->disk_create(be, k, (uint64_t)TBLOCK * TBLOCKS * 4), 0);
	T_EQ_INT(be_disk_open(be, k, BDISK_RDWR, &d), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.d = d, .id = i};
		T_ASSERT(pthread_create(&t[i], NULL, worker_run, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	bd_close(d);
	for (int i = 0; i < 4; i++)
		T_EQ_INT(w[i].bad, 0);
	T_EQ_INT(be->ops->disk_delete(be, k), 0);
}

static void test_leases(void)
{
	const char *k = K("vaults/v1/lock");
	void *l1 = NULL, *l2 = NULL;

	T_EQ_INT(be->ops->lease_acquire(be, k, &l1), 0);
	T_EQ_INT(be->ops->lease_acquire(be, k, &l2), -EBUSY);
	T_EQ_INT(be->ops->lease_renew(l1), 0);
	T_EQ_INT(be->ops->lease_acquire(be, k, &l2), -EBUSY);
	be->ops->lease_release(l1);
	T_EQ_INT(be->ops->lease_acquire(be, k, &l2), 0);
	T_EQ_INT(be->ops->lease_renew(l2), 0);
	be->ops->lease_release(l2);
	/* A leased key can still be removed with its tree (as a locked file can). */
	T_EQ_INT(be->ops->lease_acquire(be, k, &l1), 0);
	T_EQ_INT(be->ops->remove_tree(be, K("vaults")), 0);
	be->ops->lease_release(l1);
}

static void run_all(const struct backend_conf *conf)
{
	struct backend_conf other = *conf;
	struct backend *b2 = NULL;
	char why[512];
	int rc;

	kind = conf->kind;
	cur = conf;
	strict_holes = strcmp(kind, "azblob") == 0;
	snprintf(pfx, sizeof(pfx), "t%d-%ld/run", (int)getpid(), (long)time(NULL));
	rc = backend_open(conf, &be);
	if (rc == 0)
		rc = be->ops->init_region(be);
	if (rc < 0) {
		printf("not ok - %s open+init_region: %s\n", kind, strerror(-rc));
		t_failures++;
		return;
	}
	RUN(test_region);
	RUN(test_records);
	RUN(test_list_and_remove_tree);
	RUN(test_disk_io);
	RUN(test_disk_sparse_truncate);
	RUN(test_disk_rename_delete);
	RUN(test_disk_vhd_footer);
	RUN(test_disk_version);
	RUN(test_snapshots);
	if (strcmp(kind, "azblob") == 0) {
		RUN(test_az_physical_blobs);
		RUN(test_az_half_rename);
		RUN(test_az_plain_page_blob);
		RUN(test_az_snapshots);
		RUN(test_az_plain_snapshots);
	}
	RUN(test_threads);
	RUN(test_leases);
	other.region = "some-other-region";
	rc = backend_open(&other, &b2);
	if (rc == 0) {
		int ir = b2->ops->init_region(b2), pr = b2->ops->probe(b2, why, sizeof(why));
		printf("%s - %s region_marker_mismatch\n", ir == -EINVAL && pr == -EHOSTUNREACH ? "ok" : "not ok",
		       kind);
		if (!(ir == -EINVAL && pr == -EHOSTUNREACH)) {
			fprintf(stderr, "  init_region %d, probe %d (%s)\n", ir, pr, why);
			t_failures++;
		}
		b2->ops->close(b2);
	}
	{
		char top[sizeof(pfx)];
		snprintf(top, sizeof(top), "%s", pfx);
		*strchr(top, '/') = '\0';
		be->ops->remove_tree(be, top);
	}
	be->ops->close(be);
	be = NULL;
}

static int azblob_conf(struct backend_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->kind = "azblob";
	c->region = getenv("ASRFS_TEST_AZBLOB_REGION") ? getenv("ASRFS_TEST_AZBLOB_REGION") : "testregion";
	c->endpoint = getenv("ASRFS_TEST_AZBLOB_ENDPOINT");
	c->account = getenv("ASRFS_TEST_AZBLOB_ACCOUNT");
	c->key = getenv("ASRFS_TEST_AZBLOB_KEY");
	c->container = getenv("ASRFS_TEST_AZBLOB_CONTAINER");
	return c->endpoint && *c->endpoint && c->account && c->key && c->container;
}

/* --put KEY VALUE / --get KEY against the azblob region of the environment. */
static int record_op(int argc, char **argv)
{
	struct backend_conf c;
	char *data = NULL;
	size_t len = 0;
	int rc, put = strcmp(argv[1], "--put") == 0;

	if (!azblob_conf(&c) || argc != (put ? 4 : 3)) {
		fprintf(stderr, "usage: test_backend --put KEY VALUE | --get KEY (with ASRFS_TEST_AZBLOB_*)\n");
		return 2;
	}
	rc = backend_open(&c, &be);
	if (rc == 0 && put)
		rc = be->ops->init_region(be);
	if (rc == 0)
		rc = put ? be_rec_put(be, argv[2], argv[3], strlen(argv[3]), NULL, NULL)
			 : be_rec_get(be, argv[2], &data, &len, NULL);
	if (rc < 0)
		printf("error: %d %s\n", rc, strerror(-rc));
	else if (!put)
		printf("%s\n", data);
	free(data);
	if (be)
		be->ops->close(be);
	return rc < 0 ? 1 : 0;
}

static int probe_once(void)
{
	struct backend_conf c;
	struct timespec t0, t1;
	char why[512] = "";
	int rc;

	if (!azblob_conf(&c)) {
		fprintf(stderr, "test_backend --probe: ASRFS_TEST_AZBLOB_* not set\n");
		return 2;
	}
	rc = backend_open(&c, &be);
	if (rc < 0) {
		fprintf(stderr, "open: %s\n", strerror(-rc));
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = be_probe(be, why, sizeof(why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == 0)
		printf("available");
	else
		printf("unavailable: %d %s", rc, why);
	printf(" (%.1f s)\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	be->ops->close(be);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct backend_conf c = {0};
	char dir[] = "/tmp/asrfs-test-backend.XXXXXX";

	if (argc > 1 && strcmp(argv[1], "--probe") == 0)
		return probe_once();
	if (argc > 1 && (strcmp(argv[1], "--put") == 0 || strcmp(argv[1], "--get") == 0))
		return record_op(argc, argv);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	c.kind = "local";
	c.region = "testregion";
	c.path = dir;
	run_all(&c);
	{
		char cmd[sizeof(dir) + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	/* The azblob half runs when tests/integration/t_azblob_backend.sh
	 * starts an Azurite and points this program at it; alone, it is the
	 * local half only (not a skip: the azblob half has its own run). */
	if (azblob_conf(&c))
		run_all(&c);
	T_DONE();
}
