/* SPDX-License-Identifier: MIT */
/* Two runs side by side (`ringtrace diff`): span names matched over processes, each compared with the
 * Mann-Whitney U test of compare.h, the regression gate, and the comparison as an aligned table. */
#ifndef RTC_STATS_DIFF_H
#define RTC_STATS_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "compare.h"
#include "stats.h"

struct rtc_stats_diff_options {
	double alpha;          /* 0: 0.05 */
	double fail_on;        /* > 0: the gate, a relative slowdown of the median (0.05 = 5%) */
	uint64_t min_count;    /* rows with fewer spans on either side are shown, never gated; 0: 1 */
};

enum rtc_diff_state {
	RTC_DIFF_BOTH,   /* spans on both sides: compared */
	RTC_DIFF_ONLY_A, /* gone in B */
	RTC_DIFF_ONLY_B, /* new in B */
};

struct rtc_stats_diff_row {
	const char *name; /* name_len bytes, pointing into one of the views */
	size_t name_len;
	enum rtc_diff_state state;
	uint64_t total_a, total_b; /* ns, for ordering */
	struct rtc_compare c;      /* RTC_DIFF_BOTH (n_a, n_b also for the others) */
	bool regressed;            /* the gate: significant, slower, median slower by more than fail_on */
};

struct rtc_stats_diff;

/* Compare b (after) with a (before), span names merged over processes (pids differ between runs). Both
 * models must outlive the diff. Rows are ordered by A's total time, then the names new in B.
 * \return NULL with errno (ENOMEM, EINVAL for alpha out of (0, 1)). */
struct rtc_stats_diff *rtc_stats_diff_create(const struct rtc_stats *a, const struct rtc_stats *b,
					     const struct rtc_stats_diff_options *opt);
void rtc_stats_diff_destroy(struct rtc_stats_diff *d);
const struct rtc_stats_diff_row *rtc_stats_diff_rows(const struct rtc_stats_diff *d, size_t *n);
/* Rows the gate flagged. */
size_t rtc_stats_diff_regressions(const struct rtc_stats_diff *d);
/* The views the rows come from (merged over processes, sorted by name): for exports. */
const struct rtc_stats_view *rtc_stats_diff_view(const struct rtc_stats_diff *d, bool b);

/* The comparison as a table, with a header line naming the test, alpha and the gate. a_name, b_name:
 * how the sides are called (file names). \return 0, -EIO, -ENOMEM. */
int rtc_stats_diff_write(const struct rtc_stats_diff *d, const char *a_name, const char *b_name, FILE *f);

#endif
