/*
 * test_azblob_xml.c - reading the Blob service's XML answers
 * (backend/azblob_xml.c): a List Blobs page as Azure writes it (an XML
 * declaration, blobs and prefixes interleaved, entities and character
 * references in names, metadata, snapshots, the next marker), a Get Page
 * Ranges answer with clear ranges among page ranges, and bodies that are
 * not what they should be (truncated, another document, a bad number, an
 * external entity), which are errors, never entries.
 */
#include "../../backend/azblob_xml.h"
#include "t.h"

#include <errno.h>

struct seen {
	char log[2048];
	int stop_after; /* 0: never */
	int n;
};

static int on_entry(void *arg, const char *name, int is_prefix, const char *disk, const char *snapshot)
{
	struct seen *s = arg;
	size_t l = strlen(s->log);
	snprintf(s->log + l, sizeof(s->log) - l, "%s%s|%s|%s;", is_prefix ? "P:" : "B:", name, disk ? disk : "-",
		 snapshot ? snapshot : "-");
	return s->stop_after && ++s->n >= s->stop_after;
}

static const char page[] =
	"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	"<EnumerationResults ServiceEndpoint=\"http://127.0.0.1/devstoreaccount1\" ContainerName=\"asr\">"
	"<Prefix>vaults/</Prefix><Delimiter>/</Delimiter>"
	"<Blobs>"
	"<BlobPrefix><Name>vaults/a&amp;b/</Name></BlobPrefix>"
	"<Blob><Name>vaults/x&lt;y&#233;.json</Name><Properties><Content-Length>5</Content-Length></Properties>"
	"<Metadata><asrfsdisk>.disks/00ff</asrfsdisk><other>1</other></Metadata></Blob>"
	"<BlobPrefix><Name>vaults/z/</Name></BlobPrefix>"
	"<Blob><Name>.disks/00ff</Name><Snapshot>2026-11-24T10:05:00.1234567Z</Snapshot></Blob>"
	"</Blobs>"
	"<NextMarker>2!96!MDAwMDE</NextMarker>"
	"</EnumerationResults>";

static void test_list_page(void)
{
	struct seen s = {0};
	char *marker = NULL;

	T_EQ_INT(az_xml_list(page, sizeof(page) - 1, 1, on_entry, &s, &marker), 0);
	T_EQ_STR(s.log, "P:vaults/a&b/|-|-;B:vaults/x<y\xC3\xA9.json|.disks/00ff|-;P:vaults/z/|-|-;"
			"B:.disks/00ff|-|2026-11-24T10:05:00.1234567Z;");
	T_ASSERT(marker != NULL);
	T_EQ_STR(marker, "2!96!MDAwMDE");
	free(marker);
	/* Without meta, no metadata; a callback may stop the walk. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	marker = NULL;
	T_EQ_INT(az_xml_list(page, sizeof(page) - 1, 0, on_entry, &s, &marker), 1);
	T_EQ_STR(s.log, "P:vaults/a&b/|-|-;B:vaults/x<y\xC3\xA9.json|-|-;");
	T_ASSERT(marker == NULL);
}

static void test_list_last_page(void)
{
	static const char last[] = "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>";
	struct seen s = {0};
	char *marker = NULL;
	T_EQ_INT(az_xml_list(last, sizeof(last) - 1, 1, on_entry, &s, &marker), 0);
	T_EQ_STR(s.log, "");
	T_ASSERT(marker == NULL);
}

static void test_list_not_a_list(void)
{
	static const char *const bad[] = {
		"",
		"<EnumerationResults><Blobs><Blob><Name>a</Name>", /* cut short */
		"<Error><Code>AuthenticationFailed</Code></Error>",
		"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		"<EnumerationResults><Blobs><Blob><Name>&x;</Name></Blob></Blobs></EnumerationResults>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = {0};
		char *marker = NULL;
		int rc = az_xml_list(bad[i], strlen(bad[i]), 1, on_entry, &s, &marker);
		if (i < 3) {
			T_EQ_INT(rc, -EIO);
		} else { /* the external entity is never read: no name, no entry */
			T_ASSERT(rc == -EIO || rc == 0);
			T_ASSERT(strstr(s.log, "root") == NULL);
		}
		T_ASSERT(marker == NULL);
	}
}

struct ranges {
	uint64_t v[8][2];
	int n;
};

static int on_range(void *arg, uint64_t first, uint64_t last)
{
	struct ranges *r = arg;
	if (r->n < 8) {
		r->v[r->n][0] = first;
		r->v[r->n][1] = last;
	}
	r->n++;
	return 0;
}

static void test_page_ranges(void)
{
	static const char pl[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>"
				 "<PageRange><Start>0</Start><End>511</End></PageRange>"
				 "<ClearRange><Start>512</Start><End>1023</End></ClearRange>"
				 "<PageRange><Start>1048576</Start><End>5242879</End></PageRange>"
				 "</PageList>";
	static const char *const bad[] = {
		"<PageList><PageRange><Start>0</Start><End>x</End></PageRange></PageList>",
		"<PageList><PageRange><Start>9</Start><End>1</End></PageRange></PageList>",
		"<PageList><PageRange><Start>-1</Start><End>1</End></PageRange></PageList>",
		"<PageList><PageRange><Start>0</Start></PageRange></PageList>",
		"<PageList><PageRange>",
		"<EnumerationResults/>",
	};
	struct ranges r = {0};

	T_EQ_INT(az_xml_page_ranges(pl, sizeof(pl) - 1, on_range, &r), 0);
	T_EQ_INT(r.n, 2);
	T_EQ_INT(r.v[0][0], 0);
	T_EQ_INT(r.v[0][1], 511);
	T_EQ_INT(r.v[1][0], 1048576);
	T_EQ_INT(r.v[1][1], 5242879);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		T_EQ_INT(az_xml_page_ranges(bad[i], strlen(bad[i]), on_range, &r), -EIO);
		T_EQ_INT(r.n, 0);
	}
	memset(&r, 0, sizeof(r));
	T_EQ_INT(az_xml_page_ranges("<PageList/>", 11, on_range, &r), 0);
	T_EQ_INT(r.n, 0);
}

int main(void)
{
	T_RUN(test_list_page);
	T_RUN(test_list_last_page);
	T_RUN(test_list_not_a_list);
	T_RUN(test_page_ranges);
	T_DONE();
}
