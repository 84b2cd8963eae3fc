/* SPDX-License-Identifier: MIT */
/* Output targets: decide what PATH is (lstat, symlink ownership), open a hidden replacement file
 * or a stream in place, and commit by rename or abort leaving nothing behind (outfile.h rules). */
#include "outfile-target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "outfile.h"

#define TEMP_TRIES 64

static void target_reset(struct rtc_target *t)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->dirfd = -1;
}

static void target_free(struct rtc_target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->dirfd >= 0)
		close(t->dirfd);
	free(t->base);
	free(t->temp);
	free(t->path);
	target_reset(t);
}

/* ".<base>.<16 hex>.tmp", the base shortened so that the name fits NAME_MAX. Random, so a name
 * cannot be planted in advance; and always created exclusively anyway. */
static char *temp_name(const char *base)
{
	uint64_t r = 0;
	size_t n = strlen(base);
	char *name;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		r ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&r;
	}
	if (n > NAME_MAX - 22)
		n = NAME_MAX - 22;
	name = malloc(n + 24);
	if (name)
		snprintf(name, n + 24, ".%.*s.%016llx.tmp", (int)n, base, (unsigned long long)r);
	return name;
}

/* Split PATH into its directory and final name. -EISDIR when the name is empty, "." or "..". */
static int split(const char *path, char **dir, char **base)
{
	const char *slash = strrchr(path, '/');
	const char *b = slash ? slash + 1 : path;

	if (!*b || !strcmp(b, ".") || !strcmp(b, ".."))
		return -EISDIR;
	*base = strdup(b);
	if (!slash)
		*dir = strdup(".");
	else if (slash == path)
		*dir = strdup("/");
	else
		*dir = strndup(path, (size_t)(slash - path));
	if (!*base || !*dir) {
		free(*base);
		free(*dir);
		return -ENOMEM;
	}
	return 0;
}

/* Where the caller's own symbolic link points, as a path with no link in its directory part;
 * also when it dangles (the file will be created there). NULL + errno. */
static char *follow_own_link(const char *path)
{
	char link[PATH_MAX], *dir = NULL, *base = NULL, *rdir, *out;
	ssize_t n;
	int err;

	out = realpath(path, NULL);
	if (out || errno != ENOENT)
		return out;
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return NULL;
	link[n] = 0;
	if (link[0] != '/') {
		/* Relative to the link's own directory. */
		char *ldir = NULL, *lbase = NULL, joined[2 * PATH_MAX + 2];

		err = split(path, &ldir, &lbase);
		if (err < 0) {
			errno = -err;
			return NULL;
		}
		snprintf(joined, sizeof(joined), "%s/%s", ldir, link);
		free(ldir);
		free(lbase);
		if (strlen(joined) >= sizeof(link)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		memcpy(link, joined, strlen(joined) + 1);
	}
	err = split(link, &dir, &base);
	if (err < 0) {
		errno = -err;
		return NULL;
	}
	rdir = realpath(dir, NULL);
	out = NULL;
	if (rdir) {
		size_t len = strlen(rdir) + strlen(base) + 2;

		out = malloc(len);
		if (out)
			snprintf(out, len, "%s/%s", strcmp(rdir, "/") ? rdir : "", base);
		free(rdir);
	}
	free(dir);
	free(base);
	return out;
}

/* Standard output or error, whatever it is (a pipe, a terminal, a file the shell opened). */
static int open_std(struct rtc_target *t, int which)
{
	int fl = fcntl(which, F_GETFL);

	if (fl < 0)
		return -EBADF;
	if ((fl & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	t->fd = fcntl(which, F_DUPFD_CLOEXEC, 3);
	if (t->fd < 0)
		return -errno;
	t->kind = RTC_TARGET_STDOUT;
	t->pipe = true;
	return 0;
}

/* A character device or FIFO, opened where it is; it must still be the node lstat() saw. */
static int open_stream(struct rtc_target *t, const char *path, const struct stat *seen)
{
	struct stat st;
	int fl;

	/* O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of blocking the recording's
	 * start; it is cleared again below so writes wait for a slow reader. */
	t->fd = open(path, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0)
		return -errno;
	if (fstat(t->fd, &st) < 0)
		return -errno;
	if (st.st_dev != seen->st_dev || st.st_ino != seen->st_ino || (st.st_mode & S_IFMT) != (seen->st_mode & S_IFMT))
		return -EAGAIN; /* replaced between lstat() and open() */
	fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	t->kind = RTC_TARGET_STREAM;
	t->pipe = S_ISFIFO(st.st_mode);
	return 0;
}

/* A listening Unix stream socket. */
static int open_socket(struct rtc_target *t, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return -errno;
	if (connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	t->kind = RTC_TARGET_STREAM;
	t->pipe = true;
	return 0;
}

/* A hidden new file in PATH's directory. existing: the regular file it will replace, or NULL. */
static int open_replacement(struct rtc_target *t, const char *path, const struct stat *existing, unsigned flags)
{
	mode_t mode = existing ? (existing->st_mode & 0666) : 0666; /* minus the umask, by open() */
	char *dir = NULL;
	struct stat dst;
	int err = split(path, &dir, &t->base);

	if (err < 0)
		return err;
	t->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (t->dirfd < 0)
		return -errno;
	/* rename() over another user's file in a sticky directory (/tmp) fails: say so now rather
	 * than after the whole recording. */
	if (existing && geteuid() != 0 && existing->st_uid != geteuid() && fstat(t->dirfd, &dst) == 0 &&
	    (dst.st_mode & S_ISVTX) && dst.st_uid != geteuid())
		return -EPERM;
	t->kind = RTC_TARGET_REPLACE;
	if (!(flags & RTC_OUTFILE_NAMED_TEMP)) {
		t->fd = openat(t->dirfd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, mode);
		/* Linking it at commit needs /proc (or CAP_DAC_READ_SEARCH): without /proc, use a
		 * named file from the start rather than fail at the end. */
		if (t->fd >= 0 && access("/proc/self/fd", X_OK) != 0) {
			close(t->fd);
			t->fd = -1;
			errno = EOPNOTSUPP;
		}
		if (t->fd >= 0) {
			t->anonymous = true;
			return 0;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
			return -errno;
	}
	for (int i = 0; i < TEMP_TRIES; i++) {
		t->temp = temp_name(t->base);
		if (!t->temp)
			return -ENOMEM;
		/* Exclusive and not following a link: whatever was planted at the name is left alone. */
		t->fd = openat(t->dirfd, t->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (t->fd >= 0)
			return 0;
		err = -errno;
		free(t->temp);
		t->temp = NULL;
		if (err != -EEXIST)
			return err;
	}
	return -EEXIST;
}

/* PATH classified and opened; resolved: PATH is the target of the caller's own link. */
static int open_path(struct rtc_target *t, const char *path, unsigned flags, int depth)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		return open_replacement(t, path, NULL, flags);
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		return open_replacement(t, path, &st, flags);
	case S_IFCHR:
	case S_IFIFO:
		return open_stream(t, path, &st);
	case S_IFSOCK:
		return open_socket(t, path);
	case S_IFDIR:
		return -EISDIR;
	case S_IFLNK: {
		char *target;
		int err;

		/* Another user's link (say in /tmp) is never written through, root included. */
		if (st.st_uid != geteuid() && st.st_uid != 0)
			return -ELOOP;
		if (depth > 0)
			return -ELOOP; /* a link to a link that dangles: too far to follow safely */
		target = follow_own_link(path);
		if (!target)
			return -errno;
		err = open_path(t, target, flags, depth + 1);
		free(target);
		return err;
	}
	default:
		return -ENOTSUP; /* a block device: never overwritten */
	}
}

int rtc_target_open(struct rtc_target *t, const char *path, unsigned flags)
{
	int err;

	target_reset(t);
	t->path = strdup(path);
	if (!t->path)
		return -ENOMEM;
	if (!*path)
		err = -ENOENT;
	else if (!strcmp(path, "-") || !strcmp(path, "/dev/stdout"))
		err = open_std(t, STDOUT_FILENO);
	else if (!strcmp(path, "/dev/stderr"))
		err = open_std(t, STDERR_FILENO);
	else
		err = open_path(t, path, flags, 0);
	if (err < 0)
		rtc_target_abort(t);
	return err;
}

/* Give the anonymous file a (random, exclusive) name in its directory. */
static int link_anonymous(struct rtc_target *t)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	for (int i = 0; i < TEMP_TRIES; i++) {
		int err;

		t->temp = temp_name(t->base);
		if (!t->temp)
			return -ENOMEM;
		/* linkat() never replaces: a planted name is EEXIST, and another name is tried. */
		if (linkat(AT_FDCWD, proc, t->dirfd, t->temp, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		err = -errno;
		if (err == -ENOENT && linkat(t->fd, "", t->dirfd, t->temp, AT_EMPTY_PATH) == 0)
			return 0;
		free(t->temp);
		t->temp = NULL;
		if (err != -EEXIST)
			return err;
	}
	return -EEXIST;
}

int rtc_target_commit(struct rtc_target *t)
{
	struct stat st;
	int err = 0;

	if (t->kind != RTC_TARGET_REPLACE) {
		if (close(t->fd) != 0 && errno != EINTR)
			err = -errno;
		t->fd = -1;
		target_free(t);
		return err;
	}
	if (t->anonymous)
		err = link_anonymous(t);
	if (!err && close(t->fd) != 0 && errno != EINTR)
		err = -errno; /* e.g. NFS reporting a failed write late */
	t->fd = -1;
	/* PATH must still be a file to replace (or nothing): a device, FIFO, directory or link put
	 * there while we wrote is left alone. */
	if (!err && fstatat(t->dirfd, t->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
		err = -EEXIST;
	if (!err && renameat(t->dirfd, t->temp, t->dirfd, t->base) != 0)
		err = -errno;
	if (err < 0) {
		rtc_target_abort(t);
		return err;
	}
	target_free(t);
	return 0;
}

void rtc_target_abort(struct rtc_target *t)
{
	if (t->kind == RTC_TARGET_REPLACE && t->temp && t->dirfd >= 0)
		unlinkat(t->dirfd, t->temp, 0);
	target_free(t);
}

/* Wait until a non-blocking descriptor (an inherited stdout may be one) takes more. */
static void wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	(void)poll(&p, 1, 1000);
}

int rtc_target_write(const struct rtc_target *t, const void *buf, size_t len)
{
	const char *p = buf;
	sigset_t pipe_set, old;
	bool pending = false;
	int err = 0;

	if (t->pipe) {
		/* SIGPIPE is thread-directed at the writer: blocked here, and consumed if this write
		 * raised it, the process never sees it (it may be a traced program, in-process). */
		sigset_t now;

		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
		pending = sigpending(&now) == 0 && sigismember(&now, SIGPIPE);
	}
	while (len) {
		ssize_t n = write(t->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				wait_writable(t->fd);
				continue;
			}
			err = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (t->pipe) {
		if (err == -EPIPE && !pending) {
			const struct timespec zero = { 0, 0 };

			(void)sigtimedwait(&pipe_set, NULL, &zero);
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return err;
}
