/* SPDX-License-Identifier: MIT */
/* Hostile captures of about a megabyte, each shaped to make one step of the conversion quadratic,
 * or to claim memory out of proportion: each converts exactly, within a CPU (or memory) budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include <ringtrace/ringtrace.h>

#include "engine.h"

/* Linear conversions of these take well under a second even under ASan; the quadratic ones took
 * 8 s to minutes for the same bytes (plain build). */
#define CPU_BUDGET_S 5.0

struct capture {
	msgpack_sbuffer sb, recs;
	msgpack_packer pk, rk; /* the capture; the records of the next chunk */
};

static void cap_init(struct capture *c)
{
	msgpack_sbuffer_init(&c->sb);
	msgpack_sbuffer_init(&c->recs);
	msgpack_packer_init(&c->pk, &c->sb, msgpack_sbuffer_write);
	msgpack_packer_init(&c->rk, &c->recs, msgpack_sbuffer_write);
	/* ["ringtrace-raw", 2, origin, start], then process 0 (pid 100, monotonic clock). */
	msgpack_pack_array(&c->pk, 4);
	msgpack_pack_str_with_body(&c->pk, "ringtrace-raw", 13);
	msgpack_pack_uint32(&c->pk, 2);
	msgpack_pack_uint64(&c->pk, 1000);
	msgpack_pack_uint64(&c->pk, 1000);
	msgpack_pack_array(&c->pk, 10);
	msgpack_pack_uint32(&c->pk, 1);
	msgpack_pack_uint32(&c->pk, 0);
	msgpack_pack_uint32(&c->pk, 100);
	msgpack_pack_str_with_body(&c->pk, "p", 1);
	msgpack_pack_uint32(&c->pk, RT_SHM_CLOCK_MONOTONIC);
	msgpack_pack_uint32(&c->pk, RT_SHM_MODE_DISCARD);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&c->pk, 0);
}

/* A message of n unsigned integers. */
static void msg(struct capture *c, int n, ...)
{
	va_list ap;

	msgpack_pack_array(&c->pk, (size_t)n);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		msgpack_pack_uint64(&c->pk, va_arg(ap, uint64_t));
	va_end(ap);
}

static void thread(struct capture *c, uint64_t index)
{
	msgpack_pack_array(&c->pk, 7);
	msgpack_pack_uint32(&c->pk, 3);
	msgpack_pack_uint32(&c->pk, 0);
	msgpack_pack_uint64(&c->pk, index);
	msgpack_pack_uint64(&c->pk, index + 1); /* thread number */
	msgpack_pack_uint64(&c->pk, 1000 + index);
	msgpack_pack_str_with_body(&c->pk, "t", 1);
	msgpack_pack_uint64(&c->pk, 0);
}

/* A record [kind, dt, fields...] into the pending chunk. */
static void rec(struct capture *c, uint64_t kind, uint64_t dt, int n, ...)
{
	va_list ap;

	msgpack_pack_array(&c->rk, 2 + (size_t)n);
	msgpack_pack_uint64(&c->rk, kind);
	msgpack_pack_uint64(&c->rk, dt);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		msgpack_pack_uint64(&c->rk, va_arg(ap, uint64_t));
	va_end(ap);
}

/* Flush the pending records as a chunk of thread t when they reach 60 KB (or now, with force). */
static void chunk(struct capture *c, uint64_t t, bool continues);
static void chunk_if_full(struct capture *c, uint64_t t, bool force)
{
	static bool started;

	if (c->recs.size >= 60000 || (force && c->recs.size)) {
		chunk(c, t, started);
		started = !force;
	}
}

/* The pending records as one chunk of thread `t` (continuing its previous chunk). */
static void chunk(struct capture *c, uint64_t t, bool continues)
{
	msgpack_pack_array(&c->pk, 8);
	msgpack_pack_uint32(&c->pk, 5);
	msgpack_pack_uint64(&c->pk, t);
	msgpack_pack_uint64(&c->pk, 0);
	msgpack_pack_uint64(&c->pk, 0);
	msgpack_pack_uint64(&c->pk, 0);
	msgpack_pack_bin_with_body(&c->pk, c->recs.data, c->recs.size);
	msgpack_pack_uint32(&c->pk, continues ? 1 : 0);
	msgpack_pack_uint32(&c->pk, 0);
	c->recs.size = 0;
}

/* Convert it (Chrome JSON to /dev/null, statistics on); the summary, and the CPU seconds taken. */
static double convert(struct capture *c, struct rtc_engine_summary *s)
{
	char path[] = "/tmp/rt-capture-cost.XXXXXX";
	struct rtc_engine_options o = { .json_path = "/dev/null", .quiet = true };
	struct rusage r0, r1;
	struct rtc_engine *e;
	int fd = mkstemp(path);
	double cpu;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, c->sb.data, c->sb.size), (ssize_t)c->sb.size);
	close(fd);
	o.log = fopen("/dev/null", "w");
	e = rtc_engine_create(&o);
	assert_non_null(e);
	getrusage(RUSAGE_SELF, &r0);
	assert_int_equal(rtc_engine_convert(e, path), 0);
	getrusage(RUSAGE_SELF, &r1);
	rtc_engine_summary(e, s);
	rtc_engine_destroy(e);
	fclose(o.log);
	unlink(path);
	cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	      (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("# %zu bytes: %.2f s CPU\n", c->sb.size, cpu);
	msgpack_sbuffer_destroy(&c->sb);
	msgpack_sbuffer_destroy(&c->recs);
	return cpu;
}

/* Many threads with a record each beyond every watermark, then as many watermarks: the merge and
 * the thread-end check passed over every thread at each watermark. */
static void test_watermarks_over_many_threads(void **state)
{
	enum { N = 50000 };
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	cap_init(&c);
	for (uint64_t i = 0; i < N; i++)
		thread(&c, i);
	for (uint64_t i = 0; i < N; i++) {
		rec(&c, RT_REC_SPAN_BEGIN, 1000000000, 1, (uint64_t)1);
		chunk(&c, i, false);
	}
	for (uint64_t i = 0; i < N; i++)
		msg(&c, 2, (uint64_t)6, i);
	assert_true(convert(&c, &s) < CPU_BUDGET_S);
	assert_int_equal(s.s.threads, N);
	assert_int_equal(s.s.spans, N);
	assert_int_equal(s.s.spans_incomplete, N);
}

/* As many threads, then as many hand-offs from a thread that does not exist: each looked for
 * its source thread by a pass over every thread (14 s for 1.6 MB). */
static void test_handoffs_among_many_threads(void **state)
{
	enum { N = 60000 };
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	cap_init(&c);
	for (uint64_t i = 0; i < N; i++)
		thread(&c, i);
	for (uint64_t i = 0; i < N; i++) {
		rec(&c, RT_REC_ADOPT, 1, 4, (uint64_t)7, (uint64_t)1000000, (uint64_t)0, (uint64_t)RT_ADOPT_CONTEXT);
		chunk_if_full(&c, 0, i == N - 1);
	}
	assert_true(convert(&c, &s) < CPU_BUDGET_S);
	assert_int_equal(s.s.threads, N);
	assert_int_equal(s.s.records, N);
	assert_int_equal(s.s.flows, 0);
}

/* Many threads all ended, then as many recording gaps of their process: each looked for a thread
 * not ended by a pass over every thread (8 s for 1.3 MB). */
static void test_gaps_after_many_threads_ended(void **state)
{
	enum { N = 50000 };
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	cap_init(&c);
	for (uint64_t i = 0; i < N; i++)
		thread(&c, i);
	for (uint64_t i = 0; i < N; i++)
		msg(&c, 3, (uint64_t)7, i, (uint64_t)0);
	msg(&c, 2, (uint64_t)6, (uint64_t)10);
	for (uint64_t i = 0; i < N; i++)
		msg(&c, 5, (uint64_t)11, (uint64_t)0, (uint64_t)1, (uint64_t)2, (uint64_t)3);
	assert_true(convert(&c, &s) < CPU_BUDGET_S);
	assert_int_equal(s.s.threads, N);
	assert_int_equal(s.s.gaps, N);
	assert_int_equal(s.s.lost, 0); /* no thread left to show them on */
}

/* Task ids aimed at one slot of the task table (its hash was fixed and invertible): each begin
 * probed past every earlier task (10 s for 1.1 MB). */
static void test_task_ids_aimed_at_one_slot(void **state)
{
	enum { N = 80000 };
	const uint64_t c1 = 0x9e3779b97f4a7c15ull;
	uint64_t inv = c1;
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	for (int i = 0; i < 6; i++)
		inv *= 2 - c1 * inv; /* c1's inverse mod 2^64 (Newton) */
	cap_init(&c);
	thread(&c, 0);
	for (uint64_t i = 0; i < N; i++) {
		/* The old hash was h = id * c1, h ^= h >> 29: ids whose h has 24 low zero bits. */
		uint64_t h = (i + 1) << 24, x = h ^ h >> 29;

		x ^= x >> 58;
		rec(&c, RT_REC_TASK_BEGIN, 1, 3, x * inv, (uint64_t)0, (uint64_t)1);
		chunk_if_full(&c, 0, i == N - 1);
	}
	assert_true(convert(&c, &s) < CPU_BUDGET_S);
	assert_int_equal(s.s.tasks, N);
	assert_int_equal(s.s.tasks_incomplete, N);
}

/* Task ids aimed at one slot of the statistics' table of open tasks (its hash was fixed and
 * invertible): 9 s for 1.1 MB. */
static void test_task_ids_aimed_at_the_statistics(void **state)
{
	enum { N = 80000 };
	const uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xbf58476d1ce4e5b9ull, k3 = 0x94d049bb133111ebull;
	uint64_t inv2 = k2, inv3 = k3;
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	for (int i = 0; i < 6; i++) {
		inv2 *= 2 - k2 * inv2;
		inv3 *= 2 - k3 * inv3;
	}
	cap_init(&c);
	thread(&c, 0);
	for (uint64_t i = 0; i < N; i++) {
		/* The old hash of (pid 100, 0, id): x = (100 << 32) * k1 ^ id * k2, x ^= x >> 32,
		 * x *= k3, x ^= x >> 29; ids whose hash has 24 low zero bits. */
		uint64_t h = (i + 1) << 24, x = h ^ h >> 29;

		x ^= x >> 58;
		x *= inv3;
		x ^= x >> 32;
		rec(&c, RT_REC_TASK_BEGIN, 1, 3, (x ^ (100ull << 32) * k1) * inv2, (uint64_t)0, (uint64_t)1);
		chunk_if_full(&c, 0, i == N - 1);
	}
	assert_true(convert(&c, &s) < CPU_BUDGET_S);
	assert_int_equal(s.s.tasks, N);
}

/* Name ids aimed at one slot of the sparse name table (multiples of 2^17 for its old fixed hash):
 * bounded by 32-bit ids, 1.2 s for 320 KB. */
static void test_name_ids_aimed_at_one_slot(void **state)
{
	enum { N = 32000 };
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	cap_init(&c);
	for (uint64_t i = 0; i < N; i++) {
		msgpack_pack_array(&c.pk, 4);
		msgpack_pack_uint32(&c.pk, 2);
		msgpack_pack_uint32(&c.pk, 0);
		msgpack_pack_uint32(&c.pk, (uint32_t)((i + 1) << 17));
		msgpack_pack_str_with_body(&c.pk, "n", 1);
	}
	assert_true(convert(&c, &s) < CPU_BUDGET_S);
	assert_int_equal(s.s.processes, 1);
}

/* The deepest stack rebuild keeps, then span ends naming spans that are not open: each costs a
 * binary search, not a pass over the stack. */
static void test_unknown_span_ends_on_a_deep_stack(void **state)
{
	enum { DEPTH = 1024, N = 200000 };
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	cap_init(&c);
	thread(&c, 0);
	for (uint64_t i = 0; i < DEPTH; i++)
		rec(&c, RT_REC_SPAN_BEGIN, 1, 1, (uint64_t)1);
	for (uint64_t i = 0; i < N; i++) {
		rec(&c, RT_REC_SPAN_END_SEQ, 1, 1, (uint64_t)1000000 + i);
		chunk_if_full(&c, 0, i == N - 1);
	}
	assert_true(convert(&c, &s) < CPU_BUDGET_S);
	assert_int_equal(s.s.unmatched_ends, N);
	assert_int_equal(s.s.spans, DEPTH);
	assert_int_equal(s.s.spans_incomplete, DEPTH);
}

/* Deeper than the rebuild keeps: the spans beyond are counted, and their ends skipped, so the
 * spans kept end where they did. */
static void test_spans_too_deep_are_counted(void **state)
{
	enum { DEPTH = 1024 + 76 };
	struct rtc_engine_summary s;
	struct capture c;

	(void)state;
	cap_init(&c);
	thread(&c, 0);
	for (uint64_t i = 0; i < DEPTH; i++)
		rec(&c, RT_REC_SPAN_BEGIN, 1, 1, (uint64_t)1);
	for (uint64_t i = 0; i < DEPTH; i++)
		rec(&c, RT_REC_SPAN_END, 1, 0);
	chunk_if_full(&c, 0, true);
	convert(&c, &s);
	assert_int_equal(s.s.spans, 1024);
	assert_int_equal(s.s.spans_too_deep, 76);
	assert_int_equal(s.s.spans_incomplete, 0);
	assert_int_equal(s.s.unmatched_ends, 0);
}

/* Peak memory of converting c, in a child process (KB of resident memory at most). */
static long convert_in_child(struct capture *c, uint64_t expect_processes)
{
	struct rusage ru;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rtc_engine_summary s;

		convert(c, &s);
		_exit(s.s.processes == expect_processes ? 0 : 1);
	}
	msgpack_sbuffer_destroy(&c->sb);
	msgpack_sbuffer_destroy(&c->recs);
	assert_int_equal(wait4(pid, &status, 0, &ru), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("# at most %ld MB resident\n", ru.ru_maxrss >> 10);
	return ru.ru_maxrss;
}

/* Many processes, each with one name far from 0: each took 25 KB (a dense name array of 1024 slots,
 * room for 256 calibration points), 1.6 GB for 1.7 MB of capture. */
static void test_processes_with_far_names(void **state)
{
	enum { N = 65000 };
#ifdef __SANITIZE_ADDRESS__
	const long budget_kb = 1024 << 10; /* shadow memory and quarantine */
#else
	const long budget_kb = 512 << 10;
#endif
	struct capture c;

	(void)state;
	cap_init(&c);
	for (uint64_t i = 1; i < N; i++) {
		msgpack_pack_array(&c.pk, 10);
		msgpack_pack_uint32(&c.pk, 1);
		msgpack_pack_uint64(&c.pk, i);
		msgpack_pack_uint64(&c.pk, 100 + i);
		msgpack_pack_str_with_body(&c.pk, "p", 1);
		msgpack_pack_uint32(&c.pk, RT_SHM_CLOCK_TSC);
		msgpack_pack_uint32(&c.pk, RT_SHM_MODE_DISCARD);
		for (int k = 0; k < 4; k++)
			msgpack_pack_uint64(&c.pk, 0);
	}
	for (uint64_t i = 0; i < N; i++) {
		msgpack_pack_array(&c.pk, 4);
		msgpack_pack_uint32(&c.pk, 2);
		msgpack_pack_uint64(&c.pk, i);
		msgpack_pack_uint32(&c.pk, 1023);
		msgpack_pack_str_with_body(&c.pk, "n", 1);
	}
	assert_true(convert_in_child(&c, N) < budget_kb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watermarks_over_many_threads),
		cmocka_unit_test(test_handoffs_among_many_threads),
		cmocka_unit_test(test_gaps_after_many_threads_ended),
		cmocka_unit_test(test_task_ids_aimed_at_one_slot),
		cmocka_unit_test(test_task_ids_aimed_at_the_statistics),
		cmocka_unit_test(test_name_ids_aimed_at_one_slot),
		cmocka_unit_test(test_unknown_span_ends_on_a_deep_stack),
		cmocka_unit_test(test_spans_too_deep_are_counted),
		cmocka_unit_test(test_processes_with_far_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
