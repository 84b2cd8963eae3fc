/* SPDX-License-Identifier: MIT */
/* The statistics model fed rebuilt events: self time with deep nesting on several threads and processes,
 * flagged spans counted apart, tasks, CPU breakdown, open spans, limits, and its JSON read back. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats/stats.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Every event's strings are copied into this buffer first: the model must not keep event pointers. */
static char scratch[256];

static void feed(struct rtc_stats *s, struct rtc_out ev)
{
	if (ev.name) {
		memcpy(scratch, ev.name, ev.name_len);
		ev.name = scratch;
	}
	rtc_stats_event(s, &ev);
	memset(scratch, 'X', sizeof(scratch));
}

static struct rtc_out span(uint32_t pid, uint32_t tid, const char *name, uint64_t ts, uint64_t dur, uint32_t depth,
			   uint64_t self, uint32_t flags)
{
	return (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = pid, .tid = tid, .name = name,
				 .name_len = (uint32_t)strlen(name), .ts = ts, .dur = dur, .depth = depth,
				 .self_ns = self, .flags = flags };
}

static const struct rtc_stats_span_row *find_span(const struct rtc_stats_view *v, const char *name, uint32_t pid)
{
	size_t n;
	const struct rtc_stats_span_row *rows = rtc_stats_view_spans(v, &n);

	for (size_t i = 0; i < n; i++)
		if (rows[i].pid == pid && rows[i].name_len == strlen(name) && !memcmp(rows[i].name, name, rows[i].name_len))
			return &rows[i];
	return NULL;
}

/* ---- deep nesting on several threads ---- */

#define NAMES 6
#define PIDS 2
#define THREADS 4 /* per process */
static const char *names[NAMES] = { "parse", "eval", "alloc", "io.read", "lock", "recurse" };

struct expect {
	uint64_t count, total, self;
	uint64_t *vals;
	size_t nvals, cap;
};

struct gen {
	struct rtc_out *ev;
	size_t n, cap;
	struct expect want[PIDS][NAMES];
	uint64_t busy[PIDS][THREADS];
};

static uint64_t gen_span(struct gen *g, uint32_t pid, uint32_t tid, uint64_t start, uint32_t depth)
{
	uint64_t t = start + 1 + rnd() % 200, children = 0, dur;
	int nchild = depth < 14 ? (int)(rnd() % 3) : 0, k = (int)((depth + rnd() % 3) % NAMES);
	struct expect *x = &g->want[pid - 100][k];

	for (int i = 0; i < nchild; i++) {
		uint64_t d = gen_span(g, pid, tid, t, depth + 1);

		children += d;
		t += d + rnd() % 50;
	}
	dur = t + 1 + rnd() % 200 - start;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 1024;
		g->ev = realloc(g->ev, g->cap * sizeof(*g->ev));
	}
	/* As the rebuild computes it: duration minus the direct children's on the same thread. */
	g->ev[g->n++] = span(pid, tid, names[k], start, dur, depth, dur - children, 0);
	x->count++;
	x->total += dur;
	x->self += dur - children;
	if (x->nvals == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 256;
		x->vals = realloc(x->vals, x->cap * sizeof(*x->vals));
	}
	x->vals[x->nvals++] = dur;
	if (depth == 0)
		g->busy[pid - 100][tid % THREADS] += dur;
	return dur;
}

static int by_end(const void *a, const void *b)
{
	const struct rtc_out *x = a, *y = b;
	uint64_t ex = x->ts + x->dur, ey = y->ts + y->dur;

	if (ex != ey)
		return ex < ey ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->depth > y->depth ? -1 : x->depth < y->depth; /* a child ending with its parent comes first */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_self_time_nested(void **state)
{
	struct gen g = { 0 };
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_stats_view *v, *m;
	size_t n;

	(void)state;
	rng_state = 1;
	for (uint32_t p = 0; p < PIDS; p++)
		for (uint32_t t = 0; t < THREADS; t++)
			for (uint64_t at = 1000, i = 0; i < 40; i++)
				at += gen_span(&g, 100 + p, 1000 * (p + 1) + t, at, 0) + 10;
	/* The merged stream interleaves threads, ends in time order. */
	qsort(g.ev, g.n, sizeof(*g.ev), by_end);
	for (uint32_t p = 0; p < PIDS; p++)
		feed(s, (struct rtc_out){ .kind = RTC_OUT_PROCESS, .pid = 100 + p, .text = p ? "beta" : "alpha",
					  .text_len = p ? 4 : 5 });
	for (size_t i = 0; i < g.n; i++)
		feed(s, g.ev[i]);
	printf("# %zu spans, nesting up to 15 deep, %d threads in %d processes\n", g.n, PIDS * THREADS, PIDS);
	v = rtc_stats_view_create(s, NULL);
	assert_non_null(v);
	for (uint32_t p = 0; p < PIDS; p++)
		for (int k = 0; k < NAMES; k++) {
			const struct rtc_stats_span_row *r = find_span(v, names[k], 100 + p);
			struct expect *x = &g.want[p][k];

			assert_non_null(r);
			assert_int_equal(r->d.count, x->count);
			assert_int_equal(r->d.total_ns, x->total);
			assert_int_equal(r->self_ns, x->self);
			assert_string_equal(r->process, p ? "beta" : "alpha");
			qsort(x->vals, x->nvals, sizeof(*x->vals), cmp_u64);
			assert_int_equal(r->d.min_ns, x->vals[0]);
			assert_int_equal(r->d.max_ns, x->vals[x->nvals - 1]);
			{
				uint64_t exact = x->vals[(size_t)ceil(0.5 * (double)x->nvals) - 1];

				assert_true(fabs((double)r->d.p50_ns - (double)exact) <= (double)exact / 128);
			}
		}
	/* Per thread: busy = the outermost spans = the sum of every span's self time on that thread. */
	{
		const struct rtc_stats_thread_row *t = rtc_stats_view_threads(v, &n);
		uint64_t self_all = 0, busy_all = 0;

		assert_int_equal(n, PIDS * THREADS);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(t[i].busy_ns, g.busy[t[i].pid - 100][t[i].tid % THREADS]);
			busy_all += t[i].busy_ns;
		}
		for (size_t i = 0; i < g.n; i++)
			self_all += g.ev[i].self_ns;
		assert_int_equal(busy_all, self_all);
	}
	/* Processes: 4 threads each, the busy time of their threads. */
	{
		const struct rtc_stats_process_row *p = rtc_stats_view_processes(v, &n);

		assert_int_equal(n, PIDS);
		assert_int_equal(p[0].pid, 100);
		assert_int_equal(p[0].threads, THREADS);
		assert_string_equal(p[1].name, "beta");
	}
	/* Merged: one row per name, the sums of both processes. */
	m = rtc_stats_view_create(s, &(struct rtc_stats_view_options){ .merge_processes = true });
	rtc_stats_view_spans(m, &n);
	assert_int_equal(n, NAMES);
	for (int k = 0; k < NAMES; k++) {
		const struct rtc_stats_span_row *r = find_span(m, names[k], 0);

		assert_non_null(r);
		assert_null(r->process);
		assert_int_equal(r->d.count, g.want[0][k].count + g.want[1][k].count);
		assert_int_equal(r->self_ns, g.want[0][k].self + g.want[1][k].self);
		assert_int_equal(r->d.hist ? rtc_hist_count(r->d.hist) : 0, r->d.count);
	}
	/* Sorted by total, descending. */
	{
		const struct rtc_stats_span_row *r = rtc_stats_view_spans(m, &n);

		for (size_t i = 1; i < n; i++)
			assert_true(r[i - 1].d.total_ns >= r[i].d.total_ns);
	}
	rtc_stats_view_destroy(m);
	rtc_stats_view_destroy(v);
	for (uint32_t p = 0; p < PIDS; p++)
		for (int k = 0; k < NAMES; k++)
			free(g.want[p][k].vals);
	free(g.ev);
	rtc_stats_destroy(s);
}

/* ---- flagged spans ---- */

static void test_flagged_apart(void **state)
{
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_stats_view *v;
	const struct rtc_stats_span_row *r;
	size_t n;

	(void)state;
	for (int i = 0; i < 100; i++)
		feed(s, span(1, 1, "work", 1000 + 2000 * (uint64_t)i, 1000, 0, 1000, 0));
	/* One of each flag, all far longer than the clean ones, and one with two flags. */
	feed(s, span(1, 1, "work", 500000, 9000000, 0, 9000000, RTC_F_BEFORE_ATTACH));
	feed(s, span(1, 1, "work", 500000, 8000000, 0, 8000000, RTC_F_BEGIN_UNKNOWN));
	feed(s, span(1, 2, "work", 500000, 7000000, 0, 7000000, RTC_F_REPAIRED));
	feed(s, span(1, 2, "work", 500000, 6000000, 1, 6000000, RTC_F_INCOMPLETE | RTC_F_THREAD_EXIT));
	feed(s, span(1, 2, "work", 500000, 5000000, 1, 5000000, RTC_F_LOST_END | RTC_F_INCOMPLETE));
	/* Flags that do not exclude a span: in the distribution. */
	feed(s, span(1, 1, "work", 900000, 1000, 0, 1000, RTC_F_COARSE_BEGIN));
	v = rtc_stats_view_create(s, NULL);
	r = find_span(v, "work", 1);
	assert_non_null(r);
	assert_int_equal(r->d.count, 101);
	assert_int_equal(r->d.total_ns, 101000);
	assert_int_equal(r->self_ns, 101000);
	assert_int_equal(r->d.max_ns, 1000);
	assert_int_equal(r->d.p99_ns, 1000);
	assert_int_equal(r->d.p999_ns, 1000);
	assert_int_equal(r->flagged, 5);
	assert_int_equal(r->flagged_ns, 35000000);
	assert_int_equal(r->before_attach, 1);
	assert_int_equal(r->begin_unknown, 1);
	assert_int_equal(r->repaired, 1);
	assert_int_equal(r->incomplete, 2);
	assert_int_equal(r->lost_end, 1);
	assert_int_equal(rtc_stats_view_info(v)->flagged, 5);
	assert_int_equal(rtc_stats_view_info(v)->spans, 106);
	/* Busy time counts outermost spans, flagged or not. */
	{
		const struct rtc_stats_thread_row *t = rtc_stats_view_threads(v, &n);

		assert_int_equal(n, 2);
		assert_int_equal(t[0].tid, 1);
		assert_int_equal(t[0].busy_ns, 101000 + 17000000);
		assert_int_equal(t[0].flagged, 2);
		assert_int_equal(t[1].busy_ns, 7000000);
		assert_int_equal(t[1].spans, 3);
	}
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* ---- tasks ---- */

static void test_tasks(void **state)
{
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_stats_view *v;
	const struct rtc_stats_task_row *t;
	size_t n;
	char name[32];

	(void)state;
	/* 50 "request" tasks of 1..50 ms; each has spans on two threads. */
	for (uint64_t i = 1; i <= 50; i++) {
		uint64_t at = i * 100000000;

		feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 7, .tid = 1, .id = i, .name = "request",
					  .name_len = 7, .ts = at });
		feed(s, (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = 7, .tid = 1, .task = i, .name = "parse",
					  .name_len = 5, .ts = at, .dur = 1000 });
		feed(s, (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = 7, .tid = 2 + (uint32_t)(i % 2), .task = i,
					  .name = "query", .name_len = 5, .ts = at + 2000, .dur = 1000 });
		feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_END, .pid = 7, .tid = 1, .id = i, .ts = at + i * 1000000,
					  .dur = i * 1000000 });
	}
	/* Incomplete ones: begun before attach (begin unknown), an end without a begin, one still open at the end,
	 * and one open now. */
	feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 7, .tid = 1, .id = 900, .name = "request",
				  .name_len = 7, .ts = 5, .flags = RTC_F_BEGIN_UNKNOWN });
	feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_END, .pid = 7, .tid = 1, .id = 900, .dur = 5 });
	feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_END, .pid = 7, .tid = 1, .id = 901, .name = "request",
				  .name_len = 7, .dur = 3 });
	feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 7, .tid = 1, .id = 902, .name = "request",
				  .name_len = 7, .ts = 10 });
	feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_END, .pid = 7, .tid = 1, .id = 902, .dur = 99999999999,
				  .flags = RTC_F_INCOMPLETE });
	feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 7, .tid = 1, .id = 903, .name = "request",
				  .name_len = 7, .ts = 10 });
	/* A task whose spans have 40 different names: 32 kept, the rest counted. */
	feed(s, (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 7, .tid = 1, .id = 1000, .name = "batch",
				  .name_len = 5, .ts = 10 });
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "step-%02d", i);
		feed(s, (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = 7, .tid = 9, .task = 1000, .name = name,
					  .name_len = 7, .ts = 20, .dur = 5 });
	}
	v = rtc_stats_view_create(s, &(struct rtc_stats_view_options){ .sort = RTC_STATS_SORT_NAME });
	t = rtc_stats_view_tasks(v, &n);
	assert_int_equal(n, 2);
	assert_int_equal(t[0].name_len, 5); /* by name: batch, request */
	assert_int_equal(t[0].open, 1);
	assert_int_equal(t[0].nspans, RTC_STATS_TASK_REFS);
	assert_int_equal(t[0].spans_more, 40 - RTC_STATS_TASK_REFS);
	assert_int_equal(t[0].nthreads, 1);
	assert_memory_equal(t[1].name, "request", 7);
	assert_int_equal(t[1].count, 54);
	assert_int_equal(t[1].complete, 50);
	assert_int_equal(t[1].incomplete, 3);
	assert_int_equal(t[1].open, 1);
	assert_int_equal(t[1].d.count, 50);
	assert_int_equal(t[1].d.min_ns, 1000000);
	assert_int_equal(t[1].d.max_ns, 50000000);
	assert_int_equal(t[1].d.total_ns, 1275000000);
	assert_true(llabs((long long)t[1].d.p50_ns - 25000000) <= 25000000 / 128);
	assert_true(llabs((long long)t[1].d.p90_ns - 45000000) <= 45000000 / 128);
	assert_int_equal(t[1].nspans, 2);
	assert_int_equal(t[1].nthreads, 3);
	assert_int_equal(t[1].spans_more + t[1].threads_more, 0);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* ---- CPU breakdown ---- */

static void test_cpu(void **state)
{
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_stats_view *v;
	const struct rtc_stats_span_row *r;
	size_t n;
	struct rtc_out e;

	(void)state;
	/* "sleep": 1 ms, 20 us on CPU; "spin": 1 ms, 990 us on CPU; a child of spin without CPU data. */
	for (int i = 0; i < 10; i++) {
		e = span(3, 30, "sleep", 10000000 * (uint64_t)i, 1000000, 0, 1000000, RTC_F_CPU);
		e.cpu_ns = 20000;
		e.ctx_voluntary = 1;
		feed(s, e);
		e = span(3, 31, "spin.inner", 10000000 * (uint64_t)i, 100000, 1, 100000, 0);
		feed(s, e);
		e = span(3, 31, "spin", 10000000 * (uint64_t)i, 1000000, 0, 900000, RTC_F_CPU);
		e.cpu_ns = 990000;
		e.ctx_involuntary = 2;
		feed(s, e);
	}
	/* CPU time past the duration (clock skew) is clamped to it. */
	e = span(3, 32, "odd", 5, 100, 0, 100, RTC_F_CPU);
	e.cpu_ns = 150;
	feed(s, e);
	v = rtc_stats_view_create(s, NULL);
	r = find_span(v, "sleep", 3);
	assert_int_equal(r->cpu_spans, 10);
	assert_int_equal(r->on_cpu_ns, 200000);
	assert_int_equal(r->off_cpu_ns, 9800000);
	assert_int_equal(r->ctx_voluntary, 10);
	r = find_span(v, "spin", 3);
	assert_int_equal(r->on_cpu_ns, 9900000);
	assert_int_equal(r->off_cpu_ns, 100000);
	assert_int_equal(r->ctx_involuntary, 20);
	r = find_span(v, "spin.inner", 3);
	assert_int_equal(r->cpu_spans, 0);
	r = find_span(v, "odd", 3);
	assert_int_equal(r->on_cpu_ns, 100);
	assert_int_equal(r->off_cpu_ns, 0);
	{
		const struct rtc_stats_thread_row *t = rtc_stats_view_threads(v, &n);

		for (size_t i = 0; i < n; i++)
			if (t[i].tid == 31) {
				assert_int_equal(t[i].cpu_spans, 10); /* outermost only */
				assert_int_equal(t[i].on_cpu_ns, 9900000);
			}
	}
	{
		struct rtc_export_row rows[8];
		size_t k = rtc_stats_view_export_rows(v, rows, 8);

		assert_int_equal(k, 4);
		for (size_t i = 0; i < k; i++)
			if (rows[i].name_len == 5 && !memcmp(rows[i].name, "sleep", 5)) {
				assert_true(rows[i].has_cpu);
				assert_true(rows[i].on_cpu_ns == 20000 && rows[i].off_cpu_ns == 980000);
			}
	}
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* ---- open spans, limits, losses ---- */

static void test_open_and_limits(void **state)
{
	struct rtc_stats_options o = { .max_spans = 3, .max_threads = 3 };
	struct rtc_stats *s = rtc_stats_create(&o);
	struct rtc_stats_view *v;
	const struct rtc_stats_open_row *op;
	const struct rtc_stats_span_row *r;
	struct rtc_thread_loss tl[] = { { .pid = 1, .tid = 1, .full = 7, .signal = 1 } };
	struct rtc_summary sum = { .records = 99, .lost = 8, .thread_loss = tl, .nthread_loss = 1 };
	size_t n;

	(void)state;
	/* A snapshot: two spans open now, 1 s and 2 s so far. */
	feed(s, (struct rtc_out){ .kind = RTC_OUT_SPAN_OPEN, .pid = 1, .tid = 1, .span_seq = 5, .name = "serve",
				  .name_len = 5, .ts = 1000000000, .dur = 1000000000, .flags = RTC_F_OPEN });
	feed(s, (struct rtc_out){ .kind = RTC_OUT_SPAN_OPEN, .pid = 1, .tid = 2, .span_seq = 9, .name = "serve",
				  .name_len = 5, .ts = 0, .dur = 2000000000, .flags = RTC_F_OPEN });
	/* Time goes on to 3.5 s: they have run 2.5 s and 3.5 s. */
	feed(s, span(1, 3, "tick", 3000000000, 500000000, 0, 500000000, 0));
	v = rtc_stats_view_create(s, NULL);
	op = rtc_stats_view_open(v, &n);
	assert_int_equal(n, 2);
	assert_int_equal(op[0].running_ns, 3500000000);
	assert_int_equal(op[0].tid, 2);
	assert_int_equal(op[1].running_ns, 2500000000);
	r = find_span(v, "serve", 1);
	assert_int_equal(r->open, 2);
	assert_int_equal(r->open_longest_ns, 3500000000);
	assert_int_equal(r->d.count, 0);
	rtc_stats_view_destroy(v);
	/* One of them ends: no longer open, now in the distribution. */
	{
		struct rtc_out e = span(1, 1, "serve", 1000000000, 3000000000, 0, 3000000000, 0);

		e.span_seq = 5;
		feed(s, e);
	}
	/* Past the name limit (3: serve, tick, + this one): spans go to "(other names)". */
	feed(s, span(1, 1, "third", 1, 1, 0, 1, 0));
	feed(s, span(1, 1, "fourth", 1, 10, 0, 10, 0));
	feed(s, span(1, 1, "fifth", 1, 20, 0, 20, 0));
	/* Past the thread limit (3: tids 3, 1, 4; open spans make none): counted in the process only. */
	feed(s, span(1, 4, "tick", 1, 5, 0, 5, 0));
	feed(s, span(1, 5, "tick", 1, 5, 0, 5, 0));
	feed(s, (struct rtc_out){ .kind = RTC_OUT_LOSS, .pid = 1, .tid = 1, .count = 3 });
	rtc_stats_end(s, &sum);
	v = rtc_stats_view_create(s, NULL);
	rtc_stats_view_open(v, &n);
	assert_int_equal(n, 1);
	r = find_span(v, "serve", 1);
	assert_int_equal(r->open, 1);
	assert_int_equal(r->d.count, 1);
	r = find_span(v, RTC_STATS_OTHER_NAMES, 1);
	assert_non_null(r);
	assert_int_equal(r->d.count, 2);
	assert_int_equal(r->d.total_ns, 30);
	assert_int_equal(rtc_stats_view_info(v)->other_span_names, 2);
	assert_int_equal(rtc_stats_view_info(v)->other_threads, 1);
	assert_true(rtc_stats_view_info(v)->ended);
	assert_int_equal(rtc_stats_view_info(v)->summary.records, 99);
	{
		const struct rtc_stats_thread_row *t = rtc_stats_view_threads(v, &n);
		const struct rtc_stats_process_row *p;

		assert_int_equal(n, 3);
		for (size_t i = 0; i < n; i++)
			if (t[i].tid == 1)
				assert_int_equal(t[i].lost, 8); /* the summary's 7 + 1 over the 3 seen */
		p = rtc_stats_view_processes(v, &n);
		assert_int_equal(n, 1);
		assert_int_equal(p[0].spans, 7);
		assert_int_equal(p[0].lost, 8);
	}
	rtc_stats_view_destroy(v);
	rtc_stats_clear_open(s);
	v = rtc_stats_view_create(s, NULL);
	rtc_stats_view_open(v, &n);
	assert_int_equal(n, 0);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* Durations from a broken producer: sums saturate, nothing wraps. */
static void test_saturation(void **state)
{
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_stats_view *v;
	const struct rtc_stats_span_row *r;
	const struct rtc_stats_thread_row *t;
	size_t n;

	(void)state;
	for (int i = 0; i < 3; i++)
		feed(s, span(1, 1, "huge", 1, UINT64_MAX / 2, 0, UINT64_MAX / 2, i == 2 ? RTC_F_REPAIRED : 0));
	feed(s, span(1, 1, "huge", 1, UINT64_MAX / 2, 0, UINT64_MAX / 2, RTC_F_REPAIRED));
	feed(s, span(1, 2, "max", 1, UINT64_MAX, 0, UINT64_MAX, 0));
	v = rtc_stats_view_create(s, &(struct rtc_stats_view_options){ .sort = RTC_STATS_SORT_MEAN });
	{
		FILE *f = fopen("/dev/null", "w");

		assert_int_equal(rtc_stats_write_table(v, NULL, f), 0); /* a mean of 2^64 ns still prints */
		fclose(f);
	}
	r = find_span(v, "huge", 1);
	assert_int_equal(r->d.count, 2);
	assert_int_equal(r->d.total_ns, UINT64_MAX - 1);
	assert_int_equal(r->self_ns, UINT64_MAX - 1);
	assert_int_equal(r->flagged_ns, UINT64_MAX - 1);
	t = rtc_stats_view_threads(v, &n);
	assert_int_equal(t[0].busy_ns, UINT64_MAX);
	assert_int_equal(t[1].busy_ns, UINT64_MAX);
	assert_int_equal(r->d.max_ns, UINT64_MAX / 2);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_time_nested),
		cmocka_unit_test(test_flagged_apart),
		cmocka_unit_test(test_tasks),
		cmocka_unit_test(test_cpu),
		cmocka_unit_test(test_open_and_limits),
		cmocka_unit_test(test_saturation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
