/*
 * sched.c - the replication scheduler's queue: a binary min-heap of
 * (due time, vault, item), with an index from the item's address to its
 * place in the heap (an open-addressing table of its own, so no copy of an
 * item_rec can carry a stale position), so an item is found, moved or
 * removed in O(log n) without a search.
 *
 * replication_tick pops only the entries that are due.  An entry is a hint,
 * checked when it is popped: an item due later than its entry says (its
 * next_cycle moved on) is put back at its real time, and an item that
 * cannot cycle now (not Protected, a job or a cycle running, its vault
 * read-only) leaves the heap until the change that lets it cycle again puts
 * it back (a job's end, a cycle's end, a vault taken over).  So only what
 * moves an item's time EARLIER, or makes it able to cycle, must call
 * sched_item; the rest is found out on the pop.  model_lock protects all.
 */
#include "sched.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"

struct sched_entry {
	time_t when;
	struct vault_rec *v;
	struct item_rec *it;
};

static struct sched_entry *heap;
static size_t nheap, capheap;

/* The index: item address -> heap position.  Linear probing in a power of
 * two table kept at most half full; deletion shifts the run back, so there
 * are no tombstones. */
struct slot {
	const struct item_rec *it; /* NULL: free */
	size_t pos;
};
static struct slot *idx;
static size_t capidx;

static size_t idx_home(const struct item_rec *it)
{
	uint64_t h = (uint64_t)(uintptr_t)it * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 32) & (capidx - 1);
}

static struct slot *idx_find(const struct item_rec *it)
{
	if (!capidx)
		return NULL;
	for (size_t i = idx_home(it);; i = (i + 1) & (capidx - 1)) {
		if (idx[i].it == it)
			return &idx[i];
		if (!idx[i].it)
			return NULL;
	}
}

static void idx_set(const struct item_rec *it, size_t pos)
{
	size_t i;
	for (i = idx_home(it); idx[i].it && idx[i].it != it; i = (i + 1) & (capidx - 1))
		;
	idx[i].it = it;
	idx[i].pos = pos;
}

static void idx_del(struct slot *s)
{
	size_t i = (size_t)(s - idx), j = i;
	idx[i].it = NULL;
	for (;;) {
		size_t home;
		j = (j + 1) & (capidx - 1);
		if (!idx[j].it)
			return;
		home = idx_home(idx[j].it);
		/* idx[j] may move to the hole at i unless its home lies
		 * cyclically in (i, j] */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		idx[i] = idx[j];
		idx[j].it = NULL;
		i = j;
	}
}

/* Room in the index for n items. */
static int idx_reserve(size_t n)
{
	struct slot *old = idx;
	size_t oldcap = capidx, cap = capidx ? capidx : 128;

	while (cap < 2 * n)
		cap *= 2;
	if (cap == capidx)
		return 0;
	idx = calloc(cap, sizeof(*idx));
	if (!idx) {
		idx = old;
		return -ENOMEM;
	}
	capidx = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].it)
			idx_set(old[i].it, old[i].pos);
	free(old);
	return 0;
}

static int before(const struct sched_entry *a, const struct sched_entry *b)
{
	return a->when < b->when;
}

static void place(size_t i, struct sched_entry e)
{
	heap[i] = e;
	idx_find(e.it)->pos = i;
}

static void sift_up(size_t i)
{
	struct sched_entry e = heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&e, &heap[parent]))
			break;
		place(i, heap[parent]);
		i = parent;
	}
	place(i, e);
}

static void sift_down(size_t i)
{
	struct sched_entry e = heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= nheap)
			break;
		if (c + 1 < nheap && before(&heap[c + 1], &heap[c]))
			c++;
		if (!before(&heap[c], &e))
			break;
		place(i, heap[c]);
		i = c;
	}
	place(i, e);
}

/* Remove the entry at i, keeping the heap's order. */
static void take(size_t i)
{
	idx_del(idx_find(heap[i].it));
	if (--nheap == i)
		return;
	place(i, heap[nheap]);
	if (i > 0 && before(&heap[i], &heap[(i - 1) / 2]))
		sift_up(i);
	else
		sift_down(i);
}

int sched_put(struct vault_rec *v, struct item_rec *it, time_t when)
{
	struct slot *s = idx_find(it);
	size_t i;

	if (s) {
		i = s->pos;
		heap[i].when = when;
		heap[i].v = v;
		if (i > 0 && before(&heap[i], &heap[(i - 1) / 2]))
			sift_up(i);
		else
			sift_down(i);
		return 0;
	}
	if (nheap == capheap) {
		size_t cap = capheap ? 2 * capheap : 64;
		struct sched_entry *n = realloc(heap, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		heap = n;
		capheap = cap;
	}
	if (idx_reserve(nheap + 1) < 0)
		return -ENOMEM;
	i = nheap++;
	idx_set(it, i);
	heap[i] = (struct sched_entry){.when = when, .v = v, .it = it};
	sift_up(i);
	return 0;
}

int sched_item(struct vault_rec *v, struct item_rec *it)
{
	int rc = sched_put(v, it, it->next_cycle);
	if (rc < 0)
		log_error("item %s: cannot schedule its cycles: %s", it->name, strerror(-rc));
	return rc;
}

void sched_vault(struct vault_rec *v)
{
	for (struct item_rec *it = v->items; it; it = it->next)
		sched_item(v, it);
}

void sched_remove(struct item_rec *it)
{
	struct slot *s = idx_find(it);
	if (s)
		take(s->pos);
}

int sched_pop_due(time_t now, struct vault_rec **v, struct item_rec **it, time_t *when)
{
	if (nheap == 0 || heap[0].when > now)
		return 0;
	*v = heap[0].v;
	*it = heap[0].it;
	*when = heap[0].when;
	take(0);
	return 1;
}

size_t sched_size(void)
{
	return nheap;
}

void sched_clear(void)
{
	free(heap);
	free(idx);
	heap = NULL;
	idx = NULL;
	nheap = capheap = capidx = 0;
}
