/*
 * fuzz_undo.c - libFuzzer target: the index of a point's undo data
 * (<data_prefix>/<seq>/<disk>.idx: "ASRUNDO1", a count, page numbers), read
 * when a chain is opened and when an older point is read.  A valid catalog
 * of two points names it for both; read-only, the older point is then read
 * whole; writable, open rolls the newest undo back onto the replica (whose
 * writes fail: the error paths).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sync/points.h"
#include "membe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLICA (256u << 10)

static void try_open(const uint8_t *data, size_t size, int readonly)
{
	static const char catalog[] =
		"{\"version\":1,\"next_seq\":3,\"points\":["
		"{\"id\":\"2026-11-24T10:00:00Z\",\"time\":1795600800,\"seq\":1,\"app_consistent\":false,\"sizes\":[262144]},"
		"{\"id\":\"2026-11-24T10:05:00Z\",\"time\":1795601100,\"seq\":2,\"app_consistent\":true,\"sizes\":[262144]}]}";
	static const char *const reps[] = {"rep0"};
	static char buf[REPLICA];
	struct backend *be = membe_new(0);
	struct rpchain_conf conf = {
		.catalog_key = "points.json", .data_prefix = "d", .ndisks = 1,
		.replica_keys = reps, .readonly = readonly,
	};
	struct rpchain *c;

	if (!be || membe_rec(be, "points.json", catalog, strlen(catalog)) < 0 ||
	    membe_disk(be, "rep0", NULL, 0, REPLICA) < 0 ||
	    membe_disk(be, "d/1/0.idx", data, size, size) < 0 ||
	    membe_disk(be, "d/2/0.idx", data, size, size) < 0 ||
	    membe_disk(be, "d/1/0.undo", NULL, 0, 64u << 20) < 0 ||
	    membe_disk(be, "d/2/0.undo", NULL, 0, 64u << 20) < 0)
		abort();
	conf.meta = conf.data = be;
	if (rpchain_open(&conf, &c) == 0) {
		(void)rpchain_read(c, "2026-11-24T10:00:00Z", 0, buf, sizeof(buf), 0);
		(void)rpchain_stale(c);
		rpchain_close(c);
	}
	membe_free(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	try_open(data, size, 1);
	try_open(data, size, 0);
	return 0;
}
