/*
 * delta_main.c - build/asrfs-delta, the delta engine on its own (SPEC §2):
 *
 *   asrfs-delta [--stats] [--threads N] [--bwlimit BYTES] [--direct] SRC DST
 *
 * makes DST equal to SRC (regular files or block devices; DST created when
 * missing) moving only the 4 KiB pages that differ, through the same
 * delta_sync() the daemon uses for replication.  --stats prints exactly
 *   bytes-compared: N
 *   bytes-transferred: N
 *   seconds: F
 * --direct opens both with O_DIRECT (block devices whose data should not go
 * through, or evict, the page cache); every transfer is then whole 4 KiB
 * pages, so both sizes must be multiples of 4096.
 * Errors go to stderr with the path and strerror; the exit status is 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../backend/backend.h"
#include "delta.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: asrfs-delta [--stats] [--threads N] [--bwlimit BYTES] [--direct] SRC DST\n"
		"Make DST equal to SRC (files or block devices; DST is created if\n"
		"missing), writing only the 4 KiB pages that differ.\n"
		"  --stats          print bytes-compared, bytes-transferred, seconds\n"
		"  --threads N      worker threads (default 2)\n"
		"  --bwlimit BYTES  limit writes to BYTES per second (suffix K, M, G)\n"
		"  --direct         O_DIRECT on both (sizes must be multiples of 4096)\n"
		"  -h, --help       this help\n");
}

/* A positive count with an optional binary suffix; 0 on success. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (!*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* True (after a message) when dst is a block device of another size than src. */
static int fstat_blk_mismatch(struct bdisk *src, struct bdisk *dst, const char *dpath)
{
	struct stat st;
	uint64_t ss, ds;
	int rc;

	if (stat(dpath, &st) < 0 || !S_ISBLK(st.st_mode))
		return 0;
	rc = bd_size(src, &ss);
	if (rc == 0)
		rc = bd_size(dst, &ds);
	if (rc < 0) {
		fprintf(stderr, "asrfs-delta: %s: %s\n", dpath, strerror(-rc));
		return 1;
	}
	if (ss == ds)
		return 0;
	fprintf(stderr, "asrfs-delta: %s: block device of %" PRIu64 " bytes cannot take a source of %" PRIu64
		" bytes: %s\n", dpath, ds, ss, strerror(EINVAL));
	return 1;
}

/* True (after a message) when --direct cannot move d in whole pages. */
static int direct_misfit(struct bdisk *d, const char *path)
{
	uint64_t size;
	int rc = bd_size(d, &size);

	if (rc < 0) {
		fprintf(stderr, "asrfs-delta: %s: %s\n", path, strerror(-rc));
		return 1;
	}
	if (size % DELTA_PAGE == 0)
		return 0;
	fprintf(stderr, "asrfs-delta: %s: --direct needs a size that is a multiple of %u, not %" PRIu64 ": %s\n",
		path, DELTA_PAGE, size, strerror(EINVAL));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "stats", no_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "bwlimit", required_argument, NULL, 'b' },
		{ "direct", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct delta_opts opts;
	struct delta_stats st;
	struct bdisk *src = NULL, *dst = NULL;
	struct stat sst, dstt;
	int stats = 0, direct = 0, c, rc, status = 1;
	uint64_t v;

	memset(&opts, 0, sizeof(opts));
	memset(&st, 0, sizeof(st));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			stats = 1;
			break;
		case 't':
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 64) {
				fprintf(stderr, "asrfs-delta: --threads: '%s' is not a number from 1 to 64\n", optarg);
				return 1;
			}
			opts.threads = (int)v;
			break;
		case 'b':
			if (parse_size(optarg, &v) < 0 || v == 0) {
				fprintf(stderr, "asrfs-delta: --bwlimit: '%s' is not a positive byte count\n", optarg);
				return 1;
			}
			opts.bwlimit = v;
			break;
		case 'd':
			direct = BDISK_DIRECT;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 1;
	}
	const char *spath = argv[optind], *dpath = argv[optind + 1];

	rc = local_disk_open_path(spath, BDISK_RDONLY | direct, &src);
	if (rc < 0) {
		fprintf(stderr, "asrfs-delta: %s: %s\n", spath, strerror(-rc));
		goto out;
	}
	/* Refuse to sync a file onto itself: it would be a no-op at best. */
	if (stat(spath, &sst) == 0 && stat(dpath, &dstt) == 0 && sst.st_dev == dstt.st_dev &&
	    sst.st_ino == dstt.st_ino) {
		fprintf(stderr, "asrfs-delta: %s and %s are the same file\n", spath, dpath);
		goto out;
	}
	rc = local_disk_open_path_create(dpath, direct, &dst);
	if (rc < 0) {
		fprintf(stderr, "asrfs-delta: %s: %s\n", dpath, strerror(-rc));
		goto out;
	}
	/* A block device cannot be resized: say so before moving any data. */
	if (fstat_blk_mismatch(src, dst, dpath))
		goto out;
	if (direct && (direct_misfit(src, spath) || direct_misfit(dst, dpath)))
		goto out;
	rc = delta_sync(src, dst, &opts, &st);
	if (rc < 0) {
		fprintf(stderr, "asrfs-delta: %s -> %s: %s\n", spath, dpath, strerror(-rc));
		goto out;
	}
	if (stats) {
		printf("bytes-compared: %" PRIu64 "\n", st.bytes_compared);
		printf("bytes-transferred: %" PRIu64 "\n", st.bytes_transferred);
		printf("seconds: %.6f\n", st.seconds);
		if (fflush(stdout) != 0) {
			fprintf(stderr, "asrfs-delta: stdout: %s\n", strerror(errno));
			goto out;
		}
	}
	status = 0;
out:
	bd_close(src);
	bd_close(dst);
	return status;
}
