/*
 * azblob_xml.c - the XML the azblob backend reads from the Blob service
 * (see azblob_xml.h), parsed by libxml2 into a tree and walked by element
 * name.  The parser never reaches the network (XML_PARSE_NONET), never
 * substitutes entities beyond the predefined ones, and reports nothing on
 * stderr: a body it cannot parse is -EIO to the caller.  Plain C, no
 * libcurl: split from azblob.c so that it can be fuzzed
 * (tests/fuzz/fuzz_azxml.c).
 */
#include "azblob_xml.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define PARSE_FLAGS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

/* The document in body[0..len) with its root named root, or NULL. */
static xmlDocPtr parse(const char *body, size_t len, const char *root)
{
	xmlDocPtr doc;
	xmlNodePtr r;

	pthread_once(&xml_once, xml_init);
	if (!body || len == 0 || len > INT_MAX)
		return NULL;
	doc = xmlReadMemory(body, (int)len, NULL, NULL, PARSE_FLAGS);
	r = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!r || xmlStrcmp(r->name, BAD_CAST root) != 0) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* n's first child element named name, or NULL. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0)
			return c;
	return NULL;
}

/* The text of n (entities decoded), malloc'd; *err = -ENOMEM when that
 * fails.  NULL for no element. */
static char *text(xmlNodePtr n, int *err)
{
	xmlChar *t;
	char *s;
	if (!n)
		return NULL;
	t = xmlNodeGetContent(n);
	s = t ? strdup((const char *)t) : NULL;
	xmlFree(t);
	if (!s)
		*err = -ENOMEM;
	return s;
}

int az_xml_list(const char *body, size_t len, int meta, list_fn fn, void *arg, char **marker)
{
	xmlDocPtr doc = parse(body, len, "EnumerationResults");
	xmlNodePtr root, blobs, e;
	char *next;
	int rc = 0;

	if (!doc)
		return -EIO;
	root = xmlDocGetRootElement(doc);
	blobs = child(root, "Blobs");
	for (e = blobs ? blobs->children : NULL; e && rc == 0; e = e->next) {
		int is_prefix;
		char *name, *disk = NULL, *snap = NULL;

		if (e->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(e->name, BAD_CAST "Blob") == 0)
			is_prefix = 0;
		else if (xmlStrcmp(e->name, BAD_CAST "BlobPrefix") == 0)
			is_prefix = 1;
		else
			continue;
		name = text(child(e, "Name"), &rc);
		if (!name)
			continue; /* no name: nothing to report (or -ENOMEM in rc) */
		if (meta && !is_prefix)
			disk = text(child(child(e, "Metadata"), "asrfsdisk"), &rc);
		if (!is_prefix)
			snap = text(child(e, "Snapshot"), &rc);
		if (rc == 0)
			rc = fn(arg, name, is_prefix, disk, snap);
		if (rc > 0)
			rc = 1;
		free(name);
		free(disk);
		free(snap);
	}
	if (rc == 0 && (next = text(child(root, "NextMarker"), &rc)) != NULL) {
		if (*next) {
			free(*marker);
			*marker = next;
		} else {
			free(next);
		}
	}
	xmlFreeDoc(doc);
	return rc;
}

/* A decimal byte offset, all of s; -EIO when it is not one. */
static int number(const char *s, uint64_t *v)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EIO;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EIO : 0;
}

int az_xml_page_ranges(const char *body, size_t len, range_fn fn, void *arg)
{
	xmlDocPtr doc = parse(body, len, "PageList");
	int rc = 0;

	if (!doc)
		return -EIO;
	for (xmlNodePtr e = xmlDocGetRootElement(doc)->children; e && rc == 0; e = e->next) {
		uint64_t first, last;
		char *s, *t;
		if (e->type != XML_ELEMENT_NODE || xmlStrcmp(e->name, BAD_CAST "PageRange") != 0)
			continue;
		s = text(child(e, "Start"), &rc);
		t = text(child(e, "End"), &rc);
		if (rc == 0 && (number(s, &first) < 0 || number(t, &last) < 0 || last < first))
			rc = -EIO;
		if (rc == 0)
			rc = fn(arg, first, last);
		if (rc > 0)
			rc = 1;
		free(s);
		free(t);
	}
	xmlFreeDoc(doc);
	return rc;
}
