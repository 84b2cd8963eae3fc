/* SPDX-License-Identifier: MIT */
/* Helpers of the output-file tests (test-outfile.c, test-outfile-refusals.c): a scratch
 * directory emptied before each test, file contents, a known 12 MiB pattern. */
#include "outfile-scratch.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

char dir[64];
char *big;

void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

int entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	if (!dp)
		return -1;
	while ((e = readdir(dp)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dp);
	return n;
}

/* The whole file (malloc'd), its length in *len; NULL if it cannot be read. */
char *slurp(const char *p, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(p, O_RDONLY);
	size_t off = 0;

	if (fd < 0)
		return NULL;
	fstat(fd, &st);
	buf = malloc((size_t)st.st_size + 1);
	while (buf && off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return buf;
}

void put_file(const char *p, const char *content, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	fchmod(fd, mode);
	close(fd);
}

void write_big(struct rtc_outfile *f)
{
	for (size_t off = 0; off < BIG; off += 65536)
		assert_int_equal(rtc_outfile_write(f, big + off, 65536), 0);
}

int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rt-outfile-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	chmod(dir, 0755);
	big = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)('a' + (i * 7 + i / 4093) % 26);
	return 0;
}

int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	free(big);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each test starts with an empty directory. */
int clean(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/.[!.]*", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

void assert_char_device(const char *p, unsigned maj, unsigned min)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), maj);
	assert_int_equal(minor(st.st_rdev), min);
}
