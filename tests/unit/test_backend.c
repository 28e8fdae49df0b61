/*
 * test_backend.c - conformance test of the backend_ops contract
 * (backend/backend.h): records with etag conditions, list, remove_tree,
 * disks (odd offsets and unaligned lengths, zero, next_data, truncate,
 * rename, delete) and leases.  The same checks run against the `local`
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
 */
#define _GNU_SOURCE
#include "../../backend/backend.h"
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static struct backend *be;
static const char *kind;
static char pfx[128];   /* every key of this run lives below it */
static int strict_holes; /* the medium reports holes exactly (azblob) */

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
