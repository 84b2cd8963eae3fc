/* SPDX-License-Identifier: MIT */
/* Mann-Whitney U over tie groups (from raw values or histogram buckets), exact (conditional on ties) for
 * small samples, normal approximation with tie and continuity correction otherwise; run comparison on top. */
#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Values equal to each other: how many from each side. Ascending by value. */
struct group {
	uint64_t a, b;
};

/* Exact two-sided p-value of the rank sum, conditional on the ties seen: the distribution over every way
 * of choosing which k of the N values belong to the smaller side, by dynamic programming over the tie
 * groups (ranks doubled so that mid-ranks are integers). p = P(|R - E R| >= |r_obs - E R|); p_min is the
 * same for the most extreme rank sum possible. \return 0 or -ENOMEM. */
static int exact_p(const struct group *g, size_t ng, uint64_t k, uint64_t n, uint64_t r2_obs,
		   double *p, double *p_min)
{
	uint64_t smax = 2 * k * n, mu2 = k * (n + 1), below = 0, d_obs, d_max = 0;
	double *row = calloc((size_t)((k + 1) * (smax + 1)), sizeof(double));
	uint64_t *lo = malloc((size_t)(k + 1) * sizeof(*lo)), *hi = calloc((size_t)(k + 1), sizeof(*hi));
	double total = 0, tail = 0, extreme = 0;

	if (!row || !lo || !hi) {
		free(row);
		free(lo);
		free(hi);
		return -ENOMEM;
	}
	/* lo[k'] .. hi[k']: where row k' may be non-zero (empty while lo > hi). */
	for (uint64_t kk = 0; kk <= k; kk++)
		lo[kk] = kk ? UINT64_MAX : 0;
	row[0] = 1;
	for (size_t gi = 0; gi < ng; gi++) {
		uint64_t t = g[gi].a + g[gi].b, m2 = 2 * below + t + 1;

		/* rows k' downwards: row[k' - j] is still the distribution before this group. */
		for (uint64_t kk = k; kk >= 1; kk--) {
			double binom = 1;

			for (uint64_t j = 1; j <= t && j <= kk; j++) {
				const double *src = row + (kk - j) * (smax + 1);
				double *dst = row + kk * (smax + 1);
				uint64_t from = lo[kk - j], to = hi[kk - j], shift = j * m2;

				binom = binom * (double)(t - j + 1) / (double)j;
				if (from > to || from + shift > smax)
					continue;
				if (to + shift > smax)
					to = smax - shift;
				for (uint64_t s = from; s <= to; s++)
					dst[s + shift] += src[s] * binom;
				if (from + shift < lo[kk])
					lo[kk] = from + shift;
				if (to + shift > hi[kk])
					hi[kk] = to + shift;
			}
		}
		below += t;
	}
	d_obs = r2_obs > mu2 ? r2_obs - mu2 : mu2 - r2_obs;
	for (uint64_t s = 0; s <= smax; s++) {
		double c = row[k * (smax + 1) + s];
		uint64_t d = s > mu2 ? s - mu2 : mu2 - s;

		if (c == 0)
			continue;
		total += c;
		if (d >= d_obs)
			tail += c;
		if (d > d_max) {
			d_max = d;
			extreme = 0;
		}
		if (d == d_max)
			extreme += c;
	}
	free(row);
	free(lo);
	free(hi);
	*p = fmin(1, tail / total);
	*p_min = fmin(1, extreme / total);
	return 0;
}

static double normal_p(double u_max, double mu, double sigma)
{
	double z;

	if (!(sigma > 0))
		return 1;
	z = (u_max - mu - 0.5) / sigma;
	return fmin(1, erfc(z / sqrt(2)));
}

static int mwu_groups(const struct group *g, size_t ng, struct rtc_mwu *out)
{
	long double n_a = 0, n_b = 0, r_a = 0, ties = 0, below = 0, n, mu, var;
	uint64_t r2_a = 0, r2_b = 0, seen = 0;
	bool tied = false;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < ng; i++) {
		long double t = (long double)g[i].a + (long double)g[i].b;

		n_a += g[i].a;
		n_b += g[i].b;
		r_a += (long double)g[i].a * (below + (t + 1) / 2); /* ranks below+1 .. below+t, averaged */
		/* Doubled rank sums for the exact test (they may wrap, harmlessly, when it is not used). */
		r2_a += g[i].a * (2 * seen + g[i].a + g[i].b + 1);
		r2_b += g[i].b * (2 * seen + g[i].a + g[i].b + 1);
		seen += g[i].a + g[i].b;
		ties += t * t * t - t;
		if (t > 1)
			tied = true;
		below += t;
	}
	if (n_a == 0 || n_b == 0)
		return -EINVAL;
	n = n_a + n_b;
	out->n_a = (uint64_t)n_a;
	out->n_b = (uint64_t)n_b;
	out->ties = tied;
	out->u_a = (double)(r_a - n_a * (n_a + 1) / 2);
	out->u_b = (double)(n_a * n_b - (long double)out->u_a);
	out->p_b_greater = out->u_b / (double)(n_a * n_b);
	mu = n_a * n_b / 2;
	var = n_a * n_b / 12 * ((n + 1) - (n > 1 ? ties / (n * (n - 1)) : 0));
	{
		double sigma = var > 0 ? (double)sqrtl(var) : 0, u_max = fmax(out->u_a, out->u_b);

		out->z = sigma > 0 ? (u_max - (double)mu - 0.5) / sigma : 0;
		out->p_value = normal_p(u_max, (double)mu, sigma);
		out->p_min = normal_p((double)(n_a * n_b), (double)mu, sigma);
	}
	if (n_a * n_b <= RTC_MWU_EXACT_MAX) {
		bool side_a = out->n_a <= out->n_b;
		uint64_t k = side_a ? out->n_a : out->n_b;

		if (exact_p(g, ng, k, out->n_a + out->n_b, side_a ? r2_a : r2_b, &out->p_value,
			    &out->p_min) == 0)
			out->exact = true;
	}
	return 0;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

int rtc_mwu_values(const double *a, size_t n_a, const double *b, size_t n_b, struct rtc_mwu *out)
{
	double *sa, *sb;
	struct group *g;
	size_t i = 0, k = 0, ng = 0;
	int rc;

	if (!a || !b || !out || n_a == 0 || n_b == 0)
		return -EINVAL;
	sa = malloc(n_a * sizeof(*sa));
	sb = malloc(n_b * sizeof(*sb));
	g = malloc((n_a + n_b) * sizeof(*g));
	if (!sa || !sb || !g) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(sa, a, n_a * sizeof(*sa));
	memcpy(sb, b, n_b * sizeof(*sb));
	qsort(sa, n_a, sizeof(*sa), cmp_double);
	qsort(sb, n_b, sizeof(*sb), cmp_double);
	while (i < n_a || k < n_b) {
		double v = i < n_a && (k >= n_b || sa[i] <= sb[k]) ? sa[i] : sb[k];

		g[ng].a = g[ng].b = 0;
		while (i < n_a && sa[i] == v) {
			g[ng].a++;
			i++;
		}
		while (k < n_b && sb[k] == v) {
			g[ng].b++;
			k++;
		}
		ng++;
	}
	rc = mwu_groups(g, ng, out);
out:
	free(sa);
	free(sb);
	free(g);
	return rc;
}

int rtc_mwu_hists(const struct rtc_hist *a, const struct rtc_hist *b, struct rtc_mwu *out)
{
	struct group *g;
	size_t ng = 0;
	int rc;

	if (!a || !b || !out)
		return -EINVAL;
	g = malloc(RTC_HIST_BUCKETS * sizeof(*g));
	if (!g)
		return -ENOMEM;
	for (uint32_t i = 0; i < RTC_HIST_BUCKETS; i++) {
		uint64_t ca = rtc_hist_bucket_count(a, i), cb = rtc_hist_bucket_count(b, i);

		if (ca || cb)
			g[ng++] = (struct group){ ca, cb };
	}
	rc = mwu_groups(g, ng, out);
	free(g);
	return rc;
}

static double rel_change(uint64_t a, uint64_t b)
{
	return a ? ((double)b - (double)a) / (double)a : 0;
}

int rtc_compare_hists(const struct rtc_hist *a, const struct rtc_hist *b, double alpha, struct rtc_compare *out)
{
	static const double q[2] = { 0.5, 0.99 };
	uint64_t pa[2], pb[2];

	if (!(alpha > 0 && alpha < 1) || !a || !b || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->alpha = alpha;
	out->n_a = rtc_hist_count(a);
	out->n_b = rtc_hist_count(b);
	rtc_hist_percentiles(a, q, pa, 2);
	rtc_hist_percentiles(b, q, pb, 2);
	out->p50_a = pa[0];
	out->p99_a = pa[1];
	out->p50_b = pb[0];
	out->p99_b = pb[1];
	out->p50_change = rel_change(pa[0], pb[0]);
	out->p99_change = rel_change(pa[1], pb[1]);
	if (out->n_a == 0 || out->n_b == 0 || rtc_mwu_hists(a, b, &out->test) != 0) {
		out->test.p_value = 1;
		out->test.p_min = 1;
		return 0;
	}
	out->enough = out->test.p_min < alpha;
	out->significant = out->test.p_value < alpha;
	if (out->significant)
		out->change = out->test.p_b_greater > 0.5 ? RTC_CHANGE_SLOWER : RTC_CHANGE_FASTER;
	return 0;
}

bool rtc_compare_regressed(const struct rtc_compare *c, double min_change)
{
	return c->significant && c->change == RTC_CHANGE_SLOWER && c->p50_change > min_change;
}
