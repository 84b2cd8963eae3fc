/* SPDX-License-Identifier: MIT */
/* `diff` over two statistics models: name-sorted merged views joined by name, a Mann-Whitney U test per
 * name, the gate, and the comparison table. */
#include "diff.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "text-table.h"

struct rtc_stats_diff {
	struct rtc_stats_view *va, *vb;
	struct rtc_stats_diff_row *rows;
	size_t nrows, regressions;
	struct rtc_stats_diff_options opt;
};

static int cmp_names(const char *a, size_t la, const char *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

static int cmp_rows(const void *x, const void *y)
{
	const struct rtc_stats_diff_row *a = x, *b = y;
	bool a_new = a->state == RTC_DIFF_ONLY_B, b_new = b->state == RTC_DIFF_ONLY_B;
	uint64_t ka = a_new ? a->total_b : a->total_a, kb = b_new ? b->total_b : b->total_a;

	if (a_new != b_new)
		return a_new ? 1 : -1;
	if (ka != kb)
		return ka > kb ? -1 : 1;
	return cmp_names(a->name, a->name_len, b->name, b->name_len);
}

static void compare_row(struct rtc_stats_diff *d, struct rtc_stats_diff_row *row, const struct rtc_stats_span_row *a,
			const struct rtc_stats_span_row *b)
{
	row->name = a ? a->name : b->name;
	row->name_len = a ? a->name_len : b->name_len;
	row->state = a && b ? RTC_DIFF_BOTH : a ? RTC_DIFF_ONLY_A : RTC_DIFF_ONLY_B;
	row->total_a = a ? a->d.total_ns : 0;
	row->total_b = b ? b->d.total_ns : 0;
	memset(&row->c, 0, sizeof(row->c));
	row->c.alpha = d->opt.alpha;
	row->c.n_a = a ? a->d.count : 0;
	row->c.n_b = b ? b->d.count : 0;
	if (a && b) {
		rtc_compare_hists(a->d.hist, b->d.hist, d->opt.alpha, &row->c);
		row->regressed = d->opt.fail_on > 0 && row->c.n_a >= d->opt.min_count && row->c.n_b >= d->opt.min_count &&
				 rtc_compare_regressed(&row->c, d->opt.fail_on);
		d->regressions += row->regressed;
	}
}

struct rtc_stats_diff *rtc_stats_diff_create(const struct rtc_stats *a, const struct rtc_stats *b,
					     const struct rtc_stats_diff_options *opt)
{
	struct rtc_stats_view_options vo = { .merge_processes = true, .sort = RTC_STATS_SORT_NAME };
	struct rtc_stats_diff *d = calloc(1, sizeof(*d));
	const struct rtc_stats_span_row *ra, *rb;
	size_t na, nb, i = 0, j = 0;

	if (!d)
		return NULL;
	if (opt)
		d->opt = *opt;
	if (!d->opt.alpha)
		d->opt.alpha = 0.05;
	if (!d->opt.min_count)
		d->opt.min_count = 1;
	if (!(d->opt.alpha > 0 && d->opt.alpha < 1)) {
		free(d);
		errno = EINVAL;
		return NULL;
	}
	d->va = rtc_stats_view_create(a, &vo);
	d->vb = rtc_stats_view_create(b, &vo);
	if (!d->va || !d->vb)
		goto fail;
	ra = rtc_stats_view_spans(d->va, &na);
	rb = rtc_stats_view_spans(d->vb, &nb);
	d->rows = calloc(na + nb + 1, sizeof(*d->rows));
	if (!d->rows)
		goto fail;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : cmp_names(ra[i].name, ra[i].name_len, rb[j].name, rb[j].name_len);

		compare_row(d, &d->rows[d->nrows++], c <= 0 ? &ra[i] : NULL, c >= 0 ? &rb[j] : NULL);
		i += c <= 0;
		j += c >= 0;
	}
	qsort(d->rows, d->nrows, sizeof(*d->rows), cmp_rows);
	return d;
fail:
	rtc_stats_diff_destroy(d);
	errno = ENOMEM;
	return NULL;
}

void rtc_stats_diff_destroy(struct rtc_stats_diff *d)
{
	if (!d)
		return;
	rtc_stats_view_destroy(d->va);
	rtc_stats_view_destroy(d->vb);
	free(d->rows);
	free(d);
}

const struct rtc_stats_diff_row *rtc_stats_diff_rows(const struct rtc_stats_diff *d, size_t *n)
{
	*n = d->nrows;
	return d->rows;
}

size_t rtc_stats_diff_regressions(const struct rtc_stats_diff *d)
{
	return d->regressions;
}

const struct rtc_stats_view *rtc_stats_diff_view(const struct rtc_stats_diff *d, bool b)
{
	return b ? d->vb : d->va;
}

/* ---- the table ---- */

static void set_dur(struct rtc_tt *t, char **row, size_t col, uint64_t n, uint64_t ns)
{
	char buf[32];

	if (n)
		rtc_tt_set(t, row, col, "%s", rtc_stats_format_ns(ns, buf, sizeof(buf)));
	else
		rtc_tt_set(t, row, col, "-");
}

static void set_change(struct rtc_tt *t, char **row, size_t col, const struct rtc_compare *c, double change,
		       uint64_t base)
{
	if (!c->n_a || !c->n_b || !base)
		rtc_tt_set(t, row, col, "-");
	else
		rtc_tt_set(t, row, col, "%+.1f%%", change * 100);
}

static const char *verdict(const struct rtc_stats_diff_row *r)
{
	if (r->state == RTC_DIFF_ONLY_A)
		return "gone";
	if (r->state == RTC_DIFF_ONLY_B)
		return "new";
	if (!r->c.n_a || !r->c.n_b)
		return "no clean spans";
	if (r->regressed)
		return "slower: REGRESSION";
	if (!r->c.enough)
		return "too few spans";
	if (r->c.change == RTC_CHANGE_SLOWER)
		return "slower";
	if (r->c.change == RTC_CHANGE_FASTER)
		return "faster";
	return "~";
}

int rtc_stats_diff_write(const struct rtc_stats_diff *d, const char *a_name, const char *b_name, FILE *f)
{
	static const char *const head[] = { "span",  "n A",   "n B", "p50 A", "p50 B", "p50 Δ",
					    "p99 A", "p99 B", "p99 Δ", "p",     "verdict" };
	struct rtc_tt t;
	char **row;
	int rc;

	fprintf(f, "A: %s\nB: %s\n", a_name, b_name);
	fprintf(f, "test: Mann-Whitney U, two-sided, over each name's duration histograms (exact p when n A x n B <= %d, "
		   "else normal approximation with tie and continuity corrections); alpha %.3g; Δ = (B - A) / A\n",
		RTC_MWU_EXACT_MAX, d->opt.alpha);
	if (d->opt.fail_on > 0) {
		fprintf(f, "gate: a median slower by more than %.3g%% and p < alpha", d->opt.fail_on * 100);
		if (d->opt.min_count > 1)
			fprintf(f, ", at least %" PRIu64 " spans a side", d->opt.min_count);
		fprintf(f, ": %zu regression%s\n", d->regressions, d->regressions == 1 ? "" : "s");
	}
	fputc('\n', f);
	rtc_tt_init(&t, 11, "lrrrrrrrrrl");
	row = rtc_tt_row(&t);
	for (size_t c = 0; c < 11; c++)
		rtc_tt_set(&t, row, c, "%s", head[c]);
	for (size_t i = 0; i < d->nrows; i++) {
		const struct rtc_stats_diff_row *r = &d->rows[i];
		const struct rtc_compare *c = &r->c;
		bool both = r->state == RTC_DIFF_BOTH && c->n_a && c->n_b;

		row = rtc_tt_row(&t);
		rtc_tt_name(&t, row, 0, r->name, r->name_len);
		rtc_tt_set(&t, row, 1, "%" PRIu64, c->n_a);
		rtc_tt_set(&t, row, 2, "%" PRIu64, c->n_b);
		set_dur(&t, row, 3, both ? c->n_a : 0, c->p50_a);
		set_dur(&t, row, 4, both ? c->n_b : 0, c->p50_b);
		set_change(&t, row, 5, c, c->p50_change, c->p50_a);
		set_dur(&t, row, 6, both ? c->n_a : 0, c->p99_a);
		set_dur(&t, row, 7, both ? c->n_b : 0, c->p99_b);
		set_change(&t, row, 8, c, c->p99_change, c->p99_a);
		if (!both)
			rtc_tt_set(&t, row, 9, "-");
		else if (c->test.p_value < 0.001)
			rtc_tt_set(&t, row, 9, "<0.001");
		else
			rtc_tt_set(&t, row, 9, "%.3f", c->test.p_value);
		rtc_tt_set(&t, row, 10, "%s", verdict(r));
	}
	rtc_tt_print(&t, f);
	rc = t.oom ? -ENOMEM : ferror(f) ? -EIO : 0;
	rtc_tt_free(&t);
	return rc;
}
