/*
 * cycle.c - one replication cycle of an item (see cycle.h for the steps).
 *
 * The instant is the only moment the VM's writes wait: every disk's
 * instant lock exclusively, a change stamp read (a stat, or a HEAD on a
 * remote source) and a tracker swap per disk.  Data moves after, through
 * the capture's view, while writes go on.
 */
#define _GNU_SOURCE
#include "cycle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "blockmap.h"

#define MAP_PENDING_MAX 4096u /* entries kept a disk before they are folded into the record */
#define MAXD 16

struct map_entry {
	uint64_t page;
	XXH128_canonical_t h;
};

/* The entries of one disk's map not in its record yet: changes from the
 * record whose generation is from_seq. */
struct pending {
	struct map_entry *e;
	size_t n, cap;
	uint64_t from_seq;
	int valid; /* from_seq known */
};

struct cycle_state {
	int ndisks;
	struct pending p[MAXD];
};

int cycle_state_new(int ndisks, struct cycle_state **out)
{
	struct cycle_state *s;
	if (ndisks < 0 || ndisks > MAXD)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ndisks = ndisks;
	*out = s;
	return 0;
}

static void pending_drop(struct pending *p)
{
	free(p->e);
	memset(p, 0, sizeof(*p));
}

void cycle_state_free(struct cycle_state *s)
{
	if (!s)
		return;
	for (int i = 0; i < MAXD; i++)
		pending_drop(&s->p[i]);
	free(s);
}

static int pending_add(struct pending *p, uint64_t page, const XXH128_canonical_t *h)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct map_entry *e = realloc(p->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		p->e = e;
		p->cap = cap;
	}
	p->e[p->n].page = page;
	p->e[p->n].h = *h;
	p->n++;
	return 0;
}

static void pending_apply(const struct pending *p, struct blockmap *m)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].page < m->npages)
			m->h[p->e[i].page] = p->e[i].h;
}

/* One disk's run through the engine. */
struct disk_run {
	struct track_cap *cap;
	struct pending fresh; /* entries this cycle shipped (pages mode) */
	int oom;
	struct blockmap *map; /* a whole compare's map */
	int whole;
	char stamp[20];
	char version[BACKEND_ETAG_MAX]; /* the source's disk_version at the instant, "" unknown */
};

static int pages_next(void *arg, uint64_t page, uint64_t *first, uint64_t *end)
{
	return track_cap_next(arg, page, first, end);
}

static void chunk_done(void *arg, uint64_t first, unsigned n, const unsigned char *shipped,
		       const XXH128_canonical_t *hash)
{
	struct disk_run *dr = arg;
	track_cap_done(dr->cap, first, n);
	if (!shipped)
		return;
	for (unsigned i = 0; i < n; i++)
		if (shipped[i] && pending_add(&dr->fresh, first + i, &hash[i]) < 0)
			dr->oom = 1;
}

/* One item's part of a cycle. */
struct run {
	const struct cycle_conf *c;
	struct cycle_result *r;
	struct disk_run dr[MAXD];
	struct rp_cycle *cy;
	struct rp_point newest;
	int have_newest;
};

/* Step 2 for one item, its disks' instant locks held: every disk captured
 * at instant t, or -errno with none. */
static int capture_disks(struct run *u, time_t t)
{
	const struct cycle_conf *c = u->c;
	struct cycle_result *r = u->r;
	struct disk_run *dr = u->dr;
	int rc = 0, n = 0;

	r->instant = t;
	for (; n < c->ndisks && rc == 0; n++) {
		char why[160];
		int whole = c->whole;
		if (track_whole_due(c->d[n].t, why, sizeof(why)) && !r->whole_why[0])
			snprintf(r->whole_why, sizeof(r->whole_why), "disk %d: %s", n, why);
		/* a medium whose stamp is its version (azblob): one request, and
		 * the token at the instant names the map's bytes if no mount write
		 * follows */
		dr[n].version[0] = dr[n].stamp[0] = '\0';
		if (c->d[n].src_be->ops->disk_version && !c->d[n].src_be->ops->disk_stamp) {
			if (be_disk_version(c->d[n].src_be, c->d[n].src_key, dr[n].version) == 0)
				track_stamp_hex(dr[n].version, dr[n].stamp);
			else
				dr[n].version[0] = '\0';
		} else {
			track_stamp_of(c->d[n].src_be, c->d[n].src_key, dr[n].stamp);
		}
		if (!whole && track_bypassed(c->d[n].t, dr[n].stamp)) {
			/* changed, and not through the mount */
			whole = 1;
			snprintf(why, sizeof(why), "disk %d was written outside asrfs", n);
			(void)track_want_whole(c->d[n].t, why);
			if (!r->whole_why[0])
				snprintf(r->whole_why, sizeof(r->whole_why), "%s", why);
		}
		rc = track_capture(c->d[n].t, whole, dr[n].stamp, &dr[n].cap);
		if (rc == 0)
			dr[n].whole = track_cap_whole(dr[n].cap);
	}
	if (rc < 0) {
		for (int i = 0; i < n - 1; i++)
			track_cap_abort(dr[i].cap);
		for (int i = 0; i < c->ndisks; i++)
			dr[i].cap = NULL;
		snprintf(r->why, sizeof(r->why), "cannot capture disk %d: %s", n - 1, strerror(-rc));
	}
	return rc;
}

/* Step 2 for n items together: ONE instant.  Every disk's instant lock is
 * taken exclusively in a fixed order (the items in the order given, the
 * disks of each in their order: a single item's cycle takes its disks in
 * the same order, and two cycles never share an item), so two cycles never
 * wait on each other.  0 with every disk of every item captured, or -errno
 * with none. */
static int take_instant(struct run *u, int n)
{
	time_t t;
	int rc = 0, done = 0;

	for (int k = 0; k < n; k++)
		for (int i = 0; i < u[k].c->ndisks; i++)
			pthread_rwlock_wrlock(u[k].c->d[i].instant);
	t = time(NULL);
	for (; done < n && rc == 0; done++)
		rc = capture_disks(&u[done], t);
	for (int k = n - 1; k >= 0; k--)
		for (int i = u[k].c->ndisks - 1; i >= 0; i--)
			pthread_rwlock_unlock(u[k].c->d[i].instant);
	if (rc < 0) {
		/* the failed item let its captures go; the ones before it do now */
		for (int k = 0; k < done - 1; k++)
			for (int i = 0; i < u[k].c->ndisks; i++) {
				track_cap_abort(u[k].dr[i].cap);
				u[k].dr[i].cap = NULL;
			}
		for (int k = 0; k < n; k++)
			if (k != done - 1)
				snprintf(u[k].r->why, sizeof(u[k].r->why), "another member: %.250s", u[done - 1].r->why);
	}
	return rc;
}

/* A whole compare's map: the record brought up to the newest point with the
 * kept entries, when they match it; otherwise a new one (compare mode). */
static int whole_map(const struct cycle_conf *c, int i, const struct rp_point *newest, int have_newest,
		     uint64_t size, struct blockmap **m, int *trusted)
{
	struct pending *p = &c->state->p[i];
	*trusted = 0;
	if (have_newest && blockmap_load(c->d[i].dst_be, c->d[i].map_key, m) == 0) {
		*trusted = p->valid ? (*m)->generation == p->from_seq : (*m)->generation == newest->seq;
		if (*trusted)
			pending_apply(p, *m);
		if (*trusted && (*m)->disk_size != size)
			*trusted = 0;
		if (*trusted)
			return 0;
		blockmap_free(*m);
	}
	return blockmap_new(size, m);
}

/* Fold disk i's kept entries into its record (now point seq).  A record
 * that does not match them is left as it is: its generation already says
 * it is not the newest point's. */
static void maps_fold(const struct cycle_conf *c, int i, uint64_t seq, const char *version)
{
	struct pending *p = &c->state->p[i];
	struct blockmap *m = NULL;
	if (p->valid && blockmap_load(c->d[i].dst_be, c->d[i].map_key, &m) == 0 && m->generation == p->from_seq) {
		pending_apply(p, m);
		m->generation = seq;
		m->src_version = version ? blockmap_version(version) : 0;
		(void)blockmap_save(c->d[i].dst_be, c->d[i].map_key, m);
	}
	blockmap_free(m);
	pending_drop(p);
}

/* Step 1 for one item: nothing open on failure. */
static int run_begin(struct run *u)
{
	const struct cycle_conf *c = u->c;
	struct cycle_result *r = u->r;
	int rc;

	memset(r, 0, sizeof(*r));
	memset(u->dr, 0, sizeof(u->dr));
	u->cy = NULL;
	if (c->ndisks < 1 || c->ndisks > MAXD || !c->state)
		return -EINVAL;
	u->have_newest = !c->initial && rpchain_newest(c->chain, &u->newest) == 0;
	if (!c->initial && !u->have_newest) {
		snprintf(r->why, sizeof(r->why), "the item has no recovery point to replicate from");
		return -ENOENT;
	}
	{
		/* each tracker must count from the newest point */
		struct rp_point *pts = NULL;
		int npts = 0;
		const char *prev = "";
		if (u->have_newest && rpchain_list(c->chain, &pts, &npts) == 0 && npts >= 2)
			prev = pts[npts - 2].id;
		for (int i = 0; i < c->ndisks; i++)
			(void)track_validate(c->d[i].t, u->have_newest ? u->newest.id : "", prev);
		free(pts);
	}
	if (!c->initial) {
		rc = rpchain_begin(c->chain, &u->cy);
		if (rc < 0) {
			u->cy = NULL;
			snprintf(r->why, sizeof(r->why), "cannot start a recovery point: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* Step 4 for one item: every disk through the engine. */
static int run_ship(struct run *u)
{
	const struct cycle_conf *c = u->c;
	struct cycle_result *r = u->r;
	struct disk_run *dr = u->dr;
	int rc = 0;

	for (int i = 0; i < c->ndisks && rc == 0; i++) {
		struct delta_opts opts = {0};
		struct delta_pages pages = {.next = pages_next, .arg = dr[i].cap};
		struct delta_stats st;
		struct bdisk *s = NULL, *view = NULL, *d = NULL;
		uint64_t size = 0;
		int trusted = 0;

		rc = be_disk_open(c->d[i].src_be, c->d[i].src_key, BDISK_RDONLY, &s);
		if (rc == 0)
			rc = be_disk_open(c->d[i].dst_be, c->d[i].dst_key, BDISK_RDWR, &d);
		if (rc == 0)
			rc = track_cap_view(dr[i].cap, s, &view);
		if (rc == 0)
			rc = bd_size(s, &size);
		if (rc == 0 && dr[i].whole && c->whole) {
			/* a resync trusts nothing: both sides are read, the map rebuilt */
			rc = blockmap_new(size, &dr[i].map);
			opts.map = dr[i].map;
			r->whole = 1;
		} else if (rc == 0 && dr[i].whole) {
			rc = whole_map(c, i, &u->newest, u->have_newest, size, &dr[i].map, &trusted);
			opts.map = dr[i].map;
			opts.map_trusted = trusted;
			r->whole = 1;
		} else {
			opts.pages = &pages;
		}
		opts.undo = u->cy ? rp_cycle_undo(u->cy, i) : NULL;
		opts.bwlimit = c->bwlimit;
		opts.progress = c->progress;
		opts.progress_arg = c->progress_arg;
		opts.chunk_done = chunk_done;
		opts.chunk_arg = &dr[i];
		memset(&st, 0, sizeof(st));
		if (rc == 0)
			rc = delta_sync(view, d, &opts, &st);
		if (rc == 0)
			rc = bd_sync(d);
		if (rc == 0 && dr[i].oom)
			rc = -ENOMEM;
		bd_close(view);
		bd_close(s);
		bd_close(d);
		r->sent += st.bytes_transferred;
		r->read += st.bytes_read;
		r->disk_sent[i] = st.bytes_transferred;
		r->disk_read[i] = st.bytes_read;
		if (c->compared_base)
			*c->compared_base += size;
		if (c->sent_base)
			*c->sent_base += st.bytes_transferred;
		if (rc < 0)
			snprintf(r->why, sizeof(r->why), "disk %d: %s", i, strerror(-rc));
	}
	return rc;
}

static int run_fenced(const struct run *u)
{
	return u->c->fenced && u->c->fenced(u->c->arg);
}

/* Fenced: write nothing more, not even the roll-back.  The undo data is
 * durable and whoever manages the vault next rolls it back.  The trackers
 * keep every page (the files hold them too). */
static void run_leave_open(struct run *u)
{
	const struct cycle_conf *c = u->c;
	snprintf(u->r->why, sizeof(u->r->why),
		 "the vault's lease was lost: cycle left for the next manager to roll back");
	u->r->left_open = 1;
	for (int i = 0; i < c->ndisks; i++) {
		track_cap_abort(u->dr[i].cap);
		blockmap_free(u->dr[i].map);
		pending_drop(&u->dr[i].fresh);
		pending_drop(&c->state->p[i]);
	}
}

/* Step 5 for one item: its point at time t.  On failure the cycle is still
 * open (the caller aborts it). */
static int run_commit(struct run *u, time_t t, int flags)
{
	const struct cycle_conf *c = u->c;
	struct cycle_result *r = u->r;
	struct disk_run *dr = u->dr;
	int rc;

	rc = c->initial ? rpchain_add_initial(c->chain, t, flags, &r->pt) : rpchain_commit(u->cy, t, flags, &r->pt);
	if (rc < 0) {
		snprintf(r->why, sizeof(r->why), "cannot commit the recovery point: %s", strerror(-rc));
		return rc;
	}
	u->cy = NULL;

	/* The point is durable: the trackers forget its pages, the maps move on. */
	for (int i = 0; i < c->ndisks; i++) {
		struct pending *p = &c->state->p[i];
		/* the source's version at the instant names the map's bytes when
		 * no mount write came after it (a bypass moves the token, so a
		 * map named so is never trusted for bytes it does not hold) */
		const char *version = dr[i].version[0] && !track_written(c->d[i].t) ? dr[i].version : NULL;
		(void)track_cap_commit(dr[i].cap, r->pt.id);
		if (dr[i].map) {
			dr[i].map->generation = r->pt.seq;
			dr[i].map->src_version = version ? blockmap_version(version) : 0;
			(void)blockmap_save(c->d[i].dst_be, c->d[i].map_key, dr[i].map);
			blockmap_free(dr[i].map);
			pending_drop(p);
			p->valid = 1;
			p->from_seq = r->pt.seq;
			continue;
		}
		if (!p->n && !p->valid) {
			p->valid = 1;
			p->from_seq = c->initial ? 0 : u->newest.seq;
		}
		for (size_t k = 0; k < dr[i].fresh.n; k++)
			if (pending_add(p, dr[i].fresh.e[k].page, &dr[i].fresh.e[k].h) < 0)
				p->valid = 0; /* lost an entry: the record cannot be brought up */
		pending_drop(&dr[i].fresh);
		if (c->flush_maps || p->n > MAP_PENDING_MAX) {
			maps_fold(c, i, r->pt.seq, version);
			p->valid = 1;
			p->from_seq = r->pt.seq;
		}
	}
	(void)rpchain_prune(c->chain, r->instant, c->retention_hours);
	return 0;
}

/* Back to the newest point; every page goes back to its tracker.  The kept
 * map entries may describe pages the abort undid: drop them. */
static void run_abort(struct run *u)
{
	const struct cycle_conf *c = u->c;
	if (u->cy && rpchain_abort(u->cy) < 0)
		u->r->left_open = 1; /* the chain could not roll back now: its next open does */
	u->cy = NULL;
	for (int i = 0; i < c->ndisks; i++) {
		if (u->dr[i].cap)
			track_cap_abort(u->dr[i].cap);
		u->dr[i].cap = NULL;
		blockmap_free(u->dr[i].map);
		u->dr[i].map = NULL;
		pending_drop(&u->dr[i].fresh);
		pending_drop(&c->state->p[i]);
	}
}

/* The others learn why item bad failed. */
static void others_why(struct run *u, int n, int bad)
{
	for (int k = 0; k < n; k++)
		if (k != bad && !u[k].r->why[0])
			snprintf(u[k].r->why, sizeof(u[k].r->why), "another member: %.250s", u[bad].r->why);
}

/* The first time from t on that no item's chain has a point at: its id
 * (the time's) is then free in every chain. */
static time_t common_time(struct run *u, int n, time_t t)
{
	for (int again = 1; again;) {
		again = 0;
		for (int k = 0; k < n && !again; k++) {
			struct rp_point *pts = NULL;
			int np = 0;
			if (rpchain_list(u[k].c->chain, &pts, &np) == 0)
				for (int i = 0; i < np; i++)
					if (pts[i].time == t)
						again = 1;
			free(pts);
			if (again)
				t++;
		}
	}
	return t;
}

static int cycles(int n, const struct cycle_conf *const *c, struct cycle_result *r, int multi_vm)
{
	struct run *u;
	int rc = 0, k, begun;
	time_t t;

	if (n < 1)
		return -EINVAL;
	u = calloc((size_t)n, sizeof(*u));
	if (!u)
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		u[k].c = c[k];
		u[k].r = &r[k];
		memset(&r[k], 0, sizeof(r[k]));
	}
	for (begun = 0; begun < n && rc == 0; begun++)
		rc = run_begin(&u[begun]);
	if (rc < 0) {
		/* the one that failed opened nothing; the ones before it let go */
		others_why(u, n, begun - 1);
		for (k = 0; k < begun - 1; k++)
			if (u[k].cy && rpchain_abort(u[k].cy) < 0)
				u[k].r->left_open = 1;
		goto out;
	}
	rc = take_instant(u, n);
	for (k = 0; k < n; k++)
		if (c[k]->captured)
			c[k]->captured(c[k]->arg);
	if (rc < 0)
		goto abort;
	for (k = 0; k < n && rc == 0; k++)
		rc = run_ship(&u[k]);
	if (rc < 0)
		others_why(u, n, k - 1);
	for (k = 0; k < n && rc == 0; k++)
		if (run_fenced(&u[k]))
			rc = -ECANCELED;
	if (rc == -ECANCELED) {
		int fenced = 0;
		for (k = 0; k < n; k++)
			fenced |= run_fenced(&u[k]);
		if (fenced) {
			for (k = 0; k < n; k++)
				run_leave_open(&u[k]);
			goto out;
		}
	}
	if (rc < 0)
		goto abort;
	/* every item shipped: only now does any commit */
	t = n > 1 ? common_time(u, n, u[0].r->instant) : u[0].r->instant;
	for (k = 0; k < n; k++) {
		rc = run_commit(&u[k], t, (c[k]->app ? RP_APP : 0) | (multi_vm ? RP_MULTI_VM : 0));
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		/* the ones committed keep their point; the rest roll back */
		others_why(u, n, k);
		for (; k < n; k++)
			run_abort(&u[k]);
	}
	goto out;
abort:
	for (k = 0; k < n; k++)
		run_abort(&u[k]);
out:
	free(u);
	return rc;
}

int repl_cycle(const struct cycle_conf *c, struct cycle_result *r)
{
	return cycles(1, &c, r, 0);
}

int repl_cycle_group(int n, const struct cycle_conf *const *c, struct cycle_result *r, int multi_vm)
{
	return cycles(n, c, r, multi_vm);
}
