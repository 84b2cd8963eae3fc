/* SPDX-License-Identifier: MIT */
/* The fuzz targets' oracle for speedscope files (--format speedscope): strict JSON and evented
 * profiles speedscope loads (frames named, events in order, opens and closes nested). */
#ifndef RT_FUZZ_SPEEDSCOPE_CHECK_H
#define RT_FUZZ_SPEEDSCOPE_CHECK_H

#include <stddef.h>

/* 0 when buf is such a file; otherwise -1 and why (with the byte offset). */
int speedscope_check(const char *buf, size_t len, char *why, size_t why_len);

#endif
