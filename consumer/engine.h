/* SPDX-License-Identifier: MIT */
/* The consumer engine: wires live draining (or a capture being replayed) to the processing side and
 * the pipeline of outputs (Chrome JSON, raw capture, statistics, and whatever else subscribes).
 *
 * Threads, live: the thread in rtc_engine_run() only drains the rings (live.h) and queues what it
 * read (stream-queue.h); a processing thread decodes, merges, rebuilds and feeds the pipeline
 * (processor.h, pipeline.h); file sinks write from threads of their own, and a helper thread keeps
 * the leases alive (live.h). So slow output delays the trace file, never the draining, until
 * max_backlog bytes wait. */
#ifndef RTC_ENGINE_H
#define RTC_ENGINE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pipeline.h"
#include "sink.h"

struct rtc_engine_options {
	const char *json_path; /* Chrome JSON output (or speedscope, see format), or NULL */
	enum rtc_format { RTC_FORMAT_CHROME, RTC_FORMAT_SPEEDSCOPE } format; /* of json_path */
	const char *raw_path;  /* raw capture output, or NULL */
	bool all;              /* attach to every traced process of this user, new ones too */
	double duration;       /* seconds; 0: until stopped */
	bool until_exit;       /* stop once every attached process exited and was drained */
	bool status;           /* live one-line status on stderr */
	unsigned poll_us;      /* drain interval; 0: 1000 */
	FILE *log;             /* messages (errors naming the process); NULL: stderr */
	pid_t self;            /* in-process engine: the pid it runs in (its own thread is skipped) */
	size_t max_backlog;    /* bytes read but not yet processed before reading pauses; 0: 512 MiB */
	const char *listen;    /* serve the live page, trace and statistics here ("HOST:PORT"), or NULL */
	bool serve;            /* serve even without listen (127.0.0.1, any port) */
	bool quiet;            /* no informational messages (the server's URL, ...) */
	bool no_stats;         /* no statistics (benchmarks measure the pipeline's stages apart) */
	const char *stats_path; /* the statistics JSON (stats/stats.h), written at the end, or NULL */
};

struct rtc_engine;

struct rtc_engine *rtc_engine_create(const struct rtc_engine_options *o);
void rtc_engine_destroy(struct rtc_engine *e);

/* Attach to a running traced process. Returns 0 or a negative error, already reported. */
int rtc_engine_attach(struct rtc_engine *e, pid_t pid);

/* A program we launched with rtc_engine_session_env() in its environment: it and everything it
 * starts are recorded from their first record; recording goes on while it runs (rtc_live_expect). */
void rtc_engine_expect(struct rtc_engine *e, pid_t pid);

/* RINGTRACE_SESSION's value for a program to launch. 0 or -ENOENT. */
int rtc_engine_session_env(const struct rtc_engine *e, char *buf, size_t len);

/* The pipeline, to subscribe more outputs (before or while running). */
struct rtc_pipeline *rtc_engine_pipeline(struct rtc_engine *e);

/* Run until *stop (an atomic: set it from a signal handler or another thread), the duration, or
 * (until_exit) every process gone. Writes the outputs. Returns 0 or a negative error of the outputs. */
int rtc_engine_run(struct rtc_engine *e, atomic_int *stop);

/* Replay a raw capture into the configured outputs. */
int rtc_engine_convert(struct rtc_engine *e, const char *raw_path);

struct rtc_engine_summary {
	struct rtc_summary s; /* arrays valid until the engine is destroyed */
	double seconds;       /* recorded: end - start */
	bool live;
};

void rtc_engine_summary(const struct rtc_engine *e, struct rtc_engine_summary *s);

/* The engine's statistics model (fed from the pipeline's processing thread: read it there, e.g. from a
 * sink's tick, or once rtc_engine_run()/rtc_engine_convert() returned). Lives as long as the engine. */
struct rtc_stats *rtc_engine_stats(const struct rtc_engine *e);

/* Print the summary and the span/task statistics. */
void rtc_engine_report(const struct rtc_engine *e, FILE *f);

#endif
