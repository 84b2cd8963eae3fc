/* SPDX-License-Identifier: MIT */
/* The processing side of the consumer: receives the message stream (live or from a capture),
 * decodes each chunk once, maps timestamps, merges every thread by watermark, rebuilds spans and
 * tasks and feeds the pipeline's subscribers. */
#ifndef RTC_PROCESSOR_H
#define RTC_PROCESSOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline.h"
#include "stream.h"

/* One thread uses a processor (the processing thread). */
struct rtc_processor;

/* log: messages naming the process (malformed records, ...). NULL + errno. */
struct rtc_processor *rtc_processor_create(struct rtc_pipeline *p, FILE *log);
void rtc_processor_destroy(struct rtc_processor *pr);

/* The stream receiver (ctx: the processor). */
const struct rtc_stream_ops *rtc_processor_ops(void);

/* Start the trace: the pipeline's begin. */
void rtc_processor_begin(struct rtc_processor *pr, const struct rtc_trace_info *info);

/* Whether chunks are decoded at all (default true): a conversion from capture to capture with no
 * other output only copies. */
void rtc_processor_set_decode(struct rtc_processor *pr, bool decode);

/* Called every 4096 events and between chunks: a chance to step aside (may be NULL). */
void rtc_processor_set_pause(struct rtc_processor *pr, void (*pause)(void *ctx), void *ctx);

/* Stop: merge what is left, close every open span and task at end_ns (0: the newest timestamp
 * seen), and give the pipeline its end with the summary. extra holds what only the caller knows
 * (backlog_peak, start_ns); its counts are filled in. */
void rtc_processor_finish(struct rtc_processor *pr, uint64_t end_ns, struct rtc_summary *extra);

/* Records decoded so far (any thread: a relaxed gauge for status lines). */
uint64_t rtc_processor_records(const struct rtc_processor *pr);

/* The end time the stream announced (its END message), 0 if none came. */
uint64_t rtc_processor_end_ns(const struct rtc_processor *pr);

/* Whether the stream's END message has arrived. */
bool rtc_processor_ended(const struct rtc_processor *pr);

/* Clock of the processes seen: "tsc" if any uses the TSC, else "monotonic" ("none" before any). */
const char *rtc_processor_clock(const struct rtc_processor *pr);

#endif
