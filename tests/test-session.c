/* SPDX-License-Identifier: MIT */
/* Recording sessions and leftovers: fork() children ending with _exit() and programs started through
 * a shell record from their first record and carry the session token; `record -a`'s marker makes
 * new processes record early; 10,000 forked children leave no segments behind; flight recorders
 * keep a bounded post-mortem history. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "record.h"
#include "ring-reader.h"
#include "segments.h"

#define FORKS 10000

static const char *producer;
static char dir[128];

/* Every span begin in every ring of p, rings removed afterwards (we are the consumer). */
struct spans {
	struct rtc_producer *p;
	uint64_t begins, threads;
	bool dead;
};

static int read_ring(void *ctx, const struct rtc_thread_info *t)
{
	struct spans *s = ctx;
	struct rtc_ring_reader r;
	struct rtc_ring_chunk c;
	struct rtc_decoder d;
	struct rtc_chunk_cursor cc = { 0 };
	struct rtc_record rec;

	if (t->state == RT_SHM_THREAD_DRAINED || rtc_ring_reader_open(&r, t->ring_name, (uint32_t)s->p->pid) < 0)
		return 0;
	while (rtc_ring_reader_next(&r, &c, NULL, NULL) > 0) {
		uint64_t lost;
		int ret;

		if (!rtc_chunk_start(&cc, &d, c.data, c.len, c.base_ts, c.continues, c.rec0, c.resume_rec0, &lost))
			continue;
		while ((ret = rtc_decoder_next(&d, &rec)) > 0)
			if (d.off > c.skip)
				s->begins += rec.kind == RT_REC_SPAN_BEGIN;
		rtc_chunk_done(&cc, &d, ret);
	}
	rtc_ring_reader_close(&r);
	s->threads++;
	if (s->dead)
		rtc_producer_thread_drained(s->p, t->slot, t->thread_number, true);
	return 0;
}

static uint64_t drain_dead(struct rtc_producer *p)
{
	struct spans s = { p, 0, 0, true };

	assert_true(rtc_producer_each_thread(p, read_ring, &s) >= 1);
	shm_unlink(p->shm_name);
	return s.begins;
}

struct token_find {
	uint64_t token;
	pid_t found[8];
	int n;
};

static int by_token(void *ctx, const struct rtc_segment *s)
{
	struct token_find *f = ctx;
	struct rtc_producer p;

	if (s->kind != RTC_SEG_CONTROL || f->n >= 8 || rtc_producer_open_name(&p, s->name) < 0)
		return 0;
	if (p.session_token == f->token)
		f->found[f->n++] = p.pid;
	rtc_producer_close(&p);
	return 0;
}

static int find_token(uint64_t token, pid_t *out, int max)
{
	struct token_find f = { token, { 0 }, 0 };

	assert_int_equal(rtc_segments_scan(false, by_token, &f), 0);
	for (int i = 0; i < f.n && i < max; i++)
		out[i] = f.found[i];
	return f.n;
}

static void test_fork_children_record_from_start_and_are_kept(void **state)
{
	struct rtc_session s;
	struct rtc_producer p;
	char env[64];
	pid_t a = 0, b = 0;

	(void)state;
	rtc_session_init(&s);
	rtc_session_env(&s, env, sizeof(env));
	setenv(RT_SHM_SESSION_VAR, env, 1);
	for (int k = 0; k < 2; k++) {
		pid_t c = fork();

		if (c == 0) {
			for (int i = 0; i < 10; i++) {
				rt_span_begin("early");
				rt_span_end();
			}
			_exit(0); /* a pre-fork server's worker: no exit handler */
		}
		assert_int_equal(waitpid(c, NULL, 0), c);
		if (k == 0)
			a = c;
		else
			b = c;
	}
	unsetenv(RT_SHM_SESSION_VAR);
	/* b's creation did not reclaim a: the session's consumer (us) is alive and will drain it. */
	for (int k = 0; k < 2; k++) {
		assert_int_equal(rtc_producer_open_pid(&p, k ? b : a), 0);
		assert_int_equal(p.session_token, s.token);
		assert_int_equal(p.session_pid, (uint32_t)getpid());
		assert_true(p.session_flags & RT_SHM_SESSION_ENV);
		assert_true(p.session_flags & RT_SHM_SESSION_FROM_START);
		assert_int_equal(p.parent_pid, (uint32_t)getpid());
		assert_int_equal(drain_dead(&p), 10);
		rtc_producer_close(&p);
	}
}

/* A consumer following its session: attach to every segment with its token until `until` exits. */
static uint64_t follow(uint64_t token, pid_t until, pid_t *seen)
{
	struct rtc_producer p;
	pid_t pids[8];
	uint64_t begins = 0;
	bool attached = false;
	int status;

	for (int i = 0; i < 10000; i++) {
		if (!attached && find_token(token, pids, 8) == 1 && rtc_producer_open_pid(&p, pids[0]) == 0) {
			assert_int_equal(rtc_producer_attach(&p), 0);
			attached = true;
			*seen = pids[0];
		}
		if (attached)
			rtc_producer_heartbeat(&p);
		if (waitpid(until, &status, WNOHANG) == until)
			break;
		usleep(1000);
	}
	assert_true(attached);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	begins = drain_dead(&p);
	rtc_producer_close(&p);
	return begins;
}

static void test_program_started_through_a_shell(void **state)
{
	struct rtc_session s;
	char env[64], cmd[512];
	pid_t sh, prog = 0;

	(void)state;
	rtc_session_init(&s);
	rtc_session_env(&s, env, sizeof(env));
	/* `; true`: the shell forks the program instead of exec()ing it, the harder case. */
	snprintf(cmd, sizeof(cmd), "%s --spans 7; true", producer);
	sh = fork();
	if (sh == 0) {
		setenv(RT_SHM_SESSION_VAR, env, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* work and inner spans, every one from the first */
	assert_int_equal(follow(s.token, sh, &prog), 14);
	assert_true(prog != sh);
}

static void test_marker_makes_new_processes_record_early(void **state)
{
	struct rtc_session s;
	struct rtc_producer p;
	pid_t prog, seen = 0;

	(void)state;
	rtc_session_init(&s);
	assert_int_equal(rtc_session_marker_create(&s), 0);
	prog = fork();
	if (prog == 0) {
		execl(producer, producer, "--spans", "5", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(follow(s.token, prog, &seen), 10);
	assert_int_equal(seen, prog);
	rtc_session_marker_remove(&s);
	/* Without the marker, a new process waits idle for a consumer. */
	prog = fork();
	if (prog == 0) {
		execl(producer, producer, "--spans", "5", "--forever", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 5000 && rtc_producer_open_pid(&p, prog) != 0; i++)
		usleep(1000);
	assert_int_equal(p.session_token, 0);
	assert_int_equal(p.session_flags & RT_SHM_SESSION_FROM_START, 0);
	rtc_producer_close(&p);
	kill(prog, SIGTERM);
	waitpid(prog, NULL, 0);
}

/* A launched program or session member waits at exit for its consumer to attach (up to
 * RINGTRACE_EXIT_WAIT_MS, here 10 minutes) if no consumer ever attached; one that attached and
 * left (`record --duration` shorter than the program) is not waited for, and is done with the
 * segments: the member removes them. The 60 s limits are far under the wait, so a producer still
 * waiting fails the test whatever the machine's load. */
static pid_t start_member(const char *env, const char *name, uint64_t *started_ns)
{
	char ready[200], worked[200], hold[200], exiting[200];
	struct timespec ts;
	pid_t c;

	snprintf(ready, sizeof(ready), "%s/%s.ready", dir, name);
	snprintf(worked, sizeof(worked), "%s/%s.worked", dir, name);
	snprintf(hold, sizeof(hold), "%s/%s.hold", dir, name);
	snprintf(exiting, sizeof(exiting), "%s/%s.exiting", dir, name);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	*started_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	c = fork();
	if (c == 0) {
		setenv(RT_SHM_SESSION_VAR, env, 1);
		setenv("RINGTRACE_EXIT_WAIT_MS", "600000", 1);
		execl(producer, producer, "--spans", "3", "--ready", ready, "--worked", worked, "--hold", hold,
		      "--exiting", exiting, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 60000 && access(worked, F_OK) != 0; i++)
		usleep(1000);
	assert_int_equal(access(worked, F_OK), 0);
	return c;
}

static void release(const char *name)
{
	char hold[200];
	int fd;

	snprintf(hold, sizeof(hold), "%s/%s.hold", dir, name);
	fd = open(hold, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static int exit_within(pid_t c, int ms)
{
	int status;

	for (int i = 0; i < ms; i++) {
		if (waitpid(c, &status, WNOHANG) == c)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(1000);
	}
	return -1;
}

static uint64_t ns_since(uint64_t t0)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - t0;
}

static void test_exit_waits_only_for_a_consumer_that_never_came(void **state)
{
	struct rtc_session s;
	struct rtc_producer p;
	char env[64], exiting[200];
	uint64_t t0;
	pid_t c;
	int fd;

	(void)state;
	rtc_session_init(&s);
	rtc_session_env(&s, env, sizeof(env));
	/* Nobody attached yet: the member waits for its session's consumer (us) at exit. */
	c = start_member(env, "waits", &t0);
	assert_int_equal(rtc_producer_open_pid(&p, c), 0);
	release("waits");
	snprintf(exiting, sizeof(exiting), "%s/waits.exiting", dir);
	for (int i = 0; i < 60000 && access(exiting, F_OK) != 0; i++)
		usleep(1000);
	assert_int_equal(access(exiting, F_OK), 0);
	/* Recording early that nobody attached to is given up after 10 s: on a machine so loaded that
	 * the program took that long, it rightly does not wait. */
	if (ns_since(t0) > 8000000000u) {
		rtc_producer_attach(&p);
		exit_within(c, 60000);
		drain_dead(&p);
		rtc_producer_remove(&p);
		rtc_producer_close(&p);
		skip();
	}
	/* Its exit handler is running: 500 ms later it is still waiting, not exited. */
	usleep(500000);
	assert_int_equal(waitpid(c, NULL, WNOHANG), 0);
	assert_int_equal(atomic_load(&p.ctl->exited), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	assert_int_equal(exit_within(c, 60000), 0);
	/* Everything it recorded early is there: held, and work + inner 3 times. */
	assert_int_equal(drain_dead(&p), 7);
	rtc_producer_remove(&p);
	rtc_producer_close(&p);

	/* Attached and left before the program ended: its exit is not delayed, and it removes its
	 * segments (the consumer that left is done with them). */
	c = start_member(env, "left", &t0);
	assert_int_equal(rtc_producer_open_pid(&p, c), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	assert_int_equal(rtc_producer_detach(&p), 0);
	release("left");
	assert_int_equal(exit_within(c, 60000), 0);
	fd = shm_open(p.shm_name, O_RDONLY, 0);
	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, ENOENT);
	rtc_producer_close(&p);
}

/* A program that exec()s twice keeps one pid through three images. Each image's control segment
 * stays for the session's consumer (us), and each but the running image's says it exited (or a
 * consumer reading it would wait for this pid to end). */
struct pid_controls {
	pid_t pid;
	unsigned controls, running;
	char names[4][RT_SHM_NAME_MAX];
};

static int count_controls(void *ctx, const struct rtc_segment *s)
{
	struct pid_controls *c = ctx;
	struct rtc_producer p;

	if (s->kind != RTC_SEG_CONTROL || s->pid != c->pid || rtc_producer_open_name(&p, s->name) < 0)
		return 0;
	if (c->controls < 4)
		memcpy(c->names[c->controls], s->name, sizeof(s->name));
	c->controls++;
	c->running += atomic_load(&p.ctl->exited) == 0;
	rtc_producer_close(&p);
	return 0;
}

static void test_every_earlier_image_is_marked_exited(void **state)
{
	struct rtc_session s;
	struct pid_controls c = { 0 };
	char env[64], ready[200], hold[200];
	uint64_t begins = 0;
	pid_t prog;
	int fd;

	(void)state;
	rtc_session_init(&s);
	rtc_session_env(&s, env, sizeof(env));
	snprintf(ready, sizeof(ready), "%s/chain.ready", dir);
	snprintf(hold, sizeof(hold), "%s/chain.hold", dir);
	prog = fork();
	if (prog == 0) {
		setenv(RT_SHM_SESSION_VAR, env, 1);
		setenv("RINGTRACE_EXIT_WAIT_MS", "0", 1);
		execl(producer, producer, "--spans", "2", "--then-exec", "2,2", "--last-ready", ready, "--last-hold", hold,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 60000 && access(ready, F_OK) != 0; i++)
		usleep(1000);
	assert_int_equal(access(ready, F_OK), 0);
	c.pid = prog;
	assert_int_equal(rtc_segments_scan(false, count_controls, &c), 0);
	assert_int_equal(c.controls, 3);
	assert_int_equal(c.running, 1);
	fd = open(hold, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(waitpid(prog, NULL, 0), prog);
	/* Everything is there for us: work + inner twice per image, and the last one's held span. */
	for (unsigned k = 0; k < 3; k++) {
		struct rtc_producer p;

		assert_int_equal(rtc_producer_open_name(&p, c.names[k]), 0);
		begins += drain_dead(&p);
		rtc_producer_close(&p);
	}
	assert_int_equal(begins, 3 * 4 + 1);
}

/* A consumer stopped long enough for the producer to drop its lease (SIGSTOP, a starved thread)
 * takes the lease back when it runs again and drains what was recorded. If the program ends in
 * between, its segments stay for that consumer while it lives (here: us, not beating). */
static void test_segments_kept_for_a_consumer_whose_lease_expired(void **state)
{
	char ready[200], until[200];
	struct rtc_producer p;
	pid_t prog;
	int fd;

	(void)state;
	snprintf(ready, sizeof(ready), "%s/lease.ready", dir);
	snprintf(until, sizeof(until), "%s/lease.until", dir);
	prog = fork();
	if (prog == 0) {
		setenv("RINGTRACE_LEASE_MS", "200", 1);
		execl(producer, producer, "--spans", "10", "--until", until, "--ready", ready, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 60000 && access(ready, F_OK) != 0; i++)
		usleep(1000);
	assert_int_equal(access(ready, F_OK), 0);
	assert_int_equal(rtc_producer_open_pid(&p, prog), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	/* No heartbeat: the recording program drops us after 200 ms. */
	for (int i = 0; i < 60000 && atomic_load(&p.ctl->lease_expiries) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&p.ctl->lease_expiries), 1);
	fd = open(until, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(waitpid(prog, NULL, 0), prog);
	/* Still there: the control segment and the rings, with what was recorded while we held it. */
	fd = shm_open(p.shm_name, O_RDONLY, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(atomic_load(&p.ctl->exited), 1);
	{
		struct spans sp = { &p, 0, 0, true };

		/* Both threads' rings (main and the worker, which ended first), every record in them
		 * read; how many spans that is depends on the scheduling. */
		assert_int_equal(rtc_producer_each_thread(&p, read_ring, &sp), 2);
		assert_int_equal(sp.threads, 2);
		assert_true(sp.begins > 0);
	}
	rtc_producer_remove(&p);
	rtc_producer_close(&p);
}

struct dead_count {
	unsigned controls, others;
};

static int count_dead(void *ctx, const struct rtc_segment *s)
{
	struct dead_count *c = ctx;

	if (s->pid == getpid() || s->kind == RTC_SEG_MARKER || kill(s->pid, 0) == 0)
		return 0;
	if (s->kind == RTC_SEG_CONTROL)
		c->controls++;
	else
		c->others++;
	return 0;
}

static void test_10000_forked_children_leave_nothing(void **state)
{
	struct dead_count c = { 0, 0 };
	unsigned procs, segs;

	(void)state;
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			rt_span_begin("child");
			rt_span_end();
			_exit(0);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, NULL, 0), pid);
	}
	/* Each child removed its dead predecessors' segments when it created its own: only the
	 * last one's are left, until the next process starts (or `ringtrace clean`). */
	assert_int_equal(rtc_segments_scan(false, count_dead, &c), 0);
	assert_int_equal(c.controls, 1);
	assert_int_equal(c.others, 1);
	assert_int_equal(rtc_segments_clean(&procs, &segs), 0);
	assert_int_equal(procs, 1);
	assert_int_equal(segs, 2);
	printf("# %d forked children ending with _exit(): 1 set of segments left, then cleaned\n", FORKS);
}

/* A flight recorder (overwrite mode) killed outright; its segments stay for post-mortem reading. */
static pid_t killed_recorder(const char *keep)
{
	char ready[256], keep_env[64];
	pid_t pid;

	snprintf(ready, sizeof(ready), "%s/ready.%d", dir, rand());
	snprintf(keep_env, sizeof(keep_env), "RINGTRACE_KEEP_DEAD=%s", keep);
	pid = fork();
	if (pid == 0) {
		putenv((char *)"RINGTRACE_MODE=overwrite");
		putenv(keep_env);
		execl(producer, producer, "--ready", ready, "--forever", "--spans", "1", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 5000 && access(ready, F_OK) != 0; i++)
		usleep(1000);
	assert_int_equal(access(ready, F_OK), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return pid;
}

static int count_dead_pids(pid_t *pids, int n)
{
	struct rtc_producer p;
	int alive = 0;

	for (int i = 0; i < n; i++)
		if (rtc_producer_open_pid(&p, pids[i]) == 0) {
			alive++;
			rtc_producer_close(&p);
		}
	return alive;
}

static void test_flight_recorders_keep_a_bounded_history(void **state)
{
	pid_t rec[5], last;
	unsigned procs, segs;
	struct rtc_producer p;

	(void)state;
	for (int i = 0; i < 5; i++)
		rec[i] = killed_recorder("3");
	/* The fifth's start kept the newest 3 of the 4 before it; it died too. */
	assert_int_equal(count_dead_pids(rec, 1), 0);
	assert_int_equal(count_dead_pids(rec + 1, 4), 4);
	/* The next start keeps the newest 3 of those. */
	last = killed_recorder("3");
	assert_int_equal(count_dead_pids(rec, 2), 0);
	assert_int_equal(count_dead_pids(rec + 2, 3), 3);
	assert_int_equal(rtc_producer_open_pid(&p, last), 0); /* readable post mortem */
	assert_int_equal(p.mode, RT_SHM_MODE_OVERWRITE);
	rtc_producer_close(&p);
	/* A size limit of one byte keeps none. */
	{
		pid_t pid = fork();

		if (pid == 0) {
			putenv((char *)"RINGTRACE_KEEP_DEAD_SIZE=1");
			execl(producer, producer, "--spans", "1", (char *)NULL);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, NULL, 0), pid);
	}
	assert_int_equal(count_dead_pids(rec, 5), 0);
	assert_int_equal(count_dead_pids(&last, 1), 0);
	assert_int_equal(rtc_segments_clean(&procs, &segs), 0);
	assert_int_equal(procs, 0);
}

/* Spans named "work" in a Chrome JSON file, per the project's checker (-1: the file breaks a rule). */
static long work_spans(const char *json)
{
	char cmd[600], out[1 << 14];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "python3 %s %s", getenv("RT_CHECKER"), json);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	if (pclose(f) != 0)
		return -1;
	p = strstr(out, "\"work\": ");
	return p ? strtol(p + 8, NULL, 10) : -1;
}

static void test_trace_file_per_descendant(void **state)
{
	char cmd[600], file[300], engine[400], pattern[300];
	int status, files = 0;
	pid_t sh;

	(void)state;
	/* Two programs started by a shell, each writing its own file (%p: its pid). */
	snprintf(cmd, sizeof(cmd), "%s --spans 3; %s --spans 4; true", producer, producer);
	snprintf(file, sizeof(file), "RINGTRACE_TRACE_FILE=%s/desc-%%p.json", dir);
	snprintf(engine, sizeof(engine), "RINGTRACE_ENGINE=%s", getenv("RT_ENGINE"));
	sh = fork();
	if (sh == 0) {
		putenv(file);
		putenv(engine);
		/* LeakSanitizer (gcc 12) crashes scanning a dlopen()ed module's TLS (tests/test-record.c). */
		putenv((char *)"ASAN_OPTIONS=detect_leaks=0");
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(sh, &status, 0), sh);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(pattern, sizeof(pattern), "ls %s/desc-*.json", dir);
	{
		FILE *f = popen(pattern, "r");
		char line[400];
		long total = 0;

		assert_non_null(f);
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = 0;
			files++;
			total += work_spans(line);
		}
		pclose(f);
		assert_int_equal(files, 2);
		assert_int_equal(total, 3 + 4);
	}
}

static int setup(void **state)
{
	(void)state;
	producer = getenv("RT_PRODUCER");
	snprintf(dir, sizeof(dir), "/tmp/ringtrace-session.%d.XXXXXX", (int)getpid());
	return producer && mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_children_record_from_start_and_are_kept),
		cmocka_unit_test(test_program_started_through_a_shell),
		cmocka_unit_test(test_marker_makes_new_processes_record_early),
		cmocka_unit_test(test_exit_waits_only_for_a_consumer_that_never_came),
		cmocka_unit_test(test_every_earlier_image_is_marked_exited),
		cmocka_unit_test(test_segments_kept_for_a_consumer_whose_lease_expired),
		cmocka_unit_test(test_10000_forked_children_leave_nothing),
		cmocka_unit_test(test_flight_recorders_keep_a_bounded_history),
		cmocka_unit_test(test_trace_file_per_descendant),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
