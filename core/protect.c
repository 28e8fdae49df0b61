/*
 * protect.c - protecting a VM: the Enable replication and Disable
 * replication jobs, and the replication cycles that run between them.
 *
 * Enable creates the target resources (resource group, mapped network,
 * availability set, cache storage account), the replica disks
 * "<disk>-ASRReplica", copies every disk in full through the delta engine
 * (compare mode, so a resumed copy skips what already matches), and records
 * the first recovery point.  Enable and disable are job types made of
 * steps (jobs.c's run_steps), one a task, so a resumed job goes on at its
 * first unfinished task; enable's copy also resumes inside itself from the
 * job's checkpoint (the disks done, the offset reached), and a cancel is
 * undone by the enable step it stops (enable_stopped), since only a step
 * can still make the job fail when the undo cannot finish.
 *
 * A cycle (scheduled by replication_tick, run on the worker pool, never a
 * job) ships what changed on the source since the last point: per disk the
 * engine hashes the source and compares with the replica's block map (map
 * mode: the replica is not read), saving pre-images into the point chain
 * before it overwrites replica pages; then one recovery point is committed
 * for all disks at once and retention is applied.  A map whose generation is
 * not the newest point's cannot be trusted: that cycle compares source and
 * replica instead (and the item shows "resynchronization required" until it
 * has).
 *
 * A replication group's members cycle together (group_work): one instant
 * for all their disks, one point id on each (docs/BEHAVIOUR.md, "Replication
 * groups"); the group's cycle replaces the members' own.
 *
 * Exclusivity: an item runs at most one job or one cycle at a time.  The
 * scheduler starts a cycle only when no job is attached; a job waits for a
 * running cycle to finish before it touches disks (wait_cycle_done).
 * it->maps[] and the chain's cycle are used only by whoever holds that turn.
 */
#define _GNU_SOURCE
#include "chains.h"
#include "inventory.h"
#include "jobs.h"
#include "model.h"
#include "protect.h"
#include "recio.h"
#include "sched.h"
#include "tracking.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct item_io {
	struct backend *src_be, *tgt_be, *vault_be;
	int src_avail, tgt_avail;
	int ndisks;
	char src_key[MAX_DISKS][1024];
	char rep_key[MAX_DISKS][1024];
	char map_key[MAX_DISKS][512];
	char catalog[512], data_prefix[512];
	uint64_t size[MAX_DISKS];
	uint64_t bwlimit;
	struct policy_info pol;
	char src_reason[256], tgt_reason[256];
	char src_region[NAME_MAX_];
};

/* A region an item names may be gone from the config: as good as down. */
static int region_ok(const struct region *r)
{
	return r && r->available;
}

/* Copy what the data path needs (model_lock held). */
static int item_io_fill(struct vault_rec *v, struct item_rec *it, struct item_io *io)
{
	struct region *src = region_find(it->source_region), *tgt = region_find(it->target_region);
	struct policy_rec *p = policy_find(v, it->policy);

	memset(io, 0, sizeof(*io));
	if (!src || !tgt) {
		snprintf(io->src_reason, sizeof(io->src_reason), "region %s is not in the configuration",
			 src ? it->target_region : it->source_region);
		return -EHOSTUNREACH;
	}
	io->src_be = src->be;
	io->tgt_be = tgt->be;
	snprintf(io->src_region, sizeof(io->src_region), "%s", src->name);
	io->vault_be = v->region->be;
	io->src_avail = src->available;
	io->tgt_avail = tgt->available;
	snprintf(io->src_reason, sizeof(io->src_reason), "%s", src->reason);
	snprintf(io->tgt_reason, sizeof(io->tgt_reason), "%s", tgt->reason);
	io->ndisks = it->ndisks;
	for (int i = 0; i < it->ndisks; i++) {
		struct item_disk *d = &it->disks[i];
		disk_key(d->managed, d->src_parent, d->name, io->src_key[i], sizeof(io->src_key[i]));
		disk_key(d->replica_managed, d->replica_parent, d->replica, io->rep_key[i], sizeof(io->rep_key[i]));
		key_map(v, it->name, i, io->map_key[i], sizeof(io->map_key[i]));
		io->size[i] = d->size;
	}
	key_points(v, it->name, io->catalog, sizeof(io->catalog));
	key_item_data(v, it->name, io->data_prefix, sizeof(io->data_prefix));
	io->bwlimit = it->bwlimit;
	if (p)
		io->pol = p->info;
	else {
		io->pol.crash_frequency_seconds = 300;
		io->pol.retention_hours = 24;
	}
	return 0;
}

void item_points_refresh(struct vault_rec *v, const char *name, struct rpchain *chain)
{
	struct rp_point *pts = NULL;
	int n = 0;
	struct item_rec *it;

	if (rpchain_list(chain, &pts, &n) < 0)
		return;
	lock_model();
	it = item_find(v, name);
	if (it) {
		it->npoints = n;
		it->last_point[0] = it->last_app_point[0] = '\0';
		it->last_point_time = 0;
		if (n) {
			snprintf(it->last_point, sizeof(it->last_point), "%s", pts[n - 1].id);
			it->last_point_time = pts[n - 1].time;
		}
		for (int i = n - 1; i >= 0; i--)
			if (pts[i].app_consistent) {
				snprintf(it->last_app_point, sizeof(it->last_app_point), "%s", pts[i].id);
				break;
			}
	}
	unlock_model();
	free(pts);
}

/* model_lock held: whether it is (still) one of v's items.  A caller that
 * found it under an earlier hold of the lock may hold a pointer to an item
 * freed since (a job that ended removed it): it is compared, never read. */
static int item_listed(const struct vault_rec *v, const struct item_rec *it)
{
	for (const struct item_rec *p = v->items; p; p = p->next)
		if (p == it)
			return 1;
	return 0;
}

int item_open_chain(struct vault_rec *v, struct item_rec *it)
{
	struct item_io io;
	struct rpchain *chain, *attached;
	const char *keys[MAX_DISKS];
	char name[NAME_MAX_], note[ERR_MAX] = "";
	int rc, readonly;

	lock_model();
	if (!item_listed(v, it)) {
		unlock_model();
		return -ENOENT;
	}
	if (it->chain) {
		unlock_model();
		return 0;
	}
	rc = item_io_fill(v, it, &io);
	snprintf(name, sizeof(name), "%s", it->name);
	readonly = v->readonly; /* another daemon's chain: read it, never roll it back */
	unlock_model();
	if (rc < 0)
		return rc;
	for (int i = 0; i < io.ndisks; i++)
		keys[i] = io.rep_key[i];
	{
		struct rpchain_conf conf = {
			.meta = io.vault_be, .catalog_key = io.catalog, .data = io.tgt_be,
			.data_prefix = io.data_prefix, .ndisks = io.ndisks, .replica_keys = keys,
			.readonly = readonly, .note = note, .notelen = sizeof(note),
		};
		rc = rpchain_open(&conf, &chain);
	}
	if (note[0])
		catalog_note(v, name, note);
	if (rc < 0)
		return rc;
	lock_model();
	if (item_find(v, name) == it && !it->chain && v->readonly == readonly) {
		it->chain = chain;
		it->chain_ro = readonly;
		chain = NULL;
	}
	/* the item may have gone, or its vault changed hands meanwhile */
	attached = item_find(v, name) == it ? it->chain : NULL;
	if (attached && chain_pin(attached) < 0)
		attached = NULL;
	unlock_model();
	if (chain)
		rpchain_close(chain);
	if (!attached)
		return -EAGAIN;
	item_points_refresh(v, name, attached);
	chain_unpin(attached);
	return 0;
}

/* Wait until no cycle runs on the item; returns with it claimed for a job. */
int wait_cycle_done(struct jobctx *c)
{
	for (;;) {
		struct item_rec *it;
		int busy;
		lock_model();
		it = item_find(c->v, c->item);
		busy = it && it->cycle_running;
		unlock_model();
		if (!it)
			return -ENOENT;
		if (!busy)
			return 0;
		if (job_cancelled(c))
			return -ECANCELED;
		usleep(50 * 1000);
	}
}

/* ---- hooks ---- */

/* A hook runs in its own process group, so a time-out or a preemption kills
 * everything it started, not only the script.  Its caller polls: a hook that
 * never returns costs at most M.hook_timeout seconds, and none at all once
 * stop() says a job needs the item (a failover never waits behind a freeze).
 * model_lock NOT held. */

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hook_kill(pid_t pid)
{
	int status;
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

struct hook_wait {
	pid_t pid;
	double deadline;
	char what[NAME_MAX_ + 16];
};

/* A thaw handed over by a cycle that had to give the item up: it still
 * gets its time limit, on a thread of its own. */
static void *hook_reaper(void *arg)
{
	struct hook_wait *w = arg;
	int status;
	for (;;) {
		pid_t r = waitpid(w->pid, &status, WNOHANG);
		if (r == w->pid || (r < 0 && errno != EINTR))
			break;
		if (mono_now() >= w->deadline) {
			hook_kill(w->pid);
			logmsg("hook %s still running after %d s: killed", w->what, M.hook_timeout);
			break;
		}
		usleep(20 * 1000);
	}
	free(w);
	return NULL;
}

/* Hand a running hook to a reaper thread; kill it if none can start. */
static void hook_detach(pid_t pid, double deadline, const char *what)
{
	struct hook_wait *w = calloc(1, sizeof(*w));
	pthread_attr_t at;
	pthread_t t;
	int rc = -ENOMEM;

	if (w) {
		w->pid = pid;
		w->deadline = deadline;
		snprintf(w->what, sizeof(w->what), "%s", what);
		rc = pthread_attr_init(&at);
		if (rc == 0) {
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			rc = pthread_create(&t, &at, hook_reaper, w);
			pthread_attr_destroy(&at);
		}
	}
	if (rc != 0) {
		free(w);
		hook_kill(pid);
	}
}

/* Run the program path with argv and envp (NULL: this process's) in its
 * own process group under the hook time limit; label names it in why
 * ("freeze hook"), what in the log.  0 when it exited 0; -EIO: it failed;
 * -ETIMEDOUT: it was still running after the time limit and was killed;
 * -ECANCELED: stop() said the item is needed elsewhere, and it was killed
 * (or, with detach, left to finish on its own under the time limit).  why
 * says so. */
int run_program(const char *path, char *const argv[], char *const envp[], const char *label, const char *what,
		int (*stop)(void *), void *arg, int detach, char *why, size_t whylen)
{
	posix_spawnattr_t attr;
	double deadline;
	pid_t pid;
	int status, rc;

	why[0] = '\0';
	rc = posix_spawnattr_init(&attr);
	if (rc)
		return -rc;
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (rc == 0)
		rc = posix_spawn(&pid, path, NULL, &attr, argv, envp ? envp : environ);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		snprintf(why, whylen, "%s could not start: %s", label, strerror(rc));
		return -rc;
	}
	deadline = mono_now() + M.hook_timeout;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(why, whylen, "%s: %s", label, strerror(-rc));
			hook_kill(pid);
			return rc;
		}
		if (r == pid)
			break;
		if (mono_now() >= deadline) {
			hook_kill(pid);
			snprintf(why, whylen, "%s still running after %d s (hook-timeout-seconds): killed", label,
				 M.hook_timeout);
			logmsg("hook %s: %s", what, why);
			return -ETIMEDOUT;
		}
		if (stop && stop(arg)) {
			if (detach) {
				hook_detach(pid, deadline, what);
				snprintf(why, whylen, "%s left to finish on its own: a job needs the item", label);
			} else {
				hook_kill(pid);
				snprintf(why, whylen, "%s killed: a job needs the item", label);
			}
			logmsg("hook %s: %s", what, why);
			return -ECANCELED;
		}
		usleep(20 * 1000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			snprintf(why, whylen, "%s failed (exit status %d)", label, WEXITSTATUS(status));
		else
			snprintf(why, whylen, "%s failed (signal %d)", label, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		logmsg("hook %s: %s", what, why);
		return -EIO;
	}
	return 0;
}

/* Run hook `name` of the hooks directory with the vault and item as
 * arguments, as run_program does; -ENOENT: no such executable hook. */
static int run_hook(const char *name, const char *vault, const char *item, int (*stop)(void *), void *arg,
		    int detach, char *why, size_t whylen)
{
	char path[4096], what[NAME_MAX_ + 16], label[NAME_MAX_];
	char *argv[4];
	struct stat st;

	why[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", M.hooks_dir, name);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR))
		return -ENOENT;
	snprintf(what, sizeof(what), "%s for %s", name, item);
	snprintf(label, sizeof(label), "%s hook", name);
	argv[0] = path;
	argv[1] = (char *)vault;
	argv[2] = (char *)item;
	argv[3] = NULL;
	return run_program(path, argv, NULL, label, what, stop, arg, detach, why, whylen);
}

/* ---- one disk through the engine ---- */

int sync_disk(struct backend *sbe, const char *skey, struct backend *dbe, const char *dkey,
		     struct delta_opts *opts, struct delta_stats *st)
{
	struct bdisk *s = NULL, *d = NULL;
	int rc;
	memset(st, 0, sizeof(*st)); /* the caller adds them up, failed or not */
	rc = sbe->ops->disk_open(sbe, skey, BDISK_RDONLY, &s);
	if (rc < 0)
		goto out;
	rc = dbe->ops->disk_open(dbe, dkey, BDISK_RDWR, &d);
	if (rc < 0)
		goto out;
	rc = delta_sync(s, d, opts, st);
	if (rc == 0)
		rc = bd_sync(d);
out:
	bd_close(s);
	bd_close(d);
	return rc;
}

/* ---- the replication cycle ---- */

struct cycle_arg {
	struct vault_rec *v;
	char item[NAME_MAX_];
};

static void cycle_finish(struct cycle_arg *a, int rc, const char *why, uint64_t shipped, int point_made)
{
	struct item_rec *it;
	lock_model();
	it = item_find(a->v, a->item);
	if (it) {
		time_t now = time(NULL), prev = it->next_cycle - it->last_cycle; /* the last wait */
		it->cycle_running = 0;
		if (rc == -EAGAIN) {
			/* gave way to a job before it began: not a cycle, nor a
			 * failure (the pop skips it until the job's end) */
			sched_item(a->v, it);
			unlock_model();
			return;
		}
		it->last_cycle = now;
		it->next_cycle = now + item_period(a->v, it);
		it->cycles++;
		it->bytes_replicated += shipped;
		if (rc < 0) {
			/* retry sooner than a whole period, backing off 2, 4 .. 60 s
			 * while it keeps failing (a region outage) */
			time_t delay = 2;
			if (it->failing && prev >= 2)
				delay = prev * 2 > 60 ? 60 : prev * 2;
			it->cycle_failures++;
			if (!it->failing)
				logmsg("item %s: replication failing: %s", it->name, why);
			it->failing = 1;
			snprintf(it->fail_reason, sizeof(it->fail_reason), "%s", why);
			it->next_cycle = now + delay;
			/* the item's error file says why its points stopped; no
			 * operation's refusal is overwritten */
			if (!it->error[0] || strncmp(it->error, "replication ", 12) == 0)
				snprintf(it->error, sizeof(it->error), "replication waiting (retry in %ld s): %.200s",
					 (long)delay, why);
		} else {
			if (it->failing)
				logmsg("item %s: replication healthy again", it->name);
			it->failing = 0;
			it->fail_reason[0] = '\0';
			if (strncmp(it->error, "replication ", 12) == 0)
				it->error[0] = '\0';
			/* a compare cycle's point settles what untrusted maps
			 * required; a verify's finding waits for a resync */
			if (point_made && it->resync_required == RESYNC_MAPS) {
				it->resync_required = 0;
				persist_item(a->v, it);
			}
		}
		sched_item(a->v, it);
	}
	unlock_model();
}

/* The item's cycle state (block map entries kept between cycles), made on
 * first use.  Only the item's turn holder (its cycle, or its job) uses it. */
static struct cycle_state *item_cycle_state(struct vault_rec *v, const char *item, int ndisks)
{
	struct item_rec *it;
	struct cycle_state *cs = NULL;
	lock_model();
	it = item_find(v, item);
	if (it && !it->cs && cycle_state_new(ndisks, &it->cs) < 0)
		it->cs = NULL;
	if (it)
		cs = it->cs;
	unlock_model();
	return cs;
}

/* Forget what the item's cycles kept (its disks or direction change). */
void maps_forget(struct vault_rec *v, const char *item)
{
	struct item_rec *it;
	struct cycle_state *cs = NULL;
	lock_model();
	it = item_find(v, item);
	if (it) {
		cs = it->cs;
		it->cs = NULL;
	}
	unlock_model();
	cycle_state_free(cs);
}

void protect_free_maps(void)
{
	for (struct vault_rec *v = M.vaults; v; v = v->next)
		for (struct item_rec *it = v->items; it; it = it->next) {
			cycle_state_free(it->cs);
			it->cs = NULL;
		}
}

/* True once the vault turned read-only: its lease was lost or given up. */
static int vault_fenced(struct vault_rec *v)
{
	int r;
	lock_model();
	r = v->readonly;
	unlock_model();
	return r;
}

/* A scheduled cycle's progress: stop at the next checkpoint once fenced. */
static int cycle_progress(void *arg, const struct delta_stats *st)
{
	(void)st;
	return vault_fenced(arg);
}

/* A scheduled cycle gives the item up to a job waiting for it (or to a
 * fence, or an unmount) while it waits for a hook. */
static int cycle_preempted(void *arg)
{
	struct cycle_arg *a = arg;
	struct item_rec *it;
	int r;
	lock_model();
	it = item_find(a->v, a->item);
	r = !it || it->job || a->v->readonly || jobs_stopping_now();
	unlock_model();
	return r;
}

/* The gates of the item's source disks, trackers attached: for a cycle. */
static int item_gates(const struct item_io *io, struct gate **g, struct cycle_disk *cd)
{
	for (int i = 0; i < io->ndisks; i++) {
		int rc = gate_tracked(io->src_region, io->src_key[i], io->size[i], &g[i]);
		if (rc < 0)
			return rc;
		cd[i].src_be = io->src_be;
		cd[i].dst_be = io->tgt_be;
		cd[i].src_key = io->src_key[i];
		cd[i].dst_key = io->rep_key[i];
		cd[i].map_key = io->map_key[i];
		cd[i].t = gate_track(g[i]);
		cd[i].instant = gate_instant(g[i]);
	}
	return 0;
}

struct thaw_arg {
	struct cycle_arg *a;
	int due;
	char why[200];
};

/* Right after the instant: the application may go on. */
static void cycle_thaw(void *arg)
{
	struct thaw_arg *ta = arg;
	char tw[200];
	if (!ta->due)
		return;
	ta->due = 0;
	/* If a job wants the item meanwhile, the thaw finishes on its own. */
	if (run_hook("thaw", ta->a->v->name, ta->a->item, cycle_preempted, ta->a, 1, tw, sizeof(tw)) < 0 && tw[0])
		snprintf(ta->why, sizeof(ta->why), "%s", tw);
}

static int cycle_fenced(void *arg)
{
	struct thaw_arg *ta = arg;
	return vault_fenced(ta->a->v);
}

/* What one item's cycle needs, filled by cycle_prepare: its data path, its
 * gates and the conf for sync/cycle.c. */
struct cycle_prep {
	struct item_io io;
	struct gate *gate[MAX_DISKS];
	struct cycle_disk cd[MAX_DISKS];
	struct cycle_conf conf;
	struct thaw_arg ta;
	char hook_why[200];
	int app;     /* an app-consistent point is due (then: was made frozen) */
	time_t now;
};

/* Everything up to the hooks: the item's regions up, its chain open, its
 * gates and cycle state; p->conf ready but for app.  force_compare makes
 * the cycle compare source and replica whole whatever the tracking says
 * (resync); jp, when given, reports to a job. */
static int cycle_prepare(struct cycle_arg *a, int force_compare, struct jobprog *jp, struct cycle_prep *p,
			 char *why, size_t whylen)
{
	struct item_rec *it;
	int rc;

	memset(p, 0, sizeof(*p));
	p->ta.a = a;
	p->now = time(NULL);
	lock_model();
	it = item_find(a->v, a->item);
	rc = it ? item_io_fill(a->v, it, &p->io) : -ENOENT;
	if (rc == 0) {
		p->app = p->io.pol.app_frequency_minutes > 0 &&
			 p->now - it->last_app_point_time >= (time_t)p->io.pol.app_frequency_minutes * 60;
	}
	unlock_model();
	if (rc < 0) {
		snprintf(why, whylen, "%s", p->io.src_reason[0] ? p->io.src_reason : strerror(-rc));
		return rc;
	}
	if (!p->io.src_avail || !p->io.tgt_avail) {
		snprintf(why, whylen, "region %s is unavailable: %s", !p->io.src_avail ? "source" : "target",
			 !p->io.src_avail ? p->io.src_reason : p->io.tgt_reason);
		return -EHOSTUNREACH;
	}
	rc = item_open_chain(a->v, it);
	if (rc < 0) {
		snprintf(why, whylen, "cannot open the recovery points: %s", strerror(-rc));
		return rc;
	}
	rc = item_gates(&p->io, p->gate, p->cd);
	if (rc < 0) {
		snprintf(why, whylen, "cannot open the write tracking: %s", strerror(-rc));
		return rc;
	}
	p->conf.state = item_cycle_state(a->v, a->item, p->io.ndisks);
	if (!p->conf.state)
		return -ENOMEM;
	lock_model();
	it = item_find(a->v, a->item);
	p->conf.chain = it ? it->chain : NULL;
	unlock_model();
	if (!p->conf.chain)
		return -ENOENT;
	p->conf.ndisks = p->io.ndisks;
	p->conf.d = p->cd;
	p->conf.whole = force_compare;
	p->conf.flush_maps = jp != NULL; /* a job's cycle leaves the maps current for what follows */
	p->conf.retention_hours = (unsigned)p->io.pol.retention_hours;
	p->conf.bwlimit = p->io.bwlimit;
	if (jp) {
		p->conf.progress = job_delta_progress;
		p->conf.progress_arg = jp;
		p->conf.compared_base = &jp->base_compared;
		p->conf.sent_base = &jp->base_transferred;
	} else {
		p->conf.progress = cycle_progress;
		p->conf.progress_arg = a->v;
	}
	p->conf.captured = cycle_thaw;
	p->conf.fenced = cycle_fenced;
	p->conf.arg = &p->ta;
	return 0;
}

/* The freeze hook, for a scheduled cycle whose app-consistent point is due:
 * the application is frozen for the instant only (p->conf.captured thaws
 * it).  p->app says whether it froze; -EAGAIN: a job wants the item, the
 * freeze was cut short and thawed. */
static int cycle_freeze(struct cycle_arg *a, struct cycle_prep *p, char *why, size_t whylen)
{
	int hr = run_hook("freeze", a->v->name, a->item, cycle_preempted, a, 0, p->hook_why, sizeof(p->hook_why));
	p->ta.due = hr != -ENOENT; /* a freeze that ran, even cut short, is thawed */
	if (hr == -ECANCELED) {
		snprintf(why, whylen, "%s", p->hook_why);
		cycle_thaw(&p->ta);
		return -EAGAIN;
	}
	p->app = hr == 0; /* no hook, or it failed: this point is crash-consistent */
	return 0;
}

/* After repl_cycle (rc, res): the item's counters, notes and points. */
static int cycle_publish(struct cycle_arg *a, struct cycle_prep *p, int rc, const struct cycle_result *res,
			 uint64_t *shipped_out, char *why, size_t whylen)
{
	struct item_rec *it;

	*shipped_out = res->sent;
	if (rc < 0)
		snprintf(why, whylen, "%s", res->why[0] ? res->why : strerror(-rc));
	if (rc < 0 && res->left_open && !vault_fenced(a->v)) {
		/* The replicas' region went away mid-cycle: the chain keeps the
		 * cycle open and would refuse every next one (EBUSY).  Retire it;
		 * the next cycle opens the catalog afresh, and that open rolls
		 * the cut-short cycle back, as after a crash. */
		lock_model();
		it = item_find(a->v, a->item);
		if (it && it->chain == p->conf.chain)
			item_close_chain(it);
		unlock_model();
		logmsg("item %s: could not roll the cut-short cycle back now: the next cycle will", a->item);
	}
	lock_model();
	it = item_find(a->v, a->item);
	if (it) {
		for (int i = 0; i < p->io.ndisks && i < it->ndisks; i++) {
			it->disk_read[i] += res->disk_read[i];
			it->disk_sent[i] += res->disk_sent[i];
		}
		if (rc == 0) {
			if (res->whole_why[0]) { /* kept until the next one: an operator looks later */
				snprintf(it->whole_why, sizeof(it->whole_why), "for point %.32s: %.150s", res->pt.id,
					 res->whole_why);
				logmsg("item %s: compared whole %s", a->item, it->whole_why);
			}
			if (p->app)
				it->last_app_point_time = p->now;
			if (p->ta.why[0])
				snprintf(it->hook_note, sizeof(it->hook_note), "%s", p->ta.why);
			else if (p->hook_why[0] && !p->app)
				snprintf(it->hook_note, sizeof(it->hook_note),
					 "%.140s: point %.32s is crash-consistent", p->hook_why, res->pt.id);
			else if (p->app)
				it->hook_note[0] = '\0';
		}
	}
	unlock_model();
	if (rc == 0)
		item_points_refresh(a->v, a->item, p->conf.chain);
	return rc;
}

/* One cycle's work; -EAGAIN: it gave the item up to a job before it began
 * (waiting for a freeze hook); force_compare and jp as for cycle_prepare. */
static int cycle_body(struct cycle_arg *a, int force_compare, struct jobprog *jp, uint64_t *shipped_out,
		      char *why, size_t whylen)
{
	struct cycle_prep p;
	struct cycle_result res;
	int rc;

	*shipped_out = 0;
	rc = cycle_prepare(a, force_compare, jp, &p, why, whylen);
	if (rc < 0)
		return rc;
	/* Only a scheduled cycle runs hooks: a job's cycle (failover's latest
	 * data, resync) never waits for an application. */
	if (p.app && !jp) {
		rc = cycle_freeze(a, &p, why, whylen);
		if (rc < 0)
			return rc;
	} else {
		p.app = 0;
	}
	p.conf.app = p.app;
	rc = repl_cycle(&p.conf, &res);
	cycle_thaw(&p.ta); /* when the cycle failed before its instant */
	return cycle_publish(a, &p, rc, &res, shipped_out, why, whylen);
}

static void cycle_work(void *arg)
{
	struct cycle_arg *a = arg;
	uint64_t shipped = 0;
	char why[300] = "";
	int rc = cycle_body(a, 0, NULL, &shipped, why, sizeof(why));
	cycle_finish(a, rc, why, shipped, rc == 0);
	free(a);
}

int replication_cycle_now(struct vault_rec *v, const char *item, int force_compare, struct jobprog *jp,
			  char *why, size_t whylen)
{
	struct cycle_arg a = {.v = v};
	struct item_rec *it;
	uint64_t shipped = 0;
	int rc;

	snprintf(a.item, sizeof(a.item), "%s", item);
	lock_model();
	it = item_find(v, item);
	if (it)
		it->cycle_running = 1;
	unlock_model();
	if (!it)
		return -ENOENT;
	why[0] = '\0';
	rc = cycle_body(&a, force_compare, jp, &shipped, why, whylen);
	if (rc < 0 && !why[0])
		snprintf(why, whylen, "%s", strerror(-rc));
	/* a cancelled job's cycle rolled back: not a replication failure */
	cycle_finish(&a, rc == -ECANCELED ? 0 : rc, why, shipped, rc == 0);
	return rc;
}

int replicas_recreate_lost(struct vault_rec *v, const char *item, int *lost, char *why, size_t whylen)
{
	struct item_io io;
	struct item_rec *it;
	int rc;

	*lost = 0;
	lock_model();
	it = item_find(v, item);
	rc = it ? item_io_fill(v, it, &io) : -ENOENT;
	unlock_model();
	if (rc < 0)
		return rc;
	for (int i = 0; i < io.ndisks; i++) {
		rc = io.tgt_be->ops->disk_exists(io.tgt_be, io.rep_key[i]);
		if (rc == 0)
			rc = io.tgt_be->ops->disk_create(io.tgt_be, io.rep_key[i], io.size[i]);
		else if (rc == 1)
			continue;
		if (rc < 0) {
			snprintf(why, whylen, "cannot create the lost replica of disk %d again: %s", i, strerror(-rc));
			return rc;
		}
		logmsg("item %s: the replica %s was gone; created it again, empty, for the resync to fill", item,
		       io.rep_key[i]);
		(*lost)++;
	}
	return 0;
}

int item_chain(struct vault_rec *v, const char *item, struct rpchain **out)
{
	struct item_rec *it;
	int rc;
	lock_model();
	it = item_find(v, item);
	unlock_model();
	if (!it)
		return -ENOENT;
	rc = item_open_chain(v, it);
	if (rc < 0)
		return rc;
	lock_model();
	*out = it->chain;
	unlock_model();
	return *out ? 0 : -ENOENT;
}

int points_drop_older(struct vault_rec *v, const char *item)
{
	struct rpchain *chain;
	struct rp_point *pts = NULL;
	int n = 0, rc = item_chain(v, item, &chain);

	if (rc < 0)
		return rc;
	rc = rpchain_list(chain, &pts, &n);
	for (int i = 0; rc == 0 && i < n - 1; i++)
		rc = rpchain_delete(chain, pts[i].id);
	if (rc == 0 && n > 1)
		logmsg("item %s: %d older recovery point(s) read through a lost replica: deleted", item, n - 1);
	free(pts);
	item_points_refresh(v, item, chain);
	return rc;
}

/* ---- a replication group's cycle ---- */

/* The members of a group that take part in one of its cycles. */
struct group_arg {
	int n;
	int all;                     /* every member of the group is in it */
	struct cycle_arg m[];        /* sorted by name: the instant's lock order */
};

static int by_item_name(const void *x, const void *y)
{
	return strcmp(((const struct cycle_arg *)x)->item, ((const struct cycle_arg *)y)->item);
}

/* One cycle of a whole replication group (SPEC 9): ONE instant for every
 * disk of every member, each member's point committed with the same id
 * only once all have shipped (sync/cycle.h, repl_cycle_group).  An
 * app-consistent point runs every member's freeze before the instant and
 * thaws them all after it; it is app-consistent only if every freeze
 * worked.  A member that cannot start (its region down, its chain) is
 * left out like one that is not Protected; the points are marked multi-vm
 * only when every member of the group is in them. */
static void group_work(void *arg)
{
	struct group_arg *g = arg;
	struct cycle_prep *p = calloc((size_t)g->n, sizeof(*p));
	struct cycle_result *res = calloc((size_t)g->n, sizeof(*res));
	const struct cycle_conf **confs = calloc((size_t)g->n, sizeof(*confs));
	int *in = calloc((size_t)g->n, sizeof(*in));
	char (*why)[300] = calloc((size_t)g->n, sizeof(*why));
	int rc = -ENOMEM, nin = 0, app = 1;

	if (!p || !res || !confs || !in || !why) {
		for (int k = 0; k < g->n; k++)
			cycle_finish(&g->m[k], rc, "out of memory", 0, 0);
		goto out;
	}
	for (int k = 0; k < g->n; k++) {
		rc = cycle_prepare(&g->m[k], 0, NULL, &p[k], why[k], sizeof(why[k]));
		in[k] = rc == 0;
		if (rc < 0)
			cycle_finish(&g->m[k], rc, why[k], 0, 0);
		else
			app &= p[k].app;
	}
	/* every member's freeze before the instant, every thaw after it */
	for (int k = 0; k < g->n && app; k++)
		if (in[k] && (cycle_freeze(&g->m[k], &p[k], why[k], sizeof(why[k])) < 0 || !p[k].app))
			app = 0; /* a freeze that failed or was cut short: crash-consistent */
	for (int k = 0; k < g->n; k++) {
		if (!in[k])
			continue;
		p[k].app = app && p[k].app;
		p[k].conf.app = p[k].app;
		confs[nin++] = &p[k].conf;
	}
	rc = nin ? repl_cycle_group(nin, confs, res, g->all && nin == g->n) : 0;
	for (int k = 0, i = 0; k < g->n; k++) {
		uint64_t shipped = 0;
		int mrc;
		if (!in[k])
			continue;
		cycle_thaw(&p[k].ta); /* when the cycle failed before its instant */
		/* a member committed before another's commit failed keeps its point */
		mrc = rc < 0 && res[i].pt.id[0] ? 0 : rc;
		log_debug("item %s: group cycle of %d of its group's items%s: point %s, rc %d", g->m[k].item, nin,
			  g->all && nin == g->n ? " (all)" : "", res[i].pt.id[0] ? res[i].pt.id : "none", rc);
		mrc = cycle_publish(&g->m[k], &p[k], mrc, &res[i], &shipped, why[k], sizeof(why[k]));
		cycle_finish(&g->m[k], mrc, why[k], shipped, mrc == 0);
		i++;
	}
out:
	free(p);
	free(res);
	free(confs);
	free(in);
	free(why);
	free(g);
}

/* The due member it of group it->group starts the group's cycle with every
 * member that can cycle now (model_lock held); those are claimed
 * (cycle_running) and their own entries, popped later, are skipped. */
static void group_start(struct vault_rec *v, struct item_rec *it, time_t now)
{
	struct group_arg *g;
	int n = 0, total = 0;

	for (struct item_rec *m = v->items; m; m = m->next)
		if (strcmp(m->group, it->group) == 0)
			total++;
	g = calloc(1, sizeof(*g) + (size_t)total * sizeof(g->m[0]));
	if (!g) {
		sched_put(v, it, now + 1); /* try again next second */
		return;
	}
	for (struct item_rec *m = v->items; m; m = m->next) {
		if (strcmp(m->group, it->group) != 0)
			continue;
		if (m->state != IS_PROTECTED || m->job || m->cycle_running)
			continue;
		g->m[n].v = v;
		snprintf(g->m[n].item, sizeof(g->m[n].item), "%s", m->name);
		m->cycle_running = 1;
		n++;
	}
	g->n = n;
	g->all = n == total;
	qsort(g->m, (size_t)n, sizeof(g->m[0]), by_item_name);
	if (pool_submit(WORK_CYCLE, group_work, g, free) < 0) {
		for (int k = 0; k < n; k++) {
			struct item_rec *m = item_find(v, g->m[k].item);
			if (m) {
				m->cycle_running = 0;
				sched_put(v, m, now + 1);
			}
		}
		free(g);
	}
}

void replication_tick(time_t now)
{
	struct vault_rec *v;
	struct item_rec *it;
	time_t when;

	/* Only the items that are due: the others wait in the heap.  An item
	 * that cannot cycle now leaves it (sched.c says who puts it back). */
	lock_model();
	while (sched_pop_due(now, &v, &it, &when)) {
		struct cycle_arg *a;
		if (v->readonly || it->state != IS_PROTECTED || it->job || it->cycle_running)
			continue;
		if (now < it->next_cycle) { /* its time moved on since it went in */
			sched_item(v, it);
			continue;
		}
		if (it->group[0]) { /* the group's cycle replaces its members' own */
			group_start(v, it, now);
			continue;
		}
		a = calloc(1, sizeof(*a));
		if (a) {
			a->v = v;
			snprintf(a->item, sizeof(a->item), "%s", it->name);
			it->cycle_running = 1;
		}
		if (!a || pool_submit(WORK_CYCLE, cycle_work, a, free) < 0) {
			it->cycle_running = 0;
			free(a);
			sched_put(v, it, now + 1); /* try again next second */
		}
	}
	unlock_model();
}

/* ---- Enable replication ---- */

/* Its tasks, in the order of JT_ENABLE.tasks: one step each. */
enum { EN_PREREQ, EN_TARGET, EN_DISKS, EN_COPY, EN_POINT, EN_START };

/* What enable's steps share: the item (it stays while its job runs), its
 * regions, its I/O names and its source disks' gates. */
struct en_ctx {
	struct item_rec *it;
	struct region *src, *tgt;
	struct item_io io;
	struct gate *gate[MAX_DISKS];
	struct cycle_disk cd[MAX_DISKS];
};

/* Read them into x; the job's error says why they cannot be used.
 * model_lock NOT held. */
static int enable_open(struct jobctx *c, struct en_ctx *x)
{
	struct item_rec *it;
	int rc;

	lock_model();
	it = item_find(c->v, c->item);
	x->src = it ? region_find(it->source_region) : NULL;
	x->tgt = it ? region_find(it->target_region) : NULL;
	rc = !it ? -ENOENT : (!region_ok(x->src) || !region_ok(x->tgt)) ? -EHOSTUNREACH : item_io_fill(c->v, it, &x->io);
	if (rc == -EHOSTUNREACH)
		snprintf(c->j->error, sizeof(c->j->error), "region %s is unavailable",
			 region_ok(x->src) ? it->target_region : it->source_region);
	unlock_model();
	x->it = it;
	return rc;
}

/* The source disks' gates, their trackers attached (a fresh copy, reset:
 * they mark every write from here on, and the copy reads all). */
static int enable_tracking(struct jobctx *c, struct en_ctx *x, int reset)
{
	int rc = item_gates(&x->io, x->gate, x->cd);

	for (int i = 0; rc == 0 && reset && i < x->io.ndisks; i++)
		rc = track_reset(x->cd[i].t);
	if (rc < 0)
		job_fail_msg(c, "cannot start the write tracking: %s", strerror(-rc));
	return rc;
}

/* A cancelled enable leaves nothing half-made: the replicas, the undo data
 * and maps, and any points go, and the job's end removes the item.  When
 * something cannot go (a region went away), the item stays, failed, for a
 * disable to finish.  model_lock NOT held. */
static int enable_undo(struct jobctx *c)
{
	struct item_rec *it;
	struct region *tgt;
	struct rpchain *chain;
	char prefix[512];
	int rc = 0;

	lock_model();
	it = item_find(c->v, c->item);
	chain = it ? it->chain : NULL;
	unlock_model();
	if (!it)
		return 0;
	if (chain) {
		rc = rpchain_destroy(chain);
		if (rc == -ENOENT)
			rc = 0;
	}
	maps_forget(c->v, c->item);
	lock_model();
	it = item_find(c->v, c->item);
	tgt = it ? region_find(it->target_region) : NULL;
	for (int i = 0; it && tgt && i < it->ndisks; i++) {
		struct item_disk *d = &it->disks[i];
		int r = inv_disk_delete(tgt, d->replica_managed, d->replica_parent, d->replica);
		if (r < 0 && r != -ENOENT) {
			logmsg("item %s: cancelled enable cannot delete replica disk %s: %s", c->item, d->replica,
			       strerror(-r));
			rc = rc ? rc : r;
		}
	}
	unlock_model();
	key_item_data(c->v, c->item, prefix, sizeof(prefix));
	if (tgt) {
		int r = mio_remove_tree(tgt->be, prefix);
		if (r < 0 && r != -ENOENT)
			rc = rc ? rc : r;
	}
	lock_model();
	it = item_find(c->v, c->item);
	if (rc == 0 && it)
		protection_release_item(c->v, it);
	if (rc == 0)
		c->j->drop_item = 1;
	else
		snprintf(c->j->error, sizeof(c->j->error),
			 "cancelled, but not everything it made could be removed (%s): disable the item to finish",
			 strerror(-rc));
	unlock_model();
	return rc;
}

/* A step's rc: one stopped by a cancel (not by an unmount, which leaves
 * the work for the resumed job) undoes the enable, -ECANCELED when all it
 * made is gone, -EIO when the item must stay (InitialReplicationFailed,
 * for a disable).  Any other rc stands. */
static int enable_stopped(struct jobctx *c, int rc)
{
	if (rc != -ECANCELED || job_shutting_down(c))
		return rc;
	return enable_undo(c) < 0 ? -EIO : -ECANCELED;
}

static int enable_begin(struct jobctx *c, int first)
{
	struct en_ctx *x = calloc(1, sizeof(*x));
	int rc = 0;

	if (!x)
		return -ENOMEM;
	c->data = x;
	if (first > EN_PREREQ) /* else the prerequisites step reads it */
		rc = enable_open(c, x);
	if (rc == 0 && first > EN_COPY) /* else the copy starts the tracking */
		rc = enable_tracking(c, x, 0);
	return rc;
}

static void enable_end(struct jobctx *c, int rc)
{
	(void)rc; /* a cancel was undone by the step it stopped */
	free(c->data);
	c->data = NULL;
}

static int enable_prereq(struct jobctx *c)
{
	return enable_open(c, c->data);
}

/* Creating what exists already finds it there (-EEXIST): safe to repeat. */
static int enable_target(struct jobctx *c)
{
	struct en_ctx *x = c->data;
	struct item_rec *it = x->it;
	int rc;

	lock_model();
	rc = inv_rg_create(x->tgt, it->target_rg, NULL);
	if (rc == -EEXIST)
		rc = 0;
	if (rc == 0) {
		struct mapping_rec *m = mapping_find(c->v, it->source_region, it->network);
		const char *slash = m ? strchr(m->target, '/') : NULL;
		rc = inv_net_ensure(x->tgt, it->target_rg, slash ? slash + 1 : it->network);
	}
	if (rc == 0 && it->aset[0])
		rc = inv_aset_ensure(x->tgt, it->target_rg, it->aset);
	if (rc == 0 && it->cache_sa[0])
		rc = inv_sa_ensure(x->src, it->cache_sa);
	if (rc == 0 && it->target_sa[0])
		rc = inv_sa_ensure(x->tgt, it->target_sa);
	if (rc < 0)
		snprintf(c->j->error, sizeof(c->j->error), "cannot create target resources: %s", strerror(-rc));
	unlock_model();
	return rc;
}

/* A replica made before a crash is there already (-EEXIST): the copy
 * makes it right. */
static int enable_disks(struct jobctx *c)
{
	struct en_ctx *x = c->data;
	struct item_rec *it = x->it;
	uint64_t total = 0;
	int rc = 0;

	lock_model();
	for (int i = 0; i < it->ndisks && rc == 0; i++) {
		struct item_disk *d = &it->disks[i];
		rc = inv_disk_create(x->tgt, d->replica_managed, d->replica_parent, d->replica, d->size);
		if (rc == -EEXIST)
			rc = 0;
		if (rc < 0)
			snprintf(c->j->error, sizeof(c->j->error), "cannot create replica disk %s: %s", d->replica,
				 strerror(-rc));
		total += d->size;
	}
	it->state = IS_INITIAL_REPLICATION_IN_PROGRESS;
	persist_item(c->v, it);
	c->j->bytes_total = total;
	unlock_model();
	return rc;
}

/* Initial replication: every disk copied in full, resumable inside itself
 * from the job's checkpoint (the disks done, the offset reached in the
 * next).  The disks' trackers mark every write from its start (a fresh
 * start forgets older marks: the copy reads all); the first point's
 * capture ships what changed while the copy ran. */
static int enable_copy(struct jobctx *c)
{
	struct en_ctx *x = c->data;
	struct item_io *io = &x->io;
	struct item_rec *it;
	int rc, ck_disk;
	uint64_t done_cmp = 0, done_xfer = 0, resume_off = 0;

	lock_model_read();
	ck_disk = c->j->ck_disk;
	resume_off = c->j->ck_offset & ~(uint64_t)(DELTA_PAGE - 1);
	unlock_model();
	rc = enable_tracking(c, x, ck_disk == 0 && !resume_off);
	if (rc < 0)
		return rc;
	for (int i = 0; i < ck_disk && i < io->ndisks; i++) {
		done_cmp += io->size[i];
	}
	done_xfer = job_sent(c); /* resumed: what was sent before the checkpoint */
	for (int i = ck_disk; i < io->ndisks; i++) {
		struct delta_opts opts = {0};
		struct delta_stats st;
		struct jobprog jp = {.c = c, .base_compared = done_cmp, .base_transferred = done_xfer};
		struct blockmap *m = NULL;
		rc = blockmap_new(io->size[i], &m);
		if (rc < 0)
			return rc;
		/* Resume inside the disk where the last checkpoint says everything
		 * before is final.  The map then misses that prefix, so it is not
		 * kept: a whole compare rebuilds it when one is needed. */
		if (i == ck_disk && resume_off) {
			opts.start_offset = resume_off;
			logmsg("item %s: initial copy of disk %d resumes at %llu bytes", c->item, i,
			       (unsigned long long)resume_off);
		}
		opts.map = m;
		opts.progress = job_delta_progress;
		opts.progress_arg = &jp;
		opts.bwlimit = io->bwlimit;
		rc = sync_disk(io->src_be, io->src_key[i], io->tgt_be, io->rep_key[i], &opts, &st);
		if (rc == 0 && !(i == ck_disk && resume_off)) {
			/* generation 0: the copy's; the first point's cycle folds
			 * in the pages it ships and names it after that point */
			m->generation = 0;
			if (blockmap_save(io->tgt_be, io->map_key[i], m) < 0)
				logmsg("item %s: cannot save the block map of disk %d", c->item, i);
		}
		blockmap_free(m);
		if (rc < 0) {
			if (rc != -ECANCELED)
				job_fail_msg(c, "copying disk %d: %s", i, strerror(-rc));
			return enable_stopped(c, rc);
		}
		done_cmp += io->size[i];
		done_xfer += st.bytes_transferred;
		lock_model();
		it = item_find(c->v, c->item);
		if (it) {
			it->disks[i].synced_bytes = io->size[i];
			snprintf(it->disks[i].state, sizeof(it->disks[i].state), "Protected");
			persist_item(c->v, it);
		}
		c->j->ck_disk = i + 1;
		c->j->ck_offset = 0;
		c->j->bytes_transferred = done_xfer; /* saved with the checkpoint */
		persist_job(c->v, c->j);
		unlock_model();
	}
	return 0;
}

/* Creating the first recovery point: one instant of every disk.  Run again
 * after a crash, it finds the point made (the chain's newest). */
static int enable_point(struct jobctx *c)
{
	struct en_ctx *x = c->data;
	struct item_rec *it = x->it;
	int rc = item_open_chain(c->v, it);

	if (rc == 0) {
		struct rp_point newest;
		if (rpchain_newest(it->chain, &newest) < 0) { /* else resumed after the point was made */
			struct cycle_conf conf = {0};
			struct cycle_result res;
			conf.ndisks = x->io.ndisks;
			conf.d = x->cd;
			conf.chain = it->chain;
			conf.state = item_cycle_state(c->v, c->item, x->io.ndisks);
			conf.initial = 1;
			conf.flush_maps = 1;
			conf.retention_hours = (unsigned)x->io.pol.retention_hours;
			conf.bwlimit = x->io.bwlimit;
			rc = conf.state ? repl_cycle(&conf, &res) : -ENOMEM;
			if (rc < 0 && conf.state)
				logmsg("item %s: first point: %s", c->item, res.why);
		}
	}
	if (rc < 0) {
		job_fail_msg(c, "cannot create the first recovery point: %s", strerror(-rc));
		return enable_stopped(c, rc);
	}
	item_points_refresh(c->v, c->item, it->chain);
	return 0;
}

/* Starting delta replication: the first cycle a period from now.  A cancel
 * that came after the copy undoes the enable all the same. */
static int enable_start(struct jobctx *c)
{
	struct item_rec *it;

	if (job_cancelled(c) && !job_shutting_down(c))
		return enable_stopped(c, -ECANCELED);
	lock_model();
	it = item_find(c->v, c->item);
	if (it) {
		struct policy_rec *p = policy_find(c->v, it->policy);
		it->next_cycle = time(NULL) + (time_t)(p ? p->info.crash_frequency_seconds : 300);
	}
	unlock_model();
	return 0;
}

static const struct job_step enable_steps[] = {
	{EN_PREREQ, enable_prereq}, {EN_TARGET, enable_target}, {EN_DISKS, enable_disks},
	{EN_COPY, enable_copy},     {EN_POINT, enable_point},   {EN_START, enable_start},
	{0, NULL},
};

const struct job_type JT_ENABLE = {
	.name = "Enable replication",
	.slug = "enable-replication",
	.tasks = {"Prerequisites check", "Creating target resources", "Creating replica disks",
		  "Initial replication", "Creating the first recovery point", "Starting delta replication"},
	.running_state = IS_ENABLING_PROTECTION,
	.done_state = IS_PROTECTED,
	.failed_state = IS_INITIAL_REPLICATION_FAILED,
	.steps = enable_steps,
	.begin = enable_begin,
	.end = enable_end,
	.creates_item = 1,
};

/* ---- Disable replication ---- */

enum { DI_PREREQ, DI_POINTS, DI_DISKS, DI_CLEANUP };

/* What disable's steps share: the item (it stays while its job runs), its
 * replicas' region and its I/O names. */
struct di_ctx {
	struct item_rec *it;
	struct region *tgt;
	struct item_io io;
};

/* Read them into x; the job's error says why they cannot be used.
 * model_lock NOT held. */
static int disable_open(struct jobctx *c, struct di_ctx *x)
{
	struct item_rec *it;
	int rc;

	lock_model();
	it = item_find(c->v, c->item);
	x->tgt = it ? region_find(it->target_region) : NULL;
	rc = !it ? -ENOENT : !region_ok(x->tgt) ? -EHOSTUNREACH : item_io_fill(c->v, it, &x->io);
	if (rc == -EHOSTUNREACH)
		snprintf(c->j->error, sizeof(c->j->error), "region %s, which holds the replicas, is unavailable",
			 it->target_region);
	unlock_model();
	x->it = it;
	return rc;
}

static int disable_begin(struct jobctx *c, int first)
{
	struct di_ctx *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	c->data = x;
	return first > DI_PREREQ ? disable_open(c, x) : 0; /* else the prerequisites step reads it */
}

static void disable_end(struct jobctx *c, int rc)
{
	(void)rc;
	free(c->data);
	c->data = NULL;
}

static int disable_prereq(struct jobctx *c)
{
	int rc = wait_cycle_done(c);
	return rc < 0 ? rc : disable_open(c, c->data);
}

/* A chain already destroyed is not there to destroy (-ENOENT). */
static int disable_points(struct jobctx *c)
{
	struct di_ctx *x = c->data;
	struct rpchain *chain;
	int rc = item_open_chain(c->v, x->it);

	lock_model();
	chain = x->it->chain;
	unlock_model();
	if (rc == 0 && chain)
		rc = rpchain_destroy(chain);
	if (rc < 0 && rc != -ENOENT) {
		job_fail_msg(c, "cannot delete the recovery points: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* Replicas already deleted are gone (-ENOENT): safe to repeat. */
static int disable_disks(struct jobctx *c)
{
	struct di_ctx *x = c->data;
	int rc = 0;

	lock_model();
	for (int i = 0; i < x->it->ndisks; i++) {
		struct item_disk *d = &x->it->disks[i];
		int r = inv_disk_delete(x->tgt, d->replica_managed, d->replica_parent, d->replica);
		if (r < 0 && r != -ENOENT) {
			rc = r;
			snprintf(c->j->error, sizeof(c->j->error), "cannot delete replica disk %s: %s", d->replica,
				 strerror(-r));
		}
	}
	unlock_model();
	return rc;
}

/* Removing what is already removed finds nothing to remove. */
static int disable_cleanup(struct jobctx *c)
{
	struct di_ctx *x = c->data;
	int rc;

	maps_forget(c->v, c->item);
	rc = mio_remove_tree(x->io.tgt_be, x->io.data_prefix);
	if (rc == 0)
		protection_end(c->v, c->item); /* the disks' regions say so */
	return rc;
}

static const struct job_step disable_steps[] = {
	{DI_PREREQ, disable_prereq}, {DI_POINTS, disable_points}, {DI_DISKS, disable_disks},
	{DI_CLEANUP, disable_cleanup}, {0, NULL},
};

const struct job_type JT_DISABLE = {
	.name = "Disable replication",
	.slug = "disable-replication",
	.tasks = {"Prerequisites check", "Deleting recovery points", "Deleting replica disks",
		  "Cleaning up replication data"},
	.running_state = IS_DISABLING_PROTECTION,
	.done_state = IS_NONE,
	.failed_state = IS_NONE,
	.steps = disable_steps,
	.begin = disable_begin,
	.end = disable_end,
	.removes_item = 1,
};
