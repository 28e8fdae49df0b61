/*
 * opdef.c - whether an item's state admits an operation, and the parser of
 * an operation's line (opdef.h).
 *
 * The line of a control is split into words once (ctl_parse, when it is
 * written) and its words are checked against the operation's keys and shape
 * once, by op_parse; a job re-reads its stored canonical line through the
 * same op_parse when it runs or resumes.
 */
#define _GNU_SOURCE
#include "opdef.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int op_allowed(const struct op_def *op, const struct item_rec *it)
{
	MODEL_LOCKED();
	if (op->vault_scope || it->damaged[0])
		return 0;
	if (op->flags & OPF_JOB)
		return it->job != NULL;
	if (it->job)
		return 0;
	if (op->flags & OPF_ANY_STATE)
		return 1;
	if (op->flags & OPF_TEST)
		return it->test_failover[0] != '\0';
	if ((op->flags & OPF_NO_TEST) && it->test_failover[0])
		return 0;
	return item_state_in(it->state, op->states);
}

static int is_point_word(const char *w)
{
	time_t t;
	return strcmp(w, "latest") == 0 || strcmp(w, "latest-processed") == 0 ||
	       strcmp(w, "latest-app-consistent") == 0 || strcmp(w, "latest-multi-vm-processed") == 0 ||
	       strcmp(w, "latest-multi-vm-app-consistent") == 0 || parse_time(w, &t) == 0;
}

/* The bare words of a line that takes 'start'. */
static int parse_start(const struct op_def *op, const struct ctl_line *cl, char *why, size_t len)
{
	int bare_ok = cl->nbare == 1 && (strcmp(cl->bare[0], "start") == 0 || strcmp(cl->bare[0], "1") == 0);
	int has_keys = op->keys && op->keys[0];

	if (op->shape == ARGS_JUST_START) {
		if (bare_ok && !cl->nkv)
			return 0;
	} else if (bare_ok || (cl->nbare == 0 && cl->nkv > 0 && has_keys)) {
		/* reprotect: "start" and/or overrides */
		return 0;
	}
	snprintf(why, len, "%s takes 'start'%s", op->name,
		 op->shape == ARGS_START_NOTES ? " or notes=..." : has_keys ? " and optional key=value overrides" : "");
	return -EINVAL;
}

/* The bare words of a line that takes a recovery point. */
static int parse_point(const struct op_def *op, const struct ctl_line *cl, struct op_args *a, char *why, size_t len)
{
	int one = op->shape == ARGS_ONE_POINT;

	if (cl->nbare > 1 || (one && cl->nbare != 1)) {
		snprintf(why, len, "%s takes %s: latest, latest-processed, latest-app-consistent, latest-multi-vm-processed, "
			 "latest-multi-vm-app-consistent or a point id", op->name,
			 one ? "one recovery point" : "at most one recovery point");
		return -EINVAL;
	}
	snprintf(a->point, sizeof(a->point), "%s", cl->nbare ? cl->bare[0] : "latest");
	if (!is_point_word(a->point)) {
		snprintf(why, len, "'%s' is not a recovery point: use latest, latest-processed, latest-app-consistent, "
			 "latest-multi-vm-processed, latest-multi-vm-app-consistent or an id like 2026-11-24T10:05:00Z",
			 a->point);
		return -EINVAL;
	}
	return 0;
}

/* A name-valued key into field (NAME_MAX_ bytes), checked by ok(). */
static int parse_name_key(struct ctl_line *cl, const char *key, char *field, int (*ok)(const char *, char *, size_t),
			  char *why, size_t len)
{
	const char *s = ctl_get(cl, key);
	int rc;

	if (!s)
		return 0;
	if ((rc = ok(s, why, len)) < 0)
		return rc;
	snprintf(field, NAME_MAX_, "%s", s);
	return 0;
}

static int network_ok(const char *s, char *why, size_t len) { return name_generic_ok("network", s, why, len); }
static int aset_ok(const char *s, char *why, size_t len) { return name_generic_ok("availability set", s, why, len); }

/* exclude-disks=<d1>,<d2>,...: disk names, each once (whether the VM has
 * them is the operation's to check). */
static int parse_disk_list(const char *s, struct op_args *a, char *why, size_t len)
{
	const char *p = s;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char name[NAME_MAX_];
		int rc;

		if (n == 0 || n >= sizeof(name) || a->nexclude == MAX_DISKS) {
			snprintf(why, len, "exclude-disks= takes disk names separated by commas, not '%s'", s);
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if ((rc = name_generic_ok("disk", name, why, len)) < 0)
			return rc;
		for (int i = 0; i < a->nexclude; i++)
			if (strcmp(a->exclude[i], name) == 0) {
				snprintf(why, len, "exclude-disks= names disk %s twice", name);
				return -EINVAL;
			}
		snprintf(a->exclude[a->nexclude++], NAME_MAX_, "%s", name);
		if (!end)
			return 0;
		p = end + 1;
	}
}

/* A line of key=value words alone: the values of enable-replication's
 * keys (the names' rules are util.c's; the regions, policy and VM are the
 * operation's to find). */
static int parse_keys(const struct op_def *op, struct ctl_line *cl, struct op_args *a, char *why, size_t len)
{
	const char *vm, *slash, *s;
	int rc;

	if (cl->nbare) {
		snprintf(why, len, "%s takes key=value words only, not '%s'", op->name, cl->bare[0]);
		return -EINVAL;
	}
	if ((s = ctl_get(cl, "bandwidth-limit-bytes-per-second")) != NULL &&
	    parse_u64(s, 0, UINT64_MAX, &a->bwlimit) < 0) {
		snprintf(why, len, "bandwidth-limit-bytes-per-second takes a whole number of bytes");
		return -EINVAL;
	}
	for (const char *const *k = op->needs; k && *k; k++)
		if (!ctl_get(cl, *k)) {
			snprintf(why, len, "%s needs %s", op->name, op->usage);
			return -EINVAL;
		}
	vm = ctl_get(cl, "vm");
	if (vm) {
		slash = strchr(vm, '/');
		if (!slash || slash - vm >= (long)sizeof(a->vm_rg)) {
			snprintf(why, len, "vm= takes <resource-group>/<vm>, not '%s'", vm);
			return -EINVAL;
		}
		snprintf(a->vm_rg, sizeof(a->vm_rg), "%.*s", (int)(slash - vm), vm);
		snprintf(a->vm, sizeof(a->vm), "%s", slash + 1);
		if ((rc = name_rg_ok(a->vm_rg, why, len)) < 0 || (rc = name_vm_ok(a->vm, why, len)) < 0)
			return rc;
	}
	if ((s = ctl_get(cl, "source")) != NULL)
		snprintf(a->source, sizeof(a->source), "%s", s);
	if ((s = ctl_get(cl, "target")) != NULL)
		snprintf(a->target, sizeof(a->target), "%s", s);
	if ((s = ctl_get(cl, "policy")) != NULL)
		snprintf(a->policy, sizeof(a->policy), "%s", s);
	if ((s = ctl_get(cl, "replication-group")) != NULL) {
		if ((rc = name_generic_ok("replication group", s, why, len)) < 0)
			return rc;
		snprintf(a->group, sizeof(a->group), "%s", s);
	}
	if ((s = ctl_get(cl, "exclude-disks")) != NULL)
		return parse_disk_list(s, a, why, len);
	return 0;
}

int op_parse(const struct op_def *op, struct ctl_line *cl, struct op_args *a, char *why, size_t len)
{
	const char *s;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (op->shape == ARGS_JUST_START)
		return parse_start(op, cl, why, len);
	rc = ctl_check_keys(cl, op->keys, why, len);
	if (rc < 0)
		return rc;
	if (op->shape == ARGS_KEYS) {
		rc = parse_keys(op, cl, a, why, len);
	} else if (op->shape == ARGS_POINT || op->shape == ARGS_ONE_POINT) {
		rc = parse_point(op, cl, a, why, len);
	} else if (op->shape == ARGS_START_NOTES && ctl_get(cl, "notes")) {
		/* notes=... is free text: the words after it belong to it */
		size_t used = (size_t)snprintf(a->notes, sizeof(a->notes), "%s", ctl_get(cl, "notes"));
		for (int i = 0; i < cl->nbare && used < sizeof(a->notes); i++)
			used += (size_t)snprintf(a->notes + used, sizeof(a->notes) - used, " %s", cl->bare[i]);
	} else {
		rc = parse_start(op, cl, why, len);
	}
	if (rc < 0)
		return rc;
	if ((s = ctl_get(cl, "shutdown")) != NULL) {
		if (strcmp(s, "yes") != 0 && strcmp(s, "no") != 0) {
			snprintf(why, len, "shutdown= takes yes or no");
			return -EINVAL;
		}
		a->shutdown = strcmp(s, "yes") == 0;
	}
	if ((rc = parse_name_key(cl, "network", a->network, network_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "target-resource-group", a->trg, name_rg_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "target-storage-account", a->tsa, name_sa_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "cache-storage-account", a->cache, name_sa_ok, why, len)) < 0 ||
	    (rc = parse_name_key(cl, "availability-set", a->aset, aset_ok, why, len)) < 0)
		return rc;
	return 0;
}
