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
#include "segments.h"
#include "segments.h"

static const char *tool, *producer, *checker;
static char dir[256];
static pid_t children[64]; /* killed at teardown: a failed assertion skips a test's own cleanup */
static size_t nchildren;

static void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* fork/exec with extra environment entries; stdout/stderr to files in the test dir. */
static pid_t spawn(const char *const argv[], const char *const env[], const char *out_name)
{
	pid_t pid = fork();

	if (pid == 0) {
		char out[300];
		int fd;

		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		path(out, sizeof(out), out_name ? out_name : "child.out");
		fd = open(out, O_CREAT | O_WRONLY | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid > 0 && nchildren < 64)
		children[nchildren++] = pid;
	return pid;
}

/* Exit status, or -1 after timeout_ms (the child is then killed). */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int status;

	for (int i = 0; i < timeout_ms; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int wait_file(const char *p, int timeout_ms)
{
	for (int i = 0; i < timeout_ms; i++) {
		if (access(p, F_OK) == 0)
			return 0;
		usleep(1000);
	}
	return -1;
}

static void touch(const char *p)
{
	int fd = open(p, O_CREAT | O_WRONLY, 0600);

	if (fd >= 0)
		close(fd);
}

/* Run the checker; returns its JSON summary (malloc'd) or NULL if the file breaks a rule. */
static char *check(const char *json)
{
	char cmd[700], *out = malloc(1 << 20);
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "python3 %s %s", checker, json);
	f = popen(cmd, "r");
	if (!f || !out)
		return NULL;
	n = fread(out, 1, (1 << 20) - 1, f);
	out[n] = 0;
	if (pclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Integer value of "key": N in the checker's output (first occurrence), -1 if absent. */
static long jint(const char *doc, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(doc, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static double jnum(const char *doc, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(doc, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 1 << 16);

	if (f && buf)
		buf[fread(buf, 1, (1 << 16) - 1, f)] = 0;
	if (f)
		fclose(f);
	return buf;
}

static void unlink_if(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	(void)control;
	if (pid == *(pid_t *)ctx)
		shm_unlink(shm_name);
}

static void remove_segments(pid_t pid)
{
	rtc_producer_scan(unlink_if, &pid);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ringtrace-test.%d.XXXXXX", (int)getpid());
	return mkdtemp(dir) ? 0 : -1;
}

static int kill_children(void **state)
{
	(void)state;
	for (size_t i = 0; i < nchildren; i++)
		if (kill(children[i], SIGKILL) == 0)
			waitpid(children[i], NULL, 0);
	nchildren = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	for (size_t i = 0; i < nchildren; i++)
		if (kill(children[i], SIGKILL) == 0)
			waitpid(children[i], NULL, 0);
	nchildren = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

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
	usleep(500000);
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

/* Launch the producer with `spans` iterations under `record` with extra arguments; returns the
 * checker's summary and leaves the record output in out_name. */
static char *launch_and_check(const char *name, const char *spans, const char *const extra[], const char *const env[])
{
	char json[300], out_name[64];
	const char *argv[32];
	size_t n = 0;
	pid_t rec;

	path(json, sizeof(json), name);
	snprintf(out_name, sizeof(out_name), "%s.out", name);
	argv[n++] = tool;
	argv[n++] = "record";
	argv[n++] = "-o";
	argv[n++] = json;
	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n++] = "--";
	argv[n++] = producer;
	argv[n++] = "--threads";
	argv[n++] = "1";
	argv[n++] = "--spans";
	argv[n++] = spans;
	argv[n] = NULL;
	rec = spawn(argv, env, out_name);
	if (wait_exit(rec, 120000) != 0)
		return NULL;
	return check(json);
}

/* Output far slower than the producer with a 1 MB --max-backlog: reading pauses (said once), the
 * queue stays near the limit, and every record the producer made is either in the file or
 * counted lost, including drops after a thread's last LOSS record. The records of a run are 4
 * per iteration, the fixed ones around them (from a small run that loses nothing), a LOSS record
 * per loss the producer could report, and open-span snapshots (STACK records, after each loss
 * and when a thread first sees the consumer: how many of the latter depends on whether the
 * thread's ring existed before the attach, so they are counted apart, from otherData). */
static void test_backlog_limit_pauses_reading_and_counts_every_loss(void **state)
{
	/* A poll reads up to a ring per thread: with 4 MiB rings one poll of a producer writing flat
	 * out queues more than the 1 MB limit, whatever the machine's speed. */
	static const char *const env[] = { "RINGTRACE_BUFFER_SIZE=4M", NULL };
	static const char *const limit[] = { "--max-backlog", "1", NULL };
	char *small, *big, log[300], *text;
	long fixed, records, lost, reported;

	(void)state;
	small = launch_and_check("backlog-small.json", "1000", NULL, NULL);
	assert_non_null(small);
	assert_int_equal(jint(small, "lost_records"), 0);
	fixed = jint(small, "records") - jint(small, "resync_records") - 4 * 1000;
	assert_true(fixed > 0);
	big = launch_and_check("backlog-big.json", "1000000", limit, env);
	assert_non_null(big);
	records = jint(big, "records") - jint(big, "resync_records");
	lost = jint(big, "lost_records");
	/* Absent when the ring filled once and stayed full to the end: all reported at exit. */
	reported = jint(big, "loss.full") < 0 ? 0 : jint(big, "loss.full");
	assert_true(lost > 0);
	assert_int_equal(records + lost, 4 * 1000000 + fixed + reported);
	/* One poll may queue up to a ring (4 MiB) per thread past the limit before it is seen; the
	 * run's 14 MB of records would queue unbounded. */
	assert_true(jint(big, "backlog_peak_bytes") >= (1 << 20));
	assert_true(jint(big, "backlog_peak_bytes") < (1 << 20) + (4 << 20) + (1 << 20));
	path(log, sizeof(log), "backlog-big.json.out");
	text = slurp(log);
	assert_non_null(strstr(text, "reading pauses"));
	assert_null(strstr(strstr(text, "reading pauses") + 1, "reading pauses"));
	free(text);
	free(small);
	free(big);
}

static void test_raw_capture_converts_identically(void **state)
{
	char json[300], json2[300], raw[300], *a, *b;
	pid_t rec, conv;

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
	{
		const char *argv[] = { tool, "convert", raw, "-o", json2, NULL };

		conv = spawn(argv, NULL, "convert8.out");
	}
	assert_int_equal(wait_exit(conv, 15000), 0);
	a = check(json);
	b = check(json2);
	assert_non_null(a);
	assert_non_null(b);
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
		const char *argv[] = { tool, "record", "-a", "--duration", "3", "-o", json, "--quiet", NULL };

		rec = spawn(argv, env, "record10.out");
	}
	usleep(500000);
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

static int count_one(void *ctx, const struct rtc_segment *s)
{
	if (s->kind != RTC_SEG_MARKER)
		++*(long *)ctx;
	return 0;
}

/* Segments under this test's prefix (RINGTRACE_SHM_PREFIX, set in main()): what processes left. */
static long segments_left(void)
{
	long n = 0;

	assert_int_equal(rtc_segments_scan(false, count_one, &n), 0);
	return n;
}

/* `record -- CMD` and an exact trace of it, or NULL. extra: more argv for CMD after the producer. */
static char *launch_cmd(const char *name, const char *const *cmd, int timeout_ms)
{
	const char *argv[32];
	char json[300], out_name[64];
	size_t n = 0;
	pid_t rec;

	path(json, sizeof(json), name);
	snprintf(out_name, sizeof(out_name), "%s.out", name);
	argv[n++] = tool;
	argv[n++] = "record";
	argv[n++] = "-o";
	argv[n++] = json;
	argv[n++] = "--";
	for (size_t i = 0; cmd[i] && n < 31; i++)
		argv[n++] = cmd[i];
	argv[n] = NULL;
	rec = spawn(argv, NULL, out_name);
	if (wait_exit(rec, timeout_ms) != 0)
		return NULL;
	return check(json);
}

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

/* What the producer could not record at all (here: names past its table, recorded as
 * "<overflow>") is in the summary, in otherData and as events, exactly its own count. */
static void test_names_past_the_table_reported(void **state)
{
	const char *cmd[] = { producer, "--names", "66000", "--report", NULL };
	char log[300], *out, *text;
	const char *at;
	long refused;

	(void)state;
	out = launch_cmd("names.json", cmd, 120000);
	assert_non_null(out);
	path(log, sizeof(log), "names.json.out");
	text = slurp(log);
	assert_non_null(text);
	at = strstr(text, "refused_names=");
	assert_non_null(at);
	refused = strtol(at + strlen("refused_names="), NULL, 10);
	assert_true(refused > 0);
	assert_int_equal(jint(out, "untraced.names-overflowed"), refused); /* the events */
	at = strstr(out, "\"names_overflowed.");                            /* otherData */
	assert_non_null(at);
	at = strstr(at, "\": ");
	assert_non_null(at);
	assert_int_equal(strtol(at + 3, NULL, 10), refused);
	{
		char said[96];

		snprintf(said, sizeof(said), "%ld names recorded as <overflow>", refused);
		assert_non_null(strstr(text, said)); /* the summary */
	}
	free(text);
	free(out);
}

/* A consumer stopped longer than the producer's lease (SIGSTOP, a starved process): the producer
 * stops recording for it; when it runs again it takes the lease back, records again and marks
 * the gap in the trace and the summary. */
static void test_stalled_consumer_takes_the_lease_back(void **state)
{
	static const char *const env[] = { "RINGTRACE_LEASE_MS=400", NULL };
	char ready[300], json[300], pidbuf[16], *out;
	pid_t prod, rec;

	(void)state;
	path(ready, sizeof(ready), "ready-stall");
	path(json, sizeof(json), "stall.json");
	{
		const char *argv[] = { producer, "--ready", ready, "--spans", "10", "--forever", NULL };

		prod = spawn(argv, env, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "--duration", "4", "-o", json, NULL };

		rec = spawn(argv, NULL, "stall.out");
	}
	usleep(800000);
	assert_int_equal(kill(rec, SIGSTOP), 0);
	usleep(1500000); /* almost four lease times */
	assert_int_equal(kill(rec, SIGCONT), 0);
	assert_int_equal(wait_exit(rec, 20000), 0);
	kill(prod, SIGKILL);
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "recording_gaps"), 1);
	assert_int_equal(jint(out, "loss.not-recorded"), 1);
	/* The gap covers the stop, and recording went on after it. */
	assert_true(jnum(out, "gap_until") - jnum(out, "gap_since") >= 1000000.0);
	assert_true(jnum(out, "last.work") > jnum(out, "gap_until"));
	assert_true(jnum(out, "first.work") < jnum(out, "gap_since"));
	free(out);
	{
		char log[300], *text;

		path(log, sizeof(log), "stall.out");
		text = slurp(log);
		assert_non_null(text);
		assert_non_null(strstr(text, "dropped our lease"));
		assert_non_null(strstr(text, "1 recording gaps"));
		free(text);
	}
}

/* The LOST column of `ringtrace list` for pid, -1 if it is not listed. */
static long listed_lost(pid_t pid)
{
	char cmd[400], line[512];
	long lost = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s list", tool);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64], mode[16], threads[16], buffer[16], fill[16], records[32];

		if (atol(line) == (long)pid &&
		    sscanf(line, "%*d %63s %15s %15s %15s %15s %31s %ld", name, mode, threads, buffer, fill, records, &lost) != 7)
			lost = -1;
		if (atol(line) == (long)pid)
			break;
	}
	pclose(f);
	return lost;
}

/* Flight recorder: a consumer attaching to an overwrite-mode process reports what the ring
 * overwrote before it came, exactly the producer's count (`list` LOST), in the summary, in
 * otherData and as one loss event where the thread's retained history begins. */
static void test_flight_recorder_loss_reported(void **state)
{
	static const char *const env[] = { "RINGTRACE_MODE=overwrite", "RINGTRACE_BUFFER_SIZE=64K", NULL };
	char hold[300], worked[300], json[300], pidbuf[16], key[64], *out;
	long listed, work, inner;
	pid_t prod, rec;

	(void)state;
	path(hold, sizeof(hold), "hold-ow");
	path(worked, sizeof(worked), "worked-ow");
	path(json, sizeof(json), "overwrite.json");
	{
		const char *argv[] = { producer, "--hold", hold, "--worked", worked, "--spans", "20000", NULL };

		prod = spawn(argv, env, NULL);
	}
	assert_int_equal(wait_file(worked, 10000), 0);
	/* Everything is written: the producer's count no longer moves. */
	listed = listed_lost(prod);
	printf("# list shows %ld records lost by pid %d\n", listed, (int)prod);
	assert_true(listed > 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, NULL };

		rec = spawn(argv, NULL, "record-ow.out");
	}
	usleep(300000);
	touch(hold);
	assert_int_equal(wait_exit(prod, 10000), 0);
	assert_int_equal(wait_exit(rec, 10000), 0);
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "lost_records"), listed); /* otherData */
	assert_int_equal(jint(out, "loss.overwritten"), 1);
	assert_int_equal(jint(out, "threads_overwritten"), 1);
	assert_int_equal(jint(out, "overwritten_at_history_start"), 1);
	{
		/* The events' counts add up to the same (check-chrome sums them after otherData). */
		const char *phases = strstr(out, "\"phases\"");

		assert_non_null(phases);
		assert_int_equal(jint(phases, "lost_records"), listed);
	}
	{
		/* Per thread and reason: "lost.PID.TID.overwritten": N */
		const char *at;

		snprintf(key, sizeof(key), "\"lost.%d.", (int)prod);
		at = strstr(out, key);
		assert_non_null(at);
		at = strstr(at + 1, "\"lost.");
		assert_non_null(at);
		at = strstr(at, ".overwritten\": ");
		assert_non_null(at);
		assert_int_equal(strtol(at + strlen(".overwritten\": "), NULL, 10), listed);
	}
	/* The retained history: the newest spans, each iteration's pair complete or cut at its start. */
	work = jint(out, "work");
	inner = jint(out, "inner");
	assert_in_range(work, 1, 19999);
	assert_in_range(inner - work + 1, 0, 2);
	free(out);
	{
		/* The summary printed at the end says it too. */
		char log[300], said[64], *text;

		path(log, sizeof(log), "record-ow.out");
		text = slurp(log);
		assert_non_null(text);
		snprintf(said, sizeof(said), ", %ld records lost,", listed);
		assert_non_null(strstr(text, said));
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_attach_mid_run_true_begin, kill_children),
		cmocka_unit_test_teardown(test_exact_counts, kill_children),
		cmocka_unit_test_teardown(test_processes_merged_in_order, kill_children),
		cmocka_unit_test_teardown(test_producer_killed, kill_children),
		cmocka_unit_test_teardown(test_consumer_killed, kill_children),
		cmocka_unit_test_teardown(test_corrupt_and_foreign_segments, kill_children),
		cmocka_unit_test_teardown(test_launch_records_from_first_record, kill_children),
		cmocka_unit_test_teardown(test_backlog_limit_pauses_reading_and_counts_every_loss, kill_children),
		cmocka_unit_test_teardown(test_raw_capture_converts_identically, kill_children),
		cmocka_unit_test_teardown(test_env_var_path, kill_children),
		cmocka_unit_test_teardown(test_all_processes_including_new_ones, kill_children),
		cmocka_unit_test_teardown(test_flight_recorder_loss_reported, kill_children),
		cmocka_unit_test_teardown(test_forked_children_without_exec, kill_children),
		cmocka_unit_test_teardown(test_programs_started_through_a_shell, kill_children),
		cmocka_unit_test_teardown(test_thousand_live_and_20000_sequential_threads, kill_children),
		cmocka_unit_test_teardown(test_10000_forked_children_leave_no_segments, kill_children),
		cmocka_unit_test_teardown(test_names_past_the_table_reported, kill_children),
		cmocka_unit_test_teardown(test_stalled_consumer_takes_the_lease_back, kill_children),
	};

	tool = getenv("RT_TOOL");
	producer = getenv("RT_PRODUCER");
	checker = getenv("RT_CHECKER");
	if (!tool || !producer || !checker) {
		fprintf(stderr, "test-record: RT_TOOL, RT_PRODUCER and RT_CHECKER must be set (meson test does)\n");
		return 1;
	}
	/* A namespace of our own: other traced programs on the machine (other test runs too) are
	 * neither seen nor touched, and what our programs leave behind can be counted. */
	if (!getenv("RINGTRACE_SHM_PREFIX")) {
		char ns[64];

		snprintf(ns, sizeof(ns), "rtrec-%d", (int)getpid());
		setenv("RINGTRACE_SHM_PREFIX", ns, 1);
	}
	if (getenv("RT_TEST_SKIP"))
		cmocka_set_skip_filter(getenv("RT_TEST_SKIP"));
	if (getenv("RT_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RT_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
