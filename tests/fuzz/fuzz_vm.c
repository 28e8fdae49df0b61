/*
 * fuzz_vm.c - libFuzzer target: a VM record of a region's inventory
 * (resource-groups/<rg>/vms/<vm>.json), read by region_load.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_region(data, size);
	return 0;
}
