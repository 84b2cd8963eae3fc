/* SPDX-License-Identifier: MIT */
/* The idle clock (begin times of spans opened while nothing records): never ahead of
 * CLOCK_MONOTONIC, never backwards, kept fresh by its helper thread, stated in the control segment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "clock.h"
#include "idle-clock.h"
#include "process.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Read it for a while (across helper ticks, parks and wakes alike): each value is at most the
 * time read just after it, and no value is below the one before. */
static void test_never_ahead_never_backwards(void **state)
{
	uint64_t prev = 0, deadline = mono_ns() + 50000000u;
	unsigned long n = 0;

	(void)state;
	while (mono_ns() < deadline) {
		uint64_t v = rt__idle_now();

		assert_true(v <= mono_ns());
		assert_true(v >= prev);
		assert_true(v > 0);
		prev = v;
		n++;
	}
	assert_true(n > 0);
}

/* Once a thread registered, the helper thread publishes fresh values (bit 0 set). Bounded wait:
 * the helper only needs to be scheduled once. */
static void test_helper_publishes(void **state)
{
	uint64_t w = 0;

	(void)state;
	assert_int_equal(rt_thread_register("idle-clock-test"), 0);
	for (int i = 0; i < 10000 && !((w = atomic_load(&rt__idle_clock_word)) & 1); i++) {
		(void)rt__idle_now(); /* wakes it if it parked meanwhile */
		usleep(1000);
	}
	assert_true(w & 1);
	assert_true((w & ~1ull) <= mono_ns());
}

/* The control segment states the resolution consumers report for these begin times. */
static void test_resolution_stated(void **state)
{
	(void)state;
	assert_non_null(rt__proc.ctl);
	assert_int_equal(rt__proc.ctl->coarse_res_ns, rt__idle_clock_res_ns());
	assert_true(rt__proc.ctl->coarse_res_ns >= RT_IDLE_CLOCK_TICK_NS);
	assert_true(rt__proc.ctl->coarse_res_ns >= rt__clock_coarse_res_ns());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_ahead_never_backwards), /* before any helper: the coarse clock */
		cmocka_unit_test(test_helper_publishes),
		cmocka_unit_test(test_never_ahead_never_backwards), /* helper values, parks and wakes */
		cmocka_unit_test(test_resolution_stated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
