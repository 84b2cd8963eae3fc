/* SPDX-License-Identifier: MIT */
/* The one fan-out of the consumer: the rebuilt event stream (and, for capture sinks, the raw message
 * stream) to any number of subscribers, added and removed at any time from any thread. */
#ifndef RTC_PIPELINE_H
#define RTC_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "sink.h"

/*
 * Threads: one processing thread calls the rtc_pipeline_{begin,event,sync,end,close} functions (and
 * with them every sink callback). rtc_pipeline_subscribe() and rtc_pipeline_unsubscribe() may be
 * called from any thread, the processing thread included (from inside a sink callback too); a
 * change takes effect at the processing thread's next sync point, which it reaches at least every
 * 100 ms while running. Sinks are never called concurrently.
 */
struct rtc_pipeline;

struct rtc_pipeline *rtc_pipeline_create(void);

/* Closes (with ok = false) any sink still subscribed. */
void rtc_pipeline_destroy(struct rtc_pipeline *p);

enum rtc_subscribe_flags {
	RTC_SUBSCRIBE_SNAPSHOT = 1u << 0, /* joining a running trace: first what is open now */
};

/* Add a sink. Returns its id (> 0), -ENOMEM, or -EBUSY for a stream sink once the trace began or
 * any sink once it ended. */
int64_t rtc_pipeline_subscribe(struct rtc_pipeline *p, struct rtc_sink sink, unsigned flags);

/* Remove a sink: it gets no more events and is closed (ok = true) on the processing thread. From
 * another thread this waits for the close and returns its result; from the processing thread it
 * returns 0 at once and the close happens at the next sync point. -ENOENT for an unknown id;
 * -EBUSY once the trace ended (rtc_pipeline_close() closes it with the others). */
int rtc_pipeline_unsubscribe(struct rtc_pipeline *p, int64_t id);

/* Who provides snapshots: fn(ctx, sink) emits what is open now to sink's event callback, as
 * RTC_OUT_PROCESS, RTC_OUT_THREAD, RTC_OUT_TASK_BEGIN and RTC_OUT_SPAN_OPEN events. */
void rtc_pipeline_set_snapshot(struct rtc_pipeline *p, void (*fn)(void *ctx, const struct rtc_sink *sink), void *ctx);

/* Processing thread (e.g. from a sink callback): a snapshot of what is open now into `into`, as a
 * subscriber joining now gets it. Nothing when no provider is set. */
void rtc_pipeline_snapshot(struct rtc_pipeline *p, const struct rtc_sink *into);

/* ---- processing thread ---- */

/* The stream as it arrives, for stream sinks (ctx: the pipeline). */
const struct rtc_stream_ops *rtc_pipeline_stream_ops(void);

void rtc_pipeline_begin(struct rtc_pipeline *p, const struct rtc_trace_info *info);
void rtc_pipeline_event(struct rtc_pipeline *p, const struct rtc_out *ev);

/* Apply pending subscriptions (begin + snapshot for joiners) and removals. Cheap when there are
 * none (one atomic load). */
void rtc_pipeline_sync(struct rtc_pipeline *p);

/* Sync, then give every sink its tick. Call at least every 100 ms. */
void rtc_pipeline_tick(struct rtc_pipeline *p, uint64_t now_ns);

void rtc_pipeline_end(struct rtc_pipeline *p, const struct rtc_summary *summary);

/* Close every sink (ok: keep the outputs). Returns the first error; report(ctx, name, err) is
 * called for each failing sink (may be NULL). */
int rtc_pipeline_close(struct rtc_pipeline *p, bool ok, void (*report)(void *ctx, const char *name, int err),
		       void *ctx);

/* Sinks subscribed now (processing thread's view). */
size_t rtc_pipeline_count(const struct rtc_pipeline *p);

#endif
