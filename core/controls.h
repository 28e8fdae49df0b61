/*
 * controls.h - control files and allowed-operations (core/controls.c); the
 * fs-facing calls are core.h's (core_item_control, core_vault_control,
 * core_item_allowed).
 */
#ifndef ASRFS_CONTROLS_H
#define ASRFS_CONTROLS_H

#include "model.h"

/* model_lock held: would a write to control be accepted now (state-wise)? */
int item_allowed(struct item_rec *it, const char *control);

#endif
