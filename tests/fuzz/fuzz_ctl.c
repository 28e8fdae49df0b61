/*
 * fuzz_ctl.c - libFuzzer target: the control-line parser (ctl_parse) that
 * splits every control write into bare words and key=value words, then the
 * helpers controls apply to the words: ctl_get, ctl_check_keys, and the
 * number, size, time and name parsers.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const allowed[] = {"size", "retention", "at", "name", "disks", NULL};
	struct ctl_line cl;
	char err[256];
	uint64_t u;
	time_t t;

	if (ctl_parse((const char *)data, size, &cl, err, sizeof(err)) < 0)
		return 0;
	(void)ctl_get(&cl, "size");
	(void)ctl_check_keys(&cl, allowed, err, sizeof(err));
	for (int i = 0; i < cl.nbare; i++) {
		(void)name_rg_ok(cl.bare[i], err, sizeof(err));
		(void)name_vm_ok(cl.bare[i], err, sizeof(err));
		(void)name_sa_ok(cl.bare[i], err, sizeof(err));
		(void)name_generic_ok("disk", cl.bare[i], err, sizeof(err));
	}
	for (int i = 0; i < cl.nkv; i++) {
		char sa[32];
		(void)parse_size(cl.val[i], &u, err, sizeof(err));
		(void)parse_u64(cl.val[i], 1, UINT64_MAX, &u);
		(void)parse_time(cl.val[i], &t);
		sa_name_sanitize(cl.val[i], sa, sizeof(sa));
	}
	return 0;
}
