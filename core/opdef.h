/*
 * opdef.h - what an operation is, without the table of them (ops.h): the
 * shape of a control's line, struct op_def, and the two rules read from an entry alone: whether an
 * item's state admits it (op_allowed) and the parser of its line
 * (op_parse).  Files below the table (lifecycle.c, jobs) need these; the
 * table itself names their functions, so it sits above them.
 */
#ifndef ASRFS_OPDEF_H
#define ASRFS_OPDEF_H

#include "model.h"

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
	ARGS_KEYS,        /* key=value words only; op_def.needs must be given */
};

/* A line parsed by op_parse: every value the keys of the table may give. */
struct op_args {
	char point[RP_ID_MAX + 32];
	int shutdown;
	char network[NAME_MAX_];
	char trg[NAME_MAX_], tsa[NAME_MAX_], cache[NAME_MAX_], aset[NAME_MAX_];
	char notes[256];
	/* enable-replication's */
	char vm_rg[NAME_MAX_], vm[NAME_MAX_]; /* vm=<rg>/<vm> */
	char source[NAME_MAX_], target[NAME_MAX_], policy[NAME_MAX_];
	uint64_t bwlimit;                     /* 0: none */
	char group[NAME_MAX_];                /* replication-group=, "" if none */
	int nexclude;                         /* exclude-disks=<d1>,<d2>,... */
	char exclude[MAX_DISKS][NAME_MAX_];
};

struct op_def {
	const char *name;            /* the control file, the allowed-operations word */
	int vault_scope;             /* 1: a control of the vault, not of an item */
	unsigned states;             /* IS_BIT()s of the states it is accepted in */
	unsigned flags;              /* OPF_* */
	const char *const *keys;     /* the key=value keys it accepts, NULL-terminated */
	enum op_shape shape;
	const char *const *needs;    /* ARGS_KEYS: the keys it cannot do without */
	const char *usage;           /* ARGS_KEYS: them, as the refusal shows them */
	/* The region and VM rules beyond states (model_lock held): 0, or
	 * -errno with the reason in why.  NULL: none. */
	int (*check)(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
	/* Item operations, model_lock held, after the states and op_parse:
	 * refuse (fail_item) or queue the job.  line is the written line,
	 * terminated at its first newline. */
	int (*prepare)(const struct op_def *op, struct vault_rec *v, struct item_rec *it, struct ctl_line *cl,
		       const struct op_args *a, const char *line);
	/* Vault operations: the whole write, model_lock NOT held; op_parse
	 * with op is theirs to call on the line. */
	int (*vault_control)(const struct op_def *op, const char *vault, const char *line, size_t len);
	const struct job_type *job;  /* NULL: it runs no job (cancel) */
};

/* model_lock held: whether it is in a state (and job, test failover) that
 * op is accepted in; a damaged item takes none. */
int op_allowed(const struct op_def *op, const struct item_rec *it);
/* The words of a parsed line against op's keys and shape, into a (no model
 * access): 0, or -EINVAL with the reason in why. */
int op_parse(const struct op_def *op, struct ctl_line *cl, struct op_args *a, char *why, size_t len);

#endif
