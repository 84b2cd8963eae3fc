/* SPDX-License-Identifier: MIT */
/* Output files (consumer/sinks/outfile.h) that must not be written: refusals with the reason,
 * symbolic links (another user's refused, one's own followed), planted temporary names, nothing
 * left behind, preopening. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "outfile-scratch.h"
#include "sinks/outfile.h"

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
		cmocka_unit_test_setup(test_refusals, clean),
		cmocka_unit_test_setup(test_unwritable_directory_refused, clean),
		cmocka_unit_test_setup(test_block_device_refused, clean),
		cmocka_unit_test_setup(test_foreign_symlink_refused, clean),
		cmocka_unit_test_setup(test_own_symlink_followed, clean),
		cmocka_unit_test_setup(test_planted_temp_name_named, clean),
		cmocka_unit_test_setup(test_planted_temp_name_tmpfile, clean),
		cmocka_unit_test_setup(test_abort_leaves_nothing, clean),
		cmocka_unit_test_setup(test_path_replaced_while_writing_is_left_alone, clean),
		cmocka_unit_test_setup(test_preopen, clean),
	};

	umask(022);
	return cmocka_run_group_tests(tests, setup, teardown);
}
