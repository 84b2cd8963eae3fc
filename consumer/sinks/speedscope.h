/* SPDX-License-Identifier: MIT */
/* A speedscope file (--format speedscope): spans per thread as speedscope's evented profiles, so
 * that its views aggregate spans by name. Written at the end (the spans are kept until then). */
#ifndef RTC_SINKS_SPEEDSCOPE_H
#define RTC_SINKS_SPEEDSCOPE_H

#include "../sink.h"

/* Open the output for path (by the rules of outfile.h). 0 or -errno. */
int rtc_speedscope_sink_open(const char *path, struct rtc_sink *out);

#endif
