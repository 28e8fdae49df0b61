/*
 * verify.h - the Verify replication job (core/verify.c).
 */
#ifndef ASRFS_VERIFY_H
#define ASRFS_VERIFY_H

#include "model.h"

/* The Verify replication job; lifecycle_prepare submits it, then
 * verify_tasks() gives it one task per disk (model_lock held). */
extern const struct job_type JT_VERIFY;
void verify_tasks(const struct item_rec *it, struct job_rec *j);

#endif
