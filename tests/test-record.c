/* SPDX-License-Identifier: MIT */
/* Integration: real producer processes and a real `ringtrace record`, checked through the Chrome
 * JSON they produce (parsed and validated by tests/check-chrome.py). */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "producer.h"
#include "record-harness.h"
#include "segments.h"

static void test_attach_mid_run_true_begin(void **state)
{
	char ready[300], hold[300], json[300], pidbuf[16], *out;
	const char *env[] = { "RINGTRACE_TRACK_SPANS=1", NULL };
	pid_t prod, rec;

	(void)state;
	path(ready, sizeof(ready), "ready1");
	path(hold, sizeof(hold), "hold1");
	path(json, sizeof(json), "attach.json");
	{
		const char *argv[] = { producer, "--hold", hold, "--ready", ready, "--wait-consumer", "--threads", "2",
				       "--spans", "100", NULL };

		prod = spawn(argv, env, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	usleep(300000); /* the held span is now well before any attach */
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, "--quiet", NULL };

		rec = spawn(argv, NULL, "record1.out");
	}
	usleep(300000);
	touch(hold);
	assert_int_equal(wait_exit(prod, 10000), 0);
	assert_int_equal(wait_exit(rec, 10000), 0);
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "held"), 1);
	assert_true(jint(out, "before_attach") >= 1);
	/* The held span starts at its true begin, before the consumer attached. */
	assert_true(jnum(out, "first.held") < jnum(out, "attach_us"));
	assert_true(jnum(out, "attach_us") - jnum(out, "first.held") > 250000);
	assert_int_equal(jint(out, "work"), 200);
	free(out);
}

/* `ringtrace convert` of a capture, then the live trace and the converted one checked. */
static void convert_and_check(const char *raw, const char *json, const char *json2, const char *out_name, char **live,
			      char **converted)
{
	const char *argv[] = { tool, "convert", raw, "-o", json2, NULL };

	assert_int_equal(wait_exit(spawn(argv, NULL, out_name), 15000), 0);
	*live = check(json);
	*converted = check(json2);
	assert_non_null(*live);
	assert_non_null(*converted);
}

static void tagged_path(char *buf, size_t len, const char *prefix, const char *tag, const char *suffix)
{
	char name[64];

	snprintf(name, sizeof(name), "%s%s%s", prefix, tag, suffix);
	path(buf, len, name);
}

/* A producer whose main thread sits inside the span "held", begun well before any attach, until
 * the file `hold` (set here) exists. */
static pid_t start_blocked_producer(const char *tag, char *hold, size_t len)
{
	char ready[300], worked[300];
	pid_t prod;

	tagged_path(ready, sizeof(ready), "ready-", tag, "");
	tagged_path(hold, len, "hold-", tag, "");
	tagged_path(worked, sizeof(worked), "worked-", tag, "");
	{
		const char *argv[] = { producer, "--hold", hold, "--ready", ready, "--worked", worked, "--threads", "0",
				       NULL };

		prod = spawn(argv, NULL, NULL);
	}
	assert_int_equal(wait_file(worked, 5000), 0);
	usleep(300000); /* the held span began well before the attach */
	return prod;
}

/* A thread blocked inside spans for the whole recording commits no record, so no STACK record of
 * its own: its open spans come from its shared stack (live.c), into the trace and the capture. */
static void blocked_thread_run(const char *tag, bool release_while_recording)
{
	char hold[300], json[300], json2[300], raw[300], pidbuf[16], *out, *conv;
	pid_t prod, rec;

	tagged_path(json, sizeof(json), "blocked-", tag, ".json");
	tagged_path(json2, sizeof(json2), "blocked-", tag, "-converted.json");
	tagged_path(raw, sizeof(raw), "blocked-", tag, ".rtrace");
	prod = start_blocked_producer(tag, hold, sizeof(hold));
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, "--raw", raw, "--quiet", NULL };

		rec = spawn(argv, NULL, NULL);
	}
	assert_int_equal(wait_consumer_running(prod, 10000), 0);
	usleep(200000); /* polls enough to see the stack quiet */
	if (release_while_recording) {
		/* Its END comes after our snapshot and its own STACK record: one span, complete. */
		touch(hold);
		assert_int_equal(wait_exit(prod, 10000), 0);
		assert_int_equal(wait_exit(rec, 10000), 0);
	} else {
		kill(rec, SIGINT);
		assert_int_equal(wait_exit(rec, 10000), 0);
		touch(hold);
		assert_int_equal(wait_exit(prod, 10000), 0);
	}
	convert_and_check(raw, json, json2, "convert-blocked.out", &out, &conv);
	assert_int_equal(jint(out, "held"), 1);
	assert_int_equal(jint(out, "before_attach"), 1);
	assert_int_equal(jint(out, "incomplete"), release_while_recording ? -1 : 1);
	assert_true(jnum(out, "attach_us") - jnum(out, "first.held") > 250000);
	assert_int_equal(jint(conv, "held"), 1);
	assert_int_equal(jint(conv, "before_attach"), 1);
	assert_int_equal(jint(conv, "incomplete"), jint(out, "incomplete"));
	assert_true(jnum(conv, "first.held") == jnum(out, "first.held"));
	free(out);
	free(conv);
}

static void test_blocked_thread_open_spans(void **state)
{
	(void)state;
	blocked_thread_run("stopped", false);
	blocked_thread_run("released", true);
}

/* `top` shows what a blocked thread is inside of now, with its running time up to the frame. */
static void test_top_shows_blocked_thread(void **state)
{
	char hold[300], out[300], pidbuf[16], *text, *last, *line;
	unsigned pid, tid, depth;
	char running[32], name[64];
	double secs;
	pid_t prod, top;

	(void)state;
	path(out, sizeof(out), "top-blocked.out");
	prod = start_blocked_producer("top", hold, sizeof(hold));
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "top", "-p", pidbuf, "--duration", "2.5", NULL };

		top = spawn(argv, NULL, "top-blocked.out");
	}
	assert_int_equal(wait_exit(top, 15000), 0);
	touch(hold);
	assert_int_equal(wait_exit(prod, 10000), 0);
	text = slurp(out);
	assert_non_null(text);
	last = strstr(text, "inside now: 1 thread in spans");
	assert_non_null(last);
	while ((line = strstr(last + 1, "inside now: 1 thread in spans")) != NULL)
		last = line;
	/* The frame's row: pid, tid, running time, depth, the spans. */
	line = strchr(strchr(last, '\n') + 1, '\n') + 1;
	assert_int_equal(sscanf(line, "%u %u %31s %u %63s", &pid, &tid, running, &depth, name), 5);
	assert_int_equal(pid, (unsigned)prod);
	assert_int_equal(tid, (unsigned)prod);
	assert_int_equal(depth, 1);
	assert_string_equal(name, "held");
	secs = strtod(running, NULL) / (strstr(running, "ms") ? 1000.0 : 1.0);
	assert_true(strchr(running, 's') != NULL && strchr(running, '+') == NULL);
	/* Began at least 0.3 s before the attach, and the last frame is about 2 s after it. */
	assert_true(secs >= 1.25);
	assert_true(secs < 30.0);
	free(text);
}

static void test_exact_counts(void **state)
{
	char ready[300], json[300], pidbuf[16], *out;
	pid_t prod, rec;

	(void)state;
	path(ready, sizeof(ready), "ready2");
	path(json, sizeof(json), "counts.json");
	{
		const char *argv[] = { producer, "--ready", ready, "--wait-consumer", "--threads", "3", "--spans", "1000",
				       "--tasks", "50", "--logs", "20", NULL };

		prod = spawn(argv, NULL, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, "--quiet", NULL };

		rec = spawn(argv, NULL, "record2.out");
	}
	assert_int_equal(wait_exit(prod, 10000), 0);
	assert_int_equal(wait_exit(rec, 10000), 0);
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "work"), 3000);
	assert_int_equal(jint(out, "inner"), 3000);
	assert_int_equal(jint(out, "tasks"), 3 * 50 + 1);
	assert_int_equal(jint(out, "logs"), 60);
	assert_int_equal(jint(out, "flows"), 3); /* three threads inherited the "top" task */
	assert_int_equal(jint(out, "threads"), 4);
	assert_int_equal(jint(out, "lost_records"), 0);
	free(out);
}

static void test_processes_merged_in_order(void **state)
{
	char ready[2][300], json[300], p0[16], p1[16], *out;
	pid_t prod[2], rec;

	(void)state;
	path(json, sizeof(json), "multi.json");
	for (int k = 0; k < 2; k++) {
		const char *argv[] = { producer, "--ready", ready[k], "--wait-consumer", "--threads", "2", "--spans", "500",
				       "--logs", "200", NULL };

		snprintf(ready[k], sizeof(ready[k]), "%s/ready-m%d", dir, k);
		prod[k] = spawn(argv, NULL, NULL);
		assert_int_equal(wait_file(ready[k], 5000), 0);
	}
	snprintf(p0, sizeof(p0), "%d", (int)prod[0]);
	snprintf(p1, sizeof(p1), "%d", (int)prod[1]);
	{
		const char *argv[] = { tool, "record", "-p", p0, "-p", p1, "-o", json, "--quiet", NULL };

		rec = spawn(argv, NULL, "record3.out");
	}
	assert_int_equal(wait_exit(prod[0], 10000), 0);
	assert_int_equal(wait_exit(prod[1], 10000), 0);
	assert_int_equal(wait_exit(rec, 10000), 0);
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "work"), 2000);
	assert_int_equal(jint(out, "logs"), 800);
	/* Both processes, one timeline: instants of all threads come out in timestamp order. */
	if (jint(out, "order_violations") != 0)
		printf("# out of order: %s\n", out);
	assert_int_equal(jint(out, "order_violations"), 0);
	assert_int_equal(jint(out, "processes"), 2);
	free(out);
}

static void test_producer_killed(void **state)
{
	char ready[300], json[300], pidbuf[16], seg[128], *out;
	pid_t prod, rec;

	(void)state;
	path(ready, sizeof(ready), "ready4");
	path(json, sizeof(json), "killed.json");
	{
		const char *argv[] = { producer, "--ready", ready, "--forever", "--threads", "2", "--spans", "50", NULL };

		prod = spawn(argv, NULL, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, "--quiet", NULL };

		rec = spawn(argv, NULL, "record4.out");
	}
	assert_int_equal(wait_consumer_running(prod, 20000), 0);
	kill(prod, SIGKILL);
	waitpid(prod, NULL, 0);
	/* The consumer notices, drains what was committed, and finishes a valid file. */
	assert_int_equal(wait_exit(rec, 10000), 0);
	out = check(json);
	assert_non_null(out);
	assert_true(jint(out, "work") > 100);
	free(out);
	snprintf(seg, sizeof(seg), "/dev/shm/%s.%u.%d", rtc_shm_prefix(), (unsigned)getuid(), (int)prod);
	assert_int_equal(access(seg, F_OK), -1); /* the dead producer's segments were removed */
}

static void test_consumer_killed(void **state)
{
	char ready[300], json[300], partial[310], pidbuf[16];
	struct rtc_producer p;
	pid_t prod, rec;
	int i;

	(void)state;
	path(ready, sizeof(ready), "ready5");
	path(json, sizeof(json), "consumer-killed.json");
	{
		const char *argv[] = { producer, "--ready", ready, "--forever", "--threads", "1", "--spans", "10", NULL };

		prod = spawn(argv, NULL, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, "--quiet", NULL };

		rec = spawn(argv, NULL, "record5.out");
	}
	assert_int_equal(rtc_producer_open(&p, prod, getuid()), 0);
	for (i = 0; i < 5000 && !atomic_load(&p.ctl->session); i++)
		usleep(1000); /* recording for real */
	assert_true(atomic_load(&p.ctl->session) != 0);
	assert_true(atomic_load(&p.ctl->active) == RT_SHM_ACTIVE_ON);
	kill(rec, SIGKILL);
	waitpid(rec, NULL, 0);
	/* The producer stops paying for recording within about a second. */
	for (i = 0; i < 3000 && atomic_load(&p.ctl->session); i++)
		usleep(1000);
	printf("# producer noticed the dead consumer after %d ms\n", i);
	assert_true(i < 2500);
	/* Back to the idle state: open spans tracked (the default), nothing recorded. */
	assert_int_equal(atomic_load(&p.ctl->active), RT_SHM_ACTIVE_TRACK);
	assert_int_equal(atomic_load(&p.ctl->lease_expiries), 1);
	rtc_producer_close(&p);
	/* No truncated file at the final path, and none beside it (sinks/outfile.h: O_TMPFILE). */
	assert_int_equal(access(json, F_OK), -1);
	snprintf(partial, sizeof(partial), "%s.partial", json);
	assert_int_equal(access(partial, F_OK), -1);
	kill(prod, SIGTERM);
	waitpid(prod, NULL, 0);
	remove_segments(prod); /* killed by a signal: its exit handler did not run */
}

static void test_corrupt_and_foreign_segments(void **state)
{
	char ready[300], json[300], errs[300], seg[2][128], pids[3][16], *out, *log;
	struct rt_shm_control fake;
	const char *sleeper[] = { "/bin/sleep", "20", NULL };
	pid_t s[2], prod, rec;

	(void)state;
	path(ready, sizeof(ready), "ready6");
	path(json, sizeof(json), "corrupt.json");
	path(errs, sizeof(errs), "record6.out");
	for (int k = 0; k < 2; k++) {
		FILE *f;

		s[k] = spawn(sleeper, NULL, NULL);
		snprintf(seg[k], sizeof(seg[k]), "/dev/shm/%s.%u.%d", rtc_shm_prefix(), (unsigned)getuid(), (int)s[k]);
		f = fopen(seg[k], "w");
		assert_non_null(f);
		memset(&fake, 0x5a, sizeof(fake));
		if (k == 1) {
			/* Foreign: our magic, an ABI from the future. */
			fake.magic = RT_SHM_CONTROL_MAGIC;
			fake.abi_major = 9;
		}
		fwrite(&fake, 1, sizeof(fake), f);
		fclose(f);
		chmod(seg[k], 0600);
		snprintf(pids[k], sizeof(pids[k]), "%d", (int)s[k]);
	}
	{
		const char *argv[] = { producer, "--ready", ready, "--wait-consumer", "--spans", "100", NULL };

		prod = spawn(argv, NULL, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	snprintf(pids[2], sizeof(pids[2]), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pids[0], "-p", pids[1], "-p", pids[2], "-o", json, "--quiet",
				       NULL };

		rec = spawn(argv, NULL, "record6.out");
	}
	assert_int_equal(wait_exit(prod, 10000), 0);
	assert_int_equal(wait_exit(rec, 10000), 0);
	log = slurp(errs);
	assert_non_null(strstr(log, pids[0]));
	assert_non_null(strstr(log, "not a ringtrace segment"));
	assert_non_null(strstr(log, "unsupported ringtrace ABI"));
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "work"), 100); /* the good process is recorded in full */
	assert_int_equal(jint(out, "processes"), 1);
	free(out);
	free(log);
	for (int k = 0; k < 2; k++) {
		kill(s[k], SIGKILL);
		waitpid(s[k], NULL, 0);
		unlink(seg[k]);
	}
}

static void test_launch_records_from_first_record(void **state)
{
	char json[300], *out;
	pid_t rec;

	(void)state;
	path(json, sizeof(json), "launch.json");
	{
		const char *argv[] = { tool, "record", "-o", json, "--quiet", "--", producer, "--threads", "2", "--spans",
				       "300", "--tasks", "10", "--logs", "5", NULL };

		rec = spawn(argv, NULL, "record7.out");
	}
	assert_int_equal(wait_exit(rec, 15000), 0);
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "work"), 600);
	assert_int_equal(jint(out, "tasks"), 21);
	assert_int_equal(jint(out, "logs"), 10);
	free(out);
}

static void test_raw_capture_converts_identically(void **state)
{
	char json[300], json2[300], raw[300], *a, *b;
	pid_t rec;

	(void)state;
	path(json, sizeof(json), "live.json");
	path(json2, sizeof(json2), "converted.json");
	path(raw, sizeof(raw), "capture.rtrace");
	{
		const char *argv[] = { tool, "record", "-o", json, "--raw", raw, "--quiet", "--", producer, "--threads", "2",
				       "--spans", "500", "--tasks", "20", "--logs", "7", NULL };

		rec = spawn(argv, NULL, "record8.out");
	}
	assert_int_equal(wait_exit(rec, 15000), 0);
	convert_and_check(raw, json, json2, "convert8.out", &a, &b);
	assert_int_equal(jint(b, "work"), 1000);
	assert_int_equal(jint(a, "work"), jint(b, "work"));
	assert_int_equal(jint(a, "tasks"), jint(b, "tasks"));
	assert_int_equal(jint(a, "logs"), jint(b, "logs"));
	assert_int_equal(jint(a, "flows"), jint(b, "flows"));
	assert_int_equal(jint(a, "X"), jint(b, "X"));
	free(a);
	free(b);
}

static void test_env_var_path(void **state)
{
	char json[300], env_file[400], env_engine[400], expect[300], *out;
	/* LeakSanitizer (gcc 12) crashes scanning the bogus dynamic-TLS range a dlopen()ed module
	 * leaves ("Tracer caught signal 11"); AddressSanitizer itself stays on for this process. */
	const char *env[] = { env_file, env_engine, "ASAN_OPTIONS=detect_leaks=0", NULL };
	pid_t prod;

	(void)state;
	path(json, sizeof(json), "env-%p.json");
	snprintf(env_file, sizeof(env_file), "RINGTRACE_TRACE_FILE=%s", json);
	snprintf(env_engine, sizeof(env_engine), "RINGTRACE_ENGINE=%s", getenv("RT_ENGINE"));
	{
		const char *argv[] = { producer, "--threads", "3", "--spans", "400", "--tasks", "5", "--logs", "3", NULL };

		prod = spawn(argv, env, "env.out");
	}
	assert_int_equal(wait_exit(prod, 15000), 0);
	snprintf(expect, sizeof(expect), "%s/env-%d.json", dir, (int)prod);
	out = check(expect);
	assert_non_null(out);
	/* The engine attached at library load: everything from the first record is there. */
	assert_int_equal(jint(out, "work"), 1200);
	assert_int_equal(jint(out, "inner"), 1200);
	assert_int_equal(jint(out, "tasks"), 16);
	assert_int_equal(jint(out, "logs"), 9);
	free(out);
}

static void test_all_processes_including_new_ones(void **state)
{
	char ready[3][300], json[300], mine[300], p[3][16], ns[64], *out, *theirs;
	/* A namespace of its own (RINGTRACE_SHM_PREFIX): -a must not see other traced programs. */
	const char *env[] = { ns, NULL };
	pid_t prod[3], rec, other;

	(void)state;
	snprintf(ns, sizeof(ns), "RINGTRACE_SHM_PREFIX=rtrec-all-%d", (int)getpid());
	path(json, sizeof(json), "all.json");
	for (int k = 0; k < 3; k++)
		snprintf(ready[k], sizeof(ready[k]), "%s/ready-a%d", dir, k);
	for (int k = 0; k < 2; k++) {
		const char *argv[] = { producer, "--ready", ready[k], "--wait-consumer", "--spans", "100", NULL };

		prod[k] = spawn(argv, env, NULL);
		assert_int_equal(wait_file(ready[k], 5000), 0);
	}
	{
		/* Stopped by SIGINT once every producer has exited, not after a --duration: on a loaded
		 * machine the third producer may start late, and a duration would end -a first. */
		const char *argv[] = { tool, "record", "-a", "-o", json, "--quiet", NULL };

		rec = spawn(argv, env, "record10.out");
	}
	/* -a has made its session marker: processes starting now record from their first record. */
	{
		char marker[128];

		snprintf(marker, sizeof(marker), "/dev/shm/rtrec-all-%d.%u.session", (int)getpid(), (unsigned)getuid());
		assert_int_equal(wait_file(marker, 20000), 0);
	}
	{
		/* Starts while recording and does not wait for anyone: -a has it from its first record
		 * (the session marker). */
		const char *argv[] = { producer, "--ready", ready[2], "--spans", "100", NULL };

		prod[2] = spawn(argv, env, NULL);
	}
	{
		/* Another consumer's program, launched while -a runs: not -a's to take. */
		const char *argv[] = { tool, "record", "-o", mine, "--quiet", "--", producer, "--threads", "2", "--spans", "70",
				       NULL };

		path(mine, sizeof(mine), "mine.json");
		other = spawn(argv, env, "record10b.out");
	}
	for (int k = 0; k < 3; k++)
		assert_int_equal(wait_exit(prod[k], 10000), 0);
	assert_int_equal(wait_exit(other, 10000), 0);
	/* Ctrl-C: a final look for segments and a final drain, then the file. */
	kill(rec, SIGINT);
	assert_int_equal(wait_exit(rec, 10000), 0);
	out = check(json);
	assert_non_null(out);
	for (int k = 0; k < 3; k++)
		snprintf(p[k], sizeof(p[k]), "%d", (int)prod[k]);
	for (int k = 0; k < 3; k++)
		assert_non_null(strstr(out, p[k]));
	assert_int_equal(jint(out, "work"), 300);
	assert_int_equal(jint(out, "processes"), 3);
	theirs = check(mine);
	assert_non_null(theirs);
	assert_int_equal(jint(theirs, "work"), 140);
	assert_int_equal(jint(theirs, "processes"), 1);
	free(theirs);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_attach_mid_run_true_begin, kill_children),
		cmocka_unit_test_teardown(test_blocked_thread_open_spans, kill_children),
		cmocka_unit_test_teardown(test_top_shows_blocked_thread, kill_children),
		cmocka_unit_test_teardown(test_exact_counts, kill_children),
		cmocka_unit_test_teardown(test_processes_merged_in_order, kill_children),
		cmocka_unit_test_teardown(test_producer_killed, kill_children),
		cmocka_unit_test_teardown(test_consumer_killed, kill_children),
		cmocka_unit_test_teardown(test_corrupt_and_foreign_segments, kill_children),
		cmocka_unit_test_teardown(test_launch_records_from_first_record, kill_children),
		cmocka_unit_test_teardown(test_raw_capture_converts_identically, kill_children),
		cmocka_unit_test_teardown(test_env_var_path, kill_children),
		cmocka_unit_test_teardown(test_all_processes_including_new_ones, kill_children),
	};

	if (harness_init("test-record") < 0)
		return 1;
	return cmocka_run_group_tests(tests, harness_setup, harness_teardown);
}
