/*
 * fuzz_config.c - libFuzzer target: the config file, parsed as
 * json_object_from_file would and checked by config_parse (core/config.h),
 * which opens nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;
	struct config cf;
	char err[512];

	if (!tok)
		abort();
	o = json_tokener_parse_ex(tok, (const char *)data, (int)(size > 65536 ? 65536 : size));
	json_tokener_free(tok);
	if (!o)
		return 0;
	if (config_parse(o, "fuzz.json", &cf, err, sizeof(err)) == 0) {
		/* what load_config then reads */
		for (size_t i = 0; i < cf.nregions; i++)
			(void)(strlen(cf.regions[i].bc.region) + strlen(cf.regions[i].key_env) +
			       strlen(cf.regions[i].key_file));
		for (size_t i = 0; i < cf.nvaults; i++)
			(void)(strlen(cf.vaults[i].name) + strlen(cf.vaults[i].region));
	}
	config_free(&cf);
	json_object_put(o);
	return 0;
}
