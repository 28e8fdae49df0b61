/*
 * eio.c - an LD_PRELOAD shim that makes a medium fail: pread, pwrite and
 * fallocate on files whose path contains $ASRFS_EIO_PATH fail with EIO
 * while the file $ASRFS_EIO_SWITCH exists (so a test turns the fault on and
 * off without restarting the daemon).  $ASRFS_EIO_OPS picks "read",
 * "write" or both (unset).  With $ASRFS_EIO_DELAY_MS set, those calls do not
 * fail but wait that many milliseconds first: a slow medium, which keeps a
 * job running long enough to be cancelled, refused or killed.  The
 * integration tests load it into asrfs to see what an I/O error on a
 * replica does to cycles, points and failover.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { OP_READ, OP_WRITE, OP_RECORD };

static int faulty(int fd, int op)
{
	static const char *const names[] = {"read", "write", "record"};
	const char *pat = getenv("ASRFS_EIO_PATH"), *sw = getenv("ASRFS_EIO_SWITCH"), *ops = getenv("ASRFS_EIO_OPS");
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (!pat || !*pat || !sw)
		return 0;
	if (ops && *ops ? strcmp(ops, names[op]) != 0 : op == OP_RECORD)
		return 0; /* before access(): every write(2) of the process comes here */
	if (access(sw, F_OK) != 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return 0;
	path[n] = '\0';
	return strstr(path, pat) != NULL;
}

/* A faulty call: 1 when it must fail with EIO, 0 once it has waited. */
static int fail_or_wait(void)
{
	const char *d = getenv("ASRFS_EIO_DELAY_MS");
	long ms = d ? strtol(d, NULL, 10) : 0;
	struct timespec ts;

	if (ms <= 0)
		return 1;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);

/* The next definition of a symbol: libc's. */
#define REAL(name, type)                                  \
	static type real_##name;                          \
	if (!real_##name)                                 \
		real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	REAL(pread64, pread_fn);
	if (faulty(fd, OP_READ) && fail_or_wait()) {
		errno = EIO;
		return -1;
	}
	return real_pread64(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite64, pwrite_fn);
	if (faulty(fd, OP_WRITE) && fail_or_wait()) {
		errno = EIO;
		return -1;
	}
	return real_pwrite64(fd, buf, len, off);
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
	REAL(fallocate64, fallocate_fn);
	if (faulty(fd, OP_WRITE) && fail_or_wait()) {
		errno = EIO;
		return -1;
	}
	return real_fallocate64(fd, mode, off, len);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write, write_fn);
	if (faulty(fd, OP_RECORD) && fail_or_wait()) {
		errno = EIO;
		return -1;
	}
	return real_write(fd, buf, len);
}
