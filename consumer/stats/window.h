/* SPDX-License-Identifier: MIT */
/* Span statistics over a sliding window (the last N seconds), for `ringtrace top`: per span name and
 * process, a ring of per-second histograms, summed into the window's histogram as seconds complete and
 * subtracted as they leave it. */
#ifndef RTC_STATS_WINDOW_H
#define RTC_STATS_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "sink.h"
#include "stats.h"

/*
 * Only clean spans (no RTC_STATS_FLAGGED flag) are counted, as in the model. rtc_stats_window_roll()
 * ends the current second: the window then holds the last `seconds` completed seconds (fewer at the
 * start: see covered_ns). Memory: one histogram (19 KB, hist.h) per name and process for the window, plus
 * one per second in which the name had spans, recycled; at most max_names names, then spans of new names
 * are counted in `dropped`. Thread safety: none (one thread feeds, rolls and reads).
 */
struct rtc_stats_window;

/* seconds: 1 .. 3600; max_names 0: 512. NULL with errno on failure. */
struct rtc_stats_window *rtc_stats_window_create(unsigned seconds, size_t max_names);
void rtc_stats_window_destroy(struct rtc_stats_window *w);

/* A rebuilt event: clean spans go into the current second, the rest is ignored. */
void rtc_stats_window_event(struct rtc_stats_window *w, const struct rtc_out *ev);
/* The current second is complete (call once a second). */
void rtc_stats_window_roll(struct rtc_stats_window *w);

struct rtc_stats_window_row {
	const char *name; /* name_len bytes */
	size_t name_len;
	uint32_t pid; /* 0 when merged */
	struct rtc_stats_dist d; /* over the window; d.hist valid until the next call that changes w */
};

struct rtc_stats_window_info {
	unsigned seconds;     /* window length asked for */
	uint64_t covered_ns;  /* completed time the window holds now: min(rolls, seconds) s */
	uint64_t dropped;     /* spans not counted (name limit, memory) */
	size_t names;
};

void rtc_stats_window_info(const struct rtc_stats_window *w, struct rtc_stats_window_info *out);

/* Rows with spans in the window, sorted by key (as the model's views; RTC_STATS_SORT_SELF sorts by
 * total), merged over processes when asked. Free with free(); the rows point into w (merged rows' hist
 * into *scratch, which the caller frees with rtc_stats_window_rows_free). \return the count, or -ENOMEM. */
struct rtc_stats_window_rows {
	struct rtc_stats_window_row *rows;
	size_t n;
	struct rtc_hist **owned;
	size_t nowned;
};
int rtc_stats_window_rows(const struct rtc_stats_window *w, bool merge, enum rtc_stats_sort key,
			  struct rtc_stats_window_rows *out);
void rtc_stats_window_rows_free(struct rtc_stats_window_rows *r);

#endif
