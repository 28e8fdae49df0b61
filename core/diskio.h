/*
 * diskio.h - the bytes behind the tree's disk files (core/diskio.c).  Its
 * fs-facing API is in core.h (core_disk_*, core_point_*, core_points).
 */
#ifndef ASRFS_DISKIO_H
#define ASRFS_DISKIO_H

#include "model.h"

/* A point image's chain turned stale: swap in a freshly opened one, pinned
 * (model_lock NOT held). */
int core_point_rechain(const char *vault, const char *item, struct rpchain **chain); /* model_lock NOT held */

#endif
