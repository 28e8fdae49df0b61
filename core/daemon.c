/*
 * daemon.c - the daemon's life: configuration, start-up and shut-down, and
 * the scheduler thread.  The top of core: it calls every file below and
 * nothing calls it but fs/ (core_start, core_stop).
 *
 * Start-up reads the config (or builds the embedded default), opens every
 * region's backend, takes each vault's lease (or serves it read-only when
 * another daemon holds it), loads inventories and vault state, resumes
 * interrupted jobs, and starts the worker pool and the scheduler.  The
 * scheduler ticks every 250 ms: it probes regions, loads a region's inventory
 * when it comes back, renews leases, and hands due replication cycles to the
 * worker pool (replication_tick()).
 *
 * A vault this daemon does not manage (another holds its lease, or its region
 * was down at start) is read-only: every ~5 s the scheduler tries the lease
 * again, and until it gets it reloads the vault's records so the tree shows
 * the manager's current state.  Taking the lease ("taken over") reloads the
 * vault once more, opens its recovery-point chains writable (which rolls back
 * a cycle the dead manager cut short) and resumes its interrupted jobs.  A
 * manager whose renewal is refused (its lease expired and another took it)
 * turns read-only.  Records are loaded into a scratch vault without
 * model_lock and swapped in under it; items are updated in place, so a
 * pointer to one stays valid.
 */
#define _GNU_SOURCE
#include "chains.h"
#include "config.h"
#include "daemon.h"
#include "inventory.h"
#include "jobs.h"
#include "lifecycle.h"
#include "model.h"
#include "controls.h"
#include "ops.h"
#include "opsupport.h"
#include "plans.h"
#include "protect.h"
#include "sched.h"
#include "tracking.h"
#include "vault.h"
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_t sched_thread;
static volatile int sched_stop;
static int sched_started;

/* ---- configuration ------------------------------------------------- */

/* A secret's file (key_file or sas_file, named by what). */
static char *read_key_file(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char buf[2048]; /* a SAS with every field is some 300 bytes */
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || (st.st_mode & 0077)) {
		snprintf(err, errlen, "%s %s is readable by others (chmod 600 it)", what, path);
		close(fd);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(err, errlen, "%s %s is empty", what, path);
		return NULL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static int add_region(const struct backend_conf *bc, char *err, size_t errlen)
{
	struct region *r = calloc(1, sizeof(*r)), **pp;
	int rc;
	if (!r)
		return -ENOMEM;
	snprintf(r->name, sizeof(r->name), "%s", bc->region);
	rc = backend_open(bc, &r->be);
	if (rc < 0) {
		snprintf(err, errlen, "region %s: cannot open %s backend: %s", bc->region, bc->kind, strerror(-rc));
		free(r);
		return rc;
	}
	r->be->ops->describe(r->be, r->describe, sizeof(r->describe));
	for (pp = &M.regions; *pp; pp = &(*pp)->next)
		;
	*pp = r;
	return 0;
}

static int add_vault(const char *name, const char *region, char *err, size_t errlen)
{
	struct vault_rec *v, **pp;
	struct region *r = region_find(region);
	if (!r) {
		snprintf(err, errlen, "vault %s: no region %s", name, region);
		return -EINVAL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->region = r;
	for (pp = &M.vaults; *pp; pp = &(*pp)->next)
		;
	*pp = v;
	return 0;
}

static int load_config(const char *path, char *err, size_t errlen)
{
	json_object *o = json_object_from_file(path);
	struct config cf;
	int rc;

	if (!o) {
		snprintf(err, errlen, "config %s: %s", path, json_util_get_last_err());
		return -EINVAL;
	}
	rc = config_parse(o, path, &cf, err, errlen);
	if (rc == 0 && cf.lease_seconds)
		M.lease_seconds = cf.lease_seconds;
	if (rc == 0 && cf.hook_timeout)
		M.hook_timeout = cf.hook_timeout;
	for (size_t i = 0; i < cf.nregions && rc == 0; i++) {
		struct config_region *cr = &cf.regions[i];
		char *key = NULL;
		if (*cr->key_env) {
			const char *e = getenv(cr->key_env);
			key = e ? strdup(e) : NULL;
			if (!key)
				snprintf(err, errlen, "region %s: environment variable %s is not set", cr->bc.region,
					 cr->key_env);
		} else if (*cr->key_file) {
			key = read_key_file(cr->sas ? "sas_file" : "key_file", cr->key_file, err, errlen);
		}
		if ((*cr->key_env || *cr->key_file) && !key) {
			rc = -EINVAL;
			break;
		}
		if (cr->sas)
			cr->bc.sas = key;
		else
			cr->bc.key = key;
		rc = add_region(&cr->bc, err, errlen);
		if (key) {
			explicit_bzero(key, strlen(key));
			free(key);
		}
	}
	for (size_t i = 0; i < cf.nvaults && rc == 0; i++)
		rc = add_vault(cf.vaults[i].name, cf.vaults[i].region, err, errlen);
	if (rc == 0 && cf.has_workers)
		M.workers = cf.workers;
	if (rc == 0 && cf.hooks && !(M.hooks_dir = strdup(cf.hooks)))
		rc = -ENOMEM;
	config_free(&cf);
	json_object_put(o);
	return rc;
}

static int default_config(char *err, size_t errlen)
{
	static const char *const names[] = {"westeurope", "northeurope"};
	char path[4096];
	int rc;
	for (int i = 0; i < 2; i++) {
		struct backend_conf bc = {.region = names[i], .kind = "local", .path = path};
		snprintf(path, sizeof(path), "%s/regions/%s", M.state_dir, names[i]);
		rc = add_region(&bc, err, errlen);
		if (rc < 0)
			return rc;
	}
	return add_vault("asr-vault", "northeurope", err, errlen);
}

/* First sight of a region by this state directory: make it (directory or
 * container, and the marker).  Later a missing region stays missing: that
 * is an outage, not something to paper over with an empty region. */
static void region_first_init(struct region *r)
{
	char stamp[4096], reason[256];
	int fd;
	snprintf(stamp, sizeof(stamp), "%s/initialized", M.state_dir);
	mkdir(stamp, 0700);
	snprintf(stamp, sizeof(stamp), "%s/initialized/%s", M.state_dir, r->name);
	if (access(stamp, F_OK) == 0)
		return;
	if (r->be->ops->probe(r->be, reason, sizeof(reason)) < 0) {
		int rc = r->be->ops->init_region(r->be);
		if (rc < 0) {
			log_error("region %s: cannot initialise: %s", r->name, strerror(-rc));
			return;
		}
	}
	fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

/* ---- scheduler ----------------------------------------------------- */

/* Region r just went down: a cycle of an item that reads or writes it may
 * be in flight, stuck in a request that takes minutes to time out, and
 * only its end says why it stopped.  Say it now in the item's error (no
 * operation's refusal is overwritten); the cycle's end replaces it.
 * model_lock held. */
static void note_cycles_waiting(const struct region *r, const char *reason)
{
	for (struct vault_rec *v = M.vaults; v; v = v->next)
		for (struct item_rec *it = v->items; it; it = it->next) {
			int src = strcmp(it->source_region, r->name) == 0;
			if (!it->cycle_running || (!src && strcmp(it->target_region, r->name) != 0))
				continue;
			if (!it->error[0] || strncmp(it->error, "replication ", 12) == 0)
				snprintf(it->error, sizeof(it->error),
					 "replication waiting (a cycle in flight): region %s is unavailable: %.200s",
					 src ? "source" : "target", reason);
		}
}

static void probe_regions(void)
{
	for (struct region *r = M.regions; r; r = r->next) {
		char reason[256] = "";
		int ok = r->be->ops->probe(r->be, reason, sizeof(reason)) == 0;
		lock_model();
		if (ok != r->available)
			log_at(ok ? LVL_INFO : LVL_WARN, "region %s is now %s%s%s", r->name,
			       ok ? "available" : "unavailable", ok ? "" : ": ", ok ? "" : reason);
		if (ok && !r->available) { /* back: cycles that were backing off retry now, jobs too */
			for (struct vault_rec *v = M.vaults; v; v = v->next)
				for (struct item_rec *it = v->items; it; it = it->next)
					if (it->failing) {
						it->next_cycle = time(NULL);
						sched_item(v, it);
					}
			jobs_wake_parked();
		}
		if (!ok && r->available)
			note_cycles_waiting(r, reason);
		r->available = ok;
		snprintf(r->reason, sizeof(r->reason), "%s", ok ? "" : reason);
		if (ok && !r->loaded)
			region_load(r);
		unlock_model();
	}
}

/* ---- lease takeover and read-only reload ------------------------------ */

#define TAKEOVER_EVERY 5      /* seconds between lease tries / reloads */
#define CHAIN_REFRESH_EVERY 6 /* reloads between re-reads of the point catalogs */

/* Items that left a vault on a reload: a reader may still hold the pointer
 * for a moment (vault.c chain_of), so they are freed at shut-down only.
 * Protected by model_lock. */
static struct item_rec *retired_items;

static void free_vault_lists(struct policy_rec *p, struct mapping_rec *m, struct job_rec *j)
{
	while (p) { struct policy_rec *n = p->next; free(p); p = n; }
	while (m) { struct mapping_rec *n = m->next; free(m); m = n; }
	while (j) { struct job_rec *n = j->next; free(j); j = n; }
}

/* A scratch copy of v to load records into, without model_lock. */
static void vault_scratch(struct vault_rec *tmp, const struct vault_rec *v, int readonly)
{
	memset(tmp, 0, sizeof(*tmp));
	snprintf(tmp->name, sizeof(tmp->name), "%s", v->name);
	tmp->region = v->region;
	tmp->readonly = readonly;
}

static void scratch_free(struct vault_rec *tmp)
{
	free_vault_lists(tmp->policies, tmp->maps, tmp->jobs);
	while (tmp->items) { struct item_rec *n = tmp->items->next; free(tmp->items); tmp->items = n; }
	tmp->policies = NULL, tmp->maps = NULL, tmp->jobs = NULL;
	plans_free(tmp->plans);
	tmp->plans = NULL;
	vault_lists_changed(tmp);
}

/* Take what the records say from src; keep what this process learned at run
 * time (its chain, running job, cycle counters and the points it read). */
static void item_refresh(struct item_rec *dst, const struct item_rec *src)
{
	struct item_rec keep = *dst;
	*dst = *src;
	dst->next = keep.next;
	dst->job = keep.job;
	dst->chain = keep.chain;
	dst->chain_ro = keep.chain_ro;
	dst->cycle_running = keep.cycle_running;
	dst->next_cycle = keep.next_cycle;
	dst->last_cycle = keep.last_cycle;
	dst->cycles = keep.cycles;
	dst->cycle_failures = keep.cycle_failures;
	dst->bytes_replicated = keep.bytes_replicated;
	dst->failing = keep.failing;
	memcpy(dst->fail_reason, keep.fail_reason, sizeof(dst->fail_reason));
	memcpy(dst->last_point, keep.last_point, sizeof(dst->last_point));
	memcpy(dst->last_app_point, keep.last_app_point, sizeof(dst->last_app_point));
	dst->last_point_time = keep.last_point_time;
	dst->npoints = keep.npoints;
	dst->cs = keep.cs; /* the turn holder's; a record never carries one */
	memcpy(dst->disk_read, keep.disk_read, sizeof(dst->disk_read));
	memcpy(dst->disk_sent, keep.disk_sent, sizeof(dst->disk_sent));
	memcpy(dst->whole_why, keep.whole_why, sizeof(dst->whole_why));
}

/* Swap the records loaded into tmp into v (model_lock held).  drop_chains
 * retires every open chain so the next user opens it again (as the vault's
 * new mode wants, and with the current catalog).  tmp is left empty. */
static void vault_swap(struct vault_rec *v, struct vault_rec *tmp, int drop_chains)
{
	struct policy_rec *op = v->policies;
	struct mapping_rec *om = v->maps;
	struct job_rec *oj = v->jobs;
	struct item_rec **pp;

	v->policies = tmp->policies;
	v->maps = tmp->maps;
	v->jobs = tmp->jobs;
	vault_lists_changed(v);
	v->next_job = tmp->next_job;
	memcpy(v->damaged, tmp->damaged, sizeof(v->damaged));
	tmp->policies = NULL, tmp->maps = NULL, tmp->jobs = NULL;
	plans_free(v->plans);
	v->plans = tmp->plans;
	tmp->plans = NULL;
	/* A job a worker still runs (this daemon just lost the lease) keeps its
	 * record: the worker holds the pointer.  Every other old one goes. */
	while (oj) {
		struct job_rec *j = oj, **jp;
		int running = 0;
		oj = j->next;
		for (struct item_rec *it = v->items; it; it = it->next)
			running |= it->job == j;
		running |= j->held; /* a recovery plan's, on a worker or parked */
		if (!running) {
			free(j);
			continue;
		}
		for (jp = &v->jobs; *jp && strcmp((*jp)->id, j->id) != 0; jp = &(*jp)->next)
			;
		if (*jp) {
			j->next = (*jp)->next;
			free(*jp);
		} else {
			j->next = NULL; /* not in the records yet: last */
		}
		*jp = j;
	}
	for (struct job_rec *j = v->jobs; j; j = j->next)
		j->vault = v;
	free_vault_lists(op, om, NULL);

	/* Items gone from the records leave; the others are updated in place. */
	for (pp = &v->items; *pp;) {
		struct item_rec *it = *pp, *t;
		for (t = tmp->items; t && strcmp(t->name, it->name) != 0; t = t->next)
			;
		if (t) {
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		item_close_chain(it);
		sched_remove(it);
		it->next = retired_items;
		retired_items = it;
	}
	/* the lookups below must not find a retired item; the ones added here
	 * have names no later lookup of this loop asks for */
	vault_lists_changed(v);
	while (tmp->items) {
		struct item_rec *t = tmp->items, *it = item_find(v, t->name);
		tmp->items = t->next;
		if (it) {
			item_refresh(it, t);
			free(t);
		} else {
			t->next = v->items;
			v->items = t;
		}
	}
	vault_lists_changed(v);
	vault_lists_changed(tmp);
	for (struct item_rec *it = v->items; it && drop_chains; it = it->next)
		item_close_chain(it);
}

/* Open the chains of a read-only vault's items, so last-recovery-point and
 * the points show without anyone listing them first (model_lock NOT held).
 * Only this thread removes items from a read-only vault, so `it` stays valid. */
static void vault_open_chains(struct vault_rec *v)
{
	struct strlist names = {0};

	lock_model();
	for (struct item_rec *it = v->items; it; it = it->next)
		if (!it->chain && !it->damaged[0] && !item_state_in(it->state, IS_NO_CHAIN_SET) && sl_add(&names, it->name) < 0)
			break;
	unlock_model();
	for (int i = 0; i < names.n; i++) {
		struct item_rec *it;
		lock_model();
		it = v->readonly ? item_find(v, names.v[i]) : NULL;
		unlock_model();
		if (it)
			item_open_chain(v, it);
	}
	sl_free(&names);
}

/* A read-only vault: try its lease; got it -> manage the vault from now on,
 * else reload its records (model_lock NOT held). */
static void vault_takeover_or_reload(struct vault_rec *v, int refresh_chains)
{
	struct vault_rec tmp;
	void *lease = NULL;
	char key[256];
	int rc;

	if (!v->region->available)
		return;
	snprintf(key, sizeof(key), "vaults/%s/lease", v->name);
	rc = v->region->be->ops->lease_acquire(v->region->be, key, &lease);
	if (rc < 0 && rc != -EBUSY)
		log_error("vault %s: cannot take its lease: %s", v->name, strerror(-rc));
	vault_scratch(&tmp, v, lease == NULL);
	rc = vault_load(&tmp);
	if (rc < 0) {
		log_error("vault %s: cannot load: %s", v->name, strerror(-rc));
		scratch_free(&tmp);
		if (lease)
			v->region->be->ops->lease_release(lease);
		return;
	}
	lock_model();
	vault_swap(v, &tmp, lease != NULL || refresh_chains);
	if (lease) {
		v->lease = lease;
		v->lease_ok = time(NULL);
		v->readonly = 0;
		v->error[0] = '\0';
		sched_vault(v); /* its items cycle here from now on */
	}
	unlock_model();
	scratch_free(&tmp);
	if (lease) {
		logmsg("vault %s: taken over; this asrfs manages it now", v->name);
		job_resume_vault(v);
	} else {
		vault_open_chains(v);
	}
}

/* Self-fencing.  A vault lease this daemon cannot renew for FENCE_PART of
 * its term (the region does not answer) is given up before it can expire and
 * another daemon take it: from then on the vault is read-only here, so its
 * jobs and cycles stop at their next checkpoint (left for the next manager to
 * resume or roll back) and no record of it is written.  The takeover path
 * wins it back when the region answers and nobody else took it. */
#define FENCE_PART(secs) ((secs) * 3 / 4)

static void lease_release_work(void *arg)
{
	struct { struct backend *be; void *lease; } *r = arg;
	r->be->ops->lease_release(r->lease);
	free(r);
}

/* Stop managing v (sched thread, model_lock NOT held).  The lease is
 * released by a worker: on a region that does not answer that can take the
 * request timeout, which must not stall the scheduler. */
static void vault_fence(struct vault_rec *v)
{
	struct { struct backend *be; void *lease; } *r = malloc(sizeof(*r));
	void *lease;

	lock_model();
	lease = v->lease;
	v->lease = NULL;
	v->readonly = 1;
	unlock_model();
	if (!lease)
		return;
	if (r) {
		r->be = v->region->be;
		r->lease = lease;
		if (pool_submit(WORK_JOB, lease_release_work, r, lease_release_work) == 0)
			return;
		free(r);
	}
	v->region->be->ops->lease_release(lease);
}

static int lease_term(void) { return M.lease_seconds ? M.lease_seconds : 60; }

/* Renew a managed vault's lease (its region answers probes); refused ->
 * another daemon has it now; failing too long -> fence. */
static void vault_renew(struct vault_rec *v)
{
	int rc = v->region->be->ops->lease_renew(v->lease);
	time_t now = time(NULL);

	if (rc == 0) {
		lock_model();
		v->lease_ok = now;
		unlock_model();
		return;
	}
	if (rc == -EBUSY || rc == -ENOENT) {
		vault_fence(v);
		log_warn("vault %s: its lease was taken by another asrfs; serving it read-only", v->name);
	} else {
		log_warn("vault %s: lease renewal failed: %s (retrying)", v->name, strerror(-rc));
	}
}

/* Fence every managed vault whose expiring lease was last renewed too long
 * ago: its region does not answer, or this process was stopped (SIGSTOP, a
 * frozen VM) and its workers may resume writing any moment.  No I/O, so it
 * runs every turn of the scheduler, before cycles are handed out.  Returns
 * whether one was fenced. */
static int fence_stale(time_t now)
{
	int fenced = 0;

	for (struct vault_rec *v = M.vaults; v; v = v->next) {
		if (!v->lease || !(v->region->be->ops->flags & BACKEND_LEASE_EXPIRES) ||
		    now - v->lease_ok < FENCE_PART(lease_term()))
			continue;
		vault_fence(v);
		log_warn("vault %s: lease not renewed for %ld s: given up before it can expire; serving the vault "
		       "read-only until it can be taken again", v->name, (long)(now - v->lease_ok));
		fenced = 1;
	}
	return fenced;
}

static void *sched_main(void *arg)
{
	time_t last_probe = 0, last_renew = time(NULL), last_takeover = time(NULL);
	int renew_every = 15, reloads = 0, lost = 0;
	(void)arg;
	if (M.lease_seconds && M.lease_seconds / 4 < renew_every)
		renew_every = M.lease_seconds / 4 > 3 ? M.lease_seconds / 4 : 3;
	while (!sched_stop) {
		time_t now = time(NULL);
		/* First, with no I/O: after a stall (this process stopped, a
		 * request hung) the lease may be another's by now.  Renewing might
		 * still work, but the workers have been writing since the stall
		 * ended; fence and take the vault again through the takeover path
		 * (which rolls back what a stopped cycle left and resumes jobs). */
		lost |= fence_stale(now);
		if (now - last_probe >= 2) {
			probe_regions();
			last_probe = now;
		}
		if (now - last_renew >= renew_every) {
			for (struct vault_rec *v = M.vaults; v; v = v->next)
				if (v->lease && v->region->available) {
					vault_renew(v);
					lost |= !v->lease;
				}
			last_renew = now;
		}
		if (now - last_takeover >= TAKEOVER_EVERY) {
			int refresh = lost || ++reloads % CHAIN_REFRESH_EVERY == 0;
			for (struct vault_rec *v = M.vaults; v; v = v->next)
				if (v->readonly)
					vault_takeover_or_reload(v, refresh);
			chains_sweep(); /* the read-only chains a refresh retired */
			lost = 0;
			last_takeover = time(NULL);
		}
		replication_tick(now);
		lock_model();
		jobs_unpark();
		jobs_flush(NULL);
		unlock_model();
		usleep(250 * 1000);
	}
	return NULL;
}

/* ---- start-up: each item's first cycle --------------------------------- */
/* model_lock held: a freshly loaded item's next cycle, once its newest point
 * is known: a period after that point, as if the daemon had not stopped;
 * now when that is past or it has none (or its points could not be read:
 * the cycle then says why). */
static void first_cycle_from_points(struct vault_rec *v, struct item_rec *it, int chain_ok, time_t now)
{
	time_t period = item_period(v, it), due = now;
	if (chain_ok && it->last_point_time)
		due = it->last_point_time + period;
	if (due < now)
		due = now;
	if (due > now + period) /* a point from the future: a clock moved back */
		due = now + period;
	it->next_cycle = due;
	sched_item(v, it);
}

/* On the worker pool, once after start: read each Protected item's point
 * chain (which rolls back a cycle a crash cut short) to learn its newest
 * point, and schedule its first cycle from it.  Until then every item waits
 * a whole period, so a mount neither runs every item's cycle at once nor
 * holds model_lock across a thousand catalogs: an item is claimed as a
 * cycle claims it (cycle_running, which a job waits for) while its chain
 * opens without the lock. */
static void schedules_from_points(void *arg)
{
	int n = 0;
	(void)arg;
	for (struct vault_rec *v = M.vaults; v && !jobs_stopping_now(); v = v->next) {
		struct strlist names = {0};
		lock_model();
		for (struct item_rec *it = v->items; it && !v->readonly; it = it->next)
			if (it->state == IS_PROTECTED && !it->damaged[0] && sl_add(&names, it->name) < 0)
				break;
		unlock_model();
		for (int i = 0; i < names.n && !jobs_stopping_now(); i++) {
			struct item_rec *it;
			int rc;
			lock_model();
			it = item_find(v, names.v[i]);
			if (!it || it->job || it->cycle_running || v->readonly) {
				unlock_model(); /* a job or a cycle reads it itself */
				continue;
			}
			it->cycle_running = 1;
			unlock_model();
			rc = item_open_chain(v, it);
			lock_model();
			it->cycle_running = 0;
			first_cycle_from_points(v, it, rc == 0, time(NULL));
			unlock_model();
			n++;
		}
		sl_free(&names);
	}
	log_debug("scheduled the first cycle of %d item(s) from their newest points", n);
}

/* Every job type a record may name: the table's, and recovery plans'. */
static const struct job_type *any_job_type(const char *slug)
{
	const struct job_type *t = op_job_type(slug);
	return t ? t : plan_job_type(slug);
}

int daemon_register(void)
{
	job_types_register(any_job_type);
	vault_loader_register(plans_load);
	lifecycle_set_allowed(item_allowed, op_of_job);
	return 0;
}

int core_start(const struct core_opts *o, char *err, size_t errlen)
{
	int rc;

	/* before any record is read or control written */
	if (daemon_register() < 0)
		return -ENOSPC;
	memset(&M, 0, sizeof(M));
	M.started = time(NULL);
	M.state_dir = strdup(o->state_dir);
	M.workers = 4;
	M.hook_timeout = 60;
	if (!M.state_dir)
		return -ENOMEM;
	if (mkdir(M.state_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "state directory %s: %s", M.state_dir, strerror(errno));
		return -errno;
	}
	rc = o->config_path ? load_config(o->config_path, err, errlen) : default_config(err, errlen);
	if (rc < 0)
		return rc;
	if (!M.hooks_dir && asprintf(&M.hooks_dir, "%s/hooks", M.state_dir) < 0)
		return -ENOMEM;
	if (M.workers < 1 || M.workers > 64)
		M.workers = 4;

	for (struct region *r = M.regions; r; r = r->next)
		region_first_init(r);
	probe_regions();

	lock_model();
	for (struct vault_rec *v = M.vaults; v; v = v->next) {
		char key[256];
		if (!v->region->available) {
			log_warn("vault %s: its region %s is unavailable; the vault stays empty and read-only until "
			       "it returns", v->name, v->region->name);
			v->readonly = 1; /* the scheduler takes the lease and loads it then */
			continue;
		}
		snprintf(key, sizeof(key), "vaults/%s/lease", v->name);
		rc = v->region->be->ops->lease_acquire(v->region->be, key, &v->lease);
		v->lease_ok = time(NULL);
		if (rc == -EBUSY) {
			v->readonly = 1;
			logmsg("vault %s is managed by another asrfs; serving it read-only", v->name);
		} else if (rc < 0) {
			log_error("vault %s: cannot take its lease: %s", v->name, strerror(-rc));
			v->readonly = 1;
		}
		rc = vault_load(v);
		if (rc < 0)
			log_error("vault %s: cannot load: %s", v->name, strerror(-rc));
		/* a period from now until schedules_from_points knows better (a
		 * read-only vault's items cycle at once when it is taken over) */
		for (struct item_rec *it = v->items; it && !v->readonly; it = it->next)
			it->next_cycle = time(NULL) + item_period(v, it);
		if (!v->readonly)
			sched_vault(v);
	}
	unlock_model();

	rc = jobs_start(M.workers);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start workers: %s", strerror(-rc));
		return rc;
	}
	job_resume_all();
	if (pool_submit(WORK_CYCLE, schedules_from_points, NULL, NULL) < 0) {
		/* no reading ahead: every item cycles now, as it finds out */
		lock_model();
		for (struct vault_rec *v = M.vaults; v; v = v->next)
			for (struct item_rec *it = v->items; it; it = it->next)
				first_cycle_from_points(v, it, 0, time(NULL));
		unlock_model();
	}
	sched_stop = 0;
	rc = pthread_create(&sched_thread, NULL, sched_main, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot start the scheduler: %s", strerror(rc));
		return -rc;
	}
	sched_started = 1;
	return 0;
}

void core_stop(void)
{
	if (sched_started) {
		sched_stop = 1;
		pthread_join(sched_thread, NULL);
		sched_started = 0;
	}
	jobs_stop();
	lock_model();
	sched_clear();
	jobs_flush(NULL); /* before the leases go */
	for (struct vault_rec *v = M.vaults; v; v = v->next) {
		for (struct item_rec *it = v->items; it; it = it->next)
			item_close_chain(it);
		if (v->lease)
			v->region->be->ops->lease_release(v->lease);
		v->lease = NULL;
	}
	for (struct region *r = M.regions; r; r = r->next)
		region_unload(r);
	unlock_model();
	while (retired_items) {
		struct item_rec *it = retired_items;
		retired_items = it->next;
		cycle_state_free(it->cs);
		free(it);
	}
	chains_shutdown();
	protect_free_maps();
	gates_free();
	while (M.vaults) {
		struct vault_rec *v = M.vaults;
		M.vaults = v->next;
		while (v->policies) { struct policy_rec *p = v->policies; v->policies = p->next; free(p); }
		while (v->maps) { struct mapping_rec *m = v->maps; v->maps = m->next; free(m); }
		while (v->items) { struct item_rec *i = v->items; v->items = i->next; free(i); }
		while (v->jobs) { struct job_rec *j = v->jobs; v->jobs = j->next; free(j); }
		plans_free(v->plans);
		vault_lists_changed(v);
		free(v);
	}
	while (M.regions) {
		struct region *r = M.regions;
		M.regions = r->next;
		r->be->ops->close(r->be);
		free(r);
	}
	free(M.state_dir);
	free(M.hooks_dir);
	memset(&M, 0, sizeof(M));
}
