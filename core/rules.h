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
/* Region and VM rules of a control beyond its states: 0 or -errno with the
 * reason in why (why may be NULL). */
int lifecycle_check(struct vault_rec *v, struct item_rec *it, const char *control, char *why, size_t len);

#endif
