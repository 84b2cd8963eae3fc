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
	const void *seen[2][2 * RTC_STATS_TASK_REFS]; /* the same as sets (open addressing), for add_ref */
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
	/* Lookup caches, direct-mapped: a span name by its first and last 8 bytes, length and pid (the rest
	 * compared on a hit: event strings live only for the call, so their address proves nothing); a thread
	 * by pid and tid. Entries live as long as the model, so a slot never dangles. */
	struct span_slot {
		uint64_t head, tail; /* the name's first and last 8 bytes (all of it up to 16 bytes) */
		uint32_t len, pid;
		struct span_entry *e;
	} span_cache[1024];
	struct thread_entry *thread_cache[64];
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

/* A mean or stddev rounded to ns; saturated sums give means at 2^64, which do not convert. */
static inline uint64_t rtc__stats_ns(double v)
{
	if (!(v > 0))
		return 0;
	return v >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)(v + 0.5);
}

/* The statistics JSON (stats-json.c writes it, stats-json-read.c reads it). */
#define RTC_STATS_FORMAT_NAME "ringtrace-stats"
#define RTC_STATS_FORMAT_VERSION 1
#define RTC_STATS_MAX_NAME 65536 /* bytes of a name written and read back */
/* The summary's and the counts' scalar fields: written and read by the same lists. */
#define SUMMARY_FIELDS(X)                                                                                     \
	X(start_ns) X(end_ns) X(records) X(bytes) X(processes) X(threads) X(spans) X(spans_incomplete)       \
	X(spans_repaired) X(spans_before_attach) X(spans_begin_unknown) X(tasks) X(tasks_incomplete)          \
	X(tasks_begin_unknown) X(logs) X(flows) X(unmatched_ends) X(misuse) X(lost) X(late_records)           \
	X(backlog_peak) X(gaps) X(coarse_resolution_ns)
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
struct thread_entry *rtc__stats_thread_slow(struct rtc_stats *s, uint32_t pid, uint32_t tid,
					    struct thread_entry **slot);

static inline struct thread_entry *rtc__stats_thread(struct rtc_stats *s, uint32_t pid, uint32_t tid)
{
	struct thread_entry **slot = &s->thread_cache[(tid ^ pid * 31) & 63];

	if (*slot && (*slot)->pid == pid && (*slot)->tid == tid)
		return *slot;
	return rtc__stats_thread_slow(s, pid, tid, slot);
}
struct span_entry *rtc__stats_span_slow(struct rtc_stats *s, uint32_t pid, const char *name, size_t len,
					struct span_slot *slot, uint64_t head, uint64_t tail);

static inline uint64_t rtc__load64(const char *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, 8);
	return v;
}

/* The span entry of a name (created within the limits; "(other names)" past them): the cache first. */
static inline struct span_entry *rtc__stats_span(struct rtc_stats *s, uint32_t pid, const char *name, size_t len)
{
	uint64_t head = 0, tail = 0, h;
	struct span_slot *c;

	if (len >= 8) {
		head = rtc__load64(name);
		tail = rtc__load64(name + len - 8);
	} else if (len >= 4) {
		uint32_t a, b;

		__builtin_memcpy(&a, name, 4);
		__builtin_memcpy(&b, name + len - 4, 4);
		head = (uint64_t)a << 32 | b;
	} else if (len) {
		head = (uint64_t)(unsigned char)name[0] << 16 | (uint64_t)(unsigned char)name[len / 2] << 8 |
		       (unsigned char)name[len - 1];
	}
	h = head * 0x9e3779b97f4a7c15ull ^ (tail + ((uint64_t)len << 32 | pid)) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	h *= 0x94d049bb133111ebull;
	c = &s->span_cache[h >> 54];
	if (c->e && c->head == head && c->tail == tail && c->len == len && c->pid == pid &&
	    (len <= 16 || __builtin_memcmp(c->e->name + 8, name + 8, len - 16) == 0))
		return c->e;
	return rtc__stats_span_slow(s, pid, name, len, c, head, tail);
}
struct task_entry *rtc__stats_task(struct rtc_stats *s, uint32_t pid, const char *name, size_t len);
/* Adds item to a task's span or thread list unless there (set: the same as an open-addressing set); counts it
 * in *more past the list's size. */
void rtc__stats_add_ref(void **list, const void **set, uint32_t *n, uint64_t *more, void *item);
/* The histogram of an entry, allocated on first use (NULL: no memory). */
struct rtc_hist *rtc__stats_hist(struct rtc_hist **h);
/* Replace *dst by a copy of [s, s + n) (NUL-terminated). \return 0 or -ENOMEM. */
int rtc__stats_setstr(char **dst, const char *s, size_t n);

#endif
