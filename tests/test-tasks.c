/* SPDX-License-Identifier: MIT */
/* The shared task table: a consumer attaching late sees every open task with its name, parent and
 * begin time (coarse while nothing recorded); tasks with no slot are counted; concurrent begin/end
 * against a reader enumerating the table gives only consistent copies. */
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

#define SLOTS 64 /* RINGTRACE_TASK_SLOTS in tests/meson.build */

struct seen {
	struct rtc_producer *p;
	unsigned n;
	struct rtc_task_info t[SLOTS];
};

static int collect(void *ctx, const struct rtc_task_info *t)
{
	struct seen *s = ctx;

	if (s->n < SLOTS)
		s->t[s->n] = *t;
	s->n++;
	return 0;
}

/* The task with that id, or an empty one (id 0) that the caller's assertions then reject. */
static const struct rtc_task_info *find(const struct seen *s, uint64_t id)
{
	static const struct rtc_task_info none;

	for (unsigned i = 0; i < s->n && i < SLOTS; i++)
		if (s->t[i].id == id)
			return &s->t[i];
	return &none;
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_tasks_open_before_attach_are_seen(void **state)
{
	struct rtc_producer p;
	struct seen s = { &p, 0, { { 0 } } };
	const struct rtc_task_info *a, *b;
	struct rt_task outer, inner, later;
	uint64_t before = mono_now();

	(void)state;
	/* Nothing records: no consumer, discard mode. */
	outer = rt_task_begin("outer-task");
	inner = rt_task_begin("inner-task");
	assert_int_equal(rtc_producer_open_pid(&p, getpid()), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	assert_int_equal(rtc_producer_each_task(&p, collect, &s), 2);
	a = find(&s, outer.id);
	b = find(&s, inner.id);
	assert_int_equal(a->id, outer.id);
	assert_int_equal(b->id, inner.id);
	assert_string_equal(rtc_producer_name(&p, a->name_id), "outer-task");
	assert_string_equal(rtc_producer_name(&p, b->name_id), "inner-task");
	assert_int_equal(a->parent, 0);
	assert_int_equal(b->parent, outer.id);
	/* Begun while idle: the idle clock's CLOCK_MONOTONIC time (at most its resolution early),
	 * flagged, never after the true begin. */
	assert_true(a->coarse && b->coarse);
	assert_true(a->begin_ts >= before - 50000000 && a->begin_ts <= mono_now());
	assert_true(b->begin_ts >= a->begin_ts);
	/* Begun while recording: the process clock, unflagged. */
	later = rt_task_begin("later-task");
	s.n = 0;
	assert_int_equal(rtc_producer_each_task(&p, collect, &s), 3);
	assert_int_equal(find(&s, later.id)->id, later.id);
	assert_false(find(&s, later.id)->coarse);
	/* Ended tasks leave the table's live view. */
	rt_task_end(later);
	rt_task_end(inner);
	s.n = 0;
	assert_int_equal(rtc_producer_each_task(&p, collect, &s), 1);
	assert_int_equal(find(&s, outer.id)->id, outer.id);
	rt_task_end(outer);
	s.n = 0;
	assert_int_equal(rtc_producer_each_task(&p, collect, &s), 0);
	rtc_producer_close(&p);
}

static void test_tasks_without_a_slot_are_counted(void **state)
{
	struct rtc_producer p;
	struct rtc_producer_counts c;
	struct rt_task t[SLOTS + 6];
	struct seen s = { &p, 0, { { 0 } } };
	uint64_t overflows;

	(void)state;
	assert_int_equal(rtc_producer_open_pid(&p, getpid()), 0);
	assert_int_equal(rtc_producer_counts(&p, &c), 0);
	overflows = c.task_overflows;
	for (int i = 0; i < SLOTS + 6; i++)
		t[i] = rt_task_begin("many");
	assert_int_equal(rtc_producer_counts(&p, &c), 0);
	assert_int_equal(c.task_overflows - overflows, 6);
	assert_int_equal(rtc_producer_each_task(&p, collect, &s), SLOTS);
	for (int i = 0; i < SLOTS + 6; i++)
		rt_task_end(t[i]);
	/* Slots of ended tasks are free again. */
	t[0] = rt_task_begin("again");
	assert_int_equal(rtc_producer_counts(&p, &c), 0);
	assert_int_equal(c.task_overflows - overflows, 6);
	rt_task_end(t[0]);
	rtc_producer_close(&p);
}

#define WORKERS 4
#define ROUNDS 20000

static _Atomic int stop;
static uint32_t known[3];

static void *churn(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct rt_task a = rt_task_begin("churn-a");
		struct rt_task b = rt_task_begin("churn-b");

		rt_task_end(b);
		rt_task_end(a);
	}
	return NULL;
}

struct check {
	unsigned bad, seen;
};

static int check_one(void *ctx, const struct rtc_task_info *t)
{
	struct check *c = ctx;

	c->seen++;
	/* A torn copy would mix fields of two tasks: a name that is not one of ours, or a parent
	 * that is not older than the task. */
	if ((t->name_id != known[0] && t->name_id != known[1] && t->name_id != known[2]) || t->parent >= t->id ||
	    t->begin_ts == 0)
		c->bad++;
	return 0;
}

static void test_concurrent_begin_end_against_a_reader(void **state)
{
	struct rtc_producer p;
	struct check c = { 0, 0 };
	pthread_t th[WORKERS];
	struct rt_task hold;

	(void)state;
	known[0] = rt_name_intern("churn-a");
	known[1] = rt_name_intern("churn-b");
	known[2] = rt_name_intern("held");
	hold = rt_task_begin("held");
	assert_int_equal(rtc_producer_open_pid(&p, getpid()), 0);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn, NULL), 0);
	for (int k = 0; k < 200; k++)
		assert_true(rtc_producer_each_task(&p, check_one, &c) >= 1);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(c.bad, 0);
	assert_true(c.seen >= 200); /* the held task, every time */
	rt_task_end(hold);
	rtc_producer_close(&p);
	(void)stop;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tasks_open_before_attach_are_seen),
		cmocka_unit_test(test_tasks_without_a_slot_are_counted),
		cmocka_unit_test(test_concurrent_begin_end_against_a_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
