/*
 * ops.h - the FUSE operations table of asrfs (fs/ops.c).
 */
#ifndef ASRFS_OPS_H
#define ASRFS_OPS_H

#include "nodes.h"

struct fuse_operations;
extern const struct fuse_operations asrfs_ops;
/* After the loop ends, before core stops: close the handles no release
 * came for (files still open when the mount went). */
void asr_close_all(void);

#endif
