/*
 * harness.c - vaults and regions on the in-memory backend for the fuzz
 * targets (see harness.h).  Single-threaded, so taking model_lock around
 * the loaders, as their callers do, costs nothing.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/daemon.h"
#include "../../core/inventory.h"
#include "../../core/model.h"
#include "membe.h"

static void free_vault_records(struct vault_rec *v)
{
	while (v->policies) {
		struct policy_rec *p = v->policies;
		v->policies = p->next;
		free(p);
	}
	while (v->maps) {
		struct mapping_rec *m = v->maps;
		v->maps = m->next;
		free(m);
	}
	while (v->items) {
		struct item_rec *it = v->items;
		v->items = it->next;
		free(it);
	}
	while (v->jobs) {
		struct job_rec *j = v->jobs;
		v->jobs = j->next;
		free(j);
	}
}

void fz_vault(const uint8_t *vault, size_t vlen, const uint8_t *item, size_t ilen, const uint8_t *job,
	      size_t jlen)
{
	struct region r = {.name = "northeurope", .available = 1};
	struct vault_rec v = {.name = "v", .region = &r};
	int rc = 0;

	r.be = membe_new(0);
	if (!r.be)
		abort();
	if (vault)
		rc = membe_rec(r.be, "vaults/v/vault.json", vault, vlen);
	if (rc == 0 && item)
		rc = membe_rec(r.be, "vaults/v/items/web01/item.json", item, ilen);
	if (rc == 0 && job)
		rc = membe_rec(r.be, "vaults/v/jobs/000001.json", job, jlen);
	if (rc < 0)
		abort();
	if (daemon_register() < 0)
		abort();
	lock_model();
	(void)vault_load(&v);
	unlock_model();
	free_vault_records(&v);
	membe_free(r.be);
}

void fz_region(const uint8_t *vm, size_t len)
{
	struct region r = {.name = "westeurope", .available = 1};

	r.be = membe_new(0);
	if (!r.be || membe_rec(r.be, "resource-groups/rg1/rg.json", "{}", 2) < 0 ||
	    membe_rec(r.be, "resource-groups/rg1/vms/web01.json", vm, len) < 0 ||
	    membe_disk(r.be, "resource-groups/rg1/disks/web01-os", NULL, 0, 1 << 20) < 0)
		abort();
	lock_model();
	(void)region_load(&r);
	region_unload(&r);
	unlock_model();
	membe_free(r.be);
}
