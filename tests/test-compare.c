/* SPDX-License-Identifier: MIT */
/* Comparing runs: Mann-Whitney U against hand-computed and scipy values, a real 10% slowdown flagged, and
 * runs of one distribution not flagged more often than alpha allows. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "stats/compare.h"
#include "stats/hist.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unif(void)
{
	return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
	return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
}

/* A span duration: ~100 us with 5% jitter and a small tail of 3x outliers, times scale. */
static uint64_t span_ns(double scale)
{
	double x = 100000 * exp(0.05 * normal());

	if (rnd() % 100 == 0)
		x *= 3;
	return (uint64_t)(x * scale);
}

#define near(x, want, tol) assert_true(fabs((x) - (want)) <= (tol) * fabs(want) + 1e-300)

/* The exact two-sided p-value by enumerating every split of v[0..n) into k values for A (the first k
 * are A's): P(|R - E R| >= |R_obs - E R|) with mid-ranks. n <= 20. */
static double brute_p(const double *v, int n, int k)
{
	double rank[20], mean = k * (n + 1) / 2.0, obs = 0;
	long hits = 0, total = 0;

	for (int i = 0; i < n; i++) {
		int less = 0, eq = 0;

		for (int j = 0; j < n; j++) {
			less += v[j] < v[i];
			eq += v[j] == v[i];
		}
		rank[i] = less + (eq + 1) / 2.0;
	}
	for (int i = 0; i < k; i++)
		obs += rank[i];
	for (unsigned m = 0; m < 1u << n; m++) {
		double r = 0;

		if (__builtin_popcount(m) != k)
			continue;
		for (int i = 0; i < n; i++)
			if (m & (1u << i))
				r += rank[i];
		total++;
		hits += fabs(r - mean) >= fabs(obs - mean) - 1e-9;
	}
	return (double)hits / (double)total;
}

/* Small samples with many ties, exact p against enumeration. */
static void test_exact_with_ties(void **state)
{
	(void)state;
	rng_state = 99;
	for (int iter = 0; iter < 300; iter++) {
		int n = 2 + (int)(rnd() % 15), k = 1 + (int)(rnd() % (uint64_t)(n - 1));
		double v[20];
		struct rtc_mwu r;

		for (int i = 0; i < n; i++)
			v[i] = (double)(rnd() % (1 + iter % 6)); /* from all equal to few ties */
		assert_int_equal(rtc_mwu_values(v, (size_t)k, v + k, (size_t)(n - k), &r), 0);
		assert_true(r.exact);
		near(r.p_value, brute_p(v, n, k), 1e-9);
		assert_true(r.p_min <= r.p_value + 1e-12);
	}
}


static void test_hand_computed(void **state)
{
	struct rtc_mwu r;

	(void)state;
	/* A entirely below B: U_A = 0, U_B = 9; exact p = 2 / C(6, 3) = 0.1, so 3 against 3 can never
	 * reach 0.05. */
	assert_int_equal(rtc_mwu_values((double[]){ 1, 2, 3 }, 3, (double[]){ 4, 5, 6 }, 3, &r), 0);
	assert_true(r.u_a == 0 && r.u_b == 9);
	assert_true(r.exact && !r.ties);
	near(r.p_value, 0.1, 1e-12);
	near(r.p_min, 0.1, 1e-12);
	near(r.p_b_greater, 1.0, 0);
	/* Interleaved: ranks of A 1, 3, 5 -> R_A = 9, U_A = 3; P(U <= 3) = (1 + 1 + 2 + 3) / 20. */
	assert_int_equal(rtc_mwu_values((double[]){ 5, 1, 3 }, 3, (double[]){ 2, 6, 4 }, 3, &r), 0);
	assert_true(r.u_a == 3 && r.u_b == 6);
	near(r.p_value, 0.7, 1e-12);
	/* Ties: 1 | 2 2 2 | 3 3 | 4 4 with A = {1, 2, 2, 3}: ranks 1, 3, 3, 5.5 -> R_A = 12.5, U_A = 2.5.
	 * Tie term 24 + 6 + 6 = 36: sigma^2 = 16/12 (9 - 36/56), z = (13.5 - 8 - 0.5) / sigma. */
	assert_int_equal(rtc_mwu_values((double[]){ 1, 2, 2, 3 }, 4, (double[]){ 2, 3, 4, 4 }, 4, &r), 0);
	assert_true(r.u_a == 2.5 && r.u_b == 13.5);
	assert_true(r.ties && r.exact);
	near(r.z, 5 / sqrt(16.0 / 12 * (9 - 36.0 / 56)), 1e-12);
	/* Exact with ties: of the C(8, 4) = 70 splits, those with |R_A - 18| >= 5.5 (R_A <= 12.5 or >= 23.5). */
	near(r.p_value, brute_p((double[]){ 1, 2, 2, 3, 2, 3, 4, 4 }, 8, 4), 1e-12);
	/* Larger, with ties: the normal approximation, as scipy.stats.mannwhitneyu gives it. */
	{
		double a[60], b[70];

		for (int i = 0; i < 60; i++)
			a[i] = i % 37;
		for (int i = 0; i < 70; i++)
			b[i] = (i * 7) % 41 + 2;
		assert_int_equal(rtc_mwu_values(a, 60, b, 70, &r), 0);
		assert_true(!r.exact && r.ties);
		assert_true(r.u_a == 4200 - 1468 || r.u_a == 1468);
		near(r.p_value, 0.003176722499168674, 1e-9);
	}
	/* scipy 1.10's exact p-values, no ties. */
	assert_int_equal(rtc_mwu_values((double[]){ 1.5, 2.5, 7, 9, 11, 3 }, 6,
					(double[]){ 4, 5, 6, 8, 10, 12, 13 }, 7, &r), 0);
	assert_true(r.u_a == 12 && r.exact);
	near(r.p_value, 0.23426573426573427, 1e-9);
	{
		double a[40], b[60];

		for (int i = 0; i < 40; i++)
			a[i] = i + 1;
		for (int i = 0; i < 60; i++)
			b[i] = i + 10.5;
		/* 40 x 60 is past RTC_MWU_EXACT_MAX: scipy's asymptotic p-value (its exact one is 6.58e-08). */
		assert_int_equal(rtc_mwu_values(a, 40, b, 60, &r), 0);
		assert_true(r.u_a == 465 && !r.exact);
		near(r.p_value, 2.367085634546964e-07, 1e-6);
	}
	/* Errors. */
	assert_int_equal(rtc_mwu_values((double[]){ 1 }, 0, (double[]){ 2 }, 1, &r), -EINVAL);
	assert_int_equal(rtc_mwu_values(NULL, 1, (double[]){ 2 }, 1, &r), -EINVAL);
}

/* Over histograms, values that are bucket values give exactly the raw test. */
static void test_hists_match_values(void **state)
{
	enum { NA = 700, NB = 900 };
	struct rtc_hist *ha = rtc_hist_create(), *hb = rtc_hist_create();
	double *a = malloc(NA * sizeof(*a)), *b = malloc(NB * sizeof(*b));
	struct rtc_mwu rv, rh;

	(void)state;
	rng_state = 11;
	for (int i = 0; i < NA; i++) {
		uint64_t v = rtc_hist_bucket_value(rtc_hist_index(span_ns(1.0)));

		a[i] = (double)v;
		rtc_hist_add(ha, v);
	}
	for (int i = 0; i < NB; i++) {
		uint64_t v = rtc_hist_bucket_value(rtc_hist_index(span_ns(1.02)));

		b[i] = (double)v;
		rtc_hist_add(hb, v);
	}
	assert_int_equal(rtc_mwu_values(a, NA, b, NB, &rv), 0);
	assert_int_equal(rtc_mwu_hists(ha, hb, &rh), 0);
	assert_true(rv.u_a == rh.u_a && rv.u_b == rh.u_b);
	assert_true(rv.p_value == rh.p_value && rv.z == rh.z);
	assert_true(rh.ties);
	assert_int_equal(rh.n_a, NA);
	assert_int_equal(rh.n_b, NB);
	rtc_hist_reset(hb);
	assert_int_equal(rtc_mwu_hists(ha, hb, &rh), -EINVAL);
	free(a);
	free(b);
	rtc_hist_destroy(ha);
	rtc_hist_destroy(hb);
}

static void fill(struct rtc_hist *h, int n, double scale)
{
	rtc_hist_reset(h);
	for (int i = 0; i < n; i++)
		rtc_hist_add(h, span_ns(scale));
}

static void test_slowdown_flagged(void **state)
{
	struct rtc_hist *a = rtc_hist_create(), *b = rtc_hist_create();
	struct rtc_compare c;
	int flagged = 0;

	(void)state;
	/* 20 independent pairs of runs, 1000 spans each: B is 10% slower every time. */
	for (int seed = 0; seed < 20; seed++) {
		rng_state = 1000 + (uint64_t)seed;
		fill(a, 1000, 1.0);
		fill(b, 1000, 1.10);
		assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
		assert_true(c.enough);
		assert_true(c.p50_change > 0.08 && c.p50_change < 0.12);
		if (c.significant && c.change == RTC_CHANGE_SLOWER && rtc_compare_regressed(&c, 0.05))
			flagged++;
		/* The other way round it is faster, and no regression. */
		assert_int_equal(rtc_compare_hists(b, a, 0.05, &c), 0);
		assert_int_equal(c.change, RTC_CHANGE_FASTER);
		assert_false(rtc_compare_regressed(&c, 0.05));
	}
	assert_int_equal(flagged, 20);
	/* A 10% slowdown against a 15% gate: significant, but not a regression. */
	assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
	assert_false(rtc_compare_regressed(&c, 0.15));
	/* A 10% slowdown seen with only 10 spans per side is still flagged (5% jitter). */
	rng_state = 77;
	fill(a, 10, 1.0);
	fill(b, 10, 1.10);
	assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
	printf("# 10 vs 10 spans, 10%% slower: p = %.3g\n", c.test.p_value);
	assert_true(c.significant);
	rtc_hist_destroy(a);
	rtc_hist_destroy(b);
}

static void test_same_distribution(void **state)
{
	struct rtc_hist *a = rtc_hist_create(), *b = rtc_hist_create();
	struct rtc_compare c;
	int fp_large = 0, fp_small = 0, fp_tiny = 0;
	double pmin = 1;

	(void)state;
	for (int seed = 0; seed < 200; seed++) {
		rng_state = 5000 + (uint64_t)seed * 7919;
		fill(a, 2000, 1.0);
		fill(b, 1500, 1.0);
		assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
		fp_large += c.significant;
		assert_false(rtc_compare_regressed(&c, 0.05)); /* never past a 5% gate */
		if (c.test.p_value < pmin)
			pmin = c.test.p_value;
		fill(a, 12, 1.0);
		fill(b, 15, 1.0);
		assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
		fp_small += c.significant;
		/* 3 against 3 cannot be significant at all. */
		fill(a, 3, 1.0);
		fill(b, 3, 1.0);
		assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
		assert_false(c.enough);
		fp_tiny += c.significant;
	}
	printf("# same distribution, 200 pairs: %d flagged with 2000 vs 1500 spans, %d with 12 vs 15 "
	       "(expected about 10 each at alpha 0.05)\n", fp_large, fp_small);
	/* Deterministic seeds: these are the counts observed; the bound that matters is < 10%. */
	assert_true(fp_large <= 20);
	assert_true(fp_small <= 20);
	assert_int_equal(fp_tiny, 0);
	rtc_hist_destroy(a);
	rtc_hist_destroy(b);
}

static void test_empty_and_args(void **state)
{
	struct rtc_hist *a = rtc_hist_create(), *b = rtc_hist_create();
	struct rtc_compare c;

	(void)state;
	rtc_hist_add(a, 1000);
	assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
	assert_int_equal(c.n_b, 0);
	assert_int_equal(c.change, RTC_CHANGE_NONE);
	assert_false(c.significant);
	assert_true(c.test.p_value == 1);
	assert_int_equal(rtc_compare_hists(a, b, 0, &c), -EINVAL);
	assert_int_equal(rtc_compare_hists(a, b, 1, &c), -EINVAL);
	/* Identical constant runs: all ties, p = 1. */
	rtc_hist_add_n(a, 1000, 99);
	rtc_hist_add_n(b, 1000, 50);
	assert_int_equal(rtc_compare_hists(a, b, 0.05, &c), 0);
	assert_true(c.test.p_value == 1);
	assert_true(c.p50_change == 0);
	rtc_hist_destroy(a);
	rtc_hist_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_computed),
		cmocka_unit_test(test_exact_with_ties),
		cmocka_unit_test(test_hists_match_values),
		cmocka_unit_test(test_slowdown_flagged),
		cmocka_unit_test(test_same_distribution),
		cmocka_unit_test(test_empty_and_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
