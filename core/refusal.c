/*
 * refusal.c - the `error` file's side of a refused write through the tree.
 *
 * SPEC section 4 and 8: every refused write (and mkdir, rmdir, rename) gets
 * an errno and a message in the `error` file of the object it was aimed at:
 * an item's, else a vault's, else a region's.  Core's own checks write that
 * message as they refuse; fs/ calls these two around each change so that
 * the message always exists, is the one for this write (never an earlier
 * refusal's) and names the file or directory the write went to.  Every
 * message stored here names what it is about, so a message core did not
 * rewrite is told from a new one by comparing it with the one before.
 */
#define _GNU_SOURCE
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* model_lock held: the error buffer of the object that owns what a write
 * went to, or NULL when there is none (a gone object, the root). */
static char *owner_error(const struct refusal_owner *o, char **name)
{
	struct vault_rec *v;
	struct item_rec *it;
	struct region *r;

	if (o->vault) {
		v = vault_find(o->vault);
		if (!v)
			return NULL;
		it = o->item ? item_find(v, o->item) : NULL;
		if (o->item && !it)
			return NULL;
		*name = it ? it->name : v->name;
		return it ? it->error : v->error;
	}
	r = o->region ? region_find(o->region) : NULL;
	if (!r)
		return NULL;
	*name = r->name;
	return r->error;
}

void core_refusal_begin(const struct refusal_owner *o, char *saved, size_t len)
{
	char *err, *name;
	saved[0] = '\0';
	lock_model();
	err = owner_error(o, &name);
	if (err)
		snprintf(saved, len, "%s", err);
	unlock_model();
}

/* Does msg already start by naming what (its whole path, or its last part,
 * followed by a space or a colon)? */
static int names(const char *msg, const char *what)
{
	const char *base = strrchr(what, '/');
	const char *cands[2] = {what, base ? base + 1 : what};
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(cands[i]);
		if (n && strncmp(msg, cands[i], n) == 0 && (msg[n] == ' ' || msg[n] == ':'))
			return 1;
	}
	return 0;
}

void core_refusal_end(const struct refusal_owner *o, const char *saved, const char *what, int rc,
		      const char *why)
{
	char msg[ERR_MAX], *err, *name;

	lock_model();
	err = owner_error(o, &name);
	if (!err || rc >= 0) /* accepted: error is what core made it */
		goto out;
	if (why)
		snprintf(msg, sizeof(msg), "%s: %s", what, why);
	else if (!err[0] || (strcmp(err, saved) == 0 && !names(err, what)))
		/* core gave no reason: an earlier refusal's must not stand in */
		snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-rc));
	else if (!names(err, what))
		snprintf(msg, sizeof(msg), "%s: %s", what, err);
	else
		snprintf(msg, sizeof(msg), "%s", err);
	if (why || strcmp(msg, err) != 0)
		logmsg("%s: %s", name, msg);
	snprintf(err, ERR_MAX, "%s", msg);
out:
	unlock_model();
}
