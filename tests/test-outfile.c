/* SPDX-License-Identifier: MIT */
/* Output files (consumer/sinks/outfile.h): atomic replacement, streams to FIFOs, devices, sockets
 * and stdout, gzip, refusals, nothing left behind, and symlink safety. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "sinks/outfile.h"

#define BIG (12u << 20) /* three buffers' worth: the writer thread is used */

static char dir[64];
static char *big; /* BIG bytes of a known pattern */

/* ---- getrandom(), scripted: the temporary file names become predictable, so a test can plant
 * symbolic links at them. Outside a script it is the real system call. ---- */
static uint64_t script[4];
static size_t script_len, script_pos;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	if (script_pos < script_len && len == sizeof(uint64_t)) {
		memcpy(buf, &script[script_pos++], len);
		return (ssize_t)len;
	}
	return syscall(SYS_getrandom, buf, len, flags);
}

static void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int entries(const char *d)
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
static char *slurp(const char *p, size_t *len)
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

static void put_file(const char *p, const char *content, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	fchmod(fd, mode);
	close(fd);
}

static void write_big(struct rtc_outfile *f)
{
	for (size_t off = 0; off < BIG; off += 65536)
		assert_int_equal(rtc_outfile_write(f, big + off, 65536), 0);
}

static int setup(void **state)
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

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	free(big);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each test starts with an empty directory. */
static int clean(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/.[!.]*", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- atomic replacement ---- */

struct reader {
	const char *path;
	atomic_int stop;
	int old_seen, new_seen, other_seen;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		size_t n;
		char *got = slurp(r->path, &n);

		if (got && n == 3 && !memcmp(got, "old", 3))
			r->old_seen++;
		else if (got && n == BIG && !memcmp(got, big, BIG))
			r->new_seen++;
		else
			r->other_seen++;
		free(got);
	}
	return NULL;
}

static void replace_atomically(unsigned flags)
{
	struct reader r = { 0 };
	struct rtc_outfile *f;
	struct stat st;
	char p[300], *got;
	pthread_t th;
	size_t n;

	path(p, sizeof(p), "trace.json");
	put_file(p, "old", 0640);
	r.path = p;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	assert_int_equal(rtc_outfile_open(&f, p, flags | RTC_OUTFILE_THREAD), 0);
	write_big(f);
	assert_int_equal(rtc_outfile_flush(f), 0);
	/* Everything is written, nothing is in place yet. */
	got = slurp(p, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(got, "old", 3);
	free(got);
	assert_int_equal(entries(dir), flags & RTC_OUTFILE_NAMED_TEMP ? 2 : 1);
	assert_int_equal(rtc_outfile_commit(f), 0);
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	assert_int_equal(r.other_seen, 0);
	got = slurp(p, &n);
	assert_int_equal(n, BIG);
	assert_memory_equal(got, big, BIG);
	free(got);
	assert_int_equal(entries(dir), 1);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640 & ~022); /* the replaced file's mode, minus the umask */
	assert_int_equal(st.st_uid, geteuid());
}

static void test_replace_atomically_tmpfile(void **state)
{
	(void)state;
	replace_atomically(0);
}

static void test_replace_atomically_named(void **state)
{
	(void)state;
	replace_atomically(RTC_OUTFILE_NAMED_TEMP);
}

static void test_new_file_mode_and_no_thread(void **state)
{
	struct rtc_outfile *f;
	struct stat st;
	char p[300], *got;
	size_t n;

	(void)state;
	path(p, sizeof(p), "new.json");
	assert_int_equal(rtc_outfile_open(&f, p, 0), 0);
	assert_int_equal(lstat(p, &st), -1);
	write_big(f);
	assert_int_equal(rtc_outfile_commit(f), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	got = slurp(p, &n);
	assert_int_equal(n, BIG);
	assert_memory_equal(got, big, BIG);
	free(got);
}

/* ---- streams ---- */

static void test_fifo_streamed_and_stays_fifo(void **state)
{
	struct rtc_outfile *f;
	struct stat st;
	char p[300];
	int status, rd;
	pid_t child;

	(void)state;
	path(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	/* No reader: refused at once instead of blocking. */
	assert_int_equal(rtc_outfile_open(&f, p, 0), -ENXIO);
	rd = open(p, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	child = fork();
	if (child == 0) {
		/* Count and check what comes through. */
		size_t total = 0;
		char buf[65536];
		ssize_t k;

		fcntl(rd, F_SETFL, 0);
		while ((k = read(rd, buf, sizeof(buf))) > 0) {
			if (total + (size_t)k > BIG || memcmp(buf, big + total, (size_t)k))
				_exit(3);
			total += (size_t)k;
		}
		_exit(total == BIG ? 0 : 4);
	}
	assert_int_equal(rtc_outfile_open(&f, p, RTC_OUTFILE_THREAD), 0);
	close(rd);
	write_big(f);
	assert_int_equal(rtc_outfile_commit(f), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(entries(dir), 1);
}

static void assert_char_device(const char *p, unsigned maj, unsigned min)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), maj);
	assert_int_equal(minor(st.st_rdev), min);
}

static void test_dev_null_stays_device(void **state)
{
	struct rtc_outfile *f;

	(void)state;
	if (geteuid() == 0)
		printf("(running as root: the device must survive being an output)\n");
	assert_int_equal(rtc_outfile_open(&f, "/dev/null", RTC_OUTFILE_THREAD), 0);
	write_big(f);
	assert_int_equal(rtc_outfile_commit(f), 0);
	assert_char_device("/dev/null", 1, 3);
	assert_int_equal(rtc_outfile_open(&f, "/dev/null", 0), 0);
	rtc_outfile_abort(f);
	assert_char_device("/dev/null", 1, 3);
}

static void test_dev_full_fails_and_stays_device(void **state)
{
	struct rtc_outfile *f;

	(void)state;
	assert_int_equal(rtc_outfile_open(&f, "/dev/full", RTC_OUTFILE_THREAD), 0);
	for (size_t off = 0; off < BIG; off += 65536)
		rtc_outfile_write(f, big + off, 65536);
	assert_int_equal(rtc_outfile_flush(f), -ENOSPC);
	assert_int_equal(rtc_outfile_write(f, "x", 1), -ENOSPC); /* sticky */
	assert_int_equal(rtc_outfile_commit(f), -ENOSPC);
	assert_char_device("/dev/full", 1, 7);
}

struct listener {
	int fd;
	size_t total;
	int mismatch;
};

static void *accept_main(void *arg)
{
	struct listener *l = arg;
	int c = accept(l->fd, NULL, NULL);
	char buf[65536];
	ssize_t k;

	while (c >= 0 && (k = read(c, buf, sizeof(buf))) > 0) {
		if (l->total + (size_t)k > BIG || memcmp(buf, big + l->total, (size_t)k))
			l->mismatch++;
		l->total += (size_t)k;
	}
	if (c >= 0)
		close(c);
	return NULL;
}

static void test_unix_socket_streamed(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct listener l = { 0 };
	struct rtc_outfile *f;
	struct stat st;
	pthread_t th;
	char p[300];

	(void)state;
	path(p, sizeof(p), "sock");
	assert_true(strlen(p) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1);
	l.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(l.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l.fd, 1), 0);
	assert_int_equal(pthread_create(&th, NULL, accept_main, &l), 0);
	assert_int_equal(rtc_outfile_open(&f, p, RTC_OUTFILE_THREAD), 0);
	write_big(f);
	assert_int_equal(rtc_outfile_commit(f), 0);
	pthread_join(th, NULL);
	close(l.fd);
	assert_int_equal(l.total, BIG);
	assert_int_equal(l.mismatch, 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

/* In a child with stdout on a pipe: "-" (gzip when asked); returns what came through. */
static char *through_stdout(unsigned flags, size_t *len, int *child_status)
{
	int pfd[2];
	pid_t child;
	char *out = malloc(BIG + 65536);
	size_t n = 0;
	ssize_t k;

	assert_int_equal(pipe(pfd), 0);
	child = fork();
	if (child == 0) {
		struct rtc_outfile *f;

		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		/* /dev/stdout is the same: never resolved to a file and replaced. */
		if (rtc_outfile_open(&f, flags & RTC_OUTFILE_GZIP ? "/dev/stdout" : "-", flags) != 0)
			_exit(5);
		for (size_t off = 0; off < BIG; off += 65536)
			rtc_outfile_write(f, big + off, 65536);
		_exit(rtc_outfile_commit(f) == 0 ? 0 : 6);
	}
	close(pfd[1]);
	while ((k = read(pfd[0], out + n, BIG + 65536 - n)) > 0)
		n += (size_t)k;
	close(pfd[0]);
	waitpid(child, child_status, 0);
	*len = n;
	return out;
}

static void test_stdout_through_pipe(void **state)
{
	size_t n;
	int status;
	char *out = through_stdout(RTC_OUTFILE_THREAD, &n, &status);

	(void)state;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, BIG);
	assert_memory_equal(out, big, BIG);
	free(out);
}

static size_t gunzip(const char *in, size_t n, char *out, size_t cap)
{
	z_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	r = inflate(&z, Z_FINISH);
	assert_int_equal(r, Z_STREAM_END);
	assert_int_equal(z.avail_in, 0); /* one gzip member, nothing after it */
	inflateEnd(&z);
	return z.total_out;
}

static void test_stdout_gzip_through_pipe(void **state)
{
	size_t n;
	int status;
	char *out = through_stdout(RTC_OUTFILE_GZIP, &n, &status), *plain = malloc(BIG + 1);

	(void)state;
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(gunzip(out, n, plain, BIG + 1), BIG);
	assert_memory_equal(plain, big, BIG);
	free(out);
	free(plain);
}

static void test_stdout_reader_gone_is_epipe_not_sigpipe(void **state)
{
	int pfd[2], status;
	pid_t child;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	child = fork();
	if (child == 0) {
		struct rtc_outfile *f;

		signal(SIGPIPE, SIG_DFL);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		if (rtc_outfile_open(&f, "-", 0) != 0)
			_exit(5);
		for (size_t off = 0; off < BIG; off += 65536)
			rtc_outfile_write(f, big + off, 65536);
		_exit(rtc_outfile_commit(f) == -EPIPE ? 0 : 6);
	}
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status)); /* not killed by SIGPIPE */
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- gzip ---- */

static void test_json_gz_read_back_with_zlib(void **state)
{
	struct rtc_outfile *f;
	struct rtc_outfile_stats st;
	char p[300], *gz, *plain = malloc(BIG + 16);
	size_t n, partial;

	(void)state;
	path(p, sizeof(p), "trace.json.gz");
	assert_int_equal(rtc_outfile_open(&f, p, RTC_OUTFILE_THREAD), 0);
	write_big(f);
	/* A sync point: everything so far can be decompressed by a live reader. */
	assert_int_equal(rtc_outfile_flush(f), 0);
	rtc_outfile_stats(f, &st);
	assert_int_equal(st.bytes_in, BIG);
	assert_true(st.bytes_out < BIG / 4);
	assert_int_equal(rtc_outfile_write(f, "tail", 4), 0);
	assert_int_equal(rtc_outfile_commit(f), 0);
	gz = slurp(p, &n);
	assert_int_equal((unsigned char)gz[0], 0x1f);
	assert_int_equal((unsigned char)gz[1], 0x8b);
	assert_int_equal(gunzip(gz, n, plain, BIG + 16), BIG + 4);
	assert_memory_equal(plain, big, BIG);
	assert_memory_equal(plain + BIG, "tail", 4);
	/* What was written up to the sync point decompresses on its own. */
	{
		z_stream z;

		memset(&z, 0, sizeof(z));
		inflateInit2(&z, 15 + 16);
		z.next_in = (Bytef *)gz;
		z.avail_in = (uInt)st.bytes_out;
		z.next_out = (Bytef *)plain;
		z.avail_out = BIG + 1;
		assert_int_equal(inflate(&z, Z_SYNC_FLUSH), Z_OK);
		partial = z.total_out;
		inflateEnd(&z);
	}
	assert_int_equal(partial, BIG);
	free(gz);
	free(plain);
}

/* ---- refusals ---- */

static void test_refusals(void **state)
{
	struct rtc_outfile *f = (void *)1;
	struct stat st;
	char p[300], q[300];

	(void)state;
	assert_int_equal(rtc_outfile_open(&f, dir, 0), -EISDIR);
	assert_null(f);
	snprintf(p, sizeof(p), "%s/", dir);
	assert_int_equal(rtc_outfile_open(&f, p, 0), -EISDIR);
	path(p, sizeof(p), "missing/trace.json");
	assert_int_equal(rtc_outfile_open(&f, p, 0), -ENOENT);
	path(q, sizeof(q), "missing");
	assert_int_equal(lstat(q, &st), -1);
	path(q, sizeof(q), "file");
	put_file(q, "x", 0644);
	path(p, sizeof(p), "file/trace.json");
	assert_int_equal(rtc_outfile_open(&f, p, 0), -ENOTDIR);
	assert_int_equal(rtc_outfile_open(&f, "", 0), -ENOENT);
	assert_int_equal(entries(dir), 1);
	assert_string_equal(rtc_outfile_strerror(-EISDIR), "is a directory");
	assert_string_equal(rtc_outfile_strerror(-ENOENT), "no such directory");
}

/* Run fn as an unprivileged user: in a child as nobody when we are root. Returns fn's result. */
static int as_user(int (*fn)(void))
{
	int status;
	pid_t child;

	if (geteuid() != 0)
		return fn();
	child = fork();
	if (child == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(99);
		_exit(fn());
	}
	waitpid(child, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

static int open_in_unwritable_dir(void)
{
	struct rtc_outfile *f;
	char p[300];

	path(p, sizeof(p), "ro/trace.json");
	return rtc_outfile_open(&f, p, 0) == -EACCES ? 0 : 1;
}

static int replace_foreign_file_in_sticky_dir(void)
{
	struct rtc_outfile *f;
	char p[300];

	path(p, sizeof(p), "sticky/theirs.json");
	return rtc_outfile_open(&f, p, 0) == -EPERM ? 0 : 1;
}

static void test_unwritable_directory_refused(void **state)
{
	char d[300], p[300];

	(void)state;
	path(d, sizeof(d), "ro");
	assert_int_equal(mkdir(d, 0500), 0);
	chmod(d, 0555);
	assert_int_equal(as_user(open_in_unwritable_dir), 0);
	assert_int_equal(entries(d), 0);
	if (geteuid() != 0) {
		printf("(sticky-directory case skipped: it needs a file of another user, made as root)\n");
		return;
	}
	path(d, sizeof(d), "sticky");
	assert_int_equal(mkdir(d, 0777), 0);
	assert_int_equal(chmod(d, 01777), 0);
	path(p, sizeof(p), "sticky/theirs.json");
	put_file(p, "theirs", 0666);
	assert_int_equal(as_user(replace_foreign_file_in_sticky_dir), 0);
	assert_int_equal(entries(d), 1);
}

static void test_block_device_refused(void **state)
{
	struct rtc_outfile *f;
	struct stat st;
	char p[300];

	(void)state;
	path(p, sizeof(p), "blk");
	if (mknod(p, S_IFBLK | 0600, makedev(7, 0)) != 0) {
		printf("(skipped: cannot create a block device node here: %s)\n", strerror(errno));
		skip();
	}
	assert_int_equal(rtc_outfile_open(&f, p, 0), -ENOTSUP);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISBLK(st.st_mode));
}

/* ---- symbolic links ---- */

static void test_foreign_symlink_refused(void **state)
{
	struct rtc_outfile *f;
	struct stat st;
	char victim[300], p[300], *got;
	size_t n;

	(void)state;
	if (geteuid() != 0) {
		printf("(skipped: making a link owned by another user needs root)\n");
		skip();
	}
	path(victim, sizeof(victim), "victim");
	put_file(victim, "precious", 0644);
	path(p, sizeof(p), "trace.json");
	assert_int_equal(symlink(victim, p), 0);
	assert_int_equal(lchown(p, 4242, 4242), 0);
	assert_int_equal(rtc_outfile_open(&f, p, 0), -ELOOP);
	assert_int_equal(rtc_outfile_preopen(p, 0), -ELOOP);
	got = slurp(victim, &n);
	assert_int_equal(n, 8);
	assert_memory_equal(got, "precious", 8);
	free(got);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(entries(dir), 2);
}

static void test_own_symlink_followed(void **state)
{
	struct rtc_outfile *f;
	struct stat st;
	char sub[300], target[300], p[300], *got;
	size_t n;

	(void)state;
	path(sub, sizeof(sub), "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	path(target, sizeof(target), "sub/real.json");
	put_file(target, "old", 0644);
	path(p, sizeof(p), "trace.json");
	assert_int_equal(symlink("sub/real.json", p), 0); /* relative to the link's directory */
	assert_int_equal(rtc_outfile_open(&f, p, 0), 0);
	assert_int_equal(rtc_outfile_write(f, "new", 3), 0);
	assert_int_equal(rtc_outfile_commit(f), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode)); /* the link stays a link */
	got = slurp(target, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(got, "new", 3);
	free(got);
	/* A dangling own link: the file is created where it points. */
	assert_int_equal(unlink(target), 0);
	assert_int_equal(rtc_outfile_open(&f, p, 0), 0);
	assert_int_equal(rtc_outfile_write(f, "fresh", 5), 0);
	assert_int_equal(rtc_outfile_commit(f), 0);
	got = slurp(target, &n);
	assert_int_equal(n, 5);
	free(got);
	assert_int_equal(entries(sub), 1);
	/* To a device: streamed, the device stays. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/dev/null", p), 0);
	assert_int_equal(rtc_outfile_open(&f, p, 0), 0);
	assert_int_equal(rtc_outfile_write(f, "x", 1), 0);
	assert_int_equal(rtc_outfile_commit(f), 0);
	assert_char_device("/dev/null", 1, 3);
}

/* A link planted at the name the temporary file will get is left alone, and so is its target. */
static void temp_name_planted(unsigned flags)
{
	struct rtc_outfile *f;
	struct stat st;
	char victim[300], planted[300], p[300], *got;
	size_t n;

	path(victim, sizeof(victim), "victim");
	put_file(victim, "precious", 0644);
	path(p, sizeof(p), "trace.json");
	script[0] = 0x1111111111111111ull;
	script[1] = 0x1111111111111111ull;
	script[2] = 0x2222222222222222ull;
	script_len = 3;
	script_pos = 0;
	path(planted, sizeof(planted), ".trace.json.1111111111111111.tmp");
	assert_int_equal(symlink(victim, planted), 0);
	assert_int_equal(rtc_outfile_open(&f, p, flags), 0);
	assert_int_equal(rtc_outfile_write(f, "new", 3), 0);
	assert_int_equal(rtc_outfile_commit(f), 0);
	script_len = 0;
	assert_int_equal(script_pos, 3); /* the planted name was tried twice, then another one */
	got = slurp(victim, &n);
	assert_int_equal(n, 8);
	assert_memory_equal(got, "precious", 8);
	free(got);
	assert_int_equal(lstat(planted, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	got = slurp(p, &n);
	assert_int_equal(n, 3);
	free(got);
	assert_int_equal(entries(dir), 3); /* victim, planted link, trace.json: no temporary file */
}

static void test_planted_temp_name_named(void **state)
{
	(void)state;
	temp_name_planted(RTC_OUTFILE_NAMED_TEMP);
}

static void test_planted_temp_name_tmpfile(void **state)
{
	(void)state;
	temp_name_planted(0);
}

/* ---- nothing left behind ---- */

static void test_abort_leaves_nothing(void **state)
{
	struct rtc_outfile *f;
	char p[300], *got;
	size_t n;
	unsigned modes[] = { 0, RTC_OUTFILE_NAMED_TEMP, RTC_OUTFILE_THREAD, RTC_OUTFILE_THREAD | RTC_OUTFILE_NAMED_TEMP };

	(void)state;
	path(p, sizeof(p), "trace.json.gz");
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(rtc_outfile_open(&f, p, modes[i]), 0);
		write_big(f);
		rtc_outfile_abort(f);
		assert_int_equal(entries(dir), 0);
	}
	put_file(p, "old", 0644);
	assert_int_equal(rtc_outfile_open(&f, p, RTC_OUTFILE_NAMED_TEMP), 0);
	write_big(f);
	rtc_outfile_abort(f);
	assert_int_equal(entries(dir), 1);
	got = slurp(p, &n);
	assert_int_equal(n, 3);
	free(got);
}

static void test_write_error_leaves_nothing(void **state)
{
	char p[300], *got;
	int status;
	size_t n;
	pid_t child;

	(void)state;
	path(p, sizeof(p), "trace.json");
	put_file(p, "old", 0644);
	child = fork();
	if (child == 0) {
		/* Files of at most 1 MiB: the write fails with EFBIG. */
		struct rlimit rl = { 1 << 20, 1 << 20 };
		struct rtc_outfile *f;

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		if (rtc_outfile_open(&f, p, RTC_OUTFILE_THREAD | RTC_OUTFILE_NAMED_TEMP) != 0)
			_exit(5);
		for (size_t off = 0; off < BIG; off += 65536)
			rtc_outfile_write(f, big + off, 65536);
		_exit(rtc_outfile_commit(f) == -EFBIG ? 0 : 6);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(entries(dir), 1);
	got = slurp(p, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(got, "old", 3);
	free(got);
}

static void test_path_replaced_while_writing_is_left_alone(void **state)
{
	struct rtc_outfile *f;
	struct stat st;
	char p[300];

	(void)state;
	path(p, sizeof(p), "trace.json");
	assert_int_equal(rtc_outfile_open(&f, p, 0), 0);
	write_big(f);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(rtc_outfile_commit(f), -EEXIST);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(entries(dir), 1);
}

/* ---- preopening ---- */

static void test_preopen(void **state)
{
	struct rtc_outfile *f;
	char d[300], moved[300], p[300], q[300], *got;
	size_t n;

	(void)state;
	path(d, sizeof(d), "out");
	assert_int_equal(mkdir(d, 0755), 0);
	path(p, sizeof(p), "out/trace.json");
	assert_int_equal(rtc_outfile_preopen(p, 0), 0);
	/* The directory moves: the preopened file goes with it, no second lookup by name. */
	path(moved, sizeof(moved), "moved");
	assert_int_equal(rename(d, moved), 0);
	assert_int_equal(rtc_outfile_open(&f, p, RTC_OUTFILE_THREAD), 0);
	assert_int_equal(rtc_outfile_write(f, "abc", 3), 0);
	assert_int_equal(rtc_outfile_commit(f), 0);
	path(q, sizeof(q), "moved/trace.json");
	got = slurp(q, &n);
	assert_int_equal(n, 3);
	free(got);
	/* Taken once: the next open looks the name up again. */
	assert_int_equal(rtc_outfile_open(&f, p, 0), -ENOENT);
	/* Preopened and never used: dropped without a trace. */
	path(p, sizeof(p), "moved/other.json");
	assert_int_equal(rtc_outfile_preopen(p, RTC_OUTFILE_NAMED_TEMP), 0);
	assert_int_equal(entries(moved), 2);
	rtc_outfile_preopen_drop();
	assert_int_equal(entries(moved), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_replace_atomically_tmpfile, clean),
		cmocka_unit_test_setup(test_replace_atomically_named, clean),
		cmocka_unit_test_setup(test_new_file_mode_and_no_thread, clean),
		cmocka_unit_test_setup(test_fifo_streamed_and_stays_fifo, clean),
		cmocka_unit_test_setup(test_dev_null_stays_device, clean),
		cmocka_unit_test_setup(test_dev_full_fails_and_stays_device, clean),
		cmocka_unit_test_setup(test_unix_socket_streamed, clean),
		cmocka_unit_test_setup(test_stdout_through_pipe, clean),
		cmocka_unit_test_setup(test_stdout_gzip_through_pipe, clean),
		cmocka_unit_test_setup(test_stdout_reader_gone_is_epipe_not_sigpipe, clean),
		cmocka_unit_test_setup(test_json_gz_read_back_with_zlib, clean),
		cmocka_unit_test_setup(test_refusals, clean),
		cmocka_unit_test_setup(test_unwritable_directory_refused, clean),
		cmocka_unit_test_setup(test_block_device_refused, clean),
		cmocka_unit_test_setup(test_foreign_symlink_refused, clean),
		cmocka_unit_test_setup(test_own_symlink_followed, clean),
		cmocka_unit_test_setup(test_planted_temp_name_named, clean),
		cmocka_unit_test_setup(test_planted_temp_name_tmpfile, clean),
		cmocka_unit_test_setup(test_abort_leaves_nothing, clean),
		cmocka_unit_test_setup(test_write_error_leaves_nothing, clean),
		cmocka_unit_test_setup(test_path_replaced_while_writing_is_left_alone, clean),
		cmocka_unit_test_setup(test_preopen, clean),
	};

	umask(022);
	return cmocka_run_group_tests(tests, setup, teardown);
}
