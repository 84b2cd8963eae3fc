/* SPDX-License-Identifier: MIT */
/* Output files (consumer/sinks/outfile.h), where the bytes go: atomic replacement of regular
 * files, streams to FIFOs, devices, sockets and stdout, gzip, a write that fails. Refusals and
 * symbolic links: test-outfile-refusals.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

#include "outfile-scratch.h"
#include "sinks/outfile.h"

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
		/* Count and check what comes through. Reading only once a writer came: before, a
		 * read would see end-of-file at once. */
		struct pollfd pfd = { .fd = rd, .events = POLLIN };
		size_t total = 0;
		char buf[65536];
		ssize_t k;

		fcntl(rd, F_SETFL, 0);
		poll(&pfd, 1, 60000);
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

/* ---- a write that fails ---- */

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
		cmocka_unit_test_setup(test_write_error_leaves_nothing, clean),
	};

	umask(022);
	return cmocka_run_group_tests(tests, setup, teardown);
}
