/* SPDX-License-Identifier: MIT */
/* Inside the Chrome JSON reader (chrome-read.c): one trace event to a rebuilt event, with the state that
 * takes across events (self-time accumulators per thread, open tasks). */
#ifndef RTC_CHROME_READ_EVENT_H
#define RTC_CHROME_READ_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

struct rtc_chrome_events;

struct rtc_chrome_events *rtc__chrome_events_create(void);
void rtc__chrome_events_destroy(struct rtc_chrome_events *x);

/* The event object obj (len bytes, untrusted) into o, whose strings point into x until the next call.
 * \return 1 (o filled), 0 (known, not an event of its own: a flow's binding slice), -1 (not understood). */
int rtc__chrome_event(struct rtc_chrome_events *x, const char *obj, size_t len, struct rtc_out *o);

/* Spans without a depth arg so far. */
uint64_t rtc__chrome_events_no_depth(const struct rtc_chrome_events *x);

#endif
