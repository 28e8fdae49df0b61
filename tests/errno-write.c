/*
 * errno-write.c - write one line to a file and report the outcome as the
 * integration tests need it: prints "0" when the write was accepted, else
 * the errno name (EINVAL, EBUSY, ...).  Exit status 0 either way, 2 on usage.
 *
 *   errno-write FILE LINE
 *
 * Opened with O_WRONLY|O_TRUNC as `echo LINE > FILE` does; the line gets a
 * trailing newline like echo's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *buf;
	size_t n;
	ssize_t w;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: errno-write FILE LINE\n");
		return 2;
	}
	n = strlen(argv[2]);
	buf = malloc(n + 2);
	if (!buf)
		return 2;
	memcpy(buf, argv[2], n);
	buf[n++] = '\n';
	fd = open(argv[1], O_WRONLY | O_TRUNC);
	if (fd < 0) {
		printf("%s\n", strerrorname_np(errno));
		free(buf);
		return 0;
	}
	w = write(fd, buf, n);
	if (w < 0)
		printf("%s\n", strerrorname_np(errno));
	else if (close(fd) < 0)
		printf("%s\n", strerrorname_np(errno));
	else
		printf("0\n");
	free(buf);
	return 0;
}
