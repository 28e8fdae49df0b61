/*
 * azblob_link.c - the disks of the azblob backend as names: disk links and
 * what is done through them (create, delete, rename, exists, version,
 * open, remove_tree).  The bytes of an open disk are azblob_page.c's;
 * their snapshots azblob_snap.c's.
 *
 * Disk links.  Blob storage has no rename, and Copy Blob of a big disk is
 * slow (Azurite copies the bytes; reprotect renames whole disks).  So a
 * disk's bytes live in a physical page blob at a hidden name,
 * ".disks/<random 128-bit hex id>" (outside every key, never listed), and
 * the disk key holds a link: an empty block blob whose metadata asrfsdisk
 * names the physical blob.  The physical blob's metadata asrfsowner names
 * the one key (percent-encoded) whose link is valid.  A link is a disk only
 * when its physical blob exists and is owned by the link's key; any other
 * link is stale, and is no disk (disk_exists 0, disk_open -ENOENT), though
 * list() still names it until it is replaced, deleted or its tree removed.
 *
 *   create   link (If-None-Match: *, -EEXIST when the key holds a disk),
 *            then the physical blob, owned by the key;
 *   rename   link `to`, then Set Blob Metadata owner = to on the physical
 *            (If-Match its ETag: the commit point), then `to`'s version
 *            alias, then Delete of link `from`; O(1), no bytes move;
 *   delete   the physical blob (only when the link owns it), then the link;
 *   remove_tree  lists with metadata and does the same for each link.
 *
 * At every step of each, a crash leaves each physical blob with at most one
 * valid link and never a physical blob without a link that could own it
 * (create and delete write the link first and remove it last); a stale link
 * left behind is replaced by a create or rename onto its key, or removed by
 * delete / remove_tree, which keep a physical blob it does not own.
 * disk_open resolves the link once; the handle keeps the physical name, so
 * it survives a rename as an open file does.  A plain page blob at a key (a
 * disk made before links) is still a disk in every call; its rename is the
 * old Copy Blob then Delete.  Operations on one key are assumed not to race
 * each other (asrfs serializes them); conditional requests make a lost race
 * an error, not two disks sharing bytes.
 *
 * Disk versions.  disk_version is a token of the physical blob's contents:
 * "<id>:<ETag>".  Every Put Page, clear and resize changes the ETag, but so
 * does rename's Set Blob Metadata, which must keep the token.  So rename
 * reads the token T before (with the physical's ETag E0), updates the owner
 * only If-Match E0 (a write racing in makes it read again), and stores in
 * the new link the alias "ETag E1 (right after the update) stands for T".
 * disk_version answers T while the physical's ETag is still E1; the first
 * write changes the ETag and the alias no longer applies.  The token is thus
 * the ETag the blob had right after its last data change, tagged with its
 * id, so equal tokens mean equal bytes.  When the pairing is unknown (the
 * owner update's answer was lost and a retry found it done, or a crash
 * before the alias was written) no alias is written: the token changes,
 * which is safe.  A plain page blob has no version (-EOPNOTSUPP): its
 * rename copies, which cannot keep an ETag.  (Azure's ETags are unique per
 * change; Azurite's are a millisecond clock times a random factor, unique in
 * practice.)
 */
#define _GNU_SOURCE
#include "azblob_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

/* HEAD a blob: its properties and our metadata.  0, -ENOENT, ... */
static int head_props(struct az_backend *ab, const char *path, struct blob_props *p)
{
	struct az_req r = {.verb = "HEAD", .path = path};
	char v[64];
	int rc;

	memset(p, 0, sizeof(*p));
	rc = az_perform_want(ab, &r, 200);
	if (rc < 0)
		goto out;
	az_resp_hdr(&r, "Content-Length", v, sizeof(v));
	p->size = strtoull(v, NULL, 10);
	az_resp_hdr(&r, "x-ms-blob-type", v, sizeof(v));
	p->is_page = strcmp(v, "PageBlob") == 0;
	az_resp_hdr(&r, "ETag", p->etag, sizeof(p->etag));
	az_resp_hdr(&r, M_DISK, p->disk, sizeof(p->disk));
	az_resp_hdr(&r, M_OWNER, p->owner, sizeof(p->owner));
	az_resp_hdr(&r, M_VETAG, p->vetag, sizeof(p->vetag));
	az_resp_hdr(&r, M_VER, p->ver, sizeof(p->ver));
out:
	az_req_free(&r);
	return rc;
}

/* HEAD a blob: size and whether it is a page blob.  0, -ENOENT, ... */
int az_head_blob(struct az_backend *ab, const char *path, uint64_t *size, int *is_page)
{
	struct blob_props p;
	int rc = head_props(ab, path, &p);
	if (rc == 0 && size)
		*size = p.size;
	if (rc == 0 && is_page)
		*is_page = p.is_page;
	return rc;
}

/* An ETag without its quotes (metadata values and tokens carry it bare). */
static void unquote(const char *etag, char *out, size_t len)
{
	size_t n = strlen(etag);
	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		etag++;
		n -= 2;
	}
	if (n >= len)
		n = len - 1;
	memcpy(out, etag, n);
	out[n] = '\0';
}

/* A physical blob's name as we make them: ".disks/" and 32 lowercase hex. */
static int phys_ok(const char *name)
{
	size_t n = strlen(PHYS_DIR);
	if (strncmp(name, PHYS_DIR, n) != 0 || strlen(name + n) != PHYS_HEX)
		return 0;
	for (const char *c = name + n; *c; c++)
		if (!isdigit((unsigned char)*c) && !(*c >= 'a' && *c <= 'f'))
			return 0;
	return 1;
}

static int new_phys(char phys[PHYS_MAX])
{
	unsigned char b[PHYS_HEX / 2];
	size_t n = strlen(PHYS_DIR);
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	memcpy(phys, PHYS_DIR, n);
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(phys + n + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* The M_OWNER value naming key (malloc'd), or NULL when out of memory. */
static char *owner_of(const char *key)
{
	struct az_buf b = {0};
	az_buf_add_enc(&b, key, 1);
	if (!b.err && !b.p)
		az_buf_addn(&b, "", 0);
	if (b.err) {
		az_buf_free(&b);
		return NULL;
	}
	return b.p;
}

/* Look key (at URL path kpath) up: D_ABSENT, nothing there; D_PLAIN, a blob
 * that is no link (a page blob made before links, or a block blob), the
 * disk itself; D_LINK, a link whose physical blob names key as its owner,
 * the only kind of link that is a disk; D_STALE, a link whose physical blob
 * is gone or owned by another key (left by a crash in a create, delete or
 * rename), which is no disk.  0 or -errno. */
static int resolve(struct az_backend *ab, const char *key, const char *kpath, struct az_target *t)
{
	struct blob_props lp;
	char *ppath = NULL, *own = NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = head_props(ab, kpath, &lp);
	if (rc == -ENOENT) {
		t->kind = D_ABSENT;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (!lp.disk[0]) {
		t->kind = D_PLAIN;
		t->p = lp;
		return 0;
	}
	if (!phys_ok(lp.disk))
		return -EIO; /* not a link we wrote */
	memcpy(t->phys, lp.disk, PHYS_MAX); /* phys_ok: exactly PHYS_MAX - 1 characters */
	snprintf(t->link_etag, sizeof(t->link_etag), "%s", lp.etag);
	snprintf(t->vetag, sizeof(t->vetag), "%s", lp.vetag);
	snprintf(t->ver, sizeof(t->ver), "%s", lp.ver);
	own = owner_of(key);
	if (!own)
		return -ENOMEM;
	rc = az_blob_path_raw(ab, t->phys, &ppath);
	if (rc == 0)
		rc = head_props(ab, ppath, &t->p);
	if (rc == 0)
		t->kind = t->p.is_page && strcmp(t->p.owner, own) == 0 ? D_LINK : D_STALE;
	else if (rc == -ENOENT)
		t->kind = D_STALE, rc = 0;
	free(ppath);
	free(own);
	return rc;
}

/* resolve() of key, its URL path made here: into *kpath (malloc'd) when
 * kpath is not NULL and all went well, else dropped. */
static int resolve_key(struct az_backend *ab, const char *key, struct az_target *t, char **kpath)
{
	char *p = NULL;
	int rc = az_blob_path(ab, key, &p);
	if (rc == 0)
		rc = resolve(ab, key, p, t);
	if (rc == 0 && kpath) {
		*kpath = p;
		p = NULL;
	}
	free(p);
	return rc;
}

/* The blob holding key's bytes: its name (the physical's, or key for a
 * plain blob) into *name and URL path into *path, both malloc'd (name may
 * be NULL), and what its HEAD said into *p (when not NULL).  -ENOENT when
 * key holds no disk. */
int az_disk_blob(struct az_backend *ab, const char *key, char **name, char **path, struct blob_props *p)
{
	struct az_target t;
	char *kpath = NULL;
	const char *n;
	int rc;

	if (name)
		*name = NULL;
	*path = NULL;
	rc = resolve_key(ab, key, &t, &kpath);
	if (rc < 0)
		goto out;
	if (t.kind != D_LINK && t.kind != D_PLAIN) {
		rc = -ENOENT;
		goto out;
	}
	n = t.kind == D_LINK ? t.phys : key;
	if (t.kind == D_LINK) {
		rc = az_blob_path_raw(ab, n, path);
	} else {
		*path = kpath;
		kpath = NULL;
	}
	if (rc == 0 && name && !(*name = strdup(n)))
		rc = -ENOMEM;
	if (rc == 0 && p)
		*p = t.p;
	if (rc < 0) {
		free(*path);
		*path = NULL;
	}
out:
	free(kpath);
	return rc;
}

/* The version token of a disk resolved as a link: "<id>:<ETag>" of its
 * physical blob, or the token the link's alias says that ETag stands for. */
static int link_version(const struct az_target *t, char ver[BACKEND_ETAG_MAX])
{
	char e[BACKEND_ETAG_MAX];
	int n;

	unquote(t->p.etag, e, sizeof(e));
	if (!e[0])
		return -EIO;
	if (t->vetag[0] && t->ver[0] && strcmp(t->vetag, e) == 0) {
		snprintf(ver, BACKEND_ETAG_MAX, "%s", t->ver);
		return 0;
	}
	n = snprintf(ver, BACKEND_ETAG_MAX, "%s:%s", t->phys + strlen(PHYS_DIR), e);
	return n < 0 || n >= BACKEND_ETAG_MAX ? -EOPNOTSUPP : 0;
}

struct link_sent {
	const char *kpath, *phys, *vetag;
};

/* put_cond's landed for put_link: the link names our physical blob and
 * alias. */
static int link_landed(struct az_backend *ab, void *arg, char etag[BACKEND_ETAG_MAX])
{
	struct link_sent *w = arg;
	struct blob_props p;

	if (head_props(ab, w->kpath, &p) != 0 || strcmp(p.disk, w->phys) != 0 ||
	    strcmp(p.vetag, w->vetag ? w->vetag : "") != 0)
		return 0;
	if (etag)
		snprintf(etag, BACKEND_ETAG_MAX, "%s", p.etag);
	return 1;
}

/* Write the link at kpath naming phys (with the version alias vetag -> ver
 * when vetag is set): if_match "" only when nothing is there (-EEXIST),
 * else only over that etag (-ESTALE).  The link's new etag into etag. */
static int put_link(struct az_backend *ab, const char *kpath, const char *phys, const char *vetag, const char *ver,
		    const char *if_match, char etag[BACKEND_ETAG_MAX])
{
	struct az_req r = {.verb = "PUT", .path = kpath};
	struct link_sent w = {.kpath = kpath, .phys = phys, .vetag = vetag};
	int rc;

	az_req_hdr(&r, M_DISK, phys);
	if (vetag && *vetag) {
		az_req_hdr(&r, M_VETAG, vetag);
		az_req_hdr(&r, M_VER, ver);
	}
	rc = az_put_cond(ab, &r, if_match, etag, link_landed, &w);
	az_req_free(&r);
	return rc;
}

/* DELETE a blob only while its etag is if_match: 0, -ENOENT, -ESTALE... */
static int delete_if(struct az_backend *ab, const char *path, const char *if_match)
{
	struct az_req r = {.verb = "DELETE", .path = path};
	int rc;

	az_req_hdr(&r, "If-Match", if_match);
	rc = az_perform(ab, &r);
	if (rc == 0) {
		if (r.status == 202)
			rc = 0;
		else if (r.status == 404)
			rc = r.tries > 1 ? 0 : -ENOENT;
		else if (r.status == 412)
			rc = -ESTALE;
		else
			rc = az_status_errno(&r);
	}
	az_req_free(&r);
	return rc;
}

/* Make key's link name phys, if key holds no disk: over nothing, or over a
 * stale link.  -EEXIST when key holds a disk (or a record).  The new link's
 * etag into etag. */
static int claim_key(struct az_backend *ab, const char *key, const char *kpath, const char *phys,
		     char etag[BACKEND_ETAG_MAX])
{
	struct az_target t;
	int rc = -EEXIST;

	for (int i = 0; i < 3; i++) {
		rc = put_link(ab, kpath, phys, NULL, NULL, "", etag);
		if (rc != -EEXIST)
			return rc;
		rc = resolve(ab, key, kpath, &t);
		if (rc < 0)
			return rc;
		if (t.kind == D_PLAIN || t.kind == D_LINK)
			return -EEXIST;
		if (t.kind == D_STALE) {
			rc = put_link(ab, kpath, phys, NULL, NULL, t.link_etag, etag);
			if (rc != -ESTALE)
				return rc;
		}
		rc = -EEXIST; /* it changed under us: look again */
	}
	return rc;
}

/* Create the physical page blob at ppath, owned by own. */
static int create_phys(struct az_backend *ab, const char *ppath, uint64_t size, const char *own)
{
	struct az_req r = {.verb = "PUT", .path = ppath};
	char len[32];
	int rc;

	snprintf(len, sizeof(len), "%llu", (unsigned long long)size);
	az_req_hdr(&r, "x-ms-blob-type", "PageBlob");
	az_req_hdr(&r, "x-ms-blob-content-length", len);
	az_req_hdr(&r, M_OWNER, own);
	az_req_hdr(&r, "If-None-Match", "*");
	rc = az_perform(ab, &r);
	if (rc == 0 && r.status != 201) {
		if (r.status == 409 || r.status == 412) {
			struct blob_props p;
			/* Our own earlier try may have created it. */
			rc = -EEXIST;
			if (r.tries > 1 && head_props(ab, ppath, &p) == 0 && p.is_page && p.size == size &&
			    strcmp(p.owner, own) == 0)
				rc = 0;
		} else {
			rc = az_status_errno(&r);
		}
	}
	az_req_free(&r);
	return rc;
}

int az_disk_create(struct backend *be, const char *key, uint64_t size)
{
	struct az_backend *ab = AB(be);
	char phys[PHYS_MAX], letag[BACKEND_ETAG_MAX] = "", *kpath = NULL, *ppath = NULL, *own = NULL;
	int rc;

	if (size % SECTOR)
		return -EINVAL;
	rc = az_blob_path(ab, key, &kpath);
	if (rc == 0)
		rc = new_phys(phys);
	if (rc == 0)
		rc = az_blob_path_raw(ab, phys, &ppath);
	if (rc == 0 && !(own = owner_of(key)))
		rc = -ENOMEM;
	if (rc < 0)
		goto out;
	/* The link first: it is stale (no disk) until the physical exists, so
	 * a crash in between leaves no orphan physical blob. */
	rc = claim_key(ab, key, kpath, phys, letag);
	if (rc < 0)
		goto out;
	rc = create_phys(ab, ppath, size + VHD_FOOTER_SIZE, own);
	if (rc == 0) { /* a fixed VHD: the footer after the disk's bytes */
		struct az_disk pd = {.ab = ab, .path = ppath, .is_page = 1};
		uint8_t f[VHD_FOOTER_SIZE];
		rc = vhd_footer_build(f, size, time(NULL), NULL);
		if (rc == 0)
			rc = az_put_pages(&pd, (const char *)f, size, VHD_FOOTER_SIZE);
		if (rc < 0 && rc != -EHOSTUNREACH)
			(void)az_delete_blob(ab, ppath);
	}
	/* Unless the answer was lost (the disk may exist), take the link back. */
	if (rc < 0 && rc != -EHOSTUNREACH)
		(void)delete_if(ab, kpath, letag);
out:
	free(kpath);
	free(ppath);
	free(own);
	return rc;
}

/* Remove a link (named by key, at kpath) and, first, its physical blob phys
 * when the link owns it: a stale link never takes another disk's bytes. */
static int drop_link(struct az_backend *ab, const char *key, const char *kpath, const char *phys,
		     const char *link_etag)
{
	struct blob_props p;
	char *ppath = NULL, *own = NULL;
	int rc = 0;

	if (phys_ok(phys)) {
		own = owner_of(key);
		rc = own ? az_blob_path_raw(ab, phys, &ppath) : -ENOMEM;
		if (rc == 0)
			rc = head_props(ab, ppath, &p);
		if (rc == 0 && strcmp(p.owner, own) == 0)
			rc = az_delete_blob_snaps(ab, ppath, 1);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0)
		rc = link_etag ? delete_if(ab, kpath, link_etag) : az_delete_blob(ab, kpath);
	if (rc == -ENOENT || rc == -ESTALE) /* gone, or rewritten meanwhile: not ours */
		rc = 0;
	free(ppath);
	free(own);
	return rc;
}

int az_disk_delete(struct backend *be, const char *key)
{
	struct az_backend *ab = AB(be);
	struct az_target t;
	char *kpath = NULL;
	int rc = resolve_key(ab, key, &t, &kpath);

	if (rc < 0)
		goto out;
	switch (t.kind) {
	case D_PLAIN:
		rc = az_delete_blob_snaps(ab, kpath, 1);
		break;
	case D_LINK:
		rc = drop_link(ab, key, kpath, t.phys, t.link_etag);
		break;
	case D_STALE: /* no disk; its link goes (drop_link keeps a physical it does not own) */
		rc = drop_link(ab, key, kpath, t.phys, t.link_etag);
		rc = rc < 0 ? rc : -ENOENT;
		break;
	default:
		rc = -ENOENT;
	}
out:
	free(kpath);
	return rc;
}

int az_disk_exists(struct backend *be, const char *key)
{
	struct az_target t;
	int rc = resolve_key(AB(be), key, &t, NULL);
	if (rc < 0)
		return rc;
	return t.kind == D_PLAIN || t.kind == D_LINK;
}

int az_disk_version(struct backend *be, const char *key, char ver[BACKEND_ETAG_MAX])
{
	struct az_target t;
	int rc = resolve_key(AB(be), key, &t, NULL);
	if (rc < 0)
		return rc;
	if (t.kind == D_LINK)
		return link_version(&t, ver);
	/* A plain page blob's rename is a copy, which cannot keep its ETag. */
	return t.kind == D_PLAIN ? -EOPNOTSUPP : -ENOENT;
}

static int count_snap(void *arg, const char *snap)
{
	(void)snap;
	++*(int *)arg;
	return 0;
}

/* Rename a plain blob (made before links) the old way: Copy Blob to dst,
 * then Delete of src. */
static int copy_rename(struct az_backend *ab, const char *src, const char *dst)
{
	char status[64] = "";
	struct az_buf url = {0};
	struct az_req r = {.verb = "PUT"};
	int rc;

	az_buf_add(&url, ab->origin);
	az_buf_add(&url, src);
	if (url.err) {
		rc = url.err;
		goto out;
	}
	r.path = dst;
	az_req_hdr(&r, "x-ms-copy-source", url.p);
	az_req_hdr(&r, "If-None-Match", "*");
	rc = az_perform(ab, &r);
	if (rc < 0)
		goto out;
	if ((r.status == 409 || r.status == 412) && r.tries > 1) {
		/* Our own earlier try may have started this copy: then the target
		 * names our source as its copy source. */
		struct az_req h = {.verb = "HEAD", .path = dst};
		char csrc[2048] = "";
		if (az_perform(ab, &h) == 0 && h.status == 200 &&
		    az_resp_hdr(&h, "x-ms-copy-source", csrc, sizeof(csrc)) && strcmp(csrc, url.p) == 0) {
			az_resp_hdr(&h, "x-ms-copy-status", status, sizeof(status));
			r.status = 202;
		}
		az_req_free(&h);
		if (r.status == 202)
			goto copying;
	}
	if (r.status == 409 || r.status == 412) {
		rc = -EEXIST;
		goto out;
	}
	if (r.status != 202 && r.status != 201) {
		rc = az_status_errno(&r);
		goto out;
	}
	az_resp_hdr(&r, "x-ms-copy-status", status, sizeof(status));
copying:
	/* Azure may copy asynchronously: wait until the copy has finished. */
	rc = az_copy_wait(ab, dst, status);
	if (rc == 0)
		rc = az_delete_blob(ab, src);
out:
	az_req_free(&r);
	az_buf_free(&url);
	return rc;
}

/* Hand the physical blob of f (the link from, owner fown) to town, on the
 * condition that it has not changed since f was read, so the token f had
 * still describes its bytes.  A write racing in makes us read it again.  On
 * success *tok is the token before and enew the blob's ETag after the
 * update; enew is "" when that pairing is unknown (our own retried request
 * had landed): then the rename does not keep the token, which is safe. */
static int move_owner(struct az_backend *ab, const char *ppath, struct az_target *f, const char *fown,
		      const char *town, char tok[BACKEND_ETAG_MAX], char enew[BACKEND_ETAG_MAX])
{
	int rc = -EBUSY;

	for (int i = 0; i < OWNER_TRIES; i++) {
		struct az_req r = {.verb = "PUT", .path = ppath, .query = "comp=metadata"};
		if (link_version(f, tok) < 0)
			tok[0] = '\0';
		az_req_hdr(&r, M_OWNER, town);
		az_req_hdr(&r, "If-Match", f->p.etag);
		rc = az_perform(ab, &r);
		if (rc == 0 && r.status == 200) {
			az_resp_hdr(&r, "ETag", enew, BACKEND_ETAG_MAX);
			az_req_free(&r);
			return 0;
		}
		if (rc == 0)
			rc = r.status == 412 ? -ESTALE : az_status_errno(&r);
		az_req_free(&r);
		if (rc != -ESTALE)
			return rc;
		rc = head_props(ab, ppath, &f->p);
		if (rc < 0)
			return rc;
		if (strcmp(f->p.owner, town) == 0) {
			enew[0] = '\0';
			return 0;
		}
		if (strcmp(f->p.owner, fown) != 0)
			return -ENOENT; /* renamed away by someone else */
		rc = -EBUSY;	    /* written meanwhile: again, with the new ETag */
	}
	return rc;
}

/*
 * Rename of a link: link `to` (stale until the next step), physical's owner
 * = to (the commit point: from here `to` is the disk and `from` a stale
 * link), `to`'s version alias, delete link `from`.  Every moment exactly one
 * of the two names is a disk.
 */
int az_disk_rename(struct backend *be, const char *from, const char *to)
{
	struct az_backend *ab = AB(be);
	struct az_target f, t;
	char lto[BACKEND_ETAG_MAX] = "", tok[BACKEND_ETAG_MAX] = "", enew[BACKEND_ETAG_MAX] = "";
	char ve[BACKEND_ETAG_MAX], *fpath = NULL, *tpath = NULL, *ppath = NULL, *fown = NULL, *town = NULL;
	int rc;

	rc = az_blob_path(ab, from, &fpath);
	if (rc == 0)
		rc = az_blob_path(ab, to, &tpath);
	if (rc == 0)
		rc = resolve(ab, from, fpath, &f);
	if (rc < 0)
		goto out;
	if (f.kind != D_PLAIN && f.kind != D_LINK) {
		rc = -ENOENT;
		goto out;
	}
	if (strcmp(from, to) == 0) {
		rc = -EEXIST;
		goto out;
	}
	if (f.kind == D_PLAIN) {
		/* Its copy could not take its snapshots along. */
		int nsnap = 0;
		rc = az_list_snaps(ab, from, count_snap, &nsnap);
		if (rc == 0 && nsnap > 0)
			rc = -EBUSY;
		if (rc == 0)
			rc = resolve(ab, to, tpath, &t);
		if (rc == 0 && (t.kind == D_PLAIN || t.kind == D_LINK))
			rc = -EEXIST;
		if (rc == 0 && t.kind == D_STALE)
			rc = drop_link(ab, to, tpath, t.phys, t.link_etag);
		if (rc == 0)
			rc = copy_rename(ab, fpath, tpath);
		goto out;
	}
	fown = owner_of(from);
	town = owner_of(to);
	rc = fown && town ? az_blob_path_raw(ab, f.phys, &ppath) : -ENOMEM;
	if (rc < 0)
		goto out;
	rc = claim_key(ab, to, tpath, f.phys, lto);
	if (rc < 0)
		goto out;
	rc = move_owner(ab, ppath, &f, fown, town, tok, enew);
	if (rc < 0) {
		/* Not moved (unless the answer was lost): take link `to` back. */
		if (rc != -EHOSTUNREACH)
			(void)delete_if(ab, tpath, lto);
		goto out;
	}
	/* Done: what follows only tidies up, and its failures are no error. */
	if (enew[0] && tok[0]) {
		unquote(enew, ve, sizeof(ve));
		(void)put_link(ab, tpath, f.phys, ve, tok, lto, NULL);
	}
	(void)delete_if(ab, fpath, f.link_etag);
out:
	free(fpath);
	free(tpath);
	free(ppath);
	free(fown);
	free(town);
	return rc;
}

int az_disk_open(struct backend *be, const char *key, int flags, struct bdisk **out)
{
	struct az_backend *ab = AB(be);
	struct blob_props p;
	struct az_disk *d;
	char *path = NULL;
	int rc = az_disk_blob(ab, key, NULL, &path, &p); /* the handle keeps a link's physical blob */

	if (rc < 0)
		goto fail;
	if (!p.is_page && (flags & BDISK_RDWR)) {
		rc = -EINVAL; /* only page blobs can be written in place */
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		rc = -ENOMEM;
		goto fail;
	}
	d->path = path;
	d->is_page = p.is_page;
	d->size = p.size;
	return az_disk_ready(d, ab, flags, out);
fail:
	free(path);
	return rc;
}

struct name_list {
	char **v, **disk; /* disk[i]: the physical blob of a link, else NULL */
	size_t n, cap;
};

static int collect_name(void *arg, const char *name, int is_prefix, const char *disk, const char *snapshot)
{
	struct name_list *l = arg;
	(void)is_prefix;
	(void)snapshot;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof(*v)), **dv;
		if (!v)
			return -ENOMEM;
		l->v = v;
		dv = realloc(l->disk, cap * sizeof(*dv));
		if (!dv)
			return -ENOMEM;
		l->disk = dv;
		l->cap = cap;
	}
	l->v[l->n] = strdup(name);
	l->disk[l->n] = disk ? strdup(disk) : NULL;
	if (!l->v[l->n] || (disk && !l->disk[l->n])) {
		free(l->v[l->n]);
		free(l->disk[l->n]);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/* Every blob below prefix/ and one named prefix: a link with the physical
 * blob it owns (physical first, so a crash leaves a stale link, never an
 * orphan physical), anything else as it is. */
int az_remove_tree(struct backend *be, const char *prefix)
{
	struct az_backend *ab = AB(be);
	struct name_list l = {0};
	struct blob_props p;
	char pfx[BACKEND_KEY_MAX + 1], *marker = NULL, *path = NULL;
	int rc;

	if (!backend_key_ok(prefix))
		return -EINVAL;
	if (!*prefix)
		return -EINVAL; /* never the whole region */
	snprintf(pfx, sizeof(pfx), "%s/", prefix);
	do {
		rc = az_list_page(ab, pfx, 0, LIST_META, &marker, collect_name, &l);
	} while (rc == 0 && marker);
	free(marker);
	if (rc < 0)
		goto out;
	/* A blob named like the prefix itself. */
	rc = az_blob_path_raw(ab, prefix, &path);
	if (rc == 0)
		rc = head_props(ab, path, &p);
	free(path);
	path = NULL;
	if (rc == 0)
		rc = collect_name(&l, prefix, 0, p.disk[0] ? p.disk : NULL, NULL);
	else if (rc == -ENOENT)
		rc = 0;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		rc = az_blob_path_raw(ab, l.v[i], &path);
		if (rc == 0)
			rc = l.disk[i] ? drop_link(ab, l.v[i], path, l.disk[i], NULL)
				       : az_delete_blob_snaps(ab, path, 1);
		if (rc == -ENOENT)
			rc = 0;
		free(path);
		path = NULL;
	}
out:
	for (size_t i = 0; i < l.n; i++) {
		free(l.v[i]);
		free(l.disk[i]);
	}
	free(l.v);
	free(l.disk);
	return rc;
}
