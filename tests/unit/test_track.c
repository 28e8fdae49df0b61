/*
 * test_track.c - unit tests of sync/track.c: marks and pending bytes, the
 * capture's page runs, copy-on-write (the view reads the instant while the
 * disk changes), commit and abort, and the tracking file across a reopen
 * as after kill -9 (marks kept, a capture cut short, a damaged file, a
 * tracker older than the chain).
 */
#define _GNU_SOURCE
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "../../sync/delta.h"
#include "../../sync/track.h"

#define PG DELTA_PAGE
#define NPG 70000u /* more than two bitmap chunks */

static char dir[64];

static void path_of(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* A disk of NPG pages, page p holding byte (p & 0xff) + gen. */
static struct bdisk *make_disk(const char *name)
{
	char p[128];
	struct bdisk *d = NULL;
	path_of(name, p, sizeof(p));
	if (local_disk_open_path_create(p, BDISK_RDWR, &d) < 0)
		return NULL;
	if (bd_truncate(d, (uint64_t)NPG * PG) < 0) {
		bd_close(d);
		return NULL;
	}
	return d;
}

static int put_page(struct bdisk *d, uint64_t p, int v)
{
	unsigned char b[PG];
	memset(b, v, sizeof(b));
	return bd_pwrite(d, b, PG, p * PG) == PG ? 0 : -1;
}

static int page_is(struct bdisk *d, uint64_t p, int v)
{
	unsigned char b[PG];
	if (bd_pread(d, b, PG, p * PG) != PG)
		return 0;
	for (unsigned i = 0; i < PG; i++)
		if (b[i] != (unsigned char)v)
			return 0;
	return 1;
}

/* A tracked write: mark, then write. */
static int tw(struct track *t, struct bdisk *d, uint64_t p, int v)
{
	return track_mark(t, d, p * PG, PG) == 0 ? put_page(d, p, v) : -1;
}

static void test_new_file_wants_whole(void)
{
	char p[128], why[160];
	struct track *t = NULL;
	path_of("new.trk", p, sizeof(p));
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_whole_due(t, why, sizeof(why)), 1);
	T_ASSERT(strstr(why, "no write tracking") != NULL);
	T_EQ_INT(track_reset(t), 0);
	T_EQ_INT(track_whole_due(t, NULL, 0), 0);
	T_EQ_INT(track_pending_bytes(t), 0);
	track_close(t);
}

static void test_marks_and_runs(void)
{
	char p[128];
	struct track *t = NULL;
	struct track_cap *c = NULL;
	struct bdisk *d = make_disk("runs.img");
	uint64_t first, end, n = 0;
	T_ASSERT(d);
	path_of("runs.trk", p, sizeof(p));
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_reset(t), 0);
	T_EQ_INT(track_mark(t, d, 5 * PG + 100, 2 * PG), 0); /* pages 5, 6, 7 */
	T_EQ_INT(track_mark(t, d, 40000ull * PG, PG), 0);
	T_EQ_INT(track_mark(t, d, 5 * PG, PG), 0); /* again: counted once */
	T_EQ_INT(track_pending_bytes(t), 4 * PG);
	T_EQ_INT(track_page_dirty(t, 6), 1);
	T_EQ_INT(track_page_dirty(t, 8), 0);
	T_EQ_INT(track_written(t), 1);
	T_EQ_INT(track_capture(t, 0, "s1", &c), 0);
	T_EQ_INT(track_written(t), 0);
	T_EQ_INT(track_cap_whole(c), 0);
	T_EQ_INT(track_cap_pages(c), 4);
	T_EQ_INT(track_cap_next(c, 0, &first, &end), 0);
	T_EQ_INT(first, 5);
	T_EQ_INT(end, 8);
	T_EQ_INT(track_cap_next(c, end, &first, &end), 0);
	T_EQ_INT(first, 40000);
	T_EQ_INT(end, 40001);
	T_EQ_INT(track_cap_next(c, end, &first, &end), -ENXIO);
	/* pending counts the shipping set until it ships */
	T_EQ_INT(track_pending_bytes(t), 4 * PG);
	track_cap_done(c, 5, 3);
	T_EQ_INT(track_pending_bytes(t), PG);
	T_EQ_INT(track_cap_commit(c, "P1"), 0);
	T_EQ_INT(track_pending_bytes(t), 0);
	for (uint64_t q = 0; q < NPG; q++)
		n += (uint64_t)track_page_dirty(t, q);
	T_EQ_INT(n, 0);
	track_close(t);
	bd_close(d);
}

/* The view reads the instant; writes after it go on. */
static void test_copy_on_write(void)
{
	char p[128];
	struct track *t = NULL;
	struct track_cap *c = NULL;
	struct bdisk *d = make_disk("cow.img"), *v = NULL;
	T_ASSERT(d);
	path_of("cow.trk", p, sizeof(p));
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_reset(t), 0);
	for (uint64_t q = 10; q < 20; q++)
		T_EQ_INT(tw(t, d, q, 1), 0);
	T_EQ_INT(track_capture(t, 0, "", &c), 0);
	T_EQ_INT(track_cap_view(c, d, &v), 0);
	track_cap_done(c, 10, 2);         /* 10, 11 shipped */
	T_EQ_INT(tw(t, d, 10, 2), 0);     /* shipped: no copy needed */
	T_EQ_INT(tw(t, d, 15, 2), 0);     /* not shipped: copied aside first */
	T_EQ_INT(tw(t, d, 30, 2), 0);     /* not in the capture */
	T_ASSERT(page_is(d, 15, 2));
	T_ASSERT(page_is(v, 15, 1));      /* the instant */
	T_ASSERT(page_is(v, 16, 1));
	T_ASSERT(page_is(v, 30, 2) || page_is(v, 30, 0)); /* not shipped by this capture anyway */
	T_EQ_INT(track_page_dirty(t, 30), 1);
	T_EQ_INT(track_page_dirty(t, 15), 1);
	bd_close(v);
	T_EQ_INT(track_cap_commit(c, "P1"), 0);
	/* what was written after the instant is the next capture's */
	T_EQ_INT(track_pending_bytes(t), 3 * PG);
	track_close(t);
	bd_close(d);
}

static void test_abort_gives_pages_back(void)
{
	char p[128];
	struct track *t = NULL;
	struct track_cap *c = NULL;
	struct bdisk *d = make_disk("abort.img");
	T_ASSERT(d);
	path_of("abort.trk", p, sizeof(p));
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_reset(t), 0);
	T_EQ_INT(tw(t, d, 3, 1), 0);
	T_EQ_INT(track_capture(t, 0, "", &c), 0);
	T_EQ_INT(tw(t, d, 4, 1), 0);
	track_cap_done(c, 3, 1);
	track_cap_abort(c);
	T_EQ_INT(track_page_dirty(t, 3), 1);
	T_EQ_INT(track_page_dirty(t, 4), 1);
	T_EQ_INT(track_pending_bytes(t), 2 * PG);
	/* and in the file: a reopen (as after a crash) finds them */
	track_close(t);
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_page_dirty(t, 3), 1);
	T_EQ_INT(track_page_dirty(t, 4), 1);
	track_close(t);
	bd_close(d);
}

/* kill -9 at any moment: the file holds every mark; a capture in flight
 * is counted from the point before it, or the one it made. */
static void test_reopen_as_after_a_crash(void)
{
	char p[128];
	struct track *t = NULL;
	struct track_cap *c = NULL;
	struct bdisk *d = make_disk("crash.img");
	T_ASSERT(d);
	path_of("crash.trk", p, sizeof(p));
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_reset(t), 0);
	T_EQ_INT(tw(t, d, 1, 1), 0);
	T_EQ_INT(track_capture(t, 0, "", &c), 0);
	T_EQ_INT(track_cap_commit(c, "P1"), 0);
	T_EQ_INT(tw(t, d, 2, 1), 0);
	T_EQ_INT(track_capture(t, 0, "", &c), 0);
	T_EQ_INT(tw(t, d, 69999, 1), 0);
	/* "crash" with the capture open: its pages and the new mark stay */
	track_close(t);
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_page_dirty(t, 1), 0);
	T_EQ_INT(track_page_dirty(t, 2), 1);
	T_EQ_INT(track_page_dirty(t, 69999), 1);
	T_EQ_INT(track_written(t), 1);
	/* the cut-short capture's point P2 was committed: still trusted */
	T_EQ_INT(track_validate(t, "P2", "P1"), 0);
	T_EQ_INT(track_whole_due(t, NULL, 0), 0);
	/* a chain that moved on without this tracker: whole compare */
	T_EQ_INT(track_validate(t, "P9", "P8"), 0);
	T_EQ_INT(track_whole_due(t, NULL, 0), 1);
	track_close(t);
	bd_close(d);
}

static void test_damaged_file(void)
{
	char p[128], why[160];
	struct track *t = NULL;
	int fd;
	path_of("bad.trk", p, sizeof(p));
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_reset(t), 0);
	track_close(t);
	fd = open(p, O_WRONLY);
	T_ASSERT(fd >= 0);
	T_ASSERT(pwrite(fd, "X", 1, 100) == 1);
	close(fd);
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_whole_due(t, why, sizeof(why)), 1);
	T_ASSERT(strstr(why, "damaged") != NULL);
	track_close(t);
	/* another disk size: not this disk's tracking */
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG * 2, &t), 0);
	T_EQ_INT(track_whole_due(t, NULL, 0), 1);
	track_close(t);
}

static void test_whole_capture(void)
{
	char p[128];
	struct track *t = NULL;
	struct track_cap *c = NULL;
	uint64_t first, end;
	path_of("whole.trk", p, sizeof(p));
	T_EQ_INT(track_open(p, (uint64_t)NPG * PG, &t), 0);
	T_EQ_INT(track_want_whole(t, "asked"), 0);
	T_EQ_INT(track_capture(t, 0, "", &c), 0);
	T_EQ_INT(track_cap_whole(c), 1);
	T_EQ_INT(track_cap_next(c, 0, &first, &end), 0);
	T_EQ_INT(first, 0);
	T_EQ_INT(end, NPG);
	track_cap_abort(c); /* cut short: still due */
	T_EQ_INT(track_whole_due(t, NULL, 0), 1);
	T_EQ_INT(track_capture(t, 0, "", &c), 0);
	T_EQ_INT(track_cap_commit(c, "P1"), 0);
	T_EQ_INT(track_whole_due(t, NULL, 0), 0);
	track_close(t);
}

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f)
{
	(void)s;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/asrfs-track-test.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_new_file_wants_whole);
	T_RUN(test_marks_and_runs);
	T_RUN(test_copy_on_write);
	T_RUN(test_abort_gives_pages_back);
	T_RUN(test_reopen_as_after_a_crash);
	T_RUN(test_damaged_file);
	T_RUN(test_whole_capture);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	T_DONE();
}
