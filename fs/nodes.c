/*
 * nodes.c - the tables of the tree (SPEC section 3) and the show/store
 * functions behind its files.  Each show() asks core/ for a copy and
 * formats one value and a newline; each store() hands the written line to
 * core/, which validates it.  No state lives here.
 */
#define _GNU_SOURCE
#include "nodes.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RO 0444
#define WO 0200
#define RW 0644
#define CTX(f) offsetof(struct ctx, f)

/* Table rows. */
#define SHOW(n, s) {.name = n, .mode = RO, .kind = A_TEXT, .show = s}
#define SHOW_IF(n, s, p) {.name = n, .mode = RO, .kind = A_TEXT, .show = s, .present = p}
#define SETT(n, s, st) {.name = n, .mode = RW, .kind = A_TEXT, .show = s, .store = st}
#define CTRL(n, st) {.name = n, .mode = WO, .kind = A_TEXT, .store = st}
#define LINK(n, s, p) {.name = n, .mode = 0777, .kind = A_LINK, .show = s, .present = p}
#define DISK(m, sz, op) {.name = NULL, .mode = m, .kind = A_DISK, .size = sz, .open = op}
#define DISK_RW(sz, op, ro) {.name = NULL, .mode = RW, .kind = A_DISK, .size = sz, .open = op, .readonly = ro}
#define END {.name = NULL}

int fs_allow_other;

mode_t attr_mode(const struct attr *a, const struct ctx *c)
{
	mode_t m = a->mode;
	if (a->kind != A_DISK)
		return m;
	if (a->readonly && a->readonly(c))
		m &= ~(mode_t)0222;
	if (fs_allow_other)
		m &= 0700; /* VM data is the owner's alone on a shared mount */
	return m;
}

/* ---- root ---- */

static int show_version(const struct ctx *c, struct sbuf *o)
{
	(void)c;
	sb_puts(o, ASRFS_VERSION "\n");
	return 0;
}

static int show_readme(const struct ctx *c, struct sbuf *o)
{
	(void)c;
	core_render_readme(o);
	return 0;
}

static int show_metrics(const struct ctx *c, struct sbuf *o)
{
	(void)c;
	core_render_metrics(o);
	return 0;
}

static int list_shortcuts(const struct ctx *c, struct strlist *out)
{
	struct strlist vaults = {0};
	int rc;
	(void)c;
	rc = core_shortcuts(out, &vaults);
	sl_free(&vaults);
	return rc;
}

static int has_shortcut(const struct ctx *c, const char *name)
{
	char vault[NAME_MAX_];
	(void)c;
	return core_shortcut(name, vault, sizeof(vault)) == 0;
}

static int show_shortcut(const struct ctx *c, struct sbuf *o)
{
	char vault[NAME_MAX_];
	int rc = core_shortcut(c->shortcut, vault, sizeof(vault));
	if (rc == 0)
		sb_printf(o, "vaults/%s/items/%s", vault, c->shortcut);
	return rc;
}

/* ---- regions ---- */

static int list_regions(const struct ctx *c, struct strlist *o) { (void)c; return core_regions(o); }

static int show_region_status(const struct ctx *c, struct sbuf *o)
{
	struct region_info ri;
	int rc = core_region_info(c->region, &ri);
	if (rc == 0)
		sb_printf(o, ri.available ? "available\n" : "unavailable: %s\n", ri.reason);
	return rc;
}

static int show_region_backend(const struct ctx *c, struct sbuf *o)
{
	struct region_info ri;
	int rc = core_region_info(c->region, &ri);
	if (rc == 0)
		sb_printf(o, "%s\n", ri.backend);
	return rc;
}

static int show_region_error(const struct ctx *c, struct sbuf *o)
{
	struct region_info ri;
	int rc = core_region_info(c->region, &ri);
	if (rc == 0)
		sb_printf(o, "%s\n", ri.error);
	return rc;
}

static int store_create_vm(const struct ctx *c, const char *b, size_t n) { return core_region_create_vm(c->region, b, n); }

static int list_rgs(const struct ctx *c, struct strlist *o) { return core_rgs(c->region, o); }
static int mkdir_rg(const struct ctx *c, const char *n) { return core_rg_create(c->region, n); }
static int rmdir_rg(const struct ctx *c, const char *n) { return core_rg_delete(c->region, n); }
static int list_vms(const struct ctx *c, struct strlist *o) { return core_vms(c->region, c->rg, o); }
static int rmdir_vm(const struct ctx *c, const char *n) { return core_vm_delete(c->region, c->rg, n); }

#define VM_SHOW(fn, expr)                                                      \
	static int fn(const struct ctx *c, struct sbuf *o)                     \
	{                                                                      \
		struct vm_info vi;                                             \
		int rc = core_vm_info(c->region, c->rg, c->vm, &vi);           \
		if (rc == 0)                                                   \
			sb_printf(o, "%s\n", (expr));                          \
		return rc;                                                     \
	}
VM_SHOW(show_vm_power, vi.running ? "running" : "stopped")
VM_SHOW(show_vm_network, vi.network)
VM_SHOW(show_vm_aset, vi.availability_set)
VM_SHOW(show_vm_rg, vi.rg)

static int show_vm_disks(const struct ctx *c, struct sbuf *o)
{
	struct vm_info vi;
	int rc = core_vm_info(c->region, c->rg, c->vm, &vi);
	for (int i = 0; rc == 0 && i < vi.ndisks; i++)
		sb_printf(o, "%s\n", vi.disks[i].name);
	return rc;
}

static int show_vm_json(const struct ctx *c, struct sbuf *o) { return core_vm_json(c->region, c->rg, c->vm, o); }
static int store_vm_power(const struct ctx *c, const char *b, size_t n) { return core_vm_power(c->region, c->rg, c->vm, b, n); }

static int list_rg_disks(const struct ctx *c, struct strlist *o) { return core_rg_disks(c->region, c->rg, o); }
static int size_rg_disk(const struct ctx *c, uint64_t *s) { return core_disk_size(c->region, 0, c->rg, c->disk, s); }
static int open_rg_disk(const struct ctx *c, int w, struct core_disk **d) { return core_disk_open(c->region, 0, c->rg, c->disk, w, d); }

static int list_asets(const struct ctx *c, struct strlist *o) { return core_rg_asets(c->region, c->rg, o); }
static int list_nets(const struct ctx *c, struct strlist *o) { return core_rg_networks(c->region, c->rg, o); }
static int show_location(const struct ctx *c, struct sbuf *o)
{
	sb_printf(o, "%s\n", c->region);
	return 0;
}

static int list_sas(const struct ctx *c, struct strlist *o) { return core_storage_accounts(c->region, o); }
static int list_vhds(const struct ctx *c, struct strlist *o) { return core_sa_vhds(c->region, c->sa, o); }

/* "<disk>.vhd" → "<disk>" */
static void vhd_base(const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);
	snprintf(buf, len, "%.*s", (int)(n > 4 ? n - 4 : n), name);
}

static int size_vhd(const struct ctx *c, uint64_t *s)
{
	char b[256];
	vhd_base(c->disk, b, sizeof(b));
	return core_disk_size(c->region, 1, c->sa, b, s);
}

static int open_vhd(const struct ctx *c, int w, struct core_disk **d)
{
	char b[256];
	vhd_base(c->disk, b, sizeof(b));
	return core_disk_open(c->region, 1, c->sa, b, w, d);
}

static int ro_rg_disk(const struct ctx *c) { return core_disk_readonly(c->region, 0, c->rg, c->disk); }

static int ro_vhd(const struct ctx *c)
{
	char b[256];
	vhd_base(c->disk, b, sizeof(b));
	return core_disk_readonly(c->region, 1, c->sa, b);
}

static const struct attr vm_files[] = {
	SETT("power", show_vm_power, store_vm_power),
	SHOW("network", show_vm_network),
	SHOW("availability-set", show_vm_aset),
	SHOW("resource-group", show_vm_rg),
	SHOW("disks", show_vm_disks),
	SHOW("vm.json", show_vm_json),
	END,
};
static const struct dirtype vm_dir = {.what = "vm", .mode = 0755, .files = vm_files};
static const struct dirtype vms_dir = {.what = "vms", .mode = 0755, .list = list_vms, .child_dir = &vm_dir, .ctx_off = CTX(vm), .rmdir = rmdir_vm};

static const struct attr rg_disk_file = DISK_RW(size_rg_disk, open_rg_disk, ro_rg_disk);
static const struct dirtype rg_disks_dir = {.what = "disks", .mode = 0555, .list = list_rg_disks, .child_file = &rg_disk_file, .ctx_off = CTX(disk)};
static const struct attr location_file = SHOW(NULL, show_location);
static const struct dirtype asets_dir = {.what = "availability-sets", .mode = 0555, .list = list_asets, .child_file = &location_file, .ctx_off = CTX(aset)};
static const struct dirtype nets_dir = {.what = "networks", .mode = 0555, .list = list_nets, .child_file = &location_file, .ctx_off = CTX(net)};
static const struct subdir rg_subdirs[] = {
	{.name = "vms", .type = &vms_dir}, {.name = "disks", .type = &rg_disks_dir}, {.name = "availability-sets", .type = &asets_dir}, {.name = "networks", .type = &nets_dir}, {.name = NULL},
};
static const struct dirtype rg_dir = {.what = "resource group", .mode = 0755, .subdirs = rg_subdirs};
static const struct dirtype rgs_dir = {.what = "resource-groups", .mode = 0755, .list = list_rgs, .child_dir = &rg_dir, .ctx_off = CTX(rg), .mkdir = mkdir_rg, .rmdir = rmdir_rg};

static const struct attr vhd_file = DISK_RW(size_vhd, open_vhd, ro_vhd);
static const struct dirtype vhds_dir = {.what = "vhds", .mode = 0555, .list = list_vhds, .child_file = &vhd_file, .ctx_off = CTX(disk)};
static const struct subdir sa_subdirs[] = {{.name = "vhds", .type = &vhds_dir}, END};
static const struct dirtype sa_dir = {.what = "storage account", .mode = 0555, .subdirs = sa_subdirs};
static const struct dirtype sas_dir = {.what = "storage-accounts", .mode = 0555, .list = list_sas, .child_dir = &sa_dir, .ctx_off = CTX(sa)};

static const struct attr region_files[] = {
	SHOW("status", show_region_status),
	SHOW("backend", show_region_backend),
	SHOW("error", show_region_error),
	CTRL("create-vm", store_create_vm),
	END,
};
static const struct subdir region_subdirs[] = {{.name = "resource-groups", .type = &rgs_dir}, {.name = "storage-accounts", .type = &sas_dir}, END};
static const struct dirtype region_dir = {.what = "region", .mode = 0555, .files = region_files, .subdirs = region_subdirs};
static const struct dirtype regions_dir = {.what = "regions", .mode = 0555, .list = list_regions, .child_dir = &region_dir, .ctx_off = CTX(region)};

/* ---- vaults ---- */

static int list_vaults(const struct ctx *c, struct strlist *o) { (void)c; return core_vaults(o); }

static int show_vault_region(const struct ctx *c, struct sbuf *o)
{
	struct vault_info vi;
	int rc = core_vault_info(c->vault, &vi);
	if (rc == 0)
		sb_printf(o, "%s\n", vi.region);
	return rc;
}

static int show_vault_error(const struct ctx *c, struct sbuf *o)
{
	struct vault_info vi;
	int rc = core_vault_info(c->vault, &vi);
	if (rc == 0)
		sb_printf(o, "%s\n", vi.error);
	return rc;
}

static int show_vault_mode(const struct ctx *c, struct sbuf *o)
{
	struct vault_info vi;
	int rc = core_vault_info(c->vault, &vi);
	if (rc == 0)
		sb_printf(o, "%s\n", vi.readonly ? "read-only" : "managed");
	return rc;
}

/* policies */
static int list_policies(const struct ctx *c, struct strlist *o) { return core_policies(c->vault, o); }
static int mkdir_policy(const struct ctx *c, const char *n) { return core_policy_create(c->vault, n); }
static int rmdir_policy(const struct ctx *c, const char *n) { return core_policy_delete(c->vault, n); }

#define POLICY_ATTR(fn, attrname, field)                                                     \
	static int show_##fn(const struct ctx *c, struct sbuf *o)                            \
	{                                                                                    \
		struct policy_info pi;                                                       \
		int rc = core_policy_info(c->vault, c->policy, &pi);                         \
		if (rc == 0)                                                                 \
			sb_printf(o, "%llu\n", (unsigned long long)pi.field);                \
		return rc;                                                                   \
	}                                                                                    \
	static int store_##fn(const struct ctx *c, const char *b, size_t n)                  \
	{                                                                                    \
		return core_policy_set(c->vault, c->policy, attrname, b, n);                 \
	}
POLICY_ATTR(retention, POLICY_RETENTION, retention_hours)
POLICY_ATTR(crash, POLICY_CRASH, crash_frequency_seconds)
POLICY_ATTR(app, POLICY_APP, app_frequency_minutes)
POLICY_ATTR(rpo, POLICY_RPO, rpo_threshold_seconds)

static const struct attr policy_files[] = {
	SETT(POLICY_RETENTION, show_retention, store_retention),
	SETT(POLICY_CRASH, show_crash, store_crash),
	SETT(POLICY_APP, show_app, store_app),
	SETT(POLICY_RPO, show_rpo, store_rpo),
	END,
};
static const struct dirtype policy_dir = {.what = "policy", .mode = 0755, .files = policy_files};
static const struct dirtype policies_dir = {.what = "policies", .mode = 0755, .list = list_policies, .child_dir = &policy_dir, .ctx_off = CTX(policy), .mkdir = mkdir_policy, .rmdir = rmdir_policy};

/* network mappings */
static int list_map_regions(const struct ctx *c, struct strlist *o) { return core_mapping_regions(c->vault, o); }
static int list_map_vnets(const struct ctx *c, struct strlist *o) { return core_mapping_vnets(c->vault, c->srcregion, o); }

static int show_mapping(const struct ctx *c, struct sbuf *o)
{
	char t[256];
	int rc = core_mapping_get(c->vault, c->srcregion, c->vnet, t, sizeof(t));
	if (rc == 0)
		sb_printf(o, "%s\n", t);
	return rc;
}

static int store_mapping(const struct ctx *c, const char *b, size_t n)
{
	return core_mapping_set(c->vault, c->srcregion, c->vnet, b, n);
}

static int create_mapping(const struct ctx *c, const char *name)
{
	(void)c;
	(void)name;
	return 0; /* the write that follows creates it, or is refused */
}

static const struct attr mapping_file = SETT(NULL, show_mapping, store_mapping);
static const struct dirtype map_region_dir = {.what = "mapping source", .mode = 0755, .list = list_map_vnets, .child_file = &mapping_file, .ctx_off = CTX(vnet), .create = create_mapping};
static const struct dirtype mappings_dir = {.what = "network-mappings", .mode = 0555, .list = list_map_regions, .child_dir = &map_region_dir, .ctx_off = CTX(srcregion)};

/* items */
static int list_items(const struct ctx *c, struct strlist *o) { return core_items(c->vault, o); }
static int has_item(const struct ctx *c, const char *name) { return core_item_exists(c->vault, name); }

#define ITEM_SHOW(fn, fmt, ...)                                                \
	static int fn(const struct ctx *c, struct sbuf *o)                     \
	{                                                                      \
		struct item_info ii;                                           \
		int rc = core_item_info(c->vault, c->item, &ii);               \
		if (rc == 0)                                                   \
			sb_printf(o, fmt "\n", __VA_ARGS__);                   \
		return rc;                                                     \
	}
ITEM_SHOW(show_state, "%s", ii.state)
ITEM_SHOW(show_health, "%s", ii.health)
ITEM_SHOW(show_last_point, "%s", ii.last_point)
ITEM_SHOW(show_direction, "%s -> %s", ii.source_region, ii.target_region)
ITEM_SHOW(show_active, "%s", ii.active_region)
ITEM_SHOW(show_progress, "%d", ii.progress)
ITEM_SHOW(show_error, "%s", ii.error)
ITEM_SHOW(show_policy, "%s", ii.policy)
ITEM_SHOW(show_trg, "%s", ii.target_rg)
ITEM_SHOW(show_tsa, "%s", ii.target_sa)
ITEM_SHOW(show_csa, "%s", ii.cache_sa)
ITEM_SHOW(show_aset, "%s", ii.aset)
ITEM_SHOW(show_tnet, "%s", ii.target_network)
ITEM_SHOW(show_bwlimit, "%llu", (unsigned long long)ii.bwlimit)

static int show_rpo_seconds(const struct ctx *c, struct sbuf *o)
{
	struct item_info ii;
	int rc = core_item_info(c->vault, c->item, &ii);
	if (rc == 0 && ii.rpo_valid)
		sb_printf(o, "%lld\n", (long long)ii.rpo_seconds);
	else if (rc == 0)
		sb_puts(o, "\n"); /* no recovery point yet: no RPO */
	return rc;
}

static int show_allowed(const struct ctx *c, struct sbuf *o) { return core_item_allowed(c->vault, c->item, o); }

static int show_status(const struct ctx *c, struct sbuf *o)
{
	struct item_info ii;
	int rc = core_item_info(c->vault, c->item, &ii);
	if (rc == 0)
		core_render_item_status(&ii, o);
	return rc;
}

static int show_status_json(const struct ctx *c, struct sbuf *o)
{
	struct item_info ii;
	struct sbuf allowed;
	int rc = core_item_info(c->vault, c->item, &ii);
	sb_init(&allowed);
	if (rc == 0)
		rc = core_item_allowed(c->vault, c->item, &allowed);
	if (rc == 0)
		core_render_item_json(&ii, allowed.buf, o);
	sb_free(&allowed);
	return rc;
}

static int show_job_link(const struct ctx *c, struct sbuf *o)
{
	struct item_info ii;
	int rc = core_item_info(c->vault, c->item, &ii);
	if (rc == 0 && !ii.job[0])
		rc = -ENOENT;
	if (rc == 0)
		sb_printf(o, "../../jobs/%s", ii.job);
	return rc;
}

static int has_job(const struct ctx *c)
{
	struct item_info ii;
	return core_item_info(c->vault, c->item, &ii) == 0 && ii.job[0];
}

/* Control files: one per operation of core's table (core/ops.c), named
 * after it; the write goes to core with the file's name. */
static int ctl_item(const struct ctx *c, const char *b, size_t n) { return core_item_control(c->vault, c->item, c->file, b, n); }
static int ctl_vault(const struct ctx *c, const char *b, size_t n) { return core_vault_control(c->vault, c->file, b, n); }

/* Room for the control rows after a directory's fixed files. */
#define CONTROL_ROWS_MAX 24

/* The item's replication group: one line, empty if none (SPEC 9). */
static int show_item_group(const struct ctx *c, struct sbuf *o)
{
	struct item_info ii;
	int rc = core_item_info(c->vault, c->item, &ii);
	if (rc == 0)
		sb_printf(o, "%s\n", ii.group);
	return rc;
}

static struct attr item_files[13 + CONTROL_ROWS_MAX + 1] = {
	SHOW("state", show_state),
	SHOW("health", show_health),
	SHOW("rpo-seconds", show_rpo_seconds),
	SHOW("last-recovery-point", show_last_point),
	SHOW("direction", show_direction),
	SHOW("active-region", show_active),
	SHOW("allowed-operations", show_allowed),
	SHOW("progress", show_progress),
	SHOW("error", show_error),
	LINK("job", show_job_link, has_job),
	SHOW("status", show_status),
	SHOW("status.json", show_status_json),
	SHOW("replication-group", show_item_group),
	END,
};

#define SETTING(fn, name)                                                      \
	static int fn(const struct ctx *c, const char *b, size_t n)            \
	{                                                                      \
		return core_item_setting_set(c->vault, c->item, name, b, n);   \
	}
SETTING(set_policy, "policy")
SETTING(set_trg, "target-resource-group")
SETTING(set_tsa, "target-storage-account")
SETTING(set_csa, "cache-storage-account")
SETTING(set_aset, "availability-set")
SETTING(set_bwlimit, "bandwidth-limit-bytes-per-second")

static const struct attr settings_files[] = {
	SETT("policy", show_policy, set_policy),
	SETT("target-resource-group", show_trg, set_trg),
	SETT("target-storage-account", show_tsa, set_tsa),
	SETT("cache-storage-account", show_csa, set_csa),
	SETT("availability-set", show_aset, set_aset),
	SHOW("target-network", show_tnet),
	SETT("bandwidth-limit-bytes-per-second", show_bwlimit, set_bwlimit),
	END,
};
static const struct dirtype settings_dir = {.what = "settings", .mode = 0555, .files = settings_files};

/* item disks */
static int list_item_disks(const struct ctx *c, struct strlist *o)
{
	struct item_info ii;
	int rc = core_item_info(c->vault, c->item, &ii);
	for (int i = 0; rc == 0 && i < ii.ndisks; i++)
		rc = sl_add(o, ii.disks[i].name);
	return rc;
}

/* a point's disks: the replicated ones only (an excluded disk is in no point) */
static int list_point_disks(const struct ctx *c, struct strlist *o)
{
	struct item_info ii;
	int rc = core_item_info(c->vault, c->item, &ii);
	for (int i = 0; rc == 0 && i < ii.ndisks; i++)
		if (!ii.disks[i].excluded)
			rc = sl_add(o, ii.disks[i].name);
	return rc;
}

#define IDISK_SHOW(fn, fmt, ...)                                               \
	static int fn(const struct ctx *c, struct sbuf *o)                     \
	{                                                                      \
		struct item_info ii;                                           \
		int rc = core_item_info(c->vault, c->item, &ii);               \
		if (rc < 0)                                                    \
			return rc;                                             \
		for (int i = 0; i < ii.ndisks; i++) {                          \
			struct item_disk_info *d = &ii.disks[i];               \
			if (strcmp(d->name, c->disk) == 0) {                   \
				sb_printf(o, fmt "\n", __VA_ARGS__);           \
				return 0;                                      \
			}                                                      \
		}                                                              \
		return -ENOENT;                                                \
	}
IDISK_SHOW(show_idisk_size, "%llu", (unsigned long long)d->size)
IDISK_SHOW(show_idisk_replica, "%s", d->replica)
IDISK_SHOW(show_idisk_region, "%s", d->replica_region)
IDISK_SHOW(show_idisk_synced, "%llu", (unsigned long long)d->synced_bytes)
IDISK_SHOW(show_idisk_pending, "%llu", (unsigned long long)d->pending_bytes)
IDISK_SHOW(show_idisk_state, "%s", d->state)

static const struct attr idisk_files[] = {
	SHOW("size", show_idisk_size),
	SHOW("replica", show_idisk_replica),
	SHOW("replica-region", show_idisk_region),
	SHOW("synced-bytes", show_idisk_synced),
	SHOW("pending-bytes", show_idisk_pending),
	SHOW("state", show_idisk_state),
	END,
};
static const struct dirtype idisk_dir = {.what = "item disk", .mode = 0555, .files = idisk_files};
static const struct dirtype idisks_dir = {.what = "item disks", .mode = 0555, .list = list_item_disks, .child_dir = &idisk_dir, .ctx_off = CTX(disk)};

/* recovery points */
static int list_points(const struct ctx *c, struct strlist *o)
{
	struct point_info *pts;
	int n, rc = core_points(c->vault, c->item, &pts, &n);
	for (int i = 0; rc == 0 && i < n; i++)
		rc = sl_add(o, pts[i].id);
	free(pts);
	return rc;
}

/* Find a point (c->point, or the newest [app-consistent] one when want < 0). */
static int find_point(const struct ctx *c, int want_app, int newest, struct point_info *out)
{
	struct point_info *pts;
	int n, rc = core_points(c->vault, c->item, &pts, &n);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (int i = n - 1; i >= 0; i--) {
		if (newest ? (!want_app || pts[i].app_consistent) : strcmp(pts[i].id, c->point) == 0) {
			*out = pts[i];
			rc = 0;
			break;
		}
	}
	free(pts);
	return rc;
}

static int show_latest(const struct ctx *c, struct sbuf *o)
{
	struct point_info p;
	int rc = find_point(c, 0, 1, &p);
	if (rc == 0)
		sb_puts(o, p.id);
	return rc;
}

static int show_latest_app(const struct ctx *c, struct sbuf *o)
{
	struct point_info p;
	int rc = find_point(c, 1, 1, &p);
	if (rc == 0)
		sb_puts(o, p.id);
	return rc;
}

static int has_latest(const struct ctx *c)
{
	struct point_info p;
	return find_point(c, 0, 1, &p) == 0;
}

static int has_latest_app(const struct ctx *c)
{
	struct point_info p;
	return find_point(c, 1, 1, &p) == 0;
}

static int show_point_time(const struct ctx *c, struct sbuf *o)
{
	struct point_info p;
	char t[TIME_STR];
	int rc = find_point(c, 0, 0, &p);
	if (rc == 0) {
		fmt_time(p.time, t);
		sb_printf(o, "%s\n", t);
	}
	return rc;
}

static int show_point_type(const struct ctx *c, struct sbuf *o)
{
	struct point_info p;
	int rc = find_point(c, 0, 0, &p);
	if (rc == 0)
		sb_printf(o, "%s%s\n", p.app_consistent ? "app-consistent" : "crash-consistent",
			  p.multi_vm ? " multi-vm" : "");
	return rc;
}

static int size_point_disk(const struct ctx *c, uint64_t *s) { return core_point_disk_size(c->vault, c->item, c->point, c->disk, s); }

static int open_point_disk(const struct ctx *c, int w, struct core_disk **d)
{
	if (w)
		return -EROFS;
	return core_point_open(c->vault, c->item, c->point, c->disk, d);
}

static const struct attr point_disk_file = DISK(RO, size_point_disk, open_point_disk);
static const struct dirtype point_disks_dir = {.what = "point disks", .mode = 0555, .list = list_point_disks, .child_file = &point_disk_file, .ctx_off = CTX(disk)};
static const struct attr point_files[] = {
	SHOW("time", show_point_time),
	SHOW("type", show_point_type),
	END,
};
static const struct subdir point_subdirs[] = {{.name = "disks", .type = &point_disks_dir}, END};
static const struct dirtype point_dir = {.what = "recovery point", .mode = 0555, .files = point_files, .subdirs = point_subdirs};
static const struct attr points_files[] = {
	LINK("latest", show_latest, has_latest),
	LINK("latest-app-consistent", show_latest_app, has_latest_app),
	END,
};
static const struct dirtype points_dir = {.what = "recovery-points", .mode = 0555, .files = points_files, .list = list_points, .child_dir = &point_dir, .ctx_off = CTX(point)};

static const struct subdir item_subdirs[] = {
	{.name = "settings", .type = &settings_dir}, {.name = "disks", .type = &idisks_dir}, {.name = "recovery-points", .type = &points_dir}, {.name = NULL},
};
static const struct dirtype item_dir = {.what = "item", .mode = 0555, .files = item_files, .subdirs = item_subdirs};
static const struct dirtype items_dir = {.what = "items", .mode = 0555, .list = list_items, .has = has_item, .child_dir = &item_dir, .ctx_off = CTX(item)};

/* jobs */
static int list_jobs(const struct ctx *c, struct strlist *o) { return core_jobs(c->vault, o); }
static int job_named(const struct ctx *c, const char *name) { return core_job_exists(c->vault, name); }

#define JOB_SHOW(fn, fmt, ...)                                                 \
	static int fn(const struct ctx *c, struct sbuf *o)                     \
	{                                                                      \
		struct job_info ji;                                            \
		int rc = core_job_info(c->vault, c->job, &ji);                 \
		if (rc == 0)                                                   \
			sb_printf(o, fmt "\n", __VA_ARGS__);                   \
		return rc;                                                     \
	}
JOB_SHOW(show_job_type, "%s", ji.type)
JOB_SHOW(show_job_item, "%s", ji.item)
JOB_SHOW(show_job_state, "%s", ji.state)
JOB_SHOW(show_job_progress, "%d", ji.progress)
JOB_SHOW(show_job_error, "%s", ji.error)
JOB_SHOW(show_job_total, "%llu", (unsigned long long)ji.bytes_total)
JOB_SHOW(show_job_compared, "%llu", (unsigned long long)ji.bytes_compared)
JOB_SHOW(show_job_transferred, "%llu", (unsigned long long)ji.bytes_transferred)
JOB_SHOW(show_job_rate, "%llu", (unsigned long long)ji.rate)
JOB_SHOW(show_job_mismatched, "%llu", (unsigned long long)ji.mismatched_bytes)

/* Only a verify has mismatched-bytes. */
static int job_verifies(const struct ctx *c)
{
	struct job_info ji;
	return core_job_info(c->vault, c->job, &ji) == 0 && ji.verifies;
}

static int show_job_time(const struct ctx *c, struct sbuf *o, int ended)
{
	struct job_info ji;
	char t[TIME_STR];
	int rc = core_job_info(c->vault, c->job, &ji);
	if (rc == 0) {
		fmt_time(ended ? ji.ended : ji.started, t);
		sb_printf(o, "%s\n", t);
	}
	return rc;
}
static int show_job_started(const struct ctx *c, struct sbuf *o) { return show_job_time(c, o, 0); }
static int show_job_ended(const struct ctx *c, struct sbuf *o) { return show_job_time(c, o, 1); }

static int show_job_eta(const struct ctx *c, struct sbuf *o)
{
	struct job_info ji;
	int rc = core_job_info(c->vault, c->job, &ji);
	if (rc == 0 && ji.eta_known)
		sb_printf(o, "%llu\n", (unsigned long long)ji.eta);
	else if (rc == 0)
		sb_puts(o, "\n"); /* not known yet */
	return rc;
}

static int show_job_tasks(const struct ctx *c, struct sbuf *o)
{
	struct job_info ji;
	int rc = core_job_info(c->vault, c->job, &ji);
	if (rc == 0)
		core_render_tasks(&ji, o);
	return rc;
}

static int show_job_json(const struct ctx *c, struct sbuf *o)
{
	struct job_info ji;
	int rc = core_job_info(c->vault, c->job, &ji);
	if (rc == 0)
		core_render_job_json(&ji, o);
	return rc;
}

static const struct attr job_files[] = {
	SHOW("type", show_job_type),
	SHOW("item", show_job_item),
	SHOW("state", show_job_state),
	SHOW("progress", show_job_progress),
	SHOW("started", show_job_started),
	SHOW("ended", show_job_ended),
	SHOW("error", show_job_error),
	SHOW("tasks", show_job_tasks),
	SHOW("bytes-total", show_job_total),
	SHOW("bytes-compared", show_job_compared),
	SHOW("bytes-transferred", show_job_transferred),
	SHOW("rate-bytes-per-second", show_job_rate),
	SHOW("eta-seconds", show_job_eta),
	SHOW_IF("mismatched-bytes", show_job_mismatched, job_verifies),
	SHOW("job.json", show_job_json),
	END,
};
static const struct dirtype job_dir = {.what = "job", .mode = 0555, .files = job_files};
static const struct dirtype jobs_dir = {.what = "jobs", .mode = 0555, .list = list_jobs, .has = job_named, .child_dir = &job_dir, .ctx_off = CTX(job)};

/* recovery plans (SPEC 9) */
static int list_plans(const struct ctx *c, struct strlist *o) { return core_plans(c->vault, o); }
static int mkdir_plan(const struct ctx *c, const char *n) { return core_plan_create(c->vault, n); }
static int rmdir_plan(const struct ctx *c, const char *n) { return core_plan_delete(c->vault, n); }
static int list_plan_groups(const struct ctx *c, struct strlist *o) { return core_plan_groups(c->vault, c->plan, o); }
static int mkdir_plan_group(const struct ctx *c, const char *n) { return core_plan_group_set(c->vault, c->plan, n, 1); }
static int rmdir_plan_group(const struct ctx *c, const char *n) { return core_plan_group_set(c->vault, c->plan, n, 0); }
static int show_plan_file(const struct ctx *c, struct sbuf *o) { return core_plan_show(c->vault, c->plan, c->file, o); }
static int show_plan_job(const struct ctx *c, struct sbuf *o) { return core_plan_show(c->vault, c->plan, "job", o); }
static int ctl_plan(const struct ctx *c, const char *b, size_t n) { return core_plan_control(c->vault, c->plan, c->file, b, n); }
static int show_group_file(const struct ctx *c, struct sbuf *o) { return core_plan_group_show(c->vault, c->plan, c->bootgroup, c->file, o); }
static int store_group_file(const struct ctx *c, const char *b, size_t n) { return core_plan_group_store(c->vault, c->plan, c->bootgroup, c->file, b, n); }

static int has_plan_job(const struct ctx *c)
{
	struct sbuf b = {0};
	int rc = core_plan_show(c->vault, c->plan, "job", &b);
	sb_free(&b);
	return rc == 0;
}

static const struct attr plan_group_files[] = {
	SETT("items", show_group_file, store_group_file),
	SETT("pre-actions", show_group_file, store_group_file),
	SETT("post-actions", show_group_file, store_group_file),
	END,
};
static const struct dirtype plan_group_dir = {.what = "boot group", .mode = 0755, .files = plan_group_files};
static const struct dirtype plan_groups_dir = {.what = "groups", .mode = 0755, .list = list_plan_groups, .child_dir = &plan_group_dir, .ctx_off = CTX(bootgroup), .mkdir = mkdir_plan_group, .rmdir = rmdir_plan_group};
static const struct attr plan_files[] = {
	SHOW("state", show_plan_file),
	SHOW("allowed-operations", show_plan_file),
	SHOW("error", show_plan_file),
	SHOW("status", show_plan_file),
	LINK("job", show_plan_job, has_plan_job),
	CTRL("failover", ctl_plan),
	CTRL("test-failover", ctl_plan),
	CTRL("cleanup-test-failover", ctl_plan),
	CTRL("commit", ctl_plan),
	CTRL("reprotect", ctl_plan),
	CTRL("cancel", ctl_plan),
	CTRL("resume", ctl_plan),
	END,
};
static const struct subdir plan_subdirs[] = {{.name = "groups", .type = &plan_groups_dir}, {.name = NULL}};
static const struct dirtype plan_dir = {.what = "recovery plan", .mode = 0755, .files = plan_files, .subdirs = plan_subdirs};
static const struct dirtype plans_dir = {.what = "recovery-plans", .mode = 0755, .list = list_plans, .child_dir = &plan_dir, .ctx_off = CTX(plan), .mkdir = mkdir_plan, .rmdir = rmdir_plan};

/* replication groups: a directory per group while it has items */
static int list_groups(const struct ctx *c, struct strlist *o) { return core_groups(c->vault, o); }

static int show_group_items(const struct ctx *c, struct sbuf *o)
{
	struct strlist items = {0};
	int rc = core_group_items(c->vault, c->group, &items);
	for (int i = 0; rc == 0 && i < items.n; i++)
		sb_printf(o, "%s\n", items.v[i]);
	sl_free(&items);
	return rc;
}

static const struct attr group_files[] = {SHOW("items", show_group_items), END};
static const struct dirtype group_dir = {.what = "replication group", .mode = 0555, .files = group_files};
static const struct dirtype groups_dir = {.what = "replication-groups", .mode = 0555, .list = list_groups, .child_dir = &group_dir, .ctx_off = CTX(group)};

static struct attr vault_files[3 + CONTROL_ROWS_MAX + 1] = {
	SHOW("region", show_vault_region),
	SHOW("mode", show_vault_mode),
	SHOW("error", show_vault_error),
	END,
};
static const struct subdir vault_subdirs[] = {
	{.name = "policies", .type = &policies_dir}, {.name = "network-mappings", .type = &mappings_dir}, {.name = "items", .type = &items_dir}, {.name = "jobs", .type = &jobs_dir},
	{.name = "replication-groups", .type = &groups_dir}, {.name = "recovery-plans", .type = &plans_dir}, {.name = NULL},
};
static const struct dirtype vault_dir = {.what = "vault", .mode = 0555, .files = vault_files, .subdirs = vault_subdirs};
static const struct dirtype vaults_dir = {.what = "vaults", .mode = 0555, .list = list_vaults, .child_dir = &vault_dir, .ctx_off = CTX(vault)};

/* ---- root ---- */

static const struct attr metrics_files[] = {SHOW("asrfs.prom", show_metrics), END};
static const struct dirtype metrics_dir = {.what = "metrics", .mode = 0555, .files = metrics_files};
static const struct attr root_files[] = {
	SHOW("README", show_readme),
	SHOW("version", show_version),
	END,
};
static const struct subdir root_subdirs[] = {
	{.name = "regions", .type = &regions_dir}, {.name = "vaults", .type = &vaults_dir}, {.name = "metrics", .type = &metrics_dir}, {.name = NULL},
};
static const struct attr shortcut_link = LINK(NULL, show_shortcut, NULL);
const struct dirtype root_dir = {.what = "root", .mode = 0555, .files = root_files, .subdirs = root_subdirs, .list = list_shortcuts, .has = has_shortcut, .child_file = &shortcut_link, .ctx_off = CTX(shortcut)};

/* Append the control rows of vault_scope's operations after the fixed files
 * of rows (cap entries in all), in the table's order. */
static void add_controls(struct attr *rows, size_t cap, int vault_scope,
			 int (*store)(const struct ctx *c, const char *b, size_t n))
{
	size_t k = 0;
	const char *name;

	while (rows[k].name)
		k++;
	for (int i = 0; (name = core_control_name(vault_scope, i)) != NULL; i++, k++) {
		if (k + 1 >= cap) {
			fprintf(stderr, "asrfs: more operations than CONTROL_ROWS_MAX in fs/nodes.c\n");
			abort();
		}
		rows[k] = (struct attr)CTRL(name, store);
	}
	rows[k] = (struct attr)END;
}

/* The tables are complete before main() runs, so the walk sees plain
 * static tables and nothing changes them afterwards. */
__attribute__((constructor)) static void controls_from_ops(void)
{
	add_controls(item_files, sizeof(item_files) / sizeof(item_files[0]), 0, ctl_item);
	add_controls(vault_files, sizeof(vault_files) / sizeof(vault_files[0]), 1, ctl_vault);
}
