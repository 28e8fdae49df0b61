/*
 * sched.h - when each replicated item's next cycle is due: a min-heap of
 * (time, item) that the scheduler thread pops, so a tick costs O(log n) per
 * item that is due and nothing for the others (core/sched.c).
 *
 * Every function here is called with model_lock held; the heap is part of
 * the model.  An item is in the heap at most once.
 */
#ifndef ASRFS_SCHED_H
#define ASRFS_SCHED_H

#include <stddef.h>
#include <time.h>

struct vault_rec;
struct item_rec;

/* Put the item in the heap due at `when`, or move it there if it is in. */
int sched_put(struct vault_rec *v, struct item_rec *it, time_t when);
/* The item's next_cycle, state, job or policy changed: due at next_cycle. */
int sched_item(struct vault_rec *v, struct item_rec *it);
/* Every item of v (a vault loaded or taken over). */
void sched_vault(struct vault_rec *v);
/* Take the item out (it is freed or leaves its vault); not in: nothing. */
void sched_remove(struct item_rec *it);
/* The earliest entry due at or before now, taken out: 1 with *v, *it and
 * *when set; 0 when none is due. */
int sched_pop_due(time_t now, struct vault_rec **v, struct item_rec **it, time_t *when);
size_t sched_size(void);
/* Forget every entry and free the heap (shut-down). */
void sched_clear(void);

#endif
