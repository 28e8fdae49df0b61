/*
 * controls.h - control files and allowed-operations (core/controls.c); the
 * fs-facing calls are core.h's (core_item_control, core_vault_control,
 * core_item_allowed).
 */
#ifndef ASRFS_CONTROLS_H
#define ASRFS_CONTROLS_H

#include "model.h"
#include "opdef.h"

/* model_lock held: would a write to control be accepted now (state-wise)? */
int item_allowed(struct item_rec *it, const char *control);

/* model_lock held: a write of line to item control op, checked in SPEC's
 * order (the vault, the line's syntax, a running job, the states, the
 * words) up to op's prepare: 0 with the line parsed into cl and a, or
 * -errno with the reason in the item's error. */
int item_control_check(const struct op_def *op, struct vault_rec *v, struct item_rec *it, const char *line,
		       size_t len, struct ctl_line *cl, struct op_args *a);

#endif
