/* SPDX-License-Identifier: MIT */
/* Test harness: an in-process consumer that attaches to the test's own control segment and
 * collects every decoded record, per thread, for assertions. */
#ifndef RT_TEST_HARNESS_H
#define RT_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "producer.h"
#include "record.h"
#include "ring-reader.h"

struct rec_copy {
	uint32_t kind;
	uint64_t ts;
	uint64_t a, b, c, d; /* the record's first four integer fields, in wire order */
	uint64_t thread_number;
	char *str; /* NUL-terminated copy of its string field; "" when it has none */
	uint32_t str_len;
	uint32_t stack_len;
	struct rt_rec_stack_entry *stack; /* STACK records only */
};

#define HARNESS_THREADS 256

struct harness {
	struct rtc_producer p;
	struct rtc_decoder dec;
	struct {
		bool open;
		uint64_t thread_number;
		uint32_t slot;
		struct rtc_ring_reader r;
		struct rtc_chunk_cursor cursor;
	} t[HARNESS_THREADS];
	struct rec_copy *recs;
	size_t n, cap;
	uint64_t gap_records; /* overwritten records reported by the reader */
	uint64_t dropped;     /* final `dropped` counters of finished rings */
	uint64_t nested_dropped;
	uint64_t finished;    /* rings drained to the end */
	struct {
		uint64_t thread_number, dropped, unreported;
	} done[HARNESS_THREADS * 4]; /* final drop counters of finished rings */
	size_t ndone;
	pthread_t heartbeat;  /* keeps the lease alive however slowly we drain */
	_Atomic int stop;
	bool beating;
	uint64_t corrupt;
};

/* Open our own control segment and attach as its consumer. Returns 0 or -errno. */
int harness_attach(struct harness *h);

/* Read everything committed so far from every ring. */
void harness_drain(struct harness *h);

/* Records of `kind` (0: any) on thread_number (0: any thread). */
size_t harness_count(const struct harness *h, uint32_t kind, uint64_t thread_number);

/* Index of the first record of kind at or after `from`, or -1. */
long harness_find(const struct harness *h, uint32_t kind, size_t from);

void harness_fini(struct harness *h);

/* Final `dropped` counter of a finished, drained thread (reported in-stream or not). */
uint64_t harness_final_dropped(const struct harness *h, uint64_t thread_number);

/* Drops of a finished, drained thread that no LOSS record reported (the ring's final
 * unreported_dropped). */
uint64_t harness_final_unreported(const struct harness *h, uint64_t thread_number);

/* cmocka group setup/teardown attaching `harness_group` to the test process. */
extern struct harness harness_group;
int harness_group_setup(void **state);
int harness_group_teardown(void **state);

/* The calling thread's thread number (registering it). */
uint64_t harness_self_thread(void);

#endif
