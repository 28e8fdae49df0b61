/*
 * rules.h - the rules of a control beyond item states (core/rules.c).
 * Every function here is called with model_lock held.
 */
#ifndef ASRFS_RULES_H
#define ASRFS_RULES_H

#include "model.h"

/* 0 when region r is up and its inventory loaded; else -EHOSTUNREACH with
 * why naming r and its role for the control. */
int region_up(struct region *r, const char *role, char *why, size_t len);
/* Region and VM rules of a control beyond its states (the check() of
 * ops.c's entries; jobs that resume ask them again): 0 or -errno with the
 * reason in why. */
int check_recovery_region(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
int check_both_regions(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
int check_test_region(struct vault_rec *v, struct item_rec *it, char *why, size_t len);
int check_reprotect(struct vault_rec *v, struct item_rec *it, char *why, size_t len);

#endif
