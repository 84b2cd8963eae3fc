/* SPDX-License-Identifier: MIT */
/* The stream processor's state, shared by its files: processor.c (processes, threads, merge,
 * summary) and processor-decode.c (records of a chunk into merge events). */
#ifndef RTC_PROCESSOR_PRIVATE_H
#define RTC_PROCESSOR_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ringtrace/shm-format.h>

#include "clockmap.h"
#include "merge.h"
#include "name-table.h"
#include "processor.h"
#include "record.h"
#include "stream.h"

struct pproc {
	uint32_t pid;
	bool declared;
	struct rtc_clockmap clock;
	struct rtc_name_table names;
	struct rtc_process_loss loss;
	uint64_t coarse_resolution_ns;
	char name[RT_SHM_PROCESS_NAME_LEN + 1];
};

struct pthread_ {
	uint32_t proc;
	bool declared;
	bool finished; /* its thread_done came: no more records */
	bool notified; /* rebuild was told */
	struct rtc_chunk_cursor cursor;
	uint64_t last_ns; /* newest decoded record on our timeline */
	uint64_t unreported_lost;
};

struct rtc_processor {
	struct rtc_pipeline *pipe;
	FILE *log;
	struct pproc **procs;
	uint32_t nprocs, procs_cap;
	struct pthread_ *threads;
	uint32_t nthreads, threads_cap;
	uint32_t *done; /* threads whose thread_done came since the last watermark */
	size_t ndone, done_cap;
	struct rtc_merge *merge;
	struct rtc_rebuild *rb;
	void (*pause)(void *ctx);
	void *pause_ctx;
	uint64_t end_ns;
	bool ended;
	bool tsc, any_clock;
	bool no_decode;
	uint64_t coarse_resolution_ns;
	uint64_t corrupt_chunks;
	uint64_t gaps;
	_Atomic uint64_t records; /* relaxed: a gauge */
	uint64_t bytes;
	struct rtc_process_loss *loss_out;
};

/* "ringtrace: " and the message, a line on the processor's log. */
void pr_say(struct rtc_processor *pr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The declared thread of that index, or NULL. */
struct pthread_ *pr_thread_at(struct rtc_processor *pr, uint32_t index);

/* A STACK event's own copy of its n entries, begins converted to process p's timeline. */
void pr_own_stack(struct rtc_event *ev, const struct rt_rec_stack_entry *entries, uint32_t n, struct pproc *p);

/* The stream's chunk message: its records decoded into merge events. */
void pr_on_chunk(void *ctx, const struct rtc_stream_chunk *c);

#endif
