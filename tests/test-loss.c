/* SPDX-License-Identifier: MIT */
/* Loss accounting through the API with small rings: discard mode reports every dropped record in
 * LOSS records followed by a STACK resync; overwrite mode reports exactly what a slow consumer
 * missed. The mode comes from RINGTRACE_MODE (the suite runs this binary in both). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "harness.h"

static struct harness h;

#define SPANS 100000

static void test_loss_is_exact(void **state)
{
	uint64_t tn, begins = 0, ends = 0, lost = 0, stacks_after_loss = 0, all = 0, index = 0;
	const char *mode = getenv("RINGTRACE_MODE");
	bool overwrite = mode && strcmp(mode, "overwrite") == 0;
	bool want_stack = false;

	(void)state;
	assert_int_equal(harness_attach(&h), 0);
	assert_int_equal(h.p.ring_size, 64 * 1024);
	rt_thread_register("lossy");
	tn = harness_self_thread();
	harness_drain(&h);
	/* No draining while writing: the 64 KiB ring cannot hold 200000 records. */
	for (int i = 0; i < SPANS; i++) {
		rt_span_begin("lossy-span");
		rt_span_end();
	}
	harness_drain(&h);
	/* Discard mode: the LOSS record waits for room, so it goes out with the next record. */
	rt_span_begin("after");
	rt_span_end();
	harness_drain(&h);
	assert_int_equal(h.corrupt, 0);
	for (size_t i = 0; i < h.n; i++) {
		struct rec_copy *r = &h.recs[i];

		if (r->thread_number != tn)
			continue;
		all++;
		if (r->kind == RT_REC_SPAN_BEGIN)
			begins++;
		else if (r->kind == RT_REC_SPAN_END)
			ends++;
		else if (r->kind == RT_REC_LOSS) {
			lost += r->a;
			assert_true(r->c & RT_LOSS_FULL);
			assert_true(r->b <= r->ts);
			want_stack = true;
		} else if (r->kind == RT_REC_STACK && want_stack) {
			stacks_after_loss++;
			want_stack = false;
		}
	}
	if (getenv("RT_TEST_DEBUG"))
		fprintf(stderr, "begins %llu ends %llu lost %llu gaps %llu n %zu\n", (unsigned long long)begins,
			(unsigned long long)ends, (unsigned long long)lost, (unsigned long long)h.gap_records, h.n);
	if (overwrite) {
		/* The writer never drops; the reader knows exactly how many it missed. */
		assert_int_equal(lost, 0);
		assert_true(h.gap_records > 0);
		/* The gap counts every record kind the reader missed (spans and the STACK snapshot
		 * that starts each sub-buffer): what it saw plus what it missed is the ring's count. */
		for (size_t s = 0; s < HARNESS_THREADS; s++)
			if (h.t[s].open && h.t[s].thread_number == tn)
				index = h.t[s].cursor.next_rec;
		assert_int_equal(all + h.gap_records, index);
		assert_true(begins + ends < 2 * SPANS + 2);
		assert_true(2 * SPANS + 2 - (begins + ends) <= h.gap_records);
	} else {
		assert_true(lost > 0);
		assert_true(stacks_after_loss > 0);
		assert_int_equal(h.gap_records, 0);
		assert_int_equal(begins + ends + lost, 2 * SPANS + 2);
	}
	printf("# %s: %llu recorded, %llu lost (%s)\n", overwrite ? "overwrite" : "discard",
	       (unsigned long long)(begins + ends), (unsigned long long)(overwrite ? h.gap_records : lost),
	       overwrite ? "overwritten before read" : "dropped at the producer");
	harness_fini(&h);
}

static void *fill_and_exit(void *arg)
{
	*(uint64_t *)arg = harness_self_thread();
	for (int i = 0; i < SPANS; i++) {
		rt_span_begin("until-exit");
		rt_span_end();
	}
	return NULL; /* no later record could carry a LOSS record */
}

/* A thread that exits while its ring is still full cannot write the LOSS record for its last
 * drops: the ring publishes them (unreported_dropped) when the thread finishes, so the reported
 * and the unreported drops add up to every record refused. */
static void test_drops_at_thread_end_are_published(void **state)
{
	const char *mode = getenv("RINGTRACE_MODE");
	bool overwrite = mode && strcmp(mode, "overwrite") == 0;
	uint64_t tn = 0, reported = 0, recorded = 0, unreported, dropped;
	pthread_t th;

	(void)state;
	assert_int_equal(harness_attach(&h), 0);
	harness_drain(&h);
	assert_int_equal(pthread_create(&th, NULL, fill_and_exit, &tn), 0);
	pthread_join(th, NULL);
	for (int i = 0; i < 100 && harness_final_dropped(&h, tn) == UINT64_MAX; i++)
		harness_drain(&h);
	dropped = harness_final_dropped(&h, tn);
	unreported = harness_final_unreported(&h, tn);
	assert_int_not_equal(dropped, UINT64_MAX);
	for (size_t i = 0; i < h.n; i++) {
		if (h.recs[i].thread_number != tn)
			continue;
		if (h.recs[i].kind == RT_REC_LOSS)
			reported += h.recs[i].a;
		else if (h.recs[i].kind == RT_REC_SPAN_BEGIN || h.recs[i].kind == RT_REC_SPAN_END)
			recorded++;
	}
	if (overwrite) {
		assert_int_equal(dropped, 0);
		assert_int_equal(unreported, 0);
	} else {
		assert_true(unreported > 0);
		assert_int_equal(reported + unreported, dropped);
		assert_int_equal(recorded + dropped, 2 * SPANS + 1); /* + its THREAD_EXIT, dropped too */
	}
	harness_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loss_is_exact),
		cmocka_unit_test(test_drops_at_thread_end_are_published),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
