/*
 * ops.h - the FUSE operations table of asrfs (fs/ops.c).
 */
#ifndef ASRFS_OPS_H
#define ASRFS_OPS_H

#include "nodes.h"

struct fuse_operations;
extern const struct fuse_operations asrfs_ops;

#endif
