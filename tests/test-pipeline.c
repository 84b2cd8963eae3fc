/* SPDX-License-Identifier: MIT */
/* The pipeline: subscribers added and removed from another thread while events flow; each sees a
 * well-formed trace from its first event (the snapshot, then every later event, no gap, no
 * duplicate); the others see everything; a failing close is reported. Also under ThreadSanitizer. */
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
#include <unistd.h>

#include <cmocka.h>

#include "pipeline.h"

#define THREADS 4
#define DEPTH 16
#define EVENTS 200000

/* The synthetic processing side: nested spans on THREADS threads; every ended span is an
 * RTC_OUT_SPAN whose `count` is its place in the stream (1, 2, ...). */
struct world {
	struct rtc_pipeline *p;
	uint64_t open[THREADS][DEPTH]; /* span_seq of the open spans, outermost first */
	unsigned depth[THREADS];
	uint64_t next_span;
	uint64_t seq; /* events emitted */
	_Atomic int begun; /* rtc_pipeline_begin() returned */
	_Atomic int joined; /* the main thread completed its first joiner cycles */
	_Atomic int done;
};

/* Snapshot: a marker (RTC_OUT_PROCESS, count = events emitted so far), then the open spans. */
static void snapshot(void *ctx, const struct rtc_sink *into)
{
	struct world *w = ctx;
	struct rtc_out m = { .kind = RTC_OUT_PROCESS, .count = w->seq, .text = "p", .text_len = 1 };

	into->ops->event(into->ctx, &m);
	for (unsigned t = 0; t < THREADS; t++)
		for (unsigned d = 0; d < w->depth[t]; d++) {
			struct rtc_out o = { .kind = RTC_OUT_SPAN_OPEN, .tid = t, .span_seq = w->open[t][d], .depth = d };

			into->ops->event(into->ctx, &o);
		}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *processing(void *arg)
{
	struct world *w = arg;
	struct rtc_trace_info info = { .origin_ns = 1, .clock = "monotonic" };
	struct rtc_summary sum = { 0 };
	uint64_t seed = 42;

	rtc_pipeline_set_snapshot(w->p, snapshot, w);
	rtc_pipeline_begin(w->p, &info);
	atomic_store_explicit(&w->begun, 1, memory_order_release);
	while (w->seq < EVENTS) {
		unsigned t = (unsigned)(rnd(&seed) % THREADS);

		if (w->depth[t] < DEPTH && (w->depth[t] == 0 || rnd(&seed) % 2)) {
			w->open[t][w->depth[t]++] = ++w->next_span;
		} else {
			struct rtc_out o = { .kind = RTC_OUT_SPAN, .tid = t, .span_seq = w->open[t][--w->depth[t]],
					     .depth = w->depth[t], .count = ++w->seq };

			rtc_pipeline_event(w->p, &o);
		}
		if (w->seq % 64 == 0)
			rtc_pipeline_sync(w->p);
		if (w->seq % 4096 == 0)
			usleep(100); /* let subscribers come and go meanwhile */
	}
	sum.spans = w->seq;
	/* However the threads were scheduled, joiners came and went while events flowed (a joiner
	 * leaving waits for a sync point: keep making them). */
	while (!atomic_load_explicit(&w->joined, memory_order_acquire)) {
		rtc_pipeline_sync(w->p);
		usleep(1000);
	}
	rtc_pipeline_end(w->p, &sum);
	atomic_store_explicit(&w->done, 1, memory_order_release);
	return NULL;
}

/* A subscriber that checks what it gets as it gets it. */
struct rec {
	bool begun, ended;
	bool snapshot_done;
	bool left_before_begin; /* unsubscribed before the trace began: never sees it */
	uint64_t first;   /* stream position at its start (the marker's count, 0 from the start) */
	uint64_t expect;  /* next `count` expected */
	uint64_t got;
	uint64_t opens[THREADS][DEPTH]; /* spans it was told are open */
	unsigned nopen[THREADS];
	int errors;
	int close_result;  /* what its close returns (the failing sink) */
	_Atomic int closed;
	char why[160];
};

static void fail_rec(struct rec *r, const char *what)
{
	if (!r->errors++)
		snprintf(r->why, sizeof(r->why), "%s", what);
}

static void r_begin(void *ctx, const struct rtc_trace_info *info)
{
	struct rec *r = ctx;

	if (r->begun || !info->clock)
		fail_rec(r, "begin twice or without info");
	r->begun = true;
}

static void r_event(void *ctx, const struct rtc_out *o)
{
	struct rec *r = ctx;

	if (!r->begun)
		fail_rec(r, "event before begin");
	if (o->kind == RTC_OUT_PROCESS) {
		/* The snapshot's marker: must come first, before any live event. */
		if (r->got || r->snapshot_done)
			fail_rec(r, "marker after events");
		r->first = o->count;
		r->expect = o->count + 1;
		return;
	}
	if (o->kind == RTC_OUT_SPAN_OPEN) {
		if (r->got || o->tid >= THREADS || r->nopen[o->tid] != o->depth)
			fail_rec(r, "open span out of place");
		else
			r->opens[o->tid][r->nopen[o->tid]++] = o->span_seq;
		return;
	}
	r->snapshot_done = true;
	if (!r->expect)
		r->expect = 1; /* subscribed from the start */
	if (o->count != r->expect)
		fail_rec(r, "gap or duplicate");
	r->expect = o->count + 1;
	r->got++;
	/* Well-formed: an ending span it was told about is the innermost of those still open, or
	 * one that began after it joined (deeper than what it knows). */
	if (o->depth < r->nopen[o->tid]) {
		if (o->depth != r->nopen[o->tid] - 1 || r->opens[o->tid][o->depth] != o->span_seq)
			fail_rec(r, "span end does not match the snapshot");
		else
			r->nopen[o->tid]--;
	}
}

static void r_end(void *ctx, const struct rtc_summary *s)
{
	struct rec *r = ctx;

	if (r->ended || s->spans != EVENTS)
		fail_rec(r, "end twice or wrong summary");
	r->ended = true;
}

static int r_close(void *ctx, bool ok)
{
	struct rec *r = ctx;

	(void)ok;
	atomic_store_explicit(&r->closed, 1, memory_order_release);
	return r->close_result;
}

static const struct rtc_sink_ops rec_ops = {
	.version = RTC_SINK_VERSION, .begin = r_begin, .event = r_event, .end = r_end, .close = r_close,
};

static struct rtc_sink sink_of(struct rec *r, const char *name)
{
	struct rtc_sink s = { &rec_ops, r, name };

	return s;
}

static int reports;

static void report(void *ctx, const char *name, int err)
{
	(void)ctx;
	if (strcmp(name, "failing") == 0 && err == -EIO)
		reports++;
}

static void test_subscribers_come_and_go_while_events_flow(void **state)
{
	static struct world w;
	static struct rec all, failing, joiners[60];
	pthread_t t;
	int64_t id;
	unsigned cycles = 0;

	(void)state;
	w.p = rtc_pipeline_create();
	assert_non_null(w.p);
	failing.close_result = -EIO;
	assert_true(rtc_pipeline_subscribe(w.p, sink_of(&all, "all"), 0) > 0);
	assert_true(rtc_pipeline_subscribe(w.p, sink_of(&failing, "failing"), 0) > 0);
	assert_int_equal(pthread_create(&t, NULL, processing, &w), 0);
	/* Join, stay a while, leave; repeatedly, while events flow. */
	while (!atomic_load_explicit(&w.done, memory_order_acquire) && cycles < 60) {
		struct rec *j = &joiners[cycles++];

		id = rtc_pipeline_subscribe(w.p, sink_of(j, "joiner"), RTC_SUBSCRIBE_SNAPSHOT);
		if (id == -EBUSY) {
			cycles--; /* the trace just ended: this one never joined */
			break;
		}
		assert_true(id > 0);
		usleep(2000);
		/* A loaded machine may not have started the processing thread yet: a sink that leaves
		 * before the trace begins is handed back unused, which is right, not a failure. */
		j->left_before_begin = !atomic_load_explicit(&w.begun, memory_order_acquire);
		/* Waits for the close on the processing thread; after the end, the final close does it. */
		{
			int r = rtc_pipeline_unsubscribe(w.p, id);

			assert_true(r == 0 || r == -EBUSY);
		}
		if (cycles == 5)
			atomic_store_explicit(&w.joined, 1, memory_order_release);
	}
	pthread_join(t, NULL);
	assert_int_equal(rtc_pipeline_close(w.p, true, report, NULL), -EIO);
	assert_int_equal(reports, 1);
	/* The subscriber from the start got every event, in order. */
	assert_int_equal(all.errors, 0);
	assert_int_equal(all.got, EVENTS);
	assert_true(all.ended && atomic_load(&all.closed));
	assert_int_equal(failing.got, EVENTS);
	/* Every joiner: a well-formed suffix from its arrival, snapshot first. */
	assert_true(cycles >= 5); /* the processing thread waits for 5 before it ends */
	for (unsigned i = 0; i < cycles; i++) {
		if (joiners[i].errors)
			fprintf(stderr, "joiner %u: %s\n", i, joiners[i].why);
		assert_int_equal(joiners[i].errors, 0);
		if (joiners[i].got)
			assert_int_equal(joiners[i].expect - 1 - joiners[i].first, joiners[i].got);
		assert_true(joiners[i].begun || joiners[i].left_before_begin);
	}
	rtc_pipeline_destroy(w.p);
}

/* From inside a sink callback (the processing thread): unsubscribe takes effect at the next sync
 * point; a stream sink cannot join a trace that began; nothing joins one that ended. */
static struct rtc_pipeline *self_p;
static int64_t self_id;
static uint64_t self_events;

static void self_event(void *ctx, const struct rtc_out *o)
{
	(void)ctx, (void)o;
	if (++self_events == 3)
		assert_int_equal(rtc_pipeline_unsubscribe(self_p, self_id), 0);
}

static void test_unsubscribe_from_a_callback(void **state)
{
	static const struct rtc_sink_ops ops = { .version = RTC_SINK_VERSION, .event = self_event };
	static const struct rtc_stream_ops stream = { 0 };
	static const struct rtc_sink_ops stream_ops = { .version = RTC_SINK_VERSION, .stream = &stream };
	struct rtc_trace_info info = { .clock = "monotonic" };
	struct rtc_summary sum = { 0 };
	struct rtc_out o = { .kind = RTC_OUT_SPAN };

	(void)state;
	self_p = rtc_pipeline_create();
	self_id = rtc_pipeline_subscribe(self_p, (struct rtc_sink){ &ops, NULL, "self" }, 0);
	rtc_pipeline_begin(self_p, &info);
	assert_int_equal(rtc_pipeline_subscribe(self_p, (struct rtc_sink){ &stream_ops, NULL, "raw" }, 0), -EBUSY);
	for (int i = 0; i < 10; i++) {
		rtc_pipeline_event(self_p, &o);
		rtc_pipeline_sync(self_p);
	}
	assert_int_equal(self_events, 3);
	assert_int_equal(rtc_pipeline_count(self_p), 0);
	rtc_pipeline_end(self_p, &sum);
	assert_int_equal(rtc_pipeline_subscribe(self_p, (struct rtc_sink){ &ops, NULL, "late" }, 0), -EBUSY);
	assert_int_equal(rtc_pipeline_close(self_p, true, NULL, NULL), 0);
	rtc_pipeline_destroy(self_p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subscribers_come_and_go_while_events_flow),
		cmocka_unit_test(test_unsubscribe_from_a_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
