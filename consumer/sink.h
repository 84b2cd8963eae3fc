/* SPDX-License-Identifier: MIT */
/* The consumer's output interface: the rebuilt events (spans, tasks, logs, losses, flows, process and
 * thread metadata) on the merged timeline, and the versioned sink that outputs subscribe with. */
#ifndef RTC_SINK_H
#define RTC_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

/* Flags on spans and tasks. */
enum rtc_flags {
	RTC_F_INCOMPLETE = 1u << 0,    /* still open when recording stopped or its thread exited */
	RTC_F_REPAIRED = 1u << 1,      /* closed by a mis-nested end */
	RTC_F_BEFORE_ATTACH = 1u << 2, /* began before the consumer attached, begin not recorded (true begin from the open-span stack) */
	RTC_F_BEGIN_UNKNOWN = 1u << 3, /* began before the consumer attached, begin unknown: ts is the attach time */
	RTC_F_LOST_END = 1u << 4,      /* its end fell into lost records */
	RTC_F_THREAD_EXIT = 1u << 5,   /* closed because its thread exited */
	RTC_F_COARSE_BEGIN = 1u << 6,  /* begin taken from the producer's coarse idle clock (resolution in trace info) */
	RTC_F_CPU = 1u << 7,           /* cpu_ns / ctx_* are valid */
	RTC_F_OPEN = 1u << 8,          /* snapshot: still open now; dur is how long it has run so far */
};

enum rtc_out_kind {
	RTC_OUT_PROCESS,    /* pid, text = name, parent (parent pid, 0 if none) */
	RTC_OUT_THREAD,     /* pid, tid, thread_number, text = name (again when renamed) */
	RTC_OUT_SPAN,       /* a span that ended: ts = begin, dur, depth, self_ns, task, span_seq, flags */
	RTC_OUT_SPAN_OPEN,  /* snapshot only: a span open now (ts = begin, dur = so far, RTC_F_OPEN) */
	RTC_OUT_TASK_BEGIN, /* id, parent, name, flags */
	RTC_OUT_TASK_END,   /* id, dur, flags */
	RTC_OUT_LOG,        /* name = category, text = message, task, span_seq */
	RTC_OUT_LOSS,       /* count records lost on the thread, since = first lost (ns), cat = reason */
	RTC_OUT_FLOW,       /* hand-off: count 0 = start (capture), 1 = end (adopt); id; cat; name = "adopt"|"inherit" */
	RTC_OUT_UNTRACED,   /* what a producer could not trace (not records): count more since the last one,
			     * cat = "threads-untraced" | "names-overflowed" | "tasks-untracked"; pid, tid = 0 */
};

/* One rebuilt event. Strings are not NUL-terminated (use the lengths) and live only for the call. */
struct rtc_out {
	enum rtc_out_kind kind;
	uint32_t pid, tid;
	uint64_t ts;  /* CLOCK_MONOTONIC ns on the merged timeline */
	uint64_t dur; /* spans; tasks at end: duration */
	const char *name;
	uint32_t name_len;
	uint64_t id;     /* task id, flow id */
	uint64_t task;   /* span, log: the thread's task */
	uint64_t parent; /* task begin: parent task; process: parent pid */
	uint64_t thread_number, span_seq;
	uint64_t count;   /* loss: records; flow: 0 start, 1 end */
	uint64_t since;   /* loss: ns of the first lost record */
	uint64_t self_ns; /* span: duration minus its children's on the same thread */
	uint64_t cpu_ns;  /* span with RTC_F_CPU: on-CPU time of its thread during the span */
	uint32_t ctx_voluntary, ctx_involuntary; /* span with RTC_F_CPU: context switches during it */
	uint32_t depth;   /* span nesting depth, 0 = outermost */
	uint32_t pid_gen; /* tasks: how many earlier processes of the trace had this pid (ids are per process) */
	uint32_t flags;   /* enum rtc_flags */
	const char *text; /* log message, process or thread name */
	uint32_t text_len;
	const char *cat;  /* log category (also in name), loss reason, flow/span category (NUL-terminated) */
	/* Spans and tasks: nonzero when known, and then equal values with equal pids denote the same name
	 * of the same process within this trace (sinks may key their tables by it and the pid instead of
	 * the name's bytes; not by it alone: a capture may declare a process index again for another pid). */
	uint64_t name_key;
};

/* What a sink learns when the trace begins. */
struct rtc_trace_info {
	uint64_t origin_ns;      /* ts 0 of the trace (CLOCK_MONOTONIC ns) */
	uint64_t origin_real_ns; /* CLOCK_REALTIME at origin_ns, 0 if unknown */
	uint64_t attach_ns;      /* when the consumer started (live) or the capture's recording started */
	const char *clock;       /* "tsc", "monotonic" */
	const char *host;
	const char *tool;        /* "ringtrace 0.x.y" */
	uint64_t coarse_resolution_ns; /* resolution of begins flagged RTC_F_COARSE_BEGIN */
	bool live;               /* attached to running producers (not a capture being converted) */
};

/* Per-thread loss, by reason. */
struct rtc_thread_loss {
	uint32_t pid, tid;
	uint64_t thread_number;
	uint64_t full;          /* discard mode: ring full */
	uint64_t signal;        /* a signal handler interrupted a record */
	uint64_t overwritten;   /* overwrite mode: overwritten before read */
	uint64_t full_at_exit;  /* dropped after the thread's last LOSS record */
	uint64_t not_recorded;  /* producer stopped recording (consumer lease lost) */
};

/* Per-process counts the producer kept about what it could not trace at all. */
struct rtc_process_loss {
	uint32_t pid;
	uint64_t threads_untraced; /* no directory slot or no ring could be made */
	uint64_t names_overflowed; /* names recorded as "<overflow>" */
	uint64_t tasks_untracked;  /* tasks with no table slot */
	uint64_t overwritten;      /* flight recorder: records overwritten before any consumer read them */
	uint64_t stack_overflows;  /* spans deeper than the tracked stack */
};

/* What a sink learns when the trace ends. Arrays live only for the call. */
struct rtc_summary {
	uint64_t start_ns, end_ns;  /* recording start/stop on the merged timeline */
	uint64_t records, bytes;
	uint64_t resync_records;    /* of records: the producer's open-span snapshots (at an attach, after a
				     * loss, at each flight-recorder sub-buffer); how many depends on timing */
	uint64_t processes, threads;
	uint64_t spans, spans_incomplete, spans_repaired, spans_before_attach, spans_begin_unknown;
	uint64_t spans_too_deep;    /* nested deeper than the rebuild keeps (rebuild.h): counted, not shown */
	uint64_t tasks, tasks_incomplete, tasks_begin_unknown, logs, flows;
	uint64_t unmatched_ends, misuse;
	uint64_t lost;              /* every record lost, all reasons */
	uint64_t late_records;      /* merged after the watermark passed them */
	uint64_t backlog_peak;      /* live: most bytes read and not yet processed */
	uint64_t gaps;              /* live: times recording of a process stopped and resumed */
	const char *clock;          /* "tsc", "monotonic" or "none" */
	uint64_t coarse_resolution_ns; /* of begins flagged RTC_F_COARSE_BEGIN */
	const struct rtc_thread_loss *thread_loss;
	size_t nthread_loss;
	const struct rtc_process_loss *process_loss;
	size_t nprocess_loss;
};

#define RTC_SINK_VERSION 1

/* A subscriber. Calls come from the pipeline's processing thread, in this order: begin once, then
 * event (any number), then end once, then close. A sink added while the trace runs gets begin,
 * then (if it asked for one) a snapshot of what is open now as events, then the live events.
 * Any callback may be NULL. close releases the sink and returns its error (0 or -errno): for file
 * outputs, whether the file was completely written; `ok` is false when the recording failed and
 * the output should not be kept. `stream`, if set, receives the raw message stream (before
 * decoding) from the start: such sinks (the raw capture) must subscribe before the trace begins. */
struct rtc_sink_ops {
	uint32_t version; /* RTC_SINK_VERSION: fields are only ever added at the end */
	void (*begin)(void *ctx, const struct rtc_trace_info *info);
	void (*event)(void *ctx, const struct rtc_out *ev);
	void (*end)(void *ctx, const struct rtc_summary *summary);
	int (*close)(void *ctx, bool ok);
	const struct rtc_stream_ops *stream;
	/* At the processing thread's sync points, at least every 100 ms while recording (now_ns:
	 * CLOCK_MONOTONIC): for work on a clock, e.g. flushing a live stream, rolling a window. */
	void (*tick)(void *ctx, uint64_t now_ns);
};

struct rtc_sink {
	const struct rtc_sink_ops *ops;
	void *ctx;
	const char *name; /* for messages: the output's path, "statistics", "websocket client 3" */
};

#endif
