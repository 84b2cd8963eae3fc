/* SPDX-License-Identifier: MIT */
/* Inside the statistics model: its entries and tables, shared by the model (stats.c, stats-entries.c), its
 * views (stats-view.c) and its JSON reader and writer (stats-json.c). Not for other users. */
#ifndef RTC_STATS_IMPL_H
#define RTC_STATS_IMPL_H

#include "keyed-hash.h"
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
	/* Of events on threads without a thread entry (past the limit) only: views add the threads'. */
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
	size_t live_hint; /* where the live task of its last span was (a hint: rtc__live_find checks) */
	struct task_entry *ref_task; /* the task name it was last added to (rtc__stats_add_ref) */
};

struct span_entry {
	uint64_t hash;
	char *name;
	uint32_t name_len, pid;
	bool other; /* a process's "(other names)": never found by a name_key (each span is counted) */
	struct task_entry *ref_task; /* the task name it was last added to (rtc__stats_add_ref) */
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

/* Tasks begun and not ended: slots inline in an open-addressing table by (pid, id), no allocation per
 * task, backward-shift deletion (so a slot's index is only a hint: check the key). task NULL: free. */
struct live_task {
	uint64_t id, begin_ns;
	uint32_t pid, begin_flags;
	struct task_entry *task;
};

struct live_table {
	struct live_task *slot;
	size_t cap, n; /* cap: 0 or a power of two */
};

/* The random key of the statistics' hashes, one per process (stats-entries.c): the ids and names
 * they hash come from untrusted captures and segments. */
uint64_t rtc__stats_key(void);

static inline size_t rtc__live_home(const struct live_table *t, uint32_t pid, uint64_t id)
{
	uint64_t key = rtc__stats_key();

	return (size_t)rtc_hash_u64(key, id ^ rtc_hash_u64(key, pid)) & (t->cap - 1);
}

/* The slot of (pid, id), or NULL. hint: an index where it was before (SIZE_MAX: none). */
static inline struct live_task *rtc__live_find(const struct live_table *t, uint32_t pid, uint64_t id, size_t hint)
{
	if (hint < t->cap && t->slot[hint].task && t->slot[hint].id == id && t->slot[hint].pid == pid)
		return &t->slot[hint];
	if (!t->n)
		return NULL;
	for (size_t i = rtc__live_home(t, pid, id);; i = (i + 1) & (t->cap - 1)) {
		struct live_task *l = &t->slot[i];

		if (!l->task)
			return NULL;
		if (l->id == id && l->pid == pid)
			return l;
	}
}
/* The slot of (pid, id): the one there (task set), or a new one (task NULL: the caller sets it; the table
 * grows; NULL: no memory). */
struct live_task *rtc__live_add(struct live_table *t, uint32_t pid, uint64_t id);
void rtc__live_remove(struct live_table *t, struct live_task *l);

struct open_span { /* from a snapshot */
	uint32_t pid, tid;
	uint64_t span_seq, begin_ns, running_ns;
	struct span_entry *span;
};

struct rtc_stats {
	struct rtc_stats_options opt;
	/* info.first_ns and last_ns: of events without a thread entry only; views fold in the threads'. */
	struct ptab spans, tasks, threads, processes, open;
	struct live_table live;
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
	struct task_slot { /* the same for task names */
		uint64_t head, tail;
		uint32_t len, pid;
		struct task_entry *e;
	} task_cache[256];
	/* Span and task entries by the events' name_key (sink.h), when they carry one: one comparison. */
	struct key_slot {
		uint64_t key;
		uint32_t pid;
		void *e;
	} key_cache[1024];
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

/* A name's cache key: its first and last 8 bytes (head, tail) and a hash of them, its length and pid. */
static inline uint64_t rtc__name_key(const char *name, size_t len, uint32_t pid, uint64_t *head_out, uint64_t *tail_out)
{
	uint64_t head = 0, tail = 0, h;

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
	*head_out = head;
	*tail_out = tail;
	return h;
}

/* The span entry of a name (created within the limits; "(other names)" past them): the cache first. */
static inline struct span_entry *rtc__stats_span(struct rtc_stats *s, uint32_t pid, const char *name, size_t len)
{
	uint64_t head, tail, h = rtc__name_key(name, len, pid, &head, &tail);
	struct span_slot *c = &s->span_cache[h >> 54];

	if (c->e && c->head == head && c->tail == tail && c->len == len && c->pid == pid &&
	    (len <= 16 || __builtin_memcmp(c->e->name + 8, name + 8, len - 16) == 0))
		return c->e;
	return rtc__stats_span_slow(s, pid, name, len, c, head, tail);
}
struct task_entry *rtc__stats_task(struct rtc_stats *s, uint32_t pid, const char *name, size_t len);

/* The span entry of an event: by its name_key when it has one, else by name. */
static inline struct span_entry *rtc__stats_span_of(struct rtc_stats *s, const struct rtc_out *ev)
{
	struct key_slot *k;
	struct span_entry *e;

	if (!ev->name_key)
		return rtc__stats_span(s, ev->pid, ev->name, ev->name_len);
	/* A name_key is a process index's name, and the entries are a pid's: the pid is compared too. One
	 * index may name two pids (a capture declares an index again for another pid; a thread is declared
	 * with a pid of its own), and taking the key alone counted one pid's spans under the other's. */
	k = &s->key_cache[(ev->name_key * 0x9e3779b97f4a7c15ull) >> 54];
	if (k->key == ev->name_key && k->pid == ev->pid)
		return k->e;
	e = rtc__stats_span(s, ev->pid, ev->name, ev->name_len);
	if (e && !e->other)
		*k = (struct key_slot){ ev->name_key, ev->pid, e };
	return e;
}

/* The same through a cache like the spans' (tasks of a name begin again and again). */
static inline struct task_entry *rtc__stats_task_cached(struct rtc_stats *s, uint32_t pid, const char *name,
							size_t len)
{
	uint64_t head, tail, h = rtc__name_key(name, len, pid, &head, &tail);
	struct task_slot *c = &s->task_cache[h >> 56];
	struct task_entry *e;

	if (c->e && c->head == head && c->tail == tail && c->len == len && c->pid == pid &&
	    (len <= 16 || __builtin_memcmp(c->e->name + 8, name + 8, len - 16) == 0))
		return c->e;
	e = rtc__stats_task(s, pid, name, len);
	if (e && len <= UINT32_MAX)
		*c = (struct task_slot){ head, tail, (uint32_t)len, pid, e };
	return e;
}

/* The task entry of an event: by its name_key when it has one (kept apart from the spans' keys by the
 * top bit), else by name. */
static inline struct task_entry *rtc__stats_task_of(struct rtc_stats *s, const struct rtc_out *ev)
{
	uint64_t key = ev->name_key | 1ull << 63;
	struct key_slot *k;
	struct task_entry *e;

	if (!ev->name_key)
		return rtc__stats_task_cached(s, ev->pid, ev->name, ev->name_len);
	k = &s->key_cache[(key * 0x9e3779b97f4a7c15ull) >> 54];
	if (k->key == key && k->pid == ev->pid) /* the pid too, as for spans */
		return k->e;
	e = rtc__stats_task_cached(s, ev->pid, ev->name, ev->name_len);
	if (e)
		*k = (struct key_slot){ key, ev->pid, e };
	return e;
}
/* Adds item to a task's span or thread list unless there (set: the same as an open-addressing set); counts it
 * in *more past the list's size. \return whether it is in the list. */
bool rtc__stats_add_ref(void **list, const void **set, uint32_t *n, uint64_t *more, void *item);
/* The histogram of an entry, allocated on first use (NULL: no memory). */
struct rtc_hist *rtc__stats_hist_new(struct rtc_hist **h);
static inline struct rtc_hist *rtc__stats_hist(struct rtc_hist **h)
{
	return __builtin_expect(*h != NULL, 1) ? *h : rtc__stats_hist_new(h);
}
/* Replace *dst by a copy of [s, s + n) (NUL-terminated). \return 0 or -ENOMEM. */
int rtc__stats_setstr(char **dst, const char *s, size_t n);

#endif
