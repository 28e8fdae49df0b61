/*
 * test_core_util.c - unit tests of core/util.c: the control-line parser,
 * Azure's naming rules, sizes, times and storage-account names.  These are
 * the gatekeepers of every writable file, so each rule is checked on both
 * sides of its edge.
 */
#include <errno.h>

#include "../../core/util.h"
#include "t.h"

static char err[256];

static int parse(const char *s, struct ctl_line *cl)
{
	return ctl_parse(s, strlen(s), cl, err, sizeof(err));
}

static void test_ctl_bare_and_kv(void)
{
	struct ctl_line cl;
	T_EQ_INT(parse("latest shutdown=yes\n", &cl), 0);
	T_EQ_INT(cl.nbare, 1);
	T_EQ_STR(cl.bare[0], "latest");
	T_EQ_INT(cl.nkv, 1);
	T_EQ_STR(ctl_get(&cl, "shutdown"), "yes");
	T_ASSERT(ctl_get(&cl, "nope") == NULL);
	T_EQ_INT(parse("start", &cl), 0); /* no newline */
	T_EQ_STR(cl.bare[0], "start");
	T_EQ_INT(parse("  a=1   b=2\t", &cl), 0);
	T_EQ_INT(cl.nkv, 2);
	T_EQ_STR(ctl_get(&cl, "b"), "2");
	T_EQ_INT(parse("k=", &cl), 0); /* an empty value is a value */
	T_EQ_STR(ctl_get(&cl, "k"), "");
}

static void test_ctl_refusals(void)
{
	struct ctl_line cl;
	char big[5000];
	T_EQ_INT(parse("", &cl), -EINVAL);
	T_EQ_INT(parse("\n", &cl), -EINVAL);
	T_EQ_INT(parse("   \n", &cl), -EINVAL);
	T_EQ_INT(parse("a\nb\n", &cl), -EINVAL);
	T_EQ_INT(parse("=x", &cl), -EINVAL);
	T_EQ_INT(parse("a=1 a=2", &cl), -EINVAL);
	T_EQ_INT(parse("caf\xc3\xa9", &cl), -EINVAL);
	T_EQ_INT(parse("a\x01", &cl), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	T_EQ_INT(ctl_parse(big, 4097, &cl, err, sizeof(err)), -EINVAL);
	T_EQ_INT(ctl_parse(big, 4096, &cl, err, sizeof(err)), 0); /* exactly 4096 is fine */
}

static void test_ctl_keys(void)
{
	static const char *const allowed[] = {"vm", "source", NULL};
	struct ctl_line cl;
	T_EQ_INT(parse("vm=a/b source=x", &cl), 0);
	T_EQ_INT(ctl_check_keys(&cl, allowed, err, sizeof(err)), 0);
	T_EQ_INT(parse("vm=a/b colour=red", &cl), 0);
	T_EQ_INT(ctl_check_keys(&cl, allowed, err, sizeof(err)), -EINVAL);
	T_ASSERT(strstr(err, "colour") != NULL);
}

static void test_names(void)
{
	char rg90[92], vm64[66], vm65[67];
	memset(rg90, 'r', 90);
	rg90[90] = '\0';
	memset(vm64, 'v', 64);
	vm64[64] = '\0';
	memset(vm65, 'v', 65);
	vm65[65] = '\0';
	T_EQ_INT(name_rg_ok("rg-1_(x).y", err, sizeof(err)), 0);
	T_EQ_INT(name_rg_ok(rg90, err, sizeof(err)), 0);
	T_EQ_INT(name_rg_ok("ends.", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_rg_ok("", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_rg_ok("a/b", err, sizeof(err)), -EINVAL);
	strcat(rg90, "r");
	T_EQ_INT(name_rg_ok(rg90, err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_vm_ok("web-01.a_b", err, sizeof(err)), 0);
	T_EQ_INT(name_vm_ok(vm64, err, sizeof(err)), 0);
	T_EQ_INT(name_vm_ok(vm65, err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_vm_ok("web(1)", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_vm_ok("..", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_sa_ok("abc", err, sizeof(err)), 0);
	T_EQ_INT(name_sa_ok("ab", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_sa_ok("abcdefghijklmnopqrstuvwx", err, sizeof(err)), 0);
	T_EQ_INT(name_sa_ok("abcdefghijklmnopqrstuvwxy", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_sa_ok("Upper1", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_sa_ok("with-dash", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_generic_ok("disk", ".hidden", err, sizeof(err)), -EINVAL);
	T_EQ_INT(name_generic_ok("disk", "web01-os", err, sizeof(err)), 0);
}

static void test_sizes(void)
{
	uint64_t v;
	T_EQ_INT(parse_size("512", &v, err, sizeof(err)), 0);
	T_EQ_INT(v, 512);
	T_EQ_INT(parse_size("4K", &v, err, sizeof(err)), 0);
	T_EQ_INT(v, 4096);
	T_EQ_INT(parse_size("16M", &v, err, sizeof(err)), 0);
	T_EQ_INT(v, 16 << 20);
	T_EQ_INT(parse_size("2G", &v, err, sizeof(err)), 0);
	T_EQ_INT(v, 2ll << 30);
	T_EQ_INT(parse_size("1T", &v, err, sizeof(err)), 0);
	T_EQ_INT(v, 1ll << 40);
	T_EQ_INT(parse_size("1000", &v, err, sizeof(err)), -EINVAL);
	T_ASSERT(strstr(err, "512") != NULL);
	T_EQ_INT(parse_size("0", &v, err, sizeof(err)), -EINVAL);
	T_EQ_INT(parse_size("-512", &v, err, sizeof(err)), -EINVAL);
	T_EQ_INT(parse_size("12X", &v, err, sizeof(err)), -EINVAL);
	T_EQ_INT(parse_size("M", &v, err, sizeof(err)), -EINVAL);
	T_EQ_INT(parse_size("99999999999999999999", &v, err, sizeof(err)), -EINVAL);
	T_EQ_INT(parse_size("20000000T", &v, err, sizeof(err)), -EINVAL); /* overflows */
}

static void test_u64(void)
{
	uint64_t v;
	T_EQ_INT(parse_u64("1", 1, 10, &v), 0);
	T_EQ_INT(v, 1);
	T_EQ_INT(parse_u64("0", 1, 10, &v), -EINVAL);
	T_EQ_INT(parse_u64("11", 1, 10, &v), -EINVAL);
	T_EQ_INT(parse_u64("1x", 1, 10, &v), -EINVAL);
	T_EQ_INT(parse_u64("", 0, 10, &v), -EINVAL);
	T_EQ_INT(parse_u64(" 1", 0, 10, &v), -EINVAL);
}

static void test_times(void)
{
	char b[TIME_STR];
	time_t t;
	fmt_time(1795514700, b); /* 2026-11-24T10:05:00Z */
	T_EQ_STR(b, "2026-11-24T10:05:00Z");
	T_EQ_INT(parse_time("2026-11-24T10:05:00Z", &t), 0);
	T_EQ_INT(t, 1795514700);
	T_EQ_INT(parse_time("2026-11-24 10:05:00", &t), -EINVAL);
	T_EQ_INT(parse_time("2026-11-24T10:05:00Zjunk", &t), -EINVAL);
	fmt_time(0, b);
	T_EQ_STR(b, "");
}

static void test_sa_sanitize(void)
{
	char b[32];
	sa_name_sanitize("asr-vaultasrcache", b, sizeof(b));
	T_EQ_STR(b, "asrvaultasrcache");
	sa_name_sanitize("A_very-LONG.name.for.a.storage.account", b, sizeof(b));
	T_EQ_INT(strlen(b), 24);
	T_EQ_INT(name_sa_ok(b, err, sizeof(err)), 0);
	sa_name_sanitize("x", b, sizeof(b));
	T_EQ_INT(name_sa_ok(b, err, sizeof(err)), 0);
}

static void test_sbuf(void)
{
	struct sbuf sb;
	size_t len;
	char *s;
	sb_init(&sb);
	for (int i = 0; i < 1000; i++)
		sb_printf(&sb, "%d,", i);
	sb_puts(&sb, "end");
	T_EQ_INT(sb.err, 0);
	s = sb_take(&sb, &len);
	T_ASSERT(s != NULL);
	T_EQ_INT(len, strlen(s));
	T_ASSERT(strncmp(s, "0,1,2,", 6) == 0);
	T_ASSERT(strcmp(s + len - 8, "999,end") == 0 || strcmp(s + len - 7, "999,end") == 0);
	free(s);
	sb_free(&sb);
}

/* A printf that does not fit the room left grows the buffer and is whole;
 * sb_putn takes a counted run. */
static void test_sbuf_grow(void)
{
	struct sbuf sb;
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sb_init(&sb);
	sb_puts(&sb, "ab");
	sb_printf(&sb, "[%s]", big);
	sb_putn(&sb, "cdef", 2);
	T_EQ_INT(sb.err, 0);
	T_EQ_INT(sb.len, 2 + 1 + 999 + 1 + 2);
	T_EQ_INT(strlen(sb.buf), sb.len);
	T_ASSERT(strncmp(sb.buf, "ab[xxx", 6) == 0);
	T_EQ_STR(sb.buf + sb.len - 4, "x]cd");
	sb_printf(&sb, "%s", "");
	T_EQ_INT(strlen(sb.buf), sb.len);
	sb_free(&sb);
}

int main(void)
{
	T_RUN(test_ctl_bare_and_kv);
	T_RUN(test_ctl_refusals);
	T_RUN(test_ctl_keys);
	T_RUN(test_names);
	T_RUN(test_sizes);
	T_RUN(test_u64);
	T_RUN(test_times);
	T_RUN(test_sa_sanitize);
	T_RUN(test_sbuf);
	T_RUN(test_sbuf_grow);
	T_DONE();
}
