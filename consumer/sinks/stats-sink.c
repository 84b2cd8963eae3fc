/* SPDX-License-Identifier: MIT */
/* Statistics sink: every rebuilt event to the model; the model stays the caller's. */
#include "stats-sink.h"

static void on_begin(void *ctx, const struct rtc_trace_info *info)
{
	rtc_stats_begin(ctx, info);
}

static void on_end(void *ctx, const struct rtc_summary *summary)
{
	rtc_stats_end(ctx, summary);
}

static const struct rtc_sink_ops stats_ops = {
	.version = RTC_SINK_VERSION,
	.begin = on_begin,
	.event = rtc_stats_event_cb,
	.end = on_end,
};

struct rtc_sink rtc_stats_model_sink(struct rtc_stats *s)
{
	struct rtc_sink sink = { &stats_ops, s, "statistics" };

	return sink;
}
