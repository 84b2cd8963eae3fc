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

/* Flags on output spans and tasks. */
enum rtc_flags {
	RTC_F_INCOMPLETE = 1u << 0,    /* still open when recording stopped or its thread exited */
	RTC_F_REPAIRED = 1u << 1,      /* closed by a mis-nested end */
	RTC_F_BEFORE_ATTACH = 1u << 2, /* began before the consumer attached (true begin known) */
	RTC_F_BEGIN_UNKNOWN = 1u << 3, /* began before the consumer attached, begin unknown */
	RTC_F_LOST_END = 1u << 4,      /* its end fell into lost records */
	RTC_F_THREAD_EXIT = 1u << 5,   /* closed because its thread exited */
};

/* One decoded record on the merged timeline. */
struct rtc_event {
	uint64_t ts;     /* CLOCK_MONOTONIC ns */
	uint64_t order;  /* arrival order within its thread (stable tie breaker) */
	uint32_t thread; /* engine thread index */
	uint32_t kind;   /* enum rt_rec_kind, or RTC_EV_GAP / RTC_EV_UNREPORTED (not records) */
	uint64_t a, b, c, d;
	char *str; /* owned copy */
	uint32_t str_len;
	uint32_t stack_len;
	struct rtc_stack_item *stack; /* owned; begin_ts already in ns (0 = unknown) */
};

#define RTC_EV_GAP 100 /* a = records overwritten before the consumer read them */
#define RTC_EV_UNREPORTED 101 /* a = records dropped after the thread's last LOSS record */

enum rtc_out_kind {
	RTC_OUT_PROCESS,
	RTC_OUT_THREAD,
	RTC_OUT_SPAN,
	RTC_OUT_TASK_BEGIN,
	RTC_OUT_TASK_END,
	RTC_OUT_LOG,
	RTC_OUT_LOSS,
	RTC_OUT_FLOW,
};

struct rtc_out {
	enum rtc_out_kind kind;
	uint32_t pid, tid;
	uint64_t ts;  /* ns on the merged timeline */
	uint64_t dur; /* spans; tasks at end: duration */
	const char *name;
	uint32_t name_len;
	uint64_t id;     /* task id, flow id */
	uint64_t task;   /* span, log: the thread's task */
	uint64_t parent; /* task begin: parent task */
	uint64_t thread_number, span_seq;
	uint64_t count;    /* loss: records; flow: 0 start, 1 end */
	uint64_t self_ns;  /* span: duration minus its children's */
	uint32_t depth;    /* span nesting depth, 0 = outermost */
	uint32_t flags;    /* enum rtc_flags */
	const char *text;  /* log message, process or thread name */
	uint32_t text_len;
	const char *cat;   /* log category, flow kind */
};

struct rtc_sink {
	void (*emit)(void *ctx, const struct rtc_out *o);
	void *ctx;
};

/* What the rebuild needs to know about a thread (owned by the engine). */
struct rtc_thread_meta {
	uint32_t pid;
	uint32_t tid;
	uint64_t thread_number;
	uint32_t proc;        /* engine process index */
	uint64_t attach_ts;   /* ns: when the consumer started reading this thread */
};

struct rtc_rebuild;

/* names(ctx, proc, id) resolves a name id of process proc. */
struct rtc_rebuild *rtc_rebuild_create(const char *(*names)(void *ctx, uint32_t proc, uint32_t id), void *names_ctx);
void rtc_rebuild_destroy(struct rtc_rebuild *r);

int rtc_rebuild_add_sink(struct rtc_rebuild *r, struct rtc_sink sink);

/* Declare a process / a thread (index = engine index), emitting their metadata events. */
void rtc_rebuild_process(struct rtc_rebuild *r, uint32_t proc, uint32_t pid, const char *name);
void rtc_rebuild_thread(struct rtc_rebuild *r, uint32_t thread, const struct rtc_thread_meta *meta, const char *name);

/* Feed one event in merged order. */
void rtc_rebuild_event(struct rtc_rebuild *r, const struct rtc_event *ev);

/* A thread's records end here for good (ring drained after exit): close what is open. */
void rtc_rebuild_thread_done(struct rtc_rebuild *r, uint32_t thread, uint64_t ts);

/* Recording stops at ts: close every open span and task, flagged incomplete. */
void rtc_rebuild_finish(struct rtc_rebuild *r, uint64_t ts);

struct rtc_rebuild_counts {
	uint64_t records, spans, spans_incomplete, spans_repaired, spans_before_attach, spans_begin_unknown;
	uint64_t tasks, tasks_incomplete, logs, flows, unmatched_ends, misuse, lost, loss_events, threads;
};

void rtc_rebuild_counts(const struct rtc_rebuild *r, struct rtc_rebuild_counts *out);

/* Lost records per thread for otherData: calls fn for each thread with losses. */
void rtc_rebuild_each_loss(const struct rtc_rebuild *r, void (*fn)(void *ctx, const struct rtc_thread_meta *m, uint64_t lost),
			   void *ctx);

#endif
