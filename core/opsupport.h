/*
 * opsupport.h - what the item operations after enable share (core/
 * opsupport.c): the inventory changes they make, the recovery-point disks
 * they build, the VM's power, a job's own line read back, and the context
 * of the operations on the target side (failover, change-recovery-point,
 * test failover).  Only the operation files include it: failover.c,
 * reprotect.c, testfailover.c, resync.c and lifecycle.c (their prepare).
 */
#ifndef ASRFS_OPSUPPORT_H
#define ASRFS_OPSUPPORT_H

#include "jobs.h"
#include "model.h"
#include "opdef.h"

#include <json-c/json.h>

#define TMP_SUFFIX "-asrtmp"
#define REPLICA_SUFFIX "-ASRReplica"

#define T_PREREQ "Prerequisites check"
#define T_SHUTDOWN "Shut down the virtual machine"
#define T_SYNCLAST "Synchronizing the latest changes"
#define T_FAILOVER "Start failover"
#define T_STARTVM "Start the replica virtual machine"
#define T_STARTREP "Starting delta replication"

struct dtarget {
	int managed;
	char parent[NAME_MAX_], name[NAME_MAX_];
	uint64_t size;
};

/* What the steps of an operation on the target side (failover, change
 * recovery point, test failover) share: its arguments, the item as it read
 * when the job (or its resume) began, its regions and recovery points, the
 * point it uses, and the VM this run powered off (restarted if it fails). */
struct op_ctx {
	struct op_args a;
	struct item_rec snap;
	struct region *src, *tgt;
	struct rpchain *ch;
	char point[RP_ID_MAX];
	char vnet[NAME_MAX_];
	struct region *stop_r; /* where the VM this run powered off runs, or NULL */
	char stop_rg[NAME_MAX_];
};

/* A type's reading of the item, regions and points into x (model_lock NOT
 * held); its prerequisites step calls it, and begin on a resume. */
typedef int (*op_load_fn)(struct jobctx *c, struct op_ctx *x);


void replica_of(const char *disk, char *out, size_t len);
void mapped_vnet(struct vault_rec *v, const char *src_region, const char *vnet, char *out, size_t len);
int vm_put(struct region *r, const struct vm_info *vi);
int vm_remove(struct region *r, const char *rg, const char *name);
struct disk_rec **disk_list(struct region *r, int managed, const char *parent);
struct disk_rec *disk_at(struct region *r, int managed, const char *parent, const char *name);
int disk_rename_inv(struct region *r, int managed, const char *fparent, const char *fname,
		    const char *tparent, const char *tname);
int mapping_add(struct vault_rec *v, const char *src, const char *vnet, const char *target);
void job_progress(struct jobctx *c, int pct);
int cancel_only(void *arg, const struct delta_stats *st);
int resolve_point(struct vault_rec *v, const char *item, struct rpchain *ch, const char *word,
		  char out[RP_ID_MAX], char *why, size_t len);
int build_from_point(struct jobctx *c, struct region *r, struct rpchain *ch, const char *point, int n,
		     const struct dtarget *d, int pct_from, int pct_to);
int item_targets(const struct item_rec *it, const char *suffix, struct dtarget *d);
int vm_targets(const struct item_rec *it, const char *suffix, struct dtarget *d);
int build_excluded(struct jobctx *c, struct region *r, const struct item_rec *it, const char *suffix);
int ensure_target(struct region *tgt, const struct item_rec *it, const char *vnet, int with_aset);
void vm_from_targets(struct vm_info *vi, const char *name, const char *rg, const char *region,
		     const char *net, const char *aset, int n, const struct dtarget *d);
int vm_power(struct region *r, const char *rg, const char *name, int running, int *was);
int job_args(struct jobctx *c, struct op_args *a);
int check_point(struct vault_rec *v, struct item_rec *it, const char *control, const char *word);
uint64_t item_bytes(const struct item_rec *it);
int snap_item(struct jobctx *c, struct item_rec *snap, const char *role, struct region **src,
	      struct region **tgt, char *vnet);
int pick_point(struct jobctx *c, struct rpchain *ch, const char *word, char point[RP_ID_MAX]);
int open_points(struct jobctx *c, struct rpchain **ch, const char *word, char point[RP_ID_MAX]);
int vm_stop(struct region *r, const char *rg, const char *name, int *stopped);
void vm_restart(struct region *r, const char *rg, const char *name);
int build_target(struct jobctx *c, struct region *tgt, const struct item_rec *snap, int test, char *vnet,
		 struct rpchain *ch, const char *point, struct dtarget *dt, int *n);
int op_begin(struct jobctx *c, int first, op_load_fn load);
void op_end(struct jobctx *c, int rc);
int op_vm_stop(struct op_ctx *x, struct region *r, const char *rg);

/* A field of a parsed plan record: the string ("" when absent) or the
 * number (0 when absent). */
int jint_of(json_object *o, const char *k);
const char *jstr_of(json_object *o, const char *k);

/* The rule of which states take a control (vault.c's item_allowed) and the
 * table's entry of a job type (ops.c's op_of_job), both above this file:
 * registered at start-up. */
void lifecycle_set_allowed(int (*allowed)(struct item_rec *it, const char *control),
			   const struct op_def *(*of_job)(const struct job_type *t));

#endif
