/*
 * model.h - core's in-memory model and the rules for touching it: its
 * structures, lookups, records, keys and the shape of a job type.  What each
 * core file offers beyond that is in the file's own header (docs/DESIGN.md,
 * "Structure of core").
 *
 * LOCKING RULE (core/lock.h has it whole).  model_lock protects every
 * field of every structure in this file unless a field says otherwise.
 * Hold it for short, bounded work: look up, copy, change, build a small
 * JSON record.  Code that changes the model takes it with lock_model()
 * (the writer lock first); a pure reader with lock_model_read().
 * persist_*() are called with it held: they write through core/recio.h,
 * which drops model_lock for the request when the caller is a writer, so a
 * frozen endpoint never stalls a reader.  Never hold it across disk data
 * I/O, a delta sync, a hook or a wait: workers copy what they need under
 * the lock, drop it, do the work, and take it again to publish the result.
 * sync/'s rpchain has its own lock and is only ever called with model_lock
 * NOT held.  A tracker's lock (sync/track.h) is a leaf, the one sync/ lock
 * taken under model_lock (to read pending bytes).  Backend handles are
 * thread-safe and never change after start-up.
 */
#ifndef ASRFS_MODEL_H
#define ASRFS_MODEL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "../backend/backend.h"
#include "../sync/blockmap.h"
#include "../sync/points.h"
#include "../sync/track.h"
#include "../sync/cycle.h"
#include "core.h"

#include "lock.h"

/* -- region inventory -- */

struct disk_rec {
	char name[NAME_MAX_];
	uint64_t size;
	struct disk_rec *next;
};

struct vm_rec {
	struct vm_info info;
	int moving;  /* an mv is copying its disks outside the lock: hands off */
	struct vm_rec *next;
};

struct rg_rec {
	char name[NAME_MAX_];
	struct vm_rec *vms;
	struct disk_rec *disks;
	struct strlist asets, nets;
	struct rg_rec *next;
};

struct sa_rec {
	char name[NAME_MAX_];
	struct disk_rec *vhds; /* names without ".vhd" */
	struct sa_rec *next;
};

struct region {
	char name[NAME_MAX_];
	struct backend *be;          /* immutable after start */
	char describe[512];          /* immutable */
	int available;
	char reason[256];
	int loaded;                  /* inventory read from the backend */
	struct rg_rec *rgs;
	struct sa_rec *sas;
	char error[ERR_MAX];
	struct region *next;
};

/* -- vaults -- */

struct policy_rec {
	struct policy_info info;
	struct policy_rec *next;
};

struct mapping_rec {
	char src_region[NAME_MAX_];
	char vnet[NAME_MAX_];
	char target[2 * NAME_MAX_]; /* "<region>/<vnet>" */
	struct mapping_rec *next;
};

struct item_disk {
	char name[NAME_MAX_];        /* source disk name */
	uint64_t size;
	int managed;
	char src_parent[NAME_MAX_];  /* rg (managed) or storage account (vhd) */
	char replica[NAME_MAX_];     /* "<name>-ASRReplica" */
	char replica_parent[NAME_MAX_];
	int replica_managed;
	uint64_t synced_bytes;
	char state[40];
};

/* A disk of the VM that enable-replication's exclude-disks= left out: not
 * replicated, tracked, claimed nor in any point (so it is never in
 * item_rec.disks[], and every replication loop skips it by construction).
 * A VM made from the item (failover, test failover, failback) gets an empty
 * disk of its size in its place: pos, its index among the VM's disks. */
struct item_excl {
	char name[NAME_MAX_];
	uint64_t size;
	int managed;
	char src_parent[NAME_MAX_];  /* rg (managed) or storage account (vhd) */
	int pos;
};

/* The VM's disks of an item in the VM's order, into order[] (returns how
 * many): i >= 0 is disks[i], a negative one excl[EXCL_OF(i)]. */
#define EXCL_OF(i) (-1 - (i))
struct item_rec;
int item_vm_order(const struct item_rec *it, int order[MAX_DISKS]);

/* The item states of SPEC 7, in its order, from IS_SPEC_FIRST.  IS_NONE is
 * no state: a job type that leaves the item's state as it is, or a job
 * record that knew none before it.  IS_UNKNOWN is an item whose record did
 * not read (shown "Unknown"; it takes no operation).  Records and the tree
 * name a state by item_state_name(); only those names are stored. */
enum item_state {
	IS_NONE,
	IS_UNKNOWN,
	IS_ENABLING_PROTECTION,
	IS_INITIAL_REPLICATION_IN_PROGRESS,
	IS_PROTECTED,
	IS_FAILOVER_IN_PROGRESS,
	IS_FAILED_OVER,
	IS_CHANGE_RECOVERY_POINT_IN_PROGRESS,
	IS_COMMIT_IN_PROGRESS,
	IS_FAILOVER_COMMITTED,
	IS_REPROTECT_IN_PROGRESS,
	IS_RESYNCHRONIZATION_IN_PROGRESS,
	IS_DISABLING_PROTECTION,
	IS_MIGRATION_COMPLETED,
	IS_INITIAL_REPLICATION_FAILED,
	IS_FAILOVER_FAILED,
	IS_REPROTECT_FAILED,
	IS_RESYNCHRONIZATION_FAILED,
	IS_COUNT
};
#define IS_SPEC_FIRST IS_ENABLING_PROTECTION
#define IS_BIT(s) (1u << (s))
/* Sets of states the model's rules ask about. */
#define IS_FAILED_SET                                                                                          \
	(IS_BIT(IS_INITIAL_REPLICATION_FAILED) | IS_BIT(IS_FAILOVER_FAILED) | IS_BIT(IS_REPROTECT_FAILED) |    \
	 IS_BIT(IS_RESYNCHRONIZATION_FAILED))
/* Only a running job holds one (EnablingProtection, ...InProgress). */
#define IS_TRANSITIONAL_SET                                                                                    \
	(IS_BIT(IS_ENABLING_PROTECTION) | IS_BIT(IS_INITIAL_REPLICATION_IN_PROGRESS) |                         \
	 IS_BIT(IS_FAILOVER_IN_PROGRESS) | IS_BIT(IS_CHANGE_RECOVERY_POINT_IN_PROGRESS) |                      \
	 IS_BIT(IS_COMMIT_IN_PROGRESS) | IS_BIT(IS_REPROTECT_IN_PROGRESS) |                                    \
	 IS_BIT(IS_RESYNCHRONIZATION_IN_PROGRESS) | IS_BIT(IS_DISABLING_PROTECTION))
/* No replica holds the item's point yet: nothing to open or read. */
#define IS_NO_CHAIN_SET                                                                                        \
	(IS_BIT(IS_ENABLING_PROTECTION) | IS_BIT(IS_INITIAL_REPLICATION_FAILED) | IS_BIT(IS_DISABLING_PROTECTION))
static inline int item_state_in(enum item_state s, unsigned set)
{
	return (set & IS_BIT(s)) != 0;
}
/* The states' names as the tree shows them, by enum: [IS_NONE] is "",
 * and the SPEC's run from item_state_names + IS_SPEC_FIRST to a NULL. */
extern const char *const item_state_names[IS_COUNT + 1];
const char *item_state_name(enum item_state s);
/* The state named name ("" is IS_NONE), or -EINVAL. */
int item_state_parse(const char *name);

struct job_rec;

struct item_rec {
	char name[NAME_MAX_];
	enum item_state state;
	char source_region[NAME_MAX_];
	char target_region[NAME_MAX_];
	char active_region[NAME_MAX_];
	char vm_rg[NAME_MAX_];       /* the source VM's resource group */
	char policy[NAME_MAX_];
	char group[NAME_MAX_];       /* its replication group (SPEC 9), "" if none */
	char target_rg[NAME_MAX_];
	char target_sa[NAME_MAX_];
	char cache_sa[NAME_MAX_];
	char aset[NAME_MAX_];
	char network[NAME_MAX_];     /* the source VM's network */
	uint64_t bwlimit;
	char error[ERR_MAX];
	char job_id[NAME_MAX_];
	struct job_rec *job;         /* running job or NULL */
	int ndisks;
	struct item_disk disks[MAX_DISKS];
	int nexcl;                   /* disks exclude-disks= left out, by pos */
	struct item_excl excl[MAX_DISKS];
	/* replication */
	int cycle_running;
	time_t next_cycle;
	time_t last_cycle;
	time_t last_app_point_time;
	uint64_t cycles, cycle_failures, bytes_replicated;
	int failing;
	char fail_reason[256];
	int resync_required;         /* RESYNC_*: health says "resynchronization required" */
	char resync_why[200];        /* with RESYNC_VERIFY: which verify found what, for status */
	char last_point[32], last_app_point[32];
	time_t last_point_time;
	int npoints;
	char test_failover[512];
	char hook_note[200];         /* why the last app-consistent point was not, "" if it was */
	char tf_region[NAME_MAX_];   /* where the test failover VM is */
	char tf_rg[NAME_MAX_];
	time_t created;
	char damaged[ERR_MAX];       /* item.json did not parse: why; shown, never written */
	struct rpchain *chain;       /* set once replication started; own lock */
	struct cycle_state *cs;      /* what the last cycle left the next; used by the item's turn holder */
	uint64_t disk_read[MAX_DISKS], disk_sent[MAX_DISKS]; /* bytes replication read from / shipped of each source */
	char whole_why[200];         /* why the last cycle compared a disk whole, "" if it did not */
	int chain_ro;                /* chain was opened read-only (see chain_pin) */
	struct item_rec *next;
};

/* Why an item's resync_required is set.  RESYNC_MAPS: a block map could
 * not be trusted (set by versions before write tracking, which compare such
 * a disk whole instead); the next point clears it.  RESYNC_VERIFY: a verify found the replica
 * differs from the source; cycles ship only what changes, so only a
 * resync (or a reprotect, which compares both sides) clears it. */
#define RESYNC_MAPS 1
#define RESYNC_VERIFY 2

struct task_rec {
	char name[TASK_NAME_MAX];
	int state; /* enum job_state */
	time_t started, ended;
};

/* JOB_WAITING is a task's only: a recovery plan's manual action waiting
 * for `resume` (the job itself stays InProgress). */
enum job_state { JOB_NOT_STARTED, JOB_IN_PROGRESS, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED, JOB_WAITING };

struct job_rec {
	char id[NAME_MAX_];
	const struct job_type *type;
	char item[NAME_MAX_];
	struct vault_rec *vault;
	int state;
	time_t started, ended;
	char error[ERR_MAX];
	int ntasks;
	struct task_rec tasks[MAX_TASKS];
	uint64_t bytes_total, bytes_compared, bytes_transferred;
	uint64_t mismatched_bytes;   /* a verify's finding so far (JT_VERIFY only) */
	uint64_t rate;
	double rate_t0;              /* monotonic start of the running task */
	uint64_t rate_base;          /* bytes_compared when it started */
	int progress;
	int cancel;                  /* cancel requested */
	/* checkpoint */
	int ck_disk;
	uint64_t ck_offset;
	char args[512];              /* the control line, for resume */
	enum item_state prev_state;  /* item state before the job */
	int step;                    /* steps of its type done (struct job_step) */
	char plan[4096];             /* the job type's own resume record, JSON text
	                                (reprotect: the direction it reverses, its
	                                plan and the steps done), "" if none */
	int drop_item;               /* its end removes the item (a cancelled enable) */
	int held;                    /* a plan's job queued, run or parked here: a
					reload of the vault keeps this record */
	int dirty;                   /* changed since its record was written */
	double dirty_at;             /* monotonic time progress last made it dirty */
	int region_waits;            /* waits for a region in a row (each longer) */
	double parked_until;         /* monotonic: parked for a region till then; 0: not */
	struct job_rec *park_next;   /* jobs.c's list of parked jobs */
	struct job_rec *next;
};

/* A recovery plan (SPEC 9, core/plans.c): boot groups 1..PLAN_GROUPS of
 * items, each with pre- and post-actions.  Its record is
 * vaults/<vault>/recovery-plans/<plan>.json in the vault's region. */
#define PLAN_GROUPS 7
#define PLAN_ITEMS 16      /* items in one boot group */
#define PLAN_ACTIONS 8     /* pre- or post-actions of one boot group */
#define PLAN_ACTION_MAX 256
struct plan_action {
	int manual;                  /* 1: a manual action (text), 0: a script (path) */
	char text[PLAN_ACTION_MAX];
};
struct plan_group {
	int used;                    /* the directory groups/<n> exists */
	int nitems, npre, npost;
	char items[PLAN_ITEMS][NAME_MAX_];
	struct plan_action pre[PLAN_ACTIONS], post[PLAN_ACTIONS];
};
struct plan_rec {
	char name[NAME_MAX_];
	struct plan_group groups[PLAN_GROUPS];
	char job_id[NAME_MAX_];      /* its running or last job, "" if none */
	char error[ERR_MAX];
	char damaged[ERR_MAX];       /* its record did not parse: why; never written then */
	int waiting;                 /* its job waits at a manual action: step + 1; 0: not */
	struct plan_rec *next;
};

struct vault_rec {
	char name[NAME_MAX_];
	struct region *region;
	void *lease;
	time_t lease_ok;             /* last time the lease was taken or renewed */
	int readonly;
	uint64_t next_job;
	char damaged[ERR_MAX];       /* vault.json did not parse: why; never written then */
	char error[ERR_MAX];
	struct policy_rec *policies;
	struct mapping_rec *maps;
	struct item_rec *items;
	struct job_rec *jobs;        /* newest first */
	struct plan_rec *plans;      /* recovery plans (core/plans.c) */
	/* item_find's and job_find's hash tables of the two lists, built on
	 * first use; vault_lists_changed() drops them */
	struct name_index *item_index, *job_index;
	struct vault_rec *next;
};

struct model {
	char *state_dir;
	char *hooks_dir;
	int workers;
	struct region *regions;
	struct vault_rec *vaults;
	time_t started;
	int lease_seconds;           /* azblob vault leases (config "lease_seconds") */
	int hook_timeout;            /* seconds a hook may run (config "hook-timeout-seconds") */
};
extern struct model M;

/* lookups (model_lock held) */
struct region *region_find(const char *name);
struct rg_rec *rg_find(struct region *r, const char *name);
struct vm_rec *vm_find(struct rg_rec *rg, const char *name);
/* A VM by name in any resource group of r (*rgo: its group, if not NULL). */
struct vm_rec *vm_anywhere(struct region *r, const char *name, struct rg_rec **rgo);
/* The VM rg/name of r, NULL when it is not there. */
struct vm_rec *vm_at(struct region *r, const char *rg, const char *name);
struct disk_rec *disk_find(struct disk_rec *list, const char *name);
struct sa_rec *sa_find(struct region *r, const char *name);
struct vault_rec *vault_find(const char *name);
struct policy_rec *policy_find(struct vault_rec *v, const char *name);
/* A new policy of v with the default settings, linked in (model_lock held). */
int policy_add(struct vault_rec *v, const char *name, struct policy_rec **out);
struct item_rec *item_find(struct vault_rec *v, const char *name);
struct job_rec *job_find(struct vault_rec *v, const char *id);
/* model_lock held.  Find vault and item (item NULL: the vault only);
 * -ENOENT when either is missing. */
int find_vi(const char *vault, const char *item, struct vault_rec **vp, struct item_rec **ip);
struct mapping_rec *mapping_find(struct vault_rec *v, const char *src, const char *vnet);
struct plan_rec *plan_find(struct vault_rec *v, const char *name);
/* The plan's job while it is NotStarted or InProgress, else NULL. */
struct job_rec *plan_running_job(struct vault_rec *v, const struct plan_rec *p);
/* The boot group (1..PLAN_GROUPS) of item in p, 0 if none. */
int plan_group_of(const struct plan_rec *p, const char *item);
/* A plan whose running job holds item (its controls are EBUSY), or NULL. */
struct plan_rec *plan_holding(struct vault_rec *v, const char *item);
/* model_lock held: call after linking a record into v->items or v->jobs or
 * unlinking one (before it is freed), so no lookup finds a stale one. */
void vault_lists_changed(struct vault_rec *v);
/* The crash-consistent period of the item's policy, in seconds (model_lock held). */
time_t item_period(struct vault_rec *v, const struct item_rec *it);

/* vault persistence (model_lock held) */
int persist_vault(struct vault_rec *v);
int persist_item(struct vault_rec *v, struct item_rec *it);
int persist_job(struct vault_rec *v, struct job_rec *j);
void jobs_flush(struct vault_rec *v);
int unpersist_item(struct vault_rec *v, struct item_rec *it);
int vault_load(struct vault_rec *v);
/* After its own records, vault_load reads those of the function registered
 * here (core/plans.c's, by the daemon at start-up). */
void vault_loader_register(int (*load)(struct vault_rec *v));
/* A JSON record of the vault's region (model_lock held, a writer: dropped
 * for the request; o is consumed), read (model_lock held or a scratch
 * vault), deleted (model_lock held, a writer). */
struct json_object;
int vault_put_json(struct vault_rec *v, const char *key, struct json_object *o);
int vault_get_json(struct vault_rec *v, const char *key, struct json_object **out);
int vault_del_record(struct vault_rec *v, const char *key);
/* A record that does not parse (model_lock held or not: no model state):
 * keep it aside (backend_keep_damaged; not when readonly), log it, and
 * say so in msg.  move: the record itself goes too. */
void record_damaged(struct backend *be, const char *key, int move, int readonly, char *msg, size_t len);
/* The point catalog of item was damaged or missing (rpchain_conf.note says
 * what stood in for it): the item's error and the log (model_lock NOT held). */
void catalog_note(struct vault_rec *v, const char *item, const char *note);

/* record keys in the vault region and the target region */
void key_item(const struct vault_rec *v, const char *item, char *buf, size_t len);
void key_points(const struct vault_rec *v, const char *item, char *buf, size_t len);
void key_item_data(const struct vault_rec *v, const char *item, char *buf, size_t len);
void key_map(const struct vault_rec *v, const char *item, int disk, char *buf, size_t len);
/* A disk's key in its region: a managed disk of resource group parent or a
 * VHD of storage account parent. */
void disk_key(int managed, const char *parent, const char *name, char *buf, size_t len);

/* errors: record on an item/region/vault and log; returns rc */
int fail_item(struct item_rec *it, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fail_region(struct region *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fail_vault(struct vault_rec *v, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* job types: what jobs.c runs and a job record names; the types themselves
 * are defined by the files that run them (protect.c, verify.c, lifecycle.c) */
struct jobctx;
/* One step of a job type: a piece of work whose end the job's record notes
 * (job_rec.step), so a job resumed after a crash goes on at its first
 * unfinished step.  task is its row in the type's tasks[]: jobs.c shows that
 * task InProgress before the step and Succeeded after its last step; a step
 * whose task the job dropped does not apply.  fn may be cut short by a crash
 * and run again: it must be safe to repeat or tell it was half done.  A
 * step that fails marks nothing on success paths; jobs.c marks its task
 * Failed (a cancel or an unmount leaves it to the job's end). */
struct job_step {
	int task;
	int (*fn)(struct jobctx *c);
};
struct job_type {
	const char *name;           /* "Enable replication" */
	const char *slug;           /* "enable-replication" */
	const char *tasks[MAX_TASKS];
	enum item_state running_state; /* item state while it runs, IS_NONE: unchanged */
	enum item_state done_state;    /* on success, IS_NONE: the job sets it */
	enum item_state failed_state;  /* on failure, IS_NONE: the state before */
	/* Its work: steps[] ends with a NULL fn; a step's task is its index in
	 * tasks[], or, past the names there, the job's own row of that number
	 * (verify: one a disk, made at submission), the step not applying when
	 * the job has no such row.  begin, if set, runs before the first step
	 * of every run (first: its index; a resumed job starts past 0) and
	 * builds in ctx->data what the steps share from the
	 * item, the inventory and the job's plan; end, if set, runs after the
	 * last step or the one that failed (rc), undoes what a failure must and
	 * frees ctx->data.  model_lock NOT held for any of them. */
	const struct job_step *steps;
	int (*begin)(struct jobctx *ctx, int first);
	void (*end)(struct jobctx *ctx, int rc);
	int creates_item;           /* the job makes its item (enable): a cancel, or
	                               an end before the item was saved, leaves none */
	int removes_item;           /* on success its item is gone (disable) */
	int finds_mismatches;       /* its record keeps mismatched_bytes (verify) */
	int no_item;                /* a recovery plan's: the job's "item" names
				       its plan, no item's state follows it */
};
/* The job type a record's slug names, among the registered lists (model.c;
 * job_types_register: the table of operations' finder, registered at
 * start-up; every job type is an operation's). */
const struct job_type *job_type_by_slug(const char *slug);
void job_types_register(const struct job_type *(*find)(const char *slug));
const char *job_state_name(int s); /* "InProgress", ... */

#endif
