/*
 * test_azblob_sign.c - the azblob backend's SharedKey signing checked
 * against worked examples built by hand from Microsoft's "Authorize with
 * Shared Key" rules: the exact string to sign (standard headers in their
 * fixed order, Content-Length empty when 0, x-ms-* headers lowercased and
 * sorted, the account twice for a path-style URL, query names lowercased,
 * values decoded and sorted) and its HMAC-SHA256 under Azurite's public
 * development key.  The signatures were computed independently (Python's
 * hmac module) from the same strings.
 */
#include "../../backend/azblob_sign.h"
#include "t.h"

/* Azurite's well-known development account key (public; tests only). */
static const char dev_key[] =
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

static void test_list_blobs_string_to_sign(void)
{
	/* Headers out of order and in mixed case, a Content-Length of 0. */
	const struct az_hdr h[] = {
		{"x-ms-version", "2021-08-06"},
		{"X-MS-Range", " bytes=0-511 "},
		{"If-Match", "\"0x8DAEC1\""},
		{"Content-Length", "0"},
		{"x-ms-date", "Mon, 02 Jan 2023 03:04:05 GMT"},
		{"Authorization-Like", "ignored"},
	};
	const char *want = "GET\n"
			   "\n"	      /* Content-Encoding */
			   "\n"	      /* Content-Language */
			   "\n"	      /* Content-Length: 0 signs as empty */
			   "\n"	      /* Content-MD5 */
			   "\n"	      /* Content-Type */
			   "\n"	      /* Date */
			   "\n"	      /* If-Modified-Since */
			   "\"0x8DAEC1\"\n" /* If-Match */
			   "\n"	      /* If-None-Match */
			   "\n"	      /* If-Unmodified-Since */
			   "\n"	      /* Range */
			   "x-ms-date:Mon, 02 Jan 2023 03:04:05 GMT\n"
			   "x-ms-range:bytes=0-511\n"
			   "x-ms-version:2021-08-06\n"
			   "/devstoreaccount1/devstoreaccount1/asr"
			   "\ncomp:list"
			   "\ndelimiter:/"
			   "\nmaxresults:5"
			   "\nprefix:vaults/a b"
			   "\nrestype:container";
	unsigned char *key = NULL;
	size_t keylen = 0;
	char *sts = NULL, sig[64];

	T_EQ_INT(az_string_to_sign("GET", "devstoreaccount1", "/devstoreaccount1/asr",
				   "restype=container&comp=list&prefix=vaults%2Fa%20b&delimiter=%2F&MaxResults=5",
				   h, sizeof(h) / sizeof(h[0]), &sts),
		 0);
	if (strcmp(sts, want) != 0) {
		T_FAIL("string to sign differs:\n--- got\n%s\n--- want\n%s", sts, want);
		free(sts);
		return;
	}
	T_EQ_INT(az_b64_decode(dev_key, &key, &keylen), 0);
	T_EQ_INT(keylen, 64);
	T_EQ_INT(az_hmac_b64(key, keylen, sts, sig, sizeof(sig)), 0);
	free(key);
	free(sts);
	T_EQ_STR(sig, "MVVrokvyrFz6KvT3dD3pBAhB3k9V7DRsc//pZqjj2G0=");
}

static void test_put_blob_string_to_sign(void)
{
	const struct az_hdr h[] = {
		{"Content-Length", "11"},
		{"If-None-Match", "*"},
		{"x-ms-version", "2021-08-06"},
		{"x-ms-date", "Tue, 03 Jan 2023 04:05:06 GMT"},
		{"x-ms-blob-type", "BlockBlob"},
		{"Expect", ""},
	};
	const char *want = "PUT\n\n\n11\n\n\n\n\n\n*\n\n\n"
			   "x-ms-blob-type:BlockBlob\n"
			   "x-ms-date:Tue, 03 Jan 2023 04:05:06 GMT\n"
			   "x-ms-version:2021-08-06\n"
			   "/devstoreaccount1/devstoreaccount1/asr/vaults/v%201.json";
	unsigned char *key = NULL;
	size_t keylen = 0;
	char *sts = NULL, sig[64];

	T_EQ_INT(az_string_to_sign("PUT", "devstoreaccount1", "/devstoreaccount1/asr/vaults/v%201.json", NULL, h,
				   sizeof(h) / sizeof(h[0]), &sts),
		 0);
	if (strcmp(sts, want) != 0) {
		T_FAIL("string to sign differs:\n--- got\n%s\n--- want\n%s", sts, want);
		free(sts);
		return;
	}
	T_EQ_INT(az_b64_decode(dev_key, &key, &keylen), 0);
	T_EQ_INT(az_hmac_b64(key, keylen, sts, sig, sizeof(sig)), 0);
	free(key);
	free(sts);
	T_EQ_STR(sig, "aXkQsGvlHWHEp0qyLtJPV+AgdAtln96UfBr8jVdJCNw=");
}

static void test_repeated_query_values(void)
{
	char *sts = NULL;
	const char *tail;
	T_EQ_INT(az_string_to_sign("GET", "acct", "/c", "b=2&A=z&b=1&flag", NULL, 0, &sts), 0);
	tail = strstr(sts, "/acct/c");
	T_ASSERT(tail);
	T_EQ_STR(tail, "/acct/c\na:z\nb:1,2\nflag:");
	free(sts);
}

static void test_base64_and_date(void)
{
	unsigned char *out = NULL;
	size_t n = 0;
	char date[32], dec[16];

	T_EQ_INT(az_b64_decode("aGVsbG8=", &out, &n), 0);
	T_EQ_INT(n, 5);
	T_ASSERT(memcmp(out, "hello", 5) == 0);
	free(out);
	T_EQ_INT(az_b64_decode("not base64!", &out, &n), -22);
	az_http_date((time_t)784111777, date);
	T_EQ_STR(date, "Sun, 06 Nov 1994 08:49:37 GMT");
	az_url_decode("a%2Fb%2", 7, dec);
	T_EQ_STR(dec, "a/b%2");
}

int main(void)
{
	T_RUN(test_list_blobs_string_to_sign);
	T_RUN(test_put_blob_string_to_sign);
	T_RUN(test_repeated_query_values);
	T_RUN(test_base64_and_date);
	T_DONE();
}
