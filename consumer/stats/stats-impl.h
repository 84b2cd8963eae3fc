/* SPDX-License-Identifier: MIT */
/* Inside the statistics model: its entries and tables, shared by the model (stats.c, stats-entries.c), its
 * views (stats-view.c) and its JSON reader and writer (stats-json.c). Not for other users. */
#ifndef RTC_STATS_IMPL_H
#define RTC_STATS_IMPL_H

#include "stats.h"

/* Open-addressing table of pointers by 64-bit hash (linear probing, backward-shift deletion). */
struct ptab {
	uint64_t *hash;
	void **item; /* NULL: free slot */
	size_t cap, n;
};

struct process_entry {
	uint32_t pid, parent;
	char *name;
	uint64_t events, spans, flagged, lost, busy_ns;
	struct rtc_process_loss loss;
	struct span_entry *other; /* "(other names)" once the name limit is reached */
};

struct thread_entry {
	uint32_t pid, tid;
	uint64_t thread_number;
	char *name;
	struct process_entry *proc;
	uint64_t busy_ns, spans, flagged, events, lost, loss_reported;
	uint64_t cpu_spans, on_cpu_ns, off_cpu_ns, ctx_voluntary, ctx_involuntary;
	uint64_t first_ns, last_ns;
};

struct span_entry {
	uint64_t hash;
	char *name;
	uint32_t name_len, pid;
	struct rtc_hist *hist; /* clean spans; allocated with the first one */
	uint64_t self_ns;
	uint64_t flagged, flagged_ns, before_attach, begin_unknown, repaired, incomplete, lost_end;
	uint64_t cpu_spans, on_cpu_ns, off_cpu_ns, ctx_voluntary, ctx_involuntary;
};

struct task_entry {
	uint64_t hash;
	char *name;
	uint32_t name_len, pid;
	struct rtc_hist *hist; /* complete tasks */
	uint64_t complete, incomplete, open;
	struct span_entry *spans[RTC_STATS_TASK_REFS];
	struct thread_entry *threads[RTC_STATS_TASK_REFS];
	uint32_t nspans, nthreads;
	uint64_t spans_more, threads_more;
};

struct live_task { /* begun, not ended */
	uint64_t id, begin_ns;
	uint32_t pid, begin_flags;
	struct task_entry *task;
};

struct open_span { /* from a snapshot */
	uint32_t pid, tid;
	uint64_t span_seq, begin_ns, running_ns;
	struct span_entry *span;
};

struct rtc_stats {
	struct rtc_stats_options opt;
	struct ptab spans, tasks, threads, processes, live, open;
	size_t nspans, ntasks, nthreads;
	struct rtc_stats_info info;
	char *clock, *host, *tool;
	/* Last lookups: consecutive events mostly share a thread and often a name. The name is compared
	 * byte for byte (event strings live only for the call, so their address proves nothing). */
	struct thread_entry *last_thread;
	struct span_entry *last_span;
};

/* A view (stats-view.c), read by the writers. */
struct rtc_stats_view {
	struct rtc_stats_info info;
	struct rtc_stats_span_row *spans;
	struct rtc_stats_task_row *tasks;
	struct rtc_stats_thread_row *threads;
	struct rtc_stats_process_row *processes;
	struct rtc_stats_open_row *open;
	size_t nspans, ntasks, nthreads, nprocesses, nopen;
	struct rtc_stats_ref *refs; /* tasks' span and thread lists, 2 * RTC_STATS_TASK_REFS per task row */
	struct rtc_hist **owned;    /* merged histograms */
	size_t nowned;
	struct rtc_hist *empty;
	enum rtc_stats_sort sort;
};

/* The statistics JSON (stats-json.c writes it, stats-json-read.c reads it). */
#define RTC_STATS_FORMAT_NAME "ringtrace-stats"
#define RTC_STATS_FORMAT_VERSION 1
/* The summary's and the counts' scalar fields: written and read by the same lists. */
#define SUMMARY_FIELDS(X)                                                                                     \
	X(start_ns) X(end_ns) X(records) X(bytes) X(processes) X(threads) X(spans) X(spans_incomplete)       \
	X(spans_repaired) X(spans_before_attach) X(spans_begin_unknown) X(tasks) X(tasks_incomplete)          \
	X(tasks_begin_unknown) X(logs) X(flows) X(unmatched_ends) X(misuse) X(lost) X(late_records)           \
	X(backlog_peak) X(gaps)
#define COUNT_FIELDS(X) X(events) X(spans) X(flagged) X(dropped) X(other_span_names) X(other_threads) \
	X(untracked_tasks) X(untracked_open)


uint64_t rtc__stats_hash(const void *p, size_t n, uint64_t seed);
void *rtc__ptab_find(const struct ptab *t, uint64_t hash, bool (*eq)(const void *item, const void *key),
		     const void *key);
int rtc__ptab_add(struct ptab *t, uint64_t hash, void *item);
void *rtc__ptab_remove(struct ptab *t, uint64_t hash, bool (*eq)(const void *item, const void *key),
		       const void *key);
void rtc__ptab_free(struct ptab *t);

/* Keys of the tables of begun tasks (tid 0, id = task id) and open spans (id = span_seq). */
struct live_key {
	uint32_t pid, tid;
	uint64_t id;
};
uint64_t rtc__stats_id_hash(uint32_t a, uint32_t b, uint64_t c);
bool rtc__stats_live_eq(const void *item, const void *key);
bool rtc__stats_open_eq(const void *item, const void *key);

/* The process of that pid if there is one (spans and tasks do not make processes: a merged file has pid 0). */
const struct process_entry *rtc__stats_process_find(const struct rtc_stats *s, uint32_t pid);
/* Find or create (NULL: limit reached or no memory, counted in info.dropped by the caller). */
struct process_entry *rtc__stats_process(struct rtc_stats *s, uint32_t pid);
struct thread_entry *rtc__stats_thread(struct rtc_stats *s, uint32_t pid, uint32_t tid);
struct span_entry *rtc__stats_span(struct rtc_stats *s, uint32_t pid, const char *name, size_t len);
struct task_entry *rtc__stats_task(struct rtc_stats *s, uint32_t pid, const char *name, size_t len);
/* The histogram of an entry, allocated on first use (NULL: no memory). */
struct rtc_hist *rtc__stats_hist(struct rtc_hist **h);
/* Replace *dst by a copy of [s, s + n) (NUL-terminated). \return 0 or -ENOMEM. */
int rtc__stats_setstr(char **dst, const char *s, size_t n);

#endif
