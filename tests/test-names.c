/* SPDX-License-Identifier: MIT */
/* Name table: deduplication, truncation, concurrent interning from many threads, and a consumer
 * reading every id back. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "producer.h"

#define THREADS 8
#define NAMES 2000

static uint32_t ids[THREADS][NAMES];

static void *intern_all(void *arg)
{
	int t = (int)(intptr_t)arg;
	char name[32];

	/* Every thread interns the same names, in a different order. */
	for (int i = 0; i < NAMES; i++) {
		int k = (i * 7 + t * 131) % NAMES;

		snprintf(name, sizeof(name), "name-%d", k);
		ids[t][k] = rt_name_intern(name);
	}
	return NULL;
}

static void test_concurrent_interning_deduplicates(void **state)
{
	pthread_t th[THREADS];
	struct rtc_producer p;
	char name[32];

	(void)state;
	for (intptr_t t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, intern_all, (void *)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(rtc_producer_open(&p, getpid(), getuid()), 0);
	for (int k = 0; k < NAMES; k++) {
		for (int t = 1; t < THREADS; t++)
			assert_int_equal(ids[t][k], ids[0][k]);
		snprintf(name, sizeof(name), "name-%d", k);
		assert_string_equal(rtc_producer_name(&p, ids[0][k]), name);
	}
	/* Reserved ids and out-of-range ids. */
	assert_string_equal(rtc_producer_name(&p, 0), "<null>");
	assert_string_equal(rtc_producer_name(&p, 1), "<overflow>");
	assert_string_equal(rtc_producer_name(&p, 0xffffff), "<unknown>");
	assert_string_equal(rtc_producer_name(&p, p.names_capacity - 1), "<unknown>");
	rtc_producer_close(&p);
}

static void test_truncation_and_null(void **state)
{
	char a[400], b[400];
	struct rtc_producer p;

	(void)state;
	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = 0;
	memcpy(b, a, sizeof(b));
	b[300] = 'b'; /* differs only past the limit: same truncated name */
	assert_int_equal(rt_name_intern(a), rt_name_intern(b));
	assert_int_equal(rt_name_intern(NULL), 0);
	assert_int_not_equal(rt_name_intern(""), rt_name_intern("x"));
	assert_int_equal(rtc_producer_open(&p, getpid(), getuid()), 0);
	assert_int_equal(strlen(rtc_producer_name(&p, rt_name_intern(a))), 255);
	rtc_producer_close(&p);
}

static void test_table_full_gives_overflow_id(void **state)
{
	char name[32];
	uint32_t id = 0;
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "fill-%d", i);
		id = rt_name_intern(name);
		if (id == 1)
			break;
	}
	assert_int_equal(id, 1); /* RT_NAME_ID_OVERFLOW */
	assert_true(i > 10000);
	/* Names interned before the table filled keep working. */
	assert_int_equal(rt_name_intern("fill-5"), rt_name_intern("fill-5"));
	assert_int_not_equal(rt_name_intern("fill-5"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_interning_deduplicates),
		cmocka_unit_test(test_truncation_and_null),
		cmocka_unit_test(test_table_full_gives_overflow_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
