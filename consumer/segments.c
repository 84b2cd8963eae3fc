/* SPDX-License-Identifier: MIT */
/* /dev/shm names under the prefix: parsing, listing, finding a pid's control segment, cleaning up
 * after dead processes, and the `record -a` session marker. Segments are never mapped here: the
 * few header fields cleaning needs are read with pread(). */
#include "segments.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char prefix[RT_SHM_PREFIX_MAX + 1];
static pthread_once_t prefix_once = PTHREAD_ONCE_INIT;

static bool prefix_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (n >= RT_SHM_PREFIX_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

static void read_prefix(void)
{
	const char *s = getenv(RT_SHM_PREFIX_VAR);

	/* The same rule as the library's (libtrace/src/shm.c): both must build the same names. */
	snprintf(prefix, sizeof(prefix), "%s", s && prefix_valid(s) ? s : RT_SHM_PREFIX);
}

const char *rtc_shm_prefix(void)
{
	pthread_once(&prefix_once, read_prefix);
	return prefix;
}

/* Decimal number of at most `max_digits` digits at *s; advances *s. */
static bool number(const char **s, uint64_t *v, int max_digits)
{
	const char *p = *s;

	*v = 0;
	while (*p >= '0' && *p <= '9' && p - *s < max_digits)
		*v = *v * 10 + (uint64_t)(*p++ - '0');
	if (p == *s || (*p >= '0' && *p <= '9'))
		return false;
	*s = p;
	return true;
}

/* ".x" and 16 lowercase hex digits at the end of the name. */
static bool salt(const char *s, uint64_t *v)
{
	*v = 0;
	if (s[0] != '.' || s[1] != 'x')
		return false;
	for (int i = 0; i < 16; i++) {
		char c = s[2 + i];

		if (c >= '0' && c <= '9')
			*v = *v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v = *v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	return s[18] == 0;
}

int rtc_segment_parse(const char *name, struct rtc_segment *out)
{
	const char *pre = rtc_shm_prefix(), *p;
	size_t plen = strlen(pre);
	uint64_t uid, pid, n;

	memset(out, 0, sizeof(*out));
	if (name[0] == '/')
		name++;
	if (strlen(name) + 2 > sizeof(out->name) || strncmp(name, pre, plen) != 0 || name[plen] != '.')
		return -EINVAL;
	snprintf(out->name, sizeof(out->name), "/%s", name);
	p = name + plen + 1;
	if (!number(&p, &uid, 10) || uid > UINT32_MAX || *p != '.')
		return -EINVAL;
	out->name_uid = (uid_t)uid;
	p++;
	if (strcmp(p, "session") == 0) {
		out->kind = RTC_SEG_MARKER;
		return 0;
	}
	if (!number(&p, &pid, 10) || pid == 0 || pid > INT32_MAX)
		return -EINVAL;
	out->pid = (pid_t)pid;
	if (*p == 0 || salt(p, &out->salt)) {
		out->kind = RTC_SEG_CONTROL;
		return 0;
	}
	if (p[0] != '.' || (p[1] != 't' && p[1] != 'd'))
		return -EINVAL;
	out->kind = p[1] == 't' ? RTC_SEG_RING : RTC_SEG_DIR;
	p += 2;
	if (!number(&p, &n, 20))
		return -EINVAL;
	out->number = n;
	if (*p == 0 && out->kind == RTC_SEG_RING)
		return 0;
	return salt(p, &out->salt) ? 0 : -EINVAL;
}

int rtc_segments_scan(bool all_users, int (*fn)(void *ctx, const struct rtc_segment *s), void *ctx)
{
	DIR *dir = opendir("/dev/shm");
	uid_t me = geteuid();
	struct dirent *de;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)) != NULL) {
		struct rtc_segment s;
		struct stat st;

		if (rtc_segment_parse(de->d_name, &s) < 0 || (!all_users && s.name_uid != me))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		s.owner = st.st_uid;
		s.size = (uint64_t)st.st_size;
		s.blocks = (uint64_t)st.st_blocks * 512;
		if (fn(ctx, &s))
			break;
	}
	closedir(dir);
	return 0;
}

int64_t rtc_segments_pid_euid(pid_t pid)
{
	char path[64], line[256];
	unsigned r, e;
	int64_t uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %u %u", &r, &e) == 2) {
			uid = e;
			break;
		}
	fclose(f);
	return uid;
}

struct find {
	pid_t pid;
	char (*names)[RT_SHM_NAME_MAX];
	size_t n, max;
};

static void add_name(struct find *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return;
	if (f->n < f->max)
		snprintf(f->names[f->n++], RT_SHM_NAME_MAX, "%s", name);
}

static int find_one(void *ctx, const struct rtc_segment *s)
{
	struct find *f = ctx;

	if (s->kind == RTC_SEG_CONTROL && s->pid == f->pid)
		add_name(f, s->name);
	return 0;
}

size_t rtc_segments_find_pid(pid_t pid, bool scan, char (*names)[RT_SHM_NAME_MAX], size_t max)
{
	struct find f = { pid, names, 0, max };
	int64_t euid = rtc_segments_pid_euid(pid);
	char name[RT_SHM_NAME_MAX];

	if (euid >= 0) {
		snprintf(name, sizeof(name), RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)euid, (unsigned)pid);
		add_name(&f, name);
	}
	snprintf(name, sizeof(name), RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)pid);
	add_name(&f, name);
	/* Fallback names (the usual one was squatted), and names of other uids. */
	if (scan)
		rtc_segments_scan(true, find_one, &f);
	return f.n;
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* ---- clean ---- */

struct clean {
	struct rtc_segment *v;
	size_t n, cap;
	int err;
};

static int collect_own(void *ctx, const struct rtc_segment *s)
{
	struct clean *c = ctx;

	if (s->kind == RTC_SEG_MARKER || s->owner != geteuid())
		return 0; /* another user's file under our name: not ours to remove */
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct rtc_segment *v = realloc(c->v, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return 1;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *s;
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const struct rtc_segment *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* What a dead process's control segment says: its name, and the live consumer that still wants its
 * segments (attached, or its recording session's), if any. Read with pread(), never mapped. */
static void judge(const char *name, struct rtc_clean_entry *e)
{
	struct rt_shm_control h;
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	ssize_t n;

	if (fd < 0)
		return;
	memset(&h, 0, sizeof(h));
	n = pread(fd, &h, sizeof(h), 0);
	close(fd);
	if (n < RT_SHM_CONTROL_HEADER_V10 || h.magic != RT_SHM_CONTROL_MAGIC)
		return; /* never completed, or not a segment at all */
	if (!e->process_name[0]) {
		memcpy(e->process_name, h.process_name, RT_SHM_PROCESS_NAME_LEN);
		e->process_name[RT_SHM_PROCESS_NAME_LEN] = 0;
		for (char *c = e->process_name; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?'; /* untrusted bytes, printed on a terminal */
	}
	if (h.session != 0 && pid_alive((pid_t)h.consumer_pid)) {
		e->kept_for = (pid_t)h.consumer_pid;
		e->session = false;
	} else if (!e->kept_for && n >= (ssize_t)sizeof(h) && h.header_size >= sizeof(h) && h.session_pid &&
		   pid_alive((pid_t)h.session_pid)) {
		e->kept_for = (pid_t)h.session_pid;
		e->session = true;
	}
}

static void marker_name(char *buf, size_t len);
static int read_marker(const char *name, pid_t *pid, uint64_t *token);

/* The `record -a` marker of a consumer that died without removing it (killed, crashed): nothing
 * reads it any more (a later `record -a` would replace it), so it goes like a dead process's
 * segments. */
static void clean_dead_marker(bool dry_run, void (*fn)(void *ctx, const struct rtc_clean_entry *e), void *ctx,
			      unsigned *segments)
{
	char name[RT_SHM_NAME_MAX];
	struct rtc_clean_entry e = { .segments = 1, .marker = true };
	uint64_t token;

	marker_name(name, sizeof(name));
	if (read_marker(name, &e.pid, &token) < 0 || e.pid <= 0 || pid_alive(e.pid))
		return;
	if (dry_run || shm_unlink(name) == 0)
		e.removed = 1;
	*segments += e.removed;
	if (fn)
		fn(ctx, &e);
}

int rtc_segments_clean_each(bool dry_run, void (*fn)(void *ctx, const struct rtc_clean_entry *e), void *ctx,
			    unsigned *processes, unsigned *segments)
{
	struct clean c = { 0 };
	int err = rtc_segments_scan(false, collect_own, &c);

	*processes = 0;
	*segments = 0;
	if (err == 0)
		err = c.err;
	if (err < 0) {
		free(c.v);
		return err;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), by_pid);
	for (size_t i = 0, j; i < c.n; i = j) {
		struct rtc_clean_entry e;

		for (j = i; j < c.n && c.v[j].pid == c.v[i].pid; j++)
			;
		if (pid_alive(c.v[i].pid))
			continue;
		memset(&e, 0, sizeof(e));
		e.pid = c.v[i].pid;
		e.segments = (unsigned)(j - i);
		for (size_t k = i; k < j; k++) {
			e.bytes += c.v[k].blocks;
			if (c.v[k].kind == RTC_SEG_CONTROL)
				judge(c.v[k].name, &e);
		}
		if (!e.kept_for) {
			for (size_t k = i; k < j; k++)
				if (dry_run || shm_unlink(c.v[k].name) == 0)
					e.removed++;
			*segments += e.removed;
			*processes += e.removed != 0;
		}
		if (fn)
			fn(ctx, &e);
	}
	clean_dead_marker(dry_run, fn, ctx, segments);
	free(c.v);
	return 0;
}

int rtc_segments_clean(unsigned *processes, unsigned *segments)
{
	return rtc_segments_clean_each(false, NULL, NULL, processes, segments);
}

/* ---- sessions and the marker ---- */

void rtc_session_init(struct rtc_session *s)
{
	uint64_t t = 0;

	if (getrandom(&t, sizeof(t), GRND_NONBLOCK) != (ssize_t)sizeof(t)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = ((uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid()) * 0x9e3779b97f4a7c15ull;
	}
	s->pid = getpid();
	s->token = t ? t : 1;
	s->marker = false;
}

void rtc_session_env(const struct rtc_session *s, char *buf, size_t len)
{
	snprintf(buf, len, "%d:%" PRIx64, (int)s->pid, s->token);
}

static void marker_name(char *buf, size_t len)
{
	snprintf(buf, len, RT_SHM_MARKER_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid());
}

/* The session a marker names: 0, or -errno. */
static int read_marker(const char *name, pid_t *pid, uint64_t *token)
{
	char buf[RT_SHM_MARKER_MAX + 1];
	struct stat st;
	unsigned long long t;
	int p, fd = shm_open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = fstat(fd, &st) == 0 && st.st_uid == geteuid() ? pread(fd, buf, RT_SHM_MARKER_MAX, 0) : -1;
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = 0;
	if (sscanf(buf, "%d:%llx", &p, &t) != 2)
		return -EINVAL;
	*pid = p;
	*token = t;
	return 0;
}

int rtc_session_marker_create(struct rtc_session *s)
{
	char name[RT_SHM_NAME_MAX], text[RT_SHM_MARKER_MAX];
	int len, fd = -1;

	marker_name(name, sizeof(name));
	len = snprintf(text, sizeof(text), "%d:%" PRIx64 "\n", (int)s->pid, s->token);
	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		pid_t holder;
		uint64_t token;

		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
		/* Another consumer's, if it is alive; a dead one's (or garbage of ours) is replaced. */
		if (read_marker(name, &holder, &token) == 0 && holder != s->pid && pid_alive(holder))
			return -EBUSY;
		if (shm_unlink(name) < 0)
			return -errno;
	}
	if (fd < 0)
		return errno == EEXIST ? -EBUSY : -errno;
	if (fchmod(fd, 0600) < 0 || write(fd, text, (size_t)len) != len) {
		int err = -errno;

		close(fd);
		shm_unlink(name);
		return err ? err : -EIO;
	}
	close(fd);
	s->marker = true;
	return 0;
}

void rtc_session_marker_remove(struct rtc_session *s)
{
	char name[RT_SHM_NAME_MAX];
	pid_t pid;
	uint64_t token;

	if (!s->marker)
		return;
	marker_name(name, sizeof(name));
	/* Only if it is still ours: a later consumer may have replaced it after we were stopped. */
	if (read_marker(name, &pid, &token) == 0 && pid == s->pid && token == s->token)
		shm_unlink(name);
	s->marker = false;
}

/* Start time of pid in ns of CLOCK_BOOTTIME (/proc/<pid>/stat field 22), 0 if unknown. */
static uint64_t start_boot_ns(pid_t pid)
{
	char path[64], buf[1024];
	const char *p;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || hz <= 0)
		return 0;
	buf[n] = 0;
	/* The name (field 2) may hold spaces and parentheses: count from the last ')'. */
	p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) * (1000000000ull / (uint64_t)hz) : 0;
}

bool rtc_segments_pid_is(pid_t pid, uint64_t start_mono_ns)
{
	struct timespec boot, mono;
	uint64_t started, offset;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	started = start_boot_ns(pid);
	if (!started || !start_mono_ns)
		return true; /* no /proc, or an old producer: trust the pid */
	/* Boot time runs ahead of CLOCK_MONOTONIC by the time spent suspended; the offset now is at
	 * least the one when the segment was made, so a suspend errs towards "the same process". */
	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	offset = ((uint64_t)boot.tv_sec - (uint64_t)mono.tv_sec) * 1000000000ull + (uint64_t)boot.tv_nsec -
		 (uint64_t)mono.tv_nsec;
	/* A process that took the pid over started after the original died, so after it made its
	 * segment; the kernel's start time has clock-tick resolution (the slack). */
	return started <= start_mono_ns + offset + 20000000ull;
}
