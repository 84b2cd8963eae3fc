/* SPDX-License-Identifier: MIT */
/* The raw capture (.rtrace) as a subscriber: the message stream exactly as drained, for `convert`
 * later. It must subscribe before the trace begins. */
#ifndef RTC_SINKS_RAW_H
#define RTC_SINKS_RAW_H

#include <stdint.h>

#include "../sink.h"

/* Create the capture at path (opened now). origin_ns and start_ns go into its header. 0 or -errno. */
int rtc_raw_sink_open(const char *path, uint64_t origin_ns, uint64_t start_ns, struct rtc_sink *out);

#endif
