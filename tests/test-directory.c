/* SPDX-License-Identifier: MIT */
/* The thread directory without a limit: 1000 threads alive at once and 20,000 sequential threads
 * all get a slot and a ring that a consumer enumerates (rtc_producer_each_thread), drained slots
 * are reused, and nothing the producer could not record goes uncounted. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "producer.h"
#include "record.h"
#include "ring-reader.h"
#include "segments.h"

#define LIVE 1000
#define SEQUENTIAL 20000
#define WAVE 8
#define BACKLOG_MAX 400 /* finished threads not yet drained before creating more */
#define WAIT_LIMIT_NS (240ull * 1000000000) /* a stuck drain fails the test instead of hanging it */

/* A minimal consumer: every ring of every slot, drained to its end, slots handed back. */
struct drainer {
	struct rtc_producer p;
	struct rtc_decoder dec;
	struct ring {
		bool open;
		uint64_t thread_number;
		struct rtc_ring_reader r;
		struct rtc_chunk_cursor cursor;
	} *rings;
	size_t nrings;
	_Atomic uint64_t done;  /* threads drained to their end */
	uint64_t spans, starts, errors;
	pthread_t beat;
	_Atomic int stop;
	pthread_mutex_t lock;   /* one drain at a time */
};

static struct drainer d;

static void *beat(void *arg)
{
	(void)arg;
	while (!atomic_load(&d.stop)) {
		rtc_producer_heartbeat(&d.p);
		usleep(20000);
	}
	return NULL;
}

static int drain_slot(void *ctx, const struct rtc_thread_info *t)
{
	struct ring *r;
	struct rtc_ring_chunk c;
	struct rtc_record rec;

	(void)ctx;
	if (t->slot >= d.nrings) {
		size_t n = (t->slot + 1) * 2;

		d.rings = realloc(d.rings, n * sizeof(*d.rings));
		assert_non_null(d.rings);
		memset(d.rings + d.nrings, 0, (n - d.nrings) * sizeof(*d.rings));
		d.nrings = n;
	}
	r = &d.rings[t->slot];
	if (r->open && r->thread_number != t->thread_number) {
		rtc_ring_reader_close(&r->r);
		r->open = false;
	}
	if (!r->open) {
		if (t->state == RT_SHM_THREAD_DRAINED)
			return 0;
		if (rtc_ring_reader_open(&r->r, t->ring_name, (uint32_t)d.p.pid) < 0) {
			d.errors++;
			return 0;
		}
		r->open = true;
		memset(&r->cursor, 0, sizeof(r->cursor));
		r->thread_number = t->thread_number;
	}
	while (rtc_ring_reader_next(&r->r, &c, NULL, NULL) > 0) {
		uint64_t lost;
		int ret;

		if (!rtc_chunk_start(&r->cursor, &d.dec, c.data, c.len, c.base_ts, c.continues, c.rec0, c.resume_rec0,
				     &lost)) {
			d.errors++;
			continue;
		}
		while ((ret = rtc_decoder_next(&d.dec, &rec)) > 0) {
			if (d.dec.off <= c.skip)
				continue; /* delivered to an earlier reader */
			d.spans += rec.kind == RT_REC_SPAN_BEGIN;
			d.starts += rec.kind == RT_REC_THREAD_START;
		}
		rtc_chunk_done(&r->cursor, &d.dec, ret);
		d.errors += ret < 0;
	}
	/* Handed back only once the slot says finished too: until then the reader stays open (else the
	 * thread would be found, and counted, a second time). */
	if (rtc_ring_reader_done(&r->r) && rtc_producer_thread_drained(&d.p, t->slot, t->thread_number, false) == 0) {
		rtc_ring_reader_close(&r->r);
		r->open = false;
		atomic_fetch_add(&d.done, 1);
	}
	return 0;
}

/* The lease held throughout (a consumer starved for longer than RINGTRACE_LEASE_MS loses it, and
 * then finished threads free their rings unread: the counts would not add up). With 1000 runnable
 * threads on two cores a thread can wait seconds for the CPU: tests/meson.build sets a long lease. */
static void assert_lease_held(void)
{
	struct rtc_producer_counts k;

	assert_int_equal(rtc_producer_counts(&d.p, &k), 0);
	if (k.lease_expiries)
		fprintf(stderr, "test-directory: the consumer lost its lease (starved for longer than RINGTRACE_LEASE_MS)\n");
	assert_int_equal(k.lease_expiries, 0);
}

static void drain(void)
{
	pthread_mutex_lock(&d.lock);
	assert_true(rtc_producer_each_thread(&d.p, drain_slot, NULL) >= 0);
	pthread_mutex_unlock(&d.lock);
}

static int setup(void **state)
{
	(void)state;
	rt_thread_register("main");
	pthread_mutex_init(&d.lock, NULL);
	if (rtc_producer_open_pid(&d.p, getpid()) < 0 || rtc_producer_attach(&d.p) < 0)
		return -1;
	return pthread_create(&d.beat, NULL, beat, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	atomic_store(&d.stop, 1);
	pthread_join(d.beat, NULL);
	for (size_t i = 0; i < d.nrings; i++)
		if (d.rings[i].open)
			rtc_ring_reader_close(&d.rings[i].r);
	free(d.rings);
	rtc_producer_close(&d.p);
	return 0;
}

static pthread_barrier_t started, release;

static void *live_thread(void *arg)
{
	(void)arg;
	rt_thread_register("live");
	rt_span_begin("live-span");
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&release);
	rt_span_end();
	return NULL;
}

struct live_count {
	unsigned live, opened;
};

static int count_live(void *ctx, const struct rtc_thread_info *t)
{
	struct live_count *c = ctx;
	struct rtc_ring_reader r;

	if (t->state != RT_SHM_THREAD_ACTIVE || strcmp(t->name, "live") != 0)
		return 0;
	c->live++;
	if (rtc_ring_reader_open(&r, t->ring_name, (uint32_t)d.p.pid) == 0) {
		c->opened++;
		rtc_ring_reader_close(&r);
	}
	return 0;
}

static void test_1000_threads_alive_at_once(void **state)
{
	pthread_t th[LIVE];
	pthread_attr_t attr;
	struct live_count c = { 0, 0 };
	struct rtc_producer_counts k;
	uint64_t done0 = atomic_load(&d.done), spans0 = d.spans;

	(void)state;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	pthread_barrier_init(&started, NULL, LIVE + 1);
	pthread_barrier_init(&release, NULL, LIVE + 1);
	for (int i = 0; i < LIVE; i++)
		assert_int_equal(pthread_create(&th[i], &attr, live_thread, NULL), 0);
	pthread_barrier_wait(&started);
	/* Every one of them, wherever its slot is: the control segment's 256, then an extension. */
	assert_true(rtc_producer_each_thread(&d.p, count_live, &c) >= LIVE);
	assert_int_equal(c.live, LIVE);
	assert_int_equal(c.opened, LIVE);
	assert_int_equal(rtc_producer_counts(&d.p, &k), 0);
	assert_int_equal(k.thread_overflows, 0);
	assert_int_equal(k.ring_failures, 0);
	assert_int_equal(k.dir_ext_count, 1);
	assert_int_equal(k.threads_capacity, 256 + 1024);
	/* The old interface still sees them all when asked for enough. */
	{
		struct rtc_thread_info *info = calloc(2048, sizeof(*info));
		size_t n = rtc_producer_threads(&d.p, info, 2048), live = 0;

		for (size_t i = 0; i < n; i++)
			live += strcmp(info[i].name, "live") == 0;
		assert_int_equal(live, LIVE);
		free(info);
	}
	pthread_barrier_wait(&release);
	for (int i = 0; i < LIVE; i++)
		pthread_join(th[i], NULL);
	pthread_attr_destroy(&attr);
	drain();
	assert_lease_held();
	assert_int_equal(atomic_load(&d.done) - done0, LIVE);
	assert_int_equal(d.spans - spans0, LIVE);
	assert_int_equal(d.errors, 0);
}

static void *short_thread(void *arg)
{
	(void)arg;
	rt_span_begin("seq");
	rt_span_end();
	return NULL;
}

static _Atomic int drainer_stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *drain_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&drainer_stop)) {
		drain();
		usleep(200);
	}
	return NULL;
}

static void test_20000_sequential_threads_reuse_drained_slots(void **state)
{
	uint64_t done0 = atomic_load(&d.done), spans0 = d.spans, starts0 = d.starts;
	struct rtc_producer_counts k;
	pthread_t drainer, th[WAVE];

	(void)state;
	atomic_store(&drainer_stop, 0);
	assert_int_equal(pthread_create(&drainer, NULL, drain_loop, NULL), 0);
	uint64_t deadline = now_ns() + WAIT_LIMIT_NS;

	for (int i = 0; i < SEQUENTIAL; i += WAVE) {
		/* Do not outrun the consumer by more than the directory holds: slots come back only
		 * once drained (that is the point). */
		while ((int64_t)i - (int64_t)(atomic_load(&d.done) - done0) > BACKLOG_MAX && now_ns() < deadline)
			usleep(100);
		if (now_ns() >= deadline)
			assert_lease_held();
		assert_true(now_ns() < deadline);
		for (int w = 0; w < WAVE; w++)
			assert_int_equal(pthread_create(&th[w], NULL, short_thread, NULL), 0);
		for (int w = 0; w < WAVE; w++)
			pthread_join(th[w], NULL);
	}
	while (atomic_load(&d.done) - done0 < SEQUENTIAL && now_ns() < deadline)
		usleep(1000);
	atomic_store(&drainer_stop, 1);
	pthread_join(drainer, NULL);
	drain();
	assert_lease_held();
	assert_int_equal(atomic_load(&d.done) - done0, SEQUENTIAL);
	assert_int_equal(d.starts - starts0, SEQUENTIAL);
	assert_int_equal(d.spans - spans0, SEQUENTIAL);
	assert_int_equal(d.errors, 0);
	assert_int_equal(rtc_producer_counts(&d.p, &k), 0);
	assert_int_equal(k.thread_overflows, 0);
	assert_int_equal(k.ring_failures, 0);
	/* Reused: the directory did not grow past what the first test needed. */
	assert_int_equal(k.dir_ext_count, 1);
	printf("# %d sequential threads, %d live at once: every one enumerated and drained\n", SEQUENTIAL, LIVE);
}

struct ring_count {
	pid_t pid;
	unsigned rings;
};

static int count_rings(void *ctx, const struct rtc_segment *s)
{
	struct ring_count *c = ctx;

	c->rings += s->kind == RTC_SEG_RING && s->pid == c->pid;
	return 0;
}

static void test_threads_without_consumer_free_their_slot(void **state)
{
	struct rtc_producer_counts k;
	struct ring_count rc = { getpid(), 0 };
	pthread_t t;

	(void)state;
	drain();
	assert_int_equal(rtc_producer_detach(&d.p), 0);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(pthread_create(&t, NULL, short_thread, NULL), 0);
		pthread_join(t, NULL);
	}
	assert_int_equal(rtc_producer_counts(&d.p, &k), 0);
	assert_int_equal(k.thread_overflows, 0);
	assert_int_equal(k.dir_ext_count, 1);
	/* Discard mode, nobody attached: each ring went with its thread; only the main thread's is left. */
	assert_int_equal(rtc_segments_scan(false, count_rings, &rc), 0);
	assert_int_equal(rc.rings, 1);
	assert_int_equal(rtc_producer_attach(&d.p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_1000_threads_alive_at_once),
		cmocka_unit_test(test_20000_sequential_threads_reuse_drained_slots),
		cmocka_unit_test(test_threads_without_consumer_free_their_slot),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
