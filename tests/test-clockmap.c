/* SPDX-License-Identifier: MIT */
/* The raw-clock mapping: interpolation and extrapolation from calibration points, and times out of range
 * (fuzzed points, rates and timestamps) saturated to 0 and UINT64_MAX instead of converted out of range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clockmap.h"

static void with_points(struct rtc_clockmap *m, const struct rt_shm_calib_point *pts, size_t n)
{
	rtc_clockmap_init(m, RT_SHM_CLOCK_TSC);
	rtc_clockmap_add(m, pts, n);
}

static void test_between_and_beyond(void **state)
{
	/* 2 ticks per ns */
	const struct rt_shm_calib_point pts[] = { { .tsc = 1000, .mono_ns = 1000000 }, { .tsc = 3000, .mono_ns = 1001000 } };
	struct rtc_clockmap m;

	(void)state;
	with_points(&m, pts, 2);
	assert_int_equal(m.n, 2);
	assert_int_equal(rtc_clockmap_ns(&m, 2000), 1000500);
	assert_int_equal(rtc_clockmap_ns(&m, 3000), 1001000);
	assert_int_equal(rtc_clockmap_ns(&m, 5000), 1002000);
	assert_int_equal(rtc_clockmap_ns(&m, 0), 999500);
	rtc_clockmap_fini(&m);
}

/* One point: later times are extrapolated forward from it, not wrapped below it to 0. */
static void test_one_point(void **state)
{
	const struct rt_shm_calib_point pt = { .tsc = 1000, .mono_ns = 5000 };
	struct rtc_clockmap m;

	(void)state;
	with_points(&m, &pt, 1);
	assert_int_equal(rtc_clockmap_ns(&m, 1500), 5500);
	assert_int_equal(rtc_clockmap_ns(&m, 400), 4400);
	assert_int_equal(rtc_clockmap_ns(&m, 0), 4000);
	rtc_clockmap_fini(&m);
}

/* Far past the last point at a slow rate (0.02 ticks per ns), far before the first, the top of the range
 * interpolated, and no points at all: every result saturates (fuzz-segment found the first one). */
static void test_saturates(void **state)
{
	const struct rt_shm_calib_point slow[] = { { .tsc = 1, .mono_ns = 1 }, { .tsc = 21, .mono_ns = 1001 } };
	const struct rt_shm_calib_point late[] = { { .tsc = UINT64_MAX - 100, .mono_ns = 10 },
						   { .tsc = UINT64_MAX - 50, .mono_ns = 20 } };
	const struct rt_shm_calib_point top[] = { { .tsc = 1, .mono_ns = UINT64_MAX - 10 },
						  { .tsc = 3, .mono_ns = UINT64_MAX } };
	struct rtc_clockmap m;

	(void)state;
	with_points(&m, slow, 2);
	assert_true(m.rate > 0.0199 && m.rate < 0.0201);
	assert_int_equal(rtc_clockmap_ns(&m, UINT64_MAX), UINT64_MAX);
	assert_int_equal(rtc_clockmap_ns(&m, 41), 2001);
	rtc_clockmap_fini(&m);

	with_points(&m, late, 2);
	assert_int_equal(rtc_clockmap_ns(&m, 0), 0);
	rtc_clockmap_fini(&m);

	with_points(&m, top, 2);
	assert_int_equal(rtc_clockmap_ns(&m, 2), UINT64_MAX);
	assert_int_equal(rtc_clockmap_ns(&m, UINT64_MAX), UINT64_MAX);
	rtc_clockmap_fini(&m);

	with_points(&m, NULL, 0);
	assert_int_equal(rtc_clockmap_ns(&m, UINT64_MAX), UINT64_MAX);
	assert_int_equal(rtc_clockmap_ns(&m, 12345), 12345);
	rtc_clockmap_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_between_and_beyond),
		cmocka_unit_test(test_one_point),
		cmocka_unit_test(test_saturates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
