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
 * jobs find their operation in it (through a function registered at
 * start-up, since they sit below it).  The types and the parser are
 * opdef.h's.  Adding an operation is one entry in ops.c plus its prepare,
 * check and job functions.
 */
#ifndef ASRFS_OPS_H
#define ASRFS_OPS_H

#include "opdef.h"

extern const struct op_def op_table[]; /* terminated by {.name = NULL} */

/* The operation with this file name, or NULL. */
const struct op_def *op_find(const char *name);
/* The job type whose slug (a job record's "type") is slug, or NULL:
 * every job type is an operation's. */
const struct job_type *op_job_type(const char *slug);
/* The operation whose job type t is, or NULL. */
const struct op_def *op_of_job(const struct job_type *t);

#endif
