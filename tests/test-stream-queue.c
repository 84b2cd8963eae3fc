/* SPDX-License-Identifier: MIT */
/* The stream queue between the draining and the processing thread: every message arrives once, in
 * order, with its own copy of the bytes, while both threads run (also under ThreadSanitizer). */
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

#include "stream-queue.h"

#define MESSAGES 200000

/* What the receiving side saw. */
struct seen {
	uint64_t next; /* sequence number expected next */
	uint64_t chunks, names, threads, processes, calibs, watermarks, dones, ends;
	int errors;
};

static void check(struct seen *s, uint64_t seq)
{
	if (seq != s->next)
		s->errors++;
	s->next = seq + 1;
}

static void got_process(void *ctx, const struct rtc_stream_process *p)
{
	struct seen *s = ctx;

	check(s, p->start_mono_ns);
	if (strcmp(p->name, "proc-name") != 0 || p->pid != 4242)
		s->errors++;
	s->processes++;
}

static void got_name(void *ctx, uint32_t proc, uint32_t id, const char *str, size_t len)
{
	struct seen *s = ctx;
	char want[32];

	(void)proc;
	check(s, id);
	snprintf(want, sizeof(want), "name-%u", id);
	if (len != strlen(want) || memcmp(str, want, len) != 0 || str[len] != 0)
		s->errors++;
	s->names++;
}

static void got_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt)
{
	struct seen *s = ctx;

	(void)proc;
	check(s, pt->seq);
	if (pt->mono_ns != pt->seq * 3 || pt->tsc != pt->seq * 7)
		s->errors++;
	s->calibs++;
}

static void got_thread(void *ctx, const struct rtc_stream_thread *t)
{
	struct seen *s = ctx;

	check(s, t->thread_number);
	if (strcmp(t->name, "worker") != 0)
		s->errors++;
	s->threads++;
}

static void got_chunk(void *ctx, const struct rtc_stream_chunk *c)
{
	struct seen *s = ctx;
	uint32_t thread = c->thread;
	uint64_t base_ts = c->base_ts, lost_before = c->lost_before, lost_first_ts = c->lost_first_ts;
	const uint8_t *data = c->data;
	size_t len = c->len;

	check(s, base_ts);
	/* The sender reuses one buffer: what arrives must be the bytes as they were when sent. */
	if (thread != (uint32_t)(base_ts % 7) || lost_before != base_ts / 2 || lost_first_ts != base_ts + 1 ||
	    len != base_ts % 3000)
		s->errors++;
	for (size_t i = 0; i < len; i++)
		if (data[i] != (uint8_t)(base_ts + i)) {
			s->errors++;
			break;
		}
	s->chunks++;
}

static void got_watermark(void *ctx, uint64_t ns)
{
	struct seen *s = ctx;

	check(s, ns);
	s->watermarks++;
}

static void got_done(void *ctx, uint32_t thread, uint64_t ts, uint64_t unreported_lost)
{
	struct seen *s = ctx;

	check(s, ts);
	if (thread != 3 || unreported_lost != ts / 4)
		s->errors++;
	s->dones++;
}

static void got_end(void *ctx, uint64_t ns)
{
	struct seen *s = ctx;

	check(s, ns);
	s->ends++;
}

/* Message seq of kind seq % 8, in the sender's one reused buffer (every other chunk read straight
 * into the queue's own buffer instead, as the drain does). */
static void send(struct rtc_stream_queue *q, uint64_t seq, uint8_t *buf)
{
	const struct rtc_stream_ops *in = rtc_stream_queue_input();

	char text[32];

	switch (seq % 8) {
	case 0: {
		struct rtc_stream_process p = { .index = 0, .pid = 4242, .name = text, .start_mono_ns = seq };

		snprintf(text, sizeof(text), "proc-name");
		in->process(q, &p);
		memset(text, 'x', sizeof(text) - 1); /* the queue must have copied it */
		break;
	}
	case 1:
		snprintf(text, sizeof(text), "name-%u", (unsigned)seq);
		in->name(q, 0, (uint32_t)seq, text, strlen(text));
		memset(text, 'x', sizeof(text) - 1);
		break;
	case 2: {
		struct rt_shm_calib_point pt = { .tsc = seq * 7, .mono_ns = seq * 3, .seq = seq };

		in->calib(q, 0, &pt);
		break;
	}
	case 3: {
		struct rtc_stream_thread t = { .thread_number = seq, .name = text };

		snprintf(text, sizeof(text), "worker");
		in->thread(q, &t);
		memset(text, 'x', sizeof(text) - 1);
		break;
	}
	case 4:
	case 5: {
		size_t len = seq % 3000;
		uint8_t *dst = seq % 8 == 5 ? in->chunk_buffer(q, len) : buf;
		struct rtc_stream_chunk c = { .thread = (uint32_t)(seq % 7), .base_ts = seq, .lost_before = seq / 2,
					      .lost_first_ts = seq + 1, .data = dst, .len = len };

		for (size_t i = 0; i < len; i++)
			dst[i] = (uint8_t)(seq + i);
		in->chunk(q, &c);
		if (dst == buf)
			memset(buf, 0xee, len);
		break;
	}
	case 6:
		in->watermark(q, seq);
		break;
	default:
		if (seq % 16 == 7)
			in->thread_done(q, 3, seq, seq / 4);
		else
			in->end(q, seq);
		break;
	}
}

struct sender {
	struct rtc_stream_queue *q;
	atomic_int done;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	static uint8_t buf[4096];

	for (uint64_t seq = 0; seq < MESSAGES; seq++) {
		send(s->q, seq, buf);
		if (seq % 64 == 0)
			rtc_stream_queue_wake(s->q);
	}
	rtc_stream_queue_wake(s->q);
	/* Release: every message above is queued before done reads 1. */
	atomic_store_explicit(&s->done, 1, memory_order_release);
	return NULL;
}

static const struct rtc_stream_ops receiver = {
	.process = got_process,
	.name = got_name,
	.calib = got_calib,
	.thread = got_thread,
	.chunk = got_chunk,
	.watermark = got_watermark,
	.thread_done = got_done,
	.end = got_end,
};

static void test_order_and_copies_across_threads(void **state)
{
	struct sender snd = { .q = rtc_stream_queue_create() };
	struct seen seen = { 0 };
	pthread_t t;
	uint64_t delivered = 0;

	(void)state;
	assert_non_null(snd.q);
	assert_int_equal(pthread_create(&t, NULL, sender_main, &snd), 0);
	for (;;) {
		int done = atomic_load_explicit(&snd.done, memory_order_acquire);

		/* In pieces of at least 64 KiB: what a call leaves comes first at the next. */
		size_t n = rtc_stream_queue_deliver(snd.q, &receiver, &seen, done ? 0 : 50, 65536);

		delivered += n;
		if (done && n == 0)
			break;
	}
	pthread_join(t, NULL);
	assert_int_equal(seen.errors, 0);
	assert_int_equal(delivered, MESSAGES);
	assert_int_equal(seen.next, MESSAGES);
	assert_int_equal(seen.chunks, MESSAGES / 4);
	assert_int_equal(seen.processes + seen.names + seen.calibs + seen.threads + seen.watermarks, MESSAGES * 5 / 8);
	assert_int_equal(seen.dones + seen.ends, MESSAGES / 8);
	assert_int_equal(rtc_stream_queue_bytes(snd.q), 0);
	assert_int_equal(rtc_stream_queue_failed(snd.q), 0);
	rtc_stream_queue_destroy(snd.q);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct late {
	struct rtc_stream_queue *q;
};

static void *late_sender(void *arg)
{
	struct late *l = arg;
	usleep(100000);
	rtc_stream_queue_input()->watermark(l->q, 0);
	rtc_stream_queue_wake(l->q);
	return NULL;
}

/* A waiting deliverer wakes for input instead of sleeping out its timeout; with nothing sent it
 * returns empty-handed. */
static void test_wait_and_wake(void **state)
{
	struct late l = { rtc_stream_queue_create() };
	struct seen seen = { 0 };
	pthread_t t;
	double t0;

	(void)state;
	assert_non_null(l.q);
	assert_int_equal(rtc_stream_queue_deliver(l.q, &receiver, &seen, 20, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, late_sender, &l), 0);
	t0 = now_s();
	/* 20 s: a lost wake-up would show as a delivery only at the timeout. */
	while (rtc_stream_queue_deliver(l.q, &receiver, &seen, 20000, 0) == 0)
		;
	assert_true(now_s() - t0 < 10.0);
	pthread_join(t, NULL);
	assert_int_equal(seen.watermarks, 1);
	assert_int_equal(seen.errors, 0);
	rtc_stream_queue_destroy(l.q);
}

/* A call limited to max_bytes stops after the message that reaches it; what it left comes at the
 * next call, before anything queued since. */
static void test_deliver_in_pieces(void **state)
{
	struct rtc_stream_queue *q = rtc_stream_queue_create();
	struct seen seen = { 0 };
	uint8_t buf[4096];

	(void)state;
	assert_non_null(q);
	for (uint64_t seq = 0; seq < 16; seq++)
		send(q, seq, buf);
	for (int i = 0; i < 5; i++)
		assert_int_equal(rtc_stream_queue_deliver(q, &receiver, &seen, 0, 1), 1);
	assert_int_equal(seen.next, 5);
	for (uint64_t seq = 16; seq < 24; seq++)
		send(q, seq, buf);
	assert_int_equal(rtc_stream_queue_deliver(q, &receiver, &seen, 0, 0), 11);
	assert_int_equal(seen.next, 16);
	assert_int_equal(rtc_stream_queue_deliver(q, &receiver, &seen, 0, 0), 8);
	assert_int_equal(rtc_stream_queue_deliver(q, &receiver, &seen, 0, 0), 0);
	assert_int_equal(seen.next, 24);
	assert_int_equal(seen.errors, 0);
	assert_int_equal(rtc_stream_queue_bytes(q), 0);
	/* Left in a piece at destroy: freed too (AddressSanitizer's leak check). */
	for (uint64_t seq = 24; seq < 30; seq++)
		send(q, seq, buf);
	assert_int_equal(rtc_stream_queue_deliver(q, &receiver, &seen, 0, 1), 1);
	rtc_stream_queue_destroy(q);
}

/* Messages never delivered are freed with the queue (AddressSanitizer's leak check) and counted
 * while they wait. */
static void test_destroy_with_messages_queued(void **state)
{
	struct rtc_stream_queue *q = rtc_stream_queue_create();
	uint8_t buf[4096];
	size_t payload = 0;

	(void)state;
	assert_non_null(q);
	for (uint64_t seq = 0; seq < 100; seq++) {
		send(q, seq, buf);
		if (seq % 8 == 4 || seq % 8 == 5)
			payload += seq % 3000;
	}
	assert_true(rtc_stream_queue_bytes(q) >= payload + 100);
	rtc_stream_queue_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_copies_across_threads),
		cmocka_unit_test(test_wait_and_wake),
		cmocka_unit_test(test_deliver_in_pieces),
		cmocka_unit_test(test_destroy_with_messages_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
