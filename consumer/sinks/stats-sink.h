/* SPDX-License-Identifier: MIT */
/* The statistics model (stats/stats.h) as a pipeline subscriber. */
#ifndef RTC_SINKS_STATS_SINK_H
#define RTC_SINKS_STATS_SINK_H

#include "../sink.h"
#include "../stats/stats.h"

/* A sink feeding s (which the caller keeps and destroys). */
struct rtc_sink rtc_stats_model_sink(struct rtc_stats *s);

#endif
