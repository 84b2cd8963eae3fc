/* SPDX-License-Identifier: MIT */
/* One pass over /dev/shm: group this user's segments by pid, keep those of live processes and of
 * processes a live consumer will still drain, remove the rest (bounded flight-recorder history). */
#include "reclaim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/shm-format.h>

#include "shm.h"

/* Bounds the work a starting process does, whatever /dev/shm holds. */
#define ENTRIES_MAX 16384u

enum kind { CONTROL, OTHER };

struct entry {
	pid_t pid;
	uint8_t kind;
	char name[RT_SHM_NAME_MAX]; /* without the leading '/' */
};

struct kept {
	pid_t pid;
	uint64_t start_ns, bytes;
};

static bool hex16(const char *s)
{
	for (int i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[16] == 0;
}

static const char *digits(const char *s)
{
	const char *p = s;

	while (*p >= '0' && *p <= '9' && p - s < 20)
		p++;
	return p > s ? p : NULL;
}

/* "<pid>", "<pid>.x<salt>", "<pid>.t<n>[.x<salt>]", "<pid>.d<k>.x<salt>" after the prefix. */
static int parse(const char *rest, pid_t *pid, uint8_t *kind)
{
	const char *p = digits(rest);
	unsigned long v;

	if (!p)
		return -1;
	v = strtoul(rest, NULL, 10);
	if (v == 0 || v > INT32_MAX)
		return -1;
	*pid = (pid_t)v;
	if (*p == 0 || (p[0] == '.' && p[1] == 'x' && hex16(p + 2))) {
		*kind = CONTROL;
		return 0;
	}
	if (p[0] != '.' || (p[1] != 't' && p[1] != 'd'))
		return -1;
	p = digits(p + 2);
	if (!p || !(*p == 0 || (p[0] == '.' && p[1] == 'x' && hex16(p + 2))))
		return -1;
	*kind = OTHER;
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int newest_first(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return (x->start_ns < y->start_ns) - (x->start_ns > y->start_ns);
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

enum verdict { REMOVE, KEEP, KEEP_BOUNDED };

/* What a dead process's control segment says about its fate. Read with pread(), never mapped. */
static enum verdict judge(int dfd, const char *name, uint64_t *start_ns)
{
	struct rt_shm_control h;
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return REMOVE;
	memset(&h, 0, sizeof(h));
	n = (fstat(fd, &st) == 0 && st.st_uid == geteuid()) ? pread(fd, &h, sizeof(h), 0) : -1;
	close(fd);
	if (n < RT_SHM_CONTROL_HEADER_V10 || h.magic != RT_SHM_CONTROL_MAGIC)
		return REMOVE; /* never completed, or not a segment at all */
	/* A consumer still attached will drain it and remove it. */
	if (h.session != 0 && pid_alive((pid_t)h.consumer_pid))
		return KEEP;
	/* So will the recording session's consumer, which follows every process of its session. */
	if (h.header_size >= sizeof(h) && n >= (ssize_t)sizeof(h) && h.session_pid && pid_alive((pid_t)h.session_pid))
		return KEEP;
	*start_ns = h.start_real_ns;
	return h.mode == RT_SHM_MODE_OVERWRITE ? KEEP_BOUNDED : REMOVE;
}

/* A control segment under our own pid belongs to a process that is no longer running: our image
 * before an exec (or before several: each took a salted name), or a dead process whose pid we were
 * given. It stays until its consumer read it, but it must say that it ended, or its consumer would
 * wait for the process with this pid to exit. Our uid's own file: a plain write of the flag (its
 * records were all committed before it stopped running). */
static void mark_exited(int dfd, const char *name)
{
	uint32_t one = 1;
	struct stat st;
	int fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    (size_t)st.st_size >= sizeof(struct rt_shm_control))
		(void)!pwrite(fd, &one, sizeof(one), offsetof(struct rt_shm_control, exited));
	close(fd);
}

static void remove_group(int dfd, const struct entry *e, size_t n)
{
	char path[RT_SHM_NAME_MAX + 1];

	(void)dfd;
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/%s", e[i].name);
		shm_unlink(path); /* fails for files of other users: not ours to remove */
	}
}

static uint64_t group_bytes(int dfd, const struct entry *e, size_t n)
{
	uint64_t sum = 0;
	struct stat st;

	for (size_t i = 0; i < n; i++)
		if (fstatat(dfd, e[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			sum += (uint64_t)st.st_blocks * 512;
	return sum;
}

/* Collect this user's entries under our prefix (at most ENTRIES_MAX). */
static size_t collect(DIR *dir, uid_t uid, struct entry **out)
{
	char prefix[RT_SHM_PREFIX_MAX + 32];
	size_t plen, n = 0, cap = 0;
	struct entry *v = NULL;
	struct dirent *de;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s.%u.", rt__shm_prefix(), (unsigned)uid);
	while ((de = readdir(dir)) != NULL && n < ENTRIES_MAX) {
		pid_t pid;
		uint8_t kind;

		if (strncmp(de->d_name, prefix, plen) != 0 || strlen(de->d_name) >= RT_SHM_NAME_MAX ||
		    parse(de->d_name + plen, &pid, &kind) < 0)
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct entry *nv = realloc(v, c * sizeof(*nv));

			if (!nv)
				break;
			v = nv;
			cap = c;
		}
		v[n].pid = pid;
		v[n].kind = kind;
		memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1); /* length checked above */
		n++;
	}
	*out = v;
	return n;
}

unsigned rt__reclaim(uid_t uid, pid_t self, bool self_stale, const struct rt__config *cfg)
{
	DIR *dir = opendir("/dev/shm");
	struct entry *e = NULL;
	struct kept *kept = NULL;
	size_t n, nkept = 0;
	unsigned removed = 0;
	uint64_t bytes = 0;
	int dfd;

	if (!dir)
		return 0;
	dfd = dirfd(dir);
	n = collect(dir, uid, &e);
	if (n)
		qsort(e, n, sizeof(*e), by_pid);
	kept = calloc(n ? n : 1, sizeof(*kept));
	for (size_t i = 0, j; i < n; i = j) {
		enum verdict v = REMOVE;
		uint64_t start_ns = 0;

		for (j = i; j < n && e[j].pid == e[i].pid; j++)
			;
		if (e[i].pid == self) {
			/* Before we created anything: our image before an exec, or a dead process with our
			 * pid, left these. Judged like any dead process's: a consumer may still read them. */
			if (!self_stale)
				continue;
			for (size_t k = i; k < j; k++)
				if (e[k].kind == CONTROL)
					mark_exited(dfd, e[k].name);
		} else if (pid_alive(e[i].pid)) {
			continue;
		}
		for (size_t k = i; k < j && v != KEEP; k++) {
			if (e[k].kind == CONTROL) {
				enum verdict w = judge(dfd, e[k].name, &start_ns);

				if (w > v)
					v = w;
			}
		}
		if (v == KEEP)
			continue;
		if (v == KEEP_BOUNDED && kept) {
			kept[nkept++] = (struct kept){ e[i].pid, start_ns, group_bytes(dfd, &e[i], j - i) };
			continue;
		}
		remove_group(dfd, &e[i], j - i);
		removed++;
	}
	/* Flight recorders' post-mortem history: the newest, within the count and size limits. */
	if (kept) {
		if (nkept)
			qsort(kept, nkept, sizeof(*kept), newest_first);
		for (size_t k = 0; k < nkept; k++) {
			struct entry key = { .pid = kept[k].pid };
			struct entry *g = bsearch(&key, e, n, sizeof(*e), by_pid);
			size_t a, b;

			bytes += kept[k].bytes;
			if (k < cfg->keep_dead && bytes <= cfg->keep_dead_bytes)
				continue;
			for (a = (size_t)(g - e); a > 0 && e[a - 1].pid == key.pid; a--)
				;
			for (b = a; b < n && e[b].pid == key.pid; b++)
				;
			remove_group(dfd, &e[a], b - a);
			removed++;
		}
	}
	free(kept);
	free(e);
	closedir(dir);
	return removed;
}
