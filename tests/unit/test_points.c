/*
 * test_points.c - unit tests of the recovery-point chain (sync/points.c).
 *
 * Each test builds replicas of a few MiB with random data in a temporary
 * local backend, then runs replication cycles the way the delta engine
 * would: for each batch, save every page's old contents through the cycle's
 * undo sink, commit the sink, then write the new data to the replica with
 * bd_pwrite (or bd_zero, or truncate).  After each rpchain_commit the test
 * keeps a full copy of every replica ("the model"), and then checks that
 * every point reads back byte-equal to its copy, through rpchain_read and
 * rpchain_export, after deletes, merges, crashes, aborts, reopens and
 * prunes, and while a reader thread races the cycles.  The delta engine
 * itself is not used.
 *
 * Every chain test runs twice: as an undo chain on the local backend, and
 * in snapshot mode on "localsnap", the local backend's ops table plus the
 * snapshot ops done here by copying a disk to "zz-snaps/<key>/<id>".  In
 * snapshot mode the cycle's sink is NULL and the writes go straight to the
 * replicas, as the engine does then.
 */
#define _GNU_SOURCE
#include "t.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <unistd.h>

#include "../../sync/points.h"

#define PGS 4096u
#define MAXPTS 64
#define MAXD 2

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

struct model {
	char id[RP_ID_MAX];
	uint64_t seq;
	uint64_t size[MAXD];
	unsigned char *img[MAXD];
	int gone;
};

struct fx {
	char dir[64];
	struct backend *be;
	struct rpchain *c;
	struct rpchain_conf conf;
	const char *keys[MAXD];
	int ndisks;
	struct model m[MAXPTS];
	int nm;
	time_t t;
};

static const time_t T0 = 1795514700; /* 2026-11-24T10:05:00Z */

/* ---- a snapshot-capable local backend ---- */

static int snap_mode;     /* the running test uses localsnap: snapshot mode */
static int fake_xdev;     /* disk_copy_snapshot answers -EXDEV (another account) */
static unsigned snap_counter;
static struct backend_ops snap_ops;

static int snap_key(const char *key, const char *id, char *buf, size_t len)
{
	int n = id ? snprintf(buf, len, "zz-snaps/%s/%s", key, id) : snprintf(buf, len, "zz-snaps/%s", key);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* dst := src, size and holes included (dst open read-write). */
static int copy_bdisk(struct bdisk *src, struct bdisk *dst)
{
	static unsigned char buf[1u << 20];
	uint64_t size, off = 0, a, e;
	int rc = bd_size(src, &size);

	if (rc == 0)
		rc = bd_truncate(dst, 0);
	if (rc == 0)
		rc = bd_truncate(dst, size);
	while (rc == 0 && (rc = bd_next_data(src, off, &a, &e)) == 0) {
		for (off = a; off < e && rc == 0;) {
			uint64_t n = e - off < sizeof(buf) ? e - off : sizeof(buf);
			ssize_t r = bd_pread(src, buf, n, off);
			if (r != (ssize_t)n || bd_pwrite(dst, buf, n, off) != (ssize_t)n)
				rc = -EIO;
			off += n;
		}
	}
	return rc == -ENXIO ? bd_sync(dst) : rc;
}

static int fake_snapshot(struct backend *be, const char *key, char snap[BACKEND_SNAP_MAX])
{
	char sk[BACKEND_KEY_MAX];
	struct bdisk *src = NULL, *dst = NULL;
	int rc;

	snprintf(snap, BACKEND_SNAP_MAX, "s%06u", __atomic_add_fetch(&snap_counter, 1, __ATOMIC_RELAXED));
	rc = snap_key(key, snap, sk, sizeof(sk));
	if (rc == 0)
		rc = local_backend_ops.disk_open(be, key, BDISK_RDONLY, &src);
	if (rc == 0)
		rc = local_backend_ops.disk_create(be, sk, 0);
	if (rc == 0)
		rc = local_backend_ops.disk_open(be, sk, BDISK_RDWR, &dst);
	if (rc == 0)
		rc = copy_bdisk(src, dst);
	bd_close(src);
	bd_close(dst);
	return rc;
}

static int fake_snapshot_delete(struct backend *be, const char *key, const char *snap)
{
	char sk[BACKEND_KEY_MAX];
	int rc = snap_key(key, snap, sk, sizeof(sk));
	return rc < 0 ? rc : local_backend_ops.disk_delete(be, sk);
}

struct fake_list {
	int (*cb)(void *, const char *);
	void *arg;
};

static int fake_list_cb(void *arg, const char *name, int is_dir)
{
	struct fake_list *l = arg;
	return is_dir ? 0 : l->cb(l->arg, name);
}

static int fake_snapshot_list(struct backend *be, const char *key, int (*cb)(void *, const char *), void *arg)
{
	char sk[BACKEND_KEY_MAX];
	struct fake_list l = {cb, arg};
	int rc = snap_key(key, NULL, sk, sizeof(sk));
	if (rc == 0)
		rc = local_backend_ops.disk_exists(be, key);
	if (rc == 0)
		return -ENOENT;
	rc = local_backend_ops.list(be, sk, fake_list_cb, &l);
	return rc == -ENOENT ? 0 : rc;
}

static int fake_open_snapshot(struct backend *be, const char *key, const char *snap, struct bdisk **out)
{
	char sk[BACKEND_KEY_MAX];
	int rc = snap_key(key, snap, sk, sizeof(sk));
	return rc < 0 ? rc : local_backend_ops.disk_open(be, sk, BDISK_RDONLY, out);
}

static int fake_copy_snapshot(struct bdisk *dst, struct backend *be, const char *key, const char *snap)
{
	struct bdisk *src;
	int rc;

	if (fake_xdev)
		return -EXDEV;
	rc = fake_open_snapshot(be, key, snap, &src);
	if (rc < 0)
		return rc;
	rc = copy_bdisk(src, dst);
	bd_close(src);
	return rc;
}

/* A disk's snapshots go with it. */
static int fake_disk_delete(struct backend *be, const char *key)
{
	char sk[BACKEND_KEY_MAX];
	int rc = local_backend_ops.disk_delete(be, key);
	if (rc == 0 && snap_key(key, NULL, sk, sizeof(sk)) == 0)
		(void)local_backend_ops.remove_tree(be, sk);
	return rc;
}

static void snap_ops_init(void)
{
	snap_ops = local_backend_ops;
	snap_ops.kind = "localsnap";
	snap_ops.disk_delete = fake_disk_delete;
	snap_ops.disk_snapshot = fake_snapshot;
	snap_ops.disk_snapshot_delete = fake_snapshot_delete;
	snap_ops.disk_snapshot_list = fake_snapshot_list;
	snap_ops.disk_open_snapshot = fake_open_snapshot;
	snap_ops.disk_copy_snapshot = fake_copy_snapshot;
}

static int count_cb(void *arg, const char *id)
{
	(void)id;
	(*(int *)arg)++;
	return 0;
}

/* How many snapshots replica d has (-1 on error). */
static int n_snaps_key(struct backend *be, const char *key)
{
	int n = 0;
	return fake_snapshot_list(be, key, count_cb, &n) < 0 ? -1 : n;
}

static int fx_open(struct fx *f)
{
	return rpchain_open(&f->conf, &f->c);
}

static void fx_free(struct fx *f)
{
	char cmd[128];
	rpchain_close(f->c);
	f->c = NULL;
	if (f->be)
		f->be->ops->close(f->be);
	f->be = NULL;
	for (int i = 0; i < f->nm; i++)
		for (int d = 0; d < MAXD; d++)
			free(f->m[i].img[d]);
	f->nm = 0;
	if (f->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", f->dir);
	}
	f->dir[0] = '\0';
}

/* A whole disk object into a malloc'd buffer. */
static unsigned char *read_disk(struct fx *f, const char *key, uint64_t *size)
{
	struct bdisk *bd;
	unsigned char *buf = NULL;
	if (be_disk_open(f->be, key, BDISK_RDONLY, &bd) < 0)
		return NULL;
	if (bd_size(bd, size) == 0) {
		buf = malloc(*size ? *size : 1);
		if (buf && bd_pread(bd, buf, *size, 0) != (ssize_t)*size) {
			free(buf);
			buf = NULL;
		}
	}
	bd_close(bd);
	return buf;
}

static unsigned char *read_replica(struct fx *f, int d, uint64_t *size)
{
	return read_disk(f, f->keys[d], size);
}

/* Record the current replicas as the model of point pt. */
static int snapshot(struct fx *f, const struct rp_point *pt)
{
	struct model *m = &f->m[f->nm];
	if (f->nm >= MAXPTS)
		return -1;
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", pt->id);
	m->seq = pt->seq;
	for (int d = 0; d < f->ndisks; d++)
		if (!(m->img[d] = read_replica(f, d, &m->size[d])))
			return -1;
	f->nm++;
	return 0;
}

static int fx_setup(struct fx *f, int ndisks, const uint64_t *sizes)
{
	struct rp_point pt;
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/asrfs-points.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (backend_open(&(struct backend_conf){.region = "r1", .kind = "local", .path = f->dir}, &f->be) < 0)
		return -1;
	if (f->be->ops->init_region(f->be) < 0)
		return -1;
	fake_xdev = 0;
	if (snap_mode)
		f->be->ops = &snap_ops;
	f->ndisks = ndisks;
	f->keys[0] = "replicas/web01/disk0";
	f->keys[1] = "replicas/web01/disk1";
	for (int d = 0; d < ndisks; d++) {
		struct bdisk *bd;
		unsigned char *buf = malloc(sizes[d]);
		int rc = buf ? f->be->ops->disk_create(f->be, f->keys[d], sizes[d]) : -1;
		if (rc == 0)
			rc = be_disk_open(f->be, f->keys[d], BDISK_RDWR, &bd);
		if (rc == 0) {
			fill_random(buf, sizes[d]);
			/* a hole in the middle, so holes are part of the images */
			if (sizes[d] > 8 * PGS)
				memset(buf + 4 * PGS, 0, 2 * PGS);
			if (bd_pwrite(bd, buf, sizes[d], 0) != (ssize_t)sizes[d])
				rc = -1;
			if (sizes[d] > 8 * PGS && bd_zero(bd, 4 * PGS, 2 * PGS) < 0)
				rc = -1;
			bd_close(bd);
		}
		free(buf);
		if (rc < 0)
			return -1;
	}
	f->conf = (struct rpchain_conf){.meta = f->be,
					.catalog_key = "vaults/v1/items/web01/points.json",
					.data = f->be,
					.data_prefix = "replicas/web01/points",
					.ndisks = ndisks,
					.replica_keys = f->keys};
	if (fx_open(f) < 0)
		return -1;
	f->t = T0;
	if (rpchain_add_initial(f->c, f->t, 0, &pt) < 0)
		return -1;
	return snapshot(f, &pt);
}

/* Save pre-images of pages (through the sink), commit, then apply writes:
 * what the delta engine does for one batch.  new == NULL zeroes the page. */
struct wr {
	uint64_t page;
	const unsigned char *data; /* PGS bytes, or NULL: make a hole */
};

static int apply_batch(struct fx *f, struct rp_cycle *cy, int d, const struct wr *w, int n)
{
	const struct delta_undo *u = rp_cycle_undo(cy, d);
	struct bdisk *bd;
	unsigned char old[PGS];
	int rc = be_disk_open(f->be, f->keys[d], BDISK_RDWR, &bd);
	if (rc < 0 || (u == NULL) != snap_mode)
		return -1;
	for (int i = 0; i < n && rc == 0 && u; i++) {
		ssize_t r = bd_pread(bd, old, PGS, w[i].page * PGS);
		if (r < 0)
			rc = -1;
		else {
			memset(old + r, 0, PGS - (size_t)r); /* past the old end: zeros */
			rc = u->save(u->arg, w[i].page, old);
		}
	}
	if (rc == 0 && u)
		rc = u->commit(u->arg);
	for (int i = 0; i < n && rc == 0; i++) {
		if (w[i].data)
			rc = bd_pwrite(bd, w[i].data, PGS, w[i].page * PGS) == PGS ? 0 : -1;
		else
			rc = bd_zero(bd, w[i].page * PGS, PGS);
	}
	bd_close(bd);
	return rc;
}

/* Resize replica d the way the engine would: pages cut off are saved first. */
static int resize(struct fx *f, struct rp_cycle *cy, int d, uint64_t nsize)
{
	const struct delta_undo *u = rp_cycle_undo(cy, d);
	struct bdisk *bd;
	unsigned char old[PGS];
	uint64_t size;
	int rc = be_disk_open(f->be, f->keys[d], BDISK_RDWR, &bd);
	if (rc < 0)
		return -1;
	rc = bd_size(bd, &size);
	if ((u == NULL) != snap_mode)
		rc = -1;
	for (uint64_t p = nsize / PGS; rc == 0 && u && p * PGS < size; p++) {
		ssize_t r = bd_pread(bd, old, PGS, p * PGS);
		if (r < 0)
			rc = -1;
		else {
			memset(old + r, 0, PGS - (size_t)r);
			rc = u->save(u->arg, p, old);
		}
	}
	if (rc == 0 && u)
		rc = u->commit(u->arg);
	if (rc == 0)
		rc = bd_truncate(bd, nsize);
	bd_close(bd);
	return rc;
}

/* Change about `pages` random pages of every disk in batches, some twice. */
static int change_pages(struct fx *f, struct rp_cycle *cy, int pages)
{
	static unsigned char data[16][PGS];
	for (int d = 0; d < f->ndisks; d++) {
		uint64_t size;
		struct bdisk *bd;
		if (be_disk_open(f->be, f->keys[d], BDISK_RDONLY, &bd) < 0)
			return -1;
		if (bd_size(bd, &size) < 0)
			size = 0;
		bd_close(bd);
		for (int done = 0; done < pages && size >= PGS;) {
			struct wr w[16];
			int n = 1 + (int)(rnd() % 16);
			for (int i = 0; i < n; i++) {
				fill_random(data[i], PGS);
				w[i].page = rnd() % (size / PGS);
				w[i].data = rnd() % 8 == 0 ? NULL : data[i];
			}
			if (n > 2)
				w[n - 1].page = w[0].page; /* saved twice in one batch */
			if (apply_batch(f, cy, d, w, n) < 0)
				return -1;
			done += n;
		}
	}
	return 0;
}

static int commit_cycle(struct fx *f, struct rp_cycle *cy)
{
	struct rp_point pt;
	f->t += 300;
	if (rpchain_commit(cy, f->t, 0, &pt) < 0)
		return -1;
	return snapshot(f, &pt);
}

static int run_cycle(struct fx *f, int pages)
{
	struct rp_cycle *cy;
	if (rpchain_begin(f->c, &cy) < 0)
		return -1;
	if (change_pages(f, cy, pages) < 0)
		return -1;
	return commit_cycle(f, cy);
}

/* Compare one point with its model through rpchain_read. */
static int check_point(struct fx *f, const struct model *m, int quick)
{
	static unsigned char buf[(1u << 20) + 8192];
	for (int d = 0; d < f->ndisks; d++) {
		uint64_t size = 0;
		if (rpchain_disk_size(f->c, m->id, d, &size) < 0 || size != m->size[d]) {
			fprintf(stderr, "  %s disk %d: size %" PRIu64 ", model %" PRIu64 "\n", m->id, d, size,
				m->size[d]);
			return -1;
		}
		for (uint64_t off = 0; !quick && off < size; off += 1u << 20) {
			uint64_t want = size - off < (1u << 20) ? size - off : (1u << 20);
			ssize_t r = rpchain_read(f->c, m->id, d, buf, 1u << 20, off);
			if (r != (ssize_t)want || memcmp(buf, m->img[d] + off, want) != 0) {
				fprintf(stderr, "  %s disk %d: 1 MiB read at %" PRIu64 " differs (r=%zd)\n", m->id,
					d, off, r);
				return -1;
			}
		}
		for (int k = 0; k < (quick ? 4 : 24) && size; k++) {
			uint64_t off = rnd() % size, len = 1 + rnd() % (3 * PGS + 1000);
			uint64_t want = size - off < len ? size - off : len;
			ssize_t r = rpchain_read(f->c, m->id, d, buf, len, off);
			if (r != (ssize_t)want || memcmp(buf, m->img[d] + off, want) != 0) {
				fprintf(stderr, "  %s disk %d: read %" PRIu64 "+%" PRIu64 " differs (r=%zd)\n",
					m->id, d, off, len, r);
				return -1;
			}
		}
		if (rpchain_read(f->c, m->id, d, buf, 100, size) != 0) {
			fprintf(stderr, "  %s disk %d: read at the end is not empty\n", m->id, d);
			return -1;
		}
	}
	return 0;
}

static int check_all(struct fx *f)
{
	for (int i = 0; i < f->nm; i++)
		if (!f->m[i].gone && check_point(f, &f->m[i], 0) < 0)
			return -1;
	return 0;
}

/* The replicas equal the newest model (quietly: some checks expect not). */
static int check_replicas_q(struct fx *f, int quiet)
{
	const struct model *m = NULL;
	for (int i = 0; i < f->nm; i++)
		if (!f->m[i].gone)
			m = &f->m[i];
	for (int d = 0; m && d < f->ndisks; d++) {
		uint64_t size;
		unsigned char *img = read_replica(f, d, &size);
		int bad = !img || size != m->size[d] || memcmp(img, m->img[d], size) != 0;
		free(img);
		if (bad) {
			if (!quiet)
				fprintf(stderr, "  replica %d differs from %s\n", d, m->id);
			return -1;
		}
	}
	return m ? 0 : -1;
}

static int check_replicas(struct fx *f)
{
	return check_replicas_q(f, 0);
}

static int n_points(struct fx *f)
{
	struct rp_point *pts;
	int n;
	if (rpchain_list(f->c, &pts, &n) < 0)
		return -1;
	free(pts);
	return n;
}

/* Snapshot mode: every replica has exactly one snapshot per point (none
 * missing, no garbage).  Undo mode: true. */
static int snaps_match(struct fx *f)
{
	int n = n_points(f);
	for (int d = 0; snap_mode && d < f->ndisks; d++)
		if (n_snaps_key(f->be, f->keys[d]) != n) {
			fprintf(stderr, "  replica %d has %d snapshots for %d points\n", d,
				n_snaps_key(f->be, f->keys[d]), n);
			return 0;
		}
	return 1;
}

/* Whether point seq has undo objects (always 0 in snapshot mode: none are
 * ever made, so the undo-mode checks below read "if (!snap_mode)"). */
static int undo_exists(struct fx *f, uint64_t seq, int d, const char *ext)
{
	char key[256];
	snprintf(key, sizeof(key), "%s/%" PRIu64 "/%d.%s", f->conf.data_prefix, seq, d, ext);
	return f->be->ops->disk_exists(f->be, key);
}

/* 10 cycles over a 3 MiB and a 1 MiB disk, one growing, one shrinking. */
static int build_history(struct fx *f)
{
	uint64_t sizes[2] = {3u << 20, (1u << 20) + 512};
	if (fx_setup(f, 2, sizes) < 0)
		return -1;
	for (int i = 0; i < 10; i++) {
		struct rp_cycle *cy;
		if (rpchain_begin(f->c, &cy) < 0)
			return -1;
		if (i == 3 && resize(f, cy, 0, (4u << 20) + 1024) < 0)
			return -1;
		if (i == 6 && resize(f, cy, 1, (1u << 19) + 512) < 0)
			return -1;
		if (i == 8 && resize(f, cy, 0, (3u << 20) + 4096) < 0)
			return -1;
		if (change_pages(f, cy, 40) < 0)
			return -1;
		if (i == 3) {
			/* write the new tail past the old end: pre-images are zeros */
			static unsigned char data[PGS];
			struct wr w = {.page = (4u << 20) / PGS - 1, .data = data};
			fill_random(data, sizeof(data));
			if (apply_batch(f, cy, 0, &w, 1) < 0)
				return -1;
		}
		if (commit_cycle(f, cy) < 0)
			return -1;
	}
	return 0;
}

static void test_cycles_read(void)
{
	struct fx f;
	int rc = build_history(&f);
	if (rc == 0) {
		T_EQ_INT(n_points(&f), 11);
		T_EQ_STR(f.m[0].id, "2026-11-24T10:05:00Z");
		T_EQ_STR(f.m[1].id, "2026-11-24T10:10:00Z");
		T_ASSERT(f.m[4].size[0] == (4u << 20) + 1024);
		T_ASSERT(check_all(&f) == 0);
		T_ASSERT(check_replicas(&f) == 0);
		T_ASSERT(snaps_match(&f));
		if (snap_mode) /* no pre-images are kept */
			T_EQ_INT(undo_exists(&f, f.m[0].seq, 0, "undo"), 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* Points equal their copies through export into fresh and used disks. */
static int prog_calls;
static int count_progress(void *arg, const struct delta_stats *st)
{
	(void)arg;
	(void)st;
	prog_calls++;
	return 0;
}
static int cancel_progress(void *arg, const struct delta_stats *st)
{
	(void)arg;
	(void)st;
	return 1;
}

static int export_check(struct fx *f, const struct model *m, int d, const char *key, int fresh)
{
	struct bdisk *bd;
	unsigned char *img = NULL;
	uint64_t size = 0;
	int rc;

	if (fresh)
		rc = f->be->ops->disk_create(f->be, key, 0);
	else {
		/* an existing disk full of garbage, bigger than the image */
		unsigned char junk[PGS];
		rc = f->be->ops->disk_create(f->be, key, m->size[d] + 64 * PGS);
		fill_random(junk, sizeof(junk));
		if (rc == 0 && be_disk_open(f->be, key, BDISK_RDWR, &bd) == 0) {
			for (uint64_t o = 0; o < m->size[d] + 64 * PGS; o += PGS)
				if (bd_pwrite(bd, junk, PGS, o) != PGS)
					rc = -1;
			bd_close(bd);
		}
	}
	if (rc < 0 || be_disk_open(f->be, key, BDISK_RDWR, &bd) < 0)
		return -1;
	rc = rpchain_export(f->c, m->id, d, bd, count_progress, NULL);
	bd_close(bd);
	if (rc < 0) {
		fprintf(stderr, "  export of %s disk %d: %d\n", m->id, d, rc);
		return -1;
	}
	img = read_disk(f, key, &size);
	rc = img && size == m->size[d] && memcmp(img, m->img[d], size) == 0 ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "  export of %s disk %d differs\n", m->id, d);
	free(img);
	return rc;
}

/* Bytes of key that are allocated (not holes), to see zeros became holes. */
static uint64_t allocated(struct fx *f, const char *key)
{
	struct bdisk *bd;
	uint64_t off = 0, s, e, total = 0;
	if (be_disk_open(f->be, key, BDISK_RDONLY, &bd) < 0)
		return UINT64_MAX;
	while (bd_next_data(bd, off, &s, &e) == 0) {
		total += e - s;
		off = e;
	}
	bd_close(bd);
	return total;
}

static void test_export(void)
{
	struct fx f;
	int rc = build_history(&f);
	char key[64];
	if (rc == 0) {
		for (int i = 0; i < f.nm; i++)
			for (int d = 0; d < f.ndisks; d++) {
				/* snapshot mode: the service's copy, or (another
				 * account) reads of the snapshot */
				fake_xdev = snap_mode && (i + d) % 2;
				snprintf(key, sizeof(key), "exp/fresh-%d-%d", i, d);
				T_ASSERT(export_check(&f, &f.m[i], d, key, 1) == 0);
				snprintf(key, sizeof(key), "exp/used-%d-%d", i, d);
				T_ASSERT(export_check(&f, &f.m[i], d, key, 0) == 0);
			}
		fake_xdev = 0;
		/* point 0 of disk 0 has a 2-page hole: the export keeps it */
		snprintf(key, sizeof(key), "exp/fresh-0-0");
		T_ASSERT(allocated(&f, key) <= f.m[0].size[0] - 2 * PGS);
		snprintf(key, sizeof(key), "exp/used-0-0");
		T_ASSERT(allocated(&f, key) <= f.m[0].size[0] - 2 * PGS);
		/* progress: about every 16 MiB and at the end; cancel stops it */
		T_ASSERT(prog_calls >= 2 * f.nm * f.ndisks);
		{
			struct bdisk *bd;
			T_EQ_INT(f.be->ops->disk_create(f.be, "exp/cancel", 0), 0);
			T_EQ_INT(be_disk_open(f.be, "exp/cancel", BDISK_RDWR, &bd), 0);
			rc = rpchain_export(f.c, f.m[0].id, 0, bd, cancel_progress, NULL);
			T_EQ_INT(rpchain_export(f.c, "1999-01-01T00:00:00Z", 0, bd, NULL, NULL), -ENOENT);
			bd_close(bd);
			T_EQ_INT(rc, -ECANCELED);
			rc = 0;
		}
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

static int fx_reopen(struct fx *f)
{
	rpchain_close(f->c);
	f->c = NULL;
	return fx_open(f);
}

static void test_delete(void)
{
	struct fx f;
	int rc = build_history(&f);
	if (rc == 0) {
		uint64_t s0 = f.m[0].seq, s5 = f.m[5].seq;
		T_EQ_INT(undo_exists(&f, s0, 0, "idx"), !snap_mode);
		T_EQ_INT(undo_exists(&f, s0, 0, "undo"), !snap_mode);
		/* the newest is the replica: never deleted; unknown ids */
		T_EQ_INT(rpchain_delete(f.c, f.m[10].id), -EPERM);
		T_EQ_INT(rpchain_delete(f.c, "2000-01-01T00:00:00Z"), -ENOENT);
		/* oldest: its undo objects go, the others stay exact */
		T_EQ_INT(rpchain_delete(f.c, f.m[0].id), 0);
		f.m[0].gone = 1;
		T_EQ_INT(rpchain_delete(f.c, f.m[0].id), -ENOENT);
		for (int d = 0; d < 2; d++) {
			T_EQ_INT(undo_exists(&f, s0, d, "idx"), 0);
			T_EQ_INT(undo_exists(&f, s0, d, "undo"), 0);
		}
		T_EQ_INT(n_points(&f), 10);
		T_ASSERT(snaps_match(&f));
		T_ASSERT(check_all(&f) == 0);
		/* middle: merged into its predecessor, the others stay exact */
		T_EQ_INT(undo_exists(&f, s5, 0, "idx"), !snap_mode);
		T_EQ_INT(rpchain_delete(f.c, f.m[5].id), 0);
		f.m[5].gone = 1;
		T_EQ_INT(undo_exists(&f, s5, 0, "idx"), 0);
		T_EQ_INT(undo_exists(&f, s5, 1, "idx"), 0);
		T_EQ_INT(n_points(&f), 9);
		T_ASSERT(snaps_match(&f));
		T_ASSERT(check_all(&f) == 0);
		/* two neighbours in a row, then the one before the newest */
		T_EQ_INT(rpchain_delete(f.c, f.m[6].id), 0);
		f.m[6].gone = 1;
		T_EQ_INT(rpchain_delete(f.c, f.m[9].id), 0);
		f.m[9].gone = 1;
		T_ASSERT(check_all(&f) == 0);
		/* the same after a reopen (merged undo data is durable) */
		T_EQ_INT(fx_reopen(&f), 0);
		T_EQ_INT(n_points(&f), 7);
		T_ASSERT(snaps_match(&f));
		T_ASSERT(check_all(&f) == 0);
		T_ASSERT(check_replicas(&f) == 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* A cycle cut short (saved, committed to the sink, replica overwritten, no
 * rpchain_commit): the next open rolls it back. */
static void test_crash_rollback(void)
{
	struct fx f;
	int rc = build_history(&f);
	if (rc == 0) {
		struct rp_cycle *cy;
		uint64_t newest = f.m[10].seq;
		T_EQ_INT(rpchain_begin(f.c, &cy), 0);
		T_EQ_INT(rpchain_begin(f.c, &cy), -EBUSY);
		T_EQ_INT(resize(&f, cy, 1, 2u << 20), 0);
		T_EQ_INT(resize(&f, cy, 0, 1u << 20), 0);
		T_EQ_INT(change_pages(&f, cy, 60), 0);
		if (!snap_mode) {
			/* a save whose sink commit never came */
			unsigned char junk[PGS];
			const struct delta_undo *u = rp_cycle_undo(cy, 0);
			memset(junk, 0x5a, sizeof(junk));
			T_EQ_INT(u->save(u->arg, 3, junk), 0);
		} else {
			/* the catalog says a cycle runs; a crash in commit after
			 * the snapshots, before the catalog, leaves garbage */
			char *text = NULL;
			char sn[BACKEND_SNAP_MAX];
			T_EQ_INT(be_rec_get(f.be, f.conf.catalog_key, &text, NULL, NULL), 0);
			T_ASSERT(strstr(text, "\"cycle\":true") != NULL);
			free(text);
			T_EQ_INT(f.be->ops->disk_snapshot(f.be, f.keys[0], sn), 0);
			T_EQ_INT(f.be->ops->disk_snapshot(f.be, f.keys[1], sn), 0);
			T_ASSERT(!snaps_match(&f));
		}
		T_EQ_INT(undo_exists(&f, newest, 0, "idx"), !snap_mode);
		T_ASSERT(check_replicas_q(&f, 1) != 0); /* the test can fail */
		T_ASSERT(check_all(&f) == 0);      /* readers never see the cycle */
		T_EQ_INT(fx_reopen(&f), 0);        /* "kill -9" + restart */
		T_EQ_INT(n_points(&f), 11);
		T_ASSERT(check_replicas(&f) == 0);
		T_ASSERT(snaps_match(&f));
		T_EQ_INT(undo_exists(&f, newest, 0, "idx"), 0);
		T_EQ_INT(undo_exists(&f, newest, 1, "idx"), 0);
		T_ASSERT(check_all(&f) == 0);
		/* the chain goes on */
		T_EQ_INT(run_cycle(&f, 30), 0);
		T_ASSERT(check_all(&f) == 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

static void test_abort(void)
{
	struct fx f;
	int rc = build_history(&f);
	if (rc == 0) {
		struct rp_cycle *cy;
		T_EQ_INT(rpchain_begin(f.c, &cy), 0);
		T_EQ_INT(resize(&f, cy, 0, (5u << 20) + 512), 0);
		T_EQ_INT(change_pages(&f, cy, 80), 0);
		T_ASSERT(check_replicas_q(&f, 1) != 0);
		/* readers see the newest point, not the half-written replica */
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(rpchain_abort(cy), 0);
		T_ASSERT(check_replicas(&f) == 0);
		T_ASSERT(snaps_match(&f));
		T_EQ_INT(undo_exists(&f, f.m[10].seq, 0, "idx"), 0);
		T_EQ_INT(n_points(&f), 11);
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(run_cycle(&f, 30), 0);
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(check_all(&f) == 0);
		T_ASSERT(check_replicas(&f) == 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

static void test_reopen(void)
{
	struct fx f;
	int rc = build_history(&f);
	if (rc == 0) {
		struct rp_point *pts, nw;
		int n;
		T_EQ_INT(fx_reopen(&f), 0);
		T_EQ_INT(rpchain_list(f.c, &pts, &n), 0);
		T_EQ_INT(n, 11);
		for (int i = 0; i < n; i++)
			if (strcmp(pts[i].id, f.m[i].id) != 0 || pts[i].seq != f.m[i].seq ||
			    pts[i].time != T0 + 300 * i)
				T_FAIL("point %d: %s/%" PRIu64 " after reopen", i, pts[i].id, pts[i].seq);
		free(pts);
		T_EQ_INT(rpchain_newest(f.c, &nw), 0);
		T_EQ_STR(nw.id, f.m[10].id);
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(run_cycle(&f, 20), 0);
		T_ASSERT(f.m[11].seq > f.m[10].seq);
		T_ASSERT(check_all(&f) == 0);
		/* an empty chain opens empty and refuses cycles */
		{
			struct rpchain *e;
			struct rpchain_conf cf = f.conf;
			struct rp_cycle *cy;
			cf.catalog_key = "vaults/v1/items/other/points.json";
			cf.data_prefix = "replicas/other/points";
			T_EQ_INT(rpchain_open(&cf, &e), 0);
			T_EQ_INT(rpchain_newest(e, &nw), -ENOENT);
			T_EQ_INT(rpchain_begin(e, &cy), -ENOENT);
			rpchain_close(e);
		}
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* Ids from the time, a clash takes the next free second; the catalog JSON. */
static void test_ids_catalog(void)
{
	struct fx f;
	uint64_t sizes[1] = {64 * PGS};
	int rc = fx_setup(&f, 1, sizes);
	if (rc == 0) {
		struct rp_point pt;
		struct rp_cycle *cy;
		char *text = NULL;
		struct json_object *root, *v;
		T_EQ_INT(rpchain_add_initial(f.c, T0, 0, &pt), -EEXIST);
		T_EQ_INT(rpchain_begin(f.c, &cy), 0);
		T_EQ_INT(rpchain_commit(cy, T0, 1, &pt), 0);
		T_EQ_STR(pt.id, "2026-11-24T10:05:01Z");
		T_EQ_INT(pt.app_consistent, 1);
		T_EQ_INT(rpchain_begin(f.c, &cy), 0);
		T_EQ_INT(rpchain_commit(cy, T0, 0, &pt), 0);
		T_EQ_STR(pt.id, "2026-11-24T10:05:02Z");
		T_EQ_INT(be_rec_get(f.be, f.conf.catalog_key, &text, NULL, NULL), 0);
		root = json_tokener_parse(text);
		free(text);
		T_ASSERT(root);
		T_ASSERT(json_object_object_get_ex(root, "next_seq", &v));
		T_EQ_INT(json_object_get_int64(v), (long long)pt.seq + 1);
		T_ASSERT(json_object_object_get_ex(root, "points", &v));
		T_EQ_INT(json_object_array_length(v), 3);
		v = json_object_array_get_idx(v, 1);
		{
			struct json_object *x;
			T_ASSERT(json_object_object_get_ex(v, "id", &x));
			T_EQ_STR(json_object_get_string(x), "2026-11-24T10:05:01Z");
			T_ASSERT(json_object_object_get_ex(v, "app_consistent", &x));
			T_EQ_INT(json_object_get_boolean(x), 1);
			T_ASSERT(json_object_object_get_ex(v, "sizes", &x));
			T_EQ_INT(json_object_get_int64(json_object_array_get_idx(x, 0)), 64 * PGS);
			T_EQ_INT(json_object_object_get_ex(v, "snaps", &x), snap_mode);
			if (snap_mode)
				T_EQ_INT(json_object_array_length(x), 1);
		}
		{
			struct json_object *x;
			T_EQ_INT(json_object_object_get_ex(root, "mode", &x), snap_mode);
			if (snap_mode) {
				T_EQ_STR(json_object_get_string(x), "snapshot");
				T_ASSERT(json_object_object_get_ex(root, "cycle", &x));
				T_EQ_INT(json_object_get_boolean(x), 0);
			}
		}
		json_object_put(root);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* Undo objects no catalog entry names are removed on open. */
static void test_gc(void)
{
	struct fx f;
	uint64_t sizes[1] = {64 * PGS};
	int rc = fx_setup(&f, 1, sizes);
	if (rc == 0) {
		T_EQ_INT(f.be->ops->disk_create(f.be, "replicas/web01/points/999/0.idx", 4096), 0);
		T_EQ_INT(f.be->ops->disk_create(f.be, "replicas/web01/points/999/0.undo", 4096), 0);
		T_EQ_INT(f.be->ops->disk_create(f.be, "replicas/web01/points/keepme", 512), 0);
		if (snap_mode) {
			/* a snapshot no point names */
			char sn[BACKEND_SNAP_MAX];
			T_EQ_INT(f.be->ops->disk_snapshot(f.be, f.keys[0], sn), 0);
			T_EQ_INT(n_snaps_key(f.be, f.keys[0]), 2);
		}
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(snaps_match(&f));
		T_EQ_INT(undo_exists(&f, 999, 0, "idx"), 0);
		T_EQ_INT(undo_exists(&f, 999, 0, "undo"), 0);
		T_EQ_INT(f.be->ops->disk_exists(f.be, "replicas/web01/points/keepme"), 1);
		T_ASSERT(check_all(&f) == 0);
		/* destroy: catalog and every undo object */
		T_EQ_INT(run_cycle(&f, 10), 0);
		T_EQ_INT(run_cycle(&f, 10), 0);
		T_EQ_INT(undo_exists(&f, f.m[1].seq, 0, "idx"), !snap_mode);
		T_EQ_INT(rpchain_destroy(f.c), 0);
		if (snap_mode)
			T_EQ_INT(n_snaps_key(f.be, f.keys[0]), 0);
		T_EQ_INT(n_points(&f), 0);
		T_EQ_INT(undo_exists(&f, f.m[0].seq, 0, "idx"), 0);
		T_EQ_INT(undo_exists(&f, f.m[1].seq, 0, "idx"), 0);
		T_EQ_INT(f.be->ops->disk_exists(f.be, f.keys[0]), 1); /* replicas are the caller's */
		{
			char *text;
			T_EQ_INT(be_rec_get(f.be, f.conf.catalog_key, &text, NULL, NULL), -ENOENT);
		}
		T_EQ_INT(fx_reopen(&f), 0);
		T_EQ_INT(n_points(&f), 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* ---- retention ---- */

struct ret_case {
	const char *name;
	unsigned hours;
	int n;
	time_t t[16];   /* seconds after BASE, oldest first */
	int keep[16];
	time_t now;     /* seconds after BASE */
};

#define H 3600
#define M 60
/* An hour boundary, 2026-11-24T10:00:00Z. */
#define BASE ((time_t)1795514400)

static const struct ret_case ret_cases[] = {
	{"cutoff", 24, 4, {0, 2 * H, 3 * H, 25 * H}, {0, 1, 1, 1}, 24 * H + 1 * M},
	{"exactly at the cutoff is kept", 24, 2, {0, 10 * H}, {1, 1}, 24 * H},
	{"newest kept even when older than retention", 24, 3, {0, 1 * H, 2 * H}, {0, 0, 1}, 100 * H},
	{"a lone point", 1, 1, {0}, {1}, 1000 * H},
	{"retention 0 keeps only the newest", 0, 3, {0, 10, 20}, {0, 0, 1}, 30},
	{"one per hour past two hours, the newest of each hour", 24, 11,
	 {3 * H + 5 * M, 3 * H + 20 * M, 3 * H + 55 * M, 5 * H + 10 * M, 7 * H, 7 * H + 59 * M,
	  8 * H + 10 * M, 8 * H + 20 * M, 8 * H + 40 * M, 8 * H + 50 * M, 10 * H + 25 * M},
	 {0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1}, 10 * H + 30 * M},
	{"nothing pruned within two hours", 24, 8,
	 {0, 15 * M, 30 * M, 45 * M, 60 * M, 75 * M, 90 * M, 119 * M}, {1, 1, 1, 1, 1, 1, 1, 1}, 2 * H},
	{"old newest also counts as the newest of its hour", 24, 3, {1 * H, 1 * H + 10 * M, 1 * H + 20 * M},
	 {0, 0, 1}, 9 * H},
	{"hourly and cutoff together", 3, 6,
	 {0, 30 * M, 1 * H + 10 * M, 1 * H + 50 * M, 3 * H + 5 * M, 3 * H + 6 * M},
	 {0, 0, 1, 1, 1, 1}, 3 * H + 40 * M},
	{"an hour straddling the two-hour line keeps its newest older point", 24, 4,
	 {1 * H + 10 * M, 1 * H + 20 * M, 1 * H + 50 * M, 3 * H}, {0, 1, 1, 1}, 3 * H + 30 * M},
};

static void test_retention(void)
{
	int keep[16];
	for (size_t k = 0; k < sizeof(ret_cases) / sizeof(ret_cases[0]); k++) {
		const struct ret_case *rc = &ret_cases[k];
		struct rp_point pts[16];
		memset(pts, 0, sizeof(pts));
		for (int i = 0; i < rc->n; i++) {
			pts[i].time = BASE + rc->t[i];
			pts[i].seq = (uint64_t)i + 1;
		}
		memset(keep, 0x55, sizeof(keep));
		rp_retention(pts, rc->n, BASE + rc->now, rc->hours, keep);
		for (int i = 0; i < rc->n; i++)
			if (keep[i] != rc->keep[i])
				T_FAIL("%s: point %d keep=%d, expected %d", rc->name, i, keep[i], rc->keep[i]);
	}
	rp_retention(NULL, 0, BASE, 24, keep); /* nothing to do, no crash */
}

static void test_prune(void)
{
	struct fx f;
	uint64_t sizes[2] = {1u << 20, 256 * 1024};
	int rc = fx_setup(&f, 2, sizes);
	if (rc == 0) {
		struct rp_point *pts;
		int n, keep[64], expect = 0;
		for (int i = 0; i < 40 && rc == 0; i++)
			rc = run_cycle(&f, 12);
		T_EQ_INT(rc, 0);
		T_EQ_INT(rpchain_list(f.c, &pts, &n), 0);
		T_EQ_INT(n, 41);
		/* 41 points 5 minutes apart, now 30 minutes after the last,
		 * 3 hours of retention: old ones dropped, hourly thinning past
		 * two hours (middle merges), the last two hours kept */
		rp_retention(pts, n, f.t + 30 * M, 3, keep);
		free(pts);
		for (int i = 0; i < n; i++)
			if (!keep[i]) {
				f.m[i].gone = 1;
				expect++;
			}
		T_ASSERT(expect > 10 && expect < 40);
		T_ASSERT(keep[0] == 0 && keep[n - 1] == 1);
		T_EQ_INT(rpchain_prune(f.c, f.t + 30 * M, 3), expect);
		T_EQ_INT(n_points(&f), n - expect);
		T_ASSERT(snaps_match(&f));
		for (int i = 0; i < n; i++)
			if (f.m[i].gone && undo_exists(&f, f.m[i].seq, 0, "idx") != 0)
				T_FAIL("point %d's undo is still there", i);
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(rpchain_prune(f.c, f.t + 30 * M, 3), 0);
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(check_all(&f) == 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* ---- a reader racing the cycles ---- */

struct racer {
	struct fx *f;
	int npts; /* reads points 0..npts-1 of the model */
	volatile int stop;
	long reads, bad, errors;
	uint64_t seed;
};

static void *reader_main(void *arg)
{
	struct racer *r = arg;
	unsigned char *buf = malloc(1u << 20);
	if (!buf) {
		r->errors++;
		return NULL;
	}
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		const struct model *m;
		uint64_t off, len, want;
		ssize_t got;
		int d;
		r->seed ^= r->seed << 13;
		r->seed ^= r->seed >> 7;
		r->seed ^= r->seed << 17;
		m = &r->f->m[r->seed % (uint64_t)r->npts];
		d = (int)((r->seed >> 20) % (uint64_t)r->f->ndisks);
		if ((r->seed >> 24) % 4 == 0) {
			off = 0;
			len = 1u << 20;
		} else {
			off = (r->seed >> 8) % m->size[d];
			len = 1 + (r->seed >> 30) % (64 * PGS);
		}
		want = m->size[d] - off < len ? m->size[d] - off : len;
		got = rpchain_read(r->f->c, m->id, d, buf, len, off);
		if (got < 0 && r->errors++ == 0)
			fprintf(stderr, "  reader: %s disk %d %" PRIu64 "+%" PRIu64 ": %zd\n", m->id, d, off, len, got);
		else if ((uint64_t)got != want || memcmp(buf, m->img[d] + off, want) != 0)
			r->bad++;
		r->reads++;
	}
	free(buf);
	return NULL;
}

static void test_concurrent_read(void)
{
	struct fx f;
	uint64_t sizes[2] = {1u << 20, 512 * 1024};
	int rc = fx_setup(&f, 2, sizes);
	if (rc == 0) {
		struct racer r[2];
		pthread_t th[2];
		for (int i = 0; i < 3 && rc == 0; i++)
			rc = run_cycle(&f, 40);
		T_EQ_INT(rc, 0);
		for (int k = 0; k < 2; k++) {
			r[k] = (struct racer){.f = &f, .npts = f.nm, .seed = 0x1234567ull + (uint64_t)k * 77};
			T_EQ_INT(pthread_create(&th[k], NULL, reader_main, &r[k]), 0);
		}
		for (int i = 0; i < 60 && rc == 0; i++) {
			rc = run_cycle(&f, 80);
			/* delete points made during the race: merges into points
			 * the readers are reading */
			if (rc == 0 && i % 3 == 2) {
				int victim = f.nm - 2;
				while (victim >= r[0].npts - 1 && f.m[victim].gone)
					victim--;
				if (victim >= r[0].npts) {
					rc = rpchain_delete(f.c, f.m[victim].id);
					f.m[victim].gone = 1;
				}
			}
			if (rc == 0 && i % 10 == 5) {
				struct rp_cycle *cy;
				rc = rpchain_begin(f.c, &cy);
				if (rc == 0)
					rc = change_pages(&f, cy, 40);
				if (rc == 0)
					rc = rpchain_abort(cy);
			}
		}
		for (int k = 0; k < 2; k++) {
			__atomic_store_n(&r[k].stop, 1, __ATOMIC_RELEASE);
			pthread_join(th[k], NULL);
		}
		T_EQ_INT(rc, 0);
		for (int k = 0; k < 2; k++) {
			T_EQ_INT(r[k].errors, 0);
			T_EQ_INT(r[k].bad, 0);
			T_ASSERT(r[k].reads > 50);
		}
		fprintf(stderr, "  readers: %ld and %ld reads\n", r[0].reads, r[1].reads);
		T_ASSERT(check_all(&f) == 0);
		T_ASSERT(snaps_match(&f));
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* The engine may call one disk's sink from several threads at once. */
struct sinker {
	struct fx *f;
	struct rp_cycle *cy;
	int k, rc;
};

static void *sinker_main(void *arg)
{
	struct sinker *x = arg;
	uint64_t seed = 99 + (uint64_t)x->k;
	static unsigned char data[2][8][PGS];
	for (int b = 0; b < 40 && x->rc == 0; b++) {
		struct wr w[8];
		for (int i = 0; i < 8; i++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			memset(data[x->k][i], (int)(seed & 0xff) | 1, PGS);
			w[i].page = (seed >> 8) % 128 * 2 + (uint64_t)x->k; /* disjoint pages */
			w[i].data = data[x->k][i];
		}
		x->rc = apply_batch(x->f, x->cy, 0, w, 8);
	}
	return NULL;
}

static void test_sink_threads(void)
{
	struct fx f;
	uint64_t sizes[1] = {256 * PGS};
	int rc = fx_setup(&f, 1, sizes);
	if (rc == 0) {
		struct sinker x[2];
		pthread_t th[2];
		struct rp_cycle *cy;
		T_EQ_INT(rpchain_begin(f.c, &cy), 0);
		for (int k = 0; k < 2; k++) {
			x[k] = (struct sinker){.f = &f, .cy = cy, .k = k};
			T_EQ_INT(pthread_create(&th[k], NULL, sinker_main, &x[k]), 0);
		}
		for (int k = 0; k < 2; k++)
			pthread_join(th[k], NULL);
		T_EQ_INT(x[0].rc, 0);
		T_EQ_INT(x[1].rc, 0);
		T_EQ_INT(commit_cycle(&f, cy), 0);
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(check_all(&f) == 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* What a crash can leave on disk: index entries past the durable count (an
 * append cut before its header write), and a newest point's .undo with no
 * .idx (cut while creating the objects).  Neither changes any point. */
static void test_torn_undo(void)
{
	struct fx f;
	uint64_t sizes[1] = {128 * PGS};
	int rc;

	if (snap_mode)
		return; /* no undo objects */
	rc = fx_setup(&f, 1, sizes);
	if (rc == 0) {
		char key[256];
		struct bdisk *bd;
		unsigned char hdr[16], ent[8 * 4], junk[PGS];
		uint64_t count = 0, isz = 0;
		T_EQ_INT(run_cycle(&f, 20), 0);
		T_EQ_INT(run_cycle(&f, 20), 0);
		snprintf(key, sizeof(key), "%s/%" PRIu64 "/0.idx", f.conf.data_prefix, f.m[0].seq);
		T_EQ_INT(be_disk_open(f.be, key, BDISK_RDWR, &bd), 0);
		T_EQ_INT(bd_pread(bd, hdr, 16, 0), 16);
		T_ASSERT(memcmp(hdr, "ASRUNDO1", 8) == 0);
		for (int i = 8; i < 16; i++)
			count = count << 8 | hdr[i];
		T_ASSERT(count > 0);
		T_EQ_INT(bd_size(bd, &isz), 0);
		/* entries for pages 0..3 beyond the count, pointing at junk data */
		memset(ent, 0, sizeof(ent));
		for (int i = 0; i < 4; i++)
			ent[i * 8 + 7] = (unsigned char)i;
		if (16 + (count + 4) * 8 > isz)
			T_EQ_INT(bd_truncate(bd, (16 + (count + 4) * 8 + 4095) / 4096 * 4096), 0);
		T_EQ_INT(bd_pwrite(bd, ent, sizeof(ent), 16 + count * 8), (ssize_t)sizeof(ent));
		bd_close(bd);
		snprintf(key, sizeof(key), "%s/%" PRIu64 "/0.undo", f.conf.data_prefix, f.m[0].seq);
		T_EQ_INT(be_disk_open(f.be, key, BDISK_RDWR, &bd), 0);
		memset(junk, 0xee, sizeof(junk));
		for (uint64_t i = 0; i < 4; i++)
			T_EQ_INT(bd_pwrite(bd, junk, PGS, (count + i) * PGS), PGS);
		bd_close(bd);
		/* the newest's .undo alone */
		snprintf(key, sizeof(key), "%s/%" PRIu64 "/0.undo", f.conf.data_prefix, f.m[2].seq);
		T_EQ_INT(f.be->ops->disk_create(f.be, key, 8 * PGS), 0);
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(check_all(&f) == 0);
		T_ASSERT(check_replicas(&f) == 0);
		T_EQ_INT(f.be->ops->disk_exists(f.be, key), 0);
		/* and appending after the torn tail still works */
		T_EQ_INT(rpchain_delete(f.c, f.m[1].id), 0);
		f.m[1].gone = 1;
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(check_all(&f) == 0);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* A read-only chain (another daemon's): reads every point, changes nothing,
 * and never rolls back the owner's running cycle. */
static void test_readonly(void)
{
	struct fx f;
	uint64_t sizes[2] = {64 * PGS, 32 * PGS};
	int rc = fx_setup(&f, 2, sizes);
	if (rc == 0) {
		struct rpchain *owner, *ro;
		struct rpchain_conf cf = f.conf;
		struct rp_cycle *cy, *cy2;
		struct rp_point pt;
		for (int i = 0; i < 3 && rc == 0; i++)
			rc = run_cycle(&f, 10);
		T_EQ_INT(rc, 0);
		T_EQ_INT(rpchain_begin(f.c, &cy), 0);
		T_EQ_INT(change_pages(&f, cy, 20), 0);
		cf.readonly = 1;
		T_EQ_INT(rpchain_open(&cf, &ro), 0);
		owner = f.c;
		f.c = ro;
		T_EQ_INT(n_points(&f), 4);
		T_ASSERT(check_replicas_q(&f, 1) != 0); /* not rolled back */
		/* undo mode reads the newest from the replica, mid-cycle here */
		for (int i = 0; i < f.nm - !snap_mode; i++)
			T_ASSERT(check_point(&f, &f.m[i], 0) == 0);
		T_EQ_INT(rpchain_begin(ro, &cy2), -EROFS);
		T_EQ_INT(rpchain_delete(ro, f.m[0].id), -EROFS);
		T_EQ_INT(rpchain_prune(ro, f.t, 0), -EROFS);
		T_EQ_INT(rpchain_destroy(ro), -EROFS);
		T_EQ_INT(rpchain_add_initial(ro, f.t, 0, &pt), -EROFS);
		rpchain_close(ro);
		f.c = owner;
		T_EQ_INT(rpchain_abort(cy), 0);
		T_ASSERT(check_all(&f) == 0);
		T_ASSERT(check_replicas(&f) == 0);
		T_ASSERT(snaps_match(&f));
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* The mode is the catalog's: an undo chain stays one on a medium that
 * gained snapshots; a chain made anew there (after destroy) takes them. */
static void test_mode_kept(void)
{
	struct fx f;
	uint64_t sizes[1] = {64 * PGS};
	int rc;

	if (snap_mode)
		return;
	rc = fx_setup(&f, 1, sizes);
	if (rc == 0) {
		struct rp_point pt;
		char *text = NULL;
		T_EQ_INT(run_cycle(&f, 10), 0);
		T_EQ_INT(run_cycle(&f, 10), 0);
		f.be->ops = &snap_ops;
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(check_all(&f) == 0);
		snap_mode = 0; /* the sink is still there */
		T_EQ_INT(run_cycle(&f, 10), 0);
		T_EQ_INT(undo_exists(&f, f.m[2].seq, 0, "idx"), 1);
		T_ASSERT(check_all(&f) == 0);
		T_EQ_INT(n_snaps_key(f.be, f.keys[0]), 0);
		T_EQ_INT(rpchain_destroy(f.c), 0);
		for (int i = 0; i < f.nm; i++)
			f.m[i].gone = 1;
		T_EQ_INT(rpchain_add_initial(f.c, f.t + 600, 0, &pt), 0);
		T_EQ_INT(be_rec_get(f.be, f.conf.catalog_key, &text, NULL, NULL), 0);
		T_ASSERT(strstr(text, "\"mode\":\"snapshot\"") != NULL);
		free(text);
		T_EQ_INT(n_snaps_key(f.be, f.keys[0]), 1);
		T_EQ_INT(snapshot(&f, &pt), 0);
		snap_mode = 1;
		T_EQ_INT(run_cycle(&f, 10), 0);
		T_EQ_INT(fx_reopen(&f), 0);
		T_ASSERT(check_all(&f) == 0);
		T_ASSERT(snaps_match(&f));
		snap_mode = 0;
		/* a snapshot catalog on a medium without snapshots: refused */
		f.be->ops = &local_backend_ops;
		T_EQ_INT(fx_reopen(&f), -EOPNOTSUPP);
	}
	fx_free(&f);
	T_EQ_INT(rc, 0);
}

/* Each chain test in both modes. */
#define RUN_MODE(fn, mode)                                                                  \
	do {                                                                                \
		snap_mode = (mode);                                                         \
		t_failed_now = 0;                                                           \
		fn();                                                                       \
		printf("%s - %s%s\n", t_failed_now ? "not ok" : "ok", #fn, (mode) ? " [snapshot]" : ""); \
		fflush(stdout);                                                             \
		t_failures += t_failed_now;                                                 \
	} while (0)
#define RUN_BOTH(fn)                                                                        \
	do {                                                                                \
		RUN_MODE(fn, 0);                                                            \
		RUN_MODE(fn, 1);                                                            \
	} while (0)

int main(void)
{
	snap_ops_init();
	RUN_BOTH(test_cycles_read);
	RUN_BOTH(test_export);
	RUN_BOTH(test_delete);
	RUN_BOTH(test_crash_rollback);
	RUN_BOTH(test_abort);
	RUN_BOTH(test_reopen);
	RUN_BOTH(test_ids_catalog);
	RUN_BOTH(test_gc);
	T_RUN(test_retention);
	RUN_BOTH(test_prune);
	RUN_BOTH(test_concurrent_read);
	RUN_BOTH(test_sink_threads);
	RUN_BOTH(test_readonly);
	T_RUN(test_torn_undo);
	T_RUN(test_mode_kept);
	T_DONE();
}
