/* SPDX-License-Identifier: MIT */
/* Span and task statistics, as go tool trace's region and task pages: per name, count, total,
 * self time, min/mean/max and percentiles from a log histogram with 5 buckets per decade. */
#ifndef RTC_STATS_H
#define RTC_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "rebuild.h"

struct rtc_stats;

struct rtc_stats *rtc_stats_create(void);
void rtc_stats_destroy(struct rtc_stats *s);
struct rtc_sink rtc_stats_sink(struct rtc_stats *s);

struct rtc_stat_row {
	const char *name;
	uint64_t count;      /* spans: all; tasks: all (complete + incomplete) */
	uint64_t complete;   /* not incomplete, repaired or begun at an unknown time */
	uint64_t total_ns;   /* over complete ones */
	uint64_t self_ns;
	uint64_t min_ns, max_ns;
	uint64_t p50_ns, p90_ns, p99_ns; /* histogram bucket upper bounds (within 5 per decade) */
};

/* Rows sorted by total time, descending. kind 0: spans, 1: tasks. Returns the number written. */
size_t rtc_stats_rows(const struct rtc_stats *s, int kind, struct rtc_stat_row *out, size_t max);

/* Print both tables. */
void rtc_stats_print(const struct rtc_stats *s, FILE *f, size_t max_rows);

#endif
