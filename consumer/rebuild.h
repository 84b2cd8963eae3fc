/* SPDX-License-Identifier: MIT */
/* Rebuilds spans, tasks, logs and losses from merged records, following Go's runtime/trace rules
 * and going past them (true begins from stack snapshots, repairs instead of failures), and hands
 * the results to sinks (Chrome JSON writer, statistics). */
#ifndef RTC_REBUILD_H
#define RTC_REBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "sink.h"

/* One decoded record on the merged timeline. Its string field (thread name, log message) and
 * STACK entries point at copies the event owns (`str`, `stack`). */
struct rtc_event {
	uint64_t ts;     /* CLOCK_MONOTONIC ns */
	uint32_t thread; /* engine thread index */
	uint32_t kind;   /* enum rt_rec_kind, or RTC_EV_GAP / RTC_EV_UNREPORTED / RTC_EV_SHARED_STACK (not records) */
	union rt_rec_body u; /* LOSS: first_ts already in ns; STACK entries' begin_ts in ns (0 = unknown) */
	char *str;
	struct rt_rec_stack_entry *stack;
};

#define RTC_EV_GAP 100        /* u.loss.records = records overwritten before the consumer read them */
#define RTC_EV_UNREPORTED 101 /* u.loss.records = records dropped after the thread's last LOSS record */
/* u.stack and `stack`: the thread's open spans as the consumer read them from its shared stack
 * (live.c), close to but not exactly at this point of its records (see rebuild.c). */
#define RTC_EV_SHARED_STACK 102

/* What the rebuild needs to know about a thread (owned by the engine). */
struct rtc_thread_meta {
	uint32_t pid;
	uint32_t tid;
	uint64_t thread_number;
	uint32_t proc;        /* engine process index */
	uint64_t attach_ts;   /* ns: when the consumer started reading this thread */
};

/* Spans nested deeper than this on one thread are counted (depth_overflows, the summary's
 * spans_too_deep) and not rebuilt (their ends are skipped, so the spans kept still nest right); it
 * bounds the memory and the work of an end record naming an unknown span. */
#define RTC_REBUILD_MAX_DEPTH 1024

/* Thread-compatible: one thread uses a rebuild. */
struct rtc_rebuild;

/* names(ctx, proc, id, &len) resolves a name id of process proc (never NULL); every rebuilt event
 * goes to emit(emit_ctx, ev). */
struct rtc_rebuild *rtc_rebuild_create(const char *(*names)(void *ctx, uint32_t proc, uint32_t id, uint32_t *len),
				       void *names_ctx, void (*emit)(void *ctx, const struct rtc_out *ev), void *emit_ctx);
void rtc_rebuild_destroy(struct rtc_rebuild *r);

/* Declare a process / a thread (index = engine index), emitting their metadata events. */
void rtc_rebuild_process(struct rtc_rebuild *r, uint32_t proc, uint32_t pid, const char *name, uint32_t parent_pid);
void rtc_rebuild_thread(struct rtc_rebuild *r, uint32_t thread, const struct rtc_thread_meta *meta, const char *name);

/* Feed one event in merged order. */
void rtc_rebuild_event(struct rtc_rebuild *r, const struct rtc_event *ev);

/* The producer of proc could not trace count more of what (threads, names, tasks): an event. */
void rtc_rebuild_untraced(struct rtc_rebuild *r, uint32_t proc, uint64_t ts, uint64_t count, const char *what);

/* A task that was open when the consumer attached (begin in ns, 0 unknown). Its begin event comes
 * out when the merged stream reaches its begin (the next event at or after it, or
 * rtc_rebuild_advance()), so that it is in time order with the other processes' events; at once
 * when the stream is past it already. */
void rtc_rebuild_task_open(struct rtc_rebuild *r, uint32_t proc, uint64_t id, uint64_t parent, uint32_t name_id,
			   uint64_t begin, uint32_t flags, uint32_t tid);

/* The merged stream is complete up to ts (the watermark): what waits for it comes out. */
void rtc_rebuild_advance(struct rtc_rebuild *r, uint64_t ts);

/* Recording of process proc stopped between from and to (ns). */
void rtc_rebuild_gap(struct rtc_rebuild *r, uint32_t proc, uint64_t from, uint64_t to, uint64_t not_recorded);

/* A thread's records end here for good (ring drained after exit): close what is open. */
void rtc_rebuild_thread_done(struct rtc_rebuild *r, uint32_t thread, uint64_t ts);

/* Recording stops at ts: close every open span and task, flagged incomplete. */
void rtc_rebuild_finish(struct rtc_rebuild *r, uint64_t ts);

/* What is open now, as events to fn: processes, threads, open tasks (RTC_OUT_TASK_BEGIN) and open
 * spans (RTC_OUT_SPAN_OPEN, dur = now - begin), each thread's outermost first. */
void rtc_rebuild_snapshot(struct rtc_rebuild *r, uint64_t now, void (*fn)(void *ctx, const struct rtc_out *ev),
			  void *ctx);

struct rtc_rebuild_counts {
	uint64_t records, resync_records, spans, spans_incomplete, spans_repaired, spans_before_attach, spans_begin_unknown;
	uint64_t tasks, tasks_incomplete, tasks_begin_unknown, logs, flows, unmatched_ends, misuse, lost, loss_events;
	uint64_t threads, depth_overflows;
};

void rtc_rebuild_counts(const struct rtc_rebuild *r, struct rtc_rebuild_counts *out);

/* Lost records per thread, by reason (threads with none are left out). The array lives until the
 * next call or destroy. */
void rtc_rebuild_thread_loss(struct rtc_rebuild *r, const struct rtc_thread_loss **out, size_t *n);

#endif
