/* SPDX-License-Identifier: MIT */
/* The consumer engine: attaches to running producers (or replays a raw capture), drains their
 * rings, merges every thread's records on one timeline, rebuilds spans and tasks and feeds the
 * Chrome JSON writer, the statistics and the raw capture writer.
 *
 * Threads, live: the thread in rtc_engine_run() only drains the rings (live.h) and queues what it
 * read (stream-queue.h); a processing thread decodes, merges, rebuilds and formats; the JSON writer
 * has a thread of its own (chrome.h) and a helper thread keeps the leases alive (live.h). So slow
 * output delays the trace file, never the draining, until max_backlog bytes wait. */
#ifndef RTC_ENGINE_H
#define RTC_ENGINE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "rebuild.h"

struct rtc_engine_options {
	const char *json_path; /* Chrome JSON output, or NULL */
	const char *raw_path;  /* raw capture output, or NULL */
	bool all;              /* attach to every traced process of this user, new ones too */
	double duration;       /* seconds; 0: until stopped */
	bool until_exit;       /* stop once every attached process exited and was drained */
	bool status;           /* live one-line status on stderr */
	unsigned poll_us;      /* drain interval; 0: 1000 */
	FILE *log;             /* messages (errors naming the process); NULL: stderr */
	pid_t self;            /* in-process engine: the pid it runs in (its own thread is skipped) */
	size_t max_backlog;    /* bytes read but not yet processed before reading pauses; 0: 512 MiB */
};

struct rtc_engine;

struct rtc_engine *rtc_engine_create(const struct rtc_engine_options *o);
void rtc_engine_destroy(struct rtc_engine *e);

/* Attach to a running traced process. Returns 0 or a negative error, already reported. */
int rtc_engine_attach(struct rtc_engine *e, pid_t pid);

/* Attach as soon as pid's control segment appears (a program we launched). */
void rtc_engine_expect(struct rtc_engine *e, pid_t pid);

/* Run until *stop (an atomic: set it from a signal handler or another thread), the duration, or (until_exit) every process gone. Writes the outputs.
 * Returns 0 or a negative error of the outputs. */
int rtc_engine_run(struct rtc_engine *e, atomic_int *stop);

/* Replay a raw capture into the configured outputs: Chrome JSON (json_path) and/or a copy of the
 * capture (raw_path; without json_path the records are copied, not decoded). */
int rtc_engine_convert(struct rtc_engine *e, const char *raw_path);

struct rtc_engine_summary {
	struct rtc_rebuild_counts rb;
	uint64_t processes, threads, bytes, json_events, late;
	uint64_t backlog_peak; /* live: most bytes read and not yet processed */
	double seconds;
};

void rtc_engine_summary(const struct rtc_engine *e, struct rtc_engine_summary *s);

/* Print the summary and the span/task statistics. */
void rtc_engine_report(const struct rtc_engine *e, FILE *f);

#endif
