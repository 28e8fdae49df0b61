/*
 * chains.c - where an item's recovery-point chain goes when the item lets
 * go of it, and the pins that keep a chain open while a FUSE reader uses it
 * outside model_lock.  Everything here is model state: model_lock guards
 * the lists (chain_unpin and chains_sweep take it themselves).
 */
#define _GNU_SOURCE
#include "chains.h"
#include "model.h"

#include <errno.h>
#include <stdlib.h>

/* Retired chains (their item went away, or a read-only vault re-read its
 * catalogs).  Whoever uses a chain outside model_lock must be sure it is not
 * closed meanwhile.  Jobs and cycles of a managed vault rely on their item's
 * turn, so a chain opened read-write stays here until shut-down.  A chain
 * opened read-only is only ever read by FUSE threads (a read-only vault runs
 * no jobs or cycles), and they pin it (chain_pin) for as long as they use it
 * -- an open recovery-point file for its whole life -- so it is closed as
 * soon as it is retired and unpinned: a standby daemon that re-reads the
 * catalogs every half minute does not grow. */
static struct graveyard {
	struct rpchain *chain;
	int ro;                      /* opened read-only: closed once unpinned */
	struct graveyard *next;
} *graveyard;                        /* protected by model_lock */

static struct chainpin {
	struct rpchain *chain;
	int n;
	struct chainpin *next;
} *pins;                             /* protected by model_lock */

int chain_pin(struct rpchain *c)
{
	struct chainpin *p;

	for (p = pins; p; p = p->next)
		if (p->chain == c) {
			p->n++;
			return 0;
		}
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->chain = c;
	p->n = 1;
	p->next = pins;
	pins = p;
	return 0;
}

static int chain_pinned(const struct rpchain *c)
{
	for (struct chainpin *p = pins; p; p = p->next)
		if (p->chain == c)
			return 1;
	return 0;
}

void chain_unpin(struct rpchain *c)
{
	lock_model();
	for (struct chainpin **pp = &pins, *p; (p = *pp) != NULL; pp = &p->next)
		if (p->chain == c) {
			if (--p->n == 0) {
				*pp = p->next;
				free(p);
			}
			break;
		}
	unlock_model();
	chains_sweep();
}

int chains_open(void)
{
	int n = 0;

	for (struct vault_rec *v = M.vaults; v; v = v->next)
		for (struct item_rec *it = v->items; it; it = it->next)
			n += it->chain != NULL;
	for (struct graveyard *g = graveyard; g; g = g->next)
		n++;
	return n;
}

void chains_sweep(void)
{
	struct graveyard *dead = NULL, **pp, *g;

	lock_model();
	for (pp = &graveyard; (g = *pp) != NULL;) {
		if (g->ro && !chain_pinned(g->chain)) {
			*pp = g->next;
			g->next = dead;
			dead = g;
		} else {
			pp = &g->next;
		}
	}
	unlock_model();
	while (dead) { /* closing may free handles: not under model_lock */
		g = dead;
		dead = g->next;
		rpchain_close(g->chain);
		free(g);
	}
}

void item_close_chain(struct item_rec *it)
{
	/* called at shut-down or when an item goes away */
	struct graveyard *g;
	if (!it->chain)
		return;
	g = malloc(sizeof(*g));
	if (!g) {
		rpchain_close(it->chain); /* better a leak-free close than nothing */
		it->chain = NULL;
		return;
	}
	g->chain = it->chain;
	g->ro = it->chain_ro;
	g->next = graveyard;
	graveyard = g;
	it->chain = NULL;
}

void chains_shutdown(void)
{
	while (graveyard) {
		struct graveyard *g = graveyard;
		graveyard = g->next;
		rpchain_close(g->chain);
		free(g);
	}
}
