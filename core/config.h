/*
 * config.h - the config file (asrfs --config), parsed apart from its use.
 *
 * config_parse checks everything the file says that can be checked without
 * acting on it: no backend is opened, no key read, nothing in the model
 * changed.  core_start then opens the regions and adds the vaults it lists.
 * Kept apart so that the parser can be tested (and fuzzed) on its own.
 */
#ifndef ASRFS_CONFIG_H
#define ASRFS_CONFIG_H

#include <json-c/json.h>
#include <stddef.h>

#include "../backend/backend.h"

struct config_region {
	struct backend_conf bc; /* key not resolved yet */
	const char *key_env;    /* azblob: exactly one of these is non-empty */
	const char *key_file;
};

struct config_vault {
	const char *name, *region;
};

/* Strings point into the json_object given to config_parse. */
struct config {
	int lease_seconds;      /* 0: not given */
	int hook_timeout;       /* 0: not given (hook-timeout-seconds) */
	struct config_region *regions;
	size_t nregions;
	struct config_vault *vaults;
	size_t nvaults;
	int has_workers, workers;
	const char *hooks;      /* NULL: not given */
};

/* 0, or -EINVAL (-ENOMEM) with the reason in err naming path. */
int config_parse(json_object *o, const char *path, struct config *cf, char *err, size_t errlen);
void config_free(struct config *cf);

#endif
