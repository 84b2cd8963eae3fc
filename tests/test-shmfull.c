/* SPDX-License-Identifier: MIT */
/* A full /dev/shm never kills the traced program: in a private, small tmpfs (a mount namespace of
 * its own, so root only), the program runs to its end, and what could not be traced is counted
 * exactly (threads without a ring, names refused), or, when not even the control segment fits,
 * the process is simply untraced. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "producer.h"

static const char *producer;

/* Run producer-prog in a new mount namespace whose /dev/shm is a tmpfs of `size` bytes; its
 * output in out. Returns its exit status (128 + signal when killed). */
static int run_in_small_shm(uint64_t size, const char *const args[], char *out, size_t len)
{
	int fds[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		char opts[64];
		const char *argv[16] = { producer };

		dup2(fds[1], 1);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(90);
		snprintf(opts, sizeof(opts), "size=%llu,mode=1777", (unsigned long long)size);
		if (mount("tmpfs", "/dev/shm", "tmpfs", 0, opts) < 0)
			_exit(91);
		for (int i = 0; args[i] && i < 14; i++)
			argv[i + 1] = args[i];
		/* A flight recorder keeps its finished threads' rings: threads that end do not give
		 * their memory back to the next, so the count is exact whatever the scheduling. */
		setenv("RINGTRACE_MODE", "overwrite", 1);
		execv(producer, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	while (got < (ssize_t)len - 1 && (n = read(fds[0], out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = 0;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t blocks_of(const char *shm_name)
{
	char path[RT_SHM_NAME_MAX + 16];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static bool root_or_skip(void)
{
	if (geteuid() == 0)
		return true;
	printf("# skipped: a private tmpfs needs root (unshare -m, mount -t tmpfs)\n");
	return false;
}

static void test_no_room_for_the_control_segment(void **state)
{
	const char *args[] = { "--threads", "2", "--spans", "10", "--report", NULL };
	char out[512];

	(void)state;
	if (!root_or_skip())
		return;
	/* 64 KiB: not even the control segment fits. The program runs untraced, to its end. */
	assert_int_equal(run_in_small_shm(64 << 10, args, out, sizeof(out)), 0);
	assert_string_equal(out, "segment=0\n");
}

static void test_room_for_three_rings(void **state)
{
	const char *args[] = { "--threads", "5", "--spans", "10", "--names", "400", "--report", NULL };
	struct rtc_producer self;
	struct rtc_thread_info info;
	uint64_t control, ring, size;
	unsigned long long rf, to, no;
	int refused;
	char out[512];

	(void)state;
	if (!root_or_skip())
		return;
	/* What a control segment and a ring claim, from our own (same configuration). */
	rt_thread_register("main");
	assert_int_equal(rtc_producer_open_pid(&self, getpid()), 0);
	control = blocks_of(self.shm_name);
	assert_int_equal(rtc_producer_threads(&self, &info, 1), 1);
	ring = blocks_of(info.ring_name);
	rtc_producer_close(&self);
	/* The control segment, three rings (the main thread and two of five workers) and less than
	 * one more ring or one more 64 KiB of names. */
	size = control + 3 * ring + 2048;
	assert_int_equal(run_in_small_shm(size, args, out, sizeof(out)), 0);
	assert_int_equal(sscanf(out, "segment=1 ring_failures=%llu thread_overflows=%llu name_overflows=%llu refused_names=%d",
				&rf, &to, &no, &refused),
			 4);
	assert_int_equal(rf, 3);
	assert_int_equal(to, 0);
	/* The first 64 KiB of names were claimed with the segment: (65536 - 51) / 203 names of 200
	 * bytes fit after the reserved and the program's span names; the rest are refused, counted. */
	assert_int_equal(refused, 400 - 322);
	assert_int_equal(no, (unsigned long long)refused);
	printf("# full /dev/shm: %llu of 6 threads untraced, %d of 400 names refused, no fault\n", rf, refused);
}

static void test_ring_cannot_grow(void **state)
{
	const char *args[] = { "--threads", "1", "--spans", "5000", "--report", NULL };
	struct rtc_producer self;
	struct rtc_thread_info info;
	unsigned long long rf, to, no, records, dropped;
	uint64_t control, ring;
	char out[1024], *line;
	int refused;

	(void)state;
	if (!root_or_skip())
		return;
	rt_thread_register("main");
	assert_int_equal(rtc_producer_open_pid(&self, getpid()), 0);
	control = blocks_of(self.shm_name);
	assert_int_equal(rtc_producer_threads(&self, &info, 1), 1);
	ring = blocks_of(info.ring_name); /* a ring as created: its first sub-buffer only */
	rtc_producer_close(&self);
	/* Room for two rings as created (main, the worker), not for the worker's second sub-buffer:
	 * what does not fit is dropped and counted, the program runs on. */
	assert_int_equal(run_in_small_shm(control + 2 * ring + 2048, args, out, sizeof(out)), 0);
	assert_int_equal(sscanf(out, "segment=1 ring_failures=%llu thread_overflows=%llu name_overflows=%llu refused_names=%d",
				&rf, &to, &no, &refused),
			 4);
	assert_int_equal(rf, 0);
	line = strstr(out, "ring records=");
	assert_non_null(line);
	assert_int_equal(sscanf(line, "ring records=%llu dropped=%llu", &records, &dropped), 2);
	/* THREAD_START, ADOPT (rt_thread_create() hands its creator's context over), 5000 x (work
	 * and inner, begin and end), THREAD_EXIT: each either in the ring or counted as dropped. */
	assert_int_equal(records + dropped, 1 + 1 + 4 * 5000 + 1);
	assert_true(dropped > 0 && records > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_room_for_the_control_segment),
		cmocka_unit_test(test_room_for_three_rings),
		cmocka_unit_test(test_ring_cannot_grow),
	};

	producer = getenv("RT_PRODUCER");
	if (!producer)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
