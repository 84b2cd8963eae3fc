/* SPDX-License-Identifier: MIT */
/* Integration: `ringtrace record -- CMD` follows everything CMD starts (fork children that never
 * exec, programs under a shell, a program exec()ing another) and any number of threads, each from
 * its first record, and leaves nothing in /dev/shm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "record-harness.h"

/* Pre-fork server workers: children that never exec and end with _exit are followed from their
 * first record, each its own process, and leave nothing in /dev/shm. */
static void test_forked_children_without_exec(void **state)
{
	const char *cmd[] = { producer, "--spans", "100", "--forks", "20", NULL };
	char *out;

	(void)state;
	out = launch_cmd("forks.json", cmd, 60000);
	assert_non_null(out);
	assert_int_equal(jint(out, "child"), 20 * 100);
	assert_int_equal(jint(out, "work"), 100);
	assert_int_equal(jint(out, "processes"), 21);
	assert_int_equal(jint(out, "lost_records"), 0);
	assert_int_equal(jint(out, "spans_before_attach"), 0);
	assert_int_equal(segments_left(), 0);
	free(out);
}

/* A server forking 10,000 short-lived children while recorded: every child in the trace, and no
 * segments left behind. */
static void test_10000_forked_children_leave_no_segments(void **state)
{
	const char *cmd[] = { producer, "--spans", "1", "--forks", "10000", NULL };
	char *out;

	(void)state;
	out = launch_cmd("forks10k.json", cmd, 600000);
	assert_non_null(out);
	assert_int_equal(jint(out, "child"), 10000);
	assert_int_equal(jint(out, "processes"), 10001);
	assert_int_equal(jint(out, "lost_records"), 0);
	assert_int_equal(segments_left(), 0);
	free(out);
}

/* `record -- sh -c '...'`: the shell is not traced, the programs it starts are, from their first
 * record; `; true` makes the shell fork them rather than exec the last one. */
static void test_programs_started_through_a_shell(void **state)
{
	char script[700], *out;
	const char *cmd[] = { "/bin/sh", "-c", script, NULL };

	(void)state;
	snprintf(script, sizeof(script), "%s --spans 100; %s --spans 50 --threads 3; true", producer, producer);
	out = launch_cmd("shell.json", cmd, 60000);
	assert_non_null(out);
	assert_int_equal(jint(out, "work"), 100 + 3 * 50);
	assert_int_equal(jint(out, "processes"), 2);
	assert_int_equal(jint(out, "spans_before_attach"), 0);
	assert_int_equal(segments_left(), 0);
	free(out);
}

/* A traced program that exec()s another traced program: one pid, two images, both recorded, the
 * first one ended at the exec (recording does not wait for it forever), nothing left behind. */
static void test_traced_program_execs_another(void **state)
{
	const char *cmd[] = { producer, "--spans", "10", "--then-exec", "20", NULL };
	char *out;

	(void)state;
	out = launch_cmd("exec.json", cmd, 60000);
	assert_non_null(out);
	assert_int_equal(jint(out, "work"), 30);
	assert_int_equal(jint(out, "processes"), 2);
	assert_int_equal(jint(out, "lost_records"), 0);
	assert_int_equal(segments_left(), 0);
	free(out);
}

/* No limit on threads: 1000 alive at once, then 20,000 short-lived ones one after the other
 * (their directory slots reused), every one recorded. */
static void test_thousand_live_and_20000_sequential_threads(void **state)
{
	const char *cmd[] = { producer, "--threads", "1000", "--sequential", "20000", "--spans", "5", NULL };
	char *out;

	(void)state;
	out = launch_cmd("threads.json", cmd, 600000);
	assert_non_null(out);
	assert_int_equal(jint(out, "work"), (1000 + 20000) * 5);
	assert_int_equal(jint(out, "inner"), (1000 + 20000) * 5);
	assert_int_equal(jint(out, "threads"), 1 + 1000 + 20000);
	assert_int_equal(jint(out, "lost_records"), 0);
	assert_int_equal(segments_left(), 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_forked_children_without_exec, kill_children),
		cmocka_unit_test_teardown(test_programs_started_through_a_shell, kill_children),
		cmocka_unit_test_teardown(test_traced_program_execs_another, kill_children),
		cmocka_unit_test_teardown(test_thousand_live_and_20000_sequential_threads, kill_children),
		cmocka_unit_test_teardown(test_10000_forked_children_leave_no_segments, kill_children),
	};

	if (harness_init("test-follow") < 0)
		return 1;
	return cmocka_run_group_tests(tests, harness_setup, harness_teardown);
}
