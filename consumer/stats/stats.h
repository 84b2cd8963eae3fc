/* SPDX-License-Identifier: MIT */
/* The span statistics model, fed one rebuilt event at a time (the pipeline wraps it as a sink): per span
 * name and process, per task name, per thread and per process; views sorted for tables, JSON, exports. */
#ifndef RTC_STATS_MODEL_H
#define RTC_STATS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"
#include "hist.h"
#include "sink.h"

/*
 * What is measured (docs/statistics.md has the details):
 *  - per span name per process: the spans without any of RTC_STATS_FLAGGED ("clean" spans) make the
 *    distribution: count, total, self (total minus time in child spans on the same thread, as rebuilt),
 *    mean, stddev, min, p50, p90, p99, p99.9, max (histogram: 0.78% error). Flagged spans are counted
 *    apart, per flag, with their total duration, and never enter the distribution. With RTC_F_CPU, the
 *    clean spans' on-CPU time (cpu_ns), off-CPU time (duration - on-CPU) and context switches.
 *  - per task name per process: tasks begun, complete (begin and end seen, no flag), incomplete (ended with
 *    a flag), open (begun, not ended yet); the distribution of complete tasks' durations; the span names
 *    and threads seen working for it (up to RTC_STATS_TASK_REFS each, then counted).
 *  - per thread: busy time (sum of outermost spans, depth 0, flagged or not), spans, flagged spans,
 *    events (rebuilt events of the thread: spans, logs, flows), lost records, on/off-CPU of outermost spans.
 *  - per process: the same summed over its threads, plus the producer's loss counts (from the summary).
 *  - open spans, from snapshot events (RTC_OUT_SPAN_OPEN): shown with their running time, which grows with
 *    the latest time seen in the stream.
 * Memory is bounded by the options: past a limit, spans of new names are counted in the process's
 * "(other names)" entry, new threads in "(other threads)", and untracked tasks or open spans counted.
 *
 * Thread safety: none. Feed and read from one thread; a view points into the model and is valid until
 * the next call that changes the model (event, end, clear_open, destroy).
 */
#define RTC_STATS_FLAGGED \
	(RTC_F_BEFORE_ATTACH | RTC_F_BEGIN_UNKNOWN | RTC_F_REPAIRED | RTC_F_INCOMPLETE | RTC_F_LOST_END)
#define RTC_STATS_TASK_REFS 32
#define RTC_STATS_OTHER_NAMES "(other names)"

struct rtc_stats;

struct rtc_stats_options {
	size_t max_spans;   /* (span name, process) entries; 0: 4096 (a histogram each: 19 KB) */
	size_t max_tasks;   /* (task name, process) entries; 0: 1024 */
	size_t max_threads; /* 0: 65536 */
	size_t max_open;    /* tasks begun and not ended, open spans from snapshots; 0: 1 << 20 */
};

/* \return a new model, or NULL with errno (ENOMEM). opt may be NULL. */
struct rtc_stats *rtc_stats_create(const struct rtc_stats_options *opt);
void rtc_stats_destroy(struct rtc_stats *s);

/* The sink calls. begin and end are optional; info and summary are copied. */
void rtc_stats_begin(struct rtc_stats *s, const struct rtc_trace_info *info);
void rtc_stats_event(struct rtc_stats *s, const struct rtc_out *ev);
/* The same with the sink's signature (ctx: the model), for the sink's table: one call less per event. */
void rtc_stats_event_cb(void *ctx, const struct rtc_out *ev);
void rtc_stats_end(struct rtc_stats *s, const struct rtc_summary *summary);
/* Forget the open spans (before feeding a fresh snapshot). */
void rtc_stats_clear_open(struct rtc_stats *s);
/* Add src into dst (runs read from several files, one side of a diff): entries matched by name and pid,
 * histograms and counters added, summaries summed (start and end: the earliest and latest), open spans
 * joined. Limits apply as when feeding events. \return 0, -ENOMEM or -E2BIG (something was left
 * out, counted in the info where it can be), -EINVAL (dst == src). */
int rtc_stats_merge(struct rtc_stats *dst, const struct rtc_stats *src);

/* Row ordering. Every key sorts descending except NAME; ties by name, then pid. */
enum rtc_stats_sort {
	RTC_STATS_SORT_TOTAL,
	RTC_STATS_SORT_SELF,
	RTC_STATS_SORT_COUNT,
	RTC_STATS_SORT_MEAN,
	RTC_STATS_SORT_P50,
	RTC_STATS_SORT_P99,
	RTC_STATS_SORT_MAX,
	RTC_STATS_SORT_NAME,
};
/* "total", "self", "count", "mean", "p50", "p99", "max", "name". \return 0 or -EINVAL. */
int rtc_stats_sort_parse(const char *word, enum rtc_stats_sort *out);

struct rtc_stats_dist {
	uint64_t count, total_ns;
	double mean_ns, stddev_ns;
	uint64_t min_ns, p50_ns, p90_ns, p99_ns, p999_ns, max_ns;
	const struct rtc_hist *hist; /* never NULL in a view (an empty histogram when count is 0) */
};

struct rtc_stats_span_row {
	const char *name; /* not NUL-terminated: name_len bytes, as the producer named it */
	size_t name_len;
	uint32_t pid;        /* 0 when merged over processes */
	const char *process; /* NUL-terminated, NULL when unknown or merged */
	struct rtc_stats_dist d; /* clean spans */
	uint64_t self_ns;
	uint64_t flagged, flagged_ns; /* spans with any RTC_STATS_FLAGGED flag, their total duration */
	uint64_t before_attach, begin_unknown, repaired, incomplete, lost_end; /* per flag (may overlap) */
	uint64_t open, open_longest_ns; /* open now (from snapshots) and the longest running time so far */
	uint64_t cpu_spans;             /* clean spans with CPU data */
	uint64_t on_cpu_ns, off_cpu_ns, ctx_voluntary, ctx_involuntary; /* totals over cpu_spans */
};

struct rtc_stats_ref {
	const char *name; /* span name (name_len bytes) or thread name (NUL-terminated, may be NULL) */
	size_t name_len;
	uint32_t pid, tid; /* threads */
};

struct rtc_stats_task_row {
	const char *name;
	size_t name_len;
	uint32_t pid;
	const char *process;
	uint64_t count; /* complete + incomplete + open */
	uint64_t complete, incomplete, open;
	struct rtc_stats_dist d; /* complete tasks */
	const struct rtc_stats_ref *spans, *threads;
	size_t nspans, nthreads;
	uint64_t spans_more, threads_more; /* span events whose name / thread did not fit in the lists */
};

struct rtc_stats_thread_row {
	uint32_t pid, tid;
	const char *name, *process; /* NUL-terminated or NULL */
	uint64_t busy_ns, spans, flagged, events, lost;
	uint64_t cpu_spans, on_cpu_ns, off_cpu_ns, ctx_voluntary, ctx_involuntary; /* outermost spans */
	uint64_t first_ns, last_ns; /* first begin and last end seen */
};

struct rtc_stats_process_row {
	uint32_t pid, parent;
	const char *name;
	uint64_t threads, busy_ns, spans, flagged, events, lost;
	uint64_t threads_untraced, names_overflowed, tasks_untracked, overwritten, stack_overflows; /* producer's */
};

struct rtc_stats_open_row {
	const char *name;
	size_t name_len;
	uint32_t pid, tid;
	uint64_t begin_ns, running_ns;
};

/* Whole-trace facts. */
struct rtc_stats_info {
	uint64_t origin_ns, attach_ns, first_ns, last_ns; /* last_ns: latest time seen (the "now" of open spans) */
	bool live, ended;
	const char *clock, *host, *tool; /* NUL-terminated or NULL */
	struct rtc_summary summary;      /* from end; zero before (its arrays are not kept: NULL; clock kept) */
	uint64_t events, spans, flagged, dropped; /* dropped: events not counted (no memory, limits) */
	uint64_t other_span_names, other_threads, untracked_tasks, untracked_open;
};

struct rtc_stats_view_options {
	bool merge_processes;    /* one row per name over all processes */
	enum rtc_stats_sort sort;
};

struct rtc_stats_view;

/* A sorted snapshot of the model (see the validity rule above). \return NULL with errno on failure. */
struct rtc_stats_view *rtc_stats_view_create(const struct rtc_stats *s, const struct rtc_stats_view_options *opt);
void rtc_stats_view_destroy(struct rtc_stats_view *v);
const struct rtc_stats_info *rtc_stats_view_info(const struct rtc_stats_view *v);
const struct rtc_stats_span_row *rtc_stats_view_spans(const struct rtc_stats_view *v, size_t *n);
const struct rtc_stats_task_row *rtc_stats_view_tasks(const struct rtc_stats_view *v, size_t *n);
const struct rtc_stats_thread_row *rtc_stats_view_threads(const struct rtc_stats_view *v, size_t *n); /* by busy */
const struct rtc_stats_process_row *rtc_stats_view_processes(const struct rtc_stats_view *v, size_t *n); /* by pid */
const struct rtc_stats_open_row *rtc_stats_view_open(const struct rtc_stats_view *v, size_t *n); /* longest first */
/* The span rows as export rows (export.h), row for row; strings point into the view. \return the count. */
size_t rtc_stats_view_export_rows(const struct rtc_stats_view *v, struct rtc_export_row *rows, size_t max);

/*
 * JSON: the format of `ringtrace stats --json`, `record --stats-file` and what `diff` reads
 * (docs/statistics.md). Per process unless merged; histograms included unless no_hists (then the file
 * cannot be compared, only shown).
 */
struct rtc_stats_json_options {
	bool merge_processes;
	bool no_hists;
	enum rtc_stats_sort sort;
};
/* \return 0, -EIO (stream error), -ENOMEM. */
int rtc_stats_write_json(const struct rtc_stats *s, const struct rtc_stats_json_options *opt, FILE *f);
/* Reads a statistics JSON into a new model (untrusted input: checked, bounded by opt's limits and the
 * input's size). \return 0, -EPROTO (malformed or inconsistent, with a message in err if err_len),
 * -E2BIG (past a limit), -ENOMEM. */
int rtc_stats_read_json(const char *buf, size_t len, const struct rtc_stats_options *opt, struct rtc_stats **out,
			char *err, size_t err_len);

/* A small summary for other files (the Chrome JSON's otherData "stats"): one object with the span rows
 * that have the most total time (at most top; name, pid, count, total, mean, p50, p90, p99, max, flagged,
 * open), how many rows there are, and the counts. Per process. \return 0, -EIO, -ENOMEM. */
int rtc_stats_write_summary_json(const struct rtc_stats *s, size_t top, FILE *f);

/* Aligned text tables. */
struct rtc_stats_table_options {
	size_t top;        /* rows per table, 0: all; the table says how many more there are */
	bool no_tasks, no_threads, no_open; /* leave sections out */
	bool color;        /* reserved */
};
/* \return 0, -EIO, -ENOMEM. */
int rtc_stats_write_table(const struct rtc_stats_view *v, const struct rtc_stats_table_options *opt, FILE *f);
/* The span rows as CSV (RFC 4180, a header line, durations in ns). \return 0, -EIO. */
int rtc_stats_write_csv(const struct rtc_stats_view *v, FILE *f);
/* A duration in human units ("812ns", "12.3µs", "4.56ms", "1.23s", "2m05s", "1h02m"). \return buf. */
const char *rtc_stats_format_ns(uint64_t ns, char *buf, size_t cap);

#endif
