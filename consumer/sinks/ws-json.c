/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON for the live stream: the Chrome file writer's formatter (chrome-format.c)
 * into growable memory, spans in the forms a client needs. */
#include "ws-json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chrome-format.h"

int rtc_ws_buf_reserve(struct rtc_ws_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

void rtc_ws_buf_free(struct rtc_ws_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int rtc_ws_json_event(struct rtc_ws_buf *b, const struct rtc_out *o, uint64_t origin_ns,
		      enum rtc_ws_span_phase span_phase)
{
	/* Per thread (only the publishing thread formats): the pid/tid cache does not depend on the
	 * origin, which is set per call. */
	static __thread struct rtc_chrome_fmt fmt;
	static __thread bool ready;
	size_t n;

	if (rtc_ws_buf_reserve(b, RTC_CHROME_EVENT_MAX) < 0)
		return -ENOMEM;
	if (!ready) {
		rtc_chrome_fmt_init(&fmt, origin_ns);
		ready = true;
	}
	fmt.origin = origin_ns;
	if (o->kind == RTC_OUT_SPAN_OPEN || (o->kind == RTC_OUT_SPAN && span_phase == RTC_WS_SPAN_B))
		n = rtc_chrome_fmt_begin(&fmt, o, b->p + b->len);
	else if (o->kind == RTC_OUT_SPAN && span_phase == RTC_WS_SPAN_E)
		n = rtc_chrome_fmt_end(&fmt, o, b->p + b->len);
	else
		n = rtc_chrome_fmt_event(&fmt, o, b->p + b->len);
	b->len += n;
	return 0;
}
