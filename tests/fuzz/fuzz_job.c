/*
 * fuzz_job.c - libFuzzer target: a job record (jobs/<id>.json), read by
 * vault_load (beside a valid vault.json).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char vault[] = "{\"name\":\"v\",\"region\":\"northeurope\",\"next_job\":2}";
	fz_vault((const uint8_t *)vault, sizeof(vault) - 1, NULL, 0, data, size);
	return 0;
}
