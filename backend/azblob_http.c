/*
 * azblob_http.c - one HTTP request of the azblob backend: building it (URL,
 * headers, a SharedKey signature from azblob_sign.c or the region's SAS),
 * sending it on an easy handle from the backend's pool, retrying it, and
 * reading its answer (status, headers, body); the request trace.  Every
 * other part of the backend talks to the service through az_perform here
 * (azblob_page.c also drives several at once on a curl multi handle, with
 * az_req_setup and the pool).
 *
 * Requests.  Every request is signed with SharedKey (azblob_sign.c) and a
 * fresh x-ms-date on every try; or, when the region has a shared access
 * signature instead of the key (conf sas: for accounts where shared-key
 * access is disabled), carries that SAS's query string after its own and no
 * Authorization header.  Every try sends User-Agent asrfs/<version> and a
 * fresh x-ms-client-request-id (a UUID), which the trace (below) pairs
 * with the service's x-ms-request-id.  Records go up with their
 * Content-Type: application/json for JSON records ("....json"),
 * application/octet-stream for the rest (block maps, marker, links).
 * Easy handles come from a small pool on the backend, so connections are
 * reused across calls and threads.  Transport
 * errors, timeouts, 500 and 503 are retried with exponential backoff (4
 * tries), after which the call fails with -EHOSTUNREACH, the backend-wide
 * meaning of "region unreachable".  A conditional write retried after an
 * ambiguous failure re-reads the blob to tell "our first try landed" from a
 * real conflict.
 */
#define _GNU_SOURCE
#include "azblob_int.h"
#include "version.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define AZ_VERSION "2021-08-06"
#define TRIES 4
#define PROBE_TRIES 2

void az_req_hdr(struct az_req *r, const char *name, const char *value)
{
	if (r->nh < MAX_HDRS) {
		r->hn[r->nh] = name;
		r->hv[r->nh] = value;
		r->nh++;
	}
}

/* A write's condition, as rec_put's if_match: NULL none, "" only when the
 * blob is absent (If-None-Match: *), else only over that ETag (If-Match). */
void az_req_cond(struct az_req *r, const char *if_match)
{
	if (if_match && !*if_match)
		az_req_hdr(r, "If-None-Match", "*");
	else if (if_match)
		az_req_hdr(r, "If-Match", if_match);
}

void az_req_free(struct az_req *r)
{
	az_buf_free(&r->resp);
	az_buf_free(&r->hdrs);
	curl_slist_free_all(r->slist);
	r->slist = NULL;
}

/* A response header's value (case-insensitive name), copied into buf. */
int az_resp_hdr(const struct az_req *r, const char *name, char *buf, size_t len)
{
	const char *p = r->hdrs.p;
	size_t nl = strlen(name);
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t vn = ll - nl - 1;
			while (vn && (*v == ' ' || *v == '\t'))
				v++, vn--;
			while (vn && (v[vn - 1] == '\r' || v[vn - 1] == ' '))
				vn--;
			if (vn >= len)
				vn = len - 1;
			memcpy(buf, v, vn);
			buf[vn] = '\0';
			return 1;
		}
		p = eol ? eol + 1 : NULL;
	}
	if (len)
		buf[0] = '\0';
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct az_req *r = arg;
	size_t len = size * n;
	long st = 0;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &st);
	if (r->into && st >= 200 && st < 300) {
		if (len > r->into_cap - r->got) {
			r->overflow = 1;
			return 0;
		}
		memcpy((char *)r->into + r->got, data, len);
		r->got += len;
		return len;
	}
	az_buf_addn(&r->resp, data, len);
	return r->resp.err ? 0 : len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct az_req *r = arg;
	size_t len = size * n;
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		r->hdrs.len = 0; /* a new response (after 100 Continue, say) */
		if (r->hdrs.p)
			r->hdrs.p[0] = '\0';
	}
	az_buf_addn(&r->hdrs, data, len);
	return r->hdrs.err ? 0 : len;
}

static size_t on_upload(char *buf, size_t size, size_t n, void *arg)
{
	struct az_req *r = arg;
	size_t len = size * n, left = r->body_len - r->upos;
	if (len > left)
		len = left;
	if (len)
		memcpy(buf, (const char *)r->body + r->upos, len);
	r->upos += len;
	return len;
}

/* curl rewinds an upload it must resend (a reused connection dropped). */
static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct az_req *r = arg;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->upos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

CURL *az_pool_get(struct az_backend *ab)
{
	CURL *h = NULL;
	pthread_mutex_lock(&ab->pool_lock);
	if (ab->npool > 0)
		h = ab->pool[--ab->npool];
	pthread_mutex_unlock(&ab->pool_lock);
	return h ? h : curl_easy_init();
}

void az_pool_put(struct az_backend *ab, CURL *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&ab->pool_lock);
	if (ab->npool < POOL_MAX) {
		ab->pool[ab->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&ab->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* Reset the response side of r for a new try. */
static void req_reset(struct az_req *r)
{
	r->status = 0;
	r->got = 0;
	r->overflow = 0;
	r->upos = 0;
	r->resp.len = 0;
	if (r->resp.p)
		r->resp.p[0] = '\0';
	r->hdrs.len = 0;
	if (r->hdrs.p)
		r->hdrs.p[0] = '\0';
	r->errbuf[0] = '\0';
	curl_slist_free_all(r->slist);
	r->slist = NULL;
}

static int slist_add(struct curl_slist **l, const char *name, const char *value)
{
	char line[4096]; /* an owner's metadata value is a key, percent-encoded */
	struct curl_slist *n;
	int k = snprintf(line, sizeof(line), "%s:%s%s", name, *value ? " " : "", value);
	if (k < 0 || (size_t)k >= sizeof(line))
		return -ENAMETOOLONG;
	n = curl_slist_append(*l, line);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* The request trace: with ASRFS_AZBLOB_TRACE=<file> in the environment,
 * every finished try appends one line: start time (ms since the epoch), thread,
 * verb, path?query, status, body bytes up and down, milliseconds taken, then
 * time=<start, RFC 3339 UTC> client=<x-ms-client-request-id>
 * request=<x-ms-request-id> error=<x-ms-error-code> ("-" when the answer had
 * none), the ids Azure support asks for.  For finding where a job's time
 * goes; it names blobs, never a key or signature (the SAS is never in it:
 * path?query is the request's own, before the SAS is added). */
static FILE *trace_out;
static pthread_once_t trace_once = PTHREAD_ONCE_INIT;

static void trace_init(void)
{
	const char *p = getenv("ASRFS_AZBLOB_TRACE");
	if (p && *p)
		trace_out = fopen(p, "a");
	if (trace_out)
		setvbuf(trace_out, NULL, _IOLBF, 0);
}

static double ms_of(const struct timespec *t) { return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6; }

void az_req_trace(const struct az_req *r, int cc)
{
	struct timespec now;
	struct tm tm;
	char when[40], rid[80] = "", ecode[80] = "";
	size_t n;
	if (!trace_out)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&r->t0.tv_sec, &tm);
	n = strftime(when, sizeof(when) - 6, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03dZ", (int)(r->t0.tv_nsec / 1000000L) % 1000);
	az_resp_hdr(r, "x-ms-request-id", rid, sizeof(rid));
	az_resp_hdr(r, "x-ms-error-code", ecode, sizeof(ecode));
	fprintf(trace_out, "%.3f %lx %s %s%s%s %ld%s%s up=%zu down=%zu %.3fms time=%s client=%s request=%s error=%s\n",
		ms_of(&r->t0), (unsigned long)pthread_self() & 0xffffff, r->verb, r->path,
		r->query && *r->query ? "?" : "", r->query ? r->query : "", r->status, cc ? " curl=" : "",
		cc ? curl_easy_strerror((CURLcode)cc) : "", r->body_len, r->into ? r->got : r->resp.len,
		ms_of(&now) - ms_of(&r->t0), when, r->client_id[0] ? r->client_id : "-", rid[0] ? rid : "-",
		ecode[0] ? ecode : "-");
}

/* A fresh x-ms-client-request-id: a version 4 UUID, as the Azure SDKs send. */
static int new_client_id(char id[40])
{
	uint8_t u[16];
	int rc = vhd_uuid4(u);
	if (rc < 0)
		return rc;
	snprintf(id, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
		 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	return 0;
}

/* Sign r with a fresh date and configure h to send it. */
int az_req_setup(struct az_backend *ab, CURL *h, struct az_req *r)
{
	struct az_hdr sh[MAX_HDRS + 6];
	char date[32], clen[32], sig[64], auth[512];
	struct az_buf url = {0};
	char *sts = NULL;
	size_t n = 0;
	int rc, is_put = strcmp(r->verb, "PUT") == 0;

	req_reset(r);
	r->h = h;
	pthread_once(&trace_once, trace_init);
	clock_gettime(CLOCK_REALTIME, &r->t0);
	az_http_date(time(NULL), date);
	rc = new_client_id(r->client_id);
	if (rc < 0)
		goto out;
	for (int i = 0; i < r->nh; i++)
		sh[n++] = (struct az_hdr){r->hn[i], r->hv[i]};
	sh[n++] = (struct az_hdr){"x-ms-date", date};
	sh[n++] = (struct az_hdr){"x-ms-version", AZ_VERSION};
	sh[n++] = (struct az_hdr){"x-ms-client-request-id", r->client_id};
	if (r->ctype)
		sh[n++] = (struct az_hdr){"Content-Type", r->ctype};
	if (is_put) {
		snprintf(clen, sizeof(clen), "%zu", r->body_len);
		sh[n++] = (struct az_hdr){"Content-Length", clen};
	}
	if (!ab->sas) { /* SharedKey; with a SAS the query string is the authorization */
		rc = az_string_to_sign(r->verb, ab->account, r->path, r->query, sh, n, &sts);
		if (rc < 0)
			goto out;
		rc = az_hmac_b64(ab->key, ab->keylen, sts, sig, sizeof(sig));
		if (rc < 0)
			goto out;
		snprintf(auth, sizeof(auth), "SharedKey %s:%s", ab->account, sig);
	}

	for (int i = 0; i < r->nh && rc == 0; i++)
		rc = slist_add(&r->slist, r->hn[i], r->hv[i]);
	if (rc == 0)
		rc = slist_add(&r->slist, "x-ms-date", date);
	if (rc == 0)
		rc = slist_add(&r->slist, "x-ms-version", AZ_VERSION);
	if (rc == 0)
		rc = slist_add(&r->slist, "x-ms-client-request-id", r->client_id);
	if (rc == 0 && !ab->sas)
		rc = slist_add(&r->slist, "Authorization", auth);
	if (rc == 0)
		rc = slist_add(&r->slist, "Expect", "");
	if (rc == 0) /* none unless the body has one (curl would send its own) */
		rc = slist_add(&r->slist, "Content-Type", r->ctype ? r->ctype : "");
	if (rc < 0)
		goto out;

	az_buf_add(&url, ab->origin);
	az_buf_add(&url, r->path);
	if ((r->query && *r->query) || ab->sas)
		az_buf_add(&url, "?");
	if (r->query && *r->query)
		az_buf_add(&url, r->query);
	if (ab->sas) {
		if (r->query && *r->query)
			az_buf_add(&url, "&");
		az_buf_add(&url, ab->sas);
	}
	if (url.err) {
		rc = url.err;
		goto out;
	}

	curl_easy_reset(h); /* keeps the connection cache */
	curl_easy_setopt(h, CURLOPT_URL, url.p);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->slist);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "asrfs/" ASRFS_VERSION);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->probe ? 2000L : 3000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->probe ? 2000L : 30000L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (is_put) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
	} else if (strcmp(r->verb, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->verb, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->verb);
	}
	rc = 0;
out:
	free(sts);
	az_buf_free(&url);
	return rc;
}

int az_retryable_status(long st) { return st == 500 || st == 503 || st == 408; }

static void backoff(int try)
{
	struct timespec ts;
	long ms = 100L << (try - 1);
	ms += rand() % 50; /* spread retries of parallel callers */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* Send r, retrying; 0 with r->status set, or -errno (-EHOSTUNREACH when the
 * endpoint could not be reached or kept failing).  The caller frees r. */
int az_perform(struct az_backend *ab, struct az_req *r)
{
	int max = r->probe ? PROBE_TRIES : TRIES, rc = -EHOSTUNREACH;
	CURL *h = az_pool_get(ab);

	if (!h)
		return -ENOMEM;
	for (r->tries = 1;; r->tries++) {
		CURLcode cc;
		rc = az_req_setup(ab, h, r);
		if (rc < 0)
			break;
		cc = curl_easy_perform(h);
		if (cc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		az_req_trace(r, cc);
		if (cc == CURLE_OK) {
			if (!az_retryable_status(r->status)) {
				rc = 0;
				break;
			}
			snprintf(r->errbuf, sizeof(r->errbuf), "HTTP %ld", r->status);
		} else if (r->overflow) {
			rc = -EIO;
			break;
		} else if (r->resp.err || r->hdrs.err || cc == CURLE_OUT_OF_MEMORY) {
			rc = -ENOMEM;
			break;
		} else if (!r->errbuf[0]) {
			snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(cc));
		}
		rc = -EHOSTUNREACH;
		if (r->tries >= max)
			break;
		backoff(r->tries);
	}
	curl_slist_free_all(r->slist);
	r->slist = NULL;
	r->h = NULL;
	if (rc == -EHOSTUNREACH) {
		/* A handle whose connection timed out is not worth keeping. */
		curl_easy_cleanup(h);
	} else {
		az_pool_put(ab, h);
	}
	return rc;
}

int az_status_errno(const struct az_req *r)
{
	switch (r->status) {
	case 400:
	case 416:
		return -EINVAL;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 412:
		return -ESTALE;
	case 413:
		return -EFBIG;
	default:
		return r->status >= 500 ? -EHOSTUNREACH : -EIO;
	}
}

int az_is_error_code(const struct az_req *r, const char *code)
{
	char v[96];
	return az_resp_hdr(r, "x-ms-error-code", v, sizeof(v)) && strcmp(v, code) == 0;
}

/* az_perform, then any answer but `want` as its errno. */
int az_perform_want(struct az_backend *ab, struct az_req *r, long want)
{
	int rc = az_perform(ab, r);
	if (rc == 0 && r->status != want)
		rc = az_status_errno(r);
	return rc;
}
