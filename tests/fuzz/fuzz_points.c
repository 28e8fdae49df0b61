/*
 * fuzz_points.c - libFuzzer target: a recovery-point catalog (points.json),
 * read by rpchain_open for chains of one to three disks, in undo and
 * snapshot mode, read-only (as a second mount opens it; every point it
 * lists is then sized and read) and writable (roll back, drop the newest
 * undo, collect the garbage among a few seq directories, on a medium where
 * writes fail: the error paths).
 */
#include <stdint.h>
#include <stdlib.h>

#include "../../sync/points.h"
#include "membe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_open(const uint8_t *data, size_t size, int ndisks, int snapshots, int readonly)
{
	static const char *const reps[] = {"rep0", "rep1", "rep2"};
	struct backend *be = membe_new(snapshots);
	struct rpchain_conf conf = {
		.catalog_key = "points.json", .data_prefix = "d", .ndisks = ndisks,
		.replica_keys = reps, .readonly = readonly,
	};
	static const char *const garbage[] = {"d/1/0.idx", "d/7/0.undo", "d/x/0.idx", "d/007/1.idx",
					      "d/18446744073709551616/0.idx", "d/2"};
	struct rpchain *c;
	struct rp_point *pts = NULL;
	char buf[4096];
	int n = 0;

	if (!be || membe_rec(be, "points.json", data, size) < 0)
		abort();
	for (int d = 0; d < ndisks; d++)
		if (membe_disk(be, reps[d], NULL, 0, 65536) < 0)
			abort();
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		if (membe_disk(be, garbage[i], NULL, 0, 4096) < 0)
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
			for (int readonly = 0; readonly < 2; readonly++)
				try_open(data, size, ndisks, snapshots, readonly);
	return 0;
}
