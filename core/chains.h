/*
 * chains.h - retired recovery-point chains and the pins of readers
 * (core/chains.c).
 */
#ifndef ASRFS_CHAINS_H
#define ASRFS_CHAINS_H

#include "model.h"

void item_close_chain(struct item_rec *it); /* model_lock held */
/* A FUSE reader of a read-only chain pins it while it uses it outside
 * model_lock (chain_pin with the lock held, chain_unpin without);
 * chains_sweep closes retired read-only chains nobody pins. */
int chain_pin(struct rpchain *c);
void chain_unpin(struct rpchain *c);
void chains_sweep(void);
int chains_open(void); /* model_lock held: items' chains plus retired ones */
void chains_shutdown(void);  /* frees retired chains */

#endif
