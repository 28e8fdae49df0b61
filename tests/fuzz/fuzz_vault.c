/*
 * fuzz_vault.c - libFuzzer target: vault.json, read by vault_load (policies,
 * network mappings, the job counter).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_vault(data, size, NULL, 0, NULL, 0);
	return 0;
}
