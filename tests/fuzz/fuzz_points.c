/*
 * fuzz_points.c - libFuzzer target: a recovery-point catalog (points.json),
 * read by rpchain_open (read-only, as a second mount opens it) for chains of
 * one to three disks, in undo and snapshot mode; every point it lists is
 * then sized and read.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../../sync/points.h"
#include "membe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_open(const uint8_t *data, size_t size, int ndisks, int snapshots)
{
	static const char *const reps[] = {"rep0", "rep1", "rep2"};
	struct backend *be = membe_new(snapshots);
	struct rpchain_conf conf = {
		.catalog_key = "points.json", .data_prefix = "d", .ndisks = ndisks,
		.replica_keys = reps, .readonly = 1,
	};
	struct rpchain *c;
	struct rp_point *pts = NULL;
	char buf[4096];
	int n = 0;

	if (!be || membe_rec(be, "points.json", data, size) < 0)
		abort();
	for (int d = 0; d < ndisks; d++)
		if (membe_disk(be, reps[d], NULL, 0, 65536) < 0)
			abort();
	conf.meta = conf.data = be;
	if (rpchain_open(&conf, &c) == 0) {
		if (rpchain_list(c, &pts, &n) == 0) {
			for (int i = 0; i < n; i++)
				for (int d = 0; d < ndisks; d++) {
					uint64_t sz;
					(void)rpchain_disk_size(c, pts[i].id, d, &sz);
					(void)rpchain_read(c, pts[i].id, d, buf, sizeof(buf), 0);
				}
			free(pts);
		}
		(void)rpchain_stale(c);
		rpchain_close(c);
	}
	membe_free(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int ndisks = 1; ndisks <= 3; ndisks++)
		for (int snapshots = 0; snapshots < 2; snapshots++)
			try_open(data, size, ndisks, snapshots);
	return 0;
}
