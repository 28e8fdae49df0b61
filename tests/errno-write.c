/*
 * errno-write.c - write to a file and report the outcome as the integration
 * tests need it: prints "0" when the write was accepted, else the errno name
 * (EINVAL, EBUSY, ...).  Exit status 0 either way, 2 on usage.
 *
 *   errno-write [-n] [-s OFFSET] [-k COUNT] [-d DATAFILE] FILE [LINE]
 *
 * Opened with O_WRONLY|O_TRUNC as `echo LINE > FILE` does; the line gets a
 * trailing newline like echo's, unless -n.  -d writes DATAFILE's bytes as
 * they are instead of LINE (binary, NULs); -s writes at OFFSET (pwrite, as
 * dd seek= does); -k writes COUNT times on the one descriptor and prints
 * each write's outcome, comma-separated.  The outcome of close() is
 * reported when every write was accepted (a refusal may come at close).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *n)
{
	struct stat st;
	char *buf = NULL;
	ssize_t r;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto out;
	r = read(fd, buf, (size_t)st.st_size);
	if (r != st.st_size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	*n = (size_t)r;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

int main(int argc, char **argv)
{
	const char *data = NULL;
	char *buf;
	size_t n = 0;
	long long off = -1;
	char out[4096] = "";
	size_t used = 0;
	int nl = 1, count = 1, opt, fd, failed = 0;

	while ((opt = getopt(argc, argv, "ns:k:d:")) != -1) {
		switch (opt) {
		case 'n': nl = 0; break;
		case 's': off = atoll(optarg); break;
		case 'k': count = atoi(optarg); break;
		case 'd': data = optarg; break;
		default: goto usage;
		}
	}
	if (count < 1 || (data ? argc - optind != 1 : argc - optind != 2))
		goto usage;
	if (data) {
		buf = slurp(data, &n);
		if (!buf) {
			perror(data);
			return 2;
		}
	} else {
		n = strlen(argv[optind + 1]);
		buf = malloc(n + 2);
		if (!buf)
			return 2;
		memcpy(buf, argv[optind + 1], n);
		if (nl)
			buf[n++] = '\n';
	}
	fd = open(argv[optind], O_WRONLY | O_TRUNC);
	if (fd < 0) {
		printf("%s\n", strerrorname_np(errno));
		free(buf);
		return 0;
	}
	for (int i = 0; i < count; i++) {
		ssize_t w = off >= 0 ? pwrite(fd, buf, n, (off_t)off) : write(fd, buf, n);
		const char *e = w < 0 ? strerrorname_np(errno) : "0";
		failed |= w < 0;
		used += snprintf(out + used, sizeof(out) - used, "%s%s", i ? "," : "", e);
		if (used >= sizeof(out))
			used = sizeof(out) - 1;
	}
	if (close(fd) < 0 && !failed) /* every write taken: the refusal came at close */
		snprintf(out, sizeof(out), "%s", strerrorname_np(errno));
	printf("%s\n", out);
	free(buf);
	return 0;
usage:
	fprintf(stderr, "usage: errno-write [-n] [-s OFFSET] [-k COUNT] [-d DATAFILE] FILE [LINE]\n");
	return 2;
}
