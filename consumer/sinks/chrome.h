/* SPDX-License-Identifier: MIT */
/* The Chrome trace-event JSON file (Object format): a sink that writes every event as it comes and
 * otherData (the summary) at the end; the file appears at its path only once complete. */
#ifndef RTC_SINKS_CHROME_H
#define RTC_SINKS_CHROME_H

#include <stdio.h>

#include "../sink.h"

/* Create the output for path (checked and opened now, before recording starts). 0 with *out set,
 * or -errno. The caller subscribes *out to a pipeline (or closes it). */
int rtc_chrome_sink_open(const char *path, struct rtc_sink *out);

/* More otherData members, asked for at the end (on the processing thread, after every event reached
 * every sink): fn writes "\"key\":value" members, comma-separated, without braces, to f (nothing: none).
 * s must come from rtc_chrome_sink_open() (others are left alone). */
typedef void (*rtc_chrome_other_cb)(void *ctx, FILE *f);
void rtc_chrome_sink_set_other(struct rtc_sink *s, rtc_chrome_other_cb fn, void *ctx);

#endif
