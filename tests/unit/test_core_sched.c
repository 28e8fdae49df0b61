/*
 * test_core_sched.c - unit tests of core/sched.c, the replication
 * scheduler's heap: due items come out earliest first and only when due,
 * an item is in it at most once, moving or removing one keeps the order,
 * and a long random run of every operation agrees with a plain array
 * searched in full (the heap's position index included, through removals
 * from the middle and the index's growth).
 */
#include "../../core/model.h"
#include "../../core/sched.h"
#include "t.h"

#define N 3000

static struct vault_rec vault;
static struct item_rec items[N];

static int pop(time_t now, struct item_rec **it, time_t *when)
{
	struct vault_rec *v = NULL;
	int got = sched_pop_due(now, &v, it, when);
	if (got && v != &vault)
		return -1;
	return got;
}

static void test_due_in_order(void)
{
	struct item_rec *it;
	time_t when, last = 0;
	int n = 0;

	for (int i = 0; i < 100; i++)
		T_EQ_INT(sched_put(&vault, &items[i], 1000 + (i * 37) % 100), 0);
	T_EQ_INT(sched_size(), 100);
	T_EQ_INT(pop(999, &it, &when), 0); /* nothing due yet */
	T_EQ_INT(sched_size(), 100);
	while (pop(1049, &it, &when) == 1) {
		T_ASSERT(when >= last && when <= 1049);
		T_EQ_INT(when, 1000 + ((it - items) * 37) % 100);
		last = when;
		n++;
	}
	T_EQ_INT(n, 50); /* exactly those due by 1049 */
	T_EQ_INT(sched_size(), 50);
	sched_clear();
	T_EQ_INT(sched_size(), 0);
	T_EQ_INT(pop(1 << 30, &it, &when), 0);
}

static void test_once_and_moved(void)
{
	struct item_rec *it;
	time_t when;

	T_EQ_INT(sched_put(&vault, &items[0], 500), 0);
	T_EQ_INT(sched_put(&vault, &items[1], 400), 0);
	T_EQ_INT(sched_put(&vault, &items[0], 300), 0); /* moved earlier, not added */
	T_EQ_INT(sched_size(), 2);
	T_EQ_INT(sched_put(&vault, &items[1], 900), 0); /* moved later */
	T_EQ_INT(pop(1000, &it, &when), 1);
	T_ASSERT(it == &items[0]);
	T_EQ_INT(when, 300);
	T_EQ_INT(pop(1000, &it, &when), 1);
	T_ASSERT(it == &items[1]);
	T_EQ_INT(when, 900);
	T_EQ_INT(pop(1000, &it, &when), 0);

	/* sched_item uses the item's next_cycle; sched_remove takes it out */
	items[5].next_cycle = 700;
	T_EQ_INT(sched_item(&vault, &items[5]), 0);
	T_EQ_INT(sched_put(&vault, &items[6], 600), 0);
	sched_remove(&items[6]);
	sched_remove(&items[6]); /* not in: nothing */
	T_EQ_INT(sched_size(), 1);
	T_EQ_INT(pop(699, &it, &when), 0);
	T_EQ_INT(pop(700, &it, &when), 1);
	T_ASSERT(it == &items[5]);
	sched_clear();
}

static void test_vault(void)
{
	struct vault_rec v = {0};
	struct item_rec a = {0}, b = {0}, *it;
	time_t when;

	a.next_cycle = 20;
	b.next_cycle = 10;
	a.next = &b;
	v.items = &a;
	sched_vault(&v);
	T_EQ_INT(sched_size(), 2);
	sched_vault(&v); /* again: still once each */
	T_EQ_INT(sched_size(), 2);
	T_EQ_INT(pop(15, &it, &when), -1); /* another vault's entry: pop says so */
	T_ASSERT(it == &b);
	sched_clear();
}

/* A random run against a plain array: put, move, remove and pop. */
static void test_random_against_array(void)
{
	static time_t due[N]; /* 0: not in */
	unsigned seed = 12345;
	size_t in = 0;

	memset(due, 0, sizeof(due));
	for (int step = 0; step < 200000; step++) {
		unsigned r = rand_r(&seed);
		int i = (int)(r % N);
		switch ((r >> 16) % 4) {
		case 0:
		case 1: {
			time_t w = 1 + (time_t)(rand_r(&seed) % 100000);
			T_EQ_INT(sched_put(&vault, &items[i], w), 0);
			in += !due[i];
			due[i] = w;
			break;
		}
		case 2:
			sched_remove(&items[i]);
			in -= !!due[i];
			due[i] = 0;
			break;
		default: {
			time_t now = (time_t)(rand_r(&seed) % 100000), when, min = 0;
			struct item_rec *it;
			int got = pop(now, &it, &when);
			for (int k = 0; k < N; k++)
				if (due[k] && (!min || due[k] < min))
					min = due[k];
			if (!min || min > now) {
				T_EQ_INT(got, 0);
				break;
			}
			T_EQ_INT(got, 1);
			T_EQ_INT(when, min); /* the earliest, whichever item of that time */
			T_EQ_INT(due[it - items], when);
			due[it - items] = 0;
			in--;
			break;
		}
		}
		T_EQ_INT(sched_size(), in);
	}
	/* drain: every remaining item exactly once, in order */
	{
		struct item_rec *it;
		time_t when, last = 0;
		while (pop(1 << 30, &it, &when) == 1) {
			T_ASSERT(when >= last);
			T_EQ_INT(due[it - items], when);
			due[it - items] = 0;
			last = when;
			in--;
		}
		T_EQ_INT(in, 0);
	}
	sched_clear();
}

int main(void)
{
	T_RUN(test_due_in_order);
	T_RUN(test_once_and_moved);
	T_RUN(test_vault);
	T_RUN(test_random_against_array);
	T_DONE();
}
