/* SPDX-License-Identifier: MIT */
/* Producer threads: many writing at once while a consumer drains, thread exit and slot reuse,
 * signal handlers recording into an interrupted thread, fork, and a reader in another process. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>
#include <ringtrace/shm-format.h>

#include "harness.h"
#include "segments.h"

#define SPANS_PER_THREAD 50000
#define WRITERS 8

#define h harness_group

struct counts {
	uint64_t begins, ends, exits, loss_records, lost, nested_lost;
	int depth_errors;
};

/* Replay one thread's records: spans must nest, every LOSS resynchronises from the STACK after it.
 * A stream that ends in drops no LOSS record could carry (trailing_loss) may end unbalanced. */
static void count_thread_ex(uint64_t tn, struct counts *c, bool trailing_loss)
{
	long depth = 0;
	bool resync = false;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < h.n; i++) {
		struct rec_copy *r = &h.recs[i];

		if (r->thread_number != tn)
			continue;
		switch (r->kind) {
		case RT_REC_SPAN_BEGIN:
			c->begins++;
			depth++;
			break;
		case RT_REC_SPAN_END:
			c->ends++;
			if (--depth < 0 && !resync) {
				c->depth_errors++;
				if (getenv("RT_TEST_DEBUG"))
					for (size_t k = i > 12 ? i - 12 : 0; k <= i; k++)
						if (h.recs[k].thread_number == tn)
							fprintf(stderr, "  %zu kind %u a %llu stack %u\n", k, h.recs[k].kind,
								(unsigned long long)h.recs[k].a, h.recs[k].stack_len);
			}
			break;
		case RT_REC_THREAD_EXIT:
			c->exits++;
			break;
		case RT_REC_LOSS:
			c->loss_records++;
			c->lost += r->a;
			if (r->c & RT_LOSS_NESTED)
				c->nested_lost += r->a;
			resync = true;
			break;
		case RT_REC_STACK:
			if (resync || depth != (long)r->stack_len)
				depth = (long)r->stack_len;
			resync = false;
			break;
		default:
			break;
		}
	}
	if (depth != 0 && !resync && !trailing_loss) {
		c->depth_errors++;
		if (getenv("RT_TEST_DEBUG"))
			fprintf(stderr, "  final depth %ld: begins %llu ends %llu loss %llu\n", depth,
				(unsigned long long)c->begins, (unsigned long long)c->ends, (unsigned long long)c->loss_records);
	}
}

static _Atomic int writers_done;

static void count_thread(uint64_t tn, struct counts *c)
{
	count_thread_ex(tn, c, false);
}

static void *writer(void *arg)
{
	uint64_t *tn = arg;

	rt_thread_register("writer");
	*tn = harness_self_thread();
	for (int i = 0; i < SPANS_PER_THREAD; i++) {
		RT_SPAN("outer");
		rt_span_begin("inner");
		rt_span_end();
	}
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

static void test_many_threads_while_draining(void **state)
{
	pthread_t th[WRITERS];
	uint64_t tn[WRITERS];
	uint64_t total_lost = 0, dropped_before = h.dropped;

	(void)state;
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, &tn[i]), 0);
	while (atomic_load(&writers_done) < WRITERS) {
		harness_drain(&h);
		usleep(500);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	harness_drain(&h);
	harness_drain(&h);
	assert_int_equal(h.corrupt, 0);
	for (int i = 0; i < WRITERS; i++) {
		struct counts c;

		count_thread(tn[i], &c);
		count_thread_ex(tn[i], &c, harness_final_dropped(&h, tn[i]) > c.lost);
		assert_int_equal(c.depth_errors, 0);
		/* Exact: recorded plus dropped is what was emitted. Drops at the very end have no
		 * later record to carry a LOSS record, so the ring's final counter is the total. */
		assert_int_equal(c.begins + c.ends + c.exits + harness_final_dropped(&h, tn[i]),
				 4ull * SPANS_PER_THREAD + 1);
		assert_true(c.lost <= harness_final_dropped(&h, tn[i]));
		/* What no LOSS record could report is published at the end: together, every drop. */
		assert_int_equal(c.lost + harness_final_unreported(&h, tn[i]), harness_final_dropped(&h, tn[i]));
		total_lost += harness_final_dropped(&h, tn[i]);
	}
	assert_int_equal(h.dropped - dropped_before, total_lost);
	printf("# %d threads x %d spans: %llu records lost\n", WRITERS, SPANS_PER_THREAD, (unsigned long long)total_lost);
}

static void *short_lived(void *arg)
{
	char path[128];
	uint64_t tn;

	rt_thread_register("short");
	tn = harness_self_thread();
	snprintf(path, sizeof(path), "/dev/shm/%s.%u.%u.t%llu", rtc_shm_prefix(), (unsigned)getuid(), (unsigned)getpid(),
		 (unsigned long long)tn);
	assert_int_equal(access(path, F_OK), 0);
	rt_span_begin("x");
	rt_span_end();
	*(uint64_t *)arg = tn;
	return NULL;
}

static void test_thread_exit_and_slot_reuse(void **state)
{
	struct rtc_thread_info info[HARNESS_THREADS];
	uint64_t tn = 0, tn2 = 0;
	uint64_t finished_before = h.finished;
	pthread_t t;
	char path[128];
	size_t n;
	bool seen = false;

	(void)state;
	pthread_create(&t, NULL, short_lived, &tn);
	pthread_join(t, NULL);
	/* Finished, but kept until the consumer drains it. */
	n = rtc_producer_threads(&h.p, info, HARNESS_THREADS);
	for (size_t i = 0; i < n; i++)
		if (info[i].thread_number == tn) {
			assert_int_equal(info[i].state, RT_SHM_THREAD_FINISHED);
			seen = true;
		}
	assert_true(seen);
	harness_drain(&h);
	assert_int_equal(h.finished, finished_before + 1);
	/* Drained: the ring's memory is released at once, and thread numbers are never reused. */
	snprintf(path, sizeof(path), "/dev/shm/%s.%u.%u.t%llu", rtc_shm_prefix(), (unsigned)getuid(), (unsigned)getpid(),
		 (unsigned long long)tn);
	assert_int_equal(access(path, F_OK), -1);
	pthread_create(&t, NULL, short_lived, &tn2);
	pthread_join(t, NULL);
	assert_true(tn2 > tn);
	harness_drain(&h);
}

static void on_alarm(int sig)
{
	(void)sig;
	RT_SPAN("in-handler");
	rt_span_begin("handler-inner");
	rt_span_end();
}

static void test_signal_handler_records(void **state)
{
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	struct sigaction sa;
	uint64_t tn = harness_self_thread();
	struct counts c;
	uint64_t nested_before = h.nested_dropped;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 100000; i++) {
		RT_SPAN("main-outer");
		rt_span_begin("main-inner");
		rt_span_end();
		if ((i & 255) == 0)
			harness_drain(&h); /* also the consumer's heartbeat */
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
	harness_drain(&h);
	/* The lease must still be ours, or the counts below mean nothing. */
	assert_int_equal(atomic_load(&h.p.ctl->session), atomic_load(&h.p.session));
	assert_int_equal(h.corrupt, 0);
	count_thread(tn, &c);
	assert_int_equal(c.depth_errors, 0);
	assert_int_equal(rt__fast_v2.depth, 0);
	printf("# signal test: %llu nested records dropped and reported\n", (unsigned long long)c.nested_lost);
	(void)nested_before;
}

/* The same while only tracking (the idle default): the call sites pop the shared stack themselves,
 * the handler's spans in between. Wherever the main code looks, the stack holds its own spans
 * alone. */
static void test_signal_handler_while_tracking(void **state)
{
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	struct sigaction sa;
	bool tracking = atomic_load(&h.p.ctl->idle_active) == RT_SHM_ACTIVE_TRACK;
	uint32_t *sd = rt__fast_v2.stack_depth;
	uint32_t wrong = 0;

	(void)state;
	assert_non_null(sd); /* registered by the tests before */
	rtc_producer_detach(&h.p);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 200000; i++) {
		RT_SPAN("main-outer");
		rt_span_begin("main-inner");
		wrong += __atomic_load_n(sd, __ATOMIC_RELAXED) != (tracking ? 2u : 0u);
		rt_span_end();
		wrong += __atomic_load_n(sd, __ATOMIC_RELAXED) != (tracking ? 1u : 0u);
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
	assert_int_equal(wrong, 0);
	assert_int_equal(*sd, 0);
	assert_int_equal(rt__fast_v2.depth, 0);
	assert_int_equal(rt__fast_v2.tracked, 0);
	assert_int_equal(rtc_producer_attach(&h.p), 0);
	/* A span now, so that the STACK snapshot the new session asks for is written here, not in the
	 * next test's counts. */
	rt_span_begin("after-tracking");
	rt_span_end();
	harness_drain(&h);
	assert_int_equal(h.corrupt, 0);
}

static void test_fork_child_gets_own_segments(void **state)
{
	uint64_t tn = harness_self_thread();
	size_t before, after, begins, ends, first;
	int status;
	pid_t child;
	uint32_t parent_name_id;

	(void)state;
	harness_drain(&h);
	before = harness_count(&h, 0, tn);
	begins = harness_count(&h, RT_REC_SPAN_BEGIN, tn);
	ends = harness_count(&h, RT_REC_SPAN_END, tn);
	first = h.n;
	rt_span_begin("before-fork");
	parent_name_id = rt_name_intern("before-fork");
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct rtc_producer self;
		int bad = 0;

		/* The span open across fork() continues untracked here. */
		rt_span_end();
		for (int i = 0; i < 1000; i++) {
			RT_SPAN("child-span");
		}
		if (rtc_producer_open(&self, getpid(), getuid()) < 0)
			_exit(10);
		bad |= self.parent_pid != (uint32_t)getppid();
		rtc_producer_close(&self);
		/* The parent's name ids stay valid in the child's own table. */
		bad |= rt_name_intern("before-fork") != parent_name_id;
		exit(bad ? 11 : 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rt_span_end();
	harness_drain(&h);
	after = harness_count(&h, 0, tn);
	/* Only the parent's own begin and end: none of the child's 1000 spans landed in our ring.
	 * Records that are not spans (a loss still to report, a stack snapshot) may come with them:
	 * seen once under TSan on a loaded machine; their kinds are printed when they do. */
	if (after - before != 2)
		for (size_t i = first; i < h.n; i++)
			if (h.recs[i].thread_number == tn)
				printf("# record after the fork: kind %u\n", (unsigned)h.recs[i].kind);
	assert_int_equal(harness_count(&h, RT_REC_SPAN_BEGIN, tn) - begins, 1);
	assert_int_equal(harness_count(&h, RT_REC_SPAN_END, tn) - ends, 1);
	{
		char path[128];

		snprintf(path, sizeof(path), "/dev/shm/%s.%u.%u", rtc_shm_prefix(), (unsigned)getuid(), (unsigned)child);
		assert_int_equal(access(path, F_OK), -1); /* the child cleaned up at exit */
	}
}

/* A consumer in another process reads our rings while two threads write. */
static void *paced_writer(void *arg)
{
	(void)arg;
	rt_thread_register("xproc-writer");
	for (int i = 0; i < 200000; i++) {
		RT_SPAN("xproc");
		if ((i & 63) == 0)
			usleep(1);
	}
	return NULL;
}

static void test_reader_in_other_process(void **state)
{
	int done[2], result[2];
	pid_t child;
	pthread_t th[2];
	int status;
	char buf[256] = "";
	unsigned long long begins = 0, ends = 0, exits = 0, dropped = 0, corrupt = 1, expiries = 1;

	(void)state;
	/* Hand the lease over to the child. */
	rtc_producer_detach(&h.p);
	assert_int_equal(pipe(done), 0);
	assert_int_equal(pipe(result), 0);
	child = fork();
	if (child == 0) {
		struct harness ch;
		char c;
		int n;

		close(done[1]);
		close(result[0]);
		memset(&ch, 0, sizeof(ch));
		if (rtc_producer_open(&ch.p, getppid(), getuid()) < 0 || rtc_producer_attach(&ch.p) < 0)
			_exit(20);
		fcntl(done[0], F_SETFL, O_NONBLOCK);
		while (read(done[0], &c, 1) != 0) {
			harness_drain(&ch);
			usleep(200);
		}
		for (int i = 0; i < 3; i++)
			harness_drain(&ch);
		/* Only the writer threads: the reader also sees older records of other threads. */
		uint64_t writers[2] = { 0, 0 };

		for (size_t i = 0; i < ch.n; i++) {
			struct rec_copy *r = &ch.recs[i];

			if (r->kind == RT_REC_THREAD_START && strcmp(r->str, "xproc-writer") == 0)
				writers[writers[0] ? 1 : 0] = r->thread_number;
		}
		for (size_t i = 0; i < ch.n; i++) {
			struct rec_copy *r = &ch.recs[i];

			if (r->thread_number != writers[0] && r->thread_number != writers[1])
				continue;
			if (r->kind == RT_REC_SPAN_BEGIN && strcmp(rtc_producer_name(&ch.p, (uint32_t)r->a), "xproc") == 0)
				begins++;
			else if (r->kind == RT_REC_SPAN_END)
				ends++;
			else if (r->kind == RT_REC_THREAD_EXIT)
				exits++;
		}
		struct rtc_producer_counts k = { 0 };

		rtc_producer_counts(&ch.p, &k);
		n = snprintf(buf, sizeof(buf), "%llu %llu %llu %llu %llu %llu", begins, ends, exits,
			     (unsigned long long)ch.dropped, (unsigned long long)ch.corrupt,
			     (unsigned long long)k.lease_expiries);
		rtc_producer_detach(&ch.p);
		_exit(write(result[1], buf, (size_t)n) == n ? 0 : 22);
	}
	close(done[0]);
	close(result[1]);
	for (int i = 0; i < 2000 && !atomic_load(&h.p.ctl->session); i++)
		usleep(1000);
	assert_true(atomic_load(&h.p.ctl->session) != 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, paced_writer, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	close(done[1]);
	assert_true(read(result[0], buf, sizeof(buf) - 1) > 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(sscanf(buf, "%llu %llu %llu %llu %llu %llu", &begins, &ends, &exits, &dropped, &corrupt,
				&expiries), 6);
	printf("# other-process reader: %llu begins, %llu ends, %llu dropped\n", begins, ends, dropped);
	/* A reader starved for longer than the lease loses it, and then nothing more is recorded:
	 * tests/meson.build gives this test a long lease. */
	if (expiries)
		fprintf(stderr, "test-thread: the reader lost its lease (starved for longer than RINGTRACE_LEASE_MS)\n");
	assert_int_equal(expiries, 0);
	assert_int_equal(corrupt, 0);
	assert_int_equal(exits + dropped > 0 ? begins + ends + exits + dropped : 0, 2ull * 2 * 200000 + 2);
	assert_int_equal(rtc_producer_attach(&h.p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_threads_while_draining),
		cmocka_unit_test(test_thread_exit_and_slot_reuse),
		cmocka_unit_test(test_signal_handler_records),
		cmocka_unit_test(test_signal_handler_while_tracking),
		cmocka_unit_test(test_fork_child_gets_own_segments),
		cmocka_unit_test(test_reader_in_other_process),
	};

	if (getenv("RT_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RT_TEST_FILTER"));
	return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
