/*
 * render.c - turning copies of the model into text: an item's status and
 * status.json, a job's job.json and tasks, the Prometheus metrics file and
 * the README at the root of the tree.  Everything here works on copies taken
 * under the model lock (struct item_info, struct job_info); nothing here
 * takes the lock except core_render_metrics, which copies first.
 */
#define _GNU_SOURCE
#include "chains.h"
#include "model.h"
#include "vault.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void core_render_item_status(const struct item_info *ii, struct sbuf *out)
{
	char t[TIME_STR];
	sb_printf(out, "name: %s\n", ii->name);
	sb_printf(out, "vault: %s\n", ii->vault);
	sb_printf(out, "state: %s\n", ii->state);
	sb_printf(out, "health: %s%s%s\n", ii->health, ii->health_reason[0] ? " (" : "", ii->health_reason);
	if (ii->health_reason[0])
		out->len--, sb_puts(out, ")\n");
	sb_printf(out, "direction: %s -> %s\n", ii->source_region, ii->target_region);
	sb_printf(out, "active-region: %s\n", ii->active_region);
	if (ii->rpo_valid)
		sb_printf(out, "rpo-seconds: %lld\n", (long long)ii->rpo_seconds);
	else
		sb_printf(out, "rpo-seconds: none (no recovery point yet)\n");
	sb_printf(out, "last-recovery-point: %s\n", ii->last_point[0] ? ii->last_point : "none");
	sb_printf(out, "last-app-consistent-point: %s\n", ii->last_app_point[0] ? ii->last_app_point : "none");
	sb_printf(out, "recovery-points: %d\n", ii->npoints);
	sb_printf(out, "policy: %s\n", ii->policy);
	sb_printf(out, "replication-group: %s\n", ii->group[0] ? ii->group : "none");
	sb_printf(out, "job: %s%s\n", ii->job[0] ? ii->job : "none", ii->job_running ? " (running)" : "");
	sb_printf(out, "progress: %d\n", ii->progress);
	fmt_time(ii->last_cycle, t);
	sb_printf(out, "last-replication-cycle: %s\n", t[0] ? t : "none");
	sb_printf(out, "replication-cycles: %llu\n", (unsigned long long)ii->cycles);
	sb_printf(out, "replication-failures: %llu\n", (unsigned long long)ii->cycle_failures);
	sb_printf(out, "bytes-replicated: %llu\n", (unsigned long long)ii->bytes_replicated);
	sb_printf(out, "test-failover: %s\n", ii->test_failover[0] ? ii->test_failover : "none");
	if (ii->hook_note[0])
		sb_printf(out, "hooks: %s\n", ii->hook_note);
	if (ii->whole_why[0])
		sb_printf(out, "tracking: a disk was compared whole %s\n", ii->whole_why);
	for (int i = 0; i < ii->ndisks; i++)
		sb_printf(out, "disk: %s size=%llu replica=%s state=%s synced-bytes=%llu pending-bytes=%llu\n",
			  ii->disks[i].name, (unsigned long long)ii->disks[i].size, ii->disks[i].replica,
			  ii->disks[i].state, (unsigned long long)ii->disks[i].synced_bytes,
			  (unsigned long long)ii->disks[i].pending_bytes);
	sb_printf(out, "error: %s\n", ii->error);
}

static void jstr(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void jint(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void jtime(json_object *o, const char *k, time_t t)
{
	char b[TIME_STR];
	fmt_time(t, b);
	json_object_object_add(o, k, t ? json_object_new_string(b) : NULL);
}

static void jdone(json_object *o, struct sbuf *out)
{
	if (!o) {
		out->err = -ENOMEM;
		return;
	}
	sb_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	sb_puts(out, "\n");
	json_object_put(o);
}

void core_render_item_json(const struct item_info *ii, const char *allowed, struct sbuf *out)
{
	json_object *o = json_object_new_object(), *disks = json_object_new_array(),
		    *allowed_ops = json_object_new_array(), *set = json_object_new_object();
	char dir[2 * NAME_MAX_ + 8];
	if (!o || !disks || !allowed_ops || !set) {
		json_object_put(o);
		json_object_put(disks);
		json_object_put(allowed_ops);
		json_object_put(set);
		out->err = -ENOMEM;
		return;
	}
	jstr(o, "name", ii->name);
	jstr(o, "vault", ii->vault);
	jstr(o, "state", ii->state);
	jstr(o, "health", ii->health);
	jstr(o, "health-reason", ii->health_reason);
	snprintf(dir, sizeof(dir), "%s -> %s", ii->source_region, ii->target_region);
	jstr(o, "direction", dir);
	jstr(o, "source-region", ii->source_region);
	jstr(o, "target-region", ii->target_region);
	jstr(o, "active-region", ii->active_region);
	json_object_object_add(o, "replication-group", ii->group[0] ? json_object_new_string(ii->group) : NULL);
	json_object_object_add(o, "rpo-seconds", ii->rpo_valid ? json_object_new_int64(ii->rpo_seconds) : NULL);
	json_object_object_add(o, "last-recovery-point", ii->last_point[0] ? json_object_new_string(ii->last_point) : NULL);
	json_object_object_add(o, "last-app-consistent-recovery-point",
			       ii->last_app_point[0] ? json_object_new_string(ii->last_app_point) : NULL);
	jint(o, "recovery-points", ii->npoints);
	jint(o, "progress", ii->progress);
	jstr(o, "error", ii->error);
	json_object_object_add(o, "job", ii->job[0] ? json_object_new_string(ii->job) : NULL);
	json_object_object_add(o, "job-running", json_object_new_boolean(ii->job_running));
	for (const char *p = allowed; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		json_object_array_add(allowed_ops, json_object_new_string_len(p, (int)n));
		p += n + (e ? 1 : 0);
	}
	json_object_object_add(o, "allowed-operations", allowed_ops);
	jstr(set, "policy", ii->policy);
	jstr(set, "target-resource-group", ii->target_rg);
	jstr(set, "target-storage-account", ii->target_sa);
	jstr(set, "cache-storage-account", ii->cache_sa);
	jstr(set, "availability-set", ii->aset);
	jstr(set, "target-network", ii->target_network);
	jint(set, "bandwidth-limit-bytes-per-second", (int64_t)ii->bwlimit);
	json_object_object_add(o, "settings", set);
	jtime(o, "last-replication-cycle", ii->last_cycle);
	jint(o, "replication-cycles", (int64_t)ii->cycles);
	jint(o, "replication-failures", (int64_t)ii->cycle_failures);
	json_object_object_add(o, "hooks", ii->hook_note[0] ? json_object_new_string(ii->hook_note) : NULL);
	jint(o, "bytes-replicated", (int64_t)ii->bytes_replicated);
	json_object_object_add(o, "whole-compare", ii->whole_why[0] ? json_object_new_string(ii->whole_why) : NULL);
	json_object_object_add(o, "resync-required", json_object_new_boolean(ii->resync_required));
	json_object_object_add(o, "test-failover", ii->test_failover[0] ? json_object_new_string(ii->test_failover) : NULL);
	for (int i = 0; i < ii->ndisks; i++) {
		json_object *d = json_object_new_object();
		jstr(d, "name", ii->disks[i].name);
		jint(d, "size", (int64_t)ii->disks[i].size);
		jstr(d, "replica", ii->disks[i].replica);
		jstr(d, "replica-region", ii->disks[i].replica_region);
		jint(d, "synced-bytes", (int64_t)ii->disks[i].synced_bytes);
		jint(d, "source-read-bytes", (int64_t)ii->disks[i].read_bytes);
		jint(d, "shipped-bytes", (int64_t)ii->disks[i].sent_bytes);
		jint(d, "pending-bytes", (int64_t)ii->disks[i].pending_bytes);
		jstr(d, "state", ii->disks[i].state);
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	jdone(o, out);
}

void core_render_tasks(const struct job_info *ji, struct sbuf *out)
{
	for (int i = 0; i < ji->ntasks; i++) {
		char s[TIME_STR], e[TIME_STR];
		fmt_time(ji->tasks[i].started, s);
		fmt_time(ji->tasks[i].ended, e);
		sb_printf(out, "%s %s %s %s\n", ji->tasks[i].state, s[0] ? s : "-", e[0] ? e : "-", ji->tasks[i].name);
	}
}

void core_render_job_json(const struct job_info *ji, struct sbuf *out)
{
	json_object *o = json_object_new_object(), *tasks = json_object_new_array();
	if (!o || !tasks) {
		json_object_put(o);
		json_object_put(tasks);
		out->err = -ENOMEM;
		return;
	}
	jstr(o, "id", ji->id);
	jstr(o, "type", ji->type);
	jstr(o, "item", ji->item);
	jstr(o, "state", ji->state);
	jint(o, "progress", ji->progress);
	jtime(o, "started", ji->started);
	jtime(o, "ended", ji->ended);
	jstr(o, "error", ji->error);
	jint(o, "bytes-total", (int64_t)ji->bytes_total);
	jint(o, "bytes-compared", (int64_t)ji->bytes_compared);
	jint(o, "bytes-transferred", (int64_t)ji->bytes_transferred);
	jint(o, "rate-bytes-per-second", (int64_t)ji->rate);
	json_object_object_add(o, "eta-seconds", ji->eta_known ? json_object_new_int64((int64_t)ji->eta) : NULL);
	if (ji->verifies)
		jint(o, "mismatched-bytes", (int64_t)ji->mismatched_bytes);
	for (int i = 0; i < ji->ntasks; i++) {
		json_object *t = json_object_new_object();
		jstr(t, "name", ji->tasks[i].name);
		jstr(t, "state", ji->tasks[i].state);
		jtime(t, "started", ji->tasks[i].started);
		jtime(t, "ended", ji->tasks[i].ended);
		json_object_array_add(tasks, t);
	}
	json_object_object_add(o, "tasks", tasks);
	jdone(o, out);
}

/* Prometheus label values escape \, " and newline. */
static void label(struct sbuf *out, const char *s)
{
	while (*s) {
		size_t plain = strcspn(s, "\\\"\n");
		sb_putn(out, s, plain); /* the run that needs no escape, at once */
		s += plain;
		if (*s == '\n')
			sb_puts(out, "\\n");
		else if (*s)
			sb_printf(out, "\\%c", *s);
		if (*s)
			s++;
	}
}

static const char *const healths[] = {"Normal", "Warning", "Critical", NULL};

/* What the metrics show of an item's running or last job, copied under the lock. */
struct job_figures {
	int present;
	char type[40];
	int state;
	uint64_t total, compared, transferred;
};

/* One series name, HELP and TYPE; the caller writes the samples. */
static void family(struct sbuf *out, const char *name, const char *type, const char *help)
{
	sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{vault="..",item=".." - left open for more labels. */
static void item_series(struct sbuf *out, const char *name, const struct item_info *ii)
{
	sb_printf(out, "%s{vault=\"", name);
	label(out, ii->vault);
	sb_puts(out, "\",item=\"");
	label(out, ii->name);
	sb_puts(out, "\"");
}

/* ,key="value" - one more label of an open series. */
static void more_label(struct sbuf *out, const char *key, const char *value)
{
	sb_printf(out, ",%s=\"", key);
	label(out, value);
	sb_puts(out, "\"");
}

static void item_u64(struct sbuf *out, const char *name, const struct item_info *ii, uint64_t v)
{
	item_series(out, name, ii);
	sb_printf(out, "} %llu\n", (unsigned long long)v);
}

/* One sample of an item's enum gauge: 1 when value is cur; returns that. */
static int enum_sample(struct sbuf *out, const char *name, const struct item_info *ii, const char *key,
		       const char *extra_key, const char *extra, const char *value, const char *cur)
{
	int is = strcmp(value, cur) == 0;
	item_series(out, name, ii);
	if (extra_key)
		more_label(out, extra_key, extra);
	more_label(out, key, value);
	sb_printf(out, "} %d\n", is);
	return is;
}

/* An enum gauge over values[] (NULL-terminated) for one item, as
 * node_exporter's: 1 for cur, 0 for the others; a cur not among them gets
 * its own series. */
static void item_enum(struct sbuf *out, const char *name, const struct item_info *ii, const char *key,
		      const char *extra_key, const char *extra, const char *const *values, const char *cur)
{
	int known = 0;
	for (int k = 0; values[k]; k++)
		known |= enum_sample(out, name, ii, key, extra_key, extra, values[k], cur);
	if (!known)
		enum_sample(out, name, ii, key, extra_key, extra, cur, cur);
}

static void item_job_u64(struct sbuf *out, const char *name, const struct item_info *ii, const struct job_figures *jf,
			 uint64_t v)
{
	item_series(out, name, ii);
	more_label(out, "type", jf->type);
	sb_printf(out, "} %llu\n", (unsigned long long)v);
}

/* A gauge of every protected disk, {vault,item,disk}: the uint64_t at
 * offset field of its item_disk_info. */
static void disk_series(struct sbuf *out, const char *name, const char *type, const char *help,
			const struct item_info *items, int ni, size_t field)
{
	family(out, name, type, help);
	for (int i = 0; i < ni; i++)
		for (int d = 0; d < items[i].ndisks; d++) {
			uint64_t v;
			if (items[i].disks[d].excluded)
				continue; /* not replicated: no series */
			memcpy(&v, (const char *)&items[i].disks[d] + field, sizeof(v));
			item_series(out, name, &items[i]);
			more_label(out, "disk", items[i].disks[d].name);
			sb_printf(out, "} %llu\n", (unsigned long long)v);
		}
}

void core_render_metrics(struct sbuf *out)
{
	static const char *const job_states[] = {"NotStarted", "InProgress", "Succeeded", "Failed", "Cancelled", NULL};
	struct item_info *items = NULL;
	struct job_figures *jobs = NULL;
	struct region_info *regs = NULL;
	int ni = 0, nr = 0, cap = 0;
	unsigned long long jobs_by_state[5] = {0};
	int chains;
	time_t started;

	lock_model_read();
	chains = chains_open();
	started = M.started;
	for (struct region *r = M.regions; r; r = r->next)
		nr++;
	for (struct vault_rec *v = M.vaults; v; v = v->next)
		for (struct item_rec *it = v->items; it; it = it->next)
			cap++;
	regs = calloc((size_t)nr + 1, sizeof(*regs));
	items = calloc((size_t)cap + 1, sizeof(*items));
	jobs = calloc((size_t)cap + 1, sizeof(*jobs));
	if (regs && items && jobs) {
		int i = 0;
		for (struct region *r = M.regions; r; r = r->next, i++) {
			snprintf(regs[i].name, sizeof(regs[i].name), "%s", r->name);
			regs[i].available = r->available;
		}
		for (struct vault_rec *v = M.vaults; v; v = v->next) {
			for (struct item_rec *it = v->items; it; it = it->next) {
				struct job_rec *j = it->job ? it->job : job_find(v, it->job_id);
				if (j) {
					jobs[ni].present = 1;
					snprintf(jobs[ni].type, sizeof(jobs[ni].type), "%s", j->type->name);
					jobs[ni].state = j->state;
					jobs[ni].total = j->bytes_total;
					jobs[ni].compared = j->bytes_compared;
					jobs[ni].transferred = j->bytes_transferred;
				}
				item_to_info(v, it, &items[ni++]);
			}
			for (struct job_rec *j = v->jobs; j; j = j->next)
				if (j->state >= 0 && j->state < 5)
					jobs_by_state[j->state]++;
		}
	}
	unlock_model();
	if (!regs || !items || !jobs) {
		out->err = -ENOMEM;
		goto out;
	}
	family(out, "asrfs_up", "gauge", "1 while the asrfs daemon serves this tree.");
	sb_puts(out, "asrfs_up 1\n");
	family(out, "asrfs_build_info", "gauge", "1, labelled with the asrfs version.");
	sb_puts(out, "asrfs_build_info{version=\"" ASRFS_VERSION "\"} 1\n");
	family(out, "asrfs_start_time_seconds", "gauge", "When the daemon started, Unix time.");
	sb_printf(out, "asrfs_start_time_seconds %lld\n", (long long)started);
	family(out, "asrfs_region_available", "gauge", "1 when the region's storage answers.");
	for (int i = 0; i < nr; i++) {
		sb_puts(out, "asrfs_region_available{region=\"");
		label(out, regs[i].name);
		sb_printf(out, "\"} %d\n", regs[i].available);
	}
	family(out, "asrfs_item_info", "gauge", "1, labelled with the item's direction and the region its VM runs in.");
	for (int i = 0; i < ni; i++) {
		item_series(out, "asrfs_item_info", &items[i]);
		more_label(out, "source", items[i].source_region);
		more_label(out, "target", items[i].target_region);
		more_label(out, "active_region", items[i].active_region);
		sb_puts(out, "} 1\n");
	}
	family(out, "asrfs_item_rpo_seconds", "gauge",
	       "Seconds since the newest recovery point; absent before the first and once failed over.");
	for (int i = 0; i < ni; i++)
		if (items[i].rpo_valid && items[i].rpo_rated) {
			item_series(out, "asrfs_item_rpo_seconds", &items[i]);
			sb_printf(out, "} %lld\n", (long long)items[i].rpo_seconds);
		}
	family(out, "asrfs_item_rpo_threshold_seconds", "gauge",
	       "The policy's RPO threshold: health Warning past it, Critical past twice it.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_rpo_threshold_seconds", &items[i], items[i].rpo_threshold);
	family(out, "asrfs_item_last_recovery_point_timestamp_seconds", "gauge",
	       "Time of the newest recovery point, Unix time; absent when there is none.");
	for (int i = 0; i < ni; i++)
		if (items[i].last_point_time)
			item_u64(out, "asrfs_item_last_recovery_point_timestamp_seconds", &items[i],
				 (uint64_t)items[i].last_point_time);
	family(out, "asrfs_item_last_cycle_timestamp_seconds", "gauge",
	       "End of the last replication cycle, Unix time; absent before the first.");
	for (int i = 0; i < ni; i++)
		if (items[i].last_cycle)
			item_u64(out, "asrfs_item_last_cycle_timestamp_seconds", &items[i], (uint64_t)items[i].last_cycle);
	family(out, "asrfs_item_health", "gauge", "1 for the item's current health, 0 for the others.");
	for (int i = 0; i < ni; i++)
		item_enum(out, "asrfs_item_health", &items[i], "health", NULL, NULL, healths, items[i].health);
	family(out, "asrfs_item_state", "gauge", "1 for the item's current state, 0 for the others.");
	for (int i = 0; i < ni; i++)
		item_enum(out, "asrfs_item_state", &items[i], "state", NULL, NULL, item_state_names + IS_SPEC_FIRST, items[i].state);
	family(out, "asrfs_item_replication_failing", "gauge", "1 while the item's replication cycles fail.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_replication_failing", &items[i], (uint64_t)items[i].replication_failing);
	family(out, "asrfs_item_resync_required", "gauge", "1 when a verify found the replica differs: resync it.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_resync_required", &items[i], (uint64_t)items[i].resync_required);
	family(out, "asrfs_item_recovery_points", "gauge", "Recovery points kept.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_recovery_points", &items[i], (uint64_t)items[i].npoints);
	family(out, "asrfs_item_replication_cycles_total", "counter", "Replication cycles run.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_replication_cycles_total", &items[i], items[i].cycles);
	family(out, "asrfs_item_replication_failures_total", "counter", "Replication cycles that failed.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_replication_failures_total", &items[i], items[i].cycle_failures);
	family(out, "asrfs_item_replicated_bytes_total", "counter", "Bytes shipped by replication cycles.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_replicated_bytes_total", &items[i], items[i].bytes_replicated);
	family(out, "asrfs_item_job_progress", "gauge", "Progress of the running or last job, 0-100.");
	for (int i = 0; i < ni; i++)
		item_u64(out, "asrfs_item_job_progress", &items[i], (uint64_t)items[i].progress);
	family(out, "asrfs_item_job_state", "gauge",
	       "1 for the state of the item's running or last job, 0 for the others; type is the job's.");
	for (int i = 0; i < ni; i++)
		if (jobs[i].present)
			item_enum(out, "asrfs_item_job_state", &items[i], "state", "type", jobs[i].type, job_states,
				  job_state_name(jobs[i].state));
	family(out, "asrfs_item_job_size_bytes", "gauge", "Bytes the item's running or last job has to compare.");
	for (int i = 0; i < ni; i++)
		if (jobs[i].present)
			item_job_u64(out, "asrfs_item_job_size_bytes", &items[i], &jobs[i], jobs[i].total);
	family(out, "asrfs_item_job_compared_bytes", "gauge", "Bytes the item's running or last job has compared.");
	for (int i = 0; i < ni; i++)
		if (jobs[i].present)
			item_job_u64(out, "asrfs_item_job_compared_bytes", &items[i], &jobs[i], jobs[i].compared);
	family(out, "asrfs_item_job_transferred_bytes", "gauge",
	       "Bytes the item's running or last job has sent from one region to the other.");
	for (int i = 0; i < ni; i++)
		if (jobs[i].present)
			item_job_u64(out, "asrfs_item_job_transferred_bytes", &items[i], &jobs[i], jobs[i].transferred);
	disk_series(out, "asrfs_disk_size_bytes", "gauge", "Size of a protected disk.", items, ni,
		   offsetof(struct item_disk_info, size));
	disk_series(out, "asrfs_disk_synced_bytes", "gauge", "Bytes of a protected disk synchronized to its replica.", items, ni,
		   offsetof(struct item_disk_info, synced_bytes));
	disk_series(out, "asrfs_disk_pending_bytes", "gauge",
		   "Bytes of a protected disk written through the mount since its newest recovery point, not yet shipped.",
		   items, ni, offsetof(struct item_disk_info, pending_bytes));
	disk_series(out, "asrfs_disk_source_read_bytes_total", "counter",
		    "Bytes replication cycles read from a protected source disk since the daemon started.", items, ni,
		    offsetof(struct item_disk_info, read_bytes));
	disk_series(out, "asrfs_disk_shipped_bytes_total", "counter",
		    "Bytes replication cycles shipped of a protected disk since the daemon started.", items, ni,
		    offsetof(struct item_disk_info, sent_bytes));
	family(out, "asrfs_jobs", "gauge", "Jobs the vaults keep, by state.");
	for (int s = 0; s < 5; s++)
		sb_printf(out, "asrfs_jobs{state=\"%s\"} %llu\n", job_states[s], jobs_by_state[s]);
	family(out, "asrfs_point_chains_open", "gauge", "Recovery-point chains held open, retired ones still in use included.");
	sb_printf(out, "asrfs_point_chains_open %d\n", chains);
out:
	free(jobs);
	free(items);
	free(regs);
}

void core_render_readme(struct sbuf *out)
{
	sb_puts(out,
		"asrfs - disaster recovery for VM disks, as a filesystem\n"
		"\n"
		"regions/<region>/               each site: status, backend, create-vm (control)\n"
		"  resource-groups/<rg>/         mkdir creates, rmdir removes an empty one\n"
		"    vms/<vm>/                   power (write start|stop), network, disks, vm.json\n"
		"    disks/<disk>                the disk's bytes, read-write\n"
		"  storage-accounts/<sa>/vhds/   unmanaged disks' bytes\n"
		"vaults/<vault>/                 enable-replication (control), policies/, network-mappings/\n"
		"  items/<vm>/                   state, health, rpo-seconds, progress, status, status.json\n"
		"                                controls: failover commit reprotect resync verify disable cancel ...\n"
		"    recovery-points/<id>/disks/ read-only disk images of each point\n"
		"  replication-groups/<g>/items  the items of a replication group (multi-vm points)\n"
		"  jobs/<id>/                    type, state, progress, tasks, bytes-*, eta-seconds\n"
		"<vm> -> vaults/<vault>/items/<vm>   a shortcut per replicated item\n"
		"metrics/asrfs.prom              Prometheus text format\n"
		"\n"
		"Controls take one line:  echo start > web01/reprotect\n"
		"A refused write fails with an errno; the reason is in the item's error file.\n"
		"Try:  cat web01/status;  ls web01/recovery-points;  cat web01/allowed-operations\n");
}
