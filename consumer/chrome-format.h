/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON for one rebuilt event, into a caller's buffer: shared by the trace file
 * sink and the websocket stream. Hand-written formatting, no printf per event. */
#ifndef RTC_CHROME_FORMAT_H
#define RTC_CHROME_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

/* The most one event can take (strings are cut at 4096 bytes, each escaped in at most 6). */
#define RTC_CHROME_EVENT_MAX (64 * 1024)

/* Formatting state: the origin and a cache of formatted pid/tid pairs. One per output. */
struct rtc_chrome_fmt {
	uint64_t origin; /* ns that is ts 0 */
	struct {
		uint32_t pid, tid;
		uint8_t len;
		char text[48];
	} ids[64];
};

void rtc_chrome_fmt_init(struct rtc_chrome_fmt *f, uint64_t origin_ns);

/* Format ev as JSON objects (one, or two for a flow: the slice its end binds to, then the flow
 * event), separated by ",\n", none leading or trailing. buf needs RTC_CHROME_EVENT_MAX bytes free.
 * Returns the length (0 for events that are not part of a Chrome trace, e.g. RTC_OUT_SPAN_OPEN). */
size_t rtc_chrome_fmt_event(struct rtc_chrome_fmt *f, const struct rtc_out *ev, char *buf);

/* For streams that joined a running trace: a span open at the snapshot (RTC_OUT_SPAN_OPEN) as a
 * "B" event, and its later end (the RTC_OUT_SPAN for it) as the matching "E". */
size_t rtc_chrome_fmt_begin(struct rtc_chrome_fmt *f, const struct rtc_out *ev, char *buf);
size_t rtc_chrome_fmt_end(struct rtc_chrome_fmt *f, const struct rtc_out *ev, char *buf);

/* A JSON string (quotes included) of untrusted bytes: escaped, invalid UTF-8 replaced by U+FFFD,
 * cut at 4096 bytes of input. buf needs 6 * min(n, 4096) + 2 bytes. Returns the length. */
size_t rtc_json_quote(char *buf, const char *s, size_t n);

#endif
