/* SPDX-License-Identifier: MIT */
/* The fuzz targets' oracle for Chrome trace-event JSON: strict JSON (consumer/stats/json.h, valid
 * UTF-8, no duplicate keys) and the fields each phase needs in the viewers (ANCHORS.md 5 and 7). */
#ifndef RT_FUZZ_CHROME_CHECK_H
#define RT_FUZZ_CHROME_CHECK_H

#include <stddef.h>

/* 0 when buf is a trace the viewers read as meant; otherwise -1 and why (a short reason with the
 * byte offset). */
int chrome_check(const char *buf, size_t len, char *why, size_t why_len);

#endif
