/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON for one rebuilt event into a growable memory buffer, as the live stream
 * needs it (spans as X, or as B/E for a client that got the span open in its snapshot). */
#ifndef RTC_WS_JSON_H
#define RTC_WS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"

struct rtc_ws_buf {
	char *p;
	size_t len, cap;
};

/* Room for n more bytes. 0 or -ENOMEM. */
int rtc_ws_buf_reserve(struct rtc_ws_buf *b, size_t n);
void rtc_ws_buf_free(struct rtc_ws_buf *b);

enum rtc_ws_span_phase {
	RTC_WS_SPAN_X, /* complete (the usual form) */
	RTC_WS_SPAN_B, /* begin of a span open now (RTC_OUT_SPAN_OPEN, or a RTC_OUT_SPAN's begin) */
	RTC_WS_SPAN_E, /* end of a span the client got as a begin: at ts + dur */
};

/**
 * Append one event (a JSON object, no separator) to b. Times are written relative to origin_ns,
 * in microseconds with three decimals; strings are escaped and invalid UTF-8 replaced, names and
 * texts cut at 4096 bytes. `span_phase` applies to RTC_OUT_SPAN and RTC_OUT_SPAN_OPEN (always B).
 * This is the one place the live stream formats: when the Chrome writer's formatter is reusable,
 * it is called from here.
 * \return 0, -ENOMEM (b unchanged).
 */
int rtc_ws_json_event(struct rtc_ws_buf *b, const struct rtc_out *o, uint64_t origin_ns,
		      enum rtc_ws_span_phase span_phase);

#endif
