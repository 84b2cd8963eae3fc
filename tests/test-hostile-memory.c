/* SPDX-License-Identifier: MIT */
/* Garbage written into the producer's shared memory by another process of the user (a consumer
 * with a bug, a stray tool): the producer keeps working and never reads or writes out of bounds. */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>
#include <ringtrace/shm-format.h>

#include "process.h"
#include "shm.h"
#include "producer.h"
#include "thread.h"

#define GARBAGE_OFFSET 0xfffff000u

/* The control segment's header as the producer wrote it, before the garbage. */
static struct rt_shm_control layout;

/* The name id's entry in the table, found by the saved layout: its bytes, or NULL. */
static const char *entry_of(uint32_t id, uint32_t *len)
{
	const struct rt_shm_control *lay = &layout;
	const char *base = (const char *)rt__proc.ctl;
	uint32_t off;
	const uint8_t *e;

	if (id >= lay->names_capacity)
		return NULL;
	memcpy(&off, base + lay->names_offset + (size_t)id * sizeof(uint32_t), sizeof(off));
	if (off == 0 || off >= lay->arena_size)
		return NULL;
	e = (const uint8_t *)base + lay->arena_offset + off;
	*len = (uint32_t)(e[0] | e[1] << 8);
	return (const char *)e + RT_NAME_HDR_SIZE;
}

static void *span_thread(void *arg)
{
	int *registered = arg;

	rt_span_begin("in-thread");
	rt_span_end();
	*registered = rt__thread_peek() != NULL;
	return NULL;
}

/* The consumer's mapping of our control segment: what it writes, we see. Opened once, before any
 * garbage (a consumer validates the header it opens). */
static struct rtc_producer consumer;

static int open_consumer(void **state)
{
	(void)state;
	if (rt_thread_register("main") != 0 || rtc_producer_open(&consumer, getpid(), getuid()) != 0)
		return -1;
	memcpy(&layout, consumer.ctl, sizeof(layout));
	return 0;
}

/* Our directory is garbage by now, so the exit handler cannot name the finished rings it keeps
 * (overwrite mode): they would stay in /dev/shm until the next run of this test reclaims them as a
 * dead process's. Unlink every segment named after our pid under this test's prefix instead; the
 * mappings stay valid, and the exit handler's own unlinks find nothing. */
static void unlink_own_segments(void)
{
	char stem[RT_SHM_NAME_MAX], path[sizeof(((struct dirent *)0)->d_name) + 2];
	int n = snprintf(stem, sizeof(stem), "%s.%u.%d", rt__shm_prefix(), (unsigned)getuid(), (int)getpid());
	DIR *dir = opendir("/dev/shm");
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, stem, (size_t)n) == 0 && (de->d_name[n] == 0 || de->d_name[n] == '.')) {
			snprintf(path, sizeof(path), "/%s", de->d_name);
			shm_unlink(path);
		}
	closedir(dir);
}

static int close_consumer(void **state)
{
	(void)state;
	rtc_producer_close(&consumer);
	unlink_own_segments();
	return 0;
}

/* Every layout field of the control segment overwritten, as a consumer mapping it read-write
 * could (the header as the producer wrote it is in `layout`). */
static struct rt_shm_control *garble_header(void)
{
	struct rt_shm_control *ctl = consumer.ctl;

	ctl->names_offset = ctl->hash_offset = ctl->arena_offset = GARBAGE_OFFSET;
	ctl->threads_offset = ctl->calib_offset = ctl->dir_ext_offset = GARBAGE_OFFSET;
	ctl->names_capacity = ctl->arena_size = ctl->threads_capacity = UINT32_MAX;
	ctl->hash_slots = ctl->calib_capacity = ctl->dir_ext_capacity = 0;
	ctl->dir_ext_max = UINT32_MAX;
	atomic_store(&ctl->arena_claimed, UINT32_MAX);
	return ctl;
}

/* Calibration points go to the producer's ring of them (a capacity of 0 would divide by zero). A
 * wide clock sample is skipped, so a few periods may be needed on a loaded machine. */
static void test_calibration_after_garbage(void **state)
{
	struct rt_shm_control *ctl = garble_header();
	uint32_t calib0 = (uint32_t)atomic_load(&ctl->calib_count);

	(void)state;
	for (uint64_t k = 1; k <= 1000 && (uint32_t)atomic_load(&ctl->calib_count) == calib0; k++)
		rt__process_periodic(UINT64_MAX / 2 + k * rt__proc.calib_interval);
	assert_int_equal((uint32_t)atomic_load(&ctl->calib_count), calib0 + 1);
}

/* New threads register in the directory, its slots found by the producer's own layout. */
static void test_threads_after_garbage(void **state)
{
	int registered[4] = { 0 };
	pthread_t th[4];

	(void)state;
	garble_header();
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, span_thread, &registered[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(registered[i], 1);
	}
}

/* The header, the name index and the published name offsets overwritten: names still intern, to
 * entries that hold them. */
static void test_names_after_garbage(void **state)
{
	const struct rt_shm_control *lay = &layout;
	uint32_t before = rt_name_intern("before"), id, len;
	struct rt_shm_control *ctl = garble_header();
	const char *s;

	(void)state;
	/* Every index slot names an id beyond the table, every published entry points past the arena. */
	for (uint32_t i = 0; i < lay->hash_slots; i++)
		memset((char *)ctl + lay->hash_offset + (size_t)i * 4, 0xff, 4);
	for (uint32_t i = 2; i < lay->names_capacity; i++)
		memcpy((char *)ctl + lay->names_offset + (size_t)i * 4, &(uint32_t){ GARBAGE_OFFSET }, 4);

	/* The index no longer finds "before": it gets a new id, whose entry holds it. */
	id = rt_name_intern("before");
	assert_int_not_equal(id, RT_NAME_ID_OVERFLOW);
	assert_int_not_equal(id, before);
	s = entry_of(id, &len);
	assert_non_null(s);
	assert_int_equal(len, 6);
	assert_memory_equal(s, "before", 6);
	/* A name never seen: the same. */
	id = rt_name_intern("after the garbage");
	s = entry_of(id, &len);
	assert_non_null(s);
	assert_int_equal(len, 17);
	assert_memory_equal(s, "after the garbage", 17);
}

/* The thread's open-span depth, in its ring's shared header, set far beyond the stack: a context
 * capture and a repaired scope read no entry beyond it. */
static void test_stack_depth_garbage(void **state)
{
	struct rt__thread *t;
	struct rt_context c;

	(void)state;
	t = rt__thread_peek();
	assert_non_null(t);
	{
		RT_SPAN("outer");
		rt_span_begin("left open"); /* closed by the scope's repair */
		__atomic_store_n(&t->ring->stack_depth, UINT32_MAX / 2, __ATOMIC_RELAXED);
		c = rt_context_current();
		(void)c;
	}
	assert_int_equal(rt__fast_v2.depth, 0);
	/* The repair popped one entry per span from the garbage depth. */
	assert_int_equal(__atomic_load_n(&t->ring->stack_depth, __ATOMIC_RELAXED), UINT32_MAX / 2 - 2);
	__atomic_store_n(&t->ring->stack_depth, 0, __ATOMIC_RELAXED);
	rt_span_begin("after");
	rt_span_end();
	assert_int_equal(__atomic_load_n(&t->ring->stack_depth, __ATOMIC_RELAXED), 0);
}

/* ---- random words over everything, while threads trace ---- */

#define SPRAY_WORKERS 4
#define SPRAY_WRITES 100000
#define SPRAY_MS 400
#define SPRAY_ROUNDS 100    /* each worker's, under the spray */
#define SPRAY_MAX_MS 30000 /* a machine so loaded that they could not: the test fails */

static atomic_int spray_stop;
static atomic_long spray_rounds[SPRAY_WORKERS];
static struct rt_shm_ring *_Atomic spray_rings[SPRAY_WORKERS];

/* Spans with dynamic names, a scope left to repair, logs and context captures. */
static void *spray_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	char name[32];

	if (rt_thread_register("spray") == 0 && (uintptr_t)arg < SPRAY_WORKERS)
		atomic_store(&spray_rings[(uintptr_t)arg], rt__thread_peek()->ring);
	while (!atomic_load(&spray_stop)) {
		snprintf(name, sizeof(name), "n%u", rand_r(&seed) % 5000);
		rt_span_begin(name);
		{
			RT_SPAN("scoped");
			rt_span_begin("left open");
		}
		rt_log("spray", "%u", seed);
		(void)rt_context_current();
		rt_span_end();
		if ((uintptr_t)arg < SPRAY_WORKERS)
			atomic_fetch_add(&spray_rounds[(uintptr_t)arg], 1);
	}
	return NULL;
}

static bool spray_all_ran(long rounds)
{
	for (int i = 0; i < SPRAY_WORKERS; i++)
		if (atomic_load(&spray_rounds[i]) < rounds)
			return false;
	return true;
}

/* New threads keep registering (and their rings' headers are not sprayed). */
static void *spray_spawner(void *arg)
{
	(void)arg;
	for (uintptr_t k = SPRAY_WORKERS; !atomic_load(&spray_stop); k++) {
		pthread_t t;

		if (pthread_create(&t, NULL, spray_worker, (void *)k) == 0)
			pthread_join(t, NULL);
	}
	return NULL;
}

/* Random words (0, all ones, or random) at random places of the whole control segment, its magic
 * and `active` word included, and of the workers' ring headers, while they trace: the process
 * survives, and every worker keeps tracing. The other tests' garbage is already there. */
static void test_spray_while_tracing(void **state)
{
	char *ctl = (char *)rt__proc.ctl;
	size_t words = layout.segment_size / 4;
	pthread_t th[SPRAY_WORKERS], spawner;
	unsigned seed = 12345;
	struct timespec t0, now;

	(void)state;
	for (uintptr_t i = 0; i < SPRAY_WORKERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, spray_worker, (void *)i), 0);
	assert_int_equal(pthread_create(&spawner, NULL, spray_spawner, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* At least SPRAY_WRITES words, for SPRAY_MS, until every worker did SPRAY_ROUNDS rounds
	 * meanwhile (a yield now and then lets them run on a loaded 2-core machine). */
	for (int k = 0;; k++) {
		uint32_t pick = (uint32_t)rand_r(&seed), v = pick % 3 == 0 ? 0 : pick % 3 == 1 ? UINT32_MAX
											: (uint32_t)rand_r(&seed);
		struct rt_shm_ring *r = atomic_load(&spray_rings[k % SPRAY_WORKERS]);

		memcpy(ctl + (size_t)(rand_r(&seed) % words) * 4, &v, 4);
		if (r)
			memcpy((char *)r + (size_t)(rand_r(&seed) % (sizeof(*r) / 4)) * 4, &v, 4);
		if (k % 1024 == 0) {
			long ms;

			clock_gettime(CLOCK_MONOTONIC, &now);
			ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
			if ((k >= SPRAY_WRITES && ms >= SPRAY_MS && spray_all_ran(SPRAY_ROUNDS)) || ms >= SPRAY_MAX_MS)
				break;
			sched_yield();
		}
	}
	atomic_store(&spray_stop, 1);
	for (int i = 0; i < SPRAY_WORKERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(pthread_join(spawner, NULL), 0);
	/* Every worker registered and did its rounds under the spray. */
	for (int i = 0; i < SPRAY_WORKERS; i++)
		assert_non_null(atomic_load(&spray_rings[i]));
	assert_true(spray_all_ran(SPRAY_ROUNDS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stack_depth_garbage),
		cmocka_unit_test(test_calibration_after_garbage),
		cmocka_unit_test(test_threads_after_garbage),
		cmocka_unit_test(test_names_after_garbage), /* it garbles the table too */
		cmocka_unit_test(test_spray_while_tracing), /* last: garbage everywhere */
	};

	return cmocka_run_group_tests(tests, open_consumer, close_consumer);
}
