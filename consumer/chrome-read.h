/* SPDX-License-Identifier: MIT */
/* Reading back a Chrome trace-event JSON file that ringtrace wrote (plain or gzip): its events as rebuilt
 * events (sink.h) to a sink, so that `ringtrace stats` works on traces as on captures. */
#ifndef RTC_CHROME_READ_H
#define RTC_CHROME_READ_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

/*
 * What is understood (docs/statistics.md "Where the statistics show up"): "M" process_name and
 * thread_name; "X" spans (cat "span" or none; "flow" slices are skipped) with their args (task, span "thread-seq", depth, the flags, cpu_us, cs_vol, cs_invol); "b"/"e"
 * tasks of cat "task" (id "pid:id", args task and parent); "i" logs (cat "log") and losses (cat "loss",
 * args count); "s"/"f" flows; otherData's counts as the summary. The self time of a span is its duration
 * minus that of the spans of depth + 1 that ended on its thread since the previous span of its depth
 * ended, which is exact for the files ringtrace writes (each thread's spans in the order they ended).
 * Spans without a depth arg (other writers) count as depth 0 with self = duration.
 *
 * Everything else is skipped. The file is untrusted: the outer structure is scanned byte by byte, each
 * event (at most 16 MiB) is parsed on its own with the bounded reader of stats/json.h; events that are
 * not understood are counted, not fatal. Memory: one event, the per-thread depth accumulators (bounded)
 * and the open tasks (at most 2^20; then task ends get no duration and count as incomplete).
 */
struct rtc_chrome_read_counts {
	uint64_t events;    /* trace events read */
	uint64_t used;      /* turned into rebuilt events */
	uint64_t skipped;   /* not understood (malformed, missing fields, unknown phase or category) */
	uint64_t no_depth;  /* spans without a depth arg */
	uint64_t bytes;     /* decompressed bytes read */
};

/* Read path ("-": standard input) and feed sink: begin, the events, end (with otherData's counts),
 * never close. \return 0, -errno (open/read), -EPROTO (not a trace-event JSON file, or malformed outer
 * structure: err says where), -E2BIG (an event past 16 MiB). */
int rtc_chrome_read(const char *path, const struct rtc_sink *sink, struct rtc_chrome_read_counts *counts,
		    char *err, size_t err_len);

#endif
