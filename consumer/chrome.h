/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON (Object format) writer: a rebuild sink. The file is written through
 * sinks/outfile.h, so the final path never holds a partial trace ("-": stdout, ".gz": gzip). */
#ifndef RTC_CHROME_H
#define RTC_CHROME_H

#include <stdint.h>
#include <stdio.h>

#include "rebuild.h"

struct rtc_chrome;

/* Open `path` for writing (sinks/outfile.h rules). origin_ns is ts 0 of the trace. Returns NULL and
 * sets errno on failure. */
struct rtc_chrome *rtc_chrome_open(const char *path, uint64_t origin_ns);

/* Same, onto an already open stream (not renamed, not closed by rtc_chrome_close()). */
struct rtc_chrome *rtc_chrome_open_stream(FILE *f, uint64_t origin_ns);

struct rtc_sink rtc_chrome_sink(struct rtc_chrome *c);

/* otherData entries, written when the file is closed. Values are JSON-escaped here. */
void rtc_chrome_other(struct rtc_chrome *c, const char *key, const char *value);
void rtc_chrome_other_u64(struct rtc_chrome *c, const char *key, uint64_t value);

/* Events written so far. */
uint64_t rtc_chrome_events(const struct rtc_chrome *c);

/* Close the array, write otherData, flush and rename into place. Returns 0 or -errno. */
int rtc_chrome_close(struct rtc_chrome *c);

#endif
