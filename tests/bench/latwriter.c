/*
 * latwriter.c - the replication benchmark's load generator and filler
 * (scripts/bench-replication.sh).  It stands in for a VM writing to its disk
 * through the mount and says how long each write took.
 *
 *   latwriter [-r RATE] [-t SECONDS] [-n COUNT] [-u] [-s SEED] [-l LOG] PATH
 *   latwriter -F [-s SEED] PATH
 *   latwriter -S LOG...
 *
 * Write mode opens PATH O_RDWR and, from one thread, writes 4 KiB pages of
 * fresh pseudo-random data at random 4 KiB-aligned offsets, RATE writes a
 * second (default 200; 0: back to back) for SECONDS (default 60) or until
 * COUNT writes (-n), whichever ends first.  The pacing is open-loop: write i
 * is due at start + i / RATE by CLOCK_MONOTONIC, so a slow write delays the
 * ones after it without shifting the schedule (they go out at once when
 * late).  -u writes every page at most once (distinct pages).  Each page
 * starts with a record header (magic "ASRBENCH", sequence number, page
 * index, seed) so a reader can tell which write a page holds.
 *
 * Each write's latency is the time pwrite() took (CLOCK_MONOTONIC); "late"
 * is the time from when the write was due to when it completed, which also
 * counts the wait behind a slow predecessor.  At the end one line:
 *
 *   count=N errors=N p50_ms=F p99_ms=F p999_ms=F max_ms=F late_p999_ms=F late_max_ms=F seconds=F
 *
 * -l LOG writes one line per write, "SEQ PAGE LATENCY_NS LATE_NS" (numbered
 * from 0), and -S prints the same summary line over the writes of one or
 * more such logs, so runs made in turns can be summed up together.
 * Percentiles are nearest-rank.  -F fills PATH, whole, with pseudo-random
 * data in 1 MiB writes (a fast stand-in for /dev/urandom).
 * Exit status: 0, 1 when a write failed or PATH cannot be used, 2 on usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define FILL_CHUNK (1 << 20)
#define NS 1000000000LL

struct lat {
	int64_t lat_ns, late_ns;
};

struct lats {
	struct lat *v;
	size_t n, cap;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* splitmix64: small, fast, and good enough to make data no engine can guess. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_random(unsigned char *buf, size_t len, uint64_t *s)
{
	size_t i;
	uint64_t r;
	for (i = 0; i + 8 <= len; i += 8) {
		r = next_rand(s);
		memcpy(buf + i, &r, 8);
	}
	if (i < len) {
		r = next_rand(s);
		memcpy(buf + i, &r, len - i);
	}
}

static int lats_add(struct lats *l, int64_t lat_ns, int64_t late_ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		struct lat *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct lat){lat_ns, late_ns};
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p of them at or below it. */
static double pct_ms(const int64_t *sorted, size_t n, double p)
{
	size_t k;
	if (!n)
		return 0;
	k = (size_t)(p * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)sorted[k - 1] / 1e6;
}

static int summary(const struct lats *l, unsigned long errors, double seconds)
{
	int64_t *a = NULL, *b = NULL;
	size_t n = l->n;
	int rc = 1;
	a = malloc((n ? n : 1) * sizeof(*a));
	b = malloc((n ? n : 1) * sizeof(*b));
	if (!a || !b) {
		fprintf(stderr, "latwriter: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		a[i] = l->v[i].lat_ns, b[i] = l->v[i].late_ns;
	qsort(a, n, sizeof(*a), cmp_i64);
	qsort(b, n, sizeof(*b), cmp_i64);
	printf("count=%zu errors=%lu p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f late_p999_ms=%.3f "
	       "late_max_ms=%.3f seconds=%.3f\n",
	       n, errors, pct_ms(a, n, 0.50), pct_ms(a, n, 0.99), pct_ms(a, n, 0.999), n ? (double)a[n - 1] / 1e6 : 0,
	       pct_ms(b, n, 0.999), n ? (double)b[n - 1] / 1e6 : 0, seconds);
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

static int open_disk(const char *path, int64_t *size)
{
	off_t end;
	int fd = open(path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "latwriter: %s: %s\n", path, strerror(errno));
		return -1;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		fprintf(stderr, "latwriter: %s: size: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	*size = end;
	return fd;
}

static int fill(const char *path, uint64_t seed)
{
	unsigned char *buf = NULL;
	int64_t size, off;
	int rc = 1, fd = open_disk(path, &size);
	if (fd < 0)
		return 1;
	buf = malloc(FILL_CHUNK);
	if (!buf) {
		fprintf(stderr, "latwriter: out of memory\n");
		goto out;
	}
	for (off = 0; off < size;) {
		size_t len = size - off < FILL_CHUNK ? (size_t)(size - off) : FILL_CHUNK;
		ssize_t w;
		fill_random(buf, len, &seed);
		w = pwrite(fd, buf, len, off);
		if (w <= 0) {
			fprintf(stderr, "latwriter: %s: write at %" PRId64 ": %s\n", path, off,
				w < 0 ? strerror(errno) : "nothing written");
			goto out;
		}
		off += w;
	}
	rc = 0;
out:
	free(buf);
	if (close(fd) < 0 && !rc) {
		fprintf(stderr, "latwriter: %s: close: %s\n", path, strerror(errno));
		rc = 1;
	}
	return rc;
}

/* -S: the summary over every write of the logs. */
static int summarize_logs(int n, char **paths)
{
	struct lats l = {0};
	int rc = 1;
	for (int i = 0; i < n; i++) {
		unsigned long long seq, page;
		long long lat, late;
		FILE *f = fopen(paths[i], "r");
		if (!f) {
			fprintf(stderr, "latwriter: %s: %s\n", paths[i], strerror(errno));
			goto out;
		}
		while (fscanf(f, "%llu %llu %lld %lld", &seq, &page, &lat, &late) == 4)
			if (lats_add(&l, lat, late) < 0) {
				fclose(f);
				fprintf(stderr, "latwriter: out of memory\n");
				goto out;
			}
		fclose(f);
	}
	rc = summary(&l, 0, 0);
out:
	free(l.v);
	return rc;
}

struct wopts {
	double rate, seconds;
	unsigned long long count;
	int distinct;
	uint64_t seed;
	const char *log;
};

/* A page not written yet when -u, else any page. */
static int64_t pick_page(int64_t pages, uint64_t *s, unsigned char *used)
{
	for (;;) {
		int64_t p = (int64_t)(next_rand(s) % (uint64_t)pages);
		if (!used)
			return p;
		if (!(used[p / 8] & (1u << (p % 8)))) {
			used[p / 8] |= (unsigned char)(1u << (p % 8));
			return p;
		}
	}
}

static int run_writes(const char *path, const struct wopts *o)
{
	struct lats l = {0};
	unsigned char *used = NULL, page[PAGE];
	unsigned long errors = 0;
	uint64_t s = o->seed, seq;
	int64_t size, pages, t0, end, period;
	FILE *log = NULL;
	int rc = 1, fd = open_disk(path, &size);
	if (fd < 0)
		return 1;
	pages = size / PAGE;
	if (pages < 1 || (o->distinct && o->count > (unsigned long long)pages)) {
		fprintf(stderr, "latwriter: %s: %" PRId64 " pages, too few\n", path, pages);
		goto out;
	}
	if (o->distinct && !(used = calloc((size_t)pages / 8 + 1, 1))) {
		fprintf(stderr, "latwriter: out of memory\n");
		goto out;
	}
	if (o->log && !(log = fopen(o->log, "w"))) {
		fprintf(stderr, "latwriter: %s: %s\n", o->log, strerror(errno));
		goto out;
	}
	period = o->rate > 0 ? (int64_t)((double)NS / o->rate) : 0;
	t0 = now_ns();
	end = t0 + (int64_t)(o->seconds * (double)NS);
	for (seq = 0; !o->count || seq < o->count; seq++) {
		int64_t due = t0 + (int64_t)seq * period, start, done, p;
		ssize_t w;
		if (due >= end || (!period && now_ns() >= end))
			break;
		/* Fresh data and the header before the clock starts. */
		p = pick_page(pages, &s, used);
		fill_random(page, PAGE, &s);
		memcpy(page, "ASRBENCH", 8);
		memcpy(page + 8, &seq, 8);
		memcpy(page + 16, &p, 8);
		memcpy(page + 24, &o->seed, 8);
		if (period) {
			struct timespec ts = {due / NS, due % NS};
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		start = now_ns();
		w = pwrite(fd, page, PAGE, (off_t)p * PAGE);
		done = now_ns();
		if (w != PAGE) {
			if (!errors)
				fprintf(stderr, "latwriter: %s: write of page %" PRId64 ": %s\n", path, p,
					w < 0 ? strerror(errno) : "short write");
			errors++;
			continue;
		}
		if (lats_add(&l, done - start, done - (period ? due : start)) < 0) {
			fprintf(stderr, "latwriter: out of memory\n");
			goto out;
		}
		if (log && fprintf(log, "%" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", seq, p, done - start,
				   done - (period ? due : start)) < 0) {
			fprintf(stderr, "latwriter: %s: %s\n", o->log, strerror(errno));
			goto out;
		}
	}
	if (summary(&l, errors, (double)(now_ns() - t0) / 1e9))
		goto out;
	rc = errors ? 1 : 0;
out:
	if (log && fclose(log) != 0 && !rc) {
		fprintf(stderr, "latwriter: %s: %s\n", o->log, strerror(errno));
		rc = 1;
	}
	if (close(fd) < 0 && !rc) {
		fprintf(stderr, "latwriter: %s: close: %s\n", path, strerror(errno));
		rc = 1;
	}
	free(used);
	free(l.v);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: latwriter [-r RATE] [-t SECONDS] [-n COUNT] [-u] [-s SEED] [-l LOG] PATH\n"
		   "       latwriter -F [-s SEED] PATH\n"
		   "       latwriter -S LOG...\n");
}

int main(int argc, char **argv)
{
	struct wopts o = {.rate = 200, .seconds = 60, .seed = 1};
	int c, mode = 'w';
	char *e;
	while ((c = getopt(argc, argv, "r:t:n:us:l:FSh")) != -1) {
		errno = 0;
		e = NULL;
		switch (c) {
		case 'r':
			o.rate = strtod(optarg, &e);
			break;
		case 't':
			o.seconds = strtod(optarg, &e);
			break;
		case 'n':
			o.count = strtoull(optarg, &e, 10);
			break;
		case 's':
			o.seed = strtoull(optarg, &e, 10);
			break;
		case 'u':
			o.distinct = 1;
			break;
		case 'l':
			o.log = optarg;
			break;
		case 'F':
		case 'S':
			mode = c;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (e && (*e || e == optarg || errno || o.rate < 0 || o.seconds <= 0)) {
			fprintf(stderr, "latwriter: -%c: bad number: %s\n", c, optarg);
			return 2;
		}
	}
	if (mode == 'S')
		return optind < argc ? summarize_logs(argc - optind, argv + optind) : (usage(stderr), 2);
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (mode == 'F')
		return fill(argv[optind], o.seed);
	return run_writes(argv[optind], &o);
}
