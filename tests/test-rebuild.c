/* SPDX-License-Identifier: MIT */
/* The rebuild's resynchronisation from STACK snapshots, event by event: spans that ended unseen
 * and spans that began unseen (idle-clock begins) still nest on one thread; the consumer's own
 * reads of a shared stack, a record off, still give each span once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <ringtrace/shm-format.h>

#include "rebuild.h"

#define MAX_OUT 32

static struct rtc_out spans[MAX_OUT];
static size_t nspans;

static const char *name_of(void *ctx, uint32_t proc, uint32_t id, uint32_t *len)
{
	(void)ctx;
	(void)proc;
	*len = 4;
	return id == 1 ? "work" : "next";
}

static void collect(void *ctx, const struct rtc_out *ev)
{
	(void)ctx;
	if (ev->kind == RTC_OUT_SPAN && nspans < MAX_OUT)
		spans[nspans++] = *ev;
}

static struct rtc_rebuild *start(void)
{
	struct rtc_rebuild *r = rtc_rebuild_create(name_of, NULL, collect, NULL);
	struct rtc_thread_meta meta = { .pid = 100, .tid = 101, .thread_number = 1, .proc = 0, .attach_ts = 500 };

	assert_non_null(r);
	nspans = 0;
	rtc_rebuild_process(r, 0, 100, "prog", 0);
	rtc_rebuild_thread(r, 0, &meta, "worker");
	return r;
}

static void feed(struct rtc_rebuild *r, uint64_t ts, uint32_t kind, union rt_rec_body u, struct rt_rec_stack_entry *stack)
{
	struct rtc_event ev = { .ts = ts, .thread = 0, .kind = kind, .u = u, .stack = stack };

	rtc_rebuild_event(r, &ev);
}

static void snapshot(struct rtc_rebuild *r, uint64_t ts, uint64_t span_seq, struct rt_rec_stack_entry *e, uint32_t n)
{
	union rt_rec_body u = { .stack = { .span_seq = span_seq, .entries = { .entries = e, .count = n } } };

	feed(r, ts, RT_REC_STACK, u, e);
}

/* The consumer was dropped while "work" (seq 1) was open: it ended unseen, and "next" (seq 7)
 * began while nothing recorded, stamped by the idle clock, which lags. The snapshot after the
 * lease was taken back shows only "next". */
static void run_dropped_lease(uint64_t next_begin, bool after_loss)
{
	struct rtc_rebuild *r = start();
	struct rt_rec_stack_entry next = { .name_id = 2, .span_seq = 7, .begin_ts = next_begin,
					   .flags = RT_SHM_STACK_COARSE };

	snapshot(r, 600, 0, NULL, 0);
	feed(r, 1000, RT_REC_SPAN_BEGIN, (union rt_rec_body){ .span_begin = { .name_id = 1 } }, NULL);
	if (after_loss)
		feed(r, 9000, RT_REC_LOSS,
		     (union rt_rec_body){ .loss = { .records = 5, .first_ts = 2000, .reasons = RT_LOSS_FULL } }, NULL);
	snapshot(r, 9000, 7, &next, 1);
	feed(r, 10000, RT_REC_SPAN_END, (union rt_rec_body){ .span_end = { 0 } }, NULL);
	rtc_rebuild_finish(r, 11000);

	assert_int_equal(nspans, 2);
	/* "work": begun at 1000, ended unseen, no later than "next" began. */
	assert_string_equal(spans[0].name, "work");
	assert_int_equal(spans[0].ts, 1000);
	assert_true(spans[0].flags & RTC_F_LOST_END);
	/* "next": after "work" on the same level, never inside it. */
	assert_string_equal(spans[1].name, "next");
	assert_true(spans[1].ts >= spans[0].ts + spans[0].dur);
	assert_int_equal(spans[1].ts + spans[1].dur, 10000);
	assert_int_equal(spans[1].depth, 0);
	rtc_rebuild_destroy(r);
}

static void test_unseen_end_before_idle_begin(void **state)
{
	(void)state;
	/* The idle clock's begin lies before the time the unseen end is put at (the snapshot, 9000;
	 * after a loss, the first lost record, 2000). */
	run_dropped_lease(1500, false);
	assert_int_equal(spans[0].dur, 500);
	assert_int_equal(spans[1].ts, 1500);
	run_dropped_lease(1500, true);
	assert_int_equal(spans[0].dur, 500);
	/* Unaffected when the begin comes after it. */
	run_dropped_lease(3000, true);
	assert_int_equal(spans[0].dur, 1000);
	assert_int_equal(spans[1].ts, 3000);
}

static void test_idle_begin_before_the_span_it_followed(void **state)
{
	(void)state;
	/* The idle clock lagged by more than "work" lasted: "next" cannot have begun before "work"
	 * did (it was not open then), so it begins where "work" began and "work" is empty. */
	run_dropped_lease(800, true);
	assert_int_equal(spans[0].dur, 0);
	assert_int_equal(spans[1].ts, 1000);
}

/* ---- the consumer's own read of a blocked thread's shared stack ---- */

static void shared(struct rtc_rebuild *r, uint64_t ts, uint64_t span_seq, struct rt_rec_stack_entry *e, uint32_t n)
{
	union rt_rec_body u = { .stack = { .span_seq = span_seq, .entries = { .entries = e, .count = n }, .present = 7 } };

	feed(r, ts, RTC_EV_SHARED_STACK, u, e);
}

static void begin(struct rtc_rebuild *r, uint64_t ts, uint32_t name_id)
{
	feed(r, ts, RT_REC_SPAN_BEGIN, (union rt_rec_body){ .span_begin = { .name_id = name_id } }, NULL);
}

static void end(struct rtc_rebuild *r, uint64_t ts)
{
	feed(r, ts, RT_REC_SPAN_END, (union rt_rec_body){ .span_end = { 0 } }, NULL);
}

static void assert_span(size_t i, const char *name, uint64_t ts, uint64_t dur, uint32_t flags)
{
	assert_true(i < nspans);
	assert_string_equal(spans[i].name, name);
	assert_int_equal(spans[i].ts, ts);
	assert_int_equal(spans[i].dur, dur);
	assert_int_equal(spans[i].flags & (RTC_F_LOST_END | RTC_F_INCOMPLETE | RTC_F_BEFORE_ATTACH), flags);
}

/* Read between an END's commit and its pop: the stack still has the span the records ended. */
static void test_shared_stack_read_before_a_pop(void **state)
{
	struct rtc_rebuild *r = start();
	struct rt_rec_stack_entry e[2] = { { .name_id = 1, .span_seq = 1, .begin_ts = 1000 },
					   { .name_id = 2, .span_seq = 2, .begin_ts = 2000 } };

	(void)state;
	snapshot(r, 600, 0, NULL, 0);
	begin(r, 1000, 1);
	begin(r, 2000, 2);
	end(r, 3000);
	shared(r, 4000, 2, e, 2);
	end(r, 5000);
	rtc_rebuild_finish(r, 6000);
	assert_int_equal(nspans, 2);
	assert_span(0, "next", 2000, 1000, 0);
	assert_span(1, "work", 1000, 4000, 0);
	rtc_rebuild_destroy(r);
}

/* Read between a BEGIN's commit and its push: the stack lacks the span the records began, and its
 * last span number is one behind ours. */
static void test_shared_stack_read_before_a_push(void **state)
{
	struct rtc_rebuild *r = start();
	struct rt_rec_stack_entry e = { .name_id = 1, .span_seq = 1, .begin_ts = 1000 };

	(void)state;
	snapshot(r, 600, 0, NULL, 0);
	begin(r, 1000, 1);
	begin(r, 2000, 2);
	shared(r, 2500, 1, &e, 1);
	end(r, 3000);
	begin(r, 4000, 2);
	end(r, 4500);
	end(r, 5000);
	rtc_rebuild_finish(r, 6000);
	assert_int_equal(nspans, 3);
	assert_span(0, "next", 2000, 1000, 0);
	assert_span(1, "next", 4000, 500, 0);
	assert_int_equal(spans[1].span_seq, 3);
	assert_span(2, "work", 1000, 4000, 0);
	rtc_rebuild_destroy(r);
}

/* Read between a TASK_BEGIN's commit and the stack's task change: spans after it are in the new
 * task, not the read's. */
static void test_shared_stack_keeps_the_records_task(void **state)
{
	struct rtc_rebuild *r = start();

	(void)state;
	snapshot(r, 600, 0, NULL, 0);
	feed(r, 1000, RT_REC_TASK_BEGIN, (union rt_rec_body){ .task_begin = { .task_id = 5, .name_id = 1 } }, NULL);
	shared(r, 1500, 0, NULL, 0);
	begin(r, 2000, 1);
	end(r, 3000);
	rtc_rebuild_finish(r, 4000);
	assert_int_equal(nspans, 1);
	assert_int_equal(spans[0].task, 5);
	rtc_rebuild_destroy(r);
}

/* The lease was lost: the gap starts at the consumer's last poll (2000), but the producer recorded
 * until its lease expired (4000), then tracked "other" without recording it (8000). What the
 * records show open ended after their last record, not at the gap's start. */
static void test_shared_stack_ends_spans_after_the_last_record(void **state)
{
	struct rtc_rebuild *r = start();
	struct rt_rec_stack_entry other = { .name_id = 2, .span_seq = 3, .begin_ts = 8000, .flags = RT_SHM_STACK_COARSE };

	(void)state;
	snapshot(r, 600, 0, NULL, 0);
	begin(r, 1000, 1);
	rtc_rebuild_gap(r, 0, 2000, 9000, 0);
	begin(r, 3000, 2);
	end(r, 4000);
	shared(r, 9500, 3, &other, 1);
	rtc_rebuild_finish(r, 10000);
	assert_int_equal(nspans, 3);
	assert_span(0, "next", 3000, 1000, 0);
	assert_span(1, "work", 1000, 3000, RTC_F_LOST_END);
	assert_span(2, "next", 8000, 2000, RTC_F_INCOMPLETE);
	rtc_rebuild_destroy(r);
}

/* Span numbers not known (a reader that resumed a ring after its STACK record) and given out
 * already: the read's numbers would collide with ours, so it is dropped, whether the span is
 * still open when it comes or not. */
static void run_unsynced_read(bool span_open)
{
	struct rtc_rebuild *r = start();
	struct rt_rec_stack_entry e = { .name_id = 2, .span_seq = 1, .begin_ts = 400 };

	begin(r, 1000, 1);
	if (!span_open)
		end(r, 2000);
	shared(r, 2500, 1, &e, 1);
	if (span_open)
		end(r, 2000);
	rtc_rebuild_finish(r, 4000);
	assert_int_equal(nspans, 1);
	assert_span(0, "work", 1000, 1000, 0);
	rtc_rebuild_destroy(r);
}

static void test_shared_stack_unsynced_read_is_dropped(void **state)
{
	(void)state;
	run_unsynced_read(true);
	run_unsynced_read(false);
}

/* Nothing recorded (a thread blocked since before the attach): the read is all there is. */
static void test_shared_stack_of_a_silent_thread(void **state)
{
	struct rtc_rebuild *r = start();
	struct rt_rec_stack_entry e[2] = { { .name_id = 1, .span_seq = 3, .begin_ts = 100 },
					   { .name_id = 2, .span_seq = 4, .begin_ts = 200 } };
	struct rtc_rebuild_counts c;

	(void)state;
	shared(r, 2000, 4, e, 2);
	rtc_rebuild_finish(r, 5000);
	assert_int_equal(nspans, 2);
	assert_span(0, "next", 200, 4800, RTC_F_INCOMPLETE | RTC_F_BEFORE_ATTACH);
	assert_span(1, "work", 100, 4900, RTC_F_INCOMPLETE | RTC_F_BEFORE_ATTACH);
	/* Not a record, and not one of the producer's snapshots. */
	rtc_rebuild_counts(r, &c);
	assert_int_equal(c.records, 0);
	assert_int_equal(c.resync_records, 0);
	rtc_rebuild_destroy(r);
}

/* ---- tasks open at attach ---- */

static struct rtc_out all[MAX_OUT];
static size_t nall;

static void collect_all(void *ctx, const struct rtc_out *ev)
{
	(void)ctx;
	if (nall < MAX_OUT)
		all[nall++] = *ev;
}

static void log_at(struct rtc_rebuild *r, uint32_t thread, uint64_t ts)
{
	struct rtc_event ev = { .ts = ts, .thread = thread, .kind = RT_REC_LOG,
				.u = { .log = { .category_id = 1, .message = { "m", 1 } } } };

	rtc_rebuild_event(r, &ev);
}

/* A task of a second process began while the consumer attached to it (it comes with the attach,
 * ahead of the records), after records of the first process that the merge had not let out yet.
 * Its begin event waits for them: the output stays in time order across processes (a b event
 * once came out before an earlier instant of the other process: CI's order_violations). */
static void test_task_open_at_attach_in_time_order(void **state)
{
	struct rtc_rebuild *r = rtc_rebuild_create(name_of, NULL, collect_all, NULL);
	struct rtc_thread_meta m0 = { .pid = 100, .tid = 101, .thread_number = 1, .proc = 0, .attach_ts = 10 };
	struct rtc_thread_meta m1 = { .pid = 200, .tid = 201, .thread_number = 1, .proc = 1, .attach_ts = 190 };
	const uint64_t want_ts[] = { 50, 150, 200, 250, 280, 300 };
	const uint32_t want_kind[] = { RTC_OUT_LOG, RTC_OUT_LOG, RTC_OUT_TASK_BEGIN, RTC_OUT_LOG, RTC_OUT_TASK_BEGIN,
				       RTC_OUT_LOG };
	size_t k = 0;

	(void)state;
	assert_non_null(r);
	nall = 0;
	rtc_rebuild_process(r, 0, 100, "first", 0);
	rtc_rebuild_thread(r, 0, &m0, "a");
	log_at(r, 0, 50);
	rtc_rebuild_process(r, 1, 200, "second", 0);
	rtc_rebuild_thread(r, 1, &m1, "b");
	rtc_rebuild_task_open(r, 1, 9, 0, 2, 200, 0, 201);
	log_at(r, 0, 150);
	log_at(r, 0, 250);
	/* One more, released by the watermark alone. */
	rtc_rebuild_task_open(r, 1, 10, 0, 2, 280, 0, 201);
	rtc_rebuild_advance(r, 290);
	log_at(r, 1, 300);
	rtc_rebuild_finish(r, 400);
	for (size_t i = 0; i < nall; i++) {
		if (all[i].kind != RTC_OUT_LOG && all[i].kind != RTC_OUT_TASK_BEGIN)
			continue;
		assert_true(k < 6);
		assert_int_equal(all[i].kind, want_kind[k]);
		assert_int_equal(all[i].ts, want_ts[k]);
		k++;
	}
	assert_int_equal(k, 6);
	rtc_rebuild_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unseen_end_before_idle_begin),
		cmocka_unit_test(test_idle_begin_before_the_span_it_followed),
		cmocka_unit_test(test_task_open_at_attach_in_time_order),
		cmocka_unit_test(test_shared_stack_read_before_a_pop),
		cmocka_unit_test(test_shared_stack_read_before_a_push),
		cmocka_unit_test(test_shared_stack_keeps_the_records_task),
		cmocka_unit_test(test_shared_stack_ends_spans_after_the_last_record),
		cmocka_unit_test(test_shared_stack_unsynced_read_is_dropped),
		cmocka_unit_test(test_shared_stack_of_a_silent_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
