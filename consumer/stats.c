/* SPDX-License-Identifier: MIT */
/* Per-name span and task statistics with log-bucket histograms. */
#include "stats.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 64 /* 5 per decade: 1 ns .. 10^12.8 ns */

struct entry {
	char *name;
	uint64_t count, complete, total, self, min, max;
	uint32_t hist[BUCKETS];
};

struct table {
	struct entry *e;
	size_t n, cap;
};

struct rtc_stats {
	struct table t[2];
	/* Names come from name tables that live as long as the engine: a pointer-keyed cache in front
	 * of the string-keyed table saves hashing each span's name. */
	struct {
		const char *name;
		struct entry *e;
		size_t gen;
	} cache[2][256];
	size_t gen[2]; /* bumped when a table grows (entries move) */
};

/* bucket_floor[b] = ceil(10^(b/5)): bucket b holds [floor[b], floor[b+1]). */
static uint64_t bucket_floor[BUCKETS + 1];

static void init_buckets(void)
{
	for (unsigned b = 0; b <= BUCKETS; b++)
		bucket_floor[b] = (uint64_t)ceil(pow(10.0, (double)b / 5.0));
}

static unsigned bucket(uint64_t ns)
{
	unsigned lo = 0, hi = BUCKETS; /* floor[lo] <= ns < floor[hi] */

	if (ns < 2)
		return 0;
	if (ns >= bucket_floor[BUCKETS - 1])
		return BUCKETS - 1;
	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;

		if (bucket_floor[mid] <= ns)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

struct rtc_stats *rtc_stats_create(void)
{
	if (!bucket_floor[BUCKETS])
		init_buckets();
	return calloc(1, sizeof(struct rtc_stats));
}

void rtc_stats_destroy(struct rtc_stats *s)
{
	if (!s)
		return;
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < s->t[k].cap; i++)
			free(s->t[k].e[i].name);
		free(s->t[k].e);
	}
	free(s);
}

static uint64_t hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static struct entry *lookup(struct table *t, const char *name, size_t len)
{
	size_t mask;

	if ((t->n + 1) * 2 > t->cap) {
		struct table fresh = { calloc(t->cap ? t->cap * 2 : 64, sizeof(struct entry)), 0,
				       t->cap ? t->cap * 2 : 64 };

		if (!fresh.e)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			struct entry *o = &t->e[i];
			size_t m = fresh.cap - 1, j;

			if (!o->name)
				continue;
			for (j = hash(o->name, strlen(o->name)) & m; fresh.e[j].name; j = (j + 1) & m)
				;
			fresh.e[j] = *o;
			fresh.n++;
		}
		free(t->e);
		*t = fresh;
	}
	mask = t->cap - 1;
	for (size_t j = hash(name, len) & mask;; j = (j + 1) & mask) {
		struct entry *e = &t->e[j];

		if (!e->name) {
			e->name = strndup(name, len);
			if (!e->name)
				return NULL;
			e->min = UINT64_MAX;
			t->n++;
			return e;
		}
		if (strncmp(e->name, name, len) == 0 && e->name[len] == 0)
			return e;
	}
}

static uint64_t bucket_top(unsigned b)
{
	return (uint64_t)ceil(pow(10.0, (double)(b + 1) / 5.0));
}

static void add(struct entry *e, uint64_t dur, uint64_t self, bool complete)
{
	e->count++;
	if (!complete)
		return;
	e->complete++;
	e->total += dur;
	e->self += self;
	if (dur < e->min)
		e->min = dur;
	if (dur > e->max)
		e->max = dur;
	e->hist[bucket(dur)]++;
}

static void emit(void *ctx, const struct rtc_out *o)
{
	struct rtc_stats *s = ctx;
	struct entry *e;
	bool complete = !(o->flags & (RTC_F_INCOMPLETE | RTC_F_REPAIRED | RTC_F_BEGIN_UNKNOWN | RTC_F_LOST_END));

	int k = o->kind == RTC_OUT_SPAN ? 0 : o->kind == RTC_OUT_TASK_END ? 1 : -1;
	size_t slot, cap;

	if (k < 0)
		return;
	slot = ((uintptr_t)o->name >> 3) & 255;
	if (s->cache[k][slot].name == o->name && s->cache[k][slot].gen == s->gen[k]) {
		e = s->cache[k][slot].e;
	} else {
		cap = s->t[k].cap;
		e = lookup(&s->t[k], o->name, o->name_len);
		if (s->t[k].cap != cap)
			s->gen[k]++;
		s->cache[k][slot].name = o->name;
		s->cache[k][slot].e = e;
		s->cache[k][slot].gen = s->gen[k];
	}
	if (e)
		add(e, o->dur, k ? o->dur : o->self_ns, complete);
}

static const struct rtc_sink_ops stats_ops = { .version = RTC_SINK_VERSION, .event = emit };

struct rtc_sink rtc_stats_sink(struct rtc_stats *s)
{
	struct rtc_sink sink = { &stats_ops, s, "statistics" };

	return sink;
}

static uint64_t percentile(const struct entry *e, double q)
{
	uint64_t want = (uint64_t)ceil(q * (double)e->complete), seen = 0;

	for (unsigned b = 0; b < BUCKETS; b++) {
		seen += e->hist[b];
		if (seen >= want && seen) {
			uint64_t top = bucket_top(b);

			return top > e->max ? e->max : top;
		}
	}
	return e->max;
}

static int by_total(const void *a, const void *b)
{
	const struct rtc_stat_row *x = a, *y = b;

	if (x->total_ns != y->total_ns)
		return x->total_ns < y->total_ns ? 1 : -1;
	return strcmp(x->name, y->name);
}

size_t rtc_stats_rows(const struct rtc_stats *s, int kind, struct rtc_stat_row *out, size_t max)
{
	const struct table *t = &s->t[kind ? 1 : 0];
	size_t n = 0;
	struct rtc_stat_row *all = calloc(t->n ? t->n : 1, sizeof(*all));

	if (!all)
		return 0;
	for (size_t i = 0; i < t->cap; i++) {
		const struct entry *e = &t->e[i];

		if (!e->name)
			continue;
		all[n] = (struct rtc_stat_row){ .name = e->name, .count = e->count, .complete = e->complete,
						 .total_ns = e->total, .self_ns = e->self,
						 .min_ns = e->complete ? e->min : 0, .max_ns = e->max };
		if (e->complete) {
			all[n].p50_ns = percentile(e, 0.50);
			all[n].p90_ns = percentile(e, 0.90);
			all[n].p99_ns = percentile(e, 0.99);
		}
		n++;
	}
	qsort(all, n, sizeof(*all), by_total);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(*out));
	free(all);
	return n;
}

static void fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 10000)
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
	else if (ns < 10000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else if (ns < 10000000000ull)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
}

void rtc_stats_print(const struct rtc_stats *s, FILE *f, size_t max_rows)
{
	static const char *titles[2] = { "span", "task" };
	struct rtc_stat_row *rows = calloc(max_rows ? max_rows : 1, sizeof(*rows));

	if (!rows)
		return;
	for (int k = 0; k < 2; k++) {
		size_t n = rtc_stats_rows(s, k, rows, max_rows);

		fprintf(f, "%-24s %9s %9s %11s %11s %10s %10s %10s %10s %10s\n", titles[k], "count", "complete",
			"total", k ? "" : "self", "min", "p50", "p90", "p99", "max");
		for (size_t i = 0; i < n; i++) {
			char c[7][24];
			const struct rtc_stat_row *r = &rows[i];

			fmt_ns(c[0], sizeof(c[0]), r->total_ns);
			fmt_ns(c[1], sizeof(c[1]), r->self_ns);
			fmt_ns(c[2], sizeof(c[2]), r->min_ns);
			fmt_ns(c[3], sizeof(c[3]), r->p50_ns);
			fmt_ns(c[4], sizeof(c[4]), r->p90_ns);
			fmt_ns(c[5], sizeof(c[5]), r->p99_ns);
			fmt_ns(c[6], sizeof(c[6]), r->max_ns);
			fprintf(f, "%-24.24s %9llu %9llu %11s %11s %10s %10s %10s %10s %10s\n", r->name,
				(unsigned long long)r->count, (unsigned long long)r->complete, c[0], k ? "" : c[1], c[2],
				c[3], c[4], c[5], c[6]);
		}
		if (n == 0)
			fprintf(f, "(none)\n");
		if (k == 0)
			fputc('\n', f);
	}
	free(rows);
}
