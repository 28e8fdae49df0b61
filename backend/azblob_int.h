/*
 * azblob_int.h - what the parts of the azblob backend share (not for use
 * outside backend/azblob*.c): the backend and open-disk structs, one HTTP
 * request (azblob_http.c), blob names (azblob.c), records and listings
 * (azblob_rec.c), disk links and the properties a HEAD reads
 * (azblob_link.c), the page I/O other parts call (azblob_page.c) and
 * snapshot listing (azblob_snap.c).  azblob.c's top comment says how the
 * parts fit; each part's top comment says what it holds.
 */
#ifndef ASRFS_AZBLOB_INT_H
#define ASRFS_AZBLOB_INT_H

#include "backend.h"
#include "azblob_buf.h"
#include "azblob_sign.h"
#include "azblob_xml.h"
#include "vhd.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#define SECTOR 512ULL
#define MAX_HDRS 12
#define POOL_MAX 16

struct az_backend {
	struct backend base;
	char *endpoint;  /* as configured, trailing '/' dropped */
	char *origin;    /* scheme://host[:port] */
	char *base_path; /* the endpoint's path ("/devstoreaccount1" or "") */
	char *account;
	char *container;
	char *region;
	unsigned char *key; /* decoded account key (NULL with a SAS) */
	size_t keylen;
	char *sas;          /* a shared access signature's query string, or NULL */
	char lease_seconds[8]; /* x-ms-lease-duration */
	pthread_mutex_t pool_lock;
	CURL *pool[POOL_MAX];
	int npool;
};

struct az_disk {
	struct bdisk base;
	struct az_backend *ab;
	char *path; /* URL path of the blob, encoded */
	int flags;
	int is_page;
	char *snapq; /* a snapshot's handle (read-only): "snapshot=<id>", else NULL */
	char *pageq; /* its Get Page Ranges query, else NULL */
	pthread_mutex_t lock; /* size */
	pthread_mutex_t rmw;  /* orders read-modify-writes of edge sectors */
	uint64_t size;        /* the disk's bytes (the footer left out) */
	int footer;           /* the blob ends with a VHD footer: */
	uint8_t vhd[VHD_FOOTER_SIZE]; /* that footer */
};

/* ---- one HTTP request (azblob_http.c) ---- */

struct az_req {
	/* what to send */
	const char *verb;
	const char *path;  /* URL path as sent (encoded), from the origin */
	const char *query; /* raw query without '?', or NULL */
	const char *hn[MAX_HDRS], *hv[MAX_HDRS];
	int nh;
	const void *body; /* PUT body */
	size_t body_len;
	void *into; /* 2xx body goes here (at most into_cap bytes) when set */
	size_t into_cap;
	int probe; /* short timeouts, fewer tries */
	/* what came back */
	long status;
	int tries;
	struct az_buf resp; /* body (unless into) */
	size_t got;	  /* bytes into `into` */
	int overflow;
	struct az_buf hdrs; /* raw header lines of the final response */
	char errbuf[CURL_ERROR_SIZE];
	/* in flight */
	CURL *h;
	struct curl_slist *slist;
	size_t upos;
	struct timespec t0; /* when the current try was set up (for the trace) */
	char client_id[40]; /* x-ms-client-request-id of the current try */
	const char *ctype;  /* Content-Type of a body, or NULL */
};

void az_req_hdr(struct az_req *r, const char *name, const char *value);
void az_req_cond(struct az_req *r, const char *if_match);
void az_req_free(struct az_req *r);
int az_resp_hdr(const struct az_req *r, const char *name, char *buf, size_t len);
CURL *az_pool_get(struct az_backend *ab);
void az_pool_put(struct az_backend *ab, CURL *h);
void az_req_trace(const struct az_req *r, int cc);
int az_req_setup(struct az_backend *ab, CURL *h, struct az_req *r);
int az_retryable_status(long st);
int az_perform(struct az_backend *ab, struct az_req *r);
int az_status_errno(const struct az_req *r);
int az_is_error_code(const struct az_req *r, const char *code);
int az_perform_want(struct az_backend *ab, struct az_req *r, long want);

/* ---- names (azblob.c) ---- */

static inline struct az_backend *AB(struct backend *be) { return (struct az_backend *)be; }
static inline struct az_disk *AD(struct bdisk *d) { return (struct az_disk *)d; }

int az_blob_path_raw(struct az_backend *ab, const char *name, char **out);
int az_blob_path(struct az_backend *ab, const char *key, char **out);

/* ---- records, listings (azblob_rec.c) ---- */

/* list_page's include */
#define LIST_META 1  /* include=metadata */
#define LIST_SNAPS 2 /* include=snapshots */

int az_get_blob(struct az_backend *ab, const char *path, int probe, char **data, size_t *len,
		char etag[BACKEND_ETAG_MAX], char *why, size_t whylen);
int az_put_cond(struct az_backend *ab, struct az_req *r, const char *if_match, char etag[BACKEND_ETAG_MAX],
		int (*landed)(struct az_backend *ab, void *arg, char etag[BACKEND_ETAG_MAX]), void *arg);
int az_put_block_blob(struct az_backend *ab, const char *path, const void *data, size_t len,
		      const char *if_match, char etag[BACKEND_ETAG_MAX]);
int az_delete_blob_snaps(struct az_backend *ab, const char *path, int snaps);
int az_delete_blob(struct az_backend *ab, const char *path);
int az_rec_get(struct backend *be, const char *key, char **data, size_t *len,
	       char etag[BACKEND_ETAG_MAX]);
int az_rec_put(struct backend *be, const char *key, const void *data, size_t len, const char *if_match,
	       char etag[BACKEND_ETAG_MAX]);
int az_rec_del(struct backend *be, const char *key);
int az_list_page(struct az_backend *ab, const char *prefix, int delim, int include, char **marker, list_fn fn,
		 void *arg);
int az_list(struct backend *be, const char *prefix, backend_list_cb cb, void *arg);
int az_lease_acquire(struct backend *be, const char *key, void **lease);
int az_lease_renew(void *lease);
void az_lease_release(void *lease);

/* ---- disk links (azblob_link.c) ---- */

/*
 * A disk key holds a link (azblob_link.c's top comment): an empty block
 * blob whose metadata names the physical page blob ".disks/<32 hex>"; the
 * physical blob's metadata names its owner key.  The names of the
 * metadata, as headers:
 */
#define PHYS_DIR ".disks/"
#define PHYS_HEX 32 /* a random 128-bit id */
#define PHYS_MAX (sizeof(PHYS_DIR) + PHYS_HEX)
#define OWNER_MAX (3 * BACKEND_KEY_MAX + 1) /* a key, percent-encoded */
#define M_DISK "x-ms-meta-asrfsdisk"	    /* link: its physical blob */
#define M_OWNER "x-ms-meta-asrfsowner"	    /* physical: the key whose link is valid */
#define M_VETAG "x-ms-meta-asrfsvetag"	    /* link: the physical's ETag after the rename... */
#define M_VER "x-ms-meta-asrfsver"	    /* ...stands for this version token */
#define OWNER_TRIES 5			    /* rename's owner update, racing writes */

/* What a HEAD says about a blob. */
struct blob_props {
	uint64_t size;
	int is_page;
	char etag[BACKEND_ETAG_MAX]; /* as sent, quoted */
	char disk[PHYS_MAX + 1];     /* M_DISK; one byte more, so an overlong value shows */
	char owner[OWNER_MAX];	     /* M_OWNER */
	char vetag[BACKEND_ETAG_MAX], ver[BACKEND_ETAG_MAX];
};

/* What a disk key names. */
enum { D_ABSENT, D_PLAIN, D_LINK, D_STALE };

struct az_target {
	int kind;		 /* D_*: see resolve() */
	char phys[PHYS_MAX];	 /* D_LINK, D_STALE: the link's physical blob */
	char link_etag[BACKEND_ETAG_MAX];
	char vetag[BACKEND_ETAG_MAX], ver[BACKEND_ETAG_MAX]; /* the link's version alias */
	struct blob_props p;	 /* D_PLAIN: the blob at the key; D_LINK: the physical */
};

int az_head_blob(struct az_backend *ab, const char *path, uint64_t *size, int *is_page);
int az_disk_blob(struct az_backend *ab, const char *key, char **name, char **path, struct blob_props *p);
int az_disk_create(struct backend *be, const char *key, uint64_t size);
int az_disk_delete(struct backend *be, const char *key);
int az_disk_exists(struct backend *be, const char *key);
int az_disk_version(struct backend *be, const char *key, char ver[BACKEND_ETAG_MAX]);
int az_disk_rename(struct backend *be, const char *from, const char *to);
int az_disk_open(struct backend *be, const char *key, int flags, struct bdisk **out);
int az_remove_tree(struct backend *be, const char *prefix);

/* ---- open disks (azblob_page.c) ---- */

int az_footer_probe(struct az_disk *d);
int az_disk_ready(struct az_disk *d, struct az_backend *ab, int flags, struct bdisk **out);
void az_disk_close(struct bdisk *bd);
int az_disk_size(struct bdisk *bd, uint64_t *size);
int az_disk_truncate(struct bdisk *bd, uint64_t size);
int az_put_pages(struct az_disk *d, const char *data, uint64_t off, uint64_t n);
ssize_t az_disk_pread(struct bdisk *bd, void *buf, size_t len, uint64_t off);
ssize_t az_disk_pwrite(struct bdisk *bd, const void *buf, size_t len, uint64_t off);
int az_disk_zero(struct bdisk *bd, uint64_t off, uint64_t len);
int az_disk_next_data(struct bdisk *bd, uint64_t off, uint64_t *start, uint64_t *end);
int az_disk_footer(struct bdisk *bd, uint8_t f[VHD_FOOTER_SIZE]);
int az_disk_sync(struct bdisk *bd);

/* ---- snapshots (azblob_snap.c) ---- */

int az_list_snaps(struct az_backend *ab, const char *name, int (*cb)(void *, const char *), void *arg);
int az_disk_snapshot(struct backend *be, const char *key, char snap[BACKEND_SNAP_MAX]);
int az_disk_snapshot_delete(struct backend *be, const char *key, const char *snap);
int az_disk_snapshot_list(struct backend *be, const char *key, int (*cb)(void *arg, const char *snap),
			  void *arg);
int az_disk_open_snapshot(struct backend *be, const char *key, const char *snap, struct bdisk **out);
int az_copy_wait(struct az_backend *ab, const char *path, char status[64]);
int az_disk_copy_snapshot(struct bdisk *dst, struct backend *be, const char *key, const char *snap);

#endif
