/*
 * protect.h - protecting a VM (core/protect.c): the Enable and Disable
 * replication jobs and the replication cycles that run between them.
 */
#ifndef ASRFS_PROTECT_H
#define ASRFS_PROTECT_H

#include "jobs.h"
#include "model.h"

extern const struct job_type JT_ENABLE, JT_DISABLE;

/* replication */
void replication_tick(time_t now);     /* scheduler: model_lock NOT held */
int item_open_chain(struct vault_rec *v, struct item_rec *it); /* model_lock NOT held */
/* For lifecycle.c (model_lock NOT held unless said): */
int wait_cycle_done(struct jobctx *c);  /* no cycle runs on the item (a job holds it) */
int sync_disk(struct backend *sbe, const char *skey, struct backend *dbe, const char *dkey,
	      struct delta_opts *opts, struct delta_stats *st);
void maps_forget(struct vault_rec *v, const char *item);
void item_points_refresh(struct vault_rec *v, const char *name, struct rpchain *chain);
/* Run one replication cycle now, inside a job that holds the item. */
int replication_cycle_now(struct vault_rec *v, const char *item, int force_compare, struct jobprog *jp,
			  char *why, size_t whylen);
/* Run a program under the hook time limit, in its own process group, as
 * the freeze hook runs (model_lock NOT held); see protect.c. */
int run_program(const char *path, char *const argv[], char *const envp[], const char *label, const char *what,
		int (*stop)(void *), void *arg, int detach, char *why, size_t whylen);
void protect_free_maps(void); /* frees cached block maps */
/* Resync's repair of replicas deleted behind the daemon's back (model_lock
 * NOT held): create each missing one again, empty (*lost counts them), so
 * a full compare fills it; then, once the resync's point exists, delete the
 * older points, which all read through the lost bytes. */
int replicas_recreate_lost(struct vault_rec *v, const char *item, int *lost, char *why, size_t whylen);
int points_drop_older(struct vault_rec *v, const char *item);
/* The item's chain, opened if needed (model_lock NOT held; a job holds the item). */
int item_chain(struct vault_rec *v, const char *item, struct rpchain **out);

#endif
