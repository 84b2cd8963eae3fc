/* SPDX-License-Identifier: MIT */
/* Whether two runs differ, in the manner of Go's benchstat: a Mann-Whitney U test over two duration
 * histograms, the relative change of the median and p99, and a verdict at a chosen alpha. */
#ifndef RTC_COMPARE_H
#define RTC_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/*
 * The test: Mann-Whitney U (Wilcoxon rank-sum), two-sided, null hypothesis "a value drawn from A is as
 * likely to be larger than one drawn from B as smaller". U as scipy.stats.mannwhitneyu computes it:
 *  - U_A = R_A - n_A (n_A + 1) / 2, ties get the average of their ranks;
 *  - n_A * n_B <= RTC_MWU_EXACT_MAX: exact permutation p-value, conditional on the ties seen:
 *    p = P(|R - E R| >= |R_obs - E R|) over every way of splitting the N values into the two sides. Without
 *    ties this is scipy's exact p (2 P(U <= min(U_A, U_B))); with ties it is exact where scipy falls back
 *    to the normal approximation (small samples of histograms always have ties);
 *  - otherwise the normal approximation (scipy's "asymptotic") with tie correction,
 *    sigma^2 = n_A n_B / 12 ((N + 1) - sum(t^3 - t) / (N (N - 1))), and continuity correction,
 *    z = (max(U_A, U_B) - n_A n_B / 2 - 0.5) / sigma, p = 2 (1 - Phi(z)), at most 1.
 * Over histograms, every value of a bucket is taken as the bucket's value: values in one bucket (within
 * 1.6% of each other) are ties. So differences smaller than a bucket's width are not seen.
 *
 * Limits, to keep in mind when gating on it:
 *  - it assumes independent values. Spans of one run are not (a noisy neighbour slows a stretch of them),
 *    and with millions of spans a shift of a fraction of a percent is "significant". Gate on significance
 *    AND a minimum relative change (rtc_compare_regressed), and compare several runs of each side.
 *  - it tests for a shift of the whole distribution (stochastic dominance), not of the median or of p99
 *    alone; p99_change is reported, not tested.
 *  - with few values (e.g. 3 against 3) no difference can reach alpha = 0.05: see `enough`.
 */
#define RTC_MWU_EXACT_MAX 400 /* e.g. 20 against 20: at most a few ms */

struct rtc_mwu {
	uint64_t n_a, n_b;
	double u_a, u_b;     /* u_a + u_b = n_a n_b; u_a counts pairs where A's value is the larger (ties 1/2) */
	double z;            /* normal approximation (also filled when exact) */
	double p_value;      /* two-sided */
	double p_min;        /* the smallest p-value these sample sizes and ties could give */
	double p_b_greater;  /* u_b / (n_a n_b): chance that a B value exceeds an A value, ties counting half */
	bool exact;          /* p from the exact distribution */
	bool ties;
};

/* The test over raw values (copied and sorted internally). \return 0, -EINVAL (an empty side, NULL),
 * -ENOMEM. */
int rtc_mwu_values(const double *a, size_t n_a, const double *b, size_t n_b, struct rtc_mwu *out);
/* The test over two histograms (bucket values as the values). \return 0, -EINVAL (an empty side),
 * -ENOMEM. */
int rtc_mwu_hists(const struct rtc_hist *a, const struct rtc_hist *b, struct rtc_mwu *out);

enum rtc_change {
	RTC_CHANGE_NONE,   /* not significant at alpha (or an empty side) */
	RTC_CHANGE_SLOWER, /* B's values tend to be larger */
	RTC_CHANGE_FASTER,
};

struct rtc_compare {
	uint64_t n_a, n_b;
	uint64_t p50_a, p50_b, p99_a, p99_b; /* ns, from the histograms (each within 0.78%) */
	double p50_change, p99_change;       /* (B - A) / A: +0.10 = B is 10% slower; 0 when A's is 0 */
	double alpha;
	struct rtc_mwu test;
	bool enough;       /* the sample sizes allow p < alpha at all */
	bool significant;  /* test.p_value < alpha */
	enum rtc_change change;
};

/* Compare run A (before) with run B (after) at the given alpha (0.05 is usual). An empty side gives
 * RTC_CHANGE_NONE with n_a or n_b 0. \return 0 or -EINVAL (alpha not in (0, 1)). */
int rtc_compare_hists(const struct rtc_hist *a, const struct rtc_hist *b, double alpha, struct rtc_compare *out);

/* The CI gate: significant, slower, and the median slower by more than min_change (0.05 = 5%). */
bool rtc_compare_regressed(const struct rtc_compare *c, double min_change);

#endif
