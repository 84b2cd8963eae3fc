/* SPDX-License-Identifier: MIT */
/* Hostile and foreign segments on the consumer side: names and prefix, documented limits and
 * alignment, a segment truncated under every call, squatted and planted names, root attaching to
 * another user's producer, `ringtrace clean` and the session marker. */
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
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "producer.h"
#include "segments.h"

#define NOBODY 65534
#define OTHER 65533

static pid_t sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	assert_true(pid > 0);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_names_and_prefix(void **state)
{
	struct rtc_segment s;
	char name[RT_SHM_NAME_MAX];
	const char *pre = rtc_shm_prefix();

	(void)state;
	assert_string_equal(pre, getenv("RINGTRACE_SHM_PREFIX"));
	snprintf(name, sizeof(name), "/%s.1000.42", pre);
	assert_int_equal(rtc_segment_parse(name, &s), 0);
	assert_int_equal(s.kind, RTC_SEG_CONTROL);
	assert_int_equal(s.name_uid, 1000);
	assert_int_equal(s.pid, 42);
	assert_int_equal(s.salt, 0);
	snprintf(name, sizeof(name), "%s.1000.42.x00000000deadbeef", pre);
	assert_int_equal(rtc_segment_parse(name, &s), 0);
	assert_int_equal(s.kind, RTC_SEG_CONTROL);
	assert_int_equal(s.salt, 0xdeadbeef);
	snprintf(name, sizeof(name), "/%s.0.7.t12", pre);
	assert_int_equal(rtc_segment_parse(name, &s), 0);
	assert_int_equal(s.kind, RTC_SEG_RING);
	assert_int_equal(s.number, 12);
	snprintf(name, sizeof(name), "/%s.0.7.t12.x0123456789abcdef", pre);
	assert_int_equal(rtc_segment_parse(name, &s), 0);
	assert_int_equal(s.salt, 0x0123456789abcdefull);
	snprintf(name, sizeof(name), "/%s.0.7.d3.x0123456789abcdef", pre);
	assert_int_equal(rtc_segment_parse(name, &s), 0);
	assert_int_equal(s.kind, RTC_SEG_DIR);
	assert_int_equal(s.number, 3);
	snprintf(name, sizeof(name), "/%s.1000.session", pre);
	assert_int_equal(rtc_segment_parse(name, &s), 0);
	assert_int_equal(s.kind, RTC_SEG_MARKER);
	/* Not ours, or malformed. */
	const char *bad[] = { ".1.0", ".1.2.t", ".1.2.d3", ".1.2.xABCDEF0123456789", ".1.2.t1.x12", ".99999999999.2",
			      ".1.2.q1", "..2", "x.1.2" };
	assert_int_equal(rtc_segment_parse("/ringtrace-other.1.2", &s), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", pre, bad[i]);
		assert_int_equal(rtc_segment_parse(name, &s), -EINVAL);
	}
}

/* A copy of our own control segment, planted under pid's name, with `edit` applied to its header. */
static void plant(pid_t pid, void (*edit)(struct rt_shm_control *h, void *arg), void *arg, char *name, size_t len)
{
	struct rtc_producer self;
	struct stat st;
	char *buf;
	int in, out;

	assert_int_equal(rtc_producer_open_pid(&self, getpid()), 0);
	in = shm_open(self.shm_name, O_RDONLY, 0);
	assert_true(in >= 0);
	assert_int_equal(fstat(in, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(in, buf, (size_t)st.st_size, 0), st.st_size);
	close(in);
	rtc_producer_close(&self);
	((struct rt_shm_control *)buf)->pid = (uint32_t)pid;
	if (edit)
		edit((struct rt_shm_control *)buf, arg);
	snprintf(name, len, RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)pid);
	out = shm_open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	assert_int_equal(pwrite(out, buf, (size_t)st.st_size, 0), st.st_size);
	close(out);
	free(buf);
}

static void set_names(struct rt_shm_control *h, void *arg)
{
	h->names_capacity = *(uint32_t *)arg;
}

static void set_subbuf(struct rt_shm_control *h, void *arg)
{
	h->subbuf_size = *(uint32_t *)arg;
	h->ring_size = h->subbuf_size * h->subbuf_count;
}

static void misalign_threads(struct rt_shm_control *h, void *arg)
{
	(void)arg;
	h->threads_offset += 8;
}

static void huge(struct rt_shm_control *h, void *arg)
{
	(void)arg;
	h->segment_size = 1ull << 30;
}

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void test_limits_and_alignment(void **state)
{
	struct rtc_producer p;
	char name[RT_SHM_NAME_MAX];
	pid_t pid = sleeper();
	uint32_t v;
	long rss;

	(void)state;
	v = 1u << 20;
	plant(pid, set_names, &v, name, sizeof(name));
	assert_int_equal(rtc_producer_open_pid(&p, pid), -RT_ELIMIT);
	assert_non_null(strstr(p.why, "names_capacity 1048576 exceeds the limit 65536 (RT_SHM_NAMES_MAX)"));
	v = 64u << 20;
	plant(pid, set_subbuf, &v, name, sizeof(name));
	assert_int_equal(rtc_producer_open_pid(&p, pid), -RT_ELIMIT);
	assert_non_null(strstr(p.why, "RT_SHM_SUBBUF_SIZE_MAX"));
	plant(pid, misalign_threads, NULL, name, sizeof(name));
	assert_int_equal(rtc_producer_open_pid(&p, pid), -RT_ECORRUPT);
	assert_non_null(strstr(p.why, "threads_offset"));
	/* A 1 GiB sparse segment: refused before anything of it is mapped or read. */
	plant(pid, huge, NULL, name, sizeof(name));
	{
		int fd = shm_open(name, O_RDWR, 0);

		assert_int_equal(ftruncate(fd, 1ll << 30), 0);
		close(fd);
	}
	rss = rss_kb();
	assert_int_equal(rtc_producer_open_pid(&p, pid), -RT_ELIMIT);
	assert_non_null(strstr(p.why, "RT_SHM_CONTROL_SIZE_MAX"));
	assert_true(rss_kb() - rss < 4096);
	/* As planted, valid: accepted. */
	plant(pid, NULL, NULL, name, sizeof(name));
	assert_int_equal(rtc_producer_open_pid(&p, pid), 0);
	rtc_producer_close(&p);
	shm_unlink(name);
	reap(pid);
}

static int count_cb(void *ctx, const struct rtc_thread_info *t)
{
	(void)t;
	(*(int *)ctx)++;
	return 0;
}

static int count_task(void *ctx, const struct rtc_task_info *t)
{
	(void)t;
	(*(int *)ctx)++;
	return 0;
}

static void test_truncated_under_every_call(void **state)
{
	struct rtc_producer p;
	struct rtc_producer_counts c;
	struct rt_shm_calib_point pts[RT_SHM_CALIB_MAX];
	struct rtc_thread_info info[4];
	char name[RT_SHM_NAME_MAX];
	pid_t pid = sleeper();
	int n = 0, fd;

	(void)state;
	plant(pid, NULL, NULL, name, sizeof(name));
	assert_int_equal(rtc_producer_open_pid(&p, pid), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	assert_true(rtc_producer_each_thread(&p, count_cb, &n) >= 1);
	/* The producer (here: anyone with write access) shrinks it to nothing. */
	fd = shm_open(name, O_RDWR, 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	assert_int_equal(rtc_producer_heartbeat(&p), -EFAULT);
	assert_true(rtc_producer_exited(&p));
	assert_int_equal(rtc_producer_each_thread(&p, count_cb, &n), -EFAULT);
	assert_int_equal(rtc_producer_threads(&p, info, 4), 0);
	assert_int_equal(rtc_producer_each_task(&p, count_task, &n), -EFAULT);
	assert_int_equal(rtc_producer_counts(&p, &c), -EFAULT);
	assert_int_equal(rtc_producer_names_count(&p), 0);
	assert_string_equal(rtc_producer_name(&p, 5), "<unknown>");
	assert_int_equal(rtc_producer_calibration(&p, pts, RT_SHM_CALIB_MAX), 0);
	rtc_producer_thread_drained(&p, 0, 1, true);
	assert_int_equal(rtc_producer_attach(&p), -EFAULT);
	assert_int_equal(rtc_producer_detach(&p), -EFAULT);
	rtc_producer_close(&p);
	shm_unlink(name);
	reap(pid);
}

/* ---- other users (root only) ---- */

static bool root_or_skip(void)
{
	if (geteuid() == 0)
		return true;
	printf("# skipped: needs root (other users' segments)\n");
	return false;
}

/* A child that becomes `uid`, then waits for a byte on `go` before it first traces (creating its
 * segments), then reports on `done` and pauses. */
static pid_t traced_child(uid_t uid, int go, int done)
{
	pid_t pid = fork();

	if (pid == 0) {
		char b;

		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(2);
		if (read(go, &b, 1) != 1)
			_exit(3);
		rt_thread_register("child");
		rt_span_begin("child-span");
		if (write(done, "k", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	return pid;
}

static void start_child(int go[2], int done[2])
{
	char b;

	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(read(done[0], &b, 1), 1);
}

static void test_root_attaches_to_another_user(void **state)
{
	int go[2], done[2], status;
	struct rtc_producer p;
	pid_t child, prober;

	(void)state;
	if (!root_or_skip())
		return;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	child = traced_child(NOBODY, go[0], done[1]);
	start_child(go, done);
	assert_int_equal(rtc_producer_open_pid(&p, child), 0);
	assert_int_equal(p.uid, NOBODY);
	assert_int_equal(rtc_producer_attach(&p), 0);
	assert_int_equal(rtc_producer_detach(&p), 0);
	rtc_producer_close(&p);
	/* Anyone else: refused. */
	prober = fork();
	if (prober == 0) {
		struct rtc_producer q;

		if (setgid(OTHER) < 0 || setuid(OTHER) < 0)
			_exit(2);
		_exit(rtc_producer_open_pid(&q, child) == -EACCES ? 0 : 1);
	}
	assert_int_equal(waitpid(prober, &status, 0), prober);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	reap(child);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

struct squat_seen {
	pid_t pid;
	int squatted;
};

static int find_squat(void *ctx, const struct rtc_segment *s)
{
	struct squat_seen *q = ctx;

	if (s->pid == q->pid && s->owner != s->name_uid)
		q->squatted++;
	return 0;
}

static int salted_ring(void *ctx, const struct rtc_thread_info *t)
{
	struct rtc_producer *p = ctx;

	if (strcmp(t->name, "child") == 0) {
		char expect[RT_SHM_NAME_MAX];

		snprintf(expect, sizeof(expect), "/%s.%u.%u.t%llu.x%016llx", rtc_shm_prefix(), NOBODY, (unsigned)p->pid,
			 (unsigned long long)t->thread_number, (unsigned long long)t->ring_salt);
		assert_true(t->ring_salt != 0);
		assert_string_equal(t->ring_name, expect);
		return 1;
	}
	return 0;
}

static void plant_foreign(const char *suffix, pid_t pid, uid_t name_uid, uid_t owner)
{
	char name[RT_SHM_NAME_MAX];
	int fd;

	snprintf(name, sizeof(name), RT_SHM_CONTROL_NAME_FMT "%s", rtc_shm_prefix(), (unsigned)name_uid, (unsigned)pid,
		 suffix);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, owner, owner), 0);
	close(fd);
}

static int unlink_pid(void *ctx, const struct rtc_segment *s)
{
	if (s->pid == *(pid_t *)ctx)
		shm_unlink(s->name);
	return 0;
}

static void test_squatted_names_fall_back_to_salted_ones(void **state)
{
	int go[2], done[2];
	struct rtc_producer p;
	struct squat_seen q;
	pid_t child;
	char base[RT_SHM_NAME_MAX];

	(void)state;
	if (!root_or_skip())
		return;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	child = traced_child(NOBODY, go[0], done[1]);
	/* Another user guessed the pid: the control segment's and the first ring's names are taken. */
	plant_foreign("", child, NOBODY, OTHER);
	plant_foreign(".t1", child, NOBODY, OTHER);
	start_child(go, done);
	assert_int_equal(rtc_producer_open_pid(&p, child), 0);
	snprintf(base, sizeof(base), RT_SHM_CONTROL_NAME_FMT ".x", rtc_shm_prefix(), NOBODY, (unsigned)child);
	assert_memory_equal(p.shm_name, base, strlen(base));
	assert_int_equal(rtc_producer_each_thread(&p, salted_ring, &p), 1);
	rtc_producer_close(&p);
	/* What `ringtrace list` shows: the squatted names, owned by someone else. */
	q = (struct squat_seen){ child, 0 };
	assert_int_equal(rtc_segments_scan(true, find_squat, &q), 0);
	assert_int_equal(q.squatted, 2);
	reap(child);
	{
		struct rtc_producer r;

		assert_int_equal(rtc_producer_open_pid(&r, child), 0); /* dead: root may still read it */
		rtc_producer_close(&r);
	}
	assert_int_equal(rtc_segments_scan(true, unlink_pid, &child), 0);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

/* ---- clean and the marker ---- */

static pid_t traced_and_gone(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		rt_span_begin("short");
		rt_span_end();
		_exit(0); /* no exit handler: its segments stay behind */
	}
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void test_clean_removes_only_dead_and_unwanted(void **state)
{
	struct rtc_producer p;
	unsigned procs, segs;
	pid_t a, b;

	(void)state;
	a = traced_and_gone();
	/* A consumer attached to a (post mortem) keeps it from being cleaned, and from being reclaimed
	 * by b when b creates its segments. */
	assert_int_equal(rtc_producer_open_pid(&p, a), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	b = traced_and_gone();
	assert_int_equal(rtc_segments_clean(&procs, &segs), 0);
	assert_int_equal(procs, 1);
	assert_int_equal(segs, 2); /* b's control segment and its one ring */
	{
		struct rtc_producer q;

		assert_int_equal(rtc_producer_open_pid(&q, b), -ENOENT);
	}
	assert_int_equal(rtc_producer_detach(&p), 0);
	/* Our own segments (we are alive) are never touched. */
	assert_int_equal(rtc_segments_clean(&procs, &segs), 0);
	assert_int_equal(procs, 1);
	assert_int_equal(segs, 2);
	rtc_producer_close(&p);
	{
		struct rtc_producer self;

		assert_int_equal(rtc_producer_open_pid(&self, getpid()), 0);
		rtc_producer_close(&self);
	}
}

/* A child that makes the session marker and dies without removing it (a killed `record -a`). */
static pid_t dead_consumer_with_marker(void)
{
	struct rtc_session t;
	int status;
	pid_t child = fork();

	if (child == 0) {
		rtc_session_init(&t);
		_exit(rtc_session_marker_create(&t) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	return child;
}

static void test_session_marker(void **state)
{
	struct rtc_session s, t;
	char name[RT_SHM_NAME_MAX], text[64];
	struct stat st;
	pid_t child;
	int fd, status;

	(void)state;
	rtc_session_init(&s);
	assert_int_equal(rtc_session_marker_create(&s), 0);
	snprintf(name, sizeof(name), RT_SHM_MARKER_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid());
	fd = shm_open(name, O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(pread(fd, text, sizeof(text) - 1, 0) > 0);
	close(fd);
	{
		char env[64];

		rtc_session_env(&s, env, sizeof(env));
		assert_int_equal(strncmp(text, env, strlen(env)), 0);
	}
	/* Another live consumer's marker is not taken over. */
	child = fork();
	if (child == 0) {
		rtc_session_init(&t);
		_exit(rtc_session_marker_create(&t) == -EBUSY ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	rtc_session_marker_remove(&s);
	snprintf(name, sizeof(name), RT_SHM_MARKER_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid());
	assert_int_equal(shm_open(name, O_RDONLY, 0), -1);
	assert_int_equal(errno, ENOENT);
	/* A dead consumer's marker is replaced. */
	child = dead_consumer_with_marker();
	assert_int_equal(rtc_session_marker_create(&s), 0);
	rtc_session_marker_remove(&s);
}

static void note_marker(void *ctx, const struct rtc_clean_entry *e)
{
	struct rtc_clean_entry *seen = ctx;

	if (e->marker)
		*seen = *e;
}

/* `clean` removes the marker of a consumer that died with it, never a live one's. */
static void test_clean_removes_a_dead_consumers_marker(void **state)
{
	struct rtc_clean_entry seen;
	struct rtc_session s;
	char name[RT_SHM_NAME_MAX];
	unsigned procs, segs;
	pid_t child;
	int fd;

	(void)state;
	snprintf(name, sizeof(name), RT_SHM_MARKER_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid());
	rtc_session_init(&s);
	assert_int_equal(rtc_session_marker_create(&s), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(rtc_segments_clean_each(false, note_marker, &seen, &procs, &segs), 0);
	assert_false(seen.marker);
	fd = shm_open(name, O_RDONLY, 0);
	assert_true(fd >= 0); /* ours, and we are alive */
	close(fd);
	rtc_session_marker_remove(&s);

	child = dead_consumer_with_marker();
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(rtc_segments_clean_each(true, note_marker, &seen, &procs, &segs), 0);
	assert_true(seen.marker);
	assert_int_equal(seen.pid, child);
	assert_int_equal(seen.removed, 1);
	assert_int_equal(segs, 1);
	fd = shm_open(name, O_RDONLY, 0);
	assert_true(fd >= 0); /* a dry run leaves it */
	close(fd);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(rtc_segments_clean_each(false, note_marker, &seen, &procs, &segs), 0);
	assert_int_equal(seen.pid, child);
	assert_int_equal(segs, 1);
	assert_int_equal(procs, 0);
	assert_int_equal(shm_open(name, O_RDONLY, 0), -1);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_prefix),
		cmocka_unit_test(test_limits_and_alignment),
		cmocka_unit_test(test_truncated_under_every_call),
		cmocka_unit_test(test_root_attaches_to_another_user),
		cmocka_unit_test(test_squatted_names_fall_back_to_salted_ones),
		cmocka_unit_test(test_clean_removes_only_dead_and_unwanted),
		cmocka_unit_test(test_session_marker),
		cmocka_unit_test(test_clean_removes_a_dead_consumers_marker),
	};

	rt_thread_register("main"); /* our own segment exists, with a thread */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
