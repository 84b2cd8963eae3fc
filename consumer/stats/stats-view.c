/* SPDX-License-Identifier: MIT */
/* Views of the statistics model: rows per span name, task name, thread, process and open span, merged
 * over processes when asked, with percentiles computed and sorted by the chosen key. */
#include "stats-impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void dist_of(struct rtc_stats_dist *d, const struct rtc_hist *h)
{
	static const double q[] = { 0.5, 0.9, 0.99, 0.999 };
	uint64_t p[4];

	rtc_hist_percentiles(h, q, p, 4);
	d->hist = h;
	d->count = rtc_hist_count(h);
	d->total_ns = rtc_hist_sum(h);
	d->mean_ns = rtc_hist_mean(h);
	d->stddev_ns = rtc_hist_stddev(h);
	d->min_ns = rtc_hist_min(h);
	d->max_ns = rtc_hist_max(h);
	d->p50_ns = p[0];
	d->p90_ns = p[1];
	d->p99_ns = p[2];
	d->p999_ns = p[3];
}

static uint64_t sort_value(const struct rtc_stats_span_row *r, enum rtc_stats_sort key)
{
	switch (key) {
	case RTC_STATS_SORT_SELF: return r->self_ns;
	case RTC_STATS_SORT_COUNT: return r->d.count + r->flagged;
	case RTC_STATS_SORT_MEAN: return rtc__stats_ns(r->d.mean_ns);
	case RTC_STATS_SORT_P50: return r->d.p50_ns;
	case RTC_STATS_SORT_P99: return r->d.p99_ns;
	case RTC_STATS_SORT_MAX: return r->d.max_ns;
	default: return r->d.total_ns;
	}
}

static int cmp_name(const char *a, size_t la, uint32_t pa, const char *b, size_t lb, uint32_t pb)
{
	int c = memcmp(a, b, la < lb ? la : lb);

	if (c)
		return c;
	if (la != lb)
		return la < lb ? -1 : 1;
	return (pa > pb) - (pa < pb);
}

static int cmp_span_rows(const void *x, const void *y, void *ctx)
{
	const struct rtc_stats_span_row *a = x, *b = y;
	enum rtc_stats_sort key = *(const enum rtc_stats_sort *)ctx;

	if (key != RTC_STATS_SORT_NAME) {
		uint64_t va = sort_value(a, key), vb = sort_value(b, key);

		if (va != vb)
			return va > vb ? -1 : 1;
	}
	return cmp_name(a->name, a->name_len, a->pid, b->name, b->name_len, b->pid);
}

static int cmp_task_rows(const void *x, const void *y, void *ctx)
{
	const struct rtc_stats_task_row *a = x, *b = y;
	enum rtc_stats_sort key = *(const enum rtc_stats_sort *)ctx;

	if (key != RTC_STATS_SORT_NAME) {
		uint64_t va = key == RTC_STATS_SORT_COUNT ? a->count : a->d.total_ns,
			 vb = key == RTC_STATS_SORT_COUNT ? b->count : b->d.total_ns;

		if (va != vb)
			return va > vb ? -1 : 1;
	}
	return cmp_name(a->name, a->name_len, a->pid, b->name, b->name_len, b->pid);
}

static int cmp_threads(const void *x, const void *y)
{
	const struct rtc_stats_thread_row *a = x, *b = y;

	if (a->busy_ns != b->busy_ns)
		return a->busy_ns > b->busy_ns ? -1 : 1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return (a->tid > b->tid) - (a->tid < b->tid);
}

static int cmp_processes(const void *x, const void *y)
{
	const struct rtc_stats_process_row *a = x, *b = y;

	return (a->pid > b->pid) - (a->pid < b->pid);
}

static int cmp_open(const void *x, const void *y)
{
	const struct rtc_stats_open_row *a = x, *b = y;

	if (a->running_ns != b->running_ns)
		return a->running_ns > b->running_ns ? -1 : 1;
	return cmp_name(a->name, a->name_len, a->pid, b->name, b->name_len, b->pid);
}

/* Rows grouped by name (merged) or one per entry: index of an entry's row, found by its pointer. */
struct rowmap {
	const void *entry;
	size_t row;
};

static int cmp_rowmap(const void *x, const void *y)
{
	const struct rowmap *a = x, *b = y;

	return ((uintptr_t)a->entry > (uintptr_t)b->entry) - ((uintptr_t)a->entry < (uintptr_t)b->entry);
}

static size_t row_of(const struct rowmap *m, size_t n, const void *entry)
{
	struct rowmap key = { entry, 0 };
	const struct rowmap *r = bsearch(&key, m, n, sizeof(*m), cmp_rowmap);

	return r ? r->row : SIZE_MAX;
}

/* The row of a name when merging: a linear-probing table of row indices + 1 (0 = free). */
struct namemap {
	size_t *slot, cap;
};

static size_t name_row(struct namemap *nm, const char *name, size_t len, const char *(*name_at)(void *, size_t, size_t *),
		       void *ctx, size_t next)
{
	size_t mask = nm->cap - 1;

	for (size_t i = rtc__stats_hash(name, len, 0) & mask;; i = (i + 1) & mask) {
		size_t l;
		const char *n;

		if (!nm->slot[i]) {
			nm->slot[i] = next + 1;
			return next;
		}
		n = name_at(ctx, nm->slot[i] - 1, &l);
		if (l == len && memcmp(n, name, len) == 0)
			return nm->slot[i] - 1;
	}
}

static const char *span_row_name(void *ctx, size_t i, size_t *len)
{
	const struct rtc_stats_span_row *r = (const struct rtc_stats_span_row *)ctx + i;

	*len = r->name_len;
	return r->name;
}

static const char *task_row_name(void *ctx, size_t i, size_t *len)
{
	const struct rtc_stats_task_row *r = (const struct rtc_stats_task_row *)ctx + i;

	*len = r->name_len;
	return r->name;
}

static struct rtc_hist *own_hist(struct rtc_stats_view *v)
{
	struct rtc_hist *h = rtc_hist_create();

	if (h)
		v->owned[v->nowned++] = h;
	return h;
}

static int namemap_init(struct namemap *nm, size_t n)
{
	nm->cap = 16;
	while (nm->cap < 2 * n)
		nm->cap *= 2;
	nm->slot = calloc(nm->cap, sizeof(*nm->slot));
	return nm->slot ? 0 : -ENOMEM;
}

static const char *process_name(const struct rtc_stats *s, uint32_t pid)
{
	const struct process_entry *p = rtc__stats_process_find(s, pid);

	return p ? p->name : NULL;
}

static int build_spans(struct rtc_stats_view *v, const struct rtc_stats *s, bool merge, struct rowmap *map)
{
	struct namemap nm = { 0 };
	size_t k = 0;

	v->spans = calloc(s->spans.n ? s->spans.n : 1, sizeof(*v->spans));
	if (!v->spans || (merge && namemap_init(&nm, s->spans.n)))
		return -ENOMEM;
	for (size_t i = 0; i < s->spans.cap; i++) {
		const struct span_entry *e = s->spans.item[i];
		struct rtc_stats_span_row *r;
		size_t row;

		if (!e)
			continue;
		row = merge ? name_row(&nm, e->name, e->name_len, span_row_name, v->spans, v->nspans) : v->nspans;
		r = &v->spans[row];
		if (row == v->nspans) {
			v->nspans++;
			r->name = e->name;
			r->name_len = e->name_len;
			if (!merge) {
				r->pid = e->pid;
				r->process = process_name(s, e->pid);
				r->d.hist = e->hist;
			}
		}
		map[k++] = (struct rowmap){ e, row };
		if (merge && e->hist) {
			if (!r->d.hist && !(r->d.hist = own_hist(v))) {
				free(nm.slot);
				return -ENOMEM;
			}
			rtc_hist_merge((struct rtc_hist *)r->d.hist, e->hist);
		}
		r->self_ns += e->self_ns;
		r->flagged += e->flagged;
		r->flagged_ns += e->flagged_ns;
		r->before_attach += e->before_attach;
		r->begin_unknown += e->begin_unknown;
		r->repaired += e->repaired;
		r->incomplete += e->incomplete;
		r->lost_end += e->lost_end;
		r->cpu_spans += e->cpu_spans;
		r->on_cpu_ns += e->on_cpu_ns;
		r->off_cpu_ns += e->off_cpu_ns;
		r->ctx_voluntary += e->ctx_voluntary;
		r->ctx_involuntary += e->ctx_involuntary;
	}
	free(nm.slot);
	for (size_t i = 0; i < v->nspans; i++)
		dist_of(&v->spans[i].d, v->spans[i].d.hist ? v->spans[i].d.hist : v->empty);
	qsort(map, k, sizeof(*map), cmp_rowmap);
	return 0;
}

static void add_task_ref(struct rtc_stats_ref *list, size_t *n, uint64_t *more, struct rtc_stats_ref ref,
			 bool thread)
{
	for (size_t i = 0; i < *n; i++)
		if (thread ? (list[i].pid == ref.pid && list[i].tid == ref.tid)
			   : (list[i].name_len == ref.name_len && memcmp(list[i].name, ref.name, ref.name_len) == 0))
			return;
	if (*n < RTC_STATS_TASK_REFS)
		list[(*n)++] = ref;
	else
		(*more)++;
}

static int build_tasks(struct rtc_stats_view *v, const struct rtc_stats *s, bool merge)
{
	struct namemap nm = { 0 };
	size_t n = s->tasks.n ? s->tasks.n : 1;

	v->tasks = calloc(n, sizeof(*v->tasks));
	v->refs = calloc(n * 2 * RTC_STATS_TASK_REFS, sizeof(*v->refs));
	if (!v->tasks || !v->refs || (merge && namemap_init(&nm, s->tasks.n)))
		return -ENOMEM;
	for (size_t i = 0; i < s->tasks.cap; i++) {
		const struct task_entry *e = s->tasks.item[i];
		struct rtc_stats_task_row *r;
		struct rtc_stats_ref *spans, *threads;
		size_t row;

		if (!e)
			continue;
		row = merge ? name_row(&nm, e->name, e->name_len, task_row_name, v->tasks, v->ntasks) : v->ntasks;
		r = &v->tasks[row];
		spans = v->refs + row * 2 * RTC_STATS_TASK_REFS;
		threads = spans + RTC_STATS_TASK_REFS;
		if (row == v->ntasks) {
			v->ntasks++;
			r->name = e->name;
			r->name_len = e->name_len;
			r->spans = spans;
			r->threads = threads;
			if (!merge) {
				r->pid = e->pid;
				r->process = process_name(s, e->pid);
				r->d.hist = e->hist;
			}
		}
		if (merge && e->hist) {
			if (!r->d.hist && !(r->d.hist = own_hist(v))) {
				free(nm.slot);
				return -ENOMEM;
			}
			rtc_hist_merge((struct rtc_hist *)r->d.hist, e->hist);
		}
		r->complete += e->complete;
		r->incomplete += e->incomplete;
		r->open += e->open;
		r->spans_more += e->spans_more;
		r->threads_more += e->threads_more;
		for (uint32_t k = 0; k < e->nspans; k++)
			add_task_ref(spans, &r->nspans, &r->spans_more,
				     (struct rtc_stats_ref){ e->spans[k]->name, e->spans[k]->name_len, 0, 0 }, false);
		for (uint32_t k = 0; k < e->nthreads; k++)
			add_task_ref(threads, &r->nthreads, &r->threads_more,
				     (struct rtc_stats_ref){ e->threads[k]->name, 0, e->threads[k]->pid, e->threads[k]->tid },
				     true);
	}
	free(nm.slot);
	for (size_t i = 0; i < v->ntasks; i++) {
		struct rtc_stats_task_row *r = &v->tasks[i];

		dist_of(&r->d, r->d.hist ? r->d.hist : v->empty);
		r->count = r->complete + r->incomplete + r->open;
	}
	return 0;
}

static uint64_t add_sat_u64(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Processes' rows: their own counts (events of threads without an entry) plus their threads'. */
static int build_threads(struct rtc_stats_view *v, const struct rtc_stats *s)
{
	v->threads = calloc(s->threads.n ? s->threads.n : 1, sizeof(*v->threads));
	v->processes = calloc(s->processes.n ? s->processes.n : 1, sizeof(*v->processes));
	if (!v->threads || !v->processes)
		return -ENOMEM;
	for (size_t i = 0; i < s->threads.cap; i++) {
		const struct thread_entry *t = s->threads.item[i];

		if (t)
			v->threads[v->nthreads++] = (struct rtc_stats_thread_row){
				.pid = t->pid, .tid = t->tid, .name = t->name, .process = t->proc->name,
				.busy_ns = t->busy_ns, .spans = t->spans, .flagged = t->flagged, .events = t->events,
				.lost = t->lost, .cpu_spans = t->cpu_spans, .on_cpu_ns = t->on_cpu_ns,
				.off_cpu_ns = t->off_cpu_ns, .ctx_voluntary = t->ctx_voluntary,
				.ctx_involuntary = t->ctx_involuntary,
				.first_ns = t->first_ns == UINT64_MAX ? 0 : t->first_ns, .last_ns = t->last_ns,
			};
	}
	for (size_t i = 0; i < s->processes.cap; i++) {
		const struct process_entry *p = s->processes.item[i];

		if (p)
			v->processes[v->nprocesses++] = (struct rtc_stats_process_row){
				.pid = p->pid, .parent = p->parent, .name = p->name,
				.busy_ns = p->busy_ns, .spans = p->spans, .flagged = p->flagged, .events = p->events,
				.lost = p->lost, .threads_untraced = p->loss.threads_untraced,
				.names_overflowed = p->loss.names_overflowed, .tasks_untracked = p->loss.tasks_untracked,
				.overwritten = p->loss.overwritten, .stack_overflows = p->loss.stack_overflows,
			};
	}
	qsort(v->processes, v->nprocesses, sizeof(*v->processes), cmp_processes);
	for (size_t i = 0; i < v->nthreads; i++) { /* threads per process, by pid, and their counts */
		const struct rtc_stats_thread_row *t = &v->threads[i];
		struct rtc_stats_process_row key = { .pid = t->pid }, *p;

		p = bsearch(&key, v->processes, v->nprocesses, sizeof(*v->processes), cmp_processes);
		if (!p)
			continue;
		p->threads++;
		p->busy_ns = add_sat_u64(p->busy_ns, t->busy_ns);
		p->spans = add_sat_u64(p->spans, t->spans);
		p->flagged = add_sat_u64(p->flagged, t->flagged);
		p->events = add_sat_u64(p->events, t->events);
		p->lost = add_sat_u64(p->lost, t->lost);
	}
	qsort(v->threads, v->nthreads, sizeof(*v->threads), cmp_threads);
	return 0;
}

static int build_open(struct rtc_stats_view *v, const struct rtc_stats *s, const struct rowmap *map, size_t nmap)
{
	v->open = calloc(s->open.n ? s->open.n : 1, sizeof(*v->open));
	if (!v->open)
		return -ENOMEM;
	for (size_t i = 0; i < s->open.cap; i++) {
		const struct open_span *o = s->open.item[i];
		struct rtc_stats_open_row *r;
		size_t row;

		if (!o)
			continue;
		r = &v->open[v->nopen++];
		r->name = o->span->name;
		r->name_len = o->span->name_len;
		r->pid = o->pid;
		r->tid = o->tid;
		r->begin_ns = o->begin_ns;
		r->running_ns = o->running_ns;
		if (v->info.last_ns > o->begin_ns && v->info.last_ns - o->begin_ns > r->running_ns)
			r->running_ns = v->info.last_ns - o->begin_ns;
		row = row_of(map, nmap, o->span);
		if (row != SIZE_MAX) {
			v->spans[row].open++;
			if (r->running_ns > v->spans[row].open_longest_ns)
				v->spans[row].open_longest_ns = r->running_ns;
		}
	}
	qsort(v->open, v->nopen, sizeof(*v->open), cmp_open);
	return 0;
}

struct rtc_stats_view *rtc_stats_view_create(const struct rtc_stats *s, const struct rtc_stats_view_options *opt)
{
	struct rtc_stats_view *v = calloc(1, sizeof(*v));
	struct rowmap *map = calloc(s->spans.n ? s->spans.n : 1, sizeof(*map));
	bool merge = opt && opt->merge_processes;
	int rc = -ENOMEM;

	if (!v || !map)
		goto fail;
	v->sort = opt ? opt->sort : RTC_STATS_SORT_TOTAL;
	v->info = s->info;
	for (size_t i = 0; i < s->threads.cap; i++) { /* events with a thread entry keep their times there */
		const struct thread_entry *t = s->threads.item[i];

		if (t && t->first_ns < v->info.first_ns)
			v->info.first_ns = t->first_ns;
		if (t && t->last_ns > v->info.last_ns)
			v->info.last_ns = t->last_ns;
	}
	if (v->info.first_ns == UINT64_MAX)
		v->info.first_ns = 0;
	v->owned = calloc(s->spans.n + s->tasks.n + 1, sizeof(*v->owned));
	v->empty = rtc_hist_create();
	if (!v->owned || !v->empty)
		goto fail;
	if ((rc = build_spans(v, s, merge, map)) || (rc = build_tasks(v, s, merge)) || (rc = build_threads(v, s)) ||
	    (rc = build_open(v, s, map, s->spans.n)))
		goto fail;
	qsort_r(v->spans, v->nspans, sizeof(*v->spans), cmp_span_rows, &v->sort);
	qsort_r(v->tasks, v->ntasks, sizeof(*v->tasks), cmp_task_rows, &v->sort);
	free(map);
	return v;
fail:
	free(map);
	rtc_stats_view_destroy(v);
	errno = -rc;
	return NULL;
}

void rtc_stats_view_destroy(struct rtc_stats_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nowned; i++)
		rtc_hist_destroy(v->owned[i]);
	free(v->owned);
	rtc_hist_destroy(v->empty);
	free(v->spans);
	free(v->tasks);
	free(v->refs);
	free(v->threads);
	free(v->processes);
	free(v->open);
	free(v);
}

const struct rtc_stats_info *rtc_stats_view_info(const struct rtc_stats_view *v)
{
	return &v->info;
}

const struct rtc_stats_span_row *rtc_stats_view_spans(const struct rtc_stats_view *v, size_t *n)
{
	*n = v->nspans;
	return v->spans;
}

const struct rtc_stats_task_row *rtc_stats_view_tasks(const struct rtc_stats_view *v, size_t *n)
{
	*n = v->ntasks;
	return v->tasks;
}

const struct rtc_stats_thread_row *rtc_stats_view_threads(const struct rtc_stats_view *v, size_t *n)
{
	*n = v->nthreads;
	return v->threads;
}

const struct rtc_stats_process_row *rtc_stats_view_processes(const struct rtc_stats_view *v, size_t *n)
{
	*n = v->nprocesses;
	return v->processes;
}

const struct rtc_stats_open_row *rtc_stats_view_open(const struct rtc_stats_view *v, size_t *n)
{
	*n = v->nopen;
	return v->open;
}

size_t rtc_stats_view_export_rows(const struct rtc_stats_view *v, struct rtc_export_row *rows, size_t max)
{
	size_t n = v->nspans < max ? v->nspans : max;

	for (size_t i = 0; i < n; i++) {
		const struct rtc_stats_span_row *r = &v->spans[i];

		rows[i] = (struct rtc_export_row){
			.name = r->name, .name_len = r->name_len, .pid = r->pid, .process = r->process,
			.count = r->d.count, .total_ns = r->d.total_ns, .self_ns = r->self_ns, .mean_ns = r->d.mean_ns,
			.stddev_ns = r->d.stddev_ns, .min_ns = r->d.min_ns, .p50_ns = r->d.p50_ns, .p90_ns = r->d.p90_ns,
			.p99_ns = r->d.p99_ns, .p999_ns = r->d.p999_ns, .max_ns = r->d.max_ns,
			.has_cpu = r->cpu_spans > 0,
			.on_cpu_ns = r->cpu_spans ? (double)r->on_cpu_ns / (double)r->cpu_spans : 0,
			.off_cpu_ns = r->cpu_spans ? (double)r->off_cpu_ns / (double)r->cpu_spans : 0,
		};
	}
	return n;
}
