/*
 * core.h - vaults, regions, items, policies and jobs: the model asrfs serves.
 *
 * This is the whole interface fs/ uses.  Calls return 0 (or a byte count) or
 * a negative errno; fs/ turns that into the errno of the system call.  A
 * refused control also leaves its reason in the item's (or region's or
 * vault's) `error` and in the log.
 *
 * Readers get copies: *_info() fills a caller-owned struct under the model
 * lock and returns, so formatting happens outside the lock.  Controls
 * validate and change the model under the lock, persist it, queue a job on
 * the worker pool and return at once; no FUSE thread ever runs a sync.
 */
#ifndef ASRFS_CORE_H
#define ASRFS_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "log.h"
#include "util.h"
#include "../backend/version.h" /* ASRFS_VERSION */

#define NAME_MAX_ 96
#define ERR_MAX 512
#define MAX_DISKS 16
/* A job's rows of tasks: a verify's first and one per disk; a recovery
 * plan's one per step (shut-downs, actions and items of seven groups). */
#define MAX_TASKS 64
#define TASK_NAME_MAX 128

struct core_opts {
	const char *config_path; /* NULL: the embedded default */
	const char *state_dir;
	int readonly_hint;       /* unused for now */
};

int core_start(const struct core_opts *o, char *err, size_t errlen);
/* Stop the scheduler and workers; running jobs are checkpointed. */
void core_stop(void);

/* ---- regions and their inventory ---------------------------------- */

struct region_info {
	char name[NAME_MAX_];
	int available;
	char reason[256];
	char backend[512];
	char error[ERR_MAX]; /* last refused control on the region */
};

int core_regions(struct strlist *out);
int core_region_info(const char *region, struct region_info *out);
int core_region_create_vm(const char *region, const char *line, size_t len);

int core_rgs(const char *region, struct strlist *out);
int core_rg_exists(const char *region, const char *rg);
int core_rg_create(const char *region, const char *rg);
int core_rg_delete(const char *region, const char *rg);

struct vm_disk_info {
	char name[NAME_MAX_];
	uint64_t size;
	int managed;                /* 0: a VHD in storage_account */
	char storage_account[NAME_MAX_];
};

struct vm_info {
	char name[NAME_MAX_];
	char rg[NAME_MAX_];
	char region[NAME_MAX_];
	int running;
	char network[NAME_MAX_];
	char availability_set[NAME_MAX_];
	int ndisks;
	struct vm_disk_info disks[MAX_DISKS];
	time_t created;
};

int core_vms(const char *region, const char *rg, struct strlist *out);
int core_vm_info(const char *region, const char *rg, const char *vm, struct vm_info *out);
int core_vm_json(const char *region, const char *rg, const char *vm, struct sbuf *out);
int core_vm_power(const char *region, const char *rg, const char *vm, const char *line, size_t len);
int core_vm_delete(const char *region, const char *rg, const char *vm);
int core_vm_move(const char *region, const char *rg, const char *vm, const char *to_rg,
		 const char *to_name);

int core_rg_disks(const char *region, const char *rg, struct strlist *out);
int core_rg_asets(const char *region, const char *rg, struct strlist *out);
int core_rg_networks(const char *region, const char *rg, struct strlist *out);
int core_storage_accounts(const char *region, struct strlist *out);
int core_sa_vhds(const char *region, const char *sa, struct strlist *out); /* "<disk>.vhd" */

/* Disk bytes.  kind: 0 = managed disk <rg>/disks/<name>, 1 = VHD <sa>/vhds/<name>. */
struct core_disk;
int core_disk_size(const char *region, int kind, const char *parent, const char *name, uint64_t *size);
/* 1 when the disk is an item's replica: only replication writes it, and a
 * writable open is -EPERM (SPEC 8). */
int core_disk_readonly(const char *region, int kind, const char *parent, const char *name);
int core_disk_open(const char *region, int kind, const char *parent, const char *name, int writable,
		   struct core_disk **out);
ssize_t core_disk_read(struct core_disk *d, void *buf, size_t len, uint64_t off);
ssize_t core_disk_write(struct core_disk *d, const void *buf, size_t len, uint64_t off);
int core_disk_flush(struct core_disk *d);
void core_disk_close(struct core_disk *d);

/* ---- vaults ------------------------------------------------------- */

struct vault_info {
	char name[NAME_MAX_];
	char region[NAME_MAX_];
	int readonly;        /* another daemon manages it */
	char error[ERR_MAX];
};

int core_vaults(struct strlist *out);
int core_vault_info(const char *vault, struct vault_info *out);

struct policy_info {
	char name[NAME_MAX_];
	uint64_t retention_hours;
	uint64_t crash_frequency_seconds;
	uint64_t app_frequency_minutes;
	uint64_t rpo_threshold_seconds;
	int in_use;
};
/* The policy attribute names, for fs tables: */
#define POLICY_RETENTION "recovery-point-retention-hours"
#define POLICY_CRASH "crash-consistent-frequency-seconds"
#define POLICY_APP "app-consistent-frequency-minutes"
#define POLICY_RPO "rpo-threshold-seconds"

int core_policies(const char *vault, struct strlist *out);
int core_policy_info(const char *vault, const char *policy, struct policy_info *out);
int core_policy_create(const char *vault, const char *policy);
int core_policy_delete(const char *vault, const char *policy);
int core_policy_set(const char *vault, const char *policy, const char *attr, const char *line,
		    size_t len);

/* Network mappings: source region -> vnet -> "<target-region>/<vnet>". */
int core_mapping_regions(const char *vault, struct strlist *out);
int core_mapping_vnets(const char *vault, const char *src_region, struct strlist *out);
int core_mapping_get(const char *vault, const char *src_region, const char *vnet, char *out, size_t len);
int core_mapping_set(const char *vault, const char *src_region, const char *vnet, const char *line,
		     size_t len);

/* ---- replicated items --------------------------------------------- */

struct item_disk_info {
	char name[NAME_MAX_];
	uint64_t size;
	char replica[NAME_MAX_];
	char replica_region[NAME_MAX_];
	uint64_t synced_bytes;
	uint64_t pending_bytes;   /* written through the mount since the newest point, not shipped */
	char state[40];
	uint64_t read_bytes, sent_bytes; /* replication's reads of the source, bytes shipped */
	int excluded;             /* left out by exclude-disks=: state "excluded", not replicated */
};

struct item_info {
	char name[NAME_MAX_];
	char vault[NAME_MAX_];
	char state[40];
	char health[16];
	char health_reason[128];
	char source_region[NAME_MAX_];
	char target_region[NAME_MAX_];
	char active_region[NAME_MAX_];
	char vm_rg[NAME_MAX_];
	int rpo_valid;
	int64_t rpo_seconds;
	int rpo_rated;            /* replication runs toward a replica: RPO means something */
	uint64_t rpo_threshold;   /* the policy's rpo-threshold-seconds */
	time_t last_point_time;   /* the newest recovery point's time, 0 if none */
	int replication_failing;  /* the last cycles failed (health Critical) */
	char last_point[32];
	char last_app_point[32];
	int progress;
	char error[ERR_MAX];
	char job[NAME_MAX_];      /* running or last job id, "" if none */
	int job_running;
	/* settings */
	char policy[NAME_MAX_];
	char target_rg[NAME_MAX_];
	char target_sa[NAME_MAX_];
	char cache_sa[NAME_MAX_];
	char aset[NAME_MAX_];
	char target_network[NAME_MAX_];
	char group[NAME_MAX_];    /* replication group, "" if none */
	uint64_t bwlimit;
	/* replication */
	time_t last_cycle;
	uint64_t cycles, cycle_failures;
	uint64_t bytes_replicated;
	int npoints;
	int resync_required;
	char test_failover[512];  /* "" or state of a test failover */
	char hook_note[200];      /* why the last app-consistent point was not, "" if it was */
	int ndisks;
	struct item_disk_info disks[MAX_DISKS];
	char whole_why[200];   /* why the last cycle compared a disk whole, "" if none */
};

int core_items(const char *vault, struct strlist *out);
/* 1 when the vault has the item (job), 0 when not, -ENOENT with no vault. */
int core_item_exists(const char *vault, const char *item);
int core_item_info(const char *vault, const char *item, struct item_info *out);
/* Controls of SPEC 4 by file name ("failover", "disable", ...). */
int core_item_control(const char *vault, const char *item, const char *control, const char *line,
		      size_t len);
/* A vault's control ("enable-replication") by file name. */
int core_vault_control(const char *vault, const char *control, const char *line, size_t len);
/* The i-th control file of an item (vault_scope 0) or of a vault (1), from
 * core's table of operations (core/ops.c); NULL past the last. */
const char *core_control_name(int vault_scope, int i);
/* allowed-operations, one a line. */
int core_item_allowed(const char *vault, const char *item, struct sbuf *out);
int core_item_setting_set(const char *vault, const char *item, const char *setting, const char *line,
			  size_t len);
/* The `error` file a write through the tree reports to: the item's when
 * item is set, else the vault's, else the region's.  fs/ calls
 * core_refusal_begin before a store, mkdir, rmdir or rename (it copies that
 * error into saved) and core_refusal_end after it with the result: a
 * refusal always leaves a message naming what (the path below the object):
 * why when fs/ refused on its own, else core's reason for this refusal, else
 * the errno's text.  An accepted change leaves error as core made it. */
struct refusal_owner {
	const char *region, *vault, *item;
};
void core_refusal_begin(const struct refusal_owner *o, char *saved, size_t len);
void core_refusal_end(const struct refusal_owner *o, const char *saved, const char *what, int rc,
		      const char *why);
/* The item's top-level shortcut: items whose name is unique across vaults. */
int core_shortcuts(struct strlist *names, struct strlist *vaults);
/* The vault of the shortcut `name` (an item of that name in one vault only),
 * or -ENOENT. */
int core_shortcut(const char *name, char *vault, size_t len);

/* Replication groups (SPEC 9): a vault's, and the items of one (-ENOENT:
 * no such group). */
int core_groups(const char *vault, struct strlist *out);
int core_group_items(const char *vault, const char *group, struct strlist *out);

/* Recovery points. */
struct point_info {
	char id[32];
	time_t time;
	int app_consistent;
	int multi_vm;             /* one instant of the item's whole replication group */
};
int core_points(const char *vault, const char *item, struct point_info **pts, int *n);
int core_point_open(const char *vault, const char *item, const char *point, const char *disk,
		    struct core_disk **out);
int core_point_disk_size(const char *vault, const char *item, const char *point, const char *disk,
			 uint64_t *size);

/* ---- jobs --------------------------------------------------------- */

struct task_info {
	char name[TASK_NAME_MAX];
	char state[16];
	time_t started, ended;
};

struct job_info {
	char id[NAME_MAX_];
	char type[40];
	char item[NAME_MAX_];
	char state[16];
	int progress;
	time_t started, ended;
	char error[ERR_MAX];
	int ntasks;
	struct task_info tasks[MAX_TASKS];
	uint64_t bytes_total, bytes_compared, bytes_transferred;
	uint64_t rate, eta;
	int eta_known;
	int verifies;               /* a Verify replication job: mismatched_bytes means something */
	uint64_t mismatched_bytes;
};

int core_jobs(const char *vault, struct strlist *out);
int core_job_exists(const char *vault, const char *job);
int core_job_info(const char *vault, const char *job, struct job_info *out);

/* ---- recovery plans (SPEC 9; core/plans.c) ------------------------ */

int core_plans(const char *vault, struct strlist *out);
int core_plan_create(const char *vault, const char *name);
int core_plan_delete(const char *vault, const char *name);
/* A plan's file: state, allowed-operations, error, status, or job (the
 * link's target; -ENOENT when it has none). */
int core_plan_show(const char *vault, const char *plan, const char *file, struct sbuf *out);
/* A write to a plan's control (failover ... cancel, resume). */
int core_plan_control(const char *vault, const char *plan, const char *control, const char *line, size_t len);
int core_plan_groups(const char *vault, const char *plan, struct strlist *out);
/* mkdir (make 1) or rmdir (make 0) of groups/<group>. */
int core_plan_group_set(const char *vault, const char *plan, const char *group, int make);
/* A boot group's items, pre-actions or post-actions: shown, or written. */
int core_plan_group_show(const char *vault, const char *plan, const char *group, const char *file,
			 struct sbuf *out);
int core_plan_group_store(const char *vault, const char *plan, const char *group, const char *file,
			  const char *line, size_t len);

/* ---- rendering ---------------------------------------------------- */

void core_render_item_status(const struct item_info *ii, struct sbuf *out);
void core_render_item_json(const struct item_info *ii, const char *allowed, struct sbuf *out);
void core_render_job_json(const struct job_info *ji, struct sbuf *out);
void core_render_tasks(const struct job_info *ji, struct sbuf *out);
void core_render_metrics(struct sbuf *out);
void core_render_readme(struct sbuf *out);

#endif
