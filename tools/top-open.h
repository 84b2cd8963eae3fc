/* SPDX-License-Identifier: MIT */
/* `ringtrace top`'s "inside now" section: per thread, the spans it is inside of at this moment (the
 * request it is stuck in), from a snapshot of the trace, the longest running innermost span first. */
#ifndef RT_TOP_OPEN_H
#define RT_TOP_OPEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline.h"

/* Print the section (nothing when no thread is inside a span): at most max_rows threads, lines cut
 * to width columns (0: not cut), running times up to now_ns (CLOCK_MONOTONIC). Returns the lines
 * printed. On the processing thread. */
size_t top_open_print(struct rtc_pipeline *p, FILE *f, size_t max_rows, size_t width, uint64_t now_ns);

#endif
