/* SPDX-License-Identifier: MIT */
/* `record --stats-file`: the statistics JSON of a model (stats/stats.h) written through the output-file
 * writer (outfile.h) when the recording closes, kept only when it ended well. */
#ifndef RTC_SINKS_STATS_FILE_H
#define RTC_SINKS_STATS_FILE_H

#include "../sink.h"
#include "../stats/stats.h"

/* Open path now (outfile.h's rules: refused paths fail here, before recording starts) for the JSON of
 * model s, which another sink feeds and which must live until this sink is closed. 0 with *out set, or
 * -errno. */
int rtc_stats_file_sink_open(const char *path, const struct rtc_stats *s, const struct rtc_stats_json_options *opt,
			     struct rtc_sink *out);

#endif
