/*
 * ops.h - the table of operations: one entry per control file of SPEC
 * section 4 (item controls and the vault's enable-replication).
 *
 * An entry says everything that is particular to an operation outside its
 * job: its file name (also its word in allowed-operations), the item states
 * it is accepted in, the keys and the shape of its line, its check() of the
 * region and VM rules beyond states, how it is prepared and its job type.
 * fs/nodes.c makes the control files from it, vault.c checks states,
 * renders allowed-operations and dispatches writes with it, lifecycle.c and
 * jobs find their operation in it, and a job type is looked up in it by
 * its slug.  Adding an operation is one entry in ops.c plus its prepare,
 * check and job functions.
 */
#ifndef ASRFS_OPS_H
#define ASRFS_OPS_H

#include "model.h"

/* The item states of SPEC 7, in its order. */
enum item_state {
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
#define IS_BIT(s) (1u << (s))

/* The states' names as the tree shows them, NULL-terminated. */
extern const char *const item_state_names[IS_COUNT + 1];
/* The state named name, or -EINVAL. */
int item_state_parse(const char *name);

/* When an item operation is accepted, beyond op_def.states. */
#define OPF_ANY_STATE 1u  /* in every state (no job running) */
#define OPF_JOB 2u        /* only while a job runs (and then in any state) */
#define OPF_TEST 4u       /* only while a test failover exists (any state) */
#define OPF_NO_TEST 8u    /* refused while a test failover exists */

/* The shape of an operation's line (besides its keys). */
enum op_shape {
	ARGS_START,       /* 'start' (or '1'); with keys, the keys alone will do */
	ARGS_POINT,       /* at most one recovery point word, 'latest' if none */
	ARGS_ONE_POINT,   /* exactly one recovery point word */
	ARGS_START_NOTES, /* 'start' or notes=<free text to the end of the line> */
	ARGS_JUST_START,  /* 'start' and nothing else; refused as "<op> takes 'start'" */
	ARGS_OWN,         /* parsed by the operation itself (enable-replication) */
};

/* A line parsed by op_parse: every value the keys of the table may give. */
struct op_args {
	char point[RP_ID_MAX + 32];
	int shutdown;
	char network[NAME_MAX_];
	char trg[NAME_MAX_], tsa[NAME_MAX_], cache[NAME_MAX_], aset[NAME_MAX_];
	char notes[256];
};

struct op_def {
	const char *name;            /* the control file, the allowed-operations word */
	int vault_scope;             /* 1: a control of the vault, not of an item */
	unsigned states;             /* IS_BIT()s of the states it is accepted in */
	unsigned flags;              /* OPF_* */
	const char *const *keys;     /* the key=value keys it accepts, NULL-terminated */
	enum op_shape shape;
	/* The region and VM rules beyond states (model_lock held): 0, or
	 * -errno with the reason in why.  NULL: none. */
	int (*check)(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
	/* Item operations, model_lock held, after the states and op_parse:
	 * refuse (fail_item) or queue the job.  line is the written line,
	 * terminated at its first newline. */
	int (*prepare)(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		       const struct op_args *a, const char *line);
	/* Vault operations: the whole write, model_lock NOT held. */
	int (*vault_control)(const char *vault, const char *line, size_t len);
	const struct job_type *job;  /* NULL: it runs no job (cancel) */
};

extern const struct op_def ops[]; /* terminated by {.name = NULL} */

/* The operation with this file name, or NULL. */
const struct op_def *op_find(const char *name);
/* The operation whose job type t is, or NULL. */
const struct op_def *op_of_job(const struct job_type *t);
/* model_lock held: whether it is in a state (and job, test failover) that
 * op is accepted in; a damaged item takes none. */
int op_allowed(const struct op_def *op, const struct item_rec *it);
/* The words of a parsed line against op's keys and shape, into a (no model
 * access): 0, or -EINVAL with the reason in why. */
int op_parse(const struct op_def *op, struct ctl_line *cl, struct op_args *a, char *why, size_t len);

/* lifecycle.c: the prepare and the checks its operations' entries name. */
int lifecycle_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		      const struct op_args *a, const char *line);
int check_recovery_region(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
int check_both_regions(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
int check_test_region(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
int check_reprotect(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
/* lifecycle.c's job types, the table's. */
extern const struct job_type JT_FAILOVER, JT_CRP, JT_COMMIT, JT_REPROTECT, JT_TEST_FAILOVER, JT_CLEANUP_TF,
	JT_RESYNC, JT_MIGRATE;
/* vault.c: the prepare of disable and cancel. */
int disable_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		    const struct op_args *a, const char *line);
int cancel_prepare(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		   const struct op_args *a, const char *line);

#endif
