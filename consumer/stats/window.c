/* SPDX-License-Identifier: MIT */
/* The sliding window of `top`: per (name, pid) a ring of per-second histograms and their running sum
 * over the last N completed seconds (merge when a second completes, subtract when it leaves). */
#include "window.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stats-impl.h"

struct wentry {
	char *name;
	uint32_t name_len, pid;
	uint64_t hash;
	struct rtc_hist *window; /* the completed seconds in the window; NULL until the first */
	struct rtc_hist *slot[];  /* per second (nslots), NULL: no span that second */
};

struct rtc_stats_window {
	unsigned seconds, nslots, cur;
	uint64_t rolls, dropped;
	size_t max_names, n, cap; /* table of entries by hash, open addressing */
	struct wentry **table;
	struct rtc_hist **pool;   /* empty histograms for reuse */
	size_t npool, pool_cap;
};

/* Keyed (stats-entries.c): span names come from untrusted segments and captures. */
static uint64_t name_hash(const char *s, size_t n, uint32_t pid)
{
	return rtc__stats_hash(s, n, pid);
}

struct rtc_stats_window *rtc_stats_window_create(unsigned seconds, size_t max_names)
{
	struct rtc_stats_window *w;

	if (seconds < 1 || seconds > 3600) {
		errno = EINVAL;
		return NULL;
	}
	if (!(w = calloc(1, sizeof(*w))))
		return NULL;
	w->seconds = seconds;
	w->nslots = seconds + 1;
	w->max_names = max_names ? max_names : 512;
	return w;
}

static void free_entry(struct rtc_stats_window *w, struct wentry *e)
{
	rtc_hist_destroy(e->window);
	for (unsigned i = 0; i < w->nslots; i++)
		rtc_hist_destroy(e->slot[i]);
	free(e->name);
	free(e);
}

void rtc_stats_window_destroy(struct rtc_stats_window *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->cap; i++)
		if (w->table[i])
			free_entry(w, w->table[i]);
	for (size_t i = 0; i < w->npool; i++)
		rtc_hist_destroy(w->pool[i]);
	free(w->pool);
	free(w->table);
	free(w);
}

static struct rtc_hist *hist_get(struct rtc_stats_window *w)
{
	return w->npool ? w->pool[--w->npool] : rtc_hist_create();
}

static void hist_put(struct rtc_stats_window *w, struct rtc_hist *h)
{
	rtc_hist_reset(h);
	if (w->npool == w->pool_cap) {
		size_t cap = w->pool_cap ? 2 * w->pool_cap : 16;
		struct rtc_hist **p = realloc(w->pool, cap * sizeof(*p));

		if (!p) {
			rtc_hist_destroy(h);
			return;
		}
		w->pool = p;
		w->pool_cap = cap;
	}
	w->pool[w->npool++] = h;
}

static bool grow(struct rtc_stats_window *w)
{
	size_t cap = w->cap ? 2 * w->cap : 64;
	struct wentry **t = calloc(cap, sizeof(*t));

	if (!t)
		return false;
	for (size_t i = 0; i < w->cap; i++) {
		struct wentry *e = w->table[i];
		size_t k;

		if (!e)
			continue;
		for (k = e->hash & (cap - 1); t[k]; k = (k + 1) & (cap - 1))
			;
		t[k] = e;
	}
	free(w->table);
	w->table = t;
	w->cap = cap;
	return true;
}

static struct wentry *entry(struct rtc_stats_window *w, const char *name, size_t len, uint32_t pid)
{
	uint64_t h = name_hash(name, len, pid);
	struct wentry *e;
	size_t k;

	if (w->cap) {
		for (k = h & (w->cap - 1); (e = w->table[k]) != NULL; k = (k + 1) & (w->cap - 1))
			if (e->hash == h && e->pid == pid && e->name_len == len && !memcmp(e->name, name, len))
				return e;
	}
	if (w->n >= w->max_names || len > UINT32_MAX || ((w->n + 1) * 2 > w->cap && !grow(w)))
		return NULL;
	if (!(e = calloc(1, sizeof(*e) + w->nslots * sizeof(e->slot[0]))) || !(e->name = malloc(len + 1))) {
		free(e);
		return NULL;
	}
	memcpy(e->name, name, len);
	e->name[len] = 0;
	e->name_len = (uint32_t)len;
	e->pid = pid;
	e->hash = h;
	for (k = h & (w->cap - 1); w->table[k]; k = (k + 1) & (w->cap - 1))
		;
	w->table[k] = e;
	w->n++;
	return e;
}

void rtc_stats_window_event(struct rtc_stats_window *w, const struct rtc_out *ev)
{
	struct wentry *e;
	struct rtc_hist **s;

	if (ev->kind != RTC_OUT_SPAN || (ev->flags & RTC_STATS_FLAGGED))
		return;
	e = entry(w, ev->name, ev->name_len, ev->pid);
	if (!e) {
		w->dropped++;
		return;
	}
	s = &e->slot[w->cur];
	if (!*s && !(*s = hist_get(w))) {
		w->dropped++;
		return;
	}
	rtc_hist_add(*s, ev->dur);
}

void rtc_stats_window_roll(struct rtc_stats_window *w)
{
	unsigned next = (w->cur + 1) % w->nslots;

	for (size_t i = 0; i < w->cap; i++) {
		struct wentry *e = w->table[i];
		struct rtc_hist *done, *leaving;

		if (!e)
			continue;
		done = e->slot[w->cur];
		leaving = e->slot[next];
		if (done) {
			if (!e->window && !(e->window = hist_get(w)))
				w->dropped += rtc_hist_count(done);
			else
				rtc_hist_merge(e->window, done);
		}
		if (leaving) {
			/* Merged in when it completed (or counted as dropped): take it out again. */
			if (e->window && rtc_hist_subtract(e->window, leaving) != 0)
				rtc_hist_reset(e->window); /* never seen: only if a merge above failed */
			hist_put(w, leaving);
			e->slot[next] = NULL;
		}
	}
	w->cur = next;
	w->rolls++;
}

void rtc_stats_window_info(const struct rtc_stats_window *w, struct rtc_stats_window_info *out)
{
	uint64_t s = w->rolls < w->seconds ? w->rolls : w->seconds;

	out->seconds = w->seconds;
	out->covered_ns = s * 1000000000ull;
	out->dropped = w->dropped;
	out->names = w->n;
}

/* ---- rows ---- */

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

static int cmp_name(const struct rtc_stats_window_row *a, const struct rtc_stats_window_row *b)
{
	int c = memcmp(a->name, b->name, a->name_len < b->name_len ? a->name_len : b->name_len);

	if (c)
		return c;
	if (a->name_len != b->name_len)
		return a->name_len < b->name_len ? -1 : 1;
	return (a->pid > b->pid) - (a->pid < b->pid);
}

static uint64_t key_of(const struct rtc_stats_window_row *r, enum rtc_stats_sort key)
{
	switch (key) {
	case RTC_STATS_SORT_COUNT: return r->d.count;
	case RTC_STATS_SORT_MEAN: return (uint64_t)r->d.mean_ns;
	case RTC_STATS_SORT_P50: return r->d.p50_ns;
	case RTC_STATS_SORT_P99: return r->d.p99_ns;
	case RTC_STATS_SORT_MAX: return r->d.max_ns;
	default: return r->d.total_ns;
	}
}

static int cmp_rows(const void *x, const void *y, void *ctx)
{
	const struct rtc_stats_window_row *a = x, *b = y;
	enum rtc_stats_sort key = *(const enum rtc_stats_sort *)ctx;

	if (key != RTC_STATS_SORT_NAME) {
		uint64_t ka = key_of(a, key), kb = key_of(b, key);

		if (ka != kb)
			return ka > kb ? -1 : 1;
	}
	return cmp_name(a, b);
}

static int cmp_by_name(const void *x, const void *y)
{
	return cmp_name(x, y);
}

/* Rows of the same name (sorted by name) joined into the first, their histograms summed. */
static int merge_rows(struct rtc_stats_window_rows *out)
{
	size_t n = 0;

	qsort(out->rows, out->n, sizeof(*out->rows), cmp_by_name);
	out->owned = calloc(out->n + 1, sizeof(*out->owned));
	if (!out->owned)
		return -ENOMEM;
	for (size_t i = 0; i < out->n;) {
		size_t j = i + 1;
		struct rtc_stats_window_row r = out->rows[i];

		while (j < out->n && out->rows[j].name_len == r.name_len && !memcmp(out->rows[j].name, r.name, r.name_len))
			j++;
		if (j - i > 1) {
			struct rtc_hist *h = rtc_hist_create();

			if (!h)
				return -ENOMEM;
			out->owned[out->nowned++] = h;
			for (size_t k = i; k < j; k++)
				rtc_hist_merge(h, out->rows[k].d.hist);
			dist_of(&r.d, h);
		}
		r.pid = 0;
		out->rows[n++] = r;
		i = j;
	}
	out->n = n;
	return 0;
}

int rtc_stats_window_rows(const struct rtc_stats_window *w, bool merge, enum rtc_stats_sort key,
			  struct rtc_stats_window_rows *out)
{
	memset(out, 0, sizeof(*out));
	out->rows = calloc(w->n + 1, sizeof(*out->rows));
	if (!out->rows)
		return -ENOMEM;
	for (size_t i = 0; i < w->cap; i++) {
		const struct wentry *e = w->table[i];
		struct rtc_stats_window_row *r;

		if (!e || !e->window || !rtc_hist_count(e->window))
			continue;
		r = &out->rows[out->n++];
		r->name = e->name;
		r->name_len = e->name_len;
		r->pid = e->pid;
		dist_of(&r->d, e->window);
	}
	if (merge && merge_rows(out) < 0) {
		rtc_stats_window_rows_free(out);
		return -ENOMEM;
	}
	qsort_r(out->rows, out->n, sizeof(*out->rows), cmp_rows, &key);
	return (int)out->n;
}

void rtc_stats_window_rows_free(struct rtc_stats_window_rows *r)
{
	for (size_t i = 0; i < r->nowned; i++)
		rtc_hist_destroy(r->owned[i]);
	free(r->owned);
	free(r->rows);
	memset(r, 0, sizeof(*r));
}
