/* SPDX-License-Identifier: MIT */
/* The consumer engine running in the producer's own process while producer threads write: exact
 * counts through the engine's summary and a valid Chrome file (run under ThreadSanitizer too). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "engine.h"

#define THREADS 4
#define SPANS 20000

static atomic_int stop;
static struct rtc_engine *engine;

static void *consumer(void *arg)
{
	(void)arg;
	rtc_engine_run(engine, &stop);
	return NULL;
}

static void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < SPANS; i++) {
		RT_SPAN("engine-span");
		if (i % 1000 == 0)
			rt_log("engine", "at %d", i);
	}
	return NULL;
}

static void test_engine_in_process(void **state)
{
	char json[128], cmd[400];
	struct rtc_engine_options o = { 0 };
	struct rtc_engine_summary s;
	pthread_t c, w[THREADS];
	int status;

	(void)state;
	snprintf(json, sizeof(json), "/tmp/ringtrace-engine-test.%d.json", (int)getpid());
	o.json_path = json;
	o.self = getpid();
	engine = rtc_engine_create(&o);
	assert_non_null(engine);
	assert_int_equal(rtc_engine_attach(engine, getpid()), 0);
	assert_int_equal(pthread_create(&c, NULL, consumer, NULL), 0);
	usleep(50000); /* attached and polling */
	for (int i = 0; i < THREADS; i++)
		pthread_create(&w[i], NULL, writer, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i], NULL);
	usleep(100000);
	atomic_store(&stop, 1);
	pthread_join(c, NULL);
	rtc_engine_summary(engine, &s);
	printf("# %llu records, %llu spans, %llu lost, %llu late\n", (unsigned long long)s.s.records,
	       (unsigned long long)s.s.spans, (unsigned long long)s.s.lost, (unsigned long long)s.s.late_records);
	/* Exact: every span recorded, or reported lost. */
	assert_int_equal(s.s.spans + s.s.lost / 2, (uint64_t)THREADS * SPANS);
	assert_int_equal(s.s.logs, THREADS * (SPANS / 1000));
	rtc_engine_destroy(engine);
	snprintf(cmd, sizeof(cmd), "python3 %s %s > /dev/null", getenv("RT_CHECKER"), json);
	status = system(cmd);
	unlink(json);
	assert_int_equal(status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_in_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
